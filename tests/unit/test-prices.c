#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prices.h"

/* USD per 1M tokens -> pico-dollars per token. */
#define USD(x) ((tf_money)((x) * 1000000))
#define S(lit) lit, strlen(lit)

static tf_prices t;
static char err[512];

static void setup(void)
{
	int r = tf_prices_init(&t, err, sizeof(err));

	cr_assert_eq(r, 0, "built-in table: %s", err);
}

static void teardown(void)
{
	tf_prices_free(&t);
}

TestSuite(prices, .init = setup, .fini = teardown);

static tf_price_match look(tf_provider prov, const char *id, tf_price *p)
{
	return tf_prices_lookup(&t, prov, id, strlen(id), p);
}

/* ---- the shipped table ---------------------------------------------- */

Test(prices, ships_every_required_model)
{
	static const struct {
		tf_provider prov;
		char id[64];
	} need[] = {
		{ TF_PROVIDER_AZURE, "gpt-4o" },
		{ TF_PROVIDER_AZURE, "gpt-4o-mini" },
		{ TF_PROVIDER_AZURE, "o1" },
		{ TF_PROVIDER_AZURE, "o3-mini" },
		{ TF_PROVIDER_AZURE, "gpt-4.1" },
		{ TF_PROVIDER_AZURE, "gpt-4.1-mini" },
		{ TF_PROVIDER_AZURE, "gpt-4.1-nano" },
		{ TF_PROVIDER_AZURE, "text-embedding-3-small" },
		{ TF_PROVIDER_AZURE, "text-embedding-3-large" },
		{ TF_PROVIDER_AZURE, "text-embedding-ada-002" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20240620-v1:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-7-sonnet-20250219-v1:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-sonnet-4-20250514-v1:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-haiku-20240307-v1:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-haiku-20241022-v1:0" },
		{ TF_PROVIDER_BEDROCK, "anthropic.claude-3-opus-20240229-v1:0" },
		{ TF_PROVIDER_BEDROCK, "meta.llama3-1-8b-instruct-v1:0" },
		{ TF_PROVIDER_BEDROCK, "meta.llama3-1-70b-instruct-v1:0" },
		{ TF_PROVIDER_BEDROCK, "meta.llama3-2-11b-instruct-v1:0" },
		{ TF_PROVIDER_BEDROCK, "meta.llama3-3-70b-instruct-v1:0" },
		{ TF_PROVIDER_BEDROCK, "amazon.titan-text-premier-v1:0" },
		{ TF_PROVIDER_BEDROCK, "amazon.titan-text-express-v1" },
		{ TF_PROVIDER_BEDROCK, "amazon.titan-text-lite-v1" },
		{ TF_PROVIDER_BEDROCK, "amazon.titan-embed-text-v2:0" },
		{ TF_PROVIDER_BEDROCK, "amazon.nova-micro-v1:0" },
		{ TF_PROVIDER_BEDROCK, "amazon.nova-lite-v1:0" },
		{ TF_PROVIDER_BEDROCK, "amazon.nova-pro-v1:0" },
		{ TF_PROVIDER_BEDROCK, "mistral.mistral-7b-instruct-v0:2" },
		{ TF_PROVIDER_BEDROCK, "mistral.mixtral-8x7b-instruct-v0:1" },
		{ TF_PROVIDER_BEDROCK, "mistral.mistral-large-2402-v1:0" },
		{ TF_PROVIDER_BEDROCK, "mistral.mistral-large-2407-v1:0" },
		{ TF_PROVIDER_BEDROCK, "cohere.command-r-v1:0" },
		{ TF_PROVIDER_BEDROCK, "cohere.command-r-plus-v1:0" },
		{ TF_PROVIDER_BEDROCK, "us.anthropic.claude-3-5-sonnet-20241022-v2:0" },
		{ TF_PROVIDER_BEDROCK, "eu.anthropic.claude-3-7-sonnet-20250219-v1:0" },
		{ TF_PROVIDER_BEDROCK, "apac.anthropic.claude-sonnet-4-20250514-v1:0" },
		{ TF_PROVIDER_BEDROCK, "global.anthropic.claude-sonnet-4-20250514-v1:0" },
		{ TF_PROVIDER_BEDROCK, "jp.anthropic.claude-haiku-4-5-20251001-v1:0" },
		{ TF_PROVIDER_BEDROCK, "us.meta.llama3-1-70b-instruct-v1:0" },
		{ TF_PROVIDER_BEDROCK, "eu.amazon.nova-pro-v1:0" },
	};
	tf_price p;

	cr_expect_geq(t.n, 100);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		cr_expect_eq(look(need[i].prov, need[i].id, &p), TF_PRICE_EXACT, "%s", need[i].id);
		cr_expect_eq(p.provider, need[i].prov, "%s", need[i].id);
		cr_expect_str_eq(p.model, need[i].id);
	}
}

