/*
 * shim/streamuse: usage, estimate, end state, cut points and the hidden
 * usage chunk of streamed responses, on streams captured from
 * tokenfence-emulator (tests/data/streams, made by capture.py, with the
 * emulator's bill for each in MANIFEST) and on hand-made ones.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base64.h"
#include "eventstream.h"
#include "json.h"
#include "prices.h"
#include "split.h"
#include "streamuse.h"

#ifndef TF_STREAMS_DIR
#error "TF_STREAMS_DIR must name tests/data/streams"
#endif

/* ---------------------------------------------------------------------- */
/* Fixtures */

typedef struct row {
	char name[64], fmt[8], op[64], model[128], priced[128];
	uint64_t in, out, cached, reasoning;
	long long cost;
	int complete;
} row;

static bool manifest_row(const char *name, row *r)
{
	char line[1024];
	FILE *f = fopen(TF_STREAMS_DIR "/MANIFEST", "r");
	bool found = false;

	cr_assert(f, "cannot open %s/MANIFEST", TF_STREAMS_DIR);
	while (!found && fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		memset(r, 0, sizeof(*r));
		cr_assert_eq(sscanf(line, "%63s %7s %63s %127s %127s %" SCNu64 " %" SCNu64 " %" SCNu64
				    " %" SCNu64 " %lld %d",
				    r->name, r->fmt, r->op, r->model, r->priced, &r->in, &r->out,
				    &r->cached, &r->reasoning, &r->cost, &r->complete),
			     11, "bad MANIFEST line: %s", line);
		found = strcmp(r->name, name) == 0;
	}
	fclose(f);
	return found;
}

static uint8_t *load_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;

	cr_assert(f, "cannot open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	cr_assert(len >= 0);
	rewind(f);
	p = malloc((size_t)len + 1);
	cr_assert(p);
	cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

static uint8_t *load_fixture(const row *r, size_t *n)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.%s", TF_STREAMS_DIR, r->name, r->fmt);
	return load_file(path, n);
}

static row need_row(const char *name)
{
	row r;

	cr_assert(manifest_row(name, &r), "%s is not in MANIFEST", name);
	return r;
}

static tf_provider row_provider(const row *r)
{
	return strcmp(r->fmt, "es") == 0 ? TF_PROVIDER_BEDROCK : TF_PROVIDER_AZURE;
}

/* The bill's usage as tf_usage (Azure: cached inside input, reasoning inside output). */
static tf_usage bill_usage(const row *r)
{
	tf_usage u = { 0 };

	if (row_provider(r) == TF_PROVIDER_AZURE) {
		tf_usage_from_openai(&u, r->in, r->cached, r->out, r->reasoning);
	} else {
		u.input = r->in;
		u.output = r->out;
	}
	return u;
}

/* ---------------------------------------------------------------------- */
/* A runner for split.h: feed the pieces, act as the caller (release what is
 * safe, drop the spans), log everything the module says. */

typedef struct cfg {
	const char *op;
	unsigned flags;
	uint64_t max_out;
	bool finish;
} cfg;

static void check_invariants(tf_streamuse *s, const uint8_t *in, uint64_t *released,
			     uint64_t *last_est, tf_buf *app, tf_buf *spans)
{
	uint64_t fed = tf_streamuse_fed(s), safe = tf_streamuse_safe_prefix(s);
	uint64_t bnd = tf_streamuse_boundary(s), est = tf_streamuse_output_estimate(s);
	uint64_t at = *released;
	tf_su_span sp;
	tf_usage u;

	cr_assert(safe >= *released && safe <= fed, "safe %" PRIu64 " released %" PRIu64, safe,
		  *released);
	cr_assert(bnd <= fed);
	cr_assert(fed - safe <= TF_SU_MAX_EVENT + 2);
	if (!tf_streamuse_usage(s, &u)) {
		cr_assert(est >= *last_est, "estimate went down: %" PRIu64 " < %" PRIu64, est,
			  *last_est);
		*last_est = est;
	}
	while (tf_streamuse_next_drop(s, &sp)) {
		cr_assert(sp.start >= at && sp.start < sp.end && sp.end <= safe,
			  "span %" PRIu64 "-%" PRIu64 " at %" PRIu64 " safe %" PRIu64, sp.start,
			  sp.end, at, safe);
		cr_assert_eq(tf_buf_append(app, in + at, (size_t)(sp.start - at)), 0);
		cr_assert_eq(tf_buf_printf(spans, "%" PRIu64 "-%" PRIu64 ":%d ", sp.start, sp.end,
					   sp.kind),
			     0);
		at = sp.end;
	}
	cr_assert_eq(tf_buf_append(app, in + at, (size_t)(safe - at)), 0);
	*released = safe;
}

static void log_state(const tf_streamuse *s, tf_buf *log)
{
	tf_usage u;
	bool final = tf_streamuse_usage(s, &u), known;
	const char *why = tf_streamuse_unreadable(s);

	tf_buf_printf(log, "fed=%" PRIu64 " boundary=%" PRIu64 " safe=%" PRIu64 " end=%d\n",
		      tf_streamuse_fed(s), tf_streamuse_boundary(s), tf_streamuse_safe_prefix(s),
		      (int)tf_streamuse_end(s));
	tf_buf_printf(log, "unreadable=%s model=%s err=%s/%s\n", why ? why : "-",
		      tf_streamuse_model(s), tf_streamuse_error_type(s),
		      tf_streamuse_error_message(s));
	if (final)
		tf_buf_printf(log,
			      "usage in=%" PRIu64 " out=%" PRIu64 " reasoning=%" PRIu64
			      " cache_read=%" PRIu64 " cache_write=%" PRIu64 "\n",
			      u.input, u.output, u.reasoning, u.cache_read, u.cache_write);
	known = tf_streamuse_usage_so_far(s, &u);
	tf_buf_printf(log, "so far known=%d in=%" PRIu64 " out=%" PRIu64 " estimate=%" PRIu64 "\n",
		      known, u.input, u.output, tf_streamuse_output_estimate(s));
}

static void run(void *arg, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
		tf_buf *log)
{
	const cfg *c = arg;
	tf_streamuse s;
	tf_buf app, spans;
	uint64_t released = 0, last_est = 0;
	size_t at = 0;

	cr_assert_eq(tf_streamuse_init(&s, c->op, c->max_out, c->flags), 0);
	tf_buf_init(&app, 0);
	tf_buf_init(&spans, 0);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;
		uint8_t *piece = tf_test_piece(in + at, end - at);

		tf_streamuse_feed(&s, piece, end - at);
		free(piece);
		check_invariants(&s, in, &released, &last_est, &app, &spans);
		at = end;
	}
	if (c->finish) {
		tf_streamuse_finish(&s);
		check_invariants(&s, in, &released, &last_est, &app, &spans);
	}
	log_state(&s, log);
	tf_buf_printf(log, "spans=%.*s\napp=%zu\n", (int)spans.len, (const char *)spans.data,
		      app.len);
	tf_buf_append(log, app.data, app.len);
	tf_buf_free(&app);
	tf_buf_free(&spans);
	tf_streamuse_free(&s);
}

