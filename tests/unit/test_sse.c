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

/* ---- the parser against a byte-at-a-time model of the same rules ------------------------- */

/* The model: every byte through one switch, with the limits the parser documents (a line, the
 * joined data with its line ends, or an event name longer than max fails the parser). */
typedef struct {
    size_t max;
    char line[256], data[256], event[256];
    size_t ll, dl, el;
    int after_cr, bom, has_data, failed;
    size_t events, comments;
} model_t;

typedef struct {
    char log[8192];
    size_t len;
} evlog_t;

static void log_add(evlog_t *g, int kind, const char *ev, size_t el, const char *d, size_t dl)
{
    int k = snprintf(g->log + g->len, sizeof g->log - g->len, "%d|", kind);
    g->len += (size_t)k;
    if (g->len + el + dl + 4 >= sizeof g->log) fail_msg("log full");
    memcpy(g->log + g->len, ev, el);
    g->len += el;
    g->log[g->len++] = '|';
    memcpy(g->log + g->len, d, dl);
    g->len += dl;
    g->log[g->len++] = ';';
    g->log[g->len] = '\0';
}

static int log_ev(void *ud, const tx_sse_event_t *ev)
{
    assert_int_equal(ev->data[ev->data_len], '\0');
    assert_int_equal(ev->event[ev->event_len], '\0');
    log_add(ud, (int)ev->kind, ev->event, ev->event_len, ev->data, ev->data_len);
    return 0;
}

static int model_kind(const model_t *m)
{
    if (m->el == 5 && memcmp(m->event, "error", 5) == 0) return TX_SSE_ERROR;
    size_t i = 0;
    while (i < m->dl && (m->data[i] == ' ' || m->data[i] == '\t'))
        i++;
    if (m->dl - i == 6 && memcmp(m->data + i, "[DONE]", 6) == 0) return TX_SSE_DONE;
    if (i < m->dl && m->data[i] == '{') {
        i++;
        while (i < m->dl && strchr(" \t\n\r", m->data[i]) != NULL && m->data[i] != '\0')
            i++;
        if (m->dl - i >= 7 && memcmp(m->data + i, "\"error\"", 7) == 0) return TX_SSE_ERROR;
    }
    return TX_SSE_MESSAGE;
}

/* One finished line. 0, or -1: over the limit. */
static int model_line(model_t *m, evlog_t *g)
{
    size_t n = m->ll;
    m->ll = 0;
    if (n == 0) {
        if (m->has_data) {
            if (m->dl > 0 && m->data[m->dl - 1] == '\n') m->dl--;
            log_add(g, model_kind(m), m->event, m->el, m->data, m->dl);
            m->events++;
        }
        m->dl = m->el = 0;
        m->has_data = 0;
        return 0;
    }
    if (m->line[0] == ':') {
        m->comments++;
        return 0;
    }
    size_t f = 0;
    while (f < n && m->line[f] != ':')
        f++;
    size_t v = f < n ? f + 1 : n;
    if (v < n && m->line[v] == ' ') v++;
    if (f == 4 && memcmp(m->line, "data", 4) == 0) {
        if (m->dl + (n - v) + 1 > m->max) return -1;
        memcpy(m->data + m->dl, m->line + v, n - v);
        m->dl += n - v;
        m->data[m->dl++] = '\n';
        m->has_data = 1;
    } else if (f == 5 && memcmp(m->line, "event", 5) == 0) {
        if (n - v > m->max) return -1;
        memcpy(m->event, m->line + v, n - v);
        m->el = n - v;
    }
    return 0;
}

static tx_err_t model_feed(model_t *m, const char *d, size_t len, evlog_t *g)
{
    if (m->failed) return TX_ERANGE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (m->bom >= 0) {
            static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
            if (c == bom[m->bom]) {
                if (++m->bom == 3) m->bom = -1;
                continue;
            }
            for (int k = 0; k < m->bom; k++) /* not a BOM: those bytes are content */
                m->line[m->ll++] = (char)bom[k];
            m->bom = -1;
            if (m->ll > m->max) return m->failed = 1, TX_ERANGE;
        }
        if (m->after_cr) {
            m->after_cr = 0;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            m->after_cr = c == '\r';
            if (model_line(m, g) != 0) return m->failed = 1, TX_ERANGE;
            continue;
        }
        m->line[m->ll++] = (char)c;
        if (m->ll > m->max) return m->failed = 1, TX_ERANGE;
    }
    return TX_EOK;
}

