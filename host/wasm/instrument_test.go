package wasm

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/abi"
)

// Rebuild with wat2wasm --debug-names testdata/<name>.wat -o testdata/<name>.wasm.
var (
	//go:embed testdata/opcodes.wasm
	opcodesWasm []byte
	//go:embed testdata/runaway.wasm
	runawayWasm []byte
	//go:embed testdata/startspin.wasm
	startSpinWasm []byte
)

// Hand-assembled modules: sec builds a section, modBytes a module.
func sec(id byte, body ...byte) []byte {
	return append(appendU32([]byte{id}, uint32(len(body))), body...)
}

func modBytes(sections ...[]byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(sections, nil)...)
}

func vec(items ...[]byte) []byte {
	return append(appendU32(nil, uint32(len(items))), bytes.Join(items, nil)...)
}

func exportEntry(name string, kind byte, idx uint32) []byte {
	return appendU32(append(appendName(nil, name), kind), idx)
}

// funcBody wraps code (ending in 0x0b) with its size and no locals.
func funcBody(code ...byte) []byte {
	b := append([]byte{0x00}, code...)
	return append(appendU32(nil, uint32(len(b))), b...)
}

var (
	typeVoid    = sec(secType, vec([]byte{0x60, 0x00, 0x00})...)                                       // type 0: [] -> []
	typeVoidI32 = sec(secType, vec([]byte{0x60, 0x00, 0x00}, []byte{0x60, 0x01, 0x7f, 0x01, 0x7f})...) // 0: []->[], 1: [i32]->[i32]
	loopForever = funcBody(0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b)                                         // loop br 0 end end
	memOnePage  = sec(secMemory, vec([]byte{0x00, 0x01})...)
)

func newTestRuntime(t *testing.T) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	t.Cleanup(func() { _ = rt.Close(ctx) })
	return rt
}

// TestInstrumentStopsLoop: a module without globals or exports gets both
// sections, and raising the stop flag ends a running infinite loop.
func TestInstrumentStopsLoop(t *testing.T) {
	orig := modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage,
		sec(secExport, vec(exportEntry("spin", 0, 0))...),
		sec(secCode, vec(loopForever)...))
	ins, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	rt := newTestRuntime(t)
	mod, err := rt.Instantiate(context.Background(), ins.wasm)
	if err != nil {
		t.Fatal(err)
	}
	stop, ok := mod.ExportedGlobal(stopGlobalExport).(api.MutableGlobal)
	if !ok || stop.Get() != 0 {
		t.Fatalf("stop global: %v", mod.ExportedGlobal(stopGlobalExport))
	}
	done := make(chan error, 1)
	go func() { _, err := mod.ExportedFunction("spin").Call(context.Background()); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("loop returned before the stop: %v", err)
	case <-time.After(20 * time.Millisecond): // the loop is running
	}
	stop.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("err = %v, want the unreachable trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stop flag did not end the loop")
	}
}

