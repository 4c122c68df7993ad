#include "flow.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "approvals.h"
#include "control.h"
#include "events.h"
#include "exchange.h"
#include "h2flow.h"
#include "log.h"
#include "rewrite.h"
#include "state.h"

/* The caps that keep a peer from making us hold unbounded memory. Past the
 * hold cap a request is forwarded untouched (the connection goes to
 * TF_MODE_BROKEN) rather than buffered. */
#define HOLD_CAP ((size_t)32 << 20)
#define OUT_CAP ((size_t)40 << 20)
#define INJECT_CAP ((size_t)16 << 20)

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int real_write(tf_conn *c, const uint8_t *p, size_t n, size_t *w)
{
	int r;

	if (c->api->write_ex)
		return c->api->write_ex(c->ssl, p, n, w);
	r = c->api->write(c->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r <= 0)
		return 0;
	*w = (size_t)r;
	return 1;
}

/*
 * Writes out[out_off..] through the real SSL_write. A write that fails with
 * WANT_* is retried later with exactly the same pointer and length; `out`
 * is never appended to while a write is in flight, so the pointer is stable.
 * Returns 1 when everything is written, 0 when the real write failed.
 */
static int flush(tf_conn *c)
{
	while (c->out_off < c->out.len) {
		size_t n = c->inflight ? c->inflight : c->out.len - c->out_off;
		size_t w = 0;

		if (!real_write(c, c->out.data + c->out_off, n, &w)) {
			c->inflight = n;
			return 0;
		}
		c->inflight = 0;
		c->out_off += w;
	}
	/* Per-request scratch: an idle connection keeps no buffers. */
	tf_buf_free(&c->out);
	c->out_off = 0;
	return 1;
}

int tf_flow_flush(tf_conn *c)
{
	return flush(c);
}

static int queue_out(tf_conn *c, const void *p, size_t n)
{
	if (c->out.cap == 0)
		c->out.cap = OUT_CAP;
	return tf_buf_append(&c->out, p, n);
}

/* Everything we hold goes out as it came, ahead of any later bytes. */
static void drain_hold(tf_conn *c)
{
	if (c->hold.len && queue_out(c, c->hold.data, c->hold.len) < 0)
		tf_log(TF_LOG_ERROR, "cannot queue held bytes; the connection will fail");
	tf_buf_free(&c->hold);
}

/* Our parser gave up on this connection: from now on bytes pass through
 * untouched (the failure degrades to pass-through, never to an app error). */
static void give_up(tf_conn *c, const char *why)
{
	tf_log(TF_LOG_WARN, "connection to %s: %s; passing it through unparsed",
	       c->host[0] ? c->host : "(unknown host)", why);
	c->mode = TF_MODE_BROKEN;
	drain_hold(c);
}

/* Copies the request head without its Expect field: we answered the app's
 * 100-continue ourselves, so the server must not send a second one. Expect
 * is never covered by a SigV4 signature (WIRE.md §2.1), so removing it is safe. */
static int queue_head_without_expect(tf_conn *c, const tf_h1_head *h)
{
	const char *raw = (const char *)c->hold.data;
	const tf_h1_header *e = tf_h1_find(h, "expect");
	const char *line, *eol;

	if (!e)
		return queue_out(c, raw, h->head_len);
	line = e->name;
	eol = memchr(e->value, '\n', h->head_len - (size_t)(e->value - raw));
	if (!eol)
		return queue_out(c, raw, h->head_len);
	if (queue_out(c, raw, (size_t)(line - raw)) < 0)
		return -1;
	return queue_out(c, eol + 1, h->head_len - (size_t)(eol + 1 - raw));
}

