package conformance

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/wasm"
)

// typicalStream is a stream through every phase: a POST with a body and
// trailers, answered 200 with a body and trailers.
func typicalStream() *streamSpec {
	return &streamSpec{
		req: direction{
			headers:  [][2]string{{":method", "POST"}, {":path", "/conformance?x=1"}, {"content-type", "application/json"}, {"user-agent", "weir-conformance"}, {"accept", "*/*"}},
			chunks:   [][]byte{[]byte(`{"hello":`), []byte(`"world"}`)},
			trailers: [][2]string{{"x-request-trailer", "1"}},
		},
		resp: direction{
			headers:  [][2]string{{":status", "200"}, {"content-type", "text/plain"}, {"server", "conformance-upstream"}},
			chunks:   [][]byte{[]byte("hello "), []byte("world\n")},
			trailers: [][2]string{{"x-response-trailer", "1"}},
		},
	}
}

// workload returns the streams the repeated checks cycle through: the
// typical stream plus each scenario that uses the suite's configuration
// (so a plugin's main path, e.g. an accepted API key, is exercised too).
func (r *run) workload() []*streamSpec {
	specs := []*streamSpec{typicalStream()}
	for _, f := range r.opts.Scenarios {
		for i := range f.Scenarios {
			s := &f.Scenarios[i]
			if s.Config != nil && string(configBytes(s.Config)) != string(r.opts.Config) {
				continue
			}
			specs = append(specs, s.spec())
		}
	}
	return specs
}

// runMany runs n streams cycling through specs and returns the first
// failure (with the stream number), after observing what every stream
// used (for the portability checks).
func (r *run) runMany(h *harness, n int, specs []*streamSpec) error {
	for i := range n {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		out := h.runStream(specs[i%len(specs)])
		r.observe(out)
		if out.err != nil {
			return fmt.Errorf("stream %d of %d: %w", i+1, n, out.err)
		}
	}
	return nil
}

// observe records what a stream used, for the portability checks.
func (r *run) observe(out *streamOutcome) {
	out.host.mu.Lock()
	defer out.host.mu.Unlock()
	for _, n := range out.host.ffCalls {
		r.ffCalls[n] = true
	}
	for _, p := range out.host.propsRead {
		r.propsRead[p] = true
	}
}

