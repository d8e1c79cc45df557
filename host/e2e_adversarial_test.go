package host_test

// Adversarial plugins through real HTTP requests (host/testdata/adv.wat):
// infinite loops and traps in every callback Weir drives, a memory.grow
// bomb, out-of-range pointers and lengths to every host function, huge
// header maps and re-entrant calls. Each costs at most its own request
// (fail-closed 503 in Kong's JSON, or the behaviour documented per case),
// another route keeps serving while it happens, and the same route
// serves again on a fresh instance.

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/internal/proxy"
)

// advEnv is a Weir with the adversarial plugin on /adv and nothing on
// /plain.
type advEnv struct {
	srv             *host.Server
	be, side, other *backend // /adv's upstream, the callout service, /plain's upstream
	c               *http.Client
}

const advLimits = `{instances: 2, call_timeout_ms: 250, start_timeout_ms: 500, memory_mb: 16}`

func advConfig(t testing.TB, be, side, other *backend, cfg string) string {
	return `
_format_version: "3.0"
services:
  - name: side
    url: http://` + side.Addr() + `
  - name: api
    url: http://` + be.Addr() + `
    read_timeout: 3000
    routes:
      - name: adv
        paths: [/adv]
        plugins:
          - name: "` + moduleRef(t, "host/testdata/adv.wasm") + `"
            config: ` + cfg + `
            limits: ` + advLimits + `
      - name: mem
        paths: [/mem]
        plugins:
          - name: "` + moduleRef(t, "host/testdata/adv.wasm") + `"
            limits: {instances: 1, call_timeout_ms: 10000, memory_mb: 16}
  - name: other
    url: http://` + other.Addr() + `
    routes:
      - name: plain
        paths: [/plain]
`
}

func newAdvEnv(t *testing.T) *advEnv {
	be := newBackend(t, "main", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Out", r.Header.Get("X-Adv-Out"))
		w.Header().Set("X-Seen-Pages", r.Header.Get("X-Adv-Pages"))
		w.Header().Set("X-Seen-H", strconv.Itoa(len(r.Header.Values("X-H"))))
		w.Header().Set("X-Seen-Big", strconv.Itoa(len(r.Header.Get("X-Big"))))
		w.Header().Set("X-Seen-Second", r.Header.Get("X-Second"))
		w.Write([]byte("main:"))
		w.Write(b)
	})
	side := newBackend(t, "side", nil)
	other := newBackend(t, "other", nil)
	srv := startWeir(t, advConfig(t, be, side, other, `{}`))
	return &advEnv{srv: srv, be: be, side: side, other: other, c: newClient(t)}
}

// plugin returns the plugin running on route adv.
func (e *advEnv) plugin(t *testing.T) *proxy.Plugin {
	t.Helper()
	for _, r := range e.srv.Snapshot().Routes {
		if r.Name == "adv" && len(r.Plugins) == 1 {
			return r.Plugins[0]
		}
	}
	t.Fatal("route adv has no plugin")
	return nil
}

// send sends one request to path with the given headers and a small body.
func (e *advEnv) send(t *testing.T, path string, hdr map[string]string) (response, error) {
	req, err := http.NewRequest("POST", proxyURL(e.srv)+path, strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// isolated runs bad (the adversarial request) while another route is
// hammered; every request there must succeed. Then the same route must
// serve a clean request again within a bounded time.
func (e *advEnv) isolated(t *testing.T, bad func()) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	var failed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := e.send(t, "/plain", nil)
			if err != nil || r.Status != 200 {
				failed.Store(fmt.Sprintf("status %d err %v", r.Status, err))
				return
			}
			served.Add(1)
		}
	}()
	bad()
	// At least one request to the other route overlapped or followed it.
	eventually(t, 5*time.Second, "a request to another route", func() bool { return served.Load() > 0 || failed.Load() != nil })
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("another route failed while the plugin misbehaved: %v", f)
	}
	eventually(t, 5*time.Second, "the same route to serve again", func() bool {
		r, err := e.send(t, "/adv", nil)
		return err == nil && r.Status == 200 && string(r.Body) == "main:payload"
	})
}

