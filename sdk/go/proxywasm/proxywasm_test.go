//go:build !wasip1

package proxywasm_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// testVM is a configurable plugin: each test plugs in the callbacks it
// exercises.
type testVM struct {
	proxywasm.DefaultVMContext
	start      func() proxywasm.OnPluginStartStatus
	tick       func()
	queue      func(id uint32)
	foreign    func(id uint32, size int)
	reqHeaders func(id uint32) proxywasm.Action
	reqBody    func(size int, eos bool) proxywasm.Action
	respHdrs   func() proxywasm.Action
	done       func(id uint32)
	noStreams  bool
}

func (v *testVM) NewPluginContext(uint32) proxywasm.PluginContext { return &testPlugin{vm: v} }

type testPlugin struct {
	proxywasm.DefaultPluginContext
	vm *testVM
}

func (p *testPlugin) OnPluginStart(int) proxywasm.OnPluginStartStatus {
	if p.vm.start != nil {
		return p.vm.start()
	}
	return proxywasm.OnPluginStartStatusOK
}

func (p *testPlugin) OnTick() {
	if p.vm.tick != nil {
		p.vm.tick()
	}
}

func (p *testPlugin) OnQueueReady(id uint32) {
	if p.vm.queue != nil {
		p.vm.queue(id)
	}
}

func (p *testPlugin) OnForeignFunction(id uint32, size int) {
	if p.vm.foreign != nil {
		p.vm.foreign(id, size)
	}
}

func (p *testPlugin) NewHttpContext(id uint32) proxywasm.HttpContext {
	if p.vm.noStreams {
		return nil
	}
	return &testStream{vm: p.vm, id: id}
}

type testStream struct {
	proxywasm.DefaultHttpContext
	vm *testVM
	id uint32
}

func (s *testStream) OnHttpRequestHeaders(int, bool) proxywasm.Action {
	if s.vm.reqHeaders != nil {
		return s.vm.reqHeaders(s.id)
	}
	return proxywasm.ActionContinue
}

func (s *testStream) OnHttpRequestBody(size int, eos bool) proxywasm.Action {
	if s.vm.reqBody != nil {
		return s.vm.reqBody(size, eos)
	}
	return proxywasm.ActionContinue
}

func (s *testStream) OnHttpResponseHeaders(int, bool) proxywasm.Action {
	if s.vm.respHdrs != nil {
		return s.vm.respHdrs()
	}
	return proxywasm.ActionContinue
}

func (s *testStream) OnHttpStreamDone() {
	if s.vm.done != nil {
		s.vm.done(s.id)
	}
}

func newHost(t *testing.T, vm *testVM, opts proxytest.Options) *proxytest.HostEmulator {
	t.Helper()
	opts.VMContext = vm
	host, err := proxytest.NewHostEmulator(opts)
	if host != nil {
		t.Cleanup(host.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return host
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name   string
		status abi.Status
		want   error
		text   string
	}{
		{name: "not found", status: abi.StatusNotFound, want: proxywasm.ErrNotFound, text: "NOT_FOUND"},
		{name: "invalid memory", status: abi.StatusInvalidMemoryAccess, want: proxywasm.ErrInvalidMemoryAccess, text: "INVALID_MEMORY_ACCESS"},
		{name: "cas", status: abi.StatusCASMismatch, want: proxywasm.ErrCasMismatch, text: "CAS_MISMATCH"},
		{name: "unimplemented", status: abi.StatusUnimplemented, want: proxywasm.ErrUnimplemented, text: "UNIMPLEMENTED"},
		{name: "unknown status", status: 42, want: proxywasm.StatusError(42), text: "Status(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error = proxywasm.StatusError(tt.status)
			if !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.text)
			}
			var se proxywasm.StatusError
			if !errors.As(err, &se) || se.Status() != tt.status {
				t.Errorf("Status() = %v, want %v", se.Status(), tt.status)
			}
		})
	}
}

func TestNoHostAnswersUnimplemented(t *testing.T) {
	if _, err := proxywasm.GetHttpRequestHeader("x"); !errors.Is(err, proxywasm.ErrUnimplemented) {
		t.Fatalf("GetHttpRequestHeader without a host: err = %v, want ErrUnimplemented", err)
	}
	if err := proxywasm.DecodeConfig(&struct{}{}); !errors.Is(err, proxywasm.ErrUnimplemented) {
		t.Fatalf("DecodeConfig without a host: err = %v, want ErrUnimplemented", err)
	}
}

