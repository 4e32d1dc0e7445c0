/* Hot reload of the live config file: directory watch + poll fallback + SIGHUP, each trigger
 * debounced into one whole-file load; a good load that changes something is handed to the
 * owner and logged key by key, a bad one is logged once and kept as configError. */
#include "config/watch.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "obs/log.h"
#include "obs/notify.h"

#define WATCH_HANDLES 4

struct tx_config_watch {
    uv_loop_t *loop;
    char *path, *dir, *base;
    const tx_config_env_t *env;
    tx_config_apply_fn apply;
    void *ud;
    unsigned debounce_ms;
    tx_config_t *current;
    char error[320];
    tx_ms_t loaded_at;
    unsigned applied;
    const char *pending_source; /* static string of the trigger waiting for the debounce */
    uv_fs_event_t dir_ev;
    uv_fs_poll_t poll;
    uv_signal_t sig;
    uv_timer_t debounce;
    int dir_on, poll_on, sig_on, timer_on;
    int open_handles;
    void (*done)(void *);
    void *done_arg;
};

static void set_err(tx_error_t *err, tx_err_t code, const char *msg)
{
    if (err == NULL) return;
    err->code = code;
    snprintf(err->detail, sizeof err->detail, "%s", msg);
    err->msg = err->detail;
}

static void log_change(const char *key, const char *value, const char *source, void *ud)
{
    (void)ud;
    /* A webhook path is often a secret: show only scheme and host. */
    if (strcmp(key, "NOTIFY_WEBHOOK_URL") == 0 && strcmp(value, "\"\"") != 0) {
        char red[300], raw[2100];
        size_t n = strlen(value);
        if (n >= 2 && n - 2 < sizeof raw) {
            memcpy(raw, value + 1, n - 2);
            raw[n - 2] = '\0';
        } else {
            raw[0] = '\0';
        }
        tx__notify_redact_url(raw, red, sizeof red);
        tx__log(TX_LOG_INFO, "ai][config", "%s=\"%s\" source=%s", key, red, source);
        return;
    }
    tx__log(TX_LOG_INFO, "ai][config", "%s=%s source=%s", key, value, source);
}

static void count_cb(const char *key, const char *value, const char *source, void *ud)
{
    (void)key, (void)value, (void)source;
    ++*(int *)ud;
}

tx_err_t tx__config_watch_reload(tx_config_watch_t *w, const char *source)
{
    if (w == NULL) return TX_EINVAL;
    if (source == NULL) source = "reload";
    tx_config_t *next = NULL;
    tx_error_t err = {0};
    tx_err_t rc = tx__config_load(w->env, w->path, &next, &err);
    if (rc != TX_EOK) {
        const char *why = err.msg != NULL ? err.msg : tx_strerror(rc);
        /* Editors fire several events per save: log a rejection once per distinct reason. */
        if (strcmp(w->error, why) != 0) {
            snprintf(w->error, sizeof w->error, "%s", why);
            tx__log(TX_LOG_WARN, "ai][config", "rejected: %s (trigger=%s)", w->error, source);
        }
        return rc;
    }
    if (w->error[0] != '\0') {
        tx__log(TX_LOG_INFO, "ai][config", "accepted again after a rejected file (trigger=%s)",
                source);
        w->error[0] = '\0';
    }
    int changed = 0;
    if (tx__config_diff(w->current, next, count_cb, &changed) < 0) {
        tx__config_unref(next);
        return TX_ENOMEM;
    }
    w->loaded_at = tx__clock_wall_ms();
    if (changed == 0) {
        tx__config_unref(next);
        return TX_EOK;
    }
    tx_config_t *old = w->current;
    tx__config_ref(next);                      /* ours, in case it is applied */
    tx_err_t arc = w->apply(w->ud, next, old); /* the callee owns `next`'s first reference */
    if (arc != TX_EOK) {
        /* the old snapshot stays in force and current: the next reload tries again */
        tx__config_unref(next);
        char why[sizeof w->error];
        snprintf(why, sizeof why, "cannot apply: %s", tx_strerror(arc));
        if (strcmp(w->error, why) != 0) {
            snprintf(w->error, sizeof w->error, "%s", why);
            tx__log(TX_LOG_ERROR, "ai][config", "rejected: %s; the old config stays (trigger=%s)",
                    why, source);
        }
        return arc;
    }
    tx__config_diff(old, next, log_change, NULL);
    w->current = next;
    w->applied++;
    tx__config_unref(old);
    return TX_EOK;
}

static void on_debounce(uv_timer_t *t)
{
    tx_config_watch_t *w = t->data;
    const char *src = w->pending_source;
    w->pending_source = NULL;
    tx__config_watch_reload(w, src);
}

static void schedule(tx_config_watch_t *w, const char *source)
{
    if (w->pending_source != NULL) return; /* one load covers every event of the burst */
    w->pending_source = source;
    uv_timer_start(&w->debounce, on_debounce, w->debounce_ms, 0);
}

static void on_dir_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    tx_config_watch_t *w = h->data;
    if (status < 0) return;
    /* A NULL name means the watched directory itself changed: check anyway. */
    if (filename != NULL && strcmp(filename, w->base) != 0) return;
    schedule(w, "file");
}

