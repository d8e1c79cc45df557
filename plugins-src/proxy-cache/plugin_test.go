//go:build !wasip1

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// clock sets the plugin's clock for the test.
func clock(t *testing.T, at *int64) {
	t.Helper()
	prev := now
	now = func() int64 { return *at }
	t.Cleanup(func() { now = prev })
}

func start(t *testing.T, cfg string, props map[string][]byte) *proxytest.HostEmulator {
	t.Helper()
	host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(cfg), Properties: props})
	if host != nil {
		t.Cleanup(host.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return host
}

func get(hs [][2]string, k string) (string, bool) {
	for _, kv := range hs {
		if strings.EqualFold(kv[0], k) {
			return kv[1], true
		}
	}
	return "", false
}

// upstream is what the upstream answers in a stream.
type upstream struct {
	status string
	header [][2]string
	body   string
}

var okJSON = upstream{status: "200", header: [][2]string{{"content-type", "application/json"}}, body: `{"n":1}`}

// result is what the client got.
type result struct {
	local   bool
	status  string
	headers [][2]string
	body    string
}

// run drives one stream: request headers, then (unless answered locally)
// the upstream's response in two body chunks.
func run(t *testing.T, host *proxytest.HostEmulator, method, path string, reqH [][2]string, up upstream) result {
	t.Helper()
	id := host.InitializeHttpContext()
	defer host.CompleteHttpContext(id)
	req := append([][2]string{{":method", method}, {":path", path}, {":authority", "example.com"}}, reqH...)
	a := host.CallOnRequestHeaders(id, req, true)
	if lr := host.GetSentLocalResponse(id); lr != nil {
		if a != proxywasm.ActionPause {
			t.Fatalf("local response with action %v", a)
		}
		return result{local: true, status: itoa(lr.StatusCode), headers: lr.Headers, body: string(lr.Body)}
	}
	rh := append([][2]string{{":status", up.status}}, up.header...)
	host.CallOnResponseHeaders(id, rh, up.body == "")
	if up.body != "" {
		half := len(up.body) / 2
		host.CallOnResponseBody(id, []byte(up.body[:half]), false)
		host.CallOnResponseBody(id, []byte(up.body[half:]), true)
	}
	return result{status: up.status, headers: host.GetCurrentResponseHeaders(id), body: up.body}
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func cacheStatus(r result) string { v, _ := get(r.headers, "x-cache-status"); return v }

func TestMissThenHit(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	host := start(t, `{"strategy":"memory"}`, map[string][]byte{"route_name": []byte("r1")})
	up := upstream{status: "200", header: [][2]string{{"content-type", "application/json"}, {"x-up", "1"}, {"connection", "close"}, {"content-length", "7"}}, body: `{"n":1}`}
	miss := run(t, host, "GET", "/p?b=2&a=1", nil, up)
	if miss.local || cacheStatus(miss) != "Miss" {
		t.Fatalf("first request: local %v, X-Cache-Status %q, want a Miss from upstream", miss.local, cacheStatus(miss))
	}
	key, _ := get(miss.headers, "x-cache-key")
	sum := sha256.Sum256([]byte("r1|GET|/p|a=1:b=2|"))
	if want := hex.EncodeToString(sum[:]); key != want {
		t.Errorf("X-Cache-Key %q, want Kong's sha256(route|method|uri|params|headers) %q", key, want)
	}
	at += 7
	hit := run(t, host, "GET", "/p?a=1&b=2", nil, upstream{status: "500"})
	if !hit.local || hit.status != "200" || hit.body != `{"n":1}` || cacheStatus(hit) != "Hit" {
		t.Fatalf("second request: %+v, want a local 200 Hit with the cached body", hit)
	}
	if k, _ := get(hit.headers, "x-cache-key"); k != key {
		t.Errorf("hit X-Cache-Key %q, want %q", k, key)
	}
	if v, _ := get(hit.headers, "age"); v != "7" {
		t.Errorf("Age %q, want 7", v)
	}
	if v, _ := get(hit.headers, "x-up"); v != "1" {
		t.Errorf("cached upstream header x-up = %q, want 1", v)
	}
	for _, h := range []string{"connection", "content-length"} {
		if _, ok := get(hit.headers, h); ok {
			t.Errorf("hop-by-hop header %s replayed", h)
		}
	}
	// HEAD is cached separately from GET.
	if r := run(t, host, "HEAD", "/p?a=1&b=2", nil, upstream{status: "200", header: okJSON.header}); r.local || cacheStatus(r) != "Miss" {
		t.Errorf("HEAD after GET: %+v, want a Miss", r)
	}
}

func TestBypass(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	tests := []struct {
		name   string
		config string
		method string
		reqH   [][2]string
		up     upstream
	}{
		{name: "method not cached", config: `{"strategy":"memory"}`, method: "POST", up: okJSON},
		{name: "status not cached", config: `{"strategy":"memory"}`, method: "GET",
			up: upstream{status: "500", header: okJSON.header, body: "x"}},
		{name: "content type not cached", config: `{"strategy":"memory"}`, method: "GET",
			up: upstream{status: "200", header: [][2]string{{"content-type", "text/html"}}, body: "x"}},
		{name: "no content type", config: `{"strategy":"memory"}`, method: "GET", up: upstream{status: "200", body: "x"}},
		{name: "request no-store", config: `{"strategy":"memory","cache_control":true}`, method: "GET",
			reqH: [][2]string{{"cache-control", "no-store"}}, up: okJSON},
		{name: "authorization", config: `{"strategy":"memory","cache_control":true}`, method: "GET",
			reqH: [][2]string{{"authorization", "Basic eDp5"}}, up: okJSON},
		{name: "response private", config: `{"strategy":"memory","cache_control":true}`, method: "GET",
			up: upstream{status: "200", header: [][2]string{{"content-type", "application/json"}, {"cache-control", "private, max-age=60"}}, body: "x"}},
		{name: "response without max-age under cache_control", config: `{"strategy":"memory","cache_control":true}`, method: "GET", up: okJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, tt.config, nil)
			for i := 0; i < 2; i++ {
				r := run(t, host, tt.method, "/x", tt.reqH, tt.up)
				if r.local || cacheStatus(r) != "Bypass" {
					t.Fatalf("request %d: local %v, X-Cache-Status %q, want Bypass", i, r.local, cacheStatus(r))
				}
				if _, ok := get(r.headers, "x-cache-key"); ok {
					t.Errorf("X-Cache-Key on a Bypass")
				}
			}
		})
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		name   string
		config string
		after  int64
		want   string
	}{
		{name: "fresh", config: `{"strategy":"memory","cache_ttl":10}`, after: 10, want: "Hit"},
		{name: "expired from storage", config: `{"strategy":"memory","cache_ttl":10}`, after: 11, want: "Miss"},
		{name: "stale but stored is refreshed", config: `{"strategy":"memory","cache_ttl":10,"storage_ttl":100}`, after: 11, want: "Refresh"},
		{name: "storage_ttl over", config: `{"strategy":"memory","cache_ttl":10,"storage_ttl":100}`, after: 101, want: "Miss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := int64(5000)
			clock(t, &at)
			host := start(t, tt.config, nil)
			run(t, host, "GET", "/t", nil, okJSON)
			at += tt.after
			r := run(t, host, "GET", "/t", nil, okJSON)
			if got := cacheStatus(r); got != tt.want {
				t.Fatalf("after %ds: X-Cache-Status %q, want %q", tt.after, got, tt.want)
			}
			if tt.want == "Refresh" {
				// The refreshed response is stored again: a Hit follows.
				if r := run(t, host, "GET", "/t", nil, okJSON); cacheStatus(r) != "Hit" {
					t.Errorf("after a Refresh: %q, want Hit", cacheStatus(r))
				}
			}
		})
	}
}

