/* The dashboard's costs: what the window (obs/window.c) adds to each gateway request (an
 * attempt and a request-done event, with the clock reads the observer makes), beside the
 * observer's whole per-request cost with metrics on in the same run; and one GET /admin/stats
 * document (built and serialised) with the sample ring full, beside one /metrics rendering.
 * Usage: build/bench_admin_stats [scale] (default 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/log.h"
#include "core/clock.h"
#include "obs/observe.h"
#include "ops/stats.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1) scale = 1;
    const long n = 500000 * scale, docs = 2000 * scale;
    setenv("TENAX_LOG_LEVEL", "warn", 1); /* no access line: the observer's metrics alone */
    tx__log_init();

    tx_window_t *w = malloc(sizeof *w);
    tx_obs_t *obs = tx__obs_create(NULL);
    if (w == NULL || obs == NULL) return 1;
    tx__window_init(w);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        tx__window_attempt(w, tx__clock_coarse_ms(), (int)(i & 1),
                           i % 9 ? TX_CLASS_OK : TX_CLASS_SERVER, 1, 1);
        tx__window_request(w, tx__clock_coarse_ms(), 200, 50.0 + (double)(i % 100), 40.0);
    }
    double win_ns = (now_ns() - t0) / (double)n;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        tx__obs_on_attempt(obs, (int)(i & 1), "gpt-4o-mini", TX_CLASS_OK, 80.0, 1, -1);
        tx__obs_on_request_done(obs, "/v1/chat/completions", "gpt-4o-mini", 200, 81.0, 80.0);
    }
    double obs_ns = (now_ns() - t0) / (double)n;
    printf("window per request (attempt + done, clock reads included): %.1f ns; the observer's "
           "whole per-request cost (metrics on, window included): %.1f ns (%.0f%%)\n",
           win_ns, obs_ns, 100.0 * win_ns / obs_ns);

    tx_stats_live_t live = {.in_flight = 3, .limit = 8, .max_queue = 64};
    size_t bytes = 0;
    tx_ms_t at = tx__clock_coarse_ms();
    t0 = now_ns();
    for (long i = 0; i < docs; i++) {
        json_t *d = tx__admin_stats_json(w, at, &live);
        char *s = json_dumps(d, JSON_COMPACT | JSON_REAL_PRECISION(6));
        bytes = s != NULL ? strlen(s) : 0;
        free(s);
        json_decref(d);
    }
    double doc_us = (now_ns() - t0) / (double)docs / 1000.0;
    size_t mlen = 0;
    t0 = now_ns();
    for (long i = 0; i < docs; i++)
        free(tx__obs_render(obs, &mlen));
    double met_us = (now_ns() - t0) / (double)docs / 1000.0;
    printf("GET /admin/stats document, %d latency samples: %.1f us (%zu bytes); GET /metrics "
           "rendering: %.1f us (%zu bytes)\n",
           TX_WIN_SAMPLES, doc_us, bytes, met_us, mlen);
    tx__obs_destroy(obs);
    free(w);
    return 0;
}
