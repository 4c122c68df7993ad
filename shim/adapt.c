#include "adapt.h"
#include "jsonscan.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

bool tf_json_u64(const tf_json_value *obj, const char *key, uint64_t *out)
{
	const tf_json_value *v = obj ? tf_json_get(obj, key) : NULL;
	int64_t x;

	if (!v || tf_json_int64(v, &x) < 0 || x < 0)
		return false;
	*out = (uint64_t)x;
	return true;
}

/* obj.a.b as an unsigned integer. */
static bool u64_at(const tf_json_value *obj, const char *a, const char *b, uint64_t *out)
{
	const tf_json_value *o = obj ? tf_json_get(obj, a) : NULL;

	return o && o->type == TF_JSON_OBJECT && tf_json_u64(o, b, out);
}

/*
 * What the worst-case bound reads from a request body's raw bytes
 * (anywhere, prompt text included, so a body cannot hide them):
 * "tools" or "toolConfig"; how many "image_url" and "s3Location" (each
 * counted as memmem finds them left to right, without overlap);
 * cache_control or cachePoint; "1h".
 */
typedef struct body_marks {
	bool tools, cache, one_hour;
	size_t image_url, s3_location;
	size_t image_url_next, s3_location_next; /* where the next count may start */
} body_marks;

static bool lit_at(const uint8_t *p, size_t left, const char *lit, size_t l)
{
	return left >= l && memcmp(p, lit, l) == 0;
}

#define LIT(s) s, sizeof(s) - 1

/* A candidate at h[i]: a quote or "ca" (the first byte of every mark). */
static void mark_at(const uint8_t *h, size_t n, size_t i, body_marks *m)
{
	const uint8_t *p = h + i;
	size_t left = n - i;

	if (p[0] == '"') {
		if (lit_at(p, left, LIT("\"tools\"")) || lit_at(p, left, LIT("\"toolConfig\"")))
			m->tools = true;
		else if (lit_at(p, left, LIT("\"1h\"")))
			m->one_hour = true;
		else if (i >= m->image_url_next && lit_at(p, left, LIT("\"image_url\""))) {
			m->image_url++;
			m->image_url_next = i + sizeof("\"image_url\"") - 1;
		} else if (i >= m->s3_location_next && lit_at(p, left, LIT("\"s3Location\""))) {
			m->s3_location++;
			m->s3_location_next = i + sizeof("\"s3Location\"") - 1;
		}
	} else if (lit_at(p, left, LIT("cache_control")) || lit_at(p, left, LIT("cachePoint"))) {
		m->cache = true;
	}
}

static bool candidate(const uint8_t *h, size_t n, size_t i)
{
	return (h[i] == '"' && i + 1 < n &&
		(h[i + 1] == 't' || h[i + 1] == 'i' || h[i + 1] == 's' || h[i + 1] == '1')) ||
	       (h[i] == 'c' && i + 1 < n && h[i + 1] == 'a');
}

/*
 * One pass, instead of a memmem per mark (glibc's generic memmem costs
 * about 1.3 instructions a byte, seven times over). Where SSE2 is (all
 * x86-64), 16 positions at a time are kept only when their first two bytes
 * can start a mark, and only those are compared.
 */
static void scan_marks(const uint8_t *h, size_t n, body_marks *m)
{
	size_t i = 0;

	memset(m, 0, sizeof(*m));
#if defined(__SSE2__)
	{
		const __m128i quote = _mm_set1_epi8('"'), c = _mm_set1_epi8('c'), a = _mm_set1_epi8('a');

		/* 32 positions a round; all loads stay inside h: i + 1 + 32 <= n. */
		for (; i + 33 <= n; i += 32) {
			__m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
			__m128i y0 = _mm_loadu_si128((const __m128i *)(const void *)(h + i + 1));
			__m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(h + i + 16));
			__m128i y1 = _mm_loadu_si128((const __m128i *)(const void *)(h + i + 17));
			__m128i h0 = _mm_or_si128(_mm_cmpeq_epi8(x0, quote),
						  _mm_and_si128(_mm_cmpeq_epi8(x0, c), _mm_cmpeq_epi8(y0, a)));
			__m128i h1 = _mm_or_si128(_mm_cmpeq_epi8(x1, quote),
						  _mm_and_si128(_mm_cmpeq_epi8(x1, c), _mm_cmpeq_epi8(y1, a)));
			uint32_t bits = (uint32_t)_mm_movemask_epi8(h0) |
					(uint32_t)_mm_movemask_epi8(h1) << 16;

			while (bits) {
				size_t at = i + (size_t)__builtin_ctz(bits);

				if (candidate(h, n, at))
					mark_at(h, n, at, m);
				bits &= bits - 1;
			}
		}
	}
