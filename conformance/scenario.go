package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ScenarioFile is one scenario file (YAML or JSON). See README.md for the
// format; unknown fields are errors naming the field.
type ScenarioFile struct {
	// Config is the plugin configuration (any YAML value, passed to
	// proxy_on_configure as JSON) used for the whole suite when
	// Options.Config is not set, and for scenarios without their own.
	Config json.RawMessage `json:"config,omitempty"`
	// InvalidConfig is a configuration the plugin must refuse (checked by
	// module.rejects-invalid-config) when Options.InvalidConfig is not set.
	InvalidConfig json.RawMessage `json:"invalid_config,omitempty"`
	Scenarios     []Scenario      `json:"scenarios"`

	// path is the file the scenarios came from (for messages).
	path string
}

// Scenario is one scripted HTTP stream and what the plugin must do with it.
type Scenario struct {
	// Name identifies the scenario; its check id is http.scenario.<name>.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Config, if set, is the plugin configuration for this scenario only
	// (the suite starts a separate plugin for it).
	Config json.RawMessage `json:"config,omitempty"`
	// Properties answers proxy_get_property: dotted path ("request.path",
	// "source.address") to value (raw bytes of the string). request.path,
	// request.method, request.host and request.scheme default to the
	// request's pseudo-headers, response.code to :status.
	Properties map[string]string `json:"properties,omitempty"`
	// Request is what the client sends; Response what the upstream
	// answers (omit it for the default 200 with no body).
	Request  Message  `json:"request"`
	Response *Message `json:"response,omitempty"`
	// Callouts scripts the answers of proxy_http_call, by upstream
	// (cluster) name.
	Callouts map[string]CalloutScript `json:"callouts,omitempty"`
	// ForeignFunctions scripts proxy_call_foreign_function answers for
	// the weir.* functions, by name. Unscripted calls answer NOT_FOUND.
	ForeignFunctions map[string]ForeignScript `json:"foreign_functions,omitempty"`
	Expect           Expect                   `json:"expect"`

	file string
	re   compiled
}

// Message is one direction's input: headers, optional body and
// trailers, and how the body is split into on_*_body calls.
type Message struct {
	// Headers, names lower-cased. Pseudo-headers default to :method GET,
	// :path /, :authority example.com, :scheme http (request) and
	// :status 200 (response).
	Headers map[string]string `json:"headers,omitempty"`
	// Body: absent means no body (headers end the stream, unless
	// trailers follow); "" is an empty body sent as one empty chunk.
	Body *string `json:"body,omitempty"`
	// Chunks are the sizes of the body chunks, in order; the rest of the
	// body (if any) is the last chunk. Default: the whole body at once.
	Chunks []int `json:"chunks,omitempty"`
	// ChunkSize splits the body into chunks of this size (exclusive with
	// Chunks).
	ChunkSize int               `json:"chunk_size,omitempty"`
	Trailers  map[string]string `json:"trailers,omitempty"`
}

