/* The store front door: picks a backend by URL scheme, dispatches through its vtable, and owns
 * the plain-struct helpers (status names, free functions) every backend shares. */
#include "store/store.h"
#include "core/errfmt.h"
#include "obs/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[TX_ITEM__LAST] = {
    "pending", "processing", "success", "retrying", "failed", "skipped",
};

static const struct tx_store_ops *const backends[] = {
    &tx__store_sqlite_ops,
    &tx__store_postgres_ops, /* "postgres" matches postgres:// and postgresql:// */
};

const char *tx__item_status_name(tx_item_status_t st)
{
    if ((int)st < 0 || st >= TX_ITEM__LAST) return "unknown";
    return status_names[st];
}

int tx__item_status_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < TX_ITEM__LAST; i++)
        if (strcmp(name, status_names[i]) == 0) return i;
    return -1;
}

int tx__store_fail(tx_error_t *err, tx_err_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tx__error_vsetf(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void tx__store_error_copy(tx_error_t *dst, const tx_error_t *src)
{
    if (!dst || !src || dst == src) return;
    *dst = *src;
    uintptr_t m = (uintptr_t)src->msg, d = (uintptr_t)src->detail;
    if (src->msg && m >= d && m < d + sizeof src->detail) dst->msg = dst->detail + (m - d);
}

void tx__item_clear(tx_item_t *it)
{
    if (!it) return;
    free(it->owner);
    free(it->external_id);
    free(it->task);
    free(it->text);
    free(it->result);
    free(it->error);
    free(it->model);
    for (size_t i = 0; i < it->n_history; i++) {
        free(it->history[i].model);
        free(it->history[i].endpoint);
        free(it->history[i].provider);
    }
    free(it->history);
    memset(it, 0, sizeof *it);
}

void tx__item_list_free(tx_item_list_t *list)
{
    if (!list) return;
    for (size_t i = 0; i < list->n; i++)
        tx__item_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

void tx__import_result_free(tx_import_result_t *res)
{
    if (!res) return;
    free(res->ids);
    memset(res, 0, sizeof *res);
}

void tx__task_clear(tx_task_t *t)
{
    if (!t) return;
    free(t->name);
    free(t->system_prompt);
    free(t->user_template);
    free(t->response_format);
    free(t->parser);
    free(t->model);
    memset(t, 0, sizeof *t);
}

void tx__task_list_free(tx_task_t *tasks, size_t n)
{
    if (!tasks) return;
    for (size_t i = 0; i < n; i++)
        tx__task_clear(&tasks[i]);
    free(tasks);
}

int tx__store_open(const char *url, tx_store_t **out, tx_error_t *err)
{
    if (out) *out = NULL;
    if (!url || !out) return tx__store_fail(err, TX_EINVAL, "store: no URL given");
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const struct tx_store_ops *ops = backends[i];
        size_t len = strlen(ops->scheme);
        if (strncmp(url, ops->scheme, len) == 0) {
            if (ops->version != TX_STORE_OPS_VERSION)
                return tx__store_fail(err, TX_EINVAL, "store: backend %s has ops version %d",
                                      ops->scheme, ops->version);
            return ops->open(url, out, err);
        }
    }
    /* Only the scheme goes into the message: the rest may carry a password. */
    size_t scheme = strcspn(url, ":/@?");
    return tx__store_fail(err, TX_EINVAL,
                          "store: unsupported URL scheme \"%.*s\" (expected "
                          "sqlite:PATH or postgres://…)",
                          (int)(scheme > 32 ? 32 : scheme), url);
}

void tx__store_close(tx_store_t *s)
{
    if (s) s->ops->close(s);
}

#define CHECK_HANDLE()                                                                             \
    do {                                                                                           \
        if (!s) return tx__store_fail(err, TX_EINVAL, "store: NULL handle");                       \
    } while (0)

int tx__store_import(tx_store_t *s, const tx_item_input_t *items, size_t n, tx_ms_t now,
                     tx_import_result_t *res, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!res || (n && !items))
        return tx__store_fail(err, TX_EINVAL, "store: import: NULL argument");
    memset(res, 0, sizeof *res);
    for (size_t i = 0; i < n; i++)
        if (!items[i].external_id || !*items[i].external_id)
            return tx__store_fail(err, TX_EINVAL, "store: import: item %zu has no id", i + 1);
    res->ids = calloc(n ? n : 1, sizeof *res->ids);
    if (!res->ids) return tx__store_fail(err, TX_ENOMEM, "store: out of memory");
    return s->ops->import(s, items, n, now, res, err);
}

int tx__store_claim(tx_store_t *s, const char *worker, size_t limit, tx_ms_t now, tx_ms_t lease_ms,
                    tx_item_list_t *out, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out || lease_ms <= 0)
        return tx__store_fail(err, TX_EINVAL, "store: claim: NULL output or lease_ms <= 0");
    return s->ops->claim(s, worker, limit, now, lease_ms, out, err);
}

