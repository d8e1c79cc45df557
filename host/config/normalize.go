package config

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Kong's defaults (kong/db/schema/entities/*.lua) and Weir's own.
const (
	defaultServiceProtocol = "http"
	defaultServicePort     = 80
	defaultRetries         = 5
	defaultTimeout         = 60000 // ms
	defaultRedirectStatus  = 426
	defaultPathHandling    = "v0"
	defaultAlgorithm       = "round-robin"
	defaultSlots           = 10000
	defaultHashOn          = "none"
	defaultCookiePath      = "/"
	defaultTargetWeight    = 100
	defaultTargetPort      = 8000
	defaultFailPolicy      = "closed"

	defaultCheckType        = "http"
	defaultCheckConcurrency = 10
	defaultCheckHTTPPath    = "/"
	defaultCheckTimeout     = 1 // s

	defaultRequestIDHeader = "X-Request-Id"
	defaultShutdownTimeout = 30000 // ms
	defaultMinLength       = 1024
	defaultGzipLevel       = 5
	defaultZstdLevel       = 1
)

// Default lists; Normalize copies them so a config never aliases them.
var (
	defaultRouteProtocols       = []string{"http", "https"}
	defaultPluginProtocols      = []string{"grpc", "grpcs", "http", "https"}
	defaultActiveHealthy        = []int{200, 302}
	defaultActiveUnhealthy      = []int{429, 404, 500, 501, 502, 503, 504, 505}
	defaultPassiveHealthy       = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}
	defaultPassiveUnhealthy     = []int{429, 500, 503}
	defaultCompressionAlgorithm = []string{"zstd", "gzip"}
)

// Normalize rewrites c into the flat, fully defaulted form the runtime and
// [Config.Validate] expect:
//
//   - nested entities move to the top-level lists with their parent set:
//     services[].routes → routes[] (service), services[].plugins,
//     routes[].plugins and consumers[].plugins → plugins[] (service, route
//     or consumer), upstreams[].targets → targets[] (upstream). Top-level
//     entries keep their order; moved ones follow in document order. A
//     parent without a name or id gets a deterministic id to be referred
//     to by.
//   - a service `url` is expanded into protocol, host, port and path
//     (default port 80 for http and grpc, 443 for https and grpcs). A url
//     next to a protocol, host, port or path that disagrees with it is an
//     error.
//   - Kong's defaults are filled in, and Weir's for the `weir` section.
//   - a `_format_version` "1.1" or "2.1" file is migrated to "3.0" as Kong
//     does: a route path that is not prefixed with `~` but contains
//     characters outside [A-Za-z0-9.-_~/%] becomes a regex path.
//
// Problems Normalize cannot resolve are returned as [ValidationErrors].
// Normalize is idempotent.
func (c *Config) Normalize() error {
	var errs errorList
	if c.origins == nil {
		c.origins = make(map[string]string)
	}
	legacy := c.FormatVersion == "1.1" || c.FormatVersion == "2.1"
	if c.FormatVersion == "" || legacy {
		c.FormatVersion = FormatVersion
	}
	c.Weir.normalize()

	var moved []Plugin // nested plugins, appended to c.Plugins at the end
	var movedFrom []string

	for i := range c.Services {
		s := own(&c.Services[i])
		at := c.origin(index("services", i))
		rep := errs.entity(at, serviceLabel(s))
		s.normalize(rep)
		if len(s.Routes) == 0 && len(s.Plugins) == 0 {
			continue
		}
		ref := parentRef(s.Name, &s.ID, "service", at)
		for j := range s.Routes {
			r := s.Routes[j]
			from := index(at+".routes", j)
			if r.Service != "" && r.Service != s.Name && r.Service != s.ID {
				errs.entity(from, routeLabel(&r)).add("service",
					fmt.Sprintf("names service %q but is nested in %s", r.Service, serviceLabel(s)))
			}
			r.Service = ref
			c.origins[index("routes", len(c.Routes))] = from
			c.Routes = append(c.Routes, &r)
		}
		for j := range s.Plugins {
			p := s.Plugins[j]
			from := index(at+".plugins", j)
			if p.Service != "" && p.Service != s.Name && p.Service != s.ID {
				errs.entity(from, pluginLabel(&p)).add("service",
					fmt.Sprintf("names service %q but is nested in %s", p.Service, serviceLabel(s)))
			}
			p.Service = ref
			moved, movedFrom = append(moved, p), append(movedFrom, from)
		}
		s.Routes, s.Plugins = nil, nil
	}

	for i := range c.Routes {
		r := own(&c.Routes[i])
		at := c.origin(index("routes", i))
		r.normalize(legacy)
		if len(r.Plugins) == 0 {
			continue
		}
		ref := parentRef(r.Name, &r.ID, "route", at)
		for j := range r.Plugins {
			p := r.Plugins[j]
			from := index(at+".plugins", j)
			if p.Route != "" && p.Route != r.Name && p.Route != r.ID {
				errs.entity(from, pluginLabel(&p)).add("route",
					fmt.Sprintf("names route %q but is nested in %s", p.Route, routeLabel(r)))
			}
			p.Route = ref
			moved, movedFrom = append(moved, p), append(movedFrom, from)
		}
		r.Plugins = nil
	}

	for i := range c.Consumers {
		cs := &c.Consumers[i]
		if len(cs.Plugins) == 0 {
			continue
		}
		at := c.origin(index("consumers", i))
		ref := parentRef(cs.Username, &cs.ID, "consumer", at)
		for j := range cs.Plugins {
			p := cs.Plugins[j]
			from := index(at+".plugins", j)
			if p.Consumer != "" && p.Consumer != cs.Username && p.Consumer != cs.ID {
				errs.entity(from, pluginLabel(&p)).add("consumer",
					fmt.Sprintf("names consumer %q but is nested in %s", p.Consumer, consumerLabel(cs)))
			}
			p.Consumer = ref
			moved, movedFrom = append(moved, p), append(movedFrom, from)
		}
		cs.Plugins = nil
	}

	for i, p := range moved {
		c.origins[index("plugins", len(c.Plugins))] = movedFrom[i]
		c.Plugins = append(c.Plugins, p)
	}
	for i := range c.Plugins {
		c.Plugins[i].normalize()
	}

	for i := range c.Upstreams {
		u := own(&c.Upstreams[i])
		u.normalize()
		if len(u.Targets) == 0 {
			continue
		}
		at := c.origin(index("upstreams", i))
		ref := parentRef(u.Name, &u.ID, "upstream", at)
		for j := range u.Targets {
			t := u.Targets[j]
			from := index(at+".targets", j)
			if t.Upstream != "" && t.Upstream != u.Name && t.Upstream != u.ID {
				errs.entity(from, targetLabel(&t)).add("upstream",
					fmt.Sprintf("names upstream %q but is nested in %s", t.Upstream, upstreamLabel(u)))
			}
			t.Upstream = ref
			c.origins[index("targets", len(c.Targets))] = from
			c.Targets = append(c.Targets, &t)
		}
		u.Targets = nil
	}
	for i := range c.Targets {
		own(&c.Targets[i]).normalize()
	}

	return errs.errs.err()
}

