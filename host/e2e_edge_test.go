package host_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Edge cases of the HTTP/1.1 data path that are easy to get wrong in a
// proxy with its own upstream connection pool.

// closingBackend answers one request per connection, without saying
// Connection: close, then closes the connection and reports it: every
// pooled connection is dead by the time it is reused, as when the
// upstream's keep-alive timeout is shorter than Weir's.
func closingBackend(t *testing.T) (addr string, closed <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				if req, err := http.ReadRequest(bufio.NewReader(nc)); err == nil {
					io.Copy(io.Discard, req.Body)
					io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
				nc.Close()
				ch <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

func TestE2EStaleKeepAliveConnections(t *testing.T) {
	addr, closed := closingBackend(t)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: s
    url: http://%s
    retries: 0
    routes: [{name: s, paths: [/]}]
`, addr))
	c := newClient(t)
	for i := range 20 {
		var req *http.Request
		if i%2 == 0 {
			req, _ = http.NewRequest(http.MethodGet, proxyURL(srv)+"/g", nil)
		} else {
			req, _ = http.NewRequest(http.MethodPost, proxyURL(srv)+"/p", strings.NewReader("payload"))
		}
		// retries: 0, so only the stale-connection handling can save the
		// request.
		if r := do(t, c, req); r.Status != 200 || string(r.Body) != "ok" {
			t.Fatalf("request %d (%s) after the upstream closed the pooled connection: %d %q, want 200 ok", i, req.Method, r.Status, r.Body)
		}
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend did not close the connection")
		}
	}
}

func TestE2ETruncatedUpstreamBody(t *testing.T) {
	addr, _ := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: s
    url: http://%s
    routes: [{name: s, paths: [/]}]
`, addr))
	// Either the request fails outright (nothing was flushed yet) or the
	// body read does; never a clean, short body.
	resp, err := newClient(t).Get(proxyURL(srv) + "/t")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("client read %q and a clean end: a truncated upstream body must not look complete", b)
	}
}

func TestE2EClientAbortDoesNotPoisonPool(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	b := newBackend(t, "big", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			w.Write([]byte("small"))
			return
		}
		for i := 0; i < 1000; i++ { // 64 MB, far more than the client reads
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	for range 3 {
		resp, err := c.Get(proxyURL(srv) + "/big")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // abandon the rest
		for range 5 {
			r := get(t, c, proxyURL(srv)+"/small")
			if r.Status != 200 || string(r.Body) != "small" {
				t.Fatalf("after an aborted download: %d %q, want 200 small", r.Status, r.Body)
			}
		}
	}
}

func TestE2EStatusCodesWithoutBody(t *testing.T) {
	b := newBackend(t, "codes", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/103":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Write([]byte("final"))
		case "/404":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("upstream 404"))
		}
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "204", path: "/204", wantStatus: 204},
		{name: "304", path: "/304", wantStatus: 304},
		{name: "103 then 200", path: "/103", wantStatus: 200, wantBody: "final"},
		{name: "upstream 404 passes through", path: "/404", wantStatus: 404, wantBody: "upstream 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// twice: the connection must stay usable after each
			for range 2 {
				r := get(t, c, proxyURL(srv)+tc.path)
				if r.Status != tc.wantStatus || string(r.Body) != tc.wantBody {
					t.Fatalf("%d %q, want %d %q", r.Status, r.Body, tc.wantStatus, tc.wantBody)
				}
			}
		})
	}
	if got := b.Conns.Load(); got > 2 {
		t.Errorf("%d upstream connections for 8 bodyless/short exchanges, want ≤ 2", got)
	}
}

func TestE2EUpstreamConnectionClose(t *testing.T) {
	b := newBackend(t, "closer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	for i := range 10 {
		r := get(t, c, proxyURL(srv)+"/c")
		if r.Status != 200 || string(r.Body) != "bye" {
			t.Fatalf("request %d: %d %q", i, r.Status, r.Body)
		}
		if v := r.Header.Get("Connection"); strings.EqualFold(v, "close") {
			t.Errorf("the upstream's Connection: close leaked to the client")
		}
	}
	if got := b.Conns.Load(); got != 10 {
		t.Errorf("%d upstream connections for 10 requests answered with Connection: close, want 10", got)
	}
}

