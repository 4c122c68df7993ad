/*
 * A bench client: `tokenfence-bench --child …`, started by the driver with
 * or without LD_PRELOAD=libtokenfence.so and driven over fd 3 (bench.h).
 * It does exactly the same work either way; only the preload differs.
 * Connections are opened on first use and kept (keep-alive), so samples
 * time the data path, never a handshake.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include "bench.h"

#define CMD_FD 3

int tfb_icount_region(tfb_case kase, int64_t iters) __attribute__((noinline));

static tfb_ports ports;
static unsigned stream_tokens = 20000;
static SSL_CTX *ctx, *ctx_h2;
static SSL *conns[TFB_NCASES];
static tfb_h2 *h2s[TFB_NCASES];
static tfb_request reqs[TFB_NCASES];
static bool built[TFB_NCASES];
static uint8_t iobuf[TFB_IO_CHUNK];
static int reported_status;

static int port_of(tfb_case k, const char **sni)
{
	switch (k) {
	case TFB_BULK_DOWN:
		*sni = TFB_SNI_PLAIN;
		return ports.source;
	case TFB_BULK_UP:
		*sni = TFB_SNI_PLAIN;
		return ports.sink;
	case TFB_RTT_1K:
		*sni = TFB_SNI_PLAIN;
		return ports.echo;
	case TFB_AZ_4K:
	case TFB_AZ_200K:
		*sni = TFB_SNI_AZURE;
		return ports.emu;
	case TFB_BR_4K:
	case TFB_BR_200K:
	case TFB_BR_4K_H2:
	case TFB_BR_200K_H2:
		*sni = TFB_SNI_BEDROCK;
		return ports.emu;
	case TFB_STREAM_ES:
		*sni = TFB_SNI_BEDROCK;
		return ports.http;
	case TFB_STREAM_SSE:
		*sni = TFB_SNI_AZURE;
		return ports.http;
	default:
		return -1;
	}
}

static bool is_h2(tfb_case k)
{
	return k == TFB_BR_4K_H2 || k == TFB_BR_200K_H2;
}

static SSL *conn_for(tfb_case k)
{
	const char *sni = NULL;
	int port;

	if (conns[k])
		return conns[k];
	port = port_of(k, &sni);
	conns[k] = port > 0 ? tfb_connect(is_h2(k) ? ctx_h2 : ctx, port, sni) : NULL;
	if (conns[k] && is_h2(k) && !(h2s[k] = tfb_h2_open(conns[k]))) {
		tfb_close(conns[k]);
		conns[k] = NULL;
	}
	if (conns[k] && k == TFB_BULK_UP &&
	    tfb_ssl_write_all(conns[k], &ports.bulk_batch, sizeof(ports.bulk_batch)) < 0) {
		tfb_close(conns[k]);
		conns[k] = NULL;
	}
	return conns[k];
}

static const tfb_request *request_for(tfb_case k)
{
	if (!built[k]) {
		if (tfb_request_build(&reqs[k], k, stream_tokens) < 0)
			return NULL;
		built[k] = true;
	}
	return &reqs[k];
}

static int bulk_down(SSL *s)
{
	uint64_t left = ports.bulk_batch;

	if (tfb_ssl_write_all(s, &left, sizeof(left)) < 0)
		return -1;
	while (left) {
		int r = SSL_read(s, iobuf, (int)sizeof(iobuf));
		if (r <= 0)
			return -1;
		left -= (uint64_t)r;
	}
	return 0;
}

static int bulk_up(SSL *s)
{
	uint64_t left = ports.bulk_batch;
	char ack;

	while (left) {
		int k = left > sizeof(iobuf) ? (int)sizeof(iobuf) : (int)left;
		if (SSL_write(s, iobuf, k) != k)
			return -1;
		left -= (uint64_t)k;
	}
	return tfb_ssl_read_exact(s, &ack, 1);
}

static int rtt_1k(SSL *s)
{
	if (SSL_write(s, iobuf, 1024) != 1024)
		return -1;
	return tfb_ssl_read_exact(s, iobuf, 1024);
}

static int http_call(SSL *s, tfb_case k)
{
	const tfb_request *r = request_for(k);
	int status;

	if (!r)
		return -1;
	if (h2s[k])
		status = tfb_h2_call(h2s[k], r);
	else if (tfb_request_send(s, r) < 0)
		return -1;
	else
		status = tfb_response_read(s, NULL, NULL);
	if (status == 200)
		return 0;
	if (!reported_status++)
		fprintf(stderr, "tokenfence-bench: case %d got HTTP status %d\n", (int)k, status);
	return -1;
}

/* One unit of work of a case. */
static int unit(tfb_case k)
{
	SSL *s = conn_for(k);

	if (!s)
		return -1;
	switch (k) {
	case TFB_BULK_DOWN:
		return bulk_down(s);
	case TFB_BULK_UP:
		return bulk_up(s);
	case TFB_RTT_1K:
		return rtt_1k(s);
	default:
		return http_call(s, k);
	}
}

