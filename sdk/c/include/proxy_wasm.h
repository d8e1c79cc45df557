/*
 * proxy_wasm.h: Weir's C SDK for proxy-wasm plugins (ABI 0.2.1).
 *
 * Build a plugin with clang and wasi-libc as a WASI reactor, compiling this
 * SDK's src/proxy_wasm.c next to the plugin (see sdk/c/README.md):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 \
 *     -Wall -Wextra -Wl,--strip-debug -Isdk/c/include \
 *     sdk/c/src/proxy_wasm.c plugin.c -o plugin.wasm
 *
 * The SDK exports proxy_abi_version_0_2_1, proxy_on_memory_allocate and
 * every proxy_on_* callback of ABI 0.2.1 (Envoy-only callbacks excepted).
 * Each export dispatches to a weak pw_on_* function: a plugin defines only
 * the ones it needs, the others get the default (continue / true). The SDK
 * also exports weir_implemented_callbacks (a Weir extension other hosts
 * ignore), naming the stream callbacks the plugin defines, so Weir skips
 * the guest call for the others. Under Weir (which reads that export)
 * contexts are created lazily: pw_on_context_create runs at the start of
 * the first callback for the context instead of in a call of its own;
 * under other hosts, in proxy_on_context_create as usual. Either way it
 * runs before any other callback for that context.
 *
 * Layers, from low to high:
 *   1. proxy_*      the raw host imports (module "env"), exact ABI signatures;
 *   2. pw_*         helpers: owned byte buffers, pairs codec, header maps,
 *                   configuration, local responses, HTTP callouts, logging,
 *                   a small JSON reader for plugin configuration;
 *   3. pw_on_*      the callbacks a plugin implements.
 *
 * Memory rule (proxy-wasm §1.6): every blob the host returns is allocated
 * with proxy_on_memory_allocate (malloc) and belongs to the plugin. The
 * helpers hand it out as a pw_bytes_t; release it with pw_bytes_free.
 *
 * A wasm instance is single threaded and the host never calls into it
 * concurrently, so the SDK keeps global state without locks.
 */
#ifndef WEIR_PROXY_WASM_H
#define WEIR_PROXY_WASM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Define PW_NO_TARGET_CHECK to compile natively against a mock host, as
 * sdk/c/testdata/native_test.c does. */
#if !defined(__wasm32__) && !defined(PW_NO_TARGET_CHECK)
#error "proxy_wasm.h targets wasm32 (clang --target=wasm32-wasi)"
#endif

/* ------------------------------------------------------------------------ */
/* ABI types and constants (abi/types.go; spec §1.3)                         */
/* ------------------------------------------------------------------------ */

/* Every ABI enum travels as an i32; these typedefs keep the import
 * signatures exact whatever the compiler picks for an enum's type. */
typedef uint32_t pw_status_t;      /* proxy_status_t */
typedef uint32_t pw_action_t;      /* proxy_action_t */
typedef uint32_t pw_buffer_type_t; /* proxy_buffer_type_t */
typedef uint32_t pw_map_type_t;    /* proxy_map_type_t */
typedef uint32_t pw_stream_type_t; /* proxy_stream_type_t */
typedef uint32_t pw_peer_type_t;   /* proxy_peer_type_t */
typedef uint32_t pw_metric_type_t; /* proxy_metric_type_t */
typedef uint32_t pw_log_level_t;   /* proxy_log_level_t */

/* proxy_status_t. 5, 9 and 11 are cpp-sdk values hosts use in the wild. */
enum {
    PW_OK = 0,
    PW_NOT_FOUND = 1,
    PW_BAD_ARGUMENT = 2,
    PW_SERIALIZATION_FAILURE = 3,
    PW_PARSE_FAILURE = 4,
    PW_BAD_EXPRESSION = 5,
    PW_INVALID_MEMORY_ACCESS = 6,
    PW_EMPTY = 7,
    PW_CAS_MISMATCH = 8,
    PW_RESULT_MISMATCH = 9,
    PW_INTERNAL_FAILURE = 10,
    PW_BROKEN_CONNECTION = 11,
    PW_UNIMPLEMENTED = 12,
};

