package host_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirproxy/weir/host"
)

// moduleRef is the file:// reference of a committed plugin module.
func moduleRef(t testing.TB, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + abs
}

// sdkExamples lists the example plugins that every SDK ships with the
// same behaviour (headers: rewrite both directions; auth: API key check
// with a local 401), so one test proves them all.
var sdkExamples = []struct{ sdk, dir string }{
	{sdk: "go", dir: "sdk/go/examples"},
	{sdk: "assemblyscript", dir: "sdk/assemblyscript/examples"},
	{sdk: "c", dir: "sdk/c/examples"},
}

// TestE2ESDKExamples runs each SDK's compiled examples through real HTTP
// requests: a header-rewriting plugin on a service, and an auth plugin
// answering locally on one route.
func TestE2ESDKExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	for _, ex := range sdkExamples {
		t.Run(ex.sdk, func(t *testing.T) {
			testSDKExamples(t, moduleRef(t, ex.dir+"/headers/headers.wasm"), moduleRef(t, ex.dir+"/auth/auth.wasm"))
		})
	}
}

func testSDKExamples(t *testing.T, headers, auth string) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    plugins:
      - name: `+headers+`
        config: {value: from-plugin}
    routes:
      - name: open
        paths: [/open]
      - name: guarded
        paths: [/guarded]
        plugins:
          - name: `+auth+`
            priority: 10
            config: {keys: [k1, k2]}
`)
	c := newClient(t)

	// The service-wide plugin rewrites both directions.
	r := get(t, c, proxyURL(srv)+"/open/x")
	if r.Status != 200 {
		t.Fatalf("open: status %d body %s", r.Status, r.Body)
	}
	if got := be.Last(t).Header.Get("X-Weir-Example"); got != "from-plugin" {
		t.Fatalf("upstream saw x-weir-example %q, want the configured value", got)
	}
	if got := r.Header.Get("X-Powered-By"); got != "weir-go-sdk" {
		t.Fatalf("response x-powered-by %q, want weir-go-sdk", got)
	}

	// The route's auth plugin answers locally without a key...
	hits := be.Hits.Load()
	r = get(t, c, proxyURL(srv)+"/guarded/x")
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `"Unauthorized"`) {
		t.Fatalf("guarded without key: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Www-Authenticate") != "Key" {
		t.Fatalf("www-authenticate %q", r.Header.Get("Www-Authenticate"))
	}
	if be.Hits.Load() != hits {
		t.Fatal("a request refused by the auth plugin reached the upstream")
	}
	// ...and with a bad key...
	req, _ := http.NewRequest("GET", proxyURL(srv)+"/guarded/x", nil)
	req.Header.Set("X-Api-Key", "nope")
	if r = do(t, c, req); r.Status != http.StatusUnauthorized {
		t.Fatalf("guarded with a wrong key: %d", r.Status)
	}
	// ...and lets a good key through without forwarding it. The route
	// also inherits the service's header plugin (a different name, so
	// both run: precedence only picks between instances of one name).
	req, _ = http.NewRequest("GET", proxyURL(srv)+"/guarded/x", nil)
	req.Header.Set("X-Api-Key", "k2")
	if r = do(t, c, req); r.Status != 200 {
		t.Fatalf("guarded with a good key: %d %s", r.Status, r.Body)
	}
	last := be.Last(t)
	if last.Header.Get("X-Api-Key") != "" {
		t.Fatal("the credential was forwarded upstream")
	}
	if last.Header.Get("X-Weir-Example") != "from-plugin" {
		t.Fatal("the service-scoped plugin did not run on the route")
	}
}

// TestE2EPluginConfigErrors: a plugin the host cannot load, or whose
// configuration the plugin rejects, fails the whole config with an error
// naming it, and the running config keeps serving.
func TestE2EPluginConfigErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	good := `
_format_version: "3.0"
services:
  - name: api
    url: http://` + be.Addr() + `
    routes: [{name: r, paths: [/]}]
