package abi

import "time"

// Hard caps (Max*) bound what a guest can make the host do; they are not
// configurable. Defaults (Default*) are what the host uses when the plugin
// configuration says nothing; configuration may change them within the caps.
const (
	// MaxPairsBytes caps a serialized pairs buffer the host decodes (header
	// maps from proxy_set_header_map_pairs, send_local_response and
	// http_call headers, foreign-function arguments). Same as cpp-host
	// PROXY_WASM_HOST_PAIRS_MAX_BYTES (limits.h): a guest cannot make the
	// host parse more than 1 MiB per call.
	MaxPairsBytes = 1 << 20

	// MaxPairsCount caps the declared pair count, checked before the length
	// table is read. Same as cpp-host PROXY_WASM_HOST_PAIRS_MAX_COUNT.
	MaxPairsCount = 1024

	// MaxPropertyPathBytes caps a property path passed to
	// proxy_get_property/proxy_set_property. Real paths are a few dozen
	// bytes (request\x00headers\x00<name>); 4 KiB leaves room for long
	// header names and filter-state keys while bounding the work per call.
	MaxPropertyPathBytes = 4 << 10

	// MaxPropertyPathSegments caps the number of NUL-separated segments.
	// The deepest Envoy paths have four (node\x00metadata\x00<key>\x00<sub>).
	MaxPropertyPathSegments = 32

	// WasmPageSize is the WebAssembly linear-memory page size.
	WasmPageSize = 64 << 10

	// MaxMemoryBytes caps the linear memory of one plugin instance,
	// whatever the configuration says. Same as cpp-host
	// PROXY_WASM_HOST_MAX_WASM_MEMORY_SIZE_BYTES.
	MaxMemoryBytes = 1 << 30

	// MaxMemoryPages is MaxMemoryBytes in pages (for
	// wazero.RuntimeConfig.WithMemoryLimitPages).
	MaxMemoryPages = MaxMemoryBytes / WasmPageSize

	// DefaultMemoryBytes is the default per-instance memory limit. Weir runs
	// a pool of instances per plugin (about GOMAXPROCS), so this multiplies:
	// 64 MiB fits emscripten modules (16 MiB initial) and typical TinyGo and
	// Rust plugins with headroom, while a leaking TinyGo GC heap (reference
	// §8.2) hits the limit and traps instead of taking the proxy down.
	// Memory-hungry plugins (e.g. a WAF with a large rule set) raise it.
	DefaultMemoryBytes = 64 << 20

	// DefaultMemoryPages is DefaultMemoryBytes in pages.
	DefaultMemoryPages = DefaultMemoryBytes / WasmPageSize

	// MaxRandomGetBytes caps one WASI random_get call; larger requests get
	// INVAL. Same as cpp-host PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES,
	// itself WebCrypto getRandomValues' limit.
	MaxRandomGetBytes = 64 << 10

	// MaxLogMessageBytes caps a message accepted from proxy_log or from
	// fd_write to stdout/stderr. Longer messages are truncated (not
	// rejected, so the plugin behaves the same) to bound the copy out of
	// guest memory and keep log lines a sink can ingest.
	MaxLogMessageBytes = 64 << 10

	// DefaultBodyBufferBytes is the default cap on a request or response
	// body the host buffers while a plugin pauses a body callback. Same as
	// Envoy's default per_connection_buffer_limit_bytes (1 MiB). Exceeding it
	// answers 413 for a request body and 500 for a response body, as Envoy
	// does.
	DefaultBodyBufferBytes = 1 << 20
)

// Deadlines enforced by closing the instance when they pass (wazero
// WithCloseOnContextDone). A timed-out instance is discarded like a trapped
// one.
const (
	// DefaultCallbackDeadline bounds one stream, tick, queue or callout
	// callback, including the host calls it makes. A plugin doing per-request
	// work for a second is broken; without a bound one runaway guest pins a
	// core and stalls every stream on its instance.
	DefaultCallbackDeadline = time.Second

	// DefaultStartDeadline bounds start-up: _initialize/_start/main plus
	// proxy_on_vm_start and proxy_on_configure. It is longer because
	// plugins parse their configuration there (a WAF compiling a rule set
	// can take seconds).
	DefaultStartDeadline = 30 * time.Second
)

// Caps on the arguments of the weir.counter_* foreign functions.
const (
	// MaxCounterKeyBytes caps a counter key. Keys are typically a consumer
	// or client address plus a route; 512 bytes bounds what a plugin can
	// make the host store (and send to Redis) per counter.
	MaxCounterKeyBytes = 512

	// MaxCounterWindowSeconds caps window_seconds at 366 days, enough for
	// Kong's largest rate-limiting window (year) and a sane Redis TTL.
	MaxCounterWindowSeconds = 366 * 24 * 60 * 60
)
