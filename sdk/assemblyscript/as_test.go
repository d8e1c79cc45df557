package assemblyscript_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
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

// parseModule reads b with abi/wasmbin.
func parseModule(b []byte) (*wasmModule, error) {
	pm, err := wasmbin.Parse(b)
	if err != nil {
		return nil, err
	}
	m := &wasmModule{hasStart: pm.HasStart}
	for _, im := range pm.Imports {
		m.imports = append(m.imports, wasmImport{module: im.Module, name: im.Name, kind: im.Kind, params: im.Params, results: im.Results})
	}
	for _, ex := range pm.Exports {
		m.exports = append(m.exports, wasmExport{name: ex.Name, kind: ex.Kind, params: ex.Params, results: ex.Results})
	}
	return m, nil
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
