/*
 * Static AWS credentials from the environment and the shared files, read the
 * way botocore reads them (awscreds.h). The INI reader follows Python's
 * configparser.RawConfigParser as botocore configures it (strict, '=' and
 * ':' delimiters, full-line '#'/';' comments, no inline comments,
 * continuation lines indented deeper than their key, even after blank or
 * comment lines). Lines end as in a file Python opens in text mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "awscreds.h"

/* Bounds on what one file may declare; a bigger file yields nothing. */
#define MAX_SECTIONS 4096
#define MAX_KEYS 4096

typedef struct span {
	const char *p;
	size_t n;
} span;

/* Python str.strip()'s ASCII whitespace. */
static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
	       (c >= 0x1c && c <= 0x1f);
}

static span strip(span s)
{
	while (s.n && is_space((unsigned char)s.p[0]))
		s.p++, s.n--;
	while (s.n && is_space((unsigned char)s.p[s.n - 1]))
		s.n--;
	return s;
}

static bool span_eq(span a, const char *lit)
{
	return a.n == strlen(lit) && memcmp(a.p, lit, a.n) == 0;
}

enum key_id { K_AKID, K_SECRET, K_SECURITY_TOKEN, K_SESSION_TOKEN, K_COUNT };

static const char *const key_names[K_COUNT] = {
	"aws_access_key_id",
	"aws_secret_access_key",
	"aws_security_token",
	"aws_session_token",
};

/* The values one section gives the keys we want. */
typedef struct values {
	span v[K_COUNT];
	bool set[K_COUNT];
	bool multiline[K_COUNT]; /* has continuation lines: not a usable key */
} values;

typedef enum sect_kind { SECT_NONE, SECT_OTHER, SECT_TARGET, SECT_DEFAULTS } sect_kind;

typedef struct ini {
	const char *profile;
	bool config_file;
	span sections[MAX_SECTIONS];
	size_t nsections;
	span keys[MAX_KEYS]; /* option names of the current section */
	size_t nkeys;
	sect_kind kind;
	values target, defaults;
	bool target_seen;
	int cur_key;          /* key_id of the current option, K_COUNT for another */
	bool have_opt;        /* an option is open (continuation lines go to it) */
	size_t indent_level;  /* of the line that opened it */
} ini;

static bool section_matches(const ini *st, span h)
{
	size_t i;

	if (!st->config_file)
		return span_eq(h, st->profile);
	if (strcmp(st->profile, "default") == 0 && span_eq(h, "default"))
		return true;
	if (h.n < 8 || memcmp(h.p, "profile", 7) != 0 || !is_space((unsigned char)h.p[7]))
		return false;
	for (i = 7; i < h.n && is_space((unsigned char)h.p[i]); i++)
		;
	return span_eq(strip((span){ h.p + i, h.n - i }), st->profile);
}

static int section_line(ini *st, span s)
{
	size_t close = s.n - 1;
	span h;

	while (close > 0 && s.p[close] != ']')
		close--;
	h = (span){ s.p + 1, close - 1 };
	for (size_t i = 0; i < st->nsections; i++)
		if (st->sections[i].n == h.n && memcmp(st->sections[i].p, h.p, h.n) == 0)
			return TF_AWSCREDS_EPARSE;
	if (st->nsections == MAX_SECTIONS)
		return TF_AWSCREDS_EPARSE;
	st->sections[st->nsections++] = h;
	st->nkeys = 0;
	st->have_opt = false;
	if (span_eq(h, "DEFAULT")) {
		st->kind = SECT_DEFAULTS;
	} else if (section_matches(st, h)) {
		/* [default] and [profile default]: the later one wins. */
		st->kind = SECT_TARGET;
		st->target = (values){ 0 };
		st->target_seen = true;
	} else {
		st->kind = SECT_OTHER;
	}
	return 0;
}