static void classify_by_host(tf_conn *c, const tf_h1_head *h)
{
	const tf_h1_header *host = tf_h1_find(h, "host");
	const char *name = "";
	size_t nlen = 0;
	int port = -1;

	if (host)
		tf_hosts_split(host->value, host->value_len, &name, &nlen, &port);
	c->provider = tf_hosts_classify(tf_state_hosts(), name, nlen, port);
	snprintf(c->host, sizeof(c->host), "%.*s", (int)(nlen < 255 ? nlen : 255), name);
	c->port = port;
	c->mode = c->provider == TF_PROVIDER_NONE ? TF_MODE_PASS : TF_MODE_GUARD;
	tf_state_count_conn(c->mode == TF_MODE_GUARD);
	if (c->mode == TF_MODE_GUARD)
		tf_control_start();
}

struct req_ctx {
	tf_conn *c;
	bool ended;
};

static int req_on_head(void *ctx, const tf_h1_head *h, const uint8_t *raw, size_t n)
{
	struct req_ctx *rc = ctx;
	tf_conn *c = rc->c;

	if (c->mode == TF_MODE_CLASSIFY)
		classify_by_host(c, h);
	if (c->mode == TF_MODE_GUARD && h->expect_continue &&
	    tf_buf_append(&c->inject, continue_100, sizeof(continue_100) - 1) < 0)
		return -1;
	return 0;
}

/* Content-Length bodies are read in place from `hold`; only a chunked
 * body needs a de-chunked copy. */
static int req_on_body(void *ctx, const uint8_t *p, size_t n)
{
	tf_conn *c = ((struct req_ctx *)ctx)->c;

	if (!c->req.parsed.chunked)
		return 0;
	if (c->req_body.cap == 0)
		c->req_body.cap = HOLD_CAP;
	return tf_buf_append(&c->req_body, p, n) < 0 ? -1 : 0;
}

static int req_on_end(void *ctx)
{
	((struct req_ctx *)ctx)->ended = true;
	return 0;
}

/* A whole request sits in `hold`: hand it on. */
/* The request as the app wrote it (without Expect, which we answered). */
static int forward_as_is(tf_conn *c, const tf_h1_head *h)
{
	int r;

	if (!h->expect_continue && c->out.len == 0 && c->inflight == 0) {
		/* Nothing queued: the held request becomes `out` as it is,
		 * without a copy (h's spans stay valid: the bytes do not move). */
		tf_buf_free(&c->out);
		c->out = c->hold;
		c->out.cap = OUT_CAP;
		tf_buf_init(&c->hold, HOLD_CAP);
		return 0;
	}
	if (!h->expect_continue)
		return queue_out(c, c->hold.data, c->hold.len);
	r = queue_head_without_expect(c, h);
	return r < 0 ? r : queue_out(c, c->hold.data + h->head_len, c->hold.len - h->head_len);
}

/*
 * A blocked request never reaches the server; its answer must still reach
 * the app. An app that reads as soon as it has written (CPython's ssl, with
 * a socket fd) simply finds the answer queued. An app on memory BIOs (node,
 * asyncio) or with a BIO of its own (curl) only reads after the network
 * delivers something, so it gets a stand-in: a bodiless HEAD request the
 * provider answers without running any model; its reply is swallowed and
 * our answer delivered in its place, which also keeps the connection in
 * step with the server. A request queued behind unanswered ones always uses
 * the stand-in, so answers stay in order.
 */
static int forward_blocked(tf_conn *c, const tf_h1_head *h, tf_exchange *ex)
{
	const tf_h1_header *host = tf_h1_find(h, "host");
	int fd = c->api->get_fd ? c->api->get_fd(c->ssl) : -1;
	bool standin = fd < 0 || c->ex_head != ex;

	tf_exchange_block(c, ex, standin);
	if (!standin)
		return 0;
	return tf_buf_printf(&c->out, "HEAD /tokenfence-blocked HTTP/1.1\r\nHost: %.*s\r\n\r\n",
			     host ? (int)host->value_len : 0, host ? host->value : "");
}

/* The request body as the adapter saw it: in place, or de-chunked. */
static const uint8_t *request_body(tf_conn *c, const tf_h1_head *h, size_t *len)
{
	if (h->chunked) {
		*len = c->req_body.len;
		return c->req_body.data;
	}
	*len = c->hold.len - h->head_len;
	return c->hold.data + h->head_len;
}

