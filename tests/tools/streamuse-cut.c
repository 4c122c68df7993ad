/*
 * Test helper: what an app reads when TokenFence cuts a stream. Feeds the
 * first PERCENT % of FILE (a captured stream of operation OP) to
 * tf_streamuse, then writes to stdout the stream up to the last boundary and
 * the terminator (tests/tools/test-terminators.py hands it to real SDK
 * parsers).
 *
 * Usage: streamuse-cut OP FILE PERCENT REASON
 */
#include <stdio.h>
#include <stdlib.h>

#include "streamuse.h"

int main(int argc, char **argv)
{
	static uint8_t body[1 << 20];
	tf_streamuse s;
	tf_buf out;
	FILE *f;
	size_t n, cut;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: streamuse-cut OP FILE PERCENT REASON\n");
		return 2;
	}
	f = fopen(argv[2], "rb");
	if (!f) {
		perror(argv[2]);
		return 2;
	}
	n = fread(body, 1, sizeof(body), f);
	fclose(f);
	cut = n * (size_t)atoi(argv[3]) / 100;
	if (tf_streamuse_init(&s, argv[1], 0, 0) < 0) {
		fprintf(stderr, "streamuse-cut: %s does not stream\n", argv[1]);
		return 2;
	}
	tf_streamuse_feed(&s, body, cut);
	tf_buf_init(&out, 0);
	r = tf_buf_append(&out, body, (size_t)tf_streamuse_boundary(&s));
	if (r == 0)
		r = tf_streamuse_terminator(&s, NULL, argv[4], &out);
	if (r == 0)
		fwrite(out.data, 1, out.len, stdout);
	tf_buf_free(&out);
	tf_streamuse_free(&s);
	return r == 0 ? 0 : 1;
}
