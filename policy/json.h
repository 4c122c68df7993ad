/*
 * Strict JSON (RFC 8259): a parser into a read-only DOM, and a tiny writer.
 *
 * Parser. tf_json_parse() reads one whole document from a byte span into a
 * DOM held in one arena owned by the tf_json_doc; tf_json_doc_free() releases
 * it all at once. The DOM copies everything it needs: the input may be freed
 * right after the call. Strict means:
 *  - exactly one value, surrounded only by space, tab, CR, LF (a leading
 *    UTF-8 byte order mark is skipped, as RFC 8259 §8.1 allows);
 *  - strings are valid UTF-8 (no overlong forms, no encoded surrogates, no
 *    code point above U+10FFFF), contain no raw control characters, and
 *    \u escapes form valid UTF-16 (a lone surrogate is an error);
 *  - numbers follow the RFC grammar exactly (no leading '+', no leading
 *    zeros, no "1.", no NaN/Infinity);
 *  - an object that names the same key twice is an error: configuration
 *    must never silently take one of two values;
 *  - nesting is bounded (TF_JSON_MAX_DEPTH by default) and so is the input
 *    (TF_JSON_MAX_SIZE by default), so a hostile document costs bounded
 *    stack and memory (the DOM takes at most ~40 bytes per input byte).
 * Every value and member records the 1-based line and column (in bytes) of
 * its first character, so callers can report "file:line".
 *
 * Strings are unescaped to UTF-8, NUL-terminated, with their length (a
 * string may contain U+0000 from "\u0000": use len, or reject it).
 * Numbers keep their raw text; the helpers convert it exactly.
 *
 * Writer. tf_json_put_*() append JSON tokens to a tf_buf. Separators are
 * automatic: a key or value written when the buffer is empty or ends in
 * '{', '[', ':' or '\n' gets none, anything else gets a ',' first; so a
 * buffer written only through these functions (JSON lines separated by
 * '\n' included) is always well formed. Strings are escaped (quote,
 * backslash, every control character, DEL, U+2028/U+2029) and invalid UTF-8
 * is replaced by U+FFFD, so the output is always valid UTF-8. Each call is
 * all-or-nothing: on failure (-ENOBUFS at the buffer's cap, -ENOMEM) the
 * buffer is left as it was.
 */
#ifndef TF_JSON_H
#define TF_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "money.h"

#define TF_JSON_MAX_DEPTH 64
#define TF_JSON_MAX_SIZE ((size_t)8 << 20)

typedef enum tf_json_type {
	TF_JSON_NULL,
	TF_JSON_FALSE,
	TF_JSON_TRUE,
	TF_JSON_NUMBER,
	TF_JSON_STRING,
	TF_JSON_ARRAY,
	TF_JSON_OBJECT,
} tf_json_type;

typedef struct tf_json_value tf_json_value;
typedef struct tf_json_member tf_json_member;

/* Read-only once parsed; all pointers point into the document's arena. */
struct tf_json_value {
	tf_json_type type;
	uint32_t line, col;
	union {
		struct {
			const char *s; /* NUL-terminated UTF-8 */
			size_t len;
		} str;
		struct {
			const char *text; /* raw text as written, NUL-terminated */
			size_t len;
		} num;
		struct {
			tf_json_value *items; /* document order */
			size_t n;
		} arr;
		struct {
			tf_json_member *members; /* document order, keys unique */
			size_t n;
		} obj;
	} u;
};

struct tf_json_member {
	const char *key; /* NUL-terminated UTF-8 */
	size_t key_len;
	uint32_t line, col; /* of the key's opening quote */
	tf_json_value value;
};

struct tf_json_chunk;

typedef struct tf_json_doc {
	tf_json_value *root;
	struct tf_json_chunk *chunks;
} tf_json_doc;

typedef struct tf_json_limits {
	size_t max_size;    /* 0: TF_JSON_MAX_SIZE */
	unsigned max_depth; /* 0: TF_JSON_MAX_DEPTH; arrays and objects count 1 each */
} tf_json_limits;

