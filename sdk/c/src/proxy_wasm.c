/*
 * proxy_wasm.c: the implementation of Weir's C SDK for proxy-wasm plugins
 * (see ../include/proxy_wasm.h). Compile it together with the plugin:
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 \
 *     -Wall -Wextra -Wl,--strip-debug -Isdk/c/include \
 *     sdk/c/src/proxy_wasm.c plugin.c -o plugin.wasm
 *
 * Contents: the exports (ABI marker, allocator, callbacks dispatching to
 * the weak pw_on_* functions), the context table, the host-call helpers,
 * the pairs codec and the JSON reader.
 */
#include "proxy_wasm.h"

#include <stdlib.h>
#include <string.h>

#ifdef __wasm32__
#define PW_EXPORT(name) __attribute__((export_name(#name)))
#else /* native unit tests: plain functions */
#define PW_EXPORT(name)
#endif

/* "Everything" for get_buffer_bytes; hosts clamp to the buffer. */
#define PW_MAX_BUFFER 0x7FFFFFFFu

/* Messages longer than this are truncated, as the host does
 * (abi.MaxLogMessageBytes). */
#define PW_MAX_LOG_BYTES (64u << 10)

/* ======================================================================== */
/* Context table                                                            */
/* ======================================================================== */

/* An open-addressing hash table (linear probing, backward-shift deletion)
 * from context id to its root and user data. Id 0 marks a free slot: the
 * host never uses 0 as a context id. */
typedef struct ctx_slot {
    uint32_t id;
    uint32_t root; /* id itself for a root context */
    void *data;
} ctx_slot;

static ctx_slot *ctx_tab;
static uint32_t ctx_cap; /* power of two, or 0 */
static uint32_t ctx_len;
static uint32_t ctx_current;

static uint32_t ctx_hash(uint32_t id) { return id * 2654435761u; }

static ctx_slot *ctx_find(uint32_t id) {
    if (id == 0 || ctx_cap == 0) {
        return NULL;
    }
    uint32_t mask = ctx_cap - 1;
    for (uint32_t i = ctx_hash(id) & mask;; i = (i + 1) & mask) {
        if (ctx_tab[i].id == id) {
            return &ctx_tab[i];
        }
        if (ctx_tab[i].id == 0) {
            return NULL;
        }
    }
}

static void ctx_place(ctx_slot *tab, uint32_t cap, ctx_slot s) {
    uint32_t mask = cap - 1;
    uint32_t i = ctx_hash(s.id) & mask;
    while (tab[i].id != 0) {
        i = (i + 1) & mask;
    }
    tab[i] = s;
}

/* ctx_add registers id (or updates its root); NULL if out of memory. */
static ctx_slot *ctx_add(uint32_t id, uint32_t root) {
    ctx_slot *s = ctx_find(id);
    if (s != NULL) {
        s->root = root;
        return s;
    }
    if ((ctx_len + 1) * 4 > ctx_cap * 3) { /* keep the load <= 3/4 */
        uint32_t cap = ctx_cap ? ctx_cap * 2 : 16;
        ctx_slot *tab = calloc(cap, sizeof *tab);
        if (tab == NULL) {
            return NULL;
        }
        for (uint32_t i = 0; i < ctx_cap; i++) {
            if (ctx_tab[i].id != 0) {
                ctx_place(tab, cap, ctx_tab[i]);
            }
        }
        free(ctx_tab);
        ctx_tab = tab;
        ctx_cap = cap;
    }
    ctx_place(ctx_tab, ctx_cap, (ctx_slot){id, root, NULL});
    ctx_len++;
    return ctx_find(id);
}

static void ctx_remove(uint32_t id) {
    ctx_slot *s = ctx_find(id);
    if (s == NULL) {
        return;
    }
    uint32_t mask = ctx_cap - 1;
    uint32_t hole = (uint32_t)(s - ctx_tab);
    /* Backward-shift: move later entries of the probe run into the hole
     * when their home slot is not between the hole and themselves. */
    for (uint32_t i = (hole + 1) & mask; ctx_tab[i].id != 0; i = (i + 1) & mask) {
        uint32_t home = ctx_hash(ctx_tab[i].id) & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            ctx_tab[hole] = ctx_tab[i];
            hole = i;
        }
    }
    ctx_tab[hole] = (ctx_slot){0, 0, NULL};
    ctx_len--;
}

uint32_t pw_root_context_id(uint32_t context_id) {
    ctx_slot *s = ctx_find(context_id);
    return s ? s->root : 0;
}

void *pw_context_data(uint32_t context_id) {
    ctx_slot *s = ctx_find(context_id);
    return s ? s->data : NULL;
}

bool pw_set_context_data(uint32_t context_id, void *data) {
    ctx_slot *s = ctx_find(context_id);
    if (s == NULL) {
        return false;
    }
    s->data = data;
    return true;
}

uint32_t pw_current_context_id(void) { return ctx_current; }

/* is_root reports whether id is a known root context. */
static bool is_root(uint32_t id) {
    ctx_slot *s = ctx_find(id);
    return s != NULL && s->root == id;
}

/* Lazy contexts (Weir only). When the host reads weir_implemented_callbacks
 * (only Weir does), the SDK leaves proxy_on_context_create out of the set:
 * Weir then never calls it, and a context is created, with its
 * pw_on_context_create, by the first callback that names it. A root by the
 * first root callback (proxy_on_vm_start in the start sequence), a stream
 * by its first stream callback, under the instance's only root (Weir
 * creates one root context per instance). A stream the plugin never hears
 * about costs no guest call at all, and one it does hear about costs one
 * call less. proxy_on_delete never creates: a context never named has
 * nothing to delete. */
static bool lazy_ctx;
static uint32_t only_root; /* the one root context; UINT32_MAX once there are several */

static void note_root(uint32_t id) {
    if (only_root == 0) {
        only_root = id;
    } else if (only_root != id) {
        only_root = UINT32_MAX;
    }
}

/* create_ctx registers context_id under parent_context_id (0: a root) and
 * runs the plugin's pw_on_context_create; false if it cannot. */
static bool create_ctx(uint32_t context_id, uint32_t parent_context_id) {
    uint32_t root = parent_context_id == 0 ? context_id : parent_context_id;
    if (parent_context_id != 0 && !is_root(parent_context_id)) {
        pw_logf(PW_LOG_ERROR, "proxy_wasm: context %u created under unknown root context %u",
                (unsigned)context_id, (unsigned)parent_context_id);
        return false;
    }
    if (ctx_add(context_id, root) == NULL) {
        pw_logf(PW_LOG_ERROR, "proxy_wasm: out of memory creating context %u", (unsigned)context_id);
        return false;
    }
    if (parent_context_id == 0) {
        note_root(context_id);
    }
    ctx_current = context_id;
    if (pw_on_context_create) {
        pw_on_context_create(context_id, parent_context_id);
    }
    return true;
}

