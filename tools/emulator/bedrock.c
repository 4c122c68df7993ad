/*
 * Bedrock: runtime (InvokeModel per model family, Converse, both streams,
 * CountTokens), the control-plane routes TokenFence polices, and the agent
 * runtime's Retrieve / RetrieveAndGenerate (reference/WIRE.md sections 1, 3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "emu.h"
#include "eventstream.h"
#include "state.h"
#include "usage.h"

#define ACCOUNT "123456789012"
#define REGION "us-east-1"

static const char invalid_model[] = "The provided model identifier is invalid.";
static const char malformed_input[] = "Malformed input request, please reformat your input and try again.";

/* ---- text helpers ---- */

static char *words(uint64_t first, uint64_t n)
{
	tf_buf b;
	char *s;

	tf_buf_init(&b, 0);
	emu_reply_words(&b, first, n);
	s = malloc(b.len + 1);
	if (s) {
		if (b.len)
			memcpy(s, b.data, b.len);
		s[b.len] = '\0';
	}
	tf_buf_free(&b);
	return s ? s : strdup("");
}

/* Anthropic's model name inside responses: "anthropic.claude-3-haiku-20240307-v1:0"
 * -> "claude-3-haiku-20240307". */
static void anthropic_name(const char *base, char *out, size_t n)
{
	const char *p = strncmp(base, "anthropic.", 10) == 0 ? base + 10 : base;
	const char *v = strstr(p, "-v");
	size_t len = v ? (size_t)(v - p) : strlen(p);

	snprintf(out, n, "%.*s", (int)len, p);
}

static uint64_t latency_ms(uint64_t out)
{
	return 120 + out * 3;
}

/* ---- event-stream output ---- */

typedef struct es_out {
	tf_buf *body;
	int frames;
	int bad_frame; /* the frame a crc/malformed fault damages */
	emu_fault_kind fault;
	uint64_t seed;
} es_out;

static void es_frame(es_out *o, const char *event_type, const char *payload, size_t n)
{
	tf_es_header h[3] = {
		tf_es_string_header(":event-type", event_type),
		tf_es_string_header(":content-type", "application/json"),
		tf_es_string_header(":message-type", "event"),
	};
	bool bad = o->frames == o->bad_frame;

	if (bad && o->fault == EMU_FAULT_MALFORMED)
		n /= 2; /* a payload cut mid-document: the frame is fine, its JSON is not */
	if (tf_es_encode(o->body, h, 3, payload, n) == 0 && bad && o->fault == EMU_FAULT_CRC)
		o->body->data[o->body->len - 1] ^= 0x5a;
	o->frames++;
}

/* InvokeModelWithResponseStream: {"bytes": base64(event), "p": padding}. */
static void es_chunk(es_out *o, cJSON *event)
{
	char *native = cJSON_PrintUnformatted(event), pad[48];
	tf_buf p;

	tf_buf_init(&p, 0);
	emu_padding(pad, o->seed + (uint64_t)o->frames);
	tf_buf_append_str(&p, "{\"bytes\":\"");
	tf_base64_encode_buf(&p, native, strlen(native));
	tf_buf_printf(&p, "\",\"p\":\"%s\"}", pad);
	es_frame(o, "chunk", (const char *)p.data, p.len);
	tf_buf_free(&p);
	free(native);
	cJSON_Delete(event);
}

/* ConverseStream: the event's own JSON, with padding. */
static void es_event(es_out *o, const char *type, cJSON *event)
{
	char pad[48], *s;

	emu_padding(pad, o->seed + (uint64_t)o->frames);
	cJSON_AddStringToObject(event, "p", pad);
	s = cJSON_PrintUnformatted(event);
	es_frame(o, type, s, strlen(s));
	free(s);
	cJSON_Delete(event);
}

static cJSON *metrics(uint64_t in, uint64_t out)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddNumberToObject(m, "inputTokenCount", (double)in);
	cJSON_AddNumberToObject(m, "outputTokenCount", (double)out);
	cJSON_AddNumberToObject(m, "invocationLatency", (double)latency_ms(out));
	cJSON_AddNumberToObject(m, "firstByteLatency", 90);
	return m;
}

/* ---- the call being answered ---- */

typedef struct call {
	const emu_req *q;
	emu_resp *r;
	emu_family fam;
	char base[EMU_MODEL_MAX];
	const cJSON *body;
	uint64_t in, out;
	bool limited; /* output stopped by the request's max */
	bool chat;    /* Mistral: messages API */
	bool legacy;  /* Anthropic: text completions ("prompt") */
} call;

#define WORDS_PER_DELTA 3

static uint64_t ndeltas(uint64_t out)
{
	return (out + WORDS_PER_DELTA - 1) / WORDS_PER_DELTA;
}

static char *delta_text(uint64_t out, uint64_t i)
{
	uint64_t first = i * WORDS_PER_DELTA, n = out - first < WORDS_PER_DELTA ? out - first : WORDS_PER_DELTA;

	return words(first, n);
}

/* The stream has sent delta i: this many output tokens so far. */
static void mark(call *c, uint64_t i)
{
	uint64_t so_far = (i + 1) * WORDS_PER_DELTA;

	emu_resp_mark(c->r, so_far < c->out ? so_far : c->out);
}

/* Reads the request's max output tokens for the family. Returns false (and
 * answers 400) when a required limit is missing. */
