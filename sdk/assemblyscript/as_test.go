package assemblyscript_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
)

// example is one committed AssemblyScript example module.
type example struct {
	name  string // directory under examples/
	entry string // AssemblyScript entry file, relative to this directory
	wasm  string // committed module, relative to this directory
}

var examples = []example{
	{name: "headers", entry: "examples/headers/assembly/index.ts", wasm: "examples/headers/headers.wasm"},
	{name: "auth", entry: "examples/auth/assembly/index.ts", wasm: "examples/auth/auth.wasm"},
}

// ascFlags are the compiler flags of every example; README.md and
// Taskfile.yml use the same. --use abort=abort_proc_exit routes aborts to
// proxy-runtime's handler (log, then WASI proc_exit) instead of importing
// env.abort; --noAssert is required (see README.md: with assertions
// proxy-runtime 0.1.8 leaks memory on every proxy_on_log).
var ascFlags = []string{"--use", "abort=abort_proc_exit", "--runtime", "half", "-O", "--noAssert"}

// The ABI marker @solo-io/proxy-runtime 0.1.8 exports (assembly/exports.ts).
const wantVersion = abi.V0_2_0

// wantCallbacks must be exported by every example, with the signature
// abi.Callbacks gives for wantVersion.
var wantCallbacks = []string{
	abi.ExportOnContextCreate, abi.ExportOnVMStart, abi.ExportOnConfigure,
	abi.ExportOnRequestHeaders, abi.ExportOnResponseHeaders,
	abi.ExportOnDone, abi.ExportOnLog, abi.ExportOnDelete,
}

// nonSpecExports are proxy_* exports of proxy-runtime 0.1.8 that the spec
// does not define: it misspells proxy_on_grpc_receive_trailing_metadata, so
// a host never calls it (Weir answers gRPC calls UNIMPLEMENTED anyway).
var nonSpecExports = []string{"proxy_on_grpc_trailing_metadata"}

// wasiImports are the only non-env imports allowed: proxy-runtime's
// abort_proc_exit calls proc_exit from AssemblyScript's wasi_unstable
// bindings; Weir aliases wasi_unstable to wasi_snapshot_preview1.
var wasiImports = map[string]abi.HostFunc{
	abi.ModuleWASIUnstable + ".proc_exit":         {Name: "proc_exit", Params: []abi.ValType{abi.ValTypeI32}},
	abi.ModuleWASISnapshotPreview1 + ".proc_exit": {Name: "proc_exit", Params: []abi.ValType{abi.ValTypeI32}},
}

// A minimal reader of the wasm binary format (the standard library has
// none): enough for a module's imports, function exports with their
// signatures, and whether it has a start section.

// wasmImport is one import; params/results are set for functions only.
type wasmImport struct {
	module, name    string
	kind            byte // 0 func, 1 table, 2 memory, 3 global
	params, results []abi.ValType
}

// wasmExport is one export; params/results are set for functions only.
type wasmExport struct {
	name            string
	kind            byte
	params, results []abi.ValType
}

type wasmModule struct {
	imports  []wasmImport
	exports  []wasmExport
	hasStart bool
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

// u32 reads an unsigned LEB128 of at most 5 bytes.
func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 longer than 5 bytes")
	return 0
}

func (r *wasmReader) bytes(n uint32) []byte {
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail("length %d beyond the data", n)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *wasmReader) name() string { return string(r.bytes(r.u32())) }

func (r *wasmReader) valTypes() []abi.ValType {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)) {
		r.fail("%d value types beyond the data", n)
		return nil
	}
	out := make([]abi.ValType, 0, n)
	for range n {
		out = append(out, abi.ValType(r.byte()))
	}
	return out
}

func (r *wasmReader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}

