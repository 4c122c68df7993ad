/* The Markdown table of a tokenfence-bench run (see report.h). */
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report.h"

static const struct {
	const char *id, *title;
} cases[TFB_NCASES] = {
	[TFB_BULK_DOWN] = { "1a", "pass-through bulk download" },
	[TFB_BULK_UP] = { "1b", "pass-through bulk upload" },
	[TFB_RTT_1K] = { "1c", "pass-through 1 KiB round trip, keep-alive" },
	[TFB_AZ_4K] = { "2a", "guarded Azure chat, 4 KB request" },
	[TFB_AZ_200K] = { "2b", "guarded Azure chat, 200 KB request" },
	[TFB_BR_4K] = { "2c", "guarded Bedrock InvokeModel, 4 KB request" },
	[TFB_BR_200K] = { "2d", "guarded Bedrock InvokeModel, 200 KB request" },
	[TFB_STREAM_ES] = { "3a", "guarded Bedrock event stream" },
	[TFB_STREAM_SSE] = { "3b", "guarded Azure SSE stream" },
	[TFB_BR_4K_H2] = { "2e", "guarded Bedrock InvokeModel over HTTP/2, 4 KB request" },
	[TFB_BR_200K_H2] = { "2f", "guarded Bedrock InvokeModel over HTTP/2, 200 KB request" },
};

const char *tfb_case_title(tfb_case k)
{
	return cases[k].title;
}

bool tfb_case_is_throughput(tfb_case k)
{
	return k == TFB_BULK_DOWN || k == TFB_BULK_UP || k == TFB_STREAM_ES || k == TFB_STREAM_SSE;
}

static bool is_bulk(tfb_case k)
{
	return k == TFB_BULK_DOWN || k == TFB_BULK_UP;
}

static void row(const char *id, const char *title, const char *fig, const char *a, const char *b,
		const char *d, const char *noise, const char *target, const char *verdict)
{
	printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", id, title, fig, a, b, d, noise, target,
	       verdict);
}

static const char *verdict(bool pass)
{
	return pass ? "PASS" : "**MISS**";
}

static double us(double ns)
{
	return ns / 1000.0;
}

static double mbps(double bytes, double ns)
{
	return ns > 0 ? bytes / (ns / 1e9) / 1e6 : 0;
}

static void instr_row(const tfb_run *run, const tfb_result *r, bool per_byte)
{
	char a[32], b[32], d[48];
	double div = (double)(r->icount_units > 0 ? r->icount_units : 1);
	double ua, ub;

	if (!run->icount)
		return;
	if (r->instr[0] < 0 || r->instr[1] < 0) {
		row("", "", "instructions", "n/a", "n/a", "", "", "", "");
		return;
	}
	if (per_byte)
		div *= r->icount_unit_bytes;
	ua = (double)r->instr[0] / div;
	ub = (double)r->instr[1] / div;
	snprintf(a, sizeof(a), per_byte ? "%.3f" : "%.0f", ua);
	snprintf(b, sizeof(b), per_byte ? "%.3f" : "%.0f", ub);
	snprintf(d, sizeof(d), per_byte ? "%+.3f (%+.1f%%)" : "%+.0f (%+.1f%%)", ub - ua,
		 ua > 0 ? (ub - ua) / ua * 100 : 0);
	row("", "", per_byte ? "instructions / byte" : "instructions / unit", a, b, d,
	    "0 (exact count)", "", "");
}

/* Client CPU per unit: the cost the shim adds to the client, which other
 * load on the machine disturbs far less than wall time. */
