/*
 * Talking to the guarded processes: find their control sockets (the
 * directory rules of shim/ctlpath.h), send every one the same request line
 * at once, and collect one answer line from each within a deadline, so a
 * process that does not answer costs at most the timeout, whatever the
 * number of processes.
 *
 * Sockets of processes that are gone (no such pid, or nobody listening)
 * are skipped silently; the shim removes them when it next starts. A
 * server that is not running as our user is not trusted (SO_PEERCRED).
 */
#ifndef TF_CLI_PEERS_H
#define TF_CLI_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "json.h"

#define TF_PEERS_TIMEOUT_MS 1000
#define TF_PEERS_ANSWER_MAX ((size_t)64 << 20)

typedef struct tf_peer {
	pid_t pid;
	char path[108];
	int fd;
	int state;         /* internal */
	tf_buf req, resp;  /* internal */
	size_t req_off;    /* internal */
	tf_json_doc doc;
	const tf_json_value *answer; /* the parsed answer object, or NULL */
	bool ok;                     /* answer says "ok":true */
	char error[160];             /* when !ok: the answer's error or why there is none */
} tf_peer;

typedef struct tf_peers {
	char dir[108];
	tf_peer *v;
	size_t n;
} tf_peers;

/*
 * Lists the sockets of live processes (only pid `only` when > 0), sorted by
 * pid. A missing directory means no processes (0). Returns 0, or -errno
 * with a one-line reason in err (a directory that is not ours or is open
 * to others, a bad TOKENFENCE_SOCKET_DIR).
 */
int tf_peers_find(tf_peers *ps, pid_t only, char *err, size_t errlen);

/*
 * Sends line (one JSON object; a newline is added) to every peer and waits
 * up to timeout_ms in total for their answers. Peers that do not answer in
 * time get "not answering (no reply within N ms)". Peers that turn out to
 * be stale (connection refused) are dropped from the list.
 */
void tf_peers_ask(tf_peers *ps, const char *line, int timeout_ms);

void tf_peers_free(tf_peers *ps);

#endif
