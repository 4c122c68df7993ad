/*
 * HTTP/2 connections of the emulator (ALPN h2, offered with --http2): an
 * nghttp2 server session over the connection's TLS. Each request stream is
 * collected whole, seen through the same HTTP/1.1-shaped view the shim
 * uses (shim/h2msg.h: ":authority" is a header, and "host" carries it when
 * the client sent none, so SigV4 is verified over what each client signed),
 * and handled by emu_handle() like an HTTP/1.1 request: same routes, auth,
 * answers, faults and bill. Streamed bodies go out as DATA frames in the
 * same irregular, paced pieces; `truncate` drops the connection mid-body.
 * Streams are answered one at a time, in the order they complete.
 */
#ifndef EMU_H2SERVE_H
#define EMU_H2SERVE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "emu.h"

/* Serves the connection until the client leaves, the idle timeout passes
 * or the server stops. Returns true when the connection must be dropped
 * without close_notify (a write failed, or a truncate fault). */
bool emu_serve_h2(SSL *ssl, int fd, uint64_t conn_id, const emu_config *cfg);

#endif