static bool read_max(call *c, bool converse, bool *has, int64_t *max)
{
	const cJSON *b = c->body, *ic;

	*has = false;
	if (converse) {
		ic = cJSON_GetObjectItemCaseSensitive(b, "inferenceConfig");
		*has = emu_json_int(ic, "maxTokens", max);
		return true;
	}
	switch (c->fam) {
	case EMU_FAM_ANTHROPIC:
		c->legacy = cJSON_HasObjectItem(b, "prompt") && !cJSON_HasObjectItem(b, "messages");
		*has = emu_json_int(b, c->legacy ? "max_tokens_to_sample" : "max_tokens", max);
		if (!*has) {
			emu_aws_error(c->r, 400, "ValidationException",
				      c->legacy ? "Malformed input request: #: required key [max_tokens_to_sample] "
						  "not found, please reformat your input and try again."
						: "Malformed input request: #: required key [max_tokens] not "
						  "found, please reformat your input and try again.");
			return false;
		}
		return true;
	case EMU_FAM_TITAN_TEXT:
		*has = emu_json_int(cJSON_GetObjectItemCaseSensitive(b, "textGenerationConfig"),
				    "maxTokenCount", max);
		return true;
	case EMU_FAM_LLAMA:
		*has = emu_json_int(b, "max_gen_len", max);
		return true;
	case EMU_FAM_NOVA:
		ic = cJSON_GetObjectItemCaseSensitive(b, "inferenceConfig");
		*has = emu_json_int(ic, "maxTokens", max) || emu_json_int(ic, "max_new_tokens", max);
		return true;
	case EMU_FAM_MISTRAL:
		c->chat = cJSON_HasObjectItem(b, "messages");
		*has = emu_json_int(b, "max_tokens", max);
		return true;
	case EMU_FAM_COHERE_CHAT:
	case EMU_FAM_COHERE_TEXT:
		*has = emu_json_int(b, "max_tokens", max);
		return true;
	default:
		return true;
	}
}

static void token_headers(call *c)
{
	emu_resp_header(c->r, "X-Amzn-Bedrock-Invocation-Latency", "%llu",
			(unsigned long long)latency_ms(c->out));
	emu_resp_header(c->r, "X-Amzn-Bedrock-Output-Token-Count", "%llu", (unsigned long long)c->out);
	emu_resp_header(c->r, "X-Amzn-Bedrock-Input-Token-Count", "%llu", (unsigned long long)c->in);
}

/* ---- InvokeModel, per family ---- */

static void embedding_array(cJSON *parent, const char *key, int dims, uint64_t salt)
{
	cJSON *a = cJSON_AddArrayToObject(parent, key);

	for (int i = 0; i < dims; i++) {
		uint64_t x = ((uint64_t)i + 1) * 2654435761u + salt;

		cJSON_AddItemToArray(a, cJSON_CreateNumber((double)((int)(x % 2001) - 1000) / 4096.0));
	}
}

static cJSON *invoke_body(call *c)
{
	cJSON *j = cJSON_CreateObject(), *o, *a;
	char *text = words(0, c->out), id[40], name[EMU_MODEL_MAX];

	switch (c->fam) {
	case EMU_FAM_ANTHROPIC:
		anthropic_name(c->base, name, sizeof(name));
		if (c->legacy) {
			cJSON_AddStringToObject(j, "type", "completion");
			cJSON_AddStringToObject(j, "completion", text);
			cJSON_AddStringToObject(j, "stop_reason", c->limited ? "max_tokens" : "stop_sequence");
			cJSON_AddNullToObject(j, "stop");
			break;
		}
		emu_random_id(id, 24);
		{
			char mid[64];

			snprintf(mid, sizeof(mid), "msg_bdrk_01%s", id);
			cJSON_AddStringToObject(j, "id", mid);
		}
		cJSON_AddStringToObject(j, "type", "message");
		cJSON_AddStringToObject(j, "role", "assistant");
		cJSON_AddStringToObject(j, "model", name);
		a = cJSON_AddArrayToObject(j, "content");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", "text");
		cJSON_AddStringToObject(o, "text", text);
		cJSON_AddItemToArray(a, o);
		cJSON_AddStringToObject(j, "stop_reason", c->limited ? "max_tokens" : "end_turn");
		cJSON_AddNullToObject(j, "stop_sequence");
		o = cJSON_AddObjectToObject(j, "usage");
		cJSON_AddNumberToObject(o, "input_tokens", (double)c->in);
		cJSON_AddNumberToObject(o, "cache_creation_input_tokens", 0);
		cJSON_AddNumberToObject(o, "cache_read_input_tokens", 0);
		cJSON_AddNumberToObject(o, "output_tokens", (double)c->out);
		break;
	case EMU_FAM_TITAN_TEXT:
		cJSON_AddNumberToObject(j, "inputTextTokenCount", (double)c->in);
		a = cJSON_AddArrayToObject(j, "results");
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "tokenCount", (double)c->out);
		cJSON_AddStringToObject(o, "outputText", text);
		cJSON_AddStringToObject(o, "completionReason", c->limited ? "LENGTH" : "FINISH");
		cJSON_AddItemToArray(a, o);
		break;
	case EMU_FAM_TITAN_EMBED:
		embedding_array(j, "embedding", emu_bedrock_embed_dims(c->base), c->in);
		cJSON_AddNumberToObject(j, "inputTextTokenCount", (double)c->in);
		break;
	case EMU_FAM_LLAMA:
		cJSON_AddStringToObject(j, "generation", text);
		cJSON_AddNumberToObject(j, "prompt_token_count", (double)c->in);
		cJSON_AddNumberToObject(j, "generation_token_count", (double)c->out);
		cJSON_AddStringToObject(j, "stop_reason", c->limited ? "length" : "stop");
		break;
	case EMU_FAM_MISTRAL:
		if (c->chat) {
			emu_uuid(id);
			cJSON_AddStringToObject(j, "id", id);
			cJSON_AddStringToObject(j, "object", "chat.completion");
			a = cJSON_AddArrayToObject(j, "choices");
			o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "index", 0);
			{
				cJSON *m = cJSON_AddObjectToObject(o, "message");

				cJSON_AddStringToObject(m, "role", "assistant");
				cJSON_AddStringToObject(m, "content", text);
			}
			cJSON_AddStringToObject(o, "stop_reason", c->limited ? "length" : "stop");
			cJSON_AddItemToArray(a, o);
			break;
		}
		a = cJSON_AddArrayToObject(j, "outputs");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "text", text);
		cJSON_AddStringToObject(o, "stop_reason", c->limited ? "length" : "stop");
		cJSON_AddItemToArray(a, o);
		break;
	case EMU_FAM_NOVA: {
		cJSON *out = cJSON_AddObjectToObject(j, "output"), *m = cJSON_AddObjectToObject(out, "message");

		a = cJSON_AddArrayToObject(m, "content");
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "text", text);
		cJSON_AddItemToArray(a, o);
		cJSON_AddStringToObject(m, "role", "assistant");
		cJSON_AddStringToObject(j, "stopReason", c->limited ? "max_tokens" : "end_turn");
		o = cJSON_AddObjectToObject(j, "usage");
		cJSON_AddNumberToObject(o, "inputTokens", (double)c->in);
		cJSON_AddNumberToObject(o, "outputTokens", (double)c->out);
		cJSON_AddNumberToObject(o, "totalTokens", (double)(c->in + c->out));
		cJSON_AddNumberToObject(o, "cacheReadInputTokenCount", 0);
		cJSON_AddNumberToObject(o, "cacheWriteInputTokenCount", 0);
		break;
	}
	case EMU_FAM_COHERE_CHAT:
		emu_uuid(id);
		cJSON_AddStringToObject(j, "response_id", id);
		cJSON_AddStringToObject(j, "text", text);
		emu_uuid(id);
		cJSON_AddStringToObject(j, "generation_id", id);
		cJSON_AddArrayToObject(j, "chat_history");
		cJSON_AddStringToObject(j, "finish_reason", c->limited ? "MAX_TOKENS" : "COMPLETE");
		break;
	case EMU_FAM_COHERE_TEXT:
		a = cJSON_AddArrayToObject(j, "generations");
		o = cJSON_CreateObject();
		emu_uuid(id);
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "text", text);
		cJSON_AddStringToObject(o, "finish_reason", c->limited ? "MAX_TOKENS" : "COMPLETE");
		cJSON_AddItemToArray(a, o);
		emu_uuid(id);
		cJSON_AddStringToObject(j, "id", id);
		break;
	case EMU_FAM_COHERE_EMBED: {
		const cJSON *texts = cJSON_GetObjectItemCaseSensitive(c->body, "texts");
		int n = cJSON_IsArray(texts) ? cJSON_GetArraySize(texts) : 1;

		a = cJSON_AddArrayToObject(j, "embeddings");
		for (int i = 0; i < n; i++) {
			cJSON *holder = cJSON_CreateObject();

			embedding_array(holder, "e", emu_bedrock_embed_dims(c->base), (uint64_t)i);
			cJSON_AddItemToArray(a, cJSON_DetachItemFromObject(holder, "e"));
			cJSON_Delete(holder);
		}
		emu_uuid(id);
		cJSON_AddStringToObject(j, "id", id);
		cJSON_AddStringToObject(j, "response_type", "embeddings_floats");
		cJSON_AddItemToObject(j, "texts", texts ? cJSON_Duplicate(texts, true) : cJSON_CreateArray());
		break;
	}
	default:
		break;
	}
	free(text);
	return j;
}

