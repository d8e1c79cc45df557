package abi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// stringConsts returns the string constants declared in file, by name.
func stringConsts(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[id.Name] = v
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no string constants found in %s", file)
	}
	return out
}

// TestNameConstantsInTables checks, in both directions, that every name
// constant in names.go and extensions.go has a table entry and every table
// entry has a constant.
func TestNameConstantsInTables(t *testing.T) {
	tableNames := func(kind string) []string {
		var s []string
		switch kind {
		case "Func":
			for _, f := range HostFunctions {
				s = append(s, f.Name)
			}
			for _, f := range CompatFunctions {
				s = append(s, f.Name)
			}
		case "ExportWeir":
			s = WeirExports
		case "Export":
			for _, c := range Callbacks {
				s = append(s, c.Name)
			}
		case "FFI":
			for _, f := range ForeignFunctions {
				s = append(s, f.Name)
			}
		case "Module":
			s = []string{"env", "wasi_snapshot_preview1", "wasi_unstable"}
		}
		return s
	}
	tests := []struct {
		name     string
		file     string
		prefixes []string
	}{
		{name: "names.go", file: "names.go", prefixes: []string{"Func", "ExportWeir", "Export", "Module"}},
		{name: "extensions.go", file: "extensions.go", prefixes: []string{"FFI", "Key", "Credential"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			consts := stringConsts(t, tt.file)
			values := map[string][]string{} // prefix -> constant values
			for name, v := range consts {
				i := slices.IndexFunc(tt.prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
				if i < 0 {
					t.Errorf("constant %s has no known prefix %v; classify it in this test", name, tt.prefixes)
					continue
				}
				values[tt.prefixes[i]] = append(values[tt.prefixes[i]], v)
				if tbl := tableNames(tt.prefixes[i]); tbl != nil && !slices.Contains(tbl, v) {
					t.Errorf("constant %s = %q is in no table", name, v)
				}
			}
			for _, p := range tt.prefixes {
				for _, n := range tableNames(p) {
					if !slices.Contains(values[p], n) {
						t.Errorf("table entry %q has no %s* constant", n, p)
					}
				}
			}
		})
	}
}

func TestTablesUnique(t *testing.T) {
	t.Run("host functions", func(t *testing.T) {
		seen := map[string]bool{}
		for _, f := range slices.Concat(HostFunctions, CompatFunctions) {
			if seen[f.Name] {
				t.Errorf("duplicate host function %q", f.Name)
			}
			seen[f.Name] = true
		}
	})
	t.Run("callbacks per version", func(t *testing.T) {
		for _, v := range Versions {
			seen := map[string]bool{}
			for _, c := range Callbacks {
				if !c.In(v) {
					continue
				}
				if seen[c.Name] {
					t.Errorf("%s: two callbacks named %q", v, c.Name)
				}
				seen[c.Name] = true
			}
		}
	})
	t.Run("foreign functions", func(t *testing.T) {
		seen := map[string]bool{}
		for _, f := range ForeignFunctions {
			if seen[f.Name] {
				t.Errorf("duplicate foreign function %q", f.Name)
			}
			seen[f.Name] = true
		}
	})
}

func TestTableEntriesWellFormed(t *testing.T) {
	valid := func(ts []ValType) bool {
		for _, v := range ts {
			if v != ValTypeI32 && v != ValTypeI64 {
				return false
			}
		}
		return true
	}
	for _, f := range HostFunctions {
		if !strings.HasPrefix(f.Name, "proxy_") {
			t.Errorf("%s: host function without proxy_ prefix", f.Name)
		}
		if len(f.Results) != 1 || f.Results[0] != ValTypeI32 {
			t.Errorf("%s: results %v, want one i32 status", f, f.Results)
		}
	}
	for _, f := range slices.Concat(HostFunctions, CompatFunctions) {
		if !valid(f.Params) || !valid(f.Results) || f.Doc == "" || f.Since == VersionUnknown ||
			(f.Until != VersionUnknown && f.Until <= f.Since) {
			t.Errorf("%s: malformed entry %+v", f.Name, f)
		}
	}
	for _, c := range Callbacks {
		if !valid(c.Params) || !valid(c.Results) || len(c.Results) > 1 || c.Doc == "" ||
			c.Since == VersionUnknown || (c.Until != VersionUnknown && c.Until <= c.Since) {
			t.Errorf("%s: malformed entry %+v", c.Name, c)
		}
	}
	for _, f := range ForeignFunctions {
		if f.Origin != OriginWeir && f.Origin != OriginEnvoy || f.Args == "" || f.Result == "" || f.Doc == "" {
			t.Errorf("%s: malformed entry %+v", f.Name, f)
		}
	}
}

// TestHostFunctionSignatures pins every host function signature, written
// out independently from the spec (v0.1.0 and v0.2.1 README) and cpp-host
// exports.h, so a typo in the table fails here.
func TestHostFunctionSignatures(t *testing.T) {
	want := []string{
		"proxy_log(i32, i32, i32) i32",
		"proxy_get_log_level(i32) i32",
		"proxy_get_current_time_nanoseconds(i32) i32",
		"proxy_set_tick_period_milliseconds(i32) i32",
		"proxy_set_effective_context(i32) i32",
		"proxy_done() i32",
		"proxy_call_foreign_function(i32, i32, i32, i32, i32, i32) i32",
		"proxy_get_buffer_bytes(i32, i32, i32, i32, i32) i32",
		"proxy_set_buffer_bytes(i32, i32, i32, i32, i32) i32",
		"proxy_get_buffer_status(i32, i32, i32) i32",
		"proxy_get_header_map_pairs(i32, i32, i32) i32",
		"proxy_set_header_map_pairs(i32, i32, i32) i32",
		"proxy_get_header_map_value(i32, i32, i32, i32, i32) i32",
		"proxy_add_header_map_value(i32, i32, i32, i32, i32) i32",
		"proxy_replace_header_map_value(i32, i32, i32, i32, i32) i32",
		"proxy_remove_header_map_value(i32, i32, i32) i32",
		"proxy_get_header_map_size(i32, i32) i32",
		"proxy_continue_stream(i32) i32",
		"proxy_close_stream(i32) i32",
		"proxy_get_status(i32, i32, i32) i32",
		"proxy_send_local_response(i32, i32, i32, i32, i32, i32, i32, i32) i32",
		"proxy_http_call(i32, i32, i32, i32, i32, i32, i32, i32, i32, i32) i32",
		"proxy_grpc_call(i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32) i32",
		"proxy_grpc_stream(i32, i32, i32, i32, i32, i32, i32, i32, i32) i32",
		"proxy_grpc_send(i32, i32, i32, i32) i32",
		"proxy_grpc_cancel(i32) i32",
		"proxy_grpc_close(i32) i32",
		"proxy_get_shared_data(i32, i32, i32, i32, i32) i32",
		"proxy_set_shared_data(i32, i32, i32, i32, i32) i32",
		"proxy_register_shared_queue(i32, i32, i32) i32",
		"proxy_resolve_shared_queue(i32, i32, i32, i32, i32) i32",
		"proxy_enqueue_shared_queue(i32, i32, i32) i32",
		"proxy_dequeue_shared_queue(i32, i32, i32) i32",
		"proxy_define_metric(i32, i32, i32, i32) i32",
		"proxy_increment_metric(i32, i64) i32",
		"proxy_record_metric(i32, i64) i32",
		"proxy_get_metric(i32, i32) i32",
		"proxy_get_property(i32, i32, i32, i32) i32",
		"proxy_set_property(i32, i32, i32, i32) i32",
		"proxy_get_configuration(i32, i32) i32",
		"proxy_continue_request() i32",
		"proxy_continue_response() i32",
		"proxy_clear_route_cache() i32",
	}
	var got []string
	for _, f := range HostFunctions {
		got = append(got, f.String())
	}
	if missing, extra := setDiff(got, want); missing != nil || extra != nil {
		t.Errorf("host function signatures differ\nmissing: %q\nunexpected: %q", missing, extra)
	}
}

// setDiff returns the elements of want missing from got and the elements
// of got not in want (duplicates count).
func setDiff(got, want []string) (missing, extra []string) {
	got = slices.Sorted(slices.Values(got))
	want = slices.Sorted(slices.Values(want))
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

// TestCallbackSignatures pins every callback signature per version.
func TestCallbackSignatures(t *testing.T) {
	common := []string{
		"_initialize()",
		"_start()",
		"main(i32, i32) i32",
		"proxy_on_memory_allocate(i32) i32",
		"malloc(i32) i32",
		"proxy_on_context_create(i32, i32)",
		"proxy_on_done(i32) i32",
		"proxy_on_log(i32)",
		"proxy_on_delete(i32)",
		"proxy_on_vm_start(i32, i32) i32",
		"proxy_on_configure(i32, i32) i32",
		"proxy_validate_configuration(i32, i32) i32",
		"proxy_on_tick(i32)",
		"proxy_on_new_connection(i32) i32",
		"proxy_on_downstream_data(i32, i32, i32) i32",
		"proxy_on_upstream_data(i32, i32, i32) i32",
		"proxy_on_downstream_connection_close(i32, i32)",
		"proxy_on_upstream_connection_close(i32, i32)",
		"proxy_on_request_body(i32, i32, i32) i32",
		"proxy_on_request_trailers(i32, i32) i32",
		"proxy_on_request_metadata(i32, i32) i32",
		"proxy_on_response_body(i32, i32, i32) i32",
		"proxy_on_response_trailers(i32, i32) i32",
		"proxy_on_response_metadata(i32, i32) i32",
		"proxy_on_http_call_response(i32, i32, i32, i32, i32)",
		"proxy_on_grpc_receive_initial_metadata(i32, i32, i32)",
		"proxy_on_grpc_receive(i32, i32, i32)",
		"proxy_on_grpc_receive_trailing_metadata(i32, i32, i32)",
		"proxy_on_grpc_close(i32, i32, i32)",
		"proxy_on_queue_ready(i32, i32)",
	}
	v02 := []string{
		"proxy_on_request_headers(i32, i32, i32) i32",
		"proxy_on_response_headers(i32, i32, i32) i32",
		"proxy_on_foreign_function(i32, i32, i32)",
	}
	tests := []struct {
		name    string
		version Version
		want    []string
	}{
		{name: "0.1.0", version: V0_1_0, want: slices.Concat(common, []string{
			"proxy_abi_version_0_1_0()",
			"proxy_on_request_headers(i32, i32) i32",
			"proxy_on_response_headers(i32, i32) i32",
		})},
		{name: "0.2.0", version: V0_2_0, want: slices.Concat(common, v02, []string{"proxy_abi_version_0_2_0()"})},
		{name: "0.2.1", version: V0_2_1, want: slices.Concat(common, v02, []string{"proxy_abi_version_0_2_1()"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Callbacks {
				if c.In(tt.version) {
					got = append(got, c.String())
				}
			}
			if missing, extra := setDiff(got, tt.want); missing != nil || extra != nil {
				t.Errorf("callbacks for %s differ\nmissing: %q\nunexpected: %q", tt.version, missing, extra)
			}
		})
	}
}

func TestHostFunctionsPerVersion(t *testing.T) {
	tests := []struct {
		name    string
		fn      string
		version Version
		want    bool
	}{
		{name: "log in 0.1.0", fn: FuncLog, version: V0_1_0, want: true},
		{name: "log in 0.2.1", fn: FuncLog, version: V0_2_1, want: true},
		{name: "get_log_level not in 0.2.0", fn: FuncGetLogLevel, version: V0_2_0, want: false},
		{name: "get_log_level in 0.2.1", fn: FuncGetLogLevel, version: V0_2_1, want: true},
		{name: "continue_stream not in 0.1.0", fn: FuncContinueStream, version: V0_1_0, want: false},
		{name: "continue_stream in 0.2.0", fn: FuncContinueStream, version: V0_2_0, want: true},
		{name: "close_stream in 0.2.1", fn: FuncCloseStream, version: V0_2_1, want: true},
		{name: "get_configuration in 0.1.0", fn: FuncGetConfiguration, version: V0_1_0, want: true},
		{name: "get_configuration not in 0.2.0", fn: FuncGetConfiguration, version: V0_2_0, want: false},
		{name: "clear_route_cache not in 0.2.1", fn: FuncClearRouteCache, version: V0_2_1, want: false},
		{name: "foreign function in 0.1.0", fn: FuncCallForeignFunction, version: V0_1_0, want: true},
		{name: "nothing in unknown version", fn: FuncLog, version: VersionUnknown, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := LookupHostFunc(tt.fn)
			if !ok {
				t.Fatalf("LookupHostFunc(%q) not found", tt.fn)
			}
			if got := f.In(tt.version); got != tt.want {
				t.Errorf("%s.In(%s) = %v, want %v", tt.fn, tt.version, got, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name       string
		callback   string
		version    Version
		wantParams int
		wantOK     bool
	}{
		{name: "request headers 0.1.0", callback: ExportOnRequestHeaders, version: V0_1_0, wantParams: 2, wantOK: true},
		{name: "request headers 0.2.0", callback: ExportOnRequestHeaders, version: V0_2_0, wantParams: 3, wantOK: true},
		{name: "response headers 0.2.1", callback: ExportOnResponseHeaders, version: V0_2_1, wantParams: 3, wantOK: true},
		{name: "foreign function absent in 0.1.0", callback: ExportOnForeignFunction, version: V0_1_0},
		{name: "unknown name", callback: "proxy_on_nothing", version: V0_2_1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := LookupCallback(tt.callback, tt.version)
			if ok != tt.wantOK || len(c.Params) != tt.wantParams {
				t.Errorf("LookupCallback(%q, %s) = %v (%d params), %v; want %d params, %v",
					tt.callback, tt.version, c, len(c.Params), ok, tt.wantParams, tt.wantOK)
			}
		})
	}
	if f, ok := LookupHostFunc(FuncEmscriptenNotifyMemGrowth); !ok || len(f.Results) != 0 {
		t.Errorf("LookupHostFunc(compat) = %v, %v", f, ok)
	}
	if _, ok := LookupHostFunc("proxy_nothing"); ok {
		t.Error("LookupHostFunc found an unknown name")
	}
}

func TestSetDiff(t *testing.T) {
	tests := []struct {
		name        string
		got, want   []string
		wantMissing []string
		wantExtra   []string
	}{
		{name: "equal", got: []string{"b", "a"}, want: []string{"a", "b"}},
		{name: "missing", got: []string{"a"}, want: []string{"a", "b"}, wantMissing: []string{"b"}},
		{name: "extra", got: []string{"a", "c"}, want: []string{"a"}, wantExtra: []string{"c"}},
		{name: "duplicate", got: []string{"a", "a"}, want: []string{"a"}, wantExtra: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, e := setDiff(tt.got, tt.want)
			if !slices.Equal(m, tt.wantMissing) || !slices.Equal(e, tt.wantExtra) {
				t.Errorf("setDiff = %q, %q; want %q, %q", m, e, tt.wantMissing, tt.wantExtra)
			}
		})
	}
}

func TestLimitsConsistent(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{name: "max pages * page size", ok: MaxMemoryPages*WasmPageSize == MaxMemoryBytes},
		{name: "default pages * page size", ok: DefaultMemoryPages*WasmPageSize == DefaultMemoryBytes},
		{name: "default memory within max", ok: DefaultMemoryBytes <= MaxMemoryBytes},
		{name: "start deadline covers callback deadline", ok: DefaultStartDeadline >= DefaultCallbackDeadline},
		{name: "smallest pairs fit the byte cap", ok: MaxPairsCount*10+4 <= MaxPairsBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Error("inconsistent limits")
			}
		})
	}
}
