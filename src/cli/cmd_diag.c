/* tenax diag: fetches GET /admin/diag?q=ai-queue from a running server (libcurl easy, plain
 * HTTP GET, TENAX_ADMIN_TOKEN sent when set) and prints it as a short report, or as JSON. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"

#define DIAG_MAX_BYTES (4u << 20)

typedef struct {
    char *buf;
    size_t len;
    int too_big;
} body_t;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    body_t *b = ud;
    size_t k = size * n;
    if (b->len + k > DIAG_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    char *nb = realloc(b->buf, b->len + k + 1);
    if (nb == NULL) return 0;
    b->buf = nb;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
    return k;
}

static void usage(FILE *out)
{
    fputs("usage: tenax diag [--url URL] [--json]\n"
          "\n"
          "Prints GET /admin/diag?q=ai-queue of a running tenax serve as a short report.\n"
          "TENAX_ADMIN_TOKEN is sent as Authorization: Bearer when set.\n"
          "\n"
          "options:\n"
          "  --url URL       the server (default http://$TENAX_LISTEN or http://127.0.0.1:8010);\n"
          "                  a URL with a path is used as is\n"
          "  --json          print the JSON document instead of the report\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "exit status:\n"
          "  0  ok\n"
          "  1  the server cannot be reached or did not answer 200 with a JSON object\n"
          "  2  usage error\n",
          out);
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "-";
}

static void print_report(json_t *d)
{
    const char *cerr = json_string_value(json_object_get(d, "configError"));
    printf("config      loaded %s%s%s\n", str(d, "configLoadedAt"),
           cerr != NULL ? ", REJECTED: " : "", cerr != NULL ? cerr : "");
    printf("limits      maxConcurrency=%" JSON_INTEGER_FORMAT " maxQueue=%" JSON_INTEGER_FORMAT
           " requestTimeoutMs=%" JSON_INTEGER_FORMAT " retryMax=%" JSON_INTEGER_FORMAT
           " endpointFailoverThreshold=%" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(d, "maxConcurrency")),
           json_integer_value(json_object_get(d, "maxQueue")),
           json_integer_value(json_object_get(d, "requestTimeoutMs")),
           json_integer_value(json_object_get(d, "retryMax")),
           json_integer_value(json_object_get(d, "endpointFailoverThreshold")));
    printf("endpoints\n");
    json_t *list = json_object_get(json_object_get(d, "endpoints"), "list");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        int down = strcmp(str(e, "health"), "healthy") != 0;
        printf("  %s [%zu] %s  %s", json_is_true(json_object_get(e, "active")) ? "*" : " ", i,
               str(e, "url"), str(e, "health"));
        if (down)
            printf(" (cooldown %" JSON_INTEGER_FORMAT " ms left)",
                   json_integer_value(json_object_get(e, "cooldownLeftMs")));
        printf("  failovers=%" JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(e, "failovers")));
    }
    printf("queue       inFlight=%" JSON_INTEGER_FORMAT " queued=%" JSON_INTEGER_FORMAT
           " droppedSinceBoot=%" JSON_INTEGER_FORMAT " avgWaitMs=%.1f\n",
           json_integer_value(json_object_get(d, "inFlight")),
           json_integer_value(json_object_get(d, "queued")),
           json_integer_value(json_object_get(d, "droppedSinceBoot")),
           json_number_value(json_object_get(d, "avgWaitMs")));
    json_t *jobs = json_object_get(d, "jobs");
    const char *why = json_string_value(json_object_get(jobs, "pauseReason"));
    printf("jobs        %s%s%s", json_is_true(json_object_get(jobs, "paused")) ? "PAUSED" : "running",
           why != NULL ? ": " : "", why != NULL ? why : "");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(jobs, "counts"), k, v)
    {
        printf(" %s=%" JSON_INTEGER_FORMAT, k, json_integer_value(v));
    }
    printf("\nsources     ");
    int any = 0;
    json_object_foreach(json_object_get(d, "sources"), k, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, "default") != 0 && strcmp(k, "baseUrls") != 0) {
            printf("%s%s=%s", any ? " " : "", k, s);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : "all defaults");
}

int tx_cmd_diag(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *url = NULL;
    int as_json = 0;
    tx_opts_t o;
    tx_opts_init(&o, "diag", argc, argv);
    int c;
    while ((c = tx_opts_next(&o, longopts)) != -1) {
        switch (c) {
        case 'u': url = o.arg; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return 0;
        default: return 2;
        }
    }
    if (o.first < o.argc) {
        fprintf(stderr, "tenax diag: unexpected argument '%s' (see 'tenax diag --help')\n",
                o.argv[o.first]);
        return 2;
    }
    char full[2048];
    if (url == NULL) {
        const char *l = getenv("TENAX_LISTEN");
        snprintf(full, sizeof full, "http://%s/admin/diag?q=ai-queue",
                 l != NULL && l[0] != '\0' ? l : "127.0.0.1:8010");
    } else {
        const char *scheme = strstr(url, "://");
        const char *path = scheme != NULL ? strchr(scheme + 3, '/') : NULL;
        int n = path != NULL && path[1] != '\0'
                    ? snprintf(full, sizeof full, "%s", url)
                    : snprintf(full, sizeof full, "%s%.*s/admin/diag?q=ai-queue",
                               scheme != NULL ? "" : "http://",
                               (int)(path != NULL ? (size_t)(path - url) : strlen(url)), url);
        if (n < 0 || (size_t)n >= sizeof full) {
            fprintf(stderr, "tenax diag: --url is too long\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    body_t b = {0};
    struct curl_slist *hdrs = NULL;
    char auth[1024];
    const char *tok = getenv("TENAX_ADMIN_TOKEN");
    if (tok != NULL && tok[0] != '\0') {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        hdrs = curl_slist_append(hdrs, auth);
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (h != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, full);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    volatile char *wipe = auth;
    for (size_t i = 0; i < sizeof auth; i++) wipe[i] = 0;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    int ret = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "tenax diag: %s: %s\n", full,
                errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
        ret = 1;
    } else {
        json_t *d = json_loadb(b.buf != NULL ? b.buf : "", b.len, 0, NULL);
        if (status != 200) {
            const char *m =
                json_string_value(json_object_get(json_object_get(d, "error"), "message"));
            fprintf(stderr, "tenax diag: %s answered %ld%s%s\n", full, status, m ? ": " : "",
                    m ? m : "");
            ret = 1;
        } else if (!json_is_object(d)) {
            fprintf(stderr, "tenax diag: %s did not answer a JSON object\n", full);
            ret = 1;
        } else if (as_json) {
            json_dumpf(d, stdout, JSON_INDENT(2));
            printf("\n");
        } else {
            print_report(d);
        }
        json_decref(d);
    }
    free(b.buf);
    return ret;
}