func TestCacheControl(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	host := start(t, `{"strategy":"memory","cache_control":true}`, nil)
	up := upstream{status: "200", header: [][2]string{{"content-type", "text/plain"}, {"cache-control", "public, max-age=30"}}, body: "hello"}
	if r := run(t, host, "GET", "/c", nil, up); cacheStatus(r) != "Miss" {
		t.Fatalf("first: %q", cacheStatus(r))
	}
	at += 20
	if r := run(t, host, "GET", "/c", nil, up); cacheStatus(r) != "Hit" || r.body != "hello" {
		t.Fatalf("within max-age: %+v", r)
	}
	if r := run(t, host, "GET", "/c", [][2]string{{"cache-control", "max-age=5"}}, up); cacheStatus(r) != "Refresh" {
		t.Errorf("client max-age=5 on a 20s old entry: %q, want Refresh", cacheStatus(r))
	}
	if r := run(t, host, "GET", "/c", [][2]string{{"cache-control", "min-fresh=31"}}, up); cacheStatus(r) != "Refresh" {
		t.Errorf("min-fresh beyond the remaining life: %q, want Refresh", cacheStatus(r))
	}
	if r := run(t, host, "GET", "/none", [][2]string{{"cache-control", "only-if-cached"}}, up); !r.local || r.status != "504" {
		t.Errorf("only-if-cached without an entry: %+v, want a local 504", r)
	}
	// s-maxage wins over max-age.
	up2 := upstream{status: "200", header: [][2]string{{"content-type", "text/plain"}, {"cache-control", "max-age=1000, s-maxage=5"}}, body: "s"}
	run(t, host, "GET", "/s", nil, up2)
	at += 6
	if r := run(t, host, "GET", "/s", nil, up2); cacheStatus(r) != "Miss" {
		t.Errorf("s-maxage=5 after 6s: %q, want Miss", cacheStatus(r))
	}
}

