#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "glob.h"

/* Criterion runs each test in a fresh worker process: parameters must not hold pointers. */
struct glob_case {
	char pat[64];
	char s[64];
	bool match;
};

static struct glob_case cases[] = {
	{ "", "", true },
	{ "", "a", false },
	{ "*", "", true },
	{ "*", "anything:at:all", true },
	{ "a?c", "abc", true },
	{ "a?c", "ac", false },
	{ "bedrock:InvokeModel:*", "bedrock:InvokeModel:anthropic.claude-3", true },
	{ "BEDROCK:invokemodel", "bedrock:InvokeModel", true },
	{ "bedrock:*Customization*", "bedrock:CreateModelCustomizationJob", true },
	{ "*.openai.azure.com", "res.openai.azure.com", true },
	{ "*.openai.azure.com", "openai.azure.com", false },
	{ "a*b*c", "aXbYbZc", true },
	{ "a*b*c", "aXbYbZ", false },
	{ "**a", "bbba", true },
	{ "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
};

ParameterizedTestParameters(glob, table)
{
	return cr_make_param_array(struct glob_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct glob_case *c, glob, table)
{
	cr_expect_eq(tf_glob_match_str(c->pat, c->s), c->match, "'%s' vs '%s'", c->pat, c->s);
}