/* Feeds whole (and finishes): the state to inspect. */
static void feed_all(tf_streamuse *s, const char *op, unsigned flags, const void *p, size_t n)
{
	cr_assert_eq(tf_streamuse_init(s, op, 0, flags), 0);
	tf_streamuse_feed(s, p, n);
	tf_streamuse_finish(s);
}

/* ---------------------------------------------------------------------- */
/* Every fixture: usage equals the emulator's bill, and every way of feeding
 * it says the same. */

typedef struct fx {
	char name[48];
} fx;

static fx fixtures[] = {
	{ "bedrock-anthropic" },        { "bedrock-anthropic-limited" },
	{ "bedrock-anthropic-legacy" }, { "bedrock-titan" },
	{ "bedrock-llama" },            { "bedrock-mistral" },
	{ "bedrock-mistral-chat" },     { "bedrock-nova" },
	{ "bedrock-cohere-chat" },      { "bedrock-cohere-text" },
	{ "converse" },                 { "converse-limited" },
	{ "bedrock-anthropic-crc" },    { "bedrock-anthropic-malformed" },
	{ "converse-truncated" },       { "azure-chat-usage" },
	{ "azure-chat-plain" },         { "azure-chat-limited-usage" },
	{ "azure-chat-limited-plain" }, { "azure-reasoning-usage" },
	{ "azure-reasoning-plain" },    { "azure-completions-usage" },
	{ "azure-completions-plain" },  { "azure-chat-malformed" },
	{ "azure-chat-truncated" },     { "azure-responses" },
	{ "azure-responses-incomplete" }, { "azure-responses-reasoning" },
};

#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

Test(streamuse, manifest_lists_the_fixtures)
{
	char line[1024], name[64];
	FILE *f = fopen(TF_STREAMS_DIR "/MANIFEST", "r");
	size_t rows = 0;

	cr_assert(f);
	while (fgets(line, sizeof(line), f)) {
		bool known = false;

		if (line[0] == '#')
			continue;
		cr_assert_eq(sscanf(line, "%63s", name), 1);
		for (size_t i = 0; i < NFIXTURES; i++)
			known = known || strcmp(fixtures[i].name, name) == 0;
		cr_assert(known, "MANIFEST has %s, the test does not", name);
		rows++;
	}
	fclose(f);
	cr_assert_eq(rows, NFIXTURES);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

ParameterizedTestParameters(streamuse, fixture)
{
	return cr_make_param_array(fx, fixtures, NFIXTURES);
}

ParameterizedTest(fx *f, streamuse, fixture, .timeout = 240)
{
	row r = need_row(f->name);
	size_t n;
	uint8_t *body = load_fixture(&r, &n);
	cfg c = { r.op, 0, 0, true };
	tf_streamuse s;
	tf_usage u, want = bill_usage(&r);
	bool plain = ends_with(r.name, "-plain");
	bool damaged = ends_with(r.name, "-crc") || ends_with(r.name, "-truncated");

	/* Every way of feeding it says the same. */
	tf_test_splits(run, &c, body, n, NULL);

	feed_all(&s, r.op, 0, body, n);
	cr_assert_eq(tf_streamuse_fed(&s), n);
	if (plain || damaged) {
		cr_assert_not(tf_streamuse_usage(&s, &u), "%s: usage without a usage event", r.name);
	} else {
		tf_prices prices;
		tf_price price;
		char err[256];

		cr_assert(tf_streamuse_usage(&s, &u), "%s: no usage", r.name);
		cr_assert_eq(u.input, want.input, "%s input", r.name);
		cr_assert_eq(u.output, want.output, "%s output", r.name);
		cr_assert_eq(u.reasoning, want.reasoning, "%s reasoning", r.name);
		cr_assert_eq(u.cache_read, want.cache_read, "%s cache_read", r.name);
		cr_assert_eq(u.cache_write, want.cache_write, "%s cache_write", r.name);
		cr_assert_eq(u.cache_write_1h, 0);
		/* ... so it costs what the emulator billed, to the pico-dollar. */
		cr_assert_eq(tf_prices_init(&prices, err, sizeof(err)), 0, "%s", err);
		tf_prices_lookup(&prices, row_provider(&r), r.model, strlen(r.model), &price);
		cr_assert_eq((long long)tf_price_cost(&price, &u), r.cost, "%s cost", r.name);
		tf_prices_free(&prices);
		cr_assert_eq(tf_streamuse_output_estimate(&s), want.output + want.reasoning);
	}
	if (ends_with(r.name, "-crc")) {
		cr_assert_str_eq(tf_streamuse_unreadable(&s), "event-stream CRC mismatch");
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT);
	} else if (ends_with(r.name, "-truncated")) {
		cr_assert_eq(r.complete, 0);
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT);
		/* A cut inside a frame is unreadable; an SSE stream is just cut. */
		if (strcmp(r.fmt, "es") == 0)
			cr_assert_str_eq(tf_streamuse_unreadable(&s), "the stream ends inside a frame");
		else
			cr_assert_null(tf_streamuse_unreadable(&s));
	} else {
		cr_assert_null(tf_streamuse_unreadable(&s), "%s: %s", r.name,
			       tf_streamuse_unreadable(&s));
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_ENDED, "%s: end %d", r.name,
			     tf_streamuse_end(&s));
		cr_assert_eq(tf_streamuse_boundary(&s), n, "%s: boundary", r.name);
		cr_assert_eq(r.complete, 1);
	}
	if (ends_with(r.name, "-malformed"))
		cr_assert_eq(s.bad_events, 1);
	else
		cr_assert_eq(s.bad_events, 0);
	cr_assert_eq(tf_streamuse_safe_prefix(&s), n);
	cr_assert_str_eq(tf_streamuse_error_type(&s), "");
	tf_streamuse_free(&s);
	free(body);
}

/* The estimate never counts less than the visible output the stream has
 * shown: checked byte by byte, up to the moment the final usage is read
 * (the emulator writes one word per visible output token). */
ParameterizedTestParameters(streamuse, estimate_never_under)
{
	return cr_make_param_array(fx, fixtures, NFIXTURES);
}

