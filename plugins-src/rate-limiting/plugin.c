/*
 * rate-limiting: Weir's built-in rate-limiting plugin, Kong's
 * rate-limiting (priority 910, access + header_filter) as a proxy-wasm
 * module written with sdk/c. It counts requests per identifier (limit_by)
 * in fixed windows through the host's counters (weir.counter_incr): in
 * process memory for policy local, in Redis for policy redis, shared by
 * every Weir process using that server (the host reads the redis settings
 * and owns the connections; fault_tolerant decides what a counter failure
 * does).
 *
 * Build: go tool task builtins:build -- rate-limiting (see plugins-src/README.md).
 */
#include "../internal/kongc/kong.h"

#define NAME "rate-limiting"
#define N_WINDOWS 6
#define MAX_ID 4096 /* longer identifiers are cut (the host caps counter keys anyway) */

/* Kong's EXPIRATION table (kong/plugins/rate-limiting/expiration.lua). */
static const struct {
    const char *name, *title;
    int64_t secs;
} windows[N_WINDOWS] = {
    {"second", "Second", 1},      {"minute", "Minute", 60},    {"hour", "Hour", 3600},
    {"day", "Day", 86400},        {"month", "Month", 2592000}, {"year", "Year", 31536000},
};

enum limit_by { BY_CONSUMER, BY_CREDENTIAL, BY_IP, BY_SERVICE, BY_HEADER, BY_PATH };
static const char *const limit_by_names[] = {"consumer", "credential", "ip", "service", "header", "path"};
static const size_t limit_by_lens[] = {8, 10, 2, 7, 6, 4};

/* period is one configured window with what the hot path needs precomputed. */
typedef struct period {
    int w; /* index into windows */
    int64_t limit;
    char limit_str[24], window_str[24];
    char limit_hdr[40], remain_hdr[40]; /* lower-case header names */
    /* their lengths, and the window name's: the hot path never calls strlen */
    size_t limit_len, window_len, limit_hdr_len, remain_hdr_len, name_len;
} period;

/* config is Kong's rate-limiting schema, defaults included. */
typedef struct config {
    unsigned refs;
    bool has[N_WINDOWS];
    double val[N_WINDOWS];
    int limit_by;
    kc_str header_name, path, error_message;
    bool fault_tolerant, hide_client_headers;
    int64_t error_code;
    period periods[N_WINDOWS];
    size_t n_periods;
} config;

static void config_release(config *c) {
    if (c == NULL || --c->refs > 0) return;
    kc_str_free(&c->header_name);
    kc_str_free(&c->path);
    kc_str_free(&c->error_message);
    free(c);
}

static config *config_new(void) {
    config *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->refs = 1;
    c->limit_by = BY_CONSUMER;
    c->fault_tolerant = true;
    c->error_code = 429;
    static const char msg[] = "API rate limit exceeded";
    if (!kc_str_dup(&c->error_message, msg, sizeof msg - 1)) {
        free(c);
        return NULL;
    }
    return c;
}

static bool fail(const char *msg) {
    PW_LOG_ERROR("config: %s", msg);
    return false;
}

static bool get_string(const pw_json_t *v, const char *field, kc_str *out) {
    if (v->kind == PW_JSON_NULL) return true; /* encoding/json: null keeps the value */
    if (v->kind != PW_JSON_STRING) {
        PW_LOG_ERROR("config: config.%s: expected a string", field);
        return false;
    }
    size_t n;
    char *d = pw_json_strdup(v, &n);
    if (d == NULL) return fail("out of memory");
    kc_str_free(out);
    out->data = d;
    out->len = n;
    return true;
}

static bool get_bool(const pw_json_t *v, const char *field, bool *out) {
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_BOOL) {
        PW_LOG_ERROR("config: config.%s: expected a boolean", field);
        return false;
    }
    *out = v->ptr[0] == 't';
    return true;
}

/* to_int64 is Go's int64(f) for the values a schema-checked limit can
 * take, saturating instead of being undefined. */
static int64_t to_int64(double f) {
    if (!(f == f)) return 0;
    if (f >= 9.2e18) return INT64_MAX;
    if (f <= -9.2e18) return INT64_MIN;
    return (int64_t)f;
}

