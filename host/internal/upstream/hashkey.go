package upstream

import (
	"crypto/rand"
	"net"
	"slices"
	"strings"
)

// hasher is 64-bit FNV-1a finished with murmur3's fmix64, so that short,
// similar keys spread over the whole ring. It is deterministic across
// processes: every Weir replica maps a key to the same target.
type hasher uint64

func newHasher() hasher { return 14695981039346656037 }

func (h *hasher) writeByte(c byte) {
	*h ^= hasher(c)
	*h *= 1099511628211
}

func (h *hasher) writeString(s string) {
	for i := 0; i < len(s); i++ {
		h.writeByte(s[i])
	}
}

func (h *hasher) writeBytes(s []byte) {
	for _, c := range s {
		h.writeByte(c)
	}
}

func (h hasher) sum() uint64 {
	x := uint64(h)
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func hashString(s string) uint64 {
	h := newHasher()
	h.writeString(s)
	return h.sum()
}

// key computes the request's hash input following Kong's
// get_value_to_hash: hash_on, then hash_fallback when the first yields
// nothing. A missing cookie is generated (Kong: a UUID), returned as a
// Set-Cookie value. ok is false when there is nothing to hash; the caller
// then balances round-robin (Kong hashes the empty string instead, which
// sends every keyless request to one target).
func (b *Balancer) key(r *Request) (h uint64, ok bool, setCookie string) {
	for _, spec := range [2]hashSpec{b.s.hashOn, b.s.fallback} {
		if spec.kind == hashNone {
			return 0, false, ""
		}
		if h, ok = keyFor(r, spec); ok {
			return h, true, ""
		}
		if spec.kind == hashCookie {
			v := newCookieValue()
			return hashString(v), true, spec.param + "=" + v + "; Path=" + b.s.cookiePath + "; SameSite=Lax; HttpOnly"
		}
	}
	return 0, false, ""
}

// keyFor hashes one input; ok is false when the request lacks it. It does
// not allocate except for a query argument given several times.
func keyFor(r *Request, spec hashSpec) (uint64, bool) {
	hr := r.HTTP
	switch spec.kind {
	case hashConsumer:
		if r.Consumer != "" {
			return hashString(r.Consumer), true
		}
	case hashIP:
		ip := r.ClientIP
		if ip == "" && hr != nil {
			ip = hr.RemoteAddr
			if host, _, err := net.SplitHostPort(ip); err == nil {
				ip = host
			}
		}
		if ip != "" {
			return hashString(ip), true
		}
	case hashHeader:
		if hr == nil {
			break
		}
		// Several lines of one header are joined with ", ", as nginx
		// (and so Kong) presents them.
		vs, found := hr.Header[spec.param]
		if !found || len(vs) == 0 {
			break
		}
		h := newHasher()
		for i, v := range vs {
			if i > 0 {
				h.writeString(", ")
			}
			h.writeString(v)
		}
		return h.sum(), true
	case hashCookie:
		if hr == nil {
			break
		}
		if v, found := cookieValue(hr.Header["Cookie"], spec.param); found && v != "" {
			return hashString(v), true
		}
	case hashPath:
		if hr == nil || hr.URL == nil {
			break
		}
		p := hr.URL.Path
		if p == "" {
			p = "/"
		}
		return hashString(p), true
	case hashQueryArg:
		if hr == nil || hr.URL == nil {
			break
		}
		return queryArgHash(hr.URL.RawQuery, spec.param)
	case hashURICapture:
		if v, found := r.URICaptures[spec.param]; found {
			return hashString(v), true
		}
	}
	return 0, false
}

// cookieValue finds the first cookie called name in Cookie header lines
// without allocating. Surrounding double quotes are removed.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			k, v, hasEq := strings.Cut(part, "=")
			if !hasEq || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// queryArgHash hashes the decoded value of query argument name the way
// Kong's get_query_arg normalises it: an argument without "=" is "true",
// several values are sorted and joined with ",". Decoding is lenient like
// nginx ('+' is a space, a bad escape is kept literally).
func queryArgHash(raw, name string) (uint64, bool) {
	count := 0
	var only string
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, _, _ := strings.Cut(pair, "=")
		if k != "" && decodedEqual(k, name) {
			count++
			only = pair
		}
	}
	switch count {
	case 0:
		return 0, false
	case 1:
		h := newHasher()
		if _, v, hasEq := strings.Cut(only, "="); hasEq {
			decodeInto(&h, v)
		} else {
			h.writeString("true")
		}
		return h.sum(), true
	}
	vals := make([]string, 0, count)
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		k, v, hasEq := strings.Cut(pair, "=")
		if k == "" || !decodedEqual(k, name) {
			continue
		}
		if !hasEq {
			vals = append(vals, "true")
			continue
		}
		vals = append(vals, decodeString(v))
	}
	slices.Sort(vals)
	h := newHasher()
	for i, v := range vals {
		if i > 0 {
			h.writeByte(',')
		}
		h.writeString(v)
	}
	return h.sum(), true
}

// decodeNext returns the decoded byte at s[i] and the index after it.
func decodeNext(s string, i int) (byte, int) {
	c := s[i]
	switch {
	case c == '+':
		return ' ', i + 1
	case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
		return unhex(s[i+1])<<4 | unhex(s[i+2]), i + 3
	}
	return c, i + 1
}

func decodedEqual(enc, name string) bool {
	j := 0
	for i := 0; i < len(enc); {
		var c byte
		c, i = decodeNext(enc, i)
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

func decodeInto(h *hasher, s string) {
	for i := 0; i < len(s); {
		var c byte
		c, i = decodeNext(s, i)
		h.writeByte(c)
	}
}

func decodeString(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); {
		var c byte
		c, i = decodeNext(s, i)
		sb.WriteByte(c)
	}
	return sb.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// newCookieValue returns a random (version 4) UUID, the value Kong puts in
// a generated hash_on_cookie.
func newCookieValue() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(out[:])
}
