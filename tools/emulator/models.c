#include "models.h"

#include <string.h>
#include <strings.h>

static bool starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

size_t emu_profile_prefix_len(const char *id)
{
	static const char *const pfx[] = {"us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.",
					  "us-gov."};

	for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++)
		if (starts(id, pfx[i]))
			return strlen(pfx[i]);
	return 0;
}

static emu_family family_of(const char *b)
{
	if (starts(b, "anthropic.claude"))
		return EMU_FAM_ANTHROPIC;
	if (starts(b, "amazon.titan-embed"))
		return EMU_FAM_TITAN_EMBED;
	if (starts(b, "amazon.titan-text") || starts(b, "amazon.titan-tg1"))
		return EMU_FAM_TITAN_TEXT;
	if (starts(b, "amazon.nova-") && !starts(b, "amazon.nova-canvas") &&
	    !starts(b, "amazon.nova-reel") && !starts(b, "amazon.nova-sonic"))
		return EMU_FAM_NOVA;
	if (starts(b, "meta.llama"))
		return EMU_FAM_LLAMA;
	if (starts(b, "mistral."))
		return EMU_FAM_MISTRAL;
	if (starts(b, "cohere.command-r"))
		return EMU_FAM_COHERE_CHAT;
	if (starts(b, "cohere.command"))
		return EMU_FAM_COHERE_TEXT;
	if (starts(b, "cohere.embed"))
		return EMU_FAM_COHERE_EMBED;
	return EMU_FAM_NONE;
}

bool emu_family_is_embedding(emu_family f)
{
	return f == EMU_FAM_TITAN_EMBED || f == EMU_FAM_COHERE_EMBED;
}

int emu_bedrock_embed_dims(const char *base)
{
	if (starts(base, "amazon.titan-embed-text-v2"))
		return 1024;
	if (starts(base, "amazon.titan-embed"))
		return 1536;
	return 1024; /* cohere embed v3 */
}

static const char *alias_of(const char *id, const emu_map *a, size_t n)
{
	const char *slash = strrchr(id, '/');

	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].from, id) == 0 || (slash && strcmp(a[i].from, slash + 1) == 0))
			return a[i].to;
	return NULL;
}

static bool copy(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);

	if (n + 1 > outlen)
		return false;
	memcpy(out, s, n + 1);
	return true;
}

emu_family emu_bedrock_model(const char *id, const emu_map *aliases, size_t naliases, char *base,
			     size_t baselen)
{
	const char *a = alias_of(id, aliases, naliases), *p = id;

	if (a)
		p = a;
	else if (starts(id, "arn:")) {
		const char *fm = strstr(id, ":foundation-model/");
		const char *ip = strstr(id, ":inference-profile/");

		if (fm)
			p = fm + strlen(":foundation-model/");
		else if (ip)
			p = ip + strlen(":inference-profile/");
		else
			return EMU_FAM_NONE;
	}
	p += emu_profile_prefix_len(p);
	if (!copy(base, baselen, p))
		return EMU_FAM_NONE;
	return family_of(base);
}

/* Azure base models: name, the dated name Azure reports, kind, reasoning, dims. */
static const struct az_known {
	const char *name;
	const char *reported;
	emu_az_kind kind;
	bool reasoning;
	int dims;
} az_known[] = {
	{"gpt-4o", "gpt-4o-2024-11-20", EMU_AZ_CHAT, false, 0},
	{"gpt-4o-mini", "gpt-4o-mini-2024-07-18", EMU_AZ_CHAT, false, 0},
	{"gpt-4.1", "gpt-4.1-2025-04-14", EMU_AZ_CHAT, false, 0},
	{"gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", EMU_AZ_CHAT, false, 0},
	{"gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", EMU_AZ_CHAT, false, 0},
	{"gpt-35-turbo", "gpt-35-turbo", EMU_AZ_CHAT, false, 0},
	{"gpt-5", "gpt-5-2025-08-07", EMU_AZ_CHAT, true, 0},
	{"gpt-5-mini", "gpt-5-mini-2025-08-07", EMU_AZ_CHAT, true, 0},
	{"o1", "o1-2024-12-17", EMU_AZ_CHAT, true, 0},
	{"o3", "o3-2025-04-16", EMU_AZ_CHAT, true, 0},
	{"o3-mini", "o3-mini-2025-01-31", EMU_AZ_CHAT, true, 0},
	{"o4-mini", "o4-mini-2025-04-16", EMU_AZ_CHAT, true, 0},
	{"gpt-35-turbo-instruct", "gpt-35-turbo-instruct", EMU_AZ_COMPLETION, false, 0},
	{"text-embedding-3-small", "text-embedding-3-small", EMU_AZ_EMBEDDING, false, 1536},
	{"text-embedding-3-large", "text-embedding-3-large", EMU_AZ_EMBEDDING, false, 3072},
	{"text-embedding-ada-002", "text-embedding-ada-002", EMU_AZ_EMBEDDING, false, 1536},
};

