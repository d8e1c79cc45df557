package config

import (
	"strings"
	"testing"
)

func TestValidateObservability(t *testing.T) {
	ratio := func(f float64) *float64 { return &f }
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []want // sorted by path; nil = valid
	}{
		{name: "defaults are valid", mutate: func(c *Config) {}},
		{
			name: "tracing and access log valid",
			mutate: func(c *Config) {
				c.Weir.Tracing = &Tracing{Endpoint: "http://127.0.0.1:4317", Protocol: "grpc", SamplingRatio: ratio(0.25)}
				c.Weir.AccessLog = &AccessLog{Path: "stdout", Fields: []string{"status", "request_header:X-Tenant"},
					BatchSize: 1, FlushInterval: 1, QueueSize: 1}
			},
		},
		{
			name: "tracing fields",
			mutate: func(c *Config) {
				c.Weir.Tracing = &Tracing{Endpoint: "127.0.0.1:4317", Protocol: "thrift", SamplingRatio: ratio(1.5),
					Headers: map[string]string{"bad header": "x"}}
			},
			want: []want{
				{"weir.tracing.endpoint", "", `"127.0.0.1:4317" is not an http:// or https:// URL`},
				{"weir.tracing.headers", "", `invalid header name "bad header"`},
				{"weir.tracing.protocol", "", `unsupported protocol "thrift"`},
				{"weir.tracing.sampling_ratio", "", "1.5 is out of range 0..1"},
			},
		},
		{
			name: "access log fields",
			mutate: func(c *Config) {
				c.Weir.AccessLog = &AccessLog{Fields: []string{"status", "password", "request_header:bad name"},
					HTTPEndpoint: "ftp://x", BatchSize: 0, FlushInterval: 1, QueueSize: 1}
			},
			want: []want{
				{"weir.access_log.batch_size", "", "0 is out of range 1..10000"},
				{"weir.access_log.fields[1]", "", `unknown field "password"`},
				{"weir.access_log.fields[2]", "", `invalid header name "bad name"`},
				{"weir.access_log.http_endpoint", "", `"ftp://x" is not an http:// or https:// URL`},
			},
		},
		{
			name:   "access log needs a sink",
			mutate: func(c *Config) { c.Weir.AccessLog = &AccessLog{BatchSize: 1, FlushInterval: 1, QueueSize: 1} },
			want:   []want{{"weir.access_log.path", "", "set a path"}},
		},
		{
			name:   "latency header names",
			mutate: func(c *Config) { c.Weir.LatencyHeaders.Proxy = "X Bad" },
			want:   []want{{"weir.latency_headers.proxy", "", `invalid header name "X Bad"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNormalize(t, validBase)
			tt.mutate(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve := fieldErrors(t, err)
			if len(ve) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(ve), len(tt.want), err)
			}
			for i, w := range tt.want {
				e := ve[i]
				if e.Path != w.path || !strings.Contains(e.Message, w.msg) {
					t.Errorf("error %d = {Path: %q, Message: %q}, want {Path: %q, Message: ...%q...}", i, e.Path, e.Message, w.path, w.msg)
				}
			}
		})
	}
}

func TestNormalizeObservabilityDefaults(t *testing.T) {
	c := mustNormalize(t, validBase)
	w := c.Weir
	if !*w.Metrics.Enabled || !*w.LatencyHeaders.Enabled || w.LatencyHeaders.Proxy != DefaultProxyLatencyHeader ||
		w.LatencyHeaders.Upstream != DefaultUpstreamLatencyHeader || w.Tracing != nil || w.AccessLog != nil {
		t.Fatalf("defaults: %+v", w)
	}
}
