#include "hpack.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

/* The protocol's initial SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2). */
#define DEFAULT_TABLE 4096u

void tf_hlist_init(tf_hlist *l, size_t max_bytes, size_t max_fields)
{
	tf_buf_init(&l->arena, max_bytes);
	tf_buf_init(&l->fields, max_fields * sizeof(tf_hfield));
	l->max_fields = max_fields;
	l->truncated = false;
}

void tf_hlist_free(tf_hlist *l)
{
	tf_buf_free(&l->arena);
	tf_buf_free(&l->fields);
	l->truncated = false;
}

void tf_hlist_reset(tf_hlist *l)
{
	tf_buf_reset(&l->arena);
	tf_buf_reset(&l->fields);
	l->truncated = false;
}

void tf_hlist_get(const tf_hlist *l, size_t i, const char **name, size_t *name_len,
		  const char **value, size_t *value_len, uint32_t *flags)
{
	const tf_hfield *f = (const tf_hfield *)l->fields.data + i;
	/* Empty names and values may leave the arena unallocated. */
	const char *a = l->arena.data ? (const char *)l->arena.data : "";

	*name = a + f->name;
	*name_len = f->name_len;
	*value = a + f->value;
	*value_len = f->value_len;
	if (flags)
		*flags = f->flags;
}

int tf_hlist_add(tf_hlist *l, const char *name, size_t name_len, const char *value,
		 size_t value_len, uint32_t flags)
{
	tf_hfield f;
	size_t mark = l->arena.len;
	int r;

	if (tf_hlist_count(l) >= l->max_fields || name_len + value_len > l->arena.cap - l->arena.len) {
		l->truncated = true;
		return 1;
	}
	f = (tf_hfield){ (uint32_t)mark, (uint32_t)name_len, (uint32_t)(mark + name_len),
			 (uint32_t)value_len, flags };
	r = tf_buf_append(&l->arena, name, name_len);
	if (r == 0)
		r = tf_buf_append(&l->arena, value, value_len);
	if (r == 0)
		r = tf_buf_append(&l->fields, &f, sizeof(f));
	if (r == 0)
		return 0;
	l->arena.len = mark;
	if (r == -ENOBUFS) {
		l->truncated = true;
		return 1;
	}
	return r;
}

const char *tf_hlist_find(const tf_hlist *l, const char *name, size_t *value_len)
{
	size_t k = strlen(name);

	for (size_t i = 0; i < tf_hlist_count(l); i++) {
		const char *n, *v;
		size_t nl, vl;

		tf_hlist_get(l, i, &n, &nl, &v, &vl, NULL);
		if (nl == k && memcmp(n, name, k) == 0) {
			*value_len = vl;
			return v;
		}
	}
	return NULL;
}

int tf_hpack_in_init(tf_hpack_in *in)
{
	nghttp2_hd_inflater *inf = NULL;

	in->in_block = false;
	if (nghttp2_hd_inflate_new(&inf) != 0)
		return -ENOMEM;
	in->inf = inf;
	return 0;
}

void tf_hpack_in_free(tf_hpack_in *in)
{
	if (in->inf)
		nghttp2_hd_inflate_del(in->inf);
	in->inf = NULL;
}

int tf_hpack_in_set_max(tf_hpack_in *in, size_t settings_max)
{
	if (!in->inf || in->in_block)
		return TF_HPACK_ECOMP;
	return nghttp2_hd_inflate_change_table_size(in->inf, settings_max) == 0 ? 0 : TF_HPACK_ECOMP;
}

int tf_hpack_in_feed(tf_hpack_in *in, const uint8_t *p, size_t n, bool last, tf_hlist *out)
{
	static const uint8_t none[1];

	if (!in->inf)
		return TF_HPACK_ECOMP;
	if (!p)
		p = none;
	in->in_block = true;
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(in->inf, &nv, &flags, p, n, last);

		if (r < 0) {
			nghttp2_hd_inflate_del(in->inf);
			in->inf = NULL;
			return TF_HPACK_ECOMP;
		}
		p += r;
		n -= (size_t)r;
		/* A field that cannot be kept marks the list truncated; the block
		 * is still decoded to its end so the table stays in step. */
		if ((flags & NGHTTP2_HD_INFLATE_EMIT) && out &&
		    tf_hlist_add(out, (const char *)nv.name, nv.namelen, (const char *)nv.value,
				 nv.valuelen, (nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) ? TF_HPACK_NEVER_INDEX : 0) < 0)
			out->truncated = true;
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(in->inf);
			in->in_block = false;
			return 0;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			return 0;
	}
}

int tf_hpack_out_init(tf_hpack_out *out, size_t table_max)
{
	nghttp2_hd_deflater *d = NULL;

	if (nghttp2_hd_deflate_new(&d, table_max) != 0)
		return -ENOMEM;
	out->def = d;
	return 0;
}

void tf_hpack_out_free(tf_hpack_out *out)
{
	if (out->def)
		nghttp2_hd_deflate_del(out->def);
	out->def = NULL;
}

int tf_hpack_out_set_max(tf_hpack_out *out, size_t settings_max)
{
	return nghttp2_hd_deflate_change_table_size(out->def, settings_max) == 0 ? 0 : -ENOMEM;
}

static int encode(nghttp2_hd_deflater *d, const tf_hlist *l, tf_buf *dst, bool neutral)
{
	size_t n = tf_hlist_count(l), bound;
	nghttp2_nv *nva = calloc(n ? n : 1, sizeof(*nva));
	ssize_t w;
	int r;

	if (!nva)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *name, *value;
		size_t nl, vl;
		uint32_t fl;

		tf_hlist_get(l, i, &name, &nl, &value, &vl, &fl);
		nva[i] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, vl,
				       (neutral || (fl & TF_HPACK_NEVER_INDEX)) ? NGHTTP2_NV_FLAG_NO_INDEX
										 : NGHTTP2_NV_FLAG_NONE };
	}
	bound = nghttp2_hd_deflate_bound(d, nva, n);
	r = tf_buf_reserve(dst, bound);
	if (r == 0) {
		w = nghttp2_hd_deflate_hd(d, dst->data + dst->len, bound, nva, n);
		if (w < 0)
			r = w == NGHTTP2_ERR_NOMEM ? -ENOMEM : TF_HPACK_ECOMP;
		else
			dst->len += (size_t)w;
	}
	free(nva);
	return r;
}

int tf_hpack_out_encode(tf_hpack_out *out, const tf_hlist *l, tf_buf *dst)
{
	if (!out->def)
		return TF_HPACK_ECOMP;
	return encode(out->def, l, dst, false);
}

int tf_hpack_encode_neutral(const tf_hlist *l, tf_buf *dst)
{
	nghttp2_hd_deflater *d = NULL;
	int r;

	/* A fresh encoder at the protocol's initial size starts with no size
	 * update; "never indexed" literals leave its (and the reader's) table empty. */
	if (nghttp2_hd_deflate_new(&d, DEFAULT_TABLE) != 0)
		return -ENOMEM;
	r = encode(d, l, dst, true);
	nghttp2_hd_deflate_del(d);
	return r;
}
