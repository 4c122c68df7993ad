/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written here because the
 * shim must not link libcrypto (it would drag a second libcrypto into hosts
 * that link their own) and SigV4 re-signing needs both.
 *
 * Streaming contexts are plain structs the caller owns; no allocation, no
 * failure modes. Inputs may be any length (the message length is counted in
 * bits modulo 2^64, as the standard specifies). Contexts holding key material
 * are wiped by the *_final functions.
 */
#ifndef TF_SHA256_H
#define TF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TF_SHA256_LEN 32
#define TF_SHA256_BLOCK 64
#define TF_SHA256_HEX_LEN 64 /* without the terminating NUL */

typedef struct tf_sha256_ctx {
	uint32_t h[8];
	uint64_t total;              /* bytes hashed so far */
	uint8_t block[TF_SHA256_BLOCK];
	size_t block_len;            /* bytes waiting in block */
} tf_sha256_ctx;

void tf_sha256_init(tf_sha256_ctx *c);
void tf_sha256_update(tf_sha256_ctx *c, const void *p, size_t n);
/* Writes the digest and wipes the context (init again to reuse it). */
void tf_sha256_final(tf_sha256_ctx *c, uint8_t out[TF_SHA256_LEN]);
/* One-shot digest of p[0..n). */
void tf_sha256(const void *p, size_t n, uint8_t out[TF_SHA256_LEN]);

/* Lower-case hex of a digest, NUL-terminated (out holds 65 bytes). */
void tf_sha256_hex(const uint8_t d[TF_SHA256_LEN], char out[TF_SHA256_HEX_LEN + 1]);

typedef struct tf_hmac_sha256_ctx {
	tf_sha256_ctx inner;
	tf_sha256_ctx outer;
} tf_hmac_sha256_ctx;

/* Keys longer than one block are hashed first (RFC 2104 section 2). */
void tf_hmac_sha256_init(tf_hmac_sha256_ctx *c, const void *key, size_t key_len);
void tf_hmac_sha256_update(tf_hmac_sha256_ctx *c, const void *p, size_t n);
/* Writes the MAC and wipes the context. */
void tf_hmac_sha256_final(tf_hmac_sha256_ctx *c, uint8_t out[TF_SHA256_LEN]);
void tf_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
		    uint8_t out[TF_SHA256_LEN]);

/* Constant-time comparison of n bytes: 1 when equal, 0 otherwise. */
int tf_ct_equal(const void *a, const void *b, size_t n);

#endif