int tx__store_begin_attempt(tx_store_t *s, int64_t id, int64_t lease, int max_attempts, tx_ms_t now,
                            const char *model, int *attempt_n, tx_error_t *err)
{
    CHECK_HANDLE();
    return s->ops->begin_attempt(s, id, lease, max_attempts, now, model, attempt_n, err);
}

int tx__store_record_attempt(tx_store_t *s, int64_t id, int64_t lease, const tx_history_row_t *a,
                             tx_error_t *err)
{
    CHECK_HANDLE();
    if (!a) return tx__store_fail(err, TX_EINVAL, "store: record_attempt: NULL attempt");
    return s->ops->record_attempt(s, id, lease, a, err);
}

/* TX_EOK when `o` is an outcome tx__store_finish accepts, else TX_EINVAL with err filled. */
static int check_outcome(const tx_item_outcome_t *o, tx_error_t *err)
{
    if (!o) return tx__store_fail(err, TX_EINVAL, "store: finish: NULL outcome");
    switch (o->status) {
    case TX_ITEM_SUCCESS:
        if (!o->result)
            return tx__store_fail(err, TX_EINVAL, "store: finish: success without a result");
        return TX_EOK;
    case TX_ITEM_RETRYING:
    case TX_ITEM_FAILED:
    case TX_ITEM_PENDING:
        return TX_EOK;
    default:
        return tx__store_fail(err, TX_EINVAL, "store: finish: status %s is not an outcome",
                              tx__item_status_name(o->status));
    }
}

static void log_finished(int64_t id, const tx_item_outcome_t *o)
{
    if (tx__log_enabled(TX_LOG_DEBUG))
        tx__log(TX_LOG_DEBUG, "jobs][item", "id=%lld processing -> %s", (long long)id,
                tx__item_status_name(o->status));
}

int tx__store_finish(tx_store_t *s, int64_t id, int64_t lease, const tx_item_outcome_t *o,
                     tx_ms_t now, tx_error_t *err)
{
    CHECK_HANDLE();
    int rc = check_outcome(o, err);
    if (rc != TX_EOK) return rc;
    rc = s->ops->finish(s, id, lease, o, now, err);
    if (rc == TX_EOK) log_finished(id, o);
    return rc;
}

int tx__store_begin_attempts(tx_store_t *s, tx_store_begin_t *reqs, size_t n, tx_ms_t now)
{
    if (!s || !s->ops || (n && !reqs)) return TX_EINVAL;
    if (n == 0) return TX_EOK;
    tx_store_begin_t **todo = s->ops->begin_attempts ? malloc(n * sizeof *todo) : NULL;
    for (size_t i = 0; i < n; i++) {
        tx_store_begin_t *r = &reqs[i];
        memset(&r->err, 0, sizeof r->err);
        r->attempt_n = 0;
        r->rc = TX_EOK;
        if (todo)
            todo[i] = r;
        else
            r->rc = s->ops->begin_attempt(s, r->id, r->lease, r->max_attempts, now, r->model,
                                          &r->attempt_n, &r->err);
    }
    if (todo) s->ops->begin_attempts(s, todo, n, now);
    free(todo);
    return TX_EOK;
}

int tx__store_finish_many(tx_store_t *s, tx_store_finish_t *reqs, size_t n, tx_ms_t now)
{
    if (!s || !s->ops || (n && !reqs)) return TX_EINVAL;
    if (n == 0) return TX_EOK;
    tx_store_finish_t **todo = s->ops->finish_many ? malloc(n * sizeof *todo) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        tx_store_finish_t *r = &reqs[i];
        memset(&r->err, 0, sizeof r->err);
        if ((r->rc = check_outcome(r->outcome, &r->err)) != TX_EOK) continue;
        if (todo)
            todo[k++] = r;
        else
            r->rc = s->ops->finish(s, r->id, r->lease, r->outcome, now, &r->err);
    }
    if (todo && k) s->ops->finish_many(s, todo, k, now);
    free(todo);
    for (size_t i = 0; i < n; i++)
        if (reqs[i].rc == TX_EOK) log_finished(reqs[i].id, reqs[i].outcome);
    return TX_EOK;
}

int tx__store_reclaim_expired(tx_store_t *s, tx_ms_t now, int64_t *count, tx_error_t *err)
{
    CHECK_HANDLE();
    int64_t n = 0;
    int rc = s->ops->reclaim_expired(s, now, &n, err);
    if (rc == TX_EOK && n > 0)
        tx__log(TX_LOG_INFO, "jobs][lease", "reclaimed %lld expired lease(s)", (long long)n);
    if (count) *count = rc == TX_EOK ? n : 0;
    return rc;
}

int tx__store_get(tx_store_t *s, int64_t id, tx_item_t *out, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out) return tx__store_fail(err, TX_EINVAL, "store: get: NULL output");
    return s->ops->get(s, id, out, err);
}

