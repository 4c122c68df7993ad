#include "summary.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void tf_summary_init(tf_summary *s)
{
	memset(s, 0, sizeof(*s));
}

void tf_summary_free(tf_summary *s)
{
	for (size_t i = 0; i < s->n_models; i++)
		free(s->models[i].name);
	free(s->models);
	for (size_t i = 0; i < s->n_warnings; i++)
		free(s->warnings[i]);
	free(s->warnings);
	memset(s, 0, sizeof(*s));
}

static const char *str_of(const tf_json_value *obj, const char *key)
{
	const tf_json_value *v = tf_json_get(obj, key);

	return v && v->type == TF_JSON_STRING && v->u.str.len ? v->u.str.s : NULL;
}

static uint64_t count_of(const tf_json_value *obj, const char *key)
{
	const tf_json_value *v = tf_json_get(obj, key);
	int64_t x;

	return v && tf_json_int64(v, &x) == 0 && x > 0 ? (uint64_t)x : 0;
}

/* Exact cost of a line: cost_pico, else the decimal cost_usd. */
static tf_money cost_of(const tf_json_value *obj)
{
	const tf_json_value *v = tf_json_get(obj, "tokenfence.cost_pico");
	tf_money m;
	int64_t x;

	if (v && tf_json_int64(v, &x) == 0 && x >= 0)
		return x;
	v = tf_json_get(obj, "tokenfence.cost_usd");
	if (v && tf_json_money_usd(v, &m) == 0)
		return m;
	return 0;
}

static tf_summary_model *model_of(tf_summary *s, const char *name)
{
	tf_summary_model *m;

	for (size_t i = 0; i < s->n_models; i++)
		if (strcmp(s->models[i].name, name) == 0)
			return &s->models[i];
	if (s->n_models == s->cap_models) {
		size_t cap = s->cap_models ? s->cap_models * 2 : 8;
		m = realloc(s->models, cap * sizeof(*m));
		if (!m)
			return NULL;
		s->models = m;
		s->cap_models = cap;
	}
	m = &s->models[s->n_models];
	memset(m, 0, sizeof(*m));
	m->name = strdup(name);
	if (!m->name)
		return NULL;
	s->n_models++;
	return m;
}

