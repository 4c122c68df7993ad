#include "totals.h"

#include "reentry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct tally {
	uint64_t requests, input, output, cached, reasoning;
	tf_money cost;
};

struct model_row {
	char model[TF_CALL_MODEL_MAX];
	struct tally t;
};

struct warning {
	time_t when;
	char scope[64];
	char msg[256];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct tally all;
	uint64_t blocked;
	struct model_row *rows;
	size_t n_rows, cap_rows;
	struct warning warn[TF_TOTALS_WARNINGS];
	size_t n_warn; /* total ever; the ring holds the last TF_TOTALS_WARNINGS */
	bool enforced;
	char workflow[128], scope[128];
} T;

static void tally_add(struct tally *t, const tf_call *c)
{
	t->requests++;
	t->input += tf_usage_input(&c->usage);
	t->output += c->usage.output + c->usage.reasoning;
	t->cached += c->usage.cache_read;
	t->reasoning += c->usage.reasoning;
	t->cost = tf_money_add(t->cost, c->cost);
}

/* Called with mu held. NULL when out of memory (the row is then skipped). */
static struct model_row *row_for(const char *model)
{
	struct model_row *r;

	for (size_t i = 0; i < T.n_rows; i++)
		if (strcmp(T.rows[i].model, model) == 0)
			return &T.rows[i];
	if (T.n_rows == T.cap_rows) {
		size_t ncap = T.cap_rows ? T.cap_rows * 2 : 8;
		r = realloc(T.rows, ncap * sizeof(*r));
		if (!r)
			return NULL;
		T.rows = r;
		T.cap_rows = ncap;
	}
	r = &T.rows[T.n_rows++];
	memset(r, 0, sizeof(*r));
	snprintf(r->model, sizeof(r->model), "%s", model);
	return r;
}

void tf_totals_add(const tf_call *c)
{
	struct model_row *r;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&mu);
	tally_add(&T.all, c);
	r = row_for(c->price_model[0] ? c->price_model : c->model[0] ? c->model : "(none)");
	if (r)
		tally_add(&r->t, c);
	pthread_mutex_unlock(&mu);
	TF_CRIT_END();
}

void tf_totals_blocked(const tf_call *c)
{
	TF_CRIT_BEGIN();
	pthread_mutex_lock(&mu);
	T.blocked++;
	pthread_mutex_unlock(&mu);
	TF_CRIT_END();
}

void tf_totals_warn(const char *scope, const char *msg)
{
	struct warning *w;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&mu);
	w = &T.warn[T.n_warn++ % TF_TOTALS_WARNINGS];
	w->when = time(NULL);
	snprintf(w->scope, sizeof(w->scope), "%s", scope ? scope : "");
	snprintf(w->msg, sizeof(w->msg), "%s", msg);
	pthread_mutex_unlock(&mu);
	TF_CRIT_END();
}

void tf_totals_set_identity(bool enforced, const char *workflow, const char *scope)
{
	TF_CRIT_BEGIN();
	pthread_mutex_lock(&mu);
	T.enforced = enforced;
	snprintf(T.workflow, sizeof(T.workflow), "%s", workflow ? workflow : "");
	snprintf(T.scope, sizeof(T.scope), "%s", scope ? scope : "");
	pthread_mutex_unlock(&mu);
	TF_CRIT_END();
}

static void put_tally(tf_buf *b, const struct tally *t)
{
	tf_json_put_key(b, "requests");
	tf_json_put_uint(b, t->requests);
	tf_json_put_key(b, "input_tokens");
	tf_json_put_uint(b, t->input);
	tf_json_put_key(b, "output_tokens");
	tf_json_put_uint(b, t->output);
	tf_json_put_key(b, "cached_tokens");
	tf_json_put_uint(b, t->cached);
	tf_json_put_key(b, "reasoning_tokens");
	tf_json_put_uint(b, t->reasoning);
	tf_json_put_key(b, "cost_usd");
	tf_json_put_money(b, t->cost);
	tf_json_put_key(b, "cost_pico");
	tf_json_put_int(b, t->cost);
}

static void put_exe(tf_buf *b)
{
	char exe[256] = "";
	FILE *f = fopen("/proc/self/comm", "re");

	if (f) {
		if (fgets(exe, sizeof(exe), f))
			exe[strcspn(exe, "\n")] = 0;
		fclose(f);
	}
	tf_json_put_key(b, "exe");
	tf_json_put_cstr(b, exe);
}

int tf_totals_status(const tf_json_value *req, tf_buf *b, char *err, size_t errlen)
{
	size_t first;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&mu);
	tf_json_put_key(b, "pid");
	tf_json_put_int(b, getpid());
	put_exe(b);
	tf_json_put_key(b, "workflow");
	tf_json_put_cstr(b, T.workflow);
	tf_json_put_key(b, "scope");
	tf_json_put_cstr(b, T.scope);
	tf_json_put_key(b, "enforced");
	tf_json_put_bool(b, T.enforced);
	put_tally(b, &T.all);
	tf_json_put_key(b, "blocked");
	tf_json_put_uint(b, T.blocked);
	tf_json_put_key(b, "by_model");
	tf_json_open_object(b);
	for (size_t i = 0; i < T.n_rows; i++) {
		tf_json_put_key(b, T.rows[i].model);
		tf_json_open_object(b);
		put_tally(b, &T.rows[i].t);
		tf_json_close_object(b);
	}
	tf_json_close_object(b);
	tf_json_put_key(b, "warnings");
	tf_json_open_array(b);
	first = T.n_warn > TF_TOTALS_WARNINGS ? T.n_warn - TF_TOTALS_WARNINGS : 0;
	for (size_t i = first; i < T.n_warn; i++) {
		const struct warning *w = &T.warn[i % TF_TOTALS_WARNINGS];
		tf_json_open_object(b);
		tf_json_put_key(b, "time");
		tf_json_put_int(b, (int64_t)w->when);
		tf_json_put_key(b, "scope");
		tf_json_put_cstr(b, w->scope);
		tf_json_put_key(b, "message");
		tf_json_put_cstr(b, w->msg);
		tf_json_close_object(b);
	}
	tf_json_close_array(b);
	pthread_mutex_unlock(&mu);
	TF_CRIT_END();
	return 0;
}

void tf_totals_child_reset(void)
{
	bool enforced = T.enforced;
	char wf[128], sc[128];

	memcpy(wf, T.workflow, sizeof(wf));
	memcpy(sc, T.scope, sizeof(sc));
	free(T.rows);
	memset(&T, 0, sizeof(T));
	pthread_mutex_init(&mu, NULL);
	T.enforced = enforced;
	memcpy(T.workflow, wf, sizeof(wf));
	memcpy(T.scope, sc, sizeof(sc));
}
