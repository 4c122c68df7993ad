/*
 * The control socket server (contract in control.h).
 *
 * tf_control_start() does the cheap, deterministic part on the caller's
 * thread (directory checks, bind, chmod, listen: a dozen syscalls, so
 * tf_control_path() is valid when it returns and a refusal is logged at
 * once) and leaves everything slow to a detached thread: stale-socket
 * cleanup, accepting, reading, answering. The thread is created with every
 * signal blocked, so process-directed signals are always delivered to the
 * host's own threads, and it never calls libssl.
 *
 * Clients: at most CTL_MAX_CLIENTS at once, each with a request buffer (a
 * line may not exceed CTL_LINE_MAX) and an answer buffer; answers are sent
 * non-blocking with MSG_NOSIGNAL, so a client that stops reading or hangs
 * up only ever costs itself. A client that stays silent for CTL_IDLE_MS is
 * dropped.
 *
 * Hosts may close or dup2 over our descriptors (STYLE.md P14): every fd is
 * moved to >= CTL_FD_MIN, and before touching one we check that it is still
 * the object we opened (device and inode), so a number the host reused is
 * never read from, written to, or accepted on.
 *
 * Fork: the thread does not exist in the child. tf_control_child_reset()
 * closes the inherited listening socket and wake pipe (their numbers never
 * change after start), leaves the client sockets alone (the thread may have
 * been between two updates of its table; they are close-on-exec), and puts
 * the table on an orphan list instead of freeing buffers that may be
 * half-updated. The child then starts its own server under its own pid.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "ctlpath.h"
#include "log.h"

#define CTL_FD_MIN 200
#define CTL_LINE_MAX ((size_t)64 << 10)
#define CTL_ANSWER_MAX ((size_t)8 << 20)
/* Lines wait unprocessed while this much answer is still unsent. */
#define CTL_OUT_HIGH ((size_t)1 << 20)
#define CTL_OUT_MAX (CTL_OUT_HIGH + CTL_ANSWER_MAX + 256)
#define CTL_MAX_CLIENTS 32
#define CTL_MAX_CMDS 32
#define CTL_CMD_NAME_MAX 32
#define CTL_IDLE_MS 60000
#define CTL_BACKLOG 16
#define CTL_JSON_DEPTH 16

enum { ST_IDLE, ST_STARTING, ST_RUNNING, ST_FAILED };

/* An fd together with the object it was opened on. */
typedef struct fdref {
	int fd;
	dev_t dev;
	ino_t ino;
} fdref;

typedef struct client {
	fdref s;
	tf_buf in, out;
	size_t out_off; /* bytes of out already sent */
	int64_t last_ms;
	bool eof;     /* the peer will send nothing more */
	bool closing; /* close once out is flushed */
} client;

/* Everything the thread owns, in one block that fork can orphan whole. */
typedef struct client_table {
	client c[CTL_MAX_CLIENTS];
	size_t n;
	tf_buf scratch; /* a handler's output */
	struct client_table *orphan_next;
} client_table;

typedef struct command {
	char name[CTL_CMD_NAME_MAX];
	tf_control_handler fn;
} command;

static struct {
	pthread_mutex_t reg_lock;
	command cmds[CTL_MAX_CMDS];
	size_t ncmds; /* published with release after the entry is written */

	int state;   /* ST_*, atomic */
	int bound;   /* path is valid and ours to unlink, atomic */
	int stop;    /* asks the thread to leave, atomic */
	pid_t pid;   /* the process the server belongs to */
	fdref lsn;   /* listening socket */
	fdref wake[2];
	char dir[TF_CTLPATH_SUN_MAX];
	char path[TF_CTLPATH_SUN_MAX];
	char exe[64];

	client_table *clients; /* owned by the thread */
	client_table *orphans; /* tables of threads lost in fork, kept reachable */
} ctl = {
	.reg_lock = PTHREAD_MUTEX_INITIALIZER,
	.lsn = { .fd = -1 },
	.wake = { { .fd = -1 }, { .fd = -1 } },
};

