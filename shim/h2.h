/*
 * The HTTP/2 layer of a guarded connection: a proxy between the app's
 * frames and the server's, inside the app's own TLS connection.
 *
 * Both byte streams are parsed frame by frame (shim/h2frame.h). Each
 * request stream is held until it is whole (HEADERS, CONTINUATION, DATA up
 * to END_STREAM), then shown to the caller's decision (ops.request) as the
 * HTTP/1.1-shaped view of shim/h2msg.h, and forwarded as it was, forwarded
 * rewritten, or answered by us on its stream id and never sent. Responses
 * are read as they pass (ops.response_*), keyed by stream id.
 *
 * Keeping both peers consistent (the hard part; see also README.md):
 *
 * HPACK. Requests are re-encoded: every header block the app sends is
 *   decoded by an inflater that mirrors the server's view of the app's
 *   encoder, and whatever is forwarded is encoded again by our own deflater,
 *   whose table the server's decoder mirrors. So a dropped block (a blocked
 *   request) or a changed one (:path, content-length, authorization) cannot
 *   put the server's table out of step. Responses are not re-encoded: the
 *   server's blocks reach the app byte for byte (and are decoded on a
 *   passive mirror to read status and headers); our own answers to the app
 *   are encoded "neutrally" (tf_hpack_encode_neutral: no dynamic-table
 *   reference or insertion), so the app's decoder state is untouched.
 *   Table-size settings are applied to each mirror when the peer that owns
 *   the real decoder acknowledges them.
 *
 * Flow control. Let A be the app's connection send window as the app sees
 *   it, S the server's receive window as the server sees it, and held the
 *   DATA octets the app sent that the server has not been sent (yet). The
 *   layer keeps debt = A - S + held >= 0:
 *   - octets that will never reach the server (a blocked or cancelled
 *     request, padding, a rewrite that shortened the body) lower debt; if it
 *     would go negative, the difference is granted to the app with a
 *     WINDOW_UPDATE (the server would have done so had it seen them);
 *   - octets the server gets that the app did not send (a longer rewritten
 *     body) raise debt;
 *   - while a request is held, the app would stall on an exhausted window
 *     (nothing is forwarded, so the server sends no credit): we grant it
 *     credit in advance and raise debt by as much;
 *   - the server's connection WINDOW_UPDATEs first repay debt (those
 *     octets are swallowed) and only the rest reaches the app.
 *   DATA to the server is sent only within the server's connection and
 *   stream windows; what does not fit waits here. Stream-level credit for a
 *   held stream is granted by us (the server does not know the stream yet);
 *   once the app ended its request, stream credit does not matter to it.
 *   In the other direction, DATA we write to the app (a synthetic answer)
 *   uses the app's receive window, which the server does not know about:
 *   the app's next connection WINDOW_UPDATEs are reduced by what it owes
 *   for those octets, so the server never sees credit for bytes it did not
 *   send. Until the app has repaid them, the server believes the app can
 *   take that many octets (< 1 KiB an answer) more than it can: a server
 *   filling the whole connection window in that moment would overflow the
 *   app's (known limit; apps send connection credit as they consume).
 *   A WINDOW_UPDATE, RST_STREAM or PRIORITY for a stream the server never
 *   saw is dropped; one for a held stream waits until its HEADERS.
 *
 * Stream order. A stream's HEADERS is forwarded only after every lower
 *   stream id was forwarded or answered (the server would otherwise close
 *   the lower ids); blocked ids simply never appear, which HTTP/2 allows.
 *
 * Waking the app. An app that reads only when the network has something for
 *   it (memory BIOs: node) would never read an answer we queue from its
 *   write path. Whenever the write path queues bytes for the app, the layer
 *   sends the server a PING with an opaque value of ours; the ACK's arrival
 *   makes the app read, and it finds our bytes first. The ACK itself reaches
 *   the app as a frame of an unknown type, which every peer ignores (RFC
 *   9113 §5.5): node fails on an unsolicited PING ACK, and curl takes a
 *   readable connection that yields nothing for a dead one.
 *
 * Cut (live enforcement, ops.response_cut). A stream that must end is ended
 *   the way the provider ends a failed one, at an event boundary: the app
 *   gets the content up to *keep (the held frame, shortened), then a DATA
 *   frame with the provider's error event; the server gets RST_STREAM
 *   (CANCEL) and a PING of ours. From then on the server's DATA for that
 *   stream is swallowed: still shown to response_data (it was generated, so
 *   it is billed), and its octets are credited back to the server at once
 *   with a connection WINDOW_UPDATE, since the app never sees them to
 *   acknowledge (the shortened frame's missing part likewise). The event's
 *   octets use the app's receive windows and are owed, as for our answers.
 *   END_STREAM is withheld from the app until the server can send nothing
 *   more on the stream: its DATA or trailers with END_STREAM, its
 *   RST_STREAM, or the ACK of our PING (sent after the RST_STREAM, so every
 *   frame the server sent on the stream precedes it). Header blocks cannot
 *   be swallowed: HPACK is stateful and the app's decoder mirrors the
 *   server's encoder, so a dropped block that inserted into the dynamic
 *   table would corrupt every later response; nor can a block be forwarded
 *   on a stream the app saw end (a connection error, RFC 9113 §5.1). Keeping
 *   the app's stream open until then lets trailers that were already in
 *   flight reach the app as they are, on an open stream (they end it). The
 *   call ends (response_end) when the server is done; the app's RST_STREAM
 *   or WINDOW_UPDATE for a cut stream stays with us (the server already
 *   forgot the stream).
 *
 * Edit (ops.response_edit). A stream whose content the app must read
 *   changed (a usage chunk we asked for, hidden) reaches the app as DATA
 *   frames of ours: the server's frames are read whole, their content goes
 *   to the caller, and what it gives back is sent in frames of at most
 *   16 KiB (legal whatever the app's SETTINGS), END_STREAM on the last (an
 *   empty one when nothing is left). Octets the app will never get (what
 *   the caller dropped, padding) are credited back to the server at once,
 *   with a WINDOW_UPDATE on the connection and on the stream (it stays
 *   open; the app acknowledges only what it received). Octets the caller
 *   holds (the rest of an unfinished event) are counted by the server's
 *   windows until given or dropped, so the caller must bound them below
 *   the app's stream window (the exchange gives a stream up past 8 KiB). Since
 *   the app is always sent no more than the server was, both of the app's
 *   receive windows stay within what the server believes. Trailers first
 *   flush what is held. A cut of an edited stream (response_cut: have and
 *   keep count the octets the app got) credits what is held with the rest.
 *
 * Failure. Malformed app output after the preface (framing, a header block
 *   that does not decode) ends the connection as a server would: GOAWAY to
 *   both sides and nothing more forwarded (raw pass-through is impossible
 *   once blocks are re-encoded). A non-HTTP/2 preface makes the whole
 *   connection pass through untouched. Malformed server output makes the
 *   rest of the server's bytes pass through untouched (no more answers can
 *   be injected) and every open call is settled conservatively
 *   (response_end with complete = false). With policing off
 *   (tf_h2_stop_policing) streams are forwarded as they come, still
 *   re-encoded.
 *
 * Bounds: request header lists (64 KiB, 256 fields by default), a held body
 * per stream and per connection, live streams (past the cap a new stream
 * gets REFUSED_STREAM), our credit in advance, and the small control-frame
 * buffers. Responses are streamed, never buffered, except a watched DATA
 * frame (64 KiB at most) and what the caller of an edited stream holds.
 *
 * Pure: no TLS, no threads, no globals; the caller serialises calls.
 */
