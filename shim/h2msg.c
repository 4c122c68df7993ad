#include "h2msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return false;
	return true;
}

static bool is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* Fields as "name: value\r\n" lines; the spans are recorded as offsets and
 * turned into pointers once the text stops moving. */
struct line {
	size_t name, name_len, value, value_len;
};

static int put_line(tf_buf *t, struct line *ln, const char *n, size_t nl, const char *v, size_t vl)
{
	int r;

	ln->name = t->len;
	ln->name_len = nl;
	r = tf_buf_append(t, n, nl);
	if (!r)
		r = tf_buf_append(t, ": ", 2);
	ln->value = t->len;
	ln->value_len = vl;
	if (!r)
		r = tf_buf_append(t, v, vl);
	return r ? r : tf_buf_append(t, "\r\n", 2);
}

static bool parse_u64(const char *p, size_t n, int64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = (int64_t)v;
	return true;
}

int tf_h2msg_request_view(const tf_hlist *l, size_t body_len, tf_buf *text, tf_h1_head *h,
			  bool *host_added)
{
	const char *method = NULL, *path = NULL, *auth = NULL;
	size_t ml = 0, pl = 0, al = 0, nl, vl, nh = 0;
	struct line lines[TF_H1_MAX_HEADERS];
	size_t mpos, ppos;
	bool has_host = false;
	const char *n, *v;
	int r;

	*host_added = false;
	for (size_t i = 0; i < tf_hlist_count(l); i++) {
		tf_hlist_get(l, i, &n, &nl, &v, &vl, NULL);
		if (nl == 0 || !clean(n, nl) || !clean(v, vl))
			return TF_H2MSG_EBAD;
		if (n[0] != ':' && memchr(n, ':', nl))
			return TF_H2MSG_EBAD;
		if (is(n, nl, ":method") && !method)
			method = v, ml = vl;
		else if (is(n, nl, ":path") && !path)
			path = v, pl = vl;
		else if (is(n, nl, ":authority") && !auth)
			auth = v, al = vl;
		else if (is(n, nl, "host"))
			has_host = true;
	}
	if (!method || ml == 0 || memchr(method, ' ', ml) || !path || pl == 0 || path[0] != '/' ||
	    memchr(path, ' ', pl))
		return TF_H2MSG_EBAD;

	tf_buf_reset(text);
	memset(h, 0, sizeof(*h));
	mpos = 0;
	r = tf_buf_append(text, method, ml);
	if (!r)
		r = tf_buf_append(text, " ", 1);
	ppos = text->len;
	if (!r)
		r = tf_buf_append(text, path, pl);
	if (!r)
		r = tf_buf_append_str(text, " HTTP/1.1\r\n");
	for (size_t i = 0; i < tf_hlist_count(l) && !r; i++) {
		tf_hlist_get(l, i, &n, &nl, &v, &vl, NULL);
		if ((is(n, nl, ":method") && v == method) || (is(n, nl, ":path") && v == path))
			continue;
		if (nh + 2 > TF_H1_MAX_HEADERS)
			return TF_H2MSG_EBAD;
		r = put_line(text, &lines[nh++], n, nl, v, vl);
		if (!r && v == auth && !has_host) {
			r = put_line(text, &lines[nh++], "host", 4, auth, al);
			*host_added = true;
		}
	}
	if (!r)
		r = tf_buf_append(text, "\r\n", 2);
	if (r)
		return r;

	h->minor_version = 1;
	h->method = (const char *)text->data + mpos;
	h->method_len = ml;
	h->target = (const char *)text->data + ppos;
	h->target_len = pl;
	h->num_headers = nh;
	h->content_length = (int64_t)body_len;
	for (size_t i = 0; i < nh; i++) {
		tf_h1_header *f = &h->headers[i];

		f->name = (const char *)text->data + lines[i].name;
		f->name_len = lines[i].name_len;
		f->value = (const char *)text->data + lines[i].value;
		f->value_len = lines[i].value_len;
		if (tf_h1_token_eq(f->name, f->name_len, "content-length") &&
		    !parse_u64(f->value, f->value_len, &h->content_length))
			return TF_H2MSG_EBAD;
		if (tf_h1_token_eq(f->name, f->name_len, "expect") &&
		    tf_h1_token_eq(f->value, f->value_len, "100-continue"))
			h->expect_continue = true;
	}
	h->head_len = text->len;
	return 0;
}

static uint32_t flags_of(const tf_hlist *orig, const char *n, size_t nl)
{
	for (size_t i = 0; orig && i < tf_hlist_count(orig); i++) {
		const char *on, *ov;
		size_t onl, ovl;
		uint32_t fl;

		tf_hlist_get(orig, i, &on, &onl, &ov, &ovl, &fl);
		if (onl == nl && memcmp(on, n, nl) == 0 && (fl & TF_HPACK_NEVER_INDEX))
			return TF_HPACK_NEVER_INDEX;
	}
	return 0;
}

/* The lines of a head text after its first line: calls back per field. */
typedef int (*line_fn)(void *ctx, const char *n, size_t nl, const char *v, size_t vl);

static int each_line(const char *t, size_t len, size_t pos, line_fn fn, void *ctx)
{
	while (pos < len) {
		const char *eol = memchr(t + pos, '\n', len - pos), *c;
		size_t end = eol ? (size_t)(eol - t) : len, le = end, vs;
		int r;

		if (le > pos && t[le - 1] == '\r')
			le--;
		if (le == pos)
			return 0;
		c = memchr(t + pos + 1, ':', le - pos - 1);
		if (!c)
			return TF_H2MSG_EBAD;
		vs = (size_t)(c - t) + 1;
		while (vs < le && (t[vs] == ' ' || t[vs] == '\t'))
			vs++;
		r = fn(ctx, t + pos, (size_t)(c - t) - pos, t + vs, le - vs);
		if (r)
			return r;
		pos = end + 1;
	}
	return TF_H2MSG_EBAD;
}

