/*
 * key-auth: Weir's built-in key-auth plugin, Kong's key-auth (priority
 * 1250, access phase) as a proxy-wasm module written with sdk/c. It finds
 * an API key in a header, the query string or the body, looks up its
 * consumer through weir.consumer_lookup and authenticates the stream with
 * weir.set_consumer (the host sets Kong's X-Consumer-* headers upstream).
 * The key itself is compared by the host (in constant time); it is never
 * logged.
 *
 * Build: go tool task builtins:build -- key-auth (see plugins-src/README.md).
 */
#include "../internal/kongc/kong.h"

#define NAME "key-auth"
#define MAX_KEY_NAMES 64

/* config is Kong's key-auth schema, defaults included. */
typedef struct config {
    unsigned refs;
    kc_str key_names[MAX_KEY_NAMES];
    size_t n_key_names;
    bool hide_credentials, key_in_header, key_in_query, key_in_body, run_on_preflight;
    kc_str anonymous; /* data NULL: null */
    kc_str realm;     /* data NULL: null */
    kc_str www_authenticate;
} config;

static void config_release(config *c) {
    if (c == NULL || --c->refs > 0) return;
    for (size_t i = 0; i < c->n_key_names; i++) kc_str_free(&c->key_names[i]);
    kc_str_free(&c->anonymous);
    kc_str_free(&c->realm);
    kc_str_free(&c->www_authenticate);
    free(c);
}

static config *config_new(void) {
    config *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->refs = 1;
    c->key_in_header = c->key_in_query = c->run_on_preflight = true;
    if (!kc_str_dup(&c->key_names[0], "apikey", 6) || !kc_str_dup(&c->www_authenticate, "Key", 3)) {
        kc_str_free(&c->key_names[0]);
        free(c);
        return NULL;
    }
    c->n_key_names = 1;
    return c;
}

static bool fail(const char *field, const char *msg) {
    PW_LOG_ERROR(NAME ": config: config.%s: %s", field, msg);
    return false;
}

/* get_bool: JSON null keeps the value (encoding/json). */
static bool get_bool(const pw_json_t *v, const char *field, bool *out) {
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_BOOL) return fail(field, "expected a boolean");
    *out = v->ptr[0] == 't';
    return true;
}

/* get_opt_string: a string or null (null: not set). */
static bool get_opt_string(const pw_json_t *v, const char *field, kc_str *out) {
    if (v->kind == PW_JSON_NULL) {
        kc_str_free(out);
        return true;
    }
    if (v->kind != PW_JSON_STRING) return fail(field, "expected a string");
    size_t n;
    char *d = pw_json_strdup(v, &n);
    if (d == NULL) return fail(field, "out of memory");
    kc_str_free(out);
    out->data = d;
    out->len = n;
    return true;
}

