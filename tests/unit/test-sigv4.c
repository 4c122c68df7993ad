/*
 * SigV4 against:
 *  - the official AWS SigV4 test suite (aws-sig-v4-test-suite, as copied in
 *    awslabs/aws-c-auth tests/aws-signing-test-suite/v4/<name>/
 *    header-signed-request.txt; quoted in reference/WIRE.md section 2.4):
 *    credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
 *    us-east-1, service "service", 20150830T123600Z;
 *  - the Bedrock vectors of WIRE.md section 2.4 (double-encoded model id and
 *    ARN paths, verified there against botocore's signer);
 *  - an aws-sdk-js-shaped request (content-length and x-amz-content-sha256
 *    signed) and its model-swapped re-signing, both computed with botocore
 *    1.29.27 botocore.auth.SigV4Auth at a fixed 20261126T112855Z.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define BEDROCK_CRED "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/bedrock/aws4_request, "

/* A request written as on the wire ('\n' line ends), split into spans. */
typedef struct parsed {
	char text[4096];
	tf_sigv4_header h[32];
	size_t nh;
	const char *method, *target, *body;
	size_t method_len, target_len, body_len;
	char payload[TF_SIGV4_HASH_MAX + 1];
	tf_sigv4_request req;
	tf_sigv4_auth auth;
} parsed;

static void parse_request(parsed *p, const char *raw)
{
	char *s, *line, *sp;

	memset(p, 0, sizeof(*p));
	cr_assert_lt(strlen(raw), sizeof(p->text));
	strcpy(p->text, raw);
	s = p->text;
	line = s;
	s = strchr(s, '\n');
	cr_assert(s);
	*s++ = '\0';
	sp = strchr(line, ' ');
	p->method = line;
	p->method_len = (size_t)(sp - line);
	p->target = sp + 1;
	p->target_len = (size_t)(strrchr(line, ' ') - p->target);
	while (*s != '\n') {
		char *nl = strchr(s, '\n'), *colon = strchr(s, ':');
		tf_sigv4_header *f = &p->h[p->nh++];

		f->name = s;
		f->name_len = (size_t)(colon - s);
		f->value = colon + 1;
		f->value_len = (size_t)(nl - colon - 1);
		s = nl + 1;
	}
	p->body = s + 1;
	p->body_len = strlen(p->body);
	cr_assert(tf_sigv4_payload_hash(p->h, p->nh, p->body, p->body_len, p->payload) > 0);
	p->req = (tf_sigv4_request){p->method, p->method_len, p->target, p->target_len, p->h,
				    p->nh, p->payload, strlen(p->payload)};
	{
		const tf_sigv4_header *a = tf_sigv4_find(p->h, p->nh, "Authorization");

		cr_assert(a);
		cr_assert_eq(tf_sigv4_parse_auth(a->value, a->value_len, &p->auth), 0);
	}
}

typedef struct vector {
	char name[48];
	char raw[1024];
} vector;

