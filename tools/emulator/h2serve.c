#include "h2serve.h"

#include <ctype.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "h2msg.h"
#include "hpack.h"
#include "tls.h"


typedef struct stream {
	struct stream *next;
	int32_t sid;
	tf_hlist fields;
	tf_buf body;
	bool too_big;
	/* the request's view and call, alive until the answer is done */
	tf_buf text;
	tf_h1_head *head;
	emu_resp r;
	emu_call call;
	bool have_call, have_resp;
	/* the response body being sent (r.body) */
	size_t off, stop_at;
	bool paced, truncate, started;
	uint64_t x;
} stream;

typedef struct h2conn {
	SSL *ssl;
	int fd;
	uint64_t id;
	const emu_config *cfg;
	nghttp2_session *s;
	stream *streams;
	bool broken; /* drop without close_notify */
} h2conn;

static stream *find(h2conn *c, int32_t sid)
{
	for (stream *st = c->streams; st; st = st->next)
		if (st->sid == sid)
			return st;
	return NULL;
}

static void stream_free(stream *st)
{
	if (st->have_call)
		emu_call_done(&st->call, &st->r);
	if (st->have_resp)
		emu_resp_free(&st->r);
	tf_buf_free(&st->text);
	free(st->head);
	tf_hlist_free(&st->fields);
	tf_buf_free(&st->body);
	free(st);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	h2conn *c = ud;

	(void)s;
	(void)flags;
	if (emu_ssl_write_all(c->ssl, data, len) < 0) {
		c->broken = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)len;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	h2conn *c = ud;
	stream *st;

	(void)s;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->sid = f->hd.stream_id;
	tf_hlist_init(&st->fields, TF_H1_HEAD_CAP, TF_H1_MAX_HEADERS);
	tf_buf_init(&st->body, c->cfg->max_body);
	st->next = c->streams;
	c->streams = st;
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
		     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	stream *st = find(ud, f->hd.stream_id);

	(void)s;
	(void)flags;
	if (st && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
		tf_hlist_add(&st->fields, (const char *)name, nl, (const char *)value, vl, 0);
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
		   void *ud)
{
	stream *st = find(ud, sid);

	(void)s;
	(void)flags;
	if (st && !st->too_big && tf_buf_append(&st->body, data, len) != 0)
		st->too_big = true;
	return 0;
}

/* The response body, in pieces: whole for plain answers, the HTTP/1.1
 * server's irregular paced pieces for streams; half and then a dropped
 * connection for `truncate`. */
static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	h2conn *c = ud;
	stream *st = src->ptr;
	size_t n = st->stop_at - st->off;

	(void)s;
	(void)sid;
	if (st->off >= st->stop_at && st->truncate) {
		c->broken = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (st->paced) {
		size_t p = emu_piece_size(&st->x, st->r.body.len);

		if (st->started && c->cfg->pace_ms)
			emu_sleep_ms(c->cfg->pace_ms);
		if (n > p)
			n = p;
	}
	if (n > length)
		n = length;
	memcpy(buf, st->r.body.data + st->off, n);
	st->off += n;
	st->r.delivered = st->off;
	st->started = true;
	if (st->off == st->r.body.len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* "Name: value\r\n" lines (emu_resp.headers) as lower-case HTTP/2 fields. */
static size_t header_lines(const tf_buf *h, nghttp2_nv *nva, size_t cap, char *names, size_t names_cap)
{
	const char *p = (const char *)h->data, *end = p + h->len;
	size_t n = 0, used = 0;

	while (p < end && n < cap) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon;
		const char *le = eol ? eol : end, *v;

		if (le > p && le[-1] == '\r')
			le--;
		colon = memchr(p, ':', (size_t)(le - p));
		if (colon && (size_t)(colon - p) < names_cap - used) {
			size_t nl = (size_t)(colon - p);

			for (size_t i = 0; i < nl; i++)
				names[used + i] = (char)tolower((unsigned char)p[i]);
			v = colon + 1;
			while (v < le && *v == ' ')
				v++;
			nva[n++] = (nghttp2_nv){ (uint8_t *)names + used, (uint8_t *)v, nl, (size_t)(le - v),
						 NGHTTP2_NV_FLAG_NONE };
			used += nl;
		}
		p = eol ? eol + 1 : end;
	}
	return n;
}

static void respond(h2conn *c, stream *st, emu_resp *r)
{
	nghttp2_nv nva[40];
	char status[8], clen[24], names[2048];
	nghttp2_data_provider prd;
	size_t n = 0;

	if (r->gzip && !r->stream && r->body.len && emu_gzip_body(&r->body) == 0)
		emu_resp_header(r, "Content-Encoding", "gzip");
	snprintf(status, sizeof(status), "%d", r->status);
	snprintf(clen, sizeof(clen), "%zu", r->body.len);
	nva[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0 };
	nva[n++] = (nghttp2_nv){ (uint8_t *)"content-type", (uint8_t *)r->content_type, 12,
				 strlen(r->content_type), 0 };
	if (!r->stream)
		nva[n++] = (nghttp2_nv){ (uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen), 0 };
	n += header_lines(&r->headers, nva + n, sizeof(nva) / sizeof(nva[0]) - n, names, sizeof(names));
	st->off = 0;
	r->delivered = 0;
	st->truncate = r->truncate;
	st->stop_at = r->truncate ? r->body.len / 2 : r->body.len;
	st->paced = r->stream;
	prd.source.ptr = st;
	prd.read_callback = read_body;
	nghttp2_submit_response(c->s, st->sid, nva, n, r->body.len ? &prd : NULL);
}

static void reject(h2conn *c, uint64_t n, emu_resp *r, int status, const char *msg,
		   const char *note)
{
	emu_req q;
	emu_result res;

	memset(&q, 0, sizeof(q));
	memset(&res, 0, sizeof(res));
	q.n = n;
	q.conn = c->id;
	q.cfg = c->cfg;
	q.route.operation = "Unknown";
	q.route.service = "unknown";
	emu_aws_error(r, status, NULL, msg);
	tf_buf_reset(&r->headers);
	emu_bill_write(&q, NULL, 0, status, &res, note);
}

static void handle(h2conn *c, stream *st)
{
	uint64_t n = emu_next_request();
	bool host_added;

	tf_buf_init(&st->text, 2 * TF_H1_HEAD_CAP);
	st->head = malloc(sizeof(*st->head));
	emu_resp_init(&st->r);
	st->have_resp = true;
	st->x = n * 0x9E3779B97F4A7C15ULL + 1;
	if (!st->head || st->fields.truncated ||
	    tf_h2msg_request_view(&st->fields, st->body.len, &st->text, st->head, &host_added) != 0) {
		/* As for HTTP/1.1 garbage: an error, and a bill line. */
		if (st->fields.truncated)
			reject(c, n, &st->r, 431, "Request Header Fields Too Large", "header too large");
		else
			reject(c, n, &st->r, 400, "Bad Request", "malformed request");
	} else if (st->too_big) {
		reject(c, n, &st->r, 413, "Request Entity Too Large", "body over --max-body");
	} else {
		emu_handle(c->cfg, c->id, n, st->head, st->body.data, st->body.len, &st->r, &st->call);
		st->have_call = true;
	}
	respond(c, st, &st->r);
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	h2conn *c = ud;
	stream *st;

	(void)s;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (st = find(c, f->hd.stream_id)) != NULL)
		handle(c, st);
	return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	h2conn *c = ud;
	stream **pp = &c->streams;

	(void)s;
	(void)code;
	while (*pp && (*pp)->sid != sid)
		pp = &(*pp)->next;
	if (*pp) {
		stream *st = *pp;

		*pp = st->next;
		stream_free(st);
	}
	return 0;
}

bool emu_serve_h2(SSL *ssl, int fd, uint64_t conn_id, const emu_config *cfg)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 } };
	h2conn c = { ssl, fd, conn_id, cfg, NULL, NULL, false };
	int64_t idle_since = emu_now_ms();
	uint8_t in[16384];

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return true;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_session_server_new(&c.s, cb, &c) != 0) {
		nghttp2_session_callbacks_del(cb);
		return true;
	}
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, iv, 1);
	while (!c.broken) {
		int n, e;

		if (nghttp2_session_send(c.s) != 0 || c.broken)
			break;
		if (!nghttp2_session_want_read(c.s) && !nghttp2_session_want_write(c.s))
			break;
		if (c.streams)
			idle_since = emu_now_ms();
		else if (emu_now_ms() - idle_since > cfg->idle_timeout_ms || emu_stopping())
			break;
		n = SSL_read(ssl, in, sizeof(in));
		if (n <= 0) {
			e = SSL_get_error(ssl, n);
			ERR_clear_error();
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				continue;
			break;
		}
		if (nghttp2_session_mem_recv(c.s, in, (size_t)n) < 0) {
			nghttp2_session_send(c.s);
			break;
		}
	}
	if (c.broken)
		shutdown(fd, SHUT_RDWR);
	nghttp2_session_del(c.s);
	while (c.streams) {
		stream *st = c.streams;

		c.streams = st->next;
		stream_free(st);
	}
	return c.broken;
}
