package wasm

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/weirproxy/weir/abi"
)

func TestInitHTTPStream(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})

	var zero HTTPStream
	if _, err := zero.OnRequestHeaders(1, false); !errors.Is(err, ErrClosed) {
		t.Errorf("zero HTTPStream call: %v, want ErrClosed", err)
	}
	if err := zero.OnLog(); !errors.Is(err, ErrClosed) {
		t.Errorf("zero HTTPStream OnLog: %v, want ErrClosed", err)
	}
	if err := zero.Done(); err != nil {
		t.Errorf("zero HTTPStream Done: %v", err)
	}

	// One storage, several requests.
	var s HTTPStream
	ids := map[uint32]bool{}
	for i := range 3 {
		h := newFakeHost()
		if err := p.InitHTTPStream(&s, h); err != nil {
			t.Fatal(err)
		}
		if ids[s.ID()] {
			t.Errorf("request %d reused context id %d", i, s.ID())
		}
		ids[s.ID()] = true
		if err := p.InitHTTPStream(&s, h); err == nil || !strings.Contains(err.Error(), "still in use") {
			t.Errorf("re-init of a live stream: %v, want an in-use error", err)
		}
		if act, err := s.OnRequestHeaders(4, false); err != nil || act != abi.ActionContinue {
			t.Fatalf("request %d: %v, %v", i, act, err)
		}
		if v, _ := h.get(abi.MapHTTPRequestHeaders, "x-wasm"); v != "1" {
			t.Errorf("request %d: x-wasm = %q", i, v)
		}
		if err := s.Done(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OnRequestHeaders(4, false); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Done: %v, want ErrClosed", err)
		}
	}
	if n := p.pool[0].active.Load(); n != 0 {
		t.Errorf("%d streams still pinned", n)
	}

	if err := p.InitHTTPStream(&s, nil); err == nil {
		t.Error("nil StreamHost accepted")
	}
	if _, err := s.OnRequestHeaders(4, false); !errors.Is(err, ErrClosed) {
		t.Errorf("call after a failed init: %v, want ErrClosed", err)
	}
}

// TestEffectsGoToTheRequestingHost: an effect is delivered to the host of
// the stream that requested it even if the stream's storage is reused
// before delivery (callout responses arrive on other goroutines).
func TestEffectsGoToTheRequestingHost(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})
	var s HTTPStream
	h1 := newFakeHost()
	h1.maps[0] = append(h1.maps[0], [2]string{"x-mode", "p"}) // local response + continue
	if err := p.InitHTTPStream(&s, h1); err != nil {
		t.Fatal(err)
	}
	r, effects, err := requestHeadersKeepingEffects(&s)
	if err != nil || abi.Action(r) != abi.ActionContinue || len(effects) != 2 {
		t.Fatalf("call: %v, %v, %d effects", r, err, len(effects))
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	h2 := newFakeHost()
	if err := p.InitHTTPStream(&s, h2); err != nil {
		t.Fatal(err)
	}
	defer s.Done()
	deliver(effects) // late delivery after the storage was reused
	if len(h1.local) != 1 || len(h1.continued) != 1 {
		t.Errorf("requesting host got local %v continued %v", h1.local, h1.continued)
	}
	if len(h2.local) != 0 || len(h2.continued) != 0 {
		t.Errorf("reusing host got local %v continued %v", h2.local, h2.continued)
	}
}

func TestStrCache(t *testing.T) {
	var c strCache
	c.init()
	long := strings.Repeat("v", strCacheMaxLen+1)
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "short", in: "x-weir"},
		{name: "binary", in: "\x00\xff\x01"},
		{name: "longest cached", in: long[:strCacheMaxLen]},
		{name: "too long", in: long},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.in)
			if got := c.get(b); got != tc.in {
				t.Fatalf("get = %q, want %q", got, tc.in)
			}
			b2 := []byte(tc.in)
			allocs := testing.AllocsPerRun(100, func() { _ = c.get(b2) })
			wantAllocs := 0.0
			if len(tc.in) > strCacheMaxLen {
				wantAllocs = 1
			}
			if allocs != wantAllocs {
				t.Errorf("%v allocations per hit, want %v", allocs, wantAllocs)
			}
			// The cached string does not alias the caller's bytes.
			if len(b2) > 0 {
				b2[0] ^= 0xff
				if got := c.get([]byte(tc.in)); got != tc.in {
					t.Errorf("cache aliases its input: %q", got)
				}
			}
		})
	}
}

