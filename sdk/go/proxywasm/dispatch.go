package proxywasm

import (
	"github.com/weirproxy/weir/abi"
	"github.com/weirproxy/weir/sdk/go/internal/hostcall"
)

// HttpCalloutCallback receives the response of DispatchHttpCall. numHeaders
// 0 means the call failed (timeout, reset, unknown upstream). Read the
// response with GetHttpCallResponseHeaders, GetHttpCallResponseBody and
// GetHttpCallResponseTrailers.
type HttpCalloutCallback func(numHeaders, bodySize, numTrailers int)

type pluginState struct {
	ctx     PluginContext
	callout map[uint32]callout // by token
}

type callout struct {
	from uint32 // context that dispatched it
	cb   HttpCalloutCallback
}

type httpState struct {
	ctx    HttpContext
	rootID uint32
}

// state is the SDK's view of the host's contexts. A wasm module is single
// threaded, so no locking.
var state = newState()

type vmState struct {
	vm      VMContext
	plugins map[uint32]*pluginState
	streams map[uint32]*httpState
	// current is the context whose callback is running, so that
	// DispatchHttpCall knows which stream to act on when the response comes.
	current uint32
}

func newState() *vmState {
	return &vmState{
		plugins: make(map[uint32]*pluginState),
		streams: make(map[uint32]*httpState),
	}
}

// SetVMContext registers the plugin. Call it from init (or main); the host
// calls back into it once the module is loaded. A nil ctx registers
// DefaultVMContext.
func SetVMContext(ctx VMContext) {
	if ctx == nil {
		ctx = DefaultVMContext{}
	}
	state.vm = ctx
}

func (s *vmState) vmContext() VMContext {
	if s.vm == nil {
		return DefaultVMContext{}
	}
	return s.vm
}

func init() {
	hostcall.Guest = hostcall.GuestCallbacks{
		OnContextCreate:    onContextCreate,
		OnDone:             onDone,
		OnLog:              onLog,
		OnDelete:           onDelete,
		OnVMStart:          onVMStart,
		OnConfigure:        onConfigure,
		OnTick:             onTick,
		OnRequestHeaders:   onRequestHeaders,
		OnRequestBody:      onRequestBody,
		OnRequestTrailers:  onRequestTrailers,
		OnResponseHeaders:  onResponseHeaders,
		OnResponseBody:     onResponseBody,
		OnResponseTrailers: onResponseTrailers,
		OnHTTPCallResponse: onHTTPCallResponse,
		OnQueueReady:       onQueueReady,
		OnForeignFunction:  onForeignFunction,
		Reset:              reset,
	}
}

// reset forgets every context but keeps the registered VM context.
func reset() {
	vm := state.vm
	state = newState()
	state.vm = vm
}

func onContextCreate(contextID, parentID uint32) {
	if parentID == 0 {
		pc := state.vmContext().NewPluginContext(contextID)
		if pc == nil {
			pc = &DefaultPluginContext{}
		}
		state.plugins[contextID] = &pluginState{ctx: pc}
		return
	}
	root, ok := state.plugins[parentID]
	if !ok {
		LogErrorf("proxywasm: context %d created under unknown plugin context %d", contextID, parentID)
		return
	}
	state.current = contextID
	if hc := root.ctx.NewHttpContext(contextID); hc != nil {
		state.streams[contextID] = &httpState{ctx: hc, rootID: parentID}
	}
}

func onDone(contextID uint32) bool {
	if p, ok := state.plugins[contextID]; ok {
		state.current = contextID
		return p.ctx.OnPluginDone()
	}
	return true
}

func onLog(contextID uint32) {
	if h, ok := state.streams[contextID]; ok {
		state.current = contextID
		h.ctx.OnHttpStreamDone()
	}
}

func onDelete(contextID uint32) {
	delete(state.streams, contextID)
	delete(state.plugins, contextID)
}

func onVMStart(_, vmConfigSize uint32) bool {
	return bool(state.vmContext().OnVMStart(int(vmConfigSize)))
}

func onConfigure(rootID, pluginConfigSize uint32) bool {
	p, ok := state.plugins[rootID]
	if !ok {
		LogErrorf("proxywasm: configure for unknown plugin context %d", rootID)
		return false
	}
	state.current = rootID
	return bool(p.ctx.OnPluginStart(int(pluginConfigSize)))
}

func onTick(rootID uint32) {
	if p, ok := state.plugins[rootID]; ok {
		state.current = rootID
		p.ctx.OnTick()
	}
}

func onQueueReady(rootID, queueID uint32) {
	if p, ok := state.plugins[rootID]; ok {
		state.current = rootID
		p.ctx.OnQueueReady(queueID)
	}
}

func onForeignFunction(rootID, functionID, argsSize uint32) {
	if p, ok := state.plugins[rootID]; ok {
		state.current = rootID
		p.ctx.OnForeignFunction(functionID, int(argsSize))
	}
}

// stream returns the HTTP context for contextID, or nil, and makes it
// current.
func stream(contextID uint32) HttpContext {
	h, ok := state.streams[contextID]
	if !ok {
		return nil
	}
	state.current = contextID
	return h.ctx
}

func onRequestHeaders(contextID, numHeaders uint32, eos bool) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpRequestHeaders(int(numHeaders), eos)
	}
	return ActionContinue
}

func onRequestBody(contextID, bodySize uint32, eos bool) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpRequestBody(int(bodySize), eos)
	}
	return ActionContinue
}

func onRequestTrailers(contextID, numTrailers uint32) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpRequestTrailers(int(numTrailers))
	}
	return ActionContinue
}

func onResponseHeaders(contextID, numHeaders uint32, eos bool) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpResponseHeaders(int(numHeaders), eos)
	}
	return ActionContinue
}

func onResponseBody(contextID, bodySize uint32, eos bool) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpResponseBody(int(bodySize), eos)
	}
	return ActionContinue
}

func onResponseTrailers(contextID, numTrailers uint32) abi.Action {
	if h := stream(contextID); h != nil {
		return h.OnHttpResponseTrailers(int(numTrailers))
	}
	return ActionContinue
}

func onHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {
	p, ok := state.plugins[rootID]
	if !ok {
		return
	}
	c, ok := p.callout[token]
	if !ok {
		LogWarnf("proxywasm: response for unknown http call %d", token)
		return
	}
	delete(p.callout, token)
	state.current = rootID
	if c.from != rootID {
		if _, alive := state.streams[c.from]; alive {
			// Make host calls in the callback act on the stream that
			// dispatched the call (e.g. ResumeHttpRequest).
			if err := SetEffectiveContext(c.from); err == nil {
				state.current = c.from
			}
		}
	}
	c.cb(int(numHeaders), int(bodySize), int(numTrailers))
}

// rootOf returns the plugin state owning the current context.
func rootOf(contextID uint32) (uint32, *pluginState) {
	if p, ok := state.plugins[contextID]; ok {
		return contextID, p
	}
	if h, ok := state.streams[contextID]; ok {
		return h.rootID, state.plugins[h.rootID]
	}
	return 0, nil
}
