package conformance

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/wasm"
)

// spec returns the scenario's stream input.
func (s *Scenario) spec() *streamSpec {
	sp := &streamSpec{req: s.Request.direction(), props: s.Properties, ff: s.ForeignFunctions, callouts: s.Callouts}
	if s.Response != nil {
		sp.resp = s.Response.direction()
	}
	return sp
}

func (r *run) checkScenarioCount() {
	n := len(r.order)
	if n == 0 {
		r.set("http.scenarios", Warn, "no scenario given: only generic checks ran, nothing checked what the plugin does. Write a scenario file (see conformance/README.md) and pass it with --scenarios.", 0)
		return
	}
	files := 0
	for _, f := range r.opts.Scenarios {
		if len(f.Scenarios) > 0 {
			files++
		}
	}
	r.set("http.scenarios", Pass, fmt.Sprintf("%d scenario(s) from %d file(s)", n, files), 0)
}

func (r *run) checkScenarios() {
	r.checkScenarioCount()
	for _, f := range r.opts.Scenarios {
		for i := range f.Scenarios {
			s := &f.Scenarios[i]
			if r.ctx.Err() != nil {
				return
			}
			id := ScenarioCheckPrefix + s.Name
			r.timed(id, func() (Verdict, string) { return r.runScenario(s) })
			res := r.results[id]
			res.Description = scenarioDescription(s)
			r.results[id] = res
		}
	}
}

// runScenario runs one scenario on the suite's plugin (or one started
// with the scenario's own configuration) and checks its expectations.
func (r *run) runScenario(s *Scenario) (Verdict, string) {
	h := r.main
	if s.Config != nil && string(configBytes(s.Config)) != string(r.opts.Config) {
		own, err := startPlugin(r.ctx, r.eng, r.mod, r.pluginName(), configBytes(s.Config), &r.opts, nil)
		if err != nil {
			return Fail, fmt.Sprintf("%s: the plugin did not start with the scenario's configuration %s: %v", s.file, quoteConfig(configBytes(s.Config)), err)
		}
		defer own.close()
		h = own
	}
	before := metricMap(h.plugin.Metrics())
	if h == r.main {
		h.logs.start()
	}
	out := h.runStream(s.spec())
	// A callout answered in the background may still be logging; the
	// stream is over for the proxy, so is the capture.
	logs := h.logs.stop()
	calls := h.disp.recorded()
	after := metricMap(h.plugin.Metrics())
	r.observe(out)
	if out.err != nil {
		r.recover(h)
		return Fail, fmt.Sprintf("%s: the plugin failed during the scenario: %v", s.file, out.err)
	}
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	e := &s.Expect
	host := out.host
	host.mu.Lock()
	maps := host.maps
	propsRead := append([]string(nil), host.propsRead...)
	host.mu.Unlock()

	if out.stalled != "" {
		fail("the plugin paused %s and did not resume within %v (no proxy_continue_stream or local response)", out.stalled, r.opts.ResumeTimeout)
	}
	if out.closed && out.local == nil {
		fail("the plugin reset the stream (proxy_close_stream)")
	}
	switch {
	case e.LocalResponse != nil && out.local == nil:
		fail("expected a local response%s, but the plugin sent none (the request went upstream: %v)", statusText(e.LocalResponse.Status), out.upstream)
	case e.LocalResponse != nil:
		lr := out.local
		if e.LocalResponse.Status != 0 && lr.status != e.LocalResponse.Status {
			fail("local response status: got %d, want %d", lr.status, e.LocalResponse.Status)
		}
		checkHeaders(fail, "local response header", lr.headers, e.LocalResponse.Headers)
		checkBody(fail, "local response body", lr.body, e.LocalResponse.Body, s.re.local)
	case out.local != nil:
		fail("unexpected local response %d (body %q): the scenario expects none (add expect.local_response if it should)", out.local.status, cut(out.local.body))
	}
	if e.Request != nil && out.upstream {
		checkHeaders(fail, "upstream request header", maps[abi.MapHTTPRequestHeaders], e.Request.Headers)
		checkBody(fail, "upstream request body", out.body[0], e.Request.Body, s.re.req)
		checkHeaders(fail, "upstream request trailer", maps[abi.MapHTTPRequestTrailers], e.Request.Trailers)
	}
	if e.Response != nil && out.upstream && out.stalled == "" {
		checkHeaders(fail, "response header", maps[abi.MapHTTPResponseHeaders], e.Response.Headers)
		checkBody(fail, "response body", out.body[1], e.Response.Body, s.re.resp)
		checkHeaders(fail, "response trailer", maps[abi.MapHTTPResponseTrailers], e.Response.Trailers)
	}
	if e.PausedThenResumed != nil {
		switch want := *e.PausedThenResumed; {
		case want && !out.paused:
			fail("expected the plugin to pause and be resumed, but it never paused")
		case want && !out.resumed && out.local == nil:
			fail("the plugin paused but was never resumed")
		case !want && out.paused:
			fail("expected no pause, but the plugin paused")
		}
	}
	if e.NoCallouts && len(calls) > 0 {
		fail("expected no callouts, but the plugin called %s", calloutList(calls))
	}
	used := make([]bool, len(calls))
	for i, want := range e.Callouts {
		found := false
		var why []string
		for j, c := range calls {
			if used[j] || c.upstream != want.Upstream {
				continue
			}
			var hf []string
			checkHeaders(func(f string, a ...any) { hf = append(hf, fmt.Sprintf(f, a...)) }, "callout header", c.headers, want.Headers)
			if len(hf) == 0 {
				used[j], found = true, true
				break
			}
			why = append(why, hf...)
		}
		if !found {
			msg := fmt.Sprintf("expect.callouts[%d]: no callout to %q", i, want.Upstream)
			if len(why) > 0 {
				msg += " with the expected headers (" + strings.Join(why, "; ") + ")"
			}
			fail("%s; callouts made: %s", msg, calloutList(calls))
		}
	}
	for _, c := range calls {
		if !c.scripted {
			fail("the plugin called upstream %q, which the scenario does not script (add it under callouts:); it got BAD_ARGUMENT", c.upstream)
		}
	}
	for i, want := range e.Logs {
		re := s.re.logs[i]
		if !slices.ContainsFunc(logs, func(l logLine) bool {
			return (want.Level == "" || l.level == want.Level) && re.MatchString(l.msg)
		}) {
			lvl := ""
			if want.Level != "" {
				lvl = " at level " + want.Level
			}
			fail("no log line%s matches %q; the plugin logged: %s", lvl, want.Regex, logList(logs))
		}
	}
	for _, p := range e.PropertiesRead {
		if !slices.Contains(propsRead, p) {
			fail("the plugin did not read property %q; it read: %s", p, listOrNone(propsRead))
		}
	}
	if m := e.Metrics; m != nil {
		for _, n := range m.Defined {
			if _, ok := after[n]; !ok {
				fail("metric %q is not defined; defined: %s", n, listOrNone(keys(after)))
			}
		}
		for _, n := range m.Incremented {
			a, ok := after[n]
			b := before[n]
			switch {
			case !ok:
				fail("metric %q is not defined (so not incremented); defined: %s", n, listOrNone(keys(after)))
			case a.Value <= b.Value && a.Count <= b.Count:
				fail("metric %q was not incremented during the stream (value %d before and after)", n, a.Value)
			}
		}
	}
	if len(fails) > 0 {
		return Fail, fmt.Sprintf("%s: %d expectation(s) failed:\n- %s", s.file, len(fails), strings.Join(fails, "\n- "))
	}
	return Pass, fmt.Sprintf("%s: every expectation holds (%s)", s.file, outcomeText(out))
}

