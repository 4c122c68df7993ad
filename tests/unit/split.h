/*
 * Test helper for incremental parsers: runs one input whole, byte by byte,
 * cut in two at every split point, and (whole and byte by byte) placed so
 * that its last byte sits right before a PROT_NONE page, and checks that each
 * way produces the same log as expected.
 *
 * Inputs over TF_TEST_ALL_SPLITS_MAX bytes are cut at about that many evenly
 * spaced points instead of all of them (the runs are quadratic otherwise).
 *
 * A runner feeds in[0..n) to a fresh parser in the pieces that the sorted cut
 * offsets define (ncuts == 0: one piece) and appends a textual record of
 * everything the parser reported to log.
 */
#ifndef TF_TEST_SPLIT_H
#define TF_TEST_SPLIT_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"

#define TF_TEST_ALL_SPLITS_MAX 1024

typedef void (*tf_test_runner)(void *arg, const uint8_t *in, size_t n, const size_t *cuts,
			       size_t ncuts, tf_buf *log);

/* A copy of p[0..n) whose last byte is the last one before a PROT_NONE page. */
static inline uint8_t *tf_test_guard_copy(const void *p, size_t n, void **map, size_t *maplen)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), data = (n + pg - 1) / pg * pg;
	uint8_t *m;

	if (data == 0)
		data = pg;
	*maplen = data + pg;
	m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(m != MAP_FAILED);
	cr_assert_eq(mprotect(m + data, pg, PROT_NONE), 0);
	*map = m;
	if (n)
		memcpy(m + data - n, p, n);
	return m + data - n;
}

static inline void tf_test_guard_free(void *map, size_t maplen)
{
	munmap(map, maplen);
}

static inline char *tf_test_run(tf_test_runner fn, void *arg, const uint8_t *in, size_t n,
				const size_t *cuts, size_t ncuts)
{
	tf_buf log;
	char *s;

	tf_buf_init(&log, 0);
	fn(arg, in, n, cuts, ncuts, &log);
	cr_assert_eq(tf_buf_append(&log, "", 1), 0);
	s = (char *)log.data;
	return s;
}

static inline void tf_test_expect_log(const char *what, const char *got, const char *want)
{
	cr_assert_str_eq(got, want, "%s:\n--- got\n%s\n--- want\n%s", what, got, want);
}

/* Runs every way and compares with want (want == NULL: with the whole run). */
static inline void tf_test_splits(tf_test_runner fn, void *arg, const void *input, size_t n,
				  const char *want)
{
	const uint8_t *in = input;
	size_t *cuts = calloc(n ? n : 1, sizeof(size_t)), k, maplen;
	size_t step = n > TF_TEST_ALL_SPLITS_MAX ? n / TF_TEST_ALL_SPLITS_MAX : 1;
	char *whole, *got;
	uint8_t *g;
	void *map;

	cr_assert(cuts);
	whole = tf_test_run(fn, arg, in, n, NULL, 0);
	if (want)
		tf_test_expect_log("whole", whole, want);
	for (k = 1; k < n; k++)
		cuts[k - 1] = k;
	got = tf_test_run(fn, arg, in, n, cuts, n ? n - 1 : 0);
	tf_test_expect_log("byte by byte", got, whole);
	free(got);
	for (k = 1; k < n; k += step) {
		char what[64];

		got = tf_test_run(fn, arg, in, n, &k, 1);
		snprintf(what, sizeof(what), "split at %zu", k);
		tf_test_expect_log(what, got, whole);
		free(got);
	}
	g = tf_test_guard_copy(in, n, &map, &maplen);
	got = tf_test_run(fn, arg, g, n, NULL, 0);
	tf_test_expect_log("whole before a guard page", got, whole);
	free(got);
	got = tf_test_run(fn, arg, g, n, cuts, n ? n - 1 : 0);
	tf_test_expect_log("byte by byte before a guard page", got, whole);
	free(got);
	tf_test_guard_free(map, maplen);
	free(whole);
	free(cuts);
}

/*
 * Byte-by-byte feeding of each piece goes through a fresh heap copy of
 * exactly that piece, so ASan catches a read past a piece too.
 */
static inline uint8_t *tf_test_piece(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	cr_assert(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif
