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

func TestIPRestriction(t *testing.T) {
	tests := []struct {
		name, config, addr string
		wantStatus         uint32 // 0: allowed
		wantMsg            string
	}{
		{name: "allow v4 cidr", config: `{"allow":["10.0.0.0/8"]}`, addr: "10.1.2.3:5555"},
		{name: "not in allow", config: `{"allow":["10.0.0.0/8"]}`, addr: "11.1.2.3:5555", wantStatus: 403, wantMsg: "IP address not allowed: 11.1.2.3"},
		{name: "deny single ip", config: `{"deny":["127.0.0.1"]}`, addr: "127.0.0.1:1", wantStatus: 403, wantMsg: "IP address not allowed: 127.0.0.1"},
		{name: "deny wins over allow", config: `{"allow":["127.0.0.0/8"],"deny":["127.0.0.2"]}`, addr: "127.0.0.2:1", wantStatus: 403, wantMsg: "IP address not allowed: 127.0.0.2"},
		{name: "deny miss passes", config: `{"deny":["127.0.0.2"]}`, addr: "127.0.0.1:1"},
		{name: "v6 allow", config: `{"allow":["2001:db8::/32"]}`, addr: "[2001:db8::1]:443"},
		{name: "v6 deny", config: `{"deny":["::1"]}`, addr: "[::1]:443", wantStatus: 403, wantMsg: "IP address not allowed: ::1"},
		{name: "v4-mapped v6 matches v4 rule", config: `{"deny":["1.2.3.0/24"]}`, addr: "[::ffff:1.2.3.4]:1", wantStatus: 403, wantMsg: "IP address not allowed: 1.2.3.4"},
		{name: "status and message", config: `{"deny":["0.0.0.0/0"],"status":401,"message":"go away"}`, addr: "8.8.8.8:1", wantStatus: 401, wantMsg: "go away"},
		{name: "no source address", config: `{"deny":["0.0.0.0/0"]}`, addr: "", wantStatus: 403,
			wantMsg: "Cannot identify the client IP address, unix domain sockets are not supported."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props := map[string][]byte{"request.id": []byte("0123456789abcdef0123456789abcdef")}
			if tt.addr != "" {
				props["source.address"] = []byte(tt.addr)
			}
			host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(tt.config), Properties: props})
			if host != nil {
				defer host.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			id := host.InitializeHttpContext()
			act := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
			resp := host.GetSentLocalResponse(id)
			if tt.wantStatus == 0 {
				if act != proxywasm.ActionContinue || resp != nil {
					t.Fatalf("refused: %v %+v", act, resp)
				}
				return
			}
			if resp == nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("response %+v, want %d", resp, tt.wantStatus)
			}
			var msg struct {
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(resp.Body, &msg); err != nil || msg.Message != tt.wantMsg || msg.RequestID != "0123456789abcdef0123456789abcdef" {
				t.Errorf("body %s, want message %q and the request id", resp.Body, tt.wantMsg)
			}
			if !slices.Contains(resp.Headers, [2]string{"content-type", "application/json; charset=utf-8"}) {
				t.Errorf("headers %q", resp.Headers)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{}`, "config.allow"},
		{`{"allow":["10.0.0.0/33"]}`, "config.allow[0]"},
		{`{"deny":["1.2.3.4","nope"]}`, "config.deny[1]"},
		{`{"deny":["1.2.3.4"],"status":99}`, "config.status"},
		{`{"deny":["1.2.3.4"],"message":5}`, "config.message"},
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
