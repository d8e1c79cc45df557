/*
 * Build (from the repository root; all.wasm is committed next to this file):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Wl,--strip-debug -Isdk/c/include sdk/c/src/proxy_wasm.c sdk/c/testdata/all.c -o sdk/c/testdata/all.wasm
 *
 * all.c is not a plugin anyone should run: it references every host
 * function proxy_wasm.h declares (and every helper), so that all.wasm
 * imports all of them and c_test.go can check each declaration's wasm
 * signature against abi.HostFunctions without a compiler.
 */
#include <stdlib.h>

#include "proxy_wasm.h"

static void on_callout(void *user, uint32_t num_headers, uint32_t body_size, uint32_t num_trailers) {
    (void)user, (void)num_headers, (void)body_size, (void)num_trailers;
}

void pw_on_tick(uint32_t root_id) {
    (void)root_id;
    char *p = NULL;
    size_t n = 0;
    uint32_t u = 0;
    uint64_t u64 = 0;
    pw_log_level_t level = 0;

    /* Raw imports, in abi.HostFunctions order. */
    proxy_log(PW_LOG_INFO, "x", 1);
    proxy_get_log_level(&level);
    proxy_get_current_time_nanoseconds(&u64);
    proxy_set_tick_period_milliseconds(0);
    proxy_set_effective_context(root_id);
    proxy_done();
    proxy_call_foreign_function("f", 1, NULL, 0, &p, &n);
    proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 1, &p, &n);
    proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0, "x", 1);
    proxy_get_buffer_status(PW_BUFFER_HTTP_REQUEST_BODY, &n, &u);
    proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n);
    proxy_set_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, "\0\0\0\0", 4);
    proxy_get_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "k", 1, &p, &n);
    proxy_add_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "k", 1, "v", 1);
    proxy_replace_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "k", 1, "v", 1);
    proxy_remove_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "k", 1);
    proxy_get_header_map_size(PW_MAP_HTTP_REQUEST_HEADERS, &n);
    proxy_continue_stream(PW_STREAM_HTTP_REQUEST);
    proxy_close_stream(PW_STREAM_HTTP_REQUEST);
    proxy_get_status(&u, &p, &n);
    proxy_send_local_response(200, NULL, 0, NULL, 0, NULL, 0, PW_GRPC_STATUS_NONE);
    proxy_http_call("u", 1, NULL, 0, NULL, 0, NULL, 0, 1000, &u);
    proxy_grpc_call("u", 1, "s", 1, "m", 1, NULL, 0, NULL, 0, 1000, &u);
    proxy_grpc_stream("u", 1, "s", 1, "m", 1, NULL, 0, &u);
    proxy_grpc_send(u, NULL, 0, 1);
    proxy_grpc_cancel(u);
    proxy_grpc_close(u);
    proxy_get_shared_data("k", 1, &p, &n, &u);
    proxy_set_shared_data("k", 1, "v", 1, 0);
    proxy_register_shared_queue("q", 1, &u);
    proxy_resolve_shared_queue("", 0, "q", 1, &u);
    proxy_enqueue_shared_queue(u, "v", 1);
    proxy_dequeue_shared_queue(u, &p, &n);
    proxy_define_metric(PW_METRIC_COUNTER, "m", 1, &u);
    proxy_increment_metric(u, -1);
    proxy_record_metric(u, 1);
    proxy_get_metric(u, &u64);
    proxy_get_property("p", 1, &p, &n);
    proxy_set_property("p", 1, "v", 1);

    /* Helpers. */
    pw_bytes_t b;
    static const pw_pair_t pairs[] = {PW_PAIR("k", "v")};
    static const char *const path[] = {"request", "path"};
    pw_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 1, &b);
    pw_bytes_free(&b);
    pw_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0, "x", 1);
    pw_get_vm_configuration(&b);
    pw_bytes_free(&b);
    pw_get_headers(PW_MAP_HTTP_REQUEST_HEADERS, &b);
    pw_pairs_iter_t it;
    pw_pair_t pair;
    if (pw_pairs_iter_init(&it, b.data, b.size) == PW_OK) {
        while (pw_pairs_next(&it, &pair)) {
            pw_log(PW_LOG_DEBUG, pair.key, pair.key_len);
        }
    }
    pw_bytes_free(&b);
    pw_set_headers(PW_MAP_HTTP_REQUEST_HEADERS, pairs, 1);
    pw_add_header(PW_MAP_HTTP_REQUEST_HEADERS, "k", "v");
    pw_add_header_n(PW_MAP_HTTP_REQUEST_HEADERS, "k", 1, "v", 1);
    pw_send_local_response(500, "d", 1, "b", 1, pairs, 1, 13);
    pw_resume_http_request();
    pw_resume_http_response();
    pw_dispatch_http_call("u", pairs, 1, NULL, 0, NULL, 0, 1000, on_callout, NULL, &u);
    pw_get_property(path, 2, &b);
    pw_bytes_free(&b);
    pw_set_property(path, 2, "v", 1);
    pw_get_shared_data("k", &b, &u);
    pw_bytes_free(&b);
    pw_set_shared_data("k", "v", 1, u);
    pw_register_shared_queue("q", &u);
    pw_resolve_shared_queue("vm", "q", &u);
    pw_enqueue_shared_queue(u, "v", 1);
    pw_dequeue_shared_queue(u, &b);
    pw_bytes_free(&b);
    pw_define_metric(PW_METRIC_GAUGE, "g", &u);
    pw_increment_metric(u, 2);
    pw_record_metric(u, 3);
    pw_get_metric(u, &u64);
    pw_call_foreign_function("clear_route_cache", NULL, 0, &b);
    pw_bytes_free(&b);
    PW_LOG_INFO("tick %u %s %zu %llx", (unsigned)root_id, pw_status_name(PW_EMPTY), n,
                (unsigned long long)u64);
    free(p);
}
