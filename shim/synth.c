#include "synth.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

static const struct {
	int status;
	const char *reason;
	const char *phrase;
	const char *aws_type;
	const char *azure_code;
} kinds[] = {
	[TF_BLOCK_BUDGET] = { 402, "Payment Required", "budget exceeded", "BudgetExceededException",
			      "budget_exceeded" },
	[TF_BLOCK_POLICY] = { 403, "Forbidden", "denied by policy", "PolicyDeniedException",
			      "policy_denied" },
	[TF_BLOCK_APPROVAL] = { 403, "Forbidden", "approval denied", "ApprovalDeniedException",
				"approval_denied" },
};

const char *tf_block_phrase(tf_block_kind k)
{
	return kinds[k].phrase;
}

/* A request id shaped like the provider's, so logs that expect one get one. */
static void request_id(char *out, size_t n)
{
	static unsigned long counter;
	unsigned long v = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

	snprintf(out, n, "70ce4fe0-0000-4000-8000-%012lx", v & 0xffffffffffffUL);
}

int tf_synth_error(tf_buf *out, tf_provider p, tf_block_kind k, const char *detail,
		   bool head_request)
{
	char msg[1024], rid[64];
	tf_buf body;
	int r;

	snprintf(msg, sizeof(msg), "TokenFence: %s: %s", kinds[k].phrase, detail);
	request_id(rid, sizeof(rid));
	tf_buf_init(&body, 4096);
	tf_json_open_object(&body);
	if (p == TF_PROVIDER_AZURE) {
		tf_json_put_key(&body, "error");
		tf_json_open_object(&body);
		tf_json_put_key(&body, "code");
		tf_json_put_cstr(&body, kinds[k].azure_code);
		tf_json_put_key(&body, "message");
		tf_json_put_cstr(&body, msg);
		tf_json_put_key(&body, "type");
		tf_json_put_cstr(&body, "tokenfence");
		tf_json_put_key(&body, "param");
		tf_json_put_null(&body);
		tf_json_close_object(&body);
	} else {
		tf_json_put_key(&body, "message");
		tf_json_put_cstr(&body, msg);
	}
	r = tf_json_close_object(&body);
	if (r == 0 && p == TF_PROVIDER_AZURE)
		r = tf_buf_printf(out,
				  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
				  "x-should-retry: false\r\napim-request-id: %s\r\nx-request-id: %s\r\n"
				  "Content-Length: %zu\r\n\r\n",
				  kinds[k].status, kinds[k].reason, rid, rid, body.len);
	else if (r == 0)
		r = tf_buf_printf(out,
				  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
				  "x-amzn-RequestId: %s\r\nx-amzn-ErrorType: %s\r\n"
				  "Content-Length: %zu\r\n\r\n",
				  kinds[k].status, kinds[k].reason, rid, kinds[k].aws_type, body.len);
	if (r == 0 && !head_request)
		r = tf_buf_append(out, body.data, body.len);
	tf_buf_free(&body);
	return r;
}
