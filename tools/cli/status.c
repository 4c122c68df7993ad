#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reading fields ------------------------------------------------------ */

static const tf_json_value *obj(const tf_json_value *o, const char *key)
{
	const tf_json_value *v = tf_json_get(o, key);

	return v && v->type == TF_JSON_OBJECT ? v : NULL;
}

/* A non-empty string member, else NULL (the shim writes "" for unset). */
static const char *str(const tf_json_value *o, const char *key)
{
	const tf_json_value *v = tf_json_get(o, key);

	return v && v->type == TF_JSON_STRING && v->u.str.len ? v->u.str.s : NULL;
}

static uint64_t count(const tf_json_value *o, const char *key)
{
	const tf_json_value *v = tf_json_get(o, key);
	int64_t x;

	return v && tf_json_int64(v, &x) == 0 && x > 0 ? (uint64_t)x : 0;
}

static bool flag(const tf_json_value *o, const char *key, bool dflt)
{
	const tf_json_value *v = tf_json_get(o, key);

	if (v && v->type == TF_JSON_TRUE)
		return true;
	if (v && v->type == TF_JSON_FALSE)
		return false;
	return dflt;
}

int tf_status_money(const tf_json_value *v, tf_money *out)
{
	if (!v || v->type != TF_JSON_NUMBER)
		return -EINVAL;
	return tf_json_money_usd(v, out);
}

/* pico_key (exact integer) if present, else usd_key (exact decimal), else 0. */
static tf_money money(const tf_json_value *o, const char *pico_key, const char *usd_key)
{
	const tf_json_value *v = pico_key ? tf_json_get(o, pico_key) : NULL;
	tf_money m;
	int64_t x;

	if (v && tf_json_int64(v, &x) == 0 && x >= 0)
		return x;
	if (tf_status_money(tf_json_get(o, usd_key), &m) == 0)
		return m;
	return 0;
}

/* ---- totals --------------------------------------------------------------- */

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static tf_agg_model *agg_model(tf_agg_model **v, size_t *n, const char *model,
			       const char *provider, const char *scope)
{
	tf_agg_model *m;

	for (size_t i = 0; i < *n; i++) {
		m = &(*v)[i];
		if (strcmp(m->model, model) == 0 && cmp_str(m->provider, provider) == 0 &&
		    cmp_str(m->scope, scope) == 0)
			return m;
	}
	m = realloc(*v, (*n + 1) * sizeof(*m));
	if (!m)
		return NULL;
	*v = m;
	m = &m[*n];
	memset(m, 0, sizeof(*m));
	m->model = strdup(model);
	m->provider = dup_or_null(provider);
	m->scope = dup_or_null(scope);
	if (!m->model || (provider && !m->provider) || (scope && !m->scope)) {
		free(m->model);
		free(m->provider);
		free(m->scope);
		return NULL;
	}
	(*n)++;
	return m;
}

static void agg_add(tf_agg_model *m, const tf_json_value *v)
{
	m->requests += count(v, "requests");
	m->input += count(v, "input_tokens");
	m->output += count(v, "output_tokens");
	m->cached += count(v, "cached_tokens");
	m->reasoning += count(v, "reasoning_tokens");
	m->cost = tf_money_add(m->cost, money(v, "cost_pico", "cost_usd"));
}

static void free_models(tf_agg_model *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].model);
		free(v[i].provider);
		free(v[i].scope);
	}
	free(v);
}

static int add_scopes(tf_status_total *t, const tf_json_value *by_scope)
{
	for (size_t i = 0; by_scope && i < by_scope->u.obj.n; i++) {
		const tf_json_member *m = &by_scope->u.obj.members[i];
		tf_money spent = money(&m->value, "spent_pico", "spent_usd");
		tf_agg_scope *s = NULL;

		if (m->value.type != TF_JSON_OBJECT)
			continue;
		for (size_t j = 0; j < t->n_scopes; j++)
			if (strcmp(t->scopes[j].name, m->key) == 0)
				s = &t->scopes[j];
		if (!s) {
			s = realloc(t->scopes, (t->n_scopes + 1) * sizeof(*s));
			if (!s)
				return -ENOMEM;
			t->scopes = s;
			s = &s[t->n_scopes++];
			*s = (tf_agg_scope){ .name = m->key, .v = &m->value, .spent = spent };
		} else if (spent > s->spent) {
			s->v = &m->value;
			s->spent = spent;
		}
	}
	return 0;
}

