/*
 * AWS event-stream decoder and encoder.
 * Byte 0: options (bit 0: build messages with the encoder from the input
 * first; bits 1-3: message cap, 0 = default, else 16 << (2n) bytes). Byte 1:
 * seed of the cut points.
 * Invariants: the same messages and result whether the input comes whole, in
 * random pieces or byte by byte; every decoded message parses alone and
 * re-encodes to exactly its own bytes (the encoding is canonical); whatever
 * the encoder accepts decodes back to the same headers and payload.
 */
#include <errno.h>
#include <inttypes.h>

#include "eventstream.h"
#include "fuzz.h"

#define MAX_HDRS 64

typedef struct run {
	tf_es_decoder d;
	tf_buf *log;
	size_t max;
	int err;
} run;

static void check_message(const tf_es_message *m, size_t max)
{
	tf_es_header hs[MAX_HDRS], h, found;
	tf_es_message again;
	size_t pos = 0, n = 0;
	tf_buf enc;

	FUZZ_CHECK(m->raw_len >= TF_ES_MIN_MESSAGE && m->raw_len <= max);
	FUZZ_CHECK(m->headers_len <= TF_ES_MAX_HEADERS_LEN && m->payload_len <= TF_ES_MAX_PAYLOAD);
	FUZZ_CHECK(tf_es_parse(m->raw, m->raw_len, max, &again) == 0);
	FUZZ_CHECK(again.num_headers == m->num_headers && again.payload_len == m->payload_len);
	while (tf_es_next_header(m, &pos, &h)) {
		FUZZ_CHECK(h.name_len > 0 && h.type <= TF_ES_UUID);
		if (h.name_len < 64) {
			char name[64];

			memcpy(name, h.name, h.name_len);
			name[h.name_len] = '\0';
			if (strlen(name) == h.name_len) {
				FUZZ_CHECK(tf_es_find(m, name, &found));
				FUZZ_CHECK(found.name == h.name);
			}
		}
		if (n < MAX_HDRS)
			hs[n] = h;
		n++;
	}
	FUZZ_CHECK(pos == m->headers_len && n == m->num_headers);
	if (n > MAX_HDRS)
		return;
	tf_buf_init(&enc, 0);
	FUZZ_CHECK(tf_es_encode(&enc, hs, n, m->payload, m->payload_len) == 0);
	FUZZ_CHECK(enc.len == m->raw_len && memcmp(enc.data, m->raw, enc.len) == 0);
	tf_buf_free(&enc);
}

static int on_message(void *ctx, const tf_es_message *m)
{
	run *r = ctx;
	uint32_t h = 2166136261u;

	check_message(m, r->max);
	for (size_t i = 0; i < m->raw_len; i++)
		h = (h ^ m->raw[i]) * 16777619u;
	tf_buf_printf(r->log, "MSG %zu %zu %08" PRIx32 "\n", m->raw_len, m->num_headers, h);
	return 0;
}

static int feed(void *state, const uint8_t *p, size_t n)
{
	run *r = state;

	r->err = tf_es_decoder_feed(&r->d, p, n, on_message, r);
	FUZZ_CHECK(r->d.buf.len <= r->max && r->d.buf.alloc <= r->max);
	if (r->err) {
		FUZZ_CHECK(r->err == TF_ES_EMALFORMED || r->err == TF_ES_ECRC || r->err == TF_ES_ETOOBIG);
		FUZZ_CHECK(tf_es_decoder_feed(&r->d, p, n, on_message, r) == r->err);
		FUZZ_CHECK(r->d.buf.alloc == 0);
	}
	return r->err == 0;
}

static void run_once(size_t max, const uint8_t *data, size_t size, const fuzz_cuts *cuts,
		     int bytewise, tf_buf *log)
{
	run r = { .log = log, .max = max };

	tf_es_decoder_init(&r.d, max);
	fuzz_feed_pieces(&r, feed, data, size, cuts, bytewise);
	tf_buf_printf(log, "END %d %d\n", r.err, tf_es_decoder_idle(&r.d));
	tf_es_decoder_free(&r.d);
}

/*
 * Encoder mode: the input describes messages as
 * [nheaders & 7] then per header [name_len & 15][name][type][value...] where
 * fixed-size values take their size, and types 6/7 take [len & 31][bytes];
 * then [payload_len][payload]. Returns the bytes consumed.
 */
static size_t take(const uint8_t **p, size_t *n, size_t want)
{
	size_t got = want < *n ? want : *n;

	*p += got;
	*n -= got;
	return got;
}

