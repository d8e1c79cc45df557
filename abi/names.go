package abi

import "strings"

// Import module names.
const (
	// ModuleEnv is the import module of every proxy_* host function and of
	// the CompatFunctions.
	ModuleEnv = "env"
	// ModuleWASISnapshotPreview1 is the WASI module proxy-wasm relies on for
	// fd_write, clock_time_get, random_get, environ_* and args_*.
	ModuleWASISnapshotPreview1 = "wasi_snapshot_preview1"
	// ModuleWASIUnstable is the pre-snapshot WASI module name still imported
	// by binaries from older TinyGo releases. cpp-host registers the same
	// functions under both names; wazero ships only the snapshot, so the host
	// must alias it.
	ModuleWASIUnstable = "wasi_unstable"
)

// Host function names (import module "env"). Every one returns an i32
// Status; see HostFunctions for signatures and versions.
const (
	FuncLog                       = "proxy_log"
	FuncGetLogLevel               = "proxy_get_log_level"
	FuncGetCurrentTimeNanoseconds = "proxy_get_current_time_nanoseconds"
	FuncSetTickPeriodMilliseconds = "proxy_set_tick_period_milliseconds"
	FuncSetEffectiveContext       = "proxy_set_effective_context"
	FuncDone                      = "proxy_done"
	FuncCallForeignFunction       = "proxy_call_foreign_function"
	FuncGetBufferBytes            = "proxy_get_buffer_bytes"
	FuncSetBufferBytes            = "proxy_set_buffer_bytes"
	FuncGetBufferStatus           = "proxy_get_buffer_status"
	FuncGetHeaderMapPairs         = "proxy_get_header_map_pairs"
	FuncSetHeaderMapPairs         = "proxy_set_header_map_pairs"
	FuncGetHeaderMapValue         = "proxy_get_header_map_value"
	FuncAddHeaderMapValue         = "proxy_add_header_map_value"
	FuncReplaceHeaderMapValue     = "proxy_replace_header_map_value"
	FuncRemoveHeaderMapValue      = "proxy_remove_header_map_value"
	FuncGetHeaderMapSize          = "proxy_get_header_map_size"
	FuncContinueStream            = "proxy_continue_stream"
	FuncCloseStream               = "proxy_close_stream"
	FuncGetStatus                 = "proxy_get_status"
	FuncSendLocalResponse         = "proxy_send_local_response"
	FuncHTTPCall                  = "proxy_http_call"
	FuncGRPCCall                  = "proxy_grpc_call"
	FuncGRPCStream                = "proxy_grpc_stream"
	FuncGRPCSend                  = "proxy_grpc_send"
	FuncGRPCCancel                = "proxy_grpc_cancel"
	FuncGRPCClose                 = "proxy_grpc_close"
	FuncGetSharedData             = "proxy_get_shared_data"
	FuncSetSharedData             = "proxy_set_shared_data"
	FuncRegisterSharedQueue       = "proxy_register_shared_queue"
	FuncResolveSharedQueue        = "proxy_resolve_shared_queue"
	FuncEnqueueSharedQueue        = "proxy_enqueue_shared_queue"
	FuncDequeueSharedQueue        = "proxy_dequeue_shared_queue"
	FuncDefineMetric              = "proxy_define_metric"
	FuncIncrementMetric           = "proxy_increment_metric"
	FuncRecordMetric              = "proxy_record_metric"
	FuncGetMetric                 = "proxy_get_metric"
	FuncGetProperty               = "proxy_get_property"
	FuncSetProperty               = "proxy_set_property"
	FuncGetConfiguration          = "proxy_get_configuration" // 0.1.0 only
	FuncContinueRequest           = "proxy_continue_request"  // 0.1.0 only
	FuncContinueResponse          = "proxy_continue_response" // 0.1.0 only
	FuncClearRouteCache           = "proxy_clear_route_cache" // 0.1.0 only
)

