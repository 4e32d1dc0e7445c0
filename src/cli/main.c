/* tenax: the command line. Dispatches to one file per subcommand (commands.h). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "obs/log.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"serve", tx_cmd_serve, "gateway + jobs API + admin on one port"},
    {"run", tx_cmd_run, "import items from JSONL and work them through"},
    {"stats", tx_cmd_stats, "item statistics of a store"},
    {"retry", tx_cmd_retry, "make retrying/pending (or failed, --force) items due now"},
    {"regenerate", tx_cmd_regenerate, "work one item again"},
    {"export", tx_cmd_export, "items as JSONL on stdout"},
    {"diag", tx_cmd_diag, "pretty-print a running server's diagnostics"},
    {"config", tx_cmd_config, "validate a config file (config check F)"},
    {"mock", tx_cmd_mock, "fault-injecting OpenAI-compatible upstream"},
    {"demo", tx_cmd_demo, "end-to-end demo on the mock and an embedded store"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tenax <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].what);
    fprintf(out, "\nrun 'tenax <command> --help' for a command's options\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    tx_log_init();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tenax: unknown command '%s' (see 'tenax --help')\n", argv[1]);
    return 2;
}
