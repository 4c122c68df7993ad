/*
 * shim/rewrite: requests as the SDKs put them on the wire (reference/WIRE.md
 * §5 captures: openai-node and openai-python AzureOpenAI, botocore,
 * aws-sdk-js-v3, an AnthropicBedrock-style request), rewritten and checked
 * byte for byte. Expected Bedrock signatures were computed by botocore
 * 1.29.27's own signer (botocore.auth.SigV4Auth, time fixed at
 * 20261126T112855Z, credentials AKIDEXAMPLE / the AWS test-suite secret /
 * SESSIONTOKEN) over the expected rewritten request: so the shim's
 * re-signing is checked against AWS's reference client, not against itself.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rewrite.h"
#include "sigv4.h"
#include "split.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/bedrock/aws4_request, "
#define HAIKU35 "us.anthropic.claude-3-5-haiku-20241022-v1:0"

static tf_awscreds creds;
static tf_buf out;

static void setup(void)
{
	static const char ini[] = "[default]\naws_access_key_id = AKIDEXAMPLE\n"
				  "aws_secret_access_key = " SECRET "\naws_session_token = SESSIONTOKEN\n";

	tf_buf_init(&out, 0);
	cr_assert_eq(tf_awscreds_parse_ini(ini, strlen(ini), "default", false, &creds.set[0]), 0);
	creds.n = 1;
}

static void teardown(void)
{
	tf_buf_free(&out);
	tf_awscreds_free(&creds);
}

TestSuite(rewrite, .init = setup, .fini = teardown);

typedef struct req {
	const char *raw; /* head then body */
	size_t head_len;
	tf_h1_head h;
	const uint8_t *body;
	size_t body_len;
} req;

/* wire = head + body (Content-Length framed), or head only plus a separate
 * already de-chunked body. */
static void parse_req(req *r, const char *wire, const char *dechunked)
{
	int n = tf_h1_parse_head(wire, strlen(wire), TF_H1_REQUEST, &r->h);

	cr_assert_gt(n, 0, "head does not parse: %d", n);
	r->raw = wire;
	r->head_len = (size_t)n;
	r->body = (const uint8_t *)(dechunked ? dechunked : wire + n);
	r->body_len = dechunked ? strlen(dechunked) : strlen(wire) - (size_t)n;
}

static int rewrite(const char *wire, const char *dechunked, tf_provider p, const tf_rw_changes *ch,
		   tf_rw_result *res)
{
	req r;

	parse_req(&r, wire, dechunked);
	tf_buf_reset(&out);
	return tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, p, ch, &creds, &out, res);
}

static const char *out_str(void)
{
	cr_assert_eq(tf_buf_append(&out, "", 1), 0);
	out.len--;
	return (const char *)out.data;
}

static void expect_out(const char *want)
{
	const char *got = out_str();

	cr_assert_str_eq(got, want, "\n--- got\n%s\n--- want\n%s", got, want);
}

/* The emulator's check: the request verifies under the test secret. */
static int verify_raw(const char *p, size_t len)
{
	tf_h1_head h;
	tf_sigv4_header hs[TF_H1_MAX_HEADERS];
	char payload[TF_SIGV4_HASH_MAX + 1];
	const tf_h1_header *az;
	tf_sigv4_auth a;
	int n = tf_h1_parse_head(p, len, TF_H1_REQUEST, &h), plen;

	cr_assert_gt(n, 0);
	cr_assert_eq((int64_t)(len - (size_t)n), h.content_length);
	az = tf_h1_find(&h, "authorization");
	cr_assert(az);
	cr_assert_eq(tf_sigv4_parse_auth(az->value, az->value_len, &a), 0);
	for (size_t i = 0; i < h.num_headers; i++)
		hs[i] = (tf_sigv4_header){ h.headers[i].name, h.headers[i].name_len, h.headers[i].value,
					   h.headers[i].value_len };
	plen = tf_sigv4_payload_hash(hs, h.num_headers, p + n, len - (size_t)n, payload);
	cr_assert_gt(plen, 0);
	return tf_sigv4_verify(&(tf_sigv4_request){ h.method, h.method_len, h.target, h.target_len, hs,
						   h.num_headers, payload, (size_t)plen },
			       &a, SECRET, strlen(SECRET));
}

static int verify_out(void)
{
	return verify_raw((const char *)out.data, out.len);
}

static tf_rw_changes model_change(const char *m)
{
	return (tf_rw_changes){ .model = m, .model_len = strlen(m) };
}

static void add_limit(tf_rw_changes *c, uint64_t max, const char *a, const char *b)
{
	tf_rw_field *f = &c->limit[c->nlimit++];

	c->clamp = true;
	c->max_out = max;
	f->path[0] = a;
	f->path[1] = b;
	f->depth = b ? 2 : 1;
}

/* ---- Azure ---- */

#define NODE_HEAD(path, len) NODE_HEAD_AE(path, "br, gzip, deflate", len)
#define NODE_HEAD_AE(path, ae, len)                                                        \
	"POST " path " HTTP/1.1\r\n"                                                        \
	"host: 127.0.0.1:33633\r\n"                                                         \
	"connection: keep-alive\r\n"                                                        \
	"accept: application/json\r\n"                                                      \
	"user-agent: AzureOpenAI/JS 6.49.0\r\n"                                             \
	"x-stainless-retry-count: 0\r\n"                                                    \
	"api-key: AZKEY\r\n"                                                                \
	"content-type: application/json\r\n"                                                \
	"accept-language: *\r\n"                                                            \
	"sec-fetch-mode: cors\r\n"                                                          \
	"accept-encoding: " ae "\r\n"                                                       \
	"content-length: " len "\r\n"                                                       \
	"\r\n"

