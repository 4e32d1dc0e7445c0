/* The jobs HTTP API (docs/api.md, docs/classifier.md). Each handler validates the request on the
 * loop, hands one call to the store executor, builds the answer on the store thread, and answers on
 * the loop (then kicks the scheduler when items became due). */
#include "jobs/api.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "jobs/item_input.h"
#include "jobs/item_json.h"
#include "obs/log.h"

#define LIST_DEFAULT 50
#define LIST_MAX 1000
#define RETRY_DEFAULT 50
#define RETRY_MAX 1000000

struct tx_jobsapi {
    tx_jobsapi_config_t cfg;
};

typedef enum {
    OP_IMPORT,
    OP_GET,
    OP_LIST,
    OP_STATS,
    OP_RETRY,
    OP_REGENERATE,
    OP_TASKS_LIST,
    OP_TASK_CREATE,
    OP_TASK_GET,
    OP_TASK_VERSIONS,
    OP_TASK_ADD_VERSION,
    OP_TASK_ACTIVATE,
} op_t;

/* One request handed to the store executor. It holds nothing of the API (which may be freed
 * while calls are queued): only what it needs to answer and to kick. */
typedef struct {
    tx_jobsapi_config_t cfg;
    tx_http_req_t *req;
    op_t op;
    tx_item_json_form_t form;
    int max_attempts;
    /* inputs */
    char *owner;
    char *name;
    int64_t id;
    int status;
    size_t limit;
    int64_t after;
    int force;
    int single;            /* import: the body was one object */
    int activate;          /* task version: activate it */
    json_t *body;          /* owns the strings `spec` points into */
    tx_item_batch_t batch; /* import: owns `inputs` */
    tx_item_input_t *inputs;
    size_t n_inputs;
    tx_task_spec_t spec;
    char *response_format; /* spec.response_format's storage */
    /* outputs */
    int http_status;
    char *resp;
    int kick;
} api_call_t;

/* ---- answers ---------------------------------------------------------------------------- */

static char *error_text(const char *type, const char *code, const char *param, const char *msg)
{
    json_t *e = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", msg ? msg : "error",
                          "type", type, "param", param, "code", code);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return s;
}

static void respond_text(tx_http_req_t *req, int status, char *body)
{
    static const tx_header_t ct[] = {{"Content-Type", "application/json"}};
    if (!body) {
        tx__http_respond_error(req, 500, "server_error", "out_of_memory", "out of memory", NULL, 0);
        return;
    }
    tx__http_respond(req, status, ct, 1, body, strlen(body));
    free(body);
}

