package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Metrics configures the Prometheus metrics served on the status port
// (GET /metrics).
type Metrics struct {
	// Enabled (default true) records per-route, per-plugin and upstream
	// series. Label values are route, service, upstream, target and
	// plugin names only: never paths or consumers.
	Enabled *bool `json:"enabled,omitempty"`
}

// Tracing configures OpenTelemetry tracing over OTLP. Absent: off.
type Tracing struct {
	// Endpoint is the collector: http(s)://host:port (gRPC) or
	// http(s)://host:port[/path] (HTTP; path default /v1/traces).
	// http:// sends in plaintext. Required.
	Endpoint string `json:"endpoint"`
	// Protocol is "http" (OTLP/HTTP protobuf, default) or "grpc".
	Protocol string `json:"protocol,omitempty"`
	// SamplingRatio of new traces, 0..1 (default 1). Requests whose
	// parent was sampled are always traced.
	SamplingRatio *float64 `json:"sampling_ratio,omitempty"`
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string `json:"headers,omitempty"`
	// ServiceName is the resource service.name (default "weir").
	ServiceName string `json:"service_name,omitempty"`
}

// AccessLog configures the JSON access log. Absent: off.
type AccessLog struct {
	// Path is "stdout", "stderr" or a file (appended). "" with an
	// http_endpoint ships only.
	Path string `json:"path,omitempty"`
	// Fields, in order (default: every field but referer). Names:
	// AccessLogFields, or request_header:<Name> (credential headers are
	// always REDACTED).
	Fields []string `json:"fields,omitempty"`
	// RedactQuery adds query parameter names whose values are
	// REDACTED (apikey, token, password and the like always are).
	RedactQuery []string `json:"redact_query,omitempty"`
	// HTTPEndpoint receives entries in batches (a JSON array per POST,
	// as Kong's http-log); it never slows requests: a full queue drops
	// entries and counts them.
	HTTPEndpoint string `json:"http_endpoint,omitempty"`
	// BatchSize (default 100) and FlushInterval (ms, default 1000)
	// bound a shipped batch; QueueSize (default 8192) bounds what waits.
	BatchSize     int               `json:"batch_size,omitempty"`
	FlushInterval int               `json:"flush_interval,omitempty"`
	QueueSize     int               `json:"queue_size,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
}

// AccessLogFields are the access log's field names.
var AccessLogFields = []string{"time", "request_id", "trace_id", "client_ip", "method", "host", "path", "query",
	"protocol", "status", "route", "service", "upstream_addr", "latency_ms", "proxy_latency_ms", "upstream_latency_ms",
	"bytes_in", "bytes_out", "user_agent", "referer"}

// LatencyHeaders configures the latency headers of proxied responses
// (Kong's X-Kong-Proxy-Latency and X-Kong-Upstream-Latency).
type LatencyHeaders struct {
	// Enabled (default true).
	Enabled *bool `json:"enabled,omitempty"`
	// Proxy names the header carrying Weir's time before the request
	// went upstream, in ms (default X-Weir-Proxy-Latency).
	Proxy string `json:"proxy,omitempty"`
	// Upstream names the header carrying the upstream's time to its
	// response head, in ms (default X-Weir-Upstream-Latency).
	Upstream string `json:"upstream,omitempty"`
}

// Default latency header names.
const (
	DefaultProxyLatencyHeader    = "X-Weir-Proxy-Latency"
	DefaultUpstreamLatencyHeader = "X-Weir-Upstream-Latency"
)

func (w *Weir) normalizeObservability() {
	if w.Metrics.Enabled == nil {
		w.Metrics.Enabled = ptr(true)
	}
	lh := &w.LatencyHeaders
	if lh.Enabled == nil {
		lh.Enabled = ptr(true)
	}
	if lh.Proxy == "" {
		lh.Proxy = DefaultProxyLatencyHeader
	}
	if lh.Upstream == "" {
		lh.Upstream = DefaultUpstreamLatencyHeader
	}
	if t := w.Tracing; t != nil {
		if t.Protocol == "" {
			t.Protocol = "http"
		}
		if t.SamplingRatio == nil {
			t.SamplingRatio = ptr(1.0)
		}
		if t.ServiceName == "" {
			t.ServiceName = "weir"
		}
	}
	if a := w.AccessLog; a != nil {
		if a.BatchSize == 0 {
			a.BatchSize = 100
		}
		if a.FlushInterval == 0 {
			a.FlushInterval = 1000
		}
		if a.QueueSize == 0 {
			a.QueueSize = 8192
		}
	}
}

func (v *validator) observability() {
	w := &v.c.Weir
	lh := &w.LatencyHeaders
	if !isToken(lh.Proxy) {
		v.errs.add("weir.latency_headers.proxy", fmt.Sprintf("invalid header name %q", lh.Proxy))
	}
	if !isToken(lh.Upstream) {
		v.errs.add("weir.latency_headers.upstream", fmt.Sprintf("invalid header name %q", lh.Upstream))
	}
	if t := w.Tracing; t != nil {
		if err := checkHTTPURL(t.Endpoint); err != nil {
			v.errs.add("weir.tracing.endpoint", err.Error())
		}
		if t.Protocol != "http" && t.Protocol != "grpc" {
			v.errs.add("weir.tracing.protocol", fmt.Sprintf("unsupported protocol %q (want http or grpc)", t.Protocol))
		}
		if r := *t.SamplingRatio; !(r >= 0 && r <= 1) {
			v.errs.add("weir.tracing.sampling_ratio", fmt.Sprintf("%v is out of range 0..1", r))
		}
		for k := range t.Headers {
			if !isToken(k) {
				v.errs.add("weir.tracing.headers", fmt.Sprintf("invalid header name %q", k))
			}
		}
	}
	if a := w.AccessLog; a != nil {
		if a.Path == "" && a.HTTPEndpoint == "" {
			v.errs.add("weir.access_log.path", "set a path (stdout, stderr or a file) or an http_endpoint")
		}
		for i, f := range a.Fields {
			if h, ok := strings.CutPrefix(f, "request_header:"); ok {
				if !isToken(h) {
					v.errs.add(index("weir.access_log.fields", i), fmt.Sprintf("invalid header name %q", h))
				}
				continue
			}
			known := false
			for _, k := range AccessLogFields {
				known = known || k == f
			}
			if !known {
				v.errs.add(index("weir.access_log.fields", i), fmt.Sprintf("unknown field %q (want one of %s, or request_header:<Name>)",
					f, strings.Join(AccessLogFields, ", ")))
			}
		}
		if a.HTTPEndpoint != "" {
			if err := checkHTTPURL(a.HTTPEndpoint); err != nil {
				v.errs.add("weir.access_log.http_endpoint", err.Error())
			}
		}
		for _, n := range []struct {
			field string
			v     int
			max   int
		}{{"weir.access_log.batch_size", a.BatchSize, 10000}, {"weir.access_log.flush_interval", a.FlushInterval, 3600000},
			{"weir.access_log.queue_size", a.QueueSize, 1 << 20}} {
			if n.v < 1 || n.v > n.max {
				v.errs.add(n.field, fmt.Sprintf("%d is out of range 1..%d", n.v, n.max))
			}
		}
	}
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	return nil
}
