/*
 * `tokenfence policy check ACTION`: the decision the shim would make for
 * an action under a configuration's policy (policy/rules.h), and the rule
 * that made it. The action string alone decides, as in the shim.
 */
#ifndef TF_CLI_POLICYCHECK_H
#define TF_CLI_POLICYCHECK_H

#include "cfgfile.h"

typedef struct tf_cli_verdict {
	const char *effect; /* "allow" | "deny" | "require_approval" */
	char rule[640];     /* tf_decision_format's line */
	long index;         /* rule index, -1 default, -2 no policy */
	uint32_t line;      /* the rule's line in the file, 0 if none */
	int exit_code;      /* 0 allow, 1 deny, 2 require_approval */
	char warning[1024]; /* set when the action is not one TokenFence produces */
} tf_cli_verdict;

/*
 * Returns 0, or -EINVAL with a config error in err ("tokenfence: FILE:LINE:
 * policy.rules[N].action: …") when a rule's pattern is invalid, or
 * -ENAMETOOLONG when the action is too long.
 */
int tf_cli_policy_decide(const tf_cli_policy *p, const char *action, tf_cli_verdict *v,
			 char *err, size_t errlen);

#endif
