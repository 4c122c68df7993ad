/*
 * The accept loop and the per-connection threads: TLS handshake, request
 * framing (shim/http1.h) with header/body/idle deadlines, dispatch, and
 * response writing (streams chunked in odd-sized, paced pieces).
 */
#ifndef EMU_SERVER_H
#define EMU_SERVER_H

#include <openssl/ssl.h>

#include "emu.h"

/*
 * Serves listen_fd until stop_fd becomes readable, then stops accepting,
 * lets every connection finish its current response (idle ones close at
 * once) and returns after they are gone or grace_ms passed: the number of
 * connections still running.
 */
int emu_serve(const emu_config *cfg, SSL_CTX *ctx, int listen_fd, int stop_fd, int grace_ms);

#endif
