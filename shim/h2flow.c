#include "h2flow.h"

#include <string.h>

#include "control.h"
#include "events.h"
#include "exchange.h"
#include "flow.h"
#include "h2.h"
#include "h2frame.h"
#include "h2msg.h"
#include "log.h"
#include "rewrite.h"
#include "state.h"
#include "synth.h"

/* Same caps as HTTP/1.1's (flow.c): a request body, and what we queue. */
#define OUT_CAP ((size_t)40 << 20)
#define INJECT_CAP ((size_t)16 << 20)

/* 1: ALPN chose h2; 0: nothing chosen (yet); -1: another protocol. */
static int alpn_h2(const tf_conn *c)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	if (!c->api->get0_alpn_selected)
		return 0;
	c->api->get0_alpn_selected(c->ssl, &p, &n);
	if (!p || n == 0)
		return 0;
	return n == 2 && p[0] == 'h' && p[1] == '2' ? 1 : -1;
}

static bool starts_like_preface(const uint8_t *p, size_t n)
{
	size_t k = n < TF_H2F_PREFACE_LEN ? n : TF_H2F_PREFACE_LEN;

	return k >= 4 && memcmp(p, TF_H2F_PREFACE, k) == 0;
}

/* ---- the decisions ---- */

static void classify(tf_conn *c, const tf_h1_head *h)
{
	const tf_h1_header *host = h ? tf_h1_find(h, "host") : NULL;
	const char *name = "";
	size_t nlen = 0;
	int port = -1;

	if (host)
		tf_hosts_split(host->value, host->value_len, &name, &nlen, &port);
	c->provider = nlen ? tf_hosts_classify(tf_state_hosts(), name, nlen, port) : TF_PROVIDER_NONE;
	snprintf(c->host, sizeof(c->host), "%.*s", (int)(nlen < 255 ? nlen : 255), name);
	c->port = port;
	c->mode = c->provider == TF_PROVIDER_NONE ? TF_MODE_PASS : TF_MODE_GUARD;
	tf_state_count_conn(c->mode == TF_MODE_GUARD);
	if (c->mode == TF_MODE_GUARD)
		tf_control_start();
}

static void block_with(tf_conn *c, tf_h2_decision *d, tf_block_kind k, const char *detail)
{
	d->verdict = TF_H2V_BLOCK;
	if (tf_synth_error(d->msg, c->provider, k, detail, false) < 0)
		tf_log(TF_LOG_ERROR, "cannot build the answer to a blocked call");
}

static void block_ex(tf_conn *c, tf_exchange *ex, tf_h2_decision *d)
{
	block_with(c, d, ex->enf.kind, ex->enf.detail);
	tf_exchange_blocked(c, ex);
}

/* A request we cannot see whole (header list or body past the caps, or
 * fields no HTTP/1.1 head can carry): fail_mode decides. */
static void unseen(tf_conn *c, const tf_h2_req *rq, tf_h2_decision *d)
{
	bool open = tf_state_config()->fail_mode == TF_FAIL_OPEN;
	const char *why = rq->oversize ? "larger than TokenFence can hold" : "not readable as a request";

	tf_log(TF_LOG_WARN, "connection to %s: an HTTP/2 request %s: %s", c->host, why,
	       open ? "sent unaccounted (fail_mode open)" : "blocked (fail_mode closed)");
	if (open) {
		d->verdict = TF_H2V_FORWARD;
		return;
	}
	{
		char detail[160];

		snprintf(detail, sizeof(detail), "the request is %s (fail_mode closed)", why);
		block_with(c, d, TF_BLOCK_POLICY, detail);
	}
}

/* The decision changed the request (or a stream must be asked for its
 * usage): rewrite and re-sign it as HTTP/1.1 does (flow.c), on the
 * request's HTTP/1.1-shaped view, then turn the result back into fields. */
static void rewrite(tf_conn *c, const tf_h2_req *rq, tf_exchange *ex, tf_h2_decision *d)
{
	tf_rw_changes ch;
	tf_rw_result res;
	int r;

	tf_flow_changes(c, ex, &ch);
	r = tf_rw_request(rq->head, rq->raw, rq->raw_len, rq->body, rq->body_len, c->provider, &ch,
			  tf_state_awscreds(), d->msg, &res);
	if (r == 0)
		r = tf_h2msg_request_from_text((const char *)d->msg->data, res.head_len, rq->host_added,
					       rq->fields, d->fields);
	if (r == 0) {
		/* The usage chunk we asked for is cut out of what the app
		 * reads (tf_exchange_edit_of); the call is booked exactly. */
		ex->hide_usage = res.usage_added;
		d->verdict = TF_H2V_REWRITE;
		d->body = d->msg->data + res.head_len;
		d->body_len = res.body_len;
		d->user = ex;
		return;
	}
	tf_buf_reset(d->msg);
	tf_hlist_reset(d->fields);
	d->verdict = TF_H2V_FORWARD;
	d->user = ex;
	if (!ch.model && !ch.clamp)
		return; /* only the usage was to be asked for */
	tf_flow_rewrite_failed(ex, r);
	if (tf_state_config()->fail_mode == TF_FAIL_OPEN)
		tf_flow_redecide_as_is(c, rq->head, ex, rq->body, rq->body_len);
	if (ex->enf.verdict != TF_VERDICT_FORWARD) {
		d->user = NULL;
		block_ex(c, ex, d);
	}
}

