/*
 * Incremental Server-Sent Events parser (WHATWG HTML, "Interpreting an event
 * stream"), for Azure OpenAI streamed responses (reference/WIRE.md §4.5).
 *
 * Feed the de-chunked, decoded body in any pieces. Lines end in CRLF, LF or
 * CR (a CR ending one feed and an LF starting the next are one line end); a
 * UTF-8 BOM at the very start is skipped. Fields: "event" sets the event
 * name, "data" lines are joined with "\n", "id" sets the last event ID
 * (ignored when it contains NUL or is longer than TF_SSE_MAX_ID), "retry"
 * (ASCII digits only) sets the reconnection time; lines starting with ':' and
 * unknown fields are ignored; one space after the colon is removed. A blank
 * line dispatches the event, unless no data line was seen. An event left
 * unfinished when the stream ends is never dispatched. Bytes are passed
 * through as they are (no UTF-8 validation).
 *
 * Memory is bounded by the cap given at init: when the pending event (event
 * name + data + the current line) would exceed it, on_overflow is called once
 * and the parser drops everything up to and including the next blank line,
 * then carries on.
 */
#ifndef TF_SSE_H
#define TF_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TF_SSE_DEFAULT_CAP ((size_t)1 << 20)
#define TF_SSE_MAX_ID 1024

enum {
	TF_SSE_EABORT = -4, /* a sink callback returned < 0 */
};

/* Spans are valid only during the callback. */
typedef struct tf_sse_event {
	const char *event; /* "message" when no event field was given */
	size_t event_len;
	const char *data; /* data lines joined with "\n" (no trailing "\n") */
	size_t data_len;
	const char *id; /* the last event ID so far ("" when none) */
	size_t id_len;
	int64_t retry_ms; /* the last valid retry field, -1 when none */
} tf_sse_event;

/* Either callback may be NULL; a NULL sink ignores everything. */
typedef struct tf_sse_sink {
	void *ctx;
	int (*on_event)(void *ctx, const tf_sse_event *ev);
	/* The pending event passed the cap and is being dropped. */
	int (*on_overflow)(void *ctx);
} tf_sse_sink;

/* Private state: use the functions below. */
typedef struct tf_sse_parser {
	size_t cap;
	tf_buf line;  /* a line split across feeds */
	tf_buf data;  /* data lines of the pending event, each followed by "\n" */
	tf_buf event; /* event name of the pending event */
	tf_buf id;    /* last event ID */
	int64_t retry_ms;
	uint8_t bom_seen;  /* BOM bytes matched so far at the start */
	bool started;      /* past the BOM check */
	bool after_cr;     /* the last line ended in CR: skip one LF */
	bool discarding;   /* dropping an oversized event up to a blank line */
	bool line_nonempty; /* discarding: the current line has content */
	int err;
	uint64_t events;    /* events dispatched */
	uint64_t overflows; /* events dropped by the cap */
} tf_sse_parser;

/* cap: bound on a pending event; 0 = TF_SSE_DEFAULT_CAP. */
void tf_sse_init(tf_sse_parser *p, size_t cap);
/* Releases memory and leaves p freshly initialised (same cap). */
void tf_sse_free(tf_sse_parser *p);

/*
 * Consumes all of buf[0..n). Returns 0, TF_SSE_EABORT or -ENOMEM; errors are
 * sticky until tf_sse_free().
 */
int tf_sse_feed(tf_sse_parser *p, const uint8_t *buf, size_t n, const tf_sse_sink *sink);

/* True when nothing of an unfinished line or event is pending. */
bool tf_sse_idle(const tf_sse_parser *p);

#endif
