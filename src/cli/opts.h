/* Shared option parsing for subcommands: getopt_long with tenax's rules (docs/cli.md): `--flag
 * value` and `--flag=value` both work, options may follow positional arguments, and a bad flag or a
 * missing value prints one line "tenax <cmd>: …" on stderr so the caller can exit 2.
 *
 *     static const struct option longopts[] = {
 *         {"store", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
 *         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
 *     tx_opts_t o;
 *     tx__opts_init(&o, "stats", argc, argv);
 *     int c;
 *     while ((c = tx__opts_next(&o, longopts)) != -1) {
 *         if (c == TX_OPTS_BAD) return 2;
 *         if (c == 's') store = o.arg;
 *         ...
 *     }
 *     // positional arguments: o.argv[o.first .. o.argc-1]
 */
#ifndef TX_CLI_OPTS_H
#define TX_CLI_OPTS_H

#include <getopt.h>
#include <stdio.h>
#include <stdint.h>

#define TX_OPTS_BAD '?'

typedef struct {
    const char *cmd; /* for messages: "tenax <cmd>: …" */
    int argc;
    char **argv;     /* argv[0] is the subcommand's name; getopt may permute the rest */
    const char *arg; /* the current option's value, or NULL */
    int first;       /* after the loop: index of the first positional argument */
} tx_opts_t;

/* Prepares a parse of argv (argv[0] is the subcommand). Resets getopt's global state. */
void tx__opts_init(tx_opts_t *o, const char *cmd, int argc, char **argv);

/* The next option's `val` from longopts (short options are not accepted unless a longopts entry
 * maps them), -1 at the end (then o->first is set), or TX_OPTS_BAD after printing a one-line
 * error (unknown option, missing or unexpected value). */
int tx__opts_next(tx_opts_t *o, const struct option *longopts);

/* Parses o->arg as a strict decimal integer in lo..hi into *out. Returns 0, or -1 after printing
 * "tenax <cmd>: --flag: 'x' is not an integer in lo..hi" (the caller exits 2). */
int tx__opts_int(const tx_opts_t *o, const char *flag, int64_t lo, int64_t hi, int64_t *out);

/* What a command answers for option `c` it does not handle itself: 'h' (--help) prints `usage`
 * on stdout and gives 0; anything else (TX_OPTS_BAD: tx__opts_next has said why) gives 2. */
int tx__opts_exit(int c, void (*usage)(FILE *out));

/* After the options: 0 when no operand is left and `owner` (the --owner value, NULL when not
 * given) is not empty; else -1 after printing "tenax <cmd>: unexpected argument 'x'" or
 * "tenax <cmd>: --owner: empty owner" (the caller exits 2). */
int tx__opts_end(const tx_opts_t *o, const char *owner);

/* 0 when `listen` reads as HOST:PORT or [IPv6]:PORT with a port 0..65535 (the host is
 * resolved later); else -1 after printing "tenax <cmd>: --listen: …" (the caller exits 2). */
int tx__opts_listen(const char *cmd, const char *listen);

#endif
