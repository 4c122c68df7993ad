#include "jsonscan.h"

#include "utf8.h"

#include <errno.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if !defined(__SSE2__)
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)
#endif

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *skip_ws(const char *p, const char *end)
{
	/* Compact JSON, the usual case: no whitespace at all. */
	if (p < end && (unsigned char)*p > ' ')
		return p;
	while (p < end && (unsigned char)*p <= ' ' && ws(*p))
		p++;
	return p;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The 4 hex digits at s (n bytes available) as a code unit, -1 if they are not. */
static int32_t hex4(const unsigned char *s, size_t n)
{
	int32_t v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(s[i]);

		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

static size_t utf8_bytes(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/*
 * Reads one \ escape at q (q[0] is the backslash, n bytes available):
 * returns its raw length and sets *cp to the code point, or returns 0 when
 * it is invalid.
 */
static size_t escape(const unsigned char *q, size_t n, uint32_t *cp)
{
	int32_t hi, lo;

	if (n < 2)
		return 0;
	switch (q[1]) {
	case '"':
	case '\\':
	case '/':
		*cp = q[1];
		return 2;
	case 'b':
		*cp = '\b';
		return 2;
	case 'f':
		*cp = '\f';
		return 2;
	case 'n':
		*cp = '\n';
		return 2;
	case 'r':
		*cp = '\r';
		return 2;
	case 't':
		*cp = '\t';
		return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	hi = hex4(q + 2, n - 2);
	if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return 0;
	if (hi < 0xd800 || hi > 0xdbff) {
		*cp = (uint32_t)hi;
		return 6;
	}
	if (n < 12 || q[6] != '\\' || q[7] != 'u')
		return 0;
	lo = hex4(q + 8, n - 8);
	if (lo < 0xdc00 || lo > 0xdfff)
		return 0;
	*cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) + (uint32_t)(lo - 0xdc00);
	return 12;
}

/* The escapes other than \u: each decodes to one byte. */
static bool short_escape(unsigned char c)
{
	switch (c) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
		return true;
	default:
		return false;
	}
}

static bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * The first byte at or after q that needs a look in a string (a quote, a
 * backslash, a control character or a byte >= 0x80), or e: 16 bytes at a
 * time where SSE2 is (all x86-64), else 8 (SWAR), then one by one.
 */
static const unsigned char *skip_plain(const unsigned char *q, const unsigned char *e)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	while (e - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		/* Signed: bytes >= 0x80 are below the space too. */
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
					 _mm_cmplt_epi8(v, space));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits)
			return q + __builtin_ctz(bits);
		q += 16;
	}
#else
	while (e - q >= 8) {
		uint64_t w, x, y;

		memcpy(&w, q, 8);
		x = w ^ (ONES * '"');
		y = w ^ (ONES * '\\');
		if ((w | ((w - ONES * 0x20) & ~w) | ((x - ONES) & ~x) | ((y - ONES) & ~y)) & HIGH)
			break;
		q += 8;
	}
#endif
	while (q < e && plain(*q))
		q++;
	return q;
}

/*
 * The string at *pp (on its opening quote): on success *pp is past its
 * closing quote, *dlen is its decoded length and *escaped says whether it
 * held an escape. Returns 0 or -EINVAL.
 */
static inline int scan_string(const char **pp, const char *end, size_t *dlen, bool *escaped)
{
	const unsigned char *q = (const unsigned char *)*pp + 1, *e = (const unsigned char *)end;
	size_t shrink = 0; /* raw bytes minus decoded bytes */
	bool esc = false;

	for (;;) {
		unsigned char c;

		q = skip_plain(q, e);
		if (q >= e)
			return -EINVAL;
		c = *q;
		if (c == '"')
			break;
		if (c == '\\' && e - q >= 2 && short_escape(q[1])) {
			/* The common escapes inline: 2 raw bytes, 1 decoded. */
			shrink++;
			esc = true;
			q += 2;
			continue;
		}
		if (c == '\\') {
			uint32_t cp;
			size_t raw = escape(q, (size_t)(e - q), &cp);

			if (raw == 0)
				return -EINVAL;
			shrink += raw - utf8_bytes(cp);
			esc = true;
			q += raw;
		} else if (c < 0x20) {
			return -EINVAL;
		} else {
			size_t n = tf_utf8_len(q, (size_t)(e - q));

			if (n == 0)
				return -EINVAL;
			q += n;
		}
	}
	*dlen = (size_t)(q - (const unsigned char *)*pp) - 1 - shrink;
	*escaped = esc;
	*pp = (const char *)q + 1;
	return 0;
}

