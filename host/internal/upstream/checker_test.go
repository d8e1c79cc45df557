package upstream

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
)

const waitFor = 5 * time.Second

// probeLog records what active probes sent.
type probeLog struct {
	mu    sync.Mutex
	reqs  []*http.Request
	count atomic.Int64
}

func (p *probeLog) add(r *http.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()
	p.count.Add(1)
}

func (p *probeLog) last() *http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		return nil
	}
	return p.reqs[len(p.reqs)-1]
}

// statusServer answers every request with the current status.
func statusServer(t *testing.T, log *probeLog) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if log != nil {
			log.add(r)
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &status
}

func addrOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

func activeUpstream(addrs ...string) config.Upstream {
	u := config.Upstream{Name: "svc"}
	for _, a := range addrs {
		u.Targets = append(u.Targets, config.Target{Target: a})
	}
	u.Healthchecks.Active = config.ActiveHealthcheck{
		Timeout:   1,
		Healthy:   config.Healthy{Interval: 0.05, Successes: 2},
		Unhealthy: config.Unhealthy{Interval: 0.05, HTTPFailures: 2, TCPFailures: 1, Timeouts: 1},
	}
	return u
}

// relisten listens again on addr once its previous listener is closed.
func relisten(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			t.Cleanup(func() { ln.Close() })
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s again: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestActiveHTTP(t *testing.T) {
	var log probeLog
	srv, status := statusServer(t, &log)
	other, _ := statusServer(t, nil)
	u := activeUpstream(addrOf(srv), addrOf(other))
	u.Healthchecks.Active.HTTPPath = "/healthz?deep=1"
	u.Healthchecks.Active.Headers = map[string][]string{"x-probe": {"a", "b"}}
	ev := newHealthEvents()
	b := mustNew(t, u, Options{OnHealthChange: ev.fn})
	b.Start()
	b.Start() // idempotent

	status.Store(http.StatusInternalServerError)
	ev.wait(t, addrOf(srv), false, waitFor)
	for range 10 {
		if mustPick(t, b, &Request{}).Addr != addrOf(other) {
			t.Fatal("target failing its health check was picked")
		}
	}
	if h := b.Health(); h[0].Health != HealthUnhealthy || h[1].Health != HealthHealthy {
		t.Fatalf("Health = %+v", h)
	}
	status.Store(http.StatusFound) // 302 is healthy by default
	ev.wait(t, addrOf(srv), true, waitFor)
	b.Stop()

	r := log.last()
	if r == nil {
		t.Fatal("no probe reached the target")
	}
	if r.Method != http.MethodGet || r.RequestURI != "/healthz?deep=1" || r.Proto != "HTTP/1.1" {
		t.Errorf("probe %s %s %s", r.Method, r.RequestURI, r.Proto)
	}
	if r.Host != addrOf(srv) || !r.Close {
		t.Errorf("probe Host %q Close %v", r.Host, r.Close)
	}
	if got := r.Header.Values("X-Probe"); strings.Join(got, ",") != "a,b" {
		t.Errorf("probe X-Probe = %q", got)
	}
	if ua := r.Header.Get("User-Agent"); ua != "weir-healthcheck" {
		t.Errorf("probe User-Agent = %q", ua)
	}
}

func TestActiveHostHeader(t *testing.T) {
	var log probeLog
	srv, _ := statusServer(t, &log)
	u := activeUpstream(addrOf(srv))
	u.HostHeader = "api.internal"
	b := mustNew(t, u, Options{})
	b.Start()
	deadline := time.Now().Add(waitFor)
	for log.count.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.Stop()
	if r := log.last(); r == nil || r.Host != "api.internal" {
		t.Fatalf("probe Host = %v, want host_header", r)
	}
}

func TestActiveDeadAndBack(t *testing.T) {
	srv, _ := statusServer(t, nil)
	addr := addrOf(srv)
	ev := newHealthEvents()
	b := mustNew(t, activeUpstream(addr), Options{OnHealthChange: ev.fn})
	b.Start()
	srv.Close()
	ev.wait(t, addr, false, waitFor)
	if _, _, err := b.Pick(&Request{}); err == nil {
		t.Fatal("Pick succeeded with the only target down")
	}
	ln := relisten(t, addr)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	ev.wait(t, addr, true, waitFor)
	if tg := mustPick(t, b, &Request{}); tg.Addr != addr {
		t.Fatalf("picked %s", tg.Addr)
	}
}

func TestActiveTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(ln)
	u := activeUpstream(addr)
	u.Healthchecks.Active.Type = "tcp"
	u.Healthchecks.Active.Unhealthy.HTTPFailures = 0
	u.Healthchecks.Active.Healthy.Successes = 1
	ev := newHealthEvents()
	b := mustNew(t, u, Options{OnHealthChange: ev.fn})
	if err := b.SetTargetHealth(addr, false); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, addr, false, time.Second)
	b.Start()
	ev.wait(t, addr, true, waitFor) // connect succeeds
	ln.Close()
	ev.wait(t, addr, false, waitFor) // connection refused
	ln2 := relisten(t, addr)
	go serve(ln2)
	ev.wait(t, addr, true, waitFor)
}

func TestActiveTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accept, never answer
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	addr := ln.Addr().String()
	u := activeUpstream(addr)
	u.Healthchecks.Active.Timeout = 0.1
	// Only the timeout counter can trip it.
	u.Healthchecks.Active.Unhealthy = config.Unhealthy{Interval: 0.05, Timeouts: 2}
	ev := newHealthEvents()
	b := mustNew(t, u, Options{OnHealthChange: ev.fn})
	b.Start()
	ev.wait(t, addr, false, waitFor)
}

func TestActiveHTTPS(t *testing.T) {
	var sni atomic.Value
	sni.Store("")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		sni.Store(chi.ServerName)
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := addrOf(srv)

	t.Run("verify off", func(t *testing.T) {
		u := activeUpstream(addr)
		u.Healthchecks.Active.Type = "https"
		u.Healthchecks.Active.HTTPSSNI = "backend.test"
		u.Healthchecks.Active.HTTPSVerifyCertificate = new(bool)
		u.Healthchecks.Active.Healthy.Successes = 1
		ev := newHealthEvents()
		b := mustNew(t, u, Options{OnHealthChange: ev.fn})
		_ = b.SetTargetHealth(addr, false)
		ev.wait(t, addr, false, time.Second)
		b.Start()
		ev.wait(t, addr, true, waitFor)
		b.Stop()
		if got := sni.Load().(string); got != "backend.test" {
			t.Fatalf("SNI = %q, want https_sni", got)
		}
	})
	t.Run("verify on rejects self-signed", func(t *testing.T) {
		u := activeUpstream(addr)
		u.Healthchecks.Active.Type = "https"
		ev := newHealthEvents()
		b := mustNew(t, u, Options{OnHealthChange: ev.fn})
		b.Start()
		ev.wait(t, addr, false, waitFor)
	})
}

// A target tripped by passive checks is brought back by active checks of
// unhealthy targets, with no cool-down involved (the clock never moves).
func TestPassiveTripActiveRecovery(t *testing.T) {
	var log probeLog
	srv, _ := statusServer(t, &log)
	addr := addrOf(srv)
	u := config.Upstream{Name: "svc", Targets: []config.Target{{Target: addr}}}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 1
	u.Healthchecks.Active.Unhealthy.Interval = 0.05 // only unhealthy targets are probed
	u.Healthchecks.Active.Healthy.Successes = 1
	clk := newFakeClock()
	ev := newHealthEvents()
	b := mustNew(t, u, Options{Now: clk.Now, OnHealthChange: ev.fn})
	b.Start()
	b.Target(addr).ReportStatus(500)
	ev.wait(t, addr, false, time.Second)
	ev.wait(t, addr, true, waitFor)
	if log.count.Load() == 0 {
		t.Fatal("recovered without an active probe")
	}
}

func TestStopAbortsHangingProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	u := activeUpstream(ln.Addr().String())
	u.Healthchecks.Active.Timeout = 30
	u.Healthchecks.Active.Healthy.Interval = 0.01
	b := mustNew(t, u, Options{})
	b.Start()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(waitFor):
		t.Fatal("no probe connected")
	}
	start := time.Now()
	b.Stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Stop took %v with a probe hanging (timeout 30s)", d)
	}
	if !b.Target(ln.Addr().String()).Healthy() {
		t.Fatal("an aborted probe was reported as a failure")
	}
}

func TestStartStopNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		srv, status := statusServer(t, nil)
		u := activeUpstream(addrOf(srv))
		u.Healthchecks.Active.Healthy.Interval = 0.01
		u.Healthchecks.Active.Unhealthy.Interval = 0.01
		ev := newHealthEvents()
		b, err := New(u, Options{Logger: quiet, OnHealthChange: ev.fn})
		if err != nil {
			t.Fatal(err)
		}
		b.Stop() // not started: no-op
		b.Start()
		b.Start()
		status.Store(500)
		ev.wait(t, addrOf(srv), false, waitFor)
		b.Stop()
		b.Stop()
		b.Start() // restart after Stop
		status.Store(200)
		ev.wait(t, addrOf(srv), true, waitFor)
		b.Stop()
		srv.Close()
	}()
	deadline := time.Now().Add(waitFor)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d > %d before\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRaceHealthFlips(t *testing.T) {
	var srvs []*httptest.Server
	var addrs []string
	var flip atomic.Int64
	for range 4 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if flip.Add(1)%3 == 0 {
				w.WriteHeader(500)
			}
		}))
		t.Cleanup(srv.Close)
		srvs = append(srvs, srv)
		addrs = append(addrs, addrOf(srv))
	}
	for _, algo := range []string{"round-robin", "least-connections", "consistent-hashing"} {
		t.Run(algo, func(t *testing.T) {
			u := activeUpstream(addrs...)
			u.Algorithm, u.HashOn = algo, "ip"
			u.Healthchecks.Active.Healthy.Interval = 0.005
			u.Healthchecks.Active.Unhealthy.Interval = 0.005
			u.Healthchecks.Active.Healthy.Successes = 1
			u.Healthchecks.Active.Unhealthy.HTTPFailures = 1
			u.Healthchecks.Passive.Unhealthy.HTTPFailures = 2
			u.Healthchecks.Passive.Healthy.Successes = 1
			u.Healthchecks.Threshold = 10
			b := mustNew(t, u, Options{Cooldown: time.Millisecond})
			b.Start()
			var wg sync.WaitGroup
			var picked, failed atomic.Int64
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tried := make([]*Target, 0, 2)
					for i := range 1500 {
						r := &Request{ClientIP: addrs[(g+i)%len(addrs)], Tried: tried[:0]}
						tg, _, err := b.Pick(r)
						if err != nil {
							if err != ErrNoHealthyTargets {
								t.Errorf("Pick: %v", err)
								return
							}
							failed.Add(1)
							continue
						}
						picked.Add(1)
						tg.Acquire()
						switch i % 7 {
						case 0:
							tg.ReportStatus(500)
						case 1:
							tg.ReportTCPFailure()
						case 2:
							tg.ReportTimeout()
						default:
							tg.ReportStatus(200)
						}
						tg.Release()
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					_ = b.SetTargetHealth(addrs[i%len(addrs)], i%2 == 0)
					_ = b.Health()
					_ = b.BalancerHealth()
				}
			}()
			wg.Wait()
			b.Stop()
			if picked.Load() == 0 {
				t.Fatalf("no successful pick (%d failures)", failed.Load())
			}
			for _, tg := range b.Targets() {
				if tg.InFlight() != 0 {
					t.Fatalf("%s in-flight %d after all releases", tg.Addr, tg.InFlight())
				}
			}
		})
	}
}
