#include "streamuse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "base64.h"
#include "json.h"
#include "jsonscan.h"

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
	free(s->tape);
	s->tape = NULL;
}

static void set_unreadable(tf_streamuse *s, const char *why)
{
	if (!s->unreadable)
		s->unreadable = why;
}

/* ---- JSON values: on the tape or in a DOM ---- */

/*
 * An event's JSON is read on a tape (policy/jsonscan.h: no allocation, no
 * copy) unless the tape cannot take it or its facts need code written for
 * the DOM (tf_adapt_*_usage: final usage, which comes once per stream);
 * then it is parsed into a DOM. Both give the same facts: the handlers below
 * read either through the jv helpers. tests/fuzz/fuzz-streamuse.c checks it
 * against a reader that takes the DOM for every event (s->dom_only).
 */
typedef struct jv {
	const tf_json_value *d; /* in a DOM */
	const tf_jscan *t;      /* or on a tape */
	const tf_jnode *n;
} jv;

static const jv nil;

static bool jv_ok(jv v)
{
	return v.d || v.n;
}

static tf_json_type jv_type(jv v)
{
	return v.d ? v.d->type : tf_jscan_type(v.n);
}

static jv jv_get(jv o, const char *key)
{
	jv r = nil;

	if (o.d) {
		r.d = tf_json_get(o.d, key);
	} else if (o.n) {
		r.n = tf_jscan_get(o.t, o.n, key);
		r.t = r.n ? o.t : NULL;
	}
	return r;
}

static jv get_type(jv o, const char *key, tf_json_type t)
{
	jv v = jv_ok(o) && jv_type(o) == TF_JSON_OBJECT ? jv_get(o, key) : nil;

	return jv_ok(v) && jv_type(v) == t ? v : nil;
}

static jv get_str(jv o, const char *key)
{
	return get_type(o, key, TF_JSON_STRING);
}

static jv get_obj(jv o, const char *key)
{
	return get_type(o, key, TF_JSON_OBJECT);
}

/* A string's decoded length. */
static size_t str_len(jv v)
{
	return v.d ? v.d->u.str.len : v.n->len;
}

/* The first decoded bytes of a string, up to cap; how many. */
static size_t str_copy(jv v, char *dst, size_t cap)
{
	size_t k;

	if (v.n)
		return tf_jscan_str_copy(v.t, v.n, dst, cap);
	k = v.d->u.str.len < cap ? v.d->u.str.len : cap;
	memcpy(dst, v.d->u.str.s, k);
	return k;
}

/* A string as a C string, cut to cap - 1 bytes: compared with strcmp() to
 * names shorter than that, it compares as the whole string would. */
static const char *str_c(jv v, char *buf, size_t cap)
{
	if (v.d)
		return v.d->u.str.s;
	buf[str_copy(v, buf, cap - 1)] = 0;
	return buf;
}

/* As tf_json_u64() (shim/adapt.h): a non-negative integer member. */
static bool u64_member(jv o, const char *key, uint64_t *out)
{
	jv v = jv_ok(o) ? jv_get(o, key) : nil;
	int64_t x;

	if (!jv_ok(v) || (v.d ? tf_json_int64(v.d, &x) : tf_jscan_int64(v.t, v.n, &x)) < 0 ||
	    x < 0)
		return false;
	*out = (uint64_t)x;
	return true;
}

static bool int64_of(jv v, int64_t *out)
{
	return (v.d ? tf_json_int64(v.d, out) : tf_jscan_int64(v.t, v.n, out)) == 0;
}

/* An array's items: first, then next. */
static jv first_item(jv a)
{
	jv r = nil;

	if (a.d) {
		r.d = a.d->u.arr.n ? &a.d->u.arr.items[0] : NULL;
	} else {
		r.n = tf_jscan_first(a.t, a.n);
		r.t = r.n ? a.t : NULL;
	}
	return r;
}