int tf_status_sum(const tf_proc *p, size_t n, tf_status_total *t)
{
	memset(t, 0, sizeof(*t));
	t->processes = n;
	for (size_t i = 0; i < n; i++) {
		const tf_json_value *st = p[i].st, *bm;

		if (!st) {
			t->unresponsive++;
			continue;
		}
		if (!flag(st, "enforced", true))
			t->unenforced++;
		t->requests += count(st, "requests");
		t->blocked += count(st, "blocked");
		t->input += count(st, "input_tokens");
		t->output += count(st, "output_tokens");
		t->cached += count(st, "cached_tokens");
		t->reasoning += count(st, "reasoning_tokens");
		t->cost = tf_money_add(t->cost, money(st, "cost_pico", "cost_usd"));
		t->reserved = tf_money_add(t->reserved, money(st, "reserved_pico", "reserved_usd"));
		bm = obj(st, "by_model");
		for (size_t j = 0; bm && j < bm->u.obj.n; j++) {
			const tf_json_member *m = &bm->u.obj.members[j];
			tf_agg_model *a;
			if (m->value.type != TF_JSON_OBJECT)
				continue;
			a = agg_model(&t->models, &t->n_models, m->key, NULL, NULL);
			if (!a)
				goto nomem;
			agg_add(a, &m->value);
		}
		if (add_scopes(t, obj(st, "by_scope")) < 0)
			goto nomem;
	}
	return 0;
nomem:
	tf_status_total_free(t);
	return -ENOMEM;
}

void tf_status_total_free(tf_status_total *t)
{
	free_models(t->models, t->n_models);
	free(t->scopes);
	memset(t, 0, sizeof(*t));
}

/* ---- JSON ------------------------------------------------------------------ */

#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		if (r_ < 0)                                                                        \
			return r_;                                                                 \
	} while (0)

static int put_u(tf_buf *b, const char *k, uint64_t v)
{
	TRY(tf_json_put_key(b, k));
	return tf_json_put_uint(b, v);
}

static int put_m(tf_buf *b, const char *k, tf_money m)
{
	TRY(tf_json_put_key(b, k));
	return tf_json_put_money(b, m);
}

static int put_counts(tf_buf *b, uint64_t req, uint64_t in, uint64_t out, uint64_t cached,
		      uint64_t reasoning, tf_money cost)
{
	TRY(put_u(b, "requests", req));
	TRY(put_u(b, "input_tokens", in));
	TRY(put_u(b, "output_tokens", out));
	TRY(put_u(b, "cached_tokens", cached));
	TRY(put_u(b, "reasoning_tokens", reasoning));
	TRY(put_m(b, "cost_usd", cost));
	TRY(tf_json_put_key(b, "cost_pico"));
	return tf_json_put_int(b, cost);
}

static int put_proc(tf_buf *b, const tf_proc *p)
{
	TRY(tf_json_open_object(b));
	if (!p->st) {
		TRY(tf_json_put_key(b, "pid"));
		TRY(tf_json_put_int(b, p->pid));
		TRY(tf_json_put_key(b, "responsive"));
		TRY(tf_json_put_bool(b, false));
		TRY(tf_json_put_key(b, "error"));
		TRY(tf_json_put_cstr(b, p->error ? p->error : "no answer"));
		return tf_json_close_object(b);
	}
	if (!tf_json_get(p->st, "pid")) {
		TRY(tf_json_put_key(b, "pid"));
		TRY(tf_json_put_int(b, p->pid));
	}
	for (size_t i = 0; i < p->st->u.obj.n; i++) {
		const tf_json_member *m = &p->st->u.obj.members[i];
		if (strcmp(m->key, "ok") == 0 || strcmp(m->key, "responsive") == 0)
			continue;
		TRY(tf_json_put_keyn(b, m->key, m->key_len));
		TRY(tf_json_put_value(b, &m->value));
	}
	TRY(tf_json_put_key(b, "responsive"));
	TRY(tf_json_put_bool(b, true));
	return tf_json_close_object(b);
}

