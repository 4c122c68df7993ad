#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "actions.h"

#define B TF_PROVIDER_BEDROCK
#define AZ TF_PROVIDER_AZURE
#define RT TF_BEDROCK_SVC_RUNTIME
#define CP TF_BEDROCK_SVC_CONTROL
#define AR TF_BEDROCK_SVC_AGENT_RUNTIME
#define UNK TF_BEDROCK_SVC_UNKNOWN
#define INV TF_ACTION_INVOKE
#define STR TF_ACTION_STREAM
#define SBB TF_ACTION_STREAM_BY_BODY
#define MIP TF_ACTION_MODEL_IN_PATH
#define BM TF_ACTION_BODY_MODEL
#define HID TF_ACTION_HIDDEN_COST

#define ARN_PROFILE "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F" \
		    "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
#define ARN_PROFILE_DEC "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" \
			"us.anthropic.claude-3-5-sonnet-20241022-v2:0"

struct action_case {
	int provider;
	int service;      /* the host's kind (Bedrock) */
	char method[8];
	char target[200];
	char body_model[48];
	int rc;
	char action[200];
	char op[48];
	int got_service;  /* the table that matched (Bedrock) */
	unsigned flags;
};

static struct action_case cases[] = {
	/* bedrock-runtime: ids as botocore (%3A, %2F), the Anthropic SDK (raw ':'), raw '/' */
	{ B, RT, "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", "", 0,
	  "bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", "InvokeModel", RT, INV | MIP },
	{ B, RT, "POST", "/model/us.anthropic.claude-3-5-haiku-20241022-v1:0/invoke", "", 0,
	  "bedrock:InvokeModel:us.anthropic.claude-3-5-haiku-20241022-v1:0", "InvokeModel", RT, INV | MIP },
	{ B, RT, "POST", "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse", "", 0,
	  "bedrock:InvokeModel:us.anthropic.claude-3-5-sonnet-20241022-v2:0", "Converse", RT, INV | MIP },
	{ B, RT, "POST", "/model/amazon.nova-lite-v1%3A0/converse-stream", "", 0,
	  "bedrock:InvokeModelWithResponseStream:amazon.nova-lite-v1:0", "ConverseStream", RT,
	  INV | STR | MIP },
	{ B, RT, "POST", "/model/" ARN_PROFILE "/invoke-with-response-stream", "", 0,
	  "bedrock:InvokeModelWithResponseStream:" ARN_PROFILE_DEC, "InvokeModelWithResponseStream", RT,
	  INV | STR | MIP },
	{ B, RT, "POST", "/model/" ARN_PROFILE_DEC "/invoke", "", 0,
	  "bedrock:InvokeModel:" ARN_PROFILE_DEC, "InvokeModel", RT, INV | MIP },
	{ B, RT, "POST", "/model/meta.llama3-8b-instruct-v1%3A0/count-tokens", "", 0,
	  "bedrock:CountTokens:meta.llama3-8b-instruct-v1:0", "CountTokens", RT, MIP },
	{ B, RT, "POST", "/model/x/invoke-with-bidirectional-stream", "", 0,
	  "bedrock:InvokeModelWithBidirectionalStream:x", "InvokeModelWithBidirectionalStream", RT,
	  INV | STR | MIP },
	{ B, RT, "POST", "/async-invoke", "amazon.nova-reel-v1:0", 0,
	  "bedrock:InvokeModel:amazon.nova-reel-v1:0", "StartAsyncInvoke", RT, BM | HID },
	{ B, RT, "POST", "/async-invoke", "", 0, "bedrock:InvokeModel", "StartAsyncInvoke", RT, BM | HID },
	{ B, RT, "GET", "/async-invoke?maxResults=10&sortOrder=Descending", "", 0,
	  "bedrock:ListAsyncInvokes", "ListAsyncInvokes", RT, 0 },
	{ B, RT, "GET", "/async-invoke/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aasync-invoke%2Fab12", "", 0,
	  "bedrock:GetAsyncInvoke:arn:aws:bedrock:us-east-1:1:async-invoke/ab12", "GetAsyncInvoke", RT, 0 },
	{ B, RT, "POST", "/guardrail/gr0abc/version/DRAFT/apply", "", 0,
	  "bedrock:ApplyGuardrail:gr0abc", "ApplyGuardrail", RT, 0 },
	{ B, RT, "POST", "/guardrail-checks/invoke", "", 0,
	  "bedrock:InvokeGuardrailChecks", "InvokeGuardrailChecks", RT, 0 },
	{ B, RT, "POST", "/openai/v1/chat/completions", "openai.gpt-oss-120b-1:0", 0,
	  "bedrock:InvokeModel:openai.gpt-oss-120b-1:0", "OpenAIChatCompletions", RT, INV | SBB | BM },
	{ B, RT, "POST", "/openai/v1/responses", "openai.gpt-oss-20b-1:0", 0,
	  "bedrock:InvokeModel:openai.gpt-oss-20b-1:0", "OpenAIResponses", RT, INV | SBB | BM },
	/* spelling must not move a request out of its operation */
	{ B, RT, "POST", "/model/anthropic.claude-3-haiku/../anthropic.claude-3-5-sonnet/invoke", "", 0,
	  "bedrock:InvokeModel:anthropic.claude-3-5-sonnet", "InvokeModel", RT, INV | MIP },
	{ B, RT, "POST", "/MODEL/x//INVOKE/", "", 0, "bedrock:InvokeModel:x", "InvokeModel", RT, INV | MIP },
	{ B, RT, "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%2Ex/%69nvoke", "", 0,
	  "bedrock:InvokeModel:m.x", "InvokeModel", RT, INV | MIP },
	{ B, RT, "GET", "/model/x/invoke", "", TF_ACTION_UNMAPPED, "bedrock:UnknownOperation",
	  "UnknownOperation", UNK, 0 },
	{ B, RT, "POST", "/model-customization-jobs", "", TF_ACTION_UNMAPPED, "bedrock:UnknownOperation",
	  "UnknownOperation", UNK, 0 },
	/* control plane */
	{ B, CP, "POST", "/model-customization-jobs", "", 0, "bedrock:CreateModelCustomizationJob",
	  "CreateModelCustomizationJob", CP, HID },
	{ B, CP, "POST", "/model-customization-jobs/job-1/stop", "", 0,
	  "bedrock:StopModelCustomizationJob:job-1", "StopModelCustomizationJob", CP, 0 },
	{ B, CP, "POST", "/provisioned-model-throughput", "", 0, "bedrock:CreateProvisionedModelThroughput",
	  "CreateProvisionedModelThroughput", CP, HID },
	{ B, CP, "DELETE", "/provisioned-model-throughput/my-pt", "", 0,
	  "bedrock:DeleteProvisionedModelThroughput:my-pt", "DeleteProvisionedModelThroughput", CP, 0 },
	{ B, CP, "GET", "/provisioned-model-throughputs?maxResults=5", "", 0,
	  "bedrock:ListProvisionedModelThroughputs", "ListProvisionedModelThroughputs", CP, 0 },
	{ B, CP, "GET", "/foundation-models/anthropic.claude-3-haiku-20240307-v1%3A0", "", 0,
	  "bedrock:GetFoundationModel:anthropic.claude-3-haiku-20240307-v1:0", "GetFoundationModel", CP, 0 },
	{ B, CP, "GET", "/foundation-models?byProvider=anthropic", "", 0, "bedrock:ListFoundationModels",
	  "ListFoundationModels", CP, 0 },
	{ B, CP, "POST", "/guardrails/gr1", "", 0, "bedrock:CreateGuardrailVersion:gr1",
	  "CreateGuardrailVersion", CP, 0 },
	{ B, CP, "PUT", "/guardrails/gr1", "", 0, "bedrock:UpdateGuardrail:gr1", "UpdateGuardrail", CP, 0 },
	{ B, CP, "POST", "/model-invocation-job", "", 0, "bedrock:CreateModelInvocationJob",
	  "CreateModelInvocationJob", CP, HID },
	{ B, CP, "GET", "/model-invocation-job/j1", "", 0, "bedrock:GetModelInvocationJob:j1",
	  "GetModelInvocationJob", CP, 0 },
	{ B, CP, "POST",
	  "/automated-reasoning-policies/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aautomated-reasoning-policy%2Fp1"
	  "/build-workflows/wf1/cancel", "", 0,
	  "bedrock:CancelAutomatedReasoningPolicyBuildWorkflow:arn:aws:bedrock:us-east-1:1:"
	  "automated-reasoning-policy/p1", "CancelAutomatedReasoningPolicyBuildWorkflow", CP, 0 },
	{ B, CP, "POST", "/listTagsForResource", "", 0, "bedrock:ListTagsForResource",
	  "ListTagsForResource", CP, 0 },
	/* bedrock-agent-runtime */
	{ B, AR, "POST", "/knowledgebases/KB12345678/retrieve", "", 0, "bedrock:Retrieve:KB12345678",
	  "Retrieve", AR, HID },
	{ B, AR, "POST", "/retrieveAndGenerate", "", 0, "bedrock:RetrieveAndGenerate",
	  "RetrieveAndGenerate", AR, HID },
	{ B, AR, "POST", "/retrieveAndGenerateStream", "", 0, "bedrock:RetrieveAndGenerate",
	  "RetrieveAndGenerateStream", AR, STR | HID },
	{ B, AR, "POST", "/agents/AG1/agentAliases/AL1/sessions/s-1/text", "", 0, "bedrock:InvokeAgent:AG1",
	  "InvokeAgent", AR, STR | HID },
	{ B, AR, "POST", "/agents/sess-1", "anthropic.claude-3-haiku-20240307-v1:0", 0,
	  "bedrock:InvokeInlineAgent:anthropic.claude-3-haiku-20240307-v1:0", "InvokeInlineAgent", AR,
	  STR | BM | HID },
	{ B, AR, "POST", "/flows/F1/aliases/A1", "", 0, "bedrock:InvokeFlow:F1", "InvokeFlow", AR,
	  STR | HID },
	{ B, AR, "POST", "/flows/F1/aliases/A1/executions/E1/stop", "", 0, "bedrock:StopFlowExecution:F1",
	  "StopFlowExecution", AR, 0 },
	{ B, AR, "PUT", "/sessions/", "", 0, "bedrock:CreateSession", "CreateSession", AR, 0 },
	{ B, AR, "POST", "/sessions", "", 0, "bedrock:ListSessions", "ListSessions", AR, 0 },
	{ B, AR, "GET", "/sessions/s1/", "", 0, "bedrock:GetSession:s1", "GetSession", AR, 0 },
	{ B, AR, "PATCH", "/sessions/s1", "", 0, "bedrock:EndSession:s1", "EndSession", AR, 0 },
	{ B, AR, "POST", "/rerank", "", 0, "bedrock:Rerank", "Rerank", AR, HID },
	/* unknown host (custom endpoint, emulator): decided by path shape */
	{ B, UNK, "POST", "/model/x/invoke", "", 0, "bedrock:InvokeModel:x", "InvokeModel", RT, INV | MIP },
	{ B, UNK, "POST", "/knowledgebases/KB/retrieve", "", 0, "bedrock:Retrieve:KB", "Retrieve", AR, HID },
	{ B, UNK, "POST", "/model-customization-jobs", "", 0, "bedrock:CreateModelCustomizationJob",
	  "CreateModelCustomizationJob", CP, HID },
	{ B, UNK, "GET", "/nope", "", TF_ACTION_UNMAPPED, "bedrock:UnknownOperation", "UnknownOperation",
	  UNK, 0 },
	/* Azure classic, deployment in the path (body model ignored) */
	{ AZ, UNK, "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
	  "ignored", 0, "azure:ChatCompletions:gpt-4o-mini", "ChatCompletions", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/d1/extensions/chat/completions?api-version=x", "", 0,
	  "azure:ChatCompletions:d1", "ChatCompletions", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/d1/completions?api-version=x", "", 0,
	  "azure:Completions:d1", "Completions", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/emb/embeddings?api-version=x", "", 0,
	  "azure:Embeddings:emb", "Embeddings", UNK, INV | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/w/audio/transcriptions?api-version=x", "", 0,
	  "azure:AudioTranscriptions:w", "AudioTranscriptions", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/w/audio/translations?api-version=x", "", 0,
	  "azure:AudioTranslations:w", "AudioTranslations", UNK, INV | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/tts/audio/speech?api-version=x", "", 0,
	  "azure:AudioSpeech:tts", "AudioSpeech", UNK, INV | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/img/images/generations?api-version=x", "", 0,
	  "azure:ImageGenerations:img", "ImageGenerations", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/img/images/edits?api-version=x", "", 0,
	  "azure:ImageEdits:img", "ImageEdits", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/openai/deployments/my%20dep/chat/completions", "", 0,
	  "azure:ChatCompletions:my dep", "ChatCompletions", UNK, INV | SBB | MIP },
	{ AZ, UNK, "POST", "/apim/aoai/openai/deployments/d1/chat/completions?api-version=x", "", 0,
	  "azure:ChatCompletions:d1", "ChatCompletions", UNK, INV | SBB | MIP },
	/* Azure v1 and non-deployment paths: model from the body */
	{ AZ, UNK, "POST", "/openai/v1/chat/completions", "gpt-4o", 0, "azure:ChatCompletions:gpt-4o",
	  "ChatCompletions", UNK, INV | SBB | BM },
	{ AZ, UNK, "POST", "/openai/v1/chat/completions", "", 0, "azure:ChatCompletions",
	  "ChatCompletions", UNK, INV | SBB | BM },
	{ AZ, UNK, "POST", "/openai/v1/embeddings", "text-embedding-3-small", 0,
	  "azure:Embeddings:text-embedding-3-small", "Embeddings", UNK, INV | BM },
	{ AZ, UNK, "POST", "/models/chat/completions?api-version=2024-05-01-preview", "mistral-large", 0,
	  "azure:ChatCompletions:mistral-large", "ChatCompletions", UNK, INV | SBB | BM },
	{ AZ, UNK, "POST", "/openai/responses?api-version=2025-04-01-preview", "my-deploy", 0,
	  "azure:Responses:my-deploy", "Responses", UNK, INV | SBB | BM },
	{ AZ, UNK, "POST", "/openai/v1/responses", "gpt-4.1", 0, "azure:Responses:gpt-4.1", "Responses",
	  UNK, INV | SBB | BM },
	{ AZ, UNK, "GET", "/openai/v1/responses/resp_123", "", 0, "azure:GetResponse:resp_123",
	  "GetResponse", UNK, 0 },
	{ AZ, UNK, "DELETE", "/openai/responses/resp_123?api-version=x", "", 0,
	  "azure:DeleteResponse:resp_123", "DeleteResponse", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/v1/responses/resp_1/cancel", "", 0, "azure:CancelResponse:resp_1",
	  "CancelResponse", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/v1/responses/resp_1/input_items", "", 0,
	  "azure:ListResponseInputItems:resp_1", "ListResponseInputItems", UNK, 0 },
	/* fine-tuning */
	{ AZ, UNK, "POST", "/openai/fine_tuning/jobs?api-version=2024-10-21", "gpt-4o-mini", 0,
	  "azure:CreateFineTuningJob", "CreateFineTuningJob", UNK, HID },
	{ AZ, UNK, "GET", "/openai/fine_tuning/jobs?api-version=x&limit=2", "", 0,
	  "azure:ListFineTuningJobs", "ListFineTuningJobs", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/v1/fine_tuning/jobs/ftjob-1", "", 0, "azure:GetFineTuningJob:ftjob-1",
	  "GetFineTuningJob", UNK, 0 },
	{ AZ, UNK, "DELETE", "/openai/fine_tuning/jobs/ftjob-1?api-version=x", "", 0,
	  "azure:DeleteFineTuningJob:ftjob-1", "DeleteFineTuningJob", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/fine_tuning/jobs/ftjob-1/cancel?api-version=x", "", 0,
	  "azure:CancelFineTuningJob:ftjob-1", "CancelFineTuningJob", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/fine_tuning/jobs/ftjob-1/pause?api-version=x", "", 0,
	  "azure:PauseFineTuningJob:ftjob-1", "PauseFineTuningJob", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/fine_tuning/jobs/ftjob-1/resume?api-version=x", "", 0,
	  "azure:ResumeFineTuningJob:ftjob-1", "ResumeFineTuningJob", UNK, HID },
	{ AZ, UNK, "GET", "/openai/fine_tuning/jobs/ftjob-1/events?api-version=x", "", 0,
	  "azure:ListFineTuningEvents:ftjob-1", "ListFineTuningEvents", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/fine_tuning/jobs/ftjob-1/checkpoints?api-version=x", "", 0,
	  "azure:ListFineTuningCheckpoints:ftjob-1", "ListFineTuningCheckpoints", UNK, 0 },
	/* files, batches, models, deployments */
	{ AZ, UNK, "POST", "/openai/files?api-version=x", "", 0, "azure:UploadFile", "UploadFile", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/files/import?api-version=x", "", 0, "azure:ImportFile", "ImportFile",
	  UNK, 0 },
	{ AZ, UNK, "GET", "/openai/v1/files", "", 0, "azure:ListFiles", "ListFiles", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/files/file-abc?api-version=x", "", 0, "azure:GetFile:file-abc", "GetFile",
	  UNK, 0 },
	{ AZ, UNK, "DELETE", "/openai/files/file-abc?api-version=x", "", 0, "azure:DeleteFile:file-abc",
	  "DeleteFile", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/files/file-abc/content?api-version=x", "", 0,
	  "azure:GetFileContent:file-abc", "GetFileContent", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/batches?api-version=x", "", 0, "azure:CreateBatch", "CreateBatch", UNK,
	  HID },
	{ AZ, UNK, "POST", "/openai/deployments/gpt-4o/batches?api-version=x", "", 0,
	  "azure:CreateBatch:gpt-4o", "CreateBatch", UNK, HID },
	{ AZ, UNK, "GET", "/openai/batches?api-version=x", "", 0, "azure:ListBatches", "ListBatches", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/v1/batches/batch_1", "", 0, "azure:GetBatch:batch_1", "GetBatch", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/batches/batch_1/cancel?api-version=x", "", 0, "azure:CancelBatch:batch_1",
	  "CancelBatch", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/models?api-version=x", "", 0, "azure:ListModels", "ListModels", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/v1/models/gpt-4o", "", 0, "azure:GetModel:gpt-4o", "GetModel", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/deployments?api-version=x", "", 0, "azure:ListDeployments",
	  "ListDeployments", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/deployments/d1?api-version=x", "", 0, "azure:GetDeployment:d1",
	  "GetDeployment", UNK, 0 },
	{ AZ, UNK, "POST", "/openai/assistants?api-version=x", "", TF_ACTION_UNMAPPED,
	  "azure:UnknownOperation", "UnknownOperation", UNK, 0 },
	{ AZ, UNK, "GET", "/openai/deployments/d1/chat/completions", "", TF_ACTION_UNMAPPED,
	  "azure:UnknownOperation", "UnknownOperation", UNK, 0 },
};

