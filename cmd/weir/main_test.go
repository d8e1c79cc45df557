package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	tests := []struct {
		name       string
		yaml       string
		wantCode   int
		wantStdout []string // substrings of stdout
		wantLines  []string // lines of stderr (trimmed) that must be present
	}{
		{
			name: "valid",
			yaml: `_format_version: "3.0"
services:
  - name: s
    host: up
    routes: [{name: r, paths: [/r]}, {name: r2, paths: ['~/u/\d+$']}]
upstreams:
  - name: up
    targets: [{target: 127.0.0.1:9000}, {target: 127.0.0.1:9001}]
`,
			wantCode:   0,
			wantStdout: []string{"valid (1 services, 2 routes, 1 upstreams, 2 targets, 0 plugins, 0 consumers)"},
		},
		{
			name: "every error with object and field",
			yaml: `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    retries: -1
    routes:
      - name: r1
        paths: ['~/a/(']
      - name: r2
        paths: [/b]
        https_redirect_status_code: 303
upstreams:
  - name: u
    algorithm: fastest
`,
			wantCode: 1,
			wantLines: []string{
				`services[0] (service "s"): retries: -1 is out of range 0..32767`,
				`services[0].routes[0] (route "r1"): paths[0]: invalid regex`,
				`services[0].routes[1] (route "r2"): https_redirect_status_code: invalid status 303`,
				`upstreams[0] (upstream "u"): algorithm: invalid value "fastest"`,
			},
		},
		{
			name: "unknown field",
			yaml: `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: [/r], stirp_path: true}]
`,
			wantCode:  1,
			wantLines: []string{`services[0].routes[0]`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kong.yml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"validate", path}, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, s := range tc.wantStdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout %q lacks %q", stdout.String(), s)
				}
			}
			lines := strings.Split(stderr.String(), "\n")
			for _, want := range tc.wantLines {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(strings.TrimSpace(l), want) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("stderr has no line starting with %q:\n%s", want, stderr.String())
				}
			}
			if tc.wantCode != 0 {
				if !strings.HasPrefix(stderr.String(), path+": invalid configuration\n") {
					t.Errorf("stderr does not start with the file name: %q", stderr.String())
				}
				if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != len(tc.wantLines) {
					t.Errorf("stderr has %d error lines, want %d:\n%s", n, len(tc.wantLines), stderr.String())
				}
				if stdout.Len() != 0 {
					t.Errorf("stdout not empty on error: %q", stdout.String())
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"validate", filepath.Join(t.TempDir(), "nope.yml")}, &stdout, &stderr); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !strings.Contains(stderr.String(), "nope.yml") {
			t.Errorf("stderr %q does not name the file", stderr.String())
		}
	})
	t.Run("usage", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"validate"}, &stdout, &stderr); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}
