#include "http1.h"
#include "ascii.h"

#include <errno.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------------- */
/* Character classes (RFC 9110 §5.6.2, §5.5) */

static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	/* A switch, not strchr: '-' is in most field names. */
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	default:
		return false;
	}
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB, obs-text included: anything but controls. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Where the next byte that matters to the head scanner inside a line is: a
 * control character (CR, LF, a bad byte, or HTAB) or DEL, from i on; lim
 * when there is none. 16 bytes at a time where SSE2 is (all x86-64).
 */
static size_t skip_line_bytes(const uint8_t *p, size_t i, size_t lim)
{
#if defined(__SSE2__)
	const __m128i ctl = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

	for (; i + 16 <= lim; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i m = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v), _mm_cmpeq_epi8(v, del));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits)
			return i + (size_t)__builtin_ctz(bits);
	}
#endif
	while (i < lim && p[i] >= 0x20 && p[i] != 0x7f)
		i++;
	return i;
}

bool tf_h1_token_eq(const char *p, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lit[i] == '\0' || tf_ascii_lower((unsigned char)p[i]) != tf_ascii_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[n] == '\0';
}

/* p[0..n) equals lit[0..n), ignoring ASCII case (lit: n bytes or more). */
static bool caseeq_n(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tf_ascii_lower((unsigned char)p[i]) != tf_ascii_lower((unsigned char)lit[i]))
			return false;
	return true;
}

