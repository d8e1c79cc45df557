package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirproxy/weir/host"
	"github.com/weirproxy/weir/host/internal/modules"
	"github.com/weirproxy/weir/host/internal/modules/registrytest"
)

// Committed test modules: plugin.wasm adds "x-wasm: 1" upstream,
// addheader.wasm adds "x-weir: 1".
func testModule(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pusher pushes modules to a test registry, as `weir plugin push` does.
type pusher struct {
	t     testing.TB
	f     *modules.Fetcher
	host  string
	creds *modules.Credentials
}

func newPusher(t testing.TB, reg *registrytest.Registry, creds *modules.Credentials) *pusher {
	f, err := modules.New(modules.Options{Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	return &pusher{t: t, f: f, host: reg.Host, creds: creds}
}

// push uploads wasm as repo:tag in format and returns the manifest digest.
func (p *pusher) push(repoTag string, wasm []byte, format modules.Format) string {
	p.t.Helper()
	ref, err := modules.ParseRef("oci://" + p.host + "/" + repoTag)
	if err != nil {
		p.t.Fatal(err)
	}
	d, err := p.f.Push(context.Background(), ref, wasm, modules.PushOptions{Format: format, Credentials: p.creds})
	if err != nil {
		p.t.Fatalf("push %s: %v", repoTag, err)
	}
	return d.Digest.String()
}

// modulesSection is the weir: section of the tests' configs.
func modulesSection(reg *registrytest.Registry, cacheDir, policy string) string {
	s := "weir:\n  modules:\n    cache_dir: " + cacheDir + "\n    insecure_registries: [" + reg.Host + "]\n    fetch_timeout: 10000\n"
	if policy != "" {
		s += "    pull_policy: " + policy + "\n"
	}
	return s
}

// TestE2EModulesOCI pushes the same module in every image layout (and
// the Go SDK's header example by digest, with both kinds of pin) to a
// real registry, and serves each through an oci:// plugin on a route.
func TestE2EModulesOCI(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newPusher(t, reg, nil)
	wasm := testModule(t, "host/wasm/testdata/plugin.wasm")
	sdk := testModule(t, "sdk/go/examples/headers/headers.wasm")
	var refs []string
	for _, f := range modules.PushFormats {
		p.push("plugins/"+string(f)+":1.0", wasm, f)
		refs = append(refs, "oci://"+reg.Host+"/plugins/"+string(f)+":1.0")
	}
	manifest := p.push("plugins/headers:1.0", sdk, modules.FormatCNCF)
	pins := []struct{ name, ref string }{
		{"manifest-digest", "oci://" + reg.Host + "/plugins/headers@" + manifest},
		{"tag-and-digest", "oci://" + reg.Host + "/plugins/headers:1.0@" + manifest},
		{"manifest-pin", "oci://" + reg.Host + "/plugins/headers:1.0#sha256=" + strings.TrimPrefix(manifest, "sha256:")},
		{"layer-pin", "oci://" + reg.Host + "/plugins/headers:1.0#sha256=" + sha256hex(sdk)},
	}

	be := newBackend(t, "b1", nil)
	var cfg strings.Builder
	cfg.WriteString("_format_version: \"3.0\"\n" + modulesSection(reg, t.TempDir(), "") + "services:\n  - name: api\n    url: http://" + be.Addr() + "\n    routes:\n")
	for i, f := range modules.PushFormats {
		fmt.Fprintf(&cfg, "      - name: %s\n        paths: [/%s]\n        plugins: [{name: %q}]\n", f, f, refs[i])
	}
	for _, pin := range pins {
		fmt.Fprintf(&cfg, "      - name: %s\n        paths: [/%s]\n        plugins: [{name: %q, config: {value: %s}}]\n", pin.name, pin.name, pin.ref, pin.name)
	}
	srv := startWeir(t, cfg.String())
	c := newClient(t)
	for _, f := range modules.PushFormats {
		t.Run(string(f), func(t *testing.T) {
			if r := get(t, c, proxyURL(srv)+"/"+string(f)); r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if be.Last(t).Header.Get("X-Wasm") != "1" {
				t.Fatal("the plugin pulled from the registry did not run")
			}
		})
	}
	for _, pin := range pins {
		t.Run(pin.name, func(t *testing.T) {
			if r := get(t, c, proxyURL(srv)+"/"+pin.name); r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := be.Last(t).Header.Get("X-Weir-Example"); got != pin.name {
				t.Fatalf("upstream saw x-weir-example %q, want %q", got, pin.name)
			}
		})
	}

	var st struct {
		Data []host.ModuleStatus `json:"data"`
	}
	getJSON(t, c, adminURL(srv)+"/modules", 200, &st)
	if len(st.Data) != len(modules.PushFormats)+len(pins) {
		t.Fatalf("GET /modules lists %d slots, want %d", len(st.Data), len(modules.PushFormats)+len(pins))
	}
	for _, s := range st.Data {
		if s.Serving != "module" || s.Module == nil || s.Module.Digest == "" || s.LastError != "" {
			t.Fatalf("GET /modules: %+v", s)
		}
	}
}

// load sends requests to url from several clients until stop() and
// counts the answers that are not 200.
func load(t *testing.T, url string) (stop func() (ok, failed int64)) {
	var okN, failN atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-done:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					failN.Add(1)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					okN.Add(1)
				} else {
					failN.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return okN.Load(), failN.Load()
	}
}

// TestE2EModulesRollout: with pull_policy Always, moving the tag to a new
// module and reloading rolls the route to it with no failed request under
// load; a tampered blob or a module that does not compile is rejected and
// the working module keeps serving (reported by GET /modules and the
// counter); with IfNotPresent a moved tag is not followed.
func TestE2EModulesRollout(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newPusher(t, reg, nil)
	v1 := testModule(t, "host/wasm/testdata/plugin.wasm")    // x-wasm: 1
	v2 := testModule(t, "host/wasm/testdata/addheader.wasm") // x-weir: 1
	p.push("plugins/live:stable", v1, modules.FormatCNCF)
	p.push("plugins/pinned:stable", v1, modules.FormatCNCF)

	be := newBackend(t, "b1", nil)
	cfgText := `_format_version: "3.0"
` + modulesSection(reg, t.TempDir(), "Always") + `services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - name: live
        paths: [/live]
        plugins: [{name: "oci://` + reg.Host + `/plugins/live:stable"}]
`
	srv := startWeir(t, cfgText)
	c := newClient(t)
	mark := func(path string) string {
		t.Helper()
		r := get(t, c, proxyURL(srv)+path)
		if r.Status != 200 {
			t.Fatalf("%s: status %d: %s", path, r.Status, r.Body)
		}
		h := be.Last(t).Header
		switch {
		case h.Get("X-Wasm") == "1":
			return "v1"
		case h.Get("X-Weir") == "1":
			return "v2"
		}
		return "none"
	}
	if got := mark("/live"); got != "v1" {
		t.Fatalf("serving %s, want v1", got)
	}

	// Roll to v2 under load.
	stop := load(t, proxyURL(srv)+"/live")
	p.push("plugins/live:stable", v2, modules.FormatCNCF)
	if err := srv.Apply([]byte(cfgText)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the new module serving", func() bool { return mark("/live") == "v2" })
	ok, failed := stop()
	if failed != 0 || ok == 0 {
		t.Fatalf("under load during the rollout: %d ok, %d failed", ok, failed)
	}
	t.Logf("rollout under load: %d requests, none failed", ok)

	failures := srv.ModuleLoadFailures()
	bad := []struct {
		name   string
		push   func()
		errHas string
	}{
		{name: "tampered blob", errHas: "digest mismatch", push: func() {
			// A module no other tag shares (the registry stores each
			// blob once), its blob then altered in the registry's storage.
			v3 := testModule(t, "host/wasm/testdata/hostcalls.wasm")
			p.push("plugins/live:stable", v3, modules.FormatSolo)
			path := reg.BlobPath("sha256:" + sha256hex(v3))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1] ^= 0xff
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "module that does not compile", errHas: "live:stable", push: func() {
			p.push("plugins/live:stable", []byte("\x00asm\x01\x00\x00\x00\xff\xff\xff"), modules.FormatCNCF)
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			tc.push()
			if err := srv.Apply([]byte(cfgText)); err != nil {
				t.Fatalf("Apply: %v (a module failure must not reject the config)", err)
			}
			if got := mark("/live"); got != "v2" {
				t.Fatalf("serving %s after a bad module, want the working v2", got)
			}
			var st struct {
				Data          []host.ModuleStatus `json:"data"`
				FailuresTotal uint64              `json:"load_failures_total"`
			}
			getJSON(t, c, adminURL(srv)+"/modules", 200, &st)
			if len(st.Data) != 1 || !strings.Contains(st.Data[0].LastError, tc.errHas) || st.Data[0].Serving != "module" {
				t.Fatalf("GET /modules: %+v, want the last error mentioning %q", st.Data, tc.errHas)
			}
			if st.FailuresTotal <= failures {
				t.Fatalf("load_failures_total %d, want more than %d", st.FailuresTotal, failures)
			}
			failures = st.FailuresTotal
		})
	}

	t.Run("IfNotPresent does not follow the tag", func(t *testing.T) {
		ifnp := strings.Replace(cfgText, "pull_policy: Always", "pull_policy: IfNotPresent", 1)
		ifnp = strings.Replace(ifnp, "/plugins/live:stable", "/plugins/pinned:stable", 1)
		if err := srv.Apply([]byte(ifnp)); err != nil {
			t.Fatal(err)
		}
		if got := mark("/live"); got != "v1" {
			t.Fatalf("serving %s, want v1", got)
		}
		p.push("plugins/pinned:stable", v2, modules.FormatCNCF)
		if err := srv.Apply([]byte(ifnp)); err != nil {
			t.Fatal(err)
		}
		if got := mark("/live"); got != "v1" {
			t.Fatalf("IfNotPresent followed the moved tag: serving %s", got)
		}
	})
}

// TestE2EModulesRegistryDown: with the registry gone, a running Weir
// keeps its module across reloads, and a restarted one serves it from the
// local cache; a module never fetched follows its fail_policy (503 when
// closed, skipped when open) until a reload after the registry is back.
func TestE2EModulesRegistryDown(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newPusher(t, reg, nil)
	wasm := testModule(t, "host/wasm/testdata/plugin.wasm")
	p.push("plugins/p:1.0", wasm, modules.FormatCompat)
	be := newBackend(t, "b1", nil)
	cache := t.TempDir()
	cfgText := `_format_version: "3.0"
` + modulesSection(reg, cache, "") + `services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - name: r
        paths: [/r]
        plugins: [{name: "oci://` + reg.Host + `/plugins/p:1.0"}]
`
	srv := startWeir(t, cfgText)
	c := newClient(t)
	marked := func(srv *host.Server, path string) (int, bool) {
		r := get(t, c, proxyURL(srv)+path)
		return r.Status, r.Status == 200 && be.Last(t).Header.Get("X-Wasm") == "1"
	}
	if st, ok := marked(srv, "/r"); !ok {
		t.Fatalf("status %d, plugin ran %v", st, ok)
	}
	reg.Stop()
	if err := srv.Apply([]byte(cfgText + "      - name: extra\n        paths: [/extra]\n")); err != nil {
		t.Fatal(err)
	}
	if st, ok := marked(srv, "/r"); !ok {
		t.Fatalf("after a reload with the registry down: status %d, plugin ran %v", st, ok)
	}

	restarted := startWeir(t, cfgText)
	if st, ok := marked(restarted, "/r"); !ok {
		t.Fatalf("restarted with the registry down: status %d, plugin ran %v (want the cached module)", st, ok)
	}

	// A module that was never fetched, with the registry down.
	missing := strings.Replace(cfgText, "plugins/p:1.0", "plugins/q:1.0", 1) +
		"      - name: open\n        paths: [/open]\n        plugins: [{name: \"oci://" + reg.Host + "/plugins/q:1.0\", fail_policy: open}]\n" +
		"      - name: plain\n        paths: [/plain]\n"
	if err := srv.Apply([]byte(missing)); err != nil {
		t.Fatalf("Apply: %v (an unreachable module must not reject the config)", err)
	}
	if st, _ := marked(srv, "/r"); st != http.StatusServiceUnavailable {
		t.Fatalf("fail-closed route with no module: status %d, want 503", st)
	}
	if st, ok := marked(srv, "/open"); st != 200 || ok {
		t.Fatalf("fail-open route with no module: status %d, plugin ran %v; want 200, skipped", st, ok)
	}
	if st, _ := marked(srv, "/plain"); st != 200 {
		t.Fatalf("route without the plugin: status %d", st)
	}
	var st struct {
		Data []host.ModuleStatus `json:"data"`
	}
	getJSON(t, c, adminURL(srv)+"/modules", 200, &st)
	unavailable := 0
	for _, s := range st.Data {
		if s.Serving == "unavailable" && s.LastError != "" {
			unavailable++
		}
	}
	if unavailable != 2 {
		t.Fatalf("GET /modules: %+v, want 2 unavailable slots with their error", st.Data)
	}

	// The registry is back (a new one on another port holds q): a reload
	// of the same config loads it.
	reg2 := registrytest.Start(t, registrytest.Options{})
	newPusher(t, reg2, nil).push("plugins/q:1.0", wasm, modules.FormatCNCF)
	back := strings.ReplaceAll(missing, reg.Host, reg2.Host)
	if err := srv.Apply([]byte(back)); err != nil {
		t.Fatal(err)
	}
	if st, ok := marked(srv, "/r"); !ok {
		t.Fatalf("after the registry came back: status %d, plugin ran %v", st, ok)
	}
	if _, ok := marked(srv, "/open"); !ok {
		t.Fatal("the fail-open route's plugin does not run after the registry came back")
	}
}

// TestE2EModulesAuth pulls from a registry with basic auth: credentials
// from weir.modules.docker_config, and from a dockerconfigjson Secret
// payload handed to SetPullSecrets; without them the plugin is
// unavailable (fail closed: 503).
func TestE2EModulesAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Username: "weir", Password: "pw"})
	p := newPusher(t, reg, modules.BasicCredentials(reg.Host, "weir", "pw"))
	p.push("private/p:1.0", testModule(t, "host/wasm/testdata/plugin.wasm"), modules.FormatCNCF)
	secret := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte("weir:pw")))
	dockerCfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(dockerCfg, []byte(secret), 0o600)
	be := newBackend(t, "b1", nil)
	cfg := func(extra string) string {
		return `_format_version: "3.0"
` + modulesSection(reg, t.TempDir(), "") + extra + `services:
  - name: api
    url: http://` + be.Addr() + `
    routes:
      - name: r
        paths: [/r]
        plugins: [{name: "oci://` + reg.Host + `/private/p:1.0"}]
`
	}
	c := newClient(t)
	tests := []struct {
		name       string
		extra      string
		secret     bool
		wantStatus int
	}{
		{name: "no credentials", wantStatus: 503},
		{name: "docker config file", extra: "    docker_config: " + dockerCfg + "\n", wantStatus: 200},
		{name: "pull secret", secret: true, wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWeir(t, `_format_version: "3.0"`+"\n")
			if tc.secret {
				if err := srv.SetPullSecrets([]byte(secret)); err != nil {
					t.Fatal(err)
				}
			}
			if err := srv.Apply([]byte(cfg(tc.extra))); err != nil {
				t.Fatal(err)
			}
			r := get(t, c, proxyURL(srv)+"/r")
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantStatus == 200 && be.Last(t).Header.Get("X-Wasm") != "1" {
				t.Fatal("the plugin did not run")
			}
		})
	}
}

