#include <criterion/criterion.h>
#include <stdlib.h>
#include <zlib.h>

#include "crc32.h"
#include "split.h"

/* A small fixed-seed generator: the same inputs on every run. */
static uint32_t next_rand(uint64_t *s)
{
	*s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint32_t)(*s >> 33);
}

static uint32_t zlib_crc(uint32_t c, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(c, p, (uInt)n);
}

/* The published check value of CRC-32/ISO-HDLC (zlib's CRC): "123456789". */
Test(crc32, check_value)
{
	cr_expect_eq(tf_crc32(0, (const uint8_t *)"123456789", 9), 0xcbf43926u);
	cr_expect_eq(tf_crc32(0, NULL, 0), 0u);
}

/* Every length up to 600 at every alignment, from 0 and random start values. */
Test(crc32, same_as_zlib_every_length_and_alignment)
{
	uint8_t buf[640];
	uint64_t s = 42;

	for (int round = 0; round < 8; round++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)next_rand(&s);
		for (size_t a = 0; a < 16; a++)
			for (size_t n = 0; a + n <= 600; n++) {
				uint32_t c = round == 0 ? 0 : next_rand(&s);

				cr_assert_eq(tf_crc32(c, buf + a, n), zlib_crc(c, buf + a, n),
					     "round %d align %zu len %zu", round, a, n);
			}
	}
}

/* All ones and all zeros, where a folding constant error would show. */
Test(crc32, same_as_zlib_constant_bytes)
{
	uint8_t buf[300];

	for (int v = 0; v < 256; v += 255) {
		memset(buf, v, sizeof(buf));
		for (size_t n = 0; n <= sizeof(buf); n++)
			cr_assert_eq(tf_crc32(0xffffffffu, buf, n), zlib_crc(0xffffffffu, buf, n),
				     "byte %d len %zu", v, n);
	}
}

/* Continuing over any split gives the CRC of the whole. */
Test(crc32, split_continues)
{
	uint8_t buf[200];
	uint64_t s = 7;
	uint32_t whole;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)next_rand(&s);
	whole = zlib_crc(0, buf, sizeof(buf));
	for (size_t k = 0; k <= sizeof(buf); k++)
		cr_assert_eq(tf_crc32(tf_crc32(0, buf, k), buf + k, sizeof(buf) - k), whole, "%zu", k);
}

/* Never reads past the end: inputs end right before a PROT_NONE page. */
Test(crc32, guard_page)
{
	uint8_t src[100];
	uint64_t s = 9;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)next_rand(&s);
	for (size_t n = 0; n <= sizeof(src); n++) {
		void *map;
		size_t maplen;
		uint8_t *g = tf_test_guard_copy(src, n, &map, &maplen);

		cr_assert_eq(tf_crc32(0, g, n), zlib_crc(0, src, n), "%zu", n);
		tf_test_guard_free(map, maplen);
	}
}
