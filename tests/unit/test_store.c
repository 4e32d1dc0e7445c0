/* The job store contract (src/store/store.h), written only against the interface so the same
 * suite runs on every backend: a fresh sqlite: file by default, plus each URL in
 * TX_TEST_STORE_URLS (space-separated; "{}" in a URL is replaced by a unique name per test). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#include <sqlite3.h>

#define T0 1700000000000LL /* a fixed "now" */
#define LEASE 60000

static char g_tmp[256];
static const char *g_template; /* current URL template */
static int g_counter;

typedef struct {
    char url[512];
    tx_store_t *s;
} ctx_t;

static void make_url(char *out, size_t len)
{
    char name[64];
    snprintf(name, sizeof name, "t%d", ++g_counter);
    const char *hole = strstr(g_template, "{}");
    if (!hole) {
        snprintf(out, len, "%s", g_template);
        return;
    }
    snprintf(out, len, "%.*s%s%s", (int)(hole - g_template), g_template, name, hole + 2);
}

static int setup(void **state)
{
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) return -1;
    make_url(c->url, sizeof c->url);
    tx_error_t err = {0};
    if (tx__store_open(c->url, &c->s, &err) != TX_EOK) {
        fprintf(stderr, "open %s: %s\n", c->url, err.msg);
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *c = *state;
    tx__store_close(c->s);
    free(c);
    return 0;
}

static tx_store_t *S(void **state)
{
    return ((ctx_t *)*state)->s;
}

/* Imports n items "<prefix><i>" for owner with text "post <i>"; ids into out (may be NULL). */
static void seed(tx_store_t *s, const char *owner, const char *prefix, int n, int64_t *out)
{
    tx_item_input_t *in = calloc((size_t)n, sizeof *in);
    char(*ext)[32] = calloc((size_t)n, 32);
    assert_non_null(in);
    assert_non_null(ext);
    for (int i = 0; i < n; i++) {
        snprintf(ext[i], 32, "%s%d", prefix, i);
        in[i] = (tx_item_input_t){owner, ext[i], NULL, "a post about cats and trains"};
    }
    tx_import_result_t r;
    tx_error_t err = {0};
    assert_int_equal(tx__store_import(s, in, (size_t)n, T0, &r, &err), TX_EOK);
    assert_int_equal(r.inserted, (size_t)n);
    if (out) memcpy(out, r.ids, (size_t)n * sizeof *out);
    tx__import_result_free(&r);
    free(ext);
    free(in);
}

/* Claims exactly one item and returns it (caller clears). */
static tx_item_t claim_one(tx_store_t *s, tx_ms_t now)
{
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w1", 1, now, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 1);
    tx_item_t it = l.items[0];
    free(l.items);
    return it;
}

static tx_item_status_t status_of(tx_store_t *s, int64_t id)
{
    tx_item_t it;
    assert_int_equal(tx__store_get(s, id, &it, NULL), TX_EOK);
    tx_item_status_t st = it.status;
    tx__item_clear(&it);
    return st;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void import_is_idempotent_and_skips_blank(void **state)
{
    tx_store_t *s = S(state);
    tx_item_input_t in[] = {
        {"1", "a", NULL, "hello world"},
        {"1", "b", NULL, ""},
        {"1", "c", NULL, "  \n\t "},
        {"1", "d", "summary", "hello world"},
        {"2", "a", NULL, "other owner"},
        {"1", "e", NULL, NULL},
        /* Unicode white space only: NBSP, en space, hair space, ideographic space, BOM, tab */
        {"1", "u", NULL, "\xC2\xA0\xE2\x80\x82\xE2\x80\x8A\xE3\x80\x80\xEF\xBB\xBF\t\n"},
        {"1", "v", NULL, "\xC2\xA0x\xC2\xA0"}, /* a letter between spaces is text */
    };
    tx_import_result_t r1, r2;
    assert_int_equal(tx__store_import(s, in, 8, T0, &r1, NULL), TX_EOK);
    assert_int_equal(r1.n, 8);
    assert_int_equal(r1.inserted, 8);
    assert_int_equal(r1.existing, 0);
    assert_int_equal(r1.skipped, 4);
    assert_int_equal(status_of(s, r1.ids[6]), TX_ITEM_SKIPPED);
    assert_int_equal(status_of(s, r1.ids[7]), TX_ITEM_PENDING);
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++)
            assert_true(r1.ids[i] != r1.ids[j]);

    tx_item_input_t again[] = {
        {"1", "a", "tags", "changed text is ignored"},
        {"1", "f", NULL, "new"},
        {"2", "a", NULL, "x"},
    };
    assert_int_equal(tx__store_import(s, again, 3, T0 + 5, &r2, NULL), TX_EOK);
    assert_int_equal(r2.inserted, 1);
    assert_int_equal(r2.existing, 2);
    assert_int_equal(r2.ids[0], r1.ids[0]);
    assert_int_equal(r2.ids[2], r1.ids[4]);

    tx_item_t it;
    assert_int_equal(tx__store_get(s, r1.ids[0], &it, NULL), TX_EOK);
    assert_string_equal(it.text, "hello world");
    assert_string_equal(it.owner, "1");
    assert_string_equal(it.external_id, "a");
    assert_string_equal(it.task, "tags");
    assert_int_equal(it.status, TX_ITEM_PENDING);
    assert_int_equal(it.created_at, T0);
    assert_int_equal(it.attempts, 0);
    tx__item_clear(&it);
    assert_int_equal(status_of(s, r1.ids[1]), TX_ITEM_SKIPPED);
    assert_int_equal(status_of(s, r1.ids[2]), TX_ITEM_SKIPPED);
    assert_int_equal(status_of(s, r1.ids[5]), TX_ITEM_SKIPPED);

    /* Skipped items are never claimed. */
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 100, T0 + 10, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 5); /* a, d, 2/a, f, v */
    for (size_t i = 0; i < l.n; i++)
        assert_int_not_equal(l.items[i].id, r1.ids[1]);
    tx__item_list_free(&l);

    /* A batch with an item lacking an id is refused as a whole. */
    tx_item_input_t bad[] = {{"1", "z", NULL, "fine"}, {"1", NULL, NULL, "no id"}};
    tx_import_result_t r3;
    tx_error_t err = {0};
    assert_int_equal(tx__store_import(s, bad, 2, T0, &r3, &err), TX_EINVAL);
    assert_non_null(err.msg);
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "1", &st, NULL), TX_EOK);
    assert_int_equal(st.total, 8);
    tx__import_result_free(&r1);
    tx__import_result_free(&r2);
}

static void claim_gives_each_item_once_across_handles(void **state)
{
    ctx_t *c = *state;
    seed(c->s, "o", "x", 20, NULL);
    tx_store_t *b = NULL;
    assert_int_equal(tx__store_open(c->url, &b, NULL), TX_EOK);
    tx_item_list_t la, lb, lc;
    assert_int_equal(tx__store_claim(c->s, "A", 7, T0, LEASE, &la, NULL), TX_EOK);
    assert_int_equal(tx__store_claim(b, "B", 100, T0, LEASE, &lb, NULL), TX_EOK);
    assert_int_equal(la.n, 7);
    assert_int_equal(lb.n, 13);
    for (size_t i = 0; i < la.n; i++) {
        assert_int_equal(la.items[i].status, TX_ITEM_PROCESSING);
        assert_int_equal(la.items[i].lease_until, T0 + LEASE);
        assert_true(la.items[i].lease > 0);
        assert_string_equal(la.items[i].text, "a post about cats and trains");
        assert_int_equal(la.items[i].task_version, 1);
        for (size_t j = 0; j < lb.n; j++) {
            assert_int_not_equal(la.items[i].id, lb.items[j].id);
            assert_int_not_equal(la.items[i].lease, lb.items[j].lease);
        }
    }
    assert_int_equal(tx__store_claim(c->s, "A", 100, T0 + 1, LEASE, &lc, NULL), TX_EOK);
    assert_int_equal(lc.n, 0);
    tx__item_list_free(&la);
    tx__item_list_free(&lb);
    tx__item_list_free(&lc);
    tx__store_close(b);
}

