/*
 * Build (from the repository root; request-termination.wasm is committed
 * next to this file; go tool task plugins:c builds it):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Wl,--strip-debug -Isdk/c/include sdk/c/src/proxy_wasm.c plugins-src/request-termination/plugin.c -o plugins-src/request-termination/request-termination.wasm
 *
 * request-termination: Weir's reference "request-termination" plugin, Kong's
 * bundled plugin of that name (priority 2) rebuilt with the C SDK. Every
 * request (or, with config.trigger, every request carrying that header or
 * query parameter) is answered locally:
 *   - echo: status_code with a JSON document describing the request
 *     (message, request{scheme,host,port,headers,query,raw_body,method,path},
 *     matched_route{name}, matched_service{name});
 *   - body: status_code, the body verbatim, Content-Type content_type;
 *   - otherwise: status_code and {"message": message or Kong's default text
 *     for the status} (no body for a status without a default text).
 * Configuration is Kong's schema; a bad one fails proxy_on_configure with a
 * log line naming the field, so Weir rejects it and keeps the running one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_wasm.h"

#define NAME "request-termination"

typedef struct str {
    char *data; /* NULL: not set */
    size_t len;
} str;

typedef struct config {
    unsigned refs;
    int status;
    str message, content_type, body, trigger;
    bool echo;
} config;

static void str_free(str *s) {
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

static void config_release(config *c) {
    if (c != NULL && --c->refs == 0) {
        str_free(&c->message);
        str_free(&c->content_type);
        str_free(&c->body);
        str_free(&c->trigger);
        free(c);
    }
}

/* default_message is Kong's DEFAULT_RESPONSE table. */
static const char *default_message(int status) {
    switch (status) {
    case 401: return "Unauthorized";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 500: return "An unexpected error occurred";
    case 502: return "Bad Gateway";
    case 503: return "Service unavailable";
    }
    return NULL;
}

/* ---- growable output buffer with JSON string escaping ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void buf_put(buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_json_str(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_put(b, e, 6);
        } else {
            buf_put(b, (const char *)&s[i], 1);
        }
    }
    buf_put(b, "\"", 1);
}

/* ---- configuration ---- */

static bool fail(const char *msg) {
    PW_LOG_ERROR(NAME ": invalid configuration: %s", msg);
    return false;
}

/* get_string stores a JSON string or null member into *out. */
static bool get_string(const pw_json_t *v, const char *field, str *out) {
    str_free(out);
    if (v->kind == PW_JSON_NULL) return true;
    if (v->kind != PW_JSON_STRING) {
        PW_LOG_ERROR(NAME ": invalid configuration: config.%s: expected a string", field);
        return false;
    }
    out->data = pw_json_strdup(v, &out->len);
    return out->data != NULL || fail("out of memory");
}

/* parse_config decodes Kong's request-termination schema into c. */
static bool parse_config(const char *raw, size_t len, config *c) {
    c->status = 503;
    if (len == 0) return true;
    pw_json_t doc;
    if (!pw_json_parse(raw, len, &doc)) return fail("config: not valid JSON");
    if (doc.kind == PW_JSON_NULL) return true;
    if (doc.kind != PW_JSON_OBJECT) return fail("config: must be a JSON object");
    pw_json_t name, v;
    size_t pos = 0;
    while (pw_json_object_next(&doc, &pos, &name, &v)) {
        char key[32] = {0};
        size_t kl = pw_json_unquote(&name, NULL);
        if (kl < sizeof key) pw_json_unquote(&name, key);
        if (strcmp(key, "status_code") == 0) {
            if (v.kind == PW_JSON_NULL) continue;
            char num[16] = {0};
            if (v.kind != PW_JSON_NUMBER || v.len >= sizeof num) return fail("config.status_code: expected an integer between 100 and 599");
            memcpy(num, v.ptr, v.len);
            char *end;
            long n = strtol(num, &end, 10);
            if (*end != '\0' || n < 100 || n > 599) return fail("config.status_code: expected an integer between 100 and 599");
            c->status = (int)n;
        } else if (strcmp(key, "message") == 0) {
            if (!get_string(&v, "message", &c->message)) return false;
        } else if (strcmp(key, "content_type") == 0) {
            if (!get_string(&v, "content_type", &c->content_type)) return false;
        } else if (strcmp(key, "body") == 0) {
            if (!get_string(&v, "body", &c->body)) return false;
        } else if (strcmp(key, "trigger") == 0) {
            if (!get_string(&v, "trigger", &c->trigger)) return false;
            if (c->trigger.data != NULL && c->trigger.len == 0) return fail("config.trigger: must not be empty");
        } else if (strcmp(key, "echo") == 0) {
            if (v.kind == PW_JSON_NULL) continue;
            if (v.kind != PW_JSON_BOOL) return fail("config.echo: expected a boolean");
            c->echo = v.ptr[0] == 't';
        } else {
            PW_LOG_ERROR(NAME ": invalid configuration: config.%.*s: unknown field", (int)(name.len > 2 ? name.len - 2 : 0), name.ptr + 1);
            return false;
        }
    }
    if (c->message.data != NULL && (c->body.data != NULL || c->content_type.data != NULL))
        return fail("config.message: message cannot be used with content_type or body");
    if (c->content_type.data != NULL && c->body.data == NULL)
        return fail("config.content_type: content_type requires a body");
    for (size_t i = 0; c->content_type.data != NULL && i < c->content_type.len; i++) {
        char ch = c->content_type.data[i];
        if (ch == '\r' || ch == '\n') return fail("config.content_type: contains a line break");
    }
    return true;
}

typedef struct stream {
    config *c;         /* the configuration the stream started with */
    bool echo_pending; /* echo waits for the end of the request body */
} stream;

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        config *c = calloc(1, sizeof *c);
        if (c != NULL) {
            c->refs = 1;
            c->status = 503;
            pw_set_context_data(context_id, c);
        }
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
    if (old == NULL) return fail("out of memory");
    pw_bytes_t raw;
    pw_status_t st = pw_get_plugin_configuration(&raw);
    if (st == PW_NOT_FOUND) st = PW_OK;
    if (st != PW_OK) return fail("cannot read the plugin configuration");
    config *c = calloc(1, sizeof *c);
    if (c == NULL) {
        pw_bytes_free(&raw);
        return fail("out of memory");
    }
    c->refs = 1;
    bool ok = parse_config(raw.data, raw.size, c);
    pw_bytes_free(&raw);
    if (!ok) {
        config_release(c);
        return false; /* the running configuration stays */
    }
    /* Streams keep the configuration they started with. */
    pw_set_context_data(root_id, c);
    config_release(old);
    return true;
}

