#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "actions.h"
#include "rules.h"

#define A TF_EFFECT_ALLOW
#define D TF_EFFECT_DENY
#define R TF_EFFECT_REQUIRE_APPROVAL
#define DEF TF_DECISION_DEFAULT

#define SONNET_PROFILE "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
#define SONNET_ARN "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" SONNET_PROFILE

struct rule_spec {
	int effect;
	char pat[64];
};

struct rules_case {
	char name[40];
	struct rule_spec rules[6];
	int nrules;
	int dflt;
	char action[160];
	int effect;
	long rule;
};

/* The seed's enterprise policy (issue 9 "Must show"). */
#define ENTERPRISE                                                                   \
	{ { A, "bedrock:InvokeModel" },                                              \
	  { A, "bedrock:Retrieve" },                                                 \
	  { D, "bedrock:CreateModelCustomization*" },                                \
	  { D, "bedrock:DeleteProvisionedModel*" },                                  \
	  { R, "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*" } },               \
		5, D

static struct rules_case cases[] = {
	{ "empty policy denies", { { 0 } }, 0, D, "bedrock:InvokeModel:x", D, DEF },
	{ "default allow", { { D, "azure:*" } }, 1, A, "bedrock:InvokeModel:x", A, DEF },
	{ "exact", { { A, "bedrock:InvokeModel:x" } }, 1, D, "bedrock:InvokeModel:x", A, 0 },
	{ "prefix at ':'", { { A, "bedrock:InvokeModel" } }, 1, D, "bedrock:InvokeModel:x", A, 0 },
	{ "prefix, id with ':'", { { A, "bedrock:InvokeModel:m-v1" } }, 1, D, "bedrock:InvokeModel:m-v1:0", A, 0 },
	{ "provider prefix", { { D, "azure" } }, 1, A, "azure:ChatCompletions:gpt-4o", D, 0 },
	{ "no prefix inside a name", { { A, "bedrock:InvokeModel" } }, 1, D,
	  "bedrock:InvokeModelWithResponseStream:x", D, DEF },
	{ "no prefix inside an id", { { D, "bedrock:InvokeModel:anthropic.claude-3" } }, 1, A,
	  "bedrock:InvokeModel:anthropic.claude-3-5-sonnet", A, DEF },
	{ "pattern longer than action", { { D, "bedrock:InvokeModel:x" } }, 1, A, "bedrock:InvokeModel", A, DEF },
	{ "star crosses ':'", { { D, "bedrock:*:anthropic.*" } }, 1, A, "bedrock:InvokeModel:anthropic.claude-v2:1",
	  D, 0 },
	{ "star at end", { { D, "bedrock:Invoke*" } }, 1, A, "bedrock:InvokeModelWithResponseStream:x", D, 0 },
	{ "infix glob", { { D, "bedrock:*Customization*" } }, 1, A, "bedrock:CreateModelCustomizationJob", D, 0 },
	{ "question mark", { { D, "bedrock:InvokeModel:amazon.titan-text-?xpress*" } }, 1, A,
	  "bedrock:InvokeModel:amazon.titan-text-express-v1", D, 0 },
	{ "question mark needs a char", { { D, "bedrock:InvokeModel:m?" } }, 1, A, "bedrock:InvokeModel:m", A, DEF },
	{ "star alone", { { D, "*" } }, 1, A, "azure:ListFiles", D, 0 },
	{ "ignores case", { { D, "BEDROCK:invokemodel:ANTHROPIC.*" } }, 1, A,
	  "bedrock:InvokeModel:anthropic.claude-v2", D, 0 },
	{ "deny beats allow", { { A, "bedrock:*" }, { D, "bedrock:Create*" } }, 2, A,
	  "bedrock:CreateGuardrail", D, 1 },
	{ "deny beats approval", { { R, "bedrock:InvokeModel:*" }, { D, "bedrock:InvokeModel:*opus*" } }, 2, A,
	  "bedrock:InvokeModel:anthropic.claude-3-opus-20240229-v1:0", D, 1 },
	{ "approval beats allow", { { A, "bedrock:InvokeModel" }, { R, "bedrock:InvokeModel:*sonnet*" } }, 2, D,
	  "bedrock:InvokeModel:anthropic.claude-3-5-sonnet-20241022-v2:0", R, 1 },
	{ "allow beats default deny", { { A, "bedrock:InvokeModel" }, { R, "bedrock:InvokeModel:*sonnet*" } }, 2, D,
	  "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", A, 0 },
	{ "first rule of the winning effect", { { A, "*" }, { D, "bedrock:Invoke*" }, { D, "bedrock:InvokeModel" } },
	  3, A, "bedrock:InvokeModel:x", D, 1 },
	{ "overlap: narrow deny in wide allow", { { A, "bedrock:InvokeModel:anthropic.*" },
						 { D, "bedrock:InvokeModel:anthropic.claude-3-opus*" } }, 2, D,
	  "bedrock:InvokeModel:anthropic.claude-3-opus-20240229-v1:0", D, 1 },
	{ "overlap: wide allow elsewhere", { { A, "bedrock:InvokeModel:anthropic.*" },
					    { D, "bedrock:InvokeModel:anthropic.claude-3-opus*" } }, 2, D,
	  "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", A, 0 },
	{ "allow does not reach other ops", { { A, "bedrock:InvokeModel:anthropic.*" } }, 1, D,
	  "bedrock:InvokeModelWithResponseStream:anthropic.claude-v2", D, DEF },
	{ "no resource, resource pattern", { { D, "bedrock:InvokeModel:*" } }, 1, A, "bedrock:InvokeModel", A, DEF },
	/* model-id aliasing */
	{ "profile governed by base", { { R, "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*" } }, 1, A,
	  "bedrock:InvokeModel:" SONNET_PROFILE, R, 0 },
	{ "profile ARN governed by base", { { D, "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*" } }, 1, A,
	  "bedrock:InvokeModel:" SONNET_ARN, D, 0 },
	{ "profile ARN governed by profile", { { D, "bedrock:InvokeModel:us.anthropic.*" } }, 1, A,
	  "bedrock:InvokeModel:" SONNET_ARN, D, 0 },
	{ "profile ARN governed by ARN", { { D, "bedrock:InvokeModel:arn:aws:bedrock:us-east-1:*" } }, 1, A,
	  "bedrock:InvokeModel:" SONNET_ARN, D, 0 },
	{ "foundation ARN", { { D, "bedrock:InvokeModel:anthropic.claude-v2" } }, 1, A,
	  "bedrock:InvokeModel:arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1", D, 0 },
	{ "eu profile", { { D, "bedrock:InvokeModelWithResponseStream:meta.*" } }, 1, A,
	  "bedrock:InvokeModelWithResponseStream:eu.meta.llama3-2-1b-instruct-v1:0", D, 0 },
	{ "apac profile", { { D, "bedrock:InvokeModel:amazon.nova*" } }, 1, A,
	  "bedrock:InvokeModel:apac.amazon.nova-lite-v1:0", D, 0 },
	{ "global profile", { { D, "bedrock:InvokeModel:anthropic.claude-sonnet-4*" } }, 1, A,
	  "bedrock:InvokeModel:global.anthropic.claude-sonnet-4-20250514-v1:0", D, 0 },
	{ "jp profile", { { D, "bedrock:InvokeModel:anthropic.*" } }, 1, A,
	  "bedrock:InvokeModel:jp.anthropic.claude-3-haiku-20240307-v1:0", D, 0 },
	{ "prefix rule on the base", { { A, "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1" } }, 1, D,
	  "bedrock:InvokeModel:us.anthropic.claude-3-haiku-20240307-v1:0", A, 0 },
	{ "a profile rule does not cover the base", { { D, "bedrock:InvokeModel:us.*" } }, 1, A,
	  "bedrock:InvokeModel:anthropic.claude-v2", A, DEF },
	{ "no aliasing on Azure", { { D, "azure:ChatCompletions:gpt*" } }, 1, A,
	  "azure:ChatCompletions:us.gpt-4o", A, DEF },
	/* the seed's enterprise policy */
	{ "enterprise: haiku", ENTERPRISE, "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", A, 0 },
	{ "enterprise: sonnet", ENTERPRISE, "bedrock:InvokeModel:" SONNET_PROFILE, R, 4 },
	{ "enterprise: retrieve", ENTERPRISE, "bedrock:Retrieve:KB12345678", A, 1 },
	{ "enterprise: fine-tune", ENTERPRISE, "bedrock:CreateModelCustomizationJob", D, 2 },
	{ "enterprise: delete PT", ENTERPRISE, "bedrock:DeleteProvisionedModelThroughput:pt-1", D, 3 },
	{ "enterprise: stream", ENTERPRISE, "bedrock:InvokeModelWithResponseStream:x", D, DEF },
	{ "enterprise: azure", ENTERPRISE, "azure:ChatCompletions:gpt-4o", D, DEF },
};

