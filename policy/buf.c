#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tf_buf_init(tf_buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

void tf_buf_free(tf_buf *b)
{
	size_t cap = b->cap;

	free(b->data);
	tf_buf_init(b, cap);
}

void tf_buf_reset(tf_buf *b)
{
	b->len = 0;
}

static size_t buf_cap(const tf_buf *b)
{
	return b->cap ? b->cap : TF_BUF_DEFAULT_CAP;
}

int tf_buf_reserve(tf_buf *b, size_t extra)
{
	size_t need, n;
	uint8_t *p;

	if (extra > buf_cap(b) || b->len > buf_cap(b) - extra)
		return -ENOBUFS;
	need = b->len + extra;
	if (need <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc : 256;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	if (n > buf_cap(b))
		n = buf_cap(b);
	p = realloc(b->data, n);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->alloc = n;
	return 0;
}

int tf_buf_append(tf_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = tf_buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int tf_buf_append_str(tf_buf *b, const char *s)
{
	return tf_buf_append(b, s, strlen(s));
}

int tf_buf_printf(tf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = tf_buf_reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void tf_buf_consume(tf_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
