/*
 * bench-ledger: reserve+settle latency of the ledger backends (a benchmark,
 * not a test). For each backend it times N reserve+settle pairs on one
 * handle, from 1 thread and from 4 threads sharing it (the shim's shape),
 * and prints the median and 99th percentile.
 *
 *   bench-ledger [-n OPS] [-r redis://host:port/db]
 *
 * Without -r, a redis-server from PATH is started on a free loopback port in
 * a temporary directory (and stopped); if there is none, Redis is skipped.
 */
#include "ledger/ledger.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS_MAX 4

struct run {
	tf_ledger *l;
	int ops;
	uint64_t *lat; /* ns per reserve+settle */
	int failures;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *loop(void *p)
{
	struct run *r = p;
	tf_scope_def c[3];

	tf_scope_def_init(&c[0], "bench-proc");
	tf_scope_def_init(&c[1], "bench-team");
	tf_scope_def_init(&c[2], "bench-org");
	c[2].max_cost = TF_MONEY_MAX / 2;
	for (int i = 0; i < r->ops; i++) {
		tf_ledger_res res;
		uint64_t t0 = now_ns();
		if (tf_ledger_reserve(r->l, c, 3, 1000, TF_LEDGER_COUNT_REQUEST, &res, NULL) != 0 ||
		    tf_ledger_settle(r->l, &res, 999, 0, NULL) != 0)
			r->failures++;
		r->lat[i] = now_ns() - t0;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void measure(const char *name, tf_ledger *l, int ops, int threads)
{
	pthread_t th[THREADS_MAX];
	struct run r[THREADS_MAX];
	uint64_t *all = calloc((size_t)ops, sizeof(uint64_t));
	int per = ops / threads, failures = 0;
	uint64_t t0 = now_ns();

	if (!all)
		exit(1);
	for (int i = 0; i < threads; i++) {
		r[i] = (struct run){ l, per, all + (size_t)i * (size_t)per, 0 };
		pthread_create(&th[i], NULL, loop, &r[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failures += r[i].failures;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	size_t n = (size_t)per * (size_t)threads;
	qsort(all, n, sizeof(uint64_t), cmp_u64);
	printf("%-6s %d thread%s %7zu reserve+settle: median %7.1f us, p99 %7.1f us, "
	       "%8.0f pairs/s%s\n",
	       name, threads, threads > 1 ? "s" : " ", n, (double)all[n / 2] / 1000.0,
	       (double)all[n * 99 / 100] / 1000.0, (double)n / secs, failures ? " (FAILURES)" : "");
	free(all);
}

static void bench(const char *name, const tf_ledger_opts *o, int ops)
{
	tf_ledger *l;
	char err[256];

	if (tf_ledger_open(o, &l, err, sizeof(err)) < 0) {
		printf("%-6s skipped: %s\n", name, err);
		return;
	}
	measure(name, l, ops / 10, 1); /* warm-up: scopes created, scripts loaded */
	measure(name, l, ops, 1);
	measure(name, l, ops, THREADS_MAX);
	tf_ledger_close(l);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static pid_t start_redis(const char *dir, int port)
{
	char p[8];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--dir", dir,
		       "--save", "", "--appendonly", "no", "--logfile", "/dev/null", (char *)NULL);
		_exit(127);
	}
	/* Ready when it accepts a connection. */
	for (int i = 0; i < 100; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

int main(int argc, char **argv)
{
	int ops = 100000, opt;
	const char *redis = NULL;
	char dir[] = "/tmp/tf-bench-ledger-XXXXXX", path[96], local[96], spec[64], cmd[96];
	pid_t srv = -1;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			ops = atoi(optarg);
		else if (opt == 'r')
			redis = optarg;
		else {
			fprintf(stderr, "usage: bench-ledger [-n OPS] [-r redis://host:port/db]\n");
			return 2;
		}
	}
	if (ops < THREADS_MAX * 10 || !mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/ledger", dir);
	snprintf(local, sizeof(local), "%s/redis-local", dir);
	tf_ledger_opts fo = { .spec = path };
	bench("file", &fo, ops);

	if (!redis) {
		int port = free_port();
		srv = start_redis(dir, port);
		snprintf(spec, sizeof(spec), "redis://127.0.0.1:%d/0", port);
		redis = srv > 0 ? spec : NULL;
	}
	if (redis) {
		tf_ledger_opts ro = { .spec = redis, .local_path = local, .timeout_ms = 2000 };
		bench("redis", &ro, ops);
	} else {
		printf("redis  skipped: no redis-server\n");
	}
	if (srv > 0) {
		kill(srv, SIGTERM);
		waitpid(srv, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
