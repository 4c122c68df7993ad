/*
 * Which TLS peers are LLM providers we guard.
 *
 * A connection is classified once, from its SNI or its first Host header.
 * User rules (TOKENFENCE_HOSTS / config "hosts") are tried first, in order,
 * then the built-in patterns for the public Bedrock and Azure OpenAI hosts
 * (reference/WIRE.md §1.1, §3, §4.1). A user rule may map a host to "none"
 * to leave it unguarded. Host patterns are tf_glob patterns, case-insensitive.
 */
#ifndef TF_HOSTS_H
#define TF_HOSTS_H

#include <stddef.h>

typedef enum tf_provider {
	TF_PROVIDER_NONE = 0,
	TF_PROVIDER_BEDROCK,
	TF_PROVIDER_AZURE,
} tf_provider;

const char *tf_provider_name(tf_provider p);
/* Parses "bedrock" | "azure" | "none"; returns 0 or -EINVAL. */
int tf_provider_parse(const char *s, size_t n, tf_provider *out);

typedef struct tf_host_rule {
	char *pattern;
	int port; /* -1: any port */
	tf_provider provider;
} tf_host_rule;

typedef struct tf_hosts {
	tf_host_rule *rules;
	size_t n;
} tf_hosts;

void tf_hosts_free(tf_hosts *h);
/* Adds one rule; pattern is "host" or "host:port" (IPv6 in brackets). */
int tf_hosts_add(tf_hosts *h, const char *hostport, size_t n, tf_provider p);
/*
 * Parses "host[:port]=provider,…" and appends the rules. On error returns
 * -EINVAL and writes a one-line reason naming the offending item to err.
 */
int tf_hosts_parse_list(tf_hosts *h, const char *spec, char *err, size_t errlen);

/* Splits "host", "host:port", "[v6]" or "[v6]:port"; port -1 when absent. */
void tf_hosts_split(const char *hostport, size_t n, const char **host,
		    size_t *hlen, int *port);

/* port -1 when unknown (SNI only): then rules with a port match any port. */
tf_provider tf_hosts_classify(const tf_hosts *h, const char *host, size_t hlen, int port);

#endif
