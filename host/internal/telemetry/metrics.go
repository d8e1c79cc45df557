// Package telemetry is Weir's observability: Prometheus metrics (counters
// from github.com/VictoriaMetrics/metrics, Prometheus `le` histograms of
// its own), OTLP traces (OpenTelemetry SDK, gRPC and HTTP exporters) and
// the JSON access log.
//
// Everything the data path touches per request is created beforehand,
// when a configuration snapshot is built: a route's counters and
// histograms are looked up once by name and held in RouteMetrics, so a
// request only does atomic adds. Nothing is registered globally: the
// server owns one Registry and injects it.
package telemetry

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Registry holds Weir's metrics and writes them in the Prometheus text
// format. Series are created on first use and live as long as the
// registry, so counters keep counting across configuration reloads.
type Registry struct {
	set *metrics.Set

	mu         sync.Mutex
	meta       map[string]family // by family name
	hists      map[string]*Histogram
	collectors []func(*Emitter)
}

type family struct {
	help, typ string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{set: metrics.NewSet(), meta: map[string]family{}, hists: map[string]*Histogram{}}
}

// seriesName renders family{k="v",...}; labels are name/value pairs.
func seriesName(fam string, labels []string) string {
	if len(labels) == 0 {
		return fam
	}
	var b strings.Builder
	b.WriteString(fam)
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(labels[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(v)
}

func (r *Registry) describe(fam, help, typ string) {
	r.mu.Lock()
	if _, ok := r.meta[fam]; !ok {
		r.meta[fam] = family{help: help, typ: typ}
	}
	r.mu.Unlock()
}

// Counter returns the counter fam{labels} (name/value pairs), creating it
// on first use.
func (r *Registry) Counter(fam, help string, labels ...string) *metrics.Counter {
	r.describe(fam, help, "counter")
	return r.set.GetOrCreateCounter(seriesName(fam, labels))
}

// Gauge returns the gauge fam{labels} whose value f reports at scrape
// time, creating it on first use (a later call keeps the first f).
func (r *Registry) Gauge(fam, help string, f func() float64, labels ...string) *metrics.Gauge {
	r.describe(fam, help, "gauge")
	return r.set.GetOrCreateGauge(seriesName(fam, labels), f)
}

// Histogram returns the histogram fam{labels} with the given bucket upper
// bounds (seconds), creating it on first use.
func (r *Registry) Histogram(fam, help string, buckets []float64, labels ...string) *Histogram {
	r.describe(fam, help, "histogram")
	name := seriesName(fam, labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hists[name]; ok {
		return h
	}
	h := newHistogram(fam, name[len(fam):], buckets)
	r.hists[name] = h
	return h
}

// Collect adds f, called at every scrape to write series whose values
// live elsewhere (plugin pools, upstream health, server counters).
func (r *Registry) Collect(f func(*Emitter)) {
	r.mu.Lock()
	r.collectors = append(r.collectors, f)
	r.mu.Unlock()
}

// WritePrometheus writes every series in the Prometheus text format
// (0.0.4), with HELP and TYPE for each family.
func (r *Registry) WritePrometheus(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()

	// Counters and gauges: VictoriaMetrics writes them sorted by name,
	// so each family is contiguous; HELP/TYPE go before its first line.
	var buf bytes.Buffer
	r.set.WritePrometheus(&buf)
	r.mu.Lock()
	meta := make(map[string]family, len(r.meta))
	for k, v := range r.meta {
		meta[k] = v
	}
	hists := make([]*Histogram, 0, len(r.hists))
	for _, h := range r.hists {
		hists = append(hists, h)
	}
	collectors := append([]func(*Emitter){}, r.collectors...)
	r.mu.Unlock()

	prev := ""
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		fam := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			fam = line[:i]
		}
		if fam != prev {
			writeMeta(bw, fam, meta[fam])
			prev = fam
		}
		bw.WriteString(line)
	}

	sort.Slice(hists, func(i, j int) bool {
		if hists[i].fam != hists[j].fam {
			return hists[i].fam < hists[j].fam
		}
		return hists[i].labels < hists[j].labels
	})
	prev = ""
	for _, h := range hists {
		if h.fam != prev {
			writeMeta(bw, h.fam, meta[h.fam])
			prev = h.fam
		}
		h.write(bw)
	}

	e := &Emitter{w: bw, seen: map[string]bool{}}
	for _, f := range collectors {
		f(e)
	}
}

func writeMeta(w *bufio.Writer, fam string, m family) {
	if m.typ == "" {
		return
	}
	w.WriteString("# HELP ")
	w.WriteString(fam)
	w.WriteByte(' ')
	w.WriteString(strings.ReplaceAll(m.help, "\n", " "))
	w.WriteString("\n# TYPE ")
	w.WriteString(fam)
	w.WriteByte(' ')
	w.WriteString(m.typ)
	w.WriteByte('\n')
}

// Handler serves the registry (GET /metrics).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WritePrometheus(w)
	})
}

