package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/weirproxy/weir/host/internal/telemetry"
)

// Observability are the snapshot's telemetry settings; the zero value
// observes nothing and costs one branch per request.
type Observability struct {
	// Unmatched counts requests no route matched (nil: no metrics).
	Unmatched *telemetry.RouteMetrics
	// Tracer, when set, traces requests (sampled by its ratio).
	Tracer *telemetry.Tracer
	// AccessLog, when set, gets one entry per request.
	AccessLog *telemetry.AccessLog
	// ProxyLatencyHeader and UpstreamLatencyHeader name the response
	// headers carrying Weir's and the upstream's latency in ms on
	// proxied responses ("" omits them).
	ProxyLatencyHeader, UpstreamLatencyHeader string
}

// on reports whether requests need timing and a response recorder.
func (o *Observability) on() bool {
	return o.Unmatched != nil || o.Tracer != nil || o.AccessLog != nil || o.ProxyLatencyHeader != "" || o.UpstreamLatencyHeader != ""
}

// obsState is the per-request telemetry state, in the pooled exchange.
type obsState struct {
	start, upStart, upHead time.Time
	rec                    recorder
	route                  *Route
	upAddr                 string
	bytesIn                int64
	span                   trace.Span // nil unless traced
	ctx                    context.Context
	tracer                 *telemetry.Tracer
	recording              bool // span is sampled: child spans are made
	entry                  telemetry.Entry
}

// recorder wraps the client's ResponseWriter to learn the status and
// the body bytes sent. It lives in the exchange (no allocation) and
// unwraps for http.ResponseController (Hijack, deadlines).
type recorder struct {
	w      http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) Header() http.Header { return r.w.Header() }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 || r.status < 200 {
		r.status = code
	}
	r.w.WriteHeader(code)
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.w.Write(p)
	r.n += int64(n)
	return n, err
}

// Flush implements http.Flusher when the wrapped writer does.
func (r *recorder) Flush() {
	if f, ok := r.w.(http.Flusher); ok {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		f.Flush()
	}
}

// Hijack implements http.Hijacker (upgrades).
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.status = http.StatusSwitchingProtocols
	return http.NewResponseController(r.w).Hijack()
}

// Unwrap returns the wrapped writer (http.ResponseController).
func (r *recorder) Unwrap() http.ResponseWriter { return r.w }

// finishObserve records the finished request: metrics, server span,
// access log entry.
func (h *Handler) finishObserve(r *http.Request, x *exchange, o *Observability) {
	ob := &x.obs
	end := time.Now()
	total := end.Sub(ob.start)
	var up time.Duration
	if !ob.upHead.IsZero() {
		up = ob.upHead.Sub(ob.upStart)
	}
	status := ob.rec.status
	in := ob.bytesIn
	if in == 0 && r.ContentLength > 0 {
		in = r.ContentLength
	}
	rt := ob.route
	if rt != nil && rt.Metrics != nil {
		rt.Metrics.Record(status, total, up, in, ob.rec.n)
	} else if rt == nil && o.Unmatched != nil {
		o.Unmatched.Record(status, total, up, in, ob.rec.n)
	}
	if ob.span != nil {
		telemetry.EndServer(ob.span, status)
	}
	if al := o.AccessLog; al != nil {
		e := &ob.entry
		path, query := splitURI(r)
		*e = telemetry.Entry{
			Time: ob.start, RequestID: x.id, ClientIP: clientIP(r), Method: r.Method, Host: r.Host,
			Path: path, Query: query, Protocol: r.Proto, Status: status, UpstreamAddr: ob.upAddr,
			Total: total, Proxy: total - up, Upstream: up, BytesIn: in, BytesOut: ob.rec.n, Header: r.Header,
		}
		if ob.span != nil {
			e.TraceID = telemetry.TraceID(ob.span)
		}
		if rt != nil {
			e.Route = rt.Name
			if rt.Service != nil {
				e.Service = rt.Service.Name
			}
		}
		al.Log(e)
		*e = telemetry.Entry{}
	}
	*ob = obsState{}
}

