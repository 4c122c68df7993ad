"""Issue 8 end to end: streamed calls under the real shim cost exactly what
the emulator bills and what the same call costs unstreamed; the app reads
the stream it asked for, byte for byte; a stream cut by the kill switch
makes each SDK raise an error naming TokenFence and is charged at least
what the emulator billed for the part it sent; a damaged stream reaches the
app as the server sent it and is charged conservatively.
Needs TF_SHIM, TF_TOKENFENCE and TF_EMULATOR."""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tfenv  # noqa: E402
from emu import Emulator, Skip, run_tests  # noqa: E402

SHIM = os.environ.get("TF_SHIM", "")
CLI = os.environ.get("TF_TOKENFENCE", "")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE = os.environ.get("TF_NODE", os.path.join(ROOT, "tools", "node18"))


class Run:
    """One emulator, a private ledger/socket dir/events file."""

    def __init__(self, *emu_args):
        self.emu = Emulator("--pace-ms", "1", *emu_args)
        self.tmp = tempfile.mkdtemp(prefix="tf-stream-")
        self.events = os.path.join(self.tmp, "events.jsonl")

    def env(self, shim=True):
        e = self.emu.env()
        e["TF_EMULATOR_URL"] = "https://localhost:%d" % self.emu.port
        e["NODE_PATH"] = os.path.join(HERE, "node", "node_modules")
        if not shim:
            return e
        return tfenv.with_shim(e, SHIM, os.path.join(self.tmp, "stats.jsonl"), {
            "TOKENFENCE_LEDGER": os.path.join(self.tmp, "ledger"),
            "TOKENFENCE_SOCKET_DIR": os.path.join(self.tmp, "sock"),
            "TOKENFENCE_EVENTS": self.events,
            "TOKENFENCE_HOSTS": "127.0.0.1:%d=bedrock,localhost:%d=azure"
                                % (self.emu.port, self.emu.port),
        })

    def calls(self):
        if not os.path.exists(self.events):
            return []
        return [json.loads(l) for l in open(self.events)
                if l.strip() and '"tokenfence.event"' not in l]

    def stop(self):
        self.emu.stop()


BOTO = r'''
import boto3, json, os, sys
from botocore.config import Config
rt = boto3.client("bedrock-runtime", endpoint_url="https://127.0.0.1:" + os.environ["TF_EMULATOR_PORT"],
                  region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
out = []
for what in sys.argv[1:]:
    kind, model, n = what.split("|")
    n = int(n)
    res = {"kind": kind, "model": model}
    try:
        if kind == "converse":
            r = rt.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "same words"}]}],
                            inferenceConfig={"maxTokens": n})
            res["usage"] = r["usage"]
        elif kind == "converse_stream":
            r = rt.converse_stream(modelId=model, messages=[{"role": "user", "content": [{"text": "same words"}]}],
                                   inferenceConfig={"maxTokens": n})
            res["events"] = sum(1 for _ in r["stream"])
        else:
            body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": n,
                               "messages": [{"role": "user", "content": "same words"}]})
            if kind == "invoke":
                rt.invoke_model(modelId=model, body=body)["body"].read()
            else:
                r = rt.invoke_model_with_response_stream(modelId=model, body=body)
                res["events"] = sum(1 for _ in r["body"])
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    out.append(res)
print(json.dumps(out))
'''


