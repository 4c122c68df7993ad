#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"

/* ---- errors --------------------------------------------------------- */

typedef struct ctx {
	tf_config *c;
	const char *file;
	char *err;
	size_t errlen;
} ctx;

static int vfail(char *err, size_t errlen, const char *where, uint32_t line, const char *fmt,
		 va_list ap) __attribute__((format(printf, 5, 0)));

static int vfail(char *err, size_t errlen, const char *where, uint32_t line, const char *fmt,
		 va_list ap)
{
	int n;

	if (!err || errlen == 0)
		return -EINVAL;
	if (line)
		n = snprintf(err, errlen, "tokenfence: %s:%u: ", where, line);
	else
		n = snprintf(err, errlen, "tokenfence: %s: ", where);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

static int fail(ctx *x, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(ctx *x, uint32_t line, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail(x->err, x->errlen, x->file, line, fmt, ap);
	va_end(ap);
	return r;
}

static int nomem(ctx *x)
{
	snprintf(x->err, x->errlen, "tokenfence: out of memory reading the configuration");
	return -ENOMEM;
}

/* Printable, shortened copy of untrusted text for messages. */
static void sanitize(char *out, size_t outlen, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < outlen; i++)
		out[o++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f && s[i] != '"')
				   ? s[i]
				   : '?';
	if (o < n && outlen > 4) {
		if (o + 4 > outlen)
			o = outlen - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* parent["key"] */
static void keypath(char *out, size_t outlen, const char *parent, const char *key, size_t n)
{
	char safe[72];

	sanitize(safe, sizeof(safe), key, n);
	snprintf(out, outlen, "%s[\"%s\"]", parent, safe);
}

/* ---- value checks --------------------------------------------------- */

static const char *const top_keys[] = {
	"max_cost", "max_cost_per_request", "max_requests", "warn_at", "downgrade_at",
	"model_downgrade", "scope", "scopes", "policy", "approval_timeout_s", "prices",
	"deployments", "clamp_max_tokens", "min_max_tokens", "hosts", "ledger", "fail_mode", "h2",
};

static int unknown_key(ctx *x, const char *where, const tf_json_member *m,
		       const char *const *keys, size_t nkeys)
{
	char k[72];
	const char *hint = tf_json_closest(m->key, m->key_len, keys, nkeys);

	sanitize(k, sizeof(k), m->key, m->key_len);
	if (hint)
		return fail(x, m->line, "%s%sunknown key \"%s\" (did you mean \"%s\"?)",
			    where ? where : "", where ? ": " : "", k, hint);
	return fail(x, m->line, "%s%sunknown key \"%s\"", where ? where : "", where ? ": " : "",
		    k);
}

static int want(ctx *x, const char *path, const tf_json_value *v, tf_json_type t,
		const char *what)
{
	if (v->type == t || (t == TF_JSON_TRUE && v->type == TF_JSON_FALSE))
		return 0;
	return fail(x, v->line, "%s: expected %s, got %s", path, what, tf_json_type_name(v->type));
}

static int get_money(ctx *x, const char *path, const tf_json_value *v, tf_money *out)
{
	int r = want(x, path, v, TF_JSON_NUMBER, "an amount of USD");

	if (r < 0)
		return r;
	r = tf_json_money_usd(v, out);
	if (r == -ERANGE && v->u.num.text[0] == '-')
		return fail(x, v->line, "%s: must not be negative", path);
	if (r == -ERANGE)
		return fail(x, v->line, "%s: more than %lld USD", path,
			    (long long)TF_MONEY_MAX_USD);
	if (r < 0)
		return fail(x, v->line, "%s: more than 12 decimals", path);
	return 0;
}

static int get_count(ctx *x, const char *path, const tf_json_value *v, int64_t lo, int64_t hi,
		     int64_t *out)
{
	int r = want(x, path, v, TF_JSON_NUMBER, "a whole number");

	if (r < 0)
		return r;
	r = tf_json_int64(v, out);
	if (r == -EINVAL)
		return fail(x, v->line, "%s: expected a whole number", path);
	if (r < 0 || *out < lo || *out > hi)
		return fail(x, v->line, "%s: must be from %lld to %lld", path, (long long)lo,
			    (long long)hi);
	return 0;
}

/* A fraction in (0, 1] as parts per million, exact. */
static int parse_fraction(const char *s, size_t n, uint32_t *ppm)
{
	tf_money v;

	/* tf_money_parse_per_mtok is exactly "decimal with 6 places, x 1e6". */
	if (tf_money_parse_per_mtok(s, n, &v) < 0 || v <= 0 || v > TF_CONFIG_PPM)
		return -EINVAL;
	*ppm = (uint32_t)v;
	return 0;
}

static int get_fraction(ctx *x, const char *path, const tf_json_value *v, uint32_t *ppm)
{
	char d[32];
	int r = want(x, path, v, TF_JSON_NUMBER, "a number in (0, 1]");

	if (r < 0)
		return r;
	if (tf_json_decimal(v, d, sizeof(d)) < 0 || parse_fraction(d, strlen(d), ppm) < 0)
		return fail(x, v->line, "%s: must be in (0, 1], with at most 6 decimals", path);
	return 0;
}

static int get_bool(ctx *x, const char *path, const tf_json_value *v, bool *out)
{
	int r = want(x, path, v, TF_JSON_TRUE, "true or false");

	if (r == 0)
		*out = v->type == TF_JSON_TRUE;
	return r;
}

static int get_string(ctx *x, const char *path, const tf_json_value *v, const char *what)
{
	int r = want(x, path, v, TF_JSON_STRING, what);

	if (r < 0)
		return r;
	if (v->u.str.len == 0)
		return fail(x, v->line, "%s: must not be empty", path);
	if (strlen(v->u.str.s) != v->u.str.len)
		return fail(x, v->line, "%s: contains a NUL character", path);
	return 0;
}

static int get_enum(ctx *x, const char *path, const tf_json_value *v, const char *const *names,
		    size_t n, int *out)
{
	char list[128] = "";
	int r = want(x, path, v, TF_JSON_STRING, "a string");

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v->u.str.s, names[i]) == 0 && strlen(names[i]) == v->u.str.len) {
			*out = (int)i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
			 i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
	}
	return fail(x, v->line, "%s: expected %s", path, list);
}

static bool printable_token(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool valid_scope_name(const char *s, size_t n)
{
	if (n == 0 || n > TF_CONFIG_SCOPE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      strchr("_.:@/-", ch)) || ch == '\0')
			return false;
	}
	return true;
}