int tf_status_render_json(const tf_proc *p, size_t n, const tf_status_total *t, tf_buf *out)
{
	TRY(tf_json_open_object(out));
	TRY(tf_json_put_key(out, "processes"));
	TRY(tf_json_open_array(out));
	for (size_t i = 0; i < n; i++)
		TRY(put_proc(out, &p[i]));
	TRY(tf_json_close_array(out));
	TRY(tf_json_put_key(out, "total"));
	TRY(tf_json_open_object(out));
	TRY(put_u(out, "processes", t->processes));
	TRY(put_u(out, "unresponsive", t->unresponsive));
	TRY(put_u(out, "unenforced", t->unenforced));
	TRY(put_u(out, "blocked", t->blocked));
	TRY(put_counts(out, t->requests, t->input, t->output, t->cached, t->reasoning, t->cost));
	TRY(put_m(out, "reserved_usd", t->reserved));
	TRY(tf_json_put_key(out, "by_model"));
	TRY(tf_json_open_object(out));
	for (size_t i = 0; i < t->n_models; i++) {
		const tf_agg_model *m = &t->models[i];
		TRY(tf_json_put_key(out, m->model));
		TRY(tf_json_open_object(out));
		TRY(put_counts(out, m->requests, m->input, m->output, m->cached, m->reasoning,
			       m->cost));
		TRY(tf_json_close_object(out));
	}
	TRY(tf_json_close_object(out));
	TRY(tf_json_put_key(out, "by_scope"));
	TRY(tf_json_open_object(out));
	for (size_t i = 0; i < t->n_scopes; i++) {
		TRY(tf_json_put_key(out, t->scopes[i].name));
		TRY(tf_json_put_value(out, t->scopes[i].v));
	}
	TRY(tf_json_close_object(out));
	TRY(tf_json_close_object(out));
	TRY(tf_json_close_object(out));
	return tf_buf_append(out, "\n", 1);
}

/* ---- text ------------------------------------------------------------------ */

static void usd(tf_money m, char *out, size_t n)
{
	char v[40];

	tf_money_format(m, v, sizeof(v));
	snprintf(out, n, "$%s", v);
}

/* A USD value from JSON for display: exact when it is money, raw otherwise. */
static void usd_value(const tf_json_value *v, char *out, size_t n)
{
	char raw[64];
	tf_money m;

	if (tf_status_money(v, &m) == 0)
		usd(m, out, n);
	else if (v && v->type == TF_JSON_NUMBER && tf_json_decimal(v, raw, sizeof(raw)) == 0)
		snprintf(out, n, "$%s", raw);
	else
		snprintf(out, n, "-");
}

static bool set(const tf_json_value *v)
{
	return v && v->type != TF_JSON_NULL;
}

static int budget_line(tf_buf *out, const tf_json_value *st)
{
	const tf_json_value *b = obj(st, "budget");
	const tf_json_value *max = tf_json_get(b, "max_cost"), *left = tf_json_get(b, "remaining_usd");
	const tf_json_value *maxreq = tf_json_get(b, "max_requests");
	const tf_json_value *perreq = tf_json_get(b, "max_cost_per_request");
	char a[80], c[80];
	bool any = false;

	TRY(tf_buf_append_str(out, "  budget"));
	if (set(max)) {
		usd_value(max, a, sizeof(a));
		usd_value(left, c, sizeof(c));
		TRY(tf_buf_printf(out, " %s, %s left", a, c));
		any = true;
	}
	if (set(maxreq)) {
		TRY(tf_buf_printf(out, "%s requests %llu of %llu", any ? ";" : "",
				  (unsigned long long)count(st, "requests"),
				  (unsigned long long)count(b, "max_requests")));
		any = true;
	}
	if (set(perreq)) {
		usd_value(perreq, a, sizeof(a));
		TRY(tf_buf_printf(out, "%s at most %s per request", any ? ";" : "", a));
		any = true;
	}
	return tf_buf_append_str(out, any ? "\n" : " none\n");
}

