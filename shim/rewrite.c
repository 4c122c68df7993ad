/*
 * Request rewriting and SigV4 re-signing (rewrite.h). Three steps: the new
 * body (jsonedit), the new request-target, then a plan for every header
 * line; the plan is what gets signed and what gets written, so the
 * signature always covers exactly the bytes sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "rewrite.h"
#include "sha256.h"
#include "sigv4.h"

typedef struct span {
	const char *p;
	size_t n;
} span;

static bool span_eq_ci(span s, const char *lit)
{
	return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

static bool prefix_ci(span s, const char *lit)
{
	size_t k = strlen(lit);

	return s.n >= k && strncasecmp(s.p, lit, k) == 0;
}

static bool name_is(const tf_h1_header *h, const char *lit)
{
	return tf_h1_token_eq(h->name, h->name_len, lit);
}

static int map_je(int e)
{
	switch (e) {
	case TF_JSONEDIT_EMALFORMED:
	case TF_JSONEDIT_EDEPTH:
		return TF_RW_ENOTJSON;
	case TF_JSONEDIT_EDUPLICATE:
	case TF_JSONEDIT_ENOTOBJECT:
	case TF_JSONEDIT_ETOOBIG:
	case TF_JSONEDIT_EEXISTS:
	case TF_JSONEDIT_EPATH:
	case TF_JSONEDIT_NOTFOUND:
		return TF_RW_EFIELD;
	default:
		return e;
	}
}

/* ---- the body ---- */

typedef struct jbody {
	const char *text; /* the current body */
	size_t len;
	tf_buf own;       /* holds text once edited */
	size_t cap;
	bool changed;
} jbody;

/* An edit: fn writes the new document into a fresh buffer, which becomes current. */
static int jb_apply(jbody *jb, int e, tf_buf *next)
{
	if (e) {
		tf_buf_free(next);
		return map_je(e);
	}
	tf_buf_free(&jb->own);
	jb->own = *next;
	jb->text = (const char *)jb->own.data;
	jb->len = jb->own.len;
	jb->changed = true;
	return 0;
}

static int jb_replace(jbody *jb, const char *const *path, size_t depth, const char *v, size_t n)
{
	tf_buf next;

	tf_buf_init(&next, jb->cap);
	return jb_apply(jb, tf_jsonedit_replace(jb->text, jb->len, path, depth, v, n, &next), &next);
}

static int jb_insert(jbody *jb, const char *const *path, size_t depth, const char *v, size_t n)
{
	tf_buf next;

	tf_buf_init(&next, jb->cap);
	return jb_apply(jb,
			tf_jsonedit_insert(jb->text, jb->len, path, depth, v, n, TF_JSONEDIT_CREATE,
					   &next),
			&next);
}

/* Replaces a top-level string member key with the model id; *hit when there. */
static int body_model(jbody *jb, const char *key, const tf_rw_changes *ch, bool *hit)
{
	const char *path[1] = { key };
	tf_jsonedit_span v;
	tf_buf str;
	int e = tf_jsonedit_find(jb->text, jb->len, path, 1, &v);

	if (e == TF_JSONEDIT_NOTFOUND || e == TF_JSONEDIT_ENOTOBJECT)
		return 0;
	if (e)
		return map_je(e);
	if (!tf_jsonedit_is(jb->text, v, 's'))
		return TF_RW_EFIELD;
	tf_buf_init(&str, 0);
	e = tf_json_put_str(&str, ch->model, ch->model_len);
	if (e == 0)
		e = jb_replace(jb, path, 1, (const char *)str.data, str.len);
	tf_buf_free(&str);
	if (e == 0)
		*hit = true;
	return e;
}

/*
 * Whether the JSON number at v is above max (exactly, without floating
 * point: the host's locale and rounding must not matter).
 */
