/*
 * The Redis ledger without a server: spec parsing, and what each fail_mode
 * does when nothing listens (the real-server behaviour is tested by
 * tests/ledger/redis.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tf-ledger-redis-unit-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(ledger_redis, .init = setup, .fini = teardown, .timeout = 30);

/* Port 1 on loopback: nothing listens there, connect is refused at once. */
#define DOWN "redis://127.0.0.1:1/0"

static tf_ledger *open_spec(const char *spec, tf_fail_mode mode)
{
	tf_ledger_opts o = { .spec = spec, .fail_mode = mode, .timeout_ms = 200 };
	tf_ledger *l = NULL;
	char err[256];

	cr_assert_eq(tf_ledger_open(&o, &l, err, sizeof(err)), 0, "%s: %s", spec, err);
	return l;
}

Test(ledger_redis, specs)
{
	static const char *const bad[] = { "redis://",	      "redis://:6379",	     "redis://h:0",
					   "redis://h:65536", "redis://h:12x",	     "redis://h/abc",
					   "redis://[::1",    "redis://nopass@h:1/0" };
	tf_ledger_opts o = { 0 };
	tf_ledger *l;
	tf_ledger_info i;
	char err[256];

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		o.spec = bad[k];
		cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EINVAL, "%s", bad[k]);
		cr_expect(strstr(err, "redis://host:port/db") != NULL, "%s", err);
	}
	l = open_spec("redis://localhost", TF_FAIL_CLOSED);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_str_eq(i.backend, "redis");
	cr_expect_str_eq(i.where, "redis://localhost:6379/0");
	tf_ledger_close(l);
	l = open_spec("redis://user:secret@[::1]:6380/2", TF_FAIL_CLOSED);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_str_eq(i.where, "redis://[::1]:6380/2", "the password is never shown");
	tf_ledger_close(l);
}

static tf_scope_def chain(void)
{
	tf_scope_def d;

	tf_scope_def_init(&d, "team");
	d.max_cost = 1000;
	return d;
}

Test(ledger_redis, fail_closed_denies_when_redis_cannot_confirm)
{
	tf_ledger *l = open_spec(DOWN, TF_FAIL_CLOSED);
	tf_scope_def c = chain();
	tf_ledger_res r;
	tf_ledger_info i;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 10, 0, &r, NULL), -ENOTCONN);
	/* Within the retry pause it does not even try: no cost per call. */
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 10, 0, &r, NULL), -ENOTCONN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_lt(t1.tv_sec - t0.tv_sec, 2);
	cr_expect_eq(tf_ledger_totals(l, "team", &(tf_scope_state){ 0 }), -ENOTCONN);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_eq(i.connected, 0);
	tf_ledger_close(l);
}

Test(ledger_redis, unconfirmed_settles_are_queued_never_dropped)
{
	tf_ledger *l = open_spec(DOWN, TF_FAIL_CLOSED);
	tf_ledger_res r = { .id = 42, .amount = 100 };
	tf_ledger_info i;

	cr_expect_eq(tf_ledger_settle(l, &r, 101, 0, NULL), -ERANGE, "checked before queueing");
	cr_expect_eq(tf_ledger_settle(l, &r, 60, 0, NULL), TF_LEDGER_QUEUED);
	r.id = 43;
	cr_expect_eq(tf_ledger_release(l, &r), TF_LEDGER_QUEUED);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_eq(i.pending, 2);
	tf_ledger_close(l);
	/* The queue is in the local file: another process finds it. */
	l = open_spec(DOWN, TF_FAIL_CLOSED);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_eq(i.pending, 2);
	cr_expect_lt(tf_ledger_sync(l), 0, "cannot deliver while Redis is down");
	tf_ledger_close(l);
}

Test(ledger_redis, fail_open_reserves_locally_within_local_limits)
{
	tf_ledger *l = open_spec(DOWN, TF_FAIL_OPEN);
	tf_scope_def c = chain();
	tf_ledger_res r1, r2;
	tf_budget_denial why;
	tf_ledger_info i;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 600, 0, &r1, NULL), 0);
	cr_expect(r1.flags & TF_LEDGER_RES_LOCAL);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 600, 0, &r2, &why), TF_LEDGER_DENIED);
	cr_expect_str_eq(why.scope, "team");
	cr_expect_eq(tf_ledger_settle(l, &r1, 500, 0, NULL), 0);
	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	cr_expect_eq(i.pending, 1, "one scope's local spend awaits reconciliation");
	tf_ledger_close(l);
}