/* proxy_action_t, returned by the stream callbacks. Headers callbacks may
 * also return Envoy's richer values (2 ContinueAndEndStream,
 * 3 StopAllIterationAndBuffer, 4 StopAllIterationAndWatermark), body and
 * TCP data callbacks 2 StopIterationAndWatermark, 3 StopIterationNoBuffer. */
enum {
    PW_ACTION_CONTINUE = 0,
    PW_ACTION_PAUSE = 1,
};

/* proxy_buffer_type_t. */
enum {
    PW_BUFFER_HTTP_REQUEST_BODY = 0,
    PW_BUFFER_HTTP_RESPONSE_BODY = 1,
    PW_BUFFER_DOWNSTREAM_DATA = 2,
    PW_BUFFER_UPSTREAM_DATA = 3,
    PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
    PW_BUFFER_GRPC_CALL_MESSAGE = 5,
    PW_BUFFER_VM_CONFIGURATION = 6,
    PW_BUFFER_PLUGIN_CONFIGURATION = 7,
    PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
};

/* proxy_map_type_t. */
enum {
    PW_MAP_HTTP_REQUEST_HEADERS = 0,
    PW_MAP_HTTP_REQUEST_TRAILERS = 1,
    PW_MAP_HTTP_RESPONSE_HEADERS = 2,
    PW_MAP_HTTP_RESPONSE_TRAILERS = 3,
    PW_MAP_GRPC_CALL_INITIAL_METADATA = 4,
    PW_MAP_GRPC_CALL_TRAILING_METADATA = 5,
    PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
    PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
};

/* proxy_stream_type_t. */
enum {
    PW_STREAM_HTTP_REQUEST = 0,
    PW_STREAM_HTTP_RESPONSE = 1,
    PW_STREAM_DOWNSTREAM = 2,
    PW_STREAM_UPSTREAM = 3,
};

/* proxy_peer_type_t. */
enum {
    PW_PEER_UNKNOWN = 0,
    PW_PEER_LOCAL = 1,
    PW_PEER_REMOTE = 2,
};

/* proxy_metric_type_t. */
enum {
    PW_METRIC_COUNTER = 0,
    PW_METRIC_GAUGE = 1,
    PW_METRIC_HISTOGRAM = 2,
};

/* proxy_log_level_t. */
enum {
    PW_LOG_TRACE = 0,
    PW_LOG_DEBUG = 1,
    PW_LOG_INFO = 2,
    PW_LOG_WARN = 3,
    PW_LOG_ERROR = 4,
    PW_LOG_CRITICAL = 5,
};

/* grpc_status argument of proxy_send_local_response meaning "not gRPC". */
#define PW_GRPC_STATUS_NONE ((uint32_t)0xFFFFFFFFu)

/* Limits a host applies to serialized pairs (abi.MaxPairsBytes,
 * abi.MaxPairsCount, cpp-host limits.h); pw_pairs_iter_init enforces them
 * too. */
#define PW_MAX_PAIRS_BYTES (1u << 20)
#define PW_MAX_PAIRS_COUNT 1024u

/* ------------------------------------------------------------------------ */
/* Raw host imports (module "env"; abi.HostFunctions)                        */
/* ------------------------------------------------------------------------ */
/* Pointers and size_t are i32 on wasm32. ret_* arguments are out-pointers
 * the host writes; returned blobs are allocated in guest memory with
 * proxy_on_memory_allocate and belong to the caller (free them). An empty
 * result is written as ptr=NULL, size=0. Only the functions a plugin calls
 * end up imported by the module. */

#ifdef __wasm32__
#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#else /* a native build for unit tests (PW_NO_TARGET_CHECK) links a mock host */
#define PW_IMPORT(name)
#endif

