package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// Hash returns the SHA-256 of c's canonical JSON encoding: struct fields
// in declaration order, object keys sorted (inside opaque plugin
// configuration too), no insignificant whitespace. Two configurations
// with the same Hash behave the same, so a reload whose hash equals the
// running one's can be skipped. Hash a normalized configuration: an
// un-normalized one hashes differently from its normalized form.
func (c *Config) Hash() [32]byte {
	canon, err := canonicalJSON(c)
	if err != nil {
		// Only reachable with invalid opaque JSON, which Validate rejects;
		// still give a stable answer rather than panic.
		return sha256.Sum256(fmt.Appendf(nil, "weir-config-unencodable\x00%v\x00%#v", err, c))
	}
	return sha256.Sum256(canon)
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