func TestHeaderCalls(t *testing.T) {
	var got struct {
		value   string
		missErr error
		all     [][2]string
		errs    []error
	}
	vm := &testVM{reqHeaders: func(uint32) proxywasm.Action {
		got.value, _ = proxywasm.GetHttpRequestHeader("X-Token")
		_, got.missErr = proxywasm.GetHttpRequestHeader("absent")
		got.errs = append(got.errs,
			proxywasm.AddHttpRequestHeader("x-add", "1"),
			proxywasm.AddHttpRequestHeader("x-add", "2"),
			proxywasm.ReplaceHttpRequestHeader("x-token", "replaced"),
			proxywasm.RemoveHttpRequestHeader("x-drop"),
		)
		got.all, _ = proxywasm.GetHttpRequestHeaders()
		return proxywasm.ActionPause
	}, respHdrs: func() proxywasm.Action {
		got.errs = append(got.errs, proxywasm.ReplaceHttpResponseHeaders([][2]string{{"server", "weir"}}))
		return proxywasm.ActionContinue
	}}
	host := newHost(t, vm, proxytest.Options{})
	id := host.InitializeHttpContext()
	in := [][2]string{{":path", "/"}, {"x-token", "abc"}, {"x-drop", "a"}, {"x-drop", "b"}}
	if a := host.CallOnRequestHeaders(id, in, false); a != proxywasm.ActionPause {
		t.Errorf("action = %v, want Pause", a)
	}
	if a := host.CallOnResponseHeaders(id, [][2]string{{"content-type", "text/plain"}}, true); a != proxywasm.ActionContinue {
		t.Errorf("response action = %v, want Continue", a)
	}
	for i, err := range got.errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got.value != "abc" {
		t.Errorf("GetHttpRequestHeader = %q, want abc (case-insensitive)", got.value)
	}
	if !errors.Is(got.missErr, proxywasm.ErrNotFound) {
		t.Errorf("missing header err = %v, want ErrNotFound", got.missErr)
	}
	want := [][2]string{{":path", "/"}, {"x-token", "replaced"}, {"x-add", "1"}, {"x-add", "2"}}
	if !slices.Equal(got.all, want) {
		t.Errorf("plugin saw headers %q, want %q", got.all, want)
	}
	if h := host.GetCurrentRequestHeaders(id); !slices.Equal(h, want) {
		t.Errorf("host has headers %q, want %q", h, want)
	}
	if h := host.GetCurrentResponseHeaders(id); !slices.Equal(h, [][2]string{{"server", "weir"}}) {
		t.Errorf("response headers %q", h)
	}
}

func TestBodyCalls(t *testing.T) {
	var sizes []int
	var seen []byte
	vm := &testVM{reqBody: func(size int, eos bool) proxywasm.Action {
		sizes = append(sizes, size)
		if !eos {
			return proxywasm.ActionPause // buffer until the end
		}
		b, err := proxywasm.GetHttpRequestBody(0, size)
		must(t, err)
		seen = slices.Clone(b)
		must(t, proxywasm.ReplaceHttpRequestBody([]byte("middle")))
		must(t, proxywasm.PrependHttpRequestBody([]byte("<")))
		must(t, proxywasm.AppendHttpRequestBody([]byte(">")))
		if _, err := proxywasm.GetHttpRequestBody(-1, 1); !errors.Is(err, proxywasm.ErrBadArgument) {
			t.Errorf("negative start: err = %v, want ErrBadArgument", err)
		}
		return proxywasm.ActionContinue
	}}
	host := newHost(t, vm, proxytest.Options{})
	id := host.InitializeHttpContext()
	host.CallOnRequestBody(id, []byte("hello "), false)
	host.CallOnRequestBody(id, []byte("world"), true)
	if !slices.Equal(sizes, []int{6, 11}) {
		t.Errorf("body sizes = %v, want [6 11] (buffered while paused)", sizes)
	}
	if string(seen) != "hello world" {
		t.Errorf("plugin read %q", seen)
	}
	if b := host.GetCurrentRequestBody(id); string(b) != "<middle>" {
		t.Errorf("body after edits = %q, want <middle>", b)
	}
}

