#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "budget.h"

#define USD(x) ((tf_money)((x) * (double)TF_MONEY_PER_USD))
#define CAP 16

/* 2024-01-15 12:00:00 UTC */
#define T_JAN15 INT64_C(1705320000)
#define DAY INT64_C(86400)

static tf_scope_state tab[CAP];
static uint32_t ntab;
static tf_budget_table T = { tab, &ntab, CAP };

static void reset(void)
{
	memset(tab, 0, sizeof(tab));
	ntab = 0;
}

static tf_scope_def def(const char *name, tf_money max_cost, int64_t max_requests)
{
	tf_scope_def d;

	cr_assert_eq(tf_scope_def_init(&d, name), 0);
	d.max_cost = max_cost;
	d.max_requests = max_requests;
	return d;
}

static tf_scope_state *st(const char *name)
{
	int k = tf_budget_find(&T, name);

	cr_assert_geq(k, 0, "%s", name);
	return &tab[k];
}

/* Binds and reserves; returns the reserve result. */
static int reserve(const tf_scope_def *chain, size_t n, tf_money worst, unsigned flags, int64_t now,
		   tf_budget_hold *h, tf_budget_denial *why)
{
	uint16_t idx[TF_BUDGET_CHAIN_MAX];

	cr_assert_eq(tf_budget_bind(&T, chain, n, now, idx), 0);
	return tf_budget_reserve(&T, idx, chain, n, NULL, worst, flags, now, h, why);
}

TestSuite(budget, .init = reset);

Test(budget, all_or_nothing_names_the_first_scope_exceeded)
{
	tf_scope_def c[3] = { def("proc", USD(10), -1), def("team", USD(1), -1),
			      def("org", USD(0.5), -1) };
	tf_budget_hold h;
	tf_budget_denial why;
	char msg[256];

	cr_assert_eq(reserve(c, 3, USD(0.4), 0, T_JAN15, &h, &why), 0);
	cr_assert_eq(reserve(c, 3, USD(0.2), 0, T_JAN15, &h, &why), TF_BUDGET_DENIED);
	cr_expect_str_eq(why.scope, "org");
	cr_expect_eq(why.reason, TF_BUDGET_REASON_COST);
	cr_expect_eq(why.reserved, USD(0.4));
	cr_expect_eq(why.asked, USD(0.2));
	/* Nothing was taken from proc or team by the refused call. */
	cr_expect_eq(st("proc")->reserved, USD(0.4));
	cr_expect_eq(st("team")->reserved, USD(0.4));
	tf_budget_denial_format(&why, msg, sizeof(msg));
	cr_expect(strstr(msg, "budget exceeded") != NULL, "%s", msg);
	cr_expect(strstr(msg, "'org'") != NULL, "%s", msg);
	cr_expect(strstr(msg, "0.500000") != NULL, "%s", msg);

	/* The first failing scope in chain order is the one named. */
	c[1].max_cost = USD(0.5);
	cr_assert_eq(reserve(c, 3, USD(0.2), 0, T_JAN15, &h, &why), TF_BUDGET_DENIED);
	cr_expect_str_eq(why.scope, "team");
}

Test(budget, exact_fit_is_allowed_one_more_pico_is_not)
{
	tf_scope_def c = def("s", 1000, -1);
	tf_budget_hold h1, h2;

	cr_assert_eq(reserve(&c, 1, 600, 0, T_JAN15, &h1, NULL), 0);
	cr_assert_eq(reserve(&c, 1, 401, 0, T_JAN15, &h2, NULL), TF_BUDGET_DENIED);
	cr_assert_eq(reserve(&c, 1, 400, 0, T_JAN15, &h2, NULL), 0);
	cr_expect_eq(st("s")->reserved, 1000);
	cr_assert_eq(tf_budget_settle(&T, &h1, 599, 0, T_JAN15, NULL), 0);
	cr_expect_eq(st("s")->spent + st("s")->reserved, 999);
}

Test(budget, sums_are_exact)
{
	tf_scope_def c[2] = { def("a", -1, -1), def("b", -1, -1) };
	tf_money total = 0;
	uint64_t x = 88172645463325252ull;

	for (int i = 0; i < 10000; i++) {
		tf_budget_hold h;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		tf_money worst = (tf_money)(x % 5000000000ull) + 1;
		tf_money actual = worst - (tf_money)((x >> 20) % (uint64_t)worst);
		cr_assert_eq(reserve(c, 2, worst, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), 0);
		if (i % 3 == 0) {
			cr_assert_eq(tf_budget_release(&T, &h, T_JAN15), 0);
			continue;
		}
		cr_assert_eq(tf_budget_settle(&T, &h, actual, 0, T_JAN15, NULL), 0);
		total += actual;
	}
	cr_expect_eq(st("a")->spent, total);
	cr_expect_eq(st("b")->spent, total);
	cr_expect_eq(st("a")->reserved, 0);
	cr_expect_eq(st("a")->requests, 6666);
	cr_expect_eq(st("a")->reserved_requests, 0);
}

