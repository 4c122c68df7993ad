#include "hosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

static const char *const bedrock_patterns[] = {
	"bedrock*.amazonaws.com",
	"bedrock*.amazonaws.com.cn",
	"bedrock*.api.aws",
	"bedrock*.api.amazonwebservices.com.cn",
	"bedrock*.c2s.ic.gov",
	"bedrock*.sc2s.sgov.gov",
	"*.bedrock*.vpce.amazonaws.com",
};

static const char *const azure_patterns[] = {
	"*.openai.azure.com",
	"*.openai.azure.us",
	"*.openai.azure.cn",
	"*.cognitiveservices.azure.com",
	"*.services.ai.azure.com",
	"*.inference.ai.azure.com",
	"*.models.ai.azure.com",
};

const char *tf_provider_name(tf_provider p)
{
	switch (p) {
	case TF_PROVIDER_BEDROCK:
		return "bedrock";
	case TF_PROVIDER_AZURE:
		return "azure";
	case TF_PROVIDER_NONE:
		break;
	}
	return "none";
}

int tf_provider_parse(const char *s, size_t n, tf_provider *out)
{
	static const tf_provider all[] = { TF_PROVIDER_NONE, TF_PROVIDER_BEDROCK, TF_PROVIDER_AZURE };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = tf_provider_name(all[i]);
		if (strlen(name) == n && strncmp(name, s, n) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

void tf_hosts_free(tf_hosts *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->rules[i].pattern);
	free(h->rules);
	h->rules = NULL;
	h->n = 0;
}

void tf_hosts_split(const char *hp, size_t n, const char **host, size_t *hlen, int *port)
{
	const char *colon = NULL;
	size_t i;

	*port = -1;
	if (n > 0 && hp[0] == '[') {
		const char *close = memchr(hp, ']', n);
		if (!close) {
			*host = hp;
			*hlen = n;
			return;
		}
		*host = hp + 1;
		*hlen = (size_t)(close - hp) - 1;
		if ((size_t)(close - hp) + 1 < n && close[1] == ':')
			colon = close + 1;
	} else {
		for (i = n; i > 0; i--) {
			if (hp[i - 1] == ':') {
				colon = hp + i - 1;
				break;
			}
		}
		/* More than one ':' without brackets is a bare IPv6 address. */
		if (colon && memchr(hp, ':', (size_t)(colon - hp)))
			colon = NULL;
		*host = hp;
		*hlen = colon ? (size_t)(colon - hp) : n;
	}
	if (colon) {
		long v = 0;
		const char *p = colon + 1, *end = hp + n;
		if (p == end)
			return;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9' || v > 65535)
				return;
			v = v * 10 + (*p - '0');
		}
		if (v <= 65535)
			*port = (int)v;
	}
}

int tf_hosts_add(tf_hosts *h, const char *hp, size_t n, tf_provider p)
{
	const char *host;
	size_t hlen;
	int port;
	tf_host_rule *r;
	char *pat;

	tf_hosts_split(hp, n, &host, &hlen, &port);
	if (hlen == 0)
		return -EINVAL;
	pat = strndup(host, hlen);
	if (!pat)
		return -ENOMEM;
	r = realloc(h->rules, (h->n + 1) * sizeof(*r));
	if (!r) {
		free(pat);
		return -ENOMEM;
	}
	h->rules = r;
	h->rules[h->n++] = (tf_host_rule){ .pattern = pat, .port = port, .provider = p };
	return 0;
}

int tf_hosts_parse_list(tf_hosts *h, const char *spec, char *err, size_t errlen)
{
	const char *p = spec;

	while (*p) {
		const char *end = strchr(p, ',');
		const char *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		tf_provider prov;
		int r;

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0) {
			eq = memchr(p, '=', n);
			if (!eq || eq == p ||
			    tf_provider_parse(eq + 1, n - (size_t)(eq + 1 - p), &prov) < 0) {
				snprintf(err, errlen,
					 "bad host rule '%.*s': expected host[:port]=bedrock|azure|none",
					 (int)(n > 200 ? 200 : n), p);
				return -EINVAL;
			}
			r = tf_hosts_add(h, p, (size_t)(eq - p), prov);
			if (r < 0) {
				snprintf(err, errlen, "bad host rule '%.*s'",
					 (int)(n > 200 ? 200 : n), p);
				return r;
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

static int match_list(const char *const *pats, size_t n, const char *host, size_t hlen)
{
	for (size_t i = 0; i < n; i++)
		if (tf_glob_match(pats[i], strlen(pats[i]), host, hlen))
			return 1;
	return 0;
}

tf_provider tf_hosts_classify(const tf_hosts *h, const char *host, size_t hlen, int port)
{
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--; /* a fully qualified name with its root dot */
	for (size_t i = 0; h && i < h->n; i++) {
		const tf_host_rule *r = &h->rules[i];
		if (r->port >= 0 && port >= 0 && r->port != port)
			continue;
		if (tf_glob_match(r->pattern, strlen(r->pattern), host, hlen))
			return r->provider;
	}
	if (match_list(bedrock_patterns, sizeof(bedrock_patterns) / sizeof(*bedrock_patterns), host, hlen))
		return TF_PROVIDER_BEDROCK;
	if (match_list(azure_patterns, sizeof(azure_patterns) / sizeof(*azure_patterns), host, hlen))
		return TF_PROVIDER_AZURE;
	return TF_PROVIDER_NONE;
}