static void check_table(const struct rules_case *c)
{
	tf_policy p;
	tf_decision d;
	char err[256];

	tf_policy_init(&p);
	p.dflt = (tf_effect)c->dflt;
	for (int i = 0; i < c->nrules; i++)
		cr_assert_eq(tf_policy_add(&p, (tf_effect)c->rules[i].effect, c->rules[i].pat,
					   strlen(c->rules[i].pat), err, sizeof(err)),
			     0, "%s: %s", c->name, err);
	cr_assert_eq(tf_policy_decide(&p, c->action, strlen(c->action), &d), 0, "%s", c->name);
	cr_expect_eq(d.effect, (tf_effect)c->effect, "%s: effect %s", c->name, tf_effect_name(d.effect));
	cr_expect_eq(d.rule, c->rule, "%s: rule %ld", c->name, d.rule);
	if (c->rule >= 0)
		cr_expect_str_eq(d.pattern, c->rules[c->rule].pat, "%s", c->name);
	else
		cr_expect_null(d.pattern, "%s", c->name);
	tf_policy_free(&p);
}

Test(rules, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_table(&cases[i]);
}

Test(rules, no_policy_allows)
{
	tf_decision d;
	char line[64];

	cr_assert_eq(tf_policy_decide(NULL, "bedrock:CreateModelCustomizationJob", 35, &d), 0);
	cr_expect_eq(d.effect, TF_EFFECT_ALLOW);
	cr_expect_eq(d.rule, TF_DECISION_NO_POLICY);
	tf_decision_format(&d, line, sizeof(line));
	cr_expect_str_eq(line, "no policy");
}

