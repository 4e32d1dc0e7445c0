/* The lifecycle table (jobs/lifecycle.c) is the one source of truth: every status change a store
 * makes (claim, finish with each outcome, an expired lease taken back, retry with and without
 * force, regenerate), on SQLite and on each URL in TX_TEST_STORE_URLS (PostgreSQL under
 * tests/with_pg.sh), is a change the table allows; and every change the table allows is one a
 * store makes, so the table is neither looser nor stricter than the SQL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/engine.h"
#include "store/store.h"

#define T0 1700000000000LL
#define LEASE 60000
#define N 8

static char g_tmp[256];
static const char *g_url;
static int g_counter;
static int seen[TX_ITEM__LAST][TX_ITEM__LAST];

/* One step: records every item whose status changed, failing on a change the table forbids. */
static void observe(tx_store_t *s, const int64_t *ids, tx_item_status_t *before, const char *what)
{
    for (int i = 0; i < N; i++) {
        tx_item_t it;
        assert_int_equal(tx__store_get(s, ids[i], &it, NULL), TX_EOK);
        tx_item_status_t now = it.status;
        tx__item_clear(&it);
        if (now != before[i]) {
            if (!tx__jobs_transition_ok(before[i], now))
                fail_msg("%s: the store moved item %d %s -> %s, which the table forbids", what, i,
                         tx__item_status_name(before[i]), tx__item_status_name(now));
            seen[before[i]][now] = 1;
        }
        before[i] = now;
    }
}

static tx_item_list_t claim(tx_store_t *s, size_t limit, tx_ms_t now)
{
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", limit, now, LEASE, &l, NULL), TX_EOK);
    return l;
}

static void finish(tx_store_t *s, const tx_item_t *it, tx_item_status_t to, tx_ms_t now)
{
    tx_item_outcome_t o = {.status = to, .error_class = -1};
    if (to == TX_ITEM_SUCCESS) o.result = "{\"tags\":[]}", o.model = "m";
    if (to == TX_ITEM_RETRYING) o.retry_after = now + 1000, o.error = "HTTP 503";
    if (to == TX_ITEM_FAILED) o.error = "HTTP 400";
    assert_int_equal(tx__store_finish(s, it->id, it->lease, &o, now, NULL), TX_EOK);
}

static void store_moves_follow_the_table(void **state)
{
    (void)state;
    char url[512];
    const char *hole = strstr(g_url, "{}");
    if (hole != NULL)
        snprintf(url, sizeof url, "%.*slc%d%s", (int)(hole - g_url), g_url, ++g_counter, hole + 2);
    else
        snprintf(url, sizeof url, "%s", g_url);
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_EOK);

    tx_item_input_t in[N + 1];
    char ext[N + 1][16];
    for (int i = 0; i <= N; i++) {
        snprintf(ext[i], sizeof ext[i], "i%d", i);
        in[i] = (tx_item_input_t){"o", ext[i], NULL, i == N ? " " : "a post"};
    }
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, in, N + 1, T0, &r, &err), TX_EOK);
    assert_int_equal(r.skipped, 1);
    int64_t ids[N];
    memcpy(ids, r.ids, sizeof ids);
    tx__import_result_free(&r);
    tx_item_status_t st[N];
    for (int i = 0; i < N; i++)
        st[i] = TX_ITEM_PENDING;
    observe(s, ids, st, "import");

    /* every pending item claimed, then each ending one way */
    tx_item_list_t l = claim(s, N, T0);
    assert_int_equal(l.n, N);
    observe(s, ids, st, "claim");
    const tx_item_status_t ends[] = {TX_ITEM_SUCCESS, TX_ITEM_RETRYING, TX_ITEM_FAILED,
                                     TX_ITEM_PENDING, TX_ITEM_RETRYING, TX_ITEM_SUCCESS};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        finish(s, &l.items[i], ends[i], T0);
    observe(s, ids, st, "finish");
    /* the last two keep their leases until those expire */
    int64_t reclaimed = 0;
    assert_int_equal(tx__store_reclaim_expired(s, T0 + LEASE + 1, &reclaimed, &err), TX_EOK);
    assert_int_equal(reclaimed, 2);
    observe(s, ids, st, "reclaim_expired");
    tx__item_list_free(&l);

    /* a retrying item due again is claimed straight from retrying */
    l = claim(s, N, T0 + LEASE + 2);
    observe(s, ids, st, "claim when due");
    for (size_t i = 0; i < l.n; i++)
        finish(s, &l.items[i], TX_ITEM_RETRYING, T0 + LEASE + 2);
    observe(s, ids, st, "finish again");
    tx__item_list_free(&l);

    int64_t selected = 0;
    assert_int_equal(tx__store_retry(s, "o", 0, 0, T0 + LEASE + 3, &selected, &err), TX_EOK);
    observe(s, ids, st, "retry");
    assert_int_equal(tx__store_retry(s, "o", 1, 0, T0 + LEASE + 3, &selected, &err), TX_EOK);
    observe(s, ids, st, "forced retry");
    /* regenerate from success, retrying, and processing (the holder's lease is dropped) */
    l = claim(s, 1, T0 + LEASE + 4);
    assert_int_equal(l.n, 1);
    observe(s, ids, st, "claim one");
    int retrying_regenerated = 0;
    for (int i = 0; i < N; i++) {
        int pick = st[i] == TX_ITEM_SUCCESS || st[i] == TX_ITEM_PROCESSING ||
                   (st[i] == TX_ITEM_RETRYING && !retrying_regenerated++);
        if (pick) assert_int_equal(tx__store_regenerate(s, ids[i], T0 + LEASE + 5, &err), TX_EOK);
    }
    observe(s, ids, st, "regenerate");
    /* the dropped lease's holder cannot move the item any more */
    tx_item_outcome_t late = {
        .status = TX_ITEM_SUCCESS, .result = "{}", .model = "m", .error_class = -1};
    assert_int_equal(
        tx__store_finish(s, l.items[0].id, l.items[0].lease, &late, T0 + LEASE + 6, NULL),
        TX_ECONFLICT);
    observe(s, ids, st, "late finish");
    tx__item_list_free(&l);
    tx__store_close(s);
}

/* Every change the table allows was made by the store above (run after each backend). */
static void table_is_no_looser_than_the_stores(void **state)
{
    (void)state;
    for (int a = 0; a < TX_ITEM__LAST; a++)
        for (int b = 0; b < TX_ITEM__LAST; b++)
            if (tx__jobs_transition_ok((tx_item_status_t)a, (tx_item_status_t)b) && !seen[a][b])
                fail_msg("the table allows %s -> %s but no store operation makes it",
                         tx__item_status_name((tx_item_status_t)a),
                         tx__item_status_name((tx_item_status_t)b));
}

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static int run_for(const char *url)
{
    g_url = url;
    memset(seen, 0, sizeof seen);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_moves_follow_the_table),
        cmocka_unit_test(table_is_no_looser_than_the_stores),
    };
    return cmocka_run_group_tests_name(url, tests, NULL, NULL);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "%s/tx_lifecycle_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char def[400];
    snprintf(def, sizeof def, "sqlite:%s/{}.db", g_tmp);
    int failed = run_for(def);
    const char *urls = getenv("TX_TEST_STORE_URLS");
    if (urls && *urls) {
        char *copy = strdup(urls), *save = NULL;
        for (char *u = strtok_r(copy, " ", &save); u; u = strtok_r(NULL, " ", &save))
            failed += run_for(u);
        free(copy);
    }
    nftw(g_tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    return failed ? 1 : 0;
}
