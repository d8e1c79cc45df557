package wasm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// Out-of-range arguments: a pointer whose range wraps past 4 GiB and a
// length far beyond the guest memory.
const (
	badPtr = 0xFFFFFFF0
	badLen = 0xFFFF
)

// TestHostOutOfRangePointers calls every host function with out-of-range
// pointers and lengths. Each answers INVALID_MEMORY_ACCESS, or the status
// it gives before it touches memory (a bad enum, no callout in progress,
// no pointer parameter), and never traps the guest.
func TestHostOutOfRangePointers(t *testing.T) {
	const P, L = badPtr, badLen
	ima := abi.StatusInvalidMemoryAccess
	tests := []struct {
		name string
		args []uint64
		want abi.Status
	}{
		{name: abi.FuncLog, args: []uint64{uint64(abi.LogInfo), P, L}, want: ima},
		{name: abi.FuncGetLogLevel, args: []uint64{P}, want: ima},
		{name: abi.FuncGetCurrentTimeNanoseconds, args: []uint64{P}, want: ima},
		{name: abi.FuncSetTickPeriodMilliseconds, args: []uint64{P}, want: abi.StatusOK},
		{name: abi.FuncSetEffectiveContext, args: []uint64{P}, want: abi.StatusBadArgument},
		{name: abi.FuncDone, want: abi.StatusNotFound},
		{name: abi.FuncCallForeignFunction, args: []uint64{P, L, P, L, P, P}, want: ima},
		{name: abi.FuncGetBufferBytes, args: []uint64{uint64(abi.BufferHTTPRequestBody), 0, L, P, P}, want: ima},
		{name: abi.FuncSetBufferBytes, args: []uint64{uint64(abi.BufferHTTPRequestBody), 0, 0, P, L}, want: ima},
		{name: abi.FuncGetBufferStatus, args: []uint64{uint64(abi.BufferHTTPRequestBody), P, P}, want: ima},
		{name: abi.FuncGetHeaderMapPairs, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, P}, want: ima},
		{name: abi.FuncSetHeaderMapPairs, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, L}, want: ima},
		{name: abi.FuncGetHeaderMapValue, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, L, P, P}, want: ima},
		{name: abi.FuncAddHeaderMapValue, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, L, P, L}, want: ima},
		{name: abi.FuncReplaceHeaderMapValue, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, L, P, L}, want: ima},
		{name: abi.FuncRemoveHeaderMapValue, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P, L}, want: ima},
		{name: abi.FuncGetHeaderMapSize, args: []uint64{uint64(abi.MapHTTPRequestHeaders), P}, want: ima},
		{name: abi.FuncContinueStream, args: []uint64{P}, want: abi.StatusBadArgument},
		{name: abi.FuncCloseStream, args: []uint64{P}, want: abi.StatusBadArgument},
		{name: abi.FuncGetStatus, args: []uint64{P, P, P}, want: abi.StatusNotFound}, // no callout
		{name: abi.FuncSendLocalResponse, args: []uint64{403, P, L, P, L, P, L, 0}, want: ima},
		{name: abi.FuncHTTPCall, args: []uint64{P, L, P, L, P, L, P, L, 1000, P}, want: ima},
		{name: abi.FuncGRPCCall, args: []uint64{P, L, P, L, P, L, P, L, P, L, 1000, P}, want: abi.StatusUnimplemented},
		{name: abi.FuncGRPCStream, args: []uint64{P, L, P, L, P, L, P, L, P}, want: abi.StatusUnimplemented},
		{name: abi.FuncGRPCSend, args: []uint64{P, P, L, 0}, want: abi.StatusUnimplemented},
		{name: abi.FuncGRPCCancel, args: []uint64{P}, want: abi.StatusUnimplemented},
		{name: abi.FuncGRPCClose, args: []uint64{P}, want: abi.StatusUnimplemented},
		{name: abi.FuncGetSharedData, args: []uint64{P, L, P, P, P}, want: ima},
		{name: abi.FuncSetSharedData, args: []uint64{P, L, P, L, 0}, want: ima},
		{name: abi.FuncRegisterSharedQueue, args: []uint64{P, L, P}, want: ima},
		{name: abi.FuncResolveSharedQueue, args: []uint64{P, L, P, L, P}, want: ima},
		{name: abi.FuncEnqueueSharedQueue, args: []uint64{P, P, L}, want: ima},
		{name: abi.FuncDequeueSharedQueue, args: []uint64{P, P, P}, want: ima},
		{name: abi.FuncDefineMetric, args: []uint64{uint64(abi.MetricCounter), P, L, P}, want: ima},
		{name: abi.FuncIncrementMetric, args: []uint64{P, 1}, want: abi.StatusNotFound},
		{name: abi.FuncRecordMetric, args: []uint64{P, 1}, want: abi.StatusNotFound},
		{name: abi.FuncGetMetric, args: []uint64{1, P}, want: ima}, // metric 1 defined below
		{name: abi.FuncGetProperty, args: []uint64{P, L, P, P}, want: ima},
		{name: abi.FuncSetProperty, args: []uint64{P, L, P, L}, want: ima},
		{name: abi.FuncGetConfiguration, args: []uint64{P, P}, want: ima},
		{name: abi.FuncContinueRequest, want: abi.StatusOK},
		{name: abi.FuncContinueResponse, want: abi.StatusOK},
		{name: abi.FuncClearRouteCache, want: abi.StatusOK},
	}
	var names []string
	for _, tc := range tests {
		names = append(names, tc.name)
	}
	for _, f := range abi.HostFunctions {
		if !slices.Contains(names, f.Name) {
			t.Errorf("no out-of-range case for %s", f.Name)
		}
	}

	env := newHCEnv(t, hostCallsWasm, PluginOptions{})
	env.write(t, hcScratch, []byte("m"))
	if st := env.host(t, false, abi.FuncDefineMetric, uint64(abi.MetricGauge), hcScratch, 1, hcScratch+8); st != abi.StatusOK || env.u32(t, hcScratch+8) != 1 {
		t.Fatalf("define metric: %v, id %d", st, env.u32(t, hcScratch+8))
	}
	// Each case also runs with the pointers replaced by one whose 4-byte
	// range wraps (0xFFFFFFFE) and one just past 2 GiB.
	for _, ptr := range []uint64{badPtr, 0xFFFFFFFE, 0x80000000} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%#x", tc.name, ptr), func(t *testing.T) {
				args := slices.Clone(tc.args)
				for i, a := range args {
					if a == badPtr {
						args[i] = ptr
					}
				}
				if got := env.host(t, false, tc.name, args...); got != tc.want {
					t.Errorf("%s%v = %v, want %v", tc.name, args, got, tc.want)
				}
			})
		}
	}
	if env.in.broken.Load() || env.p.Traps.Load() != 0 {
		t.Errorf("instance broken %v, traps %d", env.in.broken.Load(), env.p.Traps.Load())
	}
	if len(env.h.local) != 0 || len(env.h.props) != 0 || len(env.h.bodies[0]) != 0 {
		t.Errorf("a rejected call had an effect: local %v props %v body %q", env.h.local, env.h.props, env.h.bodies[0])
	}
}

