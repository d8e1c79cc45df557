package host_test

// The ABI acceptance table: every host function and callback of abi/ is a
// row, and each row drives a compiled plugin through real HTTP requests to
// a running Weir and checks an effect a user could observe (the response,
// what the upstream saw, Weir's log, a callout reaching a real backend,
// state visible to a later request). A new abi entry without a row fails
// TestE2EABITableComplete.
//
// The plugins are host/testdata/probe.wat (ABI 0.2.1) and probe010.wat
// (ABI 0.1.0): proxy_on_request_headers reads "x-probe: <name>" and
// exercises that function, reporting in request header x-probe-out.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host"
)

// logBuf collects Weir's log lines for assertions.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// mark returns the current end of the log.
func (l *logBuf) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// since returns the log text written after mark m.
func (l *logBuf) since(m int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()[m:]
}

// startWeirLogged is startWeir with Weir's log (DEBUG and up) captured.
func startWeirLogged(t testing.TB, yamlText string) (*host.Server, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	path := t.TempDir() + "/weir.yaml"
	if err := writeFile(path, yamlText); err != nil {
		t.Fatal(err)
	}
	srv, err := host.New(host.Options{
		ConfigPath:  path,
		ProxyListen: "127.0.0.1:0", HTTPSListen: "off",
		AdminListen:  "127.0.0.1:0",
		StatusListen: "127.0.0.1:0",
		Logger:       slog.New(slog.NewTextHandler(io.MultiWriter(lb, logSink(t)), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:      "e2e",
	})
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { shutdownWeir(srv) })
	return srv, lb
}

// abiEnv is the Weir and backends the ABI rows share.
type abiEnv struct {
	srv  *host.Server
	log  *logBuf
	be   *backend // the routes' upstream
	side *backend // the callout target, service "side"
	c    *http.Client
}

// probeResult is one probe request's outcome.
type probeResult struct {
	response
	reached  bool     // the upstream saw the request
	upstream recorded // what it saw (when reached)
	out      string   // the x-probe-out header the upstream saw
	err      error    // transport error (a reset stream)
}

// probe sends a request for probe name through route path with the given
// extra headers and body.
func (e *abiEnv) probe(t *testing.T, path, name string, hdr map[string]string, body string) probeResult {
	t.Helper()
	var rd io.Reader
	method := http.MethodGet
	if body != "" {
		rd, method = strings.NewReader(body), http.MethodPost
	}
	req, err := http.NewRequest(method, proxyURL(e.srv)+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Probe", name)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	before := e.be.Hits.Load()
	var pr probeResult
	resp, err := e.c.Do(req)
	if err != nil {
		pr.err = err
	} else {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr != nil {
			pr.err = rerr
		}
		pr.response = response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	if e.be.Hits.Load() != before {
		pr.reached = true
		pr.upstream = e.be.Last(t)
		pr.out = pr.upstream.Header.Get("X-Probe-Out")
	}
	return pr
}

// ok fails unless the request went through to the upstream with 200.
func (pr probeResult) ok(t *testing.T) probeResult {
	t.Helper()
	if pr.err != nil {
		t.Fatalf("request failed: %v", pr.err)
	}
	if pr.Status != http.StatusOK || !pr.reached {
		t.Fatalf("status %d (reached upstream: %v), want 200 through the upstream; body %s", pr.Status, pr.reached, pr.Body)
	}
	return pr
}

// wantOut fails unless the plugin reported want.
func (pr probeResult) wantOut(t *testing.T, want string) {
	t.Helper()
	if pr.out != want {
		t.Fatalf("x-probe-out %q, want %q", pr.out, want)
	}
}

// abiRow proves one abi entry.
type abiRow struct {
	// run sends the requests and checks the effects.
	run func(t *testing.T, e *abiEnv)
	// notDriven explains why Weir never calls this callback; the probe
	// module exports it anyway, and the test checks it was never called.
	notDriven string
}

// abiKey names a table row: the function or callback name, plus
// "@<since>" for callbacks whose signature changed between versions.
func abiKey(name string, since abi.Version) string {
	n := 0
	for _, c := range abi.Callbacks {
		if c.Name == name {
			n++
		}
	}
	if n > 1 {
		return name + "@" + since.String()
	}
	return name
}

// abiRowKeys lists the keys the abi tables require.
func abiRowKeys() []string {
	var keys []string
	for _, f := range abi.HostFunctions {
		keys = append(keys, f.Name)
	}
	for _, f := range abi.CompatFunctions {
		keys = append(keys, f.Name)
	}
	for _, c := range abi.Callbacks {
		keys = append(keys, abiKey(c.Name, c.Since))
	}
	return keys
}

// TestE2EABITableComplete fails when an abi entry has no row (or a row
// names no abi entry), so a new ABI function cannot go untested.
func TestE2EABITableComplete(t *testing.T) {
	rows := abiRows()
	keys := abiRowKeys()
	for _, k := range keys {
		if _, ok := rows[k]; !ok {
			t.Errorf("abi entry %s has no row in abiRows (host/e2e_abi_test.go): add a probe for it", k)
		}
	}
	for k := range rows {
		if !slices.Contains(keys, k) {
			t.Errorf("row %s names no abi entry", k)
		}
	}
}

const (
	probePath    = "/probe"
	probe010Path = "/probe010"
	probeConfig  = `{"greeting":"hello"}`
	probeVMCfg   = `{"vm":1}`
)

// TestE2EABI runs every row of the table against one Weir.
func TestE2EABI(t *testing.T) {
	be := newBackend(t, "main", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("main:"))
		w.Write(b)
	})
	side := newBackend(t, "side", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte("cb:"))
		w.Write(b)
	})
	srv, lb := startWeirLogged(t, abiConfig(t, be, side, probeConfig))
	e := &abiEnv{srv: srv, log: lb, be: be, side: side, c: newClient(t)}
	raw, err := os.ReadFile("testdata/probe.wasm")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := wasmbin.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	rows := abiRows()
	for _, c := range abi.Callbacks {
		k := abiKey(c.Name, c.Since)
		row, ok := rows[k]
		if !ok || row.notDriven == "" {
			continue
		}
		// The probe exports it with the spec's signature; the
		// whole-run check below proves Weir never called it.
		i := slices.IndexFunc(mod.Exports, func(x wasmbin.Export) bool { return x.Name == c.Name })
		if i < 0 || !slices.Equal(mod.Exports[i].Params, c.Params) || !slices.Equal(mod.Exports[i].Results, c.Results) {
			t.Errorf("probe.wasm must export %s to prove Weir does not call it (%s)", c, row.notDriven)
		}
	}
	for _, k := range abiRowKeys() {
		row, ok := rows[k]
		if !ok || row.notDriven != "" {
			continue // TestE2EABITableComplete reports missing rows
		}
		t.Run(k, func(t *testing.T) { row.run(t, e) })
	}
	// No callback Weir does not drive was called during the whole run.
	if strings.Contains(lb.since(0), "unexpected callback") {
		for _, line := range strings.Split(lb.since(0), "\n") {
			if strings.Contains(line, "unexpected callback") {
				t.Errorf("Weir called a callback it documents as not driven: %s", line)
			}
		}
	}
}