#define SCOPE_NAME_RULE "1 to 64 characters of A-Z a-z 0-9 _ . : @ / -"
#define MODEL_ID_RULE "printable ASCII without spaces"

/* Fails unless s is a sane model id (or deployment name). */
static int check_model(ctx *x, const char *path, uint32_t line, const char *s, size_t n)
{
	if (!printable_token(s, n, TF_CONFIG_MODEL_ID_MAX))
		return fail(x, line, "%s: model ids must be %s", path, MODEL_ID_RULE);
	return 0;
}

/*
 * redis://[user[:password]@]host[:port][/db] with host a name, IPv4, or
 * [IPv6]. Only the shape is checked here; the ledger connects later.
 */
static bool valid_redis_url(const char *s)
{
	const char *p = s + strlen("redis://"), *at, *end;
	long v;

	at = strchr(p, '@');
	if (at)
		p = at + 1;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end == p + 1)
			return false;
		p = end + 1;
	} else {
		const char *h = p;
		while (*p && *p != ':' && *p != '/')
			if ((unsigned char)*p++ <= 0x20)
				return false;
		if (p == h)
			return false;
	}
	if (*p == ':') {
		p++;
		v = 0;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9' && v <= 65535)
			v = v * 10 + (*p++ - '0');
		if (v < 1 || v > 65535)
			return false;
	}
	if (*p == '/') {
		p++;
		v = 0;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9' && v <= 1000000)
			v = v * 10 + (*p++ - '0');
		if (v > 1000000)
			return false;
	}
	return *p == '\0';
}

/* NULL when fine, else why not. */
static const char *ledger_problem(const char *s)
{
	if (strncmp(s, "redis://", 8) == 0)
		return valid_redis_url(s) ? NULL
					  : "expected redis://[user:password@]host[:port][/db]";
	if (strstr(s, "://"))
		return "only redis:// URLs are supported";
	/* A relative path would name a different ledger in every working
	 * directory, splitting one budget into many. */
	if (s[0] != '/')
		return "must be an absolute path or a redis:// URL";
	return NULL;
}

/* ---- storing -------------------------------------------------------- */

static int set_str(char **dst, const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

static int map_put(tf_model_map **v, size_t *n, const char *from, size_t fl, const char *to,
		   size_t tl)
{
	tf_model_map *nv;

	for (size_t i = 0; i < *n; i++)
		if (strlen((*v)[i].from) == fl && strncasecmp((*v)[i].from, from, fl) == 0)
			return set_str(&(*v)[i].to, to, tl);
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n].from = strndup(from, fl);
	nv[*n].to = strndup(to, tl);
	if (!nv[*n].from || !nv[*n].to) {
		free(nv[*n].from);
		free(nv[*n].to);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

static void map_free(tf_model_map *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].from);
		free(v[i].to);
	}
	free(v);
}

static tf_scope_cfg *scope_get_or_add(tf_config *c, const char *name, size_t n)
{
	tf_scope_cfg *v;

	for (size_t i = 0; i < c->n_scopes; i++)
		if (strcmp(c->scopes[i].name, name) == 0)
			return &c->scopes[i];
	v = realloc(c->scopes, (c->n_scopes + 1) * sizeof(*v));
	if (!v)
		return NULL;
	c->scopes = v;
	memset(&v[c->n_scopes], 0, sizeof(*v));
	v[c->n_scopes].name = strndup(name, n);
	if (!v[c->n_scopes].name)
		return NULL;
	v[c->n_scopes].max_cost = TF_CONFIG_UNSET_MONEY;
	v[c->n_scopes].max_requests = TF_CONFIG_UNSET_COUNT;
	return &v[c->n_scopes++];
}

static void rules_free(tf_config *c)
{
	for (size_t i = 0; i < c->n_rules; i++)
		free(c->rules[i].action);
	free(c->rules);
	c->rules = NULL;
	c->n_rules = 0;
}

/* ---- file keys ------------------------------------------------------ */

static int key_money(ctx *x, const tf_json_member *m, tf_money *out)
{
	return get_money(x, m->key, &m->value, out);
}

static int k_max_cost(ctx *x, const tf_json_member *m)
{
	return key_money(x, m, &x->c->max_cost);
}

static int k_max_cost_per_request(ctx *x, const tf_json_member *m)
{
	return key_money(x, m, &x->c->max_cost_per_request);
}

static int k_max_requests(ctx *x, const tf_json_member *m)
{
	return get_count(x, m->key, &m->value, 0, INT64_MAX, &x->c->max_requests);
}

static int k_warn_at(ctx *x, const tf_json_member *m)
{
	return get_fraction(x, m->key, &m->value, &x->c->warn_at_ppm);
}

static int k_downgrade_at(ctx *x, const tf_json_member *m)
{
	return get_fraction(x, m->key, &m->value, &x->c->downgrade_at_ppm);
}

/* An object of model id -> model id (model_downgrade, deployments). */
static int model_map(ctx *x, const tf_json_member *m, tf_model_map **v, size_t *n, bool no_self)
{
	int r = want(x, m->key, &m->value, TF_JSON_OBJECT, "an object");

	for (size_t i = 0; r == 0 && i < m->value.u.obj.n; i++) {
		const tf_json_member *e = &m->value.u.obj.members[i];
		char path[128];
		keypath(path, sizeof(path), m->key, e->key, e->key_len);
		r = check_model(x, path, e->line, e->key, e->key_len);
		if (r == 0)
			r = get_string(x, path, &e->value, "a model id");
		if (r == 0)
			r = check_model(x, path, e->value.line, e->value.u.str.s, e->value.u.str.len);
		if (r == 0 && no_self && e->key_len == e->value.u.str.len &&
		    strncasecmp(e->key, e->value.u.str.s, e->key_len) == 0)
			r = fail(x, e->value.line, "%s: a model cannot be downgraded to itself", path);
		if (r == 0 && map_put(v, n, e->key, e->key_len, e->value.u.str.s, e->value.u.str.len) < 0)
			r = nomem(x);
	}
	return r;
}

