package h1server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn that reads a fixed input and records the output.
type memConn struct {
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

var (
	memLocal  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}
	memRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
)

func (c *memConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.in.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *memConn) Close() error                     { c.closed = true; return nil }
func (c *memConn) LocalAddr() net.Addr              { return memLocal }
func (c *memConn) RemoteAddr() net.Addr             { return memRemote }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// serveBytes runs one server connection over input, synchronously, and
// returns what the server wrote.
func serveBytes(s *Server, input []byte) []byte {
	s.mu.Lock()
	s.defaults()
	if s.conns == nil {
		s.lns = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
	}
	s.mu.Unlock()
	mc := &memConn{in: bytes.NewReader(input)}
	c := newConn(s, mc)
	if !s.track(c) {
		panic("server shut down")
	}
	c.serve()
	return mc.out.Bytes()
}

// fuzzSeeds are request streams from the parser tests.
var fuzzSeeds = []string{
	get("/") + get("/second"),
	"POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + get("/next"),
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n" + get("/next"),
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get("/smuggled"),
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n" + get("/smuggled"),
	"GET http://h.example/p HTTP/1.1\r\nHost: x\r\n\r\n",
	"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get("/"),
	"GET / HTTP/1.1\nHost: x\nX-A: b\n\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
	"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

// firstRequest is what the handler saw of the connection's first request.
type firstRequest struct {
	method, uri string
	chunked     bool
	length      int64
	body        []byte
	bodyErr     error
}

// FuzzReadRequest drives a server connection with arbitrary bytes. The
// server must not panic; every request the handler sees must have
// unambiguous framing and clean header values; and whenever net/http
// also accepts the first request and reads its body without error, both
// must agree on the method, target, framing and body bytes (a framing
// disagreement between two parsers is what request smuggling exploits).
func FuzzReadRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	logger, _ := quietLogger()
	f.Fuzz(func(t *testing.T, input []byte) {
		var (
			calls int
			first *firstRequest
		)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			checkRequestInvariants(t, r)
			body, err := io.ReadAll(r.Body)
			if calls == 1 {
				first = &firstRequest{method: r.Method, uri: r.RequestURI, chunked: len(r.TransferEncoding) > 0,
					length: r.ContentLength, body: body, bodyErr: err}
			}
			w.Header().Set("X-Reflect", r.Header.Get("X-A"))
			io.WriteString(w, "ok")
		})
		s := &Server{Handler: h, Logger: logger}
		out := serveBytes(s, input)
		if n := len(s.conns); n != 0 {
			t.Fatalf("%d connections still tracked", n)
		}
		// Each request gets one final response (and maybe a 100), plus at
		// most one refusal; the reflected header cannot add a line.
		got := bytes.Count(out, []byte("\nHTTP/1.1 "))
		if bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			got++
		}
		if max := calls + 1 + bytes.Count(bytes.ToLower(input), []byte("100-continue")); got > max {
			t.Fatalf("%d status lines for %d handled requests: %q", got, calls, out)
		}
		if first == nil || first.bodyErr != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(input)))
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		if req.Method != first.method || req.RequestURI != first.uri {
			t.Fatalf("net/http read %s %s, we read %s %s", req.Method, req.RequestURI, first.method, first.uri)
		}
		nhChunked := len(req.TransferEncoding) > 0
		if nhChunked != first.chunked || (!nhChunked && req.ContentLength != first.length) {
			t.Fatalf("framing disagreement: net/http chunked=%v length=%d, we chunked=%v length=%d",
				nhChunked, req.ContentLength, first.chunked, first.length)
		}
		if !bytes.Equal(body, first.body) {
			t.Fatalf("body disagreement: net/http %q, we %q", body, first.body)
		}
	})
}

func checkRequestInvariants(t *testing.T, r *http.Request) {
	t.Helper()
	for k, vv := range r.Header {
		if k == "" || strings.ContainsAny(k, " \t\r\n\x00:") {
			t.Fatalf("header name %q", k)
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("header %s value %q", k, v)
			}
		}
	}
	te, cl := r.Header["Transfer-Encoding"], r.Header["Content-Length"]
	if len(te) > 0 && len(cl) > 0 {
		t.Fatalf("both Transfer-Encoding %q and Content-Length %q", te, cl)
	}
	switch {
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") || r.ContentLength != -1 ||
			len(r.TransferEncoding) != 1 || r.ProtoMinor != 1 {
			t.Fatalf("chunked request: TE %q ContentLength %d TransferEncoding %q minor %d", te, r.ContentLength, r.TransferEncoding, r.ProtoMinor)
		}
	case len(cl) > 0:
		for _, v := range cl {
			if v != cl[0] {
				t.Fatalf("Content-Length values %q", cl)
			}
		}
		if n, err := strconv.ParseInt(cl[0], 10, 64); err != nil || n != r.ContentLength || strings.HasPrefix(cl[0], "+") {
			t.Fatalf("ContentLength %d from %q", r.ContentLength, cl)
		}
	default:
		if r.ContentLength != 0 || r.Body != http.NoBody {
			t.Fatalf("no framing but ContentLength %d", r.ContentLength)
		}
	}
	if hosts := r.Header["Host"]; len(hosts) > 1 || (r.ProtoMinor == 1 && len(hosts) != 1) {
		t.Fatalf("Host fields %q on HTTP/1.%d", hosts, r.ProtoMinor)
	}
	if r.ProtoMajor != 1 || (r.ProtoMinor != 0 && r.ProtoMinor != 1) {
		t.Fatalf("version %d.%d", r.ProtoMajor, r.ProtoMinor)
	}
	if r.Method == "" || r.Method == http.MethodConnect || strings.ContainsAny(r.Method, " \t\r\n\x00/") {
		t.Fatalf("method %q", r.Method)
	}
	if r.RequestURI == "" || strings.ContainsAny(r.RequestURI, " \t\r\n\x00#\x7f") {
		t.Fatalf("target %q", r.RequestURI)
	}
	if strings.ContainsAny(r.Host, " \t\r\n\x00/?#@\\\"") {
		t.Fatalf("Host %q", r.Host)
	}
}

// TestServeBytesHarness checks that the fuzz harness drives a connection
// the way the network does.
func TestServeBytesHarness(t *testing.T) {
	var paths []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		io.Copy(io.Discard, r.Body)
	})
	logger, _ := quietLogger()
	tests := []struct {
		name      string
		input     string
		wantPaths string
		wantOut   string // a substring of the output
	}{
		{name: "two requests", input: get("/a") + get("/b"), wantPaths: "[/a /b]", wantOut: "HTTP/1.1 200 OK"},
		{name: "smuggled after CL+TE", input: fuzzSeeds[3], wantPaths: "[]", wantOut: "HTTP/1.1 400 Bad Request"},
		{name: "smuggled after bad chunk", input: fuzzSeeds[8], wantPaths: "[/]", wantOut: "HTTP/1.1 200 OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths = nil
			out := serveBytes(&Server{Handler: h, Logger: logger}, []byte(tt.input))
			if fmt.Sprint(paths) != tt.wantPaths || !bytes.Contains(out, []byte(tt.wantOut)) {
				t.Fatalf("paths %v, output %q", paths, out)
			}
		})
	}
}
