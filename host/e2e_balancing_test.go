package host_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lbConfig is one service on upstream "pool" with the given upstream
// settings (YAML lines, indented for the upstream object) and targets.
func lbConfig(upstreamExtra string, targets ...string) string {
	var b strings.Builder
	b.WriteString(`_format_version: "3.0"
services:
  - name: lb
    host: pool
    connect_timeout: 1000
    routes: [{name: lb, paths: [/lb]}]
upstreams:
  - name: pool
`)
	for _, l := range strings.Split(strings.TrimSpace(upstreamExtra), "\n") {
		if l != "" {
			b.WriteString("    " + l + "\n")
		}
	}
	b.WriteString("    targets:\n")
	for _, t := range targets {
		b.WriteString("      - " + t + "\n")
	}
	return b.String()
}

// countByBackend sends n GETs and counts the answers per backend id.
func countByBackend(t *testing.T, c *http.Client, url string, n int, hdr map[string]string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		r := do(t, c, req)
		if r.Status != 200 {
			t.Fatalf("request %d: status %d body %s", i, r.Status, r.Body)
		}
		counts[string(r.Body)]++
	}
	return counts
}

func TestE2ERoundRobin(t *testing.T) {
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	tests := []struct {
		name    string
		weights []int
	}{
		{name: "equal weights", weights: []int{100, 100, 100}},
		{name: "weights 1:2:3", weights: []int{1, 2, 3}},
		{name: "weight 0 is never picked", weights: []int{0, 1, 1}},
	}
	const n = 300
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var targets []string
			total := 0
			for i, b := range bs {
				targets = append(targets, fmt.Sprintf("{target: %s, weight: %d}", b.Addr(), tc.weights[i]))
				total += tc.weights[i]
			}
			srv := startWeir(t, lbConfig("algorithm: round-robin", targets...))
			counts := countByBackend(t, newClient(t), proxyURL(srv)+"/lb", n, nil)
			for i, b := range bs {
				// Smooth weighted round-robin is exact over whole cycles.
				want := n * tc.weights[i] / total
				if counts[b.ID] != want {
					t.Errorf("backend %s (weight %d) served %d of %d, want %d (all: %v)", b.ID, tc.weights[i], counts[b.ID], n, want, counts)
				}
			}
		})
	}
}

func TestE2ELeastConnections(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	rel := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(rel)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		w.Write([]byte("slow"))
	})
	fast := newBackend(t, "fast", nil)
	srv := startWeir(t, lbConfig("algorithm: least-connections",
		"{target: "+slow.Addr()+"}", "{target: "+fast.Addr()+"}"))
	c := newClient(t)
	url := proxyURL(srv) + "/lb"

	// Send requests in the background until one is stuck on the slow
	// target.
	var wg sync.WaitGroup
	var bgFailed atomic.Int64
	t.Cleanup(wg.Wait)
	for i := 0; slow.Hits.Load() == 0; i++ {
		if i == 10 {
			t.Fatal("no request reached the slow target in 10 tries")
		}
		before := fast.Hits.Load()
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(url)
			if err != nil || resp.StatusCode != 200 {
				bgFailed.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}()
		eventually(t, 5*time.Second, "the request to reach a backend", func() bool {
			return slow.Hits.Load() > 0 || fast.Hits.Load() > before
		})
	}

	// The slow target has one request in flight, the fast one none: every
	// new request must go to the fast one.
	counts := countByBackend(t, c, url, 20, nil)
	if counts["fast"] != 20 {
		t.Errorf("with one request stuck on the slow target, answers were %v; want all 20 from fast", counts)
	}
	if got := slow.Hits.Load(); got != 1 {
		t.Errorf("slow target received %d requests, want 1", got)
	}
	rel()
	wg.Wait()
	if bgFailed.Load() != 0 {
		t.Errorf("%d background requests failed", bgFailed.Load())
	}
}

