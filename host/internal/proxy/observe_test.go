package proxy

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/internal/telemetry"
)

// TestTraceIDProperty checks the weir.trace_id property plugins read:
// the propagated trace id of a traced request, not found otherwise.
func TestTraceIDProperty(t *testing.T) {
	tr := telemetry.NewTracerExporter(tracetest.NewInMemoryExporter(), telemetry.TracingOptions{SamplingRatio: 1})
	defer tr.Shutdown(context.Background())
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name   string
		traced bool
		parent string
		want   string
		status abi.Status
	}{
		{name: "propagated", traced: true, parent: "00-" + traceID + "-00f067aa0ba902b7-01", want: traceID, status: abi.StatusOK},
		{name: "new trace", traced: true, status: abi.StatusOK},
		{name: "not traced", status: abi.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := benchRequest()
			if tc.parent != "" {
				r.Header.Set("Traceparent", tc.parent)
			}
			x := &exchange{}
			h := &Handler{}
			if tc.traced {
				r = h.startSpan(r, x, tr, nil)
			}
			c := &chainHost{r: r, x: x, fw: &forwarded{}, route: &Route{Name: "r"}}
			v, st := c.Property([]string{"weir", "trace_id"})
			if st != tc.status {
				t.Fatalf("status %v, want %v", st, tc.status)
			}
			switch {
			case tc.want != "" && string(v) != tc.want:
				t.Errorf("trace id %q, want %q", v, tc.want)
			case tc.traced && len(v) != 32:
				t.Errorf("trace id %q, want 32 hex digits", v)
			}
		})
	}
}
