package upstream

import (
	"net/http"
	"testing"

	"github.com/weirproxy/weir/host/config"
)

type pickCase struct {
	name string
	up   func(*config.Upstream)
	req  func() *http.Request
	// alloc-free is required for this input
	noAlloc bool
}

func pickCases() []pickCase {
	withHeaders := func() *http.Request {
		r := httpReq("/api/v1/users/42?id=7&x=1", map[string]string{"X-User": "user-42", "Cookie": "a=1; sess=3f1c2d4e-aaaa-4bbb-8ccc-123456789abc"})
		r.RemoteAddr = "10.1.2.3:5555"
		return r
	}
	hash := func(on, param string) func(*config.Upstream) {
		return func(u *config.Upstream) {
			u.Algorithm, u.HashOn = "consistent-hashing", on
			switch on {
			case "header":
				u.HashOnHeader = param
			case "cookie":
				u.HashOnCookie = param
			case "query_arg":
				u.HashOnQueryArg = param
			}
		}
	}
	return []pickCase{
		{name: "round-robin", up: func(u *config.Upstream) {}, req: withHeaders, noAlloc: true},
		{name: "least-connections", up: func(u *config.Upstream) { u.Algorithm = "least-connections" }, req: withHeaders, noAlloc: true},
		{name: "hash-ip", up: hash("ip", ""), req: withHeaders, noAlloc: true},
		{name: "hash-header", up: hash("header", "x-user"), req: withHeaders, noAlloc: true},
		{name: "hash-path", up: hash("path", ""), req: withHeaders, noAlloc: true},
		{name: "hash-cookie", up: hash("cookie", "sess"), req: withHeaders, noAlloc: true},
		{name: "hash-query_arg", up: hash("query_arg", "id"), req: withHeaders, noAlloc: true},
		{name: "hash-cookie-generated", up: hash("cookie", "sess"), req: func() *http.Request { return httpReq("/", nil) }},
	}
}

func newPickBalancer(tb testing.TB, c pickCase) *Balancer {
	u := config.Upstream{Name: "bench", Targets: targets(100, 100, 100, 100, 100, 100, 100, 100, 100, 100)}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 5 // health checks on: Pick consults health
	c.up(&u)
	b, err := New(u, Options{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestPickNoAlloc guards the zero-allocation promise of the hot path.
func TestPickNoAlloc(t *testing.T) {
	for _, c := range pickCases() {
		if !c.noAlloc {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			b := newPickBalancer(t, c)
			hr := c.req()
			var r Request
			allocs := testing.AllocsPerRun(200, func() {
				r = Request{HTTP: hr, ClientIP: "10.1.2.3"} // a new request each run: the hash is recomputed
				tg, _, err := b.Pick(&r)
				if err != nil || tg == nil {
					t.Fatalf("Pick: %v", err)
				}
			})
			if allocs != 0 {
				t.Fatalf("Pick allocates %.1f times per call", allocs)
			}
		})
	}
}

// BenchmarkPick measures one Pick of a fresh request over 10 targets.
func BenchmarkPick(b *testing.B) {
	for _, c := range pickCases() {
		b.Run(c.name, func(b *testing.B) {
			bal := newPickBalancer(b, c)
			hr := c.req()
			var r Request
			b.ReportAllocs()
			for b.Loop() {
				r = Request{HTTP: hr, ClientIP: "10.1.2.3"}
				if _, _, err := bal.Pick(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPickParallel shows contention (round-robin takes a mutex).
func BenchmarkPickParallel(b *testing.B) {
	for _, c := range pickCases()[:3] {
		b.Run(c.name, func(b *testing.B) {
			bal := newPickBalancer(b, c)
			hr := c.req()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var r Request
				for pb.Next() {
					r = Request{HTTP: hr, ClientIP: "10.1.2.3"}
					if _, _, err := bal.Pick(&r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkReportStatus is the passive-check cost per proxied response.
func BenchmarkReportStatus(b *testing.B) {
	u := config.Upstream{Name: "bench", Targets: targets(100)}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 5
	u.Healthchecks.Passive.Healthy.Successes = 5
	bal, err := New(u, Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	tg := bal.Targets()[0]
	b.ReportAllocs()
	for b.Loop() {
		tg.ReportStatus(200)
	}
}
