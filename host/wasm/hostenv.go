package wasm

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/abi"
)

// hostFn implements one env host function. stack holds the parameters
// (i32 as uint32 in a uint64); the returned status becomes the result.
type hostFn func(ctx context.Context, in *instance, mem api.Memory, stack []uint64) abi.Status

// hostImpls maps every implemented abi.HostFunctions name to its
// implementation; the others (gRPC) answer UNIMPLEMENTED.
var hostImpls = map[string]hostFn{
	abi.FuncLog:                       hLog,
	abi.FuncGetLogLevel:               hGetLogLevel,
	abi.FuncGetCurrentTimeNanoseconds: hGetTime,
	abi.FuncSetTickPeriodMilliseconds: hSetTickPeriod,
	abi.FuncSetEffectiveContext:       hSetEffectiveContext,
	abi.FuncDone:                      hDone,
	abi.FuncCallForeignFunction:       hCallForeignFunction,
	abi.FuncGetBufferBytes:            hGetBufferBytes,
	abi.FuncSetBufferBytes:            hSetBufferBytes,
	abi.FuncGetBufferStatus:           hGetBufferStatus,
	abi.FuncGetHeaderMapPairs:         hGetHeaderMapPairs,
	abi.FuncSetHeaderMapPairs:         hSetHeaderMapPairs,
	abi.FuncGetHeaderMapValue:         hGetHeaderMapValue,
	abi.FuncAddHeaderMapValue:         hAddHeaderMapValue,
	abi.FuncReplaceHeaderMapValue:     hReplaceHeaderMapValue,
	abi.FuncRemoveHeaderMapValue:      hRemoveHeaderMapValue,
	abi.FuncGetHeaderMapSize:          hGetHeaderMapSize,
	abi.FuncContinueStream:            hContinueStream,
	abi.FuncCloseStream:               hCloseStream,
	abi.FuncGetStatus:                 hGetStatus,
	abi.FuncSendLocalResponse:         hSendLocalResponse,
	abi.FuncHTTPCall:                  hHTTPCall,
	abi.FuncGetSharedData:             hGetSharedData,
	abi.FuncSetSharedData:             hSetSharedData,
	abi.FuncRegisterSharedQueue:       hRegisterSharedQueue,
	abi.FuncResolveSharedQueue:        hResolveSharedQueue,
	abi.FuncEnqueueSharedQueue:        hEnqueueSharedQueue,
	abi.FuncDequeueSharedQueue:        hDequeueSharedQueue,
	abi.FuncDefineMetric:              hDefineMetric,
	abi.FuncIncrementMetric:           hIncrementMetric,
	abi.FuncRecordMetric:              hRecordMetric,
	abi.FuncGetMetric:                 hGetMetric,
	abi.FuncGetProperty:               hGetProperty,
	abi.FuncSetProperty:               hSetProperty,
	abi.FuncGetConfiguration:          hGetConfiguration,
	abi.FuncContinueRequest:           hContinueRequest,
	abi.FuncContinueResponse:          hContinueResponse,
	abi.FuncClearRouteCache:           func(context.Context, *instance, api.Memory, []uint64) abi.Status { return abi.StatusOK },
}

