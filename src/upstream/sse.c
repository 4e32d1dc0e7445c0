/* Incremental SSE parser: collects one line at a time (bounded), interprets the fields of the
 * event stream format, and dispatches an event on each blank line. */
#include "core/buf.h"
#include "upstream/sse.h"

#include <stdlib.h>
#include <string.h>

struct tx_sse {
    size_t max;
    tx__buf_t line, data, event;
    int after_cr;  /* last byte was CR: a following LF belongs to the same line end */
    int bom_state; /* bytes of a leading BOM matched so far; -1 once past the start */
    int has_data;  /* a data field was seen in the current event */
    int failed;
    size_t events, comments;
};

/* Appends to one of the parser's buffers: -1 when the event would grow past `max`, -2 out of
 * memory. */
static int buf_add(tx__buf_t *b, const char *s, size_t n, size_t max)
{
    if (b->len + n + 1 > max + 1) return -1;
    return tx__buf_add(b, s, n) == 0 ? 0 : -2;
}

tx_sse_t *tx__sse_new(size_t max_event)
{
    tx_sse_t *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->max = max_event ? max_event : (size_t)1 << 20;
    return p;
}

void tx__sse_free(tx_sse_t *p)
{
    if (p == NULL) return;
    free(p->line.p);
    free(p->data.p);
    free(p->event.p);
    free(p);
}

void tx__sse_reset(tx_sse_t *p, size_t keep)
{
    if (p == NULL) return;
    tx__buf_t *bufs[3] = {&p->line, &p->data, &p->event};
    for (int i = 0; i < 3; i++) {
        if (bufs[i]->cap > keep) {
            free(bufs[i]->p);
            bufs[i]->p = NULL;
            bufs[i]->cap = 0;
        }
        bufs[i]->len = 0;
    }
    p->after_cr = p->bom_state = p->has_data = p->failed = 0;
    p->events = p->comments = 0;
}

size_t tx__sse_events(const tx_sse_t *p)
{
    return p ? p->events : 0;
}
size_t tx__sse_comments(const tx_sse_t *p)
{
    return p ? p->comments : 0;
}

int tx__sse_pending(const tx_sse_t *p)
{
    return p != NULL && (p->line.len > 0 || p->has_data || p->event.len > 0);
}

static tx_sse_kind_t kind_of(const tx_sse_t *p)
{
    if (p->event.len == 5 && memcmp(p->event.p, "error", 5) == 0) return TX_SSE_ERROR;
    const char *d = p->data.p;
    size_t n = p->data.len;
    while (n > 0 && (*d == ' ' || *d == '\t'))
        d++, n--;
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) return TX_SSE_DONE;
    if (n > 0 && *d == '{') {
        d++, n--;
        while (n > 0 && (*d == ' ' || *d == '\t' || *d == '\n' || *d == '\r'))
            d++, n--;
        if (n >= 7 && memcmp(d, "\"error\"", 7) == 0) return TX_SSE_ERROR;
    }
    return TX_SSE_MESSAGE;
}

static int dispatch(tx_sse_t *p, tx_sse_cb cb, void *ud)
{
    int stop = 0;
    if (p->has_data) {
        if (p->data.len > 0 && p->data.p[p->data.len - 1] == '\n') p->data.p[--p->data.len] = '\0';
        tx_sse_event_t ev = {
            .kind = kind_of(p),
            .event = p->event.len ? p->event.p : "",
            .event_len = p->event.len,
            .data = p->data.len ? p->data.p : "",
            .data_len = p->data.len,
        };
        p->events++;
        if (cb != NULL) stop = cb(ud, &ev);
    }
    p->data.len = 0;
    p->event.len = 0;
    p->has_data = 0;
    return stop;
}

/* One complete line (without its end), at s (in the input or the parser's line buffer). Returns
 * 0, 1 to stop, or a negative buf_add error. */