static void respond_error(tx_http_req_t *req, int status, const char *code, const char *param,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void respond_error(tx_http_req_t *req, int status, const char *code, const char *param,
                          const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    respond_text(req, status, error_text(type, code, param, msg));
}

/* On the store thread: the call's answer is `doc` (stolen) with `status`. */
static void set_json(api_call_t *c, int status, json_t *doc)
{
    c->http_status = doc ? status : 500;
    c->resp = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
}

static void set_error(api_call_t *c, int status, const char *code, const char *param,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_error(api_call_t *c, int status, const char *code, const char *param,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->http_status = status;
    c->resp =
        error_text(status >= 500 ? "server_error" : "invalid_request_error", code, param, msg);
}

/* A store failure as an answer: not found → 404, busy → 503, anything else → 500. */
static void set_store_error(api_call_t *c, int rc, const tx_error_t *err, const char *what)
{
    const char *why = err->msg ? err->msg : tx_strerror((tx_err_t)rc);
    if (rc == TX_ENOTFOUND) {
        set_error(c, 404, "not_found", NULL, "%s not found", what);
    } else if (rc == TX_EBUSY) {
        set_error(c, 503, "store_busy", NULL, "the store is busy, try again: %s", why);
    } else {
        tx__log(TX_LOG_ERROR, "jobs][api", "store: %s: %s", what, why);
        set_error(c, 500, "store_error", NULL, "store error: %s", why);
    }
}

/* ---- work on the store thread ------------------------------------------------------------ */

static void do_import(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    /* Every task named must exist (its active version is what the scheduler will use). */
    json_t *seen = json_object();
    if (!seen) {
        set_json(c, 500, NULL);
        return;
    }
    for (size_t i = 0; i < c->n_inputs; i++) {
        const char *task = c->inputs[i].task;
        if (json_object_get(seen, task)) continue;
        tx_task_t t = {0};
        int rc = tx__store_task_get(s, task, 0, &t, &err);
        tx__task_clear(&t);
        if (rc == TX_ENOTFOUND) {
            char param[64];
            snprintf(param, sizeof param, c->single ? "task" : "items[%zu].task", i);
            set_error(c, 400, "unknown_task", param, "%s: no task named '%s' (see GET /v1/tasks)",
                      param, task);
            json_decref(seen);
            return;
        }
        if (rc != TX_EOK) {
            json_decref(seen);
            set_store_error(c, rc, &err, "task");
            return;
        }
        json_object_set_new(seen, task, json_true());
    }
    json_decref(seen);
    tx_import_result_t res = {0};
    int rc = tx__store_import(s, c->inputs, c->n_inputs, tx__clock_wall_ms(), &res, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "import");
        return;
    }
    json_t *data = json_array();
    json_t *doc = json_pack("{s:s,s:o,s:I,s:I,s:I}", "object", "list", "data", data, "inserted",
                            (json_int_t)res.inserted, "existing", (json_int_t)res.existing,
                            "skipped", (json_int_t)res.skipped);
    for (size_t i = 0; doc && i < res.n; i++) {
        json_t *row = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)res.ids[i], "owner",
                                c->inputs[i].owner, "external_id", c->inputs[i].external_id, "task",
                                c->inputs[i].task);
        if (!row || json_array_append_new(data, row) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    if (doc && c->single && res.n == 1) json_object_set_new(doc, "id", json_integer(res.ids[0]));
    c->kick = res.inserted > res.skipped;
    tx__import_result_free(&res);
    set_json(c, 201, doc);
}

static void do_get(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    tx_item_t it = {0};
    int rc = tx__store_get(s, c->id, &it, &err);
    if (rc == TX_ENOTFOUND) {
        set_error(c, 404, "not_found", NULL, "no item with id %lld", (long long)c->id);
        return;
    }
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "item");
        return;
    }
    set_json(c, 200, tx__item_json(&it, c->form, 1));
    tx__item_clear(&it);
}

static void do_list(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    tx_item_list_t list = {0};
    size_t ask = c->limit < LIST_MAX ? c->limit + 1 : LIST_MAX;
    int rc = tx__store_list(s, c->owner, c->status, ask, c->after, &list, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "items");
        return;
    }
    size_t shown = list.n < c->limit ? list.n : c->limit;
    int more = list.n > c->limit || (list.n == LIST_MAX && c->limit == LIST_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < shown; i++) {
        json_t *o = tx__item_json(&list.items[i], c->form, 0);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_t *next = more && shown ? json_integer(list.items[shown - 1].id) : json_null();
    json_t *doc;
    if (c->form == TX_ITEM_JSON_SEED)
        doc = json_pack("{s:o,s:o,s:o}", "user_id", tx__owner_json(c->owner), "posts", arr,
                        "next_after", next);
    else
        doc = json_pack("{s:s,s:s,s:o,s:o}", "object", "list", "owner", c->owner, "data", arr,
                        "next_after", next);
    tx__item_list_free(&list);
    set_json(c, 200, doc);
}

static void do_stats(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    tx_store_stats_t st = {0};
    tx_pause_t pause = {0};
    int rc = tx__store_stats(s, c->owner, &st, &err);
    if (rc == TX_EOK) rc = tx__store_pause_get(s, &pause, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "stats");
        return;
    }
    set_json(c, 200, tx__stats_json(c->owner, &st, !pause.paused, c->max_attempts, c->form));
}