static const vector suite[] = {
	{"get-vanilla",
	 "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n"},
	{"get-header-key-duplicate",
	 "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\n"
	 "Authorization:" SUITE_CRED "SignedHeaders=host;my-header1;x-amz-date, "
	 "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea\nX-Amz-Date:20150830T123600Z\n\n"},
	{"get-header-value-trim",
	 "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\n"
	 "Authorization:" SUITE_CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	 "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736\nX-Amz-Date:20150830T123600Z\n\n"},
	{"get-relative-relative-normalized",
	 "GET /example1/example2/../.. HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-slash-dot-slash-normalized",
	 "GET /./ HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-slashes-normalized",
	 "GET //example// HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-space-normalized",
	 "GET /example space/ HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-utf8",
	 "GET /\xe1\x88\xb4 HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-unreserved",
	 "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
	 "Host:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-vanilla-query-order-key-case",
	 "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-vanilla-query-unreserved",
	 "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
	 "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\n"
	 "Host:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-vanilla-empty-query-key",
	 "GET /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-vanilla-utf8-query",
	 "GET /?\xe1\x88\xb4=bar HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"post-header-key-sort",
	 "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c\n"
	 "X-Amz-Date:20150830T123600Z\n\n"},
	{"get-vanilla-with-session-token",
	 "GET / HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date;x-amz-security-token, "
	 "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8\nX-Amz-Date:20150830T123600Z\n"
	 "X-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n"},
	{"post-x-www-form-urlencoded",
	 "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\n"
	 "X-Amz-Date:20150830T123600Z\nAuthorization:" SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, "
	 "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a\n\nParam1=value1"},
	{"post-vanilla-query",
	 "POST /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:" SUITE_CRED
	 "SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11\n\n"},
	/* WIRE.md 2.4, Bedrock-specific: %3A on the wire is %253A in the canonical URI. */
	{"bedrock-profile-id",
	 "POST /model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke HTTP/1.1\nHost: 127.0.0.1:37567\n"
	 "Content-Type: application/json\nX-Amz-Date: 20261126T112855Z\nX-Amz-Security-Token: SESSIONTOKEN\n"
	 "Authorization: " BEDROCK_CRED "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
	 "Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085\n\n{\"max_tokens\":5}"},
	{"bedrock-arn",
	 "POST /model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic."
	 "claude-3-5-sonnet-20241022-v2%3A0/invoke HTTP/1.1\nHost: 127.0.0.1:37567\n"
	 "Content-Type: application/json\nX-Amz-Date: 20261126T112855Z\nX-Amz-Security-Token: SESSIONTOKEN\n"
	 "Authorization: " BEDROCK_CRED "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
	 "Signature=e039f6f2747df0f1eeaebd1740f39910ed68bd6777beb2471bbf0ee421330539\n\n{\"max_tokens\":10}"},
	/* botocore 1.29.27 SigV4Auth with JS-SDK-like signed headers. */
	{"bedrock-js-shaped",
	 "POST /model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke HTTP/1.1\n"
	 "Content-Type: application/json\nAccept: application/json\nContent-Length: 103\n"
	 "X-Amz-Content-SHA256: d7a94381780e211009ffb7af1759aa893864c7e560af9abcb1d38dff5e94da2d\n"
	 "amz-sdk-request: attempt=1; max=3\nHost: bedrock-runtime.us-east-1.amazonaws.com\n"
	 "X-Amz-Date: 20261126T112855Z\nX-Amz-Security-Token: SESSIONTOKEN\nAuthorization: " BEDROCK_CRED
	 "SignedHeaders=accept;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;"
	 "x-amz-date;x-amz-security-token, Signature=562412db1db1782232fc70ee918866927a1bf5e01d33cbf468e5e5d802329211\n\n"
	 "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\","
	 "\"content\":\"hi\"}]}"},
};

Test(sigv4, official_and_bedrock_vectors_sign_and_verify)
{
	static parsed p;

	for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
		char sig[TF_SIGV4_SIG_HEX + 1];

		parse_request(&p, suite[i].raw);
		cr_assert_eq(tf_sigv4_sign(&p.req, &p.auth, SECRET, strlen(SECRET), sig), 0);
		cr_assert(memcmp(sig, p.auth.signature.p, TF_SIGV4_SIG_HEX) == 0, "%s: got %s",
			  suite[i].name, sig);
		cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), 0, "%s",
			     suite[i].name);
		cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, "wrong", 5), TF_SIGV4_EMISMATCH);
	}
}

Test(sigv4, canonical_request_matches_the_documented_text)
{
	static parsed p;
	tf_buf b;
	const char *want_vanilla = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
				   "host;x-amz-date\n"
				   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	const char *want_bedrock = "POST\n/model/us.anthropic.claude-3-5-haiku-20241022-v1%253A0/invoke\n\n"
				   "content-type:application/json\nhost:127.0.0.1:37567\n"
				   "x-amz-date:20261126T112855Z\nx-amz-security-token:SESSIONTOKEN\n\n"
				   "content-type;host;x-amz-date;x-amz-security-token\n"
				   "44810af4b6c66c77f2d1ee95f8d31816f5e5b39197e0e29c28a47d3b04ce16a2";

	tf_buf_init(&b, 0);
	parse_request(&p, suite[0].raw);
	cr_assert_eq(tf_sigv4_canonical_request(&p.req, p.auth.signed_headers.p, p.auth.signed_headers.n, &b), 0);
	cr_assert_eq(b.len, strlen(want_vanilla));
	cr_assert(memcmp(b.data, want_vanilla, b.len) == 0);
	{
		/* WIRE.md 2.4: the hash line of get-vanilla's string to sign. */
		tf_buf s;
		const char *want_sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
				       "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63";

		tf_buf_init(&s, 0);
		cr_assert_eq(tf_sigv4_string_to_sign("20150830T123600Z", 16, &p.auth, b.data, b.len, &s), 0);
		cr_assert_eq(s.len, strlen(want_sts));
		cr_assert(memcmp(s.data, want_sts, s.len) == 0);
		tf_buf_free(&s);
	}
	tf_buf_reset(&b);
	parse_request(&p, suite[17].raw);
	cr_assert_str_eq(suite[17].name, "bedrock-profile-id");
	cr_assert_eq(tf_sigv4_canonical_request(&p.req, p.auth.signed_headers.p, p.auth.signed_headers.n, &b), 0);
	cr_assert_eq(b.len, strlen(want_bedrock));
	cr_assert(memcmp(b.data, want_bedrock, b.len) == 0);
	tf_buf_free(&b);
}