static uint32_t rnd_next(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Random streams built from the format's pieces, fed whole and in random chunks, with small
 * limits: the parser gives the model's events, counters and return codes. */
static void same_as_byte_model(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "data: ", "data:",    "data",     "event: ",      "event:error",    "error",
        ":",      ": c",      "\r",       "\n",           "\r\n",           "\n\n",
        "x",      "hello",    "[DONE]",   "{\"error\"",   "{ \"error\":1}", " ",
        "\t",     "id: 9",    "retry: 1", "\xEF\xBB\xBF", "\xEF\xBB",       "usage\"",
        "\0",     "data:x\n", "data:\n",  "data:ab\r\n",  "data:abc\n",     "data: abcd\r"};
    uint32_t seed = 12345;
    size_t skips = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char in[200];
        size_t n = 0;
        size_t want = rnd_next(&seed) % 180;
        while (n < want) {
            const char *pc = pieces[rnd_next(&seed) % (sizeof pieces / sizeof pieces[0])];
            size_t pl = pc[0] == '\0' ? 1 : strlen(pc);
            if (n + pl > sizeof in) break;
            memcpy(in + n, pc, pl);
            n += pl;
        }
        static const size_t maxes[] = {4, 8, 16, 40, 255};
        size_t max = maxes[rnd_next(&seed) % 5];
        model_t m = {.max = max};
        evlog_t gm = {{0}, 0}, gp = {{0}, 0};
        tx_sse_t *p = tx__sse_new(max);
        assert_non_null(p);
        size_t i = 0;
        int whole = iter % 3 == 0;
        while (i < n) {
            size_t k = whole ? n : 1 + rnd_next(&seed) % 24;
            if (iter % 3 == 1) { /* up to a blank line, as providers send their chunks */
                const char *bl = NULL;
                for (size_t j = i; j + 1 < n && bl == NULL; j++)
                    if (in[j] == '\n' && in[j + 1] == '\n') bl = in + j;
                k = bl != NULL ? (size_t)(bl + 2 - (in + i)) : n - i;
            }
            if (k > n - i) k = n - i;
            int skip = tx__sse_skippable(p, in + i, k, "usage\"", 6);
            size_t before = gm.len;
            tx_err_t rm = model_feed(&m, in + i, k, &gm);
            tx_err_t rp = tx__sse_feed(p, in + i, k, log_ev, &gp);
            if (rm != rp || strcmp(gm.log, gp.log) != 0)
                fail_msg("iteration %d (max %zu) at %zu+%zu: model %d '%s', parser %d '%s'", iter,
                         max, i, k, (int)rm, gm.log, (int)rp, gp.log);
            if (skip) { /* passing it over would have lost nothing: no event with the needle,
                           and the parser ends between events */
                skips++;
                assert_int_equal(rm, TX_EOK);
                assert_false(tx__sse_contains(gm.log + before, gm.len - before, "usage\"", 6));
                assert_true(m.ll == 0 && !m.has_data && m.el == 0 && !m.after_cr);
            }
            i += k;
        }
        if (!m.failed) {
            assert_int_equal(tx__sse_events(p), m.events);
            assert_int_equal(tx__sse_comments(p), m.comments);
            assert_int_equal(tx__sse_pending(p), m.ll > 0 || m.has_data || m.el > 0);
        }
        tx__sse_free(p);
    }
    assert_true(skips > 200); /* the check above did run (546 times with this seed) */
}

