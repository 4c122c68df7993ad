/*
 * The bench server: forked from the driver, so never preloaded. One thread
 * per connection (small stacks: the memory case keeps 1,000 open).
 *
 *  echo    echoes every byte back (the 1 KiB round trip)
 *  sink    reads an 8-byte batch size B, then answers one byte after each
 *          B bytes received (bulk upload: the ack makes the client's timing
 *          cover the server having received everything)
 *  source  for each 8-byte count N received, writes N bytes (bulk download)
 *  http    keep-alive HTTP/1.1: answers each request with a canned response
 *          captured from the emulator, chosen by the path (event stream,
 *          SSE stream, or an InvokeModel answer), written in 16 KiB records
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

enum mode { M_ECHO, M_SINK, M_SOURCE, M_HTTP };

static SSL_CTX *server_ctx;
static const tfb_server_cfg *conf;
static uint8_t pattern[TFB_IO_CHUNK];

struct job {
	int fd;
	enum mode mode;
};

static void echo(SSL *s)
{
	uint8_t buf[TFB_IO_CHUNK];
	int r;

	while ((r = SSL_read(s, buf, sizeof(buf))) > 0)
		if (tfb_ssl_write_all(s, buf, (size_t)r) < 0)
			return;
}

static void sink(SSL *s)
{
	uint8_t buf[TFB_IO_CHUNK];
	uint64_t batch, got = 0;
	int r;

	if (tfb_ssl_read_exact(s, &batch, sizeof(batch)) < 0 || batch == 0)
		return;
	while ((r = SSL_read(s, buf, sizeof(buf))) > 0) {
		got += (uint64_t)r;
		while (got >= batch) {
			got -= batch;
			if (tfb_ssl_write_all(s, "k", 1) < 0)
				return;
		}
	}
}

static void source(SSL *s)
{
	uint64_t n;

	while (tfb_ssl_read_exact(s, &n, sizeof(n)) == 0) {
		while (n) {
			int k = n > sizeof(pattern) ? (int)sizeof(pattern) : (int)n;
			if (SSL_write(s, pattern, k) != k)
				return;
			n -= (uint64_t)k;
		}
	}
}

static const tfb_bytes *canned_for(const char *head)
{
	const char *eol = strchr(head, '\n');
	size_t line = eol ? (size_t)(eol - head) : strlen(head);

	if (memmem(head, line, "invoke-with-response-stream", 27))
		return &conf->event_stream;
	if (memmem(head, line, "chat/completions", 16))
		return &conf->sse;
	return &conf->invoke;
}

/* Reads one request (head + Content-Length body) and answers it. */
static int http_one(SSL *s, char *head, size_t cap)
{
	size_t n = 0;
	long long clen = 0;
	const char *cl;
	const tfb_bytes *resp;
	uint8_t skip[TFB_IO_CHUNK];

	for (;;) {
		int r;

		if (n + 1 >= cap)
			return -1;
		r = SSL_read(s, head + n, 1);
		if (r <= 0)
			return -1;
		n++;
		if (n >= 4 && !memcmp(head + n - 4, "\r\n\r\n", 4))
			break;
	}
	head[n] = 0;
	cl = strcasestr(head, "\ncontent-length:");
	if (cl)
		clen = atoll(cl + 16);
	while (clen > 0) {
		int want = clen > (long long)sizeof(skip) ? (int)sizeof(skip) : (int)clen;
		int r = SSL_read(s, skip, want);
		if (r <= 0)
			return -1;
		clen -= r;
	}
	resp = canned_for(head);
	return tfb_ssl_write_all(s, resp->data, resp->len);
}

static void http(SSL *s)
{
	char head[8192];

	while (http_one(s, head, sizeof(head)) == 0)
		;
}

static void *serve(void *p)
{
	struct job j = *(struct job *)p;
	SSL *s = SSL_new(server_ctx);
	int one = 1;

	free(p);
	setsockopt(j.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s && SSL_set_fd(s, j.fd) && SSL_accept(s) == 1) {
		switch (j.mode) {
		case M_ECHO:
			echo(s);
			break;
		case M_SINK:
			sink(s);
			break;
		case M_SOURCE:
			source(s);
			break;
		case M_HTTP:
			http(s);
			break;
		}
	}
	SSL_free(s);
	close(j.fd);
	return NULL;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

void tfb_server_run(const tfb_server_cfg *cfg)
{
	struct pollfd pf[4] = {
		{ .fd = cfg->echo_fd, .events = POLLIN },
		{ .fd = cfg->sink_fd, .events = POLLIN },
		{ .fd = cfg->source_fd, .events = POLLIN },
		{ .fd = cfg->http_fd, .events = POLLIN },
	};
	pthread_attr_t attr;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	conf = cfg;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)('a' + i % 26);
	server_ctx = tfb_server_ctx();
	if (!server_ctx)
		_exit(1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if (poll(pf, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = 0; i < 4; i++) {
			struct job *j;
			pthread_t t;
			int fd;

			if (!(pf[i].revents & POLLIN))
				continue;
			fd = accept4(pf[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			j = malloc(sizeof(*j));
			if (!j) {
				close(fd);
				continue;
			}
			j->fd = fd;
			j->mode = (enum mode)i;
			if (pthread_create(&t, &attr, serve, j) != 0) {
				close(fd);
				free(j);
			}
		}
	}
}