// scenarioDescription is the description of a scenario's check.
func scenarioDescription(s *Scenario) string {
	d := "Scenario " + s.Name + " (" + s.file + ")"
	if s.Description != "" {
		d += ": " + s.Description
	}
	return d
}

func outcomeText(out *streamOutcome) string {
	switch {
	case out.local != nil:
		return fmt.Sprintf("answered locally with %d", out.local.status)
	case out.resumed:
		return "paused, resumed, forwarded"
	}
	return "forwarded"
}

func statusText(st int) string {
	if st == 0 {
		return ""
	}
	return fmt.Sprintf(" %d", st)
}

func metricMap(ms []wasm.Metric) map[string]wasm.Metric {
	out := make(map[string]wasm.Metric, len(ms))
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func keys(m map[string]wasm.Metric) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func calloutList(calls []calloutRecord) string {
	if len(calls) == 0 {
		return "(none)"
	}
	var parts []string
	for _, c := range calls {
		parts = append(parts, fmt.Sprintf("%s %v", c.upstream, c.headers))
	}
	return strings.Join(parts, "; ")
}

func logList(logs []logLine) string {
	if len(logs) == 0 {
		return "(nothing)"
	}
	var parts []string
	for i, l := range logs {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("… %d more", len(logs)-10))
			break
		}
		parts = append(parts, fmt.Sprintf("[%s] %q", l.level, l.msg))
	}
	return strings.Join(parts, ", ")
}

func cut(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// checkHeaders checks pairs against want (names case-insensitive).
func checkHeaders(fail func(string, ...any), what string, pairs [][2]string, want *HeadersExpect) {
	if want == nil {
		return
	}
	get := func(k string) ([]string, bool) {
		k = strings.ToLower(k)
		var vs []string
		for _, p := range pairs {
			if p[0] == k {
				vs = append(vs, p[1])
			}
		}
		return vs, len(vs) > 0
	}
	for _, k := range want.Present {
		if _, ok := get(k); !ok {
			fail("%s %q: missing (have: %s)", what, strings.ToLower(k), headerNames(pairs))
		}
	}
	for _, k := range want.Absent {
		if vs, ok := get(k); ok {
			fail("%s %q: present with %q, want it absent", what, strings.ToLower(k), vs)
		}
	}
	for _, kv := range sortedPairs(want.Equal) {
		vs, ok := get(kv[0])
		switch {
		case !ok:
			fail("%s %q: missing, want %q (have: %s)", what, kv[0], kv[1], headerNames(pairs))
		case len(vs) != 1 || vs[0] != kv[1]:
			fail("%s %q: got %q, want %q", what, kv[0], vs, kv[1])
		}
	}
}

func headerNames(pairs [][2]string) string {
	var ns []string
	for _, p := range pairs {
		ns = append(ns, p[0])
	}
	return listOrNone(ns)
}

func checkBody(fail func(string, ...any), what string, body []byte, want *BodyExpect, re *regexp.Regexp) {
	if want == nil {
		return
	}
	if want.Equal != nil && string(body) != *want.Equal {
		fail("%s: got %q, want %q", what, cut(body), cut([]byte(*want.Equal)))
	}
	for _, c := range want.Contains {
		if !strings.Contains(string(body), c) {
			fail("%s: %q does not contain %q", what, cut(body), c)
		}
	}
	if re != nil && !re.Match(body) {
		fail("%s: %q does not match %q", what, cut(body), re.String())
	}
}
