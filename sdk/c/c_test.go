package csdk_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
)

// modules are the committed .wasm files built from C, with their source
// (whose top comment holds the exact build command). Paths are relative to
// this directory; build commands use paths relative to the repository root.
var modules = []struct {
	name, src, wasm string
	// wantImports are env imports the module must have (its behaviour
	// needs them); all.wasm must import every host function instead.
	wantImports []string
}{
	{name: "headers", src: "examples/headers/plugin.c", wasm: "examples/headers/headers.wasm",
		wantImports: []string{abi.FuncGetBufferBytes, abi.FuncReplaceHeaderMapValue, abi.FuncLog}},
	{name: "auth", src: "examples/auth/plugin.c", wasm: "examples/auth/auth.wasm",
		wantImports: []string{abi.FuncGetBufferBytes, abi.FuncGetHeaderMapValue, abi.FuncRemoveHeaderMapValue,
			abi.FuncSendLocalResponse, abi.FuncCloseStream, abi.FuncLog}},
	{name: "all", src: "testdata/all.c", wasm: "testdata/all.wasm"},
}

// sdkExports are the callbacks src/proxy_wasm.c exports (besides the
// marker and _initialize): every 0.2.1 callback except the Envoy-only ones,
// the deprecated malloc and the command/main entry points.
var sdkExports = []string{
	abi.ExportOnMemoryAllocate,
	abi.ExportOnContextCreate, abi.ExportOnDone, abi.ExportOnLog, abi.ExportOnDelete,
	abi.ExportOnVMStart, abi.ExportOnConfigure, abi.ExportOnTick,
	abi.ExportOnNewConnection, abi.ExportOnDownstreamData, abi.ExportOnUpstreamData,
	abi.ExportOnDownstreamConnClose, abi.ExportOnUpstreamConnClose,
	abi.ExportOnRequestHeaders, abi.ExportOnRequestBody, abi.ExportOnRequestTrailers,
	abi.ExportOnResponseHeaders, abi.ExportOnResponseBody, abi.ExportOnResponseTrailers,
	abi.ExportOnHTTPCallResponse, abi.ExportOnGRPCReceiveInitialMD, abi.ExportOnGRPCReceive,
	abi.ExportOnGRPCReceiveTrailMD, abi.ExportOnGRPCClose,
	abi.ExportOnQueueReady, abi.ExportOnForeignFunction,
	abi.ExportWeirImplementedCallbacks, // a Weir extension
}

// hostFuncs021 returns the names of the host functions of ABI 0.2.1.
func hostFuncs021() []string {
	var names []string
	for _, f := range abi.HostFunctions {
		if f.In(abi.V0_2_1) {
			names = append(names, f.Name)
		}
	}
	slices.Sort(names)
	return names
}

// ---- The committed modules, read with abi/wasmbin ----

type wasmFunc struct {
	module, name    string // module is "" for exports
	params, results []abi.ValType
}

type wasmModule struct {
	imports, exports []wasmFunc
	// producers is the "producers" custom section: field name -> (name,
	// version) pairs, e.g. "processed-by" -> [["Debian clang", "14.0.6"]].
	producers map[string][][2]string
}

// readModule returns the function imports and exports of b.
func readModule(b []byte) (*wasmModule, error) {
	pm, err := wasmbin.Parse(b)
	if err != nil {
		return nil, err
	}
	m := &wasmModule{producers: pm.Producers}
	for _, im := range pm.Imports {
		if im.Kind == wasmbin.KindFunc {
			m.imports = append(m.imports, wasmFunc{module: im.Module, name: im.Name, params: im.Params, results: im.Results})
		}
	}
	for _, ex := range pm.Exports {
		if ex.Kind == wasmbin.KindFunc {
			m.exports = append(m.exports, wasmFunc{name: ex.Name, params: ex.Params, results: ex.Results})
		}
	}
	return m, nil
}

