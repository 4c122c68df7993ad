/*
 * SHA-256 against the FIPS 180-4 example vectors (NIST CSRC "Examples with
 * Intermediate Values": SHA256.pdf, SHA2_Additional.pdf), HMAC-SHA256 against
 * RFC 4231 section 4, and both against OpenSSL's libcrypto on random inputs
 * fed in random pieces.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sha256.h"

static void hex_of(const uint8_t *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void check_sha(const void *p, size_t n, const char *want)
{
	uint8_t d[TF_SHA256_LEN];
	char hex[TF_SHA256_HEX_LEN + 1];

	tf_sha256(p, n, d);
	tf_sha256_hex(d, hex);
	cr_assert_str_eq(hex, want);
}

Test(sha256, fips_180_4_examples)
{
	/* FIPS 180-4 examples: one block, two blocks. */
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* The empty message (SHA2_Additional.pdf #1, and the SigV4 empty payload). */
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* The 896-bit message of the FIPS 180-2 appendix. */
	check_sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		  "klmnopqrlmnopqrsmnopqrstnopqrstu", 112,
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, one_million_a_in_odd_pieces)
{
	/* FIPS 180-2 appendix B.3: one million repetitions of 'a'. */
	char a[997];
	tf_sha256_ctx c;
	uint8_t d[TF_SHA256_LEN];
	char hex[TF_SHA256_HEX_LEN + 1];
	size_t left = 1000000;

	memset(a, 'a', sizeof(a));
	tf_sha256_init(&c);
	while (left) {
		size_t n = left < sizeof(a) ? left : sizeof(a);

		tf_sha256_update(&c, a, n);
		left -= n;
	}
	tf_sha256_final(&c, d);
	tf_sha256_hex(d, hex);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, every_split_point_and_length_around_padding)
{
	uint8_t msg[200], want[TF_SHA256_LEN], got[TF_SHA256_LEN];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	/* Lengths 0..199 cross the 55/56/63/64-byte padding edges. */
	for (size_t len = 0; len < sizeof(msg); len++) {
		SHA256(msg, len, want);
		for (size_t cut = 0; cut <= len; cut++) {
			tf_sha256_ctx c;

			tf_sha256_init(&c);
			tf_sha256_update(&c, msg, cut);
			tf_sha256_update(&c, msg + cut, len - cut);
			tf_sha256_final(&c, got);
			cr_assert(memcmp(got, want, sizeof(want)) == 0, "len %zu cut %zu", len, cut);
		}
	}
}

Test(sha256, input_ending_at_a_guard_page)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	uint8_t want[TF_SHA256_LEN], got[TF_SHA256_LEN];

	cr_assert(map != MAP_FAILED);
	cr_assert_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t len = 0; len <= 130; len++) {
		uint8_t *p = map + pg - len;

		memset(p, 'q', len);
		SHA256(p, len, want);
		tf_sha256(p, len, got);
		cr_assert(memcmp(got, want, sizeof(want)) == 0);
	}
	munmap(map, (size_t)pg * 2);
}

struct hmac_vec {
	uint8_t key[131];
	size_t key_len;
	uint8_t data[160];
	size_t data_len;
	char mac[65];
	size_t mac_len; /* bytes compared (test case 5 is truncated to 128 bits) */
};

static void fill(uint8_t *p, uint8_t v, size_t n)
{
	memset(p, v, n);
}

Test(hmac_sha256, rfc4231_test_cases)
{
	static struct hmac_vec v[7];
	uint8_t out[TF_SHA256_LEN];
	char hex[65];
	static const char *tc7 = "This is a test using a larger than block-size key and a larger than "
				 "block-size data. The key needs to be hashed before being used by "
				 "the HMAC algorithm.";

	/* RFC 4231 section 4.2 .. 4.8. */
	fill(v[0].key, 0x0b, v[0].key_len = 20);
	memcpy(v[0].data, "Hi There", v[0].data_len = 8);
	strcpy(v[0].mac, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	memcpy(v[1].key, "Jefe", v[1].key_len = 4);
	memcpy(v[1].data, "what do ya want for nothing?", v[1].data_len = 28);
	strcpy(v[1].mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	fill(v[2].key, 0xaa, v[2].key_len = 20);
	fill(v[2].data, 0xdd, v[2].data_len = 50);
	strcpy(v[2].mac, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	for (int i = 0; i < 25; i++)
		v[3].key[i] = (uint8_t)(i + 1);
	v[3].key_len = 25;
	fill(v[3].data, 0xcd, v[3].data_len = 50);
	strcpy(v[3].mac, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	fill(v[4].key, 0x0c, v[4].key_len = 20);
	memcpy(v[4].data, "Test With Truncation", v[4].data_len = 20);
	strcpy(v[4].mac, "a3b6167473100ee06e0c796c2955552b");
	fill(v[5].key, 0xaa, v[5].key_len = 131);
	memcpy(v[5].data, "Test Using Larger Than Block-Size Key - Hash Key First",
	       v[5].data_len = 54);
	strcpy(v[5].mac, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	fill(v[6].key, 0xaa, v[6].key_len = 131);
	memcpy(v[6].data, tc7, v[6].data_len = strlen(tc7));
	strcpy(v[6].mac, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");

	for (int i = 0; i < 7; i++) {
		size_t cmp = strlen(v[i].mac) / 2;

		tf_hmac_sha256(v[i].key, v[i].key_len, v[i].data, v[i].data_len, out);
		hex_of(out, cmp, hex);
		cr_assert_str_eq(hex, v[i].mac, "RFC 4231 test case %d", i + 1);
	}
}

Test(hmac_sha256, streaming_matches_libcrypto_on_random_input)
{
	uint8_t key[200], msg[600], want[TF_SHA256_LEN], got[TF_SHA256_LEN];
	unsigned int wl = 0;

	srand(4231);
	for (int round = 0; round < 300; round++) {
		size_t kl = (size_t)rand() % sizeof(key), ml = (size_t)rand() % sizeof(msg), off = 0;
		tf_hmac_sha256_ctx c;

		for (size_t i = 0; i < kl; i++)
			key[i] = (uint8_t)rand();
		for (size_t i = 0; i < ml; i++)
			msg[i] = (uint8_t)rand();
		HMAC(EVP_sha256(), key, (int)kl, msg, ml, want, &wl);
		tf_hmac_sha256_init(&c, key, kl);
		while (off < ml) {
			size_t n = 1 + (size_t)rand() % 97;

			if (n > ml - off)
				n = ml - off;
			tf_hmac_sha256_update(&c, msg + off, n);
			off += n;
		}
		tf_hmac_sha256_final(&c, got);
		cr_assert_eq(wl, TF_SHA256_LEN);
		cr_assert(memcmp(got, want, sizeof(got)) == 0, "round %d", round);
	}
}

Test(ct_equal, compares_all_bytes)
{
	cr_assert(tf_ct_equal("abcd", "abcd", 4));
	cr_assert(!tf_ct_equal("abcd", "abce", 4));
	cr_assert(!tf_ct_equal("xbcd", "abcd", 4));
	cr_assert(tf_ct_equal("", "", 0));
}
