#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <zlib.h>

#include "decode.h"
#include "split.h"

/* zlib's own compressor makes the inputs: wbits 15 zlib, -15 raw, 31 gzip. */
static tf_buf compress_with(const void *in, size_t n, int wbits, int level)
{
	z_stream z;
	tf_buf b;
	uint8_t out[4096];
	int rc;

	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	tf_buf_init(&b, 0);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		rc = deflate(&z, Z_FINISH);
		cr_assert(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
		cr_assert_eq(tf_buf_append(&b, out, sizeof(out) - z.avail_out), 0);
	} while (rc != Z_STREAM_END);
	deflateEnd(&z);
	return b;
}

static tf_buf gz(const char *s)
{
	return compress_with(s, strlen(s), 31, 6);
}

typedef struct dopts {
	tf_decode_kind kind;
	uint64_t max_out;
	bool abort_cb;
} dopts;

typedef struct drec {
	tf_buf out;
	bool abort_cb;
} drec;

static int on_out(void *ctx, const uint8_t *p, size_t n)
{
	drec *r = ctx;

	cr_assert(n > 0 && n <= TF_DECODE_CHUNK);
	if (r->abort_cb)
		return -1;
	return tf_buf_append(&r->out, p, n) == 0 ? 0 : -1;
}

static void run_decode(void *arg, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
		       tf_buf *log)
{
	const dopts *o = arg;
	drec rec = { .abort_cb = o->abort_cb };
	tf_decoder d;
	size_t piece, start = 0;
	int r, f;

	tf_buf_init(&rec.out, (size_t)256 << 20);
	r = tf_decoder_init(&d, o->kind, o->max_out);
	for (piece = 0; piece <= ncuts && r == 0; piece++) {
		size_t end = piece < ncuts ? cuts[piece] : n;
		uint8_t *c = tf_test_piece(in + start, end - start);

		r = tf_decoder_feed(&d, c, end - start, on_out, &rec);
		free(c);
		start = end;
	}
	f = tf_decoder_finish(&d);
	if (rec.out.len <= 128)
		tf_buf_printf(log, "OUT %zu [%.*s]", rec.out.len, (int)rec.out.len, (const char *)rec.out.data);
	else
		tf_buf_printf(log, "OUT %zu crc=%08lx", rec.out.len, crc32(0L, rec.out.data, (uInt)rec.out.len));
	tf_buf_printf(log, " feed=%d finish=%d\n", r, f);
	tf_decoder_free(&d);
	tf_buf_free(&rec.out);
}

static void check(tf_decode_kind kind, const tf_buf *in, const char *want)
{
	dopts o = { .kind = kind };

	tf_test_splits(run_decode, &o, in->data, in->len, want);
}

