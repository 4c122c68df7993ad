/*
 * Shared by the ledger stress, crash and Redis drivers: a multi-process,
 * multi-threaded reserve/settle/release load with an observer process that
 * samples every shared scope for spent + reserved <= max_cost, and a real
 * redis-server started on a random loopback port in a temporary directory.
 */
#ifndef TF_TEST_LEDGER_HARNESS_H
#define TF_TEST_LEDGER_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "ledger/ledger.h"

#define H_MAX_MACHINES 2
#define H_MAX_PROCS 16
#define H_MAX_THREADS 8
#define H_SHARED_SCOPES 4
#define H_SKIP 77

extern const char *const h_shared_scope[H_SHARED_SCOPES];

__attribute__((format(printf, 1, 2), noreturn)) void h_die(const char *fmt, ...);
uint64_t h_rand(uint64_t *s);
int64_t h_now_ms(void);
void h_sleep_ms(int ms);

struct stress_cfg {
	const char *spec; /* ledger spec */
	const char *local_dir; /* Redis: machine m's local file is <local_dir>/m<m>.ledger */
	int machines, procs, threads, ops;
	uint64_t seed;
	tf_fail_mode mode;
	int lease_s, retry_ms, timeout_ms;
	/* Optional: called by the controller outage_after_ms into the run. */
	int outage_after_ms;
	void (*outage)(void *ctx);
	void *outage_ctx;
	/* Invariant violations seen by the observer fail the run. */
	int strict;
};

struct stress_totals {
	int64_t ops, reserved, denied, unavailable, local, settled, released, queued, errors;
	tf_money settled_sum;
	int64_t settled_requests;
	int64_t samples, violations;
	int own_scope_failures;
	char violation[256];
};

/* Runs the load once; returns 0 if every process ran to the end. */
int stress_run(const struct stress_cfg *c, struct stress_totals *t);
/* The chain every worker uses, given its own process scope name. */
void stress_chain(tf_scope_def chain[5], const char *proc_scope);
tf_ledger *h_open(const struct stress_cfg *c, int machine, const char *local_name);

struct redis_srv {
	pid_t pid;
	int port;
	char dir[128];
};

int redis_available(void);
/* Starts (or restarts, same port and data) a redis-server; 0 or -1. */
int redis_start(struct redis_srv *s);
void redis_stop(struct redis_srv *s);
/*
 * Reservations nobody will settle: still live (tf:r:*, held until their
 * lease expires) or already charged at expiry and never corrected by a late
 * settle (tf:t:*), summed per shared scope.
 */
struct redis_left {
	tf_money live[H_SHARED_SCOPES], charged[H_SHARED_SCOPES];
	int64_t live_req[H_SHARED_SCOPES], charged_req[H_SHARED_SCOPES];
	int nlive, ncharged;
};
int redis_leftovers(const struct redis_srv *s, struct redis_left *out);
int redis_flushall(const struct redis_srv *s);

#endif
