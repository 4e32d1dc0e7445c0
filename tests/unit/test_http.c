/* HTTP/1.1 framing through the sans-I/O parser (server/parse.h): keep-alive, pipelining order,
 * chunked bodies, limits, smuggling refusals, HTTP/1.0, bad request lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/parse.h"

/* Feeds `s` in pieces of `step` bytes (every split point matters for a framing parser). */
static int feed(tx_http_parser_t *p, const char *s, size_t step)
{
    size_t len = strlen(s);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step)
        rc = tx__http_parser_feed(p, s + off, len - off < step ? len - off : step);
    return rc;
}

static int error_status(const char *input, size_t step, const tx_http_limits_t *lim)
{
    tx_http_parser_t *p = tx__http_parser_new(lim);
    assert_non_null(p);
    feed(p, input, step);
    int st = tx__http_parser_error(p, NULL, NULL);
    tx__http_parser_destroy(p);
    return st;
}

static void simple_get(void **state)
{
    (void)state;
    static const size_t steps[] = {1, 3, 7, 1000};
    for (size_t i = 0; i < 4; i++) {
        tx_http_parser_t *p = tx__http_parser_new(NULL);
        assert_int_equal(
            feed(p, "GET /v1/models?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nX-Key: V1\r\n\r\n", steps[i]),
            0);
        tx_http_msg_t *m = tx__http_parser_pop(p);
        assert_non_null(m);
        assert_string_equal(m->method, "GET");
        assert_string_equal(m->path, "/v1/models");
        assert_string_equal(m->query, "x=1&y=%20");
        assert_string_equal(tx__http_msg_header(m, "x-key"), "V1");
        assert_string_equal(tx__http_msg_header(m, "HOST"), "a");
        assert_null(tx__http_msg_header(m, "absent"));
        assert_int_equal(m->body_len, 0);
        assert_int_equal(m->keep_alive, 1);
        assert_int_equal(tx__http_parser_state(p), TX_HTTP_PARSE_IDLE);
        tx__http_msg_free(m);
        assert_null(tx__http_parser_pop(p));
        tx__http_parser_destroy(p);
    }
}

static void pipelined_in_order(void **state)
{
    (void)state;
    tx_http_parser_t *p = tx__http_parser_new(NULL);
    assert_int_equal(
        feed(p,
             "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
             "GET /b HTTP/1.1\r\n\r\n"
             "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
             "GET /d HTTP/1.1\r\nHost: x\r\n",
             5),
        0);
    const char *paths[] = {"/a", "/b", "/c"};
    const char *bodies[] = {"hello", "", "abc"};
    for (int i = 0; i < 3; i++) {
        tx_http_msg_t *m = tx__http_parser_pop(p);
        assert_non_null(m);
        assert_string_equal(m->path, paths[i]);
        assert_string_equal(m->body, bodies[i]);
        tx__http_msg_free(m);
    }
    assert_null(tx__http_parser_pop(p)); /* /d is incomplete: headers still arriving */
    assert_int_equal(tx__http_parser_state(p), TX_HTTP_PARSE_HEADERS);
    tx__http_parser_destroy(p); /* frees the partial request without leaks */
}

static void chunked_body(void **state)
{
    (void)state;
    tx_http_parser_t *p = tx__http_parser_new(NULL);
    assert_int_equal(feed(p,
                          "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                          "Trailer: t\r\n\r\n",
                          2),
                     0);
    tx_http_msg_t *m = tx__http_parser_pop(p);
    assert_non_null(m);
    assert_string_equal(m->body, "Wikipedia in\r\n\r\nchunks.");
    assert_int_equal(m->body_len, 23);
    tx__http_msg_free(m);
    tx__http_parser_destroy(p);
}