func TestReadModuleRejectsGarbage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{name: "empty", in: nil},
		{name: "not wasm", in: []byte("hello world!")},
		{name: "truncated section", in: []byte("\x00asm\x01\x00\x00\x00\x07\x10\x01")},
		{name: "export index out of range", in: []byte("\x00asm\x01\x00\x00\x00\x07\x05\x01\x01f\x00\x05")},
		{name: "huge value type count", in: []byte("\x00asm\x01\x00\x00\x00\x01\x06\x01\x60\xff\xff\xff\x0f")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := readModule(tt.in); err == nil {
				t.Error("want error")
			}
		})
	}
}

// TestModules checks the committed .wasm files: ABI 0.2.1 marker, exactly
// the SDK's exports with the signatures abi.Callbacks gives, and only env
// imports, each a 0.2.1 host function with its exact signature (no WASI:
// the SDK needs none). Rebuild with `go tool task sdk-c:build` (or the
// command at the top of each source) when it fails after an SDK change.
func TestModules(t *testing.T) {
	for _, mod := range modules {
		t.Run(mod.name, func(t *testing.T) {
			b, err := os.ReadFile(mod.wasm)
			if err != nil {
				t.Fatalf("%v (build it: see %s)", err, mod.src)
			}
			m, err := readModule(b)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range m.exports {
				names = append(names, e.name)
			}
			v, err := abi.DetectVersion(names)
			if err != nil || v != abi.V0_2_1 {
				t.Fatalf("DetectVersion = %v, %v; want 0.2.1", v, err)
			}
			want := append([]string{abi.ExportABIVersion0_2_1, abi.ExportInitialize}, sdkExports...)
			slices.Sort(want)
			slices.Sort(names)
			if !slices.Equal(names, want) {
				t.Errorf("exports = %q\nwant      %q", names, want)
			}
			for _, e := range m.exports {
				if e.name == abi.ExportWeirImplementedCallbacks {
					if len(e.params) != 0 || !slices.Equal(e.results, []abi.ValType{abi.ValTypeI32}) {
						t.Errorf("export %s has signature %v -> %v, want () -> i32", e.name, e.params, e.results)
					}
					continue
				}
				cb, ok := abi.LookupCallback(e.name, v)
				if !ok {
					continue // reported above
				}
				if !slices.Equal(e.params, cb.Params) || !slices.Equal(e.results, cb.Results) {
					t.Errorf("export %s has signature %v -> %v, want %s", e.name, e.params, e.results, cb)
				}
			}
			var imported []string
			for _, imp := range m.imports {
				if imp.module != abi.ModuleEnv {
					t.Errorf("import %s.%s: the C SDK should import nothing but env", imp.module, imp.name)
					continue
				}
				imported = append(imported, imp.name)
				f, ok := abi.LookupHostFunc(imp.name)
				if !ok || !f.In(v) || !slices.ContainsFunc(abi.HostFunctions, func(h abi.HostFunc) bool { return h.Name == imp.name }) {
					t.Errorf("import env.%s is not a 0.2.1 host function", imp.name)
					continue
				}
				if !slices.Equal(imp.params, f.Params) || !slices.Equal(imp.results, f.Results) {
					t.Errorf("import env.%s has signature %v -> %v, want %s", imp.name, imp.params, imp.results, f)
				}
			}
			slices.Sort(imported)
			if mod.wantImports == nil {
				if want := hostFuncs021(); !slices.Equal(imported, want) {
					t.Errorf("imports = %q\nwant every 0.2.1 host function %q", imported, want)
				}
			}
			for _, name := range mod.wantImports {
				if !slices.Contains(imported, name) {
					t.Errorf("import env.%s missing", name)
				}
			}
			if len(m.producers["processed-by"]) == 0 {
				t.Error("no producers section: cannot tell which clang built it")
			}
			t.Logf("%d bytes, %d exports, %d env imports, producers %q", len(b), len(m.exports), len(imported), m.producers)
		})
	}
}

