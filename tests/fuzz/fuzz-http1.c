/*
 * HTTP/1.1 framer and head parser.
 * Byte 0: options (bit 0: response, bit 1: the response answers HEAD, bit 2:
 * call tf_h1_framer_eof at the end). Byte 1: seed of the cut points.
 * Invariants: the same events whether the input comes whole, in random
 * pieces or byte by byte; return values within bounds and > 0; the head
 * parser and the framer agree on where a head ends.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "http1.h"

typedef struct run {
	tf_h1_framer f;
	tf_h1_sink sink;
	tf_buf *log;
	uint32_t body_crc; /* FNV-1a over body bytes of the current message */
	uint64_t body_len;
	int failed;
} run;

static int on_head(void *ctx, const tf_h1_head *h, const uint8_t *raw, size_t raw_len)
{
	run *r = ctx;
	size_t i;

	FUZZ_CHECK(raw_len == h->head_len && raw_len <= TF_H1_HEAD_CAP);
	FUZZ_CHECK(h->num_headers <= TF_H1_MAX_HEADERS);
	for (i = 0; i < h->num_headers; i++) {
		const tf_h1_header *x = &h->headers[i];

		FUZZ_CHECK((const uint8_t *)x->name >= raw && (const uint8_t *)x->name + x->name_len <= raw + raw_len);
		FUZZ_CHECK((const uint8_t *)x->value >= raw && (const uint8_t *)x->value + x->value_len <= raw + raw_len);
		FUZZ_CHECK(x->name_len > 0);
		FUZZ_CHECK(x->value_len == 0 || (x->value[0] != ' ' && x->value[x->value_len - 1] != ' '));
	}
	tf_buf_printf(r->log, "H %zu st=%d m=%zu cl=%" PRId64 " ch=%d cc=%d ec=%d nh=%zu\n", raw_len,
		      h->status, h->method_len, h->content_length, h->chunked, h->conn_close,
		      h->expect_continue, h->num_headers);
	r->body_crc = 2166136261u;
	r->body_len = 0;
	return 0;
}

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	run *r = ctx;

	FUZZ_CHECK(n > 0);
	for (size_t i = 0; i < n; i++)
		r->body_crc = (r->body_crc ^ p[i]) * 16777619u;
	r->body_len += n;
	return 0;
}

static int on_end(void *ctx)
{
	run *r = ctx;

	tf_buf_printf(r->log, "E %" PRIu64 " %08" PRIx32 "\n", r->body_len, r->body_crc);
	r->body_crc = 2166136261u;
	r->body_len = 0;
	return 0;
}

/* An "E" line was logged after position since. */
static int last_line_is_end(const tf_buf *log, size_t since)
{
	size_t i;

	if (log->len <= since || log->data[log->len - 1] != '\n')
		return 0;
	for (i = log->len - 1; i > 0 && log->data[i - 1] != '\n'; i--)
		;
	return log->data[i] == 'E' && log->data[i + 1] == ' ';
}

static int feed(void *state, const uint8_t *p, size_t n)
{
	run *r = state;
	size_t off = 0;

	while (off < n) {
		size_t ends_before = r->log->len;
		ssize_t got = tf_h1_feed(&r->f, p + off, n - off, &r->sink);

		if (got < 0) {
			FUZZ_CHECK(got == TF_H1_EMALFORMED || got == TF_H1_ETOOBIG ||
				   got == TF_H1_EUPGRADED);
			tf_buf_printf(r->log, "ERR %zd\n", got);
			r->failed = 1;
			/* Sticky. */
			FUZZ_CHECK(tf_h1_feed(&r->f, p, n, &r->sink) == got);
			return 0;
		}
		FUZZ_CHECK(got > 0 && (size_t)got <= n - off);
		off += (size_t)got;
		/* A short return only right after a message ended. */
		if (off < n)
			FUZZ_CHECK(last_line_is_end(r->log, ends_before));
	}
	return 1;
}

static void run_once(uint8_t opt, const uint8_t *data, size_t size, const fuzz_cuts *cuts,
		     int bytewise, tf_buf *log)
{
	run r = { .log = log };

	r.sink = (tf_h1_sink){ &r, on_head, on_body, on_end };
	tf_h1_framer_init(&r.f, (opt & 1) ? TF_H1_RESPONSE : TF_H1_REQUEST);
	if (opt & 2)
		tf_h1_framer_expect_no_body(&r.f);
	fuzz_feed_pieces(&r, feed, data, size, cuts, bytewise);
	if ((opt & 4) && !r.failed)
		tf_buf_printf(log, "EOF %d\n", tf_h1_framer_eof(&r.f, &r.sink));
	tf_h1_framer_free(&r.f);
}

/* The head parser alone, and its agreement with the framer's first event. */
static void check_parse_head(uint8_t opt, const uint8_t *data, size_t size, const tf_buf *whole)
{
	tf_h1_head *h = malloc(sizeof(*h));
	tf_h1_kind kind = (opt & 1) ? TF_H1_RESPONSE : TF_H1_REQUEST;
	size_t skip = 0, i;
	int r;

	FUZZ_CHECK(h != NULL);
	r = tf_h1_parse_head((const char *)data, size, kind, h);
	while (skip < size && (data[skip] == '\n' || (data[skip] == '\r' && skip + 1 < size && data[skip + 1] == '\n')))
		skip += data[skip] == '\r' ? 2 : 1;
	if (r > 0) {
		char want[32];

		FUZZ_CHECK((size_t)r <= size && h->head_len == (size_t)r);
		for (i = 0; i < h->num_headers; i++) {
			char name[256];
			const tf_h1_header *found;

			if (h->headers[i].name_len >= sizeof(name))
				continue;
			memcpy(name, h->headers[i].name, h->headers[i].name_len);
			name[h->headers[i].name_len] = '\0';
			found = tf_h1_find(h, name);
			FUZZ_CHECK(found != NULL && found <= &h->headers[i]);
			FUZZ_CHECK(tf_h1_token_eq(found->name, found->name_len, name));
		}
		snprintf(want, sizeof(want), "H %zu ", (size_t)r - skip);
		FUZZ_CHECK(whole->len > strlen(want) && memcmp(whole->data, want, strlen(want)) == 0);
	} else {
		FUZZ_CHECK(r == TF_H1_INCOMPLETE || r == TF_H1_EMALFORMED || r == TF_H1_ETOOBIG);
		/* The parser may refuse a complete bad line before the head is
		 * complete; the framer only judges whole heads (besides bytes that
		 * can never appear in one), so it may still be waiting. */
		FUZZ_CHECK(whole->len == 0 || whole->data[0] != 'H');
	}
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tf_buf whole, other;
	fuzz_cuts cuts;
	uint8_t opt, seed;

	if (size < 2)
		return 0;
	opt = data[0];
	seed = data[1];
	data += 2;
	size -= 2;
	tf_buf_init(&whole, 0);
	tf_buf_init(&other, 0);
	run_once(opt, data, size, NULL, 0, &whole);
	fuzz_make_cuts(&cuts, seed, size);
	run_once(opt, data, size, &cuts, 0, &other);
	fuzz_expect_same(&whole, &other, "random pieces");
	if (size <= FUZZ_BYTEWISE_MAX) {
		tf_buf_reset(&other);
		run_once(opt, data, size, NULL, 1, &other);
		fuzz_expect_same(&whole, &other, "byte by byte");
	}
	check_parse_head(opt, data, size, &whole);
	tf_buf_free(&whole);
	tf_buf_free(&other);
	return 0;
}
