package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/host/config"
)

// ErrNoHealthyTargets is returned by [Balancer.Pick] when no target can take
// the request: none is healthy, every weight is zero, or the healthy weight
// is below healthchecks.threshold. The text is Kong's 503 message.
var ErrNoHealthyTargets = errors.New("failure to get a peer from the ring-balancer")

// Health values reported by [Balancer.Health], as Kong's
// /upstreams/{name}/health.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthOff       = "HEALTHCHECKS_OFF"
)

// Options configures [New].
type Options struct {
	// Prev is the same-name balancer of the previous configuration. Targets
	// with the same Addr keep its health state and in-flight counters.
	// The caller still stops Prev (after starting the new balancer).
	Prev *Balancer
	// Logger receives health transitions; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for cool-downs; nil means time.Now. For tests.
	Now func() time.Time
	// Cooldown is how long a target tripped unhealthy stays out when no
	// active check can bring it back; it doubles on each consecutive trip
	// up to 5 minutes. 0 means DefaultCooldown; negative disables
	// re-admission (Kong's behaviour: out until an operator intervenes).
	Cooldown time.Duration
	// OnHealthChange, if set, is called after every health transition
	// (after logging, with no lock held). It must not block.
	OnHealthChange func(addr string, healthy bool)
}

// Request is what a pick may look at. The proxy fills one per client
// request and passes the same *Request to every Pick of that request
// (retries), resetting it with `*r = Request{}` before reusing it: Pick
// caches the hash (and a generated sticky cookie) in it so that retries
// walk from the same point, as Kong does.
type Request struct {
	HTTP     *http.Request
	ClientIP string
	// Consumer is the authenticated consumer id ("" if none).
	Consumer string
	// URICaptures are the route's regex captures by name (and by index as
	// "1", "2", ...), for hash_on uri_capture; nil if none.
	URICaptures map[string]string
	// Tried are targets already tried for this request; Pick avoids them
	// while any other target is available.
	Tried []*Target

	hb     *Balancer // balancer that computed hash
	hash   uint64
	hasKey bool
	cookie string
}

// TargetHealth is one row of [Balancer.Health].
type TargetHealth struct {
	Target string `json:"target"`
	Weight int    `json:"weight"`
	Health string `json:"health"`
}

// Balancer picks targets of one upstream and runs its health checks.
// It is immutable apart from health and counters; safe for concurrent use.
type Balancer struct {
	name     string
	s        settings
	log      *slog.Logger
	now      func() time.Time
	onChange func(string, bool)

	targets []*Target          // all, in configuration order
	active  []*Target          // weight > 0
	byAddr  map[string]*Target // all
	total   int64              // sum of active weights

	rrMu sync.Mutex
	cw   []int64 // smooth weighted round-robin current weights, per active
	lcN  atomic.Uint64
	ring []ringPoint

	evMu      sync.Mutex
	events    []*healthEvent
	evPending atomic.Bool
	flushMu   sync.Mutex

	runMu  sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the balancer of upstream u. Zero values in u are read as
// Kong's defaults; errors name the offending field.
func New(u config.Upstream, opts Options) (*Balancer, error) {
	if u.Name == "" {
		return nil, errors.New("upstream: name is required")
	}
	s, err := newSettings(u, opts)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", u.Name, err)
	}
	b := newBalancer(u.Name, s, opts)
	for i, ct := range u.Targets {
		addr, err := normalizeAddr(ct.Target)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: targets[%d]: %w", u.Name, i, err)
		}
		w := defaultWeight
		if ct.Weight != nil {
			w = *ct.Weight
		}
		if w < 0 || w > maxWeight {
			return nil, fmt.Errorf("upstream %q: target %q: weight %d out of range 0..%d", u.Name, ct.Target, w, maxWeight)
		}
		if _, dup := b.byAddr[addr]; dup {
			return nil, fmt.Errorf("upstream %q: target %q listed twice", u.Name, addr)
		}
		b.add(addr, w, opts.Prev)
	}
	b.finish()
	return b, nil
}

// Single returns the implicit balancer of a service whose host is not an
// upstream name: one target addr (host:port) of weight 100, round-robin,
// no health checks.
func Single(name, addr string) *Balancer {
	s := settings{algoName: "round-robin", cookiePath: defaultCookiePath}
	b := newBalancer(name, s, Options{})
	b.add(addr, defaultWeight, nil)
	b.finish()
	return b
}

