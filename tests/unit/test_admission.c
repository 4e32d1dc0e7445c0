/* Admission (docs/upstream.md): the in-flight bound, gateway before jobs, the bounded gateway queue
 * and drops, removal of waiters, run-time limit changes, re-entrant grants and the counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/admission.h"

typedef struct {
    int order[16];
    int n;
} grants_t;

typedef struct {
    tx_adm_waiter_t w;
    int id;
    grants_t *g;
    tx_admission_t *a;
    int release_at_once; /* the attempt ends inside the grant callback */
} req_t;

static void on_grant(tx_adm_waiter_t *w, void *ud)
{
    req_t *r = ud;
    assert_ptr_equal(&r->w, w);
    r->g->order[r->g->n++] = r->id;
    if (r->release_at_once) tx__admission_release(r->a, 0);
}

static void bound_and_priority(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(2, 2);
    grants_t g = {0};
    req_t r[6];
    for (int i = 0; i < 6; i++)
        r[i] = (req_t){.id = i, .g = &g, .a = a};
    assert_int_equal(tx__admission_acquire(a, TX_ADM_JOB, &r[0].w, on_grant, &r[0], 0),
                     TX_ADM_GRANTED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[1].w, on_grant, &r[1], 0),
                     TX_ADM_GRANTED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_JOB, &r[2].w, on_grant, &r[2], 0),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[3].w, on_grant, &r[3], 10),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[4].w, on_grant, &r[4], 20),
                     TX_ADM_QUEUED);
    /* gateway queue full: refused at once and counted */
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[5].w, on_grant, &r[5], 20),
                     TX_ADM_REFUSED);
    assert_int_equal(tx__admission_try_acquire(a, 20), 0);
    tx_adm_stats_t s;
    tx__admission_stats(a, &s);
    assert_int_equal(s.in_flight, 2);
    assert_int_equal(s.queued_gateway, 2);
    assert_int_equal(s.queued_jobs, 1);
    assert_int_equal(s.dropped, 1);
    /* releases go to the gateway waiters first, then the job */
    tx__admission_release(a, 110);
    tx__admission_release(a, 120);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.order[0], 3);
    assert_int_equal(g.order[1], 4);
    tx__admission_release(a, 130);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.order[2], 2);
    tx__admission_stats(a, &s);
    assert_int_equal(s.in_flight, 2);
    assert_int_equal(s.granted, 5);
    /* waits: 0, 0, 100, 100, 130 → 66 ms on average */
    assert_true(s.avg_wait_ms > 65.9 && s.avg_wait_ms < 66.1);
    tx__admission_free(a);
}

static void cancel_and_reentrant_release(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(1, 8);
    grants_t g = {0};
    req_t r[4];
    for (int i = 0; i < 4; i++)
        r[i] = (req_t){.id = i, .g = &g, .a = a};
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[0].w, on_grant, &r[0], 0),
                     TX_ADM_GRANTED);
    r[1].release_at_once = 1;
    r[2].release_at_once = 1;
    for (int i = 1; i < 4; i++)
        assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[i].w, on_grant, &r[i], 0),
                         TX_ADM_QUEUED);
    assert_int_equal(tx__admission_cancel(a, &r[2].w), 1); /* client gone */
    assert_int_equal(tx__admission_cancel(a, &r[2].w), 0);
    tx__admission_release(a, 5);
    /* 1 is granted and releases at once, so 3 is granted in the same pass; 2 never */
    assert_int_equal(g.n, 2);
    assert_int_equal(g.order[0], 1);
    assert_int_equal(g.order[1], 3);
    tx_adm_stats_t s;
    tx__admission_stats(a, &s);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.queued_gateway, 0);
    assert_int_equal(tx__admission_cancel(a, &r[3].w), 0); /* already granted */
    tx__admission_free(a);
}