/*
 * fail_mode open and the change could not be made: the request goes as the
 * app wrote it, so it is decided again as it is — its own model, its own
 * worst case reserved — and blocked if that does not fit. Open means "send
 * what cannot be rewritten", never "exceed the budget".
 */
void tf_flow_redecide_as_is(tf_conn *c, const tf_h1_head *h, tf_exchange *ex,
			    const uint8_t *body, size_t blen)
{
	tf_req_view rq = { .head = h, .host = c->host, .body = body, .body_len = blen };

	tf_enforce_release(&ex->enf);
	tf_call_init(&ex->call, c->provider);
	tf_adapt_request(&ex->call, &rq, tf_state_config(), tf_state_prices());
	memset(&ex->enf, 0, sizeof(ex->enf));
	ex->enf.verdict = TF_VERDICT_FORWARD;
	ex->enf.label = "allow";
	ex->enf.as_is = true;
	tf_enforce_budget(&ex->call, &ex->enf);
}

static int forward_unchanged(tf_conn *c, const tf_h1_head *h, tf_exchange *ex,
			     const uint8_t *body, size_t blen)
{
	tf_flow_redecide_as_is(c, h, ex, body, blen);
	if (ex->enf.verdict == TF_VERDICT_FORWARD)
		return forward_as_is(c, h);
	return forward_blocked(c, h, ex);
}

/*
 * An Azure (or OpenAI-shaped) streaming chat reports usage only when asked
 * to: ask for it, and hide the extra chunk from the app (exchange.c), so
 * the call is booked exactly and the app reads the stream it asked for.
 */
bool tf_flow_wants_usage(const tf_call *call)
{
	const char *op = call->act.operation;

	return call->stream && call->invoke &&
	       (strcmp(op, "ChatCompletions") == 0 || strcmp(op, "Completions") == 0 ||
		strcmp(op, "OpenAIChatCompletions") == 0);
}

/*
 * The decision changed the request (a cheaper model, a lower output limit),
 * or a stream must be asked for its usage:
 * rewrite it, re-signing SigV4 requests. If that cannot be done (no
 * credentials for the request's key, a body we cannot edit), fail_mode
 * decides: closed blocks the call, open sends it unchanged; an event says why.
 */
static int forward_changed(tf_conn *c, const tf_h1_head *h, tf_exchange *ex)
{
	tf_rw_changes ch;
	tf_rw_result res;
	size_t blen, mark = c->out.len;
	const uint8_t *body = request_body(c, h, &blen);
	int r;

	tf_flow_changes(c, ex, &ch);
	r = tf_rw_request(h, (const char *)c->hold.data, h->head_len, body, blen, c->provider, &ch,
			  tf_state_awscreds(), &c->out, &res);
	if (r == 0) {
		ex->hide_usage = res.usage_added;
		return 0;
	}
	c->out.len = mark;
	if (!ch.model && !ch.clamp) {
		/* Only the usage was to be asked for: the call goes as it is and
		 * is settled conservatively if its stream carries no usage. */
		tf_log(TF_LOG_DEBUG, "%s: cannot ask the stream for usage (%s)", ex->call.act.action,
		       tf_rw_strerror(r));
		return forward_as_is(c, h);
	}
	tf_flow_rewrite_failed(ex, r);
	if (tf_state_config()->fail_mode == TF_FAIL_OPEN)
		return forward_unchanged(c, h, ex, body, blen);
	return forward_blocked(c, h, ex);
}

void tf_flow_changes(const tf_conn *c, const tf_exchange *ex, tf_rw_changes *ch_out)
{
	tf_rw_changes ch = { 0 };

	if (ex->enf.new_model[0]) {
		ch.model = ex->enf.new_model;
		ch.model_len = strlen(ex->enf.new_model);
	}
	if (ex->enf.new_max_out) {
		ch.clamp = true;
		ch.max_out = ex->enf.new_max_out;
		ch.nlimit = tf_adapt_limit_fields(&ex->call, ch.limit, TF_RW_MAX_LIMIT_FIELDS);
	}
	ch.narrow_accept_encoding = c->provider == TF_PROVIDER_AZURE;
	ch.include_usage = tf_flow_wants_usage(&ex->call);
	*ch_out = ch;
}

