/* The job store interface (docs/api.md, docs/jobs.md, docs/classifier.md): items, their attempt
 * history, versioned tasks and the persisted pause, behind one vtable chosen by URL scheme
 * (`sqlite:PATH` now, `postgres://…` later). A handle is blocking and used by one thread. */
#ifndef TX_STORE_STORE_H
#define TX_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tenax/class.h"
#include "tenax/error.h"
#include "tenax/types.h"

/* ---- Items ---------------------------------------------------------------------------- */

typedef enum {
    TX_ITEM_PENDING,
    TX_ITEM_PROCESSING,
    TX_ITEM_SUCCESS,
    TX_ITEM_RETRYING,
    TX_ITEM_FAILED,
    TX_ITEM_SKIPPED,
    TX_ITEM__LAST
} tx_item_status_t;

/* "pending" … "skipped"; "unknown" out of range. Static string. */
const char *tx__item_status_name(tx_item_status_t st);
/* The status named `name`, or -1 (NULL and unknown names included). */
int tx__item_status_from_name(const char *name);

/* One item to import. Borrowed strings. owner NULL = "default", task NULL or "" = "tags",
 * external_id is required (NULL or "" → TX_EINVAL for the whole batch), text NULL counts as
 * empty (→ skipped). */
typedef struct {
    const char *owner;
    const char *external_id;
    const char *task;
    const char *text;
} tx_item_input_t;

/* What an import did. `ids[i]` is our id for input i (malloc'd; tx__import_result_free). */
typedef struct {
    int64_t *ids;
    size_t n;
    size_t inserted; /* new items (skipped ones included) */
    size_t existing; /* already there: left untouched */
    size_t skipped;  /* new items stored as `skipped` (empty or whitespace text) */
} tx_import_result_t;

/* One upstream attempt of an item (docs/api.md history). */
typedef struct {
    int n;
    char *model;
    char *endpoint;
    char *provider; /* the endpoint's provider (NULL: not recorded, e.g. rows of older tenax) */
    int cls;        /* tx_class_t; TX_CLASS_OK for a good answer */
    int http_status;
    int64_t latency_ms;
    tx_ms_t at;
    int refunded; /* 1: handed back (quota/auth pause: the item went back pending with its
                   * attempt count restored), so the next attempt reuses this n; set by the
                   * store when a PENDING finish carries the row, read back from history */
} tx_history_row_t;

/* An item as stored. Every string is malloc'd and owned by the struct (NULL = none); times are
 * Unix ms, 0 = none. Release with tx__item_clear (one) or tx__item_list_free (a list). */
typedef struct {
    int64_t id;
    char *owner;
    char *external_id;
    char *task;
    char *text;
    char *result; /* JSON text of the result, NULL until success */
    tx_item_status_t status;
    int attempts;
    tx_ms_t last_attempt_at;
    tx_ms_t retry_after;
    char *error;
    int error_class;    /* tx_class_t, -1 = none */
    char *model;        /* the model that answered */
    int prompt_version; /* task version the result was made with, 0 = none */
    int task_version;   /* after claim: the task's active version at claim time, 0 = no task */
    int64_t lease;      /* current lease token, 0 = not leased */
    tx_ms_t lease_until;
    tx_ms_t created_at;
    tx_ms_t updated_at;
    tx_history_row_t *history; /* only filled by tx__store_get */
    size_t n_history;
} tx_item_t;

typedef struct {
    tx_item_t *items;
    size_t n;
} tx_item_list_t;

/* Frees what `it` owns and zeroes it; NULL is a no-op. */
void tx__item_clear(tx_item_t *it);
/* Frees every item and the array; zeroes the list; NULL is a no-op. */
void tx__item_list_free(tx_item_list_t *list);
void tx__import_result_free(tx_import_result_t *res);

