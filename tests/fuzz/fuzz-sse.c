/*
 * Server-Sent Events parser.
 * Byte 0: cap (low 3 bits: 0 = default 1 MiB, else 8 << n bytes). Byte 1:
 * seed of the cut points. Invariants: the same events and overflows whether
 * the input comes whole, in random pieces or byte by byte; the pending event
 * never exceeds the cap; dispatched events fit the cap.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "sse.h"

typedef struct run {
	tf_sse_parser p;
	tf_sse_sink sink;
	tf_buf *log;
	size_t cap;
} run;

static int on_event(void *ctx, const tf_sse_event *ev)
{
	run *r = ctx;
	uint32_t h = 2166136261u;

	FUZZ_CHECK(ev->data_len < r->cap && ev->event_len <= r->cap);
	FUZZ_CHECK(ev->id_len <= TF_SSE_MAX_ID && memchr(ev->id, '\0', ev->id_len) == NULL);
	FUZZ_CHECK(ev->event_len > 0);
	for (size_t i = 0; i < ev->data_len; i++) {
		FUZZ_CHECK(ev->data[i] != '\r');
		h = (h ^ (uint8_t)ev->data[i]) * 16777619u;
	}
	for (size_t i = 0; i < ev->event_len; i++)
		FUZZ_CHECK(ev->event[i] != '\r' && ev->event[i] != '\n');
	tf_buf_printf(r->log, "EV %zu %zu %08" PRIx32 " %zu %" PRId64 "\n", ev->event_len,
		      ev->data_len, h, ev->id_len, ev->retry_ms);
	return 0;
}

static int on_overflow(void *ctx)
{
	run *r = ctx;

	tf_buf_printf(r->log, "OVERFLOW\n");
	return 0;
}

static int feed(void *state, const uint8_t *p, size_t n)
{
	run *r = state;
	int e = tf_sse_feed(&r->p, p, n, &r->sink);

	FUZZ_CHECK(e == 0);
	FUZZ_CHECK(r->p.line.len + r->p.data.len + r->p.event.len <= r->cap);
	FUZZ_CHECK(r->p.line.alloc <= r->cap && r->p.data.alloc <= r->cap &&
		   r->p.event.alloc <= r->cap && r->p.id.alloc <= TF_SSE_MAX_ID);
	return 1;
}

static void run_once(size_t cap, const uint8_t *data, size_t size, const fuzz_cuts *cuts,
		     int bytewise, tf_buf *log)
{
	run r = { .log = log, .cap = cap };

	r.sink = (tf_sse_sink){ &r, on_event, on_overflow };
	tf_sse_init(&r.p, cap);
	fuzz_feed_pieces(&r, feed, data, size, cuts, bytewise);
	tf_buf_printf(log, "%s %" PRIu64 " %" PRIu64 "\n", tf_sse_idle(&r.p) ? "IDLE" : "PENDING",
		      r.p.events, r.p.overflows);
	tf_sse_free(&r.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tf_buf whole, other;
	fuzz_cuts cuts;
	size_t cap;
	uint8_t seed;

	if (size < 2)
		return 0;
	cap = (data[0] & 7) ? (size_t)8 << (data[0] & 7) : TF_SSE_DEFAULT_CAP;
	seed = data[1];
	data += 2;
	size -= 2;
	tf_buf_init(&whole, 0);
	tf_buf_init(&other, 0);
	run_once(cap, data, size, NULL, 0, &whole);
	fuzz_make_cuts(&cuts, seed, size);
	run_once(cap, data, size, &cuts, 0, &other);
	fuzz_expect_same(&whole, &other, "random pieces");
	if (size <= FUZZ_BYTEWISE_MAX) {
		tf_buf_reset(&other);
		run_once(cap, data, size, NULL, 1, &other);
		fuzz_expect_same(&whole, &other, "byte by byte");
	}
	tf_buf_free(&whole);
	tf_buf_free(&other);
	return 0;
}
