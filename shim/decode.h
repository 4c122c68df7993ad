/*
 * Incremental Content-Encoding decoding (zlib) of a response body, so that
 * usage can be read from compressed Azure responses (reference/WIRE.md §5).
 *
 * Supported: identity, gzip / x-gzip (several concatenated members are
 * decoded in turn; bytes after a member that do not start another one are
 * ignored, as gunzip does), deflate (the zlib format of RFC 9110 §8.4.1.2,
 * and the raw deflate some servers send instead, told apart by the zlib
 * header check as browsers do). br, zstd, compress and anything else are
 * TF_DECODE_UNSUPPORTED: the caller then does not read usage from the body.
 *
 * Memory stays constant whatever the input: output goes to the callback in
 * pieces of at most TF_DECODE_CHUNK bytes, and total output is capped (a
 * decompression bomb fails with TF_DECODE_ETOOBIG after exactly max_out
 * bytes were delivered). Corrupt input is TF_DECODE_EDATA, never a crash.
 */
#ifndef TF_DECODE_H
#define TF_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define TF_DECODE_CHUNK ((size_t)16 * 1024)
#define TF_DECODE_DEFAULT_MAX_OUT ((uint64_t)64 << 20)

enum {
	TF_DECODE_EDATA = -1,        /* corrupt compressed data (bad header, CRC, ...) */
	TF_DECODE_ETRUNCATED = -2,   /* tf_decoder_finish(): the compressed stream is cut short */
	TF_DECODE_ETOOBIG = -3,      /* output past max_out */
	TF_DECODE_EABORT = -4,       /* the callback returned < 0 */
	TF_DECODE_EUNSUPPORTED = -5, /* not a coding we decode */
};

typedef enum tf_decode_kind {
	TF_DECODE_IDENTITY,
	TF_DECODE_GZIP,
	TF_DECODE_DEFLATE,
	TF_DECODE_UNSUPPORTED,
} tf_decode_kind;

/*
 * The kind for a Content-Encoding field value (case-insensitive, a list is
 * allowed): no coding or only "identity" is identity; exactly one of gzip,
 * x-gzip, deflate (besides identity) is that kind; anything else, including
 * two stacked codings, is unsupported.
 */
tf_decode_kind tf_decode_kind_of(const char *value, size_t n);

typedef int (*tf_decode_out)(void *ctx, const uint8_t *p, size_t n);

/* Private state: use the functions below. */
typedef struct tf_decoder {
	tf_decode_kind kind;
	int state;
	int err;
	z_stream z;
	bool z_live;      /* z is initialised */
	uint8_t head[2];  /* first bytes of a deflate stream / next gzip member */
	uint8_t head_len;
	uint8_t *out;     /* TF_DECODE_CHUNK bytes */
	uint64_t in_total;
	uint64_t out_total;
	uint64_t max_out;
	uint32_t members; /* gzip members completed */
} tf_decoder;

/*
 * max_out: cap on decoded bytes; 0 = TF_DECODE_DEFAULT_MAX_OUT. Returns 0,
 * TF_DECODE_EUNSUPPORTED (kind unsupported) or -ENOMEM. Call
 * tf_decoder_free() in every case.
 */
int tf_decoder_init(tf_decoder *d, tf_decode_kind kind, uint64_t max_out);
void tf_decoder_free(tf_decoder *d);

/*
 * Decodes p[0..n), passing decoded bytes to cb. Returns 0 or a negative
 * error (or -ENOMEM); errors are sticky.
 */
int tf_decoder_feed(tf_decoder *d, const uint8_t *p, size_t n, tf_decode_out cb, void *ctx);

/*
 * The body ended. Returns 0 when the compressed stream was complete (or no
 * byte was fed at all), TF_DECODE_ETRUNCATED when it stopped midway, or the
 * stored error.
 */
int tf_decoder_finish(tf_decoder *d);

#endif
