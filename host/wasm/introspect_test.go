package wasm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMemoryPages(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{PoolSize: 2, MemoryLimitPages: 64})
	before := p.MemoryPages()
	if len(before) != 2 || before[0] != 2 || before[1] != 2 {
		t.Fatalf("MemoryPages before = %v, want [2 2] (plugin.wat declares 2 pages)", before)
	}
	// 'g' grows its instance's memory until the 64-page limit refuses.
	if _, _, err := runRequest(t, p, "g"); err != nil {
		t.Fatal(err)
	}
	after := p.MemoryPages()
	// It grows 16 pages at a time: 2 + 3*16 = 50 is the last that fits.
	if len(after) != 2 || max(after[0], after[1]) != 50 || min(after[0], after[1]) != 2 {
		t.Fatalf("MemoryPages after growing one instance = %v, want one at 50 and one at 2", after)
	}
	// A broken instance is not reported.
	if _, _, err := runRequest(t, p, "u"); !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("trap: err = %v", err)
	}
	// The replacement starts in the background and may already be in the
	// pool (Restarts counts it first): then it is reported, fresh (2
	// pages), beside the survivor.
	got := p.MemoryPages()
	restarted := p.Restarts.Load() > 0
	switch {
	case len(got) == 1:
	case len(got) == 2 && restarted && min(got[0], got[1]) == 2:
	default:
		t.Fatalf("MemoryPages after one instance trapped = %v (replacement started: %v), want one entry, or the survivor and a fresh replacement", got, restarted)
	}
}

func TestTickPeriodAndTicks(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})
	if p.TickPeriod() != 0 || p.Ticks.Load() != 0 {
		t.Fatalf("before: period %v ticks %d", p.TickPeriod(), p.Ticks.Load())
	}
	if _, _, err := runRequest(t, p, "t"); err != nil { // tick every 5ms
		t.Fatal(err)
	}
	if p.TickPeriod() != 5*time.Millisecond {
		t.Fatalf("TickPeriod = %v, want 5ms", p.TickPeriod())
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Ticks.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.Ticks.Load(); n < 3 {
		t.Fatalf("Ticks = %d after 5s, want >= 3", n)
	}
}

func TestReconfigure(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{PoolSize: 2, Config: []byte("ok")})
	ctx := context.Background()
	if err := p.Reconfigure(ctx, []byte("fine")); err != nil {
		t.Fatalf("Reconfigure(fine) = %v", err)
	}
	// plugin.wat rejects a configuration starting with 'r'.
	err := p.Reconfigure(ctx, []byte("rejected"))
	if err == nil || !strings.Contains(err.Error(), "rejected its configuration") {
		t.Fatalf("Reconfigure(rejected) = %v, want a rejection", err)
	}
	if p.Healthy() != 2 {
		t.Fatalf("a refusal must not break instances: %d healthy", p.Healthy())
	}
	// A replacement instance starts with the latest accepted configuration.
	if err := p.Reconfigure(ctx, []byte("fine again")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runRequest(t, p, "u"); !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("trap: err = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for (p.Healthy() != 2 || p.Restarts.Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if p.Healthy() != 2 {
		t.Fatalf("the replacement did not start: %d healthy", p.Healthy())
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Reconfigure(ctx, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reconfigure after Close = %v, want ErrClosed", err)
	}
}
