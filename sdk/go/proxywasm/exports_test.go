package proxywasm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weirproxy/weir/abi"
)

// A minimal reader of the wasm binary format, enough to list a module's
// function imports and exports with their signatures (the standard library
// has no wasm parser).

type wasmFunc struct {
	module, name    string // module is "" for exports
	params, results []abi.ValType
}

type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *wasmReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("unexpected end of data")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 too long")
	return 0
}

func (r *wasmReader) bytes(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail("length %d beyond data", n)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wasmReader) name() string { return string(r.bytes(r.u32())) }

func (r *wasmReader) valTypes() []abi.ValType {
	n := r.u32()
	var out []abi.ValType
	for range n {
		out = append(out, abi.ValType(r.byte()))
	}
	return out
}

// readFuncs returns the function imports and the function exports of the
// wasm module b.
func readFuncs(b []byte) (imports, exports []wasmFunc, err error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, nil, errors.New("not a wasm v1 module")
	}
	r := &wasmReader{b: b[8:]}
	type sig struct{ params, results []abi.ValType }
	var types []sig
	var funcTypes []uint32 // type index per function index (imports first)
	type export struct {
		name string
		idx  uint32
	}
	var exps []export
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &wasmReader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for range sec.u32() {
				if sec.byte() != 0x60 {
					sec.fail("not a func type")
				}
				types = append(types, sig{sec.valTypes(), sec.valTypes()})
			}
		case 2: // import
			for range sec.u32() {
				mod, name := sec.name(), sec.name()
				switch kind := sec.byte(); kind {
				case 0: // func
					ti := sec.u32()
					funcTypes = append(funcTypes, ti)
					imports = append(imports, wasmFunc{module: mod, name: name, params: []abi.ValType{abi.ValType(ti)}})
				case 1: // table: reftype, limits
					sec.byte()
					if sec.byte()&1 != 0 {
						sec.u32()
					}
					sec.u32()
				case 2: // memory: limits
					if sec.byte()&1 != 0 {
						sec.u32()
					}
					sec.u32()
				case 3: // global: valtype, mut
					sec.byte()
					sec.byte()
				default:
					sec.fail("unknown import kind %d", kind)
				}
			}
		case 3: // function
			for range sec.u32() {
				funcTypes = append(funcTypes, sec.u32())
			}
		case 7: // export
			for range sec.u32() {
				name := sec.name()
				kind := sec.byte()
				idx := sec.u32()
				if kind == 0 {
					exps = append(exps, export{name, idx})
				}
			}
		}
		if sec.err != nil {
			return nil, nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	sigOf := func(ti uint32) (sig, error) {
		if int(ti) >= len(types) {
			return sig{}, fmt.Errorf("type index %d out of range", ti)
		}
		return types[ti], nil
	}
	for i := range imports {
		s, err := sigOf(uint32(imports[i].params[0]))
		if err != nil {
			return nil, nil, err
		}
		imports[i].params, imports[i].results = s.params, s.results
	}
	for _, e := range exps {
		if int(e.idx) >= len(funcTypes) {
			return nil, nil, fmt.Errorf("export %s: function index %d out of range", e.name, e.idx)
		}
		s, err := sigOf(funcTypes[e.idx])
		if err != nil {
			return nil, nil, err
		}
		exports = append(exports, wasmFunc{name: e.name, params: s.params, results: s.results})
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
