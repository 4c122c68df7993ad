#!/usr/bin/env python3
"""The shim never maps libssl into a process that does not have it (P3),
exports only the hooks (P12), and leaves programs without TLS alone."""
import os
import subprocess
import sys

HOOKS = {"SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex", "SSL_peek", "SSL_peek_ex",
         "SSL_pending", "SSL_has_pending", "SSL_shutdown", "SSL_clear", "SSL_free",
         "SSL_set_alpn_protos", "SSL_CTX_set_alpn_protos"}


def main():
    shim, asan = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    failures = []
    dyn = subprocess.run(["readelf", "-d", shim], capture_output=True, text=True, check=True).stdout
    if "libssl" in dyn or "libcrypto" in dyn:
        failures.append("libtokenfence.so has a DT_NEEDED on libssl/libcrypto")
    syms = subprocess.run(["readelf", "--dyn-syms", "-W", shim], capture_output=True, text=True,
                          check=True).stdout
    exported = set()
    for line in syms.splitlines():
        f = line.split()
        if len(f) >= 8 and f[4] == "GLOBAL" and f[6] != "UND":
            exported.add(f[7].split("@")[0])
    if exported != HOOKS:
        failures.append(f"exports {sorted(exported ^ HOOKS)} differ from the hook list")
    env = dict(os.environ, LD_PRELOAD=" ".join(x for x in (asan, shim) if x),
               ASAN_OPTIONS="detect_leaks=0")
    maps = subprocess.run(["sh", "-c", "grep -c libssl /proc/self/maps"], env=env,
                          capture_output=True, text=True)
    if maps.stdout.strip() != "0":
        failures.append(f"sh under the shim maps libssl: {maps.stdout.strip()} lines")
    for cmd in (["/bin/true"], ["env"], ["sh", "-c", "sh -c true & wait"], ["/sbin/ldconfig", "-p"]):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        if p.returncode != 0 or "tokenfence" in p.stderr:
            failures.append(f"{cmd} under the shim: exit {p.returncode}, stderr {p.stderr[:200]!r}")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"ok: no libssl dependency, exports exactly {len(HOOKS)} hooks, "
              "sh/true/env/static ldconfig unaffected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
