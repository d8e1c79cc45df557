package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/internal/consumers"
	"github.com/weirproxy/weir/host/internal/counters"
	"github.com/weirproxy/weir/host/internal/httpwire"
	"github.com/weirproxy/weir/host/internal/telemetry"
	"github.com/weirproxy/weir/host/wasm"
)

// Plugin is a wasm plugin instance attached to a route.
type Plugin struct {
	Name string
	// Wasm is nil for a plugin that runs on the route only for some
	// consumers (ByConsumer) and has no instance for the others.
	Wasm     *wasm.Plugin
	FailOpen bool
	// Unavailable, when set (and Wasm nil), says why the plugin's module
	// could not be loaded and no previous one can serve: fail-closed
	// plugins answer 503 on their routes, fail-open ones are skipped.
	Unavailable string
	// Metrics are the plugin's phase series; nil records none.
	Metrics *telemetry.PluginMetrics
	// Scope is the configured scope of the instance ("route|service",
	// names as configured): it namespaces the plugin's counters.
	Scope string
	// Counters is the instance's counter store (Redis for a plugin
	// configured with policy redis); nil uses the route's Ext.Counters.
	Counters counters.Store
	// ByConsumer holds, by consumer id, the consumer-scoped instances
	// that replace this one once that consumer is authenticated (Kong
	// precedence, resolved when the snapshot was built).
	ByConsumer map[string]*Plugin
}

// MsgPluginFailed answers a request whose fail-closed plugin broke.
const MsgPluginFailed = "A plugin failed to process the request"

// chain runs a route's plugins over one request: request phases in
// order, response phases in reverse order (as Envoy runs its encoder
// filters), then on_log and done for every stream. Bodies stream through
// the body phases chunk by chunk; a plugin that pauses makes Weir buffer
// (up to bodyCap: 413 for a request, an aborted response otherwise).
//
// Trailer phases run when the message has trailers, after its last body
// chunk (whose end_of_stream is true). Request trailers reach plugins
// from HTTP/2 clients (gRPC); an HTTP/1.1 client's request trailers are
// discarded by the server, as nginx does.
type chain struct {
	// mu serializes the phases when the request body and the response
	// are handled on different goroutines (HTTP/2 upstreams).
	mu      sync.Mutex
	h       *Handler
	rt      *Route
	streams []*wasm.HTTPStream // nil entries: fail-open plugins skipped
	// plugins are the instances that actually run, parallel to
	// rt.Plugins: consumer-scoped ones replace route ones once a
	// consumer is authenticated.
	plugins []*Plugin
	host    chainHost
	// bodyBuffered: the request body was read ahead for a plugin that
	// stopped in its headers phase; bodySeen marks the plugins (by index)
	// that already saw it whole.
	bodyBuffered bool
	bodySeen     uint64

	// shared: another goroutine (an HTTP/2 upstream's request-body
	// writer) may still use the chain after the handler returns.
	shared bool

	// Inline storage for routes of up to inlinePlugins plugins, so a
	// chain costs at most one allocation per request, none when the
	// connection's previous chain is reused (see recycle).
	streamPtrs [inlinePlugins]*wasm.HTTPStream
	pluginPtrs [inlinePlugins]*Plugin
	streamMem  [inlinePlugins]wasm.HTTPStream

	// clock is the end of the last timed plugin phase in the current
	// loop over the plugins (monoNow; 0: none), see phaseStart.
	clock int64
}

// inlinePlugins is how many plugins a chain holds without allocating.
const inlinePlugins = 4

// bufferRequestBody reads the whole request body (up to bodyCap) for the
// plugin at index i, which paused in its request-headers phase, and runs
// its body phase on it with end_of_stream. The (possibly rewritten) body
// then replaces the request's, for the other plugins and the upstream.
func (c *chain) bufferRequestBody(i int, s *wasm.HTTPStream) (abi.Action, error) {
	r := c.host.r
	c.bodyBuffered = true
	body, err := io.ReadAll(io.LimitReader(r.Body, bodyCap+1))
	if err != nil {
		return abi.ActionContinue, errClientBody
	}
	if len(body) > bodyCap {
		return abi.ActionContinue, errBodyOverCap
	}
	hs := &c.host
	hs.reqBody, hs.reqOut = body, false
	act, err := s.OnRequestBody(len(body), true)
	if i < 64 {
		c.bodySeen |= 1 << i
	}
	return act, err
}

// applyBufferedBody makes the body bufferRequestBody read (as the plugin
// left it) the request's body, for the other plugins and the upstream.
// It runs once the plugin has resumed: until then a callout response may
// still rewrite the body or the headers, on another goroutine.
func (c *chain) applyBufferedBody() {
	hs, r := &c.host, c.host.r
	nb := hs.reqBody
	hs.reqBody, hs.reqOut = nil, false
	r.Body = io.NopCloser(bytes.NewReader(nb))
	if r.ContentLength >= 0 {
		r.ContentLength = int64(len(nb))
		if r.Header.Get("Content-Length") != "" {
			r.Header.Set("Content-Length", strconv.Itoa(len(nb)))
		}
	}
}

