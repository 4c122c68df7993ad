#include <stdio.h>

#include "tlshost.h"

extern int ctorlib_done;

int main(void)
{
	if (!ctorlib_done) {
		fprintf(stderr, "ctorhost: the library constructor did not run its exchange\n");
		return 1;
	}
	th_roundtrip(true, 1500, 2, false);
	th_report();
	return 0;
}