func valueTypes(ts []abi.ValType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

// buildEnv builds the plugin's "env" module: every abi.HostFunctions entry,
// the abi.CompatFunctions, and a stub for any other env import of the
// module that answers UNIMPLEMENTED and logs once.
func (p *Plugin) buildEnv() wazero.HostModuleBuilder {
	b := p.rt.NewHostModuleBuilder(abi.ModuleEnv)
	defined := make(map[string]bool)
	for _, f := range abi.HostFunctions {
		impl := hostImpls[f.Name]
		if impl == nil {
			impl = hUnimplemented
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(wrapHost(impl), valueTypes(f.Params), valueTypes(f.Results)).
			WithName(f.Name).Export(f.Name)
		defined[f.Name] = true
	}
	for _, f := range abi.CompatFunctions {
		var fn api.GoModuleFunc
		switch f.Name {
		case abi.FuncPthreadEqual:
			fn = func(_ context.Context, _ api.Module, s []uint64) { s[0] = b2u(uint32(s[0]) == uint32(s[1])) }
		case abi.FuncAbort:
			name := p.opts.Name
			fn = func(context.Context, api.Module, []uint64) {
				// A panic in a host function becomes a guest trap in wazero.
				panic(fmt.Sprintf("plugin %q called env.abort", name))
			}
		default: // emscripten_notify_memory_growth and future no-ops
			fn = func(context.Context, api.Module, []uint64) {}
		}
		b.NewFunctionBuilder().WithGoModuleFunction(fn, valueTypes(f.Params), valueTypes(f.Results)).
			WithName(f.Name).Export(f.Name)
		defined[f.Name] = true
	}
	for _, imp := range p.m.Imports {
		if imp.Module != abi.ModuleEnv || defined[imp.Name] {
			continue
		}
		defined[imp.Name] = true
		b.NewFunctionBuilder().
			WithGoModuleFunction(p.stub(imp.Name, len(imp.Results)), imp.Params, imp.Results).
			WithName(imp.Name).Export(imp.Name)
	}
	return b
}

// stub is the function bound to an unknown env import: it logs once per
// (module, name) and answers UNIMPLEMENTED (zero for other result shapes).
func (p *Plugin) stub(name string, nresults int) api.GoModuleFunc {
	return func(_ context.Context, _ api.Module, s []uint64) {
		if _, loaded := p.stubs.LoadOrStore(name, struct{}{}); !loaded {
			p.log.Warn("wasm plugin called an unimplemented host function", "module", p.m.Name, "import", abi.ModuleEnv+"."+name)
		}
		for i := range nresults {
			s[i] = 0
		}
		if nresults > 0 {
			s[0] = uint64(abi.StatusUnimplemented)
		}
	}
}

func wrapHost(f hostFn) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		var in *instance
		if c, ok := ctx.(*callContext); ok {
			in = c.in
		} else {
			in, _ = ctx.Value(instKey{}).(*instance)
		}
		if in == nil {
			stack[0] = uint64(abi.StatusInternalFailure)
			return
		}
		stack[0] = uint64(f(ctx, in, mod.Memory(), stack))
	}
}

func hUnimplemented(context.Context, *instance, api.Memory, []uint64) abi.Status {
	return abi.StatusUnimplemented
}

// read returns a view of guest memory [ptr, ptr+size); ok is false when the
// range is out of bounds. The view is invalid after the guest allocator
// runs (memory may grow): copy first.
func read(mem api.Memory, ptr, size uint32) ([]byte, bool) {
	if mem == nil {
		return nil, size == 0
	}
	return mem.Read(ptr, size)
}

