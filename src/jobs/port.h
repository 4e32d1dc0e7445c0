/* The job engine's "attempt port": how the scheduler makes one upstream attempt without knowing
 * who makes it (the gateway's attempt primitive through jobs/app_jobs.h for serve, run and demo,
 * or a fake in tests). Loop thread only. */
#ifndef TX_JOBS_PORT_H
#define TX_JOBS_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/classify.h"

/* What one attempt came to. Everything borrowed, valid only during the done callback. */
typedef struct {
    tx_classification_t c; /* c.cls == TX_CLASS_OK for a usable 2xx answer */
    int status;            /* HTTP status, 0 for a transport failure */
    const char *body;      /* response body (may be NULL) */
    size_t len;
    int64_t latency_ms;
    const char *endpoint; /* index of the endpoint used ("0" …), never NULL */
    const char *provider; /* the endpoint's provider ("openai" …; NULL or "": none) */
} tx_jobs_attempt_t;

typedef void (*tx_jobs_attempt_cb)(void *ud, const tx_jobs_attempt_t *r);

/* A port. `start` sends one chat-completions request for `model` (`body` is a JSON text naming
 * it, that must stay valid until done or cancel), off endpoint `avoid` when another one serving
 * the model is healthy (-1: none), and returns a handle; `done(ud, r)` runs
 * exactly once later (never from inside start) unless cancelled. NULL from start means it
 * could not start (no callback): `why` (never NULL) says why. `cancel` drops a started attempt
 * without a callback. `model_available` (optional, NULL: always) says whether a model has an
 * endpoint that is healthy for it, so a model down everywhere is skipped without an attempt.
 * The rest are optional too (NULL: always yes / nothing): `retry_ok` asks the retry budget of
 * the provider of `endpoint` (the one the last attempt failed on; -1: unknown, then the
 * provider first serving `model`) for one retry (1: counted, go; 0: spent, park the item);
 * `first_attempt` counts an item's first attempt, made on `endpoint`, in its provider's
 * budget; `room` says whether an endpoint serving `model` is below its adaptive concurrency
 * limit (0: wait for a slot until one is). */
typedef struct {
    void *(*start)(void *self, const char *model, const char *body, size_t len, long timeout_ms,
                   int avoid, tx_jobs_attempt_cb done, void *ud, tx_classification_t *why);
    void (*cancel)(void *self, void *handle);
    int (*model_available)(void *self, const char *model);
    void *self;
    int (*retry_ok)(void *self, const char *model, int endpoint);
    void (*first_attempt)(void *self, int endpoint);
    int (*room)(void *self, const char *model);
} tx_jobs_port_t;

#endif
