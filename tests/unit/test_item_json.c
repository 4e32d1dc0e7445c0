/* Item, stats and task JSON (docs/api.md): exact field names in both forms, RFC 3339 times,
 * null for unset values, tags results unwrapped, numeric owners as numbers in the seed form. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "jobs/item_json.h"

static const char *item_keys[] = {
    "id",     "owner",          "external_id",     "task",        "text",  "result",
    "status", "attempts",       "last_attempt_at", "retry_after", "error", "error_class",
    "model",  "prompt_version", "created_at",      "updated_at",  NULL};

static void times(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(tx__json_time(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(tx__json_time(INT64_C(1764107001123), buf, sizeof buf),
                        "2025-11-25T21:43:21.123Z");
    assert_null(tx__json_time(-1, buf, sizeof buf));
    assert_null(tx__json_time(INT64_C(253402300800000), buf, sizeof buf));
    assert_null(tx__json_time(1000, buf, 10));
    assert_null(tx__json_time(1000, NULL, 32));
    json_t *v = tx__json_time_value(0);
    assert_true(json_is_null(v));
    json_decref(v);
    v = tx__json_time_value(1000);
    assert_string_equal(json_string_value(v), "1970-01-01T00:00:01.000Z");
    json_decref(v);
}

static tx_item_t sample(void)
{
    static tx_history_row_t hist[2] = {
        {.n = 1,
         .model = "m1",
         .endpoint = "e0",
         .cls = TX_CLASS_RATE_LIMIT,
         .http_status = 429,
         .refunded = 1,
         .latency_ms = 12,
         .at = 1000},
        {.n = 2,
         .model = "m2",
         .endpoint = "e1",
         .cls = TX_CLASS_OK,
         .http_status = 200,
         .latency_ms = 34,
         .at = 2000},
    };
    tx_item_t it = {0};
    it.id = 7;
    it.owner = "1";
    it.external_id = "391";
    it.task = "tags";
    it.text = "hello";
    it.result = "{\"tags\":[\"a\",\"b\",3]}";
    it.status = TX_ITEM_SUCCESS;
    it.attempts = 2;
    it.last_attempt_at = 2000;
    it.error_class = -1;
    it.model = "m2";
    it.prompt_version = 1;
    it.created_at = 500;
    it.updated_at = 2100;
    it.history = hist;
    it.n_history = 2;
    return it;
}

static void item_tenax_form(void **state)
{
    (void)state;
    tx_item_t it = sample();
    json_t *o = tx__item_json(&it, TX_ITEM_JSON_TENAX, 1);
    assert_non_null(o);
    for (int i = 0; item_keys[i]; i++)
        assert_non_null(json_object_get(o, item_keys[i]));
    assert_int_equal(json_object_size(o), 17); /* the 16 fields + history */
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(o, "owner")), "1");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "success");
    json_t *res = json_object_get(o, "result");
    assert_true(json_is_array(res));
    assert_int_equal(json_array_size(res), 2); /* the non-string 3 is dropped */
    assert_string_equal(json_string_value(json_array_get(res, 1)), "b");
    assert_true(json_is_null(json_object_get(o, "retry_after")));
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_true(json_is_null(json_object_get(o, "error_class")));
    assert_string_equal(json_string_value(json_object_get(o, "created_at")),
                        "1970-01-01T00:00:00.500Z");
    json_t *h = json_object_get(o, "history");
    assert_int_equal(json_array_size(h), 2);
    json_t *h0 = json_array_get(h, 0);
    assert_string_equal(json_string_value(json_object_get(h0, "class")), "rate_limit");
    assert_int_equal(json_integer_value(json_object_get(h0, "http_status")), 429);
    assert_int_equal(json_integer_value(json_object_get(h0, "latency_ms")), 12);
    assert_string_equal(json_string_value(json_object_get(h0, "endpoint")), "e0");
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 1), "class")), "ok");
    /* a refunded (handed-back) row says so; a counted one has no such key */
    assert_true(json_is_true(json_object_get(h0, "refunded")));
    assert_null(json_object_get(json_array_get(h, 1), "refunded"));
    assert_null(json_object_get(o, "tags"));
    json_decref(o);

    o = tx__item_json(&it, TX_ITEM_JSON_TENAX, 0);
    assert_null(json_object_get(o, "history"));
    json_decref(o);
    assert_null(tx__item_json(NULL, TX_ITEM_JSON_TENAX, 1));
}

static void item_seed_form(void **state)
{
    (void)state;
    tx_item_t it = sample();
    it.status = TX_ITEM_RETRYING;
    it.result = NULL;
    it.error = "upstream said 429";
    it.error_class = TX_CLASS_RATE_LIMIT;
    it.retry_after = 60000;
    json_t *o = tx__item_json(&it, TX_ITEM_JSON_SEED, 0);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "result")));
    assert_int_equal(json_array_size(json_object_get(o, "tags")), 0);
    assert_true(json_is_array(json_object_get(o, "tags")));
    assert_string_equal(json_string_value(json_object_get(o, "tagging_status")), "retrying");
    assert_int_equal(json_integer_value(json_object_get(o, "tagging_attempts")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "last_tagging_attempt")),
                        "1970-01-01T00:00:02.000Z");
    assert_string_equal(json_string_value(json_object_get(o, "tagging_error")),
                        "upstream said 429");
    assert_string_equal(json_string_value(json_object_get(o, "error_class")), "rate_limit");
    assert_string_equal(json_string_value(json_object_get(o, "retry_after")),
                        "1970-01-01T00:01:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(o, "user_id")), 1);
    json_decref(o);
}

