package h1server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, &Server{Handler: echoPath, IdleTimeout: 200 * time.Millisecond})
	c := dialRaw(t, ts.addr)
	c.send(get("/"))
	c.mustResponse("GET")
	start := time.Now()
	if closed, extra := c.closedWithin(2 * time.Second); !closed || len(extra) > 0 {
		t.Fatalf("idle connection: closed=%v extra=%q", closed, extra)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("closed after %v, IdleTimeout is 200ms", d)
	}
}

// TestIdleTimeoutRestartsPerRequest keeps a connection busy for longer
// than IdleTimeout in total, never idle for longer than half of it.
func TestIdleTimeoutRestartsPerRequest(t *testing.T) {
	const idle, pause = 500 * time.Millisecond, 150 * time.Millisecond
	ts := startServer(t, &Server{Handler: echoPath, IdleTimeout: idle})
	c := dialRaw(t, ts.addr)
	for i := range 6 { // 750 ms in all
		if i > 0 {
			time.Sleep(pause) // pacing, not synchronization
		}
		c.send(get("/"))
		if _, _, err := c.response("GET"); err != nil {
			t.Fatalf("request %d, %v into the connection: %v", i, time.Duration(i)*pause, err)
		}
	}
}

func TestSlowloris(t *testing.T) {
	var calls atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	ts := startServer(t, &Server{Handler: h, IdleTimeout: 300 * time.Millisecond})
	c := dialRaw(t, ts.addr)
	cut := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		io.Copy(io.Discard, c.br) // returns when the server closes
		cut <- time.Since(start)
	}()
	c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range 100 { // 5 s at most
		select {
		case d := <-cut:
			if d > 2*time.Second {
				t.Fatalf("cut after %v, IdleTimeout is 300ms", d)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("handler ran %d times", n)
			}
			return
		case <-tick.C:
			if _, err := c.nc.Write([]byte("a")); err != nil {
				select {
				case d := <-cut:
					if d > 2*time.Second {
						t.Fatalf("cut after %v", d)
					}
					return
				case <-time.After(ioTimeout):
					t.Fatal("write failed but the connection did not end")
				}
			}
		}
	}
	t.Fatal("a client sending one header byte every 50ms was never cut off")
}

func TestBodyTimeout(t *testing.T) {
	type result struct {
		n       int
		err     error
		elapsed time.Duration
	}
	res := make(chan result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b, err := io.ReadAll(r.Body)
		res <- result{len(b), err, time.Since(start)}
		w.WriteHeader(http.StatusRequestTimeout)
	})
	ts := startServer(t, &Server{Handler: h, BodyTimeout: 200 * time.Millisecond, IdleTimeout: 10 * time.Second})
	c := dialRaw(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc") // then stalls
	select {
	case r := <-res:
		var ne net.Error
		if r.n != 3 || !errors.As(r.err, &ne) || !ne.Timeout() {
			t.Fatalf("read %d bytes, err %v; want 3 and a timeout", r.n, r.err)
		}
		if r.elapsed > 1500*time.Millisecond {
			t.Fatalf("stalled body cut after %v, BodyTimeout is 200ms", r.elapsed)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a stalled body was not cut by BodyTimeout")
	}
	resp, _, _ := c.response("POST")
	if statusOf(resp) != http.StatusRequestTimeout {
		t.Errorf("status %d, want the handler's 408", statusOf(resp))
	}
	c.expectClosed()
}

// TestBodyTimeoutBetweenReads checks the timeout bounds each wait, not the
// whole body: a slow but steady upload finishes.
func TestBodyTimeoutBetweenReads(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	})
	ts := startServer(t, &Server{Handler: h, BodyTimeout: 400 * time.Millisecond})
	c := dialRaw(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n")
	for _, part := range []string{"ab", "cd", "ef", "gh"} {
		time.Sleep(150 * time.Millisecond) // pacing: 600 ms in all
		c.send(part)
	}
	if b := <-got; b != "abcdefgh" {
		t.Fatalf("body %q", b)
	}
}

func TestWriteTimeout(t *testing.T) {
	res := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB at most: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				res <- err
				return
			}
		}
		res <- nil
	})
	ts := startServer(t, &Server{Handler: h, WriteTimeout: 300 * time.Millisecond})
	c := dialRaw(t, ts.addr)
	c.send(get("/")) // and never read
	select {
	case err := <-res:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("handler write error %v, want a timeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("writes to a client that never reads were not cut by WriteTimeout")
	}
}

