package ingress

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weirproxy/weir/host/config"
)

// appliedDoc is what a configuration held, by entity name, encoded.
type appliedDoc struct {
	routes, services, upstreams map[string]string
	targets                     map[string]string // by upstream: its targets
}

func docOf(t *testing.T, c *config.Config) appliedDoc {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	d := appliedDoc{routes: map[string]string{}, services: map[string]string{}, upstreams: map[string]string{}, targets: map[string]string{}}
	for i := range c.Routes {
		d.routes[c.Routes[i].Name] = enc(c.Routes[i])
	}
	for i := range c.Services {
		d.services[c.Services[i].Name] = enc(c.Services[i])
	}
	for i := range c.Upstreams {
		d.upstreams[c.Upstreams[i].Name] = enc(c.Upstreams[i])
	}
	for i := range c.Targets {
		d.targets[c.Targets[i].Upstream] += enc(c.Targets[i])
	}
	return d
}

// TestStampsNameEveryChange holds the controller's changed-entity sets
// (what ConfigDelta promises the proxy) to the truth: after any sequence
// of changes, every route, service and upstream of the new configuration
// that differs from the one of that name last applied (an upstream: or
// its targets) is named, including when some translations are never
// applied and when runs of Ingresses are taken whole as unchanged. (An
// entity the last configuration did not have may go unnamed: the proxy
// counts it as changed itself, see host.ConfigDelta.)
func TestStampsNameEveryChange(t *testing.T) {
	u := &universe{objs: scaleObjects(200), rng: rand.New(rand.NewPCG(3, 9))}
	u.objs.KongUpstreamPolicies = []*KongUpstreamPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "policy", Namespace: "ns1"}}}
	u.stampAll()
	inc := NewIncremental()
	opts := Options{IngressClass: "weir"}
	var st stamps
	var last appliedDoc
	small := 0
	for i := 0; i <= 400; i++ {
		what := "start"
		if i > 0 {
			what = u.step(t)
		}
		if i%5 == 2 {
			u.shuffle()
		}
		res := inc.Translate(u.objs, opts)
		if i%11 == 7 {
			continue // translated, never applied
		}
		routes, services, upstreams := st.changed(res)
		if i > 0 {
			now := docOf(t, res.Config)
			for n, v := range now.routes {
				if old, ok := last.routes[n]; ok && old != v && !routes[n] {
					t.Fatalf("step %d (%s): route %s changed but is not named", i, what, n)
				}
			}
			for n, v := range now.services {
				if old, ok := last.services[n]; ok && old != v && !services[n] {
					t.Fatalf("step %d (%s): service %s changed but is not named", i, what, n)
				}
			}
			for n, v := range now.upstreams {
				if old, ok := last.upstreams[n]; ok && (old != v || last.targets[n] != now.targets[n]) && !upstreams[n] {
					t.Fatalf("step %d (%s): upstream %s changed but is not named", i, what, n)
				}
			}
			if len(routes) <= 8 {
				small++
			}
		}
		st.record(res, routes, services)
		last = docOf(t, res.Config)
	}
	if small < 100 {
		t.Errorf("only %d of the changes named at most 8 routes: the sets are not kept small", small)
	}
}
