/* The observer and the notification sender: events land in the right metric families (and
 * nowhere when metrics are off), quota/rate-limit/auth attempts and failovers become throttled
 * notifications, the HTTP sender delivers a webhook POST to a real local server and counts a
 * hanging webhook as failed after its timeout without blocking the loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/notify_http.h"
#include "core/clock.h"
#include "obs/observe.h"
#include "server/http.h"
#include "loop_fixture.h"

static void metrics_from_events(void **state)
{
    (void)state;
    tx_obs_opts_t o = {.metrics = 1, .access_log = 0};
    tx_obs_t *obs = tx__obs_create(&o);
    assert_non_null(obs);
    tx__obs_on_request_done(obs, "/v1/chat/completions", "m1", 200, 120.0, 100.0);
    tx__obs_on_request_done(obs, "/v1/chat/completions", "m1", 200, 50.0, 60.0);
    tx__obs_on_attempt(obs, 0, "m1", TX_CLASS_SERVER, 30.0, 1, 2.0);
    tx__obs_on_attempt(obs, 1, "m1", TX_CLASS_OK, 70.0, 2, -1);
    tx__obs_on_retry(obs, TX_CLASS_SERVER);
    tx__obs_on_queue_wait(obs, 5.0);
    tx__obs_on_failover(obs, 0, 1);
    tx__obs_on_usage(obs, "m1", 11, 7);
    tx__obs_on_usage(obs, "m1", 1, -1);
    tx__obs_on_cache(obs, 1);
    tx__obs_on_cache(obs, 0);
    tx__obs_on_cache(obs, 0);
    tx__obs_set_admission(obs, 3, 2, 5);
    tx__obs_set_admission(obs, 1, 0, 7);
    tx__obs_on_usage(obs, "m2", 100, 5);
    tx__obs_on_usage(obs, "m2", -1, -1); /* a reply without usage counts nothing */
    tx__obs_set_items(obs, "pending", 4);

    tx_metric_family_t *req = tx__obs_family(obs, TX_M_REQUESTS);
    const char *rv[3] = {"/v1/chat/completions", "m1", "200"};
    assert_true(tx__metrics_value(tx__metrics_series(req, rv)) == 2.0);
    const char *tp[2] = {"m1", "prompt"}, *tc[2] = {"m1", "completion"};
    assert_true(tx__metrics_value(tx__metrics_series(tx__obs_family(obs, TX_M_TOKENS), tp)) == 12);
    assert_true(tx__metrics_value(tx__metrics_series(tx__obs_family(obs, TX_M_TOKENS), tc)) == 7);
    const char *miss[1] = {"miss"};
    assert_true(tx__metrics_value(tx__metrics_series(tx__obs_family(obs, TX_M_CACHE), miss)) == 2);
    tx_metric_series_t *over = tx__metrics_series(tx__obs_family(obs, TX_M_OVERHEAD), NULL);
    assert_int_equal(tx__metrics_hist_count(over), 2);
    /* 120-100 ms, and a negative difference counts as 0. */
    assert_true(tx__metrics_hist_sum(over) > 0.0199 && tx__metrics_hist_sum(over) < 0.0201);
    tx_metric_series_t *dropped = tx__metrics_series(tx__obs_family(obs, TX_M_DROPPED), NULL);
    assert_true(tx__metrics_value(dropped) == 7);
    const char *tp2[2] = {"m2", "prompt"}, *tc2[2] = {"m2", "completion"};
    assert_true(tx__metrics_value(tx__metrics_series(tx__obs_family(obs, TX_M_TOKENS), tp2)) ==
                100);
    assert_true(tx__metrics_value(tx__metrics_series(tx__obs_family(obs, TX_M_TOKENS), tc2)) == 5);
    tx_metric_series_t *inf = tx__metrics_series(tx__obs_family(obs, TX_M_IN_FLIGHT), NULL);
    assert_true(tx__metrics_value(inf) == 1);

    size_t len = 0;
    char *text = tx__obs_render(obs, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(text, "tenax_upstream_attempts_total{endpoint=\"0\",model=\"m1\","
                                 "class=\"server\"} 1"));
    assert_non_null(strstr(text, "tenax_retries_total{reason=\"server\"} 1"));
    assert_non_null(strstr(text, "tenax_failovers_total{from=\"0\",to=\"1\"} 1"));
    assert_non_null(strstr(text, "tenax_items{status=\"pending\"} 4"));
    free(text);
    tx__obs_destroy(obs);

    /* Over families registered elsewhere: updates land there, the registry stays theirs. */
    tx_metrics_t *reg = tx__metrics_create();
    tx_metric_family_t *fams[TX_M__LAST];
    assert_int_equal(tx__metrics_std_register(reg, fams), 0);
    tx_obs_opts_t ext = {.metrics = 1, .registry = reg, .fams = fams};
    obs = tx__obs_create(&ext);
    assert_ptr_equal(tx__obs_registry(obs), reg);
    tx__obs_on_cache(obs, 1);
    tx__obs_destroy(obs);
    const char *hit[1] = {"hit"};
    assert_true(tx__metrics_value(tx__metrics_series(fams[TX_M_CACHE], hit)) == 1);
    tx__metrics_destroy(reg);
}

