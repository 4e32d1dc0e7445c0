/* The gateway filters over real HTTP (an in-process server, requests from the upstream client on
 * the same loop): client keys 401, cache miss then hit without reaching the route's upstream,
 * bypass and refresh, streams never cached, the rate limit 429 with Retry-After and x-ratelimit-*
 * after a reconfigure, and the admin check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/filters.h"
#include "upstream/client.h"

typedef struct {
    tx_filters_t *f;
    int upstream_calls;
    tx_ms_t now;
} route_t;

static void handler(tx_http_req_t *req, void *ud)
{
    route_t *r = ud;
    if (strcmp(tx__http_req_path(req), "/admin/diag") == 0) {
        if (tx__filter_admin(r->f, req)) tx__http_respond(req, 200, NULL, 0, "ok", 2);
        return;
    }
    tx_filter_ctx_t ctx;
    /* the key as the gateway's parse makes it */
    size_t blen = 0;
    const char *b = tx__http_req_body(req, &blen);
    tx_cache_req_t cr = {.model = "m0"};
    cr.result = tx__cache_key("/v1/chat/completions", "m0", b, blen, cr.key);
    if (tx__filter_gateway_before(r->f, req, "/v1/chat/completions", &cr, r->now, &ctx)) return;
    r->upstream_calls++;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"n\":%d}", r->upstream_calls);
    tx_header_t h[8];
    size_t nh = 0;
    h[nh++] = (tx_header_t){"Content-Type", "application/json"};
    h[nh++] = (tx_header_t){"X-Tenax-Model", "m0"};
    size_t nf;
    const tx_header_t *fh = tx__filter_headers(&ctx, &nf);
    for (size_t i = 0; i < nf; i++)
        h[nh++] = fh[i];
    tx__filter_gateway_after(r->f, &ctx, 200, h, nh, body, (size_t)n, r->now);
    tx__http_respond(req, 200, h, nh, body, (size_t)n);
}

typedef struct {
    int done, status;
    char cache[16], retry_after[16], limit[16], remaining[16], model[32];
    char body[256];
    size_t len;
} reply_t;

static const char *hval(const tx_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0) return h[i].value;
    return "";
}

static void on_head(void *ud, int status, const tx_header_t *h, size_t nh)
{
    reply_t *r = ud;
    r->status = status;
    snprintf(r->cache, sizeof r->cache, "%s", hval(h, nh, "x-tenax-cache"));
    snprintf(r->retry_after, sizeof r->retry_after, "%s", hval(h, nh, "retry-after"));
    snprintf(r->limit, sizeof r->limit, "%s", hval(h, nh, "x-ratelimit-limit-requests"));
    snprintf(r->remaining, sizeof r->remaining, "%s",
             hval(h, nh, "x-ratelimit-remaining-requests"));
    snprintf(r->model, sizeof r->model, "%s", hval(h, nh, "x-tenax-model"));
}

static void on_body(void *ud, const char *d, size_t len)
{
    reply_t *r = ud;
    size_t k = len < sizeof r->body - 1 - r->len ? len : sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, d, k);
    r->len += k;
    r->body[r->len] = '\0';
}

static void on_done(void *ud, const tx_upstream_result_t *res)
{
    reply_t *r = ud;
    if (res->err != TX_UPSTREAM_EOK) r->status = -1;
    r->done = 1;
}

typedef struct {
    uv_loop_t loop;
    tx_http_server_t *srv;
    tx_upstream_t *up;
    route_t route;
    char base[64];
} fx_t;

static void call(fx_t *fx, const char *path, const char *auth, const char *cache_mode,
                 const char *body, reply_t *r)
{
    memset(r, 0, sizeof *r);
    char url[128], ah[128];
    snprintf(url, sizeof url, "%s%s", fx->base, path);
    tx_header_t h[3];
    size_t n = 0;
    h[n++] = (tx_header_t){"Content-Type", "application/json"};
    if (auth != NULL) {
        snprintf(ah, sizeof ah, "Bearer %s", auth);
        h[n++] = (tx_header_t){"Authorization", ah};
    }
    if (cache_mode != NULL) h[n++] = (tx_header_t){"X-Tenax-Cache", cache_mode};
    tx_upstream_cb_t cb = {on_head, on_body, on_done};
    tx_upstream_limits_t lim = {.attempt_timeout_ms = 5000};
    assert_non_null(tx__upstream_send(fx->up, "POST", url, h, n, body, strlen(body), &lim, &cb, r));
    while (!r->done)
        uv_run(&fx->loop, UV_RUN_ONCE); /* the 5 s attempt timeout bounds it */
}

static void stopped(tx_http_server_t *s, void *ud)
{
    (void)s;
    ++*(int *)ud;
}

static void up_closed(void *ud)
{
    ++*(int *)ud;
}

static const char *CHAT =
    "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *CHAT2 =
    "{ \"messages\":[{\"content\":\"hi\",\"role\":\"user\"}], \"model\":\"m1\","
    " \"user\":\"someone\"}";
static const char *STREAM = "{\"model\":\"m1\",\"stream\":true,\"messages\":[]}";

