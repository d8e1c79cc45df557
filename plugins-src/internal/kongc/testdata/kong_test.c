/*
 * testdata/kong_test.c: a native driver for kongc_test.go, which compares the C
 * helpers with the Go standard library they stand in for. Each stdin line
 * is a mode and hex-encoded fields; each stdout line the hex-encoded
 * result:
 *   query <s>          url.ParseQuery(s) then url.Values.Encode() ("!" + it when a pair was dropped)
 *   json <doc>         json.Marshal of json.Unmarshal(doc) into any ("ERR" when Go could not)
 *   re <pattern> <s>   regexp.MatchString(`^(?:pattern)$`, s): "0", "1" or "ERR <why>"
 *   unescape <s>       url.QueryUnescape(s) ("ERR" on a bad escape)
 * The proxy_* imports the SDK declares are stubbed: nothing here calls the
 * host.
 */
#include <regex.h>

#include "../re.h"

pw_status_t proxy_log(pw_log_level_t level, const char *msg, size_t msg_len) {
    (void)level;
    (void)msg;
    (void)msg_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_log_level(pw_log_level_t *ret_level) {
    (void)ret_level;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_current_time_nanoseconds(uint64_t *ret_time) {
    (void)ret_time;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_tick_period_milliseconds(uint32_t period_ms) {
    (void)period_ms;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_effective_context(uint32_t context_id) {
    (void)context_id;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_done(void) {
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_call_foreign_function(const char *name, size_t name_len, const char *args, size_t args_len, char **ret_ptr, size_t *ret_size) {
    (void)name;
    (void)name_len;
    (void)args;
    (void)args_len;
    (void)ret_ptr;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t max_size, char **ret_ptr, size_t *ret_size) {
    (void)type;
    (void)start;
    (void)max_size;
    (void)ret_ptr;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_buffer_bytes(pw_buffer_type_t type, uint32_t start, uint32_t size, const char *data, size_t data_len) {
    (void)type;
    (void)start;
    (void)size;
    (void)data;
    (void)data_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_buffer_status(pw_buffer_type_t type, size_t *ret_len, uint32_t *ret_flags) {
    (void)type;
    (void)ret_len;
    (void)ret_flags;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_header_map_pairs(pw_map_type_t map, char **ret_ptr, size_t *ret_size) {
    (void)map;
    (void)ret_ptr;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_header_map_pairs(pw_map_type_t map, const char *pairs, size_t pairs_len) {
    (void)map;
    (void)pairs;
    (void)pairs_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_header_map_value(pw_map_type_t map, const char *key, size_t key_len, char **ret_ptr, size_t *ret_size) {
    (void)map;
    (void)key;
    (void)key_len;
    (void)ret_ptr;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_add_header_map_value(pw_map_type_t map, const char *key, size_t key_len, const char *value, size_t value_len) {
    (void)map;
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_replace_header_map_value(pw_map_type_t map, const char *key, size_t key_len, const char *value, size_t value_len) {
    (void)map;
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_remove_header_map_value(pw_map_type_t map, const char *key, size_t key_len) {
    (void)map;
    (void)key;
    (void)key_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_header_map_size(pw_map_type_t map, size_t *ret_size) {
    (void)map;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_continue_stream(pw_stream_type_t stream) {
    (void)stream;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_close_stream(pw_stream_type_t stream) {
    (void)stream;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_status(uint32_t *ret_code, char **ret_msg_ptr, size_t *ret_msg_size) {
    (void)ret_code;
    (void)ret_msg_ptr;
    (void)ret_msg_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_send_local_response(uint32_t status_code, const char *details, size_t details_len, const char *body, size_t body_len, const char *headers, size_t headers_len, uint32_t grpc_status) {
    (void)status_code;
    (void)details;
    (void)details_len;
    (void)body;
    (void)body_len;
    (void)headers;
    (void)headers_len;
    (void)grpc_status;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_http_call(const char *upstream, size_t upstream_len, const char *headers, size_t headers_len, const char *body, size_t body_len, const char *trailers, size_t trailers_len, uint32_t timeout_ms, uint32_t *ret_token) {
    (void)upstream;
    (void)upstream_len;
    (void)headers;
    (void)headers_len;
    (void)body;
    (void)body_len;
    (void)trailers;
    (void)trailers_len;
    (void)timeout_ms;
    (void)ret_token;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_call(const char *upstream, size_t upstream_len, const char *service, size_t service_len, const char *method, size_t method_len, const char *metadata, size_t metadata_len, const char *message, size_t message_len, uint32_t timeout_ms, uint32_t *ret_token) {
    (void)upstream;
    (void)upstream_len;
    (void)service;
    (void)service_len;
    (void)method;
    (void)method_len;
    (void)metadata;
    (void)metadata_len;
    (void)message;
    (void)message_len;
    (void)timeout_ms;
    (void)ret_token;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_stream(const char *upstream, size_t upstream_len, const char *service, size_t service_len, const char *method, size_t method_len, const char *metadata, size_t metadata_len, uint32_t *ret_token) {
    (void)upstream;
    (void)upstream_len;
    (void)service;
    (void)service_len;
    (void)method;
    (void)method_len;
    (void)metadata;
    (void)metadata_len;
    (void)ret_token;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_send(uint32_t token, const char *message, size_t message_len, uint32_t end_stream) {
    (void)token;
    (void)message;
    (void)message_len;
    (void)end_stream;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_cancel(uint32_t token) {
    (void)token;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_grpc_close(uint32_t token) {
    (void)token;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_shared_data(const char *key, size_t key_len, char **ret_value, size_t *ret_value_size, uint32_t *ret_cas) {
    (void)key;
    (void)key_len;
    (void)ret_value;
    (void)ret_value_size;
    (void)ret_cas;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_shared_data(const char *key, size_t key_len, const char *value, size_t value_len, uint32_t cas) {
    (void)key;
    (void)key_len;
    (void)value;
    (void)value_len;
    (void)cas;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_register_shared_queue(const char *name, size_t name_len, uint32_t *ret_queue_id) {
    (void)name;
    (void)name_len;
    (void)ret_queue_id;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_resolve_shared_queue(const char *vm_id, size_t vm_id_len, const char *name, size_t name_len, uint32_t *ret_queue_id) {
    (void)vm_id;
    (void)vm_id_len;
    (void)name;
    (void)name_len;
    (void)ret_queue_id;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_enqueue_shared_queue(uint32_t queue_id, const char *value, size_t value_len) {
    (void)queue_id;
    (void)value;
    (void)value_len;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_dequeue_shared_queue(uint32_t queue_id, char **ret_value, size_t *ret_value_size) {
    (void)queue_id;
    (void)ret_value;
    (void)ret_value_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_define_metric(pw_metric_type_t type, const char *name, size_t name_len, uint32_t *ret_metric_id) {
    (void)type;
    (void)name;
    (void)name_len;
    (void)ret_metric_id;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_increment_metric(uint32_t metric_id, int64_t offset) {
    (void)metric_id;
    (void)offset;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_record_metric(uint32_t metric_id, uint64_t value) {
    (void)metric_id;
    (void)value;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_metric(uint32_t metric_id, uint64_t *ret_value) {
    (void)metric_id;
    (void)ret_value;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_get_property(const char *path, size_t path_len, char **ret_ptr, size_t *ret_size) {
    (void)path;
    (void)path_len;
    (void)ret_ptr;
    (void)ret_size;
    return PW_UNIMPLEMENTED;
}
pw_status_t proxy_set_property(const char *path, size_t path_len, const char *value, size_t value_len) {
    (void)path;
    (void)path_len;
    (void)value;
    (void)value_len;
    return PW_UNIMPLEMENTED;
}
static int hexv(int c) { return kc_hexval((char)c); }

/* field decodes the next hex field of line at *p into a malloc'd buffer. */
static char *field(const char *line, size_t *p, size_t *len) {
    while (line[*p] == ' ') (*p)++;
    size_t start = *p;
    while (line[*p] && line[*p] != ' ' && line[*p] != '\n') (*p)++;
    size_t n = (*p - start) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) out[i] = (char)(hexv(line[start + 2 * i]) * 16 + hexv(line[start + 2 * i + 1]));
    out[n] = '\0';
    *len = n;
    return out;
}

static void emit(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]);
    printf("\n");
}

int main(void) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t p = 0;
        while (line[p] && line[p] != ' ') p++;
        line[p] = '\0';
        const char *mode = line;
        p++;
        kc_buf out = {0};
        size_t n1, n2;
        char *a = field(line, &p, &n1);
        if (strcmp(mode, "query") == 0) {
            kc_values q = {0};
            kc_values_parse(&q, a, n1);
            if (q.bad) kc_buf_putc(&out, '!');
            kc_values_encode(&q, &out);
            kc_values_free(&q);
        } else if (strcmp(mode, "unescape") == 0) {
            char *d = malloc(n1 + 1);
            size_t dl;
            if (kc_query_unescape(a, n1, d, &dl)) kc_buf_put(&out, d, dl);
            else kc_buf_puts(&out, "ERR");
            free(d);
        } else if (strcmp(mode, "json") == 0) {
            pw_json_t doc;
            if (!pw_json_parse(a, n1, &doc) || !kc_json_go_value(&out, &doc, 0)) {
                kc_buf_free(&out);
                kc_buf_puts(&out, "ERR");
            }
        } else if (strcmp(mode, "re") == 0) {
            char *s = field(line, &p, &n2);
            kc_buf ere = {0};
            const char *why = kc_re2_to_ere(a, n1, &ere);
            if (why == NULL) {
                kc_buf_putc(&ere, '\0');
                regex_t re;
                int rc = regcomp(&re, ere.p, REG_EXTENDED | REG_NOSUB);
                if (rc != 0) {
                    char msg[128];
                    regerror(rc, &re, msg, sizeof msg);
                    kc_buf_puts(&out, "ERR regcomp: ");
                    kc_buf_puts(&out, msg);
                    kc_buf_puts(&out, " for ");
                    kc_buf_puts(&out, ere.p);
                } else {
                    bool m = strlen(s) == n2 && regexec(&re, s, 0, NULL, 0) == 0;
                    kc_buf_puts(&out, m ? "1" : "0");
                    regfree(&re);
                }
            } else {
                kc_buf_puts(&out, "ERR ");
                kc_buf_puts(&out, why);
            }
            kc_buf_free(&ere);
            free(s);
        } else {
            kc_buf_puts(&out, "ERR unknown mode");
        }
        emit(out.p ? out.p : "", out.len);
        kc_buf_free(&out);
        free(a);
        fflush(stdout);
    }
    return 0;
}