ParameterizedTest(fx *f, streamuse, estimate_never_under)
{
	row r = need_row(f->name);
	size_t n;
	uint8_t *body = load_fixture(&r, &n);
	uint64_t visible = r.out - r.reasoning, before = 0;
	tf_streamuse s;
	tf_usage u;

	if (ends_with(r.name, "-crc") || ends_with(r.name, "-truncated")) {
		free(body);
		return;
	}
	cr_assert_eq(tf_streamuse_init(&s, r.op, 0, 0), 0);
	for (size_t i = 0; i < n && !tf_streamuse_usage(&s, &u); i++) {
		before = tf_streamuse_output_estimate(&s);
		tf_streamuse_feed(&s, body + i, 1);
	}
	if (!tf_streamuse_usage(&s, &u))
		before = tf_streamuse_output_estimate(&s);
	cr_assert_geq(before, visible, "%s: estimate %" PRIu64 " < %" PRIu64, r.name, before,
		      visible);
	/* Capped at the call's limit, never below what the provider reported. */
	tf_streamuse_free(&s);
	cr_assert_eq(tf_streamuse_init(&s, r.op, visible ? visible : 1, 0), 0);
	for (size_t i = 0; i < n && !tf_streamuse_usage(&s, &u); i++) {
		tf_streamuse_feed(&s, body + i, 1);
		if (!tf_streamuse_usage(&s, &u))
			cr_assert_leq(tf_streamuse_output_estimate(&s),
				      (visible ? visible : 1) > s.reported_out ? (visible ? visible : 1)
									      : s.reported_out);
	}
	tf_streamuse_free(&s);
	free(body);
}

/* Per-fixture facts beyond usage. */
Test(streamuse, models_and_input_so_far)
{
	static const struct {
		const char *name, *model;
		bool input_known;
	} cases[] = {
		{ "bedrock-anthropic", "claude-3-5-haiku-20241022", true },
		{ "bedrock-titan", "", true },
		{ "bedrock-llama", "", true },
		{ "converse", "", false },
		{ "azure-chat-plain", "gpt-4o-2024-11-20", false },
		{ "azure-responses", "gpt-4.1-2025-04-14", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		row r = need_row(cases[i].name);
		size_t n;
		uint8_t *body = load_fixture(&r, &n);
		tf_streamuse s;
		tf_usage u;

		/* Half the stream: what a cut stream would be charged. */
		cr_assert_eq(tf_streamuse_init(&s, r.op, 0, 0), 0);
		tf_streamuse_feed(&s, body, n / 2);
		tf_streamuse_finish(&s);
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT, "%s", r.name);
		cr_assert_eq(tf_streamuse_usage_so_far(&s, &u), cases[i].input_known, "%s", r.name);
		if (cases[i].input_known)
			cr_assert_eq(u.input, r.in, "%s", r.name);
		cr_assert_gt(u.output, 0, "%s", r.name);
		cr_assert_str_eq(tf_streamuse_model(&s), cases[i].model, "%s", r.name);
		tf_streamuse_free(&s);
		free(body);
	}
}

/* ---------------------------------------------------------------------- */
/* Hiding the usage chunk: the app's view equals the stream the emulator
 * sends without include_usage, byte for byte, for every way of feeding. */

typedef struct pair {
	char name[48]; /* fixture prefix: NAME-usage and NAME-plain */
	char eol[4];   /* "" as captured, else every "\n" becomes this */
	bool bom;      /* both start with a UTF-8 BOM */
} pair;

static pair pairs[] = {
	{ "azure-chat", "", false },        { "azure-chat-limited", "", false },
	{ "azure-reasoning", "", false },   { "azure-completions", "", false },
	{ "azure-chat", "\r\n", false },    { "azure-chat", "\r", false },
	{ "azure-chat-limited", "\r", true }, { "azure-completions", "\r\n", true },
};

ParameterizedTestParameters(streamuse, hide_usage_chunk)
{
	return cr_make_param_array(pair, pairs, sizeof(pairs) / sizeof(pairs[0]));
}

static uint8_t *variant(const uint8_t *p, size_t n, const pair *v, size_t *out_n)
{
	tf_buf b;

	tf_buf_init(&b, 0);
	if (v->bom)
		cr_assert_eq(tf_buf_append(&b, "\xEF\xBB\xBF", 3), 0);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && v->eol[0])
			cr_assert_eq(tf_buf_append_str(&b, v->eol), 0);
		else
			cr_assert_eq(tf_buf_append(&b, p + i, 1), 0);
	}
	*out_n = b.len;
	return b.data;
}

static void hidden_view(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
			tf_buf *app, tf_streamuse *s)
{
	tf_buf spans;
	uint64_t released = 0, last = 0;
	size_t at = 0;

	tf_buf_init(&spans, 0);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : n;

		tf_streamuse_feed(s, in + at, end - at);
		check_invariants(s, in, &released, &last, app, &spans);
		at = end;
	}
	tf_streamuse_finish(s);
	check_invariants(s, in, &released, &last, app, &spans);
	tf_buf_free(&spans);
}

ParameterizedTest(pair *v, streamuse, hide_usage_chunk, .timeout = 240)
{
	char nu[64], np[64];
	row ru, rp;
	size_t n0, p0, n, pn;
	uint8_t *u0, *p0b, *with, *plain;
	cfg c;
	tf_streamuse s;
	tf_buf app;
	tf_usage u, want;
	size_t *cuts;

	snprintf(nu, sizeof(nu), "%s-usage", v->name);
	snprintf(np, sizeof(np), "%s-plain", v->name);
	ru = need_row(nu);
	rp = need_row(np);
	u0 = load_fixture(&ru, &n0);
	p0b = load_fixture(&rp, &p0);
	with = variant(u0, n0, v, &n);
	plain = variant(p0b, p0, v, &pn);
	cr_assert_gt(n, pn);

	/* Whole, byte by byte, every split and guard pages say the same... */
	c = (cfg){ ru.op, TF_SU_HIDE_USAGE_CHUNK, 0, true };
	tf_test_splits(run, &c, with, n, NULL);

	/* ... and that is the plain stream, with the usage still read. */
	tf_buf_init(&app, 0);
	cr_assert_eq(tf_streamuse_init(&s, ru.op, 0, TF_SU_HIDE_USAGE_CHUNK), 0);
	hidden_view(with, n, NULL, 0, &app, &s);
	cr_assert_eq(app.len, pn, "app view %zu bytes, plain %zu", app.len, pn);
	cr_assert_eq(memcmp(app.data, plain, pn), 0, "app view differs from the plain stream");
	cr_assert(tf_streamuse_usage(&s, &u));
	want = bill_usage(&ru);
	cr_assert_eq(u.input, want.input);
	cr_assert_eq(u.output, want.output);
	cr_assert_eq(u.reasoning, want.reasoning);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_ENDED);
	tf_streamuse_free(&s);
	tf_buf_free(&app);

	/* Byte by byte explicitly against the plain bytes too. */
	cuts = calloc(n, sizeof(size_t));
	cr_assert(cuts);
	for (size_t k = 1; k < n; k++)
		cuts[k - 1] = k;
	tf_buf_init(&app, 0);
	cr_assert_eq(tf_streamuse_init(&s, ru.op, 0, TF_SU_HIDE_USAGE_CHUNK), 0);
	hidden_view(with, n, cuts, n - 1, &app, &s);
	cr_assert_eq(app.len, pn);
	cr_assert_eq(memcmp(app.data, plain, pn), 0);
	tf_streamuse_free(&s);
	tf_buf_free(&app);
	free(cuts);

	/* Without the flag nothing is dropped and nothing is held. */
	tf_buf_init(&app, 0);
	cr_assert_eq(tf_streamuse_init(&s, ru.op, 0, 0), 0);
	hidden_view(with, n, NULL, 0, &app, &s);
	cr_assert_eq(app.len, n);
	tf_streamuse_free(&s);
	tf_buf_free(&app);

	free(u0);
	free(p0b);
	free(with);
	free(plain);
}

