package proxywasm

import "github.com/weirproxy/weir/abi"

// Action is what a stream callback returns: ActionContinue lets the data go
// on to the next filter, ActionPause holds it until the plugin calls
// ResumeHttpRequest / ResumeHttpResponse or sends a local response.
type Action = abi.Action

// Action values.
const (
	ActionContinue = abi.ActionContinue
	ActionPause    = abi.ActionPause
)

// LogLevel is a proxy-wasm log level.
type LogLevel = abi.LogLevel

// LogLevel values.
const (
	LogLevelTrace    = abi.LogTrace
	LogLevelDebug    = abi.LogDebug
	LogLevelInfo     = abi.LogInfo
	LogLevelWarn     = abi.LogWarn
	LogLevelError    = abi.LogError
	LogLevelCritical = abi.LogCritical
)

// OnVMStartStatus is the result of VMContext.OnVMStart.
type OnVMStartStatus bool

// OnVMStartStatus values. Failed makes the host reject the module.
const (
	OnVMStartStatusOK     OnVMStartStatus = true
	OnVMStartStatusFailed OnVMStartStatus = false
)

// OnPluginStartStatus is the result of PluginContext.OnPluginStart.
type OnPluginStartStatus bool

// OnPluginStartStatus values. Failed makes the host reject the plugin
// configuration.
const (
	OnPluginStartStatusOK     OnPluginStartStatus = true
	OnPluginStartStatusFailed OnPluginStartStatus = false
)

// VMContext is the plugin's per-VM state, registered with SetVMContext. The
// host starts a VM once per wasm instance.
type VMContext interface {
	// OnVMStart is called once when the VM starts, with the size of the VM
	// configuration (read it with GetVMConfiguration).
	OnVMStart(vmConfigurationSize int) OnVMStartStatus
	// NewPluginContext creates the context of one configured plugin
	// instance (a root context). Returning nil uses DefaultPluginContext.
	NewPluginContext(contextID uint32) PluginContext
}

// PluginContext is one configured instance of the plugin (a root context).
// HTTP contexts are created from it; timers, queues and callout responses
// are delivered to it.
type PluginContext interface {
	// OnPluginStart is called with the size of the plugin configuration
	// (read it with GetPluginConfiguration or DecodeConfig).
	OnPluginStart(pluginConfigurationSize int) OnPluginStartStatus
	// OnPluginDone is called when the host is done with the plugin. Return
	// false to finish asynchronously, then call PluginDone.
	OnPluginDone() bool
	// OnTick is called every SetTickPeriodMilliSeconds period.
	OnTick()
	// OnQueueReady is called when a shared queue this VM registered has
	// data.
	OnQueueReady(queueID uint32)
	// OnForeignFunction is called when the host invokes a guest function;
	// read the arguments with GetForeignFunctionArguments.
	OnForeignFunction(functionID uint32, argumentsSize int)
	// NewHttpContext creates the context of one HTTP stream. Returning nil
	// leaves the stream alone (every callback continues).
	NewHttpContext(contextID uint32) HttpContext
}

// HttpContext handles one HTTP stream. Sizes are those the host reports:
// header and trailer counts, and the body bytes buffered so far.
type HttpContext interface {
	OnHttpRequestHeaders(numHeaders int, endOfStream bool) Action
	OnHttpRequestBody(bodySize int, endOfStream bool) Action
	OnHttpRequestTrailers(numTrailers int) Action
	OnHttpResponseHeaders(numHeaders int, endOfStream bool) Action
	OnHttpResponseBody(bodySize int, endOfStream bool) Action
	OnHttpResponseTrailers(numTrailers int) Action
	// OnHttpStreamDone is called once the stream is finished (proxy_on_log),
	// for access logging; the headers can still be read.
	OnHttpStreamDone()
}

// DefaultVMContext implements VMContext with OnVMStart answering OK and
// NewPluginContext returning a DefaultPluginContext. Embed it.
type DefaultVMContext struct{}

// OnVMStart implements VMContext.
func (DefaultVMContext) OnVMStart(int) OnVMStartStatus { return OnVMStartStatusOK }

// NewPluginContext implements VMContext.
func (DefaultVMContext) NewPluginContext(uint32) PluginContext { return &DefaultPluginContext{} }

// DefaultPluginContext implements PluginContext doing nothing: start OK,
// done at once, no HTTP contexts. Embed it.
type DefaultPluginContext struct{}

// OnPluginStart implements PluginContext.
func (*DefaultPluginContext) OnPluginStart(int) OnPluginStartStatus { return OnPluginStartStatusOK }

// OnPluginDone implements PluginContext.
func (*DefaultPluginContext) OnPluginDone() bool { return true }

// OnTick implements PluginContext.
func (*DefaultPluginContext) OnTick() {}

// OnQueueReady implements PluginContext.
func (*DefaultPluginContext) OnQueueReady(uint32) {}

// OnForeignFunction implements PluginContext.
func (*DefaultPluginContext) OnForeignFunction(uint32, int) {}

// NewHttpContext implements PluginContext.
func (*DefaultPluginContext) NewHttpContext(uint32) HttpContext { return nil }

// DefaultHttpContext implements HttpContext continuing every callback.
// Embed it.
type DefaultHttpContext struct{}

// OnHttpRequestHeaders implements HttpContext.
func (*DefaultHttpContext) OnHttpRequestHeaders(int, bool) Action { return ActionContinue }

// OnHttpRequestBody implements HttpContext.
func (*DefaultHttpContext) OnHttpRequestBody(int, bool) Action { return ActionContinue }

// OnHttpRequestTrailers implements HttpContext.
func (*DefaultHttpContext) OnHttpRequestTrailers(int) Action { return ActionContinue }

// OnHttpResponseHeaders implements HttpContext.
func (*DefaultHttpContext) OnHttpResponseHeaders(int, bool) Action { return ActionContinue }

// OnHttpResponseBody implements HttpContext.
func (*DefaultHttpContext) OnHttpResponseBody(int, bool) Action { return ActionContinue }

// OnHttpResponseTrailers implements HttpContext.
func (*DefaultHttpContext) OnHttpResponseTrailers(int) Action { return ActionContinue }

// OnHttpStreamDone implements HttpContext.
func (*DefaultHttpContext) OnHttpStreamDone() {}

var (
	_ VMContext     = DefaultVMContext{}
	_ PluginContext = (*DefaultPluginContext)(nil)
	_ HttpContext   = (*DefaultHttpContext)(nil)
)