const tf_h1_header *tf_h1_find(const tf_h1_head *h, const char *name)
{
	size_t n = strlen(name);

	/* Lengths first: most fields differ there. */
	for (size_t i = 0; i < h->num_headers; i++) {
		if (h->headers[i].name_len == n && caseeq_n(h->headers[i].name, name, n))
			return &h->headers[i];
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Header block parsing */

typedef struct span {
	const char *p;
	size_t n;
} span;

/*
 * The next line at buf[*pos..len): its content without the line end, and
 * *pos moved past the LF. A CR left inside the content is a bare CR, which
 * the callers reject as a control character. Lines are searched only up to
 * limit, the end of the capped block.
 */
static int next_line(const char *buf, size_t len, size_t limit, size_t *pos, span *line)
{
	size_t end = len < limit ? len : limit;
	const char *lf;

	if (*pos >= end)
		return len >= limit ? TF_H1_ETOOBIG : TF_H1_INCOMPLETE;
	lf = memchr(buf + *pos, '\n', end - *pos);
	if (!lf)
		return len >= limit ? TF_H1_ETOOBIG : TF_H1_INCOMPLETE;
	line->p = buf + *pos;
	line->n = (size_t)(lf - line->p);
	if (line->n > 0 && line->p[line->n - 1] == '\r')
		line->n--;
	*pos = (size_t)(lf - buf) + 1;
	return 0;
}

/* "HTTP/1.x": HTTP/1.2..1.9 are processed as 1.1 (RFC 9110 §2.5). */
static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
		return TF_H1_EMALFORMED;
	*minor = p[7] == '0' ? 0 : 1;
	return 0;
}

static int parse_request_line(span l, tf_h1_head *out)
{
	size_t i = 0, start;

	while (i < l.n && is_tchar((unsigned char)l.p[i]))
		i++;
	if (i == 0 || i >= l.n || l.p[i] != ' ')
		return TF_H1_EMALFORMED;
	out->method = l.p;
	out->method_len = i;
	start = ++i;
	while (i < l.n && (unsigned char)l.p[i] > 0x20 && l.p[i] != 0x7f)
		i++;
	if (i == start || i >= l.n || l.p[i] != ' ')
		return TF_H1_EMALFORMED;
	out->target = l.p + start;
	out->target_len = i - start;
	i++;
	return parse_version(l.p + i, l.n - i, &out->minor_version);
}

static int parse_status_line(span l, tf_h1_head *out)
{
	size_t i;
	int r;

	if (l.n < 12 || l.p[8] != ' ')
		return TF_H1_EMALFORMED;
	r = parse_version(l.p, 8, &out->minor_version);
	if (r < 0)
		return r;
	out->status = 0;
	for (i = 9; i < 12; i++) {
		if (l.p[i] < '0' || l.p[i] > '9')
			return TF_H1_EMALFORMED;
		out->status = out->status * 10 + (l.p[i] - '0');
	}
	if (out->status < 100)
		return TF_H1_EMALFORMED;
	/* The SP before an empty reason is often left out; accept both. */
	if (l.n > 12 && l.p[12] != ' ')
		return TF_H1_EMALFORMED;
	out->reason = l.p + (l.n > 12 ? 13 : 12);
	out->reason_len = l.n > 12 ? l.n - 13 : 0;
	for (i = 0; i < out->reason_len; i++) {
		if (!is_value_char((unsigned char)out->reason[i]))
			return TF_H1_EMALFORMED;
	}
	return 0;
}

static int parse_field_line(span l, tf_h1_header *h)
{
	size_t i = 0, vs, ve;

	while (i < l.n && is_tchar((unsigned char)l.p[i]))
		i++;
	/* Also rejects whitespace before the colon (RFC 9112 §5.1) and obs-fold. */
	if (i == 0 || i >= l.n || l.p[i] != ':')
		return TF_H1_EMALFORMED;
	h->name = l.p;
	h->name_len = i;
	vs = i + 1;
	for (i = vs; i < l.n; i++) {
		i = skip_line_bytes((const uint8_t *)l.p, i, l.n);
		if (i < l.n && !is_value_char((unsigned char)l.p[i]))
			return TF_H1_EMALFORMED;
	}
	ve = l.n;
	while (vs < ve && is_ows((unsigned char)l.p[vs]))
		vs++;
	while (ve > vs && is_ows((unsigned char)l.p[ve - 1]))
		ve--;
	h->value = l.p + vs;
	h->value_len = ve - vs;
	return 0;
}

/*
 * Calls fn for each non-empty element of a comma-separated list value
 * (RFC 9110 §5.6.1: empty elements are ignored), OWS trimmed.
 */
typedef int (*list_fn)(void *ctx, span elem);

static int for_each_element(span v, list_fn fn, void *ctx)
{
	size_t i = 0, s, e;
	int r;

	while (i <= v.n) {
		s = i;
		while (i < v.n && v.p[i] != ',')
			i++;
		e = i;
		while (s < e && is_ows((unsigned char)v.p[s]))
			s++;
		while (e > s && is_ows((unsigned char)v.p[e - 1]))
			e--;
		if (e > s) {
			r = fn(ctx, (span){ v.p + s, e - s });
			if (r < 0)
				return r;
		}
		i++;
	}
	return 0;
}

typedef struct framing {
	bool has_cl;
	int cl_values;
	int64_t cl;
	int te_codings;   /* codings seen across all Transfer-Encoding fields */
	int te_chunked;   /* how many of them are chunked */
	bool te_last_chunked;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
} framing;

static int cl_element(void *ctx, span e)
{
	framing *fr = ctx;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < e.n; i++) {
		unsigned d;

		if (e.p[i] < '0' || e.p[i] > '9')
			return TF_H1_EMALFORMED;
		d = (unsigned)(e.p[i] - '0');
		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return TF_H1_ETOOBIG;
		v = v * 10 + d;
	}
	if (fr->has_cl && (uint64_t)fr->cl != v)
		return TF_H1_EMALFORMED;
	fr->has_cl = true;
	fr->cl_values++;
	fr->cl = (int64_t)v;
	return 0;
}

static size_t token_prefix(span e)
{
	size_t i = 0;

	while (i < e.n && is_tchar((unsigned char)e.p[i]))
		i++;
	return i;
}

static int te_element(void *ctx, span e)
{
	framing *fr = ctx;
	size_t n = token_prefix(e);

	if (n == 0)
		return TF_H1_EMALFORMED;
	fr->te_codings++;
	fr->te_last_chunked = tf_h1_token_eq(e.p, n, "chunked");
	if (fr->te_last_chunked)
		fr->te_chunked++;
	return 0;
}

static int conn_element(void *ctx, span e)
{
	framing *fr = ctx;

	if (tf_h1_token_eq(e.p, e.n, "close"))
		fr->conn_close = true;
	else if (tf_h1_token_eq(e.p, e.n, "keep-alive"))
		fr->conn_keep_alive = true;
	return 0;
}

static int expect_element(void *ctx, span e)
{
	framing *fr = ctx;

	if (tf_h1_token_eq(e.p, e.n, "100-continue"))
		fr->expect_continue = true;
	return 0;
}

