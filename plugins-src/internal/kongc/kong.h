/*
 * kong.h: what Weir's built-in C plugins (plugins-src/<name>/plugin.c)
 * share, as static functions included into each module (the builder
 * compiles plugin.c with sdk/c only): a growable byte buffer with Go-style
 * JSON string escaping, Kong's error responses, Go net/url compatible query
 * parsing and encoding (the Go plugins these replace used url.ParseQuery
 * and url.Values.Encode), and small string helpers. Every function checks
 * its bounds: input comes from hostile requests and configurations.
 *
 * Tested natively by plugins-src/internal/kongc/testdata/kong_test.c (run by
 * kongc_test.go).
 */
#ifndef WEIR_KONGC_H
#define WEIR_KONGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_wasm.h"

/* kc_str is a byte string; data NULL means "not set". */
typedef struct kc_str {
    char *data;
    size_t len;
} kc_str;

static inline void kc_str_free(kc_str *s) {
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

/* kc_str_dup copies p[0:n) (NUL-terminated); false when out of memory. */
static inline bool kc_str_dup(kc_str *s, const char *p, size_t n) {
    char *d = malloc(n + 1);
    if (d == NULL) return false;
    if (n > 0) memcpy(d, p, n);
    d[n] = '\0';
    free(s->data);
    s->data = d;
    s->len = n;
    return true;
}

static inline bool kc_eq(const char *a, size_t an, const char *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static inline char kc_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* kc_eq_fold compares ASCII case-insensitively (header names). */
static inline bool kc_eq_fold(const char *a, size_t an, const char *b, size_t bn) {
    if (an != bn) return false;
    for (size_t i = 0; i < an; i++)
        if (kc_lower(a[i]) != kc_lower(b[i])) return false;
    return true;
}

/* ---- growable buffer ---- */

/* kc_buf grows on demand; oom is sticky (every later put is dropped). */
typedef struct kc_buf {
    char *p;
    size_t len, cap;
    bool oom;
} kc_buf;

static inline void kc_buf_put(kc_buf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
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

static inline void kc_buf_puts(kc_buf *b, const char *s) { kc_buf_put(b, s, strlen(s)); }
static inline void kc_buf_putc(kc_buf *b, char c) { kc_buf_put(b, &c, 1); }
static inline void kc_buf_free(kc_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

static inline void kc_buf_int(kc_buf *b, int64_t v) {
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    if (n > 0) kc_buf_put(b, num, (size_t)n);
}

/* kc_utf8_len returns the length of the valid UTF-8 sequence at s[0:n),
 * or 0 when it is not valid (as Go's utf8.DecodeRune reports RuneError). */
static inline size_t kc_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) need = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) need = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) need = 4, min = 0x10000;
    else return 0;
    if (n < need) return 0;
    unsigned r = c & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0;
    return need;
}

/* kc_buf_json_str appends s[0:n) as a JSON string. go_html: as Go's
 * json.Marshal (<, >, & escaped, invalid UTF-8 as \ufffd, U+2028/2029
 * escaped, \n \r \t short forms); otherwise as Weir's kongext error bodies
 * (", \ and control bytes only). */
static inline void kc_buf_json_str(kc_buf *b, const char *s, size_t n, bool go_html) {
    static const char hex[] = "0123456789abcdef";
    kc_buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t adv = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c < 0x20) {
            if (go_html && c == '\n') esc = "\\n";
            else if (go_html && c == '\r') esc = "\\r";
            else if (go_html && c == '\t') esc = "\\t";
            else esc = u;
        } else if (go_html && (c == '<' || c == '>' || c == '&')) {
            esc = u;
        } else if (go_html && c >= 0x80) {
            adv = kc_utf8_len((const unsigned char *)s + i, n - i);
            if (adv == 0) {
                esc = "\\ufffd";
                adv = 1;
            } else if (adv == 3 && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
                       ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
                esc = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            }
        }
        if (esc != NULL) {
            kc_buf_put(b, s + start, i - start);
            kc_buf_put(b, esc, esc == u ? 6 : strlen(esc));
            start = i + adv;
        }
        i += adv;
    }
    kc_buf_put(b, s + start, n - start);
    kc_buf_putc(b, '"');
}