/* ---- descriptors ------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves fd above the range hosts dup2 over; keeps it where it is if it cannot. */
static int move_high(int fd)
{
	int high;

	if (fd < 0 || fd >= CTL_FD_MIN)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, CTL_FD_MIN);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

static int fdref_set(fdref *r, int fd)
{
	struct stat st;

	r->fd = fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	return 0;
}

/* Is r->fd still the object we opened, or did the host close and reuse it? */
static bool fdref_ours(const fdref *r)
{
	struct stat st;

	return r->fd >= 0 && fstat(r->fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino;
}

/* Closes only if the number still refers to our object. */
static void fdref_close(fdref *r)
{
	if (fdref_ours(r))
		close(r->fd);
	r->fd = -1;
}

/* ---- registry --------------------------------------------------------- */

static int builtin_ping(const tf_json_value *req, tf_buf *out, char *err, size_t errlen);
static int builtin_help(const tf_json_value *req, tf_buf *out, char *err, size_t errlen);

static const command builtins[] = {
	{ "ping", builtin_ping },
	{ "help", builtin_help },
};

int tf_control_register(const char *cmd, tf_control_handler fn)
{
	size_t n, len = cmd ? strlen(cmd) : 0;
	int r = 0;

	if (!fn || len == 0 || len >= CTL_CMD_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i].name, cmd) == 0)
			return -EEXIST;
	pthread_mutex_lock(&ctl.reg_lock);
	n = __atomic_load_n(&ctl.ncmds, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ctl.cmds[i].name, cmd) == 0) {
			__atomic_store_n(&ctl.cmds[i].fn, fn, __ATOMIC_RELEASE);
			goto out;
		}
	}
	if (n == CTL_MAX_CMDS) {
		r = -ENOSPC;
		goto out;
	}
	memcpy(ctl.cmds[n].name, cmd, len + 1);
	ctl.cmds[n].fn = fn;
	__atomic_store_n(&ctl.ncmds, n + 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&ctl.reg_lock);
	return r;
}

static tf_control_handler lookup(const char *cmd)
{
	size_t n = __atomic_load_n(&ctl.ncmds, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i].name, cmd) == 0)
			return builtins[i].fn;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ctl.cmds[i].name, cmd) == 0)
			return __atomic_load_n(&ctl.cmds[i].fn, __ATOMIC_ACQUIRE);
	return NULL;
}

static int builtin_ping(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	int64_t age = tf_ctlpath_process_age_ms(getpid());
	int r;

	r = tf_json_put_key(out, "pid");
	r = r ? r : tf_json_put_int(out, (int64_t)getpid());
	r = r ? r : tf_json_put_key(out, "exe");
	r = r ? r : tf_json_put_cstr(out, ctl.exe);
	r = r ? r : tf_json_put_key(out, "uptime_s");
	r = r ? r : (age >= 0 ? tf_json_put_double(out, (double)age / 1000.0) : tf_json_put_null(out));
	return r;
}

static int builtin_help(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	size_t n = __atomic_load_n(&ctl.ncmds, __ATOMIC_ACQUIRE);
	int r;

	r = tf_json_put_key(out, "commands");
	r = r ? r : tf_json_open_array(out);
	for (size_t i = 0; r == 0 && i < sizeof(builtins) / sizeof(builtins[0]); i++)
		r = tf_json_put_cstr(out, builtins[i].name);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = tf_json_put_cstr(out, ctl.cmds[i].name);
	return r ? r : tf_json_close_array(out);
}

/* ---- answers ---------------------------------------------------------- */

