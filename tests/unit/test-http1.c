#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http1.h"
#include "split.h"

/* ---------------------------------------------------------------------- */
/* A recording sink and a runner for the split helper */

typedef struct rec {
	tf_buf *log;
	tf_buf body;
	bool abort_on_body;
} rec;

typedef struct opts {
	tf_h1_kind kind;
	bool head_request; /* expect_no_body() before the first response */
	bool eof;          /* call tf_h1_framer_eof() after the input */
	bool abort_on_body;
} opts;

static int on_head(void *ctx, const tf_h1_head *h, const uint8_t *raw, size_t raw_len)
{
	rec *r = ctx;

	cr_assert_eq(raw_len, h->head_len);
	if (h->method)
		tf_buf_printf(r->log, "REQ %.*s %.*s 1.%d", (int)h->method_len, h->method,
			      (int)h->target_len, h->target, h->minor_version);
	else
		tf_buf_printf(r->log, "RES %d 1.%d", h->status, h->minor_version);
	tf_buf_printf(r->log, " cl=%" PRId64 "%s%s%s nh=%zu\n", h->content_length,
		      h->chunked ? " chunked" : "", h->conn_close ? " close" : "",
		      h->expect_continue ? " expect" : "", h->num_headers);
	tf_buf_reset(&r->body);
	return 0;
}

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	rec *r = ctx;

	cr_assert(n > 0);
	if (r->abort_on_body)
		return -1;
	return tf_buf_append(&r->body, p, n) == 0 ? 0 : -1;
}

static int on_end(void *ctx)
{
	rec *r = ctx;

	tf_buf_printf(r->log, "BODY %zu [%.*s]\nEND\n", r->body.len, (int)r->body.len,
		      (const char *)r->body.data);
	tf_buf_reset(&r->body);
	return 0;
}

static void run_framer(void *arg, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
		       tf_buf *log)
{
	const opts *o = arg;
	rec r = { .log = log, .abort_on_body = o->abort_on_body };
	tf_h1_sink sink = { &r, on_head, on_body, on_end };
	tf_h1_framer f;
	size_t piece, start = 0;
	bool failed = false;

	tf_buf_init(&r.body, 0);
	tf_h1_framer_init(&f, o->kind);
	if (o->head_request)
		tf_h1_framer_expect_no_body(&f);
	for (piece = 0; piece <= ncuts && !failed; piece++) {
		size_t end = piece < ncuts ? cuts[piece] : n, off = 0, len = end - start;
		uint8_t *c = tf_test_piece(in + start, len);

		while (off < len) {
			ssize_t got = tf_h1_feed(&f, c + off, len - off, &sink);

			if (got < 0) {
				tf_buf_printf(log, "ERR %zd\n", got);
				failed = true;
				break;
			}
			cr_assert(got > 0 && (size_t)got <= len - off);
			off += (size_t)got;
			/* A short return means a message ended right there. */
			if (off < len)
				cr_assert(log->len >= 4 &&
					  memcmp(log->data + log->len - 4, "END\n", 4) == 0);
		}
		free(c);
		start = end;
	}
	if (o->eof && !failed)
		tf_buf_printf(log, "EOF %d\n", tf_h1_framer_eof(&f, &sink));
	tf_h1_framer_free(&f);
	tf_buf_free(&r.body);
}

static void check(tf_h1_kind kind, const char *in, const char *want)
{
	opts o = { .kind = kind, .eof = true };

	tf_test_splits(run_framer, &o, in, strlen(in), want);
}

static void check_n(tf_h1_kind kind, const char *in, size_t n, const char *want)
{
	opts o = { .kind = kind, .eof = true };

	tf_test_splits(run_framer, &o, in, n, want);
}

static void check_opts(opts o, const char *in, const char *want)
{
	tf_test_splits(run_framer, &o, in, strlen(in), want);
}

/* ---------------------------------------------------------------------- */
/* tf_h1_parse_head */

static int parse(const char *s, tf_h1_kind kind, tf_h1_head *h)
{
	return tf_h1_parse_head(s, strlen(s), kind, h);
}