static bool parse_config(const char *raw, size_t len, config *c) {
    if (kc_json_is_blank(raw, len)) return true;
    pw_json_t doc, name, v;
    if (!pw_json_parse(raw, len, &doc)) return fail("", "not valid JSON");
    if (doc.kind != PW_JSON_OBJECT) return fail("", "must be a JSON object");
    size_t pos = 0;
    while (pw_json_object_next(&doc, &pos, &name, &v)) {
        /* Go's encoding/json: names match case-insensitively, unknown
         * members (Kong fields the host handles) are ignored. */
        if (pw_json_name_equal(&name, "key_names")) {
            if (v.kind == PW_JSON_NULL) continue;
            if (v.kind != PW_JSON_ARRAY) return fail("key_names", "expected an array of strings");
            for (size_t i = 0; i < c->n_key_names; i++) kc_str_free(&c->key_names[i]);
            c->n_key_names = 0;
            pw_json_t e;
            size_t ep = 0;
            while (pw_json_array_next(&v, &ep, &e)) {
                if (c->n_key_names == MAX_KEY_NAMES) return fail("key_names", "too many names (at most 64)");
                kc_str *s = &c->key_names[c->n_key_names++];
                if (e.kind == PW_JSON_NULL) {
                    if (!kc_str_dup(s, "", 0)) return fail("key_names", "out of memory");
                    continue;
                }
                if (e.kind != PW_JSON_STRING) return fail("key_names", "expected an array of strings");
                if (!get_opt_string(&e, "key_names", s)) return false;
            }
        } else if (pw_json_name_equal(&name, "hide_credentials")) {
            if (!get_bool(&v, "hide_credentials", &c->hide_credentials)) return false;
        } else if (pw_json_name_equal(&name, "anonymous")) {
            if (!get_opt_string(&v, "anonymous", &c->anonymous)) return false;
        } else if (pw_json_name_equal(&name, "key_in_header")) {
            if (!get_bool(&v, "key_in_header", &c->key_in_header)) return false;
        } else if (pw_json_name_equal(&name, "key_in_query")) {
            if (!get_bool(&v, "key_in_query", &c->key_in_query)) return false;
        } else if (pw_json_name_equal(&name, "key_in_body")) {
            if (!get_bool(&v, "key_in_body", &c->key_in_body)) return false;
        } else if (pw_json_name_equal(&name, "run_on_preflight")) {
            if (!get_bool(&v, "run_on_preflight", &c->run_on_preflight)) return false;
        } else if (pw_json_name_equal(&name, "realm")) {
            if (!get_opt_string(&v, "realm", &c->realm)) return false;
        }
    }
    kc_buf b = {0};
    if (c->realm.data != NULL) {
        kc_buf_puts(&b, "Key realm=\"");
        kc_buf_put(&b, c->realm.data, c->realm.len);
        kc_buf_puts(&b, "\"");
    } else {
        kc_buf_puts(&b, "Key");
    }
    bool ok = !b.oom && kc_str_dup(&c->www_authenticate, b.p, b.len);
    kc_buf_free(&b);
    return ok || fail("", "out of memory");
}

typedef struct stream {
    config *c;
    bool wait_body;
} stream;

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        config *c = config_new();
        if (c != NULL) pw_set_context_data(context_id, c);
        return;
    }
    config *c = pw_context_data(root_id);
    stream *s = calloc(1, sizeof *s);
    if (c != NULL && s != NULL) {
        c->refs++;
        s->c = c;
        pw_set_context_data(context_id, s);
    } else {
        free(s);
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
        free(s);
    }
}

