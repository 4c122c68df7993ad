/*
 * policy/jsonedit: byte spans by key path, replace, insert, strictness, and
 * that nothing outside the edit changes. Request bodies are shaped like the
 * ones the SDKs send (reference/WIRE.md §1.4, §4.5, §5): Python's json.dumps
 * (", " / ": "), JS's JSON.stringify (compact), and pretty-printed text.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "json.h"
#include "jsonedit.h"
#include "split.h"

#define P(...) ((const char *const[]){ __VA_ARGS__ })
#define N(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static tf_buf out;

static void setup(void)
{
	tf_buf_init(&out, 0);
}

static void teardown(void)
{
	tf_buf_free(&out);
}

TestSuite(jsonedit, .init = setup, .fini = teardown);

static const char *out_str(void)
{
	cr_assert_eq(tf_buf_append(&out, "", 1), 0);
	out.len--;
	return (const char *)out.data;
}

static void find_ok(const char *doc, const char *const *path, size_t depth, const char *want)
{
	tf_jsonedit_span v;
	int e = tf_jsonedit_find(doc, strlen(doc), path, depth, &v);

	cr_assert_eq(e, 0, "find in %s: %d", doc, e);
	cr_assert_eq(v.len, strlen(want), "span %.*s want %s", (int)v.len, doc + v.off, want);
	cr_assert(memcmp(doc + v.off, want, v.len) == 0, "span %.*s want %s", (int)v.len,
		  doc + v.off, want);
}

#define FIND_OK(doc, want, ...) find_ok(doc, P(__VA_ARGS__), N(__VA_ARGS__), want)

static int find_err(const char *doc, const char *const *path, size_t depth)
{
	tf_jsonedit_span v = { 0 };

	return tf_jsonedit_find(doc, strlen(doc), path, depth, &v);
}

#define FIND_ERR(doc, ...) find_err(doc, P(__VA_ARGS__), N(__VA_ARGS__))

Test(jsonedit, find_each_family_field)
{
	FIND_OK("{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": 100, "
		"\"messages\": [{\"role\": \"user\", \"content\": \"max_tokens\"}]}",
		"100", "max_tokens");
	FIND_OK("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}],"
		"\"inferenceConfig\":{\"temperature\":0.5,\"maxTokens\":512}}",
		"512", "inferenceConfig", "maxTokens");
	FIND_OK("{\"inputText\":\"x\",\"textGenerationConfig\":{\"maxTokenCount\": 4096 }}", "4096",
		"textGenerationConfig", "maxTokenCount");
	FIND_OK("{\"prompt\":\"p\",\"max_gen_len\":2048}", "2048", "max_gen_len");
	FIND_OK("{\"model\":\"my-deploy\",\"stream\":true}", "\"my-deploy\"", "model");
	FIND_OK("{\"stream_options\":{\"include_usage\":false}}", "false", "stream_options",
		"include_usage");
	FIND_OK("{\"a\":{\"b\":{\"c\":[1,{\"d\":2}]}}}", "[1,{\"d\":2}]", "a", "b", "c");
	FIND_OK("{\"a\":{\"b\":null}}", "{\"b\":null}", "a");
}

Test(jsonedit, find_ignores_lookalikes_in_values_and_deeper_levels)
{
	/* "max_tokens" as a string value, inside a nested object, and inside an
	 * escaped string must not be taken for the top-level member. */
	const char *doc = "{\"system\":\"\\\"max_tokens\\\": 9\",\"tools\":[{\"max_tokens\":7}],"
			  "\"extra\":{\"max_tokens\":8},\"max_tokens\":10}";

	FIND_OK(doc, "10", "max_tokens");
	FIND_OK(doc, "8", "extra", "max_tokens");
}

Test(jsonedit, names_are_compared_decoded)
{
	FIND_OK("{\"max\\u005ftokens\":5}", "5", "max_tokens");
	FIND_OK("{\"\\u006d\\u006fdel\":\"x\"}", "\"x\"", "model");
	/* A non-ASCII name, raw and escaped (U+00E9, U+1F600 as a surrogate pair). */
	FIND_OK("{\"caf\xc3\xa9\":1}", "1", "caf\xc3\xa9");
	FIND_OK("{\"caf\\u00e9\":1}", "1", "caf\xc3\xa9");
	FIND_OK("{\"\\ud83d\\ude00\":2}", "2", "\xf0\x9f\x98\x80");
	FIND_OK("{\"a\\/b\":3}", "3", "a/b");
	cr_assert_eq(FIND_ERR("{\"max_token\":1}", "max_tokens"), TF_JSONEDIT_NOTFOUND);
	cr_assert_eq(FIND_ERR("{\"max_tokens_\":1}", "max_tokens"), TF_JSONEDIT_NOTFOUND);
}