PW_IMPORT(proxy_log)
pw_status_t proxy_log(pw_log_level_t level, const char *msg, size_t msg_len);
PW_IMPORT(proxy_get_log_level)
pw_status_t proxy_get_log_level(pw_log_level_t *ret_level);
PW_IMPORT(proxy_get_current_time_nanoseconds)
pw_status_t proxy_get_current_time_nanoseconds(uint64_t *ret_time);
PW_IMPORT(proxy_set_tick_period_milliseconds)
pw_status_t proxy_set_tick_period_milliseconds(uint32_t period_ms);
PW_IMPORT(proxy_set_effective_context)
pw_status_t proxy_set_effective_context(uint32_t context_id);
PW_IMPORT(proxy_done)
pw_status_t proxy_done(void);
PW_IMPORT(proxy_call_foreign_function)
pw_status_t proxy_call_foreign_function(const char *name, size_t name_len, const char *args,
                                        size_t args_len, char **ret_ptr, size_t *ret_size);

PW_IMPORT(proxy_get_buffer_bytes)
pw_status_t proxy_get_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t max_size,
                                   char **ret_ptr, size_t *ret_size);
PW_IMPORT(proxy_set_buffer_bytes)
pw_status_t proxy_set_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t size,
                                   const char *data, size_t data_len);
PW_IMPORT(proxy_get_buffer_status)
pw_status_t proxy_get_buffer_status(pw_buffer_type_t type, size_t *ret_len, uint32_t *ret_flags);

PW_IMPORT(proxy_get_header_map_pairs)
pw_status_t proxy_get_header_map_pairs(pw_map_type_t map, char **ret_ptr, size_t *ret_size);
PW_IMPORT(proxy_set_header_map_pairs)
pw_status_t proxy_set_header_map_pairs(pw_map_type_t map, const char *pairs, size_t pairs_len);
PW_IMPORT(proxy_get_header_map_value)
pw_status_t proxy_get_header_map_value(pw_map_type_t map, const char *key, size_t key_len,
                                       char **ret_ptr, size_t *ret_size);
PW_IMPORT(proxy_add_header_map_value)
pw_status_t proxy_add_header_map_value(pw_map_type_t map, const char *key, size_t key_len,
                                       const char *value, size_t value_len);
PW_IMPORT(proxy_replace_header_map_value)
pw_status_t proxy_replace_header_map_value(pw_map_type_t map, const char *key, size_t key_len,
                                           const char *value, size_t value_len);
PW_IMPORT(proxy_remove_header_map_value)
pw_status_t proxy_remove_header_map_value(pw_map_type_t map, const char *key, size_t key_len);
PW_IMPORT(proxy_get_header_map_size)
pw_status_t proxy_get_header_map_size(pw_map_type_t map, size_t *ret_size);

PW_IMPORT(proxy_continue_stream)
pw_status_t proxy_continue_stream(pw_stream_type_t stream);
PW_IMPORT(proxy_close_stream)
pw_status_t proxy_close_stream(pw_stream_type_t stream);
PW_IMPORT(proxy_get_status)
pw_status_t proxy_get_status(uint32_t *ret_code, char **ret_msg_ptr, size_t *ret_msg_size);
PW_IMPORT(proxy_send_local_response)
pw_status_t proxy_send_local_response(uint32_t status_code, const char *details, size_t details_len,
                                      const char *body, size_t body_len, const char *headers,
                                      size_t headers_len, uint32_t grpc_status);

PW_IMPORT(proxy_http_call)
pw_status_t proxy_http_call(const char *upstream, size_t upstream_len, const char *headers,
                            size_t headers_len, const char *body, size_t body_len,
                            const char *trailers, size_t trailers_len, uint32_t timeout_ms,
                            uint32_t *ret_token);
PW_IMPORT(proxy_grpc_call)
pw_status_t proxy_grpc_call(const char *upstream, size_t upstream_len, const char *service,
                            size_t service_len, const char *method, size_t method_len,
                            const char *metadata, size_t metadata_len, const char *message,
                            size_t message_len, uint32_t timeout_ms, uint32_t *ret_token);
PW_IMPORT(proxy_grpc_stream)
pw_status_t proxy_grpc_stream(const char *upstream, size_t upstream_len, const char *service,
                              size_t service_len, const char *method, size_t method_len,
                              const char *metadata, size_t metadata_len, uint32_t *ret_token);
PW_IMPORT(proxy_grpc_send)
pw_status_t proxy_grpc_send(uint32_t token, const char *message, size_t message_len,
                            uint32_t end_stream);