bool pw_on_configure(uint32_t root_id, uint32_t config_size) {
    (void)config_size;
    config *old = pw_context_data(root_id);
    pw_bytes_t raw = {0};
    if (old == NULL) return fail("", "out of memory");
    if (!kc_config_text(&raw)) return fail("", "cannot read the plugin configuration");
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

/* ---- authentication ---- */

enum { OK = 0, ERR_NO_KEY, ERR_DUPLICATE, ERR_BAD_KEY, ERR_INTERNAL };

static const char *const messages[] = {
    [ERR_NO_KEY] = "No API key found in request",
    [ERR_DUPLICATE] = "Duplicate API key found",
    [ERR_BAD_KEY] = "Unauthorized",
    [ERR_INTERNAL] = "An unexpected error occurred",
};

/* ffi calls a weir.* extension with pairs-encoded arguments. */
static pw_status_t ffi(const char *fn, const pw_pair_t *args, size_t n, pw_bytes_t *out) {
    char stack[512];
    size_t size = pw_pairs_size(args, n);
    char *enc = size <= sizeof stack ? stack : malloc(size);
    if (enc == NULL) {
        out->data = NULL;
        out->size = 0;
        return PW_INTERNAL_FAILURE;
    }
    pw_pairs_encode(enc, args, n);
    pw_status_t st = pw_call_foreign_function(fn, enc, size, out);
    if (enc != stack) free(enc);
    return st;
}

/* authenticate looks the key up and sets the stream's consumer. */
static int authenticate(const char *key, size_t key_len) {
    pw_pair_t args[2] = {PW_PAIR("credential_type", "key-auth"), {"key", 3, key, key_len}};
    pw_bytes_t res;
    pw_status_t st = ffi("weir.consumer_lookup", args, 2, &res);
    if (st == PW_NOT_FOUND) {
        pw_bytes_free(&res);
        return ERR_BAD_KEY;
    }
    if (st != PW_OK) {
        pw_bytes_free(&res);
        PW_LOG_ERROR(NAME ": consumer lookup: %s", pw_status_name(st));
        return ERR_INTERNAL;
    }
    pw_pair_t id = {0}, cred = {0};
    pw_pairs_iter_t it;
    pw_pair_t p;
    if (res.size == 0 || pw_pairs_iter_init(&it, res.data, res.size) != PW_OK) {
        pw_bytes_free(&res);
        PW_LOG_ERROR(NAME ": consumer lookup: malformed result");
        return ERR_INTERNAL;
    }
    while (pw_pairs_next(&it, &p)) { /* a repeated key keeps the last value */
        if (kc_eq(p.key, p.key_len, "id", 2)) id = p;
        else if (kc_eq(p.key, p.key_len, "credential_id", 13)) cred = p;
    }
    pw_pair_t set[2] = {{"id", 2, id.value ? id.value : "", id.value_len},
                        {"credential_id", 13, cred.value ? cred.value : "", cred.value_len}};
    pw_bytes_t out;
    size_t n = 2;
    if (cred.value_len == 0) n = id.value_len > 0 ? 1 : 0;
    st = ffi("weir.set_consumer", set, n, &out);
    pw_bytes_free(&out);
    pw_bytes_free(&res);
    if (st != PW_OK) {
        PW_LOG_ERROR(NAME ": set consumer: %s", st == PW_NOT_FOUND ? "no such consumer" : pw_status_name(st));
        return ERR_INTERNAL;
    }
    return OK;
}

/* set_anonymous authenticates as the anonymous consumer (id, then
 * username) and marks the request X-Anonymous-Consumer: true. */
static bool set_anonymous(const kc_str *ref) {
    pw_pair_t a = {"id", 2, ref->data, ref->len};
    pw_bytes_t out;
    pw_status_t st = ffi("weir.set_consumer", &a, 1, &out);
    pw_bytes_free(&out);
    if (st == PW_NOT_FOUND) {
        a.key = "username";
        a.key_len = 8;
        st = ffi("weir.set_consumer", &a, 1, &out);
        pw_bytes_free(&out);
    }
    if (st != PW_OK) {
        PW_LOG_ERROR(NAME ": anonymous consumer \"%.*s\": %s", (int)(ref->len > 200 ? 200 : ref->len), ref->data,
                     st == PW_NOT_FOUND ? "no such consumer" : pw_status_name(st));
        return false;
    }
    return pw_replace_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-anonymous-consumer", "true") == PW_OK;
}

/* authenticated reports whether an earlier plugin authenticated the stream
 * with a real (not anonymous) credential. */
static bool authenticated(void) {
    static const char *const path[] = {"weir", "credential", "id"};
    pw_bytes_t v;
    pw_status_t st = pw_get_property(path, 3, &v);
    pw_bytes_free(&v);
    if (st != PW_OK) return false;
    st = pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-anonymous-consumer", &v);
    bool anon = st == PW_OK && kc_eq(v.data, v.size, "true", 4);
    pw_bytes_free(&v);
    return !anon;
}

/* finish authenticates with key (or answers err). */
static pw_action_t finish(const config *c, const char *key, size_t key_len, int err) {
    if (err == OK) err = key_len == 0 ? ERR_NO_KEY : authenticate(key, key_len);
    if (err == OK) return PW_ACTION_CONTINUE;
    if (c->anonymous.data != NULL && c->anonymous.len > 0) {
        if (!set_anonymous(&c->anonymous)) return kc_error(500, messages[ERR_INTERNAL], strlen(messages[ERR_INTERNAL]), NULL, 0, false);
        return PW_ACTION_CONTINUE;
    }
    const char *msg = messages[err];
    if (err == ERR_INTERNAL) return kc_error(500, msg, strlen(msg), NULL, 0, false);
    pw_pair_t h = {"www-authenticate", 16, c->www_authenticate.data, c->www_authenticate.len};
    return kc_error(401, msg, strlen(msg), &h, 1, false);
}

/* from_headers_and_query looks for the key under each key name: header,
 * then query string (Kong's order). A name given twice is an error. The
 * key is copied into *key (owned). */
static int from_headers_and_query(const config *c, kc_str *key) {
    pw_bytes_t headers = {0}, path = {0};
    kc_values q = {0};
    bool have_query = false, query_parsed = false;
    size_t path_len = 0;
    int ret = OK;
    if (c->key_in_header) pw_get_headers(PW_MAP_HTTP_REQUEST_HEADERS, &headers);
    for (size_t i = 0; i < c->n_key_names; i++) {
        const kc_str *name = &c->key_names[i];
        pw_pair_t first;
        size_t nh = c->key_in_header ? kc_header_count(&headers, name->data, name->len, &first) : 0;
        if (c->key_in_query && !query_parsed && nh == 0) {
            /* parsed only when a key is not in the headers */
            query_parsed = true;
            if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path) == PW_OK) {
                char *qm = path.size ? memchr(path.data, '?', path.size) : NULL;
                path_len = qm ? (size_t)(qm - path.data) : path.size;
                if (qm != NULL) {
                    have_query = true;
                    if (!kc_values_parse(&q, qm + 1, path.size - path_len - 1)) {
                        ret = ERR_INTERNAL;
                        break;
                    }
                }
            }
        }
        if (nh > 1) {
            ret = ERR_DUPLICATE;
            break;
        }
        if (nh == 1) {
            if (!kc_str_dup(key, first.value, first.value_len)) ret = ERR_INTERNAL;
            else if (c->hide_credentials) pw_remove_header_n(PW_MAP_HTTP_REQUEST_HEADERS, name->data, name->len);
            break;
        }
        if (have_query) {
            size_t at;
            size_t nq = kc_values_count(&q, name->data, name->len, &at);
            if (nq > 1) {
                ret = ERR_DUPLICATE;
                break;
            }
            if (nq == 1) {
                if (!kc_str_dup(key, q.e[at].v.data, q.e[at].v.len)) {
                    ret = ERR_INTERNAL;
                    break;
                }
                if (c->hide_credentials) {
                    kc_values_del(&q, name->data, name->len);
                    kc_buf np = {0};
                    kc_buf_put(&np, path.data, path_len);
                    if (q.n > 0) {
                        kc_buf_putc(&np, '?');
                        kc_values_encode(&q, &np);
                    }
                    if (!np.oom) pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, ":path", 5, np.p ? np.p : "", np.len);
                    kc_buf_free(&np);
                }
                break;
            }
        }
    }
    kc_values_free(&q);
    pw_bytes_free(&path);
    pw_bytes_free(&headers);
    return ret;
}

