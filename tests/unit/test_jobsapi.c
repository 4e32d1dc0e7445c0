/* The jobs HTTP API over a real server, router, store executor and SQLite file: a client thread
 * (tenax's own upstream client, one private loop per call) drives every route and alias; failed
 * checks are collected there and asserted on the main thread once the loop has stopped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/api.h"
#include "upstream/client.h"

typedef struct {
    char base[64];
    int failures;
    char first_failure[512];
    uv_async_t stop;
} client_t;

typedef struct {
    int kicks;
} kick_t;

/* The route guard: a request with "X-Deny" is answered 401 by the guard itself. */
static int guard(void *ud, tx_http_req_t *req)
{
    (void)ud;
    if (!tx__http_req_header(req, "x-deny")) return 1;
    tx__http_respond_error(req, 401, "invalid_request_error", "denied", "denied", NULL, 0);
    return 0;
}

static int seven(void *ud)
{
    (void)ud;
    return 7;
}

static void on_kick(void *ud)
{
    ((kick_t *)ud)->kicks++;
}

typedef struct {
    char *p;
    size_t n;
    long status;
    int done;
} buf_t;

static void sink(void *ud, const char *data, size_t len)
{
    buf_t *b = ud;
    char *np = realloc(b->p, b->n + len + 1);
    if (!np) return;
    memcpy(np + b->n, data, len);
    b->p = np;
    b->n += len;
    b->p[b->n] = 0;
}

static const char *g_extra_header; /* set by the client thread around one call */

static void on_called(void *ud, const tx_upstream_result_t *r)
{
    buf_t *b = ud;
    b->status = r->err == TX_UPSTREAM_EOK ? r->status : 0;
    b->done = 1;
}

static void on_client_closed(void *arg)
{
    *(int *)arg = 1;
}

/* One request; returns the HTTP status (0 on a transport error) and the parsed body. */
static long call(client_t *c, const char *method, const char *path, const char *body, json_t **doc)
{
    char url[512], name[128] = "";
    snprintf(url, sizeof url, "%s%s", c->base, path);
    buf_t b = {0};
    tx_header_t h[2] = {{"Content-Type", "application/json"}, {name, ""}};
    size_t nh = 1;
    if (g_extra_header != NULL) { /* "Name: value" */
        const char *colon = strchr(g_extra_header, ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - g_extra_header), g_extra_header);
        h[1].value = colon + 1 + strspn(colon + 1, " ");
        nh = 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_upstream_t *u = tx__upstream_new(&loop, NULL);
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 10000};
    tx_upstream_cb_t cb = {.on_body = sink, .on_done = on_called};
    if (u != NULL && tx__upstream_send(u, method, url, h, nh, body, body ? strlen(body) : 0, &lim,
                                       &cb, &b) != NULL)
        while (!b.done && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
    int closed = 0;
    tx__upstream_close(u, on_client_closed, &closed);
    while (u != NULL && !closed && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
    uv_loop_close(&loop);
    *doc = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return b.status;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!c->failures)                                                                      \
                snprintf(c->first_failure, sizeof c->first_failure, "line %d: %s", __LINE__,       \
                         #cond);                                                                   \
            c->failures++;                                                                         \
        }                                                                                          \
    } while (0)

static json_int_t geti(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}
static const char *gets_(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}
static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void check_error(client_t *c, json_t *doc, const char *param)
{
    json_t *e = json_object_get(doc, "error");
    CHECK(json_is_object(e));
    CHECK(json_is_string(json_object_get(e, "message")));
    CHECK(streq(gets_(e, "type"), "invalid_request_error"));
    if (param) CHECK(streq(gets_(e, "param"), param));
}

