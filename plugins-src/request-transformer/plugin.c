/*
 * request-transformer: Weir's built-in request-transformer plugin, Kong's
 * bundled plugin of that name (priority 801, access phase) as a proxy-wasm
 * module written with sdk/c. It rewrites the request before it goes
 * upstream, in Kong's order: uri (replace.uri), method (http_method),
 * headers, body (JSON and form-urlencoded), querystring; within each part
 * remove, rename, replace (only if present), add (only if absent), append.
 *
 * Values are literal: Kong's $(...) templates need untrusted Lua, and a
 * value containing one is refused at configuration time (Kong with
 * untrusted_lua = off refuses it per request). See README.md.
 *
 * Build: go tool task builtins:build -- request-transformer (see plugins-src/README.md).
 */
#include "../internal/kongc/kong.h"

#define NAME "request-transformer"
#define MAX_LIST 1024

/* op is one parsed "name:value" entry (value empty for remove lists). */
typedef struct op {
    kc_str name, value;
} op;

typedef struct oplist {
    op *e;
    size_t n;
} oplist;

enum { REMOVE, RENAME, REPLACE, ADD, APPEND, N_OPS };
enum { HEADERS, QUERY, BODY, N_PARTS };
static const char *const op_names[N_OPS] = {"remove", "rename", "replace", "add", "append"};
static const char *const part_names[N_PARTS] = {"headers", "querystring", "body"};

/* rules is a validated configuration. */
typedef struct rules {
    unsigned refs;
    kc_str method; /* data NULL: unchanged */
    kc_str uri;    /* data NULL: unchanged */
    oplist ops[N_PARTS][N_OPS];
} rules;

static bool part_empty(const rules *r, int part) {
    for (int o = 0; o < N_OPS; o++)
        if (r->ops[part][o].n > 0) return false;
    return true;
}

static void rules_release(rules *r) {
    if (r == NULL || --r->refs > 0) return;
    for (int p = 0; p < N_PARTS; p++)
        for (int o = 0; o < N_OPS; o++) {
            for (size_t i = 0; i < r->ops[p][o].n; i++) {
                kc_str_free(&r->ops[p][o].e[i].name);
                kc_str_free(&r->ops[p][o].e[i].value);
            }
            free(r->ops[p][o].e);
        }
    kc_str_free(&r->method);
    kc_str_free(&r->uri);
    free(r);
}

/* ---- configuration (kong.Decode's rules: exact field names) ---- */

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

/* quoted appends s as Go's %q would (for messages). */
static void quoted(kc_buf *b, const kc_str *s) {
    kc_buf_json_str(b, s->data ? s->data : "", s->len > 256 ? 256 : s->len, false);
}

/* has_template: Go's \$\(.*\) ('.' does not cross a newline). */
static bool has_template(const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '$' || s[i + 1] != '(') continue;
        for (size_t j = i + 2; j < n && s[j] != '\n'; j++)
            if (s[j] == ')') return true;
    }
    return false;
}

static bool log_fail(kc_buf *msg) {
    PW_LOG_ERROR(NAME ": invalid configuration: %.*s", (int)msg->len, msg->p ? msg->p : "");
    kc_buf_free(msg);
    return false;
}

/* parse_list parses Kong's "name:value" entries (names only when pairs is
 * false) of config.<opname>.<part>. */
