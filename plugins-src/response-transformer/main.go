// Command response-transformer is Weir's reference "response-transformer"
// plugin: Kong's bundled plugin of that name (priority 800) rebuilt as a
// proxy-wasm module with sdk/go. It rewrites upstream response headers
// (header_filter) and top-level members of JSON response bodies
// (body_filter), in Kong's order: remove, rename, replace (only if
// present), add (only if absent), append. json_types casts the values of
// replace/add/append.json entry by entry (boolean, number or string).
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/response-transformer/response-transformer.wasm ./plugins-src/response-transformer
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "response-transformer"

type plain struct {
	JSON    []string `json:"json"`
	Headers []string `json:"headers"`
}

type typed struct {
	JSON      []string `json:"json"`
	JSONTypes []string `json:"json_types"`
	Headers   []string `json:"headers"`
}

// config is Kong's response-transformer schema.
type config struct {
	Remove  plain `json:"remove"`
	Rename  plain `json:"rename"`
	Replace typed `json:"replace"`
	Add     typed `json:"add"`
	Append  typed `json:"append"`
}

type op struct {
	name, value string
	typ         string // json only: boolean, number or string
}

type rules struct {
	hRemove, hRename, hReplace, hAdd, hAppend []op
	jRemove, jRename, jReplace, jAdd, jAppend []op
}

func (r *rules) jsonEmpty() bool {
	return len(r.jRemove)+len(r.jRename)+len(r.jReplace)+len(r.jAdd)+len(r.jAppend) == 0
}

func names(field string, list []string) ([]op, error) {
	out := make([]op, 0, len(list))
	for i, s := range list {
		if s == "" {
			return nil, fmt.Errorf("config.%s[%d]: empty name", field, i)
		}
		out = append(out, op{name: s})
	}
	return out, nil
}

func pairs(field string, list []string, types []string) ([]op, error) {
	out := make([]op, 0, len(list))
	for i, s := range list {
		n, v, ok := strings.Cut(s, ":")
		if !ok || n == "" {
			return nil, fmt.Errorf("config.%s[%d]: %q is not in the form name:value", field, i, s)
		}
		o := op{name: n, value: strings.TrimLeft(v, ":"), typ: "string"}
		if i < len(types) {
			o.typ = types[i]
		}
		if o.typ == "number" {
			if _, err := strconv.ParseFloat(o.value, 64); err != nil {
				return nil, fmt.Errorf("config.%s[%d]: %q is not a number (json_types)", field, i, o.value)
			}
		}
		if strings.ContainsAny(o.value, "\r\n") {
			return nil, fmt.Errorf("config.%s[%d]: value contains a line break", field, i)
		}
		out = append(out, o)
	}
	return out, nil
}