func TestE2EConsistentHashHeader(t *testing.T) {
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	var targets []string
	for _, b := range bs {
		targets = append(targets, "{target: "+b.Addr()+"}")
	}
	srv := startWeir(t, lbConfig("algorithm: consistent-hashing\nhash_on: header\nhash_on_header: x-user", targets...))
	c := newClient(t)
	used := map[string]bool{}
	for u := range 30 {
		user := "user-" + strconv.Itoa(u)
		counts := countByBackend(t, c, proxyURL(srv)+"/lb", 5, map[string]string{"X-User": user})
		if len(counts) != 1 {
			t.Errorf("%s was spread over %v, want one backend", user, counts)
		}
		for id := range counts {
			used[id] = true
		}
	}
	if len(used) < 2 {
		t.Errorf("30 distinct keys all went to %v: the hash does not spread keys", used)
	}
}

func TestE2EConsistentHashCookie(t *testing.T) {
	bs := []*backend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	var targets []string
	for _, b := range bs {
		targets = append(targets, "{target: "+b.Addr()+"}")
	}
	srv := startWeir(t, lbConfig("algorithm: consistent-hashing\nhash_on: cookie\nhash_on_cookie: sess\nhash_on_cookie_path: /app", targets...))
	c := newClient(t)
	used := map[string]bool{}
	for s := range 10 {
		first := get(t, c, proxyURL(srv)+"/lb")
		if first.Status != 200 {
			t.Fatalf("status %d", first.Status)
		}
		cookies := (&http.Response{Header: first.Header}).Cookies()
		if len(cookies) != 1 || cookies[0].Name != "sess" || cookies[0].Value == "" {
			t.Fatalf("Set-Cookie %q: want one sess cookie", first.Header.Values("Set-Cookie"))
		}
		if cookies[0].Path != "/app" {
			t.Errorf("cookie path %q, want /app", cookies[0].Path)
		}
		counts := countByBackend(t, c, proxyURL(srv)+"/lb", 8, map[string]string{"Cookie": "other=1; sess=" + cookies[0].Value})
		if len(counts) != 1 || counts[string(first.Body)] != 8 {
			t.Errorf("session %d: first answer from %s, then %v; want all from %s", s, first.Body, counts, first.Body)
		}
		used[string(first.Body)] = true
		// A request carrying the cookie gets no new one.
		req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+"/lb", nil)
		req.AddCookie(cookies[0])
		if r := do(t, c, req); len(r.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("a request with the cookie got Set-Cookie %q", r.Header.Values("Set-Cookie"))
		}
	}
	if len(used) < 2 {
		t.Errorf("10 sessions all went to %v", used)
	}
}

// healthBackend counts proxied (non-health-check) requests and answers
// its health path with 200 or 500 as told.
type healthBackend struct {
	*backend
	proxied atomic.Int64
	healthy atomic.Bool
}

func newHealthBackend(t *testing.T, id string, healthy bool) *healthBackend {
	hb := &healthBackend{}
	hb.healthy.Store(healthy)
	hb.backend = newBackend(t, id, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if !hb.healthy.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		hb.proxied.Add(1)
		w.Write([]byte(id))
	})
	return hb
}

type healthResponse struct {
	Data []struct {
		Target string `json:"target"`
		Weight int    `json:"weight"`
		Health string `json:"health"`
	} `json:"data"`
}

func targetHealth(t *testing.T, c *http.Client, srvAdmin, upstream, addr string) string {
	t.Helper()
	var h healthResponse
	getJSON(t, c, srvAdmin+"/upstreams/"+upstream+"/health", 200, &h)
	for _, d := range h.Data {
		if d.Target == addr {
			return d.Health
		}
	}
	t.Fatalf("target %s not listed in %+v", addr, h)
	return ""
}

