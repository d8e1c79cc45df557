package builtins

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host/config"
)

// TestEmbedded: every plugin directory with a manifest is embedded, its
// manifest parses, its schema compiles and accepts an empty config or
// refuses it with a named field, and its module decompresses to wasm
// exporting a proxy-wasm ABI version.
func TestEmbedded(t *testing.T) {
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob("*/plugin.json")
	if len(dirs) == 0 || len(Names()) != len(dirs) {
		t.Fatalf("embedded %v, directories %v", Names(), dirs)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p, ok := Lookup(name)
			if !ok || p.Name != name {
				t.Fatal("Lookup")
			}
			if p.Manifest.Priority == 0 || len(p.Manifest.Phases) == 0 {
				t.Errorf("manifest %+v lacks priority or phases", p.Manifest)
			}
			if _, err := p.Digest(); err != nil {
				t.Fatal(err)
			}
			err := p.ValidateConfig(nil)
			if err != nil && !strings.Contains(err.Error(), "config") {
				t.Errorf("empty config error does not name a field: %v", err)
			}
			if err := p.ValidateConfig([]byte(`{"no_such_field_here": 1}`)); err == nil || !strings.Contains(err.Error(), "no_such_field_here") {
				t.Errorf("unknown field accepted or not named: %v", err)
			}
			raw, err := p.Module()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("\x00asm")) {
				t.Fatal("module is not wasm")
			}
			mod, err := wasmbin.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range mod.Exports {
				found = found || strings.HasPrefix(e.Name, "proxy_abi_version_")
			}
			if !found {
				t.Error("no proxy_abi_version_* export")
			}
		})
	}
	if _, ok := Lookup("no-such-plugin"); ok {
		t.Fatal("unknown name found")
	}
}

var yamlBlock = regexp.MustCompile("(?s)## Example\n.*?```yaml\n(.*?)```")

// TestREADMEExamples: each plugin README has the fixed sections, and its
// example is a config the schema (and Weir's config validation) accepts.
func TestREADMEExamples(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(name, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, sec := range []string{"# " + name + "\n", "## Config\n", "## Example\n", "## Phases\n", "## Headers\n", "## Errors\n"} {
				if !bytes.Contains(b, []byte(sec)) {
					t.Errorf("README lacks %q", strings.TrimSpace(sec))
				}
			}
			m := yamlBlock.FindSubmatch(b)
			if m == nil {
				t.Fatal("no yaml block under ## Example")
			}
			cfg, err := config.Parse(m[1])
			if err == nil {
				err = cfg.Normalize()
			}
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Fatalf("example: %v", err)
			}
			used := false
			for _, pl := range cfg.Plugins {
				bp, ok := Lookup(pl.Name)
				if !ok {
					t.Errorf("example uses %q, not a built-in", pl.Name)
					continue
				}
				used = used || pl.Name == name
				if err := bp.ValidateConfig(pl.Config); err != nil {
					t.Errorf("example config of %s: %v", pl.Name, err)
				}
			}
			if !used {
				t.Errorf("example does not use %s", name)
			}
		})
	}
}
