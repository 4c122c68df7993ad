#include "rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "glob.h"

const char *tf_effect_name(tf_effect e)
{
	switch (e) {
	case TF_EFFECT_ALLOW:
		return "allow";
	case TF_EFFECT_REQUIRE_APPROVAL:
		return "require_approval";
	case TF_EFFECT_DENY:
		break;
	}
	return "deny";
}

int tf_effect_parse(const char *s, size_t n, tf_effect *out)
{
	static const tf_effect all[] = { TF_EFFECT_DENY, TF_EFFECT_REQUIRE_APPROVAL, TF_EFFECT_ALLOW };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = tf_effect_name(all[i]);
		if (strlen(name) == n && memcmp(name, s, n) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

void tf_policy_init(tf_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->dflt = TF_EFFECT_DENY;
}

void tf_policy_free(tf_policy *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->rules[i].pattern);
	free(p->rules);
	tf_policy_init(p);
}

/* Error messages quote at most this much of a pattern. */
#define QUOTE(n) ((int)((n) > 80 ? 80 : (n)))
#define ERR(...) ((err && errlen) ? (void)snprintf(err, errlen, __VA_ARGS__) : (void)0)

/* Could a pattern whose text up to the operation is probe[0..n) match one
 * of the heads "bedrock", "azure", "<provider>:<name>"? */
static bool head_plausible(const char *probe, size_t n)
{
	char head[128];
	size_t count = tf_action_name_count();

	if (tf_glob_match(probe, n, "bedrock", 7) || tf_glob_match(probe, n, "azure", 5))
		return true;
	for (size_t i = 0; i < count; i++) {
		tf_provider prov;
		const char *name = tf_action_name_at(i, &prov);
		int len;
		if (!name)
			continue;
		len = snprintf(head, sizeof(head), "%s:%s", tf_provider_name(prov), name);
		if (len > 0 && (size_t)len < sizeof(head) && tf_glob_match(probe, n, head, (size_t)len))
			return true;
	}
	return false;
}

int tf_policy_check_pattern(const char *pat, size_t n, char *err, size_t errlen)
{
	char probe[TF_RULE_PATTERN_MAX + 1];
	size_t colons = 0, cut = n;
	bool star = false;

	if (n == 0) {
		ERR("empty action pattern");
		return -EINVAL;
	}
	if (n > TF_RULE_PATTERN_MAX) {
		ERR("action pattern longer than %d bytes: %.*s...", TF_RULE_PATTERN_MAX, QUOTE(n), pat);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pat[i];
		if (c < 0x21 || c > 0x7e) {
			ERR("action pattern has a space, control or non-ASCII byte at offset %zu", i);
			return -EINVAL;
		}
	}
	if (pat[n - 1] == ':') {
		ERR("action pattern ends with ':' and so matches no action: \"%.*s\"", QUOTE(n), pat);
		return -EINVAL;
	}
	/* The part that names provider and operation: up to the second ':',
	 * or up to the first '*' (which may stand for anything after it). */
	for (size_t i = 0; i < n; i++) {
		if (pat[i] == '*') {
			cut = i + 1;
			star = true;
			break;
		}
		if (pat[i] == ':' && ++colons == 2) {
			cut = i;
			break;
		}
	}
	memcpy(probe, pat, cut);
	if (!head_plausible(probe, cut)) {
		if (star || colons > 0)
			ERR("action pattern matches no known provider:Operation: \"%.*s\"", QUOTE(n), pat);
		else
			ERR("action pattern matches no provider (bedrock, azure): \"%.*s\"", QUOTE(n), pat);
		return -EINVAL;
	}
	return 0;
}

int tf_policy_add(tf_policy *p, tf_effect e, const char *pattern, size_t n, char *err,
		  size_t errlen)
{
	char *copy;
	int r = tf_policy_check_pattern(pattern, n, err, errlen);

	if (r < 0)
		return r;
	if (e != TF_EFFECT_ALLOW && e != TF_EFFECT_DENY && e != TF_EFFECT_REQUIRE_APPROVAL) {
		ERR("invalid effect for \"%.*s\"", QUOTE(n), pattern);
		return -EINVAL;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		tf_rule *rules = realloc(p->rules, cap * sizeof(*rules));
		if (!rules)
			return -ENOMEM;
		p->rules = rules;
		p->cap = cap;
	}
	copy = malloc(n + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, pattern, n);
	copy[n] = '\0';
	p->rules[p->n++] = (tf_rule){ .effect = e, .pattern = copy, .len = n };
	return 0;
}

bool tf_rule_matches(const char *pat, size_t plen, const char *a, size_t alen)
{
	if (tf_glob_match(pat, plen, a, alen))
		return true;
	for (size_t k = 0; k < alen; k++) {
		if (a[k] == ':' && tf_glob_match(pat, plen, a, k))
			return true;
	}
	return false;
}

static int rank(tf_effect e)
{
	switch (e) {
	case TF_EFFECT_DENY:
		return 3;
	case TF_EFFECT_REQUIRE_APPROVAL:
		return 2;
	case TF_EFFECT_ALLOW:
		break;
	}
	return 1;
}

/* The spellings of one action: the raw string and up to two aliases. */
struct forms {
	const char *s[3];
	size_t n[3];
	size_t count;
	char buf[2][TF_ACTION_MAX];
};

/* Where the resource starts: after "provider:Operation:"; 0 if none. */
static size_t resource_start(const char *a, size_t n)
{
	const char *c1 = memchr(a, ':', n), *c2;

	if (!c1)
		return 0;
	c2 = memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - a));
	if (!c2 || (size_t)(c2 + 1 - a) >= n)
		return 0;
	if ((size_t)(c1 - a) != 7 || strncasecmp(a, "bedrock", 7) != 0)
		return 0;
	return (size_t)(c2 + 1 - a);
}

