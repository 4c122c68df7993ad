#include "policycheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


static int build(const tf_cli_policy *p, tf_policy *pol, char *err, size_t errlen)
{
	char why[256];

	tf_policy_init(pol);
	pol->dflt = p->dflt;
	for (size_t i = 0; i < p->n_rules; i++) {
		const tf_cli_rule *r = &p->rules[i];
		int rc;

		rc = tf_policy_add(pol, r->effect, r->action, strlen(r->action), why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "tokenfence: %s:%u: policy.rules[%zu].action: %s",
				 p->file ? p->file : "(config)", (unsigned)r->line, i,
				 rc == -ENOMEM ? "out of memory" : why);
			tf_policy_free(pol);
			return rc;
		}
	}
	return 0;
}

int tf_cli_policy_decide(const tf_cli_policy *p, const char *action, tf_cli_verdict *v,
			 char *err, size_t errlen)
{
	tf_decision d;
	tf_policy pol;
	char why[200];
	int r;

	memset(v, 0, sizeof(*v));
	if (p->has_policy) {
		r = build(p, &pol, err, errlen);
		if (r < 0)
			return r;
	}
	r = tf_policy_decide(p->has_policy ? &pol : NULL, action, strlen(action), &d);
	if (r < 0) {
		snprintf(err, errlen, "tokenfence: action too long (%zu bytes)", strlen(action));
		if (p->has_policy)
			tf_policy_free(&pol);
		return r;
	}
	v->effect = tf_effect_name(d.effect);
	v->index = d.rule;
	v->line = d.rule >= 0 && (size_t)d.rule < p->n_rules ? p->rules[d.rule].line : 0;
	tf_decision_format(&d, v->rule, sizeof(v->rule));
	v->exit_code = d.effect == TF_EFFECT_ALLOW ? 0 : d.effect == TF_EFFECT_DENY ? 1 : 2;
	/* An action no request maps to is most likely a typo worth pointing out. */
	if (tf_policy_check_pattern(action, strlen(action), why, sizeof(why)) < 0 ||
	    strpbrk(action, "*?"))
		snprintf(v->warning, sizeof(v->warning),
			 "\"%.512s\" is not an action TokenFence produces (%s)", action,
			 strpbrk(action, "*?") ? "actions have no wildcards" : why);
	if (p->has_policy)
		tf_policy_free(&pol);
	return 0;
}