// TestE2EModulesHTTPS serves a module over TLS on 127.0.0.1 with a
// sha256 pin: the pinned module runs; a wrong pin never does.
func TestE2EModulesHTTPS(t *testing.T) {
	wasm := testModule(t, "host/wasm/testdata/plugin.wasm")
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(wasm) }))
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644)
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `_format_version: "3.0"
weir:
  modules: {cache_dir: `+t.TempDir()+`, ca_file: `+ca+`}
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: good
        paths: [/good]
        plugins: [{name: "`+ts.URL+`/plugin.wasm#sha256=`+sha256hex(wasm)+`"}]
      - name: bad
        paths: [/bad]
        plugins: [{name: "`+ts.URL+`/plugin.wasm#sha256=`+strings.Repeat("0", 64)+`"}]
`)
	c := newClient(t)
	if r := get(t, c, proxyURL(srv)+"/good"); r.Status != 200 || be.Last(t).Header.Get("X-Wasm") != "1" {
		t.Fatalf("pinned https module: status %d", r.Status)
	}
	if r := get(t, c, proxyURL(srv)+"/bad"); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("wrong pin: status %d, want 503 (fail closed, module rejected)", r.Status)
	}
	var st struct {
		Data []host.ModuleStatus `json:"data"`
	}
	getJSON(t, c, adminURL(srv)+"/modules", 200, &st)
	raw, _ := json.Marshal(st)
	if !strings.Contains(string(raw), "digest mismatch") {
		t.Fatalf("GET /modules does not report the wrong pin: %s", raw)
	}
}
