#include "runenv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- environment lists -------------------------------------------------- */

static int grow(tf_envlist *e)
{
	size_t cap = e->cap ? e->cap * 2 : 64;
	char **v;

	if (e->n + 2 <= e->cap)
		return 0;
	v = realloc(e->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	e->v = v;
	e->cap = cap;
	return 0;
}

int tf_envlist_init(tf_envlist *e, char *const *src)
{
	memset(e, 0, sizeof(*e));
	if (grow(e) < 0)
		return -ENOMEM;
	e->v[0] = NULL;
	for (; src && *src; src++) {
		char *s = strdup(*src);
		if (!s || grow(e) < 0) {
			free(s);
			tf_envlist_free(e);
			return -ENOMEM;
		}
		e->v[e->n++] = s;
		e->v[e->n] = NULL;
	}
	return 0;
}

void tf_envlist_free(tf_envlist *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static ssize_t find(const tf_envlist *e, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], name, len) == 0 && e->v[i][len] == '=')
			return (ssize_t)i;
	return -1;
}

const char *tf_envlist_get(const tf_envlist *e, const char *name)
{
	ssize_t i = find(e, name);

	return i < 0 ? NULL : e->v[i] + strlen(name) + 1;
}

int tf_envlist_set(tf_envlist *e, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = malloc(n);
	ssize_t i = find(e, name);

	if (!s)
		return -ENOMEM;
	snprintf(s, n, "%s=%s", name, value);
	if (i >= 0) {
		free(e->v[i]);
		e->v[i] = s;
		return 0;
	}
	if (grow(e) < 0) {
		free(s);
		return -ENOMEM;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

/* ---- flags -------------------------------------------------------------- */

const tf_run_flag tf_run_flags[] = {
	{ "max-cost", "TOKENFENCE_MAX_COST", "USD", "budget of the whole run (process tree)",
	  TF_FLAG_PLAIN },
	{ "max-cost-per-request", "TOKENFENCE_MAX_COST_PER_REQUEST", "USD",
	  "cap on any single call's worst case", TF_FLAG_PLAIN },
	{ "max-requests", "TOKENFENCE_MAX_REQUESTS", "N", "requests forwarded before the kill switch",
	  TF_FLAG_PLAIN },
	{ "warn-at", "TOKENFENCE_WARN_AT", "FRACTION", "warn once spend reaches this share (0.75)",
	  TF_FLAG_PLAIN },
	{ "downgrade-at", "TOKENFENCE_DOWNGRADE_AT", "FRACTION",
	  "start downgrading models at this share", TF_FLAG_PLAIN },
	{ "downgrade", "TOKENFENCE_DOWNGRADE", "FROM=TO[,...]",
	  "cheaper model to use instead (repeatable)", TF_FLAG_LIST },
	{ "scope", "TOKENFENCE_SCOPE", "NAME", "budget scope (department) the run belongs to",
	  TF_FLAG_PLAIN },
	{ "config", "TOKENFENCE_CONFIG", "FILE", "JSON configuration file", TF_FLAG_PATH },
	{ "ledger", "TOKENFENCE_LEDGER", "PATH|redis://HOST:PORT/DB",
	  "where budgets are kept and shared", TF_FLAG_LEDGER },
	{ "hosts", "TOKENFENCE_HOSTS", "HOST[:PORT]=PROVIDER[,...]",
	  "extra guarded hosts: bedrock|azure|none (repeatable)", TF_FLAG_LIST },
	{ "events", "TOKENFENCE_EVENTS", "FILE", "append JSONL events (one per call) here",
	  TF_FLAG_PATH },
	{ "log", "TOKENFENCE_LOG", "stderr|off|FILE", "where the shim logs", TF_FLAG_LOG },
	{ "approval-timeout", "TOKENFENCE_APPROVAL_TIMEOUT", "SECONDS",
	  "how long a call waits for a human (default 300)", TF_FLAG_PLAIN },
	{ "fail-mode", "TOKENFENCE_FAIL_MODE", "open|closed",
	  "when the budget cannot be checked: allow (open) or refuse (closed)", TF_FLAG_PLAIN },
	{ "socket-dir", "TOKENFENCE_SOCKET_DIR", "DIR", "control socket directory", TF_FLAG_PATH },
};
const size_t tf_run_nflags = sizeof(tf_run_flags) / sizeof(tf_run_flags[0]);

const tf_run_flag *tf_run_flag_find(const char *flag)
{
	for (size_t i = 0; i < tf_run_nflags; i++)
		if (strcmp(tf_run_flags[i].flag, flag) == 0)
			return &tf_run_flags[i];
	return NULL;
}

const tf_run_flag *tf_run_flag_by_var(const char *var)
{
	for (size_t i = 0; i < tf_run_nflags; i++)
		if (strcmp(tf_run_flags[i].var, var) == 0)
			return &tf_run_flags[i];
	return NULL;
}

static char *joined(const char *a, const char *sep, const char *b)
{
	size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s%s", a, sep, b);
	return s;
}

static char *absolute(const char *path, const char *cwd)
{
	if (path[0] == '/' || !cwd)
		return strdup(path);
	return joined(cwd, strcmp(cwd, "/") == 0 ? "" : "/", path);
}

char *tf_run_flag_value(const tf_run_flag *f, const char *prev, const char *arg, const char *cwd)
{
	char *s;

	if (!arg || !*arg) {
		errno = EINVAL;
		return NULL;
	}
	switch (f->kind) {
	case TF_FLAG_LIST:
		s = prev ? joined(prev, ",", arg) : strdup(arg);
		break;
	case TF_FLAG_PATH:
		s = absolute(arg, cwd);
		break;
	case TF_FLAG_LOG:
		s = strcmp(arg, "stderr") == 0 || strcmp(arg, "off") == 0 ? strdup(arg)
									  : absolute(arg, cwd);
		break;
	case TF_FLAG_LEDGER:
		s = strncmp(arg, "redis://", 8) == 0 ? strdup(arg) : absolute(arg, cwd);
		break;
	default:
		s = strdup(arg);
		break;
	}
	if (!s)
		errno = ENOMEM;
	return s;
}

/* ---- LD_PRELOAD --------------------------------------------------------- */

static bool has_entry(const char *list, const char *lib)
{
	size_t n = strlen(lib);

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ": ");
		if (len == n && memcmp(p, lib, n) == 0)
			return true;
		p += len;
		p += strspn(p, ": ");
	}
	return false;
}