func TestShutdownGraceful(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(200 * time.Millisecond) // the in-flight work Shutdown waits for
			io.WriteString(w, "done")
			return
		}
		echoPath(w, r)
	})
	ts := startServer(t, &Server{Handler: h})

	idle := dialRaw(t, ts.addr)
	idle.send(get("/idle"))
	idle.mustResponse("GET")

	busy := dialRaw(t, ts.addr)
	busy.send(get("/slow"))
	<-started

	shutdownErr := make(chan error, 1)
	start := time.Now()
	go func() { shutdownErr <- ts.srv.Shutdown(context.Background()) }()

	if closed, _ := idle.closedWithin(time.Second); !closed {
		t.Fatal("Shutdown left an idle connection open")
	}
	idleClosed := time.Since(start)

	resp, body := busy.mustResponse("GET")
	if resp.StatusCode != 200 || string(body) != "done" {
		t.Fatalf("in-flight request: %d %q", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Error("response during Shutdown lacks Connection: close")
	}
	busy.expectClosed()
	if idleClosed > time.Since(start) {
		t.Errorf("idle connection closed after %v, later than the in-flight request", idleClosed)
	}

	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Shutdown did not return")
	}
	if err := ts.waitServe(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if nc, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		nc.Close()
		t.Fatal("new connection accepted after Shutdown")
	}
	if err := ts.srv.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestShutdownExpiredContext(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release // a handler stuck on something that is not the client
	})
	t.Cleanup(func() { close(release) }) // runs after the server's cleanup
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	c.send(get("/"))
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown with an expired context waits for a stuck handler")
	}
	c.expectClosed() // force-closed
	if err := ts.waitServe(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

func TestCloseInterruptsEverything(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		io.ReadAll(r.Body) // blocks until Close kills the connection
	})
	ts := startServer(t, &Server{Handler: h})
	c := dialRaw(t, ts.addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	idle := dialRaw(t, ts.addr)
	<-started
	ts.srv.Close()
	c.expectClosed()
	idle.expectClosed()
	if err := ts.waitServe(t); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// connStates records ConnState transitions per connection, keyed by the
// client's address.
type connStates struct {
	mu     sync.Mutex
	states map[string][]http.ConnState
	final  chan string // the key, on Closed or Hijacked
}

func newConnStates() *connStates {
	return &connStates{states: map[string][]http.ConnState{}, final: make(chan string, 16)}
}

func (cs *connStates) hook(nc net.Conn, st http.ConnState) {
	k := nc.RemoteAddr().String()
	cs.mu.Lock()
	cs.states[k] = append(cs.states[k], st)
	cs.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		cs.final <- k
	}
}

// wait returns the states of the connection from local once it ended.
func (cs *connStates) wait(t *testing.T, local string) []http.ConnState {
	t.Helper()
	deadline := time.After(ioTimeout)
	for {
		select {
		case k := <-cs.final:
			if k != local {
				continue
			}
			// Give a wrong extra callback a moment to show up.
			time.Sleep(20 * time.Millisecond)
			cs.mu.Lock()
			defer cs.mu.Unlock()
			return append([]http.ConnState(nil), cs.states[k]...)
		case <-deadline:
			cs.mu.Lock()
			defer cs.mu.Unlock()
			t.Fatalf("connection never ended; states so far %v", cs.states[local])
			return nil
		}
	}
}

func TestConnState(t *testing.T) {
	const (
		New      = http.StateNew
		Active   = http.StateActive
		Idle     = http.StateIdle
		Hijacked = http.StateHijacked
		Closed   = http.StateClosed
	)
	hijacker := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hijack" {
			echoPath(w, r)
			return
		}
		nc, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			nc.Close()
		}
	})
	tests := []struct {
		name string
		req  string // "" sends nothing
		want []http.ConnState
	}{
		{name: "one request", req: get("/"), want: []http.ConnState{New, Active, Idle, Closed}},
		{name: "two requests", req: get("/") + get("/"), want: []http.ConnState{New, Active, Idle, Active, Idle, Closed}},
		{name: "rejected", req: "GET / HTTP/1.1\r\n\r\n", want: []http.ConnState{New, Active, Closed}},
		{name: "closing request", req: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", want: []http.ConnState{New, Active, Closed}},
		{name: "nothing sent", want: []http.ConnState{New, Closed}},
		{name: "hijacked", req: get("/hijack"), want: []http.ConnState{New, Active, Hijacked}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newConnStates()
			ts := startServer(t, &Server{Handler: hijacker, ConnState: cs.hook})
			c := dialRaw(t, ts.addr)
			if tt.req != "" {
				c.send(tt.req)
				for range strings.Count(tt.req, "HTTP/1.1\r\n") {
					if _, _, err := c.response("GET"); err != nil {
						break
					}
				}
			}
			c.nc.Close()
			got := cs.wait(t, c.nc.LocalAddr().String())
			if len(got) != len(tt.want) {
				t.Fatalf("states %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("states %v, want %v", got, tt.want)
				}
			}
		})
	}
}