static bool parse_list(const pw_json_t *v, int opi, int part, oplist *out) {
    bool pairs = opi != REMOVE;
    kc_buf msg = {0};
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_ARRAY) {
        kc_buf_puts(&msg, "config.");
        kc_buf_puts(&msg, op_names[opi]);
        kc_buf_putc(&msg, '.');
        kc_buf_puts(&msg, part_names[part]);
        kc_buf_puts(&msg, ": expected an array, got ");
        kc_buf_puts(&msg, kind_name(v->kind));
        return log_fail(&msg);
    }
    for (size_t i = 0; i < out->n; i++) {
        kc_str_free(&out->e[i].name);
        kc_str_free(&out->e[i].value);
    }
    out->n = 0;
    pw_json_t e;
    size_t pos = 0, idx = 0;
    while (pw_json_array_next(v, &pos, &e)) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "config.%s.%s[%zu]: ", op_names[opi], part_names[part], idx);
        if (idx == MAX_LIST) {
            kc_buf_puts(&msg, prefix);
            kc_buf_puts(&msg, "too many entries (at most 1024)");
            return log_fail(&msg);
        }
        if (out->e == NULL) {
            out->e = calloc(MAX_LIST, sizeof *out->e);
            if (out->e == NULL) return false;
        }
        kc_str s = {0};
        if (e.kind == PW_JSON_STRING) {
            s.data = pw_json_strdup(&e, &s.len);
            if (s.data == NULL) return false;
        } else if (e.kind == PW_JSON_NULL) {
            if (!kc_str_dup(&s, "", 0)) return false;
        } else {
            kc_buf_puts(&msg, "config.");
            kc_buf_puts(&msg, op_names[opi]);
            kc_buf_putc(&msg, '.');
            kc_buf_puts(&msg, part_names[part]);
            kc_buf_puts(&msg, ": expected a string, got ");
            kc_buf_puts(&msg, kind_name(e.kind));
            return log_fail(&msg);
        }
        op *o = &out->e[out->n];
        if (has_template(s.data, s.len)) {
            kc_buf_puts(&msg, prefix);
            quoted(&msg, &s);
            kc_buf_puts(&msg, " uses a $(...) template; Weir's request-transformer takes literal values only");
            kc_str_free(&s);
            return log_fail(&msg);
        }
        if (!pairs) {
            if (s.len == 0) {
                kc_buf_puts(&msg, prefix);
                kc_buf_puts(&msg, "empty name");
                kc_str_free(&s);
                return log_fail(&msg);
            }
            o->name = s;
            if (!kc_str_dup(&o->value, "", 0)) return false;
        } else {
            char *colon = s.len ? memchr(s.data, ':', s.len) : NULL;
            if (colon == NULL || colon == s.data) {
                kc_buf_puts(&msg, prefix);
                quoted(&msg, &s);
                kc_buf_puts(&msg, " is not in the form name:value");
                kc_str_free(&s);
                return log_fail(&msg);
            }
            size_t nl = (size_t)(colon - s.data), vs = nl + 1;
            while (vs < s.len && s.data[vs] == ':') vs++; /* Kong's ^([^:]+):*(.-)$ */
            bool ok = kc_str_dup(&o->name, s.data, nl) && kc_str_dup(&o->value, s.data + vs, s.len - vs);
            kc_str_free(&s);
            if (!ok) return false;
        }
        out->n++;
        idx++;
    }
    return true;
}

