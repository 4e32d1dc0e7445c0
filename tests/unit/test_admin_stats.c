/* The dashboard's summary (obs/window.c, ops/stats.c): per-second slots that age out of the
 * window, requests per second, client success against first-attempt success and rescues, job
 * attempts kept out of the gateway's numbers, nearest-rank p50/p95 of the total and of what
 * tenax added, failures by endpoint and class, the oldest queued wait, and the JSON document. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ops/stats.h"
#include "upstream/admission.h"

#define T0 1000000 /* a monotonic "now" far from 0, on a second boundary */
#define near(a, b) (fabs((a) - (b)) < 1e-9)

static tx_window_t *fresh(void)
{
    tx_window_t *w = malloc(sizeof *w);
    assert_non_null(w);
    tx__window_init(w);
    return w;
}

static void empty_window(void **state)
{
    (void)state;
    tx_window_t *w = fresh();
    tx_win_summary_t s;
    tx__window_summary(w, T0, 10, &s);
    assert_int_equal(s.c.requests, 0);
    assert_true(s.rps == 0.0);
    assert_true(s.client_success < 0 && s.first_success < 0); /* nothing to measure, not 0% */
    assert_true(s.p50_ms < 0 && s.p95_ms < 0 && s.added_p50_ms < 0);
    assert_int_equal(s.samples, 0);
    free(w);
}

static void rates_and_rescues(void **state)
{
    (void)state;
    tx_window_t *w = fresh();
    /* 4 gateway calls: 2 ok at once, 1 ok on its 3rd attempt (2 retries), 1 failed twice. */
    tx__window_attempt(w, T0, 0, TX_CLASS_OK, 1, 1);
    tx__window_request(w, T0, 200, 100, 90);
    tx__window_attempt(w, T0, 0, TX_CLASS_OK, 1, 1);
    tx__window_request(w, T0, 200, 100, 90);
    tx__window_attempt(w, T0 + 100, 0, TX_CLASS_SERVER, 1, 1);
    tx__window_retry(w, T0 + 100);
    tx__window_attempt(w, T0 + 200, 1, TX_CLASS_RATE_LIMIT, 2, 1);
    tx__window_retry(w, T0 + 200);
    tx__window_attempt(w, T0 + 300, 1, TX_CLASS_OK, 3, 1);
    tx__window_request(w, T0 + 300, 200, 400, 380);
    tx__window_attempt(w, T0 + 400, 0, TX_CLASS_SERVER, 1, 1);
    tx__window_attempt(w, T0 + 500, 0, TX_CLASS_SERVER, 2, 1);
    tx__window_request(w, T0 + 500, 502, 600, 590);
    tx__window_failover(w, T0 + 500);
    /* job attempts: counted by endpoint, never as gateway calls */
    tx__window_attempt(w, T0 + 600, 0, TX_CLASS_OK, 1, 0);
    tx__window_attempt(w, T0 + 600, 0, TX_CLASS_OK, 2, 0);

    tx_win_summary_t s;
    tx__window_summary(w, T0 + 900, 10, &s);
    assert_int_equal(s.c.requests, 4);
    assert_int_equal(s.c.ok, 3);
    assert_int_equal(s.c.first, 3 + 0 + 1); /* the rescued call's first attempt counts too */
    assert_int_equal(s.c.first_ok, 2);
    assert_int_equal(s.c.rescued, 1);
    assert_int_equal(s.c.retries, 2);
    assert_int_equal(s.c.failovers, 1);
    assert_true(s.client_success == 0.75);
    assert_true(s.first_success == 0.5);
    assert_true(near(s.rps, 4 / 9.901)); /* 9 whole seconds and 901 ms of the current one */
    assert_int_equal(w->ep_class[0][TX_CLASS_OK], 4);
    assert_int_equal(w->ep_class[0][TX_CLASS_SERVER], 3);
    assert_int_equal(w->ep_class[1][TX_CLASS_RATE_LIMIT], 1);
    assert_int_equal(w->ep_max, 1);
    free(w);
}

