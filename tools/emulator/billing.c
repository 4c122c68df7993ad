#include "billing.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "prices.h" /* policy/prices.h: the shipped table */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static tf_prices table;
static bool loaded;

static void load(void)
{
	char err[256];

	if (tf_prices_init(&table, err, sizeof(err)) == 0)
		loaded = true;
	else
		fprintf(stderr, "tokenfence-emulator: price table: %s\n", err);
}

const char *emu_price_match_name(emu_price_match m)
{
	return m == EMU_PRICE_EXACT ? "exact" : m == EMU_PRICE_BASE ? "base" : "unknown";
}

emu_price_match emu_price(emu_provider prov, const char *model, const emu_usage *u, tf_money *cost,
			  char *priced, size_t priced_len)
{
	tf_provider p = prov == EMU_PROV_AZURE ? TF_PROVIDER_AZURE : TF_PROVIDER_BEDROCK;
	tf_price price;
	tf_price_match m;
	tf_usage tu;

	*cost = 0;
	if (priced_len)
		priced[0] = '\0';
	pthread_once(&once, load);
	if (!loaded)
		return EMU_PRICE_UNKNOWN;
	m = tf_prices_lookup(&table, p, model, strlen(model), &price);
	if (price.model && m != TF_PRICE_UNKNOWN)
		snprintf(priced, priced_len, "%s", price.model);
	memset(&tu, 0, sizeof(tu));
	if (prov == EMU_PROV_AZURE) {
		tf_usage_from_openai(&tu, u->input, u->cached, u->output, u->reasoning);
	} else {
		tu.input = u->input;
		tu.output = u->output;
	}
	*cost = tf_price_cost(&price, &tu);
	return m == TF_PRICE_EXACT ? EMU_PRICE_EXACT : m == TF_PRICE_BASE ? EMU_PRICE_BASE : EMU_PRICE_UNKNOWN;
}

void emu_prices_free(void)
{
	if (loaded) {
		tf_prices_free(&table);
		loaded = false;
	}
}