static void cpu_row(const tfb_result *r, bool per_mib, double unit_bytes)
{
	double scale = per_mib ? 1048576.0 / unit_bytes : 1.0;
	double a = us(r->cpu[TFB_V_PLAIN]) * scale, b = us(r->cpu[TFB_V_SHIM]) * scale;
	double n = us(r->cpu[TFB_V_PLAIN2]) * scale;
	char ca[32], cb[32], cd[48], cn[48];

	snprintf(ca, sizeof(ca), "%.1f µs", a);
	snprintf(cb, sizeof(cb), "%.1f µs", b);
	snprintf(cd, sizeof(cd), "%+.1f µs (%+.1f%%)", b - a, a > 0 ? (b - a) / a * 100 : 0);
	snprintf(cn, sizeof(cn), "%+.1f µs (%+.1f%%)", n - a, a > 0 ? (n - a) / a * 100 : 0);
	row("", "", per_mib ? "client CPU / MiB" : "client CPU / unit", ca, cb, cd, cn, "", "");
}

/* Minor page faults: kernel work (CPU time) that instruction counts of user
 * space do not show, e.g. from buffers malloc hands back to the kernel. */
static void faults_row(const tfb_result *r, bool per_mib, double unit_bytes)
{
	double scale = per_mib ? 1048576.0 / unit_bytes : 1.0;
	double a = r->faults[TFB_V_PLAIN] * scale, b = r->faults[TFB_V_SHIM] * scale;
	double n = r->faults[TFB_V_PLAIN2] * scale;
	char ca[32], cb[32], cd[32], cn[32];

	if (a < 0.005 && b < 0.005 && n < 0.005)
		return; /* the usual case: no row of zeros */
	snprintf(ca, sizeof(ca), "%.2f", a);
	snprintf(cb, sizeof(cb), "%.2f", b);
	snprintf(cd, sizeof(cd), "%+.2f", b - a);
	snprintf(cn, sizeof(cn), "%+.2f", n - a);
	row("", "", per_mib ? "page faults / MiB" : "page faults / unit", ca, cb, cd, cn, "", "");
}

/*
 * A verdict on this run's most trustworthy figure: wall time when its A/A
 * noise is within half the tolerance; else client CPU time when that is;
 * else the exact instruction counts (throughput only). The figure used is
 * named whenever it is not wall time.
 */
static void bulk_verdict(const tfb_result *r, double ratio, double nratio, char *vd, size_t n)
{
	double c = r->cpu[TFB_V_SHIM] > 0 ? r->cpu[TFB_V_PLAIN] / r->cpu[TFB_V_SHIM] : 0;
	double cn = r->cpu[TFB_V_PLAIN2] > 0 ? r->cpu[TFB_V_PLAIN] / r->cpu[TFB_V_PLAIN2] : 0;
	double b = r->best[TFB_V_SHIM] > 0 ? r->best[TFB_V_PLAIN] / r->best[TFB_V_SHIM] : 0;
	double bn = r->best[TFB_V_PLAIN2] > 0 ? r->best[TFB_V_PLAIN] / r->best[TFB_V_PLAIN2] : 0;

	if (fabs(1 - nratio) <= 0.005)
		snprintf(vd, n, "%s", verdict(ratio >= 0.99));
	else if (fabs(1 - bn) <= 0.005)
		snprintf(vd, n, "%s by best batch (×%.3f; median A/A ±%.1f%%)", verdict(b >= 0.99), b,
			 fabs(1 - nratio) * 100);
	else if (fabs(1 - cn) <= 0.005)
		snprintf(vd, n, "%s by CPU (×%.3f; wall A/A ±%.1f%%)", verdict(c >= 0.99), c,
			 fabs(1 - nratio) * 100);
	else if (r->instr[0] > 0 && r->instr[1] > 0)
		snprintf(vd, n, "%s by instructions (×%.3f; wall A/A ±%.1f%%, CPU A/A ±%.1f%%)",
			 verdict((double)r->instr[0] / (double)r->instr[1] >= 0.99),
			 (double)r->instr[0] / (double)r->instr[1], fabs(1 - nratio) * 100,
			 fabs(1 - cn) * 100);
	else
		snprintf(vd, n, "undecided: too noisy (wall A/A ±%.1f%%, CPU A/A ±%.1f%%)",
			 fabs(1 - nratio) * 100, fabs(1 - cn) * 100);
}

