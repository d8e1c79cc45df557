// Command cors is Weir's reference "cors" plugin: Kong's bundled CORS
// plugin (priority 2000) rebuilt as a proxy-wasm module with sdk/go.
//
// Preflight requests (OPTIONS with Origin and Access-Control-Request-Method)
// are answered locally with 200 unless preflight_continue is set; other
// requests get Access-Control-Allow-Origin, -Credentials and
// -Expose-Headers on the response. The plugin never rejects a request.
// See README.md for the configuration and Kong's rules it follows.
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/cors/cors.wasm ./plugins-src/cors
package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "cors"

// defaultMethods is Kong's default for config.methods.
var defaultMethods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// config is Kong's cors schema (kong/plugins/cors/schema.lua).
type config struct {
	Origins           []string `json:"origins"`
	Headers           []string `json:"headers"`
	ExposedHeaders    []string `json:"exposed_headers"`
	Methods           []string `json:"methods"`
	MaxAge            *float64 `json:"max_age"`
	Credentials       bool     `json:"credentials"`
	PrivateNetwork    bool     `json:"private_network"`
	PreflightContinue bool     `json:"preflight_continue"`
	AllowOriginAbsent *bool    `json:"allow_origin_absent"`
}

// origin is one compiled config.origins entry.
type origin struct {
	re     *regexp.Regexp // regex entries
	domain string         // plain entries, normalized scheme://host[:port]
	byHost bool           // the entry has no ':': a regex matches the host only
}

// rules is a validated configuration, ready for the data path.
type rules struct {
	cfg         config
	allowAll    bool   // no origins, or exactly ["*"]
	single      string // one plain origin: sent verbatim
	origins     []origin
	anyStar     bool // "*" among several origins
	headers     string
	exposed     string
	methods     string
	maxAge      string
	allowAbsent bool
}

var (
	plainOrigin = regexp.MustCompile(`^[A-Za-z0-9.:/-]+$`)
	validMethod = map[string]bool{}
)

func init() {
	for _, m := range defaultMethods {
		validMethod[m] = true
	}
}

// compile validates cfg and precomputes what requests need.
func compile(cfg config) (*rules, error) {
	r := &rules{cfg: cfg, allowAbsent: cfg.AllowOriginAbsent == nil || *cfg.AllowOriginAbsent}
	if cfg.Methods == nil {
		cfg.Methods = defaultMethods
	}
	for i, m := range cfg.Methods {
		if !validMethod[m] {
			return nil, fmt.Errorf("config.methods[%d]: expected one of: %s", i, strings.Join(defaultMethods, ", "))
		}
	}
	if cfg.MaxAge != nil {
		if *cfg.MaxAge < 0 || *cfg.MaxAge != float64(int64(*cfg.MaxAge)) {
			return nil, fmt.Errorf("config.max_age: must be a non-negative integer")
		}
		r.maxAge = strconv.FormatInt(int64(*cfg.MaxAge), 10)
	}
	for i, h := range append(append([]string(nil), cfg.Headers...), cfg.ExposedHeaders...) {
		if h == "" || strings.ContainsAny(h, "\r\n") {
			field := "headers"
			if i >= len(cfg.Headers) {
				field, i = "exposed_headers", i-len(cfg.Headers)
			}
			return nil, fmt.Errorf("config.%s[%d]: must be a non-empty header name", field, i)
		}
	}
	r.headers = strings.Join(cfg.Headers, ",")
	r.exposed = strings.Join(cfg.ExposedHeaders, ",")
	r.methods = strings.Join(cfg.Methods, ",")
	n := len(cfg.Origins)
	if n == 0 || n == 1 && cfg.Origins[0] == "*" {
		r.allowAll = true
		return r, nil
	}
	if n == 1 && plainOrigin.MatchString(cfg.Origins[0]) {
		r.single = cfg.Origins[0]
		return r, nil
	}
	for i, e := range cfg.Origins {
		if e == "*" {
			r.anyStar = true
			continue
		}
		o := origin{byHost: !strings.Contains(e, ":")}
		if !plainOrigin.MatchString(e) {
			// Kong appends "$" and drops a leading "^", then matches
			// anchored at the start: a full match.
			src := strings.TrimSuffix(strings.TrimPrefix(e, "^"), "$")
			re, err := regexp.Compile(`^(?:` + src + `)$`)
			if err != nil {
				return nil, fmt.Errorf("config.origins[%d]: %q is neither \"*\" nor a valid regex: %v", i, e, err)
			}
			o.re = re
		} else {
			o.domain, _ = normalize(e)
		}
		r.origins = append(r.origins, o)
	}
	return r, nil
}

// normalize returns Kong's normalized origin (scheme://host[:port], default
// ports dropped) and its host. A value without "scheme://" is its own
// domain and host, as Kong's url.parse leaves it.
func normalize(s string) (domain, host string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return s, s
	}
	hostport := rest
	if i := strings.IndexAny(hostport, "/?#"); i >= 0 {
		hostport = hostport[:i]
	}
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:]
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	domain = scheme + "://" + host
	if port != "" {
		domain += ":" + port
	}
	return domain, host
}

// headerOps collects the response header changes of one call: Kong's
// set_header / add_header / clear_header.
type headerOps struct {
	set   [][2]string
	add   [][2]string
	clear []string
}

func (o *headerOps) setH(k, v string) { o.set = append(o.set, [2]string{k, v}) }

// vary is Kong's add_vary_header: set in access, added in header_filter.
func (o *headerOps) vary(headerFilter bool) {
	if headerFilter {
		o.add = append(o.add, [2]string{"vary", "Origin"})
	} else {
		o.setH("vary", "Origin")
	}
}

// configureOrigin is Kong's configure_origin; it reports whether every
// origin is allowed ("*").
func (r *rules) configureOrigin(o *headerOps, headerFilter bool, reqOrigin string, hasOrigin bool) bool {
	if r.allowAll {
		o.setH("access-control-allow-origin", "*")
		return true
	}
	o.vary(headerFilter)
	if r.single != "" {
		o.setH("access-control-allow-origin", r.single)
		return false
	}
	if hasOrigin {
		if r.anyStar {
			o.setH("access-control-allow-origin", "*")
			return true
		}
		domain, host := normalize(reqOrigin)
		for _, c := range r.origins {
			var found bool
			if c.re != nil {
				subject := domain
				if c.byHost {
					subject = host
				}
				found = c.re.MatchString(subject)
			} else {
				found = domain == c.domain
			}
			if found {
				o.setH("access-control-allow-origin", domain)
				return false
			}
		}
	}
	o.clear = append(o.clear, "access-control-allow-origin")
	return false
}

// configureCredentials is Kong's configure_credentials.
func (r *rules) configureCredentials(o *headerOps, allowAll, headerFilter bool, reqOrigin string, hasOrigin bool) {
	if !r.cfg.Credentials {
		return
	}
	if !allowAll {
		o.setH("access-control-allow-credentials", "true")
		return
	}
	if hasOrigin {
		o.vary(headerFilter)
		o.setH("access-control-allow-origin", reqOrigin)
		o.setH("access-control-allow-credentials", "true")
	}
}

// preflight computes the headers of the local preflight answer.
func (r *rules) preflight(reqOrigin, acrh string, hasACRH bool, pna string) [][2]string {
	var o headerOps
	allowAll := r.configureOrigin(&o, false, reqOrigin, true)
	r.configureCredentials(&o, allowAll, false, reqOrigin, true)
	if r.headers != "" {
		o.setH("access-control-allow-headers", r.headers)
	} else if hasACRH {
		o.setH("access-control-allow-headers", acrh)
	}
	o.setH("access-control-allow-methods", r.methods)
	if r.maxAge != "" {
		o.setH("access-control-max-age", r.maxAge)
	}
	if r.cfg.PrivateNetwork && pna == "true" {
		o.setH("access-control-allow-private-network", "true")
	}
	return collapse(o)
}

// collapse turns the ops of a local response into its header list: later
// sets replace earlier ones, clears drop them.
func collapse(o headerOps) [][2]string {
	var out [][2]string
	for _, kv := range o.set {
		replaced := false
		for i := range out {
			if out[i][0] == kv[0] {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	for _, c := range o.clear {
		for i := 0; i < len(out); i++ {
			if out[i][0] == c {
				out = append(out[:i], out[i+1:]...)
				i--
			}
		}
	}
	return out
}

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

type plugin struct {
	proxywasm.DefaultPluginContext
	rules *rules
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	var cfg config
	if err := kong.DecodeConfig(&cfg); err != nil {
		return kong.Fail(name, err)
	}
	r, err := compile(cfg)
	if err != nil {
		return kong.Fail(name, err)
	}
	p.rules = r
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{rules: p.rules} }

type stream struct {
	proxywasm.DefaultHttpContext
	rules     *rules
	skip      bool // preflight handled (or delegated): no response headers
	origin    string
	hasOrigin bool
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	origin, err := proxywasm.GetHttpRequestHeader("origin")
	s.origin, s.hasOrigin = origin, err == nil
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	if method != "OPTIONS" || !s.hasOrigin {
		return proxywasm.ActionContinue
	}
	if _, err := proxywasm.GetHttpRequestHeader("access-control-request-method"); err != nil {
		return proxywasm.ActionContinue
	}
	s.skip = true
	if s.rules.cfg.PreflightContinue {
		return proxywasm.ActionContinue
	}
	acrh, err := proxywasm.GetHttpRequestHeader("access-control-request-headers")
	pna, _ := proxywasm.GetHttpRequestHeader("access-control-request-private-network")
	return kong.Exit(200, s.rules.preflight(origin, acrh, err == nil, pna), nil)
}

func (s *stream) OnHttpResponseHeaders(int, bool) proxywasm.Action {
	if s.skip || !s.hasOrigin && !s.rules.allowAbsent {
		return proxywasm.ActionContinue
	}
	var o headerOps
	allowAll := s.rules.configureOrigin(&o, true, s.origin, s.hasOrigin)
	s.rules.configureCredentials(&o, allowAll, true, s.origin, s.hasOrigin)
	if s.rules.exposed != "" {
		o.setH("access-control-expose-headers", s.rules.exposed)
	}
	// Apply in Kong's call order: each call acts on the headers as the
	// previous ones left them.
	for _, kv := range o.add {
		_ = proxywasm.AddHttpResponseHeader(kv[0], kv[1])
	}
	for _, kv := range collapse(headerOps{set: o.set}) {
		_ = proxywasm.ReplaceHttpResponseHeader(kv[0], kv[1])
	}
	// A clear never meets a set of the same header in one pass: Kong
	// clears Access-Control-Allow-Origin only when it sets none.
	for _, c := range o.clear {
		_ = proxywasm.RemoveHttpResponseHeader(c)
	}
	return proxywasm.ActionContinue
}
