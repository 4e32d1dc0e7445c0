/* SSE parser: every chunking gives the same events; line ends, comments, [DONE], errors, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "upstream/sse.h"

typedef struct {
    char log[4096];
    size_t n;
    int stop_after;
} rec_t;

static int on_ev(void *ud, const tx_sse_event_t *ev)
{
    rec_t *r = ud;
    size_t used = strlen(r->log);
    snprintf(r->log + used, sizeof r->log - used, "%d|%s|%s;", (int)ev->kind, ev->event, ev->data);
    assert_int_equal(strlen(ev->data), ev->data_len);
    r->n++;
    return r->stop_after > 0 && (int)r->n >= r->stop_after;
}

static const char STREAM[] = "\xEF\xBB\xBF: keep-alive comment\r\n"
                             "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n"
                             "event: ping\ndata:a\ndata:  b\n\n"
                             "id: 7\rretry: 100\rdata\r\r"
                             "data: {\"error\":{\"message\":\"boom\",\"code\":502}}\n\n"
                             "event: error\ndata: x\n\n"
                             "data: [DONE]\n\n";
static const char EXPECT[] = "0||{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]};"
                             "0|ping|a\n b;"
                             "0||;"
                             "2||{\"error\":{\"message\":\"boom\",\"code\":502}};"
                             "2|error|x;"
                             "1||[DONE];";

static void whole_stream(void **state)
{
    (void)state;
    tx_sse_t *p = tx__sse_new(0);
    rec_t r = {0};
    assert_int_equal(tx__sse_feed(p, STREAM, sizeof STREAM - 1, on_ev, &r), TX_EOK);
    assert_string_equal(r.log, EXPECT);
    assert_int_equal(tx__sse_events(p), 6);
    assert_int_equal(tx__sse_comments(p), 1);
    assert_false(tx__sse_pending(p));
    tx__sse_free(p);
}

static void every_split_same_events(void **state)
{
    (void)state;
    size_t n = sizeof STREAM - 1;
    for (size_t step = 1; step <= 7; step++) {
        tx_sse_t *p = tx__sse_new(0);
        rec_t r = {0};
        for (size_t i = 0; i < n; i += step) {
            size_t k = n - i < step ? n - i : step;
            assert_int_equal(tx__sse_feed(p, STREAM + i, k, on_ev, &r), TX_EOK);
        }
        assert_string_equal(r.log, EXPECT);
        tx__sse_free(p);
    }
    /* every split point into two pieces */
    for (size_t cut = 0; cut <= n; cut++) {
        tx_sse_t *p = tx__sse_new(0);
        rec_t r = {0};
        assert_int_equal(tx__sse_feed(p, STREAM, cut, on_ev, &r), TX_EOK);
        assert_int_equal(tx__sse_feed(p, STREAM + cut, n - cut, on_ev, &r), TX_EOK);
        assert_string_equal(r.log, EXPECT);
        tx__sse_free(p);
    }
}

static void partial_event_is_pending(void **state)
{
    (void)state;
    tx_sse_t *p = tx__sse_new(0);
    rec_t r = {0};
    assert_int_equal(tx__sse_feed(p, "data: half", 10, on_ev, &r), TX_EOK);
    assert_true(tx__sse_pending(p));
    assert_int_equal(r.n, 0);
    assert_int_equal(tx__sse_feed(p, "\n", 1, on_ev, &r), TX_EOK);
    assert_true(tx__sse_pending(p));
    assert_int_equal(tx__sse_feed(p, "\n", 1, on_ev, &r), TX_EOK);
    assert_false(tx__sse_pending(p));
    assert_string_equal(r.log, "0||half;");
    tx__sse_free(p);
}

static void stop_and_limits(void **state)
{
    (void)state;
    tx_sse_t *p = tx__sse_new(0);
    rec_t r = {.stop_after = 1};
    assert_int_equal(tx__sse_feed(p, "data: a\n\ndata: b\n\n", 18, on_ev, &r), TX_ESTOPPED);
    assert_int_equal(r.n, 1);
    tx__sse_free(p);

    p = tx__sse_new(16);
    r = (rec_t){0};
    assert_int_equal(tx__sse_feed(p, "data: 0123456789abcdefXYZ\n\n", 27, on_ev, &r), TX_ERANGE);
    assert_int_equal(tx__sse_feed(p, "data: a\n\n", 9, on_ev, &r), TX_ERANGE); /* stays failed */
    assert_int_equal(r.n, 0);
    tx__sse_free(p);

    assert_int_equal(tx__sse_feed(NULL, "x", 1, on_ev, NULL), TX_EINVAL);
    p = tx__sse_new(0);
    assert_int_equal(tx__sse_feed(p, NULL, 1, on_ev, NULL), TX_EINVAL);
    assert_int_equal(tx__sse_feed(p, NULL, 0, on_ev, NULL), TX_EOK);
    /* invalid UTF-8 and NUL bytes pass through without harm; no callback is fine too */
    assert_int_equal(tx__sse_feed(p, "data: \xff\xfe\x00z\n\n", 12, NULL, NULL), TX_EOK);
    assert_int_equal(tx__sse_events(p), 1);
    tx__sse_free(p);
    tx__sse_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_stream),
        cmocka_unit_test(every_split_same_events),
        cmocka_unit_test(partial_event_is_pending),
        cmocka_unit_test(stop_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
