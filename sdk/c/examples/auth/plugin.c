/*
 * Build (from the repository root; auth.wasm is committed next to this file):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Wl,--strip-debug -Isdk/c/include sdk/c/src/proxy_wasm.c sdk/c/examples/auth/plugin.c -o sdk/c/examples/auth/auth.wasm
 *
 * auth: a Weir proxy-wasm example plugin written with the C SDK: API-key
 * authentication. It behaves exactly like sdk/go/examples/auth (the same
 * behaviour tests run against both). The request header "x-api-key" must
 * equal one of the configured keys:
 *   - missing or unknown key: local response 401 with the headers
 *     "www-authenticate: Key" and "content-type: application/json" and the
 *     body {"message":"Unauthorized"}; the request never goes upstream;
 *   - valid key: the request continues with "x-api-key" removed, so the
 *     credential is not forwarded.
 * Keys are compared in constant time. Empty keys are ignored; with no keys
 * every request is rejected (a warning is logged at start).
 *
 * Configuration (JSON): {"keys": ["k1", "k2"]}. Anything but an array of
 * strings (null elements count as empty keys) fails the plugin start.
 */
#include <stdlib.h>
#include <string.h>

#include "proxy_wasm.h"

#define KEY_HEADER "x-api-key"
/* The local response body, as Kong's key-auth plugin answers. */
#define UNAUTHORIZED_BODY "{\"message\":\"Unauthorized\"}"

typedef struct key {
    char *data;
    size_t len;
} key;

/* plugin is the state of one root context. Streams hold a reference to it
 * and read its current keys, as the Go example's HTTP contexts point to
 * their plugin context; it is freed with its last reference. */
typedef struct plugin {
    unsigned refs;
    key *keys;
    size_t n_keys;
} plugin;

static void free_keys(key *keys, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(keys[i].data);
    }
    free(keys);
}

static void plugin_release(plugin *p) {
    if (p != NULL && --p->refs == 0) {
        free_keys(p->keys, p->n_keys);
        free(p);
    }
}

/* parse_keys decodes the configuration into *keys (non-empty keys only),
 * or logs one error and returns false. */
static bool parse_keys(const char *raw, size_t len, key **keys, size_t *n_keys) {
    *keys = NULL;
    *n_keys = 0;
    if (len == 0) {
        return true;
    }
    pw_json_t doc;
    if (!pw_json_parse(raw, len, &doc)) {
        PW_LOG_ERROR("auth: invalid configuration: not valid JSON");
        return false;
    }
    if (doc.kind == PW_JSON_NULL) {
        return true;
    }
    if (doc.kind != PW_JSON_OBJECT) {
        PW_LOG_ERROR("auth: invalid configuration: not a JSON object");
        return false;
    }
    /* Find the last "keys" member and check its type. */
    pw_json_t name, value, found = {NULL, 0, PW_JSON_NULL};
    size_t pos = 0;
    while (pw_json_object_next(&doc, &pos, &name, &value)) {
        if (!pw_json_name_equal(&name, "keys")) {
            continue;
        }
        if (value.kind != PW_JSON_ARRAY && value.kind != PW_JSON_NULL) {
            PW_LOG_ERROR("auth: invalid configuration: \"keys\" must be an array of strings");
            return false;
        }
        found = value; /* null resets the keys, like encoding/json */
    }
    if (found.kind == PW_JSON_NULL) {
        return true;
    }
    pw_json_t elem;
    size_t n = 0;
    pos = 0;
    while (pw_json_array_next(&found, &pos, &elem)) {
        if (elem.kind != PW_JSON_STRING && elem.kind != PW_JSON_NULL) {
            PW_LOG_ERROR("auth: invalid configuration: \"keys\" must be an array of strings");
            return false;
        }
        n++;
    }
    key *out = calloc(n ? n : 1, sizeof *out);
    if (out == NULL) {
        PW_LOG_ERROR("auth: out of memory");
        return false;
    }
    size_t count = 0;
    pos = 0;
    while (pw_json_array_next(&found, &pos, &elem)) {
        if (elem.kind == PW_JSON_NULL || pw_json_unquote(&elem, NULL) == 0) {
            continue; /* empty keys never match */
        }
        out[count].data = pw_json_strdup(&elem, &out[count].len);
        if (out[count].data == NULL) {
            free_keys(out, count);
            PW_LOG_ERROR("auth: out of memory");
            return false;
        }
        count++;
    }
    *keys = out;
    *n_keys = count;
    return true;
}

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        plugin *p = calloc(1, sizeof *p);
        if (p != NULL) {
            p->refs = 1;
            pw_set_context_data(context_id, p);
        }
        return;
    }
    plugin *p = pw_context_data(root_id);
    if (p != NULL) {
        p->refs++;
        pw_set_context_data(context_id, p);
    }
}