#endif
	for (; i < n; i++)
		if (candidate(h, n, i))
			mark_at(h, n, i, m);
}

static void copy_model(char *dst, const char *src, size_t n)
{
	if (n >= TF_CALL_MODEL_MAX)
		n = TF_CALL_MODEL_MAX - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- the request ---- */

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/*
 * What the request side reads from a JSON body, read once (on a tape, or
 * in a DOM when the tape cannot take the body): whether it is an object,
 * "stream": true, the model it names, and every output-limit field any API
 * uses (a non-negative integer, else absent).
 */
enum {
	L_MAX_TOKENS,
	L_MAX_TOKENS_TO_SAMPLE,
	L_MAX_GEN_LEN,
	L_MAXTOKENS,
	L_MAX_NEW_TOKENS,
	L_MAX_COMPLETION_TOKENS,
	L_MAX_OUTPUT_TOKENS,
	L_TGC_MAXTOKENCOUNT,
	L_IC_MAXTOKENS,
	L_IC_MAX_NEW_TOKENS,
	L_COUNT
};

static const struct {
	const char *a, *b; /* body.a, or body.a.b */
} limit_keys[L_COUNT] = {
	[L_MAX_TOKENS] = { "max_tokens", NULL },
	[L_MAX_TOKENS_TO_SAMPLE] = { "max_tokens_to_sample", NULL },
	[L_MAX_GEN_LEN] = { "max_gen_len", NULL },
	[L_MAXTOKENS] = { "maxTokens", NULL },
	[L_MAX_NEW_TOKENS] = { "max_new_tokens", NULL },
	[L_MAX_COMPLETION_TOKENS] = { "max_completion_tokens", NULL },
	[L_MAX_OUTPUT_TOKENS] = { "max_output_tokens", NULL },
	[L_TGC_MAXTOKENCOUNT] = { "textGenerationConfig", "maxTokenCount" },
	[L_IC_MAXTOKENS] = { "inferenceConfig", "maxTokens" },
	[L_IC_MAX_NEW_TOKENS] = { "inferenceConfig", "max_new_tokens" },
};

/* Models named longer than this are read from the DOM. */
#define BODY_MODEL_MAX 512

typedef struct body_facts {
	bool json;   /* the body is JSON */
	bool object; /* ... and an object */
	bool stream;
	const char *model; /* NULL: none; points into model_buf or the DOM */
	size_t model_len;
	bool has[L_COUNT];
	uint64_t limit[L_COUNT];
	char model_buf[BODY_MODEL_MAX];
} body_facts;

static const char *const model_keys[] = { "modelId", "model", "foundationModel" };

static void facts_from_dom(const tf_json_value *b, body_facts *f)
{
	const tf_json_value *s;

	f->json = b != NULL;
	f->object = b && b->type == TF_JSON_OBJECT;
	if (!f->object)
		return;
	s = tf_json_get(b, "stream");
	f->stream = s && s->type == TF_JSON_TRUE;
	for (size_t i = 0; i < 3; i++) {
		const tf_json_value *v = tf_json_get(b, model_keys[i]);
		if (v && v->type == TF_JSON_STRING) {
			f->model = v->u.str.s;
			f->model_len = v->u.str.len;
			break;
		}
	}
	for (size_t i = 0; i < L_COUNT; i++)
		f->has[i] = limit_keys[i].b ? u64_at(b, limit_keys[i].a, limit_keys[i].b, &f->limit[i])
					    : tf_json_u64(b, limit_keys[i].a, &f->limit[i]);
}

/* tf_json_u64 on the tape. */
static bool jscan_u64(const tf_jscan *js, const tf_jnode *obj, const char *key, uint64_t *out)
{
	const tf_jnode *v = obj && obj->type == TF_JSON_OBJECT ? tf_jscan_get(js, obj, key) : NULL;
	int64_t x;

	if (!v || tf_jscan_int64(js, v, &x) < 0 || x < 0)
		return false;
	*out = (uint64_t)x;
	return true;
}

/* The same facts on the tape; false when a model name is too long for it. */
static bool facts_from_tape(const tf_jscan *js, body_facts *f)
{
	const tf_jnode *b = &js->nodes[0], *s;

	f->json = true;
	f->object = b->type == TF_JSON_OBJECT;
	if (!f->object)
		return true;
	s = tf_jscan_get(js, b, "stream");
	f->stream = s && s->type == TF_JSON_TRUE;
	for (size_t i = 0; i < 3; i++) {
		const tf_jnode *v = tf_jscan_get(js, b, model_keys[i]);
		if (v && v->type == TF_JSON_STRING) {
			if (v->len > sizeof(f->model_buf))
				return false;
			f->model_len = tf_jscan_str_copy(js, v, f->model_buf, sizeof(f->model_buf));
			f->model = f->model_buf;
			break;
		}
	}
	for (size_t i = 0; i < L_COUNT; i++) {
		const tf_jnode *o = b;

		if (limit_keys[i].b) {
			o = tf_jscan_get(js, b, limit_keys[i].a);
			if (!o || o->type != TF_JSON_OBJECT)
				continue;
		}
		f->has[i] = jscan_u64(js, o, limit_keys[i].b ? limit_keys[i].b : limit_keys[i].a,
				      &f->limit[i]);
	}
	return true;
}

/* Values on a first tape (24 KB); a text with more gets a second one. */
#define TAPE_NODES 1024

/*
 * Scans text onto a tape (policy/jsonscan.h: one pass, no allocation per
 * value, no string copied): first one of TAPE_NODES values; when the
 * scanner was unsure and the text can hold more values than that, again on
 * one as large as the text can need (a value takes at least 2 bytes, but
 * the last). Returns tf_jscan_parse()'s result, or TF_JSCAN_UNSURE when out
 * of memory; *tape is the caller's to free.
 */
static int scan_tape(tf_jscan *js, const uint8_t *text, size_t len, tf_jnode **tape)
{
	size_t most = len / 2 + 2;
	int r;

	*tape = malloc(TAPE_NODES * sizeof(**tape));
	if (!*tape)
		return TF_JSCAN_UNSURE;
	r = tf_jscan_parse(js, (const char *)text, len, *tape, TAPE_NODES);
	if (r != TF_JSCAN_UNSURE || most <= TAPE_NODES)
		return r;
	free(*tape);
	if (most > TF_JSCAN_MAX_NODES)
		most = TF_JSCAN_MAX_NODES;
	*tape = malloc(most * sizeof(**tape));
	if (!*tape)
		return TF_JSCAN_UNSURE;
	return tf_jscan_parse(js, (const char *)text, len, *tape, most);
}

/*
 * Reads the body's facts on a tape when it can take the body, else in a
 * DOM, which doc then holds. Both accept exactly the same texts.
 */
static void read_body(const tf_req_view *rq, tf_json_doc *doc, body_facts *f)
{
	tf_jnode *tape;
	tf_jscan js;
	int r;

	memset(f, 0, offsetof(body_facts, model_buf));
	if (!rq->body_len)
		return;
	r = scan_tape(&js, rq->body, rq->body_len, &tape);
	if (r == TF_JSCAN_OK && facts_from_tape(&js, f)) {
		free(tape);
		return;
	}
	free(tape);
	memset(f, 0, offsetof(body_facts, model_buf));
	if (r < 0) /* not JSON: the DOM would refuse it too */
		return;
	if (tf_json_parse(doc, (const char *)rq->body, rq->body_len, NULL, NULL) == 0)
		facts_from_dom(doc->root, f);
}

static uint64_t lim(const body_facts *f, int k)
{
	return f->has[k] ? f->limit[k] : 0;
}

/* The output limit a Bedrock InvokeModel body sets, by model family. The
 * family decides which key the model honours: reading another would
 * under-reserve. An unknown family counts the largest key present. */
static uint64_t bedrock_invoke_max_out(const char *model, const body_facts *f)
{
	char base[TF_CALL_MODEL_MAX];
	uint64_t v = 0;

	if (tf_model_base(TF_PROVIDER_BEDROCK, model, strlen(model), base, sizeof(base)) < 0)
		snprintf(base, sizeof(base), "%s", model);
	if (strncmp(base, "anthropic.", 10) == 0) {
		v = f->has[L_MAX_TOKENS] ? f->limit[L_MAX_TOKENS] : lim(f, L_MAX_TOKENS_TO_SAMPLE);
	} else if (strncmp(base, "amazon.titan", 12) == 0) {
		v = lim(f, L_TGC_MAXTOKENCOUNT);
	} else if (strncmp(base, "amazon.nova", 11) == 0) {
		v = max_u64(lim(f, L_IC_MAXTOKENS), lim(f, L_IC_MAX_NEW_TOKENS));
	} else if (strncmp(base, "meta.", 5) == 0) {
		v = lim(f, L_MAX_GEN_LEN);
	} else if (strncmp(base, "mistral.", 8) == 0 || strncmp(base, "cohere.", 7) == 0) {
		v = lim(f, L_MAX_TOKENS);
	} else {
		static const int keys[] = { L_MAX_TOKENS, L_MAX_TOKENS_TO_SAMPLE, L_MAX_GEN_LEN,
					    L_MAXTOKENS, L_MAX_NEW_TOKENS, L_TGC_MAXTOKENCOUNT,
					    L_IC_MAXTOKENS };
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			v = max_u64(v, lim(f, keys[i]));
	}
	return v;
}

static uint64_t openai_max_out(const tf_action *a, const body_facts *f)
{
	if (strstr(a->operation, "Responses"))
		return lim(f, L_MAX_OUTPUT_TOKENS);
	/* max_completion_tokens includes reasoning; a body with both is
	 * bounded by the larger. */
	return max_u64(lim(f, L_MAX_COMPLETION_TOKENS), lim(f, L_MAX_TOKENS));
}

static uint64_t request_max_out(const tf_call *c, const body_facts *f)
{
	const char *op = c->act.operation;

	if (!f->object)
		return 0;
	if (strcmp(op, "Converse") == 0 || strcmp(op, "ConverseStream") == 0)
		return lim(f, L_IC_MAXTOKENS);
	if (c->provider == TF_PROVIDER_AZURE || strncmp(op, "OpenAI", 6) == 0)
		return openai_max_out(&c->act, f);
	return bedrock_invoke_max_out(c->model, f);
}

static int map_action(tf_call *call, const tf_req_view *rq, const body_facts *f)
{
	const tf_h1_head *h = rq->head;
	tf_action_req ar = {
		.provider = call->provider,
		.service = call->provider == TF_PROVIDER_BEDROCK
				   ? tf_bedrock_service_from_host(rq->host, strlen(rq->host))
				   : TF_BEDROCK_SVC_UNKNOWN,
		.method = h->method,
		.method_len = h->method_len,
		.target = h->target,
		.target_len = h->target_len,
	};

	ar.body_model = f->model;
	ar.body_model_len = f->model_len;
	return tf_action_map(&ar, &call->act);
}

/* Input bound: see policy/call.h for why these terms make it an upper bound. */
static uint64_t input_bound(const tf_req_view *rq, const body_marks *m)
{
	uint64_t b = rq->body_len + TF_CALL_TEMPLATE_OVERHEAD;

	if (m->tools)
		b += TF_CALL_TOOLS_OVERHEAD;
	b += TF_CALL_IMAGE_URL_TOKENS * (m->image_url + m->s3_location);
	return b;
}

static unsigned cache_writes(const body_marks *m)
{
	unsigned w = 0;

	if (m->cache)
		w |= TF_CACHE_WRITE_5M;
	if (w && m->one_hour)
		w |= TF_CACHE_WRITE_1H;
	return w;
}

int tf_adapt_request(tf_call *call, const tf_req_view *rq, const tf_config *cfg,
		     const tf_prices *prices)
{
	tf_json_doc doc = { 0 };
	body_facts facts;
	body_marks marks;
	const char *m, *dep;
	size_t mlen = 0;
	int r;

	read_body(rq, &doc, &facts);
	r = map_action(call, rq, &facts);
	if (r < 0)
		goto out;
	call->invoke = (call->act.flags & TF_ACTION_INVOKE) != 0;
	call->stream = (call->act.flags & TF_ACTION_STREAM) ||
		       ((call->act.flags & TF_ACTION_STREAM_BY_BODY) && facts.stream);
	m = tf_action_model(&call->act, &mlen);
	if (m)
		copy_model(call->model, m, mlen);
	if (!call->invoke)
		goto out;
	call->body_unreadable = rq->body_len > 0 && !facts.json;
	dep = call->provider == TF_PROVIDER_AZURE ? tf_config_deployment(cfg, m ? m : "", mlen) : NULL;
	snprintf(call->price_model, sizeof(call->price_model), "%s", dep ? dep : call->model);
	call->max_out = request_max_out(call, &facts);
	scan_marks(rq->body, rq->body_len, &marks);
	call->input_bound = input_bound(rq, &marks);
	call->cache_writes = cache_writes(&marks);
	tf_call_price(call, prices);
out:
	tf_json_doc_free(&doc);
	return r < 0 ? r : 0;
}

static size_t fields(tf_rw_field *out, size_t cap, const char *a, const char *b, const char *c,
		     const char *d)
{
	const char *v[] = { a, b, c, d };
	size_t n = 0;

	for (size_t i = 0; i < 4 && n < cap; i += 2) {
		if (!v[i])
			break;
		out[n].path[0] = v[i];
		out[n].path[1] = v[i + 1];
		out[n].depth = v[i + 1] ? 2 : 1;
		n++;
	}
	return n;
}

/* o-series and gpt-5 reject max_tokens; max_completion_tokens is what they take. */
static bool reasoning_model(const char *m)
{
	return (m[0] == 'o' && m[1] >= '1' && m[1] <= '9') || strncmp(m, "gpt-5", 5) == 0;
}

size_t tf_adapt_limit_fields(const tf_call *c, tf_rw_field *out, size_t cap)
{
	const char *op = c->act.operation;
	char base[TF_CALL_MODEL_MAX];

	if (strcmp(op, "Converse") == 0 || strcmp(op, "ConverseStream") == 0)
		return fields(out, cap, "inferenceConfig", "maxTokens", NULL, NULL);
	if (c->provider == TF_PROVIDER_AZURE || strncmp(op, "OpenAI", 6) == 0) {
		if (strstr(op, "Responses"))
			return fields(out, cap, "max_output_tokens", NULL, NULL, NULL);
		if (reasoning_model(c->price_model))
			return fields(out, cap, "max_completion_tokens", NULL, "max_tokens", NULL);
		return fields(out, cap, "max_tokens", NULL, "max_completion_tokens", NULL);
	}
	if (tf_model_base(TF_PROVIDER_BEDROCK, c->model, strlen(c->model), base, sizeof(base)) < 0)
		snprintf(base, sizeof(base), "%s", c->model);
	if (strncmp(base, "amazon.titan", 12) == 0)
		return fields(out, cap, "textGenerationConfig", "maxTokenCount", NULL, NULL);
	if (strncmp(base, "amazon.nova", 11) == 0)
		return fields(out, cap, "inferenceConfig", "maxTokens", NULL, NULL);
	if (strncmp(base, "meta.", 5) == 0)
		return fields(out, cap, "max_gen_len", NULL, NULL, NULL);
	if (strncmp(base, "anthropic.", 10) == 0 && !strstr(base, "claude-3") &&
	    !strstr(base, "claude-sonnet") && !strstr(base, "claude-opus") && !strstr(base, "claude-haiku"))
		return fields(out, cap, "max_tokens_to_sample", NULL, NULL, NULL);
	return fields(out, cap, "max_tokens", NULL, NULL, NULL);
}

/* ---- the response ---- */

static bool header_u64(const tf_h1_head *h, const char *name, uint64_t *out)
{
	const tf_h1_header *f = tf_h1_find(h, name);
	uint64_t v = 0;

	if (!f || f->value_len == 0 || f->value_len > 19)
		return false;
	for (size_t i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(f->value[i] - '0');
	}
	*out = v;
	return true;
}

void tf_adapt_response_head(tf_call *call, const tf_h1_head *h)
{
	uint64_t in, out, cr = 0, cw = 0;

	call->status = h->status;
	if (call->provider != TF_PROVIDER_BEDROCK || h->status < 200 || h->status >= 300)
		return;
	if (!header_u64(h, "x-amzn-bedrock-input-token-count", &in) ||
	    !header_u64(h, "x-amzn-bedrock-output-token-count", &out))
		return;
	header_u64(h, "x-amzn-bedrock-cache-read-input-token-count", &cr);
	header_u64(h, "x-amzn-bedrock-cache-write-input-token-count", &cw);
	memset(&call->usage, 0, sizeof(call->usage));
	call->usage.input = in;
	call->usage.output = out;
	call->usage.cache_read = cr;
	call->usage.cache_write = cw;
	call->usage_from = TF_USAGE_HEADERS;
}

bool tf_adapt_openai_usage(const tf_json_value *u, tf_usage *out)
{
	uint64_t prompt, completion = 0, cached = 0, reasoning = 0;

	if (!u || u->type != TF_JSON_OBJECT)
		return false;
	if (tf_json_u64(u, "prompt_tokens", &prompt)) {
		tf_json_u64(u, "completion_tokens", &completion);
		u64_at(u, "prompt_tokens_details", "cached_tokens", &cached);
		u64_at(u, "completion_tokens_details", "reasoning_tokens", &reasoning);
	} else if (tf_json_u64(u, "input_tokens", &prompt)) {
		/* Responses API */
		tf_json_u64(u, "output_tokens", &completion);
		u64_at(u, "input_tokens_details", "cached_tokens", &cached);
		u64_at(u, "output_tokens_details", "reasoning_tokens", &reasoning);
	} else {
		return false;
	}
	tf_usage_from_openai(out, prompt, cached, completion, reasoning);
	return true;
}

/* Usage in a Bedrock body: Converse, Anthropic, Nova, Titan, Llama, Cohere. */
bool tf_adapt_bedrock_usage(const tf_json_value *r, tf_usage *u)
{
	const tf_json_value *us = tf_json_get(r, "usage");
	uint64_t in = 0, out = 0;

	memset(u, 0, sizeof(*u));
	if (us && us->type == TF_JSON_OBJECT) {
		if (tf_json_u64(us, "inputTokens", &in)) { /* Converse, Nova */
			tf_json_u64(us, "outputTokens", &out);
			if (!tf_json_u64(us, "cacheReadInputTokens", &u->cache_read))
				tf_json_u64(us, "cacheReadInputTokenCount", &u->cache_read);
			if (!tf_json_u64(us, "cacheWriteInputTokens", &u->cache_write))
				tf_json_u64(us, "cacheWriteInputTokenCount", &u->cache_write);
		} else if (tf_json_u64(us, "input_tokens", &in)) { /* Anthropic */
			tf_json_u64(us, "output_tokens", &out);
			tf_json_u64(us, "cache_read_input_tokens", &u->cache_read);
			tf_json_u64(us, "cache_creation_input_tokens", &u->cache_write);
		} else {
			return false;
		}
	} else if (tf_json_u64(r, "inputTextTokenCount", &in)) { /* Titan */
		const tf_json_value *res = tf_json_get(r, "results");
		for (size_t i = 0; res && res->type == TF_JSON_ARRAY && i < res->u.arr.n; i++) {
			uint64_t t = 0;
			tf_json_u64(&res->u.arr.items[i], "tokenCount", &t);
			out += t;
		}
	} else if (tf_json_u64(r, "prompt_token_count", &in)) { /* Llama */
		tf_json_u64(r, "generation_token_count", &out);
	} else {
		return false;
	}
	u->input = in;
	u->output = out;
	return true;
}

/*
 * A response body as the settlement reads it: on a jsonscan tape, or in a
 * DOM when the tape cannot take it (or a Bedrock body's usage needs the
 * DOM readers). Both accept exactly the same texts. The tape's readers
 * mirror the DOM's (tests/unit/test-adapt.c holds them to it).
 */
typedef struct resp_view {
	bool json;
	bool on_tape;
	tf_jscan js;
	tf_jnode *tape;
	tf_json_doc doc;
	const tf_json_value *root; /* the DOM's, once parsed */
	const uint8_t *body;
	size_t len;
} resp_view;

static void rv_open(resp_view *rv, const uint8_t *body, size_t len)
{
	int r = scan_tape(&rv->js, body, len, &rv->tape);

	rv->body = body;
	rv->len = len;
	if (r == TF_JSCAN_OK) {
		rv->json = rv->on_tape = true;
		return;
	}
	if (r < 0) /* not JSON: the DOM would refuse it too */
		return;
	if (tf_json_parse(&rv->doc, (const char *)body, len, NULL, NULL) == 0) {
		rv->root = rv->doc.root;
		rv->json = true;
	}
}

/* The DOM of a body read on the tape (parsed now), or NULL. */
static const tf_json_value *rv_dom(resp_view *rv)
{
	if (rv->json && !rv->root &&
	    tf_json_parse(&rv->doc, (const char *)rv->body, rv->len, NULL, NULL) == 0)
		rv->root = rv->doc.root;
	return rv->root;
}

static void rv_close(resp_view *rv)
{
	free(rv->tape);
	tf_json_doc_free(&rv->doc);
}

static bool rv_object(const resp_view *rv)
{
	if (rv->on_tape)
		return rv->js.nodes[0].type == TF_JSON_OBJECT;
	return rv->root && rv->root->type == TF_JSON_OBJECT;
}

/* The root's member key, on the tape (NULL when absent). */
static const tf_jnode *rv_member(const resp_view *rv, const char *key)
{
	return tf_jscan_get(&rv->js, &rv->js.nodes[0], key);
}

static bool rv_has(const resp_view *rv, const char *key)
{
	return rv->on_tape ? rv_member(rv, key) != NULL : tf_json_get(rv->root, key) != NULL;
}

/* The body's "error" is an object; *filter: its "code" is the string
 * "content_filter" (compared as strcmp on the decoded string would). */
static bool rv_error(const resp_view *rv, bool *filter)
{
	*filter = false;
	if (rv->on_tape) {
		const tf_jnode *e = rv_member(rv, "error"), *code;
		char s[sizeof("content_filter") + 1] = { 0 };

		if (!e || e->type != TF_JSON_OBJECT)
			return false;
		code = tf_jscan_get(&rv->js, e, "code");
		if (code && code->type == TF_JSON_STRING) {
			tf_jscan_str_copy(&rv->js, code, s, sizeof(s) - 1);
			*filter = strcmp(s, "content_filter") == 0;
		}
		return true;
	} else {
		const tf_json_value *e = tf_json_get(rv->root, "error");

		if (!e || e->type != TF_JSON_OBJECT)
			return false;
		e = tf_json_get(e, "code");
		*filter = e && e->type == TF_JSON_STRING && strcmp(e->u.str.s, "content_filter") == 0;
		return true;
	}
}

/* Models named longer than this are read from the DOM. */
#define RESP_MODEL_MAX 512

/* The body's "model" when it is a non-empty string: decoded into buf (cap
 * RESP_MODEL_MAX) or in the DOM. */
static const char *rv_model(resp_view *rv, char *buf, size_t *len)
{
	const tf_json_value *m;

	if (rv->on_tape) {
		const tf_jnode *v = rv_member(rv, "model");

		if (!v || v->type != TF_JSON_STRING || v->len == 0)
			return NULL;
		if (v->len <= RESP_MODEL_MAX) {
			*len = tf_jscan_str_copy(&rv->js, v, buf, RESP_MODEL_MAX);
			return buf;
		}
	}
	m = rv_dom(rv) ? tf_json_get(rv->root, "model") : NULL;
	if (!m || m->type != TF_JSON_STRING || m->u.str.len == 0)
		return NULL;
	*len = m->u.str.len;
	return m->u.str.s;
}

/* obj.a.b as an unsigned integer, on the tape. */
static bool jscan_u64_at(const tf_jscan *js, const tf_jnode *obj, const char *a, const char *b,
			 uint64_t *out)
{
	const tf_jnode *o = tf_jscan_get(js, obj, a);

	return o && o->type == TF_JSON_OBJECT && jscan_u64(js, o, b, out);
}

/* tf_adapt_openai_usage on the tape. */
static bool jscan_openai_usage(const tf_jscan *js, const tf_jnode *u, tf_usage *out)
{
	uint64_t prompt, completion = 0, cached = 0, reasoning = 0;

	if (!u || u->type != TF_JSON_OBJECT)
		return false;
	if (jscan_u64(js, u, "prompt_tokens", &prompt)) {
		jscan_u64(js, u, "completion_tokens", &completion);
		jscan_u64_at(js, u, "prompt_tokens_details", "cached_tokens", &cached);
		jscan_u64_at(js, u, "completion_tokens_details", "reasoning_tokens", &reasoning);
	} else if (jscan_u64(js, u, "input_tokens", &prompt)) {
		/* Responses API */
		jscan_u64(js, u, "output_tokens", &completion);
		jscan_u64_at(js, u, "input_tokens_details", "cached_tokens", &cached);
		jscan_u64_at(js, u, "output_tokens_details", "reasoning_tokens", &reasoning);
	} else {
		return false;
	}
	tf_usage_from_openai(out, prompt, cached, completion, reasoning);
	return true;
}

static bool rv_openai_usage(const resp_view *rv, tf_usage *u)
{
	if (!rv->on_tape)
		return tf_adapt_openai_usage(tf_json_get(rv->root, "usage"), u);
	return jscan_openai_usage(&rv->js, rv_member(rv, "usage"), u);
}

/* The error bodies AWS and Azure send when they refuse a call before any
 * model runs: nothing is billed. */
static bool provider_error(const tf_call *c, const resp_view *rv, bool *bills_prompt)
{
	*bills_prompt = false;
	if (!rv->json || !rv_object(rv))
		return false;
	if (c->provider == TF_PROVIDER_BEDROCK)
		return rv_has(rv, "message") || rv_has(rv, "Message") || rv_has(rv, "__type");
	/* Azure bills the prompt of a request its content filter rejected. */
	return rv_error(rv, bills_prompt);
}

static void reprice_by_response(tf_call *c, resp_view *rv, const tf_config *cfg,
				const tf_prices *prices)
{
	char buf[RESP_MODEL_MAX];
	size_t len = 0;
	const char *m = rv->json ? rv_model(rv, buf, &len) : NULL;

	if (!m)
		return;
	copy_model(c->response_model, m, len);
	/* A deployment the config maps, or one named like a model we know, is
	 * already priced right; only an unknown one learns its model here. */
	if (c->provider != TF_PROVIDER_AZURE || c->match != TF_PRICE_UNKNOWN)
		return;
	{
		tf_price p;
		tf_price_match k = tf_prices_lookup(prices, c->provider, m, len, &p);
		if (k != TF_PRICE_UNKNOWN) {
			c->price = p;
			c->match = k;
			snprintf(c->price_model, sizeof(c->price_model), "%s", c->response_model);
		}
	}
}

void tf_adapt_finish(tf_call *call, const uint8_t *body, size_t len, bool complete,
		     const tf_config *cfg, const tf_prices *prices)
{
	resp_view rv = { 0 };
	bool prompt_billed;

	if (!call->invoke)
		return;
	if (call->status == 0) {
		/* The connection ended before any answer: the provider may have
		 * run the model. */
		tf_call_settle(call, TF_USAGE_RESERVED, "no response");
		return;
	}
	if (body && len && complete)
		rv_open(&rv, body, len);
	if (call->status >= 400) {
		if (provider_error(call, &rv, &prompt_billed)) {
			if (prompt_billed) {
				/* Prompt tokens unknown: charge the prompt's bound. */
				call->usage = (tf_usage){ .input = call->input_bound };
				tf_call_settle(call, TF_USAGE_BODY, "content filter: prompt billed");
			} else {
				tf_call_settle(call, TF_USAGE_NOT_BILLED, "provider error");
			}
		} else {
			tf_call_settle(call, TF_USAGE_RESERVED, "unrecognised error response");
		}
		goto out;
	}
	reprice_by_response(call, &rv, cfg, prices);
	if (call->usage_from == TF_USAGE_HEADERS) {
		tf_call_settle(call, TF_USAGE_HEADERS, NULL);
		goto out;
	}
	if (rv.json) {
		tf_usage u = { 0 };
		const tf_json_value *r;
		bool ok = false;

		if (call->provider == TF_PROVIDER_AZURE || strncmp(call->act.operation, "OpenAI", 6) == 0)
			ok = rv_openai_usage(&rv, &u);
		else if ((r = rv_dom(&rv)) != NULL)
			ok = tf_adapt_bedrock_usage(r, &u);
		if (ok) {
			call->usage = u;
			tf_call_settle(call, TF_USAGE_BODY, NULL);
			goto out;
		}
	}
	tf_call_settle(call, TF_USAGE_RESERVED,
		       !body || !len ? "response body not readable"
		       : !complete   ? "response body cut short or over the cap"
		       : !rv.json    ? "response body is not JSON"
				     : "no usage in the response");
out:
	rv_close(&rv);
}
