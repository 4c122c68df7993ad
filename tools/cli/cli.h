/*
 * Shared bits of the `tokenfence` command: exit codes (documented in
 * `tokenfence --help`) and the one way messages are printed.
 */
#ifndef TF_CLI_H
#define TF_CLI_H

#define TF_EXIT_OK 0
#define TF_EXIT_FAIL 1          /* nothing answered, refused, not found; policy: deny */
#define TF_EXIT_APPROVAL 2      /* policy check: require_approval */
#define TF_EXIT_CONFIG 3        /* the configuration (file, flags, environment) is invalid */
#define TF_EXIT_USAGE 64        /* bad command line (sysexits EX_USAGE) */
#define TF_EXIT_RUN_ERROR 125   /* run: tokenfence itself failed before the command ran */
#define TF_EXIT_CANNOT_EXEC 126 /* run: the command is not executable */
#define TF_EXIT_NOT_FOUND 127   /* run: the command was not found */

/* "tokenfence: <message>\n" on stderr. */
void tf_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
