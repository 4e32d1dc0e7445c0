/* The shared body of `tenax run` and `tenax demo`: JSONL import, the work-through loop with the
 * job engine on an app without HTTP (tx__app_new, the gateway's attempt primitive through the
 * app_jobs port), the progress bar, the exit code. */
#include "cli/runner.h"
#include "cli/storeurl.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "app/app.h"
#include "config/config.h"
#include "core/clock.h"
#include "jobs/app_jobs.h"
#include "jobs/engine.h"
#include "jobs/jsonl.h"

#define IMPORT_CHUNK 2000

/* ---- import ---------------------------------------------------------------------------------- */

typedef struct {
    tx_item_input_t in[IMPORT_CHUNK];
    tx_jobs_line_t lines[IMPORT_CHUNK];
    size_t n;
} chunk_t;

static int flush(tx_store_t *s, const char *prog, chunk_t *c, tx_runner_import_t *out)
{
    int rc = TX_EOK;
    if (c->n) {
        tx_import_result_t res = {0};
        tx_error_t err = {0};
        rc = tx__store_import(s, c->in, c->n, tx__clock_wall_ms(), &res, &err);
        if (rc != TX_EOK)
            fprintf(stderr, "%s: import: %s\n", prog, err.msg ? err.msg : tx_strerror(rc));
        out->imported += res.inserted;
        out->existing += res.existing;
        out->skipped += res.skipped;
        tx__import_result_free(&res);
    }
    for (size_t i = 0; i < c->n; i++)
        tx__jobs_line_clear(&c->lines[i]);
    c->n = 0;
    return rc == TX_EOK ? 0 : -1;
}

int tx__runner_import(tx_store_t *store, const char *prog, const char *path, const char *task,
                      tx_runner_import_t *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    chunk_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        if (f != stdin) fclose(f);
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        out->lines++;
        char why[200];
        tx_jobs_line_t *l = &c->lines[c->n];
        int pr = tx__jobs_parse_line(line, (size_t)len, out->lines, l, why, sizeof why);
        if (pr == 0) continue;
        if (pr < 0) {
            fprintf(stderr, "%s: %s:%zu: %s; skipped\n", prog, path, out->lines, why);
            out->malformed++;
            continue;
        }
        c->in[c->n] = (tx_item_input_t){
            .owner = l->owner, .external_id = l->id, .task = task, .text = l->text};
        if (++c->n == IMPORT_CHUNK) rc = flush(store, prog, c, out);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "%s: reading %s: %s\n", prog, path, strerror(errno));
        rc = -1;
    }
    if (flush(store, prog, c, out) != 0) rc = -1;
    free(line);
    free(c);
    if (f != stdin) fclose(f);
    return rc;
}

/* ---- work ------------------------------------------------------------------------------------ */

typedef struct {
    const tx_runner_opts_t *o;
    uv_loop_t loop;
    uv_timer_t bar;
    int bar_on;
    tx_jobs_t *e;
    tx_app_t *app;
    int stopping;
    int code;
    tx_runner_result_t res;
    tx_ms_t t0;
    int64_t done0;
    int done0_set;
    int drew;
    unsigned failovers;
} run_t;

static int64_t done_of(const tx_jobs_stats_t *s)
{
    return s->by_status[TX_ITEM_SUCCESS] + s->by_status[TX_ITEM_FAILED] +
           s->by_status[TX_ITEM_SKIPPED];
}

static void draw(run_t *r, int final)
{
    tx_jobs_stats_t s;
    tx__jobs_stats(r->e, &s);
    if (!s.counts_valid) return;
    int64_t done = done_of(&s), total = s.total;
    if (!r->done0_set) {
        r->done0 = done;
        r->done0_set = 1;
    }
    double el = (double)(tx__clock_wall_ms() - r->t0) / 1000.0;
    double rate = el > 0.05 ? (double)(done - r->done0) / el : 0.0;
    char eta[32] = "--:--";
    if (rate > 0.0 && total > done) {
        long sec = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld", sec / 60, sec % 60);
    } else if (total == done) {
        snprintf(eta, sizeof eta, "0:00");
    }
    int width = 24, fill = total > 0 ? (int)(done * width / total) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr,
            "\r[%s] %lld/%lld  ok=%lld fail=%lld retry=%lld pend=%lld proc=%lld skip=%lld  "
            "%.0f/s ETA %s%s ",
            bar, (long long)done, (long long)total, (long long)s.by_status[TX_ITEM_SUCCESS],
            (long long)s.by_status[TX_ITEM_FAILED], (long long)s.by_status[TX_ITEM_RETRYING],
            (long long)s.by_status[TX_ITEM_PENDING], (long long)s.by_status[TX_ITEM_PROCESSING],
            (long long)s.by_status[TX_ITEM_SKIPPED], rate, eta, s.paused ? " PAUSED" : "");
    r->drew = 1;
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void bar_cb(uv_timer_t *t)
{
    draw(t->data, 0);
}

