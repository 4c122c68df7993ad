/*
 * Policy action names: which provider operation a request performs.
 *
 * An action is `provider:Operation[:resource]` (DESIGN.md §4). The resource
 * is percent-decoded once from the path (or, for the operations flagged
 * TF_ACTION_BODY_MODEL, is the model the caller read from the JSON body).
 *
 * Bedrock (reference/WIRE.md §1.2, §3): the route table is generated from the
 * botocore service models by tools/gen-actions.py into actions_bedrock.inc
 * (bedrock-runtime, the control plane `bedrock`, bedrock-agent-runtime, and
 * bedrock-agent when its model is present). Action names are IAM names:
 * the operation name, except Converse -> InvokeModel, ConverseStream ->
 * InvokeModelWithResponseStream, StartAsyncInvoke -> InvokeModel (resource:
 * the body's modelId), RetrieveAndGenerateStream -> RetrieveAndGenerate.
 * The resource is the route's first label (modelId, knowledgeBaseId,
 * jobIdentifier, guardrailIdentifier, policyArn, agentId, flowIdentifier,
 * sessionIdentifier, ...); InvokeInlineAgent's is the body's foundationModel.
 * Two hand-listed runtime routes, the OpenAI-compatible surface (WIRE.md
 * §1.1, unconfirmed IAM mapping), are named InvokeModel so a model rule
 * governs them too: POST /openai/v1/chat/completions (operation
 * "OpenAIChatCompletions") and POST /openai/v1/responses ("OpenAIResponses"),
 * model from the body.
 * Examples: bedrock:InvokeModel:us.anthropic.claude-3-5-sonnet-20241022-v2:0,
 * bedrock:CreateModelCustomizationJob, bedrock:Retrieve:KB12345678.
 *
 * Azure OpenAI (reference/WIRE.md §4.2). Paths are read from the first
 * `openai` segment on (anything before it, e.g. an APIM prefix, is
 * ignored), else from a leading `models` segment (AI Foundry inference API),
 * else as they are; then an optional `v1` segment and an optional
 * `deployments/{deployment}` pair are consumed, and the rest is the route.
 * The query (api-version) is not read. Action names, resource in brackets:
 *   model invocations, resource = deployment (path) or else the body's model:
 *     ChatCompletions (also extensions/chat/completions), Completions,
 *     Embeddings, AudioTranscriptions, AudioTranslations, AudioSpeech,
 *     ImageGenerations, ImageEdits, Responses
 *   responses:    GetResponse[id] DeleteResponse[id] CancelResponse[id]
 *                 ListResponseInputItems[id]
 *   fine-tuning:  CreateFineTuningJob ListFineTuningJobs GetFineTuningJob[id]
 *                 DeleteFineTuningJob[id] CancelFineTuningJob[id]
 *                 PauseFineTuningJob[id] ResumeFineTuningJob[id]
 *                 ListFineTuningEvents[id] ListFineTuningCheckpoints[id]
 *   files:        UploadFile ImportFile ListFiles GetFile[id] DeleteFile[id]
 *                 GetFileContent[id]
 *   batches:      CreateBatch[deployment, when in the path] ListBatches
 *                 GetBatch[id] CancelBatch[id]
 *   models:       ListModels GetModel[id]
 *   deployments:  ListDeployments GetDeployment[id]
 * e.g. azure:ChatCompletions:gpt-4o-mini, azure:CreateFineTuningJob.
 *
 * A request no route matches gets `<provider>:UnknownOperation` and the
 * return value TF_ACTION_UNMAPPED, so a policy can deny it by name.
 */
#ifndef TF_ACTIONS_H
#define TF_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "hosts.h"
#include "routes.h"

/* Which Bedrock API a host serves (they share the SigV4 name "bedrock"). */
typedef enum tf_bedrock_service {
	TF_BEDROCK_SVC_UNKNOWN = 0, /* custom endpoint, emulator: decided by path shape */
	TF_BEDROCK_SVC_RUNTIME,
	TF_BEDROCK_SVC_CONTROL,
	TF_BEDROCK_SVC_AGENT_RUNTIME,
	TF_BEDROCK_SVC_AGENT,
} tf_bedrock_service;

/*
 * Classifies a Host header or SNI value ("host" or "host:port", trailing dot
 * allowed) by its first DNS label, `-fips` ignored: bedrock-runtime,
 * bedrock, bedrock-agent-runtime, bedrock-agent. For PrivateLink names
 * (vpce-<id>-<suffix>.<service>.<region>.vpce.amazonaws.com) the second
 * label is used. Anything else (including bedrock-mantle) is UNKNOWN.
 */