// TestE2EAdversarialCallbacks: a loop or a trap in each callback, and a
// memory.grow bomb.
func TestE2EAdversarialCallbacks(t *testing.T) {
	e := newAdvEnv(t)
	const failed = "A plugin failed to process the request"
	type outcome int
	const (
		refused   outcome = iota // 503 in Kong's JSON, the upstream not reached
		answered                 // a 503 after the upstream answered (its response is dropped)
		completed                // the response went out before the callback ran
		aborted                  // the response was streaming: the connection is cut
	)
	tests := []struct {
		name    string
		adv     string
		want    outcome
		timeout bool // must be counted as a deadline timeout
	}{
		{name: "loop in request headers", adv: "lh", want: refused, timeout: true},
		{name: "trap in request headers", adv: "uh", want: refused},
		{name: "loop in request body", adv: "lb", want: refused, timeout: true},
		{name: "trap in request body", adv: "ub", want: refused},
		{name: "loop in response headers", adv: "lH", want: answered, timeout: true},
		{name: "trap in response headers", adv: "uH", want: answered},
		{name: "loop in response body", adv: "lB", want: aborted, timeout: true},
		{name: "trap in response body", adv: "uB", want: aborted},
		{name: "loop in on_log", adv: "lL", want: completed, timeout: true},
		{name: "trap in on_log", adv: "uL", want: completed},
		{name: "loop in on_done", adv: "ld", want: completed, timeout: true},
		{name: "trap in on_done", adv: "ud", want: completed},
		{name: "loop in on_http_call_response", adv: "lc", want: refused, timeout: true},
		{name: "trap in on_http_call_response", adv: "uc", want: refused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.plugin(t).Wasm
			traps, timeouts := p.Traps.Load(), p.Timeouts.Load()
			e.isolated(t, func() {
				hits := e.be.Hits.Load()
				r, err := e.send(t, "/adv", map[string]string{"X-Adv": tc.adv})
				switch tc.want {
				case refused, answered:
					if err != nil {
						t.Fatalf("request failed: %v", err)
					}
					decodeKongError(t, r, 503, failed)
					if reached := e.be.Hits.Load() != hits; reached != (tc.want == answered) {
						t.Fatalf("upstream reached: %v, want %v", reached, tc.want == answered)
					}
				case aborted:
					// The headers went out before the body phase:
					// the response is cut short, as Envoy resets it.
					if err == nil && r.Status == 200 && string(r.Body) == "main:payload" {
						t.Fatal("the response completed despite the failed body phase")
					}
				case completed:
					if err != nil || r.Status != 200 || string(r.Body) != "main:payload" {
						t.Fatalf("status %d body %q err %v: the response should be complete", r.Status, r.Body, err)
					}
				}
			})
			eventually(t, 5*time.Second, "the failure to be counted", func() bool { return p.Traps.Load() > traps })
			// (A trap is not checked the other way: on a starved CI
			// machine even a trapping call may overrun first.)
			if tc.timeout && p.Timeouts.Load() == timeouts {
				t.Fatal("the loop was not counted as a deadline timeout")
			}
		})
	}
	for _, tc := range []struct{ name, adv string }{
		{name: "loop in on_tick", adv: "lt"},
		{name: "trap in on_tick", adv: "ut"},
		{name: "loop in on_queue_ready", adv: "lq"},
		{name: "trap in on_queue_ready", adv: "uq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Background callbacks: the request that set them up
			// succeeds; the instance fails later and is replaced.
			p := e.plugin(t).Wasm
			traps, restarts := p.Traps.Load(), p.Restarts.Load()
			e.isolated(t, func() {
				// The setup request itself may be pinned to the
				// instance that fails under it: then it fails closed.
				r, err := e.send(t, "/adv", map[string]string{"X-Adv": tc.adv})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != 200 {
					decodeKongError(t, r, 503, "A plugin failed to process the request")
				}
				eventually(t, 5*time.Second, "the background callback to fail", func() bool { return p.Traps.Load() > traps })
			})
			eventually(t, 5*time.Second, "a replacement instance", func() bool { return p.Restarts.Load() > restarts })
		})
	}
	t.Run("memory.grow bomb", func(t *testing.T) {
		// memory.grow fails at the configured cap (16 MiB = 256 pages)
		// and the plugin carries on: the request succeeds.
		e.isolated(t, func() {
			r, err := e.send(t, "/mem", map[string]string{"X-Adv": "gh"})
			if err != nil || r.Status != 200 {
				t.Fatalf("status %d err %v", r.Status, err)
			}
			if got := r.Header.Get("X-Seen-Pages"); got != "256" {
				t.Fatalf("the plugin grew to %q pages, want the 256-page cap", got)
			}
		})
	})
}

