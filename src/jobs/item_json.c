/* Items, pages, stats and task versions as JSON (docs/api.md): the tenax form and the
 * seed-compatible form. Nothing here touches the store or the loop. */
#include "jobs/item_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *tx__json_time(int64_t ms, char *buf, size_t cap)
{
    /* 9999-12-31T23:59:59.999Z is the last time RFC 3339 can write. */
    if (!buf || cap < 25 || ms < 0 || ms > INT64_C(253402300799999)) return NULL;
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) return NULL;
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return n > 0 && (size_t)n < cap ? buf : NULL;
}

json_t *tx__json_time_value(int64_t ms)
{
    char buf[32];
    if (ms == 0 || !tx__json_time(ms, buf, sizeof buf)) return json_null();
    return json_string(buf);
}

/* json_object_set_new that tolerates a NULL value (out of memory) by failing the whole object. */
static int put(json_t *obj, const char *key, json_t *v)
{
    if (!v) return -1;
    return json_object_set_new(obj, key, v);
}

static json_t *str_or_null(const char *s)
{
    if (!s) return json_null();
    json_t *v = json_string(s);
    /* Stored text that is not valid UTF-8 (it came through the store, not jansson) is still
     * shown: invalid bytes are replaced rather than dropping the field. */
    if (!v) {
        size_t len = strlen(s);
        char *copy = malloc(len + 1);
        if (!copy) return NULL;
        for (size_t i = 0; i <= len; i++)
            copy[i] = (i < len && (unsigned char)s[i] >= 0x80) ? '?' : s[i];
        v = json_string(copy);
        free(copy);
    }
    return v;
}

