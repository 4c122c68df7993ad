/*
 * `tokenfence run [flags] -- CMD…`: validate the configuration, preload the
 * library into CMD with one workflow budget for its process tree, wait,
 * summarise what the shim recorded, exit with CMD's status.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cfgfile.h"
#include "cli.h"
#include "cmds.h"
#include "runenv.h"
#include "summary.h"

#ifndef TF_LIBDIR
#define TF_LIBDIR "lib"
#endif

extern char **environ;

static void run_help(void)
{
	printf("Usage: tokenfence run [OPTIONS] [--] COMMAND [ARG...]\n"
	       "\n"
	       "Runs COMMAND with TokenFence preloaded. The command and every process it starts\n"
	       "share one workflow budget; when it ends, a summary of its LLM calls (requests,\n"
	       "tokens and cost per model, blocked and denied calls, warnings) goes to stderr.\n"
	       "The configuration is checked first: an invalid one stops here (status 3).\n"
	       "\n"
	       "Options (each sets the TOKENFENCE_* variable named after it; the flags win\n"
	       "over the variables already set, which win over the config file):\n");
	for (size_t i = 0; i < tf_run_nflags; i++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s %s", tf_run_flags[i].flag, tf_run_flags[i].arg);
		if (strlen(left) > 30)
			printf("  %s\n  %-30s %s\n", left, "", tf_run_flags[i].help);
		else
			printf("  %-30s %s\n", left, tf_run_flags[i].help);
	}
	printf("  %-30s %s\n  %-30s %s\n", "-q, --quiet", "no summary at the end", "-h, --help",
	       "this help");
	printf("\n"
	       "The library is libtokenfence.so beside this program (build tree or installed\n"
	       "layout), or $TOKENFENCE_LIBRARY. It is added at the end of LD_PRELOAD, so what\n"
	       "is already there (e.g. a sanitizer runtime) stays first. The command also gets\n"
	       "TOKENFENCE_WORKFLOW (a new id: the budget scope of this run) and\n"
	       "TOKENFENCE_RUN_DIR (a private directory, removed at the end).\n"
	       "SIGINT, SIGTERM and SIGHUP sent to tokenfence are passed on to the command.\n"
	       "\n"
	       "Exit status: the command's own; 128+N if it was killed by signal N; 3 if the\n"
	       "configuration is invalid; 64 on a usage error; 125 if tokenfence failed before\n"
	       "the command ran (e.g. library not found); 126 if the command cannot be\n"
	       "executed; 127 if it was not found.\n"
	       "\n"
	       "Example:\n"
	       "  tokenfence run --max-cost 3 --max-requests 100 --warn-at 0.75 -- python agent.py\n");
}

/* ---- configuration check against the child's environment ----------------- */

static const tf_envlist *check_env;

static const char *child_getenv(const char *name)
{
	return tf_envlist_get(check_env, name);
}

/* A message about TOKENFENCE_X="…" also names the flag that set it. */
static void print_config_error(const char *err, const bool *from_flag)
{
	for (size_t i = 0; i < tf_run_nflags; i++) {
		char needle[96];
		snprintf(needle, sizeof(needle), "%s=", tf_run_flags[i].var);
		if (from_flag[i] && strstr(err, needle)) {
			fprintf(stderr, "%s (from --%s)\n", err, tf_run_flags[i].flag);
			return;
		}
	}
	fprintf(stderr, "%s\n", err);
}

/* ---- the library ------------------------------------------------------------ */

static int find_library(char *out, size_t outlen)
{
	const char *env = getenv("TOKENFENCE_LIBRARY");
	char exe[PATH_MAX], (*cand)[4096];
	ssize_t n;
	size_t nc;

	if (env && *env) {
		if (!realpath(env, out) || access(out, R_OK) < 0) {
			tf_cli_err("TOKENFENCE_LIBRARY=%s: %s", env, strerror(errno));
			return -ENOENT;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		tf_cli_err("cannot find my own executable: %s", strerror(errno));
		return -ENOENT;
	}
	exe[n] = '\0';
	cand = malloc(5 * sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	nc = tf_run_library_candidates(exe, TF_LIBDIR, cand, 5);
	for (size_t i = 0; i < nc; i++) {
		if (access(cand[i], R_OK) == 0 && realpath(cand[i], out) && outlen >= PATH_MAX) {
			free(cand);
			return 0;
		}
	}
	tf_cli_err("cannot find libtokenfence.so; looked in:");
	for (size_t i = 0; i < nc; i++)
		fprintf(stderr, "  %s\n", cand[i]);
	fprintf(stderr, "Set TOKENFENCE_LIBRARY to its path.\n");
	free(cand);
	return -ENOENT;
}

/* ---- child ---------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;

/*
 * Pass on signals someone sent to us. A terminal's ^C (si_code SI_KERNEL)
 * already reached the command, which is in our process group: sending it
 * again would make it see two.
 */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && si->si_code <= 0)
		kill((pid_t)child_pid, sig);
}

