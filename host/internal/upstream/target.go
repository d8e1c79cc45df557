package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Target is one backend address of a [Balancer]. Addr and Weight are set by
// [New] and must not be modified; every method is safe for concurrent use.
//
// The health state and the in-flight counter live in a state object that a
// Target shares with the same-Addr Target of the next configuration
// ([Options].Prev), so requests still running on an old configuration
// release and report against the same counters.
type Target struct {
	// Addr is host:port, as dialled by the proxy and by active probes.
	Addr string
	// Weight is 0..65535; 0 means the target is never picked.
	Weight int

	b  *Balancer
	st *targetState
}

// targetState is the part of a target carried across configurations.
type targetState struct {
	inflight atomic.Int64
	healthy  atomic.Bool
	// dirty: some counter or the ejection count is non-zero, so a success
	// report has work to do (lets the hot path skip the mutex).
	dirty atomic.Bool
	// readmitAt (unix ns, 0 = never) is when a target tripped unhealthy,
	// with nothing else to bring it back, re-enters rotation.
	readmitAt atomic.Int64
	// ejections counts trips since the target last served a success;
	// each one doubles the cool-down.
	ejections atomic.Int32

	mu           sync.Mutex // guards the counters and health transitions
	successes    int
	httpFailures int
	tcpFailures  int
	timeouts     int
}

func newTargetState() *targetState {
	st := &targetState{}
	st.healthy.Store(true)
	return st
}

// Acquire counts one more in-flight request on t (least-connections input).
// Call it once the target is chosen and Release when the exchange ends.
func (t *Target) Acquire() { t.st.inflight.Add(1) }

// Release undoes one Acquire. Extra calls never take the count below zero.
func (t *Target) Release() {
	for {
		n := t.st.inflight.Load()
		if n <= 0 || t.st.inflight.CompareAndSwap(n, n-1) {
			return
		}
	}
}

// InFlight returns the number of acquired, unreleased requests.
func (t *Target) InFlight() int64 { return t.st.inflight.Load() }

// Healthy reports whether t is in rotation: true when the upstream has no
// health checks, and true again once a cool-down has expired.
func (t *Target) Healthy() bool {
	if !t.b.s.hcEnabled {
		return true
	}
	ok := t.available()
	t.b.flushIfPending()
	return ok
}

// ReportTCPFailure records a passive connect or I/O failure against t.
func (t *Target) ReportTCPFailure() {
	t.report(kindTCP, t.b.s.passive.tcpFailures, srcPassive, 0)
}

// ReportTimeout records a passive timeout against t.
func (t *Target) ReportTimeout() {
	t.report(kindTimeout, t.b.s.passive.timeouts, srcPassive, 0)
}

// ReportStatus records the status of a proxied response. Codes in neither
// passive.healthy.http_statuses nor passive.unhealthy.http_statuses are
// ignored, as in Kong.
func (t *Target) ReportStatus(code int) {
	switch t.b.s.pstatus.of(code) {
	case classHealthy:
		t.report(kindSuccess, t.b.s.passive.successes, srcPassive, code)
	case classUnhealthy:
		t.report(kindHTTP, t.b.s.passive.httpFailures, srcPassive, code)
	}
}

type reportKind uint8

const (
	kindSuccess reportKind = iota
	kindHTTP
	kindTCP
	kindTimeout
)

func (k reportKind) String() string {
	switch k {
	case kindHTTP:
		return "http_failures"
	case kindTCP:
		return "tcp_failures"
	case kindTimeout:
		return "timeouts"
	}
	return "successes"
}

type source uint8

const (
	srcPassive source = iota
	srcActive
	srcCooldown
	srcManual
)

func (s source) String() string {
	switch s {
	case srcActive:
		return "active"
	case srcCooldown:
		return "cooldown"
	case srcManual:
		return "manual"
	}
	return "passive"
}

// report applies one health observation with lua-resty-healthcheck's
// counter rules: a zero limit disables the counter; successes are not
// counted while fully healthy nor failures while fully unhealthy; a success
// clears the three failure counters, a failure clears the success counter;
// reaching the limit flips the state and clears all counters.
func (t *Target) report(k reportKind, limit int, src source, status int) {
	st := t.st
	if k == kindSuccess {
		if st.healthy.Load() && !st.dirty.Load() {
			return // fully healthy, nothing to count or clear
		}
		if limit == 0 && (st.ejections.Load() == 0 || !st.healthy.Load()) {
			return
		}
	} else if limit == 0 {
		return
	}

	st.mu.Lock()
	healthy := st.healthy.Load()
	var ev *healthEvent
	var n int
	if k == kindSuccess {
		if healthy {
			// Served a success since the last re-admission: the next trip
			// starts from the base cool-down again.
			st.ejections.Store(0)
		}
		if limit > 0 && !(healthy && st.httpFailures == 0 && st.tcpFailures == 0 && st.timeouts == 0) {
			st.successes++
			n = st.successes
			st.httpFailures, st.tcpFailures, st.timeouts = 0, 0, 0
			if n >= limit {
				st.successes = 0
				if !healthy {
					st.healthy.Store(true)
					st.readmitAt.Store(0)
					ev = &healthEvent{healthy: true}
				}
			}
		}
	} else if healthy || st.successes > 0 {
		var c *int
		switch k {
		case kindHTTP:
			c = &st.httpFailures
		case kindTCP:
			c = &st.tcpFailures
		default:
			c = &st.timeouts
		}
		*c++
		n = *c
		st.successes = 0
		if n >= limit {
			st.successes, st.httpFailures, st.tcpFailures, st.timeouts = 0, 0, 0, 0
			if healthy {
				st.healthy.Store(false)
				ev = &healthEvent{healthy: false}
				t.b.scheduleReadmit(st)
			}
		}
	}
	st.dirty.Store(st.successes|st.httpFailures|st.tcpFailures|st.timeouts != 0 || st.ejections.Load() != 0)
	if ev != nil {
		ev.target, ev.src, ev.kind, ev.count, ev.status = t, src, k, n, status
		if !ev.healthy {
			ev.readmitAt = st.readmitAt.Load()
		}
		t.b.queue(ev)
	}
	st.mu.Unlock()
	if ev != nil {
		t.b.flush()
	}
}