// own replaces the entity *p points to by a copy (a zero entity for nil)
// and returns the copy. Normalize never writes to an entity it was given:
// callers (the Kubernetes controller) share unchanged entities between
// the configurations they hand over, and a configuration in service is
// read without locks (ApplyConfigDelta; TestNormalizeLeavesEntitiesAlone).
func own[T any](p **T) *T {
	var c T
	if *p != nil {
		c = **p
	}
	*p = &c
	return &c
}

// origin returns where the entity now at path was declared.
func (c *Config) origin(path string) string {
	if o, ok := c.origins[path]; ok {
		return o
	}
	return path
}

// parentRef returns how children refer to a parent: its name, else its id,
// else a deterministic id derived from where it was declared (stored in
// *id).
func parentRef(name string, id *string, kind, at string) string {
	if name != "" {
		return name
	}
	if *id == "" {
		*id = derivedID(kind + ":" + at)
	}
	return *id
}

// weirNamespace is the UUID namespace of derived ids.
var weirNamespace = [16]byte{0x6b, 0x1f, 0x3c, 0x59, 0x2e, 0x4a, 0x4f, 0x0d, 0x9c, 0x61, 0x57, 0x0e, 0x8a, 0x2b, 0x73, 0xd4}

// derivedID returns a name-based (version 5) UUID for seed.
func derivedID(seed string) string {
	h := sha1.New()
	h.Write(weirNamespace[:])
	h.Write([]byte(seed))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

func (w *Weir) normalize() {
	if w.RequestIDHeader == "" {
		w.RequestIDHeader = defaultRequestIDHeader
	}
	if w.ServerTokens == nil {
		w.ServerTokens = ptr(true)
	}
	if w.ShutdownTimeout == 0 {
		w.ShutdownTimeout = defaultShutdownTimeout
	}
	cp := &w.Compression
	if len(cp.Algorithms) == 0 {
		cp.Algorithms = slices.Clone(defaultCompressionAlgorithm)
	}
	if cp.MinLength == 0 {
		cp.MinLength = defaultMinLength
	}
	if cp.GzipLevel == 0 {
		cp.GzipLevel = defaultGzipLevel
	}
	if cp.ZstdLevel == 0 {
		cp.ZstdLevel = defaultZstdLevel
	}
	w.normalizeObservability()
}

func (s *Service) normalize(rep *reporter) {
	if s.URL != "" {
		s.expandURL(rep)
	}
	if s.Protocol == "" {
		s.Protocol = defaultServiceProtocol
	}
	if s.Port == 0 {
		s.Port = defaultServicePort
	}
	if s.Retries == nil {
		s.Retries = ptr(defaultRetries)
	}
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = defaultTimeout
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = defaultTimeout
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = defaultTimeout
	}
	if s.Enabled == nil {
		s.Enabled = ptr(true)
	}
}