static bool number_above(const char *t, tf_jsonedit_span v, uint64_t max)
{
	const char *p = t + v.off, *end = p + v.len;
	const char *ip, *fp = NULL;
	size_t il, fl = 0, nd, k;
	long exp = 0, point;
	uint64_t x = 0;
	bool frac_nonzero = false;
	char digits[64];

	if (*p == '-')
		return false;
	ip = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	il = (size_t)(p - ip);
	if (p < end && *p == '.') {
		fp = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		fl = (size_t)(p - fp);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool neg = false;

		p++;
		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		for (; p < end; p++)
			if (exp < 100000)
				exp = exp * 10 + (*p - '0');
		if (neg)
			exp = -exp;
	}
	/* digits = significant digits of int and fraction, leading zeros dropped. */
	point = (long)il + exp;
	nd = 0;
	for (k = 0; k < il + fl; k++) {
		char c = k < il ? ip[k] : fp[k - il];

		if (nd == 0 && c == '0') {
			point--;
			continue;
		}
		if (nd < sizeof(digits))
			digits[nd++] = c;
		else if (c != '0')
			frac_nonzero = true; /* beyond 64 significant digits */
	}
	if (nd == 0)
		return false; /* zero */
	if (point <= 0)
		return max == 0; /* 0 < value < 1 */
	if (point > 20)
		return true;
	for (k = 0; k < (size_t)point; k++) {
		unsigned d = k < nd ? (unsigned)(digits[k] - '0') : 0;

		if (x > (UINT64_MAX - d) / 10)
			return true;
		x = x * 10 + d;
	}
	for (; k < nd; k++)
		if (digits[k] != '0')
			frac_nonzero = true;
	return x > max || (x == max && frac_nonzero);
}

static int clamp_fields(jbody *jb, const tf_rw_changes *ch, bool *clamped)
{
	char num[24];
	bool present = false;
	int e, n = snprintf(num, sizeof(num), "%llu", (unsigned long long)ch->max_out);

	if (ch->nlimit == 0 || ch->nlimit > TF_RW_MAX_LIMIT_FIELDS)
		return TF_RW_EFIELD;
	for (size_t i = 0; i < ch->nlimit; i++) {
		const tf_rw_field *f = &ch->limit[i];
		tf_jsonedit_span v;

		e = tf_jsonedit_find(jb->text, jb->len, f->path, f->depth, &v);
		if (e == TF_JSONEDIT_NOTFOUND)
			continue;
		if (e)
			return map_je(e);
		present = true;
		if (tf_jsonedit_is(jb->text, v, 'z') ||
		    (tf_jsonedit_is(jb->text, v, 'n') && number_above(jb->text, v, ch->max_out))) {
			if ((e = jb_replace(jb, f->path, f->depth, num, (size_t)n)))
				return e;
			*clamped = true;
		} else if (!tf_jsonedit_is(jb->text, v, 'n')) {
			return TF_RW_EFIELD;
		}
	}
	if (present)
		return 0;
	e = jb_insert(jb, ch->limit[0].path, ch->limit[0].depth, num, (size_t)n);
	if (e == 0)
		*clamped = true;
	return e;
}

static int include_usage(jbody *jb, bool *added)
{
	static const char *const stream[] = { "stream" };
	static const char *const so[] = { "stream_options" };
	static const char *const iu[] = { "stream_options", "include_usage" };
	tf_jsonedit_span v;
	int e = tf_jsonedit_find(jb->text, jb->len, stream, 1, &v);

	if (e == TF_JSONEDIT_NOTFOUND || (e == 0 && !tf_jsonedit_is(jb->text, v, 't')))
		return 0;
	if (e)
		return map_je(e);
	e = tf_jsonedit_find(jb->text, jb->len, so, 1, &v);
	if (e == TF_JSONEDIT_NOTFOUND) {
		e = jb_insert(jb, iu, 2, "true", 4);
	} else if (e) {
		return map_je(e);
	} else if (tf_jsonedit_is(jb->text, v, 'z')) {
		e = jb_replace(jb, so, 1, "{\"include_usage\":true}", 22);
	} else if (!tf_jsonedit_is(jb->text, v, 'o')) {
		return TF_RW_EFIELD;
	} else {
		e = tf_jsonedit_find(jb->text, jb->len, iu, 2, &v);
		if (e == TF_JSONEDIT_NOTFOUND)
			e = jb_insert(jb, iu, 2, "true", 4);
		else if (e)
			return map_je(e);
		else if (tf_jsonedit_is(jb->text, v, 't'))
			return 0;
		else if (tf_jsonedit_is(jb->text, v, 'f') || tf_jsonedit_is(jb->text, v, 'z'))
			e = jb_replace(jb, iu, 2, "true", 4);
		else
			return TF_RW_EFIELD;
	}
	if (e == 0)
		*added = true;
	return e;
}