/* ---- InvokeModelWithResponseStream, per family ---- */

static void stream_anthropic(call *c, es_out *o)
{
	char name[EMU_MODEL_MAX], id[40], mid[64];
	cJSON *e, *m, *u, *d;
	uint64_t k = ndeltas(c->out);

	anthropic_name(c->base, name, sizeof(name));
	emu_random_id(id, 24);
	snprintf(mid, sizeof(mid), "msg_bdrk_01%s", id);
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "message_start");
	m = cJSON_AddObjectToObject(e, "message");
	cJSON_AddStringToObject(m, "id", mid);
	cJSON_AddStringToObject(m, "type", "message");
	cJSON_AddStringToObject(m, "role", "assistant");
	cJSON_AddStringToObject(m, "model", name);
	cJSON_AddArrayToObject(m, "content");
	cJSON_AddNullToObject(m, "stop_reason");
	cJSON_AddNullToObject(m, "stop_sequence");
	u = cJSON_AddObjectToObject(m, "usage");
	cJSON_AddNumberToObject(u, "input_tokens", (double)c->in);
	cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
	cJSON_AddNumberToObject(u, "cache_read_input_tokens", 0);
	cJSON_AddNumberToObject(u, "output_tokens", 1);
	es_chunk(o, e);

	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "content_block_start");
	cJSON_AddNumberToObject(e, "index", 0);
	d = cJSON_AddObjectToObject(e, "content_block");
	cJSON_AddStringToObject(d, "type", "text");
	cJSON_AddStringToObject(d, "text", "");
	es_chunk(o, e);
	for (uint64_t i = 0; i < k; i++) {
		char *t = delta_text(c->out, i);

		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "type", "content_block_delta");
		cJSON_AddNumberToObject(e, "index", 0);
		d = cJSON_AddObjectToObject(e, "delta");
		cJSON_AddStringToObject(d, "type", "text_delta");
		cJSON_AddStringToObject(d, "text", t);
		free(t);
		es_chunk(o, e);
		mark(c, i);
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "content_block_stop");
	cJSON_AddNumberToObject(e, "index", 0);
	es_chunk(o, e);

	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "message_delta");
	d = cJSON_AddObjectToObject(e, "delta");
	cJSON_AddStringToObject(d, "stop_reason", c->limited ? "max_tokens" : "end_turn");
	cJSON_AddNullToObject(d, "stop_sequence");
	u = cJSON_AddObjectToObject(e, "usage");
	cJSON_AddNumberToObject(u, "output_tokens", (double)c->out);
	es_chunk(o, e);

	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", "message_stop");
	cJSON_AddItemToObject(e, "amazon-bedrock-invocationMetrics", metrics(c->in, c->out));
	es_chunk(o, e);
}

