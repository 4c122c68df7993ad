/*
 * shim/awscreds: the INI reading of botocore's shared files (configparser
 * rules), the environment, the profile variables, and lookup by access key
 * id. Each Criterion test runs in its own process, so setenv() here does not
 * leak between tests.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "awscreds.h"

static tf_awscred c;

static void teardown(void)
{
	tf_awscred_free(&c);
}

TestSuite(awscreds, .fini = teardown);

static int parse(const char *text, const char *profile, bool config)
{
	tf_awscred_free(&c);
	return tf_awscreds_parse_ini(text, strlen(text), profile, config, &c);
}

static void expect(const char *akid, const char *secret, const char *token)
{
	cr_assert_str_eq(c.akid, akid);
	cr_assert_str_eq(c.secret, secret);
	if (token)
		cr_assert_str_eq(c.token, token);
	else
		cr_assert_null(c.token);
}

Test(awscreds, credentials_file_profiles)
{
	static const char f[] = "# comment\n"
				"; another\n"
				"[default]\n"
				"aws_access_key_id = AKIDDEFAULT\n"
				"aws_secret_access_key = sec/ret+DEFAULT=\n"
				"\n"
				"[dev]\n"
				"AWS_Access_Key_ID:AKIDDEV\n"
				"aws_secret_access_key\t=\tdevsecret  \n"
				"aws_session_token = devtoken\n"
				"region = us-west-2\n"
				"[profile dev]\n"
				"aws_access_key_id = WRONG\n"
				"aws_secret_access_key = WRONG\n";

	cr_assert_eq(parse(f, "default", false), 0);
	expect("AKIDDEFAULT", "sec/ret+DEFAULT=", NULL);
	cr_assert_eq(parse(f, "dev", false), 0);
	expect("AKIDDEV", "devsecret", "devtoken");
	cr_assert_eq(parse(f, "prod", false), TF_AWSCREDS_ENOPROFILE);
	cr_assert_null(c.akid);
}

Test(awscreds, config_file_profiles)
{
	static const char f[] = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
				"[profile  dev ]\naws_access_key_id = A2\naws_secret_access_key = S2\n"
				"[dev]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n"
				"[profiledev]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n";
	static const char both[] = "[profile default]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
				   "[default]\naws_access_key_id = A2\naws_secret_access_key = S2\n";

	cr_assert_eq(parse(f, "default", true), 0);
	expect("A1", "S1", NULL);
	cr_assert_eq(parse(f, "dev", true), 0);
	expect("A2", "S2", NULL);
	/* botocore's profile map keeps the later of [default] / [profile default] */
	cr_assert_eq(parse(both, "default", true), 0);
	expect("A2", "S2", NULL);
}

Test(awscreds, token_names_in_botocores_order)
{
	static const char f[] = "[p]\naws_access_key_id=A\naws_secret_access_key=S\n"
				"aws_session_token=SESSION\naws_security_token=SECURITY\n";

	cr_assert_eq(parse(f, "p", false), 0);
	expect("A", "S", "SECURITY");
	cr_assert_eq(parse("[p]\naws_access_key_id=A\naws_secret_access_key=S\naws_session_token=T\n", "p",
			   false),
		     0);
	expect("A", "S", "T");
	cr_assert_eq(parse("[p]\naws_access_key_id=A\naws_secret_access_key=S\naws_session_token=\n", "p",
			   false),
		     0);
	expect("A", "S", NULL);
}

Test(awscreds, configparser_details)
{
	/* [DEFAULT] applies to every section; CRLF and CR line ends; ':' and '='. */
	cr_assert_eq(parse("[DEFAULT]\r\naws_secret_access_key = S\r\n[p]\r\naws_access_key_id: A\r\n", "p",
			   false),
		     0);
	expect("A", "S", NULL);
	cr_assert_eq(parse("[p]\raws_access_key_id=A\raws_secret_access_key=S\r", "p", false), 0);
	expect("A", "S", NULL);
	/* no inline comments: the value is what follows the delimiter */
	cr_assert_eq(parse("[p]\naws_access_key_id = A # not a comment\naws_secret_access_key = S\n", "p",
			   false),
		     0);
	expect("A # not a comment", "S", NULL);
	/* the first delimiter splits: a secret may contain '=' and ':' */
	cr_assert_eq(parse("[p]\naws_access_key_id = A\naws_secret_access_key = a=b:c\n", "p", false), 0);
	expect("A", "a=b:c", NULL);
	/* a continuation line makes the key multi-line: unusable */
	cr_assert_eq(parse("[p]\naws_access_key_id = A\naws_secret_access_key = S\n  more\n", "p", false),
		     TF_AWSCREDS_ENOPROFILE);
	/* ... even after a comment or a blank line */
	cr_assert_eq(parse("[p]\naws_access_key_id = A\n# c\n  aws_secret_access_key = S\n", "p", false),
		     TF_AWSCREDS_ENOPROFILE);
	cr_assert_eq(parse("[p]\naws_secret_access_key = S\naws_access_key_id = A\n\n  c\n", "p", false),
		     TF_AWSCREDS_ENOPROFILE);
	/* blank lines inside a value are trailing whitespace */
	cr_assert_eq(parse("[p]\naws_access_key_id = A\n\n\naws_secret_access_key = S\n", "p", false), 0);
	expect("A", "S", NULL);
	/* a header with text after it: configparser takes up to the last ']' */
	cr_assert_eq(parse("[p] trailing\naws_access_key_id = A\naws_secret_access_key = S\n", "p", false), 0);
	/* other sections may be anything */
	cr_assert_eq(parse("[s3]\nx =\n  y = 1\n[p]\naws_access_key_id=A\naws_secret_access_key=S\n", "p",
			   false),
		     0);
}