static void encode_from(const uint8_t *p, size_t n, tf_buf *stream)
{
	while (n > 0) {
		tf_es_header hs[8];
		size_t nh = p[0] & 7, i, plen;
		const uint8_t *payload;
		tf_es_message m;
		int r;

		take(&p, &n, 1);
		for (i = 0; i < nh && n > 0; i++) {
			static const size_t fixed[] = { 0, 0, 1, 2, 4, 8, 0, 0, 8, 16 };
			size_t nl = p[0] & 15, vl;
			const uint8_t *v;

			take(&p, &n, 1);
			hs[i].name = (const char *)p;
			hs[i].name_len = take(&p, &n, nl);
			hs[i].type = (tf_es_type)(n ? p[0] % 11 : 0);
			take(&p, &n, 1);
			if (hs[i].type == TF_ES_BYTES || hs[i].type == TF_ES_STRING) {
				vl = n ? p[0] & 31 : 0;
				take(&p, &n, 1);
			} else {
				vl = hs[i].type < 10 ? fixed[hs[i].type] : 0;
			}
			v = p;
			vl = take(&p, &n, vl);
			hs[i].value = v;
			hs[i].value_len = vl;
			hs[i].ival = 0;
			for (size_t k = 0; k < vl && k < 8; k++)
				hs[i].ival = (int64_t)((uint64_t)hs[i].ival << 8 | v[k]);
			if (hs[i].type == TF_ES_BYTE)
				hs[i].ival = (int8_t)hs[i].ival;
			else if (hs[i].type == TF_ES_SHORT)
				hs[i].ival = (int16_t)hs[i].ival;
			else if (hs[i].type == TF_ES_INT)
				hs[i].ival = (int32_t)hs[i].ival;
		}
		nh = i;
		plen = n ? p[0] : 0;
		take(&p, &n, 1);
		payload = p;
		plen = take(&p, &n, plen);
		{
			size_t before = stream->len;

			r = tf_es_encode(stream, hs, nh, payload, plen);
			if (r != 0) {
				FUZZ_CHECK(r == -EINVAL && stream->len == before);
				continue;
			}
			FUZZ_CHECK(tf_es_parse(stream->data + before, stream->len - before, 0, &m) == 0);
			FUZZ_CHECK(m.num_headers == nh && m.payload_len == plen);
			FUZZ_CHECK(plen == 0 || memcmp(m.payload, payload, plen) == 0);
			for (i = 0; i < nh; i++) {
				tf_es_header got;
				char name[16];

				memcpy(name, hs[i].name, hs[i].name_len);
				name[hs[i].name_len] = '\0';
				if (strlen(name) != hs[i].name_len)
					continue;
				FUZZ_CHECK(tf_es_find(&m, name, &got));
				FUZZ_CHECK(got.type == hs[i].type);
				if (got.type == TF_ES_BYTES || got.type == TF_ES_STRING || got.type == TF_ES_UUID)
					FUZZ_CHECK(got.value_len == hs[i].value_len &&
						   (got.value_len == 0 ||
						    memcmp(got.value, hs[i].value, got.value_len) == 0));
				else if (got.type != TF_ES_TRUE && got.type != TF_ES_FALSE)
					FUZZ_CHECK(got.ival == hs[i].ival);
				else
					FUZZ_CHECK(got.ival == (got.type == TF_ES_TRUE));
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tf_buf whole, other, built;
	const uint8_t *in;
	size_t max, n;
	fuzz_cuts cuts;
	uint8_t opt, seed;

	if (size < 2)
		return 0;
	opt = data[0];
	seed = data[1];
	data += 2;
	size -= 2;
	max = ((opt >> 1) & 7) ? (size_t)16 << (2 * ((opt >> 1) & 7)) : TF_ES_DEFAULT_MAX_MESSAGE;
	tf_buf_init(&built, 0);
	in = data;
	n = size;
	if (opt & 1) {
		encode_from(data, size, &built);
		in = built.data;
		n = built.len;
	}
	tf_buf_init(&whole, 0);
	tf_buf_init(&other, 0);
	run_once(max, in, n, NULL, 0, &whole);
	fuzz_make_cuts(&cuts, seed, n);
	run_once(max, in, n, &cuts, 0, &other);
	fuzz_expect_same(&whole, &other, "random pieces");
	if (n <= FUZZ_BYTEWISE_MAX) {
		tf_buf_reset(&other);
		run_once(max, in, n, NULL, 1, &other);
		fuzz_expect_same(&whole, &other, "byte by byte");
	}
	tf_buf_free(&whole);
	tf_buf_free(&other);
	tf_buf_free(&built);
	return 0;
}
