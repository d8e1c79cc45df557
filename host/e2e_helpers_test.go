package host_test

// End-to-end test helpers: a Weir server on 127.0.0.1:0 built from a YAML
// text, and recording HTTP backends. Every e2e_*_test.go file uses them.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirproxy/weir/host"
)

// testLogger discards logs unless WEIR_E2E_LOG is set, in which case they
// go to the test log (useful when a test fails).
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("WEIR_E2E_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startWeir writes yamlText to a temporary file, starts a Weir on it with
// every listener on 127.0.0.1:0, and shuts it down when the test ends.
func startWeir(t testing.TB, yamlText string) *host.Server {
	t.Helper()
	srv, _ := startWeirFile(t, yamlText)
	return srv
}

// startWeirFile is startWeir that also returns the config file's path
// (for reload and file watch tests). An empty yamlText serves the embedded
// default config (and the path is "").
func startWeirFile(t testing.TB, yamlText string) (*host.Server, string) {
	t.Helper()
	path := ""
	if yamlText != "" {
		path = filepath.Join(t.TempDir(), "weir.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := host.New(host.Options{
		ConfigPath:   path,
		ProxyListen:  "127.0.0.1:0",
		AdminListen:  "127.0.0.1:0",
		StatusListen: "127.0.0.1:0",
		HTTPSListen:  "127.0.0.1:0",
		Logger:       testLogger(t),
		Version:      "e2e",
	})
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, path
}

// proxyURL is the base URL of Weir's proxy listener.
func proxyURL(srv *host.Server) string { return "http://" + srv.ProxyAddr().String() }

// adminURL is the base URL of Weir's admin listener.
func adminURL(srv *host.Server) string { return "http://" + srv.AdminAddr().String() }

// statusURL is the base URL of Weir's status listener.
func statusURL(srv *host.Server) string { return "http://" + srv.StatusAddr().String() }

// newClient returns an HTTP/1.1 client with its own connection pool,
// closed when the test ends. It does not follow redirects and does not ask
// for compression, so tests see exactly what Weir sent.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// response is a fully read HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends req and reads the whole response; it fails the test on
// transport errors.
func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// get is do for a plain GET.
func get(t testing.TB, c *http.Client, url string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// getJSON GETs url, expects want, and decodes the body into v.
func getJSON(t testing.TB, c *http.Client, url string, want int, v any) {
	t.Helper()
	r := get(t, c, url)
	if r.Status != want {
		t.Fatalf("GET %s: status %d, want %d; body %s", url, r.Status, want, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Body, v); err != nil {
			t.Fatalf("GET %s: body is not JSON: %v\n%s", url, err, r.Body)
		}
	}
}

// kongError is Kong's error body.
type kongError struct {
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// decodeKongError decodes r's body as Kong's error JSON and checks the
// message and that a request id is present.
func decodeKongError(t testing.TB, r response, wantStatus int, wantMsg string) kongError {
	t.Helper()
	if r.Status != wantStatus {
		t.Fatalf("status %d, want %d; body %s", r.Status, wantStatus, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e kongError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("body is not Kong's error JSON: %v\n%s", err, r.Body)
	}
	if e.Message != wantMsg {
		t.Errorf("message %q, want %q", e.Message, wantMsg)
	}
	if !isHexID(e.RequestID) {
		t.Errorf("request_id %q is not 32 hex digits", e.RequestID)
	}
	if got := r.Header.Get("X-Request-Id"); got != e.RequestID {
		t.Errorf("X-Request-Id header %q differs from the body's request_id %q", got, e.RequestID)
	}
	return e
}

func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// recorded is what a backend saw of one request.
type recorded struct {
	Method     string
	RequestURI string
	Host       string
	Proto      string
	Header     http.Header
	Body       []byte
	RemoteAddr string
}

// backend is an HTTP/1.1 test backend that records every request and
// counts the connections it accepted. By default it answers 200 with its
// id in the body and in X-Backend-Id.
type backend struct {
	*httptest.Server
	ID    string
	Hits  atomic.Int64
	Conns atomic.Int64 // connections accepted

	mu   sync.Mutex
	reqs []recorded
}

// newBackend starts a backend on 127.0.0.1:0. h, when not nil, answers
// instead of the default handler (the request is recorded first, without
// its body; h reads the body itself).
func newBackend(t testing.TB, id string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{ID: id}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.Hits.Add(1)
		rec := recorded{
			Method:     r.Method,
			RequestURI: r.RequestURI,
			Host:       r.Host,
			Proto:      r.Proto,
			Header:     r.Header.Clone(),
			RemoteAddr: r.RemoteAddr,
		}
		if h != nil {
			b.record(rec)
			h(w, r)
			return
		}
		rec.Body, _ = io.ReadAll(r.Body)
		b.record(rec)
		w.Header().Set("X-Backend-Id", id)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, id)
	}))
	b.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.Conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func (b *backend) record(r recorded) {
	b.mu.Lock()
	b.reqs = append(b.reqs, r)
	b.mu.Unlock()
}

// Last returns the last request the backend saw.
func (b *backend) Last(t testing.TB) recorded {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatalf("backend %s received no request", b.ID)
	}
	return b.reqs[len(b.reqs)-1]
}

// Addr is the backend's host:port.
func (b *backend) Addr() string { return b.Listener.Addr().String() }

// deadAddr returns a 127.0.0.1 address nothing listens on: a port that was
// just bound and released.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postConfig POSTs a YAML config to the admin API and returns the response.
func postConfig(t testing.TB, c *http.Client, srv *host.Server, yamlText string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, adminURL(srv)+"/config", bytes.NewBufferString(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/yaml")
	return do(t, c, req)
}