static void latency_verdict(const tfb_result *r, double limit, char *vd, size_t n)
{
	double dcpu = us(r->cpu[TFB_V_SHIM] - r->cpu[TFB_V_PLAIN]);
	double ncpu = us(r->cpu[TFB_V_PLAIN2] - r->cpu[TFB_V_PLAIN]);

	double dbest = us(r->best[TFB_V_SHIM] - r->best[TFB_V_PLAIN]);
	double nbest = us(r->best[TFB_V_PLAIN2] - r->best[TFB_V_PLAIN]);

	if (fabs(us(r->paired_null)) <= limit / 2)
		snprintf(vd, n, "%s", verdict(us(r->paired) <= limit));
	else if (fabs(nbest) <= limit / 2)
		snprintf(vd, n, "%s by best batch (%+.1f µs; paired A/A %+.1f µs)", verdict(dbest <= limit),
			 dbest, us(r->paired_null));
	else if (fabs(ncpu) <= limit / 2)
		snprintf(vd, n, "%s by CPU (%+.1f µs; wall A/A %+.1f µs)", verdict(dcpu <= limit), dcpu,
			 us(r->paired_null));
	else
		snprintf(vd, n, "undecided: too noisy (wall A/A %+.1f µs, CPU A/A %+.1f µs)",
			 us(r->paired_null), ncpu);
}

static void throughput(const tfb_run *run, tfb_case k, const char *title)
{
	const tfb_result *r = &run->res[k];
	double by = r->unit_bytes;
	double ma = mbps(by, (double)r->med[TFB_V_PLAIN]), mb = mbps(by, (double)r->med[TFB_V_SHIM]);
	double mn = mbps(by, (double)r->med[TFB_V_PLAIN2]);
	double ratio = ma > 0 ? mb / ma : 0, nratio = ma > 0 ? mn / ma : 0;
	char a[32], b[32], d[48], n[48], vd[96] = "", tgt[32] = "";

	snprintf(a, sizeof(a), "%.0f MB/s", ma);
	snprintf(b, sizeof(b), "%.0f MB/s", mb);
	snprintf(d, sizeof(d), "%+.0f MB/s (×%.3f)", mb - ma, ratio);
	snprintf(n, sizeof(n), "%+.0f MB/s (×%.3f)", mn - ma, nratio);
	if (is_bulk(k)) {
		snprintf(tgt, sizeof(tgt), "ratio ≥ 0.99");
		bulk_verdict(r, ratio, nratio, vd, sizeof(vd));
	}
	row(cases[k].id, title, "median", a, b, d, n, tgt, vd);
	ma = mbps(by, (double)r->p99[TFB_V_PLAIN]);
	mb = mbps(by, (double)r->p99[TFB_V_SHIM]);
	mn = mbps(by, (double)r->p99[TFB_V_PLAIN2]);
	snprintf(a, sizeof(a), "%.0f MB/s", ma);
	snprintf(b, sizeof(b), "%.0f MB/s", mb);
	snprintf(d, sizeof(d), "%+.0f MB/s (×%.3f)", mb - ma, ma > 0 ? mb / ma : 0);
	snprintf(n, sizeof(n), "%+.0f MB/s (×%.3f)", mn - ma, ma > 0 ? mn / ma : 0);
	row("", "", "p99 (slowest 1% of units)", a, b, d, n, "", "");
	ma = mbps(by, r->best[TFB_V_PLAIN]);
	mb = mbps(by, r->best[TFB_V_SHIM]);
	mn = mbps(by, r->best[TFB_V_PLAIN2]);
	snprintf(a, sizeof(a), "%.0f MB/s", ma);
	snprintf(b, sizeof(b), "%.0f MB/s", mb);
	snprintf(d, sizeof(d), "%+.0f MB/s (×%.3f)", mb - ma, ma > 0 ? mb / ma : 0);
	snprintf(n, sizeof(n), "%+.0f MB/s (×%.3f)", mn - ma, ma > 0 ? mn / ma : 0);
	row("", "", "best batch (median of the least disturbed)", a, b, d, n, "", "");
	cpu_row(r, true, by);
	faults_row(r, true, by);
	if (!is_bulk(k)) {
		double extra = r->cpu[TFB_V_SHIM] - r->cpu[TFB_V_PLAIN];
		double noise = fabs(r->cpu[TFB_V_PLAIN2] - r->cpu[TFB_V_PLAIN]);
		char rate[64], nrate[64];

		if (extra > 0)
			snprintf(rate, sizeof(rate), "%.0f MB/s", mbps(by, extra));
		else
			snprintf(rate, sizeof(rate), "no extra CPU measured");
		if (noise > 0)
			snprintf(nrate, sizeof(nrate), "%.0f MB/s", mbps(by, noise));
		else
			snprintf(nrate, sizeof(nrate), "0");
		row("", "", "shim parse rate = bytes / extra client CPU", "", rate, "", nrate,
		    "≥ 1000 MB/s", verdict(extra <= 0 || mbps(by, extra) >= 1000));
	}
	instr_row(run, r, true);
}