Test(http1, request_head_fields)
{
	static const char req[] = "POST /model/x%3A0/invoke?a=b HTTP/1.1\r\n"
				  "Host: bedrock-runtime.us-east-1.amazonaws.com\r\n"
				  "Content-Type:application/json \t\r\n"
				  "X-Empty:\r\n"
				  "x-amz-date:   20261126T112650Z\r\n"
				  "Content-Length: 11\r\n"
				  "\r\n"
				  "hello world";
	tf_h1_head h;
	const tf_h1_header *f;

	cr_assert_eq(parse(req, TF_H1_REQUEST, &h), (int)(strlen(req) - 11));
	cr_expect(tf_h1_token_eq(h.method, h.method_len, "POST"));
	cr_expect(h.target_len == strlen("/model/x%3A0/invoke?a=b") &&
		  memcmp(h.target, "/model/x%3A0/invoke?a=b", h.target_len) == 0);
	cr_expect_eq(h.minor_version, 1);
	cr_expect_eq(h.num_headers, 5);
	cr_expect_eq(h.content_length, 11);
	cr_expect(!h.chunked && !h.conn_close && !h.expect_continue);
	cr_expect_eq(h.head_len, strlen(req) - 11);
	f = tf_h1_find(&h, "content-type");
	cr_assert(f);
	cr_expect(f->value_len == 16 && memcmp(f->value, "application/json", 16) == 0);
	f = tf_h1_find(&h, "X-AMZ-DATE");
	cr_assert(f);
	cr_expect(f->value_len == 16 && memcmp(f->value, "20261126T112650Z", 16) == 0);
	f = tf_h1_find(&h, "x-empty");
	cr_assert(f);
	cr_expect_eq(f->value_len, 0);
	cr_expect_null(tf_h1_find(&h, "x-amz"));
	cr_expect_null(tf_h1_find(&h, "content-type-x"));
}

Test(http1, token_eq)
{
	cr_expect(tf_h1_token_eq("Chunked", 7, "chunked"));
	cr_expect(!tf_h1_token_eq("Chunked", 6, "chunked"));
	cr_expect(!tf_h1_token_eq("chunkedx", 8, "chunked"));
	cr_expect(tf_h1_token_eq("", 0, ""));
	cr_expect(!tf_h1_token_eq("a", 1, ""));
	/* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ. */
	cr_expect(!tf_h1_token_eq("@", 1, "`"));
}