enum { RACE_ITEMS = 120 };

typedef struct {
    const char *url;
    int64_t got[RACE_ITEMS];
    int n;
    int rc;
} racer_t;

static void *racer(void *arg)
{
    racer_t *r = arg;
    tx_store_t *s = NULL;
    r->rc = tx__store_open(r->url, &s, NULL);
    while (r->rc == TX_EOK) {
        tx_item_list_t l;
        r->rc = tx__store_claim(s, "racer", 3, T0, LEASE, &l, NULL);
        if (r->rc != TX_EOK || l.n == 0) {
            if (r->rc == TX_EOK) tx__item_list_free(&l);
            break;
        }
        for (size_t i = 0; i < l.n && r->n < RACE_ITEMS; i++)
            r->got[r->n++] = l.items[i].id;
        tx__item_list_free(&l);
    }
    tx__store_close(s);
    return NULL;
}

static void concurrent_claimers_never_share_an_item(void **state)
{
    ctx_t *c = *state;
    seed(c->s, "o", "r", RACE_ITEMS, NULL);
    static racer_t r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].url = c->url;
        assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    static char seen[RACE_ITEMS + 1];
    memset(seen, 0, sizeof seen);
    int total = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].rc, TX_EOK);
        for (int k = 0; k < r[i].n; k++) {
            int64_t id = r[i].got[k];
            assert_true(id >= 1 && id <= RACE_ITEMS);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
            total++;
        }
    }
    assert_int_equal(total, RACE_ITEMS);
}

static void stale_lease_cannot_write_and_expired_is_reclaimed(void **state)
{
    tx_store_t *s = S(state);
    int64_t id;
    seed(s, "o", "l", 1, &id);
    tx_item_t it = claim_one(s, T0);
    int64_t lease = it.lease;
    tx__item_clear(&it);

    tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                            .result = "[\"a\"]",
                            .model = "m",
                            .prompt_version = 1,
                            .error_class = -1};
    tx_error_t err = {0};
    int n = 0;
    assert_int_equal(tx__store_finish(s, id, lease + 1, &ok, T0 + 1, &err), TX_ECONFLICT);
    assert_non_null(strstr(err.msg, "lease"));
    assert_int_equal(tx__store_begin_attempt(s, id, lease + 1, 5, T0 + 1, "m", &n, NULL),
                     TX_ECONFLICT);
    assert_int_equal(status_of(s, id), TX_ITEM_PROCESSING);

    /* Not expired yet: nothing to reclaim and nobody else can claim it. */
    int64_t count = -1;
    assert_int_equal(tx__store_reclaim_expired(s, T0 + LEASE - 1, &count, NULL), TX_EOK);
    assert_int_equal(count, 0);
    assert_int_equal(tx__store_reclaim_expired(s, T0 + LEASE, &count, NULL), TX_EOK);
    assert_int_equal(count, 1);
    assert_int_equal(status_of(s, id), TX_ITEM_PENDING);
    assert_int_equal(tx__store_finish(s, id, lease, &ok, T0 + LEASE + 1, NULL), TX_ECONFLICT);
    assert_int_equal(status_of(s, id), TX_ITEM_PENDING);

    /* A new claim gets a new lease; the old one still cannot write. */
    it = claim_one(s, T0 + LEASE + 2);
    assert_int_not_equal(it.lease, lease);
    tx_history_row_t a = {.n = 1,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS_OK,
                          .http_status = 200,
                          .latency_ms = 5,
                          .at = T0};
    assert_int_equal(tx__store_record_attempt(s, id, lease, &a, NULL), TX_ECONFLICT);
    assert_int_equal(tx__store_record_attempt(s, id, it.lease, &a, NULL), TX_EOK);

    /* An expired processing lease is claimable directly, without a reclaim pass. */
    int64_t second = it.lease;
    tx__item_clear(&it);
    it = claim_one(s, T0 + 3 * LEASE);
    assert_int_equal(it.id, id);
    assert_int_not_equal(it.lease, second);
    assert_int_equal(tx__store_finish(s, id, second, &ok, T0 + 3 * LEASE, NULL), TX_ECONFLICT);
    assert_int_equal(tx__store_finish(s, id, it.lease, &ok, T0 + 3 * LEASE, NULL), TX_EOK);
    assert_int_equal(status_of(s, id), TX_ITEM_SUCCESS);
    /* Finished: the lease is gone, a second finish is refused. */
    assert_int_equal(tx__store_finish(s, id, it.lease, &ok, T0 + 3 * LEASE, NULL), TX_ECONFLICT);
    assert_int_equal(tx__store_finish(s, 999999, it.lease, &ok, T0, NULL), TX_ENOTFOUND);
    tx__item_clear(&it);
}

static void attempts_are_persisted_before_the_call_and_capped(void **state)
{
    ctx_t *c = *state;
    int64_t id;
    seed(c->s, "o", "b", 1, &id);
    tx_item_t it = claim_one(c->s, T0);
    tx_store_t *other = NULL;
    assert_int_equal(tx__store_open(c->url, &other, NULL), TX_EOK);
    for (int k = 1; k <= 3; k++) {
        int n = 0;
        assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + k, "gpt", &n, NULL),
                         TX_EOK);
        assert_int_equal(n, k);
        /* Visible to another handle while the item is still in hand (before any result). */
        tx_item_t seen;
        assert_int_equal(tx__store_get(other, id, &seen, NULL), TX_EOK);
        assert_int_equal(seen.attempts, k);
        assert_int_equal(seen.last_attempt_at, T0 + k);
        assert_int_equal(seen.status, TX_ITEM_PROCESSING);
        tx__item_clear(&seen);
    }
    int n = 0;
    tx_error_t err = {0};
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + 9, "gpt", &n, &err),
                     TX_ERANGE);
    assert_non_null(strstr(err.msg, "budget"));
    tx_item_t seen;
    assert_int_equal(tx__store_get(other, id, &seen, NULL), TX_EOK);
    assert_int_equal(seen.attempts, 3);
    tx__item_clear(&seen);
    /* A larger budget allows one more; an expired lease allows none. */
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 4, T0 + 10, "gpt", &n, NULL),
                     TX_EOK);
    assert_int_equal(n, 4);
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 10, T0 + LEASE, "gpt", &n, NULL),
                     TX_ECONFLICT);
    assert_int_equal(tx__store_begin_attempt(c->s, 424242, 1, 10, T0, "gpt", &n, NULL),
                     TX_ENOTFOUND);
    tx__item_clear(&it);
    tx__store_close(other);
}

