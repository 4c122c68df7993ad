#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "money.h"

static tf_money usd(const char *s)
{
	tf_money m = -1;
	cr_assert_eq(tf_money_parse_usd(s, strlen(s), &m), 0, "%s", s);
	return m;
}

static tf_money mtok(const char *s)
{
	tf_money m = -1;
	cr_assert_eq(tf_money_parse_per_mtok(s, strlen(s), &m), 0, "%s", s);
	return m;
}

Test(money, parse_exact)
{
	cr_expect_eq(usd("3"), 3 * TF_MONEY_PER_USD);
	cr_expect_eq(usd("0.45"), 450000000000);
	cr_expect_eq(usd(".5"), 500000000000);
	cr_expect_eq(mtok("0.035"), 35000);
	cr_expect_eq(mtok("60"), 60000000);
	cr_expect_eq(mtok("2.50"), 2500000);
	cr_expect_eq(mtok("0.0000010"), 1);
}

Test(money, parse_refuses_what_would_round)
{
	tf_money m;

	cr_expect_eq(tf_money_parse_per_mtok("0.0000001", 9, &m), -EINVAL);
	cr_expect_eq(tf_money_parse_usd("1e3", 3, &m), -EINVAL);
	cr_expect_eq(tf_money_parse_usd("-1", 2, &m), -EINVAL);
	cr_expect_eq(tf_money_parse_usd("", 0, &m), -EINVAL);
	cr_expect_eq(tf_money_parse_usd("1.2.3", 5, &m), -EINVAL);
	cr_expect_eq(tf_money_parse_usd("9000001", 7, &m), -ERANGE);
	cr_expect_eq(tf_money_parse_usd("99999999999999999999", 20, &m), -ERANGE);
}

Test(money, cost_is_exact_and_saturates)
{
	/* 1,234 input tokens of Claude 3.5 Sonnet ($3/M) = $0.003702 exactly. */
	char s[32];

	tf_money c = tf_money_mul(1234, mtok("3"));
	tf_money_format(c, s, sizeof(s));
	cr_expect_str_eq(s, "0.003702");
	cr_expect_eq(tf_money_mul(UINT64_MAX, 1), TF_MONEY_MAX);
	cr_expect_eq(tf_money_add(TF_MONEY_MAX, 1), TF_MONEY_MAX);
	cr_expect_eq(tf_money_sub_floor0(1, 5), 0);
}

Test(money, format_rounds_half_up)
{
	char s[32];

	tf_money_format(499999, s, sizeof(s));
	cr_expect_str_eq(s, "0.000000");
	tf_money_format(500000, s, sizeof(s));
	cr_expect_str_eq(s, "0.000001");
	tf_money_format(usd("1234.5"), s, sizeof(s));
	cr_expect_str_eq(s, "1234.500000");
}
