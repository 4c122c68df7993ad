#include "h2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h2frame.h"
#include "h2msg.h"
#include "log.h"

/* Below this much send window the app may stall on a held request. */
#define LOW_WATER 32768
/* Control frames we read whole (SETTINGS is the longest: 6 octets a setting). */
#define COLLECT_CAP 1024
#define RING 64
#define MAX_PINGS 8
#define HTS_Q 16
#define HTS_NONE UINT32_MAX
/* A stream's body buffer may pass its soft cap by at most one frame. */
#define FRAME_SLACK ((size_t)TF_H2F_MAX_LEN + 1)
#define NO_GOAWAY UINT32_MAX
/* A server DATA frame of a watched stream is held whole up to this length
 * (the default maximum frame is 16 KiB); a longer one passes as it comes and
 * cannot be where a cut happens. */
#define HOLD_CAP ((size_t)64 * 1024)

enum sstate {
	S_RECV,    /* the app is still sending the request; nothing forwarded */
	S_WHOLE,   /* the request is whole, waiting for its turn */
	S_FWD,     /* forwarded whole (HEADERS sent; DATA may wait for windows) */
	S_PASS,    /* forwarded as it comes (policing off, or past the caps) */
	S_BLOCKED, /* answered by us; the server never saw it */
};

struct stream {
	struct stream *next;
	uint32_t id;
	enum sstate st;
	bool hdrs_done; /* the request's header block is decoded */
	bool app_end;   /* END_STREAM (or RST_STREAM) from the app */
	bool reset;     /* reset by either side */
	bool oversize;
	bool counted;   /* body.len is part of h->held */
	bool resp_started, resp_end;
	bool tracked;
	bool need_end; /* HEADERS went out without END_STREAM; it is still owed */
	bool syn_done;
	void *user;
	tf_hlist hl;  /* request fields */
	tf_hlist trl; /* request trailers, if any */
	bool has_trl;
	tf_buf body; /* held body, then what remains to forward from `sent` */
	size_t sent;
	uint64_t fc_in;  /* flow-controlled octets from the app not yet netted */
	int64_t app_win; /* the app's send window on this stream, as it sees it */
	int64_t srv_win; /* the server's receive window for our DATA */
	uint64_t wu_pending;
	tf_buf syn; /* BLOCKED: our answer's body; cut: the error event; from syn_off */
	size_t syn_off;
	int64_t app_recv; /* the app's receive window on this stream (BLOCKED, FWD, PASS) */
	/* response side */
	uint64_t resp_have; /* content octets of the response the app has */
	bool cut;           /* cut by live enforcement: the server's DATA is swallowed */
	bool cut_srv_done;  /* ...and the server can send nothing more on it */
	bool cut_fin;       /* ...and the app has its END_STREAM (or reset the stream) */
	uint32_t cut_ping;  /* the PING sent after our RST_STREAM; 0: not yet */
	bool edit;          /* the content is edited (ops.response_edit) */
	uint64_t edit_pending; /* server DATA octets neither given to the app nor credited */
};

enum mode {
	M_DROP,    /* payload skipped */
	M_PASS,    /* header already emitted; payload copied through */
	M_COLLECT, /* payload kept whole in col; handled at the end */
	M_HPACK,   /* header block fragment (outbound: decoded, re-encoded later) */
	M_HOLD,    /* outbound DATA of a held request */
	M_QUEUE,   /* outbound DATA of a stream being forwarded as it comes */
	M_INHOLD,  /* inbound DATA of a watched stream, held until the frame is whole */
	M_SWALLOW, /* inbound DATA of a cut stream: never shown to the app */
	M_EDIT,    /* inbound DATA of an edited stream: the caller gives the content */
};

enum block_kind { B_REQ, B_TRL, B_DISCARD, B_RESP, B_OTHER };

struct dir {
	tf_h2f_reader rd;
	enum mode mode;
	bool inspect; /* M_PASS that also collects the first octets into col */
	uint8_t col[COLLECT_CAP];
	size_t col_len;
	/* content of a padded frame: [pre, len - pad) */
	uint32_t pre;
	uint32_t pad;
	bool padded;
	size_t content; /* content octets of the current frame so far */
	/* header block in progress (frames of other types must not interleave) */
	bool blk;
	bool blk_last; /* the current frame carries END_HEADERS */
	uint32_t blk_sid;
	bool blk_end_stream;
	enum block_kind blk_kind;
	bool blk_refused;
	bool first_settings_done;
	/* inbound: a frame's header went to the app, its payload is under way;
	 * outbound: a frame from the app is under way */
	bool mid;
};

struct tf_h2 {
	tf_h2_ops ops;
	tf_h2_limits lim;
	struct dir out; /* app -> server */
	struct dir in;  /* server -> app */
	tf_hpack_in req_in;   /* the server's decoder of the app's blocks, mirrored */
	tf_hpack_out req_out; /* our encoder; the server decodes it */
	tf_hpack_in resp_in;  /* the app's decoder of the server's blocks, mirrored */
	tf_hlist resp_list;
	tf_hlist scratch_list;
	struct stream *streams, *tail;
	size_t nstreams;
	uint32_t max_app_sid, max_fwd_sid, goaway_last;
	uint32_t ring[RING];
	size_t ring_pos;
	int64_t debt, owed;
	int64_t app_win;  /* the app's connection send window, as it sees it */
	int64_t srv_win;  /* the server's connection receive window for our DATA */
	int64_t app_recv; /* the app's connection receive window */
	uint32_t srv_initial, app_initial;
	uint32_t srv_hts[HTS_Q], app_hts[HTS_Q]; /* table sizes awaiting the other side's ACK */
	size_t nsrv_hts, napp_hts;
	size_t held; /* body octets of undecided streams */
	tf_buf pend_app;
	uint8_t pings[MAX_PINGS][8];
	size_t npings;
	uint32_t ping_ctr;
	bool queued_for_app;
	bool app_broken, srv_broken, passthrough, policing, resp_broken;
	tf_buf *ts, *ta;
	int err;
	/* scratch */
	tf_buf text, dmsg, hblock, frames, inframe, event, edited;
	tf_hlist dfields;
	tf_h1_head *view;
	tf_h2_stats st;
};

/* ---- small helpers ---- */

static void emit_srv(tf_h2 *h, const void *p, size_t n)
{
	int r = n ? tf_buf_append(h->ts, p, n) : 0;

	if (r && !h->err)
		h->err = r;
}

static void emit_app(tf_h2 *h, const void *p, size_t n)
{
	int r = n ? tf_buf_append(h->ta, p, n) : 0;

	if (r && !h->err)
		h->err = r;
}

static void emit_header_to(tf_h2 *h, bool to_server, const tf_h2f_header *fh)
{
	uint8_t b[TF_H2F_HEADER_LEN];

	tf_h2f_write_header(b, fh);
	if (to_server)
		emit_srv(h, b, sizeof(b));
	else
		emit_app(h, b, sizeof(b));
}

/* The app may get our frames only between the server's frames, outside a
 * header block, and after the server's first SETTINGS (its preface). */
static bool app_side_open(const tf_h2 *h)
{
	return !h->srv_broken && h->in.first_settings_done && !h->in.blk && !h->in.mid;
}

static void flush_pending(tf_h2 *h)
{
	if (!h->pend_app.len || !app_side_open(h))
		return;
	emit_app(h, h->pend_app.data, h->pend_app.len);
	tf_buf_reset(&h->pend_app);
}

/* Frames of ours for the app: queued until the read side is at a boundary. */
static void inject(tf_h2 *h, const tf_buf *frames)
{
	int r;

	if (h->srv_broken || !frames->len)
		return;
	r = tf_buf_append(&h->pend_app, frames->data, frames->len);
	if (r && !h->err)
		h->err = r;
	h->queued_for_app = true;
	flush_pending(h);
}

static void inject_window_update(tf_h2 *h, uint32_t sid, uint32_t inc)
{
	tf_buf_reset(&h->frames);
	if (tf_h2f_put_window_update(&h->frames, sid, inc) == 0)
		inject(h, &h->frames);
}

static void inject_rst(tf_h2 *h, uint32_t sid, uint32_t code)
{
	tf_buf_reset(&h->frames);
	if (tf_h2f_put_rst_stream(&h->frames, sid, code) == 0)
		inject(h, &h->frames);
}

static struct stream *find(const tf_h2 *h, uint32_t sid)
{
	for (struct stream *s = h->streams; s; s = s->next)
		if (s->id == sid)
			return s;
	return NULL;
}

/* A stream the server may answer: one it was sent. Its frames about any
 * other stream id are not about a request of ours. */
static struct stream *find_sent(const tf_h2 *h, uint32_t sid)
{
	struct stream *s = find(h, sid);

	return s && (s->st == S_FWD || s->st == S_PASS) ? s : NULL;
}

static void ring_add(tf_h2 *h, uint32_t sid)
{
	h->ring[h->ring_pos++ % RING] = sid;
}

static bool ring_has(const tf_h2 *h, uint32_t sid)
{
	for (size_t i = 0; i < RING; i++)
		if (h->ring[i] == sid)
			return true;
	return false;
}

