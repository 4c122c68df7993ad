#!/usr/bin/env python3
"""Enforcement end to end (issue 7): budgets that are never exceeded, with
real clients under the real shim against the emulator (its bill is the
ground truth).

    test_enforcement.py CASE       (meson suite 'enforcement', one test per CASE)

Cases: a shared budget under concurrency (50 runs); the per-request cap
(downgrade on Azure and on Bedrock with SigV4 re-signing, clamp, block);
the kill switch after max_requests as boto3 and the openai SDK see it;
warn_at once; `tokenfence kill` / `resume` at run time; malformed config
refused; a non-JSON body reserved at the model's maximum, never $0.
Output is TAP.
"""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guard  # noqa: E402
from guard import PY, TOKENFENCE, Guard, Tap, pico  # noqa: E402
import emu as emumod  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONC = os.path.join(HERE, "conc.py")
AZ_KEY = emumod.AZURE_KEY
API = "api-version=2024-10-21"
JSON = "application/json"
PRICES = emumod.PRICES
TEMPLATE_OVERHEAD = 64  # policy/call.h TF_CALL_TEMPLATE_OVERHEAD


def usd(p):
    """pico-USD -> the exact decimal string the CLI and env accept."""
    return "%d.%012d" % (p // 10 ** 12, p % 10 ** 12)


def worst_pico(model, body_len, max_out):
    """The documented worst case (policy/call.h, DESIGN.md §4): the body's
    byte length plus the template overhead at the input price, plus the
    output limit at the output price (no tools, images or cache writes)."""
    e = PRICES[model]
    return int(((body_len + TEMPLATE_OVERHEAD) * e["input"] + max_out * e["output"]) *
               Decimal(10) ** 6)


def azure_chat(g, client, deployment, body, gzip=False):
    h = {"api-key": AZ_KEY, "Content-Type": JSON}
    if gzip:
        h["Accept-Encoding"] = "gzip"
    return {"op": "http", "client": client, "method": "POST",
            "url": "%s/openai/deployments/%s/chat/completions?%s" % (g.azure_url, deployment, API),
            "headers": h, "body": json.dumps(body)}


def boto3_invoke(g, model, body, retries=None):
    m = {"op": "boto3", "call": "invoke_model", "model": model, "endpoint": g.bedrock_url,
         "body": json.dumps(body)}
    if retries is not None:
        m["retries"] = retries
    return m


def chat(text, max_tokens=None):
    b = {"messages": [{"role": "user", "content": text}]}
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    return b


def anthropic(text, max_tokens):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}


def model_lines(g, at_least=0):
    """Bill lines of real model calls (not the shim's HEAD stand-ins)."""
    return [l for l in g.bill(at_least) if l.get("method") == "POST"]


def standins(g):
    return [l for l in g.bill() if l.get("path") == "/tokenfence-blocked"]


# ---- (a) one budget, 4 processes x 4 threads, 50 runs ------------------------------

RUNS = int(os.environ.get("TF_CONC_RUNS", "50"))
CLAMP_RUNS = int(os.environ.get("TF_CONC_CLAMP_RUNS", "10"))
PROCS, THREADS, PER_THREAD = 4, 4, 5   # 20 requests per process, 80 per run
N_FIT = 8
REPLY = 300


