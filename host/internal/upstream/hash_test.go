package upstream

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/weirproxy/weir/host/config"
)

func hashUpstream(n int, mod func(*config.Upstream)) config.Upstream {
	ws := make([]int, n)
	for i := range ws {
		ws[i] = 100
	}
	u := config.Upstream{Algorithm: "consistent-hashing", HashOn: "header", HashOnHeader: "x-user", Targets: targets(ws...)}
	if mod != nil {
		mod(&u)
	}
	return u
}

func userReq(i int) *Request {
	return &Request{HTTP: httpReq("/", map[string]string{"X-User": fmt.Sprintf("user-%d", i)})}
}

func TestHashStableAndSpread(t *testing.T) {
	b := mustNew(t, hashUpstream(5, nil), Options{})
	first := map[int]string{}
	spread := map[string]int{}
	for i := range 5000 {
		addr := mustPick(t, b, userReq(i)).Addr
		first[i] = addr
		spread[addr]++
	}
	for round := range 3 {
		for i := range 5000 {
			if got := mustPick(t, b, userReq(i)).Addr; got != first[i] {
				t.Fatalf("round %d key %d moved %s -> %s", round, i, first[i], got)
			}
		}
	}
	// 160 points a target keep each share within a loose band of 1/5.
	for _, tg := range b.active {
		if n := spread[tg.Addr]; n < 500 || n > 1500 {
			t.Fatalf("spread %v: %s has %d of 5000 keys", spread, tg.Addr, n)
		}
	}
	// A second balancer built from the same config maps keys identically
	// (deterministic hashing: replicas agree).
	b2 := mustNew(t, hashUpstream(5, nil), Options{})
	for i := range 500 {
		if got := mustPick(t, b2, userReq(i)).Addr; got != first[i] {
			t.Fatalf("rebuilt balancer maps key %d to %s, want %s", i, got, first[i])
		}
	}
}

func TestHashWeighted(t *testing.T) {
	u := hashUpstream(2, func(u *config.Upstream) { u.Targets = targets(300, 100) })
	b := mustNew(t, u, Options{})
	got := counts(t, b, 8000, userReq)
	share := float64(got["127.0.0.1:1001"]) / 8000
	if share < 0.65 || share > 0.85 {
		t.Fatalf("weight 300 vs 100: share %.2f (%v), want about 0.75", share, got)
	}
}

func TestHashRemapsOnlyRemovedTarget(t *testing.T) {
	const n, keys = 10, 20000
	full := mustNew(t, hashUpstream(n, nil), Options{})
	u := hashUpstream(n, nil)
	removed := u.Targets[4].Target
	u.Targets = append(u.Targets[:4:4], u.Targets[5:]...)
	less := mustNew(t, u, Options{})

	moved, movedOthers := 0, 0
	for i := range keys {
		before := mustPick(t, full, userReq(i)).Addr
		after := mustPick(t, less, userReq(i)).Addr
		if before != after {
			moved++
			if before != removed {
				movedOthers++
			}
		}
	}
	if movedOthers != 0 {
		t.Fatalf("%d keys not on the removed target moved", movedOthers)
	}
	frac := float64(moved) / keys
	if frac < 0.05 || frac > 0.15 {
		t.Fatalf("%.3f of keys moved, want about 1/%d", frac, n)
	}
}

