package conformance

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/host/wasm"
)

// streamHost is the suite's wasm.StreamHost: one HTTP stream held in
// memory, recording what the plugin did to it. Every method locks: guest
// effects and callout callbacks may arrive from background goroutines.
type streamHost struct {
	mu     sync.Mutex
	maps   [4][][2]string // request headers, request trailers, response headers, response trailers
	bodies [2][]byte      // the buffered (not yet passed on) request and response body
	props  map[string][]byte
	ff     map[string]ForeignScript

	propsRead []string
	ffCalls   []string
	local     *localResponse
	closed    bool
	signal    chan struct{} // continue, close or local response
}

// localResponse is a recorded proxy_send_local_response.
type localResponse struct {
	status  int
	details string
	body    []byte
	headers [][2]string
}

func newStreamHost(req, resp [][2]string, props map[string]string, ff map[string]ForeignScript) *streamHost {
	h := &streamHost{props: map[string][]byte{}, ff: ff, signal: make(chan struct{}, 1)}
	h.maps[abi.MapHTTPRequestHeaders] = withDefaults(req, [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "example.com"}, {":scheme", "http"}})
	h.maps[abi.MapHTTPResponseHeaders] = withDefaults(resp, [][2]string{{":status", "200"}})
	hv := func(m abi.MapType, k string) string { v, _ := h.value(m, k); return v }
	h.props["request.path"] = []byte(hv(abi.MapHTTPRequestHeaders, ":path"))
	h.props["request.url_path"] = []byte(strings.SplitN(hv(abi.MapHTTPRequestHeaders, ":path"), "?", 2)[0])
	h.props["request.method"] = []byte(hv(abi.MapHTTPRequestHeaders, ":method"))
	h.props["request.host"] = []byte(hv(abi.MapHTTPRequestHeaders, ":authority"))
	h.props["request.scheme"] = []byte(hv(abi.MapHTTPRequestHeaders, ":scheme"))
	h.props["request.protocol"] = []byte("HTTP/1.1")
	if code, err := strconv.Atoi(hv(abi.MapHTTPResponseHeaders, ":status")); err == nil {
		h.props["response.code"] = abi.EncodeInt64(nil, int64(code))
	}
	for k, v := range props {
		h.props[k] = []byte(v)
	}
	return h
}

// withDefaults puts the default pseudo-headers first (unless given), then
// the given pairs.
func withDefaults(pairs, defaults [][2]string) [][2]string {
	var out [][2]string
	for _, d := range defaults {
		v, found := d[1], false
		for _, p := range pairs {
			if p[0] == d[0] {
				v, found = p[1], true
			}
		}
		_ = found
		out = append(out, [2]string{d[0], v})
	}
	for _, p := range pairs {
		if !isDefault(p[0], defaults) {
			out = append(out, p)
		}
	}
	return out
}

func isDefault(k string, defaults [][2]string) bool {
	for _, d := range defaults {
		if d[0] == k {
			return true
		}
	}
	return false
}

func (h *streamHost) notify() {
	select {
	case h.signal <- struct{}{}:
	default:
	}
}