def t_concurrent_budget(tap):
    """Every run: `tokenfence run --max-cost N*worst` over 4 processes of 4
    threads, 20 requests per process (80 per run), clamping off. The reply
    always has max_tokens tokens, so a call's real cost r is within 11% of
    its worst case w. The last of A admitted calls needed (A-1) x r + w <=
    N x w even if all the others had settled, so A <= 1 + (N-1) x w/r,
    which is below N + 1 for N = 8: a correct reservation admits at most N
    whatever the interleaving, while a gateway that checks only the spend
    already booked lets the concurrent ones through.
    Then CLAMP_RUNS runs with clamping on (the default): more calls run,
    shrunk, and the bill still stays within the cap."""
    model = "gpt-4o-mini"
    body = json.dumps(chat("hi", REPLY)).encode()
    worst = worst_pico(model, len(body), REPLY)
    cap = N_FIT * worst
    with Guard("--reply-tokens", str(REPLY), "--pace-ms", "0", "--max-conns", "512") as g:
        bf = os.path.join(g.dir, "body.json")
        with open(bf, "wb") as f:
            f.write(body)
        url = "%s/openai/deployments/%s/chat/completions?%s" % (g.azure_url, model, API)
        # Clamping (on by default) would shrink and admit the calls that do not
        # fit; this case is about admission, so it is off here.
        cfg = os.path.join(g.dir, "noclamp.json")
        with open(cfg, "w") as f:
            json.dump({"clamp_max_tokens": False}, f)
        tap.note("worst case per call %s USD; cap %s USD = %d worst cases; %d runs of %d "
                 "processes x %d threads x %d requests" % (usd(worst), usd(cap), N_FIT, RUNS, PROCS,
                                                           THREADS, PER_THREAD))
        seen = 0
        admitted, billed_max, bad_runs, over = [], 0, [], []
        t0 = time.monotonic()
        worst_checked = False
        for run in range(RUNS):
            ledger = os.path.join(g.dir, "ledger-%d" % run)
            events = os.path.join(g.dir, "events-%d.jsonl" % run)
            env = g.run_env(TOKENFENCE_EVENTS=events, TOKENFENCE_LEDGER=ledger)
            p = subprocess.run(
                [TOKENFENCE, "run", "--config", cfg, "--max-cost", usd(cap), "--", PY, CONC, "launch", str(PROCS),
                 str(THREADS), str(PER_THREAD), url, bf],
                env=env, capture_output=True, text=True, timeout=120)
            bill = g.bill()
            mine = bill[seen:]
            seen = len(bill)
            lines = [l for l in mine if l.get("method") == "POST"]
            billed = sum(l["cost_pico_usd"] for l in lines)
            try:
                out = json.loads(p.stdout.strip().splitlines()[-1])
                statuses = [r[0] for w in out for t in w["results"] for r in t]
                texts = [r[1] for w in out for t in w["results"] for r in t if r[0] != 200]
            except (ValueError, IndexError, TypeError):
                statuses, texts = [], []
            ok = statuses.count(200)
            admitted.append(len(lines))
            billed_max = max(billed_max, billed)
            problems = []
            if p.returncode != 0:
                problems.append("exit %d: %s" % (p.returncode, p.stderr[-1500:]))
            if len(statuses) != PROCS * THREADS * PER_THREAD:
                problems.append("%d answers, want %d" % (len(statuses), PROCS * THREADS * PER_THREAD))
            if len(lines) > N_FIT or billed > cap:
                over.append(run)
                problems.append("%d calls reached the emulator (max %d), billed %s > cap %s"
                                % (len(lines), N_FIT, usd(billed), usd(cap)))
            if ok != len(lines):
                problems.append("the app got %d answers 200, the emulator billed %d" % (ok, len(lines)))
            others = [s for s in statuses if s not in (200, 402)]
            if others:
                problems.append("unexpected statuses %s" % sorted(set(others)))
            if any("budget exceeded" not in t.lower() for t in texts):
                problems.append("a blocked answer lacks 'budget exceeded': %s"
                                % [t for t in texts if "budget exceeded" not in t.lower()][:2])
            if len(lines) == 0:
                problems.append("nothing was admitted")
            summ = guard.parse_summary(p.stderr)
            if summ is None or summ["requests"] != len(lines) or \
                    summ["cost_micro"] != guard.micro_round(billed):
                problems.append("run summary %s != bill (%d calls, %d pico)" % (summ, len(lines), billed))
            if not worst_checked:
                with open(events) as f:
                    ev = [json.loads(l, parse_float=Decimal) for l in f if l.strip()]
                calls = [e for e in ev if "tokenfence.event" not in e]
                tap.check(calls and all(pico(c["tokenfence.worst_usd"]) == worst for c in calls),
                          "the shim's worst case per call is the documented one (%s USD)" % usd(worst),
                          [c.get("tokenfence.worst_usd") for c in calls][:5])
                worst_checked = True
            if problems:
                bad_runs.append((run, problems))
        dt = time.monotonic() - t0
        tap.note("%d runs in %.1fs: admitted per run min %d max %d (cap fits %d); max billed %s USD "
                 "(cap %s); distribution %s" % (RUNS, dt, min(admitted), max(admitted), N_FIT,
                                                usd(billed_max), usd(cap),
                                                {k: admitted.count(k) for k in sorted(set(admitted))}))
        tap.check(not over, "%d/%d runs: at most %d calls reached the emulator and the bill stayed "
                  "within the cap" % (RUNS - len(over), RUNS, N_FIT), over)
        tap.check(not bad_runs, "%d/%d runs fully consistent (statuses, 402 texts, summary)"
                  % (RUNS - len(bad_runs), RUNS),
                  "\n".join("run %d: %s" % (r, "; ".join(p)) for r, p in bad_runs[:10]))
        # With clamping on (the default), calls that do not fit are shrunk to
        # what is left instead of blocked: more may run, the bill still fits.
        over, admitted, billed_max = [], [], 0
        for run in range(CLAMP_RUNS):
            env = g.run_env(TOKENFENCE_EVENTS=os.path.join(g.dir, "events-c%d.jsonl" % run),
                            TOKENFENCE_LEDGER=os.path.join(g.dir, "ledger-c%d" % run))
            p = subprocess.run(
                [TOKENFENCE, "run", "--max-cost", usd(cap), "--", PY, CONC, "launch", str(PROCS),
                 str(THREADS), str(PER_THREAD), url, bf],
                env=env, capture_output=True, text=True, timeout=120)
            bill = g.bill()
            lines = [l for l in bill[seen:] if l.get("method") == "POST"]
            seen = len(bill)
            billed = sum(l["cost_pico_usd"] for l in lines)
            admitted.append(len(lines))
            billed_max = max(billed_max, billed)
            if billed > cap or p.returncode != 0:
                over.append((run, len(lines), billed, p.returncode))
        tap.note("clamping on: %d runs: admitted per run %s; max billed %s USD (cap %s)"
                 % (CLAMP_RUNS, sorted(set(admitted)), usd(billed_max), usd(cap)))
        tap.check(not over, "clamping on: %d/%d runs billed within the cap"
                  % (CLAMP_RUNS - len(over), CLAMP_RUNS), over)


# ---- (b) the per-request cap: downgrade, clamp, block -----------------------------------

