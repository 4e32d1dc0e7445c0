/* Config hot reload: a rewritten file is applied (once per change, through the owner's callback)
 * by the directory watch, by the poll fallback and by SIGHUP; a broken file is rejected whole,
 * configError says why and the last good snapshot stays; a good file clears the error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/watch.h"
#include "loop_fixture.h"

typedef struct {
    tx_config_t *cfg; /* what the owner holds now */
    int applied;
    int refuse; /* > 0: refuse that many snapshots (as a failed swap would) */
    int64_t last_old_conc;
} owner_t;

static tx_err_t apply(void *ud, tx_config_t *cfg, const tx_config_t *old)
{
    owner_t *o = ud;
    if (o->refuse > 0) {
        o->refuse--;
        tx__config_unref(cfg);
        return TX_ENOMEM;
    }
    o->last_old_conc = old->ai_max_concurrency;
    tx__config_unref(o->cfg);
    o->cfg = cfg;
    o->applied++;
    return TX_EOK;
}

static const char *const ENVP[] = {"AI_MODEL=env-model", NULL};
static const tx_config_env_t ENV = {tx__config_envp_lookup, (void *)ENVP};

typedef struct {
    owner_t *o;
    int want;
    tx_config_watch_t *w;
} wait_t;

static int applied_reached(void *ud)
{
    wait_t *c = ud;
    return c->o->applied >= c->want;
}

static int error_set(void *ud)
{
    wait_t *c = ud;
    return tx__config_watch_error(c->w)[0] != '\0';
}

static int error_clear(void *ud)
{
    wait_t *c = ud;
    return tx__config_watch_error(c->w)[0] == '\0';
}

static void closed(void *arg)
{
    ++*(int *)arg;
}

typedef struct {
    char dir[256], path[300];
    uv_loop_t loop;
    owner_t o;
    tx_config_watch_t *w;
} fixture_t;

static void setup_fixture(fixture_t *f, unsigned poll_ms, const char *first)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tx_watch_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/tenax.json", f->dir);
    write_file(f->path, first);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tx_error_t err = {0};
    assert_int_equal(tx__config_load(&ENV, f->path, &f->o.cfg, &err), TX_EOK);
    tx_config_watch_opts_t opts = {.loop = &f->loop,
                                   .path = f->path,
                                   .env = &ENV,
                                   .poll_ms = poll_ms,
                                   .debounce_ms = 20,
                                   .sighup = 1,
                                   .apply = apply,
                                   .ud = &f->o};
    f->w = tx__config_watch_start(&opts, f->o.cfg, &err);
    assert_non_null(f->w);
}

