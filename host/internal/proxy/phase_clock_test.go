package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weirproxy/weir/host/internal/telemetry"
)

// TestPluginPhaseTimes checks the shared phase clock (phaseStart): each
// plugin's phase histogram counts every request, and time spent outside
// the plugins (here a slow upstream, between the request-header and the
// response-header loops) is charged to no plugin phase.
func TestPluginPhaseTimes(t *testing.T) {
	const upstreamDelay = 80 * time.Millisecond
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(upstreamDelay)
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	s := benchSnapshot(t, strings.TrimPrefix(backend.URL, "http://"))
	reg := telemetry.NewRegistry()
	wp := benchWasmPlugin(t)
	a := &Plugin{Name: "a", Wasm: wp, Metrics: reg.Plugin("a")}
	b := &Plugin{Name: "b", Wasm: wp, Metrics: reg.Plugin("b")}
	s.Routes[0].Plugins = []*Plugin{a, b}
	tr := NewTransport()
	defer tr.Close()
	h := NewHandler(s, tr, nil)
	const requests = 3
	for range requests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, benchRequest())
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("status %d, body %q", w.Code, w.Body)
		}
	}
	for _, p := range []*Plugin{a, b} {
		for _, ph := range []telemetry.Phase{telemetry.PhaseRequestHeaders, telemetry.PhaseResponseHeaders} {
			m := p.Metrics.Phase[ph]
			if n := m.Count(); n != requests {
				t.Errorf("plugin %s, %s: %d observations, want %d", p.Name, ph, n, requests)
			}
			// Every callback here is a few microseconds; one that took in
			// the upstream's wait would be over upstreamDelay.
			if sum := m.Sum(); sum <= 0 || sum >= upstreamDelay {
				t.Errorf("plugin %s, %s: %v in %d requests, want more than 0 and less than the upstream's %v",
					p.Name, ph, sum, requests, upstreamDelay)
			}
		}
	}
}
