#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include "base64.h"
#include "eventstream.h"
#include "split.h"

/* ---------------------------------------------------------------------- */
/* Vectors */

/*
 * awslabs/aws-c-event-stream tests/message_deserializer_test.c (also quoted
 * in WIRE.md §1.6): empty message, payload without headers, one string header.
 */
static const char v_empty[] = "00000010 00000000 05c248eb 7d98c8ff";
static const char v_no_headers[] = "0000001d 00000000 fd528c5a 7b27666f6f273a27626172277d c3653936";
static const char v_one_header[] =
	"0000003d 00000020 07fd8396 0c 636f6e74656e742d74797065 07 0010"
	"6170706c69636174696f6e2f6a736f6e 7b27666f6f273a27626172277d 8d9c08b1";

/*
 * boto/botocore tests/unit/test_eventstream.py (the same vectors are in
 * awslabs/amazon-transcribe-streaming-sdk tests/test_eventstream.py):
 * INT8_HEADER ... INT64_HEADER, ALL_HEADERS_TYPES, ERROR_EVENT_MESSAGE and the
 * negative cases.
 */
static const char v_int8[] = "00000017 00000007 29860158 04 62797465 02 ff c2f869dc";
static const char v_int16[] = "00000019 00000009 710e923e 05 73686f7274 03 ffff b27cb6cc";
static const char v_int32[] = "0000001d 0000000d 83e3f0e7 07 696e7465676572 04 ffffffff 8b8e12eb";
static const char v_int64[] = "0000001e 0000000e 5d4adb8d 04 6c6f6e67 05 ffffffffffffffff 4bc232da";
static const char v_all_types[] =
	"00000062 00000052 03b5cb9c"
	"013000 013101 01320202 0133030003 01340400000004 0135050000000000000005"
	"01360600056279746573 013707000475746638 0138080000000000000008"
	"013909 30313233343536373839616263646566"
	"63353671";
static const char v_error[] =
	"00000052 00000042 bf23637e"
	"0d 3a6d6573736167652d74797065 07 0005 6572726f72"
	"0b 3a6572726f722d636f6465 07 0004 636f6465"
	"0e 3a6572726f722d6d657373616765 07 0007 6d657373616765"
	"6b6cea3d";
static const char v_corrupted_length[] = "0100001d 00000000 fd528c5a 7b27666f6f273a27626172277d c3653936";
/* Adapted: one payload byte changed. */
static const char v_corrupted_payload[] = "0000001d 00000000 fd528c5a 7b27666f6f273a276261722d7d c3653936";
static const char v_corrupted_headers[] =
	"0000003d 00000020 07fd8396 0c 636f6e74656e742b74797065 07 0010"
	"6170706c69636174696f6e2f6a736f6e 7b27666f6f273a27626172277d 8d9c08b1";
static const char v_corrupted_header_length[] =
	"0000003d ff000102 07fd8396 0c 636f6e74656e742d74797065 07 0010"
	"6170706c69636174696f6e2f6a736f6e 7b27666f6f273a27626172277d 8d9c08b1";
static const char v_duplicate[] = "00000024 00000014 4bb982d0 04 74657374 04 61736466 04 74657374 04 61736466 f3f47563";

/* WIRE.md §1.6: a Bedrock final chunk (316 bytes), a throttlingException
 * frame and a ConverseStream metadata frame (all decoded by botocore). */
static const char v_wire_chunk[] =
	"0000013c0000004b2ba1c1530b3a6576656e742d747970650700056368756e6b"
	"0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f"
	"6e0d3a6d6573736167652d747970650700056576656e747b226279746573223a"
	"2265794a306558426c496a6f696257567a6332466e5a56397a64473977496977"
	"6959573168656d39754c574a6c5a484a76593273746157353262324e6864476c"
	"76626b316c64484a7059334d694f6e736961573577645852556232746c626b4e"
	"7664573530496a6f784d4377696233563063485630564739725a573544623356"
	"75644349364d545573496d6c75646d396a595852706232354d5958526c626d4e"
	"35496a6f784e7a6b344c434a6d61584a7a64454a356447564d5958526c626d4e"
	"35496a6f784e5441336658303d222c2270223a226162227d38e33ac1";
