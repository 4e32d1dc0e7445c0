/* Sans-I/O HTTP/1.1 request framing (see parse.h). http_parser does the tokenising; this file
 * adds what a server needs on top: size limits, smuggling refusals, requests as owned structs.
 * The request line and headers collect in a text buffer and a header array; when the headers are
 * complete the request becomes one allocation (struct, header array, strings and, when its
 * Content-Length is small, room for the body, which is then read straight into it).
 * With a shared scratch (tx__http_parser_new_shared) that text buffer and array are the
 * scratch's, lent for one feed: a parser between requests holds none, and one left in the middle
 * of a head keeps only that head's bytes and fields, copied to allocations of their exact size
 * (back into the scratch at its next feed). */
#include "core/buf.h"
#include "server/parse.h"

#include <http_parser.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A body up to this size (by Content-Length) is read into the request's own allocation; a
 * larger or chunked one grows in a buffer of its own as it arrives. The bound keeps what a mere
 * claim reserves small: 16 KiB per connection that sends headers and then nothing. */
#define INLINE_BODY_MAX (16u * 1024u)

/* Where a header's name and value are in the text buffer (each NUL-terminated there). */
typedef struct {
    size_t name_off, name_len, value_off, value_len;
} span_t;

/* What the text buffer is receiving: the target, a header name, or a header value. */
typedef enum { IN_URL, IN_NAME, IN_VALUE } text_mode_t;

/* What a shared scratch lends: the text buffer and the header array, kept at their largest. */
struct tx_http_scratch {
    tx__buf_t text;
    span_t *hdrs;
    size_t hdr_cap;
};

struct tx_http_parser {
    http_parser hp;
    tx_http_limits_t limits;
    tx_http_parse_state_t state;
    int err_status;
    const char *err_code, *err_msg;
    /* the request being read: "target\0name\0value\0name\0value\0..." in `text`; with a
     * shared scratch, between feeds: only a partial head, at its exact size (else empty) */
    tx__buf_t text;
    size_t url_len;
    span_t *hdrs;
    size_t nhdr, hdr_cap;
    text_mode_t mode;
    size_t header_bytes;
    tx_http_scratch_t *shared; /* NULL: text and hdrs are the parser's own, kept */
    tx_http_msg_t *cur;        /* built when the headers are complete */
    size_t body_room;          /* bytes reserved for the body in cur's allocation */
    tx__buf_t body;            /* the body when it is not read into cur */
    int keep_alive;
    /* completed requests */
    tx_http_msg_t *head, *tail;
};

/* Ends the current string in `text` with its NUL (buf_add keeps one past the end already). */
static int text_end_string(tx_http_parser_t *p)
{
    if (tx__buf_add(&p->text, "", 0) != 0) return -1;
    p->text.len++;
    return 0;
}