def node_ready(tap):
    p = subprocess.run([guard.NODE18, "-e", "require('openai')"], cwd=guard.NODE_DIR,
                             env=dict(os.environ, NODE_PATH=os.path.join(guard.NODE_DIR, "node_modules")),
                             capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        tap.skip_all("no Debian node 18 with the npm openai package (run tools/setup): %s"
                     % (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1])


def closed(tap, a, label):
    rc = a.close()
    tap.eq(rc, 0, "%s: client exit status" % label)
    if rc:
        tap.note(a.stderr())
    return rc


def t_downgrade_azure(tap):
    """openai npm on node 18: gpt-4o's worst case is over the per-request cap,
    gpt-4o-mini's fits: the deployment is rewritten, the emulator bills
    gpt-4o-mini, the app gets a normal answer."""
    node_ready(tap)
    cap = "0.0005"  # gpt-4o at max_tokens 100: >= 100 x $10/M = $0.001
    with Guard() as g:
        a = g.node_agent(g.run_env(TF_AZURE_ENDPOINT=g.azure_url, TF_AZURE_KEY=AZ_KEY),
                         ["--max-cost-per-request", cap, "--downgrade", "gpt-4o=gpt-4o-mini"])
        try:
            r = a.ask({"op": "chat", "model": "gpt-4o", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "downgrade me"}]})
        finally:
            closed(tap, a, "azure downgrade")
        tap.check(r.get("ok"), "azure downgrade: the SDK call succeeded", r)
        tap.eq(r.get("fetches"), 1, "azure downgrade: one HTTP request")
        lines = model_lines(g, 1)
        tap.eq([(l["path"], l["model"], l["priced_model"], l["status"]) for l in lines],
               [("/openai/deployments/gpt-4o-mini/chat/completions", "gpt-4o-mini", "gpt-4o-mini",
                 200)],
               "azure downgrade: the emulator got and billed gpt-4o-mini")
        tap.eq((r.get("result") or {}).get("model", "")[:11], "gpt-4o-mini",
               "azure downgrade: the app's answer names the model that ran")
        calls = g.calls()
        tap.eq([(c.get("tokenfence.decision"), c.get("tokenfence.price_model"),
                 c.get("tokenfence.cost_pico")) for c in calls],
               [("downgrade", "gpt-4o-mini", lines[0]["cost_pico_usd"] if lines else None)],
               "azure downgrade: the event says downgrade and books the bill's cost")
        summ = a.stderr()
        tap.check("downgraded 1" in summ, "azure downgrade: the run summary counts it", summ[-800:])


SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def t_downgrade_bedrock(tap):
    """boto3 with SigV4: the model id in the path is rewritten and the request
    re-signed; the emulator verifies the new signature (403 otherwise) and
    bills Claude 3 Haiku. A `us.` profile keeps its prefix."""
    cap = "0.001"  # Sonnet at max_tokens 200: >= 200 x $15/M = $0.003
    with Guard() as g:
        env = g.preload_env(TOKENFENCE_MAX_COST_PER_REQUEST=cap,
                            TOKENFENCE_DOWNGRADE="%s=%s" % (SONNET, HAIKU))
        a = g.agent(env)
        try:
            r1 = a.ask(boto3_invoke(g, SONNET, anthropic("downgrade me on Bedrock", 200)))
            r2 = a.ask(boto3_invoke(g, "us." + SONNET, anthropic("and the profile", 200)))
        finally:
            closed(tap, a, "bedrock downgrade")
        for r, what in ((r1, SONNET), (r2, "us." + SONNET)):
            tap.check(r.get("status") == 200 and not r.get("error"),
                      "bedrock downgrade: boto3 invoke_model %s answered 200" % what, r)
            tap.eq(json.loads(r.get("body") or "{}").get("model"), "claude-3-haiku-20240307",
                   "bedrock downgrade: the app's answer comes from Claude 3 Haiku (%s)" % what)
        lines = model_lines(g, 2)
        tap.eq([(l["model"], l["status"], l["operation"]) for l in lines],
               [(HAIKU, 200, "InvokeModel"), ("us." + HAIKU, 200, "InvokeModel")],
               "bedrock downgrade: the emulator verified the re-signed requests and billed Haiku")
        calls = g.calls()
        tap.eq([(c.get("tokenfence.decision"), c.get("tokenfence.cost_pico")) for c in calls],
               [("downgrade", l["cost_pico_usd"]) for l in lines],
               "bedrock downgrade: events say downgrade and book the bill's cost")


def clamp_k(model, body_len, cap_pico):
    """The largest output limit whose worst case fits cap (enforce.c clamped())."""
    e = PRICES[model]
    fixed = worst_pico(model, body_len, 0)
    per = int(e["output"] * Decimal(10) ** 6)
    return (cap_pico - fixed) // per


def t_clamp(tap):
    """No downgrade configured: the output limit is clamped to the largest
    that fits the cap; the emulator (which replies with as many tokens as
    allowed) bills exactly that many output tokens. Azure (requests) and
    Bedrock (boto3, SigV4 re-signed)."""
    cap = 200 * 10 ** 6  # $0.0002
    with Guard("--reply-tokens", "5000") as g:
        a = g.agent(g.preload_env(TOKENFENCE_MAX_COST_PER_REQUEST=usd(cap)))
        az = azure_chat(g, "requests", "gpt-4o-mini", chat("clamp me", 1000))
        br = boto3_invoke(g, HAIKU, anthropic("clamp me too", 1000))
        try:
            r1 = a.ask(az)
            r2 = a.ask(br)
        finally:
            closed(tap, a, "clamp")
        k1 = clamp_k("gpt-4o-mini", len(az["body"]), cap)
        k2 = clamp_k(HAIKU, len(br["body"]), cap)
        tap.note("clamp: expected output limits %d (gpt-4o-mini) and %d (Claude 3 Haiku) "
                 "of 1000 asked" % (k1, k2))
        tap.eq(r1.get("status"), 200, "clamp: Azure call answered 200")
        tap.check(r2.get("status") == 200 and not r2.get("error"),
                  "clamp: boto3 call answered 200 (re-signed request accepted)", r2)
        lines = model_lines(g, 2)
        tap.eq([(l["model"], l["output_tokens"]) for l in lines],
               [("gpt-4o-mini", k1), (HAIKU, k2)],
               "clamp: the emulator billed exactly the clamped output")
        tap.check(lines and all(l["cost_pico_usd"] <= cap for l in lines),
                  "clamp: each billed call within the per-request cap", lines)
        calls = g.calls()
        tap.eq([(c.get("tokenfence.decision"), c.get("tokenfence.cost_pico")) for c in calls],
               [("clamp", l["cost_pico_usd"]) for l in lines],
               "clamp: events say clamp and book the bill's cost")