/* media_type returns the lower-cased media type of a Content-Type value
 * (mime.ParseMediaType's first result) in dst[cap]. */
static void media_type(const char *ct, size_t n, char *dst, size_t cap) {
    size_t i = 0, j;
    while (i < n && (ct[i] == ' ' || ct[i] == '\t')) i++;
    j = i;
    while (j < n && ct[j] != ';') j++;
    while (j > i && (ct[j - 1] == ' ' || ct[j - 1] == '\t')) j--;
    dst[0] = '\0';
    if (j - i >= cap) return;
    for (size_t k = i; k < j; k++) dst[k - i] = kc_lower(ct[k]);
    dst[j - i] = '\0';
}

/* from_body looks for the key in a form-urlencoded or JSON body. */
static int from_body(const config *c, const char *body, size_t n, kc_str *key) {
    pw_bytes_t ctv;
    char mt[64];
    mt[0] = '\0';
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, "content-type", &ctv) == PW_OK)
        media_type(ctv.data, ctv.size, mt, sizeof mt);
    pw_bytes_free(&ctv);
    int ret = OK;
    if (strcmp(mt, "application/x-www-form-urlencoded") == 0) {
        kc_values form = {0};
        if (!kc_values_parse(&form, body, n)) {
            kc_values_free(&form);
            return ERR_INTERNAL;
        }
        if (form.bad) { /* url.ParseQuery failed: no key from the body */
            kc_values_free(&form);
            return OK;
        }
        for (size_t i = 0; i < c->n_key_names; i++) {
            const kc_str *name = &c->key_names[i];
            size_t at, nf = kc_values_count(&form, name->data, name->len, &at);
            if (nf == 0) continue;
            if (nf > 1) {
                ret = ERR_DUPLICATE;
                break;
            }
            if (!kc_str_dup(key, form.e[at].v.data, form.e[at].v.len)) {
                ret = ERR_INTERNAL;
                break;
            }
            if (c->hide_credentials) {
                kc_values_del(&form, name->data, name->len);
                kc_buf nb = {0};
                kc_values_encode(&form, &nb);
                if (!nb.oom) pw_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0x7fffffff, nb.p ? nb.p : "", nb.len);
                kc_buf_free(&nb);
            }
            break;
        }
        kc_values_free(&form);
    } else if (strcmp(mt, "application/json") == 0) {
        pw_json_t doc;
        if (!pw_json_parse(body, n, &doc) || doc.kind != PW_JSON_OBJECT) return OK;
        kc_object obj = {0};
        if (!kc_object_parse(&obj, &doc)) {
            kc_object_free(&obj);
            return ERR_INTERNAL;
        }
        for (size_t i = 0; i < c->n_key_names; i++) {
            const kc_str *name = &c->key_names[i];
            kc_member *m = kc_object_find(&obj, name->data, name->len);
            if (m == NULL) continue;
            if (m->kind == PW_JSON_ARRAY) {
                ret = ERR_DUPLICATE;
                break;
            }
            if (m->kind != PW_JSON_STRING && m->kind != PW_JSON_NULL) continue;
            if (m->kind == PW_JSON_STRING) {
                pw_json_t sv = {m->raw, m->raw_len, PW_JSON_STRING};
                size_t kl;
                char *k = pw_json_strdup(&sv, &kl);
                if (k == NULL) {
                    ret = ERR_INTERNAL;
                    break;
                }
                kc_str_free(key);
                key->data = k;
                key->len = kl;
            } /* null decodes to "": no key */
            if (c->hide_credentials) {
                kc_object_del(&obj, name->data, name->len);
                kc_buf nb = {0};
                kc_object_encode(&obj, &nb);
                if (!nb.oom) pw_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0x7fffffff, nb.p, nb.len);
                kc_buf_free(&nb);
            }
            break;
        }
        kc_object_free(&obj);
    }
    return ret;
}

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    stream *s = pw_context_data(context_id);
    if (s == NULL) return kc_error(500, messages[ERR_INTERNAL], strlen(messages[ERR_INTERNAL]), NULL, 0, false);
    const config *c = s->c;
    if (!c->run_on_preflight) {
        pw_bytes_t m;
        pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":method", &m);
        bool options = kc_eq(m.data, m.size, "OPTIONS", 7);
        pw_bytes_free(&m);
        if (options) return PW_ACTION_CONTINUE;
    }
    if (c->anonymous.data != NULL && authenticated()) return PW_ACTION_CONTINUE; /* logical OR */
    kc_str key = {0};
    int err = from_headers_and_query(c, &key);
    if (err == OK && key.len == 0 && c->key_in_body && !end_of_stream) {
        kc_str_free(&key);
        s->wait_body = true;
        return PW_ACTION_PAUSE; /* buffer the body, decide in pw_on_request_body */
    }
    pw_action_t a = finish(c, key.data, key.len, err);
    kc_str_free(&key);
    return a;
}

pw_action_t pw_on_request_body(uint32_t context_id, uint32_t body_size, bool end_of_stream) {
    stream *s = pw_context_data(context_id);
    if (s == NULL || !s->wait_body) return PW_ACTION_CONTINUE;
    if (!end_of_stream) return PW_ACTION_PAUSE;
    s->wait_body = false;
    pw_bytes_t body;
    pw_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, body_size, &body);
    kc_str key = {0};
    int err = from_body(s->c, body.data ? body.data : "", body.size, &key);
    pw_bytes_free(&body);
    pw_action_t a = finish(s->c, key.data, key.len, err);
    kc_str_free(&key);
    return a;
}