static bool parse_config(const char *raw, size_t len, rules *r) {
    if (kc_json_is_blank(raw, len)) return true;
    pw_json_t doc, name, v;
    kc_buf msg = {0};
    if (!pw_json_parse(raw, len, &doc)) {
        kc_buf_puts(&msg, "config: not valid JSON");
        return log_fail(&msg);
    }
    if (doc.kind != PW_JSON_OBJECT) {
        kc_buf_puts(&msg, "config: must be a JSON object, got ");
        kc_buf_puts(&msg, kind_name(doc.kind));
        return log_fail(&msg);
    }
    kc_str http_method = {0}, uri = {0};
    bool has_method = false, has_uri = false;
    size_t pos = 0;
    bool ok = true;
    while (ok && pw_json_object_next(&doc, &pos, &name, &v)) {
        char key[32];
        kc_json_name(&name, key, sizeof key);
        int opi = -1;
        for (int o = 0; o < N_OPS; o++)
            if (strcmp(key, op_names[o]) == 0) opi = o;
        if (strcmp(key, "http_method") == 0) {
            if (v.kind == PW_JSON_NULL) {
                kc_str_free(&http_method);
                has_method = false;
            } else if (v.kind != PW_JSON_STRING) {
                kc_buf_puts(&msg, "config.http_method: expected a string, got ");
                kc_buf_puts(&msg, kind_name(v.kind));
                ok = log_fail(&msg);
            } else {
                kc_str_free(&http_method);
                http_method.data = pw_json_strdup(&v, &http_method.len);
                has_method = ok = http_method.data != NULL;
            }
        } else if (opi >= 0) {
            if (v.kind == PW_JSON_NULL) continue;
            if (v.kind != PW_JSON_OBJECT) {
                kc_buf_puts(&msg, "config.");
                kc_buf_puts(&msg, key);
                kc_buf_puts(&msg, ": expected an object, got ");
                kc_buf_puts(&msg, kind_name(v.kind));
                ok = log_fail(&msg);
                break;
            }
            pw_json_t n2, v2;
            size_t p2 = 0;
            while (ok && pw_json_object_next(&v, &p2, &n2, &v2)) {
                char k2[32];
                kc_json_name(&n2, k2, sizeof k2);
                int part = -1;
                for (int p = 0; p < N_PARTS; p++)
                    if (strcmp(k2, part_names[p]) == 0) part = p;
                if (part >= 0) {
                    ok = parse_list(&v2, opi, part, &r->ops[part][opi]);
                } else if (opi == REPLACE && strcmp(k2, "uri") == 0) {
                    if (v2.kind == PW_JSON_NULL) {
                        kc_str_free(&uri);
                        has_uri = false;
                    } else if (v2.kind != PW_JSON_STRING) {
                        kc_buf_puts(&msg, "config.replace.uri: expected a string, got ");
                        kc_buf_puts(&msg, kind_name(v2.kind));
                        ok = log_fail(&msg);
                    } else {
                        kc_str_free(&uri);
                        uri.data = pw_json_strdup(&v2, &uri.len);
                        has_uri = ok = uri.data != NULL;
                    }
                } else {
                    size_t nl = pw_json_unquote(&n2, NULL);
                    char *tmp = malloc(nl + 1);
                    kc_buf_puts(&msg, "config.");
                    kc_buf_puts(&msg, key);
                    kc_buf_putc(&msg, '.');
                    if (tmp != NULL) {
                        nl = pw_json_unquote(&n2, tmp);
                        kc_buf_put(&msg, tmp, nl > 200 ? 200 : nl);
                        free(tmp);
                    }
                    kc_buf_puts(&msg, ": unknown field");
                    ok = log_fail(&msg);
                }
            }
        } else {
            size_t nl = pw_json_unquote(&name, NULL);
            char *tmp = malloc(nl + 1);
            kc_buf_puts(&msg, "config.");
            if (tmp != NULL) {
                nl = pw_json_unquote(&name, tmp);
                kc_buf_put(&msg, tmp, nl > 200 ? 200 : nl);
                free(tmp);
            }
            kc_buf_puts(&msg, ": unknown field");
            ok = log_fail(&msg);
        }
    }
    /* compile: the Go plugin's checks, in its order */
    if (ok && has_method) {
        bool good = http_method.len > 0;
        for (size_t i = 0; i < http_method.len; i++) {
            char c = http_method.data[i];
            if (c >= 'a' && c <= 'z') c = (char)(c - 32);
            if (c < 'A' || c > 'Z') good = false;
            http_method.data[i] = c;
        }
        if (!good) {
            kc_buf_puts(&msg, "config.http_method: ");
            quoted(&msg, &http_method);
            kc_buf_puts(&msg, " is not an HTTP method (letters only)");
            ok = log_fail(&msg);
        } else {
            r->method = http_method;
            http_method.data = NULL;
        }
    }
    if (ok && has_uri) {
        bool bad = uri.len == 0;
        for (size_t i = 0; i < uri.len; i++)
            if (strchr(" \t\r\n?#", uri.data[i]) != NULL && uri.data[i] != '\0') bad = true;
        if (has_template(uri.data, uri.len)) {
            kc_buf_puts(&msg, "config.replace.uri: ");
            quoted(&msg, &uri);
            kc_buf_puts(&msg, " uses a $(...) template; Weir's request-transformer takes literal values only");
            ok = log_fail(&msg);
        } else if (bad) {
            kc_buf_puts(&msg, "config.replace.uri: ");
            quoted(&msg, &uri);
            kc_buf_puts(&msg, " is not a path");
            ok = log_fail(&msg);
        } else if (uri.data[0] != '/') {
            kc_buf b = {0};
            kc_buf_putc(&b, '/');
            kc_buf_put(&b, uri.data, uri.len);
            ok = !b.oom && kc_str_dup(&r->uri, b.p, b.len);
            kc_buf_free(&b);
        } else {
            r->uri = uri;
            uri.data = NULL;
        }
    }
    for (int o = RENAME; ok && o < N_OPS; o++) {
        const oplist *l = &r->ops[HEADERS][o];
        for (size_t i = 0; ok && i < l->n; i++) {
            const kc_str *val = &l->e[i].value;
            if (memchr(val->data, '\r', val->len) || memchr(val->data, '\n', val->len)) {
                kc_buf_puts(&msg, "config: header value for ");
                quoted(&msg, &l->e[i].name);
                kc_buf_puts(&msg, " contains a line break");
                ok = log_fail(&msg);
            }
        }
    }
    /* header names are case-insensitive: lower-case them once (the table
     * and the host compare folded; added names go upstream lower-case, as
     * the Go plugin's table wrote them) */
    for (int o = 0; ok && o < N_OPS; o++) {
        oplist *l = &r->ops[HEADERS][o];
        for (size_t i = 0; i < l->n; i++) {
            for (size_t j = 0; j < l->e[i].name.len; j++) l->e[i].name.data[j] = kc_lower(l->e[i].name.data[j]);
            if (o == RENAME)
                for (size_t j = 0; j < l->e[i].value.len; j++) l->e[i].value.data[j] = kc_lower(l->e[i].value.data[j]);
        }
    }
    kc_str_free(&http_method);
    kc_str_free(&uri);
    return ok;
}