Test(rewrite, azure_classic_openai_node)
{
	tf_rw_changes ch = model_change("gpt-4o-mini");
	tf_rw_result res;

	add_limit(&ch, 5, "max_completion_tokens", NULL);
	add_limit(&ch, 5, "max_tokens", NULL);
	ch.narrow_accept_encoding = true;
	cr_assert_eq(rewrite(NODE_HEAD("/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-10-21", "91")
			     "{\"model\":\"my-gpt4o-deployment\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":10}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out(NODE_HEAD_AE("/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", "gzip, deflate", "82")
		   "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}");
	cr_assert(res.model_in_path && res.model_in_body && res.clamped && res.accept_narrowed);
	cr_assert_not(res.resigned || res.usage_added || res.expect_removed || res.dechunked);
	cr_assert_eq(res.body_len, 82);
	cr_assert_eq(res.head_len + res.body_len, out.len);
}

#define PY_HEAD(path, ae, len)                                                             \
	"POST " path " HTTP/1.1\r\n"                                                        \
	"Host: 127.0.0.1:41953\r\n"                                                         \
	"Accept-Encoding: " ae "\r\n"                                                       \
	"Connection: keep-alive\r\n"                                                        \
	"Accept: application/json\r\n"                                                      \
	"Content-Type: application/json\r\n"                                                \
	"User-Agent: AzureOpenAI/Python 1.109.1\r\n"                                        \
	"Authorization: Bearer AZKEY\r\n"                                                   \
	"api-key: AZKEY\r\n"                                                                \
	"x-stainless-retry-count: 0\r\n"                                                    \
	"Content-Length: " len "\r\n"                                                       \
	"\r\n"

Test(rewrite, azure_classic_openai_python_stream_gets_include_usage)
{
	tf_rw_changes ch = model_change("cheap");
	tf_rw_result res;

	ch.include_usage = true;
	ch.narrow_accept_encoding = true;
	cr_assert_eq(rewrite(PY_HEAD("/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21",
				     "gzip, deflate, br, zstd", "87")
			     "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"model\": \"my-deploy\", \"stream\": true}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out(PY_HEAD("/openai/deployments/cheap/chat/completions?api-version=2024-10-21", "gzip, deflate", "126")
		   "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"model\": \"cheap\", \"stream\": true, "
		   "\"stream_options\": {\"include_usage\": true}}");
	cr_assert(res.usage_added && res.accept_narrowed && res.model_in_path && res.model_in_body);
	cr_assert_not(res.resigned, "Azure Bearer is not SigV4");
}

Test(rewrite, azure_v1_and_responses_have_the_model_in_the_body_only)
{
	tf_rw_changes ch = model_change("gpt-4o-mini");
	tf_rw_result res;

	cr_assert_eq(rewrite("POST /openai/v1/chat/completions HTTP/1.1\r\nHost: r.openai.azure.com\r\n"
			     "authorization: Bearer K\r\ncontent-length: 36\r\n\r\n"
			     "{\"model\":\"gpt-4o\",\"messages\":[]}    ",
			     NULL, TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out("POST /openai/v1/chat/completions HTTP/1.1\r\nHost: r.openai.azure.com\r\n"
		   "authorization: Bearer K\r\ncontent-length: 41\r\n\r\n"
		   "{\"model\":\"gpt-4o-mini\",\"messages\":[]}    ");
	cr_assert(res.model_in_body && !res.model_in_path);

	ch = model_change("my-mini");
	add_limit(&ch, 64, "max_output_tokens", NULL);
	cr_assert_eq(rewrite("POST /openai/responses?api-version=2025-04-01-preview HTTP/1.1\r\nHost: h\r\n"
			     "api-key: K\r\nContent-Length: 55\r\n\r\n"
			     "{\"model\":\"my-4o\",\"input\":\"hi\",\"max_output_tokens\":4096}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out("POST /openai/responses?api-version=2025-04-01-preview HTTP/1.1\r\nHost: h\r\n"
		   "api-key: K\r\nContent-Length: 55\r\n\r\n"
		   "{\"model\":\"my-mini\",\"input\":\"hi\",\"max_output_tokens\":64}");
	cr_assert(res.model_in_body && res.clamped);

	/* A Responses request without a limit gets one. */
	ch = (tf_rw_changes){ 0 };
	add_limit(&ch, 64, "max_output_tokens", NULL);
	cr_assert_eq(rewrite("POST /openai/v1/responses HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n"
			     "{\"model\":\"my-4o\",\"input\":\"hi\"}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out("POST /openai/v1/responses HTTP/1.1\r\nHost: h\r\nContent-Length: 53\r\n\r\n"
		   "{\"model\":\"my-4o\",\"input\":\"hi\",\"max_output_tokens\":64}");
}

#define AZ(len) "POST /openai/deployments/d/chat/completions?api-version=1 HTTP/1.1\r\nHost: h\r\nContent-Length: " len "\r\n\r\n"

Test(rewrite, include_usage_every_shape)
{
	tf_rw_changes ch = { .include_usage = true };
	tf_rw_result res;

	/* stream_options there, include_usage false */
	cr_assert_eq(rewrite(AZ("56") "{\"stream\":true,\"stream_options\":{\"include_usage\":false}}", NULL,
			     TF_PROVIDER_AZURE, &ch, &res), 0);
	expect_out(AZ("55") "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	cr_assert(res.usage_added);
	/* stream_options there without include_usage */
	cr_assert_eq(rewrite(AZ("35") "{\"stream\":true,\"stream_options\":{}}", NULL, TF_PROVIDER_AZURE,
			     &ch, &res), 0);
	expect_out(AZ("55") "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	cr_assert(res.usage_added);
	/* null stream_options */
	cr_assert_eq(rewrite(AZ("37") "{\"stream\":true,\"stream_options\":null}", NULL, TF_PROVIDER_AZURE,
			     &ch, &res), 0);
	expect_out(AZ("55") "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	cr_assert(res.usage_added);
	/* already asked for: the request is unchanged, the app wants the chunk */
	cr_assert_eq(rewrite(AZ("55") "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}", NULL,
			     TF_PROVIDER_AZURE, &ch, &res), 0);
	expect_out(AZ("55") "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	cr_assert_not(res.usage_added);
	/* not streaming, or stream false: Azure would refuse stream_options */
	cr_assert_eq(rewrite(AZ("16") "{\"stream\":false}", NULL, TF_PROVIDER_AZURE, &ch, &res), 0);
	expect_out(AZ("16") "{\"stream\":false}");
	cr_assert_eq(rewrite(AZ("2") "{}", NULL, TF_PROVIDER_AZURE, &ch, &res), 0);
	cr_assert_not(res.usage_added);
	/* Bedrock has no stream_options: ignored there */
	cr_assert_eq(rewrite(AZ("15") "{\"stream\":true}", NULL, TF_PROVIDER_BEDROCK, &ch, &res), 0);
	expect_out(AZ("15") "{\"stream\":true}");
	/* a stream_options that is not an object, an include_usage that is a string */
	cr_assert_eq(rewrite(AZ("36") "{\"stream\":true,\"stream_options\":\"x\"}", NULL, TF_PROVIDER_AZURE,
			     &ch, &res), TF_RW_EFIELD);
	cr_assert_eq(rewrite(AZ("56") "{\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res), TF_RW_EFIELD);
	cr_assert_eq(out.len, 0);
}

Test(rewrite, accept_encoding_narrowing)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "gzip, deflate", "gzip, deflate" },
		{ "gzip, deflate, br", "gzip, deflate" },
		{ "br, gzip, deflate", "gzip, deflate" },
		{ "gzip, deflate, br, zstd", "gzip, deflate" },
		{ "br", "identity" },
		{ "*", "identity" },
		{ "br;q=1.0, gzip;q=0.5, *;q=0", "gzip;q=0.5" },
		{ "br, gzip;q=0, identity;q=0.000", "identity" },
		{ "zstd,GZIP,X-Gzip", "GZIP, X-Gzip" },
		{ "identity", "identity" },
		{ "", "" },
	};
	tf_rw_changes ch = { .narrow_accept_encoding = true };
	tf_rw_result res;
	char in[256], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "GET /openai/v1/models HTTP/1.1\r\nHost: h\r\nAccept-Encoding: %s\r\n\r\n",
			 cases[i].in);
		snprintf(want, sizeof(want),
			 "GET /openai/v1/models HTTP/1.1\r\nHost: h\r\nAccept-Encoding: %s\r\n\r\n", cases[i].want);
		cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_AZURE, &ch, &res), 0);
		expect_out(want);
		cr_assert_eq(res.accept_narrowed, strcmp(cases[i].in, cases[i].want) != 0, "%s", cases[i].in);
	}
	/* No Accept-Encoding: nothing added. */
	cr_assert_eq(rewrite("GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, TF_PROVIDER_AZURE, &ch, &res), 0);
	expect_out("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

/* ---- Bedrock ---- */

#define BOTO_BODY(n) "{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": " n ", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"
#define BOTO(model, sig, len)                                                              \
	"POST /model/" model "/invoke HTTP/1.1\r\n"                                         \
	"Host: bedrock-runtime.us-east-1.amazonaws.com\r\n"                                 \
	"Accept-Encoding: identity\r\n"                                                     \
	"Content-Type: application/json\r\n"                                                \
	"Accept: application/json\r\n"                                                      \
	"User-Agent: Botocore/1.29.27 Python/3.11.2 Linux/6.1\r\n"                          \
	"X-Amz-Date: 20261126T112855Z\r\n"                                                  \
	"X-Amz-Security-Token: SESSIONTOKEN\r\n"                                            \
	"Authorization: " CRED "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature=" sig "\r\n" \
	"amz-sdk-invocation-id: d7c8d0d8-d392-49c0-8531-769dc0282e5c\r\n"                   \
	"amz-sdk-request: attempt=1\r\n"                                                    \
	"Content-Length: " len "\r\n"                                                       \
	"\r\n"

Test(rewrite, bedrock_botocore_invoke_matches_botocores_own_signature)
{
	tf_rw_changes ch = model_change(HAIKU35);
	tf_rw_result res;

	add_limit(&ch, 8, "max_tokens", NULL);
	cr_assert_eq(rewrite(BOTO("us.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
				  "8a21874bd980415134ca254feb70e3a57013e946ca97d760065278f5896b5fe7", "111")
			     BOTO_BODY("100"),
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res),
		     0);
	expect_out(BOTO("us.anthropic.claude-3-5-haiku-20241022-v1%3A0",
			"3fa609aac04812091a10fe561790c890cf72f379f3fd84c0751c4a5dd58bdc92", "109")
		   BOTO_BODY("8"));
	cr_assert(res.resigned && res.model_in_path && !res.model_in_body && res.clamped);
	cr_assert_eq(verify_out(), 0);
}

#define JS_BODY(n) "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":" n ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define ARN(m) "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F" m
#define JS(model, len, sha, sig)                                                          \
	"POST /model/" model "/invoke HTTP/1.1\r\n"                                         \
	"content-type: application/json\r\n"                                                \
	"accept: application/json\r\n"                                                      \
	"content-length: " len "\r\n"                                                       \
	"x-amz-user-agent: aws-sdk-js/3.1163.0\r\n"                                         \
	"user-agent: aws-sdk-js/3.1163.0 ua/2.1 lang/js md/nodejs#20.20.2\r\n"              \
	"host: bedrock-runtime.us-east-1.amazonaws.com\r\n"                                 \
	"amz-sdk-invocation-id: fbcd9360-0000-4000-8000-000000000000\r\n"                   \
	"amz-sdk-request: attempt=1; max=3\r\n"                                             \
	"x-amz-date: 20261126T112855Z\r\n"                                                  \
	"x-amz-security-token: SESSIONTOKEN\r\n"                                            \
	"x-amz-content-sha256: " sha "\r\n"                                                 \
	"authorization: " CRED "SignedHeaders=accept;amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-user-agent, Signature=" sig "\r\n" \
	"Connection: keep-alive\r\n"                                                        \
	"\r\n"

Test(rewrite, bedrock_js_arn_with_signed_length_and_hash)
{
	tf_rw_changes ch = model_change("arn:aws:bedrock:us-east-1:123456789012:inference-profile/" HAIKU35);
	tf_rw_result res;

	add_limit(&ch, 8, "max_tokens", NULL);
	cr_assert_eq(rewrite(JS(ARN("us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"), "103",
				"d7a94381780e211009ffb7af1759aa893864c7e560af9abcb1d38dff5e94da2d",
				"30cfbade45e0444e3cd6c27ada6edc6fcccf7f68d4b9b4b59cb8d9eec17138ed")
			     JS_BODY("100"),
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res),
		     0);
	expect_out(JS(ARN("us.anthropic.claude-3-5-haiku-20241022-v1%3A0"), "101",
		      "81523dc226f9c4a3b2062d586fca39015312dc6692fa92fdb82bc80bf6d1d2b2",
		      "f3da02b8f766869fc4a451e1a5eddaa06ba7b3d76d996d50e94e8eecae985a6b")
		   JS_BODY("8"));
	cr_assert_eq(verify_out(), 0);
}

#define ANTH(model, len, sig)                                                             \
	"POST /model/" model "/invoke HTTP/1.1\r\n"                                         \
	"Host: bedrock-runtime.us-east-1.amazonaws.com\r\n"                                 \
	"accept: application/json\r\n"                                                      \
	"accept-encoding: gzip, deflate\r\n"                                                \
	"connection: keep-alive\r\n"                                                        \
	"content-length: " len "\r\n"                                                       \
	"content-type: application/json\r\n"                                                \
	"x-stainless-lang: python\r\n"                                                      \
	"x-stainless-retry-count: 0\r\n"                                                    \
	"X-Amz-Date: 20261126T112855Z\r\n"                                                  \
	"X-Amz-Security-Token: SESSIONTOKEN\r\n"                                            \
	"Authorization: " CRED "SignedHeaders=accept;accept-encoding;content-length;content-type;host;x-amz-date;x-amz-security-token;x-stainless-lang;x-stainless-retry-count, Signature=" sig "\r\n" \
	"user-agent: AnthropicBedrock/Python 0.40.0\r\n"                                    \
	"\r\n"

Test(rewrite, bedrock_anthropic_sdk_raw_colon_stays_raw)
{
	tf_rw_changes ch = model_change("us.anthropic.claude-3-haiku-20240307-v1:0");
	tf_rw_result res;

	add_limit(&ch, 8, "max_tokens", NULL);
	cr_assert_eq(rewrite(ANTH("us.anthropic.claude-3-5-haiku-20241022-v1:0", "103",
				  "49851a56635909c1690635472ea2468bedde2ce78193f53d4aeabc7f88eaffb2")
			     JS_BODY("100"),
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res),
		     0);
	expect_out(ANTH("us.anthropic.claude-3-haiku-20240307-v1:0", "101",
			"7ee0e934cd74d2ebb7d35934266f07805b21e3b50882647735c3327afaa7917c")
		   JS_BODY("8"));
	cr_assert_eq(verify_out(), 0);
}

/* A short signed Bedrock request: the tests below check the signature with
 * tf_sigv4_verify (the emulator's check) rather than exact bytes. */
static const char *signed_req(char *buf, size_t size, const char *target, const char *extra,
			      const char *body)
{
	char head[2048];
	tf_sigv4_header hs[16];
	tf_h1_head h;
	char sig[TF_SIGV4_SIG_HEX + 1], payload[TF_SIGV4_HASH_MAX + 1], auth[512];
	tf_sigv4_auth a;
	int n, plen;

	snprintf(head, sizeof(head),
		 "POST %s HTTP/1.1\r\nHost: bedrock-runtime.us-east-1.amazonaws.com\r\n"
		 "Content-Type: application/json\r\nX-Amz-Date: 20261126T112855Z\r\n"
		 "X-Amz-Security-Token: SESSIONTOKEN\r\n%sContent-Length: %zu\r\n\r\n",
		 target, extra, strlen(body));
	n = tf_h1_parse_head(head, strlen(head), TF_H1_REQUEST, &h);
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < h.num_headers; i++)
		hs[i] = (tf_sigv4_header){ h.headers[i].name, h.headers[i].name_len, h.headers[i].value,
					   h.headers[i].value_len };
	snprintf(auth, sizeof(auth), CRED "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=%064d", 0);
	cr_assert_eq(tf_sigv4_parse_auth(auth, strlen(auth), &a), 0);
	plen = tf_sigv4_payload_hash(hs, h.num_headers, body, strlen(body), payload);
	cr_assert_gt(plen, 0);
	cr_assert_eq(tf_sigv4_sign(&(tf_sigv4_request){ h.method, h.method_len, h.target, h.target_len, hs,
						       h.num_headers, payload, (size_t)plen },
				   &a, SECRET, strlen(SECRET), sig),
		     0);
	snprintf(buf, size,
		 "POST %s HTTP/1.1\r\nHost: bedrock-runtime.us-east-1.amazonaws.com\r\n"
		 "Content-Type: application/json\r\nX-Amz-Date: 20261126T112855Z\r\n"
		 "X-Amz-Security-Token: SESSIONTOKEN\r\n%s"
		 "Authorization: " CRED "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=%s\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 target, extra, sig, strlen(body), body);
	return buf;
}

static void signed_case(const char *target, const char *body, const tf_rw_changes *ch,
			const char *want_target, const char *want_body)
{
	char in[4096];
	tf_rw_result res;
	tf_h1_head h;
	int n;

	signed_req(in, sizeof(in), target, "", body);
	out.len = 0;
	cr_assert_eq(verify_raw(in, strlen(in)), 0);
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, ch, &res), 0, "%s", target);
	cr_assert(res.resigned);
	cr_assert_eq(verify_out(), 0);
	n = tf_h1_parse_head((const char *)out.data, out.len, TF_H1_REQUEST, &h);
	cr_assert_gt(n, 0);
	cr_assert_eq(h.target_len, strlen(want_target));
	cr_assert(memcmp(h.target, want_target, h.target_len) == 0, "target %.*s", (int)h.target_len,
		  h.target);
	cr_assert_eq(out.len - (size_t)n, strlen(want_body));
	cr_assert(memcmp(out.data + n, want_body, strlen(want_body)) == 0, "body %s",
		  (const char *)out.data + n);
}

#define ID_SONNET "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
#define ID_HAIKU "us.anthropic.claude-3-5-haiku-20241022-v1%3A0"

Test(rewrite, bedrock_operations_and_family_fields)
{
	tf_rw_changes ch = model_change(HAIKU35);

	/* Converse / ConverseStream: inferenceConfig.maxTokens, created when absent. */
	add_limit(&ch, 64, "inferenceConfig", "maxTokens");
	signed_case("/model/" ID_SONNET "/converse",
		    "{\"messages\":[],\"inferenceConfig\":{\"maxTokens\":4096,\"temperature\":0.5}}", &ch,
		    "/model/" ID_HAIKU "/converse",
		    "{\"messages\":[],\"inferenceConfig\":{\"maxTokens\":64,\"temperature\":0.5}}");
	signed_case("/model/" ID_SONNET "/converse-stream", "{\"messages\": []}", &ch,
		    "/model/" ID_HAIKU "/converse-stream",
		    "{\"messages\": [], \"inferenceConfig\": {\"maxTokens\": 64}}");
	/* InvokeModelWithResponseStream */
	ch = model_change(HAIKU35);
	add_limit(&ch, 8, "max_tokens", NULL);
	signed_case("/model/" ID_SONNET "/invoke-with-response-stream", "{\"max_tokens\":100}", &ch,
		    "/model/" ID_HAIKU "/invoke-with-response-stream", "{\"max_tokens\":8}");
	/* Titan: textGenerationConfig.maxTokenCount; model without ':' keeps its form */
	ch = model_change("amazon.titan-text-lite-v1");
	add_limit(&ch, 50, "textGenerationConfig", "maxTokenCount");
	signed_case("/model/amazon.titan-text-express-v1/invoke",
		    "{\"inputText\":\"x\",\"textGenerationConfig\":{\"maxTokenCount\":4096}}", &ch,
		    "/model/amazon.titan-text-lite-v1/invoke",
		    "{\"inputText\":\"x\",\"textGenerationConfig\":{\"maxTokenCount\":50}}");
	/* Llama: max_gen_len */
	ch = (tf_rw_changes){ 0 };
	add_limit(&ch, 100, "max_gen_len", NULL);
	signed_case("/model/meta.llama3-70b-instruct-v1%3A0/invoke", "{\"prompt\":\"p\",\"max_gen_len\":2048}",
		    &ch, "/model/meta.llama3-70b-instruct-v1%3A0/invoke",
		    "{\"prompt\":\"p\",\"max_gen_len\":100}");
	/* Nova: both spellings present, both clamped */
	ch = model_change("us.amazon.nova-micro-v1:0");
	add_limit(&ch, 100, "inferenceConfig", "maxTokens");
	add_limit(&ch, 100, "inferenceConfig", "max_new_tokens");
	signed_case("/model/us.amazon.nova-pro-v1%3A0/invoke",
		    "{\"inferenceConfig\":{\"max_new_tokens\":5000,\"maxTokens\":200}}", &ch,
		    "/model/us.amazon.nova-micro-v1%3A0/invoke",
		    "{\"inferenceConfig\":{\"max_new_tokens\":100,\"maxTokens\":100}}");
	/* StartAsyncInvoke: modelId in the body */
	ch = model_change("amazon.nova-reel-v1:1");
	signed_case("/async-invoke", "{\"modelId\":\"amazon.nova-reel-v1:0\",\"modelInput\":{}}", &ch,
		    "/async-invoke", "{\"modelId\":\"amazon.nova-reel-v1:1\",\"modelInput\":{}}");
	/* lower-case hex in the old id is kept */
	ch = model_change(HAIKU35);
	signed_case("/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3a0/invoke", "{}", &ch,
		    "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3a0/invoke", "{}");
	/* an application-inference-profile ARN replaced by a plain id */
	ch = model_change(HAIKU35);
	signed_case("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc/converse",
		    "{}", &ch, "/model/" ID_HAIKU "/converse", "{}");
}

Test(rewrite, clamp_semantics)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "{\"max_tokens\":100}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":99}", "{\"max_tokens\":99}" },
		{ "{\"max_tokens\":101}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":1e5}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":1E2}", "{\"max_tokens\":1E2}" },
		{ "{\"max_tokens\":100.0}", "{\"max_tokens\":100.0}" },
		{ "{\"max_tokens\":100.5}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":0.1e3}", "{\"max_tokens\":0.1e3}" },
		{ "{\"max_tokens\":1000e-1}", "{\"max_tokens\":1000e-1}" },
		{ "{\"max_tokens\":1001e-1}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":99999999999999999999999}", "{\"max_tokens\":100}" },
		{ "{\"max_tokens\":-5}", "{\"max_tokens\":-5}" },
		{ "{\"max_tokens\":0}", "{\"max_tokens\":0}" },
		{ "{\"max_tokens\":null}", "{\"max_tokens\":100}" },
		{ "{}", "{\"max_tokens\":100}" },
	};
	tf_rw_changes ch = { 0 };
	tf_rw_result res;
	char in[256], want[256];

	add_limit(&ch, 100, "max_tokens", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(in, sizeof(in), "POST /openai/v1/chat/completions HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(cases[i].in), cases[i].in);
		snprintf(want, sizeof(want),
			 "POST /openai/v1/chat/completions HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(cases[i].want), cases[i].want);
		cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_AZURE, &ch, &res), 0, "%s", cases[i].in);
		expect_out(want);
		cr_assert_eq(res.clamped, strcmp(cases[i].in, cases[i].want) != 0, "%s", cases[i].in);
	}
	/* Below-one values against a limit of 0. */
	ch.max_out = 0;
	cr_assert_eq(rewrite("POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"max_tokens\":0.001}", NULL,
			     TF_PROVIDER_AZURE, &ch, &res), 0);
	expect_out("POST / HTTP/1.1\r\nContent-Length: 16\r\n\r\n{\"max_tokens\":0}");
	/* Not a number: refused. */
	ch.max_out = 100;
	cr_assert_eq(rewrite("POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"max_tokens\":\"500\"}", NULL,
			     TF_PROVIDER_AZURE, &ch, &res), TF_RW_EFIELD);
	cr_assert_eq(rewrite("POST / HTTP/1.1\r\nContent-Length: 23\r\n\r\n{\"inferenceConfig\":[1]}", NULL,
			     TF_PROVIDER_BEDROCK,
			     &(tf_rw_changes){ .clamp = true, .max_out = 1, .nlimit = 1,
					       .limit = { { { "inferenceConfig", "maxTokens" }, 2 } } },
			     &res), TF_RW_EFIELD);
	/* The same field twice (once escaped): ambiguous, refused. */
	cr_assert_eq(rewrite("POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"max_tokens\":1,\"max\\u005ftokens\":99999}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res), TF_RW_EFIELD);
	cr_assert_eq(out.len, 0);
}

Test(rewrite, unchanged_signed_request_needs_no_credentials)
{
	char in[4096];
	tf_rw_changes ch = { 0 };
	tf_rw_result res;
	req r;

	add_limit(&ch, 100, "max_tokens", NULL);
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "", "{\"max_tokens\":50}");
	parse_req(&r, in, NULL);
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_BEDROCK, &ch,
				   NULL, &out, &res),
		     0);
	cr_assert_not(res.resigned || res.clamped);
	cr_assert_str_eq(out_str(), in);
}

Test(rewrite, expect_and_chunked)
{
	tf_rw_changes ch = { 0 };
	tf_rw_result res;
	char in[4096];

	add_limit(&ch, 5, "max_tokens", NULL);
	/* curl-style: Expect dropped, chunked becomes Content-Length in place. */
	cr_assert_eq(rewrite("POST /openai/deployments/d/chat/completions?api-version=1 HTTP/1.1\r\n"
			     "Host: h\r\nUser-Agent: curl/7.88.1\r\nTransfer-Encoding: chunked\r\n"
			     "Expect: 100-continue\r\napi-key: K\r\n\r\n",
			     "{\"max_tokens\":50}", TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out("POST /openai/deployments/d/chat/completions?api-version=1 HTTP/1.1\r\n"
		   "Host: h\r\nUser-Agent: curl/7.88.1\r\nContent-Length: 16\r\napi-key: K\r\n\r\n"
		   "{\"max_tokens\":5}");
	cr_assert(res.expect_removed && res.dechunked);
	/* Bare LF line ends and lower-case names are kept. */
	cr_assert_eq(rewrite("POST /x HTTP/1.1\nhost: h\ntransfer-encoding: chunked\nexpect: 100-continue\n\n",
			     "{}", TF_PROVIDER_AZURE, &ch, &res),
		     0);
	expect_out("POST /x HTTP/1.1\nhost: h\ncontent-length: 16\n\n{\"max_tokens\":5}");
	/* Nothing to change: still de-chunked, Expect still dropped. */
	cr_assert_eq(rewrite("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "{\"a\":1}",
			     TF_PROVIDER_AZURE, &(tf_rw_changes){ 0 }, &res),
		     0);
	expect_out("POST /x HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
	/* SigV4 + Expect (unsigned): dropped, the signature still verifies. */
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "Expect: 100-continue\r\n", "{\"max_tokens\":50}");
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, &ch, &res), 0);
	cr_assert(res.expect_removed && res.resigned);
	cr_assert_null(strstr(out_str(), "Expect"));
	cr_assert_eq(verify_out(), 0);
}

Test(rewrite, signed_expect_stays_signed_transfer_encoding_refused)
{
	static const char head[] =
		"POST /model/m/invoke HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nX-Amz-Date: 20261126T112855Z\r\n"
		"Authorization: " CRED "SignedHeaders=expect;host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n"
		"Content-Length: 2\r\n\r\n{}";
	static const char te[] =
		"POST /model/m/invoke HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Amz-Date: 20261126T112855Z\r\n"
		"Authorization: " CRED "SignedHeaders=host;transfer-encoding;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n"
		"\r\n";
	tf_rw_changes ch = model_change("n");
	tf_rw_result res;

	cr_assert_eq(rewrite(head, NULL, TF_PROVIDER_BEDROCK, &ch, &res), 0);
	cr_assert_not(res.expect_removed);
	cr_assert_not_null(strstr(out_str(), "Expect: 100-continue\r\n"));
	cr_assert_eq(verify_out(), 0);
	cr_assert_eq(rewrite(te, "{}", TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ESIGNATURE);
}

Test(rewrite, payload_modes)
{
	char in[4096];
	tf_rw_changes ch = model_change(HAIKU35);
	tf_rw_result res;

	add_limit(&ch, 5, "max_tokens", NULL);
	/* UNSIGNED-PAYLOAD: kept; the body is not covered, the path is. */
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n",
		   "{\"max_tokens\":50}");
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, &ch, &res), 0);
	cr_assert_not_null(strstr(out_str(), "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n"));
	cr_assert_eq(verify_out(), 0);
	/* chunk-signed streaming payloads cannot be redone */
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke",
		   "X-Amz-Content-SHA256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n", "{\"max_tokens\":50}");
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_EPAYLOAD);
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke",
		   "X-Amz-Content-SHA256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n", "{\"max_tokens\":50}");
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_EPAYLOAD);
	/* a value that is neither */
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "X-Amz-Content-SHA256: abc\r\n",
		   "{\"max_tokens\":50}");
	cr_assert_eq(rewrite(in, NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_EPAYLOAD);
	cr_assert_eq(out.len, 0);
}