static int edit_body(const tf_h1_head *h, const uint8_t *body, size_t body_len,
		     tf_provider prov, const tf_rw_changes *ch, jbody *jb, tf_rw_result *res)
{
	const tf_h1_header *ce = tf_h1_find(h, "content-encoding");
	bool want = ch->clamp || (ch->include_usage && prov == TF_PROVIDER_AZURE) ||
		    (ch->model && body_len > 0);
	int e = 0;

	jb->text = (const char *)body;
	jb->len = body_len;
	if (!want)
		return 0;
	if (ce && !span_eq_ci((span){ ce->value, ce->value_len }, "identity"))
		return TF_RW_ENOTJSON;
	if (!body || tf_jsonedit_validate(jb->text, jb->len) != 0)
		return TF_RW_ENOTJSON;
	if (ch->model) {
		e = body_model(jb, "model", ch, &res->model_in_body);
		if (e == 0 && prov == TF_PROVIDER_BEDROCK)
			e = body_model(jb, "modelId", ch, &res->model_in_body);
	}
	if (e == 0 && ch->clamp)
		e = clamp_fields(jb, ch, &res->clamped);
	if (e == 0 && ch->include_usage && prov == TF_PROVIDER_AZURE)
		e = include_usage(jb, &res->usage_added);
	return e;
}

/* ---- the request-target ---- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Percent-encodes id like the old segment was encoded (see rewrite.h). */
static int put_segment(tf_buf *t, span old, const char *id, size_t n)
{
	bool raw_colon = memchr(old.p, ':', old.n) != NULL, lower = false;
	const char *hex;
	int e = 0;

	for (size_t i = 0; i + 2 < old.n; i++)
		if (old.p[i] == '%' && is_hex((unsigned char)old.p[i + 1]) &&
		    is_hex((unsigned char)old.p[i + 2]) &&
		    ((old.p[i + 1] >= 'a' && old.p[i + 1] <= 'f') ||
		     (old.p[i + 2] >= 'a' && old.p[i + 2] <= 'f')))
			lower = true;
	hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
	for (size_t i = 0; i < n && e == 0; i++) {
		unsigned char c = (unsigned char)id[i];

		if (unreserved(c) || (c == ':' && raw_colon)) {
			e = tf_buf_append(t, &id[i], 1);
		} else {
			char pct[3] = { '%', hex[c >> 4], hex[c & 15] };

			e = tf_buf_append(t, pct, 3);
		}
	}
	return e;
}

/* The segment after marker ("/model/") in the path, or false. */
static bool find_segment(span path, const char *marker, span *seg)
{
	size_t k = strlen(marker);

	for (size_t i = 0; i + k <= path.n; i++) {
		if (memcmp(path.p + i, marker, k) != 0)
			continue;
		seg->p = path.p + i + k;
		seg->n = 0;
		while (seg->p + seg->n < path.p + path.n && seg->p[seg->n] != '/')
			seg->n++;
		return seg->n > 0;
	}
	return false;
}

static int edit_target(const tf_h1_head *h, tf_provider prov, const tf_rw_changes *ch,
		       tf_buf *t, tf_rw_result *res)
{
	const char *q = memchr(h->target, '?', h->target_len);
	span path = { h->target, q ? (size_t)(q - h->target) : h->target_len };
	span seg;
	int e;

	if (!ch->model)
		return 0;
	if (!find_segment(path, prov == TF_PROVIDER_BEDROCK ? "/model/" : "/deployments/", &seg))
		return 0;
	e = tf_buf_append(t, h->target, (size_t)(seg.p - h->target));
	if (!e)
		e = put_segment(t, seg, ch->model, ch->model_len);
	if (!e)
		e = tf_buf_append(t, seg.p + seg.n, h->target_len - (size_t)(seg.p + seg.n - h->target));
	if (!e)
		res->model_in_path = true;
	return e;
}

