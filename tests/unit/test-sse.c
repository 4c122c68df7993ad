#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "split.h"
#include "sse.h"

typedef struct sopts {
	size_t cap;
	bool abort_on_event;
} sopts;

typedef struct srec {
	tf_buf *log;
	bool abort_on_event;
} srec;

static int on_event(void *ctx, const tf_sse_event *ev)
{
	srec *r = ctx;

	tf_buf_printf(r->log, "EV %.*s [%.*s] id=%.*s retry=%" PRId64 "\n", (int)ev->event_len,
		      ev->event, (int)ev->data_len, ev->data, (int)ev->id_len, ev->id, ev->retry_ms);
	return r->abort_on_event ? -1 : 0;
}

static int on_overflow(void *ctx)
{
	srec *r = ctx;

	tf_buf_printf(r->log, "OVERFLOW\n");
	return 0;
}

static void run_sse(void *arg, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
		    tf_buf *log)
{
	const sopts *o = arg;
	srec rec = { log, o && o->abort_on_event };
	tf_sse_sink sink = { &rec, on_event, on_overflow };
	tf_sse_parser p;
	size_t piece, start = 0;
	int r = 0;

	tf_sse_init(&p, o ? o->cap : 0);
	for (piece = 0; piece <= ncuts && r == 0; piece++) {
		size_t end = piece < ncuts ? cuts[piece] : n;
		uint8_t *c = tf_test_piece(in + start, end - start);

		r = tf_sse_feed(&p, c, end - start, &sink);
		free(c);
		start = end;
		/* Memory stays bounded whatever the input. */
		cr_assert_leq(p.line.len + p.data.len + p.event.len, p.cap);
	}
	if (r)
		tf_buf_printf(log, "ERR %d\n", r);
	else
		tf_buf_printf(log, "%s\n", tf_sse_idle(&p) ? "IDLE" : "PENDING");
	tf_sse_free(&p);
}

static void check(const char *in, const char *want)
{
	tf_test_splits(run_sse, NULL, in, strlen(in), want);
}

static void check_cap(size_t cap, const char *in, const char *want)
{
	sopts o = { .cap = cap };

	tf_test_splits(run_sse, &o, in, strlen(in), want);
}

Test(sse, azure_chat_completions)
{
	check("data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n"
	      "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
	      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n"
	      "data: [DONE]\n\n",
	      "EV message [{\"choices\":[],\"prompt_filter_results\":[]}] id= retry=-1\n"
	      "EV message [{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}] id= retry=-1\n"
	      "EV message [{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}] id= retry=-1\n"
	      "EV message [[DONE]] id= retry=-1\nIDLE\n");
}

Test(sse, responses_api_event_names)
{
	check("event: response.created\ndata: {\"a\":1}\n\n"
	      "event: response.completed\r\ndata: {\"usage\":{}}\r\n\r\n"
	      "data: after\n\n",
	      "EV response.created [{\"a\":1}] id= retry=-1\n"
	      "EV response.completed [{\"usage\":{}}] id= retry=-1\n"
	      "EV message [after] id= retry=-1\nIDLE\n");
}

/* The examples of the WHATWG HTML standard, §9.2.6 "Interpreting an event stream". */
Test(sse, whatwg_examples)
{
	check("data: YHOO\ndata: +2\ndata: 10\n\n",
	      "EV message [YHOO\n+2\n10] id= retry=-1\nIDLE\n");
	check(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
	      "EV message [first event] id=1 retry=-1\n"
	      "EV message [second event] id= retry=-1\n"
	      "EV message [ third event] id= retry=-1\nIDLE\n");
	check("data\n\ndata\ndata\n\ndata:",
	      "EV message [] id= retry=-1\nEV message [\n] id= retry=-1\nPENDING\n");
	check("data:test\n\ndata: test\n\n",
	      "EV message [test] id= retry=-1\nEV message [test] id= retry=-1\nIDLE\n");
}