// TestHeaderDeclarations keeps the C sources in step with package abi: the
// header declares exactly the 0.2.1 host functions, the SDK exports exactly
// sdkExports plus the marker, and every PW_* enum constant has the value
// abi gives it.
func TestHeaderDeclarations(t *testing.T) {
	header, err := os.ReadFile("include/proxy_wasm.h")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("src/proxy_wasm.c")
	if err != nil {
		t.Fatal(err)
	}
	macroArgs := func(b []byte, macro string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^`+macro+`\((\w+)\)`).FindAllSubmatch(b, -1) {
			out = append(out, string(m[1]))
		}
		slices.Sort(out)
		return out
	}
	if got, want := macroArgs(header, "PW_IMPORT"), hostFuncs021(); !slices.Equal(got, want) {
		t.Errorf("header imports %q\nwant %q", got, want)
	}
	wantExports := append([]string{abi.ExportABIVersion0_2_1}, sdkExports...)
	slices.Sort(wantExports)
	if got := macroArgs(src, "PW_EXPORT"); !slices.Equal(got, wantExports) {
		t.Errorf("SDK exports %q\nwant %q", got, wantExports)
	}

	// Enum constants: PW_<GROUP>_<NAME> = n must match abi's String().
	groups := []struct {
		prefix string
		name   func(n uint32) string
	}{
		{"ACTION_", func(n uint32) string { return abi.Action(n).String() }},
		{"BUFFER_", func(n uint32) string { return abi.BufferType(n).String() }},
		{"MAP_", func(n uint32) string { return abi.MapType(n).String() }},
		{"STREAM_", func(n uint32) string { return abi.StreamType(n).String() }},
		{"PEER_", func(n uint32) string { return abi.PeerType(n).String() }},
		{"METRIC_", func(n uint32) string { return abi.MetricType(n).String() }},
		{"LOG_", func(n uint32) string { return abi.LogLevel(n).String() }},
		{"JSON_", nil}, // the SDK's own pw_json_kind_t, not an ABI enum
		{"", func(n uint32) string { return abi.Status(n).String() }},
	}
	seen := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+PW_([A-Z0-9_]+) = (\d+),$`).FindAllSubmatch(header, -1) {
		name := string(m[1])
		n, _ := strconv.ParseUint(string(m[2]), 10, 32)
		for _, g := range groups {
			rest, ok := strings.CutPrefix(name, g.prefix)
			if !ok {
				continue
			}
			seen[g.prefix]++
			if g.name == nil {
				break
			}
			if want := g.name(uint32(n)); !strings.EqualFold(rest, want) {
				t.Errorf("PW_%s = %d, but abi calls %d %q", name, n, n, want)
			}
			break
		}
	}
	wantCounts := map[string]int{"ACTION_": 2, "BUFFER_": 9, "MAP_": 8, "STREAM_": 4, "PEER_": 3,
		"METRIC_": 3, "LOG_": 6, "": 13}
	for prefix, want := range wantCounts {
		if seen[prefix] != want {
			t.Errorf("header defines %d PW_%s* constants, want %d", seen[prefix], prefix, want)
		}
	}
	for _, def := range []struct{ macro, want string }{
		{"PW_MAX_PAIRS_BYTES", fmt.Sprintf("(1u << %d)", bitsOf(abi.MaxPairsBytes))},
		{"PW_MAX_PAIRS_COUNT", fmt.Sprintf("%du", abi.MaxPairsCount)},
	} {
		if !bytes.Contains(header, []byte("#define "+def.macro+" "+def.want+"\n")) {
			t.Errorf("header lacks #define %s %s (abi limits)", def.macro, def.want)
		}
	}
}

func bitsOf(n int) int {
	b := 0
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// buildCommand returns the clang command documented at the top of src.
func buildCommand(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitN(string(b), "\n", 10) {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*")), "clang "); ok {
			return "clang " + cmd
		}
	}
	t.Fatalf("%s: no build command in its top comment", src)
	return ""
}

