/* The job engine against a fake attempt port and a real SQLite file: items are worked through to
 * success/failed, quota pauses (persisted, items handed back without losing budget), a close with
 * an attempt in flight gives the item back due with its attempt counted, the transition table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "jobs/engine.h"

/* ---- a fake port: answers on a timer according to the user text -------------------------- */

typedef struct fake_att {
    uv_timer_t t;
    tx_jobs_attempt_cb done;
    void *ud;
    char kind[16];
} fake_att_t;

typedef struct {
    uv_loop_t *loop;
    int started, answered, cancelled;
} fake_t;

static void fake_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fake_fire(uv_timer_t *t)
{
    fake_att_t *a = t->data;
    fake_t *f = t->loop->data;
    tx_jobs_attempt_t r;
    memset(&r, 0, sizeof r);
    const char *body;
    int status;
    if (strcmp(a->kind, "500") == 0) {
        status = 500;
        body = "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}";
    } else if (strcmp(a->kind, "quota") == 0) {
        status = 429;
        body = "{\"error\":{\"message\":\"You exceeded your current quota\",\"type\":"
               "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}";
    } else {
        status = 200;
        body = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
               "\"[\\\"alpha\\\",\\\"beta\\\"]\"},\"finish_reason\":\"stop\"}]}";
    }
    tx_classify_response(status, NULL, 0, body, strlen(body), TX_RESP_CHAT, 0, &r.c);
    r.status = status;
    r.body = body;
    r.len = strlen(body);
    r.latency_ms = 1;
    r.endpoint = "0";
    f->answered++;
    tx_jobs_attempt_cb cb = a->done;
    void *ud = a->ud;
    uv_close((uv_handle_t *)&a->t, fake_closed);
    cb(ud, &r);
}

static void *fake_start(void *self, const char *model, const char *body, size_t len,
                        long timeout_ms, int avoid, tx_jobs_attempt_cb done, void *ud,
                        tx_classification_t *why)
{
    (void)avoid;
    (void)len;
    (void)model;
    (void)why;
    (void)timeout_ms;
    fake_t *f = self;
    fake_att_t *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->done = done;
    a->ud = ud;
    snprintf(a->kind, sizeof a->kind, "%s",
             strstr(body, "FAIL500") ? "500"
             : strstr(body, "QUOTA") ? "quota"
             : strstr(body, "SLOW")  ? "slow"
                                     : "ok");
    uv_timer_init(f->loop, &a->t);
    a->t.data = a;
    uv_timer_start(&a->t, fake_fire, strcmp(a->kind, "slow") == 0 ? 3600 * 1000 : 0, 0);
    f->started++;
    return a;
}

static void fake_cancel(void *self, void *handle)
{
    fake_t *f = self;
    fake_att_t *a = handle;
    f->cancelled++;
    uv_timer_stop(&a->t);
    uv_close((uv_handle_t *)&a->t, fake_closed);
}

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct {
    char dir[64];
    char url[128];
    uv_loop_t loop;
    fake_t fake;
    tx_config_t *cfg;
    tx_jobs_t *e;
    int idle_seen, paused_seen, closed;
    int items_done[TX_ITEM__LAST];
    uv_timer_t watch;
} fx_t;

static tx_config_t *config(void)
{
    static char *envp[] = {NULL};
    tx_config_env_t env = {tx__config_envp_lookup, envp};
    const char *kv = "{\"AI_BASE_URLS\":[\"http://127.0.0.1:9/v1\"],\"AI_RETRY_DELAY_MS\":0,"
                     "\"JOB_MAX_ATTEMPTS\":3,\"JOB_BATCH_SIZE\":4,\"AI_MAX_CONCURRENCY\":2}";
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__config_load_text(&env, kv, strlen(kv), &cfg, &err), TX_EOK);
    return cfg;
}

static void import(fx_t *fx, const char *const *texts, size_t n)
{
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(fx->url, &s, &err), TX_EOK);
    tx_item_input_t in[64];
    char ids[64][24];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "%zu", i + 1);
        in[i] = (tx_item_input_t){
            .owner = "o", .external_id = ids[i], .task = "tags", .text = texts[i]};
    }
    tx_import_result_t res = {0};
    assert_int_equal(tx__store_import(s, in, n, 1000, &res, &err), TX_EOK);
    tx__import_result_free(&res);
    tx__store_close(s);
}

static void on_closed(void *ud)
{
    ((fx_t *)ud)->closed = 1;
}

static void on_item(void *ud, tx_item_status_t st)
{
    ((fx_t *)ud)->items_done[st]++;
}