Test(sse, line_ends_cr_lf_crlf)
{
	check("data: a\rdata: b\r\ndata: c\n\r"
	      "data: d\r\r"
	      "data: e\r\n\r\n"
	      "data: f\n\n",
	      "EV message [a\nb\nc] id= retry=-1\n"
	      "EV message [d] id= retry=-1\n"
	      "EV message [e] id= retry=-1\n"
	      "EV message [f] id= retry=-1\nIDLE\n");
	/* CR LF across two feeds is one line end: no extra blank line. */
	{
		tf_buf log;
		size_t cut = 8;

		tf_buf_init(&log, 0);
		run_sse(NULL, (const uint8_t *)"data: a\r\ndata: b\r\n\r\n", 20, &cut, 1, &log);
		tf_buf_append(&log, "", 1);
		cr_expect_str_eq((char *)log.data, "EV message [a\nb] id= retry=-1\nIDLE\n");
		tf_buf_free(&log);
	}
}

Test(sse, bom)
{
	check("\xEF\xBB\xBF" "data: x\n\n", "EV message [x] id= retry=-1\nIDLE\n");
	/* Only one BOM is removed; a second one is part of the field name. */
	check("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: y\n\n", "EV message [y] id= retry=-1\nIDLE\n");
	/* Not a BOM after all: the bytes are kept. */
	check("\xEF\xBB" "data: x\n\ndata: y\n\n", "EV message [y] id= retry=-1\nIDLE\n");
	check("\xEF" ":\n\ndata: z\n\n", "EV message [z] id= retry=-1\nIDLE\n");
	check("\xEF\xBB", "PENDING\n");
	check("", "IDLE\n");
	/* A BOM later in the stream is data. */
	check("data: \xEF\xBB\xBF\n\n", "EV message [\xEF\xBB\xBF] id= retry=-1\nIDLE\n");
}

Test(sse, fields)
{
	check(":comment\n: another\ndata: a\nfoo: bar\nData: no\nDATA: no\n data: no\nevent\n\n",
	      "EV message [a] id= retry=-1\nIDLE\n");
	check("retry: 3000\ndata: a\n\nretry: x1\ndata: b\n\nretry:\ndata: c\n\n"
	      "retry: 99999999999999999999999\ndata: d\n\nretry:  5\ndata: e\n\n",
	      "EV message [a] id= retry=3000\nEV message [b] id= retry=3000\n"
	      "EV message [c] id= retry=3000\nEV message [d] id= retry=3000\n"
	      "EV message [e] id= retry=3000\nIDLE\n");
	check("id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\n",
	      "EV message [a] id=7 retry=-1\nEV message [b] id=7 retry=-1\n"
	      "EV message [c] id=8 retry=-1\nIDLE\n");
	/* The event name applies to one event only; event without data is dropped. */
	check("event: x\n\ndata: 1\n\nevent: y\nevent: z\ndata: 2\n\ndata: 3\n\n",
	      "EV message [1] id= retry=-1\nEV z [2] id= retry=-1\nEV message [3] id= retry=-1\nIDLE\n");
	check("data:a:b: c\n\n", "EV message [a:b: c] id= retry=-1\nIDLE\n");
	check("event:\ndata: x\n\n", "EV message [x] id= retry=-1\nIDLE\n");
}

Test(sse, id_with_nul_is_ignored)
{
	static const char in[] = "id: 1\ndata: a\n\nid: 2\x00x\ndata: b\n\n";

	tf_test_splits(run_sse, NULL, in, sizeof(in) - 1,
		       "EV message [a] id=1 retry=-1\nEV message [b] id=1 retry=-1\nIDLE\n");
}

Test(sse, unfinished_event_is_not_dispatched)
{
	check("data: a\n", "PENDING\n");
	check("data: a\ndata: b", "PENDING\n");
	check("data: a\r", "PENDING\n");
	check("data: a\n\ndata: b\n", "EV message [a] id= retry=-1\nPENDING\n");
	check(": only a comment\n", "IDLE\n");
}

