package host_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestE2EKeyAuth drives the built-in key-auth plugin through real HTTP
// requests, one case per config field and Kong error.
func TestE2EKeyAuth(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
consumers:
  - username: alice
    custom_id: alice-cid
    keyauth_credentials:
      - key: alice-key
  - username: bob
    id: 8f3a3f2e-1111-4222-8333-944455556666
    keyauth_credentials:
      - key: bob-key
        id: 0c7b1a52-aaaa-4bbb-8ccc-ddddeeeeffff
  - username: anon
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: default
        paths: [/default]
        plugins:
          - name: key-auth
      - name: custom
        paths: [/custom]
        plugins:
          - name: key-auth
            config:
              key_names: [x-api-key, token]
              hide_credentials: true
              realm: weir-test
      - name: headeronly
        paths: [/headeronly]
        plugins:
          - name: key-auth
            config: {key_in_query: false}
      - name: queryonly
        paths: [/queryonly]
        plugins:
          - name: key-auth
            config: {key_in_header: false}
      - name: body
        paths: [/body]
        plugins:
          - name: key-auth
            config: {key_in_body: true, key_in_header: false, key_in_query: false, hide_credentials: true}
      - name: nopreflight
        paths: [/nopreflight]
        plugins:
          - name: key-auth
            config: {run_on_preflight: false}
      - name: anonymous
        paths: [/anonymous]
        plugins:
          - name: key-auth
            config: {anonymous: anon}
`)
	c := newClient(t)
	base := proxyURL(srv)

	cases := []struct {
		name       string
		method     string
		path       string
		body       string
		headers    []string
		wantStatus int
		wantMsg    string
		wantWWW    string
		upstream   func(t *testing.T, r recorded)
	}{
		{name: "no key", path: "/default/x", wantStatus: 401, wantMsg: "No API key found in request", wantWWW: "Key"},
		{name: "bad key", path: "/default/x", headers: []string{"apikey", "nope"}, wantStatus: 401, wantMsg: "Unauthorized", wantWWW: "Key"},
		{name: "duplicate header", path: "/default/x", headers: []string{"apikey", "alice-key", "apikey", "bob-key"},
			wantStatus: 401, wantMsg: "Duplicate API key found", wantWWW: "Key"},
		{name: "duplicate query", path: "/default/x?apikey=a&apikey=b", wantStatus: 401, wantMsg: "Duplicate API key found"},
		{name: "header key", path: "/default/x", headers: []string{"apikey", "alice-key"}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Consumer-Username") != "alice" || r.Header.Get("X-Consumer-Custom-Id") != "alice-cid" {
					t.Errorf("consumer headers %v", r.Header)
				}
				if id := r.Header.Get("X-Consumer-Id"); len(id) != 36 {
					t.Errorf("X-Consumer-ID %q is not a UUID", id)
				}
				if r.Header.Get("X-Credential-Identifier") == "" {
					t.Errorf("no X-Credential-Identifier")
				}
				if r.Header.Get("Apikey") != "alice-key" {
					t.Errorf("hide_credentials=false must keep the key header")
				}
			}},
		{name: "query key with ids", path: "/default/x?apikey=bob-key&a=1", wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Consumer-Id") != "8f3a3f2e-1111-4222-8333-944455556666" ||
					r.Header.Get("X-Credential-Identifier") != "0c7b1a52-aaaa-4bbb-8ccc-ddddeeeeffff" {
					t.Errorf("consumer headers %v", r.Header)
				}
				if !strings.Contains(r.RequestURI, "apikey=bob-key") {
					t.Errorf("upstream URI %q lost the key", r.RequestURI)
				}
			}},
		{name: "forged consumer header replaced", path: "/default/x", headers: []string{"apikey", "alice-key", "X-Consumer-Username", "mallory", "X-Anonymous-Consumer", "true"},
			wantStatus: 200, upstream: func(t *testing.T, r recorded) {
				if got := r.Header.Values("X-Consumer-Username"); len(got) != 1 || got[0] != "alice" {
					t.Errorf("X-Consumer-Username %q", got)
				}
				if r.Header.Get("X-Anonymous-Consumer") != "" {
					t.Errorf("forged X-Anonymous-Consumer kept")
				}
			}},
		{name: "custom key_names realm", path: "/custom/x", wantStatus: 401, wantMsg: "No API key found in request", wantWWW: `Key realm="weir-test"`},
		{name: "custom name, hidden header", path: "/custom/x", headers: []string{"X-Api-Key", "alice-key"}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Api-Key") != "" {
					t.Errorf("hide_credentials kept the header")
				}
			}},
		{name: "custom second name in query, hidden", path: "/custom/x?token=bob-key&keep=1", wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if strings.Contains(r.RequestURI, "token") || !strings.Contains(r.RequestURI, "keep=1") {
					t.Errorf("upstream URI %q", r.RequestURI)
				}
			}},
		{name: "key_in_query false", path: "/headeronly/x?apikey=alice-key", wantStatus: 401, wantMsg: "No API key found in request"},
		{name: "key_in_query false header ok", path: "/headeronly/x", headers: []string{"apikey", "alice-key"}, wantStatus: 200},
		{name: "key_in_header false", path: "/queryonly/x", headers: []string{"apikey", "alice-key"}, wantStatus: 401, wantMsg: "No API key found in request"},
		{name: "key_in_header false query ok", path: "/queryonly/x?apikey=alice-key", wantStatus: 200},
		{name: "body form", method: "POST", path: "/body/x", body: "apikey=alice-key&x=1",
			headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if string(r.Body) != "x=1" {
					t.Errorf("upstream body %q, want the key hidden", r.Body)
				}
			}},
		{name: "body json", method: "POST", path: "/body/x", body: `{"apikey":"bob-key"}`,
			headers: []string{"Content-Type", "application/json"}, wantStatus: 200},
		{name: "body missing", method: "POST", path: "/body/x", body: `{"other":1}`,
			headers: []string{"Content-Type", "application/json"}, wantStatus: 401, wantMsg: "No API key found in request"},
		{name: "preflight skipped", method: "OPTIONS", path: "/nopreflight/x", wantStatus: 200},
		{name: "preflight checked by default", method: "OPTIONS", path: "/default/x", wantStatus: 401, wantMsg: "No API key found in request"},
		{name: "anonymous", path: "/anonymous/x", wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Anonymous-Consumer") != "true" || r.Header.Get("X-Consumer-Username") != "anon" {
					t.Errorf("anonymous headers %v", r.Header)
				}
			}},
		{name: "anonymous with valid key", path: "/anonymous/x", headers: []string{"apikey", "alice-key"}, wantStatus: 200,
			upstream: func(t *testing.T, r recorded) {
				if r.Header.Get("X-Anonymous-Consumer") != "" || r.Header.Get("X-Consumer-Username") != "alice" {
					t.Errorf("headers %v", r.Header)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = http.MethodGet
			}
			before := be.Hits.Load()
			r := send(t, c, m, base+tc.path, tc.body, tc.headers...)
			expectKong(t, tc.name, r, tc.wantStatus, tc.wantMsg)
			if tc.wantWWW != "" && r.Header.Get("WWW-Authenticate") != tc.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", r.Header.Get("WWW-Authenticate"), tc.wantWWW)
			}
			if tc.wantStatus != 200 && be.Hits.Load() != before {
				t.Errorf("a refused request reached the upstream")
			}
			if tc.upstream != nil {
				tc.upstream(t, be.Last(t))
			}
		})
	}
}