/* One native chunk of a non-Anthropic family; final adds the stop and metrics. */
static cJSON *family_chunk(call *c, const char *text, uint64_t i, uint64_t so_far, bool final)
{
	cJSON *e = cJSON_CreateObject(), *a, *x;

	switch (c->fam) {
	case EMU_FAM_TITAN_TEXT:
		cJSON_AddStringToObject(e, "outputText", text);
		cJSON_AddNumberToObject(e, "index", 0);
		if (final) {
			cJSON_AddNumberToObject(e, "totalOutputTextTokenCount", (double)c->out);
			cJSON_AddStringToObject(e, "completionReason", c->limited ? "LENGTH" : "FINISH");
		} else {
			cJSON_AddNullToObject(e, "totalOutputTextTokenCount");
			cJSON_AddNullToObject(e, "completionReason");
		}
		if (i == 0)
			cJSON_AddNumberToObject(e, "inputTextTokenCount", (double)c->in);
		else
			cJSON_AddNullToObject(e, "inputTextTokenCount");
		break;
	case EMU_FAM_LLAMA:
		cJSON_AddStringToObject(e, "generation", text);
		if (i == 0)
			cJSON_AddNumberToObject(e, "prompt_token_count", (double)c->in);
		else
			cJSON_AddNullToObject(e, "prompt_token_count");
		cJSON_AddNumberToObject(e, "generation_token_count", (double)so_far);
		if (final)
			cJSON_AddStringToObject(e, "stop_reason", c->limited ? "length" : "stop");
		else
			cJSON_AddNullToObject(e, "stop_reason");
		break;
	case EMU_FAM_MISTRAL:
		a = cJSON_AddArrayToObject(e, c->chat ? "choices" : "outputs");
		x = cJSON_CreateObject();
		if (c->chat) {
			cJSON *m;

			cJSON_AddNumberToObject(x, "index", 0);
			m = cJSON_AddObjectToObject(x, "message");
			cJSON_AddStringToObject(m, "role", "assistant");
			cJSON_AddStringToObject(m, "content", text);
		} else {
			cJSON_AddStringToObject(x, "text", text);
		}
		if (final)
			cJSON_AddStringToObject(x, "stop_reason", c->limited ? "length" : "stop");
		else
			cJSON_AddNullToObject(x, "stop_reason");
		cJSON_AddItemToArray(a, x);
		break;
	case EMU_FAM_COHERE_CHAT:
	case EMU_FAM_COHERE_TEXT:
		cJSON_AddBoolToObject(e, "is_finished", final);
		cJSON_AddStringToObject(e, "event_type", final ? "stream-end" : "text-generation");
		if (!final)
			cJSON_AddStringToObject(e, "text", text);
		else
			cJSON_AddStringToObject(e, "finish_reason", c->limited ? "MAX_TOKENS" : "COMPLETE");
		break;
	default:
		break;
	}
	if (final)
		cJSON_AddItemToObject(e, "amazon-bedrock-invocationMetrics", metrics(c->in, c->out));
	return e;
}

static void stream_nova(call *c, es_out *o)
{
	cJSON *e, *x, *u;
	uint64_t k = ndeltas(c->out);

	e = cJSON_CreateObject();
	x = cJSON_AddObjectToObject(e, "messageStart");
	cJSON_AddStringToObject(x, "role", "assistant");
	es_chunk(o, e);
	for (uint64_t i = 0; i < k; i++) {
		char *t = delta_text(c->out, i);
		cJSON *d;

		e = cJSON_CreateObject();
		x = cJSON_AddObjectToObject(e, "contentBlockDelta");
		d = cJSON_AddObjectToObject(x, "delta");
		cJSON_AddStringToObject(d, "text", t);
		cJSON_AddNumberToObject(x, "contentBlockIndex", 0);
		free(t);
		es_chunk(o, e);
		mark(c, i);
	}
	e = cJSON_CreateObject();
	x = cJSON_AddObjectToObject(e, "contentBlockStop");
	cJSON_AddNumberToObject(x, "contentBlockIndex", 0);
	es_chunk(o, e);
	e = cJSON_CreateObject();
	x = cJSON_AddObjectToObject(e, "messageStop");
	cJSON_AddStringToObject(x, "stopReason", c->limited ? "max_tokens" : "end_turn");
	es_chunk(o, e);
	e = cJSON_CreateObject();
	x = cJSON_AddObjectToObject(e, "metadata");
	u = cJSON_AddObjectToObject(x, "usage");
	cJSON_AddNumberToObject(u, "inputTokens", (double)c->in);
	cJSON_AddNumberToObject(u, "outputTokens", (double)c->out);
	cJSON_AddObjectToObject(x, "metrics");
	cJSON_AddObjectToObject(x, "trace");
	cJSON_AddItemToObject(e, "amazon-bedrock-invocationMetrics", metrics(c->in, c->out));
	es_chunk(o, e);
}

static void stream_invoke(call *c, es_out *o)
{
	uint64_t k = ndeltas(c->out);

	if (c->fam == EMU_FAM_ANTHROPIC && !c->legacy) {
		stream_anthropic(c, o);
		return;
	}
	if (c->fam == EMU_FAM_NOVA) {
		stream_nova(c, o);
		return;
	}
	if (c->fam == EMU_FAM_ANTHROPIC) {
		for (uint64_t i = 0; i <= k; i++) {
			char *t = i < k ? delta_text(c->out, i) : strdup("");
			cJSON *e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "type", "completion");
			cJSON_AddStringToObject(e, "completion", t ? t : "");
			if (i == k) {
				cJSON_AddStringToObject(e, "stop_reason",
							c->limited ? "max_tokens" : "stop_sequence");
				cJSON_AddItemToObject(e, "amazon-bedrock-invocationMetrics",
						      metrics(c->in, c->out));
			} else {
				cJSON_AddNullToObject(e, "stop_reason");
			}
			free(t);
			es_chunk(o, e);
			mark(c, i);
		}
		return;
	}
	for (uint64_t i = 0; i <= k; i++) {
		char *t = i < k ? delta_text(c->out, i) : strdup("");
		uint64_t so_far = (i + 1) * WORDS_PER_DELTA < c->out ? (i + 1) * WORDS_PER_DELTA : c->out;

		es_chunk(o, family_chunk(c, t ? t : "", i, so_far, i == k));
		free(t);
		mark(c, i);
	}
}

