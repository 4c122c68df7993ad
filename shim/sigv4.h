/*
 * AWS Signature Version 4 (reference/WIRE.md section 2), as Bedrock uses it:
 * parsing an Authorization value, building the canonical request from the
 * bytes actually sent on the wire, signing, verifying (the emulator), and
 * re-signing a request whose target or body the shim changed.
 *
 * Inputs are spans the caller owns; nothing here keeps a pointer past the
 * call. The canonical request is built in a tf_buf capped at
 * TF_SIGV4_CREQ_CAP. No I/O, no allocation outside the tf_buf arguments and
 * a bounded scratch buffer.
 *
 * Canonicalisation rules (the ones AWS's verifier applies, and botocore's and
 * aws-sdk-js's signers produce, for non-S3 services):
 *  - URI: the path of the request-target exactly as sent (still
 *    percent-encoded), with "." / ".." segments and empty segments removed,
 *    then percent-encoded once more: every byte other than A-Z a-z 0-9 - _ . ~
 *    and '/' becomes %XX (upper-case hex). So %3A on the wire is %253A here.
 *  - Query: pairs split on '&' and the first '=', each name and value
 *    percent-decoded once then encoded with the same unreserved set ('/'
 *    encoded too), sorted by name then value, joined as name=value with '&'.
 *  - Headers: for each name in SignedHeaders, every field with that name
 *    (case-insensitive) contributes its value with leading/trailing
 *    whitespace removed and inner whitespace runs collapsed to one space;
 *    repeats are joined with ',' in wire order. A signed name missing from
 *    the request contributes an empty value (the signature then fails).
 *    HTTP/2 callers pass the ":authority" pseudo-header as an ordinary field.
 *  - Payload: the literal value of X-Amz-Content-SHA256 when present (e.g.
 *    UNSIGNED-PAYLOAD), else the hex SHA-256 of the body.
 */
#ifndef TF_SIGV4_H
#define TF_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "sha256.h"

#define TF_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define TF_SIGV4_CREQ_CAP ((size_t)256 * 1024)
#define TF_SIGV4_MAX_SIGNED 64  /* names in SignedHeaders */
#define TF_SIGV4_MAX_QUERY 256  /* name=value pairs in the query */
#define TF_SIGV4_HASH_MAX 64    /* longest payload-hash value accepted */
#define TF_SIGV4_SIG_HEX 64

enum {
	TF_SIGV4_EMALFORMED = -1001, /* Authorization value or request-target unusable */
	TF_SIGV4_ENOTSIGV4 = -1002,  /* another scheme (e.g. "Bearer …") */
	TF_SIGV4_ENODATE = -1003,    /* no X-Amz-Date field */
	TF_SIGV4_ETOOBIG = -1004,    /* past a cap above */
	TF_SIGV4_EMISMATCH = -1005,  /* verify: signature differs (or scope date != X-Amz-Date) */
	TF_SIGV4_ECREDS = -1006,     /* resign: credentials are not the ones that signed */
	TF_SIGV4_EUNSUPPORTED = -1007, /* resign: streaming (chunk-signed) payload */
};

typedef struct tf_sigv4_span {
	const char *p;
	size_t n;
} tf_sigv4_span;

/* A parsed Authorization value; every span points into the parsed input. */
typedef struct tf_sigv4_auth {
	tf_sigv4_span credential;  /* AKID/date/region/service/aws4_request */
	tf_sigv4_span akid;
	tf_sigv4_span date;        /* yyyymmdd of the credential scope */
	tf_sigv4_span region;
	tf_sigv4_span service;     /* "bedrock" for every Bedrock host */
	tf_sigv4_span signed_headers; /* "h1;h2;…" as sent */
	tf_sigv4_span signature;   /* 64 lower-case hex digits */
} tf_sigv4_auth;

/*
 * Parses "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…"
 * (components in any order, optional spaces after commas). Returns 0,
 * TF_SIGV4_ENOTSIGV4 for another scheme, or TF_SIGV4_EMALFORMED.
 */
int tf_sigv4_parse_auth(const char *v, size_t n, tf_sigv4_auth *out);

typedef struct tf_sigv4_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
} tf_sigv4_header;

typedef struct tf_sigv4_request {
	const char *method;
	size_t method_len;
	const char *target; /* origin-form request-target as sent: path[?query] */
	size_t target_len;
	const tf_sigv4_header *headers; /* every field of the request, wire order */
	size_t num_headers;
	const char *payload_hash; /* from tf_sigv4_payload_hash() */
	size_t payload_hash_len;
} tf_sigv4_request;

