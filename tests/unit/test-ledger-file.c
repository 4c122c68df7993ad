/*
 * The file ledger: persistence, format checks, permissions, crash recovery
 * (dead lock holders, dead reservation owners, reused pids), table limits,
 * fork and windows. Crash cases fake the dead process's half-done work
 * through file-format.h, so they are deterministic.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger/file-format.h"
#include "ledger/ledger.h"

#define USD(x) ((tf_money)((x) * (double)TF_MONEY_PER_USD))

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tf-ledger-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ledger", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(ledger_file, .init = setup, .fini = teardown, .timeout = 60);

static tf_ledger *open_at(const char *p)
{
	tf_ledger_opts o = { .spec = p };
	tf_ledger *l = NULL;
	char err[256];
	int r = tf_ledger_open(&o, &l, err, sizeof(err));

	cr_assert_eq(r, 0, "open %s: %d %s", p, r, err);
	return l;
}

static tf_scope_def def(const char *name, tf_money max_cost, int64_t max_requests)
{
	tf_scope_def d;

	cr_assert_eq(tf_scope_def_init(&d, name), 0);
	d.max_cost = max_cost;
	d.max_requests = max_requests;
	return d;
}

static tf_scope_state totals(tf_ledger *l, const char *scope)
{
	tf_scope_state s;

	cr_assert_eq(tf_ledger_totals(l, scope, &s), 0, "%s", scope);
	return s;
}

static tf_ledger_info info(tf_ledger *l)
{
	tf_ledger_info i;

	cr_assert_eq(tf_ledger_info_get(l, &i), 0);
	return i;
}

static int wait_child(pid_t pid)
{
	int st = 0;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

/* Maps the raw file, for faking what a dead process left behind. */
static struct tf_lf_header *map_raw(size_t *size)
{
	int fd = open(path, O_RDWR);
	struct stat st;

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	close(fd);
	*size = (size_t)st.st_size;
	return m;
}

static tf_scope_state *raw_scopes(struct tf_lf_header *h)
{
	return (tf_scope_state *)((uint8_t *)h + h->scopes_off);
}

static struct tf_lf_res *raw_res(struct tf_lf_header *h)
{
	return (struct tf_lf_res *)((uint8_t *)h + h->res_off);
}

Test(ledger_file, survives_a_restart_of_every_process)
{
	tf_scope_def c[2] = { def("wf", USD(100), -1), def("dept", -1, -1) };

	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			tf_ledger *l = open_at(path);
			for (int i = 0; i < 25; i++) {
				tf_ledger_res r;
				if (tf_ledger_reserve(l, c, 2, 1000 + p, TF_LEDGER_COUNT_REQUEST, &r, NULL) ||
				    tf_ledger_settle(l, &r, 777 + p, 0, NULL))
					_exit(1);
			}
			tf_ledger_close(l);
			_exit(0);
		}
		cr_assert_eq(wait_child(pid), 0);
	}
	/* None of the writers is alive; a new process sees everything. */
	for (int round = 0; round < 2; round++) {
		tf_ledger *l = open_at(path);
		tf_scope_state s = totals(l, "wf");
		cr_expect_eq(s.spent, 25 * (777 + 778 + 779 + 780));
		cr_expect_eq(s.requests, 100);
		cr_expect_eq(s.reserved, 0);
		cr_expect_eq(s.def.max_cost, USD(100), "limits are kept for display");
		cr_expect_eq(totals(l, "dept").spent, s.spent);
		tf_ledger_close(l);
	}
}

Test(ledger_file, processes_creating_the_file_at_once_share_one_ledger)
{
	tf_scope_def c = def("s", -1, -1);

	for (int iter = 0; iter < 20; iter++) {
		char p[160];
		int gate[2];
		pid_t pids[6];

		snprintf(p, sizeof(p), "%s/race-%d", dir, iter);
		cr_assert_eq(pipe(gate), 0);
		for (int k = 0; k < 6; k++) {
			pids[k] = fork();
			if (pids[k] == 0) {
				char b;
				close(gate[1]);
				/* All released at once: they race to create the file. */
				if (read(gate[0], &b, 1) != 0)
					_exit(3);
				tf_ledger *l = open_at(p);
				for (int i = 0; i < 30; i++) {
					tf_ledger_res r;
					if (tf_ledger_reserve(l, &c, 1, 10, 0, &r, NULL) ||
					    tf_ledger_settle(l, &r, 7, 0, NULL))
						_exit(1);
				}
				_exit(0);
			}
		}
		close(gate[0]);
		close(gate[1]);
		for (int k = 0; k < 6; k++)
			cr_assert_eq(wait_child(pids[k]), 0);
		tf_ledger *l = open_at(p);
		cr_assert_eq(totals(l, "s").spent, 6 * 30 * 7, "iteration %d", iter);
		tf_ledger_close(l);
	}
}

