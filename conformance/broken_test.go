package conformance_test

import (
	"context"
	_ "embed"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/conformance"
)

// The test plugins: good.wat and copies with one fault each. Rebuild with
// the wat2wasm command at the top of each .wat.
var (
	//go:embed testdata/good.wasm
	goodWasm []byte
	//go:embed testdata/nomarker.wasm
	noMarkerWasm []byte
	//go:embed testdata/trapconfigure.wasm
	trapConfigureWasm []byte
	//go:embed testdata/leak.wasm
	leakWasm []byte
	//go:embed testdata/slow.wasm
	slowWasm []byte
	//go:embed testdata/wrongheader.wasm
	wrongHeaderWasm []byte
)

func loadTestScenarios(t *testing.T) *conformance.ScenarioFile {
	t.Helper()
	f, err := conformance.LoadScenarios("testdata/plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// brokenOptions keeps the broken-plugin runs short (the slow plugin
// spends 50 ms per request) and the latency budget far from both the
// slow plugin's 50 ms and a fast plugin's microseconds.
func brokenOptions(t *testing.T, name string) conformance.Options {
	return conformance.Options{
		Name:          name,
		Scenarios:     []*conformance.ScenarioFile{loadTestScenarios(t)},
		Streams:       8,
		LatencyBudget: 25 * time.Millisecond,
	}
}

// TestBrokenPlugins: each deliberately broken plugin fails exactly the
// checks that describe its fault, with evidence naming what to fix; the
// good plugin they are copied from fails none.
func TestBrokenPlugins(t *testing.T) {
	tests := []struct {
		name       string
		wasm       []byte
		wantFailed []string
		// evidence: substrings the failed check's evidence must contain.
		evidence []string
		wantOK   bool
	}{
		{name: "good", wasm: goodWasm, wantOK: true},
		{name: "nomarker", wasm: noMarkerWasm, wantFailed: []string{"module.abi-version"},
			evidence: []string{"exports no proxy_abi_version_*", "proxy_abi_version_0_2_1"}},
		{name: "trapconfigure", wasm: trapConfigureWasm, wantFailed: []string{"module.start"},
			evidence: []string{"proxy_on_configure", "unreachable", "trapped"}},
		{name: "leak", wasm: leakWasm, wantFailed: []string{"robustness.memory-leak"},
			evidence: []string{"grew in 6 of 6 batches", "about 16384 bytes per stream", "proxy_on_delete"}},
		{name: "slow", wasm: slowWasm, wantFailed: []string{"robustness.latency"}, wantOK: true,
			evidence: []string{"proxy_on_request_headers: p99", "> budget 25ms"}},
		{name: "wrongheader", wasm: wrongHeaderWasm, wantFailed: []string{"http.scenario.sets-header"},
			evidence: []string{`upstream request header "x-conformance": got ["bad"], want "ok"`, "testdata/plugin.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := conformance.Check(context.Background(), tc.wasm, brokenOptions(t, tc.name+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			_ = rep.WriteText(&text)
			if got := rep.Failed(); !slices.Equal(got, tc.wantFailed) {
				t.Fatalf("failed checks = %v, want %v\n%s", got, tc.wantFailed, text.String())
			}
			if rep.OK() != tc.wantOK {
				t.Errorf("OK() = %v, want %v (only required failures count)", rep.OK(), tc.wantOK)
			}
			for _, id := range tc.wantFailed {
				res, _ := rep.Result(id)
				for _, want := range tc.evidence {
					if !strings.Contains(res.Evidence, want) {
						t.Errorf("%s evidence lacks %q:\n%s", id, want, res.Evidence)
					}
				}
			}
			if tc.name == "good" {
				// Nothing skipped that applies to it: the baseline really ran everything.
				for _, res := range rep.Results {
					if res.Verdict == conformance.Skip && res.ID != "lifecycle.tick" {
						t.Errorf("good plugin: %s skipped: %s", res.ID, res.Evidence)
					}
				}
			}
		})
	}
}