def t_block_per_request(tap):
    """Neither a downgrade nor a clamp fits: blocked, never sent. boto3 raises
    BudgetExceededException (402) once; requests gets Azure's error shape."""
    # Above a small Haiku call (~$0.000047) but below the input cost alone of
    # the long bodies on Haiku (~$0.00014) and gpt-4o-mini (~$0.00008).
    cap = "0.00006"
    long_text = "x" * 400
    with Guard() as g:
        env = g.preload_env(TOKENFENCE_MAX_COST_PER_REQUEST=cap,
                            TOKENFENCE_DOWNGRADE="%s=%s,gpt-4o=gpt-4o-mini" % (SONNET, HAIKU))
        a = g.agent(env)
        try:
            r1 = a.ask(boto3_invoke(g, SONNET, anthropic(long_text, 100)))
            r2 = a.ask(azure_chat(g, "requests", "gpt-4o", chat(long_text, 100)))
            r3 = a.ask(boto3_invoke(g, HAIKU, anthropic("small", 5)))
        finally:
            closed(tap, a, "block")
        e = r1.get("error") or {}
        tap.eq((e.get("class"), e.get("code"), e.get("status")),
               ("ClientError", "BudgetExceededException", 402),
               "block: boto3 raised ClientError BudgetExceededException (402)")
        tap.check("budget exceeded" in (e.get("text") or "").lower(),
                  "block: 'budget exceeded' in str(e).lower()", e.get("text"))
        tap.eq((r1.get("attempts"), r1.get("retry_attempts")), (1, 0),
               "block: boto3 made exactly one attempt")
        tap.eq(r2.get("status"), 402, "block: requests got 402 from the Azure route")
        body = {}
        try:
            body = json.loads(r2.get("body") or "{}")
        except ValueError:
            pass
        tap.eq(((body.get("error") or {}).get("code"), (r2.get("headers") or {}).get("x-should-retry")),
               ("budget_exceeded", "false"), "block: Azure error code and x-should-retry: false")
        tap.check(r3.get("status") == 200, "block: a call that fits still passes after the blocks", r3)
        lines = model_lines(g, 1)
        tap.eq([l["model"] for l in lines], [HAIKU],
               "block: the blocked calls never reached the emulator")
        blocks = g.notes("block")
        tap.eq(len(blocks), 2, "block: one block event per blocked call")
        recs = [(r.get("tokenfence.decision"), r.get("tokenfence.cost_pico")) for r in g.records()
                if r.get("tokenfence.decision") == "block"]
        tap.eq(recs, [("block", 0), ("block", 0)], "block: blocked calls are recorded at $0 (never sent)")
        tap.check(all("max_cost_per_request" in b.get("message", "") for b in blocks),
                  "block: the block events name the per-request cap", [b.get("message") for b in blocks])


# ---- (c) the kill switch after max_requests -------------------------------------------

def t_kill_switch_boto3(tap):
    """max_requests 1: the second call is blocked. boto3 (legacy retries, 5
    attempts, and standard mode, 3) raises ClientError BudgetExceededException
    with 'budget exceeded' after exactly one attempt."""
    with Guard() as g:
        a = g.agent(g.run_env(), ["--max-requests", "1"])
        try:
            r0 = a.ask(boto3_invoke(g, HAIKU, anthropic("first", 5)))
            r1 = a.ask(boto3_invoke(g, HAIKU, anthropic("second", 5)))
            r2 = a.ask(boto3_invoke(g, HAIKU, anthropic("third", 5),
                                    retries={"mode": "standard", "max_attempts": 3}))
            doc, _ = g.status()
            pids = sorted(int(n.split(".")[0]) for n in os.listdir(g.sock_dir) if n.endswith(".sock"))
            raw = g.status_raw(pids[-1]) if pids else "{}"
        finally:
            closed(tap, a, "kill switch boto3")
        tap.eq(r0.get("status"), 200, "kill switch boto3: the first call passes")
        for r, mode in ((r1, "legacy retries"), (r2, "standard retries")):
            e = r.get("error") or {}
            tap.eq((e.get("class"), e.get("code"), e.get("status")),
                   ("ClientError", "BudgetExceededException", 402),
                   "kill switch boto3 (%s): ClientError BudgetExceededException 402" % mode)
            tap.check("budget exceeded" in (e.get("text") or "").lower(),
                      "kill switch boto3 (%s): 'budget exceeded' in str(e).lower()" % mode, e.get("text"))
            tap.eq((r.get("attempts"), r.get("retry_attempts")), (1, 0),
                   "kill switch boto3 (%s): exactly one attempt, no retry" % mode)
        tap.note("kill switch boto3: %s" % (r1.get("error") or {}).get("text"))
        lines = model_lines(g, 1)
        tap.eq(len(lines), 1, "kill switch boto3: only the first call reached the emulator")
        tap.check(len(standins(g)) <= 2, "kill switch boto3: at most one stand-in per blocked call",
                  standins(g))
        try:
            st = json.loads(raw)
        except ValueError:
            st = {}
        tap.eq(st.get("blocked"), 2, "kill switch boto3: the process's status counts 2 blocked")
        summ = a.stderr()
        tap.check("blocked 2" in summ,
                  "kill switch boto3: the run summary counts the 2 blocked calls",
                  "BUG (cli/shim): the summary misses blocked calls (tools/cli/summary.c counts "
                  "call records with decision \"block\", which shim/exchange.c book_blocked "
                  "must write); summary:\n" + summ[-800:])