func TestVary(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	tests := []struct {
		name       string
		config     string
		first      string
		firstH     [][2]string
		second     string
		secondH    [][2]string
		wantSecond string
	}{
		{name: "all params by default", config: `{"strategy":"memory"}`, first: "/v?a=1", second: "/v?a=1&z=9", wantSecond: "Miss"},
		{name: "param order irrelevant", config: `{"strategy":"memory"}`, first: "/v?a=1&b=2", second: "/v?b=2&a=1", wantSecond: "Hit"},
		{name: "vary_query_params ignores others", config: `{"strategy":"memory","vary_query_params":["a"]}`, first: "/v?a=1&z=1", second: "/v?z=2&a=1", wantSecond: "Hit"},
		{name: "vary_query_params value differs", config: `{"strategy":"memory","vary_query_params":["a"]}`, first: "/v?a=1", second: "/v?a=2", wantSecond: "Miss"},
		{name: "vary_headers differ", config: `{"strategy":"memory","vary_headers":["X-Lang"]}`, first: "/v", firstH: [][2]string{{"x-lang", "en"}},
			second: "/v", secondH: [][2]string{{"x-lang", "fr"}}, wantSecond: "Miss"},
		{name: "vary_headers same", config: `{"strategy":"memory","vary_headers":["X-Lang"]}`, first: "/v", firstH: [][2]string{{"x-lang", "en"}},
			second: "/v", secondH: [][2]string{{"x-lang", "en"}, {"x-other", "1"}}, wantSecond: "Hit"},
		{name: "uri case matters", config: `{"strategy":"memory"}`, first: "/V", second: "/v", wantSecond: "Miss"},
		{name: "ignore_uri_case", config: `{"strategy":"memory","ignore_uri_case":true}`, first: "/V?A=1", second: "/v?a=1", wantSecond: "Hit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, tt.config, nil)
			if r := run(t, host, "GET", tt.first, tt.firstH, okJSON); cacheStatus(r) != "Miss" {
				t.Fatalf("first: %q", cacheStatus(r))
			}
			if r := run(t, host, "GET", tt.second, tt.secondH, okJSON); cacheStatus(r) != tt.wantSecond {
				t.Errorf("second: %q, want %q", cacheStatus(r), tt.wantSecond)
			}
		})
	}
}

