#!/usr/bin/env python3
"""HTTP/2 end to end (issue 10): real HTTP/2 clients under the real shim
against the emulator speaking h2 (--http2), whose bill is the ground truth.

    test_h2.py CASE        (meson suite 'h2', one test per CASE)

Clients: the npm `@aws-sdk/client-bedrock-runtime` with its DEFAULT request
handler (NodeHttp2Handler: HTTP/2, a session per request) on Debian node 18;
the same SDK with a shared session; node's own `http2` module (one session
for many requests); curl --http2 (skipped in sanitized builds: curl hangs
in setlocale with the ASan runtime preloaded, TokenFence or not).

Checked: accounting equals the bill (tokens and pico-dollars, per call);
a streamed ConverseStream is booked exactly from its events; a budget block
and a policy denial reach the SDK as its own exception after one attempt,
and the next request on the same HTTP/2 connection succeeds; a downgrade is
rewritten and re-signed over HTTP/2 and accepted by the emulator's SigV4
check; `h2: downgrade_alpn` makes curl speak HTTP/1.1 and stops the SDK.
Bad input (raw HTTP/2 servers written here): malformed frames and an
oversized header block from the server reach the app exactly as without
the shim; a server that never sends WINDOW_UPDATE leaves the app where it
would be without the shim, with memory bounded; an oversized request header
block is answered and the connection goes on.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402
from guard import Guard, Tap, check_accounting, NODE18, NODE_DIR  # noqa: E402
import emu as emumod  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_JS = os.path.join(HERE, "clients", "node_bedrock_h2.js")
H2_JS = os.path.join(HERE, "clients", "node_h2.js")
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
OPUS = "anthropic.claude-3-opus-20240229-v1:0"


def node_ready(tap):
    if not os.access(NODE18, os.X_OK):
        tap.skip_all("no tools/node18")
    p = subprocess.run([NODE18, "-e", "require('@aws-sdk/client-bedrock-runtime')"], cwd=NODE_DIR,
                       env=dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules")),
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        tap.skip_all("node 18 cannot load @aws-sdk/client-bedrock-runtime (run tools/setup): %s"
                     % p.stderr.strip()[-300:])


def sdk(tap, g, env, steps, shared=False, label="sdk"):
    """Runs the SDK client; returns its per-step results."""
    argv = [NODE18, SDK_JS, g.bedrock_url, json.dumps(steps)] + (["shared"] if shared else [])
    p = subprocess.run(argv, env=env, cwd=NODE_DIR, capture_output=True, text=True, timeout=180)
    tap.eq(p.returncode, 0, "%s: node exit status" % label)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or len(out) != len(steps):
        tap.note(p.stderr[-3000:])
        tap.note(g.shim_log()[-3000:])
    return out


def node_h2(g, env, url, reqs, timeout=120):
    p = subprocess.run([NODE18, H2_JS, url, json.dumps(reqs)], env=env, cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p, lines


def curl_ok(tap):
    if not shutil.which("curl"):
        tap.skip_all("curl is not installed")
    if guard.sanitized():
        try:
            subprocess.run(["curl", "--version"], capture_output=True, timeout=8,
                           env=dict(os.environ, LD_PRELOAD=" ".join(guard.asan_runtimes()),
                                    ASAN_OPTIONS="detect_leaks=0"))
        except subprocess.TimeoutExpired:
            tap.skip_all("curl hangs with only the ASan runtime preloaded (no TokenFence; "
                         "p11-kit + glibc setlocale lock): run this test from a plain build")


def invoke_body(max_tokens, text="hello"):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}


def config(g, doc):
    path = os.path.join(g.dir, "config.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


# ---- the AWS JS SDK, default handler ----------------------------------------------

def t_sdk_accounting(tap):
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "0") as g:
        steps = [{"op": "invoke", "model": HAIKU, "max_tokens": 12, "text": "count to three"},
                 {"op": "converse", "model": HAIKU, "max_tokens": 7},
                 {"op": "converse", "model": SONNET, "max_tokens": 30, "text": "a longer prompt " * 9},
                 {"op": "invoke", "model": "us." + HAIKU, "max_tokens": 25}]
        out = sdk(tap, g, g.preload_env(), steps)
        tap.check(all(r.get("ok") for r in out), "sdk: every call succeeded", out)
        billed = g.billed(len(steps))
        guard.wait_until(lambda: len(g.calls()) >= len(billed), timeout=5)
        tap.eq(len({l["conn"] for l in billed}), len(steps),
               "sdk: the default handler opened one HTTP/2 session per request")
        check_accounting(tap, g, "sdk h2", billed, None, g.calls())
        tap.eq([e.get("tokenfence.usage_source") for e in g.calls()],
               ["headers", "headers", "headers", "headers"], "sdk: usage read from the responses")


def t_sdk_stream(tap):
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "1") as g:
        steps = [{"op": "converse_stream", "model": HAIKU, "max_tokens": 40, "text": "stream please"},
                 {"op": "converse_stream", "model": SONNET, "max_tokens": 5},
                 {"op": "converse", "model": HAIKU, "max_tokens": 3}]
        out = sdk(tap, g, g.preload_env(), steps)
        tap.check(all(r.get("ok") for r in out), "stream: every call succeeded", out)
        if len(out) == 3:
            tap.eq(out[0]["usage"]["outputTokens"], 20, "stream: the SDK read the whole stream")
        billed = g.billed(3)
        guard.wait_until(lambda: len(g.calls()) >= 3, timeout=5)
        check_accounting(tap, g, "stream h2", billed, None, g.calls())
        tap.eq([e.get("tokenfence.usage_source") for e in g.calls()], ["stream", "stream", "headers"],
               "stream: streamed calls booked from their events")
        tap.eq([e.get("tokenfence.stream") for e in g.calls()], [True, True, False],
               "stream: the calls are seen as streams")
        tap.eq(g.notes("warning"), [], "stream: no call charged at its worst case")


def t_sdk_stream_cut(tap):
    """`tokenfence kill` while a ConverseStream runs over HTTP/2: the layer
    cuts the stream (h2.h "Cut"); the SDK raises the provider's stream
    error naming TokenFence; the call is charged at least the bill; after
    `tokenfence resume` the next request goes on the same session."""
    node_ready(tap)
    for shared in (True, False):
        label = "cut shared session" if shared else "cut default handler"
        with Guard("--http2", "--pace-ms", "30", "--reply-tokens", "2000") as g:
            go = os.path.join(g.dir, "resumed")
            steps = [{"op": "converse_stream", "model": HAIKU, "max_tokens": 2000,
                      "text": "a long story please"},
                     {"op": "converse", "model": HAIKU, "max_tokens": 5, "wait_for": go}]

            def cut_then_resume():
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and '"pid"' not in g.cli(["status", "--json"]).stdout:
                    time.sleep(0.1)
                time.sleep(0.5)
                tap.eq(g.cli(["kill"]).returncode, 0, "%s: tokenfence kill" % label)
                while time.monotonic() < deadline and not any(
                        "stream cut" in json.dumps(n, default=str) for n in g.notes("block")):
                    time.sleep(0.1)
                tap.eq(g.cli(["resume"]).returncode, 0, "%s: tokenfence resume" % label)
                open(go, "w").close()

            t = threading.Thread(target=cut_then_resume, daemon=True)
            t.start()
            out = sdk(tap, g, g.preload_env(), steps, shared=shared, label=label)
            t.join(timeout=150)
            tap.eq(len(out), 2, "%s: two results" % label)
            if len(out) != 2:
                continue
            cut, nxt = out
            tap.check(not cut.get("ok") and "TokenFence" in (cut.get("message") or "")
                      and "budget exceeded" in (cut.get("message") or ""),
                      "%s: the SDK raised the stream's error, naming TokenFence" % label, cut)
            tap.check(nxt.get("ok") and nxt.get("http") == 200,
                      "%s: the next request succeeded" % label, nxt)
            # Over separate sessions the short call may well end first.
            bill = sorted(g.bill(2), key=lambda l: l["path"].endswith("/converse"))
            tap.eq([l["path"].split("/")[-1] for l in bill], ["converse-stream", "converse"],
                   "%s: both calls reached the emulator" % label)
            if shared:
                tap.eq(len({l["conn"] for l in bill}), 1,
                       "%s: the next request went on the same HTTP/2 connection" % label)
            guard.wait_until(lambda: len(g.calls()) >= 2, timeout=10)
            calls = sorted(g.calls(), key=lambda e: not e.get("tokenfence.stream"))
            tap.eq(len(calls), 2, "%s: two calls booked" % label)
            if len(calls) != 2 or len(bill) != 2:
                continue
            c, b = calls[0], bill[0]
            tap.check(int(c["tokenfence.cost_pico"]) > 0 and
                      int(c["tokenfence.cost_pico"]) >= int(b["cost_pico_usd"]),
                      "%s: the cut call is charged > 0 and >= the bill (%s >= %s)"
                      % (label, c["tokenfence.cost_pico"], b["cost_pico_usd"]), (c, b))
            tap.check("stream cut by TokenFence" in c.get("message", ""),
                      "%s: the call is booked as cut" % label, c)
            tap.eq(int(calls[1]["tokenfence.cost_pico"]), int(bill[1]["cost_pico_usd"]),
                   "%s: the next call is booked exactly" % label)
            tap.check(b["output_tokens"] > 0, "%s: the cut stream had output" % label, b)
            # RST_STREAM stopped it: the emulator, which writes as long as
            # the windows allow, reads it once the stream's window is spent.
            tap.check(b["output_tokens"] < 2000,
                      "%s: the server stopped generating (%s of 2000 tokens billed)"
                      % (label, b["output_tokens"]), b)


def block_steps():
    return [{"op": "converse", "model": HAIKU, "max_tokens": 8},
            {"op": "invoke", "model": HAIKU, "max_tokens": 4000},
            {"op": "converse", "model": OPUS, "max_tokens": 8},
            {"op": "converse", "model": HAIKU, "max_tokens": 9}]


def check_blocked(tap, g, out, label, shared):
    tap.eq(len(out), 4, "%s: four results" % label)
    if len(out) != 4:
        return
    tap.check(out[0].get("ok") and out[3].get("ok"), "%s: the allowed calls succeeded" % label, out)
    b, d = out[1], out[2]
    tap.eq((b.get("name"), b.get("http"), b.get("attempts")), ("BudgetExceededException", 402, 1),
           "%s: the budget block is the SDK's own exception, after one attempt" % label)
    tap.check("budget exceeded" in (b.get("message") or "").lower(),
              "%s: the budget message says so" % label, b)
    tap.eq((d.get("name"), d.get("http"), d.get("attempts")), ("PolicyDeniedException", 403, 1),
           "%s: the policy denial is the SDK's own exception, after one attempt" % label)
    tap.check("denied by policy" in (d.get("message") or "").lower(),
              "%s: the denial message says so" % label, d)
    billed = g.billed(2)
    tap.eq([l["path"].split("/")[-1] for l in g.bill()], ["converse", "converse"],
           "%s: the blocked and denied calls never reached the emulator" % label)
    if shared:
        tap.eq(len({l["conn"] for l in billed}), 1,
               "%s: the call after the block and the denial went on the same HTTP/2 connection"
               % label)
    guard.wait_until(lambda: len(g.calls()) >= 2, timeout=5)
    check_accounting(tap, g, label, billed, None, g.calls())
    tap.eq(sorted(e.get("tokenfence.decision") for e in g.records()),
           ["allow", "allow", "block", "deny"], "%s: records of the blocked and denied calls" % label)


def t_sdk_block_deny(tap):
    node_ready(tap)
    for shared in (False, True):
        label = "sdk shared session" if shared else "sdk default handler"
        with Guard("--http2", "--pace-ms", "0") as g:
            cfg = config(g, {"max_cost_per_request": 0.001, "clamp_max_tokens": False,
                             "policy": {"default": "allow", "rules": [
                                 {"effect": "deny", "action": "bedrock:InvokeModel:*opus*"}]}})
            out = sdk(tap, g, g.preload_env(TOKENFENCE_CONFIG=cfg), block_steps(), shared=shared,
                      label=label)
            check_blocked(tap, g, out, label, shared)


def t_sdk_downgrade(tap):
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "0") as g:
        cfg = config(g, {"model_downgrade": {SONNET: HAIKU}, "max_cost": 0.01})
        steps = [{"op": "converse", "model": SONNET, "max_tokens": 1000},
                 {"op": "invoke", "model": SONNET, "max_tokens": 1000},
                 {"op": "converse_stream", "model": SONNET, "max_tokens": 1000}]
        out = sdk(tap, g, g.preload_env(TOKENFENCE_CONFIG=cfg), steps, label="downgrade")
        tap.check(all(r.get("ok") for r in out), "downgrade: every call succeeded", out)
        bill = g.bill(3)
        tap.eq([l["model"] for l in bill], [HAIKU] * 3, "downgrade: the emulator was asked for haiku")
        tap.eq([l["status"] for l in bill], [200] * 3,
               "downgrade: the re-signed requests passed the emulator's SigV4 check")
        guard.wait_until(lambda: len(g.calls()) >= 3, timeout=5)
        tap.eq([e.get("tokenfence.decision") for e in g.calls()], ["downgrade"] * 3,
               "downgrade: the calls are recorded as downgraded")
        check_accounting(tap, g, "downgrade", g.billed(3), None, g.calls())


def t_downgrade_alpn(tap):
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "0") as g:
        env = g.preload_env(TOKENFENCE_H2="downgrade_alpn")
        out = sdk(tap, g, env, [{"op": "converse", "model": HAIKU, "max_tokens": 8}],
                  label="downgrade_alpn sdk")
        tap.check(out and not out[0].get("ok"),
                  "downgrade_alpn: the SDK, which insists on h2, is stopped", out)
        # The emulator saw the app's own HTTP/2 preface on an HTTP/1.1
        # connection (garbage, 400), never a request: nothing unguarded.
        tap.eq([l for l in g.bill() if l["method"] or l["cost_pico_usd"]], [],
               "downgrade_alpn: no request reached the emulator")
        tap.eq(g.records(), [], "downgrade_alpn: and no call was charged")
        if shutil.which("curl") and not guard.sanitized():
            p = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                "-H", "Authorization: Bearer " + emumod.BEDROCK_API_KEY,
                                "-H", "Content-Type: application/json",
                                "--data-binary", json.dumps(invoke_body(5)),
                                "%s/model/%s/invoke" % (g.bedrock_url, urllib.parse.quote(HAIKU, safe=""))],
                               env=env, capture_output=True, text=True, timeout=60)
            tap.eq(p.stdout, "1.1 200", "downgrade_alpn: curl --http2 spoke HTTP/1.1")
            guard.wait_until(lambda: len(g.calls()) >= 1, timeout=5)
            check_accounting(tap, g, "downgrade_alpn curl", g.billed(1), None, g.calls())


# ---- curl --http2 -------------------------------------------------------------------

def t_curl(tap):
    curl_ok(tap)
    with Guard("--http2", "--pace-ms", "0") as g:
        cfg = config(g, {"max_cost_per_request": 0.001, "clamp_max_tokens": False,
                         "model_downgrade": {"amazon.titan-text-express-v1": "amazon.titan-text-lite-v1"},
                         "downgrade_at": 0.000001, "max_cost": 1,
                         "policy": {"default": "allow", "rules": [
                             {"effect": "deny", "action": "bedrock:InvokeModel:*opus*"}]}})
        env = g.preload_env(TOKENFENCE_CONFIG=cfg)
        q = lambda m: urllib.parse.quote(m, safe="")  # noqa: E731
        common = ["-sS", "-H", "Content-Type: application/json", "-o", "/dev/null", "-w",
                  "%{http_code} %{http_version} %{num_connects}\\n"]
        bearer = ["-H", "Authorization: Bearer " + emumod.BEDROCK_API_KEY]
        sig = ["--aws-sigv4", "aws:amz:us-east-1:bedrock", "--user",
               "%s:%s" % (emumod.AKID, emumod.SECRET)]
        az = ["-H", "api-key: " + emumod.AZURE_KEY]
        urls = [
            (bearer, "%s/model/%s/invoke" % (g.bedrock_url, q(HAIKU)), invoke_body(9)),
            (bearer, "%s/model/%s/invoke" % (g.bedrock_url, q(HAIKU)), invoke_body(4000)),
            (bearer, "%s/model/%s/invoke" % (g.bedrock_url, q(OPUS)), invoke_body(9)),
            (sig, "%s/model/amazon.titan-text-express-v1/invoke" % g.bedrock_url,
             {"inputText": "hi there", "textGenerationConfig": {"maxTokenCount": 7}}),
            (bearer, "%s/model/%s/invoke" % (g.bedrock_url, q(HAIKU)), invoke_body(11)),
        ]
        argv = ["curl", "--http2"]
        for i, (auth, url, body) in enumerate(urls):
            if i:
                argv.append("--next")
            argv += common + auth + ["--data-binary", json.dumps(body), url]
        argv += ["--next"] + common + az + ["--data-binary",
                                            json.dumps({"messages": [{"role": "user", "content": "x"}],
                                                        "max_tokens": 5}),
                                            "%s/openai/deployments/gpt-4o-mini/chat/completions?"
                                            "api-version=2024-10-21" % g.azure_url]
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        rows = [l.split() for l in p.stdout.splitlines()]
        tap.eq([r[0] for r in rows], ["200", "402", "403", "200", "200", "200"],
               "curl: allowed, budget-blocked, denied, downgraded, allowed, Azure")
        tap.eq({r[1] for r in rows}, {"2"}, "curl: every transfer spoke HTTP/2")
        tap.eq([r[2] for r in rows[:5]], ["1", "0", "0", "0", "0"],
               "curl: the Bedrock calls shared one connection, across the block and the denial")
        billed = g.billed(4)
        tap.eq([l["model"] for l in g.bill()],
               [HAIKU, "amazon.titan-text-lite-v1", HAIKU, "gpt-4o-mini"],
               "curl: blocked calls never reached the emulator; the downgrade did")
        tap.eq([l["status"] for l in g.bill()], [200] * 4,
               "curl: the re-signed downgrade passed SigV4")
        guard.wait_until(lambda: len(g.calls()) >= 4, timeout=5)
        check_accounting(tap, g, "curl h2", billed, None, g.calls())


def normalise(sse):
    """What differs between two runs of the same stream (test_streaming.py)."""
    sse = re.sub(rb'"created":\d+', b'"created":0', sse)
    return re.sub(rb'"id":"chatcmpl-[^"]*"', b'"id":"X"', sse)


def t_curl_stream_hide(tap):
    """An Azure streaming chat that did not ask for usage: TokenFence adds
    include_usage (the call is booked exactly from the stream) and cuts the
    usage chunk and the "usage":null members out of the DATA frames, so curl
    writes byte for byte what it writes without TokenFence."""
    curl_ok(tap)
    with Guard("--http2", "--pace-ms", "0", "--reply-tokens", "300") as g:
        body = json.dumps({"messages": [{"role": "user", "content": "tell me a story"}],
                           "max_tokens": 300, "stream": True})
        url = ("%s/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
               % g.azure_url)

        def fetch(env, name):
            out = os.path.join(g.dir, name)
            p = subprocess.run(["curl", "--http2", "-sS", "-N", "-H", "Content-Type: application/json",
                                "-H", "api-key: " + emumod.AZURE_KEY, "--data-binary", body,
                                "-o", out, "-w", "%{http_code} %{http_version}", url],
                               env=env, capture_output=True, text=True, timeout=120)
            with open(out, "rb") as f:
                return p, f.read()

        p0, without = fetch(g.plain_env(), "without.sse")
        p1, with_ = fetch(g.preload_env(), "with.sse")
        tap.eq((p0.stdout, p1.stdout), ("200 2", "200 2"),
               "curl stream: both transfers spoke HTTP/2 and got 200")
        tap.check(without.count(b"data: ") > 100 and b'"usage"' not in without,
                  "curl stream: the stream without TokenFence has no usage", without[-400:])
        tap.check(b'"usage"' not in with_, "curl stream: no usage reaches curl", with_[-600:])
        tap.check(normalise(with_) == normalise(without),
                  "curl stream: curl wrote byte for byte the stream it asked for",
                  "without %d bytes, with %d\n%r\n%r" % (len(without), len(with_), without[-300:],
                                                         with_[-300:]))
        billed = g.billed(2)
        tap.eq(len(billed), 2, "curl stream: the emulator billed both calls")
        guard.wait_until(lambda: len(g.calls()) >= 1, timeout=5)
        calls = g.calls()
        tap.eq([c.get("tokenfence.usage_source") for c in calls], ["stream"],
               "curl stream: booked from the stream's usage chunk")
        check_accounting(tap, g, "curl h2 stream", billed[1:], None, calls)
        if tap.failed:
            tap.note(g.shim_log()[-3000:])


def t_node_stream_big_event(tap):
    """An edited stream (usage hidden) whose one event is larger than the 64 KiB
    stream window node starts with: TokenFence must not hold it until the
    server stalls; it gives the stream up (usage then visible) and the call
    completes and is booked exactly."""
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "0", "--fail", "bigevent") as g:
        body = json.dumps({"messages": [{"role": "user", "content": "tell me a story"}],
                           "max_tokens": 100, "stream": True})
        path = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        req = {"path": path, "body": body, "timeout_ms": 20000,
               "headers": {"content-type": "application/json", "api-key": emumod.AZURE_KEY}}
        p, out = node_h2(g, g.preload_env(), g.azure_url, [req, req])
        tap.eq(p.returncode, 0, "big event: node exit status")
        tap.eq([(o.get("status"), o.get("error")) for o in out[:2]], [(200, None), (200, None)],
               "big event: both streams completed on one session, no timeout")
        tap.check(all(o.get("length", 0) > 100 << 10 for o in out[:2]),
                  "big event: node read the 100 KiB event", [o.get("length") for o in out[:2]])
        tap.check("over 8 KiB" in g.shim_log(), "big event: the shim said it gave the edit up",
                  g.shim_log()[-1500:])
        billed = g.billed(2)
        guard.wait_until(lambda: len(g.calls()) >= 2, timeout=5)
        calls = g.calls()
        tap.eq([c.get("tokenfence.usage_source") for c in calls], ["stream", "stream"],
               "big event: booked from the streams' usage chunks")
        check_accounting(tap, g, "big event", billed, None, calls)
        if tap.failed:
            tap.note(p.stderr[-2000:])
            tap.note(g.shim_log()[-3000:])


# ---- bad input: raw HTTP/2 servers ------------------------------------------------------

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(v, prefix_bits, first):
    top = (1 << prefix_bits) - 1
    if v < top:
        return bytes([first | v])
    out = [first | top]
    v -= top
    while v >= 128:
        out.append(v % 128 + 128)
        v //= 128
    out.append(v)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name (RFC 7541 §6.2.2)."""
    return (b"\x00" + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value)


