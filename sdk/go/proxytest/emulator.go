//go:build !wasip1

package proxytest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/internal/hostcall"
	"github.com/weirproxy/weir/sdk/go/proxywasm"
)

// RootContextID is the context id of the plugin (root) context the
// emulator creates.
const RootContextID uint32 = 1

// Options configure a HostEmulator.
type Options struct {
	// PluginConfig is returned by proxywasm.GetPluginConfiguration.
	PluginConfig []byte
	// VMConfig is returned by proxywasm.GetVMConfiguration.
	VMConfig []byte
	// VMContext, if set, replaces the one the plugin registered with
	// proxywasm.SetVMContext.
	VMContext proxywasm.VMContext
	// LogLevel is what proxywasm.GetLogLevel answers (default trace).
	// Every log line is recorded regardless.
	LogLevel abi.LogLevel
	// Properties preset property values, keyed by the dot-joined path
	// ("request.path").
	Properties map[string][]byte
}

// LocalResponse is a response sent with proxywasm.SendHttpResponse.
type LocalResponse struct {
	StatusCode uint32
	Details    string
	Headers    [][2]string
	Body       []byte
	GRPCStatus int32
}

// HttpCall is a callout dispatched with proxywasm.DispatchHttpCall and not
// yet answered.
type HttpCall struct {
	Token     uint32
	Upstream  string
	Headers   [][2]string
	Body      []byte
	Trailers  [][2]string
	TimeoutMs uint32
}

// ErrNoVMContext is returned by NewHostEmulator when no VMContext was
// registered or given.
var ErrNoVMContext = errors.New("proxytest: no VMContext: call proxywasm.SetVMContext (in init) or set Options.VMContext")

type stream struct {
	maps          [4][][2]string // request headers, request trailers, response headers, response trailers (abi.MapType 0..3)
	reqBody       []byte
	respBody      []byte
	reqBodyPaused bool
	rspBodyPaused bool
	local         *LocalResponse
	reqResumed    int
	respResumed   int
	closed        bool
	done          bool
}

type metric struct {
	typ    abi.MetricType
	name   string
	value  uint64
	values []uint64 // histogram
}

type shared struct {
	value []byte
	cas   uint32
}

type callResponse struct {
	headers, trailers [][2]string
	body              []byte
}

// HostEmulator is the emulated host. Its methods drive the plugin (Call*)
// and inspect what it did (Get*). It is safe for use by one goroutine at a
// time; host calls made by the plugin are serialized with a mutex so
// goroutines inside a plugin do not corrupt it.
type HostEmulator struct {
	mu sync.Mutex

	opts       Options
	nextID     uint32
	effective  uint32
	streams    map[uint32]*stream
	logs       map[abi.LogLevel][]string
	tickPeriod uint32

	nextToken uint32
	calls     map[uint32]*HttpCall
	callResp  *callResponse

	sharedData map[string]*shared
	queueIDs   map[string]uint32
	queues     map[uint32][][]byte

	metrics     map[uint32]*metric
	metricNames map[string]uint32

	properties map[string][]byte
	foreign    map[string]func([]byte) ([]byte, error)
	foreignArg []byte
	pluginDone bool
}

// NewHostEmulator installs a new emulator as the SDK's host and starts the
// plugin: proxy_on_context_create(root), proxy_on_vm_start,
// proxy_on_configure. It returns an error (with the emulator still
// installed; call Close) if OnVMStart or OnPluginStart fails.
func NewHostEmulator(opts Options) (*HostEmulator, error) {
	e := &HostEmulator{
		opts:        opts,
		nextID:      RootContextID + 1,
		streams:     make(map[uint32]*stream),
		logs:        make(map[abi.LogLevel][]string),
		nextToken:   1,
		calls:       make(map[uint32]*HttpCall),
		sharedData:  make(map[string]*shared),
		queueIDs:    make(map[string]uint32),
		queues:      make(map[uint32][][]byte),
		metrics:     make(map[uint32]*metric),
		metricNames: make(map[string]uint32),
		properties:  make(map[string][]byte),
		foreign:     make(map[string]func([]byte) ([]byte, error)),
	}
	for k, v := range opts.Properties {
		e.properties[k] = slices.Clone(v)
	}
	g := hostcall.Guest
	if g.Reset == nil {
		return nil, errors.New("proxytest: proxywasm SDK not initialised")
	}
	g.Reset()
	if opts.VMContext != nil {
		proxywasm.SetVMContext(opts.VMContext)
	}
	hostcall.SetHost((*emuHost)(e))
	e.effective = RootContextID
	g.OnContextCreate(RootContextID, 0)
	if !g.OnVMStart(RootContextID, uint32(len(opts.VMConfig))) {
		return e, errors.New("proxytest: OnVMStart failed")
	}
	if !g.OnConfigure(RootContextID, uint32(len(opts.PluginConfig))) {
		return e, fmt.Errorf("proxytest: OnPluginStart failed (plugin configuration %q)", opts.PluginConfig)
	}
	return e, nil
}

