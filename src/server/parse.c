/* Sans-I/O HTTP/1.1 request framing (see parse.h). http_parser does the tokenising; this file
 * adds what a server needs on top: size limits, smuggling refusals, requests as owned structs. */
#include "server/parse.h"

#include <http_parser.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

struct tx_http_parser {
    http_parser hp;
    http_parser_settings settings;
    tx_http_limits_t limits;
    tx_http_parse_state_t state;
    int err_status;
    const char *err_code, *err_msg;
    /* the request being built */
    buf_t url;
    buf_t *names, *values;
    size_t nhdr, hdr_cap;
    int last_was_value;
    size_t header_bytes;
    buf_t body;
    int keep_alive;
    /* completed requests */
    tx_http_msg_t *head, *tail;
};

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) return -1;
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static char *buf_take(buf_t *b)
{
    if (b->p == NULL && buf_add(b, "", 0) != 0) return NULL;
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

static void reset_current(tx_http_parser_t *p)
{
    free(p->url.p);
    p->url = (buf_t){0};
    for (size_t i = 0; i < p->nhdr; i++) {
        free(p->names[i].p);
        free(p->values[i].p);
    }
    p->nhdr = 0;
    p->last_was_value = 0;
    p->header_bytes = 0;
    free(p->body.p);
    p->body = (buf_t){0};
}

static int fail(tx_http_parser_t *p, int status, const char *code, const char *msg)
{
    if (p->err_status == 0) {
        p->err_status = status;
        p->err_code = code;
        p->err_msg = msg;
    }
    p->state = TX_HTTP_PARSE_ERROR;
    return -1;
}

static int count_header_bytes(tx_http_parser_t *p, size_t n)
{
    p->header_bytes += n;
    if (p->header_bytes > p->limits.max_header_bytes)
        return fail(p, 431, "request_header_fields_too_large",
                    "The request line and headers are larger than the server accepts.");
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    tx_http_parser_t *p = hp->data;
    reset_current(p);
    p->state = TX_HTTP_PARSE_HEADERS;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (count_header_bytes(p, len) != 0) return -1;
    return buf_add(&p->url, at, len) == 0 ? 0 : fail(p, 500, "out_of_memory", "Out of memory.");
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (count_header_bytes(p, len + 4) != 0) return -1;
    if (p->nhdr == 0 || p->last_was_value) {
        if (p->nhdr == p->hdr_cap) {
            size_t cap = p->hdr_cap ? p->hdr_cap * 2 : 16;
            buf_t *n = realloc(p->names, cap * sizeof *n);
            if (n == NULL) return fail(p, 500, "out_of_memory", "Out of memory.");
            p->names = n;
            buf_t *v = realloc(p->values, cap * sizeof *v);
            if (v == NULL) return fail(p, 500, "out_of_memory", "Out of memory.");
            p->values = v;
            p->hdr_cap = cap;
        }
        p->names[p->nhdr] = (buf_t){0};
        p->values[p->nhdr] = (buf_t){0};
        p->nhdr++;
        p->last_was_value = 0;
    }
    return buf_add(&p->names[p->nhdr - 1], at, len) == 0
               ? 0
               : fail(p, 500, "out_of_memory", "Out of memory.");
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (count_header_bytes(p, len) != 0) return -1;
    if (p->nhdr == 0) return fail(p, 400, "bad_request", "Malformed header.");
    p->last_was_value = 1;
    return buf_add(&p->values[p->nhdr - 1], at, len) == 0
               ? 0
               : fail(p, 500, "out_of_memory", "Out of memory.");
}

static const char *value_of(tx_http_parser_t *p, size_t i)
{
    return p->values[i].p ? p->values[i].p : "";
}

/* Trims spaces and tabs at both ends; compares case-insensitively. */
static int token_is(const char *v, const char *token)
{
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    return n == strlen(token) && strncasecmp(v, token, n) == 0;
}

static int on_headers_complete(http_parser *hp)
{
    tx_http_parser_t *p = hp->data;
    size_t n_cl = 0, n_te = 0;
    const char *cl = NULL;
    for (size_t i = 0; i < p->nhdr; i++) {
        const char *name = p->names[i].p ? p->names[i].p : "";
        if (strcasecmp(name, "Content-Length") == 0) {
            if (cl != NULL && strcmp(cl, value_of(p, i)) != 0)
                return fail(p, 400, "request_smuggling", "Conflicting Content-Length headers.");
            cl = value_of(p, i);
            n_cl++;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            n_te++;
            if (!token_is(value_of(p, i), "chunked"))
                return fail(p, 400, "unsupported_transfer_encoding",
                            "Only 'Transfer-Encoding: chunked' is accepted.");
        }
    }
    if (n_te > 0 && n_cl > 0)
        return fail(p, 400, "request_smuggling",
                    "Both Content-Length and Transfer-Encoding are present.");
    if (n_te > 1)
        return fail(p, 400, "request_smuggling", "Repeated Transfer-Encoding headers.");
    if (hp->http_major != 1)
        return fail(p, 505, "http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served.");
    if (hp->method == HTTP_CONNECT)
        return fail(p, 501, "not_implemented", "CONNECT is not supported.");
    if (p->url.len == 0 || p->url.p[0] != '/')
        return fail(p, 400, "bad_request", "The request target must be an absolute path.");
    if (n_cl > 0 && hp->content_length != ULLONG_MAX &&
        hp->content_length > (uint64_t)p->limits.max_body_bytes)
        return fail(p, 413, "request_too_large", "The request body is larger than the server accepts.");
    p->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    p->state = TX_HTTP_PARSE_BODY;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (p->body.len + len > p->limits.max_body_bytes)
        return fail(p, 413, "request_too_large", "The request body is larger than the server accepts.");
    return buf_add(&p->body, at, len) == 0 ? 0 : fail(p, 500, "out_of_memory", "Out of memory.");
}

static int on_message_complete(http_parser *hp)
{
    tx_http_parser_t *p = hp->data;
    tx_http_msg_t *m = calloc(1, sizeof *m);
    if (m == NULL) return fail(p, 500, "out_of_memory", "Out of memory.");
    m->method = strdup(http_method_str((enum http_method)hp->method));
    m->http_major = hp->http_major;
    m->http_minor = hp->http_minor;
    m->keep_alive = p->keep_alive;
    m->body_len = p->body.len;
    m->body = buf_take(&p->body);
    m->target = buf_take(&p->url);
    m->headers = calloc(p->nhdr ? p->nhdr : 1, sizeof *m->headers);
    int ok = m->method && m->body && m->target && m->headers;
    for (size_t i = 0; ok && i < p->nhdr; i++) {
        char *name = buf_take(&p->names[i]);
        char *value = buf_take(&p->values[i]);
        m->headers[m->nheaders].name = name;
        m->headers[m->nheaders].value = value;
        if (name || value) m->nheaders++;
        if (name == NULL || value == NULL) ok = 0;
    }
    if (ok) {
        char *q = strchr(m->target, '?');
        size_t plen = q ? (size_t)(q - m->target) : strlen(m->target);
        m->path = strndup(m->target, plen);
        m->query = strdup(q ? q + 1 : "");
        ok = m->path && m->query;
    }
    reset_current(p);
    if (!ok) {
        tx_http_msg_free(m);
        return fail(p, 500, "out_of_memory", "Out of memory.");
    }
    if (p->tail) p->tail->next = m;
    else p->head = m;
    p->tail = m;
    if (!m->keep_alive) {
        p->state = TX_HTTP_PARSE_DONE;
        http_parser_pause(hp, 1);
    } else {
        p->state = TX_HTTP_PARSE_IDLE;
    }
    return 0;
}

tx_http_parser_t *tx_http_parser_new(const tx_http_limits_t *limits)
{
    tx_http_parser_t *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    http_parser_settings_init(&p->settings);
    p->settings.on_message_begin = on_message_begin;
    p->settings.on_url = on_url;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_value = on_header_value;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    if (limits) p->limits = *limits;
    if (p->limits.max_header_bytes == 0) p->limits.max_header_bytes = TX_HTTP_MAX_HEADER_BYTES_DEFAULT;
    if (p->limits.max_body_bytes == 0) p->limits.max_body_bytes = TX_HTTP_MAX_BODY_BYTES_DEFAULT;
    p->state = TX_HTTP_PARSE_IDLE;
    return p;
}

void tx_http_parser_destroy(tx_http_parser_t *p)
{
    if (p == NULL) return;
    reset_current(p);
    free(p->names);
    free(p->values);
    tx_http_msg_t *m = p->head;
    while (m) {
        tx_http_msg_t *next = m->next;
        tx_http_msg_free(m);
        m = next;
    }
    free(p);
}

int tx_http_parser_feed(tx_http_parser_t *p, const char *data, size_t len)
{
    if (p == NULL) return -1;
    if (p->state == TX_HTTP_PARSE_ERROR) return -1;
    if (p->state == TX_HTTP_PARSE_DONE || len == 0 || data == NULL) return 0;
    size_t n = http_parser_execute(&p->hp, &p->settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (p->state == TX_HTTP_PARSE_ERROR) return -1;
    if (p->state == TX_HTTP_PARSE_DONE) return 0;
    if (e == HPE_HEADER_OVERFLOW)
        return fail(p, 431, "request_header_fields_too_large",
                    "The request line and headers are larger than the server accepts.");
    if (e == HPE_UNEXPECTED_CONTENT_LENGTH)
        return fail(p, 400, "request_smuggling", "Conflicting Content-Length headers.");
    if (e == HPE_INVALID_TRANSFER_ENCODING)
        return fail(p, 400, "unsupported_transfer_encoding",
                    "Only 'Transfer-Encoding: chunked' is accepted.");
    if (e != HPE_OK) return fail(p, 400, "bad_request", "Malformed HTTP request.");
    if (p->hp.upgrade) {
        /* http_parser stops at an upgrade; we do not upgrade: the request ends the connection. */
        p->state = TX_HTTP_PARSE_DONE;
        return 0;
    }
    if (n != len) return fail(p, 400, "bad_request", "Malformed HTTP request.");
    return 0;
}

tx_http_msg_t *tx_http_parser_pop(tx_http_parser_t *p)
{
    if (p == NULL || p->head == NULL) return NULL;
    tx_http_msg_t *m = p->head;
    p->head = m->next;
    if (p->head == NULL) p->tail = NULL;
    m->next = NULL;
    return m;
}

tx_http_parse_state_t tx_http_parser_state(const tx_http_parser_t *p)
{
    return p ? p->state : TX_HTTP_PARSE_ERROR;
}

int tx_http_parser_error(const tx_http_parser_t *p, const char **code, const char **message)
{
    if (p == NULL || p->err_status == 0) return 0;
    if (code) *code = p->err_code;
    if (message) *message = p->err_msg;
    return p->err_status;
}

const char *tx_http_msg_header(const tx_http_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < m->nheaders; i++)
        if (m->headers[i].name && strcasecmp(m->headers[i].name, name) == 0)
            return m->headers[i].value;
    return NULL;
}

void tx_http_msg_free(tx_http_msg_t *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->nheaders; i++) {
        free((char *)m->headers[i].name);
        free((char *)m->headers[i].value);
    }
    free(m->headers);
    free(m->method);
    free(m->target);
    free(m->path);
    free(m->query);
    free(m->body);
    free(m);
}