static void reset_current(tx_http_parser_t *p)
{
    p->text.len = 0;
    p->url_len = 0;
    p->nhdr = 0;
    p->mode = IN_URL;
    p->header_bytes = 0;
    tx__http_msg_free(p->cur);
    p->cur = NULL;
    p->body_room = 0;
    free(p->body.p);
    p->body = (tx__buf_t){0};
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

static int fail_oom(tx_http_parser_t *p)
{
    return fail(p, 500, "out_of_memory", "Out of memory.");
}

static int count_header_bytes(tx_http_parser_t *p, size_t n)
{
    p->header_bytes += n;
    if (p->header_bytes > p->limits.max_header_bytes)
        return fail(p, 431, "request_header_fields_too_large",
                    "The request line and headers are larger than the server accepts.");
    return 0;
}

/* Closes whatever string `text` is receiving: the target, a name (then an empty value starts,
 * for a header without one), or a value. After it, mode is IN_VALUE or IN_URL as before. */
static int text_close(tx_http_parser_t *p)
{
    span_t *h = p->nhdr ? &p->hdrs[p->nhdr - 1] : NULL;
    switch (p->mode) {
    case IN_URL:
        p->url_len = p->text.len;
        return text_end_string(p);
    case IN_NAME:
        h->name_len = p->text.len - h->name_off;
        if (text_end_string(p) != 0) return -1;
        h->value_off = p->text.len;
        p->mode = IN_VALUE;
        return 0;
    case IN_VALUE:
        h->value_len = p->text.len - h->value_off;
        return text_end_string(p);
    }
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
    return tx__buf_add(&p->text, at, len) == 0 ? 0 : fail_oom(p);
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (count_header_bytes(p, len + 4) != 0) return -1;
    if (p->mode != IN_NAME) { /* a new header: close the target or the previous value */
        if (text_close(p) != 0) return fail_oom(p);
        if (p->nhdr >= p->limits.max_headers) /* tiny headers: bytes alone would let 3000 in */
            return fail(p, 431, "request_header_fields_too_large",
                        "The request has more header fields than the server accepts.");
        if (p->nhdr == p->hdr_cap) {
            size_t cap = p->hdr_cap ? p->hdr_cap * 2 : 16;
            if (cap > p->limits.max_headers) cap = p->limits.max_headers;
            span_t *n = realloc(p->hdrs, cap * sizeof *n);
            if (n == NULL) return fail_oom(p);
            p->hdrs = n;
            p->hdr_cap = cap;
        }
        p->hdrs[p->nhdr++] = (span_t){.name_off = p->text.len};
        p->mode = IN_NAME;
    }
    return tx__buf_add(&p->text, at, len) == 0 ? 0 : fail_oom(p);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    if (count_header_bytes(p, len) != 0) return -1;
    if (p->nhdr == 0) return fail(p, 400, "bad_request", "Malformed header.");
    if (p->mode == IN_NAME && text_close(p) != 0) return fail_oom(p);
    return tx__buf_add(&p->text, at, len) == 0 ? 0 : fail_oom(p);
}

static const char *name_of(const tx_http_parser_t *p, size_t i)
{
    return p->text.p + p->hdrs[i].name_off;
}

static const char *value_of(const tx_http_parser_t *p, size_t i)
{
    return p->text.p + p->hdrs[i].value_off;
}

/* Header i's name is `name` (`len` bytes), case-insensitively. */
static int name_is(const tx_http_parser_t *p, size_t i, const char *name, size_t len)
{
    return p->hdrs[i].name_len == len && strncasecmp(name_of(p, i), name, len) == 0;
}

/* Trims spaces and tabs at both ends; compares case-insensitively. */
static int token_is(const char *v, const char *token)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == strlen(token) && strncasecmp(v, token, n) == 0;
}

/* Builds p->cur from the text buffer, with `body_room` bytes (plus a NUL) for the body. The path
 * is the target itself when there is no query (a copy otherwise); the method is http_parser's
 * static name. */
static tx_http_msg_t *build_msg(tx_http_parser_t *p, const http_parser *hp, size_t body_room)
{
    const char *q = memchr(p->text.p, '?', p->url_len);
    size_t plen = q ? (size_t)(q - p->text.p) : p->url_len;
    size_t size = sizeof(tx_http_msg_t) + p->nhdr * sizeof(tx_header_t) + p->text.len +
                  (q ? plen + 1 : 0) + (body_room + 1);
    tx_http_msg_t *m = malloc(size);
    if (m == NULL) return NULL;
    memset(m, 0, sizeof *m);
    m->headers = (tx_header_t *)(m + 1);
    char *text = (char *)(m->headers + p->nhdr);
    memcpy(text, p->text.p, p->text.len);
    m->target = text;
    m->query = q ? text + plen + 1 : text + p->url_len; /* after '?', or the target's NUL */
    m->body = text + p->text.len;
    if (q) {
        m->path = m->body;
        memcpy(m->path, text, plen);
        m->path[plen] = '\0';
        m->body += plen + 1;
    } else {
        m->path = text;
    }
    m->method = http_method_str((enum http_method)hp->method);
    m->body[0] = '\0';
    for (size_t i = 0; i < p->nhdr; i++) {
        m->headers[i].name = text + p->hdrs[i].name_off;
        m->headers[i].value = text + p->hdrs[i].value_off;
    }
    m->nheaders = p->nhdr;
    m->http_major = hp->http_major;
    m->http_minor = hp->http_minor;
    return m;
}

