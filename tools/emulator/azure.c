/*
 * Azure OpenAI data plane (reference/WIRE.md section 4): chat completions,
 * completions, embeddings (deployment-scoped and /openai/v1), the Responses
 * API, fine-tuning jobs, files, batches, models. SSE streams carry Azure's
 * prompt-filter first chunk and the usage chunk only when
 * stream_options.include_usage is true.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "emu.h"
#include "state.h"
#include "usage.h"

#define WORDS_PER_DELTA 3

static char *words(uint64_t first, uint64_t n)
{
	tf_buf b;
	char *s;

	tf_buf_init(&b, 0);
	emu_reply_words(&b, first, n);
	s = calloc(1, b.len + 1);
	if (s && b.len)
		memcpy(s, b.data, b.len);
	tf_buf_free(&b);
	return s ? s : strdup("");
}

static cJSON *filter_results(bool prompt)
{
	static const char *const cats[] = {"hate", "self_harm", "sexual", "violence"};
	cJSON *o = cJSON_CreateObject(), *x;

	if (prompt) {
		x = cJSON_AddObjectToObject(o, "jailbreak");
		cJSON_AddBoolToObject(x, "filtered", false);
		cJSON_AddBoolToObject(x, "detected", false);
	}
	for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
		x = cJSON_AddObjectToObject(o, cats[i]);
		cJSON_AddBoolToObject(x, "filtered", false);
		cJSON_AddStringToObject(x, "severity", "safe");
	}
	return o;
}

static cJSON *prompt_filter_results(void)
{
	cJSON *a = cJSON_CreateArray(), *p = cJSON_CreateObject();

	cJSON_AddNumberToObject(p, "prompt_index", 0);
	cJSON_AddItemToObject(p, "content_filter_results", filter_results(true));
	cJSON_AddItemToArray(a, p);
	return a;
}

typedef struct call {
	const emu_req *q;
	emu_resp *r;
	emu_result *res;
	emu_az_model m;
	char deployment[EMU_MODEL_MAX];
	uint64_t in, out, cached, reasoning;
	bool limited;
	bool stream, include_usage;
	char id[64];
	long created;
} call;

static cJSON *chat_usage(const call *c)
{
	cJSON *u = cJSON_CreateObject(), *d;

	cJSON_AddNumberToObject(u, "completion_tokens", (double)c->out);
	d = cJSON_AddObjectToObject(u, "completion_tokens_details");
	cJSON_AddNumberToObject(d, "accepted_prediction_tokens", 0);
	cJSON_AddNumberToObject(d, "audio_tokens", 0);
	cJSON_AddNumberToObject(d, "reasoning_tokens", (double)c->reasoning);
	cJSON_AddNumberToObject(d, "rejected_prediction_tokens", 0);
	cJSON_AddNumberToObject(u, "prompt_tokens", (double)c->in);
	d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
	cJSON_AddNumberToObject(d, "audio_tokens", 0);
	cJSON_AddNumberToObject(d, "cached_tokens", (double)c->cached);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(c->in + c->out));
	return u;
}

/* ---- SSE ---- */

typedef struct sse_out {
	tf_buf *body;
	int events;
	int bad; /* event a malformed fault damages */
	emu_fault_kind fault;
} sse_out;

static void sse_emit(sse_out *o, const char *event, cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	size_t n = strlen(s);

	if (o->fault == EMU_FAULT_MALFORMED && o->events == o->bad)
		n /= 2;
	if (event)
		tf_buf_printf(o->body, "event: %s\n", event);
	tf_buf_append_str(o->body, "data: ");
	tf_buf_append(o->body, s, n);
	tf_buf_append_str(o->body, "\n\n");
	o->events++;
	free(s);
	cJSON_Delete(j);
}

static cJSON *chunk_base(const call *c, const char *object)
{
	cJSON *j = cJSON_CreateObject();

	cJSON_AddItemToObject(j, "choices", cJSON_CreateArray());
	cJSON_AddNumberToObject(j, "created", (double)c->created);
	cJSON_AddStringToObject(j, "id", c->id);
	cJSON_AddStringToObject(j, "model", c->m.model);
	cJSON_AddStringToObject(j, "object", object);
	cJSON_AddStringToObject(j, "system_fingerprint", "fp_tokenfence");
	if (c->include_usage)
		cJSON_AddNullToObject(j, "usage");
	return j;
}

/* The stream has sent `words` visible words (capped at `visible`); hidden
 * reasoning came first, so it is all counted from the first delta. */