static void do_retry(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    int64_t selected = 0;
    int rc = tx__store_retry(s, c->owner, c->force, c->limit, tx__clock_wall_ms(), &selected, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "retry");
        return;
    }
    c->kick = selected > 0;
    json_t *owner = c->form == TX_ITEM_JSON_SEED ? tx__owner_json(c->owner) : json_string(c->owner);
    set_json(c, 202,
             json_pack("{s:s,s:o,s:b,s:I,s:I}", "status", "queued",
                       c->form == TX_ITEM_JSON_SEED ? "user_id" : "owner", owner, "force", c->force,
                       "limit", (json_int_t)c->limit, "selected", (json_int_t)selected));
}

static void do_regenerate(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    int rc = tx__store_regenerate(s, c->id, tx__clock_wall_ms(), &err);
    if (rc == TX_EINVAL) {
        set_error(c, 409, "item_skipped", NULL,
                  "item %lld was skipped (it has no text): nothing to regenerate",
                  (long long)c->id);
        return;
    }
    if (rc == TX_ENOTFOUND) {
        set_error(c, 404, "not_found", NULL, "no item with id %lld", (long long)c->id);
        return;
    }
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "regenerate");
        return;
    }
    c->kick = 1;
    set_json(c, 202, json_pack("{s:s,s:I}", "status", "queued", "id", (json_int_t)c->id));
}

/* Every version of every task, grouped by name (the store lists them name, version order). */
static json_t *tasks_grouped(const tx_task_t *v, size_t n, const char *only)
{
    json_t *data = json_array();
    json_t *cur = NULL;
    const char *cur_name = NULL;
    for (size_t i = 0; data && i < n; i++) {
        if (only && strcmp(v[i].name, only) != 0) continue;
        if (!cur_name || strcmp(cur_name, v[i].name) != 0) {
            cur = json_pack("{s:s,s:n,s:[]}", "name", v[i].name, "active_version", "versions");
            if (!cur || json_array_append_new(data, cur) != 0) goto fail;
            cur_name = v[i].name;
        }
        json_t *tj = tx__task_json(&v[i]);
        if (!tj || json_array_append_new(json_object_get(cur, "versions"), tj) != 0) goto fail;
        if (v[i].active) json_object_set_new(cur, "active_version", json_integer(v[i].version));
    }
    return data;
fail:
    json_decref(data);
    return NULL;
}

static void do_tasks(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    tx_task_t *v = NULL;
    size_t n = 0;
    int rc = tx__store_task_list(s, &v, &n, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "tasks");
        return;
    }
    json_t *data = tasks_grouped(v, n, c->op == OP_TASK_VERSIONS ? c->name : NULL);
    tx__task_list_free(v, n);
    if (c->op == OP_TASKS_LIST) {
        set_json(c, 200, data ? json_pack("{s:s,s:o}", "object", "list", "data", data) : NULL);
        return;
    }
    if (data && json_array_size(data) == 0) {
        json_decref(data);
        set_error(c, 404, "not_found", NULL, "no task named '%s'", c->name);
        return;
    }
    /* One task: {"object":"list","name",…,"active_version":…,"data":[versions]} */
    json_t *t = json_array_get(data, 0);
    json_t *doc =
        t ? json_pack("{s:s,s:s,s:O,s:O}", "object", "list", "name", c->name, "active_version",
                      json_object_get(t, "active_version"), "data", json_object_get(t, "versions"))
          : NULL;
    json_decref(data);
    set_json(c, 200, doc);
}

static void answer_task(tx_store_t *s, api_call_t *c, int status, int version)
{
    tx_error_t err = {0};
    tx_task_t t = {0};
    int rc = tx__store_task_get(s, c->name, version, &t, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "task");
        return;
    }
    set_json(c, status, tx__task_json(&t));
    tx__task_clear(&t);
}