static bool parse_config(const char *raw, size_t len, config *c) {
    if (!kc_json_is_blank(raw, len)) {
        pw_json_t doc, name, v;
        if (!pw_json_parse(raw, len, &doc)) return fail("config: not valid JSON");
        if (doc.kind != PW_JSON_OBJECT) return fail("config: must be a JSON object");
        size_t pos = 0;
        while (pw_json_object_next(&doc, &pos, &name, &v)) {
            bool matched = false;
            for (int w = 0; w < N_WINDOWS; w++) {
                if (!pw_json_name_equal(&name, windows[w].name)) continue;
                matched = true;
                if (v.kind == PW_JSON_NULL) {
                    c->has[w] = false;
                } else if (!kc_json_number(&v, &c->val[w])) {
                    PW_LOG_ERROR("config: config.%s: expected a number", windows[w].name);
                    return false;
                } else {
                    c->has[w] = true;
                }
            }
            if (matched) continue;
            if (pw_json_name_equal(&name, "limit_by")) {
                kc_str s = {0};
                if (!get_string(&v, "limit_by", &s)) return false;
                if (s.data == NULL) continue;
                int by = -1;
                for (int i = 0; i < 6; i++)
                    if (kc_eq(s.data, s.len, limit_by_names[i], strlen(limit_by_names[i]))) by = i;
                kc_str_free(&s);
                if (by < 0) return fail("config.limit_by: expected one of consumer, credential, ip, service, header, path");
                c->limit_by = by;
            } else if (pw_json_name_equal(&name, "header_name")) {
                if (!get_string(&v, "header_name", &c->header_name)) return false;
            } else if (pw_json_name_equal(&name, "path")) {
                if (!get_string(&v, "path", &c->path)) return false;
            } else if (pw_json_name_equal(&name, "policy")) {
                kc_str s = {0}; /* the host implements the policy */
                if (!get_string(&v, "policy", &s)) return false;
                kc_str_free(&s);
            } else if (pw_json_name_equal(&name, "fault_tolerant")) {
                if (!get_bool(&v, "fault_tolerant", &c->fault_tolerant)) return false;
            } else if (pw_json_name_equal(&name, "hide_client_headers")) {
                if (!get_bool(&v, "hide_client_headers", &c->hide_client_headers)) return false;
            } else if (pw_json_name_equal(&name, "error_code")) {
                if (v.kind == PW_JSON_NULL) continue;
                double d;
                if (!kc_json_number(&v, &d) || d != (double)(int64_t)d || d < 0 || d > 999)
                    return fail("config.error_code: expected an integer HTTP status");
                c->error_code = (int64_t)d;
            } else if (pw_json_name_equal(&name, "error_message")) {
                if (!get_string(&v, "error_message", &c->error_message)) return false;
            }
        }
    }
    /* Kong's entity checks, and the period list. */
    const period *prev = NULL;
    for (int w = 0; w < N_WINDOWS; w++) {
        if (!c->has[w]) continue;
        period *pd = &c->periods[c->n_periods];
        pd->w = w;
        pd->limit = to_int64(c->val[w]);
        pd->limit_len = (size_t)snprintf(pd->limit_str, sizeof pd->limit_str, "%lld", (long long)pd->limit);
        pd->window_len = (size_t)snprintf(pd->window_str, sizeof pd->window_str, "%lld", (long long)windows[w].secs);
        pd->limit_hdr_len = (size_t)snprintf(pd->limit_hdr, sizeof pd->limit_hdr, "x-ratelimit-limit-%s", windows[w].name);
        pd->remain_hdr_len = (size_t)snprintf(pd->remain_hdr, sizeof pd->remain_hdr, "x-ratelimit-remaining-%s", windows[w].name);
        pd->name_len = strlen(windows[w].name);
        if (prev != NULL && pd->limit < prev->limit) {
            PW_LOG_ERROR("config: config.%s: the limit for %s (%lld) must be greater than or equal to the limit for %s (%lld)",
                         windows[w].name, windows[w].name, (long long)pd->limit, windows[prev->w].name, (long long)prev->limit);
            return false;
        }
        prev = pd;
        c->n_periods++;
    }
    if (c->n_periods == 0) return fail("config: at least one of second, minute, hour, day, month, year is required");
    if (c->limit_by == BY_HEADER && c->header_name.len == 0) return fail("config.header_name: required when limit_by is header");
    if (c->limit_by == BY_PATH && c->path.len == 0) return fail("config.path: required when limit_by is path");
    return true;
}

