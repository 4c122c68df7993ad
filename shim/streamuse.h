/*
 * Usage, a live output estimate and cut points of one streamed response
 * (issue 8; reference/WIRE.md §1.5, §1.6, §4.4, §4.5). Pure: feed it the
 * response body after HTTP de-chunking and content decoding, in any pieces;
 * query it at any time.
 *
 * Formats, by the call's operation (tf_call.act.operation):
 *  - InvokeModelWithResponseStream (Bedrock): event-stream frames whose
 *    `chunk` events carry {"bytes": base64 of the model's own JSON event}.
 *    The family is recognised by each event's keys, not by the model id
 *    (an application-inference-profile ARN does not name its model):
 *    Anthropic Messages (`type`: message_start … message_stop) and legacy
 *    text completions, Titan (`outputText`), Llama (`generation`), Mistral
 *    (`outputs`, `choices`), Nova (`contentBlockDelta`, `metadata`), Cohere
 *    (`text`, `generations`, `is_finished`).
 *  - ConverseStream (Bedrock): messageStart … messageStop, metadata.
 *  - ChatCompletions, Completions (Azure) and OpenAIChatCompletions
 *    (Bedrock's OpenAI surface): SSE `data: {chunk}` … `data: [DONE]`.
 *  - Responses (Azure) and OpenAIResponses: SSE `event:` / `data:` pairs.
 *
 * Final usage (tf_streamuse_usage), from the first of:
 *  - `amazon-bedrock-invocationMetrics` (inputTokenCount, outputTokenCount,
 *    cacheReadInputTokenCount, cacheWriteInputTokenCount), what Bedrock bills;
 *  - the ConverseStream `metadata` event, a Nova `metadata` chunk;
 *  - a family's own counts at its last event when no metrics came: Anthropic
 *    message_start input (+ cache) with message_delta's cumulative
 *    output_tokens, Titan inputTextTokenCount + totalOutputTextTokenCount,
 *    Llama prompt_token_count + generation_token_count;
 *  - OpenAI chat: the chunk whose `usage` is an object (not null). Azure's
 *    first chunk (prompt filter results) also has empty choices: emptiness
 *    says nothing;
 *  - Responses: response.completed / response.incomplete / response.failed
 *    `response.usage`.
 * Azure usage is split as policy/prices.h wants (cached out of input,
 * reasoning out of output), as tf_adapt_openai_usage() does.
 *
 * Output estimate (tf_streamuse_output_estimate), for live enforcement:
 * every byte of generated text in a delta counts as one token. A token
 * decodes to at least one byte of text in every tokenizer these providers
 * use, so this over-counts visible output (English: about 4x) and never
 * under-counts it. Counted: text, tool-call arguments, refusals, thinking /
 * reasoning text that the stream shows. Not counted: ids, roles, padding
 * (`p`, `obfuscation`), signatures, filter results. When the provider
 * reports a cumulative count mid-stream (Anthropic message_delta, Llama
 * generation_token_count, Titan totalOutputTextTokenCount, Bedrock metrics)
 * the estimate is at least that count. The estimate is capped at max_out
 * given at init (the provider never generates more than the call's limit),
 * but never below a count the provider reported. Once final usage is known
 * the estimate is its output + reasoning. Reasoning tokens a provider does
 * not stream (Azure o-series, gpt-5) are invisible until the final usage:
 * the caller must keep them inside the reservation.
 *
 * Unreadable (sticky): a frame whose CRC is wrong, a malformed frame, a
 * frame over TF_SU_MAX_FRAME (a 1 GB length is refused from its 12-byte
 * prelude, before anything is allocated), a stream that ends inside a frame,
 * an SSE event (or line without end) over TF_SU_MAX_EVENT, or out of memory.
 * Parsing then stops; the caller passes the rest through untouched and
 * charges the call conservatively. Memory stays bounded by those caps. A
 * chunk whose JSON or base64 does not parse is not fatal: its payload bytes
 * are added to the estimate and parsing goes on.
 *
 * Settling a call from these facts: final usage on a readable stream is
 * exact (TF_USAGE_STREAM); an unreadable stream is charged conservatively
 * (TF_USAGE_RESERVED); a stream that was cut, failed, or never carried usage
 * is charged tf_streamuse_usage_so_far(), with the call's input bound when
 * the input is not known: never 0.
 *
 * Typical use: tf_streamuse_init(&su, call->act.operation,
 * call->max_out_bound, flags) when the response head says 200, feed every
 * decoded body piece, tf_streamuse_finish() at its end or when the
 * connection goes.
 */
#ifndef TF_STREAMUSE_H
#define TF_STREAMUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "call.h"
#include "eventstream.h"
#include "sse.h"

/* Real frames and events are a few KiB; anything near these is hostile. */
#define TF_SU_MAX_FRAME ((size_t)1 << 20)
#define TF_SU_MAX_EVENT ((size_t)1 << 20)
#define TF_SU_ERR_TYPE_MAX 64
#define TF_SU_ERR_MSG_MAX 256