static void on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)prev, (void)curr;
    tx_config_watch_t *w = h->data;
    (void)status; /* a file that disappears or comes back is a change too */
    schedule(w, "poll");
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    schedule(h->data, "sighup");
}

static void free_watch(tx_config_watch_t *w)
{
    tx__config_unref(w->current);
    free(w->path);
    free(w->dir);
    free(w->base);
    free(w);
}

static void on_closed(uv_handle_t *h)
{
    tx_config_watch_t *w = h->data;
    if (--w->open_handles > 0) return;
    void (*done)(void *) = w->done;
    void *arg = w->done_arg;
    free_watch(w);
    if (done != NULL) done(arg);
}

void tx__config_watch_close(tx_config_watch_t *w, void (*done)(void *), void *arg)
{
    if (w == NULL) return;
    w->done = done;
    w->done_arg = arg;
    w->open_handles = 0;
    uv_handle_t *hs[WATCH_HANDLES] = {w->dir_on ? (uv_handle_t *)&w->dir_ev : NULL,
                                      w->poll_on ? (uv_handle_t *)&w->poll : NULL,
                                      w->sig_on ? (uv_handle_t *)&w->sig : NULL,
                                      w->timer_on ? (uv_handle_t *)&w->debounce : NULL};
    for (int i = 0; i < WATCH_HANDLES; i++)
        if (hs[i] != NULL) w->open_handles++;
    if (w->open_handles == 0) {
        free_watch(w);
        if (done != NULL) done(arg);
        return;
    }
    for (int i = 0; i < WATCH_HANDLES; i++)
        if (hs[i] != NULL) uv_close(hs[i], on_closed);
}

/* Splits path into its directory ("." when none) and base name. */
static int split_path(tx_config_watch_t *w)
{
    const char *slash = strrchr(w->path, '/');
    if (slash == NULL) {
        w->dir = strdup(".");
        w->base = strdup(w->path);
    } else {
        size_t n = (size_t)(slash - w->path);
        w->dir = n == 0 ? strdup("/") : strndup(w->path, n);
        w->base = strdup(slash + 1);
    }
    return w->dir != NULL && w->base != NULL && w->base[0] != '\0' ? 0 : -1;
}

tx_config_watch_t *tx__config_watch_start(const tx_config_watch_opts_t *o, tx_config_t *current,
                                          tx_error_t *err)
{
    if (o == NULL || o->loop == NULL || o->path == NULL || o->path[0] == '\0' || o->apply == NULL ||
        current == NULL) {
        set_err(err, TX_EINVAL, "config watch: loop, path, apply and a current config are needed");
        return NULL;
    }
    tx_config_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = strdup(o->path)) == NULL || split_path(w) != 0) {
        if (w != NULL) free_watch(w);
        set_err(err, TX_ENOMEM, "config watch: out of memory or bad path");
        return NULL;
    }
    w->loop = o->loop;
    w->env = o->env;
    w->apply = o->apply;
    w->ud = o->ud;
    w->debounce_ms = o->debounce_ms ? o->debounce_ms : 50;
    w->current = tx__config_ref(current);
    w->loaded_at = tx__clock_wall_ms();
    unsigned poll_ms = o->poll_ms ? o->poll_ms : 10000;

    int rc = uv_timer_init(o->loop, &w->debounce);
    if (rc == 0) {
        w->timer_on = 1;
        w->debounce.data = w;
        rc = uv_fs_poll_init(o->loop, &w->poll);
    }
    if (rc == 0) {
        w->poll_on = 1;
        w->poll.data = w;
        rc = uv_fs_poll_start(&w->poll, on_poll, w->path, poll_ms);
    }
    if (rc == 0 && o->sighup) {
        rc = uv_signal_init(o->loop, &w->sig);
        if (rc == 0) {
            w->sig_on = 1;
            w->sig.data = w;
            rc = uv_signal_start(&w->sig, on_sighup, SIGHUP);
        }
    }
    if (rc != 0) {
        if (err != NULL) {
            err->code = TX_EIO;
            snprintf(err->detail, sizeof err->detail, "config watch: %s", uv_strerror(rc));
            err->msg = err->detail;
        }
        tx__config_watch_close(w, NULL, NULL);
        return NULL;
    }
    if (uv_fs_event_init(o->loop, &w->dir_ev) == 0) {
        w->dir_on = 1;
        w->dir_ev.data = w;
        if (uv_fs_event_start(&w->dir_ev, on_dir_event, w->dir, 0) != 0)
            tx__log(TX_LOG_WARN, "ai][config", "cannot watch %s; polling every %u ms", w->dir,
                    poll_ms);
    }
    return w;
}

const char *tx__config_watch_error(const tx_config_watch_t *w)
{
    return w != NULL ? w->error : "";
}

tx_ms_t tx__config_watch_loaded_at(const tx_config_watch_t *w)
{
    return w != NULL ? w->loaded_at : 0;
}

unsigned tx__config_watch_applied(const tx_config_watch_t *w)
{
    return w != NULL ? w->applied : 0;
}

tx_config_t *tx__config_watch_current(const tx_config_watch_t *w)
{
    return w != NULL ? w->current : NULL;
}