static int scope_line(tf_buf *out, const char *name, const tf_json_value *s)
{
	const char *window = str(s, "window"), *start = str(s, "window_start");
	char spent[80], max[80], reserved[80], left[80];

	usd_value(tf_json_get(s, "spent_usd"), spent, sizeof(spent));
	usd_value(tf_json_get(s, "reserved_usd"), reserved, sizeof(reserved));
	TRY(tf_buf_printf(out, "  scope %s: spent %s", name, spent));
	if (set(tf_json_get(s, "max_cost"))) {
		usd_value(tf_json_get(s, "max_cost"), max, sizeof(max));
		usd_value(tf_json_get(s, "remaining_usd"), left, sizeof(left));
		TRY(tf_buf_printf(out, " of %s (%s left)", max, left));
	}
	TRY(tf_buf_printf(out, ", reserved %s, %llu requests", reserved,
			  (unsigned long long)count(s, "requests")));
	if (set(tf_json_get(s, "max_requests")))
		TRY(tf_buf_printf(out, " of %llu", (unsigned long long)count(s, "max_requests")));
	if (window && strcmp(window, "none") != 0)
		TRY(tf_buf_printf(out, ", %s window%s%s", window, start ? " from " : "",
				  start ? start : ""));
	if (flag(s, "killed", false))
		TRY(tf_buf_append_str(out, "  KILLED"));
	return tf_buf_append_str(out, "\n");
}

static int model_width(const tf_json_value *bm)
{
	int w = 16;

	for (size_t i = 0; bm && i < bm->u.obj.n; i++)
		if (bm->u.obj.members[i].key_len > (size_t)w)
			w = bm->u.obj.members[i].key_len > 48 ? 48 : (int)bm->u.obj.members[i].key_len;
	return w;
}

static int model_line(tf_buf *out, int w, const char *name, uint64_t req, uint64_t in,
		      uint64_t o, tf_money cost)
{
	char c[80];

	usd(cost, c, sizeof(c));
	return tf_buf_printf(out, "    %-*.*s %6llu req %10llu in %10llu out %12s\n", w, w, name,
			     (unsigned long long)req, (unsigned long long)in,
			     (unsigned long long)o, c);
}

