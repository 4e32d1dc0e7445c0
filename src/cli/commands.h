/* The subcommands (docs/cli.md): one file each (cmd_<name>.c). Each returns the process exit code
 * and prints --help. Bad flags exit 2 with a one-line error. */
#ifndef TX_CLI_COMMANDS_H
#define TX_CLI_COMMANDS_H

int tx__cmd_serve(int argc, char **argv);
int tx__cmd_run(int argc, char **argv);
int tx__cmd_stats(int argc, char **argv);
int tx__cmd_retry(int argc, char **argv);
int tx__cmd_regenerate(int argc, char **argv);
int tx__cmd_export(int argc, char **argv);
int tx__cmd_diag(int argc, char **argv);
int tx__cmd_config(int argc, char **argv);
int tx__cmd_mock(int argc, char **argv);
int tx__cmd_demo(int argc, char **argv);

#endif
