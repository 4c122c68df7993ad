/*
 * The `tokenfence` subcommands. Each takes its own argv (argv[0] is the
 * subcommand's name), prints its own --help, and returns the process exit
 * status (cli.h).
 */
#ifndef TF_CLI_CMDS_H
#define TF_CLI_CMDS_H

int tf_cmd_run(int argc, char **argv);
int tf_cmd_status(int argc, char **argv);
int tf_cmd_top(int argc, char **argv);
int tf_cmd_metrics(int argc, char **argv);
int tf_cmd_kill(int argc, char **argv);   /* kill and resume */
int tf_cmd_approvals(int argc, char **argv);
int tf_cmd_decide(int argc, char **argv); /* approve and deny */
int tf_cmd_policy(int argc, char **argv);
int tf_cmd_demo(int argc, char **argv);

/* "Try 'tokenfence CMD --help'." after a message; returns TF_EXIT_USAGE. */
int tf_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
