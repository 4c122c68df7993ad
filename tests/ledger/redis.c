/*
 * The Redis ledger against a real redis-server (issue 6), started on a
 * random loopback port in a temporary directory and stopped at the end:
 *
 *  1. stress: two "machines" (process groups with separate local files),
 *     each P processes x T threads x N ops, one Redis: zero overshoot seen by
 *     the observer, totals equal the settled sum exactly;
 *  2. leases: a process killed while holding a reservation (a dead machine)
 *     is charged once its lease expires; a late settle corrects the charge;
 *  3. Redis stopped mid-run and restarted, fail_mode closed: calls are denied
 *     while it is down, the invariant holds throughout, no settled charge is
 *     lost (queued settles are delivered after the restart);
 *  4. the same with fail_mode open: calls go on against local reservations,
 *     which are reconciled into Redis after the restart, exactly.
 * In 3 and 4 a reserve whose reply was lost when Redis stopped stays in
 * Redis until its lease expires; the check counts those (they are charged,
 * conservatively) and then waits for the leases to turn them into spend.
 *
 *   ledger-redis [procs [threads [ops]]]   (default 4 4 2000 per machine)
 * Exits 77 (skipped) only when redis-server is not installed.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define USD(x) ((tf_money)((x) * (double)TF_MONEY_PER_USD))

static struct redis_srv srv;
static char top[] = "/tmp/tf-ledger-redis-XXXXXX";
static char spec[64];

static void cleanup(void)
{
	char cmd[96];

	redis_stop(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
}

static void outage(void *ctx)
{
	int down_ms = *(int *)ctx;

	redis_stop(&srv);
	printf("  redis-server stopped\n");
	fflush(stdout);
	h_sleep_ms(down_ms);
	if (redis_start(&srv) < 0)
		h_die("redis-server did not restart");
	printf("  redis-server restarted after %d ms\n", down_ms);
	fflush(stdout);
}

static void fresh(struct stress_cfg *c, const char *name)
{
	static char dir[160];

	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	if (mkdir(dir, 0700) < 0 || redis_flushall(&srv) < 0)
		h_die("fresh %s", name);
	c->local_dir = dir;
}

/* Delivers every machine's queue and local spend to Redis. */
static void sync_all(const struct stress_cfg *c)
{
	for (int m = 0; m < c->machines; m++) {
		tf_ledger *l = h_open(c, m, NULL);
		int r = -1;
		for (int i = 0; i < 100 && r != 0; i++) {
			r = tf_ledger_sync(l);
			if (r != 0)
				h_sleep_ms(50);
		}
		if (r != 0)
			h_die("machine %d: %d items still pending after sync (%s)", m, r,
			      tf_ledger_strerror(r));
		tf_ledger_close(l);
	}
}

/* Totals must be the settled sum plus what `spent`/`held` say, exactly. */
static void expect_totals(const struct stress_cfg *c, const struct stress_totals *t,
			  const tf_money *spent, const int64_t *spent_req, const tf_money *held,
			  const int64_t *held_req, const char *what)
{
	tf_ledger *l = h_open(c, 0, "checker.ledger");

	for (int i = 0; i < H_SHARED_SCOPES; i++) {
		tf_scope_state s;
		tf_money want_spent = t->settled_sum + (spent ? spent[i] : 0);
		int64_t want_req = t->settled_requests + (spent_req ? spent_req[i] : 0);
		tf_money want_res = held ? held[i] : 0;
		int64_t want_rreq = held_req ? held_req[i] : 0;
		if (tf_ledger_totals(l, h_shared_scope[i], &s) < 0)
			h_die("%s: totals %s", what, h_shared_scope[i]);
		if (s.spent != want_spent || s.requests != want_req || s.reserved != want_res ||
		    s.reserved_requests != want_rreq)
			h_die("%s: %s: spent %lld (want %lld), requests %lld (want %lld), reserved "
			      "%lld (want %lld), reserved requests %lld (want %lld)",
			      what, h_shared_scope[i], (long long)s.spent, (long long)want_spent,
			      (long long)s.requests, (long long)want_req, (long long)s.reserved,
			      (long long)want_res, (long long)s.reserved_requests, (long long)want_rreq);
	}
	tf_ledger_close(l);
}