Test(jsonedit, duplicates_on_the_path_are_refused)
{
	cr_assert_eq(FIND_ERR("{\"max_tokens\":1,\"max_tokens\":2}", "max_tokens"),
		     TF_JSONEDIT_EDUPLICATE);
	/* The same name once escaped: a server that decodes sees two. */
	cr_assert_eq(FIND_ERR("{\"max_tokens\":1,\"max\\u005ftokens\":99999}", "max_tokens"),
		     TF_JSONEDIT_EDUPLICATE);
	/* Any repeated name at an edited level is ambiguous enough to refuse. */
	cr_assert_eq(FIND_ERR("{\"a\":1,\"a\":2,\"max_tokens\":3}", "max_tokens"),
		     TF_JSONEDIT_EDUPLICATE);
	cr_assert_eq(FIND_ERR("{\"inferenceConfig\":{\"maxTokens\":1,\"maxTokens\":2}}",
			      "inferenceConfig", "maxTokens"),
		     TF_JSONEDIT_EDUPLICATE);
	/* Off the path they do not matter. */
	FIND_OK("{\"x\":{\"a\":1,\"a\":2},\"max_tokens\":3}", "3", "max_tokens");
	FIND_OK("{\"m\":[{\"a\":1,\"a\":2}],\"max_tokens\":3}", "3", "max_tokens");
}