static void runtime_limits(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(3, 1);
    grants_t g = {0};
    req_t r[6];
    for (int i = 0; i < 6; i++)
        r[i] = (req_t){.id = i, .g = &g, .a = a};
    for (int i = 0; i < 3; i++)
        assert_true(tx__admission_try_acquire(a, 0));
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[0].w, on_grant, &r[0], 0),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_JOB, &r[1].w, on_grant, &r[1], 0),
                     TX_ADM_QUEUED);
    /* shrinking never cancels in-flight work */
    assert_int_equal(tx__admission_set_limits(a, 1, 1, 0), TX_EOK);
    tx_adm_stats_t s;
    tx__admission_stats(a, &s);
    assert_int_equal(s.in_flight, 3);
    tx__admission_release(a, 1);
    tx__admission_release(a, 1);
    assert_int_equal(g.n, 0); /* still 1 in flight = N */
    tx__admission_release(a, 1);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.order[0], 0);
    /* growing grants the waiting job at once */
    assert_int_equal(tx__admission_set_limits(a, 4, 0, 2), TX_EOK);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.order[1], 1);
    /* queue bound 0: a gateway request is refused only when no slot is free */
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[2].w, on_grant, &r[2], 0),
                     TX_ADM_GRANTED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[3].w, on_grant, &r[3], 0),
                     TX_ADM_GRANTED);
    assert_int_equal(tx__admission_acquire(a, TX_ADM_GATEWAY, &r[4].w, on_grant, &r[4], 0),
                     TX_ADM_REFUSED);
    /* jobs are never refused */
    assert_int_equal(tx__admission_acquire(a, TX_ADM_JOB, &r[5].w, on_grant, &r[5], 0),
                     TX_ADM_QUEUED);
    assert_int_equal(tx__admission_set_limits(a, 0, 1, 0), TX_EINVAL);
    assert_null(tx__admission_new(0, 1));
    tx__admission_free(a); /* with a waiter still queued */
    tx__admission_free(NULL);
}

static int room_flag[8];

static int room_of(tx_adm_waiter_t *w, void *ud)
{
    (void)w;
    return room_flag[((req_t *)ud)->id];
}

/* A waiter whose endpoints are all at their adaptive limit waits even with a slot free, keeps
 * its place, and lets those behind it with room go; a kick grants it once it has room. */
static void room_gates_grants(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(4, 8);
    grants_t g = {0};
    req_t r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (req_t){.id = i, .g = &g, .a = a};
        room_flag[i] = 1;
    }
    room_flag[0] = 0;
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_GATEWAY, &r[0].w, on_grant, &r[0], room_of, 0),
        TX_ADM_QUEUED);
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_GATEWAY, &r[1].w, on_grant, &r[1], room_of, 0),
        TX_ADM_GRANTED);
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_JOB, &r[2].w, on_grant, &r[2], room_of, 0),
        TX_ADM_GRANTED);
    tx_adm_stats_t st;
    tx__admission_stats(a, &st);
    assert_int_equal(st.in_flight, 2);
    assert_int_equal(st.queued_gateway, 1);
    tx__admission_kick(a, 1);
    assert_int_equal(g.n, 0); /* still no room */
    room_flag[0] = 1;
    tx__admission_kick(a, 2);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.order[0], 0);
    /* a release grants only waiters with room */
    room_flag[3] = 0;
    tx__admission_release(a, 3);
    tx__admission_release(a, 3);
    tx__admission_release(a, 3);
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_GATEWAY, &r[3].w, on_grant, &r[3], room_of, 3),
        TX_ADM_QUEUED);
    tx__admission_release(a, 4);
    assert_int_equal(g.n, 1);
    room_flag[3] = 1;
    tx__admission_release(a, 5);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.order[1], 3);
    tx__admission_free(a);
}

/* A waiter whose endpoint got room without a release (a cooldown ended, a limit rose) is granted
 * when the next caller arrives, ahead of it, instead of both waiting for a release that may
 * never come. */
static void newcomer_grants_a_waiter_with_room(void **state)
{
    (void)state;
    tx_admission_t *a = tx__admission_new(4, 8);
    grants_t g = {0};
    req_t r[2];
    for (int i = 0; i < 2; i++)
        r[i] = (req_t){.id = i, .g = &g, .a = a};
    room_flag[0] = 0;
    room_flag[1] = 1;
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_GATEWAY, &r[0].w, on_grant, &r[0], room_of, 0),
        TX_ADM_QUEUED);
    room_flag[0] = 1; /* nothing was released: only time passed */
    assert_int_equal(
        tx__admission_acquire_room(a, TX_ADM_GATEWAY, &r[1].w, on_grant, &r[1], room_of, 1),
        TX_ADM_GRANTED);
    assert_int_equal(g.n, 1); /* the waiter went first, by its grant callback */
    assert_int_equal(g.order[0], 0);
    tx_adm_stats_t st;
    tx__admission_stats(a, &st);
    assert_int_equal(st.in_flight, 2);
    assert_int_equal(st.queued_gateway, 0);
    tx__admission_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bound_and_priority),
        cmocka_unit_test(cancel_and_reentrant_release),
        cmocka_unit_test(runtime_limits),
        cmocka_unit_test(room_gates_grants),
        cmocka_unit_test(newcomer_grants_a_waiter_with_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
