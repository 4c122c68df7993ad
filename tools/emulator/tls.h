/*
 * The emulator's TLS server context. Without --cert/--key it makes a fresh
 * test CA and a leaf signed by it (ECDSA P-256, valid from a day ago for 30
 * days) with SANs localhost, 127.0.0.1, the real Bedrock and Azure test
 * names and every --san, and writes the CA certificate (PEM) to --ca-out.
 * With --cert/--key, --ca-out receives a copy of the certificate file.
 * ALPN: http/1.1 only (a client offering only h2 gets no ALPN and speaks
 * HTTP/1.1). TLS 1.2 and 1.3.
 */
#ifndef EMU_TLS_H
#define EMU_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "emu.h"

/* Returns the context, or NULL with a message in err. */
SSL_CTX *emu_tls_ctx(const emu_config *cfg, char *err, size_t errlen);

#endif
