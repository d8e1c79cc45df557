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

func TestSizeLimit(t *testing.T) {
	tests := []struct {
		name, config string
		headers      [][2]string
		chunks       []string // body without content-length
		wantStatus   uint32
		wantMsg      string
	}{
		{name: "default 128 MB allows", config: `{}`, headers: [][2]string{{"content-length", "134217728"}}},
		{name: "default 128 MB refuses one more", config: `{}`, headers: [][2]string{{"content-length", "134217729"}}, wantStatus: 413, wantMsg: msgTooLarge},
		{name: "kilobytes", config: `{"allowed_payload_size":1,"size_unit":"kilobytes"}`, headers: [][2]string{{"content-length", "1025"}}, wantStatus: 413, wantMsg: msgTooLarge},
		{name: "bytes at limit", config: `{"allowed_payload_size":10,"size_unit":"bytes"}`, headers: [][2]string{{"content-length", "10"}}},
		{name: "expect 100-continue", config: `{"allowed_payload_size":1,"size_unit":"bytes"}`,
			headers: [][2]string{{"content-length", "2"}, {"expect", "100-Continue"}}, wantStatus: 417, wantMsg: msgTooLarge},
		{name: "require content length", config: `{"require_content_length":true}`, wantStatus: 411, wantMsg: msgLengthMissing},
		{name: "invalid content length required", config: `{"require_content_length":true}`, headers: [][2]string{{"content-length", "x"}}, wantStatus: 411, wantMsg: msgLengthMissing},
		{name: "streamed body over", config: `{"allowed_payload_size":5,"size_unit":"bytes"}`, chunks: []string{"abc", "def"}, wantStatus: 413, wantMsg: msgTooLarge},
		{name: "streamed body under", config: `{"allowed_payload_size":6,"size_unit":"bytes"}`, chunks: []string{"abc", "def"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, err := proxytest.NewHostEmulator(proxytest.Options{PluginConfig: []byte(tt.config),
				Properties: map[string][]byte{"request.id": []byte("rid")}})
			if host != nil {
				defer host.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			id := host.InitializeHttpContext()
			hs := append([][2]string{{":method", "POST"}, {":path", "/"}}, tt.headers...)
			act := host.CallOnRequestHeaders(id, hs, len(tt.chunks) == 0)
			for i, c := range tt.chunks {
				if act != proxywasm.ActionContinue && host.GetSentLocalResponse(id) != nil {
					break
				}
				act = host.CallOnRequestBody(id, []byte(c), i == len(tt.chunks)-1)
			}
			resp := host.GetSentLocalResponse(id)
			if tt.wantStatus == 0 {
				if resp != nil || act != proxywasm.ActionContinue {
					t.Fatalf("refused: %v %+v", act, resp)
				}
				return
			}
			if resp == nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("response %+v, want %d", resp, tt.wantStatus)
			}
			var m struct {
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			}
			if json.Unmarshal(resp.Body, &m) != nil || m.Message != tt.wantMsg || m.RequestID != "rid" {
				t.Errorf("body %s, want %q", resp.Body, tt.wantMsg)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct{ config, field string }{
		{`{"size_unit":"gigabytes"}`, "config.size_unit"},
		{`{"allowed_payload_size":-1}`, "config.allowed_payload_size"},
		{`{"allowed_payload_size":1.5}`, "config.allowed_payload_size"},
		{`{"require_content_length":"yes"}`, "config.require_content_length"},
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
