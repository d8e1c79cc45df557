package host_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used: the
// client, Weir and the backend all run in it.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBuiltinChain compares the plugin-free path with a route running
// key-auth + rate-limiting (local) (chain) and key-auth + rate-limiting +
// request-transformer + cors (chain4, bench/'s weir-chain), through real HTTP to a real backend:
//
//	go test -run '^$' -bench BuiltinChain -benchtime 5s ./host
//
// The ratio of the two ns/op is the chain's cost (docs/BENCHMARKS.md);
// cpu-ns/op (process CPU time per request: client, Weir and backend) is
// the steadier measure on a shared machine.
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
			cpu0 := cpuTime(b)
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
			// CPU per request is steadier than ns/op on a shared machine
			// (other processes take cores, not this process's CPU time).
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
