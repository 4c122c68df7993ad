/*
 * Budget scopes and reservations: the pure arithmetic of "never exceeded".
 *
 * Every call runs in a chain of scopes (process -> workflow -> configured
 * scope -> its parents). Before a call is forwarded its worst-case cost is
 * reserved in every scope of the chain, all or nothing; afterwards the
 * reservation is settled to the real cost or released. Each scope keeps
 *
 *     spent + reserved <= max_cost
 *     requests + reserved_requests <= max_requests
 *
 * at every moment, because admission checks the sum of both and settlement
 * only ever converts reserved into spent (never more, unless the caller
 * explicitly settles above the reservation with TF_BUDGET_SETTLE_OVER, in
 * which case the real spend is recorded exactly even though it passes the
 * cap: money already spent is a fact, not a decision).
 *
 * This module does no I/O, takes no locks and allocates nothing. Every type
 * here is plain data without pointers (except tf_budget_table, a view the
 * caller builds), so a table of tf_scope_state can live in a file mapped by
 * many processes; the caller provides mutual exclusion (policy/ledger/).
 * Times are Unix seconds (UTC) passed in by the caller, so tests inject them.
 */
#ifndef TF_BUDGET_H
#define TF_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "money.h"

/*
 * Scope names: 1..64 bytes of [A-Za-z0-9._:/@+=-] (safe in a file, a Redis
 * key, a log line; a superset of what config accepts). Buffers hold the NUL too.
 */
#define TF_SCOPE_NAME_MAX 65
/* process + workflow + configured scope + up to 5 parents. */
#define TF_BUDGET_CHAIN_MAX 8
/* warn_at thresholds per scope. */
#define TF_BUDGET_WARN_MAX 4
/* max_cost / max_requests value meaning "no limit". */
#define TF_BUDGET_NO_LIMIT INT64_C(-1)
#define TF_BUDGET_PPM 1000000u

/* Positive API conditions (not failures). */
#define TF_BUDGET_DENIED 1

/* tf_budget_reserve flags */
#define TF_BUDGET_COUNT_REQUEST 0x1u
/* tf_budget_settle flags: the real cost may exceed the reservation. */
#define TF_BUDGET_SETTLE_OVER 0x1u

typedef enum tf_window {
	TF_WINDOW_NONE = 0,
	TF_WINDOW_DAY = 1, /* 00:00 UTC to 00:00 UTC */
	TF_WINDOW_MONTH = 2, /* first of the month 00:00 UTC */
} tf_window;

const char *tf_window_name(tf_window w);
/* Parses "none" | "day" | "month"; 0 or -EINVAL. */
int tf_window_parse(const char *s, size_t n, tf_window *out);
/* Start (Unix seconds, UTC) of the window containing now; 0 for TF_WINDOW_NONE. */
int64_t tf_window_start(tf_window w, int64_t now);
/* Start of the window after the one starting at start; INT64_MAX for NONE. */
int64_t tf_window_next(tf_window w, int64_t start);

/* What the configuration says about one scope. */
typedef struct tf_scope_def {
	char name[TF_SCOPE_NAME_MAX];
	/* Informational (status display); the chain the caller passes is what nests. */
	char parent[TF_SCOPE_NAME_MAX];
	tf_money max_cost; /* TF_BUDGET_NO_LIMIT or >= 0 */
	int64_t max_requests; /* TF_BUDGET_NO_LIMIT or >= 0 */
	/* Ascending fractions of the limits in parts per million, 1..1000000;
	 * unused entries are 0. */
	uint32_t warn_ppm[TF_BUDGET_WARN_MAX];
	tf_window window;
	/*
	 * 0 for a persistent scope (configured scopes, departments). A process
	 * or workflow scope names the pid whose life bounds it; a ledger may
	 * recycle the scope's slot once that process is gone and nothing is
	 * reserved in it.
	 */
	int32_t owner_pid;
} tf_scope_def;

/* Fills a def with the name and no limits; -EINVAL for an invalid name. */
int tf_scope_def_init(tf_scope_def *d, const char *name);
int tf_scope_name_valid(const char *name);
/* 0, or -EINVAL naming nothing (bad name, negative limits, unsorted warn_ppm). */
int tf_scope_def_validate(const tf_scope_def *d);

typedef struct tf_scope_window_totals {
	int64_t start; /* window start; 0 when never used */
	tf_money spent;
	int64_t requests;
} tf_scope_window_totals;

/* The live state of one scope. Zero-filled + def = a new scope. */
typedef struct tf_scope_state {
	tf_scope_def def; /* the limits last applied by a reserve */
	tf_money spent; /* settled in the current window */
	tf_money reserved; /* held by live reservations (any window) */
	int64_t requests; /* settled requests in the current window */
	int64_t reserved_requests;
	int64_t window_start;
	uint32_t killed;
	uint32_t warned; /* bit i: warn_ppm[i] reported in this window */
	/* Charged from reservations whose owner died (part of spent), all time. */
	tf_money reclaimed;
	int64_t reclaimed_count;
	tf_money lifetime_spent; /* all windows */
	int64_t lifetime_requests;
	int64_t last_used;
	tf_scope_window_totals previous; /* the window before this one */
} tf_scope_state;

