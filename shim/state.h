/*
 * The shim's process-wide state: what the constructor read from the
 * environment, the lazily-initialised rest, fork hygiene and counters.
 *
 * The constructor does almost nothing (STYLE.md P6): it notes the pid,
 * whether this is a secure-execution process (then the shim stays inert:
 * no files, no sockets, no parsing — P10), reads the environment with
 * secure_getenv, and refuses to start a program whose TokenFence
 * configuration is invalid. Everything else starts on the first hook call.
 */
#ifndef TF_STATE_H
#define TF_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awscreds.h"
#include "config.h"
#include "conn.h"
#include "hosts.h"
#include "prices.h"
#include "reentry.h"


/* True when the shim must do nothing but pass calls through. */
bool tf_state_inert(void);
/* First-call initialisation; cheap after the first time. */
void tf_state_ready(void);

const tf_hosts *tf_state_hosts(void);
const tf_config *tf_state_config(void);
const tf_prices *tf_state_prices(void);
/* The scope name calls are booked under (config scope, workflow, "process"). */
const char *tf_state_scope_name(void);
/* Static AWS credentials, for re-signing requests we rewrite. */
const tf_awscreds *tf_state_awscreds(void);
/* The workflow (process tree) this process belongs to. */
const char *tf_state_workflow(void);
/* Whether a connection without SNI can still be guarded: only if a user
 * host rule might match what its Host header says. */
bool tf_state_may_guard_without_sni(void);

/* Counters (relaxed atomics): application-level calls through our hooks. */
void tf_state_count_write(size_t bytes);
void tf_state_count_read(size_t bytes);
void tf_state_count_conn(bool guarded);
/* A complete request on a guarded connection (accounting hangs off this). */
void tf_state_note_request(tf_conn *c, const tf_h1_head *h, const uint8_t *raw, size_t len);

#endif
