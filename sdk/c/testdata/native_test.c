/*
 * native_test.c: unit tests of the C SDK's logic (pairs codec, context
 * table and dispatch, HTTP callouts, the log formatter, JSON reader),
 * compiled natively against a mock host. c_test.go builds it with the
 * system C compiler (skipping when there is none):
 *
 *   cc -std=c11 -DPW_NO_TARGET_CHECK -Isdk/c/include sdk/c/src/proxy_wasm.c sdk/c/testdata/native_test.c
 *
 * Modes:
 *   native_test selftest   run the assertions below; prints "PASS"
 *   native_test json       read length-prefixed JSON documents from stdin
 *                          and describe how the SDK reads each one, for
 *                          c_test.go to compare with encoding/json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "proxy_wasm.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Mock host                                                                */
/* ------------------------------------------------------------------------ */

static char last_log[1 << 17];
static size_t last_log_len;
static pw_log_level_t last_log_level;
static int log_calls;
static uint32_t effective_context;
static uint32_t next_token = 100;
static pw_status_t header_status = PW_OK; /* what get_header_map_value answers */
static char last_pairs[256];
static size_t last_pairs_len;

/* blob hands data to the SDK the way a host does: a fresh allocation via
 * the guest allocator, or (NULL, 0) when empty. */
static void blob(const char *data, size_t len, char **ptr, size_t *size) {
    if (len == 0) {
        *ptr = NULL;
        *size = 0;
        return;
    }
    extern void *proxy_on_memory_allocate(size_t);
    *ptr = proxy_on_memory_allocate(len);
    memcpy(*ptr, data, len);
    *size = len;
}