static void action_forms(const char *a, size_t n, struct forms *f)
{
	size_t rs = resource_start(a, n), off[3], k;

	f->s[0] = a;
	f->n[0] = n;
	f->count = 1;
	if (rs == 0)
		return;
	k = tf_model_id_forms(a + rs, n - rs, off);
	for (size_t j = 1; j < k; j++) {
		char *b = f->buf[j - 1];
		size_t tail = n - rs - off[j];
		memcpy(b, a, rs);
		memcpy(b + rs, a + rs + off[j], tail);
		f->s[f->count] = b;
		f->n[f->count] = rs + tail;
		f->count++;
	}
}

int tf_policy_decide(const tf_policy *p, const char *action, size_t n, tf_decision *out)
{
	struct forms f;
	int best = 0;

	if (!p) {
		*out = (tf_decision){ TF_EFFECT_ALLOW, TF_DECISION_NO_POLICY, NULL };
		return 0;
	}
	*out = (tf_decision){ p->dflt, TF_DECISION_DEFAULT, NULL };
	if (n >= TF_ACTION_MAX) {
		out->effect = TF_EFFECT_DENY;
		return -ENAMETOOLONG;
	}
	action_forms(action, n, &f);
	for (size_t i = 0; i < p->n && best < rank(TF_EFFECT_DENY); i++) {
		const tf_rule *r = &p->rules[i];
		bool hit = false;
		if (rank(r->effect) <= best)
			continue;
		for (size_t j = 0; j < f.count && !hit; j++)
			hit = tf_rule_matches(r->pattern, r->len, f.s[j], f.n[j]);
		if (hit) {
			best = rank(r->effect);
			*out = (tf_decision){ r->effect, (long)i, r->pattern };
		}
	}
	return 0;
}

int tf_decision_format(const tf_decision *d, char *buf, size_t len)
{
	if (d->rule == TF_DECISION_NO_POLICY)
		return snprintf(buf, len, "no policy");
	if (d->rule == TF_DECISION_DEFAULT || !d->pattern)
		return snprintf(buf, len, "policy.default %s", tf_effect_name(d->effect));
	return snprintf(buf, len, "policy.rules[%ld] %s \"%s\"", d->rule, tf_effect_name(d->effect),
			d->pattern);
}
