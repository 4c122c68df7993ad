#include <criterion/criterion.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "json.h"

static tf_json_doc doc;
static tf_json_error jerr;

static void teardown(void)
{
	tf_json_doc_free(&doc);
}

TestSuite(json, .fini = teardown);

static int parse(const char *s)
{
	tf_json_doc_free(&doc);
	return tf_json_parse(&doc, s, strlen(s), NULL, &jerr);
}

static void expect_error(const char *s, uint32_t line, uint32_t col, const char *msg_part)
{
	int r = parse(s);

	cr_expect_eq(r, -EINVAL, "accepted: %s", s);
	if (r != -EINVAL)
		return;
	cr_expect_eq(jerr.line, line, "%s: line %u, expected %u (%s)", s, jerr.line, line, jerr.msg);
	cr_expect_eq(jerr.col, col, "%s: col %u, expected %u (%s)", s, jerr.col, col, jerr.msg);
	cr_expect(strstr(jerr.msg, msg_part) != NULL, "%s: message \"%s\" lacks \"%s\"", s,
		  jerr.msg, msg_part);
}

/* ---- values and positions ------------------------------------------- */

Test(json, all_types_and_positions)
{
	const char *s = "{\n  \"a\": [1, -2.5e3, true, false, null],\n  \"b\": {\"c\": \"x\"}\n}";
	const tf_json_value *a, *b;

	cr_assert_eq(parse(s), 0, "%s", jerr.msg);
	cr_assert_eq(doc.root->type, TF_JSON_OBJECT);
	cr_expect_eq(doc.root->line, 1);
	cr_expect_eq(doc.root->col, 1);
	cr_assert_eq(doc.root->u.obj.n, 2);
	cr_expect_str_eq(doc.root->u.obj.members[0].key, "a");
	cr_expect_eq(doc.root->u.obj.members[0].line, 2);
	cr_expect_eq(doc.root->u.obj.members[0].col, 3);
	a = tf_json_get(doc.root, "a");
	cr_assert(a && a->type == TF_JSON_ARRAY && a->u.arr.n == 5);
	cr_expect_eq(a->line, 2);
	cr_expect_eq(a->col, 8);
	cr_expect_str_eq(a->u.arr.items[1].u.num.text, "-2.5e3");
	cr_expect_eq(a->u.arr.items[1].col, 12);
	cr_expect_eq(a->u.arr.items[2].type, TF_JSON_TRUE);
	cr_expect_eq(a->u.arr.items[3].type, TF_JSON_FALSE);
	cr_expect_eq(a->u.arr.items[4].type, TF_JSON_NULL);
	b = tf_json_get(doc.root, "b");
	cr_assert(b && b->line == 3);
	cr_expect_str_eq(tf_json_get(b, "c")->u.str.s, "x");
	cr_expect_null(tf_json_get(b, "zz"));
	cr_expect_null(tf_json_get(a, "c"));
	cr_expect_str_eq(tf_json_type_name(TF_JSON_TRUE), "boolean");
	cr_expect_str_eq(tf_json_type_name(TF_JSON_OBJECT), "object");
}

Test(json, scalars_at_top_and_whitespace)
{
	cr_expect_eq(parse(" \t\r\n 42 \r\n"), 0);
	cr_expect_eq(doc.root->type, TF_JSON_NUMBER);
	cr_expect_eq(doc.root->line, 2);
	cr_expect_eq(doc.root->col, 2);
	cr_expect_eq(parse("\"s\""), 0);
	cr_expect_eq(parse("null"), 0);
	cr_expect_eq(parse("[]"), 0);
	cr_expect_eq(doc.root->u.arr.n, 0);
	cr_expect_eq(parse("{}"), 0);
	/* RFC 8259 §8.1 lets a parser skip a byte order mark. */
	cr_expect_eq(parse("\xef\xbb\xbf{\"a\":1}"), 0);
	cr_expect_eq(doc.root->col, 1);
}

Test(json, members_keep_document_order)
{
	cr_assert_eq(parse("{\"z\":1,\"a\":2,\"m\":3}"), 0);
	cr_expect_str_eq(doc.root->u.obj.members[0].key, "z");
	cr_expect_str_eq(doc.root->u.obj.members[1].key, "a");
	cr_expect_str_eq(doc.root->u.obj.members[2].key, "m");
	cr_expect_str_eq(tf_json_get_member(doc.root, "m")->value.u.num.text, "3");
}

Test(json, doc_does_not_reference_input)
{
	char *s = strdup("{\"key\":[\"value\",12]}");

	cr_assert_eq(tf_json_parse(&doc, s, strlen(s), NULL, &jerr), 0);
	memset(s, 'x', strlen(s));
	free(s);
	cr_expect_str_eq(doc.root->u.obj.members[0].key, "key");
	cr_expect_str_eq(doc.root->u.obj.members[0].value.u.arr.items[0].u.str.s, "value");
	cr_expect_str_eq(doc.root->u.obj.members[0].value.u.arr.items[1].u.num.text, "12");
}

/* ---- strings -------------------------------------------------------- */

Test(json, string_escapes)
{
	cr_assert_eq(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\te\""), 0, "%s", jerr.msg);
	cr_expect_str_eq(doc.root->u.str.s, "a\"b\\c/d\b\f\n\r\te");
	cr_assert_eq(parse("\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\""), 0, "%s", jerr.msg);
	cr_expect_str_eq(doc.root->u.str.s, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	cr_assert_eq(parse("\"x\\u0000y\""), 0);
	cr_expect_eq(doc.root->u.str.len, 3);
	cr_expect(memcmp(doc.root->u.str.s, "x\0y", 3) == 0);
	/* Raw UTF-8 passes through. */
	cr_assert_eq(parse("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""), 0);
	cr_expect_eq(doc.root->u.str.len, 9);
	cr_assert_eq(parse("\"\\uDBFF\\uDFFF\""), 0);
	cr_expect_str_eq(doc.root->u.str.s, "\xf4\x8f\xbf\xbf");
}

Test(json, string_errors)
{
	expect_error("\"abc", 1, 1, "unterminated string");
	expect_error("\"a\\x\"", 1, 3, "invalid escape");
	expect_error("\"\\u12G4\"", 1, 2, "invalid \\u escape");
	expect_error("\"\\u12\"", 1, 2, "invalid \\u escape");
	expect_error("\"\\ud800\"", 1, 2, "lone high surrogate");
	expect_error("\"\\ud800\\u0041\"", 1, 2, "lone high surrogate");
	expect_error("\"\\ud800x\"", 1, 2, "lone high surrogate");
	expect_error("\"\\udc00\"", 1, 2, "lone low surrogate");
	expect_error("\"a\tb\"", 1, 3, "control character");
	expect_error("[\"a\nb\"]", 1, 4, "control character");
	expect_error("\"\x80\"", 1, 2, "invalid UTF-8");
	expect_error("\"\xc0\x80\"", 1, 2, "invalid UTF-8");        /* overlong NUL */
	expect_error("\"\xc1\xbf\"", 1, 2, "invalid UTF-8");        /* overlong */
	expect_error("\"\xe0\x80\x80\"", 1, 2, "invalid UTF-8");    /* overlong */
	expect_error("\"\xed\xa0\x80\"", 1, 2, "invalid UTF-8");    /* encoded surrogate */
	expect_error("\"\xf4\x90\x80\x80\"", 1, 2, "invalid UTF-8"); /* > U+10FFFF */
	expect_error("\"\xf5\x80\x80\x80\"", 1, 2, "invalid UTF-8");
	expect_error("\"\xff\"", 1, 2, "invalid UTF-8");
	expect_error("\"ab\xe2\x82\"", 1, 4, "invalid UTF-8");      /* truncated */
	expect_error("\"\xf0\x9f\x98\"", 1, 2, "invalid UTF-8");
}

/* ---- numbers and literals ------------------------------------------- */

Test(json, number_grammar)
{
	static const char *const ok[] = { "0", "-0", "1", "-12", "0.5", "-0.25", "1e5", "1E+5",
					  "1e-5", "12.5e-3", "123456789012345678901234567890" };
	static const char *const bad[] = { "01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "1.e3",
					   "0x10", "1ee2", "--1", "1.2.3", "-a" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_expect_eq(parse(ok[i]), 0, "%s: %s", ok[i], jerr.msg);
		if (doc.root)
			cr_expect_str_eq(doc.root->u.num.text, ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse(bad[i]), -EINVAL, "accepted %s", bad[i]);
	expect_error("[1, 01]", 1, 5, "invalid number");
}

Test(json, literal_errors)
{
	expect_error("tru", 1, 1, "unexpected 't'");
	expect_error("nulll", 1, 1, "unexpected 'n'");
	expect_error("True", 1, 1, "unexpected 'T'");
	expect_error("NaN", 1, 1, "unexpected 'N'");
	expect_error("[Infinity]", 1, 2, "unexpected 'I'");
	expect_error("[undefined]", 1, 2, "unexpected 'u'");
	expect_error("'a'", 1, 1, "unexpected 0x27");
}

/* ---- structure ------------------------------------------------------ */

Test(json, structure_errors)
{
	expect_error("", 1, 1, "empty document");
	expect_error("  \n ", 2, 2, "empty document");
	expect_error("[1,]", 1, 4, "unexpected ']'");
	expect_error("{\"a\":1,}", 1, 8, "expected a string key");
	expect_error("{\"a\" 1}", 1, 6, "expected ':'");
	expect_error("{a:1}", 1, 2, "expected a string key");
	expect_error("[1 2]", 1, 4, "expected ',' or ']'");
	expect_error("{\"a\":1 \"b\":2}", 1, 8, "expected ',' or '}'");
	expect_error("[1", 1, 3, "unterminated array");
	expect_error("{\"a\":1", 1, 7, "unterminated object");
	expect_error("{\"a\":", 1, 6, "unexpected end");
	expect_error("{\"a\":1}\n}", 2, 1, "after the document");
	expect_error("1 2", 1, 3, "after the document");
	tf_json_doc_free(&doc);
	cr_expect_eq(tf_json_parse(&doc, "[1]\0", 4, NULL, &jerr), -EINVAL);
	cr_expect(jerr.col == 4 && strstr(jerr.msg, "0x00 after the document"), "%s", jerr.msg);
}

Test(json, error_line_and_column_count_lines)
{
	expect_error("{\n  \"max_cost\": 3,\n  \"x\": tru\n}", 3, 8, "unexpected 't'");
	/* CRLF counts as one line. */
	expect_error("{\r\n\"a\":\r\n[1,,2]}", 3, 4, "unexpected ','");
}

Test(json, duplicate_keys_are_errors)
{
	char big[4096];
	size_t o = 0;

	expect_error("{\"a\":1,\"b\":2,\"a\":3}", 1, 14, "duplicate key \"a\"");
	expect_error("{\"x\":{\"k\":1,\n\"k\":2}}", 2, 1, "duplicate key \"k\"");
	/* Keys compare as bytes after unescaping. */
	expect_error("{\"A\":1,\"\\u0041\":2}", 1, 8, "duplicate key \"A\"");
	cr_expect_eq(parse("{\"a\":1,\"A\":2}"), 0);
	/* Large objects go through the sorted check; report the first
	 * duplicate in document order. */
	o += (size_t)snprintf(big + o, sizeof(big) - o, "{");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s\"k%d\":%d", i ? "," : "", i, i);
	o += (size_t)snprintf(big + o, sizeof(big) - o, ",\n\"k77\":0,\"k5\":0}");
	expect_error(big, 2, 1, "duplicate key \"k77\"");
	big[o - 17] = '}';
	big[o - 16] = '\0';
	cr_expect_eq(parse(big), 0, "%s", jerr.msg);
	cr_expect_eq(doc.root->u.obj.n, 100);
}

Test(json, duplicate_key_message_is_printable)
{
	expect_error("{\"\\n\\u0001\":1,\"\\n\\u0001\":2}", 1, 15, "duplicate key \"\\x0a\\x01\"");
}

Test(json, depth_limit)
{
	char s[300];
	tf_json_limits lim = { .max_depth = 3 };

	memset(s, '[', 64);
	memset(s + 64, ']', 64);
	s[128] = '\0';
	cr_expect_eq(parse(s), 0, "%s", jerr.msg);
	memset(s, '[', 65);
	memset(s + 65, ']', 65);
	s[130] = '\0';
	expect_error(s, 1, 65, "nesting deeper than 64");
	tf_json_doc_free(&doc);
	cr_expect_eq(tf_json_parse(&doc, "[[[1]]]", 7, &lim, &jerr), 0);
	tf_json_doc_free(&doc);
	cr_expect_eq(tf_json_parse(&doc, "[{\"a\":[[]]}]", 12, &lim, &jerr), -EINVAL);
	cr_expect_eq(jerr.col, 8);
}

Test(json, deep_nesting_does_not_recurse_unbounded)
{
	size_t n = 1000000;
	char *s = malloc(n + 1);

	memset(s, '[', n);
	s[n] = '\0';
	cr_expect_eq(tf_json_parse(&doc, s, n, NULL, &jerr), -EINVAL);
	cr_expect(strstr(jerr.msg, "nesting") != NULL);
	free(s);
}

Test(json, size_limit)
{
	tf_json_limits lim = { .max_size = 8 };

	cr_expect_eq(tf_json_parse(&doc, "[1,2,3]", 7, &lim, &jerr), 0);
	tf_json_doc_free(&doc);
	cr_expect_eq(tf_json_parse(&doc, "[1,2,3,4]", 9, &lim, &jerr), -E2BIG);
	cr_expect(strstr(jerr.msg, "larger than 8 bytes") != NULL, "%s", jerr.msg);
}

Test(json, many_values_use_the_arena)
{
	size_t n = 200000, o = 0;
	char *s = malloc(n * 2 + 3);

	s[o++] = '[';
	for (size_t i = 0; i < n; i++) {
		s[o++] = (char)('0' + i % 10);
		s[o++] = ',';
	}
	s[o - 1] = ']';
	cr_assert_eq(tf_json_parse(&doc, s, o, NULL, &jerr), 0, "%s", jerr.msg);
	cr_expect_eq(doc.root->u.arr.n, n);
	cr_expect_str_eq(doc.root->u.arr.items[n - 1].u.num.text, "9");
	free(s);
}

/* Every prefix of a document sits right before an unreadable page: the
 * parser must reject or accept it without reading past its end. */
Test(json, prefixes_before_a_guard_page)
{
	static const char *const docs[] = {
		"{\"a\": [1, -2.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {}}",
		"\"\xf0\x9f\x98\x80\\\"\"",
		"[0.5e-10, {\"k\": \"v\"}]",
		"\xef\xbb\xbf 123",
	};
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	cr_assert(map != MAP_FAILED);
	cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		size_t len = strlen(docs[d]);
		for (size_t cut = 0; cut <= len; cut++) {
			char *at = map + page - cut;
			int r;
			memcpy(at, docs[d], cut);
			r = tf_json_parse(&doc, at, cut, NULL, &jerr);
			cr_expect(r == 0 || r == -EINVAL, "doc %zu cut %zu: %d", d, cut, r);
			if (cut == len)
				cr_expect_eq(r, 0, "doc %zu whole: %s", d, jerr.msg);
			tf_json_doc_free(&doc);
		}
	}
	munmap(map, (size_t)page * 2);
}

/* ---- number conversions --------------------------------------------- */

static const tf_json_value *num(const char *s)
{
	cr_assert_eq(parse(s), 0, "%s", s);
	return doc.root;
}

Test(json, decimal_is_exact)
{
	static const char *const cases[][2] = {
		{ "0", "0" },
		{ "-0", "0" },
		{ "-0.000e5", "0" },
		{ "150", "150" },
		{ "1.50e2", "150" },
		{ "1.5e-7", "0.00000015" },
		{ "3.75E-06", "0.00000375" },
		{ "0.0000032", "0.0000032" },
		{ "-12.340", "-12.34" },
		{ "0.10", "0.1" },
		{ "1e0", "1" },
		{ "12e-1", "1.2" },
		{ "0.012e3", "12" },
		{ "120e-3", "0.12" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(tf_json_decimal(num(cases[i][0]), out, sizeof(out)), 0, "%s",
			     cases[i][0]);
		cr_expect_str_eq(out, cases[i][1], "%s -> %s", cases[i][0], out);
	}
	cr_expect_eq(tf_json_decimal(num("1e100"), out, sizeof(out)), -ERANGE);
	cr_expect_eq(tf_json_decimal(num("1e-100"), out, sizeof(out)), -ERANGE);
	cr_expect_eq(tf_json_decimal(num("1e99999999999999999999"), out, sizeof(out)), -ERANGE);
	cr_expect_eq(tf_json_decimal(num("0e99999999999999999999"), out, sizeof(out)), 0);
	cr_expect_eq(tf_json_decimal(num("12345"), out, 5), -ERANGE);
	cr_expect_eq(tf_json_decimal(num("12345"), out, 6), 0);
	cr_expect_eq(tf_json_decimal(num("\"1\""), out, sizeof(out)), -EINVAL);
}

Test(json, int64_exact_and_range_checked)
{
	int64_t v;

	cr_expect(tf_json_int64(num("0"), &v) == 0 && v == 0);
	cr_expect(tf_json_int64(num("-17"), &v) == 0 && v == -17);
	cr_expect(tf_json_int64(num("1.2e1"), &v) == 0 && v == 12);
	cr_expect(tf_json_int64(num("12.000"), &v) == 0 && v == 12);
	cr_expect(tf_json_int64(num("1e18"), &v) == 0 && v == INT64_C(1000000000000000000));
	cr_expect(tf_json_int64(num("9223372036854775807"), &v) == 0 && v == INT64_MAX);
	cr_expect(tf_json_int64(num("-9223372036854775808"), &v) == 0 && v == INT64_MIN);
	cr_expect_eq(tf_json_int64(num("9223372036854775808"), &v), -ERANGE);
	cr_expect_eq(tf_json_int64(num("-9223372036854775809"), &v), -ERANGE);
	cr_expect_eq(tf_json_int64(num("1e19"), &v), -ERANGE);
	cr_expect_eq(tf_json_int64(num("1e400"), &v), -ERANGE);
	cr_expect_eq(tf_json_int64(num("1.5"), &v), -EINVAL);
	cr_expect_eq(tf_json_int64(num("1e-400"), &v), -EINVAL);
	cr_expect_eq(tf_json_int64(num("true"), &v), -EINVAL);
}

Test(json, money_exact)
{
	tf_money m;

	cr_expect(tf_json_money_usd(num("3"), &m) == 0 && m == 3 * TF_MONEY_PER_USD);
	cr_expect(tf_json_money_usd(num("0.000000000001"), &m) == 0 && m == 1);
	cr_expect(tf_json_money_usd(num("1e-12"), &m) == 0 && m == 1);
	cr_expect(tf_json_money_usd(num("2.5e3"), &m) == 0 && m == 2500 * TF_MONEY_PER_USD);
	cr_expect(tf_json_money_usd(num("-0"), &m) == 0 && m == 0);
	cr_expect_eq(tf_json_money_usd(num("-1"), &m), -ERANGE);
	cr_expect_eq(tf_json_money_usd(num("9000001"), &m), -ERANGE);
	cr_expect_eq(tf_json_money_usd(num("1e30"), &m), -ERANGE);
	cr_expect_eq(tf_json_money_usd(num("1e-13"), &m), -EINVAL);
	cr_expect_eq(tf_json_money_usd(num("1e-300"), &m), -EINVAL);
	/* USD per 1M tokens: 6 decimals at most. */
	cr_expect(tf_json_money_per_mtok(num("3.75"), &m) == 0 && m == 3750000);
	cr_expect(tf_json_money_per_mtok(num("0.035"), &m) == 0 && m == 35000);
	cr_expect(tf_json_money_per_mtok(num("3.5e-2"), &m) == 0 && m == 35000);
	cr_expect(tf_json_money_per_mtok(num("0.000001"), &m) == 0 && m == 1);
	cr_expect_eq(tf_json_money_per_mtok(num("0.0000001"), &m), -EINVAL);
	cr_expect_eq(tf_json_money_per_mtok(num("-3"), &m), -ERANGE);
}

Test(json, double_ignores_locale)
{
	double d;

	cr_expect(tf_json_double(num("0.75"), &d) == 0 && d == 0.75);
	cr_expect(tf_json_double(num("-1.5e3"), &d) == 0 && d == -1500.0);
	cr_expect_eq(tf_json_double(num("1e400"), &d), -ERANGE);
	cr_expect(tf_json_double(num("1e-400"), &d) == 0 && d == 0.0);
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		tf_buf b = { 0 };
		cr_expect(tf_json_double(num("0.75"), &d) == 0 && d == 0.75);
		cr_expect_eq(tf_json_put_double(&b, 0.75), 0);
		cr_expect(b.len == 4 && memcmp(b.data, "0.75", 4) == 0);
		tf_buf_free(&b);
		setlocale(LC_NUMERIC, "C");
	}
}

/* ---- suggestions ---------------------------------------------------- */

Test(json, closest_key)
{
	static const char *const keys[] = { "max_cost", "max_cost_per_request", "max_requests",
					    "warn_at", "window", "h2" };

	cr_expect_str_eq(tf_json_closest("max_cots", 8, keys, 6), "max_cost");
	cr_expect_str_eq(tf_json_closest("max_cost_per_reqest", 19, keys, 6),
			 "max_cost_per_request");
	cr_expect_str_eq(tf_json_closest("warn-at", 7, keys, 6), "warn_at");
	cr_expect_str_eq(tf_json_closest("windw", 5, keys, 6), "window");
	cr_expect_null(tf_json_closest("budget", 6, keys, 6));
	cr_expect_null(tf_json_closest("h3", 2, keys, 6));
	cr_expect_null(tf_json_closest("", 0, keys, 6));
}

/* ---- writer --------------------------------------------------------- */

static tf_buf out;

static const char *text(void)
{
	if (tf_buf_append(&out, "", 1) == 0)
		out.len--;
	return (const char *)out.data;
}

Test(json, writer_separators)
{
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_json_open_object(&out), 0);
	cr_assert_eq(tf_json_put_key(&out, "a"), 0);
	cr_assert_eq(tf_json_put_int(&out, -5), 0);
	cr_assert_eq(tf_json_put_key(&out, "b"), 0);
	cr_assert_eq(tf_json_open_array(&out), 0);
	cr_assert_eq(tf_json_put_uint(&out, UINT64_MAX), 0);
	cr_assert_eq(tf_json_put_bool(&out, true), 0);
	cr_assert_eq(tf_json_put_null(&out), 0);
	cr_assert_eq(tf_json_put_cstr(&out, NULL), 0);
	cr_assert_eq(tf_json_open_object(&out), 0);
	cr_assert_eq(tf_json_close_object(&out), 0);
	cr_assert_eq(tf_json_close_array(&out), 0);
	cr_assert_eq(tf_json_put_key(&out, "c"), 0);
	cr_assert_eq(tf_json_put_cstr(&out, "x"), 0);
	cr_assert_eq(tf_json_close_object(&out), 0);
	cr_expect_str_eq(text(), "{\"a\":-5,\"b\":[18446744073709551615,true,null,null,{}],\"c\":\"x\"}");
	/* JSON lines: a newline starts a new document. */
	cr_assert_eq(tf_buf_append(&out, "\n", 1), 0);
	cr_assert_eq(tf_json_open_object(&out), 0);
	cr_assert_eq(tf_json_close_object(&out), 0);
	cr_expect(strstr(text(), "}\n{}") != NULL);
	tf_buf_free(&out);
}

