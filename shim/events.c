#include "events.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log.h"

/* Above the fds hosts dup2 over (STYLE.md P14). */
#define EVENTS_FD_MIN 200

static int events_fd = -1, calls_fd = -1;

static int open_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int high;

	if (fd < 0) {
		tf_log(TF_LOG_WARN, "cannot open %s for events: %m", path);
		return -1;
	}
	high = fcntl(fd, F_DUPFD_CLOEXEC, EVENTS_FD_MIN);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	return fd;
}

void tf_events_setup(const char *events_path, const char *run_dir)
{
	char path[4096];

	if (events_path && *events_path)
		events_fd = open_append(events_path);
	if (run_dir && *run_dir) {
		snprintf(path, sizeof(path), "%s/calls.jsonl", run_dir);
		calls_fd = open_append(path);
	}
}

static void put_time(tf_buf *b)
{
	struct timeval tv;
	struct tm tm;
	char s[80];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
	tf_json_put_key(b, "time");
	tf_json_put_cstr(b, s);
}

static const char *otel_provider(tf_provider p)
{
	return p == TF_PROVIDER_BEDROCK ? "aws.bedrock" : p == TF_PROVIDER_AZURE ? "azure.ai.openai" : "none";
}

/* OpenTelemetry's gen_ai.operation.name for our operations. */
static const char *otel_operation(const tf_call *c)
{
	const char *op = c->act.operation ? c->act.operation : "";

	if (strstr(op, "Embedding"))
		return "embeddings";
	if (strcmp(op, "Completions") == 0)
		return "text_completion";
	if (c->invoke)
		return "chat";
	return op;
}

static void emit(tf_buf *b, bool also_calls)
{
	tf_buf_append(b, "\n", 1);
	if (events_fd >= 0 && write(events_fd, b->data, b->len) < 0)
		tf_log(TF_LOG_WARN, "cannot write an event: %m");
	if (also_calls && calls_fd >= 0 && write(calls_fd, b->data, b->len) < 0)
		tf_log(TF_LOG_WARN, "cannot write a call record: %m");
}

static void put_kv_str(tf_buf *b, const char *k, const char *v)
{
	tf_json_put_key(b, k);
	tf_json_put_cstr(b, v ? v : "");
}

static void put_kv_u64(tf_buf *b, const char *k, uint64_t v)
{
	tf_json_put_key(b, k);
	tf_json_put_uint(b, v);
}

static void put_common(tf_buf *b, const tf_call *c, const char *scope)
{
	put_time(b);
	put_kv_u64(b, "tokenfence.pid", (uint64_t)getpid());
	put_kv_str(b, "tokenfence.scope", scope);
	if (!c)
		return;
	put_kv_str(b, "gen_ai.provider.name", otel_provider(c->provider));
	put_kv_str(b, "tokenfence.action", c->act.action);
	if (c->model[0])
		put_kv_str(b, "gen_ai.request.model", c->model);
}

void tf_events_call(const tf_call *c, const char *scope, const char *decision)
{
	tf_buf b;

	if (events_fd < 0 && calls_fd < 0)
		return;
	tf_buf_init(&b, 16384);
	tf_json_open_object(&b);
	put_common(&b, c, scope);
	put_kv_str(&b, "gen_ai.operation.name", otel_operation(c));
	put_kv_str(&b, "gen_ai.response.model", c->response_model[0] ? c->response_model : c->price_model);
	put_kv_u64(&b, "gen_ai.usage.input_tokens", tf_usage_input(&c->usage));
	put_kv_u64(&b, "gen_ai.usage.output_tokens", c->usage.output + c->usage.reasoning);
	put_kv_u64(&b, "tokenfence.cached_tokens", c->usage.cache_read);
	put_kv_u64(&b, "tokenfence.reasoning_tokens", c->usage.reasoning);
	tf_json_put_key(&b, "tokenfence.cost_usd");
	tf_json_put_money(&b, c->cost);
	tf_json_put_key(&b, "tokenfence.cost_pico");
	tf_json_put_int(&b, c->cost);
	tf_json_put_key(&b, "tokenfence.worst_usd");
	tf_json_put_money(&b, c->worst);
	put_kv_str(&b, "tokenfence.price_model", c->price_model);
	put_kv_str(&b, "tokenfence.decision", decision);
	tf_json_put_key(&b, "tokenfence.stream");
	tf_json_put_bool(&b, c->stream);
	tf_json_put_key(&b, "http.response.status_code");
	tf_json_put_int(&b, c->status);
	{
		static const char *const src[] = { "none", "headers", "body", "stream", "not_billed",
						   "reservation" };
		put_kv_str(&b, "tokenfence.usage_source", src[c->usage_from]);
	}
	if (c->note[0])
		put_kv_str(&b, "message", c->note);
	tf_json_close_object(&b);
	emit(&b, true);
	tf_buf_free(&b);
}

void tf_events_note(const char *kind, const tf_call *c, const char *scope, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	tf_buf b;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (events_fd < 0 && calls_fd < 0)
		return;
	tf_buf_init(&b, 16384);
	tf_json_open_object(&b);
	put_kv_str(&b, "tokenfence.event", kind);
	put_common(&b, c, scope);
	put_kv_str(&b, "message", msg);
	tf_json_close_object(&b);
	emit(&b, true);
	tf_buf_free(&b);
}
