package upstream

import (
	"errors"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
)

func TestPassiveCounters(t *testing.T) {
	type step struct {
		report string // "200", "500", "tcp", "timeout", "404" (ignored)
		want   bool   // healthy after the report
	}
	tests := []struct {
		name    string
		passive config.PassiveHealthcheck
		steps   []step
	}{
		{
			name:    "http failures trip",
			passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{HTTPFailures: 3}},
			steps:   []step{{"500", true}, {"503", true}, {"429", false}},
		},
		{
			name:    "success resets failures when successes counted",
			passive: config.PassiveHealthcheck{Healthy: config.Healthy{Successes: 1}, Unhealthy: config.Unhealthy{HTTPFailures: 3}},
			steps:   []step{{"500", true}, {"500", true}, {"200", true}, {"500", true}, {"500", true}, {"500", false}},
		},
		{
			name: "successes not counted (limit 0) do not reset, as in Kong",
			// Kong's incr_counter returns early for a zero limit, so the
			// failure counters survive proxied successes.
			passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{HTTPFailures: 3}},
			steps:   []step{{"500", true}, {"500", true}, {"200", true}, {"500", false}},
		},
		{
			name:    "statuses in neither list are ignored",
			passive: config.PassiveHealthcheck{Healthy: config.Healthy{Successes: 1}, Unhealthy: config.Unhealthy{HTTPFailures: 2}},
			steps:   []step{{"500", true}, {"404", true}, {"500", false}},
		},
		{
			name:    "tcp failures",
			passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{TCPFailures: 2}},
			steps:   []step{{"tcp", true}, {"500", true}, {"tcp", false}},
		},
		{
			name:    "timeouts",
			passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{Timeouts: 2, TCPFailures: 9}},
			steps:   []step{{"timeout", true}, {"tcp", true}, {"timeout", false}},
		},
		{
			name:    "failure kinds count separately",
			passive: config.PassiveHealthcheck{Unhealthy: config.Unhealthy{Timeouts: 2, TCPFailures: 2, HTTPFailures: 2}},
			steps:   []step{{"timeout", true}, {"tcp", true}, {"500", true}, {"tcp", false}},
		},
		{
			name:    "custom status lists",
			passive: config.PassiveHealthcheck{Healthy: config.Healthy{HTTPStatuses: []int{204}, Successes: 1}, Unhealthy: config.Unhealthy{HTTPStatuses: []int{404}, HTTPFailures: 1}},
			steps:   []step{{"500", true}, {"404", false}, {"200", false}, {"204", true}},
		},
		{
			name:    "recover with successes",
			passive: config.PassiveHealthcheck{Healthy: config.Healthy{Successes: 2}, Unhealthy: config.Unhealthy{HTTPFailures: 1}},
			steps:   []step{{"500", false}, {"200", false}, {"500", false}, {"200", false}, {"200", true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := config.Upstream{Targets: targets(1, 1)}
			u.Healthchecks.Passive = tc.passive
			b := mustNew(t, u, Options{Cooldown: -1})
			tg := b.Targets()[0]
			for i, s := range tc.steps {
				switch s.report {
				case "tcp":
					tg.ReportTCPFailure()
				case "timeout":
					tg.ReportTimeout()
				default:
					code := 0
					for _, c := range s.report {
						code = code*10 + int(c-'0')
					}
					tg.ReportStatus(code)
				}
				if got := tg.Healthy(); got != s.want {
					t.Fatalf("step %d (%s): healthy = %v, want %v", i, s.report, got, s.want)
				}
			}
		})
	}
}

func TestPassiveCooldown(t *testing.T) {
	clk := newFakeClock()
	ev := newHealthEvents()
	u := config.Upstream{Targets: targets(1, 1)}
	u.Healthchecks.Passive.Unhealthy.HTTPFailures = 2
	b := mustNew(t, u, Options{Now: clk.Now, OnHealthChange: ev.fn})
	tg, other := b.Targets()[0], b.Targets()[1]

	trip := func() {
		t.Helper()
		tg.ReportStatus(500)
		tg.ReportStatus(500)
		if tg.Healthy() {
			t.Fatal("not tripped after 2 failures")
		}
		ev.wait(t, tg.Addr, false, time.Second)
	}
	out := func(d time.Duration) {
		t.Helper()
		clk.Advance(d - time.Millisecond)
		for range 4 {
			if mustPick(t, b, &Request{}) != other {
				t.Fatalf("tripped target picked before its %v cool-down", d)
			}
		}
		clk.Advance(time.Millisecond)
		picked := counts(t, b, 4, func(int) *Request { return &Request{} })
		if picked[tg.Addr] != 2 {
			t.Fatalf("after %v cool-down: picks %v, want the target back in rotation", d, picked)
		}
		ev.wait(t, tg.Addr, true, time.Second)
	}

	trip()
	out(DefaultCooldown)
	trip() // no success in between: the cool-down doubles
	out(2 * DefaultCooldown)
	trip()
	out(4 * DefaultCooldown)
	tg.ReportStatus(200) // serves a success: back to the base cool-down
	trip()
	out(DefaultCooldown)

	// Health() re-admits too, without traffic.
	tg.ReportStatus(200)
	trip()
	clk.Advance(DefaultCooldown - time.Millisecond)
	if h := b.Health()[0]; h.Health != HealthUnhealthy {
		t.Fatalf("Health during cool-down = %+v", h)
	}
	clk.Advance(time.Millisecond)
	if h := b.Health()[0]; h.Health != HealthHealthy {
		t.Fatalf("Health after cool-down = %+v", h)
	}
}

