// Command request-transformer is Weir's reference "request-transformer"
// plugin: Kong's bundled plugin of that name (priority 801) rebuilt as a
// proxy-wasm module with sdk/go. It rewrites the request before it goes
// upstream, in Kong's order: uri (replace.uri), method (http_method),
// headers, body (JSON and form-urlencoded), querystring; within each part
// remove, rename, replace (only if present), add (only if absent), append.
//
// Values are literal: Kong's $(...) templates need untrusted Lua, and a
// value containing one is refused at configuration time (Kong with
// untrusted_lua = off refuses it per request). See README.md.
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/request-transformer/request-transformer.wasm ./plugins-src/request-transformer
package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "request-transformer"

// parts is one operation's lists.
type parts struct {
	Body        []string `json:"body"`
	Headers     []string `json:"headers"`
	Querystring []string `json:"querystring"`
}

type replaceParts struct {
	parts
	URI *string `json:"uri"`
}

// config is Kong's request-transformer schema.
type config struct {
	HTTPMethod *string      `json:"http_method"`
	Remove     parts        `json:"remove"`
	Rename     parts        `json:"rename"`
	Replace    replaceParts `json:"replace"`
	Add        parts        `json:"add"`
	Append     parts        `json:"append"`
}

// op is one parsed "name:value" entry (value "" for remove lists).
type op struct{ name, value string }

// ops are the parsed lists of one part (headers, querystring or body).
type ops struct{ remove, rename, replace, add, append []op }

func (o *ops) empty() bool {
	return len(o.remove)+len(o.rename)+len(o.replace)+len(o.add)+len(o.append) == 0
}

// rules is a validated configuration.
type rules struct {
	method               string
	uri                  string
	hasURI               bool
	headers, query, body ops
}

var (
	methodRe   = regexp.MustCompile(`^[A-Z]+$`)
	templateRe = regexp.MustCompile(`\$\(.*\)`)
)

// parseList parses Kong's "name:value" entries with Kong's pattern
// ^([^:]+):*(.-)$ (the name ends at the first colon; further colons right
// after it are skipped). Names only (remove) when pairs is false.
func parseList(field string, list []string, pairs bool) ([]op, error) {
	out := make([]op, 0, len(list))
	for i, s := range list {
		if templateRe.MatchString(s) {
			return nil, fmt.Errorf("config.%s[%d]: %q uses a $(...) template; Weir's request-transformer takes literal values only", field, i, s)
		}
		if !pairs {
			if s == "" {
				return nil, fmt.Errorf("config.%s[%d]: empty name", field, i)
			}
			out = append(out, op{name: s})
			continue
		}
		n, v, ok := strings.Cut(s, ":")
		if !ok || n == "" {
			return nil, fmt.Errorf("config.%s[%d]: %q is not in the form name:value", field, i, s)
		}
		out = append(out, op{name: n, value: strings.TrimLeft(v, ":")})
	}
	return out, nil
}

func compile(cfg config) (*rules, error) {
	r := &rules{}
	if cfg.HTTPMethod != nil {
		m := strings.ToUpper(*cfg.HTTPMethod)
		if !methodRe.MatchString(m) {
			return nil, fmt.Errorf("config.http_method: %q is not an HTTP method (letters only)", *cfg.HTTPMethod)
		}
		r.method = m
	}
	if cfg.Replace.URI != nil {
		u := *cfg.Replace.URI
		if templateRe.MatchString(u) {
			return nil, fmt.Errorf("config.replace.uri: %q uses a $(...) template; Weir's request-transformer takes literal values only", u)
		}
		if u == "" || strings.ContainsAny(u, " \t\r\n?#") {
			return nil, fmt.Errorf("config.replace.uri: %q is not a path", u)
		}
		if u[0] != '/' {
			u = "/" + u
		}
		r.uri, r.hasURI = u, true
	}
	type target struct {
		part *ops
		name string
		get  func(p parts) []string
	}
	targets := []target{
		{&r.headers, "headers", func(p parts) []string { return p.Headers }},
		{&r.query, "querystring", func(p parts) []string { return p.Querystring }},
		{&r.body, "body", func(p parts) []string { return p.Body }},
	}
	var err error
	for _, t := range targets {
		if t.part.remove, err = parseList("remove."+t.name, t.get(cfg.Remove), false); err != nil {
			return nil, err
		}
		if t.part.rename, err = parseList("rename."+t.name, t.get(cfg.Rename), true); err != nil {
			return nil, err
		}
		if t.part.replace, err = parseList("replace."+t.name, t.get(cfg.Replace.parts), true); err != nil {
			return nil, err
		}
		if t.part.add, err = parseList("add."+t.name, t.get(cfg.Add), true); err != nil {
			return nil, err
		}
		if t.part.append, err = parseList("append."+t.name, t.get(cfg.Append), true); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]op{r.headers.rename, r.headers.replace, r.headers.add, r.headers.append} {
		for _, o := range list {
			if strings.ContainsAny(o.value, "\r\n") {
				return nil, fmt.Errorf("config: header value for %q contains a line break", o.name)
			}
		}
	}
	return r, nil
}

