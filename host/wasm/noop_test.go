package wasm

import (
	"testing"

	"github.com/weirproxy/weir/abi"
)

// noopModule exports callbacks with no-op and effectful bodies: the
// host must skip exactly the no-ops whose result is the not-exported
// default.
// callbackTypes is the type section of noopModule and declaringModule.
var callbackTypes = sec(secType, vec(
	[]byte{0x60, 0x00, 0x00},                         // 0: [] -> []
	[]byte{0x60, 0x01, 0x7f, 0x01, 0x7f},             // 1: [i32] -> [i32]
	[]byte{0x60, 0x02, 0x7f, 0x7f, 0x00},             // 2: [i32 i32] -> []
	[]byte{0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f}, // 3: [i32 i32 i32] -> [i32]
	[]byte{0x60, 0x01, 0x7f, 0x00},                   // 4: [i32] -> []
	[]byte{0x60, 0x00, 0x01, 0x7f},                   // 5: [] -> [i32]
)...)

// callbackExports is the memory and functions 0-5 (marker, allocator,
// context_create, request_headers, response_headers, on_done) as the
// test modules here export them, then more.
func callbackExports(more ...[]byte) [][]byte {
	return append([][]byte{
		exportEntry("memory", 0x02, 0),
		exportEntry(abi.ExportABIVersion0_2_1, 0x00, 0),
		exportEntry(abi.ExportOnMemoryAllocate, 0x00, 1),
		exportEntry(abi.ExportOnContextCreate, 0x00, 2),
		exportEntry(abi.ExportOnRequestHeaders, 0x00, 3),
		exportEntry(abi.ExportOnResponseHeaders, 0x00, 4),
		exportEntry(abi.ExportOnDone, 0x00, 5),
	}, more...)
}

func noopModule() []byte {
	funcs := sec(secFunction, vec([]byte{0}, []byte{1}, []byte{2}, []byte{3}, []byte{3}, []byte{1}, []byte{4}, []byte{4}, []byte{3})...)
	exports := sec(secExport, vec(callbackExports(
		exportEntry(abi.ExportOnLog, 0x00, 6),
		exportEntry(abi.ExportOnDelete, 0x00, 7),
		exportEntry(abi.ExportOnRequestBody, 0x00, 8),
	)...)...)
	withLocal := []byte{0x04, 0x01, 0x01, 0x7f, 0x0b} // one i32 local; end
	code := sec(secCode, vec(
		funcBody(0x0b),                         // marker
		funcBody(0x41, 0x80, 0x08, 0x0b),       // alloc: i32.const 1024
		funcBody(0x01, 0x0b),                   // context_create: nop
		funcBody(0x41, 0x01, 0x0b),             // request_headers: Pause
		funcBody(0x01, 0x41, 0x00, 0x01, 0x0b), // response_headers: nop, Continue, nop
		funcBody(0x41, 0x00, 0x0b),             // on_done: false (finish later)
		withLocal,                              // on_log: a local, nothing else
		funcBody(0x20, 0x00, 0x1a, 0x0b),       // on_delete: local.get 0; drop
		funcBody(0x41, 0x7f, 0x0b),             // request_body: -1
	)...)
	return modBytes(callbackTypes, funcs, memOnePage, exports, code)
}

func TestNoopExports(t *testing.T) {
	got := noopExports(noopModule())
	want := map[string]noop{
		abi.ExportABIVersion0_2_1:   {},
		abi.ExportOnMemoryAllocate:  {result: 1024, hasResult: true},
		abi.ExportOnContextCreate:   {},
		abi.ExportOnRequestHeaders:  {result: 1, hasResult: true},
		abi.ExportOnResponseHeaders: {result: 0, hasResult: true},
		abi.ExportOnDone:            {result: 0, hasResult: true},
		abi.ExportOnLog:             {},
		abi.ExportOnRequestBody:     {result: -1, hasResult: true},
	}
	if len(got) != len(want) {
		t.Errorf("noopExports found %d functions, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (found %v), want %+v", name, g, ok, w)
		}
	}
	if _, ok := got[abi.ExportOnDelete]; ok {
		t.Errorf("%s reads its parameter: not a no-op", abi.ExportOnDelete)
	}
}