Test(jsonedit, path_through_non_objects)
{
	cr_assert_eq(FIND_ERR("[1,2]", "a"), TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(FIND_ERR("\"s\"", "a"), TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(FIND_ERR("{\"a\":[{\"b\":1}]}", "a", "b"), TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(FIND_ERR("{\"a\":null}", "a", "b"), TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(FIND_ERR("{\"a\":{}}", "a", "b"), TF_JSONEDIT_NOTFOUND);
	cr_assert_eq(FIND_ERR("{}", "a", "b"), TF_JSONEDIT_NOTFOUND);
}

Test(jsonedit, bad_paths)
{
	tf_jsonedit_span v;
	const char *nine[9] = { "a", "a", "a", "a", "a", "a", "a", "a", "a" };
	const char *withnull[2] = { "a", NULL };

	cr_assert_eq(tf_jsonedit_find("{}", 2, nine, 0, &v), TF_JSONEDIT_EPATH);
	cr_assert_eq(tf_jsonedit_find("{}", 2, NULL, 1, &v), TF_JSONEDIT_EPATH);
	cr_assert_eq(tf_jsonedit_find("{}", 2, nine, 9, &v), TF_JSONEDIT_EPATH);
	cr_assert_eq(tf_jsonedit_find("{}", 2, withnull, 2, &v), TF_JSONEDIT_EPATH);
}

/* ---- strictness: same verdict as the DOM parser (duplicates aside) ---- */

struct doc_case {
	char text[96];
	int valid;
};

ParameterizedTestParameters(jsonedit, strict_like_dom_parser)
{
	static struct doc_case cases[] = {
		{ "{}", 1 },
		{ " \t\r\n{ } \n", 1 },
		{ "\xef\xbb\xbf{\"a\":1}", 1 },
		{ "[1,-0,0.5,1e5,1E+5,-1.25e-3,true,false,null,\"\"]", 1 },
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\ud83d\\ude00\"", 1 },
		{ "{\"k\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}", 1 },
		{ "{\"a\":[],\"b\":{},\"c\":[[]]}", 1 },
		{ "", 0 },
		{ "   ", 0 },
		{ "{", 0 },
		{ "{\"a\":1,}", 0 },
		{ "[1,]", 0 },
		{ "{\"a\" 1}", 0 },
		{ "{a:1}", 0 },
		{ "{'a':1}", 0 },
		{ "{\"a\":1}}", 0 },
		{ "{\"a\":1} x", 0 },
		{ "{} {}", 0 },
		{ "01", 0 },
		{ "+1", 0 },
		{ "1.", 0 },
		{ ".5", 0 },
		{ "1e", 0 },
		{ "-", 0 },
		{ "NaN", 0 },
		{ "Infinity", 0 },
		{ "tru", 0 },
		{ "nulll", 0 },
		{ "\"abc", 0 },
		{ "\"a\\x\"", 0 },
		{ "\"a\\u12\"", 0 },
		{ "\"a\\u12g4\"", 0 },
		{ "\"\\ud83d\"", 0 },
		{ "\"\\ude00\"", 0 },
		{ "\"\\ud83d\\u0041\"", 0 },
		{ "\"tab\there\"", 0 },
		{ "\"\xc0\xaf\"", 0 },
		{ "\"\xed\xa0\x80\"", 0 },
		{ "\"\xf4\x90\x80\x80\"", 0 },
		{ "\"\xe2\x82\"", 0 },
		{ "\"\x80\"", 0 },
		{ "\"\xff\"", 0 },
		{ "{\"a\":1,\"b\":[1,2}", 0 },
		{ "[1:2]", 0 },
		{ "\xef\xbb{}", 0 },
	};
	return cr_make_param_array(struct doc_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct doc_case *c, jsonedit, strict_like_dom_parser)
{
	size_t n = strlen(c->text);
	tf_json_doc doc;
	int dom = tf_json_parse(&doc, c->text, n, NULL, NULL);

	tf_json_doc_free(&doc);
	cr_assert_eq(tf_jsonedit_validate(c->text, n) == 0, c->valid, "validate(%s)", c->text);
	cr_assert_eq(dom == 0, c->valid, "tf_json_parse(%s) disagrees with the table", c->text);
}

Test(jsonedit, nul_byte_inside_is_not_the_end)
{
	const char doc[] = "{\"a\":1}\0{";

	cr_assert_eq(tf_jsonedit_validate(doc, 7), 0);
	cr_assert_eq(tf_jsonedit_validate(doc, 8), TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(tf_jsonedit_validate("\"a\0b\"", 5), TF_JSONEDIT_EMALFORMED);
}

static char *nested(size_t depth, const char *open, const char *close)
{
	size_t n = depth * (strlen(open) + strlen(close)) + 2;
	char *s = malloc(n), *p = s;

	cr_assert(s);
	for (size_t i = 0; i < depth; i++)
		p += sprintf(p, "%s", open);
	*p++ = '1';
	for (size_t i = 0; i < depth; i++)
		p += sprintf(p, "%s", close);
	*p = 0;
	return s;
}

Test(jsonedit, depth_is_bounded_like_the_dom_parser)
{
	char *ok = nested(TF_JSON_MAX_DEPTH, "[", "]");
	char *deep = nested(TF_JSON_MAX_DEPTH + 1, "[", "]");
	char *huge = nested(100000, "{\"a\":", "}");
	tf_json_doc d;

	cr_assert_eq(tf_jsonedit_validate(ok, strlen(ok)), 0);
	cr_assert_eq(tf_json_parse(&d, ok, strlen(ok), NULL, NULL), 0);
	tf_json_doc_free(&d);
	cr_assert_eq(tf_jsonedit_validate(deep, strlen(deep)), TF_JSONEDIT_EDEPTH);
	cr_assert_neq(tf_json_parse(&d, deep, strlen(deep), NULL, NULL), 0);
	tf_json_doc_free(&d);
	cr_assert_eq(tf_jsonedit_validate(huge, strlen(huge)), TF_JSONEDIT_EDEPTH);
	cr_assert_eq(FIND_ERR(huge, "a"), TF_JSONEDIT_EDEPTH);
	free(ok);
	free(deep);
	free(huge);
}

Test(jsonedit, too_many_members_on_the_path)
{
	tf_buf doc;
	tf_jsonedit_span v;

	tf_buf_init(&doc, 0);
	tf_buf_append_str(&doc, "{");
	for (int i = 0; i < TF_JSONEDIT_MAX_MEMBERS + 1; i++)
		tf_buf_printf(&doc, "%s\"k%d\":1", i ? "," : "", i);
	tf_buf_append_str(&doc, "}");
	cr_assert_eq(tf_jsonedit_validate((char *)doc.data, doc.len), 0);
	cr_assert_eq(tf_jsonedit_find((char *)doc.data, doc.len, P("k1"), 1, &v),
		     TF_JSONEDIT_ETOOBIG);
	tf_buf_free(&doc);
}

/* ---- replace ---- */

static void replace_ok(const char *doc, const char *const *path, size_t depth, const char *value,
		       const char *want)
{
	tf_buf_reset(&out);
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), path, depth, value, strlen(value), &out), 0,
		     "replace in %s", doc);
	cr_assert_str_eq(out_str(), want);
}

#define REPLACE_OK(doc, value, want, ...) replace_ok(doc, P(__VA_ARGS__), N(__VA_ARGS__), value, want)

Test(jsonedit, replace_keeps_every_other_byte)
{
	REPLACE_OK("{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": 100, "
		   "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
		   "8",
		   "{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": 8, "
		   "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
		   "max_tokens");
	REPLACE_OK("{\"messages\":[],\"inferenceConfig\":{\"maxTokens\":512,\"topP\":0.9}}", "64",
		   "{\"messages\":[],\"inferenceConfig\":{\"maxTokens\":64,\"topP\":0.9}}",
		   "inferenceConfig", "maxTokens");
	REPLACE_OK("{\n  \"inputText\": \"x\",\n  \"textGenerationConfig\": {\n    \"maxTokenCount\" :"
		   " 4096 ,\n    \"temperature\": 0\n  }\n}\n",
		   "50",
		   "{\n  \"inputText\": \"x\",\n  \"textGenerationConfig\": {\n    \"maxTokenCount\" :"
		   " 50 ,\n    \"temperature\": 0\n  }\n}\n",
		   "textGenerationConfig", "maxTokenCount");
	REPLACE_OK("{\"model\":\"gpt-4o\",\"messages\":[{\"content\":\"\\u00e9\\n\"}],\"max_tokens\":null}",
		   "\"gpt-4o-mini\"",
		   "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"content\":\"\\u00e9\\n\"}],\"max_tokens\":null}",
		   "model");
	REPLACE_OK("\xef\xbb\xbf{\"a\":{\"b\":[1,2]}}", "{\"c\":true}",
		   "\xef\xbb\xbf{\"a\":{\"b\":{\"c\":true}}}", "a", "b");
	REPLACE_OK("{\"stream_options\": null}", "{\"include_usage\": true}",
		   "{\"stream_options\": {\"include_usage\": true}}", "stream_options");
}

Test(jsonedit, replace_errors_leave_out_unchanged)
{
	const char *doc = "{\"max_tokens\":100}";

	tf_buf_append_str(&out, "prefix");
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_token"), 1, "1", 1, &out),
		     TF_JSONEDIT_NOTFOUND);
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, "01", 2, &out),
		     TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, "1,2", 3, &out),
		     TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, NULL, 0, &out),
		     TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(tf_jsonedit_replace("{\"max_tokens\":1,", 16, P("max_tokens"), 1, "2", 1, &out),
		     TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(out.len, 6);
	/* Success appends after what is there. */
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, "5", 1, &out), 0);
	cr_assert_str_eq(out_str(), "prefix{\"max_tokens\":5}");
}

