//go:build wasip1

package hostcall

import (
	"unsafe"

	"github.com/weirproxy/weir/abi"
)

// Current returns the real host: the proxy_* functions imported from "env".
func Current() Host { return wasmHost{} }

func sp(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
func bp(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

type wasmHost struct{}

func (wasmHost) Log(level abi.LogLevel, msg string) abi.Status {
	return abi.Status(proxy_log(uint32(level), sp(msg), uint32(len(msg))))
}

func (wasmHost) GetLogLevel() (abi.LogLevel, abi.Status) {
	var l uint32
	st := proxy_get_log_level(unsafe.Pointer(&l))
	return abi.LogLevel(l), abi.Status(st)
}

func (wasmHost) GetCurrentTimeNanoseconds() (uint64, abi.Status) {
	var t uint64
	st := proxy_get_current_time_nanoseconds(unsafe.Pointer(&t))
	return t, abi.Status(st)
}

func (wasmHost) SetTickPeriodMilliseconds(periodMs uint32) abi.Status {
	return abi.Status(proxy_set_tick_period_milliseconds(periodMs))
}

func (wasmHost) SetEffectiveContext(contextID uint32) abi.Status {
	return abi.Status(proxy_set_effective_context(contextID))
}

func (wasmHost) Done() abi.Status { return abi.Status(proxy_done()) }

func (wasmHost) GetBufferBytes(bt abi.BufferType, start, maxSize uint32) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_get_buffer_bytes(uint32(bt), start, maxSize, unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

func (wasmHost) SetBufferBytes(bt abi.BufferType, start, size uint32, data []byte) abi.Status {
	return abi.Status(proxy_set_buffer_bytes(uint32(bt), start, size, bp(data), uint32(len(data))))
}

func (wasmHost) GetBufferStatus(bt abi.BufferType) (uint32, uint32, abi.Status) {
	var l, f uint32
	st := proxy_get_buffer_status(uint32(bt), unsafe.Pointer(&l), unsafe.Pointer(&f))
	return l, f, abi.Status(st)
}

func (wasmHost) GetHeaderMapPairs(mt abi.MapType) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_get_header_map_pairs(uint32(mt), unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

func (wasmHost) SetHeaderMapPairs(mt abi.MapType, pairs []byte) abi.Status {
	return abi.Status(proxy_set_header_map_pairs(uint32(mt), bp(pairs), uint32(len(pairs))))
}

func (wasmHost) GetHeaderMapValue(mt abi.MapType, key string) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_get_header_map_value(uint32(mt), sp(key), uint32(len(key)), unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

func (wasmHost) AddHeaderMapValue(mt abi.MapType, key, value string) abi.Status {
	return abi.Status(proxy_add_header_map_value(uint32(mt), sp(key), uint32(len(key)), sp(value), uint32(len(value))))
}

func (wasmHost) ReplaceHeaderMapValue(mt abi.MapType, key, value string) abi.Status {
	return abi.Status(proxy_replace_header_map_value(uint32(mt), sp(key), uint32(len(key)), sp(value), uint32(len(value))))
}

func (wasmHost) RemoveHeaderMapValue(mt abi.MapType, key string) abi.Status {
	return abi.Status(proxy_remove_header_map_value(uint32(mt), sp(key), uint32(len(key))))
}

func (wasmHost) GetHeaderMapSize(mt abi.MapType) (uint32, abi.Status) {
	var n uint32
	st := proxy_get_header_map_size(uint32(mt), unsafe.Pointer(&n))
	return n, abi.Status(st)
}

func (wasmHost) ContinueStream(st abi.StreamType) abi.Status {
	return abi.Status(proxy_continue_stream(uint32(st)))
}

func (wasmHost) CloseStream(st abi.StreamType) abi.Status {
	return abi.Status(proxy_close_stream(uint32(st)))
}

func (wasmHost) SendLocalResponse(statusCode uint32, details string, body, headers []byte, grpcStatus int32) abi.Status {
	return abi.Status(proxy_send_local_response(statusCode, sp(details), uint32(len(details)),
		bp(body), uint32(len(body)), bp(headers), uint32(len(headers)), uint32(grpcStatus)))
}

func (wasmHost) HTTPCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (uint32, abi.Status) {
	var token uint32
	st := proxy_http_call(sp(upstream), uint32(len(upstream)), bp(headers), uint32(len(headers)),
		bp(body), uint32(len(body)), bp(trailers), uint32(len(trailers)), timeoutMs, unsafe.Pointer(&token))
	return token, abi.Status(st)
}

func (wasmHost) GetSharedData(key string) ([]byte, uint32, abi.Status) {
	var p, n, cas uint32
	st := proxy_get_shared_data(sp(key), uint32(len(key)), unsafe.Pointer(&p), unsafe.Pointer(&n), unsafe.Pointer(&cas))
	v, s := result(st, p, n)
	return v, cas, s
}

func (wasmHost) SetSharedData(key string, value []byte, cas uint32) abi.Status {
	return abi.Status(proxy_set_shared_data(sp(key), uint32(len(key)), bp(value), uint32(len(value)), cas))
}

func (wasmHost) RegisterSharedQueue(name string) (uint32, abi.Status) {
	var id uint32
	st := proxy_register_shared_queue(sp(name), uint32(len(name)), unsafe.Pointer(&id))
	return id, abi.Status(st)
}

func (wasmHost) ResolveSharedQueue(vmID, name string) (uint32, abi.Status) {
	var id uint32
	st := proxy_resolve_shared_queue(sp(vmID), uint32(len(vmID)), sp(name), uint32(len(name)), unsafe.Pointer(&id))
	return id, abi.Status(st)
}

func (wasmHost) EnqueueSharedQueue(queueID uint32, value []byte) abi.Status {
	return abi.Status(proxy_enqueue_shared_queue(queueID, bp(value), uint32(len(value))))
}

func (wasmHost) DequeueSharedQueue(queueID uint32) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_dequeue_shared_queue(queueID, unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

func (wasmHost) DefineMetric(mt abi.MetricType, name string) (uint32, abi.Status) {
	var id uint32
	st := proxy_define_metric(uint32(mt), sp(name), uint32(len(name)), unsafe.Pointer(&id))
	return id, abi.Status(st)
}

func (wasmHost) IncrementMetric(metricID uint32, delta int64) abi.Status {
	return abi.Status(proxy_increment_metric(metricID, delta))
}

func (wasmHost) RecordMetric(metricID uint32, value uint64) abi.Status {
	return abi.Status(proxy_record_metric(metricID, value))
}

func (wasmHost) GetMetric(metricID uint32) (uint64, abi.Status) {
	var v uint64
	st := proxy_get_metric(metricID, unsafe.Pointer(&v))
	return v, abi.Status(st)
}

func (wasmHost) GetProperty(path []byte) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_get_property(bp(path), uint32(len(path)), unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

func (wasmHost) SetProperty(path, value []byte) abi.Status {
	return abi.Status(proxy_set_property(bp(path), uint32(len(path)), bp(value), uint32(len(value))))
}

func (wasmHost) CallForeignFunction(name string, args []byte) ([]byte, abi.Status) {
	var p, n uint32
	st := proxy_call_foreign_function(sp(name), uint32(len(name)), bp(args), uint32(len(args)), unsafe.Pointer(&p), unsafe.Pointer(&n))
	return result(st, p, n)
}

// The imports, one per host function (abi.HostFunctions has the
// signatures). Pointers are i32 offsets into linear memory.

//go:wasmimport env proxy_log
func proxy_log(level uint32, msg unsafe.Pointer, msgLen uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxy_get_log_level(retLevel unsafe.Pointer) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxy_get_current_time_nanoseconds(retTime unsafe.Pointer) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxy_set_tick_period_milliseconds(periodMs uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxy_set_effective_context(contextID uint32) uint32

//go:wasmimport env proxy_done
func proxy_done() uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxy_get_buffer_bytes(bt, start, maxSize uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxy_set_buffer_bytes(bt, start, size uint32, data unsafe.Pointer, dataLen uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxy_get_buffer_status(bt uint32, retLen, retFlags unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxy_get_header_map_pairs(mt uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxy_set_header_map_pairs(mt uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxy_get_header_map_value(mt uint32, key unsafe.Pointer, keyLen uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_add_header_map_value
func proxy_add_header_map_value(mt uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxy_replace_header_map_value(mt uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxy_remove_header_map_value(mt uint32, key unsafe.Pointer, keyLen uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxy_get_header_map_size(mt uint32, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_continue_stream
func proxy_continue_stream(streamType uint32) uint32

//go:wasmimport env proxy_close_stream
func proxy_close_stream(streamType uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxy_send_local_response(statusCode uint32, details unsafe.Pointer, detailsLen uint32,
	body unsafe.Pointer, bodyLen uint32, headers unsafe.Pointer, headersLen uint32, grpcStatus uint32) uint32

//go:wasmimport env proxy_http_call
func proxy_http_call(upstream unsafe.Pointer, upstreamLen uint32, headers unsafe.Pointer, headersLen uint32,
	body unsafe.Pointer, bodyLen uint32, trailers unsafe.Pointer, trailersLen uint32,
	timeoutMs uint32, retToken unsafe.Pointer) uint32

//go:wasmimport env proxy_get_shared_data
func proxy_get_shared_data(key unsafe.Pointer, keyLen uint32, retPtr, retSize, retCas unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func proxy_set_shared_data(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxy_register_shared_queue(name unsafe.Pointer, nameLen uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxy_resolve_shared_queue(vmID unsafe.Pointer, vmIDLen uint32, name unsafe.Pointer, nameLen uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxy_enqueue_shared_queue(queueID uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxy_dequeue_shared_queue(queueID uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_define_metric
func proxy_define_metric(metricType uint32, name unsafe.Pointer, nameLen uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func proxy_increment_metric(metricID uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxy_record_metric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func proxy_get_metric(metricID uint32, retValue unsafe.Pointer) uint32

//go:wasmimport env proxy_get_property
func proxy_get_property(path unsafe.Pointer, pathLen uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_property
func proxy_set_property(path unsafe.Pointer, pathLen uint32, value unsafe.Pointer, valueLen uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func proxy_call_foreign_function(name unsafe.Pointer, nameLen uint32, args unsafe.Pointer, argsLen uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 { return allocate(size) }
