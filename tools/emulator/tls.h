/*
 * The emulator's TLS server context. Without --cert/--key it makes a fresh
 * test CA and a leaf signed by it (ECDSA P-256, valid from a day ago for 30
 * days) with SANs localhost, 127.0.0.1, the real Bedrock and Azure test
 * names and every --san, and writes the CA certificate (PEM) to --ca-out.
 * With --cert/--key, --ca-out receives a copy of the certificate file.
 * ALPN: http/1.1, and h2 first with --http2 (a client offering only h2
 * without it gets no ALPN and speaks HTTP/1.1). TLS 1.2 and 1.3.
 * Also the clock, pacing and blocking-write helpers both servers share.
 */
#ifndef EMU_TLS_H
#define EMU_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "emu.h"

/* Returns the context, or NULL with a message in err. */
SSL_CTX *emu_tls_ctx(const emu_config *cfg, char *err, size_t errlen);

/* Monotonic milliseconds. */
int64_t emu_now_ms(void);
/* Sleeps ms milliseconds, through signals. */
void emu_sleep_ms(int ms);
/*
 * Writes all n bytes (in pieces of at most 1 MiB), retrying WANT_READ /
 * WANT_WRITE for up to 10 s. Returns 0, or -1 when the peer is gone or
 * stuck (the connection is then broken).
 */
int emu_ssl_write_all(SSL *ssl, const void *p, size_t n);

#endif
