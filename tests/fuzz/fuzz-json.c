/*
 * libFuzzer harness for policy/json.
 *
 * Invariants: parsing never crashes or over-reads (ASan), every number
 * helper copes with every accepted number, and an accepted document,
 * written back with tf_json_put_value() and parsed again, gives the same
 * DOM (same types, key order, string bytes and number text). policy/jsonscan
 * agrees: what it scans the DOM accepts, with the same values on its tape
 * (decoded strings, number text and conversions, keys, lookups); what it
 * refuses the DOM refuses.
 *
 * Fuzz: tests/fuzz/run 60 json (the corpus replays in `meson test --suite fuzz`).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const tf_json_value *a, const tf_json_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case TF_JSON_NUMBER:
		return a->u.num.len == b->u.num.len &&
		       memcmp(a->u.num.text, b->u.num.text, a->u.num.len) == 0;
	case TF_JSON_STRING:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case TF_JSON_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return false;
		for (size_t i = 0; i < a->u.arr.n; i++)
			if (!same(&a->u.arr.items[i], &b->u.arr.items[i]))
				return false;
		return true;
	case TF_JSON_OBJECT:
		if (a->u.obj.n != b->u.obj.n)
			return false;
		for (size_t i = 0; i < a->u.obj.n; i++) {
			const tf_json_member *x = &a->u.obj.members[i], *y = &b->u.obj.members[i];
			if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
			    !same(&x->value, &y->value))
				return false;
		}
		return true;
	default:
		return true;
	}
}

static void touch_numbers(const tf_json_value *v)
{
	char d[64];
	int64_t i;
	tf_money m;
	double f;

	switch (v->type) {
	case TF_JSON_NUMBER:
		tf_json_decimal(v, d, sizeof(d));
		tf_json_int64(v, &i);
		tf_json_money_usd(v, &m);
		tf_json_money_per_mtok(v, &m);
		tf_json_double(v, &f);
		break;
	case TF_JSON_ARRAY:
		for (size_t k = 0; k < v->u.arr.n; k++)
			touch_numbers(&v->u.arr.items[k]);
		break;
	case TF_JSON_OBJECT:
		for (size_t k = 0; k < v->u.obj.n; k++)
			touch_numbers(&v->u.obj.members[k].value);
		break;
	default:
		break;
	}
}

static bool same_tape(const tf_jscan *js, const tf_jnode *t, const tf_json_value *v)
{
	char buf[256];
	int64_t a = 0, b = 0;

	if (tf_jscan_type(t) != v->type || t->end <= t->start)
		return false;
	switch (v->type) {
	case TF_JSON_NUMBER:
		if (t->end - t->start != v->u.num.len ||
		    memcmp(js->text + t->start, v->u.num.text, v->u.num.len) != 0)
			return false;
		return tf_jscan_int64(js, t, &a) == tf_json_int64(v, &b) && a == b;
	case TF_JSON_STRING: {
		size_t half = v->u.str.len / 2 < sizeof(buf) ? v->u.str.len / 2 : sizeof(buf);
		char *all;
		bool ok;

		if (t->len != v->u.str.len || tf_jscan_str_copy(js, t, buf, half) != half ||
		    memcmp(buf, v->u.str.s, half) != 0)
			return false;
		all = malloc(v->u.str.len + 1);
		if (!all)
			abort();
		ok = tf_jscan_str_copy(js, t, all, v->u.str.len + 1) == v->u.str.len &&
		     memcmp(all, v->u.str.s, v->u.str.len) == 0;
		free(all);
		return ok;
	}
	case TF_JSON_ARRAY: {
		const tf_jnode *c = tf_jscan_first(js, t);

		if (t->len != v->u.arr.n)
			return false;
		for (size_t i = 0; i < v->u.arr.n; i++, c = tf_jscan_next(js, t, c))
			if (!c || !same_tape(js, c, &v->u.arr.items[i]))
				return false;
		return c == NULL;
	}
	case TF_JSON_OBJECT: {
		const tf_jnode *c = tf_jscan_first(js, t);

		if (t->len != v->u.obj.n)
			return false;
		for (size_t i = 0; i < v->u.obj.n; i++, c = tf_jscan_next(js, t, c)) {
			const tf_json_member *m = &v->u.obj.members[i];

			if (!c || !tf_jscan_key_is(js, c, m->key, m->key_len) ||
			    !same_tape(js, c, &m->value))
				return false;
			if (!memchr(m->key, 0, m->key_len) && tf_jscan_get(js, t, m->key) != c)
				return false;
		}
		return c == NULL;
	}
	default:
		return true;
	}
}

/* r: what tf_json_parse() said with default limits. */
static void check_scan(const uint8_t *data, size_t size, const tf_json_doc *doc, int r)
{
	static tf_jnode nodes[1024];
	tf_jscan js;
	int s = tf_jscan_parse(&js, (const char *)data, size, nodes, 1024);

	if (s == TF_JSCAN_OK) {
		if (r != 0 || !same_tape(&js, &js.nodes[0], doc->root) || js.nodes[0].next != js.n)
			abort();
	} else if (s == -EINVAL) {
		if (r != -EINVAL)
			abort();
	} else if (s != TF_JSCAN_UNSURE) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tf_json_limits lim = { .max_size = (size_t)1 << 20 };
	tf_json_doc doc, again;
	tf_json_error err;
	tf_buf out;
	int r;

	r = tf_json_parse(&doc, (const char *)data, size, &lim, &err);
	if (size <= lim.max_size)
		check_scan(data, size, &doc, r);
	if (r != 0) {
		if (r != -EINVAL && r != -E2BIG && r != -ENOMEM)
			abort();
		tf_json_doc_free(&doc);
		return 0;
	}
	touch_numbers(doc.root);
	tf_buf_init(&out, 0);
	if (tf_json_put_value(&out, doc.root) != 0)
		abort();
	/* Escaping can grow a string up to 2x (raw U+2028 -> \u2028). */
	lim.max_size = out.len + 1;
	if (tf_json_parse(&again, (const char *)out.data, out.len, &lim, &err) != 0 ||
	    !same(doc.root, again.root))
		abort();
	tf_json_doc_free(&again);
	tf_json_doc_free(&doc);
	tf_buf_free(&out);
	return 0;
}