static void check_table(const struct action_case *c)
{
	tf_action_req req = {
		.provider = (tf_provider)c->provider,
		.service = (tf_bedrock_service)c->service,
		.method = c->method,
		.method_len = strlen(c->method),
		.target = c->target,
		.target_len = strlen(c->target),
		.body_model = c->body_model[0] ? c->body_model : NULL,
		.body_model_len = strlen(c->body_model),
	};
	tf_action a;
	int rc = tf_action_map(&req, &a);

	cr_expect_eq(rc, c->rc, "%s %s: rc %d", c->method, c->target, rc);
	cr_expect_str_eq(a.action, c->action, "%s %s", c->method, c->target);
	cr_expect_eq(a.action_len, strlen(a.action));
	cr_expect_str_eq(a.operation, c->op, "%s %s", c->method, c->target);
	cr_expect_eq(a.flags, c->flags, "%s %s: flags %#x", c->method, c->target, a.flags);
	if (c->provider == TF_PROVIDER_BEDROCK)
		cr_expect_eq(a.service, (tf_bedrock_service)c->got_service, "%s %s", c->method, c->target);
}

Test(actions, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_table(&cases[i]);
}

Test(actions, model_is_the_resource)
{
	tf_action_req req = { .provider = TF_PROVIDER_BEDROCK, .service = TF_BEDROCK_SVC_RUNTIME,
			      .method = "POST", .method_len = 4,
			      .target = "/model/m%3A0/invoke", .target_len = 19 };
	tf_action a;
	size_t n;
	const char *m;

	cr_assert_eq(tf_action_map(&req, &a), 0);
	m = tf_action_model(&a, &n);
	cr_assert_not_null(m);
	cr_expect_eq(n, 3);
	cr_expect_eq(memcmp(m, "m:0", 3), 0);
	cr_expect_str_eq(a.resource, "m:0");
	cr_expect_str_eq(a.name, "InvokeModel");

	req.target = "/guardrail/g/version/1/apply";
	req.target_len = strlen(req.target);
	cr_assert_eq(tf_action_map(&req, &a), 0);
	cr_expect_null(tf_action_model(&a, &n), "a guardrail id is not a model");
	cr_expect_str_eq(a.resource, "g");
}

