/* Endpoint failover (docs/upstream.md) with a fake clock: threshold, cooldown, one half-open probe,
 * recovery of the preferred endpoint, all-down choice, reload keeping health. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "upstream/endpoints.h"

static const char *const URLS[] = {"http://a/v1", "http://b/v1", "http://c/v1"};

/* Fails endpoint `i` (as picked) `k` times; returns the last event kind. */
static tx_ep_event_t fail_n(tx_endpoints_t *e, int k, tx_ms_t now, int expect_index)
{
    tx_ep_event_t ev = {0};
    for (int j = 0; j < k; j++) {
        tx_ep_pick_t p = tx__endpoints_pick(e, now);
        assert_int_equal(p.index, expect_index);
        tx__endpoints_report(e, p, TX_EP_FAIL, now, &ev);
    }
    return ev;
}

static void threshold_then_failover(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 3, 3, 1000);
    assert_non_null(e);
    tx_ep_event_t ev = fail_n(e, 2, 0, 0);
    assert_int_equal(ev.kind, TX_EP_EV_NONE);
    /* a success breaks the run */
    tx_ep_pick_t p = tx__endpoints_pick(e, 0);
    assert_int_equal(tx__endpoints_report(e, p, TX_EP_OK, 0, &ev), 0);
    ev = fail_n(e, 2, 0, 0);
    assert_int_equal(ev.kind, TX_EP_EV_NONE);
    /* neutral answers (429) neither count nor reset */
    p = tx__endpoints_pick(e, 0);
    tx__endpoints_report(e, p, TX_EP_NEUTRAL, 0, &ev);
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 0, &s);
    assert_int_equal(s.ep[0].failures, 2);
    ev = fail_n(e, 1, 10, 0);
    assert_int_equal(ev.kind, TX_EP_EV_FAILOVER);
    assert_int_equal(ev.from, 0);
    assert_int_equal(ev.to, 1);
    tx__endpoints_snapshot(e, 10, &s);
    assert_int_equal(s.active, 1);
    assert_int_equal(s.ep[0].health, TX_EP_DOWN);
    assert_int_equal(s.ep[0].down_until, 1010);
    assert_int_equal(s.ep[0].failovers, 1);
    assert_int_equal(s.ep[1].failovers, 0);
    /* during the cooldown everything goes to b */
    assert_int_equal(tx__endpoints_pick(e, 1009).index, 1);
    assert_false(tx__endpoints_pick(e, 1009).probe);
    tx__endpoints_free(e);
}

static void one_probe_after_cooldown(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 3, 1, 1000);
    tx_ep_event_t ev;
    fail_n(e, 1, 0, 0);
    tx_ep_pick_t probe = tx__endpoints_pick(e, 1000);
    assert_int_equal(probe.index, 0);
    assert_true(probe.probe);
    /* exactly one probe: the next requests still go to b */
    for (int i = 0; i < 5; i++) {
        tx_ep_pick_t p = tx__endpoints_pick(e, 1001 + i);
        assert_int_equal(p.index, 1);
        assert_false(p.probe);
    }
    /* probe fails: cooldown re-armed from the failure time, no new failover counted */
    assert_int_equal(tx__endpoints_report(e, probe, TX_EP_FAIL, 1500, &ev), 0);
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 1500, &s);
    assert_int_equal(s.ep[0].down_until, 2500);
    assert_int_equal(s.ep[0].failovers, 1);
    assert_false(s.ep[0].probing);
    assert_int_equal(tx__endpoints_pick(e, 2499).index, 1);
    probe = tx__endpoints_pick(e, 2500);
    assert_int_equal(probe.index, 0);
    assert_true(probe.probe);
    /* probe succeeds: a is healthy and active again */
    assert_int_equal(tx__endpoints_report(e, probe, TX_EP_OK, 2600, &ev), 1);
    assert_int_equal(ev.kind, TX_EP_EV_RECOVERED);
    assert_int_equal(ev.from, 0);
    assert_int_equal(ev.to, 0);
    tx_ep_pick_t p = tx__endpoints_pick(e, 2601);
    assert_int_equal(p.index, 0);
    assert_false(p.probe);
    /* a cancelled probe frees the probe slot without changing health */
    fail_n(e, 1, 3000, 0);
    probe = tx__endpoints_pick(e, 4000);
    assert_true(probe.probe);
    tx__endpoints_report(e, probe, TX_EP_CANCELLED, 4001, &ev);
    probe = tx__endpoints_pick(e, 4002);
    assert_true(probe.probe);
    assert_int_equal(probe.index, 0);
    /* a probe answered with a non-failover error (429) shows the endpoint is up */
    assert_int_equal(tx__endpoints_report(e, probe, TX_EP_NEUTRAL, 4003, &ev), 1);
    assert_int_equal(tx__endpoints_pick(e, 4004).index, 0);
    tx__endpoints_free(e);
}