func abiConfig(t testing.TB, be, side *backend, cfg string) string {
	return `
_format_version: "3.0"
services:
  - name: side
    url: http://` + side.Addr() + `
  - name: api
    url: http://` + be.Addr() + `
    read_timeout: 5000
    routes:
      - name: probe
        paths: [` + probePath + `]
        plugins:
          - name: "` + moduleRef(t, "host/testdata/probe.wasm") + `"
            config: ` + cfg + `
            vm_config: ` + probeVMCfg + `
      - name: probe010
        paths: [` + probe010Path + `]
        plugins:
          - name: "` + moduleRef(t, "host/testdata/probe010.wasm") + `"
            config: {v: "010"}
      - name: as
        paths: [/as]
        plugins:
          - name: "` + moduleRef(t, "sdk/assemblyscript/examples/headers/headers.wasm") + `"
            config: {value: as-020}
      - name: plain
        paths: [/plain]
`
}

// simple is a row whose probe goes upstream and reports want.
func simple(want string) abiRow {
	return abiRow{run: func(t *testing.T, e *abiEnv) {
		e.probe(t, probePath, t.Name()[strings.LastIndexByte(t.Name(), '/')+1:], nil, "").ok(t).wantOut(t, want)
	}}
}

// rowName is the probe name of the running subtest.
func rowName(t *testing.T) string { return t.Name()[strings.LastIndexByte(t.Name(), '/')+1:] }

func notDriven(why string) abiRow { return abiRow{notDriven: why} }

// pollShared polls shared data key through the probe until it holds want.
func pollShared(t *testing.T, e *abiEnv, key, want string) {
	t.Helper()
	eventually(t, 5*time.Second, "shared data "+key+" = "+want, func() bool {
		pr := e.probe(t, probePath, abi.FuncGetSharedData, map[string]string{"X-In": key}, "").ok(t)
		return strings.HasPrefix(pr.out, "0,"+want+",")
	})
}