// startSpan starts the server span of a traced request and returns the
// request carrying its context.
func (h *Handler) startSpan(r *http.Request, x *exchange, t *telemetry.Tracer, rt *Route) *http.Request {
	route, service := "", ""
	if rt != nil {
		route = rt.Name
		if rt.Service != nil {
			service = rt.Service.Name
		}
	}
	ctx, sp := t.StartServer(r, route, service, clientIP(r), r.TLS != nil)
	x.obs.span, x.obs.ctx, x.obs.tracer, x.obs.recording = sp, ctx, t, sp.IsRecording()
	return r.WithContext(ctx)
}

// startUpstreamSpan starts the client span of an upstream attempt and
// puts its context in hdr; an unsampled request only propagates its
// context (sampled=0), without a span.
func startUpstreamSpan(x *exchange, method, addr string, hdr http.Header) trace.Span {
	ob := &x.obs
	if !ob.recording {
		ob.tracer.Inject(ob.ctx, hdr)
		return nil
	}
	return ob.tracer.StartUpstream(ob.ctx, method, addr, hdr)
}

// latencyHeaders adds the latency headers to a proxied response.
func latencyHeaders(hdr http.Header, x *exchange, o *Observability) {
	ob := &x.obs
	if ob.start.IsZero() || ob.upStart.IsZero() {
		return
	}
	if o.ProxyLatencyHeader != "" {
		hdr[o.ProxyLatencyHeader] = msValue(ob.upStart.Sub(ob.start))
	}
	if o.UpstreamLatencyHeader != "" && !ob.upHead.IsZero() {
		hdr[o.UpstreamLatencyHeader] = msValue(ob.upHead.Sub(ob.upStart))
	}
}

// msStrings holds the header values of 0..999 ms, so the common case
// costs no allocation.
var msStrings = func() (v [1000][]string) {
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}[:1:1]
	}
	return
}()

func msValue(d time.Duration) []string {
	ms := d.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	if ms < int64(len(msStrings)) {
		return msStrings[ms]
	}
	return []string{strconv.FormatInt(ms, 10)}
}

// phaseStart begins timing a plugin phase: it returns the start, in
// nanoseconds of the monotonic clock (0: not timed), and a span that is
// nil unless the request is traced. Within one phase's loop over the
// plugins, the previous plugin's end is the next one's start (c.clock),
// so n plugins cost n+1 clock readings, not 2n; resetClock starts a loop.
func (c *chain) phaseStart(i int, ph telemetry.Phase) (int64, trace.Span) {
	p := c.rt.Plugins[i]
	x := c.host.x
	var sp trace.Span
	if x.obs.recording {
		name := ""
		if p.Metrics != nil {
			name = p.Metrics.SpanNames[ph]
		} else {
			name = "plugin " + p.Name + " " + ph.String()
		}
		sp = x.obs.tracer.StartInternal(x.obs.ctx, name)
	}
	if p.Metrics == nil && sp == nil {
		c.clock = 0 // this plugin's time must not go to the next one
		return 0, nil
	}
	if c.clock != 0 {
		return c.clock, sp
	}
	return monoNow(), sp
}

func (c *chain) phaseEnd(i int, ph telemetry.Phase, t0 int64, sp trace.Span, err error) {
	if t0 == 0 {
		return
	}
	now := monoNow()
	c.clock = now
	if m := c.rt.Plugins[i].Metrics; m != nil {
		m.Phase[ph].Observe(time.Duration(now - t0))
	}
	if sp != nil {
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
}

// resetClock forgets the last phase end: the next phase's start is read
// from the clock (call it before each loop over the plugins).
func (c *chain) resetClock() { c.clock = 0 }

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow reads the monotonic clock in nanoseconds since monoEpoch (one
// clock reading; time.Now reads two). It is never 0 after start-up.
func monoNow() int64 { return int64(time.Since(monoEpoch)) | 1 }

// failedOpen counts a fail-open skip.
func (p *Plugin) failedOpen() {
	if p.Metrics != nil {
		p.Metrics.FailOpen.Inc()
	}
}
