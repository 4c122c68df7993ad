#include "crc32.h"

#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TF_CRC_CLMUL 1
#include <cpuid.h>
#include <emmintrin.h>
#include <wmmintrin.h>
#endif

/* Below this, zlib's table-driven CRC costs less than the folding setup. */
#define CLMUL_MIN 32

/* Lengths here are capped far below 4 GiB, so zlib's uInt is enough. */
static uint32_t zlib_crc(uint32_t crc, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc, p, (uInt)n);
}

#ifdef TF_CRC_CLMUL
/*
 * The CRC register s (zlib's crc, inverted) XORed into the first 16 bytes
 * makes the rest a plain polynomial remainder, so each further 16 bytes fold
 * in as X = X.lo * (x^(128+32) mod P) ^ X.hi * (x^(128-32) mod P) ^ next,
 * bit-reflected: the constants are those of Intel's "Fast CRC Computation
 * for Generic Polynomials Using PCLMULQDQ" (2009), k3 and k4, as also used by
 * Linux's arch/x86/crypto/crc32-pclmul_asm.S. The 16 bytes left in X then
 * go through zlib with the register reset, which is the same remainder.
 */
__attribute__((target("pclmul,sse2"))) static uint32_t clmul_crc(uint32_t crc, const uint8_t *p,
								  size_t n)
{
	const __m128i k = _mm_set_epi64x(INT64_C(0x0ccaa009e), INT64_C(0x1751997d0));
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	uint8_t rest[16];

	x = _mm_xor_si128(x, _mm_cvtsi32_si128((int)~crc));
	p += 16;
	n -= 16;
	while (n >= 16) {
		__m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
		__m128i hi = _mm_clmulepi64_si128(x, k, 0x11);

		x = _mm_xor_si128(_mm_xor_si128(lo, hi),
				  _mm_loadu_si128((const __m128i *)(const void *)p));
		p += 16;
		n -= 16;
	}
	_mm_storeu_si128((__m128i *)(void *)rest, x);
	return zlib_crc(zlib_crc(0xffffffffu, rest, 16), p, n);
}

static int has_clmul(void)
{
	/* 0 unknown, 1 yes, -1 no; a race only asks CPUID twice. */
	static int known;
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
	unsigned a, b, c, d;

	if (v == 0) {
		v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL) && (d & bit_SSE2) ? 1 : -1;
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v > 0;
}
#endif

uint32_t tf_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
#ifdef TF_CRC_CLMUL
	if (n >= CLMUL_MIN && has_clmul())
		return clmul_crc(crc, p, n);
#endif
	return zlib_crc(crc, p, n);
}
