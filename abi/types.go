package abi

import "strconv"

// ValType is a WebAssembly value type as it appears in a function signature.
// The values are the wasm binary encodings (0x7f i32, 0x7e i64), which are
// also the values of wazero's api.ValueType, so api.ValueType(v) converts.
type ValType byte

// Value types used by the proxy-wasm ABI. The ABI never uses f32/f64.
const (
	ValTypeI32 ValType = 0x7f
	ValTypeI64 ValType = 0x7e
)

// String returns "i32" or "i64".
func (t ValType) String() string {
	switch t {
	case ValTypeI32:
		return "i32"
	case ValTypeI64:
		return "i64"
	}
	return "ValType(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Status is proxy_status_t (WasmResult in cpp-host): the i32 every host
// function returns. Values 5, 9 and 11 are defined by the C++ SDK and
// cpp-host but not by the spec; hosts and SDKs in the wild use them.
type Status uint32

// Status values.
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	// StatusBadExpression is cpp-sdk only (CEL expression errors).
	StatusBadExpression       Status = 5
	StatusInvalidMemoryAccess Status = 6
	StatusEmpty               Status = 7
	StatusCASMismatch         Status = 8
	// StatusResultMismatch is cpp-sdk only.
	StatusResultMismatch  Status = 9
	StatusInternalFailure Status = 10
	// StatusBrokenConnection is cpp-sdk only; Envoy reports it through
	// proxy_get_status when an HTTP callout was reset.
	StatusBrokenConnection Status = 11
	StatusUnimplemented    Status = 12
)

var statusNames = [...]string{
	"OK", "NOT_FOUND", "BAD_ARGUMENT", "SERIALIZATION_FAILURE", "PARSE_FAILURE",
	"BAD_EXPRESSION", "INVALID_MEMORY_ACCESS", "EMPTY", "CAS_MISMATCH",
	"RESULT_MISMATCH", "INTERNAL_FAILURE", "BROKEN_CONNECTION", "UNIMPLEMENTED",
}

