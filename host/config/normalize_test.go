package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// mustParse parses a document or fails the test.
func mustParse(t testing.TB, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// mustNormalize parses and normalizes a document or fails the test.
func mustNormalize(t testing.TB, doc string) *Config {
	t.Helper()
	c := mustParse(t, doc)
	if err := c.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return c
}

func TestNormalizeFlattens(t *testing.T) {
	c := mustNormalize(t, `_format_version: "3.0"
services:
- name: a
  host: a.example.com
  routes:
  - name: a1
    paths: [/a1]
    plugins:
    - name: rate-limiting
  - name: a2
    service: a
    paths: [/a2]
  plugins:
  - name: key-auth
routes:
- name: top
  service: a
  paths: [/top]
upstreams:
- name: up.example
  targets:
  - target: 10.0.0.1:80
  - target: 10.0.0.2
targets:
- target: 10.0.0.9:80
  upstream: up.example
consumers:
- username: alice
  plugins:
  - name: acl
plugins:
- name: correlation-id
`)
	for i, s := range c.Services {
		if len(s.Routes) != 0 || len(s.Plugins) != 0 {
			t.Errorf("services[%d] still has nested entities", i)
		}
	}
	if len(c.Upstreams[0].Targets) != 0 || len(c.Consumers[0].Plugins) != 0 {
		t.Error("nested targets or consumer plugins were not moved")
	}

	type routeRef struct{ Name, Service string }
	var routes []routeRef
	for _, r := range c.Routes {
		if len(r.Plugins) != 0 {
			t.Errorf("route %q still has nested plugins", r.Name)
		}
		routes = append(routes, routeRef{r.Name, r.Service})
	}
	wantRoutes := []routeRef{{"top", "a"}, {"a1", "a"}, {"a2", "a"}}
	if !reflect.DeepEqual(routes, wantRoutes) {
		t.Errorf("routes = %+v, want %+v", routes, wantRoutes)
	}

	type pluginRef struct{ Name, Service, Route, Consumer string }
	var plugins []pluginRef
	for _, p := range c.Plugins {
		plugins = append(plugins, pluginRef{p.Name, p.Service, p.Route, p.Consumer})
	}
	wantPlugins := []pluginRef{
		{Name: "correlation-id"},
		{Name: "key-auth", Service: "a"},
		{Name: "rate-limiting", Route: "a1"},
		{Name: "acl", Consumer: "alice"},
	}
	if !reflect.DeepEqual(plugins, wantPlugins) {
		t.Errorf("plugins = %+v, want %+v", plugins, wantPlugins)
	}

	type targetRef struct{ Target, Upstream string }
	var targets []targetRef
	for _, tg := range c.Targets {
		targets = append(targets, targetRef{tg.Target, tg.Upstream})
	}
	wantTargets := []targetRef{{"10.0.0.9:80", "up.example"}, {"10.0.0.1:80", "up.example"}, {"10.0.0.2:8000", "up.example"}}
	if !reflect.DeepEqual(targets, wantTargets) {
		t.Errorf("targets = %+v, want %+v", targets, wantTargets)
	}

	wantOrigins := map[string]string{
		"routes[1]":  "services[0].routes[0]",
		"routes[2]":  "services[0].routes[1]",
		"plugins[1]": "services[0].plugins[0]",
		"plugins[2]": "services[0].routes[0].plugins[0]",
		"plugins[3]": "consumers[0].plugins[0]",
		"targets[1]": "upstreams[0].targets[0]",
		"targets[2]": "upstreams[0].targets[1]",
	}
	if !reflect.DeepEqual(c.origins, wantOrigins) {
		t.Errorf("origins = %v, want %v", c.origins, wantOrigins)
	}
}

func TestNormalizeDerivesParentIDs(t *testing.T) {
	const doc = `_format_version: "3.0"
services:
- host: a.example.com
  routes:
  - paths: [/]
    plugins:
    - name: p
consumers:
- custom_id: c-1
  plugins:
  - name: q
`
	c := mustNormalize(t, doc)
	svc, route, cons := c.Services[0].ID, c.Routes[0].ID, c.Consumers[0].ID
	for _, id := range []string{svc, route, cons} {
		if err := checkUUID(id); err != nil {
			t.Errorf("derived id: %v", err)
		}
	}
	if svc == route || svc == cons {
		t.Errorf("derived ids collide: %s %s %s", svc, route, cons)
	}
	if c.Routes[0].Service != svc || c.Plugins[0].Route != route || c.Plugins[1].Consumer != cons {
		t.Errorf("children do not refer to the derived ids: %+v %+v", c.Routes[0], c.Plugins)
	}
	again := mustNormalize(t, doc)
	if again.Services[0].ID != svc || again.Routes[0].ID != route {
		t.Error("derived ids are not deterministic")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// A parent with an id keeps it and is referred to by it.
	c = mustNormalize(t, `_format_version: "3.0"
services:
- id: 0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
  host: a.example.com
  routes:
  - paths: [/]
`)
	if got := c.Routes[0].Service; got != "0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d" {
		t.Errorf("route service = %q, want the service id", got)
	}
}

func TestNormalizeNestedConflicts(t *testing.T) {
	c := mustParse(t, `_format_version: "3.0"
services:
- name: a
  host: a.example.com
  routes:
  - name: r
    service: b
    paths: [/]
    plugins:
    - name: p
      route: other
  plugins:
  - name: q
    service: b
upstreams:
- name: u
  targets:
  - target: 10.0.0.1:80
    upstream: v
consumers:
- username: alice
  plugins:
  - name: s
    consumer: bob
`)
	ve := fieldErrors(t, c.Normalize())
	want := []string{
		`consumers[0].plugins[0] (plugin "s"): consumer: names consumer "bob" but is nested in consumer "alice"`,
		`services[0].plugins[0] (plugin "q"): service: names service "b" but is nested in service "a"`,
		`services[0].routes[0].plugins[0] (plugin "p"): route: names route "other" but is nested in route "r"`,
		`services[0].routes[0] (route "r"): service: names service "b" but is nested in service "a"`,
		`upstreams[0].targets[0] (target "10.0.0.1:80"): upstream: names upstream "v" but is nested in upstream "u"`,
	}
	var got []string
	for _, e := range ve {
		got = append(got, e.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Naming the parent explicitly (by name or id) is fine.
	mustNormalize(t, `_format_version: "3.0"
services:
- name: a
  id: 0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
  host: a.example.com
  routes:
  - service: a
    paths: [/]
  - service: 0b9a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
    paths: [/]
`)
}

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		name     string
		service  string // YAML fields of one service
		want     Service
		wantErrs []string
	}{
		{
			name:    "http with port and path",
			service: "url: http://example.com:8080/api/v1",
			want:    Service{Protocol: "http", Host: "example.com", Port: 8080, Path: "/api/v1"},
		},
		{
			name:    "http default port, no path",
			service: "url: http://example.com",
			want:    Service{Protocol: "http", Host: "example.com", Port: 80},
		},
		{
			name:    "https default port, root path",
			service: "url: https://example.com/",
			want:    Service{Protocol: "https", Host: "example.com", Port: 443, Path: "/"},
		},
		{
			name:    "grpc default port",
			service: "url: grpc://grpc.example.com",
			want:    Service{Protocol: "grpc", Host: "grpc.example.com", Port: 80},
		},
		{
			name:    "grpcs default port",
			service: "url: grpcs://grpc.example.com",
			want:    Service{Protocol: "grpcs", Host: "grpc.example.com", Port: 443},
		},
		{
			name:    "ipv6 host",
			service: "url: http://[2001:db8::1]:9000",
			want:    Service{Protocol: "http", Host: "2001:db8::1", Port: 9000},
		},
		{
			name:    "scheme is case-insensitive",
			service: "url: HTTPS://Example.com",
			want:    Service{Protocol: "https", Host: "Example.com", Port: 443},
		},
		{
			name:    "escaped path kept escaped",
			service: "url: http://example.com/a%20b",
			want:    Service{Protocol: "http", Host: "example.com", Port: 80, Path: "/a%20b"},
		},
		{
			name:    "weir responder",
			service: "url: weir://echo",
			want:    Service{Protocol: "weir", Host: "echo", Port: 80},
		},
		{
			name:    "agreeing explicit fields",
			service: "url: https://example.com:8443/x\n  protocol: https\n  host: example.com\n  port: 8443\n  path: /x",
			want:    Service{Protocol: "https", Host: "example.com", Port: 8443, Path: "/x"},
		},
		{
			name:    "conflicting fields",
			service: "url: https://example.com/x\n  protocol: http\n  host: other.example.com\n  port: 8443\n  path: /y",
			wantErrs: []string{
				`services[0] (service "s"): host: "other.example.com" conflicts with url "https://example.com/x" (which gives "example.com"); set one or the other`,
				`services[0] (service "s"): path: "/y" conflicts with url`,
				`services[0] (service "s"): port: "8443" conflicts with url "https://example.com/x" (which gives "443")`,
				`services[0] (service "s"): protocol: "http" conflicts with url`,
			},
		},
		{
			name:     "missing scheme",
			service:  "url: example.com/x",
			wantErrs: []string{`services[0] (service "s"): url: invalid url "example.com/x": want scheme://host[:port][/path]`},
		},
		{
			name:     "missing host",
			service:  "url: http:///x",
			wantErrs: []string{`url: invalid url "http:///x": missing host`},
		},
		{
			name:     "query",
			service:  "url: http://example.com/?a=1",
			wantErrs: []string{`url: invalid url "http://example.com/?a=1": a query or fragment is not supported`},
		},
		{
			name:     "user info",
			service:  "url: http://u:p@example.com/",
			wantErrs: []string{`user info is not supported`},
		},
		{
			name:     "bad port",
			service:  "url: http://example.com:99999/",
			wantErrs: []string{`invalid port "99999"`},
		},
		{
			name:     "unparsable",
			service:  "url: \"http://exa mple.com\"",
			wantErrs: []string{`url: invalid url "http://exa mple.com": invalid character " " in host name`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "_format_version: \"3.0\"\nservices:\n- name: s\n  "+tt.service+"\n")
			err := c.Normalize()
			if len(tt.wantErrs) > 0 {
				ve := fieldErrors(t, err)
				if len(ve) != len(tt.wantErrs) {
					t.Fatalf("got %d errors, want %d: %v", len(ve), len(tt.wantErrs), err)
				}
				for i, w := range tt.wantErrs {
					if !strings.Contains(ve[i].Error(), w) {
						t.Errorf("error %d = %q, want it to contain %q", i, ve[i].Error(), w)
					}
				}
				if c.Services[0].URL == "" {
					t.Error("a bad url was dropped")
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			s := c.Services[0]
			got := Service{Protocol: s.Protocol, Host: s.Host, Port: s.Port, Path: s.Path, URL: s.URL}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("service = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	c := mustNormalize(t, `_format_version: "3.0"
services:
- name: s
  host: example.com
routes:
- name: r
  paths: [/]
- name: g
  protocols: [grpc]
  paths: [/]
upstreams:
- name: u
targets:
- target: example.com
  upstream: u
plugins:
- name: p
`)
	s := c.Services[0]
	if s.Protocol != "http" || s.Port != 80 || *s.Retries != 5 || s.ConnectTimeout != 60000 ||
		s.WriteTimeout != 60000 || s.ReadTimeout != 60000 || !*s.Enabled || s.TLSVerify != nil {
		t.Errorf("service defaults: %+v", s)
	}

	r := c.Routes[0]
	if !slices.Equal(r.Protocols, []string{"http", "https"}) || !*r.StripPath || *r.PreserveHost ||
		r.HTTPSRedirectStatusCode != 426 || r.PathHandling != "v0" || r.RegexPriority != 0 ||
		!*r.RequestBuffering || !*r.ResponseBuffering {
		t.Errorf("route defaults: %+v", r)
	}
	if g := c.Routes[1]; *g.StripPath {
		t.Error("a grpc route defaults to strip_path true; Kong's grpc subschema says false")
	}

	u := c.Upstreams[0]
	if u.Algorithm != "round-robin" || u.Slots != 10000 || u.HashOn != "none" || u.HashFallback != "none" ||
		u.HashOnCookiePath != "/" || *u.UseSRVName {
		t.Errorf("upstream defaults: %+v", u)
	}
	a := u.Healthchecks.Active
	if a.Type != "http" || a.Concurrency != 10 || a.HTTPPath != "/" || !*a.HTTPSVerifyCertificate || a.Timeout != 1 ||
		a.Healthy.Interval != 0 || a.Healthy.Successes != 0 || a.Unhealthy.Interval != 0 ||
		a.Unhealthy.TCPFailures != 0 || a.Unhealthy.Timeouts != 0 || a.Unhealthy.HTTPFailures != 0 {
		t.Errorf("active healthcheck defaults: %+v", a)
	}
	if !slices.Equal(a.Healthy.HTTPStatuses, []int{200, 302}) ||
		!slices.Equal(a.Unhealthy.HTTPStatuses, []int{429, 404, 500, 501, 502, 503, 504, 505}) {
		t.Errorf("active statuses: %v %v", a.Healthy.HTTPStatuses, a.Unhealthy.HTTPStatuses)
	}
	p := u.Healthchecks.Passive
	if p.Type != "http" ||
		!slices.Equal(p.Healthy.HTTPStatuses, []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}) ||
		!slices.Equal(p.Unhealthy.HTTPStatuses, []int{429, 500, 503}) {
		t.Errorf("passive healthcheck defaults: %+v", p)
	}
	if u.Healthchecks.Threshold != 0 {
		t.Errorf("threshold = %g", u.Healthchecks.Threshold)
	}

	tg := c.Targets[0]
	if tg.Target != "example.com:8000" || *tg.Weight != 100 {
		t.Errorf("target defaults: %+v", tg)
	}

	pl := c.Plugins[0]
	if !*pl.Enabled || pl.FailPolicy != "closed" || !slices.Equal(pl.Protocols, []string{"grpc", "grpcs", "http", "https"}) {
		t.Errorf("plugin defaults: %+v", pl)
	}

	w := c.Weir
	if w.RequestIDHeader != "X-Request-Id" || !*w.ServerTokens || w.ShutdownTimeout != 30000 {
		t.Errorf("weir defaults: %+v", w)
	}
	cp := w.Compression
	if !slices.Equal(cp.Algorithms, []string{"zstd", "gzip"}) || cp.MinLength != 1024 || cp.GzipLevel != 5 || cp.ZstdLevel != 1 || cp.Enabled {
		t.Errorf("compression defaults: %+v", cp)
	}

	// Defaults are copies: changing one config must not change another.
	c.Routes[0].Protocols[0] = "changed"
	c.Upstreams[0].Healthchecks.Active.Healthy.HTTPStatuses[0] = 1
	other := mustNormalize(t, "_format_version: \"3.0\"\nroutes:\n- paths: [/]\nupstreams:\n- name: u\n")
	if other.Routes[0].Protocols[0] != "http" || other.Upstreams[0].Healthchecks.Active.Healthy.HTTPStatuses[0] != 200 {
		t.Error("normalized configs share default slices")
	}
}

func TestNormalizeKeepsExplicitValues(t *testing.T) {
	c := mustNormalize(t, `_format_version: "3.0"
weir:
  request_id_header: "off"
  server_tokens: false
  shutdown_timeout: 5000
  compression:
    algorithms: [gzip]
    min_length: -1
    gzip_level: 9
    zstd_level: 4
services:
- name: s
  protocol: https
  host: example.com
  port: 8443
  retries: 0
  connect_timeout: 1
  enabled: false
routes:
- name: r
  protocols: [https]
  paths: [/]
  strip_path: false
  preserve_host: true
  https_redirect_status_code: 301
  path_handling: v1
  request_buffering: false
upstreams:
- name: u
  algorithm: least-connections
  slots: 100
  healthchecks:
    active:
      type: tcp
      concurrency: 2
      healthy:
        http_statuses: [204]
targets:
- target: "[::1]:81"
  upstream: u
  weight: 0
plugins:
- name: p
  enabled: false
  protocols: [http]
  fail_policy: open
`)
	w := c.Weir
	if w.RequestIDHeader != "off" || *w.ServerTokens || w.ShutdownTimeout != 5000 ||
		!slices.Equal(w.Compression.Algorithms, []string{"gzip"}) || w.Compression.MinLength != -1 ||
		w.Compression.GzipLevel != 9 || w.Compression.ZstdLevel != 4 {
		t.Errorf("weir = %+v", w)
	}
	s := c.Services[0]
	if s.Protocol != "https" || s.Port != 8443 || *s.Retries != 0 || s.ConnectTimeout != 1 || *s.Enabled {
		t.Errorf("service = %+v", s)
	}
	r := c.Routes[0]
	if *r.StripPath || !*r.PreserveHost || r.HTTPSRedirectStatusCode != 301 || r.PathHandling != "v1" || *r.RequestBuffering {
		t.Errorf("route = %+v", r)
	}
	u := c.Upstreams[0]
	if u.Algorithm != "least-connections" || u.Slots != 100 || u.Healthchecks.Active.Type != "tcp" ||
		u.Healthchecks.Active.Concurrency != 2 || !slices.Equal(u.Healthchecks.Active.Healthy.HTTPStatuses, []int{204}) {
		t.Errorf("upstream = %+v", u)
	}
	if tg := c.Targets[0]; tg.Target != "[::1]:81" || *tg.Weight != 0 {
		t.Errorf("target = %+v", tg)
	}
	if p := c.Plugins[0]; *p.Enabled || !slices.Equal(p.Protocols, []string{"http"}) || p.FailPolicy != "open" {
		t.Errorf("plugin = %+v", p)
	}
}

func TestNormalizeTargets(t *testing.T) {
	tests := []struct {
		name, target, want string
	}{
		{name: "ipv4 with port", target: "10.0.0.1:80", want: "10.0.0.1:80"},
		{name: "ipv4 default port", target: "10.0.0.1", want: "10.0.0.1:8000"},
		{name: "hostname default port", target: "backend.example.com", want: "backend.example.com:8000"},
		{name: "bare ipv6 gets brackets and port", target: "2001:db8::1", want: "[2001:db8::1]:8000"},
		{name: "bracketed ipv6 without port", target: "[2001:db8::1]", want: "[2001:db8::1]:8000"},
		{name: "ipv6 canonical form", target: "[2001:0db8:0000::0001]:9", want: "[2001:db8::1]:9"},
		{name: "invalid left for Validate", target: "bad host", want: "bad host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Targets: []*Target{{Target: tt.target, Upstream: "u"}}}
			if err := c.Normalize(); err != nil {
				t.Fatal(err)
			}
			if got := c.Targets[0].Target; got != tt.want {
				t.Errorf("target = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNormalizeLegacyFormat(t *testing.T) {
	tests := []struct {
		name    string
		version string
		paths   []string
		want    []string
	}{
		{
			name:    "2.1 regex detection",
			version: "2.1",
			paths:   []string{"/plain/path-1.0_~%20", `/users/\d+`, "/a(b)?", "~/already"},
			want:    []string{"/plain/path-1.0_~%20", `~/users/\d+`, "~/a(b)?", "~/already"},
		},
		{
			name:    "1.1 regex detection",
			version: "1.1",
			paths:   []string{"/v[0-9]"},
			want:    []string{"~/v[0-9]"},
		},
		{
			name:    "3.0 paths untouched",
			version: "3.0",
			paths:   []string{`/users/\d+`},
			want:    []string{`/users/\d+`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{FormatVersion: tt.version, Routes: []*Route{{Paths: slices.Clone(tt.paths)}}}
			if err := c.Normalize(); err != nil {
				t.Fatal(err)
			}
			if c.FormatVersion != FormatVersion {
				t.Errorf("format version = %q, want %q", c.FormatVersion, FormatVersion)
			}
			if !slices.Equal(c.Routes[0].Paths, tt.want) {
				t.Errorf("paths = %q, want %q", c.Routes[0].Paths, tt.want)
			}
		})
	}
}

func TestNormalizeEmptyFormatVersion(t *testing.T) {
	c := &Config{}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if c.FormatVersion != FormatVersion {
		t.Errorf("format version = %q", c.FormatVersion)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("an empty normalized config is invalid: %v", err)
	}
}

func TestNormalizeIdempotent(t *testing.T) {
	docs := map[string]string{
		"kong.yml": string(readTestdata(t, "kong.yml")),
		"legacy": `_format_version: "2.1"
services:
- url: http://example.com
  routes:
  - paths: ["/v\\d+"]
    plugins: [{name: p}]
`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			c := mustNormalize(t, doc)
			once := c.Hash()
			snapshot := *c
			snapshot.Routes = slices.Clone(c.Routes)
			if err := c.Normalize(); err != nil {
				t.Fatalf("second Normalize: %v", err)
			}
			if c.Hash() != once {
				t.Error("a second Normalize changed the config")
			}
			if !reflect.DeepEqual(c.Routes, snapshot.Routes) || !reflect.DeepEqual(c.origins, snapshot.origins) {
				t.Error("a second Normalize changed routes or origins")
			}
		})
	}
}

// TestNormalizeLeavesEntitiesAlone: Normalize works on copies of the
// routes, services, upstreams and targets it is given and never writes to
// the entities themselves (nor to the lists they hold, such as a legacy
// document's route paths): a caller may share entities between the
// configurations it hands to the proxy (the Kubernetes controller does).
func TestNormalizeLeavesEntitiesAlone(t *testing.T) {
	for _, doc := range []string{validBase, `
_format_version: "1.1"
services:
- name: s
  url: https://example.com:8443/base
  routes:
  - name: nested
    paths: [/a.b, /c+d]
  plugins:
  - name: key-auth
routes:
- name: top
  service: s
  paths: ["/x(y)"]
  plugins:
  - name: cors
upstreams:
- name: u
  targets:
  - target: 10.0.0.1
targets:
- target: "[::1]"
  upstream: u
`} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		enc := func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		type kept struct {
			ptr  any
			json string
		}
		var given []kept
		for _, s := range c.Services {
			given = append(given, kept{s, enc(s)})
		}
		for _, r := range c.Routes {
			given = append(given, kept{r, enc(r)})
		}
		for _, u := range c.Upstreams {
			given = append(given, kept{u, enc(u)})
		}
		for _, tg := range c.Targets {
			given = append(given, kept{tg, enc(tg)})
		}
		before := enc(c)
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		if enc(c) == before {
			t.Fatal("Normalize changed nothing: the test proves nothing")
		}
		for _, k := range given {
			if got := enc(k.ptr); got != k.json {
				t.Errorf("an entity given to Normalize was written to:\nbefore %s\nafter  %s", k.json, got)
			}
		}
	}
}