static const char v_wire_throttle[] =
	"000000b0000000614f5086b30f3a657863657074696f6e2d74797065070013"
	"7468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d7479"
	"70650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d"
	"74797065070009657863657074696f6e7b226d657373616765223a22546f6f"
	"206d616e7920746f6b656e732c20706c656173652077616974206265666f72"
	"6520747279696e6720616761696e2e227df70ae57f";
static const char v_wire_metadata[] =
	"000000b80000004ed4f1f02b0b3a6576656e742d747970650700086d657461"
	"646174610d3a636f6e74656e742d747970650700106170706c69636174696f"
	"6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b2275"
	"73616765223a7b22696e707574546f6b656e73223a31302c226f7574707574"
	"546f6b656e73223a332c22746f74616c546f6b656e73223a31337d2c226d65"
	"7472696373223a7b226c6174656e63794d73223a3430307d7d970f310f";

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex (spaces ignored) to bytes; the result is in a tf_buf the caller frees. */
static tf_buf unhex(const char *h)
{
	tf_buf b;
	int hi = -1;

	tf_buf_init(&b, 0);
	for (; *h; h++) {
		int v = hexval(*h);

		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			uint8_t byte = (uint8_t)(hi << 4 | v);

			cr_assert_eq(tf_buf_append(&b, &byte, 1), 0);
			hi = -1;
		}
	}
	return b;
}

/* ---------------------------------------------------------------------- */
/* Recording */

static void log_message(tf_buf *log, const tf_es_message *m)
{
	tf_es_header h;
	size_t pos = 0, i;

	tf_buf_printf(log, "MSG %zu h=%zu n=%zu p=%zu\n", m->raw_len, m->headers_len, m->num_headers,
		      m->payload_len);
	while (tf_es_next_header(m, &pos, &h)) {
		tf_buf_printf(log, "  %.*s t%d ", (int)h.name_len, h.name, (int)h.type);
		if (h.type == TF_ES_STRING)
			tf_buf_printf(log, "'%.*s'\n", (int)h.value_len, (const char *)h.value);
		else if (h.type == TF_ES_BYTES || h.type == TF_ES_UUID)
			tf_buf_printf(log, "[%zu]%.*s\n", h.value_len, (int)h.value_len, (const char *)h.value);
		else
			tf_buf_printf(log, "%" PRId64 "\n", h.ival);
	}
	tf_buf_printf(log, "  payload ");
	for (i = 0; i < m->payload_len && i < 48; i++)
		tf_buf_printf(log, "%c", m->payload[i] >= 0x20 && m->payload[i] < 0x7f ? m->payload[i] : '.');
	tf_buf_printf(log, "\n");
}

static int on_message(void *ctx, const tf_es_message *m)
{
	log_message(ctx, m);
	return 0;
}

typedef struct dopts {
	size_t max;
	bool abort_first;
} dopts;

static int abort_cb(void *ctx, const tf_es_message *m)
{
	log_message(ctx, m);
	return -1;
}

static void run_decoder(void *arg, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
			tf_buf *log)
{
	const dopts *o = arg;
	tf_es_decoder d;
	size_t piece, start = 0;
	int r = 0;

	tf_es_decoder_init(&d, o ? o->max : 0);
	for (piece = 0; piece <= ncuts && r == 0; piece++) {
		size_t end = piece < ncuts ? cuts[piece] : n;
		uint8_t *c = tf_test_piece(in + start, end - start);

		r = tf_es_decoder_feed(&d, c, end - start, o && o->abort_first ? abort_cb : on_message, log);
		free(c);
		start = end;
	}
	if (r)
		tf_buf_printf(log, "ERR %d\n", r);
	else
		tf_buf_printf(log, "%s\n", tf_es_decoder_idle(&d) ? "IDLE" : "PARTIAL");
	cr_assert_eq(tf_es_decoder_error(&d), r);
	/* Sticky. */
	if (r)
		cr_assert_eq(tf_es_decoder_feed(&d, in, n, on_message, log), r);
	tf_es_decoder_free(&d);
}