PW_IMPORT(proxy_grpc_cancel)
pw_status_t proxy_grpc_cancel(uint32_t token);
PW_IMPORT(proxy_grpc_close)
pw_status_t proxy_grpc_close(uint32_t token);

PW_IMPORT(proxy_get_shared_data)
pw_status_t proxy_get_shared_data(const char *key, size_t key_len, char **ret_value,
                                  size_t *ret_value_size, uint32_t *ret_cas);
PW_IMPORT(proxy_set_shared_data)
pw_status_t proxy_set_shared_data(const char *key, size_t key_len, const char *value,
                                  size_t value_len, uint32_t cas);
PW_IMPORT(proxy_register_shared_queue)
pw_status_t proxy_register_shared_queue(const char *name, size_t name_len, uint32_t *ret_queue_id);
PW_IMPORT(proxy_resolve_shared_queue)
pw_status_t proxy_resolve_shared_queue(const char *vm_id, size_t vm_id_len, const char *name,
                                       size_t name_len, uint32_t *ret_queue_id);
PW_IMPORT(proxy_enqueue_shared_queue)
pw_status_t proxy_enqueue_shared_queue(uint32_t queue_id, const char *value, size_t value_len);
PW_IMPORT(proxy_dequeue_shared_queue)
pw_status_t proxy_dequeue_shared_queue(uint32_t queue_id, char **ret_value, size_t *ret_value_size);

PW_IMPORT(proxy_define_metric)
pw_status_t proxy_define_metric(pw_metric_type_t type, const char *name, size_t name_len,
                                uint32_t *ret_metric_id);
PW_IMPORT(proxy_increment_metric)
pw_status_t proxy_increment_metric(uint32_t metric_id, int64_t offset);
PW_IMPORT(proxy_record_metric)
pw_status_t proxy_record_metric(uint32_t metric_id, uint64_t value);
PW_IMPORT(proxy_get_metric)
pw_status_t proxy_get_metric(uint32_t metric_id, uint64_t *ret_value);

PW_IMPORT(proxy_get_property)
pw_status_t proxy_get_property(const char *path, size_t path_len, char **ret_ptr, size_t *ret_size);
PW_IMPORT(proxy_set_property)
pw_status_t proxy_set_property(const char *path, size_t path_len, const char *value,
                               size_t value_len);

#undef PW_IMPORT

/* ------------------------------------------------------------------------ */
/* Owned buffers and status names                                            */
/* ------------------------------------------------------------------------ */

/* pw_bytes_t is a blob the host returned: data is malloc'd (or NULL when
 * size is 0) and owned by the caller. Helpers always initialise it, also on
 * failure, so pw_bytes_free is always safe to call. */
typedef struct pw_bytes {
    char *data;
    size_t size;
} pw_bytes_t;

/* pw_bytes_free frees b->data and resets b to empty. */
void pw_bytes_free(pw_bytes_t *b);

/* pw_status_name returns the spec name of st ("NOT_FOUND"), or "UNKNOWN". */
const char *pw_status_name(pw_status_t st);

/* ------------------------------------------------------------------------ */
/* Pairs: the proxy-wasm map serialization (abi/pairs.go)                    */
/* ------------------------------------------------------------------------ */
/* Layout, little-endian u32s: count, count x (key_len, value_len), then
 * count x (key, 0x00, value, 0x00). Keys and values are byte strings. */

typedef struct pw_pair {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} pw_pair_t;

/* PW_PAIR("k", "v") initialises a pw_pair_t from two string literals, e.g.
 *   static const pw_pair_t hdrs[] = {PW_PAIR("content-type", "text/plain")};
 * In an expression write (pw_pair_t)PW_PAIR("k", "v"). */
#define PW_PAIR(k, v) {(k), sizeof(k) - 1, (v), sizeof(v) - 1}

/* pw_pairs_size returns the serialized size of pairs, or 0 if it does not
 * fit in 32 bits. */
size_t pw_pairs_size(const pw_pair_t *pairs, size_t n);

