#include "money.h"

#include <errno.h>
#include <stdio.h>

tf_money tf_money_add(tf_money a, tf_money b)
{
	tf_money r;

	if (__builtin_add_overflow(a, b, &r))
		return (a > 0) ? TF_MONEY_MAX : INT64_MIN;
	return r;
}

tf_money tf_money_sub_floor0(tf_money a, tf_money b)
{
	return a > b ? a - b : 0;
}

tf_money tf_money_mul(uint64_t tokens, tf_money per_token)
{
	tf_money r;

	if (per_token <= 0 || tokens == 0)
		return 0;
	if (tokens > (uint64_t)INT64_MAX || __builtin_mul_overflow((int64_t)tokens, per_token, &r))
		return TF_MONEY_MAX;
	return r;
}

/*
 * Parses [digits][.digits] into an integer scaled by 10^scale. Exponents,
 * signs and more fractional digits than `scale` are refused: prices and
 * budgets are written by people, and a silently rounded cap is a wrong cap.
 */
static int parse_scaled(const char *s, size_t n, int scale, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;
	int frac = -1, digits = 0;

	for (; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (frac >= 0)
				return -EINVAL;
			frac = 0;
			continue;
		}
		if (c < '0' || c > '9')
			return -EINVAL;
		if (frac >= 0 && ++frac > scale) {
			if (c != '0')
				return -EINVAL;
			continue;
		}
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
			return -ERANGE;
		digits++;
	}
	if (digits == 0)
		return -EINVAL;
	for (int k = frac < 0 ? 0 : (frac > scale ? scale : frac); k < scale; k++)
		if (__builtin_mul_overflow(v, 10, &v))
			return -ERANGE;
	*out = v;
	return 0;
}

int tf_money_parse_usd(const char *s, size_t n, tf_money *out)
{
	int64_t v;
	int r = parse_scaled(s, n, 12, &v);

	if (r < 0)
		return r;
	if (v > TF_MONEY_MAX_USD * TF_MONEY_PER_USD)
		return -ERANGE;
	*out = v;
	return 0;
}

int tf_money_parse_per_mtok(const char *s, size_t n, tf_money *out)
{
	/* USD per 1e6 tokens x 1e12 pico per USD / 1e6 = 1e6 x USD/Mtok. */
	return parse_scaled(s, n, 6, out);
}

int tf_money_format(tf_money m, char *out, size_t outlen)
{
	/* Round half up to the micro-dollar. */
	int64_t micro = m / TF_MONEY_PER_MICRO_USD;
	int64_t rem = m % TF_MONEY_PER_MICRO_USD;
	const char *sign = "";

	if (m < 0) {
		sign = "-";
		micro = -micro;
		rem = -rem;
	}
	if (rem * 2 >= TF_MONEY_PER_MICRO_USD)
		micro++;
	return snprintf(out, outlen, "%s%lld.%06lld", sign, (long long)(micro / 1000000),
			(long long)(micro % 1000000));
}

double tf_money_to_usd(tf_money m)
{
	return (double)m / (double)TF_MONEY_PER_USD;
}
