/*
 * The exported SSL_* symbols and nothing else (see libtokenfence.map).
 *
 * Each hook finds the real function for its caller, passes straight through
 * when the shim is inert or the call re-enters (state.h: tf_hook_enter),
 * and otherwise routes the call by the connection's class: unguarded connections cost one table lookup; tracked
 * ones go through shim/flow.c. A failure inside the shim never becomes an
 * error for the application: it degrades to pass-through.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "control.h"
#include "flow.h"
#include "resolve.h"
#include "state.h"

#define TF_HOOK __attribute__((visibility("default")))
#define CALLER() __builtin_return_address(0)

static int peer_port(const tf_ssl_api *api, SSL *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = api->get_fd ? api->get_fd(s) : -1;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* OpenSSL lets a retried write come from a moved buffer only in this mode;
 * our own flush may have to retry from a buffer the app never saw. */
static void allow_moving_buffer(const tf_ssl_api *api, SSL *s)
{
	if (api->ctrl)
		api->ctrl(s, SSL_CTRL_MODE, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
}

static void unguarded(SSL *s)
{
	if (tf_conns_set_unguarded(s) == 0)
		tf_state_count_conn(false);
}

/*
 * First sight of a connection. Client connections to a guarded SNI are
 * guarded; without SNI (an IP URL) the Host header decides, which needs the
 * first request head, unless no host rule could ever match it. Server-side
 * SSL objects are never ours to police.
 */
static tf_conn *classify(const tf_ssl_api *api, SSL *s, bool writing)
{
	const char *sni;
	tf_provider p;
	tf_conn *c;

	tf_state_ready();
	if (api->is_server && api->is_server(s)) {
		unguarded(s);
		return NULL;
	}
	sni = api->get_servername ? api->get_servername(s, TLSEXT_NAMETYPE_host_name) : NULL;
	if (sni && *sni) {
		int port = peer_port(api, s);

		p = tf_hosts_classify(tf_state_hosts(), sni, strlen(sni), port);
		if (p == TF_PROVIDER_NONE) {
			unguarded(s);
			return NULL;
		}
		c = tf_conns_track(s, api, TF_MODE_GUARD, p, sni, port);
		if (c) {
			tf_state_count_conn(true);
			allow_moving_buffer(api, s);
			tf_control_start();
		}
		return c;
	}
	if (!writing)
		return NULL;
	if (!tf_state_may_guard_without_sni()) {
		unguarded(s);
		return NULL;
	}
	c = tf_conns_track(s, api, TF_MODE_CLASSIFY, TF_PROVIDER_NONE, NULL, -1);
	if (c)
		allow_moving_buffer(api, s);
	return c;
}

static tf_conn *tracked(const tf_ssl_api *api, SSL *s, bool writing)
{
	tf_conn *c = NULL;

	switch (tf_conns_get(s, &c)) {
	case TF_CONN_UNGUARDED:
		return NULL;
	case TF_CONN_TRACKED:
		return c;
	case TF_CONN_ABSENT:
		break;
	}
	return classify(api, s, writing);
}

/* ---- writes ---- */

typedef int (*real_write_fn)(const tf_ssl_api *, SSL *, const void *, size_t, size_t *);

static int write_tracked(const tf_ssl_api *api, SSL *s, const void *buf, size_t num, size_t *done,
			 real_write_fn real)
{
	tf_conn *c = tracked(api, s, true);
	int ok = c ? tf_flow_write(c, buf, num, done) : real(api, s, buf, num, done);

	if (ok)
		tf_state_count_write(*done);
	if (c)
		tf_conn_put(c);
	return ok;
}

static int real_write_int(const tf_ssl_api *api, SSL *s, const void *buf, size_t n, size_t *done)
{
	int r = api->write(s, buf, (int)n);

	if (r <= 0)
		return 0;
	*done = (size_t)r;
	return 1;
}

static int real_write_ex(const tf_ssl_api *api, SSL *s, const void *buf, size_t n, size_t *done)
{
	return api->write_ex(s, buf, n, done);
}

static bool enter(const SSL *s, tf_hook_dir dir)
{
	return !tf_state_inert() && tf_hook_enter(s, dir);
}

TF_HOOK int SSL_write(SSL *s, const void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t done = 0;
	int ok;

	if (!api)
		return -1;
	if (num <= 0 || !enter(s, TF_DIR_WRITE))
		return api->write(s, buf, num);
	ok = write_tracked(api, s, buf, (size_t)num, &done, real_write_int);
	tf_hook_leave();
	/* On failure the real call's own return is not known here; -1 is what
	 * SSL_write returns for WANT_* and errors alike, and SSL_get_error()
	 * reads the reason from the SSL object the real call left behind. */
	return ok ? (int)done : -1;
}

TF_HOOK int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t done = 0;
	int ok;

	if (!api || !api->write_ex)
		return 0;
	if (num == 0 || !enter(s, TF_DIR_WRITE))
		return api->write_ex(s, buf, num, written);
	ok = write_tracked(api, s, buf, num, &done, real_write_ex);
	tf_hook_leave();
	if (ok && written)
		*written = done;
	return ok;
}

/* ---- reads ---- */

/* A read that failed: if the server has closed, the connection's pending
 * requests will never be answered. SSL_get_error only inspects state. */
static void read_failed(const tf_ssl_api *api, tf_conn *c, SSL *s, int ret)
{
	int e;

	if (!c || !api->get_error)
		return;
	e = api->get_error(s, ret);
	if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL)
		tf_flow_eof(c);
}

/* Synthetic bytes first; 0 means "read from the server". */
static size_t synthetic(tf_conn *c, void *buf, size_t num, bool consume)
{
	return c ? tf_flow_take_synthetic(c, buf, num, consume) : 0;
}

