/*
 * Which cloud operation a request targets, from its method, request-target
 * and (only to choose the error style of unknown paths) its Host. Every name
 * the emulator serves resolves to the same port, so the path shape decides:
 * /model/{id}/… is bedrock-runtime, /model-customization-jobs,
 * /provisioned-model-throughput[s], /foundation-models are the Bedrock
 * control plane, /knowledgebases/{kb}/retrieve and /retrieveAndGenerate the
 * agent runtime, /openai/… Azure OpenAI (reference/WIRE.md sections 1.2, 3, 4.2).
 *
 * Pure: no I/O, no allocation.
 */
#ifndef EMU_ROUTE_H
#define EMU_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define EMU_ID_MAX 2048 /* a decoded path parameter (AWS: model ids up to 2048) */

typedef enum emu_provider {
	EMU_PROV_BEDROCK,
	EMU_PROV_AZURE,
} emu_provider;

typedef enum emu_op {
	EMU_OP_NONE = 0,
	/* bedrock-runtime */
	EMU_OP_INVOKE,
	EMU_OP_INVOKE_STREAM,
	EMU_OP_CONVERSE,
	EMU_OP_CONVERSE_STREAM,
	EMU_OP_COUNT_TOKENS,
	/* bedrock control plane */
	EMU_OP_CREATE_CUSTOMIZATION_JOB,
	EMU_OP_LIST_CUSTOMIZATION_JOBS,
	EMU_OP_GET_CUSTOMIZATION_JOB,
	EMU_OP_CREATE_PROVISIONED,
	EMU_OP_LIST_PROVISIONED,
	EMU_OP_GET_PROVISIONED,
	EMU_OP_DELETE_PROVISIONED,
	EMU_OP_LIST_FOUNDATION_MODELS,
	EMU_OP_GET_FOUNDATION_MODEL,
	/* bedrock-agent-runtime */
	EMU_OP_RETRIEVE,
	EMU_OP_RETRIEVE_AND_GENERATE,
	/* Azure OpenAI */
	EMU_OP_AZ_CHAT,
	EMU_OP_AZ_COMPLETIONS,
	EMU_OP_AZ_EMBEDDINGS,
	EMU_OP_AZ_RESPONSES,
	EMU_OP_AZ_FT_CREATE,
	EMU_OP_AZ_FT_LIST,
	EMU_OP_AZ_FT_GET,
	EMU_OP_AZ_FILES_CREATE,
	EMU_OP_AZ_FILES_LIST,
	EMU_OP_AZ_BATCH_CREATE,
	EMU_OP_AZ_BATCH_LIST,
	EMU_OP_AZ_MODELS_LIST,
} emu_op;

typedef struct emu_route {
	emu_provider provider; /* also set for unknown paths: the error style */
	emu_op op;             /* EMU_OP_NONE: no such route (answer 404) */
	const char *service;   /* "bedrock-runtime", "bedrock", "bedrock-agent-runtime", "azure-openai" */
	const char *operation; /* AWS operation name / Azure operation ("ChatCompletions"); "Unknown" */
	bool stream;           /* the operation itself streams (Bedrock *-stream routes) */
	bool azure_v1;         /* /openai/v1/…: model in the body, no api-version */
	bool has_api_version;  /* an api-version query parameter is present */
	char id[EMU_ID_MAX];   /* the path parameter, percent-decoded once ("" if none):
				  model id, deployment, knowledge base, provisioned model, job */
	bool id_truncated;     /* the parameter did not fit (treated as invalid) */
} emu_route;

/*
 * Fills *out for the request. target is the request-target as sent; host may
 * be NULL. Never fails: unknown shapes give op EMU_OP_NONE.
 */
void emu_route_request(const char *method, size_t method_len, const char *target,
		       size_t target_len, const char *host, size_t host_len, emu_route *out);

/* Percent-decodes p[0..n) once into out (NUL-terminated); false if it does not fit. */
bool emu_pct_decode(const char *p, size_t n, char *out, size_t outlen);

#endif