/* enter_stream makes a stream context current, creating it first in lazy
 * mode. */
static bool enter_stream(uint32_t id) {
    ctx_slot *s = ctx_find(id);
    if (s == NULL) {
        if (!lazy_ctx || only_root == 0 || only_root == UINT32_MAX || id == 0) {
            return false;
        }
        return create_ctx(id, only_root);
    }
    if (s->root == id) {
        return false;
    }
    ctx_current = id;
    return true;
}

/* enter_root makes a root context current, creating it first in lazy
 * mode. */
static bool enter_root(uint32_t id) {
    if (lazy_ctx && id != 0 && ctx_find(id) == NULL) {
        return create_ctx(id, 0);
    }
    if (!is_root(id)) {
        return false;
    }
    ctx_current = id;
    return true;
}

/* enter_context makes a known context (root or stream) current; in lazy
 * mode an unknown one is created as a stream. */
static bool enter_context(uint32_t id) {
    if (ctx_find(id) == NULL) {
        return enter_stream(id);
    }
    ctx_current = id;
    return true;
}

/* ======================================================================== */
/* HTTP callouts awaiting a response                                        */
/* ======================================================================== */

typedef struct callout {
    uint32_t token, root, from;
    pw_http_callback cb;
    void *user;
    struct callout *next;
} callout;

static callout *callouts;

/* take_callout unlinks and returns the callout (root, token), or NULL. */
static callout *take_callout(uint32_t root, uint32_t token) {
    for (callout **pp = &callouts; *pp != NULL; pp = &(*pp)->next) {
        callout *c = *pp;
        if (c->root == root && c->token == token) {
            *pp = c->next;
            return c;
        }
    }
    return NULL;
}

/* drop_callouts forgets the pending callouts of a deleted root. */
static void drop_callouts(uint32_t root) {
    callout **pp = &callouts;
    while (*pp != NULL) {
        callout *c = *pp;
        if (c->root == root) {
            *pp = c->next;
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

/* ======================================================================== */
/* Exports                                                                  */
/* ======================================================================== */

PW_EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

PW_EXPORT(proxy_on_memory_allocate) void *proxy_on_memory_allocate(size_t size) {
    return malloc(size);
}

/* Weir extension (abi.ExportWeirImplementedCallbacks): the per-stream
 * callbacks this plugin defines a handler for, so Weir does not call the
 * dispatchers of the others (other hosts ignore this export). Deletion
 * keeps the context table and is always called; creation is left out and
 * done lazily (see lazy_ctx). The bits are abi.CallbackSet's. */
PW_EXPORT(weir_implemented_callbacks) uint32_t weir_implemented_callbacks(void) {
    lazy_ctx = true;
    uint32_t set = 1u << 3 /* delete */;
    set |= pw_on_done ? 1u << 1 : 0;
    set |= pw_on_log ? 1u << 2 : 0;
    set |= pw_on_request_headers ? 1u << 4 : 0;
    set |= pw_on_request_body ? 1u << 5 : 0;
    set |= pw_on_request_trailers ? 1u << 6 : 0;
    set |= pw_on_response_headers ? 1u << 7 : 0;
    set |= pw_on_response_body ? 1u << 8 : 0;
    set |= pw_on_response_trailers ? 1u << 9 : 0;
    return set;
}

PW_EXPORT(proxy_on_context_create)
void proxy_on_context_create(uint32_t context_id, uint32_t parent_context_id) {
    create_ctx(context_id, parent_context_id);
}

PW_EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_id, uint32_t vm_config_size) {
    if (lazy_ctx && !enter_root(root_id)) {
        return 0;
    }
    ctx_current = root_id;
    return pw_on_vm_start ? pw_on_vm_start(root_id, vm_config_size) : 1;
}

PW_EXPORT(proxy_on_configure)
uint32_t proxy_on_configure(uint32_t root_id, uint32_t plugin_config_size) {
    if (!enter_root(root_id)) {
        pw_logf(PW_LOG_ERROR, "proxy_wasm: configure for unknown root context %u", (unsigned)root_id);
        return 0;
    }
    return pw_on_configure ? pw_on_configure(root_id, plugin_config_size) : 1;
}

PW_EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t context_id) {
    return pw_on_done && enter_context(context_id) ? pw_on_done(context_id) : 1;
}

PW_EXPORT(proxy_on_log) void proxy_on_log(uint32_t context_id) {
    if (pw_on_log && enter_context(context_id)) {
        pw_on_log(context_id);
    }
}

PW_EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t context_id) {
    ctx_slot *s = ctx_find(context_id);
    if (s == NULL) {
        return;
    }
    bool root = s->root == context_id;
    ctx_current = context_id;
    if (pw_on_delete) {
        pw_on_delete(context_id);
    }
    if (root) {
        drop_callouts(context_id);
        if (only_root == context_id) {
            only_root = 0;
        }
    }
    ctx_remove(context_id);
    ctx_current = 0;
}

PW_EXPORT(proxy_on_tick) void proxy_on_tick(uint32_t root_id) {
    if (enter_root(root_id) && pw_on_tick) {
        pw_on_tick(root_id);
    }
}

