#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "json.h"

static tf_config c;
static char err[512];

/* ---- a fake environment --------------------------------------------- */

static const char *env_names[16];
static const char *env_values[16];
static size_t env_n;

static void env_set(const char *name, const char *value)
{
	env_names[env_n] = name;
	env_values[env_n++] = value;
}

static const char *fake_getenv(const char *name)
{
	for (size_t i = env_n; i > 0; i--)
		if (strcmp(env_names[i - 1], name) == 0)
			return env_values[i - 1];
	return NULL;
}

static void setup(void)
{
	tf_config_init(&c);
	env_n = 0;
}

static void teardown(void)
{
	tf_config_free(&c);
}

TestSuite(config, .init = setup, .fini = teardown);

static int load(const char *text)
{
	tf_config_free(&c);
	return tf_config_load(&c, "/etc/tf.json", text, text ? strlen(text) : 0, fake_getenv, err,
			      sizeof(err));
}

static void expect_error(const char *text, const char *want)
{
	int r = load(text);

	cr_expect_eq(r, -EINVAL, "accepted: %s (env %s)", text, env_n ? env_values[0] : "-");
	cr_expect_str_eq(err, want, "for: %s\n got: %s", text, err);
}

static void expect_env_error(const char *name, const char *value, const char *want)
{
	env_n = 0;
	env_set(name, value);
	expect_error(NULL, want);
}

/* ---- defaults and a full file --------------------------------------- */

Test(config, defaults)
{
	tf_buf b = { 0 };

	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_expect_eq(c.max_cost, TF_CONFIG_UNSET_MONEY);
	cr_expect_eq(c.max_requests, TF_CONFIG_UNSET_COUNT);
	cr_expect_eq(c.approval_timeout_s, 300);
	cr_expect(c.clamp_max_tokens);
	cr_expect_eq(c.min_max_tokens, 1);
	cr_expect_eq(c.fail_mode, TF_FAIL_CLOSED);
	cr_expect_eq(c.h2, TF_H2_ENFORCE);
	cr_expect(!c.has_policy);
	cr_expect_eq(tf_config_downgrade_at(&c), 800000);
	cr_assert_eq(tf_config_render_json(&c, &b), 0);
	cr_assert_eq(tf_buf_append(&b, "", 1), 0);
	cr_expect_str_eq((char *)b.data,
			 "{\"file\":null,\"max_cost\":null,\"max_cost_per_request\":null,"
			 "\"max_requests\":null,\"warn_at\":null,\"downgrade_at\":0.8,"
			 "\"model_downgrade\":{},\"scope\":null,\"scopes\":{},\"policy\":null,"
			 "\"approval_timeout_s\":300,\"prices\":{},\"deployments\":{},"
			 "\"clamp_max_tokens\":true,\"min_max_tokens\":1,\"hosts\":[],"
			 "\"ledger\":null,\"fail_mode\":\"closed\",\"h2\":\"enforce\"}");
	tf_buf_free(&b);
}

static const char full[] =
	"{\n"
	"  \"max_cost\": 3,\n"
	"  \"max_cost_per_request\": 0.5,\n"
	"  \"max_requests\": 100,\n"
	"  \"warn_at\": 0.75,\n"
	"  \"downgrade_at\": 0.9,\n"
	"  \"model_downgrade\": {\"anthropic.claude-3-5-sonnet-20241022-v2:0\":\n"
	"                        \"anthropic.claude-3-5-haiku-20241022-v1:0\"},\n"
	"  \"scope\": \"team-a\",\n"
	"  \"scopes\": {\"team-a\": {\"max_cost\": 50, \"window\": \"month\", \"parent\": \"org\"},\n"
	"             \"org\": {\"max_cost\": 1000, \"max_requests\": 5000, \"warn_at\": 0.9,\n"
	"                     \"window\": \"day\"}},\n"
	"  \"policy\": {\"default\": \"allow\", \"rules\": [\n"
	"     {\"effect\": \"deny\", \"action\": \"bedrock:CreateModelCustomizationJob\"},\n"
	"     {\"effect\": \"require_approval\", \"action\": \"bedrock:InvokeModel:*opus*\"}]},\n"
	"  \"approval_timeout_s\": 120,\n"
	"  \"prices\": {\"gpt-4o\": {\"input\": 2.75, \"output\": 11, \"cache_read\": 1.375}},\n"
	"  \"deployments\": {\"my-gpt\": \"gpt-4o\"},\n"
	"  \"clamp_max_tokens\": false,\n"
	"  \"min_max_tokens\": 256,\n"
	"  \"hosts\": {\"127.0.0.1:8443\": \"bedrock\", \"[::1]:9443\": \"azure\"},\n"
	"  \"ledger\": \"redis://user:secret@localhost:6379/2\",\n"
	"  \"fail_mode\": \"open\",\n"
	"  \"h2\": \"downgrade_alpn\"\n"
	"}\n";

