// Command httputilproxy is a baseline reverse proxy for Weir's comparative
// benchmark (bench/run.sh --httputil): the standard library's
// [httputil.ReverseProxy] with nothing added.
//
// It shows what a plain Go proxy costs on the same core, which separates
// the cost of net/http itself from the cost of Weir's own request path.
// Upstream connections are kept alive with a pool of -idle connections, the
// same pool size the harness gives nginx, HAProxy and Caddy. Proxy errors are
// logged to stderr; there is no access log.
//
// Usage:
//
//	GOMAXPROCS=1 httputilproxy -listen 127.0.0.1:8080 -upstream http://127.0.0.1:9090 -idle 64
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (host:port)")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9090")
	idle := flag.Int("idle", 64, "idle keep-alive connections kept to the upstream")
	flag.Parse()

	u, err := parseUpstream(*upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(2)
	}
	p, err := newProxy(u, *idle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(1)
	}
	log.Printf("httputilproxy: %s -> %s", ln.Addr(), u)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(1)
	}
}

// parseUpstream checks that raw is an absolute http URL with a host.
func parseUpstream(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("-upstream is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-upstream: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want http://host:port", raw)
	}
	return u, nil
}

// newProxy returns a ReverseProxy to upstream that keeps up to idle
// connections to it alive.
func newProxy(upstream *url.URL, idle int) (*httputil.ReverseProxy, error) {
	if idle < 1 {
		return nil, fmt.Errorf("-idle %d: want at least 1", idle)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = idle
	tr.MaxIdleConnsPerHost = idle
	tr.IdleConnTimeout = 90 * time.Second
	// Pass bodies through as they are: no Accept-Encoding added upstream.
	tr.DisableCompression = true
	// Plain HTTP/1.1 upstream, as nginx, HAProxy and Caddy use in the benchmark.
	tr.ForceAttemptHTTP2 = false
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.SetXForwarded()
		},
		Transport: tr,
	}, nil
}