/* pw_pairs_encode writes the serialization of pairs to dst, which must hold
 * pw_pairs_size(pairs, n) bytes, and returns the number of bytes written. */
size_t pw_pairs_encode(char *dst, const pw_pair_t *pairs, size_t n);

/* pw_pairs_iter_t walks a serialized map without copying. */
typedef struct pw_pairs_iter {
    const char *buf;
    uint32_t count; /* number of pairs */
    uint32_t next;  /* index of the next pair */
    size_t data;    /* offset of the next key */
} pw_pairs_iter_t;

/* pw_pairs_iter_init validates the whole buffer (lengths, NUL terminators,
 * no trailing bytes, PW_MAX_PAIRS_BYTES/COUNT) before anything is read, so a
 * malformed buffer never yields a partial map. Zero bytes or the single byte
 * 0x00 are an empty map. Returns PW_OK or PW_PARSE_FAILURE; on failure the
 * iterator is empty. */
pw_status_t pw_pairs_iter_init(pw_pairs_iter_t *it, const char *buf, size_t len);

/* pw_pairs_next stores the next pair in *out (pointing into the buffer,
 * each key and value followed by a NUL) and returns true, or returns false
 * at the end. */
bool pw_pairs_next(pw_pairs_iter_t *it, pw_pair_t *out);

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

/* pw_log logs msg[0:len) at level. */
pw_status_t pw_log(pw_log_level_t level, const char *msg, size_t len);

/* pw_logf logs a printf-style message, truncated at 64 KiB as the host
 * does. The SDK's own small formatter (no stdio, so no WASI imports)
 * supports flags - 0 + space #, width and precision (also *), the length
 * modifiers hh h l ll j z t and the conversions d i u o x X c s p %.
 * Floating-point conversions, %lc and %ls are not supported: the argument
 * is consumed and the spec printed verbatim; %n writes nothing. Use
 * snprintf yourself if you need them. */
pw_status_t pw_logf(pw_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
pw_status_t pw_vlogf(pw_log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define PW_LOG_TRACE(...) pw_logf(PW_LOG_TRACE, __VA_ARGS__)
#define PW_LOG_DEBUG(...) pw_logf(PW_LOG_DEBUG, __VA_ARGS__)
#define PW_LOG_INFO(...) pw_logf(PW_LOG_INFO, __VA_ARGS__)
#define PW_LOG_WARN(...) pw_logf(PW_LOG_WARN, __VA_ARGS__)
#define PW_LOG_ERROR(...) pw_logf(PW_LOG_ERROR, __VA_ARGS__)
#define PW_LOG_CRITICAL(...) pw_logf(PW_LOG_CRITICAL, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Buffers and configuration                                                 */
/* ------------------------------------------------------------------------ */

/* pw_get_buffer_bytes reads up to max_size bytes from start (hosts clamp;
 * pass UINT32_MAX >> 1 for "everything"). */
pw_status_t pw_get_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t max_size,
                                pw_bytes_t *out);

/* pw_set_buffer_bytes replaces size bytes at start with data. The common
 * conventions: replace all = (0, INT32_MAX), prepend = (0, 0),
 * append = (INT32_MAX, 0). */
pw_status_t pw_set_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t size,
                                const char *data, size_t len);

/* pw_get_plugin_configuration reads the plugin configuration (call it in
 * pw_on_configure). An absent configuration is PW_NOT_FOUND or an empty
 * buffer, depending on the host. */
pw_status_t pw_get_plugin_configuration(pw_bytes_t *out);

/* pw_get_vm_configuration reads the VM configuration (in pw_on_vm_start). */
pw_status_t pw_get_vm_configuration(pw_bytes_t *out);

/* ------------------------------------------------------------------------ */
/* Header maps                                                               */
/* ------------------------------------------------------------------------ */

/* pw_get_header returns the first value of key in map: PW_NOT_FOUND if
 * absent. key is NUL-terminated; the _n variants take explicit lengths. */
pw_status_t pw_get_header(pw_map_type_t map, const char *key, pw_bytes_t *out);
pw_status_t pw_get_header_n(pw_map_type_t map, const char *key, size_t key_len, pw_bytes_t *out);