class RawH2Server:
    """A TLS server speaking just enough HTTP/2 for one scenario per run."""

    def __init__(self, pki, scenario):
        self.scenario = scenario
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki.cert, pki.key)
        self.ctx.set_alpn_protocols(["h2"])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def recv_until(self, s, n, buf):
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise EOFError
            self.received += len(d)
            buf += d
        return buf

    def serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
            s.settimeout(15)
            buf = self.recv_until(s, 24, b"")[24:]
            s.sendall(frame(4, 0, 0))                       # our SETTINGS
            while True:                                      # until the first HEADERS
                buf = self.recv_until(s, 9, buf)
                ln = struct.unpack(">I", b"\0" + buf[:3])[0]
                buf = self.recv_until(s, 9 + ln, buf)
                ftype, flags, sid = buf[3], buf[4], struct.unpack(">I", buf[5:9])[0] & 0x7fffffff
                buf = buf[9 + ln:]
                if ftype == 4 and not flags & 1:
                    s.sendall(frame(4, 1, 0))                # ACK theirs
                if ftype == 1:
                    break
            if self.scenario == "garbage":
                s.sendall(frame(8, 0, 0, b"\x00\x00\x01") + b"\xde\xad\xbe\xef" * 8)
            elif self.scenario == "big-headers":
                block = b"\x88" + b"".join(hpack_literal(b"x-big-%d" % i, b"v" * 9000) for i in range(12))
                first, rest = block[:16384], block[16384:]
                s.sendall(frame(1, 0, sid, first))
                while rest:
                    part, rest = rest[:16384], rest[16384:]
                    s.sendall(frame(9, 4 if not rest else 0, sid, part))
                s.sendall(frame(0, 1, sid, b"hello after big headers"))
            elif self.scenario == "no-window-update":
                # Read whatever comes (never credit it), answer nothing.
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    self.received += len(d)
            s.settimeout(3)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
            s.close()
        except (OSError, EOFError, ssl.SSLError):
            pass

    def close(self):
        self.stop = True
        self.sock.close()


