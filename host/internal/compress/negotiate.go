package compress

import "strings"

// qMax is the weight q=1 in thousandths.
const qMax = 1000

// negotiate picks the coding for a request whose Accept-Encoding field
// values are given, or encNone (RFC 9110 §12.5.3):
//
//   - each configured coding gets the weight of its own list member, or of
//     "*" when it is not listed, or 0 (not acceptable) when neither is;
//     "x-gzip" is the same coding as "gzip";
//   - q=0 refuses a coding; the highest weight wins and ties go to the
//     server's preference order;
//   - an explicit "identity" (or "*" when identity is not listed) that
//     weighs more than the best coding means the client prefers the body
//     uncompressed;
//   - a member with a malformed weight is ignored, as are codings the
//     Compressor does not offer; the first mention of a coding counts.
//
// An empty field accepts no coding. negotiate does not allocate.
func (c *Compressor) negotiate(values []string) encoding {
	q := [numEncodings]int{-1, -1, -1}
	star, identity := -1, -1
	for _, v := range values {
		for v != "" {
			var elem string
			if i := strings.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				elem, v = v, ""
			}
			name, weight, ok := parseCoding(elem)
			if !ok {
				continue
			}
			var slot *int
			switch {
			case name == "*":
				slot = &star
			case equalFold(name, "zstd"):
				slot = &q[encZstd]
			case equalFold(name, "gzip"), equalFold(name, "x-gzip"):
				slot = &q[encGzip]
			case equalFold(name, "identity"):
				slot = &identity
			default:
				continue
			}
			if *slot < 0 {
				*slot = weight
			}
		}
	}

	best, bestQ := encNone, 0
	for _, e := range c.algos {
		w := q[e]
		if w < 0 {
			w = star
		}
		if w > bestQ {
			best, bestQ = e, w
		}
	}
	if best == encNone {
		return encNone
	}
	if identity < 0 {
		identity = star
	}
	if identity > bestQ {
		return encNone
	}
	return best
}

// parseCoding splits one Accept-Encoding list member, `coding *( OWS ";"
// OWS param )`, into the coding name and its weight in thousandths. A
// member without q weighs qMax. ok is false for an empty member or a
// malformed weight.
func parseCoding(elem string) (name string, weight int, ok bool) {
	params := ""
	if i := strings.IndexByte(elem, ';'); i >= 0 {
		elem, params = elem[:i], elem[i+1:]
	}
	name = trimOWS(elem)
	if name == "" {
		return "", 0, false
	}
	weight = qMax
	for params != "" {
		var p string
		if i := strings.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		eq := strings.IndexByte(p, '=')
		if eq < 0 {
			continue
		}
		if k := trimOWS(p[:eq]); k != "q" && k != "Q" {
			continue // codings take no other parameters; ignore them
		}
		if weight, ok = parseQValue(trimOWS(p[eq+1:])); !ok {
			return "", 0, false
		}
	}
	return name, weight, true
}

// parseQValue parses `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
// into thousandths.
func parseQValue(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0] - '0')
	frac := s[1:]
	if frac == "" {
		return whole * qMax, true
	}
	if frac[0] != '.' || len(frac) > 4 {
		return 0, false
	}
	v, scale := 0, 100
	for i := 1; i < len(frac); i++ {
		d := frac[i]
		if d < '0' || d > '9' || (whole == 1 && d != '0') {
			return 0, false
		}
		v += int(d-'0') * scale
		scale /= 10
	}
	return whole*qMax + v, true
}

// trimOWS trims optional whitespace (SP / HTAB) from both ends.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// hasToken reports whether any of the comma-separated field values contains
// token (case-insensitive), ignoring any "=value" part of the members, as in
// Cache-Control and Vary.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var elem string
			if i := strings.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				elem, v = v, ""
			}
			if i := strings.IndexByte(elem, '='); i >= 0 {
				elem = elem[:i]
			}
			if equalFold(trimOWS(elem), token) {
				return true
			}
		}
	}
	return false
}

// equalFold is strings.EqualFold for ASCII only: header tokens are ASCII,
// and Unicode folding would let e.g. the Kelvin sign match 'k'.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