static char *decode_all(const tf_buf *b, size_t max)
{
	dopts o = { .max = max };

	return tf_test_run(run_decoder, &o, b->data, b->len, NULL, 0);
}

static void expect_decodes(const char *hex, const char *want)
{
	tf_buf b = unhex(hex);

	tf_test_splits(run_decoder, NULL, b.data, b.len, want);
	tf_buf_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Decoding the published vectors */

Test(eventstream, aws_c_event_stream_vectors)
{
	expect_decodes(v_empty, "MSG 16 h=0 n=0 p=0\n  payload \nIDLE\n");
	expect_decodes(v_no_headers, "MSG 29 h=0 n=0 p=13\n  payload {'foo':'bar'}\nIDLE\n");
	expect_decodes(v_one_header, "MSG 61 h=32 n=1 p=13\n  content-type t7 'application/json'\n"
				     "  payload {'foo':'bar'}\nIDLE\n");
}

Test(eventstream, botocore_vectors)
{
	tf_buf b = unhex(v_all_types);

	expect_decodes(v_int8, "MSG 23 h=7 n=1 p=0\n  byte t2 -1\n  payload \nIDLE\n");
	expect_decodes(v_int16, "MSG 25 h=9 n=1 p=0\n  short t3 -1\n  payload \nIDLE\n");
	expect_decodes(v_int32, "MSG 29 h=13 n=1 p=0\n  integer t4 -1\n  payload \nIDLE\n");
	expect_decodes(v_int64, "MSG 30 h=14 n=1 p=0\n  long t5 -1\n  payload \nIDLE\n");
	expect_decodes(v_error, "MSG 82 h=66 n=3 p=0\n  :message-type t7 'error'\n"
				"  :error-code t7 'code'\n  :error-message t7 'message'\n  payload \nIDLE\n");
	tf_test_splits(run_decoder, NULL, b.data, b.len,
		       "MSG 98 h=82 n=10 p=0\n  0 t0 1\n  1 t1 0\n  2 t2 2\n  3 t3 3\n  4 t4 4\n"
		       "  5 t5 5\n  6 t6 [5]bytes\n  7 t7 'utf8'\n  8 t8 8\n  9 t9 [16]0123456789abcdef\n"
		       "  payload \nIDLE\n");
	tf_buf_free(&b);
}

Test(eventstream, botocore_negative_vectors)
{
	/* botocore reports the first two as length errors; the prelude CRC is
	 * checked first here, before any length is trusted. */
	expect_decodes(v_corrupted_length, "ERR -2\n");
	expect_decodes(v_corrupted_header_length, "ERR -2\n");
	expect_decodes(v_corrupted_payload, "ERR -2\n");
	expect_decodes(v_corrupted_headers, "ERR -2\n");
	expect_decodes(v_duplicate, "ERR -1\n");
}

Test(eventstream, wire_md_frames)
{
	tf_buf b = unhex(v_wire_chunk);
	tf_es_message m;
	const char *v;
	size_t n;
	uint8_t json[400];
	ptrdiff_t jl;

	cr_assert_eq(b.len, 316);
	cr_assert_eq(tf_es_parse(b.data, b.len, 0, &m), 0);
	cr_assert(tf_es_find_string(&m, ":event-type", &v, &n));
	cr_expect(n == 5 && memcmp(v, "chunk", 5) == 0);
	cr_assert(tf_es_find_string(&m, ":message-type", &v, &n));
	cr_expect(n == 5 && memcmp(v, "event", 5) == 0);
	cr_assert(tf_es_find_string(&m, ":content-type", &v, &n));
	cr_expect(n == 16 && memcmp(v, "application/json", 16) == 0);
	cr_expect(!tf_es_find_string(&m, ":exception-type", &v, &n));
	cr_expect(!tf_es_find_string(&m, ":event-typ", &v, &n));
	/* {"bytes":"<base64>","p":"ab"}: the base64 decodes to the message_stop event. */
	cr_assert(m.payload_len > 12 && memcmp(m.payload, "{\"bytes\":\"", 10) == 0);
	v = memchr(m.payload + 10, '"', m.payload_len - 10);
	cr_assert(v);
	jl = tf_base64_decode((const char *)m.payload + 10, (size_t)(v - (const char *)m.payload - 10),
			      json, sizeof(json));
	cr_assert_gt(jl, 0);
	cr_expect(memmem(json, (size_t)jl, "\"inputTokenCount\":10", 20) != NULL);
	tf_buf_free(&b);

	b = unhex(v_wire_throttle);
	cr_assert_eq(tf_es_parse(b.data, b.len, 0, &m), 0);
	cr_assert(tf_es_find_string(&m, ":message-type", &v, &n));
	cr_expect(n == 9 && memcmp(v, "exception", 9) == 0);
	cr_assert(tf_es_find_string(&m, ":exception-type", &v, &n));
	cr_expect(n == 19 && memcmp(v, "throttlingException", 19) == 0);
	tf_buf_free(&b);

	b = unhex(v_wire_metadata);
	cr_assert_eq(tf_es_parse(b.data, b.len, 0, &m), 0);
	cr_assert(tf_es_find_string(&m, ":event-type", &v, &n));
	cr_expect(n == 8 && memcmp(v, "metadata", 8) == 0);
	cr_expect(m.payload_len == 184 - 16 - 78);
	tf_buf_free(&b);
}

/* All vectors back to back, split everywhere: every message comes out once. */
Test(eventstream, stream_of_all_vectors_split_everywhere)
{
	static const char *const all[] = { v_empty,   v_no_headers, v_one_header, v_int8,
					   v_int16,   v_int32,      v_int64,      v_error,
					   v_wire_chunk, v_wire_throttle, v_wire_metadata };
	tf_buf s, b;
	char *whole;
	size_t i, count = 0;
	const char *q;

	tf_buf_init(&s, 0);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		b = unhex(all[i]);
		tf_buf_append(&s, b.data, b.len);
		tf_buf_free(&b);
	}
	b = unhex(v_all_types);
	tf_buf_append(&s, b.data, b.len);
	tf_buf_free(&b);
	whole = decode_all(&s, 0);
	for (q = whole; (q = strstr(q, "MSG ")) != NULL; q++)
		count++;
	cr_expect_eq(count, 12, "%s", whole);
	cr_expect(strstr(whole, "IDLE\n") != NULL);
	tf_test_splits(run_decoder, NULL, s.data, s.len, whole);
	free(whole);
	tf_buf_free(&s);
}