func TestEffectiveContext(t *testing.T) {
	env := newHCEnv(t, hostCallsWasm, PluginOptions{})
	other := newFakeHost()
	s2, err := env.p.NewHTTPStream(other)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := env.p.NewHTTPStream(newFakeHost())
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Done(); err != nil {
		t.Fatal(err)
	}
	env.write(t, hcScratch, []byte("x-k1"))
	addHeader := func(s *HTTPStream) abi.Status {
		r, err := guestCall(env.in, s, "h."+abi.FuncAddHeaderMapValue, 0, hcScratch, 3, hcScratch+3, 1)
		if err != nil {
			t.Fatal(err)
		}
		return abi.Status(r)
	}
	tests := []struct {
		name       string
		ctxID      uint32
		wantSet    abi.Status
		wantAdd    abi.Status
		wantHeader *fakeHost // host that receives x-k: 1, if any
	}{
		{name: "unknown id", ctxID: 999, wantSet: abi.StatusBadArgument, wantAdd: abi.StatusOK, wantHeader: env.h},
		{name: "zero id", ctxID: 0, wantSet: abi.StatusBadArgument, wantAdd: abi.StatusOK, wantHeader: env.h},
		{name: "finished stream", ctxID: gone.ID(), wantSet: abi.StatusBadArgument, wantAdd: abi.StatusOK, wantHeader: env.h},
		{name: "root context", ctxID: rootContextID, wantSet: abi.StatusOK, wantAdd: abi.StatusNotFound},
		{name: "another stream", ctxID: s2.ID(), wantSet: abi.StatusOK, wantAdd: abi.StatusOK, wantHeader: other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.h.maps[0], other.maps[0] = env.h.maps[0][:4], other.maps[0][:4]
			// Both calls run in one guest call so the switch applies to
			// the second: use the instance directly.
			in := env.in
			in.mu.Lock()
			in.effective = env.s
			st := hSetEffectiveContext(nil, in, nil, []uint64{uint64(tc.ctxID)})
			eff := in.effective
			in.mu.Unlock()
			if st != tc.wantSet {
				t.Fatalf("set_effective_context(%d) = %v, want %v", tc.ctxID, st, tc.wantSet)
			}
			// A failed switch keeps the current stream.
			if got := addHeader(eff); got != tc.wantAdd {
				t.Errorf("add header = %v, want %v", got, tc.wantAdd)
			}
			for _, h := range []*fakeHost{env.h, other} {
				_, has := h.get(abi.MapHTTPRequestHeaders, "x-k")
				if has != (h == tc.wantHeader) {
					t.Errorf("host %p has x-k = %v", h, has)
				}
			}
		})
	}
	// And from guest code: the switch lasts for the rest of the call only.
	if st := env.host(t, false, abi.FuncSetEffectiveContext, uint64(s2.ID())); st != abi.StatusOK {
		t.Fatalf("set_effective_context from the guest = %v", st)
	}
	if env.in.effective != nil {
		t.Error("effective context outlived the guest call")
	}
}

