//go:build !wasip1

package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func start(t *testing.T, cfg string) *proxytest.HostEmulator {
	t.Helper()
	host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(cfg)})
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

func TestPreflight(t *testing.T) {
	tests := []struct {
		name   string
		config string
		req    [][2]string
		want   map[string]string // "" = absent
	}{
		{name: "defaults", config: `{}`,
			req: [][2]string{{"origin", "http://a.test"}, {"access-control-request-method", "PUT"}, {"access-control-request-headers", "x-one"}},
			want: map[string]string{"access-control-allow-origin": "*", "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT",
				"access-control-allow-headers": "x-one", "vary": "", "access-control-max-age": "", "access-control-allow-credentials": ""}},
		{name: "all fields", config: `{"origins":["http://a.test","https://b\\.test"],"methods":["GET","POST"],"headers":["x-a","x-b"],"max_age":3600,"credentials":true,"private_network":true}`,
			req: [][2]string{{"origin", "https://b.test"}, {"access-control-request-method", "GET"}, {"access-control-request-private-network", "true"}},
			want: map[string]string{"access-control-allow-origin": "https://b.test", "access-control-allow-methods": "GET,POST", "access-control-allow-headers": "x-a,x-b",
				"access-control-max-age": "3600", "access-control-allow-credentials": "true", "access-control-allow-private-network": "true", "vary": "Origin"}},
		{name: "regex origin not matched", config: `{"origins":["http://a\\.test","http://c.test"]}`,
			req:  [][2]string{{"origin", "http://evil.test"}, {"access-control-request-method", "GET"}},
			want: map[string]string{"access-control-allow-origin": "", "vary": "Origin"}},
		{name: "regex by host", config: `{"origins":["(.*)\\.example\\.com"]}`,
			req:  [][2]string{{"origin", "https://api.example.com"}, {"access-control-request-method", "GET"}},
			want: map[string]string{"access-control-allow-origin": "https://api.example.com"}},
		{name: "single plain origin verbatim", config: `{"origins":["http://a.test"]}`,
			req:  [][2]string{{"origin", "http://other.test"}, {"access-control-request-method", "GET"}},
			want: map[string]string{"access-control-allow-origin": "http://a.test", "vary": "Origin"}},
		{name: "credentials with star echo the origin", config: `{"credentials":true}`,
			req:  [][2]string{{"origin", "http://x.test"}, {"access-control-request-method", "GET"}},
			want: map[string]string{"access-control-allow-origin": "http://x.test", "access-control-allow-credentials": "true", "vary": "Origin"}},
		{name: "private network off", config: `{}`,
			req:  [][2]string{{"origin", "http://x.test"}, {"access-control-request-method", "GET"}, {"access-control-request-private-network", "true"}},
			want: map[string]string{"access-control-allow-private-network": ""}},
		{name: "default port normalized", config: `{"origins":["http://a.test","https://b.test:443"]}`,
			req:  [][2]string{{"origin", "https://b.test"}, {"access-control-request-method", "GET"}},
			want: map[string]string{"access-control-allow-origin": "https://b.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, tt.config)
			id := host.InitializeHttpContext()
			req := append([][2]string{{":method", "OPTIONS"}, {":path", "/"}}, tt.req...)
			if a := host.CallOnRequestHeaders(id, req, true); a != proxywasm.ActionPause {
				t.Fatalf("action %v, want pause (local answer)", a)
			}
			resp := host.GetSentLocalResponse(id)
			if resp == nil || resp.StatusCode != 200 || len(resp.Body) != 0 {
				t.Fatalf("local response %+v, want 200 with no body", resp)
			}
			for k, want := range tt.want {
				got, ok := get(resp.Headers, k)
				if want == "" && ok {
					t.Errorf("%s = %q, want absent", k, got)
				}
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestPreflightContinue(t *testing.T) {
	host := start(t, `{"preflight_continue":true,"exposed_headers":["x-e"]}`)
	id := host.InitializeHttpContext()
	req := [][2]string{{":method", "OPTIONS"}, {"origin", "http://a.test"}, {"access-control-request-method", "GET"}}
	if a := host.CallOnRequestHeaders(id, req, true); a != proxywasm.ActionContinue {
		t.Fatalf("action %v", a)
	}
	host.CallOnResponseHeaders(id, [][2]string{{":status", "204"}}, true)
	if _, ok := get(host.GetCurrentResponseHeaders(id), "access-control-allow-origin"); ok {
		t.Fatal("a delegated preflight got CORS response headers")
	}
	// OPTIONS without Access-Control-Request-Method is not a preflight.
	id = host.InitializeHttpContext()
	if a := host.CallOnRequestHeaders(id, [][2]string{{":method", "OPTIONS"}, {"origin", "http://a.test"}}, true); a != proxywasm.ActionContinue {
		t.Fatalf("action %v", a)
	}
	if host.GetSentLocalResponse(id) != nil {
		t.Fatal("answered a non-preflight OPTIONS")
	}
}

func TestActualRequest(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		origin   string // "" = none
		upstream [][2]string
		want     map[string]string
		wantVary int
	}{
		{name: "star", config: `{"exposed_headers":["x-a","x-b"]}`, origin: "http://a.test",
			want: map[string]string{"access-control-allow-origin": "*", "access-control-expose-headers": "x-a,x-b"}},
		{name: "matched echo", config: `{"origins":["http://a.test","http://b.test"],"credentials":true}`, origin: "http://b.test",
			upstream: [][2]string{{"vary", "Accept"}},
			want:     map[string]string{"access-control-allow-origin": "http://b.test", "access-control-allow-credentials": "true"}, wantVary: 2},
		{name: "not matched clears upstream ACAO", config: `{"origins":["http://a.test","http://b.test"]}`, origin: "http://c.test",
			upstream: [][2]string{{"access-control-allow-origin", "*"}},
			want:     map[string]string{"access-control-allow-origin": ""}, wantVary: 1},
		{name: "origin absent allowed", config: `{}`, want: map[string]string{"access-control-allow-origin": "*"}},
		{name: "origin absent refused", config: `{"allow_origin_absent":false}`, want: map[string]string{"access-control-allow-origin": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, tt.config)
			id := host.InitializeHttpContext()
			req := [][2]string{{":method", "GET"}, {":path", "/"}}
			if tt.origin != "" {
				req = append(req, [2]string{"origin", tt.origin})
			}
			if a := host.CallOnRequestHeaders(id, req, true); a != proxywasm.ActionContinue {
				t.Fatalf("request action %v", a)
			}
			host.CallOnResponseHeaders(id, append([][2]string{{":status", "200"}}, tt.upstream...), false)
			hs := host.GetCurrentResponseHeaders(id)
			for k, want := range tt.want {
				got, ok := get(hs, k)
				if want == "" && ok || want != "" && got != want {
					t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			n := 0
			for _, kv := range hs {
				if kv[0] == "vary" {
					n++
				}
			}
			if n != tt.wantVary {
				t.Errorf("%d vary fields in %q, want %d", n, hs, tt.wantVary)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{"origins":["(unclosed"]}`, "config.origins[0]"},
		{`{"methods":["GET","FETCH"]}`, "config.methods[1]"},
		{`{"max_age":-1}`, "config.max_age"},
		{`{"max_age":"x"}`, "config.max_age"},
		{`{"credential":true}`, "config.credential"},
		{`{"headers":[""]}`, "config.headers[0]"},
	}
	for _, tt := range tests {
		host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(tt.config)})
		if host != nil {
			host.Close()
		}
		if err == nil {
			t.Errorf("%s: accepted", tt.config)
			continue
		}
		logs := host.GetLogs(proxywasm.LogLevelError)
		if !slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, tt.field) }) {
			t.Errorf("%s: error logs %q do not name %s", tt.config, logs, tt.field)
		}
	}
}
