#include "prices.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prices-builtin.h"
#include "ascii.h"

/* Bedrock model ids (ARNs included) are at most 2048 bytes. */
#define MODEL_ID_MAX 2048
/* No real price comes near $100,000 per 1M tokens; more is a typo. */
#define PRICE_MAX_PER_MTOK ((tf_money)100000 * 1000000)
/* Only reachable with an empty table: still never free. */
#define EMPTY_TABLE_PRICE ((tf_money)100 * 1000000)

static const char *const profile_prefixes[] = {
	"us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.", "us-gov.",
};

/* ---- model ids ------------------------------------------------------ */

int tf_model_decode(const char *id, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (c == '%' && i + 2 < n && tf_hexval(id[i + 1]) >= 0 && tf_hexval(id[i + 2]) >= 0 &&
		    (id[i + 1] != '0' || id[i + 2] != '0')) {
			c = (char)(tf_hexval(id[i + 1]) << 4 | tf_hexval(id[i + 2]));
			i += 2;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	if (o >= outlen)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

bool tf_model_arn_id(const char *id, size_t n, const char **res, size_t *reslen)
{
	static const char *const kinds[] = { "foundation-model/", "inference-profile/" };
	const char *p = id, *end = id + n;
	int colons = 0;

	if (n < 4 || strncasecmp(id, "arn:", 4) != 0)
		return false;
	/* arn:PARTITION:bedrock:REGION:ACCOUNT:RESOURCE; the id in RESOURCE
	 * has colons of its own, so only the first five count. */
	for (; p < end && colons < 5; p++)
		if (*p == ':')
			colons++;
	if (colons < 5)
		return false;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t kl = strlen(kinds[k]);
		if ((size_t)(end - p) > kl && strncasecmp(p, kinds[k], kl) == 0) {
			*res = p + kl;
			*reslen = (size_t)(end - p) - kl;
			return true;
		}
	}
	return false;
}

size_t tf_model_profile_prefix(const char *id, size_t n)
{
	for (size_t k = 0; k < sizeof(profile_prefixes) / sizeof(profile_prefixes[0]); k++) {
		size_t pl = strlen(profile_prefixes[k]);
		/* A base id is "vendor.model": the rest must still have a dot. */
		if (n > pl && strncasecmp(id, profile_prefixes[k], pl) == 0 &&
		    memchr(id + pl, '.', n - pl))
			return pl;
	}
	return 0;
}

size_t tf_model_undated_len(const char *id, size_t n)
{
	static const char shape[] = "-dddd-dd-dd";
	const char *s;

	if (n <= 11)
		return n;
	s = id + n - 11;
	for (size_t i = 0; i < 11; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
			return n;
	}
	return n - 11;
}

int tf_model_base(tf_provider prov, const char *id, size_t n, char *out, size_t outlen)
{
	int len = tf_model_decode(id, n, out, outlen);
	const char *res = out;
	size_t rl;

	if (len < 0 || prov == TF_PROVIDER_AZURE)
		return len;
	rl = (size_t)len;
	tf_model_arn_id(out, rl, &res, &rl);
	{
		size_t pl = tf_model_profile_prefix(res, rl);
		res += pl;
		rl -= pl;
	}
	memmove(out, res, rl);
	out[rl] = '\0';
	return (int)rl;
}

/* ---- table ---------------------------------------------------------- */

static int cmp_id(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	int c = strncasecmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : (an > bn);
}

/* Index of the model, or -(insertion point) - 1. */
static ptrdiff_t find(const tf_prices *t, const char *id, size_t n)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_id(id, n, t->v[mid].model);
		if (c == 0)
			return (ptrdiff_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(ptrdiff_t)lo - 1;
}

static tf_money max_money(tf_money a, tf_money b)
{
	return a > b ? a : b;
}

static void recompute_unknown(tf_prices *t)
{
	for (int prov = TF_PROVIDER_NONE; prov <= TF_PROVIDER_AZURE; prov++) {
		tf_price *u = &t->unknown[prov];
		tf_money in = TF_PRICE_UNSET, out = TF_PRICE_UNSET, cw = TF_PRICE_UNSET;
		uint32_t mo = 0, mi = 0;
		bool any = false;

		for (int pass = 0; pass < 2 && !any; pass++) {
			/* Pass 0: this provider's models; pass 1: everyone's. */
			for (size_t i = 0; i < t->n; i++) {
				const tf_price *e = &t->v[i];
				if (pass == 0 && prov != TF_PROVIDER_NONE &&
				    e->provider != TF_PROVIDER_NONE && (int)e->provider != prov)
					continue;
				any = true;
				in = max_money(in, max_money(e->input, e->lc_input));
				out = max_money(out, max_money(e->output, e->lc_output));
				cw = max_money(cw, max_money(max_money(e->cache_write, e->cache_write_1h),
							     e->lc_cache_write));
				if (e->max_output > mo)
					mo = e->max_output;
				if (e->max_input > mi)
					mi = e->max_input;
			}
		}
		if (!any)
			in = out = EMPTY_TABLE_PRICE;
		memset(u, 0, sizeof(*u));
		u->provider = (tf_provider)prov;
		u->input = in;
		u->output = out;
		u->cache_read = TF_PRICE_UNSET;
		u->cache_write = u->cache_write_1h = max_money(cw, in);
		u->lc_input = u->lc_output = u->lc_cache_read = u->lc_cache_write = TF_PRICE_UNSET;
		u->max_output = mo ? mo : TF_PRICES_FALLBACK_MAX_OUTPUT;
		u->max_input = mi;
	}
}

static void price_unset(tf_price *p)
{
	memset(p, 0, sizeof(*p));
	p->input = p->output = p->cache_read = p->cache_write = p->cache_write_1h = TF_PRICE_UNSET;
	p->lc_input = p->lc_output = p->lc_cache_read = p->lc_cache_write = TF_PRICE_UNSET;
}

void tf_prices_free(tf_prices *t)
{
	for (size_t i = 0; i < t->n; i++)
		free((char *)t->v[i].model);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void merge(tf_price *dst, const tf_price *src)
{
	if (src->provider != TF_PROVIDER_NONE)
		dst->provider = src->provider;
	if (src->mode != TF_MODE_UNSET)
		dst->mode = src->mode;
#define TAKE(f)                                   \
	if (src->f != TF_PRICE_UNSET)             \
		dst->f = src->f;
	TAKE(input)
	TAKE(output)
	TAKE(cache_read)
	TAKE(cache_write)
	TAKE(cache_write_1h)
#undef TAKE
	if (src->max_input)
		dst->max_input = src->max_input;
	if (src->max_output)
		dst->max_output = src->max_output;
	if (src->lc_threshold) {
		dst->lc_threshold = src->lc_threshold;
		dst->lc_input = src->lc_input;
		dst->lc_output = src->lc_output;
		dst->lc_cache_read = src->lc_cache_read;
		dst->lc_cache_write = src->lc_cache_write;
	}
}

int tf_prices_set(tf_prices *t, const char *model, size_t n, const tf_price *p)
{
	ptrdiff_t at = find(t, model, n);
	tf_price *v;
	size_t pos;
	char *name;

	if (at >= 0) {
		merge(&t->v[at], p);
		recompute_unknown(t);
		return 0;
	}
	if (n == 0 || p->input == TF_PRICE_UNSET || p->output == TF_PRICE_UNSET)
		return -EINVAL;
	name = strndup(model, n);
	if (!name)
		return -ENOMEM;
	v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v) {
		free(name);
		return -ENOMEM;
	}
	t->v = v;
	pos = (size_t)(-at - 1);
	memmove(&v[pos + 1], &v[pos], (t->n - pos) * sizeof(*v));
	price_unset(&v[pos]);
	merge(&v[pos], p);
	v[pos].model = name;
	t->n++;
	recompute_unknown(t);
	return 0;
}

/* ---- parsing entries ------------------------------------------------ */

typedef struct perr {
	const char *path;
	uint32_t *line;
	char *msg;
	size_t msglen;
} perr;

static int bad(const perr *e, const tf_json_value *v, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(const perr *e, const tf_json_value *v, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->line)
		*e->line = v->line;
	if (e->msg && e->msglen) {
		n = snprintf(e->msg, e->msglen, "%s%s%s: ", e->path, key ? "." : "", key ? key : "");
		if (n >= 0 && (size_t)n < e->msglen) {
			va_start(ap, fmt);
			vsnprintf(e->msg + n, e->msglen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int get_price(const perr *e, const tf_json_value *v, const char *key, tf_money *out)
{
	int r;

	if (v->type != TF_JSON_NUMBER)
		return bad(e, v, key, "expected a number (USD per 1M tokens), got %s",
			   tf_json_type_name(v->type));
	r = tf_json_money_per_mtok(v, out);
	if (r == -ERANGE && v->u.num.text[0] == '-')
		return bad(e, v, key, "must not be negative");
	if (r == -EINVAL)
		return bad(e, v, key, "more than 6 decimals (USD per 1M tokens)");
	if (r < 0 || *out > PRICE_MAX_PER_MTOK)
		return bad(e, v, key, "out of range (at most 100000 USD per 1M tokens)");
	return 0;
}

static int get_tokens(const perr *e, const tf_json_value *v, const char *key, uint32_t *out)
{
	int64_t x;

	if (v->type != TF_JSON_NUMBER)
		return bad(e, v, key, "expected a number of tokens, got %s",
			   tf_json_type_name(v->type));
	if (tf_json_int64(v, &x) < 0 || x < 1 || x > TF_PRICES_MAX_TOKENS)
		return bad(e, v, key, "expected a whole number of tokens from 1 to %u",
			   TF_PRICES_MAX_TOKENS);
	*out = (uint32_t)x;
	return 0;
}

static int unknown_key(const perr *e, const tf_json_member *m, const char *const *keys,
		       size_t nkeys)
{
	const char *hint = tf_json_closest(m->key, m->key_len, keys, nkeys);
	tf_json_value at = { .line = m->line };

	if (hint)
		return bad(e, &at, NULL, "unknown key \"%.40s\" (did you mean \"%s\"?)", m->key,
			   hint);
	return bad(e, &at, NULL, "unknown key \"%.40s\"", m->key);
}

static int parse_long_context(const perr *outer, const tf_json_value *v, tf_price *out)
{
	static const char *const keys[] = { "threshold", "input", "output", "cache_read",
					    "cache_write" };
	char path[256];
	perr e = *outer;
	int r = 0;

	snprintf(path, sizeof(path), "%s.long_context", outer->path);
	e.path = path;
	if (v->type != TF_JSON_OBJECT)
		return bad(&e, v, NULL, "expected an object, got %s", tf_json_type_name(v->type));
	for (size_t i = 0; r == 0 && i < v->u.obj.n; i++) {
		const tf_json_member *m = &v->u.obj.members[i];
		const tf_json_value *x = &m->value;
		if (strcmp(m->key, "threshold") == 0)
			r = get_tokens(&e, x, m->key, &out->lc_threshold);
		else if (strcmp(m->key, "input") == 0)
			r = get_price(&e, x, m->key, &out->lc_input);
		else if (strcmp(m->key, "output") == 0)
			r = get_price(&e, x, m->key, &out->lc_output);
		else if (strcmp(m->key, "cache_read") == 0)
			r = get_price(&e, x, m->key, &out->lc_cache_read);
		else if (strcmp(m->key, "cache_write") == 0)
			r = get_price(&e, x, m->key, &out->lc_cache_write);
		else
			r = unknown_key(&e, m, keys, sizeof(keys) / sizeof(keys[0]));
	}
	if (r == 0 && (!out->lc_threshold || out->lc_input == TF_PRICE_UNSET ||
		       out->lc_output == TF_PRICE_UNSET))
		r = bad(&e, v, NULL, "needs threshold, input and output");
	return r;
}

int tf_price_parse(const tf_json_value *v, const char *path, tf_price *out, uint32_t *line,
		   char *msg, size_t msglen)
{
	static const char *const keys[] = { "provider", "mode", "input", "output", "cache_read",
					    "cache_write", "cache_write_1h", "max_input",
					    "max_output", "long_context" };
	perr e = { .path = path, .line = line, .msg = msg, .msglen = msglen };
	int r = 0;

	price_unset(out);
	if (v->type != TF_JSON_OBJECT)
		return bad(&e, v, NULL, "expected an object, got %s", tf_json_type_name(v->type));
	for (size_t i = 0; r == 0 && i < v->u.obj.n; i++) {
		const tf_json_member *m = &v->u.obj.members[i];
		const tf_json_value *x = &m->value;
		const char *k = m->key;
		if (strcmp(k, "provider") == 0) {
			if (x->type != TF_JSON_STRING ||
			    tf_provider_parse(x->u.str.s, x->u.str.len, &out->provider) < 0 ||
			    out->provider == TF_PROVIDER_NONE)
				r = bad(&e, x, k, "expected \"bedrock\" or \"azure\"");
		} else if (strcmp(k, "mode") == 0) {
			const char *s = x->type == TF_JSON_STRING ? x->u.str.s : "";
			if (strcmp(s, "chat") == 0)
				out->mode = TF_MODE_CHAT;
			else if (strcmp(s, "embedding") == 0)
				out->mode = TF_MODE_EMBEDDING;
			else if (strcmp(s, "completion") == 0)
				out->mode = TF_MODE_COMPLETION;
			else
				r = bad(&e, x, k, "expected \"chat\", \"embedding\" or \"completion\"");
		} else if (strcmp(k, "input") == 0) {
			r = get_price(&e, x, k, &out->input);
		} else if (strcmp(k, "output") == 0) {
			r = get_price(&e, x, k, &out->output);
		} else if (strcmp(k, "cache_read") == 0) {
			r = get_price(&e, x, k, &out->cache_read);
		} else if (strcmp(k, "cache_write") == 0) {
			r = get_price(&e, x, k, &out->cache_write);
		} else if (strcmp(k, "cache_write_1h") == 0) {
			r = get_price(&e, x, k, &out->cache_write_1h);
		} else if (strcmp(k, "max_input") == 0) {
			r = get_tokens(&e, x, k, &out->max_input);
		} else if (strcmp(k, "max_output") == 0) {
			r = get_tokens(&e, x, k, &out->max_output);
		} else if (strcmp(k, "long_context") == 0) {
			r = parse_long_context(&e, x, out);
		} else {
			r = unknown_key(&e, m, keys, sizeof(keys) / sizeof(keys[0]));
		}
	}
	return r;
}

/* "prices[\"id\"]" with the id shortened and made printable. */
static void entry_path(char *out, size_t outlen, const char *prefix, const char *id, size_t n)
{
	char safe[96];
	size_t o = 0;

	for (size_t i = 0; i < n && o < sizeof(safe) - 4; i++)
		safe[o++] = (id[i] >= 0x20 && id[i] < 0x7f && id[i] != '"') ? id[i] : '?';
	if (o < n)
		memcpy(safe + o, "...", 3), o += 3;
	safe[o] = '\0';
	snprintf(out, outlen, "%s[\"%s\"]", prefix, safe);
}

int tf_prices_load(tf_prices *t, const char *name, const char *json, size_t len, char *err,
		   size_t errlen)
{
	static const char *const top_keys[] = { "about", "source", "units", "notes", "models" };
	tf_json_limits lim = { .max_size = (size_t)4 << 20 };
	tf_json_error jerr;
	tf_json_doc doc;
	const tf_json_value *models;
	int r;

	r = tf_json_parse(&doc, json, len, &lim, &jerr);
	if (r < 0) {
		snprintf(err, errlen, "%s:%u:%u: %s", name, jerr.line, jerr.col, jerr.msg);
		tf_json_doc_free(&doc);
		return r == -ENOMEM ? r : -EINVAL;
	}
	r = -EINVAL;
	if (doc.root->type != TF_JSON_OBJECT) {
		snprintf(err, errlen, "%s:%u: expected an object", name, doc.root->line);
		goto out;
	}
	for (size_t i = 0; i < doc.root->u.obj.n; i++) {
		const tf_json_member *m = &doc.root->u.obj.members[i];
		bool known = false;
		for (size_t k = 0; k < sizeof(top_keys) / sizeof(top_keys[0]); k++)
			known = known || strcmp(m->key, top_keys[k]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s:%u: unknown key \"%.40s\"", name, m->line, m->key);
			goto out;
		}
	}
	models = tf_json_get(doc.root, "models");
	if (!models || models->type != TF_JSON_OBJECT) {
		snprintf(err, errlen, "%s:%u: \"models\" must be an object", name,
			 models ? models->line : doc.root->line);
		goto out;
	}
	for (size_t i = 0; i < models->u.obj.n; i++) {
		const tf_json_member *m = &models->u.obj.members[i];
		char path[160], msg[256];
		uint32_t line = m->line;
		tf_price p;

		entry_path(path, sizeof(path), "models", m->key, m->key_len);
		if (tf_price_parse(&m->value, path, &p, &line, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, line, msg);
			goto out;
		}
		if (p.provider == TF_PROVIDER_NONE || p.input == TF_PRICE_UNSET ||
		    p.output == TF_PRICE_UNSET || m->key_len == 0 ||
		    strlen(m->key) != m->key_len || m->key_len >= MODEL_ID_MAX) {
			snprintf(err, errlen, "%s:%u: %s: needs provider, input and output", name,
				 m->line, path);
			goto out;
		}
		r = tf_prices_set(t, m->key, m->key_len, &p);
		if (r < 0) {
			snprintf(err, errlen, "%s:%u: %s: %s", name, m->line, path, strerror(-r));
			goto out;
		}
		r = -EINVAL;
	}
	r = 0;
out:
	tf_json_doc_free(&doc);
	return r;
}

int tf_prices_init(tf_prices *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	recompute_unknown(t);
	return tf_prices_load(t, "prices.json (built in)", tf_prices_builtin,
			      tf_prices_builtin_len, err, errlen);
}

/* ---- lookup --------------------------------------------------------- */

static bool provider_ok(const tf_price *e, tf_provider prov)
{
	return prov == TF_PROVIDER_NONE || e->provider == TF_PROVIDER_NONE || e->provider == prov;
}

static bool try_id(const tf_prices *t, tf_provider prov, const char *id, size_t n, tf_price *out)
{
	ptrdiff_t at = find(t, id, n);

	if (at < 0 || !provider_ok(&t->v[at], prov))
		return false;
	*out = t->v[at];
	/* A model added by config without max_output: assume the worst. */
	if (out->max_output == 0 && out->mode != TF_MODE_EMBEDDING)
		out->max_output = t->unknown[prov].max_output;
	return true;
}

tf_price_match tf_prices_lookup(const tf_prices *t, tf_provider prov, const char *id, size_t n,
				tf_price *out)
{
	char buf[MODEL_ID_MAX + 1];
	const char *s = buf;
	size_t len;
	int dl;

	if ((unsigned)prov > TF_PROVIDER_AZURE)
		prov = TF_PROVIDER_NONE;
	dl = tf_model_decode(id, n, buf, sizeof(buf));
	if (dl <= 0)
		goto unknown;
	len = (size_t)dl;
	if (try_id(t, prov, s, len, out))
		return TF_PRICE_EXACT;
	if (prov != TF_PROVIDER_AZURE) {
		size_t pl;
		if (tf_model_arn_id(buf, len, &s, &len) && try_id(t, prov, s, len, out))
			return TF_PRICE_EXACT;
		pl = tf_model_profile_prefix(s, len);
		if (pl && try_id(t, prov, s + pl, len - pl, out))
			return TF_PRICE_BASE;
	}
	if (prov != TF_PROVIDER_BEDROCK) {
		size_t ul = tf_model_undated_len(buf, (size_t)dl);
		if (ul < (size_t)dl && try_id(t, prov, buf, ul, out))
			return TF_PRICE_BASE;
	}
unknown:
	*out = t->unknown[prov];
	return TF_PRICE_UNKNOWN;
}

/* ---- cost ----------------------------------------------------------- */

typedef struct rates {
	tf_money in, out, cr, cw, cw1h;
} rates;

/*
 * Only Anthropic models write 1-hour caches, at twice the base input price
 * (Anthropic's pricing rule); the source table lacks the rate for some of
 * them, so a missing one is taken as 2x input, never as the cheaper 5-minute
 * rate.
 */
static tf_money one_hour_write(tf_money in)
{
	return tf_money_add(in, in);
}

static rates rates_for(const tf_price *p, bool long_ctx)
{
	rates r;

	if (long_ctx && p->lc_threshold) {
		r.in = p->lc_input != TF_PRICE_UNSET ? p->lc_input : p->input;
		r.out = p->lc_output != TF_PRICE_UNSET ? p->lc_output : p->output;
		r.cr = p->lc_cache_read != TF_PRICE_UNSET ? p->lc_cache_read : r.in;
		r.cw = p->lc_cache_write != TF_PRICE_UNSET ? p->lc_cache_write : r.in;
		r.cw1h = max_money(max_money(r.cw, p->cache_write_1h), one_hour_write(r.in));
		return r;
	}
	r.in = p->input;
	r.out = p->output;
	r.cr = p->cache_read != TF_PRICE_UNSET ? p->cache_read : r.in;
	r.cw = p->cache_write != TF_PRICE_UNSET ? p->cache_write : r.in;
	r.cw1h = p->cache_write_1h != TF_PRICE_UNSET ? p->cache_write_1h
						     : max_money(r.cw, one_hour_write(r.in));
	return r;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

tf_money tf_price_cost(const tf_price *p, const tf_usage *u)
{
	uint64_t in_total = add_sat(add_sat(u->input, u->cache_read),
				    add_sat(u->cache_write, u->cache_write_1h));
	rates r = rates_for(p, p->lc_threshold && in_total > p->lc_threshold);
	tf_money c = 0;

	c = tf_money_add(c, tf_money_mul(u->input, r.in));
	c = tf_money_add(c, tf_money_mul(u->cache_read, r.cr));
	c = tf_money_add(c, tf_money_mul(u->cache_write, r.cw));
	c = tf_money_add(c, tf_money_mul(u->cache_write_1h, r.cw1h));
	c = tf_money_add(c, tf_money_mul(add_sat(u->output, u->reasoning), r.out));
	return c;
}

tf_money tf_price_worst(const tf_price *p, uint64_t input_bound, uint64_t max_out,
			unsigned cache_writes)
{
	rates r = rates_for(p, false);
	tf_money in_rate;

	if (p->lc_threshold && input_bound > p->lc_threshold) {
		/* Either tier may apply; take the dearer of each rate. */
		rates l = rates_for(p, true);
		r.in = max_money(r.in, l.in);
		r.out = max_money(r.out, l.out);
		r.cr = max_money(r.cr, l.cr);
		r.cw = max_money(r.cw, l.cw);
		r.cw1h = max_money(r.cw1h, l.cw1h);
	}
	in_rate = max_money(r.in, r.cr);
	if (cache_writes & TF_CACHE_WRITE_5M)
		in_rate = max_money(in_rate, r.cw);
	if (cache_writes & TF_CACHE_WRITE_1H)
		in_rate = max_money(in_rate, r.cw1h);
	return tf_money_add(tf_money_mul(input_bound, in_rate), tf_money_mul(max_out, r.out));
}

void tf_usage_from_openai(tf_usage *u, uint64_t prompt, uint64_t cached, uint64_t completion,
			  uint64_t reasoning)
{
	memset(u, 0, sizeof(*u));
	if (cached > prompt)
		cached = prompt;
	if (reasoning > completion)
		reasoning = completion;
	u->input = prompt - cached;
	u->cache_read = cached;
	u->output = completion - reasoning;
	u->reasoning = reasoning;
}