// Close uninstalls the emulator and forgets the SDK's contexts.
func (e *HostEmulator) Close() {
	hostcall.Guest.Reset()
	hostcall.SetHost(nil)
}

// ---- driving the plugin ----

func (e *HostEmulator) enter(contextID uint32) {
	e.mu.Lock()
	e.effective = contextID
	e.mu.Unlock()
}

// InitializeHttpContext creates a new HTTP stream context and returns its
// id.
func (e *HostEmulator) InitializeHttpContext() uint32 {
	e.mu.Lock()
	id := e.nextID
	e.nextID++
	e.streams[id] = &stream{}
	e.effective = id
	e.mu.Unlock()
	hostcall.Guest.OnContextCreate(id, RootContextID)
	return id
}

func (e *HostEmulator) stream(contextID uint32) *stream {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.streams[contextID]
}

func (e *HostEmulator) setMap(contextID uint32, mt abi.MapType, pairs [][2]string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[contextID]
	if s == nil {
		return false
	}
	s.maps[mt] = slices.Clone(pairs)
	e.effective = contextID
	return true
}

// CallOnRequestHeaders sets the stream's request headers and calls
// proxy_on_request_headers. An unknown context answers ActionContinue
// without calling the plugin.
func (e *HostEmulator) CallOnRequestHeaders(contextID uint32, headers [][2]string, endOfStream bool) proxywasm.Action {
	if !e.setMap(contextID, abi.MapHTTPRequestHeaders, headers) {
		return proxywasm.ActionContinue
	}
	return hostcall.Guest.OnRequestHeaders(contextID, uint32(len(headers)), endOfStream)
}

// CallOnResponseHeaders sets the stream's response headers and calls
// proxy_on_response_headers.
func (e *HostEmulator) CallOnResponseHeaders(contextID uint32, headers [][2]string, endOfStream bool) proxywasm.Action {
	if !e.setMap(contextID, abi.MapHTTPResponseHeaders, headers) {
		return proxywasm.ActionContinue
	}
	return hostcall.Guest.OnResponseHeaders(contextID, uint32(len(headers)), endOfStream)
}

// CallOnRequestTrailers sets the request trailers and calls
// proxy_on_request_trailers.
func (e *HostEmulator) CallOnRequestTrailers(contextID uint32, trailers [][2]string) proxywasm.Action {
	if !e.setMap(contextID, abi.MapHTTPRequestTrailers, trailers) {
		return proxywasm.ActionContinue
	}
	return hostcall.Guest.OnRequestTrailers(contextID, uint32(len(trailers)))
}

// CallOnResponseTrailers sets the response trailers and calls
// proxy_on_response_trailers.
func (e *HostEmulator) CallOnResponseTrailers(contextID uint32, trailers [][2]string) proxywasm.Action {
	if !e.setMap(contextID, abi.MapHTTPResponseTrailers, trailers) {
		return proxywasm.ActionContinue
	}
	return hostcall.Guest.OnResponseTrailers(contextID, uint32(len(trailers)))
}

// CallOnRequestBody delivers a request body chunk. As in Envoy, while the
// plugin pauses body callbacks the chunks accumulate in the buffer, and
// body_size is the whole buffered size; after ActionContinue the buffer
// holds only the next chunk.
func (e *HostEmulator) CallOnRequestBody(contextID uint32, chunk []byte, endOfStream bool) proxywasm.Action {
	e.mu.Lock()
	s := e.streams[contextID]
	if s == nil {
		e.mu.Unlock()
		return proxywasm.ActionContinue
	}
	if s.reqBodyPaused {
		s.reqBody = append(s.reqBody, chunk...)
	} else {
		s.reqBody = slices.Clone(chunk)
	}
	n := len(s.reqBody)
	e.effective = contextID
	e.mu.Unlock()
	a := hostcall.Guest.OnRequestBody(contextID, uint32(n), endOfStream)
	e.mu.Lock()
	s.reqBodyPaused = a == proxywasm.ActionPause
	e.mu.Unlock()
	return a
}

