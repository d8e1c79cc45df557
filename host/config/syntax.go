package config

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Syntax checks shared by Normalize and Validate. Where Kong has a rule
// (kong/db/schema/typedefs.lua, kong/tools/ip.lua) these follow it.

// hostKind says what a host string holds.
type hostKind uint8

const (
	hostName hostKind = iota
	hostIPv4
	hostIPv6
)

// hostPort is a parsed "host", "host:port", "[v6]" or "[v6]:port".
type hostPort struct {
	host    string // without brackets
	port    int
	hasPort bool
	kind    hostKind
}

// String formats h as "host:port" (brackets around IPv6), or just the
// host when it has no port.
func (h hostPort) String() string {
	host := h.host
	if h.kind == hostIPv6 {
		host = "[" + host + "]"
	}
	if !h.hasPort {
		return host
	}
	return host + ":" + strconv.Itoa(h.port)
}

// parseHostPort parses a hostname or IP address with an optional port,
// as Kong's normalize_ip does: IPv6 with a port needs brackets; a string
// of only digits and dots must be a valid IPv4 address; anything else
// must be a valid hostname.
func parseHostPort(s string) (hostPort, error) {
	if s == "" {
		return hostPort{}, errors.New("empty host")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return hostPort{}, fmt.Errorf("invalid IPv6 address %q: missing ']'", s)
		}
		addr, err := parseIPv6(s[1:end])
		if err != nil {
			return hostPort{}, err
		}
		h := hostPort{host: addr, kind: hostIPv6}
		if rest := s[end+1:]; rest != "" {
			if rest[0] != ':' {
				return hostPort{}, fmt.Errorf("invalid address %q: unexpected %q after ']'", s, rest)
			}
			if h.port, err = parsePort(rest[1:]); err != nil {
				return hostPort{}, err
			}
			h.hasPort = true
		}
		return h, nil
	}
	if strings.Count(s, ":") > 1 {
		addr, err := parseIPv6(s)
		if err != nil {
			return hostPort{}, err
		}
		return hostPort{host: addr, kind: hostIPv6}, nil
	}
	host, portStr, hasPort := strings.Cut(s, ":")
	h := hostPort{host: host, hasPort: hasPort}
	if hasPort {
		var err error
		if h.port, err = parsePort(portStr); err != nil {
			return hostPort{}, err
		}
	}
	if strings.Trim(host, "0123456789.") == "" && host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return hostPort{}, fmt.Errorf("invalid IPv4 address %q", host)
		}
		h.kind = hostIPv4
		return h, nil
	}
	if err := checkHostname(host); err != nil {
		return hostPort{}, err
	}
	return h, nil
}

func parseIPv6(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", fmt.Errorf("invalid IPv6 address %q", s)
	}
	return a.String(), nil
}

// parsePort parses a decimal port 0..65535.
func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	p, _ := strconv.Atoi(s)
	if p > 65535 {
		return 0, fmt.Errorf("invalid port %d (must be at most 65535)", p)
	}
	return p, nil
}

// checkHostname applies Kong's hostname rule: letters, digits, '-', '.'
// and '_'; no label may be empty (except a final dot) or end with '-'.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("empty hostname")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != '_' {
			return fmt.Errorf("invalid hostname %q: character %q is not allowed", h, rune(c))
		}
	}
	labels := strings.Split(h, ".")
	for i, l := range labels {
		if l == "" && i != len(labels)-1 {
			return fmt.Errorf("invalid hostname %q: empty label", h)
		}
		if strings.HasSuffix(l, "-") {
			return fmt.Errorf("invalid hostname %q: label %q ends with '-'", h, l)
		}
	}
	if len(labels) == 1 && labels[0] == "" {
		return fmt.Errorf("invalid hostname %q", h)
	}
	return nil
}

// checkWildcardHost checks a route host or certificate SNI: a hostname or
// IP (with a port when allowPort), possibly with one wildcard as the whole
// leftmost label ("*.example.com") or the whole rightmost one
// ("example.*").
func checkWildcardHost(h string, allowPort bool) error {
	if n := strings.Count(h, "*"); n > 0 {
		if n > 1 {
			return errors.New("only one wildcard is allowed")
		}
		switch {
		case strings.HasPrefix(h, "*."):
			h = "wildcard" + h[1:]
		case strings.HasSuffix(stripPort(h), ".*"):
			i := strings.LastIndexByte(h, '*')
			h = h[:i] + "wildcard" + h[i+1:]
		default:
			return errors.New(`a wildcard must be the leftmost ("*.example.com") or rightmost ("example.*") label`)
		}
	}
	hp, err := parseHostPort(h)
	if err != nil {
		return err
	}
	if hp.hasPort && !allowPort {
		return errors.New("must not have a port")
	}
	return nil
}