/* ---- Converse / ConverseStream ---- */

static cJSON *converse_body(call *c)
{
	cJSON *j = cJSON_CreateObject(), *out = cJSON_AddObjectToObject(j, "output");
	cJSON *m = cJSON_AddObjectToObject(out, "message"), *a, *o, *u;
	char *text = words(0, c->out);

	cJSON_AddStringToObject(m, "role", "assistant");
	a = cJSON_AddArrayToObject(m, "content");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "text", text);
	cJSON_AddItemToArray(a, o);
	cJSON_AddStringToObject(j, "stopReason", c->limited ? "max_tokens" : "end_turn");
	u = cJSON_AddObjectToObject(j, "usage");
	cJSON_AddNumberToObject(u, "inputTokens", (double)c->in);
	cJSON_AddNumberToObject(u, "outputTokens", (double)c->out);
	cJSON_AddNumberToObject(u, "totalTokens", (double)(c->in + c->out));
	cJSON_AddNumberToObject(u, "cacheReadInputTokens", 0);
	cJSON_AddNumberToObject(u, "cacheWriteInputTokens", 0);
	o = cJSON_AddObjectToObject(j, "metrics");
	cJSON_AddNumberToObject(o, "latencyMs", (double)latency_ms(c->out));
	free(text);
	return j;
}

static void stream_converse(call *c, es_out *o)
{
	cJSON *e, *x;
	uint64_t k = ndeltas(c->out);

	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "role", "assistant");
	es_event(o, "messageStart", e);
	for (uint64_t i = 0; i < k; i++) {
		char *t = delta_text(c->out, i);

		e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "contentBlockIndex", 0);
		x = cJSON_AddObjectToObject(e, "delta");
		cJSON_AddStringToObject(x, "text", t);
		free(t);
		es_event(o, "contentBlockDelta", e);
		mark(c, i);
	}
	e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "contentBlockIndex", 0);
	es_event(o, "contentBlockStop", e);
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "stopReason", c->limited ? "max_tokens" : "end_turn");
	es_event(o, "messageStop", e);
	e = cJSON_CreateObject();
	x = cJSON_AddObjectToObject(e, "usage");
	cJSON_AddNumberToObject(x, "inputTokens", (double)c->in);
	cJSON_AddNumberToObject(x, "outputTokens", (double)c->out);
	cJSON_AddNumberToObject(x, "totalTokens", (double)(c->in + c->out));
	cJSON_AddNumberToObject(x, "cacheReadInputTokens", 0);
	cJSON_AddNumberToObject(x, "cacheWriteInputTokens", 0);
	x = cJSON_AddObjectToObject(e, "metrics");
	cJSON_AddNumberToObject(x, "latencyMs", (double)latency_ms(c->out));
	es_event(o, "metadata", e);
}

/* ---- CountTokens ---- */

static void count_tokens(call *c)
{
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(c->body, "input");
	const cJSON *inv = cJSON_GetObjectItemCaseSensitive(input, "invokeModel");
	const cJSON *conv = cJSON_GetObjectItemCaseSensitive(input, "converse");
	uint64_t n;
	cJSON *j;

	if (inv) {
		const char *b64 = emu_json_str(inv, "body");
		size_t len = b64 ? strlen(b64) : 0;
		uint8_t *raw = malloc(tf_base64_decoded_max(len) + 1);
		ptrdiff_t got = raw ? tf_base64_decode(b64 ? b64 : "", len, raw, tf_base64_decoded_max(len) + 1) : -1;
		cJSON *inner = got >= 0 ? cJSON_ParseWithLength((const char *)raw, (size_t)got) : NULL;

		if (!inner) {
			free(raw);
			emu_aws_error(c->r, 400, "ValidationException", malformed_input);
			return;
		}
		n = emu_input_tokens(inner, (size_t)got);
		cJSON_Delete(inner);
		free(raw);
	} else if (cJSON_IsObject(conv)) {
		char *s = cJSON_PrintUnformatted(conv);

		n = emu_input_tokens(conv, s ? strlen(s) : 0);
		free(s);
	} else {
		emu_aws_error(c->r, 400, "ValidationException",
			      "1 validation error detected: Value null at 'input' failed to satisfy "
			      "constraint: Member must not be null");
		return;
	}
	j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "inputTokens", (double)n);
	emu_resp_json(c->r, 200, j);
	cJSON_Delete(j);
}

/* ---- the runtime entry ---- */