/* Does the server know this stream (so frames for it may be forwarded)? */
static bool server_knows(const tf_h2 *h, uint32_t sid)
{
	const struct stream *s = find(h, sid);

	if (s)
		return s->st == S_FWD || s->st == S_PASS;
	if ((sid & 1) == 0)
		return true; /* server-initiated */
	return sid <= h->max_fwd_sid && !ring_has(h, sid);
}

static uint32_t clamp_window(int64_t v)
{
	return v > TF_H2F_MAX_WINDOW ? TF_H2F_MAX_WINDOW : v < 0 ? 0 : (uint32_t)v;
}

/*
 * Octets the server will (delta > 0) or will never (delta < 0) get beyond
 * what the app sent: keeps debt = A - S + held, granting the app what a
 * negative debt would otherwise withhold (see h2.h).
 */
static void adjust(tf_h2 *h, int64_t delta)
{
	h->debt += delta;
	if (h->debt < 0) {
		uint32_t g = clamp_window(-h->debt);

		if (g && !h->app_broken)
			inject_window_update(h, 0, g);
		h->app_win += g;
		h->debt = 0;
	}
}

static void stream_free(struct stream *s)
{
	tf_hlist_free(&s->hl);
	tf_hlist_free(&s->trl);
	tf_buf_free(&s->body);
	tf_buf_free(&s->syn);
	free(s);
}

static void unheld(tf_h2 *h, struct stream *s)
{
	if (s->counted) {
		h->held -= s->body.len;
		s->counted = false;
	}
}

/* The call of a tracked stream ends (once); the stream may live on. */
static void end_tracked(tf_h2 *h, struct stream *s, bool complete)
{
	void *user = s->user;

	if (!s->tracked)
		return;
	s->tracked = false;
	s->user = NULL;
	h->ops.response_end(h->ops.ctx, user, complete);
}

static void remove_stream(tf_h2 *h, struct stream *s)
{
	struct stream **pp = &h->streams, *prev = NULL;

	while (*pp && *pp != s) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = s->next;
	if (h->tail == s)
		h->tail = prev;
	h->nstreams--;
	unheld(h, s);
	end_tracked(h, s, false);
	stream_free(s);
}

static struct stream *new_stream(tf_h2 *h, uint32_t sid)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = sid;
	s->st = S_RECV;
	tf_hlist_init(&s->hl, h->lim.list_bytes, h->lim.list_fields);
	tf_hlist_init(&s->trl, h->lim.list_bytes, h->lim.list_fields);
	tf_buf_init(&s->body, h->lim.body_cap + FRAME_SLACK);
	tf_buf_init(&s->syn, (size_t)1 << 20);
	s->app_win = h->srv_initial;
	if (h->tail)
		h->tail->next = s;
	else
		h->streams = s;
	h->tail = s;
	h->nstreams++;
	return s;
}

/* ---- failure modes ---- */

static void end_all(tf_h2 *h)
{
	for (struct stream *s = h->streams; s; s = s->next)
		end_tracked(h, s, false);
}

/* The app's output is not HTTP/2 we can follow: end the connection as a
 * server would (see h2.h). */
static void app_fail(tf_h2 *h, uint32_t code, const char *why)
{
	if (h->app_broken)
		return;
	tf_log(TF_LOG_WARN, "h2: %s; closing the connection (GOAWAY to both sides)", why);
	h->app_broken = true;
	tf_buf_reset(&h->frames);
	if (tf_h2f_put_goaway(&h->frames, h->max_fwd_sid, code) == 0)
		inject(h, &h->frames);
	tf_buf_reset(&h->frames);
	if (h->out.first_settings_done && tf_h2f_put_goaway(&h->frames, 0, code) == 0)
		emit_srv(h, h->frames.data, h->frames.len);
	/* Nothing more is forwarded (pump stops); reap_broken() drops what was
	 * not sent once no caller holds a stream pointer any more. */
}

static void reap_broken(tf_h2 *h)
{
	if (!h->app_broken)
		return;
	for (struct stream *s = h->streams, *n; s; s = n) {
		n = s->next;
		if (s->st != S_FWD && s->st != S_PASS)
			remove_stream(h, s);
	}
}

/* The server's output is not HTTP/2 we can follow: pass the rest through. */
static void srv_fail(tf_h2 *h, const char *why)
{
	if (h->srv_broken)
		return;
	tf_log(TF_LOG_WARN, "h2: server %s; passing its bytes through unparsed and settling "
			    "open calls conservatively", why);
	h->srv_broken = true;
	tf_buf_reset(&h->pend_app);
	if (h->in.mode == M_INHOLD) {
		/* The held part of the frame goes first; the rest follows raw. */
		emit_header_to(h, false, &h->in.rd.fh);
		emit_app(h, h->inframe.data, h->inframe.len);
		h->in.mode = M_PASS;
	}
	end_all(h);
}

static void resp_fail(tf_h2 *h, const char *why)
{
	if (h->resp_broken)
		return;
	tf_log(TF_LOG_WARN, "h2: %s; no longer reading responses on this connection", why);
	h->resp_broken = true;
	end_all(h);
}

/* ---- outbound: forwarding ---- */

/* HEADERS (+ CONTINUATION) of an encoded block to the server. */
static void send_block(tf_h2 *h, uint32_t sid, const tf_hlist *l, bool end_stream)
{
	size_t off = 0;
	bool first = true;
	int r;

	tf_buf_reset(&h->hblock);
	r = tf_hpack_out_encode(&h->req_out, l, &h->hblock);
	if (r) {
		app_fail(h, TF_H2F_INTERNAL_ERROR, "cannot encode a request header block");
		return;
	}
	do {
		size_t n = h->hblock.len - off;
		uint8_t flags = 0;

		if (n > TF_H2F_DEFAULT_MAX_FRAME)
			n = TF_H2F_DEFAULT_MAX_FRAME;
		if (off + n == h->hblock.len)
			flags |= TF_H2F_END_HEADERS;
		if (first && end_stream)
			flags |= TF_H2F_END_STREAM;
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, first ? TF_H2F_HEADERS : TF_H2F_CONTINUATION, flags, sid,
			       h->hblock.data + off, n) == 0)
			emit_srv(h, h->frames.data, h->frames.len);
		off += n;
		first = false;
	} while (off < h->hblock.len);
}

static void open_at_server(tf_h2 *h, struct stream *s, const tf_hlist *l, bool end_stream)
{
	send_block(h, s->id, l, end_stream);
	if (s->id > h->max_fwd_sid)
		h->max_fwd_sid = s->id;
	s->srv_win = h->srv_initial;
	s->app_recv = h->app_initial;
	s->need_end = !end_stream;
	s->sent = 0;
	if (s->wu_pending) {
		tf_buf_reset(&h->frames);
		if (tf_h2f_put_window_update(&h->frames, s->id, clamp_window((int64_t)s->wu_pending)) == 0)
			emit_srv(h, h->frames.data, h->frames.len);
		s->wu_pending = 0;
	}
}

/* DATA within the server's windows; END_STREAM (or trailers) once all is out. */
static void send_data(tf_h2 *h, struct stream *s)
{
	while (s->sent < s->body.len) {
		size_t n = s->body.len - s->sent;
		bool last;

		if (n > TF_H2F_DEFAULT_MAX_FRAME)
			n = TF_H2F_DEFAULT_MAX_FRAME;
		if ((int64_t)n > h->srv_win)
			n = h->srv_win > 0 ? (size_t)h->srv_win : 0;
		if ((int64_t)n > s->srv_win)
			n = s->srv_win > 0 ? (size_t)s->srv_win : 0;
		if (n == 0)
			break;
		last = s->sent + n == s->body.len && s->app_end && !s->has_trl && s->need_end;
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, last ? TF_H2F_END_STREAM : 0, s->id,
			       s->body.data + s->sent, n) == 0)
			emit_srv(h, h->frames.data, h->frames.len);
		s->sent += n;
		h->srv_win -= (int64_t)n;
		s->srv_win -= (int64_t)n;
		if (last)
			s->need_end = false;
	}
	if (s->sent == s->body.len && s->app_end && s->need_end) {
		if (s->has_trl) {
			send_block(h, s->id, &s->trl, true);
		} else {
			tf_buf_reset(&h->frames);
			if (tf_h2f_put(&h->frames, TF_H2F_DATA, TF_H2F_END_STREAM, s->id, NULL, 0) == 0)
				emit_srv(h, h->frames.data, h->frames.len);
		}
		s->need_end = false;
	}
	if (s->sent == s->body.len && s->sent > 0 && s->st == S_PASS) {
		tf_buf_reset(&s->body);
		s->sent = 0;
	}
}