/* A stream's response headers: at most 2 per window + 4, values in vals. */
#define MAX_HDRS (2 * N_WINDOWS + 4)

typedef struct stream {
    config *c;
    size_t n_hdrs;
    pw_pair_t hdrs[MAX_HDRS];
    char vals[MAX_HDRS][24];
    bool local; /* answered locally: the headers went with the answer */
    struct stream *next; /* in the free list */
} stream;

/* Finished streams are kept for the next request instead of going back
 * to malloc (an instance serves one request after another; a few are in
 * flight at once at most). */
static stream *free_streams;
static unsigned n_free_streams;
#define MAX_FREE_STREAMS 8

static stream *stream_new(void) {
    stream *s = free_streams;
    if (s != NULL) {
        free_streams = s->next;
        n_free_streams--;
        return s;
    }
    return malloc(sizeof *s);
}

static void stream_free(stream *s) {
    if (n_free_streams == MAX_FREE_STREAMS) {
        free(s);
        return;
    }
    s->next = free_streams;
    free_streams = s;
    n_free_streams++;
}

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        config *c = config_new();
        if (c != NULL) pw_set_context_data(context_id, c);
        return;
    }
    config *c = pw_context_data(root_id);
    stream *s = c != NULL ? stream_new() : NULL;
    if (s != NULL) {
        c->refs++;
        s->c = c;
        s->n_hdrs = 0;
        s->local = false;
        pw_set_context_data(context_id, s);
    }
}

void pw_on_delete(uint32_t context_id) {
    if (pw_root_context_id(context_id) == context_id) {
        config_release(pw_context_data(context_id));
        return;
    }
    stream *s = pw_context_data(context_id);
    if (s != NULL) {
        config_release(s->c);
        stream_free(s);
    }
}

bool pw_on_configure(uint32_t root_id, uint32_t config_size) {
    (void)config_size;
    config *old = pw_context_data(root_id);
    pw_bytes_t raw = {0};
    if (old == NULL) return fail("out of memory");
    if (!kc_config_text(&raw)) return fail("cannot read the plugin configuration");
    config *c = config_new();
    bool ok = c != NULL && parse_config(raw.data, raw.size, c);
    pw_bytes_free(&raw);
    if (!ok) {
        config_release(c);
        return false; /* the running configuration stays */
    }
    pw_set_context_data(root_id, c);
    config_release(old);
    return true;
}

/* ---- the data path ---- */

/* property reads a property into dst[cap) and returns its length, or -1
 * when the host has none (a longer value is cut). */
static long property(const char *const *path, size_t n, char *dst, size_t cap) {
    pw_bytes_t v;
    if (pw_get_property(path, n, &v) != PW_OK) {
        pw_bytes_free(&v);
        return -1;
    }
    size_t l = v.size < cap ? v.size : cap;
    if (l > 0) memcpy(dst, v.data, l);
    pw_bytes_free(&v);
    return (long)l;
}

/* identifier writes Kong's get_identifier into dst (room for MAX_ID + 16):
 * "<limit_by>:<value>", or "ip:<client ip>" when the value is missing. */
