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

// TestCatalog: ids are unique, start with their group, and every check
// has a description and a known severity.
func TestCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range conformance.Catalog() {
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
		if !strings.HasPrefix(c.ID, c.Group+".") || c.Description == "" {
			t.Errorf("%+v: id must start with the group, description required", c)
		}
		switch c.Severity {
		case conformance.Required, conformance.Recommended, conformance.Informational:
		default:
			t.Errorf("%s: severity %q", c.ID, c.Severity)
		}
	}
	for _, g := range []string{"module", "lifecycle", "http", "robustness", "portability"} {
		found := false
		for _, c := range conformance.Catalog() {
			found = found || c.Group == g
		}
		if !found {
			t.Errorf("no check in group %s", g)
		}
	}
}
