#include "peers.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlpath.h"

enum { P_CONNECTING, P_SENDING, P_READING, P_DONE, P_STALE };

static const char *env(const char *name)
{
	return getenv(name);
}

static int cmp_pid(const void *a, const void *b)
{
	const tf_peer *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

int tf_peers_find(tf_peers *ps, pid_t only, char *err, size_t errlen)
{
	char why[160];
	struct stat st;
	struct dirent *e;
	DIR *d;
	int r;

	memset(ps, 0, sizeof(*ps));
	r = tf_ctlpath_dir(env, geteuid(), ps->dir, sizeof(ps->dir), why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s", why);
		return r;
	}
	if (lstat(ps->dir, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		snprintf(err, errlen, "%s: %s", ps->dir, strerror(errno));
		return r;
	}
	r = tf_ctlpath_check_dir(&st, geteuid(), why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "not trusting socket directory %s: %s", ps->dir, why);
		return r;
	}
	d = opendir(ps->dir);
	if (!d) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", ps->dir, strerror(errno));
		return r;
	}
	while ((e = readdir(d)) != NULL) {
		pid_t pid = tf_ctlpath_pid(e->d_name);
		tf_peer *p;

		if (pid <= 0 || (only > 0 && pid != only))
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			continue;
		p = realloc(ps->v, (ps->n + 1) * sizeof(*p));
		if (!p) {
			closedir(d);
			tf_peers_free(ps);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		ps->v = p;
		p = &p[ps->n];
		memset(p, 0, sizeof(*p));
		p->pid = pid;
		p->fd = -1;
		if (tf_ctlpath_socket(ps->dir, pid, p->path, sizeof(p->path)) < 0)
			continue;
		tf_buf_init(&p->req, 1 << 20);
		tf_buf_init(&p->resp, TF_PEERS_ANSWER_MAX);
		ps->n++;
	}
	closedir(d);
	if (ps->n > 1)
		qsort(ps->v, ps->n, sizeof(*ps->v), cmp_pid);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static void fail(tf_peer *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->state = P_DONE;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static bool server_is_ours(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == geteuid();
}

static void start(tf_peer *p, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (tf_buf_append_str(&p->req, line) < 0 || tf_buf_append(&p->req, "\n", 1) < 0) {
		fail(p, "%s", "request too large");
		return;
	}
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		fail(p, "socket: %s", strerror(errno));
		return;
	}
	memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
	if (connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ECONNREFUSED || errno == ENOENT) {
			close(p->fd);
			p->fd = -1;
			p->state = P_STALE;
			return;
		}
		if (errno != EINPROGRESS && errno != EAGAIN) {
			fail(p, "cannot connect: %s", strerror(errno));
			return;
		}
		p->state = P_CONNECTING;
		return;
	}
	p->state = P_SENDING;
}

static void finish(tf_peer *p)
{
	const tf_json_value *ok, *e;
	tf_json_error jerr;
	size_t len = p->resp.len;

	close(p->fd);
	p->fd = -1;
	p->state = P_DONE;
	if (len && p->resp.data[len - 1] == '\n')
		len--;
	if (tf_json_parse(&p->doc, (const char *)p->resp.data, len, NULL, &jerr) < 0 ||
	    p->doc.root->type != TF_JSON_OBJECT) {
		if (p->doc.root)
			snprintf(p->error, sizeof(p->error), "unreadable answer: not a JSON object");
		else
			snprintf(p->error, sizeof(p->error), "unreadable answer: column %u: %s",
				 (unsigned)jerr.col, jerr.msg);
		return;
	}
	p->answer = p->doc.root;
	ok = tf_json_get(p->answer, "ok");
	p->ok = ok && ok->type == TF_JSON_TRUE;
	e = tf_json_get(p->answer, "error");
	if (!p->ok)
		snprintf(p->error, sizeof(p->error), "%s",
			 e && e->type == TF_JSON_STRING ? e->u.str.s : "failed");
}

static void step(tf_peer *p, short rev)
{
	if (p->state == P_CONNECTING) {
		int e = 0;
		socklen_t len = sizeof(e);
		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &len);
		if (e == ECONNREFUSED) {
			close(p->fd);
			p->fd = -1;
			p->state = P_STALE;
			return;
		}
		if (e) {
			fail(p, "cannot connect: %s", strerror(e));
			return;
		}
		p->state = P_SENDING;
	}
	if (p->state == P_SENDING) {
		if (!server_is_ours(p->fd)) {
			fail(p, "%s", "refused: the socket's server is not running as this user");
			return;
		}
		while (p->req_off < p->req.len) {
			ssize_t n = send(p->fd, p->req.data + p->req_off, p->req.len - p->req_off,
					 MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0) {
				fail(p, "cannot send: %s", strerror(errno));
				return;
			}
			p->req_off += (size_t)n;
		}
		p->state = P_READING;
		return;
	}
	if (p->state == P_READING && (rev & (POLLIN | POLLHUP | POLLERR))) {
		char chunk[65536];
		for (;;) {
			ssize_t n = recv(p->fd, chunk, sizeof(chunk), 0);
			if (n > 0) {
				if (tf_buf_append(&p->resp, chunk, (size_t)n) < 0) {
					fail(p, "%s", "answer too large");
					return;
				}
				if (memchr(chunk, '\n', (size_t)n)) {
					finish(p);
					return;
				}
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n == 0 && p->resp.len) {
				finish(p);
				return;
			}
			fail(p, "%s", "closed the connection without answering");
			return;
		}
	}
}

