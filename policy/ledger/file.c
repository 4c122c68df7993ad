/*
 * The file ledger: one fixed-size file (file-format.h) mapped MAP_SHARED by
 * every process that uses it, updated under a lock that lives in the
 * mapping.
 *
 * Lock choice: a robust, process-shared, error-checking pthread mutex.
 * - It excludes threads and processes alike; fcntl/OFD locks are per process
 *   or per open file description, so threads sharing a handle would still
 *   need a second, process-local lock (which a fork can leave held).
 * - An uncontended lock/unlock is two atomic operations, no system call;
 *   the shim takes it twice per LLM call from inside SSL_write.
 * - When a holder dies (kill -9 mid-update) the kernel marks the mutex and
 *   the next locker gets EOWNERDEAD: an explicit signal to roll the
 *   half-done update back from the undo journal before going on. An fcntl
 *   lock would be dropped silently and we would need the journal anyway.
 * - Waits are bounded (pthread_mutex_clocklock), so a holder stopped by a
 *   debugger or SIGSTOP costs a timeout, not a hang; relocking from the same
 *   thread (a signal handler re-entering) fails with EDEADLK.
 * The mutex state is meaningless in another boot (a futex owned by a thread
 * of a previous boot would never be released), so the header records the
 * boot id and the first opener in a new boot re-initialises the lock, under
 * flock(2), which every opener takes around validation and initialisation.
 * Owners are identified by pid + start time, which assumes every process
 * sharing one file sees the same pid namespace (use Redis across containers).
 *
 * Durability: the mapping is not msync'ed per operation. On tmpfs (the
 * default, $XDG_RUNTIME_DIR) state lasts until reboot or logout; on a disk
 * path it survives process restarts, and the page cache reaches disk when
 * the kernel writes it back.
 */
#include "ledger/backend.h"
#include "ledger/file-format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LOCK_TIMEOUT_MS 2000
/* A reserve refused for budget reclaims dead owners at most this often. */
#define RECLAIM_THROTTLE_MS 100
/* Reservations examined per lock hold while reclaiming. */
#define RECLAIM_BATCH 256
#define NAME_CACHE 64

struct file_ledger {
	struct tf_ledger base;
	int fd;
	uint8_t *map;
	size_t size;
	struct tf_lf_header *h;
	tf_scope_state *scopes;
	struct tf_lf_scope_ext *ext;
	struct tf_lf_res *res;
	struct tf_lf_outbox *outbox;
	uint32_t nscopes_cap;
	int lock_timeout_ms;
	tf_ledger_clock clock;
	void *clock_ctx;
	char path[PATH_MAX];
	/* Who "we" are: refreshed when getpid() changes (fork). start is
	 * stored before pid, so a reader that sees the right pid sees its start. */
	_Atomic uint64_t self_start;
	_Atomic int32_t self_pid;
	_Atomic int64_t last_reclaim_ms;
	/* name hash -> scope index + 1; checked against the table under the lock. */
	_Atomic uint32_t name_cache[NAME_CACHE];
};

static const struct tf_ledger_ops file_ops;