static void contains_and_skippable(void **state)
{
    (void)state;
    assert_true(tx__sse_contains("usage\"", 6, "usage\"", 6));
    assert_true(tx__sse_contains("{\"x\":1,\"usage\":{}}", 18, "usage\"", 6));
    assert_false(tx__sse_contains("{\"usage", 7, "usage\"", 6)); /* cut before the quote */
    assert_false(tx__sse_contains("usag", 4, "usage\"", 6));
    assert_false(tx__sse_contains("uuuuuusage", 10, "usage\"", 6));
    assert_true(tx__sse_contains("uuuuuusage\"", 11, "usage\"", 6));
    assert_false(tx__sse_contains("", 0, "u", 1));

    tx_sse_t *p = tx__sse_new(0);
    static const char ev[] = "data: {\"choices\":[]}\n\n";
    /* a fresh parser may still see a BOM: not skippable until something was fed */
    assert_false(tx__sse_skippable(p, ev, sizeof ev - 1, "usage\"", 6));
    assert_int_equal(tx__sse_feed(p, ev, sizeof ev - 1, NULL, NULL), TX_EOK);
    assert_true(tx__sse_skippable(p, ev, sizeof ev - 1, "usage\"", 6));
    static const char us[] = "data: {\"usage\":{\"total_tokens\":3}}\n\n";
    assert_false(tx__sse_skippable(p, us, sizeof us - 1, "usage\"", 6));
    assert_false(tx__sse_skippable(p, ev, sizeof ev - 2, "usage\"", 6)); /* ends mid-event */
    assert_int_equal(tx__sse_feed(p, "data: x", 7, NULL, NULL), TX_EOK);
    assert_false(tx__sse_skippable(p, ev, sizeof ev - 1, "usage\"", 6)); /* in an event */
    tx__sse_free(p);
    p = tx__sse_new(8); /* a chunk at the bound could fail the parser: fed, not skipped */
    assert_int_equal(tx__sse_feed(p, "\n", 1, NULL, NULL), TX_EOK);
    assert_false(tx__sse_skippable(p, "data: 123456\n\n", 14, "usage\"", 6));
    assert_true(tx__sse_skippable(p, "data:\n\n", 7, "usage\"", 6));
    tx__sse_free(p);
}

/* A reset parser reads a new stream as a fresh one: nothing of the cut event, the BOM again, the
 * failed state and the counters cleared; large buffers are given back. */
static void reset_for_reuse(void **state)
{
    (void)state;
    static const char cut[] = "data: a\n\nevent: x\ndata: cut";
    static const char bom[] = "\xEF\xBB\xBF"
                              "data: b\n\n";
    static const char toolong[] = "data: 0123456789012345678901234567890123456789"
                                  "0123456789012345678901234567890123456789\n";
    tx_sse_t *p = tx__sse_new(64);
    rec_t r = {0};
    assert_int_equal(tx__sse_feed(p, cut, sizeof cut - 1, on_ev, &r), TX_EOK);
    assert_true(tx__sse_pending(p));
    tx__sse_reset(p, 1024);
    assert_false(tx__sse_pending(p));
    assert_int_equal(tx__sse_events(p), 0);
    r = (rec_t){0};
    assert_int_equal(tx__sse_feed(p, bom, sizeof bom - 1, on_ev, &r), TX_EOK);
    assert_string_equal(r.log, "0||b;");
    assert_int_equal(tx__sse_feed(p, toolong, sizeof toolong - 1, on_ev, &r), TX_ERANGE);
    tx__sse_reset(p, 0); /* keep nothing: every buffer freed */
    r = (rec_t){0};
    assert_int_equal(tx__sse_feed(p, "data: c\n\n", 9, on_ev, &r), TX_EOK);
    assert_string_equal(r.log, "0||c;");
    tx__sse_reset(NULL, 0);
    tx__sse_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_stream),
        cmocka_unit_test(every_split_same_events),
        cmocka_unit_test(partial_event_is_pending),
        cmocka_unit_test(stop_and_limits),
        cmocka_unit_test(same_as_byte_model),
        cmocka_unit_test(contains_and_skippable),
        cmocka_unit_test(reset_for_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
