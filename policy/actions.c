#include "actions.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "actions_bedrock.inc"

/*
 * The OpenAI-compatible surface of bedrock-runtime (WIRE.md §1.1, not in the
 * service model). Named InvokeModel so that a rule on a model governs it:
 * mapping it to anything else would let a profile walk around the policy.
 */
static const tf_route bedrock_runtime_extra[] = {
	{ "POST", "/openai/v1/chat/completions", "OpenAIChatCompletions", "InvokeModel", NULL,
	  TF_ACTION_INVOKE | TF_ACTION_STREAM_BY_BODY | TF_ACTION_BODY_MODEL },
	{ "POST", "/openai/v1/responses", "OpenAIResponses", "InvokeModel", NULL,
	  TF_ACTION_INVOKE | TF_ACTION_STREAM_BY_BODY | TF_ACTION_BODY_MODEL },
};

/* Route-only flags for the Azure table, never reported in tf_action.flags. */
enum {
	/* The resource is the model: the deployment in the path, else the
	 * body's model. */
	AZ_MODEL = 1u << 16,
	/* The resource is the deployment when the path has one. */
	AZ_DEPLOYMENT = 1u << 17,
	PUBLIC_FLAGS = 0xffffu,
};

#define AZ_INVOKE (TF_ACTION_INVOKE | AZ_MODEL)
#define AZ_STREAMY (AZ_INVOKE | TF_ACTION_STREAM_BY_BODY)

/* Routes after the openai[/v1][/deployments/{d}] prefix (actions.h). */
static const tf_route azure_routes[] = {
	{ "POST", "/chat/completions", "ChatCompletions", "ChatCompletions", NULL, AZ_STREAMY },
	{ "POST", "/extensions/chat/completions", "ChatCompletions", "ChatCompletions", NULL, AZ_STREAMY },
	{ "POST", "/completions", "Completions", "Completions", NULL, AZ_STREAMY },
	{ "POST", "/embeddings", "Embeddings", "Embeddings", NULL, AZ_INVOKE },
	{ "POST", "/audio/transcriptions", "AudioTranscriptions", "AudioTranscriptions", NULL, AZ_STREAMY },
	{ "POST", "/audio/translations", "AudioTranslations", "AudioTranslations", NULL, AZ_INVOKE },
	{ "POST", "/audio/speech", "AudioSpeech", "AudioSpeech", NULL, AZ_INVOKE },
	{ "POST", "/images/generations", "ImageGenerations", "ImageGenerations", NULL, AZ_STREAMY },
	{ "POST", "/images/edits", "ImageEdits", "ImageEdits", NULL, AZ_STREAMY },
	{ "POST", "/responses", "Responses", "Responses", NULL, AZ_STREAMY },
	{ "GET", "/responses/{response_id}", "GetResponse", "GetResponse", "response_id", 0 },
	{ "DELETE", "/responses/{response_id}", "DeleteResponse", "DeleteResponse", "response_id", 0 },
	{ "POST", "/responses/{response_id}/cancel", "CancelResponse", "CancelResponse", "response_id", 0 },
	{ "GET", "/responses/{response_id}/input_items", "ListResponseInputItems",
	  "ListResponseInputItems", "response_id", 0 },
	{ "POST", "/fine_tuning/jobs", "CreateFineTuningJob", "CreateFineTuningJob", NULL,
	  TF_ACTION_HIDDEN_COST },
	{ "GET", "/fine_tuning/jobs", "ListFineTuningJobs", "ListFineTuningJobs", NULL, 0 },
	{ "GET", "/fine_tuning/jobs/{job_id}", "GetFineTuningJob", "GetFineTuningJob", "job_id", 0 },
	{ "DELETE", "/fine_tuning/jobs/{job_id}", "DeleteFineTuningJob", "DeleteFineTuningJob",
	  "job_id", 0 },
	{ "POST", "/fine_tuning/jobs/{job_id}/cancel", "CancelFineTuningJob", "CancelFineTuningJob",
	  "job_id", 0 },
	{ "POST", "/fine_tuning/jobs/{job_id}/pause", "PauseFineTuningJob", "PauseFineTuningJob",
	  "job_id", 0 },
	{ "POST", "/fine_tuning/jobs/{job_id}/resume", "ResumeFineTuningJob", "ResumeFineTuningJob",
	  "job_id", TF_ACTION_HIDDEN_COST },
	{ "GET", "/fine_tuning/jobs/{job_id}/events", "ListFineTuningEvents", "ListFineTuningEvents",
	  "job_id", 0 },
	{ "GET", "/fine_tuning/jobs/{job_id}/checkpoints", "ListFineTuningCheckpoints",
	  "ListFineTuningCheckpoints", "job_id", 0 },
	{ "POST", "/files", "UploadFile", "UploadFile", NULL, 0 },
	{ "POST", "/files/import", "ImportFile", "ImportFile", NULL, 0 },
	{ "GET", "/files", "ListFiles", "ListFiles", NULL, 0 },
	{ "GET", "/files/{file_id}", "GetFile", "GetFile", "file_id", 0 },
	{ "DELETE", "/files/{file_id}", "DeleteFile", "DeleteFile", "file_id", 0 },
	{ "GET", "/files/{file_id}/content", "GetFileContent", "GetFileContent", "file_id", 0 },
	{ "POST", "/batches", "CreateBatch", "CreateBatch", NULL, AZ_DEPLOYMENT | TF_ACTION_HIDDEN_COST },
	{ "GET", "/batches", "ListBatches", "ListBatches", NULL, 0 },
	{ "GET", "/batches/{batch_id}", "GetBatch", "GetBatch", "batch_id", 0 },
	{ "POST", "/batches/{batch_id}/cancel", "CancelBatch", "CancelBatch", "batch_id", 0 },
	{ "GET", "/models", "ListModels", "ListModels", NULL, 0 },
	{ "GET", "/models/{model_id}", "GetModel", "GetModel", "model_id", 0 },
	{ "GET", "/deployments", "ListDeployments", "ListDeployments", NULL, 0 },
	{ "GET", "/deployments/{deployment_id}", "GetDeployment", "GetDeployment", "deployment_id", 0 },
};

