//go:build !wasip1

package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func TestBotDetection(t *testing.T) {
	tests := []struct {
		name, config string
		uas          []string
		wantStatus   uint32
		wantMsg      string
	}{
		{name: "browser passes", config: `{}`, uas: []string{"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}},
		{name: "no user agent passes", config: `{}`},
		{name: "googlebot refused", config: `{}`, uas: []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, wantStatus: 403, wantMsg: "Forbidden"},
		{name: "python-urllib refused", config: `{}`, uas: []string{"Python-urllib/3.11"}, wantStatus: 403, wantMsg: "Forbidden"},
		{name: "allow beats the list", config: `{"allow":["Googlebot"]}`, uas: []string{"Googlebot/2.1"}},
		{name: "deny", config: `{"deny":["^curl/"]}`, uas: []string{"curl/8.0"}, wantStatus: 403, wantMsg: "Forbidden"},
		{name: "deny trims", config: `{"deny":["^curl/8$"]}`, uas: []string{"  curl/8 "}, wantStatus: 403, wantMsg: "Forbidden"},
		{name: "two user agents", config: `{}`, uas: []string{"a", "b"}, wantStatus: 400, wantMsg: "Only one User-Agent header allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(tt.config)})
			if host != nil {
				defer host.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 2; round++ { // the second round hits the cache
				id := host.InitializeHttpContext()
				hs := [][2]string{{":path", "/"}}
				for _, ua := range tt.uas {
					hs = append(hs, [2]string{"user-agent", ua})
				}
				act := host.CallOnRequestHeaders(id, hs, true)
				resp := host.GetSentLocalResponse(id)
				if tt.wantStatus == 0 {
					if act != proxywasm.ActionContinue || resp != nil {
						t.Fatalf("refused: %v %+v", act, resp)
					}
					continue
				}
				var m struct{ Message string }
				if resp == nil || resp.StatusCode != tt.wantStatus || json.Unmarshal(resp.Body, &m) != nil || m.Message != tt.wantMsg {
					t.Fatalf("response %+v, want %d %q", resp, tt.wantStatus, tt.wantMsg)
				}
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{"allow":["("]}`, "config.allow[0]"},
		{`{"deny":["ok","[z-a]"]}`, "config.deny[1]"},
		{`{"whitelist":["x"]}`, "config.whitelist"},
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
