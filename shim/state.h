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

#include "config.h"
#include "conn.h"
#include "hosts.h"
#include "prices.h"

/*
 * Per-thread re-entry depth. Hooks do their work only at depth 0; anything
 * re-entering on the same thread (libssl calling its own SSL_write_ex, a
 * signal handler that does TLS, a hook reached from inside fork() while our
 * atfork handlers hold the locks) passes straight through. initial-exec TLS
 * so the access never calls __tls_get_addr, which may allocate (P5).
 */
extern __thread int tf_depth __attribute__((tls_model("initial-exec")));

/* True when the shim must do nothing but pass calls through. */
bool tf_state_inert(void);
/* First-call initialisation; cheap after the first time. */
void tf_state_ready(void);

const tf_hosts *tf_state_hosts(void);
const tf_config *tf_state_config(void);
const tf_prices *tf_state_prices(void);
/* The scope name calls are booked under (config scope, workflow, "process"). */
const char *tf_state_scope_name(void);
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