static void script(client_t *c)
{
    json_t *d = NULL;
    long st;

    /* import: an array, numeric owner/id, a blank text (skipped), another owner */
    st = call(c, "POST", "/v1/items",
              "[{\"owner\":\"1\",\"id\":\"a\",\"text\":\"hello world\"},"
              "{\"owner\":1,\"id\":2,\"text\":\"second\"},"
              "{\"owner\":\"1\",\"id\":\"blank\",\"text\":\"   \"},"
              "{\"owner\":\"2\",\"id\":\"x\",\"text\":\"other owner\",\"task\":\"tags\"}]",
              &d);
    CHECK(st == 201);
    CHECK(geti(d, "inserted") == 4 && geti(d, "existing") == 0 && geti(d, "skipped") == 1);
    json_t *data = json_object_get(d, "data");
    CHECK(json_array_size(data) == 4);
    json_int_t id_a = geti(json_array_get(data, 0), "id");
    json_int_t id_blank = geti(json_array_get(data, 2), "id");
    CHECK(id_a > 0);
    CHECK(streq(gets_(json_array_get(data, 1), "owner"), "1"));
    CHECK(streq(gets_(json_array_get(data, 1), "external_id"), "2"));
    CHECK(streq(gets_(json_array_get(data, 0), "task"), "tags"));
    json_decref(d);

    /* idempotent: the same item again keeps its id */
    st = call(c, "POST", "/v1/items", "{\"owner\":\"1\",\"id\":\"a\",\"text\":\"changed\"}", &d);
    CHECK(st == 201);
    CHECK(geti(d, "id") == id_a && geti(d, "inserted") == 0 && geti(d, "existing") == 1);
    json_decref(d);

    /* validation: field and index named */
    st = call(c, "POST", "/v1/items", "[{\"id\":\"ok\",\"text\":\"t\"},{\"text\":\"no id\"}]", &d);
    CHECK(st == 400);
    check_error(c, d, "items[1].id");
    json_decref(d);
    st = call(c, "POST", "/v1/items", "{\"id\":\"k\",\"text\":5}", &d);
    CHECK(st == 400);
    check_error(c, d, "text");
    json_decref(d);
    st = call(c, "POST", "/v1/items", "{\"id\":\"k\",\"text\":\"t\",\"task\":\"nosuch\"}", &d);
    CHECK(st == 400);
    check_error(c, d, "task");
    json_decref(d);
    st = call(c, "POST", "/v1/items", "[{\"id\":\"k\",\"owner\":[1],\"text\":\"t\"}]", &d);
    CHECK(st == 400);
    check_error(c, d, "items[0].owner");
    json_decref(d);
    st = call(c, "POST", "/v1/items", "{not json", &d);
    CHECK(st == 400);
    check_error(c, d, NULL);
    json_decref(d);
    st = call(c, "POST", "/v1/items", "[]", &d);
    CHECK(st == 400);
    json_decref(d);
    st = call(c, "POST", "/v1/items", "\"a string\"", &d);
    CHECK(st == 400);
    json_decref(d);

    /* the guard runs on every mutating route, and only there */
    static const char *const mutating[][2] = {
        {"POST", "/v1/items"},
        {"POST", "/v1/owners/1/retry"},
        {"POST", "/v1/items/1/regenerate"},
        {"POST", "/posts/1/regenerate_tags"},
        {"POST", "/users/1/posts/retry_tagging"},
        {"POST", "/v1/tasks"},
        {"POST", "/v1/tasks/tags/versions"},
        {"POST", "/v1/tasks/tags/versions/1/activate"},
    };
    g_extra_header = "X-Deny: 1";
    for (size_t i = 0; i < sizeof mutating / sizeof mutating[0]; i++) {
        st = call(c, mutating[i][0], mutating[i][1], "{}", &d);
        CHECK(st == 401);
        json_decref(d);
    }
    st = call(c, "GET", "/v1/owners/1/stats", NULL, &d);
    CHECK(st == 200);
    json_decref(d);
    st = call(c, "GET", "/v1/tasks", NULL, &d);
    CHECK(st == 200);
    json_decref(d);
    g_extra_header = NULL;

    /* one item, with history (empty) */
    char path[128];
    snprintf(path, sizeof path, "/v1/items/%lld", (long long)id_a);
    st = call(c, "GET", path, NULL, &d);
    CHECK(st == 200);
    CHECK(streq(gets_(d, "owner"), "1") && streq(gets_(d, "external_id"), "a"));
    CHECK(streq(gets_(d, "text"), "hello world")); /* the re-import left it as it was */
    CHECK(streq(gets_(d, "status"), "pending"));
    CHECK(json_is_array(json_object_get(d, "history")));
    CHECK(json_is_null(json_object_get(d, "result")));
    CHECK(json_is_string(json_object_get(d, "created_at")));
    CHECK(json_is_null(json_object_get(d, "last_attempt_at")));
    json_decref(d);
    snprintf(path, sizeof path, "/posts/%lld", (long long)id_a);
    st = call(c, "GET", path, NULL, &d);
    CHECK(st == 200);
    CHECK(streq(gets_(d, "tagging_status"), "pending") && geti(d, "tagging_attempts") == 0);
    CHECK(json_is_array(json_object_get(d, "tags")) && geti(d, "user_id") == 1);
    json_decref(d);
    st = call(c, "GET", "/v1/items/999999", NULL, &d);
    CHECK(st == 404);
    json_decref(d);
    st = call(c, "GET", "/v1/items/abc", NULL, &d);
    CHECK(st == 404);
    json_decref(d);

    /* pages with a cursor */
    st = call(c, "GET", "/v1/owners/1/items?limit=2", NULL, &d);
    CHECK(st == 200);
    CHECK(json_array_size(json_object_get(d, "data")) == 2);
    json_int_t next = geti(d, "next_after");
    CHECK(next > 0);
    json_decref(d);
    snprintf(path, sizeof path, "/v1/owners/1/items?limit=2&after=%lld", (long long)next);
    st = call(c, "GET", path, NULL, &d);
    CHECK(st == 200);
    CHECK(json_array_size(json_object_get(d, "data")) == 1);
    CHECK(json_is_null(json_object_get(d, "next_after")));
    CHECK(geti(json_array_get(json_object_get(d, "data"), 0), "id") == id_blank);
    json_decref(d);
    st = call(c, "GET", "/v1/owners/1/items?status=skipped", NULL, &d);
    CHECK(st == 200 && json_array_size(json_object_get(d, "data")) == 1);
    json_decref(d);
    st = call(c, "GET", "/users/1/posts?limit=10", NULL, &d);
    CHECK(st == 200 && json_array_size(json_object_get(d, "posts")) == 3);
    CHECK(geti(d, "user_id") == 1);
    json_decref(d);
    st = call(c, "GET", "/v1/owners/1/items?status=bogus", NULL, &d);
    CHECK(st == 400);
    check_error(c, d, "status");
    json_decref(d);
    st = call(c, "GET", "/v1/owners/1/items?limit=0", NULL, &d);
    CHECK(st == 400);
    check_error(c, d, "limit");
    json_decref(d);
    st = call(c, "GET", "/v1/owners/1/items?after=-3", NULL, &d);
    CHECK(st == 400);
    json_decref(d);

    /* stats in both forms */
    st = call(c, "GET", "/v1/owners/1/stats", NULL, &d);
    CHECK(st == 200);
    CHECK(streq(gets_(d, "owner"), "1") && geti(d, "total") == 3 && geti(d, "with_result") == 0);
    CHECK(geti(d, "without_result") == 3 && geti(d, "need_retry") == 0);
    CHECK(geti(json_object_get(d, "by_status"), "pending") == 2);
    CHECK(geti(json_object_get(d, "by_status"), "skipped") == 1);
    CHECK(json_is_true(json_object_get(d, "enabled")) && geti(d, "max_attempts") == 7);
    json_decref(d);
    st = call(c, "GET", "/users/1/posts/tagging_stats", NULL, &d);
    CHECK(st == 200);
    CHECK(geti(d, "user_id") == 1 && geti(d, "total_posts") == 3 &&
          geti(d, "posts_with_tags") == 0);
    CHECK(geti(d, "posts_without_tags") == 3 && geti(d, "posts_need_retry") == 0);
    CHECK(json_object_size(json_object_get(d, "stats_by_status")) == 6);
    CHECK(json_is_true(json_object_get(d, "tagging_enabled")) &&
          geti(d, "max_retry_attempts") == 7);
    json_decref(d);
    st = call(c, "GET", "/v1/owners/nobody/stats", NULL, &d);
    CHECK(st == 200 && geti(d, "total") == 0);
    json_decref(d);

    /* retry and regenerate */
    st = call(c, "POST", "/v1/owners/1/retry?limit=1", NULL, &d);
    CHECK(st == 202);
    CHECK(streq(gets_(d, "status"), "queued") && streq(gets_(d, "owner"), "1"));
    CHECK(json_is_false(json_object_get(d, "force")) && geti(d, "limit") == 1);
    CHECK(geti(d, "selected") == 1);
    json_decref(d);
    st = call(c, "POST", "/v1/owners/1/retry?force=true", NULL, &d);
    CHECK(st == 202 && json_is_true(json_object_get(d, "force")) && geti(d, "limit") == 50);
    CHECK(geti(d, "selected") == 2);
    json_decref(d);
    st = call(c, "POST", "/users/1/posts/retry_tagging?force=0&limit=5", NULL, &d);
    CHECK(st == 202 && geti(d, "user_id") == 1 && geti(d, "selected") == 2);
    json_decref(d);
    st = call(c, "POST", "/v1/owners/1/retry?force=maybe", NULL, &d);
    CHECK(st == 400);
    check_error(c, d, "force");
    json_decref(d);
    snprintf(path, sizeof path, "/v1/items/%lld/regenerate", (long long)id_a);
    st = call(c, "POST", path, NULL, &d);
    CHECK(st == 202 && streq(gets_(d, "status"), "queued") && geti(d, "id") == id_a);
    json_decref(d);
    snprintf(path, sizeof path, "/posts/%lld/regenerate_tags", (long long)id_a);
    st = call(c, "POST", path, NULL, &d);
    CHECK(st == 202 && geti(d, "id") == id_a);
    json_decref(d);
    snprintf(path, sizeof path, "/v1/items/%lld/regenerate", (long long)id_blank);
    st = call(c, "POST", path, NULL, &d);
    CHECK(st == 409);
    json_decref(d);
    st = call(c, "POST", "/v1/items/424242/regenerate", NULL, &d);
    CHECK(st == 404);
    json_decref(d);

    /* tasks: the built-in one, a new task, a version, activation and rollback */
    st = call(c, "GET", "/v1/tasks", NULL, &d);
    CHECK(st == 200);
    json_t *t0 = json_array_get(json_object_get(d, "data"), 0);
    CHECK(streq(gets_(t0, "name"), "tags") && geti(t0, "active_version") == 1);
    json_decref(d);
    const char *spec = "{\"name\":\"summary\",\"system_prompt\":\"Summarise.\","
                       "\"user_template\":\"Text: {{text}}\",\"parser\":\"text\"}";
    st = call(c, "POST", "/v1/tasks", spec, &d);
    CHECK(st == 201 && geti(d, "version") == 1 && json_is_true(json_object_get(d, "active")));
    json_decref(d);
    st = call(c, "POST", "/v1/tasks", spec, &d);
    CHECK(st == 409);
    json_decref(d);
    st = call(c, "POST", "/v1/tasks/summary/versions",
              "{\"system_prompt\":\"Summarise briefly.\",\"user_template\":\"{{text}}\","
              "\"parser\":\"text\",\"response_format\":{\"type\":\"text\"}}",
              &d);
    CHECK(st == 201 && geti(d, "version") == 2 && json_is_false(json_object_get(d, "active")));
    json_decref(d);
    st = call(c, "POST", "/v1/tasks/summary/versions/2/activate", NULL, &d);
    CHECK(st == 200 && geti(d, "version") == 2 && json_is_true(json_object_get(d, "active")));
    json_decref(d);
    st = call(c, "GET", "/v1/tasks/summary", NULL, &d);
    CHECK(st == 200 && geti(d, "version") == 2 &&
          streq(gets_(d, "system_prompt"), "Summarise briefly."));
    json_decref(d);
    st = call(c, "POST", "/v1/tasks/summary/versions/1/activate", NULL, &d); /* rollback */
    CHECK(st == 200 && geti(d, "version") == 1);
    json_decref(d);
    st = call(c, "GET", "/v1/tasks/summary/versions", NULL, &d);
    CHECK(st == 200 && geti(d, "active_version") == 1);
    CHECK(json_array_size(json_object_get(d, "data")) == 2);
    json_decref(d);
    st = call(c, "POST", "/v1/tasks/summary/versions/9/activate", NULL, &d);
    CHECK(st == 404);
    json_decref(d);
    st = call(c, "POST", "/v1/tasks/nosuch/versions", spec, &d);
    CHECK(st == 404);
    json_decref(d);
    st = call(c, "POST", "/v1/tasks",
              "{\"name\":\"bad\",\"system_prompt\":\"s\",\"user_template\":\"no placeholder\","
              "\"parser\":\"text\"}",
              &d);
    CHECK(st == 400);
    check_error(c, d, "user_template");
    json_decref(d);
    st = call(c, "POST", "/v1/tasks",
              "{\"name\":\"bad name!\",\"system_prompt\":\"s\","
              "\"user_template\":\"{{text}}\",\"parser\":\"text\"}",
              &d);
    CHECK(st == 400);
    check_error(c, d, "name");
    json_decref(d);
    st = call(c, "GET", "/v1/tasks/nosuch/versions", NULL, &d);
    CHECK(st == 404);
    json_decref(d);
    /* an item on the new task */
    st = call(c, "POST", "/v1/items", "{\"id\":\"s1\",\"text\":\"long text\",\"task\":\"summary\"}",
              &d);
    CHECK(st == 201 && geti(d, "inserted") == 1);
    json_decref(d);
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    script(c);
    uv_async_send(&c->stop);
    return NULL;
}