/* Every field of a request, in every split of the input, from its one allocation. */
static void request_fields(void **state)
{
    (void)state;
    static const char *req = "POST /v1/x HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nContent-Type: a/b\r\n"
                             "X-Spaced:   v  w\r\nContent-Length: 3\r\n\r\nxyz";
    static const size_t steps[] = {1, 2, 5, 1000};
    for (size_t i = 0; i < 4; i++) {
        tx_http_parser_t *p = tx__http_parser_new(NULL);
        assert_int_equal(feed(p, req, steps[i]), 0);
        tx_http_msg_t *m = tx__http_parser_pop(p);
        assert_non_null(m);
        assert_string_equal(m->method, "POST");
        assert_string_equal(m->target, "/v1/x");
        assert_string_equal(m->path, "/v1/x");
        assert_string_equal(m->query, "");
        assert_int_equal(m->nheaders, 5);
        const char *names[] = {"Host", "X-Empty", "Content-Type", "X-Spaced", "Content-Length"};
        const char *values[] = {"h", "", "a/b", "v  w", "3"};
        for (size_t k = 0; k < 5; k++) {
            assert_string_equal(m->headers[k].name, names[k]);
            assert_string_equal(m->headers[k].value, values[k]);
        }
        /* same first letter, different names; case ignored; a name that is only a prefix */
        assert_string_equal(tx__http_msg_header(m, "content-length"), "3");
        assert_string_equal(tx__http_msg_header(m, "CONTENT-TYPE"), "a/b");
        assert_string_equal(tx__http_msg_header(m, "x-empty"), "");
        assert_null(tx__http_msg_header(m, "Content"));
        assert_null(tx__http_msg_header(m, "Hos"));
        assert_null(tx__http_msg_header(m, ""));
        assert_null(tx__http_msg_header(NULL, "Host"));
        assert_null(tx__http_msg_header(m, NULL));
        assert_int_equal(m->body_len, 3);
        assert_string_equal(m->body, "xyz");
        tx__http_msg_free(m);
        tx__http_parser_destroy(p);
    }
}

/* Bodies around the size read into the request's own allocation, by Content-Length and chunked;
 * the next request on the connection is not disturbed. */
static void body_sizes(void **state)
{
    (void)state;
    /* around the 16 KiB read into the request's own allocation, and beyond */
    static const size_t sizes[] = {0, 1, 16383, 16384, 16385, 65536, 300000};
    static const size_t steps[] = {7, 4096, 1 << 20};
    size_t cap = 300000 + 256;
    char *in = malloc(cap * 2);
    char *body = malloc(300000);
    assert_non_null(in);
    assert_non_null(body);
    for (size_t k = 0; k < 300000; k++)
        body[k] = (char)('a' + k % 26);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (int chunked = 0; chunked < 2; chunked++) {
            size_t n;
            if (chunked)
                n = (size_t)snprintf(in, cap,
                                     "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     "%zx\r\n",
                                     sizes[i]);
            else
                n = (size_t)snprintf(in, cap, "POST /b HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
                                     sizes[i]);
            if (!chunked || sizes[i] > 0) {
                memcpy(in + n, body, sizes[i]);
                n += sizes[i];
            }
            if (chunked) /* after the data: its CRLF and the last chunk; "0\r\n" was the last */
                n += (size_t)snprintf(in + n, cap, "%s", sizes[i] ? "\r\n0\r\n\r\n" : "\r\n");
            n += (size_t)snprintf(in + n, cap, "GET /next HTTP/1.1\r\n\r\n");
            for (size_t s = 0; s < 3; s++) {
                tx_http_parser_t *p = tx__http_parser_new(NULL);
                assert_int_equal(feed(p, in, steps[s]), 0);
                tx_http_msg_t *m = tx__http_parser_pop(p);
                assert_non_null(m);
                assert_int_equal(m->body_len, sizes[i]);
                assert_memory_equal(m->body, body, sizes[i]);
                assert_int_equal(m->body[sizes[i]], '\0');
                assert_string_equal(m->path, "/b");
                tx__http_msg_free(m);
                m = tx__http_parser_pop(p);
                assert_non_null(m);
                assert_string_equal(m->path, "/next");
                assert_int_equal(m->body_len, 0);
                assert_string_equal(m->body, "");
                tx__http_msg_free(m);
                tx__http_parser_destroy(p);
            }
        }
    }
    free(in);
    free(body);
}

static void assert_same_msg(const tx_http_msg_t *a, const tx_http_msg_t *b)
{
    assert_string_equal(a->method, b->method);
    assert_string_equal(a->target, b->target);
    assert_string_equal(a->path, b->path);
    assert_string_equal(a->query, b->query);
    assert_int_equal(a->nheaders, b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++) {
        assert_string_equal(a->headers[i].name, b->headers[i].name);
        assert_string_equal(a->headers[i].value, b->headers[i].value);
    }
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len + 1);
    assert_int_equal(a->keep_alive, b->keep_alive);
}

/* Three requests whose fields cross any split: folded and empty values, 17 headers (more than a
 * first header array holds), a chunked body with trailers. */
static const char *const three_requests =
    "POST /v1/chat?x=1&y=two HTTP/1.1\r\nHost: example\r\nX-Fold: first\r\n  second\r\n"
    "X-Empty:\r\nX-Long: 0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n"
    "Content-Length: 11\r\n\r\nhello world"
    "GET /b HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"
    "I: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\nM: 13\r\nN: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\n\r\n"
    /* trailers after a chunked body (found by fuzzing with each read in its own buffer) */
    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n"
    "0\r\nT: 1\r\nTrailer-Two: abcdefghij\r\n\r\n";