func TestHashInputs(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Upstream)
		// same(i) and same2(i) are two different requests carrying key i.
		same, same2 func(i int) *Request
	}{
		{
			name: "ip",
			mod:  func(u *config.Upstream) { u.HashOn = "ip" },
			same: func(i int) *Request { return &Request{ClientIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)} },
			same2: func(i int) *Request {
				return &Request{ClientIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), HTTP: httpReq("/x", nil)}
			},
		},
		{
			name: "ip from RemoteAddr",
			mod:  func(u *config.Upstream) { u.HashOn = "ip" },
			same: func(i int) *Request { return &Request{ClientIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)} },
			same2: func(i int) *Request {
				r := httpReq("/", nil)
				r.RemoteAddr = fmt.Sprintf("10.0.%d.%d:5555", i/250, i%250)
				return &Request{HTTP: r}
			},
		},
		{
			name: "header",
			same: userReq,
			same2: func(i int) *Request {
				return &Request{HTTP: httpReq("/other?q=1", map[string]string{"x-user": fmt.Sprintf("user-%d", i)})}
			},
		},
		{
			name: "path",
			mod:  func(u *config.Upstream) { u.HashOn = "path" },
			same: func(i int) *Request { return &Request{HTTP: httpReq(fmt.Sprintf("/p/%d", i), nil)} },
			same2: func(i int) *Request {
				return &Request{HTTP: httpReq(fmt.Sprintf("/p/%d?x=y", i), map[string]string{"X-User": "z"})}
			},
		},
		{
			name:  "query_arg",
			mod:   func(u *config.Upstream) { u.HashOn, u.HashOnQueryArg = "query_arg", "id" },
			same:  func(i int) *Request { return &Request{HTTP: httpReq(fmt.Sprintf("/?id=%d", i), nil)} },
			same2: func(i int) *Request { return &Request{HTTP: httpReq(fmt.Sprintf("/a?x=1&id=%d&y", i), nil)} },
		},
		{
			name:  "consumer",
			mod:   func(u *config.Upstream) { u.HashOn = "consumer" },
			same:  func(i int) *Request { return &Request{Consumer: fmt.Sprintf("c%d", i)} },
			same2: func(i int) *Request { return &Request{Consumer: fmt.Sprintf("c%d", i), ClientIP: "1.2.3.4"} },
		},
		{
			name: "uri_capture",
			mod:  func(u *config.Upstream) { u.HashOn, u.HashOnURICapture = "uri_capture", "tenant" },
			same: func(i int) *Request { return &Request{URICaptures: map[string]string{"tenant": fmt.Sprint(i)}} },
			same2: func(i int) *Request {
				return &Request{URICaptures: map[string]string{"tenant": fmt.Sprint(i), "1": "x"}}
			},
		},
		{
			name: "cookie",
			mod:  func(u *config.Upstream) { u.HashOn, u.HashOnCookie = "cookie", "sess" },
			same: func(i int) *Request {
				return &Request{HTTP: httpReq("/", map[string]string{"Cookie": fmt.Sprintf("sess=s%d", i)})}
			},
			same2: func(i int) *Request {
				return &Request{HTTP: httpReq("/", map[string]string{"Cookie": fmt.Sprintf("a=1; sess=\"s%d\"; b=2", i)})}
			},
		},
		{
			name: "fallback ip when header missing",
			mod:  func(u *config.Upstream) { u.HashFallback = "ip" },
			same: func(i int) *Request { return userReq(i) },
			same2: func(i int) *Request {
				// Fallback key equal to the primary key of same(i) hashes identically.
				return &Request{ClientIP: fmt.Sprintf("user-%d", i)}
			},
		},
		{
			name: "fallback header",
			mod: func(u *config.Upstream) {
				u.HashOn, u.HashOnQueryArg = "query_arg", "id"
				u.HashFallback, u.HashFallbackHeader = "header", "x-user"
			},
			same:  func(i int) *Request { return &Request{HTTP: httpReq(fmt.Sprintf("/?id=user-%d", i), nil)} },
			same2: userReq,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := mustNew(t, hashUpstream(4, tc.mod), Options{})
			seen := map[string]bool{}
			for i := range 300 {
				a := mustPick(t, b, tc.same(i)).Addr
				if got := mustPick(t, b, tc.same(i)).Addr; got != a {
					t.Fatalf("key %d: %s then %s", i, a, got)
				}
				if got := mustPick(t, b, tc.same2(i)).Addr; got != a {
					t.Fatalf("key %d: other request form went to %s, want %s", i, got, a)
				}
				seen[a] = true
			}
			if len(seen) != 4 {
				t.Fatalf("300 keys reached %d of 4 targets", len(seen))
			}
		})
	}
}

func TestQueryArgNormalization(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{name: "multi values sorted", a: "id=2&id=1", b: "id=1&id=2", same: true},
		{name: "multi values joined with comma", a: "id=1&id=2", b: "id=1%2C2", same: true},
		{name: "no value is true", a: "id", b: "id=true", same: true},
		{name: "plus is space", a: "id=a+b", b: "id=a%20b", same: true},
		{name: "encoded key", a: "i%64=7", b: "id=7", same: true},
		{name: "bad escape literal", a: "id=%zz", b: "id=%25zz", same: true},
		{name: "empty differs from true", a: "id=", b: "id", same: false},
		{name: "different values", a: "id=1", b: "id=2", same: false},
		{name: "prefix key is not the key", a: "idx=1&id=5", b: "id=5", same: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ha, oka := queryArgHash(tc.a, "id")
			hb, okb := queryArgHash(tc.b, "id")
			if !oka || !okb {
				t.Fatalf("missing: %v %v", oka, okb)
			}
			if (ha == hb) != tc.same {
				t.Fatalf("hash(%q) == hash(%q) is %v, want %v", tc.a, tc.b, ha == hb, tc.same)
			}
		})
	}
	if _, ok := queryArgHash("x=1&idd=2", "id"); ok {
		t.Fatal("found an absent argument")
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
		found bool
	}{
		{lines: []string{"a=1; sess=abc; b=2"}, want: "abc", found: true},
		{lines: []string{"a=1", "sess=x"}, want: "x", found: true},
		{lines: []string{"session=1; xsess=2"}, found: false},
		{lines: []string{"sess=\"q\""}, want: "q", found: true},
		{lines: []string{"sess="}, want: "", found: true},
		{lines: nil, found: false},
	}
	for _, tc := range tests {
		v, ok := cookieValue(tc.lines, "sess")
		if v != tc.want || ok != tc.found {
			t.Errorf("cookieValue(%q) = %q, %v; want %q, %v", tc.lines, v, ok, tc.want, tc.found)
		}
	}
}

var setCookieRE = regexp.MustCompile(`^sess=([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}); Path=/app; SameSite=Lax; HttpOnly$`)

