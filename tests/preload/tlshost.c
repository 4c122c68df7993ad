/*
 * A host program for the interposition tests (STYLE.md §4, P1–P15). It uses
 * libssl directly, with both TLS ends in this process over socketpairs or
 * memory BIOs, so every scenario is deterministic and needs no network.
 * Run it under LD_PRELOAD=libtokenfence.so; tests/preload/check.py compares
 * the shim's counters with what this program really moved.
 *
 * Client connections whose SNI is bedrock-runtime.us-east-1.amazonaws.com
 * are guarded by the shim's default host patterns; example.com is not.
 * The server answers each HTTP request with "<fnv64 of body> <body length>".
 *
 * Exit status 0 = the scenario worked; it prints "moved W R" (bytes the
 * application wrote and read through SSL_write and SSL_read, both ends).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tlshost.h"

#define GUARDED_SNI "bedrock-runtime.us-east-1.amazonaws.com"
#define PLAIN_SNI "example.com"

static SSL_CTX *server_ctx, *client_ctx;
static atomic_ullong moved_w, moved_r;

#define DIE(...) do { fprintf(stderr, "tlshost: " __VA_ARGS__); fputc('\n', stderr); \
		      ERR_print_errors_fp(stderr); exit(1); } while (0)

uint64_t th_fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = UINT64_C(1469598103934665603);

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * UINT64_C(1099511628211);
	return h;
}

static void make_server_ctx(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = X509_new();
	X509_NAME *name;

	if (!key || !crt)
		DIE("keygen");
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_set_pubkey(crt, key);
	name = X509_get_subject_name(crt);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tlshost", -1, -1, 0);
	X509_set_issuer_name(crt, name);
	if (!X509_sign(crt, key, EVP_sha256()))
		DIE("sign");
	server_ctx = SSL_CTX_new(TLS_server_method());
	if (!SSL_CTX_use_certificate(server_ctx, crt) || !SSL_CTX_use_PrivateKey(server_ctx, key))
		DIE("server ctx");
	X509_free(crt);
	EVP_PKEY_free(key);
	client_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
}

void th_init(void)
{
	if (!server_ctx)
		make_server_ctx();
}

/* ---- the server end: a thread per connection ---- */

struct server {
	pthread_t tid;
	int fd;
	size_t slow_read; /* >0: read this many bytes at a time, pausing */
	int requests;     /* answered */
};

static int server_read_full(SSL *s, char *buf, size_t n, size_t chunk)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got, r = 0;
		if (chunk && want > chunk)
			want = chunk;
		if (!SSL_read_ex(s, buf + got, want, &r))
			return -1;
		got += r;
		moved_r += r;
		if (chunk)
			usleep(200);
	}
	return 0;
}

static void *server_main(void *arg)
{
	struct server *sv = arg;
	SSL *s = SSL_new(server_ctx);
	char head[8192];

	SSL_set_fd(s, sv->fd);
	if (SSL_accept(s) != 1)
		goto out;
	for (;;) {
		size_t hl = 0, r, clen = 0;
		char *body, resp[128];
		const char *cl;
		int n;

		/* Read the head a byte at a time so no body byte is read early. */
		while (hl < sizeof(head) - 1 && !(hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)) {
			if (!SSL_read_ex(s, head + hl, 1, &r))
				goto out;
			hl += r;
			moved_r += r;
		}
		head[hl] = 0;
		cl = strcasestr(head, "\r\ncontent-length:");
		if (cl)
			clen = strtoul(cl + 17, NULL, 10);
		body = malloc(clen + 1);
		if (server_read_full(s, body, clen, sv->slow_read) < 0) {
			free(body);
			goto out;
		}
		n = snprintf(resp + 64, 64, "%016" PRIx64 " %zu", th_fnv(body, clen), clen);
		free(body);
		{
			char out[256];
			int m = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s",
					 n, resp + 64);
			size_t w;
			if (!SSL_write_ex(s, out, (size_t)m, &w))
				goto out;
			moved_w += w;
		}
		sv->requests++;
	}
out:
	SSL_free(s);
	close(sv->fd);
	return NULL;
}

struct server *th_server_start(int fd, size_t slow_read)
{
	struct server *sv = calloc(1, sizeof(*sv));

	sv->fd = fd;
	sv->slow_read = slow_read;
	if (pthread_create(&sv->tid, NULL, server_main, sv))
		DIE("pthread_create");
	return sv;
}

int th_server_join(struct server *sv)
{
	int n;

	pthread_join(sv->tid, NULL);
	n = sv->requests;
	free(sv);
	return n;
}

