/*
 * Finding the real libssl functions behind our hooks.
 *
 * dlsym(RTLD_NEXT) is not enough (STYLE.md P1): CPython loads libssl through
 * a dlopen(RTLD_LOCAL)'ed extension, so libssl is not in the global scope and
 * RTLD_NEXT finds nothing. We therefore resolve per *caller*: the object that
 * called the hook (dladdr of the return address) is reopened with
 * RTLD_NOLOAD and searched, which walks that object's own dependency tree and
 * finds the libssl it really links against. That also keeps two libssl copies
 * in one process apart (P7, P12): an SSL* only ever meets the functions of
 * the libssl that made it.
 *
 * Results are cached per call site in a fixed table with atomic publication,
 * so after the first call from a site the hot path is a hash probe. Every
 * function of one libssl instance is taken from that instance's own handle.
 * Nothing here runs in a constructor; all of it is lazy (P6).
 */
#ifndef TF_RESOLVE_H
#define TF_RESOLVE_H

#include <stddef.h>
#include <openssl/ssl.h>

typedef struct tf_ssl_api {
	const void *base; /* load address of this libssl, its identity */
	const char *path;

	/* Hooked entry points, as the real library defines them. */
	int (*write)(SSL *, const void *, int);
	int (*write_ex)(SSL *, const void *, size_t, size_t *);
	int (*read)(SSL *, void *, int);
	int (*read_ex)(SSL *, void *, size_t, size_t *);
	int (*peek)(SSL *, void *, int);
	int (*peek_ex)(SSL *, void *, size_t, size_t *);
	int (*pending)(const SSL *);
	int (*has_pending)(const SSL *);
	int (*shutdown)(SSL *);
	int (*clear)(SSL *);
	void (*free)(SSL *);
	int (*connect)(SSL *);
	int (*do_handshake)(SSL *);

	/* Used on connections, never hooked; any may be NULL on old libssl. */
	int (*get_error)(const SSL *, int);
	const char *(*get_servername)(const SSL *, int);
	int (*get_fd)(const SSL *);
	int (*is_server)(const SSL *);
	long (*ctrl)(SSL *, int, long, void *);
	void (*get0_alpn_selected)(const SSL *, const unsigned char **, unsigned int *);

	/* Hooked only for config h2 = downgrade_alpn (hooks.c). */
	int (*set_alpn_protos)(SSL *, const unsigned char *, unsigned int);
	int (*ctx_set_alpn_protos)(SSL_CTX *, const unsigned char *, unsigned int);
} tf_ssl_api;

/*
 * The libssl behind a hook called from `caller` (the hook's return address).
 * NULL only if no real libssl can be found, which cannot happen for a caller
 * that linked against libssl; the hook then fails the call as libssl would
 * for a missing function.
 */
const tf_ssl_api *tf_resolve(const void *caller);

/* True when the main executable (or anything before us) defines SSL_write:
 * its TLS never reaches our hooks (STYLE.md P4). */
int tf_resolve_tls_is_static(char *exe, size_t exelen);

/* Fork hygiene: in the child, the lock another thread may have held. */
void tf_resolve_child_reset(void);

#endif
