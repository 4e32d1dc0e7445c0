/* Metrics registry: series lookup, caps, histogram buckets, exposition format and escaping, and
 * `promtool check metrics` on a sample with every tenax family populated. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obs/metrics.h"
#include "obs/tx_metrics.h"

static void counters_and_label_lookup(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    const char *ln[] = {"route", "status"};
    tx_metric_family_t *f =
        tx__metrics_register(m, TX_METRIC_COUNTER, "t_requests_total", "help", 2, ln, NULL, 0, 8);
    assert_non_null(f);
    const char *a[] = {"/v1/chat", "200"}, *b[] = {"/v1/chat", "500"};
    tx_metric_series_t *sa = tx__metrics_series(f, a);
    assert_non_null(sa);
    assert_ptr_equal(tx__metrics_series(f, a), sa); /* same label set, same series */
    char route[] = "/v1/chat", st[] = "200";        /* equal strings at other addresses */
    const char *a2[] = {route, st};
    assert_ptr_equal(tx__metrics_series(f, a2), sa);
    assert_ptr_not_equal(tx__metrics_series(f, b), sa);
    /* ("ab","c") and ("a","bc") are different series */
    const char *x[] = {"ab", "c"}, *y[] = {"a", "bc"};
    assert_ptr_not_equal(tx__metrics_series(f, x), tx__metrics_series(f, y));
    tx__metrics_inc(f, a, 1);
    tx__metrics_inc(f, a, 2.5);
    tx__metrics_inc(f, a, -7); /* counters never go down */
    tx__metrics_inc(f, a, NAN);
    assert_true(tx__metrics_value(sa) == 3.5);
    assert_int_equal(tx__metrics_series_count(f), 4);
    /* duplicate name, bad names, bad labels are refused */
    assert_null(
        tx__metrics_register(m, TX_METRIC_GAUGE, "t_requests_total", "", 0, NULL, NULL, 0, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, "1bad", "", 0, NULL, NULL, 0, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, "", "", 0, NULL, NULL, 0, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, NULL, "", 0, NULL, NULL, 0, 1));
    const char *bad[] = {"a-b"}, *dup[] = {"x", "x"}, *le[] = {"le"};
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, "g1", "", 1, bad, NULL, 0, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, "g2", "", 2, dup, NULL, 0, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_HISTOGRAM, "h1", "", 1, le,
                                     tx_metrics_latency_buckets, 3, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_GAUGE, "g3", "", 5, ln, NULL, 0, 1));
    assert_null(tx__metrics_series(NULL, a));
    assert_null(tx__metrics_series(f, NULL));
    tx__metrics_add(NULL, 1); /* no-ops */
    tx__metrics_observe(NULL, 1);
    tx__metrics_destroy(m);
    tx__metrics_destroy(NULL);
}