static void mark(call *c, uint64_t words_sent, uint64_t visible)
{
	emu_resp_mark(c->r, c->reasoning + (words_sent < visible ? words_sent : visible));
}

/* The bigevent fault: one delta over the 64 KiB stream window HTTP/2
 * clients start with (spaces: the tokens billed stay the formula's). */
static char *big_delta(char *t)
{
	size_t n = strlen(t), pad = (size_t)100 << 10;
	char *big = malloc(n + pad + 1);

	if (!big)
		return t;
	memcpy(big, t, n);
	memset(big + n, ' ', pad);
	big[n + pad] = 0;
	free(t);
	return big;
}

static void stream_chat(call *c, bool completions)
{
	sse_out o = {&c->r->body, 0, 2, c->q->fault};
	const char *object = completions ? "text_completion" : "chat.completion.chunk";
	uint64_t k = (c->out - c->reasoning + WORDS_PER_DELTA - 1) / WORDS_PER_DELTA;
	uint64_t visible = c->out - c->reasoning;
	cJSON *j, *ch, *d;

	/* Azure's prompt annotation: empty choices, id and model. */
	j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "choices", cJSON_CreateArray());
	cJSON_AddNumberToObject(j, "created", 0);
	cJSON_AddStringToObject(j, "id", "");
	cJSON_AddStringToObject(j, "model", "");
	cJSON_AddStringToObject(j, "object", "");
	cJSON_AddItemToObject(j, "prompt_filter_results", prompt_filter_results());
	sse_emit(&o, NULL, j);

	if (!completions) {
		j = chunk_base(c, object);
		ch = cJSON_CreateObject();
		cJSON_AddObjectToObject(ch, "content_filter_results");
		d = cJSON_AddObjectToObject(ch, "delta");
		cJSON_AddStringToObject(d, "content", "");
		cJSON_AddNullToObject(d, "refusal");
		cJSON_AddStringToObject(d, "role", "assistant");
		cJSON_AddNullToObject(ch, "finish_reason");
		cJSON_AddNumberToObject(ch, "index", 0);
		cJSON_AddNullToObject(ch, "logprobs");
		cJSON_AddItemToArray(cJSON_GetObjectItem(j, "choices"), ch);
		sse_emit(&o, NULL, j);
	}
	for (uint64_t i = 0; i < k; i++) {
		uint64_t first = i * WORDS_PER_DELTA;
		char *t = words(first, visible - first < WORDS_PER_DELTA ? visible - first : WORDS_PER_DELTA);

		if (i == 0 && c->q->fault == EMU_FAULT_BIGEVENT)
			t = big_delta(t);

		j = chunk_base(c, object);
		ch = cJSON_CreateObject();
		cJSON_AddItemToObject(ch, "content_filter_results", filter_results(false));
		if (completions) {
			cJSON_AddStringToObject(ch, "text", t);
		} else {
			d = cJSON_AddObjectToObject(ch, "delta");
			cJSON_AddStringToObject(d, "content", t);
		}
		cJSON_AddNullToObject(ch, "finish_reason");
		cJSON_AddNumberToObject(ch, "index", 0);
		cJSON_AddNullToObject(ch, "logprobs");
		cJSON_AddItemToArray(cJSON_GetObjectItem(j, "choices"), ch);
		sse_emit(&o, NULL, j);
		free(t);
		mark(c, first + WORDS_PER_DELTA, visible);
	}
	j = chunk_base(c, object);
	ch = cJSON_CreateObject();
	cJSON_AddObjectToObject(ch, "content_filter_results");
	if (completions)
		cJSON_AddStringToObject(ch, "text", "");
	else
		cJSON_AddObjectToObject(ch, "delta");
	cJSON_AddStringToObject(ch, "finish_reason", c->limited ? "length" : "stop");
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddNullToObject(ch, "logprobs");
	cJSON_AddItemToArray(cJSON_GetObjectItem(j, "choices"), ch);
	sse_emit(&o, NULL, j);
	if (c->include_usage) {
		j = chunk_base(c, object);
		cJSON_ReplaceItemInObject(j, "usage", chat_usage(c));
		sse_emit(&o, NULL, j);
	}
	tf_buf_append_str(&c->r->body, "data: [DONE]\n\n");
}