// recover waits (bounded) for a trapped instance to be replaced, so one
// check's trap does not fail the next ones.
func (r *run) recover(h *harness) {
	deadline := time.Now().Add(5 * time.Second)
	for h.plugin.Healthy() == 0 && time.Now().Before(deadline) && r.ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

// verdictOf turns a run error into a check result.
func (r *run) verdictOf(h *harness, err error, pass string) (Verdict, string) {
	if err != nil {
		r.recover(h)
		return Fail, err.Error() + trapHint(err)
	}
	return Pass, pass
}

func trapHint(err error) string {
	if err == nil {
		return ""
	}
	return "\nThe plugin trapped or overran its callback deadline; the wazero stack trace above names the guest function. Weir fails the request (fail-closed) and replaces the instance."
}

func (r *run) checkLifecycle() {
	h := r.main
	r.timed("lifecycle.stream-order", func() (Verdict, string) {
		out := h.runStream(typicalStream())
		r.observe(out)
		if out.err != nil {
			return r.verdictOf(h, out.err, "")
		}
		path := "request headers, body (2 chunks), trailers, response headers, body (2 chunks), trailers, done, log, delete"
		switch {
		case out.local != nil:
			path = fmt.Sprintf("request answered locally with %d, then done, log, delete", out.local.status)
		case out.closed:
			path = "stream reset by the plugin, then done, log, delete"
		case out.stalled != "":
			path = fmt.Sprintf("the plugin paused %s and did not resume within %v; then done, log, delete", out.stalled, r.opts.ResumeTimeout)
		}
		return Pass, "no trap: " + path
	})
	r.timed("lifecycle.sequential", func() (Verdict, string) {
		n := r.opts.Streams
		err := r.runMany(h, n, r.workload())
		return r.verdictOf(h, err, fmt.Sprintf("%d streams in sequence, no trap", n))
	})
	r.timed("lifecycle.interleaved", func() (Verdict, string) {
		err := r.interleaved(h, 8)
		return r.verdictOf(h, err, "8 streams open at once, phases interleaved, finished in shuffled order: no trap")
	})
	r.timed("lifecycle.reconfigure", func() (Verdict, string) {
		if err := h.plugin.Reconfigure(r.ctx, r.opts.Config); err != nil {
			r.recover(h)
			return Fail, fmt.Sprintf("proxy_on_configure run a second time with the same configuration failed: %v\nEnvoy re-runs proxy_on_configure on a live VM when the configuration changes: reset the plugin's state there instead of assuming one call.", err)
		}
		out := h.runStream(typicalStream())
		if out.err != nil {
			return r.verdictOf(h, fmt.Errorf("after proxy_on_configure ran again: %w", out.err), "")
		}
		return Pass, "proxy_on_configure ran again on the live instance; a stream afterwards completed"
	})
	r.timed("lifecycle.tick", func() (Verdict, string) {
		period := h.plugin.TickPeriod()
		if period == 0 {
			return Skip, "the plugin set no tick period (proxy_set_tick_period_milliseconds)"
		}
		if 2*period > r.opts.TickWait {
			return Skip, fmt.Sprintf("tick period %v: too long to observe two ticks within %v (Options.TickWait)", period, r.opts.TickWait)
		}
		traps := h.plugin.Traps.Load()
		start := h.plugin.Ticks.Load()
		deadline := time.Now().Add(r.opts.TickWait)
		for h.plugin.Ticks.Load() < start+2 && time.Now().Before(deadline) && h.plugin.Traps.Load() == traps {
			time.Sleep(period / 4)
		}
		if t := h.plugin.Traps.Load(); t != traps {
			r.recover(h)
			return Fail, fmt.Sprintf("the plugin trapped %d time(s) while ticking every %v; see the plugin log for the stack trace of proxy_on_tick", t-traps, period)
		}
		if n := h.plugin.Ticks.Load() - start; n < 2 {
			return Fail, fmt.Sprintf("tick period %v set, but only %d proxy_on_tick call(s) completed in %v", period, n, r.opts.TickWait)
		}
		return Pass, fmt.Sprintf("tick period %v: proxy_on_tick ran repeatedly without a trap", period)
	})
}

// interleaved opens n streams at once and interleaves their phases, then
// finishes them in a shuffled order. Pauses are ignored (the next phase
// is driven anyway, as if resumed): only traps count.
func (r *run) interleaved(h *harness, n int) error {
	h.disp.reset(nil)
	type st struct {
		s    *wasm.HTTPStream
		host *streamHost
	}
	spec := typicalStream()
	streams := make([]st, 0, n)
	defer func() {
		for _, s := range streams {
			_ = s.s.Done()
		}
	}()
	for i := range n {
		host := newStreamHost(spec.req.headers, spec.resp.headers, nil, nil)
		s, err := h.plugin.NewHTTPStream(host)
		if err != nil {
			return fmt.Errorf("stream %d: %s: %w", i+1, abi.ExportOnContextCreate, err)
		}
		streams = append(streams, st{s, host})
	}
	type step struct {
		name string
		call func(x st) (abi.Action, error)
	}
	body := func(b abi.BufferType, data []byte, eos bool) func(x st) (abi.Action, error) {
		return func(x st) (abi.Action, error) {
			x.host.mu.Lock()
			x.host.bodies[b] = append(x.host.bodies[b][:0], data...)
			x.host.mu.Unlock()
			if b == abi.BufferHTTPRequestBody {
				return x.s.OnRequestBody(len(data), eos)
			}
			return x.s.OnResponseBody(len(data), eos)
		}
	}
	steps := []step{
		{abi.ExportOnRequestHeaders, func(x st) (abi.Action, error) { return x.s.OnRequestHeaders(len(spec.req.headers)+4, false) }},
		{abi.ExportOnRequestBody, body(abi.BufferHTTPRequestBody, []byte("part one "), false)},
		{abi.ExportOnRequestBody, body(abi.BufferHTTPRequestBody, []byte("part two"), true)},
		{abi.ExportOnResponseHeaders, func(x st) (abi.Action, error) { return x.s.OnResponseHeaders(len(spec.resp.headers)+1, false) }},
		{abi.ExportOnResponseBody, body(abi.BufferHTTPResponseBody, []byte("answer"), true)},
	}
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), 7))
	for _, stp := range steps {
		// Each phase visits the streams in a different order.
		for _, i := range rng.Perm(len(streams)) {
			x := streams[i]
			if lr, closed := x.host.state(); lr != nil || closed {
				continue
			}
			t0 := time.Now()
			_, err := stp.call(x)
			h.lat.add(stp.name, time.Since(t0))
			if err != nil {
				return fmt.Errorf("stream %d: %s: %w", i+1, stp.name, err)
			}
		}
	}
	for _, i := range rng.Perm(len(streams)) {
		x := streams[i]
		if err := x.s.OnLog(); err != nil {
			return fmt.Errorf("stream %d: %s/%s: %w", i+1, abi.ExportOnDone, abi.ExportOnLog, err)
		}
		if err := x.s.Done(); err != nil {
			return fmt.Errorf("stream %d: %s: %w", i+1, abi.ExportOnDelete, err)
		}
	}
	return nil
}