/* ---- contexts ---- */

enum { BODY_NONE, BODY_JSON, BODY_FORM, BODY_MULTIPART };

typedef struct stream {
    rules *r;
    int body; /* body to transform at end of stream */
} stream;

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        rules *r = calloc(1, sizeof *r);
        if (r != NULL) {
            r->refs = 1;
            pw_set_context_data(context_id, r);
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

/* ---- header table: Kong's get_headers() (lower-case names, values in
 * first-seen order) ---- */

typedef struct hentry {
    kc_str name; /* lower case */
    kc_str *v;
    size_t n, cap;
} hentry;

typedef struct htab {
    hentry *e;
    size_t n, cap;
    bool oom;
} htab;

static void htab_free(htab *t) {
    for (size_t i = 0; i < t->n; i++) {
        kc_str_free(&t->e[i].name);
        for (size_t j = 0; j < t->e[i].n; j++) kc_str_free(&t->e[i].v[j]);
        free(t->e[i].v);
    }
    free(t->e);
    memset(t, 0, sizeof *t);
}

static hentry *htab_find(htab *t, const char *k, size_t kl) {
    for (size_t i = 0; i < t->n; i++)
        if (kc_eq_fold(t->e[i].name.data, t->e[i].name.len, k, kl)) return &t->e[i];
    return NULL;
}

/* htab_entry finds or appends the entry for k (lower-cased). */
static hentry *htab_entry(htab *t, const char *k, size_t kl) {
    hentry *e = htab_find(t, k, kl);
    if (e != NULL || t->oom) return e;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        hentry *ne = realloc(t->e, cap * sizeof *ne);
        if (ne == NULL) {
            t->oom = true;
            return NULL;
        }
        t->e = ne;
        t->cap = cap;
    }
    e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    if (!kc_str_dup(&e->name, k, kl)) {
        t->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < kl; i++) e->name.data[i] = kc_lower(e->name.data[i]);
    t->n++;
    return e;
}

static void hentry_push(htab *t, hentry *e, const char *v, size_t vl) {
    if (e == NULL) return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 2;
        kc_str *nv = realloc(e->v, cap * sizeof *nv);
        if (nv == NULL) {
            t->oom = true;
            return;
        }
        e->v = nv;
        e->cap = cap;
    }
    kc_str s = {0};
    if (!kc_str_dup(&s, v, vl)) {
        t->oom = true;
        return;
    }
    e->v[e->n++] = s;
}

static void hentry_clear(hentry *e) {
    for (size_t j = 0; j < e->n; j++) kc_str_free(&e->v[j]);
    e->n = 0;
}

static void htab_del(htab *t, const char *k, size_t kl) {
    hentry *e = htab_find(t, k, kl);
    if (e == NULL) return;
    hentry_clear(e);
    free(e->v);
    kc_str_free(&e->name);
    size_t i = (size_t)(e - t->e);
    memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) * sizeof *e);
    t->n--;
}

static bool htab_load(htab *t, const pw_bytes_t *pairs) {
    pw_pairs_iter_t it;
    pw_pair_t p;
    if (pairs->size == 0) return true;
    if (pw_pairs_iter_init(&it, pairs->data, pairs->size) != PW_OK) return false;
    while (pw_pairs_next(&it, &p)) {
        if (p.key_len > 0 && p.key[0] == ':') continue;
        hentry_push(t, htab_entry(t, p.key, p.key_len), p.value, p.value_len);
    }
    return !t->oom;
}

/* transform_headers is Kong's transform_headers on the table; the host
 * header is :authority in proxy-wasm, returned in *host. */