static void cardinality_cap_counts_refusals(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    const char *ln[] = {"model"};
    tx_metric_family_t *f =
        tx__metrics_register(m, TX_METRIC_COUNTER, "t_total", "h", 1, ln, NULL, 0, 3);
    char name[32];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "model-%d", i);
        const char *v[] = {name};
        tx__metrics_inc(f, v, 1);
    }
    assert_int_equal(tx__metrics_series_count(f), 3);
    assert_int_equal(tx__metrics_refused(f), 7);
    const char *v0[] = {"model-0"};
    assert_true(tx__metrics_value(tx__metrics_series(f, v0)) == 1); /* existing ones still work */
    char *text = tx__metrics_render(m, NULL);
    assert_non_null(strstr(text, "tenax_metrics_series_refused_total{family=\"t_total\"} 7\n"));
    assert_null(strstr(text, "model-3"));
    free(text);
    /* a huge label value is cut at TX_METRICS_LABEL_MAX bytes: two that differ only later are
     * the same series */
    char big1[1000], big2[1000];
    memset(big1, 'a', sizeof(big1) - 1);
    big1[sizeof(big1) - 1] = '\0';
    memcpy(big2, big1, sizeof(big1));
    big2[500] = 'b';
    tx_metrics_t *m2 = tx__metrics_create();
    tx_metric_family_t *g = tx__metrics_register(m2, TX_METRIC_GAUGE, "g", "h", 1, ln, NULL, 0, 10);
    const char *v1[] = {big1}, *v2[] = {big2};
    assert_ptr_equal(tx__metrics_series(g, v1), tx__metrics_series(g, v2));
    tx__metrics_destroy(m2);
    tx__metrics_destroy(m);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    const double bounds[] = {0.1, 1, 10};
    tx_metric_family_t *f = tx__metrics_register(m, TX_METRIC_HISTOGRAM, "lat_seconds", "Latency.",
                                                 0, NULL, bounds, 3, 1);
    assert_non_null(f);
    tx_metric_series_t *s = tx__metrics_series(f, NULL);
    tx__metrics_observe(s, 0.05);
    tx__metrics_observe(s, 0.1); /* le is inclusive */
    tx__metrics_observe(s, 5);
    tx__metrics_observe(s, 100);
    tx__metrics_observe(s, NAN);
    assert_int_equal(tx__metrics_hist_count(s), 4);
    assert_true(fabs(tx__metrics_hist_sum(s) - 105.15) < 1e-9);
    char *text = tx__metrics_render(m, NULL);
    const char *want = "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{le=\"0.1\"} 2\n"
                       "lat_seconds_bucket{le=\"1\"} 2\n"
                       "lat_seconds_bucket{le=\"10\"} 3\n"
                       "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                       "lat_seconds_sum 105.15\n"
                       "lat_seconds_count 4\n";
    assert_string_equal(text, want);
    free(text);
    const double unsorted[] = {1, 0.5};
    assert_null(tx__metrics_register(m, TX_METRIC_HISTOGRAM, "h2", "", 0, NULL, unsorted, 2, 1));
    assert_null(tx__metrics_register(m, TX_METRIC_HISTOGRAM, "h3", "", 0, NULL, NULL, 0, 1));
    tx__metrics_destroy(m);
}

static void exposition_escapes_label_values(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    const char *ln[] = {"model", "kind"};
    tx_metric_family_t *f =
        tx__metrics_register(m, TX_METRIC_GAUGE, "g", "Back\\slash\nnewline", 2, ln, NULL, 0, 4);
    const char *v[] = {"a\"b\\c\nd", "\xff\xfeok"};
    tx__metrics_gauge_set(f, v, -2.5);
    char *text = tx__metrics_render(m, NULL);
    assert_string_equal(text, "# HELP g Back\\\\slash\\nnewline\n# TYPE g gauge\n"
                              "g{model=\"a\\\"b\\\\c\\nd\",kind=\"??ok\"} -2.5\n");
    free(text);
    assert_null(tx__metrics_render(NULL, NULL));
    tx__metrics_destroy(m);
}