static int line(tx_sse_t *p, const char *s, size_t n, tx_sse_cb cb, void *ud)
{
    if (n == 0) return dispatch(p, cb, ud);
    if (s[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = n - (size_t)(v - s);
    if (vlen > 0 && *v == ' ') v++, vlen--;
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        /* the value and its '\n' in one go (the last '\n' is dropped at the dispatch) */
        tx__buf_t *b = &p->data;
        if (b->len + vlen + 1 > p->max) return -1; /* as the value, then its '\n', would */
        if (b->len + vlen + 2 > b->cap && tx__buf_reserve(b, vlen + 1, 256) != 0) return -2;
        memcpy(b->p + b->len, v, vlen);
        b->len += vlen + 1;
        b->p[b->len - 1] = '\n';
        b->p[b->len] = '\0';
        p->has_data = 1;
        return 0;
    }
    if (flen == 5 && memcmp(s, "event", 5) == 0) {
        p->event.len = 0;
        return buf_add(&p->event, v, vlen, p->max);
    }
    return 0; /* id, retry and unknown fields do not matter to the relay */
}

static tx_err_t fail(tx_sse_t *p, int rc)
{
    p->failed = rc == -1;
    return rc == -1 ? TX_ERANGE : TX_ENOMEM;
}

tx_err_t tx__sse_feed(tx_sse_t *p, const char *data, size_t len, tx_sse_cb cb, void *ud)
{
    if (p == NULL || (data == NULL && len > 0)) return TX_EINVAL;
    if (p->failed) return TX_ERANGE;
    size_t i = 0;
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    while (p->bom_state >= 0 && i < len) {
        if ((unsigned char)data[i] != bom[p->bom_state]) {
            /* not a BOM after all: the bytes matched so far are content */
            if (p->bom_state > 0 &&
                buf_add(&p->line, (const char *)bom, (size_t)p->bom_state, p->max) != 0) {
                p->failed = 1;
                return TX_ERANGE;
            }
            p->bom_state = -1;
            break;
        }
        i++;
        if (++p->bom_state == 3) p->bom_state = -1;
    }
    if (i == len) return TX_EOK;
    const char *s = data + i, *end = data + len;
    /* the next LF and CR at or after s (end: none left); found with memchr, each searched for
     * again only once passed, so every byte is looked at about twice whatever the chunking */
    const char *lf = s, *cr = s;
    int lf_known = 0, cr_known = 0;
    while (s < end) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (*s == '\n') {
                s++;
                continue;
            }
        }
        if (!lf_known || (lf < s && lf != end)) {
            lf = memchr(s, '\n', (size_t)(end - s));
            if (lf == NULL) lf = end;
            lf_known = 1;
        }
        if (!cr_known || (cr < s && cr != end)) {
            cr = memchr(s, '\r', (size_t)(end - s));
            if (cr == NULL) cr = end;
            cr_known = 1;
        }
        const char *e = lf < cr ? lf : cr;
        if (e == end) { /* an unfinished line: kept for the next chunk */
            int rc = buf_add(&p->line, s, (size_t)(end - s), p->max);
            if (rc < 0) return fail(p, rc);
            break;
        }
        size_t n = (size_t)(e - s);
        int rc;
        if (p->line.len == 0) { /* the whole line is in this chunk: read in place */
            rc = n > p->max ? -1 : line(p, s, n, cb, ud);
        } else {
            rc = buf_add(&p->line, s, n, p->max);
            if (rc == 0) {
                n = p->line.len;
                p->line.len = 0;
                rc = line(p, p->line.p, n, cb, ud);
            }
        }
        p->after_cr = *e == '\r';
        s = e + 1;
        if (rc < 0) return fail(p, rc);
        if (rc > 0) return TX_ESTOPPED;
    }
    return TX_EOK;
}

int tx__sse_contains(const char *data, size_t len, const char *needle, size_t nlen)
{
    if (nlen == 0 || len < nlen) return nlen == 0;
    const char *q = data, *last = data + len - nlen; /* the last place a match can start */
    while (q <= last && (q = memchr(q, needle[0], (size_t)(last - q) + 1)) != NULL) {
        if (memcmp(q + 1, needle + 1, nlen - 1) == 0) return 1;
        q++;
    }
    return 0;
}

int tx__sse_skippable(const tx_sse_t *p, const char *data, size_t len, const char *needle,
                      size_t nlen)
{
    return p != NULL && !p->failed && p->bom_state < 0 && p->line.len == 0 && !p->has_data &&
           p->event.len == 0 && !p->after_cr && len >= 2 && len < p->max && data[len - 1] == '\n' &&
           data[len - 2] == '\n' && !tx__sse_contains(data, len, needle, nlen);
}
