/*
 * Where control sockets live, shared by the shim's server (control.c) and
 * the `tokenfence` CLI so both apply the same rules (control.h):
 *
 *   directory: $TOKENFENCE_SOCKET_DIR, else $XDG_RUNTIME_DIR/tokenfence,
 *              else /tmp/tokenfence-<uid>; absolute paths only (an empty
 *              variable counts as unset); a directory owned by the user,
 *              not a symbolic link, with no group or other permission bits;
 *   socket:    <dir>/<pid>.sock, which must fit in sockaddr_un.sun_path.
 *
 * Pure string and stat-buffer checks, plus tf_ctlpath_process_age_ms which
 * reads /proc: no allocation, no threads, usable from any context.
 */
#ifndef TF_CTLPATH_H
#define TF_CTLPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* sizeof(((struct sockaddr_un *)0)->sun_path) on Linux. */
#define TF_CTLPATH_SUN_MAX 108

typedef const char *(*tf_ctlpath_getenv_fn)(const char *name);

/*
 * The socket directory for uid into out (NUL-terminated). Returns its
 * length, -EINVAL when the chosen variable holds a relative path, or
 * -ENAMETOOLONG when the directory leaves no room for a socket name in
 * sun_path (or does not fit in out). why (may be NULL) names the variable
 * and the problem on failure.
 */
int tf_ctlpath_dir(tf_ctlpath_getenv_fn getenv_fn, uid_t uid, char *out, size_t outlen,
		   char *why, size_t whylen);

/* "<dir>/<pid>.sock" into out; its length or -ENAMETOOLONG (sun_path too). */
int tf_ctlpath_socket(const char *dir, pid_t pid, char *out, size_t outlen);

/* The pid a directory entry named "<pid>.sock" stands for, else 0. */
pid_t tf_ctlpath_pid(const char *name);

/*
 * Does an lstat/fstat result describe an acceptable socket directory for
 * uid? Returns 0, or -ENOTDIR / -EPERM (owner) / -EACCES (mode) with a
 * one-line reason in why.
 */
int tf_ctlpath_check_dir(const struct stat *st, uid_t uid, char *why, size_t whylen);

/*
 * Milliseconds since process pid started (from /proc/<pid>/stat and
 * /proc/uptime), or -1 when it cannot be read (no such process).
 */
int64_t tf_ctlpath_process_age_ms(pid_t pid);

/*
 * Is the socket file described by st (found as <pid>.sock) left over by a
 * dead process? alive says whether kill(pid, 0) found a process; age_ms is
 * that process's age (tf_ctlpath_process_age_ms) and file_age_ms the age of
 * the socket file. A live process younger than the file (by more than the
 * clock slack) is a later process reusing the pid: the file is stale too.
 */
bool tf_ctlpath_stale(bool alive, int64_t age_ms, int64_t file_age_ms);

#endif
