package router

import (
	"bytes"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// PathKind selects how a route's paths are interpreted.
type PathKind uint8

const (
	// PathKong is Kong 3.x: plain paths are string prefixes ("/foo" matches
	// "/foobar"); a path starting with "~" is a Go RE2 regex anchored at the
	// start of the path.
	PathKong PathKind = iota
	// PathExact is Kubernetes Ingress pathType Exact: byte equality.
	PathExact
	// PathPrefix is Kubernetes Ingress pathType Prefix: element-wise on "/"
	// ("/foo" matches "/foo", "/foo/", "/foo/bar", not "/foobar"; a trailing
	// slash in the rule is ignored).
	PathPrefix
)

// String returns the name of the kind.
func (k PathKind) String() string {
	switch k {
	case PathKong:
		return "kong"
	case PathExact:
		return "exact"
	case PathPrefix:
		return "prefix"
	}
	return "PathKind(" + strconv.Itoa(int(k)) + ")"
}

// Route is one route to compile. Every non-empty field must match; see the
// package documentation for the exact semantics and the priority order.
type Route struct {
	// Name is used in error messages only.
	Name string
	// Hosts: "example.com", "example.com:8000" (the port must match too),
	// "*.example.com" (leading wildcard), "example.*" (trailing wildcard),
	// "[::1]". Empty matches any host.
	Hosts []string
	// Paths are interpreted according to PathKind. Empty matches any path.
	Paths    []string
	PathKind PathKind
	// Methods are uppercase; empty matches any method.
	Methods []string
	// Headers maps a header name to the accepted values (any one). Values
	// are compared case-insensitively; a value starting with "~*" is a
	// case-insensitive, unanchored regex.
	Headers map[string][]string
	// SNIs: when set, the request must carry one of these TLS server names.
	SNIs []string
	// RegexPriority orders routes with regex paths (higher first).
	RegexPriority int
	// WildcardOneLabel selects Ingress semantics for wildcard hosts:
	// "*.example.com" matches exactly one extra DNS label. When false Kong's
	// semantics apply: any number of labels.
	WildcardOneLabel bool
}

// Request is what the router looks at.
type Request struct {
	// Host as received (may carry ":port").
	Host string
	// Path is the raw path, without the query.
	Path string
	// Method is the request method.
	Method string
	// SNI is the TLS server name; empty for plain HTTP or no SNI.
	SNI string
	// Header holds the request headers with canonical keys (as net/http
	// produces them).
	Header http.Header
}

// Match is the result of [Table.Match].
type Match struct {
	// Route is the index into the []Route given to Compile.
	Route int
	// StripLen is the number of leading bytes of Request.Path consumed by
	// the matching path rule (0 when the route has no paths).
	StripLen int
}

// Table is a compiled, immutable route table. It is safe for concurrent use.
type Table struct {
	n int
	// order holds every route group in priority order with its rank.
	// Ranks are sparse (Compile spaces them rankGap apart) so that
	// [Table.Update] can give a changed route's groups ranks between
	// those of unchanged groups without renumbering the others.
	order  []ranked
	routes []routeInfo // per route: what Update needs to find its buckets

	exact     map[string]*bucket // lowercase host
	suffixAny hostIndex          // "*.example.com" as ".example.com", any depth
	suffixOne hostIndex          // same, exactly one label
	prefixAny hostIndex          // "example.*" as "example.", any depth
	prefixOne hostIndex          // same, exactly one label
	hostless  *bucket            // routes without hosts
}

// entry is one priority group of one route.
type entry struct {
	route   int
	methods []string
	snis    []string // lowercase, no trailing dot
	headers []headerCond
	regexes []*pathRegex // regex group: all regex paths, declaration order
}

type headerCond struct {
	name  string   // canonical
	exact []string // lowercase
	res   []*regexp.Regexp
}

// bucket holds the route groups reachable through one host key.
type bucket struct {
	root pnode
}

// pathMode says how a trie hit checks the request path at its node.
type pathMode uint8

const (
	modeAny    pathMode = iota // node reached: match (plain prefix, no paths, Prefix "/")
	modePrefix                 // Ingress Prefix: end of path or "/" follows
	modeExact                  // end of path
	modeRegex                  // run the regex on the whole path
)

// hit is one path rule of one route group, stored at a trie node.
type hit struct {
	rank  int    // the group's rank: lower wins
	e     *entry // the group
	mode  pathMode
	ports []int      // nil: any port
	rx    *pathRegex // modeRegex
}

// search is the best match found so far.
type search struct {
	rank  int
	e     *entry
	depth int
	mode  pathMode
}

const noRank = int(^uint(0) >> 1)

// maxHostLen is the longest host name (without port) that can match a
// host-indexed route; Compile rejects longer hosts.
const maxHostLen = 255

// Len returns the number of routes the table was compiled from.
func (t *Table) Len() int { return t.n }

// Match returns the highest-priority route matching req, or false when no
// route matches. It does not allocate, with one exception: a regex path
// evaluated on a path so long that len(path) × program size exceeds 2^20
// falls back to package regexp, which allocates 16 bytes when it matches.
func (t *Table) Match(req *Request) (Match, bool) {
	s := search{rank: noRank}
	host, port := splitHostPort(req.Host)

	if len(host) <= maxHostLen && t.hasHostRoutes() {
		var buf [maxHostLen]byte
		n := copy(buf[:], host)
		for i := range n {
			if c := buf[i]; 'A' <= c && c <= 'Z' {
				buf[i] = c + ('a' - 'A')
			}
		}
		h := buf[:n]
		if b := t.exact[string(h)]; b != nil {
			t.searchBucket(b, req, port, &s)
		}
		// Wildcard indexes: a map lookup only for key lengths that exist.
		if t.suffixOne.n > 0 {
			// Exactly one non-empty label before the suffix.
			if i := bytes.IndexByte(h, '.'); i > 0 && t.suffixOne.hasLen(n-i) {
				if b := t.suffixOne.m[string(h[i:])]; b != nil {
					t.searchBucket(b, req, port, &s)
				}
			}
		}
		if t.suffixAny.n > 0 {
			for i := 1; i < n; i++ {
				if h[i] == '.' && t.suffixAny.hasLen(n-i) {
					if b := t.suffixAny.m[string(h[i:])]; b != nil {
						t.searchBucket(b, req, port, &s)
					}
				}
			}
		}
		if t.prefixOne.n > 0 {
			// Exactly one non-empty label after the prefix.
			if i := bytes.LastIndexByte(h, '.'); i >= 0 && i < n-1 && t.prefixOne.hasLen(i+1) {
				if b := t.prefixOne.m[string(h[:i+1])]; b != nil {
					t.searchBucket(b, req, port, &s)
				}
			}
		}
		if t.prefixAny.n > 0 {
			for i := 0; i < n-1; i++ {
				if h[i] == '.' && t.prefixAny.hasLen(i+1) {
					if b := t.prefixAny.m[string(h[:i+1])]; b != nil {
						t.searchBucket(b, req, port, &s)
					}
				}
			}
		}
	}
	if t.hostless != nil {
		t.searchBucket(t.hostless, req, port, &s)
	}
	if s.rank == noRank {
		return Match{}, false
	}
	e := s.e
	m := Match{Route: e.route, StripLen: s.depth}
	if s.mode == modeRegex && len(e.regexes) > 1 {
		// StripLen comes from the group's first matching regex.
		for _, r := range e.regexes {
			if end := r.end(req.Path); end >= 0 {
				m.StripLen = end
				break
			}
		}
	}
	return m, true
}

func (t *Table) hasHostRoutes() bool {
	return len(t.exact) > 0 || t.suffixAny.n > 0 || t.suffixOne.n > 0 ||
		t.prefixAny.n > 0 || t.prefixOne.n > 0
}

// hostIndex maps wildcard keys to buckets and remembers which key lengths
// exist, so that Match hashes only plausible candidates.
type hostIndex struct {
	m    map[string]*bucket
	n    int
	lens [(maxHostLen + 64) / 64]uint64
}

func (x *hostIndex) hasLen(l int) bool {
	return l <= maxHostLen && x.lens[l/64]&(1<<(l%64)) != 0
}

func (x *hostIndex) bucket(key string) (b *bucket, created bool) {
	if x.m == nil {
		x.m = make(map[string]*bucket)
	}
	if b = x.m[key]; b == nil {
		b, created = new(bucket), true
		x.m[key] = b
		x.n++
		x.lens[len(key)/64] |= 1 << (len(key) % 64)
	}
	return b, created
}

// searchBucket walks req.Path through b's trie and records in s the best
// matching hit that beats s.
func (t *Table) searchBucket(b *bucket, req *Request, port int, s *search) {
	path := req.Path
	n := &b.root
	depth := 0
	for {
		if n.minRank > s.rank {
			return // nothing below can beat s
		}
		if len(n.hits) > 0 && n.hits[0].rank <= s.rank {
			t.scanHits(n.hits, depth, req, port, s)
		}
		if depth >= len(path) {
			return
		}
		i := strings.IndexByte(n.keys, path[depth])
		if i < 0 {
			return
		}
		c := n.children[i]
		if !strings.HasPrefix(path[depth:], c.label) {
			return
		}
		depth += len(c.label)
		n = c
	}
}

// scanHits checks the hits of one trie node (sorted by rank) at depth.
func (t *Table) scanHits(hits []hit, depth int, req *Request, port int, s *search) {
	path := req.Path
	for i := range hits {
		h := &hits[i]
		if h.rank > s.rank || h.rank == s.rank && (h.mode == modeRegex || depth <= s.depth) {
			// Cannot beat s. Equal rank (same group) only wins by consuming
			// more of the path: Prefix rules "/a//" and "/a/b" share a group
			// and both match "/a/b".
			return
		}
		switch h.mode {
		case modePrefix:
			if depth != len(path) && path[depth] != '/' {
				continue
			}
		case modeExact:
			if depth != len(path) {
				continue
			}
		}
		if h.ports != nil && !containsInt(h.ports, port) {
			continue
		}
		if !h.e.matchConds(req) {
			continue
		}
		if h.mode == modeRegex {
			end := h.rx.end(path)
			if end < 0 {
				continue
			}
			s.rank, s.e, s.depth, s.mode = h.rank, h.e, end, h.mode
			return
		}
		s.rank, s.e, s.depth, s.mode = h.rank, h.e, depth, h.mode
		return
	}
}

// matchConds checks the method, SNI and header conditions of e.
func (e *entry) matchConds(req *Request) bool {
	if len(e.methods) > 0 && !containsString(e.methods, req.Method) {
		return false
	}
	if len(e.snis) > 0 {
		sni := req.SNI
		if len(sni) > 1 && sni[len(sni)-1] == '.' {
			sni = sni[:len(sni)-1]
		}
		if sni == "" {
			return false
		}
		ok := false
		for _, want := range e.snis {
			if equalFoldASCII(want, sni) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range e.headers {
		if !e.headers[i].match(req.Header) {
			return false
		}
	}
	return true
}

func (c *headerCond) match(h http.Header) bool {
	for _, v := range h[c.name] {
		for _, want := range c.exact {
			if equalFoldASCII(want, v) {
				return true
			}
		}
		for _, re := range c.res {
			if re.MatchString(v) {
				return true
			}
		}
	}
	return false
}

// splitHostPort splits a Host header into host and port. port is -1 when
// there is no (valid) port; a malformed port leaves the whole value as host,
// which then matches no host rule.
func splitHostPort(hostport string) (host string, port int) {
	if hostport == "" {
		return "", -1
	}
	if hostport[0] == '[' {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return hostport, -1
		}
		host, rest := hostport[:end+1], hostport[end+1:]
		if rest == "" || rest == ":" {
			return host, -1
		}
		if rest[0] != ':' {
			return hostport, -1
		}
		if p, ok := parsePort(rest[1:]); ok {
			return host, p
		}
		return hostport, -1
	}
	i := strings.IndexByte(hostport, ':')
	if i < 0 {
		return hostport, -1
	}
	if i == len(hostport)-1 {
		return hostport[:i], -1
	}
	if p, ok := parsePort(hostport[i+1:]); ok {
		return hostport[:i], p
	}
	return hostport, -1
}

// parsePort parses a decimal port in 0..65535 (leading zeros allowed).
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	p := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		p = p*10 + int(c-'0')
	}
	if p > 65535 {
		return 0, false
	}
	return p, true
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether lower (already lowercase) equals s under
// ASCII case folding.
func equalFoldASCII(lower, s string) bool {
	if len(lower) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