Test(config, every_key)
{
	const tf_scope_cfg *s;

	cr_assert_eq(load(full), 0, "%s", err);
	cr_expect_str_eq(c.file, "/etc/tf.json");
	cr_expect_eq(c.max_cost, 3 * TF_MONEY_PER_USD);
	cr_expect_eq(c.max_cost_per_request, TF_MONEY_PER_USD / 2);
	cr_expect_eq(c.max_requests, 100);
	cr_expect_eq(c.warn_at_ppm, 750000);
	cr_expect_eq(tf_config_downgrade_at(&c), 900000);
	cr_assert_eq(c.n_downgrade, 1);
	cr_expect_str_eq(c.downgrade[0].to, "anthropic.claude-3-5-haiku-20241022-v1:0");
	cr_expect_str_eq(c.scope, "team-a");
	cr_assert_eq(c.n_scopes, 2);
	s = tf_config_scope(&c, "team-a");
	cr_assert_not_null(s);
	cr_expect(s->max_cost == 50 * TF_MONEY_PER_USD && s->window == TF_WINDOW_MONTH &&
		  s->max_requests == TF_CONFIG_UNSET_COUNT && s->warn_at_ppm == 0);
	cr_expect_str_eq(s->parent, "org");
	cr_expect_eq(s->line, 10);
	s = tf_config_scope(&c, "org");
	cr_expect(s && s->max_requests == 5000 && s->warn_at_ppm == 900000 &&
		  s->window == TF_WINDOW_DAY && !s->parent);
	cr_expect_null(tf_config_scope(&c, "nope"));
	cr_expect(c.has_policy && c.policy_default == TF_EFFECT_ALLOW);
	cr_assert_eq(c.n_rules, 2);
	cr_expect(c.rules[0].effect == TF_EFFECT_DENY && c.rules[0].line == 14);
	cr_expect_str_eq(c.rules[1].action, "bedrock:InvokeModel:*opus*");
	cr_expect_eq(c.rules[1].effect, TF_EFFECT_REQUIRE_APPROVAL);
	cr_expect_eq(c.approval_timeout_s, 120);
	cr_assert_eq(c.n_prices, 1);
	cr_expect(c.prices[0].price.input == 2750000 && c.prices[0].price.cache_read == 1375000 &&
		  c.prices[0].price.cache_write == TF_PRICE_UNSET);
	cr_expect_str_eq(tf_config_deployment(&c, "my-gpt", 6), "gpt-4o");
	cr_expect_str_eq(tf_config_deployment(&c, "My-GPT", 6), "gpt-4o");
	cr_expect_null(tf_config_deployment(&c, "my-gp", 5));
	cr_expect(!c.clamp_max_tokens);
	cr_expect_eq(c.min_max_tokens, 256);
	cr_assert_eq(c.hosts.n, 2);
	cr_expect_eq(tf_hosts_classify(&c.hosts, "127.0.0.1", 9, 8443), TF_PROVIDER_BEDROCK);
	cr_expect_eq(tf_hosts_classify(&c.hosts, "::1", 3, 9443), TF_PROVIDER_AZURE);
	cr_expect_str_eq(c.ledger, "redis://user:secret@localhost:6379/2");
	cr_expect_eq(c.fail_mode, TF_FAIL_OPEN);
	cr_expect_eq(c.h2, TF_H2_DOWNGRADE_ALPN);
}

Test(config, policy_without_default_denies)
{
	cr_assert_eq(load("{\"policy\": {\"rules\": [{\"effect\": \"allow\", "
			  "\"action\": \"bedrock:InvokeModel\"}]}}"),
		     0, "%s", err);
	cr_expect(c.has_policy && c.policy_default == TF_EFFECT_DENY && c.n_rules == 1);
	cr_assert_eq(load("{\"policy\": {}}"), 0);
	cr_expect(c.has_policy && c.policy_default == TF_EFFECT_DENY && c.n_rules == 0);
}

Test(config, numbers_in_any_exact_form)
{
	cr_assert_eq(load("{\"max_cost\": 2.5e1, \"max_requests\": 1e2, \"warn_at\": 75e-2,"
			  " \"max_cost_per_request\": 0.000000000001}"),
		     0, "%s", err);
	cr_expect_eq(c.max_cost, 25 * TF_MONEY_PER_USD);
	cr_expect_eq(c.max_requests, 100);
	cr_expect_eq(c.warn_at_ppm, 750000);
	cr_expect_eq(c.max_cost_per_request, 1);
	cr_assert_eq(load("{\"max_cost\": 0, \"warn_at\": 1, \"max_requests\": 0}"), 0, "%s", err);
	cr_expect(c.max_cost == 0 && c.warn_at_ppm == 1000000 && c.max_requests == 0);
	cr_assert_eq(load("{\"max_cost\": 9000000}"), 0, "%s", err);
}

Test(config, downgrade_at_defaults_to_warn_at)
{
	cr_assert_eq(load("{\"warn_at\": 0.6}"), 0);
	cr_expect_eq(tf_config_downgrade_at(&c), 600000);
	cr_assert_eq(load("{\"warn_at\": 0.6, \"downgrade_at\": 0.95}"), 0);
	cr_expect_eq(tf_config_downgrade_at(&c), 950000);
}

/* ---- every file error, with its exact message ----------------------- */

Test(config, syntax_errors)
{
	expect_error("{\n  \"max_cost\": 3,\n  \"warn_at\": .5\n}",
		     "tokenfence: /etc/tf.json:3: invalid JSON at column 14: unexpected '.'");
	expect_error("{\"max_cost\": 3,\n \"max_cost\": 4}",
		     "tokenfence: /etc/tf.json:2: invalid JSON at column 2: duplicate key "
		     "\"max_cost\"");
	expect_error("", "tokenfence: /etc/tf.json:1: invalid JSON at column 1: empty document");
	expect_error("[1]", "tokenfence: /etc/tf.json:1: expected a JSON object at the top, got "
			    "array");
	expect_error("{\"scope\": \"a\\u0000b\"}",
		     "tokenfence: /etc/tf.json:1: scope: contains a NUL character");
}

