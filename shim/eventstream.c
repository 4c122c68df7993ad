#include "eventstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"

/* Above this, a buffer left by a large message is released, not kept. */
#define ES_KEEP_ALLOC ((size_t)64 * 1024)
/* Up to this many headers, duplicates are found pairwise; above, by sorting. */
#define ES_PAIRWISE_MAX 16

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return tf_crc32(0, p, n);
}

/* Value size of a fixed-size type; -1 for the length-prefixed ones and bad types. */
static int fixed_size(unsigned type)
{
	static const int sizes[] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

	return type < sizeof(sizes) / sizeof(sizes[0]) ? sizes[type] : -2;
}

/*
 * Reads the header at sec[*pos..len). Returns 1 and advances *pos, 0 at the
 * end of the section, TF_ES_EMALFORMED when the encoding is broken.
 */
static int read_header(const uint8_t *sec, size_t len, size_t *pos, tf_es_header *h)
{
	size_t p = *pos, nlen, vlen;
	int fs;

	if (p >= len)
		return 0;
	nlen = sec[p++];
	if (nlen == 0 || len - p < nlen + 1)
		return TF_ES_EMALFORMED;
	h->name = (const char *)sec + p;
	h->name_len = nlen;
	p += nlen;
	h->type = (tf_es_type)sec[p++];
	fs = fixed_size(h->type);
	if (fs == -2)
		return TF_ES_EMALFORMED;
	if (fs == -1) {
		if (len - p < 2)
			return TF_ES_EMALFORMED;
		vlen = (size_t)sec[p] << 8 | sec[p + 1];
		p += 2;
	} else {
		vlen = (size_t)fs;
	}
	if (len - p < vlen)
		return TF_ES_EMALFORMED;
	h->value = sec + p;
	h->value_len = vlen;
	switch (h->type) {
	case TF_ES_TRUE:
		h->ival = 1;
		break;
	case TF_ES_BYTE:
		h->ival = (int8_t)sec[p];
		break;
	case TF_ES_SHORT:
		h->ival = (int16_t)((uint16_t)sec[p] << 8 | sec[p + 1]);
		break;
	case TF_ES_INT:
		h->ival = (int32_t)get_u32(sec + p);
		break;
	case TF_ES_LONG:
	case TF_ES_TIMESTAMP:
		h->ival = (int64_t)get_u64(sec + p);
		break;
	default:
		h->ival = 0;
		break;
	}
	*pos = p + vlen;
	return 1;
}

bool tf_es_next_header(const tf_es_message *m, size_t *pos, tf_es_header *h)
{
	return read_header(m->headers, m->headers_len, pos, h) == 1;
}

static bool name_is(const tf_es_header *h, const char *name, size_t len)
{
	return h->name_len == len && memcmp(h->name, name, len) == 0;
}

bool tf_es_find(const tf_es_message *m, const char *name, tf_es_header *h)
{
	size_t pos = 0, len = strlen(name);

	while (tf_es_next_header(m, &pos, h)) {
		if (name_is(h, name, len))
			return true;
	}
	return false;
}

bool tf_es_find_string(const tf_es_message *m, const char *name, const char **v, size_t *n)
{
	tf_es_header h;

	if (!tf_es_find(m, name, &h) || h.type != TF_ES_STRING)
		return false;
	*v = (const char *)h.value;
	*n = h.value_len;
	return true;
}

typedef struct name_ref {
	const char *p;
	size_t n;
} name_ref;

static int cmp_names(const void *a, const void *b)
{
	const name_ref *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	if (c)
		return c;
	return (x->n > y->n) - (x->n < y->n);
}

/* Duplicate names are an error, as in botocore: past ES_PAIRWISE_MAX
 * headers, found by sorting. */
static int check_duplicates(const uint8_t *sec, size_t len, size_t count)
{
	name_ref *refs = malloc(count * sizeof(*refs));
	tf_es_header h;
	size_t pos = 0, i = 0;
	int r = 0;

	if (!refs)
		return -ENOMEM;
	while (read_header(sec, len, &pos, &h) == 1 && i < count)
		refs[i++] = (name_ref){ h.name, h.name_len };
	qsort(refs, i, sizeof(*refs), cmp_names);
	for (size_t j = 1; j < i && r == 0; j++)
		if (cmp_names(&refs[j - 1], &refs[j]) == 0)
			r = TF_ES_EMALFORMED;
	free(refs);
	return r;
}

/* Every header well encoded and no name twice; *count of them. The few
 * headers of a real message are compared pairwise as they are read. */