func TestCooldownCapped(t *testing.T) {
	clk := newFakeClock()
	u := config.Upstream{Targets: targets(1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	b := mustNew(t, u, Options{Now: clk.Now})
	tg := b.Targets()[0]
	for range 12 {
		tg.ReportTCPFailure()
		clk.Advance(maxCooldown)
		if !tg.Healthy() {
			t.Fatalf("cool-down exceeded the %v cap", maxCooldown)
		}
	}
}

func TestCooldownDisabled(t *testing.T) {
	clk := newFakeClock()
	u := config.Upstream{Targets: targets(1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	b := mustNew(t, u, Options{Now: clk.Now, Cooldown: -1})
	tg := b.Targets()[0]
	tg.ReportTCPFailure()
	clk.Advance(24 * time.Hour)
	if _, _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("Kong mode: err = %v, want the target to stay out", err)
	}
}

func TestCarryOver(t *testing.T) {
	clk := newFakeClock()
	u := config.Upstream{Targets: targets(1, 1, 1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	old := mustNew(t, u, Options{Now: clk.Now})
	a, bb := old.Target("127.0.0.1:1001"), old.Target("127.0.0.1:1002")
	a.ReportTCPFailure()
	bb.Acquire()
	bb.Acquire()

	u2 := config.Upstream{Targets: append(targets(1, 1), config.Target{Target: "127.0.0.1:1009"})}
	u2.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	nb := mustNew(t, u2, Options{Prev: old, Now: clk.Now})
	na, nbb, fresh := nb.Target(a.Addr), nb.Target(bb.Addr), nb.Target("127.0.0.1:1009")
	if na.Healthy() {
		t.Fatal("unhealthy state not carried over")
	}
	if nbb.InFlight() != 2 || fresh.InFlight() != 0 || !fresh.Healthy() {
		t.Fatalf("in-flight %d / fresh %d %v", nbb.InFlight(), fresh.InFlight(), fresh.Healthy())
	}
	// Requests still running on the old config release the shared counter.
	bb.Release()
	if nbb.InFlight() != 1 {
		t.Fatalf("new target in-flight = %d after old Release, want 1", nbb.InFlight())
	}
	// The cool-down carries over as well.
	clk.Advance(DefaultCooldown)
	if !na.Healthy() {
		t.Fatal("carried target not re-admitted after its cool-down")
	}

	// A new config without health checks ignores carried state.
	off := mustNew(t, config.Upstream{Targets: targets(1, 1)}, Options{Prev: nb})
	nb.Target(a.Addr).ReportTCPFailure()
	if !off.Target(a.Addr).Healthy() {
		t.Fatal("health checks off, yet the target is out")
	}
}

func TestCarryOverActiveToPassiveOnly(t *testing.T) {
	clk := newFakeClock()
	u := config.Upstream{Targets: targets(1, 1)}
	u.Healthchecks.Passive.Unhealthy.TCPFailures = 1
	u.Healthchecks.Active.Unhealthy.Interval = 10
	u.Healthchecks.Active.Healthy.Successes = 1
	old := mustNew(t, u, Options{Now: clk.Now})
	old.Targets()[0].ReportTCPFailure() // active checks would bring it back: no cool-down
	clk.Advance(time.Hour)
	if old.Targets()[0].Healthy() {
		t.Fatal("re-admitted by cool-down although active checks recover it")
	}
	u.Healthchecks.Active = config.ActiveHealthcheck{}
	nb := mustNew(t, u, Options{Prev: old, Now: clk.Now})
	if nb.Targets()[0].Healthy() {
		t.Fatal("carried state lost")
	}
	clk.Advance(DefaultCooldown)
	if !nb.Targets()[0].Healthy() {
		t.Fatal("without active checks the carried target must get a cool-down")
	}
}
