package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
	"github.com/weirproxy/weir/host/wasm"
)

// checkModule runs the static module checks and compiles the module
// with the real engine (r.mod stays nil when that fails).
func (r *run) checkModule() {
	t0 := time.Now()
	bin, err := wasmbin.Parse(r.module)
	if err != nil {
		r.set("module.valid-wasm", Fail, fmt.Sprintf("not a WebAssembly binary module: %v. Give the compiled .wasm (not .wat or a text file); check the build produced a wasm32 module.", err), time.Since(t0))
		r.skipWhy = "skipped: the file is not a WebAssembly module (see module.valid-wasm)"
		return
	}
	r.bin = bin
	var exports []string
	for _, e := range bin.Exports {
		exports = append(exports, e.Name)
	}
	ver, verr := abi.DetectVersion(exports)

	// module.abi-version
	r.timed("module.abi-version", func() (Verdict, string) {
		switch {
		case errors.Is(verr, abi.ErrNoABIVersion):
			return Fail, "the module exports no proxy_abi_version_* function, so Weir, Envoy and every proxy-wasm host refuse to load it. Build with a proxy-wasm SDK (it exports the marker), or export an empty function named " + abi.ExportABIVersion0_2_1 + "."
		case verr != nil:
			return Fail, verr.Error() + ". Export exactly one marker: " + abi.ExportABIVersion0_2_1 + " (current), " + abi.ExportABIVersion0_2_0 + " or " + abi.ExportABIVersion0_1_0 + "."
		}
		return Pass, fmt.Sprintf("exports %s: ABI %s", ver.MarkerExport(), ver)
	})

	// module.required-exports
	r.timed("module.required-exports", func() (Verdict, string) {
		var problems, notes []string
		has := func(n string) (wasmbin.Export, bool) {
			i := slices.IndexFunc(bin.Exports, func(e wasmbin.Export) bool { return e.Name == n && e.Kind == wasmbin.KindFunc })
			if i < 0 {
				return wasmbin.Export{}, false
			}
			return bin.Exports[i], true
		}
		_, a1 := has(abi.ExportOnMemoryAllocate)
		_, a2 := has(abi.ExportMalloc)
		if !a1 && !a2 {
			problems = append(problems, "exports neither proxy_on_memory_allocate nor malloc: the host cannot hand data (headers, bodies, configuration) to the plugin; export an allocator (every SDK does)")
		}
		if _, ok := has(abi.ExportOnContextCreate); !ok {
			problems = append(problems, "does not export proxy_on_context_create: the plugin can never create a context, so none of its callbacks does anything")
		}
		if ver != abi.VersionUnknown {
			for _, e := range bin.Exports {
				if e.Kind != wasmbin.KindFunc || !strings.HasPrefix(e.Name, "proxy_") || strings.HasPrefix(e.Name, abi.ABIVersionExportPrefix) {
					continue
				}
				cb, ok := abi.LookupCallback(e.Name, ver)
				if !ok {
					if !isKnownCallbackName(e.Name) {
						notes = append(notes, e.Name+" is not a proxy-wasm callback (never called)")
					}
					continue
				}
				if !slices.Equal(cb.Params, e.Params) || !slices.Equal(cb.Results, e.Results) {
					got := abi.Callback{Name: e.Name, Params: e.Params, Results: e.Results}
					problems = append(problems, fmt.Sprintf("exports %s but ABI %s defines %s: the host's call would trap; rebuild with an SDK for ABI %s", got, ver, cb, ver))
				}
			}
		}
		if len(problems) > 0 {
			return Fail, "the module " + strings.Join(problems, "; the module ")
		}
		alloc := abi.ExportOnMemoryAllocate
		if !a1 {
			alloc = abi.ExportMalloc
		}
		ev := "allocator " + alloc + ", proxy_on_context_create and every proxy_on_* signature match the ABI"
		if len(notes) > 0 {
			ev += "; note: " + strings.Join(notes, "; ")
		}
		return Pass, ev
	})

	// module.imports
	r.timed("module.imports", func() (Verdict, string) {
		var bad, stubbed []string
		ok := 0
		for _, im := range bin.Imports {
			name := im.Module + "." + im.Name
			switch im.Module {
			case abi.ModuleWASISnapshotPreview1, abi.ModuleWASIUnstable:
				if im.Kind != wasmbin.KindFunc {
					bad = append(bad, name+" is not a function (WASI provides functions only)")
					continue
				}
				ok++
			case abi.ModuleEnv:
				if im.Kind != wasmbin.KindFunc {
					bad = append(bad, fmt.Sprintf("%s: the host's env module provides functions only (the module imports a %s); export the memory/table/global from the module instead", name, kindName(im.Kind)))
					continue
				}
				f, known := abi.LookupHostFunc(im.Name)
				if !known {
					stubbed = append(stubbed, name)
					continue
				}
				if !slices.Equal(f.Params, im.Params) || !slices.Equal(f.Results, im.Results) {
					got := abi.HostFunc{Name: im.Name, Params: im.Params, Results: im.Results}
					bad = append(bad, fmt.Sprintf("imports %s but the host provides %s: instantiation fails; rebuild with a current SDK", got, f))
					continue
				}
				ok++
			default:
				bad = append(bad, fmt.Sprintf("%s: no proxy-wasm host provides module %q (only env, %s and %s): instantiation fails", name, im.Module, abi.ModuleWASISnapshotPreview1, abi.ModuleWASIUnstable))
			}
		}
		switch {
		case len(bad) > 0:
			return Fail, strings.Join(bad, "\n")
		case len(stubbed) > 0:
			return Warn, fmt.Sprintf("%d imports satisfied; %d bound to stubs that answer UNIMPLEMENTED (the plugin must cope): %s", ok, len(stubbed), strings.Join(stubbed, ", "))
		}
		return Pass, fmt.Sprintf("all %d imports are proxy-wasm host functions or WASI with matching signatures", ok)
	})

	// module.memory-export
	r.timed("module.memory-export", func() (Verdict, string) {
		for _, e := range bin.Exports {
			if e.Name == "memory" && e.Kind == wasmbin.KindMemory {
				return Pass, "exports memory \"memory\""
			}
		}
		return Fail, "the module does not export its memory as \"memory\": the host cannot read or write guest data. Export it (clang: the default; --export-memory; Rust/Go/AssemblyScript SDKs do it)."
	})

	// Compile with the engine Weir uses.
	t0 = time.Now()
	mod, err := r.eng.Compile(r.ctx, r.opts.Name, r.module)
	switch {
	case err == nil:
		r.mod = mod
		r.set("module.valid-wasm", Pass, fmt.Sprintf("valid wasm v1 module: %d imports, %d exports, compiled by wazero%s", len(bin.Imports), len(bin.Exports), producers(bin)), time.Since(t0))
		if mod.Instrumented() {
			r.set("module.instrumented", Pass, "instrumented: deadline checks at function entries and loop headers", 0)
		} else {
			r.set("module.instrumented", Warn, "Weir could not instrument the module and runs it under wazero's slower termination checks (about 100x more per loop iteration); please report the module to Weir", 0)
		}
	case errors.Is(err, abi.ErrNoABIVersion), errors.Is(err, abi.ErrUnknownABIVersion), errors.Is(err, abi.ErrMultipleABIVersions), errors.Is(err, wasm.ErrNoAllocator):
		// Reported by module.abi-version / module.required-exports.
		r.set("module.valid-wasm", Pass, fmt.Sprintf("valid wasm v1 module: %d imports, %d exports%s", len(bin.Imports), len(bin.Exports), producers(bin)), time.Since(t0))
		r.skipWhy = "skipped: Weir refuses to load the module: " + err.Error()
	default:
		r.set("module.valid-wasm", Fail, "wazero refused the module: "+err.Error()+". Use only WebAssembly 2.0 features wazero supports (no threads, no exceptions, no GC proposals).", time.Since(t0))
		r.skipWhy = "skipped: the module does not compile (see module.valid-wasm)"
	}
}

