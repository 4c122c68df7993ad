#include "h2frame.h"

#include <string.h>

enum { RD_PREFACE, RD_HEADER, RD_PAYLOAD, RD_END, RD_ERROR };

void tf_h2f_parse_header(const uint8_t p[TF_H2F_HEADER_LEN], tf_h2f_header *h)
{
	h->len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	h->type = p[3];
	h->flags = p[4];
	h->sid = tf_h2f_u32(p + 5) & 0x7fffffffu;
}

void tf_h2f_write_header(uint8_t p[TF_H2F_HEADER_LEN], const tf_h2f_header *h)
{
	p[0] = (uint8_t)(h->len >> 16);
	p[1] = (uint8_t)(h->len >> 8);
	p[2] = (uint8_t)h->len;
	p[3] = h->type;
	p[4] = h->flags;
	p[5] = (uint8_t)(h->sid >> 24 & 0x7f);
	p[6] = (uint8_t)(h->sid >> 16);
	p[7] = (uint8_t)(h->sid >> 8);
	p[8] = (uint8_t)h->sid;
}

void tf_h2f_reader_init(tf_h2f_reader *r, bool expect_preface, uint32_t max_len)
{
	memset(r, 0, sizeof(*r));
	r->state = expect_preface ? RD_PREFACE : RD_HEADER;
	r->max_len = max_len > TF_H2F_MAX_LEN ? TF_H2F_MAX_LEN : max_len;
}

bool tf_h2f_reader_at_boundary(const tf_h2f_reader *r)
{
	return (r->state == RD_HEADER || r->state == RD_PREFACE) && r->got == 0;
}

/* Collects up to want bytes into hold; true once all are there. */
static bool collect(tf_h2f_reader *r, size_t want, const uint8_t *p, size_t n, size_t *used)
{
	size_t k = want - r->got;

	if (k > n)
		k = n;
	memcpy(r->hold + r->got, p, k);
	r->got += k;
	*used = k;
	return r->got == want;
}

size_t tf_h2f_read(tf_h2f_reader *r, const uint8_t *p, size_t n, tf_h2f_event *ev,
		   const uint8_t **piece, size_t *piece_len)
{
	size_t used = 0;

	*ev = TF_H2F_EV_NONE;
	switch (r->state) {
	case RD_PREFACE:
		if (!collect(r, TF_H2F_PREFACE_LEN, p, n, &used)) {
			if (memcmp(r->hold, TF_H2F_PREFACE, r->got) != 0)
				goto error;
			return used;
		}
		if (memcmp(r->hold, TF_H2F_PREFACE, TF_H2F_PREFACE_LEN) != 0)
			goto error;
		r->got = 0;
		r->state = RD_HEADER;
		*ev = TF_H2F_EV_PREFACE;
		return used;
	case RD_HEADER:
		if (!collect(r, TF_H2F_HEADER_LEN, p, n, &used))
			return used;
		tf_h2f_parse_header(r->hold, &r->fh);
		r->got = 0;
		r->off = 0;
		if (r->fh.len > r->max_len)
			goto error;
		r->state = r->fh.len ? RD_PAYLOAD : RD_END;
		*ev = TF_H2F_EV_HEADER;
		return used;
	case RD_PAYLOAD:
		if (n == 0)
			return 0;
		used = r->fh.len - r->off;
		if (used > n)
			used = n;
		*piece = p;
		*piece_len = used;
		r->off += (uint32_t)used;
		if (r->off == r->fh.len)
			r->state = RD_END;
		*ev = TF_H2F_EV_PAYLOAD;
		return used;
	case RD_END:
		r->state = RD_HEADER;
		*ev = TF_H2F_EV_END;
		return 0;
	default:
		*ev = TF_H2F_EV_ERROR;
		return 0;
	}
error:
	r->state = RD_ERROR;
	*ev = TF_H2F_EV_ERROR;
	return used;
}

int tf_h2f_put(tf_buf *out, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
	       size_t len)
{
	tf_h2f_header h = { (uint32_t)len, type, flags, sid };
	uint8_t hdr[TF_H2F_HEADER_LEN];
	size_t mark = out->len;
	int r;

	if (len > TF_H2F_MAX_LEN)
		return -1;
	tf_h2f_write_header(hdr, &h);
	r = tf_buf_append(out, hdr, sizeof(hdr));
	if (r == 0 && len)
		r = tf_buf_append(out, payload, len);
	if (r)
		out->len = mark;
	return r;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int tf_h2f_put_window_update(tf_buf *out, uint32_t sid, uint32_t increment)
{
	uint8_t p[4];

	be32(p, increment & 0x7fffffffu);
	return tf_h2f_put(out, TF_H2F_WINDOW_UPDATE, 0, sid, p, sizeof(p));
}

int tf_h2f_put_rst_stream(tf_buf *out, uint32_t sid, uint32_t error)
{
	uint8_t p[4];

	be32(p, error);
	return tf_h2f_put(out, TF_H2F_RST_STREAM, 0, sid, p, sizeof(p));
}

int tf_h2f_put_ping(tf_buf *out, bool ack, const uint8_t opaque[8])
{
	return tf_h2f_put(out, TF_H2F_PING, ack ? TF_H2F_ACK : 0, 0, opaque, 8);
}

int tf_h2f_put_goaway(tf_buf *out, uint32_t last_sid, uint32_t error)
{
	uint8_t p[8];

	be32(p, last_sid & 0x7fffffffu);
	be32(p + 4, error);
	return tf_h2f_put(out, TF_H2F_GOAWAY, 0, 0, p, sizeof(p));
}

long tf_h2f_alpn_without_h2(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t n = in[i];

		if (n == 0 || n > len - i - 1)
			return -1;
		if (!(n == 2 && in[i + 1] == 'h' && in[i + 2] == '2')) {
			memcpy(out + o, in + i, n + 1);
			o += n + 1;
		}
		i += n + 1;
	}
	return (long)o;
}
