/*
 * Instruction counts. Hardware counters when the machine has them (the same
 * counter `perf stat -e instructions` reads, opened by the client itself
 * around the measured loop, user space only); otherwise the driver runs the
 * client under `valgrind --tool=callgrind --toggle-collect=tfb_icount_region`
 * and reads the Ir total, which counts exactly the client's user-space
 * instructions inside that function and nothing else (noise-free).
 */
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

bool tfb_perf_works(char *why, size_t whylen)
{
	FILE *p = popen("perf stat -x, -e instructions true 2>&1", "r");
	char line[256];
	bool ok = false;

	snprintf(why, whylen, "perf not found");
	while (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = 0;
		if (strstr(line, "instructions")) {
			ok = line[0] >= '0' && line[0] <= '9';
			snprintf(why, whylen, "perf stat -e instructions: %.200s", line);
		}
	}
	if (p && pclose(p) != 0)
		ok = false;
	return ok;
}

int tfb_perf_open(void)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

int64_t tfb_callgrind_total(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	long long v = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "summary: %lld", &v) == 1 || sscanf(line, "totals: %lld", &v) == 1)
			break;
	}
	if (f)
		fclose(f);
	return v;
}
