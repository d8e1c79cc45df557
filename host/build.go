package host

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/compress"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/router"
	"github.com/weirproxy/weir/host/internal/tlsacme"
	"github.com/weirproxy/weir/host/internal/upstream"
)

// build turns a normalized, validated config into a snapshot. prev (may
// be nil) lends its balancers so health state and in-flight counts carry
// over for targets that did not change. Nothing is started here: the
// caller starts the new balancers only once the whole build succeeded.
func build(cfg *config.Config, hash [32]byte, prev *proxy.Snapshot, log *slog.Logger, plugins *pluginLoader) (snap *proxy.Snapshot, err error) {
	return buildKeep(cfg, hash, prev, log, plugins, nil)
}

// buildKeep is build that takes from prev, unchanged, the balancers and
// services keep names (ApplyConfigDelta; nil keeps nothing).
func buildKeep(cfg *config.Config, hash [32]byte, prev *proxy.Snapshot, log *slog.Logger, plugins *pluginLoader, keep *keepSet) (snap *proxy.Snapshot, err error) {
	s := &proxy.Snapshot{
		Balancers: map[string]*upstream.Balancer{},
		Hash:      hash,
	}
	ix, err := consumers.Build(cfg)
	if err != nil {
		return nil, err
	}
	byIndex, pset, slots, err := plugins.buildPlugins(cfg, prev)
	if err != nil {
		return nil, err
	}
	ext := &proxy.Extensions{Consumers: ix, Counters: plugins.localCounters()}
	// Runtime routes of prev can be kept only if every plugin is.
	keepPlugins := keep != nil && samePlugins(pset, prev)
	s.Plugins, s.PluginSlots = pset, slots
	defer func() {
		if err != nil {
			closePlugins(s, prev) // the ones this build started
		}
	}()
	opts, err := buildOptions(&cfg.Weir)
	if err != nil {
		return nil, err
	}
	s.Options = opts

	targets := map[string][]config.Target{}
	for _, t := range cfg.Targets {
		if keep.upstream(t.Upstream) {
			continue // its balancer is kept whole
		}
		targets[t.Upstream] = append(targets[t.Upstream], *t)
	}
	// upstreams by name, for the services built here; built on first use
	// (a delta rebuilding no service needs none of it).
	var upstreams map[string]*config.Upstream
	upstreamsByName := func() map[string]*config.Upstream {
		if upstreams == nil {
			upstreams = make(map[string]*config.Upstream, len(cfg.Upstreams))
			for i := range cfg.Upstreams {
				upstreams[cfg.Upstreams[i].Name] = cfg.Upstreams[i]
			}
		}
		return upstreams
	}
	if keep != nil && keep.sameUps && prev != nil {
		// Every upstream is prev's: start from prev's balancers.
		s.Balancers = maps.Clone(prev.Balancers)
	}
	for i := range cfg.Upstreams {
		if keep != nil && keep.sameUps && prev != nil && !keep.changedUps[cfg.Upstreams[i].Name] {
			continue // kept by the clone above
		}
		if b := keep.balancer(cfg.Upstreams[i].Name, prev); b != nil {
			s.Balancers[cfg.Upstreams[i].Name] = b
			continue
		}
		u := *cfg.Upstreams[i] // a copy: cfg's entities are never written to
		u.Targets = targets[u.Name]
		if u.ID != "" {
			u.Targets = append(u.Targets, targets[u.ID]...)
		}
		var p *upstream.Balancer
		if prev != nil {
			p = prev.Balancers[u.Name]
		}
		b, err := upstream.New(u, upstream.Options{Prev: p, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("upstreams[%d] (upstream %q): %w", i, u.Name, err)
		}
		s.Balancers[u.Name] = b
	}

	// Services by name or ID, for the routes. A delta whose services sit
	// where prev's do (and have no IDs) finds them by index instead.
	svcByIndex := keep != nil && keep.sameSvcs
	for i := range cfg.Services {
		svcByIndex = svcByIndex && cfg.Services[i].ID == ""
	}
	var services map[string]*proxy.Service
	if !svcByIndex {
		services = make(map[string]*proxy.Service, len(cfg.Services))
	}
	s.Services = make([]*proxy.Service, 0, len(cfg.Services))
	for i := range cfg.Services {
		cs := cfg.Services[i]
		svc := keep.service(i, cs, s.Balancers, prev)
		if svc == nil {
			if svc, err = buildService(cs, s.Balancers, upstreamsByName(), cfg); err != nil {
				return nil, fmt.Errorf("services[%d] (service %q): %w", i, cs.Name, err)
			}
		}
		s.Services = append(s.Services, svc)
		if svcByIndex {
			continue
		}
		if cs.Name != "" {
			services[cs.Name] = svc
		}
		if cs.ID != "" {
			services[cs.ID] = svc
		}
	}
	// serviceOf finds route i's service (and its index when found by
	// index, else -1).
	prevRouteSvc := []int(nil)
	if svcByIndex && keep.sameRoutes && len(keep.prevRouteSvc) == len(cfg.Routes) {
		prevRouteSvc = keep.prevRouteSvc // unchanged routes use the same services
		keep.routeSvc = make([]int, len(cfg.Routes))
	} else if svcByIndex {
		keep.routeSvc = make([]int, len(cfg.Routes))
	}
	serviceOf := func(i int, cr *config.Route) (*proxy.Service, int) {
		if !svcByIndex {
			return services[cr.Service], -1
		}
		if prevRouteSvc != nil && !keep.changedRoutes[cr.Name] {
			if j := prevRouteSvc[i]; j >= 0 && j < len(cfg.Services) && cfg.Services[j].Name == cr.Service {
				return s.Services[j], j
			}
		}
		if j, ok := keep.prevSvcs[cr.Service]; ok && j < len(cfg.Services) && cfg.Services[j].Name == cr.Service {
			return s.Services[j], j
		}
		return nil, -1
	}

	// A delta whose routes sit where prev's do updates prev's router
	// table with the changed routes only.
	incremental := keep != nil && keep.sameRoutes && prev != nil && prev.Table != nil && prev.Table.Len() == len(cfg.Routes)
	var rroutes []router.Route
	var changes []router.Change
	if !incremental {
		rroutes = make([]router.Route, 0, len(cfg.Routes))
	}
	for i := range cfg.Routes {
		cr := cfg.Routes[i]
		svc, j := serviceOf(i, cr) // nil: a route without a service (Kong answers 503)
		if keep != nil && keep.routeSvc != nil {
			keep.routeSvc[i] = j
		}
		if svc == nil && cr.Service != "" {
			return nil, fmt.Errorf("routes[%d] (route %q): service %q not found", i, cr.Name, cr.Service)
		}
		rt := keep.route(i, cr.Name, svc, prev, keepPlugins)
		if rt == nil {
			rt = newRoute(cr, svc, cfg, byIndex, ix, ext)
		}
		s.Routes = append(s.Routes, rt)
		switch {
		case !incremental:
			rroutes = append(rroutes, routerRoute(cr, rt.Name))
		case keep.changedRoutes[cr.Name]:
			changes = append(changes, router.Change{Index: i, Route: routerRoute(cr, rt.Name)})
		}
	}
	var tbl *router.Table
	if incremental {
		tbl, err = prev.Table.Update(changes)
		if errors.Is(err, router.ErrNoRoom) {
			incremental, rroutes = false, make([]router.Route, len(cfg.Routes))
			for i := range cfg.Routes {
				rroutes[i] = routerRoute(cfg.Routes[i], s.Routes[i].Name)
			}
		}
	}
	if !incremental {
		tbl, err = router.Compile(rroutes)
	}
	if err != nil {
		return nil, err
	}
	s.Table = tbl
	return s, nil
}

// routerRoute is what the router matches of a config route.
func routerRoute(cr *config.Route, name string) router.Route {
	kind := router.PathKong
	switch cr.PathType {
	case "Exact":
		kind = router.PathExact
	case "Prefix":
		kind = router.PathPrefix
	}
	methods := make([]string, len(cr.Methods))
	for j, m := range cr.Methods {
		methods[j] = strings.ToUpper(m)
	}
	return router.Route{
		Name:             name,
		Hosts:            cr.Hosts,
		Paths:            cr.Paths,
		PathKind:         kind,
		Methods:          methods,
		Headers:          cr.Headers,
		SNIs:             cr.SNIs,
		RegexPriority:    cr.RegexPriority,
		WildcardOneLabel: cr.PathType != "" || cr.OneLabelWildcard,
	}
}

// newRoute builds the runtime route of a config route.
func newRoute(cr *config.Route, svc *proxy.Service, cfg *config.Config, byIndex []*proxy.Plugin, ix *consumers.Index, ext *proxy.Extensions) *proxy.Route {
	rt := &proxy.Route{
		Name:              cr.Name,
		Service:           svc,
		StripPath:         boolOr(cr.StripPath, true),
		PreserveHost:      boolOr(cr.PreserveHost, false),
		HTTPSRedirectCode: cr.HTTPSRedirectStatusCode,
		PathHandlingV1:    cr.PathHandling == "v1",
	}
	if rt.Name == "" {
		rt.Name = cr.ID
	}
	rt.Plugins = routePlugins(cfg, byIndex, cr, ix)
	rt.Ext = ext
	for _, p := range cr.Protocols {
		switch p {
		case "http":
			rt.Protocols |= proxy.ProtoHTTP
		case "https":
			rt.Protocols |= proxy.ProtoHTTPS
		case "grpc":
			rt.Protocols |= proxy.ProtoGRPC
		case "grpcs":
			rt.Protocols |= proxy.ProtoGRPCS
		}
	}
	if rt.Protocols == 0 {
		rt.Protocols = proxy.ProtoHTTP | proxy.ProtoHTTPS
	}
	return rt
}

func buildService(cs *config.Service, balancers map[string]*upstream.Balancer, ups map[string]*config.Upstream, cfg *config.Config) (*proxy.Service, error) {
	svc := &proxy.Service{
		Name:           cs.Name,
		Path:           cs.Path,
		Retries:        intOr(cs.Retries, 5),
		ConnectTimeout: ms(cs.ConnectTimeout),
		ReadTimeout:    ms(cs.ReadTimeout),
		WriteTimeout:   ms(cs.WriteTimeout),
	}
	if svc.Name == "" {
		svc.Name = cs.ID
	}
	if svc.Path == "/" {
		svc.Path = ""
	}
	switch cs.Protocol {
	case "weir":
		svc.Kind = proxy.KindEcho
		return svc, nil
	case "grpc", "grpcs":
		svc.Kind = proxy.KindH2
	default:
		svc.Kind = proxy.KindHTTP
	}
	tlsOn := cs.Protocol == "https" || cs.Protocol == "grpcs"
	port := cs.Port
	if port == 0 {
		port = 80
		if tlsOn {
			port = 443
		}
	}
	if b, ok := balancers[cs.Host]; ok {
		svc.Balancer = b
		svc.HostHeader = cs.Host
		if u := ups[cs.Host]; u != nil && u.HostHeader != "" {
			svc.HostHeader = u.HostHeader
		}
	} else {
		addr := net.JoinHostPort(cs.Host, strconv.Itoa(port))
		svc.Balancer = upstream.Single(svc.Name, addr)
		svc.HostHeader = cs.Host
		if (tlsOn && port != 443) || (!tlsOn && port != 80) {
			svc.HostHeader = addr
		}
	}
	if tlsOn {
		svc.TLS = &tls.Config{
			ServerName:         hostOnly(svc.HostHeader),
			InsecureSkipVerify: !boolOr(cs.TLSVerify, true),
			MinVersion:         tls.VersionTLS12,
		}
		if svc.Kind == proxy.KindHTTP {
			svc.TLS.NextProtos = []string{"http/1.1"}
		}
		var up *config.Upstream
		if svc.Balancer != nil {
			up = ups[cs.Host]
		}
		id, err := tlsacme.UpstreamTLS(svc.TLS, cs, up, cfg)
		if err != nil {
			return nil, err
		}
		svc.TLSIdentity = id
	}
	if svc.Kind == proxy.KindH2 {
		svc.SetH2(proxy.NewH2RoundTripper(svc.TLS, svc.ConnectTimeout))
	}
	return svc, nil
}

func buildOptions(w *config.Weir) (proxy.Options, error) {
	o := proxy.Options{
		RequestIDHeader: w.RequestIDHeader,
		ServerTokens:    boolOr(w.ServerTokens, true),
	}
	if strings.EqualFold(o.RequestIDHeader, "off") {
		o.RequestIDHeader = ""
	} else if o.RequestIDHeader != "" {
		o.RequestIDHeader = canonicalHeader(o.RequestIDHeader)
	}
	for i, t := range w.TrustedIPs {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return o, fmt.Errorf("weir.trusted_ips[%d]: %q is not an IP or CIDR", i, t)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.TrustedIPs = append(o.TrustedIPs, p.Masked())
	}
	if c := w.Compression; c.Enabled {
		cmp, err := compress.New(compress.Options{
			Algorithms:   c.Algorithms,
			MinLength:    c.MinLength,
			GzipLevel:    c.GzipLevel,
			ZstdLevel:    c.ZstdLevel,
			ContentTypes: c.ContentTypes,
		})
		if err != nil {
			return o, fmt.Errorf("weir.compression: %w", err)
		}
		o.Compress = cmp
	}
	return o, nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func intOr(i *int, def int) int {
	if i == nil {
		return def
	}
	return *i
}

func ms(n int) time.Duration {
	if n <= 0 {
		n = 60000
	}
	return time.Duration(n) * time.Millisecond
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

func canonicalHeader(s string) string {
	b := []byte(s)
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}
