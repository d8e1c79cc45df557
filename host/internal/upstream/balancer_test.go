package upstream

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/weirproxy/weir/host/config"
)

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		u    config.Upstream
		want string
	}{
		{name: "no name", u: config.Upstream{}, want: "name is required"},
		{name: "bad algorithm", u: config.Upstream{Name: "u", Algorithm: "random"}, want: "algorithm"},
		{name: "bad hash_on", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "moon"}, want: "hash_on"},
		{name: "header without name", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "header"}, want: "hash_on_header"},
		{name: "cookie without name", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "cookie"}, want: "hash_on_cookie"},
		{name: "sticky without cookie", u: config.Upstream{Name: "u", Algorithm: "sticky-sessions"}, want: "hash_on_cookie"},
		{name: "bad cookie name", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "cookie", HashOnCookie: "a;b"}, want: "hash_on_cookie"},
		{name: "bad cookie path", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "cookie", HashOnCookie: "c", HashOnCookiePath: "/;x"}, want: "hash_on_cookie_path"},
		{name: "bad fallback", u: config.Upstream{Name: "u", Algorithm: "consistent-hashing", HashOn: "ip", HashFallback: "query_arg"}, want: "hash_fallback_query_arg"},
		{name: "threshold", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Threshold: 101}}, want: "threshold"},
		{name: "probe type", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Active: config.ActiveHealthcheck{Type: "udp"}}}, want: "active.type"},
		{name: "probe path", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Active: config.ActiveHealthcheck{HTTPPath: "health"}}}, want: "http_path"},
		{name: "probe header", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Active: config.ActiveHealthcheck{Headers: map[string][]string{"X-A": {"a\r\nb"}}}}}, want: "headers"},
		{name: "status range", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{HTTPStatuses: []int{700}}}}}, want: "http_statuses"},
		{name: "counter range", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{TCPFailures: 300}}}}, want: "tcp_failures"},
		{name: "negative interval", u: config.Upstream{Name: "u", Healthchecks: config.Healthchecks{Active: config.ActiveHealthcheck{Healthy: config.Healthy{Interval: -1}}}}, want: "interval"},
		{name: "weight range", u: config.Upstream{Name: "u", Targets: []config.Target{{Target: "a:1", Weight: intp(70000)}}}, want: "weight"},
		{name: "duplicate target", u: config.Upstream{Name: "u", Targets: []config.Target{{Target: "a:1"}, {Target: "a:1"}}}, want: "twice"},
		{name: "bad port", u: config.Upstream{Name: "u", Targets: []config.Target{{Target: "a:99999"}}}, want: "port"},
		{name: "empty target", u: config.Upstream{Name: "u", Targets: []config.Target{{Target: ""}}}, want: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.u, Options{Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{in: "10.0.0.1:80", want: "10.0.0.1:80"},
		{in: "10.0.0.1", want: "10.0.0.1:8000"},
		{in: "example.com", want: "example.com:8000"},
		{in: "[::1]:81", want: "[::1]:81"},
		{in: "[::1]", want: "[::1]:8000"},
		{in: "::1", want: "[::1]:8000"},
	}
	for _, tc := range tests {
		got, err := normalizeAddr(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRoundRobinWeightedExact(t *testing.T) {
	b := mustNew(t, config.Upstream{Targets: targets(5, 1, 1, 0)}, Options{})
	a, bb, c := "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"
	// nginx's smooth weighted round-robin sequence for 5,1,1.
	want := []string{a, a, bb, a, c, a, a}
	for cycle := range 3 {
		for i, w := range want {
			if got := mustPick(t, b, &Request{}).Addr; got != w {
				t.Fatalf("cycle %d pick %d = %s, want %s", cycle, i, got, w)
			}
		}
	}
	got := counts(t, b, 7*100, func(int) *Request { return &Request{} })
	if got[a] != 500 || got[bb] != 100 || got[c] != 100 || got["127.0.0.1:1004"] != 0 {
		t.Fatalf("counts over 100 cycles = %v, want 500/100/100 and weight 0 never", got)
	}
}

func TestRoundRobinSkipsUnhealthyAndTried(t *testing.T) {
	u := config.Upstream{Targets: targets(1, 1, 1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	b := mustNew(t, u, Options{Cooldown: -1})
	t1, t2, t3 := b.Target("127.0.0.1:1001"), b.Target("127.0.0.1:1002"), b.Target("127.0.0.1:1003")
	t1.ReportTCPFailure()
	got := counts(t, b, 30, func(int) *Request { return &Request{} })
	if got[t1.Addr] != 0 || got[t2.Addr] != 15 || got[t3.Addr] != 15 {
		t.Fatalf("counts = %v, want unhealthy skipped and 15/15", got)
	}
	for range 10 {
		if tg := mustPick(t, b, &Request{Tried: []*Target{t2}}); tg != t3 {
			t.Fatalf("picked %s, want the untried healthy %s", tg.Addr, t3.Addr)
		}
	}
	// Every healthy target tried: a tried one is better than none.
	if tg := mustPick(t, b, &Request{Tried: []*Target{t2, t3}}); tg != t2 && tg != t3 {
		t.Fatalf("picked %s, want a tried healthy target", tg.Addr)
	}
	t2.ReportTCPFailure()
	t3.ReportTCPFailure()
	if _, _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("all unhealthy: err = %v, want ErrNoHealthyTargets", err)
	}
	if ErrNoHealthyTargets.Error() != "failure to get a peer from the ring-balancer" {
		t.Fatalf("message %q is not Kong's", ErrNoHealthyTargets)
	}
}

func TestLeastConnections(t *testing.T) {
	tests := []struct {
		name     string
		algo     string
		weights  []int
		inflight []int
		want     string
	}{
		{name: "prefers idle", algo: "least-connections", weights: []int{100, 100, 100}, inflight: []int{2, 1, 0}, want: "127.0.0.1:1003"},
		{name: "fewest", algo: "least-connections", weights: []int{100, 100, 100}, inflight: []int{3, 1, 2}, want: "127.0.0.1:1002"},
		{name: "relative to weight", algo: "least-connections", weights: []int{300, 100}, inflight: []int{1, 0}, want: "127.0.0.1:1001"},
		{name: "latency is least-connections", algo: "latency", weights: []int{100, 100}, inflight: []int{5, 4}, want: "127.0.0.1:1002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, config.Upstream{Algorithm: tc.algo, Targets: targets(tc.weights...)}, Options{})
			for i, n := range tc.inflight {
				for range n {
					b.active[i].Acquire()
				}
			}
			for range 5 {
				if got := mustPick(t, b, &Request{}).Addr; got != tc.want {
					t.Fatalf("Pick = %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestLeastConnectionsTiesRotate(t *testing.T) {
	b := mustNew(t, config.Upstream{Algorithm: "least-connections", Targets: targets(1, 1, 1, 1)}, Options{})
	got := counts(t, b, 400, func(int) *Request { return &Request{} })
	for _, tg := range b.active {
		if got[tg.Addr] != 100 {
			t.Fatalf("idle ties: counts = %v, want 100 each", got)
		}
	}
	// Acquire/Release drive the choice: hold one on each pick.
	held := make([]*Target, 0, 8)
	for range 8 {
		tg := mustPick(t, b, &Request{})
		tg.Acquire()
		held = append(held, tg)
	}
	for _, tg := range b.active {
		if tg.InFlight() != 2 {
			t.Fatalf("target %s in-flight %d after 8 held picks over 4 targets, want 2", tg.Addr, tg.InFlight())
		}
	}
	for _, tg := range held {
		tg.Release()
		tg.Release() // extra Release must not go negative
	}
	for _, tg := range b.active {
		if tg.InFlight() != 0 {
			t.Fatalf("in-flight %d after release, want 0", tg.InFlight())
		}
	}
}

func TestSingle(t *testing.T) {
	b := Single("svc", "10.1.2.3:8080")
	tg, cookie, err := b.Pick(&Request{})
	if err != nil || tg.Addr != "10.1.2.3:8080" || cookie != "" {
		t.Fatalf("Pick = %v, %q, %v", tg, cookie, err)
	}
	for range 10 {
		tg.ReportTCPFailure()
		tg.ReportStatus(500)
	}
	if !tg.Healthy() {
		t.Fatal("Single target went unhealthy without health checks")
	}
	if h := b.Health(); len(h) != 1 || h[0].Health != HealthOff || h[0].Weight != 100 {
		t.Fatalf("Health = %+v", h)
	}
	if b.Name() != "svc" {
		t.Fatalf("Name = %q", b.Name())
	}
	b.Start() // no checks: no-op
	b.Stop()
}

func TestNoUsableWeight(t *testing.T) {
	for _, u := range []config.Upstream{
		{Name: "empty"},
		{Name: "zero", Targets: targets(0, 0)},
	} {
		b := mustNew(t, u, Options{})
		if _, _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoHealthyTargets) {
			t.Errorf("%s: err = %v, want ErrNoHealthyTargets", u.Name, err)
		}
	}
}

func TestThreshold(t *testing.T) {
	u := config.Upstream{Targets: targets(100, 100, 100, 100)}
	u.Healthchecks.Threshold = 50
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 1
	b := mustNew(t, u, Options{Cooldown: -1})
	ts := b.Targets()
	ts[0].ReportStatus(500)
	ts[1].ReportStatus(503)
	tg := mustPick(t, b, &Request{}) // 50% healthy: not below 50
	if tg != ts[2] && tg != ts[3] {
		t.Fatalf("picked unhealthy %s", tg.Addr)
	}
	if got := b.BalancerHealth(); got != HealthHealthy {
		t.Fatalf("BalancerHealth = %s at 50%%, want HEALTHY", got)
	}
	ts[2].ReportStatus(429)
	if _, _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("25%% healthy with threshold 50: err = %v, want ErrNoHealthyTargets", err)
	}
	if got := b.BalancerHealth(); got != HealthUnhealthy {
		t.Fatalf("BalancerHealth = %s, want UNHEALTHY", got)
	}
	want := []string{HealthUnhealthy, HealthUnhealthy, HealthUnhealthy, HealthHealthy}
	for i, h := range b.Health() {
		if h.Health != want[i] || h.Target != ts[i].Addr || h.Weight != 100 {
			t.Fatalf("Health()[%d] = %+v, want %s", i, h, want[i])
		}
	}
}

func TestHealthchecksOff(t *testing.T) {
	u := config.Upstream{Targets: targets(1, 1)}
	u.Healthchecks.Passive.Healthy.Successes = 3 // successes alone do not enable checks (Kong)
	b := mustNew(t, u, Options{})
	if b.HealthchecksEnabled() {
		t.Fatal("HealthchecksEnabled with no interval and no failure limit")
	}
	for _, h := range b.Health() {
		if h.Health != HealthOff {
			t.Fatalf("Health = %+v, want HEALTHCHECKS_OFF", h)
		}
	}
	if err := b.SetTargetHealth("127.0.0.1:1001", false); err == nil {
		t.Fatal("SetTargetHealth succeeded with health checks off")
	}
	if b.BalancerHealth() != HealthOff {
		t.Fatalf("BalancerHealth = %s", b.BalancerHealth())
	}
}

func TestSetTargetHealth(t *testing.T) {
	u := config.Upstream{Targets: targets(1, 1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 5
	ev := newHealthEvents()
	b := mustNew(t, u, Options{OnHealthChange: ev.fn})
	if err := b.SetTargetHealth("127.0.0.1:9", false); err == nil {
		t.Fatal("unknown target accepted")
	}
	if err := b.SetTargetHealth("127.0.0.1:1001", false); err != nil {
		t.Fatal(err)
	}
	if got := <-ev.ch; got != (healthChange{"127.0.0.1:1001", false}) {
		t.Fatalf("event %+v", got)
	}
	for range 10 {
		if mustPick(t, b, &Request{}).Addr != "127.0.0.1:1002" {
			t.Fatal("manually disabled target picked")
		}
	}
	if err := b.SetTargetHealth("127.0.0.1:1001", true); err != nil {
		t.Fatal(err)
	}
	if !b.Target("127.0.0.1:1001").Healthy() {
		t.Fatal("not healthy after SetTargetHealth(true)")
	}
}

// An OnHealthChange callback may call back into the balancer.
func TestHealthCallbackReentrant(t *testing.T) {
	u := config.Upstream{Targets: targets(1, 1)}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 1
	var b *Balancer
	calls := 0
	b = mustNew(t, u, Options{OnHealthChange: func(addr string, healthy bool) {
		calls++
		if _, _, err := b.Pick(&Request{}); err != nil {
			t.Errorf("Pick in callback: %v", err)
		}
		_ = b.Health()
	}})
	b.Targets()[0].ReportStatus(500)
	if calls != 1 {
		t.Fatalf("callback calls = %d, want 1", calls)
	}
}

func TestTargetsAndLookup(t *testing.T) {
	b := mustNew(t, config.Upstream{Targets: []config.Target{{Target: "10.0.0.1"}, {Target: "10.0.0.2:81", Weight: intp(7)}}}, Options{})
	ts := b.Targets()
	if len(ts) != 2 || ts[0].Addr != "10.0.0.1:8000" || ts[0].Weight != 100 || ts[1].Weight != 7 {
		t.Fatalf("targets = %v %v", ts[0], ts[1])
	}
	if b.Target("10.0.0.2:81") != ts[1] || b.Target("nope") != nil {
		t.Fatal("Target lookup")
	}
	ts[0] = nil
	if b.Targets()[0] == nil {
		t.Fatal("Targets returned the internal slice")
	}
}

func TestPickNilRequest(t *testing.T) {
	u := hashUpstream(3, func(u *config.Upstream) { u.HashOn, u.HashOnCookie = "cookie", "s" })
	for _, b := range []*Balancer{mustNew(t, u, Options{}), Single("s", "10.0.0.1:80")} {
		if tg, _, err := b.Pick(nil); err != nil || tg == nil {
			t.Fatalf("Pick(nil) = %v, %v", tg, err)
		}
	}
}

func TestTransitionsLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	u := config.Upstream{Name: "api", Targets: targets(1, 1)}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 1
	clk := newFakeClock()
	b := mustNew(t, u, Options{Logger: log, Now: clk.Now})
	tg := b.Targets()[0]
	tg.ReportStatus(503)
	clk.Advance(DefaultCooldown)
	if !tg.Healthy() {
		t.Fatal("not re-admitted")
	}
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="upstream target unhealthy" upstream=api target=127.0.0.1:1001 check=passive reason=http_failures count=1 status=503 retry_in=10s`,
		`level=INFO msg="upstream target healthy" upstream=api target=127.0.0.1:1001 check=cooldown`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
