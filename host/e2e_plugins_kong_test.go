package host_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Behaviour tests of the reference plugins in plugins-src/ (Kong bundled
// plugin equivalents) through real HTTP requests to Weir. The plugins are
// built-ins, named by their Kong names (so every config also passes the
// plugin's schema.json); each plugin entry gives Kong's priority
// explicitly.

// kongPlugin is the config name of the built-in plugin: its Kong name.
func kongPlugin(_ testing.TB, name string) string {
	return name
}

// kongRoutes starts Weir with one service on be and one route per entry of
// routes (path -> plugin config JSON) carrying the named plugin.
func kongRoutes(t *testing.T, be *backend, plugin string, priority int, routes map[string]string) string {
	t.Helper()
	mod := kongPlugin(t, plugin)
	var b strings.Builder
	b.WriteString("_format_version: \"3.0\"\nservices:\n  - name: api\n    url: http://" + be.Addr() + "\n    routes:\n")
	for path, cfg := range routes {
		name := strings.Trim(strings.ReplaceAll(path, "/", "-"), "-")
		b.WriteString("      - name: r-" + name + "\n        paths: [\"" + path + "\"]\n        strip_path: false\n")
		b.WriteString("        plugins:\n          - name: " + mod + "\n            priority: " + itoa(priority) + "\n            config: " + cfg + "\n")
	}
	srv := startWeir(t, b.String())
	return proxyURL(srv)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func req(t *testing.T, method, url string, body io.Reader, headers ...string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "host") {
			r.Host = headers[i+1]
			continue
		}
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestE2EKongCORS(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "cors", 2000, map[string]string{
		"/default": `{}`,
		"/full": `{"origins":["http://a.test","(.*)\\.b\\.test"],"methods":["GET","POST"],"headers":["x-a","x-b"],` +
			`"exposed_headers":["x-e1","x-e2"],"max_age":600,"credentials":true,"private_network":true}`,
		"/single":   `{"origins":["http://only.test"]}`,
		"/continue": `{"preflight_continue":true}`,
		"/absent":   `{"allow_origin_absent":false,"origins":["http://a.test","http://c.test"]}`,
	})
	c := newClient(t)
	preflight := func(path, origin string, extra ...string) response {
		h := append([]string{"Origin", origin, "Access-Control-Request-Method", "GET"}, extra...)
		return do(t, c, req(t, "OPTIONS", base+path, nil, h...))
	}
	tests := []struct {
		name string
		r    response
		want map[string]string // "" = absent
		hits bool              // reached the upstream
	}{
		{name: "preflight defaults echo request headers",
			r: preflight("/default", "http://x.test", "Access-Control-Request-Headers", "x-req"),
			want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "x-req",
				"Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT", "Access-Control-Max-Age": "", "Vary": ""}},
		{name: "preflight every field", r: preflight("/full", "https://api.b.test", "Access-Control-Request-Private-Network", "true"),
			want: map[string]string{"Access-Control-Allow-Origin": "https://api.b.test", "Access-Control-Allow-Methods": "GET,POST",
				"Access-Control-Allow-Headers": "x-a,x-b", "Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Private-Network": "true", "Vary": "Origin"}},
		{name: "preflight unknown origin", r: preflight("/full", "http://evil.test"),
			want: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "GET,POST"}},
		{name: "preflight single origin verbatim", r: preflight("/single", "http://x.test"),
			want: map[string]string{"Access-Control-Allow-Origin": "http://only.test", "Vary": "Origin"}},
		{name: "preflight_continue proxies", r: preflight("/continue", "http://x.test"),
			want: map[string]string{"Access-Control-Allow-Origin": "", "X-Backend-Id": "b1"}, hits: true},
		{name: "actual request matched", r: do(t, c, req(t, "GET", base+"/full", nil, "Origin", "http://a.test")),
			want: map[string]string{"Access-Control-Allow-Origin": "http://a.test", "Access-Control-Expose-Headers": "x-e1,x-e2",
				"Access-Control-Allow-Credentials": "true", "Vary": "Origin"}, hits: true},
		{name: "actual request default", r: do(t, c, req(t, "GET", base+"/default", nil, "Origin", "http://a.test")),
			want: map[string]string{"Access-Control-Allow-Origin": "*"}, hits: true},
		{name: "origin absent allowed", r: get(t, c, base+"/default"),
			want: map[string]string{"Access-Control-Allow-Origin": "*"}, hits: true},
		{name: "origin absent refused", r: get(t, c, base+"/absent"),
			want: map[string]string{"Access-Control-Allow-Origin": "", "Vary": ""}, hits: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.Status != 200 {
				t.Fatalf("status %d, body %s", tt.r.Status, tt.r.Body)
			}
			if (tt.r.Header.Get("X-Backend-Id") == "b1") != tt.hits {
				t.Errorf("reached upstream = %v, want %v", !tt.hits, tt.hits)
			}
			for k, want := range tt.want {
				if got := strings.Join(tt.r.Header.Values(k), ", "); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestE2EKongRequestTransformer(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "request-transformer", 801, map[string]string{
		"/h": `{"remove":{"headers":["x-drop"]},"rename":{"headers":["x-old:x-new"]},"replace":{"headers":["x-rep:R","host:rewritten.test"]},` +
			`"add":{"headers":["x-add:A","x-rep:no"]},"append":{"headers":["x-app:2"]}}`,
		"/q": `{"remove":{"querystring":["drop"]},"rename":{"querystring":["old:new"]},"replace":{"querystring":["rep:R"]},` +
			`"add":{"querystring":["add:A"]},"append":{"querystring":["app:2"]}}`,
		"/b": `{"remove":{"body":["drop"]},"rename":{"body":["old:new"]},"replace":{"body":["rep:R"]},"add":{"body":["add:A"]},"append":{"body":["app:2"]}}`,
		"/m": `{"http_method":"PUT","replace":{"uri":"/m/replaced"}}`,
	})
	c := newClient(t)

	r := do(t, c, req(t, "GET", base+"/h", nil, "X-Drop", "1", "X-Old", "o", "X-Rep", "r", "X-App", "1", "Host", "orig.test"))
	if r.Status != 200 {
		t.Fatalf("headers: %d %s", r.Status, r.Body)
	}
	last := be.Last(t)
	for k, want := range map[string]string{"X-Drop": "", "X-Old": "", "X-New": "o", "X-Rep": "R", "X-Add": "A", "X-App": "1,2"} {
		if got := strings.Join(last.Header.Values(k), ","); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if last.Host != "rewritten.test" {
		t.Errorf("upstream Host %q, want the replaced host", last.Host)
	}

	r = get(t, c, base+"/q?drop=1&old=o&rep=r&app=1&keep=k")
	if r.Status != 200 {
		t.Fatalf("query: %d", r.Status)
	}
	if got, want := be.Last(t).RequestURI, "/q?add=A&app=1&app=2&keep=k&new=o&rep=R"; got != want {
		t.Errorf("upstream URI %q, want %q", got, want)
	}

	body := `{"drop":1,"old":"o","rep":"r","app":"1","keep":true}`
	r = do(t, c, req(t, "POST", base+"/b", strings.NewReader(body), "Content-Type", "application/json"))
	if r.Status != 200 {
		t.Fatalf("json body: %d %s", r.Status, r.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(be.Last(t).Body, &got); err != nil {
		t.Fatalf("upstream body %q: %v", be.Last(t).Body, err)
	}
	want := map[string]any{"new": "o", "rep": "R", "add": "A", "app": []any{"1", "2"}, "keep": true}
	if gj, _ := json.Marshal(got); string(gj) != mustJSON(t, want) {
		t.Errorf("upstream JSON %s, want %s", gj, mustJSON(t, want))
	}
	r = do(t, c, req(t, "POST", base+"/b", strings.NewReader("drop=1&old=o&keep=k"), "Content-Type", "application/x-www-form-urlencoded"))
	if r.Status != 200 || string(be.Last(t).Body) != "add=A&app=2&keep=k&new=o" {
		t.Errorf("form body: %d, upstream got %q", r.Status, be.Last(t).Body)
	}

	r = get(t, c, base+"/m?x=1")
	if r.Status != 200 {
		t.Fatalf("method: %d", r.Status)
	}
	if l := be.Last(t); l.Method != "PUT" || l.RequestURI != "/m/replaced?x=1" {
		t.Errorf("upstream saw %s %s, want PUT /m/replaced?x=1", l.Method, l.RequestURI)
	}
}

func TestE2EKongResponseTransformer(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Drop", "1")
		w.Header().Set("X-Old", "o")
		w.Header().Set("X-Rep", "r")
		w.Header().Add("X-App", "1")
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		io.WriteString(w, `{"drop":1,"old":"o","rep":"r","list":["a"],"keep":{"n":1}}`)
	})
	base := kongRoutes(t, be, "response-transformer", 800, map[string]string{
		"/": `{"remove":{"headers":["x-drop"],"json":["drop"]},"rename":{"headers":["x-old:x-new"],"json":["old:new"]},` +
			`"replace":{"headers":["x-rep:R"],"json":["rep:7"],"json_types":["number"]},` +
			`"add":{"headers":["x-add:A"],"json":["flag:true","s:x"],"json_types":["boolean","string"]},` +
			`"append":{"headers":["x-app:2"],"json":["list:b"]}}`,
	})
	c := newClient(t)
	r := get(t, c, base+"/?ct=application/json")
	if r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	for k, want := range map[string]string{"X-Drop": "", "X-Old": "", "X-New": "o", "X-Rep": "R", "X-Add": "A", "X-App": "1,2"} {
		if got := strings.Join(r.Header.Values(k), ","); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	want := map[string]any{"new": "o", "rep": 7.0, "flag": true, "s": "x", "list": []any{"a", "b"}, "keep": map[string]any{"n": 1.0}}
	if mustJSON(t, got) != mustJSON(t, want) {
		t.Errorf("body %s, want %s", mustJSON(t, got), mustJSON(t, want))
	}
	// A non-JSON body passes untouched; headers still change.
	r = get(t, c, base+"/?ct=text/plain")
	if !strings.Contains(string(r.Body), `"drop":1`) || r.Header.Get("X-Add") != "A" {
		t.Errorf("text body %q / X-Add %q", r.Body, r.Header.Get("X-Add"))
	}
}

func TestE2EKongIPRestriction(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "ip-restriction", 990, map[string]string{
		"/allow-v4":    `{"allow":["127.0.0.0/8"]}`,
		"/allow-other": `{"allow":["10.0.0.0/8","2001:db8::/32"]}`,
		"/deny-v4":     `{"deny":["127.0.0.1"]}`,
		"/deny-v6":     `{"deny":["::1/128"],"allow":["127.0.0.1"]}`,
		"/custom":      `{"deny":["127.0.0.0/24"],"status":401,"message":"go away"}`,
		"/deny-first":  `{"allow":["127.0.0.1"],"deny":["127.0.0.1/32"]}`,
	})
	c := newClient(t)
	if r := get(t, c, base+"/allow-v4"); r.Status != 200 {
		t.Fatalf("allowed client: %d %s", r.Status, r.Body)
	}
	if r := get(t, c, base+"/deny-v6"); r.Status != 200 {
		t.Fatalf("v4 client against a v6 deny: %d %s", r.Status, r.Body)
	}
	hits := be.Hits.Load()
	for _, path := range []string{"/allow-other", "/deny-v4", "/deny-first"} {
		decodeKongError(t, get(t, c, base+path), 403, "IP address not allowed: 127.0.0.1")
	}
	decodeKongError(t, get(t, c, base+"/custom"), 401, "go away")
	if be.Hits.Load() != hits {
		t.Error("a refused request reached the upstream")
	}
}

func TestE2EKongCorrelationID(t *testing.T) {
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "correlation-id", 100001, map[string]string{
		"/default": `{}`,
		"/uuid":    `{"generator":"uuid","header_name":"X-Corr","echo_downstream":true}`,
		"/tracker": `{"generator":"tracker","echo_downstream":true}`,
	})
	c := newClient(t)
	counterRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}#([0-9]+)$`)
	r := get(t, c, base+"/default")
	id1 := be.Last(t).Header.Get("Kong-Request-ID")
	if r.Status != 200 || !counterRe.MatchString(id1) {
		t.Fatalf("uuid#counter id %q (status %d)", id1, r.Status)
	}
	if r.Header.Get("Kong-Request-ID") != "" {
		t.Error("echoed downstream without echo_downstream")
	}
	get(t, c, base+"/default")
	if id2 := be.Last(t).Header.Get("Kong-Request-ID"); id2 == id1 || !counterRe.MatchString(id2) {
		t.Errorf("second id %q (first %q)", id2, id1)
	}
	// An incoming id is kept.
	do(t, c, req(t, "GET", base+"/default", nil, "Kong-Request-ID", "mine"))
	if got := be.Last(t).Header.Get("Kong-Request-ID"); got != "mine" {
		t.Errorf("incoming id replaced by %q", got)
	}
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	r = get(t, c, base+"/uuid")
	up := be.Last(t).Header.Get("X-Corr")
	if !uuidRe.MatchString(up) || r.Header.Get("X-Corr") != up {
		t.Errorf("uuid upstream %q, echoed %q", up, r.Header.Get("X-Corr"))
	}
	r = do(t, c, req(t, "GET", base+"/uuid", nil, "X-Corr", "given"))
	if r.Header.Get("X-Corr") != "given" {
		t.Errorf("echo of an incoming id: %q", r.Header.Get("X-Corr"))
	}
	r = get(t, c, base+"/tracker")
	trackerRe := regexp.MustCompile(`^127\.0\.0\.1-[0-9]+-[0-9a-f]{8}-[0-9]+-[0-9]+-[0-9]+\.[0-9]{3}$`)
	if got := be.Last(t).Header.Get("Kong-Request-ID"); !trackerRe.MatchString(got) || r.Header.Get("Kong-Request-ID") != got {
		t.Errorf("tracker id %q, echoed %q", got, r.Header.Get("Kong-Request-ID"))
	}
}

func TestE2EKongRequestSizeLimiting(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "request-size-limiting", 951, map[string]string{
		"/default": `{}`,
		"/bytes":   `{"allowed_payload_size":10,"size_unit":"bytes"}`,
		"/kb":      `{"allowed_payload_size":1,"size_unit":"kilobytes"}`,
		"/mb":      `{"allowed_payload_size":1,"size_unit":"megabytes","require_content_length":true}`,
	})
	c := newClient(t)
	post := func(path, body string, h ...string) response {
		return do(t, c, req(t, "POST", base+path, strings.NewReader(body), h...))
	}
	if r := post("/default", strings.Repeat("x", 1000)); r.Status != 200 {
		t.Fatalf("default limit: %d", r.Status)
	}
	if r := post("/bytes", "0123456789"); r.Status != 200 || string(be.Last(t).Body) != "0123456789" {
		t.Fatalf("at the limit: %d", r.Status)
	}
	hits := be.Hits.Load()
	decodeKongError(t, post("/bytes", "0123456789a"), 413, "Request size limit exceeded")
	decodeKongError(t, post("/kb", strings.Repeat("x", 1025)), 413, "Request size limit exceeded")
	if r := post("/kb", strings.Repeat("x", 1024)); r.Status != 200 {
		t.Fatalf("1 KiB against 1 kilobytes: %d", r.Status)
	}
	hits++
	decodeKongError(t, post("/mb", strings.Repeat("x", 1<<20+1)), 413, "Request size limit exceeded")
	// Chunked (no Content-Length): counted as it streams in; 411 when required.
	// The whole chunked request goes out in one write on a raw connection:
	// a client still streaming when the early 413 arrives races the
	// connection close (Go's client then often sees a reset).
	chunked := func(path string, n int) response {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		body := strings.Repeat("y", n)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", path, n, body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("chunked POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	decodeKongError(t, chunked("/bytes", 11), 413, "Request size limit exceeded")
	decodeKongError(t, chunked("/mb", 5), 411, "A valid Content-Length header is required")
	if be.Hits.Load() != hits {
		t.Errorf("refused requests reached the upstream (%d hits, want %d)", be.Hits.Load(), hits)
	}
	if r := chunked("/bytes", 10); r.Status != 200 || string(be.Last(t).Body) != strings.Repeat("y", 10) {
		t.Errorf("chunked under the limit: %d, upstream got %q", r.Status, be.Last(t).Body)
	}
}

func TestE2EKongRequestTermination(t *testing.T) {
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "request-termination", 2, map[string]string{
		"/default": `{}`,
		"/message": `{"status_code":403,"message":"So long"}`,
		"/body":    `{"status_code":200,"body":"<h1>down</h1>","content_type":"text/html"}`,
		"/nodef":   `{"status_code":418}`,
		"/def404":  `{"status_code":404}`,
		"/trigger": `{"trigger":"x-stop","status_code":410,"message":"gone"}`,
		"/echo":    `{"echo":true,"status_code":200}`,
	})
	c := newClient(t)
	hits := be.Hits.Load()
	type msg struct {
		Message string `json:"message"`
	}
	check := func(r response, status int, wantMsg string) {
		t.Helper()
		var m msg
		if r.Status != status || json.Unmarshal(r.Body, &m) != nil || m.Message != wantMsg {
			t.Errorf("got %d %s, want %d message %q", r.Status, r.Body, status, wantMsg)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
	}
	check(get(t, c, base+"/default"), 503, "Service unavailable")
	check(get(t, c, base+"/message"), 403, "So long")
	check(get(t, c, base+"/def404"), 404, "Not found")
	if r := get(t, c, base+"/body"); r.Status != 200 || string(r.Body) != "<h1>down</h1>" || r.Header.Get("Content-Type") != "text/html" {
		t.Errorf("body: %d %q %q", r.Status, r.Body, r.Header.Get("Content-Type"))
	}
	if r := get(t, c, base+"/nodef"); r.Status != 418 || len(r.Body) != 0 {
		t.Errorf("status without a default message: %d %q", r.Status, r.Body)
	}
	check(do(t, c, req(t, "GET", base+"/trigger", nil, "X-Stop", "1")), 410, "gone")
	check(get(t, c, base+"/trigger?x-stop"), 410, "gone")
	r := get(t, c, base+"/echo?a=1&b")
	var echo struct {
		Message string `json:"message"`
		Request struct {
			Method  string            `json:"method"`
			Path    string            `json:"path"`
			Scheme  string            `json:"scheme"`
			Host    string            `json:"host"`
			Port    int               `json:"port"`
			Query   map[string]any    `json:"query"`
			Headers map[string]string `json:"headers"`
			RawBody string            `json:"raw_body"`
		} `json:"request"`
		MatchedRoute   struct{ Name string } `json:"matched_route"`
		MatchedService struct{ Name string } `json:"matched_service"`
	}
	if err := json.Unmarshal(r.Body, &echo); err != nil || r.Status != 200 {
		t.Fatalf("echo: %d %s (%v)", r.Status, r.Body, err)
	}
	if echo.Request.Method != "GET" || echo.Request.Path != "/echo" || echo.Request.Scheme != "http" || echo.Request.Host != "127.0.0.1" ||
		echo.Request.Port == 0 || echo.Request.Query["a"] != "1" || echo.Request.Query["b"] != true ||
		echo.MatchedRoute.Name != "r-echo" || echo.MatchedService.Name != "api" {
		t.Errorf("echo document %s", r.Body)
	}
	r = do(t, c, req(t, "POST", base+"/echo", strings.NewReader("payload"), "X-Thing", "v"))
	if err := json.Unmarshal(r.Body, &echo); err != nil || echo.Request.RawBody != "payload" || echo.Request.Headers["x-thing"] != "v" {
		t.Errorf("echo with a body: %s", r.Body)
	}
	if be.Hits.Load() != hits {
		t.Error("a terminated request reached the upstream")
	}
	// Without the trigger the request is proxied.
	if r := get(t, c, base+"/trigger"); r.Status != 200 || r.Header.Get("X-Backend-Id") != "b1" {
		t.Errorf("untriggered: %d", r.Status)
	}
}

// TestE2EKongPluginConfigErrors: a reference plugin refusing its
// configuration fails the whole config with an error naming the plugin,
// the plugin's log names the field, and the running config keeps serving.
func TestE2EKongPluginConfigErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	good := "_format_version: \"3.0\"\nservices:\n  - name: api\n    url: http://" + be.Addr() + "\n    routes: [{name: r, paths: [/]}]\n"
	srv := startWeir(t, good)
	tests := []struct{ plugin, config string }{
		{"cors", `{"methods":["FETCH"]}`},
		{"request-transformer", `{"add":{"headers":["novalue"]}}`},
		{"response-transformer", `{"add":{"json_types":["int"]}}`},
		{"ip-restriction", `{}`},
		{"request-size-limiting", `{"size_unit":"gigabytes"}`},
		{"request-termination", `{"status_code":99}`},
		{"request-termination", `{"message":"a","body":"b"}`},
		{"correlation-id", `{"generator":"random"}`},
		{"correlation-id", `{"echo_downstream":"yes"}`},
	}
	for _, tt := range tests {
		t.Run(tt.plugin+tt.config, func(t *testing.T) {
			err := srv.Apply([]byte(good + "plugins:\n  - name: " + kongPlugin(t, tt.plugin) + "\n    config: " + tt.config + "\n"))
			if err == nil || !strings.Contains(err.Error(), "plugins[0]") {
				t.Fatalf("Apply: %v, want an error naming plugins[0]", err)
			}
			if r := get(t, newClient(t), proxyURL(srv)+"/"); r.Status != 200 {
				t.Fatalf("the running config stopped serving: %d", r.Status)
			}
		})
	}
}