static void do_task_write(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    tx_task_t t = {0};
    int rc = tx__store_task_get(s, c->name, 0, &t, &err);
    tx__task_clear(&t);
    if (rc != TX_EOK && rc != TX_ENOTFOUND) {
        set_store_error(c, rc, &err, "task");
        return;
    }
    if (c->op == OP_TASK_CREATE && rc == TX_EOK) {
        set_error(c, 409, "task_exists", "name",
                  "task '%s' exists; add a version with POST /v1/tasks/%s/versions", c->name,
                  c->name);
        return;
    }
    if (c->op != OP_TASK_CREATE && rc == TX_ENOTFOUND) {
        set_error(c, 404, "not_found", NULL, "no task named '%s' (create it with POST /v1/tasks)",
                  c->name);
        return;
    }
    int version = 0;
    rc = tx__store_task_put_version(s, c->name, &c->spec, tx__clock_wall_ms(), &version, &err);
    if (rc == TX_EOK && c->activate) rc = tx__store_task_activate(s, c->name, version, &err);
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "task");
        return;
    }
    answer_task(s, c, 201, version);
}

static void do_task_activate(tx_store_t *s, api_call_t *c)
{
    tx_error_t err = {0};
    int rc = tx__store_task_activate(s, c->name, (int)c->id, &err);
    if (rc == TX_ENOTFOUND) {
        set_error(c, 404, "not_found", NULL, "task '%s' has no version %lld", c->name,
                  (long long)c->id);
        return;
    }
    if (rc != TX_EOK) {
        set_store_error(c, rc, &err, "task");
        return;
    }
    answer_task(s, c, 200, (int)c->id);
}

static void work(tx_store_t *s, void *arg)
{
    api_call_t *c = arg;
    switch (c->op) {
    case OP_IMPORT:
        do_import(s, c);
        break;
    case OP_GET:
        do_get(s, c);
        break;
    case OP_LIST:
        do_list(s, c);
        break;
    case OP_STATS:
        do_stats(s, c);
        break;
    case OP_RETRY:
        do_retry(s, c);
        break;
    case OP_REGENERATE:
        do_regenerate(s, c);
        break;
    case OP_TASKS_LIST:
    case OP_TASK_VERSIONS:
        do_tasks(s, c);
        break;
    case OP_TASK_GET:
        answer_task(s, c, 200, 0);
        break;
    case OP_TASK_CREATE:
    case OP_TASK_ADD_VERSION:
        do_task_write(s, c);
        break;
    case OP_TASK_ACTIVATE:
        do_task_activate(s, c);
        break;
    }
}

static void call_free(api_call_t *c)
{
    if (!c) return;
    free(c->owner);
    free(c->name);
    tx__item_batch_free(&c->batch);
    free(c->response_format);
    json_decref(c->body);
    free(c);
}

static void done(void *arg)
{
    api_call_t *c = arg;
    respond_text(c->req, c->http_status ? c->http_status : 500, c->resp);
    c->resp = NULL;
    if (c->kick && c->cfg.kick) c->cfg.kick(c->cfg.ud);
    call_free(c);
}

/* A call for this request, or NULL after answering (no API any more, out of memory). `ud` is
 * the slot given to tx__jobsapi_register. */
