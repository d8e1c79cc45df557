package host

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/router"
)

// deltaModel is a configuration shaped like the Kubernetes translator's
// (one service, upstream and route per app), kept as data so every step
// can generate a fresh, un-normalized config.Config.
type deltaModel struct {
	apps    []int          // app ids in config order
	path    map[int]string // route path per app
	svcPath map[int]string // service path per app
	backend map[int]int    // which backend the upstream targets
	addrs   []string       // backend addresses
}

func (m *deltaModel) config() *config.Config {
	c := &config.Config{FormatVersion: config.FormatVersion}
	f := false
	for _, a := range m.apps {
		id := strconv.Itoa(a)
		c.Services = append(c.Services, &config.Service{Name: "s" + id, Host: "u" + id, Port: 80, Protocol: "http", Path: m.svcPath[a]})
		c.Upstreams = append(c.Upstreams, &config.Upstream{Name: "u" + id})
		c.Targets = append(c.Targets, &config.Target{Upstream: "u" + id, Target: m.addrs[m.backend[a]]})
	}
	for _, a := range m.apps {
		id := strconv.Itoa(a)
		c.Routes = append(c.Routes, &config.Route{Name: "r" + id, Service: "s" + id, Hosts: []string{"h" + id + ".test"},
			Paths: []string{m.path[a]}, PathType: "Prefix", StripPath: &f, OneLabelWildcard: true})
	}
	return c
}

// summary describes what a snapshot serves, entity by entity.
func summary(s *proxy.Snapshot) string {
	var b strings.Builder
	for _, rt := range s.Routes {
		fmt.Fprintf(&b, "route %s strip=%v preserve=%v proto=%d -> ", rt.Name, rt.StripPath, rt.PreserveHost, rt.Protocols)
		if svc := rt.Service; svc != nil {
			fmt.Fprintf(&b, "service %s path=%q host=%q retries=%d", svc.Name, svc.Path, svc.HostHeader, svc.Retries)
			if svc.Balancer != nil {
				var ts []string
				for _, t := range svc.Balancer.Targets() {
					ts = append(ts, t.Addr+"/"+strconv.Itoa(t.Weight))
				}
				slices.Sort(ts)
				fmt.Fprintf(&b, " balancer %s %v", svc.Balancer.Name(), ts)
			}
		}
		b.WriteString("\n")
	}
	var bals []string
	for name, bal := range s.Balancers {
		bals = append(bals, name+"="+bal.Name())
	}
	slices.Sort(bals)
	fmt.Fprintf(&b, "balancers %v\n", bals)
	return b.String()
}

// runtimeRoute finds a snapshot's route by name.
func runtimeRoute(s *proxy.Snapshot, name string) *proxy.Route {
	for _, rt := range s.Routes {
		if rt.Name == name {
			return rt
		}
	}
	return nil
}

// routeFor asks the snapshot's router which route serves host and path.
func routeFor(s *proxy.Snapshot, host, path string) string {
	m, ok := s.Table.Match(&router.Request{Host: host, Path: path, Method: "GET"})
	if !ok {
		return "(none)"
	}
	return s.Routes[m.Route].Name
}

func deltaServer(t *testing.T) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "weir.yaml")
	if err := os.WriteFile(path, []byte("_format_version: \"3.0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{ConfigPath: path, ProxyListen: "127.0.0.1:0", HTTPSListen: "off", AdminListen: "off", StatusListen: "off",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// backends starts n HTTP servers on 127.0.0.1 that answer with their
// index.
func backends(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		id := strconv.Itoa(i)
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, id) }), ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