func TestLocalResponseAndLogs(t *testing.T) {
	vm := &testVM{reqHeaders: func(uint32) proxywasm.Action {
		must(t, proxywasm.SendHttpResponse(403, [][2]string{{"x-reason", "nope"}}, []byte("denied"), -1))
		proxywasm.LogWarnf("denied %d", 403)
		proxywasm.LogInfo("info line")
		return proxywasm.ActionPause
	}}
	host := newHost(t, vm, proxytest.Options{})
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, nil, true)
	r := host.GetSentLocalResponse(id)
	if r == nil {
		t.Fatal("no local response")
	}
	if r.StatusCode != 403 || string(r.Body) != "denied" || r.GRPCStatus != -1 ||
		!slices.Equal(r.Headers, [][2]string{{"x-reason", "nope"}}) {
		t.Errorf("local response = %+v", r)
	}
	if l := host.GetLogs(proxywasm.LogLevelWarn); !slices.Equal(l, []string{"denied 403"}) {
		t.Errorf("warn logs = %q", l)
	}
	if l := host.GetLogs(proxywasm.LogLevelInfo); !slices.Equal(l, []string{"info line"}) {
		t.Errorf("info logs = %q", l)
	}
}

func TestDispatchHttpCallResumesStream(t *testing.T) {
	var cbHeaders [][2]string
	var cbBody []byte
	var resumeErr error
	vm := &testVM{reqHeaders: func(uint32) proxywasm.Action {
		_, err := proxywasm.DispatchHttpCall("authz", [][2]string{
			{":method", "GET"}, {":path", "/check"}, {":authority", "authz"},
		}, nil, nil, 500, func(numHeaders, bodySize, _ int) {
			cbHeaders, _ = proxywasm.GetHttpCallResponseHeaders()
			cbBody, _ = proxywasm.GetHttpCallResponseBody(0, bodySize)
			resumeErr = proxywasm.ResumeHttpRequest()
		})
		must(t, err)
		return proxywasm.ActionPause
	}}
	host := newHost(t, vm, proxytest.Options{})
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true); a != proxywasm.ActionPause {
		t.Fatalf("action = %v", a)
	}
	calls := host.GetHttpCalls()
	if len(calls) != 1 || calls[0].Upstream != "authz" || calls[0].TimeoutMs != 500 {
		t.Fatalf("calls = %+v", calls)
	}
	must(t, host.CallOnHttpCallResponse(calls[0].Token, [][2]string{{":status", "200"}}, []byte("ok"), nil))
	if resumeErr != nil {
		t.Fatalf("ResumeHttpRequest in callback: %v", resumeErr)
	}
	if req, _ := host.GetResumeCounts(id); req != 1 {
		t.Errorf("request resumed %d times, want 1", req)
	}
	if !slices.Equal(cbHeaders, [][2]string{{":status", "200"}}) || string(cbBody) != "ok" {
		t.Errorf("callback saw headers %q body %q", cbHeaders, cbBody)
	}
	if err := host.CallOnHttpCallResponse(calls[0].Token, nil, nil, nil); err == nil {
		t.Error("answering a call twice: want error")
	}
	if len(host.GetHttpCalls()) != 0 {
		t.Error("call still pending after response")
	}
}

func TestDispatchHttpCallErrors(t *testing.T) {
	var missing, nilCB error
	vm := &testVM{reqHeaders: func(uint32) proxywasm.Action {
		_, missing = proxywasm.DispatchHttpCall("x", [][2]string{{":path", "/"}}, nil, nil, 1, func(int, int, int) {})
		_, nilCB = proxywasm.DispatchHttpCall("x", nil, nil, nil, 1, nil)
		return proxywasm.ActionContinue
	}}
	host := newHost(t, vm, proxytest.Options{})
	host.CallOnRequestHeaders(host.InitializeHttpContext(), nil, true)
	if !errors.Is(missing, proxywasm.ErrBadArgument) {
		t.Errorf("missing pseudo-headers: err = %v, want ErrBadArgument", missing)
	}
	if !errors.Is(nilCB, proxywasm.ErrBadArgument) {
		t.Errorf("nil callback: err = %v, want ErrBadArgument", nilCB)
	}
}