void tf_flow_rewrite_failed(tf_exchange *ex, int r)
{
	tf_events_note("warning", &ex->call, tf_state_scope_name(),
		       "cannot rewrite the request (%s): %s", tf_rw_strerror(r),
		       tf_state_config()->fail_mode == TF_FAIL_OPEN ? "sent unchanged (fail_mode open)"
								   : "blocked (fail_mode closed)");
	tf_log(TF_LOG_WARN, "%s: cannot rewrite the request (%s)", ex->call.act.action, tf_rw_strerror(r));
	if (tf_state_config()->fail_mode == TF_FAIL_OPEN)
		return;
	ex->enf.verdict = TF_VERDICT_BLOCK;
	ex->enf.kind = TF_BLOCK_BUDGET;
	snprintf(ex->enf.detail, sizeof(ex->enf.detail),
		 "the request would have to change to fit the budget (%s), but it cannot be "
		 "rewritten: %s", ex->enf.label, tf_rw_strerror(r));
	ex->enf.label = "block";
}

/* A policy rule wants a human: wait here, on the app's own thread, for
 * approve/deny/timeout; an approved call then faces the budget as usual. */
void tf_flow_await_approval(const tf_h1_head *h, tf_exchange *ex, const uint8_t *body, size_t blen)
{
	uint64_t fp = tf_approvals_fingerprint(h->method, h->method_len, h->target, h->target_len,
					       body, blen);
	char rule[sizeof(ex->enf.detail)], who[200];
	tf_approval v;

	snprintf(rule, sizeof(rule), "%s", ex->enf.detail);
	v = tf_approvals_wait(&ex->call, fp, rule, tf_state_config()->approval_timeout_s, who,
			      sizeof(who));
	if (v == TF_APPROVAL_GRANTED) {
		ex->approved_fp = fp;
		ex->enf.verdict = TF_VERDICT_FORWARD;
		ex->enf.label = "approved";
		tf_enforce_budget(&ex->call, &ex->enf);
		return;
	}
	ex->enf.verdict = TF_VERDICT_BLOCK;
	ex->enf.kind = TF_BLOCK_APPROVAL;
	ex->enf.label = "approval";
	snprintf(ex->enf.detail, sizeof(ex->enf.detail), "%.400s: %s", ex->call.act.action, who);
}

/*
 * The request's head, with spans into `hold`: everything after it (the
 * adapter, the rewrite, the Expect removal) works there. The framer parsed
 * it already, in its own copy: `hold` is the same bytes after the empty
 * lines the framer skipped, so its spans are moved rather than the head
 * parsed again (when, against expectation, the bytes differ, it is).
 */
static int held_head(tf_conn *c, tf_h1_head *h)
{
	const tf_h1_head *p = &c->req.parsed;
	const tf_buf *fh = &c->req.head;
	size_t lead = 0;

	while (lead < c->hold.len && (c->hold.data[lead] == '\r' || c->hold.data[lead] == '\n'))
		lead++;
	if (fh->len && p->head_len == fh->len && c->hold.len - lead >= fh->len &&
	    memcmp(c->hold.data + lead, fh->data, fh->len) == 0) {
		/* Only the fields in use: the head has room for 64. */
		memcpy(h, p, offsetof(tf_h1_head, headers));
		memcpy(h->headers, p->headers, p->num_headers * sizeof(p->headers[0]));
		memcpy(&h->num_headers, &p->num_headers,
		       sizeof(*h) - offsetof(tf_h1_head, num_headers));
		tf_h1_head_move(h, (const char *)fh->data, (const char *)c->hold.data + lead);
		h->head_len += lead;
		return 0;
	}
	return tf_h1_parse_head((const char *)c->hold.data, c->hold.len, TF_H1_REQUEST, h) > 0 ? 0 : -1;
}

