package upstream

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
)

var quiet = slog.New(slog.DiscardHandler)

func intp(n int) *int { return &n }

// targets builds config targets "127.0.0.1:<port>" with the given weights
// (ports 1001, 1002, ...).
func targets(weights ...int) []config.Target {
	out := make([]config.Target, len(weights))
	for i, w := range weights {
		out[i] = config.Target{Target: fmt.Sprintf("127.0.0.1:%d", 1001+i), Weight: intp(w)}
	}
	return out
}

func mustNew(t *testing.T, u config.Upstream, opts Options) *Balancer {
	t.Helper()
	if u.Name == "" {
		u.Name = "svc"
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	b, err := New(u, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

func mustPick(t *testing.T, b *Balancer, r *Request) *Target {
	t.Helper()
	tg, _, err := b.Pick(r)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return tg
}

// fakeClock is an injectable clock for cool-downs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// healthEvents collects OnHealthChange calls.
type healthEvents struct{ ch chan healthChange }

type healthChange struct {
	addr    string
	healthy bool
}

func newHealthEvents() *healthEvents { return &healthEvents{ch: make(chan healthChange, 1024)} }

func (e *healthEvents) fn(addr string, healthy bool) {
	select {
	case e.ch <- healthChange{addr, healthy}:
	default:
	}
}

// wait blocks until addr turns healthy == want, failing after d.
func (e *healthEvents) wait(t *testing.T, addr string, want bool, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-e.ch:
			if ev.addr == addr && ev.healthy == want {
				return
			}
		case <-deadline:
			t.Fatalf("target %s did not become healthy=%v within %v", addr, want, d)
		}
	}
}

// httpReq builds a request for hashing tests.
func httpReq(target string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func counts(t *testing.T, b *Balancer, n int, mk func(i int) *Request) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := range n {
		out[mustPick(t, b, mk(i)).Addr]++
	}
	return out
}
