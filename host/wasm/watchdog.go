package wasm

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog bounds the guest call in progress on one instance without
// per-call allocations, goroutines, clock reads or timer operations: arm
// and disarm cost a few atomic operations. One lazily scheduled timer per
// instance samples the running call every limit/watchdogChecks: it fires
// once it has seen the same call running for the call's whole limit, and
// stops when it finds the instance idle (the next arm re-schedules it). A
// call is therefore stopped between limit and limit·(1+2/watchdogChecks)
// after it started, and a busy instance costs watchdogChecks timer events
// per limit period.
//
// When a call overruns, onFire runs once (the instance raises its stop
// flag or cancels its call context) and the watchdog stays fired: the
// instance is broken and never armed again.
type watchdog struct {
	// state is seq<<1 | running while healthy; stateFired once fired.
	state     atomic.Uint64
	callLimit atomic.Int64 // the running call's limit in ns
	pending   atomic.Bool  // the timer is scheduled
	period    atomic.Int64 // the period it was scheduled with, in ns
	timer     *time.Timer
	onFire    func()

	mu    sync.Mutex // serializes check
	seen  uint64     // the running call check saw last
	since int64      // monotonic ns at which check first saw it
}

// watchdogChecks is the number of samples per limit period.
const watchdogChecks = 8

const stateFired = ^uint64(0)

// epoch anchors monotonic readings (time.Since uses the monotonic clock).
var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

func newWatchdog(onFire func()) *watchdog {
	w := &watchdog{onFire: onFire}
	w.timer = time.AfterFunc(time.Hour, w.check)
	w.timer.Stop()
	return w
}

func checkPeriod(limit int64) int64 { return max(limit/watchdogChecks, 1) }

// arm starts timing a call limited to limit and returns the token to pass
// to disarm. It returns ok=false if the watchdog has already fired.
func (w *watchdog) arm(limit time.Duration) (token uint64, ok bool) {
	s := w.state.Load()
	if s == stateFired {
		return 0, false
	}
	if w.callLimit.Load() != int64(limit) {
		// A plugin's calls share one limit: skip the locked store.
		w.callLimit.Store(int64(limit))
	}
	token = (s | 1) + 2 // next sequence number, running
	if !w.state.CompareAndSwap(s, token) {
		return 0, false // fired concurrently
	}
	// Schedule the timer unless it is already sampling at least as often
	// as this call needs (the common case: a previous call of the same
	// limit scheduled it).
	p := checkPeriod(int64(limit))
	if !w.pending.Load() {
		if w.pending.CompareAndSwap(false, true) {
			w.schedule(p)
		}
	} else if w.period.Load() > p {
		w.schedule(p)
	}
	return token, true
}

func (w *watchdog) schedule(p int64) {
	w.period.Store(p)
	w.timer.Reset(time.Duration(p))
}

// disarm ends the call armed with token; it reports whether the deadline
// fired first (then treat the call as timed out, even if it returned).
func (w *watchdog) disarm(token uint64) (fired bool) {
	return !w.state.CompareAndSwap(token, token&^1)
}

// fired reports whether the watchdog has fired.
func (w *watchdog) fired() bool { return w.state.Load() == stateFired }

// check is the timer callback.
func (w *watchdog) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending.Store(false)
	s := w.state.Load()
	if s&1 == 0 || s == stateFired {
		return // idle: the next arm re-schedules
	}
	now := monotonic()
	if s != w.seen {
		w.seen, w.since = s, now
	}
	// since is after call s started, so a call is never stopped early. A
	// limit read here may belong to a later call, but then the CAS fails.
	limit := w.callLimit.Load()
	if now-w.since >= limit {
		if w.state.CompareAndSwap(s, stateFired) {
			w.onFire()
		}
		return
	}
	if w.pending.CompareAndSwap(false, true) {
		w.schedule(checkPeriod(limit))
	}
}

// stop releases the timer; a fired or armed call is not affected.
func (w *watchdog) stop() { w.timer.Stop() }

// callContext is the context of every guest call of one instance. It
// carries the instance for host functions without context.WithValue and
// allocates nothing per call. Done is nil for instrumented modules (the
// stop flag ends runaway code); for modules run under wazero's own
// termination checks it is closed when the watchdog fires, so wazero
// closes the module with a deadline-exceeded exit code.
type callContext struct {
	in   *instance
	done chan struct{}
}

// Deadline implements context.Context: the watchdog enforces deadlines.
func (*callContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context.
func (c *callContext) Done() <-chan struct{} { return c.done }

// Err implements context.Context: DeadlineExceeded once Done is closed.
func (c *callContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// Value implements context.Context: instKey{} yields the instance.
func (c *callContext) Value(key any) any {
	if _, ok := key.(instKey); ok {
		return c.in
	}
	return nil
}