static void populate_std(tx_metric_family_t **fams)
{
    const char *req[] = {"/v1/chat/completions", "gpt-4o-mini", "200"};
    const char *req2[] = {"/v1/chat/completions", "weird \"model\"\\x", "429"};
    tx__metrics_inc(fams[TX_M_REQUESTS], req, 3);
    tx__metrics_inc(fams[TX_M_REQUESTS], req2, 1);
    const char *att[] = {"0", "gpt-4o-mini", "ok"}, *att2[] = {"1", "gpt-4o-mini", "rate_limit"};
    tx__metrics_inc(fams[TX_M_UPSTREAM_ATTEMPTS], att, 3);
    tx__metrics_inc(fams[TX_M_UPSTREAM_ATTEMPTS], att2, 2);
    const char *why[] = {"rate_limit"};
    tx__metrics_inc(fams[TX_M_RETRIES], why, 2);
    for (int i = 0; i < 4; i++) {
        tx__metrics_observe_at(fams[TX_M_REQUEST_DURATION], NULL, 0.2 * (i + 1));
        tx__metrics_observe_at(fams[TX_M_ATTEMPT_DURATION], NULL, 0.15 * (i + 1));
        tx__metrics_observe_at(fams[TX_M_QUEUE_WAIT], NULL, 0.001 * i);
        tx__metrics_observe_at(fams[TX_M_OVERHEAD], NULL, 0.00012 * (i + 1));
    }
    tx__metrics_gauge_set(fams[TX_M_IN_FLIGHT], NULL, 3);
    tx__metrics_gauge_set(fams[TX_M_QUEUED], NULL, 1);
    tx__metrics_inc(fams[TX_M_DROPPED], NULL, 5);
    const char *fo[] = {"0", "1"};
    tx__metrics_inc(fams[TX_M_FAILOVERS], fo, 1);
    const char *tp[] = {"gpt-4o-mini", "prompt"}, *tc[] = {"gpt-4o-mini", "completion"};
    tx__metrics_inc(fams[TX_M_TOKENS], tp, 1200);
    tx__metrics_inc(fams[TX_M_TOKENS], tc, 300);
    const char *hit[] = {"hit"}, *miss[] = {"miss"};
    tx__metrics_inc(fams[TX_M_CACHE], hit, 2);
    tx__metrics_inc(fams[TX_M_CACHE], miss, 7);
    static const char *const st[] = {"pending",  "processing", "success",
                                     "retrying", "failed",     "skipped"};
    for (int i = 0; i < 6; i++) {
        const char *v[] = {st[i]};
        tx__metrics_gauge_set(fams[TX_M_ITEMS], v, i * 10);
    }
    const char *prov[] = {"openai"}, *ep[] = {"0"};
    tx__metrics_gauge_set(fams[TX_M_RETRY_BUDGET_AVAILABLE], prov, 100);
    tx__metrics_inc(fams[TX_M_RETRY_BUDGET_EXHAUSTED], prov, 3);
    tx__metrics_gauge_set(fams[TX_M_CONCURRENCY_LIMIT], ep, 6);
    tx__metrics_gauge_set(fams[TX_M_ENDPOINT_IN_FLIGHT], ep, 2);
}

