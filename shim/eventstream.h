/*
 * AWS event-stream framing (application/vnd.amazon.eventstream), the body of
 * Bedrock InvokeModelWithResponseStream and ConverseStream responses
 * (reference/WIRE.md §1.6).
 *
 * A message is: total length (u32), headers length (u32), prelude CRC (u32,
 * CRC-32 of the first 8 bytes), headers, payload, message CRC (u32, CRC-32 of
 * every byte before it). All integers are big-endian. A header is a name
 * (u8 length, 1..255 bytes), a type byte (0..9) and a value whose size the
 * type gives (6 and 7 carry a u16 length).
 *
 * The decoder is incremental: feed it the de-chunked body in any pieces; it
 * calls back once per complete, CRC-checked, validated message. It copies a
 * message only when the message spans feeds, into a buffer capped at the
 * decoder's max message size. After the first error it stays failed (the
 * caller passes the rest of the stream through untouched).
 */
#ifndef TF_EVENTSTREAM_H
#define TF_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TF_ES_PRELUDE_LEN 12
#define TF_ES_MIN_MESSAGE 16 /* prelude + message CRC */
/* As botocore: headers at most 128 KiB, payload at most 16 MiB. */
#define TF_ES_MAX_HEADERS_LEN ((size_t)128 * 1024)
#define TF_ES_MAX_PAYLOAD ((size_t)16 * 1024 * 1024)
#define TF_ES_DEFAULT_MAX_MESSAGE (TF_ES_MAX_PAYLOAD + TF_ES_MAX_HEADERS_LEN + TF_ES_MIN_MESSAGE)

enum {
	TF_ES_EMALFORMED = -1, /* bad lengths, header encoding, duplicate header names */
	TF_ES_ECRC = -2,       /* prelude or message CRC mismatch */
	TF_ES_ETOOBIG = -3,    /* total, headers or payload length past a cap */
	TF_ES_EABORT = -4,     /* the callback returned < 0 */
};

typedef enum tf_es_type {
	TF_ES_TRUE = 0,
	TF_ES_FALSE = 1,
	TF_ES_BYTE = 2,
	TF_ES_SHORT = 3,
	TF_ES_INT = 4,
	TF_ES_LONG = 5,
	TF_ES_BYTES = 6,
	TF_ES_STRING = 7,
	TF_ES_TIMESTAMP = 8, /* ms since the epoch */
	TF_ES_UUID = 9,
} tf_es_type;

/*
 * One header. Decoded: value/value_len span the raw value bytes inside the
 * message (without the u16 length of types 6 and 7; big-endian for numbers);
 * ival holds types 0..5 and 8 as a signed number (true = 1, false = 0).
 * For encoding: types 6, 7, 9 take value/value_len (9: exactly 16 bytes), the
 * others ival (types 0 and 1 need nothing).
 */
typedef struct tf_es_header {
	const char *name;
	size_t name_len;
	tf_es_type type;
	const uint8_t *value;
	size_t value_len;
	int64_t ival;
} tf_es_header;

/* A decoded message; every span points into the caller's or decoder's bytes
 * and is valid only during the callback. */
typedef struct tf_es_message {
	const uint8_t *raw; /* the whole message */
	size_t raw_len;
	const uint8_t *headers; /* the header section */
	size_t headers_len;
	size_t num_headers;
	const uint8_t *payload;
	size_t payload_len;
} tf_es_message;

/*
 * Iterates the headers of a decoded message: *pos starts at 0. Returns true
 * and fills *h, or false at the end.
 */
bool tf_es_next_header(const tf_es_message *m, size_t *pos, tf_es_header *h);
/* The header called name (exact, case-sensitive as on the wire); false when absent. */
bool tf_es_find(const tf_es_message *m, const char *name, tf_es_header *h);
/*
 * The value of the string header called name (":message-type",
 * ":event-type", ":exception-type", ":content-type", ":error-code",
 * ":error-message", ...): true and the span, false when absent or not a string.
 */
bool tf_es_find_string(const tf_es_message *m, const char *name, const char **v, size_t *n);

/*
 * Checks that p[0..n) is exactly one valid message (lengths, both CRCs, header
 * encoding, no duplicate names) and fills *m. Returns 0 or a TF_ES_* error.
 */
int tf_es_parse(const uint8_t *p, size_t n, size_t max_message, tf_es_message *m);

typedef int (*tf_es_on_message)(void *ctx, const tf_es_message *m);

/* Private state: use the functions below. */
typedef struct tf_es_decoder {
	tf_buf buf;         /* the message being assembled across feeds */
	size_t max_message; /* cap on total length */
	uint32_t need;      /* total length of the message in buf, 0 before its prelude */
	uint32_t hlen;      /* and its headers length */
	int err;
	uint64_t messages;  /* messages delivered so far */
} tf_es_decoder;

/* max_message: cap on a message's total length; 0 = TF_ES_DEFAULT_MAX_MESSAGE. */
void tf_es_decoder_init(tf_es_decoder *d, size_t max_message);
/* Releases the buffer and leaves d freshly initialised (same cap). */
void tf_es_decoder_free(tf_es_decoder *d);

/*
 * Consumes all of p[0..n), calling cb for each complete message. Returns 0,
 * or a TF_ES_* error (or -ENOMEM); errors are sticky. A prelude is checked
 * (CRC, then total length against 16 and the cap, headers length against
 * 128 KiB and the total) as soon as its 12 bytes are in, before anything is
 * allocated for the message.
 */
int tf_es_decoder_feed(tf_es_decoder *d, const uint8_t *p, size_t n, tf_es_on_message cb,
		       void *ctx);
/* The stored error, or 0. */
int tf_es_decoder_error(const tf_es_decoder *d);
/* True when no partial message is pending (the stream may end here). */
bool tf_es_decoder_idle(const tf_es_decoder *d);

/*
 * Appends one message with the given headers and payload to out. Returns 0,
 * -EINVAL (empty or > 255-byte name, type > 9, value longer than 65535 bytes,
 * a UUID that is not 16 bytes, duplicate names, headers past 128 KiB, payload
 * past 16 MiB) or the tf_buf error (-ENOBUFS, -ENOMEM); out is unchanged on
 * error.
 */
int tf_es_encode(tf_buf *out, const tf_es_header *headers, size_t num_headers,
		 const void *payload, size_t payload_len);

/* A string header for tf_es_encode(), from NUL-terminated name and value. */
tf_es_header tf_es_string_header(const char *name, const char *value);

#endif
