#include "exchange.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "adapt.h"
#include "approvals.h"
#include "conn.h"
#include "events.h"
#include "log.h"
#include "state.h"
#include "synth.h"
#include "totals.h"

tf_exchange *tf_exchange_front(tf_conn *c)
{
	return c->ex_head;
}

static void push(tf_conn *c, tf_exchange *ex)
{
	if (c->ex_tail)
		c->ex_tail->next = ex;
	else
		c->ex_head = ex;
	c->ex_tail = ex;
}

static tf_exchange *pop(tf_conn *c)
{
	tf_exchange *ex = c->ex_head;

	if (ex) {
		c->ex_head = ex->next;
		if (!c->ex_head)
			c->ex_tail = NULL;
	}
	return ex;
}

static void ex_free(tf_exchange *ex)
{
	tf_enforce_release(&ex->enf);
	if (ex->dec_live)
		tf_decoder_free(&ex->dec);
	if (ex->su_live)
		tf_streamuse_free(&ex->su);
	tf_buf_free(&ex->held);
	tf_buf_free(&ex->body);
	tf_buf_free(&ex->synthetic);
	free(ex);
}

/* A call that never reached the provider: it costs nothing, and it is
 * recorded as what stopped it. */
static void book_blocked(tf_exchange *ex)
{
	static const char *const decision[] = {
		[TF_BLOCK_BUDGET] = "block",
		[TF_BLOCK_POLICY] = "deny",
		[TF_BLOCK_APPROVAL] = "approval_denied",
	};
	tf_call *call = &ex->call;

	tf_totals_blocked(call);
	snprintf(call->note, sizeof(call->note), "%s", tf_block_phrase(ex->enf.kind));
	call->cost = 0;
	tf_events_call(call, tf_state_scope_name(), decision[ex->enf.kind]);
	tf_events_note("block", call, tf_state_scope_name(),
		       "TokenFence: %s: %s", tf_block_phrase(ex->enf.kind), ex->enf.detail);
	tf_log(TF_LOG_INFO, "blocked %s: %s: %s", call->act.action, tf_block_phrase(ex->enf.kind),
	       ex->enf.detail);
}

/* The audit trail: every decision a policy makes, with the rule behind it. */
static void audit_policy(const tf_exchange *ex)
{
	char rule[320];

	if (!tf_state_config()->has_policy)
		return;
	tf_decision_format(&ex->enf.rule, rule, sizeof(rule));
	tf_events_note("policy", &ex->call, tf_state_scope_name(), "%s %s: %s",
		       tf_effect_name(ex->enf.rule.effect), ex->call.act.action, rule);
}

tf_exchange *tf_exchange_open(tf_conn *c, const tf_h1_head *h, const uint8_t *body, size_t len)
{
	tf_exchange *ex = malloc(sizeof(*ex));
	tf_req_view rq = { .head = h, .host = c->host, .body = body, .body_len = len };
	tf_call *call;

	if (!ex) {
		tf_log(TF_LOG_ERROR, "out of memory tracking a request to %s; it is not accounted", c->host);
		return NULL;
	}
	/* All zero, the call (two thirds of it) by tf_call_init alone. */
	memset(ex, 0, offsetof(tf_exchange, call));
	memset(&ex->call + 1, 0, sizeof(*ex) - offsetof(tf_exchange, call) - sizeof(ex->call));
	call = &ex->call;
	tf_call_init(call, c->provider);
	tf_buf_init(&ex->body, TF_EX_BODY_CAP);
	ex->head_request = tf_h1_token_eq(h->method, h->method_len, "HEAD");
	if (tf_adapt_request(call, &rq, tf_state_config(), tf_state_prices()) < 0)
		tf_log(TF_LOG_WARN, "%s: request to %.*s could not be mapped to an action", c->host,
		       (int)(h->target_len > 120 ? 120 : h->target_len), h->target);
	if (call->invoke && call->match == TF_PRICE_UNKNOWN) {
		tf_events_note("warning", call, tf_state_scope_name(),
			       "unknown model %s: priced at the most expensive %s model",
			       call->price_model, tf_provider_name(call->provider));
		tf_log(TF_LOG_WARN, "unknown model %s: priced at the most expensive %s model",
		       call->price_model, tf_provider_name(call->provider));
	}
	if (call->body_unreadable)
		tf_log(TF_LOG_WARN, "%s: request body is not JSON; bounded by its size and the "
		       "model's maximum output", call->act.action);
	tf_enforce_request(call, &ex->enf);
	audit_policy(ex);
	push(c, ex);
	return ex;
}