// headerTable is the request's headers as Kong's get_headers() table:
// lower-case names, each with its values, in first-seen order.
type headerTable struct {
	names  []string
	values map[string][]string
}

func newHeaderTable(pairs [][2]string) *headerTable {
	t := &headerTable{values: map[string][]string{}}
	for _, kv := range pairs {
		if strings.HasPrefix(kv[0], ":") {
			continue
		}
		t.append(kv[0], kv[1])
	}
	return t
}

func (t *headerTable) append(k, v string) {
	k = strings.ToLower(k)
	if _, ok := t.values[k]; !ok {
		t.names = append(t.names, k)
	}
	t.values[k] = append(t.values[k], v)
}

func (t *headerTable) set(k string, v []string) {
	k = strings.ToLower(k)
	if _, ok := t.values[k]; !ok {
		t.names = append(t.names, k)
	}
	t.values[k] = v
}

func (t *headerTable) del(k string) {
	k = strings.ToLower(k)
	if _, ok := t.values[k]; !ok {
		return
	}
	delete(t.values, k)
	t.names = slicesDelete(t.names, k)
}

func slicesDelete(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// transformHeaders is Kong's transform_headers on a header table; the host
// header is :authority in proxy-wasm and is handled by the caller.
func (r *rules) transformHeaders(t *headerTable) (host string, hostSet bool) {
	for _, o := range r.headers.remove {
		t.del(o.name)
	}
	for _, o := range r.headers.rename {
		if v, ok := t.values[strings.ToLower(o.name)]; ok {
			t.del(o.name)
			t.set(o.value, v)
		}
	}
	for _, o := range r.headers.replace {
		if strings.EqualFold(o.name, "host") {
			host, hostSet = o.value, true
			continue
		}
		if _, ok := t.values[strings.ToLower(o.name)]; ok {
			t.set(o.name, []string{o.value})
		}
	}
	for _, o := range r.headers.add {
		if strings.EqualFold(o.name, "host") {
			continue
		}
		if _, ok := t.values[strings.ToLower(o.name)]; !ok {
			t.set(o.name, []string{o.value})
		}
	}
	for _, o := range r.headers.append {
		if strings.EqualFold(o.name, "host") {
			continue
		}
		t.append(o.name, o.value)
	}
	return host, hostSet
}

// transformQuery is Kong's transform_querystrings on a raw query string;
// the result is encoded with sorted names, as kong.service.request.set_query.
func (r *rules) transformQuery(raw string) string {
	q, _ := url.ParseQuery(raw)
	for _, o := range r.query.remove {
		delete(q, o.name)
	}
	for _, o := range r.query.rename {
		v, ok := q[o.name]
		delete(q, o.name)
		if ok {
			q[o.value] = v
		} else {
			delete(q, o.value)
		}
	}
	for _, o := range r.query.replace {
		if _, ok := q[o.name]; ok {
			q[o.name] = []string{o.value}
		}
	}
	for _, o := range r.query.add {
		if _, ok := q[o.name]; !ok {
			q[o.name] = []string{o.value}
		}
	}
	for _, o := range r.query.append {
		q[o.name] = append(q[o.name], o.value)
	}
	return encodeSorted(q)
}

func encodeSorted(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// bodyKind is the request body type the transformer understands.
type bodyKind int

const (
	bodyNone bodyKind = iota
	bodyJSON
	bodyForm
	bodyMultipart
)

func kindOf(contentType string) bodyKind {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "application/json"):
		return bodyJSON
	case strings.Contains(ct, "multipart/form-data"):
		return bodyMultipart
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		return bodyForm
	}
	return bodyNone
}

// appendValue is Kong's append_value on a JSON value.
func appendValue(cur any, v string) any {
	switch c := cur.(type) {
	case string:
		return []any{c, v}
	case []any:
		return append(c, v)
	}
	return []any{v}
}

// truthy is Lua truthiness of a decoded JSON value (cjson: null is a
// truthy userdata; false is false).
func truthy(v any, ok bool) bool {
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	return !isBool || b
}

// transformJSON is Kong's transform_json_body. changed is false when the
// body is left as it was (nothing applied, or not a JSON object).
func (r *rules) transformJSON(body []byte) (out []byte, changed bool) {
	params := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &params); err != nil {
			return nil, false
		}
		for _, o := range r.body.remove {
			delete(params, o.name)
			changed = true
		}
		for _, o := range r.body.rename {
			v, ok := params[o.name]
			delete(params, o.name)
			if ok {
				params[o.value] = v
			} else {
				delete(params, o.value)
			}
			changed = true
		}
		for _, o := range r.body.replace {
			if v, ok := params[o.name]; truthy(v, ok) {
				params[o.name] = o.value
				changed = true
			}
		}
	}
	for _, o := range r.body.add {
		if v, ok := params[o.name]; !truthy(v, ok) {
			params[o.name] = o.value
			changed = true
		}
	}
	for _, o := range r.body.append {
		params[o.name] = appendValue(params[o.name], o.value)
		changed = true
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(params)
	if err != nil {
		return nil, false
	}
	return out, true
}

