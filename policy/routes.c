#include "routes.h"
#include "ascii.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* Returns the byte at s[*i] after one percent-decoding and advances *i. */
static unsigned char next_decoded(const char *s, size_t n, size_t *i)
{
	if (s[*i] == '%' && *i + 2 < n) {
		int hi = tf_hexval(s[*i + 1]), lo = tf_hexval(s[*i + 2]);
		if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
			*i += 3;
			return (unsigned char)(hi * 16 + lo);
		}
	}
	return (unsigned char)s[(*i)++];
}

ssize_t tf_pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = next_decoded(s, n, &i);
		if (o >= cap)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	return (ssize_t)o;
}

/* Compares a raw path segment, decoded once, with a literal, ignoring case. */
static bool seg_eq(const char *raw, size_t rn, const char *lit, size_t ln)
{
	size_t i = 0, j = 0;

	while (i < rn && j < ln) {
		if (tf_ascii_lower(next_decoded(raw, rn, &i)) != tf_ascii_lower((unsigned char)lit[j++]))
			return false;
	}
	return i == rn && j == ln;
}

/* 1 for ".", 2 for "..", spelled plainly or percent-encoded; else 0. */
static int dot_segment(const char *s, size_t n)
{
	if (seg_eq(s, n, ".", 1))
		return 1;
	if (seg_eq(s, n, "..", 2))
		return 2;
	return 0;
}

static bool has_prefix_ci(const char *s, size_t n, const char *pre)
{
	size_t pn = strlen(pre);
	return n >= pn && strncasecmp(s, pre, pn) == 0;
}

int tf_path_parse(const char *t, size_t n, tf_path *out)
{
	size_t i = 0, end;

	out->nseg = 0;
	out->query = NULL;
	out->qlen = 0;
	/* A request-target never holds raw controls or spaces (RFC 9112 §3.2);
	 * refusing them keeps NUL out of every decoded string. */
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)t[k];
		if (c <= 0x20 || c == 0x7f)
			return -EINVAL;
	}
	if (has_prefix_ci(t, n, "http://") || has_prefix_ci(t, n, "https://")) {
		i = (size_t)((const char *)memchr(t, ':', n) - t) + 3;
		while (i < n && t[i] != '/' && t[i] != '?' && t[i] != '#')
			i++;
	}
	end = i;
	while (end < n && t[end] != '?' && t[end] != '#')
		end++;
	if (end < n && t[end] == '?') {
		size_t q = end + 1, qend = q;
		while (qend < n && t[qend] != '#')
			qend++;
		out->query = t + q;
		out->qlen = qend - q;
	}
	while (i < end) {
		size_t s = i;
		while (i < end && t[i] != '/')
			i++;
		if (i > s) {
			int dot = dot_segment(t + s, i - s);
			if (dot == 2 && out->nseg > 0) {
				out->nseg--;
			} else if (dot == 0) {
				if (out->nseg == TF_PATH_MAX_SEGS)
					return -E2BIG;
				out->seg[out->nseg] = t + s;
				out->seglen[out->nseg] = i - s;
				out->nseg++;
			}
		}
		i++;
	}
	return 0;
}

