/* Admission (docs/upstream.md), pure logic: at most N upstream requests in flight, gateway and jobs
 * together; gateway waiters go first and their queue is bounded; a slot is granted through the
 * waiter's callback. Clock passed in; one thread (the loop's). */
#ifndef TX_UPSTREAM_ADMISSION_H
#define TX_UPSTREAM_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/error.h"
#include "tenax/types.h"

typedef enum { TX_ADM_GATEWAY, TX_ADM_JOB } tx_adm_kind_t;

typedef enum {
    TX_ADM_GRANTED, /* a slot is yours now; release it when the attempt ends */
    TX_ADM_QUEUED,  /* the waiter's callback will be called with the slot */
    TX_ADM_REFUSED, /* gateway queue full (droppedSinceBoot grew) */
} tx_adm_result_t;

typedef struct tx_adm_waiter tx_adm_waiter_t;

/* Called when a queued waiter gets its slot (the slot is already counted in flight). May call
 * any tx_admission_* function. */
typedef void (*tx_adm_grant_cb)(tx_adm_waiter_t *w, void *ud);

/* Optional (tx__admission_acquire_room): 1 when the waiter's work has somewhere to go now (an
 * endpoint below its adaptive limit serves its model), 0 when it must wait even with a global
 * slot free. Called with the waiter's ud. */
typedef int (*tx_adm_room_cb)(tx_adm_waiter_t *w, void *ud);

/* A waiter lives in caller memory (no allocation per request). Fields are private; it must stay
 * valid while queued. */
struct tx_adm_waiter {
    tx_adm_room_cb room;
    tx_adm_waiter_t *prev, *next;
    tx_adm_grant_cb cb;
    void *ud;
    tx_ms_t since;
    int queued; /* 1 while in a queue */
    tx_adm_kind_t kind;
};

typedef struct {
    unsigned max_inflight;
    size_t max_queue;
    unsigned in_flight;
    size_t queued_gateway, queued_jobs;
    uint64_t dropped;   /* droppedSinceBoot: gateway requests refused on a full queue */
    uint64_t granted;   /* slots granted since boot */
    double avg_wait_ms; /* average wait of all grants since boot (immediate ones count as 0) */
} tx_adm_stats_t;

typedef struct tx_admission tx_admission_t;

/* A limiter: max_inflight >= 1. NULL on bad arguments or out of memory. */
tx_admission_t *tx__admission_new(unsigned max_inflight, size_t max_queue);

/* Frees the limiter; queued waiters are dropped without a callback. NULL: no-op. */
void tx__admission_free(tx_admission_t *a);

/* Asks for a slot. GRANTED: the caller holds a slot now (no callback). QUEUED: `w` is queued and
 * `cb(w, ud)` runs once a slot is free. REFUSED: only for TX_ADM_GATEWAY when max_queue gateway
 * requests already wait (or when N is reached and max_queue is 0); nothing is kept. Job requests
 * are never refused: their queue is unbounded, the scheduler bounds it by what it claims. A
 * gateway request never waits behind a job and is never granted while gateway waiters that have
 * room are ahead of it. */
tx_adm_result_t tx__admission_acquire(tx_admission_t *a, tx_adm_kind_t kind, tx_adm_waiter_t *w,
                                      tx_adm_grant_cb cb, void *ud, tx_ms_t now);

/* The same with a room callback (NULL: always room) kept with the waiter while it waits. */
tx_adm_result_t tx__admission_acquire_room(tx_admission_t *a, tx_adm_kind_t kind,
                                           tx_adm_waiter_t *w, tx_adm_grant_cb cb, void *ud,
                                           tx_adm_room_cb room, tx_ms_t now);

/* For the job scheduler: takes a slot only if one is free and no gateway request waits. 1 when a
 * slot was taken, 0 otherwise (nothing queued). */
int tx__admission_try_acquire(tx_admission_t *a, tx_ms_t now);

/* Removes a queued waiter (deadline passed, client gone). 1 if it was queued, 0 if not (already
 * granted, or never queued). No callback either way. */
int tx__admission_cancel(tx_admission_t *a, tx_adm_waiter_t *w);

/* Gives a slot back and grants it to the next waiter (gateway first) that has room (see
 * tx_adm_room_cb): a waiter without room keeps its place while those behind it may go. */
void tx__admission_release(tx_admission_t *a, tx_ms_t now);

/* Grants free slots to waiters whose room changed (an endpoint's limit was raised). */
void tx__admission_kick(tx_admission_t *a, tx_ms_t now);

/* Changes N and the gateway queue bound at run time. Growing N grants waiters at once; shrinking
 * never cancels work in flight (new grants wait until in flight < N); shrinking the queue keeps
 * those already waiting and refuses newcomers until it is below the bound. TX_EINVAL for N = 0. */
tx_err_t tx__admission_set_limits(tx_admission_t *a, unsigned max_inflight, size_t max_queue,
                                  tx_ms_t now);

/* How long the oldest waiter of `kind` has waited at `now`, in ms (0 when none waits). */
tx_ms_t tx__admission_oldest_wait(const tx_admission_t *a, tx_adm_kind_t kind, tx_ms_t now);

/* Fills `out` (zeros for a NULL limiter; nothing for a NULL out). */
void tx__admission_stats(const tx_admission_t *a, tx_adm_stats_t *out);

#endif
