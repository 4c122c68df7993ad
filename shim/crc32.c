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
 * Linux's arch/x86/crypto/crc32-pclmul_asm.S. X is then reduced to the
 * 32-bit register, and the last n % 16 bytes go through zlib.
 */
__attribute__((target("pclmul,sse2"))) static uint32_t clmul_crc(uint32_t crc, const uint8_t *p,
								  size_t n)
{
	const __m128i k = _mm_set_epi64x(INT64_C(0x0ccaa009e), INT64_C(0x1751997d0));
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);

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
	/* 128 -> 64 bits (k4), 64 -> 32 (k5), then Barrett with P and its
	 * quotient u, the same paper's constants: the register after X. */
	{
		const __m128i k5 = _mm_set_epi64x(0, INT64_C(0x163cd6124));
		const __m128i pu = _mm_set_epi64x(INT64_C(0x1f7011641), INT64_C(0x1db710641));
		const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
		__m128i t;

		x = _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x10), _mm_srli_si128(x, 8));
		t = _mm_srli_si128(x, 4);
		x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), k5, 0x00), t);
		t = x;
		x = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x, mask32), pu, 0x10), mask32);
		x = _mm_xor_si128(_mm_clmulepi64_si128(x, pu, 0x00), t);
		crc = ~(uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(x, 4));
	}
	return n ? zlib_crc(crc, p, n) : crc;
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
