/*
 * tokenfence-bench: what TokenFence costs the programs it guards, measured
 * against no shim in the same run (issue 5). See usage_text for the method;
 * tools/benchmark/bench.h for the processes and their protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "report.h"

static const char usage_text[] =
	"Usage: tokenfence-bench [OPTIONS]\n"
	"\n"
	"Measures what libtokenfence.so costs a TLS client, against no shim, in one run,\n"
	"and prints a Markdown table: median and p99 without and with the shim, their\n"
	"difference, this run's noise floor, the target and PASS/MISS.\n"
	"\n"
	"Method:\n"
	"  Three client processes run the same code (this program with --child):\n"
	"  \"without\" (no preload), \"with\" (LD_PRELOAD=libtokenfence.so) and \"without 2\"\n"
	"  (no preload: its difference from \"without\" is the noise floor, an A/A test).\n"
	"  The driver (this process, never preloaded) gives them the same work in\n"
	"  rotating batches, so all three see the same machine load. Every sample is\n"
	"  the wall time of one unit of work, timed inside the client (CLOCK_MONOTONIC);\n"
	"  each batch also reports the client's CPU time (CLOCK_PROCESS_CPUTIME_ID).\n"
	"  Connections are opened and warmed up first and kept alive: handshakes are\n"
	"  never timed. Servers are separate, never-preloaded processes: a small TLS\n"
	"  echo/sink/source/HTTP server forked from the driver, and tokenfence-emulator\n"
	"  (--pace-ms 0) for the guarded calls. Clients do not verify certificates.\n"
	"  A verdict uses wall time unless the A/A noise is half the target's allowance\n"
	"  or more; then it uses client CPU time, and says so. Instruction counts come\n"
	"  from hardware counters when `perf stat -e instructions` works here, else\n"
	"  from valgrind --tool=callgrind (Ir of the client inside its measured loop).\n"
	"\n"
	"Cases:\n"
	"  1 unguarded pass-through (SNI " TFB_SNI_PLAIN "): bulk download and upload,\n"
	"    1 GiB per client in 1 MiB units of 16 KiB SSL_read/SSL_write calls;\n"
	"    1 KiB request/echo round trips on one keep-alive connection\n"
	"  2 guarded non-streaming calls to the emulator: Azure chat (openai-python's\n"
	"    shape: head and body in two writes, gzip accepted) and Bedrock InvokeModel\n"
	"    (boto3's shape: one write), 4 KB and 200 KB request bodies; the same\n"
	"    Bedrock calls over HTTP/2 (2e, 2f: an nghttp2 client session, as curl\n"
	"    and the AWS JS SDK speak to Bedrock)\n"
	"  3 guarded streams: a long Bedrock event stream and a long Azure SSE stream,\n"
	"    captured from the emulator once, replayed by the bench server in 16 KiB\n"
	"    records (the emulator itself paces and fragments its streams)\n"
	"  4 ledger reserve+settle: the figures of bench-ledger beside this program,\n"
	"    when the ledger is built; else n/a\n"
	"  5 memory: RSS, PSS (/proc/self/smaps_rollup) and malloc'ed bytes\n"
	"    (mallinfo2) of a fresh client before and after opening N connections,\n"
	"    each left idle after one exchange; per connection = difference / N\n"
	"\n"
	"Options:\n"
	"  --quick              smaller sizes and fewer rounds (a smoke run)\n"
	"  --only LIST          case groups: bulk,rtt,guarded,stream,ledger,memory\n"
	"  --conns N            connections of the memory case (default 1000)\n"
	"  --stream-tokens N    output tokens of the captured streams (default 20000)\n"
	"  --no-icount          skip instruction counts\n"
	"  --shim F             libtokenfence.so (default: ../shim/ beside this program)\n"
	"  --emulator F         tokenfence-emulator (default: beside this program)\n"
	"  --ledger-bench F     bench-ledger (default: beside this program, if built)\n"
	"  --keep               keep the work directory (callgrind dumps, shim log)\n"
	"  --help\n";

static struct {
	bool quick, icount, keep;
	unsigned only; /* bit per group; 0 = all */
	int conns;
	unsigned stream_tokens;
	char exe[PATH_MAX], dir[PATH_MAX];
	char shim[PATH_MAX], emulator[PATH_MAX], ledger[PATH_MAX];
	char tmp[64];
	char cmdline[1024];
	char shim_log[128], shim_ledger[128], shim_sockets[128];
} opt = { .icount = true, .conns = 1000, .stream_tokens = 20000 };

