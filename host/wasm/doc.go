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
//     wasm magic, instruments the module for deadlines (see Deadlines),
//     compiles once per sha256 digest, detects the ABI version
//     (abi.DetectVersion) and records imports and exports.
//  2. Plugin: Engine.NewPlugin creates a wazero runtime for the plugin
//     (its memory limit, compiler), instantiates WASI (also aliased as
//     wasi_unstable; stdout/stderr go to the logger, no filesystem,
//     environment only from PluginOptions.Env) and an "env" module with
//     every abi.HostFunctions and abi.CompatFunctions entry plus a logging
//     UNIMPLEMENTED stub for any other env import of the module. It then
//     starts PoolSize instances: the former start section, _initialize
//     (then main) or _start, proxy_on_context_create(root, 0),
//     proxy_on_vm_start, proxy_on_configure. A false return or a trap
//     fails NewPlugin.
//  3. Stream: Plugin.NewHTTPStream (or InitHTTPStream, into storage the
//     caller reuses) pins a stream to the instance with the fewest streams
//     and creates its context. The proxy drives it with OnRequestHeaders …
//     OnResponseTrailers, OnLog and Done, through the StreamHost it
//     implements. Calls into one instance are serialized; guest effects
//     (continue, close, local response) are delivered to the StreamHost
//     after the guest call returns, without the instance lock.
//  4. Failure: every guest call runs under a deadline (CallTimeout; the
//     start-up sequence under StartTimeout) and the memory cap. A trap or
//     timeout marks the instance broken: the call returns an error
//     wrapping ErrPluginFailed (and context.DeadlineExceeded for a
//     timeout; with wazero's stack trace and the guest function name),
//     streams pinned to it fail the same way, it leaves the pool and a
//     replacement starts in the background with exponential backoff.
//     Plugin.Traps, Timeouts and Restarts count this. The caller applies
//     fail-open/fail-closed (Plugin.FailOpen).
//
// # Deadlines
//
// wazero stops runaway guest code only with WithCloseOnContextDone, which
// (v1.12) starts a goroutine and allocates on every host→guest call,
// whatever the context, and returns to Go on every loop iteration. Weir
// instead rewrites each module at Compile (instrument.go): a check at
// every function entry and loop header (a countdown; every 1024 checks,
// a stop-flag test and a return to Go through memory.grow 0, so the Go
// runtime can preempt the goroutine for garbage collection and timers),
// and the start section turned into an export the host calls under the
// deadline. A per-instance watchdog (watchdog.go: a few atomics per call
// and one lazily scheduled timer that samples the running call) raises
// the flag when a call overruns; the guest traps at its next check, at
// most about a quarter of the deadline late. This also stops loop-free
// call trees, which wazero's checks miss, and costs guest loops about
// 0.3 ns per iteration instead of about 27 ns. A module the rewrite cannot
// handle is run unmodified under wazero's checks (Module.Instrumented
// reports it; a warning is logged), with the watchdog cancelling the call
// context. Neither can interrupt a host function that blocks (e.g. WASI
// poll_oneoff sleeping).
//
// The per-request path allocates nothing in steady state: guest calls use
// pre-bound functions, a per-instance stack and a context that carries the
// instance; header names and values read from the guest come from a small
// per-instance string cache; with InitHTTPStream the stream itself lives
// in the caller's storage.
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