/* ---------------------------------------------------------------------- */
/* Encoder */

static void expect_encodes(const tf_es_header *h, size_t nh, const char *payload, size_t plen,
			   const char *hex)
{
	tf_buf want = unhex(hex), out;

	tf_buf_init(&out, 0);
	cr_assert_eq(tf_es_encode(&out, h, nh, payload, plen), 0);
	cr_expect_eq(out.len, want.len);
	cr_expect(out.len == want.len && memcmp(out.data, want.data, out.len) == 0, "%s", hex);
	tf_buf_free(&out);
	tf_buf_free(&want);
}

Test(eventstream, encoder_reproduces_vectors)
{
	tf_es_header ct = tf_es_string_header("content-type", "application/json");
	tf_es_header err[] = { tf_es_string_header(":message-type", "error"),
			       tf_es_string_header(":error-code", "code"),
			       tf_es_string_header(":error-message", "message") };
	tf_es_header wire[] = { tf_es_string_header(":event-type", "metadata"),
				tf_es_string_header(":content-type", "application/json"),
				tf_es_string_header(":message-type", "event") };
	tf_es_header exc[] = { tf_es_string_header(":exception-type", "throttlingException"),
			       tf_es_string_header(":content-type", "application/json"),
			       tf_es_string_header(":message-type", "exception") };
	tf_es_header all[10] = {
		{ .name = "0", .name_len = 1, .type = TF_ES_TRUE },
		{ .name = "1", .name_len = 1, .type = TF_ES_FALSE },
		{ .name = "2", .name_len = 1, .type = TF_ES_BYTE, .ival = 2 },
		{ .name = "3", .name_len = 1, .type = TF_ES_SHORT, .ival = 3 },
		{ .name = "4", .name_len = 1, .type = TF_ES_INT, .ival = 4 },
		{ .name = "5", .name_len = 1, .type = TF_ES_LONG, .ival = 5 },
		{ .name = "6", .name_len = 1, .type = TF_ES_BYTES, .value = (const uint8_t *)"bytes", .value_len = 5 },
		{ .name = "7", .name_len = 1, .type = TF_ES_STRING, .value = (const uint8_t *)"utf8", .value_len = 4 },
		{ .name = "8", .name_len = 1, .type = TF_ES_TIMESTAMP, .ival = 8 },
		{ .name = "9", .name_len = 1, .type = TF_ES_UUID, .value = (const uint8_t *)"0123456789abcdef", .value_len = 16 },
	};
	tf_es_header neg[] = {
		{ .name = "byte", .name_len = 4, .type = TF_ES_BYTE, .ival = -1 },
	};
	tf_es_header neg64[] = {
		{ .name = "long", .name_len = 4, .type = TF_ES_LONG, .ival = -1 },
	};
	static const char meta[] = "{\"usage\":{\"inputTokens\":10,\"outputTokens\":3,\"totalTokens\":13},"
				   "\"metrics\":{\"latencyMs\":400}}";
	static const char thr[] = "{\"message\":\"Too many tokens, please wait before trying again.\"}";
	tf_buf b, out;

	expect_encodes(NULL, 0, NULL, 0, v_empty);
	expect_encodes(NULL, 0, "{'foo':'bar'}", 13, v_no_headers);
	expect_encodes(&ct, 1, "{'foo':'bar'}", 13, v_one_header);
	expect_encodes(err, 3, NULL, 0, v_error);
	expect_encodes(neg, 1, NULL, 0, v_int8);
	expect_encodes(neg64, 1, NULL, 0, v_int64);
	expect_encodes(wire, 3, meta, strlen(meta), v_wire_metadata);
	expect_encodes(exc, 3, thr, strlen(thr), v_wire_throttle);

	b = unhex(v_all_types);
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_es_encode(&out, all, 10, NULL, 0), 0);
	cr_expect(out.len == b.len && memcmp(out.data, b.data, b.len) == 0);
	tf_buf_free(&out);
	tf_buf_free(&b);
}