static void chat_body(call *c, bool completions)
{
	cJSON *j = cJSON_CreateObject(), *choices = cJSON_AddArrayToObject(j, "choices");
	cJSON *ch = cJSON_CreateObject(), *m;
	char *text = words(0, c->out - c->reasoning);

	cJSON_AddItemToObject(ch, "content_filter_results", filter_results(false));
	cJSON_AddStringToObject(ch, "finish_reason", c->limited ? "length" : "stop");
	cJSON_AddNumberToObject(ch, "index", 0);
	cJSON_AddNullToObject(ch, "logprobs");
	if (completions) {
		cJSON_AddStringToObject(ch, "text", text);
	} else {
		m = cJSON_AddObjectToObject(ch, "message");
		cJSON_AddArrayToObject(m, "annotations");
		cJSON_AddStringToObject(m, "content", text);
		cJSON_AddNullToObject(m, "refusal");
		cJSON_AddStringToObject(m, "role", "assistant");
	}
	cJSON_AddItemToArray(choices, ch);
	cJSON_AddNumberToObject(j, "created", (double)c->created);
	cJSON_AddStringToObject(j, "id", c->id);
	cJSON_AddStringToObject(j, "model", c->m.model);
	cJSON_AddStringToObject(j, "object", completions ? "text_completion" : "chat.completion");
	cJSON_AddItemToObject(j, "prompt_filter_results", prompt_filter_results());
	cJSON_AddStringToObject(j, "system_fingerprint", "fp_tokenfence");
	cJSON_AddItemToObject(j, "usage", chat_usage(c));
	emu_resp_json_fault(c->r, 200, j, c->q->fault);
	cJSON_Delete(j);
	free(text);
}

/* ---- Responses API ---- */

static cJSON *responses_usage(const call *c)
{
	cJSON *u = cJSON_CreateObject();

	cJSON_AddNumberToObject(u, "input_tokens", (double)c->in);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "input_tokens_details"), "cached_tokens",
				(double)c->cached);
	cJSON_AddNumberToObject(u, "output_tokens", (double)c->out);
	cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "output_tokens_details"), "reasoning_tokens",
				(double)c->reasoning);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(c->in + c->out));
	return u;
}

static cJSON *output_message(const char *msg_id, const char *text, bool done)
{
	cJSON *m = cJSON_CreateObject(), *a, *p;

	cJSON_AddStringToObject(m, "id", msg_id);
	cJSON_AddStringToObject(m, "type", "message");
	cJSON_AddStringToObject(m, "status", done ? "completed" : "in_progress");
	a = cJSON_AddArrayToObject(m, "content");
	if (text) {
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "type", "output_text");
		cJSON_AddArrayToObject(p, "annotations");
		cJSON_AddStringToObject(p, "text", text);
		cJSON_AddItemToArray(a, p);
	}
	cJSON_AddStringToObject(m, "role", "assistant");
	return m;
}

static cJSON *response_object(const call *c, const char *status, const char *msg_id,
			      const char *rs_id, const char *text)
{
	cJSON *j = cJSON_CreateObject(), *out, *x;
	int64_t max = 0;

	cJSON_AddStringToObject(j, "id", c->id);
	cJSON_AddStringToObject(j, "object", "response");
	cJSON_AddNumberToObject(j, "created_at", (double)c->created);
	cJSON_AddStringToObject(j, "status", status);
	cJSON_AddNullToObject(j, "error");
	if (strcmp(status, "incomplete") == 0)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "incomplete_details"), "reason",
					"max_output_tokens");
	else
		cJSON_AddNullToObject(j, "incomplete_details");
	cJSON_AddNullToObject(j, "instructions");
	if (emu_json_int(c->q->json, "max_output_tokens", &max))
		cJSON_AddNumberToObject(j, "max_output_tokens", (double)max);
	else
		cJSON_AddNullToObject(j, "max_output_tokens");
	cJSON_AddStringToObject(j, "model", c->m.model);
	out = cJSON_AddArrayToObject(j, "output");
	if (text) {
		if (c->m.reasoning) {
			x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "id", rs_id);
			cJSON_AddStringToObject(x, "type", "reasoning");
			cJSON_AddArrayToObject(x, "summary");
			cJSON_AddItemToArray(out, x);
		}
		cJSON_AddItemToArray(out, output_message(msg_id, text, true));
	}
	cJSON_AddBoolToObject(j, "parallel_tool_calls", true);
	cJSON_AddNullToObject(j, "previous_response_id");
	x = cJSON_AddObjectToObject(j, "reasoning");
	if (c->m.reasoning)
		cJSON_AddStringToObject(x, "effort", "medium");
	else
		cJSON_AddNullToObject(x, "effort");
	cJSON_AddNullToObject(x, "summary");
	cJSON_AddBoolToObject(j, "store", true);
	cJSON_AddNumberToObject(j, "temperature", 1);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(j, "text"), "format"), "type",
				"text");
	cJSON_AddStringToObject(j, "tool_choice", "auto");
	cJSON_AddArrayToObject(j, "tools");
	cJSON_AddNumberToObject(j, "top_p", 1);
	cJSON_AddStringToObject(j, "truncation", "disabled");
	if (strcmp(status, "in_progress") == 0)
		cJSON_AddNullToObject(j, "usage");
	else
		cJSON_AddItemToObject(j, "usage", responses_usage(c));
	cJSON_AddNullToObject(j, "user");
	cJSON_AddObjectToObject(j, "metadata");
	return j;
}

