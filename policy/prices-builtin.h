/*
 * The shipped price table (policy/prices.json), embedded by the build
 * (tools/embed-file.py writes prices-builtin.c). Private to prices.c.
 */
#ifndef TF_PRICES_BUILTIN_H
#define TF_PRICES_BUILTIN_H

#include <stddef.h>

extern const char tf_prices_builtin[];
extern const size_t tf_prices_builtin_len;

#endif