// TestE2EAdversarialStartup: a plugin looping or trapping in
// proxy_on_vm_start / proxy_on_configure fails the new config with a
// clear error within the start deadline, and the old config keeps serving.
func TestE2EAdversarialStartup(t *testing.T) {
	e := newAdvEnv(t)
	for _, tc := range []struct{ name, cfg, want string }{
		{name: "loop in on_configure", cfg: `{"loop":"configure"}`, want: "call deadline 500ms exceeded"},
		{name: "loop in on_vm_start", cfg: `{"loop":"vm_start"}`, want: "call deadline 500ms exceeded"},
		{name: "trap in on_configure", cfg: `{"trap":"configure"}`, want: "proxy_on_configure failed"},
		{name: "trap in on_vm_start", cfg: `{"trap":"vm_start"}`, want: "proxy_on_vm_start failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.isolated(t, func() {
				err := e.srv.Apply([]byte(advConfig(t, e.be, e.side, e.other, tc.cfg)))
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "adv.wasm") {
					t.Fatalf("Apply: %v; want an error naming the plugin and containing %q", err, tc.want)
				}
			})
		})
	}
}

// hostFuncParams returns the parameter names of f from its Doc
// ("(level, msg_ptr, msg_len). ...").
func hostFuncParams(f abi.HostFunc) []string {
	open, end := strings.IndexByte(f.Doc, '('), strings.IndexByte(f.Doc, ')')
	if open != 0 || end < 0 {
		return nil
	}
	var names []string
	for _, s := range strings.Split(f.Doc[1:end], ",") {
		if s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "i64 ")); s != "" {
			names = append(names, s)
		}
	}
	return names
}

// TestE2EAdversarialPointers calls every host function of abi.HostFunctions
// from inside a plugin, once per pointer parameter with that pointer out
// of range and once per length parameter with a huge length (the other
// arguments valid). Each call must answer an error status, never OK and
// never crash Weir: the request itself succeeds.
func TestE2EAdversarialPointers(t *testing.T) {
	e := newAdvEnv(t)
	const (
		badPtr = "-16"        // 0xfffffff0
		badLen = "2147483632" // 0x7ffffff0
		okPtr  = "2048"       // scratch memory in adv.wat
		okLen  = "4"
	)
	calls := 0
	for _, f := range abi.HostFunctions {
		names := hostFuncParams(f)
		if len(names) != len(f.Params) {
			t.Fatalf("%s: cannot read %d parameter names from its Doc %q", f.Name, len(f.Params), f.Doc)
		}
		valid := make([]string, len(names))
		for i, n := range names {
			switch {
			case strings.Contains(n, "ptr"):
				valid[i] = okPtr
			case strings.HasSuffix(n, "len") || strings.HasSuffix(n, "size"):
				valid[i] = okLen
			default:
				valid[i] = "0"
			}
		}
		for i, n := range names {
			var bad string
			switch {
			case strings.Contains(n, "ptr"):
				bad = badPtr
			case n == "max_size" || f.Name == abi.FuncSetBufferBytes && n == "size":
				continue // a range clamped to the buffer by definition
			case strings.HasSuffix(n, "len") || strings.HasSuffix(n, "size"):
				bad = badLen
			default:
				continue
			}
			args := append([]string(nil), valid...)
			args[i] = bad
			t.Run(f.Name+"/"+n, func(t *testing.T) {
				calls++
				r, err := e.send(t, "/adv", map[string]string{"X-Adv": "xc", "X-Call": f.Name, "X-Args": strings.Join(args, ",")})
				if err != nil || r.Status != 200 {
					t.Fatalf("(%s): status %d err %v body %s", strings.Join(args, ", "), r.Status, err, r.Body)
				}
				st, perr := strconv.Atoi(r.Header.Get("X-Seen-Out"))
				if perr != nil || st >= 998 {
					t.Fatalf("the plugin did not make the call: x-adv-out %q (998: unknown function)", r.Header.Get("X-Seen-Out"))
				}
				if abi.Status(st) == abi.StatusOK {
					t.Fatalf("%s(%s) answered OK with %s out of range", f.Name, strings.Join(args, ", "), n)
				}
				t.Logf("%s(%s) = %v", f.Name, strings.Join(args, ", "), abi.Status(st))
			})
		}
	}
	if calls < len(abi.HostFunctions) {
		t.Fatalf("only %d bad calls for %d host functions", calls, len(abi.HostFunctions))
	}
	if r, err := e.send(t, "/plain", nil); err != nil || r.Status != 200 {
		t.Fatalf("Weir stopped serving: %v", err)
	}
}

