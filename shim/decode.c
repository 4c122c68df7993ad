#include "decode.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
	D_HEAD,     /* deflate: reading the first two bytes to tell zlib from raw */
	D_STREAM,   /* inside a compressed stream (or passing identity bytes) */
	D_BETWEEN,  /* gzip: a member ended; does another one start? */
	D_TRAILING, /* ignoring what follows the last member / the deflate stream */
};

static const uint8_t gzip_magic[2] = { 0x1f, 0x8b };

static bool ieq(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char a = p[i], b = lit[i];

		if (b == '\0')
			return false;
		if (a >= 'A' && a <= 'Z')
			a = (char)(a + 32);
		if (a != b)
			return false;
	}
	return lit[n] == '\0';
}

tf_decode_kind tf_decode_kind_of(const char *value, size_t n)
{
	tf_decode_kind kind = TF_DECODE_IDENTITY;
	size_t i = 0;

	while (i < n) {
		size_t s = i, e;
		tf_decode_kind k;

		while (i < n && value[i] != ',')
			i++;
		e = i++;
		while (s < e && (value[s] == ' ' || value[s] == '\t'))
			s++;
		while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
			e--;
		if (e == s || ieq(value + s, e - s, "identity"))
			continue;
		if (ieq(value + s, e - s, "gzip") || ieq(value + s, e - s, "x-gzip"))
			k = TF_DECODE_GZIP;
		else if (ieq(value + s, e - s, "deflate"))
			k = TF_DECODE_DEFLATE;
		else
			return TF_DECODE_UNSUPPORTED;
		if (kind != TF_DECODE_IDENTITY)
			return TF_DECODE_UNSUPPORTED; /* stacked codings */
		kind = k;
	}
	return kind;
}

int tf_decoder_init(tf_decoder *d, tf_decode_kind kind, uint64_t max_out)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->max_out = max_out ? max_out : TF_DECODE_DEFAULT_MAX_OUT;
	d->state = kind == TF_DECODE_DEFLATE ? D_HEAD : D_STREAM;
	if (kind != TF_DECODE_IDENTITY && kind != TF_DECODE_GZIP && kind != TF_DECODE_DEFLATE)
		return d->err = TF_DECODE_EUNSUPPORTED;
	if (kind == TF_DECODE_IDENTITY)
		return 0;
	d->out = malloc(TF_DECODE_CHUNK);
	if (!d->out)
		return d->err = -ENOMEM;
	if (kind == TF_DECODE_GZIP) {
		/* 16 + 15: gzip wrapper only, largest window. */
		if (inflateInit2(&d->z, 16 + MAX_WBITS) != Z_OK)
			return d->err = -ENOMEM;
		d->z_live = true;
	}
	return 0;
}

void tf_decoder_free(tf_decoder *d)
{
	if (d->z_live)
		inflateEnd(&d->z);
	free(d->out);
	memset(d, 0, sizeof(*d));
}

static int emit(tf_decoder *d, const uint8_t *p, size_t n, tf_decode_out cb, void *ctx)
{
	uint64_t room = d->max_out - d->out_total;
	bool over = n > room;

	if (over)
		n = (size_t)room;
	d->out_total += n;
	if (n && cb && cb(ctx, p, n) < 0)
		return TF_DECODE_EABORT;
	return over ? TF_DECODE_ETOOBIG : 0;
}

/*
 * Inflates p[0..n) until the input is used up or the stream ends. Returns 1
 * at the end of the stream, 0 when it wants more input, or an error; *used
 * is the input consumed.
 */