static int validate_headers(const uint8_t *sec, size_t len, size_t *count)
{
	name_ref seen[ES_PAIRWISE_MAX];
	tf_es_header h;
	size_t pos = 0, n = 0;
	int r;

	while ((r = read_header(sec, len, &pos, &h)) == 1) {
		if (n < ES_PAIRWISE_MAX) {
			for (size_t j = 0; j < n; j++)
				if (seen[j].n == h.name_len && memcmp(seen[j].p, h.name, h.name_len) == 0)
					return TF_ES_EMALFORMED;
			seen[n] = (name_ref){ h.name, h.name_len };
		}
		n++;
	}
	if (r < 0)
		return r;
	*count = n;
	return n > ES_PAIRWISE_MAX ? check_duplicates(sec, len, n) : 0;
}

/* Checks a 12-byte prelude; fills the total and headers lengths. */
static int check_prelude(const uint8_t *p, size_t max_message, uint32_t *total, uint32_t *hlen)
{
	if (crc(p, 8) != get_u32(p + 8))
		return TF_ES_ECRC;
	*total = get_u32(p);
	*hlen = get_u32(p + 4);
	if (*total < TF_ES_MIN_MESSAGE)
		return TF_ES_EMALFORMED;
	if (*total > max_message || *hlen > TF_ES_MAX_HEADERS_LEN)
		return TF_ES_ETOOBIG;
	if (*hlen > *total - TF_ES_MIN_MESSAGE)
		return TF_ES_EMALFORMED;
	if (*total - TF_ES_MIN_MESSAGE - *hlen > TF_ES_MAX_PAYLOAD)
		return TF_ES_ETOOBIG;
	return 0;
}

/*
 * The rest of tf_es_parse() once the prelude at p is checked: its CRC (at
 * p + 8) is the CRC-32 of the first 8 bytes, so the message CRC goes on
 * from it rather than reading them again.
 */
static int parse_checked(const uint8_t *p, size_t n, uint32_t total, uint32_t hlen,
			 tf_es_message *m)
{
	if (total != n)
		return TF_ES_EMALFORMED;
	if (tf_crc32(get_u32(p + 8), p + 8, n - 12) != get_u32(p + n - 4))
		return TF_ES_ECRC;
	m->raw = p;
	m->raw_len = n;
	m->headers = p + TF_ES_PRELUDE_LEN;
	m->headers_len = hlen;
	m->payload = m->headers + hlen;
	m->payload_len = n - TF_ES_MIN_MESSAGE - hlen;
	return validate_headers(m->headers, hlen, &m->num_headers);
}

int tf_es_parse(const uint8_t *p, size_t n, size_t max_message, tf_es_message *m)
{
	uint32_t total, hlen;
	int r;

	if (max_message == 0)
		max_message = TF_ES_DEFAULT_MAX_MESSAGE;
	if (n < TF_ES_MIN_MESSAGE)
		return TF_ES_EMALFORMED;
	r = check_prelude(p, max_message, &total, &hlen);
	if (r < 0)
		return r;
	return parse_checked(p, n, total, hlen, m);
}

/* ---------------------------------------------------------------------- */
/* Decoder */

void tf_es_decoder_init(tf_es_decoder *d, size_t max_message)
{
	memset(d, 0, sizeof(*d));
	d->max_message = max_message ? max_message : TF_ES_DEFAULT_MAX_MESSAGE;
	tf_buf_init(&d->buf, d->max_message);
}

void tf_es_decoder_free(tf_es_decoder *d)
{
	tf_buf_free(&d->buf);
	tf_es_decoder_init(d, d->max_message);
}

int tf_es_decoder_error(const tf_es_decoder *d)
{
	return d->err;
}

bool tf_es_decoder_idle(const tf_es_decoder *d)
{
	return d->err == 0 && d->buf.len == 0;
}

static int fail(tf_es_decoder *d, int err)
{
	d->err = err;
	tf_buf_free(&d->buf);
	return err;
}

/* A whole message whose prelude (total, hlen) was checked as it came in. */
static int deliver(tf_es_decoder *d, const uint8_t *p, size_t n, uint32_t total, uint32_t hlen,
		   tf_es_on_message cb, void *ctx)
{
	tf_es_message m;
	int r = parse_checked(p, n, total, hlen, &m);

	if (r < 0)
		return r;
	d->messages++;
	if (cb && cb(ctx, &m) < 0)
		return TF_ES_EABORT;
	return 0;
}

