#ifndef TF_CRC32_H
#define TF_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32 (IEEE 802.3, reflected, as zlib's crc32()) of p[0..n), continuing
 * from crc (0 to start): tf_crc32(crc, p, n) == crc32(crc, p, n) for every
 * input. Reads exactly p[0..n). Where the CPU has carry-less multiply
 * (PCLMULQDQ, checked once at run time), inputs of 32 bytes and more are
 * folded 16 bytes at a time; the last n % 16 bytes, shorter inputs and
 * other CPUs use zlib.
 */
uint32_t tf_crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
