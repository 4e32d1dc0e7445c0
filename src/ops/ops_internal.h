/* The ops plug-in's state, shared by its files (ops.c, diag.c, routes). Not a public header. */
#ifndef TX_OPS_INTERNAL_H
#define TX_OPS_INTERNAL_H

#include "config/watch.h"
#include "ops/notify_http.h"
#include "ops/ops.h"

typedef struct {
    tx_app_t *app;
    int started;
    tx_obs_t *obs;
    tx_notify_t *notify;
    tx_notify_http_t *sender;
    tx_filters_t *filters;
    tx_config_watch_t *watch;
    tx_ms_t loaded_at; /* Unix ms of the start (the watcher's when there is one) */
    uv_timer_t sweep;
    int sweep_on;
    tx_ops_jobs_t jobs;
    int has_jobs;
    int pending; /* handles still closing during the stop */
    void (*done)(tx_app_t *app);
} tx_ops_state_t;

#endif
