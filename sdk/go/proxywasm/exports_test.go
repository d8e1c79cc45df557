package proxywasm_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
)

// wasmFunc is a function import or export with its signature.
type wasmFunc struct {
	module, name    string // module is "" for exports
	params, results []abi.ValType
}

// readFuncs returns the function imports and the function exports of the
// wasm module b.
func readFuncs(b []byte) (imports, exports []wasmFunc, err error) {
	m, err := wasmbin.Parse(b)
	if err != nil {
		return nil, nil, err
	}
	for _, im := range m.Imports {
		if im.Kind == wasmbin.KindFunc {
			imports = append(imports, wasmFunc{module: im.Module, name: im.Name, params: im.Params, results: im.Results})
		}
	}
	for _, ex := range m.Exports {
		if ex.Kind == wasmbin.KindFunc {
			exports = append(exports, wasmFunc{name: ex.Name, params: ex.Params, results: ex.Results})
		}
	}
	return imports, exports, nil
}

// wantExports are the callbacks the SDK exports (besides the marker).
var wantExports = []string{
	abi.ExportInitialize, abi.ExportOnMemoryAllocate,
	abi.ExportOnContextCreate, abi.ExportOnDone, abi.ExportOnLog, abi.ExportOnDelete,
	abi.ExportOnVMStart, abi.ExportOnConfigure, abi.ExportOnTick,
	abi.ExportOnRequestHeaders, abi.ExportOnRequestBody, abi.ExportOnRequestTrailers,
	abi.ExportOnResponseHeaders, abi.ExportOnResponseBody, abi.ExportOnResponseTrailers,
	abi.ExportOnHTTPCallResponse, abi.ExportOnQueueReady, abi.ExportOnForeignFunction,
}

// TestExampleModules checks the committed example .wasm files: ABI 0.2.1
// marker, every SDK callback exported with the signature abi.Callbacks
// gives, and every env import a known host function with its exact
// signature. Rebuild the examples (see their main.go) when it fails after
// an SDK change.
func TestExampleModules(t *testing.T) {
	paths, err := filepath.Glob("../examples/*/*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"../examples/auth/auth.wasm", "../examples/headers/headers.wasm"} {
		if !slices.Contains(paths, want) {
			t.Errorf("%s missing: build it (see its main.go)", want)
		}
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			imports, exports, err := readFuncs(b)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			byName := make(map[string]wasmFunc)
			for _, e := range exports {
				names = append(names, e.name)
				byName[e.name] = e
			}
			v, err := abi.DetectVersion(names)
			if err != nil || v != abi.V0_2_1 {
				t.Fatalf("DetectVersion = %v, %v; want 0.2.1", v, err)
			}
			for _, name := range append([]string{abi.ExportABIVersion0_2_1}, wantExports...) {
				e, ok := byName[name]
				if !ok {
					t.Errorf("export %s missing", name)
					continue
				}
				cb, ok := abi.LookupCallback(name, v)
				if !ok {
					t.Errorf("export %s: not in abi.Callbacks", name)
					continue
				}
				if !slices.Equal(e.params, cb.Params) || !slices.Equal(e.results, cb.Results) {
					t.Errorf("export %s has signature %v -> %v, want %s", name, e.params, e.results, cb)
				}
			}
			envImports := 0
			var other []string
			for _, imp := range imports {
				if imp.module != abi.ModuleEnv {
					other = append(other, imp.module+"."+imp.name)
					continue
				}
				envImports++
				f, ok := abi.LookupHostFunc(imp.name)
				if !ok || !f.In(v) {
					t.Errorf("import env.%s is not a 0.2.1 host function", imp.name)
					continue
				}
				if !slices.Equal(imp.params, f.Params) || !slices.Equal(imp.results, f.Results) {
					t.Errorf("import env.%s has signature %v -> %v, want %s", imp.name, imp.params, imp.results, f)
				}
			}
			if envImports == 0 {
				t.Error("module imports no env host function")
			}
			t.Logf("%d bytes, %d exports, %d env imports, other imports: %v", len(b), len(exports), envImports, other)
		})
	}
}

func TestReadFuncsRejectsGarbage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "not wasm", in: []byte("hello world!")},
		{name: "truncated section", in: []byte("\x00asm\x01\x00\x00\x00\x07\x10\x01")},
		{name: "export index out of range", in: []byte("\x00asm\x01\x00\x00\x00\x07\x05\x01\x01f\x00\x05")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := readFuncs(tt.in); err == nil {
				t.Error("want error")
			}
		})
	}
}
