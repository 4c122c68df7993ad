#include "harness.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USD(x) ((tf_money)((x) * (double)TF_MONEY_PER_USD))
#define MAX_HELD 4

const char *const h_shared_scope[H_SHARED_SCOPES] = { "wf", "team", "dept", "org" };

void h_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

uint64_t h_rand(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

int64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Caps are chosen (for 8 x 4 x 2000 ops, ~106 USD if nothing bound) so that
 * different scopes bind late in a run and at different moments: some
 * process scopes, team's request count, dept's cost.
 */
void stress_chain(tf_scope_def c[5], const char *proc_scope)
{
	tf_scope_def_init(&c[0], proc_scope);
	c[0].max_cost = USD(13);
	c[0].owner_pid = getpid();
	tf_scope_def_init(&c[1], "wf");
	c[1].max_cost = USD(100);
	tf_scope_def_init(&c[2], "team");
	c[2].max_cost = USD(95);
	c[2].max_requests = 14000;
	c[2].warn_ppm[0] = 500000;
	c[2].warn_ppm[1] = 900000;
	tf_scope_def_init(&c[3], "dept");
	c[3].max_cost = USD(90);
	tf_scope_def_init(&c[4], "org");
	c[4].warn_ppm[0] = 100000;
}

tf_ledger *h_open(const struct stress_cfg *c, int machine, const char *local_name)
{
	char local[256], err[256];
	tf_ledger_opts o = { .spec = c->spec,
			     .fail_mode = c->mode,
			     .lease_s = c->lease_s,
			     .retry_ms = c->retry_ms,
			     .timeout_ms = c->timeout_ms };
	tf_ledger *l = NULL;

	if (c->local_dir) {
		if (local_name)
			snprintf(local, sizeof(local), "%s/%s", c->local_dir, local_name);
		else
			snprintf(local, sizeof(local), "%s/m%d.ledger", c->local_dir, machine);
		o.local_path = local;
	}
	int r = tf_ledger_open(&o, &l, err, sizeof(err));
	if (r < 0)
		h_die("open %s: %d %s", c->spec, r, err);
	return l;
}

/* ---- shared memory between controller, workers and observer ------------- */

struct wstats {
	int64_t ops, reserved, denied, unavailable, local, settled, released, queued, errors;
	tf_money settled_sum;
	int64_t settled_requests;
};

struct shm {
	_Atomic int stop;
	_Atomic int64_t samples, violations;
	char violation[256];
	struct wstats w[H_MAX_MACHINES][H_MAX_PROCS][H_MAX_THREADS];
	int own_fail[H_MAX_MACHINES][H_MAX_PROCS];
};

struct held {
	tf_ledger_res res;
	int counts;
};

struct thread_arg {
	const struct stress_cfg *c;
	tf_ledger *l;
	const tf_scope_def *chain;
	struct wstats *st;
	uint64_t seed;
};

static void finish_one(struct thread_arg *a, struct held *h, int settle, uint64_t *rs)
{
	struct wstats *st = a->st;
	int r;

	if (settle) {
		tf_money actual = (tf_money)(h_rand(rs) % (uint64_t)(h->res.amount + 1));
		tf_budget_events ev;
		r = tf_ledger_settle(a->l, &h->res, actual, 0, &ev);
		if (r == 0 || r == TF_LEDGER_QUEUED) {
			st->settled++;
			st->settled_sum += actual;
			st->settled_requests += h->counts;
			st->queued += r == TF_LEDGER_QUEUED;
			return;
		}
	} else {
		r = tf_ledger_release(a->l, &h->res);
		if (r == 0 || r == TF_LEDGER_QUEUED) {
			st->released++;
			st->queued += r == TF_LEDGER_QUEUED;
			return;
		}
	}
	st->errors++;
	fprintf(stderr, "worker %d: %s: %d %s\n", getpid(), settle ? "settle" : "release", r,
		tf_ledger_strerror(r));
}

static void *worker_thread(void *p)
{
	struct thread_arg *a = p;
	struct wstats *st = a->st;
	struct held held[MAX_HELD];
	int nheld = 0;
	uint64_t rs = a->seed | 1;

	for (int op = 0; op < a->c->ops; op++) {
		uint64_t x = h_rand(&rs);
		st->ops++;
		if (nheld == 0 || (nheld < MAX_HELD && (x & 1))) {
			tf_money worst = 1 + (tf_money)(h_rand(&rs) % 20000000000ull);
			int counts = (x >> 8) % 4 != 0;
			tf_budget_denial why;
			struct held *h = &held[nheld];
			int r = tf_ledger_reserve(a->l, a->chain, 5, worst,
						  counts ? TF_LEDGER_COUNT_REQUEST : 0, &h->res, &why);
			if (r == 0) {
				h->counts = counts;
				nheld++;
				st->reserved++;
				st->local += (h->res.flags & TF_LEDGER_RES_LOCAL) != 0;
			} else if (r == TF_LEDGER_DENIED) {
				st->denied++;
			} else {
				st->unavailable++;
				/* An agent whose call was refused does not retry at once. */
				h_sleep_ms(5);
			}
			continue;
		}
		int i = (int)((x >> 16) % (uint64_t)nheld);
		finish_one(a, &held[i], (x >> 24) % 10 < 7, &rs);
		held[i] = held[--nheld];
	}
	while (nheld > 0)
		finish_one(a, &held[--nheld], 1, &rs);
	return NULL;
}

static void run_worker(const struct stress_cfg *c, struct shm *m, int mach, int proc)
{
	pthread_t th[H_MAX_THREADS];
	struct thread_arg a[H_MAX_THREADS];
	tf_scope_def chain[5];
	char own[TF_SCOPE_NAME_MAX];

	snprintf(own, sizeof(own), "p-%d-%d-%d", mach, proc, getpid());
	stress_chain(chain, own);
	tf_ledger *l = h_open(c, mach, NULL);
	for (int t = 0; t < c->threads; t++) {
		a[t] = (struct thread_arg){ c, l, chain, &m->w[mach][proc][t],
					    c->seed ^ ((uint64_t)(mach * 1000 + proc * 10 + t + 1) *
						       0x9E3779B97F4A7C15ull) };
		if (pthread_create(&th[t], NULL, worker_thread, &a[t]) != 0)
			_exit(3);
	}
	for (int t = 0; t < c->threads; t++)
		pthread_join(th[t], NULL);
	/* This process's own scope holds exactly what its threads settled. */
	tf_money own_sum = 0;
	for (int t = 0; t < c->threads; t++)
		own_sum += m->w[mach][proc][t].settled_sum;
	if (c->local_dir)
		tf_ledger_sync(l);
	tf_scope_state s;
	int r = tf_ledger_totals(l, own, &s);
	/* With Redis down at the end, the own-scope check is done by the final sync instead. */
	if (r == 0 && (s.spent != own_sum || s.reserved != 0) && c->mode == TF_FAIL_CLOSED &&
	    !c->outage) {
		m->own_fail[mach][proc] = 1;
		fprintf(stderr, "own scope %s: spent %lld expected %lld reserved %lld\n", own,
			(long long)s.spent, (long long)own_sum, (long long)s.reserved);
	}
	tf_ledger_close(l);
	_exit(0);
}

static void run_observer(const struct stress_cfg *c, struct shm *m)
{
	tf_ledger *l = h_open(c, 0, "observer.ledger");

	while (!atomic_load(&m->stop)) {
		for (int i = 0; i < H_SHARED_SCOPES; i++) {
			tf_scope_state s;
			if (tf_ledger_totals(l, h_shared_scope[i], &s) < 0)
				continue;
			atomic_fetch_add(&m->samples, 1);
			int bad = (s.def.max_cost >= 0 && s.spent + s.reserved > s.def.max_cost) ||
				  (s.def.max_requests >= 0 &&
				   s.requests + s.reserved_requests > s.def.max_requests);
			if (bad && atomic_fetch_add(&m->violations, 1) == 0)
				snprintf(m->violation, sizeof(m->violation),
					 "%s: spent %lld + reserved %lld > max %lld (requests %lld+%lld/%lld)",
					 s.def.name, (long long)s.spent, (long long)s.reserved,
					 (long long)s.def.max_cost, (long long)s.requests,
					 (long long)s.reserved_requests, (long long)s.def.max_requests);
		}
		usleep(200);
	}
	tf_ledger_close(l);
	_exit(0);
}

int stress_run(const struct stress_cfg *c, struct stress_totals *t)
{
	struct shm *m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t obs, pids[H_MAX_MACHINES * H_MAX_PROCS];
	int n = 0, bad = 0;

	if (m == MAP_FAILED)
		h_die("mmap");
	memset(t, 0, sizeof(*t));
	fflush(NULL);
	obs = fork();
	if (obs == 0)
		run_observer(c, m);
	for (int mach = 0; mach < c->machines; mach++)
		for (int p = 0; p < c->procs; p++) {
			pid_t pid = fork();
			if (pid == 0)
				run_worker(c, m, mach, p);
			pids[n++] = pid;
		}
	if (c->outage) {
		h_sleep_ms(c->outage_after_ms);
		c->outage(c->outage_ctx);
	}
	for (int i = 0; i < n; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "worker %d ended with status %#x\n", pids[i], st);
			bad = 1;
		}
	}
	atomic_store(&m->stop, 1);
	waitpid(obs, NULL, 0);
	for (int mach = 0; mach < c->machines; mach++)
		for (int p = 0; p < c->procs; p++) {
			t->own_scope_failures += m->own_fail[mach][p];
			for (int th = 0; th < c->threads; th++) {
				const struct wstats *w = &m->w[mach][p][th];
				t->ops += w->ops;
				t->reserved += w->reserved;
				t->denied += w->denied;
				t->unavailable += w->unavailable;
				t->local += w->local;
				t->settled += w->settled;
				t->released += w->released;
				t->queued += w->queued;
				t->errors += w->errors;
				t->settled_sum += w->settled_sum;
				t->settled_requests += w->settled_requests;
			}
		}
	t->samples = atomic_load(&m->samples);
	t->violations = atomic_load(&m->violations);
	memcpy(t->violation, m->violation, sizeof(t->violation));
	munmap(m, sizeof(*m));
	return bad ? -1 : 0;
}

