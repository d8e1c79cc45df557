package h1server

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestEarlyAnswerDuringUpload: a handler answers without reading a large
// body that the client is still sending. The connection must close
// without losing the response: a plain close with unread input makes the
// kernel send a reset, which can destroy the response before the client
// reads it (nginx avoids this with its lingering close, and so must we).
func TestEarlyAnswerDuringUpload(t *testing.T) {
	ts := startServer(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "6")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "denied")
	})})
	const bodySize = 8 << 20
	for i := range 10 {
		c := dialRaw(t, ts.addr)
		c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n")
		// The client finishes its upload before it reads the answer (as
		// a simple client does): by then the server has answered and is
		// closing. A reset would lose the answer; a lingering close reads
		// and discards the upload.
		werr := make(chan error, 1)
		go func() {
			chunk := strings.Repeat("x", 64<<10)
			for sent := 0; sent < bodySize; sent += len(chunk) {
				if _, err := io.WriteString(c.nc, chunk); err != nil {
					werr <- err
					return
				}
			}
			werr <- nil
		}()
		if err := <-werr; err != nil {
			t.Fatalf("attempt %d: upload failed: %v (the server reset the connection)", i, err)
		}
		resp, body, err := c.response(http.MethodPost)
		if err != nil {
			t.Fatalf("attempt %d: reading the early response: %v", i, err)
		}
		if resp.StatusCode != http.StatusForbidden || string(body) != "denied" {
			t.Fatalf("attempt %d: got %d %q, want 403 denied", i, resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("attempt %d: the response does not announce Connection: close", i)
		}
	}
}