func getVia(t *testing.T, srv *Server, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.ProxyAddr().String()+path, nil)
	req.Host = host
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestApplyConfigDeltaEqualsFull applies a random sequence of changes
// (route paths, service paths, upstream targets, apps added and removed)
// through ApplyConfigDelta and checks after each that the proxy serves
// exactly what a full build of the same configuration serves, that the
// unchanged upstreams kept their balancers, and that traffic reaches the
// backend the configuration names.
func TestApplyConfigDeltaEqualsFull(t *testing.T) {
	srv := deltaServer(t)
	m := &deltaModel{path: map[int]string{}, svcPath: map[int]string{}, backend: map[int]int{}, addrs: backends(t, 2)}
	next := 0
	addApp := func() int {
		a := next
		next++
		m.apps = append(m.apps, a)
		m.path[a], m.backend[a] = "/", a%2
		return a
	}
	for range 50 {
		addApp()
	}
	cfg := m.config()
	if err := srv.ApplyConfigDelta(cfg, ConfigDelta{Hash: [32]byte{1}}); err != nil {
		t.Fatal(err)
	}
	base := cfg
	rng := rand.New(rand.NewPCG(3, 4))
	deltaLoads := 0
	for step := 1; step <= 60; step++ {
		d := ConfigDelta{Base: base, Hash: [32]byte{byte(step), 2}, Routes: map[string]bool{}, Services: map[string]bool{}, Upstreams: map[string]bool{}}
		var what string
		switch rng.IntN(5) {
		case 0:
			a := pickOne(rng, m.apps)
			m.path[a] = pickOne(rng, []string{"/", "/api", "/v" + strconv.Itoa(step)})
			d.Routes["r"+strconv.Itoa(a)] = true
			what = "route path"
		case 1:
			a := pickOne(rng, m.apps)
			m.svcPath[a] = pickOne(rng, []string{"", "/base", "/b" + strconv.Itoa(step)})
			d.Services["s"+strconv.Itoa(a)] = true
			what = "service path"
		case 2:
			a := pickOne(rng, m.apps)
			m.backend[a] = 1 - m.backend[a]
			d.Upstreams["u"+strconv.Itoa(a)] = true
			what = "target"
		case 3:
			a := addApp()
			id := strconv.Itoa(a)
			d.Routes["r"+id], d.Services["s"+id], d.Upstreams["u"+id] = true, true, true
			what = "add app"
		default:
			i := rng.IntN(len(m.apps))
			m.apps = append(m.apps[:i:i], m.apps[i+1:]...)
			what = "remove app"
		}
		before := srv.Snapshot()
		cfg := m.config()
		if err := srv.ApplyConfigDelta(cfg, d); err != nil {
			t.Fatalf("step %d (%s): %v", step, what, err)
		}
		if srv.Config() != cfg {
			t.Fatalf("step %d (%s): the server does not serve the applied config", step, what)
		}
		snap := srv.Snapshot()
		if snap.Hash == d.Hash {
			deltaLoads++
		}
		// The same configuration built from scratch.
		full := m.config()
		if err := full.Normalize(); err != nil {
			t.Fatal(err)
		}
		if err := full.Validate(); err != nil {
			t.Fatal(err)
		}
		fsnap, err := build(full, full.Hash(), nil, srv.log, srv.pl)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := summary(snap), summary(fsnap); got != want {
			t.Fatalf("step %d (%s): delta load serves\n%s\nfull build serves\n%s", step, what, got, want)
		}
		for _, a := range m.apps {
			h := "h" + strconv.Itoa(a) + ".test"
			if got, want := routeFor(snap, h, m.path[a]+"/x"), routeFor(fsnap, h, m.path[a]+"/x"); got != want {
				t.Fatalf("step %d (%s): %s%s/x routes to %s, full build to %s", step, what, h, m.path[a], got, want)
			}
			u := "u" + strconv.Itoa(a)
			if old := before.Balancers[u]; old != nil && !d.Upstreams[u] && snap.Balancers[u] != old {
				t.Errorf("step %d (%s): unchanged upstream %s got a new balancer", step, what, u)
			}
			id := strconv.Itoa(a)
			if old := runtimeRoute(before, "r"+id); old != nil && !d.Routes["r"+id] && !d.Services["s"+id] && !d.Upstreams[u] && runtimeRoute(snap, "r"+id) != old {
				t.Errorf("step %d (%s): unchanged route r%s got a new runtime route", step, what, id)
			}
		}
		a := pickOne(rng, m.apps)
		if code, body := getVia(t, srv, "h"+strconv.Itoa(a)+".test", strings.TrimSuffix(m.path[a], "/")+"/x"); code != 200 || body != strconv.Itoa(m.backend[a]) {
			t.Fatalf("step %d (%s): app %d answered %d %q, want 200 from backend %d", step, what, a, code, body, m.backend[a])
		}
		base = cfg
	}
	if deltaLoads < 50 {
		t.Errorf("only %d of 60 loads took the delta path", deltaLoads)
	}
}