static void latency(const tfb_run *run, tfb_case k, const char *title)
{
	const tfb_result *r = &run->res[k];
	double dm = us((double)r->med[TFB_V_SHIM] - (double)r->med[TFB_V_PLAIN]);
	double nm = us((double)r->med[TFB_V_PLAIN2] - (double)r->med[TFB_V_PLAIN]);
	double dp = us((double)r->p99[TFB_V_SHIM] - (double)r->p99[TFB_V_PLAIN]);
	double np = us((double)r->p99[TFB_V_PLAIN2] - (double)r->p99[TFB_V_PLAIN]);
	double limit = k == TFB_RTT_1K ? 1.0 : 20.0;
	bool targeted = k == TFB_RTT_1K || k == TFB_AZ_4K || k == TFB_BR_4K;
	char a[32], b[32], d[64], n[64], tgt[32] = "", vd[96] = "";

	if (targeted) {
		snprintf(tgt, sizeof(tgt), "≤ +%.0f µs", limit);
		latency_verdict(r, limit, vd, sizeof(vd));
	}
	snprintf(a, sizeof(a), "%.1f µs", us((double)r->med[TFB_V_PLAIN]));
	snprintf(b, sizeof(b), "%.1f µs", us((double)r->med[TFB_V_SHIM]));
	snprintf(d, sizeof(d), "%+.1f µs (paired %+.1f)", dm, us(r->paired));
	snprintf(n, sizeof(n), "%+.1f µs (paired %+.1f)", nm, us(r->paired_null));
	row(cases[k].id, title, "median", a, b, d, n, tgt, vd);
	snprintf(a, sizeof(a), "%.1f µs", us((double)r->p99[TFB_V_PLAIN]));
	snprintf(b, sizeof(b), "%.1f µs", us((double)r->p99[TFB_V_SHIM]));
	snprintf(d, sizeof(d), "%+.1f µs", dp);
	snprintf(n, sizeof(n), "%+.1f µs", np);
	if (k == TFB_AZ_4K || k == TFB_BR_4K)
		row("", "", "p99", a, b, d, n, "≤ +100 µs", verdict(dp <= 100));
	else
		row("", "", "p99", a, b, d, n, "", "");
	snprintf(a, sizeof(a), "%.1f µs", us(r->best[TFB_V_PLAIN]));
	snprintf(b, sizeof(b), "%.1f µs", us(r->best[TFB_V_SHIM]));
	snprintf(d, sizeof(d), "%+.1f µs", us(r->best[TFB_V_SHIM] - r->best[TFB_V_PLAIN]));
	snprintf(n, sizeof(n), "%+.1f µs", us(r->best[TFB_V_PLAIN2] - r->best[TFB_V_PLAIN]));
	row("", "", "best batch (median of the least disturbed)", a, b, d, n, "", "");
	cpu_row(r, false, 0);
	faults_row(r, false, 0);
	instr_row(run, r, false);
}

