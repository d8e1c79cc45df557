package host_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/weirproxy/weir/host"
)

func TestE2EAdminAPI(t *testing.T) {
	b := newBackend(t, "b", nil)
	cfg := fmt.Sprintf(`_format_version: "3.0"
services:
  - name: api
    host: api-up
    routes: [{name: api-route, paths: [/api]}]
  - name: direct
    url: http://%[1]s/base
    routes: [{name: direct-route, paths: [/direct]}]
upstreams:
  - name: api-up
    healthchecks:
      passive:
        unhealthy: {http_statuses: [500], http_failures: 3}
    targets:
      - {target: %[1]s, weight: 50}
  - name: no-checks
    targets:
      - {target: %[1]s}
`, b.Addr())
	srv := startWeir(t, cfg)
	c := newClient(t)
	admin := adminURL(srv)
	for range 3 {
		if r := get(t, c, proxyURL(srv)+"/api"); r.Status != 200 {
			t.Fatalf("proxy: status %d", r.Status)
		}
	}

	t.Run("status", func(t *testing.T) {
		var st statusBody
		getJSON(t, c, admin+"/status", 200, &st)
		if !st.Ready || st.Version != "e2e" {
			t.Errorf("ready %v version %q", st.Ready, st.Version)
		}
		if !isHexID(st.ConfigurationHash) {
			t.Errorf("configuration_hash %q, want 32 hex digits", st.ConfigurationHash)
		}
		if st.Server.TotalRequests < 3 || st.Server.ConnectionsAccepted < 1 {
			t.Errorf("server counters %+v, want ≥ 3 requests and ≥ 1 connection", st.Server)
		}
	})
	t.Run("status changes hash on reload", func(t *testing.T) {
		var before, after statusBody
		getJSON(t, c, admin+"/status", 200, &before)
		if err := srv.Apply([]byte(strings.Replace(cfg, "weight: 50", "weight: 60", 1))); err != nil {
			t.Fatal(err)
		}
		getJSON(t, c, admin+"/status", 200, &after)
		if before.ConfigurationHash == after.ConfigurationHash {
			t.Errorf("configuration_hash unchanged (%s) after applying a different config", after.ConfigurationHash)
		}
		if err := srv.Apply([]byte(cfg)); err != nil {
			t.Fatal(err)
		}
	})

	type named struct {
		Name string `json:"name"`
	}
	type list struct {
		Data []named `json:"data"`
		Next *string `json:"next"`
	}
	lists := []struct {
		name string
		path string
		want []string
	}{
		{name: "services", path: "/services", want: []string{"api", "direct"}},
		{name: "routes", path: "/routes", want: []string{"api-route", "direct-route"}},
		{name: "upstreams", path: "/upstreams", want: []string{"api-up", "no-checks"}},
	}
	for _, tc := range lists {
		t.Run(tc.name, func(t *testing.T) {
			var l list
			getJSON(t, c, admin+tc.path, 200, &l)
			var got []string
			for _, d := range l.Data {
				got = append(got, d.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("names %v, want %v", got, tc.want)
			}
			if l.Next != nil {
				t.Errorf("next %q, want null", *l.Next)
			}
			// each one by name
			for _, n := range tc.want {
				var one named
				getJSON(t, c, admin+tc.path+"/"+n, 200, &one)
				if one.Name != n {
					t.Errorf("GET %s/%s: name %q", tc.path, n, one.Name)
				}
			}
			r := get(t, c, admin+tc.path+"/does-not-exist")
			if r.Status != http.StatusNotFound {
				t.Errorf("unknown name: status %d, want 404", r.Status)
			}
		})
	}
	t.Run("service fields from url", func(t *testing.T) {
		var svc struct {
			Protocol string `json:"protocol"`
			Host     string `json:"host"`
			Port     int    `json:"port"`
			Path     string `json:"path"`
		}
		getJSON(t, c, admin+"/services/direct", 200, &svc)
		_, port, _ := net.SplitHostPort(b.Addr())
		if svc.Protocol != "http" || svc.Host != "127.0.0.1" || strconv.Itoa(svc.Port) != port || svc.Path != "/base" {
			t.Errorf("service from url: %+v, want http 127.0.0.1 %s /base", svc, port)
		}
	})
	t.Run("upstream health", func(t *testing.T) {
		var h healthResponse
		getJSON(t, c, admin+"/upstreams/api-up/health", 200, &h)
		if len(h.Data) != 1 || h.Data[0].Target != b.Addr() || h.Data[0].Weight != 50 || h.Data[0].Health != "HEALTHY" {
			t.Errorf("health %+v, want one HEALTHY target %s weight 50", h.Data, b.Addr())
		}
		getJSON(t, c, admin+"/upstreams/no-checks/health", 200, &h)
		if len(h.Data) != 1 || h.Data[0].Health != "HEALTHCHECKS_OFF" {
			t.Errorf("health without checks %+v, want HEALTHCHECKS_OFF", h.Data)
		}
		if r := get(t, c, admin+"/upstreams/nope/health"); r.Status != http.StatusNotFound {
			t.Errorf("unknown upstream health: %d, want 404", r.Status)
		}
	})
	t.Run("config round trip", func(t *testing.T) {
		var body struct {
			Config string `json:"config"`
		}
		getJSON(t, c, admin+"/config", 200, &body)
		got, err := host.Prepare([]byte(body.Config))
		if err != nil {
			t.Fatalf("GET /config does not validate: %v\n%s", err, body.Config)
		}
		if len(got.Services) != 2 || len(got.Routes) != 2 || len(got.Upstreams) != 2 || len(got.Targets) != 2 {
			t.Errorf("GET /config: %d services, %d routes, %d upstreams, %d targets; want 2 each",
				len(got.Services), len(got.Routes), len(got.Upstreams), len(got.Targets))
		}
		// Posting it back changes nothing.
		var before, after statusBody
		getJSON(t, c, admin+"/status", 200, &before)
		if r := postConfig(t, c, srv, body.Config); r.Status != http.StatusCreated {
			t.Fatalf("POST of GET /config: %d %s", r.Status, r.Body)
		}
		getJSON(t, c, admin+"/status", 200, &after)
		if before.ConfigurationHash != after.ConfigurationHash {
			t.Errorf("re-posting GET /config changed the hash %s -> %s", before.ConfigurationHash, after.ConfigurationHash)
		}
	})
	t.Run("unknown admin path", func(t *testing.T) {
		r := get(t, c, admin+"/nope")
		if r.Status != http.StatusNotFound || !strings.Contains(string(r.Body), `"message"`) {
			t.Errorf("status %d body %s, want Kong's 404 JSON", r.Status, r.Body)
		}
	})
	t.Run("status port", func(t *testing.T) {
		var ready struct {
			Message string `json:"message"`
		}
		getJSON(t, c, statusURL(srv)+"/status/ready", 200, &ready)
		if ready.Message != "ready" {
			t.Errorf("ready message %q", ready.Message)
		}
		var st statusBody
		getJSON(t, c, statusURL(srv)+"/status", 200, &st)
		if !st.Ready {
			t.Errorf("status port /status: ready false")
		}
		if r := get(t, c, statusURL(srv)+"/services"); r.Status != http.StatusNotFound {
			t.Errorf("the status port serves admin endpoints: /services %d", r.Status)
		}
	})
}
