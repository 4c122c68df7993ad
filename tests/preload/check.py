#!/usr/bin/env python3
"""Run a host program under libtokenfence.so and hold the shim to account.

The host prints "moved W R": the plaintext bytes it moved through
SSL_write*/SSL_read* (both TLS ends, every process). The shim, asked by
TOKENFENCE_STATS, appends one JSON line per process at exit. The two must
agree exactly: the hooks saw every byte, and none twice.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def preload_env(shim, asan_runtime):
    env = dict(os.environ)
    libs = [asan_runtime] if asan_runtime else []
    env["LD_PRELOAD"] = " ".join(libs + [shim])
    # Host programs leak at exit by design; ASan's leak check is for our tests.
    # quarantine_size_mb=0: freed memory comes back at once, as without ASan,
    # so address-reuse scenarios really reuse addresses.
    env["ASAN_OPTIONS"] = "detect_leaks=0:quarantine_size_mb=0:thread_local_quarantine_size_kb=0:" + env.get("ASAN_OPTIONS", "")
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim", required=True)
    ap.add_argument("--asan-runtime", default="")
    ap.add_argument("--expect-enforced", choices=["true", "false"], default="true")
    ap.add_argument("--processes", type=int, default=1, help="stats lines expected")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.jsonl")
        env = preload_env(a.shim, a.asan_runtime)
        env["TOKENFENCE_STATS"] = stats
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        sys.stderr.write(p.stderr)
        if p.returncode != 0:
            print(f"FAIL: {cmd} exited {p.returncode}\n{p.stdout}")
            return 1
        moved = [l.split()[1:] for l in p.stdout.splitlines() if l.startswith("moved ")]
        w = sum(int(m[0]) for m in moved)
        r = sum(int(m[1]) for m in moved)
        with open(stats) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    if len(lines) != a.processes:
        print(f"FAIL: {len(lines)} stats lines, expected {a.processes}: {lines}")
        return 1
    enforced = all(l["enforced"] for l in lines)
    if str(enforced).lower() != a.expect_enforced:
        print(f"FAIL: enforced={enforced}, expected {a.expect_enforced}")
        return 1
    sw = sum(l["ssl_write_bytes"] for l in lines)
    sr = sum(l["ssl_read_bytes"] for l in lines)
    if a.expect_enforced == "false":
        if sw or sr:
            print(f"FAIL: unenforced process still counted {sw}/{sr} bytes")
            return 1
        if "enforced: false" not in p.stderr:
            print("FAIL: no warning line about unenforceable TLS")
            return 1
        print(f"ok: host moved {w}/{r} bytes the shim cannot see, and it says so")
        return 0
    if (sw, sr) != (w, r):
        print(f"FAIL: host moved write={w} read={r}, shim counted write={sw} read={sr}")
        return 1
    print(f"ok: {len(lines)} process(es), write={w} read={r} bytes, all seen exactly once; "
          f"guarded conns {sum(l['conns_guarded'] for l in lines)}, "
          f"unguarded {sum(l['conns_unguarded'] for l in lines)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
