/*
 * shim/adapt: what a request and its response are read as. The request's
 * marks are checked against memmem (what they were read with before the
 * one-pass scan), and every fact read on a jsonscan tape against the same
 * body read in the DOM (an escaped key sends a body to the DOM).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

static tf_config cfg;
static tf_prices prices;

static void setup(void)
{
	char err[256];

	tf_config_init(&cfg);
	cr_assert_eq(tf_prices_init(&prices, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	tf_prices_free(&prices);
}

TestSuite(adapt, .init = setup, .fini = teardown);

#define AZ_HOST "res.openai.azure.com"
#define AZ_CHAT "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
#define BR_HOST "bedrock-runtime.us-east-1.amazonaws.com"
#define BR_INVOKE "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"
#define BR_CONVERSE "/model/amazon.nova-pro-v1%3A0/converse"
#define BR_NOVA "/model/amazon.nova-pro-v1%3A0/invoke"

static void request(tf_call *call, tf_provider prov, const char *host, const char *target,
		    const char *body, size_t blen)
{
	char head[512];
	tf_h1_head h;
	tf_req_view rq;
	int n = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host);

	cr_assert_gt(tf_h1_parse_head(head, (size_t)n, TF_H1_REQUEST, &h), 0);
	rq = (tf_req_view){ .head = &h, .host = host, .body = (const uint8_t *)body, .body_len = blen };
	tf_call_init(call, prov);
	cr_assert_eq(tf_adapt_request(call, &rq, &cfg, &prices), 0);
}

/* ---- marks, as memmem read them ---- */

static bool has(const char *p, size_t n, const char *lit)
{
	return n && memmem(p, n, lit, strlen(lit)) != NULL;
}

static size_t count(const char *p, size_t n, const char *lit)
{
	size_t k = 0, l = strlen(lit);
	const char *q = p, *end = p + n;

	while (q < end && (q = memmem(q, (size_t)(end - q), lit, l)) != NULL) {
		k++;
		q += l;
	}
	return k;
}

static void check_marks(const char *body, size_t n)
{
	uint64_t bound = n + TF_CALL_TEMPLATE_OVERHEAD;
	unsigned w = 0;
	tf_call call;

	if (has(body, n, "\"tools\"") || has(body, n, "\"toolConfig\""))
		bound += TF_CALL_TOOLS_OVERHEAD;
	bound += TF_CALL_IMAGE_URL_TOKENS *
		 (count(body, n, "\"image_url\"") + count(body, n, "\"s3Location\""));
	if (has(body, n, "cache_control") || has(body, n, "cachePoint"))
		w |= TF_CACHE_WRITE_5M;
	if (w && has(body, n, "\"1h\""))
		w |= TF_CACHE_WRITE_1H;
	request(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, body, n);
	cr_assert_eq(call.input_bound, bound, "body %.*s", (int)n, body);
	cr_assert_eq(call.cache_writes, w, "body %.*s", (int)n, body);
}

Test(adapt, marks_at_every_offset)
{
	static const char *const marks[] = {
		"\"tools\"", "\"toolConfig\"", "\"image_url\"", "\"s3Location\"", "cache_control",
		"cachePoint", "\"1h\"", "\"image_url\"image_url\"", "\"s3Location\"s3Location\"",
		"cache", "\"tool", "\"image_ur", "\"1", "ca\"1h\"",
	};
	char body[128];

	for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
		size_t l = strlen(marks[m]);

		for (size_t off = 0; off + l <= 70; off++) {
			memset(body, 'x', sizeof(body));
			memcpy(body + off, marks[m], l);
			for (size_t n = off + l; n <= off + l + 20; n++)
				check_marks(body, n);
		}
	}
}

Test(adapt, marks_in_random_bodies)
{
	static const char *const bits[] = {
		"\"tools\"", "\"toolConfig\"", "\"image_url\"", "\"s3Location\"", "cache_control",
		"cachePoint", "\"1h\"", "\"", "c", "a", "ca", "image_url\"", "x", " the budget ",
		"\"t", "\"i", "\"s", "\"1",
	};
	char body[600];
	unsigned seed = 12345;

	for (int round = 0; round < 3000; round++) {
		size_t n = 0;

		while (n < 500) {
			const char *b;

			seed = seed * 1103515245u + 12345u;
			b = bits[(seed >> 16) % (sizeof(bits) / sizeof(bits[0]))];
			memcpy(body + n, b, strlen(b));
			n += strlen(b);
		}
		check_marks(body, n - round % 7);
	}
}

/* ---- the tape and the DOM read the same facts ---- */

/* body with a member whose key holds an escape: the tape leaves it to the DOM. */
static char *dom_variant(const char *body)
{
	size_t n = strlen(body);
	char *v = malloc(n + 32);

	cr_assert(v && body[0] == '{');
	snprintf(v, n + 32, "{\"\\u0078\":1,%s", body + 1);
	return v;
}

static void same_request(tf_provider prov, const char *host, const char *target, const char *body)
{
	char *dom = dom_variant(body);
	tf_call a, b;

	request(&a, prov, host, target, body, strlen(body));
	request(&b, prov, host, target, dom, strlen(dom));
	cr_assert_str_eq(a.act.action, b.act.action);
	cr_assert_str_eq(a.model, b.model);
	cr_assert_str_eq(a.price_model, b.price_model);
	cr_assert_eq(a.invoke, b.invoke);
	cr_assert_eq(a.stream, b.stream, "%s", body);
	cr_assert_eq(a.body_unreadable, b.body_unreadable);
	cr_assert_eq(a.max_out, b.max_out, "%s", body);
	cr_assert_eq(a.max_out_bound, b.max_out_bound, "%s", body);
	free(dom);
}