static void gateway_filters_over_http(void **state)
{
    (void)state;
    fx_t fx;
    memset(&fx, 0, sizeof fx);
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    tx_filters_config_t fc = {
        .admin_token = "adm", .client_keys = "k1, k2", .cache_ttl_s = 60, .cache_max_entries = 10};
    fx.route.f = tx__filters_create(&fc);
    fx.route.now = 1000;
    assert_non_null(fx.route.f);
    tx_http_config_t hc;
    tx__http_config_defaults(&hc);
    hc.handler = handler;
    hc.handler_ud = &fx.route;
    tx_error_t err = {0};
    fx.srv = tx__http_server_start(&fx.loop, "127.0.0.1:0", &hc, &err);
    assert_non_null(fx.srv);
    snprintf(fx.base, sizeof fx.base, "http://%s", tx__http_server_address(fx.srv));
    fx.up = tx__upstream_new(&fx.loop, NULL);
    assert_non_null(fx.up);
    reply_t r;

    call(&fx, "/v1/chat/completions", NULL, NULL, CHAT, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "invalid_api_key"));
    call(&fx, "/v1/chat/completions", "k3", NULL, CHAT, &r);
    assert_int_equal(r.status, 401);
    assert_int_equal(fx.route.upstream_calls, 0);

    /* Miss, then a hit that never reaches the route's upstream (same request, other order). */
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.cache, "miss");
    assert_int_equal(fx.route.upstream_calls, 1);
    call(&fx, "/v1/chat/completions", "k2", NULL, CHAT2, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.cache, "hit");
    assert_string_equal(r.body, "{\"n\":1}");
    assert_string_equal(r.model, "m0");
    assert_int_equal(fx.route.upstream_calls, 1);

    /* bypass goes upstream and stores nothing; refresh goes upstream and stores. */
    call(&fx, "/v1/chat/completions", "k1", "bypass", CHAT, &r);
    assert_int_equal(fx.route.upstream_calls, 2);
    assert_string_equal(r.cache, "miss");
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_string_equal(r.body, "{\"n\":1}");
    call(&fx, "/v1/chat/completions", "k1", "refresh", CHAT, &r);
    assert_int_equal(fx.route.upstream_calls, 3);
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_string_equal(r.cache, "hit");
    assert_string_equal(r.body, "{\"n\":3}");

    /* Streams are never cached. */
    call(&fx, "/v1/chat/completions", "k1", NULL, STREAM, &r);
    call(&fx, "/v1/chat/completions", "k1", NULL, STREAM, &r);
    assert_int_equal(fx.route.upstream_calls, 5);
    assert_string_equal(r.cache, "");

    /* The TTL passes: a miss again. */
    fx.route.now += 61000;
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_string_equal(r.cache, "miss");
    assert_int_equal(fx.route.upstream_calls, 6);

    /* Reconfigured: rate limit 2/min per key, cache off. */
    fc.rate_limit_rpm = 2;
    fc.cache_ttl_s = 0;
    assert_int_equal(tx__filters_configure(fx.route.f, &fc), TX_EOK);
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.limit, "2");
    assert_string_equal(r.remaining, "1");
    assert_string_equal(r.cache, "");
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_int_equal(r.status, 200);
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "30");
    assert_string_equal(r.remaining, "0");
    assert_non_null(strstr(r.body, "rate_limit_exceeded"));
    assert_int_equal(fx.route.upstream_calls, 8);
    call(&fx, "/v1/chat/completions", "k2", NULL, CHAT, &r); /* its own bucket */
    assert_int_equal(r.status, 200);
    fx.route.now += 30000; /* one token back */
    call(&fx, "/v1/chat/completions", "k1", NULL, CHAT, &r);
    assert_int_equal(r.status, 200);

    /* Admin check. */
    call(&fx, "/admin/diag", "k1", NULL, "", &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "invalid_admin_token"));
    call(&fx, "/admin/diag", "adm", NULL, "", &r);
    assert_int_equal(r.status, 200);

    int n = 0;
    tx__upstream_close(fx.up, up_closed, &n);
    tx__http_server_stop(fx.srv, 0, stopped, &n);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    assert_int_equal(n, 2);
    tx__http_server_destroy(fx.srv);
    tx__filters_destroy(fx.route.f);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

static void null_and_off(void **state)
{
    (void)state;
    tx_filter_ctx_t ctx;
    assert_int_equal(tx__filter_gateway_before(NULL, NULL, NULL, NULL, 0, &ctx), 0);
    assert_int_equal(ctx.cache_result, -1);
    assert_int_equal(tx__filter_gateway_before(NULL, NULL, NULL, NULL, 0, NULL), 0);
    size_t n = 9;
    assert_non_null(tx__filter_headers(&ctx, &n));
    assert_int_equal(n, 0);
    assert_null(tx__filter_headers(NULL, &n));
    assert_int_equal(n, 0);
    tx__filter_gateway_after(NULL, &ctx, 200, NULL, 0, "x", 1, 0);
    assert_int_equal(tx__filter_admin(NULL, NULL), 0);
    assert_int_equal(tx__filters_configure(NULL, NULL), TX_EINVAL);
    tx__filters_destroy(NULL);
    tx_filters_t *f = tx__filters_create(NULL); /* everything off */
    assert_non_null(f);
    assert_false(tx__cache_enabled(tx__filters_cache(f)));
    assert_int_equal(tx__ratelimit_rpm(tx__filters_ratelimit(f)), 0);
    assert_int_equal(tx__auth_client_key_count(tx__filters_auth(f)), 0);
    tx__filters_sweep(f, 0);
    tx__filters_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gateway_filters_over_http),
        cmocka_unit_test(null_and_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