// logAfter runs f and returns the log lines written while it ran and
// until cond holds on them (bounded).
func logAfter(t *testing.T, e *abiEnv, f func(), cond func(string) bool) string {
	t.Helper()
	m := e.log.mark()
	f()
	var got string
	eventually(t, 5*time.Second, "log lines", func() bool {
		got = e.log.since(m)
		return cond(got)
	})
	return got
}

func abiRows() map[string]abiRow {
	return map[string]abiRow{
		// --- logging, time, ticks, contexts ---
		abi.FuncLog: {run: func(t *testing.T, e *abiEnv) {
			logAfter(t, e, func() {
				// OK, then BAD_ARGUMENT for level 99.
				e.probe(t, probePath, abi.FuncLog, nil, "").ok(t).wantOut(t, "0,2,")
			}, func(s string) bool { return strings.Contains(s, "level=WARN msg=\"probe log message\"") })
		}},
		abi.FuncGetLogLevel: simple("0,1"), // the logger enables DEBUG (abi.LogDebug = 1)
		abi.FuncGetCurrentTimeNanoseconds: {run: func(t *testing.T, e *abiEnv) {
			before := time.Now().UnixNano()
			pr := e.probe(t, probePath, abi.FuncGetCurrentTimeNanoseconds, nil, "").ok(t)
			after := time.Now().UnixNano()
			ns, err := strconv.ParseInt(strings.TrimPrefix(pr.out, "0,"), 10, 64)
			if err != nil || !strings.HasPrefix(pr.out, "0,") || ns < before || ns > after {
				t.Fatalf("x-probe-out %q: want 0,<ns> within [%d, %d]", pr.out, before, after)
			}
		}},
		abi.FuncSetTickPeriodMilliseconds: {run: func(t *testing.T, e *abiEnv) {
			// Ticks every 10ms; proxy_on_tick stores ticked=1 and
			// stops ticking (period 0).
			e.probe(t, probePath, abi.FuncSetTickPeriodMilliseconds, nil, "").ok(t).wantOut(t, "0,")
			pollShared(t, e, "ticked", "1")
		}},
		abi.ExportOnTick: {run: func(t *testing.T, e *abiEnv) {
			e.probe(t, probePath, abi.FuncSetTickPeriodMilliseconds, nil, "").ok(t)
			pollShared(t, e, "ticked", "1")
		}},
		abi.FuncSetEffectiveContext: {run: func(t *testing.T, e *abiEnv) {
			// unknown id: BAD_ARGUMENT; the root: OK, and it has no
			// request headers (NOT_FOUND); back to the stream: OK, and
			// the header reaches the upstream.
			pr := e.probe(t, probePath, abi.FuncSetEffectiveContext, nil, "").ok(t)
			pr.wantOut(t, "2,0,1,0,0,")
			if got := pr.upstream.Header.Values("X-Added"); len(got) != 1 || got[0] != "a1" {
				t.Fatalf("upstream x-added %q, want one a1", got)
			}
		}},
		abi.FuncDone: {run: func(t *testing.T, e *abiEnv) {
			// proxy_on_done returns false; proxy_on_log then calls
			// proxy_done, which answers OK for the pending context.
			var ctx string
			logAfter(t, e, func() { ctx = e.probe(t, probePath, abi.FuncDone, nil, "").ok(t).out },
				func(s string) bool {
					return strings.Contains(s, "on_done ctx="+ctx+"\"") && strings.Contains(s, "proxy_done=0\"") &&
						strings.Contains(s, "on_delete ctx="+ctx+"\"")
				})
		}},
		abi.ExportOnDone:            lifecycleRow("on_done ctx="),
		abi.ExportOnLog:             lifecycleRow("on_log ctx="),
		abi.ExportOnDelete:          lifecycleRow("on_delete ctx="),
		abi.FuncCallForeignFunction: simple("0,1,"), // clear_route_cache OK; unknown NOT_FOUND

		// --- buffers ---
		abi.FuncGetBufferBytes:  simple("0," + probeConfig), // PLUGIN_CONFIGURATION
		abi.FuncGetBufferStatus: simple("0," + strconv.Itoa(len(probeConfig))),
		abi.FuncSetBufferBytes: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncSetBufferBytes, nil, "123456789").ok(t)
			if string(pr.Body) != "main:rewritten" { // the upstream echoes what it got
				t.Fatalf("upstream echoed %q, want the plugin's rewrite", pr.Body)
			}
		}},

		// --- header maps ---
		abi.FuncGetHeaderMapPairs: {run: func(t *testing.T, e *abiEnv) {
			// The pairs come back as a local response body.
			pr := e.probe(t, probePath, abi.FuncGetHeaderMapPairs, map[string]string{"X-In": "v1"}, "")
			if pr.err != nil || pr.Status != 200 || pr.reached {
				t.Fatalf("status %d, reached %v, err %v", pr.Status, pr.reached, pr.err)
			}
			pairs, err := abi.ParsePairs(pr.Body)
			if err != nil {
				t.Fatalf("body is not serialized pairs: %v", err)
			}
			want := map[string]string{":method": "GET", ":path": probePath, ":scheme": "http", "x-in": "v1", "x-probe": abi.FuncGetHeaderMapPairs}
			got := map[string]string{}
			for _, p := range pairs {
				got[p[0]] = p[1]
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("pair %s = %q, want %q (all: %v)", k, got[k], v, pairs)
				}
			}
		}},
		abi.FuncSetHeaderMapPairs: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncSetHeaderMapPairs, map[string]string{"X-In": "gone"}, "").ok(t)
			pr.wantOut(t, "0,")
			if pr.upstream.Header.Get("X-Set") != "yes" || pr.upstream.Header.Get("X-In") != "" {
				t.Fatalf("upstream headers %v: want x-set: yes and no x-in", pr.upstream.Header)
			}
		}},
		abi.FuncGetHeaderMapValue: {run: func(t *testing.T, e *abiEnv) {
			v := fmt.Sprintf("v-%d", time.Now().UnixNano())
			// x-in found; a missing header is NOT_FOUND (0.2.1).
			e.probe(t, probePath, abi.FuncGetHeaderMapValue, map[string]string{"X-In": v}, "").ok(t).wantOut(t, "0,"+v+",1,")
		}},
		abi.FuncAddHeaderMapValue: {run: func(t *testing.T, e *abiEnv) {
			// Request headers: OK; response headers do not exist yet.
			pr := e.probe(t, probePath, abi.FuncAddHeaderMapValue, nil, "").ok(t)
			pr.wantOut(t, "0,1,")
			if pr.upstream.Header.Get("X-Added") != "a1" {
				t.Fatal("the upstream did not see the added header")
			}
		}},
		abi.FuncReplaceHeaderMapValue: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncReplaceHeaderMapValue, map[string]string{"X-In": "orig"}, "").ok(t)
			if got := pr.upstream.Header.Values("X-In"); len(got) != 1 || got[0] != "replaced" {
				t.Fatalf("upstream x-in %q, want [replaced]", got)
			}
		}},
		abi.FuncRemoveHeaderMapValue: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncRemoveHeaderMapValue, map[string]string{"X-In": "orig"}, "").ok(t)
			pr.wantOut(t, "0,")
			if _, ok := pr.upstream.Header["X-In"]; ok {
				t.Fatal("the upstream saw the removed header")
			}
		}},
		abi.FuncGetHeaderMapSize: {run: func(t *testing.T, e *abiEnv) {
			// The size is the serialized pairs' length (Envoy).
			pr := e.probe(t, probePath, abi.FuncGetHeaderMapSize, nil, "").ok(t)
			var size, plen int
			if _, err := fmt.Sscanf(pr.out, "0,%d,0,%d", &size, &plen); err != nil || size != plen || size < 40 {
				t.Fatalf("x-probe-out %q: want 0,<size>,0,<same size of the pairs>", pr.out)
			}
		}},

		// --- stream effects ---
		abi.FuncContinueStream: {run: func(t *testing.T, e *abiEnv) {
			// The plugin continues, then returns Pause: the continue
			// (deferred to after the call) resumes it. Bad type:
			// BAD_ARGUMENT; TCP streams: UNIMPLEMENTED.
			e.probe(t, probePath, abi.FuncContinueStream, nil, "").ok(t).wantOut(t, "0,2,12,")
		}},
		abi.FuncCloseStream: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncCloseStream, nil, "")
			if pr.err == nil || pr.reached {
				t.Fatalf("status %d, reached %v: want the stream reset before the upstream", pr.Status, pr.reached)
			}
		}},
		abi.FuncSendLocalResponse: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncSendLocalResponse, nil, "")
			if pr.err != nil || pr.Status != 418 || string(pr.Body) != "teapot" || pr.Header.Get("X-Local") != "1" || pr.reached {
				t.Fatalf("got %d %q x-local=%q reached=%v err=%v; want a local 418 teapot", pr.Status, pr.Body, pr.Header.Get("X-Local"), pr.reached, pr.err)
			}
		}},
		abi.FuncHTTPCall:             calloutRow(),
		abi.FuncGetStatus:            calloutRow(),
		abi.ExportOnHTTPCallResponse: calloutRow(),

		// --- gRPC: not implemented, answered explicitly ---
		abi.FuncGRPCCall:   simple("12,"),
		abi.FuncGRPCStream: simple("12,"),
		abi.FuncGRPCSend:   simple("12,"),
		abi.FuncGRPCCancel: simple("12,"),
		abi.FuncGRPCClose:  simple("12,"),

		// --- shared data and queues ---
		abi.FuncSetSharedData: {run: func(t *testing.T, e *abiEnv) {
			v := fmt.Sprintf("sv%d", time.Now().UnixNano())
			// cas 0 sets; a stale cas is CAS_MISMATCH.
			e.probe(t, probePath, abi.FuncSetSharedData, map[string]string{"X-In": v}, "").ok(t).wantOut(t, "0,8,")
			pollShared(t, e, "sd-key", v) // visible to a later request
		}},
		abi.FuncGetSharedData: {run: func(t *testing.T, e *abiEnv) {
			v := fmt.Sprintf("gv%d", time.Now().UnixNano())
			e.probe(t, probePath, abi.FuncSetSharedData, map[string]string{"X-In": v}, "").ok(t)
			pr := e.probe(t, probePath, abi.FuncGetSharedData, map[string]string{"X-In": "sd-key"}, "").ok(t)
			var cas int
			if !strings.HasPrefix(pr.out, "0,"+v+",") {
				t.Fatalf("x-probe-out %q, want 0,%s,<cas>", pr.out, v)
			}
			if _, err := fmt.Sscanf(pr.out[len("0,"+v+","):], "%d", &cas); err != nil || cas == 0 {
				t.Fatalf("cas in %q: want non-zero", pr.out)
			}
			e.probe(t, probePath, abi.FuncGetSharedData, map[string]string{"X-In": "never-set"}, "").ok(t).wantOut(t, "1,,0")
		}},
		abi.FuncRegisterSharedQueue: {run: func(t *testing.T, e *abiEnv) {
			a := e.probe(t, probePath, abi.FuncRegisterSharedQueue, nil, "").ok(t).out
			b := e.probe(t, probePath, abi.FuncRegisterSharedQueue, nil, "").ok(t).out
			if !strings.HasPrefix(a, "0,") || a == "0,0" || a != b {
				t.Fatalf("register: %q then %q; want OK with one non-zero id (idempotent)", a, b)
			}
		}},
		abi.FuncResolveSharedQueue: {run: func(t *testing.T, e *abiEnv) {
			reg := e.probe(t, probePath, abi.FuncRegisterSharedQueue, nil, "").ok(t).out
			// The plugin's own vm_id; an unknown queue is NOT_FOUND.
			e.probe(t, probePath, abi.FuncResolveSharedQueue, nil, "").ok(t).wantOut(t, reg+",1,")
		}},
		abi.FuncEnqueueSharedQueue: queueRow(),
		abi.ExportOnQueueReady:     queueRow(),
		abi.FuncDequeueSharedQueue: simple("0,0,0,v1,7,"), // register, enqueue, dequeue v1, then EMPTY

		// --- metrics ---
		abi.FuncDefineMetric: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.FuncDefineMetric, nil, "").ok(t)
			if !strings.HasPrefix(pr.out, "0,2,") || pr.out == "0,2,0" {
				t.Fatalf("x-probe-out %q: want OK with an id, BAD_ARGUMENT for type 99", pr.out)
			}
		}},
		abi.FuncIncrementMetric: {run: func(t *testing.T, e *abiEnv) {
			count := func() int {
				pr := e.probe(t, probePath, abi.FuncIncrementMetric, nil, "").ok(t)
				var n int
				if _, err := fmt.Sscanf(pr.out, "0,0,0,%d", &n); err != nil {
					t.Fatalf("x-probe-out %q", pr.out)
				}
				return n
			}
			a := count()
			if b := count(); b != a+1 || a < 1 {
				t.Fatalf("counter went %d -> %d, want +1 across requests (and instances)", a, b)
			}
		}},
		abi.FuncRecordMetric: simple("0,0,0,42"),
		abi.FuncGetMetric: {run: func(t *testing.T, e *abiEnv) {
			// Defined: OK; an unknown id: NOT_FOUND.
			e.probe(t, probePath, abi.FuncGetMetric, nil, "").ok(t).wantOut(t, "0,0,1,")
		}},

		// --- properties ---
		abi.FuncGetProperty: {run: func(t *testing.T, e *abiEnv) {
			e.probe(t, probePath+"/x?q=1", abi.FuncGetProperty, nil, "").ok(t).wantOut(t, "0,"+probePath+"/x?q=1")
		}},
		abi.FuncSetProperty: {run: func(t *testing.T, e *abiEnv) {
			// Set in the request phase, read back in the response phase.
			pr := e.probe(t, probePath, abi.FuncSetProperty, map[string]string{"X-In": "pv-42"}, "").ok(t)
			pr.wantOut(t, "0,")
			if pr.Header.Get("X-Prop") != "pv-42" {
				t.Fatalf("response x-prop %q, want the value set earlier in the stream", pr.Header.Get("X-Prop"))
			}
		}},

		// --- 0.1.0 only ---
		abi.FuncGetConfiguration: {run: func(t *testing.T, e *abiEnv) {
			e.probe(t, probe010Path, abi.FuncGetConfiguration, nil, "").ok(t).wantOut(t, `0,{"v":"010"}`)
		}},
		abi.FuncContinueRequest: {run: func(t *testing.T, e *abiEnv) {
			// Pause, resumed by the deferred proxy_continue_request.
			e.probe(t, probe010Path, abi.FuncContinueRequest, nil, "").ok(t).wantOut(t, "0,")
		}},
		abi.FuncContinueResponse: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probe010Path, abi.FuncContinueResponse, nil, "").ok(t)
			if pr.Header.Get("X-Probe-Out") != "0," || string(pr.Body) != "main:" {
				t.Fatalf("response x-probe-out %q body %q: want the paused response resumed", pr.Header.Get("X-Probe-Out"), pr.Body)
			}
		}},
		abi.FuncClearRouteCache: {run: func(t *testing.T, e *abiEnv) {
			e.probe(t, probe010Path, abi.FuncClearRouteCache, nil, "").ok(t).wantOut(t, "0,")
		}},

		// --- compat imports ---
		abi.FuncEmscriptenNotifyMemGrowth: simple("1"),
		abi.FuncPthreadEqual:              simple("1,0,"),
		abi.FuncAbort: {run: func(t *testing.T, e *abiEnv) {
			// env.abort traps: this request fails closed, the next
			// one is served by a fresh instance.
			decodeKongError(t, e.probe(t, probePath, abi.FuncAbort, nil, "").response, 503, "A plugin failed to process the request")
			eventually(t, 5*time.Second, "recovery", func() bool {
				pr := e.probe(t, probePath, abi.FuncPthreadEqual, nil, "")
				return pr.Status == 200 && pr.out == "1,0,"
			})
		}},

		// --- callbacks: version markers and start-up ---
		abi.ExportABIVersion0_1_0: {run: func(t *testing.T, e *abiEnv) {
			e.probe(t, probe010Path, "none", nil, "").ok(t) // loaded as 0.1.0 and serving
		}},
		abi.ExportABIVersion0_2_0: {run: func(t *testing.T, e *abiEnv) {
			// The AssemblyScript example (proxy-runtime 0.1.8) is 0.2.0.
			pr := e.probe(t, "/as", "none", nil, "").ok(t)
			if pr.upstream.Header.Get("X-Weir-Example") != "as-020" {
				t.Fatalf("the 0.2.0 plugin did not run: upstream headers %v", pr.upstream.Header)
			}
		}},
		abi.ExportABIVersion0_2_1: {run: func(t *testing.T, e *abiEnv) {
			// Loaded as 0.2.1: proxy_on_request_headers gets end_of_stream.
			e.probe(t, probePath, abi.ExportOnRequestHeaders, nil, "").ok(t).wantOut(t, "1")
		}},
		abi.ExportInitialize: simple("1"),
		abi.ExportMain:       simple("1"), // called after _initialize
		abi.ExportStart: {run: func(t *testing.T, e *abiEnv) {
			// probe010 exports _start and no _initialize.
			e.probe(t, probe010Path, abi.ExportStart, nil, "").ok(t).wantOut(t, "1,")
		}},
		abi.ExportOnMemoryAllocate: {run: func(t *testing.T, e *abiEnv) {
			// One header value copied out: one allocation.
			e.probe(t, probePath, abi.ExportOnMemoryAllocate, map[string]string{"X-In": "v"}, "").ok(t).wantOut(t, "1")
		}},
		abi.ExportMalloc: {run: func(t *testing.T, e *abiEnv) {
			// probe010 exports only malloc.
			e.probe(t, probe010Path, abi.ExportMalloc, nil, "").ok(t).wantOut(t, "1,")
		}},
		abi.ExportOnContextCreate: simple("1"),
		abi.ExportOnVMStart: {run: func(t *testing.T, e *abiEnv) {
			if !strings.Contains(e.log.since(0), strconv.Quote("vm_start vm_config="+probeVMCfg)) {
				t.Fatal("no log line from proxy_on_vm_start with the vm_config")
			}
			e.probe(t, probePath, abi.ExportABIVersion0_2_1, nil, "").ok(t)
		}},
		abi.ExportOnConfigure: {run: func(t *testing.T, e *abiEnv) {
			// The configuration reaches proxy_on_configure; a false
			// return rejects the new config and the old one serves.
			e.probe(t, probePath, abi.FuncGetBufferBytes, nil, "").ok(t).wantOut(t, "0,"+probeConfig)
			err := e.srv.Apply([]byte(abiConfig(t, e.be, e.side, `{"reject":true}`)))
			if err == nil || !strings.Contains(err.Error(), "rejected its configuration") || !strings.Contains(err.Error(), "probe.wasm") {
				t.Fatalf("Apply: %v; want the plugin's rejection, naming it", err)
			}
			e.probe(t, probePath, abi.FuncGetBufferBytes, nil, "").ok(t).wantOut(t, "0,"+probeConfig)
		}},
		abi.ExportValidateConfiguration: notDriven("Envoy-only hook; Weir validates by calling proxy_on_configure"),

		// --- callbacks: TCP (Weir proxies HTTP only) ---
		abi.ExportOnNewConnection:       notDriven("no TCP proxying"),
		abi.ExportOnDownstreamData:      notDriven("no TCP proxying"),
		abi.ExportOnUpstreamData:        notDriven("no TCP proxying"),
		abi.ExportOnDownstreamConnClose: notDriven("no TCP proxying"),
		abi.ExportOnUpstreamConnClose:   notDriven("no TCP proxying"),

		// --- callbacks: HTTP ---
		abiKey(abi.ExportOnRequestHeaders, abi.V0_1_0): {run: func(t *testing.T, e *abiEnv) {
			// The 2-parameter form; reports num_headers (> 0).
			pr := e.probe(t, probe010Path, "none", nil, "").ok(t)
			if n, err := strconv.Atoi(strings.TrimSuffix(pr.out, ",")); err != nil || n < 4 {
				t.Fatalf("x-probe-out %q: want num_headers", pr.out)
			}
		}},
		abiKey(abi.ExportOnRequestHeaders, abi.V0_2_0): {run: func(t *testing.T, e *abiEnv) {
			// Reports end_of_stream: 1 without a body, 0 with one.
			e.probe(t, probePath, abi.ExportOnRequestHeaders, nil, "").ok(t).wantOut(t, "1")
			e.probe(t, probePath, abi.ExportOnRequestHeaders, nil, "body").ok(t).wantOut(t, "0")
		}},
		abi.ExportOnRequestBody: {run: func(t *testing.T, e *abiEnv) {
			// Buffered to the end, then "1" appended (content-length
			// removed in the header phase).
			body := strings.Repeat("b", 100000)
			pr := e.probe(t, probePath, abi.ExportOnRequestBody, nil, body).ok(t)
			if string(pr.Body) != "main:"+body+"1" { // the upstream echoes what it got
				t.Fatalf("upstream echoed %d bytes, want the %d-byte body plus the plugin's 1", len(pr.Body), len(body))
			}
		}},
		abi.ExportOnRequestTrailers: {run: func(t *testing.T, e *abiEnv) {
			// Request trailers come from HTTP/2 clients: body.wasm adds
			// one, which the upstream sees (see e2e_trailers_test.go).
			checkH2Trailers(t, startTrailerWeir(t))
		}},
		abi.ExportOnRequestMetadata: notDriven("Envoy-only HTTP/2 metadata"),
		abi.ExportOnResponseTrailers: {run: func(t *testing.T, e *abiEnv) {
			// body.wasm adds a trailer to an HTTP/1.1 upstream's trailers.
			checkH1ResponseTrailers(t, startTrailerWeir(t))
		}},
		abi.ExportOnResponseMetadata: notDriven("Envoy-only HTTP/2 metadata"),
		abiKey(abi.ExportOnResponseHeaders, abi.V0_1_0): {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probe010Path, "none", nil, "").ok(t)
			if pr.Header.Get("X-Resp-Probe") != "200" {
				t.Fatalf("response x-resp-probe %q, want the :status the plugin read", pr.Header.Get("X-Resp-Probe"))
			}
		}},
		abiKey(abi.ExportOnResponseHeaders, abi.V0_2_0): {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.ExportOnResponseHeaders, nil, "").ok(t)
			if pr.Header.Get("X-Resp-Probe") != "200" {
				t.Fatalf("response x-resp-probe %q, want the :status the plugin read", pr.Header.Get("X-Resp-Probe"))
			}
		}},
		abi.ExportOnResponseBody: {run: func(t *testing.T, e *abiEnv) {
			pr := e.probe(t, probePath, abi.ExportOnResponseBody, nil, strings.Repeat("r", 50000)).ok(t)
			if string(pr.Body) != "rewritten" {
				t.Fatalf("client got %d bytes %.20q..., want the plugin's rewritten body", len(pr.Body), pr.Body)
			}
		}},

		// --- callbacks: gRPC and foreign functions ---
		abi.ExportOnGRPCReceiveInitialMD: notDriven("gRPC callouts answer UNIMPLEMENTED"),
		abi.ExportOnGRPCReceive:          notDriven("gRPC callouts answer UNIMPLEMENTED"),
		abi.ExportOnGRPCReceiveTrailMD:   notDriven("gRPC callouts answer UNIMPLEMENTED"),
		abi.ExportOnGRPCClose:            notDriven("gRPC callouts answer UNIMPLEMENTED"),
		abi.ExportOnForeignFunction:      notDriven("no host-initiated foreign function events"),
	}
}

