/*
 * The shim's one log line per event, to stderr (default), a file, or nowhere
 * (TOKENFENCE_LOG = stderr | off | /path). Formatting happens on the stack and
 * output is a single write(2), so concurrent lines never interleave and no
 * lock is taken. Messages must never contain secrets or prompt text.
 */
#ifndef TF_LOG_H
#define TF_LOG_H

typedef enum tf_log_level { TF_LOG_DEBUG, TF_LOG_INFO, TF_LOG_WARN, TF_LOG_ERROR } tf_log_level;

/* Reads TOKENFENCE_LOG / TOKENFENCE_DEBUG; safe to call more than once. */
void tf_log_setup(const char *spec, int debug);
void tf_log(tf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs only the first time the given flag is seen unset; the flag is set atomically. */
void tf_log_once(int *flag, tf_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int tf_log_debug_enabled(void);

#endif
