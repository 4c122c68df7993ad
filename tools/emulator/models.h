/*
 * Model identities: which body format a Bedrock model id speaks, and which
 * base model an Azure deployment runs. Pure (the maps are passed in).
 *
 * Bedrock ids (already percent-decoded once) may be foundation-model ids,
 * cross-region inference-profile ids ("us.", "eu.", "apac.", "global.",
 * "jp.", "au.", "ca.", "us-gov." prefixes) or ARNs. Foundation-model and
 * inference-profile ARNs reveal their id; other ARNs (application inference
 * profiles, provisioned models, custom models, …) only resolve through an
 * alias (--bedrock-alias ID=MODEL), matched on the whole id or on the part
 * after the ARN's last '/'. The family follows from the base id's prefix;
 * an id whose family is unknown is not a model (AWS answers 400
 * ValidationException).
 */
#ifndef EMU_MODELS_H
#define EMU_MODELS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct emu_map {
	char *from;
	char *to;
} emu_map;

typedef enum emu_family {
	EMU_FAM_NONE = 0,
	EMU_FAM_ANTHROPIC,    /* Messages API (and legacy "prompt" completions) */
	EMU_FAM_TITAN_TEXT,
	EMU_FAM_TITAN_EMBED,
	EMU_FAM_LLAMA,
	EMU_FAM_MISTRAL,      /* text completion, or chat when the body has messages */
	EMU_FAM_NOVA,
	EMU_FAM_COHERE_CHAT,  /* Command R / R+ */
	EMU_FAM_COHERE_TEXT,  /* Command (legacy generate) */
	EMU_FAM_COHERE_EMBED,
} emu_family;

#define EMU_MODEL_MAX 2048 /* = EMU_ID_MAX: ids come from the path */

/*
 * Resolves a decoded Bedrock id. Writes the base model id (no ARN, no profile
 * prefix) to base and returns its family (EMU_FAM_NONE: not a model).
 */
emu_family emu_bedrock_model(const char *id, const emu_map *aliases, size_t naliases, char *base,
			     size_t baselen);
/* Length of a cross-region profile prefix of id ("us." -> 3), 0 if none. */
size_t emu_profile_prefix_len(const char *id);
/* True for families whose outputs are embeddings (no output tokens). */
bool emu_family_is_embedding(emu_family f);
/* Default embedding size of a Bedrock embedding model. */
int emu_bedrock_embed_dims(const char *base);

typedef enum emu_az_kind {
	EMU_AZ_UNKNOWN = 0,
	EMU_AZ_CHAT,       /* chat/completions, responses */
	EMU_AZ_COMPLETION, /* legacy completions only */
	EMU_AZ_EMBEDDING,
} emu_az_kind;

typedef struct emu_az_model {
	char model[EMU_MODEL_MAX]; /* as Azure reports it in responses ("gpt-4o-2024-11-20") */
	emu_az_kind kind;
	bool reasoning;            /* o-series / gpt-5: reasoning tokens in completion tokens */
	int embed_dims;            /* embeddings: default vector size */
} emu_az_model;

/*
 * The model behind an Azure deployment: the --deployment map first, then a
 * deployment named like a known model ("gpt-4o", "gpt-4o-2024-11-20") maps
 * to it. Returns false for an unknown deployment (Azure: 404
 * DeploymentNotFound).
 */
bool emu_azure_deployment(const char *deployment, const emu_map *deps, size_t ndeps,
			  emu_az_model *out);

/* Known Azure base models, for /openai/models; NULL after the last. */
const char *emu_azure_known_model(size_t i);
/* Known Bedrock foundation models, for ListFoundationModels; NULL after the last. */
const char *emu_bedrock_known_model(size_t i);

#endif