const char *emu_azure_known_model(size_t i)
{
	return i < sizeof(az_known) / sizeof(az_known[0]) ? az_known[i].name : NULL;
}

/* Length without a trailing "-YYYY-MM-DD". */
static size_t undated_len(const char *s)
{
	size_t n = strlen(s);
	static const char shape[] = "-dddd-dd-dd";

	if (n <= 11)
		return n;
	for (size_t i = 0; i < 11; i++) {
		char c = s[n - 11 + i];

		if (shape[i] == 'd' ? (c < '0' || c > '9') : c != '-')
			return n;
	}
	return n - 11;
}

static bool azure_lookup(const char *model, emu_az_model *out)
{
	size_t n = undated_len(model);

	for (size_t i = 0; i < sizeof(az_known) / sizeof(az_known[0]); i++) {
		const struct az_known *k = &az_known[i];

		if (strlen(k->name) != n || strncasecmp(k->name, model, n) != 0)
			continue;
		/* A dated name is reported as given; a bare one as Azure's current version. */
		if (!copy(out->model, sizeof(out->model), n == strlen(model) ? k->reported : model))
			return false;
		out->kind = k->kind;
		out->reasoning = k->reasoning;
		out->embed_dims = k->dims;
		return true;
	}
	return false;
}

bool emu_azure_deployment(const char *deployment, const emu_map *deps, size_t ndeps,
			  emu_az_model *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ndeps; i++) {
		if (strcmp(deps[i].from, deployment) != 0)
			continue;
		if (azure_lookup(deps[i].to, out))
			return true;
		/* A model we do not know: serve it as a chat model under its own name. */
		if (!copy(out->model, sizeof(out->model), deps[i].to))
			return false;
		out->kind = strstr(deps[i].to, "embedding") ? EMU_AZ_EMBEDDING : EMU_AZ_CHAT;
		out->embed_dims = 1536;
		return true;
	}
	return azure_lookup(deployment, out);
}

static const char *const bedrock_known[] = {
	"anthropic.claude-3-haiku-20240307-v1:0",
	"anthropic.claude-3-5-haiku-20241022-v1:0",
	"anthropic.claude-3-5-sonnet-20241022-v2:0",
	"anthropic.claude-3-7-sonnet-20250219-v1:0",
	"anthropic.claude-sonnet-4-20250514-v1:0",
	"amazon.titan-text-lite-v1",
	"amazon.titan-text-express-v1",
	"amazon.titan-text-premier-v1:0",
	"amazon.titan-embed-text-v2:0",
	"amazon.nova-micro-v1:0",
	"amazon.nova-lite-v1:0",
	"amazon.nova-pro-v1:0",
	"meta.llama3-1-8b-instruct-v1:0",
	"meta.llama3-1-70b-instruct-v1:0",
	"meta.llama3-3-70b-instruct-v1:0",
	"mistral.mistral-7b-instruct-v0:2",
	"mistral.mistral-large-2402-v1:0",
	"mistral.mistral-large-2407-v1:0",
	"cohere.command-r-v1:0",
	"cohere.command-r-plus-v1:0",
	"cohere.command-text-v14",
	"cohere.embed-english-v3",
};

const char *emu_bedrock_known_model(size_t i)
{
	return i < sizeof(bedrock_known) / sizeof(bedrock_known[0]) ? bedrock_known[i] : NULL;
}