char *tf_run_preload(const char *existing, const char *lib)
{
	size_t len;

	if (!existing || existing[strspn(existing, ": ")] == '\0')
		return strdup(lib);
	if (has_entry(existing, lib))
		return strdup(existing);
	len = strlen(existing);
	while (len && (existing[len - 1] == ' ' || existing[len - 1] == ':'))
		len--;
	{
		char *s = malloc(len + strlen(lib) + 2);
		if (!s)
			return NULL;
		memcpy(s, existing, len);
		s[len] = ':';
		strcpy(s + len + 1, lib);
		return s;
	}
}

/* ---- identity, library, exit status ------------------------------------ */

void tf_run_workflow_id(const uint8_t rnd[8], char *out)
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "wf-", 3);
	for (int i = 0; i < 8; i++) {
		out[3 + 2 * i] = hex[rnd[i] >> 4];
		out[4 + 2 * i] = hex[rnd[i] & 15];
	}
	out[19] = '\0';
}

size_t tf_run_library_candidates(const char *exe_path, const char *libdir, char (*out)[4096],
				 size_t max)
{
	const char *rel[] = { "shim", NULL, NULL, "lib/tokenfence", "lib" };
	char dir[4096], a[4096], b[4096];
	const char *slash = strrchr(exe_path, '/');
	size_t n = 0, dlen;

	if (!slash)
		return 0;
	dlen = (size_t)(slash - exe_path);
	if (dlen >= sizeof(dir))
		return 0;
	memcpy(dir, exe_path, dlen);
	dir[dlen] = '\0';
	snprintf(a, sizeof(a), "%s/tokenfence", libdir && *libdir ? libdir : "lib");
	snprintf(b, sizeof(b), "%s", libdir && *libdir ? libdir : "lib");
	rel[1] = a;
	rel[2] = b;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]) && n < max; i++) {
		char cand[4096];
		bool dup = false;
		int w = snprintf(cand, sizeof(cand), "%s/../%s/libtokenfence.so", dir, rel[i]);
		if (w < 0 || (size_t)w >= sizeof(cand))
			continue;
		for (size_t j = 0; j < n; j++)
			dup = dup || strcmp(out[j], cand) == 0;
		if (!dup)
			memcpy(out[n++], cand, (size_t)w + 1);
	}
	return n;
}

int tf_run_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return 1;
}

void tf_run_describe_status(int wait_status, char *out, size_t outlen)
{
	if (WIFEXITED(wait_status))
		snprintf(out, outlen, "exited with status %d", WEXITSTATUS(wait_status));
	else if (WIFSIGNALED(wait_status))
		snprintf(out, outlen, "was killed by signal %d (%s)%s", WTERMSIG(wait_status),
			 strsignal(WTERMSIG(wait_status)),
			 WCOREDUMP(wait_status) ? ", core dumped" : "");
	else
		snprintf(out, outlen, "ended with wait status 0x%x", (unsigned)wait_status);
}
