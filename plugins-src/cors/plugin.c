/*
 * cors: Weir's built-in cors plugin, Kong's bundled CORS plugin (priority
 * 2000, access + header_filter) as a proxy-wasm module written with sdk/c.
 *
 * Preflight requests (OPTIONS with Origin and Access-Control-Request-Method)
 * are answered locally with 200 unless preflight_continue is set; other
 * requests get Access-Control-Allow-Origin, -Credentials and
 * -Expose-Headers on the response. The plugin never rejects a request.
 * Origin patterns are Go (RE2) regexps, translated to POSIX EREs
 * (internal/kongc/re.h) and matched by wasi-libc's regexec. See README.md.
 *
 * Build: go tool task builtins:build -- cors (see plugins-src/README.md).
 */
#include <regex.h>

#include "../internal/kongc/re.h"

#define NAME "cors"
#define MAX_LIST 256 /* entries per list */

static const char *const default_methods[] = {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"};
#define N_METHODS 9

/* origin is one compiled config.origins entry. */
typedef struct origin {
    bool is_re;
    regex_t re;    /* is_re */
    kc_str domain; /* plain entries, normalized scheme://host[:port] */
    bool by_host;  /* the entry has no ':': a regex matches the host only */
} origin;

/* rules is a validated configuration, ready for the data path. */
typedef struct rules {
    unsigned refs;
    bool allow_all;   /* no origins, or exactly ["*"] */
    kc_str single;    /* one plain origin: sent verbatim */
    origin *origins;
    size_t n_origins;
    bool any_star; /* "*" among several origins */
    kc_str headers, exposed, methods, max_age;
    bool credentials, private_network, preflight_continue, allow_absent;
} rules;

static void rules_release(rules *r) {
    if (r == NULL || --r->refs > 0) return;
    for (size_t i = 0; i < r->n_origins; i++) {
        if (r->origins[i].is_re) regfree(&r->origins[i].re);
        kc_str_free(&r->origins[i].domain);
    }
    free(r->origins);
    kc_str_free(&r->single);
    kc_str_free(&r->headers);
    kc_str_free(&r->exposed);
    kc_str_free(&r->methods);
    kc_str_free(&r->max_age);
    free(r);
}

/* ---- configuration (kong.Decode's rules: exact field names) ---- */

static bool failf(const char *fmt, const char *field, long idx) {
    if (idx >= 0) PW_LOG_ERROR(NAME ": invalid configuration: config.%s[%ld]: %s", field, idx, fmt);
    else PW_LOG_ERROR(NAME ": invalid configuration: config.%s: %s", field, fmt);
    return false;
}

static const char *kind_name(pw_json_kind_t k) {
    switch (k) {
    case PW_JSON_NULL: return "null";
    case PW_JSON_BOOL: return "bool";
    case PW_JSON_NUMBER: return "number";
    case PW_JSON_STRING: return "string";
    case PW_JSON_ARRAY: return "array";
    case PW_JSON_OBJECT: return "object";
    default: return "invalid";
    }
}

/* list is a decoded []string (null: not set). */
typedef struct list {
    bool set;
    kc_str *e;
    size_t n;
} list;

static void list_free(list *l) {
    for (size_t i = 0; i < l->n; i++) kc_str_free(&l->e[i]);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static bool get_list(const pw_json_t *v, const char *field, list *out) {
    list_free(out);
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_ARRAY) {
        PW_LOG_ERROR(NAME ": invalid configuration: config.%s: expected an array, got %s", field, kind_name(v->kind));
        return false;
    }
    out->set = true;
    pw_json_t e;
    size_t pos = 0;
    while (pw_json_array_next(v, &pos, &e)) {
        if (out->n == MAX_LIST) return failf("too many entries (at most 256)", field, -1);
        if (out->e == NULL) {
            out->e = calloc(MAX_LIST, sizeof *out->e);
            if (out->e == NULL) return failf("out of memory", field, -1);
        }
        kc_str *s = &out->e[out->n++];
        if (e.kind == PW_JSON_NULL) { /* encoding/json: "" */
            if (!kc_str_dup(s, "", 0)) return failf("out of memory", field, -1);
            continue;
        }
        if (e.kind != PW_JSON_STRING) {
            PW_LOG_ERROR(NAME ": invalid configuration: config.%s: expected a string, got %s", field, kind_name(e.kind));
            return false;
        }
        s->data = pw_json_strdup(&e, &s->len);
        if (s->data == NULL) return failf("out of memory", field, -1);
    }
    return true;
}

static bool get_bool(const pw_json_t *v, const char *field, bool *out) {
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_BOOL) {
        PW_LOG_ERROR(NAME ": invalid configuration: config.%s: expected a boolean, got %s", field, kind_name(v->kind));
        return false;
    }
    *out = v->ptr[0] == 't';
    return true;
}