/* ---- request inspection ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* unescape URL-decodes s[0:n) in place ('+' is a space) and returns the
 * new length. */
static size_t unescape(char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

/* query_has reports whether the query string q has an argument name. */
static bool query_has(const char *q, size_t qn, const str *name) {
    size_t i = 0;
    while (i < qn) {
        size_t j = i;
        while (j < qn && q[j] != '&') j++;
        size_t k = i;
        while (k < j && q[k] != '=') k++;
        char tmp[256];
        size_t kl = k - i;
        if (kl > 0 && kl < sizeof tmp) {
            memcpy(tmp, q + i, kl);
            kl = unescape(tmp, kl);
            /* Kong's query lookup is case sensitive. */
            if (kl == name->len && memcmp(tmp, name->data, kl) == 0) return true;
        }
        i = j + 1;
    }
    return false;
}

static pw_action_t exit_with(int status, const pw_pair_t *headers, size_t n, const char *body, size_t body_len) {
    pw_status_t st = pw_send_http_response((uint32_t)status, headers, n, body, body_len);
    if (st != PW_OK) {
        PW_LOG_ERROR(NAME ": send %d: host returned %s", status, pw_status_name(st));
        pw_reset_http_stream();
    }
    return PW_ACTION_PAUSE;
}

/* echo_json writes the echo document (with raw_body when given). */
static pw_action_t send_echo(const config *c, const char *body, size_t body_len) {
    buf b = {0};
    const char *msg = c->message.data;
    size_t msg_len = c->message.len;
    if (msg == NULL && default_message(c->status) != NULL) {
        msg = default_message(c->status);
        msg_len = strlen(msg);
    }
    buf_puts(&b, "{\"message\":");
    if (msg != NULL) buf_json_str(&b, msg, msg_len);
    else buf_puts(&b, "null");

    pw_bytes_t v;
    buf_puts(&b, ",\"request\":{\"scheme\":");
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":scheme", &v);
    buf_json_str(&b, v.data ? v.data : "", v.size);
    pw_bytes_free(&v);

    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":authority", &v);
    size_t hl = v.size;
    for (size_t i = v.size; i > 0; i--) {
        if (v.data[i - 1] == ':') { hl = i - 1; break; }
        if (v.data[i - 1] == ']') break;
    }
    buf_puts(&b, ",\"host\":");
    buf_json_str(&b, v.data ? v.data : "", hl);
    pw_bytes_free(&v);

    const char *port_path[] = {"destination", "port"};
    buf_puts(&b, ",\"port\":");
    if (pw_get_property(port_path, 2, &v) == PW_OK && v.size == 8) {
        uint64_t port = 0;
        memcpy(&port, v.data, 8);
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)port);
        buf_puts(&b, num);
    } else {
        buf_puts(&b, "null");
    }
    pw_bytes_free(&v);

    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":method", &v);
    buf_puts(&b, ",\"method\":");
    buf_json_str(&b, v.data ? v.data : "", v.size);
    pw_bytes_free(&v);

    pw_bytes_t path;
    pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path);
    size_t pl = 0;
    while (pl < path.size && path.data[pl] != '?') pl++;
    buf_puts(&b, ",\"path\":");
    buf_json_str(&b, path.data ? path.data : "", pl);

    /* query: name -> value, repeated names -> array, no '=' -> true */
    buf_puts(&b, ",\"query\":{");
    bool first = true;
    const char *q = pl < path.size ? path.data + pl + 1 : "";
    size_t qn = pl < path.size ? path.size - pl - 1 : 0;
    char *qc = malloc(qn + 1);
    if (qc != NULL) {
        memcpy(qc, q, qn);
        size_t i = 0;
        while (i < qn) {
            size_t j = i;
            while (j < qn && qc[j] != '&') j++;
            size_t k = i;
            while (k < j && qc[k] != '=') k++;
            if (k > i) {
                size_t kl = unescape(qc + i, k - i);
                if (!first) buf_puts(&b, ",");
                first = false;
                buf_json_str(&b, qc + i, kl);
                buf_puts(&b, ":");
                if (k == j) {
                    buf_puts(&b, "true");
                } else {
                    size_t vl = unescape(qc + k + 1, j - k - 1);
                    buf_json_str(&b, qc + k + 1, vl);
                }
            }
            i = j + 1;
        }
        free(qc);
    }
    pw_bytes_free(&path);
    buf_puts(&b, "}");

    /* headers: lower-case names (the host's order), pseudo-headers left out */
    buf_puts(&b, ",\"headers\":{");
    pw_bytes_t all;
    first = true;
    if (pw_get_headers(PW_MAP_HTTP_REQUEST_HEADERS, &all) == PW_OK) {
        pw_pairs_iter_t it;
        pw_pair_t p;
        if (pw_pairs_iter_init(&it, all.data, all.size) == PW_OK) {
            while (pw_pairs_next(&it, &p)) {
                if (p.key_len > 0 && p.key[0] == ':') continue;
                if (!first) buf_puts(&b, ",");
                first = false;
                buf_json_str(&b, p.key, p.key_len);
                buf_puts(&b, ":");
                buf_json_str(&b, p.value, p.value_len);
            }
        }
    }
    pw_bytes_free(&all);
    buf_puts(&b, "},\"raw_body\":");
    buf_json_str(&b, body ? body : "", body_len);
    buf_puts(&b, "}");

    const char *route_path[] = {"route_name"};
    buf_puts(&b, ",\"matched_route\":");
    if (pw_get_property(route_path, 1, &v) == PW_OK) {
        buf_puts(&b, "{\"name\":");
        buf_json_str(&b, v.data ? v.data : "", v.size);
        buf_puts(&b, "}");
    } else {
        buf_puts(&b, "null");
    }
    pw_bytes_free(&v);
    const char *svc_path[] = {"weir", "service_name"};
    buf_puts(&b, ",\"matched_service\":");
    if (pw_get_property(svc_path, 2, &v) == PW_OK) {
        buf_puts(&b, "{\"name\":");
        buf_json_str(&b, v.data ? v.data : "", v.size);
        buf_puts(&b, "}");
    } else {
        buf_puts(&b, "null");
    }
    pw_bytes_free(&v);
    buf_puts(&b, "}");

    pw_action_t a;
    static const pw_pair_t json_ct[] = {PW_PAIR("content-type", "application/json; charset=utf-8")};
    if (b.oom) {
        a = exit_with(500, NULL, 0, NULL, 0);
    } else {
        a = exit_with(c->status, json_ct, 1, b.p, b.len);
    }
    free(b.p);
    return a;
}