def t_kill_switch_openai(tap):
    """max_requests 1 on node 18's openai SDK (default maxRetries 2): the
    second call raises APIError with status 402 after one HTTP request."""
    node_ready(tap)
    with Guard() as g:
        a = g.node_agent(g.run_env(TF_AZURE_ENDPOINT=g.azure_url, TF_AZURE_KEY=AZ_KEY),
                         ["--max-requests", "1"])
        msg = {"op": "chat", "model": "gpt-4o-mini", "max_tokens": 5,
               "messages": [{"role": "user", "content": "hi"}]}
        try:
            r0 = a.ask(msg)
            r1 = a.ask(msg)
            r2 = a.ask({"op": "embeddings", "model": "text-embedding-3-small", "input": "x"})
        finally:
            closed(tap, a, "kill switch openai")
        tap.check(r0.get("ok"), "kill switch openai: the first call passes", r0)
        for r, what in ((r1, "chat"), (r2, "embeddings")):
            e = r.get("error") or {}
            tap.eq((r.get("ok"), e.get("isAPIError"), e.get("status")), (False, True, 402),
                   "kill switch openai (%s): APIError with status 402" % what)
            tap.check("budget exceeded" in (e.get("message") or "").lower(),
                      "kill switch openai (%s): 'budget exceeded' in the message" % what, e)
            tap.eq(r.get("fetches"), 1, "kill switch openai (%s): one attempt, no retry" % what)
        tap.note("kill switch openai: %s: %s" % ((r1.get("error") or {}).get("class"),
                                                 (r1.get("error") or {}).get("message")))
        lines = model_lines(g, 1)
        tap.eq(len(lines), 1, "kill switch openai: only the first call reached the emulator")
        tap.eq(len(standins(g)), 2, "kill switch openai: one stand-in per blocked call (node reads "
               "only after the network delivers)")


# ---- (d) warn_at once -----------------------------------------------------------------------

def t_warn_at(tap):
    """warn_at 0.5 of max_cost: one warning when spend crosses half the budget
    (event, status warnings, one log line), none before, none again after."""
    body = chat("warn me", 20)
    CALLS = 12  # the threshold is crossed at the 8th; 4 more must not warn again
    with Guard("--reply-tokens", "20") as g:
        m = azure_chat(g, "requests", "gpt-4o-mini", body)
        real = emumod.cost_pico("gpt-4o-mini", emumod.input_tokens(m["body"]), 20)
        max_cost = 10 * real + 2 * worst_pico("gpt-4o-mini", len(m["body"]), 20)
        a = g.agent(g.preload_env(TOKENFENCE_MAX_COST=usd(max_cost), TOKENFENCE_WARN_AT="0.5"))
        seen = []
        try:
            for i in range(CALLS):
                r = a.ask(m)
                tap.eq(r.get("status"), 200, "warn_at: call %d answered 200" % (i + 1))
                guard.wait_until(lambda: len(g.calls()) > i, timeout=5)
                seen.append(len([n for n in g.notes("warning") if "warn_at" in n.get("message", "")]))
            doc, p = g.status()
            pids = sorted(int(n.split(".")[0]) for n in os.listdir(g.sock_dir) if n.endswith(".sock"))
            raw = g.status_raw(pids[-1]) if pids else "{}"
        finally:
            closed(tap, a, "warn_at")
        spent = [sum(l["cost_pico_usd"] for l in model_lines(g)[:i + 1]) for i in range(CALLS)]
        first = next((i for i, s in enumerate(spent) if s * 2 >= max_cost), None)
        tap.note("warn_at: max_cost %s USD; spent after each call %s; warnings seen after each call %s"
                 % (usd(max_cost), [usd(s) for s in spent], seen))
        tap.check(first is not None, "warn_at: the calls crossed the threshold", spent)
        if first is not None:
            tap.eq(seen, [0] * first + [1] * (CALLS - first),
                   "warn_at: the warning event comes with call %d, where spend reaches 50%%, "
                   "and never again" % (first + 1))
        try:
            ws = json.loads(raw).get("warnings", [])
        except ValueError:
            ws = None
        tap.eq(len(ws or []), 1, "warn_at: the control socket's status lists one warning")
        if doc is not None and doc.get("processes") and \
                all(x.get("responsive", True) for x in doc["processes"]):
            tap.eq(len(doc["processes"][0].get("warnings", [])), 1,
                   "warn_at: `tokenfence status --json` lists one warning")
        else:
            tap.check(False, "warn_at: `tokenfence status --json` lists one warning",
                      guard.STATUS_DUP_BUG + "\n" + p.stdout[:500])
        logs = [l for l in g.shim_log().splitlines() if "warn_at" in l]
        tap.eq(len(logs), 1, "warn_at: one log line")
        if logs:
            tap.note("warn_at log: " + logs[0])


