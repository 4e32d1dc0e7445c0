/* tenax: the command line. Dispatches to one file per subcommand (commands.h); prints the
 * version and the help. Every error message starts "tenax <command>: " (docs/cli.md). */
#include <jansson.h>
#include <openssl/opensslv.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "cli/commands.h"
#include "gateway/json_arena.h"
#include "obs/log.h"

#ifndef TX_VERSION
#define TX_VERSION "0.0.0-unknown"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"serve", tx__cmd_serve, "gateway + jobs API + admin + dashboard on one port"},
    {"run", tx__cmd_run, "import items from JSONL and work them through"},
    {"stats", tx__cmd_stats, "item statistics of a store"},
    {"retry", tx__cmd_retry, "make retrying/pending (or failed, --force) items due now"},
    {"regenerate", tx__cmd_regenerate, "work one item again"},
    {"export", tx__cmd_export, "items as JSONL on stdout"},
    {"diag", tx__cmd_diag, "pretty-print a running server's diagnostics"},
    {"config", tx__cmd_config, "validate a config file (config check F)"},
    {"mock", tx__cmd_mock, "fault-injecting OpenAI-compatible upstream"},
    {"demo", tx__cmd_demo, "end-to-end demo on the mock and an embedded store"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: tenax <command> [options]\n"
                 "       tenax --version | version\n"
                 "       tenax help [command]\n\n"
                 "Makes calls to LLM APIs dependable: an OpenAI-compatible gateway and a durable\n"
                 "job engine on one retry engine.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].what);
    fprintf(out, "\noptions:\n"
                 "  -h, --help     print this help and exit ('tenax <command> -h' for a command)\n"
                 "  -V, --version  print the version and exit\n\n"
                 "exit status:\n"
                 "  0  ok\n"
                 "  1  the command failed (each command's help says how)\n"
                 "  2  usage or config error\n"
                 "  3  'tenax run'/'tenax demo': some item unfinished\n\n"
                 "The manual: man tenax (docs/tenax.1).\n");
}

static int version(void)
{
    printf("tenax %s\n", TX_VERSION);
    printf("built with libuv %s, OpenSSL %s, SQLite %s, jansson %s\n", uv_version_string(),
           OPENSSL_VERSION_STR, sqlite3_libversion(), JANSSON_VERSION);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0) return (int)i;
    return -1;
}

int main(int argc, char **argv)
{
    tx__json_arena_install(); /* this program's cJSON allocator: before any thread or tree */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *a = argv[1];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0 || strcmp(a, "version") == 0) {
        if (argc > 2) {
            fprintf(stderr, "tenax version: unexpected argument '%s'\n", argv[2]);
            return 2;
        }
        return version();
    }
    if (strcmp(a, "help") == 0) {
        if (argc == 2) {
            usage(stdout);
            return 0;
        }
        int k = find(argv[2]);
        if (k < 0 || argc > 3) {
            fprintf(stderr, "tenax help: %s '%s' (see 'tenax --help')\n",
                    k < 0 ? "unknown command" : "unexpected argument", argv[k < 0 ? 2 : 3]);
            return 2;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return commands[k].fn(2, help_argv);
    }
    tx__log_init();
    int k = find(a);
    if (k >= 0) return commands[k].fn(argc - 1, argv + 1);
    if (a[0] == '-')
        fprintf(stderr, "tenax: unknown option '%s' (see 'tenax --help')\n", a);
    else
        fprintf(stderr, "tenax: unknown command '%s' (see 'tenax --help')\n", a);
    return 2;
}
