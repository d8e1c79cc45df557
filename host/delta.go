package host

import (
	"reflect"
	"slices"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/upstream"
)

// ConfigDelta says how a configuration differs from the one its caller
// applied before, so [Server.ApplyConfigDelta] can check and build only
// what changed.
type ConfigDelta struct {
	// Base is the configuration the delta is relative to: the pointer
	// the caller last handed to ApplyConfig or ApplyConfigDelta, and
	// which succeeded. When the server is not serving Base (another
	// load came in between), the delta is ignored.
	Base *config.Config
	// Hash identifies the new configuration (the caller's fingerprint of
	// its inputs); it is the snapshot's hash, reported by the admin API.
	// A delta load skips the whole-document config.Hash.
	Hash [32]byte
	// Routes, Services and Upstreams name the entities that may differ
	// from Base's entity of the same name. The caller promises that
	// every route, service and upstream it does not name equals Base's
	// of that name, and that an upstream it does not name has the same
	// targets; an entity Base does not have counts as changed, named or
	// not. Everything else (plugins, consumers, certificates, the weir
	// section, ...) is compared with Base by the server: when it
	// differs, the load takes the full path.
	Routes, Services, Upstreams map[string]bool
}

// deltaState indexes the snapshot in service for delta loads.
type deltaState struct {
	snap *proxy.Snapshot
	// Indexes of the configuration in service: entities by name, and
	// each upstream's run of targets (start, count).
	routeNames, svcNames, upNames map[string]int
	targets                       map[string][2]int
	// routeSvc is the index of each route's service (-1: none found by
	// name); nil when unknown.
	routeSvc []int
	// targetsChecked: every target names an upstream by name (checked by
	// the delta load that made this state), so a delta whose targets
	// name the same upstreams in the same order need not check again.
	targetsChecked bool
}

// keepSet is what a delta build takes unchanged from the previous
// snapshot; a nil *keepSet keeps nothing.
type keepSet struct {
	// The entities that may differ from prev's, by name.
	changedUps, changedSvcs, changedRoutes map[string]bool
	// prev's upstreams, services and routes (its configuration's), by
	// name: the index into its Services and Routes.
	prevUps, prevSvcs, prevRoutes map[string]int
	// sameRoutes: the configuration's routes have prev's names at prev's
	// indexes, so prev's router table can be updated with the changed
	// ones (changedRoutes) instead of compiled anew.
	sameRoutes bool
	// sameSvcs, sameUps: the same for services and upstreams (their
	// entities are found at their own index, without hashing names).
	sameSvcs, sameUps bool
	// prevRouteSvc is prev's index of each route's service (nil:
	// unknown); routeSvc is filled by the build for the next delta.
	prevRouteSvc, routeSvc []int
}

// route returns prev's runtime route for an unchanged config route whose
// service is the same object as before, when the plugins are all kept
// (so its plugin chain would be the same).
func (k *keepSet) route(i int, name string, svc *proxy.Service, prev *proxy.Snapshot, plugins bool) *proxy.Route {
	if k == nil || !plugins || prev == nil || k.changedRoutes[name] {
		return nil
	}
	j, ok := i, k.sameRoutes
	if !ok {
		j, ok = k.prevRoutes[name]
	}
	if !ok || j >= len(prev.Routes) {
		return nil
	}
	if rt := prev.Routes[j]; rt.Name == name && rt.Service == svc {
		return rt
	}
	return nil
}

// samePlugins reports whether a build kept every plugin of prev and
// started none.
func samePlugins(set map[string]*proxy.Plugin, prev *proxy.Snapshot) bool {
	if prev == nil || len(set) != len(prev.Plugins) {
		return false
	}
	for k, p := range set {
		if prev.Plugins[k] != p {
			return false
		}
	}
	return true
}

func (k *keepSet) upstream(name string) bool {
	if k == nil || k.changedUps[name] {
		return false
	}
	if k.sameUps {
		return true // every upstream of the configuration is prev's
	}
	_, ok := k.prevUps[name]
	return ok
}

// balancer returns prev's balancer for an unchanged upstream.
func (k *keepSet) balancer(name string, prev *proxy.Snapshot) *upstream.Balancer {
	if prev == nil || !k.upstream(name) {
		return nil
	}
	return prev.Balancers[name]
}