static void memory(const tfb_run *run)
{
	static const char *const titles[2] = { "idle unguarded connection", "idle guarded connection" };

	for (int kind = 0; kind < 2; kind++) {
		const tfb_memres *m = &run->mem[kind];
		char title[96], id[8], a[32], b[32], d[32];

		if (!m->ran)
			continue;
		snprintf(id, sizeof(id), "5%c", 'a' + kind);
		snprintf(title, sizeof(title), "%s (%d open)", titles[kind], run->conns);
		if (m->failed) {
			row(id, title, "", "FAILED", "FAILED", "", "", "", "");
			continue;
		}
		snprintf(a, sizeof(a), "%.0f B", m->rss[0]);
		snprintf(b, sizeof(b), "%.0f B", m->rss[1]);
		snprintf(d, sizeof(d), "%+.0f B", m->rss[1] - m->rss[0]);
		row(id, title, "RSS / connection", a, b, d, "", kind ? "≤ +16 KiB" : "",
		    kind ? verdict(m->rss[1] - m->rss[0] <= 16384) : "");
		snprintf(a, sizeof(a), "%.0f B", m->pss[0]);
		snprintf(b, sizeof(b), "%.0f B", m->pss[1]);
		snprintf(d, sizeof(d), "%+.0f B", m->pss[1] - m->pss[0]);
		row("", "", "PSS / connection", a, b, d, "", "", "");
		snprintf(a, sizeof(a), "%.0f B", m->heap[0]);
		snprintf(b, sizeof(b), "%.0f B", m->heap[1]);
		snprintf(d, sizeof(d), "%+.0f B", m->heap[1] - m->heap[0]);
		row("", "", "malloc'ed / connection", a, b, d, "", kind ? "" : "no allocation",
		    kind ? "" : verdict(m->heap[1] - m->heap[0] < 1.0));
	}
}

static void ledger(const tfb_run *run)
{
	if (!run->ledger_wanted)
		return;
	if (!run->n_ledger) {
		row("4", "ledger reserve+settle", "", run->ledger_note, "", "", "", "", "");
		return;
	}
	for (int i = 0; i < run->n_ledger; i++) {
		const tfb_ledger_line *l = &run->ledger[i];
		char title[96], med[32], p99[32];

		snprintf(title, sizeof(title), "ledger reserve+settle, %.15s backend, %d thread%s",
			 l->backend, l->threads, l->threads > 1 ? "s" : "");
		snprintf(med, sizeof(med), "%.1f µs", l->med_us);
		snprintf(p99, sizeof(p99), "%.1f µs", l->p99_us);
		row(i ? "" : "4", title, "median (bench-ledger)", "—", med, "", "", "", "");
		row("", "", "p99 (bench-ledger)", "—", p99, "", "", "", "");
	}
	if (run->ledger_note[0])
		row("", "", "", "", run->ledger_note, "", "", "", "");
}

static void cpu_model(char *out, size_t n)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(out, n, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && c) {
			snprintf(out, n, "%.*s", (int)(strcspn(c + 2, "\n") & 0x7f), c + 2);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* What the shim wrote to its log during the run (warnings cost time too). */
static void shim_log(const tfb_run *run)
{
	char line[512], first[512] = "";
	FILE *f = run->shim_log ? fopen(run->shim_log, "r") : NULL;
	long n = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!n++)
			snprintf(first, sizeof(first), "%.*s", (int)(strcspn(line, "\n") & 0x1ff), line);
	if (f)
		fclose(f);
	if (n)
		printf("- The shim logged %ld line%s (TOKENFENCE_LOG, a file); the first: `%s`\n", n,
		       n > 1 ? "s" : "", first);
	else
		printf("- The shim logged nothing.\n");
}

