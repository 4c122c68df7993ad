/* A library whose constructor does guarded TLS before the host's main()
 * and, depending on the loader's order, before the shim's own constructor
 * (STYLE.md P6, libfaketime's snippet tests). */
#include "tlshost.h"

int ctorlib_done;

__attribute__((constructor)) static void ctorlib_init(void)
{
	th_init();
	th_roundtrip(true, 1500, 2, true);
	ctorlib_done = 1;
}
