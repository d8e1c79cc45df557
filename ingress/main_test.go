package ingress_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"k8s.io/klog/v2"
)

// TestMain silences client-go's klog output (leader election, watch
// restarts when a test's API server stops) once, before any test runs:
// klog's logger is process-wide and not safe to change concurrently.
func TestMain(m *testing.M) {
	klog.SetSlogLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}
