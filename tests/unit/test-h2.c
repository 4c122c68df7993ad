/*
 * shim/h2: the HTTP/2 layer between two real HTTP/2 endpoints. A libnghttp2
 * client session (the app) and a libnghttp2 server session (the provider)
 * talk through tf_h2 in memory; nghttp2 checks everything the layer must
 * keep consistent (HPACK tables on both sides, flow-control windows, stream
 * states, frame sizes) and fails the session on any violation. Decisions
 * come from the request path: "/block" is answered by us, "/rewrite" is
 * rewritten, "/drop" is refused, anything else is forwarded and tracked.
 * Every scenario runs with whole writes and with the bytes cut into small
 * pieces (1, 7, 100 octets), so no frame or header block arrives whole.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h2.h"
#include "h2frame.h"
#include "h2msg.h"
#include "streamuse.h"
#include "synth.h"

#define MAXR 64

typedef struct sreq {
	int32_t sid;
	char path[256];
	char hdrs[8192];
	size_t hlen;
	tf_buf body;
	bool done;
	size_t resp_size;
	tf_buf resp;
	size_t resp_off;
} sreq;

typedef struct creq {
	int32_t sid;
	const uint8_t *body;
	size_t len, off;
	int status;
	char hdrs[8192];
	size_t hlen;
	tf_buf resp;
	bool closed;
	uint32_t error_code;
} creq;

typedef struct track {
	int heads, ends, complete, status;
	size_t bytes;
	bool ended;
	bool cut;     /* the cut callback said so */
	uint64_t keep; /* ...keeping this many octets for the app */
	/* "/hide": the usage chunk is cut out as the shim does (exchange.c),
	 * with streamuse's drop spans */
	bool hide;
	tf_streamuse su;
	tf_buf held;       /* content from `released` on */
	uint64_t released;
	tf_su_span drop;
	bool have_drop;
} track;

typedef struct harness {
	nghttp2_session *cli, *srv;
	tf_h2 *h;
	tf_buf c2p, p2s, s2p, p2c;
	sreq sreqs[MAXR];
	size_t nsreq;
	creq creqs[MAXR];
	size_t ncreq;
	track tracks[MAXR];
	size_t ntrack;
	size_t split;
	int cli_goaway, srv_goaway, cli_ping_acks, cli_rst;
	bool srv_no_consume;
	/* live enforcement: cut a stream once it showed cut_after octets,
	 * keeping cut_keep octets of the frame at hand (0: never cut) */
	size_t cut_after, cut_keep;
	bool srv_trailers; /* the server ends responses with (indexed) trailers */
	size_t srv_frame;  /* the server's DATA frames carry at most this (0: as nghttp2 likes) */
	int srv_rst;
	uint32_t srv_rst_code;
	/* what the decision saw */
	int decisions, oversize_seen;
	char last_target[256];
	bool last_host_added;
	char last_authority[128];
} harness;

static harness H;

/* ---- engine callbacks ---- */

static void set_path(tf_hlist *out, const tf_hlist *in, const char *path, const char *clen)
{
	for (size_t i = 0; i < tf_hlist_count(in); i++) {
		const char *n, *v;
		size_t nl, vl;
		uint32_t fl;

		tf_hlist_get(in, i, &n, &nl, &v, &vl, &fl);
		if (nl == 5 && memcmp(n, ":path", 5) == 0)
			tf_hlist_add(out, n, nl, path, strlen(path), fl);
		else if (nl == 14 && memcmp(n, "content-length", 14) == 0)
			tf_hlist_add(out, n, nl, clen, strlen(clen), fl);
		else
			tf_hlist_add(out, n, nl, v, vl, fl);
	}
}

static void on_request(void *ctx, const tf_h2_req *rq, tf_h2_decision *d)
{
	harness *hs = ctx;
	static const char newbody[] = "{\"rewritten\":true}";
	char clen[16];

	hs->decisions++;
	if (rq->oversize)
		hs->oversize_seen++;
	if (!rq->head) {
		d->verdict = TF_H2V_FORWARD;
		return;
	}
	snprintf(hs->last_target, sizeof(hs->last_target), "%.*s", (int)rq->head->target_len,
		 rq->head->target);
	hs->last_host_added = rq->host_added;
	{
		const tf_h1_header *a = tf_h1_find(rq->head, ":authority");

		snprintf(hs->last_authority, sizeof(hs->last_authority), "%.*s",
			 a ? (int)a->value_len : 0, a ? a->value : "");
	}
	if (strstr(hs->last_target, "/block")) {
		d->verdict = TF_H2V_BLOCK;
		cr_assert_eq(tf_synth_error(d->msg, TF_PROVIDER_BEDROCK, TF_BLOCK_BUDGET,
					    "test: 1 > 0", false),
			     0);
		return;
	}
	if (strstr(hs->last_target, "/drop")) {
		d->verdict = TF_H2V_DROP;
		return;
	}
	if (strstr(hs->last_target, "/rewrite")) {
		d->verdict = TF_H2V_REWRITE;
		snprintf(clen, sizeof(clen), "%zu", sizeof(newbody) - 1);
		set_path(d->fields, rq->fields, "/rewritten", clen);
		d->body = (const uint8_t *)newbody;
		d->body_len = sizeof(newbody) - 1;
		d->user = &hs->tracks[hs->ntrack++];
		return;
	}
	d->verdict = TF_H2V_FORWARD;
	if (hs->ntrack < MAXR) {
		d->user = &hs->tracks[hs->ntrack++];
		((track *)d->user)->hide = strstr(hs->last_target, "/hide") != NULL;
	}
}

static void on_resp_head(void *ctx, void *user, const tf_h1_head *h)
{
	track *t = user;

	t->heads++;
	t->status = h->status;
	if (t->hide) {
		cr_assert_eq(tf_streamuse_init(&t->su, "ChatCompletions", 0, TF_SU_HIDE_USAGE_CHUNK), 0);
		tf_buf_init(&t->held, 4 << 20);
	}
}

static void on_resp_data(void *ctx, void *user, const uint8_t *p, size_t n)
{
	track *t = user;

	t->bytes += n;
	if (t->hide) {
		tf_streamuse_feed(&t->su, p, n);
		cr_assert_eq(tf_buf_append(&t->held, p, n), 0);
	}
}

/* Content [released, upto) without the drop spans, to out. */
static void hide_release(track *t, uint64_t upto, tf_buf *out)
{
	while (t->released < upto) {
		uint64_t end = upto, to;

		if (!t->have_drop)
			t->have_drop = tf_streamuse_next_drop(&t->su, &t->drop);
		if (t->have_drop && t->drop.start < upto)
			end = t->drop.start > t->released ? t->drop.start : t->released;
		cr_assert_eq(tf_buf_append(out, t->held.data, (size_t)(end - t->released)), 0);
		to = end;
		if (t->have_drop && t->drop.start < upto && end == t->drop.start) {
			to = t->drop.end;
			t->have_drop = false;
		}
		tf_buf_consume(&t->held, (size_t)(to - t->released));
		t->released = to;
		if (end == upto && to == upto)
			break;
	}
}

