#!/usr/bin/env python3
"""A node whose executable carries its own OpenSSL (nodesource's /usr/bin/node)
is reported as enforced: false rather than silently unguarded (P4)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    shim, asan = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    node = shutil.which("node") or "/usr/bin/node"
    if not os.path.exists(node):
        print("skip: no node here")
        return 77
    syms = subprocess.run(["readelf", "--dyn-syms", "-W", node], capture_output=True, text=True).stdout
    if not any(l.split()[-1].startswith("SSL_write") for l in syms.splitlines() if l.split()):
        print(f"skip: {node} uses a shared libssl; nothing to detect")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "s.jsonl")
        env = dict(os.environ, LD_PRELOAD=" ".join(x for x in (asan, shim) if x),
                   ASAN_OPTIONS="detect_leaks=0", TOKENFENCE_STATS=stats)
        p = subprocess.run([node, "-e", "process.exit(0)"], env=env, capture_output=True,
                           text=True, timeout=60)
        lines = [json.loads(l) for l in open(stats)] if os.path.exists(stats) else []
    if p.returncode != 0 or len(lines) != 1 or lines[0]["enforced"] is not False:
        print(f"FAIL: exit {p.returncode}, stats {lines}, stderr {p.stderr[:300]!r}")
        return 1
    warnings = [l for l in p.stderr.splitlines() if "enforced: false" in l]
    if len(warnings) != 1:
        print(f"FAIL: expected one warning line, got {warnings}")
        return 1
    print(f"ok: {node} reports enforced: false with one warning: {warnings[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
