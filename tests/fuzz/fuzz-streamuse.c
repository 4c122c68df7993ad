/*
 * libFuzzer harness for shim/streamuse (untrusted streamed response bodies).
 *
 * Input: byte 0 picks the operation (low 3 bits) and, for the OpenAI chat
 * ones, TF_SU_HIDE_USAGE_CHUNK (bit 3); byte 1 seeds the cut points; the
 * rest is the body.
 *
 * Invariants: never a crash, over-read or leak (ASan); the same facts
 * (usage, end, estimate, error, model, unreadable, boundary, drop spans)
 * whether the body comes whole, in random pieces or byte by byte; while
 * feeding, the safe prefix never decreases nor passes what was fed, the
 * boundary never passes it, spans come in order inside what was just
 * decided, the estimate never decreases before the final usage, the held
 * bytes stay within one event and every buffer within its cap; after
 * finish everything is released; error strings are printable; in hide mode
 * the app's view, read again in hide mode, has nothing left to drop; the
 * terminator is one valid frame or event that a fresh reader sees as the
 * failure it is meant to be; and a reader that parses every event into the
 * DOM (dom_only) finds the same facts as the one that reads them on the
 * JSON tape.
 *
 * Seeds (tests/fuzz/corpus/streamuse): every stream of tests/data/streams
 * behind its two header bytes, plus a few hand-made ones.
 *
 * Fuzz: tests/fuzz/run 60 streamuse (the corpus replays in `meson test --suite fuzz`).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"
#include "streamuse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
	if (!cond)
		abort();
}

static const char *const ops[] = {
	"InvokeModelWithResponseStream", "ConverseStream", "ChatCompletions", "Completions",
	"OpenAIChatCompletions",        "Responses",      "OpenAIResponses", "InvokeModel",
};

static void printable(const char *s)
{
	for (; *s; s++)
		check((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
}

typedef struct walk {
	uint64_t released, last_est, last_bnd;
	size_t drops;
	tf_buf app, log;
	const uint8_t *in;
} walk;

static void step(tf_streamuse *s, walk *w)
{
	uint64_t fed = tf_streamuse_fed(s), safe = tf_streamuse_safe_prefix(s);
	uint64_t bnd = tf_streamuse_boundary(s), est = tf_streamuse_output_estimate(s), at;
	tf_su_span sp;
	tf_usage u;

	check(safe >= w->released && safe <= fed);
	check(bnd >= w->last_bnd && bnd <= fed);
	check(fed - safe <= TF_SU_MAX_EVENT + 2);
	check(s->block.alloc <= TF_SU_MAX_EVENT && s->scratch.alloc <= TF_SU_MAX_FRAME);
	check(s->es.buf.alloc <= TF_SU_MAX_FRAME);
	check(s->sse.line.alloc <= TF_SU_MAX_EVENT && s->sse.data.alloc <= TF_SU_MAX_EVENT);
	w->last_bnd = bnd;
	if (!tf_streamuse_usage(s, &u)) {
		check(est >= w->last_est);
		w->last_est = est;
	}
	at = w->released;
	while (tf_streamuse_next_drop(s, &sp)) {
		check(sp.start >= at && sp.start < sp.end && sp.end <= safe);
		check(sp.kind == TF_SU_DROP_EVENT || sp.kind == TF_SU_DROP_MEMBER);
		tf_buf_append(&w->app, w->in + at, (size_t)(sp.start - at));
		tf_buf_printf(&w->log, "drop %" PRIu64 "-%" PRIu64 ":%d\n", sp.start, sp.end, sp.kind);
		at = sp.end;
		w->drops++;
	}
	tf_buf_append(&w->app, w->in + at, (size_t)(safe - at));
	w->released = safe;
}

/* Feeds in[0..n) in pieces (seed 0: whole; 1: byte by byte; else random). */
static void run(const char *op, unsigned flags, const uint8_t *in, size_t n, unsigned seed,
		walk *w, tf_streamuse *s, bool dom_only)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t at = 0;

	memset(w, 0, sizeof(*w));
	w->in = in;
	tf_buf_init(&w->app, 0);
	tf_buf_init(&w->log, 0);
	tf_streamuse_init(s, op, 200, flags);
	s->dom_only = dom_only;
	while (at < n) {
		size_t k = n - at;
		uint8_t *piece;

		if (seed == 1) {
			k = 1;
		} else if (seed > 1) {
			x = x * 1103515245u + 12345u;
			k = 1 + (x >> 16) % 64;
			if (k > n - at)
				k = n - at;
		}
		/* An exact-size copy, so a read past the piece is caught. */
		piece = malloc(k);
		check(piece != NULL);
		memcpy(piece, in + at, k);
		tf_streamuse_feed(s, piece, k);
		free(piece);
		step(s, w);
		at += k;
	}
	tf_streamuse_finish(s);
	step(s, w);
	check(tf_streamuse_safe_prefix(s) == tf_streamuse_fed(s) && tf_streamuse_fed(s) == n);
	check(tf_streamuse_end(s) != TF_SU_RUNNING);
	printable(tf_streamuse_error_type(s));
	printable(tf_streamuse_error_message(s));
	printable(tf_streamuse_model(s));
	{
		tf_usage u;
		bool final = tf_streamuse_usage(s, &u);
		const char *why = tf_streamuse_unreadable(s);

		tf_buf_printf(&w->log, "end=%d bnd=%" PRIu64 " est=%" PRIu64 " why=%s err=%s/%s model=%s\n",
			      (int)tf_streamuse_end(s), tf_streamuse_boundary(s),
			      tf_streamuse_output_estimate(s), why ? why : "-",
			      tf_streamuse_error_type(s), tf_streamuse_error_message(s),
			      tf_streamuse_model(s));
		if (final)
			tf_buf_printf(&w->log, "usage %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
				      u.input, u.output, u.reasoning, u.cache_read, u.cache_write);
		tf_streamuse_usage_so_far(s, &u);
		tf_buf_printf(&w->log, "so far %" PRIu64 " %" PRIu64 " %zu\n", u.input, u.output,
			      w->app.len);
	}
}

