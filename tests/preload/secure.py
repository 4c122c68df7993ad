#!/usr/bin/env python3
"""In a secure-execution (setuid) process the shim stays inert (STYLE.md P10):
no files, no sockets, no config read, calls passed straight through.

ld.so ignores LD_PRELOAD paths with a slash in such processes and loads only
set-user-ID libraries from the standard directories, so the test installs a
setuid copy of the shim in the system library directory for the duration,
runs a setuid-root copy of python3 as user nobody, and checks that a TLS
exchange still works while the shim wrote nothing. Needs root (else skipped)."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

LIBDIR = "/usr/lib/x86_64-linux-gnu"


def main():
    shim = sys.argv[1]
    if os.geteuid() != 0:
        print("skip: needs root to install a setuid test library")
        return 77
    needed = subprocess.run(["readelf", "-d", shim], capture_output=True, text=True).stdout
    if "libasan" in needed:
        # A sanitized shim needs its runtime preloaded first, by path, and ld.so
        # ignores preload paths in secure mode; tools/test runs this from the
        # plain build.
        print("skip: the shim is built with ASan; this runs from a plain build")
        return 77
    nobody = pwd.getpwnam("nobody")
    name = "libtokenfence-securetest-%d.so" % os.getpid()
    lib = os.path.join(LIBDIR, name)
    tmp = tempfile.mkdtemp(prefix="tf-secure-")
    os.chmod(tmp, 0o777)
    py = os.path.join(tmp, "python3-setuid")
    try:
        shutil.copy(shim, lib)
        os.chmod(lib, 0o4755)
        shutil.copy("/usr/bin/python3", py)
        os.chmod(py, 0o4755)
        stats = os.path.join(tmp, "stats.jsonl")
        bad_config = os.path.join(tmp, "bad.json")
        with open(bad_config, "w") as f:
            f.write("{ not json")
        env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": name, "TOKENFENCE_STATS": stats,
               "TOKENFENCE_CONFIG": bad_config, "TOKENFENCE_SOCKET_DIR": tmp}
        code = ("import os, ssl\n"
                "assert os.geteuid() == 0 and os.getuid() != 0, (os.geteuid(), os.getuid())\n"
                "maps = open('/proc/self/maps').read()\n"
                "print('loaded' if '%s' in maps else 'not-loaded')\n"
                "c = ssl.create_default_context(); s = ssl.MemoryBIO(); t = ssl.MemoryBIO()\n"
                "o = c.wrap_bio(s, t, server_hostname='bedrock-runtime.us-east-1.amazonaws.com')\n"
                "try:\n o.do_handshake()\nexcept ssl.SSLWantReadError:\n pass\n"
                "print('tls ok', t.pending > 0)\n" % name)
        p = subprocess.run([py, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                           user=nobody.pw_uid, group=nobody.pw_gid)
        print(p.stdout, p.stderr)
        failures = []
        if p.returncode != 0:
            failures.append("the setuid program failed (exit %d)" % p.returncode)
        if "loaded" not in p.stdout.splitlines():
            failures.append("the shim was not loaded, so nothing was tested")
        if "tls ok True" not in p.stdout:
            failures.append("TLS did not work through the inert shim")
        if os.path.exists(stats):
            failures.append("the inert shim wrote its stats file")
        if [f for f in os.listdir(tmp) if f.endswith(".sock")]:
            failures.append("the inert shim made a control socket")
        if "tokenfence" in p.stderr:
            failures.append("the inert shim read its config or logged: %r" % p.stderr[:300])
        for f in failures:
            print("FAIL:", f)
        if not failures:
            print("ok: setuid process ran with the shim loaded and inert (bad config ignored, "
                  "no stats, no socket)")
        return 1 if failures else 0
    finally:
        if os.path.exists(lib):
            os.unlink(lib)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