static void app_stopped(tx_app_t *app, void *ud)
{
    (void)app;
    (void)ud;
}

static void engine_closed(void *arg)
{
    run_t *r = arg;
    r->e = NULL;
    tx_endpoints_snap_t snap;
    tx__endpoints_snapshot(r->app->endpoints, tx__app_now(r->app), &snap);
    for (size_t i = 0; i < snap.n; i++)
        r->failovers += snap.ep[i].failovers;
    tx__app_stop(r->app, app_stopped, r);
    if (r->bar_on) uv_close((uv_handle_t *)&r->bar, NULL);
}

static void stop(run_t *r, int code)
{
    if (r->stopping) return;
    r->stopping = 1;
    r->code = code;
    tx_jobs_stats_t s;
    tx__jobs_stats(r->e, &s);
    r->res.paused = s.paused;
    snprintf(r->res.pause_reason, sizeof r->res.pause_reason, "%s", s.pause_reason);
    r->res.attempts = s.attempts;
    r->res.retries = s.retries;
    r->res.fallbacks = s.fallbacks;
    r->res.parked = s.parked;
    r->res.conflicts = s.conflicts;
    if (r->bar_on) {
        uv_timer_stop(&r->bar);
        draw(r, 1);
    }
    tx__jobs_close(r->e, engine_closed, r);
}

static void on_idle(void *ud, const tx_jobs_idle_t *idle)
{
    run_t *r = ud;
    if (r->stopping) return;
    if (idle->paused) {
        stop(r, 3);
        return;
    }
    if (!idle->has_due) {
        stop(r, 0); /* exit code computed from the final stats */
        return;
    }
    tx_ms_t now = tx__clock_wall_ms();
    if (idle->next_due <= now) return; /* due now: the engine claims again */
    if (r->o->wait) return;            /* the engine's timer wakes at next_due */
    stop(r, 3);
}