static void report(const char *name, const struct stress_totals *t, int64_t ms)
{
	printf("  %s: %lld ops, %lld reserved (%lld local), %lld denied by budget, %lld denied "
	       "unconfirmed, %lld settled (%lld queued), %lld released, settled %lld.%012lld USD, "
	       "%lld observer samples, %lld violations, %lld ms\n",
	       name, (long long)t->ops, (long long)t->reserved, (long long)t->local,
	       (long long)t->denied, (long long)t->unavailable, (long long)t->settled,
	       (long long)t->queued, (long long)t->released,
	       (long long)(t->settled_sum / TF_MONEY_PER_USD),
	       (long long)(t->settled_sum % TF_MONEY_PER_USD), (long long)t->samples,
	       (long long)t->violations, (long long)ms);
	fflush(stdout);
}

static void scenario_stress(struct stress_cfg base)
{
	struct stress_cfg c = base;
	struct stress_totals t;
	int64_t t0 = h_now_ms();

	printf("stress: 2 machines x %d processes x %d threads x %d ops, one Redis\n", c.procs,
	       c.threads, c.ops);
	fresh(&c, "stress");
	c.strict = 1;
	if (stress_run(&c, &t) < 0)
		h_die("stress: a worker failed");
	report("stress", &t, h_now_ms() - t0);
	if (t.violations)
		h_die("stress: overshoot: %s", t.violation);
	if (t.errors || t.unavailable || t.own_scope_failures || t.denied == 0 || t.samples == 0)
		h_die("stress: %lld errors, %lld unconfirmed, %d own-scope mismatches, %lld denials, "
		      "%lld samples",
		      (long long)t.errors, (long long)t.unavailable, t.own_scope_failures,
		      (long long)t.denied, (long long)t.samples);
	expect_totals(&c, &t, NULL, NULL, NULL, NULL, "stress");
}

static void scenario_leases(struct stress_cfg base)
{
	struct stress_cfg c = base;
	tf_scope_def chain[2];
	tf_ledger_res r;
	tf_scope_state s;

	printf("leases: a holder killed (a dead machine) is charged when its lease expires\n");
	fresh(&c, "leases");
	c.lease_s = 1;
	tf_scope_def_init(&chain[0], "lease-a");
	tf_scope_def_init(&chain[1], "lease-b");
	chain[1].max_cost = USD(1);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		tf_ledger *l = h_open(&c, 1, NULL);
		if (tf_ledger_reserve(l, chain, 2, USD(0.3), TF_LEDGER_COUNT_REQUEST, &r, NULL) != 0)
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	tf_ledger *l = h_open(&c, 0, NULL);
	if (tf_ledger_totals(l, "lease-b", &s) < 0 || s.reserved != USD(0.3) || s.spent != 0)
		h_die("leases: the dead holder's reservation should still be held");
	h_sleep_ms(1200);
	if (tf_ledger_sync(l) < 0 || tf_ledger_totals(l, "lease-b", &s) < 0)
		h_die("leases: sync");
	if (s.spent != USD(0.3) || s.reserved != 0 || s.requests != 1 || s.reclaimed != USD(0.3))
		h_die("leases: expired lease not charged: spent %lld reserved %lld", (long long)s.spent,
		      (long long)s.reserved);

	/* A live holder slower than its lease: charged, then corrected by the late settle. */
	if (tf_ledger_reserve(l, chain, 2, USD(0.4), TF_LEDGER_COUNT_REQUEST, &r, NULL) != 0)
		h_die("leases: reserve");
	h_sleep_ms(1200);
	tf_ledger_sync(l);
	tf_ledger_totals(l, "lease-b", &s);
	if (s.spent != USD(0.7))
		h_die("leases: second lease not charged (%lld)", (long long)s.spent);
	if (tf_ledger_settle(l, &r, USD(0.05), 0, NULL) != 0)
		h_die("leases: late settle refused");
	tf_ledger_totals(l, "lease-b", &s);
	if (s.spent != USD(0.35) || s.requests != 2)
		h_die("leases: late settle not corrected: spent %lld", (long long)s.spent);
	if (tf_ledger_settle(l, &r, USD(0.05), 0, NULL) != -ENOENT)
		h_die("leases: a second late settle must not apply twice");
	tf_ledger_totals(l, "lease-b", &s);
	if (s.spent != USD(0.35))
		h_die("leases: double correction");
	tf_ledger_close(l);
	printf("  ok: charged 0.300000 at expiry; 0.400000 charged then corrected to 0.050000\n");
}