// lifecycleRow: the probe marks its stream; Weir then calls proxy_on_done,
// proxy_on_log and proxy_on_delete for it, each logging its context id.
func lifecycleRow(prefix string) abiRow {
	return abiRow{run: func(t *testing.T, e *abiEnv) {
		var ctx string
		logAfter(t, e, func() { ctx = e.probe(t, probePath, rowName(t), nil, "").ok(t).out },
			func(s string) bool { return strings.Contains(s, prefix+ctx+"\"") })
	}}
}

// calloutRow: the plugin pauses the request and calls service "side" with
// the request's x-id as the body; proxy_on_http_call_response reads the
// callout status (proxy_get_status), :status and body into request headers
// and resumes.
func calloutRow() abiRow {
	return abiRow{run: func(t *testing.T, e *abiEnv) {
		hits := e.side.Hits.Load()
		id := fmt.Sprintf("id-%d", time.Now().UnixNano())
		pr := e.probe(t, probePath, abi.FuncHTTPCall, map[string]string{"X-Id": id}, "").ok(t)
		pr.wantOut(t, "0,")
		if e.side.Hits.Load() != hits+1 {
			t.Fatalf("the callout service saw %d requests, want 1", e.side.Hits.Load()-hits)
		}
		if last := e.side.Last(t); last.Host != "side" || last.RequestURI != "/callout" {
			t.Fatalf("callout %s %s, want Host side and /callout", last.Host, last.RequestURI)
		}
		h := pr.upstream.Header
		if h.Get("X-Get-Status") != "0,0" || h.Get("X-Callout-Status") != "200" || h.Get("X-From-Callout") != "cb:"+id {
			t.Fatalf("upstream saw x-get-status %q x-callout-status %q x-from-callout %q; want 0,0 / 200 / cb:%s",
				h.Get("X-Get-Status"), h.Get("X-Callout-Status"), h.Get("X-From-Callout"), id)
		}
	}}
}

// queueRow: the plugin registers queue "pq" and enqueues x-in; Weir calls
// proxy_on_queue_ready, which dequeues it into shared data "queued".
func queueRow() abiRow {
	return abiRow{run: func(t *testing.T, e *abiEnv) {
		v := fmt.Sprintf("q%d", time.Now().UnixNano())
		e.probe(t, probePath, abi.FuncEnqueueSharedQueue, map[string]string{"X-In": v}, "").ok(t).wantOut(t, "0,0,")
		pollShared(t, e, "queued", v)
	}}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }

// logSink is where captured logs also go: the test log with WEIR_E2E_LOG
// set, else nowhere.
func logSink(t testing.TB) io.Writer {
	if os.Getenv("WEIR_E2E_LOG") == "" {
		return io.Discard
	}
	return tWriter{t}
}

func shutdownWeir(srv *host.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}