Test(sse, overflow_drops_event_until_blank_line)
{
	/* cap 32: event name + data + current line. */
	check_cap(32,
		  "data: 0123456789\ndata: 0123456789\ndata: 0123456789\ndata: x\n\n"
		  "data: ok\n\n",
		  "OVERFLOW\nEV message [ok] id= retry=-1\nIDLE\n");
	/* A single line longer than the cap, then the stream carries on. */
	check_cap(16, "data: 0123456789012345678\n\ndata: ok\n\n",
		  "OVERFLOW\nEV message [ok] id= retry=-1\nIDLE\n");
	/* Exactly at the cap is fine: "data: " + 10 = 16; data buffer 11. */
	check_cap(16, "data: 0123456789\n\n", "EV message [0123456789] id= retry=-1\nIDLE\n");
	check_cap(16, "data: 01234567890\n\n", "OVERFLOW\nIDLE\n");
	/* A long event name counts too. */
	check_cap(16, "event: aaaaaaaaaaaaaaaaaaaaaa\ndata: x\n\ndata: y\n\n",
		  "OVERFLOW\nEV message [y] id= retry=-1\nIDLE\n");
	/* The blank line that ends the drop may use any line end. */
	check_cap(16, "data: 0123456789012345678\r\rdata: ok\r\r",
		  "OVERFLOW\nEV message [ok] id= retry=-1\nIDLE\n");
	/* Reported once per event, even with many long lines. */
	check_cap(16, "data: 0123456789012345678\ndata: 0123456789012345678\n\n"
		      "data: 0123456789012345678\n\n",
		  "OVERFLOW\nOVERFLOW\nIDLE\n");
	/* Still dropping when the stream ends. */
	check_cap(16, "data: 0123456789012345678\ndata: x\n", "OVERFLOW\nPENDING\n");
}

Test(sse, line_without_end_stays_bounded)
{
	tf_sse_parser p;
	srec rec;
	tf_buf log;
	tf_sse_sink sink = { &rec, on_event, on_overflow };
	uint8_t chunk[4096];
	size_t i;

	tf_buf_init(&log, 0);
	rec.log = &log;
	rec.abort_on_event = false;
	memset(chunk, 'x', sizeof(chunk));
	tf_sse_init(&p, 0);
	cr_assert_eq(tf_sse_feed(&p, (const uint8_t *)"data: ", 6, &sink), 0);
	for (i = 0; i < 2560; i++) { /* 10 MiB without a line end */
		cr_assert_eq(tf_sse_feed(&p, chunk, sizeof(chunk), &sink), 0);
		cr_assert_leq(p.line.alloc, TF_SSE_DEFAULT_CAP);
	}
	cr_expect_eq(p.overflows, 1);
	cr_expect(!tf_sse_idle(&p));
	cr_assert_eq(tf_sse_feed(&p, (const uint8_t *)"\n\ndata: ok\n\n", 12, &sink), 0);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "OVERFLOW\nEV message [ok] id= retry=-1\n");
	cr_expect(tf_sse_idle(&p));
	tf_sse_free(&p);
	tf_buf_free(&log);
}

Test(sse, many_small_data_lines_hit_the_cap)
{
	tf_buf in;
	char *s;
	sopts o = { .cap = 1000 };

	tf_buf_init(&in, 0);
	for (int i = 0; i < 600; i++)
		tf_buf_append_str(&in, "data: x\n");
	tf_buf_append_str(&in, "\ndata: after\n\n");
	s = tf_test_run(run_sse, &o, in.data, in.len, NULL, 0);
	cr_expect_str_eq(s, "OVERFLOW\nEV message [after] id= retry=-1\nIDLE\n");
	free(s);
	tf_test_splits(run_sse, &o, in.data, in.len, "OVERFLOW\nEV message [after] id= retry=-1\nIDLE\n");
	tf_buf_free(&in);
}

Test(sse, abort_is_sticky)
{
	sopts o = { .abort_on_event = true };

	tf_test_splits(run_sse, &o, "data: a\n\ndata: b\n\n", 18, "EV message [a] id= retry=-1\nERR -4\n");
}

Test(sse, garbage_never_crashes)
{
	uint8_t junk[2048];
	uint32_t x = 12345;
	tf_buf log;

	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	tf_buf_init(&log, 0);
	run_sse(NULL, junk, sizeof(junk), NULL, 0, &log);
	tf_buf_free(&log);
	tf_test_splits(run_sse, NULL, junk, 300, NULL);
}