Test(config, unknown_keys_suggest)
{
	expect_error("{\n\"max_cost\": 3,\n\"max_cots\": 4}",
		     "tokenfence: /etc/tf.json:3: unknown key \"max_cots\" (did you mean "
		     "\"max_cost\"?)");
	expect_error("{\"budget\": 4}", "tokenfence: /etc/tf.json:1: unknown key \"budget\"");
	expect_error("{\"warn-at\": 0.5}",
		     "tokenfence: /etc/tf.json:1: unknown key \"warn-at\" (did you mean \"warn_at\"?)");
	expect_error("{\"scopes\": {\"a\": {\"windw\": \"day\"}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"]: unknown key \"windw\" (did you mean "
		     "\"window\"?)");
	expect_error("{\"policy\": {\"rule\": []}}",
		     "tokenfence: /etc/tf.json:1: policy: unknown key \"rule\" (did you mean "
		     "\"rules\"?)");
	expect_error("{\"policy\": {\"rules\": [{\"effect\": \"deny\", \"actions\": \"x\"}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0]: unknown key \"actions\" (did you "
		     "mean \"action\"?)");
	expect_error("{\"prices\": {\"m\": {\"input\": 1, \"output\": 2, \"cache_reed\": 1}}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m\"]: unknown key \"cache_reed\" (did you "
		     "mean \"cache_read\"?)");
	expect_error("{\"x\\ny\": 1}", "tokenfence: /etc/tf.json:1: unknown key \"x?y\"");
}

Test(config, money_errors)
{
	expect_error("{\"max_cost\": \"3\"}",
		     "tokenfence: /etc/tf.json:1: max_cost: expected an amount of USD, got string");
	expect_error("{\n\"max_cost\": -1}",
		     "tokenfence: /etc/tf.json:2: max_cost: must not be negative");
	expect_error("{\"max_cost\": 9000000.000001}",
		     "tokenfence: /etc/tf.json:1: max_cost: more than 9000000 USD");
	expect_error("{\"max_cost\": 1e300}",
		     "tokenfence: /etc/tf.json:1: max_cost: more than 9000000 USD");
	expect_error("{\"max_cost\": 0.0000000000001}",
		     "tokenfence: /etc/tf.json:1: max_cost: more than 12 decimals");
	expect_error("{\"max_cost_per_request\": null}",
		     "tokenfence: /etc/tf.json:1: max_cost_per_request: expected an amount of USD, "
		     "got null");
	expect_error("{\"max_cost_per_request\": -0.5}",
		     "tokenfence: /etc/tf.json:1: max_cost_per_request: must not be negative");
}

Test(config, count_and_fraction_errors)
{
	expect_error("{\"max_requests\": -1}",
		     "tokenfence: /etc/tf.json:1: max_requests: must be from 0 to "
		     "9223372036854775807");
	expect_error("{\"max_requests\": 1.5}",
		     "tokenfence: /etc/tf.json:1: max_requests: expected a whole number");
	expect_error("{\"max_requests\": \"10\"}",
		     "tokenfence: /etc/tf.json:1: max_requests: expected a whole number, got string");
	expect_error("{\"max_requests\": 1e30}",
		     "tokenfence: /etc/tf.json:1: max_requests: must be from 0 to "
		     "9223372036854775807");
	expect_error("{\"warn_at\": 0}",
		     "tokenfence: /etc/tf.json:1: warn_at: must be in (0, 1], with at most 6 decimals");
	expect_error("{\"warn_at\": 1.5}",
		     "tokenfence: /etc/tf.json:1: warn_at: must be in (0, 1], with at most 6 decimals");
	expect_error("{\"warn_at\": -0.5}",
		     "tokenfence: /etc/tf.json:1: warn_at: must be in (0, 1], with at most 6 decimals");
	expect_error("{\"warn_at\": 0.1234567}",
		     "tokenfence: /etc/tf.json:1: warn_at: must be in (0, 1], with at most 6 decimals");
	expect_error("{\"warn_at\": true}",
		     "tokenfence: /etc/tf.json:1: warn_at: expected a number in (0, 1], got boolean");
	expect_error("{\"downgrade_at\": 2}",
		     "tokenfence: /etc/tf.json:1: downgrade_at: must be in (0, 1], with at most 6 "
		     "decimals");
	expect_error("{\"approval_timeout_s\": 0}",
		     "tokenfence: /etc/tf.json:1: approval_timeout_s: must be from 1 to 86400");
	expect_error("{\"approval_timeout_s\": 86401}",
		     "tokenfence: /etc/tf.json:1: approval_timeout_s: must be from 1 to 86400");
	expect_error("{\"min_max_tokens\": 0}",
		     "tokenfence: /etc/tf.json:1: min_max_tokens: must be from 1 to 100000000");
	expect_error("{\"clamp_max_tokens\": \"yes\"}",
		     "tokenfence: /etc/tf.json:1: clamp_max_tokens: expected true or false, got "
		     "string");
}