static int on_headers_complete(http_parser *hp)
{
    tx_http_parser_t *p = hp->data;
    /* close the last string; a last header without a value gets an empty one */
    if (p->mode == IN_NAME && text_close(p) != 0) return fail_oom(p);
    if (text_close(p) != 0) return fail_oom(p);
    size_t n_cl = 0, n_te = 0;
    const char *cl = NULL;
    for (size_t i = 0; i < p->nhdr; i++) {
        if (name_is(p, i, "Content-Length", 14)) {
            if (cl != NULL && strcmp(cl, value_of(p, i)) != 0)
                return fail(p, 400, "request_smuggling", "Conflicting Content-Length headers.");
            cl = value_of(p, i);
            n_cl++;
        } else if (name_is(p, i, "Transfer-Encoding", 17)) {
            n_te++;
            if (!token_is(value_of(p, i), "chunked"))
                return fail(p, 400, "unsupported_transfer_encoding",
                            "Only 'Transfer-Encoding: chunked' is accepted.");
        }
    }
    if (n_te > 0 && n_cl > 0)
        return fail(p, 400, "request_smuggling",
                    "Both Content-Length and Transfer-Encoding are present.");
    if (n_te > 1) return fail(p, 400, "request_smuggling", "Repeated Transfer-Encoding headers.");
    if (hp->http_major != 1)
        return fail(p, 505, "http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served.");
    if (hp->method == HTTP_CONNECT)
        return fail(p, 501, "not_implemented", "CONNECT is not supported.");
    if (p->url_len == 0 || p->text.p[0] != '/')
        return fail(p, 400, "bad_request", "The request target must be an absolute path.");
    if (n_cl > 0 && hp->content_length != ULLONG_MAX &&
        hp->content_length > (uint64_t)p->limits.max_body_bytes)
        return fail(p, 413, "request_too_large",
                    "The request body is larger than the server accepts.");
    p->keep_alive = http_should_keep_alive(hp) && !hp->upgrade;
    size_t room = 0;
    if (n_cl > 0 && hp->content_length != ULLONG_MAX && hp->content_length <= INLINE_BODY_MAX)
        room = (size_t)hp->content_length;
    p->cur = build_msg(p, hp, room);
    if (p->cur == NULL) return fail_oom(p);
    p->body_room = room;
    p->state = TX_HTTP_PARSE_BODY;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    tx_http_parser_t *p = hp->data;
    tx_http_msg_t *m = p->cur;
    size_t have = m->body_len + p->body.len;
    if (have + len > p->limits.max_body_bytes)
        return fail(p, 413, "request_too_large",
                    "The request body is larger than the server accepts.");
    if (p->body.p == NULL) {
        if (m->body_len + len <= p->body_room) {
            memcpy(m->body + m->body_len, at, len);
            m->body_len += len;
            return 0;
        }
        /* beyond the room (chunked or large): the body moves to a buffer of its own */
        if (tx__buf_add(&p->body, m->body, m->body_len) != 0) return fail_oom(p);
        m->body_len = 0;
    }
    return tx__buf_add(&p->body, at, len) == 0 ? 0 : fail_oom(p);
}

