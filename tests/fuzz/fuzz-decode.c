/*
 * Content-Encoding decoder.
 * Byte 0: options (bits 0-1: identity, gzip, deflate; bit 2: small output
 * cap of 4 KiB; bit 3: compress the input with zlib first and check the
 * round trip; bit 4: with bit 3, raw deflate / two gzip members). Byte 1:
 * seed of the cut points.
 * Invariants: the same output and results whether the input comes whole, in
 * random pieces or byte by byte; output never passes the cap; whatever zlib
 * compressed comes back unchanged (up to the cap).
 */
#include <errno.h>
#include <inttypes.h>
#include <zlib.h>

#include "decode.h"
#include "fuzz.h"

typedef struct run {
	tf_decoder d;
	tf_buf *out;
	uint64_t max;
	int err;
} run;

static int on_out(void *ctx, const uint8_t *p, size_t n)
{
	run *r = ctx;

	FUZZ_CHECK(n > 0 && n <= TF_DECODE_CHUNK);
	FUZZ_CHECK(r->out->len + n <= r->max);
	FUZZ_CHECK(tf_buf_append(r->out, p, n) == 0);
	return 0;
}

static int feed(void *state, const uint8_t *p, size_t n)
{
	run *r = state;

	r->err = tf_decoder_feed(&r->d, p, n, on_out, r);
	if (r->err) {
		FUZZ_CHECK(r->err == TF_DECODE_EDATA || r->err == TF_DECODE_ETOOBIG);
		FUZZ_CHECK(tf_decoder_feed(&r->d, p, n, on_out, r) == r->err);
	}
	return r->err == 0;
}

static void run_once(tf_decode_kind kind, uint64_t max, const uint8_t *data, size_t size,
		     const fuzz_cuts *cuts, int bytewise, tf_buf *log, tf_buf *out)
{
	run r = { .out = out, .max = max };
	int f;

	tf_buf_reset(out);
	FUZZ_CHECK(tf_decoder_init(&r.d, kind, max) == 0);
	fuzz_feed_pieces(&r, feed, data, size, cuts, bytewise);
	f = tf_decoder_finish(&r.d);
	FUZZ_CHECK(r.err == 0 || f == r.err);
	if (r.err == TF_DECODE_ETOOBIG)
		FUZZ_CHECK(out->len == max);
	tf_buf_printf(log, "OUT %zu %08lx %d %d\n", out->len, crc32(0L, out->data, (uInt)out->len),
		      r.err, f);
	tf_decoder_free(&r.d);
}

static void compress_into(const uint8_t *in, size_t n, int wbits, tf_buf *b)
{
	z_stream z;
	uint8_t buf[4096];
	int rc;

	memset(&z, 0, sizeof(z));
	FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = deflate(&z, Z_FINISH);
		FUZZ_CHECK(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
		FUZZ_CHECK(tf_buf_append(b, buf, sizeof(buf) - z.avail_out) == 0);
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const tf_decode_kind kinds[4] = { TF_DECODE_IDENTITY, TF_DECODE_GZIP,
						 TF_DECODE_DEFLATE, TF_DECODE_GZIP };
	tf_buf whole, other, out, packed;
	const uint8_t *in;
	size_t n;
	fuzz_cuts cuts;
	tf_decode_kind kind;
	uint64_t max;
	uint8_t opt, seed;

	if (size < 2)
		return 0;
	opt = data[0];
	seed = data[1];
	data += 2;
	size -= 2;
	kind = kinds[opt & 3];
	max = (opt & 4) ? 4096 : TF_DECODE_DEFAULT_MAX_OUT;
	tf_buf_init(&packed, 0);
	in = data;
	n = size;
	if ((opt & 8) && kind != TF_DECODE_IDENTITY) {
		if (kind == TF_DECODE_GZIP && (opt & 16)) {
			compress_into(data, size / 2, 31, &packed);
			compress_into(data + size / 2, size - size / 2, 31, &packed);
		} else {
			compress_into(data, size, kind == TF_DECODE_GZIP ? 31 : (opt & 16) ? -15 : 15,
				      &packed);
		}
		in = packed.data;
		n = packed.len;
	}
	tf_buf_init(&whole, 0);
	tf_buf_init(&other, 0);
	tf_buf_init(&out, 0);
	run_once(kind, max, in, n, NULL, 0, &whole, &out);
	if (opt & 8) {
		size_t expect = size < max ? size : (size_t)max;

		FUZZ_CHECK(out.len == expect && (expect == 0 || memcmp(out.data, data, expect) == 0));
	}
	fuzz_make_cuts(&cuts, seed, n);
	run_once(kind, max, in, n, &cuts, 0, &other, &out);
	fuzz_expect_same(&whole, &other, "random pieces");
	if (n <= FUZZ_BYTEWISE_MAX) {
		tf_buf_reset(&other);
		run_once(kind, max, in, n, NULL, 1, &other, &out);
		fuzz_expect_same(&whole, &other, "byte by byte");
	}
	tf_buf_free(&whole);
	tf_buf_free(&other);
	tf_buf_free(&out);
	tf_buf_free(&packed);
	return 0;
}