typedef enum tf_su_format {
	TF_SU_UNKNOWN = 0,
	TF_SU_BEDROCK_INVOKE,   /* InvokeModelWithResponseStream */
	TF_SU_BEDROCK_CONVERSE, /* ConverseStream */
	TF_SU_OPENAI_CHAT,      /* chat/completions and completions SSE */
	TF_SU_OPENAI_RESPONSES, /* Responses API SSE */
} tf_su_format;

typedef enum tf_su_end {
	TF_SU_RUNNING = 0, /* no end seen (yet) */
	TF_SU_ENDED,       /* ended as a complete stream ends: message_stop, the
			    * chunk with the metrics, messageStop, [DONE],
			    * response.completed / response.incomplete */
	TF_SU_FAILED,      /* an exception frame, an error event, response.failed */
	TF_SU_CUT,         /* tf_streamuse_finish() before any end */
} tf_su_end;

/*
 * Flag for tf_streamuse_init(), OpenAI chat only: TokenFence added
 * stream_options.include_usage to a request that did not ask for it, and
 * the app must read the stream it would have got without it. Two kinds of
 * bytes must then go:
 *  - TF_SU_DROP_EVENT: the whole usage event, the block from the first byte
 *    after the previous event's blank line through its own terminating blank
 *    line ("data: {…\"usage\":{…}}\n\n"). A chunk is the usage event when
 *    its top-level `usage` is not null and its `choices` is empty or absent;
 *  - TF_SU_DROP_MEMBER: the top-level `"usage":…` member (with one adjacent
 *    comma and the spaces around it) of every other chunk that has one:
 *    with include_usage every chunk carries `"usage":null`, and chunks
 *    without it do not have the member at all.
 * Member spans are found only in events with exactly one data line (what
 * every provider sends); a multi-line one is left whole.
 */
#define TF_SU_HIDE_USAGE_CHUNK 1u

enum {
	TF_SU_DROP_EVENT = 1,
	TF_SU_DROP_MEMBER = 2,
};

/* Bytes [start, end) of the stream, offsets counted from its first byte. */
typedef struct tf_su_span {
	uint64_t start, end;
	int kind; /* TF_SU_DROP_* */
} tf_su_span;

/* tf_streamuse_feed(): the stream is unreadable (see above). */
#define TF_SU_UNREADABLE 1

/* Private state: use the functions below. */
typedef struct tf_streamuse {
	tf_su_format format;
	unsigned flags;
	uint64_t max_out;
	tf_es_decoder es;
	tf_sse_parser sse;
	tf_buf scratch; /* a decoded chunk */
	struct tf_jnode *tape; /* the JSON tape of the event being read */
	bool dom_only;         /* tests: read every event with the DOM, the
				* reference that reading on the tape must match */

	/* SSE blocks: an event and its blank line (see TF_SU_HIDE_USAGE_CHUNK) */
	tf_buf block;         /* hide mode: the current block's bytes */
	uint64_t block_start; /* offset of the current block */
	uint8_t bom;          /* BOM bytes matched: 0..2 so far, 3 all, 4 none */
	bool line_empty;      /* nothing on the current line yet */
	bool after_cr;        /* the last byte was a CR ending a line */
	bool cr_end;          /* ...and that line was a block's blank line */
	bool cr_drop;         /* ...of a dropped block */
	int verdict;          /* the last dispatched event: 0 keep, TF_SU_DROP_* */
	tf_su_span member;    /* its member span, relative to the block */
	tf_buf drops;         /* tf_su_span queue */
	size_t drops_head;

	uint64_t fed, boundary, safe;
	bool finished;

	tf_su_end end;
	bool usage_final, input_known, reported_known;
	tf_usage usage;       /* final usage */
	tf_usage input;       /* input, cache_read, cache_write reported so far */
	uint64_t est_bytes;   /* generated text bytes seen */
	uint64_t reported_out; /* the provider's cumulative output count so far */
	int64_t seq;          /* Responses: the last sequence_number, -1 none */
	char model[TF_CALL_MODEL_MAX];
	char err_type[TF_SU_ERR_TYPE_MAX];
	char err_msg[TF_SU_ERR_MSG_MAX];
	const char *unreadable;
	uint64_t bad_events;  /* frames or events whose JSON or base64 did not parse */
} tf_streamuse;

/* The stream format of an operation; TF_SU_UNKNOWN for a non-streaming one. */
tf_su_format tf_streamuse_format(const char *operation);

/*
 * Starts on one streamed response. operation: tf_call.act.operation;
 * max_out: the call's max_out_bound (0: no cap on the estimate); flags:
 * TF_SU_HIDE_USAGE_CHUNK or 0. Returns 0, or -EINVAL for an operation that
 * does not stream or the flag on a format other than OpenAI chat (s is then
 * still safe to query and free).
 */
