/*
 * kill -9 against the file ledger (issue 6): in each round W processes
 * reserve, settle and release as fast as they can and are killed at random
 * moments, some inside the ledger's lock. Then a fresh process opens the
 * ledger and must find: no reservation left (every dead owner's charged at
 * its amount), every settle that returned counted exactly, no deadlock (all
 * waits are bounded and would fail the run), and a readable ledger.
 *
 * Each worker keeps its view of what it holds and settled in shared memory,
 * committed with one atomic store, plus the one operation it had in flight
 * when it died. That operation either happened or not; the check accepts
 * the totals only if one combination of those outcomes explains them to
 * the pico-dollar.
 *
 *   ledger-crash [rounds [workers]]   (default 100 6; TF_CRASH_ROUNDS overrides)
 */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 12
#define MAX_HELD 4

enum { OP_NONE, OP_RESERVE, OP_SETTLE, OP_RELEASE };

struct held {
	tf_ledger_res res;
	int valid;
};

struct state {
	struct held held[MAX_HELD];
	tf_money settled_sum;
	int64_t settled_n;
	int pending; /* OP_*: in flight when this state was committed */
	int target; /* held slot of the pending operation */
	tf_money amount, actual;
};

struct rec {
	struct state buf[2];
	_Atomic int active;
};

static const char *const scopes[] = { "c-team", "c-org" };

static void chain(tf_scope_def c[2])
{
	tf_scope_def_init(&c[0], scopes[0]);
	tf_scope_def_init(&c[1], scopes[1]);
	c[1].max_requests = INT64_C(1) << 40;
}

/* Publishes next as the worker's state in one store. */
static void commit(struct rec *r, const struct state *next)
{
	int other = 1 - atomic_load(&r->active);

	r->buf[other] = *next;
	atomic_store(&r->active, other);
}

static void worker(const char *spec, struct rec *rec, uint64_t seed)
{
	tf_ledger_opts o = { .spec = spec };
	tf_ledger *l;
	tf_scope_def c[2];
	struct state s;
	char err[200];

	if (tf_ledger_open(&o, &l, err, sizeof(err)) < 0)
		_exit(2);
	chain(c);
	memset(&s, 0, sizeof(s));
	commit(rec, &s);
	for (;;) {
		uint64_t x = h_rand(&seed);
		int free_slot = -1, nheld = 0, pick = -1;
		for (int i = 0; i < MAX_HELD; i++) {
			if (!s.held[i].valid) {
				free_slot = i;
				continue;
			}
			nheld++;
			if (pick < 0 || ((x >> (8 + i)) & 1))
				pick = i;
		}
		if (free_slot >= 0 && (nheld == 0 || (x & 1))) {
			tf_ledger_res res;
			s.pending = OP_RESERVE;
			s.target = free_slot;
			s.amount = 1 + (tf_money)(h_rand(&seed) % 1000000007ull);
			commit(rec, &s);
			int r = tf_ledger_reserve(l, c, 2, s.amount, TF_LEDGER_COUNT_REQUEST, &res, NULL);
			if (r == 0)
				s.held[free_slot] = (struct held){ res, 1 };
			else if (r != TF_LEDGER_DENIED)
				_exit(3);
		} else {
			struct held *h = &s.held[pick];
			int settle = (x >> 4) % 4 != 0;
			s.pending = settle ? OP_SETTLE : OP_RELEASE;
			s.target = pick;
			s.amount = h->res.amount;
			s.actual = (tf_money)(h_rand(&seed) % (uint64_t)(h->res.amount + 1));
			commit(rec, &s);
			int r = settle ? tf_ledger_settle(l, &h->res, s.actual, 0, NULL) :
					 tf_ledger_release(l, &h->res);
			if (r != 0)
				_exit(4);
			if (settle) {
				s.settled_sum += s.actual;
				s.settled_n++;
			}
			h->valid = 0;
		}
		s.pending = OP_NONE;
		commit(rec, &s);
	}
}

struct expect {
	tf_money spent, reclaimed;
	int64_t requests, reclaimed_n;
};

/* Effect of one in-flight operation, had it (happened=1) or not taken place. */
static void outcome(const struct state *s, int happened, struct expect *e)
{
	switch (s->pending) {
	case OP_RESERVE:
		if (happened) {
			e->spent += s->amount;
			e->reclaimed += s->amount;
			e->reclaimed_n++;
			e->requests++;
		}
		break;
	case OP_SETTLE:
		if (happened) {
			e->spent += s->actual;
		} else {
			e->spent += s->amount;
			e->reclaimed += s->amount;
			e->reclaimed_n++;
		}
		e->requests++;
		break;
	case OP_RELEASE:
		if (!happened) {
			e->spent += s->amount;
			e->reclaimed += s->amount;
			e->reclaimed_n++;
			e->requests++;
		}
		break;
	}
}