// errBodyOverCap: a body read ahead for a plugin exceeds the buffer cap.
var errBodyOverCap = errors.New("request body over the plugin buffer cap")

// chainHost is the request as plugins see it (wasm.StreamHost).
type chainHost struct {
	r     *http.Request
	x     *exchange
	fw    *forwarded
	route *Route
	resp  http.Header // set during response phases
	// Trailers, set during the trailer phases (names without
	// http.TrailerPrefix).
	reqTrailers, respTrailers http.Header
	status                    int
	path                      string // :path override (raw path and query); "" = unchanged
	local                     *localResponse
	reset                     bool
	// resume is how a paused stream learns that a plugin continued it,
	// answered locally or closed it (possibly from another goroutine).
	resume resumeSignal
	props  map[string][]byte

	// Body bytes received and not yet passed on, as the plugins see them
	// (HTTP_REQUEST_BODY / HTTP_RESPONSE_BODY).
	reqBody, respBody []byte
	reqOut, respOut   bool // the buffer was handed on: start afresh
	// respHeld is storage for response bytes held back while a plugin
	// pauses (respBody otherwise aliases the caller's read buffer).
	respHeld []byte

	// consumer is the authenticated consumer (weir.set_consumer), credID
	// the credential that authenticated it.
	consumer *consumers.Consumer
	credID   string
	// cur is the plugin being called (namespaces its counters).
	cur *Plugin
	// counterErr is the last counter store failure, logged at the end.
	counterErr error

	// vals backs the one-value slices of headers plugins add or replace
	// (see one), so the common few cost no allocation.
	vals  [16]string
	nvals int
	keep  chainScratch
}

// chainScratch is storage a recycled chain keeps for its connection's
// next requests.
type chainScratch struct {
	ffi   []byte      // the last weir.* foreign function result
	pairs [][2]string // the last HeaderPairs result
	prop  []byte      // the last Property value
}

// one returns a one-value header slice holding v, from c.vals while it
// lasts. Each slice has capacity 1, so appending to one never writes
// into another.
func (c *chainHost) one(v string) []string {
	if c.nvals < len(c.vals) {
		i := c.nvals
		c.nvals++
		c.vals[i] = v
		return c.vals[i : i+1 : i+1]
	}
	return []string{v}
}

type localResponse struct {
	status     int
	body       []byte
	headers    [][2]string
	grpcStatus int32
}

// bodyCap bounds the body bytes held while a plugin pauses on them.
const bodyCap = abi.DefaultBodyBufferBytes

// chainStop ends a request from a body phase: a plugin failed (closed),
// answered locally, reset the stream, or the buffer cap was exceeded.
type chainStop struct {
	status int
	msg    string
	local  *localResponse
	reset  bool
	log    string
}

func (e *chainStop) Error() string {
	if e.log != "" {
		return e.log
	}
	return e.msg
}

// stopRequest answers a request a plugin ended during its body phase.
func (h *Handler) stopRequest(w http.ResponseWriter, r *http.Request, x *exchange, fw *forwarded, st *chainStop) {
	if st.log != "" {
		h.log.Warn(st.log, "route", fw.route.Name)
	}
	switch {
	case st.reset:
		panic(http.ErrAbortHandler)
	case st.local != nil:
		h.writeLocal(w, r, x, st.local)
	default:
		h.writeError(w, r, x, st.status, st.msg)
	}
}

// MsgPayloadTooLarge is Kong's 413 message.
const MsgPayloadTooLarge = "Request size limit exceeded"

// requestBody runs the request-body phase for one chunk (data, possibly
// empty at end of stream) and returns the bytes to forward now: the
// buffered body once every plugin continues, nothing while one pauses.
func (c *chain) requestBody(data []byte, eos bool) ([]byte, error) {
	hs := &c.host
	if hs.reqOut {
		hs.reqBody, hs.reqOut = hs.reqBody[:0], false
	}
	hs.reqBody = append(hs.reqBody, data...)
	if len(hs.reqBody) > bodyCap {
		return nil, &chainStop{status: http.StatusRequestEntityTooLarge, msg: MsgPayloadTooLarge,
			log: "request body over the plugin buffer cap"}
	}
	c.resetClock()
	for i, s := range c.streams {
		if s == nil || (i < 64 && c.bodySeen&(1<<i) != 0) {
			continue
		}
		hs.cur = c.plugins[i]
		t0, sp := c.phaseStart(i, telemetry.PhaseRequestBody)
		act, err := s.OnRequestBody(len(hs.reqBody), eos)
		c.phaseEnd(i, telemetry.PhaseRequestBody, t0, sp, err)
		if stop := c.afterCall(i, err); stop != nil {
			return nil, stop
		}
		if act != abi.ActionContinue && !eos {
			return nil, nil // paused: keep buffering; later plugins see it when it continues
		}
	}
	hs.reqOut = true
	return hs.reqBody, nil
}

