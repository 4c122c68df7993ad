/*
 * The control socket: one Unix socket per process, served by a thread that
 * starts lazily on first use (never from a constructor, STYLE.md P6) and
 * never blocks or signals the host (MSG_NOSIGNAL, all signals blocked in
 * the thread, SOCK_CLOEXEC, fds moved above the range hosts dup2 over).
 *
 * Where: $TOKENFENCE_SOCKET_DIR, else $XDG_RUNTIME_DIR/tokenfence, else
 * /tmp/tokenfence-<uid>; the directory is created 0700 and refused if it is
 * not ours or is open to others; the socket is <pid>.sock, mode 0600, and
 * every peer's uid is checked with SO_PEERCRED. After fork the child starts
 * its own server (under its own pid) on first use; the socket is removed at
 * exit.
 *
 * Protocol: newline-delimited JSON. A request is one object with a "cmd"
 * string; the answer is one object on one line, {"ok":true,...} or
 * {"ok":false,"error":"..."}. Commands are registered by the modules that
 * own the data (totals, ledger, approvals); handlers run on the control
 * thread and must not call into libssl.
 */
#ifndef TF_CONTROL_H
#define TF_CONTROL_H

#include "buf.h"
#include "json.h"

/*
 * Appends the answer's members (without the surrounding braces and without
 * "ok") to out, e.g. `"requests":3,"cost_usd":0.1`. Returns 0, or a negative
 * errno with a one-line reason in err (then the answer is ok:false).
 */
typedef int (*tf_control_handler)(const tf_json_value *req, tf_buf *out, char *err, size_t errlen);

/*
 * Registers cmd (1..31 bytes); call before tf_control_start() (a later
 * call is safe, the command just appears late). Registering a name again
 * replaces its handler. Returns 0, -ENOSPC (32 commands), -EINVAL (bad
 * name or NULL fn), or -EEXIST for the built-ins: "ping" (pid, exe,
 * uptime_s) and "help" (commands: every name, built-ins first).
 */
int tf_control_register(const char *cmd, tf_control_handler fn);
/*
 * Starts the server once per process (idempotent, cheap after the first
 * call). Checks the directory, binds and listens on the calling thread (so
 * the path is valid on return, or a warning was logged and the server
 * stays off for this process), then leaves the rest to the thread. Does
 * nothing in secure-execution (setuid) processes.
 */
void tf_control_start(void);
/* The socket path of this process ("" before start). */
const char *tf_control_path(void);

/*
 * Fork hygiene: call from the pthread_atfork child handler. The thread is
 * gone: close the inherited listening socket and wake pipe, forget the
 * path (the parent's socket is never removed by the child), so the next
 * tf_control_start() serves the child under its own pid. Async-signal-safe
 * (close and plain stores only).
 */
void tf_control_child_reset(void);

#endif