/* Released as early as an SSE client could use it: each event as soon as
 * its blank line is in. */
Test(streamuse, hide_releases_each_event_at_its_blank_line)
{
	row r = need_row("azure-chat-usage");
	size_t n, events = 0;
	uint8_t *body = load_fixture(&r, &n);
	tf_streamuse s;

	cr_assert_eq(tf_streamuse_init(&s, r.op, 0, TF_SU_HIDE_USAGE_CHUNK), 0);
	for (size_t i = 0; i < n; i++) {
		tf_streamuse_feed(&s, body + i, 1);
		if (i > 0 && body[i] == '\n' && body[i - 1] == '\n') {
			events++;
			cr_assert_eq(tf_streamuse_safe_prefix(&s), i + 1);
			cr_assert_eq(tf_streamuse_boundary(&s), i + 1);
		} else {
			cr_assert_leq(tf_streamuse_safe_prefix(&s), i + 1);
		}
	}
	cr_assert_geq(events, 5);
	tf_streamuse_free(&s);
	free(body);
}

/* Hand-made chunks: where the member is, spaces, CRLF, usage next to content. */
static void expect_hidden(const char *in, const char *want)
{
	tf_streamuse s;
	tf_buf app;
	size_t n = strlen(in), *cuts = calloc(n + 1, sizeof(size_t));

	cr_assert(cuts);
	for (size_t k = 1; k < n; k++)
		cuts[k - 1] = k;
	for (int way = 0; way < 2; way++) {
		tf_buf_init(&app, 0);
		cr_assert_eq(tf_streamuse_init(&s, "ChatCompletions", 0, TF_SU_HIDE_USAGE_CHUNK), 0);
		hidden_view((const uint8_t *)in, n, cuts, way ? n - 1 : 0, &app, &s);
		cr_assert_eq(tf_buf_append(&app, "", 1), 0);
		cr_assert_str_eq((const char *)app.data, want, "in: %s", in);
		tf_streamuse_free(&s);
		tf_buf_free(&app);
	}
	free(cuts);
}

Test(streamuse, hide_member_positions)
{
	expect_hidden("data: {\"usage\":null,\"choices\":[]}\n\n", "data: {\"choices\":[]}\n\n");
	expect_hidden("data: {\"a\":1,\"usage\":null}\n\n", "data: {\"a\":1}\n\n");
	expect_hidden("data: {\"a\":1,\"usage\":null,\"b\":[1,{\"usage\":2}]}\n\n",
		      "data: {\"a\":1,\"b\":[1,{\"usage\":2}]}\n\n");
	expect_hidden("data: {\"a\":\"x\\\"usage\" , \"usage\" : null }\n\n",
		      "data: {\"a\":\"x\\\"usage\" }\n\n");
	expect_hidden("data:{ \"usage\" :null , \"b\":{}}\r\n\r\n", "data:{ \"b\":{}}\r\n\r\n");
	expect_hidden("data: {\"usage\":null}\n\n", "data: {}\n\n");
	/* No usage member: untouched; [DONE] and comments pass. */
	expect_hidden(": ping\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
		      "data: [DONE]\n\n",
		      ": ping\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
		      "data: [DONE]\n\n");
	/* Usage on a chunk that also has content: only the member goes. */
	expect_hidden("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":"
		      "{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
		      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
	/* The usage event, also spread over two data lines, with an id line. */
	expect_hidden("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\ndata: [DONE]\n\n",
		      "data: [DONE]\n\n");
	expect_hidden("id: 7\ndata: {\"choices\":[],\ndata: \"usage\":{\"prompt_tokens\":3}}\n\n"
		      "data: [DONE]\n\n",
		      "data: [DONE]\n\n");
	/* A multi-line event with usage:null is left whole. */
	expect_hidden("data: {\"a\":1,\ndata: \"usage\":null}\n\n",
		      "data: {\"a\":1,\ndata: \"usage\":null}\n\n");
	/* A lone CR as the blank line, then an LF that belongs to it. */
	expect_hidden("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\r\r\ndata: [DONE]\r\r",
		      "data: [DONE]\r\r");
	expect_hidden("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\r\rdata: [DONE]\r\r",
		      "data: [DONE]\r\r");
	/* A BOM stays with the stream; an event cut by the end passes. */
	expect_hidden("\xEF\xBB\xBF" "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\n"
		      "data: {\"choi",
		      "\xEF\xBB\xBF" "data: {\"choi");
	/* Not JSON: passes untouched. */
	expect_hidden("data: {\"usage\":\n\n", "data: {\"usage\":\n\n");
}

/* ---------------------------------------------------------------------- */
/* Bad input */

static void es_frame(tf_buf *out, const char *mtype, const char *etype, const char *payload)
{
	tf_es_header h[3] = {
		tf_es_string_header(":message-type", mtype),
		tf_es_string_header(strcmp(mtype, "exception") == 0 ? ":exception-type" : ":event-type",
				    etype),
		tf_es_string_header(":content-type", "application/json"),
	};

	cr_assert_eq(tf_es_encode(out, h, 3, payload, strlen(payload)), 0);
}

static void es_chunk(tf_buf *out, const char *native)
{
	tf_buf p;

	tf_buf_init(&p, 0);
	cr_assert_eq(tf_buf_append_str(&p, "{\"bytes\":\""), 0);
	cr_assert_eq(tf_base64_encode_buf(&p, native, strlen(native)), 0);
	cr_assert_eq(tf_buf_append_str(&p, "\",\"p\":\"abcdef\"}"), 0);
	cr_assert_eq(tf_buf_append(&p, "", 1), 0);
	es_frame(out, "event", "chunk", (const char *)p.data);
	tf_buf_free(&p);
}

Test(streamuse, corrupted_crc_anywhere)
{
	row r = need_row("bedrock-anthropic");
	size_t n;
	uint8_t *body = load_fixture(&r, &n);

	/* One bit flipped anywhere: never a crash, never a wrong usage. */
	for (size_t i = 0; i < n; i++) {
		tf_streamuse s;
		tf_usage u;

		body[i] ^= 0x10;
		feed_all(&s, r.op, 0, body, n);
		cr_assert_not_null(tf_streamuse_unreadable(&s), "flip at %zu", i);
		cr_assert_not(tf_streamuse_usage(&s, &u) && tf_streamuse_end(&s) != TF_SU_ENDED);
		cr_assert_eq(tf_streamuse_safe_prefix(&s), n);
		tf_streamuse_free(&s);
		body[i] ^= 0x10;
	}
	free(body);
}

Test(streamuse, truncated_frame)
{
	row r = need_row("converse");
	size_t n;
	uint8_t *body = load_fixture(&r, &n);

	for (size_t cut = 1; cut < n; cut++) {
		tf_streamuse s;
		tf_usage u;
		const char *why;

		feed_all(&s, r.op, 0, body, cut);
		why = tf_streamuse_unreadable(&s);
		/* Cut between frames: readable, just cut; inside one: unreadable. */
		if (tf_streamuse_boundary(&s) == cut)
			cr_assert_null(why, "cut at %zu", cut);
		else
			cr_assert_str_eq(why, "the stream ends inside a frame", "cut at %zu", cut);
		cr_assert_neq(tf_streamuse_end(&s), TF_SU_RUNNING);
		cr_assert(!tf_streamuse_usage(&s, &u) || tf_streamuse_end(&s) == TF_SU_ENDED);
		cr_assert_leq(tf_streamuse_boundary(&s), cut);
		tf_streamuse_free(&s);
	}
	free(body);
}

/* A prelude announcing a 1 GB frame, with a valid prelude CRC: refused from
 * its 12 bytes, nothing allocated for it. */
Test(streamuse, gigabyte_frame_length)
{
	uint8_t pre[12] = { 0x40, 0, 0, 0, 0, 0, 0, 0x20 };
	uint32_t crc = (uint32_t)crc32(0, pre, 8);
	tf_streamuse s;
	tf_buf ok;

	pre[8] = (uint8_t)(crc >> 24);
	pre[9] = (uint8_t)(crc >> 16);
	pre[10] = (uint8_t)(crc >> 8);
	pre[11] = (uint8_t)crc;
	tf_buf_init(&ok, 0);
	es_chunk(&ok, "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,"
		      "\"output_tokens\":1}}}");
	cr_assert_eq(tf_streamuse_init(&s, "InvokeModelWithResponseStream", 0, 0), 0);
	cr_assert_eq(tf_streamuse_feed(&s, ok.data, ok.len), 0);
	cr_assert_eq(tf_streamuse_feed(&s, pre, sizeof(pre)), TF_SU_UNREADABLE);
	cr_assert_str_eq(tf_streamuse_unreadable(&s), "event-stream frame over the cap");
	cr_assert_leq(s.es.buf.alloc, 4096);
	/* The rest passes through, counted, not parsed. */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(tf_streamuse_feed(&s, ok.data, ok.len), TF_SU_UNREADABLE);
	cr_assert_eq(tf_streamuse_fed(&s), ok.len * 1001 + 12);
	cr_assert_eq(tf_streamuse_safe_prefix(&s), tf_streamuse_fed(&s));
	cr_assert_eq(tf_streamuse_boundary(&s), ok.len);
	tf_streamuse_finish(&s);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT);
	/* Cut streams are charged at least the input seen. */
	{
		tf_usage u;

		cr_assert(tf_streamuse_usage_so_far(&s, &u));
		cr_assert_eq(u.input, 5);
	}
	tf_streamuse_free(&s);
	tf_buf_free(&ok);
}

