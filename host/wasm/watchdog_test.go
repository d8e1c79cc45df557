package wasm

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchdogFiresAfterLimit(t *testing.T) {
	fired := make(chan time.Time, 1)
	w := newWatchdog(func() { fired <- time.Now() })
	defer w.stop()
	const limit = 30 * time.Millisecond
	start := time.Now()
	token, ok := w.arm(limit)
	if !ok {
		t.Fatal("arm failed")
	}
	select {
	case at := <-fired:
		if d := at.Sub(start); d < limit {
			t.Errorf("fired after %v, before the %v limit", d, limit)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not fire")
	}
	if !w.disarm(token) || !w.fired() {
		t.Error("disarm after the deadline did not report it")
	}
	if _, ok := w.arm(limit); ok {
		t.Error("armed again after firing")
	}
}

func TestWatchdogShortCallsNeverFire(t *testing.T) {
	var fires atomic.Int32
	w := newWatchdog(func() { fires.Add(1) })
	defer w.stop()
	for range 1000 {
		token, ok := w.arm(20 * time.Millisecond)
		if !ok || w.disarm(token) {
			t.Fatal("a short call timed out")
		}
	}
	// The timer scheduled by the first call fires once on an idle
	// instance and must not act.
	waitFor(t, "the idle timer event", func() bool { return !w.pending.Load() })
	if fires.Load() != 0 || w.fired() {
		t.Errorf("fired %d times", fires.Load())
	}
}

// TestWatchdogEarlierDeadline: a call with a shorter limit than the one
// the timer was scheduled for (start-up, then callbacks) still ends on
// time.
func TestWatchdogEarlierDeadline(t *testing.T) {
	fired := make(chan struct{})
	w := newWatchdog(func() { close(fired) })
	defer w.stop()
	token, _ := w.arm(time.Hour)
	if w.disarm(token) {
		t.Fatal("fired")
	}
	if _, ok := w.arm(20 * time.Millisecond); !ok {
		t.Fatal("arm failed")
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("the shorter deadline was not enforced")
	}
}

// TestWatchdogRescheduleForRemainder: when the timer fires during a call
// that started after it was scheduled, it re-schedules for the rest of
// that call's limit instead of firing early.
func TestWatchdogRescheduleForRemainder(t *testing.T) {
	var firedAt atomic.Int64
	fired := make(chan struct{})
	w := newWatchdog(func() { firedAt.Store(monotonic()); close(fired) })
	defer w.stop()
	const limit = 40 * time.Millisecond
	token, _ := w.arm(limit) // schedules the timer at +40ms
	w.disarm(token)
	start := monotonic()
	time.Sleep(limit / 2) // the next call starts halfway
	start2 := monotonic()
	if _, ok := w.arm(limit); !ok {
		t.Fatal("arm failed")
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("did not fire")
	}
	if d := time.Duration(firedAt.Load() - start2); d < limit {
		t.Errorf("fired %v into the second call (%v after the first), before its %v limit", d, time.Duration(firedAt.Load()-start), limit)
	}
}

// TestWatchdogConcurrentChecks races timer checks against calls: a check
// must never fire for a call within its limit.
func TestWatchdogConcurrentChecks(t *testing.T) {
	var fires atomic.Int32
	w := newWatchdog(func() { fires.Add(1) })
	defer w.stop()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				w.check()
			}
		}
	}()
	for range 20000 {
		token, ok := w.arm(time.Hour)
		if !ok || w.disarm(token) {
			t.Fatal("call timed out")
		}
	}
	close(stop)
	wg.Wait()
	if fires.Load() != 0 {
		t.Errorf("fired %d times", fires.Load())
	}
}

// BenchmarkWatchdogArmDisarm is the deadline cost of one guest call.
func BenchmarkWatchdogArmDisarm(b *testing.B) {
	w := newWatchdog(func() {})
	defer w.stop()
	b.ReportAllocs()
	for b.Loop() {
		token, _ := w.arm(time.Second)
		w.disarm(token)
	}
}