static void seconds_age_out(void **state)
{
    (void)state;
    tx_window_t *w = fresh();
    for (int i = 0; i < 5; i++)
        tx__window_request(w, T0 + i * 1000, 200, 10, 10);
    tx_win_summary_t s;
    tx__window_summary(w, T0 + 4500, 10, &s);
    assert_int_equal(s.c.requests, 5);
    tx__window_summary(w, T0 + 4500, 2, &s); /* seconds T0+3 and T0+4 */
    assert_int_equal(s.c.requests, 2);
    assert_true(near(s.rps, 2 / 1.501));
    assert_int_equal(s.samples, 2);
    /* 61 s later the ring slot of T0 is reused: old counts are gone, totals are kept */
    tx__window_request(w, T0 + 60000, 500, 10, 10);
    tx__window_summary(w, T0 + 60000, 60, &s);
    assert_int_equal(s.c.requests, 5); /* T0+1..T0+4 and the new one; T0 aged out */
    assert_int_equal(s.c.ok, 4);
    tx__window_summary(w, T0 + 200000, 60, &s);
    assert_int_equal(s.c.requests, 0);
    assert_int_equal(s.samples, 0);
    assert_int_equal(w->total.requests, 6);
    assert_int_equal(w->total.ok, 5);
    free(w);
}

static void percentiles(void **state)
{
    (void)state;
    tx_window_t *w = fresh();
    /* totals 1..100 ms in shuffled order; tenax added total/10 */
    for (int i = 0; i < 100; i++) {
        int v = (i * 37) % 100 + 1;
        tx__window_request(w, T0, 200, v, v - v / 10.0);
    }
    tx_win_summary_t s;
    tx__window_summary(w, T0, 60, &s);
    assert_int_equal(s.samples, 100);
    assert_true(s.p50_ms == 50.0);
    assert_true(s.p95_ms == 95.0);
    assert_true(s.added_p50_ms > 4.99 && s.added_p50_ms < 5.01);
    assert_true(s.added_p95_ms > 9.49 && s.added_p95_ms < 9.51);
    /* one sample: both percentiles are it; upstream longer than total adds nothing */
    tx_window_t *one = fresh();
    tx__window_request(one, T0, 200, 7, 9);
    tx__window_summary(one, T0, 60, &s);
    assert_true(s.p50_ms == 7.0 && s.p95_ms == 7.0 && s.added_p95_ms == 0.0);
    free(one);
    /* the sample ring keeps the last TX_WIN_SAMPLES */
    for (int i = 0; i < TX_WIN_SAMPLES + 10; i++)
        tx__window_request(w, T0 + 1000, 200, 1000, 0);
    tx__window_summary(w, T0 + 1000, 60, &s);
    assert_int_equal(s.samples, TX_WIN_SAMPLES);
    assert_true(s.p50_ms == 1000.0);
    free(w);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The selection against a full sort, on random sizes and values with many repeats. */
static void percentiles_match_a_sort(void **state)
{
    (void)state;
    uint64_t seed = 88172645463325252ull;
    static double ref[TX_WIN_SAMPLES];
    for (int round = 0; round < 300; round++) {
        tx_window_t *w = fresh();
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t n = 1 + (size_t)(seed % TX_WIN_SAMPLES);
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            double v = (double)(seed % (round % 2 ? 7 : 100000)); /* odd rounds: repeats */
            ref[i] = v;
            tx__window_request(w, T0, 200, v, 0);
        }
        qsort(ref, n, sizeof ref[0], cmp_double);
        tx_win_summary_t s;
        tx__window_summary(w, T0, 60, &s);
        size_t k50 = (50 * n + 99) / 100, k95 = (95 * n + 99) / 100;
        assert_int_equal(s.samples, n);
        assert_true(s.p50_ms == ref[k50 - 1]);
        assert_true(s.p95_ms == ref[k95 - 1]);
        assert_true(s.added_p95_ms == ref[k95 - 1]);
        free(w);
    }
}