func (h *streamHost) value(m abi.MapType, key string) (string, bool) {
	key = strings.ToLower(key)
	for _, p := range h.maps[m] {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

// HeaderPairs implements wasm.StreamHost.
func (h *streamHost) HeaderPairs(m abi.MapType) ([][2]string, abi.Status) {
	if m > abi.MapHTTPResponseTrailers {
		return nil, abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][2]string(nil), h.maps[m]...), abi.StatusOK
}

// HeaderValue implements wasm.StreamHost.
func (h *streamHost) HeaderValue(m abi.MapType, key string) (string, abi.Status) {
	if m > abi.MapHTTPResponseTrailers {
		return "", abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.value(m, key); ok {
		return v, abi.StatusOK
	}
	return "", abi.StatusNotFound
}

// AddHeader implements wasm.StreamHost.
func (h *streamHost) AddHeader(m abi.MapType, key, value string) abi.Status {
	if m > abi.MapHTTPResponseTrailers {
		return abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.maps[m] = append(h.maps[m], [2]string{strings.ToLower(key), value})
	return abi.StatusOK
}

// ReplaceHeader implements wasm.StreamHost.
func (h *streamHost) ReplaceHeader(m abi.MapType, key, value string) abi.Status {
	if m > abi.MapHTTPResponseTrailers {
		return abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(m, key)
	h.maps[m] = append(h.maps[m], [2]string{strings.ToLower(key), value})
	return abi.StatusOK
}

func (h *streamHost) remove(m abi.MapType, key string) {
	key = strings.ToLower(key)
	out := h.maps[m][:0]
	for _, p := range h.maps[m] {
		if p[0] != key {
			out = append(out, p)
		}
	}
	h.maps[m] = out
}

// RemoveHeader implements wasm.StreamHost.
func (h *streamHost) RemoveHeader(m abi.MapType, key string) abi.Status {
	if m > abi.MapHTTPResponseTrailers {
		return abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(m, key)
	return abi.StatusOK
}

// SetHeaderPairs implements wasm.StreamHost.
func (h *streamHost) SetHeaderPairs(m abi.MapType, pairs [][2]string) abi.Status {
	if m > abi.MapHTTPResponseTrailers {
		return abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][2]string, len(pairs))
	for i, p := range pairs {
		out[i] = [2]string{strings.ToLower(p[0]), p[1]}
	}
	h.maps[m] = out
	return abi.StatusOK
}

// BufferBytes implements wasm.StreamHost.
func (h *streamHost) BufferBytes(b abi.BufferType, start, length int) ([]byte, abi.Status) {
	if b > abi.BufferHTTPResponseBody {
		return nil, abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	body := h.bodies[b]
	start = min(start, len(body))
	return append([]byte(nil), body[start:min(len(body), start+length)]...), abi.StatusOK
}

// BufferLen implements wasm.StreamHost.
func (h *streamHost) BufferLen(b abi.BufferType) (int, abi.Status) {
	if b > abi.BufferHTTPResponseBody {
		return 0, abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies[b]), abi.StatusOK
}

// ReplaceBufferBytes implements wasm.StreamHost.
func (h *streamHost) ReplaceBufferBytes(b abi.BufferType, start, length int, data []byte) abi.Status {
	if b > abi.BufferHTTPResponseBody {
		return abi.StatusNotFound
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	body := h.bodies[b]
	start = min(start, len(body))
	end := min(len(body), start+length)
	h.bodies[b] = append(append(append([]byte(nil), body[:start]...), data...), body[end:]...)
	return abi.StatusOK
}

// Property implements wasm.StreamHost; every read is recorded.
func (h *streamHost) Property(path []string) ([]byte, abi.Status) {
	k := strings.Join(path, ".")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.propsRead = append(h.propsRead, k)
	v, ok := h.props[k]
	if !ok {
		return nil, abi.StatusNotFound
	}
	return v, abi.StatusOK
}

// SetProperty implements wasm.StreamHost.
func (h *streamHost) SetProperty(path []string, value []byte) abi.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.props[strings.Join(path, ".")] = value
	return abi.StatusOK
}

// SendLocalResponse implements wasm.StreamHost.
func (h *streamHost) SendLocalResponse(status int, details string, body []byte, headers [][2]string, _ int32) {
	h.mu.Lock()
	if h.local == nil {
		hs := make([][2]string, len(headers))
		for i, p := range headers {
			hs[i] = [2]string{strings.ToLower(p[0]), p[1]}
		}
		h.local = &localResponse{status: status, details: details, body: append([]byte(nil), body...), headers: hs}
	}
	h.mu.Unlock()
	h.notify()
}

// ContinueStream implements wasm.StreamHost.
func (h *streamHost) ContinueStream(abi.StreamType) { h.notify() }

// CloseStream implements wasm.StreamHost.
func (h *streamHost) CloseStream(abi.StreamType) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.notify()
}

// CallForeignFunction implements wasm.ForeignFunctionHost: scripted
// answers, NOT_FOUND otherwise; every call is recorded.
func (h *streamHost) CallForeignFunction(name string, _ []byte) ([]byte, abi.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ffCalls = append(h.ffCalls, name)
	s, ok := h.ff[name]
	if !ok {
		return nil, abi.StatusNotFound
	}
	switch s.Status {
	case "not_found":
		return nil, abi.StatusNotFound
	case "bad_argument":
		return nil, abi.StatusBadArgument
	case "internal_failure":
		return nil, abi.StatusInternalFailure
	}
	if s.Pairs != nil {
		return abi.EncodePairs(nil, sortedPairs(s.Pairs)), abi.StatusOK
	}
	return []byte(s.Result), abi.StatusOK
}

// state returns the local response and close flag.
func (h *streamHost) state() (*localResponse, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.local, h.closed
}

// calloutRecord is a callout the plugin made.
type calloutRecord struct {
	upstream string
	headers  [][2]string
	scripted bool
}

// dispatcher is the suite's wasm.CalloutDispatcher: it answers from the
// current scenario's scripts and records every callout.
type dispatcher struct {
	mu      sync.Mutex
	scripts map[string]CalloutScript
	calls   []calloutRecord
}

func (d *dispatcher) reset(scripts map[string]CalloutScript) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.scripts, d.calls = scripts, nil
}

func (d *dispatcher) recorded() []calloutRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]calloutRecord(nil), d.calls...)
}