Test(http1, response_head_forms)
{
	tf_h1_head h;

	cr_assert_gt(parse("HTTP/1.1 200 OK\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.status == 200 && h.reason_len == 2 && memcmp(h.reason, "OK", 2) == 0);
	cr_expect_eq(h.content_length, -1);
	cr_assert_gt(parse("HTTP/1.1 200\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.status == 200 && h.reason_len == 0);
	cr_assert_gt(parse("HTTP/1.1 404 \r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.status == 404 && h.reason_len == 0);
	cr_assert_gt(parse("HTTP/1.1 500 Internal Server Error\n\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.reason_len == 21);
	cr_assert_gt(parse("HTTP/1.0 200 OK\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.minor_version == 0 && h.conn_close);
	cr_assert_gt(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(!h.conn_close);
	cr_assert_gt(parse("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect(h.conn_close);
	cr_assert_gt(parse("HTTP/1.2 200 OK\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect_eq(h.minor_version, 1);

	cr_expect_eq(parse("HTTP/2.0 200 OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 99 OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 2000 OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 20x OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1  200 OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("http/1.1 200 OK\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 200 O\x01K\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
}

Test(http1, request_line_forms)
{
	tf_h1_head h;

	cr_assert_gt(parse("GET / HTTP/1.0\r\n\r\n", TF_H1_REQUEST, &h), 0);
	cr_expect(h.minor_version == 0 && h.conn_close && h.content_length == -1);
	cr_assert_eq(parse("\r\n\nGET / HTTP/1.1\r\n\r\n", TF_H1_REQUEST, &h), 21);
	cr_expect_eq(h.head_len, 21);
	cr_assert_gt(parse("PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n",
			   TF_H1_REQUEST, &h), 0);
	cr_expect(h.expect_continue && h.content_length == 0);

	cr_expect_eq(parse("GET  / HTTP/1.1\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("GET / HTTP/1.1 \r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("GET /\tx HTTP/1.1\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("GET / HTTP/1.1x\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("G(T / HTTP/1.1\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("GET / HTTP/1.1\r\n\r\n", TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 200 OK\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("\rGET / HTTP/1.1\r\n\r\n", TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
}

Test(http1, bad_fields)
{
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",          /* space before colon */
		"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",               /* empty name */
		"GET / HTTP/1.1\r\nHost x\r\n\r\n",            /* no colon */
		"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",       /* obs-fold */
		"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: x\r\n\r\n",         /* whitespace before the first field */
		"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",           /* bare CR */
		"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",
		"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nA\"b: c\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\r\n",
	};
	tf_h1_head h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i], TF_H1_REQUEST, &h), TF_H1_EMALFORMED, "%zu", i);
	/* NUL inside a value (strlen would stop at it). */
	cr_expect_eq(tf_h1_parse_head("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 25, TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	/* obs-text in values is allowed. */
	cr_expect_gt(parse("GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n", TF_H1_REQUEST, &h), 0);
}

Test(http1, content_length_rules)
{
	tf_h1_head h;

	cr_assert_gt(parse("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", TF_H1_REQUEST, &h), 0);
	cr_expect_eq(h.content_length, 5);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
			   TF_H1_REQUEST, &h), 0);
	cr_expect_eq(h.content_length, 5);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n",
			   TF_H1_REQUEST, &h), 0);
	cr_expect_eq(h.content_length, INT64_MAX);
	cr_assert_gt(parse("HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n", TF_H1_RESPONSE, &h), 0);
	cr_expect_eq(h.content_length, 2147483648LL);

	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
			   TF_H1_RESPONSE, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: ,\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
}

Test(http1, transfer_encoding_rules)
{
	tf_h1_head h;

	cr_assert_gt(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", TF_H1_REQUEST, &h), 0);
	cr_expect(h.chunked && h.content_length == -1);
	cr_assert_gt(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
			   TF_H1_REQUEST, &h), 0);
	cr_expect(h.chunked);
	/* Responses: TE overrides CL; TE not ending in chunked = close-delimited. */
	cr_assert_gt(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			   TF_H1_RESPONSE, &h), 0);
	cr_expect(h.chunked && h.content_length == -1);
	cr_assert_gt(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 5\r\n\r\n",
			   TF_H1_RESPONSE, &h), 0);
	cr_expect(!h.chunked && h.content_length == -1);

	/* Request smuggling shapes. */
	cr_expect_eq(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
			   TF_H1_REQUEST, &h), TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", TF_H1_REQUEST, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", TF_H1_RESPONSE, &h),
		     TF_H1_EMALFORMED);
	cr_expect_eq(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", TF_H1_RESPONSE, &h),
		     TF_H1_EMALFORMED);
}

Test(http1, incomplete_on_every_prefix)
{
	static const char req[] = "\r\nPOST /x HTTP/1.1\r\nHost: a\nContent-Length: 3\r\n\r\n";
	tf_h1_head h;
	size_t k;

	for (k = 0; k < strlen(req); k++)
		cr_expect_eq(tf_h1_parse_head(req, k, TF_H1_REQUEST, &h), TF_H1_INCOMPLETE, "%zu", k);
	cr_expect_eq(tf_h1_parse_head(req, strlen(req), TF_H1_REQUEST, &h), (int)strlen(req));
}

static char *many_headers(size_t count, const char *first_line)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	tf_buf_append_str(&b, first_line);
	for (size_t i = 0; i < count; i++)
		tf_buf_append_str(&b, "a: b\r\n");
	tf_buf_append(&b, "\r\n", 3);
	return (char *)b.data;
}

Test(http1, header_count_cap)
{
	tf_h1_head h;
	char *s;

	s = many_headers(TF_H1_MAX_HEADERS, "GET / HTTP/1.1\r\n");
	cr_expect_gt(parse(s, TF_H1_REQUEST, &h), 0);
	cr_expect_eq(h.num_headers, TF_H1_MAX_HEADERS);
	free(s);
	s = many_headers(TF_H1_MAX_HEADERS + 1, "GET / HTTP/1.1\r\n");
	cr_expect_eq(parse(s, TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
	free(s);
	s = many_headers(10000, "GET / HTTP/1.1\r\n");
	cr_expect_eq(parse(s, TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
	/* The same through the framer, fed at once and byte by byte. */
	check(TF_H1_REQUEST, s, "ERR -3\n");
	free(s);
}

/* A header block of exactly len bytes: "GET / HTTP/1.1\r\nx: aaaa...\r\n\r\n". */
static char *head_of_size(size_t len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nx: ";
	char *s = malloc(len + 1);
	size_t fill = len - strlen(pre) - 4;

	cr_assert(s);
	memcpy(s, pre, strlen(pre));
	memset(s + strlen(pre), 'a', fill);
	memcpy(s + strlen(pre) + fill, "\r\n\r\n", 5);
	return s;
}

Test(http1, head_cap)
{
	tf_h1_head h;
	char *s = head_of_size(TF_H1_HEAD_CAP);
	opts o = { .kind = TF_H1_REQUEST, .eof = true };
	tf_buf log;

	cr_expect_eq(parse(s, TF_H1_REQUEST, &h), (int)TF_H1_HEAD_CAP);
	tf_buf_init(&log, 0);
	run_framer(&o, (const uint8_t *)s, TF_H1_HEAD_CAP, NULL, 0, &log);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "REQ GET / 1.1 cl=-1 nh=1\nBODY 0 []\nEND\nEOF 0\n");
	free(s);
	s = head_of_size(TF_H1_HEAD_CAP + 1);
	cr_expect_eq(parse(s, TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
	/* Cut short of the cap: incomplete, not too big. */
	cr_expect_eq(tf_h1_parse_head(s, TF_H1_HEAD_CAP - 1, TF_H1_REQUEST, &h), TF_H1_INCOMPLETE);
	cr_expect_eq(tf_h1_parse_head(s, TF_H1_HEAD_CAP, TF_H1_REQUEST, &h), TF_H1_ETOOBIG);
	tf_buf_reset(&log);
	run_framer(&o, (const uint8_t *)s, TF_H1_HEAD_CAP + 1, NULL, 0, &log);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "ERR -3\n");
	tf_buf_free(&log);
	free(s);
}

/* ---------------------------------------------------------------------- */
/* Framer: messages and bodies */

Test(http1, request_content_length_pipelined)
{
	check(TF_H1_REQUEST,
	      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	      "\r\n" /* a stray empty line between requests is ignored */
	      "PUT /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
	      "POST /d HTTP/1.0\r\nContent-Length: 3\r\n\r\nxyz",
	      "REQ POST /a 1.1 cl=5 nh=2\nBODY 5 [hello]\nEND\n"
	      "REQ GET /b 1.1 cl=-1 nh=1\nBODY 0 []\nEND\n"
	      "REQ PUT /c 1.1 cl=0 nh=1\nBODY 0 []\nEND\n"
	      "REQ POST /d 1.0 cl=3 close nh=1\nBODY 3 [xyz]\nEND\n"
	      "EOF 0\n");
}

Test(http1, return_value_stops_at_message_end)
{
	static const char two[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
	tf_h1_framer f;
	ssize_t r;

	tf_h1_framer_init(&f, TF_H1_REQUEST);
	cr_expect(tf_h1_framer_idle(&f));
	r = tf_h1_feed(&f, (const uint8_t *)two, strlen(two), NULL);
	cr_expect_eq(r, 19);
	cr_expect(tf_h1_framer_idle(&f));
	r = tf_h1_feed(&f, (const uint8_t *)two + 19, strlen(two) - 19, NULL);
	cr_expect_eq(r, 19);
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)"G", 1, NULL), 1);
	cr_expect(!tf_h1_framer_idle(&f));
	cr_expect_eq(tf_h1_framer_eof(&f, NULL), TF_H1_INCOMPLETE);
	cr_expect_eq(tf_h1_feed(&f, NULL, 0, NULL), 0);
	tf_h1_framer_free(&f);
}

Test(http1, request_chunked_with_extensions_and_trailers)
{
	check(TF_H1_REQUEST,
	      "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
	      "5;name=value;q=\"a b\"\r\nhello\r\n"
	      "06 ; x\r\n world\r\n"
	      "A\nabcdefghij\n"
	      "0\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n"
	      "GET /next HTTP/1.1\r\n\r\n",
	      "REQ POST /up 1.1 cl=-1 chunked expect nh=2\nBODY 21 [hello worldabcdefghij]\nEND\n"
	      "REQ GET /next 1.1 cl=-1 nh=0\nBODY 0 []\nEND\nEOF 0\n");
}

Test(http1, chunked_bare_lf_everywhere)
{
	check(TF_H1_RESPONSE,
	      "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n",
	      "RES 200 1.1 cl=-1 chunked nh=1\nBODY 3 [abc]\nEND\nEOF 0\n");
}

Test(http1, response_kinds)
{
	check(TF_H1_RESPONSE,
	      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
	      "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
	      "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end\r\n\r\nHTTP/1.1 200 OK\r\n",
	      "RES 200 1.1 cl=2 nh=1\nBODY 2 [hi]\nEND\n"
	      "RES 204 1.1 cl=10 nh=1\nBODY 0 []\nEND\n"
	      "RES 304 1.1 cl=-1 chunked nh=2\nBODY 0 []\nEND\n"
	      "RES 200 1.1 cl=-1 chunked nh=1\nBODY 26 [abcdefghijklmnopqrstuvwxyz]\nEND\n"
	      "RES 200 1.1 cl=0 nh=1\nBODY 0 []\nEND\n"
	      "RES 200 1.1 cl=-1 close nh=1\n"
	      "BODY 34 [until the end\r\n\r\nHTTP/1.1 200 OK\r\n]\nEND\nEOF 0\n");
}

Test(http1, response_te_not_chunked_is_close_delimited)
{
	check(TF_H1_RESPONSE,
	      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabcdef",
	      "RES 200 1.1 cl=-1 nh=2\nBODY 6 [abcdef]\nEND\nEOF 0\n");
}

Test(http1, continue_then_final_response)
{
	check(TF_H1_RESPONSE,
	      "HTTP/1.1 100 Continue\r\n\r\n"
	      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
	      "RES 100 1.1 cl=-1 nh=0\nBODY 0 []\nEND\n"
	      "RES 103 1.1 cl=-1 nh=1\nBODY 0 []\nEND\n"
	      "RES 200 1.1 cl=3 nh=1\nBODY 3 [abc]\nEND\nEOF 0\n");
}

Test(http1, head_response_has_no_body_and_flag_survives_1xx)
{
	opts o = { .kind = TF_H1_RESPONSE, .head_request = true, .eof = true };

	check_opts(o,
		   "HTTP/1.1 100 Continue\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		   "RES 100 1.1 cl=-1 nh=0\nBODY 0 []\nEND\n"
		   "RES 200 1.1 cl=1000 nh=1\nBODY 0 []\nEND\n"
		   "RES 200 1.1 cl=3 nh=1\nBODY 3 [abc]\nEND\nEOF 0\n");
	check_opts(o, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		   "RES 200 1.1 cl=-1 chunked nh=1\nBODY 0 []\nEND\nEOF 0\n");
}

Test(http1, switching_protocols_ends_http)
{
	static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
	tf_h1_framer f;
	ssize_t r;

	check(TF_H1_RESPONSE, in, "RES 101 1.1 cl=-1 nh=1\nBODY 0 []\nEND\nERR -5\n");
	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	r = tf_h1_feed(&f, (const uint8_t *)in, sizeof(in) - 1, NULL);
	cr_expect_eq(r, (ssize_t)strlen(in) - 7);
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)in + r, 7, NULL), TF_H1_EUPGRADED);
	cr_expect_eq(tf_h1_framer_eof(&f, NULL), 0);
	tf_h1_framer_free(&f);
}

Test(http1, eof_cases)
{
	check(TF_H1_RESPONSE, "", "EOF 0\n");
	check(TF_H1_RESPONSE, "\r\n", "EOF 0\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\n", "EOF -2\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
	      "RES 200 1.1 cl=5 nh=1\nEOF -2\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
	      "RES 200 1.1 cl=-1 chunked nh=1\nEOF -2\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
	      "RES 200 1.1 cl=-1 chunked nh=1\nEOF -2\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\n\r\n",
	      "RES 200 1.1 cl=-1 nh=0\nBODY 0 []\nEND\nEOF 0\n");
	check(TF_H1_REQUEST, "\r", "EOF -2\n");
}

Test(http1, truncated_messages_never_fail)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n";
	opts o = { .kind = TF_H1_RESPONSE, .eof = true };
	size_t k;

	for (k = 0; k < strlen(in); k++) {
		tf_buf log;
		char *s;

		tf_buf_init(&log, 0);
		run_framer(&o, (const uint8_t *)in, k, NULL, 0, &log);
		tf_buf_append(&log, "", 1);
		s = (char *)log.data;
		cr_expect(strstr(s, "ERR") == NULL && strstr(s, k ? "EOF -2\n" : "EOF 0\n") != NULL,
			  "%zu: %s", k, s);
		tf_buf_free(&log);
	}
}

Test(http1, chunk_errors)
{
	static const char pre[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const struct {
		const char *body;
		int err;
	} cases[] = {
		{ "x\r\n", TF_H1_EMALFORMED },
		{ ";a\r\n", TF_H1_EMALFORMED },
		{ "\r\n", TF_H1_EMALFORMED },
		{ " 5\r\n", TF_H1_EMALFORMED },
		{ "5 x\r\n", TF_H1_EMALFORMED },
		{ "5\rx", TF_H1_EMALFORMED },
		{ "5;a\x01\r\n", TF_H1_EMALFORMED },
		{ "3\r\nabcd\r\n", TF_H1_EMALFORMED },
		{ "3\r\nabc\rx", TF_H1_EMALFORMED },
		{ "0\r\n a: b\r\n\r\n", TF_H1_EMALFORMED },  /* obs-fold in trailers */
		{ "0\r\nno colon\r\n\r\n", TF_H1_EMALFORMED },
		{ "0\r\nA: b\x01\r\n\r\n", TF_H1_EMALFORMED },
		{ "0\r\n\rx", TF_H1_EMALFORMED },
		{ "8000000000000000\r\n", TF_H1_ETOOBIG },
		{ "10000000000000000\r\n", TF_H1_ETOOBIG },
		{ "ffffffffffffffffffff\r\n", TF_H1_ETOOBIG },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		opts o = { .kind = TF_H1_RESPONSE, .eof = true };
		char in[256], want[128];

		snprintf(in, sizeof(in), "%s%s", pre, cases[i].body);
		snprintf(want, sizeof(want), "RES 200 1.1 cl=-1 chunked nh=1\nERR %d\n", cases[i].err);
		check_opts(o, in, want);
	}
}

Test(http1, chunk_line_cap)
{
	static const char pre[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	char in[2200];
	size_t n = strlen(pre);
	tf_buf log;
	opts o = { .kind = TF_H1_RESPONSE };

	/* The largest size line allowed: "1;" + padding, 1024 bytes. */
	memcpy(in, pre, n);
	memcpy(in + n, "1;", 2);
	memset(in + n + 2, 'x', TF_H1_MAX_CHUNK_LINE - 2);
	memcpy(in + n + TF_H1_MAX_CHUNK_LINE, "\r\nZ\r\n0\r\n\r\n", 11);
	tf_buf_init(&log, 0);
	run_framer(&o, (const uint8_t *)in, strlen(in), NULL, 0, &log);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "RES 200 1.1 cl=-1 chunked nh=1\nBODY 1 [Z]\nEND\n");
	/* One byte more. */
	memset(in + n + 2, 'x', TF_H1_MAX_CHUNK_LINE - 1);
	memcpy(in + n + TF_H1_MAX_CHUNK_LINE + 1, "\r\nZ\r\n0\r\n\r\n", 11);
	tf_buf_reset(&log);
	run_framer(&o, (const uint8_t *)in, strlen(in), NULL, 0, &log);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "RES 200 1.1 cl=-1 chunked nh=1\nERR -3\n");
	/* Leading zeros count too: a size line of 2000 zeros. */
	memset(in + n, '0', 2000);
	memcpy(in + n + 2000, "1\r\n", 4);
	tf_buf_reset(&log);
	run_framer(&o, (const uint8_t *)in, strlen(in), NULL, 0, &log);
	tf_buf_append(&log, "", 1);
	cr_expect_str_eq((char *)log.data, "RES 200 1.1 cl=-1 chunked nh=1\nERR -3\n");
	tf_buf_free(&log);
}

Test(http1, trailer_section_cap)
{
	tf_h1_framer f;
	static const char pre[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
	char line[1000];
	ssize_t r = 0;
	size_t total = 0;

	memset(line, 'a', sizeof(line));
	memcpy(line, "X: ", 3);
	line[998] = '\r';
	line[999] = '\n';
	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	cr_assert_eq(tf_h1_feed(&f, (const uint8_t *)pre, strlen(pre), NULL), (ssize_t)strlen(pre));
	while (total < 2 * TF_H1_HEAD_CAP) {
		r = tf_h1_feed(&f, (const uint8_t *)line, sizeof(line), NULL);
		if (r < 0)
			break;
		total += sizeof(line);
	}
	cr_expect_eq(r, TF_H1_ETOOBIG);
	cr_expect_leq(total, TF_H1_HEAD_CAP);
	tf_h1_framer_free(&f);
}

static int count_body(void *ctx, const uint8_t *p, size_t n)
{
	*(uint64_t *)ctx += n;
	return 0;
}

static int count_end(void *ctx)
{
	*(uint64_t *)ctx |= (uint64_t)1 << 63;
	return 0;
}

Test(http1, two_gigabyte_body_is_streamed)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n";
	size_t piece = (size_t)1 << 20, i;
	uint8_t *zeros = calloc(1, piece);
	uint64_t seen = 0;
	tf_h1_sink sink = { &seen, NULL, count_body, count_end };
	tf_h1_framer f;

	cr_assert(zeros);
	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	cr_assert_eq(tf_h1_feed(&f, (const uint8_t *)head, strlen(head), &sink), (ssize_t)strlen(head));
	for (i = 0; i < 2048; i++)
		cr_assert_eq(tf_h1_feed(&f, zeros, piece, &sink), (ssize_t)piece);
	cr_expect_eq(seen, ((uint64_t)1 << 63) | 2147483648ULL);
	cr_expect(tf_h1_framer_idle(&f));
	tf_h1_framer_free(&f);
	free(zeros);
}

Test(http1, huge_chunk_is_streamed)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nabc";
	uint64_t seen = 0;
	tf_h1_sink sink = { &seen, NULL, count_body, count_end };
	tf_h1_framer f;

	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)in, strlen(in), &sink), (ssize_t)strlen(in));
	cr_expect_eq(seen, 3);
	cr_expect_eq(tf_h1_framer_eof(&f, &sink), TF_H1_INCOMPLETE);
	tf_h1_framer_free(&f);
}

Test(http1, garbage_is_refused_at_once)
{
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	static const uint8_t h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04";
	tf_h1_framer f;

	tf_h1_framer_init(&f, TF_H1_REQUEST);
	cr_expect_eq(tf_h1_feed(&f, tls, sizeof(tls), NULL), TF_H1_EMALFORMED);
	/* Sticky until reset. */
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, NULL), TF_H1_EMALFORMED);
	cr_expect_eq(tf_h1_framer_eof(&f, NULL), TF_H1_EMALFORMED);
	tf_h1_framer_free(&f);
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, NULL), 18);
	tf_h1_framer_free(&f);

	tf_h1_framer_init(&f, TF_H1_REQUEST);
	cr_expect_eq(tf_h1_feed(&f, h2, sizeof(h2) - 1, NULL), TF_H1_EMALFORMED);
	tf_h1_framer_free(&f);

	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	cr_expect_eq(tf_h1_feed(&f, (const uint8_t *)"{\"a\":1}", 7, NULL), TF_H1_EMALFORMED);
	tf_h1_framer_free(&f);

	check_n(TF_H1_REQUEST, "GET / HTTP/1.1\r\nA: \x00\r\n\r\n", 24, "ERR -1\n");
	check(TF_H1_RESPONSE, "HTTP/1.1 200 OK\r\n\x80\r\n\r\n", "ERR -1\n");
	check(TF_H1_REQUEST, "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", "ERR -1\n");
	check(TF_H1_REQUEST, "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	      "ERR -1\n");
}

Test(http1, sink_abort_is_sticky)
{
	opts o = { .kind = TF_H1_RESPONSE, .abort_on_body = true, .eof = true };

	check_opts(o, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		   "RES 200 1.1 cl=2 nh=1\nERR -4\n");
}

Test(http1, framer_head_spans_point_into_raw)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nX-Amzn-Bedrock-Input-Token-Count: 12\r\n\r\n";
	tf_h1_framer f;
	const tf_h1_header *h;

	tf_h1_framer_init(&f, TF_H1_RESPONSE);
	cr_assert_eq(tf_h1_feed(&f, (const uint8_t *)in, strlen(in), NULL), (ssize_t)strlen(in));
	h = tf_h1_find(&f.parsed, "x-amzn-bedrock-input-token-count");
	cr_assert(h);
	cr_expect(h->value_len == 2 && memcmp(h->value, "12", 2) == 0);
	cr_expect(h->value > (const char *)f.head.data &&
		  h->value < (const char *)f.head.data + f.head.len);
	tf_h1_framer_free(&f);
}