Test(jsonedit, output_cap)
{
	const char *doc = "{\"max_tokens\":100,\"pad\":\"xxxxxxxx\"}";
	tf_buf small;

	tf_buf_init(&small, strlen(doc));
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, "1000", 4, &small),
		     -ENOBUFS);
	cr_assert_eq(small.len, 0);
	cr_assert_eq(tf_jsonedit_replace(doc, strlen(doc), P("max_tokens"), 1, "10", 2, &small), 0);
	cr_assert_eq(small.len, strlen(doc) - 1);
	cr_assert_eq(tf_jsonedit_insert(doc, strlen(doc), P("stream"), 1, "true", 4, 0, &small),
		     -ENOBUFS);
	cr_assert_eq(small.len, strlen(doc) - 1);
	tf_buf_free(&small);
}

/* ---- insert ---- */

static void insert_ok(const char *doc, const char *const *path, size_t depth, const char *value,
		      unsigned flags, const char *want)
{
	tf_buf_reset(&out);
	cr_assert_eq(tf_jsonedit_insert(doc, strlen(doc), path, depth, value, strlen(value), flags,
					&out),
		     0, "insert into %s", doc);
	cr_assert_str_eq(out_str(), want);
}

#define INSERT_OK(doc, value, flags, want, ...) \
	insert_ok(doc, P(__VA_ARGS__), N(__VA_ARGS__), value, flags, want)

