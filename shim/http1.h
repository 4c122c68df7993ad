/*
 * Incremental HTTP/1.1 message framing and header parsing (RFC 9112), in
 * picohttpparser's shape: caller-owned input spans, pointer+length outputs,
 * zero-initialised state, and no assumption that a message arrives in one
 * call. Used on both sides of a guarded connection by the shim, and by the
 * emulator to read requests.
 *
 * Two layers:
 *  - tf_h1_parse_head(): parses one complete header block (start line +
 *    header fields + empty line) into spans that point into the input.
 *  - tf_h1_framer: consumes a byte stream message by message, accumulates the
 *    header block (capped at TF_H1_HEAD_CAP), derives the body framing
 *    (Content-Length, chunked, close-delimited, or none), removes chunked
 *    framing, and reports the head, the body bytes and the end of each
 *    message through a sink. It never reads past the end of the current
 *    message, so the caller can find message boundaries for keep-alive and
 *    pipelining from its return value.
 */
#ifndef TF_HTTP1_H
#define TF_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Bounds: a peer sending more gets TF_H1_ETOOBIG, never unbounded memory. */
#define TF_H1_HEAD_CAP ((size_t)64 * 1024)
#define TF_H1_MAX_HEADERS 64
#define TF_H1_MAX_CHUNK_LINE 1024

enum {
	TF_H1_INCOMPLETE = -2, /* tf_h1_parse_head: need more bytes */
	TF_H1_EMALFORMED = -1, /* syntax error */
	TF_H1_ETOOBIG = -3,    /* head, header count, chunk line or length past a cap */
	TF_H1_EABORT = -4,     /* a sink callback returned < 0 */
	TF_H1_EUPGRADED = -5,  /* tf_h1_feed after a 101 response: what follows is not HTTP */
};

typedef enum tf_h1_kind { TF_H1_REQUEST, TF_H1_RESPONSE } tf_h1_kind;

typedef struct tf_h1_header {
	const char *name;
	size_t name_len;
	const char *value; /* surrounding whitespace removed */
	size_t value_len;
} tf_h1_header;

typedef struct tf_h1_head {
	int minor_version; /* 0 or 1 */
	/* requests */
	const char *method;
	size_t method_len;
	const char *target; /* request-target as sent (still percent-encoded) */
	size_t target_len;
	/* responses */
	int status;
	const char *reason;
	size_t reason_len;

	tf_h1_header headers[TF_H1_MAX_HEADERS];
	size_t num_headers;

	/* Framing facts derived from the fields above. */
	int64_t content_length; /* -1 when absent or overridden by Transfer-Encoding */
	bool chunked;           /* Transfer-Encoding ends in "chunked" */
	bool conn_close;        /* "Connection: close", or HTTP/1.0 without keep-alive */
	bool expect_continue;   /* "Expect: 100-continue" (requests) */
	size_t head_len;        /* bytes of the whole header block incl. the empty line */
} tf_h1_head;

/*
 * Parses a header block at buf[0..len). Returns the number of bytes of the
 * block (> 0), TF_H1_INCOMPLETE, TF_H1_EMALFORMED or TF_H1_ETOOBIG (more than
 * TF_H1_MAX_HEADERS fields, a block longer than TF_H1_HEAD_CAP, or a
 * Content-Length above INT64_MAX). Empty lines before the start line are
 * skipped (RFC 9112 §2.2) and counted in the result. Lines may end in CRLF or
 * a bare LF; a bare CR, a control character, obs-fold (a line starting with
 * whitespace), whitespace before a field's colon, or a version other than
 * HTTP/1.x is TF_H1_EMALFORMED. HTTP/1.2..1.9 are read as 1.1.
 *
 * Request smuggling shapes are TF_H1_EMALFORMED: conflicting Content-Length
 * values ("5, 5" or repeated equal fields are one value), Transfer-Encoding
 * together with Content-Length on a request, a request Transfer-Encoding that
 * does not end in chunked, chunked applied twice, and Transfer-Encoding in an
 * HTTP/1.0 message. A response Transfer-Encoding overrides Content-Length; one
 * that does not end in chunked makes the body close-delimited (§6.3).
 * Spans in *out point into buf; *out is undefined on failure.
 */
int tf_h1_parse_head(const char *buf, size_t len, tf_h1_kind kind, tf_h1_head *out);