// CallOnResponseBody delivers a response body chunk, like
// CallOnRequestBody.
func (e *HostEmulator) CallOnResponseBody(contextID uint32, chunk []byte, endOfStream bool) proxywasm.Action {
	e.mu.Lock()
	s := e.streams[contextID]
	if s == nil {
		e.mu.Unlock()
		return proxywasm.ActionContinue
	}
	if s.rspBodyPaused {
		s.respBody = append(s.respBody, chunk...)
	} else {
		s.respBody = slices.Clone(chunk)
	}
	n := len(s.respBody)
	e.effective = contextID
	e.mu.Unlock()
	a := hostcall.Guest.OnResponseBody(contextID, uint32(n), endOfStream)
	e.mu.Lock()
	s.rspBodyPaused = a == proxywasm.ActionPause
	e.mu.Unlock()
	return a
}

// CompleteHttpContext ends the stream as a host does: proxy_on_done,
// proxy_on_log (OnHttpStreamDone), proxy_on_delete. The stream's recorded
// state stays readable.
func (e *HostEmulator) CompleteHttpContext(contextID uint32) {
	s := e.stream(contextID)
	if s == nil || s.done {
		return
	}
	e.enter(contextID)
	g := hostcall.Guest
	g.OnDone(contextID)
	g.OnLog(contextID)
	g.OnDelete(contextID)
	e.mu.Lock()
	s.done = true
	e.mu.Unlock()
}

// CallOnPluginDone calls proxy_on_done on the plugin context and reports
// whether the plugin finished (OnPluginDone returned true, or it later
// called proxywasm.PluginDone).
func (e *HostEmulator) CallOnPluginDone() bool {
	e.enter(RootContextID)
	done := hostcall.Guest.OnDone(RootContextID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if done {
		e.pluginDone = true
	}
	return e.pluginDone
}

// Tick calls proxy_on_tick on the plugin context.
func (e *HostEmulator) Tick() {
	e.enter(RootContextID)
	hostcall.Guest.OnTick(RootContextID)
}

// GetTickPeriod returns the period set with SetTickPeriodMilliSeconds.
func (e *HostEmulator) GetTickPeriod() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tickPeriod
}

// GetHttpCalls returns the callouts dispatched and not yet answered, by
// token order.
func (e *HostEmulator) GetHttpCalls() []HttpCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]HttpCall, 0, len(e.calls))
	for _, c := range e.calls {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b HttpCall) int { return int(a.Token) - int(b.Token) })
	return out
}

// CallOnHttpCallResponse answers the callout token with headers, body and
// trailers (nil headers report a failed call) and calls
// proxy_on_http_call_response. It returns an error for an unknown token.
func (e *HostEmulator) CallOnHttpCallResponse(token uint32, headers [][2]string, body []byte, trailers [][2]string) error {
	e.mu.Lock()
	if _, ok := e.calls[token]; !ok {
		e.mu.Unlock()
		return fmt.Errorf("proxytest: no pending http call with token %d", token)
	}
	delete(e.calls, token)
	e.callResp = &callResponse{headers: slices.Clone(headers), body: slices.Clone(body), trailers: slices.Clone(trailers)}
	e.effective = RootContextID
	e.mu.Unlock()
	hostcall.Guest.OnHTTPCallResponse(RootContextID, token, uint32(len(headers)), uint32(len(body)), uint32(len(trailers)))
	e.mu.Lock()
	e.callResp = nil
	e.mu.Unlock()
	return nil
}

// CallOnQueueReady calls proxy_on_queue_ready for queueID.
func (e *HostEmulator) CallOnQueueReady(queueID uint32) {
	e.enter(RootContextID)
	hostcall.Guest.OnQueueReady(RootContextID, queueID)
}

// CallOnForeignFunction calls proxy_on_foreign_function with args readable
// through proxywasm.GetForeignFunctionArguments.
func (e *HostEmulator) CallOnForeignFunction(functionID uint32, args []byte) {
	e.mu.Lock()
	e.foreignArg = slices.Clone(args)
	e.effective = RootContextID
	e.mu.Unlock()
	hostcall.Guest.OnForeignFunction(RootContextID, functionID, uint32(len(args)))
	e.mu.Lock()
	e.foreignArg = nil
	e.mu.Unlock()
}

// RegisterForeignFunction makes fn answer proxywasm.CallForeignFunction(name).
// A returned StatusError is passed to the plugin as its status; any other
// error as INTERNAL_FAILURE.
func (e *HostEmulator) RegisterForeignFunction(name string, fn func(args []byte) ([]byte, error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.foreign[name] = fn
}

// ---- inspecting ----

func (e *HostEmulator) streamMap(contextID uint32, mt abi.MapType) [][2]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.streams[contextID]; s != nil {
		return slices.Clone(s.maps[mt])
	}
	return nil
}