static int derive_framing(tf_h1_kind kind, tf_h1_head *out)
{
	framing fr = { 0 };
	size_t i;
	int r = 0;

	for (i = 0; i < out->num_headers && r == 0; i++) {
		const tf_h1_header *h = &out->headers[i];
		span v = { h->value, h->value_len };

		/* By length first: most fields are none of these four. */
		if (h->name_len == 14 && caseeq_n(h->name, "content-length", 14)) {
			int before = fr.cl_values;

			r = for_each_element(v, cl_element, &fr);
			if (r == 0 && fr.cl_values == before)
				return TF_H1_EMALFORMED;
		} else if (h->name_len == 17 && caseeq_n(h->name, "transfer-encoding", 17)) {
			int before = fr.te_codings;

			r = for_each_element(v, te_element, &fr);
			if (r == 0 && fr.te_codings == before)
				return TF_H1_EMALFORMED;
		} else if (h->name_len == 10 && caseeq_n(h->name, "connection", 10)) {
			r = for_each_element(v, conn_element, &fr);
		} else if (h->name_len == 6 && caseeq_n(h->name, "expect", 6)) {
			r = for_each_element(v, expect_element, &fr);
		}
	}
	if (r < 0)
		return r;

	out->content_length = fr.has_cl ? fr.cl : -1;
	out->chunked = false;
	if (fr.te_codings > 0) {
		/* RFC 9112 §6.1, §6.3: the shapes that make framing ambiguous. */
		if (out->minor_version == 0 || fr.te_chunked > 1)
			return TF_H1_EMALFORMED;
		if (kind == TF_H1_REQUEST && (fr.has_cl || !fr.te_last_chunked))
			return TF_H1_EMALFORMED;
		out->chunked = fr.te_last_chunked;
		out->content_length = -1;
	}
	out->conn_close = fr.conn_close || (out->minor_version == 0 && !fr.conn_keep_alive);
	out->expect_continue = kind == TF_H1_REQUEST && fr.expect_continue;
	return 0;
}

int tf_h1_parse_head(const char *buf, size_t len, tf_h1_kind kind, tf_h1_head *out)
{
	size_t pos = 0, start, limit;
	span line;
	int r;

	/* Empty lines before the start line (RFC 9112 §2.2). */
	for (;;) {
		if (pos < len && buf[pos] == '\n') {
			pos++;
		} else if (pos < len && buf[pos] == '\r') {
			if (pos + 1 >= len)
				return TF_H1_INCOMPLETE;
			if (buf[pos + 1] != '\n')
				return TF_H1_EMALFORMED;
			pos += 2;
		} else {
			break;
		}
	}
	start = pos;
	limit = start + TF_H1_HEAD_CAP;

	memset(out, 0, offsetof(tf_h1_head, headers));
	out->num_headers = 0;
	r = next_line(buf, len, limit, &pos, &line);
	if (r < 0)
		return r;
	r = kind == TF_H1_REQUEST ? parse_request_line(line, out) : parse_status_line(line, out);
	if (r < 0)
		return r;
	for (;;) {
		r = next_line(buf, len, limit, &pos, &line);
		if (r < 0)
			return r;
		if (line.n == 0)
			break;
		if (out->num_headers == TF_H1_MAX_HEADERS)
			return TF_H1_ETOOBIG;
		r = parse_field_line(line, &out->headers[out->num_headers]);
		if (r < 0)
			return r;
		out->num_headers++;
	}
	r = derive_framing(kind, out);
	if (r < 0)
		return r;
	out->head_len = pos;
	return (int)pos;
}

static const char *moved(const char *p, const char *from, const char *to)
{
	return p ? to + (p - from) : NULL;
}

void tf_h1_head_move(tf_h1_head *h, const char *from, const char *to)
{
	h->method = moved(h->method, from, to);
	h->target = moved(h->target, from, to);
	h->reason = moved(h->reason, from, to);
	for (size_t i = 0; i < h->num_headers; i++) {
		h->headers[i].name = moved(h->headers[i].name, from, to);
		h->headers[i].value = moved(h->headers[i].value, from, to);
	}
}

/* ---------------------------------------------------------------------- */
/* Framer */

enum {
	S_IDLE,
	S_HEAD,
	S_BODY_CL,
	S_BODY_CLOSE,
	S_CHUNK_SIZE,
	S_CHUNK_DATA,
	S_CHUNK_DATA_END,
	S_TRAILER,
	S_UPGRADED,
	S_FAILED,
};