/* Our answer on a stream the server never saw. */
static void answer(tf_h2 *h, struct stream *s, const tf_buf *msg)
{
	size_t body_off = 0;
	int r;

	tf_hlist_reset(&h->scratch_list);
	r = tf_h2msg_response_from_h1(msg->data, msg->len, &h->scratch_list, &body_off);
	tf_buf_reset(&h->hblock);
	if (r == 0)
		r = tf_hpack_encode_neutral(&h->scratch_list, &h->hblock);
	if (r || h->hblock.len > TF_H2F_DEFAULT_MAX_FRAME || msg->len - body_off > s->syn.cap) {
		tf_log(TF_LOG_ERROR, "h2: cannot build the answer to a blocked request; refusing it");
		inject_rst(h, s->id, TF_H2F_REFUSED_STREAM);
		s->syn_done = true;
		s->reset = true;
		return;
	}
	tf_buf_reset(&s->syn);
	tf_buf_append(&s->syn, msg->data + body_off, msg->len - body_off);
	s->syn_off = 0;
	s->app_recv = h->app_initial;
	tf_buf_reset(&h->frames);
	if (tf_h2f_put(&h->frames, TF_H2F_HEADERS,
		       TF_H2F_END_HEADERS | (s->syn.len ? 0 : TF_H2F_END_STREAM), s->id, h->hblock.data,
		       h->hblock.len) == 0)
		inject(h, &h->frames);
	s->syn_done = s->syn.len == 0;
}

/* The answer's DATA within the app's receive windows (which the server
 * does not know about: the octets are owed, see h2.h). */
static void send_answer(tf_h2 *h, struct stream *s)
{
	while (!s->syn_done && s->syn_off < s->syn.len) {
		size_t n = s->syn.len - s->syn_off;
		bool last;

		if (n > TF_H2F_DEFAULT_MAX_FRAME)
			n = TF_H2F_DEFAULT_MAX_FRAME;
		if ((int64_t)n > h->app_recv)
			n = h->app_recv > 0 ? (size_t)h->app_recv : 0;
		if ((int64_t)n > s->app_recv)
			n = s->app_recv > 0 ? (size_t)s->app_recv : 0;
		if (n == 0)
			return;
		last = s->syn_off + n == s->syn.len;
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, last ? TF_H2F_END_STREAM : 0, s->id,
			       s->syn.data + s->syn_off, n) == 0)
			inject(h, &h->frames);
		s->syn_off += n;
		h->app_recv -= (int64_t)n;
		s->app_recv -= (int64_t)n;
		h->owed += (int64_t)n;
		if (last)
			s->syn_done = true;
	}
}

/* A PING of ours to the server (a wake-up, or the end marker of a cut);
 * returns its counter, 0 when too many are outstanding. */
static uint32_t send_ping(tf_h2 *h)
{
	uint8_t op[8] = { 't', 'f', 'h', '2' };

	if (h->npings >= MAX_PINGS)
		return 0;
	if (++h->ping_ctr == 0)
		h->ping_ctr = 1;
	op[4] = (uint8_t)(h->ping_ctr >> 24);
	op[5] = (uint8_t)(h->ping_ctr >> 16);
	op[6] = (uint8_t)(h->ping_ctr >> 8);
	op[7] = (uint8_t)h->ping_ctr;
	tf_buf_reset(&h->frames);
	if (tf_h2f_put_ping(&h->frames, false, op) != 0)
		return 0;
	emit_srv(h, h->frames.data, h->frames.len);
	memcpy(h->pings[h->npings++], op, 8);
	return h->ping_ctr;
}

/* Server DATA octets the app never gets: the server is given its credit
 * back now, since the app will never acknowledge them (see "Cut" in h2.h). */
static void credit_server(tf_h2 *h, uint32_t n)
{
	if (!n)
		return;
	tf_buf_reset(&h->frames);
	if (tf_h2f_put_window_update(&h->frames, 0, n) == 0)
		emit_srv(h, h->frames.data, h->frames.len);
	h->st.swallowed_octets += n;
}

/* The error event of a cut stream within the app's receive windows (owed,
 * as our answers are), then END_STREAM once the server is done with it. */
static void send_cut_event(tf_h2 *h, struct stream *s)
{
	while (!s->cut_fin && s->syn_off < s->syn.len) {
		size_t n = s->syn.len - s->syn_off;
		bool last;

		if (n > TF_H2F_DEFAULT_MAX_FRAME)
			n = TF_H2F_DEFAULT_MAX_FRAME;
		if ((int64_t)n > h->app_recv)
			n = h->app_recv > 0 ? (size_t)h->app_recv : 0;
		if ((int64_t)n > s->app_recv)
			n = s->app_recv > 0 ? (size_t)s->app_recv : 0;
		if (n == 0)
			return;
		last = s->syn_off + n == s->syn.len && s->cut_srv_done;
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, last ? TF_H2F_END_STREAM : 0, s->id,
			       s->syn.data + s->syn_off, n) == 0)
			inject(h, &h->frames);
		s->syn_off += n;
		h->app_recv -= (int64_t)n;
		s->app_recv -= (int64_t)n;
		h->owed += (int64_t)n;
		if (last)
			s->cut_fin = true;
	}
	if (!s->cut_fin && s->cut_srv_done) {
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, TF_H2F_END_STREAM, s->id, NULL, 0) == 0)
			inject(h, &h->frames);
		s->cut_fin = true;
	}
}

/* The server will send nothing more on a cut stream: its call ends; the
 * app's stream ends with our END_STREAM unless app_ended (it got the
 * server's own, or reset the stream itself). */
static void cut_done(tf_h2 *h, struct stream *s, bool complete, bool app_ended)
{
	if (app_ended) {
		s->cut_fin = true;
		s->syn_off = s->syn.len;
	}
	if (s->cut_srv_done)
		return;
	s->cut_srv_done = true;
	end_tracked(h, s, complete);
	send_cut_event(h, s);
}

/*
 * Ends a stream the app has `have` octets of: the first k octets of the
 * held frame's content reach it as a DATA frame of ours, then h->event
 * (see "Cut" in h2.h). srv_ended: the held frame carried END_STREAM.
 */
static void start_cut(tf_h2 *h, struct stream *s, const uint8_t *content, size_t k, uint32_t frame_len,
		      bool srv_ended)
{
	s->cut = true;
	h->st.cut++;
	if (k) {
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, 0, s->id, content, k) == 0)
			emit_app(h, h->frames.data, h->frames.len);
		h->app_recv -= (int64_t)k;
		s->app_recv -= (int64_t)k;
		s->resp_have += k;
	}
	credit_server(h, frame_len - (uint32_t)k);
	tf_buf_reset(&s->syn);
	if (tf_buf_append(&s->syn, h->event.data, h->event.len) != 0)
		tf_buf_reset(&s->syn); /* past 1 MiB: the stream just ends */
	s->syn_off = 0;
	/* Nothing more of the request goes to the server. */
	adjust(h, -(int64_t)(s->body.len - s->sent));
	s->sent = s->body.len;
	if (!srv_ended || s->need_end) {
		tf_buf_reset(&h->frames);
		if (tf_h2f_put_rst_stream(&h->frames, s->id, TF_H2F_CANCEL) == 0)
			emit_srv(h, h->frames.data, h->frames.len);
	}
	s->need_end = false;
	s->reset = true;
	if (srv_ended)
		cut_done(h, s, true, false);
	else
		s->cut_ping = send_ping(h);
	send_cut_event(h, s);
}

/* The ACK of PING number ctr: the server has read our RST_STREAM of every
 * stream cut before it, so it will send nothing more on them. */
static void cut_pings_acked(tf_h2 *h, uint32_t ctr)
{
	for (struct stream *s = h->streams; s; s = s->next)
		if (s->cut && s->cut_ping && !s->cut_srv_done && (int32_t)(ctr - s->cut_ping) >= 0)
			cut_done(h, s, false, false);
}

/* Content for the app on an edited stream, in frames it always accepts;
 * fin: END_STREAM on the last (an empty frame when there is no content). */
static void edit_give(tf_h2 *h, struct stream *s, const uint8_t *p, size_t n, bool fin)
{
	size_t off = 0;

	do {
		size_t k = n - off > TF_H2F_DEFAULT_MAX_FRAME ? TF_H2F_DEFAULT_MAX_FRAME : n - off;
		bool last = off + k == n;

		if (!k && !fin)
			return;
		tf_buf_reset(&h->frames);
		if (tf_h2f_put(&h->frames, TF_H2F_DATA, last && fin ? TF_H2F_END_STREAM : 0, s->id,
			       p ? p + off : NULL, k) == 0)
			emit_app(h, h->frames.data, h->frames.len);
		h->st.edited++;
		off += k;
	} while (off < n);
	h->app_recv -= (int64_t)n;
	s->app_recv -= (int64_t)n;
	s->resp_have += n;
	s->edit_pending -= n < s->edit_pending ? n : s->edit_pending;
}

/* Server octets the app will never get on a stream that goes on: credited
 * back on the connection and, while the server may still send, the stream. */
static void edit_credit(tf_h2 *h, struct stream *s, uint64_t n, bool stream_too)
{
	while (n) {
		uint32_t k = n > TF_H2F_MAX_WINDOW ? TF_H2F_MAX_WINDOW : (uint32_t)n;

		tf_buf_reset(&h->frames);
		if (tf_h2f_put_window_update(&h->frames, 0, k) == 0 &&
		    (!stream_too || tf_h2f_put_window_update(&h->frames, s->id, k) == 0))
			emit_srv(h, h->frames.data, h->frames.len);
		h->st.hidden_octets += k;
		n -= k;
	}
}