/* policy/json.c's number grammar, and the delimiter it wants after one. */
static int scan_number(const char **pp, const char *end)
{
	const char *q = *pp;

	if (q < end && *q == '-')
		q++;
	if (q < end && *q == '0') {
		q++;
	} else if (q < end && *q >= '1' && *q <= '9') {
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	} else {
		return -EINVAL;
	}
	if (q < end && *q == '.') {
		q++;
		if (q >= end || *q < '0' || *q > '9')
			return -EINVAL;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || *q < '0' || *q > '9')
			return -EINVAL;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && ((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
			(*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '+' ||
			*q == '-'))
		return -EINVAL;
	*pp = q;
	return 0;
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int scan_literal(const char **pp, const char *end, const char *word, size_t n)
{
	const char *p = *pp;

	if ((size_t)(end - p) < n || memcmp(p, word, n) != 0 || (p + n < end && alnum(p[n])))
		return -EINVAL;
	*pp = p + n;
	return 0;
}

/* A cheap hash of a key: a set bit per key seen in an object tells when the
 * keys must really be compared. */
static uint64_t key_bit(const char *k, size_t n)
{
	uint32_t h = (uint32_t)n;

	if (n)
		h = h * 0x9e3779b1u ^ (unsigned char)k[0] * 0x85ebca6bu ^
		    (unsigned char)k[n - 1] * 0xc2b2ae35u ^ (unsigned char)k[n / 2] * 0x27d4eb2fu;
	return UINT64_C(1) << (h >> 26);
}

static bool same_key(const char *text, const tf_jnode *v, const char *k, size_t n)
{
	return v->key_len == n && (n == 0 || (text[v->key] == k[0] && memcmp(text + v->key, k, n) == 0));
}

int tf_jscan_parse(tf_jscan *js, const char *text, size_t len, tf_jnode *nodes, size_t cap)
{
	const char *p = text, *end = text + len;
	uint32_t open[TF_JSON_MAX_DEPTH]; /* node index of each open container */
	uint64_t keys[TF_JSON_MAX_DEPTH]; /* key_bit()s of each open object */
	unsigned depth = 0;
	size_t n = 0, key = 0, key_len = 0;
	tf_jnode *v;

	js->text = text;
	js->nodes = nodes;
	js->n = 0;
	if (cap > TF_JSCAN_MAX_NODES)
		cap = TF_JSCAN_MAX_NODES;
	if (len > TF_JSON_MAX_SIZE)
		return TF_JSCAN_UNSURE;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p += 3;

value:
	p = skip_ws(p, end);
	if (p >= end)
		return -EINVAL;
	if (n == cap)
		return TF_JSCAN_UNSURE;
	v = &nodes[n++];
	v->start = (uint32_t)(p - text);
	v->key = (uint32_t)key;
	v->key_len = (uint16_t)key_len;
	v->len = 0;
	key = key_len = 0;
	switch (*p) {
	case '{':
	case '[':
		if (depth >= TF_JSON_MAX_DEPTH)
			return -EINVAL;
		v->type = *p == '{' ? TF_JSON_OBJECT : TF_JSON_ARRAY;
		open[depth] = (uint32_t)(n - 1);
		keys[depth++] = 0;
		p = skip_ws(p + 1, end);
		if (p < end && *p == (v->type == TF_JSON_OBJECT ? '}' : ']'))
			goto close;
		if (v->type == TF_JSON_OBJECT)
			goto key;
		goto value;
	case '"': {
		size_t dlen;
		bool esc;

		if (scan_string(&p, end, &dlen, &esc) < 0)
			return -EINVAL;
		v->type = TF_JSON_STRING;
		v->len = (uint32_t)dlen;
		break;
	}
	case 't':
		v->type = TF_JSON_TRUE;
		if (scan_literal(&p, end, "true", 4) < 0)
			return -EINVAL;
		break;
	case 'f':
		v->type = TF_JSON_FALSE;
		if (scan_literal(&p, end, "false", 5) < 0)
			return -EINVAL;
		break;
	case 'n':
		v->type = TF_JSON_NULL;
		if (scan_literal(&p, end, "null", 4) < 0)
			return -EINVAL;
		break;
	default:
		v->type = TF_JSON_NUMBER;
		if (scan_number(&p, end) < 0)
			return -EINVAL;
		if ((size_t)(p - text) - v->start > TF_JSCAN_MAX_NUMBER)
			return TF_JSCAN_UNSURE;
		break;
	}
	v->end = (uint32_t)(p - text);
	v->next = (uint16_t)n;

done: /* a value ended at p */
	if (depth == 0) {
		p = skip_ws(p, end);
		if (p != end)
			return -EINVAL;
		js->n = n;
		return TF_JSCAN_OK;
	}
	v = &nodes[open[depth - 1]];
	v->len++;
	p = skip_ws(p, end);
	if (p >= end)
		return -EINVAL;
	if (*p == (v->type == TF_JSON_OBJECT ? '}' : ']'))
		goto close;
	if (*p != ',')
		return -EINVAL;
	p = skip_ws(p + 1, end);
	if (v->type == TF_JSON_ARRAY)
		goto value;

key: /* p is on a member's key, in the object open[depth - 1] */
	{
		const char *k;
		size_t dlen;
		bool esc;
		uint64_t bit;

		if (p >= end || *p != '"')
			return -EINVAL;
		k = p + 1;
		if (scan_string(&p, end, &dlen, &esc) < 0)
			return -EINVAL;
		if (esc || dlen > UINT16_MAX)
			return TF_JSCAN_UNSURE;
		bit = key_bit(k, dlen);
		if (keys[depth - 1] & bit) {
			for (size_t i = open[depth - 1] + 1; i < n; i = nodes[i].next)
				if (same_key(text, &nodes[i], k, dlen))
					return -EINVAL;
		}
		keys[depth - 1] |= bit;
		key = (size_t)(k - text);
		key_len = dlen;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return -EINVAL;
		p++;
		goto value;
	}

close: /* p is on the closing bracket of open[depth - 1] */
	v = &nodes[open[--depth]];
	p++;
	v->end = (uint32_t)(p - text);
	v->next = (uint16_t)n;
	goto done;
}

const tf_jnode *tf_jscan_first(const tf_jscan *js, const tf_jnode *c)
{
	(void)js; /* the children follow their container */
	if ((c->type != TF_JSON_OBJECT && c->type != TF_JSON_ARRAY) || c->len == 0)
		return NULL;
	return c + 1;
}

const tf_jnode *tf_jscan_next(const tf_jscan *js, const tf_jnode *c, const tf_jnode *item)
{
	return item->next < c->next ? &js->nodes[item->next] : NULL;
}

bool tf_jscan_key_is(const tf_jscan *js, const tf_jnode *v, const char *key, size_t key_len)
{
	return same_key(js->text, v, key, key_len);
}

const tf_jnode *tf_jscan_get(const tf_jscan *js, const tf_jnode *obj, const char *key)
{
	size_t n = strlen(key);

	if (obj->type != TF_JSON_OBJECT)
		return NULL;
	for (const tf_jnode *v = tf_jscan_first(js, obj); v; v = tf_jscan_next(js, obj, v))
		if (same_key(js->text, v, key, n))
			return v;
	return NULL;
}

size_t tf_jscan_str_copy(const tf_jscan *js, const tf_jnode *v, char *dst, size_t cap)
{
	const unsigned char *q = (const unsigned char *)js->text + v->start + 1;
	const unsigned char *e = (const unsigned char *)js->text + v->end - 1;
	size_t o = 0;

	if (v->type != TF_JSON_STRING)
		return 0;
	if (v->len == (size_t)(e - q)) { /* no escape: the raw bytes are the text */
		o = v->len < cap ? v->len : cap;
		memcpy(dst, q, o);
		return o;
	}
	while (q < e && o < cap) {
		char tmp[4];
		uint32_t cp = 0;
		size_t raw, k;

		if (*q != '\\') {
			dst[o++] = (char)*q++;
			continue;
		}
		raw = escape(q, (size_t)(e - q), &cp);
		if (raw == 0) /* cannot happen: the scan checked every escape */
			break;
		k = tf_utf8_put(cp, tmp);
		if (k > cap - o)
			k = cap - o;
		memcpy(dst + o, tmp, k);
		o += k;
		q += raw;
	}
	return o;
}

int tf_jscan_int64(const tf_jscan *js, const tf_jnode *v, int64_t *out)
{
	char text[TF_JSCAN_MAX_NUMBER + 1];
	size_t n = v->end - v->start;
	tf_json_value num = { .type = TF_JSON_NUMBER };

	if (v->type != TF_JSON_NUMBER || n > TF_JSCAN_MAX_NUMBER)
		return -EINVAL;
	memcpy(text, js->text + v->start, n);
	text[n] = '\0';
	num.u.num.text = text;
	num.u.num.len = n;
	return tf_json_int64(&num, out);
}
