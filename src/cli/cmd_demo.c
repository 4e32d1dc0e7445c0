/* tenax demo: a fault-injecting mock as a child process, the sample posts imported into
 * a SQLite store in a temporary folder, worked through with the live progress bar, then the
 * stats table, retry/fallback/parking/failover counts and where to see the dashboard. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "cli/runner.h"
#include "config/config.h"
#include "obs/log.h"

#define DEMO_FAULTS "500:0.1,429:0.08,1302:0.04,timeout:0.02,err200:0.04,empty:0.03,badjson:0.02"

static void usage(FILE *f)
{
    fputs("usage: tenax demo [--input F.jsonl] [--faults KIND:P,...] [--seed N] [--dir DIR]\n"
          "\n"
          "Starts a fault-injecting mock upstream (one fallback model down, a dead first endpoint\n"
          "to show failover), imports the sample posts (data/posts.jsonl) into a SQLite store,\n"
          "works them through with a live progress bar and prints what happened, and how to see\n"
          "it on the dashboard. No key, no network. Parking is shortened for the demo\n"
          "(JOB_PARK_BASE_MS=500) so it completes.\n"
          "\n"
          "options:\n"
          "  --input F.jsonl the items to import (default: the sample posts)\n"
          "  --faults F      the mock's faults, KIND:P,... (default " DEMO_FAULTS ")\n"
          "  --seed N        seed of the mock's fault draw (default: from the clock)\n"
          "  --dir DIR       keep the store and the mock's log in DIR (created when missing;\n"
          "                  default: a new temporary folder)\n"
          "  -h, --help      print this help and exit\n"
          "\n"
          "exit status:\n"
          "  0  every item finished\n"
          "  2  usage error, or the demo could not run (no free port, mock did not start)\n"
          "  3  some item unfinished (parked or paused)\n",
          f);
}

/* A TCP port on 127.0.0.1 that was free a moment ago (0 on failure). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* data/posts.jsonl next to the binary (build/tenax → ../data), or in the working directory. */
static int find_input(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *rel[] = {"/../data/posts.jsonl", "/data/posts.jsonl",
                         "/../share/tenax/posts.jsonl"};
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(out, cap, "%s%s", exe, rel[i]);
            if (access(out, R_OK) == 0) return 0;
        }
    }
    snprintf(out, cap, "data/posts.jsonl");
    return access(out, R_OK) == 0 ? 0 : -1;
}