func isKnownCallbackName(n string) bool {
	for _, c := range abi.Callbacks {
		if c.Name == n {
			return true
		}
	}
	return false
}

func kindName(k byte) string {
	switch k {
	case wasmbin.KindFunc:
		return "function"
	case wasmbin.KindTable:
		return "table"
	case wasmbin.KindMemory:
		return "memory"
	case wasmbin.KindGlobal:
		return "global"
	}
	return fmt.Sprintf("kind %d", k)
}

// producers describes the producers section ("; built with go1.24").
func producers(bin *wasmbin.Module) string {
	var parts []string
	for _, field := range []string{"language", "processed-by", "sdk"} {
		for _, p := range bin.Producers[field] {
			parts = append(parts, strings.TrimSpace(p[0]+" "+p[1]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; producers: " + strings.Join(parts, ", ")
}

// checkStart starts the plugin (module.start) and checks the invalid
// configuration (module.rejects-invalid-config).
func (r *run) checkStart() {
	r.timed("module.start", func() (Verdict, string) {
		h, err := startPlugin(r.ctx, r.eng, r.mod, r.pluginName(), r.opts.Config, &r.opts, r.lat)
		if err != nil {
			r.skipWhy = "skipped: the plugin does not start (see module.start)"
			return Fail, fmt.Sprintf("the start sequence failed with configuration %s: %v", quoteConfig(r.opts.Config), err) + startHint(err)
		}
		r.main = h
		return Pass, fmt.Sprintf("started with configuration %s", quoteConfig(r.opts.Config))
	})
	r.timed("module.rejects-invalid-config", func() (Verdict, string) {
		if r.main == nil {
			return Skip, "skipped: the plugin does not start with its valid configuration (see module.start)"
		}
		if r.opts.InvalidConfig == nil {
			return Skip, "no invalid configuration given (Options.InvalidConfig, --invalid-config, or invalid_config in a scenario file)"
		}
		h, err := startPlugin(r.ctx, r.eng, r.mod, r.pluginName(), r.opts.InvalidConfig, &r.opts, nil)
		if err == nil {
			h.close()
			return Fail, fmt.Sprintf("the plugin accepted the invalid configuration %s: proxy_on_configure must return false for it, so the operator sees the error at load time", quoteConfig(r.opts.InvalidConfig))
		}
		if errors.Is(err, wasm.ErrPluginFailed) {
			return Fail, fmt.Sprintf("the plugin trapped on the invalid configuration %s instead of returning false from proxy_on_configure: %v", quoteConfig(r.opts.InvalidConfig), err)
		}
		return Pass, "refused cleanly: " + err.Error()
	})
}

func startHint(err error) string {
	switch {
	case errors.Is(err, wasm.ErrPluginFailed):
		return "\nThe plugin trapped or overran its deadline while starting: the stack trace above names the guest function."
	case strings.Contains(err.Error(), "rejected its"):
		return "\nThe plugin refused the configuration: pass the configuration it expects (--config FILE, or config: in a scenario file)."
	}
	return ""
}

// quoteConfig shows a configuration for evidence, cut to 200 bytes.
func quoteConfig(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}
