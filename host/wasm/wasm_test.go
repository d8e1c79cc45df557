package wasm

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
)

// Test modules; rebuild with the commands at the top of each .wat:
//
//	wat2wasm --debug-names testdata/plugin.wat -o testdata/plugin.wasm
//	wat2wasm --debug-names testdata/nomarker.wat -o testdata/nomarker.wasm
//	wat2wasm --debug-names testdata/startloop.wat -o testdata/startloop.wasm
var (
	//go:embed testdata/plugin.wasm
	pluginWasm []byte
	//go:embed testdata/nomarker.wasm
	noMarkerWasm []byte
	//go:embed testdata/startloop.wasm
	startTrapWasm []byte
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestEngine(t testing.TB) (*Engine, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	e, err := NewEngine(EngineOptions{Logger: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e, lb
}

func newTestPlugin(t testing.TB, e *Engine, opts PluginOptions) *Plugin {
	t.Helper()
	ctx := context.Background()
	m, err := e.Compile(ctx, "plugin.wasm", pluginWasm)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name == "" {
		opts.Name = "test-plugin"
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 1
	}
	p, err := e.NewPlugin(ctx, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func TestCompile(t *testing.T) {
	e, _ := newTestEngine(t)
	tests := []struct {
		name    string
		wasm    []byte
		wantErr error
		wantABI abi.Version
	}{
		{name: "valid 0.2.1", wasm: pluginWasm, wantABI: abi.V0_2_1},
		{name: "valid 0.2.0", wasm: startTrapWasm, wantABI: abi.V0_2_0},
		{name: "not wasm", wasm: []byte("hello world"), wantErr: ErrNotWasm},
		{name: "empty", wasm: nil, wantErr: ErrNotWasm},
		{name: "no marker", wasm: noMarkerWasm, wantErr: abi.ErrNoABIVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := e.Compile(context.Background(), "mod-"+tc.name, tc.wasm)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !bytes.Contains([]byte(err.Error()), []byte("mod-"+tc.name)) {
					t.Errorf("error %q does not name the module", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ABI != tc.wantABI {
				t.Errorf("ABI = %v, want %v", m.ABI, tc.wantABI)
			}
		})
	}
}

func TestCompileCachedByDigest(t *testing.T) {
	e, _ := newTestEngine(t)
	a, err := e.Compile(context.Background(), "a", pluginWasm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Compile(context.Background(), "b", bytes.Clone(pluginWasm))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("same bytes compiled twice")
	}
	if len(a.DigestHex()) != 64 || !a.Exported(abi.ExportOnRequestHeaders) {
		t.Errorf("digest %q / exports %v", a.DigestHex(), a.Exports)
	}
	var sawWeird bool
	for _, imp := range a.Imports {
		sawWeird = sawWeird || imp.Name == "weird_host_fn"
	}
	if !sawWeird {
		t.Error("imports not recorded")
	}
}

func TestNewPluginStartFailures(t *testing.T) {
	e, _ := newTestEngine(t)
	ctx := context.Background()
	pm, err := e.Compile(ctx, "plugin", pluginWasm)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := e.Compile(ctx, "trap", startTrapWasm)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		m       *Module
		config  string
		wantErr string
		wantIs  error
	}{
		{name: "rejected config", m: pm, config: "reject", wantErr: `plugin "p" rejected its configuration (proxy_on_configure returned false)`},
		{name: "trap in vm start", m: tm, wantErr: "proxy_on_vm_start", wantIs: ErrPluginFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.NewPlugin(ctx, tc.m, PluginOptions{Name: "p", Config: []byte(tc.config), PoolSize: 2})
			if err == nil {
				_ = p.Close(ctx)
				t.Fatal("NewPlugin succeeded")
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
}

func TestPluginStartLogs(t *testing.T) {
	e, lb := newTestEngine(t)
	newTestPlugin(t, e, PluginOptions{Name: "logger", Config: []byte("ok")})
	out := lb.String()
	for _, want := range []string{"msg=started", "plugin=logger", "msg=hello", "source=stdout"} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("log missing %q:\n%s", want, out)
		}
	}
}

// runRequest runs a request/response cycle with x-mode set (when not
// empty) and returns the request-headers action.
func runRequest(t *testing.T, p *Plugin, mode string) (abi.Action, *fakeHost, error) {
	t.Helper()
	h := newFakeHost()
	if mode != "" {
		h.maps[0] = append(h.maps[0], [2]string{"x-mode", mode})
	}
	s, err := p.NewHTTPStream(h)
	if err != nil {
		return 0, h, err
	}
	defer s.Done()
	act, err := s.OnRequestHeaders(len(h.maps[0]), false)
	return act, h, err
}

func TestStreamLifecycle(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})
	h := newFakeHost()
	s, err := p.NewHTTPStream(h)
	if err != nil {
		t.Fatal(err)
	}
	act, err := s.OnRequestHeaders(4, false)
	if err != nil || act != abi.ActionContinue {
		t.Fatalf("request headers = %v, %v", act, err)
	}
	if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-wasm"); v != "1" {
		t.Errorf("x-wasm = %q, want 1", v)
	}
	if _, err := s.OnResponseHeaders(1, false); err != nil {
		t.Fatal(err)
	}
	if v, _ := h.get(abi.MapHTTPResponseHeaders, "x-resp"); v != "1" {
		t.Errorf("x-resp = %q, want 1", v)
	}
	if act, err := s.OnRequestBody(10, true); err != nil || act != abi.ActionContinue {
		t.Errorf("unexported body callback = %v, %v; want Continue", act, err)
	}
	if err := s.OnLog(); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OnRequestHeaders(1, false); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Done: %v, want ErrClosed", err)
	}
}

func TestStreamModes(t *testing.T) {
	e, lb := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{Name: "modes", VMID: "modes-vm"})
	tests := []struct {
		name       string
		mode       string
		wantAction abi.Action
		check      func(t *testing.T, h *fakeHost)
	}{
		{name: "bad pointers", mode: "b", wantAction: abi.Action(abi.StatusInvalidMemoryAccess)},
		{name: "huge pairs", mode: "h", wantAction: abi.Action(abi.StatusBadArgument)},
		{name: "shared data CAS", mode: "s", wantAction: 0},
		{name: "foreign functions", mode: "f", wantAction: 0},
		{name: "unknown import stub", mode: "w", wantAction: abi.Action(abi.StatusUnimplemented)},
		{name: "log level", mode: "v", wantAction: abi.Action(abi.LogDebug)},
		{name: "local response", mode: "p", wantAction: abi.ActionPause, check: func(t *testing.T, h *fakeHost) {
			if len(h.local) != 1 || h.local[0].status != 403 || h.local[0].details != "denied" ||
				string(h.local[0].body) != "no" || h.local[0].grpcStatus != -1 {
				t.Errorf("local responses = %+v", h.local)
			}
			if len(h.continued) != 1 || h.continued[0] != abi.StreamHTTPRequest {
				t.Errorf("continued = %v", h.continued)
			}
		}},
		{name: "plugin_name property", mode: "r", wantAction: 0, check: func(t *testing.T, h *fakeHost) {
			if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-plugin-name"); v != "modes" {
				t.Errorf("x-plugin-name = %q", v)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			act, h, err := runRequest(t, p, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if act != tc.wantAction {
				t.Errorf("action = %d, want %d", act, tc.wantAction)
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
	if !bytes.Contains([]byte(lb.String()), []byte("weird_host_fn")) {
		t.Error("unknown import call not logged")
	}
	if p.Traps.Load() != 0 {
		t.Errorf("traps = %d, want 0", p.Traps.Load())
	}
}

// waitFor polls cond for up to 10s (background work with no other signal).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func metricValue(p *Plugin, name string) int64 {
	for _, m := range p.Metrics() {
		if m.Name == name {
			return m.Value
		}
	}
	return -1
}

func TestTicksAndQueues(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{VMID: "tq"})
	if _, _, err := runRequest(t, p, "q"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "queue_ready", func() bool { return metricValue(p, "queue_ready") == 1 })
	if _, _, err := runRequest(t, p, "t"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 ticks", func() bool { return metricValue(p, "ticks") >= 3 })
}

// fakeCallouts answers every callout with body "pong" on a goroutine.
type fakeCallouts struct {
	mu   sync.Mutex
	reqs []CalloutRequest
}

func (f *fakeCallouts) Dispatch(req CalloutRequest, done func(CalloutResponse)) abi.Status {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	go done(CalloutResponse{Headers: [][2]string{{":status", "200"}}, Body: []byte("pong")})
	return abi.StatusOK
}

func TestHTTPCallout(t *testing.T) {
	e, _ := newTestEngine(t)
	fc := &fakeCallouts{}
	p := newTestPlugin(t, e, PluginOptions{Callouts: fc})
	h := newFakeHost()
	h.maps[0] = append(h.maps[0], [2]string{"x-mode", "c"})
	s, err := p.NewHTTPStream(h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Done()
	act, err := s.OnRequestHeaders(5, false)
	if err != nil || act != abi.ActionPause {
		t.Fatalf("action = %v, %v; want Pause", act, err)
	}
	waitFor(t, "continue after callout", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.continued) == 1
	})
	if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-callout"); v != "pong" {
		t.Errorf("x-callout = %q, want pong", v)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.reqs) != 1 || fc.reqs[0].Upstream != "up" || fc.reqs[0].Timeout != time.Second {
		t.Errorf("requests = %+v", fc.reqs)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name        string
		mode        string
		checked     bool // wazero's termination checks instead of the instrumentation
		wantTimeout bool
		wantInErr   string
	}{
		{name: "infinite loop", mode: "l", wantTimeout: true, wantInErr: "proxy_on_request_headers"},
		{name: "unreachable", mode: "u", wantInErr: "unreachable"},
		{name: "infinite loop, wazero checks", mode: "l", checked: true, wantTimeout: true, wantInErr: "proxy_on_request_headers"},
		{name: "unreachable, wazero checks", mode: "u", checked: true, wantInErr: "unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestEngine(t)
			e.noInstrument = tc.checked
			p := newTestPlugin(t, e, PluginOptions{CallTimeout: 100 * time.Millisecond, RestartBackoff: time.Millisecond})
			restarted := make(chan struct{}, 1)
			p.mu.Lock()
			p.onRestart = func() { restarted <- struct{}{} }
			p.mu.Unlock()
			_, _, err := runRequest(t, p, tc.mode)
			if !errors.Is(err, ErrPluginFailed) {
				t.Fatalf("err = %v, want ErrPluginFailed", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.wantInErr)) {
				t.Errorf("err %q does not mention %q", err, tc.wantInErr)
			}
			select {
			case <-restarted:
			case <-time.After(10 * time.Second):
				t.Fatal("no replacement instance")
			}
			if p.Traps.Load() != 1 || p.Restarts.Load() != 1 {
				t.Errorf("traps=%d restarts=%d, want 1/1", p.Traps.Load(), p.Restarts.Load())
			}
			if got := p.Timeouts.Load() == 1; got != tc.wantTimeout {
				t.Errorf("timeouts = %d", p.Timeouts.Load())
			}
			act, h, err := runRequest(t, p, "")
			if err != nil || act != abi.ActionContinue {
				t.Fatalf("fresh instance: %v, %v", act, err)
			}
			if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-wasm"); v != "1" {
				t.Errorf("fresh instance did not run the plugin")
			}
		})
	}
}

func TestPinnedStreamFailsWithInstance(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{PoolSize: 2, RestartBackoff: time.Millisecond})
	h1 := newFakeHost()
	s1, err := p.NewHTTPStream(h1)
	if err != nil {
		t.Fatal(err)
	}
	h2 := newFakeHost()
	h2.maps[0] = append(h2.maps[0], [2]string{"x-mode", "u"})
	s2, err := p.NewHTTPStream(h2) // least streams: the other instance
	if err != nil {
		t.Fatal(err)
	}
	if s1.in == s2.in {
		t.Fatal("streams share an instance")
	}
	x, err := p.NewHTTPStream(newFakeHost()) // ties go to the first instance
	if err != nil {
		t.Fatal(err)
	}
	defer x.Done()
	s3, err := p.NewHTTPStream(newFakeHost()) // least streams: s2's instance
	if err != nil {
		t.Fatal(err)
	}
	if s3.in != s2.in {
		t.Fatal("s3 not pinned with s2")
	}
	if _, err := s2.OnRequestHeaders(5, false); !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("trap: %v", err)
	}
	if _, err := s3.OnRequestHeaders(4, false); !errors.Is(err, ErrPluginFailed) {
		t.Errorf("stream on broken instance: %v, want ErrPluginFailed", err)
	}
	if act, err := s1.OnRequestHeaders(4, false); err != nil || act != abi.ActionContinue {
		t.Errorf("stream on healthy instance: %v, %v", act, err)
	}
	for _, s := range []*HTTPStream{s1, s2, s3} {
		_ = s.Done()
	}
}

