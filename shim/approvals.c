#include "approvals.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "events.h"
#include "json.h"
#include "log.h"
#include "state.h"

/* How long a human's decision stands for retries of the same request. */
#define MEMO_S 600
#define MEMO_SLOTS 64

struct pending {
	struct pending *next;
	char id[24];
	uint64_t fp;
	bool decided;
	tf_approval verdict;
	struct timespec since;
	const tf_call *call;
};

struct memo {
	uint64_t fp;
	tf_approval verdict;
	time_t until;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static struct pending *waiting;
static struct memo memo[MEMO_SLOTS];
static unsigned memo_next;

uint64_t tf_approvals_fingerprint(const char *method, size_t mlen, const char *target,
				  size_t tlen, const uint8_t *body, size_t blen)
{
	const uint8_t *parts[] = { (const uint8_t *)method, (const uint8_t *)target, body };
	size_t lens[] = { mlen, tlen, blen };
	uint64_t h = UINT64_C(1469598103934665603);

	for (size_t p = 0; p < 3; p++) {
		for (size_t i = 0; i < lens[p]; i++)
			h = (h ^ parts[p][i]) * UINT64_C(1099511628211);
		h = (h ^ 0xff) * UINT64_C(1099511628211);
	}
	return h;
}

static void new_id(char *out, size_t n)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)time(NULL) ^ (uint32_t)getpid() * 2654435761u;
	snprintf(out, n, "ap-%d-%08x", (int)getpid(), r);
}

/* With mu held. An entry serves one retry. */
static bool remembered(uint64_t fp, tf_approval *v)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < MEMO_SLOTS; i++) {
		if (memo[i].fp == fp && memo[i].until > now) {
			*v = memo[i].verdict;
			memo[i].until = 0;
			return true;
		}
	}
	return false;
}

void tf_approvals_remember_retry(uint64_t fp)
{
	pthread_mutex_lock(&mu);
	memo[memo_next++ % MEMO_SLOTS] = (struct memo){ fp, TF_APPROVAL_GRANTED, time(NULL) + MEMO_S };
	pthread_mutex_unlock(&mu);
}

static void unlink_pending(struct pending *p)
{
	for (struct pending **q = &waiting; *q; q = &(*q)->next) {
		if (*q == p) {
			*q = p->next;
			return;
		}
	}
}

tf_approval tf_approvals_wait(const tf_call *call, uint64_t fp, const char *rule,
			      unsigned timeout_s, char *who, size_t wholen)
{
	struct pending p = { .fp = fp, .call = call };
	struct timespec deadline;
	tf_approval v;
	int r = 0;

	pthread_mutex_lock(&mu);
	if (remembered(fp, &v)) {
		pthread_mutex_unlock(&mu);
		snprintf(who, wholen, "approved earlier; this is the retry of that request");
		return v;
	}
	new_id(p.id, sizeof(p.id));
	clock_gettime(CLOCK_MONOTONIC, &p.since);
	deadline = p.since;
	deadline.tv_sec += timeout_s;
	p.next = waiting;
	waiting = &p;
	pthread_mutex_unlock(&mu);

	tf_log(TF_LOG_WARN, "%s needs approval (%s): run 'tokenfence approve %s' or "
	       "'tokenfence deny %s'; denied in %u s without a decision",
	       call->act.action, rule, p.id, p.id, timeout_s);
	tf_events_note("approval", call, tf_state_scope_name(), "approval %s requested by %s", p.id,
		       rule);

	pthread_mutex_lock(&mu);
	while (!p.decided && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&cv, &mu, &deadline);
	unlink_pending(&p);
	v = p.decided ? p.verdict : TF_APPROVAL_TIMEOUT;
	pthread_mutex_unlock(&mu);

	if (v == TF_APPROVAL_TIMEOUT)
		snprintf(who, wholen, "no decision within %u s (approval %s)", timeout_s, p.id);
	else
		snprintf(who, wholen, "%s by an operator (approval %s)",
			 v == TF_APPROVAL_GRANTED ? "approved" : "denied", p.id);
	tf_events_note("approval", call, tf_state_scope_name(), "%s", who);
	tf_log(TF_LOG_INFO, "%s: %s", call->act.action, who);
	return v;
}

/* ---- control commands ---- */

static int cmd_list(const tf_json_value *req, tf_buf *b, char *err, size_t errlen)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	tf_json_put_key(b, "pending");
	tf_json_open_array(b);
	pthread_mutex_lock(&mu);
	for (struct pending *p = waiting; p; p = p->next) {
		tf_json_open_object(b);
		tf_json_put_key(b, "id");
		tf_json_put_cstr(b, p->id);
		tf_json_put_key(b, "pid");
		tf_json_put_int(b, getpid());
		tf_json_put_key(b, "scope");
		tf_json_put_cstr(b, tf_state_scope_name());
		tf_json_put_key(b, "action");
		tf_json_put_cstr(b, p->call->act.action);
		tf_json_put_key(b, "model");
		tf_json_put_cstr(b, p->call->model);
		tf_json_put_key(b, "worst_usd");
		tf_json_put_money(b, p->call->worst);
		tf_json_put_key(b, "waiting_s");
		tf_json_put_int(b, now.tv_sec - p->since.tv_sec);
		tf_json_close_object(b);
	}
	pthread_mutex_unlock(&mu);
	tf_json_close_array(b);
	return 0;
}

static int decide(const tf_json_value *req, tf_buf *b, char *err, size_t errlen, tf_approval v)
{
	const tf_json_value *id = req ? tf_json_get(req, "id") : NULL;
	struct pending *p;

	if (!id || id->type != TF_JSON_STRING) {
		snprintf(err, errlen, "missing \"id\"");
		return -EINVAL;
	}
	pthread_mutex_lock(&mu);
	for (p = waiting; p && strcmp(p->id, id->u.str.s) != 0; p = p->next)
		;
	if (p && !p->decided) {
		p->decided = true;
		p->verdict = v;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	if (!p) {
		snprintf(err, errlen, "unknown approval id %.40s", id->u.str.s);
		return -ENOENT;
	}
	tf_json_put_key(b, "id");
	tf_json_put_cstr(b, id->u.str.s);
	return 0;
}

static int cmd_approve(const tf_json_value *req, tf_buf *b, char *err, size_t errlen)
{
	return decide(req, b, err, errlen, TF_APPROVAL_GRANTED);
}

static int cmd_deny(const tf_json_value *req, tf_buf *b, char *err, size_t errlen)
{
	return decide(req, b, err, errlen, TF_APPROVAL_DENIED);
}

static void init_cv(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &a);
	pthread_condattr_destroy(&a);
}

void tf_approvals_init(void)
{
	init_cv();
	tf_control_register("approvals", cmd_list);
	tf_control_register("approve", cmd_approve);
	tf_control_register("deny", cmd_deny);
}

/* The waiting threads are gone in the child; their entries live on their
 * (parent's) stacks, so the list is simply forgotten. */
void tf_approvals_child_reset(void)
{
	pthread_mutex_init(&mu, NULL);
	init_cv();
	waiting = NULL;
}