/* ---- Kong responses ---- */

#define KC_JSON_CT "application/json; charset=utf-8"
#define KC_MAX_EXTRA_HEADERS 24

/* kc_exit sends a local response; if the host refuses, the stream is reset
 * (a plugin that meant to stop the request must not let it through). */
static inline pw_action_t kc_exit(uint32_t status, const pw_pair_t *h, size_t n, const char *body, size_t body_len) {
    pw_status_t st = pw_send_http_response(status, h, n, body, body_len);
    if (st != PW_OK) {
        PW_LOG_ERROR("send local response %u: host returned %s", (unsigned)status, pw_status_name(st));
        pw_reset_http_stream();
    }
    return PW_ACTION_PAUSE;
}

/* kc_error answers as kong.response.error: status, Content-Type JSON,
 * extra headers (at most KC_MAX_EXTRA_HEADERS), body {"message": msg,
 * "request_id": id} (request_id left out when the host has none). go_html
 * picks the body's string escaping (kc_buf_json_str). */
static inline pw_action_t kc_error(uint32_t status, const char *msg, size_t msg_len, const pw_pair_t *extra, size_t n, bool go_html) {
    pw_pair_t hs[KC_MAX_EXTRA_HEADERS + 1] = {PW_PAIR("content-type", KC_JSON_CT)};
    if (n > KC_MAX_EXTRA_HEADERS) n = KC_MAX_EXTRA_HEADERS;
    for (size_t i = 0; i < n; i++) hs[i + 1] = extra[i];
    kc_buf b = {0};
    kc_buf_puts(&b, "{\"message\":");
    kc_buf_json_str(&b, msg, msg_len, go_html);
    pw_bytes_t id;
    static const char *const id_path[] = {"request", "id"};
    if (pw_get_property(id_path, 2, &id) == PW_OK && id.size > 0) {
        kc_buf_puts(&b, ",\"request_id\":");
        kc_buf_json_str(&b, id.data, id.size, go_html);
    }
    pw_bytes_free(&id);
    kc_buf_putc(&b, '}');
    pw_action_t a;
    if (b.oom) {
        static const char oom[] = "{\"message\":\"An unexpected error occurred\"}";
        a = kc_exit(500, hs, 1, oom, sizeof oom - 1);
    } else {
        a = kc_exit(status, hs, n + 1, b.p, b.len);
    }
    kc_buf_free(&b);
    return a;
}

/* ---- query strings (Go net/url semantics) ---- */

static inline int kc_hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* kc_query_unescape is url.QueryUnescape of s[0:n) into dst (room for n
 * bytes): '+' is a space; false on a bad %-escape. *out_len gets the
 * length. */
static inline bool kc_query_unescape(const char *s, size_t n, char *dst, size_t *out_len) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            dst[o++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n) return false;
            int h = kc_hexval(s[i + 1]), l = kc_hexval(s[i + 2]);
            if (h < 0 || l < 0) return false;
            dst[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            dst[o++] = s[i];
        }
    }
    *out_len = o;
    return true;
}

/* kc_query_escape appends url.QueryEscape(s[0:n)). */
static inline void kc_query_escape(kc_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            kc_buf_putc(b, (char)c);
        } else if (c == ' ') {
            kc_buf_putc(b, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            kc_buf_put(b, e, 3);
        }
    }
}

/* kc_kv is one decoded query argument (owned strings). */
typedef struct kc_kv {
    kc_str k, v;
} kc_kv;

/* kc_values is url.Values kept as an ordered list of arguments: the values
 * of a name are its entries in order. */
