package h1server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// benchRequest is a GET with five fields, as a browser or an API client
// sends it.
const benchRequest = "GET /api/v1/items?page=2 HTTP/1.1\r\n" +
	"Host: api.example.com\r\n" +
	"User-Agent: bench/1.0\r\n" +
	"Accept: application/json\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"X-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n" +
	"\r\n"

// benchHandler answers with a fixed 1 KiB body and a Content-Length; its
// header values are preallocated so only the server's allocations count.
func benchHandler() http.Handler {
	body := []byte(strings.Repeat("x", 1024))
	cl, ct := []string{"1024"}, []string{"application/json"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Length"] = cl
		h["Content-Type"] = ct
		w.Write(body)
	})
}

// BenchmarkServeRequest measures one request/response exchange on a
// keep-alive connection. The client side does not allocate (it writes a
// fixed request and reads a response of known size), so allocs/op are
// the server's. "nethttp" is net/http's server on the same exchange, for
// reference.
func BenchmarkServeRequest(b *testing.B) {
	for _, transport := range []string{"tcp", "pipe", "nethttp"} {
		b.Run(transport, func(b *testing.B) {
			s := &Server{Handler: benchHandler()}
			var nc net.Conn
			switch transport {
			case "tcp":
				ts := startServer(b, s)
				nc = dialRaw(b, ts.addr).nc
			case "nethttp":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				hs := &http.Server{Handler: benchHandler()}
				go hs.Serve(ln)
				b.Cleanup(func() { hs.Close() })
				nc = dialRaw(b, ln.Addr().String()).nc
			case "pipe":
				s.Logger, _ = quietLogger()
				s.mu.Lock()
				s.defaults()
				s.lns, s.conns = map[net.Listener]struct{}{}, map[*conn]struct{}{}
				s.mu.Unlock()
				client, server := net.Pipe()
				c := newConn(s, server)
				s.track(c)
				done := make(chan struct{})
				go func() { c.serve(); close(done) }()
				b.Cleanup(func() { client.Close(); <-done })
				nc = client
			}
			nc.SetDeadline(time.Time{})
			req := []byte(benchRequest)
			// The response's size does not change between requests (the
			// Date format is fixed-width), so one read of that size is one
			// response.
			if _, err := nc.Write(req); err != nil {
				b.Fatal(err)
			}
			first := make([]byte, 4096)
			n, size := 0, -1
			for size < 0 {
				m, err := nc.Read(first[n:])
				if err != nil {
					b.Fatal(err)
				}
				n += m
				if i := strings.Index(string(first[:n]), "\r\n\r\n"); i >= 0 && n >= i+4+1024 {
					size = i + 4 + 1024
				}
			}
			if n != size || !strings.HasPrefix(string(first), "HTTP/1.1 200 OK\r\n") {
				b.Fatalf("unexpected first response %q", first[:n])
			}
			buf := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(len(req) + size))
			b.ResetTimer()
			for b.Loop() {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !strings.HasPrefix(string(buf), "HTTP/1.1 200 OK\r\n") {
				b.Fatalf("last response %q", buf)
			}
		})
	}
}