Test(ledger_file, version_mismatch_is_refused_with_a_clear_message)
{
	tf_ledger_close(open_at(path));
	int fd = open(path, O_RDWR);
	uint32_t v = 2;
	cr_assert_eq(pwrite(fd, &v, sizeof(v), offsetof(struct tf_lf_header, version)), 4);

	tf_ledger_opts o = { .spec = path };
	tf_ledger *l = NULL;
	char err[256];
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EPROTO);
	cr_expect(strstr(err, "format version 2") && strstr(err, "reads version 1"), "%s", err);
	cr_expect_null(l);

	v = TF_LF_VERSION;
	cr_assert_eq(pwrite(fd, &v, sizeof(v), offsetof(struct tf_lf_header, version)), 4);
	uint32_t wrong = 12;
	cr_assert_eq(pwrite(fd, &wrong, 4, offsetof(struct tf_lf_header, scope_size)), 4);
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EPROTO);
	cr_expect(strstr(err, "different layout"), "%s", err);

	cr_assert_eq(pwrite(fd, "NOTLEDGR", 8, 0), 8);
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "not a TokenFence ledger"), "%s", err);
	close(fd);
}

Test(ledger_file, truncated_file_is_refused)
{
	tf_ledger_close(open_at(path));
	cr_assert_eq(truncate(path, 20000), 0);
	tf_ledger_opts o = { .spec = path };
	tf_ledger *l = NULL;
	char err[256];
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EBADMSG);
	cr_expect(strstr(err, "truncated"), "%s", err);
}

Test(ledger_file, interrupted_creation_starts_afresh)
{
	/* A creator killed before writing the magic leaves zeros behind. */
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	close(fd);
	tf_ledger *l = open_at(path);
	tf_scope_def c = def("x", -1, -1);
	tf_ledger_res r;
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 5, 0, &r, NULL), 0);
	tf_ledger_close(l);
}

Test(ledger_file, default_location_is_private)
{
	struct stat st;
	char p[160];

	setenv("XDG_RUNTIME_DIR", dir, 1);
	tf_ledger *l = open_at(NULL);
	tf_ledger_info i = info(l);
	snprintf(p, sizeof(p), "%s/tokenfence/ledger", dir);
	cr_expect_str_eq(i.where, p);
	cr_expect_str_eq(i.backend, "file");
	cr_expect_eq(i.max_scopes, TF_LF_MAX_SCOPES);
	cr_expect_eq(i.max_reservations, TF_LF_MAX_RES);
	tf_ledger_close(l);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600);
	snprintf(p, sizeof(p), "%s/tokenfence", dir);
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);

	/* Someone else's (or a shared) directory or file is refused. */
	tf_ledger_opts o = { 0 };
	char err[256];
	cr_assert_eq(chmod(p, 0755), 0);
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EACCES);
	cr_expect(strstr(err, "0700"), "%s", err);
	cr_assert_eq(chmod(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/tokenfence/ledger", dir);
	cr_assert_eq(chmod(p, 0644), 0);
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EACCES);
	cr_expect(strstr(err, "0600"), "%s", err);
	o.spec = "memcached://x";
	cr_expect_eq(tf_ledger_open(&o, &l, err, sizeof(err)), -EINVAL);
}

