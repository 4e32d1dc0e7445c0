/* The ops plug-in on a real app (no store, no listener): diag carries every documented field and
 * the job engine's status, a config file change is applied to the app (admission limits, endpoints)
 * and reported to the job engine, a broken file shows in configError, and the stop hook closes
 * everything (the loop ends with no handle left). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"
#include "app/app.h"
#include "loop_fixture.h"

typedef struct {
    int paused, resumed, changed;
    int64_t last_conc;
} fake_jobs_t;

static json_t *jobs_status(void *ud)
{
    fake_jobs_t *j = ud;
    return json_pack("{s:b,s:s?,s:{s:i,s:i}}", "paused", j->paused, "pauseReason",
                     j->paused ? "quota" : NULL, "counts", "pending", 3, "success", 5);
}

static int jobs_resume(void *ud)
{
    fake_jobs_t *j = ud;
    int was = j->paused;
    j->paused = 0;
    j->resumed++;
    return was ? 0 : 1;
}

static void jobs_config(void *ud, tx_config_t *cfg)
{
    fake_jobs_t *j = ud;
    j->changed++;
    j->last_conc = cfg->ai_max_concurrency;
}

typedef struct {
    fake_jobs_t *j;
    tx_app_t *app;
} ctx_t;

static int changed_once(void *ud)
{
    return ((ctx_t *)ud)->j->changed >= 1;
}

static int has_error(void *ud)
{
    json_t *d = tx__ops_diag_json(((ctx_t *)ud)->app);
    int ok = json_is_string(json_object_get(d, "configError"));
    json_decref(d);
    return ok;
}

static void on_stopped(tx_app_t *app, void *ud)
{
    (void)app;
    ++*(int *)ud;
}

static void ops_on_an_app(void **state)
{
    (void)state;
    char dir[] = "/tmp/tx_ops_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/tenax.json", dir);
    write_file(path, "{\"AI_MAX_CONCURRENCY\": 3, \"AI_BASE_URLS\": [\"http://127.0.0.1:9/v1\"]}");
    static const char *const envp[] = {"AI_RETRY_MAX=5", NULL};
    tx_config_env_t env = {tx__config_envp_lookup, (void *)envp};
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__config_load(&env, path, &cfg, &err), TX_EOK);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tx_app_opts_t ao = {0};
    tx_app_t *app = tx__app_new(&loop, cfg, &ao, &err);
    assert_non_null(app);
    tx__config_unref(cfg);

    /* Before start: no observer, diag still answers. */
    assert_null(tx__ops_obs(app));
    json_t *d = tx__ops_diag_json(app);
    assert_non_null(d);
    json_decref(d);

    fake_jobs_t j = {.paused = 1};
    tx_ops_jobs_t hooks = {jobs_status, jobs_resume, jobs_config, &j};
    assert_int_equal(tx__ops_set_jobs(app, &hooks), TX_EOK);
    assert_int_equal(tx__ops_start(app), TX_EOK);
    assert_int_equal(tx__ops_start(app), TX_EINVAL); /* once */
    assert_non_null(tx__ops_obs(app));

    d = tx__ops_diag_json(app);
    static const char *const fields[] = {"maxConcurrency",
                                         "maxQueue",
                                         "requestTimeoutMs",
                                         "retryMax",
                                         "endpointFailoverThreshold",
                                         "sources",
                                         "activeBaseUrl",
                                         "backupBaseUrls",
                                         "failoverCounts",
                                         "endpoints",
                                         "inFlight",
                                         "queued",
                                         "droppedSinceBoot",
                                         "avgWaitMs",
                                         "jobs",
                                         "configError",
                                         "configLoadedAt",
                                         "providers",
                                         NULL};
    for (int i = 0; fields[i] != NULL; i++)
        assert_non_null(json_object_get(d, fields[i]));
    assert_int_equal(json_integer_value(json_object_get(d, "maxConcurrency")), 3);
    assert_int_equal(json_integer_value(json_object_get(d, "retryMax")), 5);
    json_t *src = json_object_get(d, "sources");
    assert_string_equal(json_string_value(json_object_get(src, "maxConcurrency")), "kv");
    assert_string_equal(json_string_value(json_object_get(src, "retryMax")), "env");
    assert_null(json_object_get(src, "AI_MAX_CONCURRENCY")); /* keyed by the field, once */
    assert_string_equal(json_string_value(json_object_get(src, "baseUrls")), "kv");
    json_t *jobs = json_object_get(d, "jobs");
    assert_true(json_is_true(json_object_get(jobs, "paused")));
    assert_string_equal(json_string_value(json_object_get(jobs, "pauseReason")), "quota");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(jobs, "counts"), "success")), 5);
    assert_true(json_is_null(json_object_get(d, "configError")));
    json_decref(d);

    /* A change in the file reaches the app and the job engine. */
    write_file(path, "{\"AI_MAX_CONCURRENCY\": 9, \"AI_BASE_URLS\": [\"http://127.0.0.1:10/v1\","
                     " \"http://127.0.0.1:9/v1\"]}");
    ctx_t c = {&j, app};
    assert_true(run_until(&loop, changed_once, &c, 5000));
    assert_int_equal(j.last_conc, 9);
    assert_int_equal(j.resumed, 1); /* a config change resumes paused job work */
    assert_int_equal(j.paused, 0);
    assert_int_equal(app->config->ai_max_concurrency, 9);
    tx_adm_stats_t st;
    tx__admission_stats(app->admission, &st);
    assert_int_equal(st.max_inflight, 9);
    assert_int_equal(tx__endpoints_count(app->endpoints), 2);
    d = tx__ops_diag_json(app);
    assert_string_equal(json_string_value(json_object_get(d, "activeBaseUrl")),
                        "http://127.0.0.1:10/v1");
    json_decref(d);

    /* A broken file: configError, the app keeps 9. */
    write_file(path, "[1,");
    assert_true(run_until(&loop, has_error, &c, 5000));
    assert_int_equal(app->config->ai_max_concurrency, 9);

    int stopped = 0;
    tx__app_stop(app, on_stopped, &stopped);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(stopped, 1);
    assert_null(app->ops);
    assert_null(tx__ops_obs(app));
    tx__app_destroy(app);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(ops_on_an_app)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
