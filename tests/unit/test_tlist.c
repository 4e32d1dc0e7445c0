/* The timeout list (server/tlist.h): order by due time (ties in arrival order), removal from any
 * place, popping what is due. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/tlist.h"

/* The dues of l from head to tail into out (at most cap); checks the back links on the way. */
static size_t dues(const tx_tlist_t *l, uint64_t *out, size_t cap)
{
    size_t k = 0;
    const tx_tnode_t *prev = NULL;
    for (const tx_tnode_t *n = l->head; n != NULL && k < cap; n = n->next) {
        assert_ptr_equal(n->prev, prev);
        out[k++] = n->due;
        prev = n;
    }
    assert_ptr_equal(l->tail, prev);
    return k;
}

static void ordered_insert(void **state)
{
    (void)state;
    tx_tlist_t l = {0};
    tx_tnode_t n[6] = {{0}};
    static const uint64_t at[6] = {50, 10, 30, 30, 60, 5};
    for (int i = 0; i < 6; i++) {
        assert_false(tx__tnode_linked(&l, &n[i]));
        tx__tlist_insert(&l, &n[i], at[i]);
        assert_true(tx__tnode_linked(&l, &n[i]));
    }
    uint64_t d[8];
    assert_int_equal(dues(&l, d, 8), 6);
    static const uint64_t want[6] = {5, 10, 30, 30, 50, 60};
    for (int i = 0; i < 6; i++)
        assert_int_equal(d[i], want[i]);
    /* equal dues stay in arrival order */
    assert_ptr_equal(l.head->next->next, &n[2]);
    assert_ptr_equal(l.head->next->next->next, &n[3]);
}

static void remove_anywhere_and_pop(void **state)
{
    (void)state;
    tx_tlist_t l = {0};
    tx_tnode_t n[5] = {{0}};
    for (int i = 0; i < 5; i++)
        tx__tlist_insert(&l, &n[i], (uint64_t)(i + 1) * 10);
    tx__tlist_remove(&l, &n[2]); /* middle */
    tx__tlist_remove(&l, &n[0]); /* head */
    tx__tlist_remove(&l, &n[4]); /* tail */
    assert_false(tx__tnode_linked(&l, &n[0]));
    assert_false(tx__tnode_linked(&l, &n[2]));
    uint64_t d[5];
    assert_int_equal(dues(&l, d, 5), 2);
    assert_int_equal(d[0], 20);
    assert_int_equal(d[1], 40);
    assert_null(tx__tlist_pop_due(&l, 19));
    assert_ptr_equal(tx__tlist_pop_due(&l, 20), &n[1]);
    assert_null(tx__tlist_pop_due(&l, 39));
    tx__tlist_insert(&l, &n[0], 5); /* back in, now first */
    assert_ptr_equal(tx__tlist_pop_due(&l, 100), &n[0]);
    assert_ptr_equal(tx__tlist_pop_due(&l, 100), &n[3]);
    assert_null(tx__tlist_pop_due(&l, 100));
    assert_null(l.head);
    assert_null(l.tail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordered_insert),
        cmocka_unit_test(remove_anywhere_and_pop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