static bool same_buf(const tf_buf *a, const tf_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool same_log(const walk *a, const walk *b)
{
	return same_buf(&a->log, &b->log) && same_buf(&a->app, &b->app);
}

static void done(walk *w, tf_streamuse *s)
{
	tf_buf_free(&w->app);
	tf_buf_free(&w->log);
	tf_streamuse_free(s);
}

static void check_terminator(const tf_streamuse *s, const char *op)
{
	tf_buf out;
	tf_streamuse t;
	walk w;

	tf_buf_init(&out, 0);
	if (tf_streamuse_terminator(s, NULL, "fuzz \"budget\"\n", &out) != 0) {
		check(s->format == TF_SU_UNKNOWN && out.len == 0);
		tf_buf_free(&out);
		return;
	}
	if (s->format == TF_SU_BEDROCK_INVOKE || s->format == TF_SU_BEDROCK_CONVERSE) {
		tf_es_message m;

		check(tf_es_parse(out.data, out.len, 0, &m) == 0);
	}
	run(op, 0, out.data, out.len, 0, &w, &t, false);
	check(tf_streamuse_end(&t) == TF_SU_FAILED && tf_streamuse_unreadable(&t) == NULL);
	check(strcmp(tf_streamuse_error_message(&t), "TokenFence: fuzz \"budget\"?") == 0);
	check(tf_streamuse_boundary(&t) == out.len);
	done(&w, &t);
	tf_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *op;
	unsigned flags;
	const uint8_t *in;
	size_t n;
	tf_streamuse a, b, c;
	walk wa, wb, wc;

	if (size < 2)
		return 0;
	op = ops[data[0] & 7];
	flags = (data[0] & 8) && tf_streamuse_format(op) == TF_SU_OPENAI_CHAT ? TF_SU_HIDE_USAGE_CHUNK
									       : 0;
	in = data + 2;
	n = size - 2;

	run(op, flags, in, n, 0, &wa, &a, false);
	run(op, flags, in, n, 2u + data[1], &wb, &b, false);
	check(same_log(&wa, &wb));
	run(op, flags, in, n, 0, &wc, &c, true);
	check(same_log(&wa, &wc));
	done(&wc, &c);
	if (n <= 4096) {
		run(op, flags, in, n, 1, &wc, &c, false);
		check(same_log(&wa, &wc));
		done(&wc, &c);
	}
	if (flags && !tf_streamuse_unreadable(&a) && wa.app.len) {
		/* What the app got has nothing left to hide. */
		run(op, flags, wa.app.data, wa.app.len, 0, &wc, &c, false);
		check(wc.drops == 0 || tf_streamuse_unreadable(&c) != NULL);
		done(&wc, &c);
	}
	check_terminator(&a, op);
	done(&wa, &a);
	done(&wb, &b);
	return 0;
}