static api_call_t *call_new(tx_http_req_t *req, void *ud, op_t op, tx_item_json_form_t form)
{
    tx_jobsapi_t *api = *(tx_jobsapi_t **)ud;
    if (!api) {
        respond_error(req, 503, "shutting_down", NULL, "the jobs API is shutting down");
        return NULL;
    }
    int mutating = op == OP_IMPORT || op == OP_RETRY || op == OP_REGENERATE ||
                   op == OP_TASK_CREATE || op == OP_TASK_ADD_VERSION || op == OP_TASK_ACTIVATE;
    if (mutating && api->cfg.guard && !api->cfg.guard(api->cfg.ud, req)) return NULL;
    api_call_t *c = calloc(1, sizeof *c);
    if (!c) {
        respond_error(req, 500, "out_of_memory", NULL, "out of memory");
        return NULL;
    }
    c->cfg = api->cfg;
    c->req = req;
    c->op = op;
    c->form = form;
    c->status = -1;
    c->max_attempts = api->cfg.max_attempts ? api->cfg.max_attempts(api->cfg.ud) : 0;
    if (c->max_attempts <= 0) c->max_attempts = 5;
    return c;
}

static void submit(api_call_t *c)
{
    if (tx__storeq_submit(c->cfg.storeq, work, done, c) != TX_EOK) {
        respond_error(c->req, 503, "store_unavailable", NULL, "the store is shutting down");
        call_free(c);
    }
}

/* ---- request parsing on the loop ----------------------------------------------------------- */