Test(decode, kind_of)
{
	static const struct {
		const char *v;
		tf_decode_kind k;
	} c[] = {
		{ "", TF_DECODE_IDENTITY },         { "identity", TF_DECODE_IDENTITY },
		{ "gzip", TF_DECODE_GZIP },         { "GZip", TF_DECODE_GZIP },
		{ "x-gzip", TF_DECODE_GZIP },       { " gzip , identity", TF_DECODE_GZIP },
		{ "deflate", TF_DECODE_DEFLATE },   { "identity, deflate", TF_DECODE_DEFLATE },
		{ "br", TF_DECODE_UNSUPPORTED },    { "zstd", TF_DECODE_UNSUPPORTED },
		{ "compress", TF_DECODE_UNSUPPORTED }, { "gzip, br", TF_DECODE_UNSUPPORTED },
		{ "gzip, gzip", TF_DECODE_UNSUPPORTED }, { "deflate, gzip", TF_DECODE_UNSUPPORTED },
		{ "gzipx", TF_DECODE_UNSUPPORTED }, { ",,", TF_DECODE_IDENTITY },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		cr_expect_eq(tf_decode_kind_of(c[i].v, strlen(c[i].v)), c[i].k, "%s", c[i].v);
}

Test(decode, identity_passes_through_with_cap)
{
	tf_buf in;
	dopts o = { .kind = TF_DECODE_IDENTITY, .max_out = 5 };

	tf_buf_init(&in, 0);
	tf_buf_append_str(&in, "hello");
	check(TF_DECODE_IDENTITY, &in, "OUT 5 [hello] feed=0 finish=0\n");
	tf_test_splits(run_decode, &o, in.data, in.len, "OUT 5 [hello] feed=0 finish=0\n");
	tf_buf_append_str(&in, "!");
	tf_test_splits(run_decode, &o, in.data, in.len, "OUT 5 [hello] feed=-3 finish=-3\n");
	tf_buf_free(&in);
}

Test(decode, gzip)
{
	tf_buf b = gz("data: {\"usage\":{\"prompt_tokens\":9}}\n\n");

	check(TF_DECODE_GZIP, &b, "OUT 37 [data: {\"usage\":{\"prompt_tokens\":9}}\n\n] feed=0 finish=0\n");
	tf_buf_free(&b);
}

Test(decode, gzip_header_fields)
{
	/* FEXTRA, FNAME, FCOMMENT and FHCRC all set. */
	static const char text[] = "{\"usage\":{\"total_tokens\":3}}";
	gz_header h;
	z_stream z;
	uint8_t out[512], extra[] = "AB\x02\x00xy";
	tf_buf b;

	memset(&h, 0, sizeof(h));
	h.extra = extra;
	h.extra_len = 6;
	h.name = (Bytef *)"file.json";
	h.comment = (Bytef *)"a comment";
	h.hcrc = 1;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	cr_assert_eq(deflateSetHeader(&z, &h), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)text;
	z.avail_in = (uInt)strlen(text);
	z.next_out = out;
	z.avail_out = sizeof(out);
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	tf_buf_init(&b, 0);
	tf_buf_append(&b, out, sizeof(out) - z.avail_out);
	deflateEnd(&z);
	check(TF_DECODE_GZIP, &b, "OUT 28 [{\"usage\":{\"total_tokens\":3}}] feed=0 finish=0\n");
	/* A corrupted header CRC (FHCRC follows the fixed 10 bytes, XLEN + extra,
	 * the name and the comment). */
	{
		size_t hcrc_at = 10 + 2 + 6 + strlen("file.json") + 1 + strlen("a comment") + 1;

		b.data[hcrc_at] ^= 1;
		check(TF_DECODE_GZIP, &b, "OUT 0 [] feed=-1 finish=-1\n");
	}
	tf_buf_free(&b);
}

Test(decode, gzip_multi_member)
{
	tf_buf a = gz("first "), b = gz("second "), c = gz("third");

	tf_buf_append(&a, b.data, b.len);
	tf_buf_append(&a, c.data, c.len);
	check(TF_DECODE_GZIP, &a, "OUT 18 [first second third] feed=0 finish=0\n");
	/* An empty member in the middle. */
	tf_buf_free(&b);
	b = gz("");
	tf_buf_free(&c);
	c = gz("x");
	tf_buf_append(&b, c.data, c.len);
	check(TF_DECODE_GZIP, &b, "OUT 1 [x] feed=0 finish=0\n");
	tf_buf_free(&a);
	tf_buf_free(&b);
	tf_buf_free(&c);
}

Test(decode, gzip_trailing_bytes)
{
	tf_buf a = gz("body");
	size_t n = a.len;

	/* Bytes that do not start a member are ignored, as gunzip does. */
	tf_buf_append(&a, "\0\0\0\0", 4);
	check(TF_DECODE_GZIP, &a, "OUT 4 [body] feed=0 finish=0\n");
	a.len = n;
	tf_buf_append(&a, "\x1f", 1);
	check(TF_DECODE_GZIP, &a, "OUT 4 [body] feed=0 finish=0\n");
	a.len = n;
	tf_buf_append(&a, "\x1f\x00junk", 6);
	check(TF_DECODE_GZIP, &a, "OUT 4 [body] feed=0 finish=0\n");
	/* The magic of a new member followed by garbage is an error. */
	a.len = n;
	tf_buf_append(&a, "\x1f\x8bjunkjunkjunk", 14);
	check(TF_DECODE_GZIP, &a, "OUT 4 [body] feed=-1 finish=-1\n");
	/* ... and a second member cut short is truncated. */
	a.len = n;
	tf_buf_append(&a, "\x1f\x8b\x08", 3);
	check(TF_DECODE_GZIP, &a, "OUT 4 [body] feed=0 finish=-2\n");
	tf_buf_free(&a);
}

Test(decode, deflate_zlib_and_raw)
{
	static const char text[] = "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}";
	tf_buf z = compress_with(text, strlen(text), 15, 6);
	tf_buf raw = compress_with(text, strlen(text), -15, 6);
	tf_buf small = compress_with(text, strlen(text), 9, 1);
	char want[200];

	snprintf(want, sizeof(want), "OUT %zu [%s] feed=0 finish=0\n", strlen(text), text);
	check(TF_DECODE_DEFLATE, &z, want);
	check(TF_DECODE_DEFLATE, &raw, want);
	check(TF_DECODE_DEFLATE, &small, want);
	/* Trailing bytes after the stream are ignored. */
	tf_buf_append(&raw, "zz", 2);
	check(TF_DECODE_DEFLATE, &raw, want);
	/* Adler-32 of the zlib wrapper is checked. */
	z.data[z.len - 1] ^= 0x40;
	snprintf(want, sizeof(want), "OUT %zu [%s] feed=-1 finish=-1\n", strlen(text), text);
	check(TF_DECODE_DEFLATE, &z, want);
	tf_buf_free(&z);
	tf_buf_free(&raw);
	tf_buf_free(&small);
}

Test(decode, gzip_trailer_checks)
{
	tf_buf a = gz("checked");

	a.data[a.len - 8] ^= 1; /* CRC-32 */
	check(TF_DECODE_GZIP, &a, "OUT 7 [checked] feed=-1 finish=-1\n");
	a.data[a.len - 8] ^= 1;
	a.data[a.len - 1] ^= 1; /* ISIZE */
	check(TF_DECODE_GZIP, &a, "OUT 7 [checked] feed=-1 finish=-1\n");
	tf_buf_free(&a);
}

Test(decode, truncated_streams)
{
	tf_buf a = gz("a body long enough to be cut in many places, a body long enough");

	for (size_t k = 1; k < a.len; k++) {
		dopts o = { .kind = TF_DECODE_GZIP };
		char *s = tf_test_run(run_decode, &o, a.data, k, NULL, 0);

		cr_expect(strstr(s, "feed=0 finish=-2\n") != NULL, "%zu: %s", k, s);
		free(s);
	}
	{
		dopts o = { .kind = TF_DECODE_DEFLATE };
		char *s = tf_test_run(run_decode, &o, (const uint8_t *)"\x78", 1, NULL, 0);

		cr_expect_str_eq(s, "OUT 0 [] feed=0 finish=-2\n");
		free(s);
	}
	tf_buf_free(&a);
}

Test(decode, empty_body)
{
	tf_buf e;

	tf_buf_init(&e, 0);
	check(TF_DECODE_GZIP, &e, "OUT 0 [] feed=0 finish=0\n");
	check(TF_DECODE_DEFLATE, &e, "OUT 0 [] feed=0 finish=0\n");
}

Test(decode, garbage)
{
	tf_buf g;

	tf_buf_init(&g, 0);
	tf_buf_append_str(&g, "{\"not\":\"compressed\"}");
	check(TF_DECODE_GZIP, &g, "OUT 0 [] feed=-1 finish=-1\n");
	tf_buf_reset(&g);
	tf_buf_append(&g, "\x1f\x8b\x09\x00\x00\x00\x00\x00\x00\x03", 10); /* method 9 */
	check(TF_DECODE_GZIP, &g, "OUT 0 [] feed=-1 finish=-1\n");
	tf_buf_reset(&g);
	tf_buf_append(&g, "\xff\xff\xff\xff\xff", 5); /* raw deflate, invalid block type */
	check(TF_DECODE_DEFLATE, &g, "OUT 0 [] feed=-1 finish=-1\n");
	tf_buf_reset(&g);
	tf_buf_append(&g, "\x78\xbb\x00\x00\x00\x00", 6); /* zlib with FDICT */
	check(TF_DECODE_DEFLATE, &g, "OUT 0 [] feed=-1 finish=-1\n");
	tf_buf_free(&g);
}

Test(decode, bomb_is_capped)
{
	size_t big = (size_t)32 << 20;
	uint8_t *zeros = calloc(1, big);
	tf_buf bomb;
	tf_decoder d;
	drec rec = { 0 };
	int r;

	cr_assert(zeros);
	bomb = compress_with(zeros, big, 31, 9);
	free(zeros);
	cr_expect_lt(bomb.len, (size_t)64 << 10); /* ~1000:1 */
	tf_buf_init(&rec.out, (size_t)2 << 20);
	cr_assert_eq(tf_decoder_init(&d, TF_DECODE_GZIP, (uint64_t)1 << 20), 0);
	r = tf_decoder_feed(&d, bomb.data, bomb.len, on_out, &rec);
	cr_expect_eq(r, TF_DECODE_ETOOBIG);
	cr_expect_eq(rec.out.len, (size_t)1 << 20);
	cr_expect_eq(d.out_total, (uint64_t)1 << 20);
	cr_expect_eq(tf_decoder_feed(&d, bomb.data, 1, on_out, &rec), TF_DECODE_ETOOBIG);
	cr_expect_eq(tf_decoder_finish(&d), TF_DECODE_ETOOBIG);
	tf_decoder_free(&d);
	tf_buf_free(&rec.out);

	/* The default cap (64 MiB) with a fresh bomb of 32 MiB: all of it. */
	tf_buf_init(&rec.out, (size_t)33 << 20);
	cr_assert_eq(tf_decoder_init(&d, TF_DECODE_GZIP, 0), 0);
	cr_expect_eq(tf_decoder_feed(&d, bomb.data, bomb.len, on_out, &rec), 0);
	cr_expect_eq(tf_decoder_finish(&d), 0);
	cr_expect_eq(rec.out.len, big);
	tf_decoder_free(&d);
	tf_buf_free(&rec.out);
	tf_buf_free(&bomb);
}

Test(decode, large_random_body_split_everywhere)
{
	uint8_t text[20000];
	uint32_t x = 7;
	tf_buf a;
	char *whole;

	for (size_t i = 0; i < sizeof(text); i++) {
		x = x * 1103515245u + 12345u;
		text[i] = (uint8_t)"abcdefgh ,:{}\"\n"[(x >> 16) & 15];
	}
	a = compress_with(text, sizeof(text), 31, 6);
	{
		dopts o = { .kind = TF_DECODE_GZIP };

		whole = tf_test_run(run_decode, &o, a.data, a.len, NULL, 0);
		cr_expect(strncmp(whole, "OUT 20000 crc=", 14) == 0, "%s", whole);
		cr_expect(strstr(whole, "feed=0 finish=0") != NULL);
	}
	check(TF_DECODE_GZIP, &a, whole);
	free(whole);
	tf_buf_free(&a);
}

Test(decode, unsupported_and_abort)
{
	tf_decoder d;
	tf_buf a = gz("x");
	dopts o = { .kind = TF_DECODE_GZIP, .abort_cb = true };

	cr_expect_eq(tf_decoder_init(&d, TF_DECODE_UNSUPPORTED, 0), TF_DECODE_EUNSUPPORTED);
	cr_expect_eq(tf_decoder_feed(&d, (const uint8_t *)"x", 1, on_out, NULL), TF_DECODE_EUNSUPPORTED);
	cr_expect_eq(tf_decoder_finish(&d), TF_DECODE_EUNSUPPORTED);
	tf_decoder_free(&d);
	tf_test_splits(run_decode, &o, a.data, a.len, "OUT 0 [] feed=-4 finish=-4\n");
	tf_buf_free(&a);
}
