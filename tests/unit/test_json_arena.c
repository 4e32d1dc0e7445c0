/* The scoped cJSON arena: trees parsed inside a scope read correctly and delete cleanly, the
 * buffer is reused after the outermost scope, blocks too big for it and trees made outside a
 * scope go through malloc/free (ASan checks every release), and a thread's buffer is freed
 * when the thread ends (LeakSanitizer); tx__json_arena_delete skips only what the buffer holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/json_arena.h"

static const char DOC[] =
    "{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"content\":\"hi\"}}],"
    "\"usage\":{\"total_tokens\":25}}";

/* A JSON string literal of n copies of c (quotes included), to free. */
static char *json_string_of(size_t n, char c)
{
    char *s = malloc(n + 3);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, c, n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

static void parse_read_delete(void **state)
{
    (void)state;
    tx__json_arena_begin();
    cJSON *a = cJSON_Parse(DOC);
    assert_non_null(a);
    assert_string_equal(cJSON_GetObjectItem(a, "id")->valuestring, "x");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "usage"), "total_tokens")->valueint,
                     25);
    const cJSON *first = a;
    cJSON_Delete(a);
    tx__json_arena_end();
    /* the next scope starts at the same place: the buffer is reused, not grown */
    tx__json_arena_begin();
    cJSON *b = cJSON_Parse(DOC);
    assert_ptr_equal(b, first);
    cJSON_Delete(b);
    tx__json_arena_end();
}

static void nested_scopes(void **state)
{
    (void)state;
    tx__json_arena_begin();
    cJSON *outer = cJSON_Parse("[1,2,3]");
    tx__json_arena_begin();
    cJSON *inner = cJSON_Parse("{\"k\":\"v\"}");
    assert_string_equal(cJSON_GetObjectItem(inner, "k")->valuestring, "v");
    cJSON_Delete(inner);
    tx__json_arena_end();
    /* the outer tree is intact after the inner scope ended */
    assert_int_equal(cJSON_GetArraySize(outer), 3);
    assert_int_equal(cJSON_GetArrayItem(outer, 2)->valueint, 3);
    cJSON_Delete(outer);
    tx__json_arena_end();
    tx__json_arena_end(); /* unbalanced end: ignored */
}

static void malloc_outside_and_when_full(void **state)
{
    (void)state;
    /* made outside any scope: malloc'd, and freed correctly from inside one */
    tx__json_arena_begin();
    tx__json_arena_end();
    cJSON *kept = cJSON_Parse("{\"a\":[true,false,null]}");
    assert_non_null(kept);
    /* larger than the buffer: the overflow comes from malloc */
    size_t n = 200 * 1024;
    char *big = json_string_of(n, 'a');
    tx__json_arena_begin();
    cJSON *s = cJSON_Parse(big);
    assert_true(cJSON_IsString(s));
    assert_int_equal(strlen(s->valuestring), n);
    cJSON *many = cJSON_CreateArray();
    for (int i = 0; i < 5000; i++)
        cJSON_AddItemToArray(many, cJSON_CreateNumber(i)); /* spills past the buffer */
    assert_int_equal(cJSON_GetArraySize(many), 5000);
    cJSON_Delete(many);
    cJSON_Delete(s);
    cJSON_Delete(kept);
    tx__json_arena_end();
    free(big);
}

/* tx__json_arena_delete skips the walk only for a tree of the open scope when nothing of the
 * scope came from malloc; every other tree is freed (LeakSanitizer checks under ASan). */
static void delete_frees_what_malloc_gave(void **state)
{
    (void)state;
    /* a clean scope: skipped, and the buffer is reclaimed at the end */
    tx__json_arena_begin();
    cJSON *a = cJSON_Parse(DOC);
    assert_non_null(a);
    const cJSON *first = a;
    tx__json_arena_delete(a);
    tx__json_arena_end();
    tx__json_arena_begin();
    cJSON *b = cJSON_Parse(DOC);
    assert_ptr_equal(b, first);
    tx__json_arena_delete(b);
    tx__json_arena_end();
    /* a tree from outside any scope, deleted in a clean scope and outside one */
    cJSON *out1 = cJSON_Parse(DOC), *out2 = cJSON_Parse("[1,2]");
    assert_non_null(out1);
    assert_non_null(out2);
    tx__json_arena_begin();
    cJSON *in = cJSON_Parse("{}");
    tx__json_arena_delete(out1);
    tx__json_arena_delete(in);
    tx__json_arena_end();
    tx__json_arena_delete(out2);
    tx__json_arena_delete(NULL);
    /* a scope that spilled: its trees are walked, so the malloc'd blocks are freed, also when
     * the spill happened in an inner scope */
    size_t n = 100 * 1024;
    char *big = json_string_of(n, 'b');
    tx__json_arena_begin();
    cJSON *small = cJSON_Parse(DOC);
    tx__json_arena_begin();
    cJSON *s = cJSON_Parse(big);
    assert_true(cJSON_IsString(s));
    assert_int_equal(strlen(s->valuestring), n);
    tx__json_arena_delete(s);
    tx__json_arena_end();
    tx__json_arena_delete(small);
    tx__json_arena_end();
    /* the next clean scope skips again and starts at the same place */
    tx__json_arena_begin();
    cJSON *c = cJSON_Parse(DOC);
    assert_ptr_equal(c, first);
    tx__json_arena_delete(c);
    tx__json_arena_end();
    free(big);
}

static void *in_thread(void *arg)
{
    (void)arg;
    tx__json_arena_begin();
    cJSON *a = cJSON_Parse(DOC);
    int ok = a != NULL && cJSON_IsArray(cJSON_GetObjectItem(a, "choices"));
    cJSON_Delete(a);
    tx__json_arena_end();
    return ok ? (void *)1 : NULL;
}

static void per_thread_buffer(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        void *ok = NULL;
        assert_int_equal(pthread_create(&t, NULL, in_thread, NULL), 0);
        assert_int_equal(pthread_join(t, &ok), 0);
        assert_non_null(ok);
    }
}

int main(void)
{
    tx__json_arena_install(); /* what the tenax program's main does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_read_delete),
        cmocka_unit_test(nested_scopes),
        cmocka_unit_test(malloc_outside_and_when_full),
        cmocka_unit_test(delete_frees_what_malloc_gave),
        cmocka_unit_test(per_thread_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