/*
 * Re-points the spans of h, parsed from the buffer at from, at an identical
 * copy of those bytes at to (same offsets). head_len is unchanged.
 */
void tf_h1_head_move(tf_h1_head *h, const char *from, const char *to);

/* Case-insensitive lookup of the first field called name; NULL when absent. */
const tf_h1_header *tf_h1_find(const tf_h1_head *h, const char *name);
/* True when p[0..n) equals the NUL-terminated lit, ignoring ASCII case. */
bool tf_h1_token_eq(const char *p, size_t n, const char *lit);

/* Any callback may be NULL (ignored); a NULL sink ignores everything. */
/* on_head may return this to make tf_h1_feed return right after the head
 * (when a body follows), so the caller knows where the body starts. */
#define TF_H1_PAUSE 1

typedef struct tf_h1_sink {
	void *ctx;
	/* The complete head of a message; raw/raw_len is the exact header block.
	 * Returns < 0 to abort, TF_H1_PAUSE to pause after it, else 0. */
	int (*on_head)(void *ctx, const tf_h1_head *head, const uint8_t *raw, size_t raw_len);
	/* Body bytes with chunked framing removed; may be called many times. */
	int (*on_body)(void *ctx, const uint8_t *p, size_t n);
	/* The message is complete (after trailers, if any). */
	int (*on_end)(void *ctx);
} tf_h1_sink;

/* Private state: use the functions below. */
typedef struct tf_h1_framer {
	tf_h1_kind kind;
	int state;
	int sub;                 /* scanner state within a head, size line or trailer */
	int err;                 /* the error once failed */
	tf_buf head;             /* header block being accumulated (cap TF_H1_HEAD_CAP) */
	uint64_t remaining;      /* body or chunk bytes left */
	size_t line_len;         /* chunk-size line / trailer section bytes seen */
	bool no_body_next;       /* responses: the next final response has no body (HEAD) */
	bool chunk_has_digit;
	tf_h1_head parsed;       /* the current message's head (spans into head) */
} tf_h1_framer;

void tf_h1_framer_init(tf_h1_framer *f, tf_h1_kind kind);
/* Releases the head buffer and leaves f as freshly initialised (same kind). */
void tf_h1_framer_free(tf_h1_framer *f);

/*
 * Feeds bytes. Returns the number of bytes consumed (<= n, and > 0 when
 * n > 0); it stops right after the end of a message, so a return smaller
 * than n means a message ended there and the caller should feed the rest
 * again. Returns a negative TF_H1_* error (or -ENOMEM) on malformed input or
 * a sink abort; the framer then keeps returning that error until
 * tf_h1_framer_free() resets it. Binary garbage is refused as soon as a byte
 * that cannot be in a header block arrives, not after TF_H1_HEAD_CAP bytes.
 * Chunk sizes and Content-Length may reach INT64_MAX: bodies are streamed,
 * never buffered. Trailer fields are checked and skipped (at most
 * TF_H1_HEAD_CAP bytes); a chunk-size line (with extensions) is at most
 * TF_H1_MAX_CHUNK_LINE bytes.
 *
 * Responses: 1xx interim responses (except 101) are reported as complete
 * messages without body (on_head + on_end); 204, 304 and responses to HEAD
 * have no body; without Content-Length or chunked, the body runs until
 * tf_h1_framer_eof(). A 101 response ends the message; what follows is not HTTP.
 * Requests: without Content-Length or chunked, there is no body.
 */
ssize_t tf_h1_feed(tf_h1_framer *f, const uint8_t *p, size_t n, const tf_h1_sink *sink);

/*
 * Responses: the next final (non-1xx) response answers a HEAD request and has
 * no body. Call it when that response is the next one the framer will see
 * (one flag, not a queue: clients here do not pipeline).
 */
void tf_h1_framer_expect_no_body(tf_h1_framer *f);

/*
 * The peer closed. Completes a close-delimited body (calls on_end and returns
 * 0, or TF_H1_EABORT); returns TF_H1_INCOMPLETE if a message was cut short,
 * 0 when idle or upgraded, the stored error after a failure.
 */
int tf_h1_framer_eof(tf_h1_framer *f, const tf_h1_sink *sink);

/* True when between messages (nothing of the next message seen yet). */
bool tf_h1_framer_idle(const tf_h1_framer *f);

#endif
