/*
 * Per-SSL* connection state.
 *
 * A table maps each SSL* the hooks have met to its class: unguarded (the
 * fast path: one lookup, no copy, no allocation), or guarded/pending, which
 * carries a tf_conn. Entries are removed in SSL_free and SSL_clear, so an
 * address reused by the next SSL_new starts clean (STYLE.md P15).
 *
 * The table is split in shards with one mutex each; a tf_conn has its own
 * mutex for its streams. Lock order: shard, then nothing (the shard lock is
 * never held while a tf_conn lock is taken or while calling into libssl).
 */
#ifndef TF_CONN_H
#define TF_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hosts.h"
#include "http1.h"
#include "resolve.h"

typedef enum tf_conn_class {
	TF_CONN_ABSENT = 0, /* never seen, or freed */
	TF_CONN_UNGUARDED,  /* not an LLM provider: pure pass-through */
	TF_CONN_TRACKED,    /* has a tf_conn: guarded, or waiting for its Host header */
} tf_conn_class;

typedef enum tf_conn_mode {
	TF_MODE_CLASSIFY, /* no SNI: holding the first request head to read its Host */
	TF_MODE_GUARD,    /* a guarded provider connection */
	TF_MODE_PASS,     /* classified unguarded after holding bytes: drain, then pass */
	TF_MODE_BROKEN,   /* our parser gave up: pass everything through untouched */
} tf_conn_mode;

typedef struct tf_conn {
	pthread_mutex_t mu;
	int refs; /* the table's reference plus one per caller holding it */
	const tf_ssl_api *api;
	SSL *ssl;
	tf_conn_mode mode;
	tf_provider provider;
	char host[256];
	int port;

	/* Outbound (app -> server). `hold` has app bytes of a request not yet
	 * complete; `out` has bytes ready for the real SSL_write, written from
	 * out_off. A real write that returned WANT_* is retried with exactly the
	 * same pointer and length (inflight), as OpenSSL requires. */
	tf_h1_framer req;
	tf_buf hold;
	tf_buf req_body; /* de-chunked body of a chunked request (others: in hold) */
	tf_buf out;
	size_t out_off;
	size_t inflight;
	/* The app call that completed a request but saw WANT_* while we flushed:
	 * its retry returns this many bytes once `out` has drained. */
	size_t app_pending;
	bool app_pending_set;

	/* Inbound (server -> app): bytes we synthesise, read before the server's. */
	tf_buf inject;
	tf_h1_framer resp;
	bool resp_broken;

	/* Requests sent and not yet answered, oldest first (exchange.h). */
	struct tf_exchange *ex_head, *ex_tail;
} tf_conn;

/*
 * Lookup; for TF_CONN_TRACKED *out is set and holds a reference the caller
 * gives back with tf_conn_put(), so a connection freed by another thread
 * (SSL_free racing a call: a host bug, but not one to crash on) stays valid
 * until its last user is done. Allocation-free.
 */
tf_conn_class tf_conns_get(const SSL *ssl, tf_conn **out);
void tf_conn_put(tf_conn *c);
/* Records ssl as unguarded. Returns 0, or -ENOMEM if the table cannot grow
 * (the caller then simply passes through without recording). */
int tf_conns_set_unguarded(const SSL *ssl);
/* Creates the tf_conn for ssl, initialised before it is published. If
 * another thread raced us, returns the existing one. NULL on ENOMEM. The
 * result holds a reference, as from tf_conns_get(). */
tf_conn *tf_conns_track(const SSL *ssl, const tf_ssl_api *api, tf_conn_mode mode,
			tf_provider provider, const char *host, int port);
/* Forgets ssl; frees its tf_conn if any. Called from SSL_free/SSL_clear. */
void tf_conns_drop(const SSL *ssl);

/* Fork hygiene: take/release every shard lock; the child re-inits them. */
void tf_conns_lock_all(void);
void tf_conns_unlock_all(void);
void tf_conns_child_reset(void);

/* Number of live entries of each class (for stats and tests). */
void tf_conns_count(size_t *unguarded, size_t *tracked);

#endif