Test(jsonedit, insert_copies_the_objects_style)
{
	/* JSON.stringify (openai-node) */
	INSERT_OK("{\"model\":\"d\",\"messages\":[],\"stream\":true}", "{\"include_usage\":true}", 0,
		  "{\"model\":\"d\",\"messages\":[],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
		  "stream_options");
	/* json.dumps (openai-python, botocore users) */
	INSERT_OK("{\"messages\": [], \"model\": \"d\", \"stream\": true}", "true", TF_JSONEDIT_CREATE,
		  "{\"messages\": [], \"model\": \"d\", \"stream\": true, \"stream_options\": "
		  "{\"include_usage\": true}}",
		  "stream_options", "include_usage");
	/* pretty-printed, several members, then one member */
	INSERT_OK("{\n  \"a\": 1,\n  \"b\": 2\n}\n", "3", 0, "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n",
		  "c");
	INSERT_OK("{\n    \"a\": 1\n}", "3", 0, "{\n    \"a\": 1,\n    \"c\": 3\n}", "c");
	/* one member, compact and spaced */
	INSERT_OK("{\"a\":1}", "2", 0, "{\"a\":1,\"b\":2}", "b");
	INSERT_OK("{\"a\": 1}", "2", 0, "{\"a\": 1, \"b\": 2}", "b");
	/* empty objects */
	INSERT_OK("{}", "2", 0, "{\"b\":2}", "b");
	INSERT_OK("{ }", "2", 0, "{\"b\":2 }", "b");
	/* into an existing nested object */
	INSERT_OK("{\"stream\":true,\"stream_options\":{\"x\":1}}", "true", 0,
		  "{\"stream\":true,\"stream_options\":{\"x\":1,\"include_usage\":true}}",
		  "stream_options", "include_usage");
	INSERT_OK("{\"stream_options\":{}}", "true", 0, "{\"stream_options\":{\"include_usage\":true}}",
		  "stream_options", "include_usage");
	/* a created chain several levels deep */
	INSERT_OK("{\"messages\":[]}", "64", TF_JSONEDIT_CREATE,
		  "{\"messages\":[],\"inferenceConfig\":{\"maxTokens\":64}}", "inferenceConfig",
		  "maxTokens");
	INSERT_OK("{\"x\":0}", "1", TF_JSONEDIT_CREATE, "{\"x\":0,\"a\":{\"b\":{\"c\":1}}}", "a", "b",
		  "c");
	/* names that need escaping */
	INSERT_OK("{}", "1", 0, "{\"q\\\"\\\\\\u0001\":1}", "q\"\\\x01");
}