int tf_es_decoder_feed(tf_es_decoder *d, const uint8_t *p, size_t n, tf_es_on_message cb,
		       void *ctx)
{
	uint32_t total, hlen;
	size_t take;
	int r;

	if (d->err)
		return d->err;
	while (n > 0) {
		if (d->buf.len == 0 && n >= TF_ES_PRELUDE_LEN) {
			/* Whole messages inside this feed are read in place. */
			r = check_prelude(p, d->max_message, &total, &hlen);
			if (r < 0)
				return fail(d, r);
			if (n >= total) {
				r = deliver(d, p, total, total, hlen, cb, ctx);
				if (r < 0)
					return fail(d, r);
				p += total;
				n -= total;
				continue;
			}
		}
		if (d->buf.len < TF_ES_PRELUDE_LEN) {
			take = TF_ES_PRELUDE_LEN - d->buf.len;
			take = take < n ? take : n;
			r = tf_buf_append(&d->buf, p, take);
			if (r < 0)
				return fail(d, r);
			p += take;
			n -= take;
			if (d->buf.len < TF_ES_PRELUDE_LEN)
				return 0;
			r = check_prelude(d->buf.data, d->max_message, &total, &hlen);
			if (r < 0)
				return fail(d, r);
			d->need = total;
			d->hlen = hlen;
			r = tf_buf_reserve(&d->buf, total - TF_ES_PRELUDE_LEN);
			if (r < 0)
				return fail(d, r);
		}
		take = d->need - d->buf.len;
		take = take < n ? take : n;
		r = tf_buf_append(&d->buf, p, take);
		if (r < 0)
			return fail(d, r);
		p += take;
		n -= take;
		if (d->buf.len < d->need)
			return 0;
		r = deliver(d, d->buf.data, d->buf.len, d->need, d->hlen, cb, ctx);
		if (r < 0)
			return fail(d, r);
		d->need = 0;
		if (d->buf.alloc > ES_KEEP_ALLOC)
			tf_buf_free(&d->buf);
		else
			tf_buf_reset(&d->buf);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Encoder */

tf_es_header tf_es_string_header(const char *name, const char *value)
{
	tf_es_header h = { .name = name, .name_len = strlen(name), .type = TF_ES_STRING,
			   .value = (const uint8_t *)value, .value_len = strlen(value) };
	return h;
}

/* Encoded size of one header, or 0 when it cannot be encoded. */
static size_t header_size(const tf_es_header *h)
{
	int fs = fixed_size(h->type);

	if (h->name_len == 0 || h->name_len > 255 || fs == -2)
		return 0;
	if (fs == -1)
		return h->value_len > 65535 ? 0 : 1 + h->name_len + 1 + 2 + h->value_len;
	if (h->type == TF_ES_UUID && h->value_len != 16)
		return 0;
	return 1 + h->name_len + 1 + (size_t)fs;
}

static uint8_t *write_header(uint8_t *w, const tf_es_header *h)
{
	*w++ = (uint8_t)h->name_len;
	memcpy(w, h->name, h->name_len);
	w += h->name_len;
	*w++ = (uint8_t)h->type;
	switch (h->type) {
	case TF_ES_BYTE:
		*w++ = (uint8_t)h->ival;
		break;
	case TF_ES_SHORT:
		*w++ = (uint8_t)((uint64_t)h->ival >> 8);
		*w++ = (uint8_t)h->ival;
		break;
	case TF_ES_INT:
		put_u32(w, (uint32_t)h->ival);
		w += 4;
		break;
	case TF_ES_LONG:
	case TF_ES_TIMESTAMP:
		put_u64(w, (uint64_t)h->ival);
		w += 8;
		break;
	case TF_ES_BYTES:
	case TF_ES_STRING:
		*w++ = (uint8_t)(h->value_len >> 8);
		*w++ = (uint8_t)h->value_len;
		/* fall through */
	case TF_ES_UUID:
		if (h->value_len)
			memcpy(w, h->value, h->value_len);
		w += h->value_len;
		break;
	default:
		break;
	}
	return w;
}

int tf_es_encode(tf_buf *out, const tf_es_header *headers, size_t num_headers,
		 const void *payload, size_t payload_len)
{
	size_t hlen = 0, total, i, j;
	uint8_t *start, *w;
	int r;

	for (i = 0; i < num_headers; i++) {
		size_t s = header_size(&headers[i]);

		if (s == 0)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (name_is(&headers[j], headers[i].name, headers[i].name_len))
				return -EINVAL;
		hlen += s;
		if (hlen > TF_ES_MAX_HEADERS_LEN)
			return -EINVAL;
	}
	if (payload_len > TF_ES_MAX_PAYLOAD)
		return -EINVAL;
	total = TF_ES_MIN_MESSAGE + hlen + payload_len;
	r = tf_buf_reserve(out, total);
	if (r < 0)
		return r;
	start = w = out->data + out->len;
	put_u32(w, (uint32_t)total);
	put_u32(w + 4, (uint32_t)hlen);
	put_u32(w + 8, crc(w, 8));
	w += TF_ES_PRELUDE_LEN;
	for (i = 0; i < num_headers; i++)
		w = write_header(w, &headers[i]);
	if (payload_len)
		memcpy(w, payload, payload_len);
	w += payload_len;
	put_u32(w, crc(start, total - 4));
	out->len += total;
	return 0;
}
