package host_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestE2EDefaultConfigEcho(t *testing.T) {
	srv := startWeir(t, "") // embedded default
	c := newClient(t)
	req, _ := http.NewRequest(http.MethodPost, proxyURL(srv)+"/anything?q=1", strings.NewReader("hello"))
	req.Header.Set("X-Custom", "abc")
	req.Header.Set("Authorization", "Bearer secret")
	r := do(t, c, req)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got struct {
		Route     string            `json:"route"`
		Service   string            `json:"service"`
		Method    string            `json:"method"`
		URI       string            `json:"uri"`
		Path      string            `json:"path"`
		ClientIP  string            `json:"client_ip"`
		RequestID string            `json:"request_id"`
		Headers   map[string]string `json:"headers"`
		BodyBytes int               `json:"body_bytes"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	if got.Route != "echo" || got.Service != "echo" {
		t.Errorf("route/service = %q/%q, want echo/echo", got.Route, got.Service)
	}
	if got.Method != "POST" || got.URI != "/anything?q=1" || got.Path != "/anything" {
		t.Errorf("method/uri/path = %q %q %q", got.Method, got.URI, got.Path)
	}
	if got.ClientIP != "127.0.0.1" {
		t.Errorf("client_ip %q, want 127.0.0.1", got.ClientIP)
	}
	if got.BodyBytes != 5 {
		t.Errorf("body_bytes %d, want 5", got.BodyBytes)
	}
	if got.Headers["X-Custom"] != "abc" {
		t.Errorf("headers[X-Custom] = %q, want abc", got.Headers["X-Custom"])
	}
	if got.Headers["Authorization"] == "Bearer secret" {
		t.Errorf("Authorization echoed in clear")
	}
	if !isHexID(got.RequestID) || r.Header.Get("X-Request-Id") != got.RequestID {
		t.Errorf("request_id %q, header %q: want the same 32 hex digits", got.RequestID, r.Header.Get("X-Request-Id"))
	}
}

// proxyTableConfig routes many paths to one backend to exercise the
// request rewriting rules.
func proxyTableConfig(b string, extraWeir string) string {
	return fmt.Sprintf(`_format_version: "3.0"
weir:
%[2]s
services:
  - name: nopath
    url: http://%[1]s
    routes:
      - {name: strip-nopath, paths: [/sn]}
      - {name: keep-nopath, paths: [/kn], strip_path: false}
      - {name: preserve, paths: [/preserve], preserve_host: true}
      - {name: methods, paths: [/m], methods: [POST, PUT]}
      - {name: hosts, paths: [/h], hosts: [api.example.com, "*.wild.test"]}
      - {name: headers, paths: [/hdr], headers: {x-version: [v2, v3]}}
      - {name: regex, paths: ['~/users/\d+$'], strip_path: false}
      - {name: https-only, paths: [/secure], protocols: [https]}
      - {name: r301, paths: [/r301], protocols: [https], https_redirect_status_code: 301}
      - {name: r308, paths: [/r308], protocols: [https], https_redirect_status_code: 308}
  - name: withpath
    url: http://%[1]s/s
    routes:
      - {name: strip-path, paths: [/sp]}
      - {name: keep-path, paths: [/kp], strip_path: false}
      - {name: tv0, paths: [/tv0]}
      - {name: fv0, paths: [/fv0], strip_path: false}
      - {name: tslash, paths: [/tslash/]}
      - {name: fslash, paths: [/fslash/], strip_path: false}
  - name: slashpath
    url: http://%[1]s/s2/
    routes:
      - {name: strip-slash, paths: [/ss]}
`, b, extraWeir)
}

func TestE2EProxyBehaviour(t *testing.T) {
	b := newBackend(t, "b1", nil)
	srv := startWeir(t, proxyTableConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	proxyHost := srv.ProxyAddr().String()
	_, proxyPort, _ := net.SplitHostPort(proxyHost)

	type check func(t *testing.T, up recorded, r response)
	hdrIs := func(name, want string) check {
		return func(t *testing.T, up recorded, r response) {
			if got := up.Header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want [%q]", name, got, want)
			}
		}
	}
	hdrAbsent := func(name string) check {
		return func(t *testing.T, up recorded, r response) {
			if got := up.Header.Values(name); len(got) != 0 {
				t.Errorf("upstream got %s = %q, want none", name, got)
			}
		}
	}

	tests := []struct {
		name       string
		method     string
		path       string
		host       string            // Host header; "" = Weir's address
		header     map[string]string // request headers
		wantStatus int
		wantURI    string // upstream request-target; "" = backend must not be hit
		wantHost   string // Host seen upstream; "" = not checked
		checks     []check
	}{
		// strip_path / service path joins (Kong path_handling v0).
		{name: "strip no service path", path: "/sn/a/b?x=1&y=%20z", wantStatus: 200, wantURI: "/a/b?x=1&y=%20z"},
		{name: "strip exact prefix", path: "/sn", wantStatus: 200, wantURI: "/"},
		{name: "strip trailing slash", path: "/sn/", wantStatus: 200, wantURI: "/"},
		{name: "no strip no service path", path: "/kn/a", wantStatus: 200, wantURI: "/kn/a"},
		{name: "strip with service path", path: "/sp/a", wantStatus: 200, wantURI: "/s/a"},
		{name: "strip with service path exact", path: "/sp", wantStatus: 200, wantURI: "/s"},
		{name: "no strip with service path", path: "/kp/a", wantStatus: 200, wantURI: "/s/kp/a"},
		{name: "kong v0 strip /tv0req", path: "/tv0req", wantStatus: 200, wantURI: "/s/req"},
		{name: "kong v0 no strip /fv0req", path: "/fv0req", wantStatus: 200, wantURI: "/s/fv0req"},
		{name: "kong v0 strip /tslash/req", path: "/tslash/req", wantStatus: 200, wantURI: "/s/req"},
		{name: "kong v0 no strip /fslash/req", path: "/fslash/req", wantStatus: 200, wantURI: "/s/fslash/req"},
		{name: "service path with trailing slash", path: "/ss/x", wantStatus: 200, wantURI: "/s2/x"},
		{name: "query string kept", path: "/kn/q?a=1&a=2&b=%2F&c", wantStatus: 200, wantURI: "/kn/q?a=1&a=2&b=%2F&c"},

		// Host.
		{name: "preserve_host false", path: "/sn/h", host: "client.example", wantStatus: 200, wantURI: "/h", wantHost: b.Addr()},
		{name: "preserve_host true", path: "/preserve/h", host: "client.example:8443", wantStatus: 200, wantURI: "/h", wantHost: "client.example:8443"},

		// Forwarding headers.
		{name: "x-forwarded-* set", path: "/sn/fwd", host: "front.example:1234", wantStatus: 200, wantURI: "/fwd",
			checks: []check{
				hdrIs("X-Forwarded-For", "127.0.0.1"),
				hdrIs("X-Forwarded-Proto", "http"),
				hdrIs("X-Forwarded-Host", "front.example"),
				hdrIs("X-Forwarded-Port", proxyPort),
				hdrIs("X-Forwarded-Prefix", "/sn"),
				hdrIs("X-Real-Ip", "127.0.0.1"),
				hdrIs("Via", "1.1 weir"),
			}},
		{name: "no prefix without strip", path: "/kn/fwd", wantStatus: 200, wantURI: "/kn/fwd",
			checks: []check{hdrAbsent("X-Forwarded-Prefix")}},
		{name: "x-forwarded-for appended", path: "/sn/xff", header: map[string]string{"X-Forwarded-For": "10.1.2.3, 10.4.5.6"},
			wantStatus: 200, wantURI: "/xff", checks: []check{hdrIs("X-Forwarded-For", "10.1.2.3, 10.4.5.6, 127.0.0.1")}},
		{name: "spoofed forwarding headers ignored from untrusted client", path: "/sn/spoof",
			header: map[string]string{
				"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "1",
				"X-Real-Ip": "6.6.6.6", "X-Forwarded-Prefix": "/evil",
			},
			wantStatus: 200, wantURI: "/spoof",
			checks: []check{
				hdrIs("X-Forwarded-Proto", "http"),
				hdrIs("X-Forwarded-Host", "127.0.0.1"),
				hdrIs("X-Forwarded-Port", proxyPort),
				hdrIs("X-Real-Ip", "127.0.0.1"),
				hdrIs("X-Forwarded-Prefix", "/sn"),
			}},

		// Request id and server tokens.
		{name: "request id generated", path: "/sn/id", wantStatus: 200, wantURI: "/id",
			checks: []check{func(t *testing.T, up recorded, r response) {
				id := r.Header.Get("X-Request-Id")
				if !isHexID(id) {
					t.Errorf("response X-Request-Id %q is not 32 hex digits", id)
				}
				if got := up.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
					t.Errorf("upstream X-Request-Id %q, response %q: want the same", got, id)
				}
			}}},
		{name: "incoming request id kept", path: "/sn/id2", header: map[string]string{"X-Request-Id": "client-chosen-id-42"},
			wantStatus: 200, wantURI: "/id2",
			checks: []check{hdrIs("X-Request-Id", "client-chosen-id-42"), func(t *testing.T, up recorded, r response) {
				if got := r.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "client-chosen-id-42" {
					t.Errorf("response X-Request-Id %q, want [client-chosen-id-42]", got)
				}
			}}},
		{name: "via and server on the response", path: "/sn/via", wantStatus: 200, wantURI: "/via",
			checks: []check{func(t *testing.T, up recorded, r response) {
				if got := r.Header.Values("Via"); len(got) != 1 || got[0] != "1.1 weir" {
					t.Errorf("response Via %q, want [1.1 weir]", got)
				}
				if got := r.Header.Values("Server"); len(got) != 1 || got[0] != "weir" {
					t.Errorf("response Server %q, want [weir]", got)
				}
				if string(r.Body) != "b1" {
					t.Errorf("body %q, want b1", r.Body)
				}
			}}},

		// Route matching.
		{name: "method matches", method: "POST", path: "/m/x", wantStatus: 200, wantURI: "/x"},
		{name: "method does not match", method: "GET", path: "/m/x", wantStatus: 404},
		{name: "host matches", path: "/h/x", host: "api.example.com", wantStatus: 200, wantURI: "/x"},
		{name: "host with port matches", path: "/h/x", host: "api.example.com:8000", wantStatus: 200, wantURI: "/x"},
		{name: "wildcard host matches", path: "/h/x", host: "a.wild.test", wantStatus: 200, wantURI: "/x"},
		{name: "host does not match", path: "/h/x", host: "other.example.com", wantStatus: 404},
		{name: "header matches", path: "/hdr/x", header: map[string]string{"X-Version": "v3"}, wantStatus: 200, wantURI: "/x"},
		{name: "header value does not match", path: "/hdr/x", header: map[string]string{"X-Version": "v1"}, wantStatus: 404},
		{name: "header missing", path: "/hdr/x", wantStatus: 404},
		{name: "regex route", path: "/users/42", wantStatus: 200, wantURI: "/users/42"},
		{name: "regex route anchored", path: "/users/42/x", wantStatus: 404},
		{name: "regex route digits only", path: "/users/abc", wantStatus: 404},
		{name: "no route", path: "/nowhere", wantStatus: 404},

		// HEAD.
		{name: "head", method: "HEAD", path: "/sn/head", wantStatus: 200, wantURI: "/head",
			checks: []check{func(t *testing.T, up recorded, r response) {
				if up.Method != "HEAD" {
					t.Errorf("upstream method %q, want HEAD", up.Method)
				}
				if len(r.Body) != 0 {
					t.Errorf("HEAD response has a body: %q", r.Body)
				}
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, proxyURL(srv)+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			before := b.Hits.Load()
			r := do(t, c, req)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantURI == "" {
				if n := b.Hits.Load() - before; n != 0 {
					t.Errorf("backend hit %d times, want 0", n)
				}
				if tc.wantStatus == http.StatusNotFound {
					decodeKongError(t, r, 404, "no Route matched with those values")
				}
				return
			}
			if n := b.Hits.Load() - before; n != 1 {
				t.Fatalf("backend hit %d times, want 1", n)
			}
			up := b.Last(t)
			if up.RequestURI != tc.wantURI {
				t.Errorf("upstream request-target %q, want %q", up.RequestURI, tc.wantURI)
			}
			if tc.wantHost != "" && up.Host != tc.wantHost {
				t.Errorf("upstream Host %q, want %q", up.Host, tc.wantHost)
			}
			for _, ck := range tc.checks {
				ck(t, up, r)
			}
		})
	}
}

func TestE2ETrustedForwardedHeaders(t *testing.T) {
	b := newBackend(t, "b1", nil)
	srv := startWeir(t, proxyTableConfig(b.Addr(), "  trusted_ips: [127.0.0.1]"))
	c := newClient(t)
	req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+"/sn/t", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "public.example")
	req.Header.Set("X-Forwarded-Port", "443")
	req.Header.Set("X-Real-Ip", "203.0.113.9")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	r := do(t, c, req)
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	up := b.Last(t)
	for name, want := range map[string]string{
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "public.example",
		"X-Forwarded-Port":  "443",
		"X-Real-Ip":         "203.0.113.9",
		"X-Forwarded-For":   "203.0.113.9, 127.0.0.1",
	} {
		if got := up.Header.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want [%q] (client is trusted)", name, got, want)
		}
	}
}

func TestE2EUpstreamServerHeaderKept(t *testing.T) {
	b := newBackend(t, "srv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		w.Header().Set("Via", "1.0 inner")
		io.WriteString(w, "ok")
	})
	srv := startWeir(t, proxyTableConfig(b.Addr(), "  server_tokens: true"))
	r := get(t, newClient(t), proxyURL(srv)+"/sn/x")
	if got := r.Header.Values("Server"); len(got) != 1 || got[0] != "backend/1.0" {
		t.Errorf("Server %q, want only the upstream's [backend/1.0]", got)
	}
	if got := strings.Join(r.Header.Values("Via"), ", "); got != "1.0 inner, 1.1 weir" {
		t.Errorf("Via %q, want %q", got, "1.0 inner, 1.1 weir")
	}
}

func TestE2EHTTPSRedirects(t *testing.T) {
	b := newBackend(t, "b1", nil)
	srv := startWeir(t, proxyTableConfig(b.Addr(), "  server_tokens: true"))
	c := newClient(t)
	tests := []struct {
		name         string
		path         string
		wantStatus   int
		wantLocation string
	}{
		{name: "426 by default", path: "/secure/x", wantStatus: 426},
		{name: "301", path: "/r301/x?a=1", wantStatus: 301, wantLocation: "https://front.example/r301/x?a=1"},
		{name: "308", path: "/r308/y", wantStatus: 308, wantLocation: "https://front.example/r308/y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.Hits.Load()
			req, _ := http.NewRequest(http.MethodGet, proxyURL(srv)+tc.path, nil)
			req.Host = "front.example:8000"
			r := do(t, c, req)
			if b.Hits.Load() != before {
				t.Errorf("backend was hit")
			}
			if tc.wantStatus == 426 {
				decodeKongError(t, r, 426, "Please use HTTPS protocol")
				return
			}
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d", r.Status, tc.wantStatus)
			}
			if got := r.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location %q, want %q", got, tc.wantLocation)
			}
		})
	}
}

// rawBackend is a TCP backend that reads one request head per connection
// and answers with a fixed raw response, then closes. It sends each
// request it read on the returned channel.
func rawBackend(t *testing.T, rawResponse string) (addr string, reqs <-chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *http.Request, 16)
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
				select {
				case ch <- req:
				default:
				}
				io.WriteString(nc, rawResponse)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

// rawExchange sends a raw request to addr and returns the raw response
// head (status line and header lines) and the body bytes that follow.
func rawExchange(t *testing.T, addr, rawRequest string) (head []string, rest []byte) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, rawRequest); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response head: %v (so far %q)", err, head)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		head = append(head, line)
	}
	rest, _ = io.ReadAll(br)
	return head, rest
}

func headValues(head []string, name string) []string {
	var out []string
	for _, l := range head[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func TestE2EHopByHopHeaders(t *testing.T) {
	const upstreamResp = "HTTP/1.1 200 OK\r\n" +
		"Connection: X-Secret, keep-alive\r\n" +
		"X-Secret: must-not-pass\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Transfer-Encoding: chunked\r\n" +
		"X-Public: p\r\n" +
		"\r\n" +
		"5\r\nhello\r\n0\r\n\r\n"
	addr, reqs := rawBackend(t, upstreamResp)
	srv := startWeir(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: raw
    url: http://%s
    routes: [{name: raw, paths: [/]}]
`, addr))

	head, rest := rawExchange(t, srv.ProxyAddr().String(),
		"POST /hop HTTP/1.1\r\n"+
			"Host: example.test\r\n"+
			"Connection: close, X-Foo\r\n"+
			"X-Foo: must-not-pass\r\n"+
			"Keep-Alive: timeout=9\r\n"+
			"Proxy-Connection: keep-alive\r\n"+
			"Te: gzip\r\n"+
			"Transfer-Encoding: chunked\r\n"+
			"X-Bar: kept\r\n"+
			"\r\n"+
			"3\r\nabc\r\n0\r\n\r\n")

	var up *http.Request
	select {
	case up = <-reqs:
	case <-time.After(5 * time.Second):
		t.Fatal("backend received nothing")
	}
	// Request direction.
	for _, h := range []string{"X-Foo", "Keep-Alive", "Proxy-Connection", "Te"} {
		if v := up.Header.Values(h); len(v) != 0 {
			t.Errorf("upstream request has hop-by-hop %s: %q", h, v)
		}
	}
	if v := up.Header.Values("Connection"); len(v) != 0 {
		t.Errorf("upstream request has the client's Connection %q", v)
	}
	if up.Close {
		t.Errorf("the client's Connection: close reached the upstream")
	}
	if got := up.Header.Get("X-Bar"); got != "kept" {
		t.Errorf("X-Bar %q, want kept", got)
	}
	if len(up.TransferEncoding) != 1 || up.TransferEncoding[0] != "chunked" {
		t.Errorf("upstream Transfer-Encoding %q, want exactly [chunked]", up.TransferEncoding)
	}
	if body, _ := io.ReadAll(up.Body); string(body) != "abc" {
		t.Errorf("upstream body %q, want abc", body)
	}

	// Response direction.
	if !strings.HasPrefix(head[0], "HTTP/1.1 200") {
		t.Fatalf("status line %q", head[0])
	}
	for _, h := range []string{"X-Secret", "Keep-Alive"} {
		if v := headValues(head, h); len(v) != 0 {
			t.Errorf("client got hop-by-hop %s: %q", h, v)
		}
	}
	for _, v := range headValues(head, "Connection") {
		if strings.Contains(strings.ToLower(v), "x-secret") {
			t.Errorf("client got the upstream's Connection %q", v)
		}
	}
	if v := headValues(head, "Transfer-Encoding"); len(v) > 1 {
		t.Errorf("Transfer-Encoding repeated: %q", v)
	}
	if v := headValues(head, "X-Public"); len(v) != 1 || v[0] != "p" {
		t.Errorf("X-Public %q, want [p]", v)
	}
	// The client asked to close: Weir answers with Connection: close.
	if v := headValues(head, "Connection"); len(v) != 1 || !strings.EqualFold(v[0], "close") {
		t.Errorf("Connection %q, want [close]", v)
	}
	body := string(rest)
	if cl := headValues(head, "Content-Length"); len(cl) == 1 {
		n, _ := strconv.Atoi(cl[0])
		if n != 5 || body != "hello" {
			t.Errorf("body %q (Content-Length %d), want hello", body, n)
		}
	} else if !strings.Contains(body, "hello") {
		t.Errorf("body %q does not contain hello", body)
	}
}