/* Does what an update does up to the point the holder "dies", then exits holding the lock. */
static void die_mid_update(int use_sigkill)
{
	size_t size;
	struct tf_lf_header *h = map_raw(&size);
	tf_scope_state *s = raw_scopes(h);

	if (pthread_mutex_lock(&h->lock) != 0)
		_exit(2);
	h->j.nscopes = 0;
	h->j.res_slot = TF_LF_NONE;
	h->j.outbox_slot = TF_LF_NONE;
	h->j.counters = h->c;
	__atomic_store_n(&h->j.valid, 1, __ATOMIC_RELEASE);
	h->j.scope_idx[0] = 0;
	h->j.scope[0] = s[0];
	__atomic_store_n(&h->j.nscopes, 1, __ATOMIC_RELEASE);
	/* Half an update: spent changed, reserved not yet. */
	s[0].spent += USD(1000);
	h->c.nres += 7;
	if (use_sigkill)
		raise(SIGKILL);
	_exit(0);
}

static void holder_dies(int use_sigkill)
{
	tf_ledger *l = open_at(path);
	tf_scope_def c = def("s", USD(10), -1);
	tf_ledger_res r;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, USD(1), 0, &r, NULL), 0);
	cr_assert_eq(tf_ledger_settle(l, &r, USD(0.5), 0, NULL), 0);
	cr_assert_eq(tf_ledger_reserve(l, &c, 1, USD(2), 0, &r, NULL), 0);
	tf_scope_state before = totals(l, "s");

	pid_t pid = fork();
	if (pid == 0)
		die_mid_update(use_sigkill);
	wait_child(pid);

	/* The next locker rolls the half update back and carries on. */
	tf_scope_state after = totals(l, "s");
	cr_expect_eq(after.spent, before.spent);
	cr_expect_eq(after.reserved, before.reserved);
	tf_ledger_info i = info(l);
	cr_expect_eq(i.lock_recoveries, 1);
	cr_expect_eq(i.reservations, 1);
	cr_expect_eq(tf_ledger_settle(l, &r, USD(2), 0, NULL), 0);
	cr_expect_eq(totals(l, "s").spent, USD(2.5));
	tf_ledger_close(l);
}

Test(ledger_file, lock_holder_exiting_mid_update_is_rolled_back)
{
	holder_dies(0);
}

Test(ledger_file, lock_holder_killed_mid_update_is_rolled_back)
{
	holder_dies(1);
}

Test(ledger_file, dead_owner_reservation_is_charged_at_its_amount)
{
	tf_scope_def c = def("s", USD(1), 10);
	pid_t pid = fork();

	if (pid == 0) {
		tf_ledger *l = open_at(path);
		tf_ledger_res r;
		if (tf_ledger_reserve(l, &c, 1, USD(0.3), TF_LEDGER_COUNT_REQUEST, &r, NULL))
			_exit(1);
		raise(SIGKILL);
	}
	wait_child(pid);
	tf_ledger *l = open_at(path); /* opening reclaims */
	tf_scope_state s = totals(l, "s");
	cr_expect_eq(s.spent, USD(0.3));
	cr_expect_eq(s.reserved, 0);
	cr_expect_eq(s.requests, 1);
	cr_expect_eq(s.reserved_requests, 0);
	cr_expect_eq(s.reclaimed, USD(0.3));
	cr_expect_eq(s.reclaimed_count, 1);
	cr_expect_eq(info(l).reclaimed, 1);
	cr_expect_eq(info(l).reservations, 0);
	tf_ledger_close(l);
}

Test(ledger_file, zombie_owner_is_dead)
{
	tf_scope_def c = def("s", -1, -1);
	tf_ledger *l = open_at(path);
	pid_t pid = fork();

	if (pid == 0) {
		tf_ledger_atfork_child(l);
		tf_ledger_res r;
		_exit(tf_ledger_reserve(l, &c, 1, 42, 0, &r, NULL) ? 1 : 0);
	}
	/* Not reaped: the owner is a zombie, which settles nothing ever again. */
	for (int i = 0; i < 200; i++) {
		char stp[64], buf[256];
		snprintf(stp, sizeof(stp), "/proc/%d/stat", pid);
		FILE *f = fopen(stp, "r");
		cr_assert_not_null(f);
		cr_assert_not_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		if (strstr(buf, ") Z "))
			break;
		usleep(5000);
	}
	cr_expect_eq(tf_ledger_sync(l), 0);
	cr_expect_eq(totals(l, "s").spent, 42);
	cr_expect_eq(info(l).reclaimed, 1);
	wait_child(pid);
	tf_ledger_close(l);
}