void pw_on_delete(uint32_t context_id) { plugin_release(pw_context_data(context_id)); }

bool pw_on_configure(uint32_t root_id, uint32_t config_size) {
    (void)config_size;
    plugin *p = pw_context_data(root_id);
    if (p == NULL) {
        PW_LOG_ERROR("auth: out of memory");
        return false;
    }
    pw_bytes_t raw;
    pw_status_t st = pw_get_plugin_configuration(&raw);
    if (st == PW_NOT_FOUND) {
        st = PW_OK; /* no configuration: no keys */
    }
    if (st != PW_OK) {
        PW_LOG_ERROR("auth: read plugin configuration: host returned %s", pw_status_name(st));
        return false;
    }
    key *keys;
    size_t n;
    bool ok = parse_keys(raw.data, raw.size, &keys, &n);
    pw_bytes_free(&raw);
    if (!ok) {
        return false; /* keep the previous keys, as the Go example does */
    }
    free_keys(p->keys, p->n_keys);
    p->keys = keys;
    p->n_keys = n;
    if (n == 0) {
        PW_LOG_WARN("auth: no keys configured: every request will be rejected");
    }
    return true;
}

/* valid reports whether k[0:len) is a configured key. Every configured
 * key of the same length is compared in full, so timing does not reveal
 * how close a guess is (Go's subtle.ConstantTimeCompare). */
static bool valid(const plugin *p, const char *k, size_t len) {
    unsigned ok = 0;
    for (size_t i = 0; p != NULL && i < p->n_keys; i++) {
        if (p->keys[i].len != len) {
            continue;
        }
        unsigned char diff = 0;
        for (size_t j = 0; j < len; j++) {
            diff |= (unsigned char)(p->keys[i].data[j] ^ k[j]);
        }
        ok |= diff == 0;
    }
    return ok == 1;
}

/* reject answers 401 and stops the request. */
static pw_action_t reject(void) {
    static const pw_pair_t headers[] = {
        PW_PAIR("www-authenticate", "Key"),
        PW_PAIR("content-type", "application/json"),
    };
    pw_status_t st = pw_send_http_response(401, headers, 2, UNAUTHORIZED_BODY,
                                           sizeof UNAUTHORIZED_BODY - 1);
    if (st != PW_OK) {
        PW_LOG_ERROR("auth: send 401: host returned %s", pw_status_name(st));
        pw_reset_http_stream();
    }
    return PW_ACTION_PAUSE;
}

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers, (void)end_of_stream;
    pw_bytes_t k;
    pw_status_t st = pw_get_header(PW_MAP_HTTP_REQUEST_HEADERS, KEY_HEADER, &k);
    bool ok = st == PW_OK && valid(pw_context_data(context_id), k.data, k.size);
    pw_bytes_free(&k);
    if (!ok) {
        return reject();
    }
    st = pw_remove_header(PW_MAP_HTTP_REQUEST_HEADERS, KEY_HEADER);
    if (st != PW_OK) {
        /* Forwarding the credential upstream would leak it: fail closed. */
        PW_LOG_ERROR("auth: remove %s: host returned %s", KEY_HEADER, pw_status_name(st));
        return reject();
    }
    return PW_ACTION_CONTINUE;
}