static int option_line(ini *st, span s)
{
	size_t d = 0;
	span name, val;
	values *into = st->kind == SECT_TARGET ? &st->target :
		       st->kind == SECT_DEFAULTS ? &st->defaults : NULL;

	while (d < s.n && s.p[d] != '=' && s.p[d] != ':')
		d++;
	if (d == s.n)
		return TF_AWSCREDS_EPARSE;
	name = strip((span){ s.p, d });
	val = strip((span){ s.p + d + 1, s.n - d - 1 });
	for (size_t i = 0; i < st->nkeys; i++)
		if (st->keys[i].n == name.n && strncasecmp(st->keys[i].p, name.p, name.n) == 0)
			return TF_AWSCREDS_EPARSE;
	if (st->nkeys == MAX_KEYS)
		return TF_AWSCREDS_EPARSE;
	st->keys[st->nkeys++] = name;
	st->have_opt = true;
	st->cur_key = K_COUNT;
	for (int k = 0; k < K_COUNT; k++) {
		if (name.n == strlen(key_names[k]) && strncasecmp(name.p, key_names[k], name.n) == 0) {
			st->cur_key = k;
			if (into) {
				into->v[k] = val;
				into->set[k] = true;
			}
		}
	}
	return 0;
}

static int ini_line(ini *st, span line)
{
	span s = strip(line);
	size_t indent = 0;

	/* Comment and blank lines are skipped; neither ends a multi-line value
	 * (configparser with empty_lines_in_values, its default). */
	if (s.n == 0 || s.p[0] == '#' || s.p[0] == ';')
		return 0;
	while (indent < line.n && is_space((unsigned char)line.p[indent]))
		indent++;
	if (st->kind != SECT_NONE && st->have_opt && indent > st->indent_level) {
		values *v = st->kind == SECT_TARGET ? &st->target :
			    st->kind == SECT_DEFAULTS ? &st->defaults : NULL;

		if (v && st->cur_key < K_COUNT)
			v->multiline[st->cur_key] = true;
		return 0;
	}
	st->indent_level = indent;
	if (s.p[0] == '[' && s.n >= 3 && memchr(s.p + 2, ']', s.n - 2))
		return section_line(st, s);
	if (st->kind == SECT_NONE)
		return TF_AWSCREDS_EPARSE;
	return option_line(st, s);
}

static char *dup_span(span s)
{
	char *p = malloc(s.n + 1);

	if (p) {
		memcpy(p, s.p, s.n);
		p[s.n] = '\0';
	}
	return p;
}

/* The value of key k in the profile: its own, else [DEFAULT]'s. */
static const span *pick(const ini *st, int k, bool *bad)
{
	const values *v = st->target.set[k] ? &st->target : st->defaults.set[k] ? &st->defaults : NULL;

	if (!v)
		return NULL;
	if (v->multiline[k])
		*bad = true;
	return &v->v[k];
}

int tf_awscreds_parse_ini(const char *text, size_t len, const char *profile, bool config_file,
			  tf_awscred *out)
{
	ini *st = calloc(1, sizeof(*st));
	const span *akid, *secret, *token;
	size_t i = 0;
	bool bad = false;
	int e = 0;

	*out = (tf_awscred){ 0 };
	if (!st)
		return -ENOMEM;
	st->profile = profile;
	st->config_file = config_file;
	/* Lines end in "\n", "\r\n" or "\r" (Python's universal newlines). */
	while (i < len && e == 0) {
		size_t j = i;

		while (j < len && text[j] != '\n' && text[j] != '\r')
			j++;
		e = ini_line(st, (span){ text + i, j - i });
		if (j < len && text[j] == '\r' && j + 1 < len && text[j + 1] == '\n')
			j++;
		i = j + 1;
	}
	if (e == 0 && !st->target_seen)
		e = TF_AWSCREDS_ENOPROFILE;
	if (e == 0) {
		akid = pick(st, K_AKID, &bad);
		secret = pick(st, K_SECRET, &bad);
		token = pick(st, K_SECURITY_TOKEN, &bad);
		if (!token)
			token = pick(st, K_SESSION_TOKEN, &bad);
		if (!akid || !secret || akid->n == 0 || secret->n == 0 || bad)
			e = TF_AWSCREDS_ENOPROFILE;
	}
	if (e == 0) {
		out->akid = dup_span(*akid);
		out->secret = dup_span(*secret);
		out->token = token && token->n ? dup_span(*token) : NULL;
		if (!out->akid || !out->secret || (token && token->n && !out->token)) {
			tf_awscred_free(out);
			e = -ENOMEM;
		}
	}
	explicit_bzero(st, sizeof(*st));
	free(st);
	return e;
}

