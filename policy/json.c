#include "json.h"

#include "utf8.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------- */

struct tf_json_chunk {
	struct tf_json_chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define CHUNK_MIN ((size_t)4096)
#define CHUNK_MAX ((size_t)1 << 20)

static void *arena_alloc(tf_json_doc *doc, size_t n)
{
	struct tf_json_chunk *c = doc->chunks;
	size_t align = sizeof(max_align_t), size;

	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	if (c && c->size - c->used >= n) {
		void *p = (char *)c->data + c->used;
		c->used += n;
		return p;
	}
	/* Chunks double up to CHUNK_MAX so small documents stay small. */
	size = c ? c->size * 2 : CHUNK_MIN;
	if (size > CHUNK_MAX)
		size = CHUNK_MAX;
	if (size < n)
		size = n;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->size = size;
	c->used = n;
	/* A chunk made for one big item goes behind the current one, which may
	 * still have room for small items. */
	if (doc->chunks && size == n && doc->chunks->size > n) {
		c->next = doc->chunks->next;
		doc->chunks->next = c;
	} else {
		c->next = doc->chunks;
		doc->chunks = c;
	}
	return c->data;
}

void tf_json_doc_free(tf_json_doc *doc)
{
	struct tf_json_chunk *c = doc->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	doc->chunks = NULL;
	doc->root = NULL;
}

/* ---- parser --------------------------------------------------------- */

/*
 * Children of open containers wait on two scratch stacks and are copied
 * into the arena, contiguous, when their container closes; this keeps the
 * DOM compact without knowing sizes in advance.
 */
typedef struct parser {
	const char *p, *end, *line_start;
	uint32_t line;
	unsigned depth, max_depth;
	tf_json_doc *doc;
	tf_json_error *err;
	tf_json_value *vals;
	size_t nvals, avals;
	tf_json_member *mems;
	size_t nmems, amems;
	int rc;
} parser;

static uint32_t col_of(const parser *ps, const char *at)
{
	size_t c = (size_t)(at - ps->line_start) + 1;
	return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

static int fail_at(parser *ps, const char *at, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_at(parser *ps, const char *at, int rc, const char *fmt, ...)
{
	va_list ap;

	if (ps->rc)
		return ps->rc;
	ps->rc = rc;
	if (ps->err) {
		ps->err->line = ps->line;
		ps->err->col = col_of(ps, at);
		va_start(ap, fmt);
		vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int oom(parser *ps)
{
	return fail_at(ps, ps->p, -ENOMEM, "out of memory");
}

/* A printable rendering of a byte for messages. */
static const char *show_byte(unsigned char c, char buf[8])
{
	if (c >= 0x21 && c < 0x7f && c != '\'')
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", c);
	return buf;
}

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end) {
		char c = *ps->p;
		if (c == '\n') {
			ps->line++;
			ps->line_start = ++ps->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else {
			break;
		}
	}
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* The closing quote of a string whose body starts at q, or end. memchr is
 * vectorised; the quote found is only recomputed when an escape steps past
 * it, so the scan stays linear. */
static const char *find_close(const char *q, const char *end)
{
	const char *qt = NULL, *bs;

	for (;;) {
		if (!qt || qt < q) {
			qt = memchr(q, '"', (size_t)(end - q));
			if (!qt)
				return end;
		}
		bs = memchr(q, '\\', (size_t)(qt - q));
		if (!bs)
			return qt;
		q = bs + 2;
		if (q >= end)
			return end;
	}
}

static bool plain_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '\\';
}

/* Length of the run at q of bytes that need no decoding: 8 at a time (any
 * byte < 0x20, >= 0x80 or a backslash stops the word), then one by one. */
static size_t plain_run(const char *q, const char *end)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
	const char *s = q;

	while (end - q >= 8) {
		uint64_t w, x;
		memcpy(&w, q, 8);
		x = w ^ (ones * '\\');
		if ((w & high) | ((w - ones * 0x20) & ~w & high) | ((x - ones) & ~x & high))
			break;
		q += 8;
	}
	while (q < end && plain_byte((unsigned char)*q))
		q++;
	return (size_t)(q - s);
}

/* Parses the string at ps->p (on its opening quote) into arena memory. */
static int parse_string(parser *ps, const char **out, size_t *outlen)
{
	const char *start = ps->p, *q = ps->p + 1, *close;
	char *buf, *o;
	char tmp[8];

	/* First pass: find the closing quote (escaped quotes skipped) so the
	 * output, never longer than the input, can be allocated once. */
	close = find_close(q, ps->end);
	if (close >= ps->end)
		return fail_at(ps, start, -EINVAL, "unterminated string");
	buf = arena_alloc(ps->doc, (size_t)(close - q) + 1);
	if (!buf)
		return oom(ps);
	o = buf;
	while (q < close) {
		unsigned char c = (unsigned char)*q;
		if (c >= 0x20 && c < 0x80 && c != '\\') {
			/* Plain ASCII (nearly all of a prompt): copy the run at once. */
			size_t n = plain_run(q, close);
			memcpy(o, q, n);
			o += n;
			q += n;
			continue;
		}
		if (c == '\\') {
			const char *esc = q;
			uint32_t cp, lo;
			switch (q[1]) {
			case '"': *o++ = '"'; q += 2; continue;
			case '\\': *o++ = '\\'; q += 2; continue;
			case '/': *o++ = '/'; q += 2; continue;
			case 'b': *o++ = '\b'; q += 2; continue;
			case 'f': *o++ = '\f'; q += 2; continue;
			case 'n': *o++ = '\n'; q += 2; continue;
			case 'r': *o++ = '\r'; q += 2; continue;
			case 't': *o++ = '\t'; q += 2; continue;
			case 'u': break;
			default:
				return fail_at(ps, esc, -EINVAL, "invalid escape");
			}
			if (close - q < 6 || hex4(q + 2, &cp) < 0)
				return fail_at(ps, esc, -EINVAL, "invalid \\u escape");
			q += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail_at(ps, esc, -EINVAL, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (close - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return fail_at(ps, esc, -EINVAL, "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				q += 6;
			}
			o += tf_utf8_put(cp, o);
		} else if (c < 0x20) {
			return fail_at(ps, q, -EINVAL, "control character %s in string",
				       show_byte(c, tmp));
		} else {
			size_t n = tf_utf8_len((const unsigned char *)q, (size_t)(close - q));
			if (n == 0)
				return fail_at(ps, q, -EINVAL, "invalid UTF-8 in string");
			memcpy(o, q, n);
			o += n;
			q += n;
		}
	}
	*o = '\0';
	*out = buf;
	*outlen = (size_t)(o - buf);
	ps->p = close + 1;
	return 0;
}

static int parse_number(parser *ps, tf_json_value *v)
{
	const char *s = ps->p, *q = s;
	char *text;

	if (q < ps->end && *q == '-')
		q++;
	if (q < ps->end && *q == '0') {
		q++;
	} else if (q < ps->end && *q >= '1' && *q <= '9') {
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return fail_at(ps, s, -EINVAL, "invalid number");
	}
	if (q < ps->end && *q == '.') {
		q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return fail_at(ps, s, -EINVAL, "invalid number");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < ps->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < ps->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= ps->end || *q < '0' || *q > '9')
			return fail_at(ps, s, -EINVAL, "invalid number");
		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
	}
	/* "01" or "1x": the number must end at a delimiter. */
	if (q < ps->end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
			    (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '+' ||
			    *q == '-'))
		return fail_at(ps, s, -EINVAL, "invalid number");
	text = arena_alloc(ps->doc, (size_t)(q - s) + 1);
	if (!text)
		return oom(ps);
	memcpy(text, s, (size_t)(q - s));
	text[q - s] = '\0';
	v->type = TF_JSON_NUMBER;
	v->u.num.text = text;
	v->u.num.len = (size_t)(q - s);
	ps->p = q;
	return 0;
}

static int literal(parser *ps, const char *word, tf_json_type t, tf_json_value *v)
{
	size_t n = strlen(word);
	char tmp[8];

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0 ||
	    (ps->p + n < ps->end && ((ps->p[n] >= 'a' && ps->p[n] <= 'z') ||
				     (ps->p[n] >= 'A' && ps->p[n] <= 'Z') ||
				     (ps->p[n] >= '0' && ps->p[n] <= '9'))))
		return fail_at(ps, ps->p, -EINVAL, "unexpected %s",
			       show_byte((unsigned char)*ps->p, tmp));
	v->type = t;
	ps->p += n;
	return 0;
}

static int push_val(parser *ps, const tf_json_value *v)
{
	if (ps->nvals == ps->avals) {
		size_t n = ps->avals ? ps->avals * 2 : 64;
		tf_json_value *p = realloc(ps->vals, n * sizeof(*p));
		if (!p)
			return oom(ps);
		ps->vals = p;
		ps->avals = n;
	}
	ps->vals[ps->nvals++] = *v;
	return 0;
}

static int push_mem(parser *ps, const tf_json_member *m)
{
	if (ps->nmems == ps->amems) {
		size_t n = ps->amems ? ps->amems * 2 : 32;
		tf_json_member *p = realloc(ps->mems, n * sizeof(*p));
		if (!p)
			return oom(ps);
		ps->mems = p;
		ps->amems = n;
	}
	ps->mems[ps->nmems++] = *m;
	return 0;
}

static int parse_value(parser *ps, tf_json_value *v);

static int parse_array(parser *ps, tf_json_value *v)
{
	size_t mark = ps->nvals, n;
	char tmp[8];
	int r;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		v->type = TF_JSON_ARRAY;
		return 0;
	}
	for (;;) {
		tf_json_value item;
		r = parse_value(ps, &item);
		if (r < 0)
			return r;
		r = push_val(ps, &item);
		if (r < 0)
			return r;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail_at(ps, ps->p, -EINVAL, "unterminated array");
		if (*ps->p == ']')
			break;
		if (*ps->p != ',')
			return fail_at(ps, ps->p, -EINVAL, "expected ',' or ']', got %s",
				       show_byte((unsigned char)*ps->p, tmp));
		ps->p++;
		skip_ws(ps);
	}
	ps->p++;
	n = ps->nvals - mark;
	v->type = TF_JSON_ARRAY;
	v->u.arr.items = arena_alloc(ps->doc, n * sizeof(tf_json_value));
	if (!v->u.arr.items)
		return oom(ps);
	memcpy(v->u.arr.items, ps->vals + mark, n * sizeof(tf_json_value));
	v->u.arr.n = n;
	ps->nvals = mark;
	return 0;
}

static int key_cmp(const tf_json_member *a, const tf_json_member *b)
{
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return memcmp(a->key, b->key, a->key_len);
}

static int cmp_member_ptr(const void *pa, const void *pb)
{
	const tf_json_member *a = *(const tf_json_member *const *)pa;
	const tf_json_member *b = *(const tf_json_member *const *)pb;
	int c = key_cmp(a, b);

	if (c)
		return c;
	return a < b ? -1 : (a > b);
}

/* Quoted, shortened, printable form of a key for messages. */
static void show_key(const char *k, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < outlen; i++) {
		unsigned char c = (unsigned char)k[i];
		if (i == 40) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

/*
 * The first duplicate key in document order, or NULL. Small objects are
 * checked pairwise; large ones through a sorted index so that a hostile
 * object with many keys costs O(n log n), not O(n^2).
 */
static const tf_json_member *find_duplicate(parser *ps, tf_json_member *m, size_t n)
{
	const tf_json_member *dup = NULL;
	const tf_json_member **idx;

	if (n <= 16) {
		for (size_t j = 1; j < n; j++)
			for (size_t i = 0; i < j; i++)
				if (key_cmp(&m[i], &m[j]) == 0)
					return &m[j];
		return NULL;
	}
	idx = malloc(n * sizeof(*idx));
	if (!idx) {
		oom(ps);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = &m[i];
	qsort(idx, n, sizeof(*idx), cmp_member_ptr);
	for (size_t i = 1; i < n; i++)
		if (key_cmp(idx[i - 1], idx[i]) == 0 && (!dup || idx[i] < dup))
			dup = idx[i];
	free(idx);
	return dup;
}

static int parse_object(parser *ps, tf_json_value *v)
{
	size_t mark = ps->nmems, n;
	const tf_json_member *dup;
	char tmp[8];
	int r;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		v->type = TF_JSON_OBJECT;
		return 0;
	}
	for (;;) {
		tf_json_member m;
		if (ps->p >= ps->end)
			return fail_at(ps, ps->p, -EINVAL, "unterminated object");
		if (*ps->p != '"')
			return fail_at(ps, ps->p, -EINVAL, "expected a string key, got %s",
				       show_byte((unsigned char)*ps->p, tmp));
		m.line = ps->line;
		m.col = col_of(ps, ps->p);
		r = parse_string(ps, &m.key, &m.key_len);
		if (r < 0)
			return r;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail_at(ps, ps->p, -EINVAL, "expected ':' after key");
		ps->p++;
		r = parse_value(ps, &m.value);
		if (r < 0)
			return r;
		r = push_mem(ps, &m);
		if (r < 0)
			return r;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail_at(ps, ps->p, -EINVAL, "unterminated object");
		if (*ps->p == '}')
			break;
		if (*ps->p != ',')
			return fail_at(ps, ps->p, -EINVAL, "expected ',' or '}', got %s",
				       show_byte((unsigned char)*ps->p, tmp));
		ps->p++;
		skip_ws(ps);
	}
	ps->p++;
	n = ps->nmems - mark;
	dup = find_duplicate(ps, ps->mems + mark, n);
	if (ps->rc)
		return ps->rc;
	if (dup) {
		char k[64];
		show_key(dup->key, dup->key_len, k, sizeof(k));
		ps->rc = -EINVAL;
		if (ps->err) {
			ps->err->line = dup->line;
			ps->err->col = dup->col;
			snprintf(ps->err->msg, sizeof(ps->err->msg), "duplicate key \"%s\"", k);
		}
		return -EINVAL;
	}
	v->type = TF_JSON_OBJECT;
	v->u.obj.members = arena_alloc(ps->doc, n * sizeof(tf_json_member));
	if (!v->u.obj.members)
		return oom(ps);
	memcpy(v->u.obj.members, ps->mems + mark, n * sizeof(tf_json_member));
	v->u.obj.n = n;
	ps->nmems = mark;
	return 0;
}

static int parse_value(parser *ps, tf_json_value *v)
{
	char tmp[8];
	int r;

	skip_ws(ps);
	memset(v, 0, sizeof(*v));
	v->line = ps->line;
	v->col = col_of(ps, ps->p);
	if (ps->p >= ps->end)
		return fail_at(ps, ps->p, -EINVAL, "unexpected end of input");
	switch (*ps->p) {
	case '{':
	case '[':
		if (ps->depth >= ps->max_depth)
			return fail_at(ps, ps->p, -EINVAL, "nesting deeper than %u", ps->max_depth);
		ps->depth++;
		r = *ps->p == '{' ? parse_object(ps, v) : parse_array(ps, v);
		ps->depth--;
		return r;
	case '"':
		v->type = TF_JSON_STRING;
		return parse_string(ps, &v->u.str.s, &v->u.str.len);
	case 't':
		return literal(ps, "true", TF_JSON_TRUE, v);
	case 'f':
		return literal(ps, "false", TF_JSON_FALSE, v);
	case 'n':
		return literal(ps, "null", TF_JSON_NULL, v);
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps, v);
		return fail_at(ps, ps->p, -EINVAL, "unexpected %s",
			       show_byte((unsigned char)*ps->p, tmp));
	}
}

int tf_json_parse(tf_json_doc *doc, const char *text, size_t len, const tf_json_limits *lim,
		  tf_json_error *err)
{
	size_t max_size = lim && lim->max_size ? lim->max_size : TF_JSON_MAX_SIZE;
	parser ps = {
		.p = text,
		.end = text + len,
		.line_start = text,
		.line = 1,
		.max_depth = lim && lim->max_depth ? lim->max_depth : TF_JSON_MAX_DEPTH,
		.doc = doc,
		.err = err,
	};
	tf_json_value *root;
	char tmp[8];

	memset(doc, 0, sizeof(*doc));
	if (err)
		memset(err, 0, sizeof(*err));
	if (len > max_size)
		return fail_at(&ps, text, -E2BIG, "document larger than %zu bytes", max_size);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p = ps.line_start = text + 3;
	skip_ws(&ps);
	if (ps.p >= ps.end)
		return fail_at(&ps, ps.p, -EINVAL, "empty document");
	root = arena_alloc(doc, sizeof(*root));
	if (!root)
		return oom(&ps);
	if (parse_value(&ps, root) == 0) {
		skip_ws(&ps);
		if (ps.p < ps.end)
			fail_at(&ps, ps.p, -EINVAL, "unexpected %s after the document",
				show_byte((unsigned char)*ps.p, tmp));
	}
	free(ps.vals);
	free(ps.mems);
	if (ps.rc)
		return ps.rc;
	doc->root = root;
	return 0;
}

/* ---- access --------------------------------------------------------- */

const char *tf_json_type_name(tf_json_type t)
{
	switch (t) {
	case TF_JSON_NULL:
		return "null";
	case TF_JSON_FALSE:
	case TF_JSON_TRUE:
		return "boolean";
	case TF_JSON_NUMBER:
		return "number";
	case TF_JSON_STRING:
		return "string";
	case TF_JSON_ARRAY:
		return "array";
	case TF_JSON_OBJECT:
		break;
	}
	return "object";
}

const tf_json_member *tf_json_get_member(const tf_json_value *obj, const char *key)
{
	size_t n = strlen(key);

	if (!obj || obj->type != TF_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->u.obj.n; i++) {
		const tf_json_member *m = &obj->u.obj.members[i];
		if (m->key_len == n && memcmp(m->key, key, n) == 0)
			return m;
	}
	return NULL;
}

const tf_json_value *tf_json_get(const tf_json_value *obj, const char *key)
{
	const tf_json_member *m = tf_json_get_member(obj, key);

	return m ? &m->value : NULL;
}

/* ---- numbers -------------------------------------------------------- */

/*
 * A number's exact value as its significant digits D (no leading or
 * trailing zeros; nd == 0 means zero) and the position of the decimal
 * point: value = 0.D x 10^point, sign apart.
 */
typedef struct decnum {
	bool neg;
	const char *int_d, *frac_d;
	size_t int_n, lead, nd;
	int64_t point;
} decnum;

static char dec_digit(const decnum *d, size_t i)
{
	i += d->lead;
	return i < d->int_n ? d->int_d[i] : d->frac_d[i - d->int_n];
}

static int decompose(const tf_json_value *v, decnum *d)
{
	const char *p;
	size_t frac_n = 0, total, trail = 0;
	int64_t exp = 0;

	if (!v || v->type != TF_JSON_NUMBER)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	p = v->u.num.text;
	d->neg = *p == '-';
	p += d->neg;
	d->int_d = p;
	while (*p >= '0' && *p <= '9')
		p++;
	d->int_n = (size_t)(p - d->int_d);
	d->frac_d = p;
	if (*p == '.') {
		d->frac_d = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		frac_n = (size_t)(p - d->frac_d);
	}
	if (*p == 'e' || *p == 'E') {
		bool eneg = false;
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		/* Saturate: any exponent past 2^40 is out of every range anyway. */
		for (; *p >= '0' && *p <= '9'; p++)
			if (exp < INT64_C(1) << 40)
				exp = exp * 10 + (*p - '0');
		if (eneg)
			exp = -exp;
	}
	total = d->int_n + frac_n;
	while (d->lead < total && dec_digit(d, 0) == '0')
		d->lead++;
	if (d->lead == total) {
		d->neg = false;
		return 0;
	}
	d->nd = total - d->lead;
	while (dec_digit(d, d->nd - 1 - trail) == '0')
		trail++;
	d->nd -= trail;
	d->point = (int64_t)d->int_n - (int64_t)d->lead + exp;
	return 0;
}

/* Decimals needed after the point (0 for integral values). */
static int64_t dec_frac_digits(const decnum *d)
{
	return (int64_t)d->nd > d->point ? (int64_t)d->nd - d->point : 0;
}

static int dec_print(const decnum *d, char *out, size_t outlen)
{
	size_t o = 0, need;
	int64_t pt = d->point;

	if (d->nd == 0) {
		if (outlen < 2)
			return -ERANGE;
		memcpy(out, "0", 2);
		return 0;
	}
	if (pt > (int64_t)outlen || -pt > (int64_t)outlen)
		return -ERANGE;
	if (pt <= 0)
		need = 2 + (size_t)(-pt) + d->nd;
	else if ((size_t)pt >= d->nd)
		need = (size_t)pt;
	else
		need = d->nd + 1;
	if (d->neg + need + 1 > outlen)
		return -ERANGE;
	if (d->neg)
		out[o++] = '-';
	if (pt <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int64_t i = 0; i < -pt; i++)
			out[o++] = '0';
	}
	for (size_t i = 0; i < d->nd; i++) {
		if (pt > 0 && i == (size_t)pt)
			out[o++] = '.';
		out[o++] = dec_digit(d, i);
	}
	for (int64_t i = (int64_t)d->nd; i < pt; i++)
		out[o++] = '0';
	out[o] = '\0';
	return 0;
}

int tf_json_decimal(const tf_json_value *v, char *out, size_t outlen)
{
	decnum d;
	int r = decompose(v, &d);

	return r < 0 ? r : dec_print(&d, out, outlen);
}

int tf_json_int64(const tf_json_value *v, int64_t *out)
{
	decnum d;
	int64_t r = 0;
	int rc = decompose(v, &d);

	if (rc < 0)
		return rc;
	if (dec_frac_digits(&d) > 0)
		return -EINVAL;
	if (d.point > 19)
		return -ERANGE;
	for (int64_t i = 0; i < (d.nd ? d.point : 0); i++) {
		int digit = (size_t)i < d.nd ? dec_digit(&d, (size_t)i) - '0' : 0;
		if (__builtin_mul_overflow(r, 10, &r) ||
		    (d.neg ? __builtin_sub_overflow(r, digit, &r)
			   : __builtin_add_overflow(r, digit, &r)))
			return -ERANGE;
	}
	*out = r;
	return 0;
}

static int json_money(const tf_json_value *v, tf_money *out, int scale,
		      int (*parse)(const char *, size_t, tf_money *))
{
	char s[64];
	decnum d;
	int rc = decompose(v, &d);

	if (rc < 0)
		return rc;
	if (d.neg || d.point > 19)
		return -ERANGE;
	if (dec_frac_digits(&d) > scale)
		return -EINVAL;
	rc = dec_print(&d, s, sizeof(s));
	return rc < 0 ? rc : parse(s, strlen(s), out);
}

int tf_json_money_usd(const tf_json_value *v, tf_money *out)
{
	return json_money(v, out, 12, tf_money_parse_usd);
}

int tf_json_money_per_mtok(const tf_json_value *v, tf_money *out)
{
	return json_money(v, out, 6, tf_money_parse_per_mtok);
}

int tf_json_double(const tf_json_value *v, double *out)
{
	locale_t c;
	double d;

	if (!v || v->type != TF_JSON_NUMBER)
		return -EINVAL;
	/* The host may have set a locale whose decimal point is ','. */
	c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c)
		return -ENOMEM;
	d = strtod_l(v->u.num.text, NULL, c);
	freelocale(c);
	if (isinf(d))
		return -ERANGE;
	*out = d;
	return 0;
}