static bool on_resp_edit(void *ctx, void *user, bool end, tf_buf *out, uint64_t *held)
{
	track *t = user;
	uint64_t upto;

	cr_assert(!t->ended, "asked to edit a stream whose call ended");
	if (!t->hide)
		return false;
	if (!out)
		return true;
	if (end)
		tf_streamuse_finish(&t->su);
	upto = tf_streamuse_boundary(&t->su);
	if (tf_streamuse_safe_prefix(&t->su) < upto)
		upto = tf_streamuse_safe_prefix(&t->su);
	hide_release(t, end ? tf_streamuse_fed(&t->su) : upto, out);
	*held = t->held.len;
	return true;
}

#define CUT_EVENT "{\"error\":\"TokenFence: budget exceeded: test\"}"

static bool on_resp_cut(void *ctx, void *user, uint64_t have, uint64_t *keep, tf_buf *event)
{
	track *t = user;

	cr_assert(!t->ended, "asked about a stream whose call ended");
	cr_assert(!t->cut, "asked again after a cut");
	cr_assert_geq(t->bytes, have);
	if (!H.cut_after || t->bytes < H.cut_after)
		return false;
	*keep = have + H.cut_keep < t->bytes ? have + H.cut_keep : t->bytes;
	t->cut = true;
	t->keep = *keep;
	cr_assert_eq(tf_buf_append_str(event, CUT_EVENT), 0);
	return true;
}

static void on_resp_end(void *ctx, void *user, bool complete)
{
	track *t = user;

	cr_assert(!t->ended, "response_end called twice");
	t->ended = true;
	t->ends++;
	t->complete += complete;
	if (t->hide) {
		tf_streamuse_free(&t->su);
		tf_buf_free(&t->held);
	}
}

/* ---- nghttp2 client (the app) ---- */

static creq *creq_of(int32_t sid)
{
	for (size_t i = 0; i < H.ncreq; i++)
		if (H.creqs[i].sid == sid)
			return &H.creqs[i];
	return NULL;
}

static ssize_t cli_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *ud)
{
	creq *c = src->ptr;
	size_t n = c->len - c->off;

	if (n > len)
		n = len;
	memcpy(buf, c->body + c->off, n);
	c->off += n;
	if (c->off == c->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static int cli_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
		      const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	creq *c = creq_of(f->hd.stream_id);

	if (!c)
		return 0;
	if (nl == 7 && memcmp(name, ":status", 7) == 0)
		c->status = atoi((const char *)value);
	if (c->hlen + nl + vl + 4 < sizeof(c->hdrs))
		c->hlen += (size_t)snprintf(c->hdrs + c->hlen, sizeof(c->hdrs) - c->hlen, "%.*s: %.*s\n",
					    (int)nl, name, (int)vl, value);
	return 0;
}

static int cli_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
		    void *ud)
{
	creq *c = creq_of(sid);

	if (c)
		tf_buf_append(&c->resp, data, len);
	return 0;
}

static int cli_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud)
{
	creq *c = creq_of(sid);

	if (c) {
		c->closed = true;
		c->error_code = error_code;
	}
	return 0;
}

static int cli_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	if (f->hd.type == NGHTTP2_GOAWAY)
		H.cli_goaway++;
	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK))
		H.cli_ping_acks++;
	if (f->hd.type == NGHTTP2_RST_STREAM)
		H.cli_rst++;
	return 0;
}

/* ---- nghttp2 server (the provider) ---- */

static sreq *sreq_of(int32_t sid)
{
	for (size_t i = 0; i < H.nsreq; i++)
		if (H.sreqs[i].sid == sid)
			return &H.sreqs[i];
	return NULL;
}

static int srv_begin(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	sreq *r;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	cr_assert_lt(H.nsreq, MAXR);
	r = &H.sreqs[H.nsreq++];
	memset(r, 0, sizeof(*r));
	r->sid = f->hd.stream_id;
	tf_buf_init(&r->body, 64 << 20);
	tf_buf_init(&r->resp, 64 << 20);
	return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
		      const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	sreq *r = sreq_of(f->hd.stream_id);

	if (!r)
		return 0;
	if (nl == 5 && memcmp(name, ":path", 5) == 0)
		snprintf(r->path, sizeof(r->path), "%.*s", (int)vl, value);
	if (nl == 11 && memcmp(name, "x-resp-size", 11) == 0)
		r->resp_size = (size_t)atol((const char *)value);
	if (r->hlen + nl + vl + 4 < sizeof(r->hdrs))
		r->hlen += (size_t)snprintf(r->hdrs + r->hlen, sizeof(r->hdrs) - r->hlen, "%.*s: %.*s\n",
					    (int)nl, name, (int)vl, value);
	return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
		    void *ud)
{
	sreq *r = sreq_of(sid);

	if (r)
		tf_buf_append(&r->body, data, len);
	if (!H.srv_no_consume) {
		nghttp2_session_consume(s, sid, len);
	}
	return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *ud)
{
	sreq *r = src->ptr;
	size_t n = r->resp.len - r->resp_off;

	if (n > len)
		n = len;
	if (H.srv_frame && n > H.srv_frame)
		n = H.srv_frame;
	memcpy(buf, r->resp.data + r->resp_off, n);
	r->resp_off += n;
	if (r->resp_off == r->resp.len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (H.srv_trailers) {
			/* Indexed by nghttp2's encoder: a later block refers to it, so
			 * the app's decoder must have seen this one. */
			nghttp2_nv t[] = {
				{ (uint8_t *)"x-amzn-bedrock-output-token-count", (uint8_t *)"42", 33, 2, 0 },
			};

			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			cr_assert_eq(nghttp2_submit_trailer(s, sid, t, 1), 0);
		}
	}
	return (ssize_t)n;
}

/*
 * An Azure chat stream as it comes with include_usage added: every chunk
 * has "usage":null, and a usage chunk comes before [DONE]. app (when not
 * NULL) gets the stream the app asked for: without either. n chunks.
 */
static void sse_with_usage(tf_buf *srv, tf_buf *app, size_t n)
{
	static const char first[] = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\","
				    "\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0}]%s}\n\n";
	static const char chunk[] = "data: {\"choices\":[{\"delta\":{\"content\":\"t%zu \"},"
				    "\"finish_reason\":null,\"index\":0}],\"id\":\"c1\"%s}\n\n";
	static const char usage[] = "data: {\"choices\":[],\"id\":\"c1\",\"usage\":{\"completion_tokens\":"
				    "%zu,\"prompt_tokens\":9,\"total_tokens\":%zu}}\n\n";

	tf_buf_printf(srv, first, ",\"usage\":null");
	if (app)
		tf_buf_printf(app, first, "");
	for (size_t i = 0; i < n; i++) {
		tf_buf_printf(srv, chunk, i, ",\"usage\":null");
		if (app)
			tf_buf_printf(app, chunk, i, "");
	}
	tf_buf_printf(srv, usage, n, n + 9);
	tf_buf_append_str(srv, "data: [DONE]\n\n");
	if (app)
		tf_buf_append_str(app, "data: [DONE]\n\n");
}