Test(actions, resource_bound_fails_closed)
{
	static char target[TF_ACTION_RESOURCE_MAX + 64];
	tf_action_req req = { .provider = TF_PROVIDER_BEDROCK, .service = TF_BEDROCK_SVC_RUNTIME,
			      .method = "POST", .method_len = 4, .target = target };
	tf_action a;
	size_t o = (size_t)snprintf(target, sizeof(target), "/model/");

	memset(target + o, 'a', TF_ACTION_RESOURCE_MAX);
	o += TF_ACTION_RESOURCE_MAX;
	o += (size_t)snprintf(target + o, sizeof(target) - o, "/invoke");
	req.target_len = o;
	cr_expect_eq(tf_action_map(&req, &a), 0, "2048 bytes is the largest id the models allow");
	cr_expect_eq(a.resource_len, TF_ACTION_RESOURCE_MAX);

	/* The bound is on the decoded id: "%41" + 2047 bytes decodes to 2048. */
	o = (size_t)snprintf(target, sizeof(target), "/model/%%41");
	memset(target + o, 'a', TF_ACTION_RESOURCE_MAX - 1);
	o += TF_ACTION_RESOURCE_MAX - 1;
	o += (size_t)snprintf(target + o, sizeof(target) - o, "/invoke");
	req.target_len = o;
	cr_expect_eq(tf_action_map(&req, &a), 0);
	cr_expect_eq(a.resource[0], 'A');

	o = (size_t)snprintf(target, sizeof(target), "/model/");
	memset(target + o, 'a', TF_ACTION_RESOURCE_MAX + 1);
	o += TF_ACTION_RESOURCE_MAX + 1;
	o += (size_t)snprintf(target + o, sizeof(target) - o, "/invoke");
	req.target_len = o;
	cr_expect_eq(tf_action_map(&req, &a), -ENAMETOOLONG);
	cr_expect_str_eq(a.action, "bedrock:UnknownOperation");

	req.target = "/async-invoke";
	req.target_len = strlen(req.target);
	req.body_model = target;
	req.body_model_len = TF_ACTION_RESOURCE_MAX + 1;
	cr_expect_eq(tf_action_map(&req, &a), -ENAMETOOLONG);
}