Test(prices, every_entry_is_complete_and_sane)
{
	for (size_t i = 0; i < t.n; i++) {
		const tf_price *p = &t.v[i];
		cr_expect(p->provider == TF_PROVIDER_BEDROCK || p->provider == TF_PROVIDER_AZURE,
			  "%s", p->model);
		cr_expect(p->mode != TF_MODE_UNSET, "%s", p->model);
		cr_expect_gt(p->input, 0, "%s", p->model);
		cr_expect_geq(p->output, 0, "%s", p->model);
		cr_expect(p->mode == TF_MODE_EMBEDDING || (p->output > 0 && p->max_output > 0),
			  "%s", p->model);
		cr_expect(p->cache_read == TF_PRICE_UNSET || p->cache_read <= p->input, "%s",
			  p->model);
		cr_expect(!p->lc_threshold || (p->lc_input >= p->input && p->lc_output >= p->output),
			  "%s", p->model);
		if (i > 0)
			cr_expect_lt(strcasecmp(t.v[i - 1].model, p->model), 0, "sorted at %s",
				     p->model);
	}
}

Test(prices, exact_prices_from_the_table)
{
	tf_price p;

	/* $3 / $15 / $0.30 / $3.75 per 1M tokens. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0", &p);
	cr_expect_eq(p.input, 3000000);
	cr_expect_eq(p.output, 15000000);
	cr_expect_eq(p.cache_read, 300000);
	cr_expect_eq(p.cache_write, 3750000);
	cr_expect_eq(p.max_output, 8192);
	/* $0.25 / $1.25 / $0.025 / $0.3125. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-haiku-20240307-v1:0", &p);
	cr_expect(p.input == 250000 && p.output == 1250000 && p.cache_read == 25000 &&
		  p.cache_write == 312500);
	/* Azure Global Standard: gpt-4o $2.50/$10 (cached $1.25), gpt-4o-mini $0.15/$0.60. */
	look(TF_PROVIDER_AZURE, "gpt-4o", &p);
	cr_expect(p.input == 2500000 && p.output == 10000000 && p.cache_read == 1250000);
	look(TF_PROVIDER_AZURE, "gpt-4o-mini", &p);
	cr_expect(p.input == 150000 && p.output == 600000 && p.cache_read == TF_PRICE_UNSET);
	look(TF_PROVIDER_BEDROCK, "amazon.nova-micro-v1:0", &p);
	cr_expect(p.input == 35000 && p.output == 140000);
	look(TF_PROVIDER_AZURE, "text-embedding-3-small", &p);
	cr_expect(p.input == 20000 && p.output == 0 && p.mode == TF_MODE_EMBEDDING);
	/* Max output: raised where the provider documents more than the source. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-7-sonnet-20250219-v1:0", &p);
	cr_expect_eq(p.max_output, 64000);
	look(TF_PROVIDER_BEDROCK, "us.anthropic.claude-3-7-sonnet-20250219-v1:0", &p);
	cr_expect_eq(p.max_output, 64000);
	look(TF_PROVIDER_BEDROCK, "amazon.titan-text-express-v1", &p);
	cr_expect_eq(p.max_output, 8192);
	/* A profile is never cheaper than its base model: the source's eu. 3.5
	 * Haiku carries the Claude 3 Haiku price; we ship the base's $0.80/$4. */
	look(TF_PROVIDER_BEDROCK, "eu.anthropic.claude-3-5-haiku-20241022-v1:0", &p);
	cr_expect(p.input == 800000 && p.output == 4000000);
	/* Profiles priced on their own: eu. Nova Pro $1.05/$4.20 vs base $0.80/$3.20. */
	look(TF_PROVIDER_BEDROCK, "eu.amazon.nova-pro-v1:0", &p);
	cr_expect(p.input == 1050000 && p.output == 4200000);
}

