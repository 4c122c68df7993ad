/*
 * The file ledger under load (issue 6): P processes x T threads, each doing
 * N random reserve/settle/release operations against one scope chain, while
 * an observer process samples every shared scope for spent + reserved <=
 * max_cost. After each round the totals must equal, to the pico-dollar, the
 * sum of what the workers settled, with nothing left reserved.
 *
 *   ledger-stress [rounds [procs [threads [ops]]]]   (default 20 8 4 2000)
 *   TF_STRESS_ROUNDS overrides the round count (CI runs the default).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int arg(int argc, char **argv, int i, int def)
{
	return argc > i ? atoi(argv[i]) : def;
}

static void check_round(const struct stress_cfg *c, const struct stress_totals *t)
{
	tf_ledger *l = h_open(c, 0, NULL);
	tf_ledger_info inf;

	if (t->errors || t->own_scope_failures)
		h_die("%lld settle/release errors, %d own-scope mismatches", (long long)t->errors,
		      t->own_scope_failures);
	if (t->violations)
		h_die("observer saw %lld violations: %s", (long long)t->violations, t->violation);
	if (t->samples == 0 || t->denied == 0)
		h_die("the run proved nothing: %lld samples, %lld denials", (long long)t->samples,
		      (long long)t->denied);
	for (int i = 0; i < H_SHARED_SCOPES; i++) {
		tf_scope_state s;
		if (tf_ledger_totals(l, h_shared_scope[i], &s) < 0)
			h_die("totals %s", h_shared_scope[i]);
		if (s.spent != t->settled_sum || s.requests != t->settled_requests || s.reserved ||
		    s.reserved_requests)
			h_die("%s: spent %lld (settled %lld), requests %lld (settled %lld), "
			      "reserved %lld/%lld",
			      s.def.name, (long long)s.spent, (long long)t->settled_sum,
			      (long long)s.requests, (long long)t->settled_requests,
			      (long long)s.reserved, (long long)s.reserved_requests);
	}
	if (tf_ledger_info_get(l, &inf) < 0 || inf.reservations != 0)
		h_die("%u reservations left", inf.reservations);
	tf_ledger_close(l);
}

int main(int argc, char **argv)
{
	const char *env = getenv("TF_STRESS_ROUNDS");
	int rounds = env ? atoi(env) : arg(argc, argv, 1, 20);
	struct stress_cfg c = { .machines = 1,
				.procs = arg(argc, argv, 2, 8),
				.threads = arg(argc, argv, 3, 4),
				.ops = arg(argc, argv, 4, 2000),
				.strict = 1 };
	char dir[] = "/tmp/tf-ledger-stress-XXXXXX", spec[64], cmd[96];
	int64_t t0 = h_now_ms(), total_ops = 0;

	if (c.procs > H_MAX_PROCS || c.threads > H_MAX_THREADS || !mkdtemp(dir))
		h_die("bad arguments");
	printf("ledger-stress: %d rounds of %d processes x %d threads x %d ops\n", rounds, c.procs,
	       c.threads, c.ops);
	for (int round = 0; round < rounds; round++) {
		struct stress_totals t;
		int64_t r0 = h_now_ms();

		snprintf(spec, sizeof(spec), "%s/ledger-%d", dir, round);
		c.spec = spec;
		c.seed = 0x5eed0000u + (uint64_t)round;
		if (stress_run(&c, &t) < 0)
			h_die("round %d: a worker failed", round);
		check_round(&c, &t);
		total_ops += t.ops;
		printf("round %2d: %lld ops, %lld reserved, %lld denied, %lld settled "
		       "(%lld.%012lld USD exact), %lld released, %lld observer samples, %lld ms\n",
		       round, (long long)t.ops, (long long)t.reserved, (long long)t.denied,
		       (long long)t.settled, (long long)(t.settled_sum / TF_MONEY_PER_USD),
		       (long long)(t.settled_sum % TF_MONEY_PER_USD), (long long)t.released,
		       (long long)t.samples, (long long)(h_now_ms() - r0));
		fflush(stdout);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		h_die("cleanup");
	printf("ledger-stress: OK, %lld ops in %lld ms\n", (long long)total_ops,
	       (long long)(h_now_ms() - t0));
	return 0;
}
