#include "server.h"

#include "h2serve.h"
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Socket timeouts are this short so a blocked read or write wakes up often
 * enough to check deadlines and the stop flag. */
#define TICK_MS 100

static int stopping; /* atomic: set once when the server stops */
static int active_conns;
static struct conn *all_conns; /* every thread not joined yet */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_gone = PTHREAD_COND_INITIALIZER;
static uint64_t next_request; /* atomic */
static uint64_t next_conn;    /* atomic */

typedef struct conn {
	int fd;
	SSL *ssl;
	uint64_t id;
	const emu_config *cfg;
	tf_h1_framer fr;
	/* the request being read */
	const tf_h1_head *head;
	tf_buf body;
	bool head_seen, done, rejected;
	uint64_t n;
	int64_t t_start, t_head; /* ms: first byte of the message, head complete */
	bool broken;             /* a write failed or the peer must see a drop: no close_notify */
	bool closing;            /* Connection: close was answered: stop after a clean shutdown */
	/* owned by the accept loop */
	pthread_t thread;
	bool finished; /* under conns_lock */
	struct conn *next;
} conn;

static void logf_(const emu_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const emu_config *cfg, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (cfg->quiet)
		return;
	n = snprintf(line, sizeof(line), "tokenfence-emulator: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	if (n < (int)sizeof(line) - 1)
		line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0) {
		/* stderr gone: nothing useful to do */
	}
}

uint64_t emu_next_request(void)
{
	return __atomic_add_fetch(&next_request, 1, __ATOMIC_RELAXED);
}

bool emu_stopping(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_RELAXED) != 0;
}

/* ---- I/O with deadlines ---- */

enum { RD_EOF = 0, RD_TIMEOUT = -1, RD_STOP = -2 };

/* Reads up to len bytes before deadline. stop_ok: give up when stopping. */
static int conn_read(conn *c, void *buf, int len, int64_t deadline, bool stop_ok)
{
	for (;;) {
		int n = SSL_read(c->ssl, buf, len), e;

		if (n > 0)
			return n;
		e = SSL_get_error(c->ssl, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return RD_EOF;
		ERR_clear_error();
		if (stop_ok && __atomic_load_n(&stopping, __ATOMIC_RELAXED))
			return RD_STOP;
		if (emu_now_ms() >= deadline)
			return RD_TIMEOUT;
	}
}

static int conn_write(conn *c, const void *p, size_t n)
{
	if (c->broken)
		return -1;
	if (emu_ssl_write_all(c->ssl, p, n) < 0) {
		c->broken = true;
		return -1;
	}
	return 0;
}

/* ---- responses ---- */

static const char *reason_of(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 424: return "Failed Dependency";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

int emu_gzip_body(tf_buf *b)
{
	z_stream z;
	tf_buf out;
	int r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	tf_buf_init(&out, b->cap);
	if (tf_buf_reserve(&out, deflateBound(&z, b->len)) != 0) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = b->data;
	z.avail_in = (uInt)b->len;
	z.next_out = out.data;
	z.avail_out = (uInt)out.alloc;
	r = deflate(&z, Z_FINISH);
	out.len = z.total_out;
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		tf_buf_free(&out);
		return -1;
	}
	tf_buf_free(b);
	*b = out;
	return 0;
}

/* Piece sizes for streamed bodies: irregular, often tiny (so a 12-byte
 * event-stream prelude or an SSE line is split), scaled for big bodies. */
size_t emu_piece_size(uint64_t *x, size_t total)
{
	static const size_t pattern[] = {1, 3, 7, 13, 29, 61, 127, 251, 2, 5};
	size_t scale = total / 8000 + 1;

	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (pattern[(*x >> 33) % 10] + (size_t)((*x >> 45) % 5)) * scale;
}

static int send_chunk(conn *c, const uint8_t *p, size_t n, bool split_header)
{
	char hdr[24];
	int hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);

	if (split_header) {
		/* Chunk header and data in separate TLS records. */
		if (conn_write(c, hdr, (size_t)hl) || conn_write(c, p, n) || conn_write(c, "\r\n", 2))
			return -1;
		return 0;
	}
	{
		tf_buf b;
		int r;

		tf_buf_init(&b, 0);
		r = tf_buf_append(&b, hdr, (size_t)hl) || tf_buf_append(&b, p, n) ||
		    tf_buf_append(&b, "\r\n", 2);
		r = r ? -1 : conn_write(c, b.data, b.len);
		tf_buf_free(&b);
		return r;
	}
}