// stripPort removes a trailing ":digits" from a non-IPv6 host.
func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return h
}

// checkSNI checks a TLS server name: a hostname, not an IP, no port.
func checkSNI(s string, allowWildcard bool) error {
	if allowWildcard {
		if err := checkWildcardHost(s, false); err != nil {
			return err
		}
		s = strings.Replace(s, "*", "wildcard", 1)
	}
	hp, err := parseHostPort(s)
	if err != nil {
		return err
	}
	if hp.hasPort {
		return errors.New("must not have a port")
	}
	if hp.kind != hostName {
		return errors.New("must not be an IP address")
	}
	return nil
}

// checkName applies Kong's utf8_name rule to entity names: ASCII letters,
// digits and ". - _ ~", plus any non-ASCII character.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid name %q: not valid UTF-8", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf && !isAlnum(c) && strings.IndexByte(".-_~", c) < 0 {
			return fmt.Errorf("invalid name %q: only letters, digits and '.', '-', '_', '~' are allowed", s)
		}
	}
	return nil
}

// checkTag applies Kong's tag rule: printable ASCII except ',' and '/',
// or non-ASCII UTF-8.
func checkTag(s string) error {
	if s == "" {
		return errors.New("empty tag")
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid tag %q: not valid UTF-8", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf && (c < ' ' || c > '~' || c == ',' || c == '/') {
			return fmt.Errorf("invalid tag %q: expected printable characters except ',' and '/'", s)
		}
	}
	return nil
}

// checkUUID checks the textual UUID form Kong requires for ids.
func checkUUID(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("invalid id %q: expected a UUID", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return fmt.Errorf("invalid id %q: expected a UUID", s)
			}
		default:
			if !isHex(c) {
				return fmt.Errorf("invalid id %q: expected a UUID", s)
			}
		}
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token (header names,
// methods, cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// checkURIPath checks a plain path as Kong's typedefs.path does: it
// starts with '/', has no empty segment, holds only RFC 3986 path
// characters and well-formed percent-escapes.
func checkURIPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("invalid path %q: must start with '/'", p)
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("invalid path %q: must not have empty segments", p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !isAlnum(c) && strings.IndexByte("-._~!$&'()*+,;=:@/%", c) < 0 {
			return fmt.Errorf("invalid path %q: character %q is outside RFC 3986 (percent-encode it)", p, rune(c))
		}
	}
	return checkPercentEncoding(p)
}

// checkPercentEncoding checks that every '%' starts a "%XX" escape.
func checkPercentEncoding(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			end := min(i+3, len(p))
			return fmt.Errorf("invalid path %q: bad percent-encoding %q", p, p[i:end])
		}
		i += 2
	}
	return nil
}

// compileRegex compiles a route regex (a path after its '~', or a header
// value after "~*"), explaining the PCRE features RE2 lacks.
func compileRegex(expr string) error {
	_, err := regexp.Compile(expr)
	if err == nil {
		return nil
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		switch se.Code {
		case syntax.ErrInvalidPerlOp, syntax.ErrInvalidEscape, syntax.ErrInvalidRepeatOp:
			return fmt.Errorf("%w (Weir uses Go's RE2 syntax, not Kong's PCRE: no lookaround, backreferences, atomic groups or possessive quantifiers)", err)
		}
	}
	return err
}

// checkMediaPattern checks a compression content type: "type/subtype",
// "type/*", "type/*+suffix" or "*/*", without parameters.
func checkMediaPattern(s string) error {
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || typ == "" || sub == "" {
		return fmt.Errorf("%q is not a media type (want type/subtype)", s)
	}
	switch {
	case typ == "*":
		if sub != "*" {
			return fmt.Errorf("%q: a wildcard type needs a wildcard subtype (*/*)", s)
		}
	case !isPlainToken(typ):
		return fmt.Errorf("%q: invalid type %q", s, typ)
	case sub == "*":
	case strings.HasPrefix(sub, "*+"):
		if !isPlainToken(sub[2:]) {
			return fmt.Errorf("%q: invalid suffix %q", s, sub[1:])
		}
	case !isPlainToken(sub):
		return fmt.Errorf("%q: invalid subtype %q (parameters are not allowed)", s, sub)
	}
	return nil
}

// isPlainToken is isToken without '*'.
func isPlainToken(s string) bool {
	return isToken(s) && !strings.Contains(s, "*")
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