static void notes(const tfb_run *run)
{
	printf("\n- Method: three client processes run the same code: *without* the shim, *with* "
	       "LD_PRELOAD=libtokenfence.so, and *without 2*, whose difference from *without* is "
	       "this run's noise floor (A/A). They get the same work in rotating batches, so all "
	       "see the same load; each sample is one unit (1 MiB, one round trip, one call, one "
	       "whole stream) timed in the client with CLOCK_MONOTONIC; handshakes are never timed. "
	       "*paired* = median over rounds of the difference of batch medians. Client CPU = "
	       "CLOCK_PROCESS_CPUTIME_ID per batch / units, median over batches (page faults "
	       "likewise, from getrusage; shown only where some client faulted). *Best batch* = "
	       "the lowest batch median of each client, the least disturbed by other load. A "
	       "verdict uses the medians when their A/A noise is within half the target's "
	       "allowance, else the best batches when theirs is, else client CPU time when that "
	       "is, else (throughput) the exact instruction counts, and says which.\n");
	printf("- The preloaded client runs with TOKENFENCE_MAX_COST=1000000 (every billable call "
	       "reserves and settles in the default file ledger, kept in the work directory) and "
	       "TOKENFENCE_LOG to a file, unless the caller set those variables.\n");
	printf("- Servers (never preloaded): the emulator (`--pace-ms 0`) for 2; the bench's own "
	       "TLS server for 1, 3 and 5. Streams were captured from the emulator once and are "
	       "replayed in 16 KiB records (the emulator paces and fragments its own streams).\n");
	printf("- Load average (1 min) when each case started:");
	for (int k = 0; k < TFB_NCASES; k++)
		if (run->res[k].ran)
			printf(" %s %.1f;", cases[k].id, run->res[k].load_before);
	printf("\n");
	if (run->icount)
		printf("- Instructions: %s. %s.\n",
		       run->perf_ok ? "hardware counter (perf_event_open, user space, around the "
				      "client's measured loop)"
				    : "valgrind --tool=callgrind, Ir of the client process inside its "
				      "measured loop (user space; server and kernel excluded); bulk over "
				      "4 MiB, streams over whole streams, calls over a fixed count after "
				      "warm-up",
		       run->perf_why);
	if (run->mem[0].ran || run->mem[1].ran)
		printf("- Memory: RSS and PSS from /proc/self/smaps_rollup, malloc'ed bytes from "
		       "mallinfo2(), in a fresh client before and after opening %d connections, each "
		       "after one exchange (a 4 KB InvokeModel, or a 1 KiB echo) and left idle; "
		       "median of 2 clients each.\n",
		       run->conns);
	shim_log(run);
}

void tfb_report(const tfb_run *run)
{
	char cpu[128], when[64];
	struct utsname u;
	struct tm tm;

	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	gmtime_r(&run->t0, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	printf("Command: `%s`  \n", run->cmdline);
	printf("Run: %s, %ld s; %s, %ld CPUs, Linux %s, %s. Load average (1 min): %.2f at start, "
	       "%.2f at end.\n\n",
	       when, (long)(run->t1 - run->t0), cpu, sysconf(_SC_NPROCESSORS_ONLN), u.release,
	       OpenSSL_version(OPENSSL_VERSION), run->load_start, run->load_end);
	row("#", "case", "figure", "without shim", "with shim", "with − without", "A/A noise", "target",
	    "");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int k = 0; k < TFB_NCASES; k++) {
		const tfb_result *r = &run->res[k];
		char title[128];

		if (!r->ran)
			continue;
		if (is_bulk(k))
			snprintf(title, sizeof(title), "%s, %.0f MiB in 16 KiB calls", cases[k].title,
				 (double)run->bulk_total / 1048576.0);
		else if (tfb_case_is_throughput(k))
			snprintf(title, sizeof(title), "%s, %.2f MB", cases[k].title, r->unit_bytes / 1e6);
		else
			snprintf(title, sizeof(title), "%s", cases[k].title);
		if (r->failed)
			row(cases[k].id, title, "", "FAILED", "FAILED", "", "", "", "");
		else if (tfb_case_is_throughput(k))
			throughput(run, k, title);
		else
			latency(run, k, title);
	}
	ledger(run);
	memory(run);
	notes(run);
}