/* ---- suggestions ---------------------------------------------------- */

/* Optimal string alignment distance, capped: returns > cap early. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m, size_t cap)
{
	size_t rows[3][48];
	size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];

	if (n >= 48 || m >= 48)
		return cap + 1;
	for (size_t j = 0; j <= m; j++)
		prev[j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t best;
		cur[0] = best = i;
		for (size_t j = 1; j <= m; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t d = prev[j - 1] + cost;
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < d)
				d = pp[j - 2] + 1;
			cur[j] = d;
			if (d < best)
				best = d;
		}
		if (best > cap)
			return cap + 1;
		size_t *t = pp;
		pp = prev;
		prev = cur;
		cur = t;
	}
	return prev[m];
}

const char *tf_json_closest(const char *word, size_t n, const char *const *choices,
			    size_t nchoices)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < nchoices; i++) {
		size_t d = edit_distance(word, n, choices[i], strlen(choices[i]), 2);
		if (d < best_d && d * 2 < n) {
			best = choices[i];
			best_d = d;
		}
	}
	return best;
}

/* ---- writer --------------------------------------------------------- */

static int sep(tf_buf *b)
{
	char last;

	if (b->len == 0)
		return 0;
	last = (char)b->data[b->len - 1];
	if (last == '{' || last == '[' || last == ':' || last == '\n')
		return 0;
	return tf_buf_append(b, ",", 1);
}

