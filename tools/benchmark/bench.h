/*
 * tokenfence-bench: what TokenFence costs the programs it guards (issue 5).
 *
 * Three kinds of process take part (see bench.c for the method):
 *  - the driver (never preloaded): starts the others, alternates the work
 *    between two clients, gathers the samples and prints the table;
 *  - the bench server (forked from the driver, never preloaded): a small
 *    TLS echo / sink / source / canned-HTTP server (server.c);
 *  - two clients, `tokenfence-bench --child`, one started with
 *    LD_PRELOAD=libtokenfence.so and one without, driven over fd 3 with the
 *    protocol below (child.c). The tokenfence-emulator answers the guarded
 *    non-streaming calls.
 */
#ifndef TFB_BENCH_H
#define TFB_BENCH_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The measured cases. A "sample" is one unit of work, timed. */
typedef enum tfb_case {
	TFB_BULK_DOWN,  /* one batch of bulk bytes read from the source server */
	TFB_BULK_UP,    /* one batch of bulk bytes written to the sink server (acked) */
	TFB_RTT_1K,     /* one 1 KiB write + 1 KiB echo read, keep-alive */
	TFB_AZ_4K,      /* one Azure chat completion, 4 KB request, emulator */
	TFB_AZ_200K,    /* the same with a 200 KB (RAG-sized) request */
	TFB_BR_4K,      /* one Bedrock InvokeModel (Anthropic), 4 KB request, emulator */
	TFB_BR_200K,    /* the same with 200 KB */
	TFB_STREAM_ES,  /* one long Bedrock event stream, replayed by the bench server */
	TFB_STREAM_SSE, /* one long Azure SSE stream, replayed by the bench server */
	TFB_BR_4K_H2,   /* TFB_BR_4K over HTTP/2 (the AWS JS SDK's and curl's protocol) */
	TFB_BR_200K_H2, /* TFB_BR_200K over HTTP/2 */
	TFB_NCASES,
} tfb_case;

/* Memory cases (TFB_OP_MEM). */
enum { TFB_MEM_UNGUARDED = 0, TFB_MEM_GUARDED = 1 };

enum tfb_op {
	TFB_OP_RUN = 1, /* take `iters` samples of `kase`; reply carries them */
	TFB_OP_ICOUNT,  /* run `iters` units of `kase` inside tfb_icount_region() */
	TFB_OP_MEM,     /* open `iters` idle connections of kind `kase`; reply v[] */
	TFB_OP_QUIT,
};

typedef struct tfb_cmd {
	int32_t op;
	int32_t kase;
	int64_t iters;
} tfb_cmd;

/* v[] of TFB_OP_MEM: RSS, PSS and malloc'ed bytes before and after; of
 * TFB_OP_RUN: the client process's CPU time (ns) and minor page faults
 * over the batch. */
enum { TFB_V_RSS0, TFB_V_RSS1, TFB_V_PSS0, TFB_V_PSS1, TFB_V_HEAP0, TFB_V_HEAP1, TFB_NV = 8 };
enum { TFB_V_CPU = 0, TFB_V_FAULTS = 1 };

typedef struct tfb_reply {
	int32_t status; /* 0 ok, else a negative errno-style failure */
	int32_t n;      /* samples (uint64_t ns each) that follow */
	int64_t instr;  /* TFB_OP_ICOUNT with a perf counter: instructions; else -1 */
	int64_t v[TFB_NV];
} tfb_reply;

/* Where the child finds its servers and how big a bulk batch is. */
typedef struct tfb_ports {
	int echo, sink, source, http, emu;
	uint64_t bulk_batch;
} tfb_ports;

/* SNI of each kind of connection: the guarded ones match TokenFence's
 * built-in provider patterns, so no TOKENFENCE_HOSTS is needed. */
#define TFB_SNI_PLAIN "echo.bench.invalid"
#define TFB_SNI_BEDROCK "bedrock-runtime.us-east-1.amazonaws.com"
#define TFB_SNI_AZURE "tokenfence-test.openai.azure.com"