// Emitter writes the series of collectors. A family must be written in
// one go: Family, then its Samples.
type Emitter struct {
	w    *bufio.Writer
	seen map[string]bool
}

// Family starts a family; a family already written is not announced
// again (its samples should not be split, but this keeps the output
// parseable if they are).
func (e *Emitter) Family(name, help, typ string) {
	if e.seen[name] {
		return
	}
	e.seen[name] = true
	writeMeta(e.w, name, family{help: help, typ: typ})
}

// Sample writes one sample; labels are name/value pairs.
func (e *Emitter) Sample(name string, value float64, labels ...string) {
	e.w.WriteString(seriesName(name, labels))
	e.w.WriteByte(' ')
	e.w.WriteString(strconv.FormatFloat(value, 'g', -1, 64))
	e.w.WriteByte('\n')
}

// LatencyBuckets are the upper bounds (seconds) of request latency
// histograms: 1ms to 60s.
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// PluginBuckets are the upper bounds (seconds) of plugin phase latency
// histograms: 10µs to 1s (a guest callback is bounded by its deadline).
var PluginBuckets = []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1}

// Histogram is a Prometheus histogram (cumulative `le` buckets) updated
// with atomic adds only: no lock on the data path.
type Histogram struct {
	fam    string
	labels string // `{k="v",...}` or ""
	bounds []float64
	counts []atomic.Uint64 // per bucket (non-cumulative); last is +Inf
	sumNs  atomic.Int64
	// inner is labels without braces, followed by a comma ("" when
	// none): bucket lines are rendered when written, not stored (16
	// stored lines per histogram were most of the proxy's memory at
	// 10,000 routes).
	inner string
}

func newHistogram(fam, labels string, bounds []float64) *Histogram {
	h := &Histogram{fam: fam, labels: labels, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	if labels != "" {
		h.inner = labels[1:len(labels)-1] + ","
	}
	return h
}

// Observe records a duration.
func (h *Histogram) Observe(d time.Duration) {
	if h == nil {
		return
	}
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the total of the observed durations.
func (h *Histogram) Sum() time.Duration { return time.Duration(h.sumNs.Load()) }

func (h *Histogram) write(w *bufio.Writer) {
	var cum uint64
	var b [32]byte
	for i := range h.counts {
		cum += h.counts[i].Load()
		w.WriteString(h.fam)
		w.WriteString("_bucket{")
		w.WriteString(h.inner)
		w.WriteString(`le="`)
		if i < len(h.bounds) {
			w.Write(strconv.AppendFloat(b[:0], h.bounds[i], 'g', -1, 64))
		} else {
			w.WriteString("+Inf")
		}
		w.WriteString(`"} `)
		w.Write(strconv.AppendUint(b[:0], cum, 10))
		w.WriteByte('\n')
	}
	w.WriteString(h.fam + "_sum" + h.labels + " ")
	w.Write(strconv.AppendFloat(b[:0], float64(h.sumNs.Load())/1e9, 'g', -1, 64))
	w.WriteString("\n" + h.fam + "_count" + h.labels + " ")
	w.Write(strconv.AppendUint(b[:0], cum, 10))
	w.WriteByte('\n')
}

// SanitizeName maps s to the characters allowed in a metric name,
// replacing every other byte by '_'.
func SanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}
