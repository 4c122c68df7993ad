/*
 * The bench's HTTP/2 client (cases 2e/2f): one libnghttp2 client session per
 * connection, blocking, over the connection's SSL* (so the preloaded shim
 * sees every byte through SSL_write/SSL_read, as with curl or the AWS JS
 * SDK). A request is the same one the HTTP/1.1 cases send (tfb_request),
 * its head turned into HTTP/2 fields.
 */
#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct tfb_h2 {
	SSL *ssl;
	nghttp2_session *s;
	int32_t sid;
	int status;
	bool done;
	const tfb_bytes *body;
	size_t body_off;
};

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
	tfb_h2 *c = ud;

	(void)s;
	(void)flags;
	return tfb_ssl_write_all(c->ssl, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
		     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	tfb_h2 *c = ud;

	(void)s;
	(void)flags;
	if (f->hd.stream_id == c->sid && nl == 7 && memcmp(name, ":status", 7) == 0 && vl == 3)
		c->status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
	return 0;
}

static int on_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	tfb_h2 *c = ud;

	(void)s;
	(void)code;
	if (sid == c->sid)
		c->done = true;
	return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	tfb_h2 *c = ud;
	size_t n = c->body->len - c->body_off;

	(void)s;
	(void)sid;
	(void)src;
	if (n > len)
		n = len;
	memcpy(buf, c->body->data + c->body_off, n);
	c->body_off += n;
	if (c->body_off == c->body->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

tfb_h2 *tfb_h2_open(SSL *ssl)
{
	nghttp2_session_callbacks *cb;
	tfb_h2 *c = calloc(1, sizeof(*c));

	if (!c || nghttp2_session_callbacks_new(&cb) != 0) {
		free(c);
		return NULL;
	}
	c->ssl = ssl;
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	if (nghttp2_session_client_new(&c->s, cb, c) != 0) {
		nghttp2_session_callbacks_del(cb);
		free(c);
		return NULL;
	}
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0);
	return c;
}

void tfb_h2_close(tfb_h2 *c)
{
	if (!c)
		return;
	nghttp2_session_del(c->s);
	free(c);
}

/* The request head's lines as HTTP/2 fields: request line to :method and
 * :path, Host to :authority, connection-specific fields left out. */
static size_t fields(const tfb_bytes *head, nghttp2_nv *nva, size_t cap, char *lower, size_t lcap)
{
	const char *p = (const char *)head->data, *end = p + head->len, *eol, *sp1, *sp2;
	size_t n = 0, used = 0;

	eol = memchr(p, '\n', (size_t)(end - p));
	sp1 = eol ? memchr(p, ' ', (size_t)(eol - p)) : NULL;
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2)
		return 0;
	nva[n++] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)p, 7, (size_t)(sp1 - p), 0 };
	nva[n++] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 };
	nva[n++] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)sp1 + 1, 5, (size_t)(sp2 - sp1 - 1), 0 };
	for (p = eol + 1; p < end && n < cap; p = eol + 1) {
		const char *le, *colon, *v;
		size_t nl;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		colon = memchr(p, ':', (size_t)(le - p));
		if (!colon || le == p)
			continue;
		nl = (size_t)(colon - p);
		for (v = colon + 1; v < le && *v == ' '; v++)
			;
		if (nl == 4 && strncasecmp(p, "host", 4) == 0) {
			nva[n++] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)v, 10, (size_t)(le - v), 0 };
			continue;
		}
		if ((nl == 10 && strncasecmp(p, "connection", 10) == 0) || used + nl > lcap)
			continue;
		for (size_t i = 0; i < nl; i++)
			lower[used + i] = (char)tolower((unsigned char)p[i]);
		nva[n++] = (nghttp2_nv){ (uint8_t *)lower + used, (uint8_t *)v, nl, (size_t)(le - v), 0 };
		used += nl;
	}
	return n;
}

int tfb_h2_call(tfb_h2 *c, const tfb_request *r)
{
	nghttp2_nv nva[48];
	char lower[2048];
	nghttp2_data_provider prd = { .read_callback = read_body };
	size_t n = fields(&r->head, nva, sizeof(nva) / sizeof(nva[0]), lower, sizeof(lower));
	uint8_t buf[TFB_IO_CHUNK];

	if (n == 0)
		return -1;
	c->body = &r->body;
	c->body_off = 0;
	c->status = 0;
	c->done = false;
	c->sid = nghttp2_submit_request(c->s, NULL, nva, n, r->body.len ? &prd : NULL, NULL);
	if (c->sid < 0)
		return -1;
	while (!c->done) {
		int k;

		if (nghttp2_session_send(c->s) != 0)
			return -1;
		if (c->done)
			break;
		k = SSL_read(c->ssl, buf, (int)sizeof(buf));
		if (k <= 0 || nghttp2_session_mem_recv(c->s, buf, (size_t)k) < 0)
			return -1;
	}
	return c->status;
}