static void lifecycle_paths(void **state)
{
    tx_store_t *s = S(state);
    int64_t ids[4];
    seed(s, "o", "p", 4, ids);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 4, T0, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 4);
    for (size_t i = 0; i < 4; i++) {
        int n;
        assert_int_equal(
            tx__store_begin_attempt(s, l.items[i].id, l.items[i].lease, 5, T0 + 1, "m1", &n, NULL),
            TX_EOK);
        tx_history_row_t a = {.n = n,
                              .model = "m1",
                              .endpoint = "0",
                              .cls = TX_CLASS_SERVER,
                              .http_status = 503,
                              .latency_ms = 42,
                              .at = T0 + 2};
        assert_int_equal(tx__store_record_attempt(s, l.items[i].id, l.items[i].lease, &a, NULL),
                         TX_EOK);
    }
    tx_item_outcome_t success = {.status = TX_ITEM_SUCCESS,
                                 .result = "[\"cats\",\"trains\"]",
                                 .model = "m1",
                                 .prompt_version = 1,
                                 .error_class = -1};
    tx_item_outcome_t retrying = {.status = TX_ITEM_RETRYING,
                                  .retry_after = T0 + 30000,
                                  .error = "rate limited",
                                  .error_class = TX_CLASS_RATE_LIMIT};
    tx_item_outcome_t failed = {
        .status = TX_ITEM_FAILED, .error = "bad request", .error_class = TX_CLASS_BAD_REQUEST};
    tx_item_outcome_t back = {.status = TX_ITEM_PENDING, .error_class = -1};
    const tx_item_outcome_t *outs[4] = {&success, &retrying, &failed, &back};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(
            tx__store_finish(s, l.items[i].id, l.items[i].lease, outs[i], T0 + 3, NULL), TX_EOK);

    tx_item_t it;
    assert_int_equal(tx__store_get(s, l.items[0].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_SUCCESS);
    assert_string_equal(it.result, "[\"cats\",\"trains\"]");
    assert_string_equal(it.model, "m1");
    assert_int_equal(it.prompt_version, 1);
    assert_int_equal(it.attempts, 1);
    assert_int_equal(it.lease, 0);
    assert_null(it.error);
    assert_int_equal(it.n_history, 1);
    assert_int_equal(it.history[0].cls, TX_CLASS_SERVER);
    assert_int_equal(it.history[0].http_status, 503);
    assert_int_equal(it.history[0].latency_ms, 42);
    assert_string_equal(it.history[0].model, "m1");
    tx__item_clear(&it);

    assert_int_equal(tx__store_get(s, l.items[1].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_RETRYING);
    assert_int_equal(it.retry_after, T0 + 30000);
    assert_string_equal(it.error, "rate limited");
    assert_int_equal(it.error_class, TX_CLASS_RATE_LIMIT);
    tx__item_clear(&it);

    assert_int_equal(tx__store_get(s, l.items[2].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_FAILED);
    assert_int_equal(it.error_class, TX_CLASS_BAD_REQUEST);
    assert_int_equal(it.attempts, 1);
    tx__item_clear(&it);

    /* Given back on pause: pending again, the attempt budget as it was at claim time. */
    assert_int_equal(tx__store_get(s, l.items[3].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_PENDING);
    assert_int_equal(it.attempts, 0);
    assert_int_equal(it.n_history, 1);
    tx__item_clear(&it);

    /* Only the given-back item is due now; the parked one at its retry_after. */
    tx_ms_t when = 0;
    assert_int_equal(tx__store_next_due(s, T0 + 4, &when, NULL), TX_EOK);
    assert_int_equal(when, T0 + 3);
    tx_item_t again = claim_one(s, T0 + 4);
    assert_int_equal(again.id, l.items[3].id);
    tx__item_clear(&again);
    tx_item_list_t none;
    assert_int_equal(tx__store_claim(s, "w", 10, T0 + 29999, LEASE, &none, NULL), TX_EOK);
    assert_int_equal(none.n, 0);
    assert_int_equal(tx__store_next_due(s, T0 + 5, &when, NULL), TX_EOK);
    assert_int_equal(when, T0 + 30000);
    again = claim_one(s, T0 + 30000);
    assert_int_equal(again.id, l.items[1].id);
    assert_int_equal(again.attempts, 1);
    assert_int_equal(tx__store_finish(s, again.id, again.lease, &success, T0 + 30001, NULL),
                     TX_EOK);
    tx__item_clear(&again);
    /* Only the processing one (lease expiry) remains a future wake-up. */
    assert_int_equal(tx__store_next_due(s, T0 + 5, &when, NULL), TX_EOK);
    assert_int_equal(when, T0 + 4 + LEASE);

    tx_item_outcome_t bogus = {.status = TX_ITEM_SKIPPED};
    assert_int_equal(tx__store_finish(s, ids[0], 1, &bogus, T0, NULL), TX_EINVAL);
    tx_item_outcome_t no_result = {.status = TX_ITEM_SUCCESS};
    assert_int_equal(tx__store_finish(s, ids[0], 1, &no_result, T0, NULL), TX_EINVAL);
    tx__item_list_free(&l);
}

static void a_crash_mid_attempt_keeps_the_attempt(void **state)
{
    ctx_t *c = *state;
    int64_t id;
    seed(c->s, "o", "k", 1, &id);
    tx_item_t it = claim_one(c->s, T0);
    int n;
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 2, T0 + 1, "m", &n, NULL), TX_EOK);
    /* The process dies here: the handle goes away without a finish. */
    tx__store_close(c->s);
    c->s = NULL;
    assert_int_equal(tx__store_open(c->url, &c->s, NULL), TX_EOK);
    int64_t count = 0;
    assert_int_equal(tx__store_reclaim_expired(c->s, T0 + LEASE, &count, NULL), TX_EOK);
    assert_int_equal(count, 1);
    tx_item_t again = claim_one(c->s, T0 + LEASE);
    assert_int_equal(again.id, id);
    assert_int_equal(again.attempts, 1);
    assert_int_equal(tx__store_begin_attempt(c->s, id, again.lease, 2, T0 + LEASE, "m", &n, NULL),
                     TX_EOK);
    assert_int_equal(n, 2);
    assert_int_equal(tx__store_begin_attempt(c->s, id, again.lease, 2, T0 + LEASE, "m", &n, NULL),
                     TX_ERANGE);
    tx__item_clear(&it);
    tx__item_clear(&again);
}

/* finish carrying the attempt row: history and status land together in one transaction; a
 * stale lease writes neither. */
static void finish_with_attempt_is_one_write(void **state)
{
    ctx_t *c = *state;
    int64_t id;
    seed(c->s, "o", "fa", 1, &id);
    tx_item_t it = claim_one(c->s, T0);
    int n;
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + 1, "m", &n, NULL), TX_EOK);
    tx_history_row_t a = {.n = n,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS_OK,
                          .http_status = 200,
                          .latency_ms = 7,
                          .at = T0 + 2};
    tx_item_outcome_t o = {.status = TX_ITEM_SUCCESS,
                           .result = "{\"k\":1}",
                           .model = "m",
                           .prompt_version = 1,
                           .error_class = -1,
                           .attempt = &a};
    /* A wrong lease: refused, and no history row was written either. */
    assert_int_equal(tx__store_finish(c->s, id, it.lease + 1, &o, T0 + 3, NULL), TX_ECONFLICT);
    tx_item_t got;
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.n_history, 0);
    assert_int_equal(got.status, TX_ITEM_PROCESSING);
    tx__item_clear(&got);
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &o, T0 + 3, NULL), TX_EOK);
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.status, TX_ITEM_SUCCESS);
    assert_int_equal(got.n_history, 1);
    assert_int_equal(got.history[0].n, 1);
    assert_int_equal(got.history[0].http_status, 200);
    assert_int_equal(got.history[0].latency_ms, 7);
    tx__item_clear(&got);
    /* The lease is released: the same call again is refused and adds nothing. */
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &o, T0 + 4, NULL), TX_ECONFLICT);
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.n_history, 1);
    tx__item_clear(&got);
    tx__item_clear(&it);
}

/* finish carrying an attempt row with an impossible class: refused before anything is written
 * (neither the row nor the status), the lease still holds and a good finish then works. */
static void finish_with_bad_attempt_writes_nothing(void **state)
{
    ctx_t *c = *state;
    int64_t id;
    seed(c->s, "o", "fb", 1, &id);
    tx_item_t it = claim_one(c->s, T0);
    int n;
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + 1, "m", &n, NULL), TX_EOK);
    tx_history_row_t a = {.n = n,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS__LAST,
                          .http_status = 200,
                          .latency_ms = 7,
                          .at = T0 + 2};
    tx_item_outcome_t o = {.status = TX_ITEM_SUCCESS,
                           .result = "[]",
                           .model = "m",
                           .prompt_version = 1,
                           .error_class = -1,
                           .attempt = &a};
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &o, T0 + 3, NULL), TX_EINVAL);
    tx_item_t got;
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.status, TX_ITEM_PROCESSING);
    assert_int_equal(got.n_history, 0);
    tx__item_clear(&got);
    a.cls = TX_CLASS_OK;
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &o, T0 + 4, NULL), TX_EOK);
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.status, TX_ITEM_SUCCESS);
    assert_int_equal(got.n_history, 1);
    tx__item_clear(&got);
    tx__item_clear(&it);
}

/* Claims exactly n items (the n oldest due) and returns them (caller frees). */
static tx_item_list_t claim_n(tx_store_t *s, size_t n, tx_ms_t now)
{
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w1", n, now, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, n);
    return l;
}