/*
 * The end of a server DATA frame of len octets on an edited stream (len 0:
 * trailers are coming, so everything held goes first). end: the server
 * sends no more content; fin: the app's stream ends with it.
 */
static void edit_end(tf_h2 *h, struct stream *s, uint32_t len, bool end, bool fin)
{
	uint64_t held = 0, keep = 0;
	bool cut;

	s->edit_pending += len;
	tf_buf_reset(&h->edited);
	tf_buf_reset(&h->event);
	h->ops.response_edit(h->ops.ctx, s->user, end, &h->edited, &held);
	cut = !end && h->ops.response_cut &&
	      h->ops.response_cut(h->ops.ctx, s->user, s->resp_have + h->edited.len, &keep, &h->event);
	edit_give(h, s, h->edited.data, h->edited.len, fin && !cut);
	if (cut) {
		uint64_t rest = s->edit_pending;

		s->edit_pending = 0;
		s->edit = false;
		start_cut(h, s, NULL, 0, (uint32_t)(rest > UINT32_MAX ? UINT32_MAX : rest), false);
		return;
	}
	if (held > s->edit_pending)
		held = s->edit_pending;
	edit_credit(h, s, s->edit_pending - held, !end && !s->reset);
	s->edit_pending = held;
	if (end)
		s->edit = false;
}

static void decide(tf_h2 *h, struct stream *s)
{
	tf_h2_decision d = { TF_H2V_FORWARD, NULL, &h->dfields, &h->dmsg, NULL, 0 };
	tf_h2_req rq = { .sid = s->id, .fields = &s->hl };
	bool end;
	int r;

	r = tf_h2msg_request_view(&s->hl, s->body.len, &h->text, h->view, &rq.host_added);
	if (r == 0) {
		rq.head = h->view;
		rq.raw = (const char *)h->text.data;
		rq.raw_len = h->text.len;
	}
	rq.oversize = s->oversize || s->hl.truncated;
	rq.body = rq.oversize ? NULL : s->body.data;
	rq.body_len = s->body.len;
	tf_hlist_reset(&h->dfields);
	tf_buf_reset(&h->dmsg);
	h->ops.request(h->ops.ctx, &rq, &d);
	h->st.requests++;
	unheld(h, s);

	if (d.verdict == TF_H2V_REWRITE && rq.oversize)
		d.verdict = TF_H2V_DROP; /* what was not seen cannot be rewritten */
	if (d.verdict == TF_H2V_BLOCK && !h->dmsg.len)
		d.verdict = TF_H2V_DROP;
	if (d.user && (d.verdict == TF_H2V_BLOCK || d.verdict == TF_H2V_DROP)) {
		/* Tracked, but never sent after all: its call ends here. */
		h->ops.response_end(h->ops.ctx, d.user, false);
		d.user = NULL;
	}
	switch (d.verdict) {
	case TF_H2V_FORWARD:
	case TF_H2V_REWRITE:
		if (d.verdict == TF_H2V_REWRITE) {
			tf_buf nb;

			tf_buf_init(&nb, s->body.cap);
			if (tf_buf_append(&nb, d.body, d.body_len) != 0) {
				tf_buf_free(&nb);
				if (d.user)
					h->ops.response_end(h->ops.ctx, d.user, false);
				app_fail(h, TF_H2F_INTERNAL_ERROR, "out of memory rewriting a request");
				return;
			}
			tf_buf_free(&s->body);
			s->body = nb;
			h->st.rewritten++;
		} else {
			h->st.forwarded++;
		}
		adjust(h, (int64_t)s->body.len - (int64_t)s->fc_in);
		s->fc_in = 0;
		s->user = d.user;
		s->tracked = d.user != NULL;
		end = s->app_end && s->body.len == 0 && !s->has_trl;
		open_at_server(h, s, d.verdict == TF_H2V_REWRITE ? &h->dfields : &s->hl, end);
		if (h->app_broken)
			return;
		s->st = s->app_end ? S_FWD : S_PASS;
		tf_hlist_free(&s->hl);
		return;
	case TF_H2V_BLOCK:
		adjust(h, -(int64_t)s->fc_in);
		s->fc_in = 0;
		tf_buf_free(&s->body);
		s->st = S_BLOCKED;
		ring_add(h, s->id);
		h->st.blocked++;
		answer(h, s, &h->dmsg);
		send_answer(h, s);
		return;
	case TF_H2V_DROP:
		adjust(h, -(int64_t)s->fc_in);
		s->fc_in = 0;
		ring_add(h, s->id);
		h->st.refused++;
		inject_rst(h, s->id, TF_H2F_REFUSED_STREAM);
		s->st = S_BLOCKED;
		s->syn_done = true;
		s->reset = true;
		tf_buf_free(&s->body);
		return;
	}
}

/* Streams that stopped mattering to both sides go. */
static bool finished(const struct stream *s)
{
	if (!s->app_end && !s->reset)
		return false;
	if (s->st == S_BLOCKED)
		return s->syn_done;
	if (s->cut)
		return s->cut_srv_done && s->cut_fin;
	if (s->st == S_FWD || s->st == S_PASS)
		return (s->resp_end || s->reset) && (s->sent == s->body.len && !s->need_end);
	return false;
}

/*
 * Moves everything along: decides whole requests in stream order, sends
 * DATA the windows allow, delivers our answers, and forgets finished streams.
 */
static void pump(tf_h2 *h)
{
	bool blocked_order = false;

	/* Nothing goes to a server before it has spoken HTTP/2 (its SETTINGS):
	 * an app may write its request before the handshake says what the
	 * server speaks, and one that does not speak HTTP/2 must not get it.
	 * After its output broke, nothing more is sent either. */
	if (h->passthrough || !h->in.first_settings_done || h->srv_broken) {
		flush_pending(h);
		return;
	}
	for (struct stream *s = h->streams, *n; s && !h->app_broken; s = n) {
		n = s->next;
		if (s->st == S_RECV && h->out.mid && h->out.rd.fh.sid == s->id) {
			/* Its DATA frame is half read (a server frame ended in
			 * between): it is decided once the frame is whole. */
			blocked_order = true;
		} else if (s->st == S_RECV && !blocked_order) {
			if (!s->hdrs_done)
				blocked_order = true;
			else if (!h->policing || s->oversize)
				decide(h, s);
			else
				blocked_order = true;
			if (h->app_broken)
				return;
		} else if (s->st == S_RECV && s->oversize) {
			/* Past the caps behind an earlier request: it cannot be
			 * forwarded in order, and holding it would be unbounded. */
			unheld(h, s);
			adjust(h, -(int64_t)s->fc_in);
			s->fc_in = 0;
			tf_buf_free(&s->body);
			ring_add(h, s->id);
			h->st.refused++;
			inject_rst(h, s->id, TF_H2F_REFUSED_STREAM);
			s->st = S_BLOCKED;
			s->syn_done = true;
			s->reset = true;
		} else if (s->st == S_WHOLE && !blocked_order) {
			if (s->id > h->goaway_last) {
				/* The server said it will not process it: the app
				 * knows from the GOAWAY and retries elsewhere. */
				unheld(h, s);
				adjust(h, -(int64_t)s->fc_in);
				s->fc_in = 0;
				remove_stream(h, s);
				continue;
			}
			decide(h, s);
			if (h->app_broken)
				return;
		}
		if (s->cut) {
			if (!s->cut_ping && !s->cut_srv_done)
				s->cut_ping = send_ping(h);
			send_cut_event(h, s);
		} else if (s->st == S_FWD || s->st == S_PASS)
			send_data(h, s);
		else if (s->st == S_BLOCKED)
			send_answer(h, s);
		if (h->app_broken)
			return;
		if (finished(s))
			remove_stream(h, s);
	}
	flush_pending(h);
}

/* ---- outbound: frames from the app ---- */

static void setup_content(struct dir *d, uint32_t pre_extra)
{
	const tf_h2f_header *f = &d->rd.fh;

	d->padded = (f->type == TF_H2F_DATA || f->type == TF_H2F_HEADERS ||
		     f->type == TF_H2F_PUSH_PROMISE) &&
		    (f->flags & TF_H2F_PADDED);
	d->pre = (d->padded ? 1 : 0) + pre_extra;
	d->pad = 0;
	d->content = 0;
}

/* The part of a payload piece at offset off that is content, not padding or
 * fixed fields. False when the padding is malformed. */
static bool content_of(struct dir *d, uint32_t off, const uint8_t *p, size_t n, const uint8_t **cp,
		       size_t *cn)
{
	uint32_t len = d->rd.fh.len;
	size_t start, end;

	if (len < d->pre)
		return false;
	if (d->padded && off == 0 && n > 0) {
		d->pad = p[0];
		if (d->pad > len - d->pre)
			return false;
	}
	start = off < d->pre ? d->pre - off : 0;
	end = (size_t)off + n > (size_t)(len - d->pad) ? (len - d->pad > off ? len - d->pad - off : 0) : n;
	if (start >= end) {
		*cn = 0;
		return true;
	}
	*cp = p + start;
	*cn = end - start;
	d->content += *cn;
	return true;
}