func TestE2EKongBotDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles Go-built wasm modules")
	}
	be := newBackend(t, "b1", nil)
	base := kongRoutes(t, be, "bot-detection", 2500, map[string]string{
		"/default": `{}`,
		"/allow":   `{"allow":["Googlebot"]}`,
		"/deny":    `{"deny":["^curl/"]}`,
	})
	c := newClient(t)
	ua := func(path string, uas ...string) response {
		r := req(t, "GET", base+path, nil)
		for _, u := range uas {
			r.Header.Add("User-Agent", u)
		}
		return do(t, c, r)
	}
	if r := ua("/default", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"); r.Status != 200 {
		t.Fatalf("browser: %d", r.Status)
	}
	if r := ua("/deny", "Go-http-client/1.1"); r.Status != 200 {
		t.Fatalf("not denied: %d", r.Status)
	}
	if r := ua("/allow", "Googlebot/2.1"); r.Status != 200 {
		t.Fatalf("allowed bot: %d", r.Status)
	}
	hits := be.Hits.Load()
	decodeKongError(t, ua("/default", "Googlebot/2.1 (+http://www.google.com/bot.html)"), 403, "Forbidden")
	decodeKongError(t, ua("/deny", "curl/8.5.0"), 403, "Forbidden")
	// Go's client sends one User-Agent only: two go out on a raw connection.
	decodeKongError(t, rawRequest(t, base, "GET /default HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n"),
		400, "Only one User-Agent header allowed")
	if be.Hits.Load() != hits {
		t.Error("a refused request reached the upstream")
	}
}