static struct file_ledger *F(tf_ledger *l)
{
	return (struct file_ledger *)l;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- process identity ------------------------------------------------ */

/*
 * Reads state and start time (field 22, clock ticks since boot) from
 * /proc/<pid>/stat. The command name may contain spaces and parentheses,
 * so fields are counted after its last ')'.
 */
static int proc_stat(pid_t pid, uint64_t *start, char *state)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EBADMSG;
	p += 2;
	*state = *p;
	/* p is field 3; skip to field 22. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EBADMSG;
		p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EBADMSG;
	*start = v;
	return 0;
}

/*
 * 1 if (pid, start) is a running process, 0 if it is gone, its pid reused,
 * or a zombie. start 0 means the owner could not read its own start time:
 * only the pid can be checked then, and a live pid counts as the owner
 * (keeping a reservation until its pid is gone is the conservative side).
 */
static int owner_alive(int32_t pid, uint64_t start)
{
	uint64_t s = 0;
	char st = 0;
	int r;

	if (pid <= 0)
		return 0;
	r = proc_stat(pid, &s, &st);
	if (r == -ENOENT || r == -ESRCH)
		return 0;
	if (r < 0)
		/* Unreadable /proc (fd limit, hidepid): fall back on kill(0). */
		return !(kill(pid, 0) < 0 && errno == ESRCH);
	if (st == 'Z' || st == 'X')
		return 0;
	return start == 0 || s == start;
}

static void self_ident(struct file_ledger *f, int32_t *pid, uint64_t *start)
{
	int32_t now = (int32_t)getpid();

	if (atomic_load(&f->self_pid) != now) {
		uint64_t s = 0;
		char st;

		/* A failed read (the host at its fd limit) is not cached: start
		 * 0 makes others check our pid only, and the next call retries. */
		if (proc_stat(now, &s, &st) < 0) {
			*pid = now;
			*start = 0;
			return;
		}
		atomic_store(&f->self_start, s);
		atomic_store(&f->self_pid, now);
	}
	*pid = now;
	*start = atomic_load(&f->self_start);
}

/* ---- lock and journal ------------------------------------------------ */

static void journal_rollback(struct file_ledger *f)
{
	struct tf_lf_journal *j = &f->h->j;

	if (!atomic_load_explicit((_Atomic uint32_t *)&j->valid, memory_order_acquire))
		return;
	for (uint32_t i = 0; i < j->nscopes && i < TF_BUDGET_CHAIN_MAX; i++) {
		uint32_t k = j->scope_idx[i];
		if (k < f->nscopes_cap) {
			f->scopes[k] = j->scope[i];
			f->ext[k] = j->ext[i];
		}
	}
	if (j->res_slot < TF_LF_MAX_RES)
		f->res[j->res_slot] = j->res;
	if (j->outbox_slot < TF_LF_MAX_OUTBOX)
		f->outbox[j->outbox_slot] = j->outbox;
	f->h->c = j->counters;
	atomic_store_explicit((_Atomic uint32_t *)&j->valid, 0, memory_order_release);
}

static int lf_lock(struct file_ledger *f)
{
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += f->lock_timeout_ms / 1000;
	ts.tv_nsec += (long)(f->lock_timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	r = pthread_mutex_clocklock(&f->h->lock, CLOCK_MONOTONIC, &ts);
	if (r == EOWNERDEAD) {
		journal_rollback(f);
		f->h->lock_recoveries++;
		pthread_mutex_consistent(&f->h->lock);
		r = 0;
	}
	return -r;
}

static void lf_unlock(struct file_ledger *f)
{
	pthread_mutex_unlock(&f->h->lock);
}

static void j_begin(struct file_ledger *f)
{
	struct tf_lf_journal *j = &f->h->j;

	j->nscopes = 0;
	j->res_slot = TF_LF_NONE;
	j->outbox_slot = TF_LF_NONE;
	j->counters = f->h->c;
	atomic_store_explicit((_Atomic uint32_t *)&j->valid, 1, memory_order_release);
}

static void j_scope(struct file_ledger *f, uint32_t k)
{
	struct tf_lf_journal *j = &f->h->j;

	for (uint32_t i = 0; i < j->nscopes; i++)
		if (j->scope_idx[i] == k)
			return;
	/* Callers touch at most one chain; more would be a bug, not data. */
	if (j->nscopes >= TF_BUDGET_CHAIN_MAX)
		return;
	j->scope_idx[j->nscopes] = k;
	j->scope[j->nscopes] = f->scopes[k];
	j->ext[j->nscopes] = f->ext[k];
	atomic_store_explicit((_Atomic uint32_t *)&j->nscopes, j->nscopes + 1, memory_order_release);
}

static void j_res(struct file_ledger *f, uint32_t slot)
{
	struct tf_lf_journal *j = &f->h->j;

	j->res = f->res[slot];
	atomic_store_explicit((_Atomic uint32_t *)&j->res_slot, slot, memory_order_release);
}

static void j_outbox(struct file_ledger *f, uint32_t slot)
{
	struct tf_lf_journal *j = &f->h->j;

	j->outbox = f->outbox[slot];
	atomic_store_explicit((_Atomic uint32_t *)&j->outbox_slot, slot, memory_order_release);
}

static void j_end(struct file_ledger *f)
{
	atomic_store_explicit((_Atomic uint32_t *)&f->h->j.valid, 0, memory_order_release);
}

static void j_hold(struct file_ledger *f, const tf_budget_hold *hold)
{
	for (int i = 0; i < hold->nscopes && i < TF_BUDGET_CHAIN_MAX; i++)
		if (hold->scope[i] < f->h->c.nscopes)
			j_scope(f, hold->scope[i]);
}

static tf_budget_table table(struct file_ledger *f)
{
	tf_budget_table t = { .scopes = f->scopes, .n = &f->h->c.nscopes, .cap = f->nscopes_cap };

	return t;
}

static int64_t now_s(struct file_ledger *f)
{
	return tf_ledger_now(f->clock, f->clock_ctx);
}

static void fallback_touched(struct file_ledger *f)
{
	if (f->h->flags & TF_LF_FLAG_FALLBACK)
		atomic_store((_Atomic uint32_t *)&f->h->sync_hint, 1);
}

/* ---- reclaiming what the dead left behind ------------------------------ */

struct owner_ref {
	uint32_t slot;
	int32_t pid;
	uint64_t id;
	uint64_t start;
};

/* Charges one reservation of a dead owner; the caller holds the lock. */
static void reclaim_slot_locked(struct file_ledger *f, uint32_t slot, int64_t now)
{
	struct tf_lf_res *r = &f->res[slot];
	tf_budget_table t = table(f);

	j_begin(f);
	j_hold(f, &r->hold);
	j_res(f, slot);
	if (tf_budget_reclaim(&t, &r->hold, now, NULL) == 0)
		f->h->c.reclaimed++;
	memset(r, 0, sizeof(*r));
	f->h->c.nres--;
	j_end(f);
	fallback_touched(f);
}

/*
 * Charges reservations whose owner is gone. Owners are examined outside the
 * lock (reading /proc is I/O); a slot is charged only if it still holds the
 * same reservation once the lock is taken again.
 */
static int reclaim_dead(struct file_ledger *f)
{
	struct owner_ref refs[RECLAIM_BATCH];
	uint8_t dead[RECLAIM_BATCH];
	int32_t self_pid;
	uint64_t self_start;
	int charged = 0, r;

	self_ident(f, &self_pid, &self_start);
	atomic_store(&f->last_reclaim_ms, mono_ms());
	for (uint32_t base = 0; base < TF_LF_MAX_RES;) {
		uint32_t n = 0;

		if ((r = lf_lock(f)) < 0)
			return r;
		for (; base < TF_LF_MAX_RES && n < RECLAIM_BATCH; base++) {
			const struct tf_lf_res *x = &f->res[base];
			if (x->id == 0 || (x->pid == self_pid && x->start == self_start))
				continue;
			refs[n++] = (struct owner_ref){ base, x->pid, x->id, x->start };
		}
		lf_unlock(f);
		if (n == 0)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = 0;
			/* Many reservations share few owners: reuse earlier verdicts. */
			while (k < i && (refs[k].pid != refs[i].pid || refs[k].start != refs[i].start))
				k++;
			dead[i] = k < i ? dead[k] : !owner_alive(refs[i].pid, refs[i].start);
		}
		if ((r = lf_lock(f)) < 0)
			return r;
		int64_t now = now_s(f);
		for (uint32_t i = 0; i < n; i++) {
			const struct tf_lf_res *x = &f->res[refs[i].slot];
			if (!dead[i] || x->id != refs[i].id || x->pid != refs[i].pid)
				continue;
			reclaim_slot_locked(f, refs[i].slot, now);
			charged++;
		}
		lf_unlock(f);
	}
	return charged;
}

/* ---- scopes ----------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int find_locked(struct file_ledger *f, const char *name)
{
	_Atomic uint32_t *c = &f->name_cache[name_hash(name) % NAME_CACHE];
	uint32_t hint = atomic_load_explicit(c, memory_order_relaxed);
	tf_budget_table t = table(f);
	int k;

	if (hint && hint - 1 < f->h->c.nscopes &&
	    strncmp(f->scopes[hint - 1].def.name, name, TF_SCOPE_NAME_MAX) == 0)
		return (int)(hint - 1);
	k = tf_budget_find(&t, name);
	if (k >= 0)
		atomic_store_explicit(c, (uint32_t)k + 1, memory_order_relaxed);
	return k;
}

/*
 * Start time of an ephemeral scope's owner. Needed only when the scope is
 * created, so the rare /proc read for another process (a workflow's
 * `tokenfence run`) happens under the lock rather than on every call.
 */
static uint64_t owner_start_of(struct file_ledger *f, int32_t pid)
{
	int32_t self_pid;
	uint64_t self_start, s = 0;
	char st;

	if (pid <= 0)
		return 0;
	self_ident(f, &self_pid, &self_start);
	if (pid == self_pid)
		return self_start;
	if (proc_stat(pid, &s, &st) < 0)
		return 0;
	return s;
}

/* tf_budget_bind with every touched entry journaled first. */
static int bind_locked(struct file_ledger *f, const tf_scope_def *defs, size_t n, int64_t now,
		       uint16_t *idx)
{
	struct tf_lf_counters *c = &f->h->c;

	for (size_t i = 0; i < n; i++) {
		int k = find_locked(f, defs[i].name);
		if (k < 0) {
			uint32_t s = 0;
			while (s < c->nscopes && f->scopes[s].def.name[0])
				s++;
			if (s >= f->nscopes_cap)
				return -ENOSPC;
			j_scope(f, s);
			tf_budget_scope_init(&f->scopes[s], &defs[i], now);
			memset(&f->ext[s], 0, sizeof(f->ext[s]));
			f->ext[s].owner_start = owner_start_of(f, defs[i].owner_pid);
			if (s == c->nscopes)
				c->nscopes++;
			k = (int)s;
		}
		j_scope(f, (uint32_t)k);
		idx[i] = (uint16_t)k;
	}
	return 0;
}

static int recyclable(const struct file_ledger *f, uint32_t k)
{
	const tf_scope_state *s = &f->scopes[k];
	const struct tf_lf_scope_ext *e = &f->ext[k];

	if (!s->def.name[0] || s->def.owner_pid <= 0 || s->reserved || s->reserved_requests ||
	    e->sync_seq || s->killed)
		return 0;
	/* A fallback file's spend is owed to Redis until reconciled. */
	if ((f->h->flags & TF_LF_FLAG_FALLBACK) && (s->spent || s->requests))
		return 0;
	return 1;
}

static int referenced(const struct file_ledger *f, uint32_t k)
{
	for (uint32_t i = 0; i < TF_LF_MAX_RES; i++) {
		const struct tf_lf_res *r = &f->res[i];
		if (!r->id)
			continue;
		for (int j = 0; j < r->hold.nscopes && j < TF_BUDGET_CHAIN_MAX; j++)
			if (r->hold.scope[j] == k)
				return 1;
	}
	return 0;
}

/* Frees process/workflow scopes whose owner is gone; returns how many. */
static int recycle_scopes(struct file_ledger *f)
{
	struct owner_ref refs[RECLAIM_BATCH];
	uint32_t n = 0;
	int freed = 0, r;

	if ((r = lf_lock(f)) < 0)
		return r;
	for (uint32_t k = 0; k < f->h->c.nscopes && n < RECLAIM_BATCH; k++)
		if (recyclable(f, k))
			refs[n++] = (struct owner_ref){ k, f->scopes[k].def.owner_pid, 0,
							f->ext[k].owner_start };
	lf_unlock(f);
	for (uint32_t i = 0; i < n; i++)
		if (owner_alive(refs[i].pid, refs[i].start))
			refs[i].slot = TF_LF_NONE;
	if ((r = lf_lock(f)) < 0)
		return r;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = refs[i].slot;
		if (k == TF_LF_NONE || !recyclable(f, k) || f->scopes[k].def.owner_pid != refs[i].pid ||
		    f->ext[k].owner_start != refs[i].start || referenced(f, k))
			continue;
		j_begin(f);
		j_scope(f, k);
		memset(&f->scopes[k], 0, sizeof(f->scopes[k]));
		memset(&f->ext[k], 0, sizeof(f->ext[k]));
		j_end(f);
		freed++;
	}
	lf_unlock(f);
	return freed;
}

