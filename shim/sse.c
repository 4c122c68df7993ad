#include "sse.h"

#include <errno.h>
#include <string.h>

static const uint8_t bom[3] = { 0xEF, 0xBB, 0xBF };

void tf_sse_init(tf_sse_parser *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->cap = cap ? cap : TF_SSE_DEFAULT_CAP;
	tf_buf_init(&p->line, p->cap);
	tf_buf_init(&p->data, p->cap);
	tf_buf_init(&p->event, p->cap);
	tf_buf_init(&p->id, TF_SSE_MAX_ID);
	p->retry_ms = -1;
}

void tf_sse_free(tf_sse_parser *p)
{
	size_t cap = p->cap;

	tf_buf_free(&p->line);
	tf_buf_free(&p->data);
	tf_buf_free(&p->event);
	tf_buf_free(&p->id);
	tf_sse_init(p, cap);
}

bool tf_sse_idle(const tf_sse_parser *p)
{
	return (p->started || p->bom_seen == 0) && p->line.len == 0 && p->data.len == 0 &&
	       p->event.len == 0 && !p->discarding;
}

/*
 * The cap bounds event name + data + the current line. A line is judged by
 * its full length, so where the feeds split it does not matter.
 */
static bool fits(const tf_sse_parser *p, size_t line_len)
{
	return line_len <= p->cap && p->data.len + p->event.len <= p->cap - line_len;
}

static void reset_event(tf_sse_parser *p)
{
	tf_buf_reset(&p->data);
	tf_buf_reset(&p->event);
}

/* The pending event passed the cap: report it once and drop it. */
static int overflow(tf_sse_parser *p, const tf_sse_sink *s, bool line_has_content)
{
	tf_buf_free(&p->line);
	tf_buf_free(&p->data);
	tf_buf_free(&p->event);
	p->discarding = true;
	p->line_nonempty = line_has_content;
	p->overflows++;
	if (s && s->on_overflow && s->on_overflow(s->ctx) < 0)
		return TF_SSE_EABORT;
	return 0;
}

static int dispatch(tf_sse_parser *p, const tf_sse_sink *s)
{
	tf_sse_event ev;
	int r = 0;

	if (p->data.len == 0) {
		reset_event(p);
		return 0;
	}
	ev.event = p->event.len ? (const char *)p->event.data : "message";
	ev.event_len = p->event.len ? p->event.len : 7;
	ev.data = (const char *)p->data.data;
	ev.data_len = p->data.len - 1; /* the last "\n" */
	ev.id = p->id.len ? (const char *)p->id.data : "";
	ev.id_len = p->id.len;
	ev.retry_ms = p->retry_ms;
	p->events++;
	if (s && s->on_event && s->on_event(s->ctx, &ev) < 0)
		r = TF_SSE_EABORT;
	reset_event(p);
	return r;
}

static bool field_is(const uint8_t *f, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(f, name, n) == 0;
}

static void set_retry(tf_sse_parser *p, const uint8_t *v, size_t n)
{
	int64_t ms = 0;
	size_t i;

	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return;
		if (ms > (INT64_MAX - (v[i] - '0')) / 10)
			return;
		ms = ms * 10 + (v[i] - '0');
	}
	p->retry_ms = ms;
}

/* One complete line (without its end) in normal mode. */
static int process_line(tf_sse_parser *p, const uint8_t *l, size_t n, const tf_sse_sink *s)
{
	const uint8_t *colon, *v;
	size_t fn, vn;
	int r = 0;

	if (n == 0)
		return dispatch(p, s);
	if (l[0] == ':')
		return 0;
	colon = memchr(l, ':', n);
	fn = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vn = colon ? n - fn - 1 : 0;
	if (vn > 0 && v[0] == ' ') {
		v++;
		vn--;
	}
	/* fits() held for the whole line, so the value fits too. */
	if (field_is(l, fn, "data")) {
		r = tf_buf_append(&p->data, v, vn);
		if (r == 0)
			r = tf_buf_append(&p->data, "\n", 1);
	} else if (field_is(l, fn, "event")) {
		tf_buf_reset(&p->event);
		r = tf_buf_append(&p->event, v, vn);
	} else if (field_is(l, fn, "id")) {
		if (vn <= TF_SSE_MAX_ID && !memchr(v, '\0', vn)) {
			tf_buf_reset(&p->id);
			r = tf_buf_append(&p->id, v, vn);
		}
	} else if (field_is(l, fn, "retry")) {
		set_retry(p, v, vn);
	}
	if (r == -ENOBUFS)
		return overflow(p, s, false);
	return r;
}

/* A line ended; its content is the buffered part plus l[0..n). */
static int end_line(tf_sse_parser *p, const uint8_t *l, size_t n, const tf_sse_sink *s)
{
	int r;

	if (p->discarding) {
		bool blank = !p->line_nonempty && n == 0;

		p->line_nonempty = false;
		if (blank) {
			p->discarding = false;
			reset_event(p);
		}
		return 0;
	}
	if (!fits(p, p->line.len + n)) {
		r = overflow(p, s, false);
		return r;
	}
	if (p->line.len == 0)
		return process_line(p, l, n, s);
	r = tf_buf_append(&p->line, l, n);
	if (r == 0)
		r = process_line(p, p->line.data, p->line.len, s);
	tf_buf_reset(&p->line);
	return r;
}

/* A line continues past this feed: keep its bytes (or drop them). */
static int partial_line(tf_sse_parser *p, const uint8_t *l, size_t n, const tf_sse_sink *s)
{
	if (n == 0)
		return 0;
	if (p->discarding) {
		p->line_nonempty = true;
		return 0;
	}
	if (!fits(p, p->line.len + n))
		return overflow(p, s, true);
	return tf_buf_append(&p->line, l, n);
}

/* Bytes before the first CR or LF (n when neither): two vectorised scans
 * instead of a byte loop, since SSE lines are long JSON payloads. */
static size_t line_len(const uint8_t *b, size_t n)
{
	const uint8_t *lf = memchr(b, '\n', n);
	size_t m = lf ? (size_t)(lf - b) : n;
	const uint8_t *cr = memchr(b, '\r', m);

	return cr ? (size_t)(cr - b) : m;
}

static int feed_lines(tf_sse_parser *p, const uint8_t *buf, size_t n, const tf_sse_sink *s)
{
	size_t i = 0;
	int r;

	while (i < n) {
		size_t j;

		if (p->after_cr) {
			p->after_cr = false;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		j = i + line_len(buf + i, n - i);
		if (j == n)
			return partial_line(p, buf + i, n - i, s);
		p->after_cr = buf[j] == '\r';
		r = end_line(p, buf + i, j - i, s);
		if (r < 0)
			return r;
		i = j + 1;
	}
	return 0;
}

int tf_sse_feed(tf_sse_parser *p, const uint8_t *buf, size_t n, const tf_sse_sink *sink)
{
	size_t i = 0;
	int r;

	if (p->err)
		return p->err;
	if (!p->started) {
		while (i < n && p->bom_seen < 3 && buf[i] == bom[p->bom_seen]) {
			p->bom_seen++;
			i++;
		}
		if (p->bom_seen < 3 && i == n)
			return 0;
		p->started = true;
		/* A partial BOM was ordinary text after all. */
		if (p->bom_seen < 3 && p->bom_seen > 0) {
			r = feed_lines(p, bom, p->bom_seen, sink);
			if (r < 0)
				return p->err = r;
		}
	}
	r = feed_lines(p, buf + i, n - i, sink);
	if (r < 0)
		p->err = r;
	return r;
}