Test(budget, settle_above_reservation_needs_the_flag_and_is_recorded_exactly)
{
	tf_scope_def c = def("s", USD(1), -1);
	tf_budget_hold h;

	cr_assert_eq(reserve(&c, 1, USD(0.9), 0, T_JAN15, &h, NULL), 0);
	cr_expect_eq(tf_budget_settle(&T, &h, USD(0.9) + 1, 0, T_JAN15, NULL), -ERANGE);
	cr_expect_eq(st("s")->reserved, USD(0.9), "a refused settle changes nothing");
	cr_expect_eq(tf_budget_settle(&T, &h, USD(1.2), TF_BUDGET_SETTLE_OVER, T_JAN15, NULL), 0);
	cr_expect_eq(st("s")->spent, USD(1.2));
	cr_expect_eq(st("s")->reserved, 0);
	/* Past the cap: nothing more is admitted, not even zero-cost calls that need room. */
	cr_expect_eq(reserve(&c, 1, 1, 0, T_JAN15, &h, NULL), TF_BUDGET_DENIED);
}

Test(budget, release_gives_everything_back)
{
	tf_scope_def c = def("s", USD(1), 1);
	tf_budget_hold h;

	cr_assert_eq(reserve(&c, 1, USD(1), TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), 0);
	cr_expect_eq(reserve(&c, 1, 0, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), TF_BUDGET_DENIED);
	cr_assert_eq(tf_budget_release(&T, &h, T_JAN15), 0);
	cr_expect_eq(st("s")->reserved, 0);
	cr_expect_eq(st("s")->reserved_requests, 0);
	cr_expect_eq(reserve(&c, 1, USD(1), TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), 0);
}

Test(budget, max_requests_counts_forwarded_requests)
{
	tf_scope_def c = def("s", -1, 2);
	tf_budget_hold h1, h2, h3;
	tf_budget_denial why;

	cr_assert_eq(reserve(&c, 1, 5, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h1, NULL), 0);
	cr_assert_eq(reserve(&c, 1, 5, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h2, NULL), 0);
	cr_assert_eq(reserve(&c, 1, 5, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h3, &why), TF_BUDGET_DENIED);
	cr_expect_eq(why.reason, TF_BUDGET_REASON_REQUESTS);
	cr_expect_eq(why.requests, 2);
	/* A reservation that is not a request (e.g. a re-reserve) is not counted. */
	cr_expect_eq(reserve(&c, 1, 5, 0, T_JAN15, &h3, NULL), 0);
	cr_assert_eq(tf_budget_settle(&T, &h1, 1, 0, T_JAN15, NULL), 0);
	cr_expect_eq(st("s")->requests, 1);
	cr_expect_eq(st("s")->reserved_requests, 1);
}

Test(budget, kill_and_resume)
{
	tf_scope_def c[2] = { def("proc", -1, -1), def("dept", -1, -1) };
	tf_budget_hold h;
	tf_budget_denial why;
	char msg[200];

	cr_assert_eq(reserve(c, 2, 1, 0, T_JAN15, &h, NULL), 0);
	tf_budget_kill(st("dept"), 1);
	cr_expect_eq(reserve(c, 2, 1, 0, T_JAN15, &h, &why), TF_BUDGET_DENIED);
	cr_expect_eq(why.reason, TF_BUDGET_REASON_KILLED);
	cr_expect_str_eq(why.scope, "dept");
	tf_budget_denial_format(&why, msg, sizeof(msg));
	cr_expect(strstr(msg, "budget exceeded") && strstr(msg, "kill switch"), "%s", msg);
	/* A kill survives a new window. */
	c[1].window = TF_WINDOW_DAY;
	cr_expect_eq(reserve(c, 2, 1, 0, T_JAN15 + 3 * DAY, &h, NULL), TF_BUDGET_DENIED);
	tf_budget_kill(st("dept"), 0);
	cr_expect_eq(reserve(c, 2, 1, 0, T_JAN15 + 3 * DAY, &h, NULL), 0);
}

