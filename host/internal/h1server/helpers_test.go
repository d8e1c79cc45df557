package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ioTimeout bounds every blocking client operation in the tests, so a
// server bug shows up as a failure, not as a hung test.
const ioTimeout = 5 * time.Second

// lockedBuffer is a goroutine-safe log sink.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// quietLogger keeps expected panics out of the test output while letting
// tests inspect what was logged.
func quietLogger() (*slog.Logger, *lockedBuffer) {
	b := &lockedBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// testServer is a Server running on a loopback listener.
type testServer struct {
	srv       *Server
	addr      string
	serveDone chan struct{} // closed when Serve returned
	serveErr  error         // Serve's result, once serveDone is closed
	log       *lockedBuffer
}

// waitServe waits for Serve to return and gives its result.
func (ts *testServer) waitServe(t testing.TB) error {
	t.Helper()
	select {
	case <-ts.serveDone:
		return ts.serveErr
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}

// startServer serves s on 127.0.0.1:0 and closes it when the test ends.
func startServer(t testing.TB, s *Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: s, addr: ln.Addr().String(), serveDone: make(chan struct{})}
	if s.Logger == nil {
		s.Logger, ts.log = quietLogger()
	}
	go func() {
		ts.serveErr = s.Serve(ln)
		close(ts.serveDone)
	}()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-ts.serveDone:
			if !errors.Is(ts.serveErr, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", ts.serveErr)
			}
		case <-time.After(ioTimeout):
			t.Error("Serve did not return after Close")
		}
	})
	return ts
}

// rawConn is a client connection that speaks raw bytes.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(ioTimeout))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// response reads one response to a request with the given method, body
// included.
func (c *rawConn) response(method string) (*http.Response, []byte, error) {
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

// mustResponse is response for responses that must be complete.
func (c *rawConn) mustResponse(method string) (*http.Response, []byte) {
	c.t.Helper()
	resp, body, err := c.response(method)
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return resp, body
}

// closedWithin reports whether the server closes the connection within d
// without sending anything more. It returns the bytes that did arrive.
func (c *rawConn) closedWithin(d time.Duration) (closed bool, extra []byte) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	defer c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 4096)
	for range 1000 {
		n, err := c.br.Read(buf)
		extra = append(extra, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, extra
			}
			return true, extra // EOF or reset
		}
	}
	return false, extra
}

func (c *rawConn) expectClosed() {
	c.t.Helper()
	closed, extra := c.closedWithin(2 * time.Second)
	if !closed {
		c.t.Fatalf("connection still open (extra bytes %q)", extra)
	}
	if len(extra) > 0 {
		c.t.Fatalf("connection closed after extra bytes %q", extra)
	}
}

func (c *rawConn) expectOpen() {
	c.t.Helper()
	if closed, extra := c.closedWithin(100 * time.Millisecond); closed || len(extra) > 0 {
		c.t.Fatalf("connection closed=%v, extra bytes %q; want open and quiet", closed, extra)
	}
}

// seenRequest is what a handler observed, copied out of the reused
// request before the handler returned.
type seenRequest struct {
	Method, RequestURI, Path, RawQuery, Host, Proto string
	ProtoMinor                                      int
	Header                                          http.Header
	ContentLength                                   int64
	TransferEncoding                                []string
	Close                                           bool
	Body                                            string
	BodyErr                                         error
}

// recorder is a handler that records every request it serves, reads the
// whole body, and answers 200 "ok" with a Content-Length.
type recorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seenRequest{
		Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Host: r.Host, Proto: r.Proto, ProtoMinor: r.ProtoMinor, Header: r.Header.Clone(),
		ContentLength: r.ContentLength, TransferEncoding: append([]string(nil), r.TransferEncoding...),
		Close: r.Close,
	}
	b, err := io.ReadAll(r.Body)
	s.Body, s.BodyErr = string(b), err
	rec.mu.Lock()
	rec.seen = append(rec.seen, s)
	rec.mu.Unlock()
	w.Header().Set("Content-Length", "2")
	io.WriteString(w, "ok")
}

func (rec *recorder) requests() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenRequest(nil), rec.seen...)
}

// get is a minimal well-formed request.
func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n"
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func hasToken(v []string, tok string) bool {
	for _, s := range v {
		for _, f := range strings.Split(s, ",") {
			if strings.EqualFold(strings.TrimSpace(f), tok) {
				return true
			}
		}
	}
	return false
}

// TestMain fails the run if server goroutines outlive the tests: every
// test closes its server, and Close must end every connection goroutine.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := serverGoroutines(2 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked server goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// serverGoroutines waits up to d for goroutines running this package's
// server code to end, and returns the stacks of those that did not.
func serverGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "h1server.(*conn).serve") || strings.Contains(g, "h1server.(*Server).Serve") ||
				strings.Contains(g, "h1server.(*chanListener)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