typedef struct tf_json_error {
	uint32_t line, col; /* where the problem is (1-based; col in bytes) */
	char msg[128];      /* short, printable ASCII, no input text beyond 40 bytes */
} tf_json_error;

/*
 * Parses text[0..len) into doc (zeroed by the call; free it with
 * tf_json_doc_free() whatever the result). lim may be NULL for defaults.
 * Returns 0; -EINVAL on a syntax error, nesting or duplicate key; -E2BIG
 * when len exceeds the size limit; -ENOMEM. err (may be NULL) is filled on
 * every failure.
 */
int tf_json_parse(tf_json_doc *doc, const char *text, size_t len, const tf_json_limits *lim,
		  tf_json_error *err);
void tf_json_doc_free(tf_json_doc *doc);

/* "null", "boolean", "number", "string", "array", "object". */
const char *tf_json_type_name(tf_json_type t);

/* Member value by key (exact bytes); NULL when absent or v is not an object. */
const tf_json_value *tf_json_get(const tf_json_value *obj, const char *key);
const tf_json_member *tf_json_get_member(const tf_json_value *obj, const char *key);

/*
 * Number conversions; all return -EINVAL when v is not a number.
 * tf_json_decimal: the exact value as a plain decimal "[-]d+[.d+]" with
 *   exponents expanded and insignificant zeros dropped ("1.50e2" -> "150",
 *   "-0.0" -> "0"), NUL-terminated; -ERANGE if it does not fit in outlen.
 * tf_json_int64: exact integral values only ("12", "1.2e1", "12.0");
 *   -EINVAL for a fraction, -ERANGE outside int64.
 * tf_json_money_usd / tf_json_money_per_mtok: via tf_money_parse_usd /
 *   tf_money_parse_per_mtok on the exact decimal; -ERANGE for negative values
 *   and past the money limits, -EINVAL when it would have to round.
 * tf_json_double: nearest double, independent of the process locale;
 *   -ERANGE when it overflows.
 */
int tf_json_decimal(const tf_json_value *v, char *out, size_t outlen);
int tf_json_int64(const tf_json_value *v, int64_t *out);
int tf_json_money_usd(const tf_json_value *v, tf_money *out);
int tf_json_money_per_mtok(const tf_json_value *v, tf_money *out);
int tf_json_double(const tf_json_value *v, double *out);

/*
 * The choice closest to word by edit distance (insert, delete, substitute,
 * swap adjacent), if close enough to be a likely typo (distance <= 2 and
 * less than half the word), else NULL. For "did you mean" hints.
 */
const char *tf_json_closest(const char *word, size_t n, const char *const *choices,
			    size_t nchoices);

/* Writer (see the top of this file for separators and escaping). */
int tf_json_open_object(tf_buf *b);
int tf_json_close_object(tf_buf *b);
int tf_json_open_array(tf_buf *b);
int tf_json_close_array(tf_buf *b);
/* Writes "key": (the key is escaped like any string). */
int tf_json_put_key(tf_buf *b, const char *key);
int tf_json_put_keyn(tf_buf *b, const char *key, size_t n);
int tf_json_put_str(tf_buf *b, const char *s, size_t n);
/* NULL writes null. */
int tf_json_put_cstr(tf_buf *b, const char *s);
int tf_json_put_int(tf_buf *b, int64_t v);
int tf_json_put_uint(tf_buf *b, uint64_t v);
int tf_json_put_bool(tf_buf *b, bool v);
int tf_json_put_null(tf_buf *b);
/* USD as an exact decimal number (pico-dollar precision, zeros trimmed). */
int tf_json_put_money(tf_buf *b, tf_money m);
/* Shortest "%.17g"-exact form; NaN and infinities are written as null. */
int tf_json_put_double(tf_buf *b, double v);
/* A parsed value, recursively (numbers keep their raw text). */
int tf_json_put_value(tf_buf *b, const tf_json_value *v);

#endif