// TestApplyConfigDeltaRejects checks that a bad changed entity is
// rejected with the full path's error (naming its index in the whole
// configuration), the running configuration keeps serving, and that
// changes outside routes, services and upstreams, or a stale Base, take
// the full path.
func TestApplyConfigDeltaRejects(t *testing.T) {
	srv := deltaServer(t)
	m := &deltaModel{path: map[int]string{}, svcPath: map[int]string{}, backend: map[int]int{}, addrs: backends(t, 2)}
	for a := range 20 {
		m.apps = append(m.apps, a)
		m.path[a] = "/"
	}
	base := m.config()
	if err := srv.ApplyConfigDelta(base, ConfigDelta{}); err != nil {
		t.Fatal(err)
	}
	snap := srv.Snapshot()

	type rejectCase struct {
		name    string
		mutate  func(c *config.Config) ConfigDelta
		wantErr string
	}
	for _, tc := range []rejectCase{
		{name: "invalid path of a changed route", wantErr: "routes[7]", mutate: func(c *config.Config) ConfigDelta {
			c.Routes[7].Paths = []string{"no-slash"}
			return ConfigDelta{Routes: map[string]bool{"r7": true}}
		}},
		{name: "changed route names a missing service", wantErr: "routes[3]", mutate: func(c *config.Config) ConfigDelta {
			c.Routes[3].Service = "nope"
			return ConfigDelta{Routes: map[string]bool{"r3": true}}
		}},
		{name: "bad target of a changed upstream", wantErr: "targets[5]", mutate: func(c *config.Config) ConfigDelta {
			c.Targets[5].Target = "bad host:1"
			return ConfigDelta{Upstreams: map[string]bool{"u5": true}}
		}},
		{name: "lower-case method of a changed route", wantErr: "routes[4]", mutate: func(c *config.Config) ConfigDelta {
			c.Routes[4].Methods = []string{"get"}
			return ConfigDelta{Routes: map[string]bool{"r4": true}}
		}},
		{name: "retries out of range on a changed service", wantErr: "services[6]", mutate: func(c *config.Config) ConfigDelta {
			n := 99999
			c.Services[6].Retries = &n
			return ConfigDelta{Services: map[string]bool{"s6": true}}
		}},
		{name: "duplicate route name", wantErr: "duplicate route", mutate: func(c *config.Config) ConfigDelta {
			c.Routes = append(c.Routes, c.Routes[0])
			return ConfigDelta{}
		}},
		{name: "a nil route (an empty entity, not a panic)", wantErr: "routes[20]", mutate: func(c *config.Config) ConfigDelta {
			c.Routes = append(c.Routes, nil)
			return ConfigDelta{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := m.config()
			d := tc.mutate(c)
			d.Base, d.Hash = base, [32]byte{9}
			err := srv.ApplyConfigDelta(c, d)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
			}
			if srv.Config() != base || srv.Snapshot() != snap {
				t.Fatalf("a rejected config replaced the running one")
			}
			if code, body := getVia(t, srv, "h3.test", "/x"); code != 200 || body != "0" {
				t.Fatalf("after the rejection: %d %q", code, body)
			}
		})
	}

	t.Run("weir section changed: full path", func(t *testing.T) {
		c := m.config()
		c.Weir.RequestIDHeader = "X-Other-Id"
		if err := srv.ApplyConfigDelta(c, ConfigDelta{Base: base, Hash: [32]byte{7}}); err != nil {
			t.Fatal(err)
		}
		s := srv.Snapshot()
		if s.Hash == [32]byte{7} || s.Options.RequestIDHeader != "X-Other-Id" {
			t.Fatalf("hash %x, request id header %q: want the full path and the new header", s.Hash[:2], s.Options.RequestIDHeader)
		}
		base = c
	})
	t.Run("stale base: full path", func(t *testing.T) {
		c := m.config()
		c.Routes[1].Paths = []string{"/stale"}
		// Base names a config the server does not serve.
		if err := srv.ApplyConfigDelta(c, ConfigDelta{Base: m.config(), Hash: [32]byte{8}}); err != nil {
			t.Fatal(err)
		}
		s := srv.Snapshot()
		if s.Hash == [32]byte{8} || routeFor(s, "h1.test", "/stale/x") != "r1" {
			t.Fatalf("stale base: want the full path serving the change")
		}
	})
}