/* 2 MiB without a line end, with and without the hide flag. */
Test(streamuse, sse_line_without_end)
{
	static uint8_t junk[4096];

	memset(junk, 'a', sizeof(junk));
	for (unsigned flags = 0; flags <= TF_SU_HIDE_USAGE_CHUNK; flags += TF_SU_HIDE_USAGE_CHUNK) {
		tf_streamuse s;
		int r = 0;

		cr_assert_eq(tf_streamuse_init(&s, "ChatCompletions", 0, flags), 0);
		cr_assert_eq(tf_streamuse_feed(&s, "data: {\"x\":1}\n\ndata: ", 21), 0);
		for (int i = 0; i < 512; i++)
			r = tf_streamuse_feed(&s, junk, sizeof(junk));
		cr_assert_eq(r, TF_SU_UNREADABLE);
		cr_assert_str_eq(tf_streamuse_unreadable(&s), "SSE event or line over the cap");
		cr_assert_eq(tf_streamuse_safe_prefix(&s), tf_streamuse_fed(&s));
		cr_assert_eq(tf_streamuse_boundary(&s), 15);
		cr_assert_leq(s.block.alloc, TF_SU_MAX_EVENT);
		cr_assert_leq(s.sse.line.alloc, TF_SU_MAX_EVENT);
		tf_streamuse_finish(&s);
		tf_streamuse_free(&s);
	}
}

/*
 * The chunk wrapper in every shape: the usual {"bytes":"...","p":"..."} is
 * read without the JSON parsers, the others with them; both must agree on
 * what is a good chunk. The native event ("???" is base64 "Pz8/") counts 3
 * text bytes when good.
 */
Test(streamuse, chunk_wrappers_fast_and_parsed_agree)
{
#define NATIVE "eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImRlbHRhIjp7InRleHQiOiI/Pz8ifX0="
	static const struct {
		const char *payload;
		bool good;
	} v[] = {
		{ "{\"bytes\":\"" NATIVE "\"}", true },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"abcdef\"}", true },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"\"}", true },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"\xc3\xa9\"}", true },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"a\\\"b\"}", true },
		{ "{ \"bytes\" : \"" NATIVE "\" }", true },
		{ "{\"p\":\"x\",\"bytes\":\"" NATIVE "\"}", true },
		{ "{\"bytes\":\"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImRlbHRhIjp7InRleHQiOiI\\/Pz8ifX0=\"}",
		  true },
		{ "{\"bytes\":\"" NATIVE "\"", false },
		{ "{\"bytes\":\"" NATIVE "\"}}", false },
		{ "{\"bytes\":\"" NATIVE "\"}x", false },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"a\x01\"}", false },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":\"a}", false },
		{ "{\"bytes\":\"" NATIVE "\",\"p\":1}", true },
		{ "{\"bytes\":\"" NATIVE "\",\"q\":\"a\"}", true },
		{ "{\"bytes\":\"" NATIVE "\x01\"}", false },
		{ "{\"bytes\":\"" NATIVE "\xff\"}", false },
		{ "{\"bytes\":\"\"}", false },
		{ "{\"bytes\":\"", false },
	};