/* Each writer call either appends completely or restores the length. */
static int done(tf_buf *b, size_t mark, int rc)
{
	if (rc < 0)
		b->len = mark;
	return rc;
}

static int put_token(tf_buf *b, const char *s, size_t n, bool separate)
{
	size_t mark = b->len;
	int r = separate ? sep(b) : 0;

	if (r == 0)
		r = tf_buf_append(b, s, n);
	return done(b, mark, r);
}

int tf_json_open_object(tf_buf *b)
{
	return put_token(b, "{", 1, true);
}

int tf_json_close_object(tf_buf *b)
{
	return put_token(b, "}", 1, false);
}

int tf_json_open_array(tf_buf *b)
{
	return put_token(b, "[", 1, true);
}

int tf_json_close_array(tf_buf *b)
{
	return put_token(b, "]", 1, false);
}

static int put_escaped(tf_buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t i = 0, run;
	int r;

	r = tf_buf_reserve(b, n + 2);
	if (r < 0)
		return r;
	r = tf_buf_append(b, "\"", 1);
	while (r == 0 && i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t len;
		char esc[8];
		/* Copy runs of plain ASCII in one go. */
		for (run = i; run < n; run++) {
			unsigned char d = (unsigned char)s[run];
			if (d < 0x20 || d >= 0x7f || d == '"' || d == '\\')
				break;
		}
		if (run > i) {
			r = tf_buf_append(b, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			r = tf_buf_append(b, esc, 2);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			const char *named = NULL;
			switch (c) {
			case '\b': named = "\\b"; break;
			case '\f': named = "\\f"; break;
			case '\n': named = "\\n"; break;
			case '\r': named = "\\r"; break;
			case '\t': named = "\\t"; break;
			default: break;
			}
			if (named) {
				r = tf_buf_append(b, named, 2);
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hexd[c >> 4];
				esc[5] = hexd[c & 15];
				r = tf_buf_append(b, esc, 6);
			}
			i++;
			continue;
		}
		len = tf_utf8_len((const unsigned char *)s + i, n - i);
		if (len == 0) {
			r = tf_buf_append(b, "\xef\xbf\xbd", 3);
			i++;
		} else if (len == 3 && (unsigned char)s[i] == 0xe2 &&
			   (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
			/* U+2028/U+2029 end lines in JavaScript. */
			r = tf_buf_append(b, (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			i += 3;
		} else {
			r = tf_buf_append(b, s + i, len);
			i += len;
		}
	}
	if (r == 0)
		r = tf_buf_append(b, "\"", 1);
	return r;
}

int tf_json_put_str(tf_buf *b, const char *s, size_t n)
{
	size_t mark = b->len;
	int r = sep(b);

	if (r == 0)
		r = put_escaped(b, s, n);
	return done(b, mark, r);
}

int tf_json_put_cstr(tf_buf *b, const char *s)
{
	return s ? tf_json_put_str(b, s, strlen(s)) : tf_json_put_null(b);
}

int tf_json_put_keyn(tf_buf *b, const char *key, size_t n)
{
	size_t mark = b->len;
	int r = sep(b);

	if (r == 0)
		r = put_escaped(b, key, n);
	if (r == 0)
		r = tf_buf_append(b, ":", 1);
	return done(b, mark, r);
}

int tf_json_put_key(tf_buf *b, const char *key)
{
	return tf_json_put_keyn(b, key, strlen(key));
}

int tf_json_put_int(tf_buf *b, int64_t v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%lld", (long long)v);

	return put_token(b, s, (size_t)n, true);
}

int tf_json_put_uint(tf_buf *b, uint64_t v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%llu", (unsigned long long)v);

	return put_token(b, s, (size_t)n, true);
}

int tf_json_put_bool(tf_buf *b, bool v)
{
	return v ? put_token(b, "true", 4, true) : put_token(b, "false", 5, true);
}

int tf_json_put_null(tf_buf *b)
{
	return put_token(b, "null", 4, true);
}

int tf_json_put_money(tf_buf *b, tf_money m)
{
	char s[40];
	uint64_t a = m < 0 ? (uint64_t)0 - (uint64_t)m : (uint64_t)m;
	uint64_t whole = a / (uint64_t)TF_MONEY_PER_USD, frac = a % (uint64_t)TF_MONEY_PER_USD;
	int n = snprintf(s, sizeof(s), "%s%llu.%012llu", m < 0 ? "-" : "",
			 (unsigned long long)whole, (unsigned long long)frac);

	while (s[n - 1] == '0')
		n--;
	if (s[n - 1] == '.')
		n--;
	return put_token(b, s, (size_t)n, true);
}

int tf_json_put_double(tf_buf *b, double v)
{
	char s[40];
	int n = 0;
	locale_t c, old;

	if (!isfinite(v))
		return tf_json_put_null(b);
	c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c)
		return -ENOMEM;
	old = uselocale(c);
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	uselocale(old);
	freelocale(c);
	return put_token(b, s, (size_t)n, true);
}

static int put_value(tf_buf *b, const tf_json_value *v)
{
	int r = 0;

	switch (v->type) {
	case TF_JSON_NULL:
		return tf_json_put_null(b);
	case TF_JSON_FALSE:
		return tf_json_put_bool(b, false);
	case TF_JSON_TRUE:
		return tf_json_put_bool(b, true);
	case TF_JSON_NUMBER:
		return put_token(b, v->u.num.text, v->u.num.len, true);
	case TF_JSON_STRING:
		return tf_json_put_str(b, v->u.str.s, v->u.str.len);
	case TF_JSON_ARRAY:
		r = tf_json_open_array(b);
		for (size_t i = 0; r == 0 && i < v->u.arr.n; i++)
			r = put_value(b, &v->u.arr.items[i]);
		return r ? r : tf_json_close_array(b);
	case TF_JSON_OBJECT:
		r = tf_json_open_object(b);
		for (size_t i = 0; r == 0 && i < v->u.obj.n; i++) {
			const tf_json_member *m = &v->u.obj.members[i];
			r = tf_json_put_keyn(b, m->key, m->key_len);
			if (r == 0)
				r = put_value(b, &m->value);
		}
		return r ? r : tf_json_close_object(b);
	}
	return -EINVAL;
}

int tf_json_put_value(tf_buf *b, const tf_json_value *v)
{
	size_t mark = b->len;

	return done(b, mark, put_value(b, v));
}