// TestStrCacheCollision: two strings used in turn that hash to the same
// slots both stay cached (a direct-mapped cache allocated for each of
// them on every request for about one plugin instance in forty), and a
// third one in the same pair evicts only the older of the two.
func TestStrCacheCollision(t *testing.T) {
	var c strCache
	c.init()
	// Find three header-like names that share a pair under this seed:
	// with 128 pairs, a few dozen candidates usually hold such a triple.
	byPair := map[uint64][][]byte{}
	var same [][]byte
	for i := 0; i < 100000 && len(same) < 3; i++ {
		b := []byte("x-header-" + strconv.Itoa(i))
		p := c.pair(b)
		byPair[p] = append(byPair[p], b)
		same = byPair[p]
	}
	if len(same) < 3 {
		t.Fatal("no three names share a pair")
	}
	a, b, third := same[0], same[1], same[2]
	sa, sb := c.get(a), c.get(b)
	if allocs := testing.AllocsPerRun(100, func() { _, _ = c.get(a), c.get(b) }); allocs != 0 {
		t.Errorf("%v allocations per turn of two colliding strings, want 0", allocs)
	}
	c.get(a)
	c.get(third) // a was used last: it stays, b goes
	if got := c.get(a); unsafe.StringData(got) != unsafe.StringData(sa) {
		t.Errorf("%q was evicted, want it kept (used last)", a)
	}
	if got := c.get(b); unsafe.StringData(got) == unsafe.StringData(sb) || got != string(b) {
		t.Errorf("get(%q) = the cached %q, want a new copy (it was the older of the pair)", b, got)
	}
}

// TestHTTPStreamBroken: a stream's Broken channel closes when its
// instance fails (here, a trap in another stream pinned to the same
// instance), so a proxy waiting on a paused stream stops waiting.
func TestHTTPStreamBroken(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{PoolSize: 1})
	paused, err := p.NewHTTPStream(newFakeHost())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-paused.Broken():
		t.Fatal("Broken is closed on a healthy instance")
	default:
	}
	h := newFakeHost()
	h.maps[abi.MapHTTPRequestHeaders] = append(h.maps[abi.MapHTTPRequestHeaders], [2]string{"x-mode", "u"})
	trap, err := p.NewHTTPStream(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trap.OnRequestHeaders(1, true); !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("trap: %v, want ErrPluginFailed", err)
	}
	select {
	case <-paused.Broken():
	default:
		t.Fatal("Broken is not closed after the instance trapped")
	}
	trap.Done()
	paused.Done()
	if paused.Broken() != nil {
		t.Fatal("a released stream's Broken channel is not nil")
	}
}

// TestStreamIdle: a stream is idle only once Done has returned and no
// effect taken for it (here as a tick or callout handler would, under the
// lock before Done) is still undelivered.
func TestStreamIdle(t *testing.T) {
	e, _ := newTestEngine(t)
	p := newTestPlugin(t, e, PluginOptions{})
	var s HTTPStream
	if !s.Idle() {
		t.Error("zero stream not idle")
	}
	h := newFakeHost()
	h.maps[0] = append(h.maps[0], [2]string{"x-mode", "p"}) // local response + continue
	if err := p.InitHTTPStream(&s, h); err != nil {
		t.Fatal(err)
	}
	if s.Idle() {
		t.Error("live stream idle")
	}
	_, effects, err := requestHeadersKeepingEffects(&s)
	if err != nil || len(effects) != 2 {
		t.Fatalf("call: %v, %d effects", err, len(effects))
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	if s.Idle() {
		t.Error("stream idle with two effects undelivered")
	}
	deliver(effects[:1])
	if s.Idle() {
		t.Error("stream idle with one effect undelivered")
	}
	drop(effects[1:])
	if !s.Idle() {
		t.Error("stream not idle after its effects were delivered or dropped")
	}

	// Effects made and delivered within a stream call leave it idle
	// after Done.
	if err := p.InitHTTPStream(&s, h); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OnRequestHeaders(5, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(); err != nil {
		t.Fatal(err)
	}
	if !s.Idle() {
		t.Errorf("stream not idle after Done (deliveries %d, callouts %d)", s.deliveries.Load(), s.PendingCallouts())
	}
	s.pendingCallouts.Add(1)
	if s.Idle() {
		t.Error("stream idle with a callout outstanding")
	}
	s.pendingCallouts.Add(-1)
}

// requestHeadersKeepingEffects calls s's request-headers callback
// directly and returns its effects instead of delivering them, so a test
// can hold them across the stream's end.
func requestHeadersKeepingEffects(s *HTTPStream) (uint64, []effect, error) {
	in := s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	in.effective = s
	r, _, err := in.invoke(cbRequestHeaders, uint64(s.id), 5, 0)
	in.effective = nil
	return r, in.takeEffects(nil), err
}