Test(eventstream, encoder_round_trip_and_append)
{
	tf_es_header h[] = { tf_es_string_header(":message-type", "event"),
			     tf_es_string_header(":event-type", "chunk"),
			     { .name = "ts", .name_len = 2, .type = TF_ES_TIMESTAMP, .ival = INT64_MIN },
			     { .name = "s", .name_len = 1, .type = TF_ES_SHORT, .ival = -32768 },
			     { .name = "i", .name_len = 1, .type = TF_ES_INT, .ival = INT32_MAX } };
	tf_buf out;
	tf_es_message m;
	tf_es_header got;
	size_t first;

	tf_buf_init(&out, 0);
	cr_assert_eq(tf_buf_append_str(&out, "prefix"), 0);
	cr_assert_eq(tf_es_encode(&out, h, 5, "hello", 5), 0);
	first = out.len;
	cr_assert_eq(tf_es_encode(&out, h, 2, "", 0), 0);
	cr_assert_eq(tf_es_parse(out.data + 6, first - 6, 0, &m), 0);
	cr_expect(m.num_headers == 5 && m.payload_len == 5 && memcmp(m.payload, "hello", 5) == 0);
	cr_assert(tf_es_find(&m, "ts", &got));
	cr_expect(got.type == TF_ES_TIMESTAMP && got.ival == INT64_MIN);
	cr_assert(tf_es_find(&m, "s", &got));
	cr_expect_eq(got.ival, -32768);
	cr_assert(tf_es_find(&m, "i", &got));
	cr_expect_eq(got.ival, INT32_MAX);
	cr_assert_eq(tf_es_parse(out.data + first, out.len - first, 0, &m), 0);
	cr_expect_eq(m.num_headers, 2);
	tf_buf_free(&out);
}