static int proc_block(tf_buf *out, const tf_proc *p)
{
	const tf_json_value *st = p->st, *bm, *bs, *warn;
	const char *exe, *wf, *scope;
	char cost[80], reserved[80];
	int w;

	if (!st)
		return tf_buf_printf(out, "pid %ld  %s\n", p->pid,
				     p->error ? p->error : "not answering");
	exe = str(st, "exe");
	wf = str(st, "workflow");
	scope = str(st, "scope");
	TRY(tf_buf_printf(out, "pid %ld  %s", p->pid, exe ? exe : "?"));
	if (wf)
		TRY(tf_buf_printf(out, "  workflow %s", wf));
	if (scope)
		TRY(tf_buf_printf(out, "  scope %s", scope));
	TRY(tf_buf_append_str(out, "\n"));
	if (!flag(st, "enforced", true))
		TRY(tf_buf_append_str(out, "  NOT ENFORCED: this process's TLS is invisible to "
					   "TokenFence (statically linked); figures are incomplete\n"));
	usd(money(st, "cost_pico", "cost_usd"), cost, sizeof(cost));
	usd(money(st, "reserved_pico", "reserved_usd"), reserved, sizeof(reserved));
	TRY(tf_buf_printf(out, "  requests %llu (blocked %llu)  tokens in %llu out %llu "
			       "(cached %llu, reasoning %llu)\n",
			  (unsigned long long)count(st, "requests"),
			  (unsigned long long)count(st, "blocked"),
			  (unsigned long long)count(st, "input_tokens"),
			  (unsigned long long)count(st, "output_tokens"),
			  (unsigned long long)count(st, "cached_tokens"),
			  (unsigned long long)count(st, "reasoning_tokens")));
	TRY(tf_buf_printf(out, "  cost %s  reserved %s\n", cost, reserved));
	TRY(budget_line(out, st));
	bm = obj(st, "by_model");
	w = model_width(bm);
	for (size_t i = 0; bm && i < bm->u.obj.n; i++) {
		const tf_json_member *m = &bm->u.obj.members[i];
		TRY(model_line(out, w, m->key, count(&m->value, "requests"),
			       count(&m->value, "input_tokens"), count(&m->value, "output_tokens"),
			       money(&m->value, "cost_pico", "cost_usd")));
	}
	bs = obj(st, "by_scope");
	for (size_t i = 0; bs && i < bs->u.obj.n; i++)
		if (bs->u.obj.members[i].value.type == TF_JSON_OBJECT)
			TRY(scope_line(out, bs->u.obj.members[i].key, &bs->u.obj.members[i].value));
	warn = tf_json_get(st, "warnings");
	for (size_t i = 0; warn && warn->type == TF_JSON_ARRAY && i < warn->u.arr.n; i++) {
		const tf_json_value *x = &warn->u.arr.items[i];
		const char *msg = str(x, "message"), *ws = str(x, "scope");
		if (msg)
			TRY(tf_buf_printf(out, "  warning%s%s%s: %s\n", ws ? " [" : "", ws ? ws : "",
					  ws ? "]" : "", msg));
	}
	return 0;
}

int tf_status_render_text(const tf_proc *p, size_t n, const tf_status_total *t, tf_buf *out)
{
	char cost[80], reserved[80];

	if (n == 0)
		return tf_buf_append_str(out, "no TokenFence processes are running\n");
	for (size_t i = 0; i < n; i++)
		TRY(proc_block(out, &p[i]));
	usd(t->cost, cost, sizeof(cost));
	usd(t->reserved, reserved, sizeof(reserved));
	TRY(tf_buf_printf(out, "total: %zu process%s", t->processes, t->processes == 1 ? "" : "es"));
	if (t->unresponsive)
		TRY(tf_buf_printf(out, " (%zu not answering)", t->unresponsive));
	TRY(tf_buf_printf(out, ", %llu requests (blocked %llu), tokens in %llu out %llu, cost %s, "
			       "reserved %s\n",
			  (unsigned long long)t->requests, (unsigned long long)t->blocked,
			  (unsigned long long)t->input, (unsigned long long)t->output, cost,
			  reserved));
	return 0;
}

/* ---- Prometheus -------------------------------------------------------------- */

/* Label values escape backslash, double quote and newline (exposition format). */
static int label(tf_buf *out, const char *name, const char *v, bool first)
{
	TRY(tf_buf_printf(out, "%s%s=\"", first ? "" : ",", name));
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\')
			TRY(tf_buf_append_str(out, "\\\\"));
		else if (*p == '"')
			TRY(tf_buf_append_str(out, "\\\""));
		else if (*p == '\n')
			TRY(tf_buf_append_str(out, "\\n"));
		else
			TRY(tf_buf_append(out, p, 1));
	}
	return tf_buf_append_str(out, "\"");
}

