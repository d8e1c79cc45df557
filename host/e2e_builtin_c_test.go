package host_test

import (
	"strings"
	"testing"
	"time"
)

// Tests of the built-in plugins rewritten in C (key-auth, rate-limiting,
// request-transformer, cors) that were Go unit tests of the Go versions
// (plugins-src/*/plugin_test.go, main_test.go) or are bugs found while
// porting: the same facts, proven through real HTTP requests to Weir.

// TestE2ERateLimitingRejectHeadersOnce: the 429 answer carries each
// rate-limiting header exactly once (the Go plugin sent its headers with
// the local response and again from its response-header callback, which
// the host runs for local responses too, so every X-RateLimit-* header
// came twice).
func TestE2ERateLimitingRejectHeadersOnce(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: minute
        paths: [/minute]
        plugins:
          - name: rate-limiting
            config: {minute: 1, limit_by: ip}
      - name: two
        paths: [/two]
        plugins:
          - name: rate-limiting
            config: {second: 1, hour: 100, limit_by: ip}
`)
	c := newClient(t)
	base := proxyURL(srv)
	avoidWindowEdge(t, time.Minute, 5*time.Second)
	tests := []struct {
		name, path string
		headers    []string
	}{
		{name: "one window", path: "/minute", headers: []string{"X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute",
			"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"}},
		{name: "two windows", path: "/two", headers: []string{"X-RateLimit-Limit-Second", "X-RateLimit-Remaining-Second",
			"X-RateLimit-Limit-Hour", "X-RateLimit-Remaining-Hour", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := send(t, c, "GET", base+tt.path, "")
			if ok.Status != 200 {
				t.Fatalf("first request: status %d", ok.Status)
			}
			r := send(t, c, "GET", base+tt.path, "")
			expectKong(t, "second request", r, 429, "API rate limit exceeded")
			for _, h := range tt.headers {
				if vs := r.Header.Values(h); len(vs) != 1 {
					t.Errorf("%s: %d values %q, want exactly one", h, len(vs), vs)
				}
			}
			if vs := r.Header.Values("Content-Type"); len(vs) != 1 || !strings.HasPrefix(vs[0], "application/json") {
				t.Errorf("Content-Type %q, want one JSON content type", vs)
			}
		})
	}
}
