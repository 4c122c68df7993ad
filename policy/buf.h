/*
 * tf_buf: a growable byte buffer with a hard cap.
 *
 * Every buffer the shim keeps per connection is a tf_buf, so that no peer can
 * make us hold more than the cap: an append that would pass it fails with
 * -ENOBUFS and leaves the buffer unchanged. Allocation failure is -ENOMEM.
 * A zero-filled tf_buf is empty and valid (cap 0 means "use TF_BUF_DEFAULT_CAP").
 */
#ifndef TF_BUF_H
#define TF_BUF_H

#include <stddef.h>
#include <stdint.h>

#define TF_BUF_DEFAULT_CAP ((size_t)64 << 20)

typedef struct tf_buf {
	uint8_t *data;
	size_t len;
	size_t alloc;
	size_t cap;
} tf_buf;

void tf_buf_init(tf_buf *b, size_t cap);
void tf_buf_free(tf_buf *b);
/* Drops the contents, keeps the allocation for reuse. */
void tf_buf_reset(tf_buf *b);
int tf_buf_reserve(tf_buf *b, size_t extra);
int tf_buf_append(tf_buf *b, const void *p, size_t n);
int tf_buf_append_str(tf_buf *b, const char *s);
int tf_buf_printf(tf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void tf_buf_consume(tf_buf *b, size_t n);

#endif