// Non-spec "env" imports seen in real binaries; see CompatFunctions.
const (
	FuncEmscriptenNotifyMemGrowth = "emscripten_notify_memory_growth"
	FuncPthreadEqual              = "pthread_equal"
	FuncAbort                     = "abort"
)

// Guest export names: the version markers, the start-up and allocator
// functions, and every proxy_on_* callback. All are optional except one
// marker and one allocator; see Callbacks for signatures.
const (
	ExportABIVersion0_1_0 = "proxy_abi_version_0_1_0"
	ExportABIVersion0_2_0 = "proxy_abi_version_0_2_0"
	ExportABIVersion0_2_1 = "proxy_abi_version_0_2_1"

	ExportInitialize = "_initialize"
	ExportStart      = "_start"
	ExportMain       = "main"

	ExportOnMemoryAllocate = "proxy_on_memory_allocate"
	ExportMalloc           = "malloc"

	ExportOnContextCreate = "proxy_on_context_create"
	ExportOnDone          = "proxy_on_done"
	ExportOnLog           = "proxy_on_log"
	ExportOnDelete        = "proxy_on_delete"

	ExportOnVMStart              = "proxy_on_vm_start"
	ExportOnConfigure            = "proxy_on_configure"
	ExportValidateConfiguration  = "proxy_validate_configuration"
	ExportOnTick                 = "proxy_on_tick"
	ExportOnNewConnection        = "proxy_on_new_connection"
	ExportOnDownstreamData       = "proxy_on_downstream_data"
	ExportOnUpstreamData         = "proxy_on_upstream_data"
	ExportOnDownstreamConnClose  = "proxy_on_downstream_connection_close"
	ExportOnUpstreamConnClose    = "proxy_on_upstream_connection_close"
	ExportOnRequestHeaders       = "proxy_on_request_headers"
	ExportOnRequestBody          = "proxy_on_request_body"
	ExportOnRequestTrailers      = "proxy_on_request_trailers"
	ExportOnRequestMetadata      = "proxy_on_request_metadata"
	ExportOnResponseHeaders      = "proxy_on_response_headers"
	ExportOnResponseBody         = "proxy_on_response_body"
	ExportOnResponseTrailers     = "proxy_on_response_trailers"
	ExportOnResponseMetadata     = "proxy_on_response_metadata"
	ExportOnHTTPCallResponse     = "proxy_on_http_call_response"
	ExportOnGRPCReceiveInitialMD = "proxy_on_grpc_receive_initial_metadata"
	ExportOnGRPCReceive          = "proxy_on_grpc_receive"
	ExportOnGRPCReceiveTrailMD   = "proxy_on_grpc_receive_trailing_metadata"
	ExportOnGRPCClose            = "proxy_on_grpc_close"
	ExportOnQueueReady           = "proxy_on_queue_ready"
	ExportOnForeignFunction      = "proxy_on_foreign_function"
)

// HostFunc describes a host function a guest may import.
type HostFunc struct {
	Name    string
	Params  []ValType
	Results []ValType
	// Since is the first ABI version defining the function.
	Since Version
	// Until is the first ABI version no longer defining it, or
	// VersionUnknown (0) if every later version still has it.
	Until Version
	Doc   string
}

// In reports whether f is part of ABI version v.
func (f HostFunc) In(v Version) bool { return inRange(v, f.Since, f.Until) }

// String returns the signature, e.g. "proxy_log(i32, i32, i32) i32".
func (f HostFunc) String() string { return signature(f.Name, f.Params, f.Results) }

// Callback describes a function the guest may export for the host to call.
type Callback struct {
	Name    string
	Params  []ValType
	Results []ValType
	// Since and Until bound the ABI versions with this signature, as in
	// HostFunc. A name can appear twice with disjoint ranges
	// (proxy_on_request_headers gained end_of_stream in 0.2.0).
	Since Version
	Until Version
	// EnvoyOnly marks callbacks Envoy/cpp-host call that the spec does not
	// define.
	EnvoyOnly bool
	Doc       string
}

