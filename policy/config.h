/*
 * TokenFence configuration: the model, its strict loader, env overrides.
 *
 * Pure: the caller reads the file and passes its text; environment values
 * come through a getter (the shim passes secure_getenv). The contract is
 * DESIGN.md §4. Every key is optional; unknown keys, wrong types and
 * out-of-range values are errors, because a typo must never silently
 * unguard a program. Error messages are one ready-to-print line:
 *
 *   tokenfence: /etc/tf.json:7: unknown key "max_cots" (did you mean "max_cost"?)
 *   tokenfence: /etc/tf.json:3: scopes["team-a"].warn_at: must be in (0, 1]
 *   tokenfence: TOKENFENCE_MAX_COST="3$": expected a plain decimal amount of USD
 *
 * Order: tf_config_init() (defaults) -> tf_config_parse() (file) ->
 * tf_config_apply_env() (env overrides the file) -> tf_config_validate()
 * (cross-key checks); tf_config_load() does all four.
 *
 * Money is tf_money; fractions of a budget (warn_at, downgrade_at) are
 * parts per million (0.75 -> 750000), exact, no floats.
 */
#ifndef TF_CONFIG_H
#define TF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "buf.h"
#include "hosts.h"
#include "money.h"
#include "prices.h"
#include "rules.h"

#define TF_CONFIG_UNSET_MONEY ((tf_money)-1)
#define TF_CONFIG_UNSET_COUNT ((int64_t)-1)
#define TF_CONFIG_PPM 1000000u
#define TF_CONFIG_DEFAULT_DOWNGRADE_AT 800000u
#define TF_CONFIG_DEFAULT_APPROVAL_TIMEOUT_S 300u
#define TF_CONFIG_MAX_APPROVAL_TIMEOUT_S 86400u
/* Config text larger than this is refused (a config is a few KB). */
#define TF_CONFIG_MAX_SIZE ((size_t)1 << 20)
#define TF_CONFIG_SCOPE_NAME_MAX 64
#define TF_CONFIG_ACTION_MAX 512
#define TF_CONFIG_MODEL_ID_MAX 2048

/* tf_window: budget.h, which gives windows their meaning. */
typedef enum tf_fail_mode { TF_FAIL_CLOSED, TF_FAIL_OPEN } tf_fail_mode;
typedef enum tf_h2_mode { TF_H2_ENFORCE, TF_H2_DOWNGRADE_ALPN } tf_h2_mode;

typedef struct tf_scope_cfg {
	char *name;            /* 1..64 of [A-Za-z0-9_.:@/-] */
	tf_money max_cost;     /* TF_CONFIG_UNSET_MONEY when unset */
	int64_t max_requests;  /* TF_CONFIG_UNSET_COUNT when unset */
	uint32_t warn_at_ppm;  /* 0 when unset */
	tf_window window;
	char *parent;          /* NULL: none; else names another scope */
	uint32_t line;         /* where it was defined, for messages */
} tf_scope_cfg;

typedef struct tf_rule_cfg {
	tf_effect effect;
	char *action; /* a tf_glob pattern: printable ASCII, no spaces */
	uint32_t line;
} tf_rule_cfg;

/* model_downgrade (from -> to) and deployments (name -> model). */
typedef struct tf_model_map {
	char *from;
	char *to;
} tf_model_map;

typedef struct tf_price_cfg {
	char *model;
	tf_price price; /* unset fields are TF_PRICE_UNSET / 0 */
} tf_price_cfg;