static void collect(struct dir *d, const uint8_t *p, size_t n)
{
	size_t k = n;

	if (k > COLLECT_CAP - d->col_len)
		k = COLLECT_CAP - d->col_len;
	memcpy(d->col + d->col_len, p, k);
	d->col_len += k;
}

static tf_hlist *block_list(tf_h2 *h, struct dir *d)
{
	struct stream *s;

	switch (d->blk_kind) {
	case B_REQ:
		s = find(h, d->blk_sid);
		return s ? &s->hl : NULL;
	case B_TRL:
		s = find(h, d->blk_sid);
		return s ? &s->trl : NULL;
	case B_RESP:
		return &h->resp_list;
	default:
		return NULL;
	}
}

/* Credit in advance for a held request (see h2.h): the app must be able to
 * finish sending it, though the server, not having seen it, gives none. */
static void grant_conn(tf_h2 *h)
{
	uint32_t g;

	if (h->app_win >= LOW_WATER || h->held >= h->lim.held_cap || h->app_broken)
		return;
	g = clamp_window((int64_t)h->lim.grant_target - h->app_win);
	if (!g)
		return;
	inject_window_update(h, 0, g);
	h->app_win += g;
	h->debt += g;
	h->st.grants++;
	h->st.granted_octets += g;
}

/* Stream credit for a stream the server does not know yet is ours to give. */
static void grant_stream(tf_h2 *h, struct stream *s)
{
	uint32_t g;

	if (s->app_win >= LOW_WATER || s->body.len >= h->lim.body_cap || h->app_broken)
		return;
	g = clamp_window((int64_t)h->lim.grant_target - s->app_win);
	if (!g)
		return;
	inject_window_update(h, s->id, g);
	s->app_win += g;
	h->st.grants++;
}

static void out_headers_begin(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;
	struct stream *s = find(h, f->sid);

	if (f->sid == 0 || (f->sid & 1) == 0) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "HEADERS on an invalid stream id");
		return;
	}
	setup_content(d, (f->flags & TF_H2F_PRIORITY_FLAG) ? 5 : 0);
	if (f->len < d->pre) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "HEADERS shorter than its fields");
		return;
	}
	d->blk = true;
	d->blk_sid = f->sid;
	d->blk_end_stream = f->flags & TF_H2F_END_STREAM;
	d->blk_refused = false;
	d->mode = M_HPACK;
	if (!s) {
		if (f->sid <= h->max_app_sid) {
			d->blk_kind = B_DISCARD;
			return;
		}
		h->max_app_sid = f->sid;
		s = h->nstreams < h->lim.max_streams ? new_stream(h, f->sid) : NULL;
		if (!s) {
			d->blk_kind = B_DISCARD;
			d->blk_refused = true;
			return;
		}
		d->blk_kind = B_REQ;
		return;
	}
	if (s->hdrs_done && !s->app_end && (s->st == S_RECV || s->st == S_PASS)) {
		d->blk_kind = B_TRL;
		tf_hlist_reset(&s->trl);
		return;
	}
	d->blk_kind = B_DISCARD;
}

static void out_block_done(tf_h2 *h)
{
	struct dir *d = &h->out;
	struct stream *s = find(h, d->blk_sid);

	d->blk = false;
	if (tf_hpack_in_feed(&h->req_in, NULL, 0, true, block_list(h, d)) != 0) {
		app_fail(h, TF_H2F_COMPRESSION_ERROR, "a request header block does not decode");
		return;
	}
	if (d->blk_refused) {
		ring_add(h, d->blk_sid);
		h->st.refused++;
		inject_rst(h, d->blk_sid, TF_H2F_REFUSED_STREAM);
		return;
	}
	if (!s || d->blk_kind == B_DISCARD)
		return;
	if (d->blk_kind == B_REQ) {
		s->hdrs_done = true;
		if (s->hl.truncated)
			s->oversize = true;
		if (d->blk_end_stream) {
			s->app_end = true;
			s->st = S_WHOLE;
		} else if (h->policing) {
			grant_stream(h, s);
		}
		return;
	}
	/* trailers */
	s->has_trl = true;
	if (d->blk_end_stream) {
		s->app_end = true;
		if (s->st == S_RECV)
			s->st = S_WHOLE;
	}
}

static void out_data_begin(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;
	struct stream *s = find(h, f->sid);

	if (f->sid == 0) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "DATA on stream 0");
		return;
	}
	setup_content(d, 0);
	d->mode = M_DROP;
	if (f->len < d->pre) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "DATA shorter than its padding");
		return;
	}
	if (!s || s->app_end || s->reset)
		return;
	if (s->st == S_RECV)
		d->mode = M_HOLD;
	else if (s->st == S_PASS)
		d->mode = M_QUEUE;
}

static void out_data_piece(tf_h2 *h, const uint8_t *p, size_t n)
{
	struct dir *d = &h->out;
	struct stream *s = find(h, d->rd.fh.sid);
	const uint8_t *cp = NULL;
	size_t cn = 0;

	if (!content_of(d, d->rd.off - (uint32_t)n, p, n, &cp, &cn)) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "DATA with bad padding");
		return;
	}
	if (!cn || !s)
		return;
	if (d->mode == M_HOLD) {
		if (!s->oversize && (s->body.len + cn > h->lim.body_cap || h->held + cn > h->lim.held_cap))
			s->oversize = true;
		if (tf_buf_append(&s->body, cp, cn) != 0) {
			app_fail(h, TF_H2F_INTERNAL_ERROR, "a request body past every cap");
			return;
		}
		if (!s->counted)
			s->counted = true;
		h->held += cn;
	} else if (d->mode == M_QUEUE) {
		if (tf_buf_append(&s->body, cp, cn) != 0)
			app_fail(h, TF_H2F_INTERNAL_ERROR, "cannot queue request data");
	}
}

static void out_data_end(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;
	struct stream *s = find(h, f->sid);
	int64_t fc = f->len;

	h->app_win -= fc;
	if (s)
		s->app_win -= fc;
	if (d->mode == M_HOLD)
		s->fc_in += (uint64_t)fc;
	else if (d->mode == M_QUEUE)
		adjust(h, (int64_t)d->content - fc); /* only padding never reaches the server */
	else
		adjust(h, -fc);
	if (s && (f->flags & TF_H2F_END_STREAM) && !s->app_end) {
		s->app_end = true;
		if (s->st == S_RECV)
			s->st = S_WHOLE;
	} else if (d->mode == M_HOLD) {
		grant_conn(h);
		grant_stream(h, s);
	}
}

static void out_rst_end(tf_h2 *h)
{
	const tf_h2f_header *f = &h->out.rd.fh;
	struct stream *s = find(h, f->sid);

	if (!s) {
		if (server_knows(h, f->sid)) {
			emit_header_to(h, true, f);
			emit_srv(h, h->out.col, 4);
		}
		return;
	}
	s->app_end = true;
	s->reset = true;
	if (s->cut) {
		/* The server already forgot it; what it still had in flight is
		 * swallowed and counted until it is done. The app gets nothing
		 * more on a stream it reset. */
		s->cut_fin = true;
		s->syn_off = s->syn.len;
		return;
	}
	switch (s->st) {
	case S_RECV:
	case S_WHOLE:
		unheld(h, s);
		adjust(h, -(int64_t)s->fc_in);
		ring_add(h, s->id);
		remove_stream(h, s);
		return;
	case S_FWD:
	case S_PASS:
		emit_header_to(h, true, f);
		emit_srv(h, h->out.col, 4);
		adjust(h, -(int64_t)(s->body.len - s->sent));
		s->sent = s->body.len;
		s->need_end = false;
		remove_stream(h, s);
		return;
	case S_BLOCKED:
		remove_stream(h, s);
		return;
	}
}

static void out_window_update_end(tf_h2 *h)
{
	const tf_h2f_header *f = &h->out.rd.fh;
	uint32_t inc = tf_h2f_u32(h->out.col) & 0x7fffffffu;
	struct stream *s;

	if (f->sid == 0) {
		int64_t r = h->owed < inc ? h->owed : inc;

		h->app_recv += inc;
		h->owed -= r;
		if (inc - r > 0) {
			tf_buf_reset(&h->frames);
			if (tf_h2f_put_window_update(&h->frames, 0, (uint32_t)(inc - r)) == 0)
				emit_srv(h, h->frames.data, h->frames.len);
		}
		return;
	}
	s = find(h, f->sid);
	if (!s) {
		if (server_knows(h, f->sid)) {
			emit_header_to(h, true, f);
			emit_srv(h, h->out.col, 4);
		}
		return;
	}
	switch (s->st) {
	case S_RECV:
	case S_WHOLE:
		s->wu_pending += inc;
		return;
	case S_FWD:
	case S_PASS:
		s->app_recv += inc;
		if (!s->cut) {
			emit_header_to(h, true, f);
			emit_srv(h, h->out.col, 4);
		}
		return;
	case S_BLOCKED:
		s->app_recv += inc;
		return;
	}
}

