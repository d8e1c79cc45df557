// Package proxywasm is Weir's SDK for writing proxy-wasm plugins in
// standard Go (1.24 or later), compiled as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugin.wasm .
//
// A plugin is a package main with an empty main function and an init
// function that registers its VMContext:
//
//	func main() {}
//
//	func init() { proxywasm.SetVMContext(&vm{}) }
//
// The host creates one plugin (root) context per configured plugin through
// VMContext.NewPluginContext, and one HTTP context per stream through
// PluginContext.NewHttpContext; the SDK routes every proxy_on_* callback to
// the right context. Embed DefaultVMContext, DefaultPluginContext and
// DefaultHttpContext to implement only the callbacks you need.
//
// Inside a callback, plugins call the host with the typed functions of this
// package (GetHttpRequestHeader, SendHttpResponse, DispatchHttpCall, ...).
// Failures come back as StatusError values (ErrNotFound, ErrBadArgument,
// ...), compared with errors.Is; a status the SDK does not know is still a
// StatusError, never a panic.
//
// The module exports the ABI marker proxy_abi_version_0_2_1, the allocator
// proxy_on_memory_allocate and the 0.2.x HTTP, timer, callout, queue and
// foreign-function callbacks. TCP (network filter) and gRPC callbacks are
// not exported.
//
// Built for any other GOOS, the package compiles against an in-process host
// instead of wasm imports: package proxytest installs its emulator there so
// plugins are unit-tested with plain go test. Without the emulator every
// host call answers ErrUnimplemented.
//
// The SDK keeps its state in package variables and is not safe for
// concurrent use: a wasm module is single threaded, and the emulator runs one
// test at a time.
package proxywasm