#undef NATIVE

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		tf_buf b;
		tf_streamuse s;

		tf_buf_init(&b, 0);
		es_frame(&b, "event", "chunk", v[i].payload);
		feed_all(&s, "InvokeModelWithResponseStream", 0, b.data, b.len);
		cr_assert_null(tf_streamuse_unreadable(&s), "%zu", i);
		cr_assert_eq(s.bad_events, v[i].good ? 0 : 1, "%zu: %s", i, v[i].payload);
		if (v[i].good)
			cr_assert_eq(s.est_bytes, 3, "%zu", i);
		tf_streamuse_free(&s);
		tf_buf_free(&b);
	}
}

/* Malformed pieces inside good frames: not fatal, counted in the estimate. */
Test(streamuse, bad_payloads_are_counted_not_fatal)
{
	tf_buf b;
	tf_streamuse s;

	tf_buf_init(&b, 0);
	es_frame(&b, "event", "chunk", "{\"bytes\":\"!!!\"}");
	es_frame(&b, "event", "chunk", "not json");
	es_chunk(&b, "[1,2]");
	feed_all(&s, "InvokeModelWithResponseStream", 0, b.data, b.len);
	cr_assert_null(tf_streamuse_unreadable(&s));
	cr_assert_eq(s.bad_events, 3);
	cr_assert_geq(tf_streamuse_output_estimate(&s), 15 + 8);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT);
	tf_streamuse_free(&s);
	tf_buf_free(&b);
}

/* ---------------------------------------------------------------------- */
/* Exceptions and error events */

static uint8_t *unhex(const char *h, size_t *n)
{
	uint8_t *p = malloc(strlen(h) / 2 + 1);
	size_t k = 0;

	cr_assert(p);
	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		cr_assert_eq(sscanf(h, "%2x", &v), 1);
		p[k++] = (uint8_t)v;
	}
	*n = k;
	return p;
}

/* WIRE.md §1.6, a throttlingException frame botocore decodes. */
static const char wire_throttle[] =
	"000000b0000000614f5086b30f3a657863657074696f6e2d74797065070013"
	"7468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d7479"
	"70650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d"
	"74797065070009657863657074696f6e7b226d657373616765223a22546f6f"
	"206d616e7920746f6b656e732c20706c656173652077616974206265666f72"
	"6520747279696e6720616761696e2e227df70ae57f";

Test(streamuse, exception_frame_after_chunks)
{
	row r = need_row("bedrock-anthropic");
	size_t n, fn;
	uint8_t *body = load_fixture(&r, &n), *frame = unhex(wire_throttle, &fn);
	tf_buf b;
	tf_streamuse s;
	tf_usage u;
	uint64_t half;

	/* The first frames of a real stream, then the exception. */
	cr_assert_eq(tf_streamuse_init(&s, r.op, 0, 0), 0);
	tf_streamuse_feed(&s, body, n / 2);
	half = tf_streamuse_boundary(&s);
	tf_streamuse_free(&s);
	tf_buf_init(&b, 0);
	cr_assert_eq(tf_buf_append(&b, body, (size_t)half), 0);
	cr_assert_eq(tf_buf_append(&b, frame, fn), 0);
	cfg c = { r.op, 0, 0, true };
	tf_test_splits(run, &c, b.data, b.len, NULL);
	feed_all(&s, r.op, 0, b.data, b.len);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
	cr_assert_str_eq(tf_streamuse_error_type(&s), "throttlingException");
	cr_assert_str_eq(tf_streamuse_error_message(&s),
			 "Too many tokens, please wait before trying again.");
	cr_assert_null(tf_streamuse_unreadable(&s));
	cr_assert_not(tf_streamuse_usage(&s, &u));
	cr_assert(tf_streamuse_usage_so_far(&s, &u));
	cr_assert_eq(u.input, r.in);
	cr_assert_gt(u.output, 0);
	cr_assert_eq(tf_streamuse_boundary(&s), b.len);
	tf_streamuse_free(&s);
	tf_buf_free(&b);
	free(frame);
	free(body);
}

Test(streamuse, error_frames_and_events)
{
	tf_es_header h[3] = {
		tf_es_string_header(":message-type", "error"),
		tf_es_string_header(":error-code", "InternalFailure"),
		tf_es_string_header(":error-message", "bad\nthing"),
	};
	tf_buf b;
	tf_streamuse s;

	tf_buf_init(&b, 0);
	cr_assert_eq(tf_es_encode(&b, h, 3, "", 0), 0);
	feed_all(&s, "ConverseStream", 0, b.data, b.len);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
	cr_assert_str_eq(tf_streamuse_error_type(&s), "InternalFailure");
	cr_assert_str_eq(tf_streamuse_error_message(&s), "bad?thing");
	tf_streamuse_free(&s);

	/* Anthropic's own error event inside a chunk. */
	tf_buf_reset(&b);
	es_chunk(&b, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
	feed_all(&s, "InvokeModelWithResponseStream", 0, b.data, b.len);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
	cr_assert_str_eq(tf_streamuse_error_type(&s), "overloaded_error");
	cr_assert_str_eq(tf_streamuse_error_message(&s), "Overloaded");
	tf_streamuse_free(&s);

	/* A ConverseStream exception with no JSON payload: the raw text. */
	tf_buf_reset(&b);
	es_frame(&b, "exception", "validationException", "plain words");
	feed_all(&s, "ConverseStream", 0, b.data, b.len);
	cr_assert_str_eq(tf_streamuse_error_type(&s), "validationException");
	cr_assert_str_eq(tf_streamuse_error_message(&s), "plain words");
	tf_streamuse_free(&s);
	tf_buf_free(&b);

	/* Azure chat error event. */
	{
		const char *in = "data: {\"choices\":[{\"delta\":{\"content\":\"abc\"}}],\"model\":\"m\"}\n\n"
				 "data: {\"error\":{\"message\":\"The server had an error\",\"type\":"
				 "\"server_error\",\"code\":null}}\n\n";

		feed_all(&s, "ChatCompletions", 0, in, strlen(in));
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
		cr_assert_str_eq(tf_streamuse_error_type(&s), "server_error");
		cr_assert_str_eq(tf_streamuse_error_message(&s), "The server had an error");
		cr_assert_eq(tf_streamuse_output_estimate(&s), 3);
		cr_assert_str_eq(tf_streamuse_model(&s), "m");
		tf_streamuse_free(&s);
	}
	/* Responses: error event, response.failed with usage. */
	{
		const char *in = "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\","
				 "\"message\":\"slow down\",\"param\":null,\"sequence_number\":4}\n\n";

		feed_all(&s, "Responses", 0, in, strlen(in));
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
		cr_assert_str_eq(tf_streamuse_error_type(&s), "rate_limit_exceeded");
		cr_assert_str_eq(tf_streamuse_error_message(&s), "slow down");
		cr_assert_eq(s.seq, 4);
		tf_streamuse_free(&s);
	}
	{
		const char *in = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":"
				 "{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":"
				 "\"oops\"},\"usage\":{\"input_tokens\":7,\"output_tokens\":2,"
				 "\"output_tokens_details\":{\"reasoning_tokens\":1}}}}\n\n";
		tf_usage u;

		feed_all(&s, "OpenAIResponses", 0, in, strlen(in));
		cr_assert_eq(tf_streamuse_end(&s), TF_SU_FAILED);
		cr_assert_str_eq(tf_streamuse_error_type(&s), "server_error");
		cr_assert(tf_streamuse_usage(&s, &u));
		cr_assert_eq(u.input, 7);
		cr_assert_eq(u.output, 1);
		cr_assert_eq(u.reasoning, 1);
		tf_streamuse_free(&s);
	}
}

/* ---------------------------------------------------------------------- */
/* Families and fields beyond what the emulator sends */

Test(streamuse, anthropic_without_metrics_and_cache)
{
	tf_buf b;
	tf_streamuse s;
	tf_usage u;

	tf_buf_init(&b, 0);
	es_chunk(&b, "{\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":"
		      "{\"input_tokens\":10,\"cache_read_input_tokens\":100,"
		      "\"cache_creation_input_tokens\":20,\"output_tokens\":1}}}");
	es_chunk(&b, "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
		      "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get\",\"input\":{}}}");
	es_chunk(&b, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
		      "\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}");
	es_chunk(&b, "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
		      "\"thinking_delta\",\"thinking\":\"hmm\"}}");
	es_chunk(&b, "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
		      "\"signature_delta\",\"signature\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}");
	cr_assert_eq(tf_streamuse_init(&s, "InvokeModelWithResponseStream", 0, 0), 0);
	tf_streamuse_feed(&s, b.data, b.len);
	/* "get" + {"a":1} + "hmm", not the id, types or signature. */
	cr_assert_eq(tf_streamuse_output_estimate(&s), 3 + 7 + 3);
	tf_buf_reset(&b);
	es_chunk(&b, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
		      "\"usage\":{\"output_tokens\":42}}");
	tf_streamuse_feed(&s, b.data, b.len);
	cr_assert_eq(tf_streamuse_output_estimate(&s), 42);
	cr_assert_not(tf_streamuse_usage(&s, &u));
	tf_buf_reset(&b);
	es_chunk(&b, "{\"type\":\"message_stop\"}");
	tf_streamuse_feed(&s, b.data, b.len);
	tf_streamuse_finish(&s);
	cr_assert(tf_streamuse_usage(&s, &u));
	cr_assert_eq(u.input, 10);
	cr_assert_eq(u.cache_read, 100);
	cr_assert_eq(u.cache_write, 20);
	cr_assert_eq(u.output, 42);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_ENDED);
	cr_assert_str_eq(tf_streamuse_model(&s), "claude-x");
	tf_streamuse_free(&s);
	tf_buf_free(&b);
}

