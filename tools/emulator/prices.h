/*
 * What the cloud would charge for one call: the bill's cost column. All
 * pricing goes through emu_price(), so the table behind it can be replaced
 * by the shipped one (policy/prices.h) without touching the handlers.
 *
 * Lookup: the id as given (case-insensitive), then for Bedrock the id inside
 * a foundation-model / inference-profile ARN and the id without a
 * cross-region prefix, for Azure the name without a "-YYYY-MM-DD" suffix.
 * Cost = (input - cached) x input price + cached x cache-read price (input
 * price when the model has none) + output x output price; reasoning tokens
 * are part of output. Exact (tf_money).
 */
#ifndef EMU_PRICES_H
#define EMU_PRICES_H

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

/*
 * Prices usage for model (Bedrock: the id as asked, decoded; Azure: the base
 * model of the deployment). Writes the table key used to priced and the cost
 * to *cost. Returns false when the model is not in the table (cost 0,
 * priced "").
 */
bool emu_price(emu_provider prov, const char *model, const emu_usage *u, tf_money *cost,
	       char *priced, size_t priced_len);

#endif