/* Head scanner (sub) states: finds the empty line that ends the block. */
enum { H_LINE_START, H_LINE, H_CR, H_EMPTY_CR };
/* Idle (sub) states. */
enum { I_NONE, I_CR };
/* Chunk-size line (sub) states. */
enum { C_DIGITS, C_BWS, C_EXT, C_CR };
/* Chunk data end (sub) states. */
enum { D_START, D_CR };
/* Trailer section (sub) states. */
enum { T_LINE_START, T_NAME, T_VALUE, T_CR, T_EMPTY_CR };

/* Results of the step functions besides errors. */
enum { STEP_MORE = 0, STEP_END = 1, STEP_PAUSE = 2 };

void tf_h1_framer_init(tf_h1_framer *f, tf_h1_kind kind)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	tf_buf_init(&f->head, TF_H1_HEAD_CAP);
}

void tf_h1_framer_free(tf_h1_framer *f)
{
	tf_h1_kind kind = f->kind;

	tf_buf_free(&f->head);
	tf_h1_framer_init(f, kind);
}

void tf_h1_framer_expect_no_body(tf_h1_framer *f)
{
	f->no_body_next = true;
}

bool tf_h1_framer_idle(const tf_h1_framer *f)
{
	return f->state == S_IDLE && f->sub == I_NONE;
}

static int sink_body(const tf_h1_sink *s, const uint8_t *p, size_t n)
{
	if (n == 0 || !s || !s->on_body)
		return 0;
	return s->on_body(s->ctx, p, n) < 0 ? TF_H1_EABORT : 0;
}

static int end_message(tf_h1_framer *f, const tf_h1_sink *s)
{
	f->state = S_IDLE;
	f->sub = I_NONE;
	if (s && s->on_end && s->on_end(s->ctx) < 0)
		return TF_H1_EABORT;
	return STEP_END;
}

/* Chooses how the body of the message whose head was just parsed ends. */
static int start_body(tf_h1_framer *f, const tf_h1_sink *s)
{
	const tf_h1_head *h = &f->parsed;

	if (f->kind == TF_H1_RESPONSE) {
		if (h->status == 101) {
			int r = end_message(f, s);

			f->state = S_UPGRADED;
			return r;
		}
		if (h->status < 200)
			return end_message(f, s);
		if (f->no_body_next || h->status == 204 || h->status == 304) {
			f->no_body_next = false;
			return end_message(f, s);
		}
	}
	if (h->chunked) {
		f->state = S_CHUNK_SIZE;
		f->sub = C_DIGITS;
		f->remaining = 0;
		f->line_len = 0;
		f->chunk_has_digit = false;
		return STEP_MORE;
	}
	if (h->content_length > 0) {
		f->state = S_BODY_CL;
		f->remaining = (uint64_t)h->content_length;
		return STEP_MORE;
	}
	if (h->content_length < 0 && f->kind == TF_H1_RESPONSE) {
		f->state = S_BODY_CLOSE;
		return STEP_MORE;
	}
	return end_message(f, s);
}

/* A byte that can never appear in a header block. */
static bool bad_head_byte(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

static int step_idle(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];

		if (f->sub == I_CR) {
			if (c != '\n')
				return TF_H1_EMALFORMED;
			f->sub = I_NONE;
			i++;
		} else if (c == '\n') {
			i++;
		} else if (c == '\r') {
			f->sub = I_CR;
			i++;
		} else {
			/* Refuse what cannot start a message at once (TLS-wrapped
			 * garbage, HTTP/2 frames after the preface, ...). */
			if (f->kind == TF_H1_REQUEST ? !is_tchar(c) : c != 'H')
				return TF_H1_EMALFORMED;
			tf_buf_reset(&f->head);
			f->state = S_HEAD;
			f->sub = H_LINE;
			break;
		}
	}
	*used = i;
	return STEP_MORE;
}

