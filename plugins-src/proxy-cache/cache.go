package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Storage bounds. Entries live in the host's shared data (shared by every
// instance of the plugin's pool), which has no delete and no size limit of
// its own, so the plugin bounds itself: the cache key hashes to one of
// numSlots slots (a direct-mapped cache: a new entry overwrites whatever
// the slot held, and an expired entry is overwritten with an empty value
// when it is found), and an entry (headers and body) larger than
// maxEntryBytes is not stored. The worst case is numSlots*maxEntryBytes =
// 256 MiB per VM ID, the order of Kong's default kong_db_cache dictionary.
const (
	numSlots      = 2048
	maxEntryBytes = 128 << 10
	// slotPrefix names the shared data keys: proxy-cache/<slot>.
	slotPrefix = "proxy-cache/"
	// entryVersion is the first byte of every stored entry; an entry with
	// another version is a miss (Kong's CACHE_VERSION).
	entryVersion = 1
)

// entry is one cached response.
type entry struct {
	key       string // the cache key (hex), to tell slot collisions apart
	timestamp int64  // when it was stored, Unix seconds
	ttl       int64  // freshness lifetime in seconds (cache_ttl or Cache-Control)
	expires   int64  // Unix seconds after which storage drops it
	status    uint32
	headers   [][2]string
	body      []byte
}

var errCorrupt = errors.New("corrupt cache entry")

// encode serializes e: version, key, timestamp, ttl, expires, status,
// header count and (name, value) pairs, body; lengths are uvarints.
func (e *entry) encode() []byte {
	b := make([]byte, 0, 64+len(e.key)+len(e.body)+32*len(e.headers))
	b = append(b, entryVersion)
	b = appendString(b, e.key)
	b = binary.AppendVarint(b, e.timestamp)
	b = binary.AppendVarint(b, e.ttl)
	b = binary.AppendVarint(b, e.expires)
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendUvarint(b, uint64(len(e.headers)))
	for _, h := range e.headers {
		b = appendString(b, h[0])
		b = appendString(b, h[1])
	}
	return append(b, e.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry parses what encode produced; anything else is errCorrupt.
func decodeEntry(b []byte) (*entry, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errCorrupt
	}
	d := decoder{b: b[1:]}
	e := &entry{key: d.str(), timestamp: d.varint(), ttl: d.varint(), expires: d.varint()}
	st := d.uvarint()
	n := d.uvarint()
	if d.err || st > 999 || n > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	e.status = uint32(st)
	e.headers = make([][2]string, 0, n)
	for i := uint64(0); i < n; i++ {
		e.headers = append(e.headers, [2]string{d.str(), d.str()})
	}
	if d.err {
		return nil, errCorrupt
	}
	e.body = d.b
	return e, nil
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// slotOf is the shared data key of the slot a cache key maps to.
func slotOf(key string) string {
	sum, _ := hex.DecodeString(key[:8])
	return slotPrefix + strconv.Itoa(int(binary.BigEndian.Uint32(sum)%numSlots))
}

// keyInput is what a cache key is made of (Kong's build_cache_key).
type keyInput struct {
	consumerID, routeID string
	method, path        string // path without the query
	query               string // the raw query string
	headers             [][2]string
}

// emptyUUID is Kong's prefix when there is neither a route nor a consumer.
const emptyUUID = "00000000-0000-0000-0000-000000000000"

// cacheKey is Kong's cache key: the hex SHA-256 of
// "<prefix>|<method>|<uri>|<params>|<headers>", where prefix is
// consumer:route, route, or the empty UUID; params are every query
// argument (or only vary_query_params), sorted, "k=v" joined by ":"; and
// headers the vary_headers the same way.
func (r *rules) cacheKey(in keyInput) string {
	prefix := emptyUUID
	switch {
	case in.consumerID != "" && in.routeID != "":
		prefix = in.consumerID + ":" + in.routeID
	case in.routeID != "":
		prefix = in.routeID
	}
	path := in.path
	params := parseQuery(in.query, r.cfg.IgnoreURICase)
	if r.cfg.IgnoreURICase {
		path = strings.ToLower(path)
	}
	var paramNames []string
	if len(r.varyQuery) > 0 {
		paramNames = r.varyQuery
	} else {
		for k := range params {
			paramNames = append(paramNames, k)
		}
		sort.Strings(paramNames)
	}
	hdrs := ""
	if len(r.varyHeaders) > 0 {
		hm := map[string][]string{}
		for _, h := range in.headers {
			k := strings.ToLower(h[0])
			hm[k] = append(hm[k], h[1])
		}
		hdrs = keyFrom(hm, r.varyHeaders)
	}
	sum := sha256.Sum256([]byte(prefix + "|" + in.method + "|" + path + "|" + keyFrom(params, paramNames) + "|" + hdrs))
	return hex.EncodeToString(sum[:])
}

// keyFrom is Kong's generate_key_from: for each name (in order) present
// in values, "name=v1,v2" (values sorted; a valueless query argument is
// just "name"), joined by ":".
func keyFrom(values map[string][]string, names []string) string {
	var parts []string
	for _, n := range names {
		vs, ok := values[n]
		if !ok {
			continue
		}
		if len(vs) == 1 && vs[0] == "\x00" { // argument without "="
			parts = append(parts, n)
			continue
		}
		vs = append([]string(nil), vs...)
		sort.Strings(vs)
		parts = append(parts, n+"="+strings.Join(vs, ","))
	}
	return strings.Join(parts, ":")
}

// parseQuery splits a raw query string; an argument without "=" gets the
// marker value "\x00" (Kong's true).
func parseQuery(q string, lowerNames bool) map[string][]string {
	out := map[string][]string{}
	for _, part := range strings.Split(q, "&") {
		if part == "" {
			continue
		}
		k, v, hasEq := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if lowerNames {
			k = strings.ToLower(k)
		}
		if !hasEq {
			out[k] = append(out[k], "\x00")
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out[k] = append(out[k], v)
	}
	return out
}

// cacheControl parses a Cache-Control value into lower-cased directives
// (value "" for a directive without one), as Kong's parse_directive_header.
func cacheControl(v string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(v, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		k, val, _ := strings.Cut(d, "=")
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"`)
	}
	return out
}

// seconds reads a numeric directive (max-age=60); ok is false when the
// directive is absent or not a number.
func seconds(cc map[string]string, name string) (int64, bool) {
	v, ok := cc[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// mediaType is a parsed Content-Type: type, subtype and parameters, all
// lower-cased.
type mediaType struct {
	typ, sub string
	params   map[string]string
}

func parseMediaType(s string) (mediaType, error) {
	parts := strings.Split(s, ";")
	full := strings.ToLower(strings.TrimSpace(parts[0]))
	typ, sub, ok := strings.Cut(full, "/")
	if !ok || typ == "" || sub == "" {
		return mediaType{}, fmt.Errorf("%q is not a media type (type/subtype)", s)
	}
	m := mediaType{typ: typ, sub: sub}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		if m.params == nil {
			m.params = map[string]string{}
		}
		m.params[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"`))
	}
	return m, nil
}

// matches reports whether the response's media type is accepted by the
// configured one c: type and subtype equal or "*", and every parameter c
// names equal.
func (c mediaType) matches(m mediaType) bool {
	if c.typ != "*" && c.typ != m.typ || c.sub != "*" && c.sub != m.sub {
		return false
	}
	for k, v := range c.params {
		if m.params[k] != v {
			return false
		}
	}
	return true
}
