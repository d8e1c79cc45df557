// Package counters implements the cluster-wide fixed-window counters behind
// the weir.counter_incr and weir.counter_get foreign functions (rate
// limiting): in process memory by default, in Redis when configured so that
// several Weir processes share one limit.
//
// Windows are fixed and aligned to Unix-time multiples of their length (a
// minute window starts at :00), as Kong's rate-limiting aligns its periods,
// so every process computes the same window for the same instant without
// talking to the others.
package counters

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Store is a set of fixed-window counters.
type Store interface {
	// Incr adds delta to key's counter in the window of length window
	// seconds that contains now, and returns the new value.
	Incr(ctx context.Context, key string, window, delta int64, now time.Time) (int64, error)
	// Get returns key's counter in the current window (0 if unset).
	Get(ctx context.Context, key string, window int64, now time.Time) (int64, error)
	// Close releases connections.
	Close() error
}

// WindowStart returns the Unix second at which the window of length
// window seconds containing now started.
func WindowStart(now time.Time, window int64) int64 {
	if window < 1 {
		window = 1
	}
	s := now.Unix()
	return s - s%window
}

// windowKey is the storage key of key's counter in one window:
// "<key>|<window>|<start>".
func windowKey(key string, window, start int64) string {
	return string(appendWindowKey(make([]byte, 0, len(key)+24), key, window, start))
}

func appendWindowKey(b []byte, key string, window, start int64) []byte {
	b = append(b, key...)
	b = append(b, '|')
	b = strconv.AppendInt(b, window, 10)
	b = append(b, '|')
	return strconv.AppendInt(b, start, 10)
}

// Local keeps counters in process memory. Windows that ended are dropped
// lazily by a sweep that runs at most once a second, so memory stays
// bounded by the keys active in the current windows.
type Local struct {
	mu        sync.Mutex
	m         map[string]*localEntry
	lastSweep int64
}

type localEntry struct {
	n   int64
	end int64 // Unix second at which the window ends
}

// NewLocal returns an empty in-memory store.
func NewLocal() *Local { return &Local{m: map[string]*localEntry{}} }

// Incr implements Store.
func (l *Local) Incr(_ context.Context, key string, window, delta int64, now time.Time) (int64, error) {
	start := WindowStart(now, window)
	var buf [128]byte // the key of an existing window costs no allocation
	k := appendWindowKey(buf[:0], key, window, start)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now.Unix())
	e := l.m[string(k)]
	if e == nil {
		e = &localEntry{end: start + window}
		l.m[string(k)] = e
	}
	e.n += delta
	return e.n, nil
}

// Get implements Store.
func (l *Local) Get(_ context.Context, key string, window int64, now time.Time) (int64, error) {
	var buf [128]byte
	k := appendWindowKey(buf[:0], key, window, WindowStart(now, window))
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[string(k)]; e != nil {
		return e.n, nil
	}
	return 0, nil
}

// Len returns the number of live window counters (for tests).
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

func (l *Local) sweepLocked(now int64) {
	if now == l.lastSweep {
		return
	}
	l.lastSweep = now
	for k, e := range l.m {
		if e.end <= now {
			delete(l.m, k)
		}
	}
}

// Close implements Store.
func (l *Local) Close() error { return nil }