static void metrics_off(void **state)
{
    (void)state;
    tx_obs_opts_t o = {.metrics = 0, .access_log = 0};
    tx_obs_t *obs = tx__obs_create(&o);
    assert_non_null(obs);
    assert_false(tx__obs_metrics_enabled(obs));
    tx__obs_on_request_done(obs, "/v1/x", "m", 200, 1, 1);
    tx__obs_on_cache(obs, 1);
    assert_null(tx__obs_registry(obs));
    assert_null(tx__obs_family(obs, TX_M_REQUESTS));
    assert_null(tx__obs_render(obs, NULL));
    tx__obs_destroy(obs);
    /* NULL observer: every call is a no-op. */
    tx__obs_on_attempt(NULL, 0, "m", TX_CLASS_QUOTA, 1, 1, 1);
    tx__obs_on_failover(NULL, 0, 1);
    tx__obs_destroy(NULL);

    setenv("TENAX_METRICS", "off", 1);
    tx__obs_opts_from_env(&o);
    assert_int_equal(o.metrics, 0);
    setenv("TENAX_METRICS", "1", 1);
    tx__obs_opts_from_env(&o);
    assert_int_equal(o.metrics, 1);
    unsetenv("TENAX_METRICS");
}

typedef struct {
    int calls;
    char type[8][32];
} rec_t;

static int record(void *ud, const char *url, const char *json)
{
    (void)url;
    rec_t *r = ud;
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    if (r->calls < 8)
        snprintf(r->type[r->calls], sizeof r->type[0], "%s",
                 json_string_value(json_object_get(j, "type")));
    r->calls++;
    json_decref(j);
    return 0;
}

static void notifications_from_events(void **state)
{
    (void)state;
    rec_t r = {0};
    tx_notify_config_t nc = {.webhook_url = "http://127.0.0.1:9/hook"};
    tx_notify_t *n = tx__notify_create(&nc, record, &r);
    tx_obs_opts_t o = {.metrics = 1, .access_log = 0};
    tx_obs_t *obs = tx__obs_create(&o);
    tx__obs_set_notify(obs, n);
    assert_ptr_equal(tx__obs_notify(obs), n);
    for (int i = 0; i < 5; i++)
        tx__obs_on_attempt(obs, 0, "m", TX_CLASS_QUOTA, 1, i + 1, -1);
    tx__obs_on_attempt(obs, 0, "m", TX_CLASS_SERVER, 1, 1, -1); /* no notification */
    tx__obs_on_attempt(obs, 0, "m", TX_CLASS_CONCURRENCY, 1, 1, 3);
    tx__obs_on_attempt(obs, 0, "m", TX_CLASS_AUTH, 1, 1, -1);
    tx__obs_on_failover(obs, 0, 1);
    tx__obs_on_failover(obs, 1, 0);
    assert_int_equal(r.calls, 4);
    assert_string_equal(r.type[0], "quota_exceeded");
    assert_string_equal(r.type[1], "rate_limit");
    assert_string_equal(r.type[2], "auth_failed");
    assert_string_equal(r.type[3], "endpoint_down");
    tx_notify_stats_t st;
    tx__notify_stats(n, &st);
    assert_int_equal(st.suppressed, 5);
    tx__obs_destroy(obs);
    tx__notify_destroy(n);
}

/* --- the HTTP sender against real local servers ------------------------------------------ */

typedef struct {
    int hits;
    char body[1024];
    char ctype[64];
} hook_t;