Test(eventstream, encoder_rejects)
{
	char longname[300], big[70000];
	tf_es_header h;
	tf_es_header dup[2] = { tf_es_string_header("a", "1"), tf_es_string_header("a", "2") };
	tf_buf out;

	memset(longname, 'n', sizeof(longname));
	memset(big, 'v', sizeof(big));
	tf_buf_init(&out, 0);
	h = (tf_es_header){ .name = longname, .name_len = 256, .type = TF_ES_TRUE };
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), -EINVAL);
	h.name_len = 255;
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), 0);
	h = (tf_es_header){ .name = "", .name_len = 0, .type = TF_ES_TRUE };
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), -EINVAL);
	h = (tf_es_header){ .name = "x", .name_len = 1, .type = (tf_es_type)10 };
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), -EINVAL);
	h = (tf_es_header){ .name = "x", .name_len = 1, .type = TF_ES_STRING, .value = (uint8_t *)big, .value_len = 65536 };
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), -EINVAL);
	h.value_len = 65535;
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), 0);
	h = (tf_es_header){ .name = "u", .name_len = 1, .type = TF_ES_UUID, .value = (uint8_t *)big, .value_len = 15 };
	cr_expect_eq(tf_es_encode(&out, &h, 1, NULL, 0), -EINVAL);
	cr_expect_eq(tf_es_encode(&out, dup, 2, NULL, 0), -EINVAL);
	cr_expect_eq(tf_es_encode(&out, NULL, 0, big, TF_ES_MAX_PAYLOAD + 1), -EINVAL);
	tf_buf_free(&out);
	/* The buffer's cap is honoured and out stays unchanged. */
	tf_buf_init(&out, 20);
	cr_expect_eq(tf_es_encode(&out, NULL, 0, "12345", 5), -ENOBUFS);
	cr_expect_eq(out.len, 0);
	tf_buf_free(&out);
}

/* ---------------------------------------------------------------------- */
/* Limits and bad input */

/* A prelude with a valid CRC for the given lengths, then filler. */
static tf_buf prelude(uint32_t total, uint32_t hlen, size_t fill)
{
	tf_buf b;
	uint8_t p[12];
	uint32_t c;

	p[0] = (uint8_t)(total >> 24), p[1] = (uint8_t)(total >> 16), p[2] = (uint8_t)(total >> 8), p[3] = (uint8_t)total;
	p[4] = (uint8_t)(hlen >> 24), p[5] = (uint8_t)(hlen >> 16), p[6] = (uint8_t)(hlen >> 8), p[7] = (uint8_t)hlen;
	c = (uint32_t)crc32(0L, p, 8);
	p[8] = (uint8_t)(c >> 24), p[9] = (uint8_t)(c >> 16), p[10] = (uint8_t)(c >> 8), p[11] = (uint8_t)c;
	tf_buf_init(&b, 0);
	tf_buf_append(&b, p, 12);
	for (size_t i = 0; i < fill; i++)
		tf_buf_append(&b, "", 1);
	return b;
}

Test(eventstream, huge_total_fails_at_once_without_allocating)
{
	tf_buf b = prelude(1u << 30, 0, 0);
	tf_es_decoder d;

	tf_es_decoder_init(&d, 0);
	/* Byte by byte: the 12th byte decides. */
	for (size_t i = 0; i < 11; i++)
		cr_assert_eq(tf_es_decoder_feed(&d, b.data + i, 1, on_message, NULL), 0);
	cr_expect_eq(tf_es_decoder_feed(&d, b.data + 11, 1, on_message, NULL), TF_ES_ETOOBIG);
	cr_expect_leq(d.buf.alloc, 256);
	tf_es_decoder_free(&d);
	tf_buf_free(&b);

	b = prelude(0xffffffffu, 0, 0);
	tf_es_decoder_init(&d, 0);
	cr_expect_eq(tf_es_decoder_feed(&d, b.data, b.len, on_message, NULL), TF_ES_ETOOBIG);
	cr_expect_eq(d.buf.alloc, 0);
	tf_es_decoder_free(&d);
	tf_buf_free(&b);
}

