/* The free-list (core/freelist.h) the gateway's spares are made of: a bounded stack that hands
 * back what was put, refuses past its bound, frees what it holds when cleared; on an app, the lists
 * hang on app->gateway until the stop hook frees them (LeakSanitizer checks nothing is lost). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/spares.h"

static int destroyed;

static void count_free(void *p)
{
    destroyed++;
    free(p);
}

static void take_put_clear(void **state)
{
    (void)state;
    tx__freelist_t s = {.destroy = count_free, .max = TX_SPARES_MAX};
    assert_null(tx__freelist_take(&s));
    assert_null(tx__freelist_take(NULL));
    assert_int_equal(tx__freelist_put(NULL, &s), 0);
    assert_int_equal(tx__freelist_put(&s, NULL), 0);
    void *a = malloc(8), *b = malloc(8);
    assert_int_equal(tx__freelist_put(&s, a), 1);
    assert_int_equal(tx__freelist_put(&s, b), 1);
    assert_ptr_equal(tx__freelist_take(&s), b); /* last in, first out */
    assert_ptr_equal(tx__freelist_take(&s), a);
    assert_null(tx__freelist_take(&s));
    /* full: the caller keeps what is refused */
    void *held[TX_SPARES_MAX];
    for (int i = 0; i < TX_SPARES_MAX; i++) {
        held[i] = i == 0 ? a : i == 1 ? b : malloc(8);
        assert_int_equal(tx__freelist_put(&s, held[i]), 1);
    }
    void *extra = malloc(8);
    assert_int_equal(tx__freelist_put(&s, extra), 0);
    free(extra);
    destroyed = 0;
    tx__freelist_clear(&s);
    assert_int_equal(destroyed, TX_SPARES_MAX);
    assert_int_equal(s.n, 0);
    assert_null(tx__freelist_take(&s));
    tx__freelist_clear(NULL);
}

static int hook_done_calls;

static void hook_done(tx_app_t *app)
{
    (void)app;
    hook_done_calls++;
}

static void on_an_app(void **state)
{
    (void)state;
    tx_app_t app;
    memset(&app, 0, sizeof app);
    assert_int_equal(tx__gw_spares_start(NULL, count_free), TX_EINVAL);
    assert_int_equal(tx__gw_spares_start(&app, NULL), TX_EINVAL);
    assert_null(tx__gw_spares(&app));
    assert_null(tx__gw_spares(NULL));
    assert_int_equal(tx__gw_spares_start(&app, count_free), TX_EOK);
    tx_gw_spares_t *g = tx__gw_spares(&app);
    assert_non_null(g);
    assert_int_equal(tx__gw_spares_start(&app, count_free), TX_EINVAL); /* once per app */
    assert_int_equal(app.nstop_hooks, 1);
    assert_int_equal(tx__freelist_put(&g->calls, malloc(16)), 1);
    assert_int_equal(tx__freelist_put(&g->attempts, malloc(16)), 1);
    assert_int_equal(tx__freelist_put(&g->attempts, malloc(16)), 1);
    /* the stop: the lists are freed (attempts through their destroy function) and gone */
    destroyed = 0;
    hook_done_calls = 0;
    app.stop_hooks[0].fn(&app, app.stop_hooks[0].ud, hook_done);
    assert_int_equal(destroyed, 2);
    assert_int_equal(hook_done_calls, 1);
    assert_null(tx__gw_spares(&app));
    assert_null(app.gateway);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(take_put_clear),
        cmocka_unit_test(on_an_app),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