// CalloutScript is the scripted answer to a callout.
type CalloutScript struct {
	// Status is the :status of the answer (default 200).
	Status   int               `json:"status,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     string            `json:"body,omitempty"`
	Trailers map[string]string `json:"trailers,omitempty"`
	// Reset makes the callout fail (the guest sees no headers and
	// proxy_get_status answers BROKEN_CONNECTION).
	Reset bool `json:"reset,omitempty"`
}

// ForeignScript is the scripted answer of a foreign function.
type ForeignScript struct {
	// Status: "ok" (default), "not_found", "bad_argument" or
	// "internal_failure".
	Status string `json:"status,omitempty"`
	// Result is returned as raw bytes; Pairs (if set) as serialized
	// pairs instead.
	Result string            `json:"result,omitempty"`
	Pairs  map[string]string `json:"pairs,omitempty"`
}

// Expect lists what must hold after the scenario's stream. Every field is
// optional; an absent field is not checked, except that a local response
// the scenario does not expect is a failure.
type Expect struct {
	// Request is what goes upstream after the plugin ran.
	Request *MessageExpect `json:"request,omitempty"`
	// Response is what goes back to the client (from the upstream).
	Response *MessageExpect `json:"response,omitempty"`
	// LocalResponse: the plugin must answer locally (and the request
	// must not go upstream).
	LocalResponse *LocalResponseExpect `json:"local_response,omitempty"`
	// PausedThenResumed: true requires a phase to pause and then be
	// resumed (proxy_continue_stream, e.g. after a callout); false
	// requires no pause at all.
	PausedThenResumed *bool `json:"paused_then_resumed,omitempty"`
	// Callouts made, in order (each listed callout must match a distinct
	// callout; extra callouts are allowed).
	Callouts []CalloutExpect `json:"callouts,omitempty"`
	// NoCallouts requires that the plugin made none.
	NoCallouts bool `json:"no_callouts,omitempty"`
	// Logs: each entry must match at least one log line of the stream.
	Logs []LogExpect `json:"logs,omitempty"`
	// PropertiesRead lists dotted property paths the plugin must read.
	PropertiesRead []string `json:"properties_read,omitempty"`
	// Metrics the plugin must define, and increment during the stream.
	Metrics *MetricsExpect `json:"metrics,omitempty"`
}

// MessageExpect is the expected state of one direction.
type MessageExpect struct {
	Headers  *HeadersExpect `json:"headers,omitempty"`
	Body     *BodyExpect    `json:"body,omitempty"`
	Trailers *HeadersExpect `json:"trailers,omitempty"`
}

// HeadersExpect checks a header map (names are case-insensitive).
type HeadersExpect struct {
	Present []string          `json:"present,omitempty"`
	Absent  []string          `json:"absent,omitempty"`
	Equal   map[string]string `json:"equal,omitempty"`
}

// BodyExpect checks a body. Regex uses Go's RE2 syntax.
type BodyExpect struct {
	Equal    *string  `json:"equal,omitempty"`
	Contains []string `json:"contains,omitempty"`
	Regex    string   `json:"regex,omitempty"`
}

// LocalResponseExpect checks a local response (proxy_send_local_response).
type LocalResponseExpect struct {
	// Status, if not 0, must equal the local response's status.
	Status  int            `json:"status,omitempty"`
	Headers *HeadersExpect `json:"headers,omitempty"`
	Body    *BodyExpect    `json:"body,omitempty"`
}

// CalloutExpect matches a callout by upstream and headers.
type CalloutExpect struct {
	Upstream string         `json:"upstream"`
	Headers  *HeadersExpect `json:"headers,omitempty"`
}

// LogExpect matches a log line: proxy_log messages and the guest's
// stdout (info) and stderr (error).
type LogExpect struct {
	Regex string `json:"regex"`
	// Level, if set: trace, debug, info, warn, error or critical.
	Level string `json:"level,omitempty"`
}

// MetricsExpect checks the plugin's metrics by name.
type MetricsExpect struct {
	Defined     []string `json:"defined,omitempty"`
	Incremented []string `json:"incremented,omitempty"`
}

// compiled holds a scenario's compiled regular expressions.
type compiled struct {
	req, resp, local *regexp.Regexp
	logs             []*regexp.Regexp
}

// ParseScenarios parses a scenario file's contents; name is used in
// errors. Unknown fields are errors naming the field.
func ParseScenarios(name string, data []byte) (*ScenarioFile, error) {
	var f ScenarioFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("scenario file %s: %s", name, cleanYAMLError(err))
	}
	f.path = name
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// LoadScenarios reads and parses a scenario file.
func LoadScenarios(path string) (*ScenarioFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario file: %w", err)
	}
	return ParseScenarios(path, data)
}

// cleanYAMLError drops the JSON-decoder prefixes sigs.k8s.io/yaml adds,
// keeping the part that names the field ("unknown field \"x\"").
func cleanYAMLError(err error) string {
	s := err.Error()
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true, "critical": true}

var ffStatuses = map[string]bool{"": true, "ok": true, "not_found": true, "bad_argument": true, "internal_failure": true}

// validate checks what the decoder cannot: names, chunk plans, regular
// expressions. Errors name the file, the scenario and the field.
func (f *ScenarioFile) validate() error {
	seen := map[string]bool{}
	for i := range f.Scenarios {
		s := &f.Scenarios[i]
		s.file = f.path
		where := fmt.Sprintf("scenario file %s: scenarios[%d]", f.path, i)
		if s.Name == "" {
			return fmt.Errorf("%s: name: required", where)
		}
		where = fmt.Sprintf("scenario file %s: scenario %q", f.path, s.Name)
		if !namePattern.MatchString(s.Name) {
			return fmt.Errorf("%s: name: must match %s", where, namePattern)
		}
		if seen[s.Name] {
			return fmt.Errorf("%s: name: duplicate", where)
		}
		seen[s.Name] = true
		if err := s.Request.validate(where + ": request"); err != nil {
			return err
		}
		if s.Response != nil {
			if err := s.Response.validate(where + ": response"); err != nil {
				return err
			}
		}
		for up, c := range s.Callouts {
			if c.Status != 0 && (c.Status < 100 || c.Status > 999) {
				return fmt.Errorf("%s: callouts.%s.status: %d is not an HTTP status", where, up, c.Status)
			}
		}
		for n, ff := range s.ForeignFunctions {
			if !ffStatuses[ff.Status] {
				return fmt.Errorf("%s: foreign_functions.%s.status: %q is not ok, not_found, bad_argument or internal_failure", where, n, ff.Status)
			}
		}
		if err := s.compile(where); err != nil {
			return err
		}
	}
	return nil
}

func (m *Message) validate(where string) error {
	if len(m.Chunks) > 0 && m.ChunkSize > 0 {
		return fmt.Errorf("%s: chunks and chunk_size: give one of them", where)
	}
	if m.ChunkSize < 0 {
		return fmt.Errorf("%s: chunk_size: must be positive", where)
	}
	total := 0
	for i, c := range m.Chunks {
		if c < 0 {
			return fmt.Errorf("%s: chunks[%d]: must not be negative", where, i)
		}
		total += c
	}
	if (len(m.Chunks) > 0 || m.ChunkSize > 0) && m.Body == nil {
		return fmt.Errorf("%s: chunks: there is no body", where)
	}
	if m.Body != nil && total > len(*m.Body) {
		return fmt.Errorf("%s: chunks: sizes add up to %d bytes, more than the %d-byte body", where, total, len(*m.Body))
	}
	return nil
}

func (s *Scenario) compile(where string) error {
	re := func(field, expr string) (*regexp.Regexp, error) {
		if expr == "" {
			return nil, nil
		}
		r, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, field, err)
		}
		return r, nil
	}
	var err error
	e := &s.Expect
	if e.Request != nil && e.Request.Body != nil {
		if s.re.req, err = re("expect.request.body.regex", e.Request.Body.Regex); err != nil {
			return err
		}
	}
	if e.Response != nil && e.Response.Body != nil {
		if s.re.resp, err = re("expect.response.body.regex", e.Response.Body.Regex); err != nil {
			return err
		}
	}
	if e.LocalResponse != nil && e.LocalResponse.Body != nil {
		if s.re.local, err = re("expect.local_response.body.regex", e.LocalResponse.Body.Regex); err != nil {
			return err
		}
	}
	if e.LocalResponse != nil && e.LocalResponse.Status != 0 && (e.LocalResponse.Status < 100 || e.LocalResponse.Status > 999) {
		return fmt.Errorf("%s: expect.local_response.status: %d is not an HTTP status", where, e.LocalResponse.Status)
	}
	if e.LocalResponse != nil && (e.Request != nil || e.Response != nil) {
		return fmt.Errorf("%s: expect.local_response: cannot be combined with expect.request or expect.response (a local response ends the stream)", where)
	}
	if e.NoCallouts && len(e.Callouts) > 0 {
		return fmt.Errorf("%s: expect.no_callouts: cannot be combined with expect.callouts", where)
	}
	for i, l := range e.Logs {
		if l.Regex == "" {
			return fmt.Errorf("%s: expect.logs[%d].regex: required", where, i)
		}
		if l.Level != "" && !logLevels[l.Level] {
			return fmt.Errorf("%s: expect.logs[%d].level: %q is not trace, debug, info, warn, error or critical", where, i, l.Level)
		}
		r, err := re(fmt.Sprintf("expect.logs[%d].regex", i), l.Regex)
		if err != nil {
			return err
		}
		s.re.logs = append(s.re.logs, r)
	}
	for i, c := range e.Callouts {
		if c.Upstream == "" {
			return fmt.Errorf("%s: expect.callouts[%d].upstream: required", where, i)
		}
	}
	return nil
}

// configBytes returns raw JSON as the bytes a plugin receives: nil for
// absent or null.
func configBytes(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return []byte(raw)
}

// sortedPairs returns m's entries as lower-cased pairs sorted by name.
func sortedPairs(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{strings.ToLower(k), v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// chunkPlan splits body by m's plan.
func (m *Message) chunkPlan() [][]byte {
	if m.Body == nil {
		return nil
	}
	b := []byte(*m.Body)
	if len(b) == 0 {
		return [][]byte{{}}
	}
	var out [][]byte
	switch {
	case m.ChunkSize > 0:
		for len(b) > 0 {
			n := min(m.ChunkSize, len(b))
			out = append(out, b[:n])
			b = b[n:]
		}
	default:
		for _, n := range m.Chunks {
			out = append(out, b[:n])
			b = b[n:]
		}
		if len(b) > 0 || len(out) == 0 {
			out = append(out, b)
		}
	}
	return out
}
