/*
 * What `tokenfence status`, `top` and `metrics` make of the processes'
 * answers to {"cmd":"status"} (pure: parsed JSON in, text out).
 *
 * The per-process status object (the shim's "status" handler) has: pid,
 * exe, workflow, scope, enforced, requests, blocked, input_tokens,
 * output_tokens, cached_tokens, reasoning_tokens, cost_usd, cost_pico,
 * reserved_usd (reserved_pico if present wins), budget {max_cost,
 * remaining_usd, max_requests, max_cost_per_request} (nulls when unset),
 * by_model {model: {requests, input_tokens, output_tokens, cached_tokens,
 * reasoning_tokens, cost_usd, cost_pico[, provider]}}, by_scope {scope:
 * {spent_usd, reserved_usd, remaining_usd, max_cost, requests,
 * max_requests, window, window_start, killed}}, warnings [{time, scope,
 * message}]. Missing or mistyped fields count as absent; nothing here
 * trusts a process to be well-formed.
 *
 * Totals add the processes exactly: counts as integers, money as tf_money
 * (cost_pico, else the exact decimal cost_usd). Scopes are the exception:
 * a scope's figures come from the shared ledger and every process of the
 * scope reports the same scope, so the total shows each scope once (the
 * report with the highest spend, i.e. the freshest), never a sum.
 */
#ifndef TF_CLI_STATUS_H
#define TF_CLI_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "money.h"

typedef struct tf_proc {
	long pid;
	const tf_json_value *st; /* the answer object; NULL when there is none */
	const char *error;       /* why there is none (or the answer's error) */
} tf_proc;

typedef struct tf_agg_model {
	char *model;
	char *provider; /* metrics only; NULL in totals */
	char *scope;    /* metrics only; NULL in totals */
	uint64_t requests, input, output, cached, reasoning;
	tf_money cost;
} tf_agg_model;

typedef struct tf_agg_scope {
	const char *name;          /* points into the answers */
	const tf_json_value *v;    /* the report shown */
	tf_money spent;
} tf_agg_scope;

typedef struct tf_status_total {
	size_t processes, unresponsive, unenforced;
	uint64_t requests, blocked, input, output, cached, reasoning;
	tf_money cost, reserved;
	tf_agg_model *models;
	size_t n_models;
	tf_agg_scope *scopes;
	size_t n_scopes;
} tf_status_total;

/* Provider of a model for metrics labels ("bedrock", "azure"), or NULL. */
typedef const char *(*tf_provider_fn)(const char *model);

int tf_status_sum(const tf_proc *p, size_t n, tf_status_total *t);
void tf_status_total_free(tf_status_total *t);

/*
 * {"processes":[...],"total":{...}}: each answering process's object as it
 * answered (without "ok", with "responsive":true), each silent one as
 * {"pid":N,"responsive":false,"error":"..."}; total has processes,
 * unresponsive, unenforced, requests, blocked, the four token counts,
 * cost_usd, cost_pico, reserved_usd, by_model, by_scope.
 */
int tf_status_render_json(const tf_proc *p, size_t n, const tf_status_total *t, tf_buf *out);

/* One block per process and a total line; a note when there is none. */
int tf_status_render_text(const tf_proc *p, size_t n, const tf_status_total *t, tf_buf *out);

/*
 * Prometheus text exposition (version 0.0.4) with HELP and TYPE lines:
 * counters by {model, provider, scope} (requests, tokens, cost in USD),
 * blocked requests by scope, gauges per scope (spent, reserved,
 * remaining, limit, killed) and process counts. prov may be NULL.
 */
int tf_metrics_render(const tf_proc *p, size_t n, tf_provider_fn prov, tf_buf *out);

/* Exact USD amount of a JSON number ("0.1" -> 100000000000 pico); -EINVAL if none. */
int tf_status_money(const tf_json_value *v, tf_money *out);

#endif
