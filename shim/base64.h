/*
 * Standard base64 (RFC 4648 §4: A-Z a-z 0-9 + /, '=' padding), used for the
 * {"bytes":"<base64>"} payloads of Bedrock InvokeModelWithResponseStream.
 *
 * Decoding is strict: the length must be a multiple of 4, '=' may only end
 * the input (one or two of them), no whitespace or other characters, and the
 * unused bits before the padding must be zero. So every accepted input is the
 * canonical encoding of what it decodes to. Output never exceeds out_cap.
 */
#ifndef TF_BASE64_H
#define TF_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Bytes tf_base64_encode() writes for n input bytes (SIZE_MAX if that overflows). */
size_t tf_base64_encoded_len(size_t n);
/* An upper bound on the bytes decoded from n characters. */
size_t tf_base64_decoded_max(size_t n);

/*
 * Encodes in[0..n) into out (no NUL terminator). Returns the number of
 * characters written, or -ENOBUFS when out_cap < tf_base64_encoded_len(n).
 */
ptrdiff_t tf_base64_encode(const void *in, size_t n, char *out, size_t out_cap);
/* Appends the encoding of in[0..n) to b; 0, -ENOBUFS (cap) or -ENOMEM. */
int tf_base64_encode_buf(tf_buf *b, const void *in, size_t n);

/*
 * Decodes in[0..n) into out. Returns the number of bytes written, -EINVAL for
 * input that is not strict base64, or -ENOBUFS when the result would not fit
 * in out_cap (checked before anything is written).
 */
ptrdiff_t tf_base64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap);

#endif
