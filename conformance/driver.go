package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/wasm"
)

// harness is one started plugin (one instance, so every stream shares its
// memory) and what the suite observes of it.
type harness struct {
	plugin *wasm.Plugin
	disp   *dispatcher
	logs   *logCapture
	lat    *latencies
	resume time.Duration
}

// startPlugin starts mod with config on one instance.
func startPlugin(ctx context.Context, eng *wasm.Engine, mod *wasm.Module, name string, config []byte, o *Options, lat *latencies) (*harness, error) {
	h := &harness{disp: &dispatcher{}, logs: newLogCapture(), lat: lat, resume: o.ResumeTimeout}
	// Capture from the start, so a scenario with its own configuration
	// sees what the plugin logged while configuring.
	h.logs.start()
	p, err := eng.NewPlugin(ctx, mod, wasm.PluginOptions{
		Name:        name,
		Config:      config,
		PoolSize:    1,
		CallTimeout: o.CallTimeout,
		Logger:      slog.New(h.logs),
		Callouts:    h.disp,
	})
	if err != nil {
		return nil, err
	}
	h.plugin = p
	return h, nil
}

func (h *harness) close() { _ = h.plugin.Close(context.Background()) }

// latencies collects callback durations by callback name.
type latencies struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (l *latencies) add(name string, d time.Duration) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string][]time.Duration{}
	}
	l.by[name] = append(l.by[name], d)
}

// summary returns p50/p99/max per callback, sorted by name.
func (l *latencies) summary() []Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Latency
	for name, ds := range l.by {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out = append(out, Latency{Callback: name, Calls: len(s), P50: quantile(s, 0.50), P99: quantile(s, 0.99), Max: s[len(s)-1]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Callback < out[j].Callback })
	return out
}

// quantile returns the q-quantile of sorted s (nearest rank).
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// streamSpec is the input of one stream.
type streamSpec struct {
	req, resp direction
	props     map[string]string
	ff        map[string]ForeignScript
	// callouts scripts the callouts of this stream (nil: every callout
	// answers BAD_ARGUMENT, as for an unknown upstream).
	callouts map[string]CalloutScript
}

// direction is one direction's input: nil chunks means no body.
type direction struct {
	headers  [][2]string
	chunks   [][]byte
	trailers [][2]string
}

func (m *Message) direction() direction {
	return direction{headers: sortedPairs(m.Headers), chunks: m.chunkPlan(), trailers: sortedPairs(m.Trailers)}
}

// streamOutcome is what happened to one stream.
type streamOutcome struct {
	host *streamHost
	// body holds the bytes passed on per direction (request upstream,
	// response to the client).
	body [2][]byte
	// upstream: the request went upstream (no local response, reset or
	// stall in the request direction).
	upstream        bool
	local           *localResponse
	closed          bool
	paused, resumed bool
	// stalled names the phase that paused and was never resumed.
	stalled string
	// err is the plugin failure (trap, timeout), naming the callback.
	err error
}

// runStream drives one stream through every phase, as Weir's proxy does:
// request headers, body chunks, trailers, then (if the request went
// upstream) the response, then on_done/on_log and on_delete.
func (h *harness) runStream(sp *streamSpec) *streamOutcome {
	host := newStreamHost(sp.req.headers, sp.resp.headers, sp.props, sp.ff)
	out := &streamOutcome{host: host}
	h.disp.reset(sp.callouts)
	t0 := time.Now()
	s, err := h.plugin.NewHTTPStream(host)
	h.lat.add(abi.ExportOnContextCreate, time.Since(t0))
	if err != nil {
		out.err = fmt.Errorf("%s: %w", abi.ExportOnContextCreate, err)
		return out
	}
	if h.runDirection(s, out, 0, &sp.req) {
		out.upstream = true
		h.runDirection(s, out, 1, &sp.resp)
	}
	if out.err == nil {
		t0 = time.Now()
		err = s.OnLog()
		h.lat.add(abi.ExportOnDone+"+"+abi.ExportOnLog, time.Since(t0))
		if err != nil {
			out.err = fmt.Errorf("%s/%s: %w", abi.ExportOnDone, abi.ExportOnLog, err)
		}
	}
	t0 = time.Now()
	err = s.Done()
	if out.err == nil {
		h.lat.add(abi.ExportOnDelete, time.Since(t0))
		if err != nil {
			out.err = fmt.Errorf("%s: %w", abi.ExportOnDelete, err)
		}
	}
	out.local, out.closed = host.state()
	return out
}

