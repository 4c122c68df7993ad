/*
 * The HTTP/2 layer (shim/h2.h) between an app and a server, both played by
 * the input.
 * Byte 0: options (bit 0: policing off; bit 1: give the app the client
 * preface first; bit 2: give the server's side an empty SETTINGS first;
 * bit 3: live enforcement cuts every watched stream as soon as it is asked;
 * bits 4-5: the first decision, then they rotate forward / block / rewrite /
 * drop; bit 6: every watched stream is edited: each answer gives half of
 * what is pending, drops a quarter, holds the rest; everything at the end). Byte 1: seed for how records are split, and how much of the frame
 * at hand a cut keeps. Then records:
 * [direction (bit 0: 0 app, 1 server)] [length] [bytes...].
 * Invariants: every tracked stream gets exactly one response_end, response
 * callbacks only for open streams, a
 * cut asked about at most once per stream and only within what was shown,
 * edits only for open streams not cut, live streams and held octets within the
 * layer's limits, debt and owed credit never negative; nothing leaks (ASan).
 */
#include "fuzz.h"
#include "h2.h"
#include "h2frame.h"
#include "log.h"
#include "synth.h"

#define MAX_USERS 512

typedef struct run {
	int verdict;
	int opened[MAX_USERS];
	int ended[MAX_USERS];
	uint64_t shown[MAX_USERS];
	bool cut[MAX_USERS];
	uint64_t handled[MAX_USERS]; /* edited: octets given or dropped */
	size_t nusers;
	bool cutting, editing;
	uint8_t keep;
} run;

static void on_request(void *ctx, const tf_h2_req *rq, tf_h2_decision *d)
{
	run *r = ctx;
	static const char body[] = "{\"rewritten\":true}";

	FUZZ_CHECK(rq->sid & 1);
	FUZZ_CHECK(!rq->body || rq->body_len <= ((size_t)32 << 20));
	d->verdict = (tf_h2_verdict)(r->verdict++ % 4);
	if (d->verdict == TF_H2V_BLOCK) {
		FUZZ_CHECK(tf_synth_error(d->msg, TF_PROVIDER_BEDROCK, TF_BLOCK_BUDGET, "fuzz", false) == 0);
		return;
	}
	if (d->verdict == TF_H2V_REWRITE) {
		for (size_t i = 0; i < tf_hlist_count(rq->fields); i++) {
			const char *n, *v;
			size_t nl, vl;
			uint32_t fl;

			tf_hlist_get(rq->fields, i, &n, &nl, &v, &vl, &fl);
			tf_hlist_add(d->fields, n, nl, v, vl, fl);
		}
		d->body = (const uint8_t *)body;
		d->body_len = sizeof(body) - 1;
	}
	if ((d->verdict == TF_H2V_FORWARD || d->verdict == TF_H2V_REWRITE) && r->nusers < MAX_USERS) {
		r->opened[r->nusers] = 1;
		d->user = &r->opened[r->nusers++];
	}
}

static size_t user_index(run *r, void *user)
{
	size_t i = (size_t)((int *)user - r->opened);

	FUZZ_CHECK(i < r->nusers);
	return i;
}

static void on_head(void *ctx, void *user, const tf_h1_head *h)
{
	run *r = ctx;

	FUZZ_CHECK(!r->ended[user_index(r, user)]);
	FUZZ_CHECK(h->status >= 100 && h->status <= 999);
}

static void on_data(void *ctx, void *user, const uint8_t *p, size_t n)
{
	run *r = ctx;

	FUZZ_CHECK(!r->ended[user_index(r, user)]);
	FUZZ_CHECK(n > 0);
	r->shown[user_index(r, user)] += n;
	(void)p;
}

static bool on_cut(void *ctx, void *user, uint64_t have, uint64_t *keep, tf_buf *event)
{
	run *r = ctx;
	size_t i = user_index(r, user);

	FUZZ_CHECK(!r->ended[i] && !r->cut[i]);
	FUZZ_CHECK(have <= r->shown[i]);
	FUZZ_CHECK(event->len == 0);
	if (!r->cutting)
		return false;
	*keep = have + r->keep < r->shown[i] ? have + r->keep : r->shown[i];
	r->cut[i] = true;
	return tf_buf_append_str(event, "{\"message\":\"TokenFence: budget exceeded: fuzz\"}") == 0;
}