static void respond(nghttp2_session *s, sreq *r)
{
	char n[32], len[32], rid[320];
	nghttp2_data_provider prd;
	static int counter;

	snprintf(n, sizeof(n), "%zu", r->body.len);
	snprintf(rid, sizeof(rid), "req-%08d-%s", ++counter, r->path);
	if (strstr(r->path, "/hide"))
		sse_with_usage(&r->resp, NULL, r->resp_size);
	else
		tf_buf_printf(&r->resp, "path=%s body=%zu;", r->path, r->body.len);
	while (r->resp.len < r->resp_size)
		tf_buf_append_str(&r->resp, "0123456789abcdef");
	snprintf(len, sizeof(len), "%zu", r->resp.len);
	{
		nghttp2_nv nva[] = {
			{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
			{ (uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, 0 },
			{ (uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), 0 },
			{ (uint8_t *)"x-amzn-requestid", (uint8_t *)rid, 16, strlen(rid), 0 },
			{ (uint8_t *)"x-amzn-bedrock-input-token-count", (uint8_t *)n, 32, strlen(n), 0 },
			{ (uint8_t *)"x-echo-path", (uint8_t *)r->path, 11, strlen(r->path), 0 },
		};
		size_t nn = sizeof(nva) / sizeof(nva[0]);

		if (strstr(r->path, "stream")) {
			/* A stream has no length (and the app would check it). */
			memmove(&nva[2], &nva[3], (nn - 3) * sizeof(nva[0]));
			nn--;
		}
		prd.source.ptr = r;
		prd.read_callback = srv_read;
		cr_assert_eq(nghttp2_submit_response(s, r->sid, nva, nn, &prd), 0);
	}
}

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	sreq *r;

	if (f->hd.type == NGHTTP2_GOAWAY)
		H.srv_goaway++;
	if (f->hd.type == NGHTTP2_RST_STREAM) {
		H.srv_rst++;
		H.srv_rst_code = f->rst_stream.error_code;
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (r = sreq_of(f->hd.stream_id)) != NULL) {
		r->done = true;
		respond(s, r);
	}
	return 0;
}

/* ---- plumbing ---- */

static void setup_sessions(const nghttp2_settings_entry *cli_set, size_t ncli,
			   const nghttp2_settings_entry *srv_set, size_t nsrv)
{
	static const tf_h2_ops ops = { &H, on_request, on_resp_head, on_resp_data, on_resp_end,
				       on_resp_cut, on_resp_edit };
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	size_t split = H.split;

	memset(&H, 0, sizeof(H));
	H.split = split;
	tf_buf_init(&H.c2p, 0);
	tf_buf_init(&H.p2s, 0);
	tf_buf_init(&H.s2p, 0);
	tf_buf_init(&H.p2c, 0);
	H.h = tf_h2_new(&ops, NULL);
	cr_assert_not_null(H.h);

	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, cli_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cli_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cli_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cli_frame);
	cr_assert_eq(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_max_send_header_block_length(opt, 1 << 20);
	cr_assert_eq(nghttp2_session_client_new2(&H.cli, cb, &H, opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	cr_assert_eq(nghttp2_submit_settings(H.cli, NGHTTP2_FLAG_NONE, cli_set, ncli), 0);

	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
	cr_assert_eq(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	cr_assert_eq(nghttp2_session_server_new2(&H.srv, cb, &H, opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	cr_assert_eq(nghttp2_submit_settings(H.srv, NGHTTP2_FLAG_NONE, srv_set, nsrv), 0);
}

static void teardown(void)
{
	if (H.cli)
		nghttp2_session_del(H.cli);
	if (H.srv)
		nghttp2_session_del(H.srv);
	tf_h2_free(H.h);
	for (size_t i = 0; i < H.ncreq; i++)
		tf_buf_free(&H.creqs[i].resp);
	for (size_t i = 0; i < H.nsreq; i++) {
		tf_buf_free(&H.sreqs[i].body);
		tf_buf_free(&H.sreqs[i].resp);
	}
	tf_buf_free(&H.c2p);
	tf_buf_free(&H.p2s);
	tf_buf_free(&H.s2p);
	tf_buf_free(&H.p2c);
}

static void drain_session(nghttp2_session *s, tf_buf *to)
{
	const uint8_t *data;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(s, &data)) > 0)
		cr_assert_eq(tf_buf_append(to, data, (size_t)n), 0);
	cr_assert_geq(n, 0, "nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
}

static void feed_session(nghttp2_session *s, tf_buf *from, const char *who)
{
	size_t off = 0;

	while (off < from->len) {
		size_t n = H.split && H.split < from->len - off ? H.split : from->len - off;
		ssize_t r = nghttp2_session_mem_recv(s, from->data + off, n);

		cr_assert_eq(r, (ssize_t)n, "%s: nghttp2_session_mem_recv: %s", who,
			     r < 0 ? nghttp2_strerror((int)r) : "short");
		off += n;
	}
	tf_buf_reset(from);
}

typedef int (*engine_fn)(tf_h2 *, const uint8_t *, size_t, tf_buf *, tf_buf *);

static void feed_engine(engine_fn fn, tf_buf *from)
{
	size_t off = 0;

	while (off < from->len) {
		size_t n = H.split && H.split < from->len - off ? H.split : from->len - off;

		cr_assert_eq(fn(H.h, from->data + off, n, &H.p2s, &H.p2c), 0);
		off += n;
	}
	tf_buf_reset(from);
}

/* Moves bytes until nobody has anything left to say. */
static void run(void)
{
	for (int iter = 0; iter < 100000; iter++) {
		bool moved = false;

		drain_session(H.cli, &H.c2p);
		if (H.c2p.len) {
			feed_engine(tf_h2_from_app, &H.c2p);
			moved = true;
		}
		if (H.p2s.len) {
			feed_session(H.srv, &H.p2s, "server");
			moved = true;
		}
		drain_session(H.srv, &H.s2p);
		if (H.s2p.len) {
			feed_engine(tf_h2_from_server, &H.s2p);
			moved = true;
		}
		if (H.p2c.len) {
			feed_session(H.cli, &H.p2c, "client");
			moved = true;
		}
		if (!moved)
			return;
	}
	cr_assert_fail("no quiescence");
}

static creq *submit(const char *method, const char *path, const char *body, size_t body_len,
		    size_t resp_size, size_t extra_headers)
{
	creq *c = &H.creqs[H.ncreq++];
	nghttp2_nv nva[64];
	size_t n = 0;
	char clen[32], rs[32];
	static char hv[32][64];
	nghttp2_data_provider prd;

#define NV(a, b) nva[n++] = (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), 0 }
	memset(c, 0, sizeof(*c));
	tf_buf_init(&c->resp, 64 << 20);
	c->body = (const uint8_t *)body;
	c->len = body_len;
	snprintf(clen, sizeof(clen), "%zu", body_len);
	snprintf(rs, sizeof(rs), "%zu", resp_size);
	NV(":method", method);
	NV(":scheme", "https");
	NV(":authority", "bedrock-runtime.us-east-1.amazonaws.com");
	NV(":path", path);
	NV("content-type", "application/json");
	if (body)
		NV("content-length", clen);
	NV("x-resp-size", rs);
	NV("x-amz-date", "20261126T112855Z");
	NV("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/bedrock/"
			    "aws4_request, SignedHeaders=:authority;x-amz-date, Signature=00");
	nva[n - 1].flags = NGHTTP2_NV_FLAG_NO_INDEX;
	for (size_t i = 0; i < extra_headers && i < 32; i++) {
		snprintf(hv[i], sizeof(hv[i]), "value-%zu-%zu", i, H.ncreq);
		nva[n++] = (nghttp2_nv){ (uint8_t *)"x-extra", (uint8_t *)hv[i], 7, strlen(hv[i]), 0 };
	}
#undef NV
	prd.source.ptr = c;
	prd.read_callback = cli_read;
	c->sid = nghttp2_submit_request(H.cli, NULL, nva, n, body ? &prd : NULL, NULL);
	cr_assert_gt(c->sid, 0);
	return c;
}

static const sreq *server_saw(const char *path)
{
	for (size_t i = 0; i < H.nsreq; i++)
		if (strcmp(H.sreqs[i].path, path) == 0)
			return &H.sreqs[i];
	return NULL;
}

static void check_clean(void)
{
	tf_h2_stats st;

	cr_assert_eq(H.cli_goaway, 0, "the client got a GOAWAY");
	cr_assert_eq(H.srv_goaway, 0, "the server got a GOAWAY");
	cr_assert_eq(H.cli_ping_acks, 0, "the client saw a PING ACK it never asked for");
	tf_h2_get_stats(H.h, &st);
	cr_assert(!st.app_broken && !st.server_broken);
	/* Both directions' connection windows, as each endpoint sees them,
	 * differ exactly by what the layer accounts for (h2.h). */
	cr_assert_eq(nghttp2_session_get_remote_window_size(H.srv) - st.owed,
		     nghttp2_session_get_local_window_size(H.cli),
		     "server may send %d, app can take %d, owed %lld",
		     nghttp2_session_get_remote_window_size(H.srv),
		     nghttp2_session_get_local_window_size(H.cli), (long long)st.owed);
	cr_assert_eq(nghttp2_session_get_remote_window_size(H.cli) -
			     nghttp2_session_get_local_window_size(H.srv) +
			     (int64_t)(st.held_octets + st.waiting_octets),
		     st.debt, "app may send %d, server takes %d, held %zu+%zu, debt %lld",
		     nghttp2_session_get_remote_window_size(H.cli),
		     nghttp2_session_get_local_window_size(H.srv), st.held_octets, st.waiting_octets,
		     (long long)st.debt);
}

static size_t splits[] = { 0, 1, 7, 100 };
#define SPLITS(name)                                                                         \
	ParameterizedTestParameters(h2, name)                                                \
	{                                                                                    \
		return cr_make_param_array(size_t, splits, sizeof(splits) / sizeof(splits[0])); \
	}
SPLITS(mixed_requests_keep_hpack_in_step)
SPLITS(large_bodies_forwarded_and_blocked)
SPLITS(concurrent_streams_in_order)
SPLITS(header_table_sizes)
SPLITS(cut_mid_stream)
SPLITS(cut_with_trailers_in_flight)
SPLITS(hide_then_cut)

TestSuite(h2, .fini = teardown);

/* A mix of forwarded, blocked, rewritten and refused requests on one
 * connection, with headers that fill the dynamic tables: every answer
 * decodes, the server sees exactly the forwarded ones, byte for byte. */
ParameterizedTest(size_t *split, h2, mixed_requests_keep_hpack_in_step)
{
	static const char body[] = "{\"max_tokens\":10,\"messages\":[]}";
	static const char *paths[] = { "/model/a/invoke", "/model/b/block", "/model/c/invoke",
				       "/model/d/rewrite", "/model/e/block", "/model/f/drop",
				       "/model/g/invoke", "/model/h/block", "/model/i/invoke" };
	const size_t np = sizeof(paths) / sizeof(paths[0]);

	H.split = *split;
	setup_sessions(NULL, 0, NULL, 0);
	for (size_t round = 0; round < 3; round++) {
		for (size_t i = 0; i < np; i++) {
			submit("POST", paths[i], body, sizeof(body) - 1, 100 + i * 50, (i + round) % 8);
			run();
		}
	}
	check_clean();
	for (size_t k = 0; k < H.ncreq; k++) {
		const creq *c = &H.creqs[k];
		const char *p = paths[k % np];

		cr_assert(c->closed, "request %zu (%s) never finished", k, p);
		if (strstr(p, "/block")) {
			cr_assert_eq(c->status, 402);
			cr_assert(strstr(c->hdrs, "x-amzn-errortype: BudgetExceededException"));
			cr_assert(memmem(c->resp.data, c->resp.len, "budget exceeded", 15));
		} else if (strstr(p, "/drop")) {
			cr_assert_eq(c->error_code, NGHTTP2_REFUSED_STREAM);
		} else if (strstr(p, "/rewrite")) {
			cr_assert_eq(c->status, 200);
			cr_assert(memmem(c->resp.data, c->resp.len, "path=/rewritten body=18;", 24));
		} else {
			char want[128];

			cr_assert_eq(c->status, 200, "%s: status %d", p, c->status);
			snprintf(want, sizeof(want), "path=%s body=%zu;", p, sizeof(body) - 1);
			cr_assert(memmem(c->resp.data, c->resp.len, want, strlen(want)), "%s", p);
			cr_assert_geq(c->resp.len, 100 + (k % np) * 50);
		}
	}
	/* forwarded + rewritten only, and each exactly as sent */
	cr_assert_eq(H.nsreq, 3 * 5);
	cr_assert_null(server_saw("/model/b/block"));
	cr_assert_null(server_saw("/model/f/drop"));
	{
		const sreq *r = server_saw("/model/a/invoke");

		cr_assert_not_null(r);
		cr_assert_eq(r->body.len, sizeof(body) - 1);
		cr_assert(memcmp(r->body.data, body, r->body.len) == 0);
		cr_assert(strstr(r->hdrs, ":authority: bedrock-runtime.us-east-1.amazonaws.com\n"));
		cr_assert(strstr(r->hdrs, "authorization: AWS4-HMAC-SHA256 "));
		cr_assert(strstr(r->hdrs, "content-length: 31\n"));
		cr_assert_null(strstr(r->hdrs, "\nhost:"), "the view's host line leaked");
		r = server_saw("/rewritten");
		cr_assert_not_null(r);
		cr_assert(strstr(r->hdrs, "content-length: 18\n"));
		cr_assert_eq(r->body.len, 18);
	}
	cr_assert(H.last_host_added);
	cr_assert_str_eq(H.last_authority, "bedrock-runtime.us-east-1.amazonaws.com");
	/* tracked calls: heads, bytes and ends */
	for (size_t t = 0; t < H.ntrack; t++) {
		cr_assert_eq(H.tracks[t].heads, 1);
		cr_assert_eq(H.tracks[t].ends, 1);
		cr_assert_eq(H.tracks[t].complete, 1);
		cr_assert_eq(H.tracks[t].status, 200);
		cr_assert_gt(H.tracks[t].bytes, 0);
	}
}

static char *big_body(size_t n)
{
	char *b = malloc(n + 1);

	cr_assert_not_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)('a' + i % 26);
	b[n] = '\0';
	return b;
}

/* A request body several times the server's windows: the app gets credit
 * from us while we hold it, and the server still never gets more than its
 * windows allow (nghttp2 would fail with FLOW_CONTROL_ERROR). */
ParameterizedTest(size_t *split, h2, large_bodies_forwarded_and_blocked)
{
	const size_t n = 300 * 1000;
	char *b = big_body(n);
	nghttp2_settings_entry small[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000 } };

	H.split = *split == 1 ? 997 : *split;
	setup_sessions(NULL, 0, small, 1);
	submit("POST", "/model/x/invoke", b, n, 10, 0);
	run();
	submit("POST", "/model/x/block", b, n, 10, 0);
	run();
	submit("POST", "/model/y/invoke", b, n, 70000, 2);
	run();
	submit("POST", "/model/z/rewrite", b, n, 10, 2);
	run();
	check_clean();
	cr_assert_eq(H.creqs[0].status, 200);
	cr_assert_eq(H.creqs[1].status, 402);
	cr_assert_eq(H.creqs[2].status, 200);
	cr_assert_eq(H.creqs[3].status, 200);
	cr_assert_eq(H.nsreq, 3);
	cr_assert_eq(H.sreqs[0].body.len, n);
	cr_assert(memcmp(H.sreqs[0].body.data, b, n) == 0);
	cr_assert_eq(H.sreqs[1].body.len, n);
	cr_assert_geq(H.creqs[2].resp.len, 70000);
	free(b);
}

/* Several streams at once, the first one large: later ones wait for it
 * (ids must reach the server in order) and everything completes. */
ParameterizedTest(size_t *split, h2, concurrent_streams_in_order)
{
	const size_t n = 200 * 1000;
	char *b = big_body(n);

	H.split = *split;
	setup_sessions(NULL, 0, NULL, 0);
	submit("POST", "/model/big/invoke", b, n, 10, 1);
	submit("POST", "/model/s1/block", "{}", 2, 10, 1);
	submit("POST", "/model/s2/invoke", "{}", 2, 10, 1);
	submit("GET", "/model/s3/invoke", NULL, 0, 10, 1);
	run();
	check_clean();
	for (size_t i = 0; i < 4; i++)
		cr_assert(H.creqs[i].closed);
	cr_assert_eq(H.creqs[0].status, 200);
	cr_assert_eq(H.creqs[1].status, 402);
	cr_assert_eq(H.creqs[2].status, 200);
	cr_assert_eq(H.creqs[3].status, 200);
	cr_assert_eq(H.nsreq, 3);
	cr_assert_str_eq(H.sreqs[0].path, "/model/big/invoke");
	cr_assert_str_eq(H.sreqs[1].path, "/model/s2/invoke");
	free(b);
}

/* Table sizes changed by both peers' SETTINGS, down to 0 and back. */
ParameterizedTest(size_t *split, h2, header_table_sizes)
{
	nghttp2_settings_entry cs[] = { { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 256 } };
	nghttp2_settings_entry ss[] = { { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0 } };
	nghttp2_settings_entry ss2[] = { { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 8192 } };

	H.split = *split;
	setup_sessions(cs, 1, ss, 1);
	for (int i = 0; i < 4; i++) {
		submit("POST", i % 2 ? "/model/t/block" : "/model/t/invoke", "{}", 2, 10, 6);
		run();
	}
	cr_assert_eq(nghttp2_submit_settings(H.srv, NGHTTP2_FLAG_NONE, ss2, 1), 0);
	run();
	for (int i = 0; i < 4; i++) {
		submit("POST", i % 2 ? "/model/u/rewrite" : "/model/u/invoke", "{}", 2, 10, 6);
		run();
	}
	check_clean();
	for (size_t i = 0; i < H.ncreq; i++)
		cr_assert(H.creqs[i].status == 200 || H.creqs[i].status == 402);
	cr_assert_eq(H.nsreq, 6);
}

/* A server that never sends WINDOW_UPDATE: requests past its window wait
 * in the layer, bounded, and nothing breaks. */
Test(h2, server_never_opens_its_window)
{
	const size_t n = 500 * 1000;
	char *b = big_body(n);
	tf_h2_stats st;

	setup_sessions(NULL, 0, NULL, 0);
	H.srv_no_consume = true;
	submit("POST", "/model/w/invoke", b, n, 10, 0);
	run();
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(H.cli_goaway + H.srv_goaway, 0);
	cr_assert_leq(st.waiting_octets, n);
	cr_assert_geq(st.waiting_octets, n - 65535);
	cr_assert_eq(H.sreqs[0].body.len, 65535);
	cr_assert(!H.creqs[0].closed);
	free(b);
}

/* The app resets a forwarded stream and a held one; the connection goes on. */
Test(h2, app_resets)
{
	setup_sessions(NULL, 0, NULL, 0);
	submit("POST", "/model/r/invoke", "{}", 2, 10, 0);
	run();
	cr_assert_eq(nghttp2_submit_rst_stream(H.cli, NGHTTP2_FLAG_NONE, H.creqs[0].sid,
					       NGHTTP2_CANCEL), 0);
	run();
	submit("POST", "/model/r2/invoke", "{}", 2, 10, 0);
	run();
	check_clean();
	cr_assert_eq(H.creqs[1].status, 200);
}

/* The response the server sent for r, as the app must see it when cut. */
static void check_cut_stream(const creq *c, const sreq *r, const track *t)
{
	tf_h2_stats st;

	cr_assert(t->cut, "the stream was not cut");
	cr_assert_eq(t->ends, 1);
	cr_assert(c->closed, "the app's stream did not end");
	cr_assert_eq(c->error_code, NGHTTP2_NO_ERROR, "the app's stream ended with %u", c->error_code);
	cr_assert_eq(c->status, 200);
	/* What it has: the content up to the cut, then our event, nothing after. */
	cr_assert_eq(c->resp.len, t->keep + strlen(CUT_EVENT), "app got %zu, kept %llu", c->resp.len,
		     (unsigned long long)t->keep);
	cr_assert(memcmp(c->resp.data, r->resp.data, t->keep) == 0);
	cr_assert(memcmp(c->resp.data + t->keep, CUT_EVENT, strlen(CUT_EVENT)) == 0);
	/* The server's DATA after the cut was still counted, never delivered. */
	cr_assert_gt(t->bytes, t->keep);
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(st.cut, 1);
	cr_assert_geq(st.swallowed_octets, t->bytes - t->keep);
}

/* Live enforcement: a stream cut mid-way ends, for the app, with our event
 * and END_STREAM; the server gets RST_STREAM(CANCEL); what it had in
 * flight is swallowed and credited; the next stream is untouched. */
ParameterizedTest(size_t *split, h2, cut_mid_stream)
{
	creq *c, *c2;
	tf_h2_stats st;

	H.split = *split;
	setup_sessions(NULL, 0, NULL, 0);
	H.cut_after = 20000; /* past the first 16 KiB frame */
	H.cut_keep = 1000;
	c = submit("POST", "/model/cut/invoke-with-response-stream", "{}", 2, 200000, 0);
	run();
	cr_assert_eq(H.srv_rst, 1, "the server got no RST_STREAM");
	cr_assert_eq(H.srv_rst_code, NGHTTP2_CANCEL);
	cr_assert_eq(H.tracks[0].complete, 0);
	check_cut_stream(c, server_saw("/model/cut/invoke-with-response-stream"), &H.tracks[0]);
	/* The server stopped within its first window. */
	cr_assert_lt(H.tracks[0].bytes, (size_t)65536 + 16384);
	check_clean();
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(st.live_streams, 0);

	H.cut_after = 0;
	c2 = submit("POST", "/model/next/invoke", "{}", 2, 150000, 0);
	run();
	cr_assert(c2->closed && c2->error_code == NGHTTP2_NO_ERROR);
	cr_assert_eq(c2->status, 200);
	cr_assert_eq(c2->resp.len, server_saw("/model/next/invoke")->resp.len);
	cr_assert_eq(H.tracks[1].complete, 1);
	cr_assert(!H.tracks[1].cut);
	check_clean();
}

/* The server had sent all of it, trailers included, before our RST_STREAM
 * arrived: the trailers still reach the app (its HPACK decoder must see the
 * block: the next response's trailers refer to what this one indexed) and
 * end the stream after our event. */
ParameterizedTest(size_t *split, h2, cut_with_trailers_in_flight)
{
	creq *c, *c2;

	H.split = *split;
	setup_sessions(NULL, 0, NULL, 0);
	H.srv_trailers = true;
	H.cut_after = 1;
	H.cut_keep = 100;
	c = submit("POST", "/model/cut/converse-stream", "{}", 2, 40000, 0);
	run();
	check_cut_stream(c, server_saw("/model/cut/converse-stream"), &H.tracks[0]);
	cr_assert(strstr(c->hdrs, "x-amzn-bedrock-output-token-count: 42"), "%s", c->hdrs);
	cr_assert_eq(H.tracks[0].complete, 1);
	cr_assert_eq(H.tracks[0].bytes, server_saw("/model/cut/converse-stream")->resp.len);
	check_clean();

	H.cut_after = 0;
	c2 = submit("POST", "/model/next/converse", "{}", 2, 30000, 0);
	run();
	cr_assert(c2->closed && c2->error_code == NGHTTP2_NO_ERROR);
	cr_assert_eq(c2->resp.len, server_saw("/model/next/converse")->resp.len);
	cr_assert(strstr(c2->hdrs, "x-amzn-bedrock-output-token-count: 42"), "%s", c2->hdrs);
	check_clean();
}

/* Server frame sizes and split sizes for the hidden usage chunk. */
typedef struct hide_case {
	size_t frame, split;
} hide_case;

ParameterizedTestParameters(h2, hide_usage_chunk)
{
	static hide_case cases[] = { { 0, 0 }, { 1, 0 }, { 7, 100 }, { 33, 1 }, { 100, 7 },
				     { 1000, 0 }, { 4000, 100 } };

	return cr_make_param_array(hide_case, cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * An Azure chat stream with the usage chunk TokenFence asked for, edited
 * (h2.h "Edit"): the app gets exactly the stream it asked for, in legal
 * frames (nghttp2 checks), ended; every octet taken out is credited to the
 * server on the connection (check_clean) and on the stream: the app's
 * stream window is 4 KiB and far more than that is taken out, so without
 * stream credit the server would stall. A second stream, plain, works.
 */
ParameterizedTest(hide_case *hc, h2, hide_usage_chunk)
{
	static const nghttp2_settings_entry small[] = { { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4096 } };
	static const char path[] = "/openai/deployments/gpt/chat/completions/hide/stream";
	tf_buf want, srv;
	creq *c, *c2;
	tf_h2_stats st;

	H.split = hc->split;
	setup_sessions(small, 1, NULL, 0);
	H.srv_frame = hc->frame;
	tf_buf_init(&want, 0);
	tf_buf_init(&srv, 0);
	sse_with_usage(&srv, &want, 1000);
	c = submit("POST", path, "{}", 2, 1000, 0);
	run();
	cr_assert(c->closed && c->error_code == NGHTTP2_NO_ERROR, "stream not ended cleanly");
	cr_assert_eq(c->status, 200);
	cr_assert_eq(server_saw(path)->resp.len, srv.len);
	cr_assert_eq(c->resp.len, want.len, "app got %zu, want %zu", c->resp.len, want.len);
	cr_assert(memcmp(c->resp.data, want.data, want.len) == 0);
	cr_assert(!memmem(c->resp.data, c->resp.len, "usage", 5));
	cr_assert_eq(H.tracks[0].bytes, srv.len);
	cr_assert_eq(H.tracks[0].complete, 1);
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(st.hidden_octets, srv.len - want.len);
	cr_assert_gt(srv.len - want.len, 3 * 4096);
	cr_assert_gt(st.edited, 0);
	check_clean();

	H.srv_frame = 0;
	c2 = submit("POST", "/model/next/invoke", "{}", 2, 150000, 0);
	run();
	cr_assert(c2->closed && c2->error_code == NGHTTP2_NO_ERROR);
	cr_assert_eq(c2->resp.len, server_saw("/model/next/invoke")->resp.len);
	cr_assert(memcmp(c2->resp.data, server_saw("/model/next/invoke")->resp.data, c2->resp.len) == 0);
	cr_assert_eq(H.tracks[1].complete, 1);
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(st.hidden_octets, srv.len - want.len);
	check_clean();
	tf_buf_free(&want);
	tf_buf_free(&srv);
}

/* Live enforcement cuts an edited stream: the app has whole events of the
 * stream it asked for, then our event and END_STREAM; what was held and what
 * was in flight is credited; the next stream works. */
ParameterizedTest(size_t *split, h2, hide_then_cut)
{
	static const char path[] = "/openai/deployments/gpt/chat/completions/hide/stream";
	tf_buf want, srv;
	creq *c, *c2;
	tf_h2_stats st;
	size_t keep;

	H.split = *split;
	setup_sessions(NULL, 0, NULL, 0);
	H.srv_frame = 1000;
	H.cut_after = 20000;
	tf_buf_init(&want, 0);
	tf_buf_init(&srv, 0);
	sse_with_usage(&srv, &want, 3000);
	c = submit("POST", path, "{}", 2, 3000, 0);
	run();
	cr_assert(c->closed && c->error_code == NGHTTP2_NO_ERROR, "stream not ended cleanly");
	cr_assert(H.tracks[0].cut);
	cr_assert_eq(H.srv_rst, 1, "the server got no RST_STREAM");
	cr_assert_gt(c->resp.len, strlen(CUT_EVENT));
	keep = c->resp.len - strlen(CUT_EVENT);
	cr_assert_gt(keep, 10000);
	cr_assert_lt(keep, want.len);
	cr_assert(memcmp(c->resp.data, want.data, keep) == 0);
	cr_assert(memcmp(c->resp.data + keep - 2, "\n\n", 2) == 0, "not at an event boundary");
	cr_assert(memcmp(c->resp.data + keep, CUT_EVENT, strlen(CUT_EVENT)) == 0);
	tf_h2_get_stats(H.h, &st);
	cr_assert_eq(st.cut, 1);
	check_clean();

	H.cut_after = 0;
	H.srv_frame = 0;
	c2 = submit("POST", "/model/next/invoke", "{}", 2, 150000, 0);
	run();
	cr_assert(c2->closed && c2->error_code == NGHTTP2_NO_ERROR);
	cr_assert_eq(c2->resp.len, server_saw("/model/next/invoke")->resp.len);
	check_clean();
	tf_buf_free(&want);
	tf_buf_free(&srv);
}

/* Our answers reach the app only after the server's SETTINGS (its preface). */
Test(h2, answer_waits_for_server_preface)
{
	setup_sessions(NULL, 0, NULL, 0);
	submit("POST", "/model/p/block", "{}", 2, 10, 0);
	drain_session(H.cli, &H.c2p);
	feed_engine(tf_h2_from_app, &H.c2p);
	cr_assert_eq(H.p2c.len, 0, "answered before the server's preface");
	run();
	check_clean();
	cr_assert_eq(H.creqs[0].status, 402);
}

/* Garbage from the app after the preface: GOAWAY both ways, no crash. */
Test(h2, app_garbage_ends_connection)
{
	static const uint8_t junk[] = { 0, 0, 5, 0x4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5 };
	tf_h2_stats st;

	setup_sessions(NULL, 0, NULL, 0);
	submit("POST", "/model/g/invoke", "{}", 2, 10, 0);
	run();
	cr_assert_eq(tf_h2_from_app(H.h, junk, sizeof(junk), &H.p2s, &H.p2c), 0);
	tf_h2_get_stats(H.h, &st);
	cr_assert(st.app_broken);
	cr_assert_gt(H.p2s.len, 0);
	feed_session(H.srv, &H.p2s, "server");
	cr_assert_eq(H.srv_goaway, 1);
}

/* Garbage from the server: the app gets it as it is, open calls end. */
Test(h2, server_garbage_passes_through)
{
	static const uint8_t junk[] = { 0, 0, 3, 0x8, 0, 0, 0, 0, 0, 1, 2, 3 };
	tf_h2_stats st;

	setup_sessions(NULL, 0, NULL, 0);
	submit("POST", "/model/g/invoke", "{}", 2, 1000000, 0);
	drain_session(H.cli, &H.c2p);
	feed_engine(tf_h2_from_app, &H.c2p);
	feed_session(H.srv, &H.p2s, "server");
	drain_session(H.srv, &H.s2p);
	feed_engine(tf_h2_from_server, &H.s2p);
	cr_assert_eq(tf_h2_from_server(H.h, junk, sizeof(junk), &H.p2s, &H.p2c), 0);
	tf_h2_get_stats(H.h, &st);
	cr_assert(st.server_broken);
	cr_assert(memmem(H.p2c.data, H.p2c.len, junk, sizeof(junk)));
	cr_assert_eq(H.tracks[0].ends, 1);
	cr_assert_eq(H.tracks[0].complete, 0);
}

/* Not HTTP/2 at all (wrong preface): everything passes through untouched. */
Test(h2, wrong_preface_passes_through)
{
	static const tf_h2_ops ops = { &H, on_request, on_resp_head, on_resp_data, on_resp_end,
				       NULL, NULL };
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	tf_buf a, b;
	tf_h2 *h = tf_h2_new(&ops, NULL);
	tf_h2_stats st;

	tf_buf_init(&a, 0);
	tf_buf_init(&b, 0);
	cr_assert_eq(tf_h2_from_app(h, (const uint8_t *)get, 5, &a, &b), 0);
	cr_assert_eq(tf_h2_from_app(h, (const uint8_t *)get + 5, sizeof(get) - 6, &a, &b), 0);
	cr_assert_eq(a.len, sizeof(get) - 1);
	cr_assert(memcmp(a.data, get, a.len) == 0);
	cr_assert_eq(tf_h2_from_server(h, (const uint8_t *)"HTTP/1.1 200", 12, &a, &b), 0);
	cr_assert_eq(b.len, 12);
	tf_h2_get_stats(h, &st);
	cr_assert(st.passthrough);
	tf_h2_free(h);
	tf_buf_free(&a);
	tf_buf_free(&b);
}

/* A header list past the cap is decoded to the end (tables stay in step)
 * and shown to the decision as oversize. */
Test(h2, oversize_header_list)
{
	static char big[20000];
	nghttp2_nv nva[8];
	int32_t sid;

	setup_sessions(NULL, 0, NULL, 0);
	memset(big, 'v', sizeof(big) - 1);
	for (int i = 0; i < 4; i++)
		nva[i + 4] = (nghttp2_nv){ (uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big) - 1, 0 };
	nva[0] = (nghttp2_nv){ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 };
	nva[1] = (nghttp2_nv){ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 };
	nva[2] = (nghttp2_nv){ (uint8_t *)":authority", (uint8_t *)"h", 10, 1, 0 };
	nva[3] = (nghttp2_nv){ (uint8_t *)":path", (uint8_t *)"/model/o/invoke", 5, 15, 0 };
	sid = nghttp2_submit_request(H.cli, NULL, nva, 8, NULL, NULL);
	cr_assert_gt(sid, 0);
	H.creqs[H.ncreq].sid = sid;
	tf_buf_init(&H.creqs[H.ncreq++].resp, 1 << 20);
	run();
	cr_assert_eq(H.oversize_seen, 1);
	submit("POST", "/model/o2/block", "{}", 2, 10, 3);
	run();
	cr_assert_eq(H.creqs[1].status, 402);
	cr_assert_eq(H.cli_goaway, 0);
}

/* ---- h2msg and hpack on their own ---- */

Test(h2msg, request_view_round_trip)
{
	tf_hlist l, back;
	tf_buf text;
	tf_h1_head *h = malloc(sizeof(*h));
	bool added;

	tf_hlist_init(&l, 4096, 32);
	tf_hlist_init(&back, 4096, 32);
	tf_buf_init(&text, 0);
	tf_hlist_add(&l, ":method", 7, "POST", 4, 0);
	tf_hlist_add(&l, ":scheme", 7, "https", 5, 0);
	tf_hlist_add(&l, ":authority", 10, "example.com:8443", 16, 0);
	tf_hlist_add(&l, ":path", 5, "/a%3Ab?x=1", 10, 0);
	tf_hlist_add(&l, "authorization", 13, "secret", 6, TF_HPACK_NEVER_INDEX);
	tf_hlist_add(&l, "content-length", 14, "5", 1, 0);
	cr_assert_eq(tf_h2msg_request_view(&l, 5, &text, h, &added), 0);
	cr_assert(added);
	cr_assert_eq(h->content_length, 5);
	cr_assert(tf_h1_token_eq(h->method, h->method_len, "POST"));
	cr_assert_eq(h->target_len, 10);
	cr_assert_not_null(tf_h1_find(h, "host"));
	cr_assert_not_null(tf_h1_find(h, ":authority"));
	cr_assert_eq(tf_h2msg_request_from_text((const char *)text.data, text.len, true, &l, &back), 0);
	cr_assert_eq(tf_hlist_count(&back), tf_hlist_count(&l));
	{
		size_t vl;
		const char *v = tf_hlist_find(&back, "authorization", &vl);
		const tf_hfield *f = (const tf_hfield *)back.fields.data;

		cr_assert_not_null(v);
		cr_assert_eq(vl, 6);
		for (size_t i = 0; i < tf_hlist_count(&back); i++) {
			const char *n = (const char *)back.arena.data + f[i].name;

			if (f[i].name_len == 13 && memcmp(n, "authorization", 13) == 0)
				cr_assert(f[i].flags & TF_HPACK_NEVER_INDEX);
		}
		v = tf_hlist_find(&back, ":authority", &vl);
		cr_assert_not_null(v);
		cr_assert_null(tf_hlist_find(&back, "host", &vl));
	}
	tf_hlist_reset(&l);
	tf_hlist_add(&l, ":method", 7, "GET", 3, 0);
	tf_hlist_add(&l, ":path", 5, "/", 1, 0);
	tf_hlist_add(&l, "x-bad", 5, "a\r\nb", 4, 0);
	cr_assert_eq(tf_h2msg_request_view(&l, 0, &text, h, &added), TF_H2MSG_EBAD);
	tf_hlist_free(&l);
	tf_hlist_free(&back);
	tf_buf_free(&text);
	free(h);
}

Test(h2msg, synthetic_response_is_neutral)
{
	tf_buf msg, block;
	tf_hlist l;
	size_t off;
	nghttp2_hd_inflater *inf;
	nghttp2_hd_deflater *def;
	uint8_t warm[512];
	nghttp2_nv nv[] = { { (uint8_t *)"x-amzn-requestid", (uint8_t *)"abc", 16, 3, 0 },
			    { (uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, 0 } };
	ssize_t n;

	tf_buf_init(&msg, 0);
	tf_buf_init(&block, 0);
	tf_hlist_init(&l, 8192, 64);
	cr_assert_eq(tf_synth_error(&msg, TF_PROVIDER_AZURE, TF_BLOCK_POLICY, "x", false), 0);
	cr_assert_eq(tf_h2msg_response_from_h1(msg.data, msg.len, &l, &off), 0);
	cr_assert_null(tf_hlist_find(&l, "connection", &off) ? "connection" : NULL);
	cr_assert_eq(tf_hpack_encode_neutral(&l, &block), 0);
	/* a decoder with a warm table: the block decodes and the table is unchanged */
	cr_assert_eq(nghttp2_hd_inflate_new(&inf), 0);
	cr_assert_eq(nghttp2_hd_deflate_new(&def, 4096), 0);
	n = nghttp2_hd_deflate_hd(def, warm, sizeof(warm), nv, 2);
	cr_assert_gt(n, 0);
	{
		int fl = 0;
		nghttp2_nv o;
		const uint8_t *p = warm;
		size_t left = (size_t)n;
		size_t before;

		for (;;) {
			ssize_t r = nghttp2_hd_inflate_hd2(inf, &o, &fl, p, left, 1);
			cr_assert_geq(r, 0);
			p += r;
			left -= (size_t)r;
			if (fl & NGHTTP2_HD_INFLATE_FINAL)
				break;
		}
		nghttp2_hd_inflate_end_headers(inf);
		before = nghttp2_hd_inflate_get_dynamic_table_size(inf);
		cr_assert_gt(before, 0);
		p = block.data;
		left = block.len;
		for (;;) {
			ssize_t r = nghttp2_hd_inflate_hd2(inf, &o, &fl, p, left, 1);
			cr_assert_geq(r, 0);
			p += r;
			left -= (size_t)r;
			if (fl & NGHTTP2_HD_INFLATE_FINAL)
				break;
		}
		nghttp2_hd_inflate_end_headers(inf);
		cr_assert_eq(nghttp2_hd_inflate_get_dynamic_table_size(inf), before);
		cr_assert_eq(nghttp2_hd_inflate_get_num_table_entries(inf), 61 + 2);
	}
	nghttp2_hd_inflate_del(inf);
	nghttp2_hd_deflate_del(def);
	tf_hlist_free(&l);
	tf_buf_free(&msg);
	tf_buf_free(&block);
}

/* The frame reader at every split point, and right before a guard page. */
Test(h2frame, reader_every_split)
{
	uint8_t wire[64];
	size_t len = 0;
	tf_buf b;

	tf_buf_init(&b, 0);
	tf_buf_append(&b, TF_H2F_PREFACE, TF_H2F_PREFACE_LEN);
	tf_h2f_put(&b, TF_H2F_SETTINGS, 0, 0, NULL, 0);
	tf_h2f_put(&b, TF_H2F_DATA, 1, 3, "hello", 5);
	memcpy(wire, b.data, b.len);
	len = b.len;
	for (size_t cut = 0; cut <= len; cut++) {
		tf_h2f_reader r;
		int headers = 0, ends = 0, preface = 0;
		size_t payload = 0;
		const uint8_t *parts[2] = { wire, wire + cut };
		size_t plens[2] = { cut, len - cut };

		tf_h2f_reader_init(&r, true, 16384);
		for (int k = 0; k < 2; k++) {
			size_t off = 0;

			for (;;) {
				tf_h2f_event ev;
				const uint8_t *pc;
				size_t pn;

				off += tf_h2f_read(&r, parts[k] + off, plens[k] - off, &ev, &pc, &pn);
				if (ev == TF_H2F_EV_NONE)
					break;
				cr_assert_neq(ev, TF_H2F_EV_ERROR);
				preface += ev == TF_H2F_EV_PREFACE;
				headers += ev == TF_H2F_EV_HEADER;
				ends += ev == TF_H2F_EV_END;
				if (ev == TF_H2F_EV_PAYLOAD)
					payload += pn;
			}
		}
		cr_assert_eq(preface, 1);
		cr_assert_eq(headers, 2);
		cr_assert_eq(ends, 2);
		cr_assert_eq(payload, 5);
		cr_assert(tf_h2f_reader_at_boundary(&r));
	}
	{
		long page = sysconf(_SC_PAGESIZE);
		uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *at;
		tf_h2f_reader r;
		size_t off = 0;

		cr_assert_neq(map, MAP_FAILED);
		cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
		at = map + page - len;
		memcpy(at, wire, len);
		tf_h2f_reader_init(&r, true, 16384);
		for (;;) {
			tf_h2f_event ev;
			const uint8_t *pc;
			size_t pn;

			off += tf_h2f_read(&r, at + off, len - off, &ev, &pc, &pn);
			if (ev == TF_H2F_EV_NONE)
				break;
			cr_assert_neq(ev, TF_H2F_EV_ERROR);
		}
		cr_assert_eq(off, len);
		munmap(map, (size_t)page * 2);
	}
	tf_buf_free(&b);
}

Test(h2frame, bad_preface_and_oversize)
{
	tf_h2f_reader r;
	tf_h2f_event ev;
	const uint8_t *pc;
	size_t pn;
	uint8_t hdr[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };

	tf_h2f_reader_init(&r, true, 16384);
	tf_h2f_read(&r, (const uint8_t *)"GET ", 4, &ev, &pc, &pn);
	cr_assert_eq(ev, TF_H2F_EV_ERROR);
	tf_h2f_reader_init(&r, false, 16384);
	tf_h2f_read(&r, hdr, 9, &ev, &pc, &pn);
	cr_assert_eq(ev, TF_H2F_EV_ERROR);
}

Test(h2frame, alpn_without_h2)
{
	static const uint8_t both[] = "\x02h2\x08http/1.1";
	static const uint8_t only[] = "\x02h2";
	static const uint8_t none[] = "\x08http/1.1\x06spdy/3";
	static const uint8_t bad[] = "\x09http/1.1";
	uint8_t out[32];

	cr_assert_eq(tf_h2f_alpn_without_h2(both, sizeof(both) - 1, out), 9);
	cr_assert(memcmp(out, "\x08http/1.1", 9) == 0);
	cr_assert_eq(tf_h2f_alpn_without_h2(only, sizeof(only) - 1, out), 0);
	cr_assert_eq(tf_h2f_alpn_without_h2(none, sizeof(none) - 1, out), (long)sizeof(none) - 1);
	cr_assert_eq(tf_h2f_alpn_without_h2(bad, sizeof(bad) - 1, out), -1);
	cr_assert_eq(tf_h2f_alpn_without_h2((const uint8_t *)"\x00", 1, out), -1);
}