ssize_t tf_path_decode_span(const tf_path *p, size_t first, size_t count, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	for (size_t k = first; k < first + count && k < p->nseg; k++) {
		ssize_t r;
		if (k > first) {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = '/';
		}
		r = tf_pct_decode(p->seg[k], p->seglen[k], out + o, cap - 1 - o);
		if (r < 0)
			return r;
		o += (size_t)r;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

enum seg_kind { SEG_LIT, SEG_LABEL, SEG_GREEDY };

struct tseg {
	const char *p;
	size_t n;
	enum seg_kind kind;
};

struct tmpl {
	struct tseg seg[TF_ROUTE_MAX_TEMPLATE_SEGS];
	size_t nseg;
	const char *q;
	size_t qlen;
	int nlit, ngreedy, nquery;
	int resource; /* template segment index of the resource label, or -1 */
};

static bool label_named(const struct tseg *s, const char *name)
{
	size_t len = strlen(name);
	return s->kind != SEG_LIT && s->n == len && memcmp(s->p, name, len) == 0;
}

/* Splits a template; false if it does not fit (the generator prevents that). */
static bool tmpl_parse(const tf_route *r, struct tmpl *t)
{
	const char *u = r->uri, *qm = strchr(u, '?');
	size_t end = qm ? (size_t)(qm - u) : strlen(u), i = 0;

	memset(t, 0, sizeof(*t));
	t->resource = -1;
	if (qm) {
		t->q = qm + 1;
		t->qlen = strlen(t->q);
		for (size_t k = 0; k < t->qlen; k++) {
			if (t->q[k] != '&' && (k == 0 || t->q[k - 1] == '&'))
				t->nquery++;
		}
	}
	while (i < end) {
		size_t s = i;
		struct tseg *g;
		while (i < end && u[i] != '/')
			i++;
		if (i == s) {
			i++;
			continue;
		}
		if (t->nseg == TF_ROUTE_MAX_TEMPLATE_SEGS)
			return false;
		g = &t->seg[t->nseg++];
		if (u[s] == '{' && u[i - 1] == '}' && i - s > 2) {
			g->p = u + s + 1;
			g->n = i - s - 2;
			g->kind = SEG_LABEL;
			if (g->p[g->n - 1] == '+') {
				g->n--;
				g->kind = SEG_GREEDY;
				t->ngreedy++;
			}
			if (r->resource && t->resource < 0 && label_named(g, r->resource))
				t->resource = (int)t->nseg - 1;
		} else {
			g->p = u + s;
			g->n = i - s;
			g->kind = SEG_LIT;
			t->nlit++;
		}
		i++;
	}
	return true;
}

/* Is the query part want ("k" or "k=v") among the request's '&'-parts? */
static bool query_has(const tf_path *p, const char *want, size_t wn)
{
	const char *q = p->query;
	size_t i = 0;

	while (q && i <= p->qlen) {
		size_t s = i;
		while (i < p->qlen && q[i] != '&')
			i++;
		if (i - s == wn && strncasecmp(q + s, want, wn) == 0)
			return true;
		if (memchr(want, '=', wn) == NULL && i - s > wn && q[s + wn] == '=' &&
		    strncasecmp(q + s, want, wn) == 0)
			return true;
		i++;
	}
	return false;
}

static bool query_match(const struct tmpl *t, const tf_path *p)
{
	size_t i = 0;

	while (i < t->qlen) {
		size_t s = i;
		while (i < t->qlen && t->q[i] != '&')
			i++;
		if (i > s && !query_has(p, t->q + s, i - s))
			return false;
		i++;
	}
	return true;
}

/*
 * ok[t][s]: template segments t.. match path segments s.. . Filled backwards,
 * then walked forwards giving each multi-segment label its shortest span, so
 * the result is deterministic. O(T * S^2) at worst, with T, S bounded.
 */
static bool tmpl_match(const struct tmpl *t, const tf_path *p, bool spread, tf_route_match *m)
{
	bool ok[TF_ROUTE_MAX_TEMPLATE_SEGS + 1][TF_PATH_MAX_SEGS + 1];
	size_t T = t->nseg, S = p->nseg, s = 0;

	for (size_t j = 0; j <= S; j++)
		ok[T][j] = (j == S);
	for (size_t k = T; k-- > 0;) {
		const struct tseg *g = &t->seg[k];
		bool multi = g->kind == SEG_GREEDY || (spread && g->kind == SEG_LABEL);
		for (size_t j = 0; j <= S; j++) {
			bool v = false;
			if (g->kind == SEG_LIT)
				v = j < S && ok[k + 1][j + 1] && seg_eq(p->seg[j], p->seglen[j], g->p, g->n);
			else if (!multi)
				v = j < S && ok[k + 1][j + 1];
			else
				for (size_t e = j + 1; e <= S && !v; e++)
					v = ok[k + 1][e];
			ok[k][j] = v;
		}
	}
	if (!ok[0][0] || !query_match(t, p))
		return false;
	m->first = 0;
	m->count = 0;
	for (size_t k = 0; k < T; k++) {
		const struct tseg *g = &t->seg[k];
		size_t span = 1;
		if (g->kind == SEG_GREEDY || (spread && g->kind == SEG_LABEL))
			while (!ok[k + 1][s + span])
				span++;
		if ((int)k == t->resource) {
			m->first = s;
			m->count = span;
		}
		s += span;
	}
	return true;
}

static int cmp_specificity(const struct tmpl *a, const struct tmpl *b)
{
	if (a->nlit != b->nlit)
		return a->nlit - b->nlit;
	if (a->ngreedy != b->ngreedy)
		return b->ngreedy - a->ngreedy;
	return a->nquery - b->nquery;
}

bool tf_path_seg_is(const tf_path *p, size_t i, const char *lit)
{
	return i < p->nseg && seg_eq(p->seg[i], p->seglen[i], lit, strlen(lit));
}

/*
 * A template whose first segment is a literal matches only paths whose
 * first segment is that literal (tmpl_match). Checked on the raw template,
 * before it is split, since most routes of a table fail here.
 */
static bool first_literal_differs(const tf_route *r, const tf_path *p)
{
	const char *u = r->uri;
	size_t end = strcspn(u, "?"), s = 0, i;

	while (s < end && u[s] == '/')
		s++;
	if (s == end)
		return false;
	for (i = s; i < end && u[i] != '/'; i++)
		;
	if (u[s] == '{' && u[i - 1] == '}' && i - s > 2)
		return false; /* a label */
	return p->nseg == 0 || !seg_eq(p->seg[0], p->seglen[0], u + s, i - s);
}

bool tf_route_find(const tf_route_table *tables, size_t ntables, const char *method,
		   size_t mlen, const tf_path *path, tf_route_match *m)
{
	for (int spread = 0; spread <= 1; spread++) {
		struct tmpl best_t = { 0 }, cur;
		bool found = false;

		for (size_t t = 0; t < ntables; t++) {
			for (size_t i = 0; i < tables[t].n; i++) {
				tf_route_match cand;
				const tf_route *r = &tables[t].routes[i];
				if (strlen(r->method) != mlen || strncasecmp(r->method, method, mlen) != 0)
					continue;
				if (first_literal_differs(r, path))
					continue;
				if (!tmpl_parse(r, &cur) || !tmpl_match(&cur, path, spread, &cand))
					continue;
				if (found && cmp_specificity(&cur, &best_t) <= 0)
					continue;
				cand.route = r;
				cand.table = t;
				*m = cand;
				best_t = cur;
				found = true;
			}
		}
		if (found)
			return true;
	}
	return false;
}