/* Exact decimal USD for sample values. */
static int money_value(tf_buf *out, tf_money m)
{
	uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	char s[80];
	int n = snprintf(s, sizeof(s), "%s%llu.%012llu", m < 0 ? "-" : "",
			 (unsigned long long)(a / (uint64_t)TF_MONEY_PER_USD),
			 (unsigned long long)(a % (uint64_t)TF_MONEY_PER_USD));

	while (n > 0 && s[n - 1] == '0')
		n--;
	if (n > 0 && s[n - 1] == '.')
		n--;
	return tf_buf_append(out, s, (size_t)n);
}

static int head(tf_buf *out, const char *name, const char *type, const char *help)
{
	return tf_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *proc_scope(const tf_json_value *st)
{
	const char *s = str(st, "scope");

	return s ? s : str(st, "workflow");
}

typedef struct series_def {
	const char *name, *help;
	int field; /* 0 requests, 1 input, 2 output, 3 cached, 4 reasoning, 5 cost */
} series_def;

static int model_series(tf_buf *out, const tf_agg_model *v, size_t n)
{
	static const series_def defs[] = {
		{ "tokenfence_requests_total", "LLM requests forwarded to the provider.", 0 },
		{ "tokenfence_input_tokens_total", "Input tokens billed (cached included).", 1 },
		{ "tokenfence_output_tokens_total", "Output tokens billed (reasoning included).", 2 },
		{ "tokenfence_cached_tokens_total", "Input tokens served from the provider's cache.", 3 },
		{ "tokenfence_reasoning_tokens_total", "Reasoning tokens billed as output.", 4 },
		{ "tokenfence_cost_usd_total", "Cost booked, in US dollars.", 5 },
	};

	for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
		TRY(head(out, defs[d].name, "counter", defs[d].help));
		for (size_t i = 0; i < n; i++) {
			const tf_agg_model *m = &v[i];
			uint64_t x[] = { m->requests, m->input, m->output, m->cached, m->reasoning };
			TRY(tf_buf_printf(out, "%s{", defs[d].name));
			TRY(label(out, "model", m->model, true));
			TRY(label(out, "provider", m->provider ? m->provider : "unknown", false));
			TRY(label(out, "scope", m->scope, false));
			TRY(tf_buf_append_str(out, "} "));
			if (defs[d].field == 5)
				TRY(money_value(out, m->cost));
			else
				TRY(tf_buf_printf(out, "%llu", (unsigned long long)x[defs[d].field]));
			TRY(tf_buf_append_str(out, "\n"));
		}
	}
	return 0;
}

static int blocked_series(tf_buf *out, const tf_proc *p, size_t n)
{
	const char **scopes = calloc(n ? n : 1, sizeof(*scopes));
	uint64_t *blocked = calloc(n ? n : 1, sizeof(*blocked));
	size_t ns = 0;
	int r = 0;

	if (!scopes || !blocked) {
		free(scopes);
		free(blocked);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t j;
		if (!p[i].st)
			continue;
		s = proc_scope(p[i].st);
		s = s ? s : "";
		for (j = 0; j < ns && strcmp(scopes[j], s) != 0; j++)
			;
		if (j == ns)
			scopes[ns++] = s;
		blocked[j] += count(p[i].st, "blocked");
	}
	r = head(out, "tokenfence_blocked_total", "counter",
		 "Requests blocked, denied or refused before reaching the provider.");
	for (size_t j = 0; r == 0 && j < ns; j++) {
		r = tf_buf_append_str(out, "tokenfence_blocked_total{");
		r = r ? r : label(out, "scope", scopes[j], true);
		r = r ? r : tf_buf_printf(out, "} %llu\n", (unsigned long long)blocked[j]);
	}
	free(scopes);
	free(blocked);
	return r;
}

