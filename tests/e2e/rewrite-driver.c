/*
 * Test driver for shim/rewrite: reads one raw HTTP/1.1 request on stdin
 * (Content-Length or chunked framed), rewrites it with the credentials
 * tf_awscreds_load() finds in the environment, and writes the new request to
 * stdout. The result flags go to stderr as one JSON line; on a rewrite error
 * the line is {"error":"<tf_rw_strerror>","code":N} and the exit status 3.
 *
 *   rewrite-driver --provider bedrock|azure [--model ID] [--max-out N
 *                  --field name[.name] ...] [--include-usage] [--narrow-ae]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awscreds.h"
#include "http1.h"
#include "rewrite.h"

typedef struct capture {
	tf_buf head;
	tf_buf body;
	bool done;
} capture;

static int on_head(void *ctx, const tf_h1_head *h, const uint8_t *raw, size_t n)
{
	(void)h;
	return tf_buf_append(&((capture *)ctx)->head, raw, n);
}

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
	return tf_buf_append(&((capture *)ctx)->body, p, n);
}

static int on_end(void *ctx)
{
	((capture *)ctx)->done = true;
	return 0;
}

static const char *yes(bool b)
{
	return b ? "true" : "false";
}

static void print_result(const tf_rw_result *r)
{
	fprintf(stderr,
		"{\"head_len\":%zu,\"body_len\":%zu,\"model_in_path\":%s,\"model_in_body\":%s,"
		"\"clamped\":%s,\"usage_added\":%s,\"accept_narrowed\":%s,\"expect_removed\":%s,"
		"\"dechunked\":%s,\"resigned\":%s}\n",
		r->head_len, r->body_len, yes(r->model_in_path), yes(r->model_in_body), yes(r->clamped),
		yes(r->usage_added), yes(r->accept_narrowed), yes(r->expect_removed), yes(r->dechunked),
		yes(r->resigned));
}

static int usage(void)
{
	fprintf(stderr, "usage: rewrite-driver --provider bedrock|azure [--model ID] [--max-out N "
			"--field a[.b] ...] [--include-usage] [--narrow-ae] < request > request\n");
	return 2;
}

/* "a.b" -> path {"a","b"} (the string is split in place). */
static int add_field(tf_rw_changes *ch, char *spec)
{
	tf_rw_field *f;

	if (ch->nlimit == TF_RW_MAX_LIMIT_FIELDS)
		return -1;
	f = &ch->limit[ch->nlimit++];
	for (char *tok = strtok(spec, "."); tok; tok = strtok(NULL, ".")) {
		if (f->depth == TF_JSONEDIT_MAX_PATH)
			return -1;
		f->path[f->depth++] = tok;
	}
	return f->depth ? 0 : -1;
}

static int parse_args(int argc, char **argv, tf_provider *prov, tf_rw_changes *ch)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--provider") == 0 && v) {
			if (tf_provider_parse(v, strlen(v), prov) != 0)
				return -1;
			i++;
		} else if (strcmp(a, "--model") == 0 && v) {
			ch->model = v;
			ch->model_len = strlen(v);
			i++;
		} else if (strcmp(a, "--max-out") == 0 && v) {
			ch->clamp = true;
			ch->max_out = strtoull(v, NULL, 10);
			i++;
		} else if (strcmp(a, "--field") == 0 && v) {
			if (add_field(ch, argv[++i]) != 0)
				return -1;
		} else if (strcmp(a, "--include-usage") == 0) {
			ch->include_usage = true;
		} else if (strcmp(a, "--narrow-ae") == 0) {
			ch->narrow_accept_encoding = true;
		} else {
			return -1;
		}
	}
	return *prov == TF_PROVIDER_NONE || (ch->clamp && ch->nlimit == 0) ? -1 : 0;
}

/* Reads one request from stdin into cap; 0 or -1. */
static int read_request(capture *cap)
{
	tf_h1_framer fr;
	uint8_t buf[65536];
	ssize_t n;
	int e = 0;

	tf_h1_framer_init(&fr, TF_H1_REQUEST);
	while (!cap->done && e == 0 && (n = read(0, buf, sizeof(buf))) > 0) {
		size_t off = 0;

		while (off < (size_t)n && !cap->done && e == 0) {
			ssize_t k = tf_h1_feed(&fr, buf + off, (size_t)n - off,
					       &(tf_h1_sink){ cap, on_head, on_body, on_end });

			if (k < 0)
				e = -1;
			else
				off += (size_t)k;
		}
	}
	tf_h1_framer_free(&fr);
	return cap->done && e == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	tf_rw_changes ch = { 0 };
	tf_provider prov = TF_PROVIDER_NONE;
	capture cap = { 0 };
	tf_awscreds creds;
	tf_rw_result res;
	tf_h1_head h;
	tf_buf out;
	int e;

	if (parse_args(argc, argv, &prov, &ch) != 0)
		return usage();
	tf_buf_init(&cap.head, TF_H1_HEAD_CAP);
	tf_buf_init(&cap.body, 0);
	tf_buf_init(&out, 0);
	if (read_request(&cap) != 0 ||
	    tf_h1_parse_head((const char *)cap.head.data, cap.head.len, TF_H1_REQUEST, &h) <= 0) {
		fprintf(stderr, "{\"error\":\"incomplete request\",\"code\":0}\n");
		e = -EINVAL;
	} else if ((e = tf_awscreds_load(&creds)) >= 0) {
		e = tf_rw_request(&h, (const char *)cap.head.data, cap.head.len, cap.body.data,
				  cap.body.len, prov, &ch, &creds, &out, &res);
		tf_awscreds_free(&creds);
		if (e)
			fprintf(stderr, "{\"error\":\"%s\",\"code\":%d}\n", tf_rw_strerror(e), e);
	}
	if (e == 0) {
		print_result(&res);
		if (fwrite(out.data, 1, out.len, stdout) != out.len)
			e = -EIO;
	}
	tf_buf_free(&out);
	tf_buf_free(&cap.head);
	tf_buf_free(&cap.body);
	return e == 0 ? 0 : 3;
}
