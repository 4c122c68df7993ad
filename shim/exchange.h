/*
 * One request/response pair on a guarded connection, from the moment the
 * request is whole to the moment its answer has been read.
 *
 * Requests are answered in order (HTTP/1.1), so a connection keeps its
 * exchanges in a FIFO: the oldest one owns the response being read. The
 * response is read from a shadow of the bytes the app receives: its head
 * gives status and Bedrock's token headers; its body is decoded (gzip,
 * deflate) into a capped copy that the adapter reads usage from at the end.
 * When the answer is complete, or the connection ends without one, the
 * call is settled and booked (totals, events).
 *
 * All functions are called with the connection's lock held.
 */
#ifndef TF_EXCHANGE_H
#define TF_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "call.h"
#include "decode.h"
#include "enforce.h"
#include "http1.h"
#include "streamuse.h"

/* What we keep of a response body to read usage from. Responses carrying
 * usage are small; a bigger one is settled at its reservation. */
#define TF_EX_BODY_CAP ((size_t)4 << 20)

typedef struct tf_exchange {
	struct tf_exchange *next;
	tf_call call;
	tf_enforcement enf;
	uint64_t approved_fp; /* approved by a human: its fingerprint, else 0 */
	bool head_request; /* HEAD: the response has no body */
	/* A blocked request whose answer rides on a stand-in (see flow.c): the
	 * server's reply to the stand-in is swallowed and `synthetic` takes
	 * its place in what the app reads. */
	bool standin;
	tf_buf synthetic;
	bool answered;     /* a final (non-1xx) response head was seen */
	tf_decoder dec;
	bool dec_live;
	bool body_bad;     /* decoding failed or passed the cap */
	tf_buf body;

	/*
	 * A streamed response: usage from its events (streamuse.h). When it is
	 * chunked and not content-coded, the shim delivers its body itself
	 * ("managed"): the server's body bytes are replaced by the same payload
	 * re-chunked, released at event/frame boundaries, so that a usage chunk
	 * we asked for can be hidden and the stream can be ended cleanly.
	 */
	tf_streamuse su;
	bool su_live;
	bool managed;
	bool hide_usage;    /* we added include_usage: the app must not see it */
	tf_buf held;        /* payload from `released` on, not yet given to the app */
	uint64_t released;  /* payload offset the app has up to */
	tf_su_span drop;    /* the next span to leave out, when have_drop */
	bool have_drop;
	bool cut;           /* ended by enforcement: the server's rest is discarded */
	bool h2_cuttable;   /* an HTTP/2 stream the layer may cut (tf_exchange_cut_of) */
	bool h2_hide;       /* an HTTP/2 stream hide_usage edits (tf_exchange_edit_of): its
			     * payload is held and released as for a managed one */
	bool h2_shown;      /* an edited stream given up: the rest reaches the app as sent */
	bool cut_due;       /* HTTP/2: a cut was decided, waiting for an event boundary */
	bool cut_reset;     /* HTTP/2: cut, and the server told to stop (RST_STREAM); what
			     * it still had in flight is read (not delivered) and booked */
	char cut_why[256];
	bool cut_closed;    /* ...and the connection shut, so the server stopped */
	uint64_t next_check; /* stream offset at which to look at the budget again */
} tf_exchange;

struct tf_conn;

/* A request is whole: builds its exchange (adapted, decided: ex->enf says
 * forward, block or hold) and appends it to the FIFO. NULL on ENOMEM: the
 * request is then forwarded untracked. */
tf_exchange *tf_exchange_open(struct tf_conn *c, const tf_h1_head *h, const uint8_t *body,
			      size_t body_len);
/*
 * Turns ex (the newest exchange, decided BLOCK) into its synthetic answer.
 * Direct: the answer goes to the app's read queue at once and ex is booked
 * and dropped. Stand-in: ex stays queued, marked to swallow the server's
 * reply to the stand-in request and to deliver the answer in its place.
 */
void tf_exchange_block(struct tf_conn *c, tf_exchange *ex, bool standin);
/* The exchange whose response is read next, or NULL. */
tf_exchange *tf_exchange_front(struct tf_conn *c);

/* Returns TF_H1_PAUSE when the body that follows is managed (see above):
 * the caller then knows exactly where the server's body bytes start. */
int tf_exchange_response_head(struct tf_conn *c, const tf_h1_head *h);
void tf_exchange_response_body(struct tf_conn *c, const uint8_t *p, size_t n);
void tf_exchange_response_end(struct tf_conn *c);
/*
 * HTTP/2 answers streams in any order: the same steps for one given
 * exchange (from tf_exchange_open). A stream's body is never managed there
 * (its DATA frames reach the app as the server sent them; usage is still
 * read from its events; a usage chunk to hide is cut out by the layer,
 * tf_exchange_edit_of). tf_exchange_end_of unlinks ex and settles it;
 * complete says its whole response was read. tf_exchange_blocked books a
 * BLOCK-decided ex whose answer the caller delivers itself, then unlinks
 * and frees it.
 */
void tf_exchange_head_of(struct tf_conn *c, tf_exchange *ex, const tf_h1_head *h);
void tf_exchange_body_of(struct tf_conn *c, tf_exchange *ex, const uint8_t *p, size_t n);
void tf_exchange_end_of(struct tf_conn *c, tf_exchange *ex, bool complete);
/*
 * HTTP/2 live enforcement (the layer's response_cut, h2.h): at the end of a
 * DATA frame, checks the stream as HTTP/1.1 does (tf_enforce_live, every
 * few KiB). True when it must end now: *keep is the last event boundary
 * (>= have, the octets the app already has; while the app is inside an
 * event the answer waits for its end) and event the provider's error event
 * (tf_streamuse_terminator). The call is settled as a cut stream.
 */
bool tf_exchange_cut_of(struct tf_conn *c, tf_exchange *ex, uint64_t have, uint64_t *keep,
			tf_buf *event);
/*
 * HTTP/2 editing (the layer's response_edit, h2.h "Edit"): a stream whose
 * usage chunk must be hidden (hide_usage, uncoded, no stated length) is
 * edited. out == NULL: whether ex is. Otherwise appends to out the payload
 * now decided (whole events, without the drop spans; everything when end),
 * and *held the payload octets still held. After a cut, gives nothing.
 * Never holds more than TF_EXCHANGE_EDIT_HOLD (plus the frame just read):
 * past it, the stream is given up and the rest reaches the app as sent.
 */
#define TF_EXCHANGE_EDIT_HOLD ((size_t)8 << 10)
bool tf_exchange_edit_of(struct tf_conn *c, tf_exchange *ex, bool end, tf_buf *out, uint64_t *held);
void tf_exchange_blocked(struct tf_conn *c, tf_exchange *ex);
/* The server's bytes now being read are not for the app: a stand-in's
 * reply, or the body of a managed stream (delivered re-chunked instead). */
bool tf_exchange_swallowing(struct tf_conn *c);
/* The connection is over: settle what was never answered. */
void tf_exchange_close_all(struct tf_conn *c, const char *why);

#endif