def boto(run, *calls, shim=True, timeout=120):
    p = subprocess.run([tfenv.python(), "-c", BOTO] + list(calls), env=run.env(shim),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def node(run, *args, shim=True, timeout=120):
    if not os.access(NODE, os.X_OK) or not os.path.isdir(
            os.path.join(HERE, "node", "node_modules", "openai")):
        raise Skip("Debian node 18 or the npm openai SDK is missing (run tools/setup)")
    p = subprocess.run([NODE, os.path.join(HERE, "node", "stream-azure.js")] + [str(a) for a in args],
                       env=run.env(shim), capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def check_exact(run, n, total=None):
    """The last n bill lines and call records agree token for token, pico for
    pico. total: how many lines the bill must have (streams are billed once
    sent, a moment after the client has read them)."""
    bill = run.emu.bill(at_least=total if total is not None else n)[-n:]
    calls = run.calls()[-n:]
    assert len(bill) == n and len(calls) == n, (bill, calls)
    for b, c in zip(bill, calls):
        assert c["tokenfence.usage_source"] in ("stream", "body", "headers"), c
        assert c["gen_ai.usage.input_tokens"] == b["input_tokens"], (b, c)
        assert c["gen_ai.usage.output_tokens"] == b["output_tokens"], (b, c)
        assert c["tokenfence.cost_pico"] == b["cost_pico_usd"], (b, c)
    return bill


def test_bedrock_streams_cost_what_the_bill_says_and_what_unstreamed_costs():
    run = Run()
    try:
        pairs = [("invoke", "anthropic.claude-3-haiku-20240307-v1:0", 30),
                 ("converse", "amazon.nova-lite-v1:0", 25),
                 ("invoke", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", 12)]
        args = []
        for kind, model, n in pairs:
            args += ["%s|%s|%d" % (kind, model, n),
                     "%s|%s|%d" % (kind + ("_stream" if kind == "converse" else "_stream"), model, n)]
        res = boto(run, *args)
        assert not [r for r in res if "error" in r], res
        bill = check_exact(run, len(args), len(args))
        for i in range(0, len(bill), 2):
            assert bill[i]["stream"] is False and bill[i + 1]["stream"] is True, bill[i:i + 2]
            assert bill[i]["cost_pico_usd"] == bill[i + 1]["cost_pico_usd"], bill[i:i + 2]
    finally:
        run.stop()


def test_azure_streams_exact_with_and_without_include_usage_and_responses():
    run = Run()
    try:
        a = node(run, "usage", "gpt-4o", 15)
        b = node(run, "plain", "gpt-4o", 15)
        c = node(run, "responses", "gpt-4o", 15)
        assert "error" not in a and "error" not in b and "error" not in c, (a, b, c)
        assert a["usage_chunks"] == 1, a
        assert b["usage_chunks"] == 0 and "usage" not in b, b  # the app never sees our usage chunk
        assert a["text"] == b["text"], (a, b)
        check_exact(run, 3, 3)
        bill = run.emu.bill(at_least=3)[-3:]
        assert bill[0]["cost_pico_usd"] == bill[1]["cost_pico_usd"], bill
    finally:
        run.stop()


def normalise(sse):
    sse = re.sub(r'"created":\d+', '"created":0', sse)
    sse = re.sub(r'"id":"chatcmpl-[^"]*"', '"id":"X"', sse)
    return sse


def test_azure_app_reads_the_stream_it_asked_for_byte_for_byte():
    run = Run()
    try:
        without = node(run, "raw", "gpt-4o", 10, shim=False)
        with_ = node(run, "raw", "gpt-4o", 10)
        assert "error" not in without and "error" not in with_, (without, with_)
        assert '"usage":' not in with_["raw"], with_["raw"][-400:]
        assert normalise(with_["raw"]) == normalise(without["raw"]), (without["raw"], with_["raw"])
        calls = run.calls()
        assert calls and calls[-1]["tokenfence.usage_source"] == "stream", calls[-1:]
        assert calls[-1]["gen_ai.usage.output_tokens"] == run.emu.bill(at_least=2)[-1]["output_tokens"]
    finally:
        run.stop()


def kill_soon(run, delay=1.0):
    """Trips the kill switch once the client's stream is under way: its
    control socket appears with its first guarded connection."""
    def go():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = subprocess.run([CLI, "status", "--json"], env=run.env(), capture_output=True,
                                text=True).stdout
            if '"pid"' in st:
                break
            time.sleep(0.1)
        time.sleep(delay)
        subprocess.run([CLI, "kill"], env=run.env(), capture_output=True)
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def check_cut(run):
    bill = run.emu.bill(at_least=1, timeout=10.0)[-1]
    call = run.calls()[-1]
    assert bill.get("note") == "client left mid-stream", bill
    assert 0 < bill["output_tokens"], bill
    # A stream we stopped is charged at least what the provider billed.
    assert call["tokenfence.cost_pico"] >= bill["cost_pico_usd"], (call, bill)
    assert "stream cut by TokenFence" in call.get("message", ""), call


def test_kill_switch_cuts_a_bedrock_stream_and_boto3_raises():
    run = Run("--pace-ms", "30", "--reply-tokens", "900")
    try:
        kill_soon(run)
        res = boto(run, "converse_stream|amazon.nova-lite-v1:0|900")
        assert "error" in res[0] and "EventStreamError" in res[0]["error"], res
        assert "TokenFence" in res[0]["error"] and "budget exceeded" in res[0]["error"], res
        check_cut(run)
    finally:
        run.stop()


def test_kill_switch_cuts_an_azure_stream_and_openai_raises():
    run = Run("--pace-ms", "30", "--reply-tokens", "900")
    try:
        kill_soon(run)
        res = node(run, "plain", "gpt-4o", 900)
        assert "error" in res and "TokenFence" in res["error"]["message"], res
        check_cut(run)
    finally:
        run.stop()


def test_a_damaged_stream_reaches_the_app_as_sent_and_is_charged_conservatively():
    run = Run("--fail", "crc:route=*stream*")
    try:
        plain = boto(run, "invoke_stream|anthropic.claude-3-haiku-20240307-v1:0|20", shim=False)
        shimmed = boto(run, "invoke_stream|anthropic.claude-3-haiku-20240307-v1:0|20")
        # botocore checks the CRC itself: it must fail the same way with and without us.
        assert "error" in plain[0] and "error" in shimmed[0], (plain, shimmed)
        assert plain[0]["error"].split(":")[0] == shimmed[0]["error"].split(":")[0], (plain, shimmed)
        call = run.calls()[-1]
        assert call["tokenfence.usage_source"] == "reservation", call
        billed = run.emu.bill(at_least=2)[-1]["cost_pico_usd"]
        assert call["tokenfence.cost_pico"] > 0 and call["tokenfence.cost_pico"] >= billed
    finally:
        run.stop()


if __name__ == "__main__":
    if not SHIM or not CLI:
        print("1..0 # SKIP TF_SHIM/TF_TOKENFENCE not set")
        sys.exit(0)
    run_tests(globals())