// GetCurrentRequestHeaders returns the stream's request headers as the
// plugin left them.
func (e *HostEmulator) GetCurrentRequestHeaders(contextID uint32) [][2]string {
	return e.streamMap(contextID, abi.MapHTTPRequestHeaders)
}

// GetCurrentResponseHeaders returns the stream's response headers.
func (e *HostEmulator) GetCurrentResponseHeaders(contextID uint32) [][2]string {
	return e.streamMap(contextID, abi.MapHTTPResponseHeaders)
}

// GetCurrentRequestTrailers returns the stream's request trailers.
func (e *HostEmulator) GetCurrentRequestTrailers(contextID uint32) [][2]string {
	return e.streamMap(contextID, abi.MapHTTPRequestTrailers)
}

// GetCurrentResponseTrailers returns the stream's response trailers.
func (e *HostEmulator) GetCurrentResponseTrailers(contextID uint32) [][2]string {
	return e.streamMap(contextID, abi.MapHTTPResponseTrailers)
}

// GetCurrentRequestBody returns the buffered request body.
func (e *HostEmulator) GetCurrentRequestBody(contextID uint32) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.streams[contextID]; s != nil {
		return slices.Clone(s.reqBody)
	}
	return nil
}

// GetCurrentResponseBody returns the buffered response body.
func (e *HostEmulator) GetCurrentResponseBody(contextID uint32) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.streams[contextID]; s != nil {
		return slices.Clone(s.respBody)
	}
	return nil
}

// GetSentLocalResponse returns the local response the plugin sent on the
// stream, or nil.
func (e *HostEmulator) GetSentLocalResponse(contextID uint32) *LocalResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.streams[contextID]; s != nil && s.local != nil {
		r := *s.local
		return &r
	}
	return nil
}

// GetResumeCounts returns how many times the plugin resumed the stream's
// request and response (ResumeHttpRequest / ResumeHttpResponse).
func (e *HostEmulator) GetResumeCounts(contextID uint32) (request, response int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.streams[contextID]; s != nil {
		return s.reqResumed, s.respResumed
	}
	return 0, 0
}

// IsStreamClosed reports whether the plugin reset the stream.
func (e *HostEmulator) IsStreamClosed(contextID uint32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.streams[contextID]
	return s != nil && s.closed
}

// GetLogs returns the messages logged at level, oldest first.
func (e *HostEmulator) GetLogs(level abi.LogLevel) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.logs[level])
}

// GetProperty returns a property value by dot-joined path.
func (e *HostEmulator) GetProperty(path string) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.properties[path]
	return slices.Clone(v), ok
}

// SetProperty sets a property value by dot-joined path ("request.path").
func (e *HostEmulator) SetProperty(path string, value []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.properties[path] = slices.Clone(value)
}

func (e *HostEmulator) metricByName(name string, want abi.MetricType) (*metric, error) {
	id, ok := e.metricNames[name]
	if !ok {
		return nil, fmt.Errorf("proxytest: no metric %q", name)
	}
	m := e.metrics[id]
	if m.typ != want {
		return nil, fmt.Errorf("proxytest: metric %q is a %s, not a %s", name, m.typ, want)
	}
	return m, nil
}

// GetCounterMetric returns the value of counter name.
func (e *HostEmulator) GetCounterMetric(name string) (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.metricByName(name, abi.MetricCounter)
	if err != nil {
		return 0, err
	}
	return m.value, nil
}

// GetGaugeMetric returns the value of gauge name.
func (e *HostEmulator) GetGaugeMetric(name string) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.metricByName(name, abi.MetricGauge)
	if err != nil {
		return 0, err
	}
	return int64(m.value), nil
}

// GetHistogramMetric returns the values recorded in histogram name.
func (e *HostEmulator) GetHistogramMetric(name string) ([]uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, err := e.metricByName(name, abi.MetricHistogram)
	if err != nil {
		return nil, err
	}
	return slices.Clone(m.values), nil
}

// GetQueueItems returns the items waiting in queue queueID.
func (e *HostEmulator) GetQueueItems(queueID uint32) [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.queues[queueID])
}

// ---- helpers shared by the host side ----

func indexFold(pairs [][2]string, key string) int {
	for i := range pairs {
		if strings.EqualFold(pairs[i][0], key) {
			return i
		}
	}
	return -1
}

func propKey(path []byte) (string, abi.Status) {
	segs, err := abi.SplitPath(path)
	if err != nil || len(segs) == 0 {
		return "", abi.StatusBadArgument
	}
	return strings.Join(segs, "."), abi.StatusOK
}