struct back {
	tf_hlist *out;
	const tf_hlist *orig;
	bool pseudo; /* this pass takes pseudo-fields (else regular ones) */
	bool drop_host;
};

static int take_line(void *ctx, const char *n, size_t nl, const char *v, size_t vl)
{
	struct back *b = ctx;

	if ((n[0] == ':') != b->pseudo)
		return 0;
	if (b->drop_host && is(n, nl, "host"))
		return 0;
	return tf_hlist_add(b->out, n, nl, v, vl, flags_of(b->orig, n, nl)) == 0 ? 0 : TF_H2MSG_EBAD;
}

int tf_h2msg_request_from_text(const char *text, size_t len, bool drop_host, const tf_hlist *orig,
			       tf_hlist *out)
{
	const char *sp1 = memchr(text, ' ', len), *sp2, *eol = memchr(text, '\n', len);
	struct back b = { out, orig, true, drop_host };
	size_t first;
	int r;

	if (!sp1 || !eol || sp1 > eol)
		return TF_H2MSG_EBAD;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2)
		return TF_H2MSG_EBAD;
	first = (size_t)(eol - text) + 1;
	tf_hlist_reset(out);
	if (tf_hlist_add(out, ":method", 7, text, (size_t)(sp1 - text), 0) != 0 ||
	    tf_hlist_add(out, ":path", 5, sp1 + 1, (size_t)(sp2 - sp1 - 1), 0) != 0)
		return TF_H2MSG_EBAD;
	r = each_line(text, len, first, take_line, &b);
	b.pseudo = false;
	return r ? r : each_line(text, len, first, take_line, &b);
}

int tf_h2msg_response_view(const tf_hlist *l, tf_buf *text, tf_h1_head *h)
{
	struct line lines[TF_H1_MAX_HEADERS];
	const char *st;
	size_t sl, nh = 0, nl, vl;
	const char *n, *v;
	int r;

	st = tf_hlist_find(l, ":status", &sl);
	if (!st || sl != 3 || st[0] < '1' || st[0] > '9' || st[1] < '0' || st[1] > '9' ||
	    st[2] < '0' || st[2] > '9')
		return TF_H2MSG_EBAD;
	tf_buf_reset(text);
	memset(h, 0, sizeof(*h));
	r = tf_buf_append_str(text, "HTTP/1.1 ");
	if (!r)
		r = tf_buf_append(text, st, 3);
	if (!r)
		r = tf_buf_append_str(text, " \r\n");
	for (size_t i = 0; i < tf_hlist_count(l) && !r; i++) {
		tf_hlist_get(l, i, &n, &nl, &v, &vl, NULL);
		if (nl == 0 || n[0] == ':')
			continue;
		if (nh == TF_H1_MAX_HEADERS || !clean(n, nl) || !clean(v, vl) || memchr(n, ':', nl))
			return TF_H2MSG_EBAD;
		r = put_line(text, &lines[nh++], n, nl, v, vl);
	}
	if (!r)
		r = tf_buf_append(text, "\r\n", 2);
	if (r)
		return r;
	h->minor_version = 1;
	h->status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
	h->reason = (const char *)text->data + 13;
	h->num_headers = nh;
	h->content_length = -1;
	for (size_t i = 0; i < nh; i++) {
		tf_h1_header *f = &h->headers[i];

		f->name = (const char *)text->data + lines[i].name;
		f->name_len = lines[i].name_len;
		f->value = (const char *)text->data + lines[i].value;
		f->value_len = lines[i].value_len;
		if (tf_h1_token_eq(f->name, f->name_len, "content-length"))
			parse_u64(f->value, f->value_len, &h->content_length);
	}
	h->head_len = text->len;
	return 0;
}

static bool connection_specific(const char *n, size_t nl)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "transfer-encoding", "upgrade" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (tf_h1_token_eq(n, nl, names[i]))
			return true;
	return false;
}

int tf_h2msg_response_from_h1(const uint8_t *msg, size_t len, tf_hlist *out, size_t *body_off)
{
	tf_h1_head *h = malloc(sizeof(*h));
	char status[4], lower[256];
	int r;

	if (!h)
		return -ENOMEM;
	r = tf_h1_parse_head((const char *)msg, len, TF_H1_RESPONSE, h);
	if (r <= 0 || h->status < 100 || h->status > 999) {
		free(h);
		return TF_H2MSG_EBAD;
	}
	*body_off = (size_t)r;
	tf_hlist_reset(out);
	snprintf(status, sizeof(status), "%03d", h->status);
	r = tf_hlist_add(out, ":status", 7, status, 3, 0) == 0 ? 0 : TF_H2MSG_EBAD;
	for (size_t i = 0; i < h->num_headers && !r; i++) {
		const tf_h1_header *f = &h->headers[i];

		if (connection_specific(f->name, f->name_len))
			continue;
		if (f->name_len >= sizeof(lower)) {
			r = TF_H2MSG_EBAD;
			break;
		}
		for (size_t k = 0; k < f->name_len; k++)
			lower[k] = (f->name[k] >= 'A' && f->name[k] <= 'Z') ? (char)(f->name[k] + 32)
									     : f->name[k];
		if (tf_hlist_add(out, lower, f->name_len, f->value, f->value_len, 0) != 0)
			r = TF_H2MSG_EBAD;
	}
	free(h);
	return r;
}