static int attempts_of(tx_store_t *s, int64_t id, size_t *n_history)
{
    tx_item_t it;
    assert_int_equal(tx__store_get(s, id, &it, NULL), TX_EOK);
    int a = it.attempts;
    if (n_history) *n_history = it.n_history;
    tx__item_clear(&it);
    return a;
}

/* A copied error keeps its message after the original is gone (group answers are copied out
 * of the store thread's requests). */
static void error_copy_outlives_its_source(void **state)
{
    (void)state;
    tx_error_t src = {0}, dst = {0};
    tx__store_fail(&src, TX_ECONFLICT, "store: item %d: lease lost", 7);
    tx__store_error_copy(&dst, &src);
    memset(&src, 0, sizeof src);
    assert_int_equal(dst.code, TX_ECONFLICT);
    assert_non_null(dst.msg);
    assert_string_equal(dst.msg, "store: item 7: lease lost");
    src.msg = "static text";
    tx__store_error_copy(&dst, &src);
    assert_string_equal(dst.msg, "static text");
    tx__store_error_copy(NULL, &src);
    tx__store_error_copy(&dst, NULL);
}

/* Group commit of begin_attempt: each request answered as a single call would be (a stale
 * lease and a used-up budget refuse only their own item; the same item twice counts twice). */
static void begin_attempts_answers_each_request(void **state)
{
    ctx_t *c = *state;
    seed(c->s, "o", "ba", 4, NULL);
    tx_item_list_t l = claim_n(c->s, 4, T0);
    tx_item_t *a = &l.items[0], *b = &l.items[1], *u = &l.items[2], *d = &l.items[3];
    int n;
    assert_int_equal(tx__store_begin_attempt(c->s, u->id, u->lease, 1, T0 + 1, "m", &n, NULL),
                     TX_EOK);
    tx_store_begin_t r[5] = {
        {.id = a->id, .lease = a->lease, .max_attempts = 3, .model = "m1"},
        {.id = b->id, .lease = b->lease, .max_attempts = 3, .model = "m2"},
        {.id = u->id, .lease = u->lease, .max_attempts = 1, .model = "m3"},
        {.id = d->id, .lease = d->lease + 1, .max_attempts = 3, .model = "m4"},
        {.id = a->id, .lease = a->lease, .max_attempts = 3, .model = "m1"},
    };
    assert_int_equal(tx__store_begin_attempts(c->s, r, 5, T0 + 2), TX_EOK);
    assert_int_equal(r[0].rc, TX_EOK);
    assert_int_equal(r[1].rc, TX_EOK);
    assert_int_equal(r[1].attempt_n, 1);
    assert_int_equal(r[2].rc, TX_ERANGE);
    assert_int_equal(r[3].rc, TX_ECONFLICT);
    assert_non_null(r[3].err.msg);
    assert_int_equal(r[4].rc, TX_EOK);
    assert_true((r[0].attempt_n == 1 && r[4].attempt_n == 2) ||
                (r[0].attempt_n == 2 && r[4].attempt_n == 1));
    assert_int_equal(attempts_of(c->s, a->id, NULL), 2);
    assert_int_equal(attempts_of(c->s, b->id, NULL), 1);
    assert_int_equal(attempts_of(c->s, u->id, NULL), 1);
    assert_int_equal(attempts_of(c->s, d->id, NULL), 0);
    /* Without duplicates (the one-statement path on PostgreSQL), and an expired lease. */
    tx_store_begin_t r2[3] = {
        {.id = a->id, .lease = a->lease, .max_attempts = 3, .model = "m1"},
        {.id = b->id, .lease = b->lease, .max_attempts = 3, .model = "m2"},
        {.id = d->id, .lease = d->lease, .max_attempts = 3, .model = "m4"},
    };
    assert_int_equal(tx__store_begin_attempts(c->s, r2, 3, T0 + 3), TX_EOK);
    assert_int_equal(r2[0].rc, TX_EOK);
    assert_int_equal(r2[0].attempt_n, 3);
    assert_int_equal(r2[1].rc, TX_EOK);
    assert_int_equal(r2[1].attempt_n, 2);
    assert_int_equal(r2[2].rc, TX_EOK);
    assert_int_equal(r2[2].attempt_n, 1);
    assert_int_equal(tx__store_begin_attempts(c->s, r2, 2, T0 + 4), TX_EOK);
    assert_int_equal(r2[0].rc, TX_ERANGE); /* a: 3 of 3 */
    assert_int_equal(r2[1].rc, TX_EOK);
    assert_int_equal(r2[1].attempt_n, 3);
    assert_int_equal(tx__store_begin_attempts(c->s, r2 + 1, 2, T0 + LEASE + 1), TX_EOK);
    assert_int_equal(r2[1].rc, TX_ECONFLICT); /* the lease expired */
    assert_int_equal(r2[2].rc, TX_ECONFLICT);
    assert_int_equal(attempts_of(c->s, a->id, NULL), 3);
    assert_int_equal(attempts_of(c->s, b->id, NULL), 3);
    assert_int_equal(attempts_of(c->s, d->id, NULL), 1);
    assert_int_equal(tx__store_begin_attempts(c->s, r2, 0, T0), TX_EOK);
    assert_int_equal(tx__store_begin_attempts(NULL, r2, 1, T0), TX_EINVAL);
    assert_int_equal(tx__store_begin_attempts(c->s, NULL, 1, T0), TX_EINVAL);
    tx__item_list_free(&l);
}

/* Group commit of finish: every outcome kind in one group, each with its own answer; a stale
 * lease and a bad outcome change nothing of theirs and nothing of the others'. */