static pw_action_t terminate(const config *c) {
    if (c->body.data != NULL) {
        if (c->content_type.data != NULL) {
            pw_pair_t h = {"content-type", 12, c->content_type.data, c->content_type.len};
            return exit_with(c->status, &h, 1, c->body.data, c->body.len);
        }
        return exit_with(c->status, NULL, 0, c->body.data, c->body.len);
    }
    const char *msg = c->message.data;
    size_t msg_len = c->message.len;
    if (msg == NULL) {
        msg = default_message(c->status);
        msg_len = msg ? strlen(msg) : 0;
    }
    if (msg == NULL) return exit_with(c->status, NULL, 0, NULL, 0);
    buf b = {0};
    buf_puts(&b, "{\"message\":");
    buf_json_str(&b, msg, msg_len);
    buf_puts(&b, "}");
    static const pw_pair_t json_ct[] = {PW_PAIR("content-type", "application/json; charset=utf-8")};
    pw_action_t a = b.oom ? exit_with(500, NULL, 0, NULL, 0) : exit_with(c->status, json_ct, 1, b.p, b.len);
    free(b.p);
    return a;
}

/* triggered reports whether the request carries config.trigger as a
 * header or a query argument. */
static bool triggered(const config *c) {
    if (c->trigger.data == NULL) return true;
    pw_bytes_t v;
    pw_status_t st = pw_get_header_n(PW_MAP_HTTP_REQUEST_HEADERS, c->trigger.data, c->trigger.len, &v);
    pw_bytes_free(&v);
    if (st == PW_OK) return true;
    pw_bytes_t path;
    if (pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &path) != PW_OK) return false;
    bool found = false;
    for (size_t i = 0; i < path.size; i++) {
        if (path.data[i] == '?') {
            found = query_has(path.data + i + 1, path.size - i - 1, &c->trigger);
            break;
        }
    }
    pw_bytes_free(&path);
    return found;
}

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers;
    stream *s = pw_context_data(context_id);
    if (s == NULL) return exit_with(500, NULL, 0, NULL, 0);
    if (!triggered(s->c)) return PW_ACTION_CONTINUE;
    if (!s->c->echo) return terminate(s->c);
    if (end_of_stream) return send_echo(s->c, NULL, 0);
    /* Kong's echo includes the request body: answer once it is in. */
    s->echo_pending = true;
    return PW_ACTION_CONTINUE;
}

pw_action_t pw_on_request_body(uint32_t context_id, uint32_t body_size, bool end_of_stream) {
    stream *s = pw_context_data(context_id);
    if (s == NULL || !s->echo_pending) return PW_ACTION_CONTINUE;
    if (!end_of_stream) return PW_ACTION_PAUSE; /* buffer it */
    s->echo_pending = false;
    pw_bytes_t body;
    pw_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, body_size, &body);
    pw_action_t a = send_echo(s->c, body.data, body.size);
    pw_bytes_free(&body);
    return a;
}
