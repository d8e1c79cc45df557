package conformance_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/weirproxy/weir/conformance"
)

// TestExampleScenario: the annotated example scenario file parses and
// passes against the plugin it describes, so the documentation cannot rot.
func TestExampleScenario(t *testing.T) {
	f, err := conformance.LoadScenarios("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conformance.Check(context.Background(), featuresWasm, conformance.Options{Name: "features.wasm", Scenarios: []*conformance.ScenarioFile{f}, Streams: 4})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := rep.Result("http.scenario.authorized-request")
	if res.Verdict != conformance.Pass {
		t.Fatalf("example scenario: %s: %s", res.Verdict, res.Evidence)
	}
	if !rep.OK() {
		t.Fatalf("required checks failed: %v", rep.Failed())
	}
}

// TestREADMEDocumentsEveryCheck: conformance/README.md has a row for
// every check of the catalog.
func TestREADMEDocumentsEveryCheck(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conformance.Catalog() {
		row := "| `" + c.ID + "` | " + string(c.Severity) + " |"
		if !strings.Contains(string(b), row) {
			t.Errorf("README.md lacks the row %q", row)
		}
	}
}
