/*
 * tokenfence-emulator internals: the usage formula (and its bound by the body
 * length, which TokenFence relies on), routing, model resolution, fault specs
 * and the cost computation.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "models.h"
#include "billing.h"
#include "route.h"
#include "usage.h"

static uint64_t tokens_of(const char *body)
{
	cJSON *j = cJSON_Parse(body);
	uint64_t n = emu_input_tokens(j, strlen(body));

	cJSON_Delete(j);
	return n;
}

Test(usage, formula_examples)
{
	/* "user" (4) + "hello there" (11) = 15 bytes -> ceil(15/4) = 4 */
	cr_assert_eq(tokens_of("{\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"max_tokens\":7}"), 4);
	/* keys and numbers do not count; no string at all -> 1 for a non-empty body */
	cr_assert_eq(tokens_of("{\"max_tokens\":7,\"temperature\":0.5}"), 1);
	cr_assert_eq(emu_input_tokens(NULL, 0), 0);
	/* escapes count as the decoded UTF-8 bytes: \u00e9 is 2 bytes, \n is 1 */
	cr_assert_eq(tokens_of("{\"a\":\"\\u00e9\\n\"}"), 1);
	cr_assert_eq(tokens_of("{\"a\":\"12345678\",\"b\":[\"x\",{\"c\":\"y\"}]}"), 3);
	cr_assert_eq(emu_output_tokens(false, 0, 20), 20);
	cr_assert_eq(emu_output_tokens(true, 7, 20), 7);
	cr_assert_eq(emu_output_tokens(true, 500, 20), 20);
	cr_assert_eq(emu_output_tokens(true, -3, 20), 0);
	cr_assert_eq(emu_cached_tokens(1023), 0);
	cr_assert_eq(emu_cached_tokens(1024), 512);
	cr_assert_eq(emu_cached_tokens(3000), 1408);
	cr_assert_eq(emu_reasoning_tokens(9), 5);
	cr_assert_eq(emu_reasoning_tokens(0), 0);
}

/* Random JSON documents with nested strings, escapes and UTF-8: the input
 * tokens never exceed the body length. */
static void rand_string(char *out, size_t *o, unsigned *seed)
{
	static const char *const pieces[] = {"a", "bc", "\\n", "\\\"", "\\u00e9", "\\ud83d\\ude00",
					     "\xc3\xa9", "\xe2\x82\xac", " ", "xyz"};
	int n = rand_r(seed) % 6;

	out[(*o)++] = '"';
	for (int i = 0; i < n; i++) {
		const char *p = pieces[rand_r(seed) % 10];

		memcpy(out + *o, p, strlen(p));
		*o += strlen(p);
	}
	out[(*o)++] = '"';
}

static void rand_value(char *out, size_t *o, unsigned *seed, int depth)
{
	int k = depth > 3 ? rand_r(seed) % 3 : rand_r(seed) % 5;

	if (k == 0) {
		rand_string(out, o, seed);
	} else if (k == 1) {
		*o += (size_t)sprintf(out + *o, "%d", rand_r(seed) % 1000);
	} else if (k == 2) {
		memcpy(out + *o, "true", 4);
		*o += 4;
	} else if (k == 3) {
		int n = rand_r(seed) % 4;

		out[(*o)++] = '[';
		for (int i = 0; i < n; i++) {
			if (i)
				out[(*o)++] = ',';
			rand_value(out, o, seed, depth + 1);
		}
		out[(*o)++] = ']';
	} else {
		int n = rand_r(seed) % 4;

		out[(*o)++] = '{';
		for (int i = 0; i < n; i++) {
			if (i)
				out[(*o)++] = ',';
			rand_string(out, o, seed);
			out[(*o)++] = ':';
			rand_value(out, o, seed, depth + 1);
		}
		out[(*o)++] = '}';
	}
}

Test(usage, input_never_exceeds_body_length)
{
	static char doc[1 << 16];
	unsigned seed = 42;

	for (int round = 0; round < 3000; round++) {
		size_t o = 0;
		cJSON *j;

		rand_value(doc, &o, &seed, 0);
		doc[o] = '\0';
		j = cJSON_Parse(doc);
		cr_assert(j, "%s", doc);
		cr_assert_leq(emu_input_tokens(j, o), o, "%s", doc);
		cJSON_Delete(j);
	}
}

static void route(const char *m, const char *t, emu_route *r)
{
	emu_route_request(m, strlen(m), t, strlen(t), NULL, 0, r);
}

