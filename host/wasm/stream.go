package wasm

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/weirproxy/weir/abi"
)

// StreamHost is what the proxy implements for one HTTP stream: the
// narrow view of the request and response that host functions use
// (cpp-host's context interface). Header maps include the pseudo-headers
// (:method, :path, :authority, :scheme on requests; :status on
// responses). Methods answer abi.StatusNotFound for a map, buffer or
// property that does not exist in the current phase.
//
// Guest effects (SendLocalResponse, ContinueStream, CloseStream) are
// delivered after the guest call returns, without the instance lock held,
// possibly from a background goroutine (callout or queue callbacks); they
// may call back into the HTTPStream.
type StreamHost interface {
	// HeaderPairs returns the map's pairs in order. The slice is only read
	// during the call.
	HeaderPairs(m abi.MapType) ([][2]string, abi.Status)
	// HeaderValue returns the first value of key.
	HeaderValue(m abi.MapType, key string) (string, abi.Status)
	// AddHeader appends a value.
	AddHeader(m abi.MapType, key, value string) abi.Status
	// ReplaceHeader sets key to value, adding it if absent.
	ReplaceHeader(m abi.MapType, key, value string) abi.Status
	// RemoveHeader removes every value of key; OK if absent.
	RemoveHeader(m abi.MapType, key string) abi.Status
	// SetHeaderPairs replaces the whole map.
	SetHeaderPairs(m abi.MapType, pairs [][2]string) abi.Status
	// BufferBytes returns up to length bytes at start (clamped to the
	// buffer). The slice is copied before the call returns.
	BufferBytes(b abi.BufferType, start, length int) ([]byte, abi.Status)
	// BufferLen returns the buffer's current size.
	BufferLen(b abi.BufferType) (int, abi.Status)
	// ReplaceBufferBytes replaces length bytes at start with data
	// (start >= len appends; (0, 0) prepends).
	ReplaceBufferBytes(b abi.BufferType, start, length int, data []byte) abi.Status
	// Property returns a property value (abi.Properties encodings). The
	// path slice (not its strings) is only valid during the call, and the
	// value is copied into the guest before the next call, so it may be
	// the host's scratch buffer.
	Property(path []string) ([]byte, abi.Status)
	// SetProperty stores a property value for the rest of the stream
	// (the path slice as for Property; value is the host's to keep).
	SetProperty(path []string, value []byte) abi.Status
	// SendLocalResponse answers the request without the upstream.
	// grpcStatus is -1 when the response is not gRPC.
	SendLocalResponse(status int, details string, body []byte, headers [][2]string, grpcStatus int32)
	// ContinueStream resumes a paused direction.
	ContinueStream(t abi.StreamType)
	// CloseStream resets the stream.
	CloseStream(t abi.StreamType)
}

// ForeignFunctionHost is optionally implemented by a StreamHost to serve
// the weir.* foreign functions (abi.ForeignFunctions). Without it they
// answer NOT_FOUND. args is the guest's memory, valid only during the
// call: copy what is kept. The result is copied into the guest before
// any other call, so it may be the host's scratch buffer.
type ForeignFunctionHost interface {
	CallForeignFunction(name string, args []byte) ([]byte, abi.Status)
}

// CalloutRequest is a proxy_http_call request.
type CalloutRequest struct {
	// Upstream is the guest's upstream (cluster) name.
	Upstream string
	// Headers include :method, :path and :authority.
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	// Timeout is 0 when the guest gave none.
	Timeout time.Duration
}

// CalloutResponse is the result of a callout. A non-nil Err means the call
// failed (reset): the guest sees num_headers 0 and proxy_get_status
// answers BROKEN_CONNECTION.
type CalloutResponse struct {
	Headers  [][2]string
	Body     []byte
	Trailers [][2]string
	Err      error
}

// CalloutDispatcher sends HTTP callouts for plugins.
type CalloutDispatcher interface {
	// Dispatch starts req and returns at once. If it returns
	// abi.StatusOK it must call done exactly once, from any goroutine;
	// otherwise the status goes to the guest (BAD_ARGUMENT for an unknown
	// upstream) and done is never called.
	Dispatch(req CalloutRequest, done func(CalloutResponse)) abi.Status
}

