/* Cost of the operations building blocks on the gateway path, each beside a baseline measured in
 * the same run: metrics inc+observe vs a plain increment, the cache key of a ~1 KB chat request
 * vs one SHA-256 of the same bytes, a client auth check and a rate-limit take.
 * Usage: build/bench_ops [scale] (default 1; iterations scale linearly). */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/tx_metrics.h"
#include "server/auth.h"
#include "server/cache.h"
#include "server/ratelimit.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile double sink;

int main(int argc, char **argv)
{
    long scale = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    if (scale < 1) scale = 1;
    const long n_fast = 5000000 * scale, n_slow = 100000 * scale;

    /* baseline: a plain increment the compiler cannot drop */
    volatile double counter = 0;
    double t0 = now_ns();
    for (long i = 0; i < n_fast; i++)
        counter += 1;
    double base_inc = (now_ns() - t0) / (double)n_fast;
    if (counter != (double)n_fast)
        return 1; /* read back: clang counts a volatile only set as unused */

    tx_metrics_t *m = tx__metrics_create();
    tx_metric_family_t *f[TX_M__LAST];
    if (m == NULL || tx__metrics_std_register(m, f) != 0) return 1;
    const char *routes[] = {"/v1/chat/completions", "/v1/embeddings"};
    const char *models[] = {"gpt-4o-mini", "gpt-4o", "claude-3-haiku", "llama-3.1-8b"};
    const char *status[] = {"200", "429", "500", "503"};
    t0 = now_ns();
    for (long i = 0; i < n_fast; i++) {
        const char *v[] = {routes[i & 1], models[(i >> 1) & 3], status[(i >> 3) & 3]};
        tx__metrics_inc(f[TX_M_REQUESTS], v, 1);
        tx__metrics_observe_at(f[TX_M_REQUEST_DURATION], NULL, (double)(i & 1023) * 1e-3);
    }
    double m_lookup = (now_ns() - t0) / (double)n_fast;

    const char *v0[] = {routes[0], models[0], status[0]};
    tx_metric_series_t *sreq = tx__metrics_series(f[TX_M_REQUESTS], v0);
    tx_metric_series_t *sdur = tx__metrics_series(f[TX_M_REQUEST_DURATION], NULL);
    t0 = now_ns();
    for (long i = 0; i < n_fast; i++) {
        tx__metrics_add(sreq, 1);
        tx__metrics_observe(sdur, (double)(i & 1023) * 1e-3);
    }
    double m_handle = (now_ns() - t0) / (double)n_fast;

    size_t rlen = 0;
    t0 = now_ns();
    for (int i = 0; i < 1000; i++) {
        char *text = tx__metrics_render(m, &rlen);
        free(text);
    }
    double render_us = (now_ns() - t0) / 1000 / 1000;

    /* a typical ~1 KB chat request */
    char body[2048];
    int blen = snprintf(
        body, sizeof(body),
        "{\"model\":\"gpt-4o-mini\",\"temperature\":0.2,\"max_tokens\":256,\"user\":\"u-42\","
        "\"messages\":[{\"role\":\"system\",\"content\":\"You are a tagging assistant. Answer with "
        "a JSON array of at most ten short lowercase tags that describe the post. No prose.\"},"
        "{\"role\":\"user\",\"content\":\"%s\"}],\"response_format\":{\"type\":\"json_object\"}}",
        "Yesterday we rode the old railway line from the harbour up to the lakes: forty "
        "kilometres of gravel, three tunnels without lights, a viaduct with a view over the whole "
        "valley and a cafe at the top that still serves the best blueberry pie in the region. "
        "Bring a headlamp for the tunnels, a spare tube because the gravel is sharp after the "
        "rain, and cash for the cafe. The descent back to town is fast and smooth; watch out for "
        "walkers on the last stretch near the station. Next time we want to try the loop that "
        "goes around the second lake and back over the ridge, which is said to be steeper but "
        "quieter. Photos and the GPX track are in the album linked below.");
    unsigned char key[TX_CACHE_KEY_LEN];
    t0 = now_ns();
    for (long i = 0; i < n_slow; i++)
        if (tx__cache_key("/v1/chat/completions", "gpt-4o-mini", body, (size_t)blen, key) !=
            TX_CACHE_KEY_OK)
            return 1;
    double key_ns = (now_ns() - t0) / (double)n_slow;

    cJSON *parsed = cJSON_ParseWithLength(body, (size_t)blen);
    t0 = now_ns();
    for (long i = 0; i < n_slow; i++)
        if (tx__cache_key_tree("/v1/chat/completions", "gpt-4o-mini", parsed, key) !=
            TX_CACHE_KEY_OK)
            return 1;
    double keyj_ns = (now_ns() - t0) / (double)n_slow;
    cJSON_Delete(parsed);

    unsigned char md[32];
    unsigned int mdlen;
    t0 = now_ns();
    for (long i = 0; i < n_slow; i++)
        EVP_Digest(body, (size_t)blen, md, &mdlen, EVP_sha256(), NULL);
    double sha_ns = (now_ns() - t0) / (double)n_slow;
    sink = md[0];

    tx_auth_t *a = tx__auth_create("admin", "key-one,key-two,key-three,key-four");
    tx_auth_client_t who;
    t0 = now_ns();
    for (long i = 0; i < n_slow; i++)
        tx__auth_check_client(a, "Bearer key-three", &who);
    double auth_ns = (now_ns() - t0) / (double)n_slow;

    tx_ratelimit_t *rl = tx__ratelimit_create(600000, 65536);
    tx_ratelimit_info_t info;
    char client[32];
    t0 = now_ns();
    for (long i = 0; i < n_fast; i++) {
        snprintf(client, sizeof(client), "10.0.0.%ld", i & 63);
        tx__ratelimit_take(rl, client, i / 1000, &info);
    }
    double rl_ns = (now_ns() - t0) / (double)n_fast;

    printf("bench_ops (scale %ld)\n", scale);
    printf("  baseline plain increment           %8.2f ns\n", base_inc);
    printf("  metrics inc{3 labels}+observe      %8.2f ns  (%.1fx baseline)\n", m_lookup,
           m_lookup / base_inc);
    printf("  metrics add+observe, kept handles  %8.2f ns  (%.1fx baseline)\n", m_handle,
           m_handle / base_inc);
    printf("  metrics render (%zu bytes)         %8.2f us\n", rlen, render_us);
    printf("  baseline SHA-256 of %d bytes      %8.0f ns\n", blen, sha_ns);
    printf("  cache key of the same request      %8.0f ns  (%.1fx SHA-256)\n", key_ns,
           key_ns / sha_ns);
    printf("  cache key, request already parsed  %8.0f ns  (%.1fx SHA-256)\n", keyj_ns,
           keyj_ns / sha_ns);
    printf("  client auth check (4 keys)         %8.0f ns  (%.1fx SHA-256)\n", auth_ns,
           auth_ns / sha_ns);
    printf("  rate-limit take (64 clients)       %8.2f ns  (incl. snprintf of the client)\n",
           rl_ns);
    tx__ratelimit_destroy(rl);
    tx__auth_destroy(a);
    tx__metrics_destroy(m);
    return 0;
}
