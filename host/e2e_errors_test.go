package host_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestE2EBadGatewayConnectionRefused(t *testing.T) {
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: dead
    url: http://%s
    retries: 2
    connect_timeout: 1000
    routes: [{name: dead, paths: [/dead]}]
`, deadAddr(t)))
	r := get(t, newClient(t), proxyURL(srv)+"/dead")
	decodeKongError(t, r, http.StatusBadGateway, "An invalid response was received from the upstream server")
	if got := r.Header.Values("Via"); len(got) != 1 || got[0] != "1.1 weir" {
		t.Errorf("error response Via %q, want [1.1 weir]", got)
	}
}

func TestE2ENoPeer(t *testing.T) {
	b := newBackend(t, "b", nil)
	unhealthy := newBackend(t, "sick", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: zero
    host: zero-up
    routes: [{name: zero, paths: [/zero]}]
  - name: sick
    host: sick-up
    routes: [{name: sick, paths: [/sick]}]
upstreams:
  - name: zero-up
    targets:
      - {target: %[1]s, weight: 0}
  - name: sick-up
    healthchecks:
      active:
        http_path: /health
        healthy: {interval: 0.1, successes: 1}
        unhealthy: {interval: 0.1, http_failures: 1}
    targets:
      - {target: %[2]s}
`, b.Addr(), unhealthy.Addr()))
	c := newClient(t)

	t.Run("all weights zero", func(t *testing.T) {
		r := get(t, c, proxyURL(srv)+"/zero")
		decodeKongError(t, r, http.StatusServiceUnavailable, "failure to get a peer from the ring-balancer")
		if b.Hits.Load() != 0 {
			t.Errorf("weight-0 target was hit %d times", b.Hits.Load())
		}
	})
	t.Run("all targets unhealthy", func(t *testing.T) {
		var last response
		eventually(t, 5*time.Second, "the only target to be marked unhealthy", func() bool {
			last = get(t, c, proxyURL(srv)+"/sick")
			return last.Status == http.StatusServiceUnavailable
		})
		decodeKongError(t, last, http.StatusServiceUnavailable, "failure to get a peer from the ring-balancer")
	})
}

func TestE2EGatewayTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: slow
    url: http://%s
    read_timeout: 200
    retries: 1
    routes: [{name: slow, paths: [/slow]}]
`, slow.Addr()))
	start := time.Now()
	r := get(t, newClient(t), proxyURL(srv)+"/slow")
	elapsed := time.Since(start)
	decodeKongError(t, r, http.StatusGatewayTimeout, "The upstream server is timing out")
	if elapsed < 200*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("answered after %v; want about read_timeout (200ms) per attempt", elapsed)
	}
	if n := slow.Hits.Load(); n < 1 || n > 2 {
		t.Errorf("backend hit %d times, want 1..2 (retries: 1)", n)
	}
}

func TestE2ERetryToLiveTarget(t *testing.T) {
	live := newBackend(t, "live", nil)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: mixed
    host: mixed-up
    connect_timeout: 1000
    routes: [{name: mixed, paths: [/mixed]}]
upstreams:
  - name: mixed-up
    targets:
      - {target: %s}
      - {target: %s}
`, deadAddr(t), live.Addr()))
	c := newClient(t)
	const n = 30
	for i := range n {
		r := get(t, c, proxyURL(srv)+"/mixed")
		if r.Status != http.StatusOK || string(r.Body) != "live" {
			t.Fatalf("request %d: status %d body %q, want 200 live", i, r.Status, r.Body)
		}
	}
	// A connection that was refused sent nothing: a POST is retried too,
	// with its body intact.
	for i := range 10 {
		req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/mixed", strings.NewReader("body-"+fmt.Sprint(i)))
		r := do(t, c, req)
		if r.Status != http.StatusOK {
			t.Fatalf("POST %d: status %d, want 200", i, r.Status)
		}
		if got := string(live.Last(t).Body); got != "body-"+fmt.Sprint(i) {
			t.Fatalf("POST %d: live target got body %q", i, got)
		}
	}
	if got := live.Hits.Load(); got != n+10 {
		t.Errorf("live target served %d requests, want %d", got, n+10)
	}
}

// resetBackend accepts connections, reads one request (head and body) and
// resets the connection without answering. It counts the requests read.
func resetBackend(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				hits.Add(1)
				nc.(*net.TCPConn).SetLinger(0) // RST on close
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), hits
}

func TestE2ENonIdempotentNotRetried(t *testing.T) {
	addr, hits := resetBackend(t)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: reset
    url: http://%s
    retries: 5
    routes: [{name: reset, paths: [/reset]}]
`, addr))
	c := newClient(t)

	t.Run("POST with a body", func(t *testing.T) {
		hits.Store(0)
		req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/reset", strings.NewReader(`{"pay":"once"}`))
		r := do(t, c, req)
		decodeKongError(t, r, http.StatusBadGateway, "An invalid response was received from the upstream server")
		if got := hits.Load(); got != 1 {
			t.Errorf("backend read the POST %d times, want exactly 1 (no retry after the request was sent)", got)
		}
	})
	t.Run("GET is retried", func(t *testing.T) {
		hits.Store(0)
		r := get(t, c, proxyURL(srv)+"/reset")
		decodeKongError(t, r, http.StatusBadGateway, "An invalid response was received from the upstream server")
		if got := hits.Load(); got != 6 {
			t.Errorf("backend read the GET %d times, want 6 (1 + retries: 5)", got)
		}
	})
}
