#include "usage.h"

#include <string.h>

uint64_t emu_text_bytes(const cJSON *v)
{
	uint64_t t = 0;

	if (!v)
		return 0;
	if (cJSON_IsString(v) && v->valuestring)
		return strlen(v->valuestring);
	for (const cJSON *c = v->child; c; c = c->next)
		t += emu_text_bytes(c);
	return t;
}

uint64_t emu_input_tokens(const cJSON *body, size_t body_len)
{
	uint64_t t = emu_text_bytes(body);

	if (t == 0)
		return body_len ? 1 : 0;
	return (t + 3) / 4;
}

uint64_t emu_output_tokens(bool has_max, int64_t max, uint64_t reply_tokens)
{
	if (!has_max)
		return reply_tokens;
	if (max < 0)
		max = 0;
	return (uint64_t)max < reply_tokens ? (uint64_t)max : reply_tokens;
}

uint64_t emu_cached_tokens(uint64_t input)
{
	if (input < 1024)
		return 0;
	return input / 2 / 128 * 128;
}

uint64_t emu_reasoning_tokens(uint64_t output)
{
	return (output + 1) / 2;
}