Test(streamuse, metrics_with_cache)
{
	tf_buf b;
	tf_streamuse s;
	tf_usage u;

	tf_buf_init(&b, 0);
	es_chunk(&b, "{\"outputText\":\"hi\",\"index\":0,\"completionReason\":\"FINISH\","
		      "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":3,\"outputTokenCount\":"
		      "2,\"cacheReadInputTokenCount\":50,\"cacheWriteInputTokenCount\":60,"
		      "\"invocationLatency\":1,\"firstByteLatency\":1}}");
	feed_all(&s, "InvokeModelWithResponseStream", 0, b.data, b.len);
	cr_assert(tf_streamuse_usage(&s, &u));
	cr_assert_eq(u.input, 3);
	cr_assert_eq(u.output, 2);
	cr_assert_eq(u.cache_read, 50);
	cr_assert_eq(u.cache_write, 60);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_ENDED);
	tf_streamuse_free(&s);
	tf_buf_free(&b);
}

Test(streamuse, chat_tool_calls_and_refusals_count)
{
	const char *in =
		"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,"
		"\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
		"\"{\\\"x\\\"\"}}]}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"refusal\":\"no\"}}],\"obfuscation\":\"zzzz\"}\n\n"
		"data: {\"choices\":[{\"text\":\"\xC3\xA9t\xC3\xA9\"}]}\n\n";
	tf_streamuse s;

	feed_all(&s, "ChatCompletions", 0, in, strlen(in));
	/* f + {"x" + no + été (5 bytes), not ids, roles, types or padding */
	cr_assert_eq(tf_streamuse_output_estimate(&s), 1 + 4 + 2 + 5, "%" PRIu64,
		     tf_streamuse_output_estimate(&s));
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_CUT);
	tf_streamuse_free(&s);
}

/* ---------------------------------------------------------------------- */
/* Boundaries: the end of the last whole frame, for every prefix. */

Test(streamuse, boundary_is_last_whole_frame)
{
	row r = need_row("bedrock-nova");
	size_t n;
	uint8_t *body = load_fixture(&r, &n);
	tf_streamuse s;
	size_t frame_end = 0;

	cr_assert_eq(tf_streamuse_init(&s, r.op, 0, 0), 0);
	for (size_t i = 0; i < n; i++) {
		tf_streamuse_feed(&s, body + i, 1);
		if (i + 1 == frame_end + ((size_t)body[frame_end] << 24 | (size_t)body[frame_end + 1] << 16 |
					  (size_t)body[frame_end + 2] << 8 | body[frame_end + 3]))
			frame_end = i + 1;
		cr_assert_eq(tf_streamuse_boundary(&s), frame_end, "at %zu", i);
		cr_assert_eq(tf_streamuse_safe_prefix(&s), i + 1);
	}
	tf_streamuse_free(&s);
	free(body);
}

/* ---------------------------------------------------------------------- */
/* Terminators */

Test(streamuse, bedrock_terminator)
{
	static const char *const ops[] = { "InvokeModelWithResponseStream", "ConverseStream" };

	for (size_t k = 0; k < 2; k++) {
		tf_streamuse s, t;
		tf_buf out;
		tf_es_message m;
		tf_es_header h;
		tf_json_doc doc = { 0 };
		const char *v;
		size_t vn;

		cr_assert_eq(tf_streamuse_init(&s, ops[k], 0, 0), 0);
		tf_buf_init(&out, 0);
		cr_assert_eq(tf_streamuse_terminator(&s, NULL, "budget \"daily\" exceeded\n", &out), 0);
		cr_assert_eq(tf_es_parse(out.data, out.len, 0, &m), 0);
		cr_assert(tf_es_find_string(&m, ":message-type", &v, &vn));
		cr_assert_eq(vn, 9);
		cr_assert_eq(memcmp(v, "exception", 9), 0);
		cr_assert(tf_es_find_string(&m, ":exception-type", &v, &vn));
		cr_assert_eq(memcmp(v, "modelStreamErrorException", vn), 0);
		cr_assert(tf_es_find(&m, ":content-type", &h));
		cr_assert_eq(tf_json_parse(&doc, (const char *)m.payload, m.payload_len, NULL, NULL), 0);
		cr_assert_str_eq(tf_json_get(doc.root, "message")->u.str.s,
				 "TokenFence: budget \"daily\" exceeded\n");
		cr_assert_str_eq(tf_json_get(doc.root, "originalStatusCode")->u.num.text, "402");
		tf_json_doc_free(&doc);
		/* The stream reader sees the failure it is meant to. */
		feed_all(&t, ops[k], 0, out.data, out.len);
		cr_assert_eq(tf_streamuse_end(&t), TF_SU_FAILED);
		cr_assert_str_eq(tf_streamuse_error_type(&t), "modelStreamErrorException");
		cr_assert_str_eq(tf_streamuse_error_message(&t),
				 "TokenFence: budget \"daily\" exceeded?");
		tf_streamuse_free(&t);
		tf_streamuse_free(&s);
		tf_buf_free(&out);
	}
}