void tf_exchange_block(tf_conn *c, tf_exchange *ex, bool standin)
{
	tf_buf *out = standin ? &ex->synthetic : &c->inject;

	tf_enforce_release(&ex->enf);
	if (tf_synth_error(out, c->provider, ex->enf.kind, ex->enf.detail, ex->head_request) < 0)
		tf_log(TF_LOG_ERROR, "cannot build the answer to a blocked call");
	if (standin) {
		ex->standin = true;
		/* The stand-in is a HEAD request: its answer has no body. */
		ex->head_request = true;
		return;
	}
	book_blocked(ex);
	/* Direct answers are only given when ex is the only pending exchange. */
	if (c->ex_tail == ex) {
		tf_exchange *p = NULL, *q = c->ex_head;
		while (q && q != ex) {
			p = q;
			q = q->next;
		}
		if (p)
			p->next = NULL;
		else
			c->ex_head = NULL;
		c->ex_tail = p;
	}
	ex_free(ex);
}

bool tf_exchange_swallowing(tf_conn *c)
{
	const tf_exchange *ex = c->ex_head;

	return ex && (ex->standin || (ex->managed && ex->answered));
}

/* Live checks happen every this many bytes of a stream (a few events):
 * often enough to stop within a second of a kill, rarely enough to cost
 * nothing measurable (one ledger read). */
#define LIVE_CHECK_BYTES 2048

static bool identity(const tf_h1_head *h)
{
	const tf_h1_header *enc = tf_h1_find(h, "content-encoding");

	return !enc || tf_decode_kind_of(enc->value, enc->value_len) == TF_DECODE_IDENTITY;
}

/* A 2xx streamed answer: read its events; manage its body when we can. */
static int start_stream(tf_exchange *ex, const tf_h1_head *h, bool may_manage)
{
	unsigned flags = ex->hide_usage ? TF_SU_HIDE_USAGE_CHUNK : 0;

	if (tf_streamuse_init(&ex->su, ex->call.act.operation, ex->call.max_out_bound, flags) < 0) {
		tf_streamuse_free(&ex->su);
		return 0;
	}
	ex->su_live = true;
	ex->next_check = LIVE_CHECK_BYTES;
	/* Over HTTP/2 the layer cuts a stream itself (h2.h "Cut"), at an event
	 * boundary of the payload, which only an uncoded body shows; a stated
	 * length would make the shortened body an error of its own. */
	ex->h2_cuttable = !may_manage && identity(h) && !tf_h1_find(h, "content-length");
	/* The same conditions let the layer edit it (h2.h "Edit"): the held
	 * bytes are at most an event and the frame being read (16 MiB at most). */
	if (ex->hide_usage && ex->h2_cuttable) {
		ex->h2_hide = true;
		tf_buf_init(&ex->held, TF_SU_MAX_EVENT + ((size_t)16 << 20));
		return 0;
	}
	if (!may_manage || !h->chunked || !identity(h)) {
		if (ex->hide_usage)
			tf_log(TF_LOG_WARN, "%s: the stream is %s; the usage chunk TokenFence asked for "
			       "stays visible to the app", ex->call.act.action,
			       !may_manage ? (identity(h) ? "HTTP/2 with a stated length"
						: "HTTP/2 and content-coded")
			       : h->chunked ? "content-coded" : "not chunked");
		return 0;
	}
	ex->managed = true;
	tf_buf_init(&ex->held, TF_SU_MAX_EVENT + TF_SU_MAX_FRAME);
	return TF_H1_PAUSE;
}

static int head_of(tf_conn *c, tf_exchange *ex, const tf_h1_head *h, bool may_manage);

int tf_exchange_response_head(tf_conn *c, const tf_h1_head *h)
{
	return head_of(c, c->ex_head, h, true);
}

void tf_exchange_head_of(tf_conn *c, tf_exchange *ex, const tf_h1_head *h)
{
	head_of(c, ex, h, false);
}