// TestInstrumentOpcodes: every instruction shape is skipped exactly (the
// checks land at the 4 function entries and the 3 loops, and the results
// do not change).
func TestInstrumentOpcodes(t *testing.T) {
	ins, err := instrument(opcodesWasm)
	if err != nil {
		t.Fatal(err)
	}
	check := checkCode(1, 2, false) // the globals after $g
	if n := bytes.Count(ins.wasm, check); n != 7 {
		t.Errorf("%d checks inserted, want 7 (4 functions, 3 loops)", n)
	}
	rt := newTestRuntime(t)
	ctx := context.Background()
	orig, err := rt.InstantiateWithConfig(ctx, opcodesWasm, wazero.NewModuleConfig().WithName("orig"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.InstantiateWithConfig(ctx, ins.wasm, wazero.NewModuleConfig().WithName("inst"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range uint64(6) {
		want, err := orig.ExportedFunction("run").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := inst.ExportedFunction("run").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != want[0] {
			t.Errorf("run(%d) = %d instrumented, %d originally", n, got[0], want[0])
		}
	}
}

// TestInstrumentStartAndIndices: the start section becomes an export the
// host calls; existing globals, exports and custom sections other than
// DWARF are kept.
func TestInstrumentStartAndIndices(t *testing.T) {
	// Globals: 0 = 5 (exported "g"), 1 = 0 (set by the start function).
	globals := sec(secGlobal, vec(
		[]byte{0x7f, 0x01, 0x41, 0x05, 0x0b},
		[]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})...)
	orig := modBytes(typeVoid,
		sec(secFunction, vec([]byte{0})...),
		memOnePage,
		globals,
		sec(secExport, vec(exportEntry("g", 3, 0), exportEntry("started", 3, 1))...),
		sec(secStart, 0x00),
		sec(secCode, vec(funcBody(0x41, 0x01, 0x24, 0x01, 0x0b))...), // global.set 1 (i32.const 1)
		sec(secCustom, append(appendName(nil, ".debug_info"), 1, 2, 3)...),
		sec(secCustom, append(appendName(nil, "producers"), 0)...))
	ins, err := instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	if !ins.hasStart {
		t.Error("hasStart = false")
	}
	if bytes.Contains(ins.wasm, []byte(".debug_info")) || !bytes.Contains(ins.wasm, []byte("producers")) {
		t.Error("custom sections: want .debug_info dropped and producers kept")
	}
	rt := newTestRuntime(t)
	ctx := context.Background()
	mod, err := rt.Instantiate(ctx, ins.wasm)
	if err != nil {
		t.Fatal(err)
	}
	if got := mod.ExportedGlobal("started").Get(); got != 0 {
		t.Fatalf("start function ran during instantiation (started = %d)", got)
	}
	if _, err := mod.ExportedFunction(startFuncExport).Call(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mod.ExportedGlobal("started").Get(); got != 1 {
		t.Errorf("started = %d after %s, want 1", got, startFuncExport)
	}
	if got := mod.ExportedGlobal("g").Get(); got != 5 {
		t.Errorf("g = %d, want 5 (global indices moved)", got)
	}
	if mod.ExportedGlobal(stopGlobalExport) == nil {
		t.Error("no stop global")
	}
}

func TestInstrumentErrors(t *testing.T) {
	valid := modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage, sec(secCode, vec(loopForever)...))
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{name: "not wasm", wasm: []byte("hello world"), want: "not a version 1"},
		{name: "version 2", wasm: append([]byte("\x00asm\x02\x00\x00\x00"), valid[8:]...), want: "not a version 1"},
		{name: "truncated section", wasm: valid[:len(valid)-2], want: "unexpected end"},
		{name: "no memory", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...),
			sec(secCode, vec(loopForever)...)), want: "no memory"},
		{name: "unknown opcode", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage,
			sec(secCode, vec(funcBody(0xfb, 0x00, 0x0b))...)), want: "opcode 0xfb"},
		{name: "unknown misc opcode", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage,
			sec(secCode, vec(funcBody(0xfc, 0x7f, 0x0b))...)), want: "opcode 0xfc 127"},
		{name: "export clash", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...),
			sec(secExport, vec(exportEntry(stopGlobalExport, 0, 0))...), sec(secCode, vec(loopForever)...)), want: "already exports"},
		{name: "start type out of range", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{48})...), memOnePage,
			sec(secStart, 0x00), sec(secCode, vec(loopForever)...)), want: "type index 48 out of range"},
		{name: "start type not nullary", wasm: modBytes(typeVoidI32, sec(secFunction, vec([]byte{1})...), memOnePage,
			sec(secStart, 0x00), sec(secCode, vec(loopForever)...)), want: "must take and return none"},
		{name: "start function missing", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage,
			sec(secStart, 0x01), sec(secCode, vec(loopForever)...)), want: "start function 1 out of range"},
		{name: "repeated section", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), sec(secFunction, vec([]byte{0})...),
			memOnePage, sec(secCode, vec(loopForever)...)), want: "repeated or out of order"},
		{name: "overlong LEB", wasm: modBytes(typeVoid, sec(secFunction, vec([]byte{0})...), memOnePage,
			sec(secCode, vec(funcBody(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b))...)), want: "LEB128 too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := instrument(tc.wasm)
			if !errors.Is(err, errInstrument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want errInstrument containing %q", err, tc.want)
			}
		})
	}
}