static int request_complete(tf_conn *c)
{
	tf_h1_head *h = malloc(sizeof(*h));
	const uint8_t *body;
	tf_exchange *ex;
	size_t blen;
	int r;

	if (!h || held_head(c, h) < 0) {
		free(h);
		return -1;
	}
	body = request_body(c, h, &blen);
	tf_state_note_request(c, h, c->hold.data, c->hold.len);
	ex = tf_exchange_open(c, h, body, blen);
	if (ex && ex->enf.verdict == TF_VERDICT_HOLD)
		tf_flow_await_approval(h, ex, body, blen);
	if (!ex || ex->enf.verdict == TF_VERDICT_FORWARD)
		r = ex && (ex->enf.new_model[0] || ex->enf.new_max_out || tf_flow_wants_usage(&ex->call))
			    ? forward_changed(c, h, ex)
			    : forward_as_is(c, h);
	else
		r = forward_blocked(c, h, ex);
	tf_buf_free(&c->req_body);
	tf_buf_free(&c->hold);
	free(h);
	return r;
}

/* Takes the app's bytes into the request framer; whole requests move to `out`. */
static void absorb(tf_conn *c, const uint8_t *p, size_t len)
{
	struct req_ctx rc = { .c = c };
	const tf_h1_sink sink = { &rc, req_on_head, req_on_body, req_on_end };
	size_t off = 0;

	if (c->hold.cap == 0)
		c->hold.cap = HOLD_CAP;
	while (off < len && (c->mode == TF_MODE_GUARD || c->mode == TF_MODE_CLASSIFY)) {
		ssize_t r = tf_h1_feed(&c->req, p + off, len - off, &sink);

		if (r < 0) {
			give_up(c, "malformed or oversized HTTP request");
			break;
		}
		if (tf_buf_append(&c->hold, p + off, (size_t)r) < 0) {
			give_up(c, "request larger than the hold cap");
			break;
		}
		off += (size_t)r;
		if (c->mode == TF_MODE_PASS) {
			drain_hold(c);
			break;
		}
		if (rc.ended) {
			rc.ended = false;
			if (request_complete(c) < 0) {
				give_up(c, "out of memory queueing a request");
				break;
			}
		}
	}
	if (off < len && queue_out(c, p + off, len - off) < 0)
		tf_log(TF_LOG_ERROR, "cannot queue %zu bytes; the connection will fail", len - off);
}