/* ---- redis-server --------------------------------------------------------- */

int redis_available(void)
{
	const char *path = getenv("PATH");
	char buf[512];

	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/redis-server", (int)len, p);
		if (access(buf, X_OK) == 0)
			return 1;
		p += len + (e ? 1 : 0);
	}
	return 0;
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

static int ping(int port)
{
	struct timeval tv = { 0, 200000 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	int ok = 0;

	if (c && !c->err) {
		redisReply *r = redisCommand(c, "PING");
		ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
		if (r)
			freeReplyObject(r);
	}
	if (c)
		redisFree(c);
	return ok;
}

int redis_start(struct redis_srv *s)
{
	/* A restart keeps its port: clients know only that one. */
	int keep = s->port != 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		char port[8], log[200];

		if (!keep)
			s->port = free_port();
		snprintf(port, sizeof(port), "%d", s->port);
		snprintf(log, sizeof(log), "%s/redis.log", s->dir);
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			/* Never outlive the test driver, whatever happens to it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
			       "--dir", s->dir, "--save", "", "--appendonly", "yes", "--appendfsync",
			       "everysec", "--maxmemory-policy", "noeviction", "--logfile", log,
			       "--daemonize", "no", (char *)NULL);
			_exit(127);
		}
		s->pid = pid;
		for (int i = 0; i < 100; i++) {
			if (ping(s->port))
				return 0;
			if (waitpid(pid, NULL, WNOHANG) == pid)
				break;
			h_sleep_ms(50);
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		s->pid = 0;
		h_sleep_ms(200);
	}
	return -1;
}

void redis_stop(struct redis_srv *s)
{
	if (s->pid <= 0)
		return;
	/* SIGTERM: Redis flushes its append-only file and exits. */
	kill(s->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		h_sleep_ms(25);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static redisContext *admin(const struct redis_srv *s)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);

	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

int redis_flushall(const struct redis_srv *s)
{
	redisContext *c = admin(s);
	redisReply *r;

	if (!c)
		return -1;
	r = redisCommand(c, "FLUSHALL");
	int ok = r && r->type == REDIS_REPLY_STATUS;
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok ? 0 : -1;
}

/* Sums amt/req of every hash matching pattern, per shared scope. */
static void sum_keys(redisContext *c, const char *pattern, tf_money amt[H_SHARED_SCOPES],
		     int64_t req[H_SHARED_SCOPES], int *count)
{
	redisReply *keys = redisCommand(c, "KEYS %s", pattern);

	for (size_t i = 0; keys && i < keys->elements; i++) {
		redisReply *h = redisCommand(c, "HGETALL %s", keys->element[i]->str);
		tf_money a = 0;
		int64_t q = 0;
		(*count)++;
		for (size_t j = 0; h && j + 1 < h->elements; j += 2)
			if (!strcmp(h->element[j]->str, "amt"))
				a = strtoll(h->element[j + 1]->str, NULL, 10);
			else if (!strcmp(h->element[j]->str, "req"))
				q = strtoll(h->element[j + 1]->str, NULL, 10);
		for (size_t j = 0; h && j + 1 < h->elements; j += 2) {
			/* s1..sn name the scopes (w1..wn are windows of a tombstone). */
			if (h->element[j]->str[0] != 's')
				continue;
			for (int k = 0; k < H_SHARED_SCOPES; k++)
				if (!strcmp(h->element[j + 1]->str, h_shared_scope[k])) {
					amt[k] += a;
					req[k] += q;
				}
		}
		if (h)
			freeReplyObject(h);
	}
	if (keys)
		freeReplyObject(keys);
}

int redis_leftovers(const struct redis_srv *s, struct redis_left *out)
{
	redisContext *c = admin(s);

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	sum_keys(c, "tf:r:*", out->live, out->live_req, &out->nlive);
	sum_keys(c, "tf:t:*", out->charged, out->charged_req, &out->ncharged);
	redisFree(c);
	return 0;
}
