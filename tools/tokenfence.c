/*
 * tokenfence: run a program under TokenFence and look after the guarded
 * processes (DESIGN.md §4 "CLI"). The subcommands live in tools/cli/.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmds.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

static const char help[] =
	"Usage: tokenfence COMMAND [ARGS...]\n"
	"\n"
	"Stops LLM spend before it happens, inside the agent's own process.\n"
	"\n"
	"Commands:\n"
	"  run [FLAGS] -- CMD...        run CMD with TokenFence, print a summary at the end\n"
	"  status [--json] [--pid N]    what every guarded process has spent, by model and scope\n"
	"  top [--once]                 status, refreshed every second\n"
	"  metrics                      the totals in Prometheus text format\n"
	"  kill [--scope S] [--pid N]   trip a scope's kill switch (later calls are blocked)\n"
	"  resume [--scope S] [--pid N] reset it\n"
	"  approvals [--json]           calls waiting for a human decision\n"
	"  approve ID | deny ID         decide one\n"
	"  policy check ACTION [--config F]  what the policy says about an action\n"
	"  demo                         the built-in tour on the local emulator\n"
	"\n"
	"'tokenfence COMMAND --help' describes each command.\n"
	"\n"
	"Environment: TOKENFENCE_CONFIG, TOKENFENCE_MAX_COST, TOKENFENCE_MAX_COST_PER_REQUEST,\n"
	"TOKENFENCE_MAX_REQUESTS, TOKENFENCE_WARN_AT, TOKENFENCE_DOWNGRADE_AT,\n"
	"TOKENFENCE_DOWNGRADE, TOKENFENCE_SCOPE, TOKENFENCE_LEDGER, TOKENFENCE_HOSTS,\n"
	"TOKENFENCE_LOG, TOKENFENCE_EVENTS, TOKENFENCE_APPROVAL_TIMEOUT,\n"
	"TOKENFENCE_FAIL_MODE (read by the library), TOKENFENCE_SOCKET_DIR (where\n"
	"processes are found; default $XDG_RUNTIME_DIR/tokenfence, else\n"
	"/tmp/tokenfence-$UID), TOKENFENCE_LIBRARY (the library `run` preloads).\n"
	"\n"
	"Exit status:\n"
	"  0    success (policy check: allow)\n"
	"  1    failure: no process answered or accepted, no such approval or pid\n"
	"       (policy check: deny)\n"
	"  2    policy check: require_approval\n"
	"  3    configuration error (file, flags or TOKENFENCE_* variables)\n"
	"  64   usage error\n"
	"  run: the command's own status, 128+N if it was killed by signal N,\n"
	"       125 if tokenfence failed before the command ran, 126 if the command\n"
	"       cannot be executed, 127 if it was not found.\n";

typedef struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
	{ "run", tf_cmd_run },
	{ "status", tf_cmd_status },
	{ "top", tf_cmd_top },
	{ "metrics", tf_cmd_metrics },
	{ "kill", tf_cmd_kill },
	{ "resume", tf_cmd_kill },
	{ "approvals", tf_cmd_approvals },
	{ "approve", tf_cmd_decide },
	{ "deny", tf_cmd_decide },
	{ "policy", tf_cmd_policy },
	{ "demo", tf_cmd_demo },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(help, stderr);
		return TF_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			char *sub[] = { argv[2], (char *)"--help", NULL };
			for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
				if (strcmp(subcommands[i].name, argv[2]) == 0)
					return subcommands[i].fn(2, sub);
			return tf_cli_usage_error(NULL, "unknown command: %s", argv[2]);
		}
		fputs(help, stdout);
		return TF_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("tokenfence %s\n", TF_VERSION);
		return TF_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(subcommands[i].name, argv[1]) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	return tf_cli_usage_error(NULL, "unknown command: %s", argv[1]);
}
