package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// closingBackend answers one request per connection, advertising
// keep-alive, then closes the connection: every pooled connection Weir
// keeps is dead by the time it is reused (an upstream that restarted, or
// one with a shorter idle timeout than ours).
func closingBackend(t *testing.T, conns *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						break
					}
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			}(c)
		}
	}()
	return ln.Addr().String()
}

func TestStaleKeepAliveConnectionsAreRetriedFresh(t *testing.T) {
	var conns atomic.Int64
	addr := closingBackend(t, &conns)
	tr := NewTransport()
	defer tr.Close()
	h := NewHandler(benchSnapshot(t, addr), tr, nil)
	for i := 0; i < 20; i++ {
		w := &benchWriter{h: http.Header{}}
		h.ServeHTTP(w, benchRequest())
		if w.status != http.StatusOK || w.n != 2 {
			t.Fatalf("request %d: status %d, %d bytes; a dead pooled connection must be retried on a fresh one", i, w.status, w.n)
		}
	}
	if n := conns.Load(); n < 20 {
		t.Fatalf("backend saw %d connections for 20 requests; each request needs its own", n)
	}
}
