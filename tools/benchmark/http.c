/*
 * The client side of the guarded cases: requests shaped like the SDKs send
 * them (openai-python over httpx: head and body in two writes; boto3: one
 * write), and a minimal response reader (Content-Length or chunked; no
 * pipelining, which none of the cases uses). The reader is deliberately
 * independent of shim/http1.c, the code under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench.h"

int tfb_bytes_append(tfb_bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		uint8_t *d;

		while (ncap < b->len + n)
			ncap *= 2;
		d = realloc(b->data, ncap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = ncap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void tfb_bytes_free(tfb_bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int append_str(tfb_bytes *b, const char *s)
{
	return tfb_bytes_append(b, s, strlen(s));
}

/*
 * Prose-like JSON string content of exactly n bytes: words, with a "\n"
 * escape now and then and an escaped quote, so the JSON reader on the path
 * has escapes to decode as it would in a real RAG prompt.
 */
static int filler(tfb_bytes *b, size_t n)
{
	static const char *const words[] = {
		"the", "budget", "of", "each", "agent", "is", "reserved", "before", "a",
		"request", "leaves", "and", "settled", "after", "its", "usage", "arrives",
		"document", "section", "tokens", "model", "answer", "context", "retrieved",
	};
	size_t start = b->len, i = 0, col = 0;

	while (b->len - start < n) {
		size_t left = n - (b->len - start);
		const char *w = words[(i * 7 + i / 3) % (sizeof(words) / sizeof(words[0]))];
		char piece[32];
		int k;

		i++;
		if (col > 90 && left > 2) {
			k = snprintf(piece, sizeof(piece), "\\n");
			col = 0;
		} else if (i % 97 == 0 && left > 6) {
			k = snprintf(piece, sizeof(piece), " \\\"%s\\\"", "x");
		} else {
			k = snprintf(piece, sizeof(piece), " %s", w);
		}
		if ((size_t)k > left) {
			memset(piece, ' ', left);
			k = (int)left;
		}
		if (tfb_bytes_append(b, piece, (size_t)k) < 0)
			return -1;
		col += (size_t)k;
	}
	return 0;
}

/* body = prefix + filler + suffix, total `size` bytes (at least the fixed part). */
static int body_of_size(tfb_bytes *body, const char *prefix, const char *suffix, size_t size)
{
	size_t fixed = strlen(prefix) + strlen(suffix);

	if (append_str(body, prefix) < 0 || filler(body, size > fixed ? size - fixed : 16) < 0 ||
	    append_str(body, suffix) < 0)
		return -1;
	return 0;
}