/* ---- lookup forms --------------------------------------------------- */

Test(prices, bedrock_ids_profiles_and_arns)
{
	tf_price p;

	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0", &p),
		     TF_PRICE_EXACT);
	cr_expect_str_eq(p.model, "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
	cr_expect_eq(look(TF_PROVIDER_BEDROCK,
			  "arn:aws:bedrock:us-east-1::foundation-model/"
			  "anthropic.claude-3-haiku-20240307-v1:0",
			  &p),
		     TF_PRICE_EXACT);
	cr_expect_str_eq(p.model, "anthropic.claude-3-haiku-20240307-v1:0");
	cr_expect_eq(look(TF_PROVIDER_BEDROCK,
			  "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
			  "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
			  &p),
		     TF_PRICE_EXACT);
	cr_expect_str_eq(p.model, "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
	/* A profile the table lacks falls back to its base model. */
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "apac.anthropic.claude-3-7-sonnet-20250219-v1:0", &p),
		     TF_PRICE_BASE);
	cr_expect_str_eq(p.model, "anthropic.claude-3-7-sonnet-20250219-v1:0");
	cr_expect_eq(look(TF_PROVIDER_BEDROCK,
			  "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/"
			  "us-gov.meta.llama3-1-8b-instruct-v1:0",
			  &p),
		     TF_PRICE_BASE);
	cr_expect_str_eq(p.model, "meta.llama3-1-8b-instruct-v1:0");
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "ca.amazon.nova-lite-v1:0", &p), TF_PRICE_BASE);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "global.anthropic.claude-sonnet-4-20250514-v1:0", &p),
		     TF_PRICE_EXACT);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "au.anthropic.claude-sonnet-4-5-20250929-v1:0", &p),
		     TF_PRICE_EXACT);
	/* au. Sonnet 4.5 is priced 10% above the base in the source. */
	cr_expect(p.input == 3300000 && p.output == 16500000);
	/* Model ids are matched ignoring case. */
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "US.Anthropic.Claude-3-Haiku-20240307-V1:0", &p),
		     TF_PRICE_EXACT);
}

Test(prices, opaque_bedrock_arns_are_unknown)
{
	tf_price p;

	cr_expect_eq(look(TF_PROVIDER_BEDROCK,
			  "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"
			  "abc123def456",
			  &p),
		     TF_PRICE_UNKNOWN);
	cr_expect_null(p.model);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK,
			  "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz", &p),
		     TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "arn:aws:bedrock:us-east-1", &p), TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "us.", &p), TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "", &p), TF_PRICE_UNKNOWN);
}

Test(prices, azure_dated_names)
{
	tf_price p;

	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4o-2024-11-20", &p), TF_PRICE_BASE);
	cr_expect_str_eq(p.model, "gpt-4o");
	cr_expect_eq(p.input, 2500000);
	/* The first gpt-4o had its own, higher price. */
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4o-2024-05-13", &p), TF_PRICE_EXACT);
	cr_expect(p.input == 5000000 && p.output == 15000000);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4o-mini-2024-07-18", &p), TF_PRICE_BASE);
	cr_expect_str_eq(p.model, "gpt-4o-mini");
	cr_expect_eq(look(TF_PROVIDER_AZURE, "o1-2024-12-17", &p), TF_PRICE_BASE);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "o3-mini-2025-01-31", &p), TF_PRICE_BASE);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4.1-nano-2025-04-14", &p), TF_PRICE_BASE);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "GPT-4o", &p), TF_PRICE_EXACT);
	/* Not a date: "-0125", "-2024-1-20". */
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4o-0125", &p), TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-4o-2024-1-20", &p), TF_PRICE_UNKNOWN);
	/* Each provider keeps to its own forms and models. */
	cr_expect_eq(look(TF_PROVIDER_AZURE, "us.gpt-4o", &p), TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "gpt-4o", &p), TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "anthropic.claude-3-haiku-20240307-v1:0", &p),
		     TF_PRICE_UNKNOWN);
	cr_expect_eq(look(TF_PROVIDER_NONE, "gpt-4o", &p), TF_PRICE_EXACT);
}