#ifndef TF_H2_H
#define TF_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hpack.h"
#include "http1.h"

typedef enum tf_h2_verdict {
	TF_H2V_FORWARD, /* send the request as the app sent it */
	TF_H2V_REWRITE, /* send d->fields and d->body instead */
	TF_H2V_BLOCK,   /* answer with d->msg (an HTTP/1.1 response); never send */
	TF_H2V_DROP,    /* neither send nor answer (RST_STREAM REFUSED_STREAM to the app) */
} tf_h2_verdict;

typedef struct tf_h2_req {
	uint32_t sid;
	/* The HTTP/1.1-shaped view (h2msg.h), or NULL when the request cannot be
	 * viewed (no :method/:path, CR/LF in a field, too many fields). */
	const tf_h1_head *head;
	const char *raw;
	size_t raw_len;
	bool host_added; /* the view's host line came from :authority */
	const tf_hlist *fields;
	const uint8_t *body; /* NULL when oversize */
	size_t body_len;
	/* The header list or the body went past the caps; head/body are what fit. */
	bool oversize;
} tf_h2_req;

typedef struct tf_h2_decision {
	tf_h2_verdict verdict;
	/* FORWARD/REWRITE: given back to the response callbacks; NULL: untracked. */
	void *user;
	/* Scratch owned by the layer, empty on entry: REWRITE puts the new
	 * header list in *fields and points body/body_len at the new body (it
	 * may live in *msg); BLOCK puts a whole HTTP/1.1 response in *msg. */
	tf_hlist *fields;
	tf_buf *msg;
	const uint8_t *body;
	size_t body_len;
} tf_h2_decision;

