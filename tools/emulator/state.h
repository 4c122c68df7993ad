/* Thread-safe stores of JSON objects created by control-plane routes. */
#ifndef EMU_STATE_H
#define EMU_STATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

typedef enum emu_store {
	EMU_STORE_FT_JOBS,
	EMU_STORE_FILES,
	EMU_STORE_BATCHES,
	EMU_STORE_CUSTOMIZATION_JOBS,
	EMU_STORE_PROVISIONED,
	EMU_STORE_COUNT,
} emu_store;

/* Adds a copy of obj. */
void emu_store_add(emu_store s, const cJSON *obj);
/* A copy of every object (caller frees). */
cJSON *emu_store_list(emu_store s);
/* A copy of the object whose string member key equals id, or NULL. */
cJSON *emu_store_get(emu_store s, const char *key, const char *id);
bool emu_store_remove(emu_store s, const char *key, const char *id);

#endif