static void hard_close(conn *c)
{
	/* No close_notify: the peer sees the connection drop mid-message. */
	c->broken = true;
	shutdown(c->fd, SHUT_RDWR);
}

static int send_response(conn *c, const emu_req *q, emu_resp *r)
{
	char date[64];
	struct tm tm;
	time_t t = time(NULL);
	tf_buf h;
	int rc;

	if (r->gzip && !r->stream && r->body.len && emu_gzip_body(&r->body) == 0)
		emu_resp_header(r, "Content-Encoding", "gzip");
	else
		r->gzip = false;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	tf_buf_init(&h, 128 * 1024);
	tf_buf_printf(&h, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n", r->status,
		      reason_of(r->status), date, r->content_type);
	if (r->stream)
		tf_buf_append_str(&h, "Transfer-Encoding: chunked\r\n");
	else
		tf_buf_printf(&h, "Content-Length: %zu\r\n", r->body.len);
	tf_buf_append_str(&h, r->close ? "Connection: close\r\n" : "Connection: keep-alive\r\n");
	tf_buf_append(&h, r->headers.data, r->headers.len);
	tf_buf_append_str(&h, "\r\n");

	if (!r->stream) {
		size_t n = r->truncate ? r->body.len / 2 : r->body.len;

		rc = tf_buf_append(&h, r->body.data, n) ? -1 : conn_write(c, h.data, h.len);
		tf_buf_free(&h);
		if (r->truncate)
			hard_close(c);
		return rc;
	}
	rc = conn_write(c, h.data, h.len);
	tf_buf_free(&h);
	{
		uint64_t x = q->n * 0x9E3779B97F4A7C15ULL + 1;
		size_t off = 0, stop_at = r->truncate ? r->body.len / 2 : r->body.len, k = 0;

		while (rc == 0 && off < stop_at) {
			size_t n = emu_piece_size(&x, r->body.len);

			if (n > stop_at - off)
				n = stop_at - off;
			rc = send_chunk(c, r->body.data + off, n, (k++ % 3) == 1);
			if (rc == 0)
				r->delivered = off + n;
			off += n;
			if (c->cfg->pace_ms && off < stop_at)
				emu_sleep_ms(c->cfg->pace_ms);
		}
		if (r->truncate) {
			hard_close(c);
			return rc;
		}
		/* The last chunk ("0") is the caller's to send, after billing: a
		 * client that has read the whole stream finds its bill line. */
	}
	return rc;
}

/* A response to a request that could not be read as one (no route yet). */
static void reject(conn *c, int status, const char *message, const char *note)
{
	emu_req q;
	emu_resp r;
	emu_result res;

	memset(&q, 0, sizeof(q));
	memset(&res, 0, sizeof(res));
	q.n = c->n ? c->n : __atomic_add_fetch(&next_request, 1, __ATOMIC_RELAXED);
	q.conn = c->id;
	q.cfg = c->cfg;
	q.head = c->head;
	if (c->head) {
		size_t pl = 0;

		while (pl < c->head->target_len && c->head->target[pl] != '?')
			pl++;
		q.path = c->head->target;
		q.path_len = pl;
		emu_route_request(c->head->method, c->head->method_len, c->head->target,
				  c->head->target_len, NULL, 0, &q.route);
	} else {
		q.route.operation = "Unknown";
		q.route.service = "unknown";
	}
	emu_resp_init(&r);
	if (c->head && q.route.provider == EMU_PROV_AZURE) {
		emu_azure_error(&r, status, status == 413 ? "RequestEntityTooLarge" : "BadRequest",
				message, NULL, NULL);
	} else {
		emu_aws_error(&r, status, NULL, message);
		tf_buf_reset(&r.headers);
	}
	r.close = true;
	emu_bill_write(&q, c->head ? c->head->method : NULL, c->head ? c->head->method_len : 0,
		       status, &res, note);
	logf_(c->cfg, "#%llu conn %llu: %d (%s)", (unsigned long long)q.n,
	      (unsigned long long)c->id, status, note);
	send_response(c, &q, &r);
	emu_resp_free(&r);
}

