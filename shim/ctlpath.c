#include "ctlpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "/<pid>.sock" with the longest pid (2^22 today, up to 10 digits). */
#define SOCK_NAME_MAX (1 + 10 + 5)
/* Clocks differ (boot time vs wall clock) and /proc rounds to ticks. */
#define STALE_SLACK_MS 2000

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t whylen,
						    const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int tf_ctlpath_dir(tf_ctlpath_getenv_fn getenv_fn, uid_t uid, char *out, size_t outlen,
		   char *why, size_t whylen)
{
	const char *v = getenv_fn ? getenv_fn("TOKENFENCE_SOCKET_DIR") : NULL;
	const char *var = "TOKENFENCE_SOCKET_DIR";
	int n;

	if (v && *v) {
		n = snprintf(out, outlen, "%s", v);
	} else {
		v = getenv_fn ? getenv_fn("XDG_RUNTIME_DIR") : NULL;
		var = "XDG_RUNTIME_DIR";
		if (v && *v)
			n = snprintf(out, outlen, "%s/tokenfence", v);
		else
			n = snprintf(out, outlen, "/tmp/tokenfence-%u", (unsigned)uid);
	}
	if (n < 0 || (size_t)n >= outlen) {
		say(why, whylen, "%s: path too long", var);
		return -ENAMETOOLONG;
	}
	if (out[0] != '/') {
		say(why, whylen, "%s: not an absolute path", var);
		return -EINVAL;
	}
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if ((size_t)n + SOCK_NAME_MAX >= TF_CTLPATH_SUN_MAX) {
		say(why, whylen, "%s: path too long for a Unix socket (108 bytes with the name)",
		    var);
		return -ENAMETOOLONG;
	}
	return n;
}

int tf_ctlpath_socket(const char *dir, pid_t pid, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%ld.sock", dir, (long)pid);

	if (n < 0 || (size_t)n >= outlen || n >= TF_CTLPATH_SUN_MAX)
		return -ENAMETOOLONG;
	return n;
}

pid_t tf_ctlpath_pid(const char *name)
{
	long v = 0;
	size_t i = 0;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	for (; name[i] >= '0' && name[i] <= '9'; i++) {
		v = v * 10 + (name[i] - '0');
		if (v > 0x7fffffffL)
			return 0;
	}
	return strcmp(name + i, ".sock") == 0 ? (pid_t)v : 0;
}

int tf_ctlpath_check_dir(const struct stat *st, uid_t uid, char *why, size_t whylen)
{
	if (!S_ISDIR(st->st_mode)) {
		say(why, whylen, "%s", "not a directory (or a symbolic link)");
		return -ENOTDIR;
	}
	if (st->st_uid != uid) {
		say(why, whylen, "owned by uid %u, not by us", (unsigned)st->st_uid);
		return -EPERM;
	}
	if (st->st_mode & 077) {
		say(why, whylen, "mode %04o is open to others (want 0700)",
		    (unsigned)(st->st_mode & 07777));
		return -EACCES;
	}
	return 0;
}

static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int64_t tf_ctlpath_process_age_ms(pid_t pid)
{
	char path[64], stat[1024], up[128], *p, *end;
	unsigned long long start_ticks;
	long hz = sysconf(_SC_CLK_TCK);
	double uptime_s;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (hz <= 0 || read_small(path, stat, sizeof(stat)) <= 0 ||
	    read_small("/proc/uptime", up, sizeof(up)) <= 0)
		return -1;
	/* The command name may hold spaces and ')': fields restart after the last ')'. */
	p = strrchr(stat, ')');
	if (!p)
		return -1;
	p++;
	/* Fields 3..21 come before starttime (field 22). */
	for (int f = 3; f <= 21; f++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
	}
	errno = 0;
	start_ticks = strtoull(p, &end, 10);
	if (end == p || errno)
		return -1;
	uptime_s = strtod(up, &end);
	if (end == up)
		return -1;
	return (int64_t)(uptime_s * 1000.0) - (int64_t)(start_ticks * 1000ull / (unsigned long)hz);
}

bool tf_ctlpath_stale(bool alive, int64_t age_ms, int64_t file_age_ms)
{
	if (!alive)
		return true;
	if (age_ms < 0 || file_age_ms < 0)
		return false;
	return age_ms + STALE_SLACK_MS < file_age_ms;
}