Test(actions, bad_requests)
{
	tf_action_req req = { .provider = TF_PROVIDER_NONE, .method = "GET", .method_len = 3,
			      .target = "/", .target_len = 1 };
	tf_action a;

	cr_expect_eq(tf_action_map(&req, &a), -EINVAL);
	cr_expect_eq(tf_action_map(NULL, &a), -EINVAL);
	req.provider = TF_PROVIDER_AZURE;
	req.target = NULL;
	cr_expect_eq(tf_action_map(&req, &a), -EINVAL);
	req.provider = TF_PROVIDER_BEDROCK;
	req.method = "POST";
	req.method_len = 4;
	req.target = "/model/a\0b/invoke";
	req.target_len = 17;
	cr_expect_eq(tf_action_map(&req, &a), -EINVAL, "raw NUL in the target");
	req.target = "/model/a b/invoke";
	cr_expect_eq(tf_action_map(&req, &a), -EINVAL, "raw space in the target");
	req.target = "/async-invoke";
	req.target_len = 13;
	req.body_model = "a\0b";
	req.body_model_len = 3;
	cr_expect_eq(tf_action_map(&req, &a), -EINVAL, "NUL in the body's model");
	cr_expect_str_eq(a.action, "bedrock:UnknownOperation");
}

struct host_case {
	char host[96];
	int svc;
};

