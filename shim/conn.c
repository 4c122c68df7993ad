#include "conn.h"

#include "exchange.h"
#include "h2.h"
#include "reentry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64u
#define SHARD_MIN_SLOTS 64u

/* An entry is the key plus a tagged value: NULL conn means unguarded. */
struct slot {
	const SSL *key;
	tf_conn *conn;
};

struct shard {
	pthread_mutex_t mu;
	struct slot *slots;
	size_t cap; /* power of two, or 0 before first use */
	size_t used;
	size_t tracked;
};

static struct shard shards[SHARDS] = {
#define S PTHREAD_MUTEX_INITIALIZER
	[0 ... SHARDS - 1] = { .mu = S },
#undef S
};

static uint64_t mix(const SSL *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

static struct shard *shard_of(const SSL *ssl, uint64_t *h)
{
	*h = mix(ssl);
	return &shards[*h & (SHARDS - 1)];
}

/* Returns the slot index of key, or of the empty slot where it would go. */
static size_t probe(const struct shard *s, const SSL *key, uint64_t h)
{
	size_t mask = s->cap - 1, i = (size_t)(h >> 6) & mask;

	while (s->slots[i].key && s->slots[i].key != key)
		i = (i + 1) & mask;
	return i;
}

/*
 * Each shard starts in static storage, so the first few thousand open
 * connections cost no allocation (the benchmark's 1,000 unguarded ones
 * included) and untouched pages no memory; only a busier shard moves to
 * the heap, doubling.
 */
static struct slot first_slots[SHARDS][SHARD_MIN_SLOTS];

static int grow(struct shard *s)
{
	struct slot *first = first_slots[s - shards];
	size_t ncap = s->cap ? s->cap * 2 : SHARD_MIN_SLOTS;
	struct slot *old = s->slots, *n = s->cap ? calloc(ncap, sizeof(*n)) : first;
	size_t ocap = s->cap;

	if (!n)
		return -ENOMEM;
	s->slots = n;
	s->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].key) {
			uint64_t h = mix(old[i].key);
			s->slots[probe(s, old[i].key, h)] = old[i];
		}
	}
	if (old != first)
		free(old);
	return 0;
}

tf_conn_class tf_conns_get(const SSL *ssl, tf_conn **out)
{
	uint64_t h;
	struct shard *s = shard_of(ssl, &h);
	tf_conn_class cls = TF_CONN_ABSENT;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&s->mu);
	if (s->cap) {
		struct slot *sl = &s->slots[probe(s, ssl, h)];
		if (sl->key) {
			cls = sl->conn ? TF_CONN_TRACKED : TF_CONN_UNGUARDED;
			*out = sl->conn;
			if (sl->conn)
				__atomic_add_fetch(&sl->conn->refs, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&s->mu);
	TF_CRIT_END();
	return cls;
}

/* Inserts or updates; called with the shard locked. */
static struct slot *upsert(struct shard *s, const SSL *ssl, uint64_t h)
{
	struct slot *sl;

	if ((s->used + 1) * 4 > s->cap * 3 && grow(s) < 0)
		return NULL;
	sl = &s->slots[probe(s, ssl, h)];
	if (!sl->key) {
		sl->key = ssl;
		sl->conn = NULL;
		s->used++;
	}
	return sl;
}

int tf_conns_set_unguarded(const SSL *ssl)
{
	uint64_t h;
	struct shard *s = shard_of(ssl, &h);
	struct slot *sl;
	int r = 0;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&s->mu);
	sl = upsert(s, ssl, h);
	if (!sl)
		r = -ENOMEM;
	pthread_mutex_unlock(&s->mu);
	TF_CRIT_END();
	return r;
}

/*
 * Recursive: a callback run by libssl inside one of our real calls (node
 * runs JavaScript there) may re-enter a hook for the same connection in the
 * other direction on the same thread.
 */
static void init_conn_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

static tf_conn *conn_new(const SSL *ssl, const tf_ssl_api *api, tf_conn_mode mode,
			 tf_provider provider, const char *host, int port)
{
	tf_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->refs = 1;
	init_conn_mutex(&c->mu);
	c->api = api;
	c->ssl = (SSL *)ssl;
	c->mode = mode;
	c->provider = provider;
	snprintf(c->host, sizeof(c->host), "%s", host ? host : "");
	c->port = port;
	tf_h1_framer_init(&c->req, TF_H1_REQUEST);
	tf_h1_framer_init(&c->resp, TF_H1_RESPONSE);
	return c;
}