static int scope_gauge(tf_buf *out, const tf_status_total *t, const char *name, const char *help,
		       const char *key)
{
	TRY(head(out, name, "gauge", help));
	for (size_t i = 0; i < t->n_scopes; i++) {
		const tf_json_value *v = t->scopes[i].v;
		tf_money m;
		if (strcmp(key, "killed") == 0) {
			TRY(tf_buf_printf(out, "%s{", name));
			TRY(label(out, "scope", t->scopes[i].name, true));
			TRY(tf_buf_printf(out, "} %d\n", flag(v, "killed", false) ? 1 : 0));
			continue;
		}
		if (strcmp(key, "requests") == 0) {
			TRY(tf_buf_printf(out, "%s{", name));
			TRY(label(out, "scope", t->scopes[i].name, true));
			TRY(tf_buf_printf(out, "} %llu\n", (unsigned long long)count(v, key)));
			continue;
		}
		if (tf_status_money(tf_json_get(v, key), &m) < 0)
			continue; /* unset (null): no sample */
		TRY(tf_buf_printf(out, "%s{", name));
		TRY(label(out, "scope", t->scopes[i].name, true));
		TRY(tf_buf_append_str(out, "} "));
		TRY(money_value(out, m));
		TRY(tf_buf_append_str(out, "\n"));
	}
	return 0;
}

static int metrics_body(const tf_proc *p, size_t n, tf_provider_fn prov, tf_buf *out,
			tf_agg_model **models, size_t *nm, tf_status_total *t)
{
	for (size_t i = 0; i < n; i++) {
		const tf_json_value *bm = p[i].st ? obj(p[i].st, "by_model") : NULL;
		const char *scope = p[i].st ? proc_scope(p[i].st) : NULL;
		for (size_t j = 0; bm && j < bm->u.obj.n; j++) {
			const tf_json_member *m = &bm->u.obj.members[j];
			const char *pv;
			tf_agg_model *a;
			if (m->value.type != TF_JSON_OBJECT)
				continue;
			pv = str(&m->value, "provider");
			if (!pv && prov)
				pv = prov(m->key);
			a = agg_model(models, nm, m->key, pv ? pv : "unknown", scope ? scope : "");
			if (!a)
				return -ENOMEM;
			agg_add(a, &m->value);
		}
	}
	TRY(model_series(out, *models, *nm));
	TRY(blocked_series(out, p, n));
	TRY(scope_gauge(out, t, "tokenfence_scope_spent_usd", "Spent in the scope's current window, in US dollars.", "spent_usd"));
	TRY(scope_gauge(out, t, "tokenfence_scope_reserved_usd", "Reserved for calls in flight, in US dollars.", "reserved_usd"));
	TRY(scope_gauge(out, t, "tokenfence_scope_remaining_usd", "Left in the scope's budget, in US dollars.", "remaining_usd"));
	TRY(scope_gauge(out, t, "tokenfence_scope_limit_usd", "The scope's budget, in US dollars.", "max_cost"));
	TRY(scope_gauge(out, t, "tokenfence_scope_requests", "Requests counted in the scope's window.", "requests"));
	TRY(scope_gauge(out, t, "tokenfence_scope_killed", "1 when the scope's kill switch is on.", "killed"));
	TRY(head(out, "tokenfence_processes", "gauge", "Guarded processes found."));
	TRY(tf_buf_printf(out, "tokenfence_processes %zu\n", t->processes));
	TRY(head(out, "tokenfence_processes_unresponsive", "gauge",
		 "Guarded processes that did not answer within the timeout."));
	TRY(tf_buf_printf(out, "tokenfence_processes_unresponsive %zu\n", t->unresponsive));
	TRY(head(out, "tokenfence_processes_unenforced", "gauge",
		 "Processes whose TLS TokenFence cannot see (statically linked)."));
	return tf_buf_printf(out, "tokenfence_processes_unenforced %zu\n", t->unenforced);
}

int tf_metrics_render(const tf_proc *p, size_t n, tf_provider_fn prov, tf_buf *out)
{
	tf_agg_model *models = NULL;
	tf_status_total t;
	size_t nm = 0;
	int r = tf_status_sum(p, n, &t);

	if (r < 0)
		return r;
	r = metrics_body(p, n, prov, out, &models, &nm, &t);
	free_models(models, nm);
	tf_status_total_free(&t);
	return r;
}