/* First field called name (case-insensitive), or NULL. */
const tf_sigv4_header *tf_sigv4_find(const tf_sigv4_header *h, size_t n, const char *name);

/*
 * The payload line of the canonical request: the X-Amz-Content-SHA256 value
 * when the request has one, else hex SHA-256 of body[0..body_len). Writes a
 * NUL-terminated string to out and returns its length, or TF_SIGV4_ETOOBIG
 * when the header value is longer than TF_SIGV4_HASH_MAX.
 */
int tf_sigv4_payload_hash(const tf_sigv4_header *h, size_t n, const void *body, size_t body_len,
			  char out[TF_SIGV4_HASH_MAX + 1]);

/* Appends the canonical URI of path[0..n) (the target up to '?'). */
int tf_sigv4_canonical_uri(const char *path, size_t n, tf_buf *out);
/* Appends the canonical query string of q[0..n) (the target after '?'). */
int tf_sigv4_canonical_query(const char *q, size_t n, tf_buf *out);
/*
 * Appends the canonical request of r signed over signed_headers ("a;b;c").
 * Returns 0, TF_SIGV4_ETOOBIG, or -ENOMEM.
 */
int tf_sigv4_canonical_request(const tf_sigv4_request *r, const char *signed_headers,
			       size_t signed_headers_len, tf_buf *out);
/*
 * Appends "AWS4-HMAC-SHA256\n<amz_date>\n<date>/<region>/<service>/aws4_request\n<hex hash>"
 * where the hash is that of creq[0..creq_len).
 */
int tf_sigv4_string_to_sign(const char *amz_date, size_t amz_date_len, const tf_sigv4_auth *scope,
			    const void *creq, size_t creq_len, tf_buf *out);
/* kSigning = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request". */
void tf_sigv4_signing_key(const char *secret, size_t secret_len, const tf_sigv4_auth *scope,
			  uint8_t out[TF_SHA256_LEN]);

/*
 * The signature of r under the scope and SignedHeaders of auth, with the
 * timestamp taken from r's X-Amz-Date field. Writes 64 hex digits + NUL.
 * Returns 0, TF_SIGV4_ENODATE, TF_SIGV4_ETOOBIG or -ENOMEM.
 */
int tf_sigv4_sign(const tf_sigv4_request *r, const tf_sigv4_auth *auth, const char *secret,
		  size_t secret_len, char sig[TF_SIGV4_SIG_HEX + 1]);

/*
 * Checks the request's own signature (auth parsed from its Authorization
 * field) with secret: 0 when it matches, TF_SIGV4_EMISMATCH when it does not
 * or the scope date is not the date of X-Amz-Date, or another TF_SIGV4_*
 * error. The comparison runs in constant time.
 */
int tf_sigv4_verify(const tf_sigv4_request *r, const tf_sigv4_auth *auth, const char *secret,
		    size_t secret_len);

typedef struct tf_sigv4_creds {
	const char *akid; /* NULL: not checked */
	size_t akid_len;
	const char *secret;
	size_t secret_len;
	const char *token; /* session token; NULL: not checked */
	size_t token_len;
} tf_sigv4_creds;

/*
 * Re-signing after the shim changed the request-target and/or the body
 * (WIRE.md section 2.3). headers are the ORIGINAL request's fields,
 * including Authorization; method is unchanged. The canonical request is
 * rebuilt from new_target, the same SignedHeaders list and the current
 * values of those fields, except that Content-Length becomes new_body_len
 * (decimal) and a hex X-Amz-Content-SHA256 becomes the hex SHA-256 of
 * new_body: the caller must write exactly those values into the head it
 * sends. X-Amz-Date and the session token are kept.
 *
 * Writes the new Authorization value (the old one with only the Signature=
 * digits replaced, so the same length) to out, NUL-terminated, and its
 * length to *out_len. Returns 0; TF_SIGV4_ENOTSIGV4 / EMALFORMED when the
 * request has no usable SigV4 Authorization; TF_SIGV4_ECREDS when creds
 * carry an AKID or token that differs from the request's; TF_SIGV4_EUNSUPPORTED
 * for chunk-signed (STREAMING-…) payloads; TF_SIGV4_ETOOBIG when out is
 * too small; other errors as tf_sigv4_sign().
 */
int tf_sigv4_resign(const char *method, size_t method_len, const tf_sigv4_header *headers,
		    size_t num_headers, const char *new_target, size_t new_target_len,
		    const void *new_body, size_t new_body_len, const tf_sigv4_creds *creds,
		    char *out, size_t out_size, size_t *out_len);

#endif