static void finish_many_answers_each_request(void **state)
{
    ctx_t *c = *state;
    seed(c->s, "o", "fm", 6, NULL);
    tx_item_list_t l = claim_n(c->s, 6, T0);
    int n;
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(tx__store_begin_attempt(c->s, l.items[i].id, l.items[i].lease, 3, T0 + 1,
                                                 "m", &n, NULL),
                         TX_EOK);
    tx_history_row_t att[6];
    for (int i = 0; i < 6; i++)
        att[i] = (tx_history_row_t){.n = 1,
                                    .model = "m",
                                    .endpoint = "0",
                                    .cls = TX_CLASS_OK,
                                    .http_status = 200,
                                    .latency_ms = 10 + i,
                                    .at = T0 + 2};
    att[1].cls = TX_CLASS_SERVER;
    att[1].http_status = 503;
    att[2].cls = TX_CLASS_QUOTA;
    att[2].http_status = 429;
    att[5].cls = TX_CLASS_BAD_REQUEST;
    att[5].http_status = 400;
    tx_item_outcome_t o[6] = {
        {.status = TX_ITEM_SUCCESS,
         .result = "[\"x\"]",
         .model = "m",
         .prompt_version = 1,
         .error_class = -1,
         .attempt = &att[0]},
        {.status = TX_ITEM_RETRYING,
         .retry_after = T0 + 500,
         .error = "HTTP 503",
         .error_class = TX_CLASS_SERVER,
         .attempt = &att[1]},
        {.status = TX_ITEM_PENDING,
         .error = "quota",
         .error_class = TX_CLASS_QUOTA,
         .attempt = &att[2]},
        {.status = TX_ITEM_SUCCESS,
         .result = "[]",
         .model = "m",
         .prompt_version = 1,
         .error_class = -1,
         .attempt = &att[3]},
        {.status = TX_ITEM_SUCCESS, .result = NULL, .error_class = -1, .attempt = &att[4]},
        {.status = TX_ITEM_FAILED, .error = "HTTP 400", .error_class = TX_CLASS_BAD_REQUEST},
    };
    tx_store_finish_t r[6];
    for (int i = 0; i < 6; i++)
        r[i] =
            (tx_store_finish_t){.id = l.items[i].id, .lease = l.items[i].lease, .outcome = &o[i]};
    r[3].lease++; /* stale */
    assert_int_equal(tx__store_finish_many(c->s, r, 6, T0 + 3), TX_EOK);
    assert_int_equal(r[0].rc, TX_EOK);
    assert_int_equal(r[1].rc, TX_EOK);
    assert_int_equal(r[2].rc, TX_EOK);
    assert_int_equal(r[3].rc, TX_ECONFLICT);
    assert_int_equal(r[4].rc, TX_EINVAL);
    assert_int_equal(r[5].rc, TX_EOK);
    tx_item_t it;
    assert_int_equal(tx__store_get(c->s, l.items[0].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_SUCCESS);
    assert_string_equal(it.result, "[\"x\"]");
    assert_int_equal(it.n_history, 1);
    assert_int_equal(it.history[0].latency_ms, 10);
    assert_int_equal(it.history[0].refunded, 0);
    tx__item_clear(&it);
    assert_int_equal(tx__store_get(c->s, l.items[1].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_RETRYING);
    assert_int_equal(it.retry_after, T0 + 500);
    assert_int_equal(it.error_class, TX_CLASS_SERVER);
    assert_int_equal(it.attempts, 1);
    assert_int_equal(it.n_history, 1);
    assert_int_equal(it.history[0].http_status, 503);
    tx__item_clear(&it);
    assert_int_equal(tx__store_get(c->s, l.items[2].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_PENDING);
    assert_int_equal(it.attempts, 0); /* refunded */
    assert_int_equal(it.n_history, 1);
    assert_int_equal(it.history[0].refunded, 1);
    tx__item_clear(&it);
    for (int i = 3; i < 5; i++) {
        assert_int_equal(tx__store_get(c->s, l.items[i].id, &it, NULL), TX_EOK);
        assert_int_equal(it.status, TX_ITEM_PROCESSING);
        assert_int_equal(it.n_history, 0);
        tx__item_clear(&it);
    }
    assert_int_equal(tx__store_get(c->s, l.items[5].id, &it, NULL), TX_EOK);
    assert_int_equal(it.status, TX_ITEM_FAILED);
    assert_string_equal(it.error, "HTTP 400");
    assert_int_equal(it.n_history, 0);
    tx__item_clear(&it);
    /* Again: every lease that was used is released now; the two untouched ones still work. */
    r[3].lease--;
    o[4].result = "{}";
    assert_int_equal(tx__store_finish_many(c->s, r, 6, T0 + 4), TX_EOK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r[i].rc, i == 3 || i == 4 ? TX_EOK : TX_ECONFLICT);
    size_t hist = 0;
    assert_int_equal(attempts_of(c->s, l.items[0].id, &hist), 1);
    assert_int_equal(hist, 1);
    assert_int_equal(attempts_of(c->s, l.items[4].id, &hist), 1);
    assert_int_equal(hist, 1);
    assert_int_equal(status_of(c->s, l.items[3].id), TX_ITEM_SUCCESS);
    assert_int_equal(tx__store_finish_many(c->s, r, 0, T0), TX_EOK);
    assert_int_equal(tx__store_finish_many(NULL, r, 1, T0), TX_EINVAL);
    tx__item_list_free(&l);
}

/* A hand-back (quota/auth pause) refunds the attempt: the item goes back pending with its
 * attempt count restored, the history row is kept and marked refunded, and the next attempt
 * reuses the n; the counted rows stay distinct. */
static void handed_back_attempt_is_marked_refunded(void **state)
{
    ctx_t *c = *state;
    int64_t id;
    seed(c->s, "o", "rf", 1, &id);
    tx_item_t it = claim_one(c->s, T0);
    int n;
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + 1, "m", &n, NULL), TX_EOK);
    assert_int_equal(n, 1);
    tx_history_row_t a = {.n = n,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS_QUOTA,
                          .http_status = 429,
                          .latency_ms = 3,
                          .at = T0 + 2};
    tx_item_outcome_t back = {
        .status = TX_ITEM_PENDING, .error = "quota", .error_class = TX_CLASS_QUOTA, .attempt = &a};
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &back, T0 + 3, NULL), TX_EOK);
    tx__item_clear(&it);
    it = claim_one(c->s, T0 + 10);
    assert_int_equal(it.id, id);
    assert_int_equal(it.attempts, 0); /* refunded */
    assert_int_equal(tx__store_begin_attempt(c->s, id, it.lease, 3, T0 + 11, "m", &n, NULL),
                     TX_EOK);
    assert_int_equal(n, 1); /* the same n again */
    tx_history_row_t ok = {.n = n,
                           .model = "m",
                           .endpoint = "0",
                           .cls = TX_CLASS_OK,
                           .http_status = 200,
                           .latency_ms = 4,
                           .at = T0 + 12};
    tx_item_outcome_t done = {.status = TX_ITEM_SUCCESS,
                              .result = "[]",
                              .model = "m",
                              .prompt_version = 1,
                              .error_class = -1,
                              .attempt = &ok};
    assert_int_equal(tx__store_finish(c->s, id, it.lease, &done, T0 + 13, NULL), TX_EOK);
    tx_item_t got;
    assert_int_equal(tx__store_get(c->s, id, &got, NULL), TX_EOK);
    assert_int_equal(got.n_history, 2);
    assert_int_equal(got.history[0].n, 1);
    assert_int_equal(got.history[0].cls, TX_CLASS_QUOTA);
    assert_int_equal(got.history[0].refunded, 1);
    assert_int_equal(got.history[1].n, 1);
    assert_int_equal(got.history[1].cls, TX_CLASS_OK);
    assert_int_equal(got.history[1].refunded, 0);
    tx__item_clear(&got);
    tx__item_clear(&it);
}

static void next_due_on_empty_store(void **state)
{
    tx_ms_t when = 0;
    assert_int_equal(tx__store_next_due(S(state), T0, &when, NULL), TX_ENOTFOUND);
}

/* Moves item `id` (claimed now) to the given outcome. */
static void finish_as(tx_store_t *s, tx_ms_t now, const tx_item_outcome_t *o)
{
    tx_item_t it = claim_one(s, now);
    int n;
    assert_int_equal(tx__store_begin_attempt(s, it.id, it.lease, 5, now, "m", &n, NULL), TX_EOK);
    assert_int_equal(tx__store_finish(s, it.id, it.lease, o, now, NULL), TX_EOK);
    tx__item_clear(&it);
}

static void retry_with_and_without_force(void **state)
{
    tx_store_t *s = S(state);
    seed(s, "o", "q", 6, NULL);
    tx_item_outcome_t park = {.status = TX_ITEM_RETRYING,
                              .retry_after = T0 + 3600000,
                              .error = "busy",
                              .error_class = TX_CLASS_CONCURRENCY};
    tx_item_outcome_t fail = {
        .status = TX_ITEM_FAILED, .error = "no", .error_class = TX_CLASS_INVALID_OUTPUT};
    finish_as(s, T0, &park);
    finish_as(s, T0, &park);
    finish_as(s, T0, &park);
    finish_as(s, T0, &fail);
    finish_as(s, T0, &fail);
    /* left: 1 pending */
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.by_status[TX_ITEM_RETRYING], 3);
    assert_int_equal(st.by_status[TX_ITEM_FAILED], 2);
    assert_int_equal(st.by_status[TX_ITEM_PENDING], 1);

    int64_t sel = -1;
    assert_int_equal(tx__store_retry(s, "o", 0, 2, T0 + 10, &sel, NULL), TX_EOK);
    assert_int_equal(sel, 2);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 10, T0 + 10, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 3); /* 2 made due + the pending one */
    for (size_t i = 0; i < l.n; i++) {
        int n;
        assert_int_equal(
            tx__store_begin_attempt(s, l.items[i].id, l.items[i].lease, 5, T0 + 10, "m", &n, NULL),
            TX_EOK);
        assert_int_equal(tx__store_finish(s, l.items[i].id, l.items[i].lease, &park, T0 + 10, NULL),
                         TX_EOK);
    }
    tx__item_list_free(&l);

    assert_int_equal(tx__store_retry(s, "nobody", 1, 50, T0 + 20, &sel, NULL), TX_EOK);
    assert_int_equal(sel, 0);
    assert_int_equal(tx__store_retry(s, "o", 0, 50, T0 + 20, &sel, NULL), TX_EOK);
    assert_int_equal(sel, 4); /* the failed ones stay failed */
    assert_int_equal(tx__store_retry(s, NULL, 0, 2, T0 + 21, &sel, NULL), TX_EOK);
    assert_int_equal(sel, 2); /* every owner, limited */
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.by_status[TX_ITEM_FAILED], 2);

    assert_int_equal(tx__store_retry(s, "o", 1, 50, T0 + 30, &sel, NULL), TX_EOK);
    assert_int_equal(sel, 6);
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.by_status[TX_ITEM_FAILED], 0);
    assert_int_equal(st.by_status[TX_ITEM_PENDING], 2);
    assert_int_equal(tx__store_claim(s, "w", 10, T0 + 30, LEASE, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < l.n; i++) {
        tx_item_t it;
        assert_int_equal(tx__store_get(s, l.items[i].id, &it, NULL), TX_EOK);
        assert_int_equal(it.n_history, 0); /* no record_attempt in this test */
        if (strcmp(it.error, "no") == 0)
            assert_int_equal(it.attempts, 0); /* forced: reset */
        else
            assert_true(it.attempts >= 1);
        tx__item_clear(&it);
    }
    tx__item_list_free(&l);
}