Test(budget, warn_at_once_per_threshold_per_window)
{
	tf_scope_def c = def("s", 100, -1);
	tf_budget_events ev = { 0 };
	tf_budget_hold h;

	c.warn_ppm[0] = 500000;
	c.warn_ppm[1] = 750000;
	c.window = TF_WINDOW_DAY;
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(reserve(&c, 1, 10, 0, T_JAN15, &h, NULL), 0);
		cr_assert_eq(tf_budget_settle(&T, &h, 10, 0, T_JAN15, &ev), 0);
		if (i == 3)
			cr_expect_eq(ev.n, 0, "49%% does not warn"); /* 40 of 100 */
	}
	cr_assert_eq(ev.n, 2);
	cr_expect_eq(ev.warn[0].ppm, 500000);
	cr_expect_eq(ev.warn[0].spent, 50);
	cr_expect_str_eq(ev.warn[0].scope, "s");
	cr_expect_eq(ev.warn[1].ppm, 750000);
	cr_expect_eq(ev.warn[1].spent, 80);

	/* Next day: a new window warns again, once. */
	ev.n = 0;
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(reserve(&c, 1, 10, 0, T_JAN15 + DAY, &h, NULL), 0);
		cr_assert_eq(tf_budget_settle(&T, &h, 10, 0, T_JAN15 + DAY, &ev), 0);
	}
	cr_expect_eq(ev.n, 1);
	cr_expect_eq(ev.warn[0].window_start, T_JAN15 - 12 * 3600 + DAY);
}

Test(budget, warn_at_on_requests_and_exact_threshold)
{
	tf_scope_def c = def("s", -1, 4);
	tf_budget_events ev = { 0 };
	tf_budget_hold h;

	c.warn_ppm[0] = 750000;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(reserve(&c, 1, 0, TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), 0);
		cr_assert_eq(tf_budget_settle(&T, &h, 0, 0, T_JAN15, &ev), 0);
		cr_expect_eq(ev.n, i == 2 ? 1u : 0u, "3 of 4 is exactly 75%%");
	}
}

Test(budget, windows_roll_over_and_keep_history)
{
	tf_scope_def c = def("s", USD(1), -1);
	tf_budget_hold h, carried;

	c.window = TF_WINDOW_MONTH;
	/* 2024-01-31 23:59:59 UTC */
	int64_t t0 = INT64_C(1706745599);
	cr_assert_eq(reserve(&c, 1, USD(0.7), 0, t0, &h, NULL), 0);
	cr_assert_eq(tf_budget_settle(&T, &h, USD(0.7), 0, t0, NULL), 0);
	cr_assert_eq(reserve(&c, 1, USD(0.3), 0, t0, &carried, NULL), 0);
	cr_expect_eq(reserve(&c, 1, 1, 0, t0, &h, NULL), TF_BUDGET_DENIED);
	cr_expect_eq(st("s")->window_start, INT64_C(1704067200)); /* 2024-01-01 */

	/* One second later it is February: spent starts at zero, the in-flight
	 * reservation still counts until it settles. */
	cr_assert_eq(reserve(&c, 1, USD(0.7), 0, t0 + 1, &h, NULL), 0);
	cr_expect_eq(st("s")->window_start, t0 + 1);
	cr_expect_eq(st("s")->spent, 0);
	cr_expect_eq(st("s")->reserved, USD(1));
	cr_expect_eq(st("s")->previous.spent, USD(0.7));
	cr_expect_eq(st("s")->previous.start, INT64_C(1704067200));
	cr_assert_eq(tf_budget_settle(&T, &carried, USD(0.1), 0, t0 + 1, NULL), 0);
	cr_expect_eq(st("s")->spent, USD(0.1), "booked in the window it settled in");
	cr_expect_eq(st("s")->lifetime_spent, USD(0.8));

	/* A clock stepping back does not reopen January. */
	cr_assert_eq(tf_budget_release(&T, &h, t0), 0);
	cr_expect_eq(st("s")->window_start, t0 + 1);
	cr_expect_eq(st("s")->spent, USD(0.1));
}

Test(budget, window_boundaries_are_utc_calendar)
{
	/* 2024-02-29 10:00 UTC (leap day) */
	int64_t leap = INT64_C(1709200800);
	cr_expect_eq(tf_window_start(TF_WINDOW_MONTH, leap), INT64_C(1706745600)); /* 2024-02-01 */
	cr_expect_eq(tf_window_next(TF_WINDOW_MONTH, INT64_C(1706745600)), INT64_C(1709251200));
	cr_expect_eq(tf_window_start(TF_WINDOW_DAY, leap), INT64_C(1709164800));
	/* 2023-12-15 -> 2024-01-01 */
	cr_expect_eq(tf_window_next(TF_WINDOW_MONTH, INT64_C(1701388800)), INT64_C(1704067200));
	cr_expect_eq(tf_window_start(TF_WINDOW_MONTH, INT64_C(1704067199)), INT64_C(1701388800));
	/* 2100 is not a leap year: 2100-03-01 = 4107542400 */
	cr_expect_eq(tf_window_start(TF_WINDOW_MONTH, INT64_C(4107542400) - 1), INT64_C(4105123200));
	cr_expect_eq(tf_window_start(TF_WINDOW_DAY, -1), -DAY);
	cr_expect_eq(tf_window_start(TF_WINDOW_NONE, leap), 0);
	cr_expect_eq(tf_window_next(TF_WINDOW_NONE, 0), INT64_MAX);
	for (int64_t t = INT64_C(946684800); t < INT64_C(4102444800); t += 7 * DAY + 3601) {
		int64_t s = tf_window_start(TF_WINDOW_MONTH, t);
		cr_assert(s <= t && t < tf_window_next(TF_WINDOW_MONTH, s), "t=%lld", (long long)t);
		cr_assert_eq(s % DAY, 0);
	}
}

