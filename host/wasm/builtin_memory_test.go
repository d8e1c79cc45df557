package wasm

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/weirproxy/weir/abi"
	builtins "github.com/weirproxy/weir/plugins-src"
)

// BenchmarkBuiltinInstanceMemory measures what each built-in plugin costs
// per wasm instance once started and after serving a request: the guest's
// linear memory (what a pool of GOMAXPROCS instances multiplies). It fails
// if the memory exceeds the default cap and reports the numbers:
//
//	go test -run '^$' -bench BuiltinInstanceMemory -benchtime 1x ./host/wasm
//
// (A benchmark, not a test: it compiles all fourteen modules, minutes under
// the race detector; the conformance suite already starts every built-in.)
func BenchmarkBuiltinInstanceMemory(b *testing.B) {
	t := b
	e, err := NewEngine(EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	configs := map[string]string{
		"acl":            `{"allow":["g"]}`,
		"rate-limiting":  `{"minute":10}`,
		"ip-restriction": `{"allow":["127.0.0.1"]}`,
		"proxy-cache":    `{"strategy":"memory"}`,
	}
	for _, name := range builtins.Names() {
		t.Run(name, func(t *testing.B) {
			bp, _ := builtins.Lookup(name)
			raw, err := bp.Module()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			m, err := e.Compile(ctx, name, raw)
			if err != nil {
				t.Fatal(err)
			}
			cfg := []byte(configs[name])
			if len(cfg) == 0 {
				cfg = nil
			}
			p, err := e.NewPlugin(ctx, m, PluginOptions{Name: name, Config: cfg, PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			start := p.pool[0].mod.Memory().Size()
			h := &memHost{hdr: http.Header{"Apikey": {"k"}}}
			s, err := p.NewHTTPStream(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.OnRequestHeaders(1, true); err != nil {
				t.Fatal(err)
			}
			s.Done()
			after := p.pool[0].mod.Memory().Size()
			if after > abi.DefaultMemoryBytes {
				t.Fatalf("instance memory %d bytes over the default cap %d", after, abi.DefaultMemoryBytes)
			}
			t.ReportMetric(float64(after), "guest-mem-bytes")
			t.Logf("%s: module %d bytes; instance memory %.1f MiB after start, %.1f MiB after a request; pool of %d: %.1f MiB",
				name, len(raw), float64(start)/(1<<20), float64(after)/(1<<20), runtime.GOMAXPROCS(0),
				float64(after)*float64(runtime.GOMAXPROCS(0))/(1<<20))
		})
	}
}

// memHost is a minimal StreamHost for the measurement.
type memHost struct {
	hdr http.Header
}

func (h *memHost) HeaderPairs(abi.MapType) ([][2]string, abi.Status) {
	var out [][2]string
	for k, vs := range h.hdr {
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	return out, abi.StatusOK
}
func (h *memHost) HeaderValue(_ abi.MapType, k string) (string, abi.Status) {
	if v := h.hdr.Get(k); v != "" {
		return v, abi.StatusOK
	}
	return "", abi.StatusNotFound
}
func (h *memHost) AddHeader(abi.MapType, string, string) abi.Status     { return abi.StatusOK }
func (h *memHost) ReplaceHeader(abi.MapType, string, string) abi.Status { return abi.StatusOK }
func (h *memHost) RemoveHeader(abi.MapType, string) abi.Status          { return abi.StatusOK }
func (h *memHost) SetHeaderPairs(abi.MapType, [][2]string) abi.Status   { return abi.StatusOK }
func (h *memHost) BufferBytes(abi.BufferType, int, int) ([]byte, abi.Status) {
	return nil, abi.StatusNotFound
}
func (h *memHost) BufferLen(abi.BufferType) (int, abi.Status) { return 0, abi.StatusNotFound }
func (h *memHost) ReplaceBufferBytes(abi.BufferType, int, int, []byte) abi.Status {
	return abi.StatusNotFound
}
func (h *memHost) Property([]string) ([]byte, abi.Status)                    { return nil, abi.StatusNotFound }
func (h *memHost) SetProperty([]string, []byte) abi.Status                   { return abi.StatusOK }
func (h *memHost) SendLocalResponse(int, string, []byte, [][2]string, int32) {}
func (h *memHost) ContinueStream(abi.StreamType)                             {}
func (h *memHost) CloseStream(abi.StreamType)                                {}

// ffiHost adds the weir.* foreign functions to memHost (a counter that
// always answers 1, a consumer lookup that finds one consumer).
type ffiHost struct{ memHost }

func (h *ffiHost) CallForeignFunction(name string, args []byte) ([]byte, abi.Status) {
	switch name {
	case abi.FFICounterIncr, abi.FFICounterGet:
		return abi.EncodeInt64(nil, 1), abi.StatusOK
	case abi.FFIConsumerLookup:
		return abi.ConsumerInfo{ID: "c1", Username: "alice", CredentialID: "k1"}.Encode(nil), abi.StatusOK
	case abi.FFISetConsumer:
		return nil, abi.StatusOK
	}
	return nil, abi.StatusNotFound
}

// BenchmarkBuiltinStream runs one request's callbacks (request headers,
// response headers, log, done) through a built-in plugin on a fake host:
// the guest and ABI cost without networking.
//
//	go test -run '^$' -bench BuiltinStream ./host/wasm
func BenchmarkBuiltinStream(b *testing.B) {
	e, err := NewEngine(EngineOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	for _, tc := range []struct{ name, cfg string }{
		{"key-auth", ``},
		{"rate-limiting", `{"second":1000000,"hour":1000000000}`},
		{"acl", `{"allow":["g"]}`},
		{"../../sdk/go/examples/headers/headers.wasm", `{"value":"x"}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var raw []byte
			if bp, ok := builtins.Lookup(tc.name); ok {
				raw, _ = bp.Module()
			} else {
				raw, _ = os.ReadFile(tc.name)
			}
			ctx := context.Background()
			m, err := e.Compile(ctx, tc.name, raw)
			if err != nil {
				b.Fatal(err)
			}
			var cfg []byte
			if tc.cfg != "" {
				cfg = []byte(tc.cfg)
			}
			p, err := e.NewPlugin(ctx, m, PluginOptions{Name: tc.name, Config: cfg, PoolSize: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			h := &ffiHost{memHost{hdr: http.Header{"Apikey": {"k"}}}}
			var s HTTPStream
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.InitHTTPStream(&s, h); err != nil {
					b.Fatal(err)
				}
				s.OnRequestHeaders(1, true)
				s.OnResponseHeaders(1, true)
				s.OnLog()
				s.Done()
			}
		})
	}
}