static void transform_headers(const rules *r, htab *t, const kc_str **host) {
    const oplist *l = &r->ops[HEADERS][REMOVE];
    for (size_t i = 0; i < l->n; i++) htab_del(t, l->e[i].name.data, l->e[i].name.len);
    l = &r->ops[HEADERS][RENAME];
    for (size_t i = 0; i < l->n; i++) {
        const op *o = &l->e[i];
        hentry *from = htab_find(t, o->name.data, o->name.len);
        if (from == NULL) continue;
        /* take the values, drop the old name, set the new one */
        kc_str *vals = from->v;
        size_t n = from->n, cap = from->cap;
        from->v = NULL;
        from->n = from->cap = 0;
        htab_del(t, o->name.data, o->name.len);
        hentry *to = htab_entry(t, o->value.data, o->value.len);
        if (to == NULL) {
            for (size_t j = 0; j < n; j++) kc_str_free(&vals[j]);
            free(vals);
            continue;
        }
        hentry_clear(to);
        free(to->v);
        to->v = vals;
        to->n = n;
        to->cap = cap;
    }
    l = &r->ops[HEADERS][REPLACE];
    for (size_t i = 0; i < l->n; i++) {
        const op *o = &l->e[i];
        if (kc_eq_fold(o->name.data, o->name.len, "host", 4)) {
            *host = &o->value;
            continue;
        }
        hentry *e = htab_find(t, o->name.data, o->name.len);
        if (e != NULL) {
            hentry_clear(e);
            hentry_push(t, e, o->value.data, o->value.len);
        }
    }
    l = &r->ops[HEADERS][ADD];
    for (size_t i = 0; i < l->n; i++) {
        const op *o = &l->e[i];
        if (kc_eq_fold(o->name.data, o->name.len, "host", 4)) continue;
        if (htab_find(t, o->name.data, o->name.len) == NULL)
            hentry_push(t, htab_entry(t, o->name.data, o->name.len), o->value.data, o->value.len);
    }
    l = &r->ops[HEADERS][APPEND];
    for (size_t i = 0; i < l->n; i++) {
        const op *o = &l->e[i];
        if (kc_eq_fold(o->name.data, o->name.len, "host", 4)) continue;
        hentry_push(t, htab_entry(t, o->name.data, o->name.len), o->value.data, o->value.len);
    }
}

/* apply_headers makes the request headers go from orig to t with single
 * header calls (remove, replace, add). */
static void apply_headers(htab *orig, htab *t) {
    for (size_t i = 0; i < orig->n; i++) {
        const hentry *e = &orig->e[i];
        if (htab_find(t, e->name.data, e->name.len) == NULL)
            pw_remove_header_n(PW_MAP_HTTP_REQUEST_HEADERS, e->name.data, e->name.len);
    }
    for (size_t i = 0; i < t->n; i++) {
        const hentry *e = &t->e[i];
        if (e->n == 0) continue;
        const hentry *o = htab_find(orig, e->name.data, e->name.len);
        bool same = o != NULL && o->n == e->n;
        for (size_t j = 0; same && j < e->n; j++) same = kc_eq(o->v[j].data, o->v[j].len, e->v[j].data, e->v[j].len);
        if (same) continue;
        pw_status_t st = pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, e->name.data, e->name.len, e->v[0].data, e->v[0].len);
        if (st != PW_OK) {
            PW_LOG_ERROR(NAME ": set header %.*s: %s", (int)(e->name.len > 200 ? 200 : e->name.len), e->name.data, pw_status_name(st));
            continue;
        }
        for (size_t j = 1; j < e->n; j++)
            pw_add_header_n(PW_MAP_HTTP_REQUEST_HEADERS, e->name.data, e->name.len, e->v[j].data, e->v[j].len);
    }
}

/* ---- query strings and form bodies (url.Values) ---- */

/* transform_values applies part's ops to q (Kong's transform_querystrings
 * and transform_url_encoded_body); with_existing false skips remove,
 * rename and replace (an empty body). Returns whether an op applied. */
static bool transform_values(const rules *r, int part, kc_values *q, bool with_existing) {
    bool changed = false;
    if (with_existing) {
        const oplist *l = &r->ops[part][REMOVE];
        for (size_t i = 0; i < l->n; i++, changed = true) kc_values_del(q, l->e[i].name.data, l->e[i].name.len);
        l = &r->ops[part][RENAME];
        for (size_t i = 0; i < l->n; i++, changed = true)
            kc_values_rename(q, l->e[i].name.data, l->e[i].name.len, l->e[i].value.data, l->e[i].value.len);
        l = &r->ops[part][REPLACE];
        for (size_t i = 0; i < l->n; i++) {
            const op *o = &l->e[i];
            if (kc_values_count(q, o->name.data, o->name.len, NULL) > 0) {
                kc_values_set(q, o->name.data, o->name.len, o->value.data, o->value.len);
                changed = true;
            }
        }
    }
    const oplist *l = &r->ops[part][ADD];
    for (size_t i = 0; i < l->n; i++) {
        const op *o = &l->e[i];
        if (kc_values_count(q, o->name.data, o->name.len, NULL) == 0) {
            kc_values_add(q, o->name.data, o->name.len, o->value.data, o->value.len);
            changed = true;
        }
    }
    l = &r->ops[part][APPEND];
    for (size_t i = 0; i < l->n; i++, changed = true)
        kc_values_add(q, l->e[i].name.data, l->e[i].name.len, l->e[i].value.data, l->e[i].value.len);
    return changed;
}

