package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
)

// Hash returns the SHA-256 of c's canonical JSON encoding: struct fields
// in declaration order, object keys sorted (inside opaque plugin
// configuration too), no insignificant whitespace. Two configurations
// with the same Hash behave the same, so a reload whose hash equals the
// running one's can be skipped. Hash a normalized configuration: an
// un-normalized one hashes differently from its normalized form.
func (c *Config) Hash() [32]byte {
	canon, err := c.canonicalCopy()
	var b []byte
	if err == nil {
		// Struct fields encode in declaration order and map keys sorted;
		// only the opaque values needed canonicalizing.
		b, err = json.Marshal(canon)
	}
	if err != nil {
		// Only reachable with invalid opaque JSON, which Validate rejects;
		// still give a stable answer rather than panic.
		return sha256.Sum256(fmt.Appendf(nil, "weir-config-unencodable\x00%v\x00%#v", err, c))
	}
	return sha256.Sum256(b)
}

// canonicalCopy returns a shallow copy of c in which every opaque JSON
// value (plugin config, ordering and vm_config, client certificates, decK
// metadata, raw credentials) has its object keys sorted. Only the slices
// that hold such values are copied: re-encoding the whole document
// through a generic value was most of the cost of applying a large
// generated config (10,000 Ingresses).
func (c *Config) canonicalCopy() (*Config, error) {
	cp := *c
	var err error
	raw := func(m json.RawMessage) json.RawMessage {
		if len(m) == 0 || err != nil {
			return m
		}
		var out []byte
		out, err = canonicalJSON(m)
		return out
	}
	raws := func(ms []json.RawMessage) []json.RawMessage {
		if len(ms) == 0 {
			return ms
		}
		out := make([]json.RawMessage, len(ms))
		for i, m := range ms {
			out[i] = raw(m)
		}
		return out
	}
	plugins := func(ps []Plugin) []Plugin {
		if len(ps) == 0 {
			return ps
		}
		out := make([]Plugin, len(ps))
		for i, p := range ps {
			p.Config, p.Ordering, p.VMConfig = raw(p.Config), raw(p.Ordering), raw(p.VMConfig)
			out[i] = p
		}
		return out
	}
	routes := func(rs []Route) []Route {
		if !slices.ContainsFunc(rs, func(r Route) bool { return len(r.Plugins) > 0 }) {
			return rs
		}
		out := make([]Route, len(rs))
		for i, r := range rs {
			r.Plugins = plugins(r.Plugins)
			out[i] = r
		}
		return out
	}
	cp.Info = raw(c.Info)
	cp.CACertificates = raws(c.CACertificates)
	// Top-level entities are shared with c: a copy is made of those that
	// change.
	cp.Services = copyChanged(c.Services,
		func(s *Service) bool { return len(s.ClientCertificate) > 0 || len(s.Plugins) > 0 || len(s.Routes) > 0 },
		func(s *Service) {
			s.ClientCertificate = raw(s.ClientCertificate)
			s.Plugins = plugins(s.Plugins)
			s.Routes = routes(s.Routes)
		})
	cp.Routes = copyChanged(c.Routes,
		func(r *Route) bool { return len(r.Plugins) > 0 },
		func(r *Route) { r.Plugins = plugins(r.Plugins) })
	cp.Upstreams = copyChanged(c.Upstreams,
		func(u *Upstream) bool { return len(u.ClientCertificate) > 0 },
		func(u *Upstream) { u.ClientCertificate = raw(u.ClientCertificate) })
	cp.Plugins = plugins(c.Plugins)
	if len(c.Consumers) > 0 {
		cp.Consumers = make([]Consumer, len(c.Consumers))
		for i, cs := range c.Consumers {
			cs.Plugins = plugins(cs.Plugins)
			cs.HMACAuthCredentials = raws(cs.HMACAuthCredentials)
			cs.OAuth2Credentials = raws(cs.OAuth2Credentials)
			cp.Consumers[i] = cs
		}
	}
	cp.origins = nil
	return &cp, err
}

// canonicalJSON encodes v, then decodes and re-encodes the result so the
// keys of every object, including opaque json.RawMessage values, come
// out sorted. Numbers keep their text.
func canonicalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// copyChanged returns list itself when change applies to none of its
// (non-nil) entries, else a new list in which each such entry is a copy
// with fix applied; the other entries are shared.
func copyChanged[T any](list []*T, change func(*T) bool, fix func(*T)) []*T {
	changes := func(e *T) bool { return e != nil && change(e) }
	if !slices.ContainsFunc(list, changes) {
		return list
	}
	out := make([]*T, len(list))
	for i, e := range list {
		if changes(e) {
			ce := *e
			fix(&ce)
			e = &ce
		}
		out[i] = e
	}
	return out
}
