/* OpenSSL linked statically into the executable and exported (as the
 * nodesource node does): its TLS never reaches our hooks, and the shim must
 * say so (enforced: false) instead of pretending (STYLE.md P4). */
#include "tlshost.h"

int main(void)
{
	th_init();
	th_roundtrip(true, 100, 1, true);
	th_report();
	return 0;
}
