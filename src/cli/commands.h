/* The subcommands (docs/cli.md): one file each (cmd_<name>.c). Each returns the process exit code
 * and prints --help. Bad flags exit 2 with a one-line error. */
#ifndef TX_CLI_COMMANDS_H
#define TX_CLI_COMMANDS_H

int tx_cmd_serve(int argc, char **argv);
int tx_cmd_run(int argc, char **argv);
int tx_cmd_stats(int argc, char **argv);
int tx_cmd_retry(int argc, char **argv);
int tx_cmd_regenerate(int argc, char **argv);
int tx_cmd_export(int argc, char **argv);
int tx_cmd_diag(int argc, char **argv);
int tx_cmd_config(int argc, char **argv);
int tx_cmd_mock(int argc, char **argv);
int tx_cmd_demo(int argc, char **argv);

#endif
