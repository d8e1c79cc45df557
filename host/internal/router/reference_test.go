package router

import (
	"regexp"
	"sort"
	"strings"
)

// This file holds a deliberately slow reference router used by the
// differential tests. It shares no code with the package: it re-parses every
// route on every call, scans every (route, path group) in Kong's priority
// order and checks each field with plain string operations.

type refGroup struct {
	route int
	// Kong traditional_compatible priority fields, most significant first.
	weight, plainHost, headerCount, regexBit, regexPriority, maxLength, kindRank int
	paths                                                                        []string
}

func refMatch(routes []Route, req *Request) (Match, bool) {
	var groups []refGroup
	for i, r := range routes {
		base := refGroup{route: i}
		count := func(n int) int {
			if n > 0 {
				return 1
			}
			return 0
		}
		base.weight = count(len(r.Hosts)) + count(len(r.Paths)) + count(len(r.Methods)) + count(len(r.Headers)) + count(len(r.SNIs))
		if len(r.Hosts) > 0 {
			base.plainHost = 1
			for _, h := range r.Hosts {
				if strings.Contains(h, "*") {
					base.plainHost = 0
				}
			}
		}
		base.headerCount = len(r.Headers)
		if len(r.Paths) == 0 {
			groups = append(groups, base)
			continue
		}
		// Kong splits a route into one group of regex paths and one group
		// per distinct length of the other paths.
		var regexPaths []string
		byLen := map[int][]string{}
		for _, p := range r.Paths {
			if r.PathKind == PathKong && strings.HasPrefix(p, "~") {
				regexPaths = append(regexPaths, p)
			} else {
				byLen[len(p)] = append(byLen[len(p)], p)
			}
		}
		if len(regexPaths) > 0 {
			g := base
			g.regexBit = 1
			g.regexPriority = r.RegexPriority
			g.paths = regexPaths
			groups = append(groups, g)
		}
		for l, ps := range byLen {
			g := base
			g.maxLength = l
			g.kindRank = map[PathKind]int{PathKong: 0, PathPrefix: 1, PathExact: 2}[r.PathKind]
			g.paths = ps
			groups = append(groups, g)
		}
	}
	key := func(g refGroup) []int {
		return []int{g.weight, g.plainHost, g.headerCount, g.regexBit, g.regexPriority, g.maxLength, g.kindRank, -g.route}
	}
	sort.SliceStable(groups, func(a, b int) bool {
		ka, kb := key(groups[a]), key(groups[b])
		for i := range ka {
			if ka[i] != kb[i] {
				return ka[i] > kb[i]
			}
		}
		return false
	})
	for _, g := range groups {
		r := routes[g.route]
		if !refHosts(r, req.Host) || !refMethods(r, req.Method) || !refSNIs(r, req.SNI) || !refHeaders(r, req) {
			continue
		}
		if len(r.Paths) == 0 {
			return Match{Route: g.route}, true
		}
		// Regex group: the first matching regex. Other groups: the rule
		// consuming the most bytes (only Prefix rules of one group overlap).
		best, found := -1, false
		for _, p := range g.paths {
			if n, ok := refPath(r.PathKind, p, req.Path); ok {
				if g.regexBit == 1 {
					return Match{Route: g.route, StripLen: n}, true
				}
				if n > best {
					best, found = n, true
				}
			}
		}
		if found {
			return Match{Route: g.route, StripLen: best}, true
		}
	}
	return Match{}, false
}

func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func refIsPort(s string) bool {
	if len(s) < 1 || len(s) > 5 {
		return false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func refPortValue(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// refSplit splits host[:port]; port is "" when absent or invalid (then the
// whole string is the host).
func refSplit(hp string) (string, string) {
	cut := strings.LastIndex(hp, ":")
	if strings.HasPrefix(hp, "[") {
		if cut < strings.Index(hp, "]") {
			return hp, ""
		}
	} else if strings.Count(hp, ":") > 1 {
		return hp, ""
	}
	if cut < 0 {
		return hp, ""
	}
	if cut == len(hp)-1 {
		return hp[:cut], ""
	}
	if refIsPort(hp[cut+1:]) {
		return hp[:cut], hp[cut+1:]
	}
	return hp, ""
}

func refHosts(r Route, reqHost string) bool {
	if len(r.Hosts) == 0 {
		return true
	}
	host, port := refSplit(reqHost)
	host = refLower(host)
	for _, h := range r.Hosts {
		name, rport := refSplit(h)
		name = refLower(name)
		if rport != "" && (port == "" || refPortValue(rport) != refPortValue(port)) {
			continue
		}
		switch {
		case strings.HasPrefix(name, "*"):
			suffix := name[1:]
			if !strings.HasSuffix(host, suffix) {
				continue
			}
			left := strings.TrimSuffix(host, suffix)
			if left == "" || (r.WildcardOneLabel && strings.Contains(left, ".")) {
				continue
			}
			return true
		case strings.HasSuffix(name, "*"):
			prefix := name[:len(name)-1]
			if !strings.HasPrefix(host, prefix) {
				continue
			}
			right := strings.TrimPrefix(host, prefix)
			if right == "" || (r.WildcardOneLabel && strings.Contains(right, ".")) {
				continue
			}
			return true
		default:
			if name == host {
				return true
			}
		}
	}
	return false
}

func refMethods(r Route, m string) bool {
	if len(r.Methods) == 0 {
		return true
	}
	for _, x := range r.Methods {
		if x == m {
			return true
		}
	}
	return false
}

func refSNIs(r Route, sni string) bool {
	if len(r.SNIs) == 0 {
		return true
	}
	if len(sni) > 1 {
		sni = strings.TrimSuffix(sni, ".")
	}
	if sni == "" {
		return false
	}
	for _, s := range r.SNIs {
		if refLower(strings.TrimSuffix(s, ".")) == refLower(sni) {
			return true
		}
	}
	return false
}

func refHeaders(r Route, req *Request) bool {
	for name, wants := range r.Headers {
		ok := false
		for _, v := range req.Header.Values(name) {
			for _, w := range wants {
				if strings.HasPrefix(w, "~*") {
					if regexp.MustCompile("(?i)" + w[2:]).MatchString(v) {
						ok = true
					}
				} else if refLower(v) == refLower(w) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// refPath matches one path rule and returns the number of bytes consumed.
func refPath(kind PathKind, rule, path string) (int, bool) {
	switch kind {
	case PathExact:
		return len(rule), path == rule
	case PathPrefix:
		trimmed := strings.TrimRight(rule, "/")
		if trimmed == "" {
			return 0, true
		}
		want := strings.Split(trimmed, "/")
		got := strings.Split(path, "/")
		if len(got) < len(want) {
			return 0, false
		}
		for i := range want {
			if want[i] != got[i] {
				return 0, false
			}
		}
		return len(trimmed), true
	}
	if strings.HasPrefix(rule, "~") {
		loc := regexp.MustCompile(`^(?:` + rule[1:] + `)`).FindStringIndex(path)
		if loc == nil {
			return 0, false
		}
		return loc[1], true
	}
	return len(rule), strings.HasPrefix(path, rule)
}
