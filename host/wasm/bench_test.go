package wasm

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// Rebuild: wat2wasm --debug-names testdata/addheader.wat -o testdata/addheader.wasm
//
//go:embed testdata/addheader.wasm
var addHeaderWasm []byte

// benchHost is a StreamHost that allocates nothing in steady state: its
// maps keep their capacity across requests.
type benchHost struct {
	maps [4][][2]string
}

func (h *benchHost) reset() {
	h.maps[0] = append(h.maps[0][:0], [2]string{":method", "GET"}, [2]string{":path", "/"},
		[2]string{":authority", "example.com"}, [2]string{":scheme", "http"})
	h.maps[2] = append(h.maps[2][:0], [2]string{":status", "200"})
}

func (h *benchHost) HeaderPairs(m abi.MapType) ([][2]string, abi.Status) {
	return h.maps[m], abi.StatusOK
}

func (h *benchHost) HeaderValue(m abi.MapType, key string) (string, abi.Status) {
	for _, p := range h.maps[m] {
		if p[0] == key {
			return p[1], abi.StatusOK
		}
	}
	return "", abi.StatusNotFound
}

func (h *benchHost) AddHeader(m abi.MapType, key, value string) abi.Status {
	h.maps[m] = append(h.maps[m], [2]string{key, value})
	return abi.StatusOK
}

func (h *benchHost) ReplaceHeader(m abi.MapType, key, value string) abi.Status {
	for i, p := range h.maps[m] {
		if p[0] == key {
			h.maps[m][i][1] = value
			return abi.StatusOK
		}
	}
	return h.AddHeader(m, key, value)
}

func (h *benchHost) RemoveHeader(m abi.MapType, key string) abi.Status { return abi.StatusOK }
func (h *benchHost) SetHeaderPairs(m abi.MapType, pairs [][2]string) abi.Status {
	h.maps[m] = append(h.maps[m][:0], pairs...)
	return abi.StatusOK
}
func (h *benchHost) BufferBytes(abi.BufferType, int, int) ([]byte, abi.Status) {
	return nil, abi.StatusNotFound
}
func (h *benchHost) BufferLen(abi.BufferType) (int, abi.Status) { return 0, abi.StatusNotFound }
func (h *benchHost) ReplaceBufferBytes(abi.BufferType, int, int, []byte) abi.Status {
	return abi.StatusNotFound
}
func (h *benchHost) Property([]string) ([]byte, abi.Status)                    { return nil, abi.StatusNotFound }
func (h *benchHost) SetProperty([]string, []byte) abi.Status                   { return abi.StatusNotFound }
func (h *benchHost) SendLocalResponse(int, string, []byte, [][2]string, int32) {}
func (h *benchHost) ContinueStream(abi.StreamType)                             {}
func (h *benchHost) CloseStream(abi.StreamType)                                {}

// BenchmarkStreamAddHeader is the per-request cost of one header-adding
// plugin: a stream in reused storage (InitHTTPStream), request headers
// (the plugin adds one header), response headers, OnLog and Done. The
// sub-benchmarks run the minimal WAT plugin (instrumented, and under
// wazero's own termination checks for comparison) and, when present, the
// repository's SDK example plugins (sdk/*/examples/headers).
func BenchmarkStreamAddHeader(b *testing.B) {
	cases := []struct {
		name      string
		wasm      func() ([]byte, error)
		checked   bool
		wantAdded string
	}{
		{name: "wat", wasm: func() ([]byte, error) { return addHeaderWasm, nil }, wantAdded: "x-weir"},
		{name: "wat-wazero-checks", wasm: func() ([]byte, error) { return addHeaderWasm, nil }, checked: true, wantAdded: "x-weir"},
		{name: "go-sdk", wasm: func() ([]byte, error) { return os.ReadFile("../../../sdk/go/examples/headers/headers.wasm") }, wantAdded: "x-weir-example"},
		{name: "assemblyscript-sdk", wasm: func() ([]byte, error) {
			return os.ReadFile("../../../sdk/assemblyscript/examples/headers/headers.wasm")
		}, wantAdded: "x-weir-example"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			wasm, err := tc.wasm()
			if err != nil {
				b.Skipf("module not available: %v", err)
			}
			// Guest debug logs are off, as in production.
			e, err := NewEngine(EngineOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = e.Close(context.Background()) })
			e.noInstrument = tc.checked
			ctx := context.Background()
			m, err := e.Compile(ctx, tc.name, wasm)
			if err != nil {
				b.Fatal(err)
			}
			p, err := e.NewPlugin(ctx, m, PluginOptions{Name: tc.name, PoolSize: 1, Config: []byte(`{"value":"v"}`)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = p.Close(ctx) })
			h := &benchHost{}
			var s HTTPStream
			run := func() {
				h.reset()
				if err := p.InitHTTPStream(&s, h); err != nil {
					b.Fatal(err)
				}
				if act, err := s.OnRequestHeaders(4, false); err != nil || act != abi.ActionContinue {
					b.Fatalf("request headers: %v, %v", act, err)
				}
				if _, err := s.OnResponseHeaders(1, false); err != nil {
					b.Fatal(err)
				}
				if err := s.OnLog(); err != nil {
					b.Fatal(err)
				}
				if err := s.Done(); err != nil {
					b.Fatal(err)
				}
			}
			run()
			if v, _ := h.HeaderValue(abi.MapHTTPRequestHeaders, tc.wantAdded); v == "" {
				b.Fatalf("plugin did not add %s: %v", tc.wantAdded, h.maps[0])
			}
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}

// TestStreamAddHeaderAllocs holds the per-request path of a header-adding
// plugin to zero allocations (the issue target; see
// BenchmarkStreamAddHeader for the time).
func TestStreamAddHeaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e, _ := newTestEngine(t)
	ctx := context.Background()
	m, err := e.Compile(ctx, "addheader", addHeaderWasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.NewPlugin(ctx, m, PluginOptions{Name: "addheader", PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	h := &benchHost{}
	var s HTTPStream
	var failed error
	run := func() {
		h.reset()
		if err := p.InitHTTPStream(&s, h); err != nil {
			failed = err
			return
		}
		if _, err := s.OnRequestHeaders(4, false); err != nil {
			failed = err
		}
		if _, err := s.OnResponseHeaders(1, false); err != nil {
			failed = err
		}
		if err := s.OnLog(); err != nil {
			failed = err
		}
		if err := s.Done(); err != nil {
			failed = err
		}
	}
	allocs := testing.AllocsPerRun(200, run)
	if failed != nil {
		t.Fatal(failed)
	}
	if v, _ := h.HeaderValue(abi.MapHTTPRequestHeaders, "x-weir"); v != "1" {
		t.Fatalf("x-weir = %q", v)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}