static void check_uri(const char *in, const char *want)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	cr_assert_eq(tf_sigv4_canonical_uri(in, strlen(in), &b), 0);
	cr_assert_eq(b.len, strlen(want), "%s -> %.*s", in, (int)b.len, (char *)b.data);
	cr_assert(memcmp(b.data, want, b.len) == 0, "%s -> %.*s", in, (int)b.len, (char *)b.data);
	tf_buf_free(&b);
}

static void check_query(const char *in, const char *want)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	cr_assert_eq(tf_sigv4_canonical_query(in, strlen(in), &b), 0);
	cr_assert_eq(b.len, strlen(want), "%s -> %.*s", in, (int)b.len, (char *)b.data);
	cr_assert(b.len == 0 || memcmp(b.data, want, b.len) == 0, "%s", in);
	tf_buf_free(&b);
}

Test(sigv4, canonical_uri_rules)
{
	check_uri("", "/");
	check_uri("/", "/");
	check_uri("//", "/");
	check_uri("/..", "/");
	check_uri("/a/./b/../c/", "/a/c/");
	check_uri("/model/x%3Ay/invoke", "/model/x%253Ay/invoke");
	check_uri("/model/us.anthropic.claude-3-5-haiku-20241022-v1:0/invoke",
		  "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke");
	check_uri("/a b+c", "/a%20b%2Bc");
}

Test(sigv4, canonical_query_rules)
{
	check_query("", "");
	check_query("b=2&a=1&a=0", "a=0&a=1&b=2");
	check_query("flag", "flag=");
	check_query("x=%2f&y=a b&z=a+b", "x=%2F&y=a%20b&z=a%2Bb");
	check_query("&&k=v&", "k=v");
	check_query("x=%zz", "x=%25zz");
	check_query("api-version=2024-10-21", "api-version=2024-10-21");
}