/* ---- JSON bodies ---- */

/* truthy is Lua truthiness of a decoded JSON value (null is a truthy
 * userdata in cjson; false is false; absent is nil). */
static bool truthy(const kc_member *m) {
    if (m == NULL) return false;
    if (m->raw != NULL) return !(m->kind == PW_JSON_BOOL && m->raw[0] == 'f');
    return true; /* values the plugin set are strings or arrays */
}

/* set_string makes m's value the JSON string v. */
static void set_string(kc_member *m, const kc_str *v) {
    kc_buf b = {0};
    kc_buf_json_str(&b, v->data, v->len, true);
    kc_buf_free(&m->enc);
    m->enc = b;
    m->raw = NULL;
    m->kind = PW_JSON_STRING;
}

/* append_value is Kong's append_value: a string becomes [it, v], an array
 * gets v appended, anything else (absent, null, numbers, objects) becomes
 * [v]. */
static bool append_value(kc_member *m, const kc_str *v) {
    kc_buf b = {0};
    pw_json_t cur = {0};
    bool have = false;
    if (m->raw != NULL) {
        cur.ptr = m->raw, cur.len = m->raw_len, cur.kind = m->kind;
        have = true;
    } else if (m->enc.p != NULL) {
        have = pw_json_parse(m->enc.p, m->enc.len, &cur);
    }
    kc_buf_putc(&b, '[');
    if (have && cur.kind == PW_JSON_STRING) {
        if (!kc_json_go_value(&b, &cur, 0)) goto fail;
        kc_buf_putc(&b, ',');
    } else if (have && cur.kind == PW_JSON_ARRAY) {
        pw_json_t e;
        size_t pos = 0;
        while (pw_json_array_next(&cur, &pos, &e)) {
            if (!kc_json_go_value(&b, &e, 0)) goto fail;
            kc_buf_putc(&b, ',');
        }
    }
    kc_buf_json_str(&b, v->data, v->len, true);
    kc_buf_putc(&b, ']');
    if (b.oom) goto fail;
    kc_buf_free(&m->enc);
    m->enc = b;
    m->raw = NULL;
    m->kind = PW_JSON_ARRAY;
    return true;
fail:
    kc_buf_free(&b);
    return false;
}

/* transform_json is Kong's transform_json_body into out; false when the
 * body stays as it was (nothing applied, not a JSON object, or a value Go
 * could not decode). */
static bool transform_json(const rules *r, const char *body, size_t n, kc_buf *out) {
    kc_object o = {0};
    bool changed = false, ok = true;
    if (n > 0) {
        pw_json_t doc;
        if (!pw_json_parse(body, n, &doc) || doc.kind != PW_JSON_OBJECT) return false;
        if (!kc_object_parse(&o, &doc)) goto fail;
        const oplist *l = &r->ops[BODY][REMOVE];
        for (size_t i = 0; i < l->n; i++, changed = true) kc_object_del(&o, l->e[i].name.data, l->e[i].name.len);
        l = &r->ops[BODY][RENAME];
        for (size_t i = 0; i < l->n; i++, changed = true) {
            const op *op_ = &l->e[i];
            if (kc_eq(op_->name.data, op_->name.len, op_->value.data, op_->value.len)) continue;
            kc_member *from = kc_object_find(&o, op_->name.data, op_->name.len);
            if (from == NULL) {
                kc_object_del(&o, op_->value.data, op_->value.len);
                continue;
            }
            kc_member moved = *from; /* take the value, then drop the old name */
            from->enc = (kc_buf){0};
            kc_object_del(&o, op_->name.data, op_->name.len);
            kc_member *to = kc_object_put(&o, op_->value.data, op_->value.len);
            if (to == NULL) {
                kc_buf_free(&moved.enc);
                goto fail;
            }
            kc_buf_free(&to->enc);
            to->raw = moved.raw;
            to->raw_len = moved.raw_len;
            to->kind = moved.kind;
            to->enc = moved.enc;
        }
        l = &r->ops[BODY][REPLACE];
        for (size_t i = 0; i < l->n; i++) {
            kc_member *m = kc_object_find(&o, l->e[i].name.data, l->e[i].name.len);
            if (truthy(m)) {
                set_string(m, &l->e[i].value);
                changed = true;
            }
        }
    }
    const oplist *l = &r->ops[BODY][ADD];
    for (size_t i = 0; i < l->n; i++) {
        if (truthy(kc_object_find(&o, l->e[i].name.data, l->e[i].name.len))) continue;
        kc_member *m = kc_object_put(&o, l->e[i].name.data, l->e[i].name.len);
        if (m == NULL) goto fail;
        set_string(m, &l->e[i].value);
        changed = true;
    }
    l = &r->ops[BODY][APPEND];
    for (size_t i = 0; i < l->n; i++, changed = true) {
        kc_member *m = kc_object_put(&o, l->e[i].name.data, l->e[i].name.len);
        if (m == NULL || !append_value(m, &l->e[i].value)) goto fail;
    }
    if (changed) ok = kc_object_encode_go(&o, out, 0);
    kc_object_free(&o);
    return changed && ok && !out->oom;
fail:
    kc_object_free(&o);
    return false;
}

