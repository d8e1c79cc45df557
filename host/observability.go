package host

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/config"
	"github.com/weirproxy/weir/host/internal/proxy"
	"github.com/weirproxy/weir/host/internal/telemetry"
	"github.com/weirproxy/weir/host/internal/upstream"
	"github.com/weirproxy/weir/host/wasm"
)

// observer owns the server's telemetry: the metrics registry (one for
// the server's life, so counters survive reloads), and the tracer and
// access log of the configuration in service, rebuilt only when their
// settings change.
type observer struct {
	reg *telemetry.Registry
	log *slog.Logger

	mu      sync.Mutex // serialized by Server.mu too; guards the fields below
	tracer  *telemetry.Tracer
	alog    *telemetry.AccessLog
	alogCfg string // JSON of the access log settings alog was built from

	lastReloadOK atomic.Int64 // unix ns of the last successful load
}

// graceRetire is how long a replaced tracer or access log keeps serving
// the requests still running on the old snapshot.
const graceRetire = 2 * time.Minute

func newObserver(s *Server) *observer {
	o := &observer{reg: telemetry.NewRegistry(), log: s.log}
	o.lastReloadOK.Store(time.Now().UnixNano())
	o.reg.Collect(func(e *telemetry.Emitter) { o.collectServer(e, s) })
	return o
}