static void runtime(const emu_req *q, emu_resp *r, emu_result *res)
{
	emu_op op = q->route.op;
	bool converse = op == EMU_OP_CONVERSE || op == EMU_OP_CONVERSE_STREAM, has = false;
	int64_t max = 0;
	call c;

	memset(&c, 0, sizeof(c));
	c.q = q;
	c.r = r;
	c.body = q->json;
	res->stream = q->route.stream;
	if (!q->route.id[0] ||
	    (c.fam = emu_bedrock_model(q->route.id, q->cfg->aliases, q->cfg->naliases, c.base,
				       sizeof(c.base))) == EMU_FAM_NONE) {
		emu_aws_error(r, 400, "ValidationException", invalid_model);
		return;
	}
	if (!q->json_ok || !cJSON_IsObject(q->json)) {
		emu_aws_error(r, 400, "ValidationException", malformed_input);
		return;
	}
	if (op == EMU_OP_COUNT_TOKENS) {
		count_tokens(&c);
		return;
	}
	if (emu_family_is_embedding(c.fam) && op != EMU_OP_INVOKE) {
		emu_aws_error(r, 400, "ValidationException",
			      converse ? "This action doesn't support the model that you provided. Try "
					 "again with a supported text or chat model."
				       : "The model is unsupported for streaming.");
		return;
	}
	if (converse && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(q->json, "messages"))) {
		emu_aws_error(r, 400, "ValidationException",
			      "1 validation error detected: Value null at 'messages' failed to satisfy "
			      "constraint: Member must not be null");
		return;
	}
	if (!read_max(&c, converse, &has, &max))
		return;
	if (has && max < 1) {
		emu_aws_error(r, 400, "ValidationException",
			      "The maximum tokens you requested must be at least 1.");
		return;
	}
	c.in = emu_input_tokens(q->json, q->body_len);
	c.out = emu_family_is_embedding(c.fam) ? 0 : emu_output_tokens(has, max, q->cfg->reply_tokens);
	c.limited = has && (uint64_t)max < q->cfg->reply_tokens;
	res->billed = true;
	res->usage.input = c.in;
	res->usage.output = c.out;
	snprintf(res->priced, sizeof(res->priced), "%s", q->route.id);
	snprintf(res->base, sizeof(res->base), "%s", c.base);

	if (q->route.stream) {
		es_out o = {&r->body, 0, 1, q->fault, q->n * 7919};

		r->status = 200;
		r->stream = true;
		r->content_type = "application/vnd.amazon.eventstream";
		emu_resp_header(r, "X-Amzn-Bedrock-Content-Type", "application/json");
		if (converse)
			stream_converse(&c, &o);
		else
			stream_invoke(&c, &o);
		if (q->fault == EMU_FAULT_TRUNCATE)
			r->truncate = true;
		return;
	}
	{
		cJSON *j = converse ? converse_body(&c) : invoke_body(&c);

		emu_resp_json_fault(r, 200, j, q->fault);
		cJSON_Delete(j);
		token_headers(&c);
	}
}

/* ---- control plane ---- */

static bool require(const emu_req *q, emu_resp *r, const char *const *keys)
{
	for (; *keys; keys++) {
		if (!cJSON_HasObjectItem(q->json, *keys)) {
			char msg[256];

			snprintf(msg, sizeof(msg),
				 "1 validation error detected: Value null at '%s' failed to satisfy "
				 "constraint: Member must not be null",
				 *keys);
			emu_aws_error(r, 400, "ValidationException", msg);
			return false;
		}
	}
	return true;
}