// responseBody is requestBody for the response, in reverse plugin order.
func (c *chain) responseBody(data []byte, eos bool) ([]byte, error) {
	hs := &c.host
	aliased := false
	if hs.respOut || len(hs.respBody) == 0 {
		// Nothing held back: the plugins see the chunk in place (the
		// caller writes what is returned before it reads again).
		hs.respBody, hs.respOut, aliased = data, false, true
	} else {
		hs.respBody = append(hs.respBody, data...)
	}
	if len(hs.respBody) > bodyCap {
		return nil, &chainStop{status: http.StatusInternalServerError, msg: MsgUnexpected,
			log: "response body over the plugin buffer cap"}
	}
	c.resetClock()
	for i := len(c.streams) - 1; i >= 0; i-- {
		s := c.streams[i]
		if s == nil {
			continue
		}
		hs.cur = c.plugins[i]
		t0, sp := c.phaseStart(i, telemetry.PhaseResponseBody)
		act, err := s.OnResponseBody(len(hs.respBody), eos)
		c.phaseEnd(i, telemetry.PhaseResponseBody, t0, sp, err)
		if stop := c.afterCall(i, err); stop != nil {
			return nil, stop
		}
		if act != abi.ActionContinue && !eos {
			if aliased {
				// Held back: the bytes must outlive the caller's buffer.
				hs.respBody = append(hs.respHeld[:0], hs.respBody...)
				hs.respHeld = hs.respBody[:0]
			}
			return nil, nil
		}
	}
	hs.respOut = true
	return hs.respBody, nil
}

// requestTrailers runs the request-trailer phase over t, in plugin
// order. A pause waits for the plugin to resume, as in the header phase.
func (c *chain) requestTrailers(t http.Header) error {
	c.host.reqTrailers = t
	defer func() { c.host.reqTrailers = nil }()
	return c.trailerPhase(len(t), false)
}

// responseTrailers is requestTrailers for the response, in reverse
// plugin order.
func (c *chain) responseTrailers(t http.Header) error {
	c.host.respTrailers = t
	defer func() { c.host.respTrailers = nil }()
	return c.trailerPhase(len(t), true)
}

// trailerPhase calls every running plugin's trailer callback: the
// response's in reverse plugin order, the request's in order.
func (c *chain) trailerPhase(n int, response bool) error {
	ph := telemetry.PhaseRequestTrailers
	if response {
		ph = telemetry.PhaseResponseTrailers
	}
	c.resetClock()
	for k := range c.streams {
		i := k
		if response {
			i = len(c.streams) - 1 - k
		}
		s := c.streams[i]
		if s == nil {
			continue
		}
		c.host.cur = c.plugins[i]
		t0, sp := c.phaseStart(i, ph)
		var act abi.Action
		var err error
		if response {
			act, err = s.OnResponseTrailers(n)
		} else {
			act, err = s.OnRequestTrailers(n)
		}
		if err == nil && act != abi.ActionContinue && c.host.local == nil && !c.host.reset {
			err = c.waitResume(c.host.fw, s)
		}
		c.phaseEnd(i, ph, t0, sp, err)
		if stop := c.afterCall(i, err); stop != nil {
			return stop
		}
	}
	return nil
}

// prefixedTrailers runs the response-trailer phase over the trailers
// held in hdr under http.TrailerPrefix keys (how both servers take
// trailers announced after the head), writing the plugins' result back.
func (c *chain) prefixedTrailers(hdr http.Header) error {
	var t http.Header
	for k, vv := range hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = http.Header{}
			}
			t[name] = vv
			delete(hdr, k)
		}
	}
	if t == nil {
		return nil
	}
	err := c.responseTrailers(t)
	for k, vv := range t {
		hdr[http.TrailerPrefix+k] = vv
	}
	return err
}

// afterCall applies the failure policy and the stream effects of a body
// phase call.
func (c *chain) afterCall(i int, err error) *chainStop {
	if err != nil {
		p := c.plugins[i]
		if p.FailOpen {
			p.failedOpen()
			c.h.log.Warn("plugin failed; skipped (fail_policy open)", "plugin", p.Name, "route", c.rt.Name, "err", err)
			c.streams[i] = nil
			return nil
		}
		return &chainStop{status: http.StatusServiceUnavailable, msg: MsgPluginFailed,
			log: "plugin failed in a body phase (fail_policy closed): " + err.Error()}
	}
	if c.host.reset {
		return &chainStop{reset: true}
	}
	if lr := c.host.local; lr != nil {
		return &chainStop{local: lr}
	}
	return nil
}

// errPauseTimeout ends a request a plugin paused and never resumed.
var errPauseTimeout = errors.New("plugin paused the request and never resumed it")