/* join joins l with ',' into out. */
static bool join(const list *l, kc_str *out) {
    kc_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0) kc_buf_putc(&b, ',');
        kc_buf_put(&b, l->e[i].data, l->e[i].len);
    }
    bool ok = !b.oom && kc_str_dup(out, b.p ? b.p : "", b.len);
    kc_buf_free(&b);
    return ok;
}

/* is_plain: ^[A-Za-z0-9.:/-]+$ */
static bool is_plain(const kc_str *s) {
    if (s->len == 0) return false;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->data[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '/' || c == '-'))
            return false;
    }
    return true;
}

/* normalize computes Kong's normalized origin (scheme://host[:port],
 * default ports dropped) into domain, and the host's span in s. A value
 * without "scheme://" is its own domain and host. */
static bool normalize(const char *s, size_t n, kc_buf *domain, const char **host, size_t *host_len) {
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    if (sep == NULL || (size_t)(sep - s) + 3 == n) {
        kc_buf_put(domain, s, n);
        *host = s;
        *host_len = n;
        return !domain->oom;
    }
    size_t scheme_len = (size_t)(sep - s);
    const char *hp = sep + 3;
    size_t hl = n - scheme_len - 3;
    for (size_t i = 0; i < hl; i++)
        if (hp[i] == '/' || hp[i] == '?' || hp[i] == '#') {
            hl = i;
            break;
        }
    for (size_t i = hl; i > 0; i--)
        if (hp[i - 1] == '@') {
            hp += i;
            hl -= i;
            break;
        }
    const char *h = hp, *port = NULL;
    size_t h_len = hl, port_len = 0;
    if (!(hl > 0 && hp[hl - 1] == ']')) {
        for (size_t i = hl; i > 0; i--)
            if (hp[i - 1] == ':') {
                h_len = i - 1;
                port = hp + i;
                port_len = hl - i;
                break;
            }
    }
    if ((kc_eq(s, scheme_len, "http", 4) && kc_eq(port, port_len, "80", 2)) ||
        (kc_eq(s, scheme_len, "https", 5) && kc_eq(port, port_len, "443", 3)))
        port = NULL, port_len = 0;
    kc_buf_put(domain, s, scheme_len);
    kc_buf_puts(domain, "://");
    kc_buf_put(domain, h, h_len);
    if (port_len > 0) {
        kc_buf_putc(domain, ':');
        kc_buf_put(domain, port, port_len);
    }
    *host = h;
    *host_len = h_len;
    return !domain->oom;
}

static bool quote_log(const char *field, long i, const kc_str *e, const char *why) {
    kc_buf q = {0};
    kc_buf_json_str(&q, e->data, e->len > 512 ? 512 : e->len, false);
    PW_LOG_ERROR(NAME ": invalid configuration: config.%s[%ld]: %.*s is neither \"*\" nor a valid regex: %s", field, i,
                 (int)q.len, q.p ? q.p : "", why);
    kc_buf_free(&q);
    return false;
}

/* compile validates the decoded fields (in the Go plugin's order) and
 * precomputes what requests need. */
