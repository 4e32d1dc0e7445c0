/* The durable job engine (docs/jobs.md): on the libuv loop thread it claims due items from the
 * store (all store calls through tx_storeq, never blocking the loop), makes their upstream attempts
 * through an attempt port under shared admission, and writes each outcome: success, retrying
 * (parked until retry_after), failed, or back to pending when quota/auth pauses job work. */
#ifndef TX_JOBS_ENGINE_H
#define TX_JOBS_ENGINE_H

#include <stdint.h>
#include <uv.h>

#include "jobs/port.h"
#include "store/store.h"
#include "store/storeq.h"
#include "upstream/admission.h"

/* A wait between two attempts of an item up to this long is waited in-line (a timer, without a
 * slot, the item stays leased); a longer one parks the item (`retrying` with retry_after). */
#define TX_JOBS_INLINE_WAIT_MS 3000
/* Head-room kept on a lease: an in-line retry starts only when now + wait + AI_TIMEOUT_MS +
 * this margin is still before the lease ends; otherwise the item is parked instead. */
#define TX_JOBS_LEASE_MARGIN_MS 2000

typedef struct tx_jobs tx_jobs_t;
struct tx_config;

/* Reported when the engine has nothing in hand and the last claim found nothing due. */
typedef struct {
    int paused;       /* job work is paused (quota/auth); reason in tx__jobs_stats */
    int has_due;      /* 0: nothing can become due without a new write (import/retry/…) */
    tx_ms_t next_due; /* Unix ms of the earliest due item when has_due */
} tx_jobs_idle_t;

/* One attempt of an item ended (for metrics and notifications). */
typedef struct {
    int endpoint; /* index, -1 unknown */
    const char *model;
    tx_class_t cls; /* TX_CLASS_OK for a success (after the parser) */
    int64_t latency_ms;
    int attempt;      /* the item's attempt number */
    tx_ms_t delay_ms; /* wait before its next attempt (in-line or parked), -1: none */
} tx_jobs_attempt_event_t;

typedef struct {
    uv_loop_t *loop;       /* required */
    const char *store_url; /* e.g. "sqlite:tenax.db"; required unless `storeq` is given */
    int store_threads;     /* 0: 2 */
    tx_storeq_t *storeq;   /* an executor to share (e.g. the app's): store_url/threads are then
                              unused and the engine never closes it; NULL: an own one */
    struct tx_config *cfg; /* required; the engine takes its own reference */
    tx_admission_t *adm;   /* shared with the gateway; NULL: an own one of AI_MAX_CONCURRENCY */
    tx_jobs_port_t port;   /* required: how an attempt is made */
    /* Optional: the current config snapshot with a new reference (e.g. tx__app_config_get). The
     * engine checks it before each claim: a new snapshot is used from then on and, when job
     * work is paused, resumes it (docs/jobs.md: a config change resumes). */
    struct tx_config *(*config_get)(void *config_ud);
    void *config_ud;
    const char *worker; /* name for logs; NULL: "tenax" */
    tx_ms_t poll_ms;    /* fallback poll for other writers (and stats refresh); 0: 1000 */
    uint64_t seed;      /* jitter seed; 0: from the clock */
    /* Optional callbacks on the loop thread. on_item: an item left our hands with `st`
     * (success, retrying, failed, pending). on_idle: see tx_jobs_idle_t. */
    void (*on_item)(void *ud, tx_item_status_t st);
    void (*on_idle)(void *ud, const tx_jobs_idle_t *idle);
    void (*on_attempt)(void *ud, const tx_jobs_attempt_event_t *ev);
    void *ud;
} tx_jobs_opts_t;

/* Statistics for diag and the CLI. Counts come from the store (refreshed every poll). */
typedef struct {
    int counts_valid;
    int64_t total;
    int64_t by_status[TX_ITEM__LAST];
    int paused;
    char pause_reason[256];
    unsigned held;          /* items claimed and not yet finished */
    unsigned in_flight;     /* upstream attempts running now */
    uint64_t attempts;      /* attempts made since start */
    uint64_t retries;       /* in-line retries */
    uint64_t fallbacks;     /* attempts that moved to another model */
    uint64_t parked;        /* items parked (retrying) */
    uint64_t budget_parked; /* of those, parked because the provider's retry budget was spent */
    uint64_t succeeded, failed, handed_back, conflicts;
} tx_jobs_stats_t;

/* Opens the store executor, reclaims expired leases, reads the pause and starts working. On
 * success *out is the engine (close it with tx__jobs_close). On failure nothing is left running
 * and `err` says why (a store that cannot be opened included). Loop thread. */
int tx__jobs_open(const tx_jobs_opts_t *o, tx_jobs_t **out, tx_error_t *err);

/* Something may be due now (import, retry, regenerate): claim at once. NULL: no-op. */
void tx__jobs_kick(tx_jobs_t *e);

/* Clears the pause (persisted) and works again (POST /admin/resume, a config change). */
void tx__jobs_resume(tx_jobs_t *e);

/* Fills `out` (zeros for NULL e). */
void tx__jobs_stats(const tx_jobs_t *e, tx_jobs_stats_t *out);

/* Stops claiming; attempts in flight are cancelled and their items made due again (attempts
 * kept); waits for the store, then frees everything and calls closed(ud) on the loop. NULL:
 * no-op. */
void tx__jobs_close(tx_jobs_t *e, void (*closed)(void *ud), void *ud);

/* The lifecycle of docs/jobs.md as a table: 1 when `from` → `to` is a legal item transition. */
int tx__jobs_transition_ok(tx_item_status_t from, tx_item_status_t to);

#endif