/* pw_add_header appends a value; pw_replace_header adds or replaces (one
 * value remains); pw_remove_header removes every value (OK if absent). */
pw_status_t pw_add_header(pw_map_type_t map, const char *key, const char *value);
pw_status_t pw_replace_header(pw_map_type_t map, const char *key, const char *value);
pw_status_t pw_remove_header(pw_map_type_t map, const char *key);
pw_status_t pw_add_header_n(pw_map_type_t map, const char *key, size_t key_len, const char *value,
                            size_t value_len);
pw_status_t pw_replace_header_n(pw_map_type_t map, const char *key, size_t key_len,
                                const char *value, size_t value_len);
pw_status_t pw_remove_header_n(pw_map_type_t map, const char *key, size_t key_len);

/* pw_get_headers returns the whole map serialized; walk it with
 * pw_pairs_iter_init/pw_pairs_next. */
pw_status_t pw_get_headers(pw_map_type_t map, pw_bytes_t *out);

/* pw_set_headers replaces the whole map with pairs. */
pw_status_t pw_set_headers(pw_map_type_t map, const pw_pair_t *pairs, size_t n);

/* ------------------------------------------------------------------------ */
/* Stream control and local responses                                        */
/* ------------------------------------------------------------------------ */

/* pw_send_local_response answers the stream locally, after the current
 * callback returns; return PW_ACTION_PAUSE from that callback. headers are
 * added to the reply; grpc_status PW_GRPC_STATUS_NONE means not gRPC. */
pw_status_t pw_send_local_response(uint32_t status_code, const char *details, size_t details_len,
                                   const char *body, size_t body_len, const pw_pair_t *headers,
                                   size_t n_headers, uint32_t grpc_status);

/* pw_send_http_response is pw_send_local_response with no details and no
 * gRPC status (the Go SDK's SendHttpResponse(status, headers, body, -1)). */
pw_status_t pw_send_http_response(uint32_t status_code, const pw_pair_t *headers, size_t n_headers,
                                  const char *body, size_t body_len);

/* Resume a paused request/response, or reset the stream. */
pw_status_t pw_resume_http_request(void);
pw_status_t pw_resume_http_response(void);
pw_status_t pw_reset_http_stream(void);

/* ------------------------------------------------------------------------ */
/* HTTP callouts                                                             */
/* ------------------------------------------------------------------------ */

/* pw_http_callback receives the response of pw_dispatch_http_call.
 * num_headers 0 means the call failed. Read the response with
 * pw_get_headers(PW_MAP_HTTP_CALL_RESPONSE_HEADERS, ...) and
 * pw_get_buffer_bytes(PW_BUFFER_HTTP_CALL_RESPONSE_BODY, ...). */
typedef void (*pw_http_callback)(void *user, uint32_t num_headers, uint32_t body_size,
                                 uint32_t num_trailers);

/* pw_dispatch_http_call sends a request to upstream (a host-defined name);
 * headers must include :method, :path and :authority. The response goes to
 * callback; before calling it the SDK makes the dispatching stream the
 * effective context again (if it is still alive), so the callback can call
 * pw_resume_http_request. Without a callback the response goes to
 * pw_on_http_call_response. *token receives the call's token. */
pw_status_t pw_dispatch_http_call(const char *upstream, const pw_pair_t *headers, size_t n_headers,
                                  const char *body, size_t body_len, const pw_pair_t *trailers,
                                  size_t n_trailers, uint32_t timeout_ms,
                                  pw_http_callback callback, void *user, uint32_t *token);

/* ------------------------------------------------------------------------ */
/* Properties, shared data, queues, metrics, misc                            */
/* ------------------------------------------------------------------------ */

/* pw_get_property reads the property at path (segments joined with NUL,
 * e.g. {"request", "path"}); values use Envoy's encodings. */
pw_status_t pw_get_property(const char *const *path, size_t n_segments, pw_bytes_t *out);
pw_status_t pw_set_property(const char *const *path, size_t n_segments, const char *value,
                            size_t value_len);

/* pw_get_shared_data returns the value of key and its CAS; NOT_FOUND if
 * absent. pw_set_shared_data stores it (cas 0: unconditional). */
