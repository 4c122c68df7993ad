/* A host built with -rdynamic that defines cJSON symbols of its own (P13):
 * if the shim ever called cJSON by name it would land here and fail. */
#include <stdio.h>
#include <stdlib.h>

#include "tlshost.h"

const char *cJSON_Version(void);
void *cJSON_Parse(const char *value);
void *cJSON_ParseWithOpts(const char *value, const char **end, int require_null_terminated);

const char *cJSON_Version(void)
{
	return "HOST-PRIVATE-COPY";
}

void *cJSON_Parse(const char *value)
{
	fprintf(stderr, "rdynamic: the host's cJSON_Parse was called\n");
	exit(1);
}

void *cJSON_ParseWithOpts(const char *value, const char **end, int require_null_terminated)
{
	fprintf(stderr, "rdynamic: the host's cJSON_ParseWithOpts was called\n");
	exit(1);
}

int main(void)
{
	th_init();
	th_roundtrip(true, 2048, 2, true);
	th_roundtrip(true, 2048, 1, false);
	th_report();
	return 0;
}