// decorate adds the telemetry of cfg to snap (built beside prev, which
// may be nil). commit retires what snap replaces once it serves; abort
// undoes what decorate started when the load fails later.
func (o *observer) decorate(cfg *config.Config, snap, prev *proxy.Snapshot) (commit, abort func(), err error) {
	w := &cfg.Weir
	ob := proxy.Observability{}
	if boolOr(w.Metrics.Enabled, true) {
		ob.Unmatched = o.reg.Route("", "")
		// The registry returns the same series for the same labels; a
		// route of prev with the same name and service already holds
		// them, and looking them up again (eight series by formatted
		// name per route) was most of the cost of a reload at 10,000
		// routes.
		// Routes usually keep their place: look there first, and index
		// prev's routes only when a route is not found there.
		var prevSeries map[[2]string]*telemetry.RouteMetrics
		for i, rt := range snap.Routes {
			if rt.Metrics != nil {
				continue // a route carried over from prev (serving already)
			}
			k := [2]string{rt.Name, routeServiceName(rt)}
			if prev != nil && i < len(prev.Routes) {
				if p := prev.Routes[i]; p.Metrics != nil && p.Name == k[0] && routeServiceName(p) == k[1] {
					rt.Metrics = p.Metrics
					continue
				}
			}
			if prevSeries == nil && prev != nil {
				prevSeries = make(map[[2]string]*telemetry.RouteMetrics, len(prev.Routes))
				for _, p := range prev.Routes {
					if p.Metrics != nil {
						prevSeries[[2]string{p.Name, routeServiceName(p)}] = p.Metrics
					}
				}
			}
			if m := prevSeries[k]; m != nil {
				rt.Metrics = m
				continue
			}
			rt.Metrics = o.reg.Route(k[0], k[1])
		}
		for k, p := range snap.Plugins {
			// A plugin carried over from prev is serving already: its
			// series were set when it was new.
			if prev != nil && prev.Plugins[k] == p {
				continue
			}
			p.Metrics = o.reg.Plugin(pluginLabel(p.Name))
		}
		// Routes hold per-entry views of these plugins (their scope and
		// counter store; see scoped): give them the same series.
		byWasm := make(map[*wasm.Plugin]*telemetry.PluginMetrics, len(snap.Plugins))
		for _, p := range snap.Plugins {
			if p.Wasm != nil {
				byWasm[p.Wasm] = p.Metrics
			}
		}
		for _, rt := range snap.Routes {
			for _, p := range rt.Plugins {
				if m, ok := byWasm[p.Wasm]; ok && p.Metrics != m {
					p.Metrics = m
				}
				for _, cp := range p.ByConsumer {
					if m, ok := byWasm[cp.Wasm]; ok && cp.Metrics != m {
						cp.Metrics = m
					}
				}
			}
		}
	}
	if lh := w.LatencyHeaders; boolOr(lh.Enabled, true) {
		ob.ProxyLatencyHeader = http.CanonicalHeaderKey(lh.Proxy)
		ob.UpstreamLatencyHeader = http.CanonicalHeaderKey(lh.Upstream)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	var newTracer *telemetry.Tracer
	var newLog *telemetry.AccessLog
	abort = func() {
		if newTracer != nil {
			newTracer.Shutdown(context.Background())
		}
		if newLog != nil {
			newLog.Close()
		}
	}
	tracer := (*telemetry.Tracer)(nil)
	if t := w.Tracing; t != nil {
		to := telemetry.TracingOptions{Endpoint: t.Endpoint, Protocol: t.Protocol, SamplingRatio: *t.SamplingRatio,
			Headers: t.Headers, ServiceName: t.ServiceName}
		if o.tracer != nil && o.tracer.Same(to) {
			tracer = o.tracer
		} else {
			if newTracer, err = telemetry.NewTracer(to); err != nil {
				return nil, nil, fmt.Errorf("weir.tracing: %w", err)
			}
			tracer = newTracer
		}
	}
	ob.Tracer = tracer

	alog := (*telemetry.AccessLog)(nil)
	alogCfg := ""
	if a := w.AccessLog; a != nil {
		b, _ := json.Marshal(a)
		alogCfg = string(b)
		if o.alog != nil && o.alogCfg == alogCfg {
			alog = o.alog
		} else {
			newLog, err = telemetry.NewAccessLog(telemetry.AccessLogOptions{
				Path: a.Path, Fields: a.Fields, RedactQuery: a.RedactQuery, HTTPEndpoint: a.HTTPEndpoint,
				BatchSize: a.BatchSize, FlushInterval: time.Duration(a.FlushInterval) * time.Millisecond,
				QueueSize: a.QueueSize, Headers: a.Headers,
			}, o.reg)
			if err != nil {
				abort()
				return nil, nil, fmt.Errorf("weir.access_log: %w", err)
			}
			alog = newLog
		}
	}
	ob.AccessLog = alog
	snap.Options.Obs = ob

	commit = func() {
		o.mu.Lock()
		oldTracer, oldLog := o.tracer, o.alog
		o.tracer, o.alog, o.alogCfg = tracer, alog, alogCfg
		o.mu.Unlock()
		if oldTracer != nil && oldTracer != tracer {
			time.AfterFunc(graceRetire, func() { oldTracer.Shutdown(context.Background()) })
		}
		if oldLog != nil && oldLog != alog {
			time.AfterFunc(graceRetire, func() { oldLog.Close() })
		}
	}
	return commit, abort, nil
}

// routeServiceName is the service label of a route's series.
func routeServiceName(rt *proxy.Route) string {
	if rt.Service != nil {
		return rt.Service.Name
	}
	return ""
}

// close flushes and stops the tracer and the access log (shutdown).
func (o *observer) close(ctx context.Context) {
	o.mu.Lock()
	t, l := o.tracer, o.alog
	o.tracer, o.alog = nil, nil
	o.mu.Unlock()
	if t != nil {
		if err := t.Shutdown(ctx); err != nil {
			o.log.Warn("tracing: exporting the last spans failed", "err", err)
		}
	}
	if l != nil {
		l.Close()
	}
}

// collectServer writes the series whose values live in the server, the
// snapshot's balancers and its plugins.
func (o *observer) collectServer(e *telemetry.Emitter, s *Server) {
	e.Family("weir_connections_active", "Client connections open now (proxy listener).", "gauge")
	e.Sample("weir_connections_active", float64(s.connsActive.Load()))
	e.Family("weir_connections_accepted_total", "Client connections accepted (proxy listener).", "counter")
	e.Sample("weir_connections_accepted_total", float64(s.connsAccepted.Load()))
	e.Family("weir_config_reloads_total", "Configuration loads after start-up, by result.", "counter")
	e.Sample("weir_config_reloads_total", float64(s.reloadsOK.Load()), "result", "success")
	e.Sample("weir_config_reloads_total", float64(s.reloadsFailed.Load()), "result", "failure")
	e.Family("weir_config_last_reload_success_timestamp_seconds", "When the configuration in service was loaded (Unix time).", "gauge")
	e.Sample("weir_config_last_reload_success_timestamp_seconds", float64(o.lastReloadOK.Load())/1e9)
	if s.h == nil {
		return
	}
	snap := s.h.Snapshot()
	collectUpstreams(e, snap)
	collectPlugins(e, snap)
}

func collectUpstreams(e *telemetry.Emitter, snap *proxy.Snapshot) {
	seen := map[*upstream.Balancer]bool{}
	var bs []*upstream.Balancer
	add := func(b *upstream.Balancer) {
		if b != nil && !seen[b] {
			seen[b] = true
			bs = append(bs, b)
		}
	}
	for _, b := range snap.Balancers {
		add(b)
	}
	for _, svc := range snap.Services {
		add(svc.Balancer)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name() < bs[j].Name() })
	e.Family("weir_upstream_target_health", "1 when the target is in rotation, 0 when health checks took it out.", "gauge")
	for _, b := range bs {
		for _, t := range b.Targets() {
			v := 0.0
			if t.Healthy() {
				v = 1
			}
			e.Sample("weir_upstream_target_health", v, "upstream", b.Name(), "target", t.Addr)
		}
	}
	e.Family("weir_upstream_target_requests_in_flight", "Requests the target is serving now.", "gauge")
	for _, b := range bs {
		for _, t := range b.Targets() {
			e.Sample("weir_upstream_target_requests_in_flight", float64(t.InFlight()), "upstream", b.Name(), "target", t.Addr)
		}
	}
}

// pluginStats aggregates the plugin instances that share a name (one
// plugin attached with different configurations).
type pluginStats struct {
	traps, timeouts, restarts, instances, memory float64
}