Test(config, model_map_errors)
{
	expect_error("{\"model_downgrade\": [\"a\"]}",
		     "tokenfence: /etc/tf.json:1: model_downgrade: expected an object, got array");
	expect_error("{\"model_downgrade\": {\"a\": 1}}",
		     "tokenfence: /etc/tf.json:1: model_downgrade[\"a\"]: expected a model id, got "
		     "number");
	expect_error("{\"model_downgrade\": {\"a\": \"\"}}",
		     "tokenfence: /etc/tf.json:1: model_downgrade[\"a\"]: must not be empty");
	expect_error("{\"model_downgrade\": {\"a b\": \"c\"}}",
		     "tokenfence: /etc/tf.json:1: model_downgrade[\"a b\"]: model ids must be "
		     "printable ASCII without spaces");
	expect_error("{\"model_downgrade\": {\"gpt-4o\":\n \"GPT-4o\"}}",
		     "tokenfence: /etc/tf.json:2: model_downgrade[\"gpt-4o\"]: a model cannot be "
		     "downgraded to itself");
	expect_error("{\"deployments\": {\"d\": \"gpt 4o\"}}",
		     "tokenfence: /etc/tf.json:1: deployments[\"d\"]: model ids must be printable "
		     "ASCII without spaces");
	expect_error("{\"deployments\": {\"d\": null}}",
		     "tokenfence: /etc/tf.json:1: deployments[\"d\"]: expected a model id, got null");
}

Test(config, scope_errors)
{
	expect_error("{\"scope\": \"team a\"}",
		     "tokenfence: /etc/tf.json:1: scope: names are 1 to 64 characters of A-Z a-z "
		     "0-9 _ . : @ / -");
	expect_error("{\"scope\": \"\"}", "tokenfence: /etc/tf.json:1: scope: must not be empty");
	expect_error("{\"scope\": 5}",
		     "tokenfence: /etc/tf.json:1: scope: expected a scope name, got number");
	expect_error("{\"scopes\": {\"a\\u00e9\": {}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a??\"]: scope names are 1 to 64 "
		     "characters of A-Z a-z 0-9 _ . : @ / -");
	expect_error("{\"scopes\": {\"a\": 5}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"]: expected an object, got number");
	expect_error("{\"scopes\": {\"a\": {\"window\": \"week\"}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].window: expected \"none\", \"day\" or "
		     "\"month\"");
	expect_error("{\"scopes\": {\"a\": {\"max_cost\": -5}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].max_cost: must not be negative");
	expect_error("{\"scopes\": {\"a\": {\"max_requests\": 0.5}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].max_requests: expected a whole "
		     "number");
	expect_error("{\"scopes\": {\"a\": {\"warn_at\": 0}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].warn_at: must be in (0, 1], with at "
		     "most 6 decimals");
	expect_error("{\"scopes\": {\"a\": {\"parent\": \"b c\"}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].parent: scope names are 1 to 64 "
		     "characters of A-Z a-z 0-9 _ . : @ / -");
}

Test(config, scope_parents_exist_without_cycles)
{
	expect_error("{\"scopes\": {\n\"a\": {\"parent\": \"ghost\"}}}",
		     "tokenfence: /etc/tf.json:2: scopes[\"a\"].parent: no scope named \"ghost\"");
	expect_error("{\"scopes\": {\"a\": {\"parent\": \"a\"}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].parent: scopes form a cycle: a -> a");
	expect_error("{\"scopes\": {\"a\": {\"parent\": \"b\"},\n \"b\": {\"parent\": \"c\"},"
		     " \"c\": {\"parent\": \"a\"}}}",
		     "tokenfence: /etc/tf.json:1: scopes[\"a\"].parent: scopes form a cycle: "
		     "a -> b -> c -> a");
	/* A cycle that the first scope only leads into is reported at its own
	 * first member. */
	expect_error("{\"scopes\": {\"x\": {\"parent\": \"b\"},\n \"b\": {\"parent\": \"c\"},"
		     " \"c\": {\"parent\": \"b\"}}}",
		     "tokenfence: /etc/tf.json:2: scopes[\"b\"].parent: scopes form a cycle: "
		     "b -> c -> b");
	cr_expect_eq(load("{\"scopes\": {\"a\": {\"parent\": \"b\"}, \"b\": {\"parent\": \"c\"},"
			  " \"c\": {}}}"),
		     0, "%s", err);
}

Test(config, policy_errors)
{
	expect_error("{\"policy\": []}",
		     "tokenfence: /etc/tf.json:1: policy: expected an object, got array");
	expect_error("{\"policy\": {\"default\": \"maybe\"}}",
		     "tokenfence: /etc/tf.json:1: policy.default: expected \"allow\" or \"deny\"");
	expect_error("{\"policy\": {\"default\": \"require_approval\"}}",
		     "tokenfence: /etc/tf.json:1: policy.default: expected \"allow\" or \"deny\"");
	expect_error("{\"policy\": {\"rules\": {}}}",
		     "tokenfence: /etc/tf.json:1: policy.rules: expected an array, got object");
	expect_error("{\"policy\": {\"rules\": [\"deny *\"]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0]: expected an object, got string");
	expect_error("{\"policy\": {\"rules\": [\n{\"effect\": \"allow\", \"action\": \"a\"},\n"
		     "{\"effect\": \"block\", \"action\": \"b\"}]}}",
		     "tokenfence: /etc/tf.json:3: policy.rules[1].effect: expected \"allow\", "
		     "\"deny\" or \"require_approval\"");
	expect_error("{\"policy\": {\"rules\": [{\"effect\": \"deny\", \"action\": \"bedrock: x\"}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0].action: must be printable ASCII "
		     "without spaces, at most 512 characters");
	expect_error("{\"policy\": {\"rules\": [{\"effect\": \"deny\", \"action\": \"\"}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0].action: must not be empty");
	expect_error("{\"policy\": {\"rules\": [{\"effect\": \"deny\", \"action\": 5}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0].action: expected an action "
		     "pattern, got number");
	expect_error("{\"policy\": {\"rules\": [{\"action\": \"x\"}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0]: missing \"effect\" (allow, deny "
		     "or require_approval)");
	expect_error("{\"policy\": {\"rules\": [{\"effect\": \"deny\"}]}}",
		     "tokenfence: /etc/tf.json:1: policy.rules[0]: missing \"action\"");
}

