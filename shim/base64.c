#include "base64.h"

#include <errno.h>
#include <stdbool.h>

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

/* Sextet of each byte, -1 for bytes outside the alphabet. */
static const signed char sextets[256] = {
	['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,
	['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
	['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
	['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27,
	['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34,
	['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
	['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47, ['w'] = 48,
	['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
	['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62,
	['/'] = 63,
};

static int sextet(unsigned char c)
{
	/* The table's zeros are 'A' or an invalid byte: only 'A' is 0. */
	int s = sextets[c];

	return s || c == 'A' ? s : -1;
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
	/* Whole groups first, without the padding logic. */
	for (i = 0; n >= 4 && i < n - 4; i += 4) {
		int a = sextet((unsigned char)in[i]), b = sextet((unsigned char)in[i + 1]);
		int c = sextet((unsigned char)in[i + 2]), d = sextet((unsigned char)in[i + 3]);
		uint32_t v;

		if ((a | b | c | d) < 0)
			return -EINVAL;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
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
