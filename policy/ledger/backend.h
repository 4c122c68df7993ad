/*
 * Internal to policy/ledger/: the backend vtable behind tf_ledger, and the
 * file backend's extra entry points that the Redis backend builds on (its
 * outbox of undelivered settles and its fail-open fallback reservations).
 */
#ifndef TF_LEDGER_BACKEND_H
#define TF_LEDGER_BACKEND_H

#include "ledger/ledger.h"

/* Descriptors are moved at or above this (hosts dup2 over low fds, STYLE.md P14). */
#define TF_LEDGER_FD_MIN 200

struct tf_ledger_ops {
	int (*reserve)(tf_ledger *l, const tf_scope_def *chain, size_t n, tf_money worst,
		       unsigned flags, tf_ledger_res *res, tf_budget_denial *why);
	int (*settle)(tf_ledger *l, const tf_ledger_res *res, tf_money actual, unsigned flags,
		      tf_budget_events *ev);
	int (*release)(tf_ledger *l, const tf_ledger_res *res);
	int (*totals)(tf_ledger *l, const char *scope, tf_scope_state *out);
	int (*list)(tf_ledger *l, tf_scope_state *out, size_t cap);
	int (*kill)(tf_ledger *l, const char *scope, int killed);
	int (*sync)(tf_ledger *l);
	int (*info)(tf_ledger *l, tf_ledger_info *out);
	void (*atfork_child)(tf_ledger *l);
	void (*close)(tf_ledger *l);
};

struct tf_ledger {
	const struct tf_ledger_ops *ops;
};

/* Unix seconds from the options' clock. */
int64_t tf_ledger_now(tf_ledger_clock clock, void *ctx);
/*
 * The default directory ($XDG_RUNTIME_DIR/tokenfence, else
 * /tmp/tokenfence-<uid>), created 0700 if missing and refused (-EACCES) if
 * it is not a directory owned by us with no group/other access.
 */
int tf_ledger_default_dir(char *out, size_t outlen, char *err, size_t errlen);
/* Moves fd to >= TF_LEDGER_FD_MIN with close-on-exec (keeps fd if that fails). */
int tf_ledger_fd_high(int fd);

/* File backend. flags: TF_FILE_FALLBACK marks a Redis fallback file. */
#define TF_FILE_FALLBACK 0x1u
int tf_file_ledger_open(const char *path, const tf_ledger_opts *o, unsigned flags,
			tf_ledger **out, char *err, size_t errlen);
int tf_redis_ledger_open(const char *spec, const tf_ledger_opts *o, tf_ledger **out, char *err,
			 size_t errlen);

/* Reserve with amounts committed elsewhere per scope (see tf_budget_reserve). */
int tf_file_reserve_ext(tf_ledger *l, const tf_scope_def *chain, size_t n,
			const tf_money *external, tf_money worst, unsigned flags,
			tf_ledger_res *res, tf_budget_denial *why);

/* The outbox: settles/releases of Redis reservations not yet delivered. */
#define TF_OUTBOX_SETTLE 1u
#define TF_OUTBOX_RELEASE 2u
typedef struct tf_outbox_entry {
	uint32_t slot;
	uint32_t op;
	uint64_t seq;
	uint64_t remote_id;
	tf_money actual;
	uint32_t flags;
	uint32_t reserved0;
} tf_outbox_entry;
int tf_file_outbox_put(tf_ledger *l, uint32_t op, uint64_t remote_id, tf_money actual,
		       uint32_t flags);
/* Copies up to cap queued entries; returns the number copied or negative. */
int tf_file_outbox_peek(tf_ledger *l, tf_outbox_entry *out, size_t cap);
int tf_file_outbox_drop(tf_ledger *l, const tf_outbox_entry *e);

/*
 * Reconciliation of a fallback file: one scope at a time, its locally
 * settled spend moves into an in-flight batch with a unique id; the batch is
 * applied to Redis idempotently (keyed by instance + seq) and then dropped.
 * A batch interrupted by a crash is offered again, with the same id.
 */
typedef struct tf_sync_batch {
	char scope[TF_SCOPE_NAME_MAX];
	uint32_t idx;
	uint64_t instance;
	uint64_t seq;
	tf_money cost;
	int64_t requests;
} tf_sync_batch;
/* 1 and fills *b, 0 when nothing is left to reconcile, or negative. */
int tf_file_sync_take(tf_ledger *l, tf_sync_batch *b);
int tf_file_sync_done(tf_ledger *l, const tf_sync_batch *b);
/* Lock-free hint that the fallback file has something to deliver. */
int tf_file_sync_hint_take(tf_ledger *l);
void tf_file_sync_hint_set(tf_ledger *l);

#endif
