package host

import (
	"testing"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/proxy"
)

// TestRoutePluginsPrecedence checks Kong's scope precedence
// (kong-ingress.md 6.2) for one plugin name: route+service+consumer,
// route+consumer, service+consumer, route+service, consumer, route,
// service, global; the most specific wins and a consumer-scoped instance
// replaces the default only when it is more specific.
func TestRoutePluginsPrecedence(t *testing.T) {
	cfg := &config.Config{Consumers: []config.Consumer{{Username: "alice"}, {Username: "bob"}, {Username: "carol"}}}
	ix, err := consumers.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := func(u string) string { return ix.ByUsername(u).ID }
	route := &config.Route{Name: "r", Service: "s"}
	type entry struct{ route, service, consumer string }
	tests := []struct {
		name        string
		entries     []entry
		wantDefault int            // index of the default instance, -1 none
		wantByCons  map[string]int // username -> index
	}{
		{name: "global only", entries: []entry{{}}, wantDefault: 0},
		{name: "service beats global", entries: []entry{{}, {service: "s"}}, wantDefault: 1},
		{name: "route beats service", entries: []entry{{service: "s"}, {route: "r"}, {}}, wantDefault: 1},
		{name: "route+service beats route", entries: []entry{{route: "r"}, {route: "r", service: "s"}}, wantDefault: 1},
		{name: "other route ignored", entries: []entry{{route: "x"}, {service: "s"}}, wantDefault: 1},
		{name: "consumer beats route", entries: []entry{{route: "r"}, {consumer: "alice"}}, wantDefault: 0,
			wantByCons: map[string]int{"alice": 1}},
		{name: "route+service beats consumer", entries: []entry{{route: "r", service: "s"}, {consumer: "alice"}}, wantDefault: 0},
		{name: "service+consumer beats route+service", entries: []entry{{route: "r", service: "s"}, {service: "s", consumer: "alice"}}, wantDefault: 0,
			wantByCons: map[string]int{"alice": 1}},
		{name: "route+consumer beats service+consumer", entries: []entry{{service: "s", consumer: "bob"}, {route: "r", consumer: "bob"}, {}}, wantDefault: 2,
			wantByCons: map[string]int{"bob": 1}},
		{name: "route+service+consumer wins", entries: []entry{{route: "r", consumer: "bob"}, {route: "r", service: "s", consumer: "bob"}, {consumer: "carol"}}, wantDefault: -1,
			wantByCons: map[string]int{"bob": 1, "carol": 2}},
		{name: "consumer-only plugin", entries: []entry{{consumer: "alice"}}, wantDefault: -1, wantByCons: map[string]int{"alice": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			c.Plugins = nil
			byIndex := make([]*proxy.Plugin, len(tc.entries))
			for i, e := range tc.entries {
				c.Plugins = append(c.Plugins, config.Plugin{Name: "p", Route: e.route, Service: e.service, Consumer: e.consumer})
				byIndex[i] = &proxy.Plugin{Name: "p", Scope: string(rune('a' + i))}
			}
			out := routePlugins(&c, byIndex, route, ix)
			if len(out) != 1 {
				t.Fatalf("%d plugins, want 1 (never merged, one per name)", len(out))
			}
			p := out[0]
			if tc.wantDefault >= 0 && p.Scope != byIndex[tc.wantDefault].Scope {
				t.Errorf("default is entry %q, want %d", p.Scope, tc.wantDefault)
			}
			if tc.wantDefault < 0 && p.Wasm != nil {
				t.Errorf("a default instance where none applies")
			}
			if len(p.ByConsumer) != len(tc.wantByCons) {
				t.Errorf("ByConsumer has %d entries, want %d", len(p.ByConsumer), len(tc.wantByCons))
			}
			for u, i := range tc.wantByCons {
				if got := p.ByConsumer[id(u)]; got != byIndex[i] {
					t.Errorf("consumer %s gets %v, want entry %d", u, got, i)
				}
			}
		})
	}
}

// TestRoutePluginsOrder: higher priority first, built-ins default to
// Kong's priorities, ties by name.
func TestRoutePluginsOrder(t *testing.T) {
	ten := 10
	cfg := &config.Config{Plugins: []config.Plugin{
		{Name: "rate-limiting"}, {Name: "key-auth"}, {Name: "jwt"}, {Name: "acl"}, {Name: "file:///b.wasm", Priority: &ten}, {Name: "file:///a.wasm", Priority: &ten},
	}}
	byIndex := make([]*proxy.Plugin, len(cfg.Plugins))
	for i := range cfg.Plugins {
		byIndex[i] = &proxy.Plugin{Name: cfg.Plugins[i].Name}
	}
	out := routePlugins(cfg, byIndex, &config.Route{Name: "r"}, nil)
	var got []string
	for _, p := range out {
		got = append(got, p.Name)
	}
	want := []string{"jwt", "key-auth", "acl", "rate-limiting", "file:///a.wasm", "file:///b.wasm"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