func TestNoopBody(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want noop
		ok   bool
	}{
		{name: "end", body: []byte{0x00, 0x0b}, ok: true},
		{name: "nops", body: []byte{0x00, 0x01, 0x01, 0x0b}, ok: true},
		{name: "const", body: []byte{0x00, 0x41, 0x05, 0x0b}, want: noop{5, true}, ok: true},
		{name: "negative const", body: []byte{0x00, 0x41, 0x40, 0x0b}, want: noop{-64, true}, ok: true},
		{name: "max const", body: []byte{0x00, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b}, want: noop{1<<31 - 1, true}, ok: true},
		{name: "min const", body: []byte{0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x78, 0x0b}, want: noop{-1 << 31, true}, ok: true},
		{name: "locals", body: []byte{0x02, 0x02, 0x7f, 0x01, 0x7e, 0x0b}, ok: true},
		{name: "const dropped", body: []byte{0x00, 0x41, 0x00, 0x1a, 0x0b}},
		{name: "two consts", body: []byte{0x00, 0x41, 0x00, 0x41, 0x01, 0x0b}},
		{name: "call", body: []byte{0x00, 0x10, 0x00, 0x0b}},
		{name: "unreachable", body: []byte{0x00, 0x00, 0x0b}},
		{name: "i64 const", body: []byte{0x00, 0x42, 0x00, 0x0b}},
		{name: "truncated const", body: []byte{0x00, 0x41, 0x80}},
		{name: "overlong const", body: []byte{0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b}},
		{name: "no end", body: []byte{0x00}},
		{name: "empty", body: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := noopBody(tt.body)
			if ok != tt.ok || got != tt.want {
				t.Errorf("noopBody(% x) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestNoopCallbacksSkipped: an instance leaves out exactly the no-op
// callbacks whose result equals the not-exported default, and streams on
// it behave as the exported functions say.
func TestNoopCallbacksSkipped(t *testing.T) {
	for _, checked := range []bool{false, true} {
		p := newModulePlugin(t, noopModule(), checked, PluginOptions{})
		in, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		in.active.Add(-1)
		skipped := map[callback]bool{cbContextCreate: true, cbResponseHeaders: true, cbLog: true}
		for _, cb := range []callback{cbContextCreate, cbRequestHeaders, cbRequestBody, cbResponseHeaders, cbDone, cbLog, cbDelete} {
			if got := in.fns[cb] == nil; got != skipped[cb] {
				t.Errorf("checked=%v: %s skipped = %v, want %v", checked, callbackNames[cb], got, skipped[cb])
			}
		}
		s, err := p.NewHTTPStream(newFakeHost())
		if err != nil {
			t.Fatal(err)
		}
		if act, err := s.OnRequestHeaders(1, true); err != nil || act != abi.ActionPause {
			t.Errorf("checked=%v: request headers = %v, %v; want Pause (the constant 1 is not skipped)", checked, act, err)
		}
		if act, err := s.OnResponseHeaders(1, true); err != nil || act != abi.ActionContinue {
			t.Errorf("checked=%v: response headers = %v, %v; want Continue", checked, act, err)
		}
		if err := s.OnLog(); err != nil {
			t.Fatal(err)
		}
		if !s.donePending {
			t.Errorf("checked=%v: proxy_on_done returned false but the stream is not pending", checked)
		}
		if err := s.Done(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoopReferencePlugin: the test plugin's empty proxy_on_context_create
// and proxy_on_log and its constant proxy_on_done are skipped; its header
// callbacks and proxy_on_delete (which writes a global) are not.
func TestNoopReferencePlugin(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})
	in, err := p.pick()
	if err != nil {
		t.Fatal(err)
	}
	in.active.Add(-1)
	for cb, skip := range map[callback]bool{cbContextCreate: true, cbLog: true, cbDone: true, cbDelete: false, cbRequestHeaders: false, cbResponseHeaders: false} {
		if got := in.fns[cb] == nil; got != skip {
			t.Errorf("%s skipped = %v, want %v", callbackNames[cb], got, skip)
		}
	}
}

// declaringModule is noopModule's callbacks with request_headers and
// on_done not constant-Continue/true, and a weir_implemented_callbacks
// export answering mask.
func declaringModule(mask abi.CallbackSet) []byte {
	funcs := sec(secFunction, vec([]byte{0}, []byte{1}, []byte{2}, []byte{3}, []byte{3}, []byte{1}, []byte{5})...)
	exports := sec(secExport, vec(callbackExports(
		exportEntry(abi.ExportWeirImplementedCallbacks, 0x00, 6),
	)...)...)
	m := uint32(mask)
	code := sec(secCode, vec(
		funcBody(0x0b),                   // marker
		funcBody(0x41, 0x80, 0x08, 0x0b), // alloc: i32.const 1024
		funcBody(0x20, 0x00, 0x1a, 0x0b), // context_create: local.get 0; drop
		funcBody(0x41, 0x01, 0x0b),       // request_headers: Pause
		funcBody(0x41, 0x01, 0x0b),       // response_headers: Pause
		funcBody(0x41, 0x00, 0x0b),       // on_done: false (finish later)
		funcBody(append(append([]byte{0x41}, sleb(int64(int32(m)))...), 0x0b)...), // the mask
	)...)
	return modBytes(callbackTypes, funcs, memOnePage, exports, code)
}

// sleb is the signed LEB128 encoding of v.
func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// TestImplementedCallbacks: callbacks a plugin leaves out of
// weir_implemented_callbacks are not called (Continue, done at once);
// the ones it declares are.
func TestImplementedCallbacks(t *testing.T) {
	tests := []struct {
		mask             abi.CallbackSet
		reqAct, respAct  abi.Action
		createCalled     bool
		donePendingAfter bool
	}{
		{mask: abi.CallbackContextCreate | abi.CallbackRequestHeaders, reqAct: abi.ActionPause, respAct: abi.ActionContinue, createCalled: true},
		{mask: abi.CallbackResponseHeaders | abi.CallbackDone, reqAct: abi.ActionContinue, respAct: abi.ActionPause, donePendingAfter: true},
		{mask: 0, reqAct: abi.ActionContinue, respAct: abi.ActionContinue},
		{mask: ^abi.CallbackSet(0), reqAct: abi.ActionPause, respAct: abi.ActionPause, createCalled: true, donePendingAfter: true},
	}
	for _, tt := range tests {
		p := newModulePlugin(t, declaringModule(tt.mask), false, PluginOptions{})
		in, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		in.active.Add(-1)
		if got := in.fns[cbContextCreate] != nil; got != tt.createCalled {
			t.Errorf("mask %#x: context_create called = %v, want %v", tt.mask, got, tt.createCalled)
		}
		s, err := p.NewHTTPStream(newFakeHost())
		if err != nil {
			t.Fatal(err)
		}
		if act, err := s.OnRequestHeaders(1, true); err != nil || act != tt.reqAct {
			t.Errorf("mask %#x: request headers = %v, %v; want %v", tt.mask, act, err, tt.reqAct)
		}
		if act, err := s.OnResponseHeaders(1, true); err != nil || act != tt.respAct {
			t.Errorf("mask %#x: response headers = %v, %v; want %v", tt.mask, act, err, tt.respAct)
		}
		if err := s.OnLog(); err != nil {
			t.Fatal(err)
		}
		if s.donePending != tt.donePendingAfter {
			t.Errorf("mask %#x: done pending = %v, want %v", tt.mask, s.donePending, tt.donePendingAfter)
		}
		if err := s.Done(); err != nil {
			t.Fatal(err)
		}
	}
}
