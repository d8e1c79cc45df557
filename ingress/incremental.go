package ingress

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/weirproxy/weir/host/config"
)

// Incremental is [Translate] with a memory: it keeps the per-object parts
// of each translation (an Ingress's annotations, paths and routes; a
// Service's config service, upstream and targets), keyed by the UID and
// resourceVersion of the objects they were computed from, and recomputes
// only the parts whose objects changed. The merge that puts the parts
// together (backends shared by Ingresses, SNI owners, the default
// backend, plugin instances, failures) runs in full every time, so the
// result is always equal to Translate's for the same objects and
// options; TestIncrementalEqualsFull holds it to that.
//
// The routes, services, upstreams and targets of a result are shared with
// the memory and with earlier and later results (a replayed run of
// Ingresses puts its recorded entities in as they are), so no one may
// write to them; the proxy does not (host.Server.ApplyConfigDelta). Per
// change, a translation allocates the entity lists (pointers) and the
// parts of what changed, not 60,000 entities.
//
// Objects without a resourceVersion (built by hand rather than read from
// the API server) are never taken from the memory. An Ingress counts as
// unchanged when its UID, generation and annotations are (an update of
// its status alone), which relies on the API server's rule that every
// spec change bumps metadata.generation: objects that change their spec
// without it must change their resourceVersion and have generation 0. An
// Incremental is not safe for concurrent use.
type Incremental struct {
	m memo
}

// NewIncremental returns an Incremental with an empty memory.
func NewIncremental() *Incremental {
	return &Incremental{m: memo{ingresses: map[string]*ingFrag{}, backends: map[string]*backendFrag{}}}
}

// Translate translates objs as [Translate] does, reusing the parts of
// unchanged objects. Parts of objects that are no longer used are
// forgotten (in batches).
func (in *Incremental) Translate(objs *Objects, opts Options) *Result {
	m := &in.m
	m.gen++
	m.hits, m.misses, m.replays, m.stored = 0, 0, 0, 0
	res := translate(objs, opts, m)
	// What was not used is forgotten in batches: sweeping 20,000 parts
	// per change would cost more than the change.
	m.dirt += m.misses + m.stored + m.order.dropped
	if m.dirt > (len(m.ingresses)+len(m.backends))/8+256 {
		m.sweep()
	}
	return res
}

// sweep forgets the parts and recorded runs the last translation did not
// use.
func (m *memo) sweep() {
	m.dirt = 0
	for k, r := range m.chunks {
		if r.gen != m.gen {
			delete(m.chunks, k)
			continue
		}
		for _, f := range r.frags {
			f.gen = m.gen
		}
		for _, f := range r.bfs {
			f.gen = m.gen
		}
	}
	for k, f := range m.ingresses {
		if f.gen != m.gen {
			delete(m.ingresses, k)
		}
	}
	for k, f := range m.backends {
		if f.gen != m.gen {
			delete(m.backends, k)
		}
	}
}

// backendTab returns the translation's table of backends: the memo's,
// unless the world changed (then no recorded run refers to its slots).
func (m *memo) backendTab(worldSame bool) *backendTab {
	if m == nil {
		return newBackendTab(1, 0)
	}
	if !worldSame || m.tab == nil {
		m.tab = newBackendTab(m.gen, m.sizes[1])
	}
	m.tab.gen = m.gen
	return m.tab
}

// Reused reports how many per-object parts the last Translate took from
// memory and how many it computed.
func (in *Incremental) Reused() (hits, misses int) { return in.m.hits, in.m.misses }

// memo holds per-object parts. A nil *memo remembers nothing.
type memo struct {
	gen          uint64
	hits, misses int
	replays      int                     // runs of Ingresses replayed (chunks.go)
	stored       int                     // runs of Ingresses recorded
	dirt         int                     // parts and runs made since the last sweep
	tab          *backendTab             // backends by name (chunks.go)
	sizes        [4]int                  // routes, services, upstreams, targets last time
	index        indexMemo               // Services, Secrets and EndpointSlices by key
	world        world                   // the inputs recorded runs rely on
	chunks       map[string]*chunkRec    // recorded runs, by first Ingress (namespace/name)
	order        orderMemo               // the merge order of the last translation
	ingresses    map[string]*ingFrag     // namespace/name
	backends     map[string]*backendFrag // config service name
}

// ingFrag is what an Ingress alone translates to.
type ingFrag struct {
	ing      *netv1.Ingress // the object it was computed from
	gen      uint64
	ra       routeAnn
	annFail  []Failure // from the annotations
	groups   []*routeGroup
	pathFail []Failure // from rules and paths
}