Test(awscreds, files_botocore_would_refuse)
{
	cr_assert_eq(parse("aws_access_key_id = A\n[p]\n", "p", false), TF_AWSCREDS_EPARSE);
	cr_assert_eq(parse("[p]\njust words\n", "p", false), TF_AWSCREDS_EPARSE);
	cr_assert_eq(parse("[p]\na=1\n[q]\n[p]\n", "p", false), TF_AWSCREDS_EPARSE);
	cr_assert_eq(parse("[p]\naws_access_key_id=A\nAWS_ACCESS_KEY_ID=B\naws_secret_access_key=S\n", "p",
			   false),
		     TF_AWSCREDS_EPARSE);
	cr_assert_eq(parse("[]\n", "p", false), TF_AWSCREDS_EPARSE);
	/* incomplete pairs */
	cr_assert_eq(parse("[p]\naws_access_key_id=A\n", "p", false), TF_AWSCREDS_ENOPROFILE);
	cr_assert_eq(parse("[p]\naws_secret_access_key=S\n", "p", false), TF_AWSCREDS_ENOPROFILE);
	cr_assert_eq(parse("[p]\naws_access_key_id=\naws_secret_access_key=S\n", "p", false),
		     TF_AWSCREDS_ENOPROFILE);
	cr_assert_eq(parse("", "p", false), TF_AWSCREDS_ENOPROFILE);
	cr_assert_null(c.akid);
}

Test(awscreds, every_prefix_is_safe)
{
	static const char f[] = "[DEFAULT]\nx = 1\n[p]\r\naws_access_key_id = A\n  c\n# x\n"
				"aws_secret_access_key: S\n[q] t\n";

	for (size_t k = 0; k <= sizeof(f) - 1; k++) {
		char *copy = malloc(k ? k : 1);

		memcpy(copy, f, k);
		tf_awscred_free(&c);
		(void)tf_awscreds_parse_ini(copy, k, "p", false, &c);
		free(copy);
	}
}

/* ---- loading ---- */

static char dir[64];

static void clear_env(void)
{
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
					    "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
					    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	snprintf(dir, sizeof(dir), "/tmp/tf-awscreds-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	setenv("HOME", dir, 1);
}

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int mkdir_p_aws(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/.aws", dir);
	return mkdir(path, 0700);
}

static void cleanup_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(awscreds, load_env_then_files)
{
	tf_awscreds all;
	tf_sigv4_creds sc;
	char path[256];

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envsession", 1);
	setenv("AWS_SECURITY_TOKEN", "envsecurity", 1);
	cr_assert_eq(mkdir_p_aws(), 0);
	write_file(".aws/credentials", "[default]\naws_access_key_id=AKIDFILE\naws_secret_access_key=filesecret\n"
				       "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=devsecret\n");
	write_file(".aws/config", "[profile dev]\naws_access_key_id=AKIDCFG\naws_secret_access_key=cfgsecret\n");

	cr_assert_eq(tf_awscreds_load(&all), 2);
	cr_assert_eq(all.set[0].source, TF_AWSCREDS_ENV);
	cr_assert_str_eq(all.set[0].token, "envsecurity");
	cr_assert_eq(all.set[1].source, TF_AWSCREDS_SHARED_FILE);
	cr_assert_eq(tf_awscreds_find(&all, "AKIDFILE", 8, &sc), 0);
	cr_assert(sc.secret_len == 10 && memcmp(sc.secret, "filesecret", 10) == 0 && sc.token == NULL);
	cr_assert_eq(tf_awscreds_find(&all, "AKIDENV", 7, &sc), 0);
	cr_assert(sc.token_len == 11 && memcmp(sc.token, "envsecurity", 11) == 0);
	cr_assert_eq(tf_awscreds_find(&all, "AKIDEN", 6, &sc), TF_AWSCREDS_ENOTFOUND);
	tf_awscreds_free(&all);
	cr_assert_eq(all.n, 0);

	/* AWS_DEFAULT_PROFILE wins over AWS_PROFILE (botocore configprovider). */
	unsetenv("AWS_SECURITY_TOKEN");
	setenv("AWS_PROFILE", "nope", 1);
	setenv("AWS_DEFAULT_PROFILE", "dev", 1);
	cr_assert_eq(tf_awscreds_load(&all), 3);
	cr_assert_str_eq(all.set[0].token, "envsession");
	cr_assert_str_eq(all.set[1].akid, "AKIDDEV");
	cr_assert_str_eq(all.set[2].akid, "AKIDCFG");
	cr_assert_eq(all.set[2].source, TF_AWSCREDS_CONFIG_FILE);
	tf_awscreds_free(&all);

	/* Explicit file paths, "~/" expanded; env keys incomplete: skipped. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_DEFAULT_PROFILE");
	setenv("AWS_PROFILE", "x", 1);
	write_file("creds", "[x]\naws_access_key_id=AKIDX\naws_secret_access_key=xs\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/creds", 1);
	snprintf(path, sizeof(path), "%s/missing", dir);
	setenv("AWS_CONFIG_FILE", path, 1);
	cr_assert_eq(tf_awscreds_load(&all), 1);
	cr_assert_str_eq(all.set[0].akid, "AKIDX");
	tf_awscreds_free(&all);

	/* A directory, a malformed file: nothing, no error. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", dir, 1);
	cr_assert_eq(tf_awscreds_load(&all), 0);
	write_file("creds", "[x]\naws_access_key_id=A\naws_access_key_id=B\naws_secret_access_key=xs\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/creds", 1);
	cr_assert_eq(tf_awscreds_load(&all), 0);
	tf_awscreds_free(&all);
	cleanup_dir();
}
