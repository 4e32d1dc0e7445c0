/* Hot reload of the live config file (docs/config.md): a uv_fs_event on the file's directory
 * (editors replace files), a uv_fs_poll fallback (10 s) and SIGHUP trigger a reload; a good file
 * becomes a new snapshot handed to the owner, a bad one leaves the last good config and sets
 * configError. */
#ifndef TX_CONFIG_WATCH_H
#define TX_CONFIG_WATCH_H

#include <uv.h>

#include "config/config.h"
#include "tenax/error.h"
#include "tenax/types.h"

/* Receives a new, validated snapshot whose values differ from the current one. `cfg` carries
 * one reference that now belongs to the callee (it swaps it in and unrefs the old one, or just
 * unrefs it when it refuses). `old` is the snapshot it replaces (borrowed, still valid during
 * the call). Returns TX_EOK when applied; anything else leaves `old` in force, puts "cannot
 * apply: <why>" in configError and makes the next reload try again. Runs on the loop. */
typedef tx_err_t (*tx_config_apply_fn)(void *ud, tx_config_t *cfg, const tx_config_t *old);

typedef struct {
    uv_loop_t *loop;            /* required */
    const char *path;           /* the config file (required; copied) */
    const tx_config_env_t *env; /* the environment layer (NULL: the process's); must outlive the
                                   watcher */
    unsigned poll_ms;           /* fallback poll interval; 0: 10000 */
    unsigned debounce_ms;       /* wait after a file event before reading; 0: 50 */
    int sighup;                 /* 1: reload on SIGHUP too */
    tx_config_apply_fn apply;   /* required */
    void *ud;
} tx_config_watch_opts_t;

typedef struct tx_config_watch tx_config_watch_t;

/* Starts watching. `current` is the snapshot in force (a reference is taken; NULL is refused).
 * Returns NULL with `err` filled (may be NULL) on a bad argument, no memory or a libuv failure
 * (nothing is left open then). The directory watch failing is not fatal: the poll remains. */
tx_config_watch_t *tx__config_watch_start(const tx_config_watch_opts_t *o, tx_config_t *current,
                                          tx_error_t *err);

/* Stops watching and frees the watcher once its handles are closed; `done(arg)` (may be NULL)
 * runs then. NULL: no-op. */
void tx__config_watch_close(tx_config_watch_t *w, void (*done)(void *), void *arg);

/* Reloads now (what a file event or SIGHUP does; `source` names the trigger in the log, e.g.
 * "sighup"). TX_EOK when the file is good (applied if anything changed; configError cleared),
 * else the load's error code or the owner's refusal (the last good config stays, configError
 * set). */
tx_err_t tx__config_watch_reload(tx_config_watch_t *w, const char *source);

/* The current configError ("" when the last load was good). Valid until the next reload. */
const char *tx__config_watch_error(const tx_config_watch_t *w);

/* Unix ms of the last successful load (the start counts), and the number of applied changes. */
tx_ms_t tx__config_watch_loaded_at(const tx_config_watch_t *w);
unsigned tx__config_watch_applied(const tx_config_watch_t *w);

/* The snapshot the watcher considers current (borrowed; take tx__config_ref to keep it). */
tx_config_t *tx__config_watch_current(const tx_config_watch_t *w);

#endif