// HTTPStream is one HTTP stream's context in a plugin instance. Its methods
// must be called in stream order from one goroutine at a time (the proxy's
// request goroutine); they serialize with other streams on the instance.
type HTTPStream struct {
	// pendingCallouts counts the HTTP callouts this stream started whose
	// response has not been delivered yet.
	pendingCallouts atomic.Int32
	// deliveries counts the effects (continue, close, local response)
	// addressed to this stream and not yet delivered to its host: a
	// tick, queue or callout handler may take one under the instance
	// lock just before Done and deliver it after.
	deliveries atomic.Int32

	in          *instance
	host        StreamHost
	id          uint32
	doneCalled  bool
	logged      bool
	released    bool
	donePending bool
}

// NewHTTPStream pins a new stream to the least-loaded healthy instance and
// creates its context (proxy_on_context_create(id, root)). It fails with
// ErrPluginFailed when no instance is healthy. See InitHTTPStream to avoid
// its one allocation.
func (p *Plugin) NewHTTPStream(h StreamHost) (*HTTPStream, error) {
	s := new(HTTPStream)
	if err := p.InitHTTPStream(s, h); err != nil {
		return nil, err
	}
	return s, nil
}

// InitHTTPStream is NewHTTPStream into caller-owned storage: it starts a
// stream in s, which must be the zero HTTPStream or one whose Done has
// returned and that nothing else still uses (older *HTTPStream copies
// would now address the new stream). A pooled per-request struct can so
// embed its HTTPStreams and run a request without allocating here. On
// error, s is left released: its methods return ErrClosed.
func (p *Plugin) InitHTTPStream(s *HTTPStream, h StreamHost) error {
	if s.in != nil && !s.released {
		return fmt.Errorf("plugin %q: InitHTTPStream: stream %d is still in use (call Done first)", p.opts.Name, s.id)
	}
	*s = HTTPStream{released: true}
	if h == nil {
		return fmt.Errorf("plugin %q: InitHTTPStream: nil StreamHost", p.opts.Name)
	}
	in, err := p.pick()
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.nextID++
	if in.nextID == 0 || in.nextID == rootContextID {
		in.nextID = rootContextID + 1
	}
	*s = HTTPStream{in: in, host: h, id: in.nextID}
	in.streams[s.id] = s
	in.effective = s
	_, _, err = in.invoke(cbContextCreate, uint64(s.id), rootContextID)
	in.effective = nil
	var buf [4]effect
	effects := in.takeEffects(buf[:0])
	if err != nil {
		drop(effects)
		delete(in.streams, s.id)
		s.released = true
		in.mu.Unlock()
		in.active.Add(-1)
		return err
	}
	in.mu.Unlock()
	deliver(effects)
	return nil
}

// Broken returns a channel closed when the stream's instance is discarded
// (it trapped, overran a deadline or the plugin closed): a stream paused
// on such an instance will never be resumed by it. A released stream's
// channel is nil (never ready).
func (s *HTTPStream) Broken() <-chan struct{} {
	if s.in == nil || s.released {
		return nil
	}
	return s.in.done
}

// ID returns the stream's context id (unique within its instance).
func (s *HTTPStream) ID() uint32 { return s.id }

// PendingCallouts returns how many HTTP callouts the stream started whose
// response (proxy_on_http_call_response) has not run yet.
func (s *HTTPStream) PendingCallouts() int { return int(s.pendingCallouts.Load()) }

// Idle reports whether s is over and nothing refers to it or to its
// StreamHost any more: Done has returned (or the stream never started),
// no HTTP callout it made is still outstanding and no effect for it is
// still being delivered from another goroutine. Only then may the
// caller reuse s's storage and its host for another request. Call it
// on the goroutine that called Done.
func (s *HTTPStream) Idle() bool {
	return (s.in == nil || s.released) && s.pendingCallouts.Load() == 0 && s.deliveries.Load() == 0
}