static void hts_push(uint32_t *q, size_t *n, uint32_t v)
{
	if (*n < HTS_Q)
		q[(*n)++] = v;
}

static uint32_t hts_pop(uint32_t *q, size_t *n)
{
	uint32_t v;

	if (*n == 0)
		return HTS_NONE;
	v = q[0];
	memmove(q, q + 1, (*n - 1) * sizeof(*q));
	(*n)--;
	return v;
}

static void out_settings_end(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;
	uint32_t hts = HTS_NONE;

	emit_header_to(h, true, f);
	emit_srv(h, d->col, d->col_len);
	if (f->flags & TF_H2F_ACK) {
		/* The app applied the server's settings: its encoder may now use
		 * the table size the server allowed. */
		uint32_t v = hts_pop(h->srv_hts, &h->nsrv_hts);

		if (v != HTS_NONE && tf_hpack_in_set_max(&h->req_in, v) != 0)
			app_fail(h, TF_H2F_COMPRESSION_ERROR, "cannot follow a header table size");
		return;
	}
	for (size_t i = 0; i + 6 <= d->col_len; i += 6) {
		uint16_t id = tf_h2f_u16(d->col + i);
		uint32_t v = tf_h2f_u32(d->col + i + 2);

		if (id == TF_H2F_SET_HEADER_TABLE_SIZE) {
			hts = v;
		} else if (id == TF_H2F_SET_INITIAL_WINDOW_SIZE && v <= TF_H2F_MAX_WINDOW) {
			int64_t delta = (int64_t)v - h->app_initial;

			h->app_initial = v;
			for (struct stream *s = h->streams; s; s = s->next)
				s->app_recv += delta;
		}
	}
	hts_push(h->app_hts, &h->napp_hts, hts);
	d->first_settings_done = true;
}

static void out_begin(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;

	d->mode = M_DROP;
	d->inspect = false;
	d->col_len = 0;
	d->mid = true;
	if (d->blk && f->type != TF_H2F_CONTINUATION) {
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "a frame inside a header block");
		return;
	}
	switch (f->type) {
	case TF_H2F_DATA:
		out_data_begin(h);
		return;
	case TF_H2F_HEADERS:
		out_headers_begin(h);
		return;
	case TF_H2F_CONTINUATION:
		if (!d->blk || f->sid != d->blk_sid) {
			app_fail(h, TF_H2F_PROTOCOL_ERROR, "CONTINUATION outside a header block");
			return;
		}
		setup_content(d, 0);
		d->mode = M_HPACK;
		return;
	case TF_H2F_PRIORITY:
		if (server_knows(h, f->sid)) {
			emit_header_to(h, true, f);
			d->mode = M_PASS;
		}
		return;
	case TF_H2F_RST_STREAM:
	case TF_H2F_WINDOW_UPDATE:
		if (f->len != 4 || (f->type == TF_H2F_RST_STREAM && f->sid == 0)) {
			app_fail(h, TF_H2F_PROTOCOL_ERROR, "a malformed control frame");
			return;
		}
		d->mode = M_COLLECT;
		return;
	case TF_H2F_SETTINGS:
		if (f->sid != 0 || f->len % 6 || f->len > COLLECT_CAP ||
		    ((f->flags & TF_H2F_ACK) && f->len)) {
			app_fail(h, TF_H2F_PROTOCOL_ERROR, "a malformed SETTINGS frame");
			return;
		}
		d->mode = M_COLLECT;
		return;
	case TF_H2F_PUSH_PROMISE:
		app_fail(h, TF_H2F_PROTOCOL_ERROR, "PUSH_PROMISE from a client");
		return;
	default: /* PING, GOAWAY, extension frames: as they are */
		emit_header_to(h, true, f);
		d->mode = M_PASS;
		return;
	}
}

static void out_piece(tf_h2 *h, const uint8_t *p, size_t n)
{
	struct dir *d = &h->out;
	const uint8_t *cp = NULL;
	size_t cn = 0;

	switch (d->mode) {
	case M_PASS:
		emit_srv(h, p, n);
		return;
	case M_COLLECT:
		collect(d, p, n);
		return;
	case M_HPACK:
		if (!content_of(d, d->rd.off - (uint32_t)n, p, n, &cp, &cn)) {
			app_fail(h, TF_H2F_PROTOCOL_ERROR, "HEADERS with bad padding");
			return;
		}
		if (cn && tf_hpack_in_feed(&h->req_in, cp, cn, false, block_list(h, d)) != 0)
			app_fail(h, TF_H2F_COMPRESSION_ERROR, "a request header block does not decode");
		return;
	case M_HOLD:
	case M_QUEUE:
		out_data_piece(h, p, n);
		return;
	case M_DROP:
		if (d->rd.fh.type == TF_H2F_DATA && !content_of(d, d->rd.off - (uint32_t)n, p, n, &cp, &cn))
			app_fail(h, TF_H2F_PROTOCOL_ERROR, "DATA with bad padding");
		return;
	case M_INHOLD:
	case M_SWALLOW:
	case M_EDIT:
		return; /* inbound only */
	}
}

static void out_end(tf_h2 *h)
{
	struct dir *d = &h->out;
	const tf_h2f_header *f = &d->rd.fh;

	d->mid = false;
	if (h->app_broken)
		return;
	switch (f->type) {
	case TF_H2F_DATA:
		out_data_end(h);
		break;
	case TF_H2F_HEADERS:
	case TF_H2F_CONTINUATION:
		if (f->flags & TF_H2F_END_HEADERS)
			out_block_done(h);
		break;
	case TF_H2F_RST_STREAM:
		if (d->mode == M_COLLECT)
			out_rst_end(h);
		break;
	case TF_H2F_WINDOW_UPDATE:
		if (d->mode == M_COLLECT)
			out_window_update_end(h);
		break;
	case TF_H2F_SETTINGS:
		if (d->mode == M_COLLECT)
			out_settings_end(h);
		break;
	default:
		break;
	}
	pump(h);
}

/* ---- inbound: frames from the server ---- */

static bool ours(tf_h2 *h, const uint8_t *opaque)
{
	for (size_t i = 0; i < h->npings; i++) {
		if (memcmp(h->pings[i], opaque, 8) == 0) {
			memmove(h->pings[i], h->pings[i + 1], (h->npings - i - 1) * 8);
			h->npings--;
			return true;
		}
	}
	return false;
}

static void in_resp_block_begin(tf_h2 *h, enum block_kind kind)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;

	d->blk = true;
	d->blk_sid = f->sid;
	d->blk_end_stream = f->type == TF_H2F_HEADERS && (f->flags & TF_H2F_END_STREAM);
	d->blk_kind = kind;
	tf_hlist_reset(&h->resp_list);
}

static void resp_ended(tf_h2 *h, struct stream *s, bool complete)
{
	if (!s)
		return;
	end_tracked(h, s, complete);
	s->resp_end = true;
}

static void in_block_done(tf_h2 *h)
{
	struct dir *d = &h->in;
	struct stream *s = find_sent(h, d->blk_sid);

	d->blk = false;
	if (!h->resp_broken &&
	    tf_hpack_in_feed(&h->resp_in, NULL, 0, true, d->blk_kind == B_RESP ? &h->resp_list : NULL) != 0) {
		resp_fail(h, "a response header block does not decode");
		return;
	}
	if (h->resp_broken || !s)
		return;
	if (s->cut) {
		/* Trailers of a cut stream reach the app as they are (see "Cut" in
		 * h2.h); with END_STREAM they end its stream too. */
		if (d->blk_end_stream)
			cut_done(h, s, true, true);
		return;
	}
	if (d->blk_kind == B_RESP && s->tracked && !s->resp_started) {
		if (tf_h2msg_response_view(&h->resp_list, &h->text, h->view) == 0) {
			if (h->view->status >= 200 || h->view->status == 101) {
				s->resp_started = true;
				h->ops.response_head(h->ops.ctx, s->user, h->view);
				s->edit = h->ops.response_edit && !d->blk_end_stream &&
					  h->ops.response_edit(h->ops.ctx, s->user, false, NULL, NULL);
				/* An edited stream's cut counts what the caller gave
				 * (DATA before the head, from a broken server, is not). */
				if (s->edit)
					s->resp_have = 0;
			}
		} else {
			tf_log(TF_LOG_WARN, "h2: stream %u: a response head we cannot read; its call "
					    "is settled at its reservation", (unsigned)s->id);
			end_tracked(h, s, false);
		}
	}
	if (d->blk_end_stream)
		resp_ended(h, s, true);
}