// In reports whether c is part of ABI version v.
func (c Callback) In(v Version) bool { return inRange(v, c.Since, c.Until) }

// String returns the signature, e.g. "proxy_on_done(i32) i32".
func (c Callback) String() string { return signature(c.Name, c.Params, c.Results) }

func inRange(v, since, until Version) bool {
	return v != VersionUnknown && v >= since && (until == VersionUnknown || v < until)
}

func signature(name string, params, results []ValType) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('(')
	for i, p := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	b.WriteByte(')')
	for i, r := range results {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// LookupHostFunc returns the entry of HostFunctions or CompatFunctions named
// name.
func LookupHostFunc(name string) (HostFunc, bool) {
	for _, f := range HostFunctions {
		if f.Name == name {
			return f, true
		}
	}
	for _, f := range CompatFunctions {
		if f.Name == name {
			return f, true
		}
	}
	return HostFunc{}, false
}

// LookupCallback returns the Callbacks entry named name that applies to v.
func LookupCallback(name string, v Version) (Callback, bool) {
	for _, c := range Callbacks {
		if c.Name == name && c.In(v) {
			return c, true
		}
	}
	return Callback{}, false
}

// Shorthands for the tables below.
var (
	noVals = []ValType(nil)
	i32s   = func(n int) []ValType {
		s := make([]ValType, n)
		for i := range s {
			s[i] = ValTypeI32
		}
		return s
	}
)

// HostFunctions lists every proxy_* host function in module "env", with the
// exact wasm signature from the spec (v0.1.0, v0.2.1) and cpp-host
// exports.h. Parameters are i32 unless the spec says i64; every result is
// one i32 Status. The spec requires hosts to provide all of them; cpp-host
// registers the 0.1.0-only ones only for 0.1.0 modules, but registering them
// for every module is harmless (extra host exports do not break linking).
var HostFunctions = []HostFunc{
	{Name: FuncLog, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(level, msg_ptr, msg_len). BAD_ARGUMENT for an unknown level."},
	{Name: FuncGetLogLevel, Params: i32s(1), Results: i32s(1), Since: V0_2_1,
		Doc: "(ret_level_ptr). Writes the host's current LogLevel as u32."},
	{Name: FuncGetCurrentTimeNanoseconds, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(ret_time_ptr). Writes Unix time in ns as u64. Deprecated for WASI clock_time_get; may be frozen per callback."},
	{Name: FuncSetTickPeriodMilliseconds, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(period_ms). Calls proxy_on_tick on the current root context every period; 0 disables."},
	{Name: FuncSetEffectiveContext, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id). BAD_ARGUMENT for an unknown context."},
	{Name: FuncDone, Params: noVals, Results: i32s(1), Since: V0_1_0,
		Doc: "(). Finishes a context whose proxy_on_done returned false; NOT_FOUND if none is pending."},
	{Name: FuncCallForeignFunction, Params: i32s(6), Results: i32s(1), Since: V0_1_0,
		Doc: "(name_ptr, name_len, args_ptr, args_len, ret_ptr_ptr, ret_size_ptr). NOT_FOUND for an unknown function; see ForeignFunctions."},
	{Name: FuncGetBufferBytes, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(buffer_type, start, max_size, ret_ptr_ptr, ret_size_ptr). Clamps to the buffer; an empty result writes ptr=0, size=0."},
	{Name: FuncSetBufferBytes, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(buffer_type, start, size, data_ptr, data_len). Replaces size bytes at start: (0,0) prepends, start>=len appends."},
	{Name: FuncGetBufferStatus, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(buffer_type, ret_len_ptr, ret_flags_ptr). Flags are always 0."},
	{Name: FuncGetHeaderMapPairs, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, ret_ptr_ptr, ret_size_ptr). Serialized pairs; an empty map writes ptr=0, size=0."},
	{Name: FuncSetHeaderMapPairs, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, ptr, size). Replaces the whole map with serialized pairs."},
	{Name: FuncGetHeaderMapValue, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, key_ptr, key_len, ret_ptr_ptr, ret_size_ptr). First value only; NOT_FOUND if absent (0.1.0: OK with an empty value)."},
	{Name: FuncAddHeaderMapValue, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, key_ptr, key_len, value_ptr, value_len). Appends a value."},
	{Name: FuncReplaceHeaderMapValue, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, key_ptr, key_len, value_ptr, value_len). Adds or replaces."},
	{Name: FuncRemoveHeaderMapValue, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, key_ptr, key_len). OK even if absent."},
	{Name: FuncGetHeaderMapSize, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(map_type, ret_size_ptr). Writes the serialized size in bytes (Envoy), not the count."},
	{Name: FuncContinueStream, Params: i32s(1), Results: i32s(1), Since: V0_2_0,
		Doc: "(stream_type). Resumes a paused stream after the current callback returns; UNIMPLEMENTED if unsupported."},
	{Name: FuncCloseStream, Params: i32s(1), Results: i32s(1), Since: V0_2_0,
		Doc: "(stream_type). Resets the HTTP stream or closes the TCP connection."},
	{Name: FuncGetStatus, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(ret_code_ptr, ret_msg_ptr_ptr, ret_msg_size_ptr). Status of the HTTP/gRPC callout being delivered."},
	{Name: FuncSendLocalResponse, Params: i32s(8), Results: i32s(1), Since: V0_1_0,
		Doc: "(status, details_ptr, details_len, body_ptr, body_len, headers_ptr, headers_len, grpc_status). Headers are serialized pairs; grpc_status 0xFFFFFFFF means not gRPC. Sent after the callback returns."},
	{Name: FuncHTTPCall, Params: i32s(10), Results: i32s(1), Since: V0_1_0,
		Doc: "(upstream_ptr, upstream_len, headers_ptr, headers_len, body_ptr, body_len, trailers_ptr, trailers_len, timeout_ms, ret_token_ptr). BAD_ARGUMENT for an unknown upstream or missing :method/:path/:authority."},
	{Name: FuncGRPCCall, Params: i32s(12), Results: i32s(1), Since: V0_1_0,
		Doc: "(upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len, metadata_ptr, metadata_len, msg_ptr, msg_len, timeout_ms, ret_token_ptr)."},
	{Name: FuncGRPCStream, Params: i32s(9), Results: i32s(1), Since: V0_1_0,
		Doc: "(upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len, metadata_ptr, metadata_len, ret_token_ptr)."},
	{Name: FuncGRPCSend, Params: i32s(4), Results: i32s(1), Since: V0_1_0,
		Doc: "(token, msg_ptr, msg_len, end_stream)."},
	{Name: FuncGRPCCancel, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(token)."},
	{Name: FuncGRPCClose, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(token)."},
	{Name: FuncGetSharedData, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(key_ptr, key_len, ret_value_ptr_ptr, ret_value_size_ptr, ret_cas_ptr). NOT_FOUND if absent."},
	{Name: FuncSetSharedData, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(key_ptr, key_len, value_ptr, value_len, cas). cas!=0 must equal the current CAS, else CAS_MISMATCH."},
	{Name: FuncRegisterSharedQueue, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(name_ptr, name_len, ret_queue_id_ptr). Idempotent per (vm_id, name)."},
	{Name: FuncResolveSharedQueue, Params: i32s(5), Results: i32s(1), Since: V0_1_0,
		Doc: "(vm_id_ptr, vm_id_len, name_ptr, name_len, ret_queue_id_ptr). NOT_FOUND if absent."},
	{Name: FuncEnqueueSharedQueue, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(queue_id, value_ptr, value_len). NOT_FOUND for an unknown queue."},
	{Name: FuncDequeueSharedQueue, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(queue_id, ret_value_ptr_ptr, ret_value_size_ptr). EMPTY when nothing is queued."},
	{Name: FuncDefineMetric, Params: i32s(4), Results: i32s(1), Since: V0_1_0,
		Doc: "(metric_type, name_ptr, name_len, ret_metric_id_ptr). BAD_ARGUMENT for an unknown type."},
	{Name: FuncIncrementMetric, Params: []ValType{ValTypeI32, ValTypeI64}, Results: i32s(1), Since: V0_1_0,
		Doc: "(metric_id, i64 delta). BAD_ARGUMENT when delta cannot apply (decrementing a counter)."},
	{Name: FuncRecordMetric, Params: []ValType{ValTypeI32, ValTypeI64}, Results: i32s(1), Since: V0_1_0,
		Doc: "(metric_id, i64 value). Gauge: set; histogram: record; counter: add (Envoy)."},
	{Name: FuncGetMetric, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(metric_id, ret_value_ptr). Writes u64."},
	{Name: FuncGetProperty, Params: i32s(4), Results: i32s(1), Since: V0_1_0,
		Doc: "(path_ptr, path_len, ret_ptr_ptr, ret_size_ptr). Path is NUL-separated; value encoded per Properties. NOT_FOUND if unknown."},
	{Name: FuncSetProperty, Params: i32s(4), Results: i32s(1), Since: V0_1_0,
		Doc: "(path_ptr, path_len, value_ptr, value_len)."},
	{Name: FuncGetConfiguration, Params: i32s(2), Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(ret_ptr_ptr, ret_size_ptr). VM or plugin configuration, depending on the callback. Replaced by get_buffer_bytes(VM_/PLUGIN_CONFIGURATION)."},
	{Name: FuncContinueRequest, Params: noVals, Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(). Resumes the paused request. Replaced by proxy_continue_stream(HTTP_REQUEST). The spec text says no result; cpp-host and every SDK use an i32."},
	{Name: FuncContinueResponse, Params: noVals, Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(). Resumes the paused response. Replaced by proxy_continue_stream(HTTP_RESPONSE)."},
	{Name: FuncClearRouteCache, Params: noVals, Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(). Clears the cached route. Replaced by the foreign function clear_route_cache."},
}

// CompatFunctions are non-spec "env" imports found in real plugin binaries
// (reference §1.5). Hosts bind them to harmless stubs so such binaries
// instantiate; unlike HostFunctions they do not all return a Status.
var CompatFunctions = []HostFunc{
	{Name: FuncEmscriptenNotifyMemGrowth, Params: i32s(1), Results: noVals, Since: V0_1_0,
		Doc: "(memory_index). Emscripten C++ plugins; no-op (cpp-host does the same)."},
	{Name: FuncPthreadEqual, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(a, b). Old emscripten builds; returns a == b."},
	{Name: FuncAbort, Params: i32s(4), Results: noVals, Since: V0_1_0,
		Doc: "(msg_ptr, file_ptr, line, column). AssemblyScript without abort_proc_exit; traps the guest."},
}

// Callbacks lists every export the host may call or look for, with the exact
// signature from the spec and cpp-host wasm.h. All are optional except one
// version marker and one allocator (proxy_on_memory_allocate, else malloc).
var Callbacks = []Callback{
	// Version markers: never called; DetectVersion reads them.
	{Name: ExportABIVersion0_1_0, Params: noVals, Results: noVals, Since: V0_1_0, Until: V0_2_0,
		Doc: "Marker for ABI 0.1.0; never called."},
	{Name: ExportABIVersion0_2_0, Params: noVals, Results: noVals, Since: V0_2_0, Until: V0_2_1,
		Doc: "Marker for ABI 0.2.0; never called."},
	{Name: ExportABIVersion0_2_1, Params: noVals, Results: noVals, Since: V0_2_1,
		Doc: "Marker for ABI 0.2.1; never called."},

	// Start-up.
	{Name: ExportInitialize, Params: noVals, Results: noVals, Since: V0_1_0,
		Doc: "WASI reactor initialisation; called first when exported."},
	{Name: ExportMain, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(0, 0) -> ignored. Called after _initialize, only if _initialize is exported."},
	{Name: ExportStart, Params: noVals, Results: noVals, Since: V0_1_0,
		Doc: "WASI command entry; called only if _initialize is not exported."},

	// Memory.
	{Name: ExportOnMemoryAllocate, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(size) -> ptr; 0 means failure. Preferred allocator (spec)."},
	{Name: ExportMalloc, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(size) -> ptr. Deprecated allocator, used when proxy_on_memory_allocate is absent."},

	// Context lifecycle.
	{Name: ExportOnContextCreate, Params: i32s(2), Results: noVals, Since: V0_1_0,
		Doc: "(context_id, parent_context_id). Parent 0 creates a root (plugin) context."},
	{Name: ExportOnDone, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id) -> bool. false defers finalisation until proxy_done."},
	{Name: ExportOnLog, Params: i32s(1), Results: noVals, Since: V0_1_0,
		Doc: "(context_id). After done, before delete; for access logging."},
	{Name: ExportOnDelete, Params: i32s(1), Results: noVals, Since: V0_1_0,
		Doc: "(context_id). The context is gone."},

	// Configuration and timers.
	{Name: ExportOnVMStart, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(root_context_id, vm_config_size) -> bool. Read the config with get_buffer_bytes(VM_CONFIGURATION) (0.1.0: proxy_get_configuration)."},
	{Name: ExportOnConfigure, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(root_context_id, plugin_config_size) -> bool. Read the config with get_buffer_bytes(PLUGIN_CONFIGURATION). false fails the plugin."},
	{Name: ExportValidateConfiguration, Params: i32s(2), Results: i32s(1), Since: V0_1_0, EnvoyOnly: true,
		Doc: "(root_context_id, plugin_config_size) -> bool. Envoy config validation hook."},
	{Name: ExportOnTick, Params: i32s(1), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id). Timer set with proxy_set_tick_period_milliseconds."},

	// TCP.
	{Name: ExportOnNewConnection, Params: i32s(1), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id) -> Action."},
	{Name: ExportOnDownstreamData, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, data_size, end_of_stream) -> Action/DataAction."},
	{Name: ExportOnUpstreamData, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, data_size, end_of_stream) -> Action/DataAction."},
	{Name: ExportOnDownstreamConnClose, Params: i32s(2), Results: noVals, Since: V0_1_0,
		Doc: "(context_id, peer_type)."},
	{Name: ExportOnUpstreamConnClose, Params: i32s(2), Results: noVals, Since: V0_1_0,
		Doc: "(context_id, peer_type)."},

	// HTTP.
	{Name: ExportOnRequestHeaders, Params: i32s(2), Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(context_id, num_headers) -> Action/HeadersAction. 0.1.0 form without end_of_stream."},
	{Name: ExportOnRequestHeaders, Params: i32s(3), Results: i32s(1), Since: V0_2_0,
		Doc: "(context_id, num_headers, end_of_stream) -> Action/HeadersAction."},
	{Name: ExportOnRequestBody, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, body_size, end_of_stream) -> Action/DataAction. body_size is the total buffered so far."},
	{Name: ExportOnRequestTrailers, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, num_trailers) -> Action."},
	{Name: ExportOnRequestMetadata, Params: i32s(2), Results: i32s(1), Since: V0_1_0, EnvoyOnly: true,
		Doc: "(context_id, num_elements) -> must be 0. Envoy HTTP/2 metadata."},
	{Name: ExportOnResponseHeaders, Params: i32s(2), Results: i32s(1), Since: V0_1_0, Until: V0_2_0,
		Doc: "(context_id, num_headers) -> Action/HeadersAction. 0.1.0 form without end_of_stream."},
	{Name: ExportOnResponseHeaders, Params: i32s(3), Results: i32s(1), Since: V0_2_0,
		Doc: "(context_id, num_headers, end_of_stream) -> Action/HeadersAction."},
	{Name: ExportOnResponseBody, Params: i32s(3), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, body_size, end_of_stream) -> Action/DataAction."},
	{Name: ExportOnResponseTrailers, Params: i32s(2), Results: i32s(1), Since: V0_1_0,
		Doc: "(context_id, num_trailers) -> Action."},
	{Name: ExportOnResponseMetadata, Params: i32s(2), Results: i32s(1), Since: V0_1_0, EnvoyOnly: true,
		Doc: "(context_id, num_elements) -> must be 0. Envoy HTTP/2 metadata."},

	// Callouts, queues, foreign functions (delivered to the root context).
	{Name: ExportOnHTTPCallResponse, Params: i32s(5), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, token, num_headers, body_size, num_trailers). num_headers 0 means the call failed. Body is HTTP_CALL_RESPONSE_BODY (the spec text's HTTP_RESPONSE_BODY is an erratum)."},
	{Name: ExportOnGRPCReceiveInitialMD, Params: i32s(3), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, token, num_elements)."},
	{Name: ExportOnGRPCReceive, Params: i32s(3), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, token, message_size)."},
	{Name: ExportOnGRPCReceiveTrailMD, Params: i32s(3), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, token, num_elements)."},
	{Name: ExportOnGRPCClose, Params: i32s(3), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, token, grpc_status). Message via proxy_get_status."},
	{Name: ExportOnQueueReady, Params: i32s(2), Results: noVals, Since: V0_1_0,
		Doc: "(root_context_id, queue_id). One call per enqueue."},
	{Name: ExportOnForeignFunction, Params: i32s(3), Results: noVals, Since: V0_2_0,
		Doc: "(root_context_id, function_id, args_size). Args via get_buffer_bytes(FOREIGN_FUNCTION_ARGUMENTS)."},
}

// ExportWeirImplementedCallbacks is a Weir extension: an optional export
// weir_implemented_callbacks() -> i32 returning the set of per-stream
// callbacks the plugin implements (a CallbackSet). Weir calls it once per
// instance, after _initialize and before the root context is created. A
// callback left out of the set is not called, for any context, and
// answers as if it were not exported: Continue for the HTTP callbacks,
// true for proxy_on_done, nothing for proxy_on_context_create,
// proxy_on_log and proxy_on_delete. Other hosts ignore the export, so the
// module stays portable. SDKs whose exported callbacks dispatch to
// optional handlers (Weir's C SDK) export it, so a stream does not cost a
// guest call for each handler the plugin does not define. An SDK that
// leaves out proxy_on_context_create must create a context when a
// callback first names it (Weir's C SDK does: a stream under the
// instance's one root context, a root on proxy_on_vm_start).
const ExportWeirImplementedCallbacks = "weir_implemented_callbacks"

// WeirExports lists the optional exports Weir reads besides the ABI's
// callbacks (Weir extensions; other hosts ignore them).
var WeirExports = []string{ExportWeirImplementedCallbacks}

// CallbackSet is the result of weir_implemented_callbacks: one bit per
// per-stream callback.
type CallbackSet uint32

// The callbacks of a CallbackSet.
const (
	CallbackContextCreate CallbackSet = 1 << iota
	CallbackDone
	CallbackLog
	CallbackDelete
	CallbackRequestHeaders
	CallbackRequestBody
	CallbackRequestTrailers
	CallbackResponseHeaders
	CallbackResponseBody
	CallbackResponseTrailers
)

// CallbackSetExports maps each callback of a CallbackSet to its export.
var CallbackSetExports = map[CallbackSet]string{
	CallbackContextCreate:    ExportOnContextCreate,
	CallbackDone:             ExportOnDone,
	CallbackLog:              ExportOnLog,
	CallbackDelete:           ExportOnDelete,
	CallbackRequestHeaders:   ExportOnRequestHeaders,
	CallbackRequestBody:      ExportOnRequestBody,
	CallbackRequestTrailers:  ExportOnRequestTrailers,
	CallbackResponseHeaders:  ExportOnResponseHeaders,
	CallbackResponseBody:     ExportOnResponseBody,
	CallbackResponseTrailers: ExportOnResponseTrailers,
}