def t_warn_at_workflow(tap):
    """Three processes in a row under one `tokenfence run` (one workflow
    budget): the threshold is crossed in the second, and the run has one
    warning in all, not one per process."""
    body = json.dumps(chat("warn the workflow", 20))
    with Guard("--reply-tokens", "20") as g:
        url = "%s/openai/deployments/gpt-4o/chat/completions?%s" % (g.azure_url, API)
        code = ("import os, requests\n"
                "for _ in range(4):\n"
                "    r = requests.post(os.environ['U'], data=os.environ['B'], headers="
                "{'api-key': os.environ['TF_AZURE_KEY'], 'Content-Type': 'application/json'})\n"
                "    print(r.status_code)\n")
        real = emumod.cost_pico("gpt-4o", emumod.input_tokens(body), 20)
        max_cost = 15 * real  # 50% is crossed by the 8th call, in the second process
        p = subprocess.run(
            [TOKENFENCE, "run", "--max-cost", usd(max_cost), "--warn-at", "0.5", "--", "sh", "-c",
             "for i in 1 2 3; do %s -c \"$C\" || exit 1; done" % PY],
            env=g.run_env(U=url, B=body, C=code), capture_output=True, text=True, timeout=120)
        tap.eq((p.returncode, p.stdout.split()), (0, ["200"] * 12),
               "warn_at workflow: 12 calls in 3 processes answered 200")
        ws = [n for n in g.notes("warning") if "warn_at" in n.get("message", "")]
        tap.eq(len(ws), 1, "warn_at workflow: one warning event for the whole run")
        pids = {n.get("tokenfence.pid") for n in ws}
        callers = [c.get("tokenfence.pid") for c in g.calls()]
        tap.check(len(ws) == 1 and callers.index(ws[0]["tokenfence.pid"]) in range(4, 8),
                  "warn_at workflow: it came from the second process, which crossed 50%",
                  (pids, callers))
        logs = [l for l in g.shim_log().splitlines() if "warn_at" in l]
        tap.eq(len(logs), 1, "warn_at workflow: one log line")
        tap.eq(p.stderr.count("warning: warn_at"), 1, "warn_at workflow: the run summary shows it once")


def t_downgrade_at(tap):
    """downgrade_at 0.3 with a downgrade map: calls run on gpt-4o until
    spent + reserved reach 30% of max_cost, then on gpt-4o-mini."""
    with Guard("--reply-tokens", "20") as g:
        m = azure_chat(g, "requests", "gpt-4o", chat("downgrade at", 20))
        real = emumod.cost_pico("gpt-4o", emumod.input_tokens(m["body"]), 20)
        max_cost = 20 * real
        a = g.agent(g.preload_env(TOKENFENCE_MAX_COST=usd(max_cost), TOKENFENCE_DOWNGRADE_AT="0.3",
                                  TOKENFENCE_DOWNGRADE="gpt-4o=gpt-4o-mini"))
        try:
            rs = [a.ask(m) for _ in range(9)]
        finally:
            closed(tap, a, "downgrade_at")
        tap.eq([r.get("status") for r in rs], [200] * 9, "downgrade_at: all calls answered 200")
        models = [l["model"] for l in model_lines(g, 9)]
        # before call k, spent = (k-1) x real; the switch comes once that reaches 30% (6 calls)
        tap.eq(models, ["gpt-4o"] * 6 + ["gpt-4o-mini"] * 3,
               "downgrade_at: the 7th call onwards ran on gpt-4o-mini")
        tap.eq([c.get("tokenfence.decision") for c in g.calls()], ["allow"] * 6 + ["downgrade"] * 3,
               "downgrade_at: events say allow, then downgrade")


# ---- (e) kill / resume at run time ---------------------------------------------------------

def t_kill_resume(tap):
    with Guard() as g:
        a = g.agent(g.preload_env())
        m = azure_chat(g, "requests", "gpt-4o-mini", chat("kill and resume", 5))
        try:
            r0 = a.ask(m)
            k = g.cli(["kill"])
            r1 = a.ask(m)
            raw = g.status_raw(a.pid)
            rs = g.cli(["resume", "--pid", str(a.pid)])
            r2 = a.ask(m)
        finally:
            closed(tap, a, "kill/resume")
        tap.eq(r0.get("status"), 200, "kill/resume: the call before kill passes")
        tap.check(k.returncode == 0, "kill/resume: `tokenfence kill` accepted", k.stdout + k.stderr)
        tap.eq(r1.get("status"), 402, "kill/resume: the next call is blocked (402)")
        tap.check("budget exceeded" in (r1.get("body") or "").lower(),
                  "kill/resume: its error says budget exceeded", r1.get("body"))
        try:
            killed = [v.get("killed") for v in json.loads(raw).get("by_scope", {}).values()][:1]
        except ValueError:
            killed = None
        tap.eq(killed, [True], "kill/resume: status shows the workflow scope killed")
        tap.check(rs.returncode == 0, "kill/resume: `tokenfence resume --pid` accepted",
                  rs.stdout + rs.stderr)
        tap.eq(r2.get("status"), 200, "kill/resume: after resume the next call passes")
        tap.eq(len(model_lines(g, 2)), 2, "kill/resume: the emulator got the two allowed calls only")


# ---- (f) bad input: config, non-JSON body ----------------------------------------------------

BAD_CONFIGS = [
    ('{\n  "max_cost": 3,\n  "max_cots": 2\n}\n', 3, "max_cots"),
    ('{\n  "max_cost": 3,\n  "warn_at": 2\n}\n', 3, "warn_at"),
    ('{\n  "max_cost": 3,\n  "max_requests": "ten"\n}\n', 3, "max_requests"),
    ('{\n  "max_cost": 3,\n\n  "fail_mode": "open",,\n}\n', 4, None),
]


