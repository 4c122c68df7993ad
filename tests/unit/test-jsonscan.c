#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "json.h"
#include "jsonscan.h"

#define CAP 256

static tf_jnode nodes[CAP];
static tf_jscan js;

static int scan(const char *s)
{
	return tf_jscan_parse(&js, s, strlen(s), nodes, CAP);
}

/* What tf_json_parse() says of the same text. */
static int dom(const char *s)
{
	tf_json_doc d;
	int r = tf_json_parse(&d, s, strlen(s), NULL, NULL);

	tf_json_doc_free(&d);
	return r;
}

static void expect_ok(const char *s)
{
	cr_expect_eq(scan(s), TF_JSCAN_OK, "not scanned: %s", s);
	cr_expect_eq(dom(s), 0, "the DOM refuses: %s", s);
}

static void expect_invalid(const char *s)
{
	cr_expect_eq(scan(s), -EINVAL, "accepted: %s", s);
	cr_expect_eq(dom(s), -EINVAL, "the DOM accepts: %s", s);
}

static void expect_unsure(const char *s)
{
	cr_expect_eq(scan(s), TF_JSCAN_UNSURE, "decided: %s", s);
}

static const tf_jnode *root(void)
{
	return &js.nodes[0];
}

static bool str_is(const tf_jnode *v, const char *want, size_t n)
{
	char buf[64];

	return v && tf_jscan_type(v) == TF_JSON_STRING && v->len == n &&
	       tf_jscan_str_copy(&js, v, buf, sizeof(buf)) == n && memcmp(buf, want, n) == 0;
}

TestSuite(jsonscan);

Test(jsonscan, values_and_lookups)
{
	const char *s = "{\n  \"a\": [1, -2.5e3, true, false, null],\n  \"b\": {\"c\": \"x\"}, \"\": 0}";
	const tf_jnode *a, *b, *c, *it;
	int64_t i;

	cr_assert_eq(scan(s), TF_JSCAN_OK);
	cr_expect_eq(tf_jscan_type(root()), TF_JSON_OBJECT);
	cr_expect_eq(root()->len, 3);
	cr_expect_eq(root()->start, 0);
	cr_expect_eq(root()->end, strlen(s));
	cr_expect_eq(root()->next, js.n);
	a = tf_jscan_get(&js, root(), "a");
	cr_assert(a && tf_jscan_type(a) == TF_JSON_ARRAY && a->len == 5);
	it = tf_jscan_first(&js, a);
	cr_assert(it && tf_jscan_int64(&js, it, &i) == 0 && i == 1);
	it = tf_jscan_next(&js, a, it);
	cr_assert(it && tf_jscan_type(it) == TF_JSON_NUMBER);
	cr_expect_eq(tf_jscan_int64(&js, it, &i), 0);
	cr_expect_eq(i, -2500);
	it = tf_jscan_next(&js, a, it);
	cr_expect_eq(tf_jscan_type(it), TF_JSON_TRUE);
	it = tf_jscan_next(&js, a, it);
	cr_expect_eq(tf_jscan_type(it), TF_JSON_FALSE);
	it = tf_jscan_next(&js, a, it);
	cr_expect_eq(tf_jscan_type(it), TF_JSON_NULL);
	cr_expect_null(tf_jscan_next(&js, a, it));
	b = tf_jscan_get(&js, root(), "b");
	cr_assert(b && tf_jscan_type(b) == TF_JSON_OBJECT && b->len == 1);
	c = tf_jscan_get(&js, b, "c");
	cr_expect(str_is(c, "x", 1));
	cr_expect(tf_jscan_key_is(&js, c, "c", 1));
	cr_expect_null(tf_jscan_get(&js, b, "zz"));
	cr_expect_null(tf_jscan_get(&js, a, "c"));
	cr_expect_null(tf_jscan_get(&js, c, "c"));
	cr_expect_null(tf_jscan_first(&js, c));
	cr_expect_not_null(tf_jscan_get(&js, root(), ""));
	cr_expect_eq(tf_jscan_int64(&js, c, &i), -EINVAL);
}

Test(jsonscan, scalars_whitespace_bom_and_empty_containers)
{
	expect_ok(" \t\r\n 42 \r\n");
	expect_ok("\"s\"");
	expect_ok("null");
	expect_ok("[]");
	expect_ok("{}");
	expect_ok(" [ ] ");
	expect_ok("{ \"a\" : [ { } , [ ] ] }");
	expect_ok("\xef\xbb\xbf{\"a\":1}");
	cr_assert_eq(scan("[[],{},[1]]"), TF_JSCAN_OK);
	cr_expect_eq(root()->len, 3);
	cr_expect_eq(js.nodes[1].len, 0);
	cr_expect_eq(js.nodes[2].len, 0);
	cr_expect_eq(js.nodes[3].len, 1);
}

Test(jsonscan, strings_decode_as_the_dom)
{
	static const struct {
		const char *json, *text;
		size_t len;
	} cases[] = {
		{ "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\"", "a\"b\\c/d\b\f\n\r\te", 13 },
		{ "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10 },
		{ "\"x\\u0000y\"", "x\0y", 3 },
		{ "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9 },
		{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },
		{ "\"a long plain run of ASCII text past eight bytes\"",
		  "a long plain run of ASCII text past eight bytes", 47 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];

		cr_assert_eq(scan(cases[i].json), TF_JSCAN_OK, "%s", cases[i].json);
		cr_expect(str_is(root(), cases[i].text, cases[i].len), "%s", cases[i].json);
		/* A short copy stops inside a multi-byte character, as a cut DOM string would. */
		for (size_t cap = 0; cap <= cases[i].len; cap++) {
			cr_expect_eq(tf_jscan_str_copy(&js, root(), buf, cap), cap);
			cr_expect_eq(memcmp(buf, cases[i].text, cap), 0, "%s cap %zu", cases[i].json,
				     cap);
		}
	}
}

Test(jsonscan, refuses_what_the_dom_refuses)
{
	static const char *const bad[] = {
		"\"abc", "\"a\\x\"", "\"\\u12G4\"", "\"\\u12\"", "\"\\ud800\"", "\"\\ud800\\u0041\"",
		"\"\\ud800x\"", "\"\\udc00\"", "\"a\tb\"", "[\"a\nb\"]", "\"\x80\"", "\"\xc0\x80\"",
		"\"\xc1\xbf\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		"\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"ab\xe2\x82\"", "\"\xf0\x9f\x98\"",
		"\"\\u00\"e9\"", "\"abcdefgh\\", "[1, 01]", "-", "1.", "1e", "1e+", ".5", "+1", "1x",
		"-01", "tru", "nulll", "True", "NaN", "[Infinity]", "[undefined]", "'a'", "",
		"  \n ", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "{\"a\":1 \"b\":2}",
		"[1", "{\"a\":1", "{\"a\":", "{\"a\":1}\n}", "1 2", "{\r\n\"a\":\r\n[1,,2]}", "[}",
		"{]", "{\"a\":1]", "[1}", "{\"a\"}", "{,}", "[,1]", "\xef\xbb", "\xef\xbb\xbf",
		"{\"a\":1,\"b\":2,\"a\":3}", "{\"x\":{\"k\":1,\n\"k\":2}}", "[{\"q\":1,\"q\":[]}]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_invalid(bad[i]);
}

Test(jsonscan, duplicate_keys_among_many)
{
	char s[4096];
	size_t o = 0;

	/* Many keys, so their hash bits collide without being duplicates. */
	o += (size_t)snprintf(s + o, sizeof(s) - o, "{");
	for (int i = 0; i < 150; i++)
		o += (size_t)snprintf(s + o, sizeof(s) - o, "%s\"k%d\":%d", i ? "," : "", i, i);
	snprintf(s + o, sizeof(s) - o, "}");
	expect_ok(s);
	snprintf(s + o, sizeof(s) - o, ",\"k77\":0}");
	expect_invalid(s);
	expect_ok("{\"a\":1,\"A\":2,\"ab\":3,\"ba\":4,\"x\":{\"a\":5}}");
}

Test(jsonscan, nesting_limit_as_the_dom)
{
	char s[2 * TF_JSON_MAX_DEPTH + 8];
	size_t d;

	for (d = 0; d < TF_JSON_MAX_DEPTH; d++)
		s[d] = '[';
	for (size_t i = 0; i < d; i++)
		s[d + i] = ']';
	s[2 * d] = '\0';
	expect_ok(s);
	memmove(s + 1, s, 2 * d + 1);
	s[0] = '[';
	strcat(s, "]");
	expect_invalid(s);
}

Test(jsonscan, unsure_where_it_cannot_decide_cheaply)
{
	char s[400];

	/* An escaped key: "\u0041" would be a duplicate of "A" for the DOM. */
	expect_unsure("{\"A\":1,\"\\u0041\":2}");
	expect_unsure("{\"a\\n\":1}");
	/* A number past TF_JSCAN_MAX_NUMBER. */
	memset(s, '1', 70);
	s[70] = '\0';
	expect_unsure(s);
	/* More values than nodes. */
	cr_expect_eq(tf_jscan_parse(&js, "[1,2,3]", 7, nodes, 3), TF_JSCAN_UNSURE);
	cr_expect_eq(tf_jscan_parse(&js, "[1,2,3]", 7, nodes, 4), TF_JSCAN_OK);
	/* Refusals still win when they come first. */
	cr_expect_eq(tf_jscan_parse(&js, "[1,,2,3]", 8, nodes, 3), -EINVAL);
}

Test(jsonscan, int64_as_the_dom)
{
	static const struct {
		const char *s;
		int rc;
		int64_t v;
	} cases[] = {
		{ "12", 0, 12 },	{ "1.2e1", 0, 12 },	   { "12.0", 0, 12 },
		{ "-7", 0, -7 },	{ "1.5", -EINVAL, 0 },	   { "1e30", -ERANGE, 0 },
		{ "9223372036854775807", 0, INT64_MAX },     { "9223372036854775808", -ERANGE, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0;

		cr_assert_eq(scan(cases[i].s), TF_JSCAN_OK);
		cr_expect_eq(tf_jscan_int64(&js, root(), &v), cases[i].rc, "%s", cases[i].s);
		if (cases[i].rc == 0)
			cr_expect_eq(v, cases[i].v, "%s", cases[i].s);
	}
}

/* Each text ends right before a PROT_NONE page: no byte past it is read. */
Test(jsonscan, never_reads_past_the_end)
{
	static const char *const texts[] = {
		"\"abc",  "\"abcdefghijklmnop", "\"a\\",	"\"\\u12", "\"\\ud800\\u",
		"\"\xe2\x82", "12",		   "-",		"1e",	   "tru",
		"true",   "{\"a\":1",		   "{\"a\"",	"[1,",	   "{\"abcdefgh\":\"abcdefgh\"}",
	};
	long page = sysconf(_SC_PAGESIZE);
	char *mem = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	cr_assert_neq(mem, MAP_FAILED);
	cr_assert_eq(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t n = strlen(texts[i]);
		char *at = mem + page - n;
		tf_json_doc d;
		int want;

		memcpy(at, texts[i], n);
		want = tf_json_parse(&d, at, n, NULL, NULL);
		tf_json_doc_free(&d);
		cr_expect_eq(tf_jscan_parse(&js, at, n, nodes, CAP), want == 0 ? TF_JSCAN_OK : -EINVAL,
			     "%s", texts[i]);
	}
	munmap(mem, (size_t)page * 2);
}
