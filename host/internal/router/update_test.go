package router

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestUpdateEqualsCompile applies random sequences of route changes with
// Update and checks, after each, that the table matches random requests
// exactly as Compile of the same routes and the reference router do,
// and that the previous table still answers as before (Update must not
// modify it).
func TestUpdateEqualsCompile(t *testing.T) {
	n := 1500
	if testing.Short() {
		n = 150
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(k int) []byte {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	updates := 0
	for range n {
		routes := genRoutes(&fuzzSource{data: rnd(160)})
		tab, err := Compile(routes)
		if err != nil {
			continue
		}
		for step := range 6 {
			// Replace 1-3 routes by routes of another random set.
			pool := genRoutes(&fuzzSource{data: rnd(160)})
			next := append([]Route(nil), routes...)
			var changes []Change
			for _, i := range rng.Perm(len(routes))[:1+rng.IntN(min(3, len(routes)))] {
				r := pool[rng.IntN(len(pool))]
				r.Name = routes[i].Name
				next[i] = r
				changes = append(changes, Change{Index: i, Route: r})
			}
			up, err := tab.Update(changes)
			_, cerr := Compile(next)
			if (err == nil) != (cerr == nil) {
				t.Fatalf("step %d: Update error %v, Compile error %v", step, err, cerr)
			}
			if err != nil {
				var ce *CompileError
				if !errors.As(err, &ce) || next[ce.Index].Name != routes[ce.Index].Name {
					t.Fatalf("Update error %v does not name a changed route", err)
				}
				break
			}
			updates++
			for range 12 {
				req := genRequest(&fuzzSource{data: rnd(24)})
				got, ok := up.Match(&req)
				want, wantOK := refMatch(next, &req)
				if got != want || ok != wantOK {
					t.Fatalf("step %d: routes %#v\nchanges %#v\nrequest %#v\nupdated   = %+v, %v\nreference = %+v, %v",
						step, routes, changes, req, got, ok, want, wantOK)
				}
				got, ok = tab.Match(&req)
				want, wantOK = refMatch(routes, &req)
				if got != want || ok != wantOK {
					t.Fatalf("step %d: the previous table changed: request %#v: %+v, %v; want %+v, %v", step, req, got, ok, want, wantOK)
				}
			}
			if up.Len() != len(next) {
				t.Fatalf("Len %d, want %d", up.Len(), len(next))
			}
			routes, tab = next, up
		}
	}
	if updates < n {
		t.Fatalf("only %d updates checked", updates)
	}
}

// TestUpdateErrors checks the errors of bad changes, which leave the
// table as it was.
func TestUpdateErrors(t *testing.T) {
	routes := []Route{{Name: "a", Paths: []string{"/a"}}, {Name: "b", Hosts: []string{"b.com"}}}
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		changes []Change
		want    string
	}{
		{name: "bad path", changes: []Change{{Index: 1, Route: Route{Name: "b", Paths: []string{"x"}}}},
			want: `route "b" (#1): paths[0]: path "x" must start with "/" or "~"`},
		{name: "bad host", changes: []Change{{Index: 0, Route: Route{Name: "a", Hosts: []string{"a..com"}}}},
			want: `route "a" (#0): hosts[0]: invalid host "a..com": empty label`},
		{name: "out of range", changes: []Change{{Index: 2, Route: Route{Name: "c"}}},
			want: "router: update of route #2 in a table of 2 routes"},
		{name: "twice", changes: []Change{{Index: 0, Route: Route{}}, {Index: 0, Route: Route{}}},
			want: "router: route #0 updated twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tab.Update(tt.changes)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if m, ok := tab.Match(&Request{Host: "b.com", Path: "/x"}); !ok || m.Route != 1 {
				t.Fatalf("table changed: %+v, %v", m, ok)
			}
		})
	}
}

// TestUpdateNoRoom inserts groups at the same place until the ranks run
// out: Update says so with ErrNoRoom, never with a wrong table.
func TestUpdateNoRoom(t *testing.T) {
	// Route 0 has the longest path, the last route the second shortest;
	// the ones between start with "/" and, one by one, change to "/ab":
	// each new group goes after the one changed before it and before the
	// last route's, halving the room there.
	const n = 80
	routes := make([]Route, n)
	routes[0] = Route{Name: "r0", Paths: []string{"/abc"}}
	for i := 1; i < n-1; i++ {
		routes[i] = Route{Name: "r" + strconv.Itoa(i), Paths: []string{"/"}}
	}
	routes[n-1] = Route{Name: "last", Paths: []string{"/a"}}
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n-1; i++ {
		r := Route{Name: routes[i].Name, Paths: []string{"/ab"}}
		next, err := tab.Update([]Change{{Index: i, Route: r}})
		if errors.Is(err, ErrNoRoom) {
			if i < 10 {
				t.Fatalf("no room after %d updates", i)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = r
		for _, path := range []string{"/", "/a", "/ab", "/abc", "/abd"} {
			req := &Request{Path: path}
			got, ok := next.Match(req)
			want, wantOK := refMatch(routes, req)
			if got != want || ok != wantOK {
				t.Fatalf("update %d: %q matched %+v, %v; want %+v, %v", i, path, got, ok, want, wantOK)
			}
		}
		tab = next
	}
	t.Fatal("ranks never ran out")
}

// TestUpdateConcurrentMatch matches on a table from several goroutines
// while updates derive new tables from it (run with -race: Update must
// write nothing the old table's readers see).
func TestUpdateConcurrentMatch(t *testing.T) {
	routes, reqs := benchRoutes(500)
	tab, err := Compile(routes)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]Match, len(reqs))
	for i := range reqs {
		want[i], _ = tab.Match(&reqs[i])
	}
	done := make(chan struct{})
	errs := make(chan string, 4)
	for g := range 4 {
		go func() {
			for k := 0; ; k++ {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				i := (k*31 + g) % len(reqs)
				if got, _ := tab.Match(&reqs[i]); got != want[i] {
					errs <- fmt.Sprintf("request %d matched %+v, want %+v", i, got, want[i])
					return
				}
			}
		}()
	}
	cur := tab
	for i := range 200 {
		k := (i * 37) % len(routes)
		r := routes[k]
		r.Paths = []string{"/moved/" + strconv.Itoa(i%3)}
		next, err := cur.Update([]Change{{Index: k, Route: r}})
		if errors.Is(err, ErrNoRoom) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		cur = next
	}
	close(done)
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Fatal(msg)
		}
	}
}