Test(config, prices_errors)
{
	expect_error("{\"prices\": {\"m\": {\"input\": 1}}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m\"]: needs both \"input\" and "
		     "\"output\"");
	expect_error("{\"prices\": {\"m\": {\"input\": 1,\n \"output\": -2}}}",
		     "tokenfence: /etc/tf.json:2: prices[\"m\"].output: must not be negative");
	expect_error("{\"prices\": {\"m\": {\"input\": 0.0000001, \"output\": 1}}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m\"].input: more than 6 decimals (USD "
		     "per 1M tokens)");
	expect_error("{\"prices\": {\"m m\": {\"input\": 1, \"output\": 1}}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m m\"]: model ids must be printable ASCII "
		     "without spaces");
	expect_error("{\"prices\": {\"m\": [1, 2]}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m\"]: expected an object, got array");
	expect_error("{\"prices\": {\"m\": {\"input\": 1, \"output\": 1, \"provider\": \"gcp\"}}}",
		     "tokenfence: /etc/tf.json:1: prices[\"m\"].provider: expected \"bedrock\" or "
		     "\"azure\"");
	expect_error("{\"prices\": 1}",
		     "tokenfence: /etc/tf.json:1: prices: expected an object, got number");
}

Test(config, hosts_ledger_and_modes_errors)
{
	expect_error("{\"hosts\": {\"x.example\": \"gcp\"}}",
		     "tokenfence: /etc/tf.json:1: hosts[\"x.example\"]: expected \"none\", "
		     "\"bedrock\" or \"azure\"");
	expect_error("{\"hosts\": {\"a b\": \"azure\"}}",
		     "tokenfence: /etc/tf.json:1: hosts[\"a b\"]: expected host[:port] (printable, "
		     "no spaces)");
	expect_error("{\"hosts\": {\":443\": \"azure\"}}",
		     "tokenfence: /etc/tf.json:1: hosts[\":443\"]: expected host[:port]");
	expect_error("{\"hosts\": [\"a\"]}",
		     "tokenfence: /etc/tf.json:1: hosts: expected an object, got array");
	expect_error("{\"ledger\": \"ledger.db\"}",
		     "tokenfence: /etc/tf.json:1: ledger: must be an absolute path or a redis:// URL");
	expect_error("{\"ledger\": \"http://x/y\"}",
		     "tokenfence: /etc/tf.json:1: ledger: only redis:// URLs are supported");
	expect_error("{\"ledger\": \"redis://localhost:99999/0\"}",
		     "tokenfence: /etc/tf.json:1: ledger: expected "
		     "redis://[user:password@]host[:port][/db]");
	expect_error("{\"ledger\": \"redis://\"}",
		     "tokenfence: /etc/tf.json:1: ledger: expected "
		     "redis://[user:password@]host[:port][/db]");
	expect_error("{\"ledger\": \"redis://h/x\"}",
		     "tokenfence: /etc/tf.json:1: ledger: expected "
		     "redis://[user:password@]host[:port][/db]");
	expect_error("{\"fail_mode\": \"maybe\"}",
		     "tokenfence: /etc/tf.json:1: fail_mode: expected \"closed\" or \"open\"");
	expect_error("{\"h2\": true}", "tokenfence: /etc/tf.json:1: h2: expected a string, got "
				       "boolean");
	expect_error("{\"h2\": \"allow\"}",
		     "tokenfence: /etc/tf.json:1: h2: expected \"enforce\" or \"downgrade_alpn\"");
}

Test(config, good_ledgers)
{
	static const char *const ok[] = { "/var/lib/tokenfence/ledger", "redis://localhost",
					   "redis://127.0.0.1:6379/0", "redis://[::1]:6379",
					   "redis://:pw@redis.internal/3" };
	char text[128];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "{\"ledger\": \"%s\"}", ok[i]);
		cr_expect_eq(load(text), 0, "%s: %s", ok[i], err);
	}
}

Test(config, oversized_file)
{
	size_t n = TF_CONFIG_MAX_SIZE + 1;
	char *big = malloc(n + 1);

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	expect_error(big, "tokenfence: /etc/tf.json: larger than 1048576 bytes");
	free(big);
}

