/*
 * The byte paths of a tracked connection: what SSL_write/SSL_read do with
 * the app's bytes once a connection has a tf_conn (DESIGN.md §2).
 *
 * Outbound, the app's bytes are absorbed into the request framer until a
 * request is whole; then the exchange layer decides what goes to the server
 * and the result is written with the real SSL_write. The call that completes
 * a request returns success only once those bytes have really been written:
 * if the real write says WANT_READ/WANT_WRITE, that is what the app sees,
 * and its retry (same buffer, as OpenSSL demands) resumes our flush with the
 * same pointer and length. Blocking fds, non-blocking fds and memory BIOs
 * (SSL_get_fd == -1) all go through this one path.
 *
 * Inbound, bytes we synthesise (tf_conn.inject) are read first; then the
 * server's bytes are read into the app's buffer and a shadow of them is
 * parsed as they pass. The app's buffer is never rewritten here.
 *
 * All functions take the connection unlocked and lock it themselves.
 * tf_flow_write follows SSL_write_ex: 1 on success with *done set, 0 on
 * failure (libssl's error state is whatever the real call left, so the
 * app's SSL_get_error() gives the true reason). Reads from the server are
 * done by the hook itself, in the flavour the app called, so that their
 * return values reach the app unchanged.
 */
#ifndef TF_FLOW_H
#define TF_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

int tf_flow_write(tf_conn *c, const void *buf, size_t len, size_t *done);
/* Copies up to len synthetic bytes (consumed unless peeking); 0 when there
 * are none, and the caller then reads from the server itself. */
size_t tf_flow_take_synthetic(tf_conn *c, void *buf, size_t len, bool consume);
/*
 * The app just read these bytes from the server into buf: parse their
 * shadow. Returns how many bytes of buf the app should get now (the first
 * ones, in place); bytes that must wait behind a synthetic answer move to
 * the synthetic queue, and a stand-in's reply is removed. 0 means "nothing
 * now": serve the synthetic queue, or read again.
 */
size_t tf_flow_observe(tf_conn *c, void *buf, size_t len);
/* The server closed its side (read EOF): end close-delimited bodies and
 * settle requests that will never be answered. */
void tf_flow_eof(tf_conn *c);
/* Bytes readable without touching the network, beyond libssl's own. */
size_t tf_flow_pending_extra(tf_conn *c);

#endif