static struct host_case hosts[] = {
	{ "bedrock-runtime.us-east-1.amazonaws.com", RT },
	{ "bedrock-runtime-fips.us-gov-west-1.amazonaws.com:443", RT },
	{ "Bedrock-Runtime.us-east-1.api.aws.", RT },
	{ "bedrock-runtime.cn-north-1.amazonaws.com.cn", RT },
	{ "bedrock.us-east-1.amazonaws.com", CP },
	{ "bedrock-fips.us-east-1.amazonaws.com", CP },
	{ "bedrock-agent-runtime.eu-west-1.amazonaws.com", AR },
	{ "bedrock-agent-runtime-fips.us-east-1.amazonaws.com", AR },
	{ "bedrock-agent.us-east-1.amazonaws.com", TF_BEDROCK_SVC_AGENT },
	{ "vpce-0abc123-xyz.bedrock-runtime.us-east-1.vpce.amazonaws.com", RT },
	{ "vpce-0abc123-xyz-us-east-1a.bedrock-agent-runtime.us-east-1.vpce.amazonaws.com", AR },
	{ "vpce-0abc123-xyz.bedrock.us-east-1.vpce.amazonaws.com", CP },
	{ "bedrock-mantle.us-east-1.api.aws", UNK },
	{ "127.0.0.1:8443", UNK },
	{ "localhost", UNK },
	{ "[::1]:8443", UNK },
	{ "vpce-", UNK },
	{ "", UNK },
};

