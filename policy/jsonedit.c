/*
 * Raw-text JSON edits (jsonedit.h). A small validating scanner gives byte
 * offsets; edits copy the untouched bytes around them. Containers are
 * scanned without recursion (a fixed stack of TF_JSON_MAX_DEPTH), so a
 * hostile document costs bounded stack.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonedit.h"
#include "ascii.h"

typedef struct scan {
	const unsigned char *p;
	size_t n;
} scan;

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const scan *s, size_t i)
{
	while (i < s->n && is_ws(s->p[i]))
		i++;
	return i;
}

static size_t skip_bom(const scan *s)
{
	if (s->n >= 3 && s->p[0] == 0xEF && s->p[1] == 0xBB && s->p[2] == 0xBF)
		return 3;
	return 0;
}

/* The 4 hex digits at p[i..i+4) as a number, or -1 (also when cut short). */
static long hex4(const scan *s, size_t i)
{
	long v = 0;

	if (i > s->n || s->n - i < 4)
		return -1;
	for (size_t k = 0; k < 4; k++) {
		int d = tf_hexval(s->p[i + k]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Length of the valid UTF-8 sequence (2..4 bytes) at p[i], else 0
 * (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const scan *s, size_t i)
{
	unsigned char c = s->p[i], lo = 0x80, hi = 0xBF;
	size_t len, k;

	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (s->n - i < len)
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s->p[i + 1] < lo || s->p[i + 1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if (s->p[i + k] < 0x80 || s->p[i + k] > 0xBF)
			return 0;
	return len;
}

/* p[i] is '"'; on success *end is just past the closing quote. */
static int scan_string(const scan *s, size_t i, size_t *end)
{
	i++;
	while (i < s->n) {
		unsigned char c = s->p[i];

		if (c == '"') {
			*end = i + 1;
			return 0;
		}
		if (c < 0x20)
			return TF_JSONEDIT_EMALFORMED;
		if (c == '\\') {
			long cp;

			if (i + 1 >= s->n)
				return TF_JSONEDIT_EMALFORMED;
			if (s->p[i + 1] && strchr("\"\\/bfnrt", s->p[i + 1])) {
				i += 2;
				continue;
			}
			if (s->p[i + 1] != 'u' || (cp = hex4(s, i + 2)) < 0)
				return TF_JSONEDIT_EMALFORMED;
			i += 6;
			if (cp >= 0xDC00 && cp <= 0xDFFF)
				return TF_JSONEDIT_EMALFORMED;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				long lo;

				if (i + 1 >= s->n || s->p[i] != '\\' || s->p[i + 1] != 'u')
					return TF_JSONEDIT_EMALFORMED;
				lo = hex4(s, i + 2);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return TF_JSONEDIT_EMALFORMED;
				i += 6;
			}
			continue;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(s, i);

		if (k == 0)
			return TF_JSONEDIT_EMALFORMED;
		i += k;
	}
	return TF_JSONEDIT_EMALFORMED;
}

static bool is_digit(const scan *s, size_t i)
{
	return i < s->n && s->p[i] >= '0' && s->p[i] <= '9';
}

static int scan_number(const scan *s, size_t i, size_t *end)
{
	if (i < s->n && s->p[i] == '-')
		i++;
	if (!is_digit(s, i))
		return TF_JSONEDIT_EMALFORMED;
	if (s->p[i] == '0')
		i++;
	else
		while (is_digit(s, i))
			i++;
	if (i < s->n && s->p[i] == '.') {
		i++;
		if (!is_digit(s, i))
			return TF_JSONEDIT_EMALFORMED;
		while (is_digit(s, i))
			i++;
	}
	if (i < s->n && (s->p[i] == 'e' || s->p[i] == 'E')) {
		i++;
		if (i < s->n && (s->p[i] == '+' || s->p[i] == '-'))
			i++;
		if (!is_digit(s, i))
			return TF_JSONEDIT_EMALFORMED;
		while (is_digit(s, i))
			i++;
	}
	*end = i;
	return 0;
}

static int scan_literal(const scan *s, size_t i, const char *lit, size_t *end)
{
	size_t k = strlen(lit);

	if (s->n - i < k || memcmp(s->p + i, lit, k) != 0)
		return TF_JSONEDIT_EMALFORMED;
	*end = i + k;
	return 0;
}

static int scan_scalar(const scan *s, size_t i, size_t *end)
{
	switch (s->p[i]) {
	case '"':
		return scan_string(s, i, end);
	case 't':
		return scan_literal(s, i, "true", end);
	case 'f':
		return scan_literal(s, i, "false", end);
	case 'n':
		return scan_literal(s, i, "null", end);
	default:
		return scan_number(s, i, end);
	}
}

/* A member name and its colon: *i at the name (whitespace skipped); on
 * success *i is just past the ':'. */
static int scan_name(const scan *s, size_t *i)
{
	size_t j = *i;
	int e;

	if (j >= s->n || s->p[j] != '"')
		return TF_JSONEDIT_EMALFORMED;
	if ((e = scan_string(s, j, &j)))
		return e;
	j = skip_ws(s, j);
	if (j >= s->n || s->p[j] != ':')
		return TF_JSONEDIT_EMALFORMED;
	*i = j + 1;
	return 0;
}

/*
 * One value starting at or after i (leading whitespace skipped); *end is
 * just past it. Containers are followed with an explicit stack.
 */
static int scan_value(const scan *s, size_t i, size_t *end)
{
	unsigned char stack[TF_JSON_MAX_DEPTH];
	size_t depth = 0;
	int e;

	for (;;) {
		bool closed = false;

		i = skip_ws(s, i);
		if (i >= s->n)
			return TF_JSONEDIT_EMALFORMED;
		if (s->p[i] == '{' || s->p[i] == '[') {
			unsigned char open = s->p[i];

			if (depth == TF_JSON_MAX_DEPTH)
				return TF_JSONEDIT_EDEPTH;
			stack[depth++] = open;
			i = skip_ws(s, i + 1);
			if (i < s->n && s->p[i] == (open == '{' ? '}' : ']')) {
				depth--;
				i++;
				closed = true;
			} else if (open == '{') {
				if ((e = scan_name(s, &i)))
					return e;
				continue;
			} else {
				continue;
			}
		}
		if (!closed && (e = scan_scalar(s, i, &i)))
			return e;
		/* After a complete value: close containers or go to the next item. */
		for (;;) {
			unsigned char top;

			if (depth == 0) {
				*end = i;
				return 0;
			}
			i = skip_ws(s, i);
			if (i >= s->n)
				return TF_JSONEDIT_EMALFORMED;
			top = stack[depth - 1];
			if (s->p[i] == ',') {
				i = skip_ws(s, i + 1);
				if (top == '{' && (e = scan_name(s, &i)))
					return e;
				break;
			}
			if (s->p[i] != (top == '{' ? '}' : ']'))
				return TF_JSONEDIT_EMALFORMED;
			depth--;
			i++;
		}
	}
}

int tf_jsonedit_validate(const char *text, size_t len)
{
	scan s = { (const unsigned char *)text, len };
	size_t end;
	int e;

	if (!text && len)
		return TF_JSONEDIT_EMALFORMED;
	if ((e = scan_value(&s, skip_bom(&s), &end)))
		return e;
	return skip_ws(&s, end) == len ? 0 : TF_JSONEDIT_EMALFORMED;
}

/* ---- member names, decoded ---- */

/* Yields the decoded UTF-8 bytes of a validated string's contents. */
typedef struct name_iter {
	const scan *s;
	size_t i, end;
	unsigned char b[4];
	int bn, bi;
} name_iter;

static void name_iter_init(name_iter *it, const scan *s, size_t open, size_t close_end)
{
	*it = (name_iter){ .s = s, .i = open + 1, .end = close_end - 1 };
}

static int utf8_put(unsigned long cp, unsigned char b[4])
{
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	b[0] = (unsigned char)(0xF0 | (cp >> 18));
	b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	b[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The next decoded byte, or -1 at the end. */
static int name_next(name_iter *it)
{
	const scan *s = it->s;
	unsigned long cp;
	unsigned char c;

	if (it->bi < it->bn)
		return it->b[it->bi++];
	if (it->i >= it->end)
		return -1;
	c = s->p[it->i];
	if (c != '\\') {
		it->i++;
		return c;
	}
	c = s->p[it->i + 1];
	it->i += 2;
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		break;
	default:
		return c; /* '"', '\\', '/' */
	}
	cp = (unsigned long)hex4(s, it->i);
	it->i += 4;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		unsigned long lo = (unsigned long)hex4(s, it->i + 2);

		it->i += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	it->bn = utf8_put(cp, it->b);
	it->bi = 1;
	return it->b[0];
}

typedef struct member {
	size_t name, name_end; /* the quoted name: '"' .. just past '"' */
	size_t val, val_end;
} member;

static int name_cmp(const scan *s, const member *a, const member *b)
{
	name_iter x, y;

	name_iter_init(&x, s, a->name, a->name_end);
	name_iter_init(&y, s, b->name, b->name_end);
	for (;;) {
		int cx = name_next(&x), cy = name_next(&y);

		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx < 0)
			return 0;
	}
}

static bool name_is(const scan *s, const member *m, const char *want)
{
	name_iter it;
	size_t k = 0;
	int c;

	name_iter_init(&it, s, m->name, m->name_end);
	while ((c = name_next(&it)) >= 0) {
		if (want[k] == '\0' || (unsigned char)want[k] != c)
			return false;
		k++;
	}
	return want[k] == '\0';
}

static int cmp_members(const void *a, const void *b, void *ctx)
{
	return name_cmp(ctx, a, b);
}

/* The members of the validated object whose '{' is at open. */
typedef struct object {
	size_t open, close; /* offsets of '{' and '}' */
	member *m;
	size_t n;
} object;

static int read_object(const scan *s, size_t open, object *o)
{
	size_t i = skip_ws(s, open + 1), cap = 0;
	int e;

	*o = (object){ .open = open };
	if (s->p[i] == '}') {
		o->close = i;
		return 0;
	}
	for (;;) {
		member m;
		size_t colon;

		if (o->n == TF_JSONEDIT_MAX_MEMBERS)
			return TF_JSONEDIT_ETOOBIG;
		if (o->n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			member *nm = realloc(o->m, nc * sizeof(*nm));

			if (!nm)
				return -ENOMEM;
			o->m = nm;
			cap = nc;
		}
		m.name = i;
		if ((e = scan_string(s, i, &m.name_end)))
			return e;
		colon = skip_ws(s, m.name_end);
		m.val = skip_ws(s, colon + 1);
		if ((e = scan_value(s, m.val, &m.val_end)))
			return e;
		o->m[o->n++] = m;
		i = skip_ws(s, m.val_end);
		if (s->p[i] == '}') {
			o->close = i;
			return 0;
		}
		i = skip_ws(s, i + 1); /* past ',' */
	}
}

/* TF_JSONEDIT_EDUPLICATE when two members share a decoded name. */
static int check_unique(const scan *s, const object *o)
{
	member *sorted;
	int e = 0;

	if (o->n < 2)
		return 0;
	sorted = malloc(o->n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, o->m, o->n * sizeof(*sorted));
	qsort_r(sorted, o->n, sizeof(*sorted), cmp_members, (void *)s);
	for (size_t i = 1; i < o->n && !e; i++)
		if (name_cmp(s, &sorted[i - 1], &sorted[i]) == 0)
			e = TF_JSONEDIT_EDUPLICATE;
	free(sorted);
	return e;
}

/* Separators of an object, copied when a member is added to it: each is
 * the literal (when not NULL) followed by the text span. */
typedef struct style {
	const char *sep_lit; /* before a new member: "," / ", " */
	size_t sep_off, sep_len;
	const char *kv_lit;  /* between name and value: ":" */
	size_t kv_off, kv_len;
} style;

static void style_of(const scan *s, const object *o, style *st)
{
	*st = (style){ .sep_lit = ",", .kv_lit = ":" };
	if (o->n == 0)
		return;
	st->kv_lit = NULL;
	st->kv_off = o->m[0].name_end;
	st->kv_len = o->m[0].val - o->m[0].name_end;
	if (o->n >= 2) {
		/* The exact bytes between the last two members (comma included). */
		st->sep_lit = NULL;
		st->sep_off = o->m[o->n - 2].val_end;
		st->sep_len = o->m[o->n - 1].name - st->sep_off;
		return;
	}
	/* One member: a pretty-printed object gets "," + its newline and
	 * indentation, a spaced one ", ". */
	if (memchr(s->p + o->open + 1, '\n', o->m[0].name - (o->open + 1))) {
		st->sep_off = o->open + 1;
		st->sep_len = o->m[0].name - st->sep_off;
	} else if (memchr(s->p + st->kv_off, ' ', st->kv_len)) {
		st->sep_lit = ", ";
	}
}

typedef struct walk {
	int found;       /* 0: found; TF_JSONEDIT_NOTFOUND: path[level] is absent */
	size_t level;
	member m;        /* found: the member at the end of the path */
	object obj;      /* not found: the object that lacks path[level] (owns o.m) */
	style st;        /* not found: that object's separators */
	style root_st;   /* separators of the root object (for created objects) */
} walk;

static int check_path(const char *const *path, size_t depth)
{
	if (!path || depth == 0 || depth > TF_JSONEDIT_MAX_PATH)
		return TF_JSONEDIT_EPATH;
	for (size_t i = 0; i < depth; i++)
		if (!path[i])
			return TF_JSONEDIT_EPATH;
	return 0;
}

static int do_walk(const scan *s, const char *const *path, size_t depth, walk *w)
{
	size_t at;
	int e;

	*w = (walk){ 0 };
	if ((e = check_path(path, depth)))
		return e;
	if ((e = tf_jsonedit_validate((const char *)s->p, s->n)))
		return e;
	at = skip_ws(s, skip_bom(s));
	for (size_t k = 0; k < depth; k++) {
		object o;
		size_t hit = SIZE_MAX;

		if (s->p[at] != '{')
			return TF_JSONEDIT_ENOTOBJECT;
		e = read_object(s, at, &o);
		if (e == 0)
			e = check_unique(s, &o);
		if (e) {
			free(o.m);
			return e;
		}
		if (k == 0)
			style_of(s, &o, &w->root_st);
		for (size_t i = 0; i < o.n && hit == SIZE_MAX; i++)
			if (name_is(s, &o.m[i], path[k]))
				hit = i;
		if (hit == SIZE_MAX) {
			w->found = TF_JSONEDIT_NOTFOUND;
			w->level = k;
			w->obj = o;
			style_of(s, &o, &w->st);
			return 0;
		}
		w->m = o.m[hit];
		free(o.m);
		at = w->m.val;
	}
	w->found = 0;
	return 0;
}

int tf_jsonedit_find(const char *text, size_t len, const char *const *path, size_t depth,
		     tf_jsonedit_span *value)
{
	scan s = { (const unsigned char *)text, len };
	walk w;
	int e = do_walk(&s, path, depth, &w);

	free(w.obj.m);
	if (e)
		return e;
	if (w.found)
		return w.found;
	*value = (tf_jsonedit_span){ w.m.val, w.m.val_end - w.m.val };
	return 0;
}

/* Appends the JSON string for name (quote, backslash and controls escaped). */
static int put_name(tf_buf *b, const char *name)
{
	static const char hex[] = "0123456789abcdef";
	int e = tf_buf_append(b, "\"", 1);

	for (const char *c = name; *c && !e; c++) {
		unsigned char u = (unsigned char)*c;

		if (u == '"' || u == '\\') {
			char esc[2] = { '\\', (char)u };
			e = tf_buf_append(b, esc, 2);
		} else if (u < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hex[u >> 4], hex[u & 15] };
			e = tf_buf_append(b, esc, 6);
		} else {
			e = tf_buf_append(b, c, 1);
		}
	}
	return e ? e : tf_buf_append(b, "\"", 1);
}

static int put_sep(tf_buf *b, const scan *s, size_t off, size_t len, const char *lit)
{
	int e = lit ? tf_buf_append_str(b, lit) : 0;

	return e ? e : tf_buf_append(b, s->p + off, len);
}

/* Appends: path[from] <kv> {path[from+1] <kv> {… value …}} */
static int put_member_chain(tf_buf *b, const scan *s, const style *st, const style *inner,
			    const char *const *path, size_t from, size_t depth, const char *value,
			    size_t value_len)
{
	int e = put_name(b, path[from]);
	size_t opened = 0;

	if (!e)
		e = put_sep(b, s, st->kv_off, st->kv_len, st->kv_lit);
	for (size_t k = from + 1; k < depth && !e; k++, opened++) {
		e = tf_buf_append(b, "{", 1);
		if (!e)
			e = put_name(b, path[k]);
		if (!e)
			e = put_sep(b, s, inner->kv_off, inner->kv_len, inner->kv_lit);
	}
	if (!e)
		e = tf_buf_append(b, value, value_len);
	for (; opened && !e; opened--)
		e = tf_buf_append(b, "}", 1);
	return e;
}

static int check_value(const char *value, size_t value_len)
{
	if (!value)
		return TF_JSONEDIT_EMALFORMED;
	return tf_jsonedit_validate(value, value_len) == 0 ? 0 : TF_JSONEDIT_EMALFORMED;
}

/* Commits out[mark..] when the result is valid JSON, else rolls back. */
static int finish(tf_buf *out, size_t mark, int e)
{
	if (e == 0 && tf_jsonedit_validate((const char *)out->data + mark, out->len - mark) != 0)
		e = TF_JSONEDIT_EMALFORMED;
	if (e)
		out->len = mark;
	return e;
}

int tf_jsonedit_replace(const char *text, size_t len, const char *const *path, size_t depth,
			const char *value, size_t value_len, tf_buf *out)
{
	scan s = { (const unsigned char *)text, len };
	size_t mark = out->len;
	walk w;
	int e;

	if ((e = check_value(value, value_len)))
		return e;
	e = do_walk(&s, path, depth, &w);
	free(w.obj.m);
	if (e || w.found)
		return e ? e : w.found;
	e = tf_buf_append(out, text, w.m.val);
	if (!e)
		e = tf_buf_append(out, value, value_len);
	if (!e)
		e = tf_buf_append(out, text + w.m.val_end, len - w.m.val_end);
	return finish(out, mark, e);
}

static int insert_at(const scan *s, const walk *w, const char *const *path, size_t depth,
		     const char *value, size_t value_len, tf_buf *out)
{
	const object *o = &w->obj;
	size_t at = o->n ? o->m[o->n - 1].val_end : o->open + 1;
	int e = tf_buf_append(out, s->p, at);

	if (!e && o->n)
		e = put_sep(out, s, w->st.sep_off, w->st.sep_len, w->st.sep_lit);
	if (!e) {
		/* A created object is written on one line, with the root's ": " style. */
		style inner = w->root_st;

		if (memchr(s->p + inner.kv_off, '\n', inner.kv_len)) {
			inner.kv_lit = ":";
			inner.kv_len = 0;
		}
		e = put_member_chain(out, s, &w->st, &inner, path, w->level, depth, value,
				     value_len);
	}
	if (!e)
		e = tf_buf_append(out, s->p + at, s->n - at);
	return e;
}

int tf_jsonedit_insert(const char *text, size_t len, const char *const *path, size_t depth,
		       const char *value, size_t value_len, unsigned flags, tf_buf *out)
{
	scan s = { (const unsigned char *)text, len };
	size_t mark = out->len;
	walk w;
	int e;

	if ((e = check_value(value, value_len)))
		return e;
	e = do_walk(&s, path, depth, &w);
	if (!e && w.found == 0)
		e = TF_JSONEDIT_EEXISTS;
	else if (!e && w.level + 1 < depth && !(flags & TF_JSONEDIT_CREATE))
		e = TF_JSONEDIT_NOTFOUND;
	if (!e)
		e = finish(out, mark, insert_at(&s, &w, path, depth, value, value_len, out));
	free(w.obj.m);
	return e;
}

int tf_jsonedit_set(const char *text, size_t len, const char *const *path, size_t depth,
		    const char *value, size_t value_len, tf_buf *out)
{
	int e = tf_jsonedit_replace(text, len, path, depth, value, value_len, out);

	if (e == TF_JSONEDIT_NOTFOUND)
		e = tf_jsonedit_insert(text, len, path, depth, value, value_len, TF_JSONEDIT_CREATE,
				       out);
	return e;
}

bool tf_jsonedit_u64(const char *text, tf_jsonedit_span v, uint64_t *out)
{
	uint64_t x = 0;

	if (v.len == 0 || (v.len > 1 && text[v.off] == '0'))
		return false;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)text[v.off + i];

		if (c < '0' || c > '9' || x > (UINT64_MAX - (c - '0')) / 10)
			return false;
		x = x * 10 + (c - '0');
	}
	*out = x;
	return true;
}

bool tf_jsonedit_is(const char *text, tf_jsonedit_span v, char kind)
{
	unsigned char c;

	if (v.len == 0)
		return false;
	c = (unsigned char)text[v.off];
	switch (kind) {
	case 'o':
		return c == '{';
	case 'a':
		return c == '[';
	case 's':
		return c == '"';
	case 'n':
		return c == '-' || (c >= '0' && c <= '9');
	case 't':
		return c == 't';
	case 'f':
		return c == 'f';
	case 'z':
		return c == 'n';
	default:
		return false;
	}
}
