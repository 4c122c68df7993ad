/*
 * The ledger: budget state shared by every process of a workflow, a
 * department or a fleet. One small interface for the shim and the CLI,
 * with two backends chosen by the spec string:
 *
 *   NULL or ""             the default file, $XDG_RUNTIME_DIR/tokenfence/ledger
 *                          (else /tmp/tokenfence-<uid>/ledger)
 *   "/path/to/file"        a file ledger at that path (see file.c for the format)
 *   "redis://host:port/db" Redis (see redis.c); port defaults to 6379, db to 0
 *
 * Semantics (DESIGN.md §4 "Budget semantics", policy/budget.h): reserve the
 * worst case in every scope of the call's chain, all or nothing; settle to
 * the real cost, or release when the call was not sent. For every scope,
 * spent + reserved <= max_cost holds at every moment across all processes
 * (and, for Redis, all machines). A reservation whose owner died is
 * eventually charged at its full amount (conservative), never leaked.
 *
 * Threads: a handle may be used by any number of threads at once.
 * Signals: the ledger installs no handler, never raises SIGPIPE, and blocks
 *   no signal; a call may be interrupted by the host's handlers.
 * Fork: a child may keep using the parent's handle only after calling
 *   tf_ledger_atfork_child() (from a pthread_atfork child handler, or before
 *   any other ledger call in the child). Reservations made by the parent
 *   belong to the parent: the child must not settle them.
 * Blocking: waits are bounded (file lock: lock_timeout_ms; Redis: timeout_ms
 *   per round trip, retry_ms between attempts once Redis is down).
 * Descriptors are close-on-exec and placed at or above 200 (STYLE.md P14).
 *
 * Return values: 0 success; positive values are documented API conditions;
 * negative values are errno-style failures:
 *   -EINVAL   bad argument or spec       -ENOENT  unknown scope / reservation
 *   -ENOSPC   a fixed table is full      -EPROTO  unsupported file format version
 *   -EBADMSG  not a ledger, or corrupt   -EACCES  unsafe owner or permissions
 *   -ETIMEDOUT lock or Redis timed out   -ENOTCONN Redis unreachable (fail closed)
 *   -ENOTRECOVERABLE the file lock cannot be recovered
 *   -ENOMEM, other -errno from the system.
 * tf_ledger_strerror() names each code; open() writes a specific message.
 */
#ifndef TF_LEDGER_H
#define TF_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "config.h"
#include "money.h"

/* reserve() refused: *why names the scope and the figures. */
#define TF_LEDGER_DENIED TF_BUDGET_DENIED
/* settle()/release() could not reach Redis: kept in the local outbox and
 * delivered by a later call (or tf_ledger_sync); the charge is not lost. */
#define TF_LEDGER_QUEUED 2

/* reserve() flags */
#define TF_LEDGER_COUNT_REQUEST TF_BUDGET_COUNT_REQUEST
/* settle() flags */
#define TF_LEDGER_SETTLE_OVER TF_BUDGET_SETTLE_OVER

/* tf_ledger_res.flags */
/* Held by the local fallback file (Redis unreachable, fail_mode open). */
#define TF_LEDGER_RES_LOCAL 0x1u

typedef struct tf_ledger tf_ledger;

/*
 * tf_fail_mode (config.h): TF_FAIL_CLOSED denies when Redis cannot confirm a
 * reservation; TF_FAIL_OPEN reserves in the local fallback file and
 * reconciles later.
 */

/* Unix seconds (UTC). Used for budget windows only. */
typedef int64_t (*tf_ledger_clock)(void *ctx);

typedef struct tf_ledger_opts {
	const char *spec; /* see above */
	tf_fail_mode fail_mode; /* Redis only */
	/* Redis only: the local file holding the outbox and the fail-open
	 * fallback; NULL: "redis-<host>-<port>-<db>" in the default directory. */
	const char *local_path;
	int lock_timeout_ms; /* 0: 2000 */
	int timeout_ms; /* Redis connect and per-command timeout; 0: 500 */
	int retry_ms; /* Redis: no new attempt this soon after a failure; 0: 1000 */
	int lease_s; /* Redis: a reservation not settled by then is charged; 0: 900 */
	tf_ledger_clock clock; /* NULL: time() */
	void *clock_ctx;
} tf_ledger_opts;

/* A live reservation. Plain data; copy it freely, settle or release it once. */
typedef struct tf_ledger_res {
	uint64_t id;
	uint32_t slot;
	uint32_t flags;
	tf_money amount;
} tf_ledger_res;

typedef struct tf_ledger_info {
	char backend[8]; /* "file" | "redis" */
	char where[256]; /* file path, or redis://host:port/db */
	uint32_t max_scopes, scopes;
	uint32_t max_reservations, reservations; /* live, in this file (Redis: local) */
	uint64_t lock_recoveries; /* holders that died holding the file lock */
	uint64_t reclaimed; /* reservations charged because their owner died */
	uint32_t pending; /* Redis: queued settles + unreconciled local scopes */
	int connected; /* Redis: last round trip succeeded */
} tf_ledger_info;

/*
 * Opens (creating if needed) the ledger named by o->spec. On failure returns
 * a negative code and writes a one-line reason to err (may be NULL), e.g.
 * "ledger /x has format version 2; this build reads version 1".
 */
int tf_ledger_open(const tf_ledger_opts *o, tf_ledger **out, char *err, size_t errlen);
void tf_ledger_close(tf_ledger *l);
/* In a forked child, before any other call on a handle inherited from the parent. */
void tf_ledger_atfork_child(tf_ledger *l);

/*
 * Reserves worst (>= 0) in every scope of chain[0..n) (n <= TF_BUDGET_CHAIN_MAX,
 * distinct names, innermost first), creating scopes on first use. Returns 0
 * and fills *res; TF_LEDGER_DENIED and fills *why (may be NULL); or negative.
 */
int tf_ledger_reserve(tf_ledger *l, const tf_scope_def *chain, size_t n, tf_money worst,
		      unsigned flags, tf_ledger_res *res, tf_budget_denial *why);
/*
 * Books actual as spent in every scope of the reservation. actual above the
 * reservation needs TF_LEDGER_SETTLE_OVER (else -ERANGE, nothing changes).
 * warn_at crossings go to ev (may be NULL). 0, TF_LEDGER_QUEUED, -ENOENT
 * (unknown, or already charged because it was presumed dead), or negative.
 */
int tf_ledger_settle(tf_ledger *l, const tf_ledger_res *res, tf_money actual, unsigned flags,
		     tf_budget_events *ev);
int tf_ledger_release(tf_ledger *l, const tf_ledger_res *res);

/* The state of one scope (-ENOENT if never used). */
int tf_ledger_totals(tf_ledger *l, const char *scope, tf_scope_state *out);
/* Copies up to cap scopes; returns how many exist (may exceed cap), or negative. */
int tf_ledger_list(tf_ledger *l, tf_scope_state *out, size_t cap);
/* Kill switch: refuse every reservation in the scope (created if new) until resumed. */
int tf_ledger_kill(tf_ledger *l, const char *scope);
int tf_ledger_resume(tf_ledger *l, const char *scope);

/*
 * Brings the store up to date: charges reservations of dead owners (file),
 * delivers queued settles and reconciles fallback charges (Redis). Returns
 * how many items remain pending (0 when all is done), or negative.
 */
int tf_ledger_sync(tf_ledger *l);
int tf_ledger_info_get(tf_ledger *l, tf_ledger_info *out);

const char *tf_ledger_strerror(int code);

#endif