/* Every prefix of a config, right before an unreadable page. */
Test(config, truncated_files_before_a_guard_page)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = strlen(full);
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	cr_assert(map != MAP_FAILED);
	cr_assert((size_t)page > len);
	cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	for (size_t cut = 0; cut <= len; cut++) {
		char *at = map + page - cut;
		int r;
		memcpy(at, full, cut);
		tf_config_free(&c);
		r = tf_config_load(&c, "t", at, cut, NULL, err, sizeof(err));
		cr_expect_eq(r, cut >= len - 1 ? 0 : -EINVAL, "cut %zu: %s", cut, err);
	}
	munmap(map, (size_t)page * 2);
}

/* ---- environment ---------------------------------------------------- */

Test(config, env_overrides_the_file)
{
	env_set("TOKENFENCE_MAX_COST", " 5.25 ");
	env_set("TOKENFENCE_MAX_COST_PER_REQUEST", "0.01");
	env_set("TOKENFENCE_MAX_REQUESTS", "7");
	env_set("TOKENFENCE_WARN_AT", "0.5");
	env_set("TOKENFENCE_DOWNGRADE_AT", "0.6");
	env_set("TOKENFENCE_DOWNGRADE", "anthropic.claude-3-5-sonnet-20241022-v2:0="
					"anthropic.claude-3-haiku-20240307-v1:0, gpt-4o = gpt-4o-mini,");
	env_set("TOKENFENCE_SCOPE", "org");
	env_set("TOKENFENCE_LEDGER", "/tmp/ledger");
	env_set("TOKENFENCE_HOSTS", "127.0.0.1:8443=azure,emu.local=bedrock");
	env_set("TOKENFENCE_FAIL_MODE", "closed");
	env_set("TOKENFENCE_APPROVAL_TIMEOUT", "30");
	cr_assert_eq(load(full), 0, "%s", err);
	cr_expect_eq(c.max_cost, 5250000000000);
	cr_expect_eq(c.max_cost_per_request, 10000000000);
	cr_expect_eq(c.max_requests, 7);
	cr_expect_eq(c.warn_at_ppm, 500000);
	cr_expect_eq(tf_config_downgrade_at(&c), 600000);
	/* Maps merge, env wins on the same key. */
	cr_assert_eq(c.n_downgrade, 2);
	cr_expect_str_eq(c.downgrade[0].to, "anthropic.claude-3-haiku-20240307-v1:0");
	cr_expect_str_eq(c.downgrade[1].from, "gpt-4o");
	cr_expect_str_eq(c.downgrade[1].to, "gpt-4o-mini");
	cr_expect_str_eq(c.scope, "org");
	cr_expect_str_eq(c.ledger, "/tmp/ledger");
	/* Env host rules come before the file's: the first match wins. */
	cr_assert_eq(c.hosts.n, 4);
	cr_expect_eq(tf_hosts_classify(&c.hosts, "127.0.0.1", 9, 8443), TF_PROVIDER_AZURE);
	cr_expect_eq(tf_hosts_classify(&c.hosts, "emu.local", 9, -1), TF_PROVIDER_BEDROCK);
	cr_expect_eq(tf_hosts_classify(&c.hosts, "::1", 3, 9443), TF_PROVIDER_AZURE);
	cr_expect_eq(c.fail_mode, TF_FAIL_CLOSED);
	cr_expect_eq(c.approval_timeout_s, 30);
}

Test(config, env_without_file)
{
	env_set("TOKENFENCE_MAX_COST", "3");
	env_set("TOKENFENCE_HOSTS", "localhost:8443=bedrock");
	env_set("TOKENFENCE_FAIL_MODE", "open");
	cr_assert_eq(load(NULL), 0, "%s", err);
	cr_expect_eq(c.max_cost, 3 * TF_MONEY_PER_USD);
	cr_expect_eq(c.hosts.n, 1);
	cr_expect_eq(c.fail_mode, TF_FAIL_OPEN);
	cr_expect_null(c.file);
}