// service returns prev's service for an unchanged config service (at
// index i) whose
// balancer is the same object as before.
func (k *keepSet) service(i int, cs *config.Service, balancers map[string]*upstream.Balancer, prev *proxy.Snapshot) *proxy.Service {
	if k == nil || prev == nil || k.changedSvcs[cs.Name] {
		return nil
	}
	j, ok := i, k.sameSvcs
	if !ok {
		j, ok = k.prevSvcs[cs.Name]
	}
	if !ok || j >= len(prev.Services) || prev.Services[j].Name != cs.Name {
		return nil
	}
	svc := prev.Services[j]
	if b, ok := balancers[cs.Host]; ok && svc.Balancer != b {
		return nil
	}
	return svc
}

// ApplyConfigDelta is [Server.ApplyConfig] for a caller that knows which
// routes, services and upstreams changed since its last load (the
// Kubernetes controller). It normalizes the whole configuration, but
// validates only the named entities (with the services their routes
// use), checks that everything else outside routes, services, upstreams
// and targets equals the configuration in service, and rebuilds only the
// named services and upstreams; the router is compiled whole and the
// snapshot swapped atomically as usual. When the delta does not apply
// (the server serves another configuration, something outside those
// lists changed, or the check finds a problem) the load takes the full
// ApplyConfig path, so an invalid configuration is rejected with the
// same errors and never replaces the running one. As with ApplyConfig,
// cfg and its lists are the server's after the call, the entities they
// pointed to stay the caller's and are never written to: unchanged ones
// are replaced by Base's (normalized) entities, changed ones by
// normalized copies.
func (s *Server) ApplyConfigDelta(cfg *config.Config, d ConfigDelta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if !s.applyDelta(cfg, d) {
		err = cfg.Normalize()
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			err = s.applyPrepared(cfg, nil)
		}
		if err == nil && s.cfg.Load() != cfg {
			// Skipped as unchanged (same hash): serve cfg as the
			// configuration in service, so the caller's next delta,
			// relative to cfg, applies.
			s.cfg.Store(cfg)
		}
	}
	if err != nil {
		s.reloadsFailed.Add(1)
		msg := err.Error()
		s.lastReloadErr.Store(&msg)
		s.log.Error("configuration rejected; the running one keeps serving", "err", err)
		return err
	}
	s.reloadsOK.Add(1)
	s.obs.lastReloadOK.Store(time.Now().UnixNano())
	s.lastReloadErr.Store(nil)
	return nil
}

