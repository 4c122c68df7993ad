/*
 * HPACK (RFC 7541) for the shim's HTTP/2 layer, through libnghttp2's header
 * compression API (nghttp2_hd_*), plus the header list that the rest of
 * the shim reads.
 *
 * A tf_hpack_in mirrors one peer's decoder: it must see every header block
 * of its direction, in order, so that its dynamic table stays what the
 * peer's is. A tf_hpack_out is an encoder whose dynamic table a peer's
 * decoder mirrors: what it encodes must reach that peer, in order, exactly
 * once. tf_hpack_encode_neutral() encodes a block that refers to no dynamic
 * table entry and adds none (static-table names and literals "never
 * indexed" only), so it can be put in front of any decoder without changing
 * its state: that is how the shim speaks to the app on its own.
 *
 * Bounds: a list keeps at most max_fields fields and max_bytes of names and
 * values; what does not fit is dropped and the list marked truncated (the
 * block is still decoded to the end, so the decoder stays in step).
 * nghttp2 itself refuses a single name or value over 64 KiB (a decoding
 * error).
 */
#ifndef TF_HPACK_H
#define TF_HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
	TF_HPACK_ECOMP = -4001, /* the block does not decode (or ENOMEM inside nghttp2) */
};

/* Per-field flag: the sender asked that it never be indexed (secrets). */
#define TF_HPACK_NEVER_INDEX 0x1

typedef struct tf_hfield {
	uint32_t name, name_len; /* offsets into the list's arena */
	uint32_t value, value_len;
	uint32_t flags;
} tf_hfield;

typedef struct tf_hlist {
	tf_buf arena;  /* names and values */
	tf_buf fields; /* tf_hfield[] */
	size_t max_fields;
	bool truncated;
} tf_hlist;

void tf_hlist_init(tf_hlist *l, size_t max_bytes, size_t max_fields);
void tf_hlist_free(tf_hlist *l);
void tf_hlist_reset(tf_hlist *l);
static inline size_t tf_hlist_count(const tf_hlist *l)
{
	return l->fields.len / sizeof(tf_hfield);
}
/* Field i; its name and value point into the arena (valid until the next add). */
void tf_hlist_get(const tf_hlist *l, size_t i, const char **name, size_t *name_len,
		  const char **value, size_t *value_len, uint32_t *flags);
/* Appends a field. 0; 1 when it did not fit (dropped, list marked
 * truncated); -ENOMEM. */
int tf_hlist_add(tf_hlist *l, const char *name, size_t name_len, const char *value,
		 size_t value_len, uint32_t flags);
/* The value of the first field called name (exact, case-sensitive: HTTP/2
 * names are lower case), or NULL. */
const char *tf_hlist_find(const tf_hlist *l, const char *name, size_t *value_len);

typedef struct tf_hpack_in {
	void *inf; /* nghttp2_hd_inflater */
	bool in_block;
} tf_hpack_in;

int tf_hpack_in_init(tf_hpack_in *in);
void tf_hpack_in_free(tf_hpack_in *in);
/* The table size the peer's SETTINGS_HEADER_TABLE_SIZE allows; call only
 * between blocks. 0 or TF_HPACK_ECOMP. */
int tf_hpack_in_set_max(tf_hpack_in *in, size_t settings_max);
/*
 * Decodes the next fragment of a header block; out (may be NULL: decode
 * only to stay in step) receives the fields. last: the fragment ends the
 * block. 0, or TF_HPACK_ECOMP after which the decoder is unusable.
 */
int tf_hpack_in_feed(tf_hpack_in *in, const uint8_t *p, size_t n, bool last, tf_hlist *out);

typedef struct tf_hpack_out {
	void *def; /* nghttp2_hd_deflater */
} tf_hpack_out;

/* table_max: the most dynamic table this encoder will ever use. */
int tf_hpack_out_init(tf_hpack_out *out, size_t table_max);
void tf_hpack_out_free(tf_hpack_out *out);
/* The peer's SETTINGS_HEADER_TABLE_SIZE (a size update starts the next block). */
int tf_hpack_out_set_max(tf_hpack_out *out, size_t settings_max);
/* Appends l's block to dst. 0, -ENOBUFS / -ENOMEM, or TF_HPACK_ECOMP. */
int tf_hpack_out_encode(tf_hpack_out *out, const tf_hlist *l, tf_buf *dst);
/* A block that leaves any decoder's dynamic table unchanged (see above). */
int tf_hpack_encode_neutral(const tf_hlist *l, tf_buf *dst);

#endif