/* A strict decimal in lo..hi; 0 on success. */
static int parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        if (v > (INT64_MAX - (*p - '0')) / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* The {id} of the path; answers 404 itself and returns -1 when it is not an item id. */
static int path_id(tx_http_req_t *req, const char *param, int64_t *out)
{
    const char *s = tx__http_req_param(req, param);
    if (parse_int(s, 1, INT64_MAX, out) == 0) return 0;
    respond_error(req, 404, "not_found", NULL, "no item with id '%.64s'", s ? s : "");
    return -1;
}

/* Parses the query; answers 400 itself and returns NULL on a bad one. */
static tx_query_t *query(tx_http_req_t *req)
{
    tx_query_t *q = tx__query_parse(tx__http_req_query(req));
    if (!q) respond_error(req, 400, "invalid_query", NULL, "the query string is malformed");
    return q;
}

static int query_int(tx_http_req_t *req, const tx_query_t *q, const char *key, int64_t lo,
                     int64_t hi, int64_t dflt, int64_t *out)
{
    const char *v = tx__query_get(q, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (parse_int(v, lo, hi, out) == 0) return 0;
    respond_error(req, 400, "invalid_parameter", key, "%s: '%.64s' is not an integer in %lld..%lld",
                  key, v, (long long)lo, (long long)hi);
    return -1;
}

static int query_bool(tx_http_req_t *req, const tx_query_t *q, const char *key, int *out)
{
    const char *v = tx__query_get(q, key);
    *out = 0;
    if (!v) return 0;
    if (!*v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) return 0;
    respond_error(req, 400, "invalid_parameter", key, "%s: '%.64s' is not true or false", key, v);
    return -1;
}

static int owner_param(tx_http_req_t *req, const char *param, api_call_t *c)
{
    const char *o = tx__http_req_param(req, param);
    json_t *utf8 = o ? json_string(o) : NULL; /* NULL unless valid UTF-8 */
    int valid = utf8 != NULL;
    json_decref(utf8);
    if (!valid || !*o || strlen(o) > TX_ITEM_ID_MAX) {
        respond_error(req, 400, "invalid_owner", param, "%s must be 1..%d bytes of UTF-8", param,
                      TX_ITEM_ID_MAX);
        return -1;
    }
    c->owner = strdup(o);
    if (!c->owner) {
        respond_error(req, 500, "out_of_memory", NULL, "out of memory");
        return -1;
    }
    return 0;
}

static void h_import(tx_http_req_t *req, void *ud)
{
    api_call_t *c = call_new(req, ud, OP_IMPORT, TX_ITEM_JSON_TENAX);
    if (!c) return;
    size_t len = 0;
    const char *body = tx__http_req_body(req, &len);
    char param[64], msg[512];
    int rc = tx__item_batch_parse(body, len, &c->batch, param, sizeof param, msg, sizeof msg);
    if (rc != TX_EOK) {
        int status = rc == TX_ENOMEM ? 500 : 400;
        const char *code = rc == TX_EPARSE ? "invalid_json"
                           : param[0]      ? "invalid_item"
                                           : "invalid_items";
        respond_error(req, status, code, param[0] ? param : NULL, "%s", msg);
        call_free(c);
        return;
    }
    c->inputs = c->batch.items;
    c->n_inputs = c->batch.n;
    c->single = c->batch.single;
    submit(c);
}

static void h_get(tx_http_req_t *req, void *ud, const char *param, tx_item_json_form_t form)
{
    int64_t id;
    if (path_id(req, param, &id) != 0) return;
    api_call_t *c = call_new(req, ud, OP_GET, form);
    if (!c) return;
    c->id = id;
    submit(c);
}
static void h_get_item(tx_http_req_t *req, void *ud)
{
    h_get(req, ud, "id", TX_ITEM_JSON_TENAX);
}
static void h_get_post(tx_http_req_t *req, void *ud)
{
    h_get(req, ud, "post_id", TX_ITEM_JSON_SEED);
}

static void h_list(tx_http_req_t *req, void *ud, const char *param, tx_item_json_form_t form)
{
    api_call_t *c = call_new(req, ud, OP_LIST, form);
    if (!c) return;
    tx_query_t *q = NULL;
    int64_t limit, after;
    if (owner_param(req, param, c) != 0 || !(q = query(req))) goto fail;
    if (query_int(req, q, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) != 0 ||
        query_int(req, q, "after", 0, INT64_MAX, 0, &after) != 0)
        goto fail;
    const char *st = tx__query_get(q, "status");
    if (st && *st) {
        c->status = tx__item_status_from_name(st);
        if (c->status < 0) {
            respond_error(req, 400, "invalid_parameter", "status",
                          "status: '%.64s' is not one of pending, processing, success, "
                          "retrying, failed, skipped",
                          st);
            goto fail;
        }
    }
    c->limit = (size_t)limit;
    c->after = after;
    tx__query_free(q);
    submit(c);
    return;
fail:
    tx__query_free(q);
    call_free(c);
}
static void h_list_items(tx_http_req_t *req, void *ud)
{
    h_list(req, ud, "owner", TX_ITEM_JSON_TENAX);
}
static void h_list_posts(tx_http_req_t *req, void *ud)
{
    h_list(req, ud, "user_id", TX_ITEM_JSON_SEED);
}

static void h_stats(tx_http_req_t *req, void *ud, const char *param, tx_item_json_form_t form)
{
    api_call_t *c = call_new(req, ud, OP_STATS, form);
    if (!c) return;
    if (owner_param(req, param, c) != 0) {
        call_free(c);
        return;
    }
    submit(c);
}
static void h_stats_owner(tx_http_req_t *req, void *ud)
{
    h_stats(req, ud, "owner", TX_ITEM_JSON_TENAX);
}
static void h_stats_user(tx_http_req_t *req, void *ud)
{
    h_stats(req, ud, "user_id", TX_ITEM_JSON_SEED);
}

static void h_retry(tx_http_req_t *req, void *ud, const char *param, tx_item_json_form_t form)
{
    api_call_t *c = call_new(req, ud, OP_RETRY, form);
    if (!c) return;
    tx_query_t *q = NULL;
    int64_t limit;
    if (owner_param(req, param, c) != 0 || !(q = query(req)) ||
        query_bool(req, q, "force", &c->force) != 0 ||
        query_int(req, q, "limit", 1, RETRY_MAX, RETRY_DEFAULT, &limit) != 0) {
        tx__query_free(q);
        call_free(c);
        return;
    }
    c->limit = (size_t)limit;
    tx__query_free(q);
    submit(c);
}
static void h_retry_owner(tx_http_req_t *req, void *ud)
{
    h_retry(req, ud, "owner", TX_ITEM_JSON_TENAX);
}
static void h_retry_user(tx_http_req_t *req, void *ud)
{
    h_retry(req, ud, "user_id", TX_ITEM_JSON_SEED);
}

static void h_regen(tx_http_req_t *req, void *ud, const char *param, tx_item_json_form_t form)
{
    api_call_t *c = call_new(req, ud, OP_REGENERATE, form); /* the guard before anything else */
    if (!c) return;
    if (path_id(req, param, &c->id) != 0) {
        call_free(c);
        return;
    }
    submit(c);
}
static void h_regen_item(tx_http_req_t *req, void *ud)
{
    h_regen(req, ud, "id", TX_ITEM_JSON_TENAX);
}
static void h_regen_post(tx_http_req_t *req, void *ud)
{
    h_regen(req, ud, "post_id", TX_ITEM_JSON_SEED);
}

/* ---- tasks ------------------------------------------------------------------------------- */

static int task_name(tx_http_req_t *req, const char *name, api_call_t *c)
{
    if (!tx__task_name_valid(name)) {
        respond_error(req, 400, "invalid_task_name", "name",
                      "name must be 1..64 of A-Z a-z 0-9 _ - .");
        return -1;
    }
    c->name = strdup(name);
    if (!c->name) {
        respond_error(req, 500, "out_of_memory", NULL, "out of memory");
        return -1;
    }
    return 0;
}

static int spec_string(json_t *doc, const char *key, int required, const char **out,
                       tx_http_req_t *req)
{
    json_t *v = json_object_get(doc, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        respond_error(req, 400, "invalid_task", key, "%s is required", key);
        return -1;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        respond_error(req, 400, "invalid_task", key, "%s must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Parses a task version body into c->spec (borrowing from c->body). Answers 400 itself. */
static int parse_spec(tx_http_req_t *req, api_call_t *c)
{
    size_t len = 0;
    const char *body = tx__http_req_body(req, &len);
    json_error_t jerr;
    c->body = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(c->body)) {
        respond_error(req, 400, "invalid_json", NULL, "the body must be a JSON object");
        return -1;
    }
    tx_task_spec_t *sp = &c->spec;
    if (spec_string(c->body, "system_prompt", 1, &sp->system_prompt, req) ||
        spec_string(c->body, "user_template", 1, &sp->user_template, req) ||
        spec_string(c->body, "parser", 1, &sp->parser, req) ||
        spec_string(c->body, "model", 0, &sp->model, req))
        return -1;
    if (!strstr(sp->user_template, "{{text}}")) {
        respond_error(req, 400, "invalid_task", "user_template",
                      "user_template must contain {{text}}");
        return -1;
    }
    if (strcmp(sp->parser, "tags") && strcmp(sp->parser, "json") && strcmp(sp->parser, "text")) {
        respond_error(req, 400, "invalid_task", "parser", "parser must be tags, json or text");
        return -1;
    }
    json_t *rf = json_object_get(c->body, "response_format");
    if (rf && !json_is_null(rf)) {
        if (!json_is_object(rf)) {
            respond_error(req, 400, "invalid_task", "response_format",
                          "response_format must be an object, e.g. {\"type\":\"json_object\"}");
            return -1;
        }
        c->response_format = json_dumps(rf, JSON_COMPACT);
        if (!c->response_format) {
            respond_error(req, 500, "out_of_memory", NULL, "out of memory");
            return -1;
        }
        sp->response_format = c->response_format;
    }
    json_t *act = json_object_get(c->body, "activate");
    if (act && !json_is_boolean(act)) {
        respond_error(req, 400, "invalid_task", "activate", "activate must be true or false");
        return -1;
    }
    c->activate = json_is_true(act);
    return 0;
}

static void h_tasks_list(tx_http_req_t *req, void *ud)
{
    api_call_t *c = call_new(req, ud, OP_TASKS_LIST, TX_ITEM_JSON_TENAX);
    if (c) submit(c);
}

static void h_task_create(tx_http_req_t *req, void *ud)
{
    api_call_t *c = call_new(req, ud, OP_TASK_CREATE, TX_ITEM_JSON_TENAX);
    if (!c) return;
    if (parse_spec(req, c) != 0) goto fail;
    json_t *name = json_object_get(c->body, "name");
    if (!json_is_string(name)) {
        respond_error(req, 400, "invalid_task", "name", "name is required (a string)");
        goto fail;
    }
    if (task_name(req, json_string_value(name), c) != 0) goto fail;
    submit(c);
    return;
fail:
    call_free(c);
}

static void h_task_one(tx_http_req_t *req, void *ud, op_t op)
{
    api_call_t *c = call_new(req, ud, op, TX_ITEM_JSON_TENAX);
    if (!c) return;
    if (task_name(req, tx__http_req_param(req, "name"), c) != 0) goto fail;
    if (op == OP_TASK_ADD_VERSION && parse_spec(req, c) != 0) goto fail;
    if (op == OP_TASK_ACTIVATE) {
        const char *v = tx__http_req_param(req, "version");
        if (parse_int(v, 1, INT32_MAX, &c->id) != 0) {
            respond_error(req, 404, "not_found", NULL, "task '%s' has no version '%.32s'", c->name,
                          v ? v : "");
            goto fail;
        }
    }
    submit(c);
    return;
fail:
    call_free(c);
}
static void h_task_get(tx_http_req_t *req, void *ud)
{
    h_task_one(req, ud, OP_TASK_GET);
}
static void h_task_versions(tx_http_req_t *req, void *ud)
{
    h_task_one(req, ud, OP_TASK_VERSIONS);
}
static void h_task_add(tx_http_req_t *req, void *ud)
{
    h_task_one(req, ud, OP_TASK_ADD_VERSION);
}
static void h_task_activate(tx_http_req_t *req, void *ud)
{
    h_task_one(req, ud, OP_TASK_ACTIVATE);
}

/* ---- the API object ------------------------------------------------------------------------ */

static const tx_route_t routes[] = {
    {"POST", "/v1/items", h_import},
    {"GET", "/v1/items/{id}", h_get_item},
    {"POST", "/v1/items/{id}/regenerate", h_regen_item},
    {"GET", "/v1/owners/{owner}/items", h_list_items},
    {"GET", "/v1/owners/{owner}/stats", h_stats_owner},
    {"POST", "/v1/owners/{owner}/retry", h_retry_owner},
    {"GET", "/users/{user_id}/posts", h_list_posts},
    {"GET", "/users/{user_id}/posts/tagging_stats", h_stats_user},
    {"POST", "/users/{user_id}/posts/retry_tagging", h_retry_user},
    {"GET", "/posts/{post_id}", h_get_post},
    {"POST", "/posts/{post_id}/regenerate_tags", h_regen_post},
    {"GET", "/v1/tasks", h_tasks_list},
    {"POST", "/v1/tasks", h_task_create},
    {"GET", "/v1/tasks/{name}", h_task_get},
    {"GET", "/v1/tasks/{name}/versions", h_task_versions},
    {"POST", "/v1/tasks/{name}/versions", h_task_add},
    {"POST", "/v1/tasks/{name}/versions/{version}/activate", h_task_activate},
    {NULL, NULL, NULL},
};

tx_jobsapi_t *tx__jobsapi_new(const tx_jobsapi_config_t *cfg)
{
    if (!cfg || !cfg->storeq) return NULL;
    tx_jobsapi_t *api = calloc(1, sizeof *api);
    if (!api) return NULL;
    api->cfg = *cfg;
    return api;
}

tx_err_t tx__jobsapi_register(tx_jobsapi_t **slot, tx_router_t *r)
{
    if (!slot || !*slot || !r) return TX_EINVAL;
    return tx__router_add_table(r, routes, slot);
}

void tx__jobsapi_destroy(tx_jobsapi_t *api)
{
    free(api);
}