static cJSON *rev(const char *type, int seq)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNumberToObject(e, "sequence_number", seq);
	return e;
}

static void responses(call *c)
{
	char msg_id[64], rs_id[64], rnd[49];
	const char *status = c->limited ? "incomplete" : "completed";
	uint64_t visible = c->out - c->reasoning, k = (visible + WORDS_PER_DELTA - 1) / WORDS_PER_DELTA;
	char *text = words(0, visible);
	int seq = 0, out_index = c->m.reasoning ? 1 : 0;
	sse_out o = {&c->r->body, 0, 3, c->q->fault};
	cJSON *e, *x;

	emu_random_id(rnd, 48);
	snprintf(msg_id, sizeof(msg_id), "msg_%s", rnd);
	emu_random_id(rnd, 48);
	snprintf(rs_id, sizeof(rs_id), "rs_%s", rnd);
	if (!c->stream) {
		cJSON *j = response_object(c, status, msg_id, rs_id, text);

		emu_resp_json_fault(c->r, 200, j, c->q->fault);
		cJSON_Delete(j);
		free(text);
		return;
	}
	c->r->stream = true;
	c->r->content_type = "text/event-stream; charset=utf-8";
	e = rev("response.created", seq++);
	cJSON_AddItemToObject(e, "response", response_object(c, "in_progress", msg_id, rs_id, NULL));
	sse_emit(&o, "response.created", e);
	e = rev("response.in_progress", seq++);
	cJSON_AddItemToObject(e, "response", response_object(c, "in_progress", msg_id, rs_id, NULL));
	sse_emit(&o, "response.in_progress", e);
	if (c->m.reasoning) {
		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", rs_id);
		cJSON_AddStringToObject(x, "type", "reasoning");
		cJSON_AddArrayToObject(x, "summary");
		e = rev("response.output_item.added", seq++);
		cJSON_AddNumberToObject(e, "output_index", 0);
		cJSON_AddItemToObject(e, "item", cJSON_Duplicate(x, true));
		sse_emit(&o, "response.output_item.added", e);
		e = rev("response.output_item.done", seq++);
		cJSON_AddNumberToObject(e, "output_index", 0);
		cJSON_AddItemToObject(e, "item", x);
		sse_emit(&o, "response.output_item.done", e);
	}
	e = rev("response.output_item.added", seq++);
	cJSON_AddNumberToObject(e, "output_index", out_index);
	cJSON_AddItemToObject(e, "item", output_message(msg_id, NULL, false));
	sse_emit(&o, "response.output_item.added", e);
	e = rev("response.content_part.added", seq++);
	cJSON_AddStringToObject(e, "item_id", msg_id);
	cJSON_AddNumberToObject(e, "output_index", out_index);
	cJSON_AddNumberToObject(e, "content_index", 0);
	x = cJSON_AddObjectToObject(e, "part");
	cJSON_AddStringToObject(x, "type", "output_text");
	cJSON_AddArrayToObject(x, "annotations");
	cJSON_AddStringToObject(x, "text", "");
	sse_emit(&o, "response.content_part.added", e);
	for (uint64_t i = 0; i < k; i++) {
		uint64_t first = i * WORDS_PER_DELTA;
		char *t = words(first, visible - first < WORDS_PER_DELTA ? visible - first : WORDS_PER_DELTA);

		e = rev("response.output_text.delta", seq++);
		cJSON_AddStringToObject(e, "item_id", msg_id);
		cJSON_AddNumberToObject(e, "output_index", out_index);
		cJSON_AddNumberToObject(e, "content_index", 0);
		cJSON_AddStringToObject(e, "delta", t);
		sse_emit(&o, "response.output_text.delta", e);
		free(t);
		mark(c, first + WORDS_PER_DELTA, visible);
	}
	e = rev("response.output_text.done", seq++);
	cJSON_AddStringToObject(e, "item_id", msg_id);
	cJSON_AddNumberToObject(e, "output_index", out_index);
	cJSON_AddNumberToObject(e, "content_index", 0);
	cJSON_AddStringToObject(e, "text", text);
	sse_emit(&o, "response.output_text.done", e);
	e = rev("response.content_part.done", seq++);
	cJSON_AddStringToObject(e, "item_id", msg_id);
	cJSON_AddNumberToObject(e, "output_index", out_index);
	cJSON_AddNumberToObject(e, "content_index", 0);
	x = cJSON_AddObjectToObject(e, "part");
	cJSON_AddStringToObject(x, "type", "output_text");
	cJSON_AddArrayToObject(x, "annotations");
	cJSON_AddStringToObject(x, "text", text);
	sse_emit(&o, "response.content_part.done", e);
	e = rev("response.output_item.done", seq++);
	cJSON_AddNumberToObject(e, "output_index", out_index);
	cJSON_AddItemToObject(e, "item", output_message(msg_id, text, true));
	sse_emit(&o, "response.output_item.done", e);
	e = rev(c->limited ? "response.incomplete" : "response.completed", seq++);
	cJSON_AddItemToObject(e, "response", response_object(c, status, msg_id, rs_id, text));
	sse_emit(&o, c->limited ? "response.incomplete" : "response.completed", e);
	free(text);
}

