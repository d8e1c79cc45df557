package ingress

// routeStamp identifies a route made from a memoized route group for a
// config service: equal stamps, equal routes (a group's route is never
// modified once memoized, and the stamp keeps the group alive).
type routeStamp struct {
	g   *routeGroup
	svc string
}

// Every config service the translator makes from a memoized backend part
// comes with the upstream and targets of that same part: the part's
// pointer stamps all three.

// stamps remember which memoized parts the configuration last applied was
// made of, by entity name, so the next configuration can tell the proxy
// which routes, services and upstreams changed (host.ConfigDelta).
// Entries of entities that were removed since are left in place: a
// removed entity that comes back is new to the proxy, which checks that
// itself.
type stamps struct {
	routes   map[string]routeStamp
	services map[string]*backendFrag
	// applied holds the runs of Ingresses (chunks.go) whose routes and
	// services are in the configuration last applied: a run's recorded
	// entities never change, so where a result has such a run its
	// entities are unchanged, without looking at them one by one.
	applied map[*chunkRec]bool
}

// runSpan is a run of Ingresses in a result: its record and where its
// routes and services start.
type runSpan struct {
	rec        *chunkRec
	route, svc int
}

// unapplied calls fn for the ranges [lo, hi) of res's routes (svc false)
// or services (svc true) that are not in a run of st.applied, in order.
func (st *stamps) unapplied(res *Result, svc bool, fn func(lo, hi int)) {
	n := len(res.Config.Routes)
	if svc {
		n = len(res.Config.Services)
	}
	i := 0
	for _, sp := range res.spans {
		if !st.applied[sp.rec] {
			continue
		}
		lo, size := sp.route, len(sp.rec.routes)
		if svc {
			lo, size = sp.svc, len(sp.rec.services)
		}
		if lo > i {
			fn(i, lo)
		}
		i = max(i, lo+size)
	}
	if i < n {
		fn(i, n)
	}
}

// changed returns the names of the routes, services and upstreams of res
// whose parts differ from st's (or were made afresh).
func (st *stamps) changed(res *Result) (routes, services, upstreams map[string]bool) {
	c := res.Config
	routes, services, upstreams = map[string]bool{}, map[string]bool{}, map[string]bool{}
	st.unapplied(res, false, func(lo, hi int) {
		res.routeStamps.each(lo, hi, func(i int, s routeStamp) {
			if n := c.Routes[i].Name; s.g == nil || st.routes[n] != s {
				routes[n] = true
			}
		})
	})
	st.unapplied(res, true, func(lo, hi int) {
		res.svcStamps.each(lo, hi, func(i int, bf *backendFrag) {
			if n := c.Services[i].Name; bf == nil || st.services[n] != bf {
				services[n] = true
				if i < len(c.Upstreams) {
					upstreams[c.Upstreams[i].Name] = true
				}
			}
		})
	})
	// Services and upstreams are added in pairs (same index); should that
	// ever change, every upstream counts as changed.
	if len(c.Upstreams) != len(c.Services) {
		for i := range c.Upstreams {
			upstreams[c.Upstreams[i].Name] = true
		}
	}
	return routes, services, upstreams
}

// record remembers the parts of res (applied) under the changed names.
func (st *stamps) record(res *Result, routes, services map[string]bool) {
	if st.routes == nil {
		st.routes, st.services = map[string]routeStamp{}, map[string]*backendFrag{}
	}
	c := res.Config
	st.unapplied(res, false, func(lo, hi int) {
		res.routeStamps.each(lo, hi, func(i int, s routeStamp) {
			if n := c.Routes[i].Name; routes[n] {
				st.routes[n] = s
			}
		})
	})
	st.unapplied(res, true, func(lo, hi int) {
		res.svcStamps.each(lo, hi, func(i int, bf *backendFrag) {
			if n := c.Services[i].Name; services[n] {
				st.services[n] = bf
			}
		})
	})
	st.applied = make(map[*chunkRec]bool, len(res.spans))
	for _, sp := range res.spans {
		st.applied[sp.rec] = true
	}
}
