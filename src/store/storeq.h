/* The store executor: blocking store calls run on dedicated threads, each with its own store
 * handle, and their completions come back to the libuv loop thread. Nothing on the loop blocks on
 * the database; nothing off the loop touches loop-owned state (docs/architecture.md, "Threads"). */
#ifndef TX_STORE_STOREQ_H
#define TX_STORE_STOREQ_H

#include <uv.h>

#include "store/store.h"

typedef struct tx_storeq tx_storeq_t;

/* Runs on a store thread with that thread's handle. Must not touch loop-owned state. */
typedef void (*tx_storeq_work_fn)(tx_store_t *store, void *arg);
/* Runs on the loop thread after `work` returned. */
typedef void (*tx_storeq_done_fn)(void *arg);

/* Opens `nthreads` (1..16) handles on `url`, each on its own thread, and returns the executor.
 * Fails (no executor, nothing left running) when any handle cannot be opened: `err` says why. */
int tx__storeq_open(uv_loop_t *loop, const char *url, int nthreads, tx_storeq_t **out,
                    tx_error_t *err);

/* Queues `work`, then `done` on the loop (either may be NULL). Loop thread only. Work items run
 * in submission order on each thread; with several threads, in any order between threads.
 * Returns TX_ESTOPPED (and calls neither) once tx__storeq_close was called. */
int tx__storeq_submit(tx_storeq_t *q, tx_storeq_work_fn work, tx_storeq_done_fn done, void *arg);

/* Runs on a store thread with several queued work items at once: args[0..n) in submission
 * order (n >= 1). Must not touch loop-owned state. */
typedef void (*tx_storeq_group_fn)(tx_store_t *store, void **args, size_t n);

#define TX_STOREQ_GROUP_MAX 64

/* Like tx__storeq_submit, for work that can be done together (group commit): the thread that
 * takes this item also takes the items queued right behind it with the same `group` function
 * (at most TX_STOREQ_GROUP_MAX in all) and hands them to one `group` call; each item's `done`
 * still runs on the loop, in order. Submission order is kept (only a contiguous run is taken).
 * Returns TX_ESTOPPED (and calls neither) once tx__storeq_close was called. */
int tx__storeq_submit_group(tx_storeq_t *q, tx_storeq_group_fn group, tx_storeq_done_fn done,
                            void *arg);

/* Finishes every queued work item (their `done` callbacks still run), joins the threads, closes
 * the handles, and calls `closed(ud)` on the loop. NULL does nothing. Loop thread only. */
void tx__storeq_close(tx_storeq_t *q, void (*closed)(void *ud), void *ud);

#endif
