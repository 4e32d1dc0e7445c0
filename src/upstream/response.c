/* Response reading (response.h). The head is collected up to its empty line (memchr for line
 * ends, bounded), then parsed at once; the body is handed over in place, never copied. Line ends
 * are CRLF or a bare LF; a CR must be followed by LF. */
#include "core/buf.h"
#include "upstream/response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_STACK 32
#define CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */

enum { S_HEAD, S_BODY_CL, S_BODY_EOF, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILER };

static int fail(tx_resp_t *r, tx_resp_err_t e)
{
    r->err = e;
    return -1;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    return tx__grow(buf, cap, need, 1, 1024);
}

/* RFC 9110 token characters (header names). */
static inline int tchar(unsigned char c)
{
    if ((unsigned)((c | 0x20) - 'a') < 26u || (unsigned)(c - '0') < 10u) return 1;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return 1;
    default:
        return 0;
    }
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 1 when the comma-separated list `v` (n bytes) holds `tok` (case-insensitive); with `last`,
 * only its last element counts. */
static int has_token(const char *v, size_t n, const char *tok, int last)
{
    size_t tl = strlen(tok);
    int found = 0;
    const char *p = v, *end = v + n;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        const char *e = c != NULL ? c : end;
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        int is = (size_t)(b - a) == tl && strncasecmp(a, tok, tl) == 0;
        if (last)
            found = is;
        else if (is)
            return 1;
        p = c != NULL ? c + 1 : end;
    }
    return found;
}

static long keepalive_timeout(const char *v)
{
    const char *t = strcasestr(v, "timeout=");
    if (t == NULL) return -1;
    t += 8;
    long s = 0;
    int digits = 0;
    while (*t >= '0' && *t <= '9' && digits < 9)
        s = s * 10 + (*t++ - '0'), digits++;
    return digits > 0 ? s : -1;
}

/* Hands the head over and sets up the body. */
static int deliver_head(tx_resp_t *r, int status)
{
    tx_header_t stack[HEAD_STACK];
    tx_header_t *h = r->nh <= HEAD_STACK ? stack : malloc(r->nh * sizeof *h);
    if (h == NULL) return fail(r, TX_RESP_ENOMEM);
    const char *q = r->hbuf;
    for (size_t i = 0; i < r->nh; i++) {
        h[i].name = q;
        q += strlen(q) + 1;
        h[i].value = q;
        q += strlen(q) + 1;
    }
    r->status = status;
    r->head_done = 1;
    int stop = r->cb->on_head != NULL ? r->cb->on_head(r->ud, status, h, r->nh) : 0;
    if (h != stack) free(h);
    return stop ? fail(r, TX_RESP_ESTOPPED) : 0;
}