/* ---- one request ---- */

static bool accepts_gzip(const tf_h1_head *h)
{
	const tf_h1_header *ae = tf_h1_find(h, "accept-encoding");
	size_t i = 0;

	if (!ae)
		return false;
	while (i < ae->value_len) {
		size_t j = i, k;
		const char *t;
		size_t tl;

		while (j < ae->value_len && ae->value[j] != ',')
			j++;
		t = ae->value + i;
		tl = j - i;
		while (tl && (*t == ' ' || *t == '\t'))
			t++, tl--;
		for (k = 0; k < tl && t[k] != ';' && t[k] != ' '; k++)
			;
		if ((k == 4 && strncasecmp(t, "gzip", 4) == 0) || (k == 1 && t[0] == '*')) {
			const char *qv = memchr(t, ';', tl);

			if (!qv)
				return true;
			/* q=0 (or 0.0…) refuses it. */
			qv = strchr(qv, '=');
			if (!qv || !(qv[1] == '0' && (qv + 2 >= t + tl || qv[2] != '.' ||
						      strspn(qv + 3, "0") >= (size_t)(t + tl - qv - 3))))
				return true;
		}
		i = j + 1;
	}
	return false;
}

static void parse_json(emu_req *q)
{
	const char *end = NULL;
	cJSON *j;

	q->json = NULL;
	q->json_ok = q->body_len == 0;
	if (q->body_len == 0)
		return;
	j = cJSON_ParseWithLengthOpts((const char *)q->body, q->body_len, &end, false);
	if (!j)
		return;
	while (end && end < (const char *)q->body + q->body_len &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != (const char *)q->body + q->body_len) {
		cJSON_Delete(j);
		return;
	}
	q->json = j;
	q->json_ok = true;
}

static void bill_stream(const emu_req *q, const tf_h1_head *h, const emu_resp *r,
			emu_result *res)
{
	const char *note = NULL;

	if (res->billed && r->marks.len && r->delivered < r->body.len) {
		uint64_t sent = emu_resp_tokens_at(r, r->delivered);
		if (sent < res->usage.output) {
			char key[EMU_MODEL_MAX];

			if (res->usage.reasoning > sent)
				res->usage.reasoning = sent;
			res->usage.output = sent;
			snprintf(key, sizeof(key), "%s", res->priced);
			emu_price(q->route.provider, key, &res->usage, &res->cost, res->priced,
				  sizeof(res->priced));
			note = "client left mid-stream";
		}
	}
	emu_bill_write(q, h->method, h->method_len, r->status, res, note);
}