/* ---- operations ------------------------------------------------------- */

static uint32_t free_res_slot(struct file_ledger *f)
{
	uint32_t start = f->h->res_hint % TF_LF_MAX_RES;

	if (f->h->c.nres >= TF_LF_MAX_RES)
		return TF_LF_NONE;
	for (uint32_t i = 0; i < TF_LF_MAX_RES; i++) {
		uint32_t s = (start + i) % TF_LF_MAX_RES;
		if (f->res[s].id == 0) {
			f->h->res_hint = s + 1;
			return s;
		}
	}
	return TF_LF_NONE;
}

int tf_file_reserve_ext(tf_ledger *l, const tf_scope_def *chain, size_t n,
			const tf_money *external, tf_money worst, unsigned flags,
			tf_ledger_res *res, tf_budget_denial *why)
{
	struct file_ledger *f = F(l);
	uint16_t idx[TF_BUDGET_CHAIN_MAX];
	int32_t self_pid;
	uint64_t self_start;
	int r;

	if (tf_budget_chain_validate(chain, n) < 0 || worst < 0 || !res)
		return -EINVAL;
	self_ident(f, &self_pid, &self_start);
	for (int attempt = 0;; attempt++) {
		tf_budget_table t = table(f);
		tf_budget_hold hold;
		uint32_t slot;

		if ((r = lf_lock(f)) < 0)
			return r;
		int64_t now = now_s(f);
		j_begin(f);
		r = bind_locked(f, chain, n, now, idx);
		slot = r < 0 ? TF_LF_NONE : free_res_slot(f);
		if (slot == TF_LF_NONE) {
			j_end(f);
			lf_unlock(f);
			if (r == 0)
				r = -ENOSPC;
			if (attempt > 0 || r != -ENOSPC)
				return r;
			/* Out of room: what the dead hold is the first to go. */
			if (recycle_scopes(f) <= 0 && reclaim_dead(f) <= 0)
				return -ENOSPC;
			continue;
		}
		j_res(f, slot);
		for (size_t i = 0; i < n; i++)
			/* A scope whose owner changed is bounded by the new owner's life. */
			if (f->scopes[idx[i]].def.owner_pid != chain[i].owner_pid)
				f->ext[idx[i]].owner_start = owner_start_of(f, chain[i].owner_pid);
		r = tf_budget_reserve(&t, idx, chain, n, external, worst, flags, now, &hold, why);
		if (r == 0) {
			struct tf_lf_res *x = &f->res[slot];
			x->id = ++f->h->c.next_id;
			x->pid = self_pid;
			x->start = self_start;
			x->created = now;
			x->hold = hold;
			f->h->c.nres++;
			res->id = x->id;
			res->slot = slot;
			res->flags = 0;
			res->amount = worst;
		}
		j_end(f);
		lf_unlock(f);
		/*
		 * Charging a dead owner's reservation moves it from reserved to
		 * spent and so cannot change this answer; it only keeps the
		 * table honest, so it is rate-limited.
		 */
		if (r == TF_BUDGET_DENIED &&
		    mono_ms() - atomic_load(&f->last_reclaim_ms) >= RECLAIM_THROTTLE_MS)
			reclaim_dead(f);
		return r;
	}
}

