/* Store wake-ups for an idle scheduler (PostgreSQL LISTEN/NOTIFY): a listener thread with a
 * store handle of its own waits for notifications (another node imported, retried, regenerated,
 * parked or gave back an item, or changed the pause) and reports each wake-up on the loop, so
 * the scheduler claims at once instead of at its next poll. The poll stays the fallback. */
#ifndef TX_JOBS_PGWAKE_H
#define TX_JOBS_PGWAKE_H

#include <stdint.h>
#include <uv.h>

#include "tenax/error.h"

typedef struct tx_pgwake tx_pgwake_t;

/* Called on the loop thread after wake-ups (several are folded into one call). `resumed` is 1
 * when the listener saw the shared pause go from paused to not paused since the last call
 * (another node resumed job work), else 0. Also called once after the listener lost its
 * connection (wake-ups may have been missed) and once after it is back. */
typedef void (*tx_pgwake_fn)(void *ud, int resumed);

typedef struct {
    uint64_t wakeups;  /* calls of the callback so far */
    uint64_t notifies; /* notifications consumed */
    int listening;     /* 1 while the listener's connection is up */
    int unsupported;   /* 1 when the backend has no wake-ups (SQLite): callers poll */
} tx_pgwake_stats_t;

/* Starts the listener for `store_url` (copied). The thread opens its own handle (so nothing on
 * the loop waits for the database), retries with backoff while the store is unreachable, and
 * ends quietly when the backend has no wake-ups (SQLite). On success *out is the listener
 * (close it with tx__pgwake_close); on failure (bad arguments, out of memory, no thread) *out is
 * NULL, `err` says why and `fn` is never called. Loop thread. */
int tx__pgwake_open(uv_loop_t *loop, const char *store_url, tx_pgwake_fn fn, void *ud,
                    tx_pgwake_t **out, tx_error_t *err);

/* Fills `out` (zeros for NULL w). Loop thread. */
void tx__pgwake_stats(const tx_pgwake_t *w, tx_pgwake_stats_t *out);

/* Stops the thread (at once: it is woken through a pipe), closes its handle and calls
 * closed(ud) on the loop when everything is released; `fn` is not called after this returns.
 * NULL: no-op (closed is not called). Loop thread. */
void tx__pgwake_close(tx_pgwake_t *w, void (*closed)(void *ud), void *ud);

/* `tenax serve` wiring (one line in cmd_serve, after the scheduler plugged in): a listener on
 * `store_url` whose wake-ups kick the scheduler in app->jobs (and resume it when another node
 * resumed the shared pause); closed by a stop hook. TX_EOK (also for SQLite: the thread ends at
 * once), TX_EINVAL for NULL arguments, or an error when the listener cannot start. */
struct tx_app;
int tx__pgwake_start(struct tx_app *app, const char *store_url);

#endif
