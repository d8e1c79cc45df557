package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/config"
)

// resultJSON encodes everything a Result carries, origins included, so
// two results compare byte for byte.
func resultJSON(t testing.TB, r *Result) []byte {
	t.Helper()
	b, err := json.Marshal(struct {
		R       *Result
		TLS     map[string]TLSPair
		Origins map[string][]Ref
	}{r, r.TLS, r.originMap()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// universe is a mutable set of objects with API-server-like versions:
// every change replaces the object with a modified copy and a new
// resourceVersion, as informer caches do.
type universe struct {
	objs    *Objects
	rv      int
	rng     *rand.Rand
	deleted []any
}

func (u *universe) stamp(m metav1.Object, fresh bool) {
	u.rv++
	m.SetResourceVersion(strconv.Itoa(u.rv))
	if fresh || m.GetUID() == "" {
		m.SetUID(types.UID("uid-" + strconv.Itoa(u.rv)))
	}
}

func (u *universe) stampAll() {
	for _, o := range u.objs.IngressClasses {
		u.stamp(o, true)
	}
	for _, o := range u.objs.Ingresses {
		u.stamp(o, true)
		o.Generation = 1
	}
	for _, o := range u.objs.Services {
		u.stamp(o, true)
	}
	for _, o := range u.objs.EndpointSlices {
		u.stamp(o, true)
	}
	for _, o := range u.objs.Secrets {
		u.stamp(o, true)
	}
	for _, o := range u.objs.KongPlugins {
		u.stamp(o, true)
	}
	for _, o := range u.objs.KongClusterPlugins {
		u.stamp(o, true)
	}
	for _, o := range u.objs.KongConsumers {
		u.stamp(o, true)
	}
	for _, o := range u.objs.KongUpstreamPolicies {
		u.stamp(o, true)
	}
}

// shuffle reorders the object lists, as informer listers do.
func (u *universe) shuffle() {
	o := u.objs
	u.rng.Shuffle(len(o.Ingresses), func(i, j int) { o.Ingresses[i], o.Ingresses[j] = o.Ingresses[j], o.Ingresses[i] })
	u.rng.Shuffle(len(o.Services), func(i, j int) { o.Services[i], o.Services[j] = o.Services[j], o.Services[i] })
	u.rng.Shuffle(len(o.EndpointSlices), func(i, j int) { o.EndpointSlices[i], o.EndpointSlices[j] = o.EndpointSlices[j], o.EndpointSlices[i] })
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func copyJSON[T any](t testing.TB, v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

var annChoices = map[string][]string{
	"konghq.com/strip-path":      {"true", "false", "maybe"},
	"konghq.com/methods":         {"GET", "GET,POST", "get"},
	"konghq.com/plugins":         {"", "rl", "key-auth", "missing", "rl,key-auth"},
	"konghq.com/protocol":        {"http", "https", "ftp"},
	"konghq.com/retries":         {"3", "-1", "x"},
	"konghq.com/upstream-policy": {"", "policy", "missing"},
	"konghq.com/host-aliases":    {"a.example.com", "bad_host"},
	"konghq.com/headers.x-env":   {"prod", "~*(", ""},
	"konghq.com/path":            {"/base", "nope"},
}

func mutateAnnotations(rng *rand.Rand, m metav1.Object) {
	ann := m.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	k := pick(rng, []string{"konghq.com/strip-path", "konghq.com/methods", "konghq.com/plugins", "konghq.com/protocol",
		"konghq.com/retries", "konghq.com/upstream-policy", "konghq.com/host-aliases", "konghq.com/headers.x-env", "konghq.com/path"})
	if rng.IntN(4) == 0 {
		delete(ann, k)
	} else {
		ann[k] = pick(rng, annChoices[k])
	}
	m.SetAnnotations(ann)
}

// step makes one random change: update, delete or re-add an object of a
// random kind.
func (u *universe) step(t testing.TB) string {
	rng := u.rng
	o := u.objs
	if len(u.deleted) > 0 && rng.IntN(8) == 0 {
		i := rng.IntN(len(u.deleted))
		d := u.deleted[i]
		u.deleted = append(u.deleted[:i], u.deleted[i+1:]...)
		switch x := d.(type) {
		case *netv1.Ingress:
			x = x.DeepCopy()
			u.stamp(x, true)
			o.Ingresses = append(o.Ingresses, x)
		case *corev1.Service:
			x = x.DeepCopy()
			u.stamp(x, true)
			o.Services = append(o.Services, x)
		case *discoveryv1.EndpointSlice:
			x = x.DeepCopy()
			u.stamp(x, true)
			o.EndpointSlices = append(o.EndpointSlices, x)
		case *KongPlugin:
			x = copyJSON(t, x)
			u.stamp(x, true)
			o.KongPlugins = append(o.KongPlugins, x)
		}
		return "re-add"
	}
	del := rng.IntN(6) == 0
	switch rng.IntN(6) {
	case 0, 1:
		if len(o.Ingresses) == 0 {
			return "none"
		}
		i := rng.IntN(len(o.Ingresses))
		if del {
			u.deleted = append(u.deleted, o.Ingresses[i])
			o.Ingresses = append(o.Ingresses[:i:i], o.Ingresses[i+1:]...)
			return "delete Ingress"
		}
		x := o.Ingresses[i].DeepCopy()
		op := rng.IntN(5)
		if op > 0 && op < 4 && x.Generation != 0 {
			x.Generation++ // the API server bumps it on spec changes
		}
		switch op {
		case 4:
			// Status only: a new resourceVersion, the same generation.
			x.Status.LoadBalancer.Ingress = []netv1.IngressLoadBalancerIngress{{IP: fmt.Sprintf("203.0.113.%d", rng.IntN(250))}}
			u.stamp(x, false)
			o.Ingresses[i] = x
			return "update Ingress status"
		case 0:
			mutateAnnotations(rng, x)
		case 1:
			for ri := range x.Spec.Rules {
				if h := x.Spec.Rules[ri].HTTP; h != nil && len(h.Paths) > 0 {
					p := &h.Paths[rng.IntN(len(h.Paths))]
					p.Path = pick(rng, []string{"/", "/a", "/a/b", "/~^/r[0-9]+$", "/~(", "x"})
				}
			}
		case 2:
			for ri := range x.Spec.Rules {
				if h := x.Spec.Rules[ri].HTTP; h != nil && len(h.Paths) > 0 {
					p := &h.Paths[rng.IntN(len(h.Paths))]
					if p.Backend.Service != nil && len(o.Services) > 0 {
						s := pick(rng, o.Services)
						p.Backend.Service.Name = s.Name
						if rng.IntN(2) == 0 && len(s.Spec.Ports) > 0 {
							p.Backend.Service.Port = netv1.ServiceBackendPort{Number: pick(rng, s.Spec.Ports).Port}
						}
					}
				}
			}
		case 3:
			if len(x.Spec.Rules) > 0 {
				x.Spec.Rules[0].Host = pick(rng, []string{"", "a.example.com", "*.w.example.com", "b.example.com", "bad_host"})
			}
		}
		u.stamp(x, false)
		o.Ingresses[i] = x
		return "update Ingress"
	case 2:
		if len(o.Services) == 0 {
			return "none"
		}
		i := rng.IntN(len(o.Services))
		if del {
			u.deleted = append(u.deleted, o.Services[i])
			o.Services = append(o.Services[:i:i], o.Services[i+1:]...)
			return "delete Service"
		}
		x := o.Services[i].DeepCopy()
		if rng.IntN(3) == 0 && len(x.Spec.Ports) > 0 {
			x.Spec.Ports[0].Port = pick(rng, []int32{80, 81, 443, 8080})
		} else {
			mutateAnnotations(rng, x)
		}
		u.stamp(x, false)
		o.Services[i] = x
		return "update Service"
	case 3:
		if len(o.EndpointSlices) == 0 {
			return "none"
		}
		i := rng.IntN(len(o.EndpointSlices))
		if del {
			u.deleted = append(u.deleted, o.EndpointSlices[i])
			o.EndpointSlices = append(o.EndpointSlices[:i:i], o.EndpointSlices[i+1:]...)
			return "delete EndpointSlice"
		}
		x := o.EndpointSlices[i].DeepCopy()
		if len(x.Endpoints) > 0 && rng.IntN(2) == 0 {
			e := &x.Endpoints[rng.IntN(len(x.Endpoints))]
			r := rng.IntN(2) == 0
			e.Conditions.Ready = &r
		} else {
			x.Endpoints = append(x.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.9.%d.%d", rng.IntN(256), rng.IntN(256))}})
		}
		u.stamp(x, false)
		o.EndpointSlices[i] = x
		return "update EndpointSlice"
	case 4:
		if len(o.KongPlugins) == 0 {
			return "none"
		}
		i := rng.IntN(len(o.KongPlugins))
		if del {
			u.deleted = append(u.deleted, o.KongPlugins[i])
			o.KongPlugins = append(o.KongPlugins[:i:i], o.KongPlugins[i+1:]...)
			return "delete KongPlugin"
		}
		x := copyJSON(t, o.KongPlugins[i])
		switch rng.IntN(3) {
		case 0:
			x.Disabled = !x.Disabled
		case 1:
			x.Config = json.RawMessage(pick(rng, []string{`{"minute":5}`, `[1]`, `{"a":{"b":1}}`}))
		case 2:
			x.Protocols = pick(rng, [][]string{nil, {"http"}, {"ftp"}})
		}
		u.stamp(x, false)
		o.KongPlugins[i] = x
		return "update KongPlugin"
	default:
		if len(o.KongUpstreamPolicies) == 0 {
			return "none"
		}
		i := rng.IntN(len(o.KongUpstreamPolicies))
		x := copyJSON(t, o.KongUpstreamPolicies[i])
		x.Spec.Algorithm = pick(rng, []string{"", "round-robin", "least-connections", "sticky"})
		u.stamp(x, false)
		o.KongUpstreamPolicies[i] = x
		return "update KongUpstreamPolicy"
	}
}

// TestIncrementalEqualsFull holds Incremental to its promise: after any
// sequence of changes (Ingresses, Services, EndpointSlices, KongPlugins
// and KongUpstreamPolicies updated, deleted and re-added; objects
// excluded and let back in), its result equals a full Translate of the
// same objects, byte for byte, origins and failures included.
func TestIncrementalEqualsFull(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type universeCase struct {
		name  string
		steps int
		load  func(t *testing.T) (*Objects, Options)
	}
	var cases []universeCase
	for _, f := range files {
		if filepath.Ext(filepath.Base(f[:len(f)-len(".yaml")])) == ".golden" {
			continue
		}
		cases = append(cases, universeCase{name: filepath.Base(f), steps: 300, load: func(t *testing.T) (*Objects, Options) { return loadObjects(t, f) }})
	}
	cases = append(cases, universeCase{name: "scale-200", steps: 200, load: func(*testing.T) (*Objects, Options) {
		objs := scaleObjects(200)
		objs.KongUpstreamPolicies = []*KongUpstreamPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "policy", Namespace: "ns1"}}}
		objs.KongPlugins = []*KongPlugin{{ObjectMeta: metav1.ObjectMeta{Name: "rl", Namespace: "ns2"}, Plugin: "rate-limiting", Config: json.RawMessage(`{"minute":5}`)}}
		return objs, Options{IngressClass: "weir"}
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, opts := tc.load(t)
			u := &universe{objs: objs, rng: rand.New(rand.NewPCG(1, uint64(len(tc.name))))}
			u.stampAll()
			inc := NewIncremental()
			totalHits, routes, totalReplays := 0, 0, 0
			for i := 0; i <= tc.steps; i++ {
				what := "start"
				if i > 0 {
					what = u.step(t)
				}
				if i%3 == 1 {
					u.shuffle() // the order of the lists must not matter
				}
				if i%7 == 3 {
					// The controller excludes objects the proxy rejected.
					opts.Excluded = map[Ref]string{}
					if len(u.objs.Services) > 0 {
						s := pick(u.rng, u.objs.Services)
						opts.Excluded[Ref{"Service", s.Namespace, s.Name}] = "rejected by the proxy: test"
					}
					if len(u.objs.Ingresses) > 0 {
						g := pick(u.rng, u.objs.Ingresses)
						opts.Excluded[Ref{"Ingress", g.Namespace, g.Name}] = "rejected by the proxy: test"
					}
				} else if i%7 == 5 {
					opts.Excluded = nil
				}
				full := Translate(u.objs, opts)
				routes += len(full.Config.Routes)
				want := resultJSON(t, full)
				got := resultJSON(t, inc.Translate(u.objs, opts))
				if !bytes.Equal(got, want) {
					t.Fatalf("step %d (%s): incremental result differs from full translation\nincremental: %s\nfull:        %s", i, what, got, want)
				}
				if i%13 == 6 {
					inc.m.sweep() // parts are forgotten in batches; force one
				}
				h, _ := inc.Reused()
				totalHits += h
				totalReplays += inc.m.replays
			}
			if totalHits == 0 && routes > 0 {
				t.Errorf("no part was ever reused: the memo does nothing")
			}
			if tc.name == "scale-200" && totalReplays == 0 {
				t.Errorf("no run of Ingresses was ever replayed")
			}
			t.Logf("%d parts reused, %d runs replayed", totalHits, totalReplays)
		})
	}
}

// TestIncrementalReusesUnchanged checks that one changed Ingress among
// many recomputes that Ingress only.
func TestIncrementalReusesUnchanged(t *testing.T) {
	u := &universe{objs: scaleObjects(100), rng: rand.New(rand.NewPCG(7, 7))}
	u.stampAll()
	inc := NewIncremental()
	opts := Options{IngressClass: "weir"}
	inc.Translate(u.objs, opts)
	if h, m := inc.Reused(); h != 0 || m != 200 {
		t.Fatalf("first translation: %d reused, %d computed; want 0 and 200", h, m)
	}
	x := u.objs.Ingresses[42].DeepCopy()
	x.Spec.Rules[0].HTTP.Paths[0].Path = "/changed"
	x.Generation++ // a spec change
	u.stamp(x, false)
	u.objs.Ingresses[42] = x
	res := inc.Translate(u.objs, opts)
	hits, misses := inc.Reused()
	if misses != 1 || hits != 199 {
		t.Errorf("after one change: %d reused, %d computed; want 199 and 1", hits, misses)
	}
	if inc.m.replays == 0 {
		t.Errorf("after one change no run of unchanged Ingresses was replayed")
	}
	if !bytes.Equal(resultJSON(t, res), resultJSON(t, Translate(u.objs, opts))) {
		t.Errorf("result differs from a full translation")
	}
}

// BenchmarkIncrementalTranslate10k measures Incremental.Translate at
// 10,000 Ingresses when one Ingress changed since the last call (the
// controller's work per change; compare BenchmarkTranslate10k).
func BenchmarkIncrementalTranslate10k(b *testing.B) {
	benchIncremental10k(b, func(u *universe, i int) {
		x := u.objs.Ingresses[0].DeepCopy()
		x.Spec.Rules[0].HTTP.Paths[1].Path = "/api/v1/" + strconv.Itoa(i%2)
		x.Generation++ // a spec change
		u.stamp(x, false)
		u.objs.Ingresses[0] = x
	})
}

// BenchmarkIncrementalSliceChange10k is BenchmarkIncrementalTranslate10k
// for a change of one EndpointSlice (a pod became ready or not): the
// parts of the other objects are reused, but no recorded run of
// Ingresses is replayed (chunks.go), so the whole merge runs again.
func BenchmarkIncrementalSliceChange10k(b *testing.B) {
	benchIncremental10k(b, func(u *universe, i int) {
		x := u.objs.EndpointSlices[0].DeepCopy()
		ready := i%2 == 0
		x.Endpoints[0].Conditions.Ready = &ready
		u.stamp(x, false)
		u.objs.EndpointSlices[0] = x
	})
}

// benchIncremental10k times Incremental.Translate at 10,000 Ingresses
// after change(u, i) altered one object for iteration i.
func benchIncremental10k(b *testing.B, change func(u *universe, i int)) {
	u := &universe{objs: scaleObjects(10000), rng: rand.New(rand.NewPCG(1, 1))}
	u.stampAll()
	inc := NewIncremental()
	opts := Options{IngressClass: "weir"}
	inc.Translate(u.objs, opts)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		change(u, i)
		u.shuffle() // informer listers return objects in map order
		if res := inc.Translate(u.objs, opts); len(res.Config.Routes) != 20000 {
			b.Fatalf("%d routes", len(res.Config.Routes))
		}
	}
}

// BenchmarkDeltaChange10k measures what one Ingress change costs the
// controller and the proxy at 10,000 Ingresses on the incremental path:
// Incremental.Translate, the changed-entity sets, and
// host.Server.ApplyConfigDelta (normalize, check the changed entities,
// rebuild them, compile the router, swap). Compare
// BenchmarkApplyChange10k, the full path.
func BenchmarkDeltaChange10k(b *testing.B) {
	u := &universe{objs: scaleObjects(10000), rng: rand.New(rand.NewPCG(1, 1))}
	u.stampAll()
	path := b.TempDir() + "/empty.json"
	if err := os.WriteFile(path, []byte(emptyConfig), 0o600); err != nil {
		b.Fatal(err)
	}
	srv, err := host.New(host.Options{ConfigPath: path, ProxyListen: "127.0.0.1:0", HTTPSListen: "127.0.0.1:0", AdminListen: "off", StatusListen: "off",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	inc := NewIncremental()
	opts := Options{IngressClass: "weir"}
	var st stamps
	var last *config.Config
	var translating, applying time.Duration
	apply := func(k int) {
		t0 := time.Now()
		res := inc.Translate(u.objs, opts)
		t1 := time.Now()
		d := host.ConfigDelta{Base: last, Hash: [32]byte{byte(k), byte(k >> 8), byte(k >> 16)}}
		d.Routes, d.Services, d.Upstreams = st.changed(res)
		if err := srv.ApplyConfigDelta(res.Config, d); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if k > 0 {
			translating += t1.Sub(t0)
			applying += t2.Sub(t1)
		}
		st.record(res, d.Routes, d.Services)
		last = res.Config
		if k > 0 && srv.Snapshot().Hash != d.Hash {
			b.Fatal("the change did not take the delta path")
		}
	}
	apply(0)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		x := u.objs.Ingresses[0].DeepCopy()
		x.Spec.Rules[0].HTTP.Paths[1].Path = "/api/v1/" + strconv.Itoa(i%2)
		x.Generation++ // a spec change
		u.stamp(x, false)
		u.objs.Ingresses[0] = x
		u.shuffle()
		apply(i)
	}
	// The two halves: the controller's translation, the proxy's load.
	b.ReportMetric(float64(translating.Microseconds())/1000/float64(b.N), "translate-ms/op")
	b.ReportMetric(float64(applying.Microseconds())/1000/float64(b.N), "apply-ms/op")
}

// TestIncrementalRunsSeeSharedBackends moves the backend of an old
// Ingress to the Service of a much younger one (in another run of the
// merge), and back: the younger Ingress's run must not be replayed as
// recorded, since the backend it created is now created earlier.
func TestIncrementalRunsSeeSharedBackends(t *testing.T) {
	u := &universe{objs: scaleObjects(300), rng: rand.New(rand.NewPCG(5, 5))}
	u.stampAll()
	inc := NewIncremental()
	opts := Options{IngressClass: "weir"}
	check := func(what string) {
		t.Helper()
		got, want := resultJSON(t, inc.Translate(u.objs, opts)), resultJSON(t, Translate(u.objs, opts))
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: incremental result differs from full translation", what)
		}
	}
	check("start")
	old, young := u.objs.Ingresses[0], u.objs.Ingresses[290]
	for k, target := range []string{young.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, old.Name, young.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name} {
		x := u.objs.Ingresses[0].DeepCopy()
		for i := range x.Spec.Rules[0].HTTP.Paths {
			x.Spec.Rules[0].HTTP.Paths[i].Backend.Service.Name = target
		}
		x.Generation++ // a spec change
		u.stamp(x, false)
		u.objs.Ingresses[0] = x
		u.shuffle()
		check(fmt.Sprintf("change %d: old Ingress to Service %s", k, target))
		if inc.m.replays == 0 {
			t.Errorf("change %d: no run replayed", k)
		}
		// Find the old Ingress again after the shuffle.
		for i, ing := range u.objs.Ingresses {
			if ing.Name == old.Name {
				u.objs.Ingresses[0], u.objs.Ingresses[i] = u.objs.Ingresses[i], u.objs.Ingresses[0]
			}
		}
	}
	// Delete the old Ingress: the younger one creates the backend again.
	u.objs.Ingresses = u.objs.Ingresses[1:]
	check("old Ingress deleted")
}