var phaseNames = [2][3]string{
	{abi.ExportOnRequestHeaders, abi.ExportOnRequestBody, abi.ExportOnRequestTrailers},
	{abi.ExportOnResponseHeaders, abi.ExportOnResponseBody, abi.ExportOnResponseTrailers},
}

// runDirection runs one direction (0 request, 1 response) and reports
// whether the stream goes on.
func (h *harness) runDirection(s *wasm.HTTPStream, out *streamOutcome, dir int, d *direction) bool {
	host := out.host
	hm, tm := abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers
	buf := abi.BufferHTTPRequestBody
	if dir == 1 {
		hm, tm, buf = abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers, abi.BufferHTTPResponseBody
	}
	names := phaseNames[dir]
	hasTrailers := len(d.trailers) > 0
	call := func(name string, f func() (abi.Action, error)) (abi.Action, bool) {
		h.drain(host)
		t0 := time.Now()
		act, err := f()
		h.lat.add(name, time.Since(t0))
		if err != nil {
			out.err = fmt.Errorf("%s: %w", name, err)
			return act, false
		}
		return act, true
	}
	take := func() {
		host.mu.Lock()
		out.body[dir] = append(out.body[dir], host.bodies[buf]...)
		host.bodies[buf] = nil
		host.mu.Unlock()
	}

	nh := len(host.maps[hm])
	eos := d.chunks == nil && !hasTrailers
	act, ok := call(names[0], func() (abi.Action, error) {
		if dir == 0 {
			return s.OnRequestHeaders(nh, eos)
		}
		return s.OnResponseHeaders(nh, eos)
	})
	if !ok || !h.proceed(out, act, names[0]) {
		return false
	}
	for i, c := range d.chunks {
		last := i == len(d.chunks)-1 && !hasTrailers
		host.mu.Lock()
		host.bodies[buf] = append(host.bodies[buf], c...)
		n := len(host.bodies[buf])
		host.mu.Unlock()
		act, ok := call(names[1], func() (abi.Action, error) {
			if dir == 0 {
				return s.OnRequestBody(n, last)
			}
			return s.OnResponseBody(n, last)
		})
		if !ok {
			return false
		}
		if paused(act) && !last {
			// Buffer: the next chunk call sees everything held so far.
			// (Not a pause: no proxy_continue_stream is needed.)
			if !h.proceed(out, abi.ActionContinue, names[1]) {
				return false
			}
			continue
		}
		if !h.proceed(out, act, names[1]) {
			return false
		}
		take()
	}
	if hasTrailers {
		host.mu.Lock()
		host.maps[tm] = d.trailers
		host.mu.Unlock()
		act, ok := call(names[2], func() (abi.Action, error) {
			if dir == 0 {
				return s.OnRequestTrailers(len(d.trailers))
			}
			return s.OnResponseTrailers(len(d.trailers))
		})
		if !ok || !h.proceed(out, act, names[2]) {
			return false
		}
		take()
	}
	return true
}

// paused reports whether act stops the stream (anything but Continue and
// Envoy's ContinueAndEndStream).
func paused(act abi.Action) bool {
	return act != abi.ActionContinue && abi.HeadersAction(act) != abi.HeadersContinueAndEndStream
}

func (h *harness) drain(host *streamHost) {
	select {
	case <-host.signal:
	default:
	}
}

// proceed applies a callback's outcome: a local response or reset ends
// the stream; a pause waits (bounded) for proxy_continue_stream.
func (h *harness) proceed(out *streamOutcome, act abi.Action, phase string) bool {
	if lr, closed := out.host.state(); lr != nil || closed {
		return false
	}
	if !paused(act) {
		return true
	}
	out.paused = true
	t := time.NewTimer(h.resume)
	defer t.Stop()
	select {
	case <-out.host.signal:
	case <-t.C:
		out.stalled = phase
		return false
	}
	if lr, closed := out.host.state(); lr != nil || closed {
		return false
	}
	out.resumed = true
	return true
}