static int lf_reserve(tf_ledger *l, const tf_scope_def *chain, size_t n, tf_money worst,
		      unsigned flags, tf_ledger_res *res, tf_budget_denial *why)
{
	return tf_file_reserve_ext(l, chain, n, NULL, worst, flags, res, why);
}

/* Settles (actual >= 0) or releases (actual < 0) a reservation. */
static int finish(struct file_ledger *f, const tf_ledger_res *res, tf_money actual,
		  unsigned flags, tf_budget_events *ev)
{
	tf_budget_table t = table(f);
	int r;

	if (!res || res->slot >= TF_LF_MAX_RES || res->id == 0)
		return -EINVAL;
	if ((r = lf_lock(f)) < 0)
		return r;
	struct tf_lf_res *x = &f->res[res->slot];
	if (x->id != res->id) {
		lf_unlock(f);
		return -ENOENT;
	}
	int64_t now = now_s(f);
	j_begin(f);
	j_hold(f, &x->hold);
	j_res(f, res->slot);
	if (actual >= 0)
		r = tf_budget_settle(&t, &x->hold, actual, flags, now, ev);
	else
		r = tf_budget_release(&t, &x->hold, now);
	if (r == 0) {
		memset(x, 0, sizeof(*x));
		f->h->c.nres--;
	}
	j_end(f);
	lf_unlock(f);
	if (r == 0 && actual > 0)
		fallback_touched(f);
	return r;
}

