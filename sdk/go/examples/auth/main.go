// Command auth is a Weir proxy-wasm example plugin: API-key authentication.
// It checks the request header "x-api-key" against the configured keys. A
// missing or unknown key is answered locally with 401, the JSON body
// {"message":"Unauthorized"} and "www-authenticate: Key"; a valid key lets
// the request continue with the header removed, so the key never reaches
// the upstream.
//
// Configuration (JSON): {"keys": ["k1", "k2"]}. With no keys every request
// is rejected (and a warning is logged at start).
//
// Build (from the repository root; auth.wasm is committed next to this
// file, rebuild it after changing the SDK):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o sdk/go/examples/auth/auth.wasm ./sdk/go/examples/auth
package main

import (
	"crypto/subtle"

	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const (
	keyHeader = "x-api-key"
	// unauthorizedBody is the local response body, as Kong's key-auth
	// plugin answers.
	unauthorizedBody = `{"message":"Unauthorized"}`
)

// config is the plugin configuration.
type config struct {
	Keys []string `json:"keys"`
}

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

type plugin struct {
	proxywasm.DefaultPluginContext
	keys [][]byte
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	var cfg config
	if err := proxywasm.DecodeConfig(&cfg); err != nil {
		proxywasm.LogErrorf("auth: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	p.keys = p.keys[:0]
	for _, k := range cfg.Keys {
		if k != "" {
			p.keys = append(p.keys, []byte(k))
		}
	}
	if len(p.keys) == 0 {
		proxywasm.LogWarn("auth: no keys configured: every request will be rejected")
	}
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{plugin: p} }

// valid reports whether key is configured. Every configured key is
// compared in constant time, so timing does not reveal how close a guess is.
func (p *plugin) valid(key string) bool {
	ok := 0
	for _, k := range p.keys {
		ok |= subtle.ConstantTimeCompare(k, []byte(key))
	}
	return ok == 1
}

type stream struct {
	proxywasm.DefaultHttpContext
	plugin *plugin
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	key, err := proxywasm.GetHttpRequestHeader(keyHeader)
	if err != nil || !s.plugin.valid(key) {
		return reject()
	}
	if err := proxywasm.RemoveHttpRequestHeader(keyHeader); err != nil {
		// Forwarding the credential upstream would leak it: fail closed.
		proxywasm.LogErrorf("auth: remove %s: %v", keyHeader, err)
		return reject()
	}
	return proxywasm.ActionContinue
}

// reject answers 401 and stops the request.
func reject() proxywasm.Action {
	err := proxywasm.SendHttpResponse(401, [][2]string{
		{"www-authenticate", "Key"},
		{"content-type", "application/json"},
	}, []byte(unauthorizedBody), -1)
	if err != nil {
		proxywasm.LogErrorf("auth: send 401: %v", err)
		_ = proxywasm.ResetHttpStream()
	}
	return proxywasm.ActionPause
}