Test(config, env_errors_name_the_variable)
{
	expect_env_error("TOKENFENCE_MAX_COST", "abc",
			 "tokenfence: TOKENFENCE_MAX_COST=\"abc\": expected a plain decimal amount "
			 "of USD (e.g. 3 or 0.50)");
	expect_env_error("TOKENFENCE_MAX_COST", "-1",
			 "tokenfence: TOKENFENCE_MAX_COST=\"-1\": expected a plain decimal amount of "
			 "USD (e.g. 3 or 0.50)");
	expect_env_error("TOKENFENCE_MAX_COST", "1e3",
			 "tokenfence: TOKENFENCE_MAX_COST=\"1e3\": expected a plain decimal amount "
			 "of USD (e.g. 3 or 0.50)");
	expect_env_error("TOKENFENCE_MAX_COST", "10000000",
			 "tokenfence: TOKENFENCE_MAX_COST=\"10000000\": more than 9000000 USD");
	expect_env_error("TOKENFENCE_MAX_COST", "  ", "tokenfence: TOKENFENCE_MAX_COST: empty value");
	expect_env_error("TOKENFENCE_MAX_COST_PER_REQUEST", "$1",
			 "tokenfence: TOKENFENCE_MAX_COST_PER_REQUEST=\"$1\": expected a plain "
			 "decimal amount of USD (e.g. 3 or 0.50)");
	expect_env_error("TOKENFENCE_MAX_REQUESTS", "1.5",
			 "tokenfence: TOKENFENCE_MAX_REQUESTS=\"1.5\": expected a whole number from "
			 "0 to 9223372036854775807");
	expect_env_error("TOKENFENCE_MAX_REQUESTS", "99999999999999999999",
			 "tokenfence: TOKENFENCE_MAX_REQUESTS=\"99999999999999999999\": expected a "
			 "whole number from 0 to 9223372036854775807");
	expect_env_error("TOKENFENCE_WARN_AT", "75%",
			 "tokenfence: TOKENFENCE_WARN_AT=\"75%\": expected a number in (0, 1], e.g. "
			 "0.75");
	expect_env_error("TOKENFENCE_WARN_AT", "0",
			 "tokenfence: TOKENFENCE_WARN_AT=\"0\": expected a number in (0, 1], e.g. "
			 "0.75");
	expect_env_error("TOKENFENCE_DOWNGRADE_AT", "1.01",
			 "tokenfence: TOKENFENCE_DOWNGRADE_AT=\"1.01\": expected a number in (0, 1], "
			 "e.g. 0.75");
	expect_env_error("TOKENFENCE_DOWNGRADE", "a=b,c",
			 "tokenfence: TOKENFENCE_DOWNGRADE=\"a=b,c\": expected from=to,from=to");
	expect_env_error("TOKENFENCE_DOWNGRADE", "a=",
			 "tokenfence: TOKENFENCE_DOWNGRADE=\"a=\": expected from=to,from=to with "
			 "model ids (printable ASCII without spaces)");
	expect_env_error("TOKENFENCE_DOWNGRADE", "a=A",
			 "tokenfence: TOKENFENCE_DOWNGRADE=\"a=A\": a model cannot be downgraded to "
			 "itself");
	expect_env_error("TOKENFENCE_SCOPE", "my scope",
			 "tokenfence: TOKENFENCE_SCOPE=\"my scope\": scope names are 1 to 64 "
			 "characters of A-Z a-z 0-9 _ . : @ / -");
	/* The ledger value is never echoed: it may hold a password. */
	expect_env_error("TOKENFENCE_LEDGER", "redis://:hunter2@host:0",
			 "tokenfence: TOKENFENCE_LEDGER: expected "
			 "redis://[user:password@]host[:port][/db]");
	expect_env_error("TOKENFENCE_LEDGER", "relative/ledger",
			 "tokenfence: TOKENFENCE_LEDGER: must be an absolute path or a redis:// URL");
	expect_env_error("TOKENFENCE_HOSTS", "x=gcp",
			 "tokenfence: TOKENFENCE_HOSTS: bad host rule 'x=gcp': expected "
			 "host[:port]=bedrock|azure|none");
	expect_env_error("TOKENFENCE_FAIL_MODE", "OPEN",
			 "tokenfence: TOKENFENCE_FAIL_MODE=\"OPEN\": expected \"open\" or \"closed\"");
	expect_env_error("TOKENFENCE_APPROVAL_TIMEOUT", "0",
			 "tokenfence: TOKENFENCE_APPROVAL_TIMEOUT=\"0\": expected a whole number from "
			 "1 to 86400");
	expect_env_error("TOKENFENCE_APPROVAL_TIMEOUT", "5m",
			 "tokenfence: TOKENFENCE_APPROVAL_TIMEOUT=\"5m\": expected a whole number "
			 "from 1 to 86400");
}

Test(config, env_error_values_are_sanitized)
{
	expect_env_error("TOKENFENCE_MAX_COST", "1\x1b[31m",
			 "tokenfence: TOKENFENCE_MAX_COST=\"1?[31m\": expected a plain decimal "
			 "amount of USD (e.g. 3 or 0.50)");
}

Test(config, failed_load_leaves_a_clean_config)
{
	env_set("TOKENFENCE_MAX_COST", "x");
	cr_expect_eq(load(full), -EINVAL);
	cr_expect_eq(c.max_cost, TF_CONFIG_UNSET_MONEY);
	cr_expect_eq(c.n_scopes, 0);
	cr_expect_null(c.file);
}

/* ---- helpers -------------------------------------------------------- */

static const char *downgrade(tf_provider prov, const char *id)
{
	static char out[256];
	int r = tf_config_downgrade(&c, prov, id, strlen(id), out, sizeof(out));

	cr_assert_geq(r, 0, "%s", id);
	return r ? out : NULL;
}