/* mkdir -p: 0 when `path` is a folder now (made or already there), -1 with errno set. */
static int make_dirs(const char *path)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *c = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The end of a failed run in a temporary folder: the mock's last words, then the folder goes. */
static void drop_temp(const char *dir, const char *logpath)
{
    FILE *f = fopen(logpath, "r");
    if (f != NULL) {
        char line[512];
        int shown = 0;
        while (fgets(line, sizeof line, f) != NULL && shown < 20) {
            if (!shown++) fprintf(stderr, "tenax demo: the mock's log:\n");
            fprintf(stderr, "  %s", line);
        }
        fclose(f);
    }
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct {
    int64_t by_class[TX_CLASS__LAST];
    int64_t fallback_ok, items_retried, items;
} demo_counts_t;

static int count_item(const tx_item_t *it, void *ud)
{
    demo_counts_t *c = ud;
    c->items++;
    if (it->attempts > 1) c->items_retried++;
    return 0;
}

int tx__cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'}, {"faults", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},  {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *input = NULL, *faults = DEMO_FAULTS, *dir = NULL;
    int64_t seed = (int64_t)time(NULL) % 100000;
    tx_opts_t o;
    tx__opts_init(&o, "demo", argc, argv);
    int c;
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        switch (c) {
        case 'i':
            input = o.arg;
            break;
        case 'f':
            faults = o.arg;
            break;
        case 'd':
            dir = o.arg;
            break;
        case 's':
            if (tx__opts_int(&o, "seed", 0, INT64_MAX, &seed) != 0) return 2;
            break;
        default:
            return tx__opts_exit(c, usage);
        }
    }
    if (tx__opts_end(&o, NULL) != 0) return 2;
    if (getenv("TENAX_LOG_LEVEL") == NULL) { /* keep the progress bar readable */
        setenv("TENAX_LOG_LEVEL", "error", 1);
        tx__log_init();
    }
    char inbuf[PATH_MAX + 64];
    if (input == NULL) {
        if (find_input(inbuf, sizeof inbuf) != 0) {
            fprintf(stderr, "tenax demo: cannot find data/posts.jsonl; pass --input F.jsonl\n");
            return 2;
        }
        input = inbuf;
    }
    if (access(input, R_OK) != 0) {
        fprintf(stderr, "tenax demo: --input: cannot read %s: %s\n", input, strerror(errno));
        return 2;
    }
    int port = free_port(), dead = free_port();
    if (port == 0 || dead == 0 || port == dead) {
        fprintf(stderr, "tenax demo: no free local port\n");
        return 2;
    }
    char tmpl[PATH_MAX];
    int temp = dir == NULL; /* a folder of our own: removed again when the demo fails */
    if (temp) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/tenax-demo-XXXXXX", t != NULL && t[0] == '/' ? t : "/tmp");
        if ((dir = mkdtemp(tmpl)) == NULL) {
            fprintf(stderr, "tenax demo: cannot create a temporary folder: %s\n", strerror(errno));
            return 2;
        }
    } else if (make_dirs(dir) != 0) {
        fprintf(stderr, "tenax demo: --dir: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    char listen[64], seedtxt[32], logpath[PATH_MAX + 32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(seedtxt, sizeof seedtxt, "%lld", (long long)seed);
    snprintf(logpath, sizeof logpath, "%s/mock.log", dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tenax demo: fork: %s\n", strerror(errno));
        if (temp) drop_temp(dir, logpath);
        return 2;
    }
    if (pid == 0) {
        FILE *lf = freopen(logpath, "w", stderr);
        (void)lf;
        if (freopen("/dev/null", "w", stdout) == NULL) _exit(127);
        execl("/proc/self/exe", "tenax", "mock", "--listen", listen, "--faults", faults,
              "--down-models", "demo-fallback-down", "--latency-ms", "60", "--retry-after", "1",
              "--seed", seedtxt, (char *)NULL);
        _exit(127);
    }
    int code = 2;
    tx_config_t *cfg = NULL;
    struct timespec ts = {0, 20 * 1000000};
    for (int i = 0; i < 250 && !port_open(port); i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "tenax demo: the mock did not start%s%s%s\n", temp ? "" : " (see ",
                    temp ? "" : logpath, temp ? "" : ")");
            pid = -1;
            goto out;
        }
        nanosleep(&ts, NULL);
    }
    if (!port_open(port)) {
        fprintf(stderr, "tenax demo: the mock did not start listening%s%s%s\n",
                temp ? "" : " (see ", temp ? "" : logpath, temp ? "" : ")");
        goto out;
    }
    char kv[1024];
    snprintf(kv, sizeof kv,
             "{\"AI_BASE_URLS\":[{\"url\":\"http://127.0.0.1:%d/v1\",\"name\":\"dead\"},"
             "{\"url\":\"http://127.0.0.1:%d/v1\",\"name\":\"mock\"}],"
             "\"AI_MODEL\":\"demo-primary\","
             "\"AI_FALLBACK_MODELS\":[\"demo-fallback-down\",\"demo-fallback\"],"
             "\"AI_MAX_CONCURRENCY\":8,\"AI_TIMEOUT_MS\":1000,\"AI_RETRY_DELAY_MS\":100,"
             "\"AI_RETRY_MAX_DELAY_MS\":1000,\"AI_ENDPOINT_COOLDOWN_MS\":60000,"
             "\"JOB_PARK_BASE_MS\":500,\"JOB_PARK_MAX_MS\":2000,\"JOB_BATCH_SIZE\":16}",
             dead, port);
    tx_error_t err = {0};
    tx_err_t rc = tx__config_load_text(NULL, kv, strlen(kv), &cfg, &err);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax demo: config: %s\n", err.msg ? err.msg : tx_strerror(rc));
        goto out;
    }
    char url[PATH_MAX + 32];
    snprintf(url, sizeof url, "sqlite:%s/demo.db", dir);
    fprintf(stderr,
            "tenax demo: mock upstream on http://%s (faults %s; model demo-fallback-down is "
            "down; endpoint 0 is dead to show failover)\n"
            "tenax demo: store %s\n",
            listen, faults, url);
    tx_store_t *s = NULL;
    rc = tx__store_open(url, &s, &err);
    if (rc != TX_EOK) {
        fprintf(stderr, "tenax demo: store: %s\n", err.msg ? err.msg : tx_strerror(rc));
        goto out;
    }
    tx_runner_import_t im;
    int irc = tx__runner_import(s, "tenax demo", input, "tags", &im);
    tx__store_close(s);
    if (irc != 0) goto out;
    fprintf(stderr, "tenax demo: imported %zu items from %s (%zu empty → skipped)\n",
            im.imported + im.existing, input, im.skipped);
    tx_runner_opts_t ro = {.prog = "tenax demo",
                           .store_url = url,
                           .cfg = cfg,
                           .wait = 1,
                           .progress = 1,
                           .quiet_summary = 1};
    tx_runner_result_t res;
    code = tx__runner_work(&ro, &res);
    if (code == 2) goto out;

    demo_counts_t dc = {0};
    s = NULL;
    if (tx__store_open(url, &s, &err) == TX_EOK)
        tx__store_export(s, NULL, -1, count_item, &dc, &err);
    tx__store_close(s);
    const int64_t *b = res.stats.by_status;
    printf("\n  status       items\n  ----------   -----\n");
    for (int st = 0; st < TX_ITEM__LAST; st++)
        printf("  %-10s   %5lld\n", tx__item_status_name((tx_item_status_t)st), (long long)b[st]);
    printf("  ----------   -----\n  %-10s   %5lld\n\n", "total", (long long)res.stats.total);
    printf("  upstream attempts        %llu in %.1f s\n", (unsigned long long)res.attempts,
           res.seconds);
    printf("  in-line retries          %llu (items needing more than one attempt: %lld)\n",
           (unsigned long long)res.retries, (long long)dc.items_retried);
    printf("  fallback model switches  %llu\n", (unsigned long long)res.fallbacks);
    printf("  parked (retry_after)     %llu\n", (unsigned long long)res.parked);
    printf("  endpoint failovers       %u\n", res.failovers);
    if (res.paused) printf("  job work PAUSED: %s\n", res.pause_reason);
    printf("\n  See it: tenax stats --store %s\n", url);
    printf("          tenax export --store %s | head\n", url);
    printf("  Dashboard: tenax serve --store %s\n", url);
    printf(
        "             then open http://127.0.0.1:8010/dashboard (live limiter, queue, endpoints,\n"
        "             items by status; the diag JSON is at /admin/diag?q=ai-queue)\n");
    printf("  (the folder %s is kept; delete it when done)\n", dir);
    code = code == 3 ? 3 : 0;
out:
    tx__config_unref(cfg);
    if (pid > 0) {
        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
    }
    if (code == 2 && temp) drop_temp(dir, logpath);
    return code;
}