Test(rewrite, credentials)
{
	char in[4096];
	tf_rw_changes ch = model_change(HAIKU35);
	tf_rw_result res;
	req r;
	tf_awscreds other = { 0 };
	static const char ini[] = "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = x\n";
	static const char tok[] = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = " SECRET
				  "\naws_session_token = ANOTHERTOKEN\n";

	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "", "{}");
	parse_req(&r, in, NULL);
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_BEDROCK, &ch,
				   NULL, &out, &res),
		     TF_RW_ENOCREDS);
	cr_assert_eq(tf_awscreds_parse_ini(ini, strlen(ini), "default", false, &other.set[0]), 0);
	other.n = 1;
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_BEDROCK, &ch,
				   &other, &out, &res),
		     TF_RW_ENOCREDS);
	tf_awscreds_free(&other);
	cr_assert_eq(tf_awscreds_parse_ini(tok, strlen(tok), "default", false, &other.set[0]), 0);
	other.n = 1;
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_BEDROCK, &ch,
				   &other, &out, &res),
		     TF_RW_ENOCREDS);
	tf_awscreds_free(&other);
	cr_assert_eq(out.len, 0);
	cr_assert_str_eq(tf_rw_strerror(TF_RW_ENOCREDS), "no-credentials");
}

Test(rewrite, bearer_bedrock_is_not_signed)
{
	tf_rw_changes ch = model_change("us.amazon.nova-micro-v1:0");
	tf_rw_result res;
	req r;
	static const char in[] = "POST /model/us.amazon.nova-pro-v1%3A0/converse HTTP/1.1\r\n"
				 "Accept-Encoding: identity\r\nContent-Type: application/json\r\n"
				 "User-Agent: Botocore/1.43.67\r\nAuthorization: Bearer ABSKexampleapikey\r\n"
				 "amz-sdk-invocation-id: 1\r\namz-sdk-request: attempt=1\r\nContent-Length: 16\r\n\r\n"
				 "{\"messages\": []}";

	parse_req(&r, in, NULL);
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_BEDROCK, &ch,
				   NULL, &out, &res),
		     0);
	expect_out("POST /model/us.amazon.nova-micro-v1%3A0/converse HTTP/1.1\r\n"
		   "Accept-Encoding: identity\r\nContent-Type: application/json\r\n"
		   "User-Agent: Botocore/1.43.67\r\nAuthorization: Bearer ABSKexampleapikey\r\n"
		   "amz-sdk-invocation-id: 1\r\namz-sdk-request: attempt=1\r\nContent-Length: 16\r\n\r\n"
		   "{\"messages\": []}");
	cr_assert_not(res.resigned);
}

