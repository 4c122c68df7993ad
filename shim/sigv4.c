#include "sigv4.h"
#include "ascii.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool span_eq(tf_sigv4_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int put(tf_buf *b, const void *p, size_t n)
{
	return tf_buf_append(b, p, n) == 0 ? 0 : TF_SIGV4_ETOOBIG;
}

static int putc_(tf_buf *b, char c)
{
	return put(b, &c, 1);
}

/* Appends p[0..n) percent-encoded; '/' kept when keep_slash. */
static int put_encoded(tf_buf *b, const char *p, size_t n, bool keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[3];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			run++;
			continue;
		}
		if (run && put(b, p + i - run, run))
			return TF_SIGV4_ETOOBIG;
		run = 0;
		esc[0] = '%';
		esc[1] = hx[c >> 4];
		esc[2] = hx[c & 15];
		if (put(b, esc, 3))
			return TF_SIGV4_ETOOBIG;
	}
	return run ? put(b, p + n - run, run) : 0;
}

/* ---- Authorization ---- */

static tf_sigv4_span trim(const char *p, size_t n)
{
	while (n && is_space((unsigned char)*p))
		p++, n--;
	while (n && is_space((unsigned char)p[n - 1]))
		n--;
	return (tf_sigv4_span){p, n};
}

static int parse_credential(tf_sigv4_span c, tf_sigv4_auth *a)
{
	tf_sigv4_span part[5];
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= c.n; i++) {
		if (i < c.n && c.p[i] != '/')
			continue;
		if (k == 5)
			return TF_SIGV4_EMALFORMED;
		part[k++] = (tf_sigv4_span){c.p + start, i - start};
		start = i + 1;
	}
	if (k != 5 || !span_eq(part[4], "aws4_request"))
		return TF_SIGV4_EMALFORMED;
	for (int i = 0; i < 4; i++)
		if (part[i].n == 0)
			return TF_SIGV4_EMALFORMED;
	if (part[1].n != 8)
		return TF_SIGV4_EMALFORMED;
	for (int i = 0; i < 8; i++)
		if (part[1].p[i] < '0' || part[1].p[i] > '9')
			return TF_SIGV4_EMALFORMED;
	a->credential = c;
	a->akid = part[0];
	a->date = part[1];
	a->region = part[2];
	a->service = part[3];
	return 0;
}

int tf_sigv4_parse_auth(const char *v, size_t n, tf_sigv4_auth *out)
{
	size_t alen = strlen(TF_SIGV4_ALGORITHM), i;
	bool have_c = false, have_h = false, have_s = false;

	memset(out, 0, sizeof(*out));
	while (n && is_space((unsigned char)*v))
		v++, n--;
	if (n < alen || memcmp(v, TF_SIGV4_ALGORITHM, alen) != 0 ||
	    (n > alen && !is_space((unsigned char)v[alen])))
		return TF_SIGV4_ENOTSIGV4;
	i = alen;
	while (i < n) {
		size_t end = i, eq;
		tf_sigv4_span comp, key, val;

		while (end < n && v[end] != ',')
			end++;
		comp = trim(v + i, end - i);
		i = end + 1;
		if (comp.n == 0)
			continue;
		for (eq = 0; eq < comp.n && comp.p[eq] != '='; eq++)
			;
		if (eq == comp.n)
			return TF_SIGV4_EMALFORMED;
		key = trim(comp.p, eq);
		val = trim(comp.p + eq + 1, comp.n - eq - 1);
		if (span_eq(key, "Credential") && !have_c) {
			if (parse_credential(val, out))
				return TF_SIGV4_EMALFORMED;
			have_c = true;
		} else if (span_eq(key, "SignedHeaders") && !have_h) {
			out->signed_headers = val;
			have_h = val.n > 0;
		} else if (span_eq(key, "Signature") && !have_s) {
			if (val.n != TF_SIGV4_SIG_HEX)
				return TF_SIGV4_EMALFORMED;
			for (size_t k = 0; k < val.n; k++)
				if (tf_hexval((unsigned char)val.p[k]) < 0)
					return TF_SIGV4_EMALFORMED;
			out->signature = val;
			have_s = true;
		} else {
			return TF_SIGV4_EMALFORMED;
		}
	}
	return have_c && have_h && have_s ? 0 : TF_SIGV4_EMALFORMED;
}

/* ---- canonical request ---- */

