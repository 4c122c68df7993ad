/*
 * A stand-in host for control-socket tests: links the shim's control server
 * (shim/control.c, nothing else of the shim) and registers fake versions of
 * the commands the real shim will answer, so the server and the CLI can be
 * tested before (and independently of) the accounting behind them.
 *
 *   ctlserver [--status FILE] [--slow-status MS] [--fork] [--uid UID]
 *
 * Prints "<pid> <socket path>" for each serving process (the path is empty
 * when the server refused to start), then serves until stdin reaches EOF
 * and exits normally (so the destructor removes the socket).
 *
 * Commands: status (FILE's members, else a built-in sample; "pid" is always
 * the real one), kill / resume (echo the scope), approvals (one pending
 * approval "a1-<pid>"), approve / deny (ok for that id only), big (a
 * string of "n" bytes, default 4 MiB), echo (the request back), fail (an
 * error answer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

static const char *status_file;
static long slow_status_ms;

#define R(expr)                                                                                    \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		if (r_ < 0)                                                                        \
			return r_;                                                                 \
	} while (0)

static int put_str_member(tf_buf *out, const char *k, const char *v)
{
	R(tf_json_put_key(out, k));
	return tf_json_put_cstr(out, v);
}

static int put_int_member(tf_buf *out, const char *k, int64_t v)
{
	R(tf_json_put_key(out, k));
	return tf_json_put_int(out, v);
}

static const char sample_status[] =
	"{\"exe\":\"ctlserver\",\"workflow\":\"wf-test\",\"scope\":\"team-a\",\"enforced\":true,"
	"\"requests\":3,\"blocked\":1,\"input_tokens\":1200,\"output_tokens\":300,"
	"\"cached_tokens\":100,\"reasoning_tokens\":0,\"cost_usd\":0.0021,\"cost_pico\":2100000000,"
	"\"reserved_usd\":0,\"budget\":{\"max_cost\":1,\"remaining_usd\":0.9979,\"max_requests\":null,"
	"\"max_cost_per_request\":null},"
	"\"by_model\":{\"gpt-4o-mini\":{\"requests\":3,\"input_tokens\":1200,\"output_tokens\":300,"
	"\"cached_tokens\":100,\"reasoning_tokens\":0,\"cost_usd\":0.0021,\"cost_pico\":2100000000}},"
	"\"by_scope\":{\"team-a\":{\"spent_usd\":0.0021,\"reserved_usd\":0,\"remaining_usd\":0.9979,"
	"\"max_cost\":1,\"requests\":3,\"max_requests\":null,\"window\":\"none\","
	"\"window_start\":null,\"killed\":false}},"
	"\"warnings\":[{\"time\":\"2025-01-01T00:00:00Z\",\"scope\":\"team-a\","
	"\"message\":\"75% of the budget used\"}]}";

static int read_file(const char *path, tf_buf *b)
{
	char chunk[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (tf_buf_append(b, chunk, n) < 0)
			break;
	fclose(f);
	return 0;
}

static int h_status(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	tf_json_doc doc;
	tf_buf text;
	int r;

	if (slow_status_ms > 0) {
		struct timespec ts = { slow_status_ms / 1000, (slow_status_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	tf_buf_init(&text, 1 << 20);
	if (status_file)
		r = read_file(status_file, &text);
	else
		r = tf_buf_append_str(&text, sample_status);
	if (r == 0)
		r = tf_json_parse(&doc, (const char *)text.data, text.len, NULL, NULL);
	else
		memset(&doc, 0, sizeof(doc));
	if (r == 0 && doc.root->type == TF_JSON_OBJECT) {
		r = put_int_member(out, "pid", (int64_t)getpid());
		for (size_t i = 0; r == 0 && i < doc.root->u.obj.n; i++) {
			const tf_json_member *m = &doc.root->u.obj.members[i];
			if (strcmp(m->key, "pid") == 0)
				continue;
			r = tf_json_put_key(out, m->key);
			r = r ? r : tf_json_put_value(out, &m->value);
		}
	} else if (r == 0) {
		r = -EINVAL;
	}
	if (r < 0)
		snprintf(err, errlen, "fake status unavailable");
	tf_json_doc_free(&doc);
	tf_buf_free(&text);
	return r;
}

static int h_switch(const tf_json_value *req, tf_buf *out, bool killed)
{
	const tf_json_value *s = tf_json_get(req, "scope");

	R(put_str_member(out, "scope",
			 s && s->type == TF_JSON_STRING ? s->u.str.s : "wf-test"));
	R(tf_json_put_key(out, "killed"));
	return tf_json_put_bool(out, killed);
}

static int h_kill(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	return h_switch(req, out, true);
}

static int h_resume(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	return h_switch(req, out, false);
}

static void approval_id(char *id, size_t n)
{
	snprintf(id, n, "a1-%ld", (long)getpid());
}

static int h_approvals(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	char id[32];

	approval_id(id, sizeof(id));
	R(tf_json_put_key(out, "pending"));
	R(tf_json_open_array(out));
	R(tf_json_open_object(out));
	R(put_str_member(out, "id", id));
	R(put_int_member(out, "pid", (int64_t)getpid()));
	R(put_str_member(out, "scope", "team-a"));
	R(put_str_member(out, "action",
			 "bedrock:InvokeModel:anthropic.claude-3-5-sonnet-20240620-v1:0"));
	R(put_str_member(out, "model", "anthropic.claude-3-5-sonnet-20240620-v1:0"));
	R(tf_json_put_key(out, "worst_usd"));
	R(tf_json_put_money(out, 123456000000));
	R(tf_json_put_key(out, "waiting_s"));
	R(tf_json_put_double(out, 3.5));
	R(tf_json_close_object(out));
	return tf_json_close_array(out);
}

static int decide(const tf_json_value *req, tf_buf *out, char *err, size_t errlen,
		  const char *decision)
{
	const tf_json_value *v = tf_json_get(req, "id");
	char id[32];

	approval_id(id, sizeof(id));
	if (!v || v->type != TF_JSON_STRING || strcmp(v->u.str.s, id) != 0) {
		snprintf(err, errlen, "unknown approval id");
		return -ENOENT;
	}
	R(put_str_member(out, "id", id));
	return put_str_member(out, "decision", decision);
}

static int h_approve(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	return decide(req, out, err, errlen, "approved");
}

static int h_deny(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	return decide(req, out, err, errlen, "denied");
}

static int h_big(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	const tf_json_value *v = tf_json_get(req, "n");
	int64_t n = 4 << 20;
	char *s;
	int r;

	if (v && tf_json_int64(v, &n) < 0)
		return -EINVAL;
	if (n < 0 || n > (16 << 20))
		return -ERANGE;
	s = malloc((size_t)n + 1);
	if (!s)
		return -ENOMEM;
	memset(s, 'x', (size_t)n);
	r = tf_json_put_key(out, "data");
	r = r ? r : tf_json_put_str(out, s, (size_t)n);
	free(s);
	return r;
}

static int h_echo(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	R(tf_json_put_key(out, "req"));
	return tf_json_put_value(out, req);
}

static int h_fail(const tf_json_value *req, tf_buf *out, char *err, size_t errlen)
{
	snprintf(err, errlen, "failing on purpose");
	return -EIO;
}

static void announce(void)
{
	printf("%ld %s\n", (long)getpid(), tf_control_path());
	fflush(stdout);
}

/*
 * One round trip through our own socket: afterwards the control thread is
 * idle in poll(), holding no lock of the C library or the sanitizer
 * runtime. Forking while it is mid-malloc is safe with glibc's allocator
 * (fork takes its locks), but not with every sanitizer allocator, and the
 * fork test is about our reset, not about theirs.
 */