def compare_with_and_without(tap, g, scenario, reqs, label):
    srv = RawH2Server(g.pki, scenario)
    url = "https://127.0.0.1:%d" % srv.port
    g.hosts.append("127.0.0.1:%d=bedrock" % srv.port)
    # The baseline has the sanitizer runtime too (sanitized builds), and its
    # quarantine is kept small, so that memory figures compare the shim alone.
    asan = "detect_leaks=0:quarantine_size_mb=1"
    try:
        p0, plain = node_h2(g, g.asan_only_env(ASAN_OPTIONS=asan), url, reqs)
        p1, shim = node_h2(g, g.preload_env(ASAN_OPTIONS=asan), url, reqs)
    finally:
        srv.close()
    tap.eq(p1.returncode, p0.returncode, "%s: node exits as without the shim" % label)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "rss"} for r in rs]  # noqa: E731
    tap.eq(strip(shim), strip(plain), "%s: the app saw what the server sent, as without the shim" % label)
    if p1.returncode != p0.returncode:
        tap.note(p1.stderr[-2000:])
    return plain, shim


def t_bad_server_garbage(tap):
    node_ready(tap)
    with Guard("--http2") as g:
        plain, _ = compare_with_and_without(
            tap, g, "garbage", [{"path": "/model/%s/invoke" % HAIKU, "body": "{}", "timeout_ms": 8000}],
            "malformed frames")
        p0_failed = not plain or plain[-1].get("session", {}).get("error") or plain[0].get("error")
        tap.check(p0_failed, "malformed frames: the client failed (as it does without the shim)",
                  plain)
        tap.check("passing its bytes through" in g.shim_log(),
                  "malformed frames: the shim logged that it passes the server through", g.shim_log())


