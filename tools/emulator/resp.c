/* Response building blocks shared by the Bedrock and Azure handlers. */
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

#define EMU_BODY_CAP ((size_t)256 << 20)

void emu_resp_init(emu_resp *r)
{
	memset(r, 0, sizeof(*r));
	tf_buf_init(&r->headers, 64 * 1024);
	tf_buf_init(&r->body, EMU_BODY_CAP);
	tf_buf_init(&r->marks, EMU_BODY_CAP);
	r->status = 200;
	r->content_type = "application/json";
}

void emu_resp_free(emu_resp *r)
{
	tf_buf_free(&r->headers);
	tf_buf_free(&r->body);
	tf_buf_free(&r->marks);
}

struct mark {
	uint64_t off, tokens;
};

void emu_resp_mark(emu_resp *r, uint64_t tokens)
{
	struct mark m = { r->body.len, tokens };

	tf_buf_append(&r->marks, &m, sizeof(m));
}

uint64_t emu_resp_tokens_at(const emu_resp *r, size_t off)
{
	const struct mark *m = (const struct mark *)r->marks.data;
	size_t n = r->marks.len / sizeof(*m);
	uint64_t t = 0;

	for (size_t i = 0; i < n && m[i].off <= off; i++)
		t = m[i].tokens;
	return t;
}

void emu_resp_header(emu_resp *r, const char *name, const char *fmt, ...)
{
	char v[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	tf_buf_printf(&r->headers, "%s: %s\r\n", name, v);
}

void emu_resp_json(emu_resp *r, int status, const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	r->status = status;
	r->content_type = "application/json";
	tf_buf_reset(&r->body);
	if (s)
		tf_buf_append_str(&r->body, s);
	free(s);
}

void emu_resp_json_fault(emu_resp *r, int status, const cJSON *j, emu_fault_kind fault)
{
	emu_resp_json(r, status, j);
	if (fault == EMU_FAULT_MALFORMED) {
		/* Cut inside the document and add a stray token: never valid JSON. */
		r->body.len /= 2;
		tf_buf_append_str(&r->body, "\x01<<malformed");
	} else if (fault == EMU_FAULT_TRUNCATE) {
		r->truncate = true;
	}
}

void emu_aws_error(emu_resp *r, int status, const char *type, const char *message)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddStringToObject(j, "message", message);
	emu_resp_json(r, status, j);
	cJSON_Delete(j);
	if (type)
		emu_resp_header(r, "x-amzn-ErrorType", "%s:http://internal.amazon.com/coral/com.amazon.bedrock/",
				type);
}

void emu_azure_error(emu_resp *r, int status, const char *code, const char *message,
		     const char *type, const char *param)
{
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");

	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	if (type)
		cJSON_AddStringToObject(e, "type", type);
	else
		cJSON_AddNullToObject(e, "type");
	if (param)
		cJSON_AddStringToObject(e, "param", param);
	else
		cJSON_AddNullToObject(e, "param");
	emu_resp_json(r, status, j);
	cJSON_Delete(j);
}

void emu_fault_error(const emu_req *q, emu_resp *r, emu_fault_kind k)
{
	if (q->route.provider == EMU_PROV_BEDROCK) {
		if (k == EMU_FAULT_429)
			emu_aws_error(r, 429, "ThrottlingException",
				      "Too many requests, please wait before trying again.");
		else if (k == EMU_FAULT_503)
			emu_aws_error(r, 503, "ServiceUnavailableException",
				      "Bedrock is unable to process your request.");
		else
			emu_aws_error(r, 500, "InternalServerException",
				      "The server encountered an internal error while processing the request.");
		return;
	}
	if (k == EMU_FAULT_429) {
		emu_azure_error(r, 429, "429",
				"Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
				"version 2024-10-21 have exceeded token rate limit of your current "
				"OpenAI S0 pricing tier. Please retry after 1 second.",
				NULL, NULL);
		emu_resp_header(r, "retry-after", "1");
		emu_resp_header(r, "retry-after-ms", "10");
	} else if (k == EMU_FAULT_503) {
		emu_azure_error(r, 503, "ServiceUnavailable",
				"The service is temporarily unable to process your request. Please try again later.",
				NULL, NULL);
	} else {
		emu_azure_error(r, 500, "InternalServerError",
				"The server had an error while processing your request. Sorry about that!",
				NULL, NULL);
	}
}

void emu_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0x5a, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

void emu_random_id(char *out, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char b[64];

	while (n) {
		size_t k = n < sizeof(b) ? n : sizeof(b);

		if (RAND_bytes(b, (int)k) != 1)
			memset(b, 7, k);
		for (size_t i = 0; i < k; i++)
			*out++ = al[b[i] % (sizeof(al) - 1)];
		n -= k;
	}
	*out = '\0';
}

void emu_reply_words(tf_buf *out, uint64_t first, uint64_t n)
{
	static const char *const words[] = {
		"Hello", "from", "the", "TokenFence", "emulator,", "a", "local", "cloud",
		"that", "answers", "every", "request", "with", "the", "same", "words.",
	};

	for (uint64_t i = 0; i < n; i++) {
		if (first + i > 0)
			tf_buf_append_str(out, " ");
		tf_buf_append_str(out, words[(first + i) % (sizeof(words) / sizeof(words[0]))]);
	}
}

void emu_padding(char out[48], uint64_t seed)
{
	size_t n = 1 + (size_t)((seed * 2654435761u) >> 7) % 40;

	for (size_t i = 0; i < n; i++)
		out[i] = (char)('a' + i % 26);
	out[n] = '\0';
}

bool emu_json_int(const cJSON *obj, const char *key, int64_t *out)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

	if (!cJSON_IsNumber(v))
		return false;
	if (v->valuedouble >= 9.2e18)
		*out = INT64_MAX;
	else if (v->valuedouble <= -9.2e18)
		*out = INT64_MIN;
	else
		*out = (int64_t)v->valuedouble;
	return true;
}

const char *emu_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}