func writeU32(mem api.Memory, ptr, v uint32) abi.Status {
	if mem == nil || !mem.WriteUint32Le(ptr, v) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func writeU64(mem api.Memory, ptr uint32, v uint64) abi.Status {
	if mem == nil || !mem.WriteUint64Le(ptr, v) {
		return abi.StatusInvalidMemoryAccess
	}
	return abi.StatusOK
}

func u32(s []uint64, i int) uint32 { return uint32(s[i]) }

// --- logging, time, ticks, contexts ---------------------------------------

// slogLevel maps a proxy-wasm level to slog (TRACE below DEBUG, CRITICAL
// above ERROR).
func slogLevel(l abi.LogLevel) slog.Level {
	switch l {
	case abi.LogTrace:
		return slog.LevelDebug - 4
	case abi.LogDebug:
		return slog.LevelDebug
	case abi.LogInfo:
		return slog.LevelInfo
	case abi.LogWarn:
		return slog.LevelWarn
	case abi.LogError:
		return slog.LevelError
	}
	return slog.LevelError + 4
}

// hLog: proxy_log(level, msg_ptr, msg_len). BAD_ARGUMENT for an unknown
// level, INVALID_MEMORY_ACCESS for a bad range; messages are truncated to
// abi.MaxLogMessageBytes.
func hLog(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	lvl := abi.LogLevel(u32(s, 0))
	if !lvl.Valid() {
		return abi.StatusBadArgument
	}
	msg, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if in.phase == phaseConfigure && lvl >= abi.LogError {
		// Kept to explain a rejected configuration in the load error.
		in.configErr = string(msg[:min(len(msg), abi.MaxLogMessageBytes)])
	}
	l := slogLevel(lvl)
	if !in.p.log.Enabled(ctx, l) {
		return abi.StatusOK
	}
	if len(msg) > abi.MaxLogMessageBytes {
		msg = msg[:abi.MaxLogMessageBytes]
	}
	in.p.log.Log(ctx, l, string(msg), "source", "proxy_log")
	return abi.StatusOK
}

// hGetLogLevel: proxy_get_log_level(ret_level_ptr) writes the lowest level
// the plugin logger has enabled.
func hGetLogLevel(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	lvl := abi.LogCritical
	for l := abi.LogTrace; l <= abi.LogCritical; l++ {
		if in.p.log.Enabled(ctx, slogLevel(l)) {
			lvl = l
			break
		}
	}
	return writeU32(mem, u32(s, 0), uint32(lvl))
}

// hGetTime: proxy_get_current_time_nanoseconds(ret_u64_ptr).
func hGetTime(_ context.Context, _ *instance, mem api.Memory, s []uint64) abi.Status {
	return writeU64(mem, u32(s, 0), uint64(time.Now().UnixNano()))
}

// hSetTickPeriod: proxy_set_tick_period_milliseconds(period); 0 disables.
// Ticks are per instance (like Envoy's per-worker VMs).
func hSetTickPeriod(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	d := time.Duration(u32(s, 0)) * time.Millisecond
	in.p.tickPeriod.Store(int64(d))
	if in.tickCh == nil {
		if d == 0 {
			return abi.StatusOK
		}
		in.tickCh = make(chan time.Duration, 1)
		if !in.p.goBackgroundTracked(in.tickLoop) {
			return abi.StatusInternalFailure
		}
	}
	select { // only the guest (holding in.mu) sends: keep the latest
	case <-in.tickCh:
	default:
	}
	in.tickCh <- d
	return abi.StatusOK
}

// hSetEffectiveContext: proxy_set_effective_context(ctx_id); BAD_ARGUMENT
// for an unknown id.
func hSetEffectiveContext(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	id := u32(s, 0)
	if id == in.rootID {
		in.effective = nil
		return abi.StatusOK
	}
	st, ok := in.streams[id]
	if !ok {
		return abi.StatusBadArgument
	}
	in.effective = st
	return abi.StatusOK
}

// hDone: proxy_done(); OK if the effective stream's proxy_on_done returned
// false, else NOT_FOUND.
func hDone(_ context.Context, in *instance, _ api.Memory, _ []uint64) abi.Status {
	if s := in.effective; s != nil && s.donePending {
		s.donePending = false
		return abi.StatusOK
	}
	return abi.StatusNotFound
}

// --- buffers ------------------------------------------------------------------

// hostBuffer returns host-held buffers (configuration, callout body).
func (in *instance) hostBuffer(t abi.BufferType) ([]byte, bool) {
	switch t {
	case abi.BufferVMConfiguration:
		return in.p.opts.VMConfig, true
	case abi.BufferPluginConfiguration:
		return in.config, true
	case abi.BufferHTTPCallResponseBody:
		if in.callout == nil {
			return nil, false
		}
		return in.callout.resp.Body, true
	}
	return nil, false
}

func clampRange(n int, start, max uint32) (int, int) {
	st := min(int(start), n)
	return st, min(n, st+int(max))
}

// hGetBufferBytes: proxy_get_buffer_bytes(type, start, max, ret_ptr_ptr,
// ret_size_ptr). Clamps to the buffer; empty writes (0, 0).
func hGetBufferBytes(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	t := abi.BufferType(u32(s, 0))
	if !t.Valid() {
		return abi.StatusBadArgument
	}
	start, max, retPtr, retSize := u32(s, 1), u32(s, 2), u32(s, 3), u32(s, 4)
	if b, ok := in.hostBuffer(t); ok {
		a, z := clampRange(len(b), start, max)
		return in.copyOut(ctx, mem, b[a:z], retPtr, retSize)
	}
	if in.effective == nil || (t != abi.BufferHTTPRequestBody && t != abi.BufferHTTPResponseBody) {
		return abi.StatusNotFound
	}
	b, st := in.effective.host.BufferBytes(t, int(start), int(max))
	if st != abi.StatusOK {
		return st
	}
	if len(b) > int(max) {
		b = b[:max]
	}
	return in.copyOut(ctx, mem, b, retPtr, retSize)
}

// hSetBufferBytes: proxy_set_buffer_bytes(type, start, size, data_ptr,
// data_len). Only the stream bodies are writable.
func hSetBufferBytes(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	t := abi.BufferType(u32(s, 0))
	if !t.Valid() {
		return abi.StatusBadArgument
	}
	data, ok := read(mem, u32(s, 3), u32(s, 4))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	if in.effective == nil || (t != abi.BufferHTTPRequestBody && t != abi.BufferHTTPResponseBody) {
		return abi.StatusNotFound
	}
	return in.effective.host.ReplaceBufferBytes(t, int(u32(s, 1)), int(u32(s, 2)), append([]byte(nil), data...))
}

// hGetBufferStatus: proxy_get_buffer_status(type, ret_len_ptr,
// ret_flags_ptr); flags are 0.
func hGetBufferStatus(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	t := abi.BufferType(u32(s, 0))
	if !t.Valid() {
		return abi.StatusBadArgument
	}
	if !inBounds(mem, u32(s, 1), 4) || !inBounds(mem, u32(s, 2), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	n := 0
	if b, ok := in.hostBuffer(t); ok {
		n = len(b)
	} else {
		if in.effective == nil || (t != abi.BufferHTTPRequestBody && t != abi.BufferHTTPResponseBody) {
			return abi.StatusNotFound
		}
		var st abi.Status
		if n, st = in.effective.host.BufferLen(t); st != abi.StatusOK {
			return st
		}
	}
	writeU32(mem, u32(s, 1), uint32(n))
	return writeU32(mem, u32(s, 2), 0)
}

// --- header maps ------------------------------------------------------------

// pairsOf returns a map's pairs: callout maps from the host, stream maps
// from the effective stream.
func (in *instance) pairsOf(m abi.MapType) ([][2]string, abi.Status) {
	switch m {
	case abi.MapHTTPCallResponseHeaders, abi.MapHTTPCallResponseTrailers:
		if in.callout == nil {
			return nil, abi.StatusNotFound
		}
		if m == abi.MapHTTPCallResponseHeaders {
			return in.callout.resp.Headers, abi.StatusOK
		}
		return in.callout.resp.Trailers, abi.StatusOK
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers, abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		if in.effective == nil {
			return nil, abi.StatusNotFound
		}
		return in.effective.host.HeaderPairs(m)
	}
	if !m.Valid() {
		return nil, abi.StatusBadArgument
	}
	return nil, abi.StatusNotFound
}

// streamMap returns the effective stream's host for a writable map.
func (in *instance) streamMap(m abi.MapType) (StreamHost, abi.Status) {
	switch m {
	case abi.MapHTTPRequestHeaders, abi.MapHTTPRequestTrailers, abi.MapHTTPResponseHeaders, abi.MapHTTPResponseTrailers:
		if in.effective == nil {
			return nil, abi.StatusNotFound
		}
		return in.effective.host, abi.StatusOK
	}
	if !m.Valid() {
		return nil, abi.StatusBadArgument
	}
	return nil, abi.StatusNotFound
}

// hGetHeaderMapPairs: proxy_get_header_map_pairs(map, ret_ptr_ptr,
// ret_size_ptr); an empty map writes (0, 0).
func hGetHeaderMapPairs(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	pairs, st := in.pairsOf(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	if len(pairs) == 0 {
		return in.copyOut(ctx, mem, nil, u32(s, 1), u32(s, 2))
	}
	in.scratch = abi.EncodePairs(in.scratch[:0], pairs)
	return in.copyOut(ctx, mem, in.scratch, u32(s, 1), u32(s, 2))
}

// hSetHeaderMapPairs: proxy_set_header_map_pairs(map, ptr, size); the
// pairs are capped (abi.MaxPairsBytes/MaxPairsCount): BAD_ARGUMENT beyond.
func hSetHeaderMapPairs(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	b, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	h, st := in.streamMap(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	pairs, err := abi.ParsePairs(b)
	if err != nil {
		return abi.StatusBadArgument
	}
	return h.SetHeaderPairs(abi.MapType(u32(s, 0)), pairs)
}

// hGetHeaderMapValue: proxy_get_header_map_value(map, k_ptr, k_len,
// ret_ptr_ptr, ret_size_ptr): the first value; NOT_FOUND if absent (0.1.0:
// OK with an empty value).
func hGetHeaderMapValue(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	m := abi.MapType(u32(s, 0))
	var v string
	var st abi.Status
	if m == abi.MapHTTPCallResponseHeaders || m == abi.MapHTTPCallResponseTrailers {
		pairs, pst := in.pairsOf(m)
		st = pst
		if st == abi.StatusOK {
			st = abi.StatusNotFound
			for _, p := range pairs {
				if p[0] == string(k) {
					v, st = p[1], abi.StatusOK
					break
				}
			}
		}
	} else {
		h, hst := in.streamMap(m)
		if hst != abi.StatusOK {
			return hst
		}
		v, st = h.HeaderValue(m, in.strs.get(k))
	}
	if st == abi.StatusNotFound && in.abi == abi.V0_1_0 {
		v, st = "", abi.StatusOK
	}
	if st != abi.StatusOK {
		return st
	}
	// Copy through scratch: the guest allocator may move memory, and a
	// []byte(v) conversion would allocate.
	in.scratch = append(in.scratch[:0], v...)
	return in.copyOut(ctx, mem, in.scratch, u32(s, 3), u32(s, 4))
}

// keyValue reads the (key, value) of a header map call as strings, from
// the instance's string cache when possible.
func keyValue(in *instance, mem api.Memory, s []uint64) (string, string, bool) {
	k, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return "", "", false
	}
	v, ok := read(mem, u32(s, 3), u32(s, 4))
	if !ok {
		return "", "", false
	}
	return in.strs.get(k), in.strs.get(v), true
}

// hAddHeaderMapValue: proxy_add_header_map_value(map, k_ptr, k_len, v_ptr,
// v_len).
func hAddHeaderMapValue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, v, ok := keyValue(in, mem, s)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	h, st := in.streamMap(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	return h.AddHeader(abi.MapType(u32(s, 0)), k, v)
}

// hReplaceHeaderMapValue: proxy_replace_header_map_value(map, k_ptr,
// k_len, v_ptr, v_len).
func hReplaceHeaderMapValue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, v, ok := keyValue(in, mem, s)
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	h, st := in.streamMap(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	return h.ReplaceHeader(abi.MapType(u32(s, 0)), k, v)
}

// hRemoveHeaderMapValue: proxy_remove_header_map_value(map, k_ptr, k_len).
func hRemoveHeaderMapValue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	h, st := in.streamMap(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	return h.RemoveHeader(abi.MapType(u32(s, 0)), in.strs.get(k))
}

// hGetHeaderMapSize: proxy_get_header_map_size(map, ret_size_ptr) writes
// the serialized size in bytes (Envoy).
func hGetHeaderMapSize(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	pairs, st := in.pairsOf(abi.MapType(u32(s, 0)))
	if st != abi.StatusOK {
		return st
	}
	return writeU32(mem, u32(s, 1), uint32(abi.PairsSize(pairs)))
}

// --- stream effects -------------------------------------------------------------

func (in *instance) addEffect(e effect) abi.Status {
	if in.effective == nil {
		return abi.StatusNotFound
	}
	e.stream = in.effective
	e.host = in.effective.host
	e.stream.deliveries.Add(1)
	in.effects = append(in.effects, e)
	return abi.StatusOK
}

// hContinueStream: proxy_continue_stream(type); deferred until the guest
// call returns. HTTP only: other types answer UNIMPLEMENTED.
func hContinueStream(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	t := abi.StreamType(u32(s, 0))
	if t != abi.StreamHTTPRequest && t != abi.StreamHTTPResponse {
		if !t.Valid() {
			return abi.StatusBadArgument
		}
		return abi.StatusUnimplemented
	}
	return in.addEffect(effect{kind: effectContinue, st: t})
}

// hCloseStream: proxy_close_stream(type); deferred.
func hCloseStream(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	t := abi.StreamType(u32(s, 0))
	if t != abi.StreamHTTPRequest && t != abi.StreamHTTPResponse {
		if !t.Valid() {
			return abi.StatusBadArgument
		}
		return abi.StatusUnimplemented
	}
	return in.addEffect(effect{kind: effectClose, st: t})
}

func hContinueRequest(_ context.Context, in *instance, _ api.Memory, _ []uint64) abi.Status {
	return in.addEffect(effect{kind: effectContinue, st: abi.StreamHTTPRequest})
}

func hContinueResponse(_ context.Context, in *instance, _ api.Memory, _ []uint64) abi.Status {
	return in.addEffect(effect{kind: effectContinue, st: abi.StreamHTTPResponse})
}

// hSendLocalResponse: proxy_send_local_response(status, details_ptr,
// details_len, body_ptr, body_len, hdrs_ptr, hdrs_len, grpc_status);
// deferred until the guest call returns.
func hSendLocalResponse(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	details, ok1 := read(mem, u32(s, 1), u32(s, 2))
	body, ok2 := read(mem, u32(s, 3), u32(s, 4))
	hdrs, ok3 := read(mem, u32(s, 5), u32(s, 6))
	if !ok1 || !ok2 || !ok3 {
		return abi.StatusInvalidMemoryAccess
	}
	status := u32(s, 0)
	if status < 100 || status > 999 {
		return abi.StatusBadArgument
	}
	pairs, err := abi.ParsePairs(hdrs)
	if err != nil {
		return abi.StatusBadArgument
	}
	return in.addEffect(effect{kind: effectLocalResponse, lr: &localResponse{
		status: int(status), details: string(details), body: append([]byte(nil), body...),
		headers: pairs, grpcStatus: int32(u32(s, 7)),
	}})
}

// --- callouts -------------------------------------------------------------------

// hHTTPCall: proxy_http_call(up_ptr, up_len, hdrs_ptr, hdrs_len, body_ptr,
// body_len, trl_ptr, trl_len, timeout_ms, ret_token_ptr). BAD_ARGUMENT for
// bad pairs or missing :method/:path/:authority; UNIMPLEMENTED without a
// CalloutDispatcher. The response is delivered to the root context with
// proxy_on_http_call_response.
func hHTTPCall(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	up, ok1 := read(mem, u32(s, 0), u32(s, 1))
	hdrs, ok2 := read(mem, u32(s, 2), u32(s, 3))
	body, ok3 := read(mem, u32(s, 4), u32(s, 5))
	trl, ok4 := read(mem, u32(s, 6), u32(s, 7))
	if !ok1 || !ok2 || !ok3 || !ok4 || !inBounds(mem, u32(s, 9), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	d := in.p.opts.Callouts
	if d == nil {
		return abi.StatusUnimplemented
	}
	hp, err := abi.ParsePairs(hdrs)
	if err != nil {
		return abi.StatusBadArgument
	}
	tp, err := abi.ParsePairs(trl)
	if err != nil {
		return abi.StatusBadArgument
	}
	var have int
	for _, p := range hp {
		switch p[0] {
		case ":method", ":path", ":authority":
			have |= map[string]int{":method": 1, ":path": 2, ":authority": 4}[p[0]]
		}
	}
	if have != 7 {
		return abi.StatusBadArgument
	}
	in.nextToken++
	if in.nextToken == 0 {
		in.nextToken = 1
	}
	token := in.nextToken
	req := CalloutRequest{
		Upstream: string(up), Headers: hp, Body: append([]byte(nil), body...), Trailers: tp,
		Timeout: time.Duration(u32(s, 8)) * time.Millisecond,
	}
	origin := in.effective // the stream that called out (nil: the root)
	if origin != nil {
		origin.pendingCallouts.Add(1)
	}
	st := d.Dispatch(req, func(resp CalloutResponse) {
		in.p.goBackground(func() {
			in.deliverCallout(token, resp)
			if origin != nil {
				origin.pendingCallouts.Add(-1)
			}
		})
	})
	if st != abi.StatusOK {
		if origin != nil {
			origin.pendingCallouts.Add(-1)
		}
		return st
	}
	return writeU32(mem, u32(s, 9), token)
}

// deliverCallout calls proxy_on_http_call_response on the root context
// with the response readable through maps 6/7 and buffer 4.
func (in *instance) deliverCallout(token uint32, resp CalloutResponse) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.callout = &calloutResult{resp: resp}
	nh := len(resp.Headers)
	if resp.Err != nil {
		nh = 0
	}
	in.effective = nil
	_, _, err := in.invoke(cbHTTPCallResponse, rootContextID, uint64(token), uint64(nh),
		uint64(len(resp.Body)), uint64(len(resp.Trailers)))
	in.effective = nil
	in.callout = nil
	var buf [4]effect
	effects := in.takeEffects(buf[:0])
	in.mu.Unlock()
	if err != nil {
		drop(effects)
		return
	}
	deliver(effects)
}

// hGetStatus: proxy_get_status(ret_code_ptr, ret_msg_ptr_ptr,
// ret_msg_size_ptr): the callout being delivered (OK, or
// BROKEN_CONNECTION with message "reset").
func hGetStatus(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	if in.callout == nil {
		return abi.StatusNotFound
	}
	code, msg := abi.StatusOK, ""
	if in.callout.resp.Err != nil {
		code, msg = abi.StatusBrokenConnection, "reset"
	}
	if !inBounds(mem, u32(s, 0), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	if st := in.copyOut(ctx, mem, []byte(msg), u32(s, 1), u32(s, 2)); st != abi.StatusOK {
		return st
	}
	return writeU32(mem, u32(s, 0), uint32(code))
}

// --- shared data and queues ------------------------------------------------------

// hGetSharedData: proxy_get_shared_data(k_ptr, k_len, ret_v_ptr_ptr,
// ret_v_size_ptr, ret_cas_ptr); NOT_FOUND if absent.
func hGetSharedData(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, ok := read(mem, u32(s, 0), u32(s, 1))
	if !ok || !inBounds(mem, u32(s, 4), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	v, cas, st := in.p.e.shared.get(in.p.opts.VMID, k)
	if st != abi.StatusOK {
		return st
	}
	if st := in.copyOut(ctx, mem, v, u32(s, 2), u32(s, 3)); st != abi.StatusOK {
		return st
	}
	return writeU32(mem, u32(s, 4), cas)
}

// hSetSharedData: proxy_set_shared_data(k_ptr, k_len, v_ptr, v_len, cas);
// CAS_MISMATCH when cas is non-zero and stale.
func hSetSharedData(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	k, ok1 := read(mem, u32(s, 0), u32(s, 1))
	v, ok2 := read(mem, u32(s, 2), u32(s, 3))
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	return in.p.e.shared.set(in.p.opts.VMID, k, v, u32(s, 4))
}

// hRegisterSharedQueue: proxy_register_shared_queue(name_ptr, name_len,
// ret_qid_ptr); proxy_on_queue_ready goes to this instance's root context.
func hRegisterSharedQueue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	name, ok := read(mem, u32(s, 0), u32(s, 1))
	if !ok || !inBounds(mem, u32(s, 2), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	id := in.p.e.shared.register(in.p.opts.VMID, string(name), in)
	return writeU32(mem, u32(s, 2), id)
}

// hResolveSharedQueue: proxy_resolve_shared_queue(vmid_ptr, vmid_len,
// name_ptr, name_len, ret_qid_ptr); an empty vm_id means the plugin's own.
func hResolveSharedQueue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	vm, ok1 := read(mem, u32(s, 0), u32(s, 1))
	name, ok2 := read(mem, u32(s, 2), u32(s, 3))
	if !ok1 || !ok2 || !inBounds(mem, u32(s, 4), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	vmID := string(vm)
	if vmID == "" {
		vmID = in.p.opts.VMID
	}
	id, st := in.p.e.shared.resolve(vmID, string(name))
	if st != abi.StatusOK {
		return st
	}
	return writeU32(mem, u32(s, 4), id)
}

// hEnqueueSharedQueue: proxy_enqueue_shared_queue(qid, v_ptr, v_len); the
// owner's proxy_on_queue_ready runs asynchronously, once per enqueue.
func hEnqueueSharedQueue(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	v, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	qid := u32(s, 0)
	owner, st := in.p.e.shared.enqueue(qid, v)
	if st == abi.StatusOK && owner != nil {
		owner.p.goBackground(func() { owner.rootCall(cbQueueReady, rootContextID, uint64(qid)) })
	}
	return st
}

// hDequeueSharedQueue: proxy_dequeue_shared_queue(qid, ret_ptr_ptr,
// ret_size_ptr); EMPTY when nothing is queued.
func hDequeueSharedQueue(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	if !inBounds(mem, u32(s, 1), 4) || !inBounds(mem, u32(s, 2), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	v, st := in.p.e.shared.dequeue(u32(s, 0))
	if st != abi.StatusOK {
		return st
	}
	return in.copyOut(ctx, mem, v, u32(s, 1), u32(s, 2))
}

// --- metrics ------------------------------------------------------------------------

// hDefineMetric: proxy_define_metric(type, name_ptr, name_len, ret_id_ptr).
func hDefineMetric(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	name, ok := read(mem, u32(s, 1), u32(s, 2))
	if !ok || !inBounds(mem, u32(s, 3), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	id, st := in.p.metrics.define(abi.MetricType(u32(s, 0)), string(name))
	if st != abi.StatusOK {
		return st
	}
	return writeU32(mem, u32(s, 3), id)
}

// hIncrementMetric: proxy_increment_metric(id, i64 delta).
func hIncrementMetric(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	return in.p.metrics.update(u32(s, 0), int64(s[1]), false)
}

// hRecordMetric: proxy_record_metric(id, i64 value).
func hRecordMetric(_ context.Context, in *instance, _ api.Memory, s []uint64) abi.Status {
	return in.p.metrics.update(u32(s, 0), int64(s[1]), true)
}

// hGetMetric: proxy_get_metric(id, ret_u64_ptr).
func hGetMetric(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	v, st := in.p.metrics.get(u32(s, 0))
	if st != abi.StatusOK {
		return st
	}
	return writeU64(mem, u32(s, 1), uint64(v))
}

// --- properties and configuration -------------------------------------------------

// hGetProperty: proxy_get_property(path_ptr, path_len, ret_ptr_ptr,
// ret_size_ptr). plugin_name/plugin_root_id/plugin_vm_id come from the
// plugin; the rest from the effective stream.
func hGetProperty(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	pb, ok := read(mem, u32(s, 0), u32(s, 1))
	if !ok {
		return abi.StatusInvalidMemoryAccess
	}
	segs, err := in.splitPath(pb)
	if err != nil {
		return abi.StatusBadArgument
	}
	if len(segs) == 1 {
		switch segs[0] {
		case abi.PropPluginName:
			return in.copyOut(ctx, mem, []byte(in.p.opts.Name), u32(s, 2), u32(s, 3))
		case abi.PropPluginRootID:
			return in.copyOut(ctx, mem, []byte(in.p.opts.RootID), u32(s, 2), u32(s, 3))
		case abi.PropPluginVMID:
			return in.copyOut(ctx, mem, []byte(in.p.opts.VMID), u32(s, 2), u32(s, 3))
		}
	}
	if in.effective == nil {
		return abi.StatusNotFound
	}
	v, st := in.effective.host.Property(segs)
	if st != abi.StatusOK {
		return st
	}
	return in.copyOut(ctx, mem, v, u32(s, 2), u32(s, 3))
}

// hSetProperty: proxy_set_property(path_ptr, path_len, v_ptr, v_len); only
// on a stream (NOT_FOUND from a root context).
func hSetProperty(_ context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	pb, ok1 := read(mem, u32(s, 0), u32(s, 1))
	v, ok2 := read(mem, u32(s, 2), u32(s, 3))
	if !ok1 || !ok2 {
		return abi.StatusInvalidMemoryAccess
	}
	segs, err := in.splitPath(pb)
	if err != nil {
		return abi.StatusBadArgument
	}
	if in.effective == nil {
		return abi.StatusNotFound
	}
	return in.effective.host.SetProperty(segs, append([]byte(nil), v...))
}

// splitPath splits a guest's property path into in.segs (reused: valid
// until the next call), the path interned so a repeated one allocates
// nothing.
func (in *instance) splitPath(pb []byte) ([]string, error) {
	if len(pb) > abi.MaxPropertyPathBytes {
		return nil, abi.ErrPropertyPathTooLong
	}
	segs, err := abi.AppendPathSegments(in.segs[:0], in.strs.get(pb))
	in.segs = segs
	return segs, err
}

// hGetConfiguration: proxy_get_configuration(ret_ptr_ptr, ret_size_ptr)
// (0.1.0): the VM configuration in proxy_on_vm_start, else the plugin
// configuration.
func hGetConfiguration(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	cfg := in.config
	if in.phase == phaseVMStart {
		cfg = in.p.opts.VMConfig
	}
	return in.copyOut(ctx, mem, cfg, u32(s, 0), u32(s, 1))
}

// --- foreign functions ------------------------------------------------------------

// hCallForeignFunction: proxy_call_foreign_function(name_ptr, name_len,
// args_ptr, args_len, ret_ptr_ptr, ret_size_ptr). clear_route_cache is a
// no-op; other Envoy functions answer UNIMPLEMENTED; weir.* go to the
// stream host's ForeignFunctionHost (NOT_FOUND without one); unknown names
// answer NOT_FOUND.
func hCallForeignFunction(ctx context.Context, in *instance, mem api.Memory, s []uint64) abi.Status {
	name, ok1 := read(mem, u32(s, 0), u32(s, 1))
	args, ok2 := read(mem, u32(s, 2), u32(s, 3))
	if !ok1 || !ok2 || !inBounds(mem, u32(s, 4), 4) || !inBounds(mem, u32(s, 5), 4) {
		return abi.StatusInvalidMemoryAccess
	}
	ff, ok := abi.LookupForeignFunction(string(name))
	switch {
	case !ok:
		return abi.StatusNotFound
	case ff.Name == abi.FFIClearRouteCache:
		return in.copyOut(ctx, mem, nil, u32(s, 4), u32(s, 5))
	case ff.Origin != abi.OriginWeir:
		return abi.StatusUnimplemented
	}
	if in.effective == nil {
		return abi.StatusNotFound
	}
	fh, ok := in.effective.host.(ForeignFunctionHost)
	if !ok {
		return abi.StatusNotFound
	}
	res, st := fh.CallForeignFunction(ff.Name, args)
	if st != abi.StatusOK {
		return st
	}
	return in.copyOut(ctx, mem, res, u32(s, 4), u32(s, 5))
}