func TestResponseHeadersToggles(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	host := start(t, `{"strategy":"memory","response_headers":{"age":false,"X-Cache-Status":false,"X-Cache-Key":false}}`, nil)
	for i := 0; i < 2; i++ {
		r := run(t, host, "GET", "/h", nil, okJSON)
		if r.local != (i == 1) {
			t.Fatalf("request %d: local %v", i, r.local)
		}
		for _, h := range []string{"age", "x-cache-status", "x-cache-key"} {
			if _, ok := get(r.headers, h); ok {
				t.Errorf("request %d: %s present although disabled", i, h)
			}
		}
	}
}

func TestTooLargeNotStored(t *testing.T) {
	at := int64(1000)
	clock(t, &at)
	host := start(t, `{"strategy":"memory"}`, nil)
	big := upstream{status: "200", header: okJSON.header, body: strings.Repeat("x", maxEntryBytes+1)}
	run(t, host, "GET", "/big", nil, big)
	if r := run(t, host, "GET", "/big", nil, big); r.local || cacheStatus(r) != "Miss" {
		t.Errorf("a body over %d bytes was cached: %q", maxEntryBytes, cacheStatus(r))
	}
}

func TestSharedAcrossContexts(t *testing.T) {
	// The entry is stored in shared data, not in the plugin's memory: a
	// second emulator (another instance) would see it through the host;
	// here the slot key and the entry round-trip are checked directly.
	e := &entry{key: strings.Repeat("ab", 32), timestamp: 5, ttl: 10, expires: 15, status: 404,
		headers: [][2]string{{"content-type", "text/plain"}, {"x", ""}}, body: []byte("gone")}
	d, err := decodeEntry(e.encode())
	if err != nil || d.key != e.key || d.timestamp != 5 || d.ttl != 10 || d.expires != 15 || d.status != 404 ||
		!slices.Equal(d.headers, e.headers) || string(d.body) != "gone" {
		t.Fatalf("round trip: %+v, %v", d, err)
	}
	for _, bad := range [][]byte{nil, {0}, {entryVersion}, {entryVersion, 200}, e.encode()[:10]} {
		if _, err := decodeEntry(bad); err == nil {
			t.Errorf("decodeEntry(%v) accepted a corrupt entry", bad)
		}
	}
	if s := slotOf(e.key); !strings.HasPrefix(s, slotPrefix) {
		t.Errorf("slot %q", s)
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{}`, "config.strategy"},
		{`{"strategy":"redis"}`, "config.strategy"},
		{`{"strategy":"memory","response_code":[99]}`, "config.response_code[0]"},
		{`{"strategy":"memory","request_method":["GET","DELETE"]}`, "config.request_method[1]"},
		{`{"strategy":"memory","content_type":["json"]}`, "config.content_type[0]"},
		{`{"strategy":"memory","cache_ttl":0}`, "config.cache_ttl"},
		{`{"strategy":"memory","storage_ttl":-1}`, "config.storage_ttl"},
		{`{"strategy":"memory","vary_headers":["a b"]}`, "config.vary_headers[0]"},
		{`{"strategy":"memory","cache_ttl":"x"}`, "cache_ttl"},
		{`{"strategy":"memory","bogus":1}`, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(tt.config)})
			if host != nil {
				host.Close()
			}
			if err == nil {
				t.Fatal("configuration accepted")
			}
			logs := host.GetLogs(proxywasm.LogLevelError)
			if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, tt.field) }) {
				t.Errorf("logs %q do not name %s", logs, tt.field)
			}
		})
	}
}
