#!/usr/bin/env python3
"""Real TLS clients work unchanged under LD_PRELOAD=libtokenfence.so.

Usage: test_passthrough.py CLIENT [--guarded]      (CLIENT: see CLIENTS below)
Environment: TF_SHIM = path of libtokenfence.so (meson sets it once the shim
target exists). Without it only the baseline runs and the test is skipped.

For one client against a local HTTPS server (tlsserver.py) it runs:
  1. the client alone (baseline): responses must be the expected ones;
  2. the client with the shim preloaded: same stdout (response digests), the
     server saw the same requests and byte-identical bodies, and the shim's
     stats (TOKENFENCE_STATS) saw exactly the plaintext bytes the server read
     and wrote on that run's connections, all of them unguarded;
  --guarded: in run 2 the server's host:port is a guarded host
     (TOKENFENCE_HOSTS), so every connection takes the hold-and-flush path.
Exit status: 0 pass, 1 fail, 77 skip (client runtime missing, or no shim).
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tfenv  # noqa: E402
import tlsserver  # noqa: E402

SKIP = 77
CLIENT_DIR = os.path.join(HERE, "clients")
NODE18 = os.path.join(tfenv.TOP, "tools", "node18")
NODE_MODULES = os.path.join(HERE, "node", "node_modules")
PY = tfenv.python()
RUN_TIMEOUT = 60
KiB, MiB = 1024, 1024 * 1024

# name: (runtime, script, payload bytes, download bytes, provider when guarded)
# runtime: "sh", "py:<module to import>", "node", "node:<npm package>"
CLIENTS = {
    "curl": ("sh:curl", "curl.sh", 256 * KiB, 2 * MiB, "azure"),
    # curl sends "Expect: 100-continue" for bodies over 1 MiB.
    "curl-expect": ("sh:curl", "curl.sh", 2 * MiB, 0, "azure"),
    "urllib": ("py:urllib.request", "py_urllib.py", 256 * KiB, 2 * MiB, "azure"),
    "http.client": ("py:http.client", "py_httpclient.py", 256 * KiB, 2 * MiB, "azure"),
    "requests": ("py:requests", "py_requests.py", 256 * KiB, 2 * MiB, "azure"),
    "httpx": ("py:httpx", "py_httpx.py", 256 * KiB, 2 * MiB, "azure"),
    "httpx-async": ("py:httpx", "py_httpx_async.py", 256 * KiB, 2 * MiB, "azure"),
    "aiohttp": ("py:aiohttp", "py_aiohttp.py", 256 * KiB, 2 * MiB, "azure"),
    "boto3": ("py:boto3", "py_boto3.py", 256 * KiB, 0, "bedrock"),
    "node-https": ("node", "node_https.js", 256 * KiB, 2 * MiB, "azure"),
    "node-openai": ("node:openai", "node_openai.js", 192 * KiB, 0, "azure"),
    "node-bedrock": ("node:@aws-sdk/client-bedrock-runtime", "node_bedrock.js", 256 * KiB, 0,
                     "bedrock"),
    "download-curl": ("sh:curl", "curl.sh", 1 * KiB, 50 * MiB, "azure"),
    "download-python": ("py:urllib.request", "py_urllib.py", 1 * KiB, 50 * MiB, "azure"),
}


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def make_payload(path, size):
    """A Bedrock/Anthropic-shaped JSON body of exactly `size` bytes (valid JSON,
    so every client and route accepts it), deterministic."""
    head = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,' \
           '"messages":[{"role":"user","content":"'
    tail = '"}]}'
    filler = size - len(head) - len(tail)
    words = "the quick brown fox jumps over the lazy dog %d "
    text, have, i = [], 0, 0
    while have < filler:
        text.append(words % i)
        have += len(text[-1])
        i += 1
    body = (head + "".join(text)[:filler] + tail).encode()
    assert len(body) == size
    json.loads(body)
    with open(path, "wb") as f:
        f.write(body)
    return body


def command(name):
    """(argv prefix, probe argv) for a client: the probe starts its runtime and
    does nothing. Raises Skip when the runtime is missing."""
    runtime, script, *_ = CLIENTS[name]
    path = os.path.join(CLIENT_DIR, script)
    kind, _, what = runtime.partition(":")
    if kind == "sh":
        if not shutil.which(what):
            raise Skip("%s is not installed (run tools/setup)" % what)
        return [path], [what, "--version"]
    if kind == "py":
        probe = [PY, "-c", "import " + what]
        p = subprocess.run(probe, capture_output=True, timeout=30, text=True)
        if p.returncode != 0:
            raise Skip("%s cannot import %s (run tools/setup): %s"
                       % (PY, what, p.stderr.strip().splitlines()[-1:]))
        return [PY, path], probe
    p = subprocess.run([NODE18, "-p", "process.versions.node"], capture_output=True,
                       timeout=30, text=True)
    if p.returncode != 0 or not p.stdout.startswith("18."):
        raise Skip("no Debian node 18 via tools/node18 (run tools/setup): %s"
                   % (p.stderr.strip() or p.stdout.strip()))
    if what and not os.path.isdir(os.path.join(NODE_MODULES, what)):
        raise Skip("npm package %s is not installed in tests/e2e/node (run tools/setup)" % what)
    return [NODE18, path], [NODE18, "-e", "0"]


def check_sanitizer_host(probe, shim, env):
    """A sanitized shim brings the ASan runtime into the host. Some hosts hang
    with that runtime preloaded even without TokenFence: on Debian 12, any
    library whose constructor calls newlocale() (p11-kit, pulled into curl by
    gnutls) leaves glibc's locale lock broken, and the next setlocale()
    deadlocks. Such a host cannot run a sanitized shim at all; say so (skip)
    instead of waiting for the client timeout. A plain build tests it."""
    runtimes = tfenv.preload_list(shim)[:-1]
    if not runtimes:
        return
    env = dict(env, LD_PRELOAD=" ".join(runtimes), ASAN_OPTIONS="detect_leaks=0")
    try:
        subprocess.run(probe, env=env, capture_output=True, timeout=8,
                       stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Skip("`%s` hangs with only %s preloaded (no TokenFence): this host cannot "
                   "run a sanitized shim here; run this test from a plain (unsanitized) build"
                   % (" ".join(probe), " ".join(runtimes)))


def wait_closed(srv, mark, timeout=15):
    """The server's records of connections opened since `mark`, once all are
    closed (the client exited, so they close promptly)."""
    deadline = time.monotonic() + timeout
    while True:
        conns = srv.connections(mark)
        if all(c["closed"] for c in conns):
            return conns
        if time.monotonic() > deadline:
            raise Fail("server connections still open %ds after the client exited" % timeout)
        time.sleep(0.02)


def run_client(argv, env, srv, label):
    mark = srv.count()
    t0 = time.monotonic()
    # Own process group, so a hung client is killed with all its children.
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
        seen = [(c["bytes_in"], c["bytes_out"], [(r["method"], r["path"], r["body_len"])
                                                  for r in c["requests"]])
                for c in srv.connections(mark)]
        raise Fail("%s: client hung for %ds; the server saw (in B, out B, requests) %s; "
                   "stderr tail:\n%s" % (label, RUN_TIMEOUT, seen,
                                         err.decode(errors="replace")[-2000:]))
    finally:
        if p.returncode is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise Fail("%s: client exited %d; stderr tail:\n%s"
                   % (label, p.returncode, err.decode(errors="replace")[-3000:]))
    conns = wait_closed(srv, mark)
    check(conns, "%s: the server saw no TLS connection" % label)
    errs = [c["error"] for c in conns if c["error"]]
    check(not errs, "%s: server-side connection errors: %s" % (label, errs))
    log("%s: exit 0 in %.2fs, %d connection(s), %d request(s), in %d B, out %d B"
        % (label, dt, len(conns), sum(len(c["requests"]) for c in conns),
           sum(c["bytes_in"] for c in conns), sum(c["bytes_out"] for c in conns)))
    return out.decode(), conns


def request_view(conns):
    """What must not change under the shim: each request's method, path and
    body digest, in order. Headers may differ (dates, signatures, ids)."""
    return [(r["method"], r["path"], r["body_sha256"], r["body_len"])
            for c in conns for r in c["requests"]]


def check_baseline(name, out, conns, payload, download):
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    reqs = [r for c in conns for r in c["requests"]]
    want = hashlib.sha256(payload).hexdigest()
    if "post" in lines:  # the echo clients
        echo = tlsserver._json({"sha256": want, "length": len(payload)})
        check(lines["post"] == hashlib.sha256(echo).hexdigest(),
              "baseline: the echo response digest is wrong: %s" % out)
    if download:
        check(lines.get("get") == tlsserver.download_sha256(download),
              "baseline: the %d-byte download digest is wrong: %s" % (download, out))
    if name == "curl-expect":
        check(any(k.lower() == "expect" for r in reqs for k, _ in r["headers"]),
              "baseline: curl sent no Expect: 100-continue; this test would prove nothing")
    posted = [r for r in reqs if r["method"] == "POST"]
    check(posted, "baseline: no POST reached the server")
    if not name.startswith("node-openai"):  # openai wraps the payload in its own JSON
        bad = [r["path"] for r in posted if r["body_sha256"] != want]
        check(not bad, "baseline: the server got a different body on %s" % bad)


# On a guarded connection the shim answers curl's Expect: 100-continue itself
# and strips the Expect field from what it forwards (DESIGN.md §2), so the
# server reads that field less (and sends no 100 Continue of its own; the
# shim's counters count only bytes that really came from the server).
EXPECT_FIELD = len(b"Expect: 100-continue\r\n")


def check_stats(label, stats_path, conns, guarded, expect_answered=False):
    lines = tfenv.read_stats(stats_path)
    check(lines, "%s: the shim wrote no stats line to TOKENFENCE_STATS" % label)
    busy = [s for s in lines if s.get("ssl_write_calls") or s.get("ssl_read_calls")]
    check(busy, "%s: the shim saw no SSL_write/SSL_read call: %s" % (label, lines))
    not_enforced = [s for s in busy if s.get("enforced") is not True]
    check(not not_enforced, "%s: a process with TLS reports enforced=false: %s"
          % (label, not_enforced))
    t = tfenv.sum_stats(lines)
    server_in = sum(c["bytes_in"] for c in conns)
    server_out = sum(c["bytes_out"] for c in conns)
    log("%s: shim saw write %d B in %d calls, read %d B in %d calls, conns %d guarded "
        "+ %d unguarded (%d stats line(s))"
        % (label, t["ssl_write_bytes"], t["ssl_write_calls"], t["ssl_read_bytes"],
           t["ssl_read_calls"], t["conns_guarded"], t["conns_unguarded"], len(lines)))
    if expect_answered:
        server_in += EXPECT_FIELD
    check(t["ssl_write_bytes"] == server_in,
          "%s: the shim counted %d plaintext bytes written, the server read %d"
          % (label, t["ssl_write_bytes"], server_in))
    check(t["ssl_read_bytes"] == server_out,
          "%s: the shim counted %d plaintext bytes read, the server wrote %d"
          % (label, t["ssl_read_bytes"], server_out))
    want_g, want_u = (len(conns), 0) if guarded else (0, len(conns))
    check((t["conns_guarded"], t["conns_unguarded"]) == (want_g, want_u),
          "%s: connections guarded/unguarded = %d/%d, expected %d/%d"
          % (label, t["conns_guarded"], t["conns_unguarded"], want_g, want_u))


def run(name, guarded):
    if name not in CLIENTS:
        raise Fail("unknown client %r; known: %s" % (name, ", ".join(CLIENTS)))
    _, _, size, download, provider = CLIENTS[name]
    shim = os.environ.get("TF_SHIM", "")
    if shim and not os.path.isfile(shim):
        raise Fail("TF_SHIM=%s does not exist" % shim)
    argv0, probe = command(name)

    with tempfile.TemporaryDirectory(prefix="tf-e2e-") as tmp:
        pki = tfenv.Pki(tmp)
        payload_path = os.path.join(tmp, "payload.json")
        payload = make_payload(payload_path, size)
        base_env = tfenv.client_env(pki, tmp)
        with tlsserver.TLSServer(pki.cert, pki.key) as srv:
            base = "https://127.0.0.1:%d" % srv.port
            argv = argv0 + [base, payload_path, str(download)]
            log("client %s: %s" % (name, " ".join(argv)))

            out0, conns0 = run_client(argv, base_env, srv, "without shim")
            check_baseline(name, out0, conns0, payload, download)
            check(not srv.handshake_errors, "handshake errors: %s" % srv.handshake_errors)
            if not shim:
                raise Skip("baseline passed; TF_SHIM is not set, so nothing ran under the shim")
            check_sanitizer_host(probe, shim, base_env)

            label = "with shim" + (" (guarded)" if guarded else "")
            stats = os.path.join(tmp, "stats.jsonl")
            extra = {"TOKENFENCE_LOG": os.path.join(tmp, "tokenfence.log")}
            if guarded:
                extra["TOKENFENCE_HOSTS"] = "127.0.0.1:%d=%s" % (srv.port, provider)
            env = tfenv.with_shim(base_env, shim, stats, extra)
            log("%s: LD_PRELOAD=%s %s" % (label, env["LD_PRELOAD"],
                                        extra.get("TOKENFENCE_HOSTS", "")))
            try:
                out1, conns1 = run_client(argv, env, srv, label)
            finally:
                if os.path.exists(extra["TOKENFENCE_LOG"]):
                    with open(extra["TOKENFENCE_LOG"], errors="replace") as f:
                        text = f.read().strip()
                    if text:
                        log("%s: shim log:\n%s" % (label, text[-3000:]))
            check(out1 == out0, "%s: responses differ from the baseline:\n%s\nvs\n%s"
                  % (label, out1, out0))
            check(request_view(conns1) == request_view(conns0),
                  "%s: the server saw different requests:\n%s\nvs\n%s"
                  % (label, request_view(conns1), request_view(conns0)))
            check_stats(label, stats, conns1, guarded,
                        expect_answered=guarded and name == "curl-expect")
            check(not srv.handshake_errors, "handshake errors: %s" % srv.handshake_errors)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if len(args) != 1 or set(flags) - {"--guarded"}:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        run(args[0], "--guarded" in flags)
    except Skip as e:
        log("SKIP %s: %s" % (args[0], e))
        return SKIP
    except Fail as e:
        log("FAIL %s: %s" % (args[0], e))
        return 1
    log("PASS %s%s" % (args[0], " (guarded)" if "--guarded" in flags else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