static bool compile(rules *r, list *origins, list *headers, list *exposed, list *methods, bool has_max_age, double max_age) {
    if (methods->set) {
        for (size_t i = 0; i < methods->n; i++) {
            bool ok = false;
            for (int m = 0; m < N_METHODS; m++)
                if (kc_eq(methods->e[i].data, methods->e[i].len, default_methods[m], strlen(default_methods[m]))) ok = true;
            if (!ok) return failf("expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT", "methods", (long)i);
        }
        if (!join(methods, &r->methods)) return failf("out of memory", "methods", -1);
    } else {
        if (!kc_str_dup(&r->methods, "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT", 52)) return failf("out of memory", "methods", -1);
    }
    if (has_max_age) {
        if (max_age < 0 || max_age > 9.2e18 || max_age != (double)(int64_t)max_age) return failf("must be a non-negative integer", "max_age", -1);
        char num[24];
        int nl = snprintf(num, sizeof num, "%lld", (long long)(int64_t)max_age);
        if (!kc_str_dup(&r->max_age, num, (size_t)nl)) return failf("out of memory", "max_age", -1);
    }
    const list *hl[2] = {headers, exposed};
    const char *hf[2] = {"headers", "exposed_headers"};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < hl[k]->n; i++) {
            const kc_str *h = &hl[k]->e[i];
            if (h->len == 0 || memchr(h->data, '\r', h->len) || memchr(h->data, '\n', h->len))
                return failf("must be a non-empty header name", hf[k], (long)i);
        }
    if (!join(headers, &r->headers) || !join(exposed, &r->exposed)) return failf("out of memory", "headers", -1);
    size_t n = origins->n;
    if (n == 0 || (n == 1 && kc_eq(origins->e[0].data, origins->e[0].len, "*", 1))) {
        r->allow_all = true;
        return true;
    }
    if (n == 1 && is_plain(&origins->e[0])) {
        if (!kc_str_dup(&r->single, origins->e[0].data, origins->e[0].len)) return failf("out of memory", "origins", -1);
        return true;
    }
    r->origins = calloc(n, sizeof *r->origins);
    if (r->origins == NULL) return failf("out of memory", "origins", -1);
    for (size_t i = 0; i < n; i++) {
        const kc_str *e = &origins->e[i];
        if (kc_eq(e->data, e->len, "*", 1)) {
            r->any_star = true;
            continue;
        }
        origin *o = &r->origins[r->n_origins];
        o->by_host = memchr(e->data, ':', e->len) == NULL;
        if (!is_plain(e)) {
            /* Kong appends "$" and drops a leading "^", then matches
             * anchored at the start: a full match. */
            const char *src = e->data;
            size_t sl = e->len;
            if (sl > 0 && src[0] == '^') src++, sl--;
            if (sl > 0 && src[sl - 1] == '$') sl--;
            kc_buf ere = {0};
            const char *why = kc_re2_to_ere(src, sl, &ere);
            if (why == NULL) {
                kc_buf_putc(&ere, '\0');
                if (ere.oom) why = "out of memory";
            }
            if (why == NULL) {
                int rc = regcomp(&o->re, ere.p, REG_EXTENDED | REG_NOSUB);
                if (rc != 0) {
                    static char msg[128];
                    regerror(rc, &o->re, msg, sizeof msg);
                    why = msg;
                } else {
                    o->is_re = true;
                }
            }
            kc_buf_free(&ere);
            if (why != NULL) return quote_log("origins", (long)i, e, why);
        } else {
            kc_buf d = {0};
            const char *h;
            size_t hlen;
            if (!normalize(e->data, e->len, &d, &h, &hlen) || !kc_str_dup(&o->domain, d.p ? d.p : "", d.len)) {
                kc_buf_free(&d);
                return failf("out of memory", "origins", (long)i);
            }
            kc_buf_free(&d);
        }
        r->n_origins++;
    }
    return true;
}

static const char *const fields[] = {"origins", "headers", "exposed_headers", "methods", "max_age", "credentials",
                                     "private_network", "preflight_continue", "allow_origin_absent"};