func pickOne[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// TestApplyConfigLeavesEntitiesAlone holds the server to what lets the
// Kubernetes controller share unchanged entities between the
// configurations it hands over: ApplyConfig and ApplyConfigDelta (full
// and delta path) never write to a route, service, upstream or target
// they are given. A reader keeps reading the given entities during the
// loads, so under -race a write is reported even when it would write the
// same value; after the loads every given entity still encodes as it did.
func TestApplyConfigLeavesEntitiesAlone(t *testing.T) {
	srv := deltaServer(t)
	m := &deltaModel{path: map[int]string{}, svcPath: map[int]string{}, backend: map[int]int{}, addrs: backends(t, 2)}
	for a := range 30 {
		m.apps = append(m.apps, a)
		m.path[a], m.backend[a] = "/", a%2
	}
	given := m.config() // the caller's entities, shared by every load below
	share := func() *config.Config {
		c := *given
		c.Routes, c.Services = slices.Clone(given.Routes), slices.Clone(given.Services)
		c.Upstreams, c.Targets = slices.Clone(given.Upstreams), slices.Clone(given.Targets)
		return &c
	}
	var entities []any
	for _, e := range given.Routes {
		entities = append(entities, e)
	}
	for _, e := range given.Services {
		entities = append(entities, e)
	}
	for _, e := range given.Upstreams {
		entities = append(entities, e)
	}
	for _, e := range given.Targets {
		entities = append(entities, e)
	}
	encode := func() []string {
		var out []string
		for _, e := range entities {
			b, err := json.Marshal(e)
			if err != nil {
				panic(err)
			}
			out = append(out, string(b))
		}
		return out
	}
	want := encode()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				encode()
			}
		}
	}()

	// Full path (no base), then deltas: a changed route and a changed
	// service are new entities; everything else is the given ones.
	cfg := share()
	if err := srv.ApplyConfigDelta(cfg, ConfigDelta{Hash: [32]byte{1}}); err != nil {
		t.Fatal(err)
	}
	base := cfg
	cfg = share()
	r := *cfg.Routes[3]
	r.Paths = []string{"/changed"}
	cfg.Routes[3] = &r
	d := ConfigDelta{Base: base, Hash: [32]byte{2}, Routes: map[string]bool{r.Name: true}}
	if err := srv.ApplyConfigDelta(cfg, d); err != nil {
		t.Fatal(err)
	}
	if srv.Snapshot().Hash != d.Hash {
		t.Fatal("the route change did not take the delta path")
	}
	base = cfg
	cfg = share()
	s := *cfg.Services[5]
	s.Path = "/base"
	cfg.Services[5] = &s
	d = ConfigDelta{Base: base, Hash: [32]byte{3}, Services: map[string]bool{s.Name: true}, Routes: map[string]bool{r.Name: true}}
	if err := srv.ApplyConfigDelta(cfg, d); err != nil {
		t.Fatal(err)
	}
	if srv.Snapshot().Hash != d.Hash {
		t.Fatal("the service change did not take the delta path")
	}
	cfg = share()
	cfg.Routes = cfg.Routes[1:]
	if err := srv.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	if got := encode(); !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("a given entity was written to:\nbefore %s\nafter  %s", want[i], got[i])
			}
		}
	}
	for _, e := range srv.Config().Routes {
		if slices.Contains(given.Routes, e) {
			t.Fatalf("the configuration in service holds the caller's route %s itself, not a copy", e.Name)
		}
	}
}
