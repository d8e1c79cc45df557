package host_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/telemetry"
)

// scrape fetches the status port's /metrics and parses it with the
// Prometheus text parser.
func scrape(t *testing.T, c *http.Client, url string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	r := get(t, c, url+"/metrics")
	if r.Status != 200 {
		t.Fatalf("GET /metrics: status %d: %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: content-type %q", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(r.Body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, r.Body)
	}
	return fams, string(r.Body)
}

// series finds the metric of family fam whose labels include want.
func series(t *testing.T, fams map[string]*dto.MetricFamily, fam string, want ...string) *dto.Metric {
	t.Helper()
	mf := fams[fam]
	if mf == nil {
		t.Fatalf("no family %s", fam)
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no series %s%v", fam, want)
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

// TestE2EMetrics sends traffic through a route with two plugins (one
// defining its own metrics), and a request no route matches, then
// scrapes /metrics and checks the request, latency, plugin and upstream
// series, and lints every family with promlint.
func TestE2EMetrics(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
upstreams:
  - name: pool
    targets: [{target: "`+be.Addr()+`"}]
services:
  - name: api
    url: http://pool
    routes:
      - name: r1
        paths: [/m]
        plugins:
          - name: `+moduleRef(t, "host/testdata/metrics.wasm")+`
          - name: `+moduleRef(t, "host/wasm/testdata/addheader.wasm")+`
`)
	c := newClient(t)
	const n = 5
	for i := 0; i < n; i++ {
		r := get(t, c, proxyURL(srv)+"/m/x?apikey=secret")
		if r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		for _, h := range []string{"X-Weir-Proxy-Latency", "X-Weir-Upstream-Latency"} {
			if r.Header.Get(h) == "" {
				t.Fatalf("response lacks %s: %v", h, r.Header)
			}
		}
	}
	for i := 0; i < 2; i++ {
		if r := get(t, c, proxyURL(srv)+"/nowhere"); r.Status != 404 {
			t.Fatalf("unrouted: status %d", r.Status)
		}
	}

	fams, text := scrape(t, c, statusURL(srv))

	tests := []struct {
		name   string
		fam    string
		labels []string
		want   float64
	}{
		{name: "2xx on r1", fam: "weir_http_requests_total", labels: []string{"route", "r1", "service", "api", "code", "2xx"}, want: n},
		{name: "5xx on r1", fam: "weir_http_requests_total", labels: []string{"route", "r1", "service", "api", "code", "5xx"}, want: 0},
		{name: "unrouted 4xx", fam: "weir_http_requests_total", labels: []string{"route", "", "code", "4xx"}, want: 2},
		{name: "response bytes", fam: "weir_http_response_body_bytes_total", labels: []string{"route", "r1"}, want: n * 2}, // body "b1"
		{name: "target healthy", fam: "weir_upstream_target_health", labels: []string{"upstream", "pool", "target", be.Addr()}, want: 1},
		{name: "nothing in flight", fam: "weir_upstream_target_requests_in_flight", labels: []string{"upstream", "pool"}, want: 0},
		{name: "plugin counter", fam: "weir_plugin_metrics_hits_total", want: n},
		{name: "no traps", fam: "weir_plugin_traps_total", labels: []string{"plugin", "metrics"}, want: 0},
		{name: "no fail-open", fam: "weir_plugin_fail_open_total", labels: []string{"plugin", "metrics"}, want: 0},
		{name: "reload failures", fam: "weir_config_reloads_total", labels: []string{"result", "failure"}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := value(series(t, fams, tc.fam, tc.labels...)); got != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.fam, tc.labels, got, tc.want)
			}
		})
	}

	// Latency histograms: one observation per request, positive sums.
	for _, fam := range []string{"weir_http_request_duration_seconds", "weir_http_proxy_duration_seconds", "weir_upstream_duration_seconds"} {
		h := series(t, fams, fam, "route", "r1", "service", "api").GetHistogram()
		if h == nil || h.GetSampleCount() != n || h.GetSampleSum() <= 0 {
			t.Errorf("%s{r1}: %v, want %d observations with a positive sum", fam, h, n)
		}
		if b := h.GetBucket(); len(b) == 0 || b[len(b)-1].GetCumulativeCount() > n {
			t.Errorf("%s{r1}: buckets %v", fam, b)
		}
	}
	// Total >= upstream for the same requests.
	tot := series(t, fams, "weir_http_request_duration_seconds", "route", "r1").GetHistogram().GetSampleSum()
	up := series(t, fams, "weir_upstream_duration_seconds", "route", "r1").GetHistogram().GetSampleSum()
	if up > tot {
		t.Errorf("upstream time %v exceeds total %v", up, tot)
	}
	// Per-plugin, per-phase histograms: each phase ran once per request
	// for both plugins.
	for _, plugin := range []string{"metrics", "addheader"} {
		for _, phase := range []string{"request_headers", "response_headers", "log"} {
			h := series(t, fams, "weir_plugin_phase_duration_seconds", "plugin", plugin, "phase", phase).GetHistogram()
			if h.GetSampleCount() != n {
				t.Errorf("plugin %s phase %s: %d observations, want %d", plugin, phase, h.GetSampleCount(), n)
			}
		}
	}
	if v := value(series(t, fams, "weir_plugin_instances", "plugin", "metrics")); v < 1 {
		t.Errorf("weir_plugin_instances{metrics} = %v, want >= 1", v)
	}
	if v := value(series(t, fams, "weir_plugin_memory_bytes", "plugin", "metrics")); v < 2*65536 {
		t.Errorf("weir_plugin_memory_bytes{metrics} = %v, want at least the module's 2 pages", v)
	}
	if v := value(series(t, fams, "weir_plugin_metrics_configured")); v != 1 {
		t.Errorf("plugin gauge = %v, want 1", v)
	}
	sum := series(t, fams, "weir_plugin_metrics_payload").GetSummary()
	if sum.GetSampleCount() != n || sum.GetSampleSum() != 7*n {
		t.Errorf("plugin histogram: count %d sum %v, want %d and %d", sum.GetSampleCount(), sum.GetSampleSum(), n, 7*n)
	}
	if v := value(series(t, fams, "weir_config_last_reload_success_timestamp_seconds")); v < 1.7e9 {
		t.Errorf("last reload timestamp %v", v)
	}
	if v := value(series(t, fams, "weir_connections_accepted_total")); v < 1 {
		t.Errorf("connections accepted %v", v)
	}

	// Cardinality: no raw path or query reaches a label.
	for _, bad := range []string{"/m/x", "apikey", "secret", "/nowhere"} {
		if strings.Contains(text, bad) {
			t.Errorf("/metrics contains %q", bad)
		}
	}

	// promlint over the whole exposition.
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestE2ETelemetryConfig renames the latency headers to Kong's through a
// reload, turns them off, and checks that a broken tracing section is
// refused with the field named while the running config keeps serving;
// counters survive the reloads.
func TestE2ETelemetryConfig(t *testing.T) {
	be := newBackend(t, "b1", nil)
	base := `
_format_version: "3.0"
services:
  - name: api
    url: http://` + be.Addr() + `
    routes: [{name: r1, paths: [/]}]
`
	srv := startWeir(t, base)
	c := newClient(t)
	if r := get(t, c, proxyURL(srv)+"/"); r.Header.Get("X-Weir-Proxy-Latency") == "" || r.Header.Get("X-Weir-Upstream-Latency") == "" {
		t.Fatalf("default latency headers missing: %v", r.Header)
	}

	kong := base + `
weir:
  latency_headers: {proxy: X-Kong-Proxy-Latency, upstream: X-Kong-Upstream-Latency}
`
	if r := postConfig(t, c, srv, kong); r.Status != 201 && r.Status != 200 {
		t.Fatalf("POST /config: %d %s", r.Status, r.Body)
	}
	r := get(t, c, proxyURL(srv)+"/")
	if r.Header.Get("X-Kong-Proxy-Latency") == "" || r.Header.Get("X-Kong-Upstream-Latency") == "" || r.Header.Get("X-Weir-Proxy-Latency") != "" {
		t.Fatalf("after renaming: %v", r.Header)
	}

	bad := kong + `
  tracing: {endpoint: "collector:4317", sampling_ratio: 2}
`
	r = postConfig(t, c, srv, bad)
	if r.Status != 400 || !strings.Contains(string(r.Body), "weir.tracing.endpoint") || !strings.Contains(string(r.Body), "weir.tracing.sampling_ratio") {
		t.Fatalf("bad tracing config: %d %s", r.Status, r.Body)
	}
	if r := get(t, c, proxyURL(srv)+"/"); r.Status != 200 || r.Header.Get("X-Kong-Proxy-Latency") == "" {
		t.Fatalf("running config lost after a refused one: %d %v", r.Status, r.Header)
	}

	off := base + `
weir:
  latency_headers: {enabled: false}
`
	if r := postConfig(t, c, srv, off); r.Status/100 != 2 {
		t.Fatalf("POST /config: %d %s", r.Status, r.Body)
	}
	r = get(t, c, proxyURL(srv)+"/")
	if r.Header.Get("X-Weir-Proxy-Latency") != "" || r.Header.Get("X-Kong-Proxy-Latency") != "" {
		t.Fatalf("latency headers sent while disabled: %v", r.Header)
	}

	fams, _ := scrape(t, c, statusURL(srv))
	if v := value(series(t, fams, "weir_http_requests_total", "route", "r1", "code", "2xx")); v != 4 {
		t.Errorf("r1 2xx = %v after 4 requests across reloads", v)
	}
	if v := value(series(t, fams, "weir_config_reloads_total", "result", "failure")); v != 1 {
		t.Errorf("failed reloads = %v, want 1", v)
	}
	if v := value(series(t, fams, "weir_config_reloads_total", "result", "success")); v != 2 {
		t.Errorf("successful reloads = %v, want 2", v)
	}
}

// TestAccessLogFieldLists keeps the config's field list and the access
// log's in step.
func TestAccessLogFieldLists(t *testing.T) {
	for _, f := range config.AccessLogFields {
		if err := telemetry.ValidateField(f); err != nil {
			t.Errorf("config.AccessLogFields has %q, the access log refuses it: %v", f, err)
		}
	}
	for _, f := range telemetry.DefaultAccessLogFields {
		if !slices.Contains(config.AccessLogFields, f) {
			t.Errorf("default field %q is not in config.AccessLogFields", f)
		}
	}
}

// TestE2EMetricsScrapeUnderLoad scrapes /metrics while requests run
// through a plugin chain (run with -race: the collectors read plugin
// pools, instance memory and balancers that requests use).
func TestE2EMetricsScrapeUnderLoad(t *testing.T) {
	be := newBackend(t, "b1", nil)
	srv := startWeir(t, `
_format_version: "3.0"
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: r1
        paths: [/]
        plugins:
          - name: `+moduleRef(t, "host/testdata/metrics.wasm")+`
`)
	const workers, each = 4, 25
	done := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			c := &http.Client{}
			for i := 0; i < each; i++ {
				resp, err := c.Get(proxyURL(srv) + "/")
				if err != nil {
					done <- err
					return
				}
				resp.Body.Close()
			}
			done <- nil
		}()
	}
	c := newClient(t)
	for finished := 0; finished < workers; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished++
		default:
			scrape(t, c, statusURL(srv))
		}
	}
	fams, _ := scrape(t, c, statusURL(srv))
	if v := value(series(t, fams, "weir_http_requests_total", "route", "r1", "code", "2xx")); v != workers*each {
		t.Errorf("2xx = %v, want %d", v, workers*each)
	}
	if v := value(series(t, fams, "weir_plugin_metrics_hits_total")); v != workers*each {
		t.Errorf("plugin counter = %v, want %d", v, workers*each)
	}
}