Test(prices, unknown_models_are_never_free)
{
	tf_price p;

	/* Bedrock's dearest: Claude 3 Opus / Opus 4 at $15 in, $75 out, cache
	 * writes $18.75; output up to 64000 tokens (Sonnet 4 and newer). */
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "anthropic.claude-9-v1:0", &p), TF_PRICE_UNKNOWN);
	cr_expect_null(p.model);
	cr_expect_eq(p.input, 15000000);
	cr_expect_eq(p.output, 75000000);
	cr_expect_eq(p.cache_read, TF_PRICE_UNSET);
	cr_expect_eq(p.cache_write, 18750000);
	cr_expect_eq(p.max_output, 64000);
	/* Azure's dearest: gpt-4 $30 in, gpt-4 and o1 $60 out; o-series 100000 out. */
	cr_expect_eq(look(TF_PROVIDER_AZURE, "gpt-9", &p), TF_PRICE_UNKNOWN);
	cr_expect(p.input == 30000000 && p.output == 60000000 && p.max_output == 100000);
	cr_expect_eq(look(TF_PROVIDER_NONE, "whatever", &p), TF_PRICE_UNKNOWN);
	cr_expect(p.input == 30000000 && p.output == 75000000);
	/* An unknown model's cached tokens cost as much as plain input. */
	{
		tf_usage u = { .cache_read = 1000 };
		look(TF_PROVIDER_BEDROCK, "mystery.model", &p);
		cr_expect_eq(tf_price_cost(&p, &u), 1000 * 15000000LL);
	}
}

Test(prices, lookup_stays_inside_its_span)
{
	static const char *const ids[] = { "anthropic.claude-3-haiku-20240307-v1%3A0",
					   "gpt-4o-2024-11-20", "x%", "x%4", "arn:aws:bedrock:a:b:",
					   "us.", "gpt-4o-2024-11-2" };
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	tf_price p;

	cr_assert(map != MAP_FAILED);
	cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		size_t n = strlen(ids[i]);
		for (size_t cut = 0; cut <= n; cut++) {
			memcpy(map + page - cut, ids[i], cut);
			tf_prices_lookup(&t, TF_PROVIDER_BEDROCK, map + page - cut, cut, &p);
			tf_prices_lookup(&t, TF_PROVIDER_AZURE, map + page - cut, cut, &p);
		}
	}
	memcpy(map + page - strlen(ids[0]), ids[0], strlen(ids[0]));
	cr_expect_eq(tf_prices_lookup(&t, TF_PROVIDER_BEDROCK, map + page - strlen(ids[0]),
				      strlen(ids[0]), &p),
		     TF_PRICE_EXACT);
	munmap(map, (size_t)page * 2);
}

/* ---- cost ----------------------------------------------------------- */