static void in_settings_end(tf_h2 *h)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;

	emit_header_to(h, false, f);
	emit_app(h, d->col, d->col_len);
	if (f->flags & TF_H2F_ACK) {
		uint32_t v = hts_pop(h->app_hts, &h->napp_hts);

		if (v != HTS_NONE && !h->resp_broken && tf_hpack_in_set_max(&h->resp_in, v) != 0)
			resp_fail(h, "cannot follow the app's header table size");
		return;
	}
	{
		uint32_t hts = HTS_NONE;

		for (size_t i = 0; i + 6 <= d->col_len; i += 6) {
			uint16_t id = tf_h2f_u16(d->col + i);
			uint32_t v = tf_h2f_u32(d->col + i + 2);

			if (id == TF_H2F_SET_HEADER_TABLE_SIZE) {
				hts = v;
			} else if (id == TF_H2F_SET_INITIAL_WINDOW_SIZE && v <= TF_H2F_MAX_WINDOW) {
				int64_t delta = (int64_t)v - h->srv_initial;

				h->srv_initial = v;
				for (struct stream *s = h->streams; s; s = s->next) {
					s->app_win += delta;
					if (s->st == S_FWD || s->st == S_PASS)
						s->srv_win += delta;
				}
			}
		}
		if (hts != HTS_NONE && tf_hpack_out_set_max(&h->req_out, hts) != 0)
			app_fail(h, TF_H2F_INTERNAL_ERROR, "cannot follow the server's header table size");
		hts_push(h->srv_hts, &h->nsrv_hts, hts);
	}
	d->first_settings_done = true;
}

static void in_window_update_end(tf_h2 *h)
{
	const tf_h2f_header *f = &h->in.rd.fh;
	uint32_t inc = tf_h2f_u32(h->in.col) & 0x7fffffffu;
	struct stream *s;

	if (f->sid == 0) {
		int64_t r = h->debt < inc ? h->debt : inc;

		h->srv_win += inc;
		h->debt -= r;
		if (inc - r > 0) {
			tf_buf_reset(&h->frames);
			if (tf_h2f_put_window_update(&h->frames, 0, (uint32_t)(inc - r)) == 0)
				emit_app(h, h->frames.data, h->frames.len);
			h->app_win += inc - r;
		}
		return;
	}
	emit_header_to(h, false, f);
	emit_app(h, h->in.col, 4);
	s = find_sent(h, f->sid);
	if (s) {
		s->srv_win += inc;
		s->app_win += inc;
	}
}

static void in_rst_end(tf_h2 *h)
{
	const tf_h2f_header *f = &h->in.rd.fh;
	struct stream *s = find_sent(h, f->sid);

	if (s && s->cut) {
		/* Not the app's business: its stream ends with our END_STREAM. */
		cut_done(h, s, false, false);
		return;
	}
	emit_header_to(h, false, f);
	emit_app(h, h->in.col, 4);
	if (!s || (s->st != S_FWD && s->st != S_PASS))
		return;
	if (s->edit) {
		/* What was held for the app is gone with the stream. */
		edit_credit(h, s, s->edit_pending, false);
		s->edit_pending = 0;
		s->edit = false;
	}
	resp_ended(h, s, false);
	adjust(h, -(int64_t)(s->body.len - s->sent));
	s->sent = s->body.len;
	s->need_end = false;
	s->reset = true;
}

static void in_goaway_seen(tf_h2 *h)
{
	uint32_t last;

	if (h->in.col_len < 8)
		return;
	last = tf_h2f_u32(h->in.col) & 0x7fffffffu;
	if (last < h->goaway_last)
		h->goaway_last = last;
	for (struct stream *s = h->streams; s; s = s->next) {
		if (s->id <= last || (s->st != S_FWD && s->st != S_PASS))
			continue;
		if (s->cut) {
			cut_done(h, s, false, false);
			continue;
		}
		resp_ended(h, s, false);
		adjust(h, -(int64_t)(s->body.len - s->sent));
		s->sent = s->body.len;
		s->need_end = false;
		s->reset = true;
	}
}

static void in_begin(tf_h2 *h)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;
	struct stream *s = find_sent(h, f->sid);

	d->mode = M_PASS;
	d->inspect = false;
	d->col_len = 0;
	flush_pending(h);
	if (d->blk && f->type != TF_H2F_CONTINUATION) {
		srv_fail(h, "sent a frame inside a header block");
		return;
	}
	if (!d->first_settings_done && f->type != TF_H2F_SETTINGS) {
		srv_fail(h, "did not start with SETTINGS");
		return;
	}
	switch (f->type) {
	case TF_H2F_DATA:
		setup_content(d, 0);
		if (s && s->cut) {
			d->mode = M_SWALLOW;
			return;
		}
		if (s && s->edit && s->tracked && !h->resp_broken) {
			d->mode = M_EDIT;
			return;
		}
		if (s && s->tracked && s->resp_started && h->ops.response_cut && !h->resp_broken &&
		    f->len <= HOLD_CAP) {
			/* Held whole, so that a cut can end it at an event boundary. */
			d->mode = M_INHOLD;
			tf_buf_reset(&h->inframe);
			return;
		}
		break;
	case TF_H2F_HEADERS:
		if (s && s->edit && !s->cut && s->tracked && !h->resp_broken)
			edit_end(h, s, 0, true, false);
		setup_content(d, (f->flags & TF_H2F_PRIORITY_FLAG) ? 5 : 0);
		in_resp_block_begin(h, s && s->tracked && !s->resp_started ? B_RESP : B_OTHER);
		break;
	case TF_H2F_PUSH_PROMISE:
		setup_content(d, 4);
		in_resp_block_begin(h, B_OTHER);
		break;
	case TF_H2F_CONTINUATION:
		if (!d->blk || f->sid != d->blk_sid) {
			srv_fail(h, "sent CONTINUATION outside a header block");
			return;
		}
		setup_content(d, 0);
		break;
	case TF_H2F_SETTINGS:
		if (f->sid != 0 || f->len % 6 || f->len > COLLECT_CAP) {
			srv_fail(h, "sent a malformed SETTINGS frame");
			return;
		}
		d->mode = M_COLLECT;
		return;
	case TF_H2F_WINDOW_UPDATE:
	case TF_H2F_RST_STREAM:
		if (f->len != 4) {
			srv_fail(h, "sent a malformed control frame");
			return;
		}
		d->mode = M_COLLECT;
		return;
	case TF_H2F_PING:
		if ((f->flags & TF_H2F_ACK) && f->len == 8) {
			d->mode = M_COLLECT;
			return;
		}
		break;
	case TF_H2F_GOAWAY:
		d->inspect = true;
		break;
	default:
		break;
	}
	emit_header_to(h, false, f);
	d->mid = true;
}

static void in_piece(tf_h2 *h, const uint8_t *p, size_t n)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;
	const uint8_t *cp = NULL;
	size_t cn = 0;
	struct stream *s;

	if (d->mode == M_COLLECT) {
		collect(d, p, n);
		return;
	}
	if (d->mode == M_INHOLD && tf_buf_append(&h->inframe, p, n) != 0) {
		/* Out of memory: the frame passes as it comes after all. */
		emit_header_to(h, false, f);
		emit_app(h, h->inframe.data, h->inframe.len);
		d->mode = M_PASS;
		d->mid = true;
	}
	if (d->mode != M_INHOLD && d->mode != M_SWALLOW && d->mode != M_EDIT)
		emit_app(h, p, n);
	if (d->inspect)
		collect(d, p, n);
	if (f->type != TF_H2F_DATA && f->type != TF_H2F_HEADERS && f->type != TF_H2F_CONTINUATION &&
	    f->type != TF_H2F_PUSH_PROMISE)
		return;
	if (!content_of(d, d->rd.off - (uint32_t)n, p, n, &cp, &cn)) {
		srv_fail(h, "sent a frame with bad padding");
		return;
	}
	if (!cn)
		return;
	if (f->type == TF_H2F_DATA) {
		s = find_sent(h, f->sid);
		if (s && s->tracked && s->resp_started && !h->resp_broken)
			h->ops.response_data(h->ops.ctx, s->user, cp, cn);
		return;
	}
	if (!h->resp_broken &&
	    tf_hpack_in_feed(&h->resp_in, cp, cn, false, d->blk_kind == B_RESP ? &h->resp_list : NULL) != 0)
		resp_fail(h, "a response header block does not decode");
}

/* A server DATA frame is over: passed (already), held (now delivered whole
 * or cut), or swallowed. */
static void in_data_end(tf_h2 *h)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;
	struct stream *s = find_sent(h, f->sid);
	bool end = f->flags & TF_H2F_END_STREAM;
	uint64_t keep = 0;

	if (d->mode == M_SWALLOW) {
		credit_server(h, f->len);
		if (end && s)
			cut_done(h, s, true, false);
		return;
	}
	if (d->mode == M_EDIT) {
		if (!s)
			return;
		edit_end(h, s, f->len, end, end);
		if (end && !s->cut)
			resp_ended(h, s, true);
		return;
	}
	if (d->mode == M_INHOLD) {
		tf_buf_reset(&h->event);
		if (s && s->tracked && !h->resp_broken &&
		    h->ops.response_cut(h->ops.ctx, s->user, s->resp_have, &keep, &h->event) &&
		    keep >= s->resp_have && keep - s->resp_have <= d->content) {
			/* An empty frame holds nothing (and no buffer). */
			start_cut(h, s, h->inframe.data ? h->inframe.data + d->pre : NULL,
				  (size_t)(keep - s->resp_have), f->len, end);
			return;
		}
		emit_header_to(h, false, f);
		emit_app(h, h->inframe.data, h->inframe.len);
	}
	h->app_recv -= f->len;
	if (s) {
		s->app_recv -= f->len;
		s->resp_have += d->content;
	}
	if (end)
		resp_ended(h, s, true);
}