const tf_sigv4_header *tf_sigv4_find(const tf_sigv4_header *h, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == len && strncasecmp(h[i].name, name, len) == 0)
			return &h[i];
	return NULL;
}

int tf_sigv4_payload_hash(const tf_sigv4_header *h, size_t n, const void *body, size_t body_len,
			  char out[TF_SIGV4_HASH_MAX + 1])
{
	const tf_sigv4_header *f = tf_sigv4_find(h, n, "x-amz-content-sha256");
	uint8_t d[TF_SHA256_LEN];

	if (f) {
		tf_sigv4_span v = trim(f->value, f->value_len);

		if (v.n > TF_SIGV4_HASH_MAX)
			return TF_SIGV4_ETOOBIG;
		memcpy(out, v.p, v.n);
		out[v.n] = '\0';
		return (int)v.n;
	}
	tf_sha256(body, body_len, d);
	tf_sha256_hex(d, out);
	return TF_SHA256_HEX_LEN;
}

/*
 * RFC 3986 remove_dot_segments as AWS applies it: empty segments go too, a
 * leading '/' stays, and a trailing '/' stays when anything is left.
 */
int tf_sigv4_canonical_uri(const char *path, size_t n, tf_buf *out)
{
	enum { MAX_SEGS = 512 };
	tf_sigv4_span seg[MAX_SEGS];
	size_t k = 0, start = 0;
	int r;

	if (n == 0)
		return putc_(out, '/');
	for (size_t i = 0; i <= n; i++) {
		tf_sigv4_span s;

		if (i < n && path[i] != '/')
			continue;
		s = (tf_sigv4_span){path + start, i - start};
		start = i + 1;
		if (s.n == 0 || span_eq(s, "."))
			continue;
		if (span_eq(s, "..")) {
			if (k)
				k--;
			continue;
		}
		if (k == MAX_SEGS)
			return TF_SIGV4_ETOOBIG;
		seg[k++] = s;
	}
	if (path[0] == '/' && (r = putc_(out, '/')))
		return r;
	for (size_t i = 0; i < k; i++) {
		if (i && (r = putc_(out, '/')))
			return r;
		if ((r = put_encoded(out, seg[i].p, seg[i].n, false)))
			return r;
	}
	if (k && path[n - 1] == '/' && (r = putc_(out, '/')))
		return r;
	return 0;
}