static int lf_settle(tf_ledger *l, const tf_ledger_res *res, tf_money actual, unsigned flags,
		     tf_budget_events *ev)
{
	if (actual < 0)
		return -EINVAL;
	return finish(F(l), res, actual, flags, ev);
}

static int lf_release(tf_ledger *l, const tf_ledger_res *res)
{
	return finish(F(l), res, -1, 0, NULL);
}

static int lf_totals(tf_ledger *l, const char *scope, tf_scope_state *out)
{
	struct file_ledger *f = F(l);
	int k, r;

	if (!tf_scope_name_valid(scope) || !out)
		return -EINVAL;
	if ((r = lf_lock(f)) < 0)
		return r;
	k = find_locked(f, scope);
	if (k >= 0)
		*out = f->scopes[k];
	lf_unlock(f);
	if (k < 0)
		return -ENOENT;
	/* Show the current window even if nothing touched the scope since it began. */
	tf_budget_roll(out, now_s(f));
	return 0;
}

static int lf_list(tf_ledger *l, tf_scope_state *out, size_t cap)
{
	struct file_ledger *f = F(l);
	size_t n = 0;
	int r;

	if ((r = lf_lock(f)) < 0)
		return r;
	for (uint32_t k = 0; k < f->h->c.nscopes; k++) {
		if (!f->scopes[k].def.name[0])
			continue;
		if (n < cap)
			out[n] = f->scopes[k];
		n++;
	}
	lf_unlock(f);
	int64_t now = now_s(f);
	for (size_t i = 0; i < n && i < cap; i++)
		tf_budget_roll(&out[i], now);
	return (int)n;
}

static int lf_kill(tf_ledger *l, const char *scope, int killed)
{
	struct file_ledger *f = F(l);
	tf_scope_def d;
	uint16_t idx;
	int r;

	if (tf_scope_def_init(&d, scope) < 0)
		return -EINVAL;
	if ((r = lf_lock(f)) < 0)
		return r;
	j_begin(f);
	r = bind_locked(f, &d, 1, now_s(f), &idx);
	if (r == 0)
		tf_budget_kill(&f->scopes[idx], killed);
	j_end(f);
	lf_unlock(f);
	return r;
}

static uint32_t pending_locked(const struct file_ledger *f)
{
	uint32_t n = f->h->c.noutbox;

	if (!(f->h->flags & TF_LF_FLAG_FALLBACK))
		return n;
	for (uint32_t k = 0; k < f->h->c.nscopes; k++)
		if (f->ext[k].sync_seq || f->scopes[k].spent || f->scopes[k].requests)
			n++;
	return n;
}

static int lf_sync(tf_ledger *l)
{
	struct file_ledger *f = F(l);
	int r = reclaim_dead(f);

	if (r < 0)
		return r;
	if ((r = lf_lock(f)) < 0)
		return r;
	r = (int)pending_locked(f);
	lf_unlock(f);
	return r;
}

static int lf_info(tf_ledger *l, tf_ledger_info *out)
{
	struct file_ledger *f = F(l);
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(out->backend, sizeof(out->backend), "file");
	/* A longer path is shown truncated; it is for display only. */
	size_t plen = strnlen(f->path, sizeof(out->where) - 1);
	memcpy(out->where, f->path, plen);
	if ((r = lf_lock(f)) < 0)
		return r;
	out->max_scopes = f->nscopes_cap;
	out->max_reservations = TF_LF_MAX_RES;
	for (uint32_t k = 0; k < f->h->c.nscopes; k++)
		out->scopes += f->scopes[k].def.name[0] != 0;
	out->reservations = f->h->c.nres;
	out->lock_recoveries = f->h->lock_recoveries;
	out->reclaimed = f->h->c.reclaimed;
	out->pending = pending_locked(f);
	lf_unlock(f);
	out->connected = 1;
	return 0;
}

/* ---- the Redis backend's outbox and reconciliation --------------------- */

int tf_file_outbox_put(tf_ledger *l, uint32_t op, uint64_t remote_id, tf_money actual,
		       uint32_t flags)
{
	struct file_ledger *f = F(l);
	uint32_t slot = TF_LF_NONE;
	int r;

	if ((r = lf_lock(f)) < 0)
		return r;
	for (uint32_t i = 0; i < TF_LF_MAX_OUTBOX && slot == TF_LF_NONE; i++)
		if (f->outbox[i].seq == 0)
			slot = i;
	if (slot == TF_LF_NONE) {
		lf_unlock(f);
		return -ENOSPC;
	}
	j_begin(f);
	j_outbox(f, slot);
	f->outbox[slot] = (struct tf_lf_outbox){ ++f->h->c.next_seq, remote_id, actual, op, flags };
	f->h->c.noutbox++;
	j_end(f);
	lf_unlock(f);
	tf_file_sync_hint_set(l);
	return 0;
}

