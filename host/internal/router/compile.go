package router

import (
	"cmp"
	"fmt"
	"net/netip"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// CompileError is the error Compile returns: it names the route (index and
// name) and the field at fault.
type CompileError struct {
	Index int    // index of the route in the []Route given to Compile
	Name  string // Route.Name, possibly empty
	Field string // e.g. `paths[1]`, `hosts[0]`, `headers["X-Foo"][2]`
	Err   error
}

// Error formats as `route "api" (#3): paths[1]: invalid regex ...`.
func (e *CompileError) Error() string {
	who := fmt.Sprintf("route #%d", e.Index)
	if e.Name != "" {
		who = fmt.Sprintf("route %q (#%d)", e.Name, e.Index)
	}
	return who + ": " + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *CompileError) Unwrap() error { return e.Err }

type hostKind uint8

const (
	hostExact  hostKind = iota
	hostSuffix          // "*.example.com", key ".example.com"
	hostPrefix          // "example.*", key "example."
	hostless            // the bucket of routes without hosts (no key)
)

// hostRule is a parsed route host.
type hostRule struct {
	kind hostKind
	key  string // lowercase
	port int    // -1: any port
}

// pathRule is a parsed route path.
type pathRule struct {
	key  string // trie key
	mode pathMode
	re   *pathRegex // modeRegex
}

// group is one priority group of a route.
type group struct {
	prio  prio
	rules []pathRule // empty: route without paths
	entry entry
	rank  int    // once ranked
	e     *entry // the table's copy of entry, once ranked
}

// prio is the sort key of a group; see the package documentation.
type prio struct {
	weight    int  // number of non-empty fields among hosts, paths, methods, headers, snis
	plainHost bool // has hosts, none wildcard
	headers   int  // number of header names
	regex     bool // regex group
	regexPrio int  // RegexPriority, regex groups only
	length    int  // path length as written, non-regex groups only
	kind      int  // Exact 2, Prefix 1, Kong/no paths 0; non-regex groups only
	route     int  // declaration order
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compare orders higher priority first.
func (a prio) compare(b prio) int {
	return cmp.Or(
		cmp.Compare(b.weight, a.weight),
		cmp.Compare(b2i(b.plainHost), b2i(a.plainHost)),
		cmp.Compare(b.headers, a.headers),
		cmp.Compare(b2i(b.regex), b2i(a.regex)),
		cmp.Compare(b.regexPrio, a.regexPrio),
		cmp.Compare(b.length, a.length),
		cmp.Compare(b.kind, a.kind),
		cmp.Compare(a.route, b.route),
	)
}

// binding is one host bucket a route is reachable through.
type binding struct {
	kind    hostKind
	key     string
	anyPort bool
	ports   []int
}

// compiledRoute is a validated route.
type compiledRoute struct {
	bindings []binding // empty: host-less
	groups   []group
}

// rankGap is the distance between consecutive ranks Compile assigns:
// room for about 30 successive Updates that insert groups at the same
// place before one has to recompile (about 14 with 32-bit ints).
const rankGap = 1 << (strconv.IntSize/2 - 2)

// ranked is one route group in the table's priority order.
type ranked struct {
	prio prio
	rank int
	e    *entry
}

// routeInfo is what a table remembers of one route: where it is indexed.
type routeInfo struct {
	bindings []binding // empty: host-less
	one      bool      // Route.WildcardOneLabel
}

// Compile validates routes and builds the table. The error is a
// *CompileError naming the first offending route and field.
func Compile(routes []Route) (*Table, error) {
	t := &Table{n: len(routes), routes: make([]routeInfo, len(routes))}
	compiled := make([]compiledRoute, len(routes))
	ngroups := 0
	for i := range routes {
		cr, err := compileRoute(i, &routes[i])
		if err != nil {
			return nil, err
		}
		compiled[i] = cr
		t.routes[i] = routeInfo{bindings: cr.bindings, one: routes[i].WildcardOneLabel}
		ngroups += len(cr.groups)
	}

	// Rank all groups.
	type ref struct {
		prio         prio
		route, group int
	}
	order := make([]ref, 0, ngroups)
	for i := range compiled {
		for g := range compiled[i].groups {
			order = append(order, ref{compiled[i].groups[g].prio, i, g})
		}
	}
	slices.SortFunc(order, func(a, b ref) int { return a.prio.compare(b.prio) })
	entries := make([]entry, len(order))
	t.order = make([]ranked, len(order))
	for r, o := range order {
		entries[r] = compiled[o.route].groups[o.group].entry
		t.order[r] = ranked{prio: o.prio, rank: (r + 1) * rankGap, e: &entries[r]}
		compiled[o.route].groups[o.group].rank = (r + 1) * rankGap
		compiled[o.route].groups[o.group].e = &entries[r]
	}

	// Index by host, then by path.
	var buckets []*bucket
	for i := range compiled {
		cr := &compiled[i]
		for b := range t.bucketsOf(t.routes[i], true, &buckets) {
			cr.index(b.b, b.ports)
		}
	}
	for _, b := range buckets {
		b.root.finish()
	}
	return t, nil
}

// index adds the path rules of cr's groups (ranked) to b.
func (cr *compiledRoute) index(b *bucket, ports []int) {
	for g := range cr.groups {
		gr := &cr.groups[g]
		if len(gr.rules) == 0 {
			b.root.insert("", hit{rank: gr.rank, e: gr.e, mode: modeAny, ports: ports})
			continue
		}
		for _, pr := range gr.rules {
			b.root.insert(pr.key, hit{rank: gr.rank, e: gr.e, mode: pr.mode, ports: ports, rx: pr.re})
		}
	}
}

// boundBucket is one bucket a route is indexed in, with the ports its
// hits there carry.
type boundBucket struct {
	b     *bucket
	ports []int
	kind  hostKind
	key   string
}

// bucketsOf yields the buckets ri is indexed in. With create, missing
// buckets are created (and appended to *created); without, they are
// skipped.
func (t *Table) bucketsOf(ri routeInfo, create bool, created *[]*bucket) func(func(boundBucket) bool) {
	return func(yield func(boundBucket) bool) {
		if len(ri.bindings) == 0 {
			if t.hostless == nil {
				if !create {
					return
				}
				t.hostless = new(bucket)
				*created = append(*created, t.hostless)
			}
			yield(boundBucket{b: t.hostless, kind: hostless})
			return
		}
		for _, bd := range ri.bindings {
			ports := bd.ports
			if bd.anyPort {
				ports = nil
			}
			var b *bucket
			if bd.kind == hostExact {
				if t.exact == nil {
					t.exact = make(map[string]*bucket)
				}
				if b = t.exact[bd.key]; b == nil {
					if !create {
						continue
					}
					b = new(bucket)
					t.exact[bd.key] = b
					*created = append(*created, b)
				}
			} else {
				x := t.wildIndex(bd.kind, ri.one)
				if !create {
					if b = x.m[bd.key]; b == nil {
						continue
					}
				} else {
					var isNew bool
					if b, isNew = x.bucket(bd.key); isNew {
						*created = append(*created, b)
					}
				}
			}
			if !yield(boundBucket{b: b, ports: ports, kind: bd.kind, key: bd.key}) {
				return
			}
		}
	}
}

// wildIndex is the index of wildcard hosts of kind for a route with
// WildcardOneLabel one.
func (t *Table) wildIndex(kind hostKind, one bool) *hostIndex {
	switch {
	case kind == hostSuffix && one:
		return &t.suffixOne
	case kind == hostSuffix:
		return &t.suffixAny
	case one:
		return &t.prefixOne
	}
	return &t.prefixAny
}

func compileRoute(i int, r *Route) (compiledRoute, error) {
	var cr compiledRoute
	fail := func(field string, err error) (compiledRoute, error) {
		return compiledRoute{}, &CompileError{Index: i, Name: r.Name, Field: field, Err: err}
	}

	plain := len(r.Hosts) > 0
	for j, h := range r.Hosts {
		hr, err := parseRouteHost(h)
		if err != nil {
			return fail(fmt.Sprintf("hosts[%d]", j), err)
		}
		if hr.kind != hostExact {
			plain = false
		}
		k := slices.IndexFunc(cr.bindings, func(b binding) bool { return b.kind == hr.kind && b.key == hr.key })
		if k < 0 {
			cr.bindings = append(cr.bindings, binding{kind: hr.kind, key: hr.key})
			k = len(cr.bindings) - 1
		}
		b := &cr.bindings[k]
		if hr.port < 0 {
			b.anyPort = true
		} else if !slices.Contains(b.ports, hr.port) {
			b.ports = append(b.ports, hr.port)
		}
	}

	var methods []string
	for j, m := range r.Methods {
		if err := validateMethod(m); err != nil {
			return fail(fmt.Sprintf("methods[%d]", j), err)
		}
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}

	var snis []string
	for j, s := range r.SNIs {
		name, err := parseSNI(s)
		if err != nil {
			return fail(fmt.Sprintf("snis[%d]", j), err)
		}
		if !slices.Contains(snis, name) {
			snis = append(snis, name)
		}
	}

	var headers []headerCond
	names := make([]string, 0, len(r.Headers))
	for name := range r.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := fmt.Sprintf("headers[%q]", name)
		if !validToken(name) {
			return fail(field, fmt.Errorf("invalid header name %q", name))
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if canon == "Host" {
			return fail(field, fmt.Errorf("cannot match the Host header here: use hosts"))
		}
		if slices.ContainsFunc(headers, func(c headerCond) bool { return c.name == canon }) {
			return fail(field, fmt.Errorf("duplicate header name %q", canon))
		}
		values := r.Headers[name]
		if len(values) == 0 {
			return fail(field, fmt.Errorf("no values"))
		}
		c := headerCond{name: canon}
		for j, v := range values {
			if rest, ok := strings.CutPrefix(v, "~*"); ok {
				re, err := regexp.Compile("(?i)" + rest)
				if err != nil {
					if _, rawErr := regexp.Compile(rest); rawErr != nil {
						err = rawErr
					}
					return fail(fmt.Sprintf("%s[%d]", field, j), fmt.Errorf("invalid regex %q: %w", v, err))
				}
				c.res = append(c.res, re)
				continue
			}
			lv := asciiLower(v)
			if !slices.Contains(c.exact, lv) {
				c.exact = append(c.exact, lv)
			}
		}
		headers = append(headers, c)
	}

	if r.PathKind > PathPrefix {
		return fail("path_kind", fmt.Errorf("unknown path kind %d", r.PathKind))
	}
	var regexRules []pathRule
	var regexes []*pathRegex
	// Plain rules by length as written: lengths[k] has plainRules[k].
	// (Slices, not maps, and the field name only on error: this runs for
	// every route of every load, 20,000 of them for 10,000 Ingresses.)
	var plainRules [][]pathRule
	var lengths []int
	for j, p := range r.Paths {
		field := "paths[" + strconv.Itoa(j) + "]"
		if p == "" {
			return fail(field, fmt.Errorf("empty path"))
		}
		if slices.Contains(r.Paths[:j], p) {
			continue
		}
		var pr pathRule
		switch {
		case r.PathKind == PathKong && p[0] == '~':
			re, err := compilePathRegex(p)
			if err != nil {
				return fail(field, fmt.Errorf("invalid regex %q: %w", p, err))
			}
			for _, prefix := range re.prefixes {
				regexRules = append(regexRules, pathRule{key: prefix, mode: modeRegex, re: re})
			}
			regexes = append(regexes, re)
			continue
		case p[0] != '/':
			if r.PathKind == PathKong {
				return fail(field, fmt.Errorf("path %q must start with \"/\" or \"~\"", p))
			}
			return fail(field, fmt.Errorf("path %q must start with \"/\"", p))
		case r.PathKind == PathKong:
			pr = pathRule{key: p, mode: modeAny}
		case r.PathKind == PathExact:
			pr = pathRule{key: p, mode: modeExact}
		default: // PathPrefix
			key := strings.TrimRight(p, "/")
			mode := modePrefix
			if key == "" {
				mode = modeAny
			}
			pr = pathRule{key: key, mode: mode}
		}
		k := slices.Index(lengths, len(p))
		if k < 0 {
			k = len(lengths)
			lengths, plainRules = append(lengths, len(p)), append(plainRules, nil)
		}
		plainRules[k] = append(plainRules[k], pr)
	}

	base := prio{
		weight:    b2i(len(r.Hosts) > 0) + b2i(len(r.Paths) > 0) + b2i(len(methods) > 0) + b2i(len(headers) > 0) + b2i(len(snis) > 0),
		plainHost: plain,
		headers:   len(headers),
		route:     i,
	}
	mkEntry := func(res []*pathRegex) entry {
		return entry{route: i, methods: methods, snis: snis, headers: headers, regexes: res}
	}
	if len(regexRules) > 0 {
		p := base
		p.regex = true
		p.regexPrio = r.RegexPriority
		cr.groups = append(cr.groups, group{prio: p, rules: regexRules, entry: mkEntry(regexes)})
	}
	for k, l := range lengths {
		p := base
		p.length = l
		switch r.PathKind {
		case PathExact:
			p.kind = 2
		case PathPrefix:
			p.kind = 1
		}
		cr.groups = append(cr.groups, group{prio: p, rules: plainRules[k], entry: mkEntry(nil)})
	}
	if len(r.Paths) == 0 {
		cr.groups = append(cr.groups, group{prio: base, entry: mkEntry(nil)})
	}
	return cr, nil
}

// parseRouteHost parses and validates a route host.
func parseRouteHost(h string) (hostRule, error) {
	if h == "" {
		return hostRule{}, fmt.Errorf("empty host")
	}
	name, portStr, hasPort := h, "", false
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return hostRule{}, fmt.Errorf("invalid host %q: missing ']'", h)
		}
		name = h[:end+1]
		if rest := h[end+1:]; rest != "" {
			if rest[0] != ':' {
				return hostRule{}, fmt.Errorf("invalid host %q", h)
			}
			portStr, hasPort = rest[1:], true
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		name, portStr, hasPort = h[:i], h[i+1:], true
	}
	rule := hostRule{port: -1}
	if hasPort {
		p, ok := parsePort(portStr)
		if !ok || p == 0 {
			return hostRule{}, fmt.Errorf("invalid port %q in host %q", portStr, h)
		}
		rule.port = p
	}
	if name == "" {
		return hostRule{}, fmt.Errorf("invalid host %q: empty name", h)
	}
	name = asciiLower(name)
	if name[0] == '[' {
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return hostRule{}, fmt.Errorf("invalid IPv6 address in host %q", h)
		}
		rule.key = name
		return rule, nil
	}
	switch strings.Count(name, "*") {
	case 0:
		rule.kind, rule.key = hostExact, name
		if err := validateDNSName(name); err != nil {
			return hostRule{}, fmt.Errorf("invalid host %q: %w", h, err)
		}
	case 1:
		switch {
		case strings.HasPrefix(name, "*."):
			rule.kind, rule.key = hostSuffix, name[1:]
			if err := validateDNSName(name[2:]); err != nil {
				return hostRule{}, fmt.Errorf("invalid host %q: %w", h, err)
			}
		case strings.HasSuffix(name, ".*"):
			rule.kind, rule.key = hostPrefix, name[:len(name)-1]
			if err := validateDNSName(name[:len(name)-2]); err != nil {
				return hostRule{}, fmt.Errorf("invalid host %q: %w", h, err)
			}
		default:
			return hostRule{}, fmt.Errorf("invalid host %q: the wildcard must be the whole leftmost or rightmost label", h)
		}
	default:
		return hostRule{}, fmt.Errorf("invalid host %q: only one wildcard is allowed", h)
	}
	return rule, nil
}

// validateDNSName checks a lowercase host name: dot-separated non-empty
// labels of at most 63 characters from [a-z0-9_-], at most 253 in total.
func validateDNSName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return fmt.Errorf("empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q longer than 63 characters", label)
		}
		for k := 0; k < len(label); k++ {
			c := label[k]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return nil
}

// parseSNI validates and normalizes a route SNI (lowercase, no trailing dot).
func parseSNI(s string) (string, error) {
	name := asciiLower(strings.TrimSuffix(s, "."))
	if err := validateDNSName(name); err != nil {
		return "", fmt.Errorf("invalid SNI %q: %w", s, err)
	}
	return name, nil
}

func validateMethod(m string) error {
	if !validToken(m) {
		return fmt.Errorf("invalid method %q", m)
	}
	if strings.ToUpper(m) != m {
		return fmt.Errorf("method %q must be uppercase", m)
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// asciiLower lowercases ASCII letters only (like Kong's string.lower), so
// that no non-ASCII character folds into an ASCII one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}
