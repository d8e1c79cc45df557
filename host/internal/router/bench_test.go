package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
)

// benchRoutes builds n routes shaped like a large multi-tenant deployment:
// ~50% exact hosts with Kong prefix paths, ~15% wildcard hosts (Kong
// any-depth, Ingress one-label, trailing), ~15% Ingress Exact/Prefix, ~15%
// host-less (some with methods/headers), ~5% regex paths (most with a
// literal prefix, some without). For every route it also returns a request
// that the route (or a higher-priority one) matches.
func benchRoutes(n int) ([]Route, []Request) {
	rng := rand.New(rand.NewPCG(42, 42))
	routes := make([]Route, 0, n)
	reqs := make([]Request, 0, n)
	for i := range n {
		var r Route
		var q Request
		r.Name = fmt.Sprintf("r%d", i)
		switch k := rng.IntN(100); {
		case k < 50: // exact host, Kong prefixes
			host := fmt.Sprintf("svc%d.example.com", rng.IntN(1500))
			p := fmt.Sprintf("/api/v%d/res%d", rng.IntN(3), i)
			r.Hosts = []string{host}
			r.Paths = []string{p, p + "/items"}
			q = Request{Host: host, Path: p + "/items/7", Method: "GET"}
		case k < 58: // Kong wildcard, any depth
			suffix := fmt.Sprintf("tenant%d.example.net", rng.IntN(300))
			r.Hosts = []string{"*." + suffix}
			r.Paths = []string{fmt.Sprintf("/t/%d", i)}
			q = Request{Host: "a.b." + suffix, Path: fmt.Sprintf("/t/%d/x", i), Method: "GET"}
		case k < 63: // Ingress one-label wildcard
			suffix := fmt.Sprintf("team%d.ingress.io", rng.IntN(200))
			r.Hosts = []string{"*." + suffix}
			r.WildcardOneLabel = true
			r.PathKind = PathPrefix
			r.Paths = []string{fmt.Sprintf("/w/%d/", i)}
			q = Request{Host: "app." + suffix, Path: fmt.Sprintf("/w/%d/y", i), Method: "GET"}
		case k < 65: // trailing wildcard
			prefix := fmt.Sprintf("edge%d", rng.IntN(50))
			r.Hosts = []string{prefix + ".*"}
			r.Paths = []string{fmt.Sprintf("/e/%d", i)}
			q = Request{Host: prefix + ".example.org", Path: fmt.Sprintf("/e/%d", i), Method: "GET"}
		case k < 80: // Ingress Exact / Prefix on exact hosts
			host := fmt.Sprintf("app%d.ingress.io", rng.IntN(1000))
			r.Hosts = []string{host}
			if rng.IntN(2) == 0 {
				r.PathKind = PathExact
				r.Paths = []string{fmt.Sprintf("/app/%d/exact", i)}
				q = Request{Host: host, Path: r.Paths[0], Method: "GET"}
			} else {
				r.PathKind = PathPrefix
				r.Paths = []string{fmt.Sprintf("/app/%d", i)}
				q = Request{Host: host, Path: fmt.Sprintf("/app/%d/sub/page", i), Method: "GET"}
			}
		case k < 95: // host-less
			r.Paths = []string{fmt.Sprintf("/hl/%d/", i)}
			q = Request{Host: "unknown.example", Path: fmt.Sprintf("/hl/%d/z", i), Method: "GET"}
			if rng.IntN(4) == 0 {
				r.Methods = []string{"GET", "POST"}
			}
			if rng.IntN(8) == 0 {
				r.Headers = map[string][]string{"X-Tenant": {fmt.Sprintf("t%d", i)}}
				q.Header = http.Header{"X-Tenant": {fmt.Sprintf("T%d", i)}}
			}
		default: // regex
			r.RegexPriority = rng.IntN(3)
			if rng.IntN(5) == 0 {
				// No literal prefix: evaluated at the trie root.
				r.Paths = []string{fmt.Sprintf(`~/(orders|carts)%d/\d+$`, i)}
				q = Request{Host: "unknown.example", Path: fmt.Sprintf("/carts%d/123", i), Method: "GET"}
			} else {
				host := fmt.Sprintf("svc%d.example.com", rng.IntN(1500))
				r.Hosts = []string{host}
				r.Paths = []string{fmt.Sprintf(`~/users/\d+/orders%d/[a-z]+`, i)}
				q = Request{Host: host, Path: fmt.Sprintf("/users/99/orders%d/abc/x", i), Method: "GET"}
			}
		}
		routes = append(routes, r)
		reqs = append(reqs, q)
	}
	return routes, reqs
}