/*
 * Reads for a tracked connection: synthetic bytes first; otherwise the
 * server's, of which tf_flow_observe may keep fewer in place (a swallowed
 * stand-in reply); when it keeps none, go round again: our answer may now
 * be queued, or more must be read. real() returns as SSL_read_ex does and
 * leaves the flavour's own return value in *ret.
 */
typedef int (*real_read_fn)(const tf_ssl_api *, SSL *, void *, size_t, size_t *, int *);

static int read_tracked(const tf_ssl_api *api, SSL *s, void *buf, size_t num, size_t *got,
			int *ret, real_read_fn real)
{
	tf_conn *c = tracked(api, s, false);
	int ok = 1;

	for (;;) {
		size_t n = synthetic(c, buf, num, true);

		if (n) {
			*got = n;
			*ret = (int)n;
			break;
		}
		if (!real(api, s, buf, num, got, ret)) {
			read_failed(api, c, s, *ret);
			ok = 0;
			break;
		}
		tf_state_count_read(*got);
		if (!c)
			break;
		*got = tf_flow_observe(c, buf, *got);
		if (*got) {
			*ret = (int)*got;
			break;
		}
	}
	if (c)
		tf_conn_put(c);
	return ok;
}

static int real_read_int(const tf_ssl_api *api, SSL *s, void *buf, size_t n, size_t *got, int *ret)
{
	*ret = api->read(s, buf, n > INT_MAX ? INT_MAX : (int)n);
	*got = *ret > 0 ? (size_t)*ret : 0;
	return *ret > 0;
}

static int real_read_ex(const tf_ssl_api *api, SSL *s, void *buf, size_t n, size_t *got, int *ret)
{
	*ret = api->read_ex(s, buf, n, got);
	return *ret;
}

TF_HOOK int SSL_read(SSL *s, void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t got = 0;
	int r = -1;

	if (!api)
		return -1;
	if (num <= 0 || !enter(s, TF_DIR_READ))
		return api->read(s, buf, num);
	read_tracked(api, s, buf, (size_t)num, &got, &r, real_read_int);
	tf_hook_leave();
	return r;
}

TF_HOOK int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t got = 0;
	int ok, r = 0;

	if (!api || !api->read_ex)
		return 0;
	if (num == 0 || !enter(s, TF_DIR_READ))
		return api->read_ex(s, buf, num, readbytes);
	ok = read_tracked(api, s, buf, num, &got, &r, real_read_ex);
	tf_hook_leave();
	if (ok && readbytes)
		*readbytes = got;
	return ok;
}

/* Peeking shows synthetic bytes without consuming them. */
static size_t peek_synthetic(const tf_ssl_api *api, SSL *s, void *buf, size_t num)
{
	tf_conn *c = NULL;
	size_t n = 0;

	if (tf_conns_get(s, &c) == TF_CONN_TRACKED) {
		n = synthetic(c, buf, num, false);
		tf_conn_put(c);
	}
	return n;
}

TF_HOOK int SSL_peek(SSL *s, void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t n;

	if (!api || !api->peek)
		return -1;
	if (num <= 0 || !enter(s, TF_DIR_READ))
		return api->peek(s, buf, num);
	n = peek_synthetic(api, s, buf, (size_t)num);
	tf_hook_leave();
	return n ? (int)n : api->peek(s, buf, num);
}

TF_HOOK int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t n;

	if (!api || !api->peek_ex)
		return 0;
	if (num == 0 || !enter(s, TF_DIR_READ))
		return api->peek_ex(s, buf, num, readbytes);
	n = peek_synthetic(api, s, buf, num);
	tf_hook_leave();
	if (!n)
		return api->peek_ex(s, buf, num, readbytes);
	if (readbytes)
		*readbytes = n;
	return 1;
}

/* Synthetic bytes waiting for the app, if any (0 for untracked). */
static size_t extra_pending(const SSL *s)
{
	tf_conn *c = NULL;
	size_t n = 0;

	if (tf_conns_get(s, &c) == TF_CONN_TRACKED) {
		n = tf_flow_pending_extra(c);
		tf_conn_put(c);
	}
	return n;
}

/* Poll-driven clients (curl) only read when the fd is readable or
 * SSL_pending says bytes wait: synthetic bytes must show up here. */
TF_HOOK int SSL_pending(const SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	int r;

	if (!api || !api->pending)
		return 0;
	r = api->pending(s);
	if (!enter(s, TF_DIR_READ))
		return r;
	r += (int)extra_pending(s);
	tf_hook_leave();
	return r;
}

TF_HOOK int SSL_has_pending(const SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	int r;

	if (!api || !api->has_pending)
		return 0;
	r = api->has_pending(s);
	if (r || !enter(s, TF_DIR_READ))
		return r;
	r = extra_pending(s) > 0;
	tf_hook_leave();
	return r;
}

/* ---- lifetime ---- */

TF_HOOK int SSL_shutdown(SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());

	return api && api->shutdown ? api->shutdown(s) : -1;
}

/* SSL_clear makes the same SSL* a new connection; SSL_free lets the address
 * be reused at once. Either way our state for it must go first. */
TF_HOOK int SSL_clear(SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());

	if (!api || !api->clear)
		return 0;
	if (enter(s, TF_DIR_LIFE)) {
		tf_conns_drop(s);
		tf_hook_leave();
	}
	return api->clear(s);
}

TF_HOOK void SSL_free(SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());

	if (!api)
		return;
	if (s && enter(s, TF_DIR_LIFE)) {
		tf_conns_drop(s);
		tf_hook_leave();
	}
	api->free(s);
}