def t_bad_config_run(tap):
    with Guard() as g:
        for i, (text, line, key) in enumerate(BAD_CONFIGS):
            f = os.path.join(g.dir, "bad%d.json" % i)
            with open(f, "w") as fh:
                fh.write(text)
            p = subprocess.run([TOKENFENCE, "run", "--config", f, "--", PY, "-c", "print('ran')"],
                                     env=g.run_env(), capture_output=True, text=True, timeout=60)
            tap.eq(p.returncode, 3, "run --config bad%d.json: exit status 3" % i)
            tap.check("%s:%d" % (f, line) in p.stderr and (key is None or key in p.stderr),
                      "run --config bad%d.json: the message names %s:%d%s"
                      % (i, os.path.basename(f), line, " and " + key if key else ""), p.stderr)
            tap.check("ran" not in p.stdout, "run --config bad%d.json: the command did not run" % i,
                      p.stdout)
            tap.note(p.stderr.strip())


def t_bad_config_preload(tap):
    with Guard() as g:
        for i, (text, line, key) in enumerate(BAD_CONFIGS):
            f = os.path.join(g.dir, "bad%d.json" % i)
            with open(f, "w") as fh:
                fh.write(text)
            p = subprocess.run([PY, "-c", "print('ran')"], env=g.preload_env(TOKENFENCE_CONFIG=f),
                                     capture_output=True, text=True, timeout=60)
            tap.eq(p.returncode, 3, "LD_PRELOAD + TOKENFENCE_CONFIG=bad%d.json: exit status 3" % i)
            tap.check("%s:%d" % (f, line) in p.stderr and (key is None or key in p.stderr),
                      "LD_PRELOAD bad%d.json: the message names %s:%d%s"
                      % (i, os.path.basename(f), line, " and " + key if key else ""), p.stderr)
            tap.check("ran" not in p.stdout, "LD_PRELOAD bad%d.json: the program did not run" % i,
                      p.stdout)
        p = subprocess.run([PY, "-c", "print('ran')"],
                                 env=g.preload_env(TOKENFENCE_CONFIG=os.path.join(g.dir, "missing.json")),
                                 capture_output=True, text=True, timeout=60)
        tap.check(p.returncode == 3 and "missing.json" in p.stderr and "ran" not in p.stdout,
                  "LD_PRELOAD with a missing config file: refused (exit 3, names the file)",
                  (p.returncode, p.stderr))


