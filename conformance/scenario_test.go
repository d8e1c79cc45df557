package conformance_test

import (
	"context"
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/conformance"
)

//go:embed testdata/features.wasm
var featuresWasm []byte

// TestScenarioFeatures: a plugin using callouts, pause/resume, logs,
// properties, metrics and ticks passes a scenario stating all of them,
// and lifecycle.tick observes its ticks.
func TestScenarioFeatures(t *testing.T) {
	f, err := conformance.LoadScenarios("testdata/features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep := conformance.Run(t, featuresWasm, conformance.Options{Name: "features.wasm", Scenarios: []*conformance.ScenarioFile{f}, Streams: 8})
	if res, _ := rep.Result("http.scenario.callout-then-resume"); res.Description != "Scenario callout-then-resume (testdata/features.yaml)" || res.Severity != conformance.Required || res.Group != "http" {
		t.Errorf("scenario check: %+v", res)
	}
	for _, id := range []string{"http.scenario.callout-then-resume", "lifecycle.tick"} {
		if res, _ := rep.Result(id); res.Verdict != conformance.Pass {
			t.Errorf("%s: %s: %s", id, res.Verdict, res.Evidence)
		}
	}
}

// TestScenarioExpectationsFail: every kind of expectation reports a
// failure naming what was expected and what happened.
func TestScenarioExpectationsFail(t *testing.T) {
	const wrong = `
scenarios:
  - name: all-wrong
    request:
      headers: {":path": /things}
    callouts:
      authz: {status: 403}
    expect:
      paused_then_resumed: false
      callouts:
        - upstream: billing
        - upstream: authz
          headers: {equal: {":path": /other}}
      request:
        headers:
          equal: {x-authz: denied}
          absent: [x-authz]
          present: [x-missing]
        body: {equal: something}
      logs:
        - {level: error, regex: 'handling'}
      properties_read: [source.address]
      metrics:
        defined: [nope]
        incremented: [ticks]
  - name: expects-local
    request: {}
    callouts:
      authz: {}
    expect:
      local_response: {status: 401}
  - name: unscripted-callout
    request: {}
    expect:
      no_callouts: true
`
	f, err := conformance.ParseScenarios("wrong.yaml", []byte(wrong))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conformance.Check(context.Background(), featuresWasm, conformance.Options{Scenarios: []*conformance.ScenarioFile{f}, Streams: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http.scenario.all-wrong", "http.scenario.expects-local", "http.scenario.unscripted-callout"}
	if got := rep.Failed(); !slices.Equal(got, want) {
		t.Fatalf("failed = %v, want %v", got, want)
	}
	tests := []struct {
		id       string
		evidence []string
	}{
		{id: "http.scenario.all-wrong", evidence: []string{
			"wrong.yaml:",
			"expected no pause, but the plugin paused",
			`expect.callouts[0]: no callout to "billing"`,
			`expect.callouts[1]: no callout to "authz" with the expected headers (callout header ":path": got ["/check"], want "/other")`,
			`upstream request header "x-authz": got ["checked"], want "denied"`,
			`upstream request header "x-authz": present with ["checked"], want it absent`,
			`upstream request header "x-missing": missing`,
			`upstream request body: got "", want "something"`,
			`no log line at level error matches "handling"; the plugin logged: [info] "handling request"`,
			`the plugin did not read property "source.address"; it read: request.path`,
			`metric "nope" is not defined; defined: requests, ticks`,
			`metric "ticks" was not incremented during the stream`,
		}},
		{id: "http.scenario.expects-local", evidence: []string{"expected a local response 401, but the plugin sent none (the request went upstream: true)"}},
		{id: "http.scenario.unscripted-callout", evidence: []string{
			"expected no callouts, but the plugin called authz",
			`the plugin called upstream "authz", which the scenario does not script (add it under callouts:); it got BAD_ARGUMENT`,
		}},
	}
	for _, tc := range tests {
		res, _ := rep.Result(tc.id)
		for _, w := range tc.evidence {
			if !strings.Contains(res.Evidence, w) {
				t.Errorf("%s evidence lacks %q:\n%s", tc.id, w, res.Evidence)
			}
		}
	}
}

func TestParseScenariosErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{name: "unknown top-level field", yaml: "scenario: []", wantErr: `unknown field "scenario"`},
		{name: "unknown nested field", yaml: "scenarios: [{name: a, request: {headers: {}, bdy: x}}]", wantErr: `unknown field "bdy"`},
		{name: "unknown expect field", yaml: "scenarios: [{name: a, expect: {local_respnse: {}}}]", wantErr: `unknown field "local_respnse"`},
		{name: "missing name", yaml: "scenarios: [{request: {}}]", wantErr: "scenarios[0]: name: required"},
		{name: "bad name", yaml: "scenarios: [{name: 'a b'}]", wantErr: `scenario "a b": name: must match`},
		{name: "duplicate name", yaml: "scenarios: [{name: a}, {name: a}]", wantErr: `scenario "a": name: duplicate`},
		{name: "chunks and chunk_size", yaml: "scenarios: [{name: a, request: {body: abc, chunks: [1], chunk_size: 1}}]", wantErr: `scenario "a": request: chunks and chunk_size`},
		{name: "chunks without body", yaml: "scenarios: [{name: a, response: {chunks: [1]}}]", wantErr: `scenario "a": response: chunks: there is no body`},
		{name: "chunks too long", yaml: "scenarios: [{name: a, request: {body: ab, chunks: [1, 5]}}]", wantErr: "chunks: sizes add up to 6 bytes, more than the 2-byte body"},
		{name: "bad regex", yaml: "scenarios: [{name: a, expect: {response: {body: {regex: '('}}}}]", wantErr: `scenario "a": expect.response.body.regex: error parsing regexp`},
		{name: "bad log level", yaml: "scenarios: [{name: a, expect: {logs: [{regex: x, level: loud}]}}]", wantErr: `expect.logs[0].level: "loud" is not`},
		{name: "log without regex", yaml: "scenarios: [{name: a, expect: {logs: [{level: info}]}}]", wantErr: "expect.logs[0].regex: required"},
		{name: "local with request", yaml: "scenarios: [{name: a, expect: {local_response: {}, request: {}}}]", wantErr: "expect.local_response: cannot be combined"},
		{name: "bad status", yaml: "scenarios: [{name: a, expect: {local_response: {status: 42}}}]", wantErr: "expect.local_response.status: 42 is not an HTTP status"},
		{name: "bad callout status", yaml: "scenarios: [{name: a, callouts: {x: {status: 7}}}]", wantErr: "callouts.x.status: 7"},
		{name: "bad ff status", yaml: "scenarios: [{name: a, foreign_functions: {weir.counter_get: {status: nope}}}]", wantErr: `foreign_functions.weir.counter_get.status: "nope"`},
		{name: "callout without upstream", yaml: "scenarios: [{name: a, expect: {callouts: [{}]}}]", wantErr: "expect.callouts[0].upstream: required"},
		{name: "no_callouts with callouts", yaml: "scenarios: [{name: a, expect: {no_callouts: true, callouts: [{upstream: x}]}}]", wantErr: "expect.no_callouts: cannot be combined"},
		{name: "not yaml", yaml: "scenarios: [", wantErr: "scenario file f.yaml:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conformance.ParseScenarios("f.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestDuplicateScenarioAcrossFiles: two files defining one scenario name
// are refused (check ids must be unique).
func TestDuplicateScenarioAcrossFiles(t *testing.T) {
	a, _ := conformance.ParseScenarios("a.yaml", []byte("scenarios: [{name: x}]"))
	b, _ := conformance.ParseScenarios("b.yaml", []byte("scenarios: [{name: x}]"))
	_, err := conformance.Check(context.Background(), goodWasm, conformance.Options{Scenarios: []*conformance.ScenarioFile{a, b}})
	if err == nil || !strings.Contains(err.Error(), `scenario "x" is defined in a.yaml and b.yaml`) {
		t.Fatalf("err = %v", err)
	}
}

// TestRunReportsSubtests runs Run in a child test process against the
// wrong-header plugin: the failing check's subtest fails with its
// evidence, the passing ones pass, the inapplicable one is skipped.
func TestRunReportsSubtests(t *testing.T) {
	if os.Getenv("CONFORMANCE_RUN_HELPER") == "1" {
		t.Skip("the helper runs in the child process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestRunHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONFORMANCE_RUN_HELPER=1")
	cmd.Dir, _ = filepath.Abs(".")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child test passed; it must fail on http.scenario.sets-header:\n%s", out)
	}
	s := string(out)
	for _, want := range []string{
		"--- FAIL: TestRunHelper/http.scenario.sets-header",
		`upstream request header "x-conformance": got ["bad"], want "ok"`,
		"--- PASS: TestRunHelper/module.abi-version",
		"--- PASS: TestRunHelper/robustness.memory-leak",
		"--- SKIP: TestRunHelper/lifecycle.tick",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("child output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "--- FAIL: TestRunHelper/module.") {
		t.Errorf("a passing check failed:\n%s", s)
	}
}

// TestRunHelper is TestRunReportsSubtests' child; it does nothing in a
// normal run.
func TestRunHelper(t *testing.T) {
	if os.Getenv("CONFORMANCE_RUN_HELPER") != "1" {
		t.Skip("run by TestRunReportsSubtests")
	}
	conformance.Run(t, wrongHeaderWasm, brokenOptions(t, "wrongheader.wasm"))
}
