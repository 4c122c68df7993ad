#include "streamuse.h"

#include <errno.h>
#include <string.h>

#include "adapt.h"
#include "base64.h"
#include "json.h"

#define BOM_NONE 4
#define BOM_FULL 3

static const uint8_t bom[3] = { 0xEF, 0xBB, 0xBF };

tf_su_format tf_streamuse_format(const char *op)
{
	static const struct {
		const char *op;
		tf_su_format f;
	} map[] = {
		{ "InvokeModelWithResponseStream", TF_SU_BEDROCK_INVOKE },
		{ "ConverseStream", TF_SU_BEDROCK_CONVERSE },
		{ "ChatCompletions", TF_SU_OPENAI_CHAT },
		{ "Completions", TF_SU_OPENAI_CHAT },
		{ "OpenAIChatCompletions", TF_SU_OPENAI_CHAT },
		{ "Responses", TF_SU_OPENAI_RESPONSES },
		{ "OpenAIResponses", TF_SU_OPENAI_RESPONSES },
	};

	for (size_t i = 0; op && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(op, map[i].op) == 0)
			return map[i].f;
	return TF_SU_UNKNOWN;
}

static bool is_es(const tf_streamuse *s)
{
	return s->format == TF_SU_BEDROCK_INVOKE || s->format == TF_SU_BEDROCK_CONVERSE;
}

static bool hiding(const tf_streamuse *s)
{
	return (s->flags & TF_SU_HIDE_USAGE_CHUNK) != 0;
}

int tf_streamuse_init(tf_streamuse *s, const char *operation, uint64_t max_out, unsigned flags)
{
	memset(s, 0, sizeof(*s));
	s->max_out = max_out;
	s->seq = -1;
	s->line_empty = true;
	tf_es_decoder_init(&s->es, TF_SU_MAX_FRAME);
	tf_sse_init(&s->sse, TF_SU_MAX_EVENT);
	tf_buf_init(&s->scratch, TF_SU_MAX_FRAME);
	tf_buf_init(&s->block, TF_SU_MAX_EVENT);
	tf_buf_init(&s->drops, 0);
	s->format = tf_streamuse_format(operation);
	if (s->format == TF_SU_UNKNOWN || (flags & ~TF_SU_HIDE_USAGE_CHUNK) ||
	    ((flags & TF_SU_HIDE_USAGE_CHUNK) && s->format != TF_SU_OPENAI_CHAT)) {
		s->format = TF_SU_UNKNOWN;
		return -EINVAL;
	}
	s->flags = flags;
	return 0;
}

void tf_streamuse_free(tf_streamuse *s)
{
	tf_es_decoder_free(&s->es);
	tf_sse_free(&s->sse);
	tf_buf_free(&s->scratch);
	tf_buf_free(&s->block);
	tf_buf_free(&s->drops);
}

static void set_unreadable(tf_streamuse *s, const char *why)
{
	if (!s->unreadable)
		s->unreadable = why;
}

/* ---- facts ---- */

/* Printable ASCII only: these strings end up in events and logs. */
static void copy_printable(char *dst, size_t cap, const char *src, size_t n)
{
	size_t k = n < cap - 1 ? n : cap - 1;

	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[k] = 0;
}

static void fail(tf_streamuse *s, const char *type, size_t tn, const char *msg, size_t mn)
{
	s->end = TF_SU_FAILED;
	copy_printable(s->err_type, sizeof(s->err_type), type ? type : "error",
		       type ? tn : strlen("error"));
	copy_printable(s->err_msg, sizeof(s->err_msg), msg ? msg : "", msg ? mn : 0);
}

static const tf_json_value *get_type(const tf_json_value *o, const char *key, tf_json_type t)
{
	const tf_json_value *v = o && o->type == TF_JSON_OBJECT ? tf_json_get(o, key) : NULL;

	return v && v->type == t ? v : NULL;
}

static const tf_json_value *get_str(const tf_json_value *o, const char *key)
{
	return get_type(o, key, TF_JSON_STRING);
}

static const tf_json_value *get_obj(const tf_json_value *o, const char *key)
{
	return get_type(o, key, TF_JSON_OBJECT);
}

/* An OpenAI or Anthropic error object: {"code"|"type", "message"}. */
static void fail_json(tf_streamuse *s, const tf_json_value *e)
{
	const tf_json_value *t = get_str(e, "code"), *m = get_str(e, "message");

	if (!t)
		t = get_str(e, "type");
	fail(s, t ? t->u.str.s : NULL, t ? t->u.str.len : 0, m ? m->u.str.s : NULL,
	     m ? m->u.str.len : 0);
}

