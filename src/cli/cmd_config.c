/* tenax config check F: loads F on top of the current environment and prints every key's
 * effective value and source (a table, or JSON with --json). Exit 0 valid, 1 invalid, 2 usage. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opts.h"
#include "config/config.h"

static void usage(FILE *out)
{
    fputs(
        "usage: tenax config check FILE [--json]\n"
        "\n"
        "Validates FILE (a JSON object of config keys, see docs/config.md) on top of the current\n"
        "environment and prints every key's effective value and its source (kv, env or default).\n"
        "Secrets are shown only as set/unset.\n"
        "\n"
        "options:\n"
        "  --json          print the keys as JSON instead of a table\n"
        "  -h, --help      print this help and exit\n"
        "\n"
        "exit status:\n"
        "  0  valid\n"
        "  1  invalid (the message says which key and why)\n"
        "  2  usage error\n",
        out);
}

static int print_table(const tx_config_t *cfg)
{
    json_t *all = tx__config_to_json(cfg);
    if (all == NULL) return -1;
    int width = 0;
    const char *key;
    json_t *e;
    json_object_foreach(all, key, e)
    {
        int n = (int)strlen(key);
        if (n > width) width = n;
    }
    printf("%-*s  %-7s  %s\n", width, "KEY", "SOURCE", "VALUE");
    json_object_foreach(all, key, e)
    {
        json_t *v = json_object_get(e, "value");
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-*s  %-7s  %s\n", width, key, json_string_value(json_object_get(e, "source")),
               json_is_string(v) ? json_string_value(v) : (text != NULL ? text : "?"));
        free(text);
    }
    json_decref(all);
    return 0;
}

static int print_json(const tx_config_t *cfg)
{
    json_t *all = tx__config_to_json(cfg);
    if (all == NULL) return -1;
    int rc = json_dumpf(all, stdout, JSON_INDENT(2)) == 0 ? 0 : -1;
    fputc('\n', stdout);
    json_decref(all);
    return rc;
}

int tx__cmd_config(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "tenax config: expected 'check FILE' (see 'tenax config --help')\n");
        return 2;
    }
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0, c;
    tx_opts_t o;
    tx__opts_init(&o, "config", argc - 1, argv + 1); /* "check" plays argv[0] */
    while ((c = tx__opts_next(&o, longopts)) != -1) {
        if (c == TX_OPTS_BAD) return 2;
        if (c == 'h') return tx__opts_exit(c, usage);
        if (c == 'j') as_json = 1;
    }
    if (o.first != o.argc - 1) {
        fprintf(stderr, "tenax config: check takes exactly one FILE (see 'tenax config --help')\n");
        return 2;
    }
    tx_config_t *cfg = NULL;
    tx_error_t err = {0};
    if (tx__config_load(NULL, o.argv[o.first], &cfg, &err) != TX_EOK) {
        fprintf(stderr, "tenax config: %s\n", err.msg != NULL ? err.msg : "invalid");
        return 1;
    }
    int rc = as_json ? print_json(cfg) : print_table(cfg);
    tx__config_unref(cfg);
    if (rc != 0) {
        fprintf(stderr, "tenax config: out of memory\n");
        return 1;
    }
    return 0;
}