static void hook_handler(tx_http_req_t *req, void *ud)
{
    hook_t *h = ud;
    size_t len = 0;
    const char *b = tx__http_req_body(req, &len);
    snprintf(h->body, sizeof h->body, "%.*s", (int)len, b);
    const char *ct = tx__http_req_header(req, "content-type");
    snprintf(h->ctype, sizeof h->ctype, "%s", ct ? ct : "");
    h->hits++;
    tx__http_respond(req, 204, NULL, 0, NULL, 0);
}

static int hook_hit(void *ud)
{
    return ((hook_t *)ud)->hits > 0;
}

static int sender_idle(void *ud)
{
    return tx__notify_http_inflight(ud) == 0;
}

static void stopped(tx_http_server_t *srv, void *ud)
{
    (void)srv;
    ++*(int *)ud;
}

static void closed(void *arg)
{
    ++*(int *)arg;
}

static void on_conn(uv_stream_t *server, int status)
{
    /* A webhook that accepts and never answers. */
    if (status != 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        return;
    }
    server->data = c;
}

static void http_sender_delivers_and_times_out(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    hook_t hook = {0};
    tx_http_config_t hc;
    tx__http_config_defaults(&hc);
    hc.handler = hook_handler;
    hc.handler_ud = &hook;
    tx_error_t err = {0};
    tx_http_server_t *srv = tx__http_server_start(&loop, "127.0.0.1:0", &hc, &err);
    assert_non_null(srv);

    tx_notify_http_t *s = tx__notify_http_new(&loop, 300);
    assert_non_null(s);
    char url[128];
    snprintf(url, sizeof url, "http://%s/hook/secret-path", tx__http_server_address(srv));
    tx_notify_config_t nc = {.webhook_url = url};
    tx_notify_t *n = tx__notify_create(&nc, tx__notify_http_post, s);
    tx__notify_http_set_notifier(s, n);

    assert_int_equal(tx__notify_event(n, TX_NOTIFY_QUOTA_EXCEEDED, "quota gone", 2, -1,
                                      tx__clock_mono_ms(), tx__clock_wall_ms()),
                     TX_NOTIFY_SENT);
    assert_int_equal(tx__notify_http_inflight(s), 1);
    assert_true(run_until(&loop, hook_hit, &hook, 5000));
    assert_true(run_until(&loop, sender_idle, s, 5000));
    assert_string_equal(hook.ctype, "application/json");
    json_t *j = json_loads(hook.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "quota_exceeded");
    assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
    json_decref(j);
    tx_notify_stats_t st;
    tx__notify_stats(n, &st);
    assert_int_equal(st.sent, 1);
    assert_int_equal(st.failed, 0);

    /* A hanging webhook: the POST starts at once and fails after the 300 ms timeout. */
    uv_tcp_t hang;
    uv_tcp_init(&loop, &hang);
    hang.data = NULL;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&hang, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&hang, 8, on_conn), 0);
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&hang, (struct sockaddr *)&bound, &blen);
    int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    char hang_url[128];
    snprintf(hang_url, sizeof hang_url, "http://127.0.0.1:%d/hook", port);
    nc.webhook_url = hang_url;
    assert_int_equal(tx__notify_configure(n, &nc), 0);
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_RATE_LIMIT, "slow down", -1, 4.0,
                                      tx__clock_mono_ms(), tx__clock_wall_ms()),
                     TX_NOTIFY_SENT);
    /* It returned with the POST still in flight: sending never waits for the webhook. */
    assert_int_equal(tx__notify_http_inflight(s), 1);
    assert_true(run_until(&loop, sender_idle, s, 5000));
    tx__notify_stats(n, &st);
    assert_int_equal(st.failed, 1);

    /* A POST in flight when closing is dropped without a report. */
    assert_int_equal(tx__notify_event(n, TX_NOTIFY_AUTH_FAILED, "bad key", -1, -1,
                                      tx__clock_mono_ms(), tx__clock_wall_ms()),
                     TX_NOTIFY_SENT);
    int done = 0;
    tx__notify_http_close(s, closed, &done);
    tx__http_server_stop(srv, 0, stopped, &done);
    if (hang.data != NULL) uv_close((uv_handle_t *)hang.data, (uv_close_cb)free);
    uv_close((uv_handle_t *)&hang, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(done, 2);
    tx__http_server_destroy(srv);
    tx__notify_destroy(n);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(tx__notify_http_post(NULL, "http://x", "{}"), -1);
    tx__notify_http_close(NULL, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_from_events),
        cmocka_unit_test(metrics_off),
        cmocka_unit_test(notifications_from_events),
        cmocka_unit_test(http_sender_delivers_and_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
