package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/moduletest"
)

// startRegistry runs the distribution registry (host/moduletest) on
// 127.0.0.1 and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	return moduletest.StartRegistry(t, "", "").Host
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// TestPluginCommands: `weir plugin push` in every format, `inspect` and
// `pull` of what was pushed, then a Weir whose config references the
// pushed oci:// URL serves traffic through the plugin.
func TestPluginCommands(t *testing.T) {
	reg := startRegistry(t)
	wasmPath, _ := filepath.Abs(filepath.Join("..", "..", "host", "wasm", "testdata", "plugin.wasm"))
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range host.ModuleFormats() {
		t.Run(format, func(t *testing.T) {
			ref := "oci://" + reg + "/cli/" + format + ":v1"
			code, out, errOut := runCLI(t, "plugin", "push", "--insecure", reg, "--format", format, wasmPath, ref)
			if code != 0 || !strings.Contains(out, "digest: sha256:") {
				t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = runCLI(t, "plugin", "inspect", ref, "--insecure", reg, "--json")
			if code != 0 {
				t.Fatalf("inspect: exit %d\n%s", code, errOut)
			}
			var in struct {
				Format, Digest, ManifestDigest string
				ABIVersion                     string `json:"abi_version"`
				Annotations                    map[string]string
				Exports, Imports               []struct{ Name, Kind, Type string }
				ManifestMediaType, LayerDigest string
			}
			if err := json.Unmarshal([]byte(out), &in); err != nil {
				t.Fatalf("inspect --json: %v\n%s", err, out)
			}
			if in.Format != format || in.ABIVersion != "0.2.1" || len(in.Exports) == 0 || len(in.Imports) == 0 {
				t.Fatalf("inspect: %+v", in)
			}
			if format != "compat-docker" && (in.Annotations["dev.weir.plugin.name"] != "plugin" || in.Annotations["dev.weir.plugin.abi-version"] != "0.2.1") {
				t.Fatalf("annotations %v", in.Annotations)
			}
			code, out, _ = runCLI(t, "plugin", "inspect", "--insecure", reg, ref)
			for _, want := range []string{"abi version:      0.2.1", "proxy_on_request_headers", "env.proxy_add_header_map_value", "manifest:"} {
				if code != 0 || !strings.Contains(out, want) {
					t.Fatalf("inspect output lacks %q:\n%s", want, out)
				}
			}
			dst := filepath.Join(t.TempDir(), "out.wasm")
			code, _, errOut = runCLI(t, "plugin", "pull", "--insecure", reg, "-o", dst, ref)
			got, _ := os.ReadFile(dst)
			if code != 0 || !bytes.Equal(got, wasm) {
				t.Fatalf("pull: exit %d, %d bytes (want the pushed %d)\n%s", code, len(got), len(wasm), errOut)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name     string
			args     []string
			wantCode int
			wantErr  string
		}{
			{name: "missing target", args: []string{"plugin", "push", wasmPath}, wantCode: 2, wantErr: "want FILE.wasm and oci://"},
			{name: "bad format", args: []string{"plugin", "push", "--format", "zip", wasmPath, "oci://" + reg + "/x:v1"}, wantCode: 2, wantErr: "--format"},
			{name: "not wasm", args: []string{"plugin", "push", "--insecure", reg, "main.go", "oci://" + reg + "/x:v1"}, wantCode: 1, wantErr: "not a wasm module"},
			{name: "push by digest", args: []string{"plugin", "push", "--insecure", reg, wasmPath, "oci://" + reg + "/x@sha256:" + strings.Repeat("a", 64)}, wantCode: 1, wantErr: "push needs a tag"},
			{name: "plain HTTP not allowed", args: []string{"plugin", "pull", "--timeout", "5s", "oci://" + reg + "/cli/cncf:v1"}, wantCode: 1, wantErr: "HTTP response to HTTPS client"},
			{name: "unknown tag", args: []string{"plugin", "inspect", "--insecure", reg, "oci://" + reg + "/cli/cncf:nope"}, wantCode: 1, wantErr: "not found"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				code, _, errOut := runCLI(t, tc.args...)
				if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
					t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.wantCode, tc.wantErr)
				}
			})
		}
	})

	t.Run("pushed module serves traffic", func(t *testing.T) {
		ref := "oci://" + reg + "/cli/served:1.0"
		if code, out, errOut := runCLI(t, "plugin", "push", wasmPath, ref, "--insecure", reg); code != 0 {
			t.Fatalf("push: %s%s", out, errOut)
		}
		seen := make(chan string, 1)
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case seen <- r.Header.Get("X-Wasm"):
			default:
			}
		}))
		defer be.Close()
		cfg := filepath.Join(t.TempDir(), "weir.yaml")
		os.WriteFile(cfg, []byte(`_format_version: "3.0"
weir:
  modules: {cache_dir: `+t.TempDir()+`, insecure_registries: [`+reg+`]}
services:
  - name: api
    url: `+be.URL+`
    routes: [{name: r, paths: [/], plugins: [{name: "`+ref+`"}]}]
`), 0o644)
		if code, out, errOut := runCLI(t, "validate", cfg); code != 0 {
			t.Fatalf("validate: %s%s", out, errOut)
		}
		srv, err := host.New(host.Options{ConfigPath: cfg, ProxyListen: "127.0.0.1:0", HTTPSListen: "off", AdminListen: "off", StatusListen: "off",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		resp, err := http.Get("http://" + srv.ProxyAddr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := <-seen; got != "1" {
			t.Fatalf("upstream saw x-wasm %q: the pushed plugin did not run", got)
		}
	})
}
