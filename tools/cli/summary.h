/*
 * The summary `tokenfence run` prints when its command ends, built from
 * $TOKENFENCE_RUN_DIR/calls.jsonl (one JSON object per line, written by the
 * shim of every process of the run):
 *
 *  - a call line (no "tokenfence.event"): gen_ai.request.model,
 *    gen_ai.response.model, gen_ai.usage.input_tokens / output_tokens,
 *    tokenfence.cached_tokens, tokenfence.reasoning_tokens,
 *    tokenfence.cost_pico (exact; tokenfence.cost_usd is used only when
 *    it is absent), tokenfence.decision;
 *  - an event line: "tokenfence.event" (warning | block | policy |
 *    approval) and "message"; warnings are listed, deduplicated.
 *
 * Decisions: allow, downgrade, clamp, approved (and anything unknown) count
 * as forwarded requests; block counts as blocked; deny, approval_denied and
 * approval_timeout count as denied. A call the shim stopped may instead be
 * recorded as a block/policy/approval event whose message holds the phrase
 * of its error ("budget exceeded" counts as blocked, "denied by policy" and
 * "approval denied" as denied; other approval events count nothing). Each
 * stopped call must be recorded one way, not both. Money is summed exactly
 * (tf_money).
 * A line that is not a JSON object (e.g. cut short when a process was
 * killed mid-write) is counted as unreadable and skipped.
 */
#ifndef TF_CLI_SUMMARY_H
#define TF_CLI_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "money.h"

#define TF_SUMMARY_MAX_WARNINGS 64  /* distinct warnings kept */
#define TF_SUMMARY_SHOWN_MODELS 12  /* rows in the rendered table */
#define TF_SUMMARY_SHOWN_WARNINGS 5

typedef struct tf_summary_model {
	char *name;
	uint64_t requests, blocked, input, output, cached, reasoning;
	tf_money cost;
} tf_summary_model;

typedef struct tf_summary {
	tf_summary_model *models;
	size_t n_models, cap_models;
	uint64_t calls;     /* call lines */
	uint64_t requests;  /* forwarded */
	uint64_t blocked, denied, downgraded, clamped;
	uint64_t input, output, cached, reasoning;
	tf_money cost;
	char **warnings;    /* distinct messages, first seen first */
	size_t n_warnings;
	uint64_t warnings_dropped; /* distinct ones past TF_SUMMARY_MAX_WARNINGS */
	uint64_t unreadable;
} tf_summary;

void tf_summary_init(tf_summary *s);
void tf_summary_free(tf_summary *s);

/* One line (without its newline). 0, -EINVAL (unreadable, counted), -ENOMEM. */
int tf_summary_add_line(tf_summary *s, const char *line, size_t n);
/* Every line of a JSONL text; blank lines are skipped. 0 or -ENOMEM. */
int tf_summary_add_text(tf_summary *s, const char *text, size_t n);

/*
 * The one-screen summary: the models table (most expensive first, at most
 * TF_SUMMARY_SHOWN_MODELS rows, the rest folded into one line), totals,
 * blocked/denied/downgraded/clamped counts, warnings, then how the command
 * ended (status_text, e.g. "exited with status 7"). workflow may be NULL.
 */
int tf_summary_render(const tf_summary *s, const char *workflow, const char *status_text,
		      tf_buf *out);

#endif
