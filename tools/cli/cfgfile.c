#include "cfgfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"

static int read_file(const char *file, tf_buf *text, char *err, size_t errlen)
{
	char chunk[8192];
	FILE *f = fopen(file, "r");
	size_t n;
	int r = 0;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "tokenfence: cannot read %s: %s", file, strerror(errno));
		return r;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (tf_buf_append(text, chunk, n) < 0) {
			snprintf(err, errlen, "tokenfence: %s: larger than %zu bytes", file,
				 (size_t)TF_CONFIG_MAX_SIZE);
			r = -EFBIG;
			break;
		}
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(err, errlen, "tokenfence: cannot read %s: %s", file, strerror(errno));
	}
	fclose(f);
	return r;
}

static int load(tf_config *c, const char *file, tf_cli_getenv_fn getenv_fn, char *err,
		size_t errlen)
{
	tf_buf text;
	int r;

	tf_config_init(c);
	tf_buf_init(&text, TF_CONFIG_MAX_SIZE);
	if (file) {
		r = read_file(file, &text, err, errlen);
		if (r < 0) {
			tf_buf_free(&text);
			return r;
		}
	}
	/* An empty file still goes through the parser, which says what is wrong. */
	r = tf_config_load(c, file, file ? (const char *)(text.data ? text.data : (uint8_t *)"")
					 : NULL,
			   text.len, getenv_fn, err, errlen);
	tf_buf_free(&text);
	return r;
}

int tf_cli_config_check(const char *file, tf_cli_getenv_fn getenv_fn, char *err, size_t errlen)
{
	tf_config c;
	int r = load(&c, file, getenv_fn, err, errlen);

	tf_config_free(&c);
	return r;
}

int tf_cli_config_policy(const char *file, tf_cli_getenv_fn getenv_fn, tf_cli_policy *out,
			 char *err, size_t errlen)
{
	tf_config c;
	int r = load(&c, file, getenv_fn, err, errlen);

	memset(out, 0, sizeof(*out));
	if (r < 0) {
		tf_config_free(&c);
		return r;
	}
	out->has_policy = c.has_policy;
	out->dflt = c.policy_default;
	out->file = file ? strdup(file) : NULL;
	out->rules = calloc(c.n_rules ? c.n_rules : 1, sizeof(*out->rules));
	if (!out->rules || (file && !out->file))
		goto nomem;
	for (size_t i = 0; i < c.n_rules; i++) {
		out->rules[i].effect = c.rules[i].effect;
		out->rules[i].line = c.rules[i].line;
		out->rules[i].action = strdup(c.rules[i].action);
		if (!out->rules[i].action)
			goto nomem;
		out->n_rules++;
	}
	tf_config_free(&c);
	return 0;
nomem:
	tf_config_free(&c);
	tf_cli_policy_free(out);
	snprintf(err, errlen, "tokenfence: out of memory");
	return -ENOMEM;
}

void tf_cli_policy_free(tf_cli_policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		free(p->rules[i].action);
	free(p->rules);
	free(p->file);
	memset(p, 0, sizeof(*p));
}
