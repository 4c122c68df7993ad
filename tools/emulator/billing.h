/*
 * What the cloud would charge for one call, at the shipped price table
 * (policy/prices.json through policy/prices.h, the table TokenFence itself
 * prices with): the bill's cost column. All pricing goes through emu_price().
 *
 * Lookup is tf_prices_lookup()'s: the id as asked (profile ids and ARNs
 * included), then the base model (ARN reduced, cross-region prefix or Azure
 * date suffix removed). A model the table does not know is priced as
 * TokenFence prices it: at the provider's highest prices (match "unknown").
 * Azure usage splits as OpenAI reports it: cached tokens inside input,
 * reasoning tokens inside output (tf_usage_from_openai). Exact (tf_money).
 */
#ifndef EMU_BILLING_H
#define EMU_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "route.h"

typedef struct emu_usage {
	uint64_t input;     /* all input tokens, cached included */
	uint64_t output;    /* all output tokens, reasoning included */
	uint64_t cached;
	uint64_t reasoning;
} emu_usage;

typedef enum emu_price_match {
	EMU_PRICE_EXACT = 0,  /* the id itself (or the id inside an ARN) */
	EMU_PRICE_BASE = 1,   /* the base model's entry */
	EMU_PRICE_UNKNOWN = 2, /* not in the table: the provider's highest prices */
} emu_price_match;

/*
 * Prices usage for model (Bedrock: the id as asked, decoded; Azure: the base
 * model of the deployment). Writes the table key used to priced ("" when
 * unknown) and the cost to *cost; returns how the model matched. The table
 * is loaded once, on first use (thread-safe).
 */
emu_price_match emu_price(emu_provider prov, const char *model, const emu_usage *u, tf_money *cost,
			  char *priced, size_t priced_len);
const char *emu_price_match_name(emu_price_match m);
/* Frees the table (at exit, when no thread prices any more). */
void emu_prices_free(void);

#endif