static void check_hosts(const struct host_case *c)
{
	cr_expect_eq(tf_bedrock_service_from_host(c->host, strlen(c->host)), (tf_bedrock_service)c->svc,
		     "%s", c->host);
}

Test(actions, hosts)
{
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		check_hosts(&hosts[i]);
}

struct forms_case {
	char id[128];
	int count;
	char f1[96];
	char f2[96];
};

static struct forms_case forms[] = {
	{ "anthropic.claude-3-haiku-20240307-v1:0", 1, "", "" },
	{ "us.anthropic.claude-3-5-sonnet-20241022-v2:0", 2, "anthropic.claude-3-5-sonnet-20241022-v2:0", "" },
	{ "APAC.amazon.nova-lite-v1:0", 2, "amazon.nova-lite-v1:0", "" },
	{ "global.anthropic.claude-sonnet-4-20250514-v1:0", 2, "anthropic.claude-sonnet-4-20250514-v1:0", "" },
	{ "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0", 3,
	  "eu.meta.llama3-2-1b-instruct-v1:0", "meta.llama3-2-1b-instruct-v1:0" },
	{ "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", 2, "anthropic.claude-v2", "" },
	{ "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc123", 2, "abc123", "" },
	{ "arn:aws:bedrock:us-east-1:1:thing/", 1, "", "" },
	{ "us.", 1, "", "" },
	{ "", 1, "", "" },
};