/* Appends p[0..n) percent-decoded once (malformed escapes kept as they are). */
static int put_decoded(tf_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		char c = p[i];

		if (c == '%' && i + 2 < n && (hi = tf_hexval((unsigned char)p[i + 1])) >= 0 &&
		    (lo = tf_hexval((unsigned char)p[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (putc_(b, c))
			return TF_SIGV4_ETOOBIG;
	}
	return 0;
}

typedef struct qpair {
	size_t koff, klen, voff, vlen; /* offsets into the encoded scratch */
	const char *k, *v;
} qpair;

static int cmp_span(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

static int qpair_cmp(const void *x, const void *y)
{
	const qpair *a = x, *b = y;
	int c = cmp_span(a->k, a->klen, b->k, b->klen);

	return c ? c : cmp_span(a->v, a->vlen, b->v, b->vlen);
}

/* Decodes then re-encodes one name or value into enc; records where it went. */
static int encode_component(tf_buf *enc, tf_buf *tmp, const char *p, size_t n, size_t *off,
			    size_t *len)
{
	int r;

	tf_buf_reset(tmp);
	if ((r = put_decoded(tmp, p, n)))
		return r;
	*off = enc->len;
	if (tmp->len && (r = put_encoded(enc, (const char *)tmp->data, tmp->len, false)))
		return r;
	*len = enc->len - *off;
	return 0;
}

int tf_sigv4_canonical_query(const char *q, size_t n, tf_buf *out)
{
	qpair *pairs = NULL;
	size_t np = 0, start = 0;
	tf_buf enc, tmp;
	int r = 0;

	if (n == 0)
		return 0;
	pairs = calloc(TF_SIGV4_MAX_QUERY, sizeof(*pairs));
	if (!pairs)
		return -ENOMEM;
	tf_buf_init(&enc, TF_SIGV4_CREQ_CAP);
	tf_buf_init(&tmp, TF_SIGV4_CREQ_CAP);
	for (size_t i = 0; i <= n && r == 0; i++) {
		size_t eq, plen;
		const char *p;

		if (i < n && q[i] != '&')
			continue;
		p = q + start;
		plen = i - start;
		start = i + 1;
		if (plen == 0)
			continue;
		if (np == TF_SIGV4_MAX_QUERY) {
			r = TF_SIGV4_ETOOBIG;
			break;
		}
		for (eq = 0; eq < plen && p[eq] != '='; eq++)
			;
		r = encode_component(&enc, &tmp, p, eq, &pairs[np].koff, &pairs[np].klen);
		if (!r)
			r = encode_component(&enc, &tmp, p + (eq < plen ? eq + 1 : plen),
					     eq < plen ? plen - eq - 1 : 0, &pairs[np].voff,
					     &pairs[np].vlen);
		np++;
	}
	if (r == 0) {
		/* The scratch no longer moves: turn offsets into pointers to sort. */
		for (size_t i = 0; i < np; i++) {
			pairs[i].k = (const char *)enc.data + pairs[i].koff;
			pairs[i].v = (const char *)enc.data + pairs[i].voff;
		}
		qsort(pairs, np, sizeof(*pairs), qpair_cmp);
		for (size_t i = 0; i < np && r == 0; i++) {
			if (i)
				r = putc_(out, '&');
			if (!r && pairs[i].klen)
				r = put(out, pairs[i].k, pairs[i].klen);
			if (!r)
				r = putc_(out, '=');
			if (!r && pairs[i].vlen)
				r = put(out, pairs[i].v, pairs[i].vlen);
		}
	}
	tf_buf_free(&enc);
	tf_buf_free(&tmp);
	free(pairs);
	return r;
}

/* Appends value with outer whitespace trimmed and inner runs collapsed to one space. */
static int put_header_value(tf_buf *b, const char *v, size_t n)
{
	tf_sigv4_span t = trim(v, n);
	bool in_space = false;

	for (size_t i = 0; i < t.n; i++) {
		unsigned char c = (unsigned char)t.p[i];

		if (is_space(c)) {
			in_space = true;
			continue;
		}
		if (in_space && putc_(b, ' '))
			return TF_SIGV4_ETOOBIG;
		in_space = false;
		if (putc_(b, (char)c))
			return TF_SIGV4_ETOOBIG;
	}
	return 0;
}

static int put_lower(tf_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (putc_(b, c))
			return TF_SIGV4_ETOOBIG;
	}
	return 0;
}

static int put_canonical_headers(const tf_sigv4_request *r, const char *sh, size_t shn,
				 tf_buf *out)
{
	size_t start = 0, count = 0;
	int e;

	for (size_t i = 0; i <= shn; i++) {
		const char *name;
		size_t nlen;
		bool first = true;

		if (i < shn && sh[i] != ';')
			continue;
		name = sh + start;
		nlen = i - start;
		start = i + 1;
		if (nlen == 0)
			continue;
		if (++count > TF_SIGV4_MAX_SIGNED)
			return TF_SIGV4_ETOOBIG;
		if ((e = put_lower(out, name, nlen)) || (e = putc_(out, ':')))
			return e;
		for (size_t h = 0; h < r->num_headers; h++) {
			const tf_sigv4_header *f = &r->headers[h];

			if (f->name_len != nlen || strncasecmp(f->name, name, nlen) != 0)
				continue;
			if (!first && (e = putc_(out, ',')))
				return e;
			first = false;
			if ((e = put_header_value(out, f->value, f->value_len)))
				return e;
		}
		if ((e = putc_(out, '\n')))
			return e;
	}
	return 0;
}

int tf_sigv4_canonical_request(const tf_sigv4_request *r, const char *signed_headers,
			       size_t signed_headers_len, tf_buf *out)
{
	size_t q = 0;
	int e;

	while (q < r->target_len && r->target[q] != '?')
		q++;
	if ((e = put(out, r->method, r->method_len)) || (e = putc_(out, '\n')) ||
	    (e = tf_sigv4_canonical_uri(r->target, q, out)) || (e = putc_(out, '\n')))
		return e;
	if (q < r->target_len &&
	    (e = tf_sigv4_canonical_query(r->target + q + 1, r->target_len - q - 1, out)))
		return e;
	if ((e = putc_(out, '\n')) ||
	    (e = put_canonical_headers(r, signed_headers, signed_headers_len, out)) ||
	    (e = putc_(out, '\n')) || (e = put(out, signed_headers, signed_headers_len)) ||
	    (e = putc_(out, '\n')) || (e = put(out, r->payload_hash, r->payload_hash_len)))
		return e;
	return 0;
}

int tf_sigv4_string_to_sign(const char *amz_date, size_t amz_date_len, const tf_sigv4_auth *scope,
			    const void *creq, size_t creq_len, tf_buf *out)
{
	uint8_t d[TF_SHA256_LEN];
	char hex[TF_SHA256_HEX_LEN + 1];
	int e;

	tf_sha256(creq, creq_len, d);
	tf_sha256_hex(d, hex);
	if ((e = put(out, TF_SIGV4_ALGORITHM "\n", strlen(TF_SIGV4_ALGORITHM) + 1)) ||
	    (e = put(out, amz_date, amz_date_len)) || (e = putc_(out, '\n')) ||
	    (e = put(out, scope->date.p, scope->date.n)) || (e = putc_(out, '/')) ||
	    (e = put(out, scope->region.p, scope->region.n)) || (e = putc_(out, '/')) ||
	    (e = put(out, scope->service.p, scope->service.n)) ||
	    (e = put(out, "/aws4_request\n", 14)) || (e = put(out, hex, TF_SHA256_HEX_LEN)))
		return e;
	return 0;
}

void tf_sigv4_signing_key(const char *secret, size_t secret_len, const tf_sigv4_auth *scope,
			  uint8_t out[TF_SHA256_LEN])
{
	uint8_t k[TF_SHA256_LEN];
	tf_hmac_sha256_ctx c;

	/* The first key is "AWS4" + secret; one longer than a block is hashed
	 * first (RFC 2104), which needs it in one piece. */
	if (secret_len <= TF_SHA256_BLOCK - 4) {
		uint8_t key[TF_SHA256_BLOCK];

		memcpy(key, "AWS4", 4);
		memcpy(key + 4, secret, secret_len);
		tf_hmac_sha256_init(&c, key, secret_len + 4);
		explicit_bzero(key, sizeof(key));
	} else {
		tf_sha256_ctx h;
		uint8_t hk[TF_SHA256_LEN];

		tf_sha256_init(&h);
		tf_sha256_update(&h, "AWS4", 4);
		tf_sha256_update(&h, secret, secret_len);
		tf_sha256_final(&h, hk);
		tf_hmac_sha256_init(&c, hk, sizeof(hk));
		explicit_bzero(hk, sizeof(hk));
	}
	tf_hmac_sha256_update(&c, scope->date.p, scope->date.n);
	tf_hmac_sha256_final(&c, k);
	tf_hmac_sha256(k, sizeof(k), scope->region.p, scope->region.n, k);
	tf_hmac_sha256(k, sizeof(k), scope->service.p, scope->service.n, k);
	tf_hmac_sha256(k, sizeof(k), "aws4_request", 12, out);
	explicit_bzero(k, sizeof(k));
}

int tf_sigv4_sign(const tf_sigv4_request *r, const tf_sigv4_auth *auth, const char *secret,
		  size_t secret_len, char sig[TF_SIGV4_SIG_HEX + 1])
{
	const tf_sigv4_header *date = tf_sigv4_find(r->headers, r->num_headers, "x-amz-date");
	uint8_t key[TF_SHA256_LEN], mac[TF_SHA256_LEN];
	tf_buf creq, sts;
	tf_sigv4_span d;
	int e;

	if (!date)
		return TF_SIGV4_ENODATE;
	d = trim(date->value, date->value_len);
	tf_buf_init(&creq, TF_SIGV4_CREQ_CAP);
	tf_buf_init(&sts, TF_SIGV4_CREQ_CAP);
	e = tf_sigv4_canonical_request(r, auth->signed_headers.p, auth->signed_headers.n, &creq);
	if (!e)
		e = tf_sigv4_string_to_sign(d.p, d.n, auth, creq.data, creq.len, &sts);
	if (!e) {
		tf_sigv4_signing_key(secret, secret_len, auth, key);
		tf_hmac_sha256(key, sizeof(key), sts.data, sts.len, mac);
		tf_sha256_hex(mac, sig);
		explicit_bzero(key, sizeof(key));
	}
	tf_buf_free(&creq);
	tf_buf_free(&sts);
	return e;
}

int tf_sigv4_verify(const tf_sigv4_request *r, const tf_sigv4_auth *auth, const char *secret,
		    size_t secret_len)
{
	const tf_sigv4_header *date = tf_sigv4_find(r->headers, r->num_headers, "x-amz-date");
	char sig[TF_SIGV4_SIG_HEX + 1];
	tf_sigv4_span d;
	int e;

	if (!date)
		return TF_SIGV4_ENODATE;
	d = trim(date->value, date->value_len);
	if (d.n < 8 || memcmp(d.p, auth->date.p, 8) != 0)
		return TF_SIGV4_EMISMATCH;
	if ((e = tf_sigv4_sign(r, auth, secret, secret_len, sig)))
		return e;
	return tf_ct_equal(sig, auth->signature.p, TF_SIGV4_SIG_HEX) ? 0 : TF_SIGV4_EMISMATCH;
}

/* ---- re-signing ---- */

static bool is_hex64(tf_sigv4_span s)
{
	if (s.n != TF_SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (tf_hexval((unsigned char)s.p[i]) < 0)
			return false;
	return true;
}

int tf_sigv4_resign(const char *method, size_t method_len, const tf_sigv4_header *headers,
		    size_t num_headers, const char *new_target, size_t new_target_len,
		    const void *new_body, size_t new_body_len, const tf_sigv4_creds *creds,
		    char *out, size_t out_size, size_t *out_len)
{
	enum { MAX_FIELDS = 256 };
	const tf_sigv4_header *az = tf_sigv4_find(headers, num_headers, "authorization");
	const tf_sigv4_header *tok = tf_sigv4_find(headers, num_headers, "x-amz-security-token");
	tf_sigv4_header *h;
	tf_sigv4_request r;
	tf_sigv4_auth a;
	char len_str[24], body_hex[TF_SHA256_HEX_LEN + 1], payload[TF_SIGV4_HASH_MAX + 1];
	char sig[TF_SIGV4_SIG_HEX + 1];
	uint8_t d[TF_SHA256_LEN];
	size_t sig_off;
	int e, plen;

	if (!az)
		return TF_SIGV4_ENOTSIGV4;
	if ((e = tf_sigv4_parse_auth(az->value, az->value_len, &a)))
		return e;
	if (creds->akid && (a.akid.n != creds->akid_len ||
			    memcmp(a.akid.p, creds->akid, creds->akid_len) != 0))
		return TF_SIGV4_ECREDS;
	if (creds->token && tok) {
		tf_sigv4_span t = trim(tok->value, tok->value_len);

		if (t.n != creds->token_len || memcmp(t.p, creds->token, t.n) != 0)
			return TF_SIGV4_ECREDS;
	}
	if (num_headers > MAX_FIELDS)
		return TF_SIGV4_ETOOBIG;
	h = calloc(num_headers ? num_headers : 1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(len_str, sizeof(len_str), "%zu", new_body_len);
	tf_sha256(new_body, new_body_len, d);
	tf_sha256_hex(d, body_hex);
	e = 0;
	for (size_t i = 0; i < num_headers; i++) {
		h[i] = headers[i];
		if (h[i].name_len == 14 && strncasecmp(h[i].name, "content-length", 14) == 0) {
			h[i].value = len_str;
			h[i].value_len = strlen(len_str);
		} else if (h[i].name_len == 20 &&
			   strncasecmp(h[i].name, "x-amz-content-sha256", 20) == 0) {
			tf_sigv4_span v = trim(h[i].value, h[i].value_len);

			if (v.n >= 9 && memcmp(v.p, "STREAMING", 9) == 0)
				e = TF_SIGV4_EUNSUPPORTED;
			else if (is_hex64(v)) {
				h[i].value = body_hex;
				h[i].value_len = TF_SHA256_HEX_LEN;
			}
		}
	}
	if (e == 0) {
		plen = tf_sigv4_payload_hash(h, num_headers, new_body, new_body_len, payload);
		if (plen < 0)
			e = plen;
	}
	if (e == 0) {
		r = (tf_sigv4_request){
			.method = method,
			.method_len = method_len,
			.target = new_target,
			.target_len = new_target_len,
			.headers = h,
			.num_headers = num_headers,
			.payload_hash = payload,
			.payload_hash_len = (size_t)plen,
		};
		e = tf_sigv4_sign(&r, &a, creds->secret, creds->secret_len, sig);
	}
	free(h);
	if (e)
		return e;
	if (az->value_len + 1 > out_size)
		return TF_SIGV4_ETOOBIG;
	sig_off = (size_t)(a.signature.p - az->value);
	memcpy(out, az->value, az->value_len);
	memcpy(out + sig_off, sig, TF_SIGV4_SIG_HEX);
	out[az->value_len] = '\0';
	*out_len = az->value_len;
	return 0;
}