Test(prices, cost_is_exact_to_the_picodollar)
{
	tf_price p;
	tf_usage u;

	/* Claude 3.5 Sonnet v2: 1234 in x 3e6 = 3,702,000,000; 567 out x 15e6 =
	 * 8,505,000,000; 10000 cache reads x 300,000 = 3,000,000,000; 2000 cache
	 * writes x 3,750,000 = 7,500,000,000. Sum 22,707,000,000 = $0.022707. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0", &p);
	u = (tf_usage){ .input = 1234, .output = 567, .cache_read = 10000, .cache_write = 2000 };
	cr_expect_eq(tf_price_cost(&p, &u), 22707000000LL);

	/* Azure o1, prompt 1000 of which 400 cached, completion 500 of which
	 * 300 reasoning: 600 x 15e6 = 9e9; 400 x 7.5e6 = 3e9; (200 + 300) x
	 * 60e6 = 30e9. Sum 42e9 = $0.042. */
	look(TF_PROVIDER_AZURE, "o1", &p);
	tf_usage_from_openai(&u, 1000, 400, 500, 300);
	cr_expect(u.input == 600 && u.cache_read == 400 && u.output == 200 && u.reasoning == 300);
	cr_expect_eq(tf_price_cost(&p, &u), 42000000000LL);

	/* gpt-4o-mini has no cached price in the table: cached tokens at the
	 * input rate. 800 x 150,000 + 200 x 150,000 + 100 x 600,000 = 210,000,000. */
	look(TF_PROVIDER_AZURE, "gpt-4o-mini", &p);
	tf_usage_from_openai(&u, 1000, 200, 100, 0);
	cr_expect_eq(tf_price_cost(&p, &u), 210000000LL);

	/* Nova Micro $0.035/$0.14: 1,000,001 x 35,000 = 35,000,035,000;
	 * 333 x 140,000 = 46,620,000. Sum 35,046,655,000 = $0.035046655. */
	look(TF_PROVIDER_BEDROCK, "us.amazon.nova-micro-v1:0", &p);
	u = (tf_usage){ .input = 1000001, .output = 333 };
	cr_expect_eq(tf_price_cost(&p, &u), 35046655000LL);

	/* text-embedding-3-small $0.02: 8191 x 20,000 = 163,820,000. */
	look(TF_PROVIDER_AZURE, "text-embedding-3-small", &p);
	u = (tf_usage){ .input = 8191 };
	cr_expect_eq(tf_price_cost(&p, &u), 163820000LL);

	u = (tf_usage){ .input = UINT64_MAX };
	cr_expect_eq(tf_price_cost(&p, &u), TF_MONEY_MAX);
	u = (tf_usage){ .output = UINT64_MAX, .reasoning = UINT64_MAX };
	look(TF_PROVIDER_AZURE, "o1", &p);
	cr_expect_eq(tf_price_cost(&p, &u), TF_MONEY_MAX);
}

Test(prices, long_context_tier)
{
	tf_price p;
	tf_usage u;

	look(TF_PROVIDER_BEDROCK, "anthropic.claude-sonnet-4-20250514-v1:0", &p);
	cr_expect_eq(p.lc_threshold, 200000);
	/* 150,000 + 50,000 cached = 200,000: not above the threshold.
	 * 150,000 x 3e6 = 4.5e11; 50,000 x 3e5 = 1.5e10; 1000 x 15e6 = 1.5e10:
	 * 4.8e11 = $0.48. */
	u = (tf_usage){ .input = 150000, .cache_read = 50000, .output = 1000 };
	cr_expect_eq(tf_price_cost(&p, &u), 480000000000LL);
	/* 210,000 input: every token at $6 / $0.60 / $22.50.
	 * 150,000 x 6e6 = 9e11; 60,000 x 6e5 = 3.6e10; 1000 x 22.5e6 = 2.25e10:
	 * 9.585e11 = $0.9585. */
	u.cache_read = 60000;
	cr_expect_eq(tf_price_cost(&p, &u), 958500000000LL);
}

Test(prices, one_hour_cache_writes)
{
	tf_price p;
	tf_usage u = { .cache_write = 1000, .cache_write_1h = 1000 };

	/* Haiku 4.5 lists both: 1000 x 1.25e6 + 1000 x 2e6 = 3.25e9. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-haiku-4-5-20251001-v1:0", &p);
	cr_expect_eq(tf_price_cost(&p, &u), 3250000000LL);
	/* Claude 3.5 Sonnet v2 lists no 1-hour rate: 2 x $3 input, above the
	 * $3.75 5-minute rate. 1000 x 3.75e6 + 1000 x 6e6 = 9.75e9. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0", &p);
	cr_expect_eq(tf_price_cost(&p, &u), 9750000000LL);
}

Test(prices, worst_case)
{
	tf_price p;

	look(TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0", &p);
	/* 1000 x 3e6 + 4096 x 15e6 = 3e9 + 61.44e9 = 64.44e9. */
	cr_expect_eq(tf_price_worst(&p, 1000, 4096, 0), 64440000000LL);
	/* Asking for caching: input at the $3.75 write rate: 3.75e9 + 61.44e9. */
	cr_expect_eq(tf_price_worst(&p, 1000, 4096, TF_CACHE_WRITE_5M), 65190000000LL);
	/* 1-hour TTL: at $6 (2x input): 6e9 + 61.44e9. */
	cr_expect_eq(tf_price_worst(&p, 1000, 4096, TF_CACHE_WRITE_5M | TF_CACHE_WRITE_1H),
		     67440000000LL);
	/* Sonnet 4 above 200k input: long-context rates. 300,000 x 6e6 +
	 * 1000 x 22.5e6 = 1.8e12 + 2.25e10 = 1.8225e12. */
	look(TF_PROVIDER_BEDROCK, "anthropic.claude-sonnet-4-20250514-v1:0", &p);
	cr_expect_eq(tf_price_worst(&p, 300000, 1000, 0), 1822500000000LL);
	cr_expect_eq(tf_price_worst(&p, 200000, 0, 0), 600000000000LL);
}