static void note_model(tf_streamuse *s, const tf_json_value *m)
{
	if (s->model[0] || !m || m->type != TF_JSON_STRING || m->u.str.len == 0)
		return;
	copy_printable(s->model, sizeof(s->model), m->u.str.s, m->u.str.len);
}

static void set_final(tf_streamuse *s, const tf_usage *u)
{
	s->usage = *u;
	s->usage_final = true;
}

static void note_input(tf_streamuse *s, uint64_t in, uint64_t cache_read, uint64_t cache_write)
{
	s->input.input = in;
	s->input.cache_read = cache_read;
	s->input.cache_write = cache_write;
	s->input_known = true;
}

static void note_reported(tf_streamuse *s, uint64_t out)
{
	if (!s->reported_known || out > s->reported_out)
		s->reported_out = out;
	s->reported_known = true;
}

/* A family's last event: with no metrics, its own counts are the usage. */
static void end_marker(tf_streamuse *s)
{
	if (s->end == TF_SU_RUNNING)
		s->end = TF_SU_ENDED;
	if (!s->usage_final && s->input_known && s->reported_known) {
		tf_usage u = s->input;

		u.output = s->reported_out;
		set_final(s, &u);
	}
}

static void bad_event(tf_streamuse *s, size_t payload_len)
{
	s->bad_events++;
	s->est_bytes += payload_len;
}

/* ---- the estimate: generated text ---- */

