package conformance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/abi/wasmbin"
)

// staticFFIName reports whether a foreign function name is distinctive
// enough to find in a module's data by a byte search (short generic ones
// like "sign" or "compress" are only detected when called). Envoy names
// Weir implements (clear_route_cache) are only reported when called:
// SDKs name them in helpers most plugins never use.
func staticFFIName(name string) bool {
	return strings.Contains(name, ".") || strings.Contains(name, "_")
}

// ffiUse returns the foreign functions of origin the module names in its
// data or called during the run, with how each was found.
func (r *run) ffiUse(origin abi.Origin) []string {
	var out []string
	for _, f := range abi.ForeignFunctions {
		if f.Origin != origin {
			continue
		}
		how := ""
		switch {
		case r.ffCalls[f.Name]:
			how = "called"
		case staticFFIName(f.Name) && (origin == abi.OriginWeir || !f.Implemented) && bytes.Contains(r.module, []byte(f.Name)):
			how = "named in the module's data, possibly an unused SDK helper"
		default:
			continue
		}
		desc := fmt.Sprintf("%s (%s", f.Name, how)
		if !f.Implemented {
			desc += "; Weir answers UNIMPLEMENTED"
		}
		out = append(out, desc+")")
	}
	return out
}

func (r *run) checkPortability() {
	if r.bin == nil {
		return
	}
	r.timed("portability.weir-extensions", func() (Verdict, string) {
		use := r.ffiUse(abi.OriginWeir)
		var props []string
		for p := range r.propsRead {
			if strings.HasPrefix(p, "weir.") {
				props = append(props, p)
			}
		}
		slices.Sort(props)
		for _, p := range props {
			use = append(use, p+" (property read)")
		}
		if len(use) > 0 {
			return Warn, "uses Weir extensions: " + strings.Join(use, ", ") + ". Other proxy-wasm hosts (Envoy) answer NOT_FOUND: handle that, or document the plugin as Weir-only."
		}
		return Pass, "no weir.* foreign function or property seen"
	})
	r.timed("portability.envoy-only", func() (Verdict, string) {
		use := r.ffiUse(abi.OriginEnvoy)
		for _, e := range r.bin.Exports {
			if e.Kind != wasmbin.KindFunc {
				continue
			}
			for _, c := range abi.Callbacks {
				if c.Name == e.Name && c.EnvoyOnly {
					use = append(use, e.Name+" (exported callback; Weir never calls it)")
					break
				}
			}
		}
		if len(use) > 0 {
			return Warn, "uses Envoy-only features: " + strings.Join(use, ", ") + ". In Weir these do nothing or answer UNIMPLEMENTED: make sure the plugin still behaves."
		}
		return Pass, "no Envoy-only foreign function or callback seen"
	})
	r.timed("portability.abi-0.1.0", func() (Verdict, string) {
		var use []string
		exports := make([]string, 0, len(r.bin.Exports))
		for _, e := range r.bin.Exports {
			exports = append(exports, e.Name)
		}
		if v, err := abi.DetectVersion(exports); err == nil && v == abi.V0_1_0 {
			use = append(use, "targets ABI 0.1.0 (proxy_abi_version_0_1_0); current hosts prefer 0.2.1")
		}
		for _, im := range r.bin.Imports {
			if im.Module != abi.ModuleEnv {
				continue
			}
			if f, ok := abi.LookupHostFunc(im.Name); ok && f.Until == abi.V0_2_0 {
				use = append(use, "imports "+im.Name+" (0.1.0 only, removed in 0.2.0)")
			}
		}
		if len(use) > 0 {
			return Warn, strings.Join(use, "; ") + ". Rebuild with an SDK for ABI 0.2.1 to run on hosts that dropped 0.1.0."
		}
		return Pass, "no ABI 0.1.0-only function imported"
	})
}