// expandURL replaces s.URL by protocol, host, port and path. On error the
// URL is kept (and reported).
func (s *Service) expandURL(rep *reporter) {
	u, err := url.Parse(s.URL)
	switch {
	case err != nil:
		rep.add("url", fmt.Sprintf("invalid url %q: %v", s.URL, errorsCause(err)))
		return
	case u.Scheme == "" || u.Opaque != "":
		rep.add("url", fmt.Sprintf("invalid url %q: want scheme://host[:port][/path]", s.URL))
		return
	case u.Host == "" || u.Hostname() == "":
		rep.add("url", fmt.Sprintf("invalid url %q: missing host", s.URL))
		return
	case u.User != nil:
		rep.add("url", fmt.Sprintf("invalid url %q: user info is not supported", s.URL))
		return
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		rep.add("url", fmt.Sprintf("invalid url %q: a query or fragment is not supported", s.URL))
		return
	}
	protocol := strings.ToLower(u.Scheme)
	port := defaultServicePort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n > 65535 {
			rep.add("url", fmt.Sprintf("invalid url %q: invalid port %q", s.URL, p))
			return
		}
		port = n
	} else if protocol == "https" || protocol == "grpcs" {
		port = 443
	}
	host, path := u.Hostname(), u.EscapedPath()

	ok := true
	conflict := func(field, have, fromURL string) {
		rep.add(field, fmt.Sprintf("%q conflicts with url %q (which gives %q); set one or the other", have, s.URL, fromURL))
		ok = false
	}
	if s.Protocol != "" && s.Protocol != protocol {
		conflict("protocol", s.Protocol, protocol)
	}
	if s.Host != "" && !strings.EqualFold(s.Host, host) {
		conflict("host", s.Host, host)
	}
	if s.Port != 0 && s.Port != port {
		conflict("port", strconv.Itoa(s.Port), strconv.Itoa(port))
	}
	if s.Path != "" && s.Path != path {
		conflict("path", s.Path, path)
	}
	if !ok {
		return
	}
	s.Protocol, s.Host, s.Port, s.Path = protocol, host, port, path
	s.URL = ""
}