/* How a leased item ends (tx__store_finish). Borrowed strings. */
typedef struct {
    tx_item_status_t status; /* SUCCESS, RETRYING, FAILED or PENDING (given back on pause) */
    const char *result;      /* SUCCESS: JSON text (required) */
    const char *model;       /* SUCCESS: the model that answered */
    int prompt_version;      /* SUCCESS: task version used */
    tx_ms_t retry_after;     /* RETRYING: when it is due again */
    const char *error;       /* RETRYING/FAILED: last error text */
    int error_class;         /* RETRYING/FAILED: tx_class_t, -1 = none */
    const tx_history_row_t
        *attempt; /* NULL = none; else this history row is appended in the same
                   * write transaction as the finish (as record_attempt would,
                   * lease-guarded): the common path's one commit instead of two */
} tx_item_outcome_t;

/* One begin_attempt of a group (tx__store_begin_attempts). In: id, lease, max_attempts, model
 * (borrowed). Out: what tx__store_begin_attempt would have answered: rc, err, attempt_n. */
typedef struct {
    int64_t id, lease;
    int max_attempts;
    const char *model;
    int attempt_n;
    int rc;
    tx_error_t err;
} tx_store_begin_t;

/* One finish of a group (tx__store_finish_many). In: id, lease, outcome (borrowed). Out: what
 * tx__store_finish would have answered: rc, err. */
typedef struct {
    int64_t id, lease;
    const tx_item_outcome_t *outcome;
    int rc;
    tx_error_t err;
} tx_store_finish_t;

/* docs/api.md. by_status is indexed by tx_item_status_t. */
typedef struct {
    int64_t total;
    int64_t with_result;    /* status success */
    int64_t without_result; /* total - with_result */
    int64_t need_retry;     /* status retrying */
    int64_t by_status[TX_ITEM__LAST];
} tx_store_stats_t;

/* Persisted pause (docs/jobs.md, "Pause and probe"). */
typedef struct {
    int paused;
    char reason[256];
    tx_ms_t since; /* 0 when not paused */
} tx_pause_t;

/* ---- Tasks (docs/api.md) ----------------------------------------------------------------------
 */

/* A new task version. Borrowed strings; system_prompt/user_template/parser required,
 * response_format and model optional (NULL). */
typedef struct {
    const char *system_prompt;
    const char *user_template;
    const char *response_format;
    const char *parser;
    const char *model;
} tx_task_spec_t;

/* A stored task version; strings malloc'd and owned (tx__task_clear). */
typedef struct {
    char *name;
    int version;
    int active; /* 1 when this is the active version */
    char *system_prompt;
    char *user_template;
    char *response_format;
    char *parser;
    char *model;
    tx_ms_t created_at;
} tx_task_t;

void tx__task_clear(tx_task_t *t);
void tx__task_list_free(tx_task_t *tasks, size_t n);

/* ---- The handle and its vtable ---------------------------------------------------------- */

typedef struct tx_store tx_store_t;
typedef int (*tx_store_item_cb)(const tx_item_t *item, void *ud);

/* A backend. Every operation returns a tx_err_t and fills `err` (may be NULL) on failure; on
 * failure nothing was changed (each write is one transaction). Distinct codes callers rely on:
 *   TX_ECONFLICT  the lease is not (or no longer) the caller's: nothing written
 *   TX_ERANGE     begin_attempt: the attempt budget is used up: nothing written
 *   TX_ENOTFOUND  no such item / task / version
 *   TX_EBUSY      the database stayed locked past the busy timeout
 *   TX_ESTORE     anything else the database said (message in err) */
