/*
 * Build (from the repository root; headers.wasm is committed next to this file):
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -std=c11 -O2 -Wall -Wextra -Wl,--strip-debug -Isdk/c/include sdk/c/src/proxy_wasm.c sdk/c/examples/headers/plugin.c -o sdk/c/examples/headers/headers.wasm
 *
 * headers: a Weir proxy-wasm example plugin written with the C SDK. It
 * behaves exactly like sdk/go/examples/headers (the same behaviour tests
 * run against both): it sets the request header "x-weir-example: <value>"
 * (replacing any value the client sent) before the request goes upstream,
 * and the response header "x-powered-by: weir-go-sdk" before the response
 * goes back to the client.
 *
 * Configuration (JSON): {"value": "..."}; value defaults to "hello". A
 * non-string value, a non-object document or invalid JSON fails the plugin
 * start; null, unknown members and an empty configuration keep the default
 * (as Go's encoding/json does).
 */
#include <stdlib.h>
#include <string.h>

#include "proxy_wasm.h"

#define REQUEST_HEADER "x-weir-example"
#define RESPONSE_HEADER "x-powered-by"
/* Byte-identical to the Go example so one behaviour test covers both. */
#define POWERED_BY "weir-go-sdk"
#define DEFAULT_VALUE "hello"

/* config is one parsed configuration. A stream keeps the configuration
 * its root had when the stream was created (as the Go example copies the
 * value into each HTTP context), so configs are reference counted: the
 * root holds one reference, each stream another. */
typedef struct config {
    unsigned refs;
    size_t value_len;
    char value[]; /* NUL-terminated; may contain NUL bytes from \u0000 */
} config;

static config *config_new(const char *value, size_t len) {
    config *c = malloc(sizeof *c + len + 1);
    if (c != NULL) {
        c->refs = 1;
        c->value_len = len;
        memcpy(c->value, value, len);
        c->value[len] = 0;
    }
    return c;
}

static void config_release(config *c) {
    if (c != NULL && --c->refs == 0) {
        free(c);
    }
}

/* parse_config decodes raw into a new config, or logs one error and
 * returns NULL. */
static config *parse_config(const char *raw, size_t len) {
    if (len == 0) {
        return config_new(DEFAULT_VALUE, sizeof DEFAULT_VALUE - 1);
    }
    pw_json_t doc;
    if (!pw_json_parse(raw, len, &doc)) {
        PW_LOG_ERROR("headers: invalid configuration: not valid JSON");
        return NULL;
    }
    if (doc.kind == PW_JSON_NULL) {
        return config_new(DEFAULT_VALUE, sizeof DEFAULT_VALUE - 1);
    }
    if (doc.kind != PW_JSON_OBJECT) {
        PW_LOG_ERROR("headers: invalid configuration: not a JSON object");
        return NULL;
    }
    pw_json_t name, value, found = {NULL, 0, PW_JSON_NULL};
    size_t pos = 0;
    while (pw_json_object_next(&doc, &pos, &name, &value)) {
        if (!pw_json_name_equal(&name, "value") || value.kind == PW_JSON_NULL) {
            continue; /* unknown member, or null: keep what we have */
        }
        if (value.kind != PW_JSON_STRING) {
            PW_LOG_ERROR("headers: invalid configuration: \"value\" must be a string");
            return NULL;
        }
        found = value; /* the last one wins */
    }
    if (found.kind == PW_JSON_NULL) {
        return config_new(DEFAULT_VALUE, sizeof DEFAULT_VALUE - 1);
    }
    size_t n = 0;
    char *s = pw_json_strdup(&found, &n);
    config *c = s != NULL ? config_new(s, n) : NULL;
    free(s);
    if (c == NULL) {
        PW_LOG_ERROR("headers: out of memory");
    }
    return c;
}

bool pw_on_configure(uint32_t root_id, uint32_t config_size) {
    (void)config_size;
    pw_bytes_t raw;
    pw_status_t st = pw_get_plugin_configuration(&raw);
    if (st == PW_NOT_FOUND) {
        st = PW_OK; /* no configuration: defaults */
    }
    if (st != PW_OK) {
        PW_LOG_ERROR("headers: read plugin configuration: host returned %s", pw_status_name(st));
        return false;
    }
    config *c = parse_config(raw.data, raw.size);
    pw_bytes_free(&raw);
    if (c == NULL) {
        return false;
    }
    config_release(pw_context_data(root_id));
    pw_set_context_data(root_id, c);
    return true;
}

void pw_on_context_create(uint32_t context_id, uint32_t root_id) {
    if (root_id == 0) {
        return; /* the root gets its config in pw_on_configure */
    }
    config *c = pw_context_data(root_id);
    if (c != NULL) {
        c->refs++;
        pw_set_context_data(context_id, c);
    }
}

void pw_on_delete(uint32_t context_id) { config_release(pw_context_data(context_id)); }

pw_action_t pw_on_request_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)num_headers, (void)end_of_stream;
    const config *c = pw_context_data(context_id);
    /* A stream created before any configuration sets an empty value, as a
     * Go HTTP context created with the zero value would. */
    pw_status_t st = c != NULL ? pw_replace_header_n(PW_MAP_HTTP_REQUEST_HEADERS, REQUEST_HEADER,
                                                     sizeof REQUEST_HEADER - 1, c->value, c->value_len)
                               : pw_replace_header(PW_MAP_HTTP_REQUEST_HEADERS, REQUEST_HEADER, "");
    if (st != PW_OK) {
        PW_LOG_ERROR("headers: set %s: host returned %s", REQUEST_HEADER, pw_status_name(st));
    }
    return PW_ACTION_CONTINUE;
}

pw_action_t pw_on_response_headers(uint32_t context_id, uint32_t num_headers, bool end_of_stream) {
    (void)context_id, (void)num_headers, (void)end_of_stream;
    pw_status_t st = pw_replace_header(PW_MAP_HTTP_RESPONSE_HEADERS, RESPONSE_HEADER, POWERED_BY);
    if (st != PW_OK) {
        PW_LOG_ERROR("headers: set %s: host returned %s", RESPONSE_HEADER, pw_status_name(st));
    }
    return PW_ACTION_CONTINUE;
}