// errorsCause strips net/url's "parse <url>: " prefix.
func errorsCause(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (r *Route) normalize(legacy bool) {
	if len(r.Protocols) == 0 {
		r.Protocols = slices.Clone(defaultRouteProtocols)
	}
	if r.StripPath == nil {
		// Kong's grpc route subschema defaults strip_path to false.
		r.StripPath = ptr(!grpcOnly(r.Protocols))
	}
	if r.PreserveHost == nil {
		r.PreserveHost = ptr(false)
	}
	if r.HTTPSRedirectStatusCode == 0 {
		r.HTTPSRedirectStatusCode = defaultRedirectStatus
	}
	if r.PathHandling == "" {
		r.PathHandling = defaultPathHandling
	}
	if r.RequestBuffering == nil {
		r.RequestBuffering = ptr(true)
	}
	if r.ResponseBuffering == nil {
		r.ResponseBuffering = ptr(true)
	}
	if legacy {
		cloned := false // the list may be shared with the caller's
		for i, p := range r.Paths {
			if !strings.HasPrefix(p, "~") && strings.Trim(p, legacyPlainPathChars) != "" {
				if !cloned {
					r.Paths, cloned = slices.Clone(r.Paths), true
				}
				r.Paths[i] = "~" + p
			}
		}
	}
}

// legacyPlainPathChars are the characters Kong 2.x treated as a plain
// (non-regex) path; any other character made a path a regex.
const legacyPlainPathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~/%"

// grpcOnly reports whether every protocol is grpc or grpcs.
func grpcOnly(protocols []string) bool {
	for _, p := range protocols {
		if p != "grpc" && p != "grpcs" {
			return false
		}
	}
	return len(protocols) > 0
}

func (u *Upstream) normalize() {
	if u.Algorithm == "" {
		u.Algorithm = defaultAlgorithm
	}
	if u.Slots == 0 {
		u.Slots = defaultSlots
	}
	if u.HashOn == "" {
		u.HashOn = defaultHashOn
	}
	if u.HashFallback == "" {
		u.HashFallback = defaultHashOn
	}
	if u.HashOnCookiePath == "" {
		u.HashOnCookiePath = defaultCookiePath
	}
	if u.UseSRVName == nil {
		u.UseSRVName = ptr(false)
	}

	a := &u.Healthchecks.Active
	if a.Type == "" {
		a.Type = defaultCheckType
	}
	if a.Concurrency == 0 {
		a.Concurrency = defaultCheckConcurrency
	}
	if a.HTTPPath == "" {
		a.HTTPPath = defaultCheckHTTPPath
	}
	if a.HTTPSVerifyCertificate == nil {
		a.HTTPSVerifyCertificate = ptr(true)
	}
	if a.Timeout == 0 {
		a.Timeout = defaultCheckTimeout
	}
	if len(a.Healthy.HTTPStatuses) == 0 {
		a.Healthy.HTTPStatuses = slices.Clone(defaultActiveHealthy)
	}
	if len(a.Unhealthy.HTTPStatuses) == 0 {
		a.Unhealthy.HTTPStatuses = slices.Clone(defaultActiveUnhealthy)
	}
	p := &u.Healthchecks.Passive
	if p.Type == "" {
		p.Type = defaultCheckType
	}
	if len(p.Healthy.HTTPStatuses) == 0 {
		p.Healthy.HTTPStatuses = slices.Clone(defaultPassiveHealthy)
	}
	if len(p.Unhealthy.HTTPStatuses) == 0 {
		p.Unhealthy.HTTPStatuses = slices.Clone(defaultPassiveUnhealthy)
	}
}

// normalize fills the weight and, as Kong does, the default port 8000; an
// IPv6 target gets its brackets. An unparsable target is left for
// Validate to report.
func (t *Target) normalize() {
	if t.Weight == nil {
		t.Weight = ptr(defaultTargetWeight)
	}
	hp, err := parseHostPort(t.Target)
	if err != nil {
		return
	}
	if !hp.hasPort {
		hp.port, hp.hasPort = defaultTargetPort, true
	}
	t.Target = hp.String()
}

func (p *Plugin) normalize() {
	if p.Enabled == nil {
		p.Enabled = ptr(true)
	}
	if len(p.Protocols) == 0 {
		p.Protocols = slices.Clone(defaultPluginProtocols)
	}
	if p.FailPolicy == "" {
		p.FailPolicy = defaultFailPolicy
	}
}

func ptr[T any](v T) *T { return &v }

// Labels name entities in error messages.

func serviceLabel(s *Service) string   { return label("service", s.Name, s.ID) }
func routeLabel(r *Route) string       { return label("route", r.Name, r.ID) }
func upstreamLabel(u *Upstream) string { return label("upstream", u.Name, u.ID) }
func targetLabel(t *Target) string     { return label("target", t.Target, t.ID) }

func pluginLabel(p *Plugin) string {
	if p.InstanceName != "" {
		return fmt.Sprintf("plugin %q (instance %q)", p.Name, p.InstanceName)
	}
	return label("plugin", p.Name, p.ID)
}

func consumerLabel(c *Consumer) string {
	if c.Username == "" && c.CustomID != "" {
		return fmt.Sprintf("consumer custom_id %q", c.CustomID)
	}
	return label("consumer", c.Username, c.ID)
}

func certificateLabel(c *Certificate) string {
	if c.ID == "" && len(c.SNIs) > 0 && c.SNIs[0].Name != "" {
		return fmt.Sprintf("certificate for %q", c.SNIs[0].Name)
	}
	return label("certificate", "", c.ID)
}

func label(kind, name, id string) string {
	switch {
	case name != "":
		return kind + " " + strconv.Quote(name)
	case id != "":
		return kind + " id " + strconv.Quote(id)
	}
	return ""
}
