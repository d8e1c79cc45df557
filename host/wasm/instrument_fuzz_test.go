package wasm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weirproxy/weir/abi/wasmbin"
)

// FuzzInstrument feeds mutated modules to the deadline rewriter (and the
// no-op scan, noopExports): it must
// never panic, and a well-formed module it accepts must come out as a
// well-formed binary that exports the stop flag (wazero validates the
// rest, and Compile falls back to the original module when it does not).
func FuzzInstrument(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.wasm")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The no-op scan reads the same untrusted bytes: it must not
		// panic, and what it names must be exported functions.
		noops := noopExports(b)
		if pm, err := wasmbin.Parse(b); err == nil {
			funcs := map[string]bool{}
			for _, e := range pm.Exports {
				funcs[e.Name] = funcs[e.Name] || e.Kind == 0x00
			}
			for name := range noops {
				if !funcs[name] {
					t.Fatalf("noopExports names %q, which is not an exported function", name)
				}
			}
		}
		out, err := instrument(b)
		if err != nil {
			return
		}
		if _, err := wasmbin.Parse(b); err != nil {
			return // garbage in: wazero rejects what comes out
		}
		m, err := wasmbin.Parse(out.wasm)
		if err != nil {
			t.Fatalf("instrumented module does not parse: %v", err)
		}
		found := false
		for _, e := range m.Exports {
			if e.Name == stopGlobalExport {
				found = true
			}
		}
		if !found {
			t.Fatalf("instrumented module lacks the %q export", stopGlobalExport)
		}
	})
}
