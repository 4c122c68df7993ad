/*
 * Policy rules: allow / deny / require_approval on action patterns
 * (DESIGN.md §4 "Policy semantics").
 *
 * A pattern matches an action (`provider:Operation[:resource]`, see
 * actions.h) when tf_glob_match accepts it (`*` any run, ':' included; `?`
 * one character; ASCII case ignored, as IAM), or accepts a prefix of the
 * action that ends at a ':' boundary: `bedrock:InvokeModel` covers
 * `bedrock:InvokeModel:x` but not `bedrock:InvokeModelWithResponseStream`.
 *
 * Model-id aliasing: for a Bedrock action with a resource, the rule is also
 * tried with the resource replaced by its other spellings from
 * tf_model_id_forms (the profile/model id inside an ARN, and the base model
 * without its cross-region prefix), so `bedrock:InvokeModel:anthropic.
 * claude-3-5-sonnet*` governs `bedrock:InvokeModel:us.anthropic.claude-3-5-
 * sonnet-20241022-v2:0` and the ARN of that profile. The decision depends on
 * the action string alone, so `tokenfence policy check ACTION` and the shim
 * agree.
 *
 * Precedence: deny > require_approval > allow > default; within an effect
 * the first matching rule is reported. No policy at all (NULL) allows
 * everything; a policy without a default denies (least privilege). A
 * zero-initialised tf_policy is an empty policy whose default is deny.
 *
 * Filling a policy (what policy/config.c does): tf_policy_init, set
 * `dflt` from "default" (tf_effect_parse; require_approval is not a valid
 * default), then tf_policy_add for each {effect, action} of "rules" in file
 * order; a non-zero return is a config error to report with file:line and
 * the message written to err. tf_policy_free releases it.
 */
#ifndef TF_RULES_H
#define TF_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* Ordered so that a zero value is the least-privilege one. */
typedef enum tf_effect {
	TF_EFFECT_DENY = 0,
	TF_EFFECT_REQUIRE_APPROVAL = 1,
	TF_EFFECT_ALLOW = 2,
} tf_effect;

/* "allow" | "deny" | "require_approval" (exact, lower case). */
const char *tf_effect_name(tf_effect e);
/* Returns 0 or -EINVAL. */
int tf_effect_parse(const char *s, size_t n, tf_effect *out);

#define TF_RULE_PATTERN_MAX 512

typedef struct tf_rule {
	tf_effect effect;
	char *pattern; /* owned by the policy, NUL-terminated */
	size_t len;
} tf_rule;

typedef struct tf_policy {
	tf_rule *rules;
	size_t n, cap;
	tf_effect dflt; /* TF_EFFECT_ALLOW or TF_EFFECT_DENY */
} tf_policy;

/* No rules, default deny. */
void tf_policy_init(tf_policy *p);
void tf_policy_free(tf_policy *p);

/*
 * Validates pattern[0..n) with tf_policy_check_pattern and appends a copy.
 * Returns 0, -EINVAL (err says why), or -ENOMEM.
 */
int tf_policy_add(tf_policy *p, tf_effect e, const char *pattern, size_t n, char *err,
		  size_t errlen);

/*
 * A pattern is refused when it is empty, longer than TF_RULE_PATTERN_MAX,
 * holds bytes outside printable ASCII or a space, ends with ':', or cannot
 * match any action the mapper produces: its provider must be bedrock or
 * azure and its operation one that provider has (checked up to the first '*', so
 * `bedrock:Create*` passes and `bedrok:*` or `bedrock:InvokeModels` fail).
 * Returns 0 or -EINVAL with a one-line reason in err.
 */
int tf_policy_check_pattern(const char *pattern, size_t n, char *err, size_t errlen);

/* Does the pattern match the action (glob + ':'-boundary prefix rule, no
 * aliasing)? */
bool tf_rule_matches(const char *pat, size_t plen, const char *action, size_t alen);

#define TF_DECISION_DEFAULT (-1)   /* the policy's default decided */
#define TF_DECISION_NO_POLICY (-2) /* no policy configured: allowed */

typedef struct tf_decision {
	tf_effect effect;
	long rule;           /* index into policy->rules, or TF_DECISION_* */
	const char *pattern; /* that rule's pattern (owned by the policy), or NULL */
} tf_decision;

/*
 * Decides action[0..n) under p (NULL: no policy). Returns 0, or
 * -ENAMETOOLONG when the action exceeds TF_ACTION_MAX (then *out denies
 * with rule TF_DECISION_DEFAULT; the caller applies its fail mode).
 */
int tf_policy_decide(const tf_policy *p, const char *action, size_t n, tf_decision *out);

/*
 * One line for messages, events and the CLI: `policy.rules[2] deny
 * "bedrock:CreateModelCustomization*"`, `policy.default deny`, or
 * `no policy`. Returns snprintf's value.
 */
int tf_decision_format(const tf_decision *d, char *buf, size_t len);

#endif