func BenchmarkMatch10k(b *testing.B) {
	routes, reqs := benchRoutes(10000)
	tab, err := Compile(routes)
	if err != nil {
		b.Fatal(err)
	}
	// Every request must match, and (sanity) match the reference router.
	for i := range 200 {
		q := &reqs[i*len(reqs)/200]
		got, ok := tab.Match(q)
		want, wantOK := refMatch(routes, q)
		if !ok || got != want || ok != wantOK {
			b.Fatalf("request %+v: table %+v %v, reference %+v %v", q, got, ok, want, wantOK)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	uniform := make([]Request, 4096)
	for i := range uniform {
		uniform[i] = reqs[rng.IntN(len(reqs))]
	}
	b.Run("uniform", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := tab.Match(&uniform[i&4095]); !ok {
				b.Fatal("no match")
			}
			i++
		}
	})
	b.Run("last-route", func(b *testing.B) {
		q := &reqs[len(reqs)-1]
		if m, ok := tab.Match(q); !ok || m.Route != len(routes)-1 {
			b.Fatalf("last request matched %+v %v", m, ok)
		}
		b.ReportAllocs()
		for b.Loop() {
			tab.Match(q)
		}
	})
	b.Run("no-match", func(b *testing.B) {
		q := &Request{Host: "a.b.c.nowhere.example.com", Path: "/no/such/path/anywhere", Method: "GET"}
		if m, ok := tab.Match(q); ok {
			b.Fatalf("matched %+v", m)
		}
		b.ReportAllocs()
		for b.Loop() {
			tab.Match(q)
		}
	})
	b.Run("regex-strip", func(b *testing.B) {
		q := &Request{Host: "svc1.example.com", Path: "/users/12345/orders0/abc/def"}
		var regexRoute = -1
		for i, r := range routes {
			if len(r.Hosts) == 1 && len(r.Paths) == 1 && r.Paths[0][0] == '~' {
				regexRoute = i
				q = &reqs[i]
				break
			}
		}
		if m, ok := tab.Match(q); !ok || m.Route != regexRoute {
			b.Fatalf("regex request matched %+v %v, want route %d", m, ok, regexRoute)
		}
		b.ReportAllocs()
		for b.Loop() {
			tab.Match(q)
		}
	})
}

func BenchmarkCompile10k(b *testing.B) {
	routes, _ := benchRoutes(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(routes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate10k measures Table.Update replacing one route of the
// 10,000 of BenchmarkCompile10k (its paths change, alternating, so every
// update moves its groups); compare BenchmarkCompile10k, the whole
// table. An update that finds no room between ranks compiles anew, as
// the proxy does.
func BenchmarkUpdate10k(b *testing.B) {
	routes, _ := benchRoutes(10000)
	tab, err := Compile(routes)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		k := (i * 7919) % len(routes)
		r := routes[k]
		r.Paths = []string{fmt.Sprintf("/moved/%d", i%3)}
		next, err := tab.Update([]Change{{Index: k, Route: r}})
		if err == ErrNoRoom {
			routes[k] = r
			next, err = Compile(routes)
		}
		if err != nil {
			b.Fatal(err)
		}
		routes[k] = r
		tab = next
	}
}