/* ---- headers ---- */

enum { H_KEEP, H_DROP, H_VALUE, H_CL_LINE };

typedef struct hplan {
	int act;
	const char *v; /* H_VALUE / H_CL_LINE: the new value */
	size_t vn;
} hplan;

static bool decodable(span coding)
{
	return span_eq_ci(coding, "gzip") || span_eq_ci(coding, "x-gzip") ||
	       span_eq_ci(coding, "deflate") || span_eq_ci(coding, "identity");
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static span trim(span s)
{
	while (s.n && is_ows(s.p[0]))
		s.p++, s.n--;
	while (s.n && is_ows(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* "q=0", "q=0.", "q=0.000": the coding is refused (RFC 9110 §12.4.2). */
static bool q_zero(span params)
{
	size_t i = 0;

	while (i < params.n) {
		span p;
		size_t j = i;

		while (j < params.n && params.p[j] != ';')
			j++;
		p = trim((span){ params.p + i, j - i });
		if (p.n >= 2 && (p.p[0] == 'q' || p.p[0] == 'Q')) {
			span v = trim((span){ p.p + 1, p.n - 1 });

			if (v.n && v.p[0] == '=') {
				v = trim((span){ v.p + 1, v.n - 1 });
				if (v.n == 0 || v.p[0] != '0')
					return false;
				for (size_t k = 1; k < v.n; k++)
					if (v.p[k] != '0' && !(k == 1 && v.p[k] == '.'))
						return false;
				return true;
			}
		}
		i = j + 1;
	}
	return false;
}

/* The Accept-Encoding value with undecodable codings removed; *changed
 * false (and out untouched) when nothing had to go. */
static int narrow_accept(span v, tf_buf *out, bool *changed)
{
	size_t mark = out->len, i = 0;
	bool dropped = false, usable = false, first = true;
	int e = 0;

	while (i <= v.n && e == 0) {
		size_t j = i, c = 0;
		span el;

		while (j < v.n && v.p[j] != ',')
			j++;
		el = trim((span){ v.p + i, j - i });
		i = j + 1;
		if (el.n == 0)
			continue;
		while (c < el.n && el.p[c] != ';' && !is_ows(el.p[c]))
			c++;
		if (!decodable((span){ el.p, c })) {
			dropped = true;
			continue;
		}
		if (!q_zero((span){ el.p + c, el.n - c }))
			usable = true;
		if (!first)
			e = tf_buf_append(out, ", ", 2);
		if (!e)
			e = tf_buf_append(out, el.p, el.n);
		first = false;
	}
	if (e || !dropped) {
		out->len = mark;
		*changed = false;
		return e;
	}
	if (!usable) {
		out->len = mark;
		e = tf_buf_append_str(out, "identity");
	}
	*changed = e == 0;
	return e;
}

/* Is name in the ';'-separated SignedHeaders list? */
static bool signed_has(const tf_sigv4_auth *a, const char *name)
{
	size_t i = 0, k = strlen(name);
	const char *s = a->signed_headers.p;
	size_t n = a->signed_headers.n;

	while (i < n) {
		size_t j = i;

		while (j < n && s[j] != ';')
			j++;
		if (j - i == k && strncasecmp(s + i, name, k) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static bool is_hex64(span v)
{
	if (v.n != TF_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < v.n; i++)
		if (!is_hex((unsigned char)v.p[i]))
			return false;
	return true;
}

static bool inside(const char *raw, size_t raw_len, const char *p, size_t n)
{
	return p >= raw && n <= raw_len && (size_t)(p - raw) <= raw_len - n;
}

static int check_input(const tf_h1_head *h, const char *raw, size_t raw_len, size_t body_len)
{
	if (h->head_len != raw_len || !h->target || h->target_len == 0 ||
	    !inside(raw, raw_len, h->method, h->method_len) ||
	    !inside(raw, raw_len, h->target, h->target_len) || h->target[0] != '/' ||
	    h->num_headers > TF_H1_MAX_HEADERS)
		return TF_RW_EREQUEST;
	for (size_t i = 0; i < h->num_headers; i++)
		if (!inside(raw, raw_len, h->headers[i].name, h->headers[i].name_len) ||
		    !inside(raw, raw_len, h->headers[i].value, h->headers[i].value_len))
			return TF_RW_EREQUEST;
	if (!h->chunked && body_len != (h->content_length < 0 ? 0 : (size_t)h->content_length))
		return TF_RW_EREQUEST;
	return 0;
}

/* Offset just past the end of the line holding p (its '\n'). */
static size_t line_end(const char *raw, size_t raw_len, const char *p)
{
	size_t i = (size_t)(p - raw);

	while (i < raw_len && raw[i] != '\n')
		i++;
	return i < raw_len ? i + 1 : raw_len;
}

typedef struct rw {
	const tf_h1_head *h;
	const char *raw;
	size_t raw_len;
	hplan plan[TF_H1_MAX_HEADERS];
	tf_buf scratch[TF_H1_MAX_HEADERS]; /* narrowed Accept-Encoding values */
	char cl[24];
	char hex[TF_SHA256_HEX_LEN + 1];
	char *auth;
	tf_sigv4_auth sig;
	bool sigv4;
} rw;

static int plan_headers(rw *w, const jbody *jb, bool target_changed, const tf_rw_changes *ch,
			tf_rw_result *res, bool *signed_change)
{
	const tf_h1_head *h = w->h;
	bool te_done = false;

	snprintf(w->cl, sizeof(w->cl), "%zu", jb->len);
	if (jb->changed) {
		uint8_t d[TF_SHA256_LEN];

		tf_sha256(jb->text, jb->len, d);
		tf_sha256_hex(d, w->hex);
	}
	for (size_t i = 0; i < h->num_headers; i++) {
		const tf_h1_header *f = &h->headers[i];
		span v = { f->value, f->value_len };
		hplan *p = &w->plan[i];

		*p = (hplan){ H_KEEP, NULL, 0 };
		if (name_is(f, "content-length")) {
			if (!span_eq_ci(v, w->cl))
				*p = (hplan){ H_VALUE, w->cl, strlen(w->cl) };
		} else if (name_is(f, "transfer-encoding") && h->chunked) {
			if (w->sigv4 && signed_has(&w->sig, "transfer-encoding"))
				return TF_RW_ESIGNATURE;
			*p = (hplan){ te_done ? H_DROP : H_CL_LINE, w->cl, strlen(w->cl) };
			te_done = true;
			res->dechunked = true;
			/* A signed content-length was empty; now it has a value. */
			if (w->sigv4 && signed_has(&w->sig, "content-length"))
				*signed_change = true;
		} else if (name_is(f, "expect")) {
			if (!(w->sigv4 && signed_has(&w->sig, "expect"))) {
				p->act = H_DROP;
				res->expect_removed = true;
			}
		} else if (name_is(f, "accept-encoding") && ch->narrow_accept_encoding) {
			bool changed;
			int e;

			tf_buf_init(&w->scratch[i], TF_H1_HEAD_CAP);
			if ((e = narrow_accept(v, &w->scratch[i], &changed)))
				return e;
			if (changed) {
				*p = (hplan){ H_VALUE, (const char *)w->scratch[i].data, w->scratch[i].len };
				res->accept_narrowed = true;
				if (w->sigv4 && signed_has(&w->sig, "accept-encoding"))
					*signed_change = true;
			}
		} else if (name_is(f, "x-amz-content-sha256")) {
			span t = trim(v);
			bool streaming = prefix_ci(t, "STREAMING-");

			if (w->sigv4 && streaming && (jb->changed || target_changed))
				return TF_RW_EPAYLOAD;
			if (jb->changed && is_hex64(t))
				*p = (hplan){ H_VALUE, w->hex, TF_SHA256_HEX_LEN };
			else if (jb->changed && w->sigv4 && !span_eq_ci(t, "UNSIGNED-PAYLOAD"))
				return TF_RW_EPAYLOAD;
		}
	}
	return 0;
}

/* The SigV4 facts of the request: w->sigv4 and w->sig. */
static int read_auth(rw *w)
{
	const tf_h1_header *az = tf_h1_find(w->h, "authorization");
	const char *q = memchr(w->h->target, '?', w->h->target_len);
	span query = q ? (span){ q, w->h->target_len - (size_t)(q - w->h->target) } : (span){ "", 0 };
	span v;

	/* A presigned URL carries its signature in the query. */
	for (size_t i = 0; i + 16 <= query.n; i++)
		if (strncasecmp(query.p + i, "X-Amz-Signature=", 16) == 0)
			return TF_RW_ESIGNATURE;
	if (!az)
		return 0;
	v = trim((span){ az->value, az->value_len });

	if (!prefix_ci(v, "AWS4-"))
		return 0; /* Bearer, api keys: nothing to sign */
	if (tf_sigv4_parse_auth(az->value, az->value_len, &w->sig) != 0)
		return TF_RW_ESIGNATURE;
	w->sigv4 = true;
	return 0;
}

static int resign(rw *w, const tf_buf *target, const jbody *jb, const tf_awscreds *creds)
{
	const tf_h1_head *h = w->h;
	tf_sigv4_header hs[TF_H1_MAX_HEADERS];
	const tf_h1_header *az = tf_h1_find(h, "authorization");
	tf_sigv4_creds sc;
	size_t nh = 0, auth_len;
	int e;

	if (!creds || tf_awscreds_find(creds, w->sig.akid.p, w->sig.akid.n, &sc) != 0)
		return TF_RW_ENOCREDS;
	for (size_t i = 0; i < h->num_headers; i++) {
		const tf_h1_header *f = &h->headers[i];
		const hplan *p = &w->plan[i];

		if (p->act == H_DROP)
			continue;
		hs[nh] = (tf_sigv4_header){ f->name, f->name_len, f->value, f->value_len };
		if (p->act == H_VALUE) {
			hs[nh].value = p->v;
			hs[nh].value_len = p->vn;
		} else if (p->act == H_CL_LINE) {
			hs[nh] = (tf_sigv4_header){ "content-length", 14, p->v, p->vn };
		}
		nh++;
	}
	w->auth = malloc(az->value_len + 1);
	if (!w->auth)
		return -ENOMEM;
	e = tf_sigv4_resign(h->method, h->method_len, hs, nh, (const char *)target->data, target->len,
			    jb->text, jb->len, &sc, w->auth, az->value_len + 1, &auth_len);
	switch (e) {
	case 0:
		break;
	case -ENOMEM:
		return e;
	case TF_SIGV4_ECREDS:
		return TF_RW_ENOCREDS;
	case TF_SIGV4_EUNSUPPORTED:
		return TF_RW_EPAYLOAD;
	default:
		return TF_RW_ESIGNATURE;
	}
	for (size_t i = 0; i < h->num_headers; i++)
		if (&h->headers[i] == az)
			w->plan[i] = (hplan){ H_VALUE, w->auth, auth_len };
	return 0;
}

/* Writes the line of header i as planned. */
static int emit_header(const rw *w, size_t i, tf_buf *out)
{
	const tf_h1_header *f = &w->h->headers[i];
	const hplan *p = &w->plan[i];
	size_t start = (size_t)(f->name - w->raw), end = line_end(w->raw, w->raw_len, f->value + f->value_len);
	size_t vs = (size_t)(f->value - w->raw), ve = vs + f->value_len;
	int e = 0;

	switch (p->act) {
	case H_DROP:
		return 0;
	case H_KEEP:
		return tf_buf_append(out, w->raw + start, end - start);
	case H_VALUE:
		e = tf_buf_append(out, w->raw + start, vs - start);
		if (!e)
			e = tf_buf_append(out, p->v, p->vn);
		return e ? e : tf_buf_append(out, w->raw + ve, end - ve);
	default: {
		/* Content-Length in the Transfer-Encoding line's place, its case and line end. */
		bool lower = f->name[0] >= 'a' && f->name[0] <= 'z';
		bool crlf = end >= 2 && w->raw[end - 2] == '\r';

		e = tf_buf_append_str(out, lower ? "content-length: " : "Content-Length: ");
		if (!e)
			e = tf_buf_append(out, p->v, p->vn);
		return e ? e : tf_buf_append_str(out, crlf ? "\r\n" : "\n");
	}
	}
}

static int emit(const rw *w, const tf_buf *target, const jbody *jb, tf_buf *out, size_t *head_len)
{
	const tf_h1_head *h = w->h;
	size_t t0 = (size_t)(h->target - w->raw), t1 = t0 + h->target_len;
	size_t pos = line_end(w->raw, w->raw_len, h->target + h->target_len), mark = out->len;
	int e = tf_buf_append(out, w->raw, t0);

	if (!e)
		e = target->len ? tf_buf_append(out, target->data, target->len) :
				  tf_buf_append(out, h->target, h->target_len);
	if (!e)
		e = tf_buf_append(out, w->raw + t1, pos - t1);
	for (size_t i = 0; i < h->num_headers && !e; i++) {
		e = emit_header(w, i, out);
		pos = line_end(w->raw, w->raw_len, h->headers[i].value + h->headers[i].value_len);
	}
	if (!e)
		e = tf_buf_append(out, w->raw + pos, w->raw_len - pos);
	*head_len = out->len - mark;
	if (!e && jb->len)
		e = tf_buf_append(out, jb->text, jb->len);
	return e;
}

int tf_rw_request(const tf_h1_head *head, const char *raw_head, size_t raw_head_len,
		  const uint8_t *body, size_t body_len, tf_provider provider,
		  const tf_rw_changes *ch, const tf_awscreds *creds, tf_buf *out,
		  tf_rw_result *res)
{
	rw *w;
	jbody jb = { .cap = out->cap };
	tf_buf target;
	size_t mark = out->len;
	bool signed_change = false;
	int e;

	*res = (tf_rw_result){ 0 };
	if ((e = check_input(head, raw_head, raw_head_len, body_len)))
		return e;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->h = head;
	w->raw = raw_head;
	w->raw_len = raw_head_len;
	tf_buf_init(&target, TF_H1_HEAD_CAP);
	e = read_auth(w);
	if (!e)
		e = edit_body(head, body, body_len, provider, ch, &jb, res);
	if (!e)
		e = edit_target(head, provider, ch, &target, res);
	if (!e && ch->model && !res->model_in_path && !res->model_in_body)
		e = TF_RW_ENOMODEL;
	if (!e)
		e = plan_headers(w, &jb, target.len > 0, ch, res, &signed_change);
	if (!e && w->sigv4 && (target.len > 0 || jb.changed || signed_change)) {
		if (target.len == 0)
			e = tf_buf_append(&target, head->target, head->target_len);
		if (!e)
			e = resign(w, &target, &jb, creds);
		res->resigned = e == 0;
	}
	if (!e)
		e = emit(w, &target, &jb, out, &res->head_len);
	res->body_len = jb.len;
	if (e) {
		out->len = mark;
		*res = (tf_rw_result){ 0 };
	}
	for (size_t i = 0; i < TF_H1_MAX_HEADERS; i++)
		tf_buf_free(&w->scratch[i]);
	free(w->auth);
	free(w);
	tf_buf_free(&jb.own);
	tf_buf_free(&target);
	return e;
}

const char *tf_rw_strerror(int e)
{
	switch (e) {
	case 0:
		return "ok";
	case TF_RW_ENOCREDS:
		return "no-credentials";
	case TF_RW_EPAYLOAD:
		return "payload-signing";
	case TF_RW_ENOTJSON:
		return "body-not-json";
	case TF_RW_EFIELD:
		return "field-not-editable";
	case TF_RW_ENOMODEL:
		return "no-model";
	case TF_RW_ESIGNATURE:
		return "signature";
	case TF_RW_EREQUEST:
		return "bad-request";
	case -ENOBUFS:
		return "too-big";
	case -ENOMEM:
		return "no-memory";
	default:
		return "error";
	}
}