// TestBuildCommands checks that each source documents its build command,
// that the command builds that source into the committed file, and that
// Taskfile.yml runs the very same command.
func TestBuildCommands(t *testing.T) {
	taskfile, err := os.ReadFile("Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range modules {
		t.Run(mod.name, func(t *testing.T) {
			cmd := buildCommand(t, mod.src)
			fields := strings.Fields(cmd)
			if !slices.Contains(fields, "sdk/c/"+mod.src) || !slices.Contains(fields, "sdk/c/src/proxy_wasm.c") {
				t.Errorf("%q does not compile sdk/c/%s with the SDK", cmd, mod.src)
			}
			if !strings.HasSuffix(cmd, " -o sdk/c/"+mod.wasm) {
				t.Errorf("%q does not write sdk/c/%s", cmd, mod.wasm)
			}
			if !bytes.Contains(taskfile, []byte("- "+cmd+"\n")) {
				t.Errorf("Taskfile.yml does not run %q", cmd)
			}
		})
	}
}

// TestReproducibleBuild rebuilds every module with the documented command
// and requires the committed bytes, without compiler warnings. It needs the
// clang that built the committed files (their producers section names it)
// and skips otherwise.
func TestReproducibleBuild(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed (go tool task sdk-c:install)")
	}
	out, err := exec.Command(clang, "--version").Output()
	if err != nil {
		t.Skipf("clang --version: %v", err)
	}
	version := strings.SplitN(string(out), "\n", 2)[0]
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, mod := range modules {
		t.Run(mod.name, func(t *testing.T) {
			committed, err := os.ReadFile(mod.wasm)
			if err != nil {
				t.Fatal(err)
			}
			m, err := readModule(committed)
			if err != nil {
				t.Fatal(err)
			}
			var built []string
			for _, p := range m.producers["processed-by"] {
				built = append(built, p[0]+" version "+p[1])
			}
			if !slices.ContainsFunc(built, func(s string) bool { return strings.Contains(version, s) }) {
				t.Skipf("committed module was built by %q, this is %q", built, version)
			}
			args := strings.Fields(buildCommand(t, mod.src))[1:]
			dst := filepath.Join(tmp, mod.name+".wasm")
			args[len(args)-1] = dst // the value of -o
			cmd := exec.Command(clang, args...)
			cmd.Dir = root
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				if strings.Contains(stderr.String(), "wasm32") || strings.Contains(stderr.String(), "wasi") {
					t.Skipf("no wasm32 toolchain (go tool task sdk-c:install): %v: %s", err, stderr.String())
				}
				t.Fatalf("%v: %s", err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("compiler output (warnings): %s", stderr.String())
			}
			rebuilt, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rebuilt, committed) {
				t.Errorf("rebuilt %s (%d bytes) differs from the committed file (%d bytes): "+
					"rebuild it (go tool task sdk-c:build) and commit it", mod.wasm, len(rebuilt), len(committed))
			}
		})
	}
}

