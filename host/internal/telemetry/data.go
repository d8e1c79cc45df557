package telemetry

import (
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// RouteMetrics are the series one route updates per request, looked up
// once when the snapshot is built.
type RouteMetrics struct {
	// Requests by status class: index status/100 (1..5); 0 counts
	// anything else (no response written).
	Requests [6]*metrics.Counter
	// Total is the whole request, Upstream the upstream's time to the
	// response head, Proxy the rest (Weir's own time: plugins, routing,
	// streaming).
	Total, Proxy, Upstream *Histogram
	// BytesIn and BytesOut count body bytes received from and sent to
	// the client.
	BytesIn, BytesOut *metrics.Counter
}

var classes = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Route returns the series of a route. service is "" for a route
// without one.
func (r *Registry) Route(route, service string) *RouteMetrics {
	m := &RouteMetrics{}
	for i, c := range classes {
		m.Requests[i] = r.Counter("weir_http_requests_total",
			"Requests served, by route, service and status class.",
			"route", route, "service", service, "code", c)
	}
	m.Total = r.Histogram("weir_http_request_duration_seconds",
		"Time from the request head to the end of the response.", LatencyBuckets,
		"route", route, "service", service)
	m.Proxy = r.Histogram("weir_http_proxy_duration_seconds",
		"Weir's own share of the request time (total minus upstream).", LatencyBuckets,
		"route", route, "service", service)
	m.Upstream = r.Histogram("weir_upstream_duration_seconds",
		"Time from sending the request upstream to its response head.", LatencyBuckets,
		"route", route, "service", service)
	m.BytesIn = r.Counter("weir_http_request_body_bytes_total",
		"Request body bytes received from clients.", "route", route, "service", service)
	m.BytesOut = r.Counter("weir_http_response_body_bytes_total",
		"Response body bytes sent to clients.", "route", route, "service", service)
	return m
}

// Record updates the route's series for one finished request.
// upstream is 0 when no upstream answered.
func (m *RouteMetrics) Record(status int, total, upstream time.Duration, in, out int64) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	m.Requests[c].Inc()
	m.Total.Observe(total)
	if upstream > 0 {
		m.Upstream.Observe(upstream)
	}
	m.Proxy.Observe(total - upstream)
	if in > 0 {
		m.BytesIn.Add(int(in))
	}
	if out > 0 {
		m.BytesOut.Add(int(out))
	}
}

// Phase is a plugin phase, as labelled in metrics and span names.
type Phase uint8

// Plugin phases.
const (
	PhaseRequestHeaders Phase = iota
	PhaseRequestBody
	PhaseResponseHeaders
	PhaseResponseBody
	PhaseLog
	PhaseRequestTrailers
	PhaseResponseTrailers
	NumPhases
)

var phaseNames = [NumPhases]string{"request_headers", "request_body", "response_headers", "response_body", "log",
	"request_trailers", "response_trailers"}

// String returns the phase's label value.
func (p Phase) String() string {
	if p < NumPhases {
		return phaseNames[p]
	}
	return "unknown"
}

// PluginMetrics are one plugin's data-path series.
type PluginMetrics struct {
	Phase    [NumPhases]*Histogram
	FailOpen *metrics.Counter
	// SpanNames are "plugin <name> <phase>", rendered once.
	SpanNames [NumPhases]string
}

// Plugin returns the series of the plugin named name.
func (r *Registry) Plugin(name string) *PluginMetrics {
	m := &PluginMetrics{}
	for i := range m.Phase {
		m.Phase[i] = r.Histogram("weir_plugin_phase_duration_seconds",
			"Time spent in a plugin's phase callbacks, per request.", PluginBuckets,
			"plugin", name, "phase", phaseNames[i])
		m.SpanNames[i] = "plugin " + name + " " + phaseNames[i]
	}
	m.FailOpen = r.Counter("weir_plugin_fail_open_total",
		"Requests on which a failed plugin was skipped (fail_policy open).", "plugin", name)
	return m
}
