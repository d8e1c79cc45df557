package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Limits from Kong's schemas.
const (
	maxTimeout      = 1<<31 - 2 // ms; Kong's nonzero_timeout upper bound
	maxRetries      = 32767
	maxWeight       = 65535
	minSlots        = 10
	maxSlots        = 1 << 16
	maxSeconds      = 65535 // healthcheck timeouts and intervals
	maxCounter      = 1 << 31
	maxVerifyDepth  = 64
	maxMinLength    = 1 << 20 // compress.MaxMinLength
	maxShutdownTime = 1<<31 - 1
)

var (
	serviceProtocols = []string{"http", "https", "grpc", "grpcs", "weir"}
	routeProtocols   = []string{"http", "https", "grpc", "grpcs"}
	// pluginProtocols also holds Kong's stream protocols: decK writes them
	// into the protocols of stream-capable plugins, and Weir ignores them.
	pluginProtocols = []string{"http", "https", "grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}
	// kongOnlyProtocols are Kong protocols Weir does not proxy.
	kongOnlyProtocols = []string{"tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}
	// weirResponders are the built-in responders of protocol "weir".
	weirResponders     = []string{"echo"}
	redirectStatuses   = []int{426, 301, 302, 307, 308}
	algorithms         = []string{"round-robin", "least-connections", "consistent-hashing", "latency"}
	hashInputs         = []string{"none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"}
	checkTypes         = []string{"http", "https", "tcp", "grpc", "grpcs"}
	failPolicies       = []string{"closed", "open"}
	pathTypes          = []string{"", "Exact", "Prefix"}
	pathHandlings      = []string{"v0", "v1"}
	compressionAlgos   = []string{"zstd", "gzip"}
	notNormalizedHint  = "nested entities must be moved to the top level by Normalize before Validate"
	requiredFieldError = "required field missing"
)

// Validate checks a normalized configuration and returns every problem
// as [ValidationErrors], sorted by path, or nil. Each error names the
// object (`route "api"`) and the field (`paths[1]`); for an entity that
// Normalize moved out of its parent the path is where the document
// declared it (`services[0].routes[1].paths[1]`).
//
// The rules are Kong's (kong/db/schema/entities/*.lua and typedefs) where
// Kong has one, with Weir's restrictions where Weir supports less (no
// stream protocols; RE2 rather than PCRE regexes) and Weir's own fields.
func (c *Config) Validate() error {
	v := validator{c: c}
	if c.FormatVersion != FormatVersion {
		v.errs.add("_format_version", fmt.Sprintf("unsupported version %q (want %q; Normalize migrates older versions)",
			c.FormatVersion, FormatVersion))
	}
	v.weir()
	v.modules()
	v.buildTables()
	v.services()
	v.routes()
	v.upstreams()
	v.targets()
	v.consumers()
	v.plugins()
	v.certificates()
	v.tls()
	v.raw("_info", c.Info)
	for i, m := range c.CACertificates {
		v.rawObject(index("ca_certificates", i), m)
	}
	return v.errs.errs.err()
}

type validator struct {
	c    *Config
	errs errorList

	svcs, rts, ups, cons table // lookup tables for references
}

// table finds an entity by its endpoint key (name, or username) or id.
type table struct {
	byKey, byID map[string]int
}

func newTable() table {
	return table{byKey: map[string]int{}, byID: map[string]int{}}
}

// lookup resolves a reference as Kong does: by key first, then by id.
func (t table) lookup(ref string) (int, bool) {
	if i, ok := t.byKey[ref]; ok {
		return i, true
	}
	i, ok := t.byID[ref]
	return i, ok
}

// add registers entity i under key and id, reporting duplicates. what
// names the key field ("name", "username").
func (t table) add(rep *reporter, kind, what, key, id string, i int, where func(int) string) {
	if key != "" {
		if j, dup := t.byKey[key]; dup {
			rep.add(what, fmt.Sprintf("duplicate %s %s %q (also %s)", kind, what, key, where(j)))
		} else {
			t.byKey[key] = i
		}
	}
	if id != "" {
		if j, dup := t.byID[id]; dup {
			rep.add("id", fmt.Sprintf("duplicate %s id %q (also %s)", kind, id, where(j)))
		} else {
			t.byID[id] = i
		}
	}
}

// at returns a function giving the declared path of kind[i].
func (v *validator) at(kind string) func(int) string {
	return func(i int) string { return v.c.origin(index(kind, i)) }
}

// buildTables indexes the entities other entities refer to.
func (v *validator) buildTables() {
	c := v.c
	v.svcs, v.rts, v.ups, v.cons = newTable(), newTable(), newTable(), newTable()
	for i := range c.Services {
		s := c.Services[i]
		v.svcs.add(v.rep("services", i, serviceLabel(s)), "service", "name", s.Name, s.ID, i, v.at("services"))
	}
	for i := range c.Routes {
		r := c.Routes[i]
		v.rts.add(v.rep("routes", i, routeLabel(r)), "route", "name", r.Name, r.ID, i, v.at("routes"))
	}
	for i := range c.Upstreams {
		u := c.Upstreams[i]
		v.ups.add(v.rep("upstreams", i, upstreamLabel(u)), "upstream", "name", u.Name, u.ID, i, v.at("upstreams"))
	}
	for i := range c.Consumers {
		cs := &c.Consumers[i]
		v.cons.add(v.rep("consumers", i, consumerLabel(cs)), "consumer", "username", cs.Username, cs.ID, i, v.at("consumers"))
	}
}

// rep returns the reporter for kind[i].
func (v *validator) rep(kind string, i int, label string) *reporter {
	return v.errs.entity(v.c.origin(index(kind, i)), label)
}

func (v *validator) services() {
	for i := range v.c.Services {
		s := v.c.Services[i]
		rep := v.rep("services", i, serviceLabel(s))
		common(rep, s.ID, s.Tags)
		if s.Name != "" {
			if err := checkName(s.Name); err != nil {
				rep.add("name", err.Error())
			}
		}
		if len(s.Routes) > 0 {
			rep.add("routes", notNormalizedHint)
		}
		if len(s.Plugins) > 0 {
			rep.add("plugins", notNormalizedHint)
		}
		if s.URL != "" {
			rep.add("url", "must be expanded by Normalize before Validate")
		}

		protocolOK := slices.Contains(serviceProtocols, s.Protocol)
		switch {
		case protocolOK:
		case s.Protocol == "":
			rep.add("protocol", requiredFieldError)
		case slices.Contains(kongOnlyProtocols, s.Protocol):
			rep.add("protocol", fmt.Sprintf("protocol %q is not supported by Weir (want %s)", s.Protocol, oneOf(serviceProtocols)))
		default:
			rep.add("protocol", fmt.Sprintf("invalid protocol %q (want %s)", s.Protocol, oneOf(serviceProtocols)))
		}
		switch {
		case s.Host == "":
			rep.add("host", requiredFieldError)
		case s.Protocol == "weir":
			if !slices.Contains(weirResponders, s.Host) {
				rep.add("host", fmt.Sprintf("unknown built-in responder %q (want %s)", s.Host, oneOf(weirResponders)))
			}
		default:
			if hp, err := parseHostPort(s.Host); err != nil {
				rep.add("host", err.Error())
			} else if hp.hasPort {
				rep.add("host", "must not have a port (set port instead)")
			}
		}
		checkRange(rep, "port", s.Port, 0, 65535)
		if s.Path != "" {
			if s.Protocol == "grpc" || s.Protocol == "grpcs" {
				rep.add("path", "must not be set when protocol is grpc or grpcs")
			} else if err := checkURIPath(s.Path); err != nil {
				rep.add("path", err.Error())
			}
		}
		if s.Retries != nil {
			checkRange(rep, "retries", *s.Retries, 0, maxRetries)
		}
		checkRange(rep, "connect_timeout", s.ConnectTimeout, 1, maxTimeout)
		checkRange(rep, "write_timeout", s.WriteTimeout, 1, maxTimeout)
		checkRange(rep, "read_timeout", s.ReadTimeout, 1, maxTimeout)

		tlsProtocol := s.Protocol == "https" || s.Protocol == "grpcs"
		if protocolOK && !tlsProtocol {
			if s.TLSVerify != nil {
				rep.add("tls_verify", "can only be set when protocol is https or grpcs")
			}
			if len(s.ClientCertificate) > 0 && !isJSONNull(s.ClientCertificate) {
				rep.add("client_certificate", "can only be set when protocol is https or grpcs")
			}
			if len(s.CACertificates) > 0 {
				rep.add("ca_certificates", "can only be set when protocol is https or grpcs")
			}
		}
		if s.TLSVerifyDepth != nil {
			checkRange(rep, "tls_verify_depth", *s.TLSVerifyDepth, 0, maxVerifyDepth)
		}
		for j, id := range s.CACertificates {
			if err := checkUUID(id); err != nil {
				rep.add(index("ca_certificates", j), err.Error())
			}
		}
		v.rawField(rep, "client_certificate", s.ClientCertificate)
	}
}

func (v *validator) routes() {
	for i := range v.c.Routes {
		r := v.c.Routes[i]
		rep := v.rep("routes", i, routeLabel(r))
		common(rep, r.ID, r.Tags)
		if r.Name != "" {
			if err := checkName(r.Name); err != nil {
				rep.add("name", err.Error())
			}
		}
		if len(r.Plugins) > 0 {
			rep.add("plugins", notNormalizedHint)
		}
		if r.Service != "" {
			if _, ok := v.svcs.lookup(r.Service); !ok {
				rep.add("service", fmt.Sprintf("no service with name or id %q", r.Service))
			}
		}

		// Protocols: Weir proxies http/https and grpc/grpcs, not both
		// families on one route (Kong's mutually_exclusive_subsets).
		var httpFamily, grpcFamily, tls bool
		if len(r.Protocols) == 0 {
			rep.add("protocols", "must not be empty")
		}
		for j, p := range r.Protocols {
			f := index("protocols", j)
			switch p {
			case "http", "https":
				httpFamily = true
			case "grpc", "grpcs":
				grpcFamily = true
			default:
				if slices.Contains(kongOnlyProtocols, p) {
					rep.add(f, fmt.Sprintf("protocol %q is not supported by Weir (want %s)", p, oneOf(routeProtocols)))
				} else {
					rep.add(f, fmt.Sprintf("invalid protocol %q (want %s)", p, oneOf(routeProtocols)))
				}
			}
			tls = tls || p == "https" || p == "grpcs"
		}
		if httpFamily && grpcFamily {
			rep.add("protocols", "cannot mix http/https with grpc/grpcs")
		}
		grpc := grpcFamily && !httpFamily

		if grpc && len(r.Methods) > 0 {
			rep.add("methods", "cannot be set when protocols are grpc or grpcs")
		}
		for j, m := range r.Methods {
			if !isToken(m) || strings.ToUpper(m) != m {
				rep.add(index("methods", j), fmt.Sprintf("invalid method %q: must be an upper-case HTTP method token", m))
			}
		}
		for j, h := range r.Hosts {
			if err := checkWildcardHost(h, true); err != nil {
				rep.add(index("hosts", j), fmt.Sprintf("invalid host %q: %v", h, err))
			}
		}
		checkOneOf(rep, "path_type", r.PathType, pathTypes)
		for j, p := range r.Paths {
			v.routePath(rep, index("paths", j), p, r.PathType)
		}
		for _, name := range sortedHeaderNames(r.Headers) {
			f := mapPath("headers", name)
			switch {
			case !isToken(name):
				rep.add(f, fmt.Sprintf("invalid header name %q", name))
			case strings.EqualFold(name, "host"):
				rep.add(f, "cannot match the Host header here; use hosts")
			}
			values := r.Headers[name]
			if len(values) == 0 {
				rep.add(f, "must list at least one value")
			}
			for k, val := range values {
				if rx, ok := strings.CutPrefix(val, "~*"); ok {
					if err := compileRegex(rx); err != nil {
						rep.add(f+"["+strconv.Itoa(k)+"]", fmt.Sprintf("invalid regex %q: %v", val, err))
					}
				} else if val == "" {
					rep.add(f+"["+strconv.Itoa(k)+"]", "empty header value")
				}
			}
		}
		for j, s := range r.SNIs {
			if err := checkSNI(s, false); err != nil {
				rep.add(index("snis", j), fmt.Sprintf("invalid sni %q: %v", s, err))
			}
		}
		if len(r.SNIs) > 0 && !tls && len(r.Protocols) > 0 {
			rep.add("snis", "can only be set when protocols include https or grpcs")
		}

		if grpc {
			if len(r.Hosts)+len(r.Paths)+len(r.Headers)+len(r.SNIs) == 0 {
				rep.add("", "must set at least one of hosts, paths, headers or snis")
			}
			if r.StripPath != nil && *r.StripPath {
				rep.add("strip_path", "cannot be true when protocols are grpc or grpcs")
			}
		} else if len(r.Methods)+len(r.Hosts)+len(r.Paths)+len(r.Headers)+len(r.SNIs) == 0 {
			rep.add("", "must set at least one of methods, hosts, paths, headers or snis")
		}
		if !slices.Contains(redirectStatuses, r.HTTPSRedirectStatusCode) {
			rep.add("https_redirect_status_code", fmt.Sprintf("invalid status %d (want 426, 301, 302, 307 or 308)", r.HTTPSRedirectStatusCode))
		}
		checkOneOf(rep, "path_handling", r.PathHandling, pathHandlings)
	}
}

// routePath checks one route path: "/plain" or "~/regex" as Kong 3.x
// has them; a regex must compile with Go's RE2.
func (v *validator) routePath(rep *reporter, field, p, pathType string) {
	if rx, ok := strings.CutPrefix(p, "~"); ok {
		if !strings.HasPrefix(rx, "/") {
			rep.add(field, fmt.Sprintf("invalid path %q: must start with / (prefix path) or ~/ (regex path)", p))
			return
		}
		if pathType != "" {
			rep.add(field, fmt.Sprintf("path %q is a regex, which path_type %s does not allow", p, pathType))
			return
		}
		if err := compileRegex(rx); err != nil {
			rep.add(field, fmt.Sprintf("invalid regex %q: %v", p, err))
		}
		return
	}
	if !strings.HasPrefix(p, "/") {
		rep.add(field, fmt.Sprintf("invalid path %q: must start with / (prefix path) or ~/ (regex path)", p))
		return
	}
	if err := checkURIPath(p); err != nil {
		rep.add(field, err.Error())
	}
}

func (v *validator) upstreams() {
	for i := range v.c.Upstreams {
		u := v.c.Upstreams[i]
		rep := v.rep("upstreams", i, upstreamLabel(u))
		common(rep, u.ID, u.Tags)
		switch hp, err := parseHostPort(u.Name); {
		case u.Name == "":
			rep.add("name", requiredFieldError)
		case err != nil:
			rep.add("name", fmt.Sprintf("invalid name %q: must be a valid hostname (%v)", u.Name, err))
		case hp.kind != hostName:
			rep.add("name", fmt.Sprintf("invalid name %q: must be a hostname, not an IP address", u.Name))
		case hp.hasPort:
			rep.add("name", fmt.Sprintf("invalid name %q: must not have a port", u.Name))
		}
		if len(u.Targets) > 0 {
			rep.add("targets", notNormalizedHint)
		}
		checkOneOf(rep, "algorithm", u.Algorithm, algorithms)
		checkRange(rep, "slots", u.Slots, minSlots, maxSlots)
		onOK := checkOneOf(rep, "hash_on", u.HashOn, hashInputs)
		fbOK := checkOneOf(rep, "hash_fallback", u.HashFallback, hashInputs)
		if onOK && fbOK {
			checkHashing(rep, u)
		}
		checkHeaderName(rep, "hash_on_header", u.HashOnHeader)
		checkHeaderName(rep, "hash_fallback_header", u.HashFallbackHeader)
		if u.HashOnCookie != "" && !isToken(u.HashOnCookie) {
			rep.add("hash_on_cookie", fmt.Sprintf("invalid cookie name %q", u.HashOnCookie))
		}
		if u.HashOnCookiePath != "" {
			if err := checkURIPath(u.HashOnCookiePath); err != nil {
				rep.add("hash_on_cookie_path", err.Error())
			}
		}
		if u.HostHeader != "" {
			if _, err := parseHostPort(u.HostHeader); err != nil {
				rep.add("host_header", err.Error())
			}
		}
		v.rawField(rep, "client_certificate", u.ClientCertificate)
		checkHealthchecks(rep, &u.Healthchecks)
	}
}

// checkHashing applies Kong's upstream entity_checks on hash_on and
// hash_fallback.
func checkHashing(rep *reporter, u *Upstream) {
	on, fb := u.HashOn, u.HashFallback
	if on == "header" && u.HashOnHeader == "" {
		rep.add("hash_on_header", "required when hash_on is header")
	}
	if fb == "header" && u.HashFallbackHeader == "" {
		rep.add("hash_fallback_header", "required when hash_fallback is header")
	}
	if (on == "cookie" || fb == "cookie") && u.HashOnCookie == "" {
		rep.add("hash_on_cookie", "required when hash_on or hash_fallback is cookie")
	}
	if on == "query_arg" && u.HashOnQueryArg == "" {
		rep.add("hash_on_query_arg", "required when hash_on is query_arg")
	}
	if fb == "query_arg" && u.HashFallbackQueryArg == "" {
		rep.add("hash_fallback_query_arg", "required when hash_fallback is query_arg")
	}
	if on == "uri_capture" && u.HashOnURICapture == "" {
		rep.add("hash_on_uri_capture", "required when hash_on is uri_capture")
	}
	if fb == "uri_capture" && u.HashFallbackURICapture == "" {
		rep.add("hash_fallback_uri_capture", "required when hash_fallback is uri_capture")
	}
	switch {
	case fb == "none":
	case on == "none":
		rep.add("hash_fallback", "must be none when hash_on is none")
	case on == "cookie":
		rep.add("hash_fallback", "must be none when hash_on is cookie (a missing cookie is generated)")
	case on == fb && on != "header" && on != "query_arg" && on != "uri_capture":
		rep.add("hash_fallback", fmt.Sprintf("must differ from hash_on (both are %s)", on))
	}
	distinct := func(a, b, fieldA, fieldB string) {
		if a != "" && strings.EqualFold(a, b) {
			rep.add(fieldB, fmt.Sprintf("must differ from %s (both are %q)", fieldA, a))
		}
	}
	distinct(u.HashOnHeader, u.HashFallbackHeader, "hash_on_header", "hash_fallback_header")
	distinct(u.HashOnQueryArg, u.HashFallbackQueryArg, "hash_on_query_arg", "hash_fallback_query_arg")
	distinct(u.HashOnURICapture, u.HashFallbackURICapture, "hash_on_uri_capture", "hash_fallback_uri_capture")
}

func checkHealthchecks(rep *reporter, h *Healthchecks) {
	const act, pas = "healthchecks.active", "healthchecks.passive"
	a := &h.Active
	checkOneOf(rep, act+".type", a.Type, checkTypes)
	checkRange(rep, act+".concurrency", a.Concurrency, 1, maxCounter)
	if a.HTTPPath != "" {
		if err := checkURIPath(a.HTTPPath); err != nil {
			rep.add(act+".http_path", err.Error())
		}
	}
	if a.HTTPSSNI != "" {
		if err := checkSNI(a.HTTPSSNI, false); err != nil {
			rep.add(act+".https_sni", fmt.Sprintf("invalid sni %q: %v", a.HTTPSSNI, err))
		}
	}
	checkSeconds(rep, act+".timeout", a.Timeout)
	for _, name := range sortedHeaderNames(a.Headers) {
		if !isToken(name) {
			rep.add(mapPath(act+".headers", name), fmt.Sprintf("invalid header name %q", name))
		}
	}
	checkSeconds(rep, act+".healthy.interval", a.Healthy.Interval)
	checkSeconds(rep, act+".unhealthy.interval", a.Unhealthy.Interval)
	checkHealthy(rep, act+".healthy", &a.Healthy)
	checkUnhealthy(rep, act+".unhealthy", &a.Unhealthy)

	p := &h.Passive
	checkOneOf(rep, pas+".type", p.Type, checkTypes)
	if p.Healthy.Interval != 0 {
		rep.add(pas+".healthy.interval", "is not used by passive health checks; set it under active")
	}
	if p.Unhealthy.Interval != 0 {
		rep.add(pas+".unhealthy.interval", "is not used by passive health checks; set it under active")
	}
	checkHealthy(rep, pas+".healthy", &p.Healthy)
	checkUnhealthy(rep, pas+".unhealthy", &p.Unhealthy)

	if h.Threshold < 0 || h.Threshold > 100 {
		rep.add("healthchecks.threshold", fmt.Sprintf("%g is out of range 0..100 (percent)", h.Threshold))
	}
}

func checkHealthy(rep *reporter, at string, h *Healthy) {
	checkStatuses(rep, at+".http_statuses", h.HTTPStatuses)
	checkRange(rep, at+".successes", h.Successes, 0, maxCounter)
}

func checkUnhealthy(rep *reporter, at string, u *Unhealthy) {
	checkStatuses(rep, at+".http_statuses", u.HTTPStatuses)
	checkRange(rep, at+".tcp_failures", u.TCPFailures, 0, maxCounter)
	checkRange(rep, at+".timeouts", u.Timeouts, 0, maxCounter)
	checkRange(rep, at+".http_failures", u.HTTPFailures, 0, maxCounter)
}

func checkStatuses(rep *reporter, at string, statuses []int) {
	for j, s := range statuses {
		if s < 100 || s > 999 {
			rep.add(at+"["+strconv.Itoa(j)+"]", fmt.Sprintf("invalid status %d (want 100..999)", s))
		}
	}
}

func checkSeconds(rep *reporter, field string, s float64) {
	if !(s >= 0 && s <= maxSeconds) { // also catches NaN
		rep.add(field, fmt.Sprintf("%g is out of range 0..%d (seconds)", s, maxSeconds))
	}
}

func (v *validator) targets() {
	seen := map[[2]string]int{} // (upstream index, target) -> target index
	for i := range v.c.Targets {
		t := v.c.Targets[i]
		rep := v.rep("targets", i, targetLabel(t))
		common(rep, t.ID, t.Tags)
		up := -1
		if t.Upstream == "" {
			rep.add("upstream", requiredFieldError)
		} else if j, ok := v.ups.lookup(t.Upstream); ok {
			up = j
		} else {
			rep.add("upstream", fmt.Sprintf("no upstream with name or id %q", t.Upstream))
		}
		switch hp, err := parseHostPort(t.Target); {
		case t.Target == "":
			rep.add("target", requiredFieldError)
		case err != nil:
			rep.add("target", fmt.Sprintf("invalid target %q: %v", t.Target, err))
		case !hp.hasPort:
			rep.add("target", fmt.Sprintf("invalid target %q: want host:port", t.Target))
		case hp.port == 0:
			rep.add("target", fmt.Sprintf("invalid target %q: port must be 1..65535", t.Target))
		case up >= 0:
			key := [2]string{strconv.Itoa(up), strings.ToLower(hp.String())}
			if j, dup := seen[key]; dup {
				rep.add("target", fmt.Sprintf("duplicate target %q in %s (also %s)",
					t.Target, upstreamLabel(v.c.Upstreams[up]), v.c.origin(index("targets", j))))
			} else {
				seen[key] = i
			}
		}
		if t.Weight != nil {
			checkRange(rep, "weight", *t.Weight, 0, maxWeight)
		}
	}
}

func (v *validator) consumers() {
	customIDs := map[string]int{}
	// keys, users and jwtKeys map a credential's unique value to where it
	// was first declared.
	keys, users, jwtKeys := map[string]string{}, map[string]string{}, map[string]string{}
	for i := range v.c.Consumers {
		cs := &v.c.Consumers[i]
		rep := v.rep("consumers", i, consumerLabel(cs))
		common(rep, cs.ID, cs.Tags)
		if cs.Username == "" && cs.CustomID == "" {
			rep.add("", "must set at least one of username or custom_id")
		}
		if cs.CustomID != "" {
			if j, dup := customIDs[cs.CustomID]; dup {
				rep.add("custom_id", fmt.Sprintf("duplicate consumer custom_id %q (also %s)", cs.CustomID, v.c.origin(index("consumers", j))))
			} else {
				customIDs[cs.CustomID] = i
			}
		}
		if len(cs.Plugins) > 0 {
			rep.add("plugins", notNormalizedHint)
		}
		for j, k := range cs.KeyauthCredentials {
			field := index("keyauth_credentials", j)
			commonAt(rep, field, k.ID, k.Tags)
			switch {
			case k.Key == "":
				rep.add(field+".key", requiredFieldError)
			case keys[k.Key] != "":
				rep.add(field+".key", "duplicate key-auth key (also "+keys[k.Key]+")")
			default:
				keys[k.Key] = v.c.origin(index("consumers", i)) + "." + field
			}
			if k.TTL < 0 {
				rep.add(field+".ttl", "must be >= 0")
			}
		}
		for j, b := range cs.BasicauthCredentials {
			field := index("basicauth_credentials", j)
			commonAt(rep, field, b.ID, b.Tags)
			switch {
			case b.Username == "":
				rep.add(field+".username", requiredFieldError)
			case users[b.Username] != "":
				rep.add(field+".username", fmt.Sprintf("duplicate basic-auth username %q (also %s)", b.Username, users[b.Username]))
			default:
				users[b.Username] = v.c.origin(index("consumers", i)) + "." + field
			}
			if b.Password == "" {
				rep.add(field+".password", requiredFieldError)
			}
		}
		for j, s := range cs.JWTSecrets {
			field := index("jwt_secrets", j)
			commonAt(rep, field, s.ID, s.Tags)
			switch {
			case s.Key == "":
				rep.add(field+".key", requiredFieldError)
			case jwtKeys[s.Key] != "":
				rep.add(field+".key", fmt.Sprintf("duplicate jwt key %q (also %s)", s.Key, jwtKeys[s.Key]))
			default:
				jwtKeys[s.Key] = v.c.origin(index("consumers", i)) + "." + field
			}
			alg := s.Algorithm
			if alg == "" {
				alg = "HS256"
			}
			switch alg {
			case "HS256", "HS384", "HS512":
				if s.Secret == "" {
					rep.add(field+".secret", "required for algorithm "+alg)
				}
			case "RS256", "RS384", "RS512", "ES256", "ES384":
				if s.RSAPublicKey == "" {
					rep.add(field+".rsa_public_key", "required for algorithm "+alg)
				}
			default:
				rep.add(field+".algorithm", fmt.Sprintf("unsupported algorithm %q (expected one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384)", s.Algorithm))
			}
		}
		for j, a := range cs.ACLs {
			field := index("acls", j)
			commonAt(rep, field, a.ID, a.Tags)
			if a.Group == "" {
				rep.add(field+".group", requiredFieldError)
			}
		}
		for _, creds := range []struct {
			field string
			list  []json.RawMessage
		}{
			{"hmacauth_credentials", cs.HMACAuthCredentials},
			{"oauth2_credentials", cs.OAuth2Credentials},
		} {
			for j, m := range creds.list {
				if msg := objectProblem(m); msg != "" {
					rep.add(index(creds.field, j), msg)
				}
			}
		}
	}
}

func (v *validator) plugins() {
	type scope struct {
		name                     string
		service, route, consumer int
	}
	seen := map[scope]int{}
	instances := map[string]int{}
	for i := range v.c.Plugins {
		p := &v.c.Plugins[i]
		rep := v.rep("plugins", i, pluginLabel(p))
		common(rep, p.ID, p.Tags)
		if p.Name == "" {
			rep.add("name", requiredFieldError)
		}
		pluginRef(rep, p.Name)
		if p.InstanceName != "" {
			if err := checkName(p.InstanceName); err != nil {
				rep.add("instance_name", err.Error())
			} else if j, dup := instances[p.InstanceName]; dup {
				rep.add("instance_name", fmt.Sprintf("duplicate instance_name %q (also %s)", p.InstanceName, v.c.origin(index("plugins", j))))
			} else {
				instances[p.InstanceName] = i
			}
		}

		// Kong allows any combination of service, route and consumer.
		sc := scope{name: p.Name, service: -1, route: -1, consumer: -1}
		resolved := true
		resolve := func(field, kind, ref string, t table, dst *int) {
			if ref == "" {
				return
			}
			j, ok := t.lookup(ref)
			if !ok {
				rep.add(field, fmt.Sprintf("no %s with %s or id %q", kind, keyName(kind), ref))
				resolved = false
				return
			}
			*dst = j
		}
		resolve("service", "service", p.Service, v.svcs, &sc.service)
		resolve("route", "route", p.Route, v.rts, &sc.route)
		resolve("consumer", "consumer", p.Consumer, v.cons, &sc.consumer)
		if resolved && p.Name != "" {
			if j, dup := seen[sc]; dup {
				rep.add("", fmt.Sprintf("duplicate plugin %q on the same %s (also %s)", p.Name, scopeText(p), v.c.origin(index("plugins", j))))
			} else {
				seen[sc] = i
			}
		}

		for j, pr := range p.Protocols {
			if !slices.Contains(pluginProtocols, pr) {
				rep.add(index("protocols", j), fmt.Sprintf("invalid protocol %q (want %s)", pr, oneOf(pluginProtocols)))
			}
		}
		checkOneOf(rep, "fail_policy", p.FailPolicy, failPolicies)
		v.rawObjectField(rep, "config", p.Config)
		v.rawObjectField(rep, "ordering", p.Ordering)
		v.rawField(rep, "vm_config", p.VMConfig)
		checkPluginLimits(rep, p.Limits)
	}
}

func keyName(kind string) string {
	if kind == "consumer" {
		return "username"
	}
	return "name"
}

// scopeText describes where a plugin applies, for duplicate errors.
func scopeText(p *Plugin) string {
	var parts []string
	if p.Service != "" {
		parts = append(parts, fmt.Sprintf("service %q", p.Service))
	}
	if p.Route != "" {
		parts = append(parts, fmt.Sprintf("route %q", p.Route))
	}
	if p.Consumer != "" {
		parts = append(parts, fmt.Sprintf("consumer %q", p.Consumer))
	}
	if len(parts) == 0 {
		return "global scope"
	}
	return strings.Join(parts, " and ")
}

func (v *validator) certificates() {
	snis := map[string]string{} // lower-case name -> where declared
	for i := range v.c.Certificates {
		cert := &v.c.Certificates[i]
		rep := v.rep("certificates", i, certificateLabel(cert))
		common(rep, cert.ID, cert.Tags)
		if strings.TrimSpace(cert.Cert) == "" {
			rep.add("cert", requiredFieldError)
		}
		if strings.TrimSpace(cert.Key) == "" {
			rep.add("key", requiredFieldError)
		}
		if (cert.CertAlt == "") != (cert.KeyAlt == "") {
			rep.add("", "cert_alt and key_alt must be set together")
		}
		for j, s := range cert.SNIs {
			f := index("snis", j)
			if s.Name == "" {
				rep.add(f+".name", requiredFieldError)
				continue
			}
			if err := checkSNI(s.Name, true); err != nil {
				rep.add(f, fmt.Sprintf("invalid sni %q: %v", s.Name, err))
				continue
			}
			key := strings.ToLower(s.Name)
			if where, dup := snis[key]; dup {
				rep.add(f, fmt.Sprintf("duplicate sni %q (also %s)", s.Name, where))
			} else {
				snis[key] = v.c.origin(index("certificates", i)) + "." + f
			}
		}
	}
}

func (v *validator) weir() {
	w := &v.c.Weir
	for _, l := range []struct{ field, addr string }{
		{"weir.proxy_listen", w.ProxyListen},
		{"weir.admin_listen", w.AdminListen},
		{"weir.status_listen", w.StatusListen},
	} {
		if l.addr == "" {
			continue
		}
		if err := checkListen(l.addr); err != nil {
			v.errs.add(l.field, err.Error())
		}
	}
	for i, s := range w.TrustedIPs {
		if _, err := netip.ParsePrefix(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		v.errs.add(index("weir.trusted_ips", i), fmt.Sprintf("invalid trusted IP %q: want an IP address or CIDR", s))
	}
	if w.RequestIDHeader != "off" && !isToken(w.RequestIDHeader) {
		v.errs.add("weir.request_id_header", fmt.Sprintf("invalid header name %q (or \"off\" to disable)", w.RequestIDHeader))
	}
	if w.ShutdownTimeout < 1 || w.ShutdownTimeout > maxShutdownTime {
		v.errs.add("weir.shutdown_timeout", fmt.Sprintf("%d is out of range 1..%d (ms)", w.ShutdownTimeout, maxShutdownTime))
	}

	cp := &w.Compression
	if len(cp.Algorithms) == 0 {
		v.errs.add("weir.compression.algorithms", "must not be empty")
	}
	for i, a := range cp.Algorithms {
		f := index("weir.compression.algorithms", i)
		if !slices.Contains(compressionAlgos, strings.ToLower(a)) {
			v.errs.add(f, fmt.Sprintf("unsupported algorithm %q (want %s)", a, oneOf(compressionAlgos)))
		} else if slices.IndexFunc(cp.Algorithms[:i], func(b string) bool { return strings.EqualFold(a, b) }) >= 0 {
			v.errs.add(f, fmt.Sprintf("duplicate algorithm %q", a))
		}
	}
	if cp.MinLength > maxMinLength {
		v.errs.add("weir.compression.min_length", fmt.Sprintf("%d is too large (at most %d; negative disables the minimum)", cp.MinLength, maxMinLength))
	}
	if cp.GzipLevel < 1 || cp.GzipLevel > 9 {
		v.errs.add("weir.compression.gzip_level", fmt.Sprintf("%d is out of range 1..9", cp.GzipLevel))
	}
	if cp.ZstdLevel < 1 || cp.ZstdLevel > 4 {
		v.errs.add("weir.compression.zstd_level", fmt.Sprintf("%d is out of range 1..4 (fastest, default, better, best)", cp.ZstdLevel))
	}
	for i, ct := range cp.ContentTypes {
		if err := checkMediaPattern(ct); err != nil {
			v.errs.add(index("weir.compression.content_types", i), err.Error())
		}
	}
	v.observability()
}

// checkListen checks a listen address "host:port" (host may be empty).
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: want host:port", addr)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("invalid listen address %q: %v", addr, err)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if err := checkHostname(host); err != nil {
		return fmt.Errorf("invalid listen address %q: %v", addr, err)
	}
	return nil
}

// common checks the id and tags every entity has.
func common(rep *reporter, id string, tags []string) {
	if id != "" {
		if err := checkUUID(id); err != nil {
			rep.add("id", err.Error())
		}
	}
	for i, t := range tags {
		if err := checkTag(t); err != nil {
			rep.add(index("tags", i), err.Error())
		}
	}
}

// commonAt checks the id and tags of a nested entity at field.
func commonAt(rep *reporter, field, id string, tags []string) {
	if id != "" {
		if err := checkUUID(id); err != nil {
			rep.add(field+".id", err.Error())
		}
	}
	for i, t := range tags {
		if err := checkTag(t); err != nil {
			rep.add(field+"."+index("tags", i), err.Error())
		}
	}
}

// checkOneOf reports value unless it is one of allowed.
func checkOneOf(rep *reporter, field, value string, allowed []string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	if value == "" {
		rep.add(field, requiredFieldError)
	} else {
		rep.add(field, fmt.Sprintf("invalid value %q (want %s)", value, oneOf(allowed)))
	}
	return false
}

// oneOf formats a list of choices: "a, b or c".
func oneOf(choices []string) string {
	var q []string
	for _, c := range choices {
		if c != "" {
			q = append(q, c)
		}
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func checkRange(rep *reporter, field string, n, lo, hi int) {
	if n < lo || n > hi {
		rep.add(field, fmt.Sprintf("%d is out of range %d..%d", n, lo, hi))
	}
}

func checkHeaderName(rep *reporter, field, name string) {
	if name != "" && !isToken(name) {
		rep.add(field, fmt.Sprintf("invalid header name %q", name))
	}
}

func sortedHeaderNames(h map[string][]string) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// raw checks that a top-level opaque value holds valid JSON.
func (v *validator) raw(field string, m json.RawMessage) {
	if len(m) > 0 && !json.Valid(m) {
		v.errs.add(field, "invalid JSON")
	}
}

// rawObject checks that a top-level opaque value is a JSON object.
func (v *validator) rawObject(field string, m json.RawMessage) {
	if msg := objectProblem(m); msg != "" {
		v.errs.add(field, msg)
	}
}

func (v *validator) rawField(rep *reporter, field string, m json.RawMessage) {
	if len(m) > 0 && !json.Valid(m) {
		rep.add(field, "invalid JSON")
	}
}

// rawObjectField checks that an opaque field is absent, null or a JSON
// object.
func (v *validator) rawObjectField(rep *reporter, field string, m json.RawMessage) {
	if len(m) == 0 || isJSONNull(m) {
		return
	}
	if msg := objectProblem(m); msg != "" {
		rep.add(field, msg)
	}
}

// objectProblem says why m is not a JSON object, or returns "".
func objectProblem(m json.RawMessage) string {
	if !json.Valid(m) {
		return "invalid JSON"
	}
	t := bytes.TrimSpace(m)
	if len(t) == 0 || t[0] != '{' {
		var x any
		_ = json.Unmarshal(t, &x)
		return "expected object, got " + jsonKind(x)
	}
	return ""
}

func isJSONNull(m json.RawMessage) bool {
	return string(bytes.TrimSpace(m)) == "null"
}
