package conformance_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirproxy/weir/conformance"
)

// PluginScenarioFile is the name of a reference plugin's scenario file,
// beside its README: plugins-src/<name>/conformance.yaml.
const PluginScenarioFile = "conformance.yaml"

// TestReferencePlugins runs the suite over every reference plugin: each
// plugins-src/<name>/ directory holding a built .wasm (anywhere below it,
// e.g. testdata/<name>.<lang>.wasm) must have a conformance.yaml beside
// its README, and every build must pass every required check with it.
// Until plugins-src/ has built plugins this test has nothing to run and
// says so (t.Log); it is not skipped, so the count shows in -v output.
func TestReferencePlugins(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "plugins-src", "*"))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		mods := findWasm(t, dir)
		if len(mods) == 0 {
			continue
		}
		name := filepath.Base(dir)
		scenPath := filepath.Join(dir, PluginScenarioFile)
		scen, err := conformance.LoadScenarios(scenPath)
		if errors.Is(err, fs.ErrNotExist) {
			t.Errorf("plugins-src/%s has built modules %v but no %s: write its behaviour scenarios (conformance/README.md)", name, mods, PluginScenarioFile)
			continue
		}
		if err != nil {
			t.Errorf("plugins-src/%s: %v", name, err)
			continue
		}
		for _, mod := range mods {
			rel, _ := filepath.Rel(dir, mod)
			t.Run(name+"/"+rel, func(t *testing.T) {
				wasm, err := os.ReadFile(mod)
				if err != nil {
					t.Fatal(err)
				}
				rep := conformance.Run(t, wasm, conformance.Options{Name: mod, Scenarios: []*conformance.ScenarioFile{scen}})
				if !rep.OK() {
					t.Errorf("required checks failed: %v", rep.Failed())
				}
			})
			ran++
		}
	}
	t.Logf("ran the conformance suite over %d reference plugin module(s) in plugins-src/", ran)
}

// findWasm lists the .wasm files below dir, skipping node_modules.
func findWasm(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".wasm") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