func collectPlugins(e *telemetry.Emitter, snap *proxy.Snapshot) {
	stats := map[string]*pluginStats{}
	type custom struct {
		typ        abi.MetricType
		value, cnt float64
	}
	defined := map[string]*custom{}
	for _, p := range snap.Plugins {
		label := pluginLabel(p.Name)
		st := stats[label]
		if st == nil {
			st = &pluginStats{}
			stats[label] = st
		}
		w := p.Wasm
		st.traps += float64(w.Traps.Load())
		st.timeouts += float64(w.Timeouts.Load())
		st.restarts += float64(w.Restarts.Load())
		st.instances += float64(w.Healthy())
		st.memory += float64(w.MemoryBytes())
		for _, m := range w.Metrics() {
			name := pluginMetricName(label, m)
			c := defined[name]
			if c == nil {
				c = &custom{typ: m.Type}
				defined[name] = c
			}
			if c.typ != m.Type {
				continue // the same name with two types: keep the first
			}
			c.value += float64(m.Value)
			c.cnt += float64(m.Count)
		}
	}
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	fams := []struct {
		name, help, typ string
		get             func(*pluginStats) float64
	}{
		{"weir_plugin_traps_total", "Plugin instances that trapped or timed out.", "counter", func(s *pluginStats) float64 { return s.traps }},
		{"weir_plugin_timeouts_total", "Plugin calls stopped by the call deadline (a subset of traps).", "counter", func(s *pluginStats) float64 { return s.timeouts }},
		{"weir_plugin_restarts_total", "Replacement plugin instances started after a failure.", "counter", func(s *pluginStats) float64 { return s.restarts }},
		{"weir_plugin_instances", "Healthy wasm instances in the plugin's pool.", "gauge", func(s *pluginStats) float64 { return s.instances }},
		{"weir_plugin_memory_bytes", "Linear memory of the plugin's wasm instances.", "gauge", func(s *pluginStats) float64 { return s.memory }},
	}
	for _, f := range fams {
		e.Family(f.name, f.help, f.typ)
		for _, n := range names {
			e.Sample(f.name, f.get(stats[n]), "plugin", n)
		}
	}
	dnames := make([]string, 0, len(defined))
	for n := range defined {
		dnames = append(dnames, n)
	}
	sort.Strings(dnames)
	for _, n := range dnames {
		c := defined[n]
		switch c.typ {
		case abi.MetricCounter:
			e.Family(n, "Plugin-defined counter (proxy_define_metric).", "counter")
			e.Sample(n, c.value)
		case abi.MetricGauge:
			e.Family(n, "Plugin-defined gauge (proxy_define_metric).", "gauge")
			e.Sample(n, c.value)
		case abi.MetricHistogram:
			// The ABI records values without buckets: a summary
			// without quantiles (sum and count).
			e.Family(n, "Plugin-defined histogram (proxy_define_metric): sum and count of the recorded values.", "summary")
			e.Sample(n+"_sum", c.value)
			e.Sample(n+"_count", c.cnt)
		}
	}
}

// pluginLabel is the plugin label of metrics: the name of a built-in,
// or the module's base name without extension, version or digest for a
// module reference (file:///p/auth.wasm and oci://r/auth:1@sha256:… are
// "auth"), so labels stay short and stable across module upgrades.
func pluginLabel(name string) string {
	i := strings.Index(name, "://")
	if i < 0 {
		return name
	}
	ref := name[i+3:]
	if j := strings.IndexByte(ref, '@'); j >= 0 {
		ref = ref[:j]
	}
	if j := strings.IndexAny(ref, "?#"); j >= 0 {
		ref = ref[:j]
	}
	ref = strings.TrimRight(ref, "/")
	if j := strings.LastIndexByte(ref, '/'); j >= 0 {
		ref = ref[j+1:]
	}
	if j := strings.IndexByte(ref, ':'); j >= 0 {
		ref = ref[:j]
	}
	ref = strings.TrimSuffix(ref, ".wasm")
	if ref == "" {
		return name
	}
	return ref
}

// pluginMetricName is the exported name of a plugin-defined metric:
// weir_plugin_<plugin>_<metric>, sanitized, counters ending in _total.
func pluginMetricName(plugin string, m wasm.Metric) string {
	n := "weir_plugin_" + telemetry.SanitizeName(strings.ToLower(plugin)) + "_" + telemetry.SanitizeName(m.Name)
	if m.Type == abi.MetricCounter && !strings.HasSuffix(n, "_total") {
		n += "_total"
	}
	return n
}

// MetricsHandler serves GET /metrics on the status port.
func (s *Server) MetricsHandler() http.Handler { return s.obs.reg.Handler() }

// FlushTelemetry exports the spans buffered so far (they are otherwise
// sent in batches every few seconds, and at Shutdown).
func (s *Server) FlushTelemetry(ctx context.Context) error {
	s.obs.mu.Lock()
	t := s.obs.tracer
	s.obs.mu.Unlock()
	if t == nil {
		return nil
	}
	return t.ForceFlush(ctx)
}