static jv next_item(jv a, jv it)
{
	jv r = nil;

	if (a.d) {
		r.d = it.d + 1 < a.d->u.arr.items + a.d->u.arr.n ? it.d + 1 : NULL;
	} else {
		r.n = tf_jscan_next(a.t, a.n, it.n);
		r.t = r.n ? a.t : NULL;
	}
	return r;
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

/* fail() with a type from the event's header (or NULL) and a JSON message (or nil). */
static void fail_with(tf_streamuse *s, const char *type, size_t tn, jv m)
{
	char msg[TF_SU_ERR_MSG_MAX];

	if (!jv_ok(m)) {
		fail(s, type, tn, NULL, 0);
		return;
	}
	fail(s, type, tn, msg, str_copy(m, msg, sizeof(msg) - 1));
}

/* An OpenAI or Anthropic error object: {"code"|"type", "message"}. */
static void fail_json(tf_streamuse *s, jv e)
{
	jv t = get_str(e, "code"), m = get_str(e, "message");
	char type[TF_SU_ERR_TYPE_MAX];

	if (!jv_ok(t))
		t = get_str(e, "type");
	if (!jv_ok(t))
		fail_with(s, NULL, 0, m);
	else
		fail_with(s, type, str_copy(t, type, sizeof(type) - 1), m);
}

static void note_model(tf_streamuse *s, jv m)
{
	char buf[TF_CALL_MODEL_MAX];

	if (s->model[0] || !jv_ok(m) || jv_type(m) != TF_JSON_STRING || str_len(m) == 0)
		return;
	copy_printable(s->model, sizeof(s->model), buf, str_copy(m, buf, sizeof(buf) - 1));
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

/* ---- parsing an event ---- */

/* Values on the tape; an event with more goes to the DOM. */
#define SU_TAPE_NODES 512

enum { PARSED = 0, NEED_DOM = 1, BAD = -1 };

/* On the tape: PARSED, NEED_DOM (the tape cannot take it), or BAD. */
static int on_tape(tf_streamuse *s, tf_jscan *js, const void *p, size_t n, jv *v)
{
	int r;

	if (s->dom_only)
		return NEED_DOM;
	if (!s->tape) {
		s->tape = malloc(SU_TAPE_NODES * sizeof(*s->tape));
		if (!s->tape)
			return NEED_DOM;
	}
	r = tf_jscan_parse(js, p, n, s->tape, SU_TAPE_NODES);
	if (r == TF_JSCAN_OK) {
		*v = (jv){ .t = js, .n = &js->nodes[0] };
		return PARSED;
	}
	return r == TF_JSCAN_UNSURE ? NEED_DOM : BAD;
}

static int in_dom(tf_json_doc *doc, const void *p, size_t n, jv *v)
{
	if (tf_json_parse(doc, p, n, NULL, NULL) != 0)
		return BAD;
	*v = (jv){ .d = doc->root };
	return PARSED;
}

/* ---- the estimate: generated text ---- */

/* Keys whose strings are not generated text. */
static bool not_text(const char *k, size_t n)
{
	switch (n) {
	case 1:
		return k[0] == 'p';
	case 2:
		return memcmp(k, "id", 2) == 0;
	case 4:
		return memcmp(k, "type", 4) == 0 || memcmp(k, "role", 4) == 0;
	case 5:
		return memcmp(k, "index", 5) == 0;
	case 9:
		return memcmp(k, "signature", 9) == 0 || memcmp(k, "toolUseId", 9) == 0;
	case 11:
		return memcmp(k, "obfuscation", 11) == 0 || memcmp(k, "stop_reason", 11) == 0;
	case 13:
		return memcmp(k, "finish_reason", 13) == 0;
	default:
		return false;
	}
}

/* UTF-8 bytes of every string in v (recursively) but those under not_text keys. */
static uint64_t dom_text_bytes(const tf_json_value *v)
{
	uint64_t n = 0;

	switch (v->type) {
	case TF_JSON_STRING:
		return v->u.str.len;
	case TF_JSON_ARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			n += dom_text_bytes(&v->u.arr.items[i]);
		return n;
	case TF_JSON_OBJECT:
		for (size_t i = 0; i < v->u.obj.n; i++) {
			const tf_json_member *m = &v->u.obj.members[i];

			/* The key as a C string, as it always was compared. */
			if (!not_text(m->key, strlen(m->key)))
				n += dom_text_bytes(&m->value);
		}
		return n;
	default:
		return 0;
	}
}

/* The same on the tape: a value's nodes follow it, so one pass over them,
 * skipping the subtrees under not_text keys, sums the same strings. */
static uint64_t tape_text_bytes(const tf_jscan *js, const tf_jnode *v)
{
	const tf_jnode *c = v + 1, *end = &js->nodes[v->next];
	uint64_t n = 0;

	if (v->type == TF_JSON_STRING)
		return v->len;
	while (c < end) {
		if (c->key_len && not_text(js->text + c->key, c->key_len)) {
			c = &js->nodes[c->next];
			continue;
		}
		if (c->type == TF_JSON_STRING)
			n += c->len;
		c++;
	}
	return n;
}

static void count(tf_streamuse *s, jv v)
{
	if (v.d)
		s->est_bytes += dom_text_bytes(v.d);
	else if (v.n)
		s->est_bytes += tape_text_bytes(v.t, v.n);
}

/* A string's length (the text of a known text field). */
static void count_str(tf_streamuse *s, jv v)
{
	if (jv_ok(v))
		s->est_bytes += str_len(v);
}

/* ---- Bedrock: model-native chunk events ---- */

static bool metrics(tf_streamuse *s, jv root)
{
	jv m = get_obj(root, "amazon-bedrock-invocationMetrics");
	tf_usage u = { 0 };

	if (!jv_ok(m) || !u64_member(m, "inputTokenCount", &u.input) ||
	    !u64_member(m, "outputTokenCount", &u.output))
		return false;
	u64_member(m, "cacheReadInputTokenCount", &u.cache_read);
	u64_member(m, "cacheWriteInputTokenCount", &u.cache_write);
	note_reported(s, u.output);
	set_final(s, &u);
	return true;
}

/* Event type names compared here are all shorter than this. */
#define TYPE_CAP 32

static void anthropic_event(tf_streamuse *s, jv root, jv type)
{
	char buf[TYPE_CAP];
	const char *t = str_c(type, buf, sizeof(buf));
	tf_usage u;
	uint64_t v;

	if (strcmp(t, "message_start") == 0) {
		jv m = get_obj(root, "message");

		note_model(s, get_str(m, "model"));
		/* The tape sent this event to the DOM (needs_dom()). */
		if (m.d && tf_adapt_bedrock_usage(m.d, &u)) {
			note_input(s, u.input, u.cache_read, u.cache_write);
			note_reported(s, u.output);
		}
	} else if (strcmp(t, "content_block_start") == 0) {
		count(s, get_obj(root, "content_block"));
	} else if (strcmp(t, "content_block_delta") == 0) {
		count(s, get_obj(root, "delta"));
	} else if (strcmp(t, "message_delta") == 0) {
		jv us = get_obj(root, "usage");

		if (u64_member(us, "output_tokens", &v))
			note_reported(s, v);
		/* Newer responses repeat the (cumulative) input counts here. */
		if (s->input_known && u64_member(us, "input_tokens", &v)) {
			uint64_t cr = s->input.cache_read, cw = s->input.cache_write;

			u64_member(us, "cache_read_input_tokens", &cr);
			u64_member(us, "cache_creation_input_tokens", &cw);
			note_input(s, v, cr, cw);
		}
	} else if (strcmp(t, "message_stop") == 0) {
		end_marker(s);
	} else if (strcmp(t, "completion") == 0) {
		count_str(s, get_str(root, "completion"));
		if (jv_ok(get_str(root, "stop_reason")))
			end_marker(s);
	} else if (strcmp(t, "error") == 0) {
		fail_json(s, get_obj(root, "error"));
	}
}

/* Titan, Llama, Mistral, Cohere, Nova: each recognised by its own keys. */
static void family_event(tf_streamuse *s, jv root)
{
	jv v, a;
	uint64_t in, out;
	bool last = false;

	if (jv_ok(v = get_str(root, "outputText"))) { /* Titan */
		count_str(s, v);
		if (u64_member(root, "inputTextTokenCount", &in))
			note_input(s, in, 0, 0);
		if (u64_member(root, "totalOutputTextTokenCount", &out))
			note_reported(s, out);
		last = jv_ok(get_str(root, "completionReason"));
	}
	if (jv_ok(v = get_str(root, "generation"))) { /* Llama */
		count_str(s, v);
		if (u64_member(root, "prompt_token_count", &in))
			note_input(s, in, 0, 0);
		if (u64_member(root, "generation_token_count", &out))
			note_reported(s, out);
		last = last || jv_ok(get_str(root, "stop_reason"));
	}
	a = get_type(root, "outputs", TF_JSON_ARRAY); /* Mistral text */
	if (!jv_ok(a))
		a = get_type(root, "choices", TF_JSON_ARRAY); /* Mistral chat */
	if (!jv_ok(a))
		a = get_type(root, "generations", TF_JSON_ARRAY); /* Cohere Command */
	for (jv o = jv_ok(a) ? first_item(a) : nil; jv_ok(o); o = next_item(a, o)) {
		count(s, get_str(o, "text"));
		count(s, get_obj(o, "message"));
		count(s, get_obj(o, "delta"));
		last = last || jv_ok(get_str(o, "stop_reason")) || jv_ok(get_str(o, "finish_reason"));
	}
	count_str(s, get_str(root, "text")); /* Cohere */
	if (jv_ok(get_type(root, "is_finished", TF_JSON_TRUE)))
		last = true;
	if (jv_ok(v = get_obj(root, "contentBlockDelta"))) /* Nova */
		count(s, get_obj(v, "delta"));
	if (jv_ok(v = get_obj(root, "contentBlockStart")))
		count(s, get_obj(v, "start"));
	v = get_obj(root, "metadata");
	/* The tape sent this event to the DOM (needs_dom()). */
	if (v.d && !s->usage_final) {
		tf_usage u;

		if (tf_adapt_bedrock_usage(v.d, &u))
			set_final(s, &u);
	}
	if (jv_ok(get_obj(root, "messageStop")) || jv_ok(v))
		last = true;
	if (last)
		end_marker(s);
}

/* Whether a model-native event carries what only the DOM code reads (the
 * input counts of message_start, a metadata usage): checked on the tape
 * before anything is done with the event. */
static bool native_needs_dom(const tf_streamuse *s, jv root)
{
	jv type = get_str(root, "type");
	char buf[TYPE_CAP];

	if (jv_ok(type))
		return strcmp(str_c(type, buf, sizeof(buf)), "message_start") == 0;
	return !s->usage_final && jv_ok(get_obj(root, "metadata"));
}

static void native_event(tf_streamuse *s, jv root)
{
	jv type = get_str(root, "type");
	bool had_metrics;

	if (jv_ok(type))
		anthropic_event(s, root, type);
	else
		family_event(s, root);
	/* After the family's own fields: the metrics are what Bedrock bills. */
	had_metrics = metrics(s, root);
	if (had_metrics)
		end_marker(s);
}

/* The model's own event, base64-decoded from a chunk. False when it is not
 * a JSON object. */
static bool native_json(tf_streamuse *s, const uint8_t *p, size_t n)
{
	tf_json_doc doc = { 0 };
	tf_jscan js;
	jv root = nil;
	int r = on_tape(s, &js, p, n, &root);

	if (r == PARSED && jv_type(root) == TF_JSON_OBJECT && native_needs_dom(s, root))
		r = NEED_DOM;
	if (r == NEED_DOM)
		r = in_dom(&doc, p, n, &root);
	r = r == PARSED && jv_type(root) == TF_JSON_OBJECT;
	if (r)
		native_event(s, root);
	tf_json_doc_free(&doc);
	return r;
}

/* A byte that stands for itself in a JSON string, and is ASCII. */
static bool plain_ascii(uint8_t c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * Bedrock's chunk payload as it always comes, {"bytes":"..."} with maybe
 * ,"p":"..." (padding) before the }, no whitespace and no escape in either
 * string: then *text, *len are the bytes string, which is what the JSON
 * parsers would give, so they need not run. Anything else returns false and
 * goes through them. Bytes the parsers would refuse inside the bytes string
 * (controls, bad UTF-8) are outside the base64 alphabet, so the decoder
 * refuses the chunk just the same.
 */
static bool plain_chunk(const uint8_t *p, size_t n, const char **text, size_t *len)
{
	static const char head[] = "{\"bytes\":\"", pad[] = ",\"p\":\"";
	const size_t hn = sizeof(head) - 1, pn = sizeof(pad) - 1;
	const uint8_t *b, *q, *e = p + n;

	if (n < hn + 2 || memcmp(p, head, hn) != 0)
		return false;
	b = p + hn;
	q = memchr(b, '"', (size_t)(e - b));
	if (!q || memchr(b, '\\', (size_t)(q - b)))
		return false;
	*text = (const char *)b;
	*len = (size_t)(q - b);
	q++;
	if (e - q == 1)
		return *q == '}';
	if ((size_t)(e - q) < pn + 2 || memcmp(q, pad, pn) != 0 || e[-2] != '"' || e[-1] != '}')
		return false;
	for (q += pn; q < e - 2; q++)
		if (!plain_ascii(*q))
			return false;
	return true;
}

/* base64 text decoded into s->scratch; -1 when it is not base64. */
static ptrdiff_t decode_to_scratch(tf_streamuse *s, const char *text, size_t len)
{
	tf_buf_reset(&s->scratch);
	if (tf_buf_reserve(&s->scratch, tf_base64_decoded_max(len)) != 0)
		return -1;
	return tf_base64_decode(text, len, s->scratch.data, s->scratch.alloc);
}

/* The chunk's {"bytes": base64}, decoded into s->scratch; -1 when it is not that. */
static ptrdiff_t chunk_bytes(tf_streamuse *s, const uint8_t *payload, size_t n)
{
	tf_json_doc outer = { 0 };
	tf_jscan js;
	jv root = nil, b = nil;
	const char *text;
	size_t len;
	ptrdiff_t got = -1;
	int r;

	if (plain_chunk(payload, n, &text, &len))
		return decode_to_scratch(s, text, len);
	r = on_tape(s, &js, payload, n, &root);

	if (r == PARSED) {
		b = get_str(root, "bytes");
		/* An escaped byte ("\/") needs the decoded string. */
		if (jv_ok(b) && str_len(b) != b.n->end - b.n->start - 2)
			r = NEED_DOM;
	}
	if (r == NEED_DOM && in_dom(&outer, payload, n, &root) == PARSED)
		b = get_str(root, "bytes");
	if (jv_ok(b)) {
		text = b.d ? b.d->u.str.s : b.t->text + b.n->start + 1;
		got = decode_to_scratch(s, text, str_len(b));
	}
	tf_json_doc_free(&outer);
	return got;
}

static void invoke_chunk(tf_streamuse *s, const uint8_t *payload, size_t n)
{
	ptrdiff_t got = chunk_bytes(s, payload, n);

	if (got < 0 || !native_json(s, s->scratch.data, (size_t)got))
		bad_event(s, n);
}

/* ---- Bedrock: ConverseStream events ---- */

static void converse_event(tf_streamuse *s, const char *type, size_t tn, const uint8_t *payload,
			   size_t n)
{
	tf_json_doc doc = { 0 };
	tf_jscan js;
	jv r = nil;
	char t[32];
	int pr;

	copy_printable(t, sizeof(t), type, tn);
	pr = on_tape(s, &js, payload, n, &r);
	/* Its usage is read by the DOM code (tf_adapt_bedrock_usage). */
	if (pr == PARSED && strcmp(t, "metadata") == 0)
		pr = NEED_DOM;
	if (pr == NEED_DOM)
		pr = in_dom(&doc, payload, n, &r);
	if (pr != PARSED || jv_type(r) != TF_JSON_OBJECT) {
		bad_event(s, n);
		goto out;
	}
	if (strcmp(t, "contentBlockDelta") == 0) {
		count(s, get_obj(r, "delta"));
	} else if (strcmp(t, "contentBlockStart") == 0) {
		count(s, get_obj(r, "start"));
	} else if (strcmp(t, "messageStop") == 0) {
		end_marker(s);
	} else if (strcmp(t, "metadata") == 0) {
		tf_usage u;

		if (tf_adapt_bedrock_usage(r.d, &u))
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
	tf_jscan js;
	jv root = nil, msg = nil;
	const char *t = NULL;
	size_t tn = 0;
	int r;

	tf_es_find_string(m, ":exception-type", &t, &tn);
	r = on_tape(s, &js, m->payload, m->payload_len, &root);
	if (r == NEED_DOM)
		r = in_dom(&doc, m->payload, m->payload_len, &root);
	if (r == PARSED) {
		msg = get_str(root, "message");
		if (!jv_ok(msg))
			msg = get_str(root, "Message");
	}
	if (jv_ok(msg))
		fail_with(s, t, tn, msg);
	else
		fail(s, t, tn, (const char *)m->payload, m->payload_len);
	tf_json_doc_free(&doc);
}

/* The frame's :message-type and :event-type, in one pass over its headers. */
static void frame_types(const tf_es_message *m, const char **mt, size_t *mtn, const char **et,
			size_t *etn)
{
	tf_es_header h;
	size_t pos = 0;

	*mt = *et = NULL;
	*mtn = *etn = 0;
	while (tf_es_next_header(m, &pos, &h)) {
		if (h.type != TF_ES_STRING)
			continue;
		if (span_is(h.name, h.name_len, ":message-type")) {
			*mt = (const char *)h.value;
			*mtn = h.value_len;
		} else if (span_is(h.name, h.name_len, ":event-type")) {
			*et = (const char *)h.value;
			*etn = h.value_len;
		}
	}
}

static int on_frame(void *ctx, const tf_es_message *m)
{
	tf_streamuse *s = ctx;
	const char *mt, *v, *w;
	size_t mtn, vn, wn;

	s->boundary += m->raw_len;
	frame_types(m, &mt, &mtn, &v, &vn);
	if (!mt)
		return 0;
	if (span_is(mt, mtn, "exception")) {
		exception_frame(s, m);
	} else if (span_is(mt, mtn, "error")) {
		if (!tf_es_find_string(m, ":error-code", &v, &vn))
			v = NULL, vn = 0;
		if (!tf_es_find_string(m, ":error-message", &w, &wn))
			w = NULL, wn = 0;
		fail(s, v, vn, w, wn);
	} else if (span_is(mt, mtn, "event") && v) {
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

static void chat_event(tf_streamuse *s, jv root)
{
	jv e = jv_get(root, "error"), ch, u;

	if (jv_ok(e) && jv_type(e) == TF_JSON_OBJECT) {
		fail_json(s, e);
		return;
	}
	if (jv_ok(e) && jv_type(e) == TF_JSON_STRING) {
		fail_with(s, NULL, 0, e);
		return;
	}
	note_model(s, jv_get(root, "model"));
	ch = get_type(root, "choices", TF_JSON_ARRAY);
	for (jv c = jv_ok(ch) ? first_item(ch) : nil; jv_ok(c); c = next_item(ch, c)) {
		count(s, get_obj(c, "delta"));
		count(s, get_str(c, "text")); /* completions */
	}
	u = get_obj(root, "usage");
	/* The tape sent this event to the DOM (chat_needs_dom()). */
	if (u.d) {
		tf_usage x = { 0 };

		if (tf_adapt_openai_usage(u.d, &x))
			set_final(s, &x);
	}
}

static bool chat_needs_dom(jv root)
{
	return jv_ok(get_obj(root, "usage"));
}

static bool ends_with(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && memcmp(s + n - l, lit, l) == 0;
}

/* The event's type (its "type", else the SSE event name), printable. */
static void responses_type(const tf_sse_event *ev, jv root, char t[64])
{
	jv tv = get_str(root, "type");
	char buf[64];

	if (jv_ok(tv))
		copy_printable(t, 64, buf, str_copy(tv, buf, sizeof(buf) - 1));
	else
		copy_printable(t, 64, ev->event, ev->event_len);
}

/* The events that end a response carry its usage (tf_adapt_openai_usage). */
static bool responses_final(const char *t)
{
	return strcmp(t, "response.completed") == 0 || strcmp(t, "response.incomplete") == 0 ||
	       strcmp(t, "response.failed") == 0;
}

static void responses_event(tf_streamuse *s, const char *t, jv root)
{
	jv r = get_obj(root, "response"), d;
	int64_t seq;

	d = jv_get(root, "sequence_number");
	if (jv_ok(d) && int64_of(d, &seq) && seq > s->seq)
		s->seq = seq;
	note_model(s, jv_ok(r) ? jv_get(r, "model") : nil);
	if (ends_with(t, strlen(t), ".delta")) {
		count(s, jv_get(root, "delta"));
		return;
	}
	if (responses_final(t)) {
		tf_usage u = { 0 };
		jv us = get_obj(r, "usage");

		/* The tape sent this event to the DOM. */
		if (us.d && tf_adapt_openai_usage(us.d, &u))
			set_final(s, &u);
		if (strcmp(t, "response.failed") == 0)
			fail_json(s, get_obj(r, "error"));
		else if (s->end == TF_SU_RUNNING)
			s->end = TF_SU_ENDED;
	} else if (strcmp(t, "error") == 0) {
		d = get_obj(root, "error");
		fail_json(s, jv_ok(d) ? d : root);
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
static void hide_verdict(tf_streamuse *s, jv root)
{
	jv u = jv_get(root, "usage"), ch = jv_get(root, "choices");
	size_t df = 0, dt = 0, mf = 0, mt = 0;

	if (!jv_ok(u))
		return;
	if (jv_type(u) != TF_JSON_NULL &&
	    (!jv_ok(ch) ||
	     (jv_type(ch) == TF_JSON_ARRAY && (ch.d ? ch.d->u.arr.n : ch.n->len) == 0))) {
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
	tf_jscan js;
	jv root = nil;
	char t[64];
	int r;

	if (ev->data_len >= 6 && memcmp(ev->data, "[DONE]", 6) == 0) {
		if (s->end == TF_SU_RUNNING)
			s->end = TF_SU_ENDED;
		return 0;
	}
	r = on_tape(s, &js, ev->data, ev->data_len, &root);
	if (r == PARSED && jv_type(root) == TF_JSON_OBJECT) {
		if (s->format == TF_SU_OPENAI_CHAT) {
			if (chat_needs_dom(root))
				r = NEED_DOM;
		} else {
			responses_type(ev, root, t);
			if (responses_final(t))
				r = NEED_DOM;
		}
	}
	if (r == NEED_DOM)
		r = in_dom(&doc, ev->data, ev->data_len, &root);
	if (r != PARSED || jv_type(root) != TF_JSON_OBJECT) {
		bad_event(s, ev->data_len);
	} else {
		if (s->format == TF_SU_OPENAI_CHAT) {
			chat_event(s, root);
		} else {
			responses_type(ev, root, t);
			responses_event(s, t, root);
		}
		if (hiding(s))
			hide_verdict(s, root);
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
