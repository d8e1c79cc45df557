//go:build !wasip1

package main

import (
	"slices"
	"testing"

	"github.com/weirproxy/weir/sdk/go/proxytest"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

func TestHeadersPlugin(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		reqIn     [][2]string
		wantValue string
	}{
		{name: "configured value", config: `{"value":"abc"}`, reqIn: [][2]string{{":path", "/"}}, wantValue: "abc"},
		{name: "default value", config: ``, reqIn: [][2]string{{":path", "/"}}, wantValue: "hello"},
		{name: "replaces a client value", config: `{"value":"v"}`,
			reqIn: [][2]string{{":path", "/"}, {"X-Weir-Example", "spoofed"}}, wantValue: "v"},
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
			if a := host.CallOnRequestHeaders(id, tt.reqIn, true); a != proxywasm.ActionContinue {
				t.Errorf("request action = %v, want Continue", a)
			}
			var values []string
			for _, h := range host.GetCurrentRequestHeaders(id) {
				if h[0] == requestHeader || h[0] == "X-Weir-Example" {
					values = append(values, h[1])
				}
			}
			if !slices.Equal(values, []string{tt.wantValue}) {
				t.Errorf("%s values = %q, want [%q]", requestHeader, values, tt.wantValue)
			}
			if a := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false); a != proxywasm.ActionContinue {
				t.Errorf("response action = %v, want Continue", a)
			}
			want := [][2]string{{":status", "200"}, {"x-powered-by", "weir-go-sdk"}}
			if got := host.GetCurrentResponseHeaders(id); !slices.Equal(got, want) {
				t.Errorf("response headers = %q, want %q", got, want)
			}
			if logs := host.GetLogs(proxywasm.LogLevelError); len(logs) != 0 {
				t.Errorf("error logs: %q", logs)
			}
		})
	}
}

func TestHeadersPluginRejectsBadConfig(t *testing.T) {
	host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(`{"value":1}`)})
	if host != nil {
		defer host.Close()
	}
	if err == nil {
		t.Fatal("plugin started with a non-string value")
	}
	if logs := host.GetLogs(proxywasm.LogLevelError); len(logs) != 1 {
		t.Errorf("error logs = %q, want one", logs)
	}
}
