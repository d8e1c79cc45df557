package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Severity says how much a failed check matters.
type Severity string

// Severities. Only required checks decide the exit status of `weir
// conformance` (and Report.OK).
const (
	// Required: the plugin will misbehave in Weir (or any proxy-wasm
	// host) if this fails.
	Required Severity = "required"
	// Recommended: the plugin works, but not as well as it should (e.g.
	// slow callbacks, refusing a bad configuration by trapping).
	Recommended Severity = "recommended"
	// Informational: facts worth knowing (portability, stubbed imports).
	Informational Severity = "informational"
)

// Verdict is the outcome of one check.
type Verdict string

// Verdicts.
const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Warn: the check found something to look at that is not a failure
	// (e.g. a Weir-only foreign function: fine in Weir, not in Envoy).
	Warn Verdict = "warn"
	// Skip: the check could not run (an earlier check it depends on
	// failed, or the input it needs was not given). Evidence says why.
	Skip Verdict = "skip"
)

// Result is the verdict of one check.
type Result struct {
	ID          string   `json:"id"`
	Group       string   `json:"group"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
	Verdict     Verdict  `json:"verdict"`
	// Evidence says what was observed: for a failure, what to fix.
	Evidence string        `json:"evidence"`
	Duration time.Duration `json:"duration_ns"`
}

// Latency is the measured duration of one guest callback over every call
// the suite made (lifecycle and robustness streams).
type Latency struct {
	Callback string        `json:"callback"`
	Calls    int           `json:"calls"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// Report is the outcome of Check.
type Report struct {
	// Module is the name given in Options.Name (e.g. the file name).
	Module string `json:"module"`
	// SHA256 is the hex digest of the module bytes.
	SHA256 string `json:"sha256"`
	// ABI is the detected proxy-wasm ABI version ("" if none).
	ABI     string    `json:"abi"`
	Results []Result  `json:"results"`
	Latency []Latency `json:"latency,omitempty"`
	// LatencyBudget is the p99 budget the latency check used.
	LatencyBudget time.Duration `json:"latency_budget_ns"`
	Duration      time.Duration `json:"duration_ns"`
}

// OK reports whether no required check failed. A required check is
// skipped only when it does not apply (e.g. lifecycle.tick without a tick
// period) or when a check it depends on failed, which fails the report
// already.
func (r *Report) OK() bool {
	for _, res := range r.Results {
		if res.Severity == Required && res.Verdict == Fail {
			return false
		}
	}
	return true
}

// Failed returns the ids of the checks whose verdict is Fail, any
// severity, sorted.
func (r *Report) Failed() []string {
	var ids []string
	for _, res := range r.Results {
		if res.Verdict == Fail {
			ids = append(ids, res.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// Result returns the result with the given id.
func (r *Report) Result(id string) (Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return Result{}, false
}

// counts returns the number of results per verdict.
func (r *Report) counts() map[Verdict]int {
	c := map[Verdict]int{}
	for _, res := range r.Results {
		c[res.Verdict]++
	}
	return c
}

// WriteText writes the human-readable report: a table of checks, the
// full evidence of every failed or warning check, the callback latencies
// and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "weir conformance: %s (sha256 %s, ABI %s)\n\n", r.Module, short(r.SHA256), orNone(r.ABI))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSEVERITY\tVERDICT\tEVIDENCE")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res.ID, res.Severity, strings.ToUpper(string(res.Verdict)), firstLine(res.Evidence, 90))
	}
	_ = tw.Flush()
	var details []Result
	for _, res := range r.Results {
		if res.Verdict == Fail || res.Verdict == Warn {
			details = append(details, res)
		}
	}
	if len(details) > 0 {
		b.WriteString("\nDetails:\n")
		for _, res := range details {
			fmt.Fprintf(&b, "\n%s %s (%s): %s\n", strings.ToUpper(string(res.Verdict)), res.ID, res.Severity, res.Description)
			for _, l := range strings.Split(strings.TrimRight(res.Evidence, "\n"), "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
	}
	if len(r.Latency) > 0 {
		fmt.Fprintf(&b, "\nCallback latency (p99 budget %v):\n", r.LatencyBudget)
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CALLBACK\tCALLS\tP50\tP99\tMAX")
		for _, l := range r.Latency {
			fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%v\n", l.Callback, l.Calls, round(l.P50), round(l.P99), round(l.Max))
		}
		_ = tw.Flush()
	}
	c := r.counts()
	status := "all required checks pass"
	if !r.OK() {
		status = "REQUIRED CHECKS FAILED"
	}
	fmt.Fprintf(&b, "\n%d checks: %d pass, %d fail, %d warn, %d skip; %s (%v)\n",
		len(r.Results), c[Pass], c[Fail], c[Warn], c[Skip], status, round(r.Duration))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as indented JSON (durations in ns).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// JUnit XML, in the shape CI systems read (Jenkins, GitLab, GitHub
// actions): one testsuite per check group.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one testsuite per group, one
// testcase per check. A failed check (any severity; the type attribute
// holds it) has a failure element with the evidence, a skipped one a
// skipped element; a warning's evidence goes to system-out.
func (r *Report) WriteJUnit(w io.Writer) error {
	root := junitSuites{Name: "weir conformance: " + r.Module, Time: secs(r.Duration)}
	idx := map[string]int{}
	for _, res := range r.Results {
		i, ok := idx[res.Group]
		if !ok {
			i = len(root.Suites)
			idx[res.Group] = i
			root.Suites = append(root.Suites, junitSuite{Name: res.Group})
		}
		s := &root.Suites[i]
		c := junitCase{Name: res.ID, ClassName: "conformance." + res.Group, Time: secs(res.Duration)}
		switch res.Verdict {
		case Fail:
			c.Failure = &junitMessage{Message: firstLine(res.Evidence, 200), Type: string(res.Severity), Text: res.Evidence}
			s.Failures++
		case Skip:
			c.Skipped = &junitMessage{Message: firstLine(res.Evidence, 200)}
			s.Skipped++
		case Warn:
			c.SystemOut = "WARN: " + res.Evidence
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for i := range root.Suites {
		s := &root.Suites[i]
		var d time.Duration
		for _, res := range r.Results {
			if res.Group == s.Name {
				d += res.Duration
			}
		}
		s.Time = secs(d)
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// firstLine returns s's first line, cut to max runes.
func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(100 * time.Nanosecond)
}
