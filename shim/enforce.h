/*
 * The decision on each guarded request (DESIGN.md §4 "Budget semantics",
 * "Policy semantics"), and its bookkeeping in the ledger.
 *
 * In order: the policy (deny / require_approval / allow); then, for calls
 * that bill tokens, the per-request cap, the downgrade_at threshold, and a
 * reservation of the worst case in every scope of the call's chain (the
 * workflow, the configured scope and its parents), all or nothing. When the
 * worst case does not fit: a configured downgrade whose worst case fits,
 * else the request's output limit clamped to what fits (unless
 * clamp_max_tokens is false, never below min_max_tokens), else a block.
 * After the answer, the reservation is settled to the real cost and warn_at
 * crossings are reported once per scope and window.
 *
 * The ledger is the shared file or Redis store of policy/ledger/; if it
 * cannot be used, fail_mode decides: closed blocks billable calls, open
 * lets them through unreserved (with a warning).
 */
#ifndef TF_ENFORCE_H
#define TF_ENFORCE_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "ledger/ledger.h"
#include "rules.h"
#include "synth.h"

typedef enum tf_verdict {
	TF_VERDICT_FORWARD, /* possibly rewritten: new_model / new_max_out */
	TF_VERDICT_BLOCK,   /* answer with a synthetic error; never sent */
	TF_VERDICT_HOLD,    /* require_approval: wait for a human */
} tf_verdict;

typedef struct tf_enforcement {
	tf_verdict verdict;
	tf_block_kind kind;      /* for BLOCK */
	char detail[640];        /* for BLOCK/HOLD: why, with scope and figures */
	const char *label;       /* allow | downgrade | clamp | block | deny | approval */
	tf_decision rule;        /* the policy decision that applied */
	char new_model[TF_CALL_MODEL_MAX]; /* "" = unchanged */
	uint64_t new_max_out;    /* 0 = unchanged */
	bool reserved;
	tf_ledger_res res;
	/* Set by the caller before tf_enforce_budget(): the request cannot be
	 * changed (it could not be rewritten), so it fits as it is or not at all. */
	bool as_is;
} tf_enforcement;

/* Opens the ledger and builds the scope chain and policy from the config.
 * Called once from the shim's lazy initialisation. */
void tf_enforce_init(void);

/* Decides on call (adapted request). On FORWARD with changes, call itself is
 * updated to what will be sent (model, limits, worst case). */
void tf_enforce_request(tf_call *call, tf_enforcement *e);
/* The policy part alone; false when it blocks or holds (e says which). */
bool tf_enforce_policy(const tf_call *call, tf_enforcement *e);
/* The budget part alone (after an approval was granted). */
void tf_enforce_budget(tf_call *call, tf_enforcement *e);
/* During a stream: true (with why) when it must end now — a scope's kill
 * switch was tripped, or the output so far passed the reservation. */
bool tf_enforce_live(const tf_call *call, const tf_enforcement *e, uint64_t out_so_far, char *why,
		     size_t n);
/* Books the settled call and reports warn_at crossings. */
void tf_enforce_settle(const tf_call *call, tf_enforcement *e);
/* Gives a reservation back (the call was not sent after all). */
void tf_enforce_release(tf_enforcement *e);

/* Control socket commands: kill, resume, and the budget part of status. */
int tf_enforce_kill(const char *scope, bool kill, char *err, size_t errlen);
void tf_enforce_put_status(tf_buf *out);
/* The workflow scope's name (the innermost budget scope). */
const char *tf_enforce_workflow(void);

void tf_enforce_child_reset(void);

#endif