// applyDelta loads cfg through the delta path and reports whether it
// did; false means nothing changed and the full path must run.
func (s *Server) applyDelta(cfg *config.Config, d ConfigDelta) bool {
	base := s.cfg.Load()
	if d.Base == nil || base != d.Base || cfg == base {
		return false
	}
	if slices.Contains(cfg.Routes, nil) || slices.Contains(cfg.Services, nil) || slices.Contains(cfg.Upstreams, nil) ||
		slices.Contains(cfg.Targets, nil) {
		return false // Normalize makes zero entities of them
	}
	old := s.h.Snapshot()
	if s.delta.snap != old {
		s.delta = deltaState{snap: old}
		if !s.delta.index(base) {
			return false
		}
	}
	// Names in the same places as in base (the common case: a change
	// that adds or removes nothing) reuse base's indexes.
	var same [3]bool // routes, services, upstreams where base has them
	routes, same0, ok := namesLike(cfg.Routes, base.Routes, func(r *config.Route) string { return r.Name }, s.delta.routeNames)
	if !ok {
		return false
	}
	services, same1, ok := namesLike(cfg.Services, base.Services, func(s *config.Service) string { return s.Name }, s.delta.svcNames)
	if !ok {
		return false
	}
	ups, same2, ok := namesLike(cfg.Upstreams, base.Upstreams, func(u *config.Upstream) string { return u.Name }, s.delta.upNames)
	if !ok {
		return false
	}
	same = [3]bool{same0, same1, same2}
	chg := [3][]bool{changedAt(d.Routes, s.delta.routeNames, len(cfg.Routes), same[0]),
		changedAt(d.Services, s.delta.svcNames, len(cfg.Services), same[1]),
		changedAt(d.Upstreams, s.delta.upNames, len(cfg.Upstreams), same[2])}
	targets, sameRuns, ok := s.delta.normalize(cfg, base, d, same, chg)
	if !ok {
		return false
	}
	// Outside the four entity lists, nothing may differ.
	a, b := *cfg, *base
	a.Routes, a.Services, a.Upstreams, a.Targets = nil, nil, nil, nil
	b.Routes, b.Services, b.Upstreams, b.Targets = nil, nil, nil, nil
	if !reflect.DeepEqual(a, b) {
		return false
	}
	baseUps := s.delta.upNames

	// What is checked: the named entities, the services their routes
	// use, and the targets of the named upstreams. An entity the caller
	// calls unchanged that Base does not have counts as changed.
	sub := &config.Config{FormatVersion: cfg.FormatVersion, Weir: cfg.Weir}
	keep := &keepSet{changedUps: map[string]bool{}, changedSvcs: map[string]bool{}, changedRoutes: map[string]bool{},
		prevUps: s.delta.upNames, prevSvcs: s.delta.svcNames, prevRoutes: s.delta.routeNames, sameRoutes: same[0], sameSvcs: same[1], sameUps: same[2],
		prevRouteSvc: s.delta.routeSvc}
	inSub := map[string]bool{}
	addService := func(i int) {
		if !inSub[cfg.Services[i].Name] {
			inSub[cfg.Services[i].Name] = true
			sub.Services = append(sub.Services, cfg.Services[i])
		}
	}
	for i := range cfg.Upstreams {
		u := cfg.Upstreams[i]
		inBase := same[2]
		if !inBase {
			_, inBase = baseUps[u.Name]
		}
		// (Every upstream of base has a balancer in old when names sit
		// where base has them: the build made one for each.)
		if isChanged(chg[2], d.Upstreams, i, u.Name) || !inBase || !same[2] && old.Balancers[u.Name] == nil {
			sub.Upstreams = append(sub.Upstreams, u)
			keep.changedUps[u.Name] = true
		}
	}
	if sameRuns && same[2] && s.delta.targetsChecked {
		// The targets name base's upstreams in base's order: only the
		// changed upstreams' runs are checked.
		for name := range keep.changedUps {
			if run, ok := targets[name]; ok {
				sub.Targets = append(sub.Targets, cfg.Targets[run[0]:run[0]+run[1]]...)
			}
		}
	} else {
		for i := range cfg.Targets {
			t := cfg.Targets[i]
			if _, ok := ups[t.Upstream]; !ok {
				return false // a target of no upstream: let Validate say so
			}
			if keep.changedUps[t.Upstream] {
				sub.Targets = append(sub.Targets, t)
			}
		}
	}
	for i := range cfg.Services {
		cs := cfg.Services[i]
		inBase := same[1]
		if !inBase {
			_, inBase = s.delta.svcNames[cs.Name]
		}
		if isChanged(chg[1], d.Services, i, cs.Name) || !inBase {
			addService(i)
			keep.changedSvcs[cs.Name] = true
		}
	}
	for i := range cfg.Routes {
		r := cfg.Routes[i]
		inBase := same[0]
		if !inBase {
			_, inBase = s.delta.routeNames[r.Name]
		}
		if inBase && !isChanged(chg[0], d.Routes, i, r.Name) {
			continue
		}
		keep.changedRoutes[r.Name] = true
		sub.Routes = append(sub.Routes, r)
		if j, ok := services[r.Service]; ok {
			addService(j)
		} else if r.Service != "" {
			return false // let Validate name the missing service
		}
	}
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if _, ok := routes[p.Route]; p.Route != "" && !ok {
			return false
		}
		if _, ok := services[p.Service]; p.Service != "" && !ok {
			return false
		}
	}
	if err := sub.Validate(); err != nil {
		return false // the full path reports it with the right indexes
	}

	snap, err := buildKeep(cfg, d.Hash, old, s.log, s.pl, keep)
	if err != nil {
		return false
	}
	commit, _, err := s.obs.decorate(cfg, snap, old)
	if err != nil {
		closePlugins(snap, old)
		return false
	}
	commit()
	if same[2] {
		// The other balancers are old's, running.
		for name := range keep.changedUps {
			if b := snap.Balancers[name]; b != nil {
				b.Start()
			}
		}
	} else {
		startBalancers(snap)
	}
	s.h.Swap(snap)
	// Certificates and ACME settings equal Base's (checked above); ACME
	// route markers may have changed with the routes.
	if err := s.tm.Apply(cfg); err != nil {
		s.log.Error("ACME settings could not be applied; certificates already obtained keep serving", "err", err)
	}
	s.cfg.Store(cfg)
	s.raw = nil
	s.delta = deltaState{snap: snap, routeNames: routes, svcNames: services, upNames: ups, targets: targets,
		routeSvc: keep.routeSvc, targetsChecked: true}
	if same[2] {
		for name := range keep.changedUps {
			if b := old.Balancers[name]; b != nil && snap.Balancers[name] != b {
				b.Stop()
			}
		}
	} else {
		stopBalancers(old, snap)
	}
	time.AfterFunc(2*time.Minute, func() { closeH2Except(old, snap) })
	s.retire(old, snap)
	s.log.Info("configuration applied", "routes", len(snap.Routes), "services", len(snap.Services), "upstreams", len(snap.Balancers),
		"changed_routes", len(sub.Routes), "rebuilt_upstreams", len(sub.Upstreams))
	return true
}

