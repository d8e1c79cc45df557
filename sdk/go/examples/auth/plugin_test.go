//go:build !wasip1

package main

import (
	"slices"
	"testing"

	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func TestAuthPlugin(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		headers    [][2]string
		wantAction proxywasm.Action
		wantStatus uint32 // 0: no local response
	}{
		{name: "valid first key", config: `{"keys":["k1","k2"]}`,
			headers: [][2]string{{":path", "/"}, {"x-api-key", "k1"}}, wantAction: proxywasm.ActionContinue},
		{name: "valid second key, mixed-case name", config: `{"keys":["k1","k2"]}`,
			headers: [][2]string{{":path", "/"}, {"X-Api-Key", "k2"}}, wantAction: proxywasm.ActionContinue},
		{name: "missing key", config: `{"keys":["k1"]}`,
			headers: [][2]string{{":path", "/"}}, wantAction: proxywasm.ActionPause, wantStatus: 401},
		{name: "wrong key", config: `{"keys":["k1"]}`,
			headers: [][2]string{{":path", "/"}, {"x-api-key", "k3"}}, wantAction: proxywasm.ActionPause, wantStatus: 401},
		{name: "prefix of a key", config: `{"keys":["k1"]}`,
			headers: [][2]string{{"x-api-key", "k"}}, wantAction: proxywasm.ActionPause, wantStatus: 401},
		{name: "empty key never matches", config: `{"keys":[""]}`,
			headers: [][2]string{{"x-api-key", ""}}, wantAction: proxywasm.ActionPause, wantStatus: 401},
		{name: "no keys configured", config: ``,
			headers: [][2]string{{"x-api-key", "k1"}}, wantAction: proxywasm.ActionPause, wantStatus: 401},
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
			id := host.InitializeHttpContext()
			if a := host.CallOnRequestHeaders(id, tt.headers, true); a != tt.wantAction {
				t.Errorf("action = %v, want %v", a, tt.wantAction)
			}
			resp := host.GetSentLocalResponse(id)
			if tt.wantStatus == 0 {
				if resp != nil {
					t.Fatalf("unexpected local response %+v", resp)
				}
				for _, h := range host.GetCurrentRequestHeaders(id) {
					if h[0] == "x-api-key" || h[0] == "X-Api-Key" {
						t.Errorf("key header %q still goes upstream", h)
					}
				}
				if !slices.Contains(host.GetCurrentRequestHeaders(id), [2]string{":path", "/"}) {
					t.Errorf("other headers lost: %q", host.GetCurrentRequestHeaders(id))
				}
				return
			}
			if resp == nil {
				t.Fatal("no local response")
			}
			if resp.StatusCode != tt.wantStatus || string(resp.Body) != `{"message":"Unauthorized"}` || resp.GRPCStatus != -1 {
				t.Errorf("local response = %d %q grpc %d", resp.StatusCode, resp.Body, resp.GRPCStatus)
			}
			if !slices.Contains(resp.Headers, [2]string{"www-authenticate", "Key"}) {
				t.Errorf("local response headers %q lack www-authenticate: Key", resp.Headers)
			}
		})
	}
}

func TestAuthPluginRejectsBadConfig(t *testing.T) {
	host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(`{"keys":"k1"}`)})
	if host != nil {
		defer host.Close()
	}
	if err == nil {
		t.Fatal("plugin started with keys as a string")
	}
}
