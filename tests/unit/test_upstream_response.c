/* The upstream response reader (upstream/response.h, tenax's own parser): every framing, 1xx
 * skipped, no body after HEAD / 204 / 304, Content-Length with Transfer-Encoding refused,
 * keep-alive decisions — each case read whole, split at every position into two reads, and one byte
 * per read, with the same outcome every time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/response.h"

typedef struct {
    int heads, status;
    char hdrs[512]; /* "name=value;" */
    char body[256];
    size_t blen;
    int end; /* 1 complete, 0 open, -1 error */
    int keep;
    long ka;
    size_t used; /* bytes consumed when complete */
} out_t;

static int on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    out_t *o = ud;
    o->heads++;
    o->status = status;
    for (size_t i = 0; i < nh; i++) {
        size_t l = strlen(o->hdrs);
        snprintf(o->hdrs + l, sizeof o->hdrs - l, "%s=%s;", h[i].name, h[i].value);
    }
    return 0;
}

static int on_body(void *ud, const char *d, size_t n)
{
    out_t *o = ud;
    assert_int_equal(o->heads, 1);
    assert_true(o->blen + n <= sizeof o->body);
    memcpy(o->body + o->blen, d, n);
    o->blen += n;
    return 0;
}

static const tx_resp_cb_t CB = {on_head, on_body};

/* Reads `s` in pieces: cut positions (sorted, ascending) end each piece; eof after the last. */
static void read_cuts(const char *s, size_t len, const size_t *cuts, size_t ncuts, int head_only,
                      int eof, out_t *o)
{
    memset(o, 0, sizeof *o);
    tx_resp_t r;
    memset(&r, 0, sizeof r);
    tx__resp_reset(&r, head_only, &CB, o);
    size_t off = 0;
    for (size_t i = 0; i <= ncuts && o->end == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        if (to <= off) continue;
        char *piece = malloc(to - off); /* its own buffer: no pointer into it may survive */
        assert_non_null(piece);
        memcpy(piece, s + off, to - off);
        ssize_t k = tx__resp_feed(&r, piece, to - off);
        free(piece);
        if (k < 0) {
            o->end = -1;
        } else {
            off += (size_t)k;
            if (r.complete) o->end = 1;
        }
    }
    if (o->end == 0 && eof) o->end = tx__resp_eof(&r) == 0 ? 1 : 0;
    o->keep = r.complete && r.keep;
    o->ka = r.keepalive_s;
    o->used = o->end == 1 ? off : 0;
    tx__resp_free(&r);
}

/* Whole, every two-piece split and byte by byte: the same outcome; returns the whole reading. */
static out_t check_splits(const char *s, int head_only, int eof)
{
    size_t len = strlen(s);
    out_t whole, part;
    read_cuts(s, len, NULL, 0, head_only, eof, &whole);
    for (size_t cut = 1; cut < len; cut++) {
        read_cuts(s, len, &cut, 1, head_only, eof, &part);
        assert_memory_equal(&whole, &part, sizeof whole);
    }
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    read_cuts(s, len, cuts, len, head_only, eof, &part);
    free(cuts);
    assert_memory_equal(&whole, &part, sizeof whole);
    return whole;
}

static void content_length(void **state)
{
    (void)state;
    out_t o = check_splits("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  v w \r\n\r\nhello", 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.hdrs, "Content-Length=5;X-A=v w;");
    assert_int_equal(o.blen, 5);
    assert_memory_equal(o.body, "hello", 5);
    assert_int_equal(o.keep, 1);
    assert_int_equal(o.ka, -1);
}

static void chunked_with_trailers(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    out_t o = check_splits(s, 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.blen, 11);
    assert_memory_equal(o.body, "hello world", 11);
    assert_string_equal(o.hdrs, "Transfer-Encoding=chunked;"); /* trailers are not headers */
    assert_int_equal(o.used, strlen(s));
    assert_int_equal(o.keep, 1);
}

static void close_delimited(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n";
    out_t open = check_splits(s, 0, 0);
    assert_int_equal(open.end, 0); /* not done until the connection ends */
    assert_int_equal(open.blen, 9);
    out_t o = check_splits(s, 0, 1);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.keep, 0);
    assert_memory_equal(o.body, "data: 1\n\n", 9);
}

static void interim_responses_skipped(void **state)
{
    (void)state;
    out_t o =
        check_splits("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                     "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
                     0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.heads, 1);
    assert_int_equal(o.status, 201);
    assert_string_equal(o.hdrs, "Content-Length=2;");
    assert_memory_equal(o.body, "ok", 2);
}

