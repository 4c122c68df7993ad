/*
 * `tokenfence run`, the pure part: how its flags become TOKENFENCE_*
 * variables, how the library joins LD_PRELOAD, where the library is looked
 * for, and how the child's wait status becomes our exit status. No I/O
 * here (the caller passes the working directory and executable path).
 */
#ifndef TF_CLI_RUNENV_H
#define TF_CLI_RUNENV_H

#include <stddef.h>
#include <stdint.h>

/* An environment under construction: "NAME=value" strings we own. */
typedef struct tf_envlist {
	char **v; /* NULL-terminated when n > 0 */
	size_t n, cap;
} tf_envlist;

/* Copies src (an environ-style array, may be NULL). 0 or -ENOMEM. */
int tf_envlist_init(tf_envlist *e, char *const *src);
void tf_envlist_free(tf_envlist *e);
/* Sets (replacing in place, or appending) name=value. 0 or -ENOMEM. */
int tf_envlist_set(tf_envlist *e, const char *name, const char *value);
/* The value of name, or NULL. */
const char *tf_envlist_get(const tf_envlist *e, const char *name);

/* How a flag's argument is turned into the variable's value. */
typedef enum tf_flag_kind {
	TF_FLAG_PLAIN, /* as given */
	TF_FLAG_LIST,  /* repeated flags are joined with ',' */
	TF_FLAG_PATH,  /* made absolute: the child may change directory */
	TF_FLAG_LOG,   /* "stderr" and "off" as given, else a path */
	TF_FLAG_LEDGER /* "redis://…" as given, else a path */
} tf_flag_kind;

typedef struct tf_run_flag {
	const char *flag; /* long option name, without "--" */
	const char *var;  /* TOKENFENCE_* variable it sets */
	const char *arg;  /* argument name for --help */
	const char *help;
	tf_flag_kind kind;
} tf_run_flag;

extern const tf_run_flag tf_run_flags[];
extern const size_t tf_run_nflags;

/* The flag of that name (without "--"), or NULL. */
const tf_run_flag *tf_run_flag_find(const char *flag);
/* The flag that sets variable var, or NULL. */
const tf_run_flag *tf_run_flag_by_var(const char *var);

/*
 * The variable's new value for flag f given arg: prev is the value an
 * earlier occurrence of the same flag produced (NULL if none; only LIST
 * flags use it), cwd the directory relative paths are taken from.
 * Returns a malloc'd string, or NULL on -ENOMEM / -EINVAL (empty arg; errno
 * is set).
 */
char *tf_run_flag_value(const tf_run_flag *f, const char *prev, const char *arg, const char *cwd);

/*
 * LD_PRELOAD with lib added last: the existing entries (separated by
 * spaces or colons, as ld.so reads them) stay first in their order, since
 * sanitizer runtimes must come first; lib is not added twice. malloc'd,
 * NULL on ENOMEM.
 */
char *tf_run_preload(const char *existing, const char *lib);

/* "wf-" and 16 hex digits from 8 random bytes; out holds >= 20 bytes. */
void tf_run_workflow_id(const uint8_t rnd[8], char *out);

/*
 * Where libtokenfence.so may be, beside the executable at exe_path (in
 * this order): the build tree (<dir>/../shim/), then installed layouts
 * (<dir>/../<libdir>/tokenfence/, <dir>/../<libdir>/, <dir>/../lib/tokenfence/,
 * <dir>/../lib/), libdir being the configured one (e.g.
 * lib/x86_64-linux-gnu). Writes up to max paths of PATH_MAX into out;
 * returns how many (duplicates dropped).
 */
size_t tf_run_library_candidates(const char *exe_path, const char *libdir, char (*out)[4096],
				 size_t max);

/* Our exit status for the child's wait status: its code, or 128+signal. */
int tf_run_exit_code(int wait_status);

/* "exited with status 7", "was killed by signal 9 (Killed)". */
void tf_run_describe_status(int wait_status, char *out, size_t outlen);

#endif
