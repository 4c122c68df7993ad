/*
 * HTTP/2 framing (RFC 9113 §4, §6): the 9-octet frame header, an
 * incremental reader that never assumes a frame arrives in one piece, and
 * writers for the frames the shim builds itself.
 *
 * The reader is a pull parser in picohttpparser's shape: the caller hands it
 * a span, it consumes some bytes and says what it found (the connection
 * preface, a frame header, a piece of payload pointing into the caller's
 * span, the end of a frame). It keeps at most 24 bytes of its own; payloads
 * are never copied. Frames longer than the reader's max_len (at most
 * 2^24-1, what the length field can say) are an error, as is a preface that
 * is not the HTTP/2 client preface.
 */
#ifndef TF_H2FRAME_H
#define TF_H2FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define TF_H2F_HEADER_LEN 9
#define TF_H2F_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define TF_H2F_PREFACE_LEN 24
/* SETTINGS_MAX_FRAME_SIZE's initial value: every peer accepts frames this long. */
#define TF_H2F_DEFAULT_MAX_FRAME 16384u
#define TF_H2F_MAX_LEN 0xffffffu
#define TF_H2F_MAX_WINDOW 0x7fffffff
#define TF_H2F_DEFAULT_WINDOW 65535

enum {
	TF_H2F_DATA = 0x0,
	TF_H2F_HEADERS = 0x1,
	TF_H2F_PRIORITY = 0x2,
	TF_H2F_RST_STREAM = 0x3,
	TF_H2F_SETTINGS = 0x4,
	TF_H2F_PUSH_PROMISE = 0x5,
	TF_H2F_PING = 0x6,
	TF_H2F_GOAWAY = 0x7,
	TF_H2F_WINDOW_UPDATE = 0x8,
	TF_H2F_CONTINUATION = 0x9,
	/* A type no registry assigns (RFC 9113 §5.5: receivers ignore it);
	 * the shim's stand-in for frames the app must not see. */
	TF_H2F_TYPE_IGNORED = 0xfb,
};

enum {
	TF_H2F_END_STREAM = 0x1, /* DATA, HEADERS */
	TF_H2F_ACK = 0x1,        /* SETTINGS, PING */
	TF_H2F_END_HEADERS = 0x4,
	TF_H2F_PADDED = 0x8,
	TF_H2F_PRIORITY_FLAG = 0x20,
};

enum {
	TF_H2F_SET_HEADER_TABLE_SIZE = 0x1,
	TF_H2F_SET_ENABLE_PUSH = 0x2,
	TF_H2F_SET_MAX_CONCURRENT_STREAMS = 0x3,
	TF_H2F_SET_INITIAL_WINDOW_SIZE = 0x4,
	TF_H2F_SET_MAX_FRAME_SIZE = 0x5,
	TF_H2F_SET_MAX_HEADER_LIST_SIZE = 0x6,
};

/* Error codes (RFC 9113 §7) the shim sends. */
enum {
	TF_H2F_NO_ERROR = 0x0,
	TF_H2F_PROTOCOL_ERROR = 0x1,
	TF_H2F_INTERNAL_ERROR = 0x2,
	TF_H2F_FRAME_SIZE_ERROR = 0x6,
	TF_H2F_REFUSED_STREAM = 0x7,
	TF_H2F_CANCEL = 0x8,
	TF_H2F_COMPRESSION_ERROR = 0x9,
};

typedef struct tf_h2f_header {
	uint32_t len; /* payload length */
	uint8_t type;
	uint8_t flags;
	uint32_t sid; /* reserved bit cleared */
} tf_h2f_header;

/* Parses the 9 octets at p. */
void tf_h2f_parse_header(const uint8_t p[TF_H2F_HEADER_LEN], tf_h2f_header *h);
/* Writes the 9 octets of h at p. */
void tf_h2f_write_header(uint8_t p[TF_H2F_HEADER_LEN], const tf_h2f_header *h);

typedef enum tf_h2f_event {
	TF_H2F_EV_NONE,    /* consumed bytes, nothing complete yet (need more input) */
	TF_H2F_EV_PREFACE, /* the 24-octet client preface was read */
	TF_H2F_EV_HEADER,  /* a frame header: reader.fh is valid until the next HEADER */
	TF_H2F_EV_PAYLOAD, /* a piece of the current frame's payload: *piece, *piece_len */
	TF_H2F_EV_END,     /* the current frame is complete (after its last PAYLOAD) */
	TF_H2F_EV_ERROR,   /* malformed: sticky */
} tf_h2f_event;

/* Private state: use the functions below. Zero-filled plus tf_h2f_reader_init. */
typedef struct tf_h2f_reader {
	uint32_t max_len;
	int state;
	uint8_t hold[TF_H2F_PREFACE_LEN];
	size_t got;
	tf_h2f_header fh;
	uint32_t off; /* payload octets of fh delivered so far */
} tf_h2f_reader;

/* expect_preface: the stream starts with the client preface (the app's
 * side of a connection). max_len: frames longer are an error. */
void tf_h2f_reader_init(tf_h2f_reader *r, bool expect_preface, uint32_t max_len);

/*
 * Consumes bytes from p[0..n) until one event happens or the input is
 * used up. Returns the number of bytes consumed (may be 0 only when an
 * event needs no input: END of a frame whose payload was all delivered, or
 * ERROR). On TF_H2F_EV_PAYLOAD, *piece points into p. Call again with the
 * rest of the span until it returns 0 with TF_H2F_EV_NONE.
 */
size_t tf_h2f_read(tf_h2f_reader *r, const uint8_t *p, size_t n, tf_h2f_event *ev,
		   const uint8_t **piece, size_t *piece_len);

/* True between frames (and before the preface): nothing partial is held. */
bool tf_h2f_reader_at_boundary(const tf_h2f_reader *r);

/* ---- writers: each appends one whole frame; 0 or a negative tf_buf error ---- */

int tf_h2f_put(tf_buf *out, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
	       size_t len);
int tf_h2f_put_window_update(tf_buf *out, uint32_t sid, uint32_t increment);
int tf_h2f_put_rst_stream(tf_buf *out, uint32_t sid, uint32_t error);
int tf_h2f_put_ping(tf_buf *out, bool ack, const uint8_t opaque[8]);
int tf_h2f_put_goaway(tf_buf *out, uint32_t last_sid, uint32_t error);

/*
 * An ALPN protocol list (RFC 7301 wire format: length-prefixed names) with
 * "h2" left out, into out (at least len bytes). Returns the new length, or
 * -1 when the list is malformed (then out is not used).
 */
long tf_h2f_alpn_without_h2(const uint8_t *in, size_t len, uint8_t *out);

/* Big-endian helpers for payload fields. */
static inline uint32_t tf_h2f_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t tf_h2f_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
