// Package wasm is Weir's proxy-wasm plugin host, built on wazero. It is the
// only package in Weir that imports wazero; the ABI itself (names, enums,
// encodings, limits) is defined in package abi and registered from its
// tables.
//
// # Lifecycle
//
//  1. Engine: NewEngine creates the compilation cache (on disk with
//     EngineOptions.CacheDir, else in memory) and the engine-wide shared
//     data and shared queues (keyed by VM ID). Engine.Compile checks the
//     wasm magic, compiles once per sha256 digest, detects the ABI version
//     (abi.DetectVersion) and records imports and exports.
//  2. Plugin: Engine.NewPlugin creates a wazero runtime for the plugin
//     (its memory limit, compiler, WithCloseOnContextDone), instantiates
//     WASI (also aliased as wasi_unstable; stdout/stderr go to the logger,
//     no filesystem, environment only from PluginOptions.Env) and an "env"
//     module with every abi.HostFunctions and abi.CompatFunctions entry
//     plus a logging UNIMPLEMENTED stub for any other env import of the
//     module. It then starts PoolSize instances: _initialize (then main)
//     or _start, proxy_on_context_create(root, 0), proxy_on_vm_start,
//     proxy_on_configure. A false return or a trap fails NewPlugin.
//  3. Stream: Plugin.NewHTTPStream pins a stream to the instance with the
//     fewest streams and creates its context. The proxy drives it with
//     OnRequestHeaders … OnResponseTrailers, OnLog and Done, through the
//     StreamHost it implements. Calls into one instance are serialized;
//     guest effects (continue, close, local response) are delivered to the
//     StreamHost after the guest call returns, without the instance lock.
//  4. Failure: every guest call runs under a deadline (CallTimeout) and the
//     memory cap. A trap or timeout marks the instance broken: the call
//     returns an error wrapping ErrPluginFailed (with wazero's stack trace
//     and the guest function name), streams pinned to it fail the same
//     way, it leaves the pool and a replacement starts in the background
//     with exponential backoff. Plugin.Traps, Timeouts and Restarts count
//     this. The caller applies fail-open/fail-closed (Plugin.FailOpen).
//
// # Memory rules
//
// Every guest (ptr, len) is bounds-checked and answered with
// INVALID_MEMORY_ACCESS, never a host panic. Results are written by calling
// the guest allocator (proxy_on_memory_allocate, else malloc); empty
// results are written as (0, 0) without allocating. Pairs from the guest
// are capped at abi.MaxPairsBytes / abi.MaxPairsCount (BAD_ARGUMENT).
//
// # Coverage and deviations
//
// Implemented: logging and log level, time, ticks (per instance), effective
// context, proxy_done, buffers, header maps, continue/close stream, local
// responses, HTTP callouts (CalloutDispatcher; the response goes to the
// root context of the calling instance), shared data with CAS and shared
// queues (engine-wide, by VM ID), metrics (per plugin, Plugin.Metrics),
// properties (plugin_* from the plugin, the rest from the StreamHost),
// foreign functions (clear_route_cache OK, other Envoy names
// UNIMPLEMENTED, weir.* through ForeignFunctionHost, unknown NOT_FOUND),
// and the 0.1.0 functions. gRPC calls and streams answer UNIMPLEMENTED.
// TCP callbacks are not driven.
package wasm
