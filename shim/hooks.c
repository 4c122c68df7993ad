/*
 * The exported SSL_* symbols and nothing else (see libtokenfence.map).
 *
 * Each hook finds the real function for its caller, passes straight through
 * when the shim is inert or re-entered, and otherwise routes the call by the
 * connection's class: unguarded connections cost one table lookup; tracked
 * ones go through shim/flow.c. A failure inside the shim never becomes an
 * error for the application: it degrades to pass-through.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
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

static bool passthrough(const tf_ssl_api *api)
{
	return tf_depth > 0 || tf_state_inert();
}

/* ---- writes ---- */

static int write_common(const tf_ssl_api *api, SSL *s, const void *buf, size_t num, size_t *done,
			int (*real)(const tf_ssl_api *, SSL *, const void *, size_t, size_t *))
{
	tf_conn *c;
	int ok;

	tf_depth++;
	c = tracked(api, s, true);
	ok = c ? tf_flow_write(c, buf, num, done) : real(api, s, buf, num, done);
	if (ok)
		tf_state_count_write(*done);
	if (c)
		tf_conn_put(c);
	tf_depth--;
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

TF_HOOK int SSL_write(SSL *s, const void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t done = 0;

	if (!api)
		return -1;
	if (passthrough(api) || num <= 0)
		return api->write(s, buf, num);
	/* On failure the real call's own return is not known here; -1 is what
	 * SSL_write returns for WANT_* and errors alike, and SSL_get_error()
	 * reads the reason from the SSL object the real call left behind. */
	return write_common(api, s, buf, (size_t)num, &done, real_write_int) ? (int)done : -1;
}

TF_HOOK int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	size_t done = 0;
	int ok;

	if (!api || !api->write_ex)
		return 0;
	if (passthrough(api) || num == 0)
		return api->write_ex(s, buf, num, written);
	ok = write_common(api, s, buf, num, &done, real_write_ex);
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

TF_HOOK int SSL_read(SSL *s, void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c;
	size_t n;
	int r;

	if (!api)
		return -1;
	if (passthrough(api) || num <= 0)
		return api->read(s, buf, num);
	tf_depth++;
	c = tracked(api, s, false);
	n = synthetic(c, buf, (size_t)num, true);
	if (n) {
		r = (int)n;
	} else {
		r = api->read(s, buf, num);
		if (r > 0) {
			tf_state_count_read((size_t)r);
			if (c)
				tf_flow_observe(c, buf, (size_t)r);
		} else {
			read_failed(api, c, s, r);
		}
	}
	if (c)
		tf_conn_put(c);
	tf_depth--;
	return r;
}

TF_HOOK int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c;
	size_t n, got = 0;
	int ok;

	if (!api || !api->read_ex)
		return 0;
	if (passthrough(api) || num == 0)
		return api->read_ex(s, buf, num, readbytes);
	tf_depth++;
	c = tracked(api, s, false);
	n = synthetic(c, buf, num, true);
	if (n) {
		got = n;
		ok = 1;
	} else {
		ok = api->read_ex(s, buf, num, &got);
		if (ok) {
			tf_state_count_read(got);
			if (c)
				tf_flow_observe(c, buf, got);
		} else {
			read_failed(api, c, s, ok);
		}
	}
	if (ok && readbytes)
		*readbytes = got;
	if (c)
		tf_conn_put(c);
	tf_depth--;
	return ok;
}

TF_HOOK int SSL_peek(SSL *s, void *buf, int num)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c;
	size_t n;

	if (!api || !api->peek)
		return -1;
	if (passthrough(api) || num <= 0)
		return api->peek(s, buf, num);
	tf_depth++;
	c = tracked(api, s, false);
	n = synthetic(c, buf, (size_t)num, false);
	if (c)
		tf_conn_put(c);
	tf_depth--;
	return n ? (int)n : api->peek(s, buf, num);
}

TF_HOOK int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c;
	size_t n;

	if (!api || !api->peek_ex)
		return 0;
	if (passthrough(api) || num == 0)
		return api->peek_ex(s, buf, num, readbytes);
	tf_depth++;
	c = tracked(api, s, false);
	n = synthetic(c, buf, num, false);
	if (c)
		tf_conn_put(c);
	tf_depth--;
	if (!n)
		return api->peek_ex(s, buf, num, readbytes);
	if (readbytes)
		*readbytes = n;
	return 1;
}

/* Poll-driven clients (curl) only read when the fd is readable or
 * SSL_pending says bytes wait: synthetic bytes must show up here. */
TF_HOOK int SSL_pending(const SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c = NULL;
	int r;

	if (!api || !api->pending)
		return 0;
	r = api->pending(s);
	if (passthrough(api) || tf_conns_get(s, &c) != TF_CONN_TRACKED)
		return r;
	tf_depth++;
	r += (int)tf_flow_pending_extra(c);
	tf_conn_put(c);
	tf_depth--;
	return r;
}

TF_HOOK int SSL_has_pending(const SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());
	tf_conn *c = NULL;
	int r;

	if (!api || !api->has_pending)
		return 0;
	r = api->has_pending(s);
	if (r || passthrough(api) || tf_conns_get(s, &c) != TF_CONN_TRACKED)
		return r;
	tf_depth++;
	r = tf_flow_pending_extra(c) > 0;
	tf_conn_put(c);
	tf_depth--;
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
	if (!passthrough(api)) {
		tf_depth++;
		tf_conns_drop(s);
		tf_depth--;
	}
	return api->clear(s);
}

TF_HOOK void SSL_free(SSL *s)
{
	const tf_ssl_api *api = tf_resolve(CALLER());

	if (!api)
		return;
	if (s && !passthrough(api)) {
		tf_depth++;
		tf_conns_drop(s);
		tf_depth--;
	}
	api->free(s);
}