/* For every model, no usage within the bounds costs more than the worst case. */
Test(prices, worst_case_bounds_every_cost)
{
	static const uint64_t splits[][6] = {
		/* input, cache_read, cache_write, cache_write_1h, output, reasoning */
		{ 1000, 0, 0, 0, 500, 0 },     { 0, 1000, 0, 0, 0, 500 },
		{ 0, 0, 1000, 0, 250, 250 },   { 0, 0, 0, 1000, 500, 0 },
		{ 250, 250, 250, 250, 1, 499 }, { 150000, 50001, 0, 0, 500, 0 },
	};

	for (size_t i = 0; i < t.n; i++) {
		for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
			const uint64_t *x = splits[s];
			tf_usage u = { .input = x[0], .cache_read = x[1], .cache_write = x[2],
				       .cache_write_1h = x[3], .output = x[4], .reasoning = x[5] };
			uint64_t in = x[0] + x[1] + x[2] + x[3];
			unsigned cw = (x[2] ? TF_CACHE_WRITE_5M : 0) | (x[3] ? TF_CACHE_WRITE_1H : 0);
			cr_expect_leq(tf_price_cost(&t.v[i], &u),
				      tf_price_worst(&t.v[i], in, x[4] + x[5], cw), "%s split %zu",
				      t.v[i].model, s);
		}
	}
}

Test(prices, openai_usage_split_clamps)
{
	tf_usage u;

	tf_usage_from_openai(&u, 10, 50, 5, 9);
	cr_expect(u.input == 0 && u.cache_read == 10 && u.output == 0 && u.reasoning == 5);
}

/* ---- overrides ------------------------------------------------------ */

static tf_price override(tf_money in, tf_money out)
{
	tf_price p;

	memset(&p, 0, sizeof(p));
	p.cache_read = p.cache_write = p.cache_write_1h = TF_PRICE_UNSET;
	p.lc_input = p.lc_output = p.lc_cache_read = p.lc_cache_write = TF_PRICE_UNSET;
	p.input = in;
	p.output = out;
	return p;
}

Test(prices, overrides_merge_on_top)
{
	tf_price o = override(USD(2), USD(8)), p;

	cr_assert_eq(tf_prices_set(&t, "gpt-4o", 6, &o), 0);
	look(TF_PROVIDER_AZURE, "gpt-4o-2024-08-06", &p);
	/* New prices, the table's cache price and limits kept. */
	cr_expect(p.input == USD(2) && p.output == USD(8) && p.cache_read == 1250000 &&
		  p.max_output == 16384 && p.provider == TF_PROVIDER_AZURE);
	/* A new model without provider is found for either provider, and gets
	 * the provider's largest max output since it names none. */
	o = override(USD(1), USD(2));
	cr_assert_eq(tf_prices_set(&t, "my-finetune", 11, &o), 0);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "my-finetune", &p), TF_PRICE_EXACT);
	cr_expect_eq(p.max_output, 100000);
	cr_expect_eq(look(TF_PROVIDER_BEDROCK, "my-finetune", &p), TF_PRICE_EXACT);
	cr_expect_eq(p.max_output, 64000);
	/* A dearer model raises the unknown-model price. */
	o = override(USD(100), USD(400));
	o.provider = TF_PROVIDER_AZURE;
	cr_assert_eq(tf_prices_set(&t, "gpt-luxury", 10, &o), 0);
	look(TF_PROVIDER_AZURE, "gpt-nope", &p);
	cr_expect(p.input == USD(100) && p.output == USD(400));
	look(TF_PROVIDER_BEDROCK, "anthropic.nope", &p);
	cr_expect(p.input == USD(15));
	/* Half a price for a new model is refused. */
	o = override(USD(1), TF_PRICE_UNSET);
	cr_expect_eq(tf_prices_set(&t, "half", 4, &o), -EINVAL);
	cr_expect_eq(look(TF_PROVIDER_AZURE, "half", &p), TF_PRICE_UNKNOWN);
}