typedef struct kc_values {
    kc_kv *e;
    size_t n, cap;
    bool oom;
    bool bad; /* a pair was dropped for a parse error (url.ParseQuery's err) */
} kc_values;

static inline void kc_values_free(kc_values *q) {
    for (size_t i = 0; i < q->n; i++) {
        kc_str_free(&q->e[i].k);
        kc_str_free(&q->e[i].v);
    }
    free(q->e);
    memset(q, 0, sizeof *q);
}

/* kc_values_add appends name=value (copies). */
static inline bool kc_values_add(kc_values *q, const char *k, size_t kl, const char *v, size_t vl) {
    if (q->oom) return false;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        kc_kv *ne = realloc(q->e, cap * sizeof *ne);
        if (ne == NULL) {
            q->oom = true;
            return false;
        }
        q->e = ne;
        q->cap = cap;
    }
    kc_kv kv = {{0}, {0}};
    if (!kc_str_dup(&kv.k, k, kl) || !kc_str_dup(&kv.v, v, vl)) {
        kc_str_free(&kv.k);
        q->oom = true;
        return false;
    }
    q->e[q->n++] = kv;
    return true;
}

/* kc_values_parse is url.ParseQuery: '&'-separated, pairs containing ';'
 * or a bad escape are dropped (and q->bad set), empty pairs skipped. */
static inline bool kc_values_parse(kc_values *q, const char *s, size_t n) {
    char *tmp = malloc(n + 1);
    if (tmp == NULL) {
        q->oom = true;
        return false;
    }
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&') j++;
        if (j > i) {
            bool semi = memchr(s + i, ';', j - i) != NULL;
            size_t k = i;
            while (k < j && s[k] != '=') k++;
            size_t kl, vl;
            if (semi || !kc_query_unescape(s + i, k - i, tmp, &kl)) {
                q->bad = true;
            } else {
                char *kd = malloc(kl + 1);
                if (kd == NULL) {
                    q->oom = true;
                    break;
                }
                memcpy(kd, tmp, kl);
                const char *vs = k < j ? s + k + 1 : s + j;
                size_t vn = k < j ? j - k - 1 : 0;
                if (!kc_query_unescape(vs, vn, tmp, &vl)) {
                    q->bad = true;
                } else {
                    kc_values_add(q, kd, kl, tmp, vl);
                }
                free(kd);
            }
        }
        i = j + 1;
    }
    free(tmp);
    return !q->oom;
}

/* kc_values_count returns how many values name has, and the first's index. */
static inline size_t kc_values_count(const kc_values *q, const char *k, size_t kl, size_t *first) {
    size_t c = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (kc_eq(q->e[i].k.data, q->e[i].k.len, k, kl)) {
            if (c == 0 && first != NULL) *first = i;
            c++;
        }
    }
    return c;
}

/* kc_values_del removes every value of name. */
static inline void kc_values_del(kc_values *q, const char *k, size_t kl) {
    size_t o = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (kc_eq(q->e[i].k.data, q->e[i].k.len, k, kl)) {
            kc_str_free(&q->e[i].k);
            kc_str_free(&q->e[i].v);
        } else {
            q->e[o++] = q->e[i];
        }
    }
    q->n = o;
}

/* kc_values_rename moves every value of from to name to (dropping to's),
 * keeping their order: Go's q[to] = q[from]; delete(q, from). */
static inline void kc_values_rename(kc_values *q, const char *from, size_t fl, const char *to, size_t tl) {
    if (kc_eq(from, fl, to, tl)) return;
    kc_values_del(q, to, tl);
    for (size_t i = 0; i < q->n; i++) {
        if (kc_eq(q->e[i].k.data, q->e[i].k.len, from, fl)) {
            if (!kc_str_dup(&q->e[i].k, to, tl)) q->oom = true;
        }
    }
}