pw_status_t proxy_log(pw_log_level_t level, const char *msg, size_t len) {
    log_calls++;
    last_log_level = level;
    last_log_len = len < sizeof last_log ? len : sizeof last_log;
    memcpy(last_log, msg, last_log_len);
    return PW_OK;
}
pw_status_t proxy_get_log_level(pw_log_level_t *l) { *l = PW_LOG_INFO; return PW_OK; }
pw_status_t proxy_get_current_time_nanoseconds(uint64_t *t) { *t = 1; return PW_OK; }
pw_status_t proxy_set_tick_period_milliseconds(uint32_t p) { (void)p; return PW_OK; }
pw_status_t proxy_set_effective_context(uint32_t id) { effective_context = id; return PW_OK; }
pw_status_t proxy_done(void) { return PW_OK; }
pw_status_t proxy_call_foreign_function(const char *n, size_t nl, const char *a, size_t al, char **p, size_t *s) {
    (void)n, (void)nl;
    blob(a, al, p, s);
    return PW_OK;
}
pw_status_t proxy_get_buffer_bytes(pw_buffer_type_t t, uint32_t st, uint32_t m, char **p, size_t *s) {
    (void)t, (void)st, (void)m;
    blob("{\"value\":\"x\"}", 13, p, s);
    return PW_OK;
}
pw_status_t proxy_set_buffer_bytes(pw_buffer_type_t t, uint32_t st, uint32_t sz, const char *d, size_t l) {
    (void)t, (void)st, (void)sz, (void)d, (void)l;
    return PW_OK;
}
pw_status_t proxy_get_buffer_status(pw_buffer_type_t t, size_t *l, uint32_t *f) { (void)t; *l = 0; *f = 0; return PW_OK; }
pw_status_t proxy_get_header_map_pairs(pw_map_type_t m, char **p, size_t *s) {
    (void)m;
    blob(last_pairs, last_pairs_len, p, s);
    return PW_OK;
}
pw_status_t proxy_set_header_map_pairs(pw_map_type_t m, const char *p, size_t l) {
    (void)m;
    if (l > sizeof last_pairs) {
        return PW_BAD_ARGUMENT;
    }
    memcpy(last_pairs, p, l);
    last_pairs_len = l;
    return PW_OK;
}
pw_status_t proxy_get_header_map_value(pw_map_type_t m, const char *k, size_t kl, char **p, size_t *s) {
    (void)m;
    if (header_status != PW_OK) {
        return header_status;
    }
    blob(k, kl, p, s); /* echo the key as the value */
    return PW_OK;
}
pw_status_t proxy_add_header_map_value(pw_map_type_t m, const char *k, size_t kl, const char *v, size_t vl) {
    (void)m, (void)k, (void)kl, (void)v, (void)vl;
    return PW_OK;
}
pw_status_t proxy_replace_header_map_value(pw_map_type_t m, const char *k, size_t kl, const char *v, size_t vl) {
    (void)m, (void)k, (void)kl, (void)v, (void)vl;
    return PW_OK;
}
pw_status_t proxy_remove_header_map_value(pw_map_type_t m, const char *k, size_t kl) { (void)m, (void)k, (void)kl; return PW_OK; }
pw_status_t proxy_get_header_map_size(pw_map_type_t m, size_t *s) { (void)m; *s = 0; return PW_OK; }
pw_status_t proxy_continue_stream(pw_stream_type_t s) { (void)s; return PW_OK; }
pw_status_t proxy_close_stream(pw_stream_type_t s) { (void)s; return PW_OK; }
pw_status_t proxy_get_status(uint32_t *c, char **p, size_t *s) { *c = 0; blob(NULL, 0, p, s); return PW_OK; }
pw_status_t proxy_send_local_response(uint32_t sc, const char *d, size_t dl, const char *b, size_t bl,
                                      const char *h, size_t hl, uint32_t g) {
    (void)sc, (void)d, (void)dl, (void)b, (void)bl, (void)g;
    return proxy_set_header_map_pairs(0, h, hl);
}
pw_status_t proxy_http_call(const char *u, size_t ul, const char *h, size_t hl, const char *b, size_t bl,
                            const char *t, size_t tl, uint32_t to, uint32_t *tok) {
    (void)u, (void)ul, (void)b, (void)bl, (void)t, (void)tl, (void)to;
    proxy_set_header_map_pairs(0, h, hl);
    *tok = next_token++;
    return PW_OK;
}
pw_status_t proxy_grpc_call(const char *a, size_t b, const char *c, size_t d, const char *e, size_t f,
                            const char *g, size_t h, const char *i, size_t j, uint32_t k, uint32_t *l) {
    (void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h, (void)i, (void)j, (void)k, (void)l;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_stream(const char *a, size_t b, const char *c, size_t d, const char *e, size_t f,
                              const char *g, size_t h, uint32_t *i) {
    (void)a, (void)b, (void)c, (void)d, (void)e, (void)f, (void)g, (void)h, (void)i;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_send(uint32_t t, const char *m, size_t l, uint32_t e) { (void)t, (void)m, (void)l, (void)e; return PW_UNIMPLEMENTED; }
pw_status_t proxy_grpc_cancel(uint32_t t) { (void)t; return PW_UNIMPLEMENTED; }
pw_status_t proxy_grpc_close(uint32_t t) { (void)t; return PW_UNIMPLEMENTED; }
pw_status_t proxy_get_shared_data(const char *k, size_t kl, char **p, size_t *s, uint32_t *cas) {
    blob(k, kl, p, s);
    *cas = 7;
    return PW_OK;
}
pw_status_t proxy_set_shared_data(const char *k, size_t kl, const char *v, size_t vl, uint32_t cas) {
    (void)k, (void)kl, (void)v, (void)vl, (void)cas;
    return PW_OK;
}
pw_status_t proxy_register_shared_queue(const char *n, size_t l, uint32_t *q) { (void)n, (void)l; *q = 1; return PW_OK; }
pw_status_t proxy_resolve_shared_queue(const char *v, size_t vl, const char *n, size_t nl, uint32_t *q) {
    (void)v, (void)vl, (void)n, (void)nl;
    *q = 1;
    return PW_OK;
}
pw_status_t proxy_enqueue_shared_queue(uint32_t q, const char *v, size_t l) { (void)q, (void)v, (void)l; return PW_OK; }
pw_status_t proxy_dequeue_shared_queue(uint32_t q, char **p, size_t *s) { (void)q; blob(NULL, 0, p, s); return PW_EMPTY; }
pw_status_t proxy_define_metric(pw_metric_type_t t, const char *n, size_t l, uint32_t *id) { (void)t, (void)n, (void)l; *id = 1; return PW_OK; }
pw_status_t proxy_increment_metric(uint32_t id, int64_t o) { (void)id, (void)o; return PW_OK; }
pw_status_t proxy_record_metric(uint32_t id, uint64_t v) { (void)id, (void)v; return PW_OK; }
pw_status_t proxy_get_metric(uint32_t id, uint64_t *v) { (void)id; *v = 0; return PW_OK; }
pw_status_t proxy_get_property(const char *p, size_t l, char **rp, size_t *rs) { blob(p, l, rp, rs); return PW_OK; }
pw_status_t proxy_set_property(const char *p, size_t l, const char *v, size_t vl) { (void)p, (void)l, (void)v, (void)vl; return PW_OK; }

/* The exports the SDK defines (not declared in the header). */
void proxy_on_context_create(uint32_t, uint32_t);
uint32_t proxy_on_configure(uint32_t, uint32_t);
uint32_t proxy_on_done(uint32_t);
void proxy_on_delete(uint32_t);
uint32_t proxy_on_request_headers(uint32_t, uint32_t, uint32_t);
uint32_t proxy_on_request_body(uint32_t, uint32_t, uint32_t);
void proxy_on_tick(uint32_t);
void proxy_on_http_call_response(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t);
uint32_t proxy_on_vm_start(uint32_t, uint32_t);
void proxy_on_log(uint32_t);
uint32_t weir_implemented_callbacks(void);

/* ------------------------------------------------------------------------ */
/* Plugin callbacks under test                                              */
/* ------------------------------------------------------------------------ */

static int request_headers_calls;
static uint32_t last_eos;
static int deletes;

pw_action_t pw_on_request_headers(uint32_t id, uint32_t n, bool eos) {
    (void)n;
    request_headers_calls++;
    last_eos = eos;
    CHECK(pw_current_context_id() == id);
    return PW_ACTION_PAUSE;
}

void pw_on_delete(uint32_t id) {
    deletes++;
    free(pw_context_data(id));
}

static int creates;
static uint32_t last_create_parent;

void pw_on_context_create(uint32_t id, uint32_t root) {
    (void)id;
    creates++;
    last_create_parent = root;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

static void test_pairs(void) {
    pw_pair_t in[] = {PW_PAIR(":path", "/"), PW_PAIR("k", ""), PW_PAIR("", "v"), {"a\0b", 3, "x", 1}};
    size_t n = sizeof in / sizeof in[0];
    size_t size = pw_pairs_size(in, n);
    CHECK(size == 4 + 4 * 8 + (5 + 1 + 1 + 1) + (1 + 1 + 0 + 1) + (0 + 1 + 1 + 1) + (3 + 1 + 1 + 1));
    char buf[128];
    CHECK(pw_pairs_encode(buf, in, n) == size);
    pw_pairs_iter_t it;
    CHECK(pw_pairs_iter_init(&it, buf, size) == PW_OK);
    pw_pair_t p;
    for (size_t i = 0; i < n; i++) {
        CHECK(pw_pairs_next(&it, &p));
        CHECK(p.key_len == in[i].key_len && memcmp(p.key, in[i].key, p.key_len) == 0);
        CHECK(p.value_len == in[i].value_len && memcmp(p.value, in[i].value, p.value_len) == 0);
        CHECK(p.key[p.key_len] == 0 && p.value[p.value_len] == 0);
    }
    CHECK(!pw_pairs_next(&it, &p));

    /* Empty maps. */
    CHECK(pw_pairs_iter_init(&it, NULL, 0) == PW_OK && !pw_pairs_next(&it, &p));
    CHECK(pw_pairs_iter_init(&it, "", 1) == PW_OK && !pw_pairs_next(&it, &p));
    CHECK(pw_pairs_iter_init(&it, "\0\0\0\0", 4) == PW_OK && !pw_pairs_next(&it, &p));

    /* Malformed: every truncation, a bad terminator, trailing bytes,
     * too many pairs, too large. */
    for (size_t l = 1; l < size; l++) {
        CHECK(pw_pairs_iter_init(&it, buf, l) == PW_PARSE_FAILURE && !pw_pairs_next(&it, &p));
    }
    char bad[128];
    memcpy(bad, buf, size);
    bad[4 + 4 * 8 + 5] = 'X'; /* the NUL after ":path" */
    CHECK(pw_pairs_iter_init(&it, bad, size) == PW_PARSE_FAILURE);
    memcpy(bad, buf, size);
    bad[size] = 0;
    CHECK(pw_pairs_iter_init(&it, bad, size + 1) == PW_PARSE_FAILURE);
    char many[12] = {0x01, 0x04, 0, 0}; /* count 1025 */
    CHECK(pw_pairs_iter_init(&it, many, sizeof many) == PW_PARSE_FAILURE);
    char huge_count[12] = {(char)0xff, (char)0xff, (char)0xff, 0x0f}; /* length table overflow */
    CHECK(pw_pairs_iter_init(&it, huge_count, sizeof huge_count) == PW_PARSE_FAILURE);
    char *big = calloc(PW_MAX_PAIRS_BYTES + 1, 1);
    CHECK(pw_pairs_iter_init(&it, big, PW_MAX_PAIRS_BYTES + 1) == PW_PARSE_FAILURE);
    free(big);
    char lenbig[16] = {1, 0, 0, 0, (char)0xff, (char)0xff, (char)0xff, (char)0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK(pw_pairs_iter_init(&it, lenbig, sizeof lenbig) == PW_PARSE_FAILURE);

    /* set_headers sends count 0 for an empty map, the encoding otherwise. */
    CHECK(pw_set_headers(PW_MAP_HTTP_REQUEST_HEADERS, NULL, 0) == PW_OK);
    CHECK(last_pairs_len == 4 && memcmp(last_pairs, "\0\0\0\0", 4) == 0);
    CHECK(pw_set_headers(PW_MAP_HTTP_REQUEST_HEADERS, in, n) == PW_OK);
    CHECK(last_pairs_len == size && memcmp(last_pairs, buf, size) == 0);
    pw_bytes_t b;
    CHECK(pw_get_headers(PW_MAP_HTTP_REQUEST_HEADERS, &b) == PW_OK && b.size == size);
    CHECK(pw_pairs_iter_init(&it, b.data, b.size) == PW_OK && it.count == n);
    pw_bytes_free(&b);
    CHECK(b.data == NULL && b.size == 0);
}

static void test_contexts(void) {
    proxy_on_context_create(1, 0);
    CHECK(pw_root_context_id(1) == 1);
    CHECK(proxy_on_configure(1, 0) == 1);  /* undefined pw_on_configure: true */
    CHECK(proxy_on_configure(99, 0) == 0); /* unknown root */

    /* A stream under an unknown root is ignored (and logged). */
    int logs = log_calls;
    proxy_on_context_create(5, 77);
    CHECK(log_calls == logs + 1 && last_log_level == PW_LOG_ERROR);
    CHECK(pw_root_context_id(5) == 0);
    CHECK(proxy_on_request_headers(5, 1, 1) == PW_ACTION_CONTINUE);
    CHECK(request_headers_calls == 0);

    /* Many streams: grow the table, delete in a scattered order, and check
     * every lookup on the way. */
    enum { N = 3000 };
    for (uint32_t id = 2; id < 2 + N; id++) {
        proxy_on_context_create(id * 7, 1);
        uint32_t *d = malloc(sizeof *d);
        *d = id;
        CHECK(pw_set_context_data(id * 7, d));
    }
    CHECK(!pw_set_context_data(123456789, NULL));
    CHECK(pw_context_data(123456789) == NULL);
    int del = 0;
    for (uint32_t id = 2; id < 2 + N; id += 3) {
        proxy_on_delete(id * 7);
        del++;
    }
    CHECK(deletes == del);
    for (uint32_t id = 2; id < 2 + N; id++) {
        bool gone = (id - 2) % 3 == 0;
        uint32_t *d = pw_context_data(id * 7);
        CHECK(gone ? (d == NULL && pw_root_context_id(id * 7) == 0)
                   : (d != NULL && *d == id && pw_root_context_id(id * 7) == 1));
    }

    /* Dispatch: a known stream reaches the plugin with eos as bool. */
    CHECK(proxy_on_request_headers(3 * 7, 2, 7) == PW_ACTION_PAUSE);
    CHECK(request_headers_calls == 1 && last_eos == 1);
    CHECK(proxy_on_request_body(3 * 7, 10, 0) == PW_ACTION_CONTINUE); /* undefined: continue */
    CHECK(proxy_on_request_headers(1, 2, 0) == PW_ACTION_CONTINUE);    /* a root is no stream */
    CHECK(request_headers_calls == 1);
    CHECK(proxy_on_done(3 * 7) == 1);
    CHECK(proxy_on_done(424242) == 1);

    for (uint32_t id = 2; id < 2 + N; id++) {
        proxy_on_delete(id * 7);
    }
    CHECK(deletes == N);
}

static int callout_calls;
static uint32_t callout_effective;

static void on_callout(void *user, uint32_t nh, uint32_t bs, uint32_t nt) {
    callout_calls++;
    callout_effective = effective_context;
    CHECK(user == &callout_calls && nh == 2 && bs == 3 && nt == 4);
}

static void test_callouts(void) {
    pw_pair_t hdrs[] = {PW_PAIR(":method", "GET"), PW_PAIR(":path", "/"), PW_PAIR(":authority", "a")};
    proxy_on_context_create(50, 1);
    CHECK(proxy_on_request_headers(50, 0, 0) == PW_ACTION_PAUSE); /* 50 is now current */
    uint32_t token = 0;
    CHECK(pw_dispatch_http_call("up", hdrs, 3, NULL, 0, NULL, 0, 100, on_callout, &callout_calls, &token) == PW_OK);
    CHECK(token != 0);
    pw_pairs_iter_t it;
    CHECK(pw_pairs_iter_init(&it, last_pairs, last_pairs_len) == PW_OK && it.count == 3);
    effective_context = 0;
    proxy_on_http_call_response(1, token + 1000, 2, 3, 4); /* unknown token */
    CHECK(callout_calls == 0);
    proxy_on_http_call_response(1, token, 2, 3, 4);
    CHECK(callout_calls == 1 && callout_effective == 50 && pw_current_context_id() == 50);
    proxy_on_http_call_response(1, token, 2, 3, 4); /* delivered once */
    CHECK(callout_calls == 1);

    /* The dispatching stream is gone: no effective-context switch. */
    CHECK(proxy_on_request_headers(50, 0, 0) == PW_ACTION_PAUSE);
    CHECK(pw_dispatch_http_call("up", hdrs, 3, "b", 1, hdrs, 1, 100, on_callout, &callout_calls, &token) == PW_OK);
    proxy_on_delete(50);
    effective_context = 0;
    proxy_on_http_call_response(1, token, 2, 3, 4);
    CHECK(callout_calls == 2 && callout_effective == 0);

    /* Without a callback nothing is tracked: the response goes to
     * pw_on_http_call_response (undefined here). An empty header map is
     * sent as count 0 (the host then rejects the missing :method). */
    CHECK(pw_dispatch_http_call("up", NULL, 0, NULL, 0, NULL, 0, 100, NULL, NULL, &token) == PW_OK);
    CHECK(last_pairs_len == 4);
    proxy_on_http_call_response(1, token, 2, 3, 4);
    CHECK(callout_calls == 2);
}

static void test_helpers(void) {
    pw_bytes_t b;
    CHECK(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-key", &b) == PW_OK);
    CHECK(b.size == 5 && memcmp(b.data, "x-key", 5) == 0);
    pw_bytes_free(&b);
    header_status = PW_NOT_FOUND;
    b.data = (char *)1;
    CHECK(pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x", &b) == PW_NOT_FOUND);
    CHECK(b.data == NULL && b.size == 0);
    header_status = PW_OK;
    const char *path[] = {"request", "headers", "k"};
    CHECK(pw_get_property(path, 3, &b) == PW_OK);
    CHECK(b.size == 17 && memcmp(b.data, "request\0headers\0k", 17) == 0);
    pw_bytes_free(&b);
    CHECK(pw_get_property(path, 0, &b) == PW_OK && b.size == 0 && b.data == NULL);
    uint32_t cas = 0;
    CHECK(pw_get_shared_data("key", &b, &cas) == PW_OK && cas == 7 && b.size == 3);
    pw_bytes_free(&b);
    CHECK(pw_dequeue_shared_queue(1, &b) == PW_EMPTY && b.data == NULL);
    CHECK(pw_get_plugin_configuration(&b) == PW_OK && b.size == 13);
    pw_bytes_free(&b);
    CHECK(strcmp(pw_status_name(PW_NOT_FOUND), "NOT_FOUND") == 0);
    CHECK(strcmp(pw_status_name(PW_UNIMPLEMENTED), "UNIMPLEMENTED") == 0);
    CHECK(strcmp(pw_status_name(13), "UNKNOWN") == 0);
}

/* log_unchecked calls pw_vlogf without the compiler's format checks. */
static void log_unchecked(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pw_vlogf(PW_LOG_INFO, fmt, ap);
    va_end(ap);
}

/* test_logf compares the SDK's formatter with the C library's. */
static void test_logf(void) {
    char want[1024];
#define SAME(...)                                                                              \
    do {                                                                                       \
        int n = snprintf(want, sizeof want, __VA_ARGS__);                                      \
        pw_logf(PW_LOG_INFO, __VA_ARGS__);                                                     \
        if (last_log_len != (size_t)n || memcmp(last_log, want, (size_t)n) != 0) {             \
            fprintf(stderr, "%s:%d: logf %s: got %.*s want %s\n", __FILE__, __LINE__, #__VA_ARGS__, \
                    (int)last_log_len, last_log, want);                                        \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)
    SAME("plain");
    SAME("%%|%c|%s|%5s|%-5s|%.2s|%.*s|%s", 'x', "str", "ab", "ab", "abc", 1, "xyz", "");
    SAME("%d|%i|%u|%x|%X|%o|%#x|%#o|%#X", -42, 7, 4000000000u, 255, 255, 8, 255, 8, 0xABC);
    SAME("%5d|%-5d|%05d|%+d|% d|%.3d|%5.3d|%-+6d|%05x", 42, 42, -42, 42, 42, 7, -7, 3, 0xab);
    SAME("%ld|%lu|%lld|%llu|%llx|%zu|%zd|%jd|%td|%hd|%hhu|%hu", -1L, 2UL, -9223372036854775807LL - 1,
         18446744073709551615ULL, 0xdeadbeefcafeULL, (size_t)12345, (ptrdiff_t)-3, (intmax_t)-5,
         (ptrdiff_t)6, (short)-7, (unsigned char)200, (unsigned short)65535);
    SAME("%d|%u|%x|%.0d|%#.0x|%s", 0, 0u, 0u, 0, 0u, "end");
    SAME("%*d|%-*d|%.*d|%*s", 6, 1, 6, 2, 4, 3, -4, "x");
    SAME("%-3c|%3c", 'a', 'b');
    /* Floating point: consumed, printed verbatim, later arguments intact. */
    pw_logf(PW_LOG_INFO, "%d %.2f %s %Lg %s", 1, 2.5, "after", (long double)1, "end");
    CHECK(last_log_len == strlen("1 %.2f after %Lg end") && memcmp(last_log, "1 %.2f after %Lg end", last_log_len) == 0);
    log_unchecked("%q %"); /* an unknown conversion and a lone '%' */
    CHECK(last_log_len == 4 && memcmp(last_log, "%q %", 4) == 0);
    int count = 0;
    pw_logf(PW_LOG_INFO, "a%nb %ls %lc %s", &count, (const wchar_t *)L"w", (wint_t)'w', "end");
    CHECK(count == 0 && last_log_len == strlen("ab %ls %lc end") && memcmp(last_log, "ab %ls %lc end", last_log_len) == 0);
    /* Long messages go through the heap; over 64 KiB they are cut. */
    char *long_arg = malloc(70000);
    memset(long_arg, 'a', 69999);
    long_arg[69999] = 0;
    pw_logf(PW_LOG_WARN, "<%s>", long_arg);
    CHECK(last_log_len == 64 * 1024 && last_log[0] == '<' && last_log[last_log_len - 1] == 'a');
    pw_logf(PW_LOG_WARN, "%.600s|", long_arg);
    CHECK(last_log_len == 601 && last_log[600] == '|');
    free(long_arg);
    PW_LOG_ERROR("e %d", 1);
    CHECK(last_log_level == PW_LOG_ERROR && last_log_len == 3);
}

static void test_json_api(void) {
    const char *doc = " {\"a\" : [1, \"x\", null, {\"b\":[]}], \"Value\":\"v\\u00e9\", \"n\":-1.5e3 } ";
    pw_json_t v, name, val, elem;
    CHECK(pw_json_parse(doc, strlen(doc), &v) && v.kind == PW_JSON_OBJECT);
    CHECK(v.ptr == doc + 1 && v.ptr[v.len - 1] == '}');
    size_t pos = 0;
    CHECK(pw_json_object_next(&v, &pos, &name, &val) && pw_json_name_equal(&name, "a") && val.kind == PW_JSON_ARRAY);
    size_t apos = 0;
    pw_json_kind_t kinds[] = {PW_JSON_NUMBER, PW_JSON_STRING, PW_JSON_NULL, PW_JSON_OBJECT};
    for (int i = 0; i < 4; i++) {
        CHECK(pw_json_array_next(&val, &apos, &elem) && elem.kind == kinds[i]);
    }
    CHECK(!pw_json_array_next(&val, &apos, &elem));
    CHECK(pw_json_object_next(&v, &pos, &name, &val) && pw_json_name_equal(&name, "value"));
    CHECK(!pw_json_name_equal(&name, "valu") && !pw_json_name_equal(&name, "values"));
    size_t n = 0;
    char *s = pw_json_strdup(&val, &n);
    CHECK(s != NULL && n == 3 && memcmp(s, "v\xc3\xa9", 4) == 0);
    free(s);
    CHECK(pw_json_object_next(&v, &pos, &name, &val) && val.kind == PW_JSON_NUMBER && val.len == 6);
    CHECK(!pw_json_object_next(&v, &pos, &name, &val));
    CHECK(!pw_json_object_next(&v, &pos, &name, &val)); /* stays at the end */
    CHECK(!pw_json_array_next(&v, &pos, &elem));         /* wrong kind */
    CHECK(!pw_json_parse("", 0, &v) && v.kind == PW_JSON_INVALID);
    CHECK(pw_json_parse("\"s\"", 3, &v) && v.kind == PW_JSON_STRING && pw_json_unquote(&v, NULL) == 1);
    CHECK(pw_json_parse("{}", 2, &v) && (pos = 0, !pw_json_object_next(&v, &pos, &name, &val)));
    CHECK(pw_json_parse("[ ]", 3, &v) && (pos = 0, !pw_json_array_next(&v, &pos, &elem)));
}

/* ------------------------------------------------------------------------ */
/* json mode                                                                */
/* ------------------------------------------------------------------------ */

static void hex(const char *s, size_t n) {
    if (n == 0) {
        putchar('-');
    }
    for (size_t i = 0; i < n; i++) {
        printf("%02x", (unsigned char)s[i]);
    }
}

static void describe_string(const pw_json_t *v) {
    size_t n = 0;
    char *s = pw_json_strdup(v, &n);
    hex(s, n);
    free(s);
}

/* describe prints, for one document: "valid K" (K the top kind) or
 * "invalid"; for an object each member as "m NAMEHEX EQVALUE EQKEYS KIND
 * [STRHEX]" and, for array members, each element as "e KIND [STRHEX]". */
static void describe(const char *doc, size_t len) {
    pw_json_t v;
    if (!pw_json_parse(doc, len, &v)) {
        printf("invalid\n");
        return;
    }
    printf("valid %d\n", (int)v.kind);
    if (v.kind != PW_JSON_OBJECT) {
        return;
    }
    pw_json_t name, val, elem;
    size_t pos = 0;
    while (pw_json_object_next(&v, &pos, &name, &val)) {
        printf("m ");
        describe_string(&name);
        printf(" %d %d %d", pw_json_name_equal(&name, "value"), pw_json_name_equal(&name, "keys"), (int)val.kind);
        if (val.kind == PW_JSON_STRING) {
            putchar(' ');
            describe_string(&val);
        }
        putchar('\n');
        size_t apos = 0;
        while (pw_json_array_next(&val, &apos, &elem)) {
            printf("e %d", (int)elem.kind);
            if (elem.kind == PW_JSON_STRING) {
                putchar(' ');
                describe_string(&elem);
            }
            putchar('\n');
        }
    }
}

static int json_mode(void) {
    unsigned char hdr[4];
    while (fread(hdr, 1, 4, stdin) == 4) {
        size_t len = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
        char *doc = malloc(len ? len : 1);
        if (doc == NULL || fread(doc, 1, len, stdin) != len) {
            fprintf(stderr, "short input\n");
            return 2;
        }
        describe(doc, len);
        printf("end\n");
        free(doc);
    }
    return 0;
}

/* test_lazy_contexts runs last: once the host has read
 * weir_implemented_callbacks (only Weir does), the SDK creates contexts on
 * their first callback instead of in proxy_on_context_create. */
static void test_lazy_contexts(void) {
    uint32_t set = weir_implemented_callbacks();
    CHECK((set & 1u << 0) == 0); /* context_create: left to the SDK */
    CHECK((set & 1u << 3) != 0); /* delete: always */
    CHECK((set & 1u << 4) != 0); /* request headers: defined here */
    CHECK((set & (1u << 1 | 1u << 2)) == 0); /* no pw_on_done, no pw_on_log */

    /* Root 1 (test_contexts) is the only root: a stream named for the
     * first time is created under it, once, before its callback. */
    int c0 = creates, r0 = request_headers_calls, d0 = deletes;
    CHECK(pw_root_context_id(900) == 0);
    CHECK(proxy_on_request_headers(900, 1, 1) == PW_ACTION_PAUSE);
    CHECK(creates == c0 + 1 && last_create_parent == 1);
    CHECK(request_headers_calls == r0 + 1 && pw_root_context_id(900) == 1);
    CHECK(proxy_on_request_headers(900, 1, 1) == PW_ACTION_PAUSE);
    CHECK(creates == c0 + 1 && request_headers_calls == r0 + 2);

    /* Delete, done and log without handlers never create. */
    proxy_on_delete(901);
    CHECK(deletes == d0 && creates == c0 + 1 && pw_root_context_id(901) == 0);
    CHECK(proxy_on_done(902) == 1);
    proxy_on_log(902);
    CHECK(creates == c0 + 1 && pw_root_context_id(902) == 0);
    proxy_on_delete(900);
    CHECK(deletes == d0 + 1 && pw_root_context_id(900) == 0);

    /* A root callback for an unknown id creates that root; with two
     * roots, a new stream's root is unknown and it is not created. */
    CHECK(proxy_on_vm_start(2000, 0) == 1);
    CHECK(creates == c0 + 2 && last_create_parent == 0 && pw_root_context_id(2000) == 2000);
    CHECK(proxy_on_request_headers(903, 1, 1) == PW_ACTION_CONTINUE);
    CHECK(creates == c0 + 2 && request_headers_calls == r0 + 2 && pw_root_context_id(903) == 0);
    proxy_on_delete(2000);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "json") == 0) {
        return json_mode();
    }
    if (argc != 2 || strcmp(argv[1], "selftest") != 0) {
        fprintf(stderr, "usage: native_test selftest|json\n");
        return 2;
    }
    test_pairs();
    test_contexts();
    test_callouts();
    test_helpers();
    test_logf();
    test_json_api();
    test_lazy_contexts(); /* last: lazy mode stays on */
    if (failures != 0) {
        fprintf(stderr, "FAIL: %d checks failed\n", failures);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