static void now_iso(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void control(const emu_req *q, emu_resp *r, emu_result *res)
{
	char id[16], arn[512], when[32];
	cJSON *j = NULL, *o;

	emu_random_id(id, 12);
	for (char *p = id; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	now_iso(when, sizeof(when));
	if ((q->route.op == EMU_OP_CREATE_CUSTOMIZATION_JOB || q->route.op == EMU_OP_CREATE_PROVISIONED) &&
	    (!q->json_ok || !cJSON_IsObject(q->json))) {
		emu_aws_error(r, 400, "ValidationException", "Malformed request body.");
		return;
	}
	switch (q->route.op) {
	case EMU_OP_CREATE_CUSTOMIZATION_JOB: {
		static const char *const keys[] = {"jobName", "customModelName", "roleArn",
						   "baseModelIdentifier", "trainingDataConfig",
						   "outputDataConfig", NULL};
		const char *base = emu_json_str(q->json, "baseModelIdentifier");

		if (!require(q, r, keys))
			return;
		snprintf(res->model, sizeof(res->model), "%s", base ? base : "");
		snprintf(arn, sizeof(arn), "arn:aws:bedrock:" REGION ":" ACCOUNT ":model-customization-job/%s/%s",
			 base ? base : "", id);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "jobArn", arn);
		cJSON_AddStringToObject(o, "jobName", emu_json_str(q->json, "jobName") ? emu_json_str(q->json, "jobName") : "");
		cJSON_AddStringToObject(o, "status", "InProgress");
		cJSON_AddStringToObject(o, "baseModelArn", base ? base : "");
		cJSON_AddStringToObject(o, "creationTime", when);
		cJSON_AddStringToObject(o, "customizationType",
					emu_json_str(q->json, "customizationType") ? emu_json_str(q->json, "customizationType")
										  : "FINE_TUNING");
		emu_store_add(EMU_STORE_CUSTOMIZATION_JOBS, o);
		cJSON_Delete(o);
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "jobArn", arn);
		emu_resp_json(r, 201, j);
		break;
	}
	case EMU_OP_LIST_CUSTOMIZATION_JOBS:
		j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "modelCustomizationJobSummaries", emu_store_list(EMU_STORE_CUSTOMIZATION_JOBS));
		emu_resp_json(r, 200, j);
		break;
	case EMU_OP_GET_CUSTOMIZATION_JOB: {
		cJSON *list = emu_store_list(EMU_STORE_CUSTOMIZATION_JOBS), *it;

		cJSON_ArrayForEach(it, list)
		{
			const char *a = emu_json_str(it, "jobArn"), *n = emu_json_str(it, "jobName");

			if ((a && (strcmp(a, q->route.id) == 0 ||
				   (strlen(a) > strlen(q->route.id) &&
				    strcmp(a + strlen(a) - strlen(q->route.id), q->route.id) == 0))) ||
			    (n && strcmp(n, q->route.id) == 0)) {
				j = cJSON_Duplicate(it, true);
				break;
			}
		}
		cJSON_Delete(list);
		if (!j) {
			emu_aws_error(r, 404, "ResourceNotFoundException", "Could not find the specified job.");
			return;
		}
		emu_resp_json(r, 200, j);
		break;
	}
	case EMU_OP_CREATE_PROVISIONED: {
		static const char *const keys[] = {"modelUnits", "provisionedModelName", "modelId", NULL};
		const char *model = emu_json_str(q->json, "modelId");

		if (!require(q, r, keys))
			return;
		snprintf(res->model, sizeof(res->model), "%s", model ? model : "");
		snprintf(arn, sizeof(arn), "arn:aws:bedrock:" REGION ":" ACCOUNT ":provisioned-model/%s", id);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "provisionedModelId", id);
		cJSON_AddStringToObject(o, "provisionedModelArn", arn);
		cJSON_AddStringToObject(o, "provisionedModelName",
					emu_json_str(q->json, "provisionedModelName") ? emu_json_str(q->json, "provisionedModelName") : "");
		cJSON_AddStringToObject(o, "modelArn", model ? model : "");
		cJSON_AddStringToObject(o, "status", "Creating");
		cJSON_AddStringToObject(o, "creationTime", when);
		{
			int64_t units = 0;

			emu_json_int(q->json, "modelUnits", &units);
			cJSON_AddNumberToObject(o, "modelUnits", (double)units);
		}
		emu_store_add(EMU_STORE_PROVISIONED, o);
		cJSON_Delete(o);
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "provisionedModelArn", arn);
		emu_resp_json(r, 201, j);
		break;
	}
	case EMU_OP_LIST_PROVISIONED:
		j = cJSON_CreateObject();
		cJSON_AddItemToObject(j, "provisionedModelSummaries", emu_store_list(EMU_STORE_PROVISIONED));
		emu_resp_json(r, 200, j);
		break;
	case EMU_OP_GET_PROVISIONED:
	case EMU_OP_DELETE_PROVISIONED: {
		const char *key = strncmp(q->route.id, "arn:", 4) == 0 ? "provisionedModelArn" : "provisionedModelId";

		snprintf(res->model, sizeof(res->model), "%s", q->route.id);
		if (q->route.op == EMU_OP_GET_PROVISIONED) {
			j = emu_store_get(EMU_STORE_PROVISIONED, key, q->route.id);
			if (!j)
				j = emu_store_get(EMU_STORE_PROVISIONED, "provisionedModelName", q->route.id);
		} else if (emu_store_remove(EMU_STORE_PROVISIONED, key, q->route.id) ||
			   emu_store_remove(EMU_STORE_PROVISIONED, "provisionedModelName", q->route.id)) {
			j = cJSON_CreateObject();
		}
		if (!j) {
			emu_aws_error(r, 404, "ResourceNotFoundException",
				      "The specified provisioned model could not be found.");
			return;
		}
		emu_resp_json(r, 200, j);
		break;
	}
	case EMU_OP_LIST_FOUNDATION_MODELS:
	case EMU_OP_GET_FOUNDATION_MODEL: {
		cJSON *list = cJSON_CreateArray();
		const char *m;

		for (size_t i = 0; (m = emu_bedrock_known_model(i)); i++) {
			cJSON *s;
			const char *dot = strchr(m, '.');
			char provider[32];
			emu_family f = emu_bedrock_model(m, NULL, 0, arn, sizeof(arn));

			if (q->route.op == EMU_OP_GET_FOUNDATION_MODEL && strcmp(m, q->route.id) != 0)
				continue;
			snprintf(provider, sizeof(provider), "%.*s", dot ? (int)(dot - m) : 0, m);
			provider[0] = (char)(provider[0] >= 'a' ? provider[0] - 32 : provider[0]);
			s = cJSON_CreateObject();
			snprintf(arn, sizeof(arn), "arn:aws:bedrock:" REGION "::foundation-model/%s", m);
			cJSON_AddStringToObject(s, "modelArn", arn);
			cJSON_AddStringToObject(s, "modelId", m);
			cJSON_AddStringToObject(s, "modelName", m);
			cJSON_AddStringToObject(s, "providerName", provider);
			cJSON_AddItemToObject(s, "inputModalities", cJSON_CreateStringArray((const char *[]){"TEXT"}, 1));
			cJSON_AddItemToObject(s, "outputModalities",
					      cJSON_CreateStringArray((const char *[]){emu_family_is_embedding(f) ? "EMBEDDING" : "TEXT"}, 1));
			cJSON_AddBoolToObject(s, "responseStreamingSupported", !emu_family_is_embedding(f));
			cJSON_AddArrayToObject(s, "customizationsSupported");
			cJSON_AddItemToObject(s, "inferenceTypesSupported", cJSON_CreateStringArray((const char *[]){"ON_DEMAND"}, 1));
			o = cJSON_AddObjectToObject(s, "modelLifecycle");
			cJSON_AddStringToObject(o, "status", "ACTIVE");
			cJSON_AddItemToArray(list, s);
		}
		j = cJSON_CreateObject();
		if (q->route.op == EMU_OP_LIST_FOUNDATION_MODELS) {
			cJSON_AddItemToObject(j, "modelSummaries", list);
		} else if (cJSON_GetArraySize(list) == 1) {
			cJSON_AddItemToObject(j, "modelDetails", cJSON_DetachItemFromArray(list, 0));
			cJSON_Delete(list);
		} else {
			cJSON_Delete(list);
			cJSON_Delete(j);
			emu_aws_error(r, 404, "ResourceNotFoundException", "The model was not found.");
			return;
		}
		emu_resp_json(r, 200, j);
		break;
	}
	default:
		break;
	}
	cJSON_Delete(j);
}

/* ---- agent runtime ---- */