static int head_of(tf_conn *c, tf_exchange *ex, const tf_h1_head *h, bool may_manage)
{
	const tf_h1_header *enc;
	tf_decode_kind kind = TF_DECODE_IDENTITY;

	/* Interim answers (100 Continue, 103) precede the real one. */
	if (!ex || (h->status >= 100 && h->status < 200 && h->status != 101))
		return 0;
	ex->answered = true;
	tf_adapt_response_head(&ex->call, h);
	if (!ex->call.invoke)
		return 0;
	enc = tf_h1_find(h, "content-encoding");
	if (enc)
		kind = tf_decode_kind_of(enc->value, enc->value_len);
	if (kind == TF_DECODE_UNSUPPORTED ||
	    tf_decoder_init(&ex->dec, kind, ex->call.stream ? UINT64_MAX : TF_EX_BODY_CAP) < 0) {
		ex->body_bad = true;
		return 0;
	}
	ex->dec_live = true;
	if (ex->call.stream && h->status >= 200 && h->status < 300 && !ex->standin)
		return start_stream(ex, h, may_manage);
	return 0;
}

static void emit_chunk(tf_conn *c, const uint8_t *p, size_t n)
{
	if (n && (tf_buf_printf(&c->inject, "%zx\r\n", n) < 0 || tf_buf_append(&c->inject, p, n) < 0 ||
		  tf_buf_append(&c->inject, "\r\n", 2) < 0))
		tf_log(TF_LOG_ERROR, "connection to %s: cannot queue stream bytes", c->host);
}

/* One chunk of a then b: what emit_chunk() makes of them joined. */
static void emit_chunk2(tf_conn *c, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (an + bn && (tf_buf_printf(&c->inject, "%zx\r\n", an + bn) < 0 ||
			(an && tf_buf_append(&c->inject, a, an) < 0) ||
			(bn && tf_buf_append(&c->inject, b, bn) < 0) ||
			tf_buf_append(&c->inject, "\r\n", 2) < 0))
		tf_log(TF_LOG_ERROR, "connection to %s: cannot queue stream bytes", c->host);
}

/* Payload for the app: chunked to the app's queue (HTTP/1.1), or as it is
 * to the HTTP/2 layer's scratch (raw). */
static void emit_payload(tf_conn *c, tf_buf *raw, const uint8_t *p, size_t n)
{
	if (!raw)
		emit_chunk(c, p, n);
	else if (n && tf_buf_append(raw, p, n) < 0)
		tf_log(TF_LOG_ERROR, "connection to %s: cannot queue stream bytes", c->host);
}

/* Payload [released, upto) minus drop spans, to the app (emit_payload). */
static void release(tf_conn *c, tf_exchange *ex, uint64_t upto, tf_buf *raw)
{
	while (ex->released < upto) {
		uint64_t end = upto, skip_to;

		if (!ex->have_drop)
			ex->have_drop = tf_streamuse_next_drop(&ex->su, &ex->drop);
		if (ex->have_drop && ex->drop.start < upto)
			end = ex->drop.start > ex->released ? ex->drop.start : ex->released;
		emit_payload(c, raw, ex->held.data, (size_t)(end - ex->released));
		skip_to = end;
		if (ex->have_drop && ex->drop.start < upto && end == ex->drop.start) {
			skip_to = ex->drop.end;
			ex->have_drop = false;
		}
		tf_buf_consume(&ex->held, (size_t)(skip_to - ex->released));
		ex->released = skip_to;
		if (end == upto && skip_to == upto)
			break;
	}
}

static void note_cut(const tf_exchange *ex, const char *reason, const char *how)
{
	tf_events_note("block", &ex->call, tf_state_scope_name(), "stream cut: %s", reason);
	tf_log(TF_LOG_WARN, "%s: stream cut: %s%s", ex->call.act.action, reason, how);
}

/*
 * Ends a managed stream the way the provider ends a failed one: what the
 * app already has stops at a frame or event boundary, then comes the
 * provider's error event and the end of the chunked body. The server's
 * remaining bytes are discarded, and the connection is shut so the server
 * stops generating (only a closed connection cancels generation over
 * HTTP/1.1).
 */
