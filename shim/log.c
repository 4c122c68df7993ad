#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Above the range hosts usually dup2 over; see STYLE.md P14. */
#define TF_LOG_FD_MIN 200

static int log_fd = 2;
static int log_debug;

void tf_log_setup(const char *spec, int debug)
{
	log_debug = debug;
	if (!spec || !*spec || strcmp(spec, "stderr") == 0) {
		log_fd = 2;
	} else if (strcmp(spec, "off") == 0) {
		log_fd = -1;
	} else {
		int fd = open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			int high = fcntl(fd, F_DUPFD_CLOEXEC, TF_LOG_FD_MIN);
			if (high >= 0) {
				close(fd);
				fd = high;
			}
		}
		log_fd = fd >= 0 ? fd : 2;
	}
}

int tf_log_debug_enabled(void)
{
	return log_debug;
}

/* The attribute lets clang's -Wformat-nonliteral see fmt is checked at the callers. */
__attribute__((format(printf, 2, 0)))
static void vlog(tf_log_level lvl, const char *fmt, va_list ap)
{
	static const char *const names[] = { "debug", "info", "warning", "error" };
	char line[1024];
	int saved = errno, n, m;

	if (log_fd < 0 || (lvl == TF_LOG_DEBUG && !log_debug))
		return;
	n = snprintf(line, sizeof(line), "tokenfence[%d]: %s: ", (int)getpid(), names[lvl]);
	if (n < 0)
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, (size_t)n) < 0 && log_fd != 2)
		(void)!write(2, line, (size_t)n);
	errno = saved;
}

void tf_log(tf_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

void tf_log_once(int *flag, tf_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(flag, 1, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}