static size_t identifier(const config *c, char *dst) {
    static const char *const svc[] = {"weir", "service_name"};
    static const char *const consumer[] = {"weir", "consumer", "id"};
    static const char *const cred[] = {"weir", "credential", "id"};
    static const char *const url_path[] = {"request", "url_path"};
    static const char *const source[] = {"source", "address"};
    const char *by = limit_by_names[c->limit_by];
    size_t bl = limit_by_lens[c->limit_by];
    memcpy(dst, by, bl);
    dst[bl] = ':';
    char *val = dst + bl + 1;
    long n = -1;
    switch (c->limit_by) {
    case BY_SERVICE: n = property(svc, 2, val, MAX_ID); break;
    case BY_CONSUMER:
        n = property(consumer, 3, val, MAX_ID);
        if (n <= 0) n = property(cred, 3, val, MAX_ID);
        break;
    case BY_CREDENTIAL: n = property(cred, 3, val, MAX_ID); break;
    case BY_HEADER: {
        pw_bytes_t v;
        if (pw_get_header_n(PW_MAP_HTTP_REQUEST_HEADERS, c->header_name.data, c->header_name.len, &v) == PW_OK) {
            n = (long)(v.size < MAX_ID ? v.size : MAX_ID);
            if (n > 0) memcpy(val, v.data, (size_t)n);
        }
        pw_bytes_free(&v);
        break;
    }
    case BY_PATH:
        n = property(url_path, 2, val, MAX_ID);
        if (n >= 0 && !kc_eq(val, (size_t)n, c->path.data, c->path.len)) n = -1;
        break;
    }
    if (n > 0) return bl + 1 + (size_t)n;
    memcpy(dst, "ip:", 3);
    n = property(source, 2, dst + 3, MAX_ID);
    if (n <= 0) return 3;
    /* net.SplitHostPort: "host:port" or "[v6]:port"; anything else stays */
    char *a = dst + 3;
    size_t l = (size_t)n;
    if (a[0] == '[') {
        char *rb = memchr(a, ']', l);
        if (rb != NULL && (size_t)(rb - a) + 1 < l && rb[1] == ':' && memchr(rb + 2, ':', l - (size_t)(rb - a) - 2) == NULL &&
            memchr(a + 1, '[', (size_t)(rb - a) - 1) == NULL) {
            size_t hl = (size_t)(rb - a) - 1;
            memmove(a, a + 1, hl);
            return 3 + hl;
        }
        return 3 + l;
    }
    char *colon = memchr(a, ':', l);
    if (colon != NULL && memchr(colon + 1, ':', l - (size_t)(colon - a) - 1) == NULL && memchr(a, ']', l) == NULL)
        return 3 + (size_t)(colon - a);
    return 3 + l;
}

/* incr adds delta to the counter id + ":" + window name and stores the
 * new value; the status of the call otherwise. */
static pw_status_t incr(const char *id, size_t id_len, const period *pd, const char *delta, size_t delta_len, int64_t *out) {
    char key[MAX_ID + 32];
    const char *wn = windows[pd->w].name;
    size_t wl = pd->name_len;
    memcpy(key, id, id_len);
    key[id_len] = ':';
    memcpy(key + id_len + 1, wn, wl);
    pw_pair_t args[3] = {{"key", 3, key, id_len + 1 + wl},
                         {"window_seconds", 14, pd->window_str, pd->window_len},
                         {"delta", 5, delta, delta_len}};
    char enc[MAX_ID + 128];
    size_t size = pw_pairs_size(args, 3);
    if (size > sizeof enc) return PW_BAD_ARGUMENT;
    pw_pairs_encode(enc, args, 3);
    pw_bytes_t res;
    pw_status_t st = pw_call_foreign_function("weir.counter_incr", enc, size, &res);
    if (st == PW_OK && res.size != 8) st = PW_SERIALIZATION_FAILURE; /* abi.ErrPropertyValueSize */
    if (st == PW_OK) {
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--) u = (u << 8) | (unsigned char)res.data[i];
        *out = (int64_t)u;
    }
    pw_bytes_free(&res);
    return st;
}

/* rollback takes this request out of the windows it was counted in. */
static void rollback(const config *c, const char *id, size_t id_len, size_t n) {
    int64_t ignored;
    for (size_t i = 0; i < n; i++)
        if (incr(id, id_len, &c->periods[i], "-1", 2, &ignored) != PW_OK) return;
}

static void add_hdr(stream *s, const char *name, size_t nl, const char *value, size_t vl) {
    if (s->n_hdrs == MAX_HDRS) return;
    pw_pair_t *p = &s->hdrs[s->n_hdrs++];
    p->key = name;
    p->key_len = nl;
    p->value = value;
    p->value_len = vl;
}

/* fmt_int writes v in decimal into dst (room for 21 bytes) and returns
 * the length: snprintf's "%lld" without its cost on the hot path. */
