/* Per-thread re-entry guards of the hooks; see the comment below. */
#ifndef TF_REENTRY_H
#define TF_REENTRY_H

#include <stdbool.h>

/*
 * Re-entry, per thread. A hook does its work only if the same SSL* is not
 * already inside a hook *of the same direction* on this thread (libssl
 * calling its own SSL_write_ex from SSL_write, or SSL_read_ex from
 * SSL_read), and the thread is not inside one of our critical sections (a
 * signal handler doing TLS while we hold a lock; a hook reached from inside
 * fork() while our atfork handlers hold the locks). Everything else is
 * processed normally even from inside a hook: node completes a handshake
 * inside SSL_read and runs JavaScript there that writes the request, on
 * that connection or another, and those writes must be guarded too.
 * initial-exec TLS so that the access never calls __tls_get_addr, which
 * may allocate (P5).
 */
#define TF_HOOK_NEST 6

typedef enum tf_hook_dir { TF_DIR_WRITE = 1, TF_DIR_READ = 2, TF_DIR_LIFE = 3 } tf_hook_dir;

struct tf_active_hook {
	const void *ssl;
	int dir;
};

extern __thread int tf_crit __attribute__((tls_model("initial-exec")));
extern __thread int tf_nactive __attribute__((tls_model("initial-exec")));
extern __thread struct tf_active_hook tf_active[TF_HOOK_NEST]
	__attribute__((tls_model("initial-exec")));

/* SSL_free/SSL_clear (TF_DIR_LIFE) conflict with any hook on that SSL*. */
static inline bool tf_hook_enter(const void *ssl, tf_hook_dir dir)
{
	if (tf_crit || tf_nactive == TF_HOOK_NEST)
		return false;
	for (int i = 0; i < tf_nactive; i++)
		if (tf_active[i].ssl == ssl &&
		    (tf_active[i].dir == (int)dir || dir == TF_DIR_LIFE || tf_active[i].dir == TF_DIR_LIFE))
			return false;
	tf_active[tf_nactive].ssl = ssl;
	tf_active[tf_nactive].dir = dir;
	tf_nactive++;
	return true;
}

static inline void tf_hook_leave(void)
{
	tf_nactive--;
}

/* Brackets a section that holds one of our process-wide locks. */
#define TF_CRIT_BEGIN() (tf_crit++)
#define TF_CRIT_END() (tf_crit--)

#endif