static int k_model_downgrade(ctx *x, const tf_json_member *m)
{
	return model_map(x, m, &x->c->downgrade, &x->c->n_downgrade, true);
}

static int k_deployments(ctx *x, const tf_json_member *m)
{
	return model_map(x, m, &x->c->deployments, &x->c->n_deployments, false);
}

static int k_scope(ctx *x, const tf_json_member *m)
{
	int r = get_string(x, m->key, &m->value, "a scope name");

	if (r == 0 && !valid_scope_name(m->value.u.str.s, m->value.u.str.len))
		r = fail(x, m->value.line, "scope: names are %s", SCOPE_NAME_RULE);
	if (r == 0 && set_str(&x->c->scope, m->value.u.str.s, m->value.u.str.len) < 0)
		r = nomem(x);
	return r;
}

static int one_scope(ctx *x, const tf_json_member *e)
{
	static const char *const keys[] = { "max_cost", "max_requests", "warn_at", "window",
					    "parent" };
	static const char *const windows[] = { "none", "day", "month" };
	char path[128], sub[160];
	tf_scope_cfg *s;
	int r;

	keypath(path, sizeof(path), "scopes", e->key, e->key_len);
	if (!valid_scope_name(e->key, e->key_len))
		return fail(x, e->line, "%s: scope names are %s", path, SCOPE_NAME_RULE);
	r = want(x, path, &e->value, TF_JSON_OBJECT, "an object");
	if (r < 0)
		return r;
	s = scope_get_or_add(x->c, e->key, e->key_len);
	if (!s)
		return nomem(x);
	s->line = e->line;
	for (size_t i = 0; r == 0 && i < e->value.u.obj.n; i++) {
		const tf_json_member *k = &e->value.u.obj.members[i];
		const tf_json_value *v = &k->value;
		int w = 0;
		snprintf(sub, sizeof(sub), "%s.%s", path, k->key);
		if (strcmp(k->key, "max_cost") == 0) {
			r = get_money(x, sub, v, &s->max_cost);
		} else if (strcmp(k->key, "max_requests") == 0) {
			r = get_count(x, sub, v, 0, INT64_MAX, &s->max_requests);
		} else if (strcmp(k->key, "warn_at") == 0) {
			r = get_fraction(x, sub, v, &s->warn_at_ppm);
		} else if (strcmp(k->key, "window") == 0) {
			r = get_enum(x, sub, v, windows, 3, &w);
			s->window = (tf_window)w;
		} else if (strcmp(k->key, "parent") == 0) {
			r = get_string(x, sub, v, "a scope name");
			if (r == 0 && !valid_scope_name(v->u.str.s, v->u.str.len))
				r = fail(x, v->line, "%s: scope names are %s", sub, SCOPE_NAME_RULE);
			if (r == 0 && set_str(&s->parent, v->u.str.s, v->u.str.len) < 0)
				r = nomem(x);
		} else {
			r = unknown_key(x, path, k, keys, sizeof(keys) / sizeof(keys[0]));
		}
	}
	return r;
}

static int k_scopes(ctx *x, const tf_json_member *m)
{
	int r = want(x, m->key, &m->value, TF_JSON_OBJECT, "an object");

	for (size_t i = 0; r == 0 && i < m->value.u.obj.n; i++)
		r = one_scope(x, &m->value.u.obj.members[i]);
	return r;
}

static int one_rule(ctx *x, size_t idx, const tf_json_value *v, tf_rule_cfg *out)
{
	static const char *const keys[] = { "effect", "action" };
	static const char *const effects[] = { "allow", "deny", "require_approval" };
	char path[64], sub[96];
	bool has_effect = false;
	int r;

	snprintf(path, sizeof(path), "policy.rules[%zu]", idx);
	r = want(x, path, v, TF_JSON_OBJECT, "an object");
	out->line = v->line;
	for (size_t i = 0; r == 0 && i < v->u.obj.n; i++) {
		const tf_json_member *k = &v->u.obj.members[i];
		int e = 0;
		snprintf(sub, sizeof(sub), "%s.%s", path, k->key);
		if (strcmp(k->key, "effect") == 0) {
			r = get_enum(x, sub, &k->value, effects, 3, &e);
			if (r == 0)
				tf_effect_parse(effects[e], strlen(effects[e]), &out->effect);
			has_effect = true;
		} else if (strcmp(k->key, "action") == 0) {
			r = get_string(x, sub, &k->value, "an action pattern");
			if (r == 0 && !printable_token(k->value.u.str.s, k->value.u.str.len,
						       TF_CONFIG_ACTION_MAX))
				r = fail(x, k->value.line,
					 "%s: must be printable ASCII without spaces, at most %d "
					 "characters",
					 sub, TF_CONFIG_ACTION_MAX);
			if (r == 0 && set_str(&out->action, k->value.u.str.s, k->value.u.str.len) < 0)
				r = nomem(x);
		} else {
			r = unknown_key(x, path, k, keys, 2);
		}
	}
	if (r == 0 && !has_effect)
		r = fail(x, v->line, "%s: missing \"effect\" (allow, deny or require_approval)",
			 path);
	if (r == 0 && !out->action)
		r = fail(x, v->line, "%s: missing \"action\"", path);
	return r;
}

static int k_policy(ctx *x, const tf_json_member *m)
{
	static const char *const keys[] = { "default", "rules" };
	static const char *const defaults[] = { "allow", "deny" };
	tf_config *c = x->c;
	int r = want(x, m->key, &m->value, TF_JSON_OBJECT, "an object");

	if (r < 0)
		return r;
	rules_free(c);
	c->has_policy = true;
	/* Least privilege, as the seed's Policy: no default means deny. */
	c->policy_default = TF_EFFECT_DENY;
	for (size_t i = 0; r == 0 && i < m->value.u.obj.n; i++) {
		const tf_json_member *k = &m->value.u.obj.members[i];
		const tf_json_value *v = &k->value;
		if (strcmp(k->key, "default") == 0) {
			int d = 1;
			r = get_enum(x, "policy.default", v, defaults, 2, &d);
			c->policy_default = d == 0 ? TF_EFFECT_ALLOW : TF_EFFECT_DENY;
		} else if (strcmp(k->key, "rules") == 0) {
			r = want(x, "policy.rules", v, TF_JSON_ARRAY, "an array");
			if (r == 0 && v->u.arr.n) {
				c->rules = calloc(v->u.arr.n, sizeof(*c->rules));
				if (!c->rules)
					return nomem(x);
			}
			for (size_t j = 0; r == 0 && j < v->u.arr.n; j++) {
				c->n_rules = j + 1;
				r = one_rule(x, j, &v->u.arr.items[j], &c->rules[j]);
			}
		} else {
			r = unknown_key(x, "policy", k, keys, 2);
		}
	}
	return r;
}