static int queue_error(client *c, const char *msg)
{
	tf_buf b;
	int r;

	tf_buf_init(&b, CTL_LINE_MAX);
	r = tf_json_open_object(&b);
	r = r ? r : tf_json_put_key(&b, "ok");
	r = r ? r : tf_json_put_bool(&b, false);
	r = r ? r : tf_json_put_key(&b, "error");
	r = r ? r : tf_json_put_cstr(&b, msg);
	r = r ? r : tf_json_close_object(&b);
	r = r ? r : tf_buf_append(&b, "\n", 1);
	r = r ? r : tf_buf_append(&c->out, b.data, b.len);
	tf_buf_free(&b);
	return r;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* Runs one request line and queues its answer; < 0 when the client must go. */
static int serve_line(client_table *t, client *c, const char *line, size_t n)
{
	tf_json_limits lim = { .max_size = CTL_LINE_MAX, .max_depth = CTL_JSON_DEPTH };
	const tf_json_value *cmd;
	tf_control_handler fn;
	tf_json_error jerr;
	tf_json_doc doc;
	char err[256], msg[320];
	int r;

	if (blank(line, n))
		return 0;
	if (tf_json_parse(&doc, line, n, &lim, &jerr) < 0) {
		tf_json_doc_free(&doc);
		snprintf(msg, sizeof(msg), "bad request: column %u: %s", (unsigned)jerr.col,
			 jerr.msg);
		return queue_error(c, msg);
	}
	cmd = tf_json_get(doc.root, "cmd");
	if (!cmd || cmd->type != TF_JSON_STRING) {
		tf_json_doc_free(&doc);
		return queue_error(c, "a request is a JSON object with a \"cmd\" string");
	}
	fn = strlen(cmd->u.str.s) == cmd->u.str.len ? lookup(cmd->u.str.s) : NULL;
	if (!fn) {
		snprintf(msg, sizeof(msg), "unknown command \"%.64s\" (\"help\" lists them)",
			 cmd->u.str.s);
		tf_json_doc_free(&doc);
		return queue_error(c, msg);
	}
	tf_buf_reset(&t->scratch);
	err[0] = '\0';
	r = fn(doc.root, &t->scratch, err, sizeof(err));
	tf_json_doc_free(&doc);
	if (r == -ENOBUFS)
		return queue_error(c, "answer too large");
	if (r < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-r));
		return queue_error(c, err);
	}
	r = tf_buf_reserve(&c->out, t->scratch.len + 16);
	if (r < 0)
		return queue_error(c, "answer too large");
	tf_buf_append_str(&c->out, "{\"ok\":true");
	if (t->scratch.len) {
		tf_buf_append(&c->out, ",", 1);
		tf_buf_append(&c->out, t->scratch.data, t->scratch.len);
	}
	tf_buf_append(&c->out, "}\n", 2);
	return 0;
}

/* Serves the complete lines buffered, while answers are not piling up. */
static void serve_lines(client_table *t, client *c)
{
	size_t off = 0;

	while (!c->closing && c->out.len < CTL_OUT_HIGH) {
		const char *p = (const char *)c->in.data + off;
		size_t avail = c->in.len - off;
		const char *nl = memchr(p, '\n', avail < CTL_LINE_MAX + 1 ? avail : CTL_LINE_MAX + 1);
		size_t n;

		if (!nl) {
			if (avail > CTL_LINE_MAX) {
				queue_error(c, "request line too long (the limit is 65536 bytes)");
				c->closing = true;
			} else if (c->eof && avail > 0) {
				/* A last request without its newline: serve it anyway. */
				if (serve_line(t, c, p, avail) < 0)
					c->closing = true;
				off += avail;
			}
			break;
		}
		n = (size_t)(nl - p);
		if (serve_line(t, c, p, n) < 0)
			c->closing = true;
		off += n + 1;
	}
	tf_buf_consume(&c->in, off);
	if (c->eof && c->in.len == 0)
		c->closing = true;
}

/* ---- clients ---------------------------------------------------------- */

static void client_drop(client_table *t, size_t i)
{
	client *c = &t->c[i];

	fdref_close(&c->s);
	tf_buf_free(&c->in);
	tf_buf_free(&c->out);
	t->c[i] = t->c[--t->n];
}

/* Sends what is queued; false when the client is gone. */
static bool client_flush(client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->s.fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			if (c->out_off == c->out.len) {
				tf_buf_reset(&c->out);
				c->out_off = 0;
			}
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		} else {
			return false;
		}
	}
	return !c->closing;
}