/* ---- loading ---- */

static char *read_small_file(const char *path, size_t *len)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > TF_AWSCREDS_FILE_CAP)
		goto out;
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf)
		goto out;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

/* path, or $HOME/<rest> for "~/<rest>", or home_default under $HOME when
 * path is NULL; NULL when it cannot be made. */
static char *file_path(const char *path, const char *home_default)
{
	const char *home = secure_getenv("HOME");
	const char *rest = path;
	size_t n;
	char *p;

	if (path && path[0] != '~')
		return strdup(path);
	if (path && path[1] != '\0' && path[1] != '/')
		return NULL; /* ~user: not supported */
	if (!home || !*home)
		return NULL;
	rest = path ? path + 1 : home_default;
	n = strlen(home) + strlen(rest) + 2;
	p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s%s", home, rest[0] == '/' ? "" : "/", rest);
	return p;
}

static int load_file(tf_awscreds *c, const char *env, const char *home_default,
		     const char *profile, bool config_file, tf_awscreds_source source)
{
	char *path = file_path(secure_getenv(env), home_default);
	char *text;
	size_t len = 0;
	int e;

	if (!path)
		return 0;
	text = read_small_file(path, &len);
	free(path);
	if (!text)
		return 0;
	e = tf_awscreds_parse_ini(text, len, profile, config_file, &c->set[c->n]);
	explicit_bzero(text, len);
	free(text);
	if (e == 0)
		c->set[c->n++].source = source;
	return e == -ENOMEM ? e : 0;
}

static int load_env(tf_awscreds *c)
{
	const char *akid = secure_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = secure_getenv("AWS_SECRET_ACCESS_KEY");
	const char *token = secure_getenv("AWS_SECURITY_TOKEN");
	tf_awscred *s = &c->set[c->n];

	if (!akid || !*akid || !secret || !*secret)
		return 0;
	if (!token || !*token)
		token = secure_getenv("AWS_SESSION_TOKEN");
	*s = (tf_awscred){ .source = TF_AWSCREDS_ENV };
	s->akid = strdup(akid);
	s->secret = strdup(secret);
	s->token = token && *token ? strdup(token) : NULL;
	if (!s->akid || !s->secret || (token && *token && !s->token)) {
		tf_awscred_free(s);
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

int tf_awscreds_load(tf_awscreds *c)
{
	const char *profile = secure_getenv("AWS_DEFAULT_PROFILE");
	int e;

	*c = (tf_awscreds){ 0 };
	if (!profile || !*profile)
		profile = secure_getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	e = load_env(c);
	if (e == 0)
		e = load_file(c, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", profile, false,
			      TF_AWSCREDS_SHARED_FILE);
	if (e == 0)
		e = load_file(c, "AWS_CONFIG_FILE", ".aws/config", profile, true,
			      TF_AWSCREDS_CONFIG_FILE);
	if (e) {
		tf_awscreds_free(c);
		return e;
	}
	return (int)c->n;
}

int tf_awscreds_find(const tf_awscreds *c, const char *akid, size_t n, tf_sigv4_creds *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const tf_awscred *s = &c->set[i];

		if (strlen(s->akid) != n || memcmp(s->akid, akid, n) != 0)
			continue;
		*out = (tf_sigv4_creds){
			.akid = s->akid,
			.akid_len = n,
			.secret = s->secret,
			.secret_len = strlen(s->secret),
			.token = s->token,
			.token_len = s->token ? strlen(s->token) : 0,
		};
		return 0;
	}
	return TF_AWSCREDS_ENOTFOUND;
}

static void free_secret(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void tf_awscred_free(tf_awscred *c)
{
	free_secret(&c->akid);
	free_secret(&c->secret);
	free_secret(&c->token);
}

void tf_awscreds_free(tf_awscreds *c)
{
	for (size_t i = 0; i < c->n; i++)
		tf_awscred_free(&c->set[i]);
	*c = (tf_awscreds){ 0 };
}