int tx__store_list(tx_store_t *s, const char *owner, int status, size_t limit, int64_t after,
                   tx_item_list_t *out, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out || status < -1 || status >= TX_ITEM__LAST)
        return tx__store_fail(err, TX_EINVAL, "store: list: bad argument");
    if (limit == 0) limit = 50;
    if (limit > 1000) limit = 1000;
    return s->ops->list(s, owner, status, limit, after, out, err);
}

int tx__store_stats(tx_store_t *s, const char *owner, tx_store_stats_t *out, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out) return tx__store_fail(err, TX_EINVAL, "store: stats: NULL output");
    return s->ops->stats(s, owner, out, err);
}

int tx__store_retry(tx_store_t *s, const char *owner, int force, size_t limit, tx_ms_t now,
                    int64_t *selected, tx_error_t *err)
{
    CHECK_HANDLE();
    if (limit == 0) limit = 50;
    return s->ops->retry(s, owner, force, limit, now, selected, err);
}

int tx__store_regenerate(tx_store_t *s, int64_t id, tx_ms_t now, tx_error_t *err)
{
    CHECK_HANDLE();
    return s->ops->regenerate(s, id, now, err);
}

int tx__store_export(tx_store_t *s, const char *owner, int status, tx_store_item_cb cb, void *ud,
                     tx_error_t *err)
{
    CHECK_HANDLE();
    if (!cb || status < -1 || status >= TX_ITEM__LAST)
        return tx__store_fail(err, TX_EINVAL, "store: export: bad argument");
    return s->ops->export_items(s, owner, status, cb, ud, err);
}

int tx__store_next_due(tx_store_t *s, tx_ms_t now, tx_ms_t *when, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!when) return tx__store_fail(err, TX_EINVAL, "store: next_due: NULL output");
    return s->ops->next_due(s, now, when, err);
}

int tx__store_pause_get(tx_store_t *s, tx_pause_t *out, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out) return tx__store_fail(err, TX_EINVAL, "store: pause_get: NULL output");
    return s->ops->pause_get(s, out, err);
}

int tx__store_pause_set(tx_store_t *s, int paused, const char *reason, tx_ms_t now, tx_error_t *err)
{
    CHECK_HANDLE();
    int rc = s->ops->pause_set(s, paused, reason, now, err);
    if (rc == TX_EOK)
        tx__log(TX_LOG_INFO, "jobs][pause", "%s%s%s", paused ? "paused" : "resumed",
                paused && reason ? ": " : "", paused && reason ? reason : "");
    return rc;
}

int tx__store_task_put_version(tx_store_t *s, const char *name, const tx_task_spec_t *spec,
                               tx_ms_t now, int *version, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!name || !*name || !spec || !spec->system_prompt || !spec->user_template || !spec->parser)
        return tx__store_fail(err, TX_EINVAL,
                              "store: task needs a name, system_prompt, user_template and parser");
    return s->ops->task_put_version(s, name, spec, now, version, err);
}

int tx__store_task_activate(tx_store_t *s, const char *name, int version, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!name || version <= 0)
        return tx__store_fail(err, TX_EINVAL, "store: task_activate: bad argument");
    return s->ops->task_activate(s, name, version, err);
}

int tx__store_task_get(tx_store_t *s, const char *name, int version, tx_task_t *out,
                       tx_error_t *err)
{
    CHECK_HANDLE();
    if (!name || !out || version < 0)
        return tx__store_fail(err, TX_EINVAL, "store: task_get: bad argument");
    return s->ops->task_get(s, name, version, out, err);
}

int tx__store_task_list(tx_store_t *s, tx_task_t **out, size_t *n, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!out || !n) return tx__store_fail(err, TX_EINVAL, "store: task_list: NULL output");
    return s->ops->task_list(s, out, n, err);
}

int tx__store_ping(tx_store_t *s, tx_error_t *err)
{
    CHECK_HANDLE();
    return s->ops->ping ? s->ops->ping(s, err) : TX_EOK;
}

int tx__store_listen(tx_store_t *s, int *fd, tx_error_t *err)
{
    CHECK_HANDLE();
    if (!s->ops->listen)
        return tx__store_fail(err, TX_EINVAL, "store: %s: wake-ups unsupported (poll next_due)",
                              s->ops->scheme);
    return s->ops->listen(s, fd, err);
}

int tx__store_wait_notify(tx_store_t *s, int timeout_ms, int *count, tx_error_t *err)
{
    CHECK_HANDLE();
    if (count) *count = 0;
    if (timeout_ms < 0)
        return tx__store_fail(err, TX_EINVAL, "store: wait_notify: negative timeout");
    if (!s->ops->wait_notify)
        return tx__store_fail(err, TX_EINVAL, "store: %s: wake-ups unsupported (poll next_due)",
                              s->ops->scheme);
    return s->ops->wait_notify(s, timeout_ms, count, err);
}