`
	srv := startWeir(t, good)
	tests := []struct {
		name    string
		plugins string
		want    string
	}{
		{name: "unknown built-in", plugins: `[{name: no-such-plugin}]`, want: `plugins[0] (plugin "no-such-plugin")`},
		{name: "missing module file", plugins: `[{name: "file:///nonexistent/x.wasm"}]`, want: "no such file"},
		{name: "relative module path", plugins: `[{name: "file://rel/x.wasm"}]`, want: "absolute"},
		{name: "not wasm", plugins: `[{name: "` + moduleRef(t, "go.mod") + `"}]`, want: "plugins[0]"},
		{name: "https without a sha256 pin", plugins: `[{name: "https://127.0.0.1:1/p.wasm"}]`, want: "need a sha256 pin"},
		{name: "bad oci reference", plugins: `[{name: "oci://127.0.0.1:1/UPPER:v1"}]`, want: "invalid repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := srv.Apply([]byte(good + "plugins: " + tc.plugins + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.want)
			}
			if r := get(t, newClient(t), proxyURL(srv)+"/"); r.Status != 200 {
				t.Fatalf("the running config stopped serving: %d", r.Status)
			}
		})
	}
}

var _ = host.Prepare

// TestE2EPluginFailurePolicy drives a misbehaving plugin through Weir: an
// infinite loop or a trap costs only its own request (503 when the plugin
// fails closed, skipped when it fails open), the same route serves the next
// request on a fresh instance, and a route without the plugin never notices.
func TestE2EPluginFailurePolicy(t *testing.T) {
	be := newBackend(t, "b1", nil)
	mod := moduleRef(t, "host/wasm/testdata/plugin.wasm")
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: closed
        paths: [/closed]
        plugins: [{name: "`+mod+`"}]
      - name: open
        paths: [/open]
        plugins: [{name: "`+mod+`", fail_policy: open}]
      - name: plain
        paths: [/plain]
`)
	c := newClient(t)
	send := func(path, mode string) response {
		req, _ := http.NewRequest("GET", proxyURL(srv)+path, nil)
		if mode != "" {
			req.Header.Set("X-Mode", mode)
		}
		return do(t, c, req)
	}
	tests := []struct {
		name, path, mode string
		wantStatus       int
		wantMarked       bool // the plugin's x-wasm header reached the upstream
	}{
		{name: "healthy plugin adds its header", path: "/closed", wantStatus: 200, wantMarked: true},
		{name: "infinite loop, fail closed", path: "/closed", mode: "l", wantStatus: 503},
		{name: "same route recovers", path: "/closed", wantStatus: 200, wantMarked: true},
		{name: "trap, fail closed", path: "/closed", mode: "u", wantStatus: 503},
		{name: "recovers after a trap", path: "/closed", wantStatus: 200, wantMarked: true},
		{name: "infinite loop, fail open: skipped", path: "/open", mode: "l", wantStatus: 200},
		{name: "route without the plugin", path: "/plain", wantStatus: 200},
		{name: "local response from the plugin", path: "/closed", mode: "p", wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := be.Hits.Load()
			r := send(tc.path, tc.mode)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", r.Status, tc.wantStatus, r.Body)
			}
			if tc.wantStatus != 200 {
				if be.Hits.Load() != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			if got := be.Last(t).Header.Get("X-Wasm") == "1"; got != tc.wantMarked {
				t.Fatalf("upstream saw x-wasm=%v, want %v", got, tc.wantMarked)
			}
		})
	}
}

// TestE2EPluginCallout: a plugin pauses the request, calls another
// service by name (proxy_http_call), and on the response adds a header and
// resumes; the upstream sees that header, the called service the
// plugin's :authority. The requests are sequential because the test
// plugin remembers the calling stream in a single global (concurrent
// callouts through the host are covered by the wasm package's hammer test).
func TestE2EPluginCallout(t *testing.T) {
	be := newBackend(t, "main", nil)
	side := newBackend(t, "side", nil)
	mod := moduleRef(t, "host/wasm/testdata/plugin.wasm")
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: up
    url: http://`+side.Addr()+`
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: r
        paths: [/]
        plugins: [{name: "`+mod+`"}]
`)
	c := newClient(t)
	const n = 8
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", proxyURL(srv)+"/x", nil)
		req.Header.Set("X-Mode", "c")
		if r := do(t, c, req); r.Status != 200 {
			t.Fatalf("request %d: status %d", i, r.Status)
		}
		if be.Last(t).Header.Get("X-Callout") == "" {
			t.Fatalf("request %d: the upstream did not see the header added from the callout response", i)
		}
	}
	if got := side.Hits.Load(); got != n {
		t.Fatalf("the called service saw %d callouts, want %d", got, n)
	}
	if h := side.Last(t).Host; h != "svc" {
		t.Fatalf("callout Host %q, want the plugin's :authority", h)
	}
}

// TestE2EPluginBodies: a plugin that buffers each body to its end and
// rewrites it (after removing content-length, as Envoy plugins do) sees
// the whole body, whatever size and framing the client used, and both
// sides get the rewritten bytes; a body over the buffer cap is refused
// with 413 before the upstream answers.
func TestE2EPluginBodies(t *testing.T) {
	be := newBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("echo:"))
		w.Write(b)
	})
	mod := moduleRef(t, "host/testdata/body.wasm")
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: r
        paths: [/]
        plugins: [{name: "`+mod+`"}]
`)
	c := newClient(t)
	tests := []struct {
		name    string
		body    string
		chunked bool
	}{
		{name: "small, content-length", body: "hello"},
		{name: "small, chunked", body: "hello", chunked: true},
		{name: "several reads", body: strings.Repeat("0123456789", 10000)},
		{name: "several reads, chunked", body: strings.Repeat("abcdefghij", 10000), chunked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length: the client sends it chunked
			}
			req, _ := http.NewRequest("POST", proxyURL(srv)+"/b", rd)
			r := do(t, c, req)
			if r.Status != 200 {
				t.Fatalf("status %d body %.100s", r.Status, r.Body)
			}
			// The backend echoes what it received: "<<body>>" shows the
			// request phase, the trailing "!!" the response phase.
			if want := "echo:<<" + tc.body + ">>!!"; string(r.Body) != want {
				t.Fatalf("client got %d bytes ...%q, want %d bytes ending in !!", len(r.Body), tail(r.Body), len(want))
			}
		})
	}
	t.Run("over the buffer cap", func(t *testing.T) {
		hits := be.Hits.Load()
		req, _ := http.NewRequest("POST", proxyURL(srv)+"/b", strings.NewReader(strings.Repeat("x", 2<<20)))
		r := do(t, c, req)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", r.Status)
		}
		_ = hits // the upstream may have seen the head; it never answered
	})
}

func tail(b []byte) []byte {
	if len(b) > 20 {
		return b[len(b)-20:]
	}
	return b
}
