/*
 * tokenfence-emulator: shared types of the server (server.c), the provider
 * handlers (bedrock.c, azure.c) and the response helpers (resp.c).
 *
 * One request flows: server reads and frames it (shim/http1.h) -> routes it
 * (route.h) -> checks auth (auth.c) -> picks a fault (faults.h) -> the
 * provider handler fills an emu_resp and the usage in an emu_result -> the
 * bill line is written -> the server sends the response (paced, in odd
 * pieces, when it streams).
 */
#ifndef EMU_H
#define EMU_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "faults.h"
#include "http1.h"
#include "models.h"
#include "money.h"
#include "billing.h"
#include "route.h"

typedef struct emu_cred {
	char *akid;
	char *secret;
	char *token; /* NULL: any session token accepted */
} emu_cred;

typedef struct emu_config {
	int port;
	const char *port_file, *ca_out, *cert, *key, *bill;
	char **sans;
	size_t nsans;
	emu_cred *creds;
	size_t ncreds;
	const char *bedrock_api_key;
	const char *azure_key;
	emu_map *deployments;
	size_t ndeployments;
	emu_map *aliases;
	size_t naliases;
	emu_fault *faults;
	size_t nfaults;
	uint64_t reply_tokens;
	int pace_ms;
	int header_timeout_ms, body_timeout_ms, idle_timeout_ms;
	size_t max_body;
	int max_conns;
	bool quiet;
} emu_config;

/* Parses argv into cfg (allocations live until exit). Returns 0, 1 after
 * --help/--version (exit 0), or -1 after printing an error (exit 2). */
int emu_config_parse(emu_config *cfg, int argc, char **argv);
void emu_config_free(emu_config *cfg);

typedef struct emu_req {
	uint64_t n;    /* request number, 1-based, in arrival order */
	uint64_t conn; /* connection id */
	const tf_h1_head *head;
	const char *path; /* raw path (before '?') */
	size_t path_len;
	const uint8_t *body;
	size_t body_len;
	const cJSON *json; /* the body parsed as JSON, or NULL */
	bool json_ok;      /* body empty or valid JSON */
	emu_route route;
	emu_fault_kind fault;
	bool gzip_ok; /* Accept-Encoding allows gzip */
	const emu_config *cfg;
} emu_req;

typedef struct emu_resp {
	int status;
	const char *content_type;
	tf_buf headers; /* extra header lines, each "Name: value\r\n" */
	tf_buf body;
	bool stream;    /* chunked, sent in odd-sized paced pieces */
	bool gzip;      /* compress the body (Content-Encoding: gzip) */
	bool close;     /* Connection: close after this response */
	bool truncate;  /* fault: send half the body, then close */
	/* Streams: (body offset, output tokens so far) after each delta, so a
	 * client that leaves mid-stream is billed what it was sent. */
	tf_buf marks;
	size_t delivered; /* body bytes written before the connection failed */
} emu_resp;

/* What the bill records about a call, beyond the request itself. */
typedef struct emu_result {
	char model[EMU_MODEL_MAX];  /* as asked ("" when none) */
	char priced[EMU_MODEL_MAX]; /* handler: the id to price; then the table key used */
	char base[EMU_MODEL_MAX];   /* handler: priced when the id itself is not in the table */
	bool billed;                /* the cloud charges tokens for this call */
	bool stream;
	emu_usage usage;
	tf_money cost;
	emu_price_match match; /* valid when billed */
} emu_result;

void emu_resp_init(emu_resp *r);
void emu_resp_free(emu_resp *r);
/* A stream delta ends here, with `tokens` output tokens so far. */
void emu_resp_mark(emu_resp *r, uint64_t tokens);
/* Output tokens of the stream up to body offset `off` (its last mark). */
uint64_t emu_resp_tokens_at(const emu_resp *r, size_t off);
void emu_resp_header(emu_resp *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sets status, JSON content type and the printed JSON as body (takes no ownership). */
void emu_resp_json(emu_resp *r, int status, const cJSON *j);
/* The body is j printed, then damaged per a malformed/truncate fault. */
void emu_resp_json_fault(emu_resp *r, int status, const cJSON *j, emu_fault_kind fault);

/* AWS rest-json error: x-amzn-ErrorType + {"message": …}. */
void emu_aws_error(emu_resp *r, int status, const char *type, const char *message);
/* Azure error: {"error":{"code","message","type","param"}} (type/param may be NULL). */
void emu_azure_error(emu_resp *r, int status, const char *code, const char *message,
		     const char *type, const char *param);
/* The provider's error for a 429/500/503 fault. */
void emu_fault_error(const emu_req *q, emu_resp *r, emu_fault_kind k);

/* A random RFC 4122 v4 UUID, lower case, NUL-terminated (37 bytes). */
void emu_uuid(char out[37]);
/* Random [a-zA-Z0-9] of length n, NUL-terminated. */
void emu_random_id(char *out, size_t n);
/* The deterministic reply text: n words, space-separated. */
void emu_reply_words(tf_buf *out, uint64_t first, uint64_t n);
/* Deterministic event padding ("abcdef…", 1..40 chars) for message i. */
void emu_padding(char out[48], uint64_t seed);

/* Bedrock and Azure request handlers: fill resp and res. */
void emu_bedrock_handle(const emu_req *q, emu_resp *resp, emu_result *res);
void emu_azure_handle(const emu_req *q, emu_resp *resp, emu_result *res);

/* The model a request names ("" if none), for the bill and --fail model=. */
void emu_bedrock_model_asked(const emu_req *q, char *out, size_t n);
void emu_azure_model_asked(const emu_req *q, char *out, size_t n);

/* Auth: 0 when the request may proceed, else resp holds the error. */
int emu_bedrock_auth(const emu_req *q, emu_resp *resp);
int emu_azure_auth(const emu_req *q, emu_resp *resp);

/* JSON helpers: the integer at obj.key (false when absent or not a number). */
bool emu_json_int(const cJSON *obj, const char *key, int64_t *out);
const char *emu_json_str(const cJSON *obj, const char *key);

/* The bill: one JSON line per request (bill.c). */
int emu_bill_open(const char *path);
void emu_bill_write(const emu_req *q, const char *method, size_t method_len, int status,
		    const emu_result *res, const char *note);
void emu_bill_close(void);

/* In-memory state of the control-plane routes (jobs, files, provisioned models). */
void emu_state_init(void);
void emu_state_free(void);

#endif
