/* Per-request cost of the observer on the gateway path: the events one successful non-stream
 * request reports (queue wait, attempt, usage, request done) with metrics on vs TENAX_METRICS=0,
 * and the [ai][request] access-log line (stderr sent to /dev/null) vs info logging off.
 * Usage: build/bench_observe [scale] (default 1). Figures are per request, same run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "obs/log.h"
#include "obs/observe.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double per_request(tx_obs_t *obs, long n)
{
    static const char *const models[] = {"gpt-4o-mini", "gpt-4o", "glm-4.5"};
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        const char *m = models[i % 3];
        tx__obs_on_queue_wait(obs, 0);
        tx__obs_on_attempt(obs, (int)(i & 1), m, TX_CLASS_OK, 80.0, 1, -1);
        tx__obs_on_usage(obs, m, 20, 5);
        tx__obs_on_request_done(obs, "/v1/chat/completions", m, 200, 81.0, 80.0);
    }
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1) scale = 1;
    const long n = 500000 * scale, nlog = 100000 * scale;
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull < 0 || dup2(devnull, STDERR_FILENO) < 0) return 1;

    setenv("TENAX_LOG_LEVEL", "warn", 1);
    tx__log_init();
    tx_obs_opts_t on = {.metrics = 1, .access_log = 1}, off = {.metrics = 0, .access_log = 1};
    tx_obs_t *a = tx__obs_create(&on), *b = tx__obs_create(&off);
    if (a == NULL || b == NULL) return 1;
    per_request(a, n / 10); /* warm up: series created */
    double t_off = per_request(b, n), t_on = per_request(a, n);
    double t_off2 = per_request(b, n), t_on2 = per_request(a, n);

    setenv("TENAX_LOG_LEVEL", "info", 1);
    tx__log_init();
    double t_log = per_request(b, nlog); /* metrics off, one info line per request */

    printf("observer per request (queue wait + attempt + usage + request done), %ld requests\n", n);
    printf("  metrics off (TENAX_METRICS=0), log warn : %7.1f ns  %7.1f ns\n", t_off, t_off2);
    printf("  metrics on, log warn                    : %7.1f ns  %7.1f ns\n", t_on, t_on2);
    printf("  metrics off, log info ([ai][request])   : %7.1f ns\n", t_log);
    tx__obs_destroy(a);
    tx__obs_destroy(b);
    return 0;
}
