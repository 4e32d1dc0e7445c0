/* Response reading (response.h) on http_parser's callbacks. Headers are collected as
 * "name\0value\0" pairs; a name or value may arrive in several pieces. */
#include "upstream/response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_STACK 32

static int put(tx_resp_t *r, const char *d, size_t n)
{
    size_t need = r->hlen + n + 2;
    if (need > TX_RESP_HEADER_BYTES_MAX) {
        r->err = TX_RESP_EPROTOCOL;
        return -1;
    }
    if (need > r->hcap) {
        size_t cap = r->hcap ? r->hcap * 2 : 1024;
        while (cap < need) cap *= 2;
        char *nb = realloc(r->hbuf, cap);
        if (nb == NULL) {
            r->err = TX_RESP_ENOMEM;
            return -1;
        }
        r->hbuf = nb;
        r->hcap = cap;
    }
    memcpy(r->hbuf + r->hlen, d, n);
    r->hlen += n;
    return 0;
}

/* Ends the value being collected: trailing blanks dropped, terminated, counted. */
static int end_value(tx_resp_t *r)
{
    while (r->hlen > 0 && (r->hbuf[r->hlen - 1] == ' ' || r->hbuf[r->hlen - 1] == '\t')) {
        if (r->hbuf[r->hlen - 1] == '\0') break;
        r->hlen--;
    }
    if (put(r, "", 1) != 0) return -1;
    r->nh++;
    r->hstate = 0;
    return 0;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    tx_resp_t *r = p->data;
    if (r->head_done) return 0; /* trailers: read, not kept */
    if (r->hstate == 2 && end_value(r) != 0) return -1;
    r->hstate = 1;
    return put(r, at, n);
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    tx_resp_t *r = p->data;
    if (r->head_done) return 0;
    if (r->hstate == 1 && put(r, "", 1) != 0) return -1;
    if (r->hstate == 1 && n == 0) {
        r->hstate = 2;
        return 0;
    }
    r->hstate = 2;
    /* leading blanks of a value that starts in this piece */
    if (r->hlen > 0 && r->hbuf[r->hlen - 1] == '\0')
        while (n > 0 && (*at == ' ' || *at == '\t')) at++, n--;
    return put(r, at, n);
}

static long keepalive_timeout(const char *v)
{
    const char *t = strcasestr(v, "timeout=");
    if (t == NULL) return -1;
    t += 8;
    long s = 0;
    int digits = 0;
    while (*t >= '0' && *t <= '9' && digits < 9) s = s * 10 + (*t++ - '0'), digits++;
    return digits > 0 ? s : -1;
}

static int on_headers_complete(http_parser *p)
{
    tx_resp_t *r = p->data;
    if (r->hstate == 1 && put(r, "", 1) != 0) return -1;
    if (r->hstate != 0 && end_value(r) != 0) return -1;
    int status = p->status_code;
    if (status >= 100 && status < 200 && status != 101) {
        r->hlen = r->nh = 0; /* an interim response: the final one follows */
        return 1;
    }
    if (status == 101 || status < 100) { /* no upgrade: not a response we can use */
        r->err = TX_RESP_EPROTOCOL;
        return -1;
    }
    tx_header_t stack[HEAD_STACK];
    tx_header_t *h = r->nh <= HEAD_STACK ? stack : malloc(r->nh * sizeof *h);
    if (h == NULL) {
        r->err = TX_RESP_ENOMEM;
        return -1;
    }
    int cl = 0, te = 0;
    r->keepalive_s = -1;
    const char *q = r->hbuf;
    for (size_t i = 0; i < r->nh; i++) {
        h[i].name = q;
        size_t nl = strlen(q);
        q += nl + 1;
        h[i].value = q;
        q += strlen(q) + 1;
        /* by length first: most names are none of these */
        if (nl == 14 && strcasecmp(h[i].name, "content-length") == 0) cl = 1;
        else if (nl == 17 && strcasecmp(h[i].name, "transfer-encoding") == 0) te = 1;
        else if (nl == 10 && strcasecmp(h[i].name, "keep-alive") == 0)
            r->keepalive_s = keepalive_timeout(h[i].value);
    }
    if (cl && te) { /* request smuggling's favourite: refused, whatever the parser would do */
        if (h != stack) free(h);
        r->err = TX_RESP_EPROTOCOL;
        return -1;
    }
    r->status = status;
    r->head_done = 1;
    int stop = r->cb->on_head != NULL ? r->cb->on_head(r->ud, status, h, r->nh) : 0;
    if (h != stack) free(h);
    if (stop) {
        r->err = TX_RESP_ESTOPPED;
        return -1;
    }
    return (r->head_only || status == 204 || status == 304) ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    tx_resp_t *r = p->data;
    if (r->cb->on_body != NULL && r->cb->on_body(r->ud, at, n) != 0) {
        r->err = TX_RESP_ESTOPPED;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tx_resp_t *r = p->data;
    if (!r->head_done) return 0; /* the end of an interim response */
    r->complete = 1;
    r->keep = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1); /* whatever follows belongs to no request */
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void tx_resp_reset(tx_resp_t *r, int head_only, const tx_resp_cb_t *cb, void *ud)
{
    char *hbuf = r->hbuf;
    size_t hcap = r->hcap;
    memset(r, 0, sizeof *r);
    r->hbuf = hbuf;
    r->hcap = hcap;
    http_parser_init(&r->p, HTTP_RESPONSE);
    r->p.data = r;
    r->cb = cb;
    r->ud = ud;
    r->head_only = head_only != 0;
    r->keepalive_s = -1;
}

void tx_resp_free(tx_resp_t *r)
{
    free(r->hbuf);
    r->hbuf = NULL;
    r->hcap = r->hlen = 0;
}

ssize_t tx_resp_feed(tx_resp_t *r, const char *data, size_t len)
{
    if (r->err != TX_RESP_OK) return -1;
    if (r->complete) return 0;
    size_t n = http_parser_execute(&r->p, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (r->complete) {
        http_parser_pause(&r->p, 0);
        return (ssize_t)n;
    }
    if (r->err != TX_RESP_OK) return -1;
    if (e != HPE_OK || n != len) {
        r->err = TX_RESP_EPROTOCOL;
        return -1;
    }
    return (ssize_t)n;
}

int tx_resp_eof(tx_resp_t *r)
{
    if (r->complete) return 0;
    if (r->err != TX_RESP_OK || !r->head_done) return -1;
    http_parser_execute(&r->p, &settings, NULL, 0);
    if (r->complete) {
        r->keep = 0;
        return 0;
    }
    return -1;
}
