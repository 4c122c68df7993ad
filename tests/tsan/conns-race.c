/*
 * The connection table under ThreadSanitizer: threads classify, track, look
 * up and drop overlapping SSL* keys at once (as hooks do for connections
 * opened and freed on many threads), and the table must stay consistent.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "conn.h"

#define THREADS 8
#define KEYS 512
#define ROUNDS 20000

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < ROUNDS; i++) {
		const SSL *k = (const SSL *)(uintptr_t)(0x1000 + 16 * (rand_r(&seed) % KEYS));
		tf_conn *c = NULL;

		switch (rand_r(&seed) % 4) {
		case 0:
			tf_conns_set_unguarded(k);
			break;
		case 1:
			c = tf_conns_track(k, NULL, TF_MODE_GUARD, TF_PROVIDER_AZURE, "h", 443);
			if (c) {
				pthread_mutex_lock(&c->mu);
				c->port = 443;
				pthread_mutex_unlock(&c->mu);
				tf_conn_put(c);
			}
			break;
		case 2:
			if (tf_conns_get(k, &c) == TF_CONN_TRACKED) {
				pthread_mutex_lock(&c->mu);
				c->port++;
				pthread_mutex_unlock(&c->mu);
				tf_conn_put(c);
			}
			break;
		default:
			tf_conns_drop(k);
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	size_t u, tr;

	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < KEYS; i++)
		tf_conns_drop((const SSL *)(uintptr_t)(0x1000 + 16 * i));
	tf_conns_count(&u, &tr);
	if (u || tr) {
		fprintf(stderr, "conns-race: %zu unguarded and %zu tracked entries left\n", u, tr);
		return 1;
	}
	printf("conns-race: %d threads x %d operations, table consistent\n", THREADS, ROUNDS);
	return 0;
}
