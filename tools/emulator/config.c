/* Command line of tokenfence-emulator. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "usage.h"

#define DEFAULT_AKID "AKIDEXAMPLE"
#define DEFAULT_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const char usage_text[] =
	"Usage: tokenfence-emulator [OPTIONS]\n"
	"\n"
	"A local HTTPS Bedrock and Azure OpenAI (HTTP/1.1, loopback only) that speaks\n"
	"their wire formats, verifies SigV4 and API keys, answers with deterministic\n"
	"usage and keeps a bill of every request it received.\n"
	"\n"
	"Listening and TLS:\n"
	"  --port N               port on 127.0.0.1 (default 0: pick a free one)\n"
	"  --port-file F          write the port number to F once listening\n"
	"  --ca-out F             write the test CA certificate (PEM) to F\n"
	"  --cert F --key F       serve this certificate chain and key instead\n"
	"  --san NAME             extra subject alternative name (repeatable)\n"
	"  --max-conns N          concurrent connections (default 256)\n"
	"\n"
	"Auth:\n"
	"  --aws-cred AKID:SECRET[:TOKEN]  SigV4 credentials accepted (repeatable;\n"
	"                         default " DEFAULT_AKID ":" DEFAULT_SECRET ");\n"
	"                         with TOKEN, X-Amz-Security-Token must equal it\n"
	"  --bedrock-api-key K    Bearer key accepted by Bedrock (default test-bedrock-api-key)\n"
	"  --azure-key K          Azure api-key / Bearer key (default test-azure-key)\n"
	"\n"
	"Models:\n"
	"  --deployment NAME=MODEL   Azure deployment -> base model (repeatable); a\n"
	"                         deployment named like a known model maps to it\n"
	"  --bedrock-alias ID=MODEL  Bedrock id or ARN (or its last path part) -> base\n"
	"                         model, for application-profile/provisioned ARNs\n"
	"\n"
	"Usage (deterministic, so tests know the truth in advance):\n"
	"  T = UTF-8 bytes of every JSON string value in the request body (keys,\n"
	"      numbers and booleans not counted)\n"
	"  input tokens  = ceil(T / 4); 1 if T is 0 and the body is not empty; never\n"
	"                  more than the body's byte length\n"
	"  output tokens = min(max tokens asked, R), R when no max is asked; 0 for\n"
	"                  embeddings. R = --reply-tokens (default 20)\n"
	"  Azure cached tokens (inside input) = 0 below 1024 input tokens, else\n"
	"                  floor(input / 2 / 128) * 128\n"
	"  Azure reasoning tokens (o-series, gpt-5; inside output) = ceil(output / 2)\n"
	"  --reply-tokens N       R above\n"
	"\n"
	"Streaming and faults:\n"
	"  --pace-ms N            pause between streamed pieces (default 2)\n"
	"  --fail KIND[:COND,...] answer matching requests with a fault (repeatable).\n"
	"                         KIND: 429 500 503 malformed truncate crc\n"
	"                         COND: n=N n=N-M n=N- route=GLOB model=GLOB times=K\n"
	"                         e.g. --fail 429:route=Converse,times=2\n"
	"\n"
	"Limits (the error a cloud gives, and the emulator keeps serving):\n"
	"  --header-timeout-ms N  whole request head within N ms (default 5000): 408\n"
	"  --body-timeout-ms N    whole body within N ms after the head (default 10000): 408\n"
	"  --idle-timeout-ms N    keep-alive idle close (default 60000)\n"
	"  --max-body BYTES       larger bodies get 413 (default 25000000)\n"
	"  Head over 64 KiB or 128 fields: 431. Garbage: 400 and close.\n"
	"\n"
	"Bill:\n"
	"  --bill F               append one JSON line per request received:\n"
	"                         n, time, conn, method, path, provider, service,\n"
	"                         operation, model, priced_model, stream, status, fault,\n"
	"                         note, input_tokens, output_tokens, cached_tokens,\n"
	"                         reasoning_tokens, cost_usd (6 decimals), cost_pico_usd\n"
	"\n"
	"  --quiet                no log lines on stderr\n"
	"  --help, --version\n"
	"\n"
	"Prints 'tokenfence-emulator: listening on 127.0.0.1:PORT' when ready; exits 0\n"
	"on SIGTERM or SIGINT after flushing the bill.\n";

enum {
	OPT_PORT = 256, OPT_PORT_FILE, OPT_CA_OUT, OPT_CERT, OPT_KEY, OPT_SAN, OPT_BILL,
	OPT_AWS_CRED, OPT_BEDROCK_KEY, OPT_AZURE_KEY, OPT_DEPLOYMENT, OPT_ALIAS, OPT_REPLY,
	OPT_PACE, OPT_FAIL, OPT_HEADER_TO, OPT_BODY_TO, OPT_IDLE_TO, OPT_MAX_BODY, OPT_MAX_CONNS,
	OPT_QUIET, OPT_HELP, OPT_VERSION,
};

static const struct option opts[] = {
	{"port", required_argument, NULL, OPT_PORT},
	{"port-file", required_argument, NULL, OPT_PORT_FILE},
	{"ca-out", required_argument, NULL, OPT_CA_OUT},
	{"cert", required_argument, NULL, OPT_CERT},
	{"key", required_argument, NULL, OPT_KEY},
	{"san", required_argument, NULL, OPT_SAN},
	{"bill", required_argument, NULL, OPT_BILL},
	{"aws-cred", required_argument, NULL, OPT_AWS_CRED},
	{"bedrock-api-key", required_argument, NULL, OPT_BEDROCK_KEY},
	{"azure-key", required_argument, NULL, OPT_AZURE_KEY},
	{"deployment", required_argument, NULL, OPT_DEPLOYMENT},
	{"bedrock-alias", required_argument, NULL, OPT_ALIAS},
	{"reply-tokens", required_argument, NULL, OPT_REPLY},
	{"pace-ms", required_argument, NULL, OPT_PACE},
	{"fail", required_argument, NULL, OPT_FAIL},
	{"header-timeout-ms", required_argument, NULL, OPT_HEADER_TO},
	{"body-timeout-ms", required_argument, NULL, OPT_BODY_TO},
	{"idle-timeout-ms", required_argument, NULL, OPT_IDLE_TO},
	{"max-body", required_argument, NULL, OPT_MAX_BODY},
	{"max-conns", required_argument, NULL, OPT_MAX_CONNS},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static void *grow(void *p, size_t n, size_t size)
{
	void *q = realloc(p, (n + 1) * size);

	if (!q) {
		fprintf(stderr, "tokenfence-emulator: out of memory\n");
		exit(1);
	}
	return q;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d) {
		fprintf(stderr, "tokenfence-emulator: out of memory\n");
		exit(1);
	}
	return d;
}

static int num(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno || end == s || *end || *out < lo || *out > hi) {
		fprintf(stderr, "tokenfence-emulator: --%s wants a number in %lld..%lld, got '%s'\n",
			opt, lo, hi, s);
		return -1;
	}
	return 0;
}

static int add_map(emu_map **v, size_t *n, const char *opt, const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || !eq[1]) {
		fprintf(stderr, "tokenfence-emulator: --%s wants NAME=MODEL, got '%s'\n", opt, s);
		return -1;
	}
	*v = grow(*v, *n, sizeof(**v));
	(*v)[*n].from = dup_n(s, (size_t)(eq - s));
	(*v)[*n].to = dup_n(eq + 1, strlen(eq + 1));
	(*n)++;
	return 0;
}

static int add_cred(emu_config *c, const char *s)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	emu_cred *e;

	if (!c1 || c1 == s || !c1[1] || c2 == c1 + 1 || (c2 && !c2[1])) {
		fprintf(stderr, "tokenfence-emulator: --aws-cred wants AKID:SECRET[:TOKEN]\n");
		return -1;
	}
	c->creds = grow(c->creds, c->ncreds, sizeof(*c->creds));
	e = &c->creds[c->ncreds++];
	e->akid = dup_n(s, (size_t)(c1 - s));
	e->secret = dup_n(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1));
	e->token = c2 ? dup_n(c2 + 1, strlen(c2 + 1)) : NULL;
	return 0;
}

int emu_config_parse(emu_config *c, int argc, char **argv)
{
	long long v;
	int o;

	memset(c, 0, sizeof(*c));
	c->bedrock_api_key = "test-bedrock-api-key";
	c->azure_key = "test-azure-key";
	c->reply_tokens = EMU_DEFAULT_REPLY_TOKENS;
	c->pace_ms = 2;
	c->header_timeout_ms = 5000;
	c->body_timeout_ms = 10000;
	c->idle_timeout_ms = 60000;
	c->max_body = 25000000;
	c->max_conns = 256;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case OPT_PORT:
			if (num("port", optarg, 0, 65535, &v))
				return -1;
			c->port = (int)v;
			break;
		case OPT_PORT_FILE: c->port_file = optarg; break;
		case OPT_CA_OUT: c->ca_out = optarg; break;
		case OPT_CERT: c->cert = optarg; break;
		case OPT_KEY: c->key = optarg; break;
		case OPT_SAN:
			c->sans = grow(c->sans, c->nsans, sizeof(*c->sans));
			c->sans[c->nsans++] = optarg;
			break;
		case OPT_BILL: c->bill = optarg; break;
		case OPT_AWS_CRED:
			if (add_cred(c, optarg))
				return -1;
			break;
		case OPT_BEDROCK_KEY: c->bedrock_api_key = optarg; break;
		case OPT_AZURE_KEY: c->azure_key = optarg; break;
		case OPT_DEPLOYMENT:
			if (add_map(&c->deployments, &c->ndeployments, "deployment", optarg))
				return -1;
			break;
		case OPT_ALIAS:
			if (add_map(&c->aliases, &c->naliases, "bedrock-alias", optarg))
				return -1;
			break;
		case OPT_REPLY:
			if (num("reply-tokens", optarg, 0, 1000000, &v))
				return -1;
			c->reply_tokens = (uint64_t)v;
			break;
		case OPT_PACE:
			if (num("pace-ms", optarg, 0, 10000, &v))
				return -1;
			c->pace_ms = (int)v;
			break;
		case OPT_FAIL: {
			char err[256];

			c->faults = grow(c->faults, c->nfaults, sizeof(*c->faults));
			if (emu_fault_parse(optarg, &c->faults[c->nfaults], err, sizeof(err))) {
				fprintf(stderr, "tokenfence-emulator: --fail %s: %s\n", optarg, err);
				return -1;
			}
			c->nfaults++;
			break;
		}
		case OPT_HEADER_TO:
			if (num("header-timeout-ms", optarg, 1, INT_MAX, &v))
				return -1;
			c->header_timeout_ms = (int)v;
			break;
		case OPT_BODY_TO:
			if (num("body-timeout-ms", optarg, 1, INT_MAX, &v))
				return -1;
			c->body_timeout_ms = (int)v;
			break;
		case OPT_IDLE_TO:
			if (num("idle-timeout-ms", optarg, 1, INT_MAX, &v))
				return -1;
			c->idle_timeout_ms = (int)v;
			break;
		case OPT_MAX_BODY:
			if (num("max-body", optarg, 0, (long long)1 << 30, &v))
				return -1;
			c->max_body = (size_t)v;
			break;
		case OPT_MAX_CONNS:
			if (num("max-conns", optarg, 1, 4096, &v))
				return -1;
			c->max_conns = (int)v;
			break;
		case OPT_QUIET: c->quiet = true; break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return 1;
		case OPT_VERSION:
			puts("tokenfence-emulator " EMU_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'tokenfence-emulator --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tokenfence-emulator: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (c->ncreds == 0 && add_cred(c, DEFAULT_AKID ":" DEFAULT_SECRET))
		return -1;
	return 0;
}

void emu_config_free(emu_config *c)
{
	for (size_t i = 0; i < c->ncreds; i++) {
		free(c->creds[i].akid);
		free(c->creds[i].secret);
		free(c->creds[i].token);
	}
	for (size_t i = 0; i < c->ndeployments; i++) {
		free(c->deployments[i].from);
		free(c->deployments[i].to);
	}
	for (size_t i = 0; i < c->naliases; i++) {
		free(c->aliases[i].from);
		free(c->aliases[i].to);
	}
	free(c->creds);
	free(c->deployments);
	free(c->aliases);
	free(c->faults);
	free(c->sans);
	memset(c, 0, sizeof(*c));
}