// startChain creates the plugin streams and runs the request-header
// phase. It reports false when the request was answered (local response,
// failure) and must not be forwarded.
func (h *Handler) startChain(w http.ResponseWriter, r *http.Request, x *exchange, rt *Route, fw *forwarded) (*chain, bool) {
	var c *chain
	if x.scratch != nil {
		c, _ = (*x.scratch).(*chain)
		*x.scratch = nil
	}
	if c == nil {
		c = new(chain)
	}
	c.h, c.rt = h, rt
	if n := len(rt.Plugins); n <= inlinePlugins {
		c.streams, c.plugins = c.streamPtrs[:n], c.pluginPtrs[:n]
	} else {
		c.streams, c.plugins = make([]*wasm.HTTPStream, n), make([]*Plugin, n)
	}
	c.host = chainHost{r: r, x: x, fw: fw, route: rt, keep: c.host.keep}
	eos := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	c.resetClock()
	for i, p := range rt.Plugins {
		// Consumer-scoped instances apply to the plugins that run after
		// authentication (Kong resolves them lazily in access).
		p = p.consumerFor(c.host.consumer)
		c.plugins[i] = p
		var s *wasm.HTTPStream
		var err error
		if p.Wasm == nil {
			if p.Unavailable == "" || p.FailOpen {
				// No instance for this consumer, or a fail-open plugin
				// whose module failed to load (reported then).
				continue
			}
			err = errors.New("module unavailable: " + p.Unavailable)
		}
		c.host.cur = p
		t0, sp := c.phaseStart(i, telemetry.PhaseRequestHeaders)
		if err == nil {
			if i < inlinePlugins {
				s = &c.streamMem[i]
			} else {
				s = new(wasm.HTTPStream)
			}
			if err = p.Wasm.InitHTTPStream(s, &c.host); err != nil {
				s = nil
			}
		}
		if err == nil {
			c.streams[i] = s
			var act abi.Action
			act, err = s.OnRequestHeaders(len(r.Header)+4, eos)
			buffered := false
			if err == nil && act != abi.ActionContinue && c.host.local == nil && !eos && !c.bodyBuffered && s.PendingCallouts() == 0 {
				// Envoy semantics: a filter that stops in headers still
				// gets the body; Weir buffers it now so the plugin can
				// decide (e.g. key-auth's key_in_body) before the request
				// head goes upstream.
				act, err = c.bufferRequestBody(i, s)
				buffered = true
				if err == nil && act == abi.ActionContinue && s.PendingCallouts() > 0 {
					// Continuing from the body phase resumes the headers
					// (Envoy), but never past a callout the plugin is
					// waiting for: an auth plugin without a body callback
					// would otherwise let the request through unchecked.
					act = abi.ActionPause
				}
			}
			if err == nil && act != abi.ActionContinue && c.host.local == nil {
				err = c.waitResume(fw, s)
			}
			if buffered {
				c.applyBufferedBody()
			}
		}
		c.phaseEnd(i, telemetry.PhaseRequestHeaders, t0, sp, err)
		if errors.Is(err, errBodyOverCap) {
			h.writeError(w, r, x, http.StatusRequestEntityTooLarge, MsgPayloadTooLarge)
			c.end()
			return nil, false
		}
		if err != nil {
			if p.FailOpen {
				p.failedOpen()
				h.log.Warn("plugin failed; skipped (fail_policy open)", "plugin", p.Name, "route", rt.Name, "err", err)
				c.streams[i] = nil
				continue
			}
			h.log.Error("plugin failed; request refused (fail_policy closed)", "plugin", p.Name, "route", rt.Name, "err", err)
			h.writeError(w, r, x, http.StatusServiceUnavailable, MsgPluginFailed)
			c.end()
			return nil, false
		}
		if c.host.reset {
			c.end()
			panic(http.ErrAbortHandler)
		}
		if c.host.local != nil {
			h.writeLocal(w, r, x, c.host.local)
			c.end()
			return nil, false
		}
	}
	if c.host.path != "" {
		p, q, _ := strings.Cut(c.host.path, "?")
		fw.path, fw.query, fw.strip = normalizePath(p), q, 0
	}
	return c, true
}

// waitResume blocks until a plugin that paused calls proxy_continue_stream
// (typically from a callout's response) or answers locally. If the
// paused stream's instance breaks meanwhile (e.g. the callout response
// handler trapped), nothing can resume it: the wait fails at once
// instead of at the route's read timeout.
func (c *chain) waitResume(fw *forwarded, s *wasm.HTTPStream) error {
	resumed, ok := c.host.resume.wait()
	if ok {
		return nil // resumed while the plugin was still being called
	}
	t := time.NewTimer(fw.route.Service.ReadTimeout)
	defer t.Stop()
	select {
	case <-resumed:
		return nil
	case <-s.Broken():
		select {
		case <-resumed: // resumed just before it broke
			return nil
		default:
		}
		return errPausedInstanceFailed
	case <-t.C:
		return errPauseTimeout
	}
}

// resumeSignal is a one-slot wake-up, like a channel of capacity one,
// whose channel is only made when somebody actually waits: most requests
// never pause, and they need not pay for it.
type resumeSignal struct {
	mu      sync.Mutex
	pending bool // signalled with nobody waiting
	ch      chan struct{}
}