/* The same requests, whatever the split of the bytes into reads: every split point of the
 * request line, names, values (folded ones too) and body gives the same requests. */
static void split_invariance(void **state)
{
    (void)state;
    const char *in = three_requests;
    tx_http_parser_t *ref = tx__http_parser_new(NULL);
    assert_int_equal(feed(ref, in, 100000), 0);
    tx_http_msg_t *want[3] = {tx__http_parser_pop(ref), tx__http_parser_pop(ref),
                              tx__http_parser_pop(ref)};
    assert_non_null(want[0]);
    assert_non_null(want[1]);
    assert_non_null(want[2]);
    assert_string_equal(want[2]->body, "Wikipedia");
    assert_string_equal(tx__http_msg_header(want[0], "x-long"),
                        "0123456789abcdefghijklmnopqrstuvwxyz0123456789");
    assert_non_null(strstr(tx__http_msg_header(want[0], "X-Fold"), "second"));
    assert_string_equal(tx__http_msg_header(want[1], "q"), "17");
    assert_int_equal(want[1]->nheaders, 17);
    size_t len = strlen(in);
    for (size_t step = 1; step < len; step++) {
        tx_http_parser_t *p = tx__http_parser_new(NULL);
        assert_int_equal(feed(p, in, step), 0);
        for (int k = 0; k < 3; k++) {
            tx_http_msg_t *m = tx__http_parser_pop(p);
            assert_non_null(m);
            assert_same_msg(m, want[k]);
            tx__http_msg_free(m);
        }
        assert_null(tx__http_parser_pop(p));
        tx__http_parser_destroy(p);
    }
    /* a split at every point, in two reads, each from its own buffer, overwritten and freed
     * after its feed: a parser that kept pointing at fed bytes reads garbage (or, under ASan, a
     * freed block) */
    for (size_t cut = 1; cut < len; cut++) {
        tx_http_parser_t *p = tx__http_parser_new(NULL);
        char *a = malloc(cut), *b = malloc(len - cut);
        assert_true(a != NULL && b != NULL);
        memcpy(a, in, cut);
        assert_int_equal(tx__http_parser_feed(p, a, cut), 0);
        memset(a, '#', cut);
        free(a);
        memcpy(b, in + cut, len - cut);
        assert_int_equal(tx__http_parser_feed(p, b, len - cut), 0);
        memset(b, '#', len - cut);
        free(b);
        for (int k = 0; k < 3; k++) {
            tx_http_msg_t *m = tx__http_parser_pop(p);
            assert_non_null(m);
            assert_same_msg(m, want[k]);
            tx__http_msg_free(m);
        }
        tx__http_parser_destroy(p);
    }
    for (int k = 0; k < 3; k++)
        tx__http_msg_free(want[k]);
    tx__http_parser_destroy(ref);
}

/* Parsers sharing one working buffer (a server's connections): two of them fed the same bytes
 * in different splits, their feeds interleaved, give the requests one parser alone gives; between
 * feeds a parser holds no working memory unless a head is still arriving, and then only about
 * that head's bytes and fields. */
