/* The router (server/router.h): patterns with {param}, 404 vs 405 with Allow, HEAD via GET,
 * percent-decoding of params and query strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/router.h"

static void fn_a(tx_http_req_t *r, void *ud)
{
    (void)r;
    (void)ud;
}

static const tx_route_t table[] = {
    {"GET", "/v1/items/{id}", fn_a},
    {"POST", "/v1/items/{id}/regenerate", fn_a},
    {"GET", "/v1/owners/{owner}/items", fn_a},
    {"POST", "/v1/items", fn_a},
    {"GET", "/v1/models", fn_a},
    {"DELETE", "/v1/models", fn_a},
    {NULL, NULL, NULL},
};

static tx_router_t *make(void)
{
    tx_router_t *r = tx__router_new();
    assert_non_null(r);
    assert_int_equal(tx__router_add_table(r, table, NULL), TX_EOK);
    return r;
}

static void matches_params(void **state)
{
    (void)state;
    tx_router_t *r = make();
    char *names[4], *values[4], allow[64];
    size_t idx = 99, n = 0;
    assert_int_equal(tx__router_match(r, "POST", "/v1/items/a%2Fb%20c/regenerate", &idx, names,
                                      values, 4, &n, allow, sizeof allow),
                     200);
    assert_int_equal(idx, 1);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "id");
    assert_string_equal(values[0], "a/b c");
    tx__router_free_params(names, values, n);
    assert_int_equal(tx__router_match(r, "GET", "/v1/owners/42/items", &idx, names, values, 4, &n,
                                      allow, sizeof allow),
                     200);
    assert_int_equal(idx, 2);
    assert_string_equal(values[0], "42");
    tx__router_free_params(names, values, n);
    /* HEAD is served by GET */
    assert_int_equal(tx__router_match(r, "HEAD", "/v1/models", &idx, NULL, NULL, 0, &n, NULL, 0),
                     200);
    assert_int_equal(idx, 4);
    tx__router_destroy(r);
}

static void not_found_and_not_allowed(void **state)
{
    (void)state;
    tx_router_t *r = make();
    char allow[64];
    size_t n;
    assert_int_equal(
        tx__router_match(r, "GET", "/v1/nope", NULL, NULL, NULL, 0, &n, allow, sizeof allow), 404);
    assert_int_equal(tx__router_match(r, "GET", "/v1/items/1/regenerate/x", NULL, NULL, NULL, 0, &n,
                                      allow, sizeof allow),
                     404);
    assert_int_equal(tx__router_match(r, "GET", "/v1/items//regenerate", NULL, NULL, NULL, 0, &n,
                                      allow, sizeof allow),
                     404);
    assert_int_equal(
        tx__router_match(r, "PUT", "/v1/models", NULL, NULL, NULL, 0, &n, allow, sizeof allow),
        405);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(
        tx__router_match(r, "GET", "/v1/items", NULL, NULL, NULL, 0, &n, allow, sizeof allow), 405);
    assert_string_equal(allow, "POST");
    /* bad percent-encoding in a param */
    char *names[2], *values[2];
    assert_int_equal(tx__router_match(r, "GET", "/v1/items/%zz", NULL, names, values, 2, &n, allow,
                                      sizeof allow),
                     400);
    assert_int_equal(tx__router_match(r, "GET", "/v1/items/%00", NULL, names, values, 2, &n, allow,
                                      sizeof allow),
                     400);
    assert_int_equal(tx__router_match(r, "GET", "no-slash", NULL, NULL, NULL, 0, &n, NULL, 0), 404);
    assert_int_equal(tx__router_match(r, "GET", NULL, NULL, NULL, NULL, 0, &n, NULL, 0), 404);
    tx__router_destroy(r);
}

static void bad_patterns(void **state)
{
    (void)state;
    tx_router_t *r = tx__router_new();
    assert_int_equal(tx__router_add(r, "GET", "no-slash", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/a/{}/b", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/a/{x", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/a//b", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/a/x{y}", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/a", NULL, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(NULL, "GET", "/a", fn_a, NULL), TX_EINVAL);
    assert_int_equal(tx__router_add(r, "GET", "/", fn_a, NULL), TX_EOK);
    size_t n;
    assert_int_equal(tx__router_match(r, "GET", "/", NULL, NULL, NULL, 0, &n, NULL, 0), 200);
    tx__router_destroy(r);
    tx__router_destroy(NULL);
}

static void query_strings(void **state)
{
    (void)state;
    tx_query_t *q = tx__query_parse("status=failed&limit=10&name=a+b%2Bc&flag&&empty=&status=x");
    assert_non_null(q);
    assert_string_equal(tx__query_get(q, "status"), "failed"); /* first wins */
    assert_string_equal(tx__query_get(q, "limit"), "10");
    assert_string_equal(tx__query_get(q, "name"), "a b+c");
    assert_string_equal(tx__query_get(q, "flag"), "");
    assert_string_equal(tx__query_get(q, "empty"), "");
    assert_null(tx__query_get(q, "absent"));
    assert_int_equal(tx__query_count(q), 6);
    tx__query_free(q);
    q = tx__query_parse("");
    assert_non_null(q);
    assert_int_equal(tx__query_count(q), 0);
    tx__query_free(q);
    q = tx__query_parse(NULL);
    assert_non_null(q);
    tx__query_free(q);
    assert_null(tx__query_parse("a=%G1"));
    assert_null(tx__query_parse("a=%4"));
    assert_null(tx__query_parse("a=%00"));
    tx__query_free(NULL);
    char *s = tx__url_decode("caf%C3%A9%21", 12, 0);
    assert_string_equal(s, "caf\xc3\xa9!");
    free(s);
    s = tx__url_decode("a+b", 3, 0);
    assert_string_equal(s, "a+b"); /* '+' is literal in paths */
    free(s);
    assert_null(tx__url_decode(NULL, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_params),
        cmocka_unit_test(not_found_and_not_allowed),
        cmocka_unit_test(bad_patterns),
        cmocka_unit_test(query_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