void emu_handle(const emu_config *cfg, uint64_t conn_id, uint64_t n, const tf_h1_head *h,
		const uint8_t *body, size_t body_len, emu_resp *r, emu_call *call)
{
	const tf_h1_header *host = tf_h1_find(h, "host");
	emu_req *q = &call->q;
	emu_result *res = &call->res;
	char rid[37];
	int auth;

	memset(q, 0, sizeof(*q));
	memset(res, 0, sizeof(*res));
	q->n = n;
	q->conn = conn_id;
	q->head = h;
	q->cfg = cfg;
	q->body = body;
	q->body_len = body_len;
	q->path = h->target;
	while (q->path_len < h->target_len && h->target[q->path_len] != '?')
		q->path_len++;
	emu_route_request(h->method, h->method_len, h->target, h->target_len,
			  host ? host->value : NULL, host ? host->value_len : 0, &q->route);
	q->gzip_ok = accepts_gzip(h);
	parse_json(q);

	if (q->route.provider == EMU_PROV_AZURE)
		emu_azure_model_asked(q, res->model, sizeof(res->model));
	else
		emu_bedrock_model_asked(q, res->model, sizeof(res->model));
	emu_uuid(rid);
	if (q->route.provider == EMU_PROV_AZURE) {
		emu_resp_header(r, "apim-request-id", "%s", rid);
		emu_resp_header(r, "x-request-id", "%s", rid);
	} else {
		emu_resp_header(r, "x-amzn-RequestId", "%s", rid);
	}
	auth = q->route.provider == EMU_PROV_AZURE ? emu_azure_auth(q, r) : emu_bedrock_auth(q, r);
	if (auth == 0) {
		bool az = q->route.provider == EMU_PROV_AZURE;

		q->fault = emu_fault_pick(cfg->faults, cfg->nfaults, q->n, q->route.operation,
					 res->model);
		res->stream = q->route.stream;
		if (q->fault == EMU_FAULT_429 || q->fault == EMU_FAULT_500 || q->fault == EMU_FAULT_503) {
			emu_fault_error(q, r, q->fault);
		} else if (az) {
			emu_azure_handle(q, r, res);
		} else {
			emu_bedrock_handle(q, r, res);
		}
	}
	if (!res->billed)
		memset(&res->usage, 0, sizeof(res->usage));
	if (auth == 0 && res->billed) {
		char key[EMU_MODEL_MAX];

		snprintf(key, sizeof(key), "%s", res->priced[0] ? res->priced : res->model);
		res->match = emu_price(q->route.provider, key, &res->usage, &res->cost, res->priced,
				      sizeof(res->priced));
		/* An alias or application profile: the id is not in the table, its
		 * base model is. */
		if (res->match == EMU_PRICE_UNKNOWN && res->base[0] &&
		    emu_price(q->route.provider, res->base, &res->usage, &res->cost, res->priced,
			      sizeof(res->priced)) != EMU_PRICE_UNKNOWN)
			res->match = EMU_PRICE_BASE;
		else if (res->match == EMU_PRICE_UNKNOWN)
			emu_price(q->route.provider, key, &res->usage, &res->cost, res->priced,
				  sizeof(res->priced));
	} else if (auth != 0 || r->status >= 400) {
		memset(&res->usage, 0, sizeof(res->usage));
		res->cost = 0;
		res->priced[0] = '\0';
	}
	/* A stream is billed once sent: a client that leaves mid-stream pays
	 * for what it was sent, as a cloud that stops generating would charge. */
	if (!r->stream)
		emu_bill_write(q, h->method, h->method_len, r->status, res, NULL);
	logf_(cfg, "#%llu conn %llu: %.*s %s %s -> %d in=%llu out=%llu%s%s",
	      (unsigned long long)q->n, (unsigned long long)conn_id, (int)h->method_len, h->method,
	      q->route.operation, res->model[0] ? res->model : "-", r->status,
	      (unsigned long long)res->usage.input, (unsigned long long)res->usage.output,
	      q->fault ? " fault=" : "", q->fault ? emu_fault_name(q->fault) : "");
}

void emu_call_done(emu_call *call, const emu_resp *r)
{
	if (r->stream)
		bill_stream(&call->q, call->q.head, r, &call->res);
	cJSON_Delete((cJSON *)call->q.json);
	call->q.json = NULL;
}

static void handle_request(conn *c)
{
	emu_resp r;
	emu_call call;

	emu_resp_init(&r);
	r.close = c->head->conn_close || __atomic_load_n(&stopping, __ATOMIC_RELAXED);
	emu_handle(c->cfg, c->id, c->n, c->head, c->body.data, c->body.len, &r, &call);
	if (send_response(c, &call.q, &r) != 0)
		c->broken = true;
	else if (r.close)
		c->closing = true;
	emu_call_done(&call, &r);
	if (r.stream && !c->broken && !r.truncate && conn_write(c, "0\r\n\r\n", 5) != 0)
		c->broken = true;
	emu_resp_free(&r);
}