// rawRequest writes head (a whole request) on a new connection to base
// and reads the response.
func rawRequest(t *testing.T, base, head string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("raw request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestE2EKongProxyCache: proxy-cache (memory strategy) through real HTTP:
// Miss then Hit (answered without the upstream, from any instance of a
// 4-instance pool: the cache is in shared data), Bypass for methods,
// content types and statuses not cached, vary_headers, and cache_control.
func TestE2EKongProxyCache(t *testing.T) {
	var n atomic.Int64
	be := newBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, "/html"):
			w.Header().Set("Content-Type", "text/html")
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
		case strings.HasSuffix(r.URL.Path, "/nostore"):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=60")
		}
		w.Header().Set("X-Up", "yes")
		fmt.Fprintf(w, `{"n":%d}`, i)
	})
	mod := kongPlugin(t, "proxy-cache")
	cfg := "_format_version: \"3.0\"\nservices:\n  - name: api\n    url: http://" + be.Addr() + "\n    routes:\n" +
		"      - name: r-c\n        paths: [\"/c\"]\n        strip_path: false\n        plugins:\n          - name: " + mod +
		"\n            priority: 100\n            limits: {instances: 4}\n            config: {strategy: memory, cache_ttl: 60, vary_headers: [X-Lang]}\n" +
		"      - name: r-cc\n        paths: [\"/cc\"]\n        strip_path: false\n        plugins:\n          - name: " + mod +
		"\n            priority: 100\n            config: {strategy: memory, cache_control: true}\n"
	base := proxyURL(startWeir(t, cfg))
	c := newClient(t)

	miss := get(t, c, base+"/c/a?x=1")
	if miss.Status != 200 || miss.Header.Get("X-Cache-Status") != "Miss" || string(miss.Body) != `{"n":1}` {
		t.Fatalf("first request: %d %q %s, want 200 Miss {\"n\":1}", miss.Status, miss.Header.Get("X-Cache-Status"), miss.Body)
	}
	key := miss.Header.Get("X-Cache-Key")
	if len(key) != 64 {
		t.Errorf("X-Cache-Key %q, want a sha256 hex", key)
	}
	// Concurrent repeats land on different instances of the pool: every
	// one is a Hit with the stored body, and none reaches the upstream.
	hits := be.Hits.Load()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(base + "/c/a?x=1")
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Cache-Status") != "Hit" || string(body) != `{"n":1}` ||
				resp.Header.Get("X-Cache-Key") != key || resp.Header.Get("X-Up") != "yes" || resp.Header.Get("Age") == "" {
				t.Errorf("repeat: %d %v %s, want a Hit replaying the first response", resp.StatusCode, resp.Header, body)
			}
		}()
	}
	wg.Wait()
	if got := be.Hits.Load(); got != hits {
		t.Errorf("cache hits reached the upstream: %d more requests", got-hits)
	}

	tests := []struct {
		name, method, path, lang, want string
	}{
		{name: "method not cached", method: "POST", path: "/c/a?x=1", want: "Bypass"},
		{name: "content type not cached", method: "GET", path: "/c/html", want: "Bypass"},
		{name: "status not cached", method: "GET", path: "/c/fail", want: "Bypass"},
		{name: "vary header value differs", method: "GET", path: "/c/a?x=1", lang: "fr", want: "Miss"},
		{name: "vary header value cached", method: "GET", path: "/c/a?x=1", lang: "fr", want: "Hit"},
		{name: "query differs", method: "GET", path: "/c/a?x=2", want: "Miss"},
		{name: "cache_control: response no-store", method: "GET", path: "/cc/nostore", want: "Bypass"},
		{name: "cache_control: response max-age", method: "GET", path: "/cc/ok", want: "Miss"},
		{name: "cache_control: cached", method: "GET", path: "/cc/ok", want: "Hit"},
	}
	for _, tt := range tests {
		var hs []string
		if tt.lang != "" {
			hs = []string{"X-Lang", tt.lang}
		}
		r := do(t, c, req(t, tt.method, base+tt.path, nil, hs...))
		if got := r.Header.Get("X-Cache-Status"); got != tt.want {
			t.Errorf("%s: X-Cache-Status %q, want %q (status %d)", tt.name, got, tt.want, r.Status)
		}
		if tt.want == "Bypass" && r.Header.Get("X-Cache-Key") != "" {
			t.Errorf("%s: X-Cache-Key on a Bypass", tt.name)
		}
	}
	// A request Cache-Control no-cache bypasses under cache_control.
	if r := do(t, c, req(t, "GET", base+"/cc/ok", nil, "Cache-Control", "no-cache")); r.Header.Get("X-Cache-Status") != "Bypass" {
		t.Errorf("request no-cache: %q, want Bypass", r.Header.Get("X-Cache-Status"))
	}
}
