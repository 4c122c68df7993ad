#include "resolve.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "reentry.h"

#define SITE_SLOTS 1024u
#define SITE_PROBES 16u
#define MAX_INSTANCES 8

struct site {
	const void *caller;
	const tf_ssl_api *api;
};

static struct site sites[SITE_SLOTS];
static tf_ssl_api instances[MAX_INSTANCES];
static int n_instances;
static const void *own_base;
static pthread_mutex_t resolve_mutex = PTHREAD_MUTEX_INITIALIZER;
static int warned_full, warned_missing, warned_instances;

void tf_resolve_child_reset(void)
{
	pthread_mutex_init(&resolve_mutex, NULL);
}

static size_t site_hash(const void *caller)
{
	uint64_t x = (uint64_t)(uintptr_t)caller;

	x ^= x >> 17;
	x *= UINT64_C(0x9E3779B97F4A7C15);
	return (size_t)(x >> 54) & (SITE_SLOTS - 1);
}

static const tf_ssl_api *site_lookup(const void *caller)
{
	size_t h = site_hash(caller);

	for (size_t i = 0; i < SITE_PROBES; i++) {
		struct site *s = &sites[(h + i) & (SITE_SLOTS - 1)];
		const void *c = __atomic_load_n(&s->caller, __ATOMIC_ACQUIRE);
		if (c == caller)
			return __atomic_load_n(&s->api, __ATOMIC_RELAXED);
		if (!c)
			return NULL;
	}
	return NULL;
}

/* Called with resolve_mutex held. The api pointer is published before the
 * caller key, so a reader that sees the key also sees the api. */
static void site_insert(const void *caller, const tf_ssl_api *api)
{
	size_t h = site_hash(caller);

	for (size_t i = 0; i < SITE_PROBES; i++) {
		struct site *s = &sites[(h + i) & (SITE_SLOTS - 1)];
		if (s->caller == caller)
			return;
		if (!s->caller) {
			__atomic_store_n(&s->api, api, __ATOMIC_RELAXED);
			__atomic_store_n(&s->caller, caller, __ATOMIC_RELEASE);
			return;
		}
	}
	tf_log_once(&warned_full, TF_LOG_WARN,
		    "too many distinct SSL call sites; resolving the rest on every call");
}

static int is_ours(const void *p)
{
	Dl_info di;

	if (!own_base) {
		if (dladdr((const void *)tf_resolve, &di))
			own_base = di.dli_fbase;
	}
	return dladdr(p, &di) && di.dli_fbase == own_base;
}

static void *lookup_in_object(const char *path, const char *name)
{
	void *h, *p;

	if (!path || !*path)
		return NULL;
	h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	p = dlsym(h, name);
	dlclose(h);
	return (p && !is_ours(p)) ? p : NULL;
}

/* The real SSL_write as seen from the object that called us (see header). */
static void *find_real_write(const void *caller)
{
	static const char *const sonames[] = { "libssl.so.3", "libssl.so.1.1", "libssl.so" };
	Dl_info di;
	void *p = NULL;

	if (dladdr(caller, &di))
		p = lookup_in_object(di.dli_fname, "SSL_write");
	if (!p) {
		p = dlsym(RTLD_NEXT, "SSL_write");
		if (p && is_ours(p))
			p = NULL;
	}
	for (size_t i = 0; !p && i < sizeof(sonames) / sizeof(sonames[0]); i++)
		p = lookup_in_object(sonames[i], "SSL_write");
	return p;
}

#define BIND(api, h, field, name) \
	(*(void **)&(api)->field = dlsym((h), (name)))