typedef struct tf_config {
	char *file; /* name used in messages; NULL when no file was parsed */
	tf_money max_cost;             /* whole-workflow budget */
	tf_money max_cost_per_request; /* per-call cap */
	int64_t max_requests;
	uint32_t warn_at_ppm;      /* 0 = unset */
	uint32_t downgrade_at_ppm; /* 0 = unset: see tf_config_downgrade_at() */
	tf_model_map *downgrade;
	size_t n_downgrade;
	char *scope; /* NULL = none */
	tf_scope_cfg *scopes;
	size_t n_scopes;
	bool has_policy;           /* false: everything is allowed */
	tf_effect policy_default;  /* deny unless the policy says otherwise */
	tf_rule_cfg *rules;
	size_t n_rules;
	uint32_t approval_timeout_s; /* 1..86400, default 300 */
	tf_price_cfg *prices;
	size_t n_prices;
	tf_model_map *deployments;
	size_t n_deployments;
	bool clamp_max_tokens;   /* default true */
	uint32_t min_max_tokens; /* default 1 */
	tf_hosts hosts;          /* env rules first, then the file's */
	char *ledger;            /* NULL, an absolute path, or redis://[auth@]host[:port][/db] */
	tf_fail_mode fail_mode;  /* default closed */
	tf_h2_mode h2;           /* default enforce */
} tf_config;

typedef const char *(*tf_getenv_fn)(const char *name);

void tf_config_init(tf_config *c);
void tf_config_free(tf_config *c);

/*
 * Parses a JSON config text (file names it in messages). Keys found
 * replace what c holds; maps (model_downgrade, deployments, prices, scopes)
 * merge by key; hosts rules are appended. Returns 0, -EINVAL (err set),
 * -ENOMEM. On failure c stays valid for tf_config_free() but may be
 * partly updated: do not use it.
 */
int tf_config_parse(tf_config *c, const char *file, const char *text, size_t len, char *err,
		    size_t errlen);

/*
 * Applies TOKENFENCE_MAX_COST, _MAX_COST_PER_REQUEST, _MAX_REQUESTS,
 * _WARN_AT, _DOWNGRADE_AT, _DOWNGRADE (from=to,…; merged, env wins),
 * _SCOPE, _LEDGER, _HOSTS (host[:port]=provider,…; tried before the
 * file's), _FAIL_MODE, _APPROVAL_TIMEOUT. Unset variables change nothing;
 * an empty or malformed value is an error naming the variable.
 */
int tf_config_apply_env(tf_config *c, tf_getenv_fn getenv_fn, char *err, size_t errlen);

/* Cross-key checks: scope parents exist and form no cycle. */
int tf_config_validate(const tf_config *c, char *err, size_t errlen);

/*
 * init + parse (when text is not NULL) + env (when getenv_fn is not NULL)
 * + validate. On failure c is freed and re-initialised.
 */
int tf_config_load(tf_config *c, const char *file, const char *text, size_t len,
		   tf_getenv_fn getenv_fn, char *err, size_t errlen);

/* Effective downgrade threshold: downgrade_at, else warn_at, else 0.8. */
uint32_t tf_config_downgrade_at(const tf_config *c);

/* The scope of that name, or NULL. */
const tf_scope_cfg *tf_config_scope(const tf_config *c, const char *name);

/* The base model an Azure deployment maps to (ASCII case ignored), or NULL. */
const char *tf_config_deployment(const tf_config *c, const char *name, size_t n);

/*
 * model_downgrade target for a model id (ASCII case ignored): the raw id
 * (percent-decoded) first, then its base model (tf_model_base()), so a
 * rule for "anthropic.claude-…" also catches "us.anthropic.claude-…". The
 * caller's cross-region prefix is kept: "us." + target. Returns the length
 * written to out (NUL-terminated), 0 when no mapping applies, or
 * -ENAMETOOLONG.
 */
int tf_config_downgrade(const tf_config *c, tf_provider prov, const char *id, size_t n, char *out,
			size_t outlen);

/* Merges the config's "prices" entries into t; 0 or -ENOMEM/-EINVAL. */
int tf_config_apply_prices(const tf_config *c, tf_prices *t);

/*
 * The effective configuration (defaults included) as one JSON object, for
 * `tokenfence status` and debugging. A password in a redis:// ledger URL
 * is masked. Returns 0 or the tf_buf error.
 */
int tf_config_render_json(const tf_config *c, tf_buf *out);

#endif