int tx__runner_work(const tx_runner_opts_t *o, tx_runner_result_t *res)
{
    run_t *r = calloc(1, sizeof *r);
    if (r == NULL) return 2;
    r->o = o;
    uv_loop_init(&r->loop);
    tx_error_t err = {0};
    r->app = tx__app_new(&r->loop, o->cfg, NULL, &err); /* no store executor: the engine opens
                                                           its own store from store_url */
    if (r->app == NULL) {
        fprintf(stderr, "%s: %s\n", o->prog,
                err.msg ? err.msg : "cannot start the upstream client");
        uv_run(&r->loop, UV_RUN_DEFAULT);
        uv_loop_close(&r->loop);
        free(r);
        return 2;
    }
    tx_jobs_opts_t eo = {.loop = &r->loop,
                         .store_url = o->store_url,
                         .cfg = o->cfg,
                         .worker = o->prog,
                         .poll_ms = o->progress ? 100 : 500,
                         .on_idle = on_idle,
                         .ud = r};
    tx__jobs_app_port(r->app, &eo.port);
    r->t0 = tx__clock_wall_ms();
    int rc = tx__jobs_open(&eo, &r->e, &err);
    if (rc != TX_EOK) {
        fprintf(stderr, "%s: store: %s\n", o->prog, tx__cli_store_error(&err, rc));
        tx__app_stop(r->app, app_stopped, r);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        tx__app_destroy(r->app);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        uv_loop_close(&r->loop);
        free(r);
        return 2;
    }
    if (o->progress) {
        uv_timer_init(&r->loop, &r->bar);
        r->bar.data = r;
        r->bar_on = 1;
        uv_timer_start(&r->bar, bar_cb, 100, 100);
    }
    uv_run(&r->loop, UV_RUN_DEFAULT);
    tx__app_destroy(r->app);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    double secs = (double)(tx__clock_wall_ms() - r->t0) / 1000.0;
    r->res.failovers = r->failovers;
    r->res.seconds = secs;

    /* final stats from the store itself */
    tx_store_t *s = NULL;
    rc = tx__store_open(o->store_url, &s, &err);
    if (rc == TX_EOK) rc = tx__store_stats(s, NULL, &r->res.stats, &err);
    tx__store_close(s);
    if (rc != TX_EOK) {
        fprintf(stderr, "%s: store: %s\n", o->prog, tx__cli_store_error(&err, rc));
        free(r);
        return 2;
    }
    const int64_t *b = r->res.stats.by_status;
    int64_t unfinished = b[TX_ITEM_PENDING] + b[TX_ITEM_PROCESSING] + b[TX_ITEM_RETRYING];
    /* a pause with nothing unfinished (everything already done) does not make the run fail */
    int code = unfinished > 0 ? 3 : b[TX_ITEM_FAILED] > 0 ? 1 : 0;
    r->res.rate = secs > 0 ? (double)r->res.attempts / secs : 0;
    if (!o->quiet_summary) {
        fprintf(stderr,
                "%s: %lld items: success=%lld failed=%lld retrying=%lld pending=%lld "
                "processing=%lld skipped=%lld (%.1f s, %llu attempts)\n",
                o->prog, (long long)r->res.stats.total, (long long)b[TX_ITEM_SUCCESS],
                (long long)b[TX_ITEM_FAILED], (long long)b[TX_ITEM_RETRYING],
                (long long)b[TX_ITEM_PENDING], (long long)b[TX_ITEM_PROCESSING],
                (long long)b[TX_ITEM_SKIPPED], secs, (unsigned long long)r->res.attempts);
        if (r->res.paused && unfinished > 0)
            fprintf(stderr,
                    "%s: job work is paused: %s\n%s: fix the provider account or key, then run "
                    "again (a probe resumes the work) or POST /admin/resume\n",
                    o->prog, r->res.pause_reason, o->prog);
        else if (code == 3)
            fprintf(stderr,
                    "%s: %lld item(s) unfinished (parked until their retry_after); "
                    "run again later or use --wait\n",
                    o->prog, (long long)unfinished);
    }
    if (res) *res = r->res;
    free(r);
    return code;
}

/* ---- export ---------------------------------------------------------------------------------- */

static void put_time(json_t *o, const char *k, tx_ms_t ms)
{
    if (ms <= 0) {
        json_object_set_new(o, k, json_null());
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    json_object_set_new(o, k, json_string(buf));
}

static int export_one(const tx_item_t *it, void *ud)
{
    FILE *f = ud;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(it->id));
    json_object_set_new(o, "owner", json_string(it->owner ? it->owner : ""));
    json_object_set_new(o, "external_id", json_string(it->external_id ? it->external_id : ""));
    json_object_set_new(o, "task", json_string(it->task ? it->task : ""));
    json_object_set_new(o, "status", json_string(tx__item_status_name(it->status)));
    json_t *res = it->result ? json_loads(it->result, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(o, "result", res ? res : json_null());
    json_object_set_new(o, "attempts", json_integer(it->attempts));
    json_object_set_new(o, "error", it->error ? json_string(it->error) : json_null());
    json_object_set_new(o, "error_class",
                        it->error_class >= 0
                            ? json_string(tx_class_name((tx_class_t)it->error_class))
                            : json_null());
    json_object_set_new(o, "model", it->model ? json_string(it->model) : json_null());
    json_object_set_new(o, "prompt_version", json_integer(it->prompt_version));
    put_time(o, "retry_after", it->retry_after);
    put_time(o, "last_attempt_at", it->last_attempt_at);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s) {
        fputs(s, f);
        fputc('\n', f);
        free(s);
    }
    return ferror(f) ? 1 : 0;
}

int tx__runner_export(const char *prog, const char *store_url, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    int rc = tx__store_open(store_url, &s, &err);
    if (rc == TX_EOK) rc = tx__store_export(s, NULL, -1, export_one, f, &err);
    tx__store_close(s);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (rc != TX_EOK || bad) {
        fprintf(stderr, "%s: export to %s: %s\n", prog, path,
                rc != TX_EOK ? (err.msg ? err.msg : tx_strerror(rc)) : strerror(errno));
        return -1;
    }
    return 0;
}