static int azure(tfb_request *r, size_t size, unsigned stream_tokens)
{
	char suffix[160], head[1024];
	const char *prefix = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful "
			     "assistant. Answer from the documents.\"},{\"role\":\"user\",\"content\":\"";

	if (stream_tokens)
		snprintf(suffix, sizeof(suffix),
			 "\"}],\"max_tokens\":%u,\"stream\":true,\"stream_options\":"
			 "{\"include_usage\":true}}", stream_tokens);
	else
		snprintf(suffix, sizeof(suffix), "\"}],\"max_tokens\":20,\"temperature\":0.2}");
	if (body_of_size(&r->body, prefix, suffix, size) < 0)
		return -1;
	snprintf(head, sizeof(head),
		 "POST /openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n"
		 "Host: " TFB_SNI_AZURE "\r\n"
		 "Accept-Encoding: gzip, deflate\r\n"
		 "Connection: keep-alive\r\n"
		 "Accept: application/json\r\n"
		 "Content-Type: application/json\r\n"
		 "User-Agent: AzureOpenAI/Python 1.55.0\r\n"
		 "X-Stainless-Lang: python\r\n"
		 "X-Stainless-Package-Version: 1.55.0\r\n"
		 "X-Stainless-Retry-Count: 0\r\n"
		 "api-key: test-azure-key\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 r->body.len);
	r->split = true;
	return append_str(&r->head, head);
}

static int bedrock(tfb_request *r, size_t size, unsigned stream_tokens)
{
	char prefix[256], head[1024];
	const char *suffix = "\"}]}]}";

	snprintf(prefix, sizeof(prefix),
		 "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":%u,\"system\":\"You "
		 "are a helpful assistant. Answer from the documents.\",\"messages\":[{\"role\":"
		 "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"",
		 stream_tokens ? stream_tokens : 20u);
	if (body_of_size(&r->body, prefix, suffix, size) < 0)
		return -1;
	snprintf(head, sizeof(head),
		 "POST /model/anthropic.claude-3-haiku-20240307-v1%%3A0/%s HTTP/1.1\r\n"
		 "Host: " TFB_SNI_BEDROCK "\r\n"
		 "Accept-Encoding: identity\r\n"
		 "Content-Type: application/json\r\n"
		 "Accept: %s\r\n"
		 "User-Agent: Boto3/1.39.0 md/Botocore#1.39.0 ua/2.1 os/linux#6 lang/python#3.11.2\r\n"
		 "X-Amz-Date: 20261126T120000Z\r\n"
		 "amz-sdk-invocation-id: 6c1b0f6e-2f7c-4c53-9d0e-5f3f2b8f4a11\r\n"
		 "amz-sdk-request: attempt=1; max=4\r\n"
		 "Authorization: Bearer test-bedrock-api-key\r\n"
		 "Content-Length: %zu\r\n\r\n",
		 stream_tokens ? "invoke-with-response-stream" : "invoke",
		 stream_tokens ? "application/vnd.amazon.eventstream" : "application/json",
		 r->body.len);
	r->split = false;
	return append_str(&r->head, head);
}

int tfb_request_build(tfb_request *r, tfb_case kase, unsigned stream_tokens)
{
	memset(r, 0, sizeof(*r));
	switch (kase) {
	case TFB_AZ_4K:
		return azure(r, 4096, 0);
	case TFB_AZ_200K:
		return azure(r, 200 * 1024, 0);
	case TFB_BR_4K:
	case TFB_BR_4K_H2:
		return bedrock(r, 4096, 0);
	case TFB_BR_200K:
	case TFB_BR_200K_H2:
		return bedrock(r, 200 * 1024, 0);
	case TFB_STREAM_ES:
		return bedrock(r, 256, stream_tokens);
	case TFB_STREAM_SSE:
		return azure(r, 256, stream_tokens);
	default:
		return -1;
	}
}

void tfb_request_free(tfb_request *r)
{
	tfb_bytes_free(&r->head);
	tfb_bytes_free(&r->body);
}

int tfb_request_send(SSL *s, const tfb_request *r)
{
	if (r->split)
		return tfb_ssl_write_all(s, r->head.data, r->head.len) < 0 ||
				       tfb_ssl_write_all(s, r->body.data, r->body.len) < 0
			       ? -1
			       : 0;
	/* One write with head and body, as botocore does (a body over the
	 * record size still takes several SSL_write calls of 16 KiB). */
	{
		static tfb_bytes one;

		one.len = 0;
		if (tfb_bytes_append(&one, r->head.data, r->head.len) < 0 ||
		    tfb_bytes_append(&one, r->body.data, r->body.len) < 0)
			return -1;
		return tfb_ssl_write_all(s, one.data, one.len);
	}
}

/* ---- response reader ---- */

enum { R_HEAD, R_BODY_LEN, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_CRLF, R_TRAILER, R_DONE };

struct reader {
	int state;
	int status;
	uint64_t remaining;
	bool digit;
	size_t line; /* bytes of the current trailer line */
	char head[65536];
	size_t head_len;
};

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The head is whole in rd->head: status and body framing. */
static int parse_head(struct reader *rd)
{
	const char *p = rd->head, *end = rd->head + rd->head_len;
	bool chunked = false;
	long long clen = -1;

	if (rd->head_len < 12 || memcmp(p, "HTTP/1.", 7) != 0)
		return -1;
	rd->status = atoi(p + 9);
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && ++p < end) {
		if (!strncasecmp(p, "content-length:", 15))
			clen = atoll(p + 15);
		else if (!strncasecmp(p, "transfer-encoding:", 18) &&
			 memmem(p, (size_t)(end - p) < 64 ? (size_t)(end - p) : 64, "chunked", 7))
			chunked = true;
	}
	if (chunked) {
		rd->state = R_CHUNK_SIZE;
		rd->remaining = 0;
		rd->digit = false;
	} else if (clen > 0) {
		rd->state = R_BODY_LEN;
		rd->remaining = (uint64_t)clen;
	} else {
		rd->state = R_DONE;
	}
	return 0;
}

