package conformance_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weirproxy/weir/conformance"
)

// repoRoot is the repository root, relative to this package.
const repoRoot = ".."

// sdkExampleBuilds lists every compiled SDK example. Each behaviour has
// ONE scenario file (sdk/examples-scenarios/<example>.yaml) that runs
// unchanged against the Go, C and AssemblyScript builds.
var sdkExampleBuilds = []struct{ sdk, dir string }{
	{sdk: "go", dir: "sdk/go/examples"},
	{sdk: "c", dir: "sdk/c/examples"},
	{sdk: "assemblyscript", dir: "sdk/assemblyscript/examples"},
}

var sdkExamples = []string{"headers", "auth"}

// TestSDKExamples runs the whole suite over every SDK example with its
// behaviour scenarios: every required check must pass.
func TestSDKExamples(t *testing.T) {
	for _, ex := range sdkExamples {
		scen, err := conformance.LoadScenarios(filepath.Join(repoRoot, "sdk/examples-scenarios", ex+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range sdkExampleBuilds {
			t.Run(b.sdk+"/"+ex, func(t *testing.T) {
				path := filepath.Join(repoRoot, b.dir, ex, ex+".wasm")
				wasm, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				rep := conformance.Run(t, wasm, conformance.Options{Name: path, Scenarios: []*conformance.ScenarioFile{scen}})
				if !rep.OK() {
					t.Fatalf("required checks failed: %v", rep.Failed())
				}
				// The scenarios really ran (not skipped).
				for _, s := range scen.Scenarios {
					res, ok := rep.Result(conformance.ScenarioCheckPrefix + s.Name)
					if !ok || res.Verdict != conformance.Pass {
						t.Errorf("scenario %s: %+v", s.Name, res)
					}
				}
			})
		}
	}
}