static void agent(const emu_req *q, emu_resp *r, emu_result *res)
{
	cJSON *j, *a, *o, *x;

	if (!q->json_ok || !cJSON_IsObject(q->json)) {
		emu_aws_error(r, 400, "ValidationException", malformed_input);
		return;
	}
	if (q->route.op == EMU_OP_RETRIEVE) {
		const cJSON *rq = cJSON_GetObjectItemCaseSensitive(q->json, "retrievalQuery");

		if (!emu_json_str(rq, "text")) {
			emu_aws_error(r, 400, "ValidationException",
				      "1 validation error detected: Value null at 'retrievalQuery' failed "
				      "to satisfy constraint: Member must not be null");
			return;
		}
		j = cJSON_CreateObject();
		a = cJSON_AddArrayToObject(j, "retrievalResults");
		for (int i = 0; i < 2; i++) {
			char uri[64], *t = words((uint64_t)i * 5, 12);

			o = cJSON_CreateObject();
			x = cJSON_AddObjectToObject(o, "content");
			cJSON_AddStringToObject(x, "text", t);
			cJSON_AddStringToObject(x, "type", "TEXT");
			x = cJSON_AddObjectToObject(o, "location");
			cJSON_AddStringToObject(x, "type", "S3");
			snprintf(uri, sizeof(uri), "s3://tokenfence-test/doc%d.txt", i + 1);
			cJSON_AddStringToObject(cJSON_AddObjectToObject(x, "s3Location"), "uri", uri);
			cJSON_AddNumberToObject(o, "score", i ? 0.71 : 0.87);
			cJSON_AddObjectToObject(o, "metadata");
			cJSON_AddItemToArray(a, o);
			free(t);
		}
		emu_resp_json(r, 200, j);
		cJSON_Delete(j);
		return;
	}
	{
		const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(q->json, "retrieveAndGenerateConfiguration");
		const cJSON *kb = cJSON_GetObjectItemCaseSensitive(cfg, "knowledgeBaseConfiguration");
		const cJSON *ext = cJSON_GetObjectItemCaseSensitive(cfg, "externalSourcesConfiguration");
		const char *model = emu_json_str(kb ? kb : ext, "modelArn");
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(q->json, "input");
		char base[EMU_MODEL_MAX], sid[40], *text;
		uint64_t out = q->cfg->reply_tokens;

		if (!emu_json_str(in, "text") || !model) {
			emu_aws_error(r, 400, "ValidationException",
				      "1 validation error detected: Value null at 'input' failed to satisfy "
				      "constraint: Member must not be null");
			return;
		}
		snprintf(res->model, sizeof(res->model), "%s", model);
		if (emu_bedrock_model(model, q->cfg->aliases, q->cfg->naliases, base, sizeof(base)) == EMU_FAM_NONE) {
			emu_aws_error(r, 400, "ValidationException", invalid_model);
			return;
		}
		res->billed = true;
		res->usage.input = emu_input_tokens(q->json, q->body_len);
		res->usage.output = out;
		snprintf(res->priced, sizeof(res->priced), "%s", model);
		snprintf(res->base, sizeof(res->base), "%s", base);
		text = words(0, out);
		j = cJSON_CreateObject();
		emu_uuid(sid);
		cJSON_AddStringToObject(j, "sessionId", emu_json_str(q->json, "sessionId") ? emu_json_str(q->json, "sessionId") : sid);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "output"), "text", text);
		a = cJSON_AddArrayToObject(j, "citations");
		o = cJSON_CreateObject();
		x = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "generatedResponsePart"), "textResponsePart");
		cJSON_AddStringToObject(x, "text", text);
		x = cJSON_AddObjectToObject(x, "span");
		cJSON_AddNumberToObject(x, "start", 0);
		cJSON_AddNumberToObject(x, "end", (double)(strlen(text) ? strlen(text) - 1 : 0));
		x = cJSON_AddArrayToObject(o, "retrievedReferences");
		{
			cJSON *ref = cJSON_CreateObject(), *loc;
			char *t = words(0, 12);

			cJSON_AddStringToObject(cJSON_AddObjectToObject(ref, "content"), "text", t);
			loc = cJSON_AddObjectToObject(ref, "location");
			cJSON_AddStringToObject(loc, "type", "S3");
			cJSON_AddStringToObject(cJSON_AddObjectToObject(loc, "s3Location"), "uri",
						"s3://tokenfence-test/doc1.txt");
			cJSON_AddObjectToObject(ref, "metadata");
			cJSON_AddItemToArray(x, ref);
			free(t);
		}
		cJSON_AddItemToArray(a, o);
		emu_resp_json_fault(r, 200, j, q->fault);
		cJSON_Delete(j);
		free(text);
	}
}

void emu_bedrock_model_asked(const emu_req *q, char *out, size_t n)
{
	const char *m = NULL;

	out[0] = '\0';
	switch (q->route.op) {
	case EMU_OP_INVOKE:
	case EMU_OP_INVOKE_STREAM:
	case EMU_OP_CONVERSE:
	case EMU_OP_CONVERSE_STREAM:
	case EMU_OP_COUNT_TOKENS:
	case EMU_OP_GET_FOUNDATION_MODEL:
	case EMU_OP_GET_PROVISIONED:
	case EMU_OP_DELETE_PROVISIONED:
		m = q->route.id;
		break;
	case EMU_OP_CREATE_CUSTOMIZATION_JOB:
		m = emu_json_str(q->json, "baseModelIdentifier");
		break;
	case EMU_OP_CREATE_PROVISIONED:
		m = emu_json_str(q->json, "modelId");
		break;
	case EMU_OP_RETRIEVE_AND_GENERATE: {
		const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(q->json, "retrieveAndGenerateConfiguration");
		const cJSON *kb = cJSON_GetObjectItemCaseSensitive(cfg, "knowledgeBaseConfiguration");

		m = emu_json_str(kb ? kb : cJSON_GetObjectItemCaseSensitive(cfg, "externalSourcesConfiguration"),
				 "modelArn");
		break;
	}
	default:
		break;
	}
	if (m)
		snprintf(out, n, "%s", m);
}

void emu_bedrock_handle(const emu_req *q, emu_resp *r, emu_result *res)
{
	switch (q->route.op) {
	case EMU_OP_INVOKE:
	case EMU_OP_INVOKE_STREAM:
	case EMU_OP_CONVERSE:
	case EMU_OP_CONVERSE_STREAM:
	case EMU_OP_COUNT_TOKENS:
		runtime(q, r, res);
		return;
	case EMU_OP_RETRIEVE:
	case EMU_OP_RETRIEVE_AND_GENERATE:
		agent(q, r, res);
		return;
	case EMU_OP_NONE:
		emu_aws_error(r, 404, "UnknownOperationException", "The requested operation is not supported.");
		return;
	default:
		control(q, r, res);
		return;
	}
}