Test(adapt, request_tape_and_dom_agree)
{
	same_request(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT,
		     "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\\n\"}],\"max_tokens\":77,"
		     "\"stream\":true}");
	same_request(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT,
		     "{\"max_completion_tokens\":500,\"max_tokens\":90,\"stream\":false}");
	same_request(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, "{\"max_tokens\":-3,\"stream\":1}");
	same_request(TF_PROVIDER_AZURE, AZ_HOST, "/openai/v1/chat/completions",
		     "{\"model\":\"gpt-4o-mini\",\"max_tokens\":1e2}");
	same_request(TF_PROVIDER_BEDROCK, BR_HOST, BR_INVOKE,
		     "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":321,"
		     "\"messages\":[]}");
	same_request(TF_PROVIDER_BEDROCK, BR_HOST, BR_INVOKE, "{\"max_tokens_to_sample\":55}");
	same_request(TF_PROVIDER_BEDROCK, BR_HOST, BR_NOVA,
		     "{\"inferenceConfig\":{\"maxTokens\":40,\"max_new_tokens\":400}}");
	same_request(TF_PROVIDER_BEDROCK, BR_HOST, BR_CONVERSE,
		     "{\"inferenceConfig\":{\"maxTokens\":64},\"messages\":[]}");
	same_request(TF_PROVIDER_BEDROCK, BR_HOST, BR_CONVERSE, "{\"inferenceConfig\":[1]}");
}

/* More values than the first tape holds. */
Test(adapt, request_with_many_values)
{
	size_t cap = 80000, n = 0;
	char *body = malloc(cap);

	cr_assert(body);
	n += (size_t)snprintf(body + n, cap - n, "{\"max_tokens\":123,\"stream\":true,\"messages\":[");
	for (int i = 0; i < 1500; i++)
		n += (size_t)snprintf(body + n, cap - n, "%s{\"role\":\"user\",\"content\":\"m%d\"}",
				      i ? "," : "", i);
	snprintf(body + n, cap - n, "],\"max_completion_tokens\":99}");
	same_request(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, body);
	{
		tf_call call;

		request(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, body, strlen(body));
		cr_assert_eq(call.max_out, 123);
		cr_assert(call.stream);
	}
	free(body);
}

Test(adapt, request_not_json)
{
	tf_call call;

	request(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, "{\"a\":1,\"a\":2}", 13);
	cr_assert(call.body_unreadable);
	request(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, "[1,2]", 5);
	cr_assert(!call.body_unreadable);
	cr_assert_eq(call.max_out, 0);
}

static void finish(tf_call *call, tf_provider prov, const char *host, const char *target,
		   int status, const char *body)
{
	request(call, prov, host, target, "{}", 2);
	call->status = status;
	tf_adapt_finish(call, (const uint8_t *)body, strlen(body), true, &cfg, &prices);
}

static void same_response(tf_provider prov, const char *host, const char *target, int status,
			  const char *body)
{
	char *dom = dom_variant(body);
	tf_call a, b;

	finish(&a, prov, host, target, status, body);
	finish(&b, prov, host, target, status, dom);
	cr_assert_eq(a.usage_from, b.usage_from, "%s", body);
	cr_assert_eq(memcmp(&a.usage, &b.usage, sizeof(a.usage)), 0, "%s", body);
	cr_assert_eq(a.cost, b.cost, "%s", body);
	cr_assert_str_eq(a.note, b.note);
	cr_assert_str_eq(a.response_model, b.response_model);
	cr_assert_str_eq(a.price_model, b.price_model);
	free(dom);
}

Test(adapt, response_tape_and_dom_agree)
{
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 200,
		      "{\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"message\":{\"content\":"
		      "\"a\\n\\\"b\\\"\"}}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,"
		      "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, "/openai/deployments/mystery/chat/completions",
		      200, "{\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":3}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 200, "{\"usage\":7}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 200, "{\"model\":\"\"}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 400,
		      "{\"error\":{\"code\":\"content_filter\",\"message\":\"no\"}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 400,
		      "{\"error\":{\"code\":\"content_filter\\u0000x\"}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 400,
		      "{\"error\":{\"code\":\"content_filters\"}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 429, "{\"error\":{\"code\":\"429\"}}");
	same_response(TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 500, "{\"error\":\"x\"}");
	same_response(TF_PROVIDER_BEDROCK, BR_HOST, BR_INVOKE, 200,
		      "{\"model\":\"claude\",\"usage\":{\"input_tokens\":9,\"output_tokens\":2}}");
	same_response(TF_PROVIDER_BEDROCK, BR_HOST, BR_CONVERSE, 200,
		      "{\"output\":{},\"usage\":{\"inputTokens\":9,\"outputTokens\":2}}");
	same_response(TF_PROVIDER_BEDROCK, BR_HOST, BR_INVOKE, 400, "{\"Message\":\"bad\"}");
	same_response(TF_PROVIDER_BEDROCK, BR_HOST, BR_INVOKE, 400, "{\"other\":1}");
}

Test(adapt, response_content_filter_bills_the_prompt)
{
	tf_call call;

	finish(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 400,
	       "{\"error\":{\"code\":\"content_filter\"}}");
	cr_assert_eq(call.usage_from, TF_USAGE_BODY);
	cr_assert_eq(call.usage.input, call.input_bound);
	finish(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 200,
	       "{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5}}");
	cr_assert_eq(call.usage_from, TF_USAGE_BODY);
	cr_assert_eq(call.usage.output, 5);
	finish(&call, TF_PROVIDER_AZURE, AZ_HOST, AZ_CHAT, 200, "not json");
	cr_assert_str_eq(call.note, "response body is not JSON");
}