void tf_peers_ask(tf_peers *ps, const char *line, int timeout_ms)
{
	struct pollfd *pfd = calloc(ps->n ? ps->n : 1, sizeof(*pfd));
	int64_t deadline = now_ms() + timeout_ms;
	size_t w = 0;

	if (!pfd)
		return;
	for (size_t i = 0; i < ps->n; i++) {
		start(&ps->v[i], line);
		if (ps->v[i].state == P_SENDING)
			step(&ps->v[i], 0);
	}
	for (;;) {
		size_t n = 0;
		int64_t left = deadline - now_ms();

		for (size_t i = 0; i < ps->n; i++) {
			tf_peer *p = &ps->v[i];
			if (p->state == P_DONE || p->state == P_STALE)
				continue;
			pfd[n++] = (struct pollfd){
				.fd = p->fd,
				.events = p->state == P_READING ? POLLIN : POLLOUT,
			};
		}
		if (n == 0 || left <= 0)
			break;
		if (poll(pfd, n, (int)left) < 0 && errno != EINTR)
			break;
		n = 0;
		for (size_t i = 0; i < ps->n; i++) {
			tf_peer *p = &ps->v[i];
			if (p->state == P_DONE || p->state == P_STALE)
				continue;
			if (pfd[n].revents)
				step(p, pfd[n].revents);
			n++;
		}
	}
	free(pfd);
	for (size_t i = 0; i < ps->n; i++) {
		tf_peer *p = &ps->v[i];
		if (p->state == P_DONE || p->state == P_STALE)
			continue;
		if (timeout_ms % 1000 == 0)
			fail(p, "not answering (no reply within %d s)", timeout_ms / 1000);
		else
			fail(p, "not answering (no reply within %d ms)", timeout_ms);
	}
	/* Drop the stale ones. */
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].state == P_STALE) {
			tf_buf_free(&ps->v[i].req);
			tf_buf_free(&ps->v[i].resp);
			continue;
		}
		ps->v[w++] = ps->v[i];
	}
	ps->n = w;
}

void tf_peers_free(tf_peers *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		tf_peer *p = &ps->v[i];
		if (p->fd >= 0)
			close(p->fd);
		tf_buf_free(&p->req);
		tf_buf_free(&p->resp);
		tf_json_doc_free(&p->doc);
	}
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}
