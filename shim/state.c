#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "approvals.h"
#include "control.h"
#include "enforce.h"
#include "events.h"
#include "log.h"
#include "budget.h"
#include "resolve.h"
#include "totals.h"

__thread int tf_crit __attribute__((tls_model("initial-exec")));
__thread int tf_nactive __attribute__((tls_model("initial-exec")));
__thread struct tf_active_hook tf_active[TF_HOOK_NEST] __attribute__((tls_model("initial-exec")));

struct counters {
	uint64_t write_calls, write_bytes, read_calls, read_bytes;
	uint64_t conns_guarded, conns_unguarded, requests;
};

static struct {
	bool inert;
	bool enforced;
	pid_t pid;
	tf_config cfg;
	tf_prices prices;
	tf_awscreds creds;
	const char *stats_path;
	char workflow[80];
	char scope[160];
	struct counters n;
} st;

static pthread_once_t ready_once = PTHREAD_ONCE_INIT;
static pthread_once_t construct_once = PTHREAD_ONCE_INIT;
static void construct(void);

static void count(uint64_t *c, uint64_t v)
{
	__atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

void tf_state_count_write(size_t bytes)
{
	count(&st.n.write_calls, 1);
	count(&st.n.write_bytes, bytes);
}

void tf_state_count_read(size_t bytes)
{
	count(&st.n.read_calls, 1);
	count(&st.n.read_bytes, bytes);
}

void tf_state_count_conn(bool guarded)
{
	count(guarded ? &st.n.conns_guarded : &st.n.conns_unguarded, 1);
}

void tf_state_note_request(tf_conn *c, const tf_h1_head *h, const uint8_t *raw, size_t len)
{
	count(&st.n.requests, 1);
	tf_log(TF_LOG_DEBUG, "%s request %.*s (%zu bytes) to %s", tf_provider_name(c->provider),
	       (int)h->method_len, h->method, len, c->host);
}

bool tf_state_inert(void)
{
	return st.inert;
}

const tf_hosts *tf_state_hosts(void)
{
	return &st.cfg.hosts;
}

bool tf_state_may_guard_without_sni(void)
{
	return st.cfg.hosts.n > 0;
}

const tf_config *tf_state_config(void)
{
	return &st.cfg;
}

const tf_prices *tf_state_prices(void)
{
	return &st.prices;
}

const char *tf_state_scope_name(void)
{
	return st.scope;
}

const char *tf_state_workflow(void)
{
	return st.workflow;
}

const tf_awscreds *tf_state_awscreds(void)
{
	return &st.creds;
}

/*
 * The connection table is locked across fork so the child gets it whole.
 * The resolver is not: its tables are published atomically and are always
 * consistent for readers, and a hook first called from a signal handler
 * inside fork() must still be able to resolve (it then passes through,
 * because the thread is marked as inside a critical section).
 */
static void atfork_prepare(void)
{
	TF_CRIT_BEGIN();
	tf_conns_lock_all();
}

static void atfork_parent(void)
{
	tf_conns_unlock_all();
	TF_CRIT_END();
}

/* The child is a new process: its counters start at zero. */
static void atfork_child(void)
{
	tf_conns_child_reset();
	tf_resolve_child_reset();
	tf_control_child_reset();
	tf_approvals_child_reset();
	tf_totals_child_reset();
	tf_enforce_child_reset();
	st.pid = getpid();
	memset(&st.n, 0, sizeof(st.n));
	TF_CRIT_END();
}

/* ---- control socket commands ---- */

static int cmd_status(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	tf_totals_status(req, out, err, errlen);
	tf_enforce_put_status(out);
	return 0;
}

static const char *req_scope(const tf_json_value *req)
{
	const tf_json_value *s = req ? tf_json_get(req, "scope") : NULL;

	return s && s->type == TF_JSON_STRING ? s->u.str.s : NULL;
}

static int cmd_kill(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	int r = tf_enforce_kill(req_scope(req), true, err, errlen);

	if (r == 0) {
		tf_json_put_key(out, "scope");
		tf_json_put_cstr(out, req_scope(req) ? req_scope(req) : tf_enforce_workflow());
		tf_log(TF_LOG_WARN, "kill switch tripped for scope %s",
		       req_scope(req) ? req_scope(req) : tf_enforce_workflow());
	}
	return r;
}

static int cmd_resume(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	int r = tf_enforce_kill(req_scope(req), false, err, errlen);

	if (r == 0) {
		tf_json_put_key(out, "scope");
		tf_json_put_cstr(out, req_scope(req) ? req_scope(req) : tf_enforce_workflow());
	}
	return r;
}

static void init_once(void)
{
	char err[512];

	if (tf_prices_init(&st.prices, err, sizeof(err)) < 0 ||
	    tf_config_apply_prices(&st.cfg, &st.prices) < 0)
		tf_log(TF_LOG_ERROR, "price table: %s", err);
	tf_events_setup(secure_getenv("TOKENFENCE_EVENTS"), secure_getenv("TOKENFENCE_RUN_DIR"));
	if (tf_awscreds_load(&st.creds) < 0)
		tf_log(TF_LOG_DEBUG, "no static AWS credentials: SigV4 requests cannot be re-signed");
	tf_totals_set_identity(st.enforced, st.workflow, st.scope);
	tf_enforce_init();
	tf_control_register("status", cmd_status);
	tf_control_register("kill", cmd_kill);
	tf_control_register("resume", cmd_resume);
	tf_approvals_init();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void tf_state_ready(void)
{
	pthread_once(&construct_once, construct);
	pthread_once(&ready_once, init_once);
}

/* Invalid TokenFence settings stop the program before it runs unguarded.
 * The message is one line that already names the file and line, or the
 * variable. Exit status 3, as the CLI's for a config error. */
static void refuse_to_start(const char *what)
{
	char line[700];
	int n = snprintf(line, sizeof(line), "%s\n", what);

	(void)!write(2, line, n > 0 ? (size_t)n : 0);
	_exit(3);
}

static const char *env(const char *name)
{
	return secure_getenv(name);
}

/* Reads the config file, if any, whole; NULL with a message on failure. */
static char *read_config_file(const char *path, size_t *len, char *err, size_t errlen)
{
	char *text = NULL;
	size_t n = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "tokenfence: %s: cannot read the config file: %s", path,
			 strerror(errno));
		return NULL;
	}
	text = malloc(TF_CONFIG_MAX_SIZE + 1);
	while (text && n <= TF_CONFIG_MAX_SIZE &&
	       (r = read(fd, text + n, TF_CONFIG_MAX_SIZE + 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (!text || n > TF_CONFIG_MAX_SIZE) {
		snprintf(err, errlen, "tokenfence: %s: config file too large (over %zu bytes)", path,
			 TF_CONFIG_MAX_SIZE);
		free(text);
		return NULL;
	}
	*len = n;
	return text;
}

/*
 * The workflow is the process tree sharing one budget. `tokenfence run`
 * names it; otherwise the first preloaded process of a tree names it after
 * itself and exports the name, so that its children (which inherit the
 * environment and the preload) join it. This runs in the constructor,
 * before the host has threads, the one moment setenv is safe (P9).
 */
static void join_workflow(void)
{
	const char *w = secure_getenv("TOKENFENCE_WORKFLOW");
	char pid[24], msg[200];

	if (w && *w) {
		if (!tf_scope_name_valid(w)) {
			snprintf(msg, sizeof(msg), "tokenfence: TOKENFENCE_WORKFLOW=\"%.64s\": not a valid "
				 "scope name (1-64 of A-Z a-z 0-9 _ . : @ / -)", w);
			refuse_to_start(msg);
		}
		snprintf(st.workflow, sizeof(st.workflow), "%s", w);
		return;
	}
	snprintf(st.workflow, sizeof(st.workflow), "wf-%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("TOKENFENCE_WORKFLOW", st.workflow, 0);
	setenv("TOKENFENCE_WORKFLOW_PID", pid, 0);
}

/* Settings come from the environment and TOKENFENCE_CONFIG; an invalid
 * one stops the program here, before it can run unguarded. */
static void read_environment(void)
{
	const char *dbg = secure_getenv("TOKENFENCE_DEBUG");
	const char *path = secure_getenv("TOKENFENCE_CONFIG");
	char err[600];
	char *text = NULL;
	size_t len = 0;

	tf_log_setup(secure_getenv("TOKENFENCE_LOG"), dbg && *dbg && strcmp(dbg, "0") != 0);
	st.stats_path = secure_getenv("TOKENFENCE_STATS");
	join_workflow();
	if (path && *path && !(text = read_config_file(path, &len, err, sizeof(err))))
		refuse_to_start(err);
	if (tf_config_load(&st.cfg, path && *path ? path : NULL, text, len, env, err, sizeof(err)) < 0)
		refuse_to_start(err);
	free(text);
	snprintf(st.scope, sizeof(st.scope), "%s", st.cfg.scope ? st.cfg.scope : st.workflow);
}

static void construct(void)
{
	char exe[256];

	st.pid = getpid();
	st.enforced = true;
	if (getauxval(AT_SECURE)) {
		st.inert = true;
		return;
	}
	read_environment();
	if (tf_resolve_tls_is_static(exe, sizeof(exe))) {
		st.enforced = false;
		tf_log(TF_LOG_WARN, "%s has its own TLS library linked in; TokenFence cannot see "
		       "its TLS traffic here (enforced: false)", exe);
	}
}

/* Another library's constructor may do TLS before ours runs (P6): the first
 * hook then does this work itself, once. */
__attribute__((constructor)) static void tf_state_constructor(void)
{
	pthread_once(&construct_once, construct);
}

static void write_stats(void)
{
	char line[512];
	int fd, n;

	n = snprintf(line, sizeof(line),
		     "{\"pid\":%d,\"enforced\":%s,\"ssl_write_calls\":%llu,\"ssl_write_bytes\":%llu,"
		     "\"ssl_read_calls\":%llu,\"ssl_read_bytes\":%llu,\"conns_guarded\":%llu,"
		     "\"conns_unguarded\":%llu,\"requests\":%llu}\n",
		     (int)getpid(), st.enforced ? "true" : "false",
		     (unsigned long long)st.n.write_calls, (unsigned long long)st.n.write_bytes,
		     (unsigned long long)st.n.read_calls, (unsigned long long)st.n.read_bytes,
		     (unsigned long long)st.n.conns_guarded, (unsigned long long)st.n.conns_unguarded,
		     (unsigned long long)st.n.requests);
	fd = open(st.stats_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	(void)!write(fd, line, n > 0 ? (size_t)n : 0);
	close(fd);
}

__attribute__((destructor)) static void tf_state_destructor(void)
{
	if (!st.inert && st.stats_path && *st.stats_path)
		write_stats();
}