int tfb_icount_region(tfb_case kase, int64_t iters)
{
	for (int64_t i = 0; i < iters; i++)
		if (unit(kase) < 0)
			return -1;
	return 0;
}

static int reply(const tfb_reply *r, const uint64_t *samples)
{
	if (tfb_write_full(CMD_FD, r, sizeof(*r)) < 0)
		return -1;
	return r->n ? tfb_write_full(CMD_FD, samples, (size_t)r->n * sizeof(*samples)) : 0;
}

static uint64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static void op_run(const tfb_cmd *c, tfb_reply *rep, uint64_t **samples)
{
	long flt0 = minor_faults();
	uint64_t cpu0 = cpu_now();

	*samples = calloc((size_t)c->iters, sizeof(uint64_t));
	if (!*samples) {
		rep->status = -ENOMEM;
		return;
	}
	for (int64_t i = 0; i < c->iters; i++) {
		uint64_t t0 = tfb_now_ns();
		if (unit((tfb_case)c->kase) < 0) {
			rep->status = -EIO;
			return;
		}
		(*samples)[i] = tfb_now_ns() - t0;
	}
	rep->v[TFB_V_CPU] = (int64_t)(cpu_now() - cpu0);
	rep->v[TFB_V_FAULTS] = minor_faults() - flt0;
	rep->n = (int32_t)c->iters;
}

static void op_icount(const tfb_cmd *c, tfb_reply *rep)
{
	int fd = tfb_perf_open();
	long long v = -1;

	if (fd >= 0) {
		ioctl(fd, PERF_EVENT_IOC_RESET, 0);
		ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	}
	if (tfb_icount_region((tfb_case)c->kase, c->iters) < 0)
		rep->status = -EIO;
	if (fd >= 0) {
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(fd, &v, sizeof(v)) != sizeof(v))
			v = -1;
		close(fd);
	}
	rep->instr = v;
}

/* Resident and proportional set size of this process, in bytes. */
static void mem_now(int64_t *rss, int64_t *pss, int64_t *heap)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long long kb;
	struct mallinfo2 mi = mallinfo2();

	*rss = *pss = -1;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %lld kB", &kb) == 1)
			*rss = kb * 1024;
		else if (sscanf(line, "Pss: %lld kB", &kb) == 1)
			*pss = kb * 1024;
	}
	if (f)
		fclose(f);
	*heap = (int64_t)(mi.uordblks + mi.hblkhd);
}

/* A connection of the memory case after one exchange, left idle. */
static SSL *idle_conn(int kind)
{
	SSL *s = kind == TFB_MEM_GUARDED ? tfb_connect(ctx, ports.http, TFB_SNI_BEDROCK)
					 : tfb_connect(ctx, ports.echo, TFB_SNI_PLAIN);
	const tfb_request *r = request_for(TFB_BR_4K);

	if (!s)
		return NULL;
	if (kind == TFB_MEM_GUARDED ? (!r || tfb_request_send(s, r) < 0 ||
				       tfb_response_read(s, NULL, NULL) != 200)
				    : rtt_1k(s) < 0) {
		tfb_close(s);
		return NULL;
	}
	return s;
}