def t_non_json_body(tap):
    """A guarded request whose body is not JSON: reserved at the model's
    maximum output (fail_mode open), so a per-request cap one pico-dollar
    below that blocks it (clamping off: a clamp cannot rewrite a body it
    cannot read); let through, the emulator's answer decides the charge; a
    200 whose usage cannot be read is charged that maximum, never $0."""
    text = "this is not JSON {"
    e = PRICES["gpt-4o"]
    worst = worst_pico("gpt-4o", len(text), e["max_output"])
    with Guard() as g:
        srv = guard.RawServer(g.pki, lambda send, req: send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok"), clean=True)
        g.servers.append(srv)
        g.hosts.append("127.0.0.1:%d=azure" % srv.port)
        cfg = os.path.join(g.dir, "noclamp.json")
        with open(cfg, "w") as f:
            json.dump({"clamp_max_tokens": False}, f)
        m = azure_chat(g, "requests", "gpt-4o", {})
        m["body"] = text
        raw_m = dict(m, url="https://127.0.0.1:%d/openai/deployments/gpt-4o/chat/completions?%s"
                     % (srv.port, API))
        tap.note("non-JSON body: expected worst case %s USD (%d+%d input bound, %s max output)"
                 % (usd(worst), len(text), TEMPLATE_OVERHEAD, e["max_output"]))
        a = g.agent(g.preload_env(TOKENFENCE_FAIL_MODE="open", TOKENFENCE_CONFIG=cfg,
                                  TOKENFENCE_MAX_COST_PER_REQUEST=usd(worst - 1)))
        try:
            r_block = a.ask(m)
        finally:
            closed(tap, a, "non-JSON, cap below the maximum")
        tap.eq(r_block.get("status"), 402,
               "non-JSON body: a cap one pico-dollar below the model's maximum blocks it")
        tap.eq(model_lines(g), [], "non-JSON body: the blocked call never reached the emulator")
        a = g.agent(g.preload_env(TOKENFENCE_FAIL_MODE="open", TOKENFENCE_CONFIG=cfg,
                                  TOKENFENCE_MAX_COST_PER_REQUEST=usd(worst), TOKENFENCE_MAX_COST="5"))
        try:
            r_emu = a.ask(m)
            r_raw = a.ask(raw_m)
        finally:
            closed(tap, a, "non-JSON, cap at the maximum")
        lines = model_lines(g, 1)
        tap.note("non-JSON body: the emulator answered %s and billed %s"
                 % (r_emu.get("status"), [(l["status"], l["cost_pico_usd"]) for l in lines]))
        calls = g.calls()
        tap.eq(len(calls), 2, "non-JSON body: two call events")
        if len(calls) == 2:
            c_emu, c_raw = calls
            tap.eq([pico(c["tokenfence.worst_usd"]) for c in calls], [worst, worst],
                   "non-JSON body: reserved at the model's maximum (the cap at exactly that admits it)")
            tap.check(lines and c_emu["tokenfence.cost_pico"] >= lines[0]["cost_pico_usd"],
                      "non-JSON body: the emulator's answer charged at least what it billed",
                      (c_emu, lines))
            tap.eq(r_raw.get("status"), 200, "non-JSON body: the raw server's 200 reached the app")
            tap.eq(c_raw["tokenfence.cost_pico"], worst,
                   "non-JSON body: a 200 without readable usage is charged the model's maximum")
        warns = [n.get("message") for n in g.notes("warning")]
        tap.check(any("usage not readable" in w for w in warns),
                  "non-JSON body: an event says why it was charged the maximum", warns)
        logs = [l for l in g.shim_log().splitlines() if "not JSON" in l]
        tap.check(logs, "non-JSON body: the log says the body is not JSON", g.shim_log()[-1000:])


OTHER_AKID, OTHER_SECRET = "AKIDOTHEREXAMPLE", "otherSecretKeyForTheEmulatorOnly0000000"
FAIL_OPEN_BUG = (
    "BUG (shim): a downgrade that cannot be rewritten (no credentials for the request's access "
    "key) is sent unchanged under fail_mode open, but the call stays booked and reserved as the "
    "downgraded model: enforce.c apply() has already replaced the call (model, price, worst) "
    "and flow.c forward_changed()'s fail_mode-open branch forwards the original bytes without "
    "restoring it or reserving the original worst case. The app's Sonnet call is priced as "
    "Haiku, and the budget can be exceeded")


def t_rewrite_impossible(tap):
    """boto3 signs with credentials given in code that the shim does not have
    (the emulator accepts them): a downgrade needs a re-signature it cannot
    make. fail_mode closed: blocked, an event says why. fail_mode open: sent
    unchanged, with an event; then what was sent must be what is booked, and
    the budget must still hold (max_cost fits Haiku's worst case, not the
    Sonnet call)."""
    body = anthropic("hello", 200)
    with Guard("--aws-cred", "%s:%s" % (OTHER_AKID, OTHER_SECRET),
               "--aws-cred", "%s:%s" % (emumod.AKID, emumod.SECRET)) as g:
        m = boto3_invoke(g, SONNET, body)
        m["creds"] = [OTHER_AKID, OTHER_SECRET]
        haiku_worst = worst_pico(HAIKU, len(m["body"]), 200)
        max_cost = 300 * 10 ** 6  # Haiku worst ~$0.000295 fits; Sonnet at 20 tokens bills $0.000321
        tap.note("rewrite impossible: max_cost %s USD, Haiku worst case %s USD"
                 % (usd(max_cost), usd(haiku_worst)))
        for mode in ("closed", "open"):
            before = len(model_lines(g))
            nev = len(g.events())
            a = g.agent(g.preload_env(TOKENFENCE_FAIL_MODE=mode, TOKENFENCE_MAX_COST=usd(max_cost),
                                      TOKENFENCE_DOWNGRADE="%s=%s" % (SONNET, HAIKU),
                                      TOKENFENCE_LEDGER=os.path.join(g.dir, "ledger-" + mode)))
            try:
                r = a.ask(m)
            finally:
                closed(tap, a, "rewrite impossible, fail_mode %s" % mode)
            ev = g.events()[nev:]
            notes = [e.get("message", "") for e in ev if e.get("tokenfence.event") == "warning"]
            tap.check(any("cannot rewrite" in n for n in notes),
                      "fail_mode %s: an event says the request cannot be rewritten" % mode, notes)
            lines = model_lines(g)[before:]
            if mode == "closed":
                tap.eq(((r.get("error") or {}).get("code"), lines), ("BudgetExceededException", []),
                       "fail_mode closed: blocked (BudgetExceededException), nothing sent")
                continue
            tap.note("fail_mode open: the app got %s; the emulator billed %s"
                     % (r.get("status"), [(l["model"], l["cost_pico_usd"]) for l in lines]))
            calls = [e for e in ev if "tokenfence.event" not in e]
            billed = sum(l["cost_pico_usd"] for l in lines)
            booked = sum(c.get("tokenfence.cost_pico", 0) for c in calls)
            tap.check(booked == billed, "fail_mode open: what was booked is what was billed",
                      "%s\nbooked %d pico-USD as %s; billed %d pico-USD for %s"
                      % (FAIL_OPEN_BUG, booked, [c.get("tokenfence.price_model") for c in calls],
                         billed, [l["model"] for l in lines]))
            tap.check(billed <= max_cost, "fail_mode open: the bill stays within max_cost",
                      "%s\nbilled %s USD > max_cost %s USD" % (FAIL_OPEN_BUG, usd(billed), usd(max_cost)))


CASES = {
    "concurrent-budget": t_concurrent_budget,
    "downgrade-azure": t_downgrade_azure,
    "downgrade-bedrock": t_downgrade_bedrock,
    "clamp": t_clamp,
    "block-per-request": t_block_per_request,
    "kill-switch-boto3": t_kill_switch_boto3,
    "kill-switch-openai": t_kill_switch_openai,
    "warn-at": t_warn_at,
    "warn-at-workflow": t_warn_at_workflow,
    "downgrade-at": t_downgrade_at,
    "kill-resume": t_kill_resume,
    "bad-config-run": t_bad_config_run,
    "bad-config-preload": t_bad_config_preload,
    "non-json-body": t_non_json_body,
    "rewrite-impossible": t_rewrite_impossible,
}

if __name__ == "__main__":
    guard.main(Tap(), CASES, sys.argv)