Test(json, writer_escapes_and_repairs_utf8)
{
	static const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f"
				 "\xc3\xa9\xe2\x80\xa8\xe2\x80\xa9\xf0\x9f\x98\x80"
				 "\xff\xc3\xed\xa0\x80z";

	tf_buf_init(&out, 0);
	cr_assert_eq(tf_json_put_str(&out, in, sizeof(in) - 1), 0);
	cr_expect_str_eq(text(), "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f"
				 "\xc3\xa9\\u2028\\u2029\xf0\x9f\x98\x80"
				 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\"");
	/* And what it wrote parses back. */
	cr_assert_eq(tf_json_parse(&doc, (const char *)out.data, out.len, NULL, &jerr), 0, "%s",
		     jerr.msg);
	cr_expect_eq(doc.root->type, TF_JSON_STRING);
	cr_expect(memcmp(doc.root->u.str.s, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f", 14) == 0);
	tf_buf_free(&out);
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_json_put_str(&out, "a\0b", 3), 0);
	cr_expect_str_eq(text(), "\"a\\u0000b\"");
	tf_buf_free(&out);
}

Test(json, writer_money_and_double)
{
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_json_open_array(&out), 0);
	tf_json_put_money(&out, 0);
	tf_json_put_money(&out, 3 * TF_MONEY_PER_USD);
	tf_json_put_money(&out, 3702000000);
	tf_json_put_money(&out, 1);
	tf_json_put_money(&out, -1500000000000);
	tf_json_put_money(&out, INT64_MAX);
	tf_json_put_double(&out, 0.1);
	tf_json_put_double(&out, 1e300);
	tf_json_put_double(&out, NAN);
	tf_json_put_double(&out, -INFINITY);
	tf_json_put_double(&out, 1.0 / 3.0);
	tf_json_close_array(&out);
	cr_expect_str_eq(text(), "[0,3,0.003702,0.000000000001,-1.5,9223372.036854775807,"
				 "0.1,1e+300,null,null,0.3333333333333333]");
	cr_assert_eq(tf_json_parse(&doc, (const char *)out.data, out.len, NULL, &jerr), 0);
	tf_buf_free(&out);
}

