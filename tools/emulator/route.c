#include "route.h"

#include <string.h>
#include <strings.h>

#include "ascii.h"

enum { MAX_SEGS = 8 };

typedef struct seg {
	const char *p;
	size_t n;
} seg;

bool emu_pct_decode(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		int hi, lo;

		if (c == '%' && i + 2 < n && (hi = tf_hexval(p[i + 1])) >= 0 &&
		    (lo = tf_hexval(p[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= outlen)
			return false;
		out[o++] = c;
	}
	if (outlen == 0)
		return false;
	out[o] = '\0';
	return true;
}

static bool seg_is(const seg *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->n == n && memcmp(s->p, lit, n) == 0;
}

static bool method_is(const char *m, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n == l && memcmp(m, lit, l) == 0;
}

/* Splits the path into segments; a trailing '/' adds nothing. Returns the
 * count, or MAX_SEGS + 1 when there are more. */
static size_t split_path(const char *path, size_t n, seg *out)
{
	size_t k = 0, i = 0;

	if (n == 0 || path[0] != '/')
		return MAX_SEGS + 1;
	i = 1;
	while (i < n) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		if (k == MAX_SEGS)
			return MAX_SEGS + 1;
		out[k].p = path + i;
		out[k].n = j - i;
		k++;
		i = j + 1;
	}
	if (k && out[k - 1].n == 0)
		k--;
	return k;
}

static void set(emu_route *r, emu_op op, const char *service, const char *operation)
{
	r->op = op;
	r->service = service;
	r->operation = operation;
}

static void set_id(emu_route *r, const seg *s)
{
	if (s->n == 0 || !emu_pct_decode(s->p, s->n, r->id, sizeof(r->id))) {
		r->id[0] = '\0';
		r->id_truncated = s->n != 0;
	}
}

static void route_bedrock(const char *m, size_t ml, const seg *s, size_t k, emu_route *r)
{
	bool post = method_is(m, ml, "POST"), get = method_is(m, ml, "GET");

	r->provider = EMU_PROV_BEDROCK;
	if (k == 3 && seg_is(&s[0], "model") && post) {
		static const struct {
			const char *name;
			emu_op op;
			const char *operation;
			bool stream;
		} ops[] = {
			{"invoke", EMU_OP_INVOKE, "InvokeModel", false},
			{"invoke-with-response-stream", EMU_OP_INVOKE_STREAM,
			 "InvokeModelWithResponseStream", true},
			{"converse", EMU_OP_CONVERSE, "Converse", false},
			{"converse-stream", EMU_OP_CONVERSE_STREAM, "ConverseStream", true},
			{"count-tokens", EMU_OP_COUNT_TOKENS, "CountTokens", false},
		};

		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			if (seg_is(&s[2], ops[i].name)) {
				set(r, ops[i].op, "bedrock-runtime", ops[i].operation);
				r->stream = ops[i].stream;
				set_id(r, &s[1]);
				return;
			}
		}
		return;
	}
	if (k >= 1 && seg_is(&s[0], "model-customization-jobs")) {
		if (k == 1 && post)
			set(r, EMU_OP_CREATE_CUSTOMIZATION_JOB, "bedrock", "CreateModelCustomizationJob");
		else if (k == 1 && get)
			set(r, EMU_OP_LIST_CUSTOMIZATION_JOBS, "bedrock", "ListModelCustomizationJobs");
		else if (k == 2 && get) {
			set(r, EMU_OP_GET_CUSTOMIZATION_JOB, "bedrock", "GetModelCustomizationJob");
			set_id(r, &s[1]);
		}
		return;
	}
	if (k >= 1 && seg_is(&s[0], "provisioned-model-throughput")) {
		if (k == 1 && post)
			set(r, EMU_OP_CREATE_PROVISIONED, "bedrock", "CreateProvisionedModelThroughput");
		else if (k == 2 && get)
			set(r, EMU_OP_GET_PROVISIONED, "bedrock", "GetProvisionedModelThroughput");
		else if (k == 2 && method_is(m, ml, "DELETE"))
			set(r, EMU_OP_DELETE_PROVISIONED, "bedrock", "DeleteProvisionedModelThroughput");
		if (k == 2)
			set_id(r, &s[1]);
		return;
	}
	if (k == 1 && seg_is(&s[0], "provisioned-model-throughputs") && get) {
		set(r, EMU_OP_LIST_PROVISIONED, "bedrock", "ListProvisionedModelThroughputs");
		return;
	}
	if (k >= 1 && seg_is(&s[0], "foundation-models") && get) {
		if (k == 1)
			set(r, EMU_OP_LIST_FOUNDATION_MODELS, "bedrock", "ListFoundationModels");
		else if (k == 2) {
			set(r, EMU_OP_GET_FOUNDATION_MODEL, "bedrock", "GetFoundationModel");
			set_id(r, &s[1]);
		}
		return;
	}
	if (k == 3 && seg_is(&s[0], "knowledgebases") && seg_is(&s[2], "retrieve") && post) {
		set(r, EMU_OP_RETRIEVE, "bedrock-agent-runtime", "Retrieve");
		set_id(r, &s[1]);
		return;
	}
	if (k == 1 && seg_is(&s[0], "retrieveAndGenerate") && post)
		set(r, EMU_OP_RETRIEVE_AND_GENERATE, "bedrock-agent-runtime", "RetrieveAndGenerate");
}