Test(eventstream, length_rules)
{
	tf_buf b;
	char *got;

	b = prelude(15, 0, 3);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -1\n");
	free(got);
	tf_buf_free(&b);
	b = prelude(0, 0, 0);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -1\n");
	free(got);
	tf_buf_free(&b);
	/* Headers longer than the message. */
	b = prelude(40, 25, 28);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -1\n");
	free(got);
	tf_buf_free(&b);
	/* Headers past 128 KiB. */
	b = prelude(200000, 131073, 0);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -3\n");
	free(got);
	tf_buf_free(&b);
	/* Payload past 16 MiB, even with a larger message cap. */
	b = prelude((uint32_t)(TF_ES_MAX_PAYLOAD + 17), 0, 0);
	got = decode_all(&b, TF_ES_MAX_PAYLOAD * 2);
	cr_expect_str_eq(got, "ERR -3\n");
	free(got);
	tf_buf_free(&b);
	/* A valid prelude, then the stream ends: partial, not an error. */
	b = prelude(100, 0, 10);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "PARTIAL\n");
	free(got);
	tf_buf_free(&b);
}

Test(eventstream, message_cap_boundary)
{
	tf_buf out, tmp;
	char payload[1000];
	char *got;

	memset(payload, 'x', sizeof(payload));
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_es_encode(&out, NULL, 0, payload, 1000 - 16), 0);
	cr_assert_eq(out.len, 1000);
	got = decode_all(&out, 1000);
	cr_expect(strncmp(got, "MSG 1000 ", 9) == 0, "%s", got);
	free(got);
	got = decode_all(&out, 999);
	cr_expect_str_eq(got, "ERR -3\n");
	free(got);
	/* Split in two: the buffered path honours the same cap. */
	tf_buf_init(&tmp, 0);
	tf_buf_append(&tmp, out.data, 500);
	{
		tf_es_decoder d;

		tf_es_decoder_init(&d, 1000);
		cr_expect_eq(tf_es_decoder_feed(&d, out.data, 500, on_message, &tmp), 0);
		cr_expect(!tf_es_decoder_idle(&d));
		cr_expect_eq(tf_es_decoder_feed(&d, out.data + 500, 500, on_message, &tmp), 0);
		cr_expect(tf_es_decoder_idle(&d));
		cr_expect_eq(d.messages, 1);
		tf_es_decoder_free(&d);
	}
	tf_buf_free(&tmp);
	tf_buf_free(&out);
}

/* Builds a raw message around a hand-made header section. */
static tf_buf raw_message(const uint8_t *hdr, size_t hlen, const char *payload)
{
	size_t plen = strlen(payload), total = 16 + hlen + plen;
	tf_buf b = prelude((uint32_t)total, (uint32_t)hlen, 0);
	uint32_t c;
	uint8_t crc[4];

	tf_buf_append(&b, hdr, hlen);
	tf_buf_append(&b, payload, plen);
	c = (uint32_t)crc32(0L, b.data, (uInt)b.len);
	crc[0] = (uint8_t)(c >> 24), crc[1] = (uint8_t)(c >> 16), crc[2] = (uint8_t)(c >> 8), crc[3] = (uint8_t)c;
	tf_buf_append(&b, crc, 4);
	return b;
}