def t_bad_server_big_headers(tap):
    node_ready(tap)
    with Guard("--http2") as g:
        plain, _ = compare_with_and_without(
            tap, g, "big-headers", [{"path": "/model/%s/invoke" % HAIKU, "body": "{}",
                                     "timeout_ms": 8000}], "oversized response header block")
        tap.check(plain and plain[0].get("status") == 200 and "x-big-11" in plain[0].get("headers", {}),
                  "oversized response header block: every header arrived", plain)


def t_bad_server_no_window_update(tap):
    node_ready(tap)
    with Guard("--http2") as g:
        reqs = [{"path": "/model/%s/invoke" % HAIKU, "body_len": 3 << 20, "timeout_ms": 4000}]
        plain, shim = compare_with_and_without(tap, g, "no-window-update", reqs,
                                               "no WINDOW_UPDATE")
        tap.check(shim and shim[0].get("error") == "timeout",
                  "no WINDOW_UPDATE: the app's own timeout ended the call, as without the shim",
                  shim)
        if plain and shim:
            grew = shim[-1]["rss"] - plain[-1]["rss"]
            tap.check(grew < (64 << 20),
                      "no WINDOW_UPDATE: memory stays bounded (%d KiB more than without the shim)"
                      % (grew >> 10), (plain[-1], shim[-1]))