static json_t *tags_array(json_t *parsed)
{
    json_t *src = parsed;
    if (json_is_object(parsed)) src = json_object_get(parsed, "tags");
    json_t *out = json_array();
    if (!out) return NULL;
    if (!json_is_array(src)) return out;
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v)
    {
        if (json_is_string(v) && json_array_append(out, v) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *tx__item_result_json(const tx_item_t *it)
{
    if (!it || !it->result) return json_null();
    json_t *parsed = json_loads(it->result, JSON_DECODE_ANY, NULL);
    if (it->task && strcmp(it->task, "tags") == 0) {
        json_t *out = tags_array(parsed);
        json_decref(parsed);
        return out;
    }
    return parsed ? parsed : str_or_null(it->result);
}

json_t *tx__owner_json(const char *owner)
{
    if (!owner) return json_null();
    size_t len = strlen(owner);
    int numeric = len > 0 && len <= 18 && !(len > 1 && owner[0] == '0');
    for (size_t i = 0; numeric && i < len; i++)
        numeric = owner[i] >= '0' && owner[i] <= '9';
    if (numeric) return json_integer((json_int_t)strtoll(owner, NULL, 10));
    return str_or_null(owner);
}

static json_t *history_json(const tx_item_t *it)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < it->n_history; i++) {
        const tx_history_row_t *a = &it->history[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) != 0) goto fail;
        if (put(o, "n", json_integer(a->n)) || put(o, "model", str_or_null(a->model)) ||
            put(o, "endpoint", str_or_null(a->endpoint)) ||
            put(o, "provider", str_or_null(a->provider)) ||
            put(o, "class", json_string(tx_class_name((tx_class_t)a->cls))) ||
            put(o, "http_status", a->http_status ? json_integer(a->http_status) : json_null()) ||
            put(o, "latency_ms", json_integer(a->latency_ms)) ||
            put(o, "at", tx__json_time_value(a->at)))
            goto fail;
        /* a handed-back attempt (quota/auth pause): its n is used again by the next attempt */
        if (a->refunded && put(o, "refunded", json_true())) goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

static json_t *class_or_null(int cls)
{
    if (cls < 0 || cls >= TX_CLASS__LAST) return json_null();
    return json_string(tx_class_name((tx_class_t)cls));
}

json_t *tx__item_json(const tx_item_t *it, tx_item_json_form_t form, int with_history)
{
    if (!it) return NULL;
    json_t *o = json_object();
    if (!o) return NULL;
    json_t *result = tx__item_result_json(it);
    if (put(o, "id", json_integer(it->id)) || put(o, "owner", str_or_null(it->owner)) ||
        put(o, "external_id", str_or_null(it->external_id)) ||
        put(o, "task", str_or_null(it->task)) || put(o, "text", str_or_null(it->text)) ||
        put(o, "result", json_incref(result)) ||
        put(o, "status", json_string(tx__item_status_name(it->status))) ||
        put(o, "attempts", json_integer(it->attempts)) ||
        put(o, "last_attempt_at", tx__json_time_value(it->last_attempt_at)) ||
        put(o, "retry_after", tx__json_time_value(it->retry_after)) ||
        put(o, "error", str_or_null(it->error)) ||
        put(o, "error_class", class_or_null(it->error_class)) ||
        put(o, "model", str_or_null(it->model)) ||
        put(o, "prompt_version",
            it->prompt_version ? json_integer(it->prompt_version) : json_null()) ||
        put(o, "created_at", tx__json_time_value(it->created_at)) ||
        put(o, "updated_at", tx__json_time_value(it->updated_at)))
        goto fail;
    if (with_history && put(o, "history", history_json(it))) goto fail;
    if (form == TX_ITEM_JSON_SEED) {
        /* The seed service's `tags` is a list even before tagging (empty). */
        json_t *tags = json_is_array(result) ? json_incref(result) : json_array();
        if (put(o, "user_id", tx__owner_json(it->owner)) || put(o, "tags", tags) ||
            put(o, "tagging_status", json_string(tx__item_status_name(it->status))) ||
            put(o, "tagging_attempts", json_integer(it->attempts)) ||
            put(o, "last_tagging_attempt", tx__json_time_value(it->last_attempt_at)) ||
            put(o, "tagging_error", str_or_null(it->error)))
            goto fail;
    }
    json_decref(result);
    return o;
fail:
    json_decref(result);
    json_decref(o);
    return NULL;
}

json_t *tx__stats_json(const char *owner, const tx_store_stats_t *st, int enabled, int max_attempts,
                       tx_item_json_form_t form)
{
    if (!st) return NULL;
    json_t *o = json_object();
    json_t *by = json_object();
    if (!o || !by) goto fail;
    /* The order docs/api.md shows. */
    static const tx_item_status_t order[TX_ITEM__LAST] = {TX_ITEM_PENDING,  TX_ITEM_PROCESSING,
                                                          TX_ITEM_SUCCESS,  TX_ITEM_FAILED,
                                                          TX_ITEM_RETRYING, TX_ITEM_SKIPPED};
    for (int i = 0; i < TX_ITEM__LAST; i++)
        if (put(by, tx__item_status_name(order[i]), json_integer(st->by_status[order[i]])))
            goto fail;
    if (form == TX_ITEM_JSON_SEED) {
        if (put(o, "user_id", tx__owner_json(owner)) ||
            put(o, "total_posts", json_integer(st->total)) ||
            put(o, "posts_with_tags", json_integer(st->with_result)) ||
            put(o, "posts_without_tags", json_integer(st->without_result)) ||
            put(o, "posts_need_retry", json_integer(st->need_retry)) ||
            put(o, "stats_by_status", json_incref(by)) ||
            put(o, "tagging_enabled", json_boolean(enabled)) ||
            put(o, "max_retry_attempts", json_integer(max_attempts)))
            goto fail;
    } else {
        if (put(o, "owner", str_or_null(owner)) || put(o, "total", json_integer(st->total)) ||
            put(o, "with_result", json_integer(st->with_result)) ||
            put(o, "without_result", json_integer(st->without_result)) ||
            put(o, "need_retry", json_integer(st->need_retry)) ||
            put(o, "by_status", json_incref(by)) || put(o, "enabled", json_boolean(enabled)) ||
            put(o, "max_attempts", json_integer(max_attempts)))
            goto fail;
    }
    json_decref(by);
    return o;
fail:
    json_decref(by);
    json_decref(o);
    return NULL;
}

json_t *tx__task_json(const tx_task_t *t)
{
    if (!t) return NULL;
    json_t *o = json_object();
    if (!o) return NULL;
    json_t *rf = json_null();
    if (t->response_format) {
        json_decref(rf);
        rf = json_loads(t->response_format, JSON_DECODE_ANY, NULL);
        if (!rf) rf = str_or_null(t->response_format);
    }
    if (put(o, "name", str_or_null(t->name)) || put(o, "version", json_integer(t->version)) ||
        put(o, "active", json_boolean(t->active)) ||
        put(o, "system_prompt", str_or_null(t->system_prompt)) ||
        put(o, "user_template", str_or_null(t->user_template)) ||
        put(o, "response_format", json_incref(rf)) || put(o, "parser", str_or_null(t->parser)) ||
        put(o, "model", str_or_null(t->model)) ||
        put(o, "created_at", tx__json_time_value(t->created_at))) {
        json_decref(rf);
        json_decref(o);
        return NULL;
    }
    json_decref(rf);
    return o;
}