static void regenerate_resets_attempts_and_keeps_history(void **state)
{
    tx_store_t *s = S(state);
    int64_t id;
    seed(s, "o", "g", 1, &id);
    tx_item_t it = claim_one(s, T0);
    int n;
    assert_int_equal(tx__store_begin_attempt(s, id, it.lease, 5, T0, "m", &n, NULL), TX_EOK);
    tx_history_row_t a = {.n = 1,
                          .model = "m",
                          .endpoint = "0",
                          .cls = TX_CLASS_OK,
                          .http_status = 200,
                          .latency_ms = 7,
                          .at = T0};
    assert_int_equal(tx__store_record_attempt(s, id, it.lease, &a, NULL), TX_EOK);
    tx_item_outcome_t ok = {.status = TX_ITEM_SUCCESS,
                            .result = "[\"x\"]",
                            .model = "m",
                            .prompt_version = 1,
                            .error_class = -1};
    assert_int_equal(tx__store_finish(s, id, it.lease, &ok, T0, NULL), TX_EOK);
    tx__item_clear(&it);

    assert_int_equal(tx__store_regenerate(s, id, T0 + 100, NULL), TX_EOK);
    tx_item_t g;
    assert_int_equal(tx__store_get(s, id, &g, NULL), TX_EOK);
    assert_int_equal(g.status, TX_ITEM_PENDING);
    assert_int_equal(g.attempts, 0);
    assert_int_equal(g.n_history, 1);
    tx__item_clear(&g);

    /* Regenerating an item in hand makes the holder's lease stale. */
    it = claim_one(s, T0 + 100);
    assert_int_equal(it.id, id);
    assert_int_equal(tx__store_regenerate(s, id, T0 + 101, NULL), TX_EOK);
    assert_int_equal(tx__store_finish(s, id, it.lease, &ok, T0 + 102, NULL), TX_ECONFLICT);
    assert_int_equal(tx__store_begin_attempt(s, id, it.lease, 5, T0 + 102, "m", &n, NULL),
                     TX_ECONFLICT);
    tx__item_clear(&it);

    tx_item_input_t blank = {"o", "empty", NULL, " "};
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, &blank, 1, T0, &r, NULL), TX_EOK);
    tx_error_t err = {0};
    assert_int_equal(tx__store_regenerate(s, r.ids[0], T0, &err), TX_EINVAL);
    assert_non_null(strstr(err.msg, "skipped"));
    assert_int_equal(tx__store_regenerate(s, 987654, T0, NULL), TX_ENOTFOUND);
    tx__import_result_free(&r);
}

static void pause_survives_reopen(void **state)
{
    ctx_t *c = *state;
    tx_pause_t p;
    assert_int_equal(tx__store_pause_get(c->s, &p, NULL), TX_EOK);
    assert_int_equal(p.paused, 0);
    assert_int_equal(tx__store_pause_set(c->s, 1, "quota: insufficient_quota", T0, NULL), TX_EOK);
    tx__store_close(c->s);
    c->s = NULL;
    assert_int_equal(tx__store_open(c->url, &c->s, NULL), TX_EOK);
    assert_int_equal(tx__store_pause_get(c->s, &p, NULL), TX_EOK);
    assert_int_equal(p.paused, 1);
    assert_string_equal(p.reason, "quota: insufficient_quota");
    assert_int_equal(p.since, T0);
    assert_int_equal(tx__store_pause_set(c->s, 0, NULL, T0 + 1, NULL), TX_EOK);
    assert_int_equal(tx__store_pause_get(c->s, &p, NULL), TX_EOK);
    assert_int_equal(p.paused, 0);
    assert_string_equal(p.reason, "");
}

static void tasks_are_versioned_activated_and_rolled_back(void **state)
{
    tx_store_t *s = S(state);
    tx_task_t t;
    assert_int_equal(tx__store_task_get(s, "tags", 0, &t, NULL), TX_EOK);
    assert_int_equal(t.version, 1);
    assert_int_equal(t.active, 1);
    assert_string_equal(t.parser, "tags");
    assert_non_null(strstr(t.system_prompt, "JSON array"));
    assert_non_null(strstr(t.system_prompt, "same language"));
    assert_non_null(strstr(t.user_template, "{{text}}"));
    char *v1_prompt = strdup(t.system_prompt);
    tx__task_clear(&t);

    tx_task_spec_t v2 = {"You tag posts v2.", "{{text}}", NULL, "tags", "gpt-4o"};
    int ver = 0;
    assert_int_equal(tx__store_task_put_version(s, "tags", &v2, T0, &ver, NULL), TX_EOK);
    assert_int_equal(ver, 2);
    assert_int_equal(tx__store_task_get(s, "tags", 0, &t, NULL), TX_EOK);
    assert_int_equal(t.version, 1); /* a new version is not active until activated */
    tx__task_clear(&t);
    assert_int_equal(tx__store_task_activate(s, "tags", 2, NULL), TX_EOK);
    assert_int_equal(tx__store_task_get(s, "tags", 0, &t, NULL), TX_EOK);
    assert_int_equal(t.version, 2);
    assert_string_equal(t.model, "gpt-4o");
    tx__task_clear(&t);

    /* Claims carry the active version. */
    seed(s, "o", "t", 1, NULL);
    tx_item_t it = claim_one(s, T0);
    assert_int_equal(it.task_version, 2);
    tx__item_clear(&it);

    assert_int_equal(tx__store_task_activate(s, "tags", 1, NULL), TX_EOK); /* rollback */
    assert_int_equal(tx__store_task_get(s, "tags", 0, &t, NULL), TX_EOK);
    assert_int_equal(t.version, 1);
    assert_string_equal(t.system_prompt, v1_prompt); /* never edited */
    assert_null(t.model);
    tx__task_clear(&t);
    free(v1_prompt);

    tx_error_t err = {0};
    assert_int_equal(tx__store_task_activate(s, "tags", 9, &err), TX_ENOTFOUND);
    assert_int_equal(tx__store_task_get(s, "nope", 0, &t, NULL), TX_ENOTFOUND);
    assert_int_equal(tx__store_task_get(s, "tags", 7, &t, NULL), TX_ENOTFOUND);
    tx_task_spec_t bad = {NULL, "{{text}}", NULL, "json", NULL};
    assert_int_equal(tx__store_task_put_version(s, "x", &bad, T0, &ver, NULL), TX_EINVAL);

    tx_task_spec_t sum = {"Summarise.", "{{text}}", "{\"type\":\"text\"}", "text", NULL};
    assert_int_equal(tx__store_task_put_version(s, "summary", &sum, T0, &ver, NULL), TX_EOK);
    assert_int_equal(ver, 1);
    tx_task_t *all = NULL;
    size_t n = 0;
    assert_int_equal(tx__store_task_list(s, &all, &n, NULL), TX_EOK);
    assert_int_equal(n, 3);
    assert_string_equal(all[0].name, "summary");
    assert_int_equal(all[0].active, 1);
    assert_string_equal(all[1].name, "tags");
    assert_int_equal(all[1].version, 1);
    assert_int_equal(all[1].active, 1);
    assert_int_equal(all[2].version, 2);
    assert_int_equal(all[2].active, 0);
    tx__task_list_free(all, n);
}