// backendFrag is what a Service port alone translates to.
type backendFrag struct {
	deps    backendDeps
	gen     uint64
	svc     config.Service
	up      config.Upstream
	plugins []string // konghq.com/plugins of the Service
	targets []config.Target
	fail    []Failure // from annotations and the upstream policy
}

func (m *memo) ingress(ing *netv1.Ingress) *ingFrag {
	if m == nil || ing.ResourceVersion == "" {
		return nil
	}
	f := m.ingresses[key(ing.Namespace, ing.Name)]
	if f == nil || !sameIngress(f.ing, ing) {
		m.misses++
		return nil
	}
	m.hits++
	f.gen = m.gen
	return f
}

func (m *memo) storeIngress(ing *netv1.Ingress, f *ingFrag) {
	if m == nil || ing.ResourceVersion == "" {
		return
	}
	f.ing, f.gen = ing, m.gen
	m.ingresses[key(ing.Namespace, ing.Name)] = f
}

func (m *memo) backend(t *translator, name string, svc *corev1.Service, sp *corev1.ServicePort) *backendFrag {
	if m == nil || svc.ResourceVersion == "" {
		return nil
	}
	f := m.backends[name]
	if f == nil || !t.depsMatch(&f.deps, svc, sp) {
		m.misses++
		return nil
	}
	m.hits++
	f.gen = m.gen
	return f
}

func (m *memo) storeBackend(t *translator, name string, svc *corev1.Service, sp *corev1.ServicePort, f *backendFrag) {
	if m == nil || svc.ResourceVersion == "" {
		return
	}
	f.deps, f.gen = t.currentDeps(svc, sp), m.gen
	if !f.deps.ok {
		return
	}
	m.backends[name] = f
}

// sameIngress reports whether b translates as a did: the same object, or
// the same version of what the translator reads (UID, generation — the
// API server bumps it on every spec change — and annotations), as after
// an update of its status alone. Objects without a resourceVersion are
// never the same as anything.
func sameIngress(a, b *netv1.Ingress) bool {
	if a == nil || b == nil || b.ResourceVersion == "" {
		return false
	}
	if a == b || a.UID == b.UID && a.ResourceVersion == b.ResourceVersion {
		return true
	}
	return a.Generation != 0 && a.UID == b.UID && a.Generation == b.Generation && a.Namespace == b.Namespace &&
		a.Name == b.Name && a.CreationTimestamp.Equal(&b.CreationTimestamp) && maps.Equal(a.Annotations, b.Annotations)
}

// backendDeps identifies everything backendPart reads: the Service (UID,
// resourceVersion, which port), its EndpointSlices, the
// KongUpstreamPolicy it names and whether that policy is excluded.
type backendDeps struct {
	ok       bool // every object has a resourceVersion (memoizable)
	svc      objVersion
	port     int
	slices   []objVersion
	policy   objVersion // zero when the Service names none or it is missing
	excluded string     // the policy's exclusion reason
}

// objVersion is one version of one object.
type objVersion struct {
	name string
	uid  types.UID
	rv   string
}

// depsMatch reports whether d equals the dependencies of (svc, sp) now,
// without allocating.
func (t *translator) depsMatch(d *backendDeps, svc *corev1.Service, sp *corev1.ServicePort) bool {
	if !d.ok || d.svc.uid != svc.UID || d.svc.rv != svc.ResourceVersion || &svc.Spec.Ports[d.port] != sp {
		return false
	}
	sl := t.slices[key(svc.Namespace, svc.Name)]
	if len(sl) != len(d.slices) {
		return false
	}
	for i, es := range sl {
		if v := d.slices[i]; v.name != es.Name || v.uid != es.UID || v.rv != es.ResourceVersion || es.ResourceVersion == "" {
			return false
		}
	}
	pol, excl := t.policyOf(svc)
	return pol == d.policy && excl == d.excluded
}

// policyOf is the version of the KongUpstreamPolicy a Service names (zero
// when it names none or none exists) and the policy's exclusion reason.
func (t *translator) policyOf(svc *corev1.Service) (objVersion, string) {
	pn := svc.Annotations[annPrefix+"upstream-policy"]
	if pn == "" {
		return objVersion{}, ""
	}
	var v objVersion
	if p, ok := t.policies[key(svc.Namespace, pn)]; ok {
		v = objVersion{name: pn, uid: p.UID, rv: p.ResourceVersion}
		if p.ResourceVersion == "" {
			v.rv = "\x00unversioned" // never equal to a recorded one
		}
	}
	excl, _ := t.opts.Excluded[Ref{"KongUpstreamPolicy", svc.Namespace, pn}]
	return v, excl
}