int main(int argc, char **argv)
{
	const char *env = getenv("TF_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : (argc > 1 ? atoi(argv[1]) : 100);
	int workers = argc > 2 ? atoi(argv[2]) : 6;
	char dir[] = "/tmp/tf-ledger-crash-XXXXXX", spec[64], cmd[96];
	struct rec *recs = mmap(NULL, sizeof(struct rec) * MAX_WORKERS, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct expect base = { 0 };
	uint64_t seed = 0xC0FFEE;
	int64_t t0 = h_now_ms(), kills = 0, inflight = 0;

	if (workers > MAX_WORKERS || recs == MAP_FAILED || !mkdtemp(dir))
		h_die("setup");
	snprintf(spec, sizeof(spec), "%s/ledger", dir);
	printf("ledger-crash: %d rounds, %d workers killed with SIGKILL each round\n", rounds, workers);
	for (int round = 0; round < rounds; round++) {
		pid_t pids[MAX_WORKERS];

		memset(recs, 0, sizeof(struct rec) * MAX_WORKERS);
		fflush(NULL);
		for (int w = 0; w < workers; w++) {
			uint64_t ws = h_rand(&seed);
			pids[w] = fork();
			if (pids[w] == 0)
				worker(spec, &recs[w], ws | 1);
		}
		h_sleep_ms(2 + (int)(h_rand(&seed) % 25));
		for (int w = 0; w < workers; w++) {
			kill(pids[w], SIGKILL);
			if (h_rand(&seed) & 1)
				usleep((useconds_t)(h_rand(&seed) % 1500));
		}
		for (int w = 0; w < workers; w++) {
			int st;
			waitpid(pids[w], &st, 0);
			if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
				h_die("round %d: worker %d ended with status %#x before the kill", round, w,
				      st);
			kills++;
		}

		/* A new process: opening charges the dead owners' reservations. */
		tf_ledger_opts o = { .spec = spec };
		tf_ledger *l;
		char err[200];
		int r = tf_ledger_open(&o, &l, err, sizeof(err));
		if (r < 0)
			h_die("round %d: open: %d %s", round, r, err);

		struct expect certain = base;
		const struct state *amb[MAX_WORKERS];
		int namb = 0;
		for (int w = 0; w < workers; w++) {
			const struct state *s = &recs[w].buf[atomic_load(&recs[w].active)];
			certain.spent += s->settled_sum;
			certain.requests += s->settled_n;
			for (int i = 0; i < MAX_HELD; i++) {
				if (!s->held[i].valid || (s->pending != OP_NONE && i == s->target))
					continue;
				certain.spent += s->held[i].res.amount;
				certain.reclaimed += s->held[i].res.amount;
				certain.reclaimed_n++;
				certain.requests++;
			}
			if (s->pending != OP_NONE)
				amb[namb++] = s;
		}
		inflight += namb;

		tf_scope_state st[2];
		for (int i = 0; i < 2; i++)
			if ((r = tf_ledger_totals(l, scopes[i], &st[i])) < 0)
				h_die("round %d: totals: %d %s", round, r, tf_ledger_strerror(r));
		for (int i = 0; i < 2; i++)
			if (st[i].reserved || st[i].reserved_requests)
				h_die("round %d: %s still holds %lld reserved (%lld requests): leaked",
				      round, scopes[i], (long long)st[i].reserved,
				      (long long)st[i].reserved_requests);
		int matched = -1;
		for (int mask = 0; mask < (1 << namb) && matched < 0; mask++) {
			struct expect e = certain;
			for (int k = 0; k < namb; k++)
				outcome(amb[k], (mask >> k) & 1, &e);
			if (st[0].spent == e.spent && st[0].reclaimed == e.reclaimed &&
			    st[0].requests == e.requests && st[0].reclaimed_count == e.reclaimed_n &&
			    st[1].spent == e.spent && st[1].requests == e.requests) {
				matched = mask;
				base = e;
			}
		}
		if (matched < 0)
			h_die("round %d: totals (spent %lld, reclaimed %lld, requests %lld) match no "
			      "outcome of the %d operations in flight (certain: spent %lld, "
			      "reclaimed %lld, requests %lld)",
			      round, (long long)st[0].spent, (long long)st[0].reclaimed,
			      (long long)st[0].requests, namb, (long long)certain.spent,
			      (long long)certain.reclaimed, (long long)certain.requests);
		tf_ledger_info inf;
		tf_scope_state all[4];
		if (tf_ledger_info_get(l, &inf) < 0 || inf.reservations != 0 ||
		    tf_ledger_list(l, all, 4) != 2)
			h_die("round %d: ledger not readable or reservations left", round);
		if (round == rounds - 1)
			printf("ledger-crash: OK, %lld processes killed, %lld reservations of the dead "
			       "charged (%lld ops in flight at death, all accounted), %llu lock "
			       "holders died mid-update and were rolled back, %lld ms\n",
			       (long long)kills, (long long)inf.reclaimed, (long long)inflight,
			       (unsigned long long)inf.lock_recoveries, (long long)(h_now_ms() - t0));
		tf_ledger_close(l);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		h_die("cleanup");
	return 0;
}
