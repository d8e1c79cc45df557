//go:build wasip1

package proxywasm

// The proxy-wasm exports of the module. Booleans travel as i32 (0/1).
// proxy_on_memory_allocate lives in internal/hostcall with the allocator.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion0_2_1() {}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID, parentID uint32) { onContextCreate(contextID, parentID) }

//go:wasmexport proxy_on_done
func proxyOnDone(contextID uint32) uint32 { return b2u(onDone(contextID)) }

//go:wasmexport proxy_on_log
func proxyOnLog(contextID uint32) { onLog(contextID) }

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID uint32) { onDelete(contextID) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, vmConfigSize uint32) uint32 {
	return b2u(onVMStart(rootID, vmConfigSize))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, pluginConfigSize uint32) uint32 {
	return b2u(onConfigure(rootID, pluginConfigSize))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootID uint32) { onTick(rootID) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID, numHeaders, eos uint32) uint32 {
	return uint32(onRequestHeaders(contextID, numHeaders, eos != 0))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(contextID, bodySize, eos uint32) uint32 {
	return uint32(onRequestBody(contextID, bodySize, eos != 0))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(onRequestTrailers(contextID, numTrailers))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID, numHeaders, eos uint32) uint32 {
	return uint32(onResponseHeaders(contextID, numHeaders, eos != 0))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(contextID, bodySize, eos uint32) uint32 {
	return uint32(onResponseBody(contextID, bodySize, eos != 0))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(onResponseTrailers(contextID, numTrailers))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {
	onHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers)
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(rootID, queueID uint32) { onQueueReady(rootID, queueID) }

//go:wasmexport proxy_on_foreign_function
func proxyOnForeignFunction(rootID, functionID, argsSize uint32) {
	onForeignFunction(rootID, functionID, argsSize)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