tf_bedrock_service tf_bedrock_service_from_host(const char *host, size_t n);
const char *tf_bedrock_service_name(tf_bedrock_service s);

/* Facts about an operation (tf_action.flags). */
enum {
	/* Runs a model now, bills tokens, and the response reports them. */
	TF_ACTION_INVOKE = 1u << 0,
	/* The response is a stream because of the route (event-stream). */
	TF_ACTION_STREAM = 1u << 1,
	/* The response streams iff the JSON body has "stream": true (Azure). */
	TF_ACTION_STREAM_BY_BODY = 1u << 2,
	/* The resource is the model id, taken from the path (modelId label,
	 * Azure deployment segment). */
	TF_ACTION_MODEL_IN_PATH = 1u << 3,
	/* The resource is the model the body names (req.body_model). */
	TF_ACTION_BODY_MODEL = 1u << 4,
	/* Makes the provider bill model usage, capacity or jobs that the
	 * response does not report (async/batch jobs, agents, RAG, fine-tuning,
	 * provisioned throughput). */
	TF_ACTION_HIDDEN_COST = 1u << 5,
};

/* Decoded resource bound: the models cap every label at 2048 bytes. */
#define TF_ACTION_RESOURCE_MAX 2048
#define TF_ACTION_MAX (TF_ACTION_RESOURCE_MAX + 128)

/* Returned (positive) when no route matches: action is "<p>:UnknownOperation". */
#define TF_ACTION_UNMAPPED 1

typedef struct tf_action_req {
	tf_provider provider; /* BEDROCK or AZURE */
	tf_bedrock_service service; /* Bedrock only; UNKNOWN tries every table */
	const char *method;
	size_t method_len;
	const char *target; /* raw request-target: percent-encoded path + query */
	size_t target_len;
	/*
	 * The first string among the body's top-level "modelId", "model",
	 * "foundationModel" (as a JSON string, unescaped), or NULL. Read only by
	 * operations flagged TF_ACTION_BODY_MODEL; map once without it to learn
	 * whether the body is needed.
	 */
	const char *body_model;
	size_t body_model_len;
} tf_action_req;

typedef struct tf_action {
	char action[TF_ACTION_MAX]; /* NUL-terminated */
	size_t action_len;
	const char *operation; /* static: "Converse", "ChatCompletions", "UnknownOperation" */
	const char *name;      /* static: the name in the action, "InvokeModel" */
	char resource[TF_ACTION_RESOURCE_MAX + 1]; /* NUL-terminated, may be "" */
	size_t resource_len;
	tf_bedrock_service service; /* the table that matched (Bedrock) */
	unsigned flags;             /* TF_ACTION_* */
} tf_action;

/*
 * Maps a request to its action. Returns 0 when a route matched,
 * TF_ACTION_UNMAPPED when none did or the path has more than
 * TF_PATH_MAX_SEGS segments (out is still filled), -EINVAL for a bad request
 * (provider NONE, NULL spans, a control byte or space in the target, a NUL
 * in body_model), -ENAMETOOLONG when the resource exceeds
 * TF_ACTION_RESOURCE_MAX. On a negative return out->action is
 * "<provider>:UnknownOperation" but the request must not be treated as that:
 * the caller applies its fail mode (never a silent allow).
 */
int tf_action_map(const tf_action_req *req, tf_action *out);

/* The model the operation runs: the resource when flagged MODEL_IN_PATH or
 * BODY_MODEL and non-empty, else NULL. */
const char *tf_action_model(const tf_action *a, size_t *len);

/* Every action name the mapper can produce (for pattern validation and the
 * CLI): index i < tf_action_name_count(); sets *provider. */
size_t tf_action_name_count(void);
const char *tf_action_name_at(size_t i, tf_provider *provider);

/* The generated Bedrock table for one service (n = 0 when absent). */
const tf_route *tf_action_bedrock_routes(tf_bedrock_service s, size_t *n);

/*
 * Model-id spellings of one Bedrock model, as offsets into id (each form is
 * a suffix of id): the raw id; for an ARN, what follows its last '/' (the
 * profile or model id); then that without a cross-region prefix (us., eu.,
 * apac., global., jp., and the unconfirmed us-gov., au., ca.). Returns the
 * number of distinct forms (1..3), longest first; off[0] is always 0.
 */
size_t tf_model_id_forms(const char *id, size_t n, size_t off[3]);

#endif