// Dispatch implements wasm.CalloutDispatcher. An unscripted upstream
// answers BAD_ARGUMENT, as Weir does for an unknown upstream.
func (d *dispatcher) Dispatch(req wasm.CalloutRequest, done func(wasm.CalloutResponse)) abi.Status {
	d.mu.Lock()
	s, ok := d.scripts[req.Upstream]
	d.calls = append(d.calls, calloutRecord{upstream: req.Upstream, headers: req.Headers, scripted: ok})
	d.mu.Unlock()
	if !ok {
		return abi.StatusBadArgument
	}
	if s.Reset {
		done(wasm.CalloutResponse{Err: errCalloutReset})
		return abi.StatusOK
	}
	status := s.Status
	if status == 0 {
		status = 200
	}
	hs := append([][2]string{{":status", strconv.Itoa(status)}}, sortedPairs(s.Headers)...)
	done(wasm.CalloutResponse{Headers: hs, Body: []byte(s.Body), Trailers: sortedPairs(s.Trailers)})
	return abi.StatusOK
}

type calloutResetError struct{}

func (calloutResetError) Error() string { return "scripted reset" }

var errCalloutReset error = calloutResetError{}

// logLine is one captured log record.
type logLine struct {
	level string
	msg   string
}

// logCapture is a slog.Handler keeping the plugin's log lines (records
// with a "source" attribute: proxy_log, stdout, stderr) at every level (so
// proxy_get_log_level answers trace) while a window is open.
type logCapture struct {
	mu    *sync.Mutex
	lines *[]logLine
	on    *bool
}

func newLogCapture() *logCapture {
	return &logCapture{mu: new(sync.Mutex), lines: new([]logLine), on: new(bool)}
}

// maxLogLines bounds what one window keeps.
const maxLogLines = 10000

// start begins a new capture window.
func (c *logCapture) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.lines, *c.on = nil, true
}

// stop ends the window and returns its lines.
func (c *logCapture) stop() []logLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.on = false
	out := *c.lines
	*c.lines = nil
	return out
}

// Enabled implements slog.Handler.
func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	guest := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" {
			guest = true
			return false
		}
		return true
	})
	if !guest { // the host's own records (e.g. "instance failed")
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.on && len(*c.lines) < maxLogLines {
		*c.lines = append(*c.lines, logLine{level: levelName(r.Level), msg: r.Message})
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }

// WithGroup implements slog.Handler.
func (c *logCapture) WithGroup(string) slog.Handler { return c }

// levelName maps the host's slog levels back to proxy-wasm names.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	case l < slog.LevelError+4:
		return "error"
	}
	return "critical"
}
