// Command request-size-limiting is Weir's reference
// "request-size-limiting" plugin: Kong's bundled plugin of that name
// (priority 951) rebuilt as a proxy-wasm module with sdk/go. A request
// whose Content-Length (or, without one, whose body as it streams in)
// exceeds allowed_payload_size (in size_unit, 1024-based) is answered 413
// "Request size limit exceeded" (417 when it sent Expect: 100-continue);
// with require_content_length, a request without a valid Content-Length
// is answered 411 "A valid Content-Length header is required".
//
// Build (from the repository root; go tool task builtins:build builds all):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugins-src/request-size-limiting/request-size-limiting.wasm ./plugins-src/request-size-limiting
package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/weirproxy/weir/plugins-src/internal/kong"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

const name = "request-size-limiting"

// Kong's messages.
const (
	msgTooLarge      = "Request size limit exceeded"
	msgLengthMissing = "A valid Content-Length header is required"
)

// config is Kong's request-size-limiting schema.
type config struct {
	AllowedPayloadSize   *float64 `json:"allowed_payload_size"`
	SizeUnit             *string  `json:"size_unit"`
	RequireContentLength bool     `json:"require_content_length"`
}

type rules struct {
	limit         int64 // bytes
	requireLength bool
}

var units = map[string]int64{"megabytes": 1 << 20, "kilobytes": 1 << 10, "bytes": 1}

func compile(c config) (*rules, error) {
	size, unit := 128.0, "megabytes"
	if c.AllowedPayloadSize != nil {
		size = *c.AllowedPayloadSize
		if size != float64(int64(size)) || size < 0 {
			return nil, fmt.Errorf("config.allowed_payload_size: must be a non-negative integer")
		}
	}
	if c.SizeUnit != nil {
		unit = *c.SizeUnit
	}
	mult, ok := units[unit]
	if !ok {
		return nil, fmt.Errorf("config.size_unit: expected one of: megabytes, kilobytes, bytes")
	}
	if size > float64(int64(1)<<62/mult) {
		return nil, fmt.Errorf("config.allowed_payload_size: too large")
	}
	return &rules{limit: int64(size) * mult, requireLength: c.RequireContentLength}, nil
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
	rules    *rules
	counting bool // no Content-Length: count the body as it streams
	expect   bool
	seen     int64
	done     bool
}

// tooLarge answers 413, or 417 when the client waits for 100-continue.
func (s *stream) tooLarge() proxywasm.Action {
	s.done = true
	if s.expect {
		return kong.Error(417, msgTooLarge)
	}
	return kong.Error(413, msgTooLarge)
}

func (s *stream) OnHttpRequestHeaders(_ int, endOfStream bool) proxywasm.Action {
	exp, _ := proxywasm.GetHttpRequestHeader("expect")
	s.expect = strings.EqualFold(strings.TrimSpace(exp), "100-continue")
	cl, err := proxywasm.GetHttpRequestHeader("content-length")
	n, perr := strconv.ParseInt(strings.TrimSpace(cl), 10, 64)
	valid := err == nil && perr == nil && n >= 0
	if !valid {
		if s.rules.requireLength {
			s.done = true
			return kong.Error(411, msgLengthMissing)
		}
		s.counting = !endOfStream
		return proxywasm.ActionContinue
	}
	if n > s.rules.limit {
		return s.tooLarge()
	}
	return proxywasm.ActionContinue
}

func (s *stream) OnHttpRequestBody(bodySize int, endOfStream bool) proxywasm.Action {
	if !s.counting || s.done {
		return proxywasm.ActionContinue
	}
	// Kong reads the whole body before checking it; the body is held
	// until its end (or until it is over the limit) so none of an
	// oversized body reaches the upstream.
	s.seen = int64(bodySize)
	if s.seen > s.rules.limit {
		return s.tooLarge()
	}
	if !endOfStream {
		return proxywasm.ActionPause
	}
	return proxywasm.ActionContinue
}
