/*
 * One LLM call as TokenFence sees it: what the request asks for (filled by
 * the provider adapters from the request), what it may cost at worst (the
 * reservation), and what it did cost (filled from the response).
 *
 * The worst case (DESIGN.md §4 "Budget semantics"):
 *   worst = input_bound x the highest input-side rate + max_out x output rate
 * input_bound is an upper bound on the input tokens. For text, every token
 * covers at least one byte of the request body, so the body's byte length
 * bounds it, with room to spare for JSON syntax. Providers add hidden input
 * of their own (Anthropic's tool-use system prompt, chat templates); the
 * adapters add TF_CALL_TOOLS_OVERHEAD when a request defines tools and
 * TF_CALL_TEMPLATE_OVERHEAD always. Images and documents arrive base64- or
 * URL-encoded in the body: a base64 image of N bytes is billed far below N
 * tokens (Claude: width x height / 750, at most ~1,600 per image; OpenAI
 * tiles: at most ~1,100 per high-detail image), so the byte length bounds
 * them too; an image given by URL is bounded by TF_CALL_IMAGE_URL_TOKENS per
 * reference.
 */
#ifndef TF_CALL_H
#define TF_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actions.h"
#include "hosts.h"
#include "money.h"
#include "prices.h"

#define TF_CALL_MODEL_MAX 256
#define TF_CALL_TOOLS_OVERHEAD 1024u
#define TF_CALL_TEMPLATE_OVERHEAD 64u
#define TF_CALL_IMAGE_URL_TOKENS 2000u

typedef enum tf_usage_source {
	TF_USAGE_NONE = 0,   /* not (yet) known */
	TF_USAGE_HEADERS,    /* Bedrock token-count headers */
	TF_USAGE_BODY,       /* the response JSON's usage */
	TF_USAGE_STREAM,     /* the stream's final usage event */
	TF_USAGE_NOT_BILLED, /* an error the provider does not bill */
	TF_USAGE_RESERVED,   /* unreadable: charged at the reservation */
} tf_usage_source;

typedef struct tf_call {
	tf_provider provider;
	tf_action act;                /* action name, operation, flags */
	char model[TF_CALL_MODEL_MAX]; /* as requested: Bedrock id (decoded), Azure deployment or body model */
	char price_model[TF_CALL_MODEL_MAX]; /* what prices are looked up with */
	char response_model[TF_CALL_MODEL_MAX];
	bool invoke;                  /* runs a model and bills tokens */
	bool stream;
	bool body_unreadable;         /* a billable request whose body we could not read */
	uint64_t input_bound;         /* tokens, upper bound */
	uint64_t max_out;             /* the request's own limit; 0 = none given */
	uint64_t max_out_bound;       /* max_out, else the model's maximum */
	unsigned cache_writes;        /* TF_CACHE_WRITE_* the request may cause */
	tf_price price;
	tf_price_match match;
	tf_money worst;

	int status;                   /* response status; 0 = no response */
	tf_usage usage;
	tf_usage_source usage_from;
	tf_money cost;
	char note[160];               /* why it was charged as it was, for events */
} tf_call;

void tf_call_init(tf_call *c, tf_provider p);
/* Looks up the price of price_model and computes max_out_bound and worst. */
void tf_call_price(tf_call *c, const tf_prices *prices);
/* Total input tokens of the usage (plain, cached, cache writes). */
uint64_t tf_usage_input(const tf_usage *u);
/* Settles the cost from usage (source given); or, for TF_USAGE_RESERVED,
 * at the worst case; TF_USAGE_NOT_BILLED costs nothing. */
void tf_call_settle(tf_call *c, tf_usage_source src, const char *note);

#endif