/* ---- the client end ---- */

SSL *th_client(int fd, bool guarded)
{
	return th_client_connect(SSL_new(client_ctx), fd, guarded);
}

SSL *th_client_connect(SSL *c, int fd, bool guarded)
{
	SSL_set_fd(c, fd);
	SSL_set_tlsext_host_name(c, guarded ? GUARDED_SNI : PLAIN_SNI);
	if (SSL_connect(c) != 1)
		DIE("connect");
	return c;
}

void th_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		DIE("socketpair");
}

/* Writes all of p, retrying WANT_* with the same arguments as OpenSSL requires. */
void th_write_all(SSL *c, const void *p, size_t n, bool use_ex)
{
	size_t off = 0;

	while (off < n) {
		size_t w = 0;
		int ok, err;

		if (use_ex) {
			ok = SSL_write_ex(c, (const char *)p + off, n - off, &w);
		} else {
			int r = SSL_write(c, (const char *)p + off, (int)(n - off));
			ok = r > 0;
			w = ok ? (size_t)r : 0;
		}
		if (ok) {
			off += w;
			moved_w += w;
			continue;
		}
		err = SSL_get_error(c, ok);
		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
			struct pollfd pfd = { SSL_get_fd(c), err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0 };
			poll(&pfd, 1, 1000);
			continue;
		}
		DIE("write failed: %d", err);
	}
}

/* Reads one response and checks it against the body we sent. */
void th_expect_answer(SSL *c, const void *body, size_t n, bool use_ex)
{
	char buf[512], want[64];
	size_t got = 0;
	char *sep;

	buf[0] = 0;
	snprintf(want, sizeof(want), "%016" PRIx64 " %zu", th_fnv(body, n), n);
	while (!(sep = strstr(buf, "\r\n\r\n")) || strlen(sep + 4) < strlen(want)) {
		size_t r = 0;
		int ok;

		if (got >= sizeof(buf) - 1)
			DIE("response too long");
		if (use_ex) {
			ok = SSL_read_ex(c, buf + got, sizeof(buf) - 1 - got, &r);
		} else {
			int k = SSL_read(c, buf + got, (int)(sizeof(buf) - 1 - got));
			ok = k > 0;
			r = ok ? (size_t)k : 0;
		}
		if (!ok) {
			int err = SSL_get_error(c, ok);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				struct pollfd pfd = { SSL_get_fd(c), POLLIN, 0 };
				poll(&pfd, 1, 1000);
				buf[got] = 0;
				continue;
			}
			DIE("read failed: %d", err);
		}
		got += r;
		moved_r += r;
		buf[got] = 0;
	}
	if (strcmp(sep + 4, want) != 0)
		DIE("server saw '%s', expected '%s'", sep + 4, want);
}

/* One request: head, then the body in `parts` writes. */
void th_request(SSL *c, const void *body, size_t n, int parts, bool use_ex)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "POST /model/anthropic.claude-3-haiku-20240307-v1%%3A0/invoke HTTP/1.1\r\n"
			  "Host: " GUARDED_SNI "\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\n\r\n", n);
	size_t step = parts > 0 ? (n + (size_t)parts - 1) / (size_t)parts : n;

	th_write_all(c, head, (size_t)hl, use_ex);
	for (size_t off = 0; off < n; off += step)
		th_write_all(c, (const char *)body + off, off + step > n ? n - off : step, use_ex);
}

/* A whole exchange on a fresh connection. */
void th_roundtrip(bool guarded, size_t body_len, int parts, bool use_ex)
{
	int sv[2];
	struct server *srv;
	SSL *c;
	char *body = malloc(body_len + 1);

	for (size_t i = 0; i < body_len; i++)
		body[i] = (char)('a' + (i * 7) % 26);
	th_pair(sv);
	srv = th_server_start(sv[1], 0);
	c = th_client(sv[0], guarded);
	th_request(c, body, body_len, parts, use_ex);
	th_expect_answer(c, body, body_len, use_ex);
	SSL_shutdown(c);
	SSL_free(c);
	close(sv[0]);
	th_server_join(srv);
	free(body);
}

SSL_CTX *th_client_ctx(void)
{
	return client_ctx;
}

void th_note_moved(size_t w, size_t r)
{
	moved_w += w;
	moved_r += r;
}

void th_reset_moved(void)
{
	moved_w = 0;
	moved_r = 0;
}

void th_report(void)
{
	printf("moved %llu %llu\n", (unsigned long long)moved_w, (unsigned long long)moved_r);
	fflush(stdout);
}