/* ---- embeddings ---- */

static void embeddings(call *c)
{
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(c->q->json, "input");
	const char *fmt = emu_json_str(c->q->json, "encoding_format");
	bool b64 = fmt && strcmp(fmt, "base64") == 0;
	int64_t dims = c->m.embed_dims;
	int n;
	cJSON *j, *data, *u;

	if (!input || (!cJSON_IsString(input) && !cJSON_IsArray(input))) {
		emu_azure_error(c->r, 400, "invalid_request_error" , "'input' is a required property",
				"invalid_request_error", "input");
		return;
	}
	emu_json_int(c->q->json, "dimensions", &dims);
	if (dims < 1 || dims > 4096)
		dims = c->m.embed_dims ? c->m.embed_dims : 1536;
	n = cJSON_IsString(input) ? 1
	    : cJSON_IsNumber(cJSON_GetArrayItem(input, 0)) ? 1
							   : cJSON_GetArraySize(input);
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "object", "list");
	data = cJSON_AddArrayToObject(j, "data");
	for (int i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "object", "embedding");
		cJSON_AddNumberToObject(e, "index", i);
		if (b64) {
			uint8_t *raw = malloc((size_t)dims * 4);
			tf_buf s;

			tf_buf_init(&s, 0);
			for (int64_t d = 0; raw && d < dims; d++) {
				float f = (float)((int)(((uint64_t)d * 2654435761u + (uint64_t)i) % 2001) - 1000) / 4096.0f;
				uint32_t bits;

				memcpy(&bits, &f, 4);
				raw[d * 4] = (uint8_t)bits;
				raw[d * 4 + 1] = (uint8_t)(bits >> 8);
				raw[d * 4 + 2] = (uint8_t)(bits >> 16);
				raw[d * 4 + 3] = (uint8_t)(bits >> 24);
			}
			if (raw)
				tf_base64_encode_buf(&s, raw, (size_t)dims * 4);
			tf_buf_append(&s, "", 1);
			cJSON_AddStringToObject(e, "embedding", (const char *)s.data);
			tf_buf_free(&s);
			free(raw);
		} else {
			cJSON *a = cJSON_AddArrayToObject(e, "embedding");

			for (int64_t d = 0; d < dims; d++)
				cJSON_AddItemToArray(a, cJSON_CreateNumber(
					(double)((int)(((uint64_t)d * 2654435761u + (uint64_t)i) % 2001) - 1000) / 4096.0));
		}
		cJSON_AddItemToArray(data, e);
	}
	cJSON_AddStringToObject(j, "model", c->m.model);
	u = cJSON_AddObjectToObject(j, "usage");
	cJSON_AddNumberToObject(u, "prompt_tokens", (double)c->in);
	cJSON_AddNumberToObject(u, "total_tokens", (double)c->in);
	emu_resp_json_fault(c->r, 200, j, c->q->fault);
	cJSON_Delete(j);
}

/* ---- inference entry ---- */

static bool bad_json(call *c)
{
	if (c->q->json_ok && cJSON_IsObject(c->q->json))
		return false;
	emu_azure_error(c->r, 400, "invalid_request_error",
			"We could not parse the JSON body of your request. (HINT: This likely means "
			"you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
			"payload, but what was sent was not valid JSON. If you have trouble figuring "
			"out how to fix this, please contact us through our help center at "
			"help.openai.com.)",
			"invalid_request_error", NULL);
	return true;
}

