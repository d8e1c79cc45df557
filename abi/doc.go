// Package abi defines the proxy-wasm ABI as Weir speaks it: import and
// export names with their exact wasm signatures, enums and status codes,
// the header-map (pairs) and property-value encodings, hard limits, ABI
// version detection, and Weir's documented extensions. It is the
// definition only, like wazero's internal/wasip1: it imports nothing but
// the standard library, never wazero, and the host implementation
// (host/wasm) and the conformance suite are built from its tables.
//
// # Supported versions
//
// Weir runs modules built for ABI 0.2.1, 0.2.0 and 0.1.0, picked from the
// proxy_abi_version_* export (DetectVersion). Modules without a marker are
// refused, as in Envoy. What differs between versions:
//
//   - 0.1.0: proxy_on_request_headers and proxy_on_response_headers take
//     (context_id, num_headers), without end_of_stream. A paused stream is
//     resumed with proxy_continue_request / proxy_continue_response;
//     configuration is read with proxy_get_configuration; the route cache is
//     cleared with proxy_clear_route_cache. proxy_get_header_map_value on a
//     missing key answers OK with an empty value. No proxy_on_foreign_function.
//   - 0.2.0: the header callbacks gain end_of_stream; proxy_continue_stream
//     and proxy_close_stream(stream_type) replace the continue calls;
//     configuration is read with proxy_get_buffer_bytes(VM_CONFIGURATION /
//     PLUGIN_CONFIGURATION); buffer types 6–8 and proxy_on_foreign_function
//     are added; a missing header answers NOT_FOUND; proxy_clear_route_cache
//     is gone (Envoy offers it as the foreign function clear_route_cache).
//   - 0.2.1: adds proxy_get_log_level only.
//
// The HostFunctions and Callbacks tables carry these differences as
// Since/Until versions. Weir registers every host function for every module
// (the 0.1.0-only ones included): wasm links by import name, so extra host
// exports are harmless and old binaries keep loading.
//
// # ABI history
//
//   - 0.1.0 (2020-02): first ABI, shipped with Envoy's Wasm filter.
//   - 0.2.0 (2020-08-03): end_of_stream on header callbacks, continue/close
//     stream, configuration through buffers, foreign function callback.
//   - 0.2.1 (2020-08-04): proxy_get_log_level.
//   - vNEXT (spec kick-off 2025-01): currently a copy of 0.2.1;
//     proxy-wasm/spec#63 proposes a 0.2.2 fixing the headers StopIteration
//     semantics. Weir will add it here when a marker is published.
//
// # Naming
//
// Host functions are named proxy_<verb>_<namespace>_<field>
// (proxy_get_header_map_value, proxy_set_buffer_bytes) and live in import
// module "env"; guest callbacks are proxy_on_<event>. WASI functions come
// from "wasi_snapshot_preview1", aliased as "wasi_unstable" for old TinyGo
// binaries. The ABI follows semver: a new major breaks, a minor adds
// functions, a patch adds enum values. In Go, constants are Func<Name> for
// host functions and Export<Name> for guest exports.
//
// # Memory ownership
//
// Callbacks pass sizes, never data: the guest pulls data with host calls.
// For every blob a host call returns, the host allocates in guest memory by
// calling the guest's proxy_on_memory_allocate(size) (the spec's preferred
// allocator; cpp-host prefers malloc, Weir follows the spec) or, when that
// is absent, malloc(size); it copies the data in and writes the pointer and
// size (u32 little-endian) to the ret_* out-pointers. The guest owns and
// frees the memory. The host never asks for 0 bytes (TinyGo's allocator
// traps on it): an empty result is written as ptr=0, size=0 without
// allocating. An allocator returning 0 is a failure. Every (ptr, len) a
// guest passes is checked against memory bounds and answered with
// INVALID_MEMORY_ACCESS rather than trapping. Calling the allocator
// re-enters the guest from inside a host call.
//
// # Encodings
//
// Header maps, gRPC metadata, local-response and callout headers, map
// properties and the weir.* foreign-function arguments use the pairs
// serialization (EncodePairs, DecodePairs; limits MaxPairsBytes and
// MaxPairsCount). Property paths are NUL-separated segments (SplitPath);
// property values use Envoy's encodings (ValueKind): raw bytes for strings,
// 8 bytes little-endian for integers, durations (ns) and timestamps (Unix
// ns), 1 byte for booleans, pairs for maps and lists.
//
// # Weir extensions
//
// Weir adds capabilities through the two generic channels of the ABI, so a
// plugin that does not use them stays portable to Envoy and other hosts,
// and one that does can detect their absence (NOT_FOUND from
// proxy_call_foreign_function or proxy_get_property):
//
//   - Foreign functions (ForeignFunctions): weir.consumer_lookup finds the
//     consumer owning a credential, weir.set_consumer marks the stream as
//     authenticated, weir.counter_incr and weir.counter_get maintain
//     cluster-wide fixed-window counters for rate limiting (local memory, or
//     Redis when configured). Arguments and results are serialized pairs,
//     with codecs in this package (ConsumerLookupArgs, ConsumerInfo,
//     SetConsumerArgs, CounterIncrArgs, CounterGetArgs).
//   - Properties under weir.* (Properties): weir.route_name,
//     weir.service_name, weir.consumer.id, weir.consumer.username,
//     weir.consumer.custom_id, weir.credential.id, weir.trace_id.
//   - One optional export, weir_implemented_callbacks
//     (ExportWeirImplementedCallbacks): the stream callbacks the plugin
//     implements, so Weir does not call the others. Other hosts ignore it.
//
// Weir also recognises Envoy's foreign functions by name: clear_route_cache
// answers OK and does nothing (Weir routes once, before plugins run); the
// others (compress, uncompress, verify_signature, sign,
// set_envoy_filter_state, declare_property, expr_create, expr_evaluate,
// expr_delete) answer UNIMPLEMENTED, distinct from NOT_FOUND for names
// Weir does not know.
package abi