// call runs a stream callback; a local response sent during the call turns
// the action into Pause (the stream stops, as in Envoy).
func (s *HTTPStream) call(cb callback, a, b uint64) (abi.Action, error) {
	in := s.in
	if in == nil {
		return abi.ActionContinue, ErrClosed
	}
	if in.fns[cb] == nil && !s.released && in.live() {
		// Not exported (or a no-op): Continue, without the lock.
		return abi.ActionContinue, nil
	}
	in.mu.Lock()
	if s.released {
		in.mu.Unlock()
		return abi.ActionContinue, ErrClosed
	}
	in.effective = s
	r, ok, err := in.invoke(cb, uint64(s.id), a, b)
	in.effective = nil
	var buf [4]effect
	effects := in.takeEffects(buf[:0])
	in.mu.Unlock()
	if err != nil {
		drop(effects)
		return abi.ActionContinue, err
	}
	deliver(effects)
	if !ok {
		return abi.ActionContinue, nil
	}
	act := abi.Action(uint32(r))
	for i := range effects {
		if effects[i].kind == effectLocalResponse && effects[i].stream == s {
			act = abi.ActionPause
		}
	}
	return act, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// OnRequestHeaders calls proxy_on_request_headers (0.1.0: without
// end_of_stream). The action is Continue if the guest does not export it.
func (s *HTTPStream) OnRequestHeaders(numHeaders int, endOfStream bool) (abi.Action, error) {
	return s.call(cbRequestHeaders, uint64(numHeaders), b2u(endOfStream))
}

// OnRequestBody calls proxy_on_request_body with the buffered size.
func (s *HTTPStream) OnRequestBody(size int, endOfStream bool) (abi.Action, error) {
	return s.call(cbRequestBody, uint64(size), b2u(endOfStream))
}

// OnRequestTrailers calls proxy_on_request_trailers.
func (s *HTTPStream) OnRequestTrailers(numTrailers int) (abi.Action, error) {
	return s.call(cbRequestTrailers, uint64(numTrailers), 0)
}

// OnResponseHeaders calls proxy_on_response_headers.
func (s *HTTPStream) OnResponseHeaders(numHeaders int, endOfStream bool) (abi.Action, error) {
	return s.call(cbResponseHeaders, uint64(numHeaders), b2u(endOfStream))
}

// OnResponseBody calls proxy_on_response_body.
func (s *HTTPStream) OnResponseBody(size int, endOfStream bool) (abi.Action, error) {
	return s.call(cbResponseBody, uint64(size), b2u(endOfStream))
}

// OnResponseTrailers calls proxy_on_response_trailers.
func (s *HTTPStream) OnResponseTrailers(numTrailers int) (abi.Action, error) {
	return s.call(cbResponseTrailers, uint64(numTrailers), 0)
}

// OnLog calls proxy_on_done (if not yet called) and proxy_on_log, the
// spec order. Call it once the stream is complete, before Done.
func (s *HTTPStream) OnLog() error {
	in := s.in
	if in == nil {
		return ErrClosed
	}
	if in.fns[cbDone] == nil && in.fns[cbLog] == nil && !s.released && in.live() {
		// Nothing to call: no lock.
		s.doneCalled, s.logged = true, true
		return nil
	}
	in.mu.Lock()
	if s.released {
		in.mu.Unlock()
		return ErrClosed
	}
	in.effective = s
	err := s.doneLocked()
	if err == nil && !s.logged {
		s.logged = true
		_, _, err = in.invoke(cbLog, uint64(s.id))
	}
	in.effective = nil
	var buf [4]effect
	effects := in.takeEffects(buf[:0])
	in.mu.Unlock()
	deliver(effects)
	return err
}

func (s *HTTPStream) doneLocked() error {
	if s.doneCalled {
		return nil
	}
	s.doneCalled = true
	r, ok, err := s.in.invoke(cbDone, uint64(s.id))
	if err == nil && ok && uint32(r) == 0 {
		// The guest wants to finish later (proxy_done); Weir does not
		// wait for it: the stream is over for the proxy.
		s.donePending = true
	}
	return err
}

// Done finishes the stream: proxy_on_done (if OnLog did not),
// proxy_on_delete, and releases the context and its instance pin. It is
// idempotent; effects requested now are dropped (the stream is over).
func (s *HTTPStream) Done() error {
	in := s.in
	if in == nil {
		return nil
	}
	in.mu.Lock()
	if s.released {
		in.mu.Unlock()
		return nil
	}
	var err error
	if !in.closed && !in.broken.Load() {
		in.effective = s
		err = s.doneLocked()
		if err == nil {
			_, _, err = in.invoke(cbDelete, uint64(s.id))
		}
		in.effective = nil
	}
	drop(in.effects)
	clear(in.effects)
	in.effects = in.effects[:0]
	s.released = true
	delete(in.streams, s.id)
	in.mu.Unlock()
	in.active.Add(-1)
	return err
}
