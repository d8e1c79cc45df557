package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/conformance"
)

// The conformance suite's test plugins (conformance/testdata).
const (
	cfTestdata     = "../../conformance/testdata"
	cfGood         = cfTestdata + "/good.wasm"
	cfWrongHeader  = cfTestdata + "/wrongheader.wasm"
	cfScenarios    = cfTestdata + "/plugin.yaml"
	cfWrongFailure = "http.scenario.sets-header"
)

// junitXML is the JUnit XML shape CI systems read.
type junitXML struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			ClassName string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestConformanceCommandFormats(t *testing.T) {
	tests := []struct {
		name     string
		plugin   string
		format   string // "" = default (text)
		wantCode int
		// check inspects stdout.
		check func(t *testing.T, out []byte)
	}{
		{name: "text passing", plugin: cfGood, wantCode: 0, check: func(t *testing.T, out []byte) {
			s := string(out)
			for _, want := range []string{"CHECK", "SEVERITY", "VERDICT", "EVIDENCE", "module.abi-version", "http.scenario.sets-header",
				"robustness.memory-leak", "Callback latency", "proxy_on_request_headers", "all required checks pass"} {
				if !strings.Contains(s, want) {
					t.Errorf("text output lacks %q:\n%s", want, s)
				}
			}
			// One table row per check.
			for _, c := range conformance.Catalog() {
				if !strings.Contains(s, "\n"+c.ID+" ") {
					t.Errorf("no row for %s", c.ID)
				}
			}
		}},
		{name: "text failing", plugin: cfWrongHeader, format: "text", wantCode: 1, check: func(t *testing.T, out []byte) {
			s := string(out)
			for _, want := range []string{"REQUIRED CHECKS FAILED", "FAIL http.scenario.sets-header (required)", `got ["bad"], want "ok"`} {
				if !strings.Contains(s, want) {
					t.Errorf("text output lacks %q:\n%s", want, s)
				}
			}
		}},
		{name: "json", plugin: cfWrongHeader, format: "json", wantCode: 1, check: func(t *testing.T, out []byte) {
			var rep conformance.Report
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if got := rep.Failed(); !slices.Equal(got, []string{cfWrongFailure}) {
				t.Errorf("failed = %v", got)
			}
			if rep.ABI != "0.2.1" || len(rep.SHA256) != 64 || rep.Module != cfWrongHeader {
				t.Errorf("header: abi %q sha %q module %q", rep.ABI, rep.SHA256, rep.Module)
			}
			if len(rep.Results) != len(conformance.Catalog())+1 || len(rep.Latency) == 0 {
				t.Errorf("%d results, %d latencies", len(rep.Results), len(rep.Latency))
			}
		}},
		{name: "junit", plugin: cfWrongHeader, format: "junit", wantCode: 1, check: func(t *testing.T, out []byte) {
			if !bytes.HasPrefix(out, []byte("<?xml")) {
				t.Errorf("no XML header: %.60s", out)
			}
			var j junitXML
			if err := xml.Unmarshal(out, &j); err != nil {
				t.Fatalf("not JUnit XML: %v\n%s", err, out)
			}
			if j.Tests != len(conformance.Catalog())+1 || j.Failures != 1 {
				t.Errorf("testsuites tests=%d failures=%d", j.Tests, j.Failures)
			}
			var failed []string
			cases := 0
			for _, s := range j.Suites {
				cases += len(s.Cases)
				nf := 0
				for _, c := range s.Cases {
					if c.ClassName != "conformance."+s.Name || c.Time == "" {
						t.Errorf("case %s: classname %q time %q", c.Name, c.ClassName, c.Time)
					}
					if c.Failure != nil {
						nf++
						failed = append(failed, c.Name)
						if c.Failure.Type != "required" || !strings.Contains(c.Failure.Text, `got ["bad"], want "ok"`) || c.Failure.Message == "" {
							t.Errorf("failure element: %+v", c.Failure)
						}
					}
				}
				if nf != s.Failures || len(s.Cases) != s.Tests {
					t.Errorf("suite %s: failures attr %d, counted %d; tests %d, cases %d", s.Name, s.Failures, nf, s.Tests, len(s.Cases))
				}
			}
			if !slices.Equal(failed, []string{cfWrongFailure}) || cases != j.Tests {
				t.Errorf("failed cases %v, %d cases", failed, cases)
			}
		}},
		{name: "junit passing", plugin: cfGood, format: "junit", wantCode: 0, check: func(t *testing.T, out []byte) {
			var j junitXML
			if err := xml.Unmarshal(out, &j); err != nil {
				t.Fatalf("not JUnit XML: %v", err)
			}
			if j.Failures != 0 || j.Tests == 0 {
				t.Errorf("tests=%d failures=%d", j.Tests, j.Failures)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The plugin after the flags here, before them in the other cases.
			args := []string{"conformance", tc.plugin, "--scenarios", cfScenarios, "--streams", "8"}
			if tc.format != "" {
				args = []string{"conformance", "--format", tc.format, "--scenarios=" + cfScenarios, "--streams=8", tc.plugin}
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s\nstdout: %s", code, tc.wantCode, stderr.String(), stdout.String())
			}
			tc.check(t, stdout.Bytes())
		})
	}
}

func TestConformanceCommandErrors(t *testing.T) {
	dir := t.TempDir()
	badScenario := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badScenario, []byte("scenarios:\n  - name: x\n    expect:\n      local_respnse: {status: 401}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(dir, "refused.json")
	if err := os.WriteFile(refused, []byte("[1]"), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlConfig := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(yamlConfig, []byte("value: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "no plugin", args: []string{"conformance"}, wantCode: 2, wantStderr: "give exactly one plugin .wasm file"},
		{name: "two plugins", args: []string{"conformance", cfGood, cfGood}, wantCode: 2, wantStderr: "give exactly one plugin"},
		{name: "bad format", args: []string{"conformance", cfGood, "--format", "xml"}, wantCode: 2, wantStderr: `--format: "xml" is not text, json or junit`},
		{name: "missing plugin file", args: []string{"conformance", filepath.Join(dir, "nope.wasm")}, wantCode: 2, wantStderr: "nope.wasm"},
		{name: "unknown scenario field", args: []string{"conformance", cfGood, "--scenarios", badScenario}, wantCode: 2, wantStderr: `unknown field "local_respnse"`},
		{name: "missing scenario file", args: []string{"conformance", cfGood, "--scenarios", filepath.Join(dir, "nope.yaml")}, wantCode: 2, wantStderr: "nope.yaml"},
		{name: "negative streams", args: []string{"conformance", cfGood, "--streams", "-1"}, wantCode: 2, wantStderr: "must not be negative"},
		// A YAML --config reaches the plugin as JSON ({"value":1} starts with '{': accepted).
		{name: "yaml config", args: []string{"conformance", cfGood, "--config", yamlConfig, "--streams", "4"}, wantCode: 0},
		// A config good.wat refuses: module.start fails, exit 1.
		{name: "refused config", args: []string{"conformance", cfGood, "--config", refused, "--streams", "4"}, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s\nstdout: %s", code, tc.wantCode, stderr.String(), stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}