/* Parses the head collected in r->raw (ending with its empty line). */
static int head_parse(tx_resp_t *r)
{
    const char *s = r->raw, *end = r->raw + r->rlen;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    size_t ll = (size_t)(nl - s);
    if (ll > 0 && s[ll - 1] == '\r') ll--;
    /* "HTTP/1.x SSS[ reason]" */
    if (ll < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '0' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (ll > 12 && s[12] != ' '))
        return fail(r, TX_RESP_EPROTOCOL);
    int minor = s[7] - '0';
    int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (status < 100 || status == 101) return fail(r, TX_RESP_EPROTOCOL); /* no upgrades */
    r->hlen = r->nh = 0;
    int cl_seen = 0, te_seen = 0, chunked = 0, conn_close = 0, conn_keep = 0;
    uint64_t cl = 0;
    long ka = -1;
    for (const char *p = nl + 1; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)(e - p);
        if (l > 0 && p[l - 1] == '\r') l--;
        if (l == 0) break; /* the empty line */
        const char *colon = memchr(p, ':', l);
        if (colon == NULL || colon == p) return fail(r, TX_RESP_EPROTOCOL); /* also obs-fold */
        size_t nlen = (size_t)(colon - p);
        for (size_t i = 0; i < nlen; i++)
            if (!tchar((unsigned char)p[i])) return fail(r, TX_RESP_EPROTOCOL);
        const char *v = colon + 1, *ve = p + l;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vlen = (size_t)(ve - v);
        if (memchr(v, '\0', vlen) != NULL)
            return fail(r, TX_RESP_EPROTOCOL); /* CR: refused above */
        if (grow(&r->hbuf, &r->hcap, r->hlen + nlen + vlen + 2) != 0)
            return fail(r, TX_RESP_ENOMEM);
        char *name = r->hbuf + r->hlen;
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        memcpy(name + nlen + 1, v, vlen);
        name[nlen + 1 + vlen] = '\0';
        r->hlen += nlen + vlen + 2;
        r->nh++;
        /* by length first: most names are none of these */
        if (nlen == 14 && strcasecmp(name, "content-length") == 0) {
            uint64_t x = 0;
            if (vlen == 0 || vlen > 18) return fail(r, TX_RESP_EPROTOCOL);
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return fail(r, TX_RESP_EPROTOCOL);
                x = x * 10 + (uint64_t)(v[i] - '0');
            }
            if (cl_seen && x != cl) return fail(r, TX_RESP_EPROTOCOL); /* two lengths */
            cl = x;
            cl_seen = 1;
        } else if (nlen == 17 && strcasecmp(name, "transfer-encoding") == 0) {
            te_seen = 1;
            chunked = has_token(v, vlen, "chunked", 1);
        } else if (nlen == 10 && strcasecmp(name, "connection") == 0) {
            conn_close |= has_token(v, vlen, "close", 0);
            conn_keep |= has_token(v, vlen, "keep-alive", 0);
        } else if (nlen == 10 && strcasecmp(name, "keep-alive") == 0) {
            ka = keepalive_timeout(name + nlen + 1);
        }
        p = e + 1;
    }
    r->rlen = 0;
    if (status < 200) { /* an interim response: the final one follows */
        r->hlen = r->nh = 0;
        return 0;
    }
    if (cl_seen && te_seen) return fail(r, TX_RESP_EPROTOCOL); /* request smuggling's favourite */
    r->keepalive_s = ka;
    r->keep = minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    if (deliver_head(r, status) != 0) return -1;
    if (r->head_only || status == 204 || status == 304) {
        r->complete = 1;
    } else if (te_seen && chunked) {
        r->state = S_CHUNK_SIZE;
    } else if (!te_seen && cl_seen) {
        r->left = cl;
        r->state = S_BODY_CL;
        if (cl == 0) r->complete = 1;
    } else { /* to the connection's end (also a transfer coding other than chunked) */
        r->keep = 0;
        r->state = S_BODY_EOF;
    }
    return 0;
}

static int body(tx_resp_t *r, const char *d, size_t n)
{
    if (n == 0 || r->cb->on_body == NULL) return 0;
    return r->cb->on_body(r->ud, d, n) != 0 ? fail(r, TX_RESP_ESTOPPED) : 0;
}

void tx__resp_reset(tx_resp_t *r, int head_only, const tx_resp_cb_t *cb, void *ud)
{
    char *raw = r->raw, *hbuf = r->hbuf;
    size_t rcap = r->rcap, hcap = r->hcap;
    memset(r, 0, sizeof *r);
    r->raw = raw;
    r->rcap = rcap;
    r->hbuf = hbuf;
    r->hcap = hcap;
    r->cb = cb;
    r->ud = ud;
    r->head_only = head_only != 0;
    r->keepalive_s = -1;
    r->state = S_HEAD;
}

void tx__resp_free(tx_resp_t *r)
{
    free(r->raw);
    free(r->hbuf);
    r->raw = r->hbuf = NULL;
    r->rcap = r->rlen = r->hcap = r->hlen = 0;
}