static void no_body_for_head_204_304(void **state)
{
    (void)state;
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n";
    out_t o = check_splits(head, 1, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.blen, 0);
    assert_int_equal(o.keep, 1);
    const char *s204 = "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc";
    o = check_splits(s204, 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.status, 204);
    assert_int_equal(o.blen, 0);
    assert_int_equal(o.used, strlen(s204) - 3); /* "abc" belongs to no response */
    o = check_splits("HTTP/1.1 304 Not Modified\r\n\r\n", 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.blen, 0);
}

static void refused(void **state)
{
    (void)state;
    out_t o =
        check_splits("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n",
                     0, 0);
    assert_int_equal(o.end, -1);
    assert_int_equal(o.heads, 0);
    assert_int_equal(
        check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0).end, -1);
    assert_int_equal(check_splits("XTTP/1.1 200 OK\r\n\r\n", 0, 0).end, -1);
    assert_int_equal(
        check_splits("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0, 0).end, -1);
    /* headers beyond the bound */
    size_t big = TX_RESP_HEADER_BYTES_MAX + 100;
    char *s = malloc(big + 64);
    assert_non_null(s);
    strcpy(s, "HTTP/1.1 200 OK\r\nX-Big: ");
    size_t l = strlen(s);
    memset(s + l, 'a', big);
    strcpy(s + l + big, "\r\n\r\n");
    out_t b;
    read_cuts(s, strlen(s), NULL, 0, 0, 0, &b);
    free(s);
    assert_int_equal(b.end, -1);
    assert_int_equal(b.heads, 0);
}

static void truncated_and_keepalive(void **state)
{
    (void)state;
    out_t o = check_splits("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, 1);
    assert_int_equal(o.end, 0); /* cut short: the connection's end does not complete it */
    assert_int_equal(o.blen, 3);
    o = check_splits("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.keep, 0);
    o = check_splits("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 0);
    assert_int_equal(o.keep, 0);
    o = check_splits("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=9\r\n"
                     "Content-Length: 1\r\n\r\nx",
                     0, 0);
    assert_int_equal(o.keep, 1);
    assert_int_equal(o.ka, 5);
    /* a second response right behind the first is not consumed */
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n";
    o = check_splits(two, 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.used, strlen(two) - strlen("HTTP/1.1 200 OK\r\n\r\n"));
}

static void lenient_where_http_is(void **state)
{
    (void)state;
    /* bare LF line ends, an empty line before the status line, a reason with spaces, no reason */
    out_t o = check_splits("\r\nHTTP/1.1 200 All Good\nContent-Length: 2\n\nok", 0, 0);
    assert_int_equal(o.end, 1);
    assert_memory_equal(o.body, "ok", 2);
    o = check_splits("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.status, 200);
    /* the same length twice is one length */
    o = check_splits("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 0, 0);
    assert_int_equal(o.end, 1);
    /* a transfer coding other than chunked: the body runs to the connection's end */
    o = check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", 0, 1);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.keep, 0);
    assert_int_equal(o.blen, 3);
    /* chunked last in a list; a connection token list */
    o = check_splits(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nConnection: Upgrade, Close\r\n\r\n"
        "3\r\nabc\r\n0\r\n\r\n",
        0, 0);
    assert_int_equal(o.end, 1);
    assert_int_equal(o.keep, 0);
    assert_memory_equal(o.body, "abc", 3);
    /* chunk lines with bare LF, blanks before an extension */
    o = check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a=b\nx\n0\n\n", 0, 0);
    assert_int_equal(o.end, 1);
    assert_memory_equal(o.body, "x", 1);
}

static void strict_where_it_matters(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", /* two lengths */
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", /* obs-fold */
        "HTTP/1.1 200 OK\r\nX A: b\r\n\r\n",       /* a blank in a name */
        "HTTP/1.1 200 OK\r\n: b\r\n\r\n",          /* no name */
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",    /* a lone CR */
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",               /* no size */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", /* 2^60 */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", /* no CRLF after data */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\rx\r\n",
        NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        out_t o = check_splits(bad[i], 0, 0);
        if (o.end != -1) fail_msg("accepted: %s", bad[i]);
    }
    /* a NUL inside a value */
    static const char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";
    out_t o;
    read_cuts(nul, sizeof nul - 1, NULL, 0, 0, 0, &o);
    assert_int_equal(o.end, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length),           cmocka_unit_test(chunked_with_trailers),
        cmocka_unit_test(close_delimited),          cmocka_unit_test(interim_responses_skipped),
        cmocka_unit_test(no_body_for_head_204_304), cmocka_unit_test(refused),
        cmocka_unit_test(truncated_and_keepalive),  cmocka_unit_test(lenient_where_http_is),
        cmocka_unit_test(strict_where_it_matters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