static void shared_scratch(void **state)
{
    (void)state;
    const char *in = three_requests;
    size_t len = strlen(in);
    tx_http_parser_t *ref = tx__http_parser_new(NULL);
    assert_int_equal(feed(ref, in, 100000), 0);
    tx_http_msg_t *want[3] = {tx__http_parser_pop(ref), tx__http_parser_pop(ref),
                              tx__http_parser_pop(ref)};
    assert_non_null(want[2]);
    assert_true(tx__http_parser_held(ref) >= 256); /* a parser of its own keeps its buffer */
    tx_http_scratch_t *ws = tx__http_scratch_new();
    assert_non_null(ws);
    for (size_t step = 1; step < 40; step++) {
        tx_http_parser_t *p[2] = {tx__http_parser_new_shared(NULL, ws),
                                  tx__http_parser_new_shared(NULL, ws)};
        size_t steps[2] = {step, step * 3 + 1}, off[2] = {0, 0};
        int got[2] = {0, 0};
        while (off[0] < len || off[1] < len) {
            for (int k = 0; k < 2; k++) {
                if (off[k] >= len) continue;
                size_t n = len - off[k] < steps[k] ? len - off[k] : steps[k];
                char *piece = malloc(n); /* freed after its feed: nothing may point into it */
                assert_non_null(piece);
                memcpy(piece, in + off[k], n);
                assert_int_equal(tx__http_parser_feed(p[k], piece, n), 0);
                memset(piece, '#', n);
                free(piece);
                off[k] += n;
                size_t held = tx__http_parser_held(p[k]);
                if (tx__http_parser_state(p[k]) != TX_HTTP_PARSE_HEADERS)
                    assert_int_equal(held, 0);
                else /* the head so far (< 300 bytes here) and its fields (<= 17 of 32 bytes);
                      * none yet while only the method's first bytes came */
                    assert_true(held <= 300 + 17 * 32);
                tx_http_msg_t *m;
                while ((m = tx__http_parser_pop(p[k])) != NULL) {
                    assert_true(got[k] < 3);
                    assert_same_msg(m, want[got[k]++]);
                    tx__http_msg_free(m);
                }
            }
        }
        assert_int_equal(got[0], 3);
        assert_int_equal(got[1], 3);
        tx__http_parser_destroy(p[0]);
        tx__http_parser_destroy(p[1]);
    }
    /* a head that stopped half-way holds its bytes, not a working buffer's worth */
    tx_http_parser_t *half = tx__http_parser_new_shared(NULL, ws);
    const char *h = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Ty";
    assert_int_equal(feed(half, h, 1000), 0);
    assert_int_equal(tx__http_parser_state(half), TX_HTTP_PARSE_HEADERS);
    assert_true(tx__http_parser_held(half) > 0);
    assert_true(tx__http_parser_held(half) <= strlen(h) + 1 + 2 * 32);
    assert_int_equal(feed(half, "pe: a\r\nContent-Length: 2\r\n\r\nhi", 1000), 0);
    tx_http_msg_t *m = tx__http_parser_pop(half);
    assert_non_null(m);
    assert_string_equal(tx__http_msg_header(m, "content-type"), "a");
    assert_string_equal(tx__http_msg_header(m, "host"), "127.0.0.1:8080");
    assert_string_equal(m->body, "hi");
    assert_int_equal(tx__http_parser_held(half), 0);
    tx__http_msg_free(m);
    tx__http_parser_destroy(half);
    tx__http_scratch_free(ws);
    for (int k = 0; k < 3; k++)
        tx__http_msg_free(want[k]);
    tx__http_parser_destroy(ref);
}

static void connection_close_and_http10(void **state)
{
    (void)state;
    tx_http_parser_t *p = tx__http_parser_new(NULL);
    feed(p, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n", 1000);
    tx_http_msg_t *m = tx__http_parser_pop(p);
    assert_non_null(m);
    assert_int_equal(m->keep_alive, 0);
    tx__http_msg_free(m);
    assert_null(tx__http_parser_pop(p)); /* nothing after a close is parsed */
    assert_int_equal(tx__http_parser_state(p), TX_HTTP_PARSE_DONE);
    tx__http_parser_destroy(p);

    p = tx__http_parser_new(NULL);
    feed(p, "GET /a HTTP/1.0\r\n\r\n", 1000);
    m = tx__http_parser_pop(p);
    assert_non_null(m);
    assert_int_equal(m->http_minor, 0);
    assert_int_equal(m->keep_alive, 0);
    tx__http_msg_free(m);
    tx__http_parser_destroy(p);

    p = tx__http_parser_new(NULL);
    feed(p, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n", 4);
    m = tx__http_parser_pop(p);
    assert_int_equal(m->keep_alive, 1);
    tx__http_msg_free(m);
    m = tx__http_parser_pop(p);
    assert_non_null(m);
    assert_string_equal(m->path, "/b");
    tx__http_msg_free(m);
    tx__http_parser_destroy(p);
}

static void limits(void **state)
{
    (void)state;
    tx_http_limits_t lim = {.max_header_bytes = 1024, .max_body_bytes = 10};
    char big[4096];
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: %01500d\r\n\r\n", 0);
    assert_int_equal(error_status(big, 100, &lim), 431);
    /* default limit: 16 KiB of headers */
    char huge[20000];
    memset(huge, 'a', sizeof huge);
    memcpy(huge, "GET /", 5);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(error_status(huge, 4096, NULL), 431);
    /* Content-Length over the limit: refused before any body byte */
    assert_int_equal(error_status("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 1000, &lim),
                     413);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 3, &lim), 0);
    /* a chunked body growing past the limit */
    assert_int_equal(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "8\r\n01234567\r\n8\r\n01234567\r\n",
                                  1000, &lim),
                     413);
    const char *code = NULL, *msg = NULL;
    tx_http_parser_t *p = tx__http_parser_new(&lim);
    feed(p, "POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", 1000);
    assert_int_equal(tx__http_parser_error(p, &code, &msg), 413);
    assert_string_equal(code, "request_too_large");
    assert_non_null(msg);
    assert_int_equal(tx__http_parser_feed(p, "more", 4), -1); /* stays failed */
    tx__http_parser_destroy(p);
    /* header fields are counted too: tiny ones would otherwise let thousands in */
    char many[4096];
    size_t n = (size_t)snprintf(many, sizeof many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "a:\r\n");
    snprintf(many + n, sizeof many - n, "\r\n");
    assert_int_equal(error_status(many, 7, NULL), 0); /* 100: the default limit */
    snprintf(many + n, sizeof many - n, "b:\r\n\r\n");
    assert_int_equal(error_status(many, 7, NULL), 431);
    tx_http_limits_t few = {.max_headers = 2};
    assert_int_equal(error_status("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n", 5, &few), 0);
    assert_int_equal(error_status("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", 5, &few), 431);
}

