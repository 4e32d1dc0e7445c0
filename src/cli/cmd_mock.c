/* tenax mock (docs/mock.md): runs the fault-injecting OpenAI-compatible upstream until SIGINT or
 * SIGTERM, then stops gracefully. The logic lives in src/mock; this file is flags and the loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "mock/mock.h"
#include "server/http.h"
#include "server/router.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: tenax mock [options]\n\n"
        "A fault-injecting OpenAI-compatible upstream for testing clients (see docs/mock.md).\n"
        "SIGINT and SIGTERM stop it gracefully.\n\n"
        "options:\n"
        "  --listen HOST:PORT     where to listen (default 127.0.0.1:8020; [::1]:8020 for IPv6)\n"
        "  --faults KIND:P,...    inject faults with probability P (0..1 or N%%); KIND one of\n"
        "                         500 502 503 504 429 1302 quota 401 404 timeout reset slow\n"
        "                         err200 empty badjson midstream\n"
        "  --retry-after S        Retry-After seconds sent with 429 and 1302 (default 1)\n"
        "  --latency-ms N         delay every completion answer by N ms (default 0)\n"
        "  --slow-ms N            delay between the pieces of a `slow` answer (default 100)\n"
        "  --seed N               seed of the fault draw: same seed, same sequence (default 1)\n"
        "  --down-models A,B      these models always answer 503\n"
        "  --max-inflight N       over N completions in flight: answer Z.AI's 1302 (default 0: "
        "off)\n"
        "  --models A,B           serve only these models (others: 404 model_not_found)\n"
        "  --expect-key KEY       requests must carry this key (Bearer or api-key), else 401\n"
        "  --expect-header 'N: V' requests must carry this header, else 400 (up to 4)\n"
        "  --expect-query K=V     request URLs must carry this parameter, else 400 (up to 4)\n"
        "  --header-timeout-ms N  request headers must arrive within N ms (default 10000)\n"
        "  --idle-timeout-ms N    idle keep-alive connections close after N ms (default 30000)\n"
        "  --max-body-bytes N     larger request bodies get 413 (default 4194304)\n"
        "  --max-connections N    connections beyond N are closed at once (default 1024)\n"
        "  -h, --help             print this help and exit\n"
        "\n"
        "exit status:\n"
        "  0  stopped by SIGINT or SIGTERM\n"
        "  1  could not listen\n"
        "  2  usage error\n");
}

static int parse_uint(const char *flag, const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 || v > max) {
        fprintf(stderr, "tenax mock: %s expects a whole number from 0 to %lu, got '%s'\n", flag,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct {
    uv_signal_t sigint, sigterm;
    tx_http_server_t *srv;
} app_t;

static void on_stopped(tx_http_server_t *srv, void *ud)
{
    (void)srv;
    app_t *a = ud;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *a = s->data;
    fprintf(stderr, "tenax mock: signal %d, stopping\n", signum);
    uv_signal_stop(&a->sigint);
    uv_signal_stop(&a->sigterm);
    tx__http_server_stop(a->srv, 2000, on_stopped, a);
}

int tx__cmd_mock(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"faults", required_argument, NULL, 'f'},
                                         {"retry-after", required_argument, NULL, 'r'},
                                         {"latency-ms", required_argument, NULL, 'L'},
                                         {"slow-ms", required_argument, NULL, 'S'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"down-models", required_argument, NULL, 'd'},
                                         {"header-timeout-ms", required_argument, NULL, 'H'},
                                         {"idle-timeout-ms", required_argument, NULL, 'I'},
                                         {"max-body-bytes", required_argument, NULL, 'B'},
                                         {"max-connections", required_argument, NULL, 'C'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"max-inflight", required_argument, NULL, 'N'},
                                         /* options of src/mock's own table (tx__mock_set_option) */
                                         {"expect-key", required_argument, NULL, 'M'},
                                         {"expect-header", required_argument, NULL, 'M'},
                                         {"expect-query", required_argument, NULL, 'M'},
                                         {"models", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    const char *listen = "127.0.0.1:8020";
    tx_mock_config_t mcfg;
    tx__mock_config_defaults(&mcfg);
    tx_http_config_t hcfg;
    tx__http_config_defaults(&hcfg);
    tx_error_t err = {0};
    unsigned long v;
    int c;
    opterr = 0;
    optind = 1;
    int li = 0;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        switch (c) {
        case 'M':
            if (tx__mock_set_option(&mcfg, opts[li].name, optarg, &err) != 0) {
                fprintf(stderr, "tenax mock: %s\n", err.msg);
                return 2;
            }
            break;
        case 'l':
            listen = optarg;
            break;
        case 'f':
            if (tx__mock_parse_faults(optarg, &mcfg, &err) != 0) {
                fprintf(stderr, "tenax mock: --faults: %s\n", err.msg);
                return 2;
            }
            break;
        case 'd':
            if (tx__mock_parse_down_models(optarg, &mcfg, &err) != 0) {
                fprintf(stderr, "tenax mock: %s\n", err.msg);
                return 2;
            }
            break;
        case 'r':
            if (parse_uint("--retry-after", optarg, 86400, &v)) return 2;
            mcfg.retry_after_s = (unsigned)v;
            break;
        case 'L':
            if (parse_uint("--latency-ms", optarg, 600000, &v)) return 2;
            mcfg.latency_ms = (unsigned)v;
            break;
        case 'S':
            if (parse_uint("--slow-ms", optarg, 60000, &v)) return 2;
            mcfg.slow_ms = (unsigned)v;
            break;
        case 's':
            if (parse_uint("--seed", optarg, ULONG_MAX - 1, &v)) return 2;
            mcfg.seed = v;
            break;
        case 'H':
            if (parse_uint("--header-timeout-ms", optarg, 3600000, &v) || v == 0) return 2;
            hcfg.header_timeout_ms = (unsigned)v;
            break;
        case 'I':
            if (parse_uint("--idle-timeout-ms", optarg, 3600000, &v) || v == 0) return 2;
            hcfg.idle_timeout_ms = (unsigned)v;
            break;
        case 'B':
            if (parse_uint("--max-body-bytes", optarg, 1ul << 30, &v) || v == 0) return 2;
            hcfg.limits.max_body_bytes = v;
            break;
        case 'C':
            if (parse_uint("--max-connections", optarg, 1000000, &v) || v == 0) return 2;
            hcfg.max_connections = (unsigned)v;
            break;
        case 'N':
            if (parse_uint("--max-inflight", optarg, 1000000, &v)) return 2;
            mcfg.max_inflight = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (optopt)
                fprintf(stderr, "tenax mock: option '%s' needs a value (see 'tenax mock --help')\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "tenax mock: unknown option '%s' (see 'tenax mock --help')\n",
                        argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tenax mock: unexpected argument '%s' (see 'tenax mock --help')\n",
                argv[optind]);
        return 2;
    }
    if (tx__opts_listen("mock", listen) != 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    tx_mock_t *mock = tx__mock_new(loop, &mcfg);
    tx_router_t *router = tx__router_new();
    if (mock == NULL || router == NULL || tx__mock_routes(mock, router) != TX_EOK) {
        fprintf(stderr, "tenax mock: out of memory\n");
        tx__router_destroy(router);
        tx__mock_destroy(mock);
        return 1;
    }
    hcfg.handler = tx__router_handler;
    hcfg.handler_ud = router;
    app_t app = {0};
    app.srv = tx__http_server_start(loop, listen, &hcfg, &err);
    if (app.srv == NULL) {
        fprintf(stderr, "tenax mock: %s\n", err.msg);
        tx__router_destroy(router);
        tx__mock_destroy(mock);
        uv_run(loop, UV_RUN_DEFAULT); /* lets the failed listener's handle close */
        uv_loop_close(loop);
        return 1;
    }
    char faults[512];
    tx__mock_describe_faults(&mcfg, faults, sizeof faults);
    fprintf(stderr, "tenax mock listening on http://%s (faults: %s)\n",
            tx__http_server_address(app.srv), faults);
    fprintf(stderr, "tenax mock: seed %llu, retry-after %us, latency %ums",
            (unsigned long long)mcfg.seed, mcfg.retry_after_s, mcfg.latency_ms);
    for (size_t i = 0; i < mcfg.ndown; i++)
        fprintf(stderr, "%s%s", i ? "," : ", down models: ", mcfg.down_models[i]);
    fprintf(stderr, "\n");
    uv_signal_init(loop, &app.sigint);
    uv_signal_init(loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    tx__http_server_destroy(app.srv);
    tx__router_destroy(router);
    tx__mock_destroy(mock);
    uv_loop_close(loop);
    return 0;
}
