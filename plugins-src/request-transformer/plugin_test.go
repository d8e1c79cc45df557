//go:build !wasip1

package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
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

// values returns every value of header k.
func values(hs [][2]string, k string) []string {
	var out []string
	for _, kv := range hs {
		if strings.EqualFold(kv[0], k) {
			out = append(out, kv[1])
		}
	}
	return out
}

func TestHeadersPathMethod(t *testing.T) {
	tests := []struct {
		name   string
		config string
		req    [][2]string
		want   map[string][]string // nil value = absent
	}{
		{name: "remove rename replace add append",
			config: `{"remove":{"headers":["x-drop"]},"rename":{"headers":["x-old:x-new"]},"replace":{"headers":["x-rep:new","x-missing:no"]},
				"add":{"headers":["x-add:1","x-rep:not-added"]},"append":{"headers":["x-app:2","x-fresh:3"]}}`,
			req: [][2]string{{"x-drop", "a"}, {"x-old", "o1"}, {"x-old", "o2"}, {"x-rep", "old"}, {"x-app", "1"}},
			want: map[string][]string{"x-drop": nil, "x-old": nil, "x-new": {"o1", "o2"}, "x-rep": {"new"}, "x-missing": nil,
				"x-add": {"1"}, "x-app": {"1", "2"}, "x-fresh": {"3"}}},
		{name: "order: removed then added", config: `{"remove":{"headers":["x-a"]},"add":{"headers":["x-a:fresh"]}}`,
			req: [][2]string{{"x-a", "old"}}, want: map[string][]string{"x-a": {"fresh"}}},
		{name: "rename onto existing replaces it", config: `{"rename":{"headers":["x-a:x-b"]}}`,
			req: [][2]string{{"x-a", "1"}, {"x-b", "2"}}, want: map[string][]string{"x-a": nil, "x-b": {"1"}}},
		{name: "value with colons", config: `{"add":{"headers":["x-url:http://a:8080/p"]}}`,
			want: map[string][]string{"x-url": {"http://a:8080/p"}}},
		{name: "replace host", config: `{"replace":{"headers":["host:new.test"]}}`,
			want: map[string][]string{":authority": {"new.test"}}},
		{name: "querystring", config: `{"remove":{"querystring":["drop"]},"rename":{"querystring":["old:new"]},"replace":{"querystring":["rep:R"]},
				"add":{"querystring":["add:A","rep:no"]},"append":{"querystring":["app:2"]}}`,
			want: map[string][]string{":path": {"/p?add=A&app=1&app=2&keep=k&new=o&rep=R"}}},
		{name: "replace uri keeps the query", config: `{"replace":{"uri":"/v2/x"}}`,
			want: map[string][]string{":path": {"/v2/x?drop=1&old=o&rep=r&app=1&keep=k"}}},
		{name: "http_method", config: `{"http_method":"post"}`, want: map[string][]string{":method": {"POST"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, tt.config)
			id := host.InitializeHttpContext()
			req := append([][2]string{{":method", "GET"}, {":path", "/p?drop=1&old=o&rep=r&app=1&keep=k"}, {":authority", "a.test"}}, tt.req...)
			if a := host.CallOnRequestHeaders(id, req, true); a != proxywasm.ActionContinue {
				t.Fatalf("action %v", a)
			}
			got := host.GetCurrentRequestHeaders(id)
			for k, want := range tt.want {
				if v := values(got, k); !reflect.DeepEqual(v, want) {
					t.Errorf("%s = %q, want %q (all: %q)", k, v, want, got)
				}
			}
		})
	}
}

func TestBody(t *testing.T) {
	const cfg = `{"remove":{"body":["drop"]},"rename":{"body":["old:new"]},"replace":{"body":["rep:R","missing:M"]},
		"add":{"body":["add:A","rep:no"]},"append":{"body":["app:2","fresh:F"]}}`
	tests := []struct {
		name, ct, body string
		wantJSON       map[string]any
		wantRaw        string
	}{
		{name: "json", ct: "application/json; charset=utf-8", body: `{"drop":1,"old":"o","rep":"r","app":"1","keep":true}`,
			wantJSON: map[string]any{"new": "o", "rep": "R", "add": "A", "app": []any{"1", "2"}, "fresh": []any{"F"}, "keep": true}},
		{name: "json empty body gets add and append", ct: "application/json", body: ``,
			wantJSON: map[string]any{"add": "A", "rep": "no", "app": []any{"2"}, "fresh": []any{"F"}}},
		{name: "form", ct: "application/x-www-form-urlencoded", body: `drop=1&old=o&rep=r&app=1&keep=k`,
			wantRaw: "add=A&app=1&app=2&fresh=F&keep=k&new=o&rep=R"},
		{name: "invalid json untouched", ct: "application/json", body: `{nope`, wantRaw: `{nope`},
		{name: "other type untouched", ct: "text/plain", body: `drop=1`, wantRaw: `drop=1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, cfg)
			id := host.InitializeHttpContext()
			host.CallOnRequestHeaders(id, [][2]string{{":method", "POST"}, {":path", "/"}, {"content-type", tt.ct}, {"content-length", "10"}}, false)
			if tt.wantRaw == tt.body {
				host.CallOnRequestBody(id, []byte(tt.body), true)
			} else if tt.body != "" {
				host.CallOnRequestBody(id, []byte(tt.body[:len(tt.body)/2]), false)
				host.CallOnRequestBody(id, []byte(tt.body[len(tt.body)/2:]), true)
			} else {
				host.CallOnRequestBody(id, nil, true)
			}
			got := host.GetCurrentRequestBody(id)
			if tt.wantJSON != nil {
				var m map[string]any
				if err := json.Unmarshal(got, &m); err != nil {
					t.Fatalf("body %q: %v", got, err)
				}
				if !reflect.DeepEqual(m, tt.wantJSON) {
					t.Errorf("body %v, want %v", m, tt.wantJSON)
				}
				if len(values(host.GetCurrentRequestHeaders(id), "content-length")) != 0 {
					t.Error("content-length kept on a rewritten body")
				}
				return
			}
			if string(got) != tt.wantRaw {
				t.Errorf("body %q, want %q", got, tt.wantRaw)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{"add":{"headers":["novalue"]}}`, "config.add.headers[0]"},
		{`{"append":{"querystring":[":v"]}}`, "config.append.querystring[0]"},
		{`{"replace":{"body":["a:$(headers.x)"]}}`, "config.replace.body[0]"},
		{`{"http_method":"GE T"}`, "config.http_method"},
		{`{"replace":{"uri":"/a b"}}`, "config.replace.uri"},
		{`{"remove":{"header":["x"]}}`, "config.remove.header"},
		{`{"remove":{"headers":"x"}}`, "config.remove.headers"},
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

var _ = sort.Strings