static void op_mem(const tfb_cmd *c, tfb_reply *rep)
{
	SSL **open = calloc((size_t)c->iters + 1, sizeof(SSL *));
	int64_t n = 0;

	if (!open) {
		rep->status = -ENOMEM;
		return;
	}
	/* The first connection pays one-time costs (libssl and shim
	 * initialisation, table shards); it is not counted. */
	open[n] = idle_conn(c->kase);
	if (!open[n]) {
		rep->status = -EIO;
		goto out;
	}
	n++;
	mem_now(&rep->v[TFB_V_RSS0], &rep->v[TFB_V_PSS0], &rep->v[TFB_V_HEAP0]);
	for (; n <= c->iters; n++) {
		open[n] = idle_conn(c->kase);
		if (!open[n]) {
			rep->status = -EIO;
			goto out;
		}
	}
	mem_now(&rep->v[TFB_V_RSS1], &rep->v[TFB_V_PSS1], &rep->v[TFB_V_HEAP1]);
out:
	for (int64_t i = 0; i < n; i++)
		tfb_close(open[i]);
	free(open);
}

static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "child", no_argument, NULL, 'C' },
		{ "echo", required_argument, NULL, 'e' },
		{ "sink", required_argument, NULL, 'k' },
		{ "source", required_argument, NULL, 's' },
		{ "http", required_argument, NULL, 'h' },
		{ "emu", required_argument, NULL, 'm' },
		{ "bulk-batch", required_argument, NULL, 'b' },
		{ "stream-tokens", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'C':
			break;
		case 'e':
			ports.echo = atoi(optarg);
			break;
		case 'k':
			ports.sink = atoi(optarg);
			break;
		case 's':
			ports.source = atoi(optarg);
			break;
		case 'h':
			ports.http = atoi(optarg);
			break;
		case 'm':
			ports.emu = atoi(optarg);
			break;
		case 'b':
			ports.bulk_batch = strtoull(optarg, NULL, 10);
			break;
		case 't':
			stream_tokens = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int tfb_child_main(int argc, char **argv)
{
	struct rlimit rl;
	tfb_cmd c;

	if (parse_args(argc, argv) < 0)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(iobuf, 'x', sizeof(iobuf));
	ctx = tfb_client_ctx();
	ctx_h2 = tfb_client_ctx_h2();
	if (!ctx || !ctx_h2)
		return 1;
	while (tfb_read_full(CMD_FD, &c, sizeof(c)) == 0 && c.op != TFB_OP_QUIT) {
		tfb_reply rep = { .status = 0, .n = 0, .instr = -1 };
		uint64_t *samples = NULL;

		if (c.kase < 0 || c.iters < 0 ||
		    (c.op != TFB_OP_MEM && c.kase >= TFB_NCASES)) {
			rep.status = -EINVAL;
		} else if (c.op == TFB_OP_RUN) {
			op_run(&c, &rep, &samples);
		} else if (c.op == TFB_OP_ICOUNT) {
			op_icount(&c, &rep);
		} else if (c.op == TFB_OP_MEM) {
			op_mem(&c, &rep);
		} else {
			rep.status = -EINVAL;
		}
		if (rep.status != 0)
			rep.n = 0;
		if (reply(&rep, samples) < 0)
			return 1;
		free(samples);
	}
	for (int k = 0; k < TFB_NCASES; k++) {
		tfb_h2_close(h2s[k]);
		tfb_close(conns[k]);
		if (built[k])
			tfb_request_free(&reqs[k]);
	}
	SSL_CTX_free(ctx);
	SSL_CTX_free(ctx_h2);
	return 0;
}