Test(json, writer_is_all_or_nothing_at_the_cap)
{
	tf_buf_init(&out, 10);
	cr_assert_eq(tf_json_open_array(&out), 0);
	cr_assert_eq(tf_json_put_cstr(&out, "abc"), 0);
	cr_expect_eq(tf_json_put_cstr(&out, "defgh"), -ENOBUFS);
	cr_expect_eq(out.len, 6);
	cr_expect_eq(tf_json_put_key(&out, "toolong"), -ENOBUFS);
	cr_expect_eq(out.len, 6);
	cr_assert_eq(tf_json_put_int(&out, 7), 0);
	cr_assert_eq(tf_json_close_array(&out), 0);
	cr_expect_eq(out.len, 9);
	cr_expect(memcmp(out.data, "[\"abc\",7]", 9) == 0);
	tf_buf_free(&out);
}

Test(json, put_value_round_trips)
{
	const char *s = "{\"a\": [1, -2.50e3, true, false, null, \"x\\u00e9\\n\"], \"b\": {\"c\": {}},"
			" \"d\": [[], [[]]]}";
	tf_json_doc again;

	cr_assert_eq(parse(s), 0);
	tf_buf_init(&out, 0);
	cr_assert_eq(tf_json_put_value(&out, doc.root), 0);
	cr_expect_str_eq(text(), "{\"a\":[1,-2.50e3,true,false,null,\"x\xc3\xa9\\n\"],\"b\":{\"c\":{}},"
				 "\"d\":[[],[[]]]}");
	cr_assert_eq(tf_json_parse(&again, (const char *)out.data, out.len, NULL, &jerr), 0);
	tf_json_doc_free(&again);
	tf_buf_free(&out);
}