// TestCompileFallsBackToWazeroChecks: a module the instrumentation
// rejects still compiles and runs, under wazero's termination checks.
func TestCompileFallsBackToWazeroChecks(t *testing.T) {
	// A proxy-wasm module that exports a function named like the stop flag.
	wasm := modBytes(typeVoidI32,
		sec(secFunction, vec([]byte{0}, []byte{1})...),
		sec(secMemory, vec([]byte{0x00, 0x01})...),
		sec(secExport, vec(
			exportEntry(abi.ExportABIVersion0_2_1, 0, 0),
			exportEntry(stopGlobalExport, 0, 0),
			exportEntry(abi.ExportMalloc, 0, 1))...),
		sec(secCode, vec(funcBody(0x0b), funcBody(0x41, 0x00, 0x0b))...))
	e, lb := newTestEngine(t)
	m, err := e.Compile(context.Background(), "clash", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if m.Instrumented() {
		t.Error("Instrumented() = true for a module the instrumentation rejects")
	}
	if !strings.Contains(lb.String(), "not instrumented") || !strings.Contains(lb.String(), "already exports") {
		t.Errorf("no warning naming the reason:\n%s", lb.String())
	}
	p, err := e.NewPlugin(context.Background(), m, PluginOptions{Name: "clash", PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s, err := p.NewHTTPStream(newFakeHost())
	if err != nil {
		t.Fatal(err)
	}
	if act, err := s.OnRequestHeaders(4, false); err != nil || act != abi.ActionContinue {
		t.Errorf("stream on the checked module: %v, %v", act, err)
	}
	_ = s.Done()
}

// TestInstrumentSDKModules instruments the repository's example plugins
// built by real toolchains (Go wasip1, AssemblyScript) and runs a request
// through each. Skipped when the files are absent; the Go ones compile
// slowly and are skipped with -short.
func TestInstrumentSDKModules(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		slow       bool
		wantHeader string
	}{
		{name: "go headers", path: "../../../sdk/go/examples/headers/headers.wasm", slow: true, wantHeader: "x-weir-example"},
		{name: "assemblyscript headers", path: "../../../sdk/assemblyscript/examples/headers/headers.wasm", wantHeader: "x-weir-example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.slow && testing.Short() {
				t.Skip("slow compile; -short")
			}
			wasm, err := os.ReadFile(tc.path)
			if err != nil {
				t.Skipf("module not available: %v", err)
			}
			if _, err := instrument(wasm); err != nil {
				t.Fatal(err)
			}
			e, _ := newTestEngine(t)
			m, err := e.Compile(context.Background(), tc.name, wasm)
			if err != nil {
				t.Fatal(err)
			}
			if !m.Instrumented() {
				t.Fatal("not instrumented")
			}
			p, err := e.NewPlugin(context.Background(), m, PluginOptions{Name: tc.name, PoolSize: 1, Config: []byte(`{"value":"v"}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			h := newFakeHost()
			s, err := p.NewHTTPStream(h)
			if err != nil {
				t.Fatal(err)
			}
			if act, err := s.OnRequestHeaders(4, false); err != nil || act != abi.ActionContinue {
				t.Fatalf("request headers: %v, %v", act, err)
			}
			if v, _ := h.get(abi.MapHTTPRequestHeaders, tc.wantHeader); v != "v" {
				t.Errorf("%s = %q, want v", tc.wantHeader, v)
			}
			if err := s.OnLog(); err != nil {
				t.Fatal(err)
			}
			if err := s.Done(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRunawayGuests: deadlines stop code that wazero's own checks
// cannot (a loop-free exponential call tree), a loop around host calls,
// and a start function that never returns, in both modes where they apply.
func TestRunawayGuests(t *testing.T) {
	const limit = 50 * time.Millisecond
	ctx := context.Background()
	t.Run("call tree", func(t *testing.T) {
		p := newModulePlugin(t, runawayWasm, false, PluginOptions{CallTimeout: limit})
		start := time.Now()
		_, err := runStream(p, func(s *HTTPStream) (abi.Action, error) { return s.OnRequestHeaders(4, false) })
		if !errors.Is(err, ErrPluginFailed) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrPluginFailed and DeadlineExceeded", err)
		}
		if d := time.Since(start); d < limit {
			t.Errorf("stopped after %v, before the %v deadline", d, limit)
		}
		if p.Timeouts.Load() != 1 || p.Traps.Load() != 1 {
			t.Errorf("timeouts %d traps %d, want 1 1", p.Timeouts.Load(), p.Traps.Load())
		}
	})
	for _, checked := range []bool{false, true} {
		name := map[bool]string{false: "instrumented", true: "wazero checks"}[checked]
		t.Run("host call loop/"+name, func(t *testing.T) {
			p := newModulePlugin(t, runawayWasm, checked, PluginOptions{CallTimeout: limit})
			_, err := runStream(p, func(s *HTTPStream) (abi.Action, error) { return s.OnResponseHeaders(1, false) })
			if !errors.Is(err, ErrPluginFailed) || p.Timeouts.Load() != 1 {
				t.Fatalf("err = %v, timeouts %d; want ErrPluginFailed, 1", err, p.Timeouts.Load())
			}
			if !strings.Contains(err.Error(), "proxy_on_response_headers") || !strings.Contains(err.Error(), "deadline 50ms") {
				t.Errorf("err %q does not name the callback and the deadline", err)
			}
		})
		t.Run("start function/"+name, func(t *testing.T) {
			e, _ := newTestEngine(t)
			e.noInstrument = checked
			m, err := e.Compile(ctx, "startspin", startSpinWasm)
			if err != nil {
				t.Fatal(err)
			}
			if m.Instrumented() == checked {
				t.Fatalf("Instrumented() = %v", m.Instrumented())
			}
			p, err := e.NewPlugin(ctx, m, PluginOptions{Name: "spin", PoolSize: 1, StartTimeout: limit})
			if err == nil {
				_ = p.Close(ctx)
				t.Fatal("NewPlugin succeeded")
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `plugin "spin"`) {
				t.Errorf("err = %v, want a deadline error naming the plugin", err)
			}
		})
	}
}

// newModulePlugin starts a one-instance plugin of wasm.
func newModulePlugin(t *testing.T, wasm []byte, checked bool, opts PluginOptions) *Plugin {
	t.Helper()
	e, _ := newTestEngine(t)
	e.noInstrument = checked
	m, err := e.Compile(context.Background(), "module", wasm)
	if err != nil {
		t.Fatal(err)
	}
	opts.Name, opts.PoolSize = "module", 1
	if opts.RestartBackoff == 0 {
		opts.RestartBackoff = time.Millisecond
	}
	p, err := e.NewPlugin(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// runStream runs f on a new stream and finishes it.
func runStream(p *Plugin, f func(*HTTPStream) (abi.Action, error)) (abi.Action, error) {
	s, err := p.NewHTTPStream(newFakeHost())
	if err != nil {
		return 0, err
	}
	defer s.Done()
	return f(s)
}

// BenchmarkGuestLoop is the cost of the deadline checks on guest code: a
// 1000-iteration counting loop without checks, with the instrumentation,
// and with wazero's termination checks (a Go round trip per iteration,
// plus a goroutine per call).
func BenchmarkGuestLoop(b *testing.B) {
	// count(n): loop n times.
	orig := modBytes(typeVoidI32,
		sec(secFunction, vec([]byte{1})...),
		memOnePage,
		sec(secExport, vec(exportEntry("count", 0, 0))...),
		sec(secCode, vec(funcBody(
			0x03, 0x40, // loop
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, // local.get 0; i32.const 1; i32.sub; local.tee 0
			0x0d, 0x00, // br_if 0
			0x0b, 0x20, 0x00, 0x0b))...)) // end; local.get 0; end
	ins, err := instrument(orig)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name    string
		wasm    []byte
		checked bool
	}{
		{name: "unchecked", wasm: orig},
		{name: "instrumented", wasm: ins.wasm},
		{name: "wazero-checks", wasm: orig, checked: true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(tc.checked))
			defer rt.Close(ctx)
			mod, err := rt.Instantiate(ctx, tc.wasm)
			if err != nil {
				b.Fatal(err)
			}
			f := mod.ExportedFunction("count")
			stack := []uint64{0}
			b.ReportAllocs()
			for b.Loop() {
				stack[0] = 1000
				if err := f.CallWithStack(ctx, stack); err != nil || stack[0] != 0 {
					b.Fatal(err, stack[0])
				}
			}
		})
	}
}

// signalHost signals each HeaderValue call (plugin.wat reads x-mode first).
type signalHost struct {
	*fakeHost
	read chan struct{}
}

func (h *signalHost) HeaderValue(m abi.MapType, key string) (string, abi.Status) {
	select {
	case h.read <- struct{}{}:
	default:
	}
	return h.fakeHost.HeaderValue(m, key)
}

// TestSpinningGuestDoesNotStallGo: the Go runtime cannot preempt compiled
// guest code, so an instrumented loop must return to Go regularly; else a
// garbage collection (stop-the-world) would wait for the guest forever
// (the watchdog timer that stops the guest could not run either), which
// hangs this test. The guest is stopped only after the collection, so the
// collection finishing while the call is still running is the proof.
// Also with a single P.
func TestSpinningGuestDoesNotStallGo(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			e, _ := newTestEngine(t)
			p := newTestPlugin(t, e, PluginOptions{CallTimeout: time.Minute, RestartBackoff: time.Millisecond})
			if !p.m.Instrumented() {
				t.Fatal("not instrumented")
			}
			h := &signalHost{fakeHost: newFakeHost(), read: make(chan struct{}, 1)}
			h.maps[0] = append(h.maps[0], [2]string{"x-mode", "l"})
			s, err := p.NewHTTPStream(h)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Done()
			done := make(chan error, 1)
			go func() { _, err := s.OnRequestHeaders(5, false); done <- err }()
			<-h.read // the guest is about to spin
			runtime.GC()
			select {
			case err := <-done:
				t.Fatalf("the guest stopped before the collection finished: %v", err)
			default:
			}
			s.in.stop.Set(1) // as the watchdog would
			if err := <-done; !errors.Is(err, ErrPluginFailed) {
				t.Errorf("err = %v, want ErrPluginFailed", err)
			}
		})
	}
}