Test(route, bedrock_runtime)
{
	emu_route r;

	route("POST", "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke", &r);
	cr_assert_eq(r.op, EMU_OP_INVOKE);
	cr_assert_eq(r.provider, EMU_PROV_BEDROCK);
	cr_assert_str_eq(r.operation, "InvokeModel");
	cr_assert_str_eq(r.service, "bedrock-runtime");
	cr_assert_str_eq(r.id, "us.anthropic.claude-3-5-haiku-20241022-v1:0");
	route("POST", "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x%3A0/converse-stream", &r);
	cr_assert_eq(r.op, EMU_OP_CONVERSE_STREAM);
	cr_assert(r.stream);
	cr_assert_str_eq(r.id, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0");
	route("POST", "/model/a:b/invoke-with-response-stream", &r);
	cr_assert_eq(r.op, EMU_OP_INVOKE_STREAM);
	cr_assert_str_eq(r.id, "a:b");
	route("POST", "/model/x/converse", &r);
	cr_assert_eq(r.op, EMU_OP_CONVERSE);
	route("POST", "/model/x/count-tokens", &r);
	cr_assert_eq(r.op, EMU_OP_COUNT_TOKENS);
	route("GET", "/model/x/invoke", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	route("POST", "/model/x/other", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	cr_assert_eq(r.provider, EMU_PROV_BEDROCK);
}

Test(route, bedrock_control_and_agent)
{
	emu_route r;

	route("POST", "/model-customization-jobs", &r);
	cr_assert_eq(r.op, EMU_OP_CREATE_CUSTOMIZATION_JOB);
	cr_assert_str_eq(r.service, "bedrock");
	route("GET", "/model-customization-jobs/abc", &r);
	cr_assert_eq(r.op, EMU_OP_GET_CUSTOMIZATION_JOB);
	route("POST", "/provisioned-model-throughput", &r);
	cr_assert_eq(r.op, EMU_OP_CREATE_PROVISIONED);
	route("DELETE", "/provisioned-model-throughput/pm-1", &r);
	cr_assert_eq(r.op, EMU_OP_DELETE_PROVISIONED);
	cr_assert_str_eq(r.id, "pm-1");
	route("GET", "/provisioned-model-throughputs", &r);
	cr_assert_eq(r.op, EMU_OP_LIST_PROVISIONED);
	route("GET", "/foundation-models?byProvider=anthropic", &r);
	cr_assert_eq(r.op, EMU_OP_LIST_FOUNDATION_MODELS);
	route("POST", "/knowledgebases/KB1/retrieve", &r);
	cr_assert_eq(r.op, EMU_OP_RETRIEVE);
	cr_assert_str_eq(r.service, "bedrock-agent-runtime");
	cr_assert_str_eq(r.id, "KB1");
	route("POST", "/retrieveAndGenerate", &r);
	cr_assert_eq(r.op, EMU_OP_RETRIEVE_AND_GENERATE);
}

Test(route, azure)
{
	emu_route r;

	route("POST", "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_CHAT);
	cr_assert_eq(r.provider, EMU_PROV_AZURE);
	cr_assert(r.has_api_version);
	cr_assert_str_eq(r.id, "my-dep");
	route("POST", "/openai/deployments/my-dep/chat/completions", &r);
	cr_assert(!r.has_api_version);
	route("POST", "/openai/deployments/d/embeddings?x=1&api-version=1", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_EMBEDDINGS);
	cr_assert(r.has_api_version);
	route("POST", "/openai/deployments/d/completions?api-version=1", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_COMPLETIONS);
	route("POST", "/openai/v1/chat/completions", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_CHAT);
	cr_assert(r.azure_v1);
	route("POST", "/openai/responses?api-version=2025-04-01-preview", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_RESPONSES);
	route("POST", "/openai/v1/responses", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_RESPONSES);
	route("POST", "/openai/fine_tuning/jobs?api-version=1", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_FT_CREATE);
	cr_assert_str_eq(r.operation, "CreateFineTuningJob");
	route("GET", "/openai/v1/fine_tuning/jobs/ftjob-1", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_FT_GET);
	route("POST", "/openai/v1/batches", &r);
	cr_assert_eq(r.op, EMU_OP_AZ_BATCH_CREATE);
	route("GET", "/openai/unknown", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	cr_assert_eq(r.provider, EMU_PROV_AZURE);
	/* unknown paths take the error style of the host */
	emu_route_request("GET", 3, "/x", 2, "tokenfence-test.openai.azure.com:443", 36, &r);
	cr_assert_eq(r.provider, EMU_PROV_AZURE);
	emu_route_request("GET", 3, "/x", 2, "bedrock.us-east-1.amazonaws.com", 31, &r);
	cr_assert_eq(r.provider, EMU_PROV_BEDROCK);
}

Test(route, garbage_targets_do_not_route)
{
	emu_route r;
	char big[5000];

	route("POST", "", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	route("POST", "*", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	route("POST", "/a/b/c/d/e/f/g/h/i/j", &r);
	cr_assert_eq(r.op, EMU_OP_NONE);
	memset(big, 'a', sizeof(big));
	memcpy(big, "/model/", 7);
	memcpy(big + sizeof(big) - 8, "/invoke", 7);
	big[sizeof(big) - 1] = '\0';
	route("POST", big, &r);
	cr_assert(r.id_truncated);
	cr_assert_str_eq(r.id, "");
}

Test(models, bedrock_resolution)
{
	char base[EMU_MODEL_MAX];
	emu_map alias[] = {{"my-app", "anthropic.claude-3-haiku-20240307-v1:0"}};

	cr_assert_eq(emu_bedrock_model("anthropic.claude-3-haiku-20240307-v1:0", NULL, 0, base, sizeof(base)),
		     EMU_FAM_ANTHROPIC);
	cr_assert_eq(emu_bedrock_model("us.amazon.nova-micro-v1:0", NULL, 0, base, sizeof(base)), EMU_FAM_NOVA);
	cr_assert_str_eq(base, "amazon.nova-micro-v1:0");
	cr_assert_eq(emu_bedrock_model("global.anthropic.claude-sonnet-4-20250514-v1:0", NULL, 0, base, sizeof(base)),
		     EMU_FAM_ANTHROPIC);
	cr_assert_eq(emu_bedrock_model("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-8b-instruct-v1:0",
				       NULL, 0, base, sizeof(base)),
		     EMU_FAM_LLAMA);
	cr_assert_eq(emu_bedrock_model("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.mistral.mistral-large-2407-v1:0",
				       NULL, 0, base, sizeof(base)),
		     EMU_FAM_MISTRAL);
	cr_assert_str_eq(base, "mistral.mistral-large-2407-v1:0");
	cr_assert_eq(emu_bedrock_model("arn:aws:bedrock:us-east-1:1:application-inference-profile/my-app", NULL, 0,
				       base, sizeof(base)),
		     EMU_FAM_NONE);
	cr_assert_eq(emu_bedrock_model("arn:aws:bedrock:us-east-1:1:application-inference-profile/my-app", alias, 1,
				       base, sizeof(base)),
		     EMU_FAM_ANTHROPIC);
	cr_assert_eq(emu_bedrock_model("amazon.titan-embed-text-v2:0", NULL, 0, base, sizeof(base)),
		     EMU_FAM_TITAN_EMBED);
	cr_assert_eq(emu_bedrock_model("cohere.command-r-plus-v1:0", NULL, 0, base, sizeof(base)),
		     EMU_FAM_COHERE_CHAT);
	cr_assert_eq(emu_bedrock_model("acme.thing", NULL, 0, base, sizeof(base)), EMU_FAM_NONE);
}

Test(models, azure_deployments)
{
	emu_az_model m;
	emu_map deps[] = {{"prod-chat", "gpt-4o-mini"}, {"custom", "my-finetune"}};

	cr_assert(emu_azure_deployment("gpt-4o", NULL, 0, &m));
	cr_assert_str_eq(m.model, "gpt-4o-2024-11-20");
	cr_assert(!m.reasoning);
	cr_assert(emu_azure_deployment("gpt-4o-2024-08-06", NULL, 0, &m));
	cr_assert_str_eq(m.model, "gpt-4o-2024-08-06");
	cr_assert(emu_azure_deployment("o3-mini", NULL, 0, &m));
	cr_assert(m.reasoning);
	cr_assert(emu_azure_deployment("prod-chat", deps, 2, &m));
	cr_assert_str_eq(m.model, "gpt-4o-mini-2024-07-18");
	cr_assert(emu_azure_deployment("custom", deps, 2, &m));
	cr_assert_str_eq(m.model, "my-finetune");
	cr_assert(emu_azure_deployment("text-embedding-3-large", NULL, 0, &m));
	cr_assert_eq(m.kind, EMU_AZ_EMBEDDING);
	cr_assert_eq(m.embed_dims, 3072);
	cr_assert(!emu_azure_deployment("nope", deps, 2, &m));
}

Test(faults, parse_and_pick)
{
	emu_fault f[3];
	char err[256];

	cr_assert_eq(emu_fault_parse("429:route=InvokeModel*,times=2", &f[0], err, sizeof(err)), 0);
	cr_assert_eq(emu_fault_parse("crc:n=5-6,model=*claude*", &f[1], err, sizeof(err)), 0);
	cr_assert_eq(emu_fault_parse("truncate:n=9-", &f[2], err, sizeof(err)), 0);
	cr_assert_eq(emu_fault_pick(f, 3, 1, "InvokeModel", "x"), EMU_FAULT_429);
	cr_assert_eq(emu_fault_pick(f, 3, 2, "InvokeModelWithResponseStream", "x"), EMU_FAULT_429);
	cr_assert_eq(emu_fault_pick(f, 3, 3, "InvokeModel", "x"), EMU_FAULT_NONE, "times=2 used up");
	cr_assert_eq(emu_fault_pick(f, 3, 5, "Converse", "us.anthropic.claude-3-5-haiku-20241022-v1:0"),
		     EMU_FAULT_CRC);
	cr_assert_eq(emu_fault_pick(f, 3, 7, "Converse", "anthropic.claude"), EMU_FAULT_NONE);
	cr_assert_eq(emu_fault_pick(f, 3, 1000, "Converse", "m"), EMU_FAULT_TRUNCATE);
	cr_assert_eq(emu_fault_parse("500", &f[0], err, sizeof(err)), 0);
	cr_assert_eq(emu_fault_pick(f, 1, 77, "Anything", ""), EMU_FAULT_500);
	cr_assert_eq(emu_fault_parse("418", &f[0], err, sizeof(err)), -1);
	cr_assert_eq(emu_fault_parse("429:n=0", &f[0], err, sizeof(err)), -1);
	cr_assert_eq(emu_fault_parse("429:n=5-3", &f[0], err, sizeof(err)), -1);
	cr_assert_eq(emu_fault_parse("429:colour=red", &f[0], err, sizeof(err)), -1);
	cr_assert_eq(emu_fault_parse("429:times=x", &f[0], err, sizeof(err)), -1);
	cr_assert_eq(emu_fault_parse("malformed:route", &f[0], err, sizeof(err)), -1);
}

Test(prices, shipped_table_costs_and_lookup_order)
{
	emu_usage u = {1000, 200, 0, 0};
	char priced[EMU_MODEL_MAX];
	tf_money c;

	/* claude-3-haiku: 0.25 / 1.25 USD per 1M -> 1000 * 250000 + 200 * 1250000 pico;
	 * the profile id has its own entry in policy/prices.json */
	cr_assert_eq(emu_price(EMU_PROV_BEDROCK, "us.anthropic.claude-3-haiku-20240307-v1:0", &u, &c, priced,
			       sizeof(priced)),
		     EMU_PRICE_EXACT);
	cr_assert_str_eq(priced, "us.anthropic.claude-3-haiku-20240307-v1:0");
	cr_assert_eq(c, INT64_C(1000) * 250000 + INT64_C(200) * 1250000);
	cr_assert_eq(emu_price(EMU_PROV_BEDROCK, "global.anthropic.claude-3-haiku-20240307-v1:0", &u, &c, priced,
			       sizeof(priced)),
		     EMU_PRICE_BASE);
	cr_assert_str_eq(priced, "anthropic.claude-3-haiku-20240307-v1:0");
	cr_assert_eq(emu_price(EMU_PROV_BEDROCK,
			       "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0", &u, &c,
			       priced, sizeof(priced)),
		     EMU_PRICE_EXACT);
	cr_assert_str_eq(priced, "amazon.nova-micro-v1:0");
	cr_assert_eq(c, INT64_C(1000) * 35000 + INT64_C(200) * 140000);
	/* Azure: cached tokens at the cache-read price, the rest at input; the
	 * dated name prices as its base */
	u = (emu_usage){2000, 100, 1024, 0};
	cr_assert_eq(emu_price(EMU_PROV_AZURE, "gpt-4o-2024-11-20", &u, &c, priced, sizeof(priced)),
		     EMU_PRICE_BASE);
	cr_assert_str_eq(priced, "gpt-4o");
	cr_assert_eq(c, INT64_C(976) * 2500000 + INT64_C(1024) * 1250000 + INT64_C(100) * 10000000);
	/* Unknown: priced as TokenFence prices it, never free */
	cr_assert_eq(emu_price(EMU_PROV_AZURE, "unknown-model", &u, &c, priced, sizeof(priced)),
		     EMU_PRICE_UNKNOWN);
	cr_assert_gt(c, 0);
	cr_assert_str_eq(priced, "");
}

Test(route, pct_decode)
{
	char out[8];

	cr_assert(emu_pct_decode("a%3Ab", 5, out, sizeof(out)));
	cr_assert_str_eq(out, "a:b");
	cr_assert(emu_pct_decode("%zz%4", 5, out, sizeof(out)));
	cr_assert_str_eq(out, "%zz%4");
	cr_assert(!emu_pct_decode("12345678", 8, out, sizeof(out)));
}
