/*
 * libFuzzer harness for policy/jsonedit.
 *
 * Invariants: no crash or over-read (ASan; the input is not NUL-terminated);
 * tf_jsonedit_validate() agrees with tf_json_parse() except that only the
 * DOM parser refuses repeated names; a value found by path is exactly the
 * value the DOM has there; after tf_jsonedit_set() the document is valid,
 * holds the new value at the path, and every byte outside the edit is
 * unchanged.
 *
 * Fuzz: tests/fuzz/run 60 jsonedit (the corpus replays in `meson test --suite fuzz`).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "jsonedit.h"

static const char *const paths[][2] = {
	{ "max_tokens", NULL },
	{ "inferenceConfig", "maxTokens" },
	{ "stream_options", "include_usage" },
	{ "model", NULL },
	{ "a", "b" },
};

/* Whether the DOM value at path is the text at span (re-parsed). */
static bool same_value(const tf_json_value *dom, const char *text, tf_jsonedit_span v)
{
	tf_json_doc d;
	bool ok;
	tf_buf a, b;

	if (tf_json_parse(&d, text + v.off, v.len, NULL, NULL) != 0) {
		tf_json_doc_free(&d);
		return false;
	}
	tf_buf_init(&a, 0);
	tf_buf_init(&b, 0);
	ok = tf_json_put_value(&a, dom) == 0 && tf_json_put_value(&b, d.root) == 0 && a.len == b.len &&
	     memcmp(a.data, b.data, a.len) == 0;
	tf_buf_free(&a);
	tf_buf_free(&b);
	tf_json_doc_free(&d);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	tf_json_doc doc;
	int dom, ed;

	if (!text)
		return 0;
	memcpy(text, data, size);
	dom = tf_json_parse(&doc, text, size, NULL, NULL);
	ed = tf_jsonedit_validate(text, size);
	FUZZ_CHECK(dom != 0 || ed == 0);
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]) && ed == 0; p++) {
		const char *const *path = paths[p];
		size_t depth = path[1] ? 2 : 1;
		tf_jsonedit_span v;
		tf_buf out;
		int f = tf_jsonedit_find(text, size, path, depth, &v);

		if (dom == 0 && f == 0) {
			const tf_json_value *x = tf_json_get(doc.root, path[0]);

			if (depth == 2)
				x = x ? tf_json_get(x, path[1]) : NULL;
			FUZZ_CHECK(x && same_value(x, text, v));
		}
		tf_buf_init(&out, 0);
		if (tf_jsonedit_set(text, size, path, depth, "[1,\"x\"]", 7, &out) == 0) {
			tf_jsonedit_span w;

			FUZZ_CHECK(tf_jsonedit_validate((const char *)out.data, out.len) == 0);
			FUZZ_CHECK(tf_jsonedit_find((const char *)out.data, out.len, path, depth, &w) == 0);
			FUZZ_CHECK(w.len == 7 && memcmp(out.data + w.off, "[1,\"x\"]", 7) == 0);
			/* A replace keeps everything around the value. */
			FUZZ_CHECK(f != 0 || (memcmp(out.data, text, v.off) == 0 &&
					      memcmp(out.data + w.off + 7, text + v.off + v.len,
						     size - v.off - v.len) == 0));
		} else {
			FUZZ_CHECK(f != 0); /* found, so replace must work */
		}
		tf_buf_free(&out);
	}
	tf_json_doc_free(&doc);
	free(text);
	return 0;
}
