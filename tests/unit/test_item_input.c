/* POST /v1/items bodies: defaults, numbers as strings, skipped blanks left to the store, and
 * every broken rule naming the field and the index. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/item_input.h"

static int parse(const char *body, tx_item_batch_t *b, char *param, char *msg)
{
    return tx__item_batch_parse(body, body ? strlen(body) : 0, b, param, 64, msg, 256);
}

static void good_bodies(void **state)
{
    (void)state;
    tx_item_batch_t b;
    char param[64], msg[256];
    assert_int_equal(parse("{\"owner\":\"1\",\"id\":\"391\",\"text\":\"hi\",\"task\":\"t.v-1\"}",
                           &b, param, msg),
                     TX_EOK);
    assert_int_equal(b.n, 1);
    assert_true(b.single);
    assert_string_equal(b.items[0].owner, "1");
    assert_string_equal(b.items[0].external_id, "391");
    assert_string_equal(b.items[0].text, "hi");
    assert_string_equal(b.items[0].task, "t.v-1");
    tx__item_batch_free(&b);
    assert_null(b.items);

    assert_int_equal(parse("[{\"owner\":7,\"id\":-3},{\"id\":\"x\",\"text\":null,\"task\":null,"
                           "\"extra\":[1]}]",
                           &b, param, msg),
                     TX_EOK);
    assert_int_equal(b.n, 2);
    assert_false(b.single);
    assert_string_equal(b.items[0].owner, "7");
    assert_string_equal(b.items[0].external_id, "-3");
    assert_string_equal(b.items[0].text, "");
    assert_string_equal(b.items[0].task, "tags");
    assert_string_equal(b.items[1].owner, "default");
    tx__item_batch_free(&b);
    tx__item_batch_free(NULL);
}

static void bad_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc;
        const char *param;
    } cases[] = {
        {"{\"id\":", TX_EPARSE, ""},
        {"", TX_EPARSE, ""},
        {"\"str\"", TX_EPARSE, ""},
        {"[]", TX_EINVAL, ""},
        {"{\"text\":\"no id\"}", TX_EINVAL, "id"},
        {"[{\"id\":\"a\"},{\"text\":\"t\"}]", TX_EINVAL, "items[1].id"},
        {"[{\"id\":\"a\"},5]", TX_EINVAL, "items[1]"},
        {"{\"id\":\"\"}", TX_EINVAL, "id"},
        {"{\"id\":1.5}", TX_EINVAL, "id"},
        {"{\"id\":\"a\\u0000b\"}", TX_EPARSE, ""}, /* jansson refuses NUL */
        {"{\"id\":\"a\",\"owner\":true}", TX_EINVAL, "owner"},
        {"{\"id\":\"a\",\"text\":{}}", TX_EINVAL, "text"},
        {"{\"id\":\"a\",\"text\":\"a\\u0000\"}", TX_EPARSE, ""},
        {"{\"id\":\"a\",\"task\":\"no spaces\"}", TX_EINVAL, "task"},
        {"{\"id\":\"a\",\"task\":\"\"}", TX_EINVAL, "task"},
        {"[{\"id\":\"a\",\"task\":7}]", TX_EINVAL, "items[0].task"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tx_item_batch_t b;
        char param[64], msg[256];
        int rc = parse(cases[i].body, &b, param, msg);
        if (rc != cases[i].rc || strcmp(param, cases[i].param) != 0)
            fail_msg("case %zu (%s): rc %d param '%s' msg '%s'", i, cases[i].body, rc, param, msg);
        assert_true(msg[0] != '\0');
        assert_null(b.items);
        assert_null(b.doc);
    }
    tx_item_batch_t b;
    assert_int_equal(tx__item_batch_parse(NULL, 0, &b, NULL, 0, NULL, 0), TX_EPARSE);
    assert_int_equal(tx__item_batch_parse("{}", 2, NULL, NULL, 0, NULL, 0), TX_EINVAL);
    /* a long id: 256 bytes pass, 257 do not */
    char body[400];
    char id[258];
    memset(id, 'x', 257);
    id[257] = 0;
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    char param[64], msg[256];
    assert_int_equal(parse(body, &b, param, msg), TX_EINVAL);
    id[256] = 0;
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    assert_int_equal(parse(body, &b, param, msg), TX_EOK);
    tx__item_batch_free(&b);
}

static void batch_limit(void **state)
{
    (void)state;
    size_t n = TX_ITEM_BATCH_MAX + 1;
    char *body = malloc(n * 12 + 8);
    assert_non_null(body);
    size_t off = 0;
    body[off++] = '[';
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(body + off, 16, "%s{\"id\":1}", i ? "," : "");
    body[off++] = ']';
    body[off] = 0;
    tx_item_batch_t b;
    char param[64], msg[256];
    assert_int_equal(parse(body, &b, param, msg), TX_EINVAL);
    assert_non_null(strstr(msg, "1..10000"));
    free(body);
}

static void task_names(void **state)
{
    (void)state;
    assert_true(tx__task_name_valid("tags"));
    assert_true(tx__task_name_valid("a_b-c.d9"));
    assert_false(tx__task_name_valid(NULL));
    assert_false(tx__task_name_valid(""));
    assert_false(tx__task_name_valid("a/b"));
    assert_false(tx__task_name_valid("é"));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = 0;
    assert_false(tx__task_name_valid(long_name));
    long_name[64] = 0;
    assert_true(tx__task_name_valid(long_name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_bodies),
        cmocka_unit_test(bad_bodies),
        cmocka_unit_test(batch_limit),
        cmocka_unit_test(task_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