/* Every split point of a realistic keep-alive exchange, as a parameterized test. */
typedef struct split_case {
	char name[24];
	int kind;
	char text[400];
} split_case;

ParameterizedTestParameters(http1, realistic)
{
	static split_case cases[] = {
		{ "botocore", TF_H1_REQUEST,
		  "POST /model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke HTTP/1.1\r\n"
		  "Host: 127.0.0.1:32797\r\nAccept-Encoding: identity\r\nContent-Length: 12\r\n\r\n"
		  "{\"a\":\"b\"}\r\n\n" },
		{ "bedrock-stream", TF_H1_RESPONSE,
		  "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
		  "Transfer-Encoding: chunked\r\nx-amzn-RequestId: 1\r\n\r\n"
		  "10\r\n\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff\r\n0\r\n\r\n" },
		{ "azure-sse", TF_H1_RESPONSE,
		  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "e\r\ndata: {\"a\":1}\n\n\r\n" "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"
		  "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}" },
	};
	return cr_make_param_array(split_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(split_case *c, http1, realistic)
{
	opts o = { .kind = (tf_h1_kind)c->kind, .eof = true };
	size_t n = strlen(c->text);

	if (strcmp(c->name, "bedrock-stream") == 0)
		n = (size_t)(strstr(c->text, "\r\n\r\n") - c->text) + 4 + 4 + 16 + 2 + 5;
	tf_test_splits(run_framer, &o, c->text, n, NULL);
}

/* A head moved onto a copy of its bytes reads as the copy parsed. */
Test(http1, head_move)
{
	static const char raw[] = "POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
				  "X-Empty:\r\n\r\nabc";
	char copy[sizeof(raw)];
	tf_h1_head a, b;
	int n = tf_h1_parse_head(raw, sizeof(raw) - 1, TF_H1_REQUEST, &a);

	cr_assert_gt(n, 0);
	memcpy(copy, raw, sizeof(raw));
	cr_assert_eq(tf_h1_parse_head(copy, sizeof(copy) - 1, TF_H1_REQUEST, &b), n);
	tf_h1_head_move(&a, raw, copy);
	cr_assert_eq(a.method, b.method);
	cr_assert_eq(a.target, b.target);
	cr_assert_null(a.reason);
	cr_assert_eq(a.num_headers, b.num_headers);
	for (size_t i = 0; i < a.num_headers; i++) {
		cr_assert_eq(a.headers[i].name, b.headers[i].name);
		cr_assert_eq(a.headers[i].value, b.headers[i].value);
		cr_assert_eq(a.headers[i].value_len, b.headers[i].value_len);
	}
	cr_assert_eq(a.head_len, b.head_len);
	cr_assert_eq(a.content_length, 3);
}