static int inflate_some(tf_decoder *d, const uint8_t *p, size_t n, size_t *used, tf_decode_out cb,
			void *ctx)
{
	uInt given = n > UINT_MAX ? UINT_MAX : (uInt)n;
	int rc, r;

	d->z.next_in = (Bytef *)(uintptr_t)p;
	d->z.avail_in = given;
	for (;;) {
		d->z.next_out = d->out;
		d->z.avail_out = (uInt)TF_DECODE_CHUNK;
		rc = inflate(&d->z, Z_NO_FLUSH);
		r = emit(d, d->out, TF_DECODE_CHUNK - d->z.avail_out, cb, ctx);
		if (r < 0)
			return r;
		if (rc == Z_STREAM_END) {
			*used = given - d->z.avail_in;
			return 1;
		}
		if (rc == Z_MEM_ERROR)
			return -ENOMEM;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return TF_DECODE_EDATA;
		/* Z_BUF_ERROR: no progress possible without more input. */
		if (rc == Z_BUF_ERROR || (d->z.avail_in == 0 && d->z.avail_out != 0))
			break;
	}
	*used = given - d->z.avail_in;
	return 0;
}

/* RFC 1950 header check: CM = 8, window <= 32 KiB, FCHECK. */
static bool zlib_header(const uint8_t h[2])
{
	return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((unsigned)h[0] << 8 | h[1]) % 31 == 0;
}

static void stream_ended(tf_decoder *d)
{
	d->members++;
	d->head_len = 0;
	d->state = d->kind == TF_DECODE_GZIP ? D_BETWEEN : D_TRAILING;
}

/* Feeds bytes that were held back (deflate header, gzip magic) to inflate. */
static int inflate_held(tf_decoder *d, const uint8_t *p, size_t n, tf_decode_out cb, void *ctx)
{
	size_t used;
	int r = inflate_some(d, p, n, &used, cb, ctx);

	if (r == 1)
		stream_ended(d);
	return r < 0 ? r : 0;
}

static int step_head(tf_decoder *d, const uint8_t *p, size_t n, size_t *used, tf_decode_out cb,
		     void *ctx)
{
	*used = 0;
	while (d->head_len < 2 && *used < n)
		d->head[d->head_len++] = p[(*used)++];
	if (d->head_len < 2)
		return 0;
	if (inflateInit2(&d->z, zlib_header(d->head) ? MAX_WBITS : -MAX_WBITS) != Z_OK)
		return -ENOMEM;
	d->z_live = true;
	d->state = D_STREAM;
	return inflate_held(d, d->head, 2, cb, ctx);
}

static int step_between(tf_decoder *d, const uint8_t *p, size_t n, size_t *used,
			tf_decode_out cb, void *ctx)
{
	*used = 0;
	while (d->head_len < 2 && *used < n) {
		if (p[*used] != gzip_magic[d->head_len]) {
			d->state = D_TRAILING;
			return 0;
		}
		d->head_len++;
		(*used)++;
	}
	if (d->head_len < 2)
		return 0;
	if (inflateReset(&d->z) != Z_OK)
		return TF_DECODE_EDATA;
	d->state = D_STREAM;
	return inflate_held(d, gzip_magic, 2, cb, ctx);
}

int tf_decoder_feed(tf_decoder *d, const uint8_t *p, size_t n, tf_decode_out cb, void *ctx)
{
	int r = 0;

	if (d->err)
		return d->err;
	d->in_total += n;
	while (n > 0 && r >= 0) {
		size_t used = n;

		switch (d->state) {
		case D_HEAD:
			r = step_head(d, p, n, &used, cb, ctx);
			break;
		case D_STREAM:
			if (d->kind == TF_DECODE_IDENTITY) {
				r = emit(d, p, n, cb, ctx);
				break;
			}
			r = inflate_some(d, p, n, &used, cb, ctx);
			if (r == 1) {
				stream_ended(d);
				r = 0;
			}
			break;
		case D_BETWEEN:
			r = step_between(d, p, n, &used, cb, ctx);
			break;
		default: /* D_TRAILING */
			break;
		}
		p += used;
		n -= used;
	}
	if (r < 0)
		d->err = r;
	return r;
}

int tf_decoder_finish(tf_decoder *d)
{
	if (d->err)
		return d->err;
	if (d->kind == TF_DECODE_IDENTITY || d->in_total == 0)
		return 0;
	if (d->state == D_HEAD || d->state == D_STREAM)
		return TF_DECODE_ETRUNCATED;
	return 0;
}