static void conn_free(tf_conn *c)
{
	pthread_mutex_lock(&c->mu);
	tf_h2_free(c->h2);
	c->h2 = NULL;
	tf_exchange_close_all(c, "connection freed before its answer was read");
	pthread_mutex_unlock(&c->mu);
	tf_buf_free(&c->req_body);
	tf_h1_framer_free(&c->req);
	tf_h1_framer_free(&c->resp);
	tf_buf_free(&c->hold);
	tf_buf_free(&c->out);
	tf_buf_free(&c->inject);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

tf_conn *tf_conns_track(const SSL *ssl, const tf_ssl_api *api, tf_conn_mode mode,
			tf_provider provider, const char *host, int port)
{
	uint64_t h;
	struct shard *s = shard_of(ssl, &h);
	tf_conn *fresh = conn_new(ssl, api, mode, provider, host, port), *c = NULL;
	struct slot *sl;

	if (!fresh)
		return NULL;
	TF_CRIT_BEGIN();
	pthread_mutex_lock(&s->mu);
	sl = upsert(s, ssl, h);
	if (sl) {
		if (!sl->conn) {
			sl->conn = fresh;
			s->tracked++;
			fresh = NULL;
		}
		c = sl->conn;
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->mu);
	TF_CRIT_END();
	if (fresh)
		conn_free(fresh);
	return c;
}

/* Backward-shift deletion keeps linear probing correct without tombstones. */
static void erase(struct shard *s, size_t i)
{
	size_t mask = s->cap - 1, j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!s->slots[j].key)
			break;
		home = (size_t)(mix(s->slots[j].key) >> 6) & mask;
		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i].key = NULL;
	s->slots[i].conn = NULL;
	s->used--;
}

void tf_conns_drop(const SSL *ssl)
{
	uint64_t h;
	struct shard *s = shard_of(ssl, &h);
	tf_conn *c = NULL;

	TF_CRIT_BEGIN();
	pthread_mutex_lock(&s->mu);
	if (s->cap) {
		size_t i = probe(s, ssl, h);
		if (s->slots[i].key) {
			c = s->slots[i].conn;
			if (c)
				s->tracked--;
			erase(s, i);
		}
	}
	pthread_mutex_unlock(&s->mu);
	TF_CRIT_END();
	if (c)
		tf_conn_put(c);
}

void tf_conn_put(tf_conn *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conn_free(c);
}

void tf_conns_lock_all(void)
{
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_lock(&shards[i].mu);
}

void tf_conns_unlock_all(void)
{
	for (size_t i = SHARDS; i > 0; i--)
		pthread_mutex_unlock(&shards[i - 1].mu);
}

/*
 * In the child only the forking thread survives. A tf_conn whose lock another
 * thread held at fork time may be half-updated: it is re-initialised and left
 * to pass bytes through untouched rather than trusted.
 */
void tf_conns_child_reset(void)
{
	for (size_t i = 0; i < SHARDS; i++) {
		struct shard *s = &shards[i];

		pthread_mutex_init(&s->mu, NULL);
		for (size_t j = 0; j < s->cap; j++) {
			tf_conn *c = s->slots[j].conn;
			if (!c)
				continue;
			if (pthread_mutex_trylock(&c->mu) != 0) {
				init_conn_mutex(&c->mu);
				c->mode = TF_MODE_BROKEN;
			} else {
				pthread_mutex_unlock(&c->mu);
			}
		}
	}
}

void tf_conns_count(size_t *unguarded, size_t *tracked)
{
	size_t u = 0, t = 0;

	for (size_t i = 0; i < SHARDS; i++) {
		TF_CRIT_BEGIN();
		pthread_mutex_lock(&shards[i].mu);
		u += shards[i].used - shards[i].tracked;
		t += shards[i].tracked;
		pthread_mutex_unlock(&shards[i].mu);
		TF_CRIT_END();
	}
	*unguarded = u;
	*tracked = t;
}