static bool parse_config(const char *raw, size_t len, rules *r) {
    list origins = {0}, headers = {0}, exposed = {0}, methods = {0};
    bool has_max_age = false, ok = true;
    double max_age = 0;
    r->allow_absent = true;
    if (!kc_json_is_blank(raw, len)) {
        pw_json_t doc, name, v;
        if (!pw_json_parse(raw, len, &doc)) {
            PW_LOG_ERROR(NAME ": invalid configuration: config: not valid JSON");
            return false;
        }
        if (doc.kind != PW_JSON_OBJECT) {
            PW_LOG_ERROR(NAME ": invalid configuration: config: must be a JSON object, got %s", kind_name(doc.kind));
            return false;
        }
        size_t pos = 0;
        while (ok && pw_json_object_next(&doc, &pos, &name, &v)) {
            char key[32];
            kc_json_name(&name, key, sizeof key);
            int f = -1;
            for (int i = 0; i < 9; i++)
                if (strcmp(key, fields[i]) == 0) f = i;
            switch (f) {
            case 0: ok = get_list(&v, "origins", &origins); break;
            case 1: ok = get_list(&v, "headers", &headers); break;
            case 2: ok = get_list(&v, "exposed_headers", &exposed); break;
            case 3: ok = get_list(&v, "methods", &methods); break;
            case 4:
                if (v.kind == PW_JSON_NULL) {
                    has_max_age = false;
                } else if (!kc_json_number(&v, &max_age)) {
                    PW_LOG_ERROR(NAME ": invalid configuration: config.max_age: expected a number, got %s", kind_name(v.kind));
                    ok = false;
                } else {
                    has_max_age = true;
                }
                break;
            case 5: ok = get_bool(&v, "credentials", &r->credentials); break;
            case 6: ok = get_bool(&v, "private_network", &r->private_network); break;
            case 7: ok = get_bool(&v, "preflight_continue", &r->preflight_continue); break;
            case 8:
                if (v.kind == PW_JSON_NULL) r->allow_absent = true; /* *bool nil: the default */
                else ok = get_bool(&v, "allow_origin_absent", &r->allow_absent);
                break;
            default: {
                kc_buf q = {0};
                size_t nl = pw_json_unquote(&name, NULL);
                char *tmp = malloc(nl + 1);
                if (tmp != NULL) {
                    nl = pw_json_unquote(&name, tmp);
                    kc_buf_put(&q, tmp, nl > 200 ? 200 : nl);
                    free(tmp);
                }
                PW_LOG_ERROR(NAME ": invalid configuration: config.%.*s: unknown field", (int)q.len, q.p ? q.p : "");
                kc_buf_free(&q);
                ok = false;
            }
            }
        }
    }
    if (ok) ok = compile(r, &origins, &headers, &exposed, &methods, has_max_age, max_age);
    list_free(&origins);
    list_free(&headers);
    list_free(&exposed);
    list_free(&methods);
    return ok;
}

/* ---- header operations: Kong's set_header / add_header / clear_header ---- */

#define MAX_OPS 12

typedef struct ops {
    pw_pair_t set[MAX_OPS];
    size_t n_set;
    pw_pair_t add[2];
    size_t n_add;
    bool clear_acao;
} ops;

static void set_h(ops *o, const char *k, const char *v, size_t vl) {
    if (o->n_set == MAX_OPS) return;
    pw_pair_t p = {k, strlen(k), v, vl};
    o->set[o->n_set++] = p;
}

/* vary is Kong's add_vary_header: set in access, added in header_filter. */
static void vary(ops *o, bool header_filter) {
    if (header_filter) {
        if (o->n_add < 2) {
            pw_pair_t p = PW_PAIR("vary", "Origin");
            o->add[o->n_add++] = p;
        }
    } else {
        set_h(o, "vary", "Origin", 6);
    }
}

/* configure_origin is Kong's configure_origin; it reports whether every
 * origin is allowed ("*"). domain must outlive o. */
