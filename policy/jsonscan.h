/*
 * JSON without a DOM, for hot paths that read a few members of many small
 * documents (streamed events): one pass checks a document and records every
 * value as a node of a flat tape in memory the caller gives. Nothing is
 * allocated and no string is copied; strings are decoded only when asked.
 *
 * Acceptance is exactly tf_json_parse()'s with default limits (policy/json.h:
 * strict RFC 8259, valid UTF-8, valid \u escapes, no duplicate keys, depth
 * TF_JSON_MAX_DEPTH, size TF_JSON_MAX_SIZE, a leading BOM skipped), except
 * that some documents are not scanned and come back TF_JSCAN_UNSURE
 * so the caller can use tf_json_parse() instead:
 *  - more values than the nodes given (or 65535);
 *  - a key that contains an escape (keys are compared as raw bytes here,
 *    and "\u0061" is the key "a" there);
 *  - a key longer than 65535 bytes or a number longer than 63 bytes;
 *  - a text longer than TF_JSON_MAX_SIZE (tf_json_parse() says -E2BIG).
 * So TF_JSCAN_OK means tf_json_parse() accepts the document and -EINVAL
 * means it refuses it; the tape then describes the same values, in the same
 * order, as its DOM.
 */
#ifndef TF_JSONSCAN_H
#define TF_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define TF_JSCAN_MAX_NODES 65535u
#define TF_JSCAN_MAX_NUMBER 63u

enum {
	TF_JSCAN_OK = 0,
	TF_JSCAN_UNSURE = 1, /* valid or not: ask tf_json_parse() */
};

/*
 * One value. Offsets are into the scanned text. The nodes of a container's
 * values follow it in document order; next skips its whole subtree.
 */
typedef struct tf_jnode {
	uint32_t start, end; /* the raw value, quotes of a string included */
	uint32_t key;        /* an object member's value: its key's first byte */
	uint32_t len;        /* strings: decoded UTF-8 bytes; arrays, objects: items */
	uint16_t key_len;    /* its key's length (keys hold no escapes) */
	uint16_t next;       /* index of the first node after this value */
	uint8_t type;        /* tf_json_type */
} tf_jnode;

typedef struct tf_jscan {
	const char *text;
	const tf_jnode *nodes; /* nodes[0] is the root */
	size_t n;
} tf_jscan;

/*
 * Scans text[0..len) with nodes[0..cap) as the tape (at most
 * TF_JSCAN_MAX_NODES of them are used). Returns TF_JSCAN_OK, with the tape
 * in js->nodes[0..js->n); TF_JSCAN_UNSURE; or -EINVAL (not JSON as
 * tf_json_parse() accepts it). Only TF_JSCAN_OK leaves a tape to read
 * (js->n is 0 otherwise). The text and nodes must stay in place while the
 * tape is read; js keeps pointers to both.
 */
int tf_jscan_parse(tf_jscan *js, const char *text, size_t len, tf_jnode *nodes, size_t cap);

static inline tf_json_type tf_jscan_type(const tf_jnode *v)
{
	return (tf_json_type)v->type;
}

/* The value of obj's member key (raw bytes, exact); NULL when absent or obj
 * is not an object. */
const tf_jnode *tf_jscan_get(const tf_jscan *js, const tf_jnode *obj, const char *key);

/* A container's first value, then each next one; NULL after the last. */
const tf_jnode *tf_jscan_first(const tf_jscan *js, const tf_jnode *c);
const tf_jnode *tf_jscan_next(const tf_jscan *js, const tf_jnode *c, const tf_jnode *item);

/* True when the member value v's key is exactly key. */
bool tf_jscan_key_is(const tf_jscan *js, const tf_jnode *v, const char *key, size_t key_len);

/*
 * Copies the first bytes of string v, decoded to UTF-8 as tf_json_parse()
 * would, into dst[0..cap) (no NUL added). Returns the number copied:
 * min(cap, v->len).
 */
size_t tf_jscan_str_copy(const tf_jscan *js, const tf_jnode *v, char *dst, size_t cap);

/* As tf_json_int64() on the same number; -EINVAL when v is not a number. */
int tf_jscan_int64(const tf_jscan *js, const tf_jnode *v, int64_t *out);

#endif