static int add_warning(tf_summary *s, const char *msg)
{
	char **w;

	for (size_t i = 0; i < s->n_warnings; i++)
		if (strcmp(s->warnings[i], msg) == 0)
			return 0;
	if (s->n_warnings == TF_SUMMARY_MAX_WARNINGS) {
		s->warnings_dropped++;
		return 0;
	}
	w = realloc(s->warnings, (s->n_warnings + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	s->warnings = w;
	w[s->n_warnings] = strdup(msg);
	if (!w[s->n_warnings])
		return -ENOMEM;
	s->n_warnings++;
	return 0;
}

static bool is_denial(const char *d)
{
	return strcmp(d, "deny") == 0 || strcmp(d, "denied") == 0 ||
	       strncmp(d, "approval_denied", 15) == 0 || strcmp(d, "approval_timeout") == 0;
}

static int add_call(tf_summary *s, const tf_json_value *o)
{
	const char *model = str_of(o, "gen_ai.request.model");
	const char *decision = str_of(o, "tokenfence.decision");
	uint64_t in = count_of(o, "gen_ai.usage.input_tokens");
	uint64_t out = count_of(o, "gen_ai.usage.output_tokens");
	uint64_t cached = count_of(o, "tokenfence.cached_tokens");
	uint64_t reasoning = count_of(o, "tokenfence.reasoning_tokens");
	tf_money cost = cost_of(o);
	bool forwarded = true;
	tf_summary_model *m;

	if (!model)
		model = str_of(o, "gen_ai.response.model");
	m = model_of(s, model ? model : "(unknown model)");
	if (!m)
		return -ENOMEM;
	s->calls++;
	if (decision && strcmp(decision, "block") == 0) {
		s->blocked++;
		forwarded = false;
	} else if (decision && is_denial(decision)) {
		s->denied++;
		forwarded = false;
	} else if (decision && strcmp(decision, "downgrade") == 0) {
		s->downgraded++;
	} else if (decision && strcmp(decision, "clamp") == 0) {
		s->clamped++;
	}
	if (forwarded) {
		m->requests++;
		s->requests++;
	} else {
		m->blocked++;
	}
	m->input += in;
	m->output += out;
	m->cached += cached;
	m->reasoning += reasoning;
	m->cost = tf_money_add(m->cost, cost);
	s->input += in;
	s->output += out;
	s->cached += cached;
	s->reasoning += reasoning;
	s->cost = tf_money_add(s->cost, cost);
	return 0;
}

int tf_summary_add_line(tf_summary *s, const char *line, size_t n)
{
	const char *event;
	tf_json_doc doc;
	int r = 0;

	if (tf_json_parse(&doc, line, n, NULL, NULL) < 0 || doc.root->type != TF_JSON_OBJECT) {
		tf_json_doc_free(&doc);
		s->unreadable++;
		return -EINVAL;
	}
	event = str_of(doc.root, "tokenfence.event");
	if (!event) {
		r = add_call(s, doc.root);
	} else if (strcmp(event, "warning") == 0) {
		const char *msg = str_of(doc.root, "message");
		r = msg ? add_warning(s, msg) : 0;
	}
	tf_json_doc_free(&doc);
	return r;
}

int tf_summary_add_text(tf_summary *s, const char *text, size_t n)
{
	size_t off = 0;

	while (off < n) {
		const char *p = text + off, *nl = memchr(p, '\n', n - off);
		size_t len = nl ? (size_t)(nl - p) : n - off;
		size_t b = 0;

		while (b < len && (p[b] == ' ' || p[b] == '\t' || p[b] == '\r'))
			b++;
		if (b < len && tf_summary_add_line(s, p, len) == -ENOMEM)
			return -ENOMEM;
		off += len + (nl ? 1 : 0);
	}
	return 0;
}

/* ---- rendering ------------------------------------------------------------ */

static int cmp_cost_desc(const void *a, const void *b)
{
	const tf_summary_model *x = *(tf_summary_model *const *)a;
	const tf_summary_model *y = *(tf_summary_model *const *)b;

	if (x->cost != y->cost)
		return x->cost > y->cost ? -1 : 1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void usd(tf_money m, char *out, size_t n)
{
	char v[40];

	tf_money_format(m, v, sizeof(v));
	snprintf(out, n, "$%s", v);
}

/* Model names are long (Bedrock ids, ARNs): the column fits them up to a cap. */
#define NAME_MIN 16
#define NAME_MAX 48

static int row(tf_buf *out, int w, const char *name, uint64_t req, uint64_t in, uint64_t o,
	       tf_money c)
{
	char cost[48];

	usd(c, cost, sizeof(cost));
	return tf_buf_printf(out, "  %-*.*s %8llu %10llu %10llu %12s\n", w, w, name,
			     (unsigned long long)req, (unsigned long long)in, (unsigned long long)o,
			     cost);
}

int tf_summary_render(const tf_summary *s, const char *workflow, const char *status_text,
		      tf_buf *out)
{
	const tf_summary_model **order = NULL;
	char cost[48];
	int r = 0, w = NAME_MIN;

	for (size_t i = 0; i < s->n_models; i++) {
		size_t len = strlen(s->models[i].name);
		if (len > (size_t)w)
			w = len > NAME_MAX ? NAME_MAX : (int)len;
	}

	if (s->calls == 0) {
		r = tf_buf_printf(out, "tokenfence: no LLM calls were seen%s%s%s\n",
				  workflow ? " (workflow " : "", workflow ? workflow : "",
				  workflow ? ")" : "");
	} else {
		usd(s->cost, cost, sizeof(cost));
		r = tf_buf_printf(out, "tokenfence: %llu request%s, %s%s%s%s\n",
				  (unsigned long long)s->requests, s->requests == 1 ? "" : "s", cost,
				  workflow ? " (workflow " : "", workflow ? workflow : "",
				  workflow ? ")" : "");
		r = r ? r
		      : tf_buf_printf(out, "  %-*s %8s %10s %10s %12s\n", w, "model", "requests",
				      "input", "output", "cost");
		order = malloc(s->n_models * sizeof(*order));
		if (!order)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_models; i++)
			order[i] = &s->models[i];
		qsort(order, s->n_models, sizeof(*order), cmp_cost_desc);
		for (size_t i = 0; r == 0 && i < s->n_models && i < TF_SUMMARY_SHOWN_MODELS; i++)
			r = row(out, w, order[i]->name, order[i]->requests, order[i]->input,
				order[i]->output, order[i]->cost);
		if (r == 0 && s->n_models > TF_SUMMARY_SHOWN_MODELS) {
			tf_summary_model rest = { 0 };
			char label[64];
			for (size_t i = TF_SUMMARY_SHOWN_MODELS; i < s->n_models; i++) {
				rest.requests += order[i]->requests;
				rest.input += order[i]->input;
				rest.output += order[i]->output;
				rest.cost = tf_money_add(rest.cost, order[i]->cost);
			}
			snprintf(label, sizeof(label), "(%zu more models)",
				 s->n_models - TF_SUMMARY_SHOWN_MODELS);
			r = row(out, w, label, rest.requests, rest.input, rest.output, rest.cost);
		}
		free(order);
		r = r ? r : row(out, w, "total", s->requests, s->input, s->output, s->cost);
		if (r == 0 && (s->cached || s->reasoning))
			r = tf_buf_printf(out, "  of which cached input %llu, reasoning output %llu\n",
					  (unsigned long long)s->cached,
					  (unsigned long long)s->reasoning);
		r = r ? r
		      : tf_buf_printf(out, "  blocked %llu, denied %llu, downgraded %llu, clamped %llu\n",
				      (unsigned long long)s->blocked, (unsigned long long)s->denied,
				      (unsigned long long)s->downgraded,
				      (unsigned long long)s->clamped);
	}
	for (size_t i = 0; r == 0 && i < s->n_warnings && i < TF_SUMMARY_SHOWN_WARNINGS; i++)
		r = tf_buf_printf(out, "  warning: %s\n", s->warnings[i]);
	if (r == 0 && s->n_warnings + s->warnings_dropped > TF_SUMMARY_SHOWN_WARNINGS)
		r = tf_buf_printf(out, "  (%llu more warnings)\n",
				  (unsigned long long)(s->n_warnings + s->warnings_dropped -
						       TF_SUMMARY_SHOWN_WARNINGS));
	if (r == 0 && s->unreadable)
		r = tf_buf_printf(out, "  (%llu unreadable record%s skipped)\n",
				  (unsigned long long)s->unreadable, s->unreadable == 1 ? "" : "s");
	if (r == 0 && status_text)
		r = tf_buf_printf(out, "tokenfence: the command %s\n", status_text);
	return r;
}