static int k_approval_timeout_s(ctx *x, const tf_json_member *m)
{
	int64_t v;
	int r = get_count(x, m->key, &m->value, 1, TF_CONFIG_MAX_APPROVAL_TIMEOUT_S, &v);

	if (r == 0)
		x->c->approval_timeout_s = (uint32_t)v;
	return r;
}

static int price_put(tf_config *c, const char *model, size_t n, const tf_price *p)
{
	tf_price_cfg *v;

	for (size_t i = 0; i < c->n_prices; i++) {
		if (strlen(c->prices[i].model) == n && strncasecmp(c->prices[i].model, model, n) == 0) {
			c->prices[i].price = *p;
			return 0;
		}
	}
	v = realloc(c->prices, (c->n_prices + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->prices = v;
	v[c->n_prices].model = strndup(model, n);
	if (!v[c->n_prices].model)
		return -ENOMEM;
	v[c->n_prices++].price = *p;
	return 0;
}

static int k_prices(ctx *x, const tf_json_member *m)
{
	int r = want(x, m->key, &m->value, TF_JSON_OBJECT, "an object");

	for (size_t i = 0; r == 0 && i < m->value.u.obj.n; i++) {
		const tf_json_member *e = &m->value.u.obj.members[i];
		char path[128], msg[256];
		uint32_t line = e->line;
		tf_price p;

		keypath(path, sizeof(path), "prices", e->key, e->key_len);
		r = check_model(x, path, e->line, e->key, e->key_len);
		if (r < 0)
			break;
		if (tf_price_parse(&e->value, path, &p, &line, msg, sizeof(msg)) < 0)
			return fail(x, line, "%s", msg);
		/* Both needed: the model may be new to the table, and half a
		 * price for a known one is more likely a mistake than a wish. */
		if (p.input == TF_PRICE_UNSET || p.output == TF_PRICE_UNSET)
			return fail(x, e->line, "%s: needs both \"input\" and \"output\"", path);
		if (price_put(x->c, e->key, e->key_len, &p) < 0)
			return nomem(x);
	}
	return r;
}

static int k_clamp_max_tokens(ctx *x, const tf_json_member *m)
{
	return get_bool(x, m->key, &m->value, &x->c->clamp_max_tokens);
}

static int k_min_max_tokens(ctx *x, const tf_json_member *m)
{
	int64_t v;
	int r = get_count(x, m->key, &m->value, 1, TF_PRICES_MAX_TOKENS, &v);

	if (r == 0)
		x->c->min_max_tokens = (uint32_t)v;
	return r;
}

static int k_hosts(ctx *x, const tf_json_member *m)
{
	static const char *const provs[] = { "none", "bedrock", "azure" };
	int r = want(x, m->key, &m->value, TF_JSON_OBJECT, "an object");

	for (size_t i = 0; r == 0 && i < m->value.u.obj.n; i++) {
		const tf_json_member *e = &m->value.u.obj.members[i];
		char path[128];
		int p;
		keypath(path, sizeof(path), "hosts", e->key, e->key_len);
		r = get_enum(x, path, &e->value, provs, 3, &p);
		if (r < 0)
			break;
		if (!printable_token(e->key, e->key_len, 255))
			return fail(x, e->line, "%s: expected host[:port] (printable, no spaces)",
				    path);
		r = tf_hosts_add(&x->c->hosts, e->key, e->key_len, (tf_provider)p);
		if (r == -ENOMEM)
			return nomem(x);
		if (r < 0)
			return fail(x, e->line, "%s: expected host[:port]", path);
	}
	return r;
}

static int k_ledger(ctx *x, const tf_json_member *m)
{
	const char *why;
	int r = get_string(x, m->key, &m->value, "a path or redis:// URL");

	if (r < 0)
		return r;
	why = ledger_problem(m->value.u.str.s);
	if (why)
		return fail(x, m->value.line, "ledger: %s", why);
	return set_str(&x->c->ledger, m->value.u.str.s, m->value.u.str.len) < 0 ? nomem(x) : 0;
}

static int k_fail_mode(ctx *x, const tf_json_member *m)
{
	static const char *const modes[] = { "closed", "open" };
	int v;
	int r = get_enum(x, m->key, &m->value, modes, 2, &v);

	if (r == 0)
		x->c->fail_mode = (tf_fail_mode)v;
	return r;
}

static int k_h2(ctx *x, const tf_json_member *m)
{
	static const char *const modes[] = { "enforce", "downgrade_alpn" };
	int v;
	int r = get_enum(x, m->key, &m->value, modes, 2, &v);

	if (r == 0)
		x->c->h2 = (tf_h2_mode)v;
	return r;
}

/* Same order as top_keys. */
static int (*const top_handlers[])(ctx *, const tf_json_member *) = {
	k_max_cost, k_max_cost_per_request, k_max_requests, k_warn_at, k_downgrade_at,
	k_model_downgrade, k_scope, k_scopes, k_policy, k_approval_timeout_s, k_prices,
	k_deployments, k_clamp_max_tokens, k_min_max_tokens, k_hosts, k_ledger, k_fail_mode, k_h2,
};

_Static_assert(sizeof(top_keys) / sizeof(top_keys[0]) ==
		       sizeof(top_handlers) / sizeof(top_handlers[0]),
	       "one handler per key");

/* ---- public: lifecycle and file ------------------------------------- */

void tf_config_init(tf_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_cost = TF_CONFIG_UNSET_MONEY;
	c->max_cost_per_request = TF_CONFIG_UNSET_MONEY;
	c->max_requests = TF_CONFIG_UNSET_COUNT;
	c->policy_default = TF_EFFECT_DENY;
	c->approval_timeout_s = TF_CONFIG_DEFAULT_APPROVAL_TIMEOUT_S;
	c->clamp_max_tokens = true;
	c->min_max_tokens = 1;
	c->fail_mode = TF_FAIL_CLOSED;
	c->h2 = TF_H2_ENFORCE;
}

void tf_config_free(tf_config *c)
{
	free(c->file);
	map_free(c->downgrade, c->n_downgrade);
	free(c->scope);
	for (size_t i = 0; i < c->n_scopes; i++) {
		free(c->scopes[i].name);
		free(c->scopes[i].parent);
	}
	free(c->scopes);
	rules_free(c);
	for (size_t i = 0; i < c->n_prices; i++)
		free(c->prices[i].model);
	free(c->prices);
	map_free(c->deployments, c->n_deployments);
	tf_hosts_free(&c->hosts);
	free(c->ledger);
	tf_config_init(c);
}

int tf_config_parse(tf_config *c, const char *file, const char *text, size_t len, char *err,
		    size_t errlen)
{
	tf_json_limits lim = { .max_size = TF_CONFIG_MAX_SIZE };
	tf_json_error jerr;
	tf_json_doc doc;
	ctx x = { .c = c, .file = file ? file : "(config)", .err = err, .errlen = errlen };
	const tf_json_value *root;
	int r;

	if (set_str(&c->file, x.file, strlen(x.file)) < 0)
		return nomem(&x);
	r = tf_json_parse(&doc, text, len, &lim, &jerr);
	if (r == -E2BIG) {
		r = fail(&x, 0, "larger than %zu bytes", TF_CONFIG_MAX_SIZE);
		goto out;
	}
	if (r == -ENOMEM) {
		r = nomem(&x);
		goto out;
	}
	if (r < 0) {
		r = fail(&x, jerr.line, "invalid JSON at column %u: %s", jerr.col, jerr.msg);
		goto out;
	}
	root = doc.root;
	if (root->type != TF_JSON_OBJECT) {
		r = fail(&x, root->line, "expected a JSON object at the top, got %s",
			 tf_json_type_name(root->type));
		goto out;
	}
	for (size_t i = 0; r == 0 && i < root->u.obj.n; i++) {
		const tf_json_member *m = &root->u.obj.members[i];
		size_t k;
		for (k = 0; k < sizeof(top_keys) / sizeof(top_keys[0]); k++)
			if (strlen(top_keys[k]) == m->key_len && strcmp(top_keys[k], m->key) == 0)
				break;
		if (k == sizeof(top_keys) / sizeof(top_keys[0]))
			r = unknown_key(&x, NULL, m, top_keys, k);
		else
			r = top_handlers[k](&x, m);
	}
out:
	tf_json_doc_free(&doc);
	return r;
}

/* ---- environment ---------------------------------------------------- */

typedef struct envctx {
	tf_config *c;
	const char *name;
	const char *val; /* trimmed copy */
	size_t len;
	char *err;
	size_t errlen;
} envctx;

static int efail(envctx *e, bool show_value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int efail(envctx *e, bool show_value, const char *fmt, ...)
{
	char where[160], safe[72];
	va_list ap;
	int r;

	if (show_value) {
		sanitize(safe, sizeof(safe), e->val, e->len);
		snprintf(where, sizeof(where), "%s=\"%s\"", e->name, safe);
	} else {
		snprintf(where, sizeof(where), "%s", e->name);
	}
	va_start(ap, fmt);
	r = vfail(e->err, e->errlen, where, 0, fmt, ap);
	va_end(ap);
	return r;
}

static int env_money(envctx *e, tf_money *out)
{
	int r = tf_money_parse_usd(e->val, e->len, out);

	if (r == -ERANGE)
		return efail(e, true, "more than %lld USD", (long long)TF_MONEY_MAX_USD);
	if (r < 0)
		return efail(e, true, "expected a plain decimal amount of USD (e.g. 3 or 0.50)");
	return 0;
}

static int env_count(envctx *e, int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v = 0;

	for (size_t i = 0; i < e->len; i++) {
		if (e->val[i] < '0' || e->val[i] > '9')
			return efail(e, true, "expected a whole number from %lld to %lld",
				     (long long)lo, (long long)hi);
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, e->val[i] - '0', &v))
			return efail(e, true, "expected a whole number from %lld to %lld",
				     (long long)lo, (long long)hi);
	}
	if (v < lo || v > hi)
		return efail(e, true, "expected a whole number from %lld to %lld", (long long)lo,
			     (long long)hi);
	*out = v;
	return 0;
}

static int e_max_cost(envctx *e)
{
	return env_money(e, &e->c->max_cost);
}

static int e_max_cost_per_request(envctx *e)
{
	return env_money(e, &e->c->max_cost_per_request);
}

static int e_max_requests(envctx *e)
{
	return env_count(e, 0, INT64_MAX, &e->c->max_requests);
}

static int e_fraction(envctx *e, uint32_t *ppm)
{
	if (parse_fraction(e->val, e->len, ppm) < 0)
		return efail(e, true, "expected a number in (0, 1], e.g. 0.75");
	return 0;
}

static int e_warn_at(envctx *e)
{
	return e_fraction(e, &e->c->warn_at_ppm);
}

static int e_downgrade_at(envctx *e)
{
	return e_fraction(e, &e->c->downgrade_at_ppm);
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static int e_downgrade(envctx *e)
{
	const char *p = e->val, *end = e->val + e->len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item = p, *eq, *from, *to;
		size_t n = (size_t)((comma ? comma : end) - p), fl, tl;

		trim(&item, &n);
		p = comma ? comma + 1 : end;
		if (n == 0)
			continue;
		eq = memchr(item, '=', n);
		if (!eq)
			return efail(e, true, "expected from=to,from=to");
		from = item;
		fl = (size_t)(eq - item);
		to = eq + 1;
		tl = n - fl - 1;
		trim(&from, &fl);
		trim(&to, &tl);
		if (!printable_token(from, fl, TF_CONFIG_MODEL_ID_MAX) ||
		    !printable_token(to, tl, TF_CONFIG_MODEL_ID_MAX))
			return efail(e, true, "expected from=to,from=to with model ids (%s)",
				     MODEL_ID_RULE);
		if (fl == tl && strncasecmp(from, to, fl) == 0)
			return efail(e, true, "a model cannot be downgraded to itself");
		if (map_put(&e->c->downgrade, &e->c->n_downgrade, from, fl, to, tl) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int e_scope(envctx *e)
{
	if (!valid_scope_name(e->val, e->len))
		return efail(e, true, "scope names are %s", SCOPE_NAME_RULE);
	return set_str(&e->c->scope, e->val, e->len);
}

static int e_ledger(envctx *e)
{
	/* Never echo the value: a redis URL may carry a password. */
	const char *why = strlen(e->val) != e->len ? "contains a NUL" : ledger_problem(e->val);

	if (why)
		return efail(e, false, "%s", why);
	return set_str(&e->c->ledger, e->val, e->len);
}

static int e_hosts(envctx *e)
{
	tf_hosts env = { 0 };
	tf_host_rule *all;
	char why[256], *spec;
	int r;

	spec = strndup(e->val, e->len);
	if (!spec)
		return -ENOMEM;
	r = tf_hosts_parse_list(&env, spec, why, sizeof(why));
	free(spec);
	if (r < 0) {
		tf_hosts_free(&env);
		return r == -ENOMEM ? r : efail(e, false, "%s", why);
	}
	/* Env rules go first: classification takes the first match. */
	all = realloc(env.rules, (env.n + e->c->hosts.n) * sizeof(*all));
	if (!all && env.n + e->c->hosts.n) {
		tf_hosts_free(&env);
		return -ENOMEM;
	}
	if (e->c->hosts.n)
		memcpy(all + env.n, e->c->hosts.rules, e->c->hosts.n * sizeof(*all));
	free(e->c->hosts.rules);
	e->c->hosts.rules = all;
	e->c->hosts.n += env.n;
	return 0;
}

static int e_h2(envctx *e)
{
	if (e->len == 7 && memcmp(e->val, "enforce", 7) == 0)
		e->c->h2 = TF_H2_ENFORCE;
	else if (e->len == 14 && memcmp(e->val, "downgrade_alpn", 14) == 0)
		e->c->h2 = TF_H2_DOWNGRADE_ALPN;
	else
		return efail(e, true, "expected \"enforce\" or \"downgrade_alpn\"");
	return 0;
}

static int e_fail_mode(envctx *e)
{
	if (e->len == 4 && memcmp(e->val, "open", 4) == 0)
		e->c->fail_mode = TF_FAIL_OPEN;
	else if (e->len == 6 && memcmp(e->val, "closed", 6) == 0)
		e->c->fail_mode = TF_FAIL_CLOSED;
	else
		return efail(e, true, "expected \"open\" or \"closed\"");
	return 0;
}

static int e_approval_timeout(envctx *e)
{
	int64_t v = 0;
	int r = env_count(e, 1, TF_CONFIG_MAX_APPROVAL_TIMEOUT_S, &v);

	if (r == 0)
		e->c->approval_timeout_s = (uint32_t)v;
	return r;
}

static const struct {
	const char *name;
	int (*apply)(envctx *);
} env_vars[] = {
	{ "TOKENFENCE_MAX_COST", e_max_cost },
	{ "TOKENFENCE_MAX_COST_PER_REQUEST", e_max_cost_per_request },
	{ "TOKENFENCE_MAX_REQUESTS", e_max_requests },
	{ "TOKENFENCE_WARN_AT", e_warn_at },
	{ "TOKENFENCE_DOWNGRADE_AT", e_downgrade_at },
	{ "TOKENFENCE_DOWNGRADE", e_downgrade },
	{ "TOKENFENCE_SCOPE", e_scope },
	{ "TOKENFENCE_LEDGER", e_ledger },
	{ "TOKENFENCE_HOSTS", e_hosts },
	{ "TOKENFENCE_FAIL_MODE", e_fail_mode },
	{ "TOKENFENCE_APPROVAL_TIMEOUT", e_approval_timeout },
	{ "TOKENFENCE_H2", e_h2 },
};

int tf_config_apply_env(tf_config *c, tf_getenv_fn getenv_fn, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *raw = getenv_fn(env_vars[i].name);
		envctx e = { .c = c, .name = env_vars[i].name, .err = err, .errlen = errlen };
		int r;

		if (!raw)
			continue;
		e.val = raw;
		e.len = strlen(raw);
		trim(&e.val, &e.len);
		/* Empty is most likely a script's unfilled variable: refusing it
		 * beats silently running without the limit it meant to set. */
		if (e.len == 0)
			return efail(&e, false, "empty value");
		r = env_vars[i].apply(&e);
		if (r == -ENOMEM) {
			snprintf(err, errlen, "tokenfence: out of memory reading %s", e.name);
			return r;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- validation and queries ----------------------------------------- */

const tf_scope_cfg *tf_config_scope(const tf_config *c, const char *name)
{
	for (size_t i = 0; name && i < c->n_scopes; i++)
		if (strcmp(c->scopes[i].name, name) == 0)
			return &c->scopes[i];
	return NULL;
}

int tf_config_validate(const tf_config *c, char *err, size_t errlen)
{
	ctx x = { .c = (tf_config *)c, .file = c->file ? c->file : "(config)", .err = err,
		  .errlen = errlen };

	for (size_t i = 0; i < c->n_scopes; i++) {
		const tf_scope_cfg *s = &c->scopes[i], *p = s;
		char path[128], chain[256];
		size_t o;

		if (!s->parent)
			continue;
		keypath(path, sizeof(path), "scopes", s->name, strlen(s->name));
		if (!tf_config_scope(c, s->parent))
			return fail(&x, s->line, "%s.parent: no scope named \"%s\"", path, s->parent);
		/* s is on a cycle if its parent chain comes back to it within
		 * n steps; a scope merely leading into a cycle is not reported,
		 * the cycle's own members are. */
		for (size_t steps = 0; p && steps < c->n_scopes; steps++) {
			p = p->parent ? tf_config_scope(c, p->parent) : NULL;
			if (p != s)
				continue;
			o = (size_t)snprintf(chain, sizeof(chain), "%s", s->name);
			p = tf_config_scope(c, s->parent);
			while (o < sizeof(chain)) {
				o += (size_t)snprintf(chain + o, sizeof(chain) - o, " -> %s", p->name);
				if (p == s)
					break;
				p = tf_config_scope(c, p->parent);
			}
			return fail(&x, s->line, "%s.parent: scopes form a cycle: %s", path, chain);
		}
	}
	return 0;
}

int tf_config_load(tf_config *c, const char *file, const char *text, size_t len,
		   tf_getenv_fn getenv_fn, char *err, size_t errlen)
{
	int r = 0;

	tf_config_init(c);
	if (text)
		r = tf_config_parse(c, file, text, len, err, errlen);
	if (r == 0 && getenv_fn)
		r = tf_config_apply_env(c, getenv_fn, err, errlen);
	if (r == 0)
		r = tf_config_validate(c, err, errlen);
	if (r < 0)
		tf_config_free(c);
	return r;
}

uint32_t tf_config_downgrade_at(const tf_config *c)
{
	if (c->downgrade_at_ppm)
		return c->downgrade_at_ppm;
	return c->warn_at_ppm ? c->warn_at_ppm : TF_CONFIG_DEFAULT_DOWNGRADE_AT;
}

const char *tf_config_deployment(const tf_config *c, const char *name, size_t n)
{
	for (size_t i = 0; i < c->n_deployments; i++)
		if (strlen(c->deployments[i].from) == n &&
		    strncasecmp(c->deployments[i].from, name, n) == 0)
			return c->deployments[i].to;
	return NULL;
}

static const tf_model_map *find_map(const tf_model_map *v, size_t n, const char *id, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].from) == len && strncasecmp(v[i].from, id, len) == 0)
			return &v[i];
	return NULL;
}

static int emit(char *out, size_t outlen, const char *prefix, size_t pl, const char *to)
{
	size_t tl = strlen(to);

	if (pl + tl + 1 > outlen)
		return -ENAMETOOLONG;
	memcpy(out, prefix, pl);
	memcpy(out + pl, to, tl + 1);
	return (int)(pl + tl);
}

int tf_config_downgrade(const tf_config *c, tf_provider prov, const char *id, size_t n, char *out,
			size_t outlen)
{
	char dec[TF_CONFIG_MODEL_ID_MAX + 1], base[TF_CONFIG_MODEL_ID_MAX + 1];
	const tf_model_map *m;
	const char *res = dec;
	size_t rl, pl = 0;
	int dl, bl;

	dl = tf_model_decode(id, n, dec, sizeof(dec));
	if (dl < 0)
		return dl;
	m = find_map(c->downgrade, c->n_downgrade, dec, (size_t)dl);
	if (m)
		return emit(out, outlen, "", 0, m->to);
	bl = tf_model_base(prov, id, n, base, sizeof(base));
	if (bl < 0)
		return bl;
	m = find_map(c->downgrade, c->n_downgrade, base, (size_t)bl);
	if (!m)
		return 0;
	/* Keep the caller's cross-region profile unless the target has its own. */
	rl = (size_t)dl;
	if (prov != TF_PROVIDER_AZURE) {
		tf_model_arn_id(dec, rl, &res, &rl);
		pl = tf_model_profile_prefix(res, rl);
	}
	if (tf_model_profile_prefix(m->to, strlen(m->to)))
		pl = 0;
	return emit(out, outlen, res, pl, m->to);
}

int tf_config_apply_prices(const tf_config *c, tf_prices *t)
{
	for (size_t i = 0; i < c->n_prices; i++) {
		int r = tf_prices_set(t, c->prices[i].model, strlen(c->prices[i].model),
				      &c->prices[i].price);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- rendering ------------------------------------------------------ */

static int put_money_or_null(tf_buf *b, tf_money m)
{
	return m < 0 ? tf_json_put_null(b) : tf_json_put_money(b, m);
}

/* ppm x 1e6 pico-dollars is the fraction as "USD": exact decimal output. */
static int put_ppm(tf_buf *b, uint32_t ppm)
{
	return ppm ? tf_json_put_money(b, (tf_money)ppm * 1000000) : tf_json_put_null(b);
}

static int put_count_or_null(tf_buf *b, int64_t v)
{
	return v < 0 ? tf_json_put_null(b) : tf_json_put_int(b, v);
}

/* Per-token pico-dollars x 1e6 = USD per 1M tokens. */
static int put_mtok(tf_buf *b, const char *key, tf_money per_token)
{
	int r;

	if (per_token == TF_PRICE_UNSET)
		return 0;
	r = tf_json_put_key(b, key);
	return r ? r : tf_json_put_money(b, per_token * 1000000);
}

static int put_map(tf_buf *b, const char *key, const tf_model_map *v, size_t n)
{
	int r = tf_json_put_key(b, key);

	r = r ? r : tf_json_open_object(b);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = tf_json_put_key(b, v[i].from);
		r = r ? r : tf_json_put_cstr(b, v[i].to);
	}
	return r ? r : tf_json_close_object(b);
}

static int put_price(tf_buf *b, const tf_price *p)
{
	static const char *const modes[] = { NULL, "chat", "embedding", "completion" };
	int r = tf_json_open_object(b);

	if (r == 0 && p->provider != TF_PROVIDER_NONE) {
		r = tf_json_put_key(b, "provider");
		r = r ? r : tf_json_put_cstr(b, tf_provider_name(p->provider));
	}
	if (r == 0 && p->mode != TF_MODE_UNSET) {
		r = tf_json_put_key(b, "mode");
		r = r ? r : tf_json_put_cstr(b, modes[p->mode]);
	}
	r = r ? r : put_mtok(b, "input", p->input);
	r = r ? r : put_mtok(b, "output", p->output);
	r = r ? r : put_mtok(b, "cache_read", p->cache_read);
	r = r ? r : put_mtok(b, "cache_write", p->cache_write);
	r = r ? r : put_mtok(b, "cache_write_1h", p->cache_write_1h);
	if (r == 0 && p->max_input) {
		r = tf_json_put_key(b, "max_input");
		r = r ? r : tf_json_put_uint(b, p->max_input);
	}
	if (r == 0 && p->max_output) {
		r = tf_json_put_key(b, "max_output");
		r = r ? r : tf_json_put_uint(b, p->max_output);
	}
	if (r == 0 && p->lc_threshold) {
		r = tf_json_put_key(b, "long_context");
		r = r ? r : tf_json_open_object(b);
		r = r ? r : tf_json_put_key(b, "threshold");
		r = r ? r : tf_json_put_uint(b, p->lc_threshold);
		r = r ? r : put_mtok(b, "input", p->lc_input);
		r = r ? r : put_mtok(b, "output", p->lc_output);
		r = r ? r : put_mtok(b, "cache_read", p->lc_cache_read);
		r = r ? r : put_mtok(b, "cache_write", p->lc_cache_write);
		r = r ? r : tf_json_close_object(b);
	}
	return r ? r : tf_json_close_object(b);
}

/* The ledger with any password in a redis URL masked. */
static int put_ledger(tf_buf *b, const char *l)
{
	const char *at, *auth;
	char masked[TF_CONFIG_MODEL_ID_MAX];

	if (!l)
		return tf_json_put_null(b);
	auth = strncmp(l, "redis://", 8) == 0 ? l + 8 : NULL;
	at = auth ? strchr(auth, '@') : NULL;
	if (!at || strlen(l) >= sizeof(masked) - 8)
		return tf_json_put_cstr(b, l);
	snprintf(masked, sizeof(masked), "redis://***%s", at);
	return tf_json_put_cstr(b, masked);
}

int tf_config_render_json(const tf_config *c, tf_buf *b)
{
	static const char *const windows[] = { "none", "day", "month" };
	size_t mark = b->len;
	int r = tf_json_open_object(b);

#define KEY(k) r = r ? r : tf_json_put_key(b, k)
	KEY("file");
	r = r ? r : tf_json_put_cstr(b, c->file);
	KEY("max_cost");
	r = r ? r : put_money_or_null(b, c->max_cost);
	KEY("max_cost_per_request");
	r = r ? r : put_money_or_null(b, c->max_cost_per_request);
	KEY("max_requests");
	r = r ? r : put_count_or_null(b, c->max_requests);
	KEY("warn_at");
	r = r ? r : put_ppm(b, c->warn_at_ppm);
	KEY("downgrade_at");
	r = r ? r : put_ppm(b, tf_config_downgrade_at(c));
	r = r ? r : put_map(b, "model_downgrade", c->downgrade, c->n_downgrade);
	KEY("scope");
	r = r ? r : tf_json_put_cstr(b, c->scope);
	KEY("scopes");
	r = r ? r : tf_json_open_object(b);
	for (size_t i = 0; r == 0 && i < c->n_scopes; i++) {
		const tf_scope_cfg *s = &c->scopes[i];
		KEY(s->name);
		r = r ? r : tf_json_open_object(b);
		KEY("max_cost");
		r = r ? r : put_money_or_null(b, s->max_cost);
		KEY("max_requests");
		r = r ? r : put_count_or_null(b, s->max_requests);
		KEY("warn_at");
		r = r ? r : put_ppm(b, s->warn_at_ppm);
		KEY("window");
		r = r ? r : tf_json_put_cstr(b, windows[s->window]);
		KEY("parent");
		r = r ? r : tf_json_put_cstr(b, s->parent);
		r = r ? r : tf_json_close_object(b);
	}
	r = r ? r : tf_json_close_object(b);
	KEY("policy");
	if (!c->has_policy) {
		r = r ? r : tf_json_put_null(b);
	} else {
		r = r ? r : tf_json_open_object(b);
		KEY("default");
		r = r ? r : tf_json_put_cstr(b, tf_effect_name(c->policy_default));
		KEY("rules");
		r = r ? r : tf_json_open_array(b);
		for (size_t i = 0; r == 0 && i < c->n_rules; i++) {
			r = tf_json_open_object(b);
			KEY("effect");
			r = r ? r : tf_json_put_cstr(b, tf_effect_name(c->rules[i].effect));
			KEY("action");
			r = r ? r : tf_json_put_cstr(b, c->rules[i].action);
			r = r ? r : tf_json_close_object(b);
		}
		r = r ? r : tf_json_close_array(b);
		r = r ? r : tf_json_close_object(b);
	}
	KEY("approval_timeout_s");
	r = r ? r : tf_json_put_uint(b, c->approval_timeout_s);
	KEY("prices");
	r = r ? r : tf_json_open_object(b);
	for (size_t i = 0; r == 0 && i < c->n_prices; i++) {
		KEY(c->prices[i].model);
		r = r ? r : put_price(b, &c->prices[i].price);
	}
	r = r ? r : tf_json_close_object(b);
	r = r ? r : put_map(b, "deployments", c->deployments, c->n_deployments);
	KEY("clamp_max_tokens");
	r = r ? r : tf_json_put_bool(b, c->clamp_max_tokens);
	KEY("min_max_tokens");
	r = r ? r : tf_json_put_uint(b, c->min_max_tokens);
	KEY("hosts");
	r = r ? r : tf_json_open_array(b);
	for (size_t i = 0; r == 0 && i < c->hosts.n; i++) {
		const tf_host_rule *h = &c->hosts.rules[i];
		r = tf_json_open_object(b);
		KEY("host");
		r = r ? r : tf_json_put_cstr(b, h->pattern);
		KEY("port");
		r = r ? r : (h->port < 0 ? tf_json_put_null(b) : tf_json_put_int(b, h->port));
		KEY("provider");
		r = r ? r : tf_json_put_cstr(b, tf_provider_name(h->provider));
		r = r ? r : tf_json_close_object(b);
	}
	r = r ? r : tf_json_close_array(b);
	KEY("ledger");
	r = r ? r : put_ledger(b, c->ledger);
	KEY("fail_mode");
	r = r ? r : tf_json_put_cstr(b, c->fail_mode == TF_FAIL_OPEN ? "open" : "closed");
	KEY("h2");
	r = r ? r : tf_json_put_cstr(b, c->h2 == TF_H2_ENFORCE ? "enforce" : "downgrade_alpn");
	r = r ? r : tf_json_close_object(b);
#undef KEY
	if (r < 0)
		b->len = mark;
	return r;
}
