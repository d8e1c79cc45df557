package proxy

import "strings"

// normalizePath returns the request path normalized as RFC 3986 §6.2.2
// says (and as Kong does before routing): percent-encoded unreserved
// characters are decoded, other percent-encodings uppercased, and dot
// segments removed. Routing and the upstream see the same path, so
// "/public/../admin" cannot slip past a route that guards /admin. A path
// that is already normal is returned as is, without allocating.
func normalizePath(p string) string {
	if !needsNormalizing(p) {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex(p[i+1]))
				b.WriteByte(upperHex(p[i+2]))
			}
			i += 2
			continue
		}
		if c == '%' {
			// Not a valid escape: encode the '%' itself, or decoding a
			// following escape could forge a new one ("/%7%30" would
			// become "/%70", which the upstream decodes to "/p" while
			// the router saw something else).
			b.WriteString("%25")
			continue
		}
		b.WriteByte(c)
	}
	return removeDotSegments(b.String())
}

func needsNormalizing(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%':
			return true
		case '.':
			// "." or ".." as a whole segment
			if i > 0 && p[i-1] == '/' {
				j := i + 1
				if j < len(p) && p[j] == '.' {
					j++
				}
				if j == len(p) || p[j] == '/' {
					return true
				}
			}
		}
	}
	return false
}

// removeDotSegments implements RFC 3986 §5.2.4 for absolute paths.
func removeDotSegments(p string) string {
	if p == "" {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if r == "" || r[0] != '/' {
		r = "/" + r
	}
	return r
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func upperHex(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