static const tf_ssl_api *instance_for(void *real_write)
{
	Dl_info di;
	tf_ssl_api *api;
	void *h;

	if (!dladdr(real_write, &di))
		return NULL;
	for (int i = 0; i < n_instances; i++)
		if (instances[i].base == di.dli_fbase)
			return &instances[i];
	if (n_instances == MAX_INSTANCES) {
		tf_log_once(&warned_instances, TF_LOG_WARN, "more than %d libssl copies loaded",
			    MAX_INSTANCES);
		return NULL;
	}
	/* Kept open on purpose: the pointers below must outlive any dlclose by the host. */
	h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	api = &instances[n_instances];
	memset(api, 0, sizeof(*api));
	api->base = di.dli_fbase;
	api->path = di.dli_fname;
	BIND(api, h, write, "SSL_write");
	BIND(api, h, write_ex, "SSL_write_ex");
	BIND(api, h, read, "SSL_read");
	BIND(api, h, read_ex, "SSL_read_ex");
	BIND(api, h, peek, "SSL_peek");
	BIND(api, h, peek_ex, "SSL_peek_ex");
	BIND(api, h, pending, "SSL_pending");
	BIND(api, h, has_pending, "SSL_has_pending");
	BIND(api, h, shutdown, "SSL_shutdown");
	BIND(api, h, clear, "SSL_clear");
	BIND(api, h, free, "SSL_free");
	BIND(api, h, connect, "SSL_connect");
	BIND(api, h, do_handshake, "SSL_do_handshake");
	BIND(api, h, get_error, "SSL_get_error");
	BIND(api, h, get_servername, "SSL_get_servername");
	BIND(api, h, get_fd, "SSL_get_fd");
	BIND(api, h, is_server, "SSL_is_server");
	BIND(api, h, ctrl, "SSL_ctrl");
	BIND(api, h, get0_alpn_selected, "SSL_get0_alpn_selected");
	if (!api->write || !api->read || !api->free) {
		dlclose(h);
		return NULL;
	}
	tf_log(TF_LOG_DEBUG, "bound libssl instance %s", api->path);
	__atomic_store_n(&n_instances, n_instances + 1, __ATOMIC_RELEASE);
	return api;
}

/* Without the lock (a signal handler interrupted a resolution on this
 * thread): find the function, but only reuse an instance already bound. */
static const tf_ssl_api *resolve_unlocked(const void *caller)
{
	void *real = find_real_write(caller);
	int n = __atomic_load_n(&n_instances, __ATOMIC_ACQUIRE);
	Dl_info di;

	if (!real || !dladdr(real, &di))
		return NULL;
	for (int i = 0; i < n; i++)
		if (instances[i].base == di.dli_fbase)
			return &instances[i];
	return NULL;
}

const tf_ssl_api *tf_resolve(const void *caller)
{
	const tf_ssl_api *api = site_lookup(caller);
	void *real;

	if (api)
		return api;
	if (tf_crit && pthread_mutex_trylock(&resolve_mutex) != 0)
		return resolve_unlocked(caller);
	if (!tf_crit)
		pthread_mutex_lock(&resolve_mutex);
	TF_CRIT_BEGIN();
	api = site_lookup(caller);
	if (!api) {
		real = find_real_write(caller);
		api = real ? instance_for(real) : NULL;
		if (api)
			site_insert(caller, api);
		else
			tf_log_once(&warned_missing, TF_LOG_ERROR,
				    "cannot find the real libssl for a caller; TLS calls from it fail");
	}
	TF_CRIT_END();
	pthread_mutex_unlock(&resolve_mutex);
	return api;
}

int tf_resolve_tls_is_static(char *exe, size_t exelen)
{
	Dl_info di;
	void *p = dlsym(RTLD_DEFAULT, "SSL_write");

	if (!p || is_ours(p) || !dladdr(p, &di))
		return 0;
	/* The first SSL_write in the global scope is not ours, so it comes from
	 * an object searched before us: the executable itself. Its own calls to
	 * SSL_write bind there and never reach a hook. */
	snprintf(exe, exelen, "%s", di.dli_fname && *di.dli_fname ? di.dli_fname : "the executable");
	return 1;
}