static void in_end(tf_h2 *h)
{
	struct dir *d = &h->in;
	const tf_h2f_header *f = &d->rd.fh;

	switch (f->type) {
	case TF_H2F_DATA:
		in_data_end(h);
		break;
	case TF_H2F_HEADERS:
	case TF_H2F_CONTINUATION:
	case TF_H2F_PUSH_PROMISE:
		if (f->flags & TF_H2F_END_HEADERS)
			in_block_done(h);
		break;
	case TF_H2F_SETTINGS:
		in_settings_end(h);
		break;
	case TF_H2F_WINDOW_UPDATE:
		in_window_update_end(h);
		break;
	case TF_H2F_RST_STREAM:
		in_rst_end(h);
		break;
	case TF_H2F_PING:
		if (d->mode == M_COLLECT && ours(h, d->col)) {
			cut_pings_acked(h, tf_h2f_u32(d->col + 4));
			/* Our wake-up's answer: the app never asked for it (node
			 * fails on an unsolicited PING ACK), but it must read
			 * something (curl takes a readable socket that yields
			 * nothing for a dead connection). It gets a frame of an
			 * unknown type, which every peer ignores (RFC 9113 §5.5). */
			tf_buf_reset(&h->frames);
			if (tf_h2f_put(&h->frames, TF_H2F_TYPE_IGNORED, 0, 0, d->col, 8) == 0)
				emit_app(h, h->frames.data, h->frames.len);
		} else if (d->mode == M_COLLECT) {
			emit_header_to(h, false, f);
			emit_app(h, d->col, d->col_len);
		}
		break;
	case TF_H2F_GOAWAY:
		in_goaway_seen(h);
		break;
	default:
		break;
	}
	d->mode = M_DROP; /* between frames */
	d->mid = false;
	pump(h);
}

/* ---- public ---- */

tf_h2 *tf_h2_new(const tf_h2_ops *ops, const tf_h2_limits *limits)
{
	static const tf_h2_limits defaults = TF_H2_DEFAULT_LIMITS;
	tf_h2 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ops = *ops;
	h->lim = limits ? *limits : defaults;
	h->view = malloc(sizeof(*h->view));
	if (!h->view || tf_hpack_in_init(&h->req_in) || tf_hpack_in_init(&h->resp_in) ||
	    tf_hpack_out_init(&h->req_out, 4096)) {
		tf_h2_free(h);
		return NULL;
	}
	tf_h2f_reader_init(&h->out.rd, true, TF_H2F_MAX_LEN);
	tf_h2f_reader_init(&h->in.rd, false, TF_H2F_MAX_LEN);
	h->out.mode = h->in.mode = M_DROP;
	tf_hlist_init(&h->resp_list, 16 * 1024, 64);
	tf_hlist_init(&h->scratch_list, 64 * 1024, 256);
	tf_hlist_init(&h->dfields, h->lim.list_bytes, h->lim.list_fields);
	tf_buf_init(&h->text, 256 * 1024);
	tf_buf_init(&h->dmsg, h->lim.body_cap + 64 * 1024);
	tf_buf_init(&h->hblock, 1 << 20);
	tf_buf_init(&h->frames, TF_H2F_MAX_LEN + TF_H2F_HEADER_LEN);
	tf_buf_init(&h->pend_app, 4 << 20);
	tf_buf_init(&h->inframe, HOLD_CAP);
	tf_buf_init(&h->event, (size_t)1 << 20);
	tf_buf_init(&h->edited, (size_t)32 << 20);
	h->goaway_last = NO_GOAWAY;
	h->app_win = h->srv_win = h->app_recv = TF_H2F_DEFAULT_WINDOW;
	h->srv_initial = h->app_initial = TF_H2F_DEFAULT_WINDOW;
	h->policing = true;
	return h;
}

void tf_h2_free(tf_h2 *h)
{
	if (!h)
		return;
	while (h->streams)
		remove_stream(h, h->streams);
	tf_hpack_in_free(&h->req_in);
	tf_hpack_in_free(&h->resp_in);
	tf_hpack_out_free(&h->req_out);
	tf_hlist_free(&h->resp_list);
	tf_hlist_free(&h->scratch_list);
	tf_hlist_free(&h->dfields);
	tf_buf_free(&h->text);
	tf_buf_free(&h->dmsg);
	tf_buf_free(&h->hblock);
	tf_buf_free(&h->frames);
	tf_buf_free(&h->pend_app);
	tf_buf_free(&h->inframe);
	tf_buf_free(&h->event);
	tf_buf_free(&h->edited);
	free(h->view);
	free(h);
}

static void wake(tf_h2 *h)
{
	if (!h->queued_for_app || !h->out.first_settings_done || h->app_broken || h->srv_broken)
		return;
	if (send_ping(h))
		h->st.wake_pings++;
}

int tf_h2_from_app(tf_h2 *h, const uint8_t *p, size_t n, tf_buf *to_server, tf_buf *to_app)
{
	struct dir *d = &h->out;
	size_t off = 0;

	h->ts = to_server;
	h->ta = to_app;
	h->err = 0;
	h->queued_for_app = false;
	if (h->passthrough) {
		emit_srv(h, p, n);
		return h->err;
	}
	while (!h->app_broken) {
		const uint8_t *piece = NULL;
		size_t plen = 0;
		tf_h2f_event ev;

		off += tf_h2f_read(&d->rd, p + off, n - off, &ev, &piece, &plen);
		if (ev == TF_H2F_EV_NONE)
			break;
		switch (ev) {
		case TF_H2F_EV_PREFACE:
			emit_srv(h, TF_H2F_PREFACE, TF_H2F_PREFACE_LEN);
			break;
		case TF_H2F_EV_HEADER:
			out_begin(h);
			break;
		case TF_H2F_EV_PAYLOAD:
			out_piece(h, piece, plen);
			break;
		case TF_H2F_EV_END:
			out_end(h);
			break;
		default:
			if (!d->first_settings_done && h->max_app_sid == 0) {
				/* Not HTTP/2 at all: nothing was re-encoded yet, so the
				 * connection can pass through as it is. */
				tf_log(TF_LOG_WARN, "h2: the app did not send the HTTP/2 preface; "
						    "passing the connection through");
				h->passthrough = true;
				emit_srv(h, d->rd.hold, d->rd.got);
				emit_srv(h, p + off, n - off);
				return h->err;
			}
			app_fail(h, TF_H2F_FRAME_SIZE_ERROR, "a malformed frame");
			break;
		}
	}
	reap_broken(h);
	wake(h);
	return h->err;
}

int tf_h2_from_server(tf_h2 *h, const uint8_t *p, size_t n, tf_buf *to_server, tf_buf *to_app)
{
	struct dir *d = &h->in;
	size_t off = 0;

	h->ts = to_server;
	h->ta = to_app;
	h->err = 0;
	if (h->passthrough || h->srv_broken) {
		emit_app(h, p, n);
		return h->err;
	}
	for (;;) {
		const uint8_t *piece = NULL;
		size_t plen = 0;
		tf_h2f_event ev;

		off += tf_h2f_read(&d->rd, p + off, n - off, &ev, &piece, &plen);
		if (ev == TF_H2F_EV_NONE)
			break;
		switch (ev) {
		case TF_H2F_EV_HEADER:
			in_begin(h);
			if (h->srv_broken) {
				uint8_t b[TF_H2F_HEADER_LEN];

				tf_h2f_write_header(b, &d->rd.fh);
				emit_app(h, b, sizeof(b));
			}
			break;
		case TF_H2F_EV_PAYLOAD:
			in_piece(h, piece, plen);
			break;
		case TF_H2F_EV_END:
			in_end(h);
			break;
		default:
			srv_fail(h, "sent a frame we cannot read");
			break;
		}
		if (h->srv_broken) {
			emit_app(h, p + off, n - off);
			break;
		}
	}
	reap_broken(h);
	flush_pending(h);
	return h->err;
}

void tf_h2_server_closed(tf_h2 *h)
{
	end_all(h);
}

void tf_h2_stop_policing(tf_h2 *h)
{
	h->policing = false;
}

void tf_h2_get_stats(const tf_h2 *h, tf_h2_stats *st)
{
	*st = h->st;
	st->debt = h->debt;
	st->owed = h->owed;
	st->live_streams = h->nstreams;
	st->held_octets = h->held;
	st->waiting_octets = 0;
	for (const struct stream *s = h->streams; s; s = s->next)
		if (s->st == S_FWD || s->st == S_PASS)
			st->waiting_octets += s->body.len - s->sent;
	st->app_broken = h->app_broken;
	st->server_broken = h->srv_broken;
	st->passthrough = h->passthrough;
	st->policing = h->policing;
}