static void on_idle(void *ud, const tx_jobs_idle_t *idle)
{
    fx_t *fx = ud;
    fx->idle_seen++;
    if (idle->paused) fx->paused_seen = 1;
    if (idle->paused || !idle->has_due) tx__jobs_close(fx->e, on_closed, fx);
}

static void setup(fx_t *fx)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/tx-jobs-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->url, sizeof fx->url, "sqlite:%s/j.db", fx->dir);
    uv_loop_init(&fx->loop);
    fx->loop.data = &fx->fake;
    fx->fake.loop = &fx->loop;
    fx->cfg = config();
}

static void start(fx_t *fx)
{
    tx_jobs_opts_t o = {.loop = &fx->loop,
                        .store_url = fx->url,
                        .cfg = fx->cfg,
                        .port = {fake_start, fake_cancel, NULL, &fx->fake},
                        .poll_ms = 50,
                        .seed = 42,
                        .on_item = on_item,
                        .on_idle = on_idle,
                        .ud = fx};
    tx_error_t err = {0};
    assert_int_equal(tx__jobs_open(&o, &fx->e, &err), TX_EOK);
}

static void teardown(fx_t *fx)
{
    assert_int_equal(fx->closed, 1);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    tx__config_unref(fx->cfg);
}

static tx_item_t get(fx_t *fx, int64_t id)
{
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(fx->url, &s, &err), TX_EOK);
    tx_item_t it;
    memset(&it, 0, sizeof it);
    assert_int_equal(tx__store_get(s, id, &it, &err), TX_EOK);
    tx__store_close(s);
    return it;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void works_items_through(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    const char *texts[] = {"one good",  "FAIL500 two",  "three good", "",
                           "four good", "FAIL500 five", "six good",   "  "};
    import(&fx, texts, 8);
    start(&fx);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx.items_done[TX_ITEM_SUCCESS], 4);
    assert_int_equal(fx.items_done[TX_ITEM_FAILED], 2);
    assert_int_equal(fx.fake.started, 4 + 2 * 3); /* failed ones used the budget of 3 */
    tx_item_t ok = get(&fx, 1), bad = get(&fx, 2), skip = get(&fx, 4);
    assert_int_equal(ok.status, TX_ITEM_SUCCESS);
    assert_string_equal(ok.result, "[\"alpha\",\"beta\"]");
    assert_int_equal(ok.attempts, 1);
    assert_int_equal(ok.n_history, 1);
    assert_int_equal(ok.history[0].cls, TX_CLASS_OK);
    assert_int_equal(bad.status, TX_ITEM_FAILED);
    assert_int_equal(bad.attempts, 3);
    assert_int_equal(bad.error_class, TX_CLASS_SERVER);
    assert_int_equal(bad.n_history, 3);
    assert_int_equal(bad.history[2].http_status, 500);
    assert_int_equal(skip.status, TX_ITEM_SKIPPED);
    assert_int_equal(skip.n_history, 0);
    tx__item_clear(&ok);
    tx__item_clear(&bad);
    tx__item_clear(&skip);
    teardown(&fx);
}

static void quota_pauses_and_keeps_budget(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    const char *texts[] = {"QUOTA a", "QUOTA b", "QUOTA c"};
    import(&fx, texts, 3);
    start(&fx);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx.paused_seen, 1);
    assert_true(fx.fake.started >= 1 && fx.fake.started <= 2); /* at most the two slots */
    for (int64_t id = 1; id <= 3; id++) {
        tx_item_t it = get(&fx, id);
        assert_int_equal(it.status, TX_ITEM_PENDING);
        assert_int_equal(it.attempts, 0);
        tx__item_clear(&it);
    }
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(fx.url, &s, NULL), TX_EOK);
    tx_pause_t p;
    assert_int_equal(tx__store_pause_get(s, &p, NULL), TX_EOK);
    assert_int_equal(p.paused, 1);
    assert_non_null(strstr(p.reason, "quota"));
    tx__store_close(s);
    teardown(&fx);
}

/* Another node pauses the shared store while this engine is idle: the next claim sees the pause
 * in the store and takes nothing (docs/jobs.md, issue 6: the pause is shared by all nodes). */
static void on_idle_then_pause_elsewhere(void *ud, const tx_jobs_idle_t *idle)
{
    fx_t *fx = ud;
    fx->idle_seen++;
    if (idle->paused) {
        fx->paused_seen = 1;
        tx__jobs_close(fx->e, on_closed, fx);
        return;
    }
    if (fx->idle_seen > 1) { /* not paused after the kick: fail in the test body */
        tx__jobs_close(fx->e, on_closed, fx);
        return;
    }
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(fx->url, &s, NULL), TX_EOK);
    assert_int_equal(tx__store_pause_set(s, 1, "quota (another node)", 1000, NULL), TX_EOK);
    tx__store_close(s);
    const char *texts[] = {"one good", "two good"};
    import(fx, texts, 2);
    tx__jobs_kick(fx->e);
}