static void list_pages_with_a_cursor(void **state)
{
    tx_store_t *s = S(state);
    seed(s, "p", "i", 25, NULL);
    seed(s, "other", "i", 5, NULL);
    int64_t after = 0, last = 0;
    size_t sizes[4], total = 0;
    for (int page = 0; page < 4; page++) {
        tx_item_list_t l;
        assert_int_equal(tx__store_list(s, "p", -1, 10, after, &l, NULL), TX_EOK);
        sizes[page] = l.n;
        for (size_t i = 0; i < l.n; i++) {
            assert_true(l.items[i].id > last);
            last = l.items[i].id;
            assert_string_equal(l.items[i].owner, "p");
            assert_null(l.items[i].history);
        }
        total += l.n;
        if (l.n) after = l.items[l.n - 1].id;
        tx__item_list_free(&l);
    }
    assert_int_equal(sizes[0], 10);
    assert_int_equal(sizes[1], 10);
    assert_int_equal(sizes[2], 5);
    assert_int_equal(sizes[3], 0);
    assert_int_equal(total, 25);

    tx_item_t it = claim_one(s, T0);
    tx_item_list_t l;
    assert_int_equal(tx__store_list(s, it.owner, TX_ITEM_PROCESSING, 0, 0, &l, NULL), TX_EOK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.items[0].id, it.id);
    tx__item_list_free(&l);
    tx__item_clear(&it);
    assert_int_equal(tx__store_list(s, "p", 99, 10, 0, &l, NULL), TX_EINVAL);
    assert_int_equal(tx__store_list(s, NULL, -1, 10, 0, &l, NULL), TX_EINVAL);
}

static int count_cb(const tx_item_t *it, void *ud)
{
    int *n = ud;
    (*n)++;
    return it->external_id[0] == 'e' && *n >= 3; /* stop after three */
}

static void stats_and_export(void **state)
{
    tx_store_t *s = S(state);
    seed(s, "s", "e", 8, NULL);
    tx_item_input_t blank = {"s", "blank", NULL, ""};
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, &blank, 1, T0, &r, NULL), TX_EOK);
    tx__import_result_free(&r);
    seed(s, "t", "e", 2, NULL);
    tx_item_outcome_t ok = {
        .status = TX_ITEM_SUCCESS, .result = "[]", .model = "m", .error_class = -1};
    tx_item_outcome_t park = {.status = TX_ITEM_RETRYING,
                              .retry_after = T0 + 1000,
                              .error = "x",
                              .error_class = TX_CLASS_RATE_LIMIT};
    tx_item_outcome_t fail = {.status = TX_ITEM_FAILED, .error = "x", .error_class = TX_CLASS_AUTH};
    finish_as(s, T0, &ok);
    finish_as(s, T0, &ok);
    finish_as(s, T0, &ok);
    finish_as(s, T0, &park);
    finish_as(s, T0, &park);
    finish_as(s, T0, &fail);
    tx_item_t held = claim_one(s, T0);
    /* owner s: 3 success, 2 retrying, 1 failed, 1 processing, 1 pending, 1 skipped */
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "s", &st, NULL), TX_EOK);
    assert_int_equal(st.total, 9);
    assert_int_equal(st.with_result, 3);
    assert_int_equal(st.without_result, 6);
    assert_int_equal(st.need_retry, 2);
    assert_int_equal(st.by_status[TX_ITEM_SUCCESS], 3);
    assert_int_equal(st.by_status[TX_ITEM_RETRYING], 2);
    assert_int_equal(st.by_status[TX_ITEM_FAILED], 1);
    assert_int_equal(st.by_status[TX_ITEM_PROCESSING], 1);
    assert_int_equal(st.by_status[TX_ITEM_PENDING], 1);
    assert_int_equal(st.by_status[TX_ITEM_SKIPPED], 1);
    assert_int_equal(tx__store_stats(s, NULL, &st, NULL), TX_EOK);
    assert_int_equal(st.total, 11);
    assert_int_equal(tx__store_stats(s, "nobody", &st, NULL), TX_EOK);
    assert_int_equal(st.total, 0);

    int n = 0;
    assert_int_equal(tx__store_export(s, "s", TX_ITEM_SUCCESS, count_cb, &n, NULL), TX_EOK);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(tx__store_export(s, NULL, -1, count_cb, &n, NULL), TX_EOK);
    assert_int_equal(n, 3); /* stopped early by the callback */
    n = 0;
    assert_int_equal(tx__store_export(s, "t", -1, count_cb, &n, NULL), TX_EOK);
    assert_int_equal(n, 2);
    tx__item_clear(&held);
}

static void bad_arguments_are_clear_errors(void **state)
{
    (void)state;
    tx_store_t *s = (tx_store_t *)1;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(NULL, &s, &err), TX_EINVAL);
    assert_null(s);
    assert_int_equal(tx__store_open("mysql://x", &s, &err), TX_EINVAL);
    assert_non_null(strstr(err.msg, "scheme"));
    assert_int_equal(tx__store_open("mysql://root:hunter2@db/x", &s, &err), TX_EINVAL);
    assert_null(strstr(err.msg, "hunter2")); /* no secret in the message */
    assert_non_null(strstr(err.msg, "mysql"));
    assert_int_equal(tx__store_open("sqlite:", &s, &err), TX_EINVAL);
    assert_int_equal(tx__store_open("", &s, &err), TX_EINVAL);
    tx__store_close(NULL);
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(NULL, "o", &st, &err), TX_EINVAL);
    assert_int_equal(tx__store_claim(NULL, "w", 1, T0, LEASE, NULL, NULL), TX_EINVAL);
    assert_int_equal(tx__store_get(NULL, 1, NULL, NULL), TX_EINVAL);
    assert_string_equal(tx__item_status_name(TX_ITEM_RETRYING), "retrying");
    assert_string_equal(tx__item_status_name((tx_item_status_t)42), "unknown");
    assert_int_equal(tx__item_status_from_name("skipped"), TX_ITEM_SKIPPED);
    assert_int_equal(tx__item_status_from_name(NULL), -1);
    assert_int_equal(tx__item_status_from_name("done"), -1);
    tx__item_clear(NULL);
    tx__item_list_free(NULL);
    tx__import_result_free(NULL);
    tx__task_clear(NULL);
}

static void handle_null_arguments(void **state)
{
    tx_store_t *s = S(state);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 1, T0, 0, &l, NULL), TX_EINVAL);
    assert_int_equal(tx__store_import(s, NULL, 3, T0, NULL, NULL), TX_EINVAL);
    assert_int_equal(tx__store_finish(s, 1, 1, NULL, T0, NULL), TX_EINVAL);
    assert_int_equal(tx__store_export(s, NULL, -1, NULL, NULL, NULL), TX_EINVAL);
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, NULL, 0, T0, &r, NULL), TX_EOK);
    assert_int_equal(r.n, 0);
    tx__import_result_free(&r);
    /* Invalid UTF-8 and a large text are stored byte for byte. */
    char big[70000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[5] = (char)0xff;
    tx_item_input_t in = {"o", "\xc3\x28", NULL, big};
    assert_int_equal(tx__store_import(s, &in, 1, T0, &r, NULL), TX_EOK);
    tx_item_t it;
    assert_int_equal(tx__store_get(s, r.ids[0], &it, NULL), TX_EOK);
    assert_int_equal(strlen(it.text), sizeof big - 1);
    assert_memory_equal(it.text, big, sizeof big - 1);
    assert_string_equal(it.external_id, "\xc3\x28");
    tx__item_clear(&it);
    tx__import_result_free(&r);
}

/* ---- SQLite-only: what the file system can do to us --------------------------------------- */

static void sqlite_corrupt_file_is_a_clear_error(void **state)
{
    (void)state;
    char path[300], url[320];
    snprintf(path, sizeof path, "%s/garbage.db", g_tmp);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    snprintf(url, sizeof url, "sqlite:%s", path);
    tx_store_t *s = (tx_store_t *)1;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "not a tenax SQLite database or is corrupt"));
}