pw_status_t pw_get_shared_data(const char *key, pw_bytes_t *out, uint32_t *cas);
pw_status_t pw_set_shared_data(const char *key, const char *value, size_t value_len, uint32_t cas);

/* Shared queues: pw_dequeue_shared_queue returns PW_EMPTY when nothing is
 * queued. */
pw_status_t pw_register_shared_queue(const char *name, uint32_t *queue_id);
pw_status_t pw_resolve_shared_queue(const char *vm_id, const char *name, uint32_t *queue_id);
pw_status_t pw_enqueue_shared_queue(uint32_t queue_id, const char *value, size_t value_len);
pw_status_t pw_dequeue_shared_queue(uint32_t queue_id, pw_bytes_t *out);

/* Metrics. */
pw_status_t pw_define_metric(pw_metric_type_t type, const char *name, uint32_t *metric_id);
pw_status_t pw_increment_metric(uint32_t metric_id, int64_t offset);
pw_status_t pw_record_metric(uint32_t metric_id, uint64_t value);
pw_status_t pw_get_metric(uint32_t metric_id, uint64_t *value);

/* pw_call_foreign_function calls a host extension, e.g. "clear_route_cache". */
pw_status_t pw_call_foreign_function(const char *name, const char *args, size_t args_len,
                                     pw_bytes_t *out);

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */
/* ------------------------------------------------------------------------ */
/* The SDK tracks the contexts the host creates: root (plugin) contexts have
 * parent 0, stream contexts belong to a root. Each context carries one
 * user pointer; free what it points to in pw_on_delete. */

/* pw_root_context_id returns context_id for a root context, the root of a
 * stream context, or 0 if the context is unknown. */
uint32_t pw_root_context_id(uint32_t context_id);

/* pw_context_data returns the pointer set with pw_set_context_data (NULL if
 * unset or unknown). */
void *pw_context_data(uint32_t context_id);

/* pw_set_context_data attaches data to a live context; false if unknown. */
bool pw_set_context_data(uint32_t context_id, void *data);

/* pw_current_context_id returns the context whose callback is running. */
uint32_t pw_current_context_id(void);

/* ------------------------------------------------------------------------ */
/* Callbacks a plugin may define (weak; all optional)                        */
/* ------------------------------------------------------------------------ */
/* Stream callbacks run only for contexts created under a known root;
 * root callbacks (configure, tick, queue, foreign function, callouts) only
 * for known root contexts. Undefined callbacks default to true / continue. */

#define PW_WEAK __attribute__((weak))

/* Lifecycle. root_context_id is 0 when a root (plugin) context is created. */
PW_WEAK void pw_on_context_create(uint32_t context_id, uint32_t root_context_id);
PW_WEAK bool pw_on_vm_start(uint32_t root_context_id, uint32_t vm_config_size);
PW_WEAK bool pw_on_configure(uint32_t root_context_id, uint32_t plugin_config_size);
PW_WEAK bool pw_on_done(uint32_t context_id);
PW_WEAK void pw_on_log(uint32_t context_id);
PW_WEAK void pw_on_delete(uint32_t context_id);
PW_WEAK void pw_on_tick(uint32_t root_context_id);

/* HTTP streams. */
PW_WEAK pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream);
PW_WEAK pw_action_t pw_on_request_body(uint32_t context_id, uint32_t body_size, bool end_of_stream);
PW_WEAK pw_action_t pw_on_request_trailers(uint32_t context_id, uint32_t num_trailers);
PW_WEAK pw_action_t pw_on_response_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream);
PW_WEAK pw_action_t pw_on_response_body(uint32_t context_id, uint32_t body_size, bool end_of_stream);
PW_WEAK pw_action_t pw_on_response_trailers(uint32_t context_id, uint32_t num_trailers);

/* TCP streams. */
PW_WEAK pw_action_t pw_on_new_connection(uint32_t context_id);
PW_WEAK pw_action_t pw_on_downstream_data(uint32_t context_id, uint32_t data_size, bool end_of_stream);
PW_WEAK pw_action_t pw_on_upstream_data(uint32_t context_id, uint32_t data_size, bool end_of_stream);
PW_WEAK void pw_on_downstream_connection_close(uint32_t context_id, pw_peer_type_t peer);
PW_WEAK void pw_on_upstream_connection_close(uint32_t context_id, pw_peer_type_t peer);