typedef struct tf_h2_ops {
	void *ctx;
	void (*request)(void *ctx, const tf_h2_req *rq, tf_h2_decision *d);
	/* The final (non-1xx) response head of a tracked stream. */
	void (*response_head)(void *ctx, void *user, const tf_h1_head *h);
	void (*response_data)(void *ctx, void *user, const uint8_t *p, size_t n);
	/* The stream is over; complete: the whole response was read. Called
	 * exactly once per tracked stream; user is not used afterwards. */
	void (*response_end)(void *ctx, void *user, bool complete);
	/*
	 * Live enforcement (optional: NULL, streams are never cut). Asked at the
	 * end of each DATA frame of a tracked stream whose head was shown, after
	 * the frame's content went to response_data and before the frame reaches
	 * the app (such frames are held until whole). have: the content octets
	 * the app already has. Returns true when the stream must end here: the
	 * app is given the response's first *keep content octets in all
	 * (have <= *keep <= have + this frame's content), then one DATA frame
	 * with *event (scratch owned by the layer, empty on entry). See "Cut"
	 * above for what follows.
	 */
	bool (*response_cut)(void *ctx, void *user, uint64_t have, uint64_t *keep, tf_buf *event);
	/*
	 * Editing (optional: NULL, never). Asked with out == NULL right after
	 * response_head: true when the stream's content is edited (see "Edit"
	 * above); the answer holds for the stream's life. Then asked at the end
	 * of each of its DATA frames, after the frame's content went to
	 * response_data (and before response_end or response_cut): appends to
	 * out (scratch, empty on entry) the content the app gets now in place
	 * of what it was sent, and sets *held to the content octets received
	 * that are neither given nor dropped yet (they come in a later answer).
	 * end: nothing more will be received; give everything. Returns true.
	 */
	bool (*response_edit)(void *ctx, void *user, bool end, tf_buf *out, uint64_t *held);
} tf_h2_ops;

typedef struct tf_h2_limits {
	size_t max_streams;    /* live streams */
	size_t body_cap;       /* held body per stream */
	size_t held_cap;       /* held bodies per connection */
	size_t list_bytes;     /* decoded request header list */
	size_t list_fields;
	uint32_t grant_target; /* the window our advance credit restores */
} tf_h2_limits;

#define TF_H2_DEFAULT_LIMITS { 128, (size_t)32 << 20, (size_t)64 << 20, 64 * 1024, 256, 4u << 20 }

typedef struct tf_h2 tf_h2;

/* NULL on ENOMEM. limits may be NULL (defaults). */
tf_h2 *tf_h2_new(const tf_h2_ops *ops, const tf_h2_limits *limits);
/* Ends every tracked stream (response_end, complete = false) and frees. */
void tf_h2_free(tf_h2 *h);

/*
 * The app wrote n bytes. Everything is consumed; what the server must get
 * is appended to to_server, what the app must read to to_app (only at a
 * frame boundary of what it reads). Returns 0, or -ENOMEM / -ENOBUFS when
 * an output buffer is full (the layer then ends the connection as above).
 */
int tf_h2_from_app(tf_h2 *h, const uint8_t *p, size_t n, tf_buf *to_server, tf_buf *to_app);
/* The server sent n bytes (just read). Same outputs. */
int tf_h2_from_server(tf_h2 *h, const uint8_t *p, size_t n, tf_buf *to_server, tf_buf *to_app);
/* The server closed: every tracked stream ends, incomplete. */
void tf_h2_server_closed(tf_h2 *h);
/* From now on streams are forwarded as they come, untracked. */
void tf_h2_stop_policing(tf_h2 *h);

/* Introspection for tests and logs. */
typedef struct tf_h2_stats {
	uint64_t requests, forwarded, rewritten, blocked, refused;
	uint64_t grants, granted_octets, wake_pings;
	uint64_t cut, swallowed_octets; /* streams cut; server DATA octets never shown */
	uint64_t edited, hidden_octets; /* edited DATA frames; octets of them never shown */
	int64_t debt, owed;
	size_t live_streams, held_octets, waiting_octets;
	bool app_broken, server_broken, passthrough, policing;
} tf_h2_stats;
void tf_h2_get_stats(const tf_h2 *h, tf_h2_stats *st);

#endif