static const char unknown_op[] = "UnknownOperation";

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *tf_bedrock_service_name(tf_bedrock_service s)
{
	switch (s) {
	case TF_BEDROCK_SVC_RUNTIME:
		return "bedrock-runtime";
	case TF_BEDROCK_SVC_CONTROL:
		return "bedrock";
	case TF_BEDROCK_SVC_AGENT_RUNTIME:
		return "bedrock-agent-runtime";
	case TF_BEDROCK_SVC_AGENT:
		return "bedrock-agent";
	case TF_BEDROCK_SVC_UNKNOWN:
		break;
	}
	return "unknown";
}

static bool span_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

tf_bedrock_service tf_bedrock_service_from_host(const char *hostport, size_t n)
{
	static const struct {
		const char *label;
		tf_bedrock_service svc;
	} kinds[] = {
		{ "bedrock-runtime", TF_BEDROCK_SVC_RUNTIME },
		{ "bedrock", TF_BEDROCK_SVC_CONTROL },
		{ "bedrock-agent-runtime", TF_BEDROCK_SVC_AGENT_RUNTIME },
		{ "bedrock-agent", TF_BEDROCK_SVC_AGENT },
	};
	const char *host, *label, *dot;
	size_t hlen, llen;
	int port;

	if (!hostport)
		return TF_BEDROCK_SVC_UNKNOWN;
	tf_hosts_split(hostport, n, &host, &hlen, &port);
	while (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	label = host;
	dot = memchr(host, '.', hlen);
	llen = dot ? (size_t)(dot - host) : hlen;
	/* PrivateLink: vpce-<id>-<suffix>[-<az>].<service>.<region>.vpce... */
	if (llen > 5 && strncasecmp(label, "vpce-", 5) == 0 && dot) {
		label = dot + 1;
		dot = memchr(label, '.', hlen - (size_t)(label - host));
		llen = dot ? (size_t)(dot - label) : hlen - (size_t)(label - host);
	}
	if (llen > 5 && strncasecmp(label + llen - 5, "-fips", 5) == 0)
		llen -= 5;
	for (size_t i = 0; i < COUNT(kinds); i++) {
		if (span_is(label, llen, kinds[i].label))
			return kinds[i].svc;
	}
	return TF_BEDROCK_SVC_UNKNOWN;
}

const tf_route *tf_action_bedrock_routes(tf_bedrock_service s, size_t *n)
{
	for (size_t i = 0; i < COUNT(tf_bedrock_tables); i++) {
		if (tf_bedrock_tables[i].service == s) {
			*n = tf_bedrock_tables[i].n;
			return tf_bedrock_tables[i].routes;
		}
	}
	*n = 0;
	return NULL;
}

static const char *const cross_region_prefixes[] = {
	"us.", "eu.", "apac.", "global.", "jp.",
	/* Not in WIRE.md; seen in AWS's inference-profile lists (unconfirmed). */
	"us-gov.", "au.", "ca.",
};

size_t tf_model_id_forms(const char *id, size_t n, size_t off[3])
{
	size_t cnt = 1, cur = 0;

	off[0] = 0;
	if (n > 4 && strncasecmp(id, "arn:", 4) == 0) {
		for (size_t i = n; i-- > 0;) {
			if (id[i] == '/') {
				if (i + 1 < n) {
					cur = i + 1;
					off[cnt++] = cur;
				}
				break;
			}
		}
	}
	for (size_t i = 0; i < COUNT(cross_region_prefixes); i++) {
		size_t pl = strlen(cross_region_prefixes[i]);
		if (n - cur > pl && strncasecmp(id + cur, cross_region_prefixes[i], pl) == 0) {
			off[cnt++] = cur + pl;
			break;
		}
	}
	return cnt;
}

const char *tf_action_model(const tf_action *a, size_t *len)
{
	if (!(a->flags & (TF_ACTION_MODEL_IN_PATH | TF_ACTION_BODY_MODEL)) || a->resource_len == 0) {
		*len = 0;
		return NULL;
	}
	*len = a->resource_len;
	return a->resource;
}

size_t tf_action_name_count(void)
{
	size_t n = COUNT(bedrock_runtime_extra) + COUNT(azure_routes) + 2;

	for (size_t i = 0; i < COUNT(tf_bedrock_tables); i++)
		n += tf_bedrock_tables[i].n;
	return n;
}

const char *tf_action_name_at(size_t i, tf_provider *provider)
{
	*provider = TF_PROVIDER_BEDROCK;
	for (size_t t = 0; t < COUNT(tf_bedrock_tables); t++) {
		if (i < tf_bedrock_tables[t].n)
			return tf_bedrock_tables[t].routes[i].action;
		i -= tf_bedrock_tables[t].n;
	}
	if (i < COUNT(bedrock_runtime_extra))
		return bedrock_runtime_extra[i].action;
	i -= COUNT(bedrock_runtime_extra);
	if (i == 0)
		return unknown_op;
	i--;
	*provider = TF_PROVIDER_AZURE;
	if (i < COUNT(azure_routes))
		return azure_routes[i].action;
	i -= COUNT(azure_routes);
	if (i == 0)
		return unknown_op;
	*provider = TF_PROVIDER_NONE;
	return NULL;
}

static int set_resource(tf_action *out, const char *s, size_t n)
{
	if (n > TF_ACTION_RESOURCE_MAX)
		return -ENAMETOOLONG;
	memcpy(out->resource, s, n);
	out->resource[n] = '\0';
	out->resource_len = n;
	return 0;
}

static int set_resource_span(tf_action *out, const tf_path *p, size_t first, size_t count)
{
	ssize_t r = tf_path_decode_span(p, first, count, out->resource, sizeof(out->resource));

	if (r < 0) {
		out->resource[0] = '\0';
		out->resource_len = 0;
		return (int)r;
	}
	out->resource_len = (size_t)r;
	return 0;
}

/* action = provider ':' name [':' resource]; resource fits by construction. */
static void build_action(tf_action *out, tf_provider p)
{
	const char *prov = tf_provider_name(p);
	size_t pl = strlen(prov), nl = strlen(out->name), o = 0;

	memcpy(out->action, prov, pl);
	o += pl;
	out->action[o++] = ':';
	memcpy(out->action + o, out->name, nl);
	o += nl;
	if (out->resource_len > 0) {
		out->action[o++] = ':';
		memcpy(out->action + o, out->resource, out->resource_len);
		o += out->resource_len;
	}
	out->action[o] = '\0';
	out->action_len = o;
}

static void set_unknown(tf_action *out, tf_provider p)
{
	out->operation = unknown_op;
	out->name = unknown_op;
	out->resource[0] = '\0';
	out->resource_len = 0;
	out->flags = 0;
	build_action(out, p);
}

static int map_bedrock(const tf_action_req *req, const tf_path *path, tf_action *out)
{
	tf_route_table tables[COUNT(tf_bedrock_tables) + 1];
	tf_bedrock_service svcs[COUNT(tables)];
	size_t nt = 0;
	tf_route_match m;
	int r = 0;

	for (size_t i = 0; i < COUNT(tf_bedrock_tables); i++) {
		tf_bedrock_service s = tf_bedrock_tables[i].service;
		if (req->service != TF_BEDROCK_SVC_UNKNOWN && req->service != s)
			continue;
		tables[nt] = (tf_route_table){ tf_bedrock_tables[i].routes, tf_bedrock_tables[i].n };
		svcs[nt++] = s;
		if (s == TF_BEDROCK_SVC_RUNTIME) {
			tables[nt] = (tf_route_table){ bedrock_runtime_extra, COUNT(bedrock_runtime_extra) };
			svcs[nt++] = s;
		}
	}
	if (!tf_route_find(tables, nt, req->method, req->method_len, path, &m))
		return TF_ACTION_UNMAPPED;
	out->operation = m.route->operation;
	out->name = m.route->action;
	out->flags = m.route->flags;
	out->service = svcs[m.table];
	if (m.count > 0)
		r = set_resource_span(out, path, m.first, m.count);
	else if ((m.route->flags & TF_ACTION_BODY_MODEL) && req->body_model)
		r = set_resource(out, req->body_model, req->body_model_len);
	return r;
}

static int map_azure(const tf_action_req *req, const tf_path *full, tf_action *out)
{
	static const tf_route_table table = { azure_routes, COUNT(azure_routes) };
	size_t k = 0, dep = 0;
	bool has_dep = false, found = false;
	tf_path tail;
	tf_route_match m;
	unsigned f;
	int r = 0;

	for (size_t i = 0; i < full->nseg && !found; i++) {
		if (tf_path_seg_is(full, i, "openai")) {
			k = i + 1;
			found = true;
		}
	}
	if (!found && full->nseg >= 3 && tf_path_seg_is(full, 0, "models"))
		k = 1;
	if (tf_path_seg_is(full, k, "v1"))
		k++;
	if (full->nseg - k >= 3 && tf_path_seg_is(full, k, "deployments")) {
		dep = k + 1;
		has_dep = true;
		k += 2;
	}
	tail.nseg = full->nseg - k;
	memcpy(tail.seg, full->seg + k, tail.nseg * sizeof(tail.seg[0]));
	memcpy(tail.seglen, full->seglen + k, tail.nseg * sizeof(tail.seglen[0]));
	tail.query = full->query;
	tail.qlen = full->qlen;
	if (!tf_route_find(&table, 1, req->method, req->method_len, &tail, &m))
		return TF_ACTION_UNMAPPED;
	f = m.route->flags;
	out->operation = m.route->operation;
	out->name = m.route->action;
	out->flags = f & PUBLIC_FLAGS;
	if (m.count > 0) {
		r = set_resource_span(out, &tail, m.first, m.count);
	} else if ((f & (AZ_MODEL | AZ_DEPLOYMENT)) && has_dep) {
		r = set_resource_span(out, full, dep, 1);
		if (f & AZ_MODEL)
			out->flags |= TF_ACTION_MODEL_IN_PATH;
	} else if (f & AZ_MODEL) {
		out->flags |= TF_ACTION_BODY_MODEL;
		if (req->body_model)
			r = set_resource(out, req->body_model, req->body_model_len);
	}
	return r;
}

int tf_action_map(const tf_action_req *req, tf_action *out)
{
	tf_path path;
	int r;

	if (!req || !out)
		return -EINVAL;
	out->service = TF_BEDROCK_SVC_UNKNOWN;
	if (req->provider != TF_PROVIDER_BEDROCK && req->provider != TF_PROVIDER_AZURE) {
		set_unknown(out, TF_PROVIDER_NONE);
		return -EINVAL;
	}
	set_unknown(out, req->provider);
	if (!req->method || !req->target || (req->body_model == NULL && req->body_model_len))
		return -EINVAL;
	if (req->body_model && memchr(req->body_model, '\0', req->body_model_len))
		return -EINVAL;
	r = tf_path_parse(req->target, req->target_len, &path);
	if (r == -EINVAL)
		return r;
	if (r < 0)
		return TF_ACTION_UNMAPPED;
	if (req->provider == TF_PROVIDER_BEDROCK)
		r = map_bedrock(req, &path, out);
	else
		r = map_azure(req, &path, out);
	if (r != 0) {
		set_unknown(out, req->provider);
		return r;
	}
	build_action(out, req->provider);
	return 0;
}
