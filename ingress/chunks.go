package ingress

import (
	"slices"

	netv1 "k8s.io/api/networking/v1"

	"github.com/weirproxy/weir/host/config"
)

// Chunks: the merge of the Ingresses (in age order) is the one part of a
// translation that is not memoized per object, because each Ingress's
// output depends on what the Ingresses before it created (shared
// backends, certificates, the default backend, plugin instances). At
// 10,000 Ingresses it was most of the cost of an incremental translation.
// So the merge is cut into runs of consecutive Ingresses, and what a run
// emitted is remembered together with everything it read of the shared
// state: which backends existed when it started (and whether they had
// failed). A run is replayed instead of merged again only when
//
//   - every other input is the same as when it was recorded (the same
//     Service, EndpointSlice, Secret, KongPlugin, KongClusterPlugin and
//     KongUpstreamPolicy objects, the same class decision, no exclusions),
//   - it holds the same Ingresses (the same objects, or versions that
//     differ only in status: sameIngress),
//   - the backends it used existed (or not) as they did then, and
//   - it touched none of the shared state that is not tracked: no
//     plugins, TLS, default backend or exclusion in any of its Ingresses
//     or their Services (such runs are merged every time).
//
// Run boundaries depend on the Ingresses' names (a hash), not on their
// positions, so adding or removing one Ingress disturbs one run only.

const (
	chunkMean = 32  // boundaries after 1 in chunkMean Ingresses on average
	chunkMax  = 256 // and at least every chunkMax
)

// chunkEnd returns the end of the run starting at ours[i].
func chunkEnd(ours []ordEnt, i int) int {
	for j := i; j < len(ours); j++ {
		if j+1-i >= chunkMax || ours[j].cut {
			return j + 1
		}
	}
	return len(ours)
}

// chunkRec is what one run of Ingresses emitted and read.
type chunkRec struct {
	ok   bool
	gen  uint64
	key  string // of the first Ingress
	ings []*netv1.Ingress
	// pre lists the backends the run used, in first-use order, with
	// whether each existed when the run started.
	pre     []backendUse
	seen    map[string]bool
	created []*backend // the backends the run created
	cslots  []*beSlot  // and their slots
	frags   []*ingFrag
	bfs     []*backendFrag

	// Start lengths of the result's lists while recording; the emitted
	// entries once stored.
	start                          lengths
	failures                       []Failure
	ingresses                      []Ref
	routes                         []*config.Route
	services                       []*config.Service
	upstreams                      []*config.Upstream
	targets                        []*config.Target
	oRoutes, oSvcs, oUps, oTargets []Ref
	routeStamps                    []routeStamp
	svcStamps                      []*backendFrag
}

type backendUse struct {
	slot           *beSlot
	existed, faild bool
}

type lengths struct {
	failures, ingresses, routes, services, upstreams, targets, plugins, certs, tls int
}

func (t *translator) lengths() lengths {
	c := t.res.Config
	return lengths{len(t.res.Failures), t.res.ingresses.len(), len(c.Routes), len(c.Services), len(c.Upstreams), len(c.Targets),
		len(c.Plugins), len(c.Certificates), len(t.res.TLS)}
}

// world identifies the inputs a run's replay relies on besides its own
// Ingresses.
type world struct {
	set                bool
	class              string
	classOK, isDefault bool
	plugins, cplugins  map[*KongPlugin]struct{}
	policySet          map[*KongUpstreamPolicy]struct{}
}

// sameWorld decides, once per translation, whether recorded runs may be
// replayed, and remembers this translation's world for the next.
func (m *memo) sameWorld(t *translator) bool {
	if m == nil {
		return false
	}
	w := &m.world
	// The table of backends only grows while runs are replayed (they
	// hold its slots); past twice the services in use, start afresh.
	same := w.set && w.class == t.opts.IngressClass && w.classOK == t.classIsOK && w.isDefault == t.isDefault &&
		t.indexReused && len(t.opts.Excluded) == 0 && m.tab != nil && len(m.tab.slots) <= 2*m.sizes[1]+1024 &&
		sameSet(t.objs.KongPlugins, w.plugins) && sameSet(t.objs.KongClusterPlugins, w.cplugins) &&
		sameSet(t.objs.KongUpstreamPolicies, w.policySet)
	if !same {
		m.chunks = map[string]*chunkRec{}
		*w = world{set: true, class: t.opts.IngressClass, classOK: t.classIsOK, isDefault: t.isDefault,
			plugins: setOf(t.objs.KongPlugins), cplugins: setOf(t.objs.KongClusterPlugins), policySet: setOf(t.objs.KongUpstreamPolicies)}
	}
	return same
}

// replayChunk appends what run emitted last time, if it may; false means
// the run must be merged.
func (m *memo) replayChunk(t *translator, run []ordEnt) bool {
	if m == nil || !t.worldSame {
		return false
	}
	r := m.chunks[run[0].key]
	if r == nil || len(r.ings) != len(run) {
		return false
	}
	for i, e := range run {
		if r.ings[i] != e.ing && !sameIngress(r.ings[i], e.ing) {
			return false
		}
	}
	tab := t.backends
	for _, u := range r.pre {
		be, ok := tab.at(u.slot)
		if ok != u.existed || ok && be.failed != u.faild {
			return false
		}
	}
	res, c := t.res, t.res.Config
	res.spans = append(res.spans, runSpan{rec: r, route: len(c.Routes), svc: len(c.Services)})
	res.Failures = append(res.Failures, r.failures...)
	res.ingresses.share(r.ingresses)
	c.Routes = append(c.Routes, r.routes...)
	c.Services = append(c.Services, r.services...)
	c.Upstreams = append(c.Upstreams, r.upstreams...)
	c.Targets = append(c.Targets, r.targets...)
	res.origins[kindRoutes].share(r.oRoutes)
	res.origins[kindServices].share(r.oSvcs)
	res.origins[kindUpstreams].share(r.oUps)
	res.origins[kindTargets].share(r.oTargets)
	res.routeStamps.share(r.routeStamps)
	res.svcStamps.share(r.svcStamps)
	for i, be := range r.created {
		tab.put(r.cslots[i], be)
	}
	r.gen = m.gen // its parts are marked used when the memo is swept
	m.hits += len(r.frags) + len(r.bfs)
	m.replays++
	return true
}

