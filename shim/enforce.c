#include "enforce.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "reentry.h"
#include "state.h"
#include "totals.h"

static struct {
	tf_ledger *ledger;
	char ledger_err[256];
	tf_scope_def chain[TF_BUDGET_CHAIN_MAX];
	size_t chain_n;
	tf_policy policy;
	bool has_policy;
} E;

/* ---- setup ---- */

static void scope_from_cfg(tf_scope_def *d, const tf_scope_cfg *s, const char *name)
{
	tf_scope_def_init(d, name);
	if (!s)
		return;
	d->max_cost = s->max_cost;
	d->max_requests = s->max_requests;
	d->warn_ppm[0] = s->warn_at_ppm;
	d->window = s->window;
	if (s->parent)
		snprintf(d->parent, sizeof(d->parent), "%s", s->parent);
}

/* The chain, innermost first: the workflow (carrying the top-level budget),
 * then the configured scope and its parents. */
static void build_chain(const tf_config *cfg)
{
	tf_scope_def *w = &E.chain[0];
	const char *name = cfg->scope;
	const char *owner = secure_getenv("TOKENFENCE_WORKFLOW_PID");

	tf_scope_def_init(w, tf_state_workflow());
	w->max_cost = cfg->max_cost;
	w->max_requests = cfg->max_requests;
	w->warn_ppm[0] = cfg->warn_at_ppm;
	w->owner_pid = owner ? atoi(owner) : 0;
	E.chain_n = 1;
	while (name && E.chain_n < TF_BUDGET_CHAIN_MAX) {
		const tf_scope_cfg *s = tf_config_scope(cfg, name);
		scope_from_cfg(&E.chain[E.chain_n++], s, name);
		name = s ? s->parent : NULL;
	}
}

static void build_policy(const tf_config *cfg)
{
	char err[256];

	E.has_policy = cfg->has_policy;
	if (!E.has_policy)
		return;
	tf_policy_init(&E.policy);
	E.policy.dflt = cfg->policy_default;
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (tf_policy_add(&E.policy, cfg->rules[i].effect, cfg->rules[i].action,
				  strlen(cfg->rules[i].action), err, sizeof(err)) != 0)
			tf_log(TF_LOG_ERROR, "policy rule %zu: %s", i, err);
}

void tf_enforce_init(void)
{
	const tf_config *cfg = tf_state_config();
	tf_ledger_opts o = { .spec = cfg->ledger, .fail_mode = cfg->fail_mode };
	int r;

	build_chain(cfg);
	build_policy(cfg);
	r = tf_ledger_open(&o, &E.ledger, E.ledger_err, sizeof(E.ledger_err));
	if (r < 0) {
		E.ledger = NULL;
		tf_log(TF_LOG_ERROR, "budget ledger unavailable: %s (fail_mode %s)", E.ledger_err,
		       cfg->fail_mode == TF_FAIL_OPEN ? "open: calls pass unreserved"
						     : "closed: billable calls are blocked");
	}
}

const char *tf_enforce_workflow(void)
{
	return E.chain[0].name;
}

void tf_enforce_child_reset(void)
{
	if (E.ledger)
		tf_ledger_atfork_child(E.ledger);
}

/* ---- alternatives: downgrade, clamp ---- */

/* An Azure downgrade target names a model; the request needs a deployment
 * that serves it: one the config maps to it, else one named after it. */
static const char *azure_deployment_for(const tf_config *cfg, const char *model)
{
	for (size_t i = 0; i < cfg->n_deployments; i++)
		if (strcasecmp(cfg->deployments[i].to, model) == 0)
			return cfg->deployments[i].from;
	return model;
}

static bool downgraded(const tf_call *c, tf_call *alt, const tf_enforcement *e)
{
	const tf_config *cfg = tf_state_config();
	char to[TF_CALL_MODEL_MAX];
	int n;

	if (e->as_is)
		return false;
	n = tf_config_downgrade(cfg, c->provider, c->model, strlen(c->model), to, sizeof(to));

	if (n <= 0 && c->provider == TF_PROVIDER_AZURE && strcmp(c->price_model, c->model) != 0)
		n = tf_config_downgrade(cfg, c->provider, c->price_model, strlen(c->price_model), to,
					sizeof(to));
	if (n <= 0)
		return false;
	*alt = *c;
	if (c->provider == TF_PROVIDER_AZURE) {
		const char *dep = azure_deployment_for(cfg, to);
		const char *base = tf_config_deployment(cfg, dep, strlen(dep));
		snprintf(alt->model, sizeof(alt->model), "%s", dep);
		snprintf(alt->price_model, sizeof(alt->price_model), "%s", base ? base : to);
	} else {
		snprintf(alt->model, sizeof(alt->model), "%s", to);
		snprintf(alt->price_model, sizeof(alt->price_model), "%s", to);
	}
	tf_call_price(alt, tf_state_prices());
	return alt->worst < c->worst;
}