static void inference(const emu_req *q, emu_resp *r, emu_result *res)
{
	emu_op op = q->route.op;
	bool chat = op == EMU_OP_AZ_CHAT, completions = op == EMU_OP_AZ_COMPLETIONS;
	bool emb = op == EMU_OP_AZ_EMBEDDINGS, resp_api = op == EMU_OP_AZ_RESPONSES;
	bool has = false;
	int64_t max = 0;
	const cJSON *so;
	char rnd[40];
	call c;

	memset(&c, 0, sizeof(c));
	c.q = q;
	c.r = r;
	c.res = res;
	c.created = (long)time(NULL);
	if (bad_json(&c))
		return;
	if (q->route.azure_v1 || resp_api) {
		const char *m = emu_json_str(q->json, "model");

		if (!m) {
			emu_azure_error(r, 400, "invalid_request_error", "you must provide a model parameter",
					"invalid_request_error", NULL);
			return;
		}
		snprintf(c.deployment, sizeof(c.deployment), "%s", m);
	} else {
		snprintf(c.deployment, sizeof(c.deployment), "%s", q->route.id);
	}
	if (!emu_azure_deployment(c.deployment, q->cfg->deployments, q->cfg->ndeployments, &c.m)) {
		emu_azure_error(r, 404, "DeploymentNotFound",
				"The API deployment for this resource does not exist. If you created the "
				"deployment within the last 5 minutes, please wait a moment and try again.",
				NULL, NULL);
		return;
	}
	if ((emb && c.m.kind != EMU_AZ_EMBEDDING) || (!emb && c.m.kind == EMU_AZ_EMBEDDING) ||
	    (chat && c.m.kind == EMU_AZ_COMPLETION) || (completions && c.m.kind != EMU_AZ_COMPLETION)) {
		char msg[EMU_MODEL_MAX + 512];

		snprintf(msg, sizeof(msg),
			 "The %s operation does not work with the specified model, %s. Please choose "
			 "different model and try again. You can learn more about which models can be "
			 "used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.",
			 emb ? "embeddings" : chat ? "chatCompletion" : completions ? "completion" : "responses",
			 c.m.model);
		emu_azure_error(r, 400, "OperationNotSupported", msg, NULL, NULL);
		return;
	}
	if (chat && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(q->json, "messages"))) {
		emu_azure_error(r, 400, "invalid_request_error", "'messages' is a required property",
				"invalid_request_error", "messages");
		return;
	}
	if (chat) {
		if (c.m.reasoning && cJSON_HasObjectItem(q->json, "max_tokens")) {
			emu_azure_error(r, 400, "unsupported_parameter",
					"Unsupported parameter: 'max_tokens' is not supported with this "
					"model. Use 'max_completion_tokens' instead.",
					"invalid_request_error", "max_tokens");
			return;
		}
		has = emu_json_int(q->json, "max_completion_tokens", &max) ||
		      emu_json_int(q->json, "max_tokens", &max);
	} else if (completions) {
		has = emu_json_int(q->json, "max_tokens", &max);
	} else if (resp_api) {
		has = emu_json_int(q->json, "max_output_tokens", &max);
	}
	if (has && max < 1) {
		emu_azure_error(r, 400, "invalid_request_error",
				"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1.",
				"invalid_request_error", "max_tokens");
		return;
	}
	c.stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q->json, "stream")) && !emb;
	so = cJSON_GetObjectItemCaseSensitive(q->json, "stream_options");
	c.include_usage = c.stream && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	c.in = emu_input_tokens(q->json, q->body_len);
	c.out = emb ? 0 : emu_output_tokens(has, max, q->cfg->reply_tokens);
	c.limited = has && (uint64_t)max < q->cfg->reply_tokens;
	c.cached = emb ? 0 : emu_cached_tokens(c.in);
	c.reasoning = c.m.reasoning ? emu_reasoning_tokens(c.out) : 0;
	res->stream = c.stream;
	res->billed = true;
	res->usage = (emu_usage){c.in, c.out, c.cached, c.reasoning};
	snprintf(res->priced, sizeof(res->priced), "%s", c.m.model);
	emu_resp_header(r, "x-ms-deployment-name", "%s", c.deployment);
	emu_random_id(rnd, 29);
	if (emb) {
		embeddings(&c);
		return;
	}
	if (resp_api) {
		snprintf(c.id, sizeof(c.id), "resp_%s", rnd);
		responses(&c);
		if (q->fault == EMU_FAULT_TRUNCATE)
			r->truncate = true;
		return;
	}
	snprintf(c.id, sizeof(c.id), "%s%s", completions ? "cmpl-" : "chatcmpl-", rnd);
	if (c.stream) {
		r->status = 200;
		r->stream = true;
		r->content_type = "text/event-stream; charset=utf-8";
		stream_chat(&c, completions);
		if (q->fault == EMU_FAULT_TRUNCATE)
			r->truncate = true;
		return;
	}
	chat_body(&c, completions);
}

