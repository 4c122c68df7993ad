#include "glob.h"

#include <string.h>

#include "ascii.h"

/*
 * The classic two-pointer matcher: on a mismatch, go back to the last '*'
 * and let it swallow one more character. Only the last star matters because
 * an earlier star can never need to match more once a later one has matched.
 */
bool tf_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
	size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;

	while (i < slen) {
		if (p < plen && pat[p] == '*') {
			star_p = p++;
			star_i = i;
		} else if (p < plen && (pat[p] == '?' ||
					tf_ascii_lower((unsigned char)pat[p]) == tf_ascii_lower((unsigned char)s[i]))) {
			p++;
			i++;
		} else if (star_p != (size_t)-1) {
			p = star_p + 1;
			i = ++star_i;
		} else {
			return false;
		}
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}

bool tf_glob_match_str(const char *pat, const char *s)
{
	return tf_glob_match(pat, strlen(pat), s, strlen(s));
}