func TestE2EConcurrentNoCrossTalk(t *testing.T) {
	b := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-N", r.Header.Get("X-N"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.Write(body)
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for i := range 25 {
				n := g*1000 + i
				body := strings.Repeat(strconv.Itoa(n)+",", (n%7)*1000+1)
				url := proxyURL(srv) + "/e?n=" + strconv.Itoa(n)
				if n%3 == 0 {
					url += "&chunked=1"
				}
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("X-N", strconv.Itoa(n))
				resp, err := c.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(got) != body || resp.Header.Get("X-N") != strconv.Itoa(n) {
					errs <- fmt.Sprintf("request %d: status %d, X-N %q, %d/%d body bytes match=%v, err %v",
						n, resp.StatusCode, resp.Header.Get("X-N"), len(got), len(body), string(got) == body, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestE2ERequestIDHeaderSettings(t *testing.T) {
	b := newBackend(t, "id", nil)
	tests := []struct {
		name     string
		setting  string
		header   string // header expected on both sides; "" = none
		absentOf string // header that must not appear
	}{
		{name: "off", setting: "  request_id_header: 'off'", absentOf: "X-Request-Id"},
		{name: "custom name", setting: "  request_id_header: x-trace-id", header: "X-Trace-Id", absentOf: "X-Request-Id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWeir(t, streamConfig(b.Addr(), tc.setting))
			r := get(t, newClient(t), proxyURL(srv)+"/x")
			up := b.Last(t)
			if v := up.Header.Get(tc.absentOf); v != "" {
				t.Errorf("upstream got %s: %q", tc.absentOf, v)
			}
			if v := r.Header.Get(tc.absentOf); v != "" {
				t.Errorf("client got %s: %q", tc.absentOf, v)
			}
			if tc.header != "" {
				id := r.Header.Get(tc.header)
				if !isHexID(id) || up.Header.Get(tc.header) != id {
					t.Errorf("%s: client %q, upstream %q; want the same 32 hex digits", tc.header, id, up.Header.Get(tc.header))
				}
			}
		})
	}
}

func TestE2EHTTP1Trailers(t *testing.T) {
	b := newBackend(t, "trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("data"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc123")
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	resp, err := newClient(t).Get(proxyURL(srv) + "/t")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "data" {
		t.Fatalf("body %q err %v", body, err)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Errorf("trailer X-Checksum %q, want abc123 (trailers %v)", got, resp.Trailer)
	}
}

func TestE2EPathNormalizationBeforeRouting(t *testing.T) {
	b := newBackend(t, "pub", nil)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: public
    url: http://%s
    routes: [{name: public, paths: [/public], strip_path: false}]
`, b.Addr()))
	tests := []struct {
		name       string
		target     string
		wantStatus string
		wantURI    string
	}{
		{name: "dot segments out of the prefix", target: "/public/../admin", wantStatus: "404"},
		{name: "encoded dot segments out of the prefix", target: "/public/%2e%2e/admin", wantStatus: "404"},
		{name: "dot segments inside the prefix", target: "/public/a/../b", wantStatus: "200", wantURI: "/public/b"},
		{name: "encoded unreserved characters", target: "/public/%7Euser", wantStatus: "200", wantURI: "/public/~user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.Hits.Load()
			head, _ := rawExchange(t, srv.ProxyAddr().String(), "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(head[0], "HTTP/1.1 "+tc.wantStatus) {
				t.Fatalf("status line %q, want %s", head[0], tc.wantStatus)
			}
			if tc.wantURI == "" {
				if b.Hits.Load() != before {
					t.Errorf("backend was hit")
				}
				return
			}
			if got := b.Last(t).RequestURI; got != tc.wantURI {
				t.Errorf("upstream request-target %q, want %q", got, tc.wantURI)
			}
		})
	}
}

func TestE2EUpstreamHeadTooLarge(t *testing.T) {
	b := newBackend(t, "fat", func(w http.ResponseWriter, r *http.Request) {
		for i := range 100 {
			w.Header().Set("X-Fat-"+strconv.Itoa(i), strings.Repeat("f", 1000))
		}
		w.Write([]byte("x"))
	})
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	r := get(t, newClient(t), proxyURL(srv)+"/fat")
	decodeKongError(t, r, http.StatusBadGateway, "An invalid response was received from the upstream server")
}

func TestE2EExpectContinue(t *testing.T) {
	b := newBackend(t, "cont", nil)
	srv := startWeir(t, streamConfig(b.Addr(), "  server_tokens: true"))
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPut, proxyURL(srv)+"/upload", strings.NewReader("continued body"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	r := do(t, c, req)
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("the client waited out its Expect timeout: Weir did not answer 100 Continue")
	}
	up := b.Last(t)
	if string(up.Body) != "continued body" {
		t.Errorf("upstream body %q", up.Body)
	}
	if v := up.Header.Get("Expect"); v != "" {
		t.Errorf("upstream got Expect: %q (Weir already answered the client's)", v)
	}
}

func TestE2EUpstreamHostHeader(t *testing.T) {
	b := newBackend(t, "hh", nil)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: s
    host: up
    routes:
      - {name: plain, paths: [/plain]}
      - {name: kept, paths: [/kept], preserve_host: true}
upstreams:
  - name: up
    host_header: internal.example
    targets: [{target: %s}]
`, b.Addr()))
	c := newClient(t)
	tests := []struct {
		name     string
		path     string
		wantHost string
	}{
		{name: "upstream host_header", path: "/plain", wantHost: "internal.example"},
		{name: "preserve_host wins", path: "/kept", wantHost: "client.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+tc.path, nil)
			req.Host = "client.example"
			if r := do(t, c, req); r.Status != 200 {
				t.Fatalf("status %d", r.Status)
			}
			if got := b.Last(t).Host; got != tc.wantHost {
				t.Errorf("upstream Host %q, want %q", got, tc.wantHost)
			}
		})
	}
}
