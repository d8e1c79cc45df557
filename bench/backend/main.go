// Command backend is the optional Go origin server for Weir's comparative
// benchmark (bench/run.sh --backend go).
//
// It answers every request with 200 and the same fixed body (1 KiB by
// default) that the default nginx backend returns: the 16-byte pattern
// "0123456789abcdef" repeated. It writes no access log and does nothing else,
// so that the cost of a proxied request is dominated by the proxy under test.
//
// Usage:
//
//	GOMAXPROCS=1 backend -listen 127.0.0.1:8080 -size 1024
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// pattern is repeated to build the response body; bench/run.sh builds the
// same bytes for its nginx backend and its response checks.
const pattern = "0123456789abcdef"

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (host:port)")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()

	h, err := newHandler(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	log.Printf("backend: serving %d-byte bodies on %s", *size, ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// body returns size bytes of the repeated pattern.
func body(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b
}

// newHandler returns a handler that answers every request with 200 and a
// fixed body of size bytes. size must be between 0 and 64 MiB.
func newHandler(size int) (http.Handler, error) {
	if size < 0 || size > 64<<20 {
		return nil, fmt.Errorf("size %d out of range 0..%d", size, 64<<20)
	}
	b := body(size)
	length := []string{strconv.Itoa(size)}
	ctype := []string{"text/plain"}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Length"] = length
		h["Content-Type"] = ctype
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	}), nil
}