static void smuggling_refused(void **state)
{
    (void)state;
    assert_int_equal(error_status("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: "
                                  "chunked\r\n\r\n0\r\n\r\n",
                                  1000, NULL),
                     400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                     "4\r\n\r\n0\r\n\r\n",
                     7, NULL),
        400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"
                     "abcde",
                     1000, NULL),
        400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", 1000, NULL), 400);
    /* an empty Transfer-Encoding (found by fuzzing: an empty piece before any was kept) */
    assert_int_equal(error_status("POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n\xb8", 1000, NULL),
                     400);
    assert_int_equal(error_status("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 1, NULL), 400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 1000,
                     NULL),
        400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                     "chunked\r\n\r\n0\r\n\r\n",
                     1000, NULL),
        400);
    assert_int_equal(error_status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 1000, NULL),
                     400);
    assert_int_equal(
        error_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1000, NULL),
        400);
    /* a good request before the bad one is still delivered, first */
    tx_http_parser_t *p = tx__http_parser_new(NULL);
    assert_int_equal(feed(p,
                          "GET /ok HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
                          1000),
                     -1);
    tx_http_msg_t *m = tx__http_parser_pop(p);
    assert_non_null(m);
    assert_string_equal(m->path, "/ok");
    tx__http_msg_free(m);
    assert_null(tx__http_parser_pop(p));
    assert_int_equal(tx__http_parser_state(p), TX_HTTP_PARSE_ERROR);
    tx__http_parser_destroy(p);
}

static void bad_request_lines(void **state)
{
    (void)state;
    assert_int_equal(error_status("GARBAGE\r\n\r\n", 1000, NULL), 400);
    assert_int_equal(error_status("GET\r\n\r\n", 1000, NULL), 400);
    assert_int_equal(error_status("GET / HTTP/9.9\r\n\r\n", 1000, NULL), 505);
    assert_int_equal(error_status("GET / HTTP/2.0\r\n\r\n", 1000, NULL), 505);
    assert_int_equal(error_status("GET http://evil/ HTTP/1.1\r\n\r\n", 1000, NULL), 400);
    assert_int_equal(error_status("CONNECT a:443 HTTP/1.1\r\n\r\n", 1000, NULL), 501);
    assert_int_equal(error_status("GET / HTTP/1.1\r\nBad Header\r\n\r\n", 1000, NULL), 400);
    assert_int_equal(error_status("GET /\x01 HTTP/1.1\r\n\r\n", 1000, NULL), 400);
    assert_int_equal(error_status("\xff\xfe\x00garbage", 1000, NULL), 400);
    /* NULL and empty input are harmless */
    tx_http_parser_t *p = tx__http_parser_new(NULL);
    assert_int_equal(tx__http_parser_feed(p, NULL, 10), 0);
    assert_int_equal(tx__http_parser_feed(p, "", 0), 0);
    assert_int_equal(tx__http_parser_state(p), TX_HTTP_PARSE_IDLE);
    assert_int_equal(tx__http_parser_error(p, NULL, NULL), 0);
    tx__http_parser_destroy(p);
    assert_int_equal(tx__http_parser_feed(NULL, "x", 1), -1);
    assert_null(tx__http_parser_pop(NULL));
    tx__http_parser_destroy(NULL);
    tx__http_msg_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),
        cmocka_unit_test(pipelined_in_order),
        cmocka_unit_test(chunked_body),
        cmocka_unit_test(connection_close_and_http10),
        cmocka_unit_test(limits),
        cmocka_unit_test(smuggling_refused),
        cmocka_unit_test(bad_request_lines),
        cmocka_unit_test(request_fields),
        cmocka_unit_test(body_sizes),
        cmocka_unit_test(split_invariance),
        cmocka_unit_test(shared_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
