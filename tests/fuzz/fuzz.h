/*
 * Shared bits of the libFuzzer harnesses: invariant checks that abort (so
 * libFuzzer and the replay driver both report them), and cut points derived
 * from a seed byte so that "fed whole" and "fed in pieces" can be compared.
 * Each piece is copied into its own exact-size heap block, so ASan sees a
 * read past the end of any piece, not only past the end of the input.
 */
#ifndef TF_FUZZ_H
#define TF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define FUZZ_MAX_CUTS 16
/* Inputs up to this size are also fed one byte at a time. */
#define FUZZ_BYTEWISE_MAX 512

typedef struct fuzz_cuts {
	size_t n;
	size_t at[FUZZ_MAX_CUTS];
} fuzz_cuts;

/* Up to FUZZ_MAX_CUTS sorted cut points in (0, len), chosen by seed. */
static inline void fuzz_make_cuts(fuzz_cuts *c, uint8_t seed, size_t len)
{
	uint32_t x = (uint32_t)seed * 2654435761u + (uint32_t)len + 1;
	size_t want, i, j;

	c->n = 0;
	if (len < 2)
		return;
	want = 1 + seed % FUZZ_MAX_CUTS;
	for (i = 0; i < want; i++) {
		size_t at;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		at = 1 + x % (len - 1);
		for (j = c->n; j > 0 && c->at[j - 1] > at; j--)
			c->at[j] = c->at[j - 1];
		c->at[j] = at;
		c->n++;
	}
}

/* Copies a piece into its own heap block of exactly n bytes. */
static inline uint8_t *fuzz_piece(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	FUZZ_CHECK(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

/*
 * Calls feed(state, piece, len) for the pieces the cuts define; stops when
 * feed returns false. cuts == NULL and bytewise == false: one piece.
 */
typedef int (*fuzz_feed_fn)(void *state, const uint8_t *p, size_t n);

static inline void fuzz_feed_pieces(void *state, fuzz_feed_fn feed, const uint8_t *data, size_t size,
				    const fuzz_cuts *cuts, int bytewise)
{
	size_t start = 0, k = 0;

	while (start < size) {
		size_t end = bytewise ? start + 1 : (cuts && k < cuts->n ? cuts->at[k++] : size);
		uint8_t *c;
		int more;

		if (end <= start)
			continue;
		c = fuzz_piece(data + start, end - start);
		more = feed(state, c, end - start);
		free(c);
		start = end;
		if (!more)
			break;
	}
}

static inline void fuzz_expect_same(const tf_buf *a, const tf_buf *b, const char *what)
{
	if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len) != 0)) {
		fprintf(stderr, "%s differs from the whole-input run:\n--- whole\n%.*s\n--- %s\n%.*s\n",
			what, (int)a->len, (const char *)a->data, what, (int)b->len,
			(const char *)b->data);
		abort();
	}
}

#endif
