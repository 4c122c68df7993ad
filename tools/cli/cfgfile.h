/*
 * Loading a TokenFence configuration the way the shim will: the file's
 * text, then the environment's TOKENFENCE_* overrides, then the cross-key
 * checks (policy/config.h), with every failure one ready-to-print line.
 */
#ifndef TF_CLI_CFGFILE_H
#define TF_CLI_CFGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

typedef const char *(*tf_cli_getenv_fn)(const char *name);

typedef struct tf_cli_rule {
	tf_effect effect;
	char *action;
	uint32_t line;
} tf_cli_rule;

/* The config's policy, in plain terms. */
typedef struct tf_cli_policy {
	char *file;        /* NULL without a file */
	bool has_policy;   /* false: everything is allowed */
	tf_effect dflt;    /* TF_EFFECT_ALLOW or TF_EFFECT_DENY */
	tf_cli_rule *rules;
	size_t n_rules;
} tf_cli_policy;

/*
 * Reads file (may be NULL: no file, defaults and environment only) and
 * loads it with getenv_fn's variables (may be NULL: none). Returns 0, or
 * a negative errno with the ready-to-print message in err ("tokenfence:
 * FILE:LINE: …", or "tokenfence: cannot read FILE: …").
 */
int tf_cli_config_check(const char *file, tf_cli_getenv_fn getenv_fn, char *err, size_t errlen);

/* Same load, keeping the policy. Free it with tf_cli_policy_free. */
int tf_cli_config_policy(const char *file, tf_cli_getenv_fn getenv_fn, tf_cli_policy *out,
			 char *err, size_t errlen);
void tf_cli_policy_free(tf_cli_policy *p);

#endif
