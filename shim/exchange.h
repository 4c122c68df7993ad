/*
 * One request/response pair on a guarded connection, from the moment the
 * request is whole to the moment its answer has been read.
 *
 * Requests are answered in order (HTTP/1.1), so a connection keeps its
 * exchanges in a FIFO: the oldest one owns the response being read. The
 * response is read from a shadow of the bytes the app receives: its head
 * gives status and Bedrock's token headers; its body is decoded (gzip,
 * deflate) into a capped copy that the adapter reads usage from at the end.
 * When the answer is complete, or the connection ends without one, the
 * call is settled and booked (totals, events).
 *
 * All functions are called with the connection's lock held.
 */
#ifndef TF_EXCHANGE_H
#define TF_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "call.h"
#include "decode.h"
#include "http1.h"

/* What we keep of a response body to read usage from. Responses carrying
 * usage are small; a bigger one is settled at its reservation. */
#define TF_EX_BODY_CAP ((size_t)4 << 20)

typedef struct tf_exchange {
	struct tf_exchange *next;
	tf_call call;
	bool head_request; /* HEAD: the response has no body */
	bool answered;     /* a final (non-1xx) response head was seen */
	tf_decoder dec;
	bool dec_live;
	bool body_bad;     /* decoding failed or passed the cap */
	tf_buf body;
} tf_exchange;

struct tf_conn;

/* A request is whole: builds its exchange and appends it to the FIFO.
 * Returns the exchange (never NULL: on ENOMEM it is not tracked and NULL is
 * returned, and the request is simply forwarded). */
tf_exchange *tf_exchange_open(struct tf_conn *c, const tf_h1_head *h, const uint8_t *body,
			      size_t body_len);
/* The exchange whose response is read next, or NULL. */
tf_exchange *tf_exchange_front(struct tf_conn *c);

void tf_exchange_response_head(struct tf_conn *c, const tf_h1_head *h);
void tf_exchange_response_body(struct tf_conn *c, const uint8_t *p, size_t n);
void tf_exchange_response_end(struct tf_conn *c);
/* The connection is over: settle what was never answered. */
void tf_exchange_close_all(struct tf_conn *c, const char *why);

#endif