/* Keys whose strings are not generated text. */
static bool not_text(const char *key)
{
	static const char *const keys[] = { "type", "role", "id", "index", "signature", "p",
					    "obfuscation", "toolUseId", "finish_reason", "stop_reason" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

/* UTF-8 bytes of every string in v (recursively) but those under not_text keys. */
static uint64_t text_bytes(const tf_json_value *v)
{
	uint64_t n = 0;

	switch (v->type) {
	case TF_JSON_STRING:
		return v->u.str.len;
	case TF_JSON_ARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			n += text_bytes(&v->u.arr.items[i]);
		return n;
	case TF_JSON_OBJECT:
		for (size_t i = 0; i < v->u.obj.n; i++)
			if (!not_text(v->u.obj.members[i].key))
				n += text_bytes(&v->u.obj.members[i].value);
		return n;
	default:
		return 0;
	}
}

static void count(tf_streamuse *s, const tf_json_value *v)
{
	if (v)
		s->est_bytes += text_bytes(v);
}

/* ---- Bedrock: model-native chunk events ---- */

static bool metrics(tf_streamuse *s, const tf_json_value *root)
{
	const tf_json_value *m = get_obj(root, "amazon-bedrock-invocationMetrics");
	tf_usage u = { 0 };

	if (!m || !tf_json_u64(m, "inputTokenCount", &u.input) ||
	    !tf_json_u64(m, "outputTokenCount", &u.output))
		return false;
	tf_json_u64(m, "cacheReadInputTokenCount", &u.cache_read);
	tf_json_u64(m, "cacheWriteInputTokenCount", &u.cache_write);
	note_reported(s, u.output);
	set_final(s, &u);
	return true;
}

static void anthropic_event(tf_streamuse *s, const tf_json_value *root, const tf_json_value *type)
{
	const char *t = type->u.str.s;
	tf_usage u;
	uint64_t v;

	if (strcmp(t, "message_start") == 0) {
		const tf_json_value *m = get_obj(root, "message");

		note_model(s, get_str(m, "model"));
		if (m && tf_adapt_bedrock_usage(m, &u)) {
			note_input(s, u.input, u.cache_read, u.cache_write);
			note_reported(s, u.output);
		}
	} else if (strcmp(t, "content_block_start") == 0) {
		count(s, get_obj(root, "content_block"));
	} else if (strcmp(t, "content_block_delta") == 0) {
		count(s, get_obj(root, "delta"));
	} else if (strcmp(t, "message_delta") == 0) {
		const tf_json_value *us = get_obj(root, "usage");

		if (tf_json_u64(us, "output_tokens", &v))
			note_reported(s, v);
		/* Newer responses repeat the (cumulative) input counts here. */
		if (s->input_known && tf_json_u64(us, "input_tokens", &v)) {
			uint64_t cr = s->input.cache_read, cw = s->input.cache_write;

			tf_json_u64(us, "cache_read_input_tokens", &cr);
			tf_json_u64(us, "cache_creation_input_tokens", &cw);
			note_input(s, v, cr, cw);
		}
	} else if (strcmp(t, "message_stop") == 0) {
		end_marker(s);
	} else if (strcmp(t, "completion") == 0) {
		const tf_json_value *c = get_str(root, "completion");

		if (c)
			s->est_bytes += c->u.str.len;
		if (get_str(root, "stop_reason"))
			end_marker(s);
	} else if (strcmp(t, "error") == 0) {
		fail_json(s, get_obj(root, "error"));
	}
}

/* Titan, Llama, Mistral, Cohere, Nova: each recognised by its own keys. */
static void family_event(tf_streamuse *s, const tf_json_value *root)
{
	const tf_json_value *v, *a;
	uint64_t in, out;
	bool last = false;

	if ((v = get_str(root, "outputText")) != NULL) { /* Titan */
		s->est_bytes += v->u.str.len;
		if (tf_json_u64(root, "inputTextTokenCount", &in))
			note_input(s, in, 0, 0);
		if (tf_json_u64(root, "totalOutputTextTokenCount", &out))
			note_reported(s, out);
		last = get_str(root, "completionReason") != NULL;
	}
	if ((v = get_str(root, "generation")) != NULL) { /* Llama */
		s->est_bytes += v->u.str.len;
		if (tf_json_u64(root, "prompt_token_count", &in))
			note_input(s, in, 0, 0);
		if (tf_json_u64(root, "generation_token_count", &out))
			note_reported(s, out);
		last = last || get_str(root, "stop_reason") != NULL;
	}
	a = get_type(root, "outputs", TF_JSON_ARRAY); /* Mistral text */
	if (!a)
		a = get_type(root, "choices", TF_JSON_ARRAY); /* Mistral chat */
	if (!a)
		a = get_type(root, "generations", TF_JSON_ARRAY); /* Cohere Command */
	for (size_t i = 0; a && i < a->u.arr.n; i++) {
		const tf_json_value *o = &a->u.arr.items[i];

		count(s, get_str(o, "text"));
		count(s, get_obj(o, "message"));
		count(s, get_obj(o, "delta"));
		last = last || get_str(o, "stop_reason") || get_str(o, "finish_reason");
	}
	if ((v = get_str(root, "text")) != NULL) /* Cohere */
		s->est_bytes += v->u.str.len;
	if (get_type(root, "is_finished", TF_JSON_TRUE))
		last = true;
	if ((v = get_obj(root, "contentBlockDelta")) != NULL) /* Nova */
		count(s, get_obj(v, "delta"));
	if ((v = get_obj(root, "contentBlockStart")) != NULL)
		count(s, get_obj(v, "start"));
	if ((v = get_obj(root, "metadata")) != NULL && !s->usage_final) {
		tf_usage u;

		if (tf_adapt_bedrock_usage(v, &u))
			set_final(s, &u);
	}
	if (get_obj(root, "messageStop") || get_obj(root, "metadata"))
		last = true;
	if (last)
		end_marker(s);
}

static void native_event(tf_streamuse *s, const tf_json_value *root)
{
	const tf_json_value *type = get_str(root, "type");
	bool had_metrics;

	if (type)
		anthropic_event(s, root, type);
	else
		family_event(s, root);
	/* After the family's own fields: the metrics are what Bedrock bills. */
	had_metrics = metrics(s, root);
	if (had_metrics)
		end_marker(s);
}

static void invoke_chunk(tf_streamuse *s, const uint8_t *payload, size_t n)
{
	tf_json_doc outer = { 0 }, inner = { 0 };
	const tf_json_value *b;
	ptrdiff_t got = -1;

	if (tf_json_parse(&outer, (const char *)payload, n, NULL, NULL) == 0 &&
	    (b = get_str(outer.root, "bytes")) != NULL) {
		tf_buf_reset(&s->scratch);
		if (tf_buf_reserve(&s->scratch, tf_base64_decoded_max(b->u.str.len)) == 0)
			got = tf_base64_decode(b->u.str.s, b->u.str.len, s->scratch.data,
					       s->scratch.alloc);
	}
	if (got >= 0 && tf_json_parse(&inner, (const char *)s->scratch.data, (size_t)got, NULL,
				      NULL) == 0 && inner.root->type == TF_JSON_OBJECT)
		native_event(s, inner.root);
	else
		bad_event(s, n);
	tf_json_doc_free(&inner);
	tf_json_doc_free(&outer);
}

/* ---- Bedrock: ConverseStream events ---- */

static void converse_event(tf_streamuse *s, const char *type, size_t tn, const uint8_t *payload,
			   size_t n)
{
	tf_json_doc doc = { 0 };
	const tf_json_value *r;
	char t[32];

	if (tf_json_parse(&doc, (const char *)payload, n, NULL, NULL) != 0 ||
	    doc.root->type != TF_JSON_OBJECT) {
		bad_event(s, n);
		goto out;
	}
	r = doc.root;
	copy_printable(t, sizeof(t), type, tn);
	if (strcmp(t, "contentBlockDelta") == 0) {
		count(s, get_obj(r, "delta"));
	} else if (strcmp(t, "contentBlockStart") == 0) {
		count(s, get_obj(r, "start"));
	} else if (strcmp(t, "messageStop") == 0) {
		end_marker(s);
	} else if (strcmp(t, "metadata") == 0) {
		tf_usage u;

		if (tf_adapt_bedrock_usage(r, &u))
			set_final(s, &u);
		end_marker(s);
	}
out:
	tf_json_doc_free(&doc);
}

static bool span_is(const char *v, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(v, lit, n) == 0;
}

/* botocore: an exception's message is the payload's "message" (or "Message"). */
static void exception_frame(tf_streamuse *s, const tf_es_message *m)
{
	tf_json_doc doc = { 0 };
	const tf_json_value *msg = NULL;
	const char *t = NULL;
	size_t tn = 0;

	tf_es_find_string(m, ":exception-type", &t, &tn);
	if (tf_json_parse(&doc, (const char *)m->payload, m->payload_len, NULL, NULL) == 0) {
		msg = get_str(doc.root, "message");
		if (!msg)
			msg = get_str(doc.root, "Message");
	}
	if (msg)
		fail(s, t, tn, msg->u.str.s, msg->u.str.len);
	else
		fail(s, t, tn, (const char *)m->payload, m->payload_len);
	tf_json_doc_free(&doc);
}

static int on_frame(void *ctx, const tf_es_message *m)
{
	tf_streamuse *s = ctx;
	const char *mt, *v, *w;
	size_t mtn, vn, wn;

	s->boundary += m->raw_len;
	if (!tf_es_find_string(m, ":message-type", &mt, &mtn))
		return 0;
	if (span_is(mt, mtn, "exception")) {
		exception_frame(s, m);
	} else if (span_is(mt, mtn, "error")) {
		if (!tf_es_find_string(m, ":error-code", &v, &vn))
			v = NULL, vn = 0;
		if (!tf_es_find_string(m, ":error-message", &w, &wn))
			w = NULL, wn = 0;
		fail(s, v, vn, w, wn);
	} else if (span_is(mt, mtn, "event") && tf_es_find_string(m, ":event-type", &v, &vn)) {
		if (s->format == TF_SU_BEDROCK_INVOKE && span_is(v, vn, "chunk"))
			invoke_chunk(s, m->payload, m->payload_len);
		else if (s->format == TF_SU_BEDROCK_CONVERSE)
			converse_event(s, v, vn, m->payload, m->payload_len);
	}
	return 0;
}

static void es_bytes(tf_streamuse *s, const uint8_t *p, size_t n)
{
	int r = tf_es_decoder_feed(&s->es, p, n, on_frame, s);

	if (r == TF_ES_ECRC)
		set_unreadable(s, "event-stream CRC mismatch");
	else if (r == TF_ES_ETOOBIG)
		set_unreadable(s, "event-stream frame over the cap");
	else if (r == -ENOMEM)
		set_unreadable(s, "out of memory");
	else if (r < 0)
		set_unreadable(s, "malformed event-stream frame");
}

/* ---- OpenAI SSE events ---- */

static void chat_event(tf_streamuse *s, const tf_json_value *root)
{
	const tf_json_value *e = tf_json_get(root, "error"), *ch, *u;

	if (e && e->type == TF_JSON_OBJECT) {
		fail_json(s, e);
		return;
	}
	if (e && e->type == TF_JSON_STRING) {
		fail(s, NULL, 0, e->u.str.s, e->u.str.len);
		return;
	}
	note_model(s, tf_json_get(root, "model"));
	ch = get_type(root, "choices", TF_JSON_ARRAY);
	for (size_t i = 0; ch && i < ch->u.arr.n; i++) {
		const tf_json_value *c = &ch->u.arr.items[i];

		count(s, get_obj(c, "delta"));
		count(s, get_str(c, "text")); /* completions */
	}
	u = get_obj(root, "usage");
	if (u) {
		tf_usage x = { 0 };

		if (tf_adapt_openai_usage(u, &x))
			set_final(s, &x);
	}
}

static bool ends_with(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && memcmp(s + n - l, lit, l) == 0;
}

static void responses_event(tf_streamuse *s, const tf_sse_event *ev, const tf_json_value *root)
{
	const tf_json_value *tv = get_str(root, "type"), *r = get_obj(root, "response"), *d;
	char t[64];
	int64_t seq;

	if (tv)
		copy_printable(t, sizeof(t), tv->u.str.s, tv->u.str.len);
	else
		copy_printable(t, sizeof(t), ev->event, ev->event_len);
	d = tf_json_get(root, "sequence_number");
	if (d && tf_json_int64(d, &seq) == 0 && seq > s->seq)
		s->seq = seq;
	note_model(s, r ? tf_json_get(r, "model") : NULL);
	if (ends_with(t, strlen(t), ".delta")) {
		d = tf_json_get(root, "delta");
		if (d)
			count(s, d);
		return;
	}
	if (strcmp(t, "response.completed") == 0 || strcmp(t, "response.incomplete") == 0 ||
	    strcmp(t, "response.failed") == 0) {
		tf_usage u = { 0 };

		if (tf_adapt_openai_usage(get_obj(r, "usage"), &u))
			set_final(s, &u);
		if (strcmp(t, "response.failed") == 0)
			fail_json(s, get_obj(r, "error"));
		else if (s->end == TF_SU_RUNNING)
			s->end = TF_SU_ENDED;
	} else if (strcmp(t, "error") == 0) {
		d = get_obj(root, "error");
		fail_json(s, d ? d : root);
	}
}

/* ---- hiding the usage chunk ---- */

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_ws(const char *t, size_t n, size_t i)
{
	while (i < n && json_ws(t[i]))
		i++;
	return i;
}

/* t[i] is '"': the index after the closing quote, 0 if there is none. */
static size_t skip_string(const char *t, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return 0;
}

/* The end of the value starting at t[i] (valid JSON: the DOM parsed it), 0 on failure. */
static size_t skip_value(const char *t, size_t n, size_t i)
{
	size_t depth = 0;

	while (i < n) {
		char c = t[i];

		if (c == '"') {
			i = skip_string(t, n, i);
			if (i == 0 || depth == 0)
				return i;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && (c == ',' || json_ws(c))) {
			return i;
		}
		i++;
	}
	return depth == 0 ? i : 0;
}

/*
 * The bytes to cut from the JSON object t[0..n) so that it no longer has
 * the top-level member key and stays valid: the member with the comma
 * before it (and the spaces around that comma), or, when it is first, with
 * the comma after it.
 */
static bool member_span(const char *t, size_t n, const char *key, size_t *from, size_t *to)
{
	size_t i = skip_ws(t, n, 0), kl = strlen(key), prev_end = 0;
	bool have_prev = false;

	if (i >= n || t[i] != '{')
		return false;
	for (i++;;) {
		size_t ks, ke, ve;
		bool match;

		i = skip_ws(t, n, i);
		if (i >= n || t[i] != '"')
			return false;
		ks = i;
		ke = skip_string(t, n, i);
		if (ke == 0)
			return false;
		match = ke - ks - 2 == kl && memcmp(t + ks + 1, key, kl) == 0;
		i = skip_ws(t, n, ke);
		if (i >= n || t[i] != ':')
			return false;
		i = skip_ws(t, n, i + 1);
		ve = skip_value(t, n, i);
		if (ve <= i)
			return false;
		i = skip_ws(t, n, ve);
		if (i >= n || (t[i] != ',' && t[i] != '}'))
			return false;
		if (match) {
			*from = have_prev ? prev_end : ks;
			*to = have_prev || t[i] == '}' ? ve : skip_ws(t, n, i + 1);
			return true;
		}
		if (t[i] == '}')
			return false;
		have_prev = true;
		prev_end = ve;
		i++;
	}
}

/* The value of the block's only data line, as offsets into the block. */
static bool only_data_line(const tf_streamuse *s, size_t *from, size_t *to)
{
	const char *b = (const char *)s->block.data;
	size_t n = s->block.len, i = 0, found = 0;

	if (s->block_start == 0 && s->bom == BOM_FULL)
		i = 3;
	while (i < n) {
		size_t j = i;

		while (j < n && b[j] != '\r' && b[j] != '\n')
			j++;
		if (j - i >= 4 && memcmp(b + i, "data", 4) == 0 && (j - i == 4 || b[i + 4] == ':')) {
			size_t v = i + 4 < j ? i + 5 : j;

			if (v < j && b[v] == ' ')
				v++;
			*from = v;
			*to = j;
			found++;
		}
		i = j + 1;
		if (j < n && b[j] == '\r' && i < n && b[i] == '\n')
			i++;
	}
	return found == 1;
}

/* Decides what of the event just dispatched (its block is in s->block) goes. */
static void hide_verdict(tf_streamuse *s, const tf_json_value *root)
{
	const tf_json_member *u = tf_json_get_member(root, "usage");
	const tf_json_value *ch = tf_json_get(root, "choices");
	size_t df = 0, dt = 0, mf = 0, mt = 0;

	if (!u)
		return;
	if (u->value.type != TF_JSON_NULL &&
	    (!ch || (ch->type == TF_JSON_ARRAY && ch->u.arr.n == 0))) {
		s->verdict = TF_SU_DROP_EVENT;
		return;
	}
	if (only_data_line(s, &df, &dt) &&
	    member_span((const char *)s->block.data + df, dt - df, "usage", &mf, &mt)) {
		s->verdict = TF_SU_DROP_MEMBER;
		s->member.start = df + mf;
		s->member.end = df + mt;
	}
}

static int on_sse_event(void *ctx, const tf_sse_event *ev)
{
	tf_streamuse *s = ctx;
	tf_json_doc doc = { 0 };

	if (ev->data_len >= 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
		if (s->end == TF_SU_RUNNING)
			s->end = TF_SU_ENDED;
		return 0;
	}
	if (tf_json_parse(&doc, ev->data, ev->data_len, NULL, NULL) != 0 ||
	    doc.root->type != TF_JSON_OBJECT) {
		bad_event(s, ev->data_len);
	} else {
		if (s->format == TF_SU_OPENAI_CHAT)
			chat_event(s, doc.root);
		else
			responses_event(s, ev, doc.root);
		if (hiding(s))
			hide_verdict(s, doc.root);
	}
	tf_json_doc_free(&doc);
	return 0;
}

static int on_sse_overflow(void *ctx)
{
	set_unreadable(ctx, "SSE event or line over the cap");
	return -1;
}

static void push_drop(tf_streamuse *s, uint64_t start, uint64_t end, int kind)
{
	tf_su_span sp = { start, end, kind };

	if (end > start && tf_buf_append(&s->drops, &sp, sizeof(sp)) < 0)
		set_unreadable(s, "out of memory");
}

/* The block ended at offset end (after its blank line's CR or LF). */
static void end_block(tf_streamuse *s, uint64_t end, bool cr)
{
	uint64_t start = s->block_start;

	if (start == 0 && s->bom == BOM_FULL)
		start = 3; /* the BOM opens the stream, not this event */
	if (s->verdict == TF_SU_DROP_EVENT)
		push_drop(s, start, end, TF_SU_DROP_EVENT);
	else if (s->verdict == TF_SU_DROP_MEMBER)
		push_drop(s, s->block_start + s->member.start, s->block_start + s->member.end,
			  TF_SU_DROP_MEMBER);
	s->cr_end = cr;
	s->cr_drop = cr && s->verdict == TF_SU_DROP_EVENT;
	s->verdict = 0;
	s->boundary = s->block_start = end;
	tf_buf_reset(&s->block);
}

/* The LF at offset at completes the CR that ended the last block. */
static void lf_after_block(tf_streamuse *s, uint64_t at)
{
	if (s->cr_drop)
		push_drop(s, at, at + 1, TF_SU_DROP_EVENT);
	s->cr_end = s->cr_drop = false;
	s->boundary = s->block_start = at + 1;
}

static void block_bytes(tf_streamuse *s, const uint8_t *p, size_t n)
{
	if (hiding(s) && !s->unreadable && tf_buf_append(&s->block, p, n) < 0)
		set_unreadable(s, "SSE event or line over the cap");
}

static void sse_parse(tf_streamuse *s, const uint8_t *p, size_t n)
{
	tf_sse_sink sink = { s, on_sse_event, on_sse_overflow };

	if (!s->unreadable && tf_sse_feed(&s->sse, p, n, &sink) == -ENOMEM)
		set_unreadable(s, "out of memory");
}

/*
 * Splits the bytes into blocks (an event and its blank line) with the line
 * rules of shim/sse.h, and hands each finished block to the SSE parser on
 * its own, so an event dispatched during that call belongs to that block.
 */
static void sse_bytes(tf_streamuse *s, const uint8_t *p, size_t n)
{
	size_t seg = 0;  /* p[seg..) not yet given to the SSE parser */
	size_t bseg = 0; /* p[bseg..) not yet copied into the block */

	for (size_t i = 0; i < n && !s->unreadable; i++) {
		uint8_t c = p[i];
		uint64_t at = s->fed + i;

		if (s->after_cr) {
			s->after_cr = false;
			if (c == '\n') {
				if (s->cr_end) {
					lf_after_block(s, at);
					bseg = i + 1;
				}
				continue;
			}
		}
		s->cr_end = s->cr_drop = false;
		if (s->bom < BOM_FULL) {
			if (c == bom[s->bom]) {
				s->bom++;
				continue;
			}
			if (s->bom > 0) /* a partial BOM is text */
				s->line_empty = false;
			s->bom = BOM_NONE;
		}
		if (c != '\r' && c != '\n') {
			/* The rest of the line up to its CR or LF changes nothing
			 * more (the BOM check is settled by now): skip it at once. */
			const uint8_t *lf = memchr(p + i, '\n', n - i);
			size_t m = lf ? (size_t)(lf - (p + i)) : n - i;
			const uint8_t *cr = memchr(p + i, '\r', m);

			s->line_empty = false;
			i += (cr ? (size_t)(cr - (p + i)) : m) - 1;
			continue;
		}
		s->after_cr = c == '\r';
		if (!s->line_empty) {
			s->line_empty = true;
			continue;
		}
		block_bytes(s, p + bseg, i + 1 - bseg);
		bseg = i + 1;
		sse_parse(s, p + seg, i + 1 - seg);
		seg = i + 1;
		if (!s->unreadable)
			end_block(s, at + 1, c == '\r');
	}
	if (!s->unreadable) {
		block_bytes(s, p + bseg, n - bseg);
		sse_parse(s, p + seg, n - seg);
	}
}

/* ---- feeding ---- */

int tf_streamuse_feed(tf_streamuse *s, const void *p, size_t n)
{
	if (s->finished)
		return s->unreadable ? TF_SU_UNREADABLE : 0;
	if (!s->unreadable && n) {
		if (is_es(s))
			es_bytes(s, p, n);
		else if (s->format != TF_SU_UNKNOWN)
			sse_bytes(s, p, n);
	}
	s->fed += n;
	if (s->format == TF_SU_UNKNOWN)
		s->boundary = s->fed;
	s->safe = hiding(s) && !s->unreadable ? s->block_start : s->fed;
	return s->unreadable ? TF_SU_UNREADABLE : 0;
}

void tf_streamuse_finish(tf_streamuse *s)
{
	if (s->finished)
		return;
	s->finished = true;
	if (is_es(s) && !tf_es_decoder_idle(&s->es))
		set_unreadable(s, "the stream ends inside a frame");
	if (s->end == TF_SU_RUNNING)
		s->end = TF_SU_CUT;
	s->cr_end = s->cr_drop = false;
	s->safe = s->fed;
}

/* ---- queries ---- */

bool tf_streamuse_usage(const tf_streamuse *s, tf_usage *u)
{
	if (s->usage_final)
		*u = s->usage;
	return s->usage_final;
}

uint64_t tf_streamuse_output_estimate(const tf_streamuse *s)
{
	uint64_t v;

	if (s->usage_final)
		return s->usage.output + s->usage.reasoning;
	v = s->est_bytes > s->reported_out ? s->est_bytes : s->reported_out;
	if (s->max_out && v > s->max_out)
		v = s->max_out > s->reported_out ? s->max_out : s->reported_out;
	return v;
}

bool tf_streamuse_usage_so_far(const tf_streamuse *s, tf_usage *u)
{
	if (s->usage_final) {
		*u = s->usage;
		return true;
	}
	memset(u, 0, sizeof(*u));
	if (s->input_known)
		*u = s->input;
	u->output = tf_streamuse_output_estimate(s);
	return s->input_known;
}

tf_su_end tf_streamuse_end(const tf_streamuse *s)
{
	return s->end;
}

const char *tf_streamuse_error_type(const tf_streamuse *s)
{
	return s->err_type;
}

const char *tf_streamuse_error_message(const tf_streamuse *s)
{
	return s->err_msg;
}

const char *tf_streamuse_unreadable(const tf_streamuse *s)
{
	return s->unreadable;
}

const char *tf_streamuse_model(const tf_streamuse *s)
{
	return s->model;
}

uint64_t tf_streamuse_fed(const tf_streamuse *s)
{
	return s->fed;
}

uint64_t tf_streamuse_boundary(const tf_streamuse *s)
{
	return s->boundary;
}

uint64_t tf_streamuse_safe_prefix(const tf_streamuse *s)
{
	return s->safe;
}

bool tf_streamuse_next_drop(tf_streamuse *s, tf_su_span *span)
{
	size_t count = s->drops.len / sizeof(tf_su_span);

	if (s->drops_head >= count)
		return false;
	memcpy(span, s->drops.data + s->drops_head * sizeof(tf_su_span), sizeof(*span));
	if (++s->drops_head == count) {
		tf_buf_reset(&s->drops);
		s->drops_head = 0;
	}
	return true;
}

/* ---- terminators ---- */

#define TERM_CAP ((size_t)64 << 10)

static int error_object(tf_buf *b, const char *code, const char *msg)
{
	int r = tf_json_open_object(b);

	if (!r)
		r = tf_json_put_key(b, "message");
	if (!r)
		r = tf_json_put_cstr(b, msg);
	if (!r)
		r = tf_json_put_key(b, "type");
	if (!r)
		r = tf_json_put_cstr(b, "tokenfence");
	if (!r)
		r = tf_json_put_key(b, "code");
	if (!r)
		r = tf_json_put_cstr(b, code);
	if (!r)
		r = tf_json_put_key(b, "param");
	if (!r)
		r = tf_json_put_null(b);
	if (!r)
		r = tf_json_close_object(b);
	return r;
}

static int bedrock_term(const char *msg, tf_buf *out)
{
	tf_buf pl;
	tf_es_header h[3] = {
		tf_es_string_header(":message-type", "exception"),
		tf_es_string_header(":exception-type", "modelStreamErrorException"),
		tf_es_string_header(":content-type", "application/json"),
	};
	int r;

	tf_buf_init(&pl, TERM_CAP);
	r = tf_json_open_object(&pl);
	if (!r)
		r = tf_json_put_key(&pl, "message");
	if (!r)
		r = tf_json_put_cstr(&pl, msg);
	if (!r)
		r = tf_json_put_key(&pl, "originalStatusCode");
	if (!r)
		r = tf_json_put_int(&pl, 402);
	if (!r)
		r = tf_json_close_object(&pl);
	if (!r)
		r = tf_es_encode(out, h, 3, pl.data, pl.len);
	tf_buf_free(&pl);
	return r;
}

static int sse_term(const tf_streamuse *s, const char *code, const char *msg, tf_buf *out)
{
	tf_buf j, ev;
	int r;

	tf_buf_init(&j, TERM_CAP);
	tf_buf_init(&ev, TERM_CAP);
	if (s->format == TF_SU_OPENAI_CHAT) {
		r = tf_json_open_object(&j);
		if (!r)
			r = tf_json_put_key(&j, "error");
		if (!r)
			r = error_object(&j, code, msg);
		if (!r)
			r = tf_json_close_object(&j);
		if (!r)
			r = tf_buf_append_str(&ev, "data: ");
	} else {
		r = tf_json_open_object(&j);
		if (!r)
			r = tf_json_put_key(&j, "type");
		if (!r)
			r = tf_json_put_cstr(&j, "error");
		if (!r)
			r = tf_json_put_key(&j, "code");
		if (!r)
			r = tf_json_put_cstr(&j, code);
		if (!r)
			r = tf_json_put_key(&j, "message");
		if (!r)
			r = tf_json_put_cstr(&j, msg);
		if (!r)
			r = tf_json_put_key(&j, "param");
		if (!r)
			r = tf_json_put_null(&j);
		if (!r)
			r = tf_json_put_key(&j, "sequence_number");
		if (!r)
			r = tf_json_put_int(&j, s->seq + 1);
		if (!r)
			r = tf_json_put_key(&j, "error");
		if (!r)
			r = error_object(&j, code, msg);
		if (!r)
			r = tf_json_close_object(&j);
		if (!r)
			r = tf_buf_append_str(&ev, "event: error\ndata: ");
	}
	if (!r)
		r = tf_buf_append(&ev, j.data, j.len);
	if (!r)
		r = tf_buf_append_str(&ev, "\n\n");
	if (!r)
		r = tf_buf_append(out, ev.data, ev.len);
	tf_buf_free(&j);
	tf_buf_free(&ev);
	return r;
}

int tf_streamuse_terminator(const tf_streamuse *s, const char *code, const char *reason,
			    tf_buf *out)
{
	tf_buf msg;
	int r;

	if (s->format == TF_SU_UNKNOWN)
		return -EINVAL;
	tf_buf_init(&msg, TERM_CAP);
	r = tf_buf_printf(&msg, "TokenFence: %s", reason ? reason : "budget exceeded");
	if (!r)
		r = is_es(s) ? bedrock_term((const char *)msg.data, out)
			     : sse_term(s, code ? code : "budget_exceeded",
					(const char *)msg.data, out);
	tf_buf_free(&msg);
	return r;
}
