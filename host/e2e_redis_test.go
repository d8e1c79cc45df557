package host_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func redisRateConfig(beAddr, redisAddr string, limit int) string {
	host, port, _ := strings.Cut(redisAddr, ":")
	return `
_format_version: "3.0"
services:
  - name: api
    url: http://` + beAddr + `
    routes:
      - name: shared
        paths: [/shared]
        plugins:
          - name: rate-limiting
            config:
              hour: ` + strconv.Itoa(limit) + `
              limit_by: ip
              policy: redis
              redis: {host: "` + host + `", port: ` + port + `, timeout: 500}
      - name: tolerant
        paths: [/tolerant]
        plugins:
          - name: rate-limiting
            config:
              hour: 1000
              policy: redis
              fault_tolerant: true
              redis: {host: "` + host + `", port: ` + port + `, timeout: 500}
      - name: strict
        paths: [/strict]
        plugins:
          - name: rate-limiting
            config:
              hour: 1000
              policy: redis
              fault_tolerant: false
              redis_host: "` + host + `"
              redis_port: ` + port + `
              redis_timeout: 500
`
}

// TestE2ERateLimitingRedisCluster: two Weir servers (each with its own
// Redis client) sharing one redis-server enforce one global limit, even
// under concurrent requests spread over both.
func TestE2ERateLimitingRedisCluster(t *testing.T) {
	rs := startRedis(t)
	be := newBackend(t, "b1", nil)
	const limit = 10
	cfg := redisRateConfig(be.Addr(), rs.Addr(), limit)
	a, b := startWeir(t, cfg), startWeir(t, cfg)
	avoidWindowEdge(t, time.Hour, 30*time.Second)

	c := newClient(t)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := send(t, c, http.MethodGet, proxyURL(srv)+"/shared/x", "")
			switch r.Status {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != limit || limited.Load() != 40-limit {
		t.Fatalf("%d allowed, %d limited across two servers; want exactly %d allowed", ok.Load(), limited.Load(), limit)
	}
	// Both servers see the shared count.
	for _, srv := range []string{proxyURL(a), proxyURL(b)} {
		r := send(t, c, http.MethodGet, srv+"/shared/x", "")
		expectKong(t, srv, r, 429, "API rate limit exceeded")
		if r.Header.Get("X-RateLimit-Remaining-Hour") != "0" {
			t.Errorf("%s: remaining %q", srv, r.Header.Get("X-RateLimit-Remaining-Hour"))
		}
	}
	// The counter lives in Redis with an expiry at the window's end.
	keys, err := rs.Client(t).Keys(context.Background(), "weir:ratelimit:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("redis keys %v (%v), want one counter", keys, err)
	}
	ttl, err := rs.Client(t).TTL(context.Background(), keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour+time.Second {
		t.Fatalf("counter TTL %v (%v), want within the hour window", ttl, err)
	}
	if n, _ := rs.Client(t).Get(context.Background(), keys[0]).Int(); n != limit {
		t.Errorf("redis counter %d, want %d (rejected requests are not counted)", n, limit)
	}
}

// TestE2ERateLimitingRedisOutage: with Redis down, fault_tolerant=true
// lets traffic through (without rate-limit headers) and false answers 500,
// as Kong does; when Redis is back, limiting resumes.
func TestE2ERateLimitingRedisOutage(t *testing.T) {
	rs := startRedis(t)
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, redisRateConfig(be.Addr(), rs.Addr(), 10))
	c := newClient(t)
	base := proxyURL(srv)
	for _, p := range []string{"/tolerant/x", "/strict/x"} {
		r := send(t, c, http.MethodGet, base+p, "")
		if r.Status != 200 || r.Header.Get("X-RateLimit-Limit-Hour") != "1000" {
			t.Fatalf("%s with Redis up: %d %v", p, r.Status, r.Header)
		}
	}
	rs.Stop()
	r := send(t, c, http.MethodGet, base+"/tolerant/x", "")
	if r.Status != 200 {
		t.Fatalf("fault_tolerant=true with Redis down: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("X-RateLimit-Limit-Hour") != "" {
		t.Errorf("headers without usage: %v", r.Header)
	}
	before := be.Hits.Load()
	expectKong(t, "strict, Redis down", send(t, c, http.MethodGet, base+"/strict/x", ""), 500, "An unexpected error occurred")
	if be.Hits.Load() != before {
		t.Error("a fault_tolerant=false request reached the upstream with Redis down")
	}
	rs.Start(t)
	eventually(t, 10*time.Second, "limiting to resume after Redis restarts", func() bool {
		r := send(t, c, http.MethodGet, base+"/strict/x", "")
		return r.Status == 200 && r.Header.Get("X-RateLimit-Limit-Hour") == "1000"
	})
}

// weirProcess is a weir binary running in its own process.
type weirProcess struct {
	proxy string // base URL
	cmd   *exec.Cmd
}

// buildWeir builds ./cmd/weir into a temporary directory.
func buildWeir(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/weir").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/weir: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t testing.TB) string { return deadAddr(t) }

// startWeirProcess runs bin on cfg with every listener on 127.0.0.1 and
// waits (bounded) until it reports ready; it is killed when the test ends.
func startWeirProcess(t testing.TB, bin, cfg string) *weirProcess {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	proxyAddr, adminAddr, statusAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "run", "--config", path, "--proxy-listen", proxyAddr,
		"--https-listen", "off", "--admin-listen", adminAddr, "--status-listen", statusAddr, "--watch-interval", "0")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &http.Client{Timeout: time.Second}
	eventually(t, 60*time.Second, "weir process to become ready", func() bool {
		resp, err := c.Get("http://" + statusAddr + "/status/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return &weirProcess{proxy: "http://" + proxyAddr, cmd: cmd}
}

// TestE2ERateLimitingRedisTwoProcesses: two weir processes sharing one
// redis-server enforce one global limit (the acceptance test of the
// cluster-wide policy, with real processes).
func TestE2ERateLimitingRedisTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the weir binary")
	}
	bin := buildWeir(t)
	rs := startRedis(t)
	be := newBackend(t, "b1", nil)
	const limit = 12
	cfg := redisRateConfig(be.Addr(), rs.Addr(), limit)
	a, b := startWeirProcess(t, bin, cfg), startWeirProcess(t, bin, cfg)
	avoidWindowEdge(t, time.Hour, 30*time.Second)
	c := newClient(t)
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		base := a.proxy
		if i%2 == 1 {
			base = b.proxy
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := send(t, c, http.MethodGet, base+"/shared/x", "")
			switch r.Status {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != limit || limited.Load() != 30-limit {
		t.Fatalf("%d allowed, %d limited across two processes; want exactly %d allowed", ok.Load(), limited.Load(), limit)
	}
	if got := be.Hits.Load(); got != limit {
		t.Fatalf("backend saw %d requests, want %d", got, limit)
	}
}

// TestE2ERateLimitingRedisAuthAndDatabase: redis.password and
// redis.database are used (the counter lands in that database of a
// password-protected server); a wrong password is an outage handled per
// fault_tolerant.
func TestE2ERateLimitingRedisAuthAndDatabase(t *testing.T) {
	rs := startRedisWithPassword(t, "redis-pw")
	be := newBackend(t, "b1", nil)
	host, port, _ := strings.Cut(rs.Addr(), ":")
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: good
        paths: [/good]
        plugins:
          - name: rate-limiting
            config: {hour: 5, policy: redis, redis: {host: "`+host+`", port: `+port+`, password: redis-pw, database: 3}}
      - name: badpw
        paths: [/badpw]
        plugins:
          - name: rate-limiting
            config: {hour: 5, policy: redis, fault_tolerant: false, redis: {host: "`+host+`", port: `+port+`, password: nope}}
`)
	c := newClient(t)
	if r := send(t, c, http.MethodGet, proxyURL(srv)+"/good/x", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining-Hour") != "4" {
		t.Fatalf("good: %d %v", r.Status, r.Header)
	}
	keys, err := rs.Client(t, 3).Keys(context.Background(), "weir:ratelimit:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("database 3 keys %v (%v), want the counter", keys, err)
	}
	if keys0, _ := rs.Client(t, 0).Keys(context.Background(), "weir:ratelimit:*").Result(); len(keys0) != 0 {
		t.Fatalf("database 0 has %v", keys0)
	}
	expectKong(t, "wrong password", send(t, c, http.MethodGet, proxyURL(srv)+"/badpw/x", ""), 500, "An unexpected error occurred")
}