Test(rules, zero_policy_denies)
{
	tf_policy p = { 0 };
	tf_decision d;

	cr_assert_eq(tf_policy_decide(&p, "azure:ListFiles", 15, &d), 0);
	cr_expect_eq(d.effect, TF_EFFECT_DENY);
	cr_expect_eq(d.rule, TF_DECISION_DEFAULT);
}

Test(rules, format)
{
	tf_policy p;
	tf_decision d;
	char line[128];

	tf_policy_init(&p);
	cr_assert_eq(tf_policy_add(&p, TF_EFFECT_ALLOW, "azure:*", 7, NULL, 0), 0);
	cr_assert_eq(tf_policy_add(&p, TF_EFFECT_DENY, "bedrock:Create*", 15, NULL, 0), 0);
	tf_policy_decide(&p, "bedrock:CreateGuardrail", 23, &d);
	tf_decision_format(&d, line, sizeof(line));
	cr_expect_str_eq(line, "policy.rules[1] deny \"bedrock:Create*\"");
	tf_policy_decide(&p, "bedrock:ListGuardrails", 22, &d);
	tf_decision_format(&d, line, sizeof(line));
	cr_expect_str_eq(line, "policy.default deny");
	tf_policy_free(&p);
	cr_expect_eq(p.n, 0);
	cr_expect_null(p.rules);
}

