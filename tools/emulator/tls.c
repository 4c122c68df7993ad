#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const default_sans[] = {
	"DNS:localhost",
	"IP:127.0.0.1",
	"DNS:bedrock-runtime.us-east-1.amazonaws.com",
	"DNS:bedrock.us-east-1.amazonaws.com",
	"DNS:bedrock-agent-runtime.us-east-1.amazonaws.com",
	"DNS:tokenfence-test.openai.azure.com",
};

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *key, const char *cn)
{
	X509 *c = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn;

	if (!c)
		return NULL;
	X509_set_version(c, 2);
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		X509_free(c);
		return NULL;
	}
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(c), -24 * 3600L);
	X509_gmtime_adj(X509_getm_notAfter(c), 30 * 24 * 3600L);
	X509_set_pubkey(c, key);
	name = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"TokenFence test",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	return c;
}

static int write_pem_atomically(const char *path, X509 *cert, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write %s", tmp);
		return -1;
	}
	ok = PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s", path);
		return -1;
	}
	return 0;
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
	FILE *in = fopen(from, "r"), *out;
	char buf[4096];
	size_t n;

	if (!in) {
		snprintf(err, errlen, "cannot read %s", from);
		return -1;
	}
	out = fopen(to, "w");
	if (!out) {
		fclose(in);
		snprintf(err, errlen, "cannot write %s", to);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	return fclose(out) == 0 ? 0 : -1;
}

/* Makes the CA and the leaf; installs the leaf in ctx and writes the CA. */
static int make_certs(SSL_CTX *ctx, const emu_config *cfg, char *err, size_t errlen)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *leaf_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *leaf = NULL;
	char san[8192];
	size_t used = 0;
	int rc = -1;

	if (!ca_key || !leaf_key)
		goto out;
	ca = new_cert(ca_key, "TokenFence Emulator Test CA");
	leaf = new_cert(leaf_key, "localhost");
	if (!ca || !leaf)
		goto out;
	X509_set_issuer_name(ca, X509_get_subject_name(ca));
	if (add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") ||
	    add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(ca, ca, NID_subject_key_identifier, "hash") ||
	    !X509_sign(ca, ca_key, EVP_sha256()))
		goto out;

	san[0] = '\0';
	for (size_t i = 0; i < sizeof(default_sans) / sizeof(default_sans[0]); i++)
		used += (size_t)snprintf(san + used, sizeof(san) - used, "%s%s", i ? "," : "",
					 default_sans[i]);
	for (size_t i = 0; i < cfg->nsans && used < sizeof(san); i++) {
		const char *s = cfg->sans[i];
		bool ip = strspn(s, "0123456789.") == strlen(s) || strchr(s, ':');

		used += (size_t)snprintf(san + used, sizeof(san) - used, ",%s:%s", ip ? "IP" : "DNS", s);
	}
	if (used >= sizeof(san)) {
		snprintf(err, errlen, "too many --san names");
		goto out;
	}
	X509_set_issuer_name(leaf, X509_get_subject_name(ca));
	if (add_ext(leaf, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(leaf, ca, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(leaf, ca, NID_ext_key_usage, "serverAuth") ||
	    add_ext(leaf, ca, NID_subject_key_identifier, "hash") ||
	    add_ext(leaf, ca, NID_authority_key_identifier, "keyid:always") ||
	    add_ext(leaf, ca, NID_subject_alt_name, san) || !X509_sign(leaf, ca_key, EVP_sha256()))
		goto out;
	if (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, leaf_key) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, ca) != 1)
		goto out;
	if (cfg->ca_out && write_pem_atomically(cfg->ca_out, ca, err, errlen))
		goto done;
	rc = 0;
	goto done;
out:
	snprintf(err, errlen, "certificate generation failed: %s",
		 ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error())
								 : "unknown error");
done:
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return rc;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";
	static const unsigned char both[] = "\x02h2\x08http/1.1";
	const emu_config *cfg = arg;
	const unsigned char *ours = cfg->http2 ? both : h1;
	unsigned int ours_len = cfg->http2 ? sizeof(both) - 1 : sizeof(h1) - 1;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *emu_tls_ctx(const emu_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)cfg);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (cfg->cert || cfg->key) {
		if (!cfg->cert || !cfg->key) {
			snprintf(err, errlen, "--cert and --key go together");
			goto fail;
		}
		if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "cannot use --cert %s / --key %s", cfg->cert, cfg->key);
			goto fail;
		}
		if (cfg->ca_out && copy_file(cfg->cert, cfg->ca_out, err, errlen))
			goto fail;
		return ctx;
	}
	if (make_certs(ctx, cfg, err, errlen) == 0)
		return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int64_t emu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void emu_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#define WRITE_TIMEOUT_MS 10000

int emu_ssl_write_all(SSL *ssl, const void *p, size_t n)
{
	int64_t deadline = emu_now_ms() + WRITE_TIMEOUT_MS;

	while (n > 0) {
		int chunk = n > (1 << 20) ? (1 << 20) : (int)n, w, e;

		w = SSL_write(ssl, p, chunk);
		if (w > 0) {
			p = (const char *)p + w;
			n -= (size_t)w;
			continue;
		}
		e = SSL_get_error(ssl, w);
		ERR_clear_error();
		if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) && emu_now_ms() < deadline)
			continue;
		return -1;
	}
	return 0;
}