enum { G_BULK = 1, G_RTT = 2, G_GUARDED = 4, G_STREAM = 8, G_LEDGER = 16, G_MEMORY = 32 };

static pid_t emu_pid = -1, server_pid = -1;
static tfb_ports ports;
static tfb_server_cfg server_cfg;

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void cleanup(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, NULL, 0);
		emu_pid = -1;
	}
	if (opt.tmp[0] && opt.keep) {
		fprintf(stderr, "tokenfence-bench: kept %s\n", opt.tmp);
		opt.tmp[0] = 0;
	}
	if (opt.tmp[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", opt.tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "tokenfence-bench: could not remove %s\n", opt.tmp);
		opt.tmp[0] = 0;
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("tokenfence-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	cleanup();
	exit(1);
}

static double load1(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static bool executable(const char *p)
{
	return p[0] && access(p, X_OK) == 0;
}

/* ---- processes ---- */

/* In a sanitized build the ASan runtime must come first in LD_PRELOAD (the
 * shim needs it too): the path this process itself mapped, or "". */
static const char *asan_runtime(void)
{
	static char path[PATH_MAX];
	static bool looked;
	char line[PATH_MAX + 128];
	FILE *f;

	if (looked)
		return path;
	looked = true;
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		if (p && strstr(p, "/libasan.so")) {
			snprintf(path, sizeof(path), "%.*s", (int)(strcspn(p, "\n") & 0xfff), p);
			break;
		}
	}
	if (f)
		fclose(f);
	return path;
}

static pid_t spawn(char *const argv[], const char *preload, int cmd_fd, const char *out)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (cmd_fd >= 0 && cmd_fd != 3) {
		dup2(cmd_fd, 3);
		close(cmd_fd);
	}
	if (out) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
	}
	if (preload) {
		char list[2 * PATH_MAX + 2];

		/* The shim's warnings would interleave with our progress lines;
		 * written to a file they cost what they cost on stderr. Its
		 * ledger and control socket live in the work directory, never
		 * in the user's; a budget far above what the run spends makes
		 * every call reserve and settle, as under a real budget. The
		 * caller's own TOKENFENCE_* settings win. */
		setenv("TOKENFENCE_LOG", opt.shim_log, 0);
		setenv("TOKENFENCE_LEDGER", opt.shim_ledger, 0);
		setenv("TOKENFENCE_SOCKET_DIR", opt.shim_sockets, 0);
		setenv("TOKENFENCE_MAX_COST", "1000000", 0);
		snprintf(list, sizeof(list), "%s%s%s", asan_runtime(), *asan_runtime() ? " " : "",
			 preload);
		setenv("LD_PRELOAD", list, 1);
		if (*asan_runtime())
			setenv("ASAN_OPTIONS", "detect_leaks=0", 0);
	} else {
		unsetenv("LD_PRELOAD");
	}
	execvp(argv[0], argv);
	fprintf(stderr, "tokenfence-bench: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void start_emulator(void)
{
	char portfile[128], ca[128], tokens[16];
	char *argv[] = { opt.emulator, "--port", "0", "--port-file", portfile, "--ca-out", ca,
			 "--pace-ms", "0", "--reply-tokens", tokens, "--quiet",
			 "--header-timeout-ms", "600000", "--idle-timeout-ms", "600000", "--http2", NULL };
	FILE *f;

	snprintf(portfile, sizeof(portfile), "%s/emu.port", opt.tmp);
	snprintf(ca, sizeof(ca), "%s/emu-ca.pem", opt.tmp);
	snprintf(tokens, sizeof(tokens), "%u", opt.stream_tokens);
	emu_pid = spawn(argv, NULL, -1, "/dev/null");
	for (int i = 0; i < 400 && access(portfile, R_OK) != 0; i++) {
		if (waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
			emu_pid = -1;
			die("the emulator exited at start");
		}
		usleep(50000);
	}
	f = fopen(portfile, "r");
	if (!f || fscanf(f, "%d", &ports.emu) != 1)
		die("the emulator did not start (no %s)", portfile);
	fclose(f);
}

/* Kept with --keep, for profiling the parsers on the same bytes. */
static void save(const char *name, const tfb_bytes *b)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", opt.tmp, name);
	f = fopen(path, "w");
	if (f) {
		fwrite(b->data, 1, b->len, f);
		fclose(f);
	}
}

/* One response of the emulator, as bytes, for the bench server to replay. */
static void capture(SSL_CTX *ctx, tfb_case k, const char *sni, tfb_bytes *out)
{
	SSL *s = tfb_connect(ctx, ports.emu, sni);
	tfb_request r;
	int st;

	if (!s || tfb_request_build(&r, k, opt.stream_tokens) < 0 || tfb_request_send(s, &r) < 0)
		die("cannot send a capture request to the emulator");
	st = tfb_response_read(s, out, NULL);
	if (st != 200)
		die("capture from the emulator: HTTP status %d", st);
	tfb_request_free(&r);
	tfb_close(s);
}

static void start_server(void)
{
	SSL_CTX *ctx = tfb_client_ctx();

	if (!ctx)
		die("no client TLS context");
	capture(ctx, TFB_BR_4K, TFB_SNI_BEDROCK, &server_cfg.invoke);
	capture(ctx, TFB_STREAM_ES, TFB_SNI_BEDROCK, &server_cfg.event_stream);
	capture(ctx, TFB_STREAM_SSE, TFB_SNI_AZURE, &server_cfg.sse);
	SSL_CTX_free(ctx);
	save("invoke.http", &server_cfg.invoke);
	save("event-stream.http", &server_cfg.event_stream);
	save("sse.http", &server_cfg.sse);
	server_cfg.echo_fd = tfb_listen(&ports.echo);
	server_cfg.sink_fd = tfb_listen(&ports.sink);
	server_cfg.source_fd = tfb_listen(&ports.source);
	server_cfg.http_fd = tfb_listen(&ports.http);
	if (server_cfg.echo_fd < 0 || server_cfg.sink_fd < 0 || server_cfg.source_fd < 0 ||
	    server_cfg.http_fd < 0)
		die("cannot listen on loopback");
	fflush(NULL);
	server_pid = fork();
	if (server_pid < 0)
		die("fork: %s", strerror(errno));
	if (server_pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		tfb_server_run(&server_cfg);
	}
	close(server_cfg.echo_fd);
	close(server_cfg.sink_fd);
	close(server_cfg.source_fd);
	close(server_cfg.http_fd);
}

typedef struct client {
	pid_t pid;
	int fd;
} client;

/* A client, optionally under callgrind (cg_out: the output file). */
static client client_start(int variant, uint64_t bulk_batch, const char *cg_out)
{
	char a_echo[16], a_sink[16], a_source[16], a_http[16], a_emu[16], a_batch[24], a_tok[16];
	char cg_file[200];
	char *argv[32];
	int sv[2], n = 0;
	client c;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die("socketpair: %s", strerror(errno));
	snprintf(a_echo, sizeof(a_echo), "%d", ports.echo);
	snprintf(a_sink, sizeof(a_sink), "%d", ports.sink);
	snprintf(a_source, sizeof(a_source), "%d", ports.source);
	snprintf(a_http, sizeof(a_http), "%d", ports.http);
	snprintf(a_emu, sizeof(a_emu), "%d", ports.emu);
	snprintf(a_batch, sizeof(a_batch), "%llu", (unsigned long long)bulk_batch);
	snprintf(a_tok, sizeof(a_tok), "%u", opt.stream_tokens);
	if (cg_out) {
		snprintf(cg_file, sizeof(cg_file), "--callgrind-out-file=%s", cg_out);
		argv[n++] = "valgrind";
		argv[n++] = "--tool=callgrind";
		argv[n++] = "-q";
		argv[n++] = cg_file;
		argv[n++] = "--toggle-collect=tfb_icount_region";
		argv[n++] = "--dump-after=tfb_icount_region";
		/* Each dump self-contained, so callgrind_annotate reads it alone. */
		argv[n++] = "--compress-strings=no";
	}
	argv[n++] = opt.exe;
	argv[n++] = "--child";
	argv[n++] = "--echo";
	argv[n++] = a_echo;
	argv[n++] = "--sink";
	argv[n++] = a_sink;
	argv[n++] = "--source";
	argv[n++] = a_source;
	argv[n++] = "--http";
	argv[n++] = a_http;
	argv[n++] = "--emu";
	argv[n++] = a_emu;
	argv[n++] = "--bulk-batch";
	argv[n++] = a_batch;
	argv[n++] = "--stream-tokens";
	argv[n++] = a_tok;
	argv[n] = NULL;
	/* The child's end must survive exec: spawn() dup2s it onto fd 3. */
	fcntl(sv[1], F_SETFD, 0);
	c.pid = spawn(argv, variant == TFB_V_SHIM ? opt.shim : NULL, sv[1], NULL);
	close(sv[1]);
	c.fd = sv[0];
	return c;
}

static void client_stop(client *c)
{
	tfb_cmd q = { .op = TFB_OP_QUIT };

	if (c->pid <= 0)
		return;
	if (tfb_write_full(c->fd, &q, sizeof(q)) < 0)
		kill(c->pid, SIGTERM);
	close(c->fd);
	waitpid(c->pid, NULL, 0);
	c->pid = -1;
}

/* Sends a command; returns the reply (status < 0 on failure) and its samples. */
static tfb_reply client_do(client *c, int op, int kase, int64_t iters, uint64_t **samples)
{
	tfb_cmd cmd = { .op = op, .kase = kase, .iters = iters };
	tfb_reply r = { .status = -EPIPE };

	if (samples)
		*samples = NULL;
	if (tfb_write_full(c->fd, &cmd, sizeof(cmd)) < 0 || tfb_read_full(c->fd, &r, sizeof(r)) < 0) {
		r.status = -EPIPE;
		return r;
	}
	if (r.n > 0) {
		uint64_t *s = malloc((size_t)r.n * sizeof(uint64_t));
		if (!s || tfb_read_full(c->fd, s, (size_t)r.n * sizeof(uint64_t)) < 0) {
			free(s);
			r.status = -EPIPE;
			return r;
		}
		if (samples)
			*samples = s;
		else
			free(s);
	}
	return r;
}

/* ---- timed cases ---- */

static tfb_run run;

typedef struct plan {
	unsigned group;
	int per, rounds, warm;    /* full run */
	int qper, qrounds, qwarm; /* --quick */
	int icount_units, qicount_units;
} plan;

/* Bulk units are 1 MiB: 16 per batch, 64 rounds = 1 GiB per client. */
static const plan plans[TFB_NCASES] = {
	[TFB_BULK_DOWN] = { G_BULK, 16, 64, 8, 16, 8, 4, 1, 1 },
	[TFB_BULK_UP] = { G_BULK, 16, 64, 8, 16, 8, 4, 1, 1 },
	[TFB_RTT_1K] = { G_RTT, 200, 60, 200, 100, 10, 100, 2000, 300 },
	[TFB_AZ_4K] = { G_GUARDED, 20, 60, 20, 10, 10, 10, 100, 20 },
	[TFB_AZ_200K] = { G_GUARDED, 4, 40, 3, 2, 6, 2, 10, 2 },
	[TFB_BR_4K] = { G_GUARDED, 20, 60, 20, 10, 10, 10, 100, 20 },
	[TFB_BR_200K] = { G_GUARDED, 4, 40, 3, 2, 6, 2, 10, 2 },
	[TFB_STREAM_ES] = { G_STREAM, 2, 20, 2, 1, 8, 1, 2, 1 },
	[TFB_STREAM_SSE] = { G_STREAM, 2, 20, 2, 1, 8, 1, 2, 1 },
	[TFB_BR_4K_H2] = { G_GUARDED, 20, 60, 20, 10, 10, 10, 100, 20 },
	[TFB_BR_200K_H2] = { G_GUARDED, 4, 40, 3, 2, 6, 2, 10, 2 },
};

static const uint64_t bulk_unit = 1u << 20;
static const uint64_t icount_bulk_unit = 4u << 20;

static bool wanted(unsigned group)
{
	return !opt.only || (opt.only & group);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_d(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct series {
	uint64_t *v;
	size_t n, cap;
} series;

static void series_add(series *s, const uint64_t *v, size_t n)
{
	if (s->n + n > s->cap) {
		size_t ncap = s->cap ? s->cap : 1024;
		while (ncap < s->n + n)
			ncap *= 2;
		s->v = realloc(s->v, ncap * sizeof(uint64_t));
		if (!s->v)
			die("out of memory");
		s->cap = ncap;
	}
	memcpy(s->v + s->n, v, n * sizeof(uint64_t));
	s->n += n;
}

static double unit_bytes(tfb_case k)
{
	switch (k) {
	case TFB_BULK_DOWN:
	case TFB_BULK_UP:
		return (double)bulk_unit;
	case TFB_STREAM_ES:
		return (double)server_cfg.event_stream.len;
	case TFB_STREAM_SSE:
		return (double)server_cfg.sse.len;
	default:
		return 0;
	}
}

/* The client that goes j-th in round i: every client takes every position
 * equally often (0 1 2, 2 1 0, 1 2 0, 0 2 1, 2 0 1, 1 0 2, ...). */
static int order(int i, int j)
{
	int base = (i / 2) % TFB_NVAR;

	return i % 2 ? (base + TFB_NVAR - j) % TFB_NVAR : (base + j) % TFB_NVAR;
}

/* One batch of one client: samples, batch median, CPU per unit. */
static bool batch(client *c, tfb_case k, int per, series *s, uint64_t *bmed, double *cpu,
		  double *faults)
{
	uint64_t *smp = NULL;
	tfb_reply rep = client_do(c, TFB_OP_RUN, k, per, &smp);
	bool ok = rep.status == 0 && rep.n == per;

	if (ok) {
		series_add(s, smp, (size_t)per);
		*bmed = tfb_quantile(smp, (size_t)per, 0.5);
		*cpu = (double)rep.v[TFB_V_CPU] / per;
		*faults = (double)rep.v[TFB_V_FAULTS] / per;
	}
	free(smp);
	return ok;
}

static void measure(client cl[TFB_NVAR], tfb_case k)
{
	const plan *p = &plans[k];
	int per = opt.quick ? p->qper : p->per, rounds = opt.quick ? p->qrounds : p->rounds;
	int warm = opt.quick ? p->qwarm : p->warm;
	series s[TFB_NVAR] = { { 0 } };
	double *diff = calloc((size_t)rounds * (2 + 2 * TFB_NVAR), sizeof(double));
	double *ndiff = diff + rounds, *cpu = diff + 2 * rounds;
	double *flt = cpu + TFB_NVAR * rounds;
	tfb_result *r = &run.res[k];

	if (!diff)
		die("out of memory");
	r->ran = true;
	r->instr[0] = r->instr[1] = -1;
	r->unit_bytes = unit_bytes(k);
	r->load_before = load1();
	fprintf(stderr, "  %-48s", tfb_case_title(k));
	for (int v = 0; v < TFB_NVAR; v++)
		if (client_do(&cl[v], TFB_OP_RUN, k, warm, NULL).status < 0)
			r->failed = true;
	for (int i = 0; i < rounds && !r->failed; i++) {
		uint64_t bmed[TFB_NVAR];

		for (int j = 0; j < TFB_NVAR && !r->failed; j++) {
			int v = order(i, j);
			r->failed = !batch(&cl[v], k, per, &s[v], &bmed[v], &cpu[v * rounds + i],
					   &flt[v * rounds + i]);
			if (!r->failed && (i == 0 || (double)bmed[v] < r->best[v]))
				r->best[v] = (double)bmed[v];
		}
		diff[i] = (double)bmed[TFB_V_SHIM] - (double)bmed[TFB_V_PLAIN];
		ndiff[i] = (double)bmed[TFB_V_PLAIN2] - (double)bmed[TFB_V_PLAIN];
	}
	if (!r->failed) {
		for (int v = 0; v < TFB_NVAR; v++) {
			r->med[v] = tfb_quantile(s[v].v, s[v].n, 0.5);
			r->p99[v] = tfb_quantile(s[v].v, s[v].n, 0.99);
			r->cpu[v] = median_d(cpu + v * rounds, (size_t)rounds);
			r->faults[v] = median_d(flt + v * rounds, (size_t)rounds);
		}
		r->samples = s[0].n;
		r->paired = median_d(diff, (size_t)rounds);
		r->paired_null = median_d(ndiff, (size_t)rounds);
	}
	fprintf(stderr, r->failed ? " FAILED\n" : " done\n");
	for (int v = 0; v < TFB_NVAR; v++)
		free(s[v].v);
	free(diff);
}

/* ---- instruction counts ---- */

static int64_t icount_units(tfb_case k)
{
	return opt.quick ? plans[k].qicount_units : plans[k].icount_units;
}

static void icount_setup(tfb_case k, uint64_t bulk)
{
	tfb_result *r = &run.res[k];

	r->icount_units = icount_units(k);
	r->icount_unit_bytes = k == TFB_BULK_DOWN || k == TFB_BULK_UP ? (double)bulk : r->unit_bytes;
}

/* With hardware counters: the clients count their own loop. */
static void icount_perf(client cl[TFB_NVAR])
{
	for (int k = 0; k < TFB_NCASES; k++) {
		if (!run.res[k].ran || run.res[k].failed)
			continue;
		icount_setup(k, bulk_unit);
		for (int v = 0; v < 2; v++)
			run.res[k].instr[v] =
				client_do(&cl[v], TFB_OP_ICOUNT, k, icount_units(k), NULL).instr;
	}
}

/* Without: one callgrind client per variant runs every case once; each
 * call of tfb_icount_region is dumped to its own file (.1, .2, ...). */
static void icount_callgrind(void)
{
	for (int v = 0; v < 2; v++) {
		char out[160], part[200];
		int dumpno[TFB_NCASES] = { 0 }, dumps = 0;
		client c;

		snprintf(out, sizeof(out), "%s/cg.%s", opt.tmp, v ? "with" : "without");
		fprintf(stderr, "  instructions (callgrind), %s the shim\n", v ? "with" : "without");
		c = client_start(v, icount_bulk_unit, out);
		for (int k = 0; k < TFB_NCASES; k++) {
			if (!run.res[k].ran || run.res[k].failed)
				continue;
			icount_setup(k, icount_bulk_unit);
			if (client_do(&c, TFB_OP_RUN, k, k == TFB_RTT_1K ? 20 : 1, NULL).status < 0)
				continue;
			/* The dump happens whenever the region returns, even on failure. */
			if (client_do(&c, TFB_OP_ICOUNT, k, icount_units(k), NULL).status == 0)
				dumpno[k] = dumps + 1;
			dumps++;
		}
		client_stop(&c);
		for (int k = 0; k < TFB_NCASES; k++) {
			if (!dumpno[k])
				continue;
			snprintf(part, sizeof(part), "%s.%d", out, dumpno[k]);
			run.res[k].instr[v] = tfb_callgrind_total(part);
		}
	}
}

/* ---- memory ---- */

static void measure_memory(void)
{
	enum { REPS = 2 };

	for (int kind = 0; kind < 2; kind++) {
		double rss[2][REPS], pss[2][REPS], heap[2][REPS];
		tfb_memres *m = &run.mem[kind];

		m->ran = true;
		fprintf(stderr, "  memory, %d idle %s connections\n", opt.conns,
			kind == TFB_MEM_GUARDED ? "guarded" : "unguarded");
		for (int rep = 0; rep < REPS && !m->failed; rep++) {
			for (int j = 0; j < 2; j++) {
				int v = rep % 2 ? 1 - j : j;
				client c = client_start(v, bulk_unit, NULL);
				tfb_reply r = client_do(&c, TFB_OP_MEM, kind, opt.conns, NULL);

				client_stop(&c);
				if (r.status < 0) {
					m->failed = true;
					break;
				}
				rss[v][rep] = (double)(r.v[TFB_V_RSS1] - r.v[TFB_V_RSS0]) / opt.conns;
				pss[v][rep] = (double)(r.v[TFB_V_PSS1] - r.v[TFB_V_PSS0]) / opt.conns;
				heap[v][rep] = (double)(r.v[TFB_V_HEAP1] - r.v[TFB_V_HEAP0]) / opt.conns;
			}
		}
		if (m->failed)
			continue;
		for (int v = 0; v < 2; v++) {
			m->rss[v] = median_d(rss[v], REPS);
			m->pss[v] = median_d(pss[v], REPS);
			m->heap[v] = median_d(heap[v], REPS);
		}
	}
}

/* ---- ledger: bench-ledger's own figures ---- */

static void ledger_line(const char *line)
{
	tfb_ledger_line l;
	int i;

	if (sscanf(line, "%15s %d %*s %ld reserve+settle: median %lf us, p99 %lf us", l.backend,
		   &l.threads, &l.n, &l.med_us, &l.p99_us) != 5) {
		if (strstr(line, "skipped"))
			snprintf(run.ledger_note, sizeof(run.ledger_note), "%.*s",
				 (int)(strcspn(line, "\n") & 0xff), line);
		return;
	}
	/* bench-ledger prints a warm-up line first: keep the larger run. */
	for (i = 0; i < run.n_ledger; i++)
		if (!strcmp(run.ledger[i].backend, l.backend) && run.ledger[i].threads == l.threads)
			break;
	if (i == run.n_ledger && run.n_ledger < 8)
		run.ledger[run.n_ledger++] = l;
	else if (i < run.n_ledger && l.n > run.ledger[i].n)
		run.ledger[i] = l;
}

static void run_ledger(void)
{
	char cmd[PATH_MAX + 64], line[512];
	FILE *p;

	run.ledger_wanted = true;
	if (!executable(opt.ledger)) {
		snprintf(run.ledger_note, sizeof(run.ledger_note), "n/a (ledger not built)");
		return;
	}
	fprintf(stderr, "  ledger (%s)\n", opt.ledger);
	snprintf(cmd, sizeof(cmd), "'%s' -n %d 2>&1", opt.ledger, opt.quick ? 2000 : 20000);
	fflush(NULL);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p))
		ledger_line(line);
	if (!p || pclose(p) != 0 || !run.n_ledger)
		snprintf(run.ledger_note, sizeof(run.ledger_note), "bench-ledger failed");
}

/* ---- main ---- */

static void self_paths(void)
{
	ssize_t n = readlink("/proc/self/exe", opt.exe, sizeof(opt.exe) - 1);
	char *slash;

	if (n <= 0)
		die("cannot read /proc/self/exe");
	opt.exe[n] = 0;
	snprintf(opt.dir, sizeof(opt.dir), "%s", opt.exe);
	slash = strrchr(opt.dir, '/');
	if (slash)
		*slash = 0;
}

static unsigned parse_only(const char *s)
{
	static const char *const names[] = { "bulk", "rtt", "guarded", "stream", "ledger", "memory" };
	unsigned m = 0;

	while (*s) {
		size_t n = strcspn(s, ",");
		size_t i;

		for (i = 0; i < 6; i++)
			if (strlen(names[i]) == n && !strncmp(s, names[i], n))
				break;
		if (i == 6)
			die("--only: unknown case group '%.*s'", (int)n, s);
		m |= 1u << i;
		s += n + (s[n] == ',');
	}
	return m;
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "conns", required_argument, NULL, 'c' },
		{ "stream-tokens", required_argument, NULL, 't' },
		{ "no-icount", no_argument, NULL, 'n' },
		{ "shim", required_argument, NULL, 's' },
		{ "emulator", required_argument, NULL, 'e' },
		{ "ledger-bench", required_argument, NULL, 'l' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t used = 0;
	int o;

	snprintf(opt.shim, sizeof(opt.shim), "%.4000s/../shim/libtokenfence.so", opt.dir);
	snprintf(opt.emulator, sizeof(opt.emulator), "%.4000s/tokenfence-emulator", opt.dir);
	snprintf(opt.ledger, sizeof(opt.ledger), "%.4000s/bench-ledger", opt.dir);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'q':
			opt.quick = true;
			break;
		case 'o':
			opt.only = parse_only(optarg);
			break;
		case 'c':
			opt.conns = atoi(optarg);
			if (opt.conns < 1 || opt.conns > 10000)
				die("--conns: 1 to 10000");
			break;
		case 't':
			opt.stream_tokens = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			opt.icount = false;
			break;
		case 's':
			snprintf(opt.shim, sizeof(opt.shim), "%s", optarg);
			break;
		case 'e':
			snprintf(opt.emulator, sizeof(opt.emulator), "%s", optarg);
			break;
		case 'l':
			snprintf(opt.ledger, sizeof(opt.ledger), "%s", optarg);
			break;
		case 'k':
			opt.keep = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'tokenfence-bench --help'.\n");
			exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument: %s", argv[optind]);
	used = (size_t)snprintf(opt.cmdline, sizeof(opt.cmdline), "tokenfence-bench");
	for (int i = 1; i < argc && used < sizeof(opt.cmdline); i++)
		used += (size_t)snprintf(opt.cmdline + used, sizeof(opt.cmdline) - used, " %s", argv[i]);
}

static void on_signal(int sig)
{
	(void)sig;
	cleanup();
	_exit(130);
}

int main(int argc, char **argv)
{
	client cl[TFB_NVAR];
	const char *pre = getenv("LD_PRELOAD");

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return tfb_child_main(argc, argv);
	self_paths();
	parse_args(argc, argv);
	if (pre && strstr(pre, "tokenfence"))
		die("run the driver without LD_PRELOAD: it preloads one of its clients itself");
	if (access(opt.shim, R_OK) != 0)
		die("no shim at %s (build it, or pass --shim)", opt.shim);
	if (!executable(opt.emulator))
		die("no emulator at %s (build it, or pass --emulator)", opt.emulator);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(opt.tmp, sizeof(opt.tmp), "/tmp/tf-bench-XXXXXX");
	if (!mkdtemp(opt.tmp))
		die("mkdtemp: %s", strerror(errno));
	snprintf(opt.shim_log, sizeof(opt.shim_log), "%s/shim.log", opt.tmp);
	snprintf(opt.shim_ledger, sizeof(opt.shim_ledger), "%s/ledger", opt.tmp);
	snprintf(opt.shim_sockets, sizeof(opt.shim_sockets), "%s/sockets", opt.tmp);

	run.cmdline = opt.cmdline;
	run.icount = opt.icount;
	run.conns = opt.conns;
	run.shim_log = opt.shim_log;
	run.t0 = time(NULL);
	run.load_start = load1();
	ports.bulk_batch = bulk_unit;
	run.bulk_total = bulk_unit * (uint64_t)(opt.quick ? plans[TFB_BULK_DOWN].qper *
								   plans[TFB_BULK_DOWN].qrounds
							 : plans[TFB_BULK_DOWN].per *
								   plans[TFB_BULK_DOWN].rounds);
	fprintf(stderr, "tokenfence-bench: load average %.2f; starting the emulator and the server\n",
		run.load_start);
	start_emulator();
	start_server();
	if (opt.icount)
		run.perf_ok = tfb_perf_works(run.perf_why, sizeof(run.perf_why));

	if (wanted(G_BULK | G_RTT | G_GUARDED | G_STREAM)) {
		for (int v = 0; v < TFB_NVAR; v++)
			cl[v] = client_start(v, bulk_unit, NULL);
		for (int k = 0; k < TFB_NCASES; k++)
			if (wanted(plans[k].group))
				measure(cl, k);
		if (opt.icount && run.perf_ok)
			icount_perf(cl);
		for (int v = 0; v < TFB_NVAR; v++)
			client_stop(&cl[v]);
		if (opt.icount && !run.perf_ok)
			icount_callgrind();
	}
	if (wanted(G_LEDGER))
		run_ledger();
	if (wanted(G_MEMORY))
		measure_memory();
	run.load_end = load1();
	run.t1 = time(NULL);
	tfb_report(&run);
	fflush(stdout);
	cleanup();
	return 0;
}
