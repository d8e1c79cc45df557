// Command headers is a Weir proxy-wasm example plugin: it adds the request
// header "x-weir-example: <value>" before the request goes upstream, and the
// response header "x-powered-by: weir-go-sdk" before the response goes back
// to the client.
//
// Configuration (JSON): {"value": "..."}; value defaults to "hello".
//
// Build (from the repository root; headers.wasm is committed next to this
// file, rebuild it after changing the SDK):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o sdk/go/examples/headers/headers.wasm ./sdk/go/examples/headers
package main

import (
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// Header names this plugin sets.
const (
	requestHeader  = "x-weir-example"
	responseHeader = "x-powered-by"
	poweredBy      = "weir-go-sdk"
)

// config is the plugin configuration.
type config struct {
	Value string `json:"value"`
}

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ proxywasm.DefaultVMContext }

func (*vm) NewPluginContext(uint32) proxywasm.PluginContext { return &plugin{} }

type plugin struct {
	proxywasm.DefaultPluginContext
	value string
}

func (p *plugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	cfg := config{Value: "hello"}
	if err := proxywasm.DecodeConfig(&cfg); err != nil {
		proxywasm.LogErrorf("headers: %v", err)
		return proxywasm.OnPluginStartStatusFailed
	}
	p.value = cfg.Value
	return proxywasm.OnPluginStartStatusOK
}

func (p *plugin) NewHttpContext(uint32) proxywasm.HttpContext { return &stream{value: p.value} }

type stream struct {
	proxywasm.DefaultHttpContext
	value string
}

func (s *stream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	if err := proxywasm.ReplaceHttpRequestHeader(requestHeader, s.value); err != nil {
		proxywasm.LogErrorf("headers: set %s: %v", requestHeader, err)
	}
	return proxywasm.ActionContinue
}

func (s *stream) OnHttpResponseHeaders(int, bool) proxywasm.Action {
	if err := proxywasm.ReplaceHttpResponseHeader(responseHeader, poweredBy); err != nil {
		proxywasm.LogErrorf("headers: set %s: %v", responseHeader, err)
	}
	return proxywasm.ActionContinue
}