func newBalancer(name string, s settings, opts Options) *Balancer {
	b := &Balancer{
		name:     name,
		s:        s,
		log:      opts.Logger,
		now:      opts.Now,
		onChange: opts.OnHealthChange,
		byAddr:   make(map[string]*Target),
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

func (b *Balancer) add(addr string, w int, prev *Balancer) {
	t := &Target{Addr: addr, Weight: w, b: b}
	if prev != nil {
		if pt := prev.byAddr[addr]; pt != nil {
			t.st = pt.st
		}
	}
	if t.st == nil {
		t.st = newTargetState()
	} else if b.s.hcEnabled {
		st := t.st
		st.mu.Lock()
		switch {
		case b.s.activeRecovers:
			st.readmitAt.Store(0) // active checks bring it back now
		case b.s.cooldown > 0 && !st.healthy.Load() && st.readmitAt.Load() == 0 && st.ejections.Load() > 0:
			// Tripped under a configuration whose active checks could
			// bring it back; this one cannot, so give it a cool-down.
			st.readmitAt.Store(b.now().Add(b.s.cooldown).UnixNano())
		}
		st.mu.Unlock()
	}
	// With health checks off the carried state is kept untouched (the
	// previous balancer may still use it) and ignored by Pick.
	b.targets = append(b.targets, t)
	b.byAddr[addr] = t
	if w > 0 {
		b.active = append(b.active, t)
		b.total += int64(w)
	}
}

func (b *Balancer) finish() {
	b.cw = make([]int64, len(b.active))
	if b.s.algo == algoHash {
		b.ring = buildRing(b.active)
	}
}

// Name returns the upstream name.
func (b *Balancer) Name() string { return b.name }

// Targets returns the targets in configuration order (a copy).
func (b *Balancer) Targets() []*Target { return append([]*Target(nil), b.targets...) }

// Target returns the target with address addr (host:port), or nil.
func (b *Balancer) Target(addr string) *Target { return b.byAddr[addr] }

// HealthchecksEnabled reports whether the upstream uses health checks
// (Kong: an active interval or a passive failure limit is non-zero).
func (b *Balancer) HealthchecksEnabled() bool { return b.s.hcEnabled }

// SetTargetHealth forces a target healthy or unhealthy and clears its
// counters, like Kong's POST /upstreams/{u}/targets/{t}/healthy|unhealthy.
// Health checks keep running and may change it again.
func (b *Balancer) SetTargetHealth(addr string, healthy bool) error {
	t := b.byAddr[addr]
	if t == nil {
		return fmt.Errorf("upstream %q: no target %q", b.name, addr)
	}
	if !b.s.hcEnabled {
		return fmt.Errorf("upstream %q: health checks are not enabled", b.name)
	}
	t.setHealth(healthy)
	return nil
}

// usable reports whether Pick may choose t (ignoring Tried).
func (b *Balancer) usable(t *Target) bool {
	return !b.s.hcEnabled || t.available()
}

// Pick chooses a target for r. setCookie, when not empty, is a complete
// Set-Cookie value to add to the response (a generated sticky-session
// cookie); it is the same for every Pick of the same r. err is
// ErrNoHealthyTargets when no target can be used.
func (b *Balancer) Pick(r *Request) (t *Target, setCookie string, err error) {
	if r == nil {
		r = &Request{}
	}
	if len(b.active) == 0 {
		return nil, "", ErrNoHealthyTargets
	}
	if b.s.threshold > 0 && b.healthyPercent() < b.s.threshold {
		b.flushIfPending()
		return nil, "", ErrNoHealthyTargets
	}
	if b.s.algo == algoHash && r.hb != b {
		// Once per request: retries walk the ring from the same point and
		// a generated sticky cookie is handed out even with one target.
		r.hash, r.hasKey, r.cookie = b.key(r)
		r.hb = b
	}
	switch {
	case len(b.active) == 1:
		if t = b.active[0]; !b.usable(t) {
			t = nil
		}
	case b.s.algo == algoLeastConn:
		t = b.pickLeastConn(r)
	case b.s.algo == algoHash && r.hasKey:
		t = b.pickRing(r, r.hash)
	default:
		t = b.pickRoundRobin(r)
	}
	b.flushIfPending()
	if t == nil {
		return nil, "", ErrNoHealthyTargets
	}
	return t, r.cookie, nil
}

func (b *Balancer) flushIfPending() {
	if b.evPending.Load() {
		b.flush()
	}
}

// healthyPercent is the healthy share of the total active weight, 0..100.
func (b *Balancer) healthyPercent() float64 {
	if b.total == 0 {
		return 0
	}
	var h int64
	for _, t := range b.active {
		if b.usable(t) {
			h += int64(t.Weight)
		}
	}
	return float64(h) * 100 / float64(b.total)
}

func tried(r *Request, t *Target) bool {
	for _, x := range r.Tried {
		if x == t {
			return true
		}
	}
	return false
}

// Health lists every target with its health, like Kong's
// GET /upstreams/{name}/health.
func (b *Balancer) Health() []TargetHealth {
	out := make([]TargetHealth, len(b.targets))
	for i, t := range b.targets {
		h := HealthOff
		if b.s.hcEnabled {
			h = HealthUnhealthy
			if t.available() {
				h = HealthHealthy
			}
		}
		out[i] = TargetHealth{Target: t.Addr, Weight: t.Weight, Health: h}
	}
	b.flushIfPending()
	return out
}

// BalancerHealth is the upstream-level health (Kong's ?balancer_health=1):
// HEALTHCHECKS_OFF, or UNHEALTHY when Pick would fail for lack of healthy
// weight (including the threshold), else HEALTHY.
func (b *Balancer) BalancerHealth() string {
	if !b.s.hcEnabled {
		return HealthOff
	}
	p := b.healthyPercent()
	b.flushIfPending()
	if p == 0 || p < b.s.threshold {
		return HealthUnhealthy
	}
	return HealthHealthy
}