struct tx_store_ops {
    int version;        /* TX_STORE_OPS_VERSION */
    const char *scheme; /* "sqlite:" */
    int (*open)(const char *url, tx_store_t **out, tx_error_t *err);
    void (*close)(tx_store_t *s);
    /* res arrives zeroed with ids allocated for n, every item has an external id (store.c) */
    int (*import)(tx_store_t *s, const tx_item_input_t *items, size_t n, tx_ms_t now,
                  tx_import_result_t *res, tx_error_t *err);
    int (*claim)(tx_store_t *s, const char *worker, size_t limit, tx_ms_t now, tx_ms_t lease_ms,
                 tx_item_list_t *out, tx_error_t *err);
    int (*begin_attempt)(tx_store_t *s, int64_t id, int64_t lease, int max_attempts, tx_ms_t now,
                         const char *model, int *attempt_n, tx_error_t *err);
    int (*record_attempt)(tx_store_t *s, int64_t id, int64_t lease, const tx_history_row_t *a,
                          tx_error_t *err);
    int (*finish)(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o, tx_ms_t now,
                  tx_error_t *err);
    int (*reclaim_expired)(tx_store_t *s, tx_ms_t now, int64_t *count, tx_error_t *err);
    int (*get)(tx_store_t *s, int64_t id, tx_item_t *out, tx_error_t *err);
    int (*list)(tx_store_t *s, const char *owner, int status, size_t limit, int64_t after,
                tx_item_list_t *out, tx_error_t *err);
    int (*stats)(tx_store_t *s, const char *owner, tx_store_stats_t *out, tx_error_t *err);
    int (*retry)(tx_store_t *s, const char *owner, int force, size_t limit, tx_ms_t now,
                 int64_t *selected, tx_error_t *err);
    int (*regenerate)(tx_store_t *s, int64_t id, tx_ms_t now, tx_error_t *err);
    int (*export_items)(tx_store_t *s, const char *owner, int status, tx_store_item_cb cb, void *ud,
                        tx_error_t *err);
    int (*next_due)(tx_store_t *s, tx_ms_t now, tx_ms_t *when, tx_error_t *err);
    int (*pause_get)(tx_store_t *s, tx_pause_t *out, tx_error_t *err);
    int (*pause_set)(tx_store_t *s, int paused, const char *reason, tx_ms_t now, tx_error_t *err);
    int (*task_put_version)(tx_store_t *s, const char *name, const tx_task_spec_t *spec,
                            tx_ms_t now, int *version, tx_error_t *err);
    int (*task_activate)(tx_store_t *s, const char *name, int version, tx_error_t *err);
    int (*task_get)(tx_store_t *s, const char *name, int version, tx_task_t *out, tx_error_t *err);
    int (*task_list)(tx_store_t *s, tx_task_t **out, size_t *n, tx_error_t *err);
    /* Optional (NULL = not offered; see tx__store_ping / tx__store_listen below). */
    int (*ping)(tx_store_t *s, tx_error_t *err);
    int (*listen)(tx_store_t *s, int *fd, tx_error_t *err);
    int (*wait_notify)(tx_store_t *s, int timeout_ms, int *count, tx_error_t *err);
    /* Optional group writes (NULL = a loop of single calls; see tx__store_begin_attempts). Each
     * request arrives checked; the backend fills every request's rc. */
    void (*begin_attempts)(tx_store_t *s, tx_store_begin_t **reqs, size_t n, tx_ms_t now);
    void (*finish_many)(tx_store_t *s, tx_store_finish_t **reqs, size_t n, tx_ms_t now);
};

#define TX_STORE_OPS_VERSION 1

/* Every handle starts with this; backends embed it first. */
struct tx_store {
    const struct tx_store_ops *ops;
};

extern const struct tx_store_ops tx__store_sqlite_ops;
extern const struct tx_store_ops tx__store_postgres_ops;

/* ---- Public API: thin dispatchers over the vtable -------------------------------------- */

/* Opens the store named by `url` ("sqlite:PATH[?busy_timeout_ms=N]"; PATH is created with its
 * schema when missing, the folder must exist; older schemas are migrated). On success *out is a
 * handle the caller closes with tx__store_close. On failure *out is NULL and err says why (unknown
 * scheme → TX_EINVAL). */
int tx__store_open(const char *url, tx_store_t **out, tx_error_t *err);
/* Closes the handle; NULL is a no-op. */
void tx__store_close(tx_store_t *s);

/* Imports n items in one transaction, idempotent on (owner, external_id, task): an item already
 * there is left as is. Empty/whitespace text → `skipped`. `res` is filled (ids owned by res). */
int tx__store_import(tx_store_t *s, const tx_item_input_t *items, size_t n, tx_ms_t now,
                     tx_import_result_t *res, tx_error_t *err);