// scheduleReadmit arms the cool-down of a target that just tripped, when
// no active check could bring it back. Called with st.mu held.
func (b *Balancer) scheduleReadmit(st *targetState) {
	n := st.ejections.Add(1) // automatic trips only; manual sets clear it
	if b.s.activeRecovers || b.s.cooldown < 0 {
		st.readmitAt.Store(0)
		return
	}
	d := b.s.cooldown
	for i := int32(1); i < n && d < maxCooldown; i++ {
		d *= 2
	}
	d = min(d, max(maxCooldown, b.s.cooldown))
	st.readmitAt.Store(b.now().Add(d).UnixNano())
}

// available reports whether t is healthy, re-admitting it first when its
// cool-down has expired. It ignores whether health checks are enabled.
func (t *Target) available() bool {
	st := t.st
	if st.healthy.Load() {
		return true
	}
	at := st.readmitAt.Load()
	if at == 0 || t.b.now().UnixNano() < at {
		return false
	}
	st.mu.Lock()
	ok := st.healthy.Load()
	if !ok && st.readmitAt.Load() == at {
		st.healthy.Store(true)
		st.readmitAt.Store(0)
		st.successes, st.httpFailures, st.tcpFailures, st.timeouts = 0, 0, 0, 0
		st.dirty.Store(st.ejections.Load() != 0)
		t.b.queue(&healthEvent{target: t, healthy: true, src: srcCooldown})
		ok = true
	}
	st.mu.Unlock()
	// The event is flushed by the caller once it holds no balancer lock.
	return ok
}

// setHealth forces the state (admin API) and clears every counter, as
// Kong's set_target_status does.
func (t *Target) setHealth(healthy bool) {
	st := t.st
	st.mu.Lock()
	was := st.healthy.Load()
	st.healthy.Store(healthy)
	st.readmitAt.Store(0)
	st.ejections.Store(0)
	st.successes, st.httpFailures, st.tcpFailures, st.timeouts = 0, 0, 0, 0
	st.dirty.Store(false)
	if was != healthy {
		t.b.queue(&healthEvent{target: t, healthy: healthy, src: srcManual})
	}
	st.mu.Unlock()
	t.b.flush()
}

// healthEvent is a health transition waiting to be logged and reported.
type healthEvent struct {
	target    *Target
	healthy   bool
	src       source
	kind      reportKind
	count     int
	status    int
	readmitAt int64
}

// queue records ev; flush emits queued events in order once no balancer or
// target lock is held, so an OnHealthChange callback may call back into
// the Balancer.
func (b *Balancer) queue(ev *healthEvent) {
	b.evMu.Lock()
	b.events = append(b.events, ev)
	b.evPending.Store(true)
	b.evMu.Unlock()
}

func (b *Balancer) flush() {
	for b.evPending.Load() {
		if !b.flushMu.TryLock() {
			return // the holder loops until the queue is empty
		}
		b.evMu.Lock()
		evs := b.events
		b.events = nil
		b.evPending.Store(false)
		b.evMu.Unlock()
		for _, ev := range evs {
			b.emit(ev)
		}
		b.flushMu.Unlock()
	}
}

func (b *Balancer) emit(ev *healthEvent) {
	t := ev.target
	if ev.healthy {
		attrs := []any{"upstream", b.name, "target", t.Addr, "check", ev.src.String()}
		if ev.src == srcActive || ev.src == srcPassive {
			attrs = append(attrs, "successes", ev.count)
		}
		b.log.Info("upstream target healthy", attrs...)
	} else {
		attrs := []any{"upstream", b.name, "target", t.Addr, "check", ev.src.String()}
		if ev.src == srcActive || ev.src == srcPassive {
			attrs = append(attrs, "reason", ev.kind.String(), "count", ev.count)
			if ev.status != 0 {
				attrs = append(attrs, "status", ev.status)
			}
		}
		if ev.readmitAt != 0 {
			attrs = append(attrs, "retry_in", time.Unix(0, ev.readmitAt).Sub(b.now()).Round(time.Millisecond).String())
		}
		b.log.Warn("upstream target unhealthy", attrs...)
	}
	if b.onChange != nil {
		b.onChange(t.Addr, ev.healthy)
	}
}