static void cut_stream(tf_conn *c, tf_exchange *ex, const char *reason)
{
	tf_buf term;
	int fd;

	release(c, ex, tf_streamuse_boundary(&ex->su), NULL);
	tf_buf_init(&term, 1 << 16);
	if (tf_streamuse_terminator(&ex->su, "budget_exceeded", reason, &term) == 0)
		emit_chunk(c, term.data, term.len);
	tf_buf_append_str(&c->inject, "0\r\n\r\n");
	tf_buf_free(&term);
	ex->cut = true;
	fd = c->api->get_fd ? c->api->get_fd(c->ssl) : -1;
	if (fd >= 0 && shutdown(fd, SHUT_RDWR) == 0)
		ex->cut_closed = true;
	note_cut(ex, reason, fd >= 0 ? "" : " (the connection is the app's to close)");
}

/* Every LIVE_CHECK_BYTES of the stream: must it end now (why says so)? */
static bool live_due(tf_exchange *ex, char *why, size_t n)
{
	if (ex->cut || tf_streamuse_fed(&ex->su) < ex->next_check)
		return false;
	ex->next_check = tf_streamuse_fed(&ex->su) + LIVE_CHECK_BYTES;
	return tf_enforce_live(&ex->call, &ex->enf, tf_streamuse_output_estimate(&ex->su), why, n);
}

static void live_check(tf_conn *c, tf_exchange *ex)
{
	char why[256];

	if (live_due(ex, why, sizeof(why)))
		cut_stream(c, ex, why);
}

/* What may go to the app: whole events, or everything once unreadable. */
static uint64_t decided(const tf_exchange *ex)
{
	if (tf_streamuse_unreadable(&ex->su))
		return tf_streamuse_fed(&ex->su);
	return tf_streamuse_safe_prefix(&ex->su) < tf_streamuse_boundary(&ex->su)
		       ? tf_streamuse_safe_prefix(&ex->su)
		       : tf_streamuse_boundary(&ex->su);
}

/*
 * feed_stream()'s usual case without copying p into held first: when every
 * held byte and some of p (just fed to streamuse) are decided and no drop
 * span falls in them, they go out as the one chunk release() would make of
 * them, and only the undecided rest of p is held. False (nothing done)
 * otherwise.
 */
static bool release_direct(tf_conn *c, tf_exchange *ex, const uint8_t *p, size_t n)
{
	uint64_t upto = decided(ex), fed = tf_streamuse_fed(&ex->su), fed_before = fed - n;
	size_t from_p;

	if (fed < n || ex->released + ex->held.len != fed_before || upto < fed_before || upto > fed_before + n ||
	    upto == ex->released)
		return false;
	if (!ex->have_drop)
		ex->have_drop = tf_streamuse_next_drop(&ex->su, &ex->drop);
	if (ex->have_drop && ex->drop.start < upto)
		return false;
	from_p = (size_t)(upto - fed_before);
	emit_chunk2(c, ex->held.data, ex->held.len, p, from_p);
	tf_buf_reset(&ex->held);
	ex->released = upto;
	if (from_p < n && tf_buf_append(&ex->held, p + from_p, n - from_p) < 0)
		tf_log(TF_LOG_ERROR, "%s: stream buffer overflow", ex->call.act.action);
	return true;
}

static void feed_stream(tf_conn *c, tf_exchange *ex, const uint8_t *p, size_t n)
{
	/* After a cut whose connection we shut, the call is settled from what
	 * the stream had shown. Where we could not shut it (memory BIOs: the
	 * app owns the transport) the server goes on generating, so the rest
	 * is still read (not delivered) to book what it really costs. */
	if (ex->cut_closed)
		return;
	tf_streamuse_feed(&ex->su, p, n);
	if ((!ex->managed && !ex->h2_hide) || ex->cut)
		return;
	if (!ex->h2_hide && release_direct(c, ex, p, n)) {
		live_check(c, ex);
		return;
	}
	if (tf_buf_append(&ex->held, p, n) < 0) {
		/* Cannot happen within the caps streamuse enforces; if it does,
		 * the stream is no longer ours to edit. */
		tf_log(TF_LOG_ERROR, "%s: stream buffer overflow", ex->call.act.action);
		return;
	}
	if (ex->h2_hide)
		return; /* released when the layer asks (tf_exchange_edit_of) */
	release(c, ex, decided(ex), NULL);
	live_check(c, ex);
}

