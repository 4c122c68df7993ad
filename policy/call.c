#include "call.h"

#include <stdio.h>
#include <string.h>

void tf_call_init(tf_call *c, tf_provider p)
{
	memset(c, 0, sizeof(*c));
	c->provider = p;
}

void tf_call_price(tf_call *c, const tf_prices *prices)
{
	c->match = tf_prices_lookup(prices, c->provider, c->price_model, strlen(c->price_model),
				    &c->price);
	/* The request's own limit, never capped at the model's: a request
	 * that asks for more is refused by the provider, and a cap that is
	 * wrong would under-reserve. Without one, the model's maximum. */
	c->max_out_bound = c->max_out;
	if (c->max_out_bound == 0)
		c->max_out_bound = c->price.max_output ? c->price.max_output
						       : TF_PRICES_FALLBACK_MAX_OUTPUT;
	if (c->price.mode == TF_MODE_EMBEDDING)
		c->max_out_bound = 0;
	c->worst = c->invoke ? tf_price_worst(&c->price, c->input_bound, c->max_out_bound,
					      c->cache_writes)
			     : 0;
}

uint64_t tf_usage_input(const tf_usage *u)
{
	return u->input + u->cache_read + u->cache_write + u->cache_write_1h;
}

void tf_call_settle(tf_call *c, tf_usage_source src, const char *note)
{
	c->usage_from = src;
	if (note)
		snprintf(c->note, sizeof(c->note), "%s", note);
	switch (src) {
	case TF_USAGE_NOT_BILLED:
		memset(&c->usage, 0, sizeof(c->usage));
		c->cost = 0;
		break;
	case TF_USAGE_RESERVED:
	case TF_USAGE_NONE:
		c->usage_from = TF_USAGE_RESERVED;
		c->cost = c->worst;
		break;
	case TF_USAGE_HEADERS:
	case TF_USAGE_BODY:
	case TF_USAGE_STREAM:
		c->cost = tf_price_cost(&c->price, &c->usage);
		break;
	}
}
