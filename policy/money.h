/*
 * Money as an exact integer: tf_money counts pico-dollars (1e-12 USD).
 *
 * Prices are quoted in USD per 1M tokens with at most six decimals, so a
 * per-token price is a whole number of pico-dollars and a call's cost
 * (tokens x price) is exact: totals never drift, and "matches the bill to
 * the micro-dollar" holds by construction. Floats are never accumulated.
 * The range is +-9.2 million USD; arithmetic saturates at TF_MONEY_MAX
 * instead of wrapping, and config rejects budgets beyond TF_MONEY_MAX_USD.
 */
#ifndef TF_MONEY_H
#define TF_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t tf_money;

#define TF_MONEY_MAX INT64_MAX
#define TF_MONEY_PER_USD INT64_C(1000000000000)
#define TF_MONEY_PER_MICRO_USD INT64_C(1000000)
#define TF_MONEY_MAX_USD INT64_C(9000000)

/* Saturating arithmetic on non-negative amounts. */
tf_money tf_money_add(tf_money a, tf_money b);
tf_money tf_money_sub_floor0(tf_money a, tf_money b);
/* tokens x per-token price, saturating. */
tf_money tf_money_mul(uint64_t tokens, tf_money per_token);

/*
 * Parses a plain decimal USD amount ("3", "0.45"; signs and exponents are
 * refused) exactly; returns 0, -EINVAL, or -ERANGE past TF_MONEY_MAX_USD.
 */
int tf_money_parse_usd(const char *s, size_t n, tf_money *out);
/* "USD per 1M tokens" -> pico-dollars per token (exact for <= 6 decimals). */
int tf_money_parse_per_mtok(const char *s, size_t n, tf_money *out);

/* Formats as USD with 6 decimals ("0.001234"); returns snprintf's result. */
int tf_money_format(tf_money m, char *out, size_t outlen);
/* Nearest double in USD, for display and JSON only; never fed back into sums. */
double tf_money_to_usd(tf_money m);

#endif
