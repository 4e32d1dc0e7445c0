/* tenax diag: fetches GET /admin/diag?q=ai-queue from a running server (tenax's own upstream
 * client on a private loop, TENAX_ADMIN_TOKEN sent when set) and prints it as a short report, or
 * as JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "upstream/client.h"

#define DIAG_MAX_BYTES (4u << 20)

typedef struct {
    char *buf;
    size_t len;
    int too_big;
} body_t;

typedef struct {
    body_t *b;
    int done;
    tx_upstream_result_t res;
    char msg[256];
} fetch_t;

static void on_data(void *ud, const char *p, size_t k)
{
    body_t *b = ((fetch_t *)ud)->b;
    if (b->too_big) return;
    if (b->len + k > DIAG_MAX_BYTES) {
        b->too_big = 1;
        return;
    }
    char *nb = realloc(b->buf, b->len + k + 1);
    if (nb == NULL) {
        b->too_big = 1;
        return;
    }
    b->buf = nb;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
}

static void on_fetched(void *ud, const tx_upstream_result_t *r)
{
    fetch_t *f = ud;
    f->res = *r;
    snprintf(f->msg, sizeof f->msg, "%s", r->message != NULL ? r->message : "");
    f->res.message = f->msg;
    f->done = 1;
}

static void on_client_closed(void *arg)
{
    *(int *)arg = 1;
}

/* GET url on a private loop; 0 with f->res filled, -1 when it could not start. */
static int fetch(const char *url, const char *auth, body_t *b, fetch_t *f)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) return -1;
    tx_upstream_opts_t o = {.max_total_conns = 1, .connect_timeout_ms = 3000};
    tx_upstream_t *u = tx__upstream_new(&loop, &o);
    int rc = -1;
    if (u != NULL) {
        tx_header_t h[1] = {{"Authorization", auth}};
        tx_upstream_limits_t lim = {.attempt_timeout_ms = 10000,
                                    .max_response_bytes = DIAG_MAX_BYTES};
        tx_upstream_cb_t cb = {.on_body = on_data, .on_done = on_fetched};
        f->b = b;
        if (tx__upstream_send(u, "GET", url, h, auth != NULL ? 1 : 0, NULL, 0, &lim, &cb, f) !=
            NULL) {
            while (!f->done && uv_run(&loop, UV_RUN_ONCE) != 0) {
            }
            rc = f->done ? 0 : -1;
        }
        int closed = 0;
        tx__upstream_close(u, on_client_closed, &closed);
        while (!closed && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
    }
    uv_loop_close(&loop);
    return rc;
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
    printf("jobs        %s%s%s",
           json_is_true(json_object_get(jobs, "paused")) ? "PAUSED" : "running",
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

int tx__cmd_diag(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *url = NULL;
    int as_json = 0;
    tx_opts_t o;
    tx__opts_init(&o, "diag", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        switch (c) {
        case 'u':
            url = o.arg;
            break;
        case 'j':
            as_json = 1;
            break;
        default:
            return tx__opts_exit(c, usage);
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
    body_t b = {0};
    fetch_t f;
    memset(&f, 0, sizeof f);
    char auth[1024];
    const char *tok = getenv("TENAX_ADMIN_TOKEN");
    int has_auth = tok != NULL && tok[0] != '\0';
    if (has_auth) snprintf(auth, sizeof auth, "Bearer %s", tok);
    int frc = fetch(full, has_auth ? auth : NULL, &b, &f);
    volatile char *wipe = auth;
    for (size_t i = 0; i < sizeof auth; i++)
        wipe[i] = 0;
    long status = f.res.status;
    int ret = 0;
    if (frc != 0 || f.res.err != TX_UPSTREAM_EOK || b.too_big) {
        fprintf(stderr, "tenax diag: %s: %s\n", full,
                frc != 0 ? "the request could not be started"
                         : (b.too_big ? "the answer is too large" : f.msg));
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