/* s[0] is "openai". */
static void route_azure(const char *m, size_t ml, const seg *s, size_t k, emu_route *r)
{
	bool post = method_is(m, ml, "POST"), get = method_is(m, ml, "GET");
	const seg *t;
	size_t tk;

	r->provider = EMU_PROV_AZURE;
	r->service = "azure-openai";
	if (k == 4 && seg_is(&s[1], "deployments") && post) {
		if (seg_is(&s[3], "completions"))
			set(r, EMU_OP_AZ_COMPLETIONS, "azure-openai", "Completions");
		else if (seg_is(&s[3], "embeddings"))
			set(r, EMU_OP_AZ_EMBEDDINGS, "azure-openai", "Embeddings");
		if (r->op != EMU_OP_NONE)
			set_id(r, &s[2]);
		return;
	}
	if (k == 5 && seg_is(&s[1], "deployments") && seg_is(&s[3], "chat") &&
	    seg_is(&s[4], "completions") && post) {
		set(r, EMU_OP_AZ_CHAT, "azure-openai", "ChatCompletions");
		set_id(r, &s[2]);
		return;
	}
	/* The rest exist both as /openai/X and /openai/v1/X. */
	t = s + 1;
	tk = k - 1;
	if (tk >= 1 && seg_is(&t[0], "v1")) {
		r->azure_v1 = true;
		t++;
		tk--;
	}
	if (tk == 2 && r->azure_v1 && seg_is(&t[0], "chat") && seg_is(&t[1], "completions") && post)
		set(r, EMU_OP_AZ_CHAT, "azure-openai", "ChatCompletions");
	else if (tk == 1 && r->azure_v1 && seg_is(&t[0], "completions") && post)
		set(r, EMU_OP_AZ_COMPLETIONS, "azure-openai", "Completions");
	else if (tk == 1 && r->azure_v1 && seg_is(&t[0], "embeddings") && post)
		set(r, EMU_OP_AZ_EMBEDDINGS, "azure-openai", "Embeddings");
	else if (tk == 1 && seg_is(&t[0], "responses") && post)
		set(r, EMU_OP_AZ_RESPONSES, "azure-openai", "Responses");
	else if (tk == 2 && seg_is(&t[0], "fine_tuning") && seg_is(&t[1], "jobs") && post)
		set(r, EMU_OP_AZ_FT_CREATE, "azure-openai", "CreateFineTuningJob");
	else if (tk == 2 && seg_is(&t[0], "fine_tuning") && seg_is(&t[1], "jobs") && get)
		set(r, EMU_OP_AZ_FT_LIST, "azure-openai", "ListFineTuningJobs");
	else if (tk == 3 && seg_is(&t[0], "fine_tuning") && seg_is(&t[1], "jobs") && get) {
		set(r, EMU_OP_AZ_FT_GET, "azure-openai", "GetFineTuningJob");
		set_id(r, &t[2]);
	} else if (tk == 1 && seg_is(&t[0], "files") && post)
		set(r, EMU_OP_AZ_FILES_CREATE, "azure-openai", "UploadFile");
	else if (tk == 1 && seg_is(&t[0], "files") && get)
		set(r, EMU_OP_AZ_FILES_LIST, "azure-openai", "ListFiles");
	else if (tk == 1 && seg_is(&t[0], "batches") && post)
		set(r, EMU_OP_AZ_BATCH_CREATE, "azure-openai", "CreateBatch");
	else if (tk == 1 && seg_is(&t[0], "batches") && get)
		set(r, EMU_OP_AZ_BATCH_LIST, "azure-openai", "ListBatches");
	else if (tk == 1 && seg_is(&t[0], "models") && get)
		set(r, EMU_OP_AZ_MODELS_LIST, "azure-openai", "ListModels");
}

static bool has_suffix_ci(const char *h, size_t n, const char *suf)
{
	size_t l = strlen(suf);

	return n >= l && strncasecmp(h + n - l, suf, l) == 0;
}

/* An Azure host name (port ignored), for the error style of unknown paths. */
static bool azure_host(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h[i] == ':') {
			n = i;
			break;
		}
	}
	return has_suffix_ci(h, n, ".openai.azure.com") ||
	       has_suffix_ci(h, n, ".cognitiveservices.azure.com") ||
	       has_suffix_ci(h, n, ".services.ai.azure.com");
}

static bool query_has_api_version(const char *q, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && q[j] != '&')
			j++;
		if (j - i >= 12 && memcmp(q + i, "api-version=", 12) == 0 && j - i > 12)
			return true;
		i = j + 1;
	}
	return false;
}

void emu_route_request(const char *method, size_t method_len, const char *target,
		       size_t target_len, const char *host, size_t host_len, emu_route *out)
{
	seg s[MAX_SEGS];
	size_t plen = 0, k;

	memset(out, 0, sizeof(*out));
	out->operation = "Unknown";
	out->service = "unknown";
	while (plen < target_len && target[plen] != '?')
		plen++;
	if (plen < target_len)
		out->has_api_version =
			query_has_api_version(target + plen + 1, target_len - plen - 1);
	k = split_path(target, plen, s);
	if (k >= 1 && k <= MAX_SEGS && seg_is(&s[0], "openai")) {
		route_azure(method, method_len, s, k, out);
		return;
	}
	if (k <= MAX_SEGS)
		route_bedrock(method, method_len, s, k, out);
	if (out->op == EMU_OP_NONE)
		out->provider = host && azure_host(host, host_len) ? EMU_PROV_AZURE : EMU_PROV_BEDROCK;
}