/* Consumes bytes of p; returns how many, or -1. Stops at the response's end. */
static ssize_t feed(struct reader *rd, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && rd->state != R_DONE) {
		switch (rd->state) {
		case R_HEAD:
			if (rd->head_len == sizeof(rd->head))
				return -1;
			rd->head[rd->head_len++] = (char)p[i++];
			if (rd->head_len >= 4 && !memcmp(rd->head + rd->head_len - 4, "\r\n\r\n", 4) &&
			    parse_head(rd) < 0)
				return -1;
			break;
		case R_BODY_LEN: {
			size_t k = n - i < rd->remaining ? n - i : (size_t)rd->remaining;
			i += k;
			rd->remaining -= k;
			if (!rd->remaining)
				rd->state = R_DONE;
			break;
		}
		case R_CHUNK_SIZE: {
			int h = hexval(p[i]);
			if (h >= 0 && rd->line == 0) {
				rd->remaining = rd->remaining * 16 + (uint64_t)h;
				rd->digit = true;
			} else if (p[i] == '\n') {
				if (!rd->digit)
					return -1;
				rd->state = rd->remaining ? R_CHUNK_DATA : R_TRAILER;
				rd->line = 0;
				rd->digit = false;
			} else {
				rd->line = 1; /* extension or CR: skip to LF */
			}
			i++;
			break;
		}
		case R_CHUNK_DATA: {
			size_t k = n - i < rd->remaining ? n - i : (size_t)rd->remaining;
			i += k;
			rd->remaining -= k;
			if (!rd->remaining) {
				rd->state = R_CHUNK_CRLF;
				rd->line = 0;
			}
			break;
		}
		case R_CHUNK_CRLF:
			if (p[i++] == '\n') {
				rd->state = R_CHUNK_SIZE;
				rd->line = 0;
			}
			break;
		case R_TRAILER:
			if (p[i] == '\n') {
				if (rd->line == 0)
					rd->state = R_DONE;
				rd->line = 0;
			} else if (p[i] != '\r') {
				rd->line++;
			}
			i++;
			break;
		}
	}
	return (ssize_t)i;
}

/* Bytes read past the end of a response: none in these cases (no
 * pipelining, each response is read before the next request is sent). */
int tfb_response_read(SSL *s, tfb_bytes *cap, uint64_t *bytes)
{
	static struct reader rd;
	static uint8_t buf[TFB_IO_CHUNK];
	uint64_t total = 0;

	memset(&rd, 0, offsetof(struct reader, head));
	rd.head_len = 0;
	while (rd.state != R_DONE) {
		int r = SSL_read(s, buf, sizeof(buf));
		ssize_t used;

		if (r <= 0)
			return -1;
		used = feed(&rd, buf, (size_t)r);
		if (used < 0 || (size_t)used != (size_t)r)
			return -1;
		if (cap && tfb_bytes_append(cap, buf, (size_t)r) < 0)
			return -1;
		total += (uint64_t)r;
	}
	if (bytes)
		*bytes = total;
	return rd.status;
}