typedef struct {
    tx_http_server_t *srv;
    tx_storeq_t *q;
    int closed;
} loopstate_t;

static loopstate_t g_ls;

static void on_q_closed(void *ud)
{
    ((loopstate_t *)ud)->closed = 1;
}
static void on_stopped(tx_http_server_t *srv, void *ud)
{
    (void)srv;
    loopstate_t *ls = ud;
    tx__storeq_close(ls->q, on_q_closed, ls);
}

static void on_stop(uv_async_t *a)
{
    uv_close((uv_handle_t *)a, NULL);
    tx__http_server_stop(g_ls.srv, 1000, on_stopped, &g_ls);
}

static void routes_end_to_end(void **state)
{
    (void)state;
    char dir[] = "/tmp/tx-jobsapi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/api.db", dir);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tx_error_t err = {0};
    assert_int_equal(tx__storeq_open(&loop, url, 2, &g_ls.q, &err), TX_EOK);
    kick_t k = {0};
    tx_jobsapi_config_t cfg = {
        .storeq = g_ls.q, .kick = on_kick, .max_attempts = seven, .guard = guard, .ud = &k};
    tx_jobsapi_t *api = tx__jobsapi_new(&cfg);
    assert_non_null(api);
    tx_router_t *r = tx__router_new();
    assert_int_equal(tx__jobsapi_register(&api, r), TX_EOK);
    tx_http_config_t hc;
    tx__http_config_defaults(&hc);
    hc.handler = tx__router_handler;
    hc.handler_ud = r;
    g_ls.srv = tx__http_server_start(&loop, "127.0.0.1:0", &hc, &err);
    assert_non_null(g_ls.srv);
    client_t c = {0};
    snprintf(c.base, sizeof c.base, "http://%s", tx__http_server_address(g_ls.srv));
    assert_int_equal(uv_async_init(&loop, &c.stop, on_stop), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, &c), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    if (c.failures) fprintf(stderr, "%d failed checks; first: %s\n", c.failures, c.first_failure);
    assert_int_equal(c.failures, 0);
    assert_true(g_ls.closed);
    /* kicks: import, retry x3, regenerate x2, import on the new task */
    assert_int_equal(k.kicks, 7);
    tx__http_server_destroy(g_ls.srv);
    tx__router_destroy(r);
    tx__jobsapi_destroy(api);
    assert_int_equal(uv_loop_close(&loop), 0);
    char path[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/api.db%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void bad_arguments(void **state)
{
    (void)state;
    assert_null(tx__jobsapi_new(NULL));
    tx_jobsapi_config_t cfg = {0};
    assert_null(tx__jobsapi_new(&cfg));
    assert_int_equal(tx__jobsapi_register(NULL, NULL), TX_EINVAL);
    tx_jobsapi_t *none = NULL;
    tx_router_t *r = tx__router_new();
    assert_int_equal(tx__jobsapi_register(&none, r), TX_EINVAL);
    tx__router_destroy(r);
    assert_int_equal(tx__jobsapi_routes(NULL), TX_EINVAL);
    tx__jobsapi_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_end_to_end),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