// parseModule reads the imports, exports and start section of module b.
func parseModule(b []byte) (*wasmModule, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || binary.LittleEndian.Uint32(b[4:]) != 1 {
		return nil, errors.New("not a wasm v1 module")
	}
	type sig struct{ params, results []abi.ValType }
	var (
		m         wasmModule
		types     []sig
		funcTypes []uint32 // type index of each function index (imports first)
		importTys []uint32 // type index of each function import, in m.imports order
		expIdx    []uint32 // function index of each function export
	)
	r := &wasmReader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		sec := &wasmReader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for range sec.u32() {
				if sec.byte() != 0x60 {
					sec.fail("type is not a function type")
				}
				types = append(types, sig{sec.valTypes(), sec.valTypes()})
			}
		case 2: // import
			for range sec.u32() {
				im := wasmImport{module: sec.name(), name: sec.name(), kind: sec.byte()}
				switch im.kind {
				case 0:
					ti := sec.u32()
					funcTypes = append(funcTypes, ti)
					importTys = append(importTys, ti)
				case 1: // table: reftype, limits
					sec.byte()
					sec.limits()
				case 2: // memory: limits
					sec.limits()
				case 3: // global: valtype, mutability
					sec.byte()
					sec.byte()
				default:
					sec.fail("unknown import kind %d", im.kind)
				}
				m.imports = append(m.imports, im)
			}
		case 3: // function
			for range sec.u32() {
				funcTypes = append(funcTypes, sec.u32())
			}
		case 7: // export
			for range sec.u32() {
				ex := wasmExport{name: sec.name(), kind: sec.byte()}
				idx := sec.u32()
				if ex.kind == 0 {
					expIdx = append(expIdx, idx)
				}
				m.exports = append(m.exports, ex)
			}
		case 8: // start
			sec.u32()
			m.hasStart = true
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	sigOf := func(ti uint32) (sig, error) {
		if uint64(ti) >= uint64(len(types)) {
			return sig{}, fmt.Errorf("type index %d out of range", ti)
		}
		return types[ti], nil
	}
	fi := 0
	for i := range m.imports {
		if m.imports[i].kind != 0 {
			continue
		}
		s, err := sigOf(importTys[fi])
		if err != nil {
			return nil, fmt.Errorf("import %s.%s: %w", m.imports[i].module, m.imports[i].name, err)
		}
		m.imports[i].params, m.imports[i].results = s.params, s.results
		fi++
	}
	ei := 0
	for i := range m.exports {
		if m.exports[i].kind != 0 {
			continue
		}
		idx := expIdx[ei]
		ei++
		if uint64(idx) >= uint64(len(funcTypes)) {
			return nil, fmt.Errorf("export %s: function index %d out of range", m.exports[i].name, idx)
		}
		s, err := sigOf(funcTypes[idx])
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", m.exports[i].name, err)
		}
		m.exports[i].params, m.exports[i].results = s.params, s.results
	}
	return &m, nil
}

func sigString(name string, params, results []abi.ValType) string {
	return abi.HostFunc{Name: name, Params: params, Results: results}.String()
}

// TestExampleModules checks the committed modules without node: the ABI
// marker proxy-runtime 0.1.8 emits, every import, and the callbacks.
func TestExampleModules(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			b, err := os.ReadFile(ex.wasm)
			if err != nil {
				t.Fatalf("%v (build it: see README.md)", err)
			}
			m, err := parseModule(b)
			if err != nil {
				t.Fatalf("%s: %v", ex.wasm, err)
			}

			var names []string
			for _, e := range m.exports {
				names = append(names, e.name)
			}
			v, err := abi.DetectVersion(names)
			if err != nil {
				t.Fatalf("ABI version: %v", err)
			}
			if v != wantVersion {
				t.Errorf("ABI marker %s, want %s", v.MarkerExport(), wantVersion.MarkerExport())
			}

			envImports := 0
			for _, im := range m.imports {
				id := im.module + "." + im.name
				if im.kind != 0 {
					t.Errorf("import %s of kind %d: the host provides functions only", id, im.kind)
					continue
				}
				got := sigString(im.name, im.params, im.results)
				if im.module == abi.ModuleEnv {
					envImports++
					if im.name == abi.FuncAbort {
						t.Errorf("imports env.abort: build with --use abort=abort_proc_exit")
						continue
					}
					f, ok := abi.LookupHostFunc(im.name)
					if !ok {
						t.Errorf("import %s is not a Weir host function", id)
						continue
					}
					if !f.In(v) {
						t.Errorf("import %s is not part of ABI %s", id, v)
					}
					if want := f.String(); got != want {
						t.Errorf("import %s: signature %s, want %s", id, got, want)
					}
					continue
				}
				w, ok := wasiImports[id]
				if !ok {
					t.Errorf("unexpected import %s %s", id, got)
					continue
				}
				if want := w.String(); got != want {
					t.Errorf("import %s: signature %s, want %s", id, got, want)
				}
			}
			if envImports == 0 {
				t.Error("no env imports: not a proxy-wasm module")
			}

			exported := map[string]wasmExport{}
			for _, e := range m.exports {
				exported[e.name] = e
			}
			if e, ok := exported["memory"]; !ok || e.kind != 2 {
				t.Error("memory is not exported")
			}
			if _, ok := exported[abi.ExportOnMemoryAllocate]; !ok {
				if _, ok := exported[abi.ExportMalloc]; !ok {
					t.Errorf("exports neither %s nor %s", abi.ExportOnMemoryAllocate, abi.ExportMalloc)
				}
			}
			for _, name := range wantCallbacks {
				if _, ok := exported[name]; !ok {
					t.Errorf("callback %s not exported", name)
				}
			}
			for _, e := range m.exports {
				if e.kind != 0 {
					continue
				}
				c, ok := abi.LookupCallback(e.name, v)
				if !ok {
					if strings.HasPrefix(e.name, "proxy_") && !slices.Contains(nonSpecExports, e.name) {
						t.Errorf("export %s is not a proxy-wasm %s callback", e.name, v)
					}
					continue
				}
				got := sigString(e.name, e.params, e.results)
				if want := c.String(); got != want {
					t.Errorf("export %s: signature %s, want %s", e.name, got, want)
				}
			}
			for _, name := range nonSpecExports {
				if _, ok := exported[name]; !ok {
					t.Errorf("non-spec export %s is gone: update nonSpecExports and README.md", name)
				}
			}

			// AssemblyScript runs top-level code (here: registerRootContext)
			// in the start section, not _start/_initialize: a host that
			// rewrites modules must still run it before proxy_on_context_create.
			if !m.hasStart {
				t.Error("no start section: the root contexts would never be registered")
			}
			for _, name := range []string{abi.ExportStart, abi.ExportInitialize} {
				if _, ok := exported[name]; ok {
					t.Errorf("exports %s: expected AssemblyScript's start section only", name)
				}
			}
		})
	}
}