/* A view over caller-owned storage (e.g. a shared mapping). */
typedef struct tf_budget_table {
	tf_scope_state *scopes;
	uint32_t *n; /* scopes in use, the first *n entries */
	uint32_t cap;
} tf_budget_table;

/* What one reservation holds: plain data, storable in shared memory. */
typedef struct tf_budget_hold {
	uint16_t scope[TF_BUDGET_CHAIN_MAX]; /* table indexes */
	uint8_t nscopes;
	uint8_t counts_request;
	uint16_t reserved0;
	uint32_t reserved1;
	tf_money amount;
} tf_budget_hold;

typedef enum tf_budget_reason {
	TF_BUDGET_OK = 0,
	TF_BUDGET_REASON_COST,
	TF_BUDGET_REASON_REQUESTS,
	TF_BUDGET_REASON_KILLED,
} tf_budget_reason;

/* Why a reservation was refused: the first scope of the chain that would be exceeded. */
typedef struct tf_budget_denial {
	tf_budget_reason reason;
	char scope[TF_SCOPE_NAME_MAX];
	tf_money asked;
	tf_money max_cost;
	tf_money spent;
	tf_money reserved; /* includes amounts committed elsewhere (see external) */
	int64_t max_requests;
	int64_t requests; /* settled + reserved */
} tf_budget_denial;

/*
 * "budget exceeded: scope 'dept' max_cost 3.000000 USD, spent 2.900000,
 * reserved 0.050000, this call needs up to 0.200000 USD" (or the requests or
 * kill-switch variant). Returns snprintf's result.
 */
int tf_budget_denial_format(const tf_budget_denial *d, char *out, size_t outlen);

typedef struct tf_budget_warning {
	char scope[TF_SCOPE_NAME_MAX];
	uint32_t ppm; /* the threshold crossed */
	tf_money spent;
	tf_money max_cost;
	int64_t requests;
	int64_t max_requests;
	int64_t window_start;
} tf_budget_warning;

/* warn_at crossings found by one operation (at most one per scope and threshold). */
typedef struct tf_budget_events {
	uint32_t n;
	tf_budget_warning warn[TF_BUDGET_CHAIN_MAX * TF_BUDGET_WARN_MAX];
} tf_budget_events;

/* A chain: 1..TF_BUDGET_CHAIN_MAX valid defs with distinct names; 0 or -EINVAL. */
int tf_budget_chain_validate(const tf_scope_def *defs, size_t n);
/* Makes s a new scope with def d, its window started at now. */
void tf_budget_scope_init(tf_scope_state *s, const tf_scope_def *d, int64_t now);

/* Index of the scope called name, or -ENOENT. */
int tf_budget_find(const tf_budget_table *t, const char *name);

/*
 * Resolves a chain of definitions to table indexes, adding missing scopes
 * (in a free entry, one whose name is empty, else at the end). -EINVAL: see
 * tf_budget_chain_validate. -ENOSPC: no room for a new scope (scopes added
 * before stay; they are empty and harmless).
 */
int tf_budget_bind(tf_budget_table *t, const tf_scope_def *defs, size_t n, int64_t now,
		   uint16_t *idx);

/* Starts a new window if now has left the current one; the old totals become previous. */
void tf_budget_roll(tf_scope_state *s, int64_t now);

/*
 * Reserves worst (>= 0) in every scope idx[0..n) with the limits of
 * defs[0..n) (stored into each state for display), all or nothing. external
 * (may be NULL) adds, per scope, an amount committed outside this table
 * that must still fit under max_cost. With TF_BUDGET_COUNT_REQUEST the call
 * also takes one request from max_requests. Returns 0 and fills *hold, or
 * TF_BUDGET_DENIED and fills *why (may be NULL) without changing anything,
 * or -EINVAL.
 */
int tf_budget_reserve(tf_budget_table *t, const uint16_t *idx, const tf_scope_def *defs, size_t n,
		      const tf_money *external, tf_money worst, unsigned flags, int64_t now,
		      tf_budget_hold *hold, tf_budget_denial *why);

/*
 * Books actual (>= 0) as spent in every scope of the hold and drops the
 * reservation. actual > hold->amount is refused with -ERANGE (nothing
 * changes) unless flags has TF_BUDGET_SETTLE_OVER. Newly crossed warn_at
 * thresholds are appended to ev (may be NULL).
 */
int tf_budget_settle(tf_budget_table *t, const tf_budget_hold *hold, tf_money actual,
		     unsigned flags, int64_t now, tf_budget_events *ev);

/* Drops the reservation without spending (the call was never sent). */
int tf_budget_release(tf_budget_table *t, const tf_budget_hold *hold, int64_t now);

/*
 * Settles a reservation whose owner died at its full amount (conservative:
 * the call may have been sent) and counts it in reclaimed.
 */
int tf_budget_reclaim(tf_budget_table *t, const tf_budget_hold *hold, int64_t now,
		      tf_budget_events *ev);

/* Kill switch: a killed scope refuses every reservation until resumed. */
void tf_budget_kill(tf_scope_state *s, int killed);

#endif