Test(ledger_file, reused_pid_is_not_the_owner)
{
	tf_scope_def c = def("s", -1, -1);
	tf_ledger *l = open_at(path);
	tf_ledger_res mine, other;
	size_t size;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 11, 0, &mine, NULL), 0);
	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 5, 0, &other, NULL), 0);
	/* Same pid as ours, but another start time: an earlier process whose pid we got. */
	struct tf_lf_header *h = map_raw(&size);
	raw_res(h)[other.slot].start -= 1;
	cr_expect_eq(tf_ledger_sync(l), 0);
	tf_scope_state s = totals(l, "s");
	cr_expect_eq(s.spent, 5);
	cr_expect_eq(s.reserved, 11);
	cr_expect_eq(tf_ledger_settle(l, &other, 1, 0, NULL), -ENOENT, "already charged");
	cr_expect_eq(tf_ledger_settle(l, &mine, 10, 0, NULL), 0);
	cr_expect_eq(totals(l, "s").spent, 15);
	munmap(h, size);
	tf_ledger_close(l);
}

Test(ledger_file, new_boot_resets_the_lock_and_charges_everything_in_flight)
{
	tf_scope_def c = def("s", -1, -1);
	tf_ledger *l = open_at(path);
	tf_ledger_res r;
	size_t size;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 99, 0, &r, NULL), 0);
	tf_ledger_close(l);
	struct tf_lf_header *h = map_raw(&size);
	memcpy(h->boot_id, "previous-boot", 14);
	/* A lock held by a thread of a previous boot would never be released. */
	memset(&h->lock, 0xff, sizeof(h->lock));
	munmap(h, size);
	l = open_at(path);
	cr_expect_eq(totals(l, "s").spent, 99);
	cr_expect_eq(totals(l, "s").reserved, 0);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL), 0);
	tf_ledger_close(l);
}

Test(ledger_file, settle_rules)
{
	tf_scope_def c = def("s", 100, -1);
	tf_ledger *l = open_at(path);
	tf_ledger_res r, bogus;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 50, 0, &r, NULL), 0);
	cr_expect_eq(tf_ledger_settle(l, &r, 51, 0, NULL), -ERANGE);
	cr_expect_eq(tf_ledger_settle(l, &r, 60, TF_LEDGER_SETTLE_OVER, NULL), 0);
	cr_expect_eq(tf_ledger_settle(l, &r, 60, 0, NULL), -ENOENT, "twice");
	cr_expect_eq(tf_ledger_release(l, &r), -ENOENT);
	bogus = r;
	bogus.slot = TF_LF_MAX_RES + 1;
	cr_expect_eq(tf_ledger_settle(l, &bogus, 1, 0, NULL), -EINVAL);
	cr_expect_eq(tf_ledger_totals(l, "nope", &(tf_scope_state){ 0 }), -ENOENT);
	cr_expect_eq(totals(l, "s").spent, 60);
	tf_ledger_close(l);
}

Test(ledger_file, reservation_table_full_then_room_from_the_dead)
{
	tf_scope_def c = def("s", -1, -1);
	pid_t pid = fork();

	if (pid == 0) {
		tf_ledger *l = open_at(path);
		tf_ledger_res r;
		for (unsigned i = 0; i < TF_LF_MAX_RES; i++)
			if (tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL))
				_exit(1);
		_exit(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL) == -ENOSPC ? 0 : 2);
	}
	cr_assert_eq(wait_child(pid), 0, "the table holds exactly %u", TF_LF_MAX_RES);
	/* Opening charges what the dead child held; a live owner's full table stays full. */
	tf_ledger *l = open_at(path);
	cr_expect_eq(totals(l, "s").spent, TF_LF_MAX_RES);
	cr_expect_eq(info(l).reservations, 0);
	tf_ledger_res r;
	for (unsigned i = 0; i < TF_LF_MAX_RES; i++)
		cr_assert_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL), 0);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL), -ENOSPC);
	cr_expect_eq(tf_ledger_release(l, &r), 0);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL), 0);
	tf_ledger_close(l);
}