Test(rewrite, refusals)
{
	tf_rw_changes ch = model_change("m2");
	tf_rw_result res;
	static const char sigv4a[] = "POST /model/m/invoke HTTP/1.1\r\nX-Amz-Date: 20261126T112855Z\r\n"
				     "Authorization: AWS4-ECDSA-P256-SHA256 Credential=AKID/20261126/bedrock/aws4_request, "
				     "SignedHeaders=host, Signature=00\r\nContent-Length: 2\r\n\r\n{}";

	tf_buf_append_str(&out, "kept");
	/* body not JSON, content-coded, empty */
	cr_assert_eq(rewrite("POST /model/m/invoke HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", NULL,
			     TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ENOTJSON);
	cr_assert_eq(rewrite("POST /model/m/invoke HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ENOTJSON);
	/* nowhere to put the model */
	cr_assert_eq(rewrite("POST /openai/v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", NULL,
			     TF_PROVIDER_AZURE, &ch, &res), TF_RW_ENOMODEL);
	cr_assert_eq(rewrite("POST /model//invoke HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", NULL,
			     TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ENOMODEL);
	/* a model member that is not a string */
	cr_assert_eq(rewrite("POST /openai/v1/chat/completions HTTP/1.1\r\nContent-Length: 11\r\n\r\n{\"model\":1}",
			     NULL, TF_PROVIDER_AZURE, &ch, &res), TF_RW_EFIELD);
	/* presigned query, SigV4a, malformed SigV4 */
	cr_assert_eq(rewrite("POST /model/m/invoke?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab HTTP/1.1\r\n"
			     "Content-Length: 2\r\n\r\n{}",
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ESIGNATURE);
	cr_assert_eq(rewrite(sigv4a, NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ESIGNATURE);
	cr_assert_eq(rewrite("POST /model/m/invoke HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 junk\r\n"
			     "Content-Length: 2\r\n\r\n{}",
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ESIGNATURE);
	/* no X-Amz-Date */
	cr_assert_eq(rewrite("POST /model/m/invoke HTTP/1.1\r\nAuthorization: " CRED
			     "SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n"
			     "Content-Length: 2\r\n\r\n{}",
			     NULL, TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_ESIGNATURE);
	/* not origin-form */
	cr_assert_eq(rewrite("POST http://h/model/m/invoke HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", NULL,
			     TF_PROVIDER_BEDROCK, &ch, &res), TF_RW_EREQUEST);
	cr_assert_eq(out.len, 0); /* rewrite() resets; the failures added nothing */
}

Test(rewrite, inconsistent_input_and_caps)
{
	static const char in[] = "POST /openai/v1/chat/completions HTTP/1.1\r\nContent-Length: 18\r\n\r\n{\"model\":\"gpt-4o\"}";
	tf_rw_changes ch = model_change("gpt-4o-mini");
	tf_rw_result res;
	tf_buf small;
	req r;

	parse_req(&r, in, NULL);
	/* a body that is not what Content-Length says */
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len - 1, TF_PROVIDER_AZURE, &ch,
				   NULL, &out, &res),
		     TF_RW_EREQUEST);
	/* a raw head that is not the one parsed */
	cr_assert_eq(tf_rw_request(&r.h, r.raw + 1, r.head_len, r.body, r.body_len, TF_PROVIDER_AZURE, &ch,
				   NULL, &out, &res),
		     TF_RW_EREQUEST);
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len - 1, r.body, r.body_len, TF_PROVIDER_AZURE, &ch,
				   NULL, &out, &res),
		     TF_RW_EREQUEST);
	/* the output cap */
	tf_buf_init(&small, strlen(in) + 6);
	tf_buf_append_str(&small, "ab");
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_AZURE, &ch,
				   NULL, &small, &res),
		     -ENOBUFS);
	cr_assert_eq(small.len, 2);
	tf_buf_free(&small);
	tf_buf_init(&small, strlen(in) + 7);
	tf_buf_append_str(&small, "ab");
	cr_assert_eq(tf_rw_request(&r.h, r.raw, r.head_len, r.body, r.body_len, TF_PROVIDER_AZURE, &ch,
				   NULL, &small, &res),
		     0);
	cr_assert_eq(small.len, strlen(in) + 7);
	cr_assert_eq(res.head_len + res.body_len + 2, small.len);
	tf_buf_free(&small);
}

/* Head and body each end right before a PROT_NONE page: no over-read. */
Test(rewrite, guard_pages)
{
	char in[4096];
	tf_rw_changes ch = model_change(HAIKU35);
	tf_rw_result res;
	void *m1, *m2;
	size_t l1, l2;
	tf_h1_head h;
	const char *head, *body;
	size_t hl, bl;
	int n;

	add_limit(&ch, 5, "max_tokens", NULL);
	signed_req(in, sizeof(in), "/model/" ID_SONNET "/invoke", "Expect: 100-continue\r\n", "{\"max_tokens\":50}");
	n = tf_h1_parse_head(in, strlen(in), TF_H1_REQUEST, &h);
	cr_assert_gt(n, 0);
	hl = (size_t)n;
	bl = strlen(in) - hl;
	head = (const char *)tf_test_guard_copy(in, hl, &m1, &l1);
	body = (const char *)tf_test_guard_copy(in + hl, bl, &m2, &l2);
	cr_assert_eq(tf_h1_parse_head(head, hl, TF_H1_REQUEST, &h), n);
	cr_assert_eq(tf_rw_request(&h, head, hl, (const uint8_t *)body, bl, TF_PROVIDER_BEDROCK, &ch, &creds,
				   &out, &res),
		     0);
	cr_assert_eq(verify_out(), 0);
	tf_test_guard_free(m1, l1);
	tf_test_guard_free(m2, l2);
}

/* De-chunking adds a Content-Length: if that name is signed, re-sign. */
Test(rewrite, dechunked_signed_content_length_is_resigned)
{
	static const char in[] =
		"POST /model/m/invoke HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"X-Amz-Date: 20261126T112855Z\r\nX-Amz-Security-Token: SESSIONTOKEN\r\n"
		"Authorization: " CRED "SignedHeaders=content-length;host;x-amz-date;x-amz-security-token, "
		"Signature=0000000000000000000000000000000000000000000000000000000000000000\r\n\r\n";
	tf_rw_result res;

	cr_assert_eq(rewrite(in, "{\"a\":1}", TF_PROVIDER_BEDROCK, &(tf_rw_changes){ 0 }, &res), 0);
	cr_assert(res.dechunked && res.resigned);
	cr_assert_eq(verify_out(), 0);
}
