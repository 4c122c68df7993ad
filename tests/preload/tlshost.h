/* Shared pieces of the interposition test hosts (see tlshost.c). */
#ifndef TF_TLSHOST_H
#define TF_TLSHOST_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

void th_init(void);
uint64_t th_fnv(const void *p, size_t n);
void th_pair(int sv[2]);
struct server *th_server_start(int fd, size_t slow_read);
int th_server_join(struct server *sv);
SSL *th_client(int fd, bool guarded);
SSL *th_client_connect(SSL *c, int fd, bool guarded);
void th_write_all(SSL *c, const void *p, size_t n, bool use_ex);
void th_request(SSL *c, const void *body, size_t n, int parts, bool use_ex);
void th_expect_answer(SSL *c, const void *body, size_t n, bool use_ex);
void th_roundtrip(bool guarded, size_t body_len, int parts, bool use_ex);
SSL_CTX *th_client_ctx(void);
void th_note_moved(size_t w, size_t r);
void th_reset_moved(void);
void th_report(void);

#endif