/* ---- fine-tuning, files, batches, models ---- */

static void id_with(char *out, size_t n, const char *prefix)
{
	char rnd[25];

	emu_random_id(rnd, 24);
	snprintf(out, n, "%s%s", prefix, rnd);
}

/* The value of a multipart form field (or filename) in the body, for files. */
static void multipart_field(const emu_req *q, const char *marker, char *out, size_t n)
{
	const char *b = (const char *)q->body, *end = b + q->body_len, *p;
	size_t ml = strlen(marker);

	out[0] = '\0';
	for (p = b; p + ml <= end; p++) {
		if (memcmp(p, marker, ml) == 0) {
			const char *v = p + ml, *e = v;

			while (e < end && *e != '"' && *e != '\r' && *e != '\n')
				e++;
			snprintf(out, n, "%.*s", (int)(e - v), v);
			return;
		}
	}
}

static void management(const emu_req *q, emu_resp *r, emu_result *res)
{
	char id[64];
	long now = (long)time(NULL);
	cJSON *j = NULL, *list;

	switch (q->route.op) {
	case EMU_OP_AZ_FT_CREATE: {
		const char *model, *file;
		emu_az_model m;

		if (!q->json_ok || !cJSON_IsObject(q->json)) {
			emu_azure_error(r, 400, "invalid_request_error", "Invalid request body.", NULL, NULL);
			return;
		}
		model = emu_json_str(q->json, "model");
		file = emu_json_str(q->json, "training_file");
		if (!model || !file) {
			emu_azure_error(r, 400, "invalid_request_error",
					model ? "'training_file' is a required property" : "'model' is a required property",
					"invalid_request_error", model ? "training_file" : "model");
			return;
		}
		snprintf(res->model, sizeof(res->model), "%s", model);
		id_with(id, sizeof(id), "ftjob-");
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "id", id);
		cJSON_AddStringToObject(j, "object", "fine_tuning.job");
		cJSON_AddStringToObject(j, "model",
					emu_azure_deployment(model, NULL, 0, &m) ? m.model : model);
		cJSON_AddNumberToObject(j, "created_at", (double)now);
		cJSON_AddNullToObject(j, "finished_at");
		cJSON_AddNullToObject(j, "fine_tuned_model");
		cJSON_AddNullToObject(j, "error");
		cJSON_AddStringToObject(j, "status", "pending");
		cJSON_AddStringToObject(j, "training_file", file);
		if (emu_json_str(q->json, "validation_file"))
			cJSON_AddStringToObject(j, "validation_file", emu_json_str(q->json, "validation_file"));
		else
			cJSON_AddNullToObject(j, "validation_file");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(j, "hyperparameters"), "n_epochs", "auto");
		cJSON_AddArrayToObject(j, "result_files");
		cJSON_AddNullToObject(j, "trained_tokens");
		cJSON_AddNumberToObject(j, "seed", 42);
		emu_store_add(EMU_STORE_FT_JOBS, j);
		emu_resp_json(r, 201, j);
		break;
	}
	case EMU_OP_AZ_FT_GET:
		j = emu_store_get(EMU_STORE_FT_JOBS, "id", q->route.id);
		if (!j) {
			emu_azure_error(r, 404, "notFound", "The specified fine-tuning job could not be found.",
					NULL, NULL);
			return;
		}
		emu_resp_json(r, 200, j);
		break;
	case EMU_OP_AZ_FT_LIST:
	case EMU_OP_AZ_FILES_LIST:
	case EMU_OP_AZ_BATCH_LIST:
		list = emu_store_list(q->route.op == EMU_OP_AZ_FT_LIST ? EMU_STORE_FT_JOBS
				      : q->route.op == EMU_OP_AZ_FILES_LIST ? EMU_STORE_FILES
									    : EMU_STORE_BATCHES);
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "object", "list");
		cJSON_AddItemToObject(j, "data", list);
		cJSON_AddBoolToObject(j, "has_more", false);
		emu_resp_json(r, 200, j);
		break;
	case EMU_OP_AZ_FILES_CREATE: {
		char name[256], purpose[64];

		multipart_field(q, "filename=\"", name, sizeof(name));
		multipart_field(q, "name=\"purpose\"\r\n\r\n", purpose, sizeof(purpose));
		id_with(id, sizeof(id), "file-");
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "id", id);
		cJSON_AddStringToObject(j, "object", "file");
		cJSON_AddNumberToObject(j, "bytes", (double)q->body_len);
		cJSON_AddNumberToObject(j, "created_at", (double)now);
		cJSON_AddStringToObject(j, "filename", name[0] ? name : "upload.jsonl");
		cJSON_AddStringToObject(j, "purpose", purpose[0] ? purpose : "fine-tune");
		cJSON_AddStringToObject(j, "status", "processed");
		emu_store_add(EMU_STORE_FILES, j);
		emu_resp_json(r, 201, j);
		break;
	}
	case EMU_OP_AZ_BATCH_CREATE: {
		const char *file, *endpoint;

		if (!q->json_ok || !cJSON_IsObject(q->json) ||
		    !(file = emu_json_str(q->json, "input_file_id")) ||
		    !(endpoint = emu_json_str(q->json, "endpoint"))) {
			emu_azure_error(r, 400, "invalid_request_error",
					"'input_file_id' and 'endpoint' are required properties",
					"invalid_request_error", NULL);
			return;
		}
		id_with(id, sizeof(id), "batch_");
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "id", id);
		cJSON_AddStringToObject(j, "object", "batch");
		cJSON_AddStringToObject(j, "endpoint", endpoint);
		cJSON_AddStringToObject(j, "input_file_id", file);
		cJSON_AddStringToObject(j, "completion_window",
					emu_json_str(q->json, "completion_window") ? emu_json_str(q->json, "completion_window") : "24h");
		cJSON_AddStringToObject(j, "status", "validating");
		cJSON_AddNumberToObject(j, "created_at", (double)now);
		emu_store_add(EMU_STORE_BATCHES, j);
		emu_resp_json(r, 200, j);
		break;
	}
	case EMU_OP_AZ_MODELS_LIST: {
		const char *m;

		list = cJSON_CreateArray();
		for (size_t i = 0; (m = emu_azure_known_model(i)); i++) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "id", m);
			cJSON_AddStringToObject(e, "object", "model");
			cJSON_AddNumberToObject(e, "created_at", 1700000000);
			cJSON_AddItemToArray(list, e);
		}
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "object", "list");
		cJSON_AddItemToObject(j, "data", list);
		emu_resp_json(r, 200, j);
		break;
	}
	default:
		break;
	}
	cJSON_Delete(j);
}