/* ---- framer sink ---- */

static int on_head(void *ctx, const tf_h1_head *head, const uint8_t *raw, size_t raw_len)
{
	conn *c = ctx;

	(void)raw;
	(void)raw_len;
	c->head = head;
	c->head_seen = true;
	c->t_head = emu_now_ms();
	c->n = __atomic_add_fetch(&next_request, 1, __ATOMIC_RELAXED);
	if (head->content_length > 0 && (uint64_t)head->content_length > c->cfg->max_body) {
		reject(c, 413, "Request Entity Too Large", "body over --max-body");
		c->rejected = true;
		return -1;
	}
	if (head->expect_continue && head->minor_version == 1 &&
	    conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0)
		return -1;
	return 0;
}

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	conn *c = ctx;

	if (tf_buf_append(&c->body, p, n) != 0) {
		reject(c, 413, "Request Entity Too Large", "body over --max-body");
		c->rejected = true;
		return -1;
	}
	return 0;
}

static int on_end(void *ctx)
{
	((conn *)ctx)->done = true;
	return 0;
}

static void reset_request(conn *c)
{
	c->head = NULL;
	c->head_seen = c->done = c->rejected = false;
	c->n = 0;
	c->t_start = 0;
	tf_buf_reset(&c->body);
}

/* ---- the connection thread ---- */

static int handshake(conn *c)
{
	int64_t deadline = emu_now_ms() + c->cfg->header_timeout_ms;

	for (;;) {
		int r = SSL_accept(c->ssl), e;

		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		ERR_clear_error();
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || emu_now_ms() >= deadline ||
		    __atomic_load_n(&stopping, __ATOMIC_RELAXED))
			return -1;
	}
}

static void serve_conn(conn *c)
{
	static const tf_h1_sink sink_proto = {NULL, on_head, on_body, on_end};
	tf_h1_sink sink = sink_proto;
	uint8_t in[16384];
	size_t in_off = 0, in_len = 0;
	int64_t idle_since = emu_now_ms();

	sink.ctx = c;
	if (handshake(c) != 0)
		return;
	{
		const unsigned char *alpn = NULL;
		unsigned int alen = 0;

		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
			c->broken = emu_serve_h2(c->ssl, c->fd, c->id, c->cfg);
			return;
		}
	}
	tf_h1_framer_init(&c->fr, TF_H1_REQUEST);
	tf_buf_init(&c->body, c->cfg->max_body);
	while (!c->broken && !c->closing) {
		ssize_t used;

		if (in_off == in_len) {
			bool idle = tf_h1_framer_idle(&c->fr) && c->t_start == 0;
			int64_t deadline = idle ? idle_since + c->cfg->idle_timeout_ms
				       : !c->head_seen ? c->t_start + c->cfg->header_timeout_ms
						       : c->t_head + c->cfg->body_timeout_ms;
			int n = conn_read(c, in, sizeof(in), deadline, idle);

			if (n == RD_STOP || (n == RD_TIMEOUT && idle))
				break;
			if (n == RD_TIMEOUT) {
				if (c->head_seen)
					reject(c, 408, "Request Timeout", "body read timeout");
				else
					reject(c, 408, "Request Timeout", "header read timeout");
				break;
			}
			if (n == RD_EOF) {
				if (!idle) {
					emu_req q;
					emu_result res;

					memset(&q, 0, sizeof(q));
					memset(&res, 0, sizeof(res));
					q.n = c->n ? c->n
						   : __atomic_add_fetch(&next_request, 1, __ATOMIC_RELAXED);
					q.conn = c->id;
					q.route.operation = "Unknown";
					q.route.service = "unknown";
					if (c->head) {
						q.path = c->head->target;
						while (q.path_len < c->head->target_len &&
						       c->head->target[q.path_len] != '?')
							q.path_len++;
						emu_route_request(c->head->method, c->head->method_len,
								  c->head->target, c->head->target_len,
								  NULL, 0, &q.route);
					}
					emu_bill_write(&q, c->head ? c->head->method : NULL,
						       c->head ? c->head->method_len : 0, 0, &res,
						       "client closed mid-request");
				}
				break;
			}
			in_off = 0;
			in_len = (size_t)n;
			if (c->t_start == 0)
				c->t_start = emu_now_ms();
		}
		used = tf_h1_feed(&c->fr, in + in_off, in_len - in_off, &sink);
		if (used < 0) {
			if (used == TF_H1_EABORT || c->rejected)
				break;
			if (used == TF_H1_ETOOBIG && !c->head_seen)
				reject(c, 431, "Request Header Fields Too Large", "header too large");
			else
				reject(c, 400, "Bad Request", "malformed request");
			break;
		}
		in_off += (size_t)used;
		if (c->done) {
			handle_request(c);
			reset_request(c);
			idle_since = emu_now_ms();
			if (in_off < in_len)
				c->t_start = emu_now_ms();
		} else if (tf_h1_framer_idle(&c->fr) && !c->head_seen) {
			/* Only blank lines so far: still idle. */
			c->t_start = 0;
		}
	}
	tf_h1_framer_free(&c->fr);
	tf_buf_free(&c->body);
}

