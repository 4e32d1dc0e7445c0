/* Bounded LRU map: recency order, eviction, replacement, shrinking and value freeing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/lru.h"

static int freed;
static void count_free(void *ud, void *v)
{
    assert_ptr_equal(ud, &freed);
    freed++;
    free(v);
}

static void plain_free(void *ud, void *v)
{
    (void)ud;
    free(v);
}

static int *boxed(int v)
{
    int *p = malloc(sizeof(int));
    *p = v;
    return p;
}

static void eviction_follows_recency(void **state)
{
    (void)state;
    freed = 0;
    tx_lru_t *l = tx__lru_create(3, count_free, &freed);
    assert_int_equal(tx__lru_put(l, "a", 1, boxed(1)), 0);
    assert_int_equal(tx__lru_put(l, "b", 1, boxed(2)), 0);
    assert_int_equal(tx__lru_put(l, "c", 1, boxed(3)), 0);
    assert_int_equal(*(int *)tx__lru_get(l, "a", 1), 1);   /* a is now the most recent */
    assert_int_equal(tx__lru_put(l, "d", 1, boxed(4)), 0); /* evicts b */
    assert_null(tx__lru_peek(l, "b", 1));
    assert_int_equal(freed, 1);
    assert_int_equal(tx__lru_evictions(l), 1);
    const void *k;
    size_t kl;
    assert_int_equal(*(int *)tx__lru_oldest(l, &k, &kl), 3);
    assert_memory_equal(k, "c", 1);
    /* replacing frees the old value and keeps the count */
    assert_int_equal(tx__lru_put(l, "c", 1, boxed(30)), 0);
    assert_int_equal(freed, 2);
    assert_int_equal(tx__lru_count(l), 3);
    assert_int_equal(*(int *)tx__lru_peek(l, "c", 1), 30);
    /* shrink evicts the least recent: a (d and c are newer) */
    tx__lru_set_max(l, 2);
    assert_int_equal(tx__lru_count(l), 2);
    assert_null(tx__lru_peek(l, "a", 1));
    assert_int_equal(tx__lru_remove(l, "d", 1), 1);
    assert_int_equal(tx__lru_remove(l, "d", 1), 0);
    assert_int_equal(tx__lru_count(l), 1);
    tx__lru_destroy(l);
    assert_int_equal(freed, 5); /* every value stored, once */
    tx__lru_destroy(NULL);
    assert_null(tx__lru_create(0, NULL, NULL));
}

static void many_keys_grow_the_table(void **state)
{
    (void)state;
    tx_lru_t *l = tx__lru_create(5000, plain_free, NULL);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        assert_int_equal(tx__lru_put(l, key, (size_t)n, boxed(i)), 0);
    }
    assert_int_equal(tx__lru_count(l), 5000);
    for (int i = 15000; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "client-%d", i);
        int *v = tx__lru_get(l, key, (size_t)n);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    assert_null(tx__lru_get(l, "client-14999", 12));
    assert_null(tx__lru_get(NULL, "x", 1));
    tx__lru_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(eviction_follows_recency),
        cmocka_unit_test(many_keys_grow_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