Test(streamuse, sse_terminators)
{
	row r = need_row("azure-responses");
	size_t n;
	uint8_t *body = load_fixture(&r, &n);
	tf_streamuse s, t;
	tf_buf out;

	tf_buf_init(&out, 0);
	cr_assert_eq(tf_streamuse_init(&s, "ChatCompletions", 0, TF_SU_HIDE_USAGE_CHUNK), 0);
	cr_assert_eq(tf_streamuse_terminator(&s, NULL, "budget exceeded", &out), 0);
	cr_assert_eq(tf_buf_append(&out, "", 1), 0);
	cr_assert_str_eq((const char *)out.data,
			 "data: {\"error\":{\"message\":\"TokenFence: budget exceeded\",\"type\":"
			 "\"tokenfence\",\"code\":\"budget_exceeded\",\"param\":null}}\n\n");
	feed_all(&t, "ChatCompletions", 0, out.data, out.len - 1);
	cr_assert_eq(tf_streamuse_end(&t), TF_SU_FAILED);
	cr_assert_str_eq(tf_streamuse_error_type(&t), "budget_exceeded");
	cr_assert_str_eq(tf_streamuse_error_message(&t), "TokenFence: budget exceeded");
	tf_streamuse_free(&t);
	tf_streamuse_free(&s);

	/* Responses: the next sequence number after the stream so far. */
	tf_buf_reset(&out);
	cr_assert_eq(tf_streamuse_init(&s, "Responses", 0, 0), 0);
	tf_streamuse_feed(&s, body, n);
	cr_assert_eq(tf_streamuse_terminator(&s, "kill_switch", "kill switch", &out), 0);
	cr_assert_eq(tf_buf_append(&out, "", 1), 0);
	{
		char want[512];

		snprintf(want, sizeof(want),
			 "event: error\ndata: {\"type\":\"error\",\"code\":\"kill_switch\",\"message\":"
			 "\"TokenFence: kill switch\",\"param\":null,\"sequence_number\":%" PRId64
			 ",\"error\":{\"message\":\"TokenFence: kill switch\",\"type\":\"tokenfence\","
			 "\"code\":\"kill_switch\",\"param\":null}}\n\n",
			 s.seq + 1);
		cr_assert_gt(s.seq, 5);
		cr_assert_str_eq((const char *)out.data, want);
	}
	feed_all(&t, "Responses", 0, out.data, out.len - 1);
	cr_assert_eq(tf_streamuse_end(&t), TF_SU_FAILED);
	cr_assert_str_eq(tf_streamuse_error_type(&t), "kill_switch");
	tf_streamuse_free(&t);
	tf_streamuse_free(&s);

	/* Unknown format: nothing written. */
	tf_buf_reset(&out);
	cr_assert_eq(tf_streamuse_init(&s, "InvokeModel", 0, 0), -EINVAL);
	cr_assert_eq(tf_streamuse_terminator(&s, NULL, "x", &out), -EINVAL);
	cr_assert_eq(out.len, 0);
	tf_streamuse_free(&s);
	tf_buf_free(&out);
	free(body);
}

/* ---------------------------------------------------------------------- */
/* Set-up */

Test(streamuse, formats_and_init)
{
	tf_streamuse s;

	cr_assert_eq(tf_streamuse_format("InvokeModelWithResponseStream"), TF_SU_BEDROCK_INVOKE);
	cr_assert_eq(tf_streamuse_format("ConverseStream"), TF_SU_BEDROCK_CONVERSE);
	cr_assert_eq(tf_streamuse_format("ChatCompletions"), TF_SU_OPENAI_CHAT);
	cr_assert_eq(tf_streamuse_format("Completions"), TF_SU_OPENAI_CHAT);
	cr_assert_eq(tf_streamuse_format("OpenAIChatCompletions"), TF_SU_OPENAI_CHAT);
	cr_assert_eq(tf_streamuse_format("Responses"), TF_SU_OPENAI_RESPONSES);
	cr_assert_eq(tf_streamuse_format("OpenAIResponses"), TF_SU_OPENAI_RESPONSES);
	cr_assert_eq(tf_streamuse_format("InvokeModel"), TF_SU_UNKNOWN);
	cr_assert_eq(tf_streamuse_format(NULL), TF_SU_UNKNOWN);

	cr_assert_eq(tf_streamuse_init(&s, "Converse", 0, 0), -EINVAL);
	/* Still safe: counts bytes, releases everything, reads nothing. */
	cr_assert_eq(tf_streamuse_feed(&s, "abc", 3), 0);
	cr_assert_eq(tf_streamuse_safe_prefix(&s), 3);
	tf_streamuse_free(&s);
	cr_assert_eq(tf_streamuse_init(&s, "Responses", 0, TF_SU_HIDE_USAGE_CHUNK), -EINVAL);
	tf_streamuse_free(&s);
	cr_assert_eq(tf_streamuse_init(&s, "ConverseStream", 0, TF_SU_HIDE_USAGE_CHUNK), -EINVAL);
	tf_streamuse_free(&s);
	cr_assert_eq(tf_streamuse_init(&s, "ChatCompletions", 0, 8), -EINVAL);
	tf_streamuse_free(&s);
	/* Finished: further feeds are ignored. */
	cr_assert_eq(tf_streamuse_init(&s, "ChatCompletions", 0, 0), 0);
	tf_streamuse_feed(&s, "data: [DONE]\n\n", 14);
	tf_streamuse_finish(&s);
	tf_streamuse_feed(&s, "data: {\"choices\":[{\"text\":\"x\"}]}\n\n", 35);
	cr_assert_eq(tf_streamuse_fed(&s), 14);
	cr_assert_eq(tf_streamuse_output_estimate(&s), 0);
	cr_assert_eq(tf_streamuse_end(&s), TF_SU_ENDED);
	tf_streamuse_free(&s);
}