Test(sigv4, parse_auth_accepts_and_rejects)
{
	tf_sigv4_auth a;
	const char *ok = "AWS4-HMAC-SHA256 Credential=AKID/20261126/eu-west-1/bedrock/aws4_request,"
			 "SignedHeaders=host;x-amz-date,Signature="
			 "1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085";
	const char *reordered = "AWS4-HMAC-SHA256 Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085, "
				"SignedHeaders=host, Credential=AKID/20261126/eu-west-1/bedrock/aws4_request";

	cr_assert_eq(tf_sigv4_parse_auth(ok, strlen(ok), &a), 0);
	cr_assert_eq(a.akid.n, 4);
	cr_assert(memcmp(a.region.p, "eu-west-1", 9) == 0);
	cr_assert(memcmp(a.service.p, "bedrock", 7) == 0);
	cr_assert_eq(a.signed_headers.n, strlen("host;x-amz-date"));
	cr_assert_eq(tf_sigv4_parse_auth(reordered, strlen(reordered), &a), 0);
	cr_assert_eq(tf_sigv4_parse_auth("Bearer ABSKkey", 14, &a), TF_SIGV4_ENOTSIGV4);
	cr_assert_eq(tf_sigv4_parse_auth("AWS4-HMAC-SHA256X", 17, &a), TF_SIGV4_ENOTSIGV4);
	cr_assert_eq(tf_sigv4_parse_auth("AWS4-HMAC-SHA256", 16, &a), TF_SIGV4_EMALFORMED);
	{
		const char *bad[] = {
			"AWS4-HMAC-SHA256 Credential=AKID/2026112/r/s/aws4_request, SignedHeaders=host, Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws5_request, SignedHeaders=host, Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws4_request, SignedHeaders=host, Signature=1a6a",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws4_request, SignedHeaders=host, Signature=xa6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws4_request, Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws4_request/x, SignedHeaders=host, Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085",
			"AWS4-HMAC-SHA256 Credential=AKID/20261126/r/s/aws4_request, SignedHeaders=host, Signature=1a6abe2cf0d74076f7153c8928404a49389e294ce831686664ecd66ce86c2085, Extra=1",
			"AWS4-HMAC-SHA256 Credential, SignedHeaders=host",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			cr_assert_eq(tf_sigv4_parse_auth(bad[i], strlen(bad[i]), &a), TF_SIGV4_EMALFORMED,
				     "%zu", i);
	}
}

Test(sigv4, parse_auth_never_reads_past_the_value)
{
	const char *v = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
			"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
	size_t n = strlen(v);
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tf_sigv4_auth a;

	cr_assert(map != MAP_FAILED);
	cr_assert_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	/* Every prefix, ending right at the guard page. */
	for (size_t len = 0; len <= n; len++) {
		char *p = map + pg - len;
		int r;

		memcpy(p, v, len);
		r = tf_sigv4_parse_auth(p, len, &a);
		cr_assert(len == n ? r == 0 : r < 0, "len %zu r %d", len, r);
	}
	munmap(map, (size_t)pg * 2);
}

Test(sigv4, missing_date_and_scope_date_mismatch)
{
	static parsed p;

	parse_request(&p, "GET / HTTP/1.1\nHost:example.amazonaws.com\nAuthorization:" SUITE_CRED
			  "SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n");
	cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), TF_SIGV4_ENODATE);
	parse_request(&p, "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150831T123600Z\nAuthorization:" SUITE_CRED
			  "SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n");
	cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), TF_SIGV4_EMISMATCH);
}

Test(sigv4, tampered_body_or_target_fails_verification)
{
	static parsed p;

	parse_request(&p, suite[17].raw);
	p.req.target = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
	p.req.target_len = strlen(p.req.target);
	cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), TF_SIGV4_EMISMATCH);
	parse_request(&p, suite[17].raw);
	cr_assert_eq(tf_sigv4_payload_hash(p.h, p.nh, "{\"max_tokens\":9}", 16, p.payload), 64);
	cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), TF_SIGV4_EMISMATCH);
}

Test(sigv4, unsigned_payload_literal_is_used)
{
	char out[TF_SIGV4_HASH_MAX + 1];
	tf_sigv4_header h[] = {{"X-Amz-Content-SHA256", 20, " UNSIGNED-PAYLOAD ", 18}};

	cr_assert_eq(tf_sigv4_payload_hash(h, 1, "body", 4, out), 16);
	cr_assert_str_eq(out, "UNSIGNED-PAYLOAD");
}

/* The shim's model swap: profile-id vector -> ARN vector. Same date, token and
 * signed headers, so the re-signed value must be WIRE.md's ARN signature. */
Test(sigv4, resign_reproduces_the_arn_vector)
{
	static parsed p;
	const char *arn_target = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
				 "%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke";
	const char *new_body = "{\"max_tokens\":10}";
	tf_sigv4_creds c = {"AKIDEXAMPLE", 11, SECRET, strlen(SECRET), "SESSIONTOKEN", 12};
	const tf_sigv4_header *old;
	char out[512];
	size_t n = 0;

	parse_request(&p, suite[17].raw);
	old = tf_sigv4_find(p.h, p.nh, "authorization");
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, arn_target, strlen(arn_target), new_body,
				     strlen(new_body), &c, out, sizeof(out), &n), 0);
	cr_assert_eq(n, old->value_len);
	cr_assert(memcmp(out, old->value, n - 64) == 0, "only the signature changes");
	cr_assert_str_eq(out + n - 64, "e039f6f2747df0f1eeaebd1740f39910ed68bd6777beb2471bbf0ee421330539");
}

/* JS-SDK shape: content-length and x-amz-content-sha256 are signed and must be
 * replaced; the result is botocore's signature for the rewritten request. */