/* Claims up to `limit` due items (pending; retrying with retry_after ≤ now; processing with
 * lease_until ≤ now), oldest due first, each → processing with a fresh random lease token and
 * lease_until = now + lease_ms (limit capped at 10,000). Does not look at the pause (the caller
 * does: a probe may still claim one item while paused). `out` is filled
 * (possibly empty) and owned by the caller. */
int tx__store_claim(tx_store_t *s, const char *worker, size_t limit, tx_ms_t now, tx_ms_t lease_ms,
                    tx_item_list_t *out, tx_error_t *err);

/* Call BEFORE an upstream request: persists attempts+1, last_attempt_at = now and the model,
 * for the current lease holder only. *attempt_n = the new attempt number. TX_ECONFLICT: lease
 * lost (or expired); TX_ERANGE: attempts already ≥ max_attempts. */
int tx__store_begin_attempt(tx_store_t *s, int64_t id, int64_t lease, int max_attempts, tx_ms_t now,
                            const char *model, int *attempt_n, tx_error_t *err);

/* Appends one history row (lease-guarded: TX_ECONFLICT when the lease is not current). */
int tx__store_record_attempt(tx_store_t *s, int64_t id, int64_t lease, const tx_history_row_t *a,
                             tx_error_t *err);

/* Lease-guarded end of a claim (see tx_item_outcome_t). The lease is released. A stale lease (the
 * item was reclaimed, claimed again or regenerated) → TX_ECONFLICT and nothing changes; a lease
 * past lease_until that nobody took over is still the caller's. PENDING (given back on pause)
 * restores `attempts` to its value at claim time, so the attempt budget is unchanged. */
int tx__store_finish(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                     tx_ms_t now, tx_error_t *err);

/* Group commit: n begin_attempts at `now`, each answered in its own request exactly as
 * tx__store_begin_attempt would answer it (a stale lease or a used-up budget refuses that item
 * only). A backend may write them in one statement and transaction (PostgreSQL); if that fails
 * nothing of it was written and the requests are done one by one (after a lost connection each
 * gets TX_EIO instead). Every attempt is durable when this returns TX_EOK for it. Returns
 * TX_EINVAL (requests untouched) for a NULL handle or array, else TX_EOK: look at each rc. */
int tx__store_begin_attempts(tx_store_t *s, tx_store_begin_t *reqs, size_t n, tx_ms_t now);

/* Group commit of n tx__store_finish calls at `now` (same rules as tx__store_begin_attempts):
 * each lease-guarded on its own, each answered in its own request; a request with a bad
 * outcome gets TX_EINVAL and does not stop the others. At most one request per item. */
int tx__store_finish_many(tx_store_t *s, tx_store_finish_t *reqs, size_t n, tx_ms_t now);

/* Expired `processing` leases → `pending` (attempts unchanged); *count = how many (may be NULL). */
int tx__store_reclaim_expired(tx_store_t *s, tx_ms_t now, int64_t *count, tx_error_t *err);

/* The item with its history (oldest first). *out owned by the caller (tx__item_clear). */
int tx__store_get(tx_store_t *s, int64_t id, tx_item_t *out, tx_error_t *err);

/* A page of an owner's items by id ascending, ids > after (0 = from the start); status -1 = any.
 * limit 0 means 50; capped at 1000. No history. The next cursor is the last item's id. */
int tx__store_list(tx_store_t *s, const char *owner, int status, size_t limit, int64_t after,
                   tx_item_list_t *out, tx_error_t *err);

/* The stats counts (docs/api.md) for one owner (NULL = every owner). */
int tx__store_stats(tx_store_t *s, const char *owner, tx_store_stats_t *out, tx_error_t *err);

/* POST /v1/owners/{owner}/retry (owner NULL = every owner). Without force: up to `limit` (0 → 50)
 * retrying and pending items are made due now. With force: failed ones too, their attempts reset to
 * 0 (history kept). *selected = how many items were selected. */
int tx__store_retry(tx_store_t *s, const char *owner, int force, size_t limit, tx_ms_t now,
                    int64_t *selected, tx_error_t *err);