/* Root-context events. pw_on_http_call_response gets responses of calls
 * dispatched without a callback (or with proxy_http_call directly). */
PW_WEAK void pw_on_http_call_response(uint32_t root_context_id, uint32_t token, uint32_t num_headers,
                                      uint32_t body_size, uint32_t num_trailers);
PW_WEAK void pw_on_grpc_receive_initial_metadata(uint32_t root_context_id, uint32_t token,
                                                 uint32_t num_elements);
PW_WEAK void pw_on_grpc_receive(uint32_t root_context_id, uint32_t token, uint32_t message_size);
PW_WEAK void pw_on_grpc_receive_trailing_metadata(uint32_t root_context_id, uint32_t token,
                                                  uint32_t num_elements);
PW_WEAK void pw_on_grpc_close(uint32_t root_context_id, uint32_t token, uint32_t grpc_status);
PW_WEAK void pw_on_queue_ready(uint32_t root_context_id, uint32_t queue_id);
PW_WEAK void pw_on_foreign_function(uint32_t root_context_id, uint32_t function_id, uint32_t args_size);

#undef PW_WEAK

/* ------------------------------------------------------------------------ */
/* JSON reader for plugin configuration                                      */
/* ------------------------------------------------------------------------ */
/* A small validating reader (RFC 8259, nesting depth <= 10000 like Go's
 * encoding/json) that never allocates: values are slices of the document.
 * It follows Go's encoding/json where decoders differ, so C plugins accept
 * and reject the same configurations as Go plugins:
 *   - member names match case-insensitively (pw_json_name_equal);
 *   - invalid UTF-8 and unpaired surrogate escapes in strings decode to
 *     U+FFFD (pw_json_unquote);
 *   - duplicate members: the caller sees all of them in order (last wins
 *     when assigned in a loop). */

typedef enum pw_json_kind {
    PW_JSON_INVALID = 0,
    PW_JSON_NULL,
    PW_JSON_BOOL,
    PW_JSON_NUMBER,
    PW_JSON_STRING,
    PW_JSON_ARRAY,
    PW_JSON_OBJECT,
} pw_json_kind_t;

/* pw_json_t is one value: ptr[0:len) is its text (strings include their
 * quotes). */
typedef struct pw_json {
    const char *ptr;
    size_t len;
    pw_json_kind_t kind;
} pw_json_t;

/* pw_json_parse validates the whole document (surrounding whitespace
 * allowed, nothing else) and stores its top-level value in *out. Returns
 * false (and kind PW_JSON_INVALID) for invalid JSON. */
bool pw_json_parse(const char *doc, size_t len, pw_json_t *out);

/* pw_json_object_next iterates the members of a parsed object: start with
 * *pos = 0; each call stores the next name (a PW_JSON_STRING) and value and
 * returns true, or returns false after the last member. */
bool pw_json_object_next(const pw_json_t *obj, size_t *pos, pw_json_t *name, pw_json_t *value);

/* pw_json_array_next iterates the elements of a parsed array likewise. */
bool pw_json_array_next(const pw_json_t *arr, size_t *pos, pw_json_t *elem);

/* pw_json_name_equal reports whether the string s, unquoted, equals the
 * ASCII field name with Go's case folding (so "Value" and "VALUE" match
 * "value", as encoding/json does). */
bool pw_json_name_equal(const pw_json_t *s, const char *name);

/* pw_json_unquote decodes the string s into dst and returns the decoded
 * length. With dst NULL it only returns the length (at most 3 * s->len). */
size_t pw_json_unquote(const pw_json_t *s, char *dst);

/* pw_json_strdup returns the decoded string s as a malloc'd NUL-terminated
 * string (its length in *len if len is not NULL), or NULL if out of
 * memory. The string may contain NUL bytes (from \u0000). */
char *pw_json_strdup(const pw_json_t *s, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PROXY_WASM_H */