static void pause_set_by_another_node_stops_claims(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    tx_jobs_opts_t o = {.loop = &fx.loop,
                        .store_url = fx.url,
                        .cfg = fx.cfg,
                        .port = {fake_start, fake_cancel, NULL, &fx.fake},
                        .poll_ms = 50,
                        .seed = 42,
                        .on_item = on_item,
                        .on_idle = on_idle_then_pause_elsewhere,
                        .ud = &fx};
    assert_int_equal(tx__jobs_open(&o, &fx.e, NULL), TX_EOK);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx.paused_seen, 1);
    assert_int_equal(fx.fake.started, 0);
    tx_item_t it = get(&fx, 1);
    assert_int_equal(it.status, TX_ITEM_PENDING);
    assert_int_equal(it.attempts, 0);
    tx__item_clear(&it);
    teardown(&fx);
}

static void watch_cb(uv_timer_t *t)
{
    fx_t *fx = t->data;
    if (fx->fake.started == 0) return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    tx__jobs_close(fx->e, on_closed, fx);
}

static void close_with_attempt_in_flight(void **state)
{
    (void)state;
    fx_t fx;
    setup(&fx);
    const char *texts[] = {"SLOW one"};
    import(&fx, texts, 1);
    start(&fx);
    uv_timer_init(&fx.loop, &fx.watch);
    fx.watch.data = &fx;
    uv_timer_start(&fx.watch, watch_cb, 1, 1);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx.fake.started, 1);
    assert_int_equal(fx.fake.cancelled, 1);
    assert_int_equal(fx.fake.answered, 0);
    tx_item_t it = get(&fx, 1);
    assert_int_equal(it.status, TX_ITEM_RETRYING); /* due again, attempt counted */
    assert_int_equal(it.attempts, 1);
    assert_int_equal(it.lease, 0);
    tx__item_clear(&it);
    teardown(&fx);
}

static void transition_table(void **state)
{
    (void)state;
    assert_true(tx__jobs_transition_ok(TX_ITEM_PENDING, TX_ITEM_PROCESSING));
    assert_true(tx__jobs_transition_ok(TX_ITEM_PROCESSING, TX_ITEM_SUCCESS));
    assert_true(tx__jobs_transition_ok(TX_ITEM_PROCESSING, TX_ITEM_RETRYING));
    assert_true(tx__jobs_transition_ok(TX_ITEM_PROCESSING, TX_ITEM_FAILED));
    assert_true(tx__jobs_transition_ok(TX_ITEM_PROCESSING, TX_ITEM_PENDING));
    assert_false(tx__jobs_transition_ok(TX_ITEM_SUCCESS, TX_ITEM_FAILED));
    assert_false(tx__jobs_transition_ok(TX_ITEM_SKIPPED, TX_ITEM_PROCESSING));
    assert_false(tx__jobs_transition_ok(TX_ITEM_PENDING, TX_ITEM_SUCCESS));
    assert_false(tx__jobs_transition_ok((tx_item_status_t)99, TX_ITEM_PENDING));
}

static void open_rejects_bad_input(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_jobs_t *e = (tx_jobs_t *)1;
    tx_error_t err = {0};
    assert_int_equal(tx__jobs_open(NULL, &e, &err), TX_EINVAL);
    assert_null(e);
    tx_config_t *cfg = config();
    fake_t f = {.loop = &loop};
    tx_jobs_opts_t o = {.loop = &loop,
                        .store_url = "sqlite:/nonexistent-dir/x/y.db",
                        .cfg = cfg,
                        .port = {fake_start, fake_cancel, NULL, &f}};
    assert_int_not_equal(tx__jobs_open(&o, &e, &err), TX_EOK);
    assert_null(e);
    assert_non_null(err.msg);
    tx__jobs_kick(NULL);
    tx__jobs_resume(NULL);
    tx__jobs_close(NULL, NULL, NULL);
    tx_jobs_stats_t st;
    tx__jobs_stats(NULL, &st);
    assert_int_equal(st.held, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    tx__config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(works_items_through),
        cmocka_unit_test(quota_pauses_and_keeps_budget),
        cmocka_unit_test(pause_set_by_another_node_stops_claims),
        cmocka_unit_test(close_with_attempt_in_flight),
        cmocka_unit_test(transition_table),
        cmocka_unit_test(open_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