static void scenario_outage(struct stress_cfg base, tf_fail_mode mode)
{
	struct stress_cfg c = base;
	struct stress_totals t;
	struct redis_left left;
	int down_ms = 700, lease_s = 3;
	const char *name = mode == TF_FAIL_CLOSED ? "outage, fail closed" : "outage, fail open";
	int64_t t0 = h_now_ms();

	printf("%s: Redis stopped mid-run and restarted\n", name);
	fresh(&c, mode == TF_FAIL_CLOSED ? "closed" : "open");
	c.mode = mode;
	c.lease_s = lease_s;
	c.retry_ms = 50;
	c.timeout_ms = 300;
	c.outage = outage;
	c.outage_ctx = &down_ms;
	c.outage_after_ms = base.outage_after_ms;
	c.strict = mode == TF_FAIL_CLOSED;
	if (stress_run(&c, &t) < 0)
		h_die("%s: a worker failed", name);
	report(name, &t, h_now_ms() - t0);
	if (t.errors)
		h_die("%s: %lld settle/release errors", name, (long long)t.errors);
	if (mode == TF_FAIL_CLOSED && (t.violations || t.unavailable == 0 || t.local))
		h_die("%s: %lld violations (%s), %lld denied unconfirmed, %lld local", name,
		      (long long)t.violations, t.violation, (long long)t.unavailable,
		      (long long)t.local);
	if (mode == TF_FAIL_OPEN && (t.local == 0 || t.unavailable))
		h_die("%s: %lld local reservations, %lld unconfirmed", name, (long long)t.local,
		      (long long)t.unavailable);

	sync_all(&c);
	if (redis_leftovers(&srv, &left) < 0)
		h_die("%s: leftovers", name);
	/* Every settled charge arrived; the only extra are reserves whose reply
	 * died with Redis: held until their lease expires, or already charged. */
	expect_totals(&c, &t, left.charged, left.charged_req, left.live, left.live_req, name);
	h_sleep_ms(lease_s * 1000 + 300);
	sync_all(&c);
	for (int i = 0; i < H_SHARED_SCOPES; i++) {
		left.charged[i] += left.live[i];
		left.charged_req[i] += left.live_req[i];
	}
	expect_totals(&c, &t, left.charged, left.charged_req, NULL, NULL, name);
	printf("  ok: every settled charge is in Redis, exactly; %d reservation(s) whose reply "
	       "was lost were charged at lease expiry\n",
	       left.nlive + left.ncharged);
}

int main(int argc, char **argv)
{
	struct stress_cfg c = { .spec = spec,
				.machines = 2,
				.procs = argc > 1 ? atoi(argv[1]) : 4,
				.threads = argc > 2 ? atoi(argv[2]) : 4,
				.ops = argc > 3 ? atoi(argv[3]) : 2000,
				.seed = 0x7ed15,
				.lease_s = 60,
				.retry_ms = 100,
				.timeout_ms = 5000 };
	int64_t t0 = h_now_ms();

	if (!redis_available()) {
		printf("redis-server not installed: skipped\n");
		return H_SKIP;
	}
	if (!mkdtemp(top))
		h_die("mkdtemp");
	snprintf(srv.dir, sizeof(srv.dir), "%s", top);
	atexit(cleanup);
	if (redis_start(&srv) < 0)
		h_die("redis-server did not start");
	snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d/0", srv.port);
	printf("ledger-redis: redis-server on %s (dir %s)\n", spec, top);

	int64_t s0 = h_now_ms();
	scenario_stress(c);
	/* Stop Redis about a third into a run of the same shape. */
	c.outage_after_ms = (int)((h_now_ms() - s0) / 3);
	if (c.outage_after_ms < 200)
		c.outage_after_ms = 200;
	scenario_leases(c);
	scenario_outage(c, TF_FAIL_CLOSED);
	scenario_outage(c, TF_FAIL_OPEN);
	printf("ledger-redis: OK in %lld ms\n", (long long)(h_now_ms() - t0));
	return 0;
}