Test(jsonedit, insert_refusals)
{
	const char *doc = "{\"stream_options\":{\"include_usage\":false}}";
	const char *dup = "{\"a\":1,\"a\":2}";

	tf_buf_append_str(&out, "keep");
	cr_assert_eq(tf_jsonedit_insert(doc, strlen(doc), P("stream_options", "include_usage"), 2,
					"true", 4, 0, &out),
		     TF_JSONEDIT_EEXISTS);
	cr_assert_eq(tf_jsonedit_insert("{}", 2, P("stream_options", "include_usage"), 2, "true", 4, 0,
					&out),
		     TF_JSONEDIT_NOTFOUND);
	cr_assert_eq(tf_jsonedit_insert("{\"stream_options\":null}", 23,
					P("stream_options", "include_usage"), 2, "true", 4,
					TF_JSONEDIT_CREATE, &out),
		     TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(tf_jsonedit_insert(dup, strlen(dup), P("b"), 1, "1", 1, 0, &out),
		     TF_JSONEDIT_EDUPLICATE);
	cr_assert_eq(tf_jsonedit_insert("[]", 2, P("b"), 1, "1", 1, 0, &out), TF_JSONEDIT_ENOTOBJECT);
	cr_assert_eq(tf_jsonedit_insert("{}", 2, P("b"), 1, "tru", 3, 0, &out),
		     TF_JSONEDIT_EMALFORMED);
	/* A name that is not UTF-8 would make the output invalid: refused. */
	cr_assert_eq(tf_jsonedit_insert("{}", 2, P("\xff"), 1, "1", 1, 0, &out),
		     TF_JSONEDIT_EMALFORMED);
	cr_assert_eq(out.len, 4);
}

Test(jsonedit, set_replaces_or_inserts)
{
	const char *a = "{\"stream_options\":{\"include_usage\":false},\"stream\":true}";
	const char *b = "{\"stream\":true}";

	cr_assert_eq(tf_jsonedit_set(a, strlen(a), P("stream_options", "include_usage"), 2, "true", 4,
				     &out),
		     0);
	cr_assert_str_eq(out_str(), "{\"stream_options\":{\"include_usage\":true},\"stream\":true}");
	tf_buf_reset(&out);
	cr_assert_eq(tf_jsonedit_set(b, strlen(b), P("stream_options", "include_usage"), 2, "true", 4,
				     &out),
		     0);
	cr_assert_str_eq(out_str(), "{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
}

Test(jsonedit, read_helpers)
{
	const char *doc = "{\"a\":120,\"b\":1.5e2,\"c\":-1,\"d\":0,\"e\":007,\"f\":18446744073709551616,"
			  "\"g\":\"x\",\"h\":null,\"i\":[],\"j\":{},\"k\":true,\"l\":false}";
	tf_jsonedit_span v;
	uint64_t x;

	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("a"), 1, &v), TF_JSONEDIT_EMALFORMED);
	doc = "{\"a\":120,\"b\":1.5e2,\"c\":-1,\"d\":0,\"f\":18446744073709551616,"
	      "\"g\":\"x\",\"h\":null,\"i\":[],\"j\":{},\"k\":true,\"l\":false,\"m\":18446744073709551615}";
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("a"), 1, &v), 0);
	cr_assert(tf_jsonedit_u64(doc, v, &x) && x == 120);
	cr_assert(tf_jsonedit_is(doc, v, 'n'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("b"), 1, &v), 0);
	cr_assert_not(tf_jsonedit_u64(doc, v, &x));
	cr_assert(tf_jsonedit_is(doc, v, 'n'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("c"), 1, &v), 0);
	cr_assert_not(tf_jsonedit_u64(doc, v, &x));
	cr_assert(tf_jsonedit_is(doc, v, 'n'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("d"), 1, &v), 0);
	cr_assert(tf_jsonedit_u64(doc, v, &x) && x == 0);
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("f"), 1, &v), 0);
	cr_assert_not(tf_jsonedit_u64(doc, v, &x));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("m"), 1, &v), 0);
	cr_assert(tf_jsonedit_u64(doc, v, &x) && x == UINT64_MAX);
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("g"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 's') && !tf_jsonedit_is(doc, v, 'n'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("h"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 'z'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("i"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 'a'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("j"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 'o'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("k"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 't'));
	cr_assert_eq(tf_jsonedit_find(doc, strlen(doc), P("l"), 1, &v), 0);
	cr_assert(tf_jsonedit_is(doc, v, 'f') && !tf_jsonedit_is(doc, v, 'x'));
}

/* ---- no over-reads: every prefix of a document against a guard page ---- */

Test(jsonedit, every_prefix_against_a_guard_page)
{
	static const char *docs[] = {
		"{\"anthropic_version\": \"bedrock-2023-05-31\", \"max_tokens\": 100, \"messages\": "
		"[{\"role\": \"user\", \"content\": \"h\\u00e9llo \\ud83d\\ude00 \xe2\x82\xac\"}]}",
		"{\"inferenceConfig\":{\"maxTokens\":-1.5e+3},\"x\":[true,false,null,0]}",
		"\xef\xbb\xbf{\"stream_options\":{\"include_usage\":false}}",
	};

	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		size_t n = strlen(docs[d]);

		for (size_t k = 0; k <= n; k++) {
			void *map;
			size_t maplen;
			const char *p = (const char *)tf_test_guard_copy(docs[d], k, &map, &maplen);
			tf_jsonedit_span v;
			int want = k == n ? 0 : TF_JSONEDIT_EMALFORMED;

			cr_assert_eq(tf_jsonedit_validate(p, k), want, "doc %zu prefix %zu", d, k);
			if (k < n)
				cr_assert_lt(tf_jsonedit_find(p, k, P("max_tokens"), 1, &v), 0);
			tf_buf_reset(&out);
			if (k < n)
				cr_assert_lt(tf_jsonedit_set(p, k, P("inferenceConfig", "maxTokens"), 2,
							     "5", 1, &out),
					     0);
			else
				cr_assert_eq(tf_jsonedit_set(p, k, P("inferenceConfig", "maxTokens"), 2,
							     "5", 1, &out),
					     0);
			tf_test_guard_free(map, maplen);
		}
	}
}
