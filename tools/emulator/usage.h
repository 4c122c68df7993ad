/*
 * The emulator's deterministic token usage, so tests know the truth before
 * they send a request (documented in tools/emulator/README.md and --help).
 *
 *   T      = the UTF-8 byte length of every JSON string value in the request
 *            body, at any depth (object keys, numbers, booleans not counted)
 *   input  = ceil(T / 4); when T is 0: 1 if the body is non-empty, else 0
 *   output = min(max tokens asked, R), or R when the request asks no maximum
 *            (R = --reply-tokens, default 20); 0 for embeddings
 *   cached (Azure only, part of input) = 0 when input < 1024, else
 *            floor(input / 2 / 128) * 128
 *   reasoning (Azure reasoning models only, part of output) = ceil(output / 2)
 *
 * input never exceeds the body length: each string value of n decoded bytes
 * takes at least n + 2 bytes of the body (escapes only make it longer), and
 * ceil(T / 4) <= T. TokenFence relies on this: it bounds input by the body size.
 */
#ifndef EMU_USAGE_H
#define EMU_USAGE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_DEFAULT_REPLY_TOKENS 20

/* T above, for a parsed body (NULL: 0). */
uint64_t emu_text_bytes(const cJSON *v);
uint64_t emu_input_tokens(const cJSON *body, size_t body_len);
/* has_max false: the request names no limit. max is clamped at 0. */
uint64_t emu_output_tokens(bool has_max, int64_t max, uint64_t reply_tokens);
uint64_t emu_cached_tokens(uint64_t input);
uint64_t emu_reasoning_tokens(uint64_t output);

#endif