static void install_forwarding(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Starts argv with envp. Returns the pid, or a negative errno when exec
 * failed (reported by the child through a close-on-exec pipe, so the
 * command's own exit status 127 is never mistaken for ours).
 */
static pid_t spawn(char **argv, char **envp)
{
	int p[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		close(p[0]);
		execvpe(argv[0], argv, envp);
		e = errno;
		(void)!write(p[1], &e, sizeof(e));
		_exit(TF_EXIT_NOT_FOUND);
	}
	child_pid = pid;
	close(p[1]);
	do
		n = read(p[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		child_pid = 0;
		return -e;
	}
	return pid;
}

/* ---- run directory ---------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void remove_run_dir(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void print_summary(const char *run_dir, const char *workflow, int status)
{
	char path[PATH_MAX + 16], how[160];
	tf_summary s;
	tf_buf out;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	tf_summary_init(&s);
	snprintf(path, sizeof(path), "%s/calls.jsonl", run_dir);
	f = fopen(path, "r");
	while (f && (n = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)n;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len)
			tf_summary_add_line(&s, line, len);
	}
	free(line);
	if (f)
		fclose(f);
	tf_run_describe_status(status, how, sizeof(how));
	tf_buf_init(&out, 1 << 20);
	if (tf_summary_render(&s, workflow, how, &out) == 0)
		(void)!fwrite(out.data, 1, out.len, stderr);
	tf_buf_free(&out);
	tf_summary_free(&s);
}

/* ---- the command ------------------------------------------------------------ */

enum { OPT_FLAG0 = 1000 };
/* Negative so they never meet an exit status. */
enum { PARSED = 0, PARSED_HELP = -1, PARSED_USAGE = -2, PARSED_NOMEM = -3 };

/* Flags become variables in env; from_flag[i] notes which flag set its variable. */
static int parse(int argc, char **argv, tf_envlist *env, bool *from_flag, bool *quiet)
{
	struct option *opts = calloc(tf_run_nflags + 3, sizeof(*opts));
	char cwd[PATH_MAX];
	int c, r = PARSED;

	if (!opts)
		return PARSED_NOMEM;
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), "/");
	for (size_t i = 0; i < tf_run_nflags; i++)
		opts[i] = (struct option){ tf_run_flags[i].flag, required_argument, NULL,
					   OPT_FLAG0 + (int)i };
	opts[tf_run_nflags] = (struct option){ "quiet", no_argument, NULL, 'q' };
	opts[tf_run_nflags + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	optind = 1;
	opterr = 0;
	while (r == PARSED && (c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		const tf_run_flag *f;
		char *v;

		if (c == 'h') {
			run_help();
			r = PARSED_HELP;
		} else if (c == 'q') {
			*quiet = true;
		} else if (c >= OPT_FLAG0 && c < OPT_FLAG0 + (int)tf_run_nflags) {
			f = &tf_run_flags[c - OPT_FLAG0];
			/* Repeated list flags add up; the inherited value is replaced. */
			v = tf_run_flag_value(f,
					      from_flag[c - OPT_FLAG0] ? tf_envlist_get(env, f->var)
								       : NULL,
					      optarg, cwd);
			if (!v && errno != ENOMEM) {
				tf_cli_usage_error("run", "--%s needs a value", f->flag);
				r = PARSED_USAGE;
			} else if (!v || tf_envlist_set(env, f->var, v) < 0) {
				r = PARSED_NOMEM;
			}
			free(v);
			from_flag[c - OPT_FLAG0] = true;
		} else if (optopt >= OPT_FLAG0 && optopt < OPT_FLAG0 + (int)tf_run_nflags) {
			tf_cli_usage_error("run", "--%s needs a value",
					   tf_run_flags[optopt - OPT_FLAG0].flag);
			r = PARSED_USAGE;
		} else if (optopt > ' ' && optopt < 127) {
			tf_cli_usage_error("run", "unknown option -%c", optopt);
			r = PARSED_USAGE;
		} else {
			tf_cli_usage_error("run", "unknown option %s", argv[optind - 1]);
			r = PARSED_USAGE;
		}
	}
	free(opts);
	return r;
}

int tf_cmd_run(int argc, char **argv)
{
	char lib[PATH_MAX], workflow[20], run_dir[PATH_MAX], err[1024];
	bool *from_flag = calloc(tf_run_nflags, sizeof(bool)), quiet = false;
	const char *tmp = getenv("TMPDIR");
	uint8_t rnd[8];
	tf_envlist env;
	char *preload;
	int r, status = 0;
	pid_t pid;

	if (!from_flag || tf_envlist_init(&env, environ) < 0) {
		free(from_flag);
		tf_cli_err("out of memory");
		return TF_EXIT_RUN_ERROR;
	}
	r = parse(argc, argv, &env, from_flag, &quiet);
	if (r == PARSED && optind >= argc)
		r = (tf_cli_usage_error("run", "no command to run"), PARSED_USAGE);
	if (r == PARSED) {
		check_env = &env;
		if (tf_cli_config_check(tf_envlist_get(&env, "TOKENFENCE_CONFIG"), child_getenv,
					err, sizeof(err)) < 0) {
			print_config_error(err, from_flag);
			r = TF_EXIT_CONFIG;
		}
	}
	free(from_flag);
	if (r != PARSED) {
		tf_envlist_free(&env);
		if (r == PARSED_NOMEM)
			tf_cli_err("out of memory");
		return r == PARSED_HELP	   ? TF_EXIT_OK
		       : r == PARSED_USAGE ? TF_EXIT_USAGE
		       : r == PARSED_NOMEM ? TF_EXIT_RUN_ERROR
					   : r;
	}
	if (find_library(lib, sizeof(lib)) < 0) {
		tf_envlist_free(&env);
		return TF_EXIT_RUN_ERROR;
	}
	preload = tf_run_preload(tf_envlist_get(&env, "LD_PRELOAD"), lib);
	if (!preload || tf_envlist_set(&env, "LD_PRELOAD", preload) < 0) {
		free(preload);
		goto nomem;
	}
	free(preload);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		tf_cli_err("no randomness for a workflow id: %s", strerror(errno));
		tf_envlist_free(&env);
		return TF_EXIT_RUN_ERROR;
	}
	tf_run_workflow_id(rnd, workflow);
	snprintf(run_dir, sizeof(run_dir), "%s/tokenfence-run-XXXXXX",
		 tmp && *tmp == '/' ? tmp : "/tmp");
	if (!mkdtemp(run_dir)) {
		tf_cli_err("cannot create a run directory in %s: %s",
			   tmp && *tmp == '/' ? tmp : "/tmp", strerror(errno));
		tf_envlist_free(&env);
		return TF_EXIT_RUN_ERROR;
	}
	if (tf_envlist_set(&env, "TOKENFENCE_WORKFLOW", workflow) < 0 ||
	    tf_envlist_set(&env, "TOKENFENCE_RUN_DIR", run_dir) < 0) {
		remove_run_dir(run_dir);
		goto nomem;
	}
	install_forwarding();
	pid = spawn(argv + optind, env.v);
	tf_envlist_free(&env);
	if (pid < 0) {
		tf_cli_err("cannot run %s: %s", argv[optind], strerror((int)-pid));
		remove_run_dir(run_dir);
		return pid == -ENOENT ? TF_EXIT_NOT_FOUND
		       : (pid == -EACCES || pid == -ENOEXEC || pid == -EISDIR) ? TF_EXIT_CANNOT_EXEC
								      : TF_EXIT_RUN_ERROR;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			tf_cli_err("waiting for %s: %s", argv[optind], strerror(errno));
			status = 0;
			break;
		}
	}
	child_pid = 0;
	if (!quiet)
		print_summary(run_dir, workflow, status);
	remove_run_dir(run_dir);
	return tf_run_exit_code(status);
nomem:
	tf_envlist_free(&env);
	tf_cli_err("out of memory");
	return TF_EXIT_RUN_ERROR;
}
