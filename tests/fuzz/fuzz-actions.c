/*
 * libFuzzer harness for the action mapper (untrusted request-targets) and the
 * policy decision on its output.
 *
 * Input: byte 0 picks provider and Bedrock service kind; then the method up
 * to the first ' ', the target up to the first '\n', and the body's model
 * (the rest).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
	if (!cond)
		abort();
}

static tf_policy policy;

static void policy_once(void)
{
	static const struct {
		tf_effect e;
		const char *pat;
	} rules[] = {
		{ TF_EFFECT_ALLOW, "bedrock:InvokeModel" },
		{ TF_EFFECT_ALLOW, "bedrock:Retrieve" },
		{ TF_EFFECT_DENY, "bedrock:CreateModelCustomization*" },
		{ TF_EFFECT_DENY, "bedrock:DeleteProvisionedModel*" },
		{ TF_EFFECT_REQUIRE_APPROVAL, "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*" },
		{ TF_EFFECT_ALLOW, "azure:*:gpt-4o-mini" },
	};
	static bool done;

	if (done)
		return;
	tf_policy_init(&policy);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		check(tf_policy_add(&policy, rules[i].e, rules[i].pat, strlen(rules[i].pat), NULL, 0) == 0);
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1, *sp, *nl;
	size_t n;
	tf_action_req req = { 0 };
	tf_action a;
	tf_decision d;
	int r;

	if (size < 1)
		return 0;
	policy_once();
	n = size - 1;
	req.provider = (data[0] & 1) ? TF_PROVIDER_AZURE : TF_PROVIDER_BEDROCK;
	req.service = (tf_bedrock_service)((data[0] >> 1) % 5);
	sp = memchr(in, ' ', n);
	req.method = in;
	req.method_len = sp ? (size_t)(sp - in) : n;
	req.target = sp ? sp + 1 : in + n;
	nl = memchr(req.target, '\n', (size_t)(in + n - req.target));
	req.target_len = nl ? (size_t)(nl - req.target) : (size_t)(in + n - req.target);
	if (nl) {
		req.body_model = nl + 1;
		req.body_model_len = (size_t)(in + n - req.body_model);
	}

	r = tf_action_map(&req, &a);
	check(r == 0 || r == TF_ACTION_UNMAPPED || r == -ENAMETOOLONG || r == -EINVAL);
	check(a.action_len == strlen(a.action) && a.action_len < sizeof(a.action));
	check(a.resource_len == strlen(a.resource) && a.resource_len <= TF_ACTION_RESOURCE_MAX);
	check(a.operation && a.name);
	if (r != 0)
		check(strcmp(a.name, "UnknownOperation") == 0 && a.resource_len == 0);
	if (a.resource_len)
		check(a.action[a.action_len - a.resource_len - 1] == ':' &&
		      memcmp(a.action + a.action_len - a.resource_len, a.resource, a.resource_len) == 0);

	check(tf_policy_decide(&policy, a.action, a.action_len, &d) == 0);
	check(d.rule == TF_DECISION_DEFAULT || (d.rule >= 0 && (size_t)d.rule < policy.n));
	check(d.rule < 0 || d.effect == policy.rules[d.rule].effect);
	return 0;
}
