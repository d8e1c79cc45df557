package telemetry

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestRegistryExposition(t *testing.T) {
	r := NewRegistry()
	m := r.Route("r1", `svc"x`)
	m.Record(204, 30*time.Millisecond, 20*time.Millisecond, 10, 5)
	m.Record(503, 2*time.Second, 0, 0, 0)
	m.Record(0, time.Millisecond, 0, 0, 0)
	p := r.Plugin("auth")
	p.Phase[PhaseRequestHeaders].Observe(30 * time.Microsecond)
	p.FailOpen.Inc()
	r.Collect(func(e *Emitter) {
		e.Family("weir_test_value", "A test gauge.", "gauge")
		e.Sample("weir_test_value", 1.5, "k", "v")
	})
	var b bytes.Buffer
	r.WritePrometheus(&b)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	req := fams["weir_http_requests_total"]
	got := map[string]float64{}
	for _, s := range req.Metric {
		var code, svc string
		for _, l := range s.Label {
			switch l.GetName() {
			case "code":
				code = l.GetValue()
			case "service":
				svc = l.GetValue()
			}
		}
		if svc != `svc"x` {
			t.Errorf("service label %q, want the escaped value back", svc)
		}
		got[code] = s.Counter.GetValue()
	}
	for code, want := range map[string]float64{"2xx": 1, "5xx": 1, "other": 1, "4xx": 0} {
		if got[code] != want {
			t.Errorf("requests{code=%s} = %v, want %v", code, got[code], want)
		}
	}
	h := fams["weir_http_request_duration_seconds"].Metric[0].Histogram
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 2.03 || h.GetSampleSum() > 2.0311 {
		t.Errorf("total histogram count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
	}
	// Cumulative buckets: 1ms and 30ms fall at or under 0.05, 2s under 2.5.
	for _, bk := range h.Bucket {
		switch bk.GetUpperBound() {
		case 0.05:
			if bk.GetCumulativeCount() != 2 {
				t.Errorf("le=0.05: %d, want 2", bk.GetCumulativeCount())
			}
		case 2.5:
			if bk.GetCumulativeCount() != 3 {
				t.Errorf("le=2.5: %d, want 3", bk.GetCumulativeCount())
			}
		}
	}
	up := fams["weir_upstream_duration_seconds"].Metric[0].Histogram
	if up.GetSampleCount() != 1 {
		t.Errorf("upstream observations %d, want 1 (only the request that reached one)", up.GetSampleCount())
	}
	if fams["weir_plugin_fail_open_total"].Metric[0].Counter.GetValue() != 1 {
		t.Errorf("fail-open counter not 1")
	}
	if fams["weir_test_value"].Metric[0].Gauge.GetValue() != 1.5 {
		t.Errorf("collector gauge lost")
	}
	problems, err := promlint.New(strings.NewReader(b.String())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"hits": "hits", "envoy.cluster.rq": "envoy_cluster_rq", "9lives": "_lives", "a-b c": "a_b_c"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}