static int on_message_complete(http_parser *hp)
{
    tx_http_parser_t *p = hp->data;
    tx_http_msg_t *m = p->cur;
    if (p->body.p != NULL) { /* the body grew apart: the request takes that buffer */
        m->body = m->body_alloc = p->body.p;
        m->body_len = p->body.len;
        p->body = (tx__buf_t){0};
    } else {
        m->body[m->body_len] = '\0';
    }
    m->keep_alive = p->keep_alive;
    p->cur = NULL;
    reset_current(p);
    if (p->tail)
        p->tail->next = m;
    else
        p->head = m;
    p->tail = m;
    if (!m->keep_alive) {
        p->state = TX_HTTP_PARSE_DONE;
        http_parser_pause(hp, 1);
    } else {
        p->state = TX_HTTP_PARSE_IDLE;
    }
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

tx_http_scratch_t *tx__http_scratch_new(void)
{
    return calloc(1, sizeof(tx_http_scratch_t));
}

void tx__http_scratch_free(tx_http_scratch_t *ws)
{
    if (ws == NULL) return;
    free(ws->text.p);
    free(ws->hdrs);
    free(ws);
}

tx_http_parser_t *tx__http_parser_new(const tx_http_limits_t *limits)
{
    return tx__http_parser_new_shared(limits, NULL);
}

tx_http_parser_t *tx__http_parser_new_shared(const tx_http_limits_t *limits,
                                             tx_http_scratch_t *shared)
{
    void *mem = malloc(sizeof(tx_http_parser_t));
    return mem != NULL ? tx__http_parser_init(mem, limits, shared) : NULL;
}

size_t tx__http_parser_size(void)
{
    return sizeof(tx_http_parser_t);
}

tx_http_parser_t *tx__http_parser_init(void *mem, const tx_http_limits_t *limits,
                                       tx_http_scratch_t *shared)
{
    tx_http_parser_t *p = mem;
    memset(p, 0, sizeof *p);
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->shared = shared;
    if (limits) p->limits = *limits;
    if (p->limits.max_header_bytes == 0)
        p->limits.max_header_bytes = TX_HTTP_MAX_HEADER_BYTES_DEFAULT;
    if (p->limits.max_body_bytes == 0) p->limits.max_body_bytes = TX_HTTP_MAX_BODY_BYTES_DEFAULT;
    if (p->limits.max_headers == 0) p->limits.max_headers = TX_HTTP_MAX_HEADERS_DEFAULT;
    p->state = TX_HTTP_PARSE_IDLE;
    return p;
}

void tx__http_parser_destroy(tx_http_parser_t *p)
{
    tx__http_parser_fini(p);
    free(p);
}

void tx__http_parser_fini(tx_http_parser_t *p)
{
    if (p == NULL) return;
    reset_current(p);
    free(p->text.p);
    free(p->hdrs);
    tx_http_msg_t *m = p->head;
    while (m) {
        tx_http_msg_t *next = m->next;
        tx__http_msg_free(m);
        m = next;
    }
}

/* Before a feed with a shared scratch: the scratch's buffers become the parser's, with the
 * partial head kept since the last feed (if any) copied in front. -1 on out of memory. */
static int borrow(tx_http_parser_t *p)
{
    tx_http_scratch_t *ws = p->shared;
    tx__buf_t own = p->text;
    span_t *own_hdrs = p->hdrs;
    p->text = ws->text;
    p->text.len = 0;
    p->hdrs = ws->hdrs;
    p->hdr_cap = ws->hdr_cap;
    ws->text = (tx__buf_t){0};
    ws->hdrs = NULL;
    ws->hdr_cap = 0;
    if (own.p == NULL && own_hdrs == NULL) return 0;
    int bad = tx__buf_add(&p->text, own.p, own.len) != 0 ||
              tx__grow(&p->hdrs, &p->hdr_cap, p->nhdr, sizeof *p->hdrs, 16) != 0;
    if (!bad && p->nhdr > 0) memcpy(p->hdrs, own_hdrs, p->nhdr * sizeof *p->hdrs);
    free(own.p);
    free(own_hdrs);
    return bad ? -1 : 0;
}

/* After a feed with a shared scratch: its buffers go back; a head left partial is kept in
 * allocations of its exact size. -1 on out of memory. */
static int give_back(tx_http_parser_t *p)
{
    tx_http_scratch_t *ws = p->shared;
    tx__buf_t t = p->text;
    span_t *h = p->hdrs;
    ws->text = t;
    ws->hdrs = h;
    ws->hdr_cap = p->hdr_cap;
    p->text = (tx__buf_t){0};
    p->hdrs = NULL;
    p->hdr_cap = 0;
    if (p->state != TX_HTTP_PARSE_HEADERS) return 0;
    if (t.len > 0) {
        p->text.p = malloc(t.len + 1);
        if (p->text.p == NULL) return -1;
        memcpy(p->text.p, t.p, t.len + 1); /* with the NUL buf_add keeps */
        p->text.len = t.len;
        p->text.cap = t.len + 1;
    }
    if (p->nhdr > 0) {
        p->hdrs = malloc(p->nhdr * sizeof *p->hdrs);
        if (p->hdrs == NULL) return -1;
        memcpy(p->hdrs, h, p->nhdr * sizeof *p->hdrs);
        p->hdr_cap = p->nhdr;
    }
    return 0;
}

static int feed(tx_http_parser_t *p, const char *data, size_t len);

int tx__http_parser_feed(tx_http_parser_t *p, const char *data, size_t len)
{
    if (p == NULL) return -1;
    if (p->state == TX_HTTP_PARSE_ERROR) return -1;
    if (p->state == TX_HTTP_PARSE_DONE || len == 0 || data == NULL) return 0;
    if (p->shared == NULL) return feed(p, data, len);
    if (borrow(p) != 0) {
        give_back(p);
        return fail_oom(p);
    }
    int rc = feed(p, data, len);
    if (give_back(p) != 0) return fail_oom(p);
    return rc;
}

size_t tx__http_parser_held(const tx_http_parser_t *p)
{
    return p != NULL ? p->text.cap + p->hdr_cap * sizeof *p->hdrs : 0;
}

static int feed(tx_http_parser_t *p, const char *data, size_t len)
{
    size_t n = http_parser_execute(&p->hp, &settings, data, len);
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

tx_http_msg_t *tx__http_parser_pop(tx_http_parser_t *p)
{
    if (p == NULL || p->head == NULL) return NULL;
    tx_http_msg_t *m = p->head;
    p->head = m->next;
    if (p->head == NULL) p->tail = NULL;
    m->next = NULL;
    return m;
}

tx_http_parse_state_t tx__http_parser_state(const tx_http_parser_t *p)
{
    return p ? p->state : TX_HTTP_PARSE_ERROR;
}

int tx__http_parser_error(const tx_http_parser_t *p, const char **code, const char **message)
{
    if (p == NULL || p->err_status == 0) return 0;
    if (code) *code = p->err_code;
    if (message) *message = p->err_msg;
    return p->err_status;
}

/* ASCII letters compare equal ignoring case only if they agree once bit 0x20 is set; a cheap
 * first test before strcasecmp (other bytes may pass it too: strcasecmp decides). */
static int may_match(char a, char b)
{
    return (a | 0x20) == (b | 0x20);
}

const char *tx__http_msg_header(const tx_http_msg_t *m, const char *name)
{
    if (m == NULL || name == NULL) return NULL;
    for (size_t i = 0; i < m->nheaders; i++) {
        const char *h = m->headers[i].name;
        if (h && may_match(h[0], name[0]) && strcasecmp(h, name) == 0) return m->headers[i].value;
    }
    return NULL;
}

void tx__http_msg_free(tx_http_msg_t *m)
{
    if (m == NULL) return;
    free(m->body_alloc); /* everything else is in m's own allocation */
    free(m);
}