/* ---- loading tables ------------------------------------------------- */

static void expect_load_error(const char *json, const char *want)
{
	tf_prices x = { 0 };
	int r = tf_prices_load(&x, "t.json", json, strlen(json), err, sizeof(err));

	cr_expect_eq(r, -EINVAL, "accepted: %s", json);
	cr_expect(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
	tf_prices_free(&x);
}

Test(prices, load_errors_name_file_and_line)
{
	expect_load_error("[1]", "t.json:1: expected an object");
	expect_load_error("{\"models\": {}, \"model\": 1}", "t.json:1: unknown key \"model\"");
	expect_load_error("{\"notes\": []}", "t.json:1: \"models\" must be an object");
	expect_load_error("{\"models\":\n{\"m\": {\"provider\": \"azure\", \"input\": 1}}}",
			  "t.json:2: models[\"m\"]: needs provider, input and output");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"gcp\", \"input\": 1, "
			  "\"output\": 1}}}",
			  "t.json:1: models[\"m\"].provider: expected \"bedrock\" or \"azure\"");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\",\n\"input\": 0.0000001, "
			  "\"output\": 1}}}",
			  "t.json:2: models[\"m\"].input: more than 6 decimals");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": -1, "
			  "\"output\": 1}}}",
			  "models[\"m\"].input: must not be negative");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": \"1\", "
			  "\"output\": 1}}}",
			  "models[\"m\"].input: expected a number (USD per 1M tokens), got string");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": 1, "
			  "\"output\": 1, \"max_ouput\": 5}}}",
			  "models[\"m\"]: unknown key \"max_ouput\" (did you mean \"max_output\"?)");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": 1, "
			  "\"output\": 1, \"max_output\": 0}}}",
			  "models[\"m\"].max_output: expected a whole number of tokens");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": 1, "
			  "\"output\": 1, \"long_context\": {\"threshold\": 5}}}}",
			  "models[\"m\"].long_context: needs threshold, input and output");
	expect_load_error("{\"models\": {\"m\": {\"provider\": \"azure\", \"input\": 200000, "
			  "\"output\": 1}}}",
			  "input: out of range");
	expect_load_error("{\"models\": {\"m\": {\"mode\": \"image\"}}}",
			  "models[\"m\"].mode: expected \"chat\", \"embedding\" or \"completion\"");
	expect_load_error("{\"models\": {\"a\": 1, \"a\": 2}}", "t.json:1:21: duplicate key \"a\"");
	expect_load_error("{\"models\": {\"\": {\"provider\": \"azure\", \"input\": 1, "
			  "\"output\": 1}}}",
			  "needs provider, input and output");
}