static void std_families_pass_promtool(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    tx_metric_family_t *fams[TX_M__LAST];
    assert_int_equal(tx__metrics_std_register(m, fams), 0);
    tx_metric_family_t *again[TX_M__LAST];
    assert_int_equal(tx__metrics_std_register(m, again), -1); /* registered once */
    populate_std(fams);
    /* the awkward cases too: escapes, invalid UTF-8, a refused series */
    const char *ln[] = {"model"};
    tx_metric_family_t *small =
        tx__metrics_register(m, TX_METRIC_COUNTER, "t_small_total",
                             "Cap of one.\nSecond line \\ here.", 1, ln, NULL, 0, 1);
    const char *odd[] = {"line\nbreak \"q\" back\\slash \xff\xc3"}, *other[] = {"other"};
    tx__metrics_inc(small, odd, 1);
    tx__metrics_inc(small, other, 1);
    assert_int_equal(tx__metrics_refused(small), 1);
    size_t len = 0;
    char *text = tx__metrics_render(m, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    /* every family is there, populated */
    for (int i = 0; i < TX_M__LAST; i++) {
        if (tx__metrics_series_count(fams[i]) == 0) printf("empty family %d\n", i);
        assert_true(tx__metrics_series_count(fams[i]) >= 1);
    }
    assert_non_null(strstr(text, "tenax_requests_total{route=\"/v1/chat/completions\","
                                 "model=\"gpt-4o-mini\",status=\"200\"} 3\n"));
    assert_non_null(
        strstr(text, "tenax_tokens_total{model=\"gpt-4o-mini\",kind=\"prompt\"} 1200\n"));
    assert_non_null(strstr(text, "tenax_overhead_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "tenax_dropped_total 5\n"));
    assert_non_null(strstr(text, "# TYPE tenax_items gauge\n"));
    assert_non_null(strstr(text, "tenax_retry_budget_exhausted_total{provider=\"openai\"} 3\n"));
    assert_non_null(strstr(text, "tenax_endpoint_concurrency_limit{endpoint=\"0\"} 6\n"));
    assert_non_null(
        strstr(text, "tenax_metrics_series_refused_total{family=\"t_small_total\"} 1\n"));

    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("SKIP promtool check: /usr/bin/promtool not found (Debian package prometheus)\n");
        free(text);
        tx__metrics_destroy(m);
        return;
    }
    char path[] = "/tmp/tx_metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    if (rc != 0) printf("promtool said:\n%s\n---\n%s", out, text);
    assert_int_equal(rc, 0);
    free(text);
    tx__metrics_destroy(m);
}

/* The lookup checks the family's last two label sets before hashing: whatever the order of the
 * lookups, a label set maps to its own series, long values compare as the registry cut them,
 * and NULL reads as "". */
static void recent_lookups(void **state)
{
    (void)state;
    tx_metrics_t *m = tx__metrics_create();
    const char *ln[] = {"model", "type"};
    tx_metric_family_t *f =
        tx__metrics_register(m, TX_METRIC_COUNTER, "t_tokens_total", "help", 2, ln, NULL, 0, 16);
    const char *p[] = {"m", "prompt"}, *c[] = {"m", "completion"}, *o[] = {"other", "prompt"};
    tx_metric_series_t *sp = tx__metrics_series(f, p), *sc = tx__metrics_series(f, c);
    tx_metric_series_t *so = tx__metrics_series(f, o);
    assert_non_null(sp);
    assert_non_null(sc);
    assert_non_null(so);
    assert_true(sp != sc && sc != so && sp != so);
    const char *const *order[] = {p, c, p, c, o, p, o, c, c, p, o, o};
    tx_metric_series_t *want[] = {sp, sc, sp, sc, so, sp, so, sc, sc, sp, so, so};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        assert_ptr_equal(tx__metrics_series(f, order[i]), want[i]);
    /* a prefix of a recent value is another series */
    const char *mp[] = {"", "prompt"}, *np[] = {NULL, "prompt"}, *pp[] = {"m", "promp"};
    tx_metric_series_t *se = tx__metrics_series(f, mp);
    assert_true(se != sp && se != so);
    assert_ptr_equal(tx__metrics_series(f, np), se);
    assert_ptr_equal(tx__metrics_series(f, mp), se);
    tx_metric_series_t *spp = tx__metrics_series(f, pp);
    assert_true(spp != sp);
    assert_ptr_equal(tx__metrics_series(f, p), sp);
    assert_ptr_equal(tx__metrics_series(f, pp), spp);
    /* values longer than TX_METRICS_LABEL_MAX: only the first bytes count */
    char a[TX_METRICS_LABEL_MAX + 40], b[TX_METRICS_LABEL_MAX + 40], s127[TX_METRICS_LABEL_MAX];
    memset(a, 'a', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[TX_METRICS_LABEL_MAX + 5] = 'b'; /* differs after the cut */
    memset(s127, 'a', sizeof s127 - 1);
    s127[sizeof s127 - 1] = '\0'; /* one byte short of the cut */
    const char *va[] = {a, "prompt"}, *vb[] = {b, "prompt"}, *v127[] = {s127, "prompt"};
    tx_metric_series_t *sa = tx__metrics_series(f, va);
    assert_ptr_equal(tx__metrics_series(f, vb), sa);
    tx_metric_series_t *s7 = tx__metrics_series(f, v127);
    assert_true(s7 != sa);
    assert_ptr_equal(tx__metrics_series(f, va), sa);
    assert_ptr_equal(tx__metrics_series(f, v127), s7);
    assert_ptr_equal(tx__metrics_series(f, p), sp);
    assert_int_equal(tx__metrics_series_count(f), 7);
    tx__metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_label_lookup),
        cmocka_unit_test(recent_lookups),
        cmocka_unit_test(cardinality_cap_counts_refusals),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(exposition_escapes_label_values),
        cmocka_unit_test(std_families_pass_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
