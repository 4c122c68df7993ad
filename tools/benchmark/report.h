/*
 * The figures of one tokenfence-bench run, and the Markdown table made of
 * them. Three clients take part in every timed case: "without" (no shim),
 * "with" (LD_PRELOAD=libtokenfence.so) and "without 2", a second unpreloaded
 * client whose difference from the first is the run's own noise floor
 * (an A/A comparison: any with − without smaller than it means nothing).
 */
#ifndef TFB_REPORT_H
#define TFB_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bench.h"

enum { TFB_V_PLAIN, TFB_V_SHIM, TFB_V_PLAIN2, TFB_NVAR };

typedef struct tfb_result {
	bool ran, failed;
	double load_before;
	double unit_bytes; /* bytes per unit of throughput cases, else 0 */
	/* Wall time per unit (ns) over all samples of each client. */
	uint64_t med[TFB_NVAR], p99[TFB_NVAR];
	/* Client process CPU time (ns) and minor page faults per unit:
	 * medians over its batches. */
	double cpu[TFB_NVAR], faults[TFB_NVAR];
	/* The least disturbed batch of each client: its lowest batch median
	 * (wall ns per unit). Under additive noise from other load this comes
	 * closest to what a quiet machine would show. */
	double best[TFB_NVAR];
	/* Median over rounds of the difference of batch medians (ns):
	 * with − without, and without 2 − without. */
	double paired, paired_null;
	size_t samples; /* per client */
	/* Instructions of icount_units units (bytes_per_icount_unit each for
	 * throughput cases), without and with the shim; -1 when unknown. */
	int64_t instr[2];
	int64_t icount_units;
	double icount_unit_bytes;
} tfb_result;

typedef struct tfb_memres {
	bool ran, failed;
	double rss[2], pss[2], heap[2]; /* bytes per connection, without / with */
} tfb_memres;

typedef struct tfb_ledger_line {
	char backend[16];
	int threads;
	long n;
	double med_us, p99_us;
} tfb_ledger_line;

typedef struct tfb_run {
	const char *cmdline;
	bool icount, perf_ok, ledger_wanted;
	char perf_why[256];
	double load_start, load_end;
	time_t t0, t1;
	int conns;
	uint64_t bulk_total; /* bytes each client moves in each bulk case */
	tfb_result res[TFB_NCASES];
	tfb_memres mem[2];   /* TFB_MEM_UNGUARDED, TFB_MEM_GUARDED */
	tfb_ledger_line ledger[8];
	int n_ledger;
	char ledger_note[256];
	const char *shim_log; /* the preloaded clients' TOKENFENCE_LOG file */
} tfb_run;

/* A case's title, e.g. "guarded Azure chat, 4 KB request". */
const char *tfb_case_title(tfb_case k);
bool tfb_case_is_throughput(tfb_case k);

/* Prints the table and the notes on how each figure was taken (stdout). */
void tfb_report(const tfb_run *run);

#endif
