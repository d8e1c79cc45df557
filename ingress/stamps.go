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
}

// changed returns the names of the routes, services and upstreams of res
// whose parts differ from st's (or were made afresh).
func (st *stamps) changed(res *Result) (routes, services, upstreams map[string]bool) {
	c := res.Config
	routes, services, upstreams = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range c.Routes {
		n := c.Routes[i].Name
		if i >= len(res.routeStamps) || res.routeStamps[i].g == nil || st.routes[n] != res.routeStamps[i] {
			routes[n] = true
		}
	}
	for i := range c.Services {
		n := c.Services[i].Name
		if i >= len(res.svcStamps) || res.svcStamps[i] == nil || st.services[n] != res.svcStamps[i] {
			services[n] = true
			if i < len(c.Upstreams) {
				upstreams[c.Upstreams[i].Name] = true
			}
		}
	}
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
	for i := range c.Routes {
		if n := c.Routes[i].Name; routes[n] && i < len(res.routeStamps) {
			st.routes[n] = res.routeStamps[i]
		}
	}
	for i := range c.Services {
		if n := c.Services[i].Name; services[n] && i < len(res.svcStamps) {
			st.services[n] = res.svcStamps[i]
		}
	}
}