static void *conn_thread(void *arg)
{
	conn *c = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	serve_conn(c);
	if (!c->broken)
		SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	close(c->fd);
	pthread_mutex_lock(&conns_lock);
	c->finished = true;
	active_conns--;
	pthread_cond_broadcast(&conns_gone);
	pthread_mutex_unlock(&conns_lock);
	return NULL;
}

/* Joins finished connection threads (so their thread-local state is gone
 * too) and frees them. Returns how many are still running. */
static int reap(void)
{
	int running = 0;

	for (;;) {
		conn **pp, *done = NULL;

		pthread_mutex_lock(&conns_lock);
		running = 0;
		for (pp = &all_conns; *pp; pp = &(*pp)->next) {
			if ((*pp)->finished) {
				done = *pp;
				*pp = done->next;
				break;
			}
		}
		for (conn *c = all_conns; c; c = c->next)
			running++;
		pthread_mutex_unlock(&conns_lock);
		if (!done)
			return running;
		pthread_join(done->thread, NULL);
		free(done);
	}
}

static void set_timeouts(int fd)
{
	struct timeval tv = {0, TICK_MS * 1000};
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int emu_serve(const emu_config *cfg, SSL_CTX *ctx, int listen_fd, int stop_fd, int grace_ms)
{
	pthread_attr_t attr;
	struct timespec until;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (;;) {
		struct pollfd p[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
		conn *c;
		int fd, n;

		n = poll(p, 2, 1000);
		reap();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&conns_lock);
		if (active_conns >= cfg->max_conns) {
			pthread_mutex_unlock(&conns_lock);
			close(fd);
			continue;
		}
		pthread_mutex_unlock(&conns_lock);
		set_timeouts(fd);
		c = calloc(1, sizeof(*c));
		if (c)
			c->ssl = SSL_new(ctx);
		if (!c || !c->ssl) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->cfg = cfg;
		c->id = __atomic_add_fetch(&next_conn, 1, __ATOMIC_RELAXED);
		SSL_set_fd(c->ssl, fd);
		pthread_mutex_lock(&conns_lock);
		if (pthread_create(&c->thread, &attr, conn_thread, c) != 0) {
			pthread_mutex_unlock(&conns_lock);
			SSL_free(c->ssl);
			close(fd);
			free(c);
			continue;
		}
		active_conns++;
		c->next = all_conns;
		all_conns = c;
		pthread_mutex_unlock(&conns_lock);
	}
	pthread_attr_destroy(&attr);
	__atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += grace_ms / 1000;
	until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&conns_lock);
	while (active_conns > 0)
		if (pthread_cond_timedwait(&conns_gone, &conns_lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&conns_lock);
	return reap();
}