int tf_streamuse_init(tf_streamuse *s, const char *operation, uint64_t max_out, unsigned flags);
void tf_streamuse_free(tf_streamuse *s);

/*
 * The next n bytes of the body. Returns 0, or TF_SU_UNREADABLE once the
 * stream is unreadable (the bytes are still counted in the offsets).
 */
int tf_streamuse_feed(tf_streamuse *s, const void *p, size_t n);
/* The body ended (or the connection did): settles a pending line end,
 * marks a stream with no end TF_SU_CUT, and one that stops inside a frame
 * unreadable. Further feeds are ignored. */
void tf_streamuse_finish(tf_streamuse *s);

/* ---- what the stream said ---- */

/* True and *u when the final usage was read (see above). */
bool tf_streamuse_usage(const tf_streamuse *s, tf_usage *u);
/*
 * The least the call has cost so far, for a stream cut short: the final
 * usage if known; else the input the provider reported (Anthropic
 * message_start, Titan, Llama; cache reads and writes included) and the
 * output estimate. Returns whether the input part is known (false: *u has
 * input 0 and the caller adds its input bound).
 */
bool tf_streamuse_usage_so_far(const tf_streamuse *s, tf_usage *u);
/* Output tokens so far (see above). Never decreases while feeding, until
 * the final usage replaces it with the exact count. */
uint64_t tf_streamuse_output_estimate(const tf_streamuse *s);
tf_su_end tf_streamuse_end(const tf_streamuse *s);
/*
 * For TF_SU_FAILED: the exception type (":exception-type", ":error-code",
 * the error's code or type) and message, printable ASCII, truncated to fit;
 * "" when none.
 */
const char *tf_streamuse_error_type(const tf_streamuse *s);
const char *tf_streamuse_error_message(const tf_streamuse *s);
/* NULL, or why the stream is unreadable (a static string). */
const char *tf_streamuse_unreadable(const tf_streamuse *s);
/* The model the response names (Azure chunks, Responses, Anthropic
 * message_start), "" when none. */
const char *tf_streamuse_model(const tf_streamuse *s);

/* ---- where the caller may cut, release and drop ---- */

/* Bytes fed so far. */
uint64_t tf_streamuse_fed(const tf_streamuse *s);
/*
 * The end of the last complete frame (event-stream) or event block (SSE,
 * after its blank line): the stream may be cut there and a terminator
 * appended. Bytes past it belong to an unfinished frame or event.
 */
uint64_t tf_streamuse_boundary(const tf_streamuse *s);
/*
 * How many bytes from the stream's start are decided: every byte below it
 * may be sent to the app unless a drop span (tf_streamuse_next_drop) covers
 * it; bytes at or past it must be held. Without TF_SU_HIDE_USAGE_CHUNK, and
 * once the stream is unreadable or finished, it is everything fed. With
 * it, the bytes of the event block being received are held until its blank
 * line arrives (an SSE client cannot act on an unfinished event anyway, so
 * the app sees each event no later than it could use it). So the held bytes
 * never exceed one event (TF_SU_MAX_EVENT). Never decreases.
 */
uint64_t tf_streamuse_safe_prefix(const tf_streamuse *s);
/*
 * Pops the next span to drop, in stream order; spans do not overlap (they
 * may touch: when a dropped event's blank line is a lone CR, an LF right
 * after it belongs to it and comes as a span of its own) and end at or
 * below the safe prefix. False when none is pending. Pop after every feed:
 * a span is reported once.
 */
bool tf_streamuse_next_drop(tf_streamuse *s, tf_su_span *span);

/* ---- ending a stream on purpose ---- */

/*
 * Appends to out what the provider sends when a stream fails, so the app's
 * SDK raises an error that names TokenFence; append it at a boundary, then
 * close. The message is "TokenFence: " + reason; code (NULL:
 * "budget_exceeded") is the OpenAI error code.
 *  - Bedrock (both formats): an exception frame, `:message-type exception`,
 *    `:exception-type modelStreamErrorException`, payload
 *    {"message": …, "originalStatusCode": 402}. botocore raises
 *    botocore.exceptions.EventStreamError (a ClientError) "An error occurred
 *    (modelStreamErrorException) when calling the <Operation> operation:
 *    TokenFence: …".
 *  - OpenAI chat: `data: {"error":{"message":…,"type":"tokenfence",
 *    "code":…,"param":null}}` and a blank line. openai-python and
 *    openai-node raise APIError whose message is the error's message.
 *  - Responses: `event: error` with data {"type":"error","code":…,
 *    "message":…,"param":null,"sequence_number":<next>,"error":{…the same
 *    object as chat…}}. The nested "error" is what makes both SDKs raise
 *    (they look for a truthy data.error), the rest is the Responses API's
 *    own error event.
 * Returns 0, -EINVAL (unknown format), or the tf_buf error; out is then
 * unchanged.
 */
int tf_streamuse_terminator(const tf_streamuse *s, const char *code, const char *reason,
			    tf_buf *out);

#endif
