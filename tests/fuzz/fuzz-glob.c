/*
 * libFuzzer harness for tf_glob_match and the rule matcher's ':'-boundary
 * prefix rule, checked against a memoised recursive reference matcher.
 *
 * Input: pattern bytes, a 0 byte, text bytes (no 0 byte: the pattern is the
 * whole input and the text is empty). Longer parts are cut so the memo table
 * stays small.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXP 64
#define MAXS 256

static signed char memo[MAXP + 1][MAXS + 2];

static unsigned char low(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static unsigned char up(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

/* The definition, spelled out: does p[i..pn) match s[j..sn)? */
static bool ref_at(const char *p, size_t pn, size_t i, const char *s, size_t sn, size_t j)
{
	signed char *m = &memo[i][j];
	bool r;

	if (*m >= 0)
		return *m;
	if (i == pn)
		r = (j == sn);
	else if (p[i] == '*')
		r = ref_at(p, pn, i + 1, s, sn, j) || (j < sn && ref_at(p, pn, i, s, sn, j + 1));
	else if (j < sn && (p[i] == '?' || low((unsigned char)p[i]) == low((unsigned char)s[j])))
		r = ref_at(p, pn, i + 1, s, sn, j + 1);
	else
		r = false;
	*m = (signed char)r;
	return r;
}

static bool ref(const char *p, size_t pn, const char *s, size_t sn)
{
	memset(memo, -1, sizeof(memo));
	return ref_at(p, pn, 0, s, sn, 0);
}

/* The prefix rule, spelled out: the whole action or a prefix ending right
 * before a ':'. */
static bool ref_rule(const char *p, size_t pn, const char *s, size_t sn)
{
	if (ref(p, pn, s, sn))
		return true;
	for (size_t k = 0; k < sn; k++) {
		if (s[k] == ':' && ref(p, pn, s, k))
			return true;
	}
	return false;
}

static bool has_wild(const char *p, size_t n)
{
	return memchr(p, '*', n) || memchr(p, '?', n);
}

static void check(bool cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t pn = nul ? (size_t)(nul - data) : size;
	size_t sn = nul ? size - pn - 1 : 0;
	/* s is zeroed: gcc -O2 cannot tell that sn == 0 when there is no 0 byte. */
	char p[MAXP], s[MAXS + 1] = { 0 }, alt[MAXP + 2];
	bool m;

	if (pn > MAXP)
		pn = MAXP;
	if (sn > MAXS - 1)
		sn = MAXS - 1;
	memcpy(p, data, pn);
	if (nul)
		memcpy(s, nul + 1, sn);

	m = tf_glob_match(p, pn, s, sn);
	check(m == ref(p, pn, s, sn));

	/* Case never matters, on either side. */
	for (size_t i = 0; i < sn; i++)
		s[i] = (char)up((unsigned char)s[i]);
	check(tf_glob_match(p, pn, s, sn) == m);
	for (size_t i = 0; i < pn; i++)
		alt[i] = (char)low((unsigned char)p[i]);
	check(tf_glob_match(alt, pn, s, sn) == m);

	/* Without wildcards, matching is equality ignoring case. */
	if (!has_wild(p, pn))
		check(m == (pn == sn && strncasecmp(p, s, pn) == 0));

	/* Wrapping in stars only widens. */
	if (pn + 2 <= sizeof(alt)) {
		alt[0] = '*';
		memcpy(alt + 1, p, pn);
		alt[pn + 1] = '*';
		check(!m || tf_glob_match(alt, pn + 2, s, sn));
	}

	/* The rule matcher is the glob plus the ':'-boundary prefix rule, and
	 * a matched action still matches once extended at a ':'. */
	check(tf_rule_matches(p, pn, s, sn) == ref_rule(p, pn, s, sn));
	if (m) {
		s[sn] = ':';
		check(tf_rule_matches(p, pn, s, sn + 1));
	}
	return 0;
}