Test(sigv4, resign_updates_signed_length_and_content_hash)
{
	static parsed p;
	const char *t = "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/invoke";
	const char *body = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":50,\"messages\":"
			   "[{\"role\":\"user\",\"content\":\"hi\"}]}";
	tf_sigv4_creds c = {NULL, 0, SECRET, strlen(SECRET), NULL, 0};
	char out[512];
	size_t n;

	parse_request(&p, suite[19].raw);
	cr_assert_str_eq(suite[19].name, "bedrock-js-shaped");
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, t, strlen(t), body, strlen(body), &c, out,
				     sizeof(out), &n), 0);
	cr_assert_str_eq(out + n - 64, "b565934d8fc8b6021ed023cb7d2f15f4503a8c9df479fd95d0edc5dac22a49c4");
}

Test(sigv4, resign_refuses_foreign_credentials_and_streaming)
{
	static parsed p;
	tf_sigv4_creds other_akid = {"AKIDOTHER", 9, SECRET, strlen(SECRET), NULL, 0};
	tf_sigv4_creds other_token = {NULL, 0, SECRET, strlen(SECRET), "OTHER", 5};
	tf_sigv4_creds ok = {NULL, 0, SECRET, strlen(SECRET), NULL, 0};
	char out[512];
	size_t n;

	parse_request(&p, suite[17].raw);
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, "/", 1, "", 0, &other_akid, out, sizeof(out), &n),
		     TF_SIGV4_ECREDS);
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, "/", 1, "", 0, &other_token, out, sizeof(out), &n),
		     TF_SIGV4_ECREDS);
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, "/", 1, "", 0, &ok, out, 10, &n), TF_SIGV4_ETOOBIG);
	parse_request(&p, "PUT /o HTTP/1.1\nHost:h\nX-Amz-Date:20150830T123600Z\n"
			  "X-Amz-Content-SHA256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD\nAuthorization:" SUITE_CRED
			  "SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\n\n");
	cr_assert_eq(tf_sigv4_resign("PUT", 3, p.h, p.nh, "/o", 2, "", 0, &ok, out, sizeof(out), &n),
		     TF_SIGV4_EUNSUPPORTED);
	{
		tf_sigv4_header bearer[] = {{"Authorization", 13, "Bearer k", 8}};

		cr_assert_eq(tf_sigv4_resign("POST", 4, bearer, 1, "/", 1, "", 0, &ok, out, sizeof(out), &n),
			     TF_SIGV4_ENOTSIGV4);
		cr_assert_eq(tf_sigv4_resign("POST", 4, bearer, 0, "/", 1, "", 0, &ok, out, sizeof(out), &n),
			     TF_SIGV4_ENOTSIGV4);
	}
}

Test(sigv4, resigned_request_verifies)
{
	static parsed p;
	const char *t = "/model/amazon.nova-micro-v1%3A0/converse";
	const char *body = "{\"messages\":[]}";
	tf_sigv4_creds c = {NULL, 0, SECRET, strlen(SECRET), NULL, 0};
	char out[512], len[8], hex[65];
	uint8_t d[32];
	size_t n;

	parse_request(&p, suite[19].raw);
	cr_assert_eq(tf_sigv4_resign("POST", 4, p.h, p.nh, t, strlen(t), body, strlen(body), &c, out,
				     sizeof(out), &n), 0);
	/* Write the new head as the shim would, then verify it like AWS. */
	snprintf(len, sizeof(len), "%zu", strlen(body));
	tf_sha256(body, strlen(body), d);
	tf_sha256_hex(d, hex);
	for (size_t i = 0; i < p.nh; i++) {
		if (p.h[i].name_len == 13 && strncasecmp(p.h[i].name, "authorization", 13) == 0)
			p.h[i].value = out, p.h[i].value_len = n;
		if (p.h[i].name_len == 14 && strncasecmp(p.h[i].name, "content-length", 14) == 0)
			p.h[i].value = len, p.h[i].value_len = strlen(len);
		if (p.h[i].name_len == 20 && strncasecmp(p.h[i].name, "x-amz-content-sha256", 20) == 0)
			p.h[i].value = hex, p.h[i].value_len = 64;
	}
	cr_assert_eq(tf_sigv4_parse_auth(out, n, &p.auth), 0);
	cr_assert_eq(tf_sigv4_payload_hash(p.h, p.nh, body, strlen(body), p.payload), 64);
	p.req.target = t;
	p.req.target_len = strlen(t);
	cr_assert_eq(tf_sigv4_verify(&p.req, &p.auth, SECRET, strlen(SECRET)), 0);
}