void emu_azure_model_asked(const emu_req *q, char *out, size_t n)
{
	const char *m = NULL;

	out[0] = '\0';
	switch (q->route.op) {
	case EMU_OP_AZ_CHAT:
	case EMU_OP_AZ_COMPLETIONS:
	case EMU_OP_AZ_EMBEDDINGS:
		m = q->route.azure_v1 ? emu_json_str(q->json, "model") : q->route.id;
		break;
	case EMU_OP_AZ_RESPONSES:
	case EMU_OP_AZ_FT_CREATE:
		m = emu_json_str(q->json, "model");
		break;
	default:
		break;
	}
	if (m)
		snprintf(out, n, "%s", m);
}

void emu_azure_handle(const emu_req *q, emu_resp *r, emu_result *res)
{
	bool needs_version = !q->route.azure_v1;

	emu_resp_header(r, "x-ms-region", "East US");
	r->gzip = q->gzip_ok;
	if (q->route.op == EMU_OP_NONE || (needs_version && !q->route.has_api_version)) {
		r->status = 404;
		tf_buf_reset(&r->body);
		tf_buf_append_str(&r->body, "{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}");
		return;
	}
	switch (q->route.op) {
	case EMU_OP_AZ_CHAT:
	case EMU_OP_AZ_COMPLETIONS:
	case EMU_OP_AZ_EMBEDDINGS:
	case EMU_OP_AZ_RESPONSES:
		emu_resp_header(r, "x-ratelimit-remaining-requests", "%d", 999);
		emu_resp_header(r, "x-ratelimit-remaining-tokens", "%d", 999000);
		inference(q, r, res);
		return;
	default:
		management(q, r, res);
		return;
	}
}