// index fills the maps of st.snap, and of cfg (the configuration in
// service) unless known; false when cfg's targets are not grouped by
// upstream (the translator's are; others take the full path).
func (st *deltaState) index(cfg *config.Config) bool {
	var ok bool
	if st.routeNames, ok = names(cfg.Routes, func(r *config.Route) string { return r.Name }); !ok {
		return false
	}
	if st.svcNames, ok = names(cfg.Services, func(s *config.Service) string { return s.Name }); !ok {
		return false
	}
	if st.upNames, ok = names(cfg.Upstreams, func(u *config.Upstream) string { return u.Name }); !ok {
		return false
	}
	st.targets, ok = targetRuns(cfg.Targets)
	st.routeSvc = make([]int, len(cfg.Routes))
	for i := range cfg.Routes {
		j, found := st.svcNames[cfg.Routes[i].Service]
		if !found {
			j = -1
		}
		st.routeSvc[i] = j
	}
	return ok
}

// targetRuns maps each upstream to its run of targets (start, count);
// false when an upstream's targets are not contiguous.
func targetRuns(ts []*config.Target) (map[string][2]int, bool) {
	runs := map[string][2]int{}
	for i := 0; i < len(ts); {
		j := i + 1
		for j < len(ts) && ts[j].Upstream == ts[i].Upstream {
			j++
		}
		if _, dup := runs[ts[i].Upstream]; dup {
			return nil, false
		}
		runs[ts[i].Upstream] = [2]int{i, j - i}
		i = j
	}
	return runs, true
}

// normalize is cfg.Normalize for a delta: unchanged routes, services,
// upstreams and targets are copied from base (the normalized form of the
// same entities); the rest of the document goes through Normalize. It
// returns cfg's target runs; false (cfg's entities partly normalized,
// which Normalize finishes) when the delta cannot be used.
func (st *deltaState) normalize(cfg, base *config.Config, d ConfigDelta, same [3]bool, chg [3][]bool) (runs map[string][2]int, sameRuns, ok bool) {
	// baseIndex finds an entity in base: at its own index when the names
	// sit where base has them (no hashing of 40,000 names), else by name.
	baseIndex := func(kind, i int, name string, known map[string]int) (int, bool) {
		if same[kind] {
			return i, true
		}
		j, ok := known[name]
		return j, ok
	}
	tmp := *cfg
	tmp.Routes, tmp.Services, tmp.Upstreams, tmp.Targets = nil, nil, nil, nil
	var ri, si, ui []int
	for i := range cfg.Routes {
		r := cfg.Routes[i]
		if j, ok := baseIndex(0, i, r.Name, st.routeNames); ok && !isChanged(chg[0], d.Routes, i, r.Name) {
			cfg.Routes[i] = base.Routes[j]
			continue
		}
		if len(r.Plugins) > 0 {
			return nil, false, false // nested entities: Normalize moves them
		}
		ri, tmp.Routes = append(ri, i), append(tmp.Routes, r)
	}
	for i := range cfg.Services {
		sv := cfg.Services[i]
		if j, ok := baseIndex(1, i, sv.Name, st.svcNames); ok && !isChanged(chg[1], d.Services, i, sv.Name) {
			cfg.Services[i] = base.Services[j]
			continue
		}
		if len(sv.Routes) > 0 || len(sv.Plugins) > 0 {
			return nil, false, false
		}
		si, tmp.Services = append(si, i), append(tmp.Services, sv)
	}
	for i := range cfg.Upstreams {
		u := cfg.Upstreams[i]
		if j, ok := baseIndex(2, i, u.Name, st.upNames); ok && !isChanged(chg[2], d.Upstreams, i, u.Name) {
			cfg.Upstreams[i] = base.Upstreams[j]
			continue
		}
		if len(u.Targets) > 0 {
			return nil, false, false
		}
		ui, tmp.Upstreams = append(ui, i), append(tmp.Upstreams, u)
	}
	runs, sameRuns = st.targets, true
	if len(cfg.Targets) != len(base.Targets) || !slices.EqualFunc(cfg.Targets, base.Targets, func(a, b *config.Target) bool { return a.Upstream == b.Upstream }) {
		sameRuns = false
		if runs, ok = targetRuns(cfg.Targets); !ok {
			return nil, false, false
		}
	}
	var ti []int
	if sameRuns && st.targetsChecked {
		// Every target names one of base's upstreams, in base's order:
		// copy base's targets but the changed upstreams'.
		chgT := make([]bool, len(cfg.Targets))
		for up := range d.Upstreams {
			if run, ok := runs[up]; ok && d.Upstreams[up] {
				for k := run[0]; k < run[0]+run[1]; k++ {
					chgT[k] = true
				}
			}
		}
		for k := range cfg.Targets {
			if !chgT[k] {
				cfg.Targets[k] = base.Targets[k]
				continue
			}
			ti, tmp.Targets = append(ti, k), append(tmp.Targets, cfg.Targets[k])
		}
		runs = nil // skip the loop below
	}
	for up, run := range runs {
		_, known := st.upNames[up]
		if b, ok := st.targets[up]; known && ok && !d.Upstreams[up] {
			if b[1] != run[1] {
				return nil, false, false // an unchanged upstream with other targets
			}
			copy(cfg.Targets[run[0]:run[0]+run[1]], base.Targets[b[0]:b[0]+b[1]])
			continue
		}
		for k := run[0]; k < run[0]+run[1]; k++ {
			ti, tmp.Targets = append(ti, k), append(tmp.Targets, cfg.Targets[k])
		}
	}
	if runs == nil {
		runs = st.targets
	}
	if err := tmp.Normalize(); err != nil {
		return nil, false, false
	}
	if len(tmp.Routes) != len(ri) || len(tmp.Services) != len(si) || len(tmp.Upstreams) != len(ui) || len(tmp.Targets) != len(ti) {
		return nil, false, false
	}
	for k, i := range ri {
		cfg.Routes[i] = tmp.Routes[k]
	}
	for k, i := range si {
		cfg.Services[i] = tmp.Services[k]
	}
	for k, i := range ui {
		cfg.Upstreams[i] = tmp.Upstreams[k]
	}
	for k, i := range ti {
		cfg.Targets[i] = tmp.Targets[k]
	}
	tmp.Routes, tmp.Services, tmp.Upstreams, tmp.Targets = cfg.Routes, cfg.Services, cfg.Upstreams, cfg.Targets
	*cfg = tmp
	return runs, sameRuns, true
}

