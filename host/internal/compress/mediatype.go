package compress

import (
	"fmt"
	"strings"
)

// mediaPattern is one parsed entry of Options.ContentTypes.
type mediaPattern struct {
	typ     string // lower-case type, "*" only with subtype "*"
	subtype string // exact subtype; "" for "type/*" and "type/*+suffix"
	suffix  string // "+json" for "type/*+json"; "" otherwise
	any     bool   // "*/*"
}

// parseMediaPattern validates and parses "type/subtype", "type/*",
// "type/*+suffix" or "*/*".
func parseMediaPattern(s string) (mediaPattern, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	slash := strings.IndexByte(t, '/')
	if slash <= 0 || slash == len(t)-1 {
		return mediaPattern{}, fmt.Errorf("%q is not a media type (want type/subtype)", s)
	}
	typ, sub := t[:slash], t[slash+1:]
	if !isToken(typ) && typ != "*" {
		return mediaPattern{}, fmt.Errorf("%q: invalid type %q", s, typ)
	}
	switch {
	case typ == "*":
		if sub != "*" {
			return mediaPattern{}, fmt.Errorf("%q: a wildcard type needs a wildcard subtype (*/*)", s)
		}
		return mediaPattern{typ: "*", any: true}, nil
	case sub == "*":
		return mediaPattern{typ: typ}, nil
	case strings.HasPrefix(sub, "*+"):
		suffix := sub[1:]
		if !isToken(suffix[1:]) {
			return mediaPattern{}, fmt.Errorf("%q: invalid suffix %q", s, suffix)
		}
		return mediaPattern{typ: typ, suffix: suffix}, nil
	case isToken(sub):
		return mediaPattern{typ: typ, subtype: sub}, nil
	default:
		return mediaPattern{}, fmt.Errorf("%q: invalid subtype %q (parameters are not allowed)", s, sub)
	}
}

// isToken reports whether s is a non-empty RFC 9110 token without '*'.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// compressibleType reports whether the Content-Type field value ct (with
// any parameters) matches one of the configured patterns. A missing or
// malformed Content-Type does not match. It does not allocate.
func (c *Compressor) compressibleType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimOWS(ct)
	slash := strings.IndexByte(ct, '/')
	if slash <= 0 || slash == len(ct)-1 {
		return false
	}
	typ, sub := ct[:slash], ct[slash+1:]
	for i := range c.types {
		p := &c.types[i]
		switch {
		case p.any:
			return true
		case !equalFold(typ, p.typ):
		case p.subtype != "":
			if equalFold(sub, p.subtype) {
				return true
			}
		case p.suffix != "":
			if len(sub) > len(p.suffix) && equalFold(sub[len(sub)-len(p.suffix):], p.suffix) {
				return true
			}
		default: // type/*
			return true
		}
	}
	return false
}
