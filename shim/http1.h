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
#define TF_H1_MAX_HEADERS 128
#define TF_H1_MAX_CHUNK_LINE 1024

enum {
	TF_H1_INCOMPLETE = -2, /* tf_h1_parse_head: need more bytes */
	TF_H1_EMALFORMED = -1, /* syntax error */
	TF_H1_ETOOBIG = -3,    /* head, header count, chunk line or length past a cap */
	TF_H1_EABORT = -4,     /* a sink callback returned < 0 */
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
	int64_t content_length; /* -1 when absent */
	bool chunked;           /* Transfer-Encoding ends in "chunked" */
	bool conn_close;        /* "Connection: close", or HTTP/1.0 without keep-alive */
	bool expect_continue;   /* "Expect: 100-continue" (requests) */
	size_t head_len;        /* bytes of the whole header block incl. the empty line */
} tf_h1_head;

/*
 * Parses a header block at buf[0..len). Returns the number of bytes of the
 * block (> 0), TF_H1_INCOMPLETE, TF_H1_EMALFORMED or TF_H1_ETOOBIG (more than
 * TF_H1_MAX_HEADERS fields). Conflicting Content-Length values, or both
 * Content-Length and chunked on a request, are TF_H1_EMALFORMED (request
 * smuggling shapes). Spans in *out point into buf.
 */
int tf_h1_parse_head(const char *buf, size_t len, tf_h1_kind kind, tf_h1_head *out);

/* Case-insensitive lookup of the first field called name; NULL when absent. */
const tf_h1_header *tf_h1_find(const tf_h1_head *h, const char *name);
bool tf_h1_token_eq(const char *p, size_t n, const char *lit);

typedef struct tf_h1_sink {
	void *ctx;
	/* The complete head of a message; raw/raw_len is the exact header block. */
	int (*on_head)(void *ctx, const tf_h1_head *head, const uint8_t *raw, size_t raw_len);
	/* Body bytes with chunked framing removed; may be called many times. */
	int (*on_body)(void *ctx, const uint8_t *p, size_t n);
	/* The message is complete (after trailers, if any). */
	int (*on_end)(void *ctx);
} tf_h1_sink;

typedef struct tf_h1_framer {
	tf_h1_kind kind;
	int state;
	tf_buf head;             /* header block being accumulated */
	uint64_t remaining;      /* body or chunk bytes left */
	size_t line_len;         /* chunk-size / trailer line bytes seen */
	int chunk_state;
	bool no_body_next;       /* responses: the next response has no body (HEAD) */
	bool close_delimited;    /* responses: body ends when the connection does */
	bool chunk_has_digit;
	bool trailer_nonempty;
	tf_h1_head parsed;       /* the current message's head (spans into head) */
} tf_h1_framer;

void tf_h1_framer_init(tf_h1_framer *f, tf_h1_kind kind);
void tf_h1_framer_free(tf_h1_framer *f);

/*
 * Feeds bytes. Returns the number of bytes consumed (<= n); it stops right
 * after the end of a message, so a return smaller than n means a message
 * ended there and the caller should feed the rest again. Returns a negative
 * TF_H1_* error on malformed input or a sink abort; the framer is then
 * unusable until tf_h1_framer_init() again.
 *
 * Responses: 1xx interim responses (except 101) are reported as complete
 * messages without body (on_head + on_end); 204, 304 and responses to HEAD
 * have no body; without Content-Length or chunked, the body runs until
 * tf_h1_framer_eof(). A 101 response ends the message; what follows is not HTTP.
 * Requests: without Content-Length or chunked, there is no body.
 */
ssize_t tf_h1_feed(tf_h1_framer *f, const uint8_t *p, size_t n, const tf_h1_sink *sink);

/* Responses: the next response answers a HEAD request (no body). */
void tf_h1_framer_expect_no_body(tf_h1_framer *f);

/*
 * The peer closed. Completes a close-delimited body (calls on_end and returns
 * 0); returns TF_H1_INCOMPLETE if a message was cut short, 0 when idle.
 */
int tf_h1_framer_eof(tf_h1_framer *f, const tf_h1_sink *sink);

/* True when between messages (nothing of the next message seen yet). */
bool tf_h1_framer_idle(const tf_h1_framer *f);

#endif
