/*
 * Events: one JSON line per finished call, and one per notable happening
 * (warning, block, policy, approval), appended to TOKENFENCE_EVENTS when it
 * is set, and the call lines also to $TOKENFENCE_RUN_DIR/calls.jsonl (where
 * `tokenfence run` reads its summary). Field names follow OpenTelemetry's
 * GenAI conventions (gen_ai.*) plus tokenfence.* (DESIGN.md §4). Each line
 * is a single O_APPEND write, so lines of concurrent threads and processes
 * never interleave. Never secrets, never prompt text: only the call record.
 */
#ifndef TF_EVENTS_H
#define TF_EVENTS_H

#include <stdarg.h>

#include "call.h"

/* Reads the paths; called once at initialisation (not from a constructor). */
void tf_events_setup(const char *events_path, const char *run_dir);
/* The one `call` event of a finished call. decision: allow|block|downgrade|... */
void tf_events_call(const tf_call *c, const char *scope, const char *decision);
/* Another kind of event: kind is warning|block|policy|approval|error. */
void tf_events_note(const char *kind, const tf_call *c, const char *scope, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
