/*
 * The bill: one JSON line per request received, written (and flushed) before
 * the response leaves, so whoever got an answer can read its line. It never
 * holds secrets or prompt text: only the route, model ids, counts and cost.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emu.h"

static pthread_mutex_t bill_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *bill_fp;

int emu_bill_open(const char *path)
{
	bill_fp = fopen(path, "a");
	return bill_fp ? 0 : -1;
}

void emu_bill_close(void)
{
	pthread_mutex_lock(&bill_lock);
	if (bill_fp) {
		fflush(bill_fp);
		fclose(bill_fp);
		bill_fp = NULL;
	}
	pthread_mutex_unlock(&bill_lock);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static void add_span(cJSON *o, const char *k, const char *p, size_t n)
{
	char buf[512];

	if (!p) {
		cJSON_AddNullToObject(o, k);
		return;
	}
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	cJSON_AddStringToObject(o, k, buf);
}

void emu_bill_write(const emu_req *q, const char *method, size_t method_len, int status,
		    const emu_result *res, const char *note)
{
	struct timespec ts;
	struct tm tm;
	char when[40], cost[32], pico[24];
	cJSON *o;
	char *line;

	if (!bill_fp)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	tf_money_format(res->cost, cost, sizeof(cost));

	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "n", (double)q->n);
	cJSON_AddStringToObject(o, "time", when);
	cJSON_AddNumberToObject(o, "conn", (double)q->conn);
	add_span(o, "method", method, method_len);
	add_span(o, "path", q->path, q->path_len);
	cJSON_AddStringToObject(o, "provider",
				q->route.provider == EMU_PROV_AZURE ? "azure" : "bedrock");
	cJSON_AddStringToObject(o, "service", q->route.service ? q->route.service : "unknown");
	cJSON_AddStringToObject(o, "operation", q->route.operation ? q->route.operation : "Unknown");
	add_str_or_null(o, "model", res->model);
	add_str_or_null(o, "priced_model", res->priced);
	add_str_or_null(o, "price_match", res->billed ? emu_price_match_name(res->match) : NULL);
	cJSON_AddBoolToObject(o, "stream", res->stream);
	cJSON_AddNumberToObject(o, "status", status);
	add_str_or_null(o, "fault", q->fault ? emu_fault_name(q->fault) : NULL);
	add_str_or_null(o, "note", note);
	cJSON_AddNumberToObject(o, "input_tokens", (double)res->usage.input);
	cJSON_AddNumberToObject(o, "output_tokens", (double)res->usage.output);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)res->usage.cached);
	cJSON_AddNumberToObject(o, "reasoning_tokens", (double)res->usage.reasoning);
	/* The exact decimal text: a raw number, so no float formatting touches it. */
	cJSON_AddRawToObject(o, "cost_usd", cost);
	snprintf(pico, sizeof(pico), "%lld", (long long)res->cost);
	cJSON_AddRawToObject(o, "cost_pico_usd", pico);
	line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!line)
		return;
	pthread_mutex_lock(&bill_lock);
	if (bill_fp) {
		fputs(line, bill_fp);
		fputc('\n', bill_fp);
		fflush(bill_fp);
	}
	pthread_mutex_unlock(&bill_lock);
	free(line);
}