struct body_ctx {
	tf_conn *c;
	tf_exchange *ex;
};

static int keep_body(void *ctx, const uint8_t *p, size_t n)
{
	struct body_ctx *b = ctx;

	if (b->ex->su_live) {
		feed_stream(b->c, b->ex, p, n);
		return 0;
	}
	if (tf_buf_append(&b->ex->body, p, n) < 0) {
		b->ex->body_bad = true;
		return -1;
	}
	return 0;
}

void tf_exchange_response_body(tf_conn *c, const uint8_t *p, size_t n)
{
	tf_exchange_body_of(c, c->ex_head, p, n);
}

void tf_exchange_body_of(tf_conn *c, tf_exchange *ex, const uint8_t *p, size_t n)
{
	struct body_ctx b = { c, ex };

	if (!ex || !ex->answered || !ex->dec_live || ex->body_bad)
		return;
	if (tf_decoder_feed(&ex->dec, p, n, keep_body, &b) < 0)
		ex->body_bad = true;
}

/* The stream is over (or its connection is): usage from its events. */
static void settle_stream(tf_exchange *ex, bool complete)
{
	tf_call *call = &ex->call;
	/* The server was stopped mid-way (connection shut, or RST_STREAM over
	 * HTTP/2): its last event may well be unfinished; that is not damage. */
	bool stopped = ex->cut_closed || ex->cut_reset;
	tf_usage u;

	if (!stopped)
		tf_streamuse_finish(&ex->su);
	if (tf_streamuse_model(&ex->su)[0])
		snprintf(call->response_model, sizeof(call->response_model), "%s",
			 tf_streamuse_model(&ex->su));
	if (!stopped && tf_streamuse_unreadable(&ex->su)) {
		tf_call_settle(call, TF_USAGE_RESERVED, tf_streamuse_unreadable(&ex->su));
		return;
	}
	if (tf_streamuse_usage(&ex->su, &u)) {
		call->usage = u;
		tf_call_settle(call, TF_USAGE_STREAM, ex->cut ? "stream cut by TokenFence" : NULL);
		return;
	}
	/* Cut, failed or without usage: the input and the output seen (every
	 * byte of generated text counted as a token, streamuse.h), which is at
	 * least what the provider bills for a stream it stopped. */
	if (!tf_streamuse_usage_so_far(&ex->su, &u))
		u.input = call->input_bound;
	call->usage = u;
	tf_call_settle(call, TF_USAGE_STREAM,
		       ex->cut ? "stream cut by TokenFence: input + output seen"
		       : complete ? "stream ended without usage: input bound + output seen"
				  : "stream cut short: input bound + output seen");
}

/* Settles, books and forgets the oldest exchange. */
static void finish(tf_conn *c, tf_exchange *ex, bool complete)
{
	tf_call *call = &ex->call;
	bool whole = complete && !ex->body_bad && (!ex->dec_live || tf_decoder_finish(&ex->dec) == 0);

	if (ex->standin) {
		/* The stand-in's reply was swallowed; the app gets our answer. */
		if (tf_buf_append(&c->inject, ex->synthetic.data, ex->synthetic.len) < 0)
			tf_log(TF_LOG_ERROR, "cannot queue the answer to a blocked call");
		book_blocked(ex);
		ex_free(ex);
		return;
	}
	if (ex->approved_fp && call->status == 0)
		tf_approvals_remember_retry(ex->approved_fp);
	if (ex->su_live) {
		if (ex->managed && !ex->cut) {
			tf_streamuse_finish(&ex->su);
			release(c, ex, tf_streamuse_fed(&ex->su), NULL);
			if (complete)
				tf_buf_append_str(&c->inject, "0\r\n\r\n");
		}
		settle_stream(ex, complete);
	} else {
		tf_adapt_finish(call, ex->body.data, ex->body.len, whole, tf_state_config(),
				tf_state_prices());
	}
	tf_enforce_settle(call, &ex->enf);
	if (call->invoke) {
		tf_totals_add(call);
		tf_events_call(call, tf_state_scope_name(), ex->enf.label);
		if (call->usage_from == TF_USAGE_RESERVED) {
			tf_events_note("warning", call, tf_state_scope_name(),
				       "usage not readable (%s): charged the worst case", call->note);
			tf_log(TF_LOG_WARN, "%s: usage not readable (%s); charged the worst case",
			       call->act.action, call->note);
		}
	}
	ex_free(ex);
}

