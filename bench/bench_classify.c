/* ns per classification of a typical 1 KB error body and a 1 KB success body (also on the cJSON
 * tree path alone, which the one-pass fast path replaced for it), called as the gateway calls the
 * classifier (tenax's cJSON arena installed, one scope per call), next to three
 * baselines measured in the same run on the same body: cJSON_ParseWithLength (the classifier's
 * parser), jansson's json_loadb (the parser it replaced) and a memchr over it.
 * Run: ./build/bench_classify [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <jansson.h>

#include "core/classify_tree.h"
#include "gateway/json_arena.h"
#include "tenax/classify.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Pads `text` (a JSON string's content) so the whole body is about 1 KB. */
static void make_body(char *buf, size_t cap, const char *fmt, const char *head)
{
    char pad[1024];
    size_t n = 0;
    const char *words = "The quick brown fox jumps over the lazy dog. ";
    while (n + strlen(words) < 1024 - strlen(fmt) - strlen(head) - 40) {
        memcpy(pad + n, words, strlen(words));
        n += strlen(words);
    }
    pad[n] = '\0';
    snprintf(buf, cap, fmt, head, pad);
}

static volatile size_t sink;

/* tree: classify on the cJSON tree path alone (what a 2xx success took before the one-pass
 * fast path), for the comparison in the same run. */
static void run(const char *name, int status, const char *body, tx_resp_kind_t kind, long iters,
                int tree)
{
    size_t len = strlen(body);
    tx_classification_t out;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) { /* as the gateway calls it: in a cJSON arena scope */
        tx__json_arena_begin();
        sink += tree ? tx__classify_response_tree(status, NULL, 0, body, len, kind, 0, &out,
                                                  tx__json_arena_delete)
                     : tx__classify_response_with(status, NULL, 0, body, len, kind, 0, &out,
                                                  tx__json_arena_delete);
        tx__json_arena_end();
    }
    double t_cls = (now_ns() - t0) / (double)iters;

    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        json_t *j = json_loadb(body, len, 0, NULL);
        sink += j != NULL;
        json_decref(j);
    }
    double t_json = (now_ns() - t0) / (double)iters;

    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        cJSON *c = cJSON_ParseWithLength(body, len);
        sink += c != NULL;
        cJSON_Delete(c);
    }
    double t_cj = (now_ns() - t0) / (double)iters;

    t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        const char *p = memchr(body, '\x01', len);
        sink += p != NULL;
        __asm__ volatile("" ::: "memory");
    }
    double t_mem = (now_ns() - t0) / (double)iters;
    printf("%-26s %5zu B class=%-14s classify %6.0f ns | cJSON_ParseWithLength %6.0f ns "
           "(classify/cJSON x%.2f) | json_loadb %6.0f ns (classify/jansson x%.2f, "
           "jansson/cJSON x%.1f) | memchr %5.1f ns\n",
           name, len, tx_class_name(out.cls), t_cls, t_cj, t_cls / t_cj, t_json, t_cls / t_json,
           t_json / t_cj, t_mem);
}

int main(int argc, char **argv)
{
    tx__json_arena_install(); /* the program's cJSON allocator, as tenax's main installs it */
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (iters <= 0) iters = 200000;
    static char err[2048], ok[2048];
    make_body(err, sizeof err,
              "{\"error\":{\"message\":\"%s %s\",\"type\":\"requests\",\"param\":null,"
              "\"code\":\"rate_limit_exceeded\"}}",
              "Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3, "
              "Requested 1. Please try again in 20s.");
    make_body(ok, sizeof ok,
              "{\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion\",\"created\":1700000000,"
              "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
              "\"assistant\",\"content\":\"%s %s\"},\"finish_reason\":\"stop\"}],\"usage\":"
              "{\"prompt_tokens\":12,\"completion_tokens\":200,\"total_tokens\":212}}",
              "[\\\"news\\\",\\\"science\\\"]");
    run("429 rate_limit error body", 429, err, TX_RESP_CHAT, iters, 0);
    run("200 chat success body", 200, ok, TX_RESP_CHAT, iters, 0);
    run("200 chat success, tree path", 200, ok, TX_RESP_CHAT, iters, 1);
    static char html[2048];
    make_body(html, sizeof html,
              "<html><head><title>502 Bad Gateway</title></head><body>%s %s"
              "</body></html>",
              "<center><h1>502 Bad Gateway</h1></center>");
    run("502 HTML page (fast path)", 502, html, TX_RESP_CHAT, iters, 0);
    return 0;
}
