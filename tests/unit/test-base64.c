#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "split.h"

static void enc_is(const char *in, const char *want)
{
	char out[128];
	ptrdiff_t n = tf_base64_encode(in, strlen(in), out, sizeof(out));

	cr_assert_eq(n, (ptrdiff_t)strlen(want), "%s", in);
	cr_expect(memcmp(out, want, (size_t)n) == 0, "%s -> %.*s", in, (int)n, out);
	cr_expect_eq(tf_base64_encoded_len(strlen(in)), strlen(want));
}

static void dec_is(const char *in, const char *want)
{
	uint8_t out[128];
	ptrdiff_t n = tf_base64_decode(in, strlen(in), out, sizeof(out));

	cr_assert_eq(n, (ptrdiff_t)strlen(want), "%s: %td", in, n);
	cr_expect(memcmp(out, want, (size_t)n) == 0, "%s", in);
	cr_expect_leq((size_t)n, tf_base64_decoded_max(strlen(in)));
}

static void dec_bad(const char *in, size_t n)
{
	uint8_t out[128];

	cr_expect_eq(tf_base64_decode(in, n, out, sizeof(out)), -EINVAL, "%.*s", (int)n, in);
}

/* RFC 4648 §10 test vectors. */
Test(base64, rfc4648_vectors)
{
	static const char *const v[][2] = {
		{ "", "" },           { "f", "Zg==" },        { "fo", "Zm8=" },
		{ "foo", "Zm9v" },    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		enc_is(v[i][0], v[i][1]);
		dec_is(v[i][1], v[i][0]);
	}
}

Test(base64, bedrock_chunk_bytes)
{
	/* The "bytes" of the final chunk quoted in WIRE.md §1.6 (prefix). */
	dec_is("eyJ0eXBlIjoibWVzc2FnZV9zdG9wIiwi", "{\"type\":\"message_stop\",\"");
}

Test(base64, all_byte_values_round_trip)
{
	uint8_t in[256], back[256];
	char enc[400];
	size_t len;

	for (size_t i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	for (len = 0; len <= 256; len++) {
		ptrdiff_t e = tf_base64_encode(in, len, enc, sizeof(enc)), d;

		cr_assert_eq((size_t)e, tf_base64_encoded_len(len));
		d = tf_base64_decode(enc, (size_t)e, back, sizeof(back));
		cr_assert_eq((size_t)d, len);
		cr_assert(memcmp(in, back, len) == 0);
	}
	/* '+' and '/' both appear. */
	cr_expect_eq(tf_base64_encode("\xfb\xff", 2, enc, sizeof(enc)), 4);
	cr_expect(memcmp(enc, "+/8=", 4) == 0);
}

Test(base64, strict_rejects)
{
	dec_bad("Zg=", 3);      /* length not a multiple of 4 */
	dec_bad("Zg", 2);       /* missing padding */
	dec_bad("Zm9", 3);
	dec_bad("Z===", 4);     /* three '=' */
	dec_bad("====", 4);
	dec_bad("Zg==Zg==", 8); /* padding in the middle */
	dec_bad("Z=g=", 4);
	dec_bad("Zm 9v", 5);
	dec_bad("Zm9v\n", 5);
	dec_bad("Zm9v\r\nZm9v", 10);
	dec_bad(" Zm9", 4);
	dec_bad("Zm9-", 4);     /* base64url alphabet */
	dec_bad("Zm9_", 4);
	dec_bad("Zm\x009", 4);
	dec_bad("Zh==", 4);     /* non-zero pad bits */
	dec_bad("Zm9=", 4);
	dec_bad("\xff\xff\xff\xff", 4);
}

Test(base64, output_bounds)
{
	uint8_t out[8];
	char enc[8];

	memset(out, 0xaa, sizeof(out));
	cr_expect_eq(tf_base64_decode("Zm9vYmFy", 8, out, 5), -ENOBUFS);
	cr_expect_eq(out[0], 0xaa); /* nothing written */
	cr_expect_eq(tf_base64_decode("Zm9vYmE=", 8, out, 5), 5);
	cr_expect_eq(tf_base64_decode("", 0, NULL, 0), 0);
	cr_expect_eq(tf_base64_encode("foo", 3, enc, 3), -ENOBUFS);
	cr_expect_eq(tf_base64_encode("foo", 3, enc, 4), 4);
	cr_expect_eq(tf_base64_encoded_len(SIZE_MAX), SIZE_MAX);
}

Test(base64, guard_page)
{
	static const char in[] = "eyJhIjoxfQ==";
	uint8_t out[16];
	size_t maplen;
	void *map;
	char *g = (char *)tf_test_guard_copy(in, strlen(in), &map, &maplen);

	cr_expect_eq(tf_base64_decode(g, strlen(in), out, sizeof(out)), 7);
	cr_expect(memcmp(out, "{\"a\":1}", 7) == 0);
	/* A bad last byte right at the page end. */
	g[strlen(in) - 1] = '!';
	cr_expect_eq(tf_base64_decode(g, strlen(in), out, sizeof(out)), -EINVAL);
	tf_test_guard_free(map, maplen);
}

/* Every length into an output of exactly the decoded size that ends at a
 * PROT_NONE page (the decoder stores 4 bytes for 3), and a bad character
 * at every position refused. */
Test(base64, exact_output_before_guard_page)
{
	uint8_t in[200];
	char enc[280];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(in); len++) {
		ptrdiff_t e = tf_base64_encode(in, len, enc, sizeof(enc));
		size_t maplen;
		void *map;
		uint8_t *out = tf_test_guard_copy(in, len, &map, &maplen);

		memset(out, 0, len);
		cr_assert_eq(tf_base64_decode(enc, (size_t)e, out, len), (ptrdiff_t)len);
		cr_assert(memcmp(out, in, len) == 0, "%zu", len);
		for (ptrdiff_t k = 0; k < e; k++) {
			char c = enc[k];

			if (c == '=')
				continue;
			enc[k] = '!';
			cr_assert_eq(tf_base64_decode(enc, (size_t)e, out, len), -EINVAL, "%zu %td", len, k);
			enc[k] = c;
		}
		tf_test_guard_free(map, maplen);
	}
}

Test(base64, encode_buf)
{
	tf_buf b;

	tf_buf_init(&b, 10);
	cr_expect_eq(tf_base64_encode_buf(&b, "foobar", 6), 0);
	cr_expect(b.len == 8 && memcmp(b.data, "Zm9vYmFy", 8) == 0);
	cr_expect_eq(tf_base64_encode_buf(&b, "f", 1), -ENOBUFS);
	cr_expect_eq(b.len, 8);
	tf_buf_free(&b);
}