static void check_model_forms(const struct forms_case *c)
{
	size_t off[3], n = strlen(c->id), k = tf_model_id_forms(c->id, n, off);

	cr_assert_eq(k, (size_t)c->count, "%s", c->id);
	cr_expect_eq(off[0], 0);
	if (k > 1)
		cr_expect_str_eq(c->id + off[1], c->f1);
	if (k > 2)
		cr_expect_str_eq(c->id + off[2], c->f2);
}

Test(actions, model_forms)
{
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		check_model_forms(&forms[i]);
}

/* botocore's label rendering: percent-encode all but unreserved (and '/'
 * for greedy labels). */
static size_t render(char *out, size_t cap, const char *v, bool greedy)
{
	size_t o = 0;

	for (const char *p = v; *p && o + 4 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c) || (greedy && c == '/'))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
	}
	out[o] = '\0';
	return o;
}

/* Instantiates a route's requestUri with sample values; returns the value
 * used for the resource label in res. */
static void instantiate(const tf_route *r, char *target, size_t cap, char *res, size_t rescap)
{
	const char *u = r->uri;
	size_t o = 0;
	int label = 0;

	res[0] = '\0';
	while (*u && *u != '?' && o + 1 < cap) {
		if (*u == '{') {
			const char *end = strchr(u, '}');
			bool greedy = end[-1] == '+';
			size_t nl = (size_t)(end - u - 1) - (greedy ? 1 : 0);
			char v[160];
			snprintf(v, sizeof(v), "%s%sarn:aws:bedrock:us-east-1:123456789012:x/%.*s-%d:0",
				 greedy ? "a b/" : "", label == 0 ? "" : "n", (int)nl, u + 1, label);
			if (r->resource && strlen(r->resource) == nl && strncmp(r->resource, u + 1, nl) == 0)
				snprintf(res, rescap, "%s", v);
			o += render(target + o, cap - o, v, greedy);
			label++;
			u = end + 1;
		} else {
			target[o++] = *u++;
		}
	}
	if (*u == '?')
		o += (size_t)snprintf(target + o, cap - o, "?%s&extra=1", u + 1);
	target[o] = '\0';
}