static size_t fmt_int(char *dst, int64_t v) {
    char tmp[21];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t l = 0;
    if (v < 0) dst[l++] = '-';
    while (n > 0) dst[l++] = tmp[--n];
    return l;
}

static void add_hdr_int(stream *s, const char *name, size_t nl, int64_t v) {
    if (s->n_hdrs == MAX_HDRS) return;
    char *dst = s->vals[s->n_hdrs];
    add_hdr(s, name, nl, dst, fmt_int(dst, v));
}

#define LIT(s) s, sizeof s - 1

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    (void)end_of_stream;
    stream *s = pw_context_data(context_id);
    if (s == NULL) return kc_error(500, "An unexpected error occurred", 28, NULL, 0, false);
    const config *c = s->c;
    char id[MAX_ID + 32];
    size_t id_len = identifier(c, id);
    uint64_t now_ns = 0;
    proxy_get_current_time_nanoseconds(&now_ns);
    int64_t now = (int64_t)(now_ns / 1000000000u);
    /* Count this request in every window atomically and derive the usage
     * before it (Kong reads usage, then increments asynchronously; an
     * atomic increment cannot overshoot across processes). */
    int64_t remaining[N_WINDOWS];
    int stop = -1;
    for (size_t i = 0; i < c->n_periods; i++) {
        int64_t n;
        pw_status_t st = incr(id, id_len, &c->periods[i], "1", 1, &n);
        if (st != PW_OK) {
            rollback(c, id, id_len, i);
            if (!c->fault_tolerant) {
                PW_LOG_ERROR("failed to get usage: weir.counter_incr: %s", pw_status_name(st));
                static const char msg[] = "An unexpected error occurred";
                return kc_error(500, msg, sizeof msg - 1, NULL, 0, false);
            }
            PW_LOG_ERROR("failed to get usage (fault_tolerant: request allowed): weir.counter_incr: %s", pw_status_name(st));
            return PW_ACTION_CONTINUE;
        }
        remaining[i] = c->periods[i].limit - (n - 1);
        if (remaining[i] <= 0 && stop < 0) stop = (int)i;
    }
    int64_t reset = 0;
    if (!c->hide_client_headers) {
        int64_t limit = 0, rem_min = 0, window = 0;
        bool first = true;
        for (size_t i = 0; i < c->n_periods; i++) {
            const period *pd = &c->periods[i];
            int64_t rem = remaining[i];
            if (stop < 0 || stop == (int)i) rem--;
            if (rem < 0) rem = 0;
            int64_t win = windows[pd->w].secs;
            if (first || rem < rem_min || (rem == rem_min && win > window)) {
                first = false;
                limit = pd->limit;
                window = win;
                rem_min = rem;
                reset = window - (now % window);
                if (reset < 1) reset = 1;
            }
            add_hdr(s, pd->limit_hdr, pd->limit_hdr_len, pd->limit_str, pd->limit_len);
            add_hdr_int(s, pd->remain_hdr, pd->remain_hdr_len, rem);
        }
        add_hdr_int(s, LIT("ratelimit-limit"), limit);
        add_hdr_int(s, LIT("ratelimit-remaining"), rem_min);
        add_hdr_int(s, LIT("ratelimit-reset"), reset);
    }
    if (stop < 0) return PW_ACTION_CONTINUE;
    /* Kong does not count a rejected request. */
    rollback(c, id, id_len, c->n_periods);
    if (reset > 0) add_hdr_int(s, LIT("retry-after"), reset);
    s->local = true;
    return kc_error((uint32_t)c->error_code, c->error_message.data ? c->error_message.data : "", c->error_message.len,
                    s->hdrs, s->n_hdrs, false);
}

pw_action_t pw_on_response_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    (void)end_of_stream;
    stream *s = pw_context_data(context_id);
    if (s == NULL || s->local) return PW_ACTION_CONTINUE;
    for (size_t i = 0; i < s->n_hdrs; i++) {
        const pw_pair_t *h = &s->hdrs[i];
        pw_replace_header_n(PW_MAP_HTTP_RESPONSE_HEADERS, h->key, h->key_len, h->value, h->value_len);
    }
    return PW_ACTION_CONTINUE;
}
