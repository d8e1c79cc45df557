package host_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP trace collector: the real trace
// service over gRPC, and OTLP/HTTP protobuf on POST /v1/traces.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	o.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (o *otlpReceiver) add(req *coltracepb.ExportTraceServiceRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
}

func (o *otlpReceiver) snapshot() []*tracepb.Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*tracepb.Span(nil), o.spans...)
}

// startGRPC serves the trace service on 127.0.0.1:0 and returns its URL.
func (o *otlpReceiver) startGRPC(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(s, o)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return "http://" + ln.Addr().String()
}

// startHTTP serves OTLP/HTTP (protobuf) on 127.0.0.1:0.
func (o *otlpReceiver) startHTTP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.add(&req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})
	s := &http.Server{Handler: mux}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "http://" + ln.Addr().String()
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v, ok := kv.Value.Value.(*commonpb.AnyValue_StringValue); ok {
				return v.StringValue
			}
			if v, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(v.IntValue, 10)
			}
		}
	}
	return ""
}

// TestE2ETracing proxies a request carrying a W3C traceparent through
// two plugins to a backend, exporting over OTLP gRPC and HTTP to an
// in-process receiver, and checks the span tree: the server span is the
// client span's child, each plugin phase has a span under it, the
// upstream call has a client span whose context reached the backend (in
// traceparent and b3), and the access log line carries the trace id.
func TestE2ETracing(t *testing.T) {
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) { testTracing(t, proto) })
	}
}

func testTracing(t *testing.T, protocol string) {
	rcv := &otlpReceiver{}
	endpoint := rcv.startHTTP(t)
	if protocol == "grpc" {
		endpoint = rcv.startGRPC(t)
	}
	be := newBackend(t, "b1", nil)
	logPath := filepath.Join(t.TempDir(), "access.log")
	srv := startWeir(t, `
_format_version: "3.0"
weir:
  tracing:
    endpoint: `+endpoint+`
    protocol: `+protocol+`
    sampling_ratio: 1
  access_log:
    path: `+logPath+`
    fields: [trace_id, status, route, query, request_header:Authorization]
services:
  - name: api
    url: http://`+be.Addr()+`
    routes:
      - name: traced
        paths: [/t]
        plugins:
          - name: `+moduleRef(t, "host/testdata/metrics.wasm")+`
          - name: `+moduleRef(t, "host/wasm/testdata/addheader.wasm")+`
`)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parentID = "00f067aa0ba902b7"
	req, _ := http.NewRequest("GET", proxyURL(srv)+"/t/x?apikey=k-123&page=2", nil)
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	req.Header.Set("Authorization", "Bearer top-secret")
	r := do(t, newClient(t), req)
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.FlushTelemetry(ctx); err != nil {
		t.Fatalf("flushing spans: %v", err)
	}
	var spans []*tracepb.Span
	eventually(t, 10*time.Second, "spans exported", func() bool {
		spans = rcv.snapshot()
		return len(spans) >= 10
	})

	var server, upstream *tracepb.Span
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		if got := hex.EncodeToString(s.TraceId); got != traceID {
			t.Errorf("span %q trace id %s, want the propagated %s", s.Name, got, traceID)
		}
		byName[s.Name] = s
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			upstream = s
		}
	}
	if server == nil || upstream == nil {
		t.Fatalf("want a server and a client span, got %d spans: %v", len(spans), byName)
	}
	if got := hex.EncodeToString(server.ParentSpanId); got != parentID {
		t.Errorf("server span parent %s, want the client's %s", got, parentID)
	}
	if server.Name != "GET traced" {
		t.Errorf("server span name %q", server.Name)
	}
	for k, want := range map[string]string{"http.request.method": "GET", "url.path": "/t/x", "url.scheme": "http",
		"http.response.status_code": "200", "weir.route": "traced", "weir.service": "api"} {
		if got := spanAttr(server, k); got != want {
			t.Errorf("server span %s = %q, want %q", k, got, want)
		}
	}
	if !equalID(upstream.ParentSpanId, server.SpanId) {
		t.Errorf("upstream span is not the server span's child")
	}
	if got := spanAttr(upstream, "http.response.status_code"); got != "200" {
		t.Errorf("upstream span status %q", got)
	}
	for _, plugin := range []string{"metrics", "addheader"} {
		for _, phase := range []string{"request_headers", "response_headers", "response_body", "log"} {
			name := "plugin " + plugin + " " + phase
			s := byName[name]
			if s == nil {
				t.Errorf("no span %q", name)
				continue
			}
			if !equalID(s.ParentSpanId, server.SpanId) {
				t.Errorf("span %q is not the server span's child", name)
			}
		}
	}

	// The backend got the upstream span's context, in both formats.
	got := be.Last(t).Header
	wantTP := "00-" + traceID + "-" + hex.EncodeToString(upstream.SpanId) + "-01"
	if tp := got.Get("Traceparent"); tp != wantTP {
		t.Errorf("upstream traceparent %q, want %q", tp, wantTP)
	}
	if b3 := got.Get("B3"); !strings.HasPrefix(b3, traceID+"-"+hex.EncodeToString(upstream.SpanId)) {
		t.Errorf("upstream b3 %q", b3)
	}

	// The access log line has the trace id; credentials are redacted.
	var line map[string]any
	eventually(t, 5*time.Second, "access log line", func() bool {
		b, _ := os.ReadFile(logPath)
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		return sc.Scan() && json.Unmarshal(sc.Bytes(), &line) == nil
	})
	want := map[string]any{"trace_id": traceID, "status": float64(200), "route": "traced",
		"query": "apikey=REDACTED&page=2", "request_header:Authorization": "REDACTED"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}

func equalID(a, b []byte) bool { return len(a) > 0 && hex.EncodeToString(a) == hex.EncodeToString(b) }