/* Every operation of every service model (via the generated table) maps back
 * to itself from its own requestUri, both for its host's service kind and
 * for an unknown host; the resource is the sample value of its label. */
Test(actions, every_model_operation_maps_back)
{
	static const tf_bedrock_service svcs[] = { TF_BEDROCK_SVC_RUNTIME, TF_BEDROCK_SVC_CONTROL,
						   TF_BEDROCK_SVC_AGENT_RUNTIME, TF_BEDROCK_SVC_AGENT };
	size_t total = 0;

	for (size_t s = 0; s < sizeof(svcs) / sizeof(svcs[0]); s++) {
		size_t n;
		const tf_route *routes = tf_action_bedrock_routes(svcs[s], &n);
		for (size_t i = 0; i < n; i++) {
			const tf_route *r = &routes[i];
			char target[1024], res[256], want[TF_ACTION_MAX];
			tf_action a;
			tf_action_req req = { .provider = TF_PROVIDER_BEDROCK, .method = r->method,
					      .method_len = strlen(r->method), .target = target,
					      .body_model = "body.model-v1:0", .body_model_len = 15 };
			instantiate(r, target, sizeof(target), res, sizeof(res));
			req.target_len = strlen(target);
			if (r->flags & TF_ACTION_BODY_MODEL)
				snprintf(res, sizeof(res), "body.model-v1:0");
			snprintf(want, sizeof(want), "bedrock:%s%s%s", r->action, res[0] ? ":" : "", res);
			for (int unknown = 0; unknown <= 1; unknown++) {
				req.service = unknown ? TF_BEDROCK_SVC_UNKNOWN : svcs[s];
				cr_expect_eq(tf_action_map(&req, &a), 0, "%s %s", r->method, target);
				cr_expect_str_eq(a.operation, r->operation, "%s %s (host %s)", r->method, target,
						 unknown ? "unknown" : tf_bedrock_service_name(svcs[s]));
				cr_expect_str_eq(a.resource, res, "%s %s", r->method, target);
				cr_expect_str_eq(a.action, want, "%s %s", r->method, target);
				cr_expect_eq(a.service, svcs[s], "%s %s", r->method, target);
			}
			total++;
		}
	}
	cr_expect_geq(total, 152, "the three reference models hold 11 + 108 + 33 operations");
}

Test(actions, names_cover_every_route)
{
	size_t n = tf_action_name_count(), bedrock = 0, azure = 0;
	tf_provider p;

	for (size_t i = 0; i < n; i++) {
		const char *name = tf_action_name_at(i, &p);
		cr_assert_not_null(name, "index %zu", i);
		if (p == TF_PROVIDER_BEDROCK)
			bedrock++;
		else if (p == TF_PROVIDER_AZURE)
			azure++;
	}
	cr_expect_null(tf_action_name_at(n, &p));
	cr_expect_eq(bedrock + azure, n);
	cr_expect_gt(azure, 30);
}