static void sqlite_missing_folder_is_a_clear_error(void **state)
{
    (void)state;
    char url[320];
    snprintf(url, sizeof url, "sqlite:%s/no/such/folder/x.db", g_tmp);
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "folder"));
}

static void sqlite_read_only_file_is_a_clear_error(void **state)
{
    (void)state;
    if (geteuid() == 0) skip(); /* root writes to read-only files */
    char path[300], url[320];
    snprintf(path, sizeof path, "%s/ro.db", g_tmp);
    snprintf(url, sizeof url, "sqlite:%s", path);
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    tx__store_close(s);
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    assert_int_equal(chmod(path, 0444), 0);
    tx_error_t err = {0};
    assert_int_not_equal(tx__store_open(url, &s, &err), TX_EOK);
    assert_null(s);
    assert_non_null(strstr(err.msg, "read-only"));
}

static void sqlite_newer_schema_is_refused(void **state)
{
    (void)state;
    char path[300], url[320];
    snprintf(path, sizeof path, "%s/newer.db", g_tmp);
    snprintf(url, sizeof url, "sqlite:%s", path);
    tx_store_t *s = NULL;
    assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
    tx__store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err.msg, "newer"));
}

static void sqlite_locked_database_is_a_clear_error(void **state)
{
    (void)state;
    char path[300], url[360];
    snprintf(path, sizeof path, "%s/locked.db", g_tmp);
    snprintf(url, sizeof url, "sqlite:%s?busy_timeout_ms=20", path);
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    assert_int_equal(tx__store_open(url, &s, &err), TX_EOK);
    seed(s, "o", "z", 2, NULL);
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    tx_item_list_t l;
    assert_int_equal(tx__store_claim(s, "w", 1, T0, LEASE, &l, &err), TX_EBUSY);
    assert_non_null(strstr(err.msg, "locked"));
    assert_int_equal(l.n, 0);
    tx_item_input_t in = {"o", "new", NULL, "text"};
    tx_import_result_t r;
    assert_int_equal(tx__store_import(s, &in, 1, T0, &r, &err), TX_EBUSY);
    /* Reads still work under WAL while another process writes. */
    tx_store_stats_t st;
    assert_int_equal(tx__store_stats(s, "o", &st, NULL), TX_EOK);
    assert_int_equal(st.total, 2);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(tx__store_claim(s, "w", 1, T0, LEASE, &l, &err), TX_EOK);
    assert_int_equal(l.n, 1);
    tx__item_list_free(&l);
    tx__store_close(s);
}

static void sqlite_url_options(void **state)
{
    (void)state;
    char url[360];
    tx_store_t *s = NULL;
    tx_error_t err = {0};
    const char *bad[] = {"?busy_timeout_ms=abc", "?busy_timeout_ms=", "?busy_timeout_ms=700000",
                         "?busy_timeout_ms=-1",  "?nope=1",           "?busy_timeout_ms=10&x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(url, sizeof url, "sqlite:%s/opts.db%s", g_tmp, bad[i]);
        assert_int_equal(tx__store_open(url, &s, &err), TX_EINVAL);
        assert_null(s);
    }
    assert_int_equal(tx__store_open("sqlite:?busy_timeout_ms=1", &s, &err), TX_EINVAL);
    snprintf(url, sizeof url, "sqlite:%s/opts.db?busy_timeout_ms=0", g_tmp);
    assert_int_equal(tx__store_open(url, &s, &err), TX_EOK);
    tx__store_close(s);
    assert_int_equal(tx__store_open("sqlite::memory:", &s, &err), TX_EOK);
    tx_task_t t;
    assert_int_equal(tx__store_task_get(s, "tags", 0, &t, NULL), TX_EOK);
    tx__task_clear(&t);
    tx__store_close(s);
}

typedef struct {
    const char *url;
    int rc;
} opener_t;

static void *open_and_close(void *arg)
{
    opener_t *o = arg;
    tx_store_t *s = NULL;
    o->rc = tx__store_open(o->url, &s, NULL);
    tx__store_close(s);
    return NULL;
}

/* Many handles opening one fresh file at once (each racing the others' WAL switch and
 * migration) all succeed: a race waits within the busy timeout, it does not fail. Several
 * rounds, each on a new file, so the race is actually hit. */
static void sqlite_concurrent_first_open_migrates_once(void **state)
{
    (void)state;
    enum { ROUNDS = 12, THREADS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        char url[360];
        snprintf(url, sizeof url, "sqlite:%s/fresh%d.db", g_tmp, round);
        opener_t o[THREADS];
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++) {
            o[i] = (opener_t){url, -1};
            assert_int_equal(pthread_create(&th[i], NULL, open_and_close, &o[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(o[i].rc, TX_EOK);
        }
        tx_store_t *s = NULL;
        assert_int_equal(tx__store_open(url, &s, NULL), TX_EOK);
        tx_task_t *all = NULL;
        size_t n = 0;
        assert_int_equal(tx__store_task_list(s, &all, &n, NULL), TX_EOK);
        assert_int_equal(n, 1); /* the seed ran once */
        assert_string_equal(all[0].name, "tags");
        tx__task_list_free(all, n);
        tx__store_close(s);
    }
}

#define STORE_TESTS                                                                                \
    X(import_is_idempotent_and_skips_blank)                                                        \
    X(claim_gives_each_item_once_across_handles)                                                   \
    X(concurrent_claimers_never_share_an_item)                                                     \
    X(stale_lease_cannot_write_and_expired_is_reclaimed)                                           \
    X(attempts_are_persisted_before_the_call_and_capped)                                           \
    X(lifecycle_paths)                                                                             \
    X(a_crash_mid_attempt_keeps_the_attempt)                                                       \
    X(finish_with_attempt_is_one_write)                                                            \
    X(finish_with_bad_attempt_writes_nothing)                                                      \
    X(error_copy_outlives_its_source)                                                              \
    X(begin_attempts_answers_each_request)                                                         \
    X(finish_many_answers_each_request)                                                            \
    X(handed_back_attempt_is_marked_refunded)                                                      \
    X(next_due_on_empty_store)                                                                     \
    X(retry_with_and_without_force)                                                                \
    X(regenerate_resets_attempts_and_keeps_history)                                                \
    X(pause_survives_reopen)                                                                       \
    X(tasks_are_versioned_activated_and_rolled_back)                                               \
    X(list_pages_with_a_cursor)                                                                    \
    X(stats_and_export)                                                                            \
    X(handle_null_arguments)

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run_for(const char *tmpl)
{
    g_template = tmpl;
    fprintf(stderr, "store URL: %s\n", tmpl);
    const struct CMUnitTest tests[] = {
#define X(name) cmocka_unit_test_setup_teardown(name, setup, teardown),
        STORE_TESTS
#undef X
    };
    return cmocka_run_group_tests_name(tmpl, tests, NULL, NULL);
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "%s/tx_store_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char def[400];
    snprintf(def, sizeof def, "sqlite:%s/{}.db", g_tmp);
    int failed = run_for(def);

    const struct CMUnitTest fs_tests[] = {
        cmocka_unit_test(bad_arguments_are_clear_errors),
        cmocka_unit_test(sqlite_corrupt_file_is_a_clear_error),
        cmocka_unit_test(sqlite_missing_folder_is_a_clear_error),
        cmocka_unit_test(sqlite_read_only_file_is_a_clear_error),
        cmocka_unit_test(sqlite_newer_schema_is_refused),
        cmocka_unit_test(sqlite_locked_database_is_a_clear_error),
        cmocka_unit_test(sqlite_url_options),
        cmocka_unit_test(sqlite_concurrent_first_open_migrates_once),
    };
    failed += cmocka_run_group_tests_name("sqlite files", fs_tests, NULL, NULL);

    const char *urls = getenv("TX_TEST_STORE_URLS");
    if (urls && *urls) {
        char *copy = strdup(urls), *save = NULL;
        for (char *u = strtok_r(copy, " ", &save); u; u = strtok_r(NULL, " ", &save))
            failed += run_for(u);
        free(copy);
    }
    if (nftw(g_tmp, remove_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return failed ? 1 : 0;
}