int tf_file_outbox_peek(tf_ledger *l, tf_outbox_entry *out, size_t cap)
{
	struct file_ledger *f = F(l);
	size_t n = 0;
	int r;

	if ((r = lf_lock(f)) < 0)
		return r;
	for (uint32_t i = 0; i < TF_LF_MAX_OUTBOX && n < cap; i++) {
		const struct tf_lf_outbox *o = &f->outbox[i];
		if (o->seq)
			out[n++] = (tf_outbox_entry){ .slot = i, .op = o->op, .seq = o->seq,
						      .remote_id = o->remote_id, .actual = o->actual,
						      .flags = o->flags };
	}
	lf_unlock(f);
	return (int)n;
}

int tf_file_outbox_drop(tf_ledger *l, const tf_outbox_entry *e)
{
	struct file_ledger *f = F(l);
	int r;

	if (e->slot >= TF_LF_MAX_OUTBOX)
		return -EINVAL;
	if ((r = lf_lock(f)) < 0)
		return r;
	if (f->outbox[e->slot].seq == e->seq) {
		j_begin(f);
		j_outbox(f, e->slot);
		memset(&f->outbox[e->slot], 0, sizeof(f->outbox[e->slot]));
		f->h->c.noutbox--;
		j_end(f);
	}
	lf_unlock(f);
	return 0;
}

static void batch_of(const struct file_ledger *f, uint32_t k, tf_sync_batch *b)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->scope, f->scopes[k].def.name, sizeof(b->scope));
	b->idx = k;
	b->instance = f->h->instance;
	b->seq = f->ext[k].sync_seq;
	b->cost = f->ext[k].sync_cost;
	b->requests = f->ext[k].sync_requests;
}

int tf_file_sync_take(tf_ledger *l, tf_sync_batch *b)
{
	struct file_ledger *f = F(l);
	uint32_t k, found = TF_LF_NONE;
	int r;

	if ((r = lf_lock(f)) < 0)
		return r;
	/* A batch already in flight goes first, with its original id. */
	for (k = 0; k < f->h->c.nscopes && found == TF_LF_NONE; k++)
		if (f->scopes[k].def.name[0] && f->ext[k].sync_seq)
			found = k;
	for (k = 0; k < f->h->c.nscopes && found == TF_LF_NONE; k++) {
		tf_scope_state *s = &f->scopes[k];
		if (!s->def.name[0] || (!s->spent && !s->requests))
			continue;
		j_begin(f);
		j_scope(f, k);
		f->ext[k].sync_seq = ++f->h->c.next_seq;
		f->ext[k].sync_cost = s->spent;
		f->ext[k].sync_requests = s->requests;
		s->spent = 0;
		s->requests = 0;
		j_end(f);
		found = k;
	}
	if (found != TF_LF_NONE)
		batch_of(f, found, b);
	lf_unlock(f);
	return found != TF_LF_NONE;
}

int tf_file_sync_done(tf_ledger *l, const tf_sync_batch *b)
{
	struct file_ledger *f = F(l);
	int r;

	if ((r = lf_lock(f)) < 0)
		return r;
	if (b->idx < f->h->c.nscopes && f->ext[b->idx].sync_seq == b->seq &&
	    strncmp(f->scopes[b->idx].def.name, b->scope, TF_SCOPE_NAME_MAX) == 0) {
		j_begin(f);
		j_scope(f, b->idx);
		f->ext[b->idx].sync_seq = 0;
		f->ext[b->idx].sync_cost = 0;
		f->ext[b->idx].sync_requests = 0;
		j_end(f);
	}
	lf_unlock(f);
	return 0;
}

int tf_file_sync_hint_take(tf_ledger *l)
{
	return (int)atomic_exchange((_Atomic uint32_t *)&F(l)->h->sync_hint, 0);
}

void tf_file_sync_hint_set(tf_ledger *l)
{
	atomic_store((_Atomic uint32_t *)&F(l)->h->sync_hint, 1);
}

/* ---- open / close ----------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void layout(struct tf_lf_header *h)
{
	h->header_size = TF_LF_HEADER_SIZE;
	h->scope_size = sizeof(tf_scope_state);
	h->ext_size = sizeof(struct tf_lf_scope_ext);
	h->res_size = sizeof(struct tf_lf_res);
	h->outbox_size = sizeof(struct tf_lf_outbox);
	h->mutex_size = sizeof(pthread_mutex_t);
	h->journal_size = sizeof(struct tf_lf_journal);
	h->max_scopes = TF_LF_MAX_SCOPES;
	h->max_res = TF_LF_MAX_RES;
	h->max_outbox = TF_LF_MAX_OUTBOX;
	h->scopes_off = TF_LF_HEADER_SIZE;
	h->ext_off = h->scopes_off + (uint64_t)TF_LF_MAX_SCOPES * sizeof(tf_scope_state);
	h->res_off = h->ext_off + (uint64_t)TF_LF_MAX_SCOPES * sizeof(struct tf_lf_scope_ext);
	h->outbox_off = h->res_off + (uint64_t)TF_LF_MAX_RES * sizeof(struct tf_lf_res);
	h->file_size = h->outbox_off + (uint64_t)TF_LF_MAX_OUTBOX * sizeof(struct tf_lf_outbox);
}

/* 1 if the file's layout is the one this build writes. */
static int same_layout(const struct tf_lf_header *h)
{
	struct tf_lf_header want;

	memset(&want, 0, sizeof(want));
	layout(&want);
	return h->header_size == want.header_size && h->scope_size == want.scope_size &&
	       h->ext_size == want.ext_size && h->res_size == want.res_size &&
	       h->outbox_size == want.outbox_size && h->mutex_size == want.mutex_size &&
	       h->journal_size == want.journal_size && h->max_scopes == want.max_scopes &&
	       h->max_res == want.max_res && h->max_outbox == want.max_outbox &&
	       h->scopes_off == want.scopes_off && h->ext_off == want.ext_off &&
	       h->res_off == want.res_off && h->outbox_off == want.outbox_off &&
	       h->file_size == want.file_size;
}

