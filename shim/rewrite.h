/*
 * Rewriting a guarded HTTP/1.1 request before it leaves the process
 * (issue 7: downgrade, clamp; issue 8: include_usage), then re-signing it
 * when it is SigV4-signed (reference/WIRE.md §2.3).
 *
 * Input: the parsed head (tf_h1_parse_head over raw_head, whose spans must
 * point into it), the whole body with any chunked framing already removed,
 * the provider, a change set, and the static AWS credentials. Output: the
 * complete new request (head + body) appended to a tf_buf. Pure: no I/O,
 * nothing kept past the call; on failure the tf_buf is left as it was and
 * the caller falls back (block or pass per config) with an event naming the
 * error.
 *
 * What changes, and nothing else (every other byte is copied verbatim):
 *  - model: Bedrock — the {id} of "/model/{id}/…", re-encoded the way the
 *    client encoded the old one (':' raw if the old id had a raw ':', as the
 *    Anthropic SDK sends it; else "%3A" as botocore and aws-sdk-js do, in the
 *    old id's hex case; '/' of ARNs always "%2F"; anything outside
 *    A-Z a-z 0-9 - . _ ~ percent-encoded). Azure — the segment after
 *    "/deployments/". Both — a top-level body member "model" (and, on
 *    Bedrock, "modelId") when it is there. At least one place must exist.
 *  - output limit: each of the given fields that is present and above
 *    max_out (or null) is set to max_out; a field at or below it is left
 *    alone. When none is present, the first is added (with any absent
 *    parent object, e.g. inferenceConfig).
 *  - include_usage (only when the body has "stream": true; Azure's
 *    chat/completions rejects stream_options otherwise; ask for it on
 *    chat/completions only: the Responses API has no stream_options and
 *    reports usage in response.completed anyway):
 *    stream_options.include_usage becomes true, stream_options created or a
 *    null one replaced as needed. result.usage_added tells the caller that
 *    the app did not ask for the usage chunk (issue 8: strip it).
 *  - Accept-Encoding: only gzip, x-gzip, deflate and identity are kept
 *    (shim/decode.h decodes those), with their parameters; a value left
 *    with nothing acceptable becomes "identity". Absent stays absent.
 *  - framing: Content-Length is set to the new body length (in place, same
 *    spelling); a chunked request becomes Content-Length framed (the first
 *    Transfer-Encoding line turns into Content-Length, trailers are gone);
 *    Expect is dropped (the caller answers 100-continue itself) unless it
 *    is signed, where it stays (a server may see it with the body already
 *    sent, RFC 9110 §10.1.1).
 *  - SigV4 (Authorization: AWS4-HMAC-SHA256 …): when the target, the body or
 *    a signed header changed, the Signature= is recomputed by
 *    tf_sigv4_resign() over the headers as sent, with the credentials whose
 *    access key id is the request's; X-Amz-Date, the session token, the
 *    SignedHeaders list and Host are kept; a hex X-Amz-Content-SHA256 is
 *    updated to the new body's. UNSIGNED-PAYLOAD stays as it is (the body
 *    is then not covered). A bearer-token or unsigned request is rewritten
 *    without signing.
 */
#ifndef TF_REWRITE_H
#define TF_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awscreds.h"
#include "buf.h"
#include "hosts.h"
#include "http1.h"
#include "jsonedit.h"

#define TF_RW_MAX_LIMIT_FIELDS 4

enum {
	TF_RW_ENOCREDS = -3001,   /* SigV4: no static credentials for the request's access key
				   * id, or they carry another session token */
	TF_RW_EPAYLOAD = -3002,   /* SigV4 payload mode we cannot redo: chunk-signed
				   * STREAMING-…, or an X-Amz-Content-SHA256 that is neither a
				   * hex digest nor UNSIGNED-PAYLOAD */
	TF_RW_ENOTJSON = -3003,   /* the body must be edited but is not strict JSON (or is
				   * content-coded) */
	TF_RW_EFIELD = -3004,     /* a field cannot be edited: wrong type (a string limit,
				   * stream_options not an object, a non-string model), a
				   * repeated name on its path, an object too big */
	TF_RW_ENOMODEL = -3005,   /* a model change, but neither path nor body names the model */
	TF_RW_ESIGNATURE = -3006, /* a signature we cannot redo: presigned query, another
				   * algorithm (SigV4a), malformed Authorization, no
				   * X-Amz-Date, or a signed Transfer-Encoding to remove */
	TF_RW_EREQUEST = -3007,   /* the head/body given are inconsistent: spans outside
				   * raw_head, not origin-form, body length not the framing's */
};

/* A JSON member path such as {"inferenceConfig", "maxTokens"}. */
typedef struct tf_rw_field {
	const char *path[TF_JSONEDIT_MAX_PATH];
	size_t depth;
} tf_rw_field;

typedef struct tf_rw_changes {
	const char *model; /* new model id (decoded) or deployment; NULL: keep */
	size_t model_len;
	bool clamp;        /* apply max_out to limit[] */
	uint64_t max_out;
	tf_rw_field limit[TF_RW_MAX_LIMIT_FIELDS]; /* the API's limit fields, preferred first */
	size_t nlimit;
	bool include_usage;          /* Azure streaming chat */
	bool narrow_accept_encoding; /* Azure */
} tf_rw_changes;

typedef struct tf_rw_result {
	size_t head_len; /* the new head is the first head_len bytes appended */
	size_t body_len; /* then the body */
	bool model_in_path;
	bool model_in_body;
	bool clamped;       /* a limit field was lowered or added */
	bool usage_added;   /* include_usage turned on for the app's stream */
	bool accept_narrowed;
	bool expect_removed;
	bool dechunked;
	bool resigned;
} tf_rw_result;

/*
 * Appends the rewritten request to out and fills *res. creds may be NULL
 * (then any SigV4 request that needs re-signing is TF_RW_ENOCREDS).
 * Returns 0, a TF_RW_* error above, -ENOBUFS when out's cap is reached, or
 * -ENOMEM.
 */
int tf_rw_request(const tf_h1_head *head, const char *raw_head, size_t raw_head_len,
		  const uint8_t *body, size_t body_len, tf_provider provider,
		  const tf_rw_changes *ch, const tf_awscreds *creds, tf_buf *out,
		  tf_rw_result *res);

/* A short fixed name for an error code ("no-credentials", …) for events. */
const char *tf_rw_strerror(int e);

#endif