def t_bad_app_big_headers(tap):
    node_ready(tap)
    with Guard("--http2", "--pace-ms", "0") as g:
        auth = {"authorization": "Bearer " + emumod.BEDROCK_API_KEY, "content-type": "application/json"}
        big = dict(auth, **{"x-big-%d" % i: "v" * 9000 for i in range(9)})
        path = "/model/%s/invoke" % urllib.parse.quote(HAIKU, safe="")
        body = json.dumps(invoke_body(6))
        reqs = [{"path": path, "headers": big, "body": body},
                {"path": path, "headers": auth, "body": body}]
        p, out = node_h2(g, g.preload_env(), g.bedrock_url, reqs)
        tap.eq(p.returncode, 0, "oversized request headers: node exit status")
        tap.check(len(out) == 3 and out[0].get("status") in (403, 431),
                  "oversized request headers: the app got an answer", out)
        tap.check(len(out) == 3 and out[1].get("status") == 200,
                  "oversized request headers: the next request on the connection succeeded", out)
        tap.check(len(out) == 3 and not out[2]["session"]["error"],
                  "oversized request headers: the session stayed healthy", out)
        tap.check(all(l["model"] == HAIKU for l in g.bill()),
                  "oversized request headers: nothing unchecked reached the emulator", g.bill())


CASES = {
    "sdk-accounting": t_sdk_accounting,
    "sdk-stream": t_sdk_stream,
    "sdk-block-deny": t_sdk_block_deny,
    "sdk-stream-cut": t_sdk_stream_cut,
    "sdk-downgrade": t_sdk_downgrade,
    "downgrade-alpn": t_downgrade_alpn,
    "curl": t_curl,
    "curl-stream-hide": t_curl_stream_hide,
    "node-stream-big-event": t_node_stream_big_event,
    "bad-server-garbage": t_bad_server_garbage,
    "bad-server-big-headers": t_bad_server_big_headers,
    "bad-server-no-window-update": t_bad_server_no_window_update,
    "bad-app-big-headers": t_bad_app_big_headers,
}

if __name__ == "__main__":
    guard.main(Tap(), CASES, sys.argv)