/* Reads what the peer sent; false when the client is gone. */
static bool client_read(client *c)
{
	char chunk[4096];

	while (!c->eof && c->in.len <= CTL_LINE_MAX) {
		ssize_t n = recv(c->s.fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n > 0) {
			if (tf_buf_append(&c->in, chunk, (size_t)n) < 0)
				return false;
		} else if (n == 0) {
			c->eof = true;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else {
			return false;
		}
	}
	return true;
}

/* One round of work on a client poll reported; false when it must go. */
static bool client_event(client_table *t, client *c, short revents)
{
	if (!fdref_ours(&c->s))
		return false;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (!client_read(c))
			return false;
		c->last_ms = now_ms();
	}
	serve_lines(t, c);
	if (!client_flush(c))
		return false;
	/* Flushing may have made room for lines that were waiting. */
	if (c->in.len && c->out.len < CTL_OUT_HIGH) {
		serve_lines(t, c);
		return client_flush(c);
	}
	return true;
}

static bool peer_allowed(int fd, char *why, size_t whylen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		snprintf(why, whylen, "cannot check the peer's credentials");
		return false;
	}
	if (cred.uid != geteuid()) {
		snprintf(why, whylen, "permission denied: uid %u does not own this process",
			 (unsigned)cred.uid);
		return false;
	}
	return true;
}

