/*
 * HTTP/2 on a tracked connection: when a connection speaks it, and the
 * decisions, rewrites and answers of shim/h2.h wired to the same exchanges,
 * adapters, enforcement and SigV4 re-signing as HTTP/1.1 (shim/flow.c).
 *
 * Detection happens once, at the app's first write on a connection that is
 * guarded or still being classified and has nothing held yet: ALPN "h2"
 * (SSL_get0_alpn_selected), or, when the handshake has not finished (node
 * writes before it completes), the first bytes being the HTTP/2 client
 * preface. Everything after that goes through the layer, whatever the
 * `h2` config says (downgrade_alpn only changes what is offered; a
 * connection that speaks h2 anyway is still enforced).
 *
 * A connection without SNI is classified by the first request's
 * :authority; if it is not a provider, policing stops but the layer stays
 * (HPACK is re-encoded from the first block on, so it can never step out).
 * When the layer cannot be created (out of memory), fail_mode decides:
 * open lets the connection pass unguarded (warned); closed tells the server
 * to go away and drops the app's bytes, so no unguarded call leaves.
 *
 * Called with the connection locked, from shim/flow.c.
 */
#ifndef TF_H2FLOW_H
#define TF_H2FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* First write: decides c->proto_known and maybe c->h2 / c->h2_refused. */
void tf_h2flow_detect(tf_conn *c, const uint8_t *p, size_t n);
/* The app's bytes: what the server must get goes to c->out, what the app
 * must read to c->inject. */
void tf_h2flow_absorb(tf_conn *c, const uint8_t *p, size_t n);
/* The server's bytes just read into buf: processed, then as many bytes as
 * fit (from c->inject) are put back in buf. Returns that count. */
size_t tf_h2flow_observe(tf_conn *c, uint8_t *buf, size_t n);
/* The server closed: open calls end, incomplete. */
void tf_h2flow_eof(tf_conn *c);

#endif
