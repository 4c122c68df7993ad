#include "prices.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "models.h"

/*
 * Interim table until the shipped one (policy/prices.json) is merged: USD per
 * 1M tokens from reference/model_prices.json (LiteLLM, see WIRE.md section 6),
 * "azure/<model>" entries for Azure.
 */
static const struct entry {
	emu_provider prov;
	const char *model;
	const char *input, *output, *cache_read; /* cache_read NULL: none */
} table[] = {
	{EMU_PROV_AZURE, "gpt-4o", "2.5", "10", "1.25"},
	{EMU_PROV_AZURE, "gpt-4o-mini", "0.165", "0.66", "0.075"},
	{EMU_PROV_AZURE, "gpt-4.1", "2", "8", "0.5"},
	{EMU_PROV_AZURE, "gpt-4.1-mini", "0.4", "1.6", "0.1"},
	{EMU_PROV_AZURE, "gpt-4.1-nano", "0.1", "0.4", "0.025"},
	{EMU_PROV_AZURE, "gpt-35-turbo", "0.5", "1.5", NULL},
	{EMU_PROV_AZURE, "gpt-35-turbo-instruct", "1.5", "2", NULL},
	{EMU_PROV_AZURE, "gpt-5", "1.25", "10", "0.125"},
	{EMU_PROV_AZURE, "gpt-5-mini", "0.25", "2", "0.025"},
	{EMU_PROV_AZURE, "o1", "15", "60", "7.5"},
	{EMU_PROV_AZURE, "o3", "2", "8", "0.5"},
	{EMU_PROV_AZURE, "o3-mini", "1.1", "4.4", "0.55"},
	{EMU_PROV_AZURE, "o4-mini", "1.1", "4.4", "0.275"},
	{EMU_PROV_AZURE, "text-embedding-3-small", "0.02", "0", NULL},
	{EMU_PROV_AZURE, "text-embedding-3-large", "0.13", "0", NULL},
	{EMU_PROV_AZURE, "text-embedding-ada-002", "0.1", "0", NULL},
	{EMU_PROV_BEDROCK, "anthropic.claude-3-haiku-20240307-v1:0", "0.25", "1.25", "0.025"},
	{EMU_PROV_BEDROCK, "anthropic.claude-3-5-haiku-20241022-v1:0", "0.8", "4", "0.08"},
	{EMU_PROV_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0", "3", "15", "0.3"},
	{EMU_PROV_BEDROCK, "anthropic.claude-3-7-sonnet-20250219-v1:0", "3", "15", "0.3"},
	{EMU_PROV_BEDROCK, "anthropic.claude-sonnet-4-20250514-v1:0", "3", "15", "0.3"},
	{EMU_PROV_BEDROCK, "amazon.titan-text-lite-v1", "0.3", "0.4", NULL},
	{EMU_PROV_BEDROCK, "amazon.titan-text-express-v1", "1.3", "1.7", NULL},
	{EMU_PROV_BEDROCK, "amazon.titan-text-premier-v1:0", "0.5", "1.5", NULL},
	{EMU_PROV_BEDROCK, "amazon.titan-embed-text-v1", "0.1", "0", NULL},
	{EMU_PROV_BEDROCK, "amazon.titan-embed-text-v2:0", "0.02", "0", NULL},
	{EMU_PROV_BEDROCK, "amazon.nova-micro-v1:0", "0.035", "0.14", NULL},
	{EMU_PROV_BEDROCK, "amazon.nova-lite-v1:0", "0.06", "0.24", NULL},
	{EMU_PROV_BEDROCK, "amazon.nova-pro-v1:0", "0.8", "3.2", NULL},
	{EMU_PROV_BEDROCK, "meta.llama3-1-8b-instruct-v1:0", "0.22", "0.22", NULL},
	{EMU_PROV_BEDROCK, "meta.llama3-1-70b-instruct-v1:0", "0.99", "0.99", NULL},
	{EMU_PROV_BEDROCK, "meta.llama3-3-70b-instruct-v1:0", "0.72", "0.72", NULL},
	{EMU_PROV_BEDROCK, "mistral.mistral-7b-instruct-v0:2", "0.15", "0.2", NULL},
	{EMU_PROV_BEDROCK, "mistral.mistral-large-2402-v1:0", "8", "24", NULL},
	{EMU_PROV_BEDROCK, "mistral.mistral-large-2407-v1:0", "3", "9", NULL},
	{EMU_PROV_BEDROCK, "cohere.command-r-v1:0", "0.5", "1.5", NULL},
	{EMU_PROV_BEDROCK, "cohere.command-r-plus-v1:0", "3", "15", NULL},
	{EMU_PROV_BEDROCK, "cohere.command-text-v14", "1.5", "2", NULL},
	{EMU_PROV_BEDROCK, "cohere.embed-english-v3", "0.1", "0", NULL},
};

static const struct entry *find(emu_provider prov, const char *id, size_t n)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].prov == prov && strlen(table[i].model) == n &&
		    strncasecmp(table[i].model, id, n) == 0)
			return &table[i];
	return NULL;
}

static size_t undated_len(const char *s, size_t n)
{
	static const char shape[] = "-dddd-dd-dd";

	if (n <= 11)
		return n;
	for (size_t i = 0; i < 11; i++) {
		char c = s[n - 11 + i];

		if (shape[i] == 'd' ? (c < '0' || c > '9') : c != '-')
			return n;
	}
	return n - 11;
}

static const struct entry *lookup(emu_provider prov, const char *id)
{
	const struct entry *e = find(prov, id, strlen(id));
	const char *p = id;

	if (e)
		return e;
	if (prov == EMU_PROV_AZURE)
		return find(prov, id, undated_len(id, strlen(id)));
	if (strncmp(id, "arn:", 4) == 0) {
		const char *fm = strstr(id, ":foundation-model/"), *ip = strstr(id, ":inference-profile/");

		if (fm)
			p = fm + strlen(":foundation-model/");
		else if (ip)
			p = ip + strlen(":inference-profile/");
		else
			return NULL;
		if ((e = find(prov, p, strlen(p))))
			return e;
	}
	p += emu_profile_prefix_len(p);
	return find(prov, p, strlen(p));
}

static tf_money per_token(const char *usd_per_mtok)
{
	tf_money m = 0;

	if (tf_money_parse_per_mtok(usd_per_mtok, strlen(usd_per_mtok), &m) != 0)
		return 0;
	return m;
}

bool emu_price(emu_provider prov, const char *model, const emu_usage *u, tf_money *cost,
	       char *priced, size_t priced_len)
{
	const struct entry *e = lookup(prov, model);
	uint64_t cached = u->cached < u->input ? u->cached : u->input;
	tf_money in, c;

	*cost = 0;
	if (priced_len)
		priced[0] = '\0';
	if (!e)
		return false;
	snprintf(priced, priced_len, "%s", e->model);
	in = per_token(e->input);
	c = tf_money_mul(u->input - cached, in);
	c = tf_money_add(c, tf_money_mul(cached, e->cache_read ? per_token(e->cache_read) : in));
	c = tf_money_add(c, tf_money_mul(u->output, per_token(e->output)));
	*cost = c;
	return true;
}