func TestMemoryGrowBomb(t *testing.T) {
	e, _ := newTestEngine(t)
	const limit = 32
	p := newTestPlugin(t, e, PluginOptions{MemoryLimitPages: limit})
	act, _, err := runRequest(t, p, "g")
	if err != nil {
		t.Fatal(err)
	}
	if act == 0 || uint32(act) > limit {
		t.Errorf("pages after bomb = %d, want 1..%d", act, limit)
	}
	if act, _, err := runRequest(t, p, ""); err != nil || act != abi.ActionContinue {
		t.Errorf("instance unusable after bomb: %v, %v", act, err)
	}
}

func TestHammer(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{PoolSize: 4})
	const goroutines, perG = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				h := newFakeHost()
				s, err := p.NewHTTPStream(h)
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.OnRequestHeaders(4, false); err != nil {
					errs <- err
					return
				}
				if _, err := s.OnResponseHeaders(1, true); err != nil {
					errs <- err
					return
				}
				if err := s.Done(); err != nil {
					errs <- err
					return
				}
				if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-wasm"); v != "1" {
					errs <- errors.New("x-wasm missing")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, in := range p.pool {
		if n := in.active.Load(); n != 0 {
			t.Errorf("instance has %d active streams after hammer", n)
		}
	}
}

func BenchmarkStreamLifecycle(b *testing.B) {
	e, _ := newTestEngine(b)
	p := newTestPlugin(b, e, PluginOptions{PoolSize: 1})
	h := newFakeHost()
	base := h.maps[0]
	b.ReportAllocs()
	for b.Loop() {
		h.maps[0] = base[:4:4]
		h.maps[2] = h.maps[2][:1]
		s, err := p.NewHTTPStream(h)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.OnRequestHeaders(4, false); err != nil {
			b.Fatal(err)
		}
		if _, err := s.OnResponseHeaders(1, false); err != nil {
			b.Fatal(err)
		}
		if err := s.Done(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInstantiate(b *testing.B) {
	e, _ := newTestEngine(b)
	p := newTestPlugin(b, e, PluginOptions{PoolSize: 1})
	b.ReportAllocs()
	for b.Loop() {
		in, err := p.newInstance(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		in.mu.Lock()
		b.ReportMetric(float64(in.mod.Memory().Size()), "guest-mem-bytes")
		in.discard()
		in.mu.Unlock()
	}
}

func TestEngineCacheDirAndClose(t *testing.T) {
	dir := t.TempDir()
	e, err := NewEngine(EngineOptions{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(context.Background(), "p", pluginWasm); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Compile(context.Background(), "p", pluginWasm); !errors.Is(err, ErrClosed) {
		t.Errorf("Compile after Close: %v, want ErrClosed", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Errorf("cache dir empty (%v)", err)
	}
}