static int step_head(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used,
		     const tf_h1_sink *s)
{
	size_t room = TF_H1_HEAD_CAP - f->head.len, lim = n < room ? n : room, i;
	bool done = false;
	int r, pause;

	for (i = 0; i < lim && !done; i++) {
		unsigned char c;

		/* Inside a line only control bytes change anything. */
		if (f->sub == H_LINE) {
			i = skip_line_bytes(p, i, lim);
			if (i == lim)
				break;
		}
		c = p[i];
		if (bad_head_byte(c))
			return TF_H1_EMALFORMED;
		switch (f->sub) {
		case H_LINE_START:
			if (c == '\n')
				done = true;
			else if (c == '\r')
				f->sub = H_EMPTY_CR;
			else if (is_ows(c))
				return TF_H1_EMALFORMED; /* obs-fold */
			else
				f->sub = H_LINE;
			break;
		case H_LINE:
			if (c == '\n')
				f->sub = H_LINE_START;
			else if (c == '\r')
				f->sub = H_CR;
			break;
		case H_CR:
			if (c != '\n')
				return TF_H1_EMALFORMED;
			f->sub = H_LINE_START;
			break;
		default: /* H_EMPTY_CR */
			if (c != '\n')
				return TF_H1_EMALFORMED;
			done = true;
			break;
		}
	}
	r = tf_buf_append(&f->head, p, i);
	if (r < 0)
		return r == -ENOBUFS ? TF_H1_ETOOBIG : r;
	*used = i;
	if (!done)
		return i < n ? TF_H1_ETOOBIG : STEP_MORE;

	r = tf_h1_parse_head((const char *)f->head.data, f->head.len, f->kind, &f->parsed);
	if (r < 0)
		return r == TF_H1_INCOMPLETE ? TF_H1_EMALFORMED : r;
	if ((size_t)r != f->head.len)
		return TF_H1_EMALFORMED;
	pause = s && s->on_head ? s->on_head(s->ctx, &f->parsed, f->head.data, f->head.len) : 0;
	if (pause < 0)
		return TF_H1_EABORT;
	r = start_body(f, s);
	return r == STEP_MORE && pause == TF_H1_PAUSE ? STEP_PAUSE : r;
}

static int step_body_cl(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used,
			const tf_h1_sink *s)
{
	size_t take = (uint64_t)n < f->remaining ? n : (size_t)f->remaining;
	int r = sink_body(s, p, take);

	*used = take;
	if (r < 0)
		return r;
	f->remaining -= take;
	return f->remaining == 0 ? end_message(f, s) : STEP_MORE;
}

static int end_size_line(tf_h1_framer *f)
{
	if (f->remaining == 0) {
		f->state = S_TRAILER;
		f->sub = T_LINE_START;
		f->line_len = 0;
	} else {
		f->state = S_CHUNK_DATA;
	}
	return STEP_MORE;
}

static int step_chunk_size(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];
		int d;

		if (f->sub == C_CR) {
			if (c != '\n')
				return TF_H1_EMALFORMED;
			*used = i + 1;
			return end_size_line(f);
		}
		if (c == '\n') {
			if (!f->chunk_has_digit)
				return TF_H1_EMALFORMED;
			*used = i + 1;
			return end_size_line(f);
		}
		if (c == '\r') {
			if (!f->chunk_has_digit)
				return TF_H1_EMALFORMED;
			f->sub = C_CR;
			continue;
		}
		if (++f->line_len > TF_H1_MAX_CHUNK_LINE)
			return TF_H1_ETOOBIG;
		switch (f->sub) {
		case C_DIGITS:
			d = tf_hexval(c);
			if (d >= 0) {
				if (f->remaining > ((uint64_t)INT64_MAX - (uint64_t)d) / 16)
					return TF_H1_ETOOBIG;
				f->remaining = f->remaining * 16 + (uint64_t)d;
				f->chunk_has_digit = true;
				break;
			}
			if (!f->chunk_has_digit)
				return TF_H1_EMALFORMED;
			if (is_ows(c))
				f->sub = C_BWS;
			else if (c == ';')
				f->sub = C_EXT;
			else
				return TF_H1_EMALFORMED;
			break;
		case C_BWS:
			if (c == ';')
				f->sub = C_EXT;
			else if (!is_ows(c))
				return TF_H1_EMALFORMED;
			break;
		default: /* C_EXT: chunk-ext is ignored, but must be printable */
			if (!is_value_char(c))
				return TF_H1_EMALFORMED;
			break;
		}
	}
	*used = n;
	return STEP_MORE;
}