static bool on_edit(void *ctx, void *user, bool end, tf_buf *out, uint64_t *held)
{
	static const uint8_t fill[256] = { 'e' };
	run *r = ctx;
	size_t i = user_index(r, user);
	uint64_t pending, give;

	FUZZ_CHECK(!r->ended[i] && !r->cut[i]);
	if (!r->editing)
		return false;
	if (!out)
		return true;
	FUZZ_CHECK(out->len == 0 && r->handled[i] <= r->shown[i]);
	pending = r->shown[i] - r->handled[i];
	give = end ? pending : pending / 2;
	for (uint64_t k = give; k;) {
		size_t n = k < sizeof(fill) ? (size_t)k : sizeof(fill);

		FUZZ_CHECK(tf_buf_append(out, fill, n) == 0);
		k -= n;
	}
	r->handled[i] += end ? pending : give + pending / 4;
	*held = r->shown[i] - r->handled[i];
	return true;
}

static void on_end(void *ctx, void *user, bool complete)
{
	run *r = ctx;
	size_t i = user_index(r, user);

	FUZZ_CHECK(!r->ended[i]);
	r->ended[i] = 1;
	(void)complete;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t settings[TF_H2F_HEADER_LEN] = { 0, 0, 0, TF_H2F_SETTINGS, 0, 0, 0, 0, 0 };
	run r = { 0 };
	tf_h2_ops ops = { &r, on_request, on_head, on_data, on_end, on_cut, on_edit };
	tf_h2_limits lim = { 8, 1 << 16, 1 << 17, 4096, 32, 1 << 18 };
	tf_buf to_server, to_app;
	tf_h2_stats st;
	fuzz_cuts cuts;
	size_t off = 2;
	tf_h2 *h;

	if (size < 2)
		return 0;
	tf_log_setup("off", 0);
	r.verdict = (data[0] >> 4) & 3;
	r.cutting = data[0] & 8;
	r.editing = data[0] & 64;
	r.keep = data[1];
	h = tf_h2_new(&ops, &lim);
	FUZZ_CHECK(h != NULL);
	tf_buf_init(&to_server, 0);
	tf_buf_init(&to_app, 0);
	if (data[0] & 1)
		tf_h2_stop_policing(h);
	if (data[0] & 2)
		tf_h2_from_app(h, (const uint8_t *)TF_H2F_PREFACE, TF_H2F_PREFACE_LEN, &to_server, &to_app);
	if (data[0] & 4)
		tf_h2_from_server(h, settings, sizeof(settings), &to_server, &to_app);
	while (off + 2 <= size) {
		int server = data[off] & 1;
		size_t n = data[off + 1];

		off += 2;
		if (n > size - off)
			n = size - off;
		fuzz_make_cuts(&cuts, data[1] ^ (uint8_t)off, n);
		for (size_t k = 0, start = 0; start < n; k++) {
			size_t end = k < cuts.n ? cuts.at[k] : n;
			uint8_t *piece;

			if (end <= start)
				continue;
			piece = fuzz_piece(data + off + start, end - start);
			if (server)
				tf_h2_from_server(h, piece, end - start, &to_server, &to_app);
			else
				tf_h2_from_app(h, piece, end - start, &to_server, &to_app);
			free(piece);
			start = end;
		}
		off += n;
		tf_h2_get_stats(h, &st);
		FUZZ_CHECK(st.live_streams <= lim.max_streams);
		FUZZ_CHECK(st.held_octets <= lim.held_cap + TF_H2F_MAX_LEN + 1);
		FUZZ_CHECK(st.debt >= 0 && st.owed >= 0);
		/* the glue drains both outputs after every call */
		tf_buf_reset(&to_server);
		tf_buf_reset(&to_app);
	}
	tf_h2_server_closed(h);
	tf_h2_free(h);
	for (size_t i = 0; i < r.nusers; i++)
		FUZZ_CHECK(r.ended[i] == 1);
	tf_buf_free(&to_server);
	tf_buf_free(&to_app);
	return 0;
}