/* POST /v1/items/{id}/regenerate: the item → pending and due now whatever its status, attempts
 * reset, lease dropped (a holder's later writes are refused), error cleared; result and history
 * kept until a new result. A skipped item (no text) → TX_EINVAL. */
int tx__store_regenerate(tx_store_t *s, int64_t id, tx_ms_t now, tx_error_t *err);

/* Calls cb once per matching item (id ascending, no history; the item is only valid during the
 * call). A non-zero return from cb stops the iteration (the call still returns TX_EOK). */
int tx__store_export(tx_store_t *s, const char *owner, int status, tx_store_item_cb cb, void *ud,
                     tx_error_t *err);

/* *when = the earliest time an item is due (pending → when it became pending, retrying →
 * retry_after, processing → lease_until; may be ≤ now: due at once); TX_ENOTFOUND when nothing
 * can become due without a new write (import, retry, regenerate). */
int tx__store_next_due(tx_store_t *s, tx_ms_t now, tx_ms_t *when, tx_error_t *err);

int tx__store_pause_get(tx_store_t *s, tx_pause_t *out, tx_error_t *err);
/* Sets or clears the pause (reason may be NULL; copied). Persisted. */
int tx__store_pause_set(tx_store_t *s, int paused, const char *reason, tx_ms_t now,
                        tx_error_t *err);

/* Adds version max+1 of task `name` (never edits an old one); the first version of a task
 * becomes active, later ones only with tx__store_task_activate. *version = the new number. */
int tx__store_task_put_version(tx_store_t *s, const char *name, const tx_task_spec_t *spec,
                               tx_ms_t now, int *version, tx_error_t *err);
/* Makes `version` the active one (also for a rollback). TX_ENOTFOUND if it does not exist. */
int tx__store_task_activate(tx_store_t *s, const char *name, int version, tx_error_t *err);
/* Version `version` of the task (0 = the active one). *out owned by the caller. */
int tx__store_task_get(tx_store_t *s, const char *name, int version, tx_task_t *out,
                       tx_error_t *err);
/* Every version of every task (name, version ascending). *out owned (tx__task_list_free). */
int tx__store_task_list(tx_store_t *s, tx_task_t **out, size_t *n, tx_error_t *err);

/* ---- Health and wake-ups (optional ops) ------------------------------------------------- */

/* TX_EOK when the store answers (PostgreSQL: a round trip, reconnecting first if the
 * connection was lost; a backend without the op, SQLite, is always reachable once open).
 * For /readyz and /admin/diag. */
int tx__store_ping(tx_store_t *s, tx_error_t *err);
/* Makes this handle receive wake-ups: another node (or this one) imported, retried,
 * regenerated, gave back or parked an item, or changed the pause. *fd (may be NULL) = a socket
 * that becomes readable when one may have arrived: watch it (uv_poll) and call
 * tx__store_wait_notify(s, 0, …). The fd changes after a reconnect: call listen again after any
 * TX_EIO. Use a handle dedicated to listening when the fd is watched from another thread than
 * the one running queries. TX_EINVAL ("unsupported") when the backend has none (SQLite): poll
 * tx__store_next_due instead. */
int tx__store_listen(tx_store_t *s, int *fd, tx_error_t *err);
/* Waits up to timeout_ms (0 = only look) for wake-ups, consuming them; *count = how many
 * (0 = timed out). Starts listening when not yet. TX_EIO when the connection dropped: wake-ups
 * may have been missed, so look for work anyway; the next call reconnects. TX_EINVAL as above. */
int tx__store_wait_notify(tx_store_t *s, int timeout_ms, int *count, tx_error_t *err);

/* For backends: fills err (when not NULL) with code and a formatted message; returns code. */
int tx__store_fail(tx_error_t *err, tx_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies *src into *dst so that dst->msg stays valid when src goes away (a msg pointing into
 * src->detail is pointed into dst->detail). Either NULL: nothing. */
void tx__store_error_copy(tx_error_t *dst, const tx_error_t *src);

#endif