static void results_by_task(void **state)
{
    (void)state;
    tx_item_t it = sample();
    it.result = "[\"x\"]";
    json_t *v = tx__item_result_json(&it);
    assert_string_equal(json_string_value(json_array_get(v, 0)), "x");
    json_decref(v);
    it.result = "not json";
    v = tx__item_result_json(&it);
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);
    it.task = "summary";
    v = tx__item_result_json(&it);
    assert_string_equal(json_string_value(v), "not json");
    json_decref(v);
    it.result = "{\"k\":1}";
    v = tx__item_result_json(&it);
    assert_int_equal(json_integer_value(json_object_get(v, "k")), 1);
    json_decref(v);
    it.result = "bad \xff utf8";
    v = tx__item_result_json(&it);
    assert_string_equal(json_string_value(v), "bad ? utf8");
    json_decref(v);
}

static void owners(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int numeric;
    } cases[] = {{"1", 1},
                 {"0", 1},
                 {"007", 0},
                 {"12a", 0},
                 {"", 0},
                 {"-1", 0},
                 {"123456789012345678", 1},
                 {"1234567890123456789", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = tx__owner_json(cases[i].in);
        assert_int_equal(json_is_integer(v), cases[i].numeric);
        if (!cases[i].numeric) assert_string_equal(json_string_value(v), cases[i].in);
        json_decref(v);
    }
    json_t *v = tx__owner_json(NULL);
    assert_true(json_is_null(v));
    json_decref(v);
}

static void stats_both_forms(void **state)
{
    (void)state;
    tx_store_stats_t st = {.total = 150, .with_result = 140, .without_result = 10, .need_retry = 5};
    st.by_status[TX_ITEM_PENDING] = 3;
    st.by_status[TX_ITEM_SUCCESS] = 140;
    st.by_status[TX_ITEM_FAILED] = 2;
    st.by_status[TX_ITEM_RETRYING] = 5;
    json_t *o = tx__stats_json("1", &st, 1, 5, TX_ITEM_JSON_TENAX);
    char *s = json_dumps(o, JSON_COMPACT);
    assert_string_equal(s, "{\"owner\":\"1\",\"total\":150,\"with_result\":140,"
                           "\"without_result\":10,\"need_retry\":5,\"by_status\":{\"pending\":3,"
                           "\"processing\":0,\"success\":140,\"failed\":2,\"retrying\":5,"
                           "\"skipped\":0},\"enabled\":true,\"max_attempts\":5}");
    free(s);
    json_decref(o);
    o = tx__stats_json("1", &st, 0, 7, TX_ITEM_JSON_SEED);
    s = json_dumps(o, JSON_COMPACT);
    assert_string_equal(s, "{\"user_id\":1,\"total_posts\":150,\"posts_with_tags\":140,"
                           "\"posts_without_tags\":10,\"posts_need_retry\":5,"
                           "\"stats_by_status\":{\"pending\":3,\"processing\":0,\"success\":140,"
                           "\"failed\":2,\"retrying\":5,\"skipped\":0},\"tagging_enabled\":false,"
                           "\"max_retry_attempts\":7}");
    free(s);
    json_decref(o);
    o = tx__stats_json("alice", &st, 1, 5, TX_ITEM_JSON_SEED);
    assert_string_equal(json_string_value(json_object_get(o, "user_id")), "alice");
    json_decref(o);
    o = tx__stats_json(NULL, &st, 1, 5, TX_ITEM_JSON_TENAX);
    assert_true(json_is_null(json_object_get(o, "owner")));
    json_decref(o);
    assert_null(tx__stats_json("1", NULL, 1, 5, TX_ITEM_JSON_TENAX));
}

static void task_version(void **state)
{
    (void)state;
    tx_task_t t = {.name = "tags",
                   .version = 2,
                   .active = 1,
                   .system_prompt = "sys",
                   .user_template = "Tag: {{text}}",
                   .response_format = "{\"type\":\"json_object\"}",
                   .parser = "tags",
                   .created_at = 1000};
    json_t *o = tx__task_json(&t);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "tags");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
    assert_true(json_is_true(json_object_get(o, "active")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "response_format"), "type")),
        "json_object");
    assert_true(json_is_null(json_object_get(o, "model")));
    json_decref(o);
    assert_null(tx__task_json(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times),          cmocka_unit_test(item_tenax_form),
        cmocka_unit_test(item_seed_form), cmocka_unit_test(results_by_task),
        cmocka_unit_test(owners),         cmocka_unit_test(stats_both_forms),
        cmocka_unit_test(task_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