static void teardown_fixture(fixture_t *f)
{
    int n = 0;
    tx__config_watch_close(f->w, closed, &n);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(n, 1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tx__config_unref(f->o.cfg);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
    unlink(tmp);
    unlink(f->path);
    rmdir(f->dir);
}

static void file_change_applied_then_bad_file_rejected(void **state)
{
    (void)state;
    fixture_t f;
    /* A poll far beyond the deadlines: only the directory watch can see these changes. */
    setup_fixture(&f, 600000, "{\"AI_MAX_CONCURRENCY\": 4}");
    assert_int_equal(f.o.cfg->ai_max_concurrency, 4);
    assert_string_equal(tx__config_watch_error(f.w), "");

    write_file(f.path, "{\"AI_MAX_CONCURRENCY\": 8, \"CACHE_TTL_S\": 30}");
    wait_t c = {&f.o, 1, f.w};
    assert_true(run_until(&f.loop, applied_reached, &c, 5000));
    assert_int_equal(f.o.applied, 1);
    assert_int_equal(f.o.last_old_conc, 4);
    assert_int_equal(f.o.cfg->ai_max_concurrency, 8);
    assert_int_equal(f.o.cfg->cache_ttl_s, 30);
    assert_int_equal(f.o.cfg->source[TX_CFG_AI_MAX_CONCURRENCY], TX_CONFIG_SRC_KV);
    assert_string_equal(f.o.cfg->ai_model, "env-model");
    assert_ptr_equal(tx__config_watch_current(f.w), f.o.cfg);

    /* Broken JSON: rejected whole, the old values stay, configError says so. */
    write_file(f.path, "{\"AI_MAX_CONCURRENCY\": 16,");
    assert_true(run_until(&f.loop, error_set, &c, 5000));
    assert_int_equal(f.o.applied, 1);
    assert_int_equal(f.o.cfg->ai_max_concurrency, 8);

    /* Out of bounds: rejected too, with the key named. */
    write_file(f.path, "{\"AI_MAX_CONCURRENCY\": 0}");
    assert_int_equal(tx__config_watch_reload(f.w, "test"), TX_ERANGE);
    assert_non_null(strstr(tx__config_watch_error(f.w), "AI_MAX_CONCURRENCY"));
    assert_int_equal(f.o.cfg->ai_max_concurrency, 8);

    /* A good file clears the error and applies. */
    write_file(f.path, "{\"AI_MAX_CONCURRENCY\": 2, \"CACHE_TTL_S\": 30}");
    assert_true(run_until(&f.loop, error_clear, &c, 5000));
    c.want = 2;
    assert_true(run_until(&f.loop, applied_reached, &c, 5000));
    assert_int_equal(f.o.cfg->ai_max_concurrency, 2);
    assert_int_equal(f.o.last_old_conc, 8);
    teardown_fixture(&f);
}

static void same_values_are_not_applied(void **state)
{
    (void)state;
    fixture_t f;
    setup_fixture(&f, 600000, "{\"AI_RETRY_MAX\": 5}");
    /* Rewritten with the same values (other spacing): a load, nothing to apply. */
    write_file(f.path, "{ \"AI_RETRY_MAX\" : 5 }");
    assert_int_equal(tx__config_watch_reload(f.w, "test"), TX_EOK);
    assert_int_equal(f.o.applied, 0);
    assert_int_equal(tx__config_watch_applied(f.w), 0);
    assert_true(tx__config_watch_loaded_at(f.w) > 1700000000000LL);
    teardown_fixture(&f);
}

static void refused_snapshot_shows_and_is_retried(void **state)
{
    (void)state;
    fixture_t f;
    setup_fixture(&f, 600000, "{\"AI_RETRY_MAX\": 5}");
    tx_config_t *before = tx__config_watch_current(f.w);
    /* The owner cannot take the new snapshot (say the swap ran out of memory): the old one
     * stays in force and current, configError says why, nothing counts as applied. */
    f.o.refuse = 1;
    write_file(f.path, "{\"AI_RETRY_MAX\": 9}");
    assert_int_equal(tx__config_watch_reload(f.w, "test"), TX_ENOMEM);
    assert_non_null(strstr(tx__config_watch_error(f.w), "cannot apply"));
    assert_int_equal(f.o.applied, 0);
    assert_int_equal(tx__config_watch_applied(f.w), 0);
    assert_ptr_equal(tx__config_watch_current(f.w), before);
    assert_int_equal(f.o.cfg->ai_retry_max, 5);
    /* The same file again: tried again (it still differs from what is in force), applied. */
    assert_int_equal(tx__config_watch_reload(f.w, "test"), TX_EOK);
    assert_string_equal(tx__config_watch_error(f.w), "");
    assert_int_equal(f.o.applied, 1);
    assert_int_equal(f.o.cfg->ai_retry_max, 9);
    assert_ptr_equal(tx__config_watch_current(f.w), f.o.cfg);
    teardown_fixture(&f);
}

static void sighup_reloads(void **state)
{
    (void)state;
    fixture_t f;
    setup_fixture(&f, 600000, "{\"AI_RETRY_MAX\": 7}");
    /* The owner holds an older snapshot than the file (as if the file had changed unseen):
     * nothing but a reload can notice. */
    tx__config_watch_close(f.w, NULL, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    tx__config_unref(f.o.cfg);
    f.o.cfg = NULL;
    tx_error_t err = {0};
    const char *older = "{\"AI_RETRY_MAX\": 5}";
    assert_int_equal(tx__config_load_text(&ENV, older, strlen(older), &f.o.cfg, &err), TX_EOK);
    tx_config_watch_opts_t opts = {.loop = &f.loop,
                                   .path = f.path,
                                   .env = &ENV,
                                   .poll_ms = 600000,
                                   .debounce_ms = 20,
                                   .sighup = 1,
                                   .apply = apply,
                                   .ud = &f.o};
    f.w = tx__config_watch_start(&opts, f.o.cfg, &err);
    assert_non_null(f.w);
    wait_t c = {&f.o, 1, f.w};
    assert_false(run_until(&f.loop, applied_reached, &c, 100));
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(run_until(&f.loop, applied_reached, &c, 5000));
    assert_int_equal(f.o.cfg->ai_retry_max, 7);
    assert_int_equal(f.o.applied, 1);
    teardown_fixture(&f);
}

static void poll_fallback_sees_change(void **state)
{
    (void)state;
    fixture_t f;
    setup_fixture(&f, 100, "{\"AI_RETRY_MAX\": 5}");
    write_file(f.path, "{\"AI_RETRY_MAX\": 9}");
    wait_t c = {&f.o, 1, f.w};
    assert_true(run_until(&f.loop, applied_reached, &c, 5000));
    assert_int_equal(f.o.cfg->ai_retry_max, 9);
    /* The file removed: rejected (unreadable), last good config stays. */
    unlink(f.path);
    assert_true(run_until(&f.loop, error_set, &c, 5000));
    assert_int_equal(f.o.cfg->ai_retry_max, 9);
    teardown_fixture(&f);
}

static void bad_arguments(void **state)
{
    (void)state;
    tx_error_t err = {0};
    assert_null(tx__config_watch_start(NULL, NULL, &err));
    assert_int_equal(err.code, TX_EINVAL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tx_config_watch_opts_t o = {.loop = &loop, .path = "", .apply = apply};
    tx_config_t *cfg = NULL;
    assert_int_equal(tx__config_load_text(&ENV, NULL, 0, &cfg, &err), TX_EOK);
    assert_null(tx__config_watch_start(&o, cfg, &err));
    o.path = "/tmp/";
    assert_null(tx__config_watch_start(&o, cfg, NULL));
    tx__config_watch_close(NULL, NULL, NULL);
    assert_int_equal(tx__config_watch_reload(NULL, "x"), TX_EINVAL);
    assert_string_equal(tx__config_watch_error(NULL), "");
    tx__config_unref(cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_change_applied_then_bad_file_rejected),
        cmocka_unit_test(same_values_are_not_applied),
        cmocka_unit_test(refused_snapshot_shows_and_is_retried),
        cmocka_unit_test(sighup_reloads),
        cmocka_unit_test(poll_fallback_sees_change),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