int tf_flow_write(tf_conn *c, const void *buf, size_t len, size_t *done)
{
	int ok = 1;

	pthread_mutex_lock(&c->mu);
	if (c->app_pending_set) {
		/* The app is retrying the call that completed a request. */
		ok = flush(c);
		if (ok) {
			*done = c->app_pending;
			c->app_pending_set = false;
		}
		goto out;
	}
	/* Bytes left from an earlier flush go first, before anything new. */
	if (c->out_off < c->out.len && !flush(c)) {
		ok = 0;
		goto out;
	}
	if (!c->proto_known)
		tf_h2flow_detect(c, buf, len);
	if (c->h2 || c->h2_refused) {
		tf_h2flow_absorb(c, buf, len);
	} else if (c->mode == TF_MODE_PASS || c->mode == TF_MODE_BROKEN) {
		ok = real_write(c, buf, len, done);
		goto out;
	} else {
		absorb(c, buf, len);
	}
	if (c->out.len && !flush(c)) {
		c->app_pending = len;
		c->app_pending_set = true;
		ok = 0;
		goto out;
	}
	*done = len;
out:
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static size_t take_inject(tf_conn *c, void *buf, size_t len, bool consume)
{
	size_t n = c->inject.len < len ? c->inject.len : len;

	memcpy(buf, c->inject.data, n);
	if (consume)
		tf_buf_consume(&c->inject, n);
	if (consume && c->inject.len == 0)
		tf_buf_free(&c->inject);
	return n;
}

size_t tf_flow_take_synthetic(tf_conn *c, void *buf, size_t len, bool consume)
{
	size_t n = 0;

	pthread_mutex_lock(&c->mu);
	if (c->inject.len && len)
		n = take_inject(c, buf, len, consume);
	pthread_mutex_unlock(&c->mu);
	return n;
}

static int resp_on_head(void *ctx, const tf_h1_head *h, const uint8_t *raw, size_t n)
{
	return tf_exchange_response_head(ctx, h);
}

static int resp_on_body(void *ctx, const uint8_t *p, size_t n)
{
	tf_exchange_response_body(ctx, p, n);
	return 0;
}

static int resp_on_end(void *ctx)
{
	tf_exchange_response_end(ctx);
	return 0;
}

/* The server's answers no longer make sense to us: settle what is pending
 * conservatively and stop reading (the app still gets every byte). */
static void responses_unreadable(tf_conn *c, const char *why)
{
	c->resp_broken = true;
	tf_log(TF_LOG_WARN, "connection to %s: %s; no longer reading its responses", c->host, why);
	tf_exchange_close_all(c, why);
}

/*
 * Bytes of the server's reply keep their place in the app's buffer, except
 * a stand-in's reply, which is dropped; once something has been queued for
 * the app (our answer), every later byte queues behind it so the app reads
 * everything in order. Returns how many bytes stay in buf.
 */
static size_t deliver(tf_conn *c, uint8_t *buf, size_t *kept, size_t off, size_t n, bool drop)
{
	if (drop)
		return *kept;
	if (c->inject.len == 0) {
		memmove(buf + *kept, buf + off, n);
		*kept += n;
	} else if (tf_buf_append(&c->inject, buf + off, n) < 0) {
		tf_log(TF_LOG_ERROR, "connection to %s: cannot queue %zu bytes for the app", c->host, n);
	}
	return *kept;
}

size_t tf_flow_observe(tf_conn *c, void *buf, size_t len)
{
	const tf_h1_sink sink = { c, resp_on_head, resp_on_body, resp_on_end };
	uint8_t *p = buf;
	size_t off = 0, kept = 0;

	pthread_mutex_lock(&c->mu);
	if (c->h2 || c->h2_refused) {
		kept = tf_h2flow_observe(c, p, len);
		pthread_mutex_unlock(&c->mu);
		return kept;
	}
	if (c->inject.cap == 0)
		c->inject.cap = INJECT_CAP;
	while (c->mode == TF_MODE_GUARD && !c->resp_broken && off < len) {
		tf_exchange *front = tf_exchange_front(c);
		bool drop;
		ssize_t r;

		if (!front) {
			responses_unreadable(c, "a response arrived for no request");
			break;
		}
		if (front->head_request && tf_h1_framer_idle(&c->resp))
			tf_h1_framer_expect_no_body(&c->resp);
		drop = tf_exchange_swallowing(c);
		r = tf_h1_feed(&c->resp, p + off, len - off, &sink);
		if (r < 0) {
			responses_unreadable(c, "unparseable response");
			break;
		}
		deliver(c, p, &kept, off, (size_t)r, drop);
		off += (size_t)r;
	}
	if (off < len)
		deliver(c, p, &kept, off, len - off, false);
	pthread_mutex_unlock(&c->mu);
	return kept;
}

void tf_flow_eof(tf_conn *c)
{
	const tf_h1_sink sink = { c, resp_on_head, resp_on_body, resp_on_end };

	pthread_mutex_lock(&c->mu);
	tf_h2flow_eof(c);
	if (c->mode == TF_MODE_GUARD && !c->resp_broken && !c->h2)
		tf_h1_framer_eof(&c->resp, &sink);
	tf_exchange_close_all(c, "the server closed the connection before answering");
	pthread_mutex_unlock(&c->mu);
}

size_t tf_flow_pending_extra(tf_conn *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->inject.len;
	pthread_mutex_unlock(&c->mu);
	return n;
}