// signal wakes the waiter, or is remembered for the next wait.
func (r *resumeSignal) signal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch == nil {
		r.pending = true
		return
	}
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

// wait consumes a remembered signal (ok true), or returns the channel
// the next signal arrives on.
func (r *resumeSignal) wait() (<-chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending {
		r.pending = false
		return nil, true
	}
	if r.ch == nil {
		r.ch = make(chan struct{}, 1)
	}
	return r.ch, false
}

// errPausedInstanceFailed ends a request whose paused plugin instance
// failed before resuming it.
var errPausedInstanceFailed = fmt.Errorf("plugin instance failed while the request was paused: %w", wasm.ErrPluginFailed)

// responseHeaders runs the response-header phase on hdr (already holding
// the upstream's headers) in reverse plugin order. It returns the status
// to send, and false when a plugin answered locally instead (written).
func (c *chain) responseHeaders(w http.ResponseWriter, r *http.Request, hdr http.Header, status int, eos bool) (int, bool) {
	c.host.resp, c.host.status = hdr, status
	c.resetClock()
	for i := len(c.streams) - 1; i >= 0; i-- {
		s := c.streams[i]
		if s == nil {
			continue
		}
		c.host.cur = c.plugins[i]
		t0, sp := c.phaseStart(i, telemetry.PhaseResponseHeaders)
		act, err := s.OnResponseHeaders(len(hdr)+1, eos)
		if err == nil && act != abi.ActionContinue && c.host.local == nil {
			err = c.waitResume(c.host.fw, s)
		}
		c.phaseEnd(i, telemetry.PhaseResponseHeaders, t0, sp, err)
		if err != nil {
			p := c.plugins[i]
			if p.FailOpen {
				p.failedOpen()
				c.h.log.Warn("plugin failed; skipped (fail_policy open)", "plugin", p.Name, "route", c.rt.Name, "err", err)
				continue
			}
			c.h.log.Error("plugin failed; response refused (fail_policy closed)", "plugin", p.Name, "route", c.rt.Name, "err", err)
			c.h.writeError(w, r, c.host.x, http.StatusServiceUnavailable, MsgPluginFailed)
			return 0, false
		}
		if c.host.reset {
			panic(http.ErrAbortHandler)
		}
		if c.host.local != nil {
			c.h.writeLocal(w, r, c.host.x, c.host.local)
			return 0, false
		}
	}
	return c.host.status, true
}

// recycle readies c, whose end has run, for the same connection's next
// request and reports whether it may be reused: not when another
// goroutine may still reach it (an HTTP/2 body writer, a callout not yet
// answered, an effect for one of its streams being delivered from a tick
// or queue handler). Header values the plugins set (c.host.vals) are
// kept, as the response being finished may still be written from them;
// everything else is cleared so an idle connection holds no request.
func (c *chain) recycle() bool {
	if c.shared {
		return false
	}
	// Every stream started is in streamMem or, past inlinePlugins, in
	// c.streams (a fail-open stream may be in streamMem only).
	for i := range c.streamMem {
		if !c.streamMem[i].Idle() {
			return false
		}
	}
	for _, s := range c.streams[min(len(c.streams), inlinePlugins):] {
		if s != nil && !s.Idle() {
			return false
		}
	}
	vals, keep := c.host.vals, c.host.keep
	clear(keep.pairs)
	*c = chain{}
	c.host.vals, c.host.keep = vals, keep
	return true
}

// end runs on_log and done for every stream, once the response is out.
func (c *chain) end() {
	c.resetClock()
	for i, s := range c.streams {
		if s == nil {
			continue
		}
		t0, sp := c.phaseStart(i, telemetry.PhaseLog)
		err := s.OnLog()
		if err != nil {
			c.h.log.Warn("plugin on_log failed", "plugin", c.plugins[i].Name, "err", err)
		}
		if derr := s.Done(); derr != nil {
			c.h.log.Warn("plugin done failed", "plugin", c.plugins[i].Name, "err", derr)
			err = derr
		}
		c.phaseEnd(i, telemetry.PhaseLog, t0, sp, err)
	}
	if c.host.counterErr != nil {
		c.h.log.Warn("rate-limiting counter store failed", "route", c.rt.Name, "err", c.host.counterErr)
	}
}

// writeLocal sends a plugin's local response.
func (h *Handler) writeLocal(w http.ResponseWriter, r *http.Request, x *exchange, lr *localResponse) {
	hdr := w.Header()
	for k := range hdr {
		delete(hdr, k)
	}
	for _, kv := range lr.headers {
		hdr.Add(kv[0], kv[1])
	}
	h.commonHeaders(hdr, x, true)
	if lr.grpcStatus >= 0 && isGRPC(r) {
		hdr.Set("Content-Type", "application/grpc")
		hdr.Set("Grpc-Status", strconv.Itoa(int(lr.grpcStatus)))
		if len(lr.body) > 0 {
			hdr.Set("Grpc-Message", string(lr.body))
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(lr.body)))
	w.WriteHeader(lr.status)
	if r.Method != http.MethodHead {
		w.Write(lr.body)
	}
}

