/*
 * Provider adapters: from a guarded request to a tf_call, and from its
 * response to usage. Pure functions over parsed heads and byte spans, so
 * they are unit-tested without any TLS.
 *
 * Request side (tf_adapt_request): the action comes from policy/actions.h;
 * a billable call also gets its model (Bedrock: the path's model id,
 * percent-decoded; Azure: the deployment, or the body's "model" on the v1
 * and Responses routes), the model its price is looked up with (Azure
 * deployments go through config "deployments"), whether it streams, the
 * request's own output limit for its API, and the worst-case bound of
 * policy/call.h. A billable request whose body is not JSON is marked
 * body_unreadable and bounded by its byte length and the model's maximum
 * output.
 *
 * Response side: Bedrock InvokeModel reports usage in
 * X-Amzn-Bedrock-*-Token-Count headers; otherwise the body's usage is read
 * per API (Converse, each model family, Azure chat/completions/embeddings/
 * Responses). tf_adapt_finish decides how the call is settled: from the
 * usage; not billed for a provider error response (AWS/Azure error shapes);
 * or at the reservation when usage cannot be read.
 */
#ifndef TF_ADAPT_H
#define TF_ADAPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "config.h"
#include "http1.h"
#include "json.h"
#include "rewrite.h"

typedef struct tf_req_view {
	const tf_h1_head *head;
	const char *host; /* SNI or Host, without port */
	const uint8_t *body;
	size_t body_len;
} tf_req_view;

/* Fills call (already tf_call_init'ed with its provider). Returns 0, or a
 * negative errno when the request cannot be mapped (the caller applies its
 * fail mode: the action is then "<provider>:UnknownOperation"). */
int tf_adapt_request(tf_call *call, const tf_req_view *rq, const tf_config *cfg,
		     const tf_prices *prices);

/* Response head: status, Bedrock token-count headers. */
void tf_adapt_response_head(tf_call *call, const tf_h1_head *h);
/*
 * The response is complete. body is the decoded body (NULL/0 when it was
 * not kept, e.g. over the cap or undecodable), complete says whether it is
 * all of it. Settles the call (tf_call_settle) and may re-price an Azure
 * deployment by the model the response names.
 */
void tf_adapt_finish(tf_call *call, const uint8_t *body, size_t len, bool complete,
		     const tf_config *cfg, const tf_prices *prices);

/* The request's output-limit field(s) for its API, preferred first (the
 * one a clamp inserts when none is present). Returns how many. */
size_t tf_adapt_limit_fields(const tf_call *call, tf_rw_field *out, size_t cap);

/* Pieces shared with the stream decoders. */
bool tf_adapt_bedrock_usage(const tf_json_value *root, tf_usage *u);
bool tf_adapt_openai_usage(const tf_json_value *usage, tf_usage *u);
/* Reads a non-negative integer member (absent or not an integer: false). */
bool tf_json_u64(const tf_json_value *obj, const char *key, uint64_t *out);

#endif