// String returns the spec name, e.g. "NOT_FOUND".
func (s Status) String() string {
	if uint64(s) < uint64(len(statusNames)) {
		return statusNames[s]
	}
	return "Status(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Action is proxy_action_t, the i32 returned by the stream callbacks
// (request/response headers, body, trailers; TCP data; new connection).
// The spec defines only Continue and Pause. Callbacks built with the C++ SDK
// may return the richer Envoy values, see HeadersAction and DataAction.
type Action uint32

// Action values (spec).
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// String returns "Continue", "Pause" or "Action(n)".
func (a Action) String() string {
	switch a {
	case ActionContinue:
		return "Continue"
	case ActionPause:
		return "Pause"
	}
	return "Action(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// HeadersAction is the value returned by proxy_on_request_headers and
// proxy_on_response_headers read with Envoy's FilterHeadersStatus meaning,
// which C++ SDK plugins use. 0 and 1 coincide with ActionContinue/ActionPause.
// Trailers callbacks use only Continue (0) and StopIteration (1).
type HeadersAction uint32

// HeadersAction values (cpp-sdk proxy_wasm_enums.h).
const (
	HeadersContinue                     HeadersAction = 0
	HeadersStopIteration                HeadersAction = 1
	HeadersContinueAndEndStream         HeadersAction = 2
	HeadersStopAllIterationAndBuffer    HeadersAction = 3
	HeadersStopAllIterationAndWatermark HeadersAction = 4
)

var headersActionNames = [...]string{
	"Continue", "StopIteration", "ContinueAndEndStream",
	"StopAllIterationAndBuffer", "StopAllIterationAndWatermark",
}

// String returns the cpp-sdk name, e.g. "StopIteration".
func (a HeadersAction) String() string {
	if uint64(a) < uint64(len(headersActionNames)) {
		return headersActionNames[a]
	}
	return "HeadersAction(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// DataAction is the value returned by proxy_on_request_body,
// proxy_on_response_body and the TCP data callbacks read with Envoy's
// FilterDataStatus meaning. 0 and 1 coincide with ActionContinue/ActionPause.
type DataAction uint32

// DataAction values (cpp-sdk proxy_wasm_enums.h).
const (
	DataContinue                  DataAction = 0
	DataStopIterationAndBuffer    DataAction = 1
	DataStopIterationAndWatermark DataAction = 2
	DataStopIterationNoBuffer     DataAction = 3
)

var dataActionNames = [...]string{
	"Continue", "StopIterationAndBuffer", "StopIterationAndWatermark", "StopIterationNoBuffer",
}

// String returns the cpp-sdk name, e.g. "StopIterationAndBuffer".
func (a DataAction) String() string {
	if uint64(a) < uint64(len(dataActionNames)) {
		return dataActionNames[a]
	}
	return "DataAction(" + strconv.FormatUint(uint64(a), 10) + ")"
}

// BufferType is proxy_buffer_type_t, the buffer_id argument of the
// proxy_*_buffer_* host functions. Values 6–8 were added in 0.2.0. (Higress
// uses 9 for Redis call responses; Weir does not.)
type BufferType uint32

// BufferType values.
const (
	BufferHTTPRequestBody          BufferType = 0
	BufferHTTPResponseBody         BufferType = 1
	BufferDownstreamData           BufferType = 2
	BufferUpstreamData             BufferType = 3
	BufferHTTPCallResponseBody     BufferType = 4
	BufferGRPCCallMessage          BufferType = 5
	BufferVMConfiguration          BufferType = 6
	BufferPluginConfiguration      BufferType = 7
	BufferForeignFunctionArguments BufferType = 8
)

var bufferTypeNames = [...]string{
	"HTTP_REQUEST_BODY", "HTTP_RESPONSE_BODY", "DOWNSTREAM_DATA", "UPSTREAM_DATA",
	"HTTP_CALL_RESPONSE_BODY", "GRPC_CALL_MESSAGE", "VM_CONFIGURATION",
	"PLUGIN_CONFIGURATION", "FOREIGN_FUNCTION_ARGUMENTS",
}

// Valid reports whether t is a defined buffer type (0..8). Host functions
// answer BAD_ARGUMENT for anything else.
func (t BufferType) Valid() bool { return uint64(t) < uint64(len(bufferTypeNames)) }

// String returns the spec name, e.g. "HTTP_REQUEST_BODY".
func (t BufferType) String() string {
	if t.Valid() {
		return bufferTypeNames[t]
	}
	return "BufferType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// MapType is proxy_map_type_t, the map_id argument of the
// proxy_*_header_map_* host functions.
type MapType uint32

// MapType values.
const (
	MapHTTPRequestHeaders       MapType = 0
	MapHTTPRequestTrailers      MapType = 1
	MapHTTPResponseHeaders      MapType = 2
	MapHTTPResponseTrailers     MapType = 3
	MapGRPCCallInitialMetadata  MapType = 4
	MapGRPCCallTrailingMetadata MapType = 5
	MapHTTPCallResponseHeaders  MapType = 6
	MapHTTPCallResponseTrailers MapType = 7
)

var mapTypeNames = [...]string{
	"HTTP_REQUEST_HEADERS", "HTTP_REQUEST_TRAILERS", "HTTP_RESPONSE_HEADERS",
	"HTTP_RESPONSE_TRAILERS", "GRPC_CALL_INITIAL_METADATA", "GRPC_CALL_TRAILING_METADATA",
	"HTTP_CALL_RESPONSE_HEADERS", "HTTP_CALL_RESPONSE_TRAILERS",
}

// Valid reports whether t is a defined map type (0..7).
func (t MapType) Valid() bool { return uint64(t) < uint64(len(mapTypeNames)) }

// String returns the spec name, e.g. "HTTP_REQUEST_HEADERS".
func (t MapType) String() string {
	if t.Valid() {
		return mapTypeNames[t]
	}
	return "MapType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// StreamType is proxy_stream_type_t, the argument of proxy_continue_stream
// and proxy_close_stream (0.2.0+).
type StreamType uint32

// StreamType values.
const (
	StreamHTTPRequest  StreamType = 0
	StreamHTTPResponse StreamType = 1
	StreamDownstream   StreamType = 2
	StreamUpstream     StreamType = 3
)

var streamTypeNames = [...]string{"HTTP_REQUEST", "HTTP_RESPONSE", "DOWNSTREAM", "UPSTREAM"}

// Valid reports whether t is a defined stream type (0..3).
func (t StreamType) Valid() bool { return uint64(t) < uint64(len(streamTypeNames)) }

// String returns the spec name, e.g. "HTTP_REQUEST".
func (t StreamType) String() string {
	if t.Valid() {
		return streamTypeNames[t]
	}
	return "StreamType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// PeerType is proxy_peer_type_t, passed to the connection-close callbacks.
type PeerType uint32

// PeerType values.
const (
	PeerUnknown PeerType = 0
	PeerLocal   PeerType = 1
	PeerRemote  PeerType = 2
)

var peerTypeNames = [...]string{"UNKNOWN", "LOCAL", "REMOTE"}

// Valid reports whether t is a defined peer type (0..2).
func (t PeerType) Valid() bool { return uint64(t) < uint64(len(peerTypeNames)) }

// String returns the spec name, e.g. "REMOTE".
func (t PeerType) String() string {
	if t.Valid() {
		return peerTypeNames[t]
	}
	return "PeerType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// MetricType is proxy_metric_type_t, the argument of proxy_define_metric.
type MetricType uint32

// MetricType values.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

var metricTypeNames = [...]string{"COUNTER", "GAUGE", "HISTOGRAM"}

// Valid reports whether t is a defined metric type (0..2).
func (t MetricType) Valid() bool { return uint64(t) < uint64(len(metricTypeNames)) }

// String returns the spec name, e.g. "COUNTER".
func (t MetricType) String() string {
	if t.Valid() {
		return metricTypeNames[t]
	}
	return "MetricType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// LogLevel is proxy_log_level_t, used by proxy_log and proxy_get_log_level.
type LogLevel uint32

// LogLevel values.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

var logLevelNames = [...]string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"}

// Valid reports whether l is a defined level (0..5). proxy_log answers
// BAD_ARGUMENT for anything else.
func (l LogLevel) Valid() bool { return uint64(l) < uint64(len(logLevelNames)) }

// String returns the spec name, e.g. "WARN".
func (l LogLevel) String() string {
	if l.Valid() {
		return logLevelNames[l]
	}
	return "LogLevel(" + strconv.FormatUint(uint64(l), 10) + ")"
}

// Errno is a WASI errno (wasi_errno_t) returned by the WASI functions the
// spec relies on. Only the values proxy-wasm hosts actually return are named.
type Errno uint32

// Errno values (WASI snapshot preview1 numbering).
const (
	ErrnoSuccess Errno = 0
	ErrnoBadf    Errno = 8  // unknown or unsupported fd (fd_write to fd other than 1/2)
	ErrnoFault   Errno = 21 // pointer outside guest memory
	ErrnoInval   Errno = 28 // e.g. random_get larger than MaxRandomGetBytes
	ErrnoNosys   Errno = 52 // function not implemented (wazero's stubs)
	ErrnoNotsup  Errno = 58 // unsupported clock id
	// ErrnoNotcapable is what cpp-host's stubs for restricted WASI
	// capabilities return.
	ErrnoNotcapable Errno = 76
)

// String returns the WASI name, e.g. "FAULT".
func (e Errno) String() string {
	switch e {
	case ErrnoSuccess:
		return "SUCCESS"
	case ErrnoBadf:
		return "BADF"
	case ErrnoFault:
		return "FAULT"
	case ErrnoInval:
		return "INVAL"
	case ErrnoNosys:
		return "NOSYS"
	case ErrnoNotsup:
		return "NOTSUP"
	case ErrnoNotcapable:
		return "NOTCAPABLE"
	}
	return "Errno(" + strconv.FormatUint(uint64(e), 10) + ")"
}
