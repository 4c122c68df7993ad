#include "budget.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SECONDS_PER_DAY INT64_C(86400)

const char *tf_window_name(tf_window w)
{
	switch (w) {
	case TF_WINDOW_DAY:
		return "day";
	case TF_WINDOW_MONTH:
		return "month";
	case TF_WINDOW_NONE:
		break;
	}
	return "none";
}

int tf_window_parse(const char *s, size_t n, tf_window *out)
{
	static const struct {
		const char *name;
		tf_window w;
	} names[] = { { "none", TF_WINDOW_NONE }, { "day", TF_WINDOW_DAY }, { "month", TF_WINDOW_MONTH } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0) {
			*out = names[i].w;
			return 0;
		}
	}
	return -EINVAL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Proleptic Gregorian calendar <-> days since 1970-01-01, after Howard
 * Hinnant's public-domain "chrono-Compatible Low-Level Date Algorithms"
 * (days_from_civil / civil_from_days). Done by hand rather than with
 * gmtime_r/timegm so that window boundaries never depend on TZ or locale.
 */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m)
{
	z += 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

int64_t tf_window_start(tf_window w, int64_t now)
{
	int64_t days = floor_div(now, SECONDS_PER_DAY);
	int64_t y, m;

	switch (w) {
	case TF_WINDOW_DAY:
		return days * SECONDS_PER_DAY;
	case TF_WINDOW_MONTH:
		civil_from_days(days, &y, &m);
		return days_from_civil(y, m, 1) * SECONDS_PER_DAY;
	case TF_WINDOW_NONE:
		break;
	}
	return 0;
}

int64_t tf_window_next(tf_window w, int64_t start)
{
	int64_t y, m;

	switch (w) {
	case TF_WINDOW_DAY:
		return start + SECONDS_PER_DAY;
	case TF_WINDOW_MONTH:
		civil_from_days(floor_div(start, SECONDS_PER_DAY), &y, &m);
		if (++m > 12) {
			m = 1;
			y++;
		}
		return days_from_civil(y, m, 1) * SECONDS_PER_DAY;
	case TF_WINDOW_NONE:
		break;
	}
	return INT64_MAX;
}

int tf_scope_name_valid(const char *name)
{
	size_t n = name ? strnlen(name, TF_SCOPE_NAME_MAX) : 0;

	if (n == 0 || n >= TF_SCOPE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._:/@+=-", c)))
			return 0;
	}
	return 1;
}

int tf_scope_def_init(tf_scope_def *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->max_cost = TF_BUDGET_NO_LIMIT;
	d->max_requests = TF_BUDGET_NO_LIMIT;
	if (!tf_scope_name_valid(name))
		return -EINVAL;
	memcpy(d->name, name, strlen(name));
	return 0;
}

int tf_scope_def_validate(const tf_scope_def *d)
{
	uint32_t prev = 0;

	if (!tf_scope_name_valid(d->name))
		return -EINVAL;
	if (d->parent[0] && !tf_scope_name_valid(d->parent))
		return -EINVAL;
	if (d->max_cost < TF_BUDGET_NO_LIMIT || d->max_requests < TF_BUDGET_NO_LIMIT)
		return -EINVAL;
	if (d->window != TF_WINDOW_NONE && d->window != TF_WINDOW_DAY && d->window != TF_WINDOW_MONTH)
		return -EINVAL;
	if (d->owner_pid < 0)
		return -EINVAL;
	for (int i = 0; i < TF_BUDGET_WARN_MAX; i++) {
		uint32_t p = d->warn_ppm[i];
		if (p == 0) {
			prev = TF_BUDGET_PPM + 1;
			continue;
		}
		/* Thresholds ascend and nothing follows the first unused slot. */
		if (p > TF_BUDGET_PPM || p <= prev || prev > TF_BUDGET_PPM)
			return -EINVAL;
		prev = p;
	}
	return 0;
}

int tf_budget_find(const tf_budget_table *t, const char *name)
{
	for (uint32_t i = 0; i < *t->n; i++)
		if (strncmp(t->scopes[i].def.name, name, TF_SCOPE_NAME_MAX) == 0)
			return (int)i;
	return -ENOENT;
}

int tf_budget_chain_validate(const tf_scope_def *defs, size_t n)
{
	if (n == 0 || n > TF_BUDGET_CHAIN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (tf_scope_def_validate(&defs[i]) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(defs[i].name, defs[j].name) == 0)
				return -EINVAL;
	}
	return 0;
}

void tf_budget_scope_init(tf_scope_state *s, const tf_scope_def *d, int64_t now)
{
	memset(s, 0, sizeof(*s));
	s->def = *d;
	s->window_start = tf_window_start(d->window, now);
	s->last_used = now;
}

int tf_budget_bind(tf_budget_table *t, const tf_scope_def *defs, size_t n, int64_t now,
		   uint16_t *idx)
{
	if (tf_budget_chain_validate(defs, n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int k = tf_budget_find(t, defs[i].name);
		if (k < 0) {
			uint32_t f = 0;
			while (f < *t->n && t->scopes[f].def.name[0])
				f++;
			if (f >= t->cap || f > UINT16_MAX)
				return -ENOSPC;
			tf_budget_scope_init(&t->scopes[f], &defs[i], now);
			if (f == *t->n)
				(*t->n)++;
			k = (int)f;
		}
		idx[i] = (uint16_t)k;
	}
	return 0;
}

void tf_budget_roll(tf_scope_state *s, int64_t now)
{
	int64_t ws = tf_window_start(s->def.window, now);

	/*
	 * Only forward: a clock stepping back (or a caller with a skewed
	 * clock) must not reopen a closed window. Reservations carry over: they
	 * were admitted, so their money is still on its way out.
	 */
	if (ws <= s->window_start)
		return;
	s->previous.start = s->window_start;
	s->previous.spent = s->spent;
	s->previous.requests = s->requests;
	s->spent = 0;
	s->requests = 0;
	s->warned = 0;
	s->window_start = ws;
}

static int hold_valid(const tf_budget_table *t, const tf_budget_hold *h)
{
	if (h->nscopes == 0 || h->nscopes > TF_BUDGET_CHAIN_MAX || h->amount < 0)
		return 0;
	for (int i = 0; i < h->nscopes; i++)
		if (h->scope[i] >= *t->n)
			return 0;
	return 1;
}

/* used + more <= limit, without overflow. */
static int fits(tf_money used, tf_money more, tf_money limit)
{
	__int128 sum = (__int128)used + more;

	return limit == TF_BUDGET_NO_LIMIT || sum <= limit;
}

int tf_budget_reserve(tf_budget_table *t, const uint16_t *idx, const tf_scope_def *defs, size_t n,
		      const tf_money *external, tf_money worst, unsigned flags, int64_t now,
		      tf_budget_hold *hold, tf_budget_denial *why)
{
	int req = (flags & TF_BUDGET_COUNT_REQUEST) ? 1 : 0;

	if (n == 0 || n > TF_BUDGET_CHAIN_MAX || worst < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= *t->n || (external && external[i] < 0))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (idx[i] == idx[j])
				return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		tf_scope_state *s = &t->scopes[idx[i]];

		s->def = defs[i];
		tf_budget_roll(s, now);
	}
	for (size_t i = 0; i < n; i++) {
		const tf_scope_state *s = &t->scopes[idx[i]];
		tf_money used = tf_money_add(tf_money_add(s->spent, s->reserved),
					     external ? external[i] : 0);
		int64_t nreq = s->requests + s->reserved_requests;
		tf_budget_reason r = TF_BUDGET_OK;

		if (s->killed)
			r = TF_BUDGET_REASON_KILLED;
		else if (req && !fits(nreq, 1, s->def.max_requests))
			r = TF_BUDGET_REASON_REQUESTS;
		else if (!fits(used, worst, s->def.max_cost))
			r = TF_BUDGET_REASON_COST;
		if (r == TF_BUDGET_OK)
			continue;
		if (why) {
			memset(why, 0, sizeof(*why));
			why->reason = r;
			memcpy(why->scope, s->def.name, sizeof(why->scope));
			why->asked = worst;
			why->max_cost = s->def.max_cost;
			why->spent = s->spent;
			why->reserved = used - s->spent;
			why->max_requests = s->def.max_requests;
			why->requests = nreq;
		}
		return TF_BUDGET_DENIED;
	}
	memset(hold, 0, sizeof(*hold));
	for (size_t i = 0; i < n; i++) {
		tf_scope_state *s = &t->scopes[idx[i]];

		s->reserved += worst;
		s->reserved_requests += req;
		s->last_used = now;
		hold->scope[i] = idx[i];
	}
	hold->nscopes = (uint8_t)n;
	hold->counts_request = (uint8_t)req;
	hold->amount = worst;
	return 0;
}

/* Scales limit by ppm/1e6 and compares, exactly. */
static int reached(int64_t value, int64_t limit, uint32_t ppm)
{
	if (limit <= 0)
		return 0;
	return (__int128)value * TF_BUDGET_PPM >= (__int128)limit * ppm;
}

static void check_warnings(tf_scope_state *s, tf_budget_events *ev)
{
	for (int i = 0; i < TF_BUDGET_WARN_MAX; i++) {
		uint32_t ppm = s->def.warn_ppm[i];

		if (ppm == 0 || (s->warned & (1u << i)))
			continue;
		if (!reached(s->spent, s->def.max_cost, ppm) &&
		    !reached(s->requests, s->def.max_requests, ppm))
			continue;
		s->warned |= 1u << i;
		if (!ev || ev->n >= sizeof(ev->warn) / sizeof(ev->warn[0]))
			continue;
		tf_budget_warning *w = &ev->warn[ev->n++];
		memcpy(w->scope, s->def.name, sizeof(w->scope));
		w->ppm = ppm;
		w->spent = s->spent;
		w->max_cost = s->def.max_cost;
		w->requests = s->requests;
		w->max_requests = s->def.max_requests;
		w->window_start = s->window_start;
	}
}

static void drop_hold(tf_scope_state *s, const tf_budget_hold *h)
{
	/* Floors guard a corrupted table from going negative; they never trigger otherwise. */
	s->reserved = tf_money_sub_floor0(s->reserved, h->amount);
	s->reserved_requests = s->reserved_requests > h->counts_request ?
				       s->reserved_requests - h->counts_request :
				       0;
}

static void book(tf_budget_table *t, const tf_budget_hold *h, tf_money actual, int64_t now,
		 tf_budget_events *ev)
{
	for (int i = 0; i < h->nscopes; i++) {
		tf_scope_state *s = &t->scopes[h->scope[i]];

		tf_budget_roll(s, now);
		drop_hold(s, h);
		s->spent = tf_money_add(s->spent, actual);
		s->lifetime_spent = tf_money_add(s->lifetime_spent, actual);
		s->requests += h->counts_request;
		s->lifetime_requests += h->counts_request;
		s->last_used = now;
		check_warnings(s, ev);
	}
}

int tf_budget_settle(tf_budget_table *t, const tf_budget_hold *hold, tf_money actual,
		     unsigned flags, int64_t now, tf_budget_events *ev)
{
	if (!hold_valid(t, hold) || actual < 0)
		return -EINVAL;
	if (actual > hold->amount && !(flags & TF_BUDGET_SETTLE_OVER))
		return -ERANGE;
	book(t, hold, actual, now, ev);
	return 0;
}

int tf_budget_release(tf_budget_table *t, const tf_budget_hold *hold, int64_t now)
{
	if (!hold_valid(t, hold))
		return -EINVAL;
	for (int i = 0; i < hold->nscopes; i++) {
		tf_scope_state *s = &t->scopes[hold->scope[i]];

		tf_budget_roll(s, now);
		drop_hold(s, hold);
		s->last_used = now;
	}
	return 0;
}

int tf_budget_reclaim(tf_budget_table *t, const tf_budget_hold *hold, int64_t now,
		      tf_budget_events *ev)
{
	if (!hold_valid(t, hold))
		return -EINVAL;
	book(t, hold, hold->amount, now, ev);
	for (int i = 0; i < hold->nscopes; i++) {
		tf_scope_state *s = &t->scopes[hold->scope[i]];

		s->reclaimed = tf_money_add(s->reclaimed, hold->amount);
		s->reclaimed_count++;
	}
	return 0;
}

void tf_budget_kill(tf_scope_state *s, int killed)
{
	s->killed = killed ? 1 : 0;
}

int tf_budget_denial_format(const tf_budget_denial *d, char *out, size_t outlen)
{
	char cap[32], spent[32], res[32], ask[32];

	switch (d->reason) {
	case TF_BUDGET_REASON_KILLED:
		return snprintf(out, outlen, "budget exceeded: scope '%s' stopped by kill switch",
				d->scope);
	case TF_BUDGET_REASON_REQUESTS:
		return snprintf(out, outlen,
				"budget exceeded: scope '%s' max_requests %lld, %lld used or in flight",
				d->scope, (long long)d->max_requests, (long long)d->requests);
	case TF_BUDGET_REASON_COST:
		break;
	case TF_BUDGET_OK:
		return snprintf(out, outlen, "ok");
	}
	tf_money_format(d->max_cost, cap, sizeof(cap));
	tf_money_format(d->spent, spent, sizeof(spent));
	tf_money_format(d->reserved, res, sizeof(res));
	tf_money_format(d->asked, ask, sizeof(ask));
	return snprintf(out, outlen,
			"budget exceeded: scope '%s' max_cost %s USD, spent %s, reserved %s, "
			"this call needs up to %s USD",
			d->scope, cap, spent, res, ask);
}