static void on_request(void *ctx, const tf_h2_req *rq, tf_h2_decision *d)
{
	tf_conn *c = ctx;
	tf_exchange *ex;

	if (c->mode == TF_MODE_CLASSIFY)
		classify(c, rq->head);
	if (c->mode != TF_MODE_GUARD) {
		tf_h2_stop_policing(c->h2);
		d->verdict = TF_H2V_FORWARD;
		return;
	}
	if (!rq->head || rq->oversize) {
		unseen(c, rq, d);
		return;
	}
	tf_state_note_request(c, rq->head, (const uint8_t *)rq->raw, rq->raw_len + rq->body_len);
	ex = tf_exchange_open(c, rq->head, rq->body, rq->body_len);
	if (!ex) {
		d->verdict = TF_H2V_FORWARD;
		return;
	}
	if (ex->enf.verdict == TF_VERDICT_HOLD)
		tf_flow_await_approval(rq->head, ex, rq->body, rq->body_len);
	if (ex->enf.verdict != TF_VERDICT_FORWARD) {
		block_ex(c, ex, d);
		return;
	}
	if (ex->enf.new_model[0] || ex->enf.new_max_out || tf_flow_wants_usage(&ex->call)) {
		rewrite(c, rq, ex, d);
		return;
	}
	d->verdict = TF_H2V_FORWARD;
	d->user = ex;
}

static void on_response_head(void *ctx, void *user, const tf_h1_head *h)
{
	tf_exchange_head_of(ctx, user, h);
}

static void on_response_data(void *ctx, void *user, const uint8_t *p, size_t n)
{
	tf_exchange_body_of(ctx, user, p, n);
}

static void on_response_end(void *ctx, void *user, bool complete)
{
	tf_exchange_end_of(ctx, user, complete);
}

static bool on_response_edit(void *ctx, void *user, bool end, tf_buf *out, uint64_t *held)
{
	return tf_exchange_edit_of(ctx, user, end, out, held);
}

static bool on_response_cut(void *ctx, void *user, uint64_t have, uint64_t *keep, tf_buf *event)
{
	return tf_exchange_cut_of(ctx, user, have, keep, event);
}

/* ---- the byte paths ---- */

/* No layer and fail_mode closed: the server hears a preface and a GOAWAY
 * of ours and closes; the app's own bytes never leave. */
static void refuse(tf_conn *c)
{
	tf_buf *o = &c->out;

	tf_log(TF_LOG_ERROR, "connection to %s: cannot guard its HTTP/2; closing it (fail_mode closed)",
	       c->host);
	c->h2_refused = true;
	tf_buf_append(o, TF_H2F_PREFACE, TF_H2F_PREFACE_LEN);
	tf_h2f_put(o, TF_H2F_SETTINGS, 0, 0, NULL, 0);
	tf_h2f_put_goaway(o, 0, TF_H2F_INTERNAL_ERROR);
}

/* Buffers are freed when drained (flow.c): their caps are set again. */
static void caps(tf_conn *c)
{
	if (c->out.cap == 0)
		c->out.cap = OUT_CAP;
	if (c->inject.cap == 0)
		c->inject.cap = INJECT_CAP;
}

void tf_h2flow_detect(tf_conn *c, const uint8_t *p, size_t n)
{
	static const tf_h2_ops proto = { NULL, on_request, on_response_head, on_response_data,
					 on_response_end, on_response_cut, on_response_edit };
	tf_h2_ops ops = proto;

	if (c->proto_known)
		return;
	c->proto_known = true;
	if ((c->mode != TF_MODE_GUARD && c->mode != TF_MODE_CLASSIFY) || c->hold.len ||
	    !tf_h1_framer_idle(&c->req) || c->ex_head)
		return;
	/* A preface on a connection that agreed on another protocol (h2 left
	 * out of the offer by downgrade_alpn, say) is the app's mistake: the
	 * server will refuse it, so it is not shown to the layer. */
	if (alpn_h2(c) < 0 || (alpn_h2(c) == 0 && !starts_like_preface(p, n)))
		return;
	caps(c);
	ops.ctx = c;
	c->h2 = tf_h2_new(&ops, NULL);
	if (c->h2)
		return;
	if (tf_state_config()->fail_mode == TF_FAIL_OPEN) {
		tf_log(TF_LOG_WARN, "connection to %s: cannot guard its HTTP/2 (out of memory); passing "
				    "it through (fail_mode open)", c->host);
		c->mode = TF_MODE_BROKEN;
		return;
	}
	refuse(c);
}

void tf_h2flow_absorb(tf_conn *c, const uint8_t *p, size_t n)
{
	caps(c);
	if (c->h2_refused)
		return;
	if (tf_h2_from_app(c->h2, p, n, &c->out, &c->inject) != 0)
		tf_log(TF_LOG_ERROR, "connection to %s: HTTP/2 output past its cap", c->host);
}

size_t tf_h2flow_observe(tf_conn *c, uint8_t *buf, size_t n)
{
	size_t k;

	caps(c);
	if (c->h2_refused || !c->h2) {
		if (tf_buf_append(&c->inject, buf, n) != 0)
			return n;
	} else if (tf_h2_from_server(c->h2, buf, n, &c->out, &c->inject) != 0) {
		tf_log(TF_LOG_ERROR, "connection to %s: HTTP/2 output past its cap", c->host);
	}
	/* The server's bytes may have opened a window (or acknowledged a PING):
	 * what was waiting for it goes now, from the read path, since an app
	 * that waits for its answer writes nothing that would carry it. */
	if (c->out.len)
		tf_flow_flush(c);
	k = c->inject.len < n ? c->inject.len : n;
	if (k) {
		memcpy(buf, c->inject.data, k);
		tf_buf_consume(&c->inject, k);
	}
	if (c->inject.len == 0)
		tf_buf_free(&c->inject); /* an idle connection keeps no buffers (flow.c) */
	return k;
}

void tf_h2flow_eof(tf_conn *c)
{
	if (c->h2)
		tf_h2_server_closed(c->h2);
}
