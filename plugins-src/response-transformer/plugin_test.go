//go:build !wasip1

package main

import (
	"encoding/json"
	"reflect"
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

func values(hs [][2]string, k string) []string {
	var out []string
	for _, kv := range hs {
		if strings.EqualFold(kv[0], k) {
			out = append(out, kv[1])
		}
	}
	return out
}

func TestHeaders(t *testing.T) {
	host := start(t, `{"remove":{"headers":["x-drop"]},"rename":{"headers":["x-old:x-new"]},"replace":{"headers":["x-rep:R","x-missing:M"]},
		"add":{"headers":["x-add:A","x-rep:no"]},"append":{"headers":["x-app:2"]}}`)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"x-drop", "1"}, {"x-old", "o1"}, {"x-old", "o2"}, {"x-rep", "r"}, {"x-app", "1"}}, true)
	got := host.GetCurrentResponseHeaders(id)
	want := map[string][]string{"x-drop": nil, "x-old": nil, "x-new": {"o1", "o2"}, "x-rep": {"R"}, "x-missing": nil, "x-add": {"A"}, "x-app": {"1", "2"}}
	for k, w := range want {
		if v := values(got, k); !reflect.DeepEqual(v, w) {
			t.Errorf("%s = %q, want %q", k, v, w)
		}
	}
}

func TestJSONBody(t *testing.T) {
	const cfg = `{"remove":{"json":["drop"]},"rename":{"json":["old:new"]},
		"replace":{"json":["rep:7","missing:M"],"json_types":["number"]},
		"add":{"json":["flag:true","rep:no","s:x"],"json_types":["boolean","string"]},
		"append":{"json":["list:b","str:2"],"json_types":["string","number"]}}`
	tests := []struct {
		name, ct, body string
		want           string // JSON to compare structurally, or the raw body
		chunked        bool
	}{
		{name: "json object", ct: "application/json", body: `{"drop":1,"old":"o","rep":"r","list":["a"],"str":"s","keep":{"n":1}}`,
			want: `{"new":"o","rep":7,"flag":true,"s":"x","list":["a","b"],"str":["s",2],"keep":{"n":1}}`, chunked: true},
		{name: "not json content type", ct: "text/plain", body: `{"drop":1}`, want: `{"drop":1}`},
		{name: "invalid json passes", ct: "application/json", body: `[1,2]`, want: `[1,2]`, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := start(t, cfg)
			id := host.InitializeHttpContext()
			host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
			host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"content-type", tt.ct}, {"content-length", "99"}}, false)
			if tt.chunked {
				if a := host.CallOnResponseBody(id, []byte(tt.body[:3]), false); a != proxywasm.ActionPause {
					t.Fatalf("first chunk action %v, want pause (buffering)", a)
				}
				host.CallOnResponseBody(id, []byte(tt.body[3:]), true)
			} else {
				host.CallOnResponseBody(id, []byte(tt.body), true)
			}
			got := host.GetCurrentResponseBody(id)
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(tt.want), &w) != nil || !reflect.DeepEqual(g, w) {
				if string(got) != tt.want {
					t.Errorf("body %s, want %s", got, tt.want)
				}
			}
			cl := values(host.GetCurrentResponseHeaders(id), "content-length")
			if tt.ct == "application/json" && len(cl) != 0 {
				t.Errorf("content-length %q kept for a rewritten body", cl)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{"add":{"json_types":["int"]}}`, "config.add.json_types[0]"},
		{`{"replace":{"json":["a:x"],"json_types":["number"]}}`, "config.replace.json[0]"},
		{`{"rename":{"headers":["nocolon"]}}`, "config.rename.headers[0]"},
		{`{"remove":{"json":"a"}}`, "config.remove.json"},
		{`{"remove":{"body":["a"]}}`, "config.remove.body"},
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