// currentDeps records the dependencies of (svc, sp) now.
func (t *translator) currentDeps(svc *corev1.Service, sp *corev1.ServicePort) backendDeps {
	d := backendDeps{ok: svc.ResourceVersion != "", svc: objVersion{uid: svc.UID, rv: svc.ResourceVersion}}
	for i := range svc.Spec.Ports {
		if &svc.Spec.Ports[i] == sp {
			d.port = i
		}
	}
	for _, es := range t.slices[key(svc.Namespace, svc.Name)] {
		d.ok = d.ok && es.ResourceVersion != ""
		d.slices = append(d.slices, objVersion{name: es.Name, uid: es.UID, rv: es.ResourceVersion})
	}
	d.policy, d.excluded = t.policyOf(svc)
	d.ok = d.ok && !strings.HasPrefix(d.policy.rv, "\x00")
	return d
}

// prealloc sizes the entity lists of res as the last result's: appending
// 20,000 routes one by one to a growing slice copied them several times.
func (m *memo) prealloc(res *Result) {
	if m == nil {
		return
	}
	c := res.Config
	c.Routes = make([]*config.Route, 0, m.sizes[0]+8)
	c.Services = make([]*config.Service, 0, m.sizes[1]+8)
	c.Upstreams = make([]*config.Upstream, 0, m.sizes[2]+8)
	c.Targets = make([]*config.Target, 0, m.sizes[3]+8)
}

// recordSizes remembers the sizes of res's lists for the next prealloc.
func (m *memo) recordSizes(res *Result) {
	if m == nil {
		return
	}
	c := res.Config
	m.sizes = [4]int{len(c.Routes), len(c.Services), len(c.Upstreams), len(c.Targets)}
	// Empty lists stay nil, as Translate leaves them.
	if len(c.Routes) == 0 {
		c.Routes = nil
	}
	if len(c.Services) == 0 {
		c.Services = nil
	}
	if len(c.Upstreams) == 0 {
		c.Upstreams = nil
	}
	if len(c.Targets) == 0 {
		c.Targets = nil
	}
}

// indexMemo keeps the translator's maps of Services, Secrets and
// EndpointSlices, with the objects they were built from (informers
// replace an object on every change, so the same pointers mean the same
// objects).
type indexMemo struct {
	svcSet    map[*corev1.Service]struct{}
	secretSet map[*corev1.Secret]struct{}
	sliceSet  map[*discoveryv1.EndpointSlice]struct{}
	services  map[string]*corev1.Service
	secrets   map[string]*corev1.Secret
	slices    map[string][]*discoveryv1.EndpointSlice
}

func sameSet[T any](list []*T, set map[*T]struct{}) bool {
	if set == nil || len(list) != len(set) {
		return false
	}
	for _, o := range list {
		if _, ok := set[o]; !ok {
			return false
		}
	}
	return true
}

func setOf[T any](list []*T) map[*T]struct{} {
	set := make(map[*T]struct{}, len(list))
	for _, o := range list {
		set[o] = struct{}{}
	}
	return set
}

// sameIndex reports whether t's Services, Secrets and EndpointSlices are
// the objects the remembered maps were built from. Objects without a
// resourceVersion are never taken as the same (they may have been
// modified in place).
func (m *memo) sameIndex(t *translator) bool {
	if m == nil {
		return false
	}
	x := &m.index
	return sameSet(t.objs.Services, x.svcSet) && sameSet(t.objs.Secrets, x.secretSet) && sameSet(t.objs.EndpointSlices, x.sliceSet)
}

// storeIndex remembers t's maps (never modified after index).
func (m *memo) storeIndex(t *translator) {
	if m == nil {
		return
	}
	for _, s := range t.objs.Services {
		if s.ResourceVersion == "" {
			m.index = indexMemo{}
			return
		}
	}
	for _, s := range t.objs.Secrets {
		if s.ResourceVersion == "" {
			m.index = indexMemo{}
			return
		}
	}
	for _, es := range t.objs.EndpointSlices {
		if es.ResourceVersion == "" {
			m.index = indexMemo{}
			return
		}
	}
	m.index = indexMemo{svcSet: setOf(t.objs.Services), secretSet: setOf(t.objs.Secrets), sliceSet: setOf(t.objs.EndpointSlices),
		services: t.services, secrets: t.secrets, slices: t.slices}
}