/* kc_values_set replaces the values of name with the one value. */
static inline void kc_values_set(kc_values *q, const char *k, size_t kl, const char *v, size_t vl) {
    kc_values_del(q, k, kl);
    kc_values_add(q, k, kl, v, vl);
}

static inline int kc_bytes_cmp(const char *a, size_t an, const char *b, size_t bn) {
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c != 0) return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* kc_values_encode appends url.Values.Encode(): names sorted (bytewise),
 * values in order, QueryEscape'd. */
static inline void kc_values_encode(const kc_values *q, kc_buf *b) {
    /* stable insertion sort of indexes by name (lists are small) */
    size_t *idx = malloc((q->n ? q->n : 1) * sizeof *idx);
    if (idx == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < q->n; i++) {
        size_t j = i;
        while (j > 0 && kc_bytes_cmp(q->e[idx[j - 1]].k.data, q->e[idx[j - 1]].k.len, q->e[i].k.data, q->e[i].k.len) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < q->n; i++) {
        const kc_kv *kv = &q->e[idx[i]];
        if (i > 0) kc_buf_putc(b, '&');
        kc_query_escape(b, kv->k.data, kv->k.len);
        kc_buf_putc(b, '=');
        kc_query_escape(b, kv->v.data, kv->v.len);
    }
    free(idx);
}

/* ---- header maps ---- */

/* kc_header_count counts the values of a header (case-insensitive name)
 * in pairs-encoded headers, storing the first in *first. */
static inline size_t kc_header_count(const pw_bytes_t *all, const char *name, size_t nl, pw_pair_t *first) {
    pw_pairs_iter_t it;
    pw_pair_t p;
    size_t c = 0;
    if (all->size == 0 || pw_pairs_iter_init(&it, all->data, all->size) != PW_OK) return 0;
    while (pw_pairs_next(&it, &p)) {
        if (kc_eq_fold(p.key, p.key_len, name, nl)) {
            if (c == 0 && first != NULL) *first = p;
            c++;
        }
    }
    return c;
}

/* kc_config_text reads the plugin configuration (empty when absent);
 * false when the host fails. */
static inline bool kc_config_text(pw_bytes_t *raw) {
    pw_status_t st = pw_get_plugin_configuration(raw);
    if (st == PW_NOT_FOUND) {
        pw_bytes_free(raw);
        return true;
    }
    return st == PW_OK;
}

/* kc_json_is_blank reports whether the document is empty or only "null"
 * (the Go plugins keep their defaults then). */
static inline bool kc_json_is_blank(const char *p, size_t n) {
    size_t i = 0, j = n;
    while (i < j && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
    while (j > i && (p[j - 1] == ' ' || p[j - 1] == '\t' || p[j - 1] == '\r' || p[j - 1] == '\n')) j--;
    return i == j || (j - i == 4 && memcmp(p + i, "null", 4) == 0);
}

/* kc_json_name copies an object member name (unquoted) into dst[cap];
 * names that do not fit come back empty (no field has such a name). */
static inline void kc_json_name(const pw_json_t *name, char *dst, size_t cap) {
    dst[0] = '\0';
    size_t n = pw_json_unquote(name, NULL);
    if (n >= cap) return;
    char *tmp = malloc(n + 1);
    if (tmp == NULL) return;
    size_t got = pw_json_unquote(name, tmp);
    if (got < cap && memchr(tmp, '\0', got) == NULL) {
        memcpy(dst, tmp, got);
        dst[got] = '\0';
    }
    free(tmp);
}

/* kc_json_number parses a JSON number into a double (false when v is not
 * a number). */
static inline bool kc_json_number(const pw_json_t *v, double *out) {
    char num[64];
    if (v->kind != PW_JSON_NUMBER || v->len >= sizeof num) return false;
    memcpy(num, v->ptr, v->len);
    num[v->len] = '\0';
    char *end;
    double d = strtod(num, &end);
    if (*end != '\0') return false;
    *out = d;
    return true;
}


/* ---- JSON output as Go's json.Marshal writes it ---- */

/* kc_json_compact_go appends the valid JSON value v compacted the way
 * json.Marshal writes a json.RawMessage: insignificant whitespace dropped,
 * <, >, & and U+2028/U+2029 inside strings escaped. */
static inline void kc_json_compact_go(kc_buf *b, const char *v, size_t n) {
    bool in_str = false;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        const char *esc = NULL;
        size_t skip = 1;
        if (in_str) {
            if (c == '\\') {
                i++; /* keep the escaped byte */
                continue;
            }
            if (c == '"') in_str = false;
            else if (c == '<') esc = "\\u003c";
            else if (c == '>') esc = "\\u003e";
            else if (c == '&') esc = "\\u0026";
            else if (c == 0xE2 && i + 2 < n && (unsigned char)v[i + 1] == 0x80 &&
                     ((unsigned char)v[i + 2] == 0xA8 || (unsigned char)v[i + 2] == 0xA9)) {
                esc = (unsigned char)v[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
                skip = 3;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            esc = "";
        }
        if (esc != NULL) {
            kc_buf_put(b, v + start, i - start);
            kc_buf_puts(b, esc);
            start = i + skip;
            i += skip - 1;
        }
    }
    if (start < n) kc_buf_put(b, v + start, n - start);
}

/* kc_member is one member of a decoded JSON object: its decoded name and
 * either a raw value (a slice of the document) or an owned replacement
 * already encoded as JSON. */
typedef struct kc_member {
    kc_str name;
    const char *raw;
    size_t raw_len;
    pw_json_kind_t kind;
    kc_buf enc; /* used when raw is NULL */
} kc_member;

/* kc_object is a JSON object as Go's map[string]T: one member per name
 * (a repeated name keeps its last value). */
typedef struct kc_object {
    kc_member *m;
    size_t n, cap;
    bool oom;
} kc_object;

static inline void kc_object_free(kc_object *o) {
    for (size_t i = 0; i < o->n; i++) {
        kc_str_free(&o->m[i].name);
        kc_buf_free(&o->m[i].enc);
    }
    free(o->m);
    memset(o, 0, sizeof *o);
}

static inline kc_member *kc_object_find(kc_object *o, const char *k, size_t kl) {
    for (size_t i = 0; i < o->n; i++)
        if (kc_eq(o->m[i].name.data, o->m[i].name.len, k, kl)) return &o->m[i];
    return NULL;
}

/* kc_object_put returns the member named k, added (kind INVALID, no
 * value) if missing; NULL when out of memory. */
static inline kc_member *kc_object_put(kc_object *o, const char *k, size_t kl) {
    kc_member *m = kc_object_find(o, k, kl);
    if (m != NULL) return m;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        kc_member *nm = realloc(o->m, cap * sizeof *nm);
        if (nm == NULL) {
            o->oom = true;
            return NULL;
        }
        o->m = nm;
        o->cap = cap;
    }
    m = &o->m[o->n];
    memset(m, 0, sizeof *m);
    if (!kc_str_dup(&m->name, k, kl)) {
        o->oom = true;
        return NULL;
    }
    o->n++;
    return m;
}

static inline void kc_object_del(kc_object *o, const char *k, size_t kl) {
    kc_member *m = kc_object_find(o, k, kl);
    if (m == NULL) return;
    kc_str_free(&m->name);
    kc_buf_free(&m->enc);
    size_t i = (size_t)(m - o->m);
    memmove(&o->m[i], &o->m[i + 1], (o->n - i - 1) * sizeof *m);
    o->n--;
}

/* kc_object_parse decodes the object doc (already validated as an object
 * by pw_json_parse); values stay slices of the document. */
static inline bool kc_object_parse(kc_object *o, const pw_json_t *doc) {
    pw_json_t name, v;
    size_t pos = 0;
    while (pw_json_object_next(doc, &pos, &name, &v)) {
        size_t n = pw_json_unquote(&name, NULL);
        char *k = malloc(n + 1);
        if (k == NULL) {
            o->oom = true;
            return false;
        }
        n = pw_json_unquote(&name, k);
        kc_member *m = kc_object_put(o, k, n);
        free(k);
        if (m == NULL) return false;
        kc_buf_free(&m->enc);
        m->raw = v.ptr;
        m->raw_len = v.len;
        m->kind = v.kind;
    }
    return true;
}

/* kc_object_encode appends the object as json.Marshal of a Go map writes
 * it: names sorted bytewise, Go string escaping, raw values compacted. */
static inline void kc_object_encode(const kc_object *o, kc_buf *b) {
    size_t *idx = malloc((o->n ? o->n : 1) * sizeof *idx);
    if (idx == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        size_t j = i;
        while (j > 0 && kc_bytes_cmp(o->m[idx[j - 1]].name.data, o->m[idx[j - 1]].name.len, o->m[i].name.data, o->m[i].name.len) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    kc_buf_putc(b, '{');
    for (size_t i = 0; i < o->n; i++) {
        const kc_member *m = &o->m[idx[i]];
        if (i > 0) kc_buf_putc(b, ',');
        kc_buf_json_str(b, m->name.data, m->name.len, true);
        kc_buf_putc(b, ':');
        if (m->raw != NULL) kc_json_compact_go(b, m->raw, m->raw_len);
        else if (m->enc.oom) b->oom = true;
        else kc_buf_put(b, m->enc.p, m->enc.len);
    }
    kc_buf_putc(b, '}');
    free(idx);
}


static inline bool kc_json_go_value(kc_buf *b, const pw_json_t *v, int depth);

/* KC_JSON_MAX_DEPTH bounds kc_json_go_value's recursion. */
#define KC_JSON_MAX_DEPTH 128

/* kc_object_encode_go is kc_object_encode with every raw value re-encoded
 * by kc_json_go_value (json.Marshal of a decoded map[string]any). */
static inline bool kc_object_encode_go(const kc_object *o, kc_buf *b, int depth) {
    size_t *idx = malloc((o->n ? o->n : 1) * sizeof *idx);
    if (idx == NULL) return false;
    for (size_t i = 0; i < o->n; i++) {
        size_t j = i;
        while (j > 0 && kc_bytes_cmp(o->m[idx[j - 1]].name.data, o->m[idx[j - 1]].name.len, o->m[i].name.data, o->m[i].name.len) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    bool ok = true;
    kc_buf_putc(b, '{');
    for (size_t i = 0; ok && i < o->n; i++) {
        const kc_member *m = &o->m[idx[i]];
        if (i > 0) kc_buf_putc(b, ',');
        kc_buf_json_str(b, m->name.data, m->name.len, true);
        kc_buf_putc(b, ':');
        if (m->raw != NULL) {
            pw_json_t v = {m->raw, m->raw_len, m->kind};
            ok = kc_json_go_value(b, &v, depth);
        } else if (m->enc.oom) {
            ok = false;
        } else {
            kc_buf_put(b, m->enc.p, m->enc.len); /* already Go-encoded */
        }
    }
    kc_buf_putc(b, '}');
    free(idx);
    return ok && !b->oom;
}

/* kc_go_float appends f as encoding/json writes a float64: the shortest
 * representation that reads back as f, fixed notation for 1e-6 <= |f| <
 * 1e21, exponent notation ("1e+21", "1e-7") otherwise. */
static inline void kc_go_float(kc_buf *b, double f) {
    char tmp[40];
    if (f == 0) {
        kc_buf_puts(b, (1 / f) < 0 ? "-0" : "0");
        return;
    }
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d[.ddd]e[+-]XX: digits and decimal exponent */
    char digits[24];
    size_t nd = 0;
    const char *q = tmp;
    bool neg = *q == '-';
    if (neg) q++;
    while (*q && *q != 'e') {
        if (*q >= '0' && *q <= '9' && nd < sizeof digits - 1) digits[nd++] = *q;
        q++;
    }
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int exp = *q == 'e' ? atoi(q + 1) : 0;
    double a = f < 0 ? -f : f;
    if (neg) kc_buf_putc(b, '-');
    if (a < 1e-6 || a >= 1e21) {
        kc_buf_putc(b, digits[0]);
        if (nd > 1) {
            kc_buf_putc(b, '.');
            kc_buf_put(b, digits + 1, nd - 1);
        }
        char e[8];
        int el = snprintf(e, sizeof e, "e%c%s%d", exp < 0 ? '-' : '+', (exp > -10 && exp < 10 && exp >= 0) ? "0" : "",
                          exp < 0 ? -exp : exp);
        kc_buf_put(b, e, (size_t)el);
        return;
    }
    if (exp < 0) {
        kc_buf_puts(b, "0.");
        for (int i = -1; i > exp; i--) kc_buf_putc(b, '0');
        kc_buf_put(b, digits, nd);
    } else if ((size_t)exp + 1 >= nd) {
        kc_buf_put(b, digits, nd);
        for (size_t i = nd; i < (size_t)exp + 1; i++) kc_buf_putc(b, '0');
    } else {
        kc_buf_put(b, digits, (size_t)exp + 1);
        kc_buf_putc(b, '.');
        kc_buf_put(b, digits + exp + 1, nd - (size_t)exp - 1);
    }
}

/* kc_json_go_value appends the valid JSON value v as json.Marshal writes
 * what json.Unmarshal decoded it to (interface{}): objects with sorted,
 * de-duplicated (last wins) names, numbers as float64, strings with Go's
 * escaping. False when Go could not decode it (a number out of float64
 * range), when it nests deeper than KC_JSON_MAX_DEPTH, or out of memory. */
static inline bool kc_json_go_value(kc_buf *b, const pw_json_t *v, int depth) {
    /* Recursion stays well inside the module's 64 KiB stack: deeper
     * documents are refused (Go would accept up to 10000 levels). */
    if (depth >= KC_JSON_MAX_DEPTH) return false;
    switch (v->kind) {
    case PW_JSON_NULL: kc_buf_puts(b, "null"); return true;
    case PW_JSON_BOOL: kc_buf_puts(b, v->ptr[0] == 't' ? "true" : "false"); return true;
    case PW_JSON_NUMBER: {
        char *num = malloc(v->len + 1);
        if (num == NULL) return false;
        memcpy(num, v->ptr, v->len);
        num[v->len] = '\0';
        double d = strtod(num, NULL);
        free(num);
        if (d - d != 0) return false; /* inf: "cannot unmarshal number" */
        kc_go_float(b, d);
        return true;
    }
    case PW_JSON_STRING: {
        size_t n = pw_json_unquote(v, NULL);
        char *s = malloc(n + 1);
        if (s == NULL) return false;
        n = pw_json_unquote(v, s);
        kc_buf_json_str(b, s, n, true);
        free(s);
        return true;
    }
    case PW_JSON_ARRAY: {
        pw_json_t e;
        size_t pos = 0;
        bool first = true;
        kc_buf_putc(b, '[');
        while (pw_json_array_next(v, &pos, &e)) {
            if (!first) kc_buf_putc(b, ',');
            first = false;
            if (!kc_json_go_value(b, &e, depth + 1)) return false;
        }
        kc_buf_putc(b, ']');
        return !b->oom;
    }
    case PW_JSON_OBJECT: {
        kc_object o = {0};
        bool ok = kc_object_parse(&o, v);
        if (ok) ok = kc_object_encode_go(&o, b, depth + 1);
        kc_object_free(&o);
        return ok && !b->oom;
    }
    default: return false;
    }
}

#endif /* WEIR_KONGC_H */