// changedAt marks, when names sit where base has them (same), the
// indexes of the names in set (found through base's index known), so
// that checking a name costs no hashing; nil otherwise.
func changedAt(set map[string]bool, known map[string]int, n int, same bool) []bool {
	if !same || len(set) == 0 {
		return nil
	}
	b := make([]bool, n)
	for name, on := range set {
		if j, ok := known[name]; ok && on && j < n {
			b[j] = true
		}
	}
	return b
}

// isChanged reports whether the entity at index i, named name, is in
// set: through chg (changedAt) when it is not nil.
func isChanged(chg []bool, set map[string]bool, i int, name string) bool {
	if chg != nil {
		return chg[i]
	}
	return len(set) > 0 && set[name]
}

// namesLike is names for a list whose names may all sit where they sit
// in base, whose index (known) is then reused.
func namesLike[T any](list, base []*T, name func(*T) string, known map[string]int) (m map[string]int, same, ok bool) {
	if known != nil && len(list) == len(base) {
		same := true
		for i := range list {
			if list[i] != base[i] && name(list[i]) != name(base[i]) {
				same = false
				break
			}
		}
		if same {
			return known, true, true
		}
	}
	m, ok = names(list, name)
	return m, false, ok
}

// names indexes entities by name; false when a name is empty or
// repeated (the full path's Validate reports it).
func names[T any](list []*T, name func(*T) string) (map[string]int, bool) {
	m := make(map[string]int, len(list))
	for i := range list {
		n := name(list[i])
		if n == "" {
			return nil, false
		}
		if _, dup := m[n]; dup {
			return nil, false
		}
		m[n] = i
	}
	return m, true
}

// closeH2Except closes the idle HTTP/2 clients of old's services that
// keep no longer uses.
func closeH2Except(old, keep *proxy.Snapshot) {
	kept := make(map[*proxy.Service]bool, len(keep.Services))
	for _, svc := range keep.Services {
		kept[svc] = true
	}
	for _, svc := range old.Services {
		if !kept[svc] {
			svc.CloseIdle()
		}
	}
}