// TestE2EAdversarialHeadersAndReentry: huge header maps and re-entrant or
// late calls.
func TestE2EAdversarialHeadersAndReentry(t *testing.T) {
	e := newAdvEnv(t)
	t.Run("10000 added headers", func(t *testing.T) {
		e.isolated(t, func() {
			r, err := e.send(t, "/mem", map[string]string{"X-Adv": "Hk"}) // no tight CPU deadline: the size is under test
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("status %d, upstream saw %s x-h values", r.Status, r.Header.Get("X-Seen-H"))
			if r.Status != 200 || r.Header.Get("X-Seen-H") != "10000" {
				t.Fatalf("status %d, upstream saw %q x-h values", r.Status, r.Header.Get("X-Seen-H"))
			}
		})
	})
	t.Run("2 MiB header value", func(t *testing.T) {
		e.isolated(t, func() {
			r, err := e.send(t, "/mem", map[string]string{"X-Adv": "Hv"}) // no tight CPU deadline: the size is under test
			if err != nil {
				t.Fatal(err)
			}
			// The host accepts it (no cap on one value below the
			// memory limit); the upstream refuses the head with 431,
			// which Weir relays: bounded, and only this request.
			if r.Status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d body %.200s, want the upstream's 431 relayed", r.Status, r.Body)
			}
		})
	})
	t.Run("two local responses and two continues", func(t *testing.T) {
		e.isolated(t, func() {
			hits := e.be.Hits.Load()
			r, err := e.send(t, "/adv", map[string]string{"X-Adv": "r1"})
			if err != nil || r.Status != 402 || e.be.Hits.Load() != hits {
				t.Fatalf("status %d err %v: want the last local response (402), the upstream untouched", r.Status, err)
			}
		})
	})
	t.Run("continue twice then pause", func(t *testing.T) {
		e.isolated(t, func() {
			r, err := e.send(t, "/adv", map[string]string{"X-Adv": "r2"})
			if err != nil || r.Status != 200 || string(r.Body) != "main:payload" {
				t.Fatalf("status %d err %v", r.Status, err)
			}
		})
	})
	t.Run("callout from the callout response", func(t *testing.T) {
		e.isolated(t, func() {
			hits := e.side.Hits.Load()
			r, err := e.send(t, "/adv", map[string]string{"X-Adv": "r3"})
			if err != nil || r.Status != 200 || r.Header.Get("X-Seen-Second") != "v" {
				t.Fatalf("status %d err %v x-second %q", r.Status, err, r.Header.Get("X-Seen-Second"))
			}
			if got := e.side.Hits.Load() - hits; got != 2 {
				t.Fatalf("the callout service saw %d callouts, want 2", got)
			}
		})
	})
	t.Run("two local responses from response headers", func(t *testing.T) {
		e.isolated(t, func() {
			r, err := e.send(t, "/adv", map[string]string{"X-Adv": "r4"})
			if err != nil || r.Status != 402 || string(r.Body) != "no" {
				t.Fatalf("status %d body %q err %v: want the last local response replacing the upstream's", r.Status, r.Body, err)
			}
		})
	})
	t.Run("effects after the stream is over", func(t *testing.T) {
		e.isolated(t, func() {
			r, err := e.send(t, "/adv", map[string]string{"X-Adv": "r5"})
			if err != nil || r.Status != 200 || string(r.Body) != "main:payload" {
				t.Fatalf("status %d err %v: late effects must be ignored", r.Status, err)
			}
		})
	})
}
