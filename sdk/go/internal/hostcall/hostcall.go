// Package hostcall is the seam between the Weir Go SDK and the proxy-wasm
// host. The SDK (package proxywasm) never calls a wasm import directly: it
// calls the Host in use, which is
//
//   - under GOOS=wasip1, the real host: //go:wasmimport env proxy_*
//     functions plus the proxy_on_memory_allocate allocator (wasip1.go);
//   - on every other GOOS, whatever SetHost installed, normally the in-process
//     emulator of package proxytest, so plugins are unit-tested natively; with
//     nothing installed every call answers UNIMPLEMENTED (native.go).
//
// The other direction, host to guest, goes through Guest: package proxywasm
// fills it with its callback dispatchers in init, the wasip1 exports and the
// emulator both call it.
//
// The Host methods are one per proxy-wasm host function, typed in Go terms.
// Slices returned by a Host belong to the caller: the host must not keep or
// modify them afterwards (the SDK aliases them into strings without copying).
// Slices passed to a Host are only valid during the call.
package hostcall

import "github.com/weirproxy/weir/abi"

// Host is one implementation of the proxy-wasm host functions (ABI 0.2.1).
// Every method returns the host's abi.Status; results are meaningful only
// with abi.StatusOK.
type Host interface {
	Log(level abi.LogLevel, msg string) abi.Status
	GetLogLevel() (abi.LogLevel, abi.Status)
	GetCurrentTimeNanoseconds() (uint64, abi.Status)
	SetTickPeriodMilliseconds(periodMs uint32) abi.Status
	SetEffectiveContext(contextID uint32) abi.Status
	Done() abi.Status

	GetBufferBytes(bt abi.BufferType, start, maxSize uint32) ([]byte, abi.Status)
	SetBufferBytes(bt abi.BufferType, start, size uint32, data []byte) abi.Status
	GetBufferStatus(bt abi.BufferType) (length, flags uint32, st abi.Status)

	GetHeaderMapPairs(mt abi.MapType) ([]byte, abi.Status)
	SetHeaderMapPairs(mt abi.MapType, pairs []byte) abi.Status
	GetHeaderMapValue(mt abi.MapType, key string) ([]byte, abi.Status)
	AddHeaderMapValue(mt abi.MapType, key, value string) abi.Status
	ReplaceHeaderMapValue(mt abi.MapType, key, value string) abi.Status
	RemoveHeaderMapValue(mt abi.MapType, key string) abi.Status
	GetHeaderMapSize(mt abi.MapType) (uint32, abi.Status)

	ContinueStream(st abi.StreamType) abi.Status
	CloseStream(st abi.StreamType) abi.Status
	SendLocalResponse(statusCode uint32, details string, body, headers []byte, grpcStatus int32) abi.Status
	HTTPCall(upstream string, headers, body, trailers []byte, timeoutMs uint32) (token uint32, st abi.Status)

	GetSharedData(key string) (value []byte, cas uint32, st abi.Status)
	SetSharedData(key string, value []byte, cas uint32) abi.Status
	RegisterSharedQueue(name string) (uint32, abi.Status)
	ResolveSharedQueue(vmID, name string) (uint32, abi.Status)
	EnqueueSharedQueue(queueID uint32, value []byte) abi.Status
	DequeueSharedQueue(queueID uint32) ([]byte, abi.Status)

	DefineMetric(mt abi.MetricType, name string) (uint32, abi.Status)
	IncrementMetric(metricID uint32, delta int64) abi.Status
	RecordMetric(metricID uint32, value uint64) abi.Status
	GetMetric(metricID uint32) (uint64, abi.Status)

	GetProperty(path []byte) ([]byte, abi.Status)
	SetProperty(path, value []byte) abi.Status
	CallForeignFunction(name string, args []byte) ([]byte, abi.Status)
}

// GuestCallbacks are the guest's proxy_on_* callbacks as Go functions, with
// the ABI's parameters (booleans and actions as uint32).
type GuestCallbacks struct {
	OnContextCreate    func(contextID, parentID uint32)
	OnDone             func(contextID uint32) bool
	OnLog              func(contextID uint32)
	OnDelete           func(contextID uint32)
	OnVMStart          func(rootID, vmConfigSize uint32) bool
	OnConfigure        func(rootID, pluginConfigSize uint32) bool
	OnTick             func(rootID uint32)
	OnRequestHeaders   func(contextID, numHeaders uint32, endOfStream bool) abi.Action
	OnRequestBody      func(contextID, bodySize uint32, endOfStream bool) abi.Action
	OnRequestTrailers  func(contextID, numTrailers uint32) abi.Action
	OnResponseHeaders  func(contextID, numHeaders uint32, endOfStream bool) abi.Action
	OnResponseBody     func(contextID, bodySize uint32, endOfStream bool) abi.Action
	OnResponseTrailers func(contextID, numTrailers uint32) abi.Action
	OnHTTPCallResponse func(rootID, token, numHeaders, bodySize, numTrailers uint32)
	OnQueueReady       func(rootID, queueID uint32)
	OnForeignFunction  func(rootID, functionID, argsSize uint32)
	// Reset forgets every context and the registered VM context's state;
	// used by the emulator between tests.
	Reset func()
}

// Guest holds the callbacks installed by package proxywasm.
var Guest GuestCallbacks