ssize_t tx__resp_feed(tx_resp_t *r, const char *data, size_t len)
{
    if (r->err != TX_RESP_OK) return -1;
    size_t i = 0;
    while (i < len && !r->complete) {
        switch (r->state) {
        case S_HEAD: {
            const char *p = data + i, *nl = memchr(p, '\n', len - i);
            size_t n = nl != NULL ? (size_t)(nl - p) + 1 : len - i;
            if (r->rlen + n > TX_RESP_HEADER_BYTES_MAX) return fail(r, TX_RESP_EPROTOCOL);
            if (grow(&r->raw, &r->rcap, r->rlen + n) != 0) return fail(r, TX_RESP_ENOMEM);
            memcpy(r->raw + r->rlen, p, n);
            r->rlen += n;
            i += n;
            if (nl == NULL) {
                r->line += n;
                break;
            }
            size_t whole = r->line + n - 1; /* the line that ended, without its LF */
            r->line = 0;
            const char *ls = r->raw + r->rlen - 1 - whole;
            size_t ll = whole;
            if (ll > 0 && ls[ll - 1] == '\r') ll--;
            if (memchr(ls, '\r', ll) != NULL) return fail(r, TX_RESP_EPROTOCOL); /* a lone CR */
            if (ll != 0) break;
            if (r->rlen == whole + 1) { /* an empty line before the status line: skipped */
                r->rlen = 0;
                break;
            }
            if (head_parse(r) != 0) return -1;
            break;
        }
        case S_BODY_CL: {
            size_t n = len - i;
            if ((uint64_t)n > r->left) n = (size_t)r->left;
            if (body(r, data + i, n) != 0) return -1;
            r->left -= n;
            i += n;
            if (r->left == 0) r->complete = 1;
            break;
        }
        case S_BODY_EOF:
            if (body(r, data + i, len - i) != 0) return -1;
            i = len;
            break;
        case S_CHUNK_SIZE: {
            if (r->line == 0 && !r->cr) { /* a whole "HEX\r\n" line here: read in one go */
                size_t d = 0;
                uint64_t v = 0;
                int h;
                while (d < 15 && i + d < len && (h = hexval((unsigned char)data[i + d])) >= 0) {
                    v = v * 16 + (uint64_t)h;
                    d++;
                }
                if (d > 0 && i + d + 1 < len && data[i + d] == '\r' && data[i + d + 1] == '\n') {
                    r->left = v;
                    r->state = v == 0 ? S_TRAILER : S_CHUNK_DATA;
                    i += d + 2;
                    break;
                }
            } /* anything else (split, extensions, errors): byte by byte */
            unsigned char c = (unsigned char)data[i++];
            if (r->cr && c != '\n') return fail(r, TX_RESP_EPROTOCOL);
            if (c == '\r') {
                r->cr = 1;
            } else if (c == '\n') {
                if (r->digits == 0) return fail(r, TX_RESP_EPROTOCOL);
                r->state = r->left == 0 ? S_TRAILER : S_CHUNK_DATA;
                r->digits = 0;
                r->ext = r->cr = 0;
                r->line = 0;
            } else if (++r->line > CHUNK_LINE_MAX) {
                return fail(r, TX_RESP_EPROTOCOL);
            } else if (r->ext) {
                if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(r, TX_RESP_EPROTOCOL);
            } else if (hexval(c) >= 0) {
                if (r->digits == 15) return fail(r, TX_RESP_EPROTOCOL); /* too big */
                r->left = r->left * 16 + (uint64_t)hexval(c);
                r->digits++;
            } else if ((c == ';' || c == ' ' || c == '\t') && r->digits > 0) {
                r->ext = 1; /* extensions (and blanks before them): read, not used */
            } else {
                return fail(r, TX_RESP_EPROTOCOL);
            }
            break;
        }
        case S_CHUNK_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > r->left) n = (size_t)r->left;
            if (body(r, data + i, n) != 0) return -1;
            r->left -= n;
            i += n;
            if (r->left == 0) r->state = S_CHUNK_END;
            break;
        }
        case S_CHUNK_END: { /* the CRLF after a chunk's data */
            if (!r->cr && i + 1 < len && data[i] == '\r' && data[i + 1] == '\n') {
                i += 2;
                r->state = S_CHUNK_SIZE;
                break;
            }
            unsigned char c = (unsigned char)data[i++];
            if (c == '\r' && !r->cr) {
                r->cr = 1;
            } else if (c == '\n') {
                r->cr = 0;
                r->state = S_CHUNK_SIZE;
            } else {
                return fail(r, TX_RESP_EPROTOCOL);
            }
            break;
        }
        case S_TRAILER: { /* trailer fields, read and dropped, up to the empty line */
            const char *p = data + i, *nl = memchr(p, '\n', len - i);
            size_t n = nl != NULL ? (size_t)(nl - p) : len - i;
            if (n > 0) r->cr = p[n - 1] == '\r';
            r->line += n;
            r->rlen += n + (nl != NULL);
            if (r->rlen > TX_RESP_HEADER_BYTES_MAX) return fail(r, TX_RESP_EPROTOCOL);
            i += n;
            if (nl == NULL) break;
            i++;
            int empty = r->line == 0 || (r->line == 1 && r->cr);
            r->line = 0;
            r->cr = 0;
            if (empty) {
                r->rlen = 0;
                r->complete = 1;
            }
            break;
        }
        }
    }
    return (ssize_t)i;
}

int tx__resp_eof(tx_resp_t *r)
{
    if (r->complete) return 0;
    if (r->err != TX_RESP_OK || !r->head_done || r->state != S_BODY_EOF) return -1;
    r->complete = 1;
    r->keep = 0;
    return 0;
}