Test(rules, long_action_fails_closed)
{
	static char action[TF_ACTION_MAX + 1];
	tf_policy p;
	tf_decision d;

	tf_policy_init(&p);
	p.dflt = TF_EFFECT_ALLOW;
	memset(action, 'a', sizeof(action));
	cr_expect_eq(tf_policy_decide(&p, action, sizeof(action), &d), -ENAMETOOLONG);
	cr_expect_eq(d.effect, TF_EFFECT_DENY);
	cr_expect_eq(tf_policy_decide(&p, action, TF_ACTION_MAX - 1, &d), 0);
	cr_expect_eq(d.effect, TF_EFFECT_ALLOW);
}

Test(rules, effects)
{
	tf_effect e;

	cr_expect_eq(tf_effect_parse("allow", 5, &e), 0);
	cr_expect_eq(e, TF_EFFECT_ALLOW);
	cr_expect_eq(tf_effect_parse("deny", 4, &e), 0);
	cr_expect_eq(e, TF_EFFECT_DENY);
	cr_expect_eq(tf_effect_parse("require_approval", 16, &e), 0);
	cr_expect_eq(e, TF_EFFECT_REQUIRE_APPROVAL);
	cr_expect_eq(tf_effect_parse("Allow", 5, &e), -EINVAL);
	cr_expect_eq(tf_effect_parse("approve", 7, &e), -EINVAL);
	cr_expect_eq(tf_effect_parse("allowx", 5, &e), 0, "n bounds the input");
	cr_expect_eq(tf_effect_parse("", 0, &e), -EINVAL);
}

struct pattern_case {
	char pat[80];
	bool ok;
};

static struct pattern_case patterns[] = {
	{ "*", true },
	{ "bedrock", true },
	{ "azure", true },
	{ "bedrock:InvokeModel", true },
	{ "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*", true },
	{ "BEDROCK:invokemodel:x", true },
	{ "bedrock:Create*", true },
	{ "bedrock:*Customization*", true },
	{ "bedrock:InvokeMode?", true },
	{ "bedrock:RetrieveAndGenerate", true },
	{ "bedrock:UnknownOperation", true },
	{ "b*", true },
	{ "*:InvokeModel", true },
	{ "azure:ChatCompletions:gpt-4o*", true },
	{ "azure:CreateFineTuningJob", true },
	{ "", false },
	{ "bedrok:*", false },
	{ "bedrock:InvokeModels", false },
	{ "bedrock:Invoke", false },
	{ "bedrock:", false },
	{ "bedrock::x", false },
	{ "bedrock:InvokeModel:", false },
	{ "bedrock:InvokeModel:arn:aws:bedrock:us-east-1::foundation-model/*", true },
	{ "gcp", false },
	{ "x*", false },
	{ "azure:InvokeModel", false },
	{ "bedrock:Converse", false },
	{ "bedrock:InvokeModel x", false },
	{ "bedrock:InvokeModel\t", false },
	{ "bedrock:Invoke\xc3\xa9", false },
};

static void check_patterns(const struct pattern_case *c)
{
	char err[160] = "";
	int r = tf_policy_check_pattern(c->pat, strlen(c->pat), err, sizeof(err));

	cr_expect_eq(r == 0, c->ok, "'%s': %d %s", c->pat, r, err);
	if (!c->ok) {
		cr_expect_eq(r, -EINVAL);
		cr_expect_neq(err[0], '\0', "'%s' gives a reason", c->pat);
	}
}

Test(rules, patterns)
{
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		check_patterns(&patterns[i]);
}

Test(rules, pattern_length_bound)
{
	char pat[TF_RULE_PATTERN_MAX + 2];
	char err[160];

	memset(pat, 'x', sizeof(pat));
	memcpy(pat, "bedrock:InvokeModel:", 20);
	cr_expect_eq(tf_policy_check_pattern(pat, TF_RULE_PATTERN_MAX, err, sizeof(err)), 0);
	cr_expect_eq(tf_policy_check_pattern(pat, TF_RULE_PATTERN_MAX + 1, err, sizeof(err)), -EINVAL);
}