/* Bytes every I/O call moves at most: what HTTP clients typically use. */
#define TFB_IO_CHUNK 16384

/* ---- time, I/O helpers (tls.c) ---- */
uint64_t tfb_now_ns(void);
int tfb_read_full(int fd, void *p, size_t n);
int tfb_write_full(int fd, const void *p, size_t n);
/* A loopback listener on a free port; returns the fd, *port set. */
int tfb_listen(int *port);

/* Server context with a fresh self-signed P-256 certificate. */
SSL_CTX *tfb_server_ctx(void);
/* Client context: certificates are not verified (the bench measures the
 * data path, not trust), ALPN http/1.1, TLS 1.2+. */
SSL_CTX *tfb_client_ctx(void);
/* The same offering only h2 in ALPN (cases 2e/2f). */
SSL_CTX *tfb_client_ctx_h2(void);
/* Connects to 127.0.0.1:port with TCP_NODELAY and the given SNI; NULL on failure. */
SSL *tfb_connect(SSL_CTX *ctx, int port, const char *sni);
void tfb_close(SSL *s);
int tfb_ssl_write_all(SSL *s, const void *p, size_t n);
int tfb_ssl_read_exact(SSL *s, void *p, size_t n);

/* ---- HTTP/1.1 client side (http.c) ---- */
typedef struct tfb_bytes {
	uint8_t *data;
	size_t len, cap;
} tfb_bytes;

int tfb_bytes_append(tfb_bytes *b, const void *p, size_t n);
void tfb_bytes_free(tfb_bytes *b);

/* A request as a client sends it: head, then body (one or two writes). */
typedef struct tfb_request {
	tfb_bytes head, body;
	bool split; /* head and body in separate SSL_write calls (httpx/openai) */
} tfb_request;

/* Builds the request of a guarded case; streaming asks max_tokens stream_tokens. */
int tfb_request_build(tfb_request *r, tfb_case kase, unsigned stream_tokens);
void tfb_request_free(tfb_request *r);
int tfb_request_send(SSL *s, const tfb_request *r);

/* Reads one whole response (Content-Length or chunked). Returns the status
 * code (> 0) or a negative error. With cap non-NULL every byte read is
 * appended to it. *bytes: total bytes of the response. */
int tfb_response_read(SSL *s, tfb_bytes *cap, uint64_t *bytes);

/* ---- HTTP/2 client side (h2.c) ---- */
typedef struct tfb_h2 tfb_h2;

/* An HTTP/2 client session on s (ALPN h2 agreed); NULL on ENOMEM. */
tfb_h2 *tfb_h2_open(SSL *s);
void tfb_h2_close(tfb_h2 *c);
/* Sends r (its HTTP/1.1 head as HTTP/2 fields) and reads the whole
 * response. Returns the status code or -1. */
int tfb_h2_call(tfb_h2 *c, const tfb_request *r);

/* ---- the bench server (server.c) ---- */
typedef struct tfb_server_cfg {
	int echo_fd, sink_fd, source_fd, http_fd;
	/* Canned responses of the HTTP listener, chosen by the request path. */
	tfb_bytes invoke, event_stream, sse;
} tfb_server_cfg;

/* Runs forever in a forked process (the driver kills it). */
void tfb_server_run(const tfb_server_cfg *cfg) __attribute__((noreturn));

/* ---- clients (child.c) ---- */
int tfb_child_main(int argc, char **argv);

/* ---- instruction counts (icount.c) ---- */
/* Runs `perf stat -e instructions true`; true when it gives a number. *why
 * is what perf said otherwise. */
bool tfb_perf_works(char *why, size_t whylen);
/* Child side: a user-space instruction counter of this thread, or -1. */
int tfb_perf_open(void);
/* Driver side: the Ir total of a callgrind output file, or -1. */
int64_t tfb_callgrind_total(const char *path);

/* ---- statistics (stats.c) ---- */
/* Sorts v and returns the q-quantile (0..1), nearest rank. */
uint64_t tfb_quantile(uint64_t *v, size_t n, double q);

#endif