/* The largest output limit whose worst case fits `room`, if clamping is
 * allowed and it stays at or above min_max_tokens. */
static bool clamped(const tf_call *c, tf_money room, tf_call *alt, const tf_enforcement *e)
{
	const tf_config *cfg = tf_state_config();
	uint64_t lo = 0, hi = c->max_out_bound;

	if (e->as_is || !cfg->clamp_max_tokens || room <= 0 || c->price.mode == TF_MODE_EMBEDDING)
		return false;
	if (tf_price_worst(&c->price, c->input_bound, 0, c->cache_writes) > room)
		return false;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;
		if (tf_price_worst(&c->price, c->input_bound, mid, c->cache_writes) <= room)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (lo < cfg->min_max_tokens || lo >= c->max_out_bound)
		return false;
	*alt = *c;
	alt->max_out = lo;
	alt->max_out_bound = lo;
	alt->worst = tf_price_worst(&c->price, c->input_bound, lo, c->cache_writes);
	return true;
}

/* ---- the decision ---- */

static void block(tf_enforcement *e, tf_block_kind k, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void block(tf_enforcement *e, tf_block_kind k, const char *label, const char *fmt, ...)
{
	va_list ap;

	e->verdict = TF_VERDICT_BLOCK;
	e->kind = k;
	e->label = label;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

static const char *usd(tf_money m, char *buf, size_t n)
{
	tf_money_format(m, buf, n);
	return buf;
}

bool tf_enforce_policy(const tf_call *call, tf_enforcement *e)
{
	char rule[320];

	if (!E.has_policy)
		return true;
	tf_policy_decide(&E.policy, call->act.action, strlen(call->act.action), &e->rule);
	tf_decision_format(&e->rule, rule, sizeof(rule));
	if (e->rule.effect == TF_EFFECT_DENY) {
		block(e, TF_BLOCK_POLICY, "deny", "%s (by %s)", call->act.action, rule);
		return false;
	}
	if (e->rule.effect == TF_EFFECT_REQUIRE_APPROVAL) {
		e->verdict = TF_VERDICT_HOLD;
		e->label = "approval";
		snprintf(e->detail, sizeof(e->detail), "%s (by %s)", call->act.action, rule);
		return false;
	}
	return true;
}

/* Strips the phrase the synthetic message adds itself. */
static void denial_detail(const tf_budget_denial *why, char *out, size_t n)
{
	char s[600];
	const char *p = s;

	tf_budget_denial_format(why, s, sizeof(s));
	if (strncmp(p, "budget exceeded: ", 17) == 0)
		p += 17;
	snprintf(out, n, "%s", p);
}

static void apply(tf_call *call, const tf_call *cur, tf_enforcement *e)
{
	if (strcmp(cur->model, call->model) != 0)
		snprintf(e->new_model, sizeof(e->new_model), "%s", cur->model);
	if (cur->max_out != call->max_out)
		e->new_max_out = cur->max_out;
	*call = *cur;
}

/* Spent + reserved of the workflow have reached downgrade_at of its budget. */
static bool past_downgrade_at(void)
{
	const tf_config *cfg = tf_state_config();
	tf_scope_state s;

	int r;

	if (cfg->max_cost < 0 || !E.ledger || cfg->n_downgrade == 0)
		return false;
	TF_CRIT_BEGIN();
	r = tf_ledger_totals(E.ledger, E.chain[0].name, &s);
	TF_CRIT_END();
	if (r < 0)
		return false;
	return (__int128)(s.spent + s.reserved) * TF_CONFIG_PPM >=
	       (__int128)cfg->max_cost * tf_config_downgrade_at(cfg);
}

static void reserve(tf_call *cur, tf_enforcement *e, bool *changed)
{
	const tf_config *cfg = tf_state_config();
	tf_budget_denial why;
	tf_call *alt = malloc(sizeof(*alt));
	char d[600];

	if (!alt) {
		block(e, TF_BLOCK_BUDGET, "block", "out of memory deciding on this call");
		return;
	}
	for (int attempt = 0; attempt <= (int)TF_BUDGET_CHAIN_MAX + 1; attempt++) {
		int r;

		TF_CRIT_BEGIN();
		r = tf_ledger_reserve(E.ledger, E.chain, E.chain_n, cur->worst, TF_LEDGER_COUNT_REQUEST,
				      &e->res, &why);
		TF_CRIT_END();
		if (r == 0) {
			e->reserved = true;
			break;
		}
		if (r < 0) {
			if (cfg->fail_mode == TF_FAIL_OPEN) {
				tf_log(TF_LOG_WARN, "ledger: %s; fail_mode open: call passes unreserved",
				       tf_ledger_strerror(r));
				tf_events_note("warning", cur, tf_state_scope_name(),
					       "ledger error %s: call passed unreserved (fail_mode open)",
					       tf_ledger_strerror(r));
			} else {
				block(e, TF_BLOCK_BUDGET, "block",
				      "the budget ledger cannot confirm this call (%s); fail_mode is closed",
				      tf_ledger_strerror(r));
			}
			break;
		}
		if (why.reason == TF_BUDGET_REASON_COST && !*changed && downgraded(cur, alt, e)) {
			*cur = *alt;
			*changed = true;
			e->label = "downgrade";
			continue;
		}
		if (why.reason == TF_BUDGET_REASON_COST &&
		    clamped(cur, why.max_cost - why.spent - why.reserved, alt, e)) {
			*cur = *alt;
			e->label = strcmp(e->label, "downgrade") == 0 ? "downgrade" : "clamp";
			continue;
		}
		denial_detail(&why, d, sizeof(d));
		block(e, TF_BLOCK_BUDGET, "block", "%s", d);
		break;
	}
	free(alt);
}

void tf_enforce_request(tf_call *call, tf_enforcement *e)
{
	memset(e, 0, sizeof(*e));
	e->verdict = TF_VERDICT_FORWARD;
	e->label = "allow";
	if (tf_enforce_policy(call, e))
		tf_enforce_budget(call, e);
}

void tf_enforce_budget(tf_call *call, tf_enforcement *e)
{
	const tf_config *cfg = tf_state_config();
	tf_call *cur, *alt;
	bool changed = false;
	char a[32], b[32];

	if (!call->invoke)
		return;
	if (!E.ledger && cfg->fail_mode != TF_FAIL_OPEN) {
		block(e, TF_BLOCK_BUDGET, "block",
		      "the budget ledger is unavailable (%s); fail_mode is closed", E.ledger_err);
		return;
	}
	cur = malloc(sizeof(*cur));
	alt = malloc(sizeof(*alt));
	if (!cur || !alt) {
		free(cur);
		free(alt);
		block(e, TF_BLOCK_BUDGET, "block", "out of memory deciding on this call");
		return;
	}
	*cur = *call;
	if (cfg->max_cost_per_request >= 0 && cur->worst > cfg->max_cost_per_request) {
		if (downgraded(cur, alt, e) && alt->worst <= cfg->max_cost_per_request) {
			*cur = *alt;
			changed = true;
			e->label = "downgrade";
		} else if (clamped(cur, cfg->max_cost_per_request, alt, e)) {
			*cur = *alt;
			e->label = "clamp";
		} else {
			block(e, TF_BLOCK_BUDGET, "block",
			      "this call may cost up to %s USD, over max_cost_per_request %s USD",
			      usd(cur->worst, a, sizeof(a)), usd(cfg->max_cost_per_request, b, sizeof(b)));
			goto out;
		}
	}
	if (!changed && past_downgrade_at() && downgraded(cur, alt, e)) {
		*cur = *alt;
		changed = true;
		e->label = "downgrade";
	}
	if (E.ledger)
		reserve(cur, e, &changed);
	if (e->verdict == TF_VERDICT_FORWARD)
		apply(call, cur, e);
out:
	free(cur);
	free(alt);
}

bool tf_enforce_live(const tf_call *call, const tf_enforcement *e, uint64_t out_so_far, char *why,
		     size_t n)
{
	tf_scope_state st;
	char a[32], b[32];

	for (size_t i = 0; E.ledger && i < E.chain_n; i++) {
		int r;

		TF_CRIT_BEGIN();
		r = tf_ledger_totals(E.ledger, E.chain[i].name, &st);
		TF_CRIT_END();
		if (r == 0 && st.killed) {
			snprintf(why, n, "budget exceeded: the kill switch of scope '%s' was tripped "
				 "during the stream", E.chain[i].name);
			return true;
		}
	}
	if (e->reserved) {
		tf_money now = tf_price_worst(&call->price, call->input_bound, out_so_far,
					      call->cache_writes);
		if (now > e->res.amount) {
			snprintf(why, n, "budget exceeded: the stream passed its reservation (%s USD of %s USD)",
				 usd(now, a, sizeof(a)), usd(e->res.amount, b, sizeof(b)));
			return true;
		}
	}
	return false;
}

static void report_warnings(const tf_budget_events *ev, const tf_call *call)
{
	for (uint32_t i = 0; i < ev->n; i++) {
		const tf_budget_warning *w = &ev->warn[i];
		char msg[400], s[32], m[32];

		if (w->max_cost >= 0)
			snprintf(msg, sizeof(msg), "warn_at: scope %s reached %u%% of its budget (%s of %s USD)",
				 w->scope, w->ppm / 10000, usd(w->spent, s, sizeof(s)),
				 usd(w->max_cost, m, sizeof(m)));
		else
			snprintf(msg, sizeof(msg), "warn_at: scope %s reached %u%% of its requests (%lld of %lld)",
				 w->scope, w->ppm / 10000, (long long)w->requests, (long long)w->max_requests);
		tf_log(TF_LOG_WARN, "%s", msg);
		tf_events_note("warning", call, w->scope, "%s", msg);
		tf_totals_warn(w->scope, msg);
	}
}

void tf_enforce_settle(const tf_call *call, tf_enforcement *e)
{
	tf_budget_events ev = { 0 };
	int r;

	if (!e->reserved || !E.ledger)
		return;
	e->reserved = false;
	TF_CRIT_BEGIN();
	r = tf_ledger_settle(E.ledger, &e->res, call->cost, TF_LEDGER_SETTLE_OVER, &ev);
	TF_CRIT_END();
	if (r < 0)
		tf_log(TF_LOG_WARN, "ledger: settling %s failed: %s", call->act.action,
		       tf_ledger_strerror(r));
	report_warnings(&ev, call);
}

void tf_enforce_release(tf_enforcement *e)
{
	if (e->reserved && E.ledger) {
		TF_CRIT_BEGIN();
		tf_ledger_release(E.ledger, &e->res);
		TF_CRIT_END();
	}
	e->reserved = false;
}

int tf_enforce_kill(const char *scope, bool kill, char *err, size_t errlen)
{
	int r;

	if (!E.ledger) {
		snprintf(err, errlen, "no budget ledger: %s", E.ledger_err);
		return -ENOTCONN;
	}
	if (!scope || !*scope)
		scope = E.chain[0].name;
	r = kill ? tf_ledger_kill(E.ledger, scope) : tf_ledger_resume(E.ledger, scope);
	if (r < 0)
		snprintf(err, errlen, "%s %s: %s", kill ? "kill" : "resume", scope, tf_ledger_strerror(r));
	return r;
}

static void put_money_or_null(tf_buf *b, const char *key, tf_money m)
{
	tf_json_put_key(b, key);
	if (m < 0)
		tf_json_put_null(b);
	else
		tf_json_put_money(b, m);
}

static void put_count_or_null(tf_buf *b, const char *key, int64_t v)
{
	tf_json_put_key(b, key);
	if (v < 0)
		tf_json_put_null(b);
	else
		tf_json_put_int(b, v);
}

void tf_enforce_put_status(tf_buf *b)
{
	const tf_config *cfg = tf_state_config();
	tf_scope_state s, wf = { 0 };
	bool have_wf = false;

	if (E.ledger)
		have_wf = tf_ledger_totals(E.ledger, E.chain[0].name, &wf) == 0;
	tf_json_put_key(b, "reserved_usd");
	tf_json_put_money(b, have_wf ? wf.reserved : 0);
	tf_json_put_key(b, "budget");
	tf_json_open_object(b);
	put_money_or_null(b, "max_cost", cfg->max_cost);
	put_money_or_null(b, "remaining_usd",
			  cfg->max_cost < 0 ? -1
					    : tf_money_sub_floor0(cfg->max_cost, wf.spent + wf.reserved));
	put_count_or_null(b, "max_requests", cfg->max_requests);
	put_money_or_null(b, "max_cost_per_request", cfg->max_cost_per_request);
	tf_json_close_object(b);
	tf_json_put_key(b, "by_scope");
	tf_json_open_object(b);
	for (size_t i = 0; E.ledger && i < E.chain_n; i++) {
		const tf_scope_def *d = &E.chain[i];
		if (tf_ledger_totals(E.ledger, d->name, &s) < 0)
			memset(&s, 0, sizeof(s));
		tf_json_put_key(b, d->name);
		tf_json_open_object(b);
		tf_json_put_key(b, "spent_usd");
		tf_json_put_money(b, s.spent);
		tf_json_put_key(b, "reserved_usd");
		tf_json_put_money(b, s.reserved);
		put_money_or_null(b, "max_cost", d->max_cost);
		put_money_or_null(b, "remaining_usd",
				  d->max_cost < 0 ? -1 : tf_money_sub_floor0(d->max_cost, s.spent + s.reserved));
		tf_json_put_key(b, "requests");
		tf_json_put_int(b, s.requests);
		put_count_or_null(b, "max_requests", d->max_requests);
		tf_json_put_key(b, "window");
		tf_json_put_cstr(b, tf_window_name(d->window));
		tf_json_put_key(b, "window_start");
		tf_json_put_int(b, s.window_start);
		tf_json_put_key(b, "killed");
		tf_json_put_bool(b, s.killed != 0);
		tf_json_close_object(b);
	}
	tf_json_close_object(b);
}
