/*
 * This process's totals: requests, tokens and cost, overall and per model,
 * plus recent warnings, served as the control socket's `status` command
 * (the fields of DESIGN.md §4 `status --json`). Money is exact (tf_money);
 * all functions are thread-safe.
 */
#ifndef TF_TOTALS_H
#define TF_TOTALS_H

#include <stdbool.h>

#include "buf.h"
#include "call.h"
#include "json.h"

/* A finished call (forwarded and settled). */
void tf_totals_add(const tf_call *c);
/* A call we blocked (never sent). */
void tf_totals_blocked(const tf_call *c);
/* Remembers a warning for `status` (the last TF_TOTALS_WARNINGS are kept). */
void tf_totals_warn(const char *scope, const char *msg);
#define TF_TOTALS_WARNINGS 32

/* Identity shown by `status`. */
void tf_totals_set_identity(bool enforced, const char *workflow, const char *scope);

/* The control socket's `status` handler (see control.h). */
int tf_totals_status(const tf_json_value *req, tf_buf *out, char *err, size_t errlen);

/* Fork: the child starts from zero. */
void tf_totals_child_reset(void);

#endif