static void stats_document(void **state)
{
    (void)state;
    tx_window_t *w = fresh();
    tx__window_attempt(w, T0, 0, TX_CLASS_SERVER, 1, 1);
    tx__window_attempt(w, T0, 2, TX_CLASS_OK, 2, 1);
    tx__window_request(w, T0, 200, 50, 40);
    tx__window_retry_after(w, T0 - 3000, 2, 1500);
    tx__window_retry_after(w, T0 - 2000, 40, 9); /* beyond the endpoints kept: ignored */
    json_t *items = json_pack("{s:i,s:i}", "pending", 3, "failed", 1);
    tx_stats_live_t live = {.in_flight = 2,
                            .limit = 8,
                            .queued = 1,
                            .max_queue = 64,
                            .oldest_wait_ms = 250,
                            .dropped = 4,
                            .items = items};
    json_t *d = tx__admin_stats_json(w, T0 + 10, &live);
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d, "inFlight")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "limit")), 8);
    assert_int_equal(json_integer_value(json_object_get(d, "oldestWaitMs")), 250);
    assert_int_equal(json_integer_value(json_object_get(d, "dropped")), 4);
    assert_true(json_equal(json_object_get(d, "items"), items));
    json_t *win = json_object_get(d, "window");
    assert_int_equal(json_integer_value(json_object_get(win, "rescued")), 1);
    assert_int_equal(json_integer_value(json_object_get(win, "firstAttemptOk")), 0);
    assert_true(json_real_value(json_object_get(d, "clientSuccessRate")) == 1.0);
    assert_true(json_real_value(json_object_get(d, "firstAttemptSuccessRate")) == 0.0);
    assert_true(near(json_real_value(json_object_get(d, "requestsPerSecond")), 1 / 9.011));
    json_t *lat = json_object_get(d, "latencyMs");
    assert_true(json_real_value(json_object_get(lat, "p50")) == 50.0);
    assert_true(json_real_value(json_object_get(lat, "addedP95")) == 10.0);
    json_t *eps = json_object_get(d, "endpoints");
    assert_int_equal(json_array_size(eps), 3); /* 0..2, index 1 with no attempt */
    json_t *e0 = json_array_get(eps, 0);
    assert_int_equal(json_integer_value(json_object_get(e0, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(e0, "failures"), "server")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(eps, 1), "attempts")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(eps, 2), "ok")), 1);
    json_t *e2 = json_array_get(eps, 2);
    assert_true(json_real_value(json_object_get(e2, "lastRetryAfterMs")) == 1500.0);
    assert_int_equal(json_integer_value(json_object_get(e2, "lastRetryAfterAgoMs")), 3010);
    assert_true(json_is_null(json_object_get(e0, "lastRetryAfterMs")));
    json_decref(d);
    /* no window, no store: zeros and nulls, not a crash */
    d = tx__admin_stats_json(NULL, T0, NULL);
    assert_non_null(d);
    assert_true(json_is_null(json_object_get(d, "clientSuccessRate")));
    assert_true(json_is_null(json_object_get(json_object_get(d, "latencyMs"), "p95")));
    assert_true(json_is_null(json_object_get(d, "items")));
    assert_int_equal(json_array_size(json_object_get(d, "endpoints")), 0);
    json_decref(d);
    json_decref(items);
    free(w);
}

typedef struct {
    tx_adm_waiter_t w;
} waiter_t;

static void on_grant(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    (void)ud;
}

static void oldest_wait(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(1, 4);
    waiter_t x, y, z;
    assert_int_equal(tx__admission_oldest_wait(a, TX_ADM_GATEWAY, 100), 0);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &x.w, on_grant, NULL, 100),
                     TX_ADM_GRANTED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &y.w, on_grant, NULL, 200),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &z.w, on_grant, NULL, 300),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_oldest_wait(a, TX_ADM_GATEWAY, 1000), 800);
    assert_int_equal(tx__admission_oldest_wait(a, TX_ADM_JOB, 1000), 0);
    tx__admission_release(a, 1000); /* y is granted: z is now the oldest */
    assert_int_equal(tx__admission_oldest_wait(a, TX_ADM_GATEWAY, 1000), 700);
    tx__admission_cancel(a, &z.w);
    assert_int_equal(tx__admission_oldest_wait(a, TX_ADM_GATEWAY, 1000), 0);
    tx__admission_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_window),
        cmocka_unit_test(rates_and_rescues),
        cmocka_unit_test(seconds_age_out),
        cmocka_unit_test(percentiles),
        cmocka_unit_test(percentiles_match_a_sort),
        cmocka_unit_test(stats_document),
        cmocka_unit_test(oldest_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
