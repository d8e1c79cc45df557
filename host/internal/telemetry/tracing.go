package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TracingOptions configure the tracer (config weir.tracing).
type TracingOptions struct {
	// Endpoint is the collector URL: http(s)://host:port for gRPC,
	// http(s)://host:port[/path] for HTTP (path default /v1/traces).
	// http:// means plaintext.
	Endpoint string
	// Protocol is "grpc" or "http" (OTLP/HTTP protobuf).
	Protocol string
	// SamplingRatio of new traces (0..1); a sampled parent is followed.
	SamplingRatio float64
	// Headers are sent with every export (e.g. authentication).
	Headers map[string]string
	// ServiceName is the resource's service.name.
	ServiceName string
	// BatchTimeout is the longest a span waits to be exported; 0 means
	// the SDK default (5s).
	BatchTimeout time.Duration
}

// Tracer creates Weir's spans and propagates trace context (W3C
// traceparent/tracestate and b3, both accepted, both sent upstream).
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator
	opts TracingOptions
}

// NewTracer starts a tracer exporting over OTLP.
func NewTracer(o TracingOptions) (*Tracer, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint: %q is not an http(s)://host:port URL", o.Endpoint)
	}
	ctx := context.Background()
	var exp sdktrace.SpanExporter
	switch o.Protocol {
	case "grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host)}
		if u.Scheme == "http" {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(o.Headers))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "http", "":
		path := u.Path
		if path == "" || path == "/" {
			path = "/v1/traces"
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithURLPath(path)}
		if u.Scheme == "http" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("protocol: %q is not grpc or http", o.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	return NewTracerExporter(exp, o), nil
}

// NewTracerExporter returns a tracer exporting to exp (benchmarks and
// tests use in-memory exporters); o.Endpoint and o.Protocol are unused.
func NewTracerExporter(exp sdktrace.SpanExporter, o TracingOptions) *Tracer {
	name := o.ServiceName
	if name == "" {
		name = "weir"
	}
	var bopts []sdktrace.BatchSpanProcessorOption
	if o.BatchTimeout > 0 {
		bopts = append(bopts, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, bopts...),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SamplingRatio))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
	)
	return &Tracer{
		tp:   tp,
		tr:   tp.Tracer("github.com/weirproxy/weir"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, b3.New(b3.WithInjectEncoding(b3.B3SingleHeader))),
		opts: o,
	}
}

// Span kind options, made once (each trace.WithSpanKind allocates).
var (
	kindServer   = trace.WithSpanKind(trace.SpanKindServer)
	kindInternal = trace.WithSpanKind(trace.SpanKindInternal)
	kindClient   = trace.WithSpanKind(trace.SpanKindClient)
)

// headerCarrier is propagation.HeaderCarrier without canonicalizing the
// propagators' (fixed, lower-case) keys on every request.
type headerCarrier http.Header

var canonicalKeys = map[string]string{"traceparent": "Traceparent", "tracestate": "Tracestate", "b3": "B3",
	"x-b3-traceid": "X-B3-Traceid", "x-b3-spanid": "X-B3-Spanid", "x-b3-sampled": "X-B3-Sampled",
	"x-b3-flags": "X-B3-Flags", "x-b3-parentspanid": "X-B3-Parentspanid"}

func canonical(k string) string {
	if c, ok := canonicalKeys[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

func (c headerCarrier) Get(key string) string {
	if v := c[canonical(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[canonical(key)] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Options returns the options the tracer was built with.
func (t *Tracer) Options() TracingOptions { return t.opts }

// Same reports whether o would build the same tracer.
func (t *Tracer) Same(o TracingOptions) bool {
	a := t.opts
	if a.Endpoint != o.Endpoint || a.Protocol != o.Protocol || a.SamplingRatio != o.SamplingRatio ||
		a.ServiceName != o.ServiceName || a.BatchTimeout != o.BatchTimeout || len(a.Headers) != len(o.Headers) {
		return false
	}
	for k, v := range a.Headers {
		if o.Headers[k] != v {
			return false
		}
	}
	return true
}

// Shutdown exports the spans still buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports the spans still buffered.
func (t *Tracer) ForceFlush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// StartServer extracts the client's trace context from r's headers and
// starts the request's server span, with OTel HTTP semantic-convention
// attributes.
func (t *Tracer) StartServer(r *http.Request, route, service, clientIP string, tls bool) (context.Context, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	scheme := "http"
	if tls {
		scheme = "https"
	}
	path := r.RequestURI
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	host, port := r.Host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host, port = host[:i], host[i+1:]
	}
	ctx, sp := t.tr.Start(ctx, r.Method, kindServer)
	if !sp.IsRecording() {
		return ctx, sp // not sampled: no name or attributes to build
	}
	if route != "" {
		sp.SetName(r.Method + " " + route)
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", path),
		attribute.String("url.scheme", scheme),
		attribute.String("server.address", host),
		attribute.String("client.address", clientIP),
		attribute.String("network.protocol.version", protoVersion(r)),
		attribute.String("weir.route", route),
		attribute.String("weir.service", service),
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, attribute.String("user_agent.original", ua))
	}
	sp.SetAttributes(attrs...)
	return ctx, sp
}

func protoVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	if r.ProtoMinor == 0 {
		return "1.0"
	}
	return "1.1"
}

// EndServer sets the response status on the server span and ends it.
func EndServer(sp trace.Span, status int) {
	if !sp.IsRecording() {
		return
	}
	sp.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 || status == 0 {
		sp.SetStatus(codes.Error, "")
	}
	sp.End()
}

// StartInternal starts a child span (plugin phases).
func (t *Tracer) StartInternal(ctx context.Context, name string) trace.Span {
	_, sp := t.tr.Start(ctx, name, kindInternal)
	return sp
}

// Inject writes ctx's trace context into h (traceparent and b3).
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	t.prop.Inject(ctx, headerCarrier(h))
}

// StartUpstream starts the client span of one upstream attempt and
// injects its context into h (the headers sent upstream).
func (t *Tracer) StartUpstream(ctx context.Context, method, addr string, h http.Header) trace.Span {
	host, port := addr, 0
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
		port, _ = strconv.Atoi(addr[i+1:])
	}
	ctx, sp := t.tr.Start(ctx, method, kindClient, trace.WithAttributes(
		attribute.String("http.request.method", method),
		attribute.String("server.address", host),
		attribute.Int("server.port", port),
		attribute.String("network.peer.address", host),
	))
	t.prop.Inject(ctx, headerCarrier(h))
	return sp
}

// EndUpstream records the upstream's status (0: no response) and ends
// the span.
func EndUpstream(sp trace.Span, status int, err error) {
	if status > 0 {
		sp.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		sp.SetStatus(codes.Error, err.Error())
		sp.SetAttributes(attribute.String("error.type", errType(err)))
	} else if status >= 500 {
		sp.SetStatus(codes.Error, "")
	}
	sp.End()
}

func errType(err error) string {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}

// TraceID returns the hex trace id of sp's context, or "".
func TraceID(sp trace.Span) string {
	if sp == nil {
		return ""
	}
	sc := sp.SpanContext()
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