Test(prices, load_a_custom_table)
{
	static const char json[] =
		"{\"models\": {\"acme.model-v1:0\": {\"provider\": \"bedrock\", \"mode\": \"chat\","
		" \"input\": 1.5e0, \"output\": 2, \"cache_read\": 0.15, \"cache_write_1h\": 3,"
		" \"max_input\": 1000, \"max_output\": 500,"
		" \"long_context\": {\"threshold\": 100, \"input\": 3, \"output\": 4,"
		" \"cache_read\": 0.3, \"cache_write\": 3.75}}}}";
	tf_price p;

	cr_assert_eq(tf_prices_load(&t, "custom", json, sizeof(json) - 1, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(look(TF_PROVIDER_BEDROCK, "us.acme.model-v1:0", &p), TF_PRICE_BASE);
	cr_expect(p.input == 1500000 && p.output == 2000000 && p.cache_read == 150000 &&
		  p.cache_write == TF_PRICE_UNSET && p.cache_write_1h == 3000000 &&
		  p.max_input == 1000 && p.max_output == 500 && p.lc_threshold == 100 &&
		  p.lc_input == 3000000 && p.lc_output == 4000000 && p.lc_cache_read == 300000 &&
		  p.lc_cache_write == 3750000 && p.mode == TF_MODE_CHAT);
}

Test(prices, parse_entry_reports_path_and_line)
{
	static const char json[] = "{\n \"input\": 1,\n \"cache_read\": true\n}";
	tf_json_doc doc;
	tf_price p;
	char msg[256];
	uint32_t line = 0;

	cr_assert_eq(tf_json_parse(&doc, json, sizeof(json) - 1, NULL, NULL), 0);
	cr_expect_eq(tf_price_parse(doc.root, "prices[\"x\"]", &p, &line, msg, sizeof(msg)),
		     -EINVAL);
	cr_expect_eq(line, 3);
	cr_expect_str_eq(msg, "prices[\"x\"].cache_read: expected a number (USD per 1M tokens), "
			      "got boolean");
	tf_json_doc_free(&doc);
}

/* ---- id helpers ----------------------------------------------------- */

Test(prices, model_id_helpers)
{
	char out[256];
	const char *res;
	size_t rl;

	cr_expect_eq(tf_model_decode("a%3Ab%2fc%zz%4", 14, out, sizeof(out)), 10);
	cr_expect_str_eq(out, "a:b/c%zz%4");
	cr_expect_eq(tf_model_decode("x%00y", 5, out, sizeof(out)), 5);
	cr_expect_str_eq(out, "x%00y");
	cr_expect_eq(tf_model_decode("abcdef", 6, out, 6), -ENAMETOOLONG);
	cr_expect_eq(tf_model_decode("abcdef", 6, out, 7), 6);

	cr_expect(tf_model_arn_id(S("arn:aws:bedrock:r::foundation-model/m.x:0"), &res, &rl));
	cr_expect(rl == 5 && memcmp(res, "m.x:0", 5) == 0);
	cr_expect(!tf_model_arn_id(S("arn:aws:bedrock:r::foundation-model/"), &res, &rl));
	cr_expect(!tf_model_arn_id(S("arn:aws:bedrock:r:1:application-inference-profile/x"), &res,
				   &rl));
	cr_expect(!tf_model_arn_id(S("anthropic.claude"), &res, &rl));

	cr_expect_eq(tf_model_profile_prefix("us.anthropic.x", 14), 3);
	cr_expect_eq(tf_model_profile_prefix("us-gov.meta.x", 13), 7);
	cr_expect_eq(tf_model_profile_prefix("global.amazon.x", 15), 7);
	cr_expect_eq(tf_model_profile_prefix("anthropic.x", 11), 0);
	cr_expect_eq(tf_model_profile_prefix("us.x", 4), 0);
	cr_expect_eq(tf_model_profile_prefix("usa.anthropic.x", 15), 0);

	cr_expect_eq(tf_model_undated_len("gpt-4o-2024-11-20", 17), 6);
	cr_expect_eq(tf_model_undated_len("-2024-11-20", 11), 11);
	cr_expect_eq(tf_model_undated_len("gpt-4o", 6), 6);

	cr_expect_eq(tf_model_base(TF_PROVIDER_BEDROCK,
				   "arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2F"
				   "eu.anthropic.claude-3-haiku-20240307-v1%3A0",
				   strlen("arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2F"
					  "eu.anthropic.claude-3-haiku-20240307-v1%3A0"),
				   out, sizeof(out)),
		     38);
	cr_expect_str_eq(out, "anthropic.claude-3-haiku-20240307-v1:0");
	cr_expect_eq(tf_model_base(TF_PROVIDER_AZURE, "us.gpt%2D4o", 11, out, sizeof(out)), 9);
	cr_expect_str_eq(out, "us.gpt-4o");
}
