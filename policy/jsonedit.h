/*
 * Surgical edits of raw JSON text: find the exact bytes of a member's value
 * by key path, replace that value, or insert a member, leaving every other
 * byte of the document as it was (formatting, key order, other members,
 * number spellings, escapes). The DOM parser (json.h) cannot do this: it
 * keeps no byte offsets and re-serialising would change what the client
 * wrote (and, for SigV4 requests, what it signed).
 *
 * The text is checked with the same strictness as tf_json_parse(): one value
 * surrounded by JSON whitespace (a leading UTF-8 BOM is allowed and kept),
 * valid UTF-8 in strings, no raw control characters, \u escapes forming
 * valid UTF-16, the RFC number grammar, and at most TF_JSON_MAX_DEPTH nested
 * arrays/objects. A document that fails is TF_JSONEDIT_EMALFORMED (or
 * EDEPTH): it is never partly edited.
 *
 * A path is an array of member names from the root object, e.g.
 * {"inferenceConfig", "maxTokens"}; names are compared after decoding
 * escapes, so "max\u005ftokens" is the member "max_tokens". Paths cross
 * objects only (no array indexes). Every object the path walks through,
 * including the one edited, must have unique member names (decoded):
 * otherwise which copy a server honours is unknowable, and the call fails
 * with TF_JSONEDIT_EDUPLICATE.
 *
 * Nothing reads past len; nothing here keeps a pointer past the call. Output
 * is appended to a caller-owned tf_buf (whose cap bounds it); on any failure
 * the tf_buf is left exactly as it was.
 */
#ifndef TF_JSONEDIT_H
#define TF_JSONEDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TF_JSONEDIT_MAX_PATH 8
/* Objects on a path are indexed to find repeated names; a bigger one is
 * refused (request bodies have a handful of members per object). */
#define TF_JSONEDIT_MAX_MEMBERS 4096

enum {
	TF_JSONEDIT_NOTFOUND = 1,       /* a member on the path is absent (not an error) */
	TF_JSONEDIT_EMALFORMED = -2001, /* the document (or a value to write) is not strict JSON */
	TF_JSONEDIT_EDEPTH = -2002,     /* nesting deeper than TF_JSON_MAX_DEPTH */
	TF_JSONEDIT_EDUPLICATE = -2003, /* a repeated member name in an object on the path */
	TF_JSONEDIT_ENOTOBJECT = -2004, /* the root, or a value the path goes through, is not an object */
	TF_JSONEDIT_EPATH = -2005,      /* empty path, longer than TF_JSONEDIT_MAX_PATH, or NULL name */
	TF_JSONEDIT_EEXISTS = -2006,    /* insert: the member is already there */
	TF_JSONEDIT_ETOOBIG = -2007,    /* an object on the path has > TF_JSONEDIT_MAX_MEMBERS */
};

typedef struct tf_jsonedit_span {
	size_t off; /* byte offset of the value's first byte in the text */
	size_t len; /* bytes of the value as written (no surrounding whitespace) */
} tf_jsonedit_span;

/* 0 when text[0..len) is one strict JSON document, else EMALFORMED / EDEPTH. */
int tf_jsonedit_validate(const char *text, size_t len);

/*
 * The value of the member at path. Returns 0 and *value; TF_JSONEDIT_NOTFOUND
 * when a member on the path is absent; or a negative error (ENOTOBJECT when
 * the path would go through a value that is not an object).
 */
int tf_jsonedit_find(const char *text, size_t len, const char *const *path, size_t depth,
		     tf_jsonedit_span *value);

/*
 * Appends to out the document with the value at path replaced by
 * value[0..value_len), which must itself be one strict JSON value (no
 * surrounding whitespace needed; any is kept as given). Returns 0,
 * TF_JSONEDIT_NOTFOUND (out untouched), a negative TF_JSONEDIT_* error, or
 * -ENOBUFS / -ENOMEM from the tf_buf.
 */
int tf_jsonedit_replace(const char *text, size_t len, const char *const *path, size_t depth,
			const char *value, size_t value_len, tf_buf *out);

/* tf_jsonedit_insert() flags */
#define TF_JSONEDIT_CREATE 0x1u /* create absent intermediate objects */

/*
 * Appends to out the document with the member path[depth-1] = value added
 * as the last member of the object at path[0..depth-1). With
 * TF_JSONEDIT_CREATE, absent objects on the way are created as well
 * ({"stream_options":{"include_usage":true}}); without it their absence is
 * TF_JSONEDIT_NOTFOUND. The new text copies the object's own separators
 * (", " vs "," and ": " vs ":", newline + indentation of pretty-printed
 * objects), so the result reads as if the client had written it. Returns 0,
 * TF_JSONEDIT_NOTFOUND, TF_JSONEDIT_EEXISTS, another negative
 * TF_JSONEDIT_* error, or the tf_buf's error.
 */
int tf_jsonedit_insert(const char *text, size_t len, const char *const *path, size_t depth,
		       const char *value, size_t value_len, unsigned flags, tf_buf *out);

/* Replace when present, else insert with TF_JSONEDIT_CREATE. */
int tf_jsonedit_set(const char *text, size_t len, const char *const *path, size_t depth,
		    const char *value, size_t value_len, tf_buf *out);

/*
 * Reading a value found above (span inside text, which must be validated).
 * tf_jsonedit_u64: true for a plain non-negative integer literal ("120";
 * not "1.2e2", not negative) that fits uint64_t.
 * tf_jsonedit_is: true when the value is of that kind: 'o'bject, 'a'rray,
 * 's'tring, 'n'umber, 't'rue, 'f'alse, 'z' null.
 */
bool tf_jsonedit_u64(const char *text, tf_jsonedit_span v, uint64_t *out);
bool tf_jsonedit_is(const char *text, tf_jsonedit_span v, char kind);

#endif