void tf_exchange_response_end(tf_conn *c)
{
	tf_exchange *ex = c->ex_head;

	if (!ex || !ex->answered)
		return;
	pop(c);
	finish(c, ex, true);
}

/* ---- HTTP/2: one exchange, wherever it is in the list ---- */

static void unlink_ex(tf_conn *c, tf_exchange *ex)
{
	tf_exchange *p = NULL, *q = c->ex_head;

	while (q && q != ex) {
		p = q;
		q = q->next;
	}
	if (!q)
		return;
	if (p)
		p->next = ex->next;
	else
		c->ex_head = ex->next;
	if (c->ex_tail == ex)
		c->ex_tail = p;
	ex->next = NULL;
}

bool tf_exchange_cut_of(tf_conn *c, tf_exchange *ex, uint64_t have, uint64_t *keep, tf_buf *event)
{
	(void)c;
	if (!ex->su_live || !ex->h2_cuttable || ex->cut || ex->body_bad ||
	    tf_streamuse_unreadable(&ex->su))
		return false;
	if (!ex->cut_due && live_due(ex, ex->cut_why, sizeof(ex->cut_why)))
		ex->cut_due = true;
	/* The app must not be left inside an event: while it has part of one,
	 * the stream goes on to the end of that event. An edited stream is
	 * only ever given whole events (have counts edited octets). */
	if (!ex->cut_due || (!ex->h2_hide && tf_streamuse_boundary(&ex->su) < have))
		return false;
	if (tf_streamuse_terminator(&ex->su, "budget_exceeded", ex->cut_why, event) != 0) {
		tf_buf_reset(event);
		return false;
	}
	*keep = ex->h2_hide ? have : tf_streamuse_boundary(&ex->su);
	ex->cut = true;
	ex->cut_reset = true;
	note_cut(ex, ex->cut_why, "");
	return true;
}

bool tf_exchange_edit_of(tf_conn *c, tf_exchange *ex, bool end, tf_buf *out, uint64_t *held)
{
	if (!ex->h2_hide)
		return false;
	if (!out)
		return true;
	if (!ex->cut) {
		if (end)
			tf_streamuse_finish(&ex->su);
		/* Held octets count against the server's windows (h2.h "Edit"):
		 * an event larger than the app's stream window would stall the
		 * stream. Chat chunks are well under 1 KiB; past the bound, the
		 * app gets the stream as sent (the usage chunk with it). */
		if (!ex->h2_shown && ex->held.len > TF_EXCHANGE_EDIT_HOLD) {
			ex->h2_shown = true;
			tf_log(TF_LOG_WARN, "%s: an event of over %zu KiB; the rest of the stream, "
			       "with the usage chunk TokenFence asked for, reaches the app as sent",
			       ex->call.act.action, TF_EXCHANGE_EDIT_HOLD >> 10);
		}
		if (ex->h2_shown) {
			emit_payload(c, out, ex->held.data, ex->held.len);
			ex->released += ex->held.len;
			tf_buf_reset(&ex->held);
		} else {
			release(c, ex, end ? tf_streamuse_fed(&ex->su) : decided(ex), out);
		}
	}
	*held = ex->held.len;
	return true;
}

void tf_exchange_end_of(tf_conn *c, tf_exchange *ex, bool complete)
{
	unlink_ex(c, ex);
	finish(c, ex, complete && ex->answered);
}

void tf_exchange_blocked(tf_conn *c, tf_exchange *ex)
{
	tf_enforce_release(&ex->enf);
	book_blocked(ex);
	unlink_ex(c, ex);
	ex_free(ex);
}

void tf_exchange_close_all(tf_conn *c, const char *why)
{
	tf_exchange *ex;

	while ((ex = pop(c)) != NULL) {
		if (ex->call.invoke)
			tf_log(TF_LOG_DEBUG, "%s: %s", ex->call.act.action, why);
		finish(c, ex, false);
	}
}
