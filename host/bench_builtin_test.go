package host_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkBuiltinChain compares the plugin-free path with a route running
// key-auth + rate-limiting (local) (chain) and key-auth + rate-limiting +
// request-transformer + cors (chain4, bench/'s weir-chain), through real HTTP to a real backend:
//
//	go test -run '^$' -bench BuiltinChain -benchtime 5s ./host
//
// The ratio of the two ns/op is the chain's cost (docs/BENCHMARKS.md).
func BenchmarkBuiltinChain(b *testing.B) {
	be := newBackend(b, "b1", nil)
	srv := startWeir(b, `
_format_version: "3.0"
consumers:
  - username: alice
    keyauth_credentials: [{key: alice-key}]
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: plain
        paths: [/plain]
      - name: chain
        paths: [/chain]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: {second: 1000000000, hour: 1000000000000, limit_by: consumer}
      - name: chain4
        paths: [/chain4]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: {second: 1000000000, hour: 1000000000000, limit_by: consumer}
          - name: request-transformer
            config: {add: {headers: ["x-bench:1"]}}
          - name: cors
            config: {origins: ["*"]}
      - name: keyauth
        paths: [/keyauth]
        plugins:
          - name: key-auth
      - name: ratelimit
        paths: [/ratelimit]
        plugins:
          - name: rate-limiting
            config: {second: 1000000000, hour: 1000000000000, limit_by: ip}
`)
	c := newClient(b)
	for _, path := range []string{"/plain", "/chain", "/chain4", "/keyauth", "/ratelimit"} {
		b.Run(path[1:], func(b *testing.B) {
			url := proxyURL(srv) + path + "/x"
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("apikey", "alice-key")
				for pb.Next() {
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