/* ---- data path ---- */

static int kind_of(const char *ct, size_t n) {
    char *low = malloc(n + 1);
    if (low == NULL) return BODY_NONE;
    for (size_t i = 0; i < n; i++) low[i] = kc_lower(ct[i]);
    low[n] = '\0';
    int k = BODY_NONE;
    if (memchr(low, '\0', n) != NULL) k = BODY_NONE;
    else if (strstr(low, "application/json") != NULL) k = BODY_JSON;
    else if (strstr(low, "multipart/form-data") != NULL) k = BODY_MULTIPART;
    else if (strstr(low, "application/x-www-form-urlencoded") != NULL) k = BODY_FORM;
    free(low);
    return k;
}

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    stream *s = pw_context_data(context_id);
    if (s == NULL) return PW_ACTION_CONTINUE;
    const rules *r = s->r;
    if (r->method.data != NULL) {
        pw_status_t st = pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, ":method", 7, r->method.data, r->method.len);
        if (st != PW_OK) PW_LOG_ERROR(NAME ": set method: %s", pw_status_name(st));
    }
    if (!part_empty(r, HEADERS) && r->ops[HEADERS][REMOVE].n + r->ops[HEADERS][RENAME].n + r->ops[HEADERS][REPLACE].n == 0) {
        /* add and append only: single header calls give the same headers
         * as the table (each add sees the ones before it), without
         * copying the whole map into the module. */
        const oplist *l = &r->ops[HEADERS][ADD];
        for (size_t i = 0; i < l->n; i++) {
            const op *o = &l->e[i];
            if (kc_eq_fold(o->name.data, o->name.len, "host", 4)) continue;
            pw_bytes_t v;
            pw_status_t st = pw_get_header_n(PW_MAP_HTTP_REQUEST_HEADERS, o->name.data, o->name.len, &v);
            pw_bytes_free(&v);
            if (st == PW_NOT_FOUND) st = pw_add_header_n(PW_MAP_HTTP_REQUEST_HEADERS, o->name.data, o->name.len, o->value.data, o->value.len);
            if (st != PW_OK) PW_LOG_ERROR(NAME ": set header %.*s: %s", (int)(o->name.len > 200 ? 200 : o->name.len), o->name.data, pw_status_name(st));
        }
        l = &r->ops[HEADERS][APPEND];
        for (size_t i = 0; i < l->n; i++) {
            const op *o = &l->e[i];
            if (kc_eq_fold(o->name.data, o->name.len, "host", 4)) continue;
            pw_status_t st = pw_add_header_n(PW_MAP_HTTP_REQUEST_HEADERS, o->name.data, o->name.len, o->value.data, o->value.len);
            if (st != PW_OK) PW_LOG_ERROR(NAME ": add header %.*s: %s", (int)(o->name.len > 200 ? 200 : o->name.len), o->name.data, pw_status_name(st));
        }
    } else if (!part_empty(r, HEADERS)) {
        pw_bytes_t pairs;
        pw_status_t st = pw_get_headers(PW_MAP_HTTP_REQUEST_HEADERS, &pairs);
        if (st != PW_OK) {
            pw_bytes_free(&pairs);
            PW_LOG_ERROR(NAME ": read headers: %s", pw_status_name(st));
            return PW_ACTION_CONTINUE;
        }
        htab orig = {0}, t = {0};
        bool ok = htab_load(&orig, &pairs) && htab_load(&t, &pairs);
        pw_bytes_free(&pairs);
        if (ok) {
            const kc_str *host = NULL;
            transform_headers(r, &t, &host);
            if (t.oom) {
                PW_LOG_ERROR(NAME ": out of memory transforming headers");
            } else {
                apply_headers(&orig, &t);
                if (host != NULL) {
                    st = pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, ":authority", 10, host->data, host->len);
                    if (st != PW_OK) PW_LOG_ERROR(NAME ": set host: %s", pw_status_name(st));
                }
            }
        } else {
            PW_LOG_ERROR(NAME ": read headers: malformed or out of memory");
        }
        htab_free(&orig);
        htab_free(&t);
    }
    if (!end_of_stream && !part_empty(r, BODY)) {
        pw_bytes_t ct;
        int k = BODY_NONE;
        if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "content-type", &ct) == PW_OK) k = kind_of(ct.data ? ct.data : "", ct.size);
        pw_bytes_free(&ct);
        if (k == BODY_JSON || k == BODY_FORM) {
            s->body = k;
            /* The body changes length: let the host reframe it. */
            pw_remove_header(PW_MAP_HTTP_REQUEST_HEADERS, "content-length");
        }
    }
    bool query_ops = !part_empty(r, QUERY);
    if (r->uri.data == NULL && !query_ops) return PW_ACTION_CONTINUE;
    pw_bytes_t path;
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path);
    const char *pd = path.data ? path.data : "";
    char *qm = path.size ? memchr(pd, '?', path.size) : NULL;
    size_t plen = qm ? (size_t)(qm - pd) : path.size;
    const char *query = qm ? qm + 1 : "";
    size_t qlen = qm ? path.size - plen - 1 : 0;
    bool has_query = qm != NULL;
    kc_buf np = {0};
    if (r->uri.data != NULL) kc_buf_put(&np, r->uri.data, r->uri.len);
    else kc_buf_put(&np, pd, plen);
    bool changed = query_ops || !kc_eq(np.p, np.len, pd, plen);
    if (query_ops) {
        kc_values q = {0};
        kc_values_parse(&q, query, qlen);
        transform_values(r, QUERY, &q, true);
        kc_buf enc = {0};
        kc_values_encode(&q, &enc);
        if (enc.len > 0) {
            kc_buf_putc(&np, '?');
            kc_buf_put(&np, enc.p, enc.len);
        }
        if (q.oom || enc.oom) np.oom = true;
        kc_buf_free(&enc);
        kc_values_free(&q);
    } else if (has_query && qlen > 0) {
        kc_buf_putc(&np, '?');
        kc_buf_put(&np, query, qlen);
    }
    if (changed) {
        pw_status_t st = np.oom ? PW_INTERNAL_FAILURE : pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, ":path", 5, np.p ? np.p : "", np.len);
        if (st != PW_OK) PW_LOG_ERROR(NAME ": set path: %s", pw_status_name(st));
    }
    kc_buf_free(&np);
    pw_bytes_free(&path);
    return PW_ACTION_CONTINUE;
}