func TestProxyDone(t *testing.T) {
	env := newHCEnv(t, hostCallsWasm, PluginOptions{})
	if st := env.host(t, false, abi.FuncDone); st != abi.StatusNotFound {
		t.Errorf("proxy_done with nothing pending = %v, want NOT_FOUND", st)
	}
	if _, err := guestCall(env.in, nil, "set_done_ret", 0); err != nil {
		t.Fatal(err)
	}
	if err := env.s.OnLog(); err != nil { // proxy_on_done returns false
		t.Fatal(err)
	}
	if st := env.host(t, true, abi.FuncDone); st != abi.StatusNotFound {
		t.Errorf("proxy_done from the root context = %v, want NOT_FOUND", st)
	}
	if st := env.host(t, false, abi.FuncDone); st != abi.StatusOK {
		t.Errorf("proxy_done after on_done returned false = %v, want OK", st)
	}
	if st := env.host(t, false, abi.FuncDone); st != abi.StatusNotFound {
		t.Errorf("second proxy_done = %v, want NOT_FOUND", st)
	}
	if err := env.s.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestBufferWrites(t *testing.T) {
	tests := []struct {
		name       string
		buf        abi.BufferType
		root       bool
		start, n   uint64
		data       string
		wantStatus abi.Status
		want       string
	}{
		{name: "request replace middle", buf: abi.BufferHTTPRequestBody, start: 1, n: 2, data: "EY", want: "hEYlo"},
		{name: "request prepend", buf: abi.BufferHTTPRequestBody, start: 0, n: 0, data: ">", want: ">hello"},
		{name: "request append", buf: abi.BufferHTTPRequestBody, start: 5, n: 0, data: "<", want: "hello<"},
		{name: "request append past end", buf: abi.BufferHTTPRequestBody, start: 100, n: 7, data: "!", want: "hello!"},
		{name: "request replace all", buf: abi.BufferHTTPRequestBody, start: 0, n: 5, data: "bye", want: "bye"},
		{name: "request clear", buf: abi.BufferHTTPRequestBody, start: 0, n: 5, data: "", want: ""},
		{name: "response replace", buf: abi.BufferHTTPResponseBody, start: 0, n: 1, data: "J", want: "Jello"},
		{name: "response append", buf: abi.BufferHTTPResponseBody, start: 5, n: 0, data: " world", want: "hello world"},
		{name: "from the root context", buf: abi.BufferHTTPRequestBody, root: true, data: "x", wantStatus: abi.StatusNotFound, want: "hello"},
		{name: "plugin configuration is read-only", buf: abi.BufferPluginConfiguration, data: "x", wantStatus: abi.StatusNotFound, want: "hello"},
		{name: "unknown buffer", buf: 99, data: "x", wantStatus: abi.StatusBadArgument, want: "hello"},
	}
	env := newHCEnv(t, hostCallsWasm, PluginOptions{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.h.bodies = [2][]byte{[]byte("hello"), []byte("hello")}
			env.write(t, hcScratch, []byte(tc.data))
			st := env.host(t, tc.root, abi.FuncSetBufferBytes, uint64(tc.buf), tc.start, tc.n, hcScratch, uint64(len(tc.data)))
			if st != tc.wantStatus {
				t.Fatalf("set_buffer_bytes = %v, want %v", st, tc.wantStatus)
			}
			idx := 0
			if tc.buf == abi.BufferHTTPResponseBody {
				idx = 1
			}
			if got := string(env.h.bodies[idx]); got != tc.want {
				t.Errorf("body = %q, want %q", got, tc.want)
			}
			if other := string(env.h.bodies[1-idx]); other != "hello" {
				t.Errorf("other body changed: %q", other)
			}
			// The guest reads back what the host holds.
			if tc.wantStatus == abi.StatusOK {
				if st := env.host(t, false, abi.FuncGetBufferBytes, uint64(tc.buf), 0, 1000, hcScratch+64, hcScratch+68); st != abi.StatusOK {
					t.Fatalf("get_buffer_bytes = %v", st)
				}
				if got := string(env.result(t, hcScratch+64)); got != tc.want {
					t.Errorf("read back %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestABI010(t *testing.T) {
	env := newHCEnv(t, hostCalls010Wasm, PluginOptions{VMConfig: []byte("vm-config"), Config: []byte("plugin-config")})
	if env.p.m.ABI != abi.V0_1_0 {
		t.Fatalf("ABI = %v", env.p.m.ABI)
	}
	if got := string(env.result(t, hcVMConfigRet)); got != "vm-config" {
		t.Errorf("proxy_get_configuration in proxy_on_vm_start = %q, want the VM configuration", got)
	}
	if got := string(env.result(t, hcConfigRet)); got != "plugin-config" {
		t.Errorf("proxy_get_configuration in proxy_on_configure = %q, want the plugin configuration", got)
	}
	if st := env.host(t, false, abi.FuncGetConfiguration, hcScratch, hcScratch+4); st != abi.StatusOK || string(env.result(t, hcScratch)) != "plugin-config" {
		t.Errorf("proxy_get_configuration on a stream = %v %q", st, env.result(t, hcScratch))
	}

	tests := []struct {
		name string
		fn   string
		root bool
		want abi.Status
		// wantContinued is the effect the StreamHost sees.
		wantContinued []abi.StreamType
	}{
		{name: "continue request", fn: abi.FuncContinueRequest, want: abi.StatusOK, wantContinued: []abi.StreamType{abi.StreamHTTPRequest}},
		{name: "continue response", fn: abi.FuncContinueResponse, want: abi.StatusOK, wantContinued: []abi.StreamType{abi.StreamHTTPResponse}},
		{name: "continue request from root", fn: abi.FuncContinueRequest, root: true, want: abi.StatusNotFound},
		{name: "clear route cache", fn: abi.FuncClearRouteCache, want: abi.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.h.continued = nil
			if st := env.host(t, tc.root, tc.fn); st != tc.want {
				t.Fatalf("%s = %v, want %v", tc.fn, st, tc.want)
			}
			if !slices.Equal(env.h.continued, tc.wantContinued) {
				t.Errorf("continued = %v, want %v", env.h.continued, tc.wantContinued)
			}
		})
	}

	// 0.1.0: a missing header reads as OK with an empty value.
	env.write(t, hcScratch, []byte("x-absent"))
	if st := env.host(t, false, abi.FuncGetHeaderMapValue, 0, hcScratch, 8, hcScratch+16, hcScratch+20); st != abi.StatusOK || env.u32(t, hcScratch+20) != 0 {
		t.Errorf("0.1.0 missing header = %v, len %d; want OK, 0", st, env.u32(t, hcScratch+20))
	}
	env21 := newHCEnv(t, hostCallsWasm, PluginOptions{})
	env21.write(t, hcScratch, []byte("x-absent"))
	if st := env21.host(t, false, abi.FuncGetHeaderMapValue, 0, hcScratch, 8, hcScratch+16, hcScratch+20); st != abi.StatusNotFound {
		t.Errorf("0.2.1 missing header = %v, want NOT_FOUND", st)
	}
}

func TestCompatFunctions(t *testing.T) {
	env := newHCEnv(t, hostCallsWasm, PluginOptions{Name: "compat"})
	if _, err := guestCall(env.in, env.s, "h."+abi.FuncEmscriptenNotifyMemGrowth, 0); err != nil {
		t.Errorf("emscripten_notify_memory_growth: %v", err)
	}
	tests := []struct {
		a, b uint64
		want uint64
	}{
		{a: 7, b: 7, want: 1},
		{a: 7, b: 8, want: 0},
	}
	for _, tc := range tests {
		if got, err := guestCall(env.in, env.s, "h."+abi.FuncPthreadEqual, tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("pthread_equal(%d, %d) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	_, err := guestCall(env.in, env.s, "h."+abi.FuncAbort, badPtr, badPtr, 1, 2)
	if !errors.Is(err, ErrPluginFailed) || !bytes.Contains([]byte(err.Error()), []byte(`plugin "compat" called env.abort`)) {
		t.Fatalf("abort: %v, want ErrPluginFailed naming env.abort", err)
	}
	if !env.in.broken.Load() || env.p.Traps.Load() != 1 || env.p.Timeouts.Load() != 0 {
		t.Errorf("after abort: broken %v traps %d timeouts %d", env.in.broken.Load(), env.p.Traps.Load(), env.p.Timeouts.Load())
	}
	if _, err := env.s.OnRequestHeaders(4, false); !errors.Is(err, ErrPluginFailed) {
		t.Errorf("stream on the aborted instance: %v, want ErrPluginFailed", err)
	}
}

func TestMetricsRecordGet(t *testing.T) {
	env := newHCEnv(t, hostCallsWasm, PluginOptions{})
	define := func(typ abi.MetricType, name string) uint64 {
		t.Helper()
		env.write(t, hcScratch, []byte(name))
		if st := env.host(t, true, abi.FuncDefineMetric, uint64(typ), hcScratch, uint64(len(name)), hcScratch+64); st != abi.StatusOK {
			t.Fatalf("define %s: %v", name, st)
		}
		return uint64(env.u32(t, hcScratch+64))
	}
	counter, gauge, hist := define(abi.MetricCounter, "c"), define(abi.MetricGauge, "g"), define(abi.MetricHistogram, "h")
	if again := define(abi.MetricGauge, "g"); again != gauge {
		t.Errorf("redefining g gave id %d, want %d", again, gauge)
	}
	env.write(t, hcScratch, []byte("g"))
	if st := env.host(t, true, abi.FuncDefineMetric, uint64(abi.MetricCounter), hcScratch, 1, hcScratch+64); st != abi.StatusBadArgument {
		t.Errorf("redefining g as a counter = %v, want BAD_ARGUMENT", st)
	}
	neg := func(v int64) uint64 { return uint64(v) }
	tests := []struct {
		name    string
		fn      string
		id      uint64
		value   uint64
		want    abi.Status
		getID   uint64
		wantGet int64
		getErr  abi.Status
	}{
		{name: "record gauge sets", fn: abi.FuncRecordMetric, id: gauge, value: 42, getID: gauge, wantGet: 42},
		{name: "record gauge negative", fn: abi.FuncRecordMetric, id: gauge, value: neg(-5), getID: gauge, wantGet: -5},
		{name: "increment gauge", fn: abi.FuncIncrementMetric, id: gauge, value: 10, getID: gauge, wantGet: 5},
		{name: "decrement gauge", fn: abi.FuncIncrementMetric, id: gauge, value: neg(-7), getID: gauge, wantGet: -2},
		{name: "record counter adds", fn: abi.FuncRecordMetric, id: counter, value: 3, getID: counter, wantGet: 3},
		{name: "increment counter", fn: abi.FuncIncrementMetric, id: counter, value: 2, getID: counter, wantGet: 5},
		{name: "decrement counter", fn: abi.FuncIncrementMetric, id: counter, value: neg(-1), want: abi.StatusBadArgument, getID: counter, wantGet: 5},
		{name: "record histogram", fn: abi.FuncRecordMetric, id: hist, value: 100, getID: hist, getErr: abi.StatusBadArgument},
		{name: "increment histogram", fn: abi.FuncIncrementMetric, id: hist, value: 1, want: abi.StatusBadArgument, getID: hist, getErr: abi.StatusBadArgument},
		{name: "unknown id", fn: abi.FuncRecordMetric, id: 77, value: 1, want: abi.StatusNotFound, getID: 77, getErr: abi.StatusNotFound},
		{name: "id zero", fn: abi.FuncIncrementMetric, id: 0, value: 1, want: abi.StatusNotFound, getID: 0, getErr: abi.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if st := env.host(t, false, tc.fn, tc.id, tc.value); st != tc.want {
				t.Fatalf("%s(%d, %d) = %v, want %v", tc.fn, tc.id, int64(tc.value), st, tc.want)
			}
			st := env.host(t, false, abi.FuncGetMetric, tc.getID, hcScratch+128)
			if st != tc.getErr {
				t.Fatalf("get_metric(%d) = %v, want %v", tc.getID, st, tc.getErr)
			}
			if st == abi.StatusOK {
				b := env.read(t, hcScratch+128, 8)
				var v uint64
				for i := 7; i >= 0; i-- {
					v = v<<8 | uint64(b[i])
				}
				if int64(v) != tc.wantGet {
					t.Errorf("value = %d, want %d", int64(v), tc.wantGet)
				}
			}
		})
	}
	for _, m := range env.p.Metrics() {
		if m.Name == "h" && (m.Count != 1 || m.Value != 100) {
			t.Errorf("histogram snapshot = %+v, want count 1 sum 100", m)
		}
	}
}