static void all_down_uses_earliest_cooldown(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 3, 1, 1000);
    tx_ep_event_t ev = fail_n(e, 1, 0, 0);
    assert_int_equal(ev.to, 1);
    ev = fail_n(e, 1, 100, 1);
    assert_int_equal(ev.to, 2);
    ev = fail_n(e, 1, 50, 2); /* c goes down at 50: ends at 1050, before b (1100) */
    assert_int_equal(ev.kind, TX_EP_EV_FAILOVER);
    assert_int_equal(ev.to, 0); /* a ends first (1000) */
    tx_ep_pick_t p = tx__endpoints_pick(e, 500);
    assert_int_equal(p.index, 0);
    assert_false(p.probe);
    /* at 1000 a's probe is due; meanwhile others go to the earliest ending, still a */
    p = tx__endpoints_pick(e, 1000);
    assert_true(p.probe);
    assert_int_equal(p.index, 0);
    tx_ep_pick_t q = tx__endpoints_pick(e, 1001);
    assert_int_equal(q.index, 0);
    assert_false(q.probe);
    tx__endpoints_report(e, p, TX_EP_FAIL, 1001, &ev); /* a re-armed to 2001 */
    q = tx__endpoints_pick(e, 1060);                   /* c's cooldown over: probe c */
    assert_int_equal(q.index, 2);
    assert_true(q.probe);
    tx__endpoints_report(e, q, TX_EP_OK, 1061, &ev);
    assert_int_equal(ev.kind, TX_EP_EV_RECOVERED);
    assert_int_equal(ev.to, 2);
    /* b is preferred over c and due: it gets probed, c serves the rest */
    p = tx__endpoints_pick(e, 1100);
    assert_int_equal(p.index, 1);
    assert_true(p.probe);
    assert_int_equal(tx__endpoints_pick(e, 1100).index, 2);
    tx__endpoints_report(e, p, TX_EP_OK, 1101, &ev);
    assert_int_equal(ev.to, 1);
    assert_int_equal(tx__endpoints_pick(e, 1102).index, 1);
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 1102, &s);
    assert_int_equal(s.ep[0].failovers + s.ep[1].failovers + s.ep[2].failovers, 3);
    tx__endpoints_free(e);
}

