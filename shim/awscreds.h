/*
 * Static AWS credentials, found where botocore finds them, so that the shim
 * can re-sign a SigV4 request it rewrote (reference/WIRE.md §2.3). Only
 * static keys can be recovered this way; credentials from SSO, IMDS,
 * credential_process or assume-role live only inside the client, and a
 * request signed with them is simply not found by its access key id.
 *
 * Sources, in botocore's order (botocore/credentials.py, the static
 * providers of create_credential_resolver; checked in botocore 1.29):
 *  1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (both needed,
 *     non-empty); the session token is AWS_SECURITY_TOKEN, else
 *     AWS_SESSION_TOKEN (EnvProvider.TOKENS lists the legacy name first);
 *  2. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else
 *     ~/.aws/credentials; section [<profile>] with aws_access_key_id,
 *     aws_secret_access_key and the token aws_security_token, else
 *     aws_session_token (same order as botocore);
 *  3. the config file: AWS_CONFIG_FILE, else ~/.aws/config; section
 *     [profile <profile>] (for "default" also [default]; the later of the
 *     two wins, as in botocore's profile map), same keys.
 * The profile is AWS_DEFAULT_PROFILE, else AWS_PROFILE, else "default"
 * (botocore's configprovider checks them in that order). Every variable is
 * read with secure_getenv(); a leading "~/" in a path is $HOME ($VARS in
 * paths, which botocore expands, are not).
 *
 * Files are read like Python's configparser reads them for botocore: "key =
 * value" or "key: value", names case-insensitive, surrounding whitespace
 * dropped, '#' / ';' comment lines, indented continuation lines belonging to
 * the key above (a key with continuation lines is not a usable value). A
 * file configparser would reject (a repeated section or key, a key before
 * any section, a line without '=' or ':') yields nothing, as botocore would
 * fail on it. Files are capped at TF_AWSCREDS_FILE_CAP.
 *
 * Secrets: never logged, never copied anywhere but the tf_awscreds that owns
 * them; file buffers and freed copies are zeroed (explicit_bzero).
 */
#ifndef TF_AWSCREDS_H
#define TF_AWSCREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "sigv4.h"

#define TF_AWSCREDS_FILE_CAP ((size_t)1 << 20)
#define TF_AWSCREDS_MAX 3 /* one set per source */

enum {
	TF_AWSCREDS_ENOTFOUND = -4001, /* no credentials with that access key id */
	TF_AWSCREDS_EPARSE = -4002,    /* a file configparser would refuse */
	TF_AWSCREDS_ENOPROFILE = -4003, /* the file has no section for the profile, or it
					 * lacks a key id or a secret */
};

typedef enum tf_awscreds_source {
	TF_AWSCREDS_ENV,
	TF_AWSCREDS_SHARED_FILE,
	TF_AWSCREDS_CONFIG_FILE,
} tf_awscreds_source;

typedef struct tf_awscred {
	char *akid;   /* NUL-terminated, owned */
	char *secret; /* NUL-terminated, owned, zeroed when freed */
	char *token;  /* NULL when there is none */
	tf_awscreds_source source;
} tf_awscred;

typedef struct tf_awscreds {
	tf_awscred set[TF_AWSCREDS_MAX];
	size_t n;
} tf_awscreds;

/*
 * Fills c (zeroed by the call) from every source above that has a complete
 * key pair, in order. A source that is absent, unreadable or malformed is
 * skipped. Returns the number of sets found (0 is not an error), or -ENOMEM.
 */
int tf_awscreds_load(tf_awscreds *c);

/*
 * Parses file text for one profile into *out (owned copies; out->source is
 * left to the caller). config_file selects the config file's section names
 * ([profile <name>], [default]) instead of the credentials file's
 * ([<name>]). Keys of a [DEFAULT] section apply to every section, as in
 * configparser. Returns 0, TF_AWSCREDS_EPARSE, TF_AWSCREDS_ENOPROFILE or
 * -ENOMEM. Pure.
 */
int tf_awscreds_parse_ini(const char *text, size_t len, const char *profile, bool config_file,
			  tf_awscred *out);

/*
 * The first set whose access key id is akid[0..n): fills *out with spans
 * into c (valid while c is) with akid set, so tf_sigv4_resign() checks it
 * against the request, and token set when the set has one. Returns 0 or
 * TF_AWSCREDS_ENOTFOUND.
 */
int tf_awscreds_find(const tf_awscreds *c, const char *akid, size_t n, tf_sigv4_creds *out);

/* Zeroes and frees every set; c is then empty. */
void tf_awscreds_free(tf_awscreds *c);
void tf_awscred_free(tf_awscred *c);

#endif