pw_action_t pw_on_request_body(uint32_t context_id, uint32_t body_size, bool end_of_stream) {
    stream *s = pw_context_data(context_id);
    if (s == NULL || s->body == BODY_NONE) return PW_ACTION_CONTINUE;
    if (!end_of_stream) return PW_ACTION_PAUSE; /* buffer the whole body */
    pw_bytes_t body;
    pw_status_t st = pw_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, body_size, &body);
    if (st != PW_OK && body_size > 0) {
        pw_bytes_free(&body);
        PW_LOG_ERROR(NAME ": read body: %s", pw_status_name(st));
        return PW_ACTION_CONTINUE;
    }
    kc_buf out = {0};
    bool changed;
    if (s->body == BODY_JSON) {
        changed = transform_json(s->r, body.data ? body.data : "", body.size, &out);
    } else {
        kc_values q = {0};
        kc_values_parse(&q, body.data ? body.data : "", body.size);
        changed = transform_values(s->r, BODY, &q, body.size > 0);
        if (changed) kc_values_encode(&q, &out);
        if (q.oom || out.oom) changed = false;
        kc_values_free(&q);
    }
    if (changed) {
        st = pw_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0x7fffffff, out.p ? out.p : "", out.len);
        if (st != PW_OK) PW_LOG_ERROR(NAME ": replace body: %s", pw_status_name(st));
    }
    kc_buf_free(&out);
    pw_bytes_free(&body);
    s->body = BODY_NONE;
    return PW_ACTION_CONTINUE;
}
