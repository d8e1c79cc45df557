package host

import (
	"strconv"
	"strings"
	"testing"
)

// TestApplyConfigDeltaRouterUpdate changes one route at a time, each
// change inserting its route's group at the same place in the priority
// order (after app 0's longer path, just before the previous change's),
// so the delta loads update the router table until its ranks run out
// there and then compile it whole. After every load the proxy must route every app's host and
// path as a full build of the same configuration does.
func TestApplyConfigDeltaRouterUpdate(t *testing.T) {
	srv := deltaServer(t)
	m := &deltaModel{path: map[int]string{}, svcPath: map[int]string{}, backend: map[int]int{}, addrs: backends(t, 2)}
	const n = 60
	for a := 0; a < n; a++ {
		m.apps = append(m.apps, a)
		m.path[a], m.backend[a] = "/", a%2
	}
	m.path[0] = "/zzzz"
	base := m.config()
	if err := srv.ApplyConfigDelta(base, ConfigDelta{Hash: [32]byte{1}}); err != nil {
		t.Fatal(err)
	}
	for a := n - 1; a > 0; a-- {
		m.path[a] = "/zz"
		d := ConfigDelta{Base: base, Hash: [32]byte{byte(a), 3}, Routes: map[string]bool{"r" + strconv.Itoa(a): true}}
		cfg := m.config()
		if err := srv.ApplyConfigDelta(cfg, d); err != nil {
			t.Fatalf("change %d: %v", a, err)
		}
		snap := srv.Snapshot()
		if snap.Hash != d.Hash {
			t.Fatalf("change %d did not take the delta path", a)
		}
		full := m.config()
		if err := full.Normalize(); err != nil {
			t.Fatal(err)
		}
		fsnap, err := build(full, full.Hash(), nil, srv.log, srv.pl)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range m.apps {
			h := "h" + strconv.Itoa(b) + ".test"
			for _, p := range []string{"/", "/zz", "/zz/x", "/z"} {
				if got, want := routeFor(snap, h, p), routeFor(fsnap, h, p); got != want {
					t.Fatalf("change %d: %s%s routes to %s, full build to %s", a, h, p, got, want)
				}
			}
		}
		base = cfg
	}
	// A bad changed route is rejected naming it; the last table serves.
	bad := m.config()
	bad.Routes[7].Paths = []string{"zz"}
	err := srv.ApplyConfigDelta(bad, ConfigDelta{Base: base, Hash: [32]byte{9, 9}, Routes: map[string]bool{"r7": true}})
	if err == nil {
		t.Fatal("a route path without a leading slash was accepted")
	}
	if want := "routes[7]"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "r7") {
		t.Fatalf("error %q does not name %s (route r7)", err, want)
	}
	if got := routeFor(srv.Snapshot(), "h7.test", "/zz"); got != "r7" {
		t.Fatalf("after the rejected load h7.test/zz routes to %s, want r7", got)
	}
}