Test(eventstream, bad_header_sections)
{
	static const struct {
		const char *hdr;
		size_t len;
	} bad[] = {
		{ "\x00\x07\x00\x00", 4 },          /* empty name */
		{ "\x01" "a" "\x0a", 3 },            /* type 10 */
		{ "\x01" "a" "\xff", 3 },
		{ "\x01" "a", 2 },                   /* no type */
		{ "\x05" "ab", 3 },                  /* name past the section */
		{ "\x01" "a" "\x07\x00\x05" "abc", 7 }, /* string past the section */
		{ "\x01" "a" "\x07\x00", 4 },        /* half a length */
		{ "\x01" "a" "\x04\x00\x00\x00", 6 },  /* int cut short */
		{ "\x01" "a" "\x09" "0123456789", 13 },/* uuid cut short */
		{ "\x01" "a" "\x00\x01" "a" "\x01", 6 }, /* duplicate bools */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tf_buf b = raw_message((const uint8_t *)bad[i].hdr, bad[i].len, "{}");
		char *got = decode_all(&b, 0);

		cr_expect_str_eq(got, "ERR -1\n", "case %zu", i);
		free(got);
		tf_buf_free(&b);
	}
}

Test(eventstream, many_headers_and_late_duplicate)
{
	tf_buf sec, b;
	char name[8];
	char *got;
	int i;

	tf_buf_init(&sec, 0);
	for (i = 0; i < 5000; i++) {
		uint8_t n = (uint8_t)snprintf(name, sizeof(name), "h%d", i);

		tf_buf_append(&sec, &n, 1);
		tf_buf_append(&sec, name, n);
		tf_buf_append(&sec, "\x00", 1);
	}
	b = raw_message(sec.data, sec.len, "p");
	got = decode_all(&b, 0);
	cr_expect(strstr(got, "MSG ") == got && strstr(got, " n=5000 ") != NULL);
	free(got);
	tf_buf_free(&b);
	tf_buf_append(&sec, "\x03h42\x01", 5);
	b = raw_message(sec.data, sec.len, "p");
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -1\n");
	free(got);
	tf_buf_free(&b);
	tf_buf_free(&sec);
}

Test(eventstream, every_single_bit_flip_is_caught)
{
	tf_buf b = unhex(v_one_header);

	for (size_t i = 0; i < b.len * 8; i++) {
		tf_es_message m;
		int r;

		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
		r = tf_es_parse(b.data, b.len, 0, &m);
		cr_expect(r < 0, "bit %zu", i);
		b.data[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	tf_buf_free(&b);
}

Test(eventstream, garbage_and_truncation)
{
	static const char text[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}";
	tf_buf b;
	char *got;

	tf_buf_init(&b, 0);
	tf_buf_append_str(&b, text);
	got = decode_all(&b, 0);
	cr_expect_str_eq(got, "ERR -2\n");
	free(got);
	tf_buf_free(&b);
	/* Each prefix of a valid message is partial; error-free. */
	b = unhex(v_wire_chunk);
	for (size_t k = 1; k < b.len; k++) {
		tf_buf c;

		tf_buf_init(&c, 0);
		tf_buf_append(&c, b.data, k);
		got = decode_all(&c, 0);
		cr_expect_str_eq(got, "PARTIAL\n", "prefix %zu", k);
		free(got);
		tf_buf_free(&c);
	}
	tf_buf_free(&b);
}

Test(eventstream, callback_abort_is_sticky)
{
	tf_buf b = unhex(v_no_headers);
	dopts o = { .abort_first = true };
	char *got;

	tf_buf_append(&b, b.data, b.len);
	got = tf_test_run(run_decoder, &o, b.data, b.len, NULL, 0);
	cr_expect_str_eq(got, "MSG 29 h=0 n=0 p=13\n  payload {'foo':'bar'}\nERR -4\n");
	free(got);
	tf_buf_free(&b);
}

Test(eventstream, error_after_good_messages)
{
	tf_buf s = unhex(v_no_headers), bad = unhex(v_corrupted_payload);

	tf_buf_append(&s, bad.data, bad.len);
	tf_test_splits(run_decoder, NULL, s.data, s.len,
		       "MSG 29 h=0 n=0 p=13\n  payload {'foo':'bar'}\nERR -2\n");
	tf_buf_free(&s);
	tf_buf_free(&bad);
}
