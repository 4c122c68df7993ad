#include "sha256.h"

#include <string.h>

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void compress(uint32_t h[8], const uint8_t blk[TF_SHA256_BLOCK])
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int t = 0; t < 16; t++)
		w[t] = load_be32(blk + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K[t] + w[t];
		uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;

		hh = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

void tf_sha256_init(tf_sha256_ctx *c)
{
	/* FIPS 180-4 section 5.3.3. */
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->total = 0;
	c->block_len = 0;
}

void tf_sha256_update(tf_sha256_ctx *c, const void *p, size_t n)
{
	const uint8_t *in = p;

	if (n == 0)
		return;
	c->total += n;
	if (c->block_len) {
		size_t take = TF_SHA256_BLOCK - c->block_len;

		if (take > n)
			take = n;
		memcpy(c->block + c->block_len, in, take);
		c->block_len += take;
		in += take;
		n -= take;
		if (c->block_len < TF_SHA256_BLOCK)
			return;
		compress(c->h, c->block);
		c->block_len = 0;
	}
	for (; n >= TF_SHA256_BLOCK; in += TF_SHA256_BLOCK, n -= TF_SHA256_BLOCK)
		compress(c->h, in);
	if (n) {
		memcpy(c->block, in, n);
		c->block_len = n;
	}
}

void tf_sha256_final(tf_sha256_ctx *c, uint8_t out[TF_SHA256_LEN])
{
	uint64_t bits = c->total * 8;

	c->block[c->block_len++] = 0x80;
	if (c->block_len > TF_SHA256_BLOCK - 8) {
		memset(c->block + c->block_len, 0, TF_SHA256_BLOCK - c->block_len);
		compress(c->h, c->block);
		c->block_len = 0;
	}
	memset(c->block + c->block_len, 0, TF_SHA256_BLOCK - 8 - c->block_len);
	for (int i = 0; i < 8; i++)
		c->block[TF_SHA256_BLOCK - 1 - i] = (uint8_t)(bits >> (8 * i));
	compress(c->h, c->block);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	explicit_bzero(c, sizeof(*c));
}

void tf_sha256(const void *p, size_t n, uint8_t out[TF_SHA256_LEN])
{
	tf_sha256_ctx c;

	tf_sha256_init(&c);
	tf_sha256_update(&c, p, n);
	tf_sha256_final(&c, out);
}

void tf_sha256_hex(const uint8_t d[TF_SHA256_LEN], char out[TF_SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < TF_SHA256_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[TF_SHA256_HEX_LEN] = '\0';
}

void tf_hmac_sha256_init(tf_hmac_sha256_ctx *c, const void *key, size_t key_len)
{
	uint8_t k[TF_SHA256_BLOCK] = {0}, pad[TF_SHA256_BLOCK];

	if (key_len > TF_SHA256_BLOCK)
		tf_sha256(key, key_len, k);
	else if (key_len)
		memcpy(k, key, key_len);
	for (int i = 0; i < TF_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	tf_sha256_init(&c->inner);
	tf_sha256_update(&c->inner, pad, sizeof(pad));
	for (int i = 0; i < TF_SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	tf_sha256_init(&c->outer);
	tf_sha256_update(&c->outer, pad, sizeof(pad));
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

void tf_hmac_sha256_update(tf_hmac_sha256_ctx *c, const void *p, size_t n)
{
	tf_sha256_update(&c->inner, p, n);
}

void tf_hmac_sha256_final(tf_hmac_sha256_ctx *c, uint8_t out[TF_SHA256_LEN])
{
	uint8_t ih[TF_SHA256_LEN];

	tf_sha256_final(&c->inner, ih);
	tf_sha256_update(&c->outer, ih, sizeof(ih));
	tf_sha256_final(&c->outer, out);
	explicit_bzero(ih, sizeof(ih));
}

void tf_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n,
		    uint8_t out[TF_SHA256_LEN])
{
	tf_hmac_sha256_ctx c;

	tf_hmac_sha256_init(&c, key, key_len);
	tf_hmac_sha256_update(&c, msg, n);
	tf_hmac_sha256_final(&c, out);
}

int tf_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
