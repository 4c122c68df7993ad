/*
 * Human approval of calls a policy rule marks require_approval.
 *
 * The request is held, never sent, while the thread that wrote it waits:
 * a blocking app's call simply takes longer, and its other threads and
 * connections keep working (a single-threaded event loop such as node's
 * waits with it). `tokenfence approvals` lists what waits (through the
 * control socket commands registered here), `tokenfence approve ID` /
 * `deny ID` decide; nobody deciding within approval_timeout_s is a denial.
 *
 * A provider may close an idle connection while a human thinks, and the
 * SDK then retries the same request on a new one: an approved request that
 * got no answer is remembered by its fingerprint (method, target, body) for
 * ten minutes, so that one retry is not asked again. A second call that
 * merely looks the same is a new call and is asked about.
 */
#ifndef TF_APPROVALS_H
#define TF_APPROVALS_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"

typedef enum tf_approval {
	TF_APPROVAL_GRANTED,
	TF_APPROVAL_DENIED,
	TF_APPROVAL_TIMEOUT,
} tf_approval;

/* Registers the control commands approvals/approve/deny. */
void tf_approvals_init(void);

/*
 * Waits for a decision on call (whose request hashes to fingerprint). rule
 * names the policy rule that asked for it; `who` receives a short note of
 * who decided, for messages. Never returns before a decision or the
 * timeout. Thread-safe; any number of calls may wait at once.
 */
tf_approval tf_approvals_wait(const tf_call *call, uint64_t fingerprint, const char *rule,
			      unsigned timeout_s, char *who, size_t wholen);

/* An approved request got no answer (the connection went): its next
 * identical request is its retry and passes without asking again. */
void tf_approvals_remember_retry(uint64_t fingerprint);

/* The fingerprint of a request: FNV-1a over method, target and body. */
uint64_t tf_approvals_fingerprint(const char *method, size_t mlen, const char *target,
				  size_t tlen, const uint8_t *body, size_t blen);

void tf_approvals_child_reset(void);

#endif
