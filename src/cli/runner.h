/* What `tenax run` and `tenax demo` share: import a JSONL file into a store (idempotent,
 * malformed lines reported by number and skipped), then work every due item through with the
 * job engine on an own loop, with a progress bar, and compute the exit code of docs/cli.md. */
#ifndef TX_CLI_RUNNER_H
#define TX_CLI_RUNNER_H

#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

struct tx_config;

typedef struct {
    size_t lines, imported, existing, skipped, malformed;
} tx_runner_import_t;

/* Imports `path` (JSONL) into `store` with task `task` (NULL: "tags"). Lines that are blank are
 * ignored; a malformed one is reported on stderr as "<prog>: <path>:<line>: <why>; skipped".
 * Returns 0, or -1 after printing why (unreadable file, store error). */
int tx__runner_import(tx_store_t *store, const char *prog, const char *path, const char *task,
                      tx_runner_import_t *out);

typedef struct {
    const char *prog; /* "tenax run" */
    const char *store_url;
    struct tx_config *cfg;
    int wait;          /* wait for parked items */
    int progress;      /* draw the progress bar on stderr */
    int quiet_summary; /* do not print the one-line summary */
} tx_runner_opts_t;

typedef struct {
    int paused;
    char pause_reason[256];
    tx_store_stats_t stats; /* the whole store at the end */
    uint64_t attempts, retries, fallbacks, parked, conflicts;
    unsigned failovers;
    double seconds, rate; /* wall time of the work phase, items finished per second */
} tx_runner_result_t;

/* Works the store through (see the header comment). Returns the exit code: 0, 1, 3, or 2 when
 * the store cannot be opened (message printed). `res` may be NULL. */
int tx__runner_work(const tx_runner_opts_t *o, tx_runner_result_t *res);

/* Writes every item of the store as JSONL to `path`. 0, or -1 after printing why. */
int tx__runner_export(const char *prog, const char *store_url, const char *path);

#endif
