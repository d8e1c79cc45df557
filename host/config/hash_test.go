package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHash(t *testing.T) {
	const base = `_format_version: "3.0"
services:
- name: s
  url: http://example.com
plugins:
- name: p
  config: {a: 1, b: [1, 2], c: {x: true, z: null}}
`
	baseHash := mustNormalize(t, base).Hash()

	tests := []struct {
		name string
		doc  string
		same bool
	}{
		{name: "identical", doc: base, same: true},
		{
			name: "json form with other key order",
			doc: `{"plugins": [{"config": {"c": {"z": null, "x": true}, "b": [1, 2], "a": 1}, "name": "p"}],
			       "services": [{"url": "http://example.com", "name": "s"}], "_format_version": "3.0"}`,
			same: true,
		},
		{
			name: "explicit defaults",
			doc: `_format_version: "3.0"
services:
- name: s
  protocol: http
  host: example.com
  port: 80
  retries: 5
plugins:
- name: p
  enabled: true
  config: {a: 1, b: [1, 2], c: {x: true, z: null}}
`,
			same: true,
		},
		{
			name: "plugin config value differs",
			doc: `_format_version: "3.0"
services:
- name: s
  url: http://example.com
plugins:
- name: p
  config: {a: 2, b: [1, 2], c: {x: true, z: null}}
`,
		},
		{
			name: "array order matters",
			doc: `_format_version: "3.0"
services:
- name: s
  url: http://example.com
plugins:
- name: p
  config: {a: 1, b: [2, 1], c: {x: true, z: null}}
`,
		},
		{
			name: "service port differs",
			doc: `_format_version: "3.0"
services:
- name: s
  url: http://example.com:81
plugins:
- name: p
  config: {a: 1, b: [1, 2], c: {x: true, z: null}}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustNormalize(t, tt.doc).Hash()
			if (got == baseHash) != tt.same {
				t.Errorf("hash equal = %v, want %v", got == baseHash, tt.same)
			}
		})
	}
}

func TestHashCanonicalizesRawJSON(t *testing.T) {
	// A config built in code (the Kubernetes translator) may hold opaque
	// JSON in any key order and spacing.
	a := &Config{Plugins: []Plugin{{Name: "p", Config: json.RawMessage(`{"b": 1, "a": {"d": 2, "c": 3}}`)}}}
	b := &Config{Plugins: []Plugin{{Name: "p", Config: json.RawMessage(`{"a":{"c":3,"d":2},"b":1}`)}}}
	if a.Hash() != b.Hash() {
		t.Error("key order or whitespace inside plugin config changed the hash")
	}
}

func TestHashInvalidRawJSONDoesNotPanic(t *testing.T) {
	bad := &Config{Plugins: []Plugin{{Name: "p", Config: json.RawMessage(`{"a":`)}}}
	h1, h2 := bad.Hash(), bad.Hash()
	if h1 != h2 {
		t.Error("hash of an unencodable config is not stable")
	}
	good := &Config{Plugins: []Plugin{{Name: "p", Config: json.RawMessage(`{"a":1}`)}}}
	if h1 == good.Hash() {
		t.Error("an unencodable config hashes like a valid one")
	}
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepts invalid plugin config JSON")
	}
}