static void settle(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[512];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", tf_control_path());
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, "{\"cmd\":\"ping\"}\n", 15) != 15 || read(fd, buf, sizeof(buf)) <= 0)
		fprintf(stderr, "ctlserver: cannot ping myself\n");
	if (fd >= 0)
		close(fd);
}

static void wait_for_eof(void)
{
	char buf[64];

	while (read(0, buf, sizeof(buf)) > 0)
		;
}

int main(int argc, char **argv)
{
	bool do_fork = false;
	pid_t child = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--status") == 0 && i + 1 < argc) {
			status_file = argv[++i];
		} else if (strcmp(argv[i], "--slow-status") == 0 && i + 1 < argc) {
			slow_status_ms = atol(argv[++i]);
		} else if (strcmp(argv[i], "--fork") == 0) {
			do_fork = true;
		} else if (strcmp(argv[i], "--uid") == 0 && i + 1 < argc) {
			uid_t uid = (uid_t)atol(argv[++i]);
			if (setgid(uid) < 0 || setuid(uid) < 0) {
				perror("ctlserver: setuid");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: ctlserver [--status FILE] [--slow-status MS] "
					"[--fork] [--uid UID]\n");
			return 2;
		}
	}
	tf_control_register("status", h_status);
	tf_control_register("kill", h_kill);
	tf_control_register("resume", h_resume);
	tf_control_register("approvals", h_approvals);
	tf_control_register("approve", h_approve);
	tf_control_register("deny", h_deny);
	tf_control_register("big", h_big);
	tf_control_register("echo", h_echo);
	tf_control_register("fail", h_fail);
	tf_control_start();
	announce();
	if (do_fork) {
		settle();
		child = fork();
		if (child == 0) {
			tf_control_child_reset();
			tf_control_start();
			announce();
		}
	}
	wait_for_eof();
	if (child > 0)
		waitpid(child, NULL, 0);
	return 0;
}
