#include "base64.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tf_base64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);

	return groups > SIZE_MAX / 4 ? SIZE_MAX : groups * 4;
}

size_t tf_base64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

static void encode_group(const uint8_t *in, size_t n, char *out)
{
	uint32_t v = (uint32_t)in[0] << 16;

	if (n > 1)
		v |= (uint32_t)in[1] << 8;
	if (n > 2)
		v |= in[2];
	out[0] = alphabet[(v >> 18) & 63];
	out[1] = alphabet[(v >> 12) & 63];
	out[2] = n > 1 ? alphabet[(v >> 6) & 63] : '=';
	out[3] = n > 2 ? alphabet[v & 63] : '=';
}

ptrdiff_t tf_base64_encode(const void *in, size_t n, char *out, size_t out_cap)
{
	const uint8_t *p = in;
	size_t need = tf_base64_encoded_len(n), i, o = 0;

	if (need == SIZE_MAX || need > out_cap || need > PTRDIFF_MAX)
		return -ENOBUFS;
	for (i = 0; i < n; i += 3, o += 4)
		encode_group(p + i, n - i < 3 ? n - i : 3, out + o);
	return (ptrdiff_t)o;
}

int tf_base64_encode_buf(tf_buf *b, const void *in, size_t n)
{
	size_t need = tf_base64_encoded_len(n);
	ptrdiff_t w;
	int r;

	if (need == SIZE_MAX)
		return -ENOBUFS;
	r = tf_buf_reserve(b, need);
	if (r < 0)
		return r;
	w = tf_base64_encode(in, n, (char *)b->data + b->len, need);
	if (w < 0)
		return (int)w;
	b->len += (size_t)w;
	return 0;
}

/*
 * The sextet of every byte, X for bytes outside the alphabet, as a list for
 * the tables below: each holds a sextet already shifted to its place in a
 * 4-character group, and BAD for X, so a group decodes with four loads and
 * three ORs, and one test of the result finds any invalid character.
 */
#define SEXTETS(F) \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(62), F(X), F(X), F(X), F(63), \
	F(52), F(53), F(54), F(55), F(56), F(57), F(58), F(59), F(60), F(61), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12), F(13), F(14), \
	F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(26), F(27), F(28), F(29), F(30), F(31), F(32), F(33), F(34), F(35), F(36), F(37), F(38), F(39), F(40), \
	F(41), F(42), F(43), F(44), F(45), F(46), F(47), F(48), F(49), F(50), F(51), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), \
	F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X), F(X)

#define X 64
#define BAD UINT32_C(0x80000000)
#define AT(v, shift) ((v) == X ? BAD : (uint32_t)(v) << (shift))
#define AT18(v) AT(v, 18)
#define AT12(v) AT(v, 12)
#define AT6(v) AT(v, 6)
#define AT0(v) AT(v, 0)
static const uint32_t at18[256] = { SEXTETS(AT18) };
static const uint32_t at12[256] = { SEXTETS(AT12) };
static const uint32_t at6[256] = { SEXTETS(AT6) };
static const uint32_t at0[256] = { SEXTETS(AT0) };

static int sextet(unsigned char c)
{
	return at0[c] == BAD ? -1 : (int)at0[c];
}

/* The 24 bits of a 4-character group, with BAD set if one is not base64. */
static uint32_t group(const unsigned char *g)
{
	return at18[g[0]] | at12[g[1]] | at6[g[2]] | at0[g[3]];
}

/* The 3 bytes of v (24 bits) at p, big-endian, in one 4-byte store: p[3]
 * is overwritten too, so it must be inside the output and not yet final. */
static void put3(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t w = __builtin_bswap32(v << 8);

	memcpy(p, &w, 4);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	uint32_t w = v << 8;

	memcpy(p, &w, 4);
#else
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
#endif
}

ptrdiff_t tf_base64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap)
{
	size_t i, o = 0, pad = 0, total;

	if (n % 4 != 0 || n / 4 * 3 > PTRDIFF_MAX)
		return -EINVAL;
	if (n >= 1 && in[n - 1] == '=')
		pad = (n >= 2 && in[n - 2] == '=') ? 2 : 1;
	total = n / 4 * 3 - pad;
	if (total > out_cap)
		return -ENOBUFS;
	/* Whole groups first, without the padding logic; two at a time, then
	 * one. None of them is the last group, which writes at least one
	 * byte after them, so put3()'s fourth byte stays within total. */
	for (i = 0; n >= 8 && i + 8 < n; i += 8, o += 6) {
		uint32_t a = group((const unsigned char *)in + i);
		uint32_t b = group((const unsigned char *)in + i + 4);

		if ((a | b) & BAD)
			return -EINVAL;
		put3(out + o, a);
		put3(out + o + 3, b);
	}
	for (; n >= 4 && i < n - 4; i += 4, o += 3) {
		uint32_t v = group((const unsigned char *)in + i);

		if (v & BAD)
			return -EINVAL;
		put3(out + o, v);
	}
	for (; i < n; i += 4) {
		bool last = i + 4 == n;
		size_t keep = last ? 4 - pad : 4, k;
		uint32_t v = 0;
		int s;

		for (k = 0; k < 4; k++) {
			if (k < keep) {
				s = sextet((unsigned char)in[i + k]);
				if (s < 0)
					return -EINVAL;
			} else {
				s = 0;
			}
			v = v << 6 | (uint32_t)s;
		}
		/* The bits a padded group leaves unused must be zero (canonical). */
		if ((keep == 2 && (v & 0xffff)) || (keep == 3 && (v & 0xff)))
			return -EINVAL;
		out[o++] = (uint8_t)(v >> 16);
		if (keep > 2)
			out[o++] = (uint8_t)(v >> 8);
		if (keep > 3)
			out[o++] = (uint8_t)v;
	}
	return (ptrdiff_t)o;
}