// nativeTest compiles testdata/native_test.c with the SDK for this machine
// and returns the binary, or skips if there is no C compiler.
func nativeTest(t *testing.T) string {
	t.Helper()
	var cc string
	for _, name := range []string{os.Getenv("CC"), "cc", "clang", "gcc"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler")
	}
	bin := filepath.Join(t.TempDir(), "native_test")
	cmd := exec.Command(cc, "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-DPW_NO_TARGET_CHECK",
		"-Iinclude", "src/proxy_wasm.c", "testdata/native_test.c", "-o", bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return bin
}

// TestNativeSDK runs the SDK's C unit tests (pairs codec, context table
// and dispatch, HTTP callouts, the log formatter against the C library's
// snprintf, the JSON API) against a mock host.
func TestNativeSDK(t *testing.T) {
	bin := nativeTest(t)
	out, err := exec.Command(bin, "selftest").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "PASS" {
		t.Fatalf("native_test selftest: %v\n%s", err, out)
	}
}

// jsonSeeds are configuration documents covering what the example plugins
// read and the corners where JSON decoders disagree.
var jsonSeeds = []string{
	``, ` `, `null`, `{}`, `[]`, `"s"`, `1`, `true`, `{"value":"abc"}`, `{"value":1}`, `{"value":null}`,
	`{"Value":"x"}`, `{"VALUE":"x"}`, `{"valuE":true}`, `{"val\u0075e":"esc"}`, `{"value":"a","value":"b"}`,
	`{"keys":["k1","k2"]}`, `{"keys":"k1"}`, `{"keys":[1]}`, `{"keys":null}`, `{"keys":[null,"k1",""]}`,
	`{"KEYS":["k"]}`, "{\"\u212aeys\":[\"k\"]}", "{\"\u017fkeys\":1}", "{\"key\u017f\":1}", "{\"\u0130\":1}",
	`{"value":"\u00e9\ud83d\ude00"}`, `{"value":"\ud800x"}`, `{"value":"\udc00\ud800"}`, `{"value":"\uD800\uD800"}`,
	`{"value":"\uDBFF\uDFFF"}`, `{"value":"\u0000nul"}`, `{"value":"\/\b\f\n\r\t\"\\"}`, `{"value":"\u12"}`,
	`{"value":"\x"}`, `{"value":"x"} x`, `{"value":"x",}`, "{\"value\":\"\x01\"}", "{\"value\":\"x\x7f\"}",
	`{"a":[1,{"b":[]}],"value":"v"}`, `{"value":tru}`, `{"value":"x"`, `{"value":-0.5e+3}`, `{"value":01}`,
	`{"value":-}`, `{"value":1.}`, `{"value":1e}`, `{"value":.5}`, `{"value":1E+2,"x":-0}`, `{ "value" : "sp" }`,
	"\t{\"value\"\n:\r\"ws\"} ", "\ufeff{}", "{\"value\":\"bad\xff\xfeutf\"}", "{\"value\":\"\xed\xa0\x80\"}",
	"{\"value\":\"\xc0\x80\"}", "{\"value\":\"\xf4\x90\x80\x80\"}", "{\"value\":\"\xe2\x82\"}",
	"{\"value\":\"\xf0\x9f\x98\x80\xe0\xa0\"}", "{\"v\xffalue\":\"x\"}", "{\"keys\":[\"\xff\",\"ok\xe2\x82\xac\"]}",
	`{"keys":{}}`, `{"keys":[true,[]]}`, `{"":1,"\"":2}`, `[1,2`, `{"a":1 "b":2}`, `{"a" 1}`, `{1:2}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":` + strings.Repeat(`{"b":`, 9998) + `1` + strings.Repeat(`}`, 9999),
	`{"a":` + strings.Repeat(`{"b":`, 9999) + `1` + strings.Repeat(`}`, 10000),
}

// mutate returns a deterministic variation of doc: a byte flipped, removed,
// inserted or the document truncated, using bytes that matter to JSON.
func mutate(r *rand.Rand, doc string) string {
	const interesting = "{}[]\":,\\/ \t\n0123456789-+.eEtrufalsn\x00\x1f\x7f\x80\xbf\xc3\xe2\xed\xf0\xf4\xff"
	b := []byte(doc)
	for range 1 + r.IntN(3) {
		c := interesting[r.IntN(len(interesting))]
		switch op := r.IntN(4); {
		case len(b) == 0 || op == 0:
			i := r.IntN(len(b) + 1)
			b = slices.Insert(b, i, c)
		case op == 1:
			b[r.IntN(len(b))] = c
		case op == 2:
			i := r.IntN(len(b))
			b = slices.Delete(b, i, i+1)
		default:
			b = b[:r.IntN(len(b))]
		}
	}
	return string(b)
}

// describeGo describes doc the way native_test's json mode does, using
// encoding/json as the reference (the Go SDK's DecodeConfig uses it).
func describeGo(doc string) (string, error) {
	var sb strings.Builder
	if !json.Valid([]byte(doc)) {
		return "invalid\n", nil
	}
	kind := func(raw []byte) int {
		switch c := bytes.TrimLeft(raw, " \t\r\n")[0]; {
		case c == 'n':
			return 1
		case c == 't' || c == 'f':
			return 2
		case c == '"':
			return 4
		case c == '[':
			return 5
		case c == '{':
			return 6
		default:
			return 3
		}
	}
	hexOf := func(s string) string {
		if s == "" {
			return "-"
		}
		return hex.EncodeToString([]byte(s))
	}
	k := kind([]byte(doc))
	fmt.Fprintf(&sb, "valid %d\n", k)
	if k != 6 {
		return sb.String(), nil
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		return "", err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		name := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", err
		}
		// Which struct field does encoding/json assign this member to?
		var fields struct {
			Value *json.RawMessage `json:"value"`
			Keys  *json.RawMessage `json:"keys"`
		}
		quoted, _ := json.Marshal(name)
		if err := json.Unmarshal([]byte(`{`+string(quoted)+`:0}`), &fields); err != nil {
			return "", err
		}
		b2i := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}
		fmt.Fprintf(&sb, "m %s %d %d %d", hexOf(name), b2i(fields.Value != nil), b2i(fields.Keys != nil), kind(raw))
		if kind(raw) == 4 {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", err
			}
			sb.WriteString(" " + hexOf(s))
		}
		sb.WriteByte('\n')
		if kind(raw) == 5 {
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				return "", err
			}
			for _, e := range elems {
				fmt.Fprintf(&sb, "e %d", kind(e))
				if kind(e) == 4 {
					var s string
					if err := json.Unmarshal(e, &s); err != nil {
						return "", err
					}
					sb.WriteString(" " + hexOf(s))
				}
				sb.WriteByte('\n')
			}
		}
	}
	return sb.String(), nil
}