/* A client we will not serve gets one error line, best effort, and is closed. */
static void turn_away(int fd, const char *why)
{
	client tmp = { .s = { .fd = fd } };

	tf_buf_init(&tmp.out, CTL_LINE_MAX);
	if (queue_error(&tmp, why) == 0)
		(void)!send(fd, tmp.out.data, tmp.out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	tf_buf_free(&tmp.out);
	close(fd);
}

static void accept_clients(client_table *t)
{
	char why[128];

	for (;;) {
		int fd = accept4(ctl.lsn.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		client *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		fd = move_high(fd);
		if (!peer_allowed(fd, why, sizeof(why))) {
			turn_away(fd, why);
			continue;
		}
		if (t->n == CTL_MAX_CLIENTS) {
			turn_away(fd, "busy: too many control clients");
			continue;
		}
		c = &t->c[t->n];
		memset(c, 0, sizeof(*c));
		if (fdref_set(&c->s, fd) < 0) {
			close(fd);
			continue;
		}
		tf_buf_init(&c->in, CTL_LINE_MAX * 2);
		tf_buf_init(&c->out, CTL_OUT_MAX);
		c->last_ms = now_ms();
		t->n++;
	}
}

/* ---- listening socket --------------------------------------------------- */

static int listen_at(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A file under our own pid is left from an earlier process (or from
	 * our image before exec): replace it, but only if it is a socket. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(why, whylen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -errno;
	}
	fd = move_high(fd);
	/* Between bind and chmod the file has the umask's mode, but it sits
	 * in a 0700 directory, and every peer's uid is checked anyway. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, CTL_BACKLOG) < 0 || fdref_set(&ctl.lsn, fd) < 0) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(e));
		close(fd);
		ctl.lsn.fd = -1;
		return -e;
	}
	return 0;
}

static const char *env(const char *name)
{
	return secure_getenv(name);
}

static int prepare_dir(char *why, size_t whylen)
{
	char reason[160];
	struct stat st;
	int r;

	r = tf_ctlpath_dir(env, geteuid(), ctl.dir, sizeof(ctl.dir), reason,
			   sizeof(reason));
	if (r < 0) {
		snprintf(why, whylen, "%s", reason);
		return r;
	}
	if (mkdir(ctl.dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(why, whylen, "cannot create %s: %s", ctl.dir, strerror(errno));
		return r;
	}
	if (lstat(ctl.dir, &st) < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", ctl.dir, strerror(errno));
		return r;
	}
	r = tf_ctlpath_check_dir(&st, geteuid(), reason, sizeof(reason));
	if (r < 0)
		snprintf(why, whylen, "refusing %s: %s", ctl.dir, reason);
	return r;
}

/* Removes <pid>.sock files of processes that are gone (see ctlpath.h). */
static void remove_stale_sockets(void)
{
	struct timespec now;
	struct dirent *e;
	DIR *d = opendir(ctl.dir);

	if (!d)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	while ((e = readdir(d)) != NULL) {
		pid_t pid = tf_ctlpath_pid(e->d_name);
		struct stat st;
		int64_t file_age;
		bool alive;

		if (pid <= 0 || pid == ctl.pid ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
			continue;
		alive = kill(pid, 0) == 0 || errno == EPERM;
		file_age = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 +
			   (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
		if (tf_ctlpath_stale(alive, alive ? tf_ctlpath_process_age_ms(pid) : -1, file_age))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* The host closed our listening socket (P14): listen again, same path. */
static void relisten(void)
{
	char why[256];

	ctl.lsn.fd = -1;
	if (listen_at(ctl.path, why, sizeof(why)) < 0) {
		__atomic_store_n(&ctl.bound, 0, __ATOMIC_RELEASE);
		tf_log(TF_LOG_WARN, "control socket lost and not recreated: %s", why);
	}
}

/* ---- the thread --------------------------------------------------------- */

static int poll_timeout(const client_table *t)
{
	int64_t now = now_ms(), next = -1;

	for (size_t i = 0; i < t->n; i++) {
		int64_t left = t->c[i].last_ms + CTL_IDLE_MS - now;
		if (left < 0)
			left = 0;
		if (next < 0 || left < next)
			next = left;
	}
	return next < 0 ? -1 : (int)(next > INT_MAX ? INT_MAX : next);
}

static void serve(client_table *t)
{
	struct pollfd pfd[2 + CTL_MAX_CLIENTS];

	while (!__atomic_load_n(&ctl.stop, __ATOMIC_ACQUIRE)) {
		size_t n = 0, nc = t->n;
		int r;

		pfd[n++] = (struct pollfd){ .fd = ctl.wake[0].fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl.lsn.fd, .events = POLLIN };
		for (size_t i = 0; i < nc; i++) {
			client *c = &t->c[i];
			short ev = 0;
			if (!c->eof && c->in.len <= CTL_LINE_MAX && !c->closing)
				ev |= POLLIN;
			if (c->out.len)
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){ .fd = c->s.fd, .events = ev };
		}
		r = poll(pfd, n, poll_timeout(t));
		if (r < 0 && errno != EINTR && errno != ENOMEM)
			return;
		if (pfd[0].revents) {
			char drain[64];
			/* The host closed or reused our wake pipe: stop polling it. */
			if (!fdref_ours(&ctl.wake[0]))
				ctl.wake[0].fd = -1;
			else
				while (read(ctl.wake[0].fd, drain, sizeof(drain)) > 0)
					;
		}
		if (pfd[1].revents & POLLNVAL || (pfd[1].revents && !fdref_ours(&ctl.lsn)))
			relisten();
		else if (pfd[1].revents & POLLIN)
			accept_clients(t);
		/* Newly accepted clients sit past nc; walk the polled ones backwards
		 * so that dropping (which moves the last entry) skips nothing. */
		for (size_t i = nc; i-- > 0;) {
			client *c = &t->c[i];
			short rev = pfd[2 + i].revents;
			bool keep = true;
			if (rev & POLLNVAL)
				keep = false;
			else if (rev)
				keep = client_event(t, c, rev);
			else if (now_ms() - c->last_ms >= CTL_IDLE_MS)
				keep = false;
			if (!keep)
				client_drop(t, i);
		}
	}
}

static void *ctl_thread(void *arg)
{
	client_table *t = arg;

	pthread_setname_np(pthread_self(), "tokenfence-ctl");
	remove_stale_sockets();
	serve(t);
	return NULL;
}

static void read_exe_name(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	const char *base;

	if (n <= 0) {
		snprintf(ctl.exe, sizeof(ctl.exe), "?");
		return;
	}
	buf[n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	n = (ssize_t)strnlen(base, sizeof(ctl.exe) - 1);
	memcpy(ctl.exe, base, (size_t)n);
	ctl.exe[n] = '\0';
}

static int make_wake_pipe(void)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	p[0] = move_high(p[0]);
	p[1] = move_high(p[1]);
	if (fdref_set(&ctl.wake[0], p[0]) < 0 || fdref_set(&ctl.wake[1], p[1]) < 0) {
		close(p[0]);
		close(p[1]);
		ctl.wake[0].fd = ctl.wake[1].fd = -1;
		return -EBADF;
	}
	return 0;
}

static int start_server(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	client_table *t;
	char why[320];
	pthread_t th;
	int r;

	ctl.pid = getpid();
	read_exe_name();
	r = prepare_dir(why, sizeof(why));
	if (r == 0 && tf_ctlpath_socket(ctl.dir, ctl.pid, ctl.path, sizeof(ctl.path)) < 0) {
		snprintf(why, sizeof(why), "socket path in %s too long", ctl.dir);
		r = -ENAMETOOLONG;
	}
	if (r == 0)
		r = listen_at(ctl.path, why, sizeof(why));
	if (r < 0) {
		tf_log(TF_LOG_WARN, "control socket not started: %s", why);
		return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t || make_wake_pipe() < 0) {
		free(t);
		goto fail;
	}
	tf_buf_init(&t->scratch, CTL_ANSWER_MAX);
	ctl.clients = t;
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&th, &attr, ctl_thread, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		ctl.clients = NULL;
		free(t);
		fdref_close(&ctl.wake[0]);
		fdref_close(&ctl.wake[1]);
		goto fail;
	}
	__atomic_store_n(&ctl.bound, 1, __ATOMIC_RELEASE);
	return 0;
fail:
	tf_log(TF_LOG_WARN, "control socket not started: out of resources");
	fdref_close(&ctl.lsn);
	unlink(ctl.path);
	ctl.path[0] = '\0';
	return -ENOMEM;
}

void tf_control_start(void)
{
	int s = __atomic_load_n(&ctl.state, __ATOMIC_ACQUIRE);

	if (s != ST_IDLE)
		return;
	if (!__atomic_compare_exchange_n(&ctl.state, &s, ST_STARTING, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	/* Secure-execution processes stay inert: no files, no sockets (P10). */
	s = !getauxval(AT_SECURE) && start_server() == 0 ? ST_RUNNING : ST_FAILED;
	__atomic_store_n(&ctl.state, s, __ATOMIC_RELEASE);
}

const char *tf_control_path(void)
{
	return __atomic_load_n(&ctl.bound, __ATOMIC_ACQUIRE) ? ctl.path : "";
}

void tf_control_child_reset(void)
{
	if (ctl.clients) {
		ctl.clients->orphan_next = ctl.orphans;
		ctl.orphans = ctl.clients;
		ctl.clients = NULL;
	}
	/* Fixed since start: safe to close even though the thread was mid-way. */
	if (ctl.lsn.fd >= 0)
		close(ctl.lsn.fd);
	if (ctl.wake[0].fd >= 0)
		close(ctl.wake[0].fd);
	if (ctl.wake[1].fd >= 0)
		close(ctl.wake[1].fd);
	ctl.lsn.fd = ctl.wake[0].fd = ctl.wake[1].fd = -1;
	ctl.path[0] = '\0';
	ctl.bound = 0;
	ctl.stop = 0;
	ctl.state = ST_IDLE;
}

/*
 * At exit: remove our socket (only ours: a forked child that never started
 * a server must not remove its parent's) and ask the thread to stop taking
 * requests. Never wait for it: this may run under the loader's lock (P6).
 */
__attribute__((destructor)) static void tf_control_fini(void)
{
	if (!__atomic_load_n(&ctl.bound, __ATOMIC_ACQUIRE) || ctl.pid != getpid())
		return;
	unlink(ctl.path);
	__atomic_store_n(&ctl.stop, 1, __ATOMIC_RELEASE);
	if (fdref_ours(&ctl.wake[1]))
		(void)!write(ctl.wake[1].fd, "x", 1);
}