static void reload_keeps_health(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 3, 1, 1000);
    fail_n(e, 1, 0, 0); /* a down until 1000 */
    tx_ep_pick_t stale = tx__endpoints_pick(e, 1000);
    assert_true(stale.probe);
    const char *const next[] = {"http://new/v1", "http://a/v1"};
    assert_int_equal(tx__endpoints_replace(e, next, 2), TX_EOK);
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 10, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ep[1].url, "http://a/v1");
    assert_int_equal(s.ep[1].health, TX_EP_DOWN);
    assert_int_equal(s.ep[1].failovers, 1);
    assert_false(s.ep[1].probing);
    assert_int_equal(s.ep[0].health, TX_EP_HEALTHY);
    assert_int_equal(s.active, 0);
    /* a report for a pick of the old list is ignored */
    assert_int_equal(tx__endpoints_report(e, stale, TX_EP_OK, 11, NULL), 0);
    tx__endpoints_snapshot(e, 11, &s);
    assert_int_equal(s.ep[1].health, TX_EP_DOWN);
    /* bad input leaves the list unchanged */
    assert_int_equal(tx__endpoints_replace(e, next, 0), TX_EINVAL);
    const char *const bad[] = {"http://x", NULL};
    assert_int_equal(tx__endpoints_replace(e, bad, 2), TX_EINVAL);
    assert_int_equal(tx__endpoints_count(e), 2);
    assert_null(tx__endpoints_url(e, 2));
    assert_null(tx__endpoints_url(e, -1));
    assert_int_equal(tx__endpoints_set_policy(e, 0, 1), TX_EINVAL);
    assert_int_equal(tx__endpoints_set_policy(e, 2, 5), TX_EOK);
    tx__endpoints_free(e);
    assert_null(tx__endpoints_new(URLS, 0, 1, 1));
    assert_null(tx__endpoints_new(URLS, 3, 0, 1));
    assert_null(tx__endpoints_new(NULL, 1, 1, 1));
    tx__endpoints_free(NULL);
}

/* A model that keeps failing on an endpoint takes only that pair down: other models stay there,
 * no failover event; the pair's probe after the cooldown brings it back. */
static void pair_down_not_endpoint(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 2, 2, 1000);
    int both[] = {0, 1};
    tx_ep_event_t ev;
    for (int i = 0; i < 2; i++) {
        tx_ep_pick_t p = tx__endpoints_pick_for(e, both, 2, "bad", -1, 0);
        assert_int_equal(p.index, 0);
        tx__endpoints_report_for(e, p, "bad", TX_EP_FAIL_MODEL, 0, &ev);
    }
    assert_int_equal(ev.kind, TX_EP_EV_MODEL_DOWN);
    assert_int_equal(ev.from, 0);
    /* the bad model moves to endpoint 1; a good model stays on 0 */
    assert_int_equal(tx__endpoints_pick_for(e, both, 2, "bad", -1, 10).index, 1);
    assert_int_equal(tx__endpoints_pick_for(e, both, 2, "good", -1, 10).index, 0);
    assert_true(tx__endpoints_available(e, both, 2, "bad", -1, 10));
    assert_false(tx__endpoints_available(e, both, 1, "bad", -1, 10)); /* only endpoint 0 */
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 10, &s);
    assert_int_equal(s.ep[0].health, TX_EP_HEALTHY);
    assert_int_equal(s.ep[0].failovers, 0);
    assert_int_equal(s.ep[0].npairs, 1);
    assert_string_equal(s.ep[0].pairs[0].model, "bad");
    assert_int_equal(s.ep[0].pairs[0].health, TX_EP_DOWN);
    /* only endpoint 0 serves it: all down, the pair back soonest is still used */
    tx_ep_pick_t p = tx__endpoints_pick_for(e, both, 1, "bad", -1, 10);
    assert_int_equal(p.index, 0);
    assert_true(p.all_down);
    /* after the cooldown: one probe of the pair; its success brings it back */
    p = tx__endpoints_pick_for(e, both, 1, "bad", -1, 1000);
    assert_true(p.pair_probe);
    assert_false(tx__endpoints_available(e, both, 1, "bad", -1, 1000)); /* probe in flight */
    assert_int_equal(tx__endpoints_report_for(e, p, "bad", TX_EP_OK, 1001, &ev), 1);
    assert_int_equal(ev.kind, TX_EP_EV_MODEL_RECOVERED);
    tx__endpoints_snapshot(e, 1001, &s);
    assert_int_equal(s.ep[0].npairs, 0);
    tx__endpoints_free(e);
}

/* A retry moves off the endpoint that failed when another candidate is healthy, and stays on it
 * when none is. Network failures still take the whole endpoint down. */