static bool configure_origin(const rules *r, ops *o, bool header_filter, const kc_str *req_origin, bool has_origin, kc_buf *domain) {
    if (r->allow_all) {
        set_h(o, "access-control-allow-origin", "*", 1);
        return true;
    }
    vary(o, header_filter);
    if (r->single.data != NULL) {
        set_h(o, "access-control-allow-origin", r->single.data, r->single.len);
        return false;
    }
    if (has_origin) {
        if (r->any_star) {
            set_h(o, "access-control-allow-origin", "*", 1);
            return true;
        }
        const char *host;
        size_t host_len;
        if (normalize(req_origin->data ? req_origin->data : "", req_origin->len, domain, &host, &host_len)) {
            char *subj = NULL;
            for (size_t i = 0; i < r->n_origins; i++) {
                const origin *c = &r->origins[i];
                bool found;
                if (c->is_re) {
                    const char *sp = c->by_host ? host : domain->p;
                    size_t sl = c->by_host ? host_len : domain->len;
                    free(subj);
                    subj = malloc(sl + 1);
                    if (subj == NULL) break;
                    memcpy(subj, sp ? sp : "", sl);
                    subj[sl] = '\0';
                    found = strlen(subj) == sl && regexec(&c->re, subj, 0, NULL, 0) == 0;
                } else {
                    found = kc_eq(domain->p, domain->len, c->domain.data, c->domain.len);
                }
                if (found) {
                    free(subj);
                    set_h(o, "access-control-allow-origin", domain->p ? domain->p : "", domain->len);
                    return false;
                }
            }
            free(subj);
        }
    }
    o->clear_acao = true;
    return false;
}

/* configure_credentials is Kong's configure_credentials. */
static void configure_credentials(const rules *r, ops *o, bool allow_all, bool header_filter, const kc_str *req_origin, bool has_origin) {
    if (!r->credentials) return;
    if (!allow_all) {
        set_h(o, "access-control-allow-credentials", "true", 4);
        return;
    }
    if (has_origin) {
        vary(o, header_filter);
        set_h(o, "access-control-allow-origin", req_origin->data ? req_origin->data : "", req_origin->len);
        set_h(o, "access-control-allow-credentials", "true", 4);
    }
}

/* collapse turns the sets of o into a header list in out: later sets
 * replace earlier ones (in place), the clear drops its header. */
static size_t collapse(const ops *o, pw_pair_t *out) {
    size_t n = 0;
    for (size_t i = 0; i < o->n_set; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n; j++)
            if (kc_eq(out[j].key, out[j].key_len, o->set[i].key, o->set[i].key_len)) {
                out[j] = o->set[i];
                replaced = true;
            }
        if (!replaced) out[n++] = o->set[i];
    }
    if (o->clear_acao) {
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (!kc_eq(out[j].key, out[j].key_len, "access-control-allow-origin", 27)) out[k++] = out[j];
        n = k;
    }
    return n;
}

/* ---- contexts ---- */

typedef struct stream {
    rules *r;
    bool skip; /* preflight handled (or delegated): no response headers */
    bool has_origin;
    kc_str origin;
} stream;

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        rules *r = calloc(1, sizeof *r);
        if (r != NULL) {
            r->refs = 1;
            if (parse_config("", 0, r)) pw_set_context_data(context_id, r);
            else rules_release(r);
        }
        return;
    }
    rules *r = pw_context_data(root_id);
    stream *s = calloc(1, sizeof *s);
    if (r != NULL && s != NULL) {
        r->refs++;
        s->r = r;
        pw_set_context_data(context_id, s);
    } else {
        free(s);
    }
}

void pw_on_delete(uint32_t context_id) {
    if (pw_root_context_id(context_id) == context_id) {
        rules_release(pw_context_data(context_id));
        return;
    }
    stream *s = pw_context_data(context_id);
    if (s != NULL) {
        rules_release(s->r);
        kc_str_free(&s->origin);
        free(s);
    }
}

bool pw_on_configure(uint32_t root_id, uint32_t config_size) {
    (void)config_size;
    rules *old = pw_context_data(root_id);
    pw_bytes_t raw = {0};
    if (old == NULL || !kc_config_text(&raw)) {
        PW_LOG_ERROR(NAME ": invalid configuration: cannot read the plugin configuration");
        return false;
    }
    rules *r = calloc(1, sizeof *r);
    bool ok = r != NULL;
    if (ok) {
        r->refs = 1;
        ok = parse_config(raw.data, raw.size, r);
    }
    pw_bytes_free(&raw);
    if (!ok) {
        rules_release(r);
        return false; /* the running configuration stays */
    }
    pw_set_context_data(root_id, r);
    rules_release(old);
    return true;
}