func compile(c config) (*rules, error) {
	r := &rules{}
	for _, t := range []struct {
		field string
		types []string
	}{{"replace", c.Replace.JSONTypes}, {"add", c.Add.JSONTypes}, {"append", c.Append.JSONTypes}} {
		for i, ty := range t.types {
			if ty != "boolean" && ty != "number" && ty != "string" {
				return nil, fmt.Errorf("config.%s.json_types[%d]: expected one of: boolean, number, string", t.field, i)
			}
		}
	}
	var err error
	steps := []func() error{
		func() error { r.hRemove, err = names("remove.headers", c.Remove.Headers); return err },
		func() error { r.jRemove, err = names("remove.json", c.Remove.JSON); return err },
		func() error { r.hRename, err = pairs("rename.headers", c.Rename.Headers, nil); return err },
		func() error { r.jRename, err = pairs("rename.json", c.Rename.JSON, nil); return err },
		func() error { r.hReplace, err = pairs("replace.headers", c.Replace.Headers, nil); return err },
		func() error { r.jReplace, err = pairs("replace.json", c.Replace.JSON, c.Replace.JSONTypes); return err },
		func() error { r.hAdd, err = pairs("add.headers", c.Add.Headers, nil); return err },
		func() error { r.jAdd, err = pairs("add.json", c.Add.JSON, c.Add.JSONTypes); return err },
		func() error { r.hAppend, err = pairs("append.headers", c.Append.Headers, nil); return err },
		func() error { r.jAppend, err = pairs("append.json", c.Append.JSON, c.Append.JSONTypes); return err },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// cast is Kong's cast_value.
func (o op) cast() any {
	switch o.typ {
	case "number":
		f, _ := strconv.ParseFloat(o.value, 64)
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	case "boolean":
		return o.value == "true"
	}
	return o.value
}

// appendValue is Kong's append_value.
func appendValue(cur, v any) any {
	switch c := cur.(type) {
	case string:
		return []any{c, v}
	case []any:
		return append(c, v)
	}
	return []any{v}
}

// transformJSON is Kong's transform_json_body; ok is false when the body
// is not a JSON object and must pass unchanged.
func (r *rules) transformJSON(body []byte) ([]byte, bool) {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	for _, o := range r.jRemove {
		delete(m, o.name)
	}
	for _, o := range r.jRename {
		if v, ok := m[o.name]; ok && v != nil {
			delete(m, o.name)
			m[o.value] = v
		}
	}
	for _, o := range r.jReplace {
		if v, ok := m[o.name]; ok && v != nil {
			m[o.name] = o.cast()
		}
	}
	for _, o := range r.jAdd {
		if v, ok := m[o.name]; !ok || v == nil {
			m[o.name] = o.cast()
		}
	}
	for _, o := range r.jAppend {
		m[o.name] = appendValue(m[o.name], o.cast())
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	return out, true
}

func isJSON(ct string) bool { return strings.Contains(strings.ToLower(ct), "application/json") }

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
	json  bool // transform the body at its end
}

func has(k string) bool {
	_, err := proxywasm.GetHttpResponseHeader(k)
	return err == nil
}

// OnHttpResponseHeaders is Kong's header_filter.
func (s *stream) OnHttpResponseHeaders(_ int, endOfStream bool) proxywasm.Action {
	r := s.rules
	for _, o := range r.hRemove {
		_ = proxywasm.RemoveHttpResponseHeader(o.name)
	}
	for _, o := range r.hRename {
		if has(o.name) {
			all, _ := proxywasm.GetHttpResponseHeaders()
			first := true
			for _, kv := range all {
				if strings.EqualFold(kv[0], o.name) {
					if first {
						_ = proxywasm.ReplaceHttpResponseHeader(o.value, kv[1])
						first = false
					} else {
						_ = proxywasm.AddHttpResponseHeader(o.value, kv[1])
					}
				}
			}
			_ = proxywasm.RemoveHttpResponseHeader(o.name)
		}
	}
	for _, o := range r.hReplace {
		if has(o.name) {
			_ = proxywasm.ReplaceHttpResponseHeader(o.name, o.value)
		}
	}
	for _, o := range r.hAdd {
		if !has(o.name) {
			_ = proxywasm.ReplaceHttpResponseHeader(o.name, o.value)
		}
	}
	for _, o := range r.hAppend {
		_ = proxywasm.AddHttpResponseHeader(o.name, o.value)
	}
	if !endOfStream && !r.jsonEmpty() {
		ct, _ := proxywasm.GetHttpResponseHeader("content-type")
		if isJSON(ct) {
			s.json = true
			_ = proxywasm.RemoveHttpResponseHeader("content-length")
		}
	}
	return proxywasm.ActionContinue
}

// OnHttpResponseBody is Kong's body_filter: the whole body is buffered
// and rewritten at its end.
func (s *stream) OnHttpResponseBody(bodySize int, endOfStream bool) proxywasm.Action {
	if !s.json {
		return proxywasm.ActionContinue
	}
	if !endOfStream {
		return proxywasm.ActionPause
	}
	body, err := proxywasm.GetHttpResponseBody(0, bodySize)
	if err != nil {
		return proxywasm.ActionContinue
	}
	if out, ok := s.rules.transformJSON(body); ok {
		if err := proxywasm.ReplaceHttpResponseBody(out); err != nil {
			proxywasm.LogErrorf("%s: replace body: %v", name, err)
		}
	}
	return proxywasm.ActionContinue
}
