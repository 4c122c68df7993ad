/*
 * The file ledger's on-disk (in-memory-mapped) format, version 1.
 *
 * Internal to policy/ledger/file.c; tests include it to fake a holder that
 * died half-way through an update. Layout, all native-endian, fixed size:
 *
 *   [0, 4096)           struct tf_lf_header (magic, version, layout, lock,
 *                       counters, undo journal)
 *   scopes_off          tf_scope_state[TF_LF_MAX_SCOPES]
 *   ext_off             struct tf_lf_scope_ext[TF_LF_MAX_SCOPES]
 *   res_off             struct tf_lf_res[TF_LF_MAX_RES]
 *   outbox_off          struct tf_lf_outbox[TF_LF_MAX_OUTBOX]
 *
 * Limits: 512 scopes, 4096 live reservations, 1024 queued Redis settles.
 * A full scope table recycles process/workflow scopes whose owner is gone;
 * a full reservation table first charges reservations of dead owners.
 *
 * Compatibility: the first 16 bytes (magic, version, header size) never
 * move. Any change to any struct below bumps TF_LF_VERSION; a reader refuses
 * a version it does not know (-EPROTO) and a layout it was not built with
 * (struct sizes are recorded), instead of misreading budgets.
 */
#ifndef TF_LEDGER_FILE_FORMAT_H
#define TF_LEDGER_FILE_FORMAT_H

#include <pthread.h>
#include <stdint.h>

#include "budget.h"

#define TF_LF_MAGIC "TFLEDGER"
#define TF_LF_MAGIC_LEN 8
#define TF_LF_VERSION 1u
#define TF_LF_MAX_SCOPES 512u
#define TF_LF_MAX_RES 4096u
#define TF_LF_MAX_OUTBOX 1024u
#define TF_LF_HEADER_SIZE 8192u
#define TF_LF_NONE UINT32_MAX

/* header.flags */
#define TF_LF_FLAG_FALLBACK 0x1u

/* Per-scope data the budget arithmetic does not need. */
struct tf_lf_scope_ext {
	uint64_t owner_start; /* ephemeral scopes: owner's start time (clock ticks since boot) */
	uint64_t sync_seq; /* fallback files: in-flight reconcile batch, 0 if none */
	tf_money sync_cost;
	int64_t sync_requests;
};

struct tf_lf_res {
	uint64_t id; /* 0: free slot */
	int32_t pid; /* owner */
	uint32_t reserved0;
	uint64_t start; /* owner's start time, so a reused pid is not the owner */
	int64_t created;
	tf_budget_hold hold;
};

struct tf_lf_outbox {
	uint64_t seq; /* 0: free slot */
	uint64_t remote_id;
	tf_money actual;
	uint32_t op;
	uint32_t flags;
};

/* Header fields an update may change (saved whole by the journal). */
struct tf_lf_counters {
	uint64_t next_id;
	uint64_t next_seq;
	uint32_t nscopes;
	uint32_t nres;
	uint32_t noutbox;
	uint32_t reserved0;
	uint64_t reclaimed;
};

/*
 * Undo journal. Under the lock, an update first arms the journal with the
 * counters, then records the before-image of each record it is about to
 * change (image first, then the count, so a counted entry is always whole).
 * If the holder dies, the next locker gets EOWNERDEAD, restores the images
 * and so rolls the half-done update back: the dead holder's call never
 * returned, so nothing was sent on the strength of it.
 */
struct tf_lf_journal {
	uint32_t valid;
	uint32_t nscopes;
	uint32_t scope_idx[TF_BUDGET_CHAIN_MAX];
	tf_scope_state scope[TF_BUDGET_CHAIN_MAX];
	struct tf_lf_scope_ext ext[TF_BUDGET_CHAIN_MAX];
	uint32_t res_slot; /* TF_LF_NONE if unused */
	uint32_t outbox_slot;
	struct tf_lf_res res;
	struct tf_lf_outbox outbox;
	struct tf_lf_counters counters;
};

struct tf_lf_header {
	char magic[TF_LF_MAGIC_LEN];
	uint32_t version;
	uint32_t header_size;
	/* layout this file was written with */
	uint32_t scope_size, ext_size, res_size, outbox_size, mutex_size, journal_size;
	uint32_t max_scopes, max_res, max_outbox, flags;
	uint64_t scopes_off, ext_off, res_off, outbox_off, file_size;
	uint64_t instance; /* random: names this file's reconcile batches */
	char boot_id[40]; /* boot in which the lock was last initialised */
	pthread_mutex_t lock; /* robust, process-shared, error-checking */
	/* Everything below is guarded by lock (sync_hint excepted). */
	struct tf_lf_counters c;
	uint64_t lock_recoveries;
	uint32_t res_hint; /* where the next free-slot search starts */
	uint32_t sync_hint; /* atomic: fallback file has something to deliver */
	struct tf_lf_journal j;
};

_Static_assert(sizeof(struct tf_lf_header) <= TF_LF_HEADER_SIZE, "header outgrew its page");

#endif
