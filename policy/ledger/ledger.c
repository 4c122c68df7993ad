#include "ledger/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t tf_ledger_now(tf_ledger_clock clock, void *ctx)
{
	return clock ? clock(ctx) : (int64_t)time(NULL);
}

int tf_ledger_fd_high(int fd)
{
	int high;

	if (fd < 0 || fd >= TF_LEDGER_FD_MIN)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, TF_LEDGER_FD_MIN);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

int tf_ledger_default_dir(char *out, size_t outlen, char *err, size_t errlen)
{
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(out, outlen, "%s/tokenfence", xdg);
	else
		n = snprintf(out, outlen, "/tmp/tokenfence-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= outlen) {
		if (err)
			snprintf(err, errlen, "ledger directory path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		if (err)
			snprintf(err, errlen, "cannot create %s: %s", out, strerror(-r));
		return r;
	}
	/* In /tmp anyone may have made it first: it must be ours and private. */
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077)) {
		if (err)
			snprintf(err, errlen,
				 "%s must be a directory owned by uid %u with mode 0700; refusing it",
				 out, (unsigned)geteuid());
		return -EACCES;
	}
	return 0;
}

int tf_ledger_open(const tf_ledger_opts *o, tf_ledger **out, char *err, size_t errlen)
{
	const char *spec = o ? o->spec : NULL;

	if (err && errlen)
		err[0] = 0;
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (spec && strncmp(spec, "redis://", 8) == 0)
		return tf_redis_ledger_open(spec, o, out, err, errlen);
	if (spec && strstr(spec, "://")) {
		if (err)
			snprintf(err, errlen, "unsupported ledger '%s' (a file path or redis://host:port/db)",
				 spec);
		return -EINVAL;
	}
	return tf_file_ledger_open(spec, o, 0, out, err, errlen);
}

void tf_ledger_close(tf_ledger *l)
{
	if (l)
		l->ops->close(l);
}

void tf_ledger_atfork_child(tf_ledger *l)
{
	if (l)
		l->ops->atfork_child(l);
}

int tf_ledger_reserve(tf_ledger *l, const tf_scope_def *chain, size_t n, tf_money worst,
		      unsigned flags, tf_ledger_res *res, tf_budget_denial *why)
{
	if (!l || !chain || !res)
		return -EINVAL;
	return l->ops->reserve(l, chain, n, worst, flags, res, why);
}

int tf_ledger_settle(tf_ledger *l, const tf_ledger_res *res, tf_money actual, unsigned flags,
		     tf_budget_events *ev)
{
	if (!l || !res || actual < 0)
		return -EINVAL;
	if (ev)
		ev->n = 0;
	return l->ops->settle(l, res, actual, flags, ev);
}

int tf_ledger_release(tf_ledger *l, const tf_ledger_res *res)
{
	if (!l || !res)
		return -EINVAL;
	return l->ops->release(l, res);
}

int tf_ledger_totals(tf_ledger *l, const char *scope, tf_scope_state *out)
{
	if (!l || !scope || !out)
		return -EINVAL;
	return l->ops->totals(l, scope, out);
}

int tf_ledger_list(tf_ledger *l, tf_scope_state *out, size_t cap)
{
	if (!l || (!out && cap))
		return -EINVAL;
	return l->ops->list(l, out, cap);
}

int tf_ledger_kill(tf_ledger *l, const char *scope)
{
	if (!l || !scope)
		return -EINVAL;
	return l->ops->kill(l, scope, 1);
}

int tf_ledger_resume(tf_ledger *l, const char *scope)
{
	if (!l || !scope)
		return -EINVAL;
	return l->ops->kill(l, scope, 0);
}

int tf_ledger_sync(tf_ledger *l)
{
	if (!l)
		return -EINVAL;
	return l->ops->sync(l);
}

int tf_ledger_info_get(tf_ledger *l, tf_ledger_info *out)
{
	if (!l || !out)
		return -EINVAL;
	return l->ops->info(l, out);
}

const char *tf_ledger_strerror(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case TF_LEDGER_DENIED:
		return "budget exceeded";
	case TF_LEDGER_QUEUED:
		return "queued for delivery (Redis unreachable)";
	case -EINVAL:
		return "invalid argument";
	case -ENOENT:
		return "no such scope or reservation";
	case -ENOSPC:
		return "ledger table full";
	case -EPROTO:
		return "unsupported ledger format version";
	case -EBADMSG:
		return "not a TokenFence ledger, or corrupt";
	case -EACCES:
		return "unsafe ledger owner or permissions";
	case -ETIMEDOUT:
		return "ledger timed out";
	case -ENOTCONN:
		return "Redis unreachable";
	case -ENOTRECOVERABLE:
		return "ledger lock not recoverable";
	case -EDEADLK:
		return "ledger re-entered while locked by this thread";
	case -ENOMEM:
		return "out of memory";
	case -ERANGE:
		return "settled amount exceeds the reservation";
	}
	return code < 0 ? "system error" : "unknown";
}