PW_EXPORT(proxy_on_request_headers)
pw_action_t proxy_on_request_headers(uint32_t id, uint32_t num_headers, uint32_t eos) {
    if (enter_stream(id) && pw_on_request_headers) {
        return pw_on_request_headers(id, num_headers, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_request_body)
pw_action_t proxy_on_request_body(uint32_t id, uint32_t body_size, uint32_t eos) {
    if (enter_stream(id) && pw_on_request_body) {
        return pw_on_request_body(id, body_size, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_request_trailers)
pw_action_t proxy_on_request_trailers(uint32_t id, uint32_t num_trailers) {
    if (enter_stream(id) && pw_on_request_trailers) {
        return pw_on_request_trailers(id, num_trailers);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_response_headers)
pw_action_t proxy_on_response_headers(uint32_t id, uint32_t num_headers, uint32_t eos) {
    if (enter_stream(id) && pw_on_response_headers) {
        return pw_on_response_headers(id, num_headers, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_response_body)
pw_action_t proxy_on_response_body(uint32_t id, uint32_t body_size, uint32_t eos) {
    if (enter_stream(id) && pw_on_response_body) {
        return pw_on_response_body(id, body_size, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_response_trailers)
pw_action_t proxy_on_response_trailers(uint32_t id, uint32_t num_trailers) {
    if (enter_stream(id) && pw_on_response_trailers) {
        return pw_on_response_trailers(id, num_trailers);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_new_connection) pw_action_t proxy_on_new_connection(uint32_t id) {
    if (enter_stream(id) && pw_on_new_connection) {
        return pw_on_new_connection(id);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_downstream_data)
pw_action_t proxy_on_downstream_data(uint32_t id, uint32_t data_size, uint32_t eos) {
    if (enter_stream(id) && pw_on_downstream_data) {
        return pw_on_downstream_data(id, data_size, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_upstream_data)
pw_action_t proxy_on_upstream_data(uint32_t id, uint32_t data_size, uint32_t eos) {
    if (enter_stream(id) && pw_on_upstream_data) {
        return pw_on_upstream_data(id, data_size, eos != 0);
    }
    return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_downstream_connection_close)
void proxy_on_downstream_connection_close(uint32_t id, pw_peer_type_t peer) {
    if (enter_stream(id) && pw_on_downstream_connection_close) {
        pw_on_downstream_connection_close(id, peer);
    }
}

PW_EXPORT(proxy_on_upstream_connection_close)
void proxy_on_upstream_connection_close(uint32_t id, pw_peer_type_t peer) {
    if (enter_stream(id) && pw_on_upstream_connection_close) {
        pw_on_upstream_connection_close(id, peer);
    }
}

PW_EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t root_id, uint32_t token, uint32_t num_headers,
                                 uint32_t body_size, uint32_t num_trailers) {
    if (!enter_root(root_id)) {
        return;
    }
    callout *c = take_callout(root_id, token);
    if (c == NULL) {
        if (pw_on_http_call_response) {
            pw_on_http_call_response(root_id, token, num_headers, body_size, num_trailers);
        }
        return;
    }
    /* Make host calls in the callback act on the stream that dispatched
     * the call (e.g. pw_resume_http_request), if it is still alive. */
    if (c->from != root_id && ctx_find(c->from) != NULL &&
        proxy_set_effective_context(c->from) == PW_OK) {
        ctx_current = c->from;
    }
    pw_http_callback cb = c->cb;
    void *user = c->user;
    free(c);
    cb(user, num_headers, body_size, num_trailers);
}

PW_EXPORT(proxy_on_grpc_receive_initial_metadata)
void proxy_on_grpc_receive_initial_metadata(uint32_t root_id, uint32_t token, uint32_t n) {
    if (enter_root(root_id) && pw_on_grpc_receive_initial_metadata) {
        pw_on_grpc_receive_initial_metadata(root_id, token, n);
    }
}

PW_EXPORT(proxy_on_grpc_receive)
void proxy_on_grpc_receive(uint32_t root_id, uint32_t token, uint32_t message_size) {
    if (enter_root(root_id) && pw_on_grpc_receive) {
        pw_on_grpc_receive(root_id, token, message_size);
    }
}

PW_EXPORT(proxy_on_grpc_receive_trailing_metadata)
void proxy_on_grpc_receive_trailing_metadata(uint32_t root_id, uint32_t token, uint32_t n) {
    if (enter_root(root_id) && pw_on_grpc_receive_trailing_metadata) {
        pw_on_grpc_receive_trailing_metadata(root_id, token, n);
    }
}

PW_EXPORT(proxy_on_grpc_close)
void proxy_on_grpc_close(uint32_t root_id, uint32_t token, uint32_t grpc_status) {
    if (enter_root(root_id) && pw_on_grpc_close) {
        pw_on_grpc_close(root_id, token, grpc_status);
    }
}

PW_EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root_id, uint32_t queue_id) {
    if (enter_root(root_id) && pw_on_queue_ready) {
        pw_on_queue_ready(root_id, queue_id);
    }
}

PW_EXPORT(proxy_on_foreign_function)
void proxy_on_foreign_function(uint32_t root_id, uint32_t function_id, uint32_t args_size) {
    if (enter_root(root_id) && pw_on_foreign_function) {
        pw_on_foreign_function(root_id, function_id, args_size);
    }
}

/* ======================================================================== */
/* Buffers, statuses, logging                                               */
/* ======================================================================== */

void pw_bytes_free(pw_bytes_t *b) {
    if (b != NULL) {
        free(b->data);
        b->data = NULL;
        b->size = 0;
    }
}

static const char *const status_names[] = {
    "OK",           "NOT_FOUND",         "BAD_ARGUMENT",     "SERIALIZATION_FAILURE",
    "PARSE_FAILURE", "BAD_EXPRESSION",   "INVALID_MEMORY_ACCESS", "EMPTY",
    "CAS_MISMATCH", "RESULT_MISMATCH",   "INTERNAL_FAILURE", "BROKEN_CONNECTION",
    "UNIMPLEMENTED",
};

const char *pw_status_name(pw_status_t st) {
    return st < sizeof status_names / sizeof status_names[0] ? status_names[st] : "UNKNOWN";
}

/* result finishes a host call that returned a blob: on failure it frees
 * whatever the host may have allocated and leaves out empty. */
static pw_status_t result(pw_status_t st, char *ptr, size_t size, pw_bytes_t *out) {
    if (st != PW_OK) {
        free(ptr);
        ptr = NULL;
        size = 0;
    }
    if (size == 0 && ptr != NULL) {
        free(ptr);
        ptr = NULL;
    }
    out->data = ptr;
    out->size = ptr != NULL ? size : 0;
    return st;
}

pw_status_t pw_log(pw_log_level_t level, const char *msg, size_t len) {
    return proxy_log(level, msg, len);
}

/* ---- A small printf ---------------------------------------------------
 * wasi-libc's vsnprintf drags in stdio (and so the WASI imports fd_write,
 * fd_seek and fd_close) to report unsupported long doubles on stderr. This
 * formatter keeps plugins free of WASI imports and ~25 KiB smaller. It
 * supports the flags '-', '0', '+', ' ', '#', width and precision (also
 * '*'), the length modifiers hh h l ll j z t, and the conversions
 * d i u o x X c s p %. Floating-point conversions, %lc and %ls are not
 * supported: their argument is consumed and the spec is printed as is (e.g.
 * "%.2f"); %n writes nothing. */

typedef struct sink {
    char *buf;
    size_t cap; /* bytes of buf usable */
    size_t len; /* bytes the full output needs */
} sink;

static void sink_put(sink *k, const char *s, size_t n) {
    if (k->len < k->cap) {
        size_t room = k->cap - k->len;
        memcpy(k->buf + k->len, s, n < room ? n : room);
    }
    k->len += n;
}

static void sink_pad(sink *k, char c, size_t n) {
    while (n-- > 0) {
        sink_put(k, &c, 1);
    }
}

static void format(sink *k, const char *fmt, va_list ap) {
    while (*fmt != 0) {
        const char *pct = strchr(fmt, '%');
        if (pct == NULL) {
            sink_put(k, fmt, strlen(fmt));
            return;
        }
        sink_put(k, fmt, (size_t)(pct - fmt));
        const char *spec = pct++;
        bool left = false, zero = false, plus = false, space = false, alt = false;
        for (;; pct++) {
            if (*pct == '-') {
                left = true;
            } else if (*pct == '0') {
                zero = true;
            } else if (*pct == '+') {
                plus = true;
            } else if (*pct == ' ') {
                space = true;
            } else if (*pct == '#') {
                alt = true;
            } else {
                break;
            }
        }
        size_t width = 0;
        if (*pct == '*') {
            int w = va_arg(ap, int);
            if (w < 0) {
                left = true;
                w = -w;
            }
            width = (size_t)w;
            pct++;
        } else {
            while (*pct >= '0' && *pct <= '9') {
                width = width * 10 + (size_t)(*pct++ - '0');
            }
        }
        int prec = -1;
        if (*pct == '.') {
            pct++;
            if (*pct == '*') {
                prec = va_arg(ap, int);
                pct++;
            } else {
                prec = 0;
                while (*pct >= '0' && *pct <= '9') {
                    prec = prec * 10 + (*pct++ - '0');
                }
            }
        }
        int size = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 intmax_t, 4 size_t, 5 ptrdiff_t */
        bool long_double = false;
        switch (*pct) {
        case 'h': size = pct[1] == 'h' ? -2 : -1, pct += pct[1] == 'h' ? 2 : 1; break;
        case 'l': size = pct[1] == 'l' ? 2 : 1, pct += pct[1] == 'l' ? 2 : 1; break;
        case 'j': size = 3, pct++; break;
        case 'z': size = 4, pct++; break;
        case 't': size = 5, pct++; break;
        case 'L': long_double = true, pct++; break;
        default: break;
        }
        char conv = *pct;
        if (conv == 0) { /* a lone '%' at the end */
            sink_put(k, spec, (size_t)(pct - spec));
            return;
        }
        fmt = pct + 1;
        char tmp[24];
        const char *body = tmp;
        size_t body_len = 0;
        const char *prefix = "";
        switch (conv) {
        case '%':
            sink_put(k, "%", 1);
            continue;
        case 'n': /* writes nothing: consume the pointer */
            (void)va_arg(ap, void *);
            continue;
        case 'c':
            if (size == 1) { /* %lc: wide characters are not supported */
                (void)va_arg(ap, int);
                sink_put(k, spec, (size_t)(fmt - spec));
                continue;
            }
            tmp[0] = (char)va_arg(ap, int);
            body_len = 1;
            break;
        case 's':
            if (size == 1) { /* %ls: wide strings are not supported */
                (void)va_arg(ap, void *);
                sink_put(k, spec, (size_t)(fmt - spec));
                continue;
            }
            body = va_arg(ap, const char *);
            if (body == NULL) {
                body = "(null)";
            }
            if (prec >= 0) {
                const char *nul = memchr(body, 0, (size_t)prec);
                body_len = nul != NULL ? (size_t)(nul - body) : (size_t)prec;
            } else {
                body_len = strlen(body);
            }
            break;
        case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': case 'p': {
            uint64_t v;
            bool neg = false;
            if (conv == 'p') {
                v = (uintptr_t)va_arg(ap, void *);
                alt = true;
            } else if (conv == 'd' || conv == 'i') {
                int64_t sv;
                switch (size) {
                case 1: sv = va_arg(ap, long); break;
                case 2: sv = va_arg(ap, long long); break;
                case 3: sv = va_arg(ap, intmax_t); break;
                case 4: sv = (int64_t)va_arg(ap, size_t); break;
                case 5: sv = va_arg(ap, ptrdiff_t); break;
                default: sv = va_arg(ap, int); break;
                }
                if (size == -1) {
                    sv = (short)sv;
                } else if (size == -2) {
                    sv = (signed char)sv;
                }
                neg = sv < 0;
                v = neg ? 0 - (uint64_t)sv : (uint64_t)sv;
            } else {
                switch (size) {
                case 1: v = va_arg(ap, unsigned long); break;
                case 2: v = va_arg(ap, unsigned long long); break;
                case 3: v = va_arg(ap, uintmax_t); break;
                case 4: v = va_arg(ap, size_t); break;
                case 5: v = (uint64_t)va_arg(ap, ptrdiff_t); break;
                default: v = va_arg(ap, unsigned); break;
                }
                if (size == -1) {
                    v = (unsigned short)v;
                } else if (size == -2) {
                    v = (unsigned char)v;
                }
            }
            unsigned base = conv == 'o' ? 8 : (conv == 'x' || conv == 'X' || conv == 'p') ? 16 : 10;
            const char *digits = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            char *p = tmp + sizeof tmp;
            while (v != 0) {
                *--p = digits[v % base];
                v /= base;
            }
            size_t n = (size_t)(tmp + sizeof tmp - p);
            size_t min_digits = prec >= 0 ? (size_t)prec : 1;
            if (conv == 'o' && alt && min_digits <= n) {
                min_digits = n + 1; /* "#o" starts with 0 */
            }
            while (n < min_digits && p > tmp) {
                *--p = '0';
                n++;
            }
            body = p;
            body_len = n;
            if (neg) {
                prefix = "-";
            } else if ((conv == 'd' || conv == 'i') && (plus || space)) {
                prefix = plus ? "+" : " ";
            } else if (alt && base == 16 && (conv == 'p' || n != 0)) {
                prefix = conv == 'X' ? "0X" : "0x";
            }
            if (prec >= 0) {
                zero = false; /* a precision disables '0' padding */
            }
            break;
        }
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
            if (long_double) {
                (void)va_arg(ap, long double);
            } else {
                (void)va_arg(ap, double);
            }
            sink_put(k, spec, (size_t)(fmt - spec));
            continue;
        default: /* unknown conversion: print it as is */
            sink_put(k, spec, (size_t)(fmt - spec));
            continue;
        }
        size_t plen = strlen(prefix);
        size_t pad = width > plen + body_len ? width - plen - body_len : 0;
        bool numeric = conv != 's' && conv != 'c';
        if (!left && !(zero && numeric)) {
            sink_pad(k, ' ', pad);
        }
        sink_put(k, prefix, plen);
        if (!left && zero && numeric) {
            sink_pad(k, '0', pad);
        }
        sink_put(k, body, body_len);
        if (left) {
            sink_pad(k, ' ', pad);
        }
    }
}

pw_status_t pw_vlogf(pw_log_level_t level, const char *fmt, va_list ap) {
    char stack[512];
    va_list ap2;
    va_copy(ap2, ap);
    sink k = {stack, sizeof stack, 0};
    format(&k, fmt, ap);
    if (k.len <= sizeof stack) {
        va_end(ap2);
        return proxy_log(level, stack, k.len);
    }
    size_t len = k.len < PW_MAX_LOG_BYTES ? k.len : PW_MAX_LOG_BYTES;
    char *heap = malloc(len);
    if (heap == NULL) { /* log what fits rather than nothing */
        va_end(ap2);
        return proxy_log(level, stack, sizeof stack);
    }
    k = (sink){heap, len, 0};
    format(&k, fmt, ap2);
    va_end(ap2);
    pw_status_t st = proxy_log(level, heap, len);
    free(heap);
    return st;
}

pw_status_t pw_logf(pw_log_level_t level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pw_status_t st = pw_vlogf(level, fmt, ap);
    va_end(ap);
    return st;
}

pw_status_t pw_get_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t max_size,
                                pw_bytes_t *out) {
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_get_buffer_bytes(type, start, max_size, &ptr, &size);
    return result(st, ptr, size, out);
}

pw_status_t pw_set_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t size,
                                const char *data, size_t len) {
    return proxy_set_buffer_bytes(type, start, size, data, len);
}

pw_status_t pw_get_plugin_configuration(pw_bytes_t *out) {
    return pw_get_buffer_bytes(PW_BUFFER_PLUGIN_CONFIGURATION, 0, PW_MAX_BUFFER, out);
}

pw_status_t pw_get_vm_configuration(pw_bytes_t *out) {
    return pw_get_buffer_bytes(PW_BUFFER_VM_CONFIGURATION, 0, PW_MAX_BUFFER, out);
}

/* ======================================================================== */
/* Pairs                                                                    */
/* ======================================================================== */

static uint32_t get_u32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static void put_u32(char *p, uint32_t v) {
    p[0] = (char)v;
    p[1] = (char)(v >> 8);
    p[2] = (char)(v >> 16);
    p[3] = (char)(v >> 24);
}

size_t pw_pairs_size(const pw_pair_t *pairs, size_t n) {
    uint64_t size = 4;
    for (size_t i = 0; i < n; i++) {
        size += 8 + (uint64_t)pairs[i].key_len + 1 + (uint64_t)pairs[i].value_len + 1;
        if (size > UINT32_MAX) {
            return 0;
        }
    }
    return (size_t)size;
}

size_t pw_pairs_encode(char *dst, const pw_pair_t *pairs, size_t n) {
    char *p = dst;
    put_u32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        put_u32(p, (uint32_t)pairs[i].key_len);
        put_u32(p + 4, (uint32_t)pairs[i].value_len);
        p += 8;
    }
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].key_len) {
            memcpy(p, pairs[i].key, pairs[i].key_len);
        }
        p += pairs[i].key_len;
        *p++ = 0;
        if (pairs[i].value_len) {
            memcpy(p, pairs[i].value, pairs[i].value_len);
        }
        p += pairs[i].value_len;
        *p++ = 0;
    }
    return (size_t)(p - dst);
}

pw_status_t pw_pairs_iter_init(pw_pairs_iter_t *it, const char *buf, size_t len) {
    *it = (pw_pairs_iter_t){buf, 0, 0, 0};
    if (len > PW_MAX_PAIRS_BYTES) {
        return PW_PARSE_FAILURE;
    }
    if (len == 0 || (len == 1 && buf[0] == 0)) {
        return PW_OK;
    }
    if (len < 4) {
        return PW_PARSE_FAILURE;
    }
    uint32_t count = get_u32(buf);
    if (count > PW_MAX_PAIRS_COUNT || len - 4 < (size_t)count * 8) {
        return PW_PARSE_FAILURE;
    }
    /* len <= 1 MiB, so no overflow below: every length is bounded by the
     * remaining buffer before it is added. */
    size_t data = 4 + (size_t)count * 8;
    for (uint32_t i = 0; i < 2 * count; i++) {
        uint32_t l = get_u32(buf + 4 + 4 * (size_t)i);
        if (l >= len - data) { /* need l bytes plus the NUL */
            return PW_PARSE_FAILURE;
        }
        data += l;
        if (buf[data] != 0) {
            return PW_PARSE_FAILURE;
        }
        data++;
    }
    if (data != len) {
        return PW_PARSE_FAILURE;
    }
    it->count = count;
    it->data = 4 + (size_t)count * 8;
    return PW_OK;
}

bool pw_pairs_next(pw_pairs_iter_t *it, pw_pair_t *out) {
    if (it->next >= it->count) {
        return false;
    }
    size_t kl = get_u32(it->buf + 4 + 8 * (size_t)it->next);
    size_t vl = get_u32(it->buf + 8 + 8 * (size_t)it->next);
    out->key = it->buf + it->data;
    out->key_len = kl;
    out->value = it->buf + it->data + kl + 1;
    out->value_len = vl;
    it->data += kl + 1 + vl + 1;
    it->next++;
    return true;
}

/* Serialized pairs up to this size are built on the stack. */
#define PW_PAIRS_STACK 512

/* with_pairs serializes pairs into a stack or heap buffer and hands it to
 * fn (ptr NULL, len 0 when n is 0). */
typedef pw_status_t (*pairs_fn)(const char *buf, size_t len, void *arg);

static pw_status_t with_pairs(const pw_pair_t *pairs, size_t n, pairs_fn fn, void *arg) {
    if (n == 0) {
        return fn(NULL, 0, arg);
    }
    size_t size = pw_pairs_size(pairs, n);
    if (size == 0) {
        return PW_BAD_ARGUMENT;
    }
    char stack[PW_PAIRS_STACK];
    char *buf = size <= sizeof stack ? stack : malloc(size);
    if (buf == NULL) {
        return PW_INTERNAL_FAILURE;
    }
    pw_pairs_encode(buf, pairs, n);
    pw_status_t st = fn(buf, size, arg);
    if (buf != stack) {
        free(buf);
    }
    return st;
}

/* ======================================================================== */
/* Header maps                                                              */
/* ======================================================================== */

pw_status_t pw_get_header_n(pw_map_type_t map, const char *key, size_t key_len, pw_bytes_t *out) {
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_get_header_map_value(map, key, key_len, &ptr, &size);
    return result(st, ptr, size, out);
}

pw_status_t pw_get_header(pw_map_type_t map, const char *key, pw_bytes_t *out) {
    return pw_get_header_n(map, key, strlen(key), out);
}

pw_status_t pw_add_header_n(pw_map_type_t map, const char *key, size_t key_len, const char *value,
                            size_t value_len) {
    return proxy_add_header_map_value(map, key, key_len, value, value_len);
}

pw_status_t pw_add_header(pw_map_type_t map, const char *key, const char *value) {
    return proxy_add_header_map_value(map, key, strlen(key), value, strlen(value));
}

pw_status_t pw_replace_header_n(pw_map_type_t map, const char *key, size_t key_len,
                                const char *value, size_t value_len) {
    return proxy_replace_header_map_value(map, key, key_len, value, value_len);
}

pw_status_t pw_replace_header(pw_map_type_t map, const char *key, const char *value) {
    return proxy_replace_header_map_value(map, key, strlen(key), value, strlen(value));
}

pw_status_t pw_remove_header_n(pw_map_type_t map, const char *key, size_t key_len) {
    return proxy_remove_header_map_value(map, key, key_len);
}

pw_status_t pw_remove_header(pw_map_type_t map, const char *key) {
    return proxy_remove_header_map_value(map, key, strlen(key));
}

pw_status_t pw_get_headers(pw_map_type_t map, pw_bytes_t *out) {
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_get_header_map_pairs(map, &ptr, &size);
    return result(st, ptr, size, out);
}

static pw_status_t set_headers_fn(const char *buf, size_t len, void *arg) {
    pw_map_type_t map = *(const pw_map_type_t *)arg;
    if (buf == NULL) { /* an empty map is count 0, not zero bytes */
        static const char empty[4];
        return proxy_set_header_map_pairs(map, empty, sizeof empty);
    }
    return proxy_set_header_map_pairs(map, buf, len);
}

pw_status_t pw_set_headers(pw_map_type_t map, const pw_pair_t *pairs, size_t n) {
    return with_pairs(pairs, n, set_headers_fn, &map);
}

/* ======================================================================== */
/* Stream control                                                           */
/* ======================================================================== */

typedef struct local_response {
    uint32_t status;
    const char *details;
    size_t details_len;
    const char *body;
    size_t body_len;
    uint32_t grpc_status;
} local_response;

static pw_status_t local_response_fn(const char *buf, size_t len, void *arg) {
    const local_response *r = arg;
    return proxy_send_local_response(r->status, r->details, r->details_len, r->body, r->body_len,
                                     buf, len, r->grpc_status);
}

pw_status_t pw_send_local_response(uint32_t status_code, const char *details, size_t details_len,
                                   const char *body, size_t body_len, const pw_pair_t *headers,
                                   size_t n_headers, uint32_t grpc_status) {
    local_response r = {status_code, details, details_len, body, body_len, grpc_status};
    return with_pairs(headers, n_headers, local_response_fn, &r);
}

pw_status_t pw_send_http_response(uint32_t status_code, const pw_pair_t *headers, size_t n_headers,
                                  const char *body, size_t body_len) {
    return pw_send_local_response(status_code, NULL, 0, body, body_len, headers, n_headers,
                                  PW_GRPC_STATUS_NONE);
}

pw_status_t pw_resume_http_request(void) { return proxy_continue_stream(PW_STREAM_HTTP_REQUEST); }

pw_status_t pw_resume_http_response(void) { return proxy_continue_stream(PW_STREAM_HTTP_RESPONSE); }

pw_status_t pw_reset_http_stream(void) { return proxy_close_stream(PW_STREAM_HTTP_REQUEST); }

/* ======================================================================== */
/* HTTP callouts                                                            */
/* ======================================================================== */

pw_status_t pw_dispatch_http_call(const char *upstream, const pw_pair_t *headers, size_t n_headers,
                                  const char *body, size_t body_len, const pw_pair_t *trailers,
                                  size_t n_trailers, uint32_t timeout_ms,
                                  pw_http_callback callback, void *user, uint32_t *token) {
    uint32_t tok = 0;
    if (token != NULL) {
        *token = 0;
    }
    size_t hsize = pw_pairs_size(headers, n_headers);
    size_t tsize = n_trailers ? pw_pairs_size(trailers, n_trailers) : 0;
    if (hsize == 0 || (n_trailers && tsize == 0)) {
        return PW_BAD_ARGUMENT;
    }
    uint32_t root = pw_root_context_id(ctx_current);
    callout *c = NULL;
    if (callback != NULL) {
        if (root == 0) {
            return PW_BAD_ARGUMENT; /* not inside a callback of a known context */
        }
        c = malloc(sizeof *c);
        if (c == NULL) {
            return PW_INTERNAL_FAILURE;
        }
    }
    char *buf = malloc(hsize + tsize);
    if (buf == NULL) {
        free(c);
        return PW_INTERNAL_FAILURE;
    }
    pw_pairs_encode(buf, headers, n_headers);
    if (tsize) {
        pw_pairs_encode(buf + hsize, trailers, n_trailers);
    }
    pw_status_t st = proxy_http_call(upstream, strlen(upstream), buf, hsize, body, body_len,
                                     tsize ? buf + hsize : NULL, tsize, timeout_ms, &tok);
    free(buf);
    if (st != PW_OK) {
        free(c);
        return st;
    }
    if (c != NULL) {
        *c = (callout){tok, root, ctx_current, callback, user, callouts};
        callouts = c;
    }
    if (token != NULL) {
        *token = tok;
    }
    return PW_OK;
}

/* ======================================================================== */
/* Properties, shared data, queues, metrics, foreign functions              */
/* ======================================================================== */

/* join_path joins segments with NUL into a malloc'd buffer (no trailing
 * NUL, like the Rust and Go SDKs). */
static char *join_path(const char *const *path, size_t n, size_t *len) {
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        size += strlen(path[i]) + 1;
    }
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return NULL;
    }
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(path[i]);
        memcpy(p, path[i], l);
        p += l;
        *p++ = 0;
    }
    *len = size ? size - 1 : 0;
    return buf;
}

pw_status_t pw_get_property(const char *const *path, size_t n_segments, pw_bytes_t *out) {
    *out = (pw_bytes_t){NULL, 0};
    size_t len = 0;
    char *p = join_path(path, n_segments, &len);
    if (p == NULL) {
        return PW_INTERNAL_FAILURE;
    }
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_get_property(p, len, &ptr, &size);
    free(p);
    return result(st, ptr, size, out);
}

pw_status_t pw_set_property(const char *const *path, size_t n_segments, const char *value,
                            size_t value_len) {
    size_t len = 0;
    char *p = join_path(path, n_segments, &len);
    if (p == NULL) {
        return PW_INTERNAL_FAILURE;
    }
    pw_status_t st = proxy_set_property(p, len, value, value_len);
    free(p);
    return st;
}

pw_status_t pw_get_shared_data(const char *key, pw_bytes_t *out, uint32_t *cas) {
    char *ptr = NULL;
    size_t size = 0;
    uint32_t c = 0;
    pw_status_t st = proxy_get_shared_data(key, strlen(key), &ptr, &size, &c);
    if (cas != NULL) {
        *cas = st == PW_OK ? c : 0;
    }
    return result(st, ptr, size, out);
}

pw_status_t pw_set_shared_data(const char *key, const char *value, size_t value_len, uint32_t cas) {
    return proxy_set_shared_data(key, strlen(key), value, value_len, cas);
}

pw_status_t pw_register_shared_queue(const char *name, uint32_t *queue_id) {
    return proxy_register_shared_queue(name, strlen(name), queue_id);
}

pw_status_t pw_resolve_shared_queue(const char *vm_id, const char *name, uint32_t *queue_id) {
    return proxy_resolve_shared_queue(vm_id, strlen(vm_id), name, strlen(name), queue_id);
}

pw_status_t pw_enqueue_shared_queue(uint32_t queue_id, const char *value, size_t value_len) {
    return proxy_enqueue_shared_queue(queue_id, value, value_len);
}

pw_status_t pw_dequeue_shared_queue(uint32_t queue_id, pw_bytes_t *out) {
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_dequeue_shared_queue(queue_id, &ptr, &size);
    return result(st, ptr, size, out);
}

pw_status_t pw_define_metric(pw_metric_type_t type, const char *name, uint32_t *metric_id) {
    return proxy_define_metric(type, name, strlen(name), metric_id);
}

pw_status_t pw_increment_metric(uint32_t metric_id, int64_t offset) {
    return proxy_increment_metric(metric_id, offset);
}

pw_status_t pw_record_metric(uint32_t metric_id, uint64_t value) {
    return proxy_record_metric(metric_id, value);
}

pw_status_t pw_get_metric(uint32_t metric_id, uint64_t *value) {
    return proxy_get_metric(metric_id, value);
}

pw_status_t pw_call_foreign_function(const char *name, const char *args, size_t args_len,
                                     pw_bytes_t *out) {
    char *ptr = NULL;
    size_t size = 0;
    pw_status_t st = proxy_call_foreign_function(name, strlen(name), args, args_len, &ptr, &size);
    return result(st, ptr, size, out);
}

/* ======================================================================== */
/* JSON reader                                                              */
/* ======================================================================== */

/* Go's encoding/json nesting limit: depth 10000 is accepted, 10001 not. */
#define JSON_MAX_DEPTH 10000

static bool json_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t json_skip_ws(const unsigned char *s, size_t i, size_t n) {
    while (i < n && json_ws(s[i])) {
        i++;
    }
    return i;
}

static int json_hex(unsigned char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* json_scan_string validates the string starting at s[i] == '"' and
 * returns the index after its closing quote, or 0 if invalid. Like Go's
 * scanner it accepts any byte >= 0x20 (invalid UTF-8 is replaced when
 * decoding) and rejects control characters. */
static size_t json_scan_string(const unsigned char *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"') {
            return i + 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c != '\\') {
            continue;
        }
        if (++i >= n) {
            return 0;
        }
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (n - i < 5) {
                return 0;
            }
            for (int k = 1; k <= 4; k++) {
                if (json_hex(s[i + k]) < 0) {
                    return 0;
                }
            }
            i += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

static bool json_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* json_scan_number returns the index after the number at s[i], or 0. */
static size_t json_scan_number(const unsigned char *s, size_t i, size_t n) {
    if (i < n && s[i] == '-') {
        i++;
    }
    if (i >= n || !json_digit(s[i])) {
        return 0;
    }
    if (s[i] == '0') {
        i++;
    } else {
        while (i < n && json_digit(s[i])) {
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        if (++i >= n || !json_digit(s[i])) {
            return 0;
        }
        while (i < n && json_digit(s[i])) {
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= n || !json_digit(s[i])) {
            return 0;
        }
        while (i < n && json_digit(s[i])) {
            i++;
        }
    }
    return i;
}

static size_t json_scan_literal(const unsigned char *s, size_t i, size_t n, const char *lit) {
    size_t l = strlen(lit);
    if (n - i < l || memcmp(s + i, lit, l) != 0) {
        return 0;
    }
    return i + l;
}

static pw_json_kind_t json_kind(unsigned char c) {
    switch (c) {
    case 'n': return PW_JSON_NULL;
    case 't': case 'f': return PW_JSON_BOOL;
    case '"': return PW_JSON_STRING;
    case '[': return PW_JSON_ARRAY;
    case '{': return PW_JSON_OBJECT;
    default: return (c == '-' || json_digit(c)) ? PW_JSON_NUMBER : PW_JSON_INVALID;
    }
}

/* json_member_name scans `"name" ws : ws` at s[i] and returns the index of
 * the value, or 0. */
static size_t json_member_name(const unsigned char *s, size_t i, size_t n) {
    if (i >= n || s[i] != '"' || (i = json_scan_string(s, i, n)) == 0) {
        return 0;
    }
    i = json_skip_ws(s, i, n);
    if (i >= n || s[i] != ':') {
        return 0;
    }
    return json_skip_ws(s, i + 1, n);
}

bool pw_json_parse(const char *doc, size_t len, pw_json_t *out) {
    *out = (pw_json_t){NULL, 0, PW_JSON_INVALID};
    const unsigned char *s = (const unsigned char *)doc;
    /* One bit per open container: 1 object, 0 array. Iterative, so hostile
     * nesting cannot overflow the (small, unguarded) wasm stack. */
    static uint8_t stack[(JSON_MAX_DEPTH + 7) / 8];
    size_t depth = 0;
    size_t i = json_skip_ws(s, 0, len);
    size_t start = i;
    for (;;) {
        /* Expect a value at s[i]. */
        if (i >= len) {
            return false;
        }
        unsigned char c = s[i];
        if (c == '{' || c == '[') {
            if (depth == JSON_MAX_DEPTH) {
                return false;
            }
            bool obj = c == '{';
            if (obj) {
                stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
            } else {
                stack[depth / 8] &= (uint8_t)~(1u << (depth % 8));
            }
            depth++;
            i = json_skip_ws(s, i + 1, len);
            if (i < len && s[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
                goto after_value;
            }
            if (obj && (i = json_member_name(s, i, len)) == 0) {
                return false;
            }
            continue;
        }
        switch (json_kind(c)) {
        case PW_JSON_STRING: i = json_scan_string(s, i, len); break;
        case PW_JSON_NUMBER: i = json_scan_number(s, i, len); break;
        case PW_JSON_NULL: i = json_scan_literal(s, i, len, "null"); break;
        case PW_JSON_BOOL: i = json_scan_literal(s, i, len, c == 't' ? "true" : "false"); break;
        default: return false;
        }
        if (i == 0) {
            return false;
        }
    after_value:
        for (;;) {
            size_t end = i;
            i = json_skip_ws(s, i, len);
            if (depth == 0) {
                if (i != len) {
                    return false;
                }
                *out = (pw_json_t){doc + start, end - start, json_kind(s[start])};
                return true;
            }
            bool obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
            if (i >= len) {
                return false;
            }
            if (s[i] == ',') {
                i = json_skip_ws(s, i + 1, len);
                if (obj && (i = json_member_name(s, i, len)) == 0) {
                    return false;
                }
                break; /* expect the next value */
            }
            if (s[i] != (obj ? '}' : ']')) {
                return false;
            }
            depth--;
            i++;
        }
    }
}

/* json_skip_value returns the index after the (already validated) value
 * starting at s[i]. */
static size_t json_skip_value(const unsigned char *s, size_t i, size_t n) {
    unsigned char c = s[i];
    if (c == '"') {
        return json_scan_string(s, i, n);
    }
    if (c != '{' && c != '[') {
        while (i < n && !json_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') {
            i++;
        }
        return i;
    }
    size_t depth = 0;
    while (i < n) {
        c = s[i];
        if (c == '"') {
            i = json_scan_string(s, i, n);
            continue;
        }
        i++;
        if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            break;
        }
    }
    return i;
}

/* json_next steps over one member (object) or element (array) of v. */
static bool json_next(const pw_json_t *v, size_t *pos, pw_json_t *name, pw_json_t *value) {
    const unsigned char *s = (const unsigned char *)v->ptr;
    size_t n = v->len;
    size_t i = *pos == 0 ? 1 : *pos;
    i = json_skip_ws(s, i, n);
    if (i >= n || s[i] == '}' || s[i] == ']') {
        *pos = n;
        return false;
    }
    if (s[i] == ',') {
        i = json_skip_ws(s, i + 1, n);
    }
    if (name != NULL) {
        size_t end = json_scan_string(s, i, n);
        *name = (pw_json_t){v->ptr + i, end - i, PW_JSON_STRING};
        i = json_skip_ws(s, end, n);
        i = json_skip_ws(s, i + 1, n); /* ':' */
    }
    size_t end = json_skip_value(s, i, n);
    *value = (pw_json_t){v->ptr + i, end - i, json_kind(s[i])};
    *pos = end;
    return true;
}

bool pw_json_object_next(const pw_json_t *obj, size_t *pos, pw_json_t *name, pw_json_t *value) {
    if (obj->kind != PW_JSON_OBJECT) {
        return false;
    }
    return json_next(obj, pos, name, value);
}

bool pw_json_array_next(const pw_json_t *arr, size_t *pos, pw_json_t *elem) {
    if (arr->kind != PW_JSON_ARRAY) {
        return false;
    }
    return json_next(arr, pos, NULL, elem);
}

#define RUNE_ERROR 0xFFFD

/* utf8_decode decodes one rune at s[0:n) (n >= 1) like Go's
 * utf8.DecodeRune: invalid or overlong sequences, surrogates and values
 * above U+10FFFF decode as (U+FFFD, 1). */
static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *width) {
    unsigned char c = s[0];
    *width = 1;
    if (c < 0x80) {
        return c;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    int32_t r;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, r = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, r = c & 0x0F;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, r = c & 0x07;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return RUNE_ERROR;
    }
    if (n < need + 1 || s[1] < lo || s[1] > hi) {
        return RUNE_ERROR;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k > 1 && (s[k] < 0x80 || s[k] > 0xBF)) {
            return RUNE_ERROR;
        }
        r = r << 6 | (s[k] & 0x3F);
    }
    *width = need + 1;
    return r;
}

static size_t utf8_encode(int32_t r, char *dst) {
    unsigned char b[4];
    size_t n;
    if (r < 0x80) {
        b[0] = (unsigned char)r, n = 1;
    } else if (r < 0x800) {
        b[0] = (unsigned char)(0xC0 | r >> 6), b[1] = (unsigned char)(0x80 | (r & 0x3F)), n = 2;
    } else if (r < 0x10000) {
        b[0] = (unsigned char)(0xE0 | r >> 12), b[1] = (unsigned char)(0x80 | (r >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (r & 0x3F)), n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | r >> 18), b[1] = (unsigned char)(0x80 | (r >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (r >> 6 & 0x3F)), b[3] = (unsigned char)(0x80 | (r & 0x3F));
        n = 4;
    }
    if (dst != NULL) {
        memcpy(dst, b, n);
    }
    return n;
}

static int32_t json_u4(const unsigned char *s, size_t i, size_t end) {
    if (end - i < 6 || s[i] != '\\' || s[i + 1] != 'u') {
        return -1;
    }
    int32_t r = 0;
    for (int k = 2; k < 6; k++) {
        int h = json_hex(s[i + k]);
        if (h < 0) {
            return -1;
        }
        r = r << 4 | h;
    }
    return r;
}

/* json_rune decodes the next rune of a validated string body s[*i:end),
 * as Go's encoding/json unquote does. */
static int32_t json_rune(const unsigned char *s, size_t *i, size_t end) {
    size_t w;
    if (s[*i] != '\\') {
        int32_t r = utf8_decode(s + *i, end - *i, &w);
        *i += w;
        return r;
    }
    unsigned char e = s[*i + 1];
    *i += 2;
    switch (e) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return e; /* '"', '\\', '/' */
    }
    int32_t r = json_u4(s, *i - 2, end);
    *i += 4;
    if (r >= 0xD800 && r < 0xE000) {
        int32_t r2 = json_u4(s, *i, end);
        if (r < 0xDC00 && r2 >= 0xDC00 && r2 < 0xE000) {
            *i += 6;
            return 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
        }
        return RUNE_ERROR; /* unpaired surrogate; the next escape stays */
    }
    return r;
}

size_t pw_json_unquote(const pw_json_t *str, char *dst) {
    if (str->kind != PW_JSON_STRING || str->len < 2) {
        return 0;
    }
    const unsigned char *s = (const unsigned char *)str->ptr;
    size_t end = str->len - 1, n = 0;
    for (size_t i = 1; i < end;) {
        n += utf8_encode(json_rune(s, &i, end), dst ? dst + n : NULL);
    }
    return n;
}

char *pw_json_strdup(const pw_json_t *s, size_t *len) {
    size_t n = pw_json_unquote(s, NULL);
    char *out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    pw_json_unquote(s, out);
    out[n] = 0;
    if (len != NULL) {
        *len = n;
    }
    return out;
}

/* json_fold maps a rune to its encoding/json folded form (Go's
 * unicode.ToUpper(unicode.ToLower(r))) when that form is ASCII, else -1.
 * The only non-ASCII runes folding to ASCII are K (Kelvin sign), long s and
 * the two Turkish i's. */
static int32_t json_fold(int32_t r) {
    if (r >= 'a' && r <= 'z') {
        return r - 'a' + 'A';
    }
    if (r < 0x80) {
        return r;
    }
    switch (r) {
    case 0x212A: return 'K';
    case 0x017F: return 'S';
    case 0x0130: case 0x0131: return 'I';
    default: return -1;
    }
}

bool pw_json_name_equal(const pw_json_t *str, const char *name) {
    if (str->kind != PW_JSON_STRING || str->len < 2) {
        return false;
    }
    const unsigned char *s = (const unsigned char *)str->ptr;
    size_t end = str->len - 1, i = 1;
    for (; *name != 0; name++) {
        if (i >= end || json_fold(json_rune(s, &i, end)) != json_fold((unsigned char)*name)) {
            return false;
        }
    }
    return i == end;
}