static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int r;

	if ((r = pthread_mutexattr_init(&a)) != 0)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!r)
		r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	if (!r)
		r = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -r;
}

static void read_boot_id(char out[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	memset(out, 0, 40);
	if (fd >= 0) {
		n = read(fd, out, 39);
		close(fd);
	}
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = 0;
}

static int flock_timed(int fd, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static int map_file(struct file_ledger *f, size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);

	if (m == MAP_FAILED)
		return -errno;
	f->map = m;
	f->size = size;
	f->h = m;
	return 0;
}

/* Points into the mapping once its header holds the (validated) layout. */
static void set_pointers(struct file_ledger *f)
{
	f->scopes = (tf_scope_state *)(f->map + f->h->scopes_off);
	f->ext = (struct tf_lf_scope_ext *)(f->map + f->h->ext_off);
	f->res = (struct tf_lf_res *)(f->map + f->h->res_off);
	f->outbox = (struct tf_lf_outbox *)(f->map + f->h->outbox_off);
	f->nscopes_cap = TF_LF_MAX_SCOPES;
}

/* Writes a fresh ledger into the (empty or never-finished) file; flock held. */
static int create_file(struct file_ledger *f, unsigned flags, char *err, size_t errlen)
{
	struct tf_lf_header h;
	int r;

	memset(&h, 0, sizeof(h));
	layout(&h);
	if (ftruncate(f->fd, 0) < 0 || ftruncate(f->fd, (off_t)h.file_size) < 0) {
		r = -errno;
		set_err(err, errlen, "cannot size ledger %s: %s", f->path, strerror(-r));
		return r;
	}
	if ((r = map_file(f, h.file_size)) < 0) {
		set_err(err, errlen, "cannot map ledger %s: %s", f->path, strerror(-r));
		return r;
	}
	/* Copy the layout in, but not the magic: that goes last. */
	memcpy((uint8_t *)f->h + TF_LF_MAGIC_LEN + 4, (uint8_t *)&h + TF_LF_MAGIC_LEN + 4,
	       offsetof(struct tf_lf_header, lock) - TF_LF_MAGIC_LEN - 4);
	set_pointers(f);
	if (getrandom(&f->h->instance, sizeof(f->h->instance), GRND_NONBLOCK) !=
	    sizeof(f->h->instance))
		f->h->instance = ((uint64_t)getpid() << 32) ^ (uint64_t)mono_ms() ^ (uint64_t)time(NULL);
	f->h->flags = (flags & TF_FILE_FALLBACK) ? TF_LF_FLAG_FALLBACK : 0;
	read_boot_id(f->h->boot_id);
	if ((r = init_lock(&f->h->lock)) < 0) {
		set_err(err, errlen, "cannot initialise ledger lock: %s", strerror(-r));
		return r;
	}
	f->h->c.next_id = 0;
	f->h->version = TF_LF_VERSION;
	/* Whoever checks the magic does so under the same flock we hold, so
	 * the header is complete by the time anyone can see it. */
	memcpy(f->h->magic, TF_LF_MAGIC, TF_LF_MAGIC_LEN);
	return 0;
}

/* Validates an existing file; on success it is mapped. flock held. */
static int attach_file(struct file_ledger *f, off_t fsize, char *err, size_t errlen)
{
	struct tf_lf_header h;
	ssize_t n = pread(f->fd, &h, sizeof(h), 0);
	int r;

	if (n < (ssize_t)(TF_LF_MAGIC_LEN + 8) || memcmp(h.magic, TF_LF_MAGIC, TF_LF_MAGIC_LEN) != 0) {
		set_err(err, errlen, "%s is not a TokenFence ledger (bad magic)", f->path);
		return -EBADMSG;
	}
	if (h.version != TF_LF_VERSION) {
		set_err(err, errlen,
			"ledger %s has format version %u; this build reads version %u "
			"(use a matching tokenfence, or move the file away to start afresh)",
			f->path, h.version, TF_LF_VERSION);
		return -EPROTO;
	}
	if (n < (ssize_t)sizeof(h) || !same_layout(&h)) {
		set_err(err, errlen,
			"ledger %s (version %u) was written with a different layout "
			"(another architecture or build); refusing to misread it",
			f->path, h.version);
		return -EPROTO;
	}
	if ((uint64_t)fsize < h.file_size) {
		set_err(err, errlen, "ledger %s is truncated (%lld of %llu bytes)", f->path,
			(long long)fsize, (unsigned long long)h.file_size);
		return -EBADMSG;
	}
	if ((r = map_file(f, h.file_size)) < 0) {
		set_err(err, errlen, "cannot map ledger %s: %s", f->path, strerror(-r));
		return r;
	}
	set_pointers(f);
	return 0;
}

/*
 * First open in a new boot: no holder of the lock or owner of a
 * reservation can still be running, whatever pids say. flock held.
 */
static int new_boot(struct file_ledger *f, const char *boot, char *err, size_t errlen)
{
	int r;

	journal_rollback(f);
	if ((r = init_lock(&f->h->lock)) < 0) {
		set_err(err, errlen, "cannot initialise ledger lock: %s", strerror(-r));
		return r;
	}
	if ((r = lf_lock(f)) < 0)
		return r;
	int64_t now = now_s(f);
	for (uint32_t s = 0; s < TF_LF_MAX_RES; s++)
		if (f->res[s].id)
			reclaim_slot_locked(f, s, now);
	lf_unlock(f);
	memcpy(f->h->boot_id, boot, sizeof(f->h->boot_id));
	return 0;
}

static int ensure_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int tf_file_ledger_open(const char *path, const tf_ledger_opts *o, unsigned flags,
			tf_ledger **out, char *err, size_t errlen)
{
	struct file_ledger *f;
	struct stat st;
	char boot[40];
	int r;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->base.ops = &file_ops;
	f->fd = -1;
	f->lock_timeout_ms = (o && o->lock_timeout_ms > 0) ? o->lock_timeout_ms : DEFAULT_LOCK_TIMEOUT_MS;
	f->clock = o ? o->clock : NULL;
	f->clock_ctx = o ? o->clock_ctx : NULL;
	if (!path || !*path) {
		char dir[PATH_MAX - 16];
		if ((r = tf_ledger_default_dir(dir, sizeof(dir), err, errlen)) < 0)
			goto fail;
		snprintf(f->path, sizeof(f->path), "%s/ledger", dir);
	} else if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path)) {
		r = -ENAMETOOLONG;
		set_err(err, errlen, "ledger path too long");
		goto fail;
	}
	if ((r = ensure_parent_dir(f->path)) < 0) {
		set_err(err, errlen, "cannot create the directory of ledger %s: %s", f->path,
			strerror(-r));
		goto fail;
	}
	f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f->fd < 0) {
		r = -errno;
		set_err(err, errlen, "cannot open ledger %s: %s", f->path, strerror(-r));
		goto fail;
	}
	f->fd = tf_ledger_fd_high(f->fd);
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EBADMSG;
		set_err(err, errlen, "ledger %s is not a regular file", f->path);
		goto fail;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		r = -EACCES;
		set_err(err, errlen,
			"ledger %s must belong to uid %u with mode 0600 (it is uid %u, mode %03o)",
			f->path, (unsigned)geteuid(), (unsigned)st.st_uid,
			(unsigned)(st.st_mode & 0777));
		goto fail;
	}
	if ((r = flock_timed(f->fd, f->lock_timeout_ms)) < 0) {
		set_err(err, errlen, "cannot lock ledger %s for opening: %s", f->path, strerror(-r));
		goto fail;
	}
	/* The size seen before the flock may predate another opener's creation. */
	if (fstat(f->fd, &st) < 0) {
		r = -errno;
		flock(f->fd, LOCK_UN);
		goto fail;
	}
	char head[TF_LF_MAGIC_LEN] = { 0 };
	ssize_t got = st.st_size ? pread(f->fd, head, sizeof(head), 0) : 0;
	static const char zero[TF_LF_MAGIC_LEN];
	/* Empty, or an all-zero magic: a creation that never finished. */
	if (got <= 0 || (got == (ssize_t)sizeof(head) && memcmp(head, zero, sizeof(zero)) == 0))
		r = create_file(f, flags, err, errlen);
	else
		r = attach_file(f, st.st_size, err, errlen);
	if (r == 0) {
		read_boot_id(boot);
		if (strncmp(boot, f->h->boot_id, sizeof(boot)) != 0)
			r = new_boot(f, boot, err, errlen);
		if (r == 0 && (flags & TF_FILE_FALLBACK))
			f->h->flags |= TF_LF_FLAG_FALLBACK;
	}
	flock(f->fd, LOCK_UN);
	if (r < 0)
		goto fail;
	r = reclaim_dead(f);
	if (r < 0) {
		set_err(err, errlen, "ledger %s: %s", f->path, tf_ledger_strerror(r));
		goto fail;
	}
	*out = &f->base;
	return 0;
fail:
	if (f->map)
		munmap(f->map, f->size);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
	return r;
}

static void lf_atfork_child(tf_ledger *l)
{
	/* The mapping and its lock are shared, not copied: nothing to reset.
	 * Forget the parent's identity so reservations name the child. */
	atomic_store(&F(l)->self_pid, 0);
}

static void lf_close(tf_ledger *l)
{
	struct file_ledger *f = F(l);

	munmap(f->map, f->size);
	close(f->fd);
	free(f);
}

static const struct tf_ledger_ops file_ops = {
	.reserve = lf_reserve,
	.settle = lf_settle,
	.release = lf_release,
	.totals = lf_totals,
	.list = lf_list,
	.kill = lf_kill,
	.sync = lf_sync,
	.info = lf_info,
	.atfork_child = lf_atfork_child,
	.close = lf_close,
};