func TestStickyCookie(t *testing.T) {
	for _, algo := range []string{"consistent-hashing", "sticky-sessions"} {
		t.Run(algo, func(t *testing.T) {
			u := hashUpstream(4, func(u *config.Upstream) {
				u.Algorithm, u.HashOn, u.HashOnCookie, u.HashOnCookiePath = algo, "cookie", "sess", "/app"
				if algo == "sticky-sessions" {
					u.HashOn = "" // sticky-sessions hashes on the cookie regardless
				}
			})
			b := mustNew(t, u, Options{})
			values := map[string]bool{}
			targetsSeen := map[string]bool{}
			for range 40 {
				r := &Request{HTTP: httpReq("/app/x", nil)}
				first, cookie, err := b.Pick(r)
				if err != nil {
					t.Fatal(err)
				}
				m := setCookieRE.FindStringSubmatch(cookie)
				if m == nil {
					t.Fatalf("Set-Cookie %q does not match %s", cookie, setCookieRE)
				}
				values[m[1]] = true
				targetsSeen[first.Addr] = true
				// A retry of the same request keeps the cookie and avoids the tried target.
				r.Tried = append(r.Tried, first)
				retry, cookie2, err := b.Pick(r)
				if err != nil || cookie2 != cookie || retry == first {
					t.Fatalf("retry: %v %q %v (first %s, cookie %q)", retry.Addr, cookie2, err, first.Addr, cookie)
				}
				// The client comes back with the cookie: same target, no new cookie.
				for range 3 {
					back := &Request{HTTP: httpReq("/app/y", map[string]string{"Cookie": "other=1; sess=" + m[1]})}
					got, c, err := b.Pick(back)
					if err != nil || got != first || c != "" {
						t.Fatalf("with cookie: %s %q %v, want %s and no Set-Cookie", got.Addr, c, err, first.Addr)
					}
				}
			}
			if len(values) != 40 {
				t.Fatalf("%d distinct cookie values of 40", len(values))
			}
			if len(targetsSeen) < 2 {
				t.Fatalf("new sessions all went to %v", targetsSeen)
			}
		})
	}
}

func TestStickyCookieSingleTarget(t *testing.T) {
	u := hashUpstream(1, func(u *config.Upstream) { u.HashOn, u.HashOnCookie = "cookie", "sess" })
	b := mustNew(t, u, Options{})
	_, cookie, err := b.Pick(&Request{HTTP: httpReq("/", nil)})
	if err != nil || cookie == "" {
		t.Fatalf("single target: cookie %q, err %v; want a generated cookie", cookie, err)
	}
}

func TestHashWithoutKeyIsRoundRobin(t *testing.T) {
	for _, mod := range []func(*config.Upstream){
		func(u *config.Upstream) { u.HashOn = "none" },
		nil, // header missing, no fallback
	} {
		b := mustNew(t, hashUpstream(3, mod), Options{})
		got := counts(t, b, 300, func(int) *Request { return &Request{HTTP: httpReq("/", nil)} })
		for _, tg := range b.active {
			if got[tg.Addr] != 100 {
				t.Fatalf("keyless requests: %v, want 100 each", got)
			}
		}
	}
}

func TestHashSkipsUnhealthyAndTried(t *testing.T) {
	u := hashUpstream(4, func(u *config.Upstream) { u.Healthchecks.Passive.Unhealthy.TCPFailures = 1 })
	b := mustNew(t, u, Options{Cooldown: -1})
	home := map[int]*Target{}
	for i := range 400 {
		home[i] = mustPick(t, b, userReq(i))
	}
	down := b.active[0]
	down.ReportTCPFailure()
	for i := range 400 {
		got := mustPick(t, b, userReq(i))
		if got == down {
			t.Fatalf("key %d went to the unhealthy target", i)
		}
		if home[i] != down && got != home[i] {
			t.Fatalf("key %d moved from healthy %s to %s", i, home[i].Addr, got.Addr)
		}
		r := userReq(i)
		r.Tried = []*Target{got}
		if next := mustPick(t, b, r); next == got || next == down {
			t.Fatalf("retry of key %d: %s (tried %s, down %s)", i, next.Addr, got.Addr, down.Addr)
		}
	}
	if err := b.SetTargetHealth(down.Addr, true); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		if got := mustPick(t, b, userReq(i)); got != home[i] {
			t.Fatalf("key %d did not return home to %s after recovery (got %s)", i, home[i].Addr, got.Addr)
		}
	}
}

func TestHeaderMultipleLines(t *testing.T) {
	r1 := httpReq("/", nil)
	r1.Header["X-User"] = []string{"a", "b"}
	r2 := httpReq("/", map[string]string{"X-User": "a, b"})
	h1, ok1 := keyFor(&Request{HTTP: r1}, hashSpec{kind: hashHeader, param: http.CanonicalHeaderKey("x-user")})
	h2, ok2 := keyFor(&Request{HTTP: r2}, hashSpec{kind: hashHeader, param: "X-User"})
	if !ok1 || !ok2 || h1 != h2 {
		t.Fatalf("two header lines and one joined line hash differently (%v %v)", ok1, ok2)
	}
}
