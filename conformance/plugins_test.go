package conformance_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirproxy/weir/conformance"
	builtins "github.com/weirproxy/weir/plugins-src"
)

// PluginScenarioFile is the name of a reference plugin's scenario file,
// beside its README: plugins-src/<name>/conformance.yaml.
const PluginScenarioFile = "conformance.yaml"

// TestReferencePlugins runs the suite over every built-in plugin: each
// plugins-src/<name>/ directory with a plugin.json (the built-in plugin
// contract, plugins-src/README.md) must be embedded under its Kong name,
// have a conformance.yaml beside its README whose configurations its
// schema.json accepts, and its module (plugin.wasm.zst, decompressed) must
// pass every required check with those scenarios.
func TestReferencePlugins(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join(repoRoot, "plugins-src", "*", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests) == 0 {
		t.Fatal("no plugins-src/*/plugin.json: run from the conformance package directory")
	}
	ran := 0
	for _, m := range manifests {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			bp, ok := builtins.Lookup(name)
			if !ok {
				t.Fatalf("plugins-src/%s has a plugin.json but is not a built-in (no plugin.wasm.zst or schema.json?)", name)
			}
			scen, err := conformance.LoadScenarios(filepath.Join(dir, PluginScenarioFile))
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("plugins-src/%s has no %s: write its behaviour scenarios (conformance/README.md)", name, PluginScenarioFile)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The scenarios configure the plugin as an operator would:
			// every configuration must pass its schema, as at load time.
			if err := bp.ValidateConfig(scen.Config); err != nil {
				t.Errorf("%s config: %v", PluginScenarioFile, err)
			}
			for _, s := range scen.Scenarios {
				if len(s.Config) == 0 {
					continue
				}
				if err := bp.ValidateConfig(s.Config); err != nil {
					t.Errorf("%s scenario %s: config: %v", PluginScenarioFile, s.Name, err)
				}
			}
			z, err := os.ReadFile(filepath.Join(dir, "plugin.wasm.zst"))
			if err != nil {
				t.Fatal(err)
			}
			wasm, err := builtins.Decompress(z)
			if err != nil {
				t.Fatalf("plugin.wasm.zst: %v", err)
			}
			rep := conformance.Run(t, wasm, conformance.Options{Name: name, Scenarios: []*conformance.ScenarioFile{scen}})
			if !rep.OK() {
				t.Errorf("required checks failed: %v", rep.Failed())
			}
			ran++
		})
	}
	t.Logf("ran the conformance suite over %d built-in plugin(s) in plugins-src/", ran)
	if len(manifests) != len(builtins.Names()) {
		t.Errorf("%d plugin directories, but %d built-ins are embedded (%v)", len(manifests), len(builtins.Names()), builtins.Names())
	}
}