static void avoid_and_endpoint_wide(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 3, 1, 500);
    int c[] = {0, 1, 2};
    assert_int_equal(tx__endpoints_pick_for(e, c, 3, "m", 0, 0).index, 1);
    assert_int_equal(tx__endpoints_pick_for(e, c, 1, "m", 0, 0).index, 0); /* nowhere else */
    assert_false(tx__endpoints_available(e, c, 1, "m", 0, 0));
    assert_true(tx__endpoints_available(e, c, 3, "m", 0, 0));
    tx_ep_event_t ev;
    tx_ep_pick_t p = tx__endpoints_pick_for(e, c, 3, "m", -1, 0);
    assert_int_equal(tx__endpoints_report_for(e, p, "m", TX_EP_FAIL, 0, &ev), 1);
    assert_int_equal(ev.kind, TX_EP_EV_FAILOVER);
    assert_int_equal(ev.to, 1);
    /* the endpoint is down for every model */
    assert_int_equal(tx__endpoints_pick_for(e, c, 3, "other", -1, 1).index, 1);
    /* candidates in another order (another provider first) */
    int rev[] = {2, 1, 0};
    assert_int_equal(tx__endpoints_pick_for(e, rev, 3, "m", -1, 1).index, 2);
    tx__endpoints_free(e);
}

/* A reload with identities (provider + URL) keeps the pairs of an endpoint that stays. */
static void reload_keeps_pairs(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 1, 1, 1000);
    tx_ep_spec_t a[] = {{"p\x1fhttp://a/v1", "http://a/v1", 0},
                        {"q\x1fhttp://b/v1", "http://b/v1", 1}};
    assert_int_equal(tx__endpoints_replace_specs(e, a, 2), TX_EOK);
    tx_ep_pick_t p = tx__endpoints_pick_for(e, NULL, 0, "m", -1, 0);
    tx__endpoints_report_for(e, p, "m", TX_EP_FAIL_MODEL, 0, NULL);
    tx_ep_spec_t b[] = {{"q\x1fhttp://b/v1", "http://b/v1", 0},
                        {"p\x1fhttp://a/v1", "http://a/v1", 1}};
    assert_int_equal(tx__endpoints_replace_specs(e, b, 2), TX_EOK);
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 0, &s);
    assert_int_equal(s.ep[1].npairs, 1);
    assert_int_equal(s.ep[1].provider, 1);
    assert_int_equal(s.ep[0].npairs, 0);
    /* a stale pick's report is ignored */
    assert_int_equal(tx__endpoints_report_for(e, p, "m", TX_EP_OK, 1, NULL), 0);
    assert_int_equal(tx__endpoints_replace_specs(e, NULL, 0), TX_EINVAL);
    tx__endpoints_free(e);
}

/* More failing models than pair slots: the table stays bounded, down pairs are kept over
 * healthy ones with a short run. */
static void pairs_bounded(void **state)
{
    (void)state;
    tx_endpoints_t *e = tx__endpoints_new(URLS, 1, 1, 1000);
    char name[32];
    for (int i = 0; i < TX_EP_PAIRS_MAX + 4; i++) {
        snprintf(name, sizeof name, "model-%d", i);
        tx_ep_pick_t p = tx__endpoints_pick_for(e, NULL, 0, name, -1, i);
        tx__endpoints_report_for(e, p, name, TX_EP_FAIL_MODEL, i, NULL);
    }
    tx_endpoints_snap_t s;
    tx__endpoints_snapshot(e, 0, &s);
    assert_int_equal(s.ep[0].npairs, TX_EP_PAIRS_MAX);
    /* the newest failure is remembered (the earliest cooldown made room) */
    snprintf(name, sizeof name, "model-%d", TX_EP_PAIRS_MAX + 3);
    assert_false(tx__endpoints_available(e, NULL, 0, name, -1, TX_EP_PAIRS_MAX + 3));
    tx__endpoints_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threshold_then_failover),
        cmocka_unit_test(one_probe_after_cooldown),
        cmocka_unit_test(all_down_uses_earliest_cooldown),
        cmocka_unit_test(reload_keeps_health),
        cmocka_unit_test(pair_down_not_endpoint),
        cmocka_unit_test(avoid_and_endpoint_wide),
        cmocka_unit_test(reload_keeps_pairs),
        cmocka_unit_test(pairs_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