// --- wasm.StreamHost ---

func (c *chainHost) mapFor(m abi.MapType) (http.Header, bool) {
	switch m {
	case abi.MapHTTPRequestHeaders:
		return c.r.Header, true
	case abi.MapHTTPResponseHeaders:
		if c.resp != nil {
			return c.resp, true
		}
	case abi.MapHTTPRequestTrailers:
		if c.reqTrailers != nil {
			return c.reqTrailers, true
		}
	case abi.MapHTTPResponseTrailers:
		if c.respTrailers != nil {
			return c.respTrailers, true
		}
	}
	return nil, false
}

func (c *chainHost) pseudo(m abi.MapType, key string) (string, bool) {
	switch m {
	case abi.MapHTTPRequestTrailers, abi.MapHTTPResponseTrailers:
		return "", false
	case abi.MapHTTPResponseHeaders:
		if key == ":status" {
			return strconv.Itoa(c.status), true
		}
		return "", false
	}
	switch key {
	case ":method":
		return c.r.Method, true
	case ":path":
		if c.path != "" {
			return c.path, true
		}
		return c.r.RequestURI, true
	case ":authority":
		return c.r.Host, true
	case ":scheme":
		return scheme(c.r), true
	}
	return "", false
}

// HeaderPairs implements wasm.StreamHost: pseudo-headers first, then the
// fields with lower-case names, as HTTP/2 (and Envoy) present them.
func (c *chainHost) HeaderPairs(m abi.MapType) ([][2]string, abi.Status) {
	hdr, ok := c.mapFor(m)
	if !ok {
		return nil, abi.StatusNotFound
	}
	out := c.keep.pairs[:0] // only read during the call (wasm.StreamHost)
	switch m {
	case abi.MapHTTPRequestHeaders:
		for _, k := range []string{":authority", ":path", ":method", ":scheme"} {
			v, _ := c.pseudo(m, k)
			out = append(out, [2]string{k, v})
		}
	case abi.MapHTTPResponseHeaders:
		v, _ := c.pseudo(m, ":status")
		out = append(out, [2]string{":status", v})
	}
	for k, vv := range hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		lk := httpwire.LowerKey(k)
		for _, v := range vv {
			out = append(out, [2]string{lk, v})
		}
	}
	c.keep.pairs = out
	return out, abi.StatusOK
}

// HeaderValue implements wasm.StreamHost.
func (c *chainHost) HeaderValue(m abi.MapType, key string) (string, abi.Status) {
	hdr, ok := c.mapFor(m)
	if !ok {
		return "", abi.StatusNotFound
	}
	if strings.HasPrefix(key, ":") {
		if v, ok := c.pseudo(m, key); ok {
			return v, abi.StatusOK
		}
		return "", abi.StatusNotFound
	}
	if v := hdr[httpwire.CanonicalKey(key)]; len(v) > 0 {
		return v[0], abi.StatusOK
	}
	return "", abi.StatusNotFound
}

