/*
 * Case-insensitive glob matching over byte spans: '*' matches any run of
 * characters (':' and '.' included, as IAM does), '?' matches one character,
 * everything else matches itself ignoring ASCII case. No escapes, no classes.
 * Runs in O(len(pattern) * len(text)) time at worst and never allocates.
 */
#ifndef TF_GLOB_H
#define TF_GLOB_H

#include <stdbool.h>
#include <stddef.h>

bool tf_glob_match(const char *pat, size_t plen, const char *s, size_t slen);
bool tf_glob_match_str(const char *pat, const char *s);

#endif