// transformForm is Kong's transform_url_encoded_body.
func (r *rules) transformForm(body []byte) (out []byte, changed bool) {
	q, _ := url.ParseQuery(string(body))
	if len(body) > 0 {
		for _, o := range r.body.remove {
			delete(q, o.name)
			changed = true
		}
		for _, o := range r.body.rename {
			v, ok := q[o.name]
			delete(q, o.name)
			if ok {
				q[o.value] = v
			} else {
				delete(q, o.value)
			}
			changed = true
		}
		for _, o := range r.body.replace {
			if _, ok := q[o.name]; ok {
				q[o.name] = []string{o.value}
				changed = true
			}
		}
	}
	for _, o := range r.body.add {
		if _, ok := q[o.name]; !ok {
			q[o.name] = []string{o.value}
			changed = true
		}
	}
	for _, o := range r.body.append {
		q[o.name] = append(q[o.name], o.value)
		changed = true
	}
	if !changed {
		return nil, false
	}
	return []byte(encodeSorted(q)), true
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
	rules *rules
	body  bodyKind // body to transform at end of stream; bodyNone: pass through
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) proxywasm.Action {
	r := s.rules
	path, _ := proxywasm.GetHttpRequestHeader(":path")
	p, query, hasQuery := strings.Cut(path, "?")
	newPath := p
	if r.hasURI {
		newPath = r.uri
	}
	if r.method != "" {
		if err := proxywasm.ReplaceHttpRequestHeader(":method", r.method); err != nil {
			proxywasm.LogErrorf("%s: set method: %v", name, err)
		}
	}
	pairs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		proxywasm.LogErrorf("%s: read headers: %v", name, err)
		return proxywasm.ActionContinue
	}
	if !r.headers.empty() {
		orig := newHeaderTable(pairs)
		t := newHeaderTable(pairs)
		host, hostSet := r.transformHeaders(t)
		applyHeaders(orig, t)
		if hostSet {
			if err := proxywasm.ReplaceHttpRequestHeader(":authority", host); err != nil {
				proxywasm.LogErrorf("%s: set host: %v", name, err)
			}
		}
		pairs, _ = proxywasm.GetHttpRequestHeaders()
	}
	if !endOfStream && !r.body.empty() {
		ct := ""
		for _, kv := range pairs {
			if kv[0] == "content-type" {
				ct = kv[1]
				break
			}
		}
		if k := kindOf(ct); k == bodyJSON || k == bodyForm {
			s.body = k
			// The body changes length: let the host reframe it.
			_ = proxywasm.RemoveHttpRequestHeader("content-length")
		}
	}
	if !r.query.empty() {
		query, hasQuery = r.transformQuery(query), true
	}
	if newPath != p || !r.query.empty() {
		np := newPath
		if hasQuery && query != "" {
			np += "?" + query
		}
		if err := proxywasm.ReplaceHttpRequestHeader(":path", np); err != nil {
			proxywasm.LogErrorf("%s: set path: %v", name, err)
		}
	}
	return proxywasm.ActionContinue
}

func (s *stream) OnHttpRequestBody(bodySize int, endOfStream bool) proxywasm.Action {
	if s.body == bodyNone {
		return proxywasm.ActionContinue
	}
	if !endOfStream {
		return proxywasm.ActionPause // buffer the whole body
	}
	body, err := proxywasm.GetHttpRequestBody(0, bodySize)
	if err != nil && bodySize > 0 {
		proxywasm.LogErrorf("%s: read body: %v", name, err)
		return proxywasm.ActionContinue
	}
	var out []byte
	var changed bool
	if s.body == bodyJSON {
		out, changed = s.rules.transformJSON(body)
	} else {
		out, changed = s.rules.transformForm(body)
	}
	if changed {
		if err := proxywasm.ReplaceHttpRequestBody(out); err != nil {
			proxywasm.LogErrorf("%s: replace body: %v", name, err)
		}
	}
	return proxywasm.ActionContinue
}

// applyHeaders makes the request headers go from orig to t with single
// header calls (remove, replace, add), which every host implements the
// same way; replacing the whole map would also touch pseudo-headers.
func applyHeaders(orig, t *headerTable) {
	for _, n := range orig.names {
		if _, ok := t.values[n]; !ok {
			if err := proxywasm.RemoveHttpRequestHeader(n); err != nil {
				proxywasm.LogErrorf("%s: remove header %s: %v", name, n, err)
			}
		}
	}
	for _, n := range t.names {
		vs := t.values[n]
		if equal(orig.values[n], vs) {
			continue
		}
		if err := proxywasm.ReplaceHttpRequestHeader(n, vs[0]); err != nil {
			proxywasm.LogErrorf("%s: set header %s: %v", name, n, err)
			continue
		}
		for _, v := range vs[1:] {
			_ = proxywasm.AddHttpRequestHeader(n, v)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