// validField refuses what would let a plugin split or smuggle a message.
func validField(key, value string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !httpwire.IsTokenByte(key[i]) {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// protectedField lists fields that carry the message framing: plugins
// cannot set them (Weir owns framing, as Envoy does).
func protectedField(ck string) bool {
	switch ck {
	case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Te", "Trailer":
		return true
	}
	return false
}

func (c *chainHost) setPseudo(m abi.MapType, key, value string) abi.Status {
	if m == abi.MapHTTPRequestTrailers || m == abi.MapHTTPResponseTrailers {
		return abi.StatusBadArgument
	}
	if m == abi.MapHTTPResponseHeaders {
		if key != ":status" {
			return abi.StatusBadArgument
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 200 || n > 999 {
			return abi.StatusBadArgument
		}
		c.status = n
		return abi.StatusOK
	}
	for i := 0; i < len(value); i++ {
		if value[i] <= ' ' || value[i] == 0x7f {
			return abi.StatusBadArgument
		}
	}
	switch key {
	case ":path":
		if value == "" || value[0] != '/' {
			return abi.StatusBadArgument
		}
		c.path = value
	case ":authority":
		// Sent upstream as Host whatever preserve_host says, as Envoy
		// forwards a filter's :authority.
		c.r.Host = value
		c.fw.hostOverride = value
	case ":method":
		for i := 0; i < len(value); i++ {
			if !httpwire.IsTokenByte(value[i]) {
				return abi.StatusBadArgument
			}
		}
		c.r.Method = value
	default:
		return abi.StatusBadArgument
	}
	return abi.StatusOK
}

// AddHeader implements wasm.StreamHost.
func (c *chainHost) AddHeader(m abi.MapType, key, value string) abi.Status {
	hdr, ok := c.mapFor(m)
	if !ok {
		return abi.StatusNotFound
	}
	if strings.HasPrefix(key, ":") {
		return c.setPseudo(m, key, value)
	}
	if !validField(key, value) {
		return abi.StatusBadArgument
	}
	ck := httpwire.CanonicalKey(key)
	if protectedField(ck) {
		return abi.StatusBadArgument
	}
	if old := hdr[ck]; len(old) > 0 {
		hdr[ck] = append(old, value)
	} else {
		hdr[ck] = c.one(value)
	}
	return abi.StatusOK
}

// ReplaceHeader implements wasm.StreamHost.
func (c *chainHost) ReplaceHeader(m abi.MapType, key, value string) abi.Status {
	hdr, ok := c.mapFor(m)
	if !ok {
		return abi.StatusNotFound
	}
	if strings.HasPrefix(key, ":") {
		return c.setPseudo(m, key, value)
	}
	if !validField(key, value) {
		return abi.StatusBadArgument
	}
	ck := httpwire.CanonicalKey(key)
	if protectedField(ck) {
		return abi.StatusBadArgument
	}
	hdr[ck] = c.one(value)
	return abi.StatusOK
}

// RemoveHeader implements wasm.StreamHost. Removing content-length is
// how a plugin says it will change the body's length (as with Envoy):
// the body then goes chunked.
func (c *chainHost) RemoveHeader(m abi.MapType, key string) abi.Status {
	hdr, ok := c.mapFor(m)
	if !ok {
		return abi.StatusNotFound
	}
	if strings.HasPrefix(key, ":") {
		return abi.StatusBadArgument
	}
	ck := httpwire.CanonicalKey(key)
	if ck == "Content-Length" {
		delete(hdr, ck)
		if m == abi.MapHTTPRequestHeaders && c.r.ContentLength > 0 {
			c.r.ContentLength = -1
		}
		return abi.StatusOK
	}
	if protectedField(ck) {
		return abi.StatusBadArgument
	}
	delete(hdr, ck)
	return abi.StatusOK
}

// SetHeaderPairs implements wasm.StreamHost.
func (c *chainHost) SetHeaderPairs(m abi.MapType, pairs [][2]string) abi.Status {
	hdr, ok := c.mapFor(m)
	if !ok {
		return abi.StatusNotFound
	}
	for _, kv := range pairs {
		if !strings.HasPrefix(kv[0], ":") && !validField(kv[0], kv[1]) {
			return abi.StatusBadArgument
		}
	}
	for k := range hdr {
		if !protectedField(k) {
			delete(hdr, k)
		}
	}
	for _, kv := range pairs {
		if strings.HasPrefix(kv[0], ":") {
			if st := c.setPseudo(m, kv[0], kv[1]); st != abi.StatusOK {
				return st
			}
			continue
		}
		ck := httpwire.CanonicalKey(kv[0])
		if protectedField(ck) {
			continue
		}
		hdr[ck] = append(hdr[ck], kv[1])
	}
	return abi.StatusOK
}

func (c *chainHost) body(b abi.BufferType) (*[]byte, bool) {
	switch b {
	case abi.BufferHTTPRequestBody:
		if c.reqOut {
			c.reqBody, c.reqOut = c.reqBody[:0], false
		}
		return &c.reqBody, true
	case abi.BufferHTTPResponseBody:
		if c.respOut {
			c.respBody, c.respOut = c.respBody[:0], false
		}
		return &c.respBody, true
	}
	return nil, false
}

// BufferBytes implements wasm.StreamHost: the body bytes received and
// not yet passed on.
func (c *chainHost) BufferBytes(b abi.BufferType, start, length int) ([]byte, abi.Status) {
	buf, ok := c.body(b)
	if !ok {
		return nil, abi.StatusNotFound
	}
	if start < 0 || length < 0 {
		return nil, abi.StatusBadArgument
	}
	if start > len(*buf) {
		start = len(*buf)
	}
	end := start + length
	if end > len(*buf) || end < start {
		end = len(*buf)
	}
	return (*buf)[start:end], abi.StatusOK
}

// BufferLen implements wasm.StreamHost.
func (c *chainHost) BufferLen(b abi.BufferType) (int, abi.Status) {
	buf, ok := c.body(b)
	if !ok {
		return 0, abi.StatusNotFound
	}
	return len(*buf), abi.StatusOK
}

// ReplaceBufferBytes implements wasm.StreamHost: length bytes at start
// are replaced by data ((0,0) prepends; start at or past the end appends).
func (c *chainHost) ReplaceBufferBytes(b abi.BufferType, start, length int, data []byte) abi.Status {
	buf, ok := c.body(b)
	if !ok {
		return abi.StatusNotFound
	}
	if start < 0 || length < 0 {
		return abi.StatusBadArgument
	}
	old := *buf
	if start > len(old) {
		start = len(old)
	}
	end := start + length
	if end > len(old) || end < start {
		end = len(old)
	}
	if len(old)-(end-start)+len(data) > bodyCap {
		return abi.StatusBadArgument
	}
	nb := make([]byte, 0, len(old)-(end-start)+len(data))
	nb = append(nb, old[:start]...)
	nb = append(nb, data...)
	nb = append(nb, old[end:]...)
	*buf = nb
	return abi.StatusOK
}

// Property implements wasm.StreamHost, with Envoy's attribute names and
// encodings (strings raw, integers 8-byte little-endian) and Weir's own.
func (c *chainHost) Property(path []string) ([]byte, abi.Status) {
	var buf [128]byte
	kb := buf[:0]
	for i, seg := range path {
		if i > 0 {
			kb = append(kb, '.')
		}
		kb = append(kb, seg...)
	}
	if v, ok := c.props[string(kb)]; ok {
		return v, abi.StatusOK
	}
	key, ok := propNames[string(kb)]
	if !ok {
		return nil, abi.StatusNotFound
	}
	if v, st, ok := c.consumerProperty(key); ok {
		return v, st
	}
	r := c.r
	switch key {
	case "request.path":
		return c.bytes(r.RequestURI), abi.StatusOK
	case "request.url_path":
		return c.bytes(c.fw.path), abi.StatusOK
	case "request.query":
		return c.bytes(c.fw.query), abi.StatusOK
	case "request.host":
		return c.bytes(r.Host), abi.StatusOK
	case "request.scheme":
		return c.bytes(scheme(r)), abi.StatusOK
	case "request.method":
		return c.bytes(r.Method), abi.StatusOK
	case "request.protocol":
		return c.bytes(r.Proto), abi.StatusOK
	case "request.id":
		return c.bytes(c.x.id), abi.StatusOK
	case abi.PropWeirTraceID:
		if id := telemetry.TraceID(c.x.obs.span); id != "" {
			return c.bytes(id), abi.StatusOK
		}
	case "request.useragent":
		return c.bytes(r.Header.Get("User-Agent")), abi.StatusOK
	case "request.referer":
		return c.bytes(r.Header.Get("Referer")), abi.StatusOK
	case "source.address":
		return c.bytes(r.RemoteAddr), abi.StatusOK
	case "source.port":
		if i := strings.LastIndexByte(r.RemoteAddr, ':'); i >= 0 {
			if n, err := strconv.Atoi(r.RemoteAddr[i+1:]); err == nil {
				return c.le64(int64(n)), abi.StatusOK
			}
		}
	case "destination.port":
		return c.le64(int64(localPort(r))), abi.StatusOK
	case "destination.address":
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
			return c.bytes(a.String()), abi.StatusOK
		}
	case "route_name", "weir.route_name":
		return c.bytes(c.route.Name), abi.StatusOK
	case "cluster_name", "weir.service_name":
		if c.route.Service != nil {
			return c.bytes(c.route.Service.Name), abi.StatusOK
		}
	case "response.code":
		if c.resp != nil {
			return c.le64(int64(c.status)), abi.StatusOK
		}
	}
	return nil, abi.StatusNotFound
}

// propNames interns the property names Property can answer (the ABI's
// documented ones), so looking one up allocates nothing.
var propNames = func() map[string]string {
	m := make(map[string]string, len(abi.Properties))
	for k := range abi.Properties {
		m[k] = k
	}
	return m
}()

// bytes returns s as a property value in c's scratch buffer (copied into
// the guest before the next call).
func (c *chainHost) bytes(s string) []byte {
	c.keep.prop = append(c.keep.prop[:0], s...)
	return c.keep.prop
}

// le64 returns n as a property value (8 bytes, little-endian) in c's
// scratch buffer.
func (c *chainHost) le64(n int64) []byte {
	c.keep.prop = binary.LittleEndian.AppendUint64(c.keep.prop[:0], uint64(n))
	return c.keep.prop
}

// SetProperty implements wasm.StreamHost: values are readable later in
// the stream, by this and the other plugins.
func (c *chainHost) SetProperty(path []string, value []byte) abi.Status {
	if c.props == nil {
		c.props = map[string][]byte{}
	}
	c.props[strings.Join(path, ".")] = append([]byte(nil), value...)
	return abi.StatusOK
}

// SendLocalResponse implements wasm.StreamHost.
func (c *chainHost) SendLocalResponse(status int, details string, body []byte, headers [][2]string, grpcStatus int32) {
	if status < 200 || status > 999 {
		status = http.StatusInternalServerError
	}
	var hs [][2]string
	for _, kv := range headers {
		if validField(kv[0], kv[1]) && !protectedField(http.CanonicalHeaderKey(kv[0])) {
			hs = append(hs, kv)
		}
	}
	c.local = &localResponse{status: status, body: append([]byte(nil), body...), headers: hs, grpcStatus: grpcStatus}
	c.signal()
}

// ContinueStream implements wasm.StreamHost.
func (c *chainHost) ContinueStream(t abi.StreamType) { c.signal() }

// CloseStream implements wasm.StreamHost: the request is reset.
func (c *chainHost) CloseStream(t abi.StreamType) {
	c.reset = true
	c.signal()
}

func (c *chainHost) signal() { c.resume.signal() }
