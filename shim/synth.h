/*
 * Synthetic, provider-native error responses for calls TokenFence stops.
 *
 * The shapes are chosen so that each SDK raises its own error after exactly
 * one attempt (reference/WIRE.md §0.6, §1.7, §4.6): no 429/5xx, which they
 * retry. Bedrock: status 402 (budget) or 403 (policy, approval) with
 * x-amzn-ErrorType BudgetExceededException / PolicyDeniedException /
 * ApprovalDeniedException and {"message": ...}; botocore then raises
 * ClientError "An error occurred (BudgetExceededException) when calling the
 * InvokeModel operation: TokenFence: budget exceeded: ...". Azure: the same
 * statuses with x-should-retry: false and {"error":{"code","message","type",
 * "param"}}; the openai SDKs raise APIError with that status and message.
 * Every message starts "TokenFence: " and contains "budget exceeded",
 * "denied by policy" or "approval denied".
 */
#ifndef TF_SYNTH_H
#define TF_SYNTH_H

#include <stdbool.h>

#include "buf.h"
#include "hosts.h"

typedef enum tf_block_kind {
	TF_BLOCK_BUDGET,   /* 402 budget exceeded (incl. kill switch, max_requests) */
	TF_BLOCK_POLICY,   /* 403 denied by policy */
	TF_BLOCK_APPROVAL, /* 403 approval denied (or timed out) */
} tf_block_kind;

/* The phrase every message of that kind contains. */
const char *tf_block_phrase(tf_block_kind k);

/*
 * Appends a complete HTTP/1.1 response (head + body; keep-alive, with
 * Content-Length) to out. detail follows the phrase in the message:
 * "TokenFence: budget exceeded: <detail>". head_request: the request was
 * HEAD, so the body is left out (the length still says what it would be).
 * Returns 0 or a negative errno from tf_buf.
 */
int tf_synth_error(tf_buf *out, tf_provider p, tf_block_kind k, const char *detail,
		   bool head_request);

#endif
