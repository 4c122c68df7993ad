#!/usr/bin/env python3
"""Accounting end to end (issue 4): real clients under the real shim against
the emulator, whose bill is the ground truth. Non-streaming calls only.

    test_accounting.py CASE        (meson suite 'accounting', one test per CASE)

For each client: tokens in `tokenfence status --json` (asked while the client
is alive), in the control socket's own answer, in the events file and in the
`tokenfence run` summary equal the emulator's bill exactly, and cost equals
it to the pico-dollar (the summary shows micro-dollars). A guarded and an
unguarded host on one client are told apart. Bad input (truncated, garbage,
invalid JSON, a 2 GB Content-Length that closes early, 10,000 headers): the
app reads exactly the bytes the server sent, with and without the shim; the
client's memory stays bounded; the call is charged at its worst case (never
0) and an event says why.

Output is TAP; each check names the figure it compares.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402
from guard import Guard, Tap, check_accounting, pico  # noqa: E402
import emu as emumod  # noqa: E402
import tfenv  # noqa: E402
import tlsserver  # noqa: E402

AZ_KEY = emumod.AZURE_KEY
API = "api-version=2024-10-21"
JSON = "application/json"


# ---- request builders ------------------------------------------------------------

def azure(g, client, path, body, gzip=True, deployment=None):
    """An Azure OpenAI call: path under /openai/deployments/<deployment>/ when
    deployment is given, else under /openai/."""
    if deployment:
        url = "%s/openai/deployments/%s/%s?%s" % (g.azure_url, deployment, path, API)
    else:
        url = "%s/openai/%s%s" % (g.azure_url, path, "" if path.startswith("v1/") else "?" + API)
    h = {"api-key": AZ_KEY, "Content-Type": JSON}
    if gzip:
        h["Accept-Encoding"] = "gzip"
    return {"op": "http", "client": client, "method": "POST", "url": url, "headers": h,
            "body": json.dumps(body)}


def bedrock(g, client, model, body, action="invoke"):
    """A Bedrock runtime call with a Bedrock API key (Bearer): no SigV4 needed
    by a plain HTTP client."""
    url = "%s/model/%s/%s" % (g.bedrock_url, urllib.parse.quote(model, safe=""), action)
    h = {"Authorization": "Bearer " + emumod.BEDROCK_API_KEY, "Content-Type": JSON,
         "Accept": JSON}
    return {"op": "http", "client": client, "method": "POST", "url": url, "headers": h,
            "body": json.dumps(body)}


def chat_body(text, max_tokens=None, model=None):
    b = {"messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    if model:
        b["model"] = model
    return b


ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9,
             "messages": [{"role": "user", "content": "Say hello in five words."}]}
TITAN = {"inputText": "Write a haiku about fences.",
         "textGenerationConfig": {"maxTokenCount": 50, "temperature": 0.2}}
LLAMA = {"prompt": "<|begin_of_text|>Hi there, who are you?", "max_gen_len": 7}
NOVA = {"schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "Name three colours."}]}],
        "inferenceConfig": {"maxTokens": 12}}


def socket_pids(g):
    try:
        return sorted(int(n.split(".")[0]) for n in os.listdir(g.sock_dir) if n.endswith(".sock"))
    except OSError:
        return []


def run_client(tap, g, label, msgs, node=False, via_run=False, env_extra=None, run_args=None,
               expect_status=200):
    """Runs the messages through one live client, asks status while it is
    alive, closes it, and checks everything against the bill."""
    extra = dict(env_extra or {})
    if via_run:
        env = g.run_env(**extra)
        args = list(run_args or [])
    else:
        env = g.preload_env(**extra)
        args = None
    a = g.node_agent(env, args) if node else g.agent(env, args)
    answers = []
    try:
        for m in msgs:
            r = a.ask(m)
            answers.append(r)
        for m, r in zip(msgs, answers):
            what = m.get("op") + " " + (urllib.parse.urlsplit(m["url"]).path if m.get("url")
                                        else m.get("model", ""))
            if node:
                tap.check(r.get("ok"), "%s: %s succeeded" % (label, what), r.get("error"))
            elif m["op"] == "boto3":
                tap.check(r.get("status") == expect_status and not r.get("error"),
                          "%s: %s %s answered %d" % (label, m["call"], m["model"], expect_status), r)
            else:
                tap.check(r.get("status") == expect_status,
                          "%s: %s answered %d" % (label, what, expect_status),
                          {k: (v[:300] if isinstance(v, str) else v) for k, v in r.items()})
        billed = g.billed(len(msgs))
        guard.wait_until(lambda: len(g.calls()) >= len(billed), timeout=5)
        st = g.status()
        pids = socket_pids(g)
        raw = g.status_raw(pids[-1]) if pids else None
        tap.check(raw is not None, "%s: the live client has a control socket" % label, pids)
    finally:
        rc = a.close()
    tap.eq(rc, 0, "%s: client exit status" % label)
    if rc != 0:
        tap.note(a.stderr())
    summary = a.stderr() if via_run else None
    check_accounting(tap, g, label, billed, st, g.calls(), summary=summary, raw=raw)
    return answers, billed


# ---- clients ---------------------------------------------------------------------

def t_urllib(tap):
    with Guard() as g:
        msgs = [
            azure(g, "urllib", "chat/completions", chat_body("Hello from urllib", 7),
                  deployment="gpt-4o-mini"),
            azure(g, "urllib", "embeddings", {"input": ["one", "two", "three"]},
                  deployment="text-embedding-3-small"),
            bedrock(g, "urllib", "amazon.titan-text-express-v1", TITAN),
        ]
        run_client(tap, g, "urllib", msgs)


def t_requests(tap):
    with Guard() as g:
        msgs = [
            azure(g, "requests", "v1/chat/completions",
                  chat_body("Hello from requests over v1", 11, model="gpt-4o")),
            azure(g, "requests", "chat/completions", chat_body("Second, no max"),
                  deployment="gpt-4o"),
            bedrock(g, "requests", "meta.llama3-1-70b-instruct-v1:0", LLAMA),
            bedrock(g, "requests", "anthropic.claude-3-5-sonnet-20240620-v1:0", ANTHROPIC),
            # reasoning tokens (o-series) and cached input (>= 1024 input tokens)
            azure(g, "requests", "chat/completions",
                  {"messages": [{"role": "user", "content": "think"}], "max_completion_tokens": 15},
                  deployment="o3-mini"),
            azure(g, "requests", "chat/completions", chat_body("long context " * 500, 5),
                  deployment="gpt-4o"),
        ]
        _, billed = run_client(tap, g, "requests", msgs, via_run=True)
        tap.check(billed and billed[-2]["reasoning_tokens"] > 0 and billed[-1]["cached_tokens"] > 0,
                  "requests: the bill has reasoning and cached tokens to compare",
                  [(l["reasoning_tokens"], l["cached_tokens"]) for l in billed])


def t_httpx(tap):
    with Guard() as g:
        msgs = [
            azure(g, "httpx", "responses", {"model": "gpt-4o-mini", "input": "Hello from httpx",
                                            "max_output_tokens": 16}),
            bedrock(g, "httpx", "amazon.nova-lite-v1:0",
                    {"messages": [{"role": "user", "content": [{"text": "converse via httpx"}]}],
                     "inferenceConfig": {"maxTokens": 5}}, action="converse"),
            bedrock(g, "httpx", "amazon.nova-micro-v1:0", NOVA),
        ]
        run_client(tap, g, "httpx", msgs)


def boto3_msg(g, call, model, **kw):
    m = {"op": "boto3", "call": call, "model": model, "endpoint": g.bedrock_url}
    if "body" in kw:
        kw["body"] = json.dumps(kw["body"])
    m.update(kw)
    return m


def t_boto3_invoke(tap):
    arn = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
           "us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    with Guard() as g:
        msgs = [
            boto3_msg(g, "invoke_model", "anthropic.claude-3-haiku-20240307-v1:0", body=ANTHROPIC),
            boto3_msg(g, "invoke_model", "amazon.titan-text-premier-v1:0", body=TITAN),
            boto3_msg(g, "invoke_model", "meta.llama3-1-8b-instruct-v1:0", body=LLAMA),
            boto3_msg(g, "invoke_model", "amazon.nova-pro-v1:0", body=NOVA),
            boto3_msg(g, "invoke_model", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                      body=ANTHROPIC),
            boto3_msg(g, "invoke_model", arn, body=ANTHROPIC),
        ]
        _, billed = run_client(tap, g, "boto3 invoke_model", msgs, via_run=True)
        tap.eq([l["priced_model"] for l in billed][4:],
               ["us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "us.anthropic.claude-3-5-sonnet-20241022-v2:0"],
               "boto3 invoke_model: the profile id and the ARN are priced as their profiles")


def t_boto3_converse(tap):
    msgs_in = [{"role": "user", "content": [{"text": "What is TokenFence?"}]}]
    with Guard() as g:
        msgs = [
            boto3_msg(g, "converse", "amazon.nova-lite-v1:0", messages=msgs_in,
                      inferenceConfig={"maxTokens": 9}),
            boto3_msg(g, "converse", "anthropic.claude-3-haiku-20240307-v1:0", messages=msgs_in,
                      inferenceConfig={"maxTokens": 30}),
            boto3_msg(g, "converse", "us.amazon.nova-micro-v1:0", messages=msgs_in),
        ]
        run_client(tap, g, "boto3 converse", msgs)


def node_ready(tap):
    p = subprocess.run([guard.NODE18, "-e", "require('openai')"], cwd=guard.NODE_DIR,
                       env=dict(os.environ, NODE_PATH=os.path.join(guard.NODE_DIR, "node_modules")),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        tap.skip_all("no Debian node 18 with the npm openai package (run tools/setup): %s"
                     % (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1])


def t_node_openai(tap):
    node_ready(tap)
    with Guard("--deployment", "my-gpt4o=gpt-4o", "--deployment", "my-embed=text-embedding-3-small") as g:
        cfg = os.path.join(g.dir, "tf.json")
        with open(cfg, "w") as f:
            json.dump({"deployments": {"my-gpt4o": "gpt-4o", "my-embed": "text-embedding-3-small"}}, f)
        msgs = [
            {"op": "chat", "model": "my-gpt4o", "max_tokens": 6,
             "messages": [{"role": "user", "content": "Hello from node 18"}]},
            {"op": "embeddings", "model": "my-embed", "input": ["one", "two"]},
            {"op": "responses", "model": "gpt-4o-mini", "input": "Responses from node",
             "max_output_tokens": 17},
            {"op": "chat", "model": "gpt-4o-mini",
             "messages": [{"role": "user", "content": "no max: the reply length"}]},
        ]
        answers, billed = run_client(tap, g, "node openai", msgs, node=True, via_run=True,
                                     run_args=["--config", cfg],
                                     env_extra={"TF_AZURE_ENDPOINT": g.azure_url})
        enc = [a.get("result", {}).get("encoding") for a in answers]
        tap.note("node openai: response content-encoding: %s" % enc)
        tap.eq([l["priced_model"] for l in billed],
               ["gpt-4o", "text-embedding-3-small", "gpt-4o-mini", "gpt-4o-mini"],
               "node openai: the bill priced the calls as expected")


def t_curl(tap):
    if not shutil.which("curl"):
        tap.skip_all("curl is not installed")
    if guard.sanitized():
        # tests/e2e/test_passthrough.py check_sanitizer_host: on Debian 12,
        # curl (p11-kit via gnutls) deadlocks in setlocale() with only the
        # ASan runtime preloaded, TokenFence or not.
        p = None
        try:
            p = subprocess.run(["curl", "--version"], capture_output=True, timeout=8,
                               env=dict(os.environ, LD_PRELOAD=" ".join(guard.asan_runtimes()),
                                        ASAN_OPTIONS="detect_leaks=0"))
        except subprocess.TimeoutExpired:
            tap.skip_all("curl hangs with only the ASan runtime preloaded (no TokenFence; "
                         "p11-kit + glibc setlocale lock): run this test from a plain build")
    with Guard() as g:
        env = g.preload_env()
        az = json.dumps(chat_body("Hello from curl", 9))
        br = json.dumps(ANTHROPIC)
        sink = os.path.join(g.dir, "stdin-sink")
        argv = ["curl", "-sS", "--compressed",
                "-H", "api-key: " + AZ_KEY, "-H", "Content-Type: application/json",
                "--data-binary", az, "-o", os.path.join(g.dir, "r1"), "-w", "done1 %{http_code}\n",
                "%s/openai/deployments/gpt-4o/chat/completions?%s" % (g.azure_url, API),
                "--next", "-sS",
                "-H", "Authorization: Bearer " + emumod.BEDROCK_API_KEY,
                "-H", "Content-Type: application/json", "-H", "Accept: application/json",
                "--data-binary", br, "-o", os.path.join(g.dir, "r2"), "-w", "done2 %{http_code}\n",
                "%s/model/%s/invoke" % (g.bedrock_url,
                                        urllib.parse.quote("anthropic.claude-3-haiku-20240307-v1:0",
                                                           safe="")),
                # keeps curl alive until stdin closes, so status can be asked
                "--next", "-sS", "-T", "-", "file://" + sink]
        p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        # curl's stdout is a buffered pipe: wait for the bill and the shim's
        # call records, then ask while curl waits on stdin.
        billed = g.billed(2)
        guard.wait_until(lambda: len(g.calls()) >= 2, timeout=20)
        st = g.status()
        try:
            raw = g.status_raw(p.pid)
        except OSError as e:
            raw = None
            tap.check(False, "curl: the live process has a control socket", e)
        out, err = p.communicate(b"", timeout=30)
        tap.eq(out.decode().split(), ["done1", "200", "done2", "200"],
               "curl: both calls answered 200")
        tap.eq(p.returncode, 0, "curl: exit status")
        if p.returncode:
            tap.note(err.decode(errors="replace"))
        check_accounting(tap, g, "curl", billed, st, g.calls(), raw=raw)


def t_guarded_vs_unguarded(tap):
    """One requests session talks to the emulator by IP (a guarded Bedrock
    host) and to a local TLS server with LLM-shaped routes that is not in
    TOKENFENCE_HOSTS: only the former is accounted."""
    with Guard() as g:
        with tlsserver.TLSServer(g.pki.cert, g.pki.key) as other:
            ourl = "https://127.0.0.1:%d" % other.port
            stats = os.path.join(g.dir, "stats.jsonl")
            plain = {"op": "http", "client": "requests", "method": "POST",
                     "headers": {"Content-Type": JSON, "api-key": AZ_KEY}}
            msgs = [
                dict(plain, url=ourl + "/openai/deployments/gpt-4o/chat/completions?" + API,
                     body=json.dumps(chat_body("to a host nobody guards", 5))),
                bedrock(g, "requests", "anthropic.claude-3-haiku-20240307-v1:0", ANTHROPIC),
                dict(plain, url=ourl + "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
                     body=json.dumps(ANTHROPIC)),
                bedrock(g, "requests", "amazon.titan-text-express-v1", TITAN),
            ]
            run_client(tap, g, "guarded vs unguarded", msgs, env_extra={"TOKENFENCE_STATS": stats})
            served = [r["path"] for c in other.connections() for r in c["requests"]]
            tap.eq(len(served), 2, "the unguarded server answered its two requests")
            st = tfenv.sum_stats(tfenv.read_stats(stats))
            tap.check(st["conns_guarded"] >= 1 and st["conns_unguarded"] >= 1,
                      "shim stats: the emulator's connection guarded, the other unguarded",
                      st)
            acts = [e.get("tokenfence.action") for e in g.events()]
            tap.check(all(a and not a.startswith("azure:") for a in acts),
                      "no event names the unguarded server's (Azure-shaped) call", acts)


# ---- bad input -----------------------------------------------------------------------

MiB = 1 << 20
BAD_BODY = chat_body("Tell me something, please.", 50)


def raw_request(port, body, path="/openai/deployments/gpt-4o/chat/completions?" + API):
    b = json.dumps(body)
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\napi-key: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (path, port, AZ_KEY, len(b), b))


def usage_json(extra=b""):
    return (b'{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,'
            b'"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}' + extra + b'}')


def respond_truncated(send, req):
    body = usage_json()
    send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
         % len(body) + body[:len(body) // 2])


def respond_garbage(send, req):
    import random
    send(b"\x16\x03garbage, not HTTP\r\n\x00\xff" + random.Random(7).randbytes(4096))


def respond_invalid_json(send, req):
    body = b'{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":7,,}'
    send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
         b"Connection: close\r\n\r\n" % len(body) + body)


BIG_SENT = 96 * MiB


def respond_2gb(send, req):
    send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n")
    chunk = b'{"pad":"' + b"x" * (MiB - 8)
    for _ in range(BIG_SENT // MiB):
        send(chunk)


def respond_10k_headers(send, req):
    body = usage_json()
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json"]
    head += [b"X-Pad-%05d: %s" % (i, b"v" * 20) for i in range(10000)]
    head.append(b"Content-Length: %d" % len(body))
    head.append(b"Connection: close")
    send(b"\r\n".join(head) + b"\r\n\r\n" + body)


BAD = {
    "truncated": (respond_truncated, False),
    "garbage": (respond_garbage, False),
    "invalid-json": (respond_invalid_json, True),
    "2gb-content-length": (respond_2gb, False),
    "10k-headers": (respond_10k_headers, True),
}

# What the shim may add to a client's peak RSS while a response passes:
# the capped shadow of the response body (TF_EX_BODY_CAP, 4 MiB, shim/
# exchange.h) plus the decoder's window, the request hold buffer of a small
# request, a response head capped at 64 KiB (shim/http1.h), and the shim's
# own state and the sanitizer's bookkeeping for them. 24 MiB covers that
# with room and is a quarter of what an uncapped copy of the 96 MiB body
# would cost.
MEM_BOUND_KB = 24 * 1024


def bad_input(tap, kind):
    respond, clean = BAD[kind]
    with Guard() as g:
        srv = guard.RawServer(g.pki, respond, clean=clean)
        g.servers.append(srv)
        g.hosts.append("127.0.0.1:%d=azure" % srv.port)
        req = raw_request(srv.port, BAD_BODY)
        raw = {"op": "raw", "host": "127.0.0.1", "port": srv.port, "request": req,
               "read_timeout": 20}
        # ASan's quarantine would count freed memory as resident: keep it small
        # in both runs so the peaks compare the live data.
        asan = "detect_leaks=0:quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
        got = {}
        for mode in ("without", "with"):
            env = g.preload_env(ASAN_OPTIONS=asan) if mode == "with" else \
                g.asan_only_env(ASAN_OPTIONS=asan)
            a = g.agent(env, name="raw-" + mode)
            try:
                base = a.ask({"op": "mem"})
                r = a.ask(raw, timeout=120)
                mem = a.ask({"op": "mem"})
                if mode == "with":
                    guard.wait_until(lambda: g.calls(), timeout=5)
                    st = g.status()
                    raw_st = g.status_raw(a.pid)
            finally:
                rc = a.close()
            tap.eq(rc, 0, "%s: client exit status %s the shim" % (kind, mode))
            sent = srv.sent[-1] if srv.sent else (None, None)
            tap.eq((r["received"], r["sha256"]), sent,
                   "%s: %s the shim, the app read exactly the bytes the server sent" % (kind, mode))
            tap.note("%s %s shim: read %d B (%s), VmHWM %d -> %d kB"
                     % (kind, mode, r["received"], r["error"] or "eof", base["VmHWM"],
                        mem["VmHWM"]))
            got[mode] = (r, mem)
        grow = {m: got[m][1]["VmHWM"] for m in got}
        tap.check(grow["with"] - grow["without"] <= MEM_BOUND_KB,
                  "%s: the shim adds at most %d MiB to the client's peak RSS" % (kind, MEM_BOUND_KB // 1024),
                  "VmHWM without %d kB, with %d kB" % (grow["without"], grow["with"]))
        calls = g.calls()
        tap.eq(len(calls), 1, "%s: one call event" % kind)
        if calls:
            c = calls[0]
            worst = pico(c["tokenfence.worst_usd"])
            tap.check(c["tokenfence.cost_pico"] > 0, "%s: the call is not booked at $0" % kind, c)
            tap.eq(c["tokenfence.cost_pico"], worst,
                   "%s: charged the reservation (worst case %d pico-USD)" % (kind, worst))
            tap.eq(c.get("tokenfence.usage_source"), "reservation",
                   "%s: usage_source says the usage was not read" % kind)
        warns = [n for n in g.notes("warning") if "usage not readable" in n.get("message", "")]
        tap.eq(len(warns), 1, "%s: one warning event says why it was charged the worst case" % kind)
        if warns:
            tap.note("%s: event message: %s" % (kind, warns[0]["message"]))
        doc, p = st
        procs = (doc or {}).get("processes", [])
        ok = doc is not None and procs and all(x.get("responsive", True) for x in procs)
        why = guard.STATUS_DUP_BUG + "\n" if guard.duplicate_keys(raw_st) else ""
        tap.check(ok, "%s: `tokenfence status --json` reads the live process" % kind,
                  why + p.stdout[:800])
        if ok and calls:
            tap.eq(doc["total"].get("cost_pico"), calls[0]["tokenfence.cost_pico"],
                   "%s: status total cost equals the charge" % kind)


def emulator_fault(tap, fault):
    """The emulator's own faults on an Azure chat (usage in the body only):
    the model ran (billed), TokenFence could not read the usage, so it charges
    the worst case, which is at least the bill."""
    with Guard("--fail", "%s:model=gpt-4o" % fault) as g:
        msgs = [azure(g, "requests", "chat/completions", chat_body("fault " + fault, 40),
                      deployment="gpt-4o")]
        a = g.agent(g.preload_env())
        try:
            r = a.ask(msgs[0])
        finally:
            a.close()
        tap.note("%s: the client got %s" % (fault, {k: (v[:200] if isinstance(v, str) else v)
                                                   for k, v in r.items()}))
        billed = g.billed(1)
        tap.eq(len(billed), 1, "%s: the emulator billed the call (the model ran)" % fault)
        guard.wait_until(lambda: g.calls(), timeout=5)
        calls = g.calls()
        tap.eq(len(calls), 1, "%s: one call event" % fault)
        if calls and billed:
            c = calls[0]
            tap.check(c["tokenfence.cost_pico"] >= billed[0]["cost_pico_usd"] > 0,
                      "%s: charged %d pico-USD >= billed %d" % (fault, c["tokenfence.cost_pico"],
                                                               billed[0]["cost_pico_usd"]), c)
            tap.eq(c["tokenfence.cost_pico"], pico(c["tokenfence.worst_usd"]),
                   "%s: charged the reservation" % fault)
        warns = [n for n in g.notes("warning") if "usage not readable" in n.get("message", "")]
        tap.eq(len(warns), 1, "%s: a warning event says why" % fault)


def t_bad_truncated(tap):
    bad_input(tap, "truncated")
    emulator_fault(tap, "truncate")


def t_bad_garbage(tap):
    bad_input(tap, "garbage")


def t_bad_invalid_json(tap):
    bad_input(tap, "invalid-json")
    emulator_fault(tap, "malformed")


def t_bad_2gb(tap):
    bad_input(tap, "2gb-content-length")


def t_bad_10k_headers(tap):
    bad_input(tap, "10k-headers")


CASES = {
    "curl": t_curl,
    "urllib": t_urllib,
    "requests": t_requests,
    "httpx": t_httpx,
    "boto3-invoke": t_boto3_invoke,
    "boto3-converse": t_boto3_converse,
    "node-openai": t_node_openai,
    "guarded-vs-unguarded": t_guarded_vs_unguarded,
    "bad-truncated": t_bad_truncated,
    "bad-garbage": t_bad_garbage,
    "bad-invalid-json": t_bad_invalid_json,
    "bad-2gb-content-length": t_bad_2gb,
    "bad-10k-headers": t_bad_10k_headers,
}

if __name__ == "__main__":
    guard.main(Tap(), CASES, sys.argv)