/* ---- data path ---- */

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    (void)end_of_stream;
    stream *s = pw_context_data(context_id);
    if (s == NULL) return PW_ACTION_CONTINUE; /* never rejects */
    pw_bytes_t v;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "origin", &v) == PW_OK) {
        s->has_origin = true;
        if (!kc_str_dup(&s->origin, v.data ? v.data : "", v.size)) s->has_origin = false;
    }
    pw_bytes_free(&v);
    if (!s->has_origin) return PW_ACTION_CONTINUE;
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":method", &v);
    bool options = kc_eq(v.data, v.size, "OPTIONS", 7);
    pw_bytes_free(&v);
    if (!options) return PW_ACTION_CONTINUE;
    pw_status_t st = pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "access-control-request-method", &v);
    pw_bytes_free(&v);
    if (st != PW_OK) return PW_ACTION_CONTINUE;
    s->skip = true;
    const rules *r = s->r;
    if (r->preflight_continue) return PW_ACTION_CONTINUE;
    pw_bytes_t acrh, pna;
    bool has_acrh = pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "access-control-request-headers", &acrh) == PW_OK;
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "access-control-request-private-network", &pna);
    ops o = {0};
    kc_buf domain = {0};
    bool allow_all = configure_origin(r, &o, false, &s->origin, true, &domain);
    configure_credentials(r, &o, allow_all, false, &s->origin, true);
    if (r->headers.len > 0) set_h(&o, "access-control-allow-headers", r->headers.data, r->headers.len);
    else if (has_acrh) set_h(&o, "access-control-allow-headers", acrh.data ? acrh.data : "", acrh.size);
    set_h(&o, "access-control-allow-methods", r->methods.data, r->methods.len);
    if (r->max_age.data != NULL) set_h(&o, "access-control-max-age", r->max_age.data, r->max_age.len);
    if (r->private_network && kc_eq(pna.data, pna.size, "true", 4)) set_h(&o, "access-control-allow-private-network", "true", 4);
    pw_pair_t hs[MAX_OPS];
    size_t n = collapse(&o, hs);
    pw_action_t a = kc_exit(200, hs, n, NULL, 0);
    kc_buf_free(&domain);
    pw_bytes_free(&acrh);
    pw_bytes_free(&pna);
    return a;
}

pw_action_t pw_on_response_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    (void)end_of_stream;
    stream *s = pw_context_data(context_id);
    if (s == NULL || s->skip || (!s->has_origin && !s->r->allow_absent)) return PW_ACTION_CONTINUE;
    const rules *r = s->r;
    ops o = {0};
    kc_buf domain = {0};
    bool allow_all = configure_origin(r, &o, true, &s->origin, s->has_origin, &domain);
    configure_credentials(r, &o, allow_all, true, &s->origin, s->has_origin);
    if (r->exposed.len > 0) set_h(&o, "access-control-expose-headers", r->exposed.data, r->exposed.len);
    /* Apply in Kong's call order: each call acts on the headers as the
     * previous ones left them. */
    for (size_t i = 0; i < o.n_add; i++)
        pw_add_header_n(PW_MAP_HTTP_RESPONSE_HEADERS, o.add[i].key, o.add[i].key_len, o.add[i].value, o.add[i].value_len);
    ops sets = o;
    sets.clear_acao = false;
    pw_pair_t hs[MAX_OPS];
    size_t n = collapse(&sets, hs);
    for (size_t i = 0; i < n; i++)
        pw_replace_header_n(PW_MAP_HTTP_RESPONSE_HEADERS, hs[i].key, hs[i].key_len, hs[i].value, hs[i].value_len);
    /* A clear never meets a set of the same header in one pass: Kong
     * clears Access-Control-Allow-Origin only when it sets none. */
    if (o.clear_acao) pw_remove_header(PW_MAP_HTTP_RESPONSE_HEADERS, "access-control-allow-origin");
    kc_buf_free(&domain);
    return PW_ACTION_CONTINUE;
}