func TestPluginStartAndConfig(t *testing.T) {
	type cfg struct {
		Name  string `json:"name"`
		Limit int    `json:"limit"`
	}
	tests := []struct {
		name    string
		config  string
		want    cfg
		wantErr bool
	}{
		{name: "full", config: `{"name":"a","limit":3}`, want: cfg{Name: "a", Limit: 3}},
		{name: "empty keeps defaults", config: ``, want: cfg{Name: "default", Limit: 1}},
		{name: "bad json fails start", config: `{"name":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got cfg
			var vmCfg []byte
			vm := &testVM{start: func() proxywasm.OnPluginStartStatus {
				got = cfg{Name: "default", Limit: 1}
				vmCfg, _ = proxywasm.GetVMConfiguration()
				if err := proxywasm.DecodeConfig(&got); err != nil {
					proxywasm.LogError(err.Error())
					return proxywasm.OnPluginStartStatusFailed
				}
				return proxywasm.OnPluginStartStatusOK
			}}
			host, err := proxytest.NewHostEmulator(proxytest.Options{
				VMContext: vm, PluginConfig: []byte(tt.config), VMConfig: []byte("vm"),
			})
			if host != nil {
				defer host.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewHostEmulator err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if logs := host.GetLogs(proxywasm.LogLevelError); len(logs) != 1 || !strings.Contains(logs[0], "decode plugin configuration") {
					t.Errorf("error logs = %q", logs)
				}
				return
			}
			if got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
			if string(vmCfg) != "vm" {
				t.Errorf("VM configuration = %q", vmCfg)
			}
		})
	}
}

func TestTickMetricsSharedDataQueues(t *testing.T) {
	var ticks int
	var queueGot []byte
	vm := &testVM{
		start: func() proxywasm.OnPluginStartStatus {
			must(t, proxywasm.SetTickPeriodMilliSeconds(250))
			return proxywasm.OnPluginStartStatusOK
		},
		tick: func() { ticks++ },
		queue: func(id uint32) {
			b, err := proxywasm.DequeueSharedQueue(id)
			must(t, err)
			queueGot = b
			if _, err := proxywasm.DequeueSharedQueue(id); !errors.Is(err, proxywasm.ErrEmpty) {
				t.Errorf("second dequeue: err = %v, want ErrEmpty", err)
			}
		},
	}
	host := newHost(t, vm, proxytest.Options{})
	if p := host.GetTickPeriod(); p != 250 {
		t.Errorf("tick period = %d", p)
	}
	host.Tick()
	host.Tick()
	if ticks != 2 {
		t.Errorf("ticks = %d, want 2", ticks)
	}

	// Metrics.
	c, err := proxywasm.DefineCounterMetric("requests")
	must(t, err)
	must(t, c.Increment(2))
	must(t, c.Increment(3))
	if v, err := c.Value(); err != nil || v != 5 {
		t.Errorf("counter = %d, %v; want 5", v, err)
	}
	g, err := proxywasm.DefineGaugeMetric("inflight")
	must(t, err)
	must(t, g.Record(10))
	must(t, g.Add(-3))
	if v, _ := host.GetGaugeMetric("inflight"); v != 7 {
		t.Errorf("gauge = %d, want 7", v)
	}
	hm, err := proxywasm.DefineHistogramMetric("latency")
	must(t, err)
	must(t, hm.Record(4))
	must(t, hm.Record(9))
	if v, _ := host.GetHistogramMetric("latency"); !slices.Equal(v, []uint64{4, 9}) {
		t.Errorf("histogram = %v", v)
	}
	if v, _ := host.GetCounterMetric("requests"); v != 5 {
		t.Errorf("host counter = %d", v)
	}

	// Shared data with CAS.
	if _, _, err := proxywasm.GetSharedData("k"); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Errorf("absent key: err = %v", err)
	}
	must(t, proxywasm.SetSharedData("k", []byte("v1"), 0))
	v, cas, err := proxywasm.GetSharedData("k")
	must(t, err)
	if string(v) != "v1" || cas == 0 {
		t.Errorf("shared data = %q cas %d", v, cas)
	}
	must(t, proxywasm.SetSharedData("k", []byte("v2"), cas))
	if err := proxywasm.SetSharedData("k", []byte("v3"), cas); !errors.Is(err, proxywasm.ErrCasMismatch) {
		t.Errorf("stale cas: err = %v, want ErrCasMismatch", err)
	}

	// Queues.
	qid, err := proxywasm.RegisterSharedQueue("q")
	must(t, err)
	if again, _ := proxywasm.ResolveSharedQueue("", "q"); again != qid {
		t.Errorf("resolve = %d, want %d", again, qid)
	}
	must(t, proxywasm.EnqueueSharedQueue(qid, []byte("item")))
	host.CallOnQueueReady(qid)
	if string(queueGot) != "item" {
		t.Errorf("dequeued %q", queueGot)
	}
}

func TestPropertiesAndForeignFunctions(t *testing.T) {
	var args []byte
	vm := &testVM{foreign: func(_ uint32, _ int) { args, _ = proxywasm.GetForeignFunctionArguments() }}
	host := newHost(t, vm, proxytest.Options{Properties: map[string][]byte{"request.path": []byte("/x")}})
	v, err := proxywasm.GetProperty([]string{"request", "path"})
	must(t, err)
	if string(v) != "/x" {
		t.Errorf("property = %q", v)
	}
	must(t, proxywasm.SetProperty([]string{"weir", "note"}, []byte("n")))
	if got, ok := host.GetProperty("weir.note"); !ok || string(got) != "n" {
		t.Errorf("host property = %q, %v", got, ok)
	}
	if _, err := proxywasm.GetProperty([]string{"nope"}); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Errorf("absent property: err = %v", err)
	}

	host.RegisterForeignFunction("echo", func(b []byte) ([]byte, error) { return bytes.ToUpper(b), nil })
	host.RegisterForeignFunction("fail", func([]byte) ([]byte, error) { return nil, proxywasm.ErrParseFailure })
	out, err := proxywasm.CallForeignFunction("echo", []byte("hi"))
	if err != nil || string(out) != "HI" {
		t.Errorf("echo = %q, %v", out, err)
	}
	if _, err := proxywasm.CallForeignFunction("fail", nil); !errors.Is(err, proxywasm.ErrParseFailure) {
		t.Errorf("fail: err = %v, want ErrParseFailure", err)
	}
	if _, err := proxywasm.CallForeignFunction("missing", nil); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Errorf("missing: err = %v, want ErrNotFound", err)
	}
	host.CallOnForeignFunction(7, []byte("args"))
	if string(args) != "args" {
		t.Errorf("foreign args = %q", args)
	}
}

func TestStreamLifecycle(t *testing.T) {
	var done []uint32
	vm := &testVM{done: func(id uint32) {
		done = append(done, id)
		// Headers stay readable in OnHttpStreamDone (access logging).
		if _, err := proxywasm.GetHttpRequestHeader(":path"); err != nil {
			t.Errorf("header in OnHttpStreamDone: %v", err)
		}
	}}
	host := newHost(t, vm, proxytest.Options{})
	a, b := host.InitializeHttpContext(), host.InitializeHttpContext()
	host.CallOnRequestHeaders(a, [][2]string{{":path", "/a"}}, true)
	host.CallOnRequestHeaders(b, [][2]string{{":path", "/b"}}, true)
	host.CompleteHttpContext(b)
	host.CompleteHttpContext(a)
	host.CompleteHttpContext(a) // second completion is a no-op
	if !slices.Equal(done, []uint32{b, a}) {
		t.Errorf("done order = %v, want [%d %d]", done, b, a)
	}
	if err := proxywasm.SetEffectiveContext(a); !errors.Is(err, proxywasm.ErrBadArgument) {
		t.Errorf("SetEffectiveContext on a finished stream: err = %v", err)
	}
	if !host.CallOnPluginDone() {
		t.Error("plugin not done")
	}
}

func TestNilHttpContextContinues(t *testing.T) {
	host := newHost(t, &testVM{noStreams: true}, proxytest.Options{})
	id := host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, [][2]string{{"a", "b"}}, true); a != proxywasm.ActionContinue {
		t.Errorf("action = %v, want Continue", a)
	}
	if a := host.CallOnResponseBody(id, []byte("x"), true); a != proxywasm.ActionContinue {
		t.Errorf("body action = %v, want Continue", a)
	}
}

func BenchmarkGetHttpRequestHeader(b *testing.B) {
	var sink string
	vm := &testVM{reqHeaders: func(uint32) proxywasm.Action {
		for b.Loop() {
			sink, _ = proxywasm.GetHttpRequestHeader("x-api-key")
		}
		return proxywasm.ActionContinue
	}}
	host, err := proxytest.NewHostEmulator(proxytest.Options{VMContext: vm})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	host.CallOnRequestHeaders(host.InitializeHttpContext(), [][2]string{{":path", "/"}, {"x-api-key", "k1"}}, true)
	if sink != "k1" {
		b.Fatalf("header = %q", sink)
	}
}