// TestParseModuleErrors checks that the reader rejects malformed input
// instead of panicking or reporting a partial module.
func TestParseModuleErrors(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	cases := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "bad magic", in: []byte("\x00wasm\x01\x00\x00")},
		{name: "version 2", in: []byte("\x00asm\x02\x00\x00\x00")},
		{name: "section beyond data", in: append(slices.Clone(header), 1, 10, 0)},
		{name: "overlong LEB128", in: append(slices.Clone(header), 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0)},
		{name: "non-func type", in: append(slices.Clone(header), 1, 4, 1, 0x5f, 0, 0)},
		{name: "export index out of range", in: append(slices.Clone(header), 7, 5, 1, 1, 'f', 0, 3)},
		{name: "import type out of range", in: append(slices.Clone(header), 2, 7, 1, 1, 'm', 1, 'f', 0, 9)},
		{name: "unknown import kind", in: append(slices.Clone(header), 2, 7, 1, 1, 'm', 1, 'f', 9, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if m, err := parseModule(c.in); err == nil {
				t.Errorf("parseModule accepted it: %+v", m)
			}
		})
	}
	// A minimal valid module: one env import, exported, and a start section.
	ok := append(slices.Clone(header),
		1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, // type 0: (i32) -> i32
		2, 9, 1, 3, 'e', 'n', 'v', 1, 'f', 0, 0, // import env.f: type 0
		7, 5, 1, 1, 'g', 0, 0, // export g = func 0
		8, 1, 0, // start func 0
	)
	m, err := parseModule(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.imports) != 1 || m.imports[0].module != "env" || m.imports[0].name != "f" ||
		!slices.Equal(m.imports[0].params, []abi.ValType{abi.ValTypeI32}) ||
		len(m.exports) != 1 || m.exports[0].name != "g" || !slices.Equal(m.exports[0].results, []abi.ValType{abi.ValTypeI32}) ||
		!m.hasStart {
		t.Errorf("parsed %+v", m)
	}
}

// TestRebuildMatches rebuilds every example with the pinned compiler and
// compares the result with the committed module byte for byte. It needs
// npx and the npm packages (npm ci in this directory); it never downloads.
func TestRebuildMatches(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds with node: skipped in -short mode")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Skip("npx not found: skipping the rebuild check")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "assemblyscript", "package.json")); err != nil {
		t.Skip("npm packages not installed: run `npm ci` in sdk/assemblyscript to enable the rebuild check")
	}
	dir := t.TempDir()
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			want, err := os.ReadFile(ex.wasm)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, ex.name+".wasm")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			// --no: use the local compiler only, never fetch one.
			args := append([]string{"--no", "asc", ex.entry, "-b", out}, ascFlags...)
			cmd := exec.CommandContext(ctx, npx, args...)
			var stderr bytes.Buffer
			cmd.Stdout = &stderr
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("npx %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rebuilt %s (%d bytes) differs from the committed %s (%d bytes): rebuild with `go tool task -t sdk/assemblyscript/Taskfile.yml build` and commit it",
					ex.entry, len(got), ex.wasm, len(want))
			}
		})
	}
}