static int step_chunk_data(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used,
			   const tf_h1_sink *s)
{
	size_t take = (uint64_t)n < f->remaining ? n : (size_t)f->remaining;
	int r = sink_body(s, p, take);

	*used = take;
	if (r < 0)
		return r;
	f->remaining -= take;
	if (f->remaining == 0) {
		f->state = S_CHUNK_DATA_END;
		f->sub = D_START;
	}
	return STEP_MORE;
}

static int step_chunk_data_end(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (f->sub == D_START && p[i] == '\r') {
			f->sub = D_CR;
			continue;
		}
		if (p[i] != '\n')
			return TF_H1_EMALFORMED;
		f->state = S_CHUNK_SIZE;
		f->sub = C_DIGITS;
		f->line_len = 0;
		f->chunk_has_digit = false;
		*used = i + 1;
		return STEP_MORE;
	}
	*used = n;
	return STEP_MORE;
}

static int step_trailer(tf_h1_framer *f, const uint8_t *p, size_t n, size_t *used,
			const tf_h1_sink *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (++f->line_len > TF_H1_HEAD_CAP)
			return TF_H1_ETOOBIG;
		switch (f->sub) {
		case T_LINE_START:
			if (c == '\n') {
				*used = i + 1;
				return end_message(f, s);
			}
			if (c == '\r')
				f->sub = T_EMPTY_CR;
			else if (is_tchar(c))
				f->sub = T_NAME;
			else
				return TF_H1_EMALFORMED; /* obs-fold or garbage */
			break;
		case T_NAME:
			if (c == ':')
				f->sub = T_VALUE;
			else if (!is_tchar(c))
				return TF_H1_EMALFORMED;
			break;
		case T_VALUE:
			if (c == '\r')
				f->sub = T_CR;
			else if (c == '\n')
				f->sub = T_LINE_START;
			else if (!is_value_char(c))
				return TF_H1_EMALFORMED;
			break;
		case T_CR:
			if (c != '\n')
				return TF_H1_EMALFORMED;
			f->sub = T_LINE_START;
			break;
		default: /* T_EMPTY_CR */
			if (c != '\n')
				return TF_H1_EMALFORMED;
			*used = i + 1;
			return end_message(f, s);
		}
	}
	*used = n;
	return STEP_MORE;
}

static int fail(tf_h1_framer *f, int err)
{
	f->state = S_FAILED;
	f->err = err;
	return err;
}

ssize_t tf_h1_feed(tf_h1_framer *f, const uint8_t *p, size_t n, const tf_h1_sink *sink)
{
	size_t off = 0;

	if (f->state == S_FAILED)
		return f->err;
	if (f->state == S_UPGRADED)
		return n ? TF_H1_EUPGRADED : 0;
	while (off < n) {
		size_t used = 0;
		int r;

		switch (f->state) {
		case S_IDLE:
			r = step_idle(f, p + off, n - off, &used);
			break;
		case S_HEAD:
			r = step_head(f, p + off, n - off, &used, sink);
			break;
		case S_BODY_CL:
			r = step_body_cl(f, p + off, n - off, &used, sink);
			break;
		case S_BODY_CLOSE:
			used = n - off;
			r = sink_body(sink, p + off, used);
			break;
		case S_CHUNK_SIZE:
			r = step_chunk_size(f, p + off, n - off, &used);
			break;
		case S_CHUNK_DATA:
			r = step_chunk_data(f, p + off, n - off, &used, sink);
			break;
		case S_CHUNK_DATA_END:
			r = step_chunk_data_end(f, p + off, n - off, &used);
			break;
		case S_TRAILER:
			r = step_trailer(f, p + off, n - off, &used, sink);
			break;
		default:
			r = TF_H1_EMALFORMED;
			break;
		}
		if (r < 0)
			return fail(f, r);
		off += used;
		if (r == STEP_END || r == STEP_PAUSE)
			return (ssize_t)off;
	}
	return (ssize_t)off;
}

int tf_h1_framer_eof(tf_h1_framer *f, const tf_h1_sink *sink)
{
	int r;

	switch (f->state) {
	case S_FAILED:
		return f->err;
	case S_UPGRADED:
		return 0;
	case S_IDLE:
		return f->sub == I_NONE ? 0 : TF_H1_INCOMPLETE;
	case S_BODY_CLOSE:
		r = end_message(f, sink);
		if (r < 0)
			return fail(f, r);
		return 0;
	default:
		return TF_H1_INCOMPLETE;
	}
}