func TestE2EActiveHealthChecks(t *testing.T) {
	good := newHealthBackend(t, "good", true)
	flaky := newHealthBackend(t, "flaky", false)
	srv := startWeir(t, lbConfig(`healthchecks:
  active:
    http_path: /health
    timeout: 1
    healthy: {interval: 0.1, successes: 1}
    unhealthy: {interval: 0.1, http_failures: 1, tcp_failures: 1, timeouts: 1}`,
		"{target: "+good.Addr()+"}", "{target: "+flaky.Addr()+"}"))
	c := newClient(t)
	admin := adminURL(srv)

	eventually(t, 5*time.Second, "the failing target to be marked UNHEALTHY", func() bool {
		return targetHealth(t, c, admin, "pool", flaky.Addr()) == "UNHEALTHY"
	})
	before := flaky.proxied.Load()
	counts := countByBackend(t, c, proxyURL(srv)+"/lb", 20, nil)
	if counts["good"] != 20 || flaky.proxied.Load() != before {
		t.Errorf("with the flaky target unhealthy, answers were %v; want all 20 from good", counts)
	}

	flaky.healthy.Store(true)
	eventually(t, 5*time.Second, "the recovered target to be marked HEALTHY", func() bool {
		return targetHealth(t, c, admin, "pool", flaky.Addr()) == "HEALTHY"
	})
	counts = countByBackend(t, c, proxyURL(srv)+"/lb", 20, nil)
	if counts["flaky"] == 0 {
		t.Errorf("the recovered target gets no traffic: %v", counts)
	}
}

func TestE2EPassiveHealthChecks(t *testing.T) {
	good := newBackend(t, "good", nil)
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("bad"))
	})
	srv := startWeir(t, lbConfig(`healthchecks:
  passive:
    unhealthy: {http_statuses: [500], http_failures: 2}`,
		"{target: "+good.Addr()+"}", "{target: "+bad.Addr()+"}"))
	c := newClient(t)
	admin := adminURL(srv)
	if h := targetHealth(t, c, admin, "pool", bad.Addr()); h != "HEALTHY" {
		t.Fatalf("before any traffic the target is %s, want HEALTHY", h)
	}
	// Round-robin: the bad target gets every other request until it trips.
	for i := 0; bad.Hits.Load() < 2; i++ {
		if i == 20 {
			t.Fatalf("bad target hit only %d times in 20 requests", bad.Hits.Load())
		}
		get(t, c, proxyURL(srv)+"/lb")
	}
	if h := targetHealth(t, c, admin, "pool", bad.Addr()); h != "UNHEALTHY" {
		t.Errorf("after 2 failures the target is %s, want UNHEALTHY", h)
	}
	counts := countByBackend(t, c, proxyURL(srv)+"/lb", 20, nil)
	if counts["good"] != 20 {
		t.Errorf("after the bad target tripped, answers were %v; want all 20 from good", counts)
	}
	if got := bad.Hits.Load(); got != 2 {
		t.Errorf("bad target hit %d times, want exactly 2 (http_failures: 2)", got)
	}
}

func TestE2EHealthSurvivesReload(t *testing.T) {
	good := newBackend(t, "good", nil)
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	cfg := lbConfig(`healthchecks:
  passive:
    unhealthy: {http_statuses: [500], http_failures: 1}`,
		"{target: "+good.Addr()+"}", "{target: "+bad.Addr()+"}")
	srv := startWeir(t, cfg)
	c := newClient(t)
	for i := 0; bad.Hits.Load() == 0; i++ {
		if i == 10 {
			t.Fatal("the bad target got no request")
		}
		get(t, c, proxyURL(srv)+"/lb")
	}
	if h := targetHealth(t, c, adminURL(srv), "pool", bad.Addr()); h != "UNHEALTHY" {
		t.Fatalf("bad target %s, want UNHEALTHY", h)
	}
	// A reload that does not touch the upstream (one more route) keeps
	// the health state: the tripped target stays out.
	if err := srv.Apply([]byte(strings.Replace(cfg, "routes: [{name: lb, paths: [/lb]}]",
		"routes: [{name: lb, paths: [/lb]}, {name: lb2, paths: [/lb2]}]", 1))); err != nil {
		t.Fatal(err)
	}
	if h := targetHealth(t, c, adminURL(srv), "pool", bad.Addr()); h != "UNHEALTHY" {
		t.Errorf("after a reload the tripped target is %s, want still UNHEALTHY", h)
	}
	counts := countByBackend(t, c, proxyURL(srv)+"/lb2", 10, nil)
	if counts["good"] != 10 {
		t.Errorf("after the reload answers were %v, want all from good", counts)
	}
}