// TestNativeJSONMatchesEncodingJSON feeds the seeds and thousands of
// deterministic mutations to the SDK's JSON reader and to encoding/json,
// and requires the same verdict (valid or not), the same members in order,
// the same field matching (case folding) and the same decoded strings
// (escapes, surrogates, invalid UTF-8 replaced by U+FFFD). This is what
// makes a C plugin accept and read exactly the configurations a Go plugin
// does.
func TestNativeJSONMatchesEncodingJSON(t *testing.T) {
	bin := nativeTest(t)
	docs := slices.Clone(jsonSeeds)
	r := rand.New(rand.NewPCG(1, 2))
	for range 6000 {
		seed := jsonSeeds[r.IntN(len(jsonSeeds)-4)] // mutate the small seeds only
		docs = append(docs, mutate(r, seed))
	}
	var in bytes.Buffer
	for _, d := range docs {
		in.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(d))))
		in.WriteString(d)
	}
	cmd := exec.Command(bin, "json")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("native_test json: %v: %s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	mismatches := 0
	for i, doc := range docs {
		var got strings.Builder
		for sc.Scan() && sc.Text() != "end" {
			got.WriteString(sc.Text() + "\n")
		}
		want, err := describeGo(doc)
		if err != nil {
			t.Fatalf("doc %d %q: reference: %v", i, doc, err)
		}
		if got.String() != want {
			mismatches++
			if mismatches <= 10 {
				short := doc
				if len(short) > 200 {
					short = short[:200] + "…"
				}
				t.Errorf("doc %d %q:\nC SDK:\n%sencoding/json:\n%s", i, short, got.String(), want)
			}
		}
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	if mismatches > 0 {
		t.Errorf("%d of %d documents read differently", mismatches, len(docs))
	}
}
