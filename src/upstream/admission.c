/* The limiter of docs/upstream.md: a counter of slots and two intrusive FIFO queues of caller-owned
 * waiters, gateway before jobs. */
#include "upstream/admission.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    tx_adm_waiter_t *head, *tail;
    size_t len;
} queue_t;

struct tx_admission {
    unsigned max;
    size_t max_queue;
    unsigned in_flight;
    queue_t q[2]; /* indexed by tx_adm_kind_t */
    uint64_t dropped, granted;
    double wait_sum;
    int granting; /* re-entrancy guard for grant_waiters */
};

tx_admission_t *tx__admission_new(unsigned max_inflight, size_t max_queue)
{
    if (max_inflight == 0) return NULL;
    tx_admission_t *a = calloc(1, sizeof *a);
    if (a == NULL) return NULL;
    a->max = max_inflight;
    a->max_queue = max_queue;
    return a;
}

void tx__admission_free(tx_admission_t *a)
{
    if (a == NULL) return;
    for (int k = 0; k < 2; k++)
        for (tx_adm_waiter_t *w = a->q[k].head; w != NULL; w = w->next)
            w->queued = 0;
    free(a);
}

static void push(queue_t *q, tx_adm_waiter_t *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->len++;
    w->queued = 1;
}

static void unlink_w(queue_t *q, tx_adm_waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = 0;
    q->len--;
}

static void count_grant(tx_admission_t *a, tx_ms_t waited)
{
    a->in_flight++;
    a->granted++;
    a->wait_sum += waited > 0 ? (double)waited : 0.0;
}

static int has_room(tx_adm_waiter_t *w, void *ud)
{
    return w->room == NULL || w->room(w, ud);
}

/* The first waiter of q that has room (NULL: none). */
static tx_adm_waiter_t *first_with_room(const queue_t *q)
{
    for (tx_adm_waiter_t *w = q->head; w != NULL; w = w->next)
        if (has_room(w, w->ud)) return w;
    return NULL;
}

/* Hands free slots to waiters with room, gateway first. Callbacks may re-enter; the guard makes
 * the outer loop do the work. */
static void grant_waiters(tx_admission_t *a, tx_ms_t now)
{
    if (a->granting) return;
    a->granting = 1;
    while (a->in_flight < a->max) {
        queue_t *q = &a->q[TX_ADM_GATEWAY];
        tx_adm_waiter_t *w = first_with_room(q);
        if (w == NULL) w = first_with_room(q = &a->q[TX_ADM_JOB]);
        if (w == NULL) break;
        unlink_w(q, w);
        count_grant(a, now - w->since);
        w->cb(w, w->ud);
    }
    a->granting = 0;
}

tx_adm_result_t tx__admission_acquire(tx_admission_t *a, tx_adm_kind_t kind, tx_adm_waiter_t *w,
                                      tx_adm_grant_cb cb, void *ud, tx_ms_t now)
{
    return tx__admission_acquire_room(a, kind, w, cb, ud, NULL, now);
}

tx_adm_result_t tx__admission_acquire_room(tx_admission_t *a, tx_adm_kind_t kind,
                                           tx_adm_waiter_t *w, tx_adm_grant_cb cb, void *ud,
                                           tx_adm_room_cb room, tx_ms_t now)
{
    if (a == NULL || w == NULL || cb == NULL || (kind != TX_ADM_GATEWAY && kind != TX_ADM_JOB))
        return TX_ADM_REFUSED;
    w->room = room;
    /* waiters whose endpoints got room without a release (a cooldown ended, a limit rose) go
     * first: otherwise a newcomer would queue behind a waiter nobody grants */
    if (a->in_flight < a->max && (a->q[TX_ADM_GATEWAY].len > 0 || a->q[TX_ADM_JOB].len > 0))
        grant_waiters(a, now);
    /* a free slot, and no one ahead who could take it (checked only then: the walk calls the
     * room callbacks) */
    if (a->in_flight < a->max && first_with_room(&a->q[TX_ADM_GATEWAY]) == NULL &&
        (kind == TX_ADM_GATEWAY || first_with_room(&a->q[TX_ADM_JOB]) == NULL) && has_room(w, ud)) {
        w->queued = 0;
        count_grant(a, 0);
        return TX_ADM_GRANTED;
    }
    if (kind == TX_ADM_GATEWAY && a->q[TX_ADM_GATEWAY].len >= a->max_queue) {
        a->dropped++;
        w->queued = 0;
        return TX_ADM_REFUSED;
    }
    w->cb = cb;
    w->ud = ud;
    w->since = now;
    w->kind = kind;
    push(&a->q[kind], w);
    return TX_ADM_QUEUED;
}

int tx__admission_try_acquire(tx_admission_t *a, tx_ms_t now)
{
    (void)now;
    if (a == NULL || a->in_flight >= a->max || a->q[TX_ADM_GATEWAY].len > 0) return 0;
    count_grant(a, 0);
    return 1;
}

void tx__admission_kick(tx_admission_t *a, tx_ms_t now)
{
    if (a != NULL) grant_waiters(a, now);
}

int tx__admission_cancel(tx_admission_t *a, tx_adm_waiter_t *w)
{
    if (a == NULL || w == NULL || !w->queued) return 0;
    unlink_w(&a->q[w->kind], w);
    return 1;
}

void tx__admission_release(tx_admission_t *a, tx_ms_t now)
{
    if (a == NULL) return;
    if (a->in_flight > 0) a->in_flight--;
    grant_waiters(a, now);
}

tx_err_t tx__admission_set_limits(tx_admission_t *a, unsigned max_inflight, size_t max_queue,
                                  tx_ms_t now)
{
    if (a == NULL || max_inflight == 0) return TX_EINVAL;
    a->max = max_inflight;
    a->max_queue = max_queue;
    grant_waiters(a, now);
    return TX_EOK;
}

void tx__admission_stats(const tx_admission_t *a, tx_adm_stats_t *out)
{
    if (out == NULL) return;
    memset(out, 0, sizeof *out);
    if (a == NULL) return;
    out->max_inflight = a->max;
    out->max_queue = a->max_queue;
    out->in_flight = a->in_flight;
    out->queued_gateway = a->q[TX_ADM_GATEWAY].len;
    out->queued_jobs = a->q[TX_ADM_JOB].len;
    out->dropped = a->dropped;
    out->granted = a->granted;
    out->avg_wait_ms = a->granted ? a->wait_sum / (double)a->granted : 0.0;
}

tx_ms_t tx__admission_oldest_wait(const tx_admission_t *a, tx_adm_kind_t kind, tx_ms_t now)
{
    if (a == NULL || (kind != TX_ADM_GATEWAY && kind != TX_ADM_JOB)) return 0;
    const tx_adm_waiter_t *w = a->q[kind].head; /* queues are FIFO: the head waited longest */
    return w != NULL && now > w->since ? now - w->since : 0;
}
