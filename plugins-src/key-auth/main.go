// Command key-auth is Weir's built-in key-auth plugin: Kong's key-auth
// (priority 1250, access phase) as a proxy-wasm module. It finds an API key
// in a header, the query string or the body, looks up its consumer through
// weir.consumer_lookup and authenticates the stream with weir.set_consumer.
//
// Build: go tool task builtins:build (see plugins-src/README.md).
package main

import (
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/plugins-src/internal/kongext"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

// config is Kong's key-auth schema, defaults included.
type config struct {
	KeyNames        []string `json:"key_names"`
	HideCredentials bool     `json:"hide_credentials"`
	Anonymous       *string  `json:"anonymous"`
	KeyInHeader     bool     `json:"key_in_header"`
	KeyInQuery      bool     `json:"key_in_query"`
	KeyInBody       bool     `json:"key_in_body"`
	RunOnPreflight  bool     `json:"run_on_preflight"`
	Realm           *string  `json:"realm"`
}

type plugin struct {
	proxywasm.DefaultPluginContext
	cfg config
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	p.cfg = config{KeyNames: []string{"apikey"}, KeyInHeader: true, KeyInQuery: true, RunOnPreflight: true}
	if err := proxywasm.DecodeConfig(&p.cfg); err != nil {
		proxywasm.LogErrorf("key-auth: config: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{cfg: &p.cfg} }

type stream struct {
	proxywasm.DefaultHttpContext
	cfg      *config
	waitBody bool
}

const (
	msgNoKey     = "No API key found in request"
	msgDuplicate = "Duplicate API key found"
	msgBadKey    = "Unauthorized"
)

type authErr struct {
	status int
	msg    string
}

func (s *stream) wwwAuthenticate() [2]string {
	if s.cfg.Realm != nil {
		return [2]string{"www-authenticate", `Key realm="` + *s.cfg.Realm + `"`}
	}
	return [2]string{"www-authenticate", "Key"}
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) proxywasm.Action {
	method, _ := proxywasm.GetHttpRequestHeader(":method")
	if !s.cfg.RunOnPreflight && method == "OPTIONS" {
		return proxywasm.ActionContinue
	}
	if s.cfg.Anonymous != nil && kongext.Authenticated() {
		return proxywasm.ActionContinue // another plugin authenticated (logical OR)
	}
	key, aerr := s.fromHeadersAndQuery()
	if aerr == nil && key == "" && s.cfg.KeyInBody && !endOfStream {
		s.waitBody = true
		return proxywasm.ActionPause // buffer the body, decide in OnHttpRequestBody
	}
	return s.finish(key, aerr)
}

func (s *stream) OnHttpRequestBody(size int, endOfStream bool) proxywasm.Action {
	if !s.waitBody {
		return proxywasm.ActionContinue
	}
	if !endOfStream {
		return proxywasm.ActionPause
	}
	s.waitBody = false
	body, _ := proxywasm.GetHttpRequestBody(0, size)
	key, aerr := s.fromBody(body)
	return s.finish(key, aerr)
}

// finish authenticates with key (or answers the error).
func (s *stream) finish(key string, aerr *authErr) proxywasm.Action {
	if aerr == nil {
		if key == "" {
			aerr = &authErr{401, msgNoKey}
		} else {
			aerr = s.authenticate(key)
		}
	}
	if aerr == nil {
		return proxywasm.ActionContinue
	}
	if s.cfg.Anonymous != nil && *s.cfg.Anonymous != "" {
		if err := kongext.SetAnonymous(*s.cfg.Anonymous); err != nil {
			proxywasm.LogErrorf("key-auth: anonymous consumer %q: %v", *s.cfg.Anonymous, err)
			kongext.Error(500, "An unexpected error occurred")
			return proxywasm.ActionPause
		}
		return proxywasm.ActionContinue
	}
	if aerr.status == 500 {
		kongext.Error(500, aerr.msg)
	} else {
		kongext.Error(aerr.status, aerr.msg, s.wwwAuthenticate())
	}
	return proxywasm.ActionPause
}

func (s *stream) authenticate(key string) *authErr {
	info, err := kongext.LookupCredential(abi.CredentialKeyAuth, key)
	if errors.Is(err, kongext.ErrNoConsumer) {
		return &authErr{401, msgBadKey}
	}
	if err != nil {
		proxywasm.LogErrorf("key-auth: consumer lookup: %v", err)
		return &authErr{500, "An unexpected error occurred"}
	}
	if err := kongext.SetConsumer(info.ID, info.CredentialID); err != nil {
		proxywasm.LogErrorf("key-auth: set consumer: %v", err)
		return &authErr{500, "An unexpected error occurred"}
	}
	return nil
}

// fromHeadersAndQuery looks for the key under each key name: header, then
// query string (Kong's order). A name given twice is an error.
func (s *stream) fromHeadersAndQuery() (string, *authErr) {
	var headers [][2]string
	if s.cfg.KeyInHeader {
		headers, _ = proxywasm.GetHttpRequestHeaders()
	}
	var query url.Values
	var path string
	queryParsed := false
	for _, name := range s.cfg.KeyNames {
		if s.cfg.KeyInQuery && !queryParsed && !s.inHeaders(headers, name) {
			// Parsed only when a key is not in the headers.
			queryParsed = true
			path, _ = proxywasm.GetHttpRequestHeader(":path")
			if i := strings.IndexByte(path, '?'); i >= 0 {
				query, _ = url.ParseQuery(path[i+1:])
				path = path[:i]
			}
		}
		if s.cfg.KeyInHeader {
			v, n := kongext.HeaderFirst(headers, name)
			if n > 1 {
				return "", &authErr{401, msgDuplicate}
			}
			if n == 1 {
				if s.cfg.HideCredentials {
					_ = proxywasm.RemoveHttpRequestHeader(name)
				}
				return v, nil
			}
		}
		if query != nil {
			if vs, ok := query[name]; ok {
				if len(vs) > 1 {
					return "", &authErr{401, msgDuplicate}
				}
				if s.cfg.HideCredentials {
					query.Del(name)
					np := path
					if q := query.Encode(); q != "" {
						np += "?" + q
					}
					_ = proxywasm.ReplaceHttpRequestHeader(":path", np)
				}
				return vs[0], nil
			}
		}
	}
	return "", nil
}

func (s *stream) inHeaders(headers [][2]string, name string) bool {
	if !s.cfg.KeyInHeader {
		return false
	}
	_, n := kongext.HeaderFirst(headers, name)
	return n > 0
}

// fromBody looks for the key in a form-urlencoded or JSON body.
func (s *stream) fromBody(body []byte) (string, *authErr) {
	ct, _ := proxywasm.GetHttpRequestHeader("content-type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", nil
		}
		for _, name := range s.cfg.KeyNames {
			if vs, ok := form[name]; ok {
				if len(vs) > 1 {
					return "", &authErr{401, msgDuplicate}
				}
				if s.cfg.HideCredentials {
					form.Del(name)
					_ = proxywasm.ReplaceHttpRequestBody([]byte(form.Encode()))
				}
				return vs[0], nil
			}
		}
	case "application/json":
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			return "", nil
		}
		for _, name := range s.cfg.KeyNames {
			raw, ok := obj[name]
			if !ok {
				continue
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				var arr []any
				if json.Unmarshal(raw, &arr) == nil {
					return "", &authErr{401, msgDuplicate}
				}
				continue
			}
			if s.cfg.HideCredentials {
				delete(obj, name)
				if nb, err := json.Marshal(obj); err == nil {
					_ = proxywasm.ReplaceHttpRequestBody(nb)
				}
			}
			return v, nil
		}
	}
	return "", nil
}