Test(budget, departments_nest)
{
	/* Two teams of 10 under a department of 15: the second team is stopped
	 * by its parent, not by its own budget. */
	tf_scope_def a[2] = { def("team-a", USD(10), -1), def("dept", USD(15), -1) };
	tf_scope_def b[2] = { def("team-b", USD(10), -1), def("dept", USD(15), -1) };
	tf_budget_hold h;
	tf_budget_denial why;

	strcpy(a[0].parent, "dept");
	strcpy(b[0].parent, "dept");
	cr_assert_eq(reserve(a, 2, USD(9), 0, T_JAN15, &h, NULL), 0);
	cr_assert_eq(tf_budget_settle(&T, &h, USD(9), 0, T_JAN15, NULL), 0);
	cr_assert_eq(reserve(b, 2, USD(6), 0, T_JAN15, &h, NULL), 0);
	cr_expect_eq(reserve(b, 2, 1, 0, T_JAN15, &h, &why), TF_BUDGET_DENIED);
	cr_expect_str_eq(why.scope, "dept");
	cr_expect_eq(st("team-b")->reserved, USD(6));
	cr_expect_eq(st("dept")->reserved + st("dept")->spent, USD(15));
}

Test(budget, reclaim_charges_the_full_reservation)
{
	tf_scope_def c = def("s", USD(1), 5);
	tf_budget_hold h;

	cr_assert_eq(reserve(&c, 1, USD(0.25), TF_BUDGET_COUNT_REQUEST, T_JAN15, &h, NULL), 0);
	cr_assert_eq(tf_budget_reclaim(&T, &h, T_JAN15, NULL), 0);
	cr_expect_eq(st("s")->spent, USD(0.25));
	cr_expect_eq(st("s")->reserved, 0);
	cr_expect_eq(st("s")->requests, 1);
	cr_expect_eq(st("s")->reclaimed, USD(0.25));
	cr_expect_eq(st("s")->reclaimed_count, 1);
}

Test(budget, bind_validates_and_reuses_free_entries)
{
	tf_scope_def c[2] = { def("x", -1, -1), def("x", -1, -1) };
	uint16_t idx[2];
	tf_scope_def d;

	cr_expect_eq(tf_budget_bind(&T, c, 2, 0, idx), -EINVAL);
	cr_expect_eq(tf_budget_bind(&T, c, 0, 0, idx), -EINVAL);
	cr_expect_eq(tf_scope_def_init(&d, "bad name"), -EINVAL);
	cr_expect_eq(tf_scope_def_init(&d, ""), -EINVAL);
	cr_expect_eq(tf_scope_def_init(&d, "org/dept:team@x+y=z_1.2-3"), 0);
	cr_expect_eq(tf_scope_def_init(&d, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		     -EINVAL, "65 bytes");
	cr_expect_eq(tf_scope_def_init(&d, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 0,
		     "64 bytes, as config allows");
	d.warn_ppm[0] = 800000;
	d.warn_ppm[1] = 500000;
	cr_expect_eq(tf_scope_def_validate(&d), -EINVAL, "thresholds must ascend");
	d.warn_ppm[1] = 0;
	d.warn_ppm[2] = 900000;
	cr_expect_eq(tf_scope_def_validate(&d), -EINVAL, "no gaps");
	for (int i = 0; i < CAP; i++) {
		char name[16];
		snprintf(name, sizeof(name), "s%d", i);
		d = def(name, -1, -1);
		cr_assert_eq(tf_budget_bind(&T, &d, 1, 0, idx), 0);
	}
	d = def("one-too-many", -1, -1);
	cr_expect_eq(tf_budget_bind(&T, &d, 1, 0, idx), -ENOSPC);
	memset(&tab[3], 0, sizeof(tab[3]));
	cr_expect_eq(tf_budget_bind(&T, &d, 1, 0, idx), 0);
	cr_expect_eq(idx[0], 3);
}

Test(budget, invalid_holds_are_refused)
{
	tf_budget_hold h = { .nscopes = 1, .scope = { 9 }, .amount = 1 };

	cr_expect_eq(tf_budget_settle(&T, &h, 1, 0, 0, NULL), -EINVAL);
	cr_expect_eq(tf_budget_release(&T, &h, 0), -EINVAL);
	h.nscopes = 0;
	cr_expect_eq(tf_budget_reclaim(&T, &h, 0, NULL), -EINVAL);
}