Test(ledger_file, reserve_finds_room_left_by_the_dead)
{
	tf_scope_def c = def("s", -1, -1);
	tf_ledger *l = open_at(path);
	pid_t pid = fork();

	if (pid == 0) {
		tf_ledger_atfork_child(l);
		tf_ledger_res r;
		for (unsigned i = 0; i < TF_LF_MAX_RES; i++)
			if (tf_ledger_reserve(l, &c, 1, 2, 0, &r, NULL))
				_exit(1);
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_expect_eq(info(l).reservations, TF_LF_MAX_RES);
	tf_ledger_res r;
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, NULL), 0);
	cr_expect_eq(info(l).reservations, 1);
	cr_expect_eq(totals(l, "s").spent, 2 * TF_LF_MAX_RES);
	tf_ledger_close(l);
}

Test(ledger_file, scope_table_recycles_scopes_of_dead_owners_only)
{
	tf_ledger *l = open_at(path);
	tf_scope_def d = def("dept", USD(5), -1);
	pid_t pid = fork();

	if (pid == 0) {
		tf_ledger_atfork_child(l);
		for (unsigned i = 0; i < TF_LF_MAX_SCOPES - 1; i++) {
			char name[32];
			tf_scope_def c[2];
			tf_ledger_res r;
			snprintf(name, sizeof(name), "proc-%u", i);
			c[0] = def(name, -1, -1);
			c[0].owner_pid = getpid();
			c[1] = d;
			if (tf_ledger_reserve(l, c, 2, 3, 0, &r, NULL) || tf_ledger_settle(l, &r, 3, 0, NULL))
				_exit(1);
		}
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_expect_eq(info(l).scopes, TF_LF_MAX_SCOPES);
	tf_scope_def c[2] = { def("newcomer", -1, -1), d };
	tf_ledger_res r;
	cr_expect_eq(tf_ledger_reserve(l, c, 2, 1, 0, &r, NULL), 0);
	cr_expect_eq(tf_ledger_settle(l, &r, 1, 0, NULL), 0);
	/* The department (persistent) kept every charge. */
	cr_expect_eq(totals(l, "dept").spent, 3 * (TF_LF_MAX_SCOPES - 1) + 1);
	cr_expect_eq(tf_ledger_totals(l, "proc-0", &(tf_scope_state){ 0 }), -ENOENT);

	/* Persistent scopes are never recycled. */
	for (unsigned i = 0;; i++) {
		char name[32];
		snprintf(name, sizeof(name), "keep-%u", i);
		tf_scope_def k = def(name, -1, -1);
		int x = tf_ledger_reserve(l, &k, 1, 0, 0, &r, NULL);
		if (x == -ENOSPC)
			break;
		cr_assert_eq(x, 0);
		cr_assert_eq(tf_ledger_release(l, &r), 0);
		cr_assert_lt(i, TF_LF_MAX_SCOPES);
	}
	cr_expect_eq(totals(l, "dept").spent, 3 * (TF_LF_MAX_SCOPES - 1) + 1);
	tf_ledger_close(l);
}

Test(ledger_file, forked_child_owns_its_reservations)
{
	tf_scope_def c = def("s", -1, -1);
	tf_ledger *l = open_at(path);
	tf_ledger_res mine;

	cr_assert_eq(tf_ledger_reserve(l, &c, 1, 10, 0, &mine, NULL), 0);
	pid_t pid = fork();
	if (pid == 0) {
		tf_ledger_atfork_child(l);
		tf_ledger_res r;
		_exit(tf_ledger_reserve(l, &c, 1, 20, 0, &r, NULL) ? 1 : 0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_expect_eq(tf_ledger_sync(l), 0);
	tf_scope_state s = totals(l, "s");
	cr_expect_eq(s.spent, 20, "the child's reservation died with it");
	cr_expect_eq(s.reserved, 10, "ours is still ours");
	cr_expect_eq(tf_ledger_settle(l, &mine, 4, 0, NULL), 0);
	tf_ledger_close(l);
}

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

Test(ledger_file, windows_roll_over_with_an_injected_clock)
{
	tf_ledger_opts o = { .spec = path, .clock = fake_clock };
	tf_ledger *l;
	tf_scope_def c = def("monthly", USD(1), -1);
	tf_ledger_res r;
	tf_budget_denial why;

	c.window = TF_WINDOW_MONTH;
	fake_now = INT64_C(1706745599); /* 2024-01-31 23:59:59 UTC */
	cr_assert_eq(tf_ledger_open(&o, &l, NULL, 0), 0);
	cr_assert_eq(tf_ledger_reserve(l, &c, 1, USD(1), 0, &r, NULL), 0);
	cr_assert_eq(tf_ledger_settle(l, &r, USD(1), 0, NULL), 0);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, 1, 0, &r, &why), TF_LEDGER_DENIED);
	fake_now++;
	tf_scope_state s = totals(l, "monthly");
	cr_expect_eq(s.spent, 0, "status shows the new window before any call");
	cr_expect_eq(s.previous.spent, USD(1));
	cr_expect_eq(s.window_start, fake_now);
	cr_expect_eq(tf_ledger_reserve(l, &c, 1, USD(1), 0, &r, NULL), 0);
	tf_ledger_close(l);
}

Test(ledger_file, kill_resume_list_and_warnings)
{
	tf_ledger *l = open_at(path);
	tf_scope_def c[2] = { def("team", 100, -1), def("org", -1, -1) };
	tf_ledger_res r;
	tf_budget_denial why;
	tf_budget_events ev;
	tf_scope_state all[4];

	c[0].warn_ppm[0] = 500000;
	cr_expect_eq(tf_ledger_kill(l, "org"), 0);
	cr_expect_eq(tf_ledger_reserve(l, c, 2, 1, 0, &r, &why), TF_LEDGER_DENIED);
	cr_expect_eq(why.reason, TF_BUDGET_REASON_KILLED);
	cr_expect_str_eq(why.scope, "org");
	cr_expect_eq(tf_ledger_resume(l, "org"), 0);
	cr_assert_eq(tf_ledger_reserve(l, c, 2, 60, 0, &r, NULL), 0);
	cr_assert_eq(tf_ledger_settle(l, &r, 55, 0, &ev), 0);
	cr_expect_eq(ev.n, 1);
	cr_expect_str_eq(ev.warn[0].scope, "team");
	cr_assert_eq(tf_ledger_reserve(l, c, 2, 1, 0, &r, NULL), 0);
	cr_assert_eq(tf_ledger_settle(l, &r, 1, 0, &ev), 0);
	cr_expect_eq(ev.n, 0, "once per window");
	/* Killing a scope nobody used yet creates it, so the kill applies to its first call. */
	cr_expect_eq(tf_ledger_kill(l, "later"), 0);
	cr_expect_eq(tf_ledger_list(l, all, 4), 3);
	cr_expect_eq(tf_ledger_list(l, all, 1), 3);
	cr_expect_eq(tf_ledger_kill(l, "bad name"), -EINVAL);
	tf_ledger_close(l);
}

struct thr {
	tf_ledger *l;
	tf_money sum;
};

static void *hammer(void *p)
{
	struct thr *t = p;
	tf_scope_def c[2] = { def("a", -1, -1), def("b", -1, -1) };

	for (int i = 0; i < 2000; i++) {
		tf_ledger_res r;
		if (tf_ledger_reserve(t->l, c, 2, 1000 + i, 0, &r, NULL) != 0)
			return NULL;
		if (tf_ledger_settle(t->l, &r, i, 0, NULL) != 0)
			return NULL;
		t->sum += i;
	}
	return p;
}

Test(ledger_file, one_handle_many_threads)
{
	tf_ledger *l = open_at(path);
	pthread_t th[8];
	struct thr t[8];
	tf_money sum = 0;

	for (int i = 0; i < 8; i++) {
		t[i] = (struct thr){ l, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, hammer, &t[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *ok;
		pthread_join(th[i], &ok);
		cr_expect_not_null(ok);
		sum += t[i].sum;
	}
	cr_expect_eq(totals(l, "a").spent, sum);
	cr_expect_eq(totals(l, "b").spent, sum);
	cr_expect_eq(totals(l, "a").reserved, 0);
	tf_ledger_close(l);
}
