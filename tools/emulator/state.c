/*
 * In-memory objects the control-plane routes create (fine-tuning and
 * customization jobs, files, batches, provisioned throughput), so a create
 * followed by a list or get answers consistently. Lost at exit.
 */
#include <pthread.h>
#include <string.h>

#include "emu.h"
#include "state.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cJSON *stores[EMU_STORE_COUNT];

void emu_state_init(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < EMU_STORE_COUNT; i++)
		if (!stores[i])
			stores[i] = cJSON_CreateArray();
	pthread_mutex_unlock(&lock);
}

void emu_state_free(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < EMU_STORE_COUNT; i++) {
		cJSON_Delete(stores[i]);
		stores[i] = NULL;
	}
	pthread_mutex_unlock(&lock);
}

void emu_store_add(emu_store s, const cJSON *obj)
{
	cJSON *copy = cJSON_Duplicate(obj, true);

	pthread_mutex_lock(&lock);
	if (copy && stores[s])
		cJSON_AddItemToArray(stores[s], copy);
	else
		cJSON_Delete(copy);
	pthread_mutex_unlock(&lock);
}

cJSON *emu_store_list(emu_store s)
{
	cJSON *copy;

	pthread_mutex_lock(&lock);
	copy = stores[s] ? cJSON_Duplicate(stores[s], true) : cJSON_CreateArray();
	pthread_mutex_unlock(&lock);
	return copy;
}

static cJSON *find(emu_store s, const char *key, const char *id)
{
	cJSON *o;

	cJSON_ArrayForEach(o, stores[s])
	{
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

		if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
			return o;
	}
	return NULL;
}

cJSON *emu_store_get(emu_store s, const char *key, const char *id)
{
	cJSON *copy = NULL, *o;

	pthread_mutex_lock(&lock);
	if (stores[s] && (o = find(s, key, id)))
		copy = cJSON_Duplicate(o, true);
	pthread_mutex_unlock(&lock);
	return copy;
}

bool emu_store_remove(emu_store s, const char *key, const char *id)
{
	cJSON *o = NULL;

	pthread_mutex_lock(&lock);
	if (stores[s] && (o = find(s, key, id)))
		cJSON_Delete(cJSON_DetachItemViaPointer(stores[s], o));
	pthread_mutex_unlock(&lock);
	return o != NULL;
}