// startChunk starts recording a run that is merged (nil: no memo).
func (m *memo) startChunk(t *translator, run []ordEnt) *chunkRec {
	if m == nil {
		return nil
	}
	// The run's Ingresses are copied: the order they sit in changes.
	ings := make([]*netv1.Ingress, len(run))
	for i, e := range run {
		ings[i] = e.ing
	}
	r := &chunkRec{ok: len(t.opts.Excluded) == 0, key: run[0].key, ings: ings, seen: map[string]bool{}, start: t.lengths()}
	// Every origins list must be as long as its entity list for the
	// recorded slices to line up.
	c := t.res.Config
	o := &t.res.origins
	if o[kindRoutes].len() != len(c.Routes) || o[kindServices].len() != len(c.Services) ||
		o[kindUpstreams].len() != len(c.Upstreams) || o[kindTargets].len() != len(c.Targets) ||
		t.res.routeStamps.len() != len(c.Routes) || t.res.svcStamps.len() != len(c.Services) {
		r.ok = false
	}
	t.rec = r
	return r
}

// storeChunk finishes recording a run.
func (m *memo) storeChunk(t *translator, r *chunkRec) {
	t.rec = nil
	if m == nil || r == nil {
		return
	}
	end := t.lengths()
	s := r.start
	if !r.ok || end.plugins != s.plugins || end.certs != s.certs || end.tls != s.tls {
		delete(m.chunks, r.key)
		return
	}
	res, c := t.res, t.res.Config
	r.failures = slices.Clone(res.Failures[s.failures:])
	r.ingresses = res.ingresses.slice(s.ingresses, end.ingresses)
	r.routes = slices.Clone(c.Routes[s.routes:])
	r.services = slices.Clone(c.Services[s.services:])
	r.upstreams = slices.Clone(c.Upstreams[s.upstreams:])
	r.targets = slices.Clone(c.Targets[s.targets:])
	o := &res.origins
	r.oRoutes = o[kindRoutes].slice(s.routes, end.routes)
	r.oSvcs = o[kindServices].slice(s.services, end.services)
	r.oUps = o[kindUpstreams].slice(s.upstreams, end.upstreams)
	r.oTargets = o[kindTargets].slice(s.targets, end.targets)
	r.routeStamps = res.routeStamps.slice(s.routes, end.routes)
	r.svcStamps = res.svcStamps.slice(s.services, end.services)
	res.spans = append(res.spans, runSpan{rec: r, route: s.routes, svc: s.services})
	for _, u := range r.pre {
		if !u.existed {
			be, _ := t.backends.at(u.slot)
			r.created, r.cslots = append(r.created, be), append(r.cslots, u.slot)
		}
	}
	r.seen = nil
	r.gen = m.gen
	m.chunks[r.key] = r
	m.stored++
}

func (r *chunkRec) spoil() {
	if r != nil {
		r.ok = false
	}
}

func (r *chunkRec) noteIngress(f *ingFrag) {
	if r != nil {
		r.frags = append(r.frags, f)
	}
}

func (r *chunkRec) noteBackendFrag(f *backendFrag) {
	if r == nil {
		return
	}
	r.bfs = append(r.bfs, f)
	if len(f.plugins) > 0 {
		r.ok = false
	}
}

// noteBackend records the first use of backend name in the run.
func (r *chunkRec) noteBackend(t *translator, name string) {
	if r == nil || r.seen[name] {
		return
	}
	r.seen[name] = true
	sl := t.backends.slot(name)
	be, ok := t.backends.at(sl)
	r.pre = append(r.pre, backendUse{slot: sl, existed: ok, faild: ok && be.failed})
}

// backendTab holds the backends a translation has created so far, by
// config service name. With a memo it is kept between translations: a
// name's slot stays the same object (recorded runs hold it), and a
// backend exists in the translation whose generation its slot carries,
// so a replayed run checks and creates its backends without hashing
// their names.
type backendTab struct {
	gen   uint64
	slots map[string]*beSlot
}

type beSlot struct {
	be  *backend
	gen uint64
}

func newBackendTab(gen uint64, size int) *backendTab {
	return &backendTab{gen: gen, slots: make(map[string]*beSlot, size)}
}

// get returns the backend of name, if created in this translation.
func (bt *backendTab) get(name string) (*backend, bool) {
	sl := bt.slots[name]
	if sl == nil {
		return nil, false
	}
	return bt.at(sl)
}

func (bt *backendTab) at(sl *beSlot) (*backend, bool) {
	if sl.gen != bt.gen {
		return nil, false
	}
	return sl.be, true
}

// set creates the backend of name in this translation.
func (bt *backendTab) set(name string, be *backend) { bt.put(bt.slot(name), be) }

func (bt *backendTab) put(sl *beSlot, be *backend) { sl.be, sl.gen = be, bt.gen }

// slot returns name's slot, made on first use.
func (bt *backendTab) slot(name string) *beSlot {
	sl := bt.slots[name]
	if sl == nil {
		sl = &beSlot{}
		bt.slots[name] = sl
	}
	return sl
}
