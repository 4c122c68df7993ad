/*
 * Authentication as the clouds do it: SigV4 (shim/sigv4.h, the same code the
 * shim re-signs with) or a Bedrock API key for Bedrock; api-key or Bearer for
 * Azure. Secrets are compared in constant time and never logged.
 */
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "sigv4.h"

static bool ct_str_eq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);

	return an == bn && tf_ct_equal(a, b, an);
}

static const emu_cred *find_cred(const emu_config *c, const tf_sigv4_span *akid)
{
	for (size_t i = 0; i < c->ncreds; i++)
		if (strlen(c->creds[i].akid) == akid->n &&
		    memcmp(c->creds[i].akid, akid->p, akid->n) == 0)
			return &c->creds[i];
	return NULL;
}

static int bearer(const tf_h1_header *h, const char **tok, size_t *n)
{
	if (h->value_len < 7 || strncasecmp(h->value, "Bearer ", 7) != 0)
		return -1;
	*tok = h->value + 7;
	*n = h->value_len - 7;
	while (*n && **tok == ' ')
		(*tok)++, (*n)--;
	return 0;
}

static void invalid_token(emu_resp *resp)
{
	emu_aws_error(resp, 403, "UnrecognizedClientException",
		      "The security token included in the request is invalid.");
}

int emu_bedrock_auth(const emu_req *q, emu_resp *resp)
{
	const tf_h1_header *az = tf_h1_find(q->head, "authorization");
	const tf_h1_header *tokh = tf_h1_find(q->head, "x-amz-security-token");
	tf_sigv4_header hs[TF_H1_MAX_HEADERS];
	char payload[TF_SIGV4_HASH_MAX + 1];
	const emu_cred *cred;
	tf_sigv4_request r;
	tf_sigv4_auth a;
	const char *tok;
	size_t tn;
	int e, plen;

	if (!az) {
		emu_aws_error(resp, 403, "MissingAuthenticationTokenException",
			      "Missing Authentication Token");
		return -1;
	}
	if (bearer(az, &tok, &tn) == 0) {
		if (q->cfg->bedrock_api_key && ct_str_eq(tok, tn, q->cfg->bedrock_api_key))
			return 0;
		invalid_token(resp);
		return -1;
	}
	e = tf_sigv4_parse_auth(az->value, az->value_len, &a);
	if (e) {
		emu_aws_error(resp, 403, "IncompleteSignatureException",
			      "Authorization header requires 'Credential' parameter. Authorization "
			      "header requires 'Signature' parameter. Authorization header requires "
			      "'SignedHeaders' parameter. Authorization header requires existence of "
			      "either a 'X-Amz-Date' or a 'Date' header.");
		return -1;
	}
	if (a.service.n != 7 || memcmp(a.service.p, "bedrock", 7) != 0) {
		emu_aws_error(resp, 403, "InvalidSignatureException",
			      "Credential should be scoped to correct service: 'bedrock'. ");
		return -1;
	}
	cred = find_cred(q->cfg, &a.akid);
	if (!cred || (cred->token && (!tokh || !ct_str_eq(tokh->value, tokh->value_len, cred->token)))) {
		invalid_token(resp);
		return -1;
	}
	for (size_t i = 0; i < q->head->num_headers; i++) {
		const tf_h1_header *h = &q->head->headers[i];

		hs[i] = (tf_sigv4_header){h->name, h->name_len, h->value, h->value_len};
	}
	plen = tf_sigv4_payload_hash(hs, q->head->num_headers, q->body, q->body_len, payload);
	if (plen < 0) {
		emu_aws_error(resp, 400, "ValidationException", "Invalid x-amz-content-sha256 header.");
		return -1;
	}
	r = (tf_sigv4_request){q->head->method, q->head->method_len, q->head->target,
			       q->head->target_len, hs, q->head->num_headers, payload, (size_t)plen};
	e = tf_sigv4_verify(&r, &a, cred->secret, strlen(cred->secret));
	if (e == 0)
		return 0;
	if (e == TF_SIGV4_ENODATE)
		emu_aws_error(resp, 403, "IncompleteSignatureException",
			      "Authorization header requires existence of either a 'X-Amz-Date' or a "
			      "'Date' header.");
	else
		emu_aws_error(resp, 403, "InvalidSignatureException",
			      "The request signature we calculated does not match the signature you "
			      "provided. Check your AWS Secret Access Key and signing method. Consult "
			      "the service documentation for details.");
	return -1;
}

int emu_azure_auth(const emu_req *q, emu_resp *resp)
{
	const tf_h1_header *k = tf_h1_find(q->head, "api-key");
	const tf_h1_header *az = tf_h1_find(q->head, "authorization");
	const char *key = q->cfg->azure_key, *tok;
	size_t tn;

	if (k && ct_str_eq(k->value, k->value_len, key))
		return 0;
	if (!k && az && bearer(az, &tok, &tn) == 0 && ct_str_eq(tok, tn, key))
		return 0;
	resp->status = 401;
	resp->content_type = "application/json";
	tf_buf_reset(&resp->body);
	tf_buf_append_str(&resp->body,
			  "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid "
			  "subscription key or wrong API endpoint. Make sure to provide a valid key "
			  "for an active subscription and use a correct regional API endpoint for "
			  "your resource.\"}}");
	return -1;
}