Test(config, downgrade_matches_raw_id_or_base_model)
{
	cr_assert_eq(load("{\"model_downgrade\": {"
			  "\"anthropic.claude-3-5-sonnet-20241022-v2:0\": "
			  "\"anthropic.claude-3-5-haiku-20241022-v1:0\","
			  "\"eu.anthropic.claude-3-opus-20240229-v1:0\": "
			  "\"eu.anthropic.claude-3-haiku-20240307-v1:0\","
			  "\"amazon.nova-pro-v1:0\": \"global.amazon.nova-lite-v1:0\","
			  "\"gpt-4o\": \"gpt-4o-mini\"}}"),
		     0, "%s", err);
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK, "anthropic.claude-3-5-sonnet-20241022-v2:0"),
			 "anthropic.claude-3-5-haiku-20241022-v1:0");
	/* The caller's profile is kept, so the request stays in its region set. */
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK,
				   "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"),
			 "us.anthropic.claude-3-5-haiku-20241022-v1:0");
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK,
				   "arn:aws:bedrock:eu-west-1:1:inference-profile/"
				   "eu.anthropic.claude-3-5-sonnet-20241022-v2:0"),
			 "eu.anthropic.claude-3-5-haiku-20241022-v1:0");
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK,
				   "arn:aws:bedrock:us-east-1::foundation-model/"
				   "anthropic.claude-3-5-sonnet-20241022-v2:0"),
			 "anthropic.claude-3-5-haiku-20241022-v1:0");
	/* A rule on the exact profile id wins, verbatim. */
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK, "EU.anthropic.claude-3-opus-20240229-v1:0"),
			 "eu.anthropic.claude-3-haiku-20240307-v1:0");
	cr_expect_null(downgrade(TF_PROVIDER_BEDROCK, "us.anthropic.claude-3-opus-20240229-v1:0"));
	/* A target with its own profile is not prefixed again. */
	cr_expect_str_eq(downgrade(TF_PROVIDER_BEDROCK, "us.amazon.nova-pro-v1:0"),
			 "global.amazon.nova-lite-v1:0");
	cr_expect_str_eq(downgrade(TF_PROVIDER_AZURE, "gpt-4o"), "gpt-4o-mini");
	cr_expect_null(downgrade(TF_PROVIDER_AZURE, "gpt-4o-mini"));
	cr_expect_null(downgrade(TF_PROVIDER_AZURE, "us.gpt-4o"));
	{
		char small[8];
		cr_expect_eq(tf_config_downgrade(&c, TF_PROVIDER_AZURE, "gpt-4o", 6, small,
						 sizeof(small)),
			     -ENAMETOOLONG);
	}
}

Test(config, prices_apply_to_the_table)
{
	tf_prices t;
	tf_price p;

	cr_assert_eq(load("{\"prices\": {\"gpt-4o\": {\"input\": 2.75, \"output\": 11},"
			  " \"acme.llm-v1:0\": {\"input\": 1, \"output\": 2, \"provider\": "
			  "\"bedrock\", \"max_output\": 1000}}}"),
		     0, "%s", err);
	cr_assert_eq(tf_prices_init(&t, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(tf_config_apply_prices(&c, &t), 0);
	/* Data-zone gpt-4o: $2.75/$11; the table's cached price stays. */
	cr_expect_eq(tf_prices_lookup(&t, TF_PROVIDER_AZURE, "gpt-4o-2024-11-20", 17, &p),
		     TF_PRICE_BASE);
	cr_expect(p.input == 2750000 && p.output == 11000000 && p.cache_read == 1250000);
	cr_expect_eq(tf_prices_lookup(&t, TF_PROVIDER_BEDROCK, "us.acme.llm-v1:0", 16, &p),
		     TF_PRICE_BASE);
	cr_expect(p.input == 1000000 && p.max_output == 1000);
	tf_prices_free(&t);
}

Test(config, render_round_trips_and_masks_passwords)
{
	tf_buf b = { 0 };
	tf_json_doc doc;
	tf_json_error jerr;
	const tf_json_value *v;

	cr_assert_eq(load(full), 0, "%s", err);
	cr_assert_eq(tf_config_render_json(&c, &b), 0);
	cr_assert_eq(tf_json_parse(&doc, (const char *)b.data, b.len, NULL, &jerr), 0, "%s",
		     jerr.msg);
	cr_expect_str_eq(tf_json_get(doc.root, "ledger")->u.str.s, "redis://***@localhost:6379/2");
	cr_expect(memmem(b.data, b.len, "secret", 6) == NULL);
	cr_expect_str_eq(tf_json_get(doc.root, "max_cost")->u.num.text, "3");
	cr_expect_str_eq(tf_json_get(doc.root, "max_cost_per_request")->u.num.text, "0.5");
	cr_expect_str_eq(tf_json_get(doc.root, "warn_at")->u.num.text, "0.75");
	cr_expect_str_eq(tf_json_get(doc.root, "downgrade_at")->u.num.text, "0.9");
	v = tf_json_get(tf_json_get(doc.root, "prices"), "gpt-4o");
	cr_expect_str_eq(tf_json_get(v, "input")->u.num.text, "2.75");
	cr_expect_str_eq(tf_json_get(v, "cache_read")->u.num.text, "1.375");
	cr_expect_null(tf_json_get(v, "cache_write"));
	v = tf_json_get(tf_json_get(doc.root, "scopes"), "team-a");
	cr_expect_str_eq(tf_json_get(v, "window")->u.str.s, "month");
	cr_expect_str_eq(tf_json_get(v, "parent")->u.str.s, "org");
	v = tf_json_get(doc.root, "hosts");
	cr_assert_eq(v->u.arr.n, 2);
	cr_expect_str_eq(tf_json_get(&v->u.arr.items[1], "host")->u.str.s, "::1");
	v = tf_json_get(doc.root, "policy");
	cr_expect_str_eq(tf_json_get(v, "default")->u.str.s, "allow");
	cr_expect_eq(tf_json_get(v, "rules")->u.arr.n, 2);
	tf_json_doc_free(&doc);
	tf_buf_free(&b);
}

Test(config, render_fails_cleanly_at_the_cap)
{
	tf_buf b;

	cr_assert_eq(load(full), 0, "%s", err);
	tf_buf_init(&b, 100);
	cr_expect_eq(tf_config_render_json(&c, &b), -ENOBUFS);
	cr_expect_eq(b.len, 0);
	tf_buf_free(&b);
}
