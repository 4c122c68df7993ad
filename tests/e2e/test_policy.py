"""Issue 9 on the wire: the seed's enterprise policy enforced on real boto3
and npm openai calls against the emulator, under the real shim.

Denied calls raise the SDK's own error after one attempt and never reach
the emulator (its bill is the proof); calls that need approval wait, are
approved or denied from the CLI while the client waits, or time out; an
invalid policy in the config stops the program at start with file:line.
Needs TF_SHIM (the library) and TF_TOKENFENCE (the CLI)."""

import json
import os
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

POLICY = {"policy": {"default": "allow", "rules": [
    {"effect": "allow", "action": "bedrock:InvokeModel"},
    {"effect": "allow", "action": "bedrock:Retrieve"},
    {"effect": "deny", "action": "bedrock:CreateModelCustomization*"},
    {"effect": "deny", "action": "bedrock:DeleteProvisionedModel*"},
    {"effect": "require_approval", "action": "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*"},
    {"effect": "deny", "action": "azure:CreateFineTuningJob"},
    {"effect": "require_approval", "action": "azure:ChatCompletions:gpt-4o"}]},
    "approval_timeout_s": 3}

EMU = Emulator("--pace-ms", "0")
TMP = tempfile.mkdtemp(prefix="tf-policy-")


def env(extra=None, policy=POLICY):
    cfg = os.path.join(TMP, "policy.json")
    with open(cfg, "w") as f:
        json.dump(policy, f, indent=1)
    e = tfenv.with_shim(EMU.env(), SHIM, os.path.join(TMP, "stats.jsonl"), {
        "TOKENFENCE_CONFIG": cfg,
        "TOKENFENCE_LEDGER": os.path.join(TMP, "ledger"),
        "TOKENFENCE_SOCKET_DIR": os.path.join(TMP, "sock"),
        "TOKENFENCE_EVENTS": os.path.join(TMP, "events.jsonl"),
        "TOKENFENCE_HOSTS": "127.0.0.1:%d=bedrock,localhost:%d=azure" % (EMU.port, EMU.port),
        "TF_EMULATOR_URL": "https://localhost:%d" % EMU.port,
    })
    e.update(extra or {})
    return e


BOTO = r'''
import boto3, json, os, sys
from botocore.config import Config
from botocore.exceptions import ClientError
url = "https://127.0.0.1:" + os.environ["TF_EMULATOR_PORT"]
cfg = Config(retries={"max_attempts": 5, "mode": "legacy"})
rt = boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-east-1", config=cfg)
ctl = boto3.client("bedrock", endpoint_url=url, region_name="us-east-1", config=cfg)
for what in sys.argv[1:]:
    try:
        if what == "finetune":
            ctl.create_model_customization_job(jobName="j", customModelName="m",
                roleArn="arn:aws:iam::123456789012:role/r", baseModelIdentifier="amazon.titan-text-lite-v1",
                trainingDataConfig={"s3Uri": "s3://b/t"}, outputDataConfig={"s3Uri": "s3://b/o"},
                hyperParameters={})
        else:
            r = rt.invoke_model(modelId=what, body=json.dumps({"anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 8, "messages": [{"role": "user", "content": "policy"}]}))
            r["body"].read()
        print("ok", what, flush=True)
    except ClientError as e:
        print("error", e.response["Error"]["Code"], e.response["ResponseMetadata"]["RetryAttempts"],
              str(e), flush=True)
'''

SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def run_boto(args, decide=None, timeout=60):
    return run_client([tfenv.python(), "-c", BOTO] + args, decide, timeout)


def run_node(args, decide=None, timeout=60):
    if not os.access(NODE, os.X_OK) or not os.path.isdir(
            os.path.join(HERE, "node", "node_modules", "openai")):
        raise Skip("Debian node 18 or the npm openai SDK is missing (run tools/setup)")
    return run_client([NODE, os.path.join(HERE, "node", "policy-azure.js")] + args, decide, timeout)


def run_client(argv, decide, timeout):
    """Runs a client under the shim; decide(id) is called for each approval it asks for."""
    e = env()
    p = subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = set()
    if decide:
        def watch():
            while p.poll() is None:
                out = subprocess.run([CLI, "approvals", "--json"], env=e, capture_output=True,
                                     text=True).stdout
                pending = json.loads(out).get("pending", []) if out.strip().startswith("{") else []
                for a in pending:
                    if a["id"] not in seen:
                        seen.add(a["id"])
                        decide(a, e)
                time.sleep(0.1)
        threading.Thread(target=watch, daemon=True).start()
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, "client exited %d: %s" % (p.returncode, err[-2000:])
    return out.splitlines(), err


def cli(e, *args):
    return subprocess.run([CLI] + list(args), env=e, capture_output=True, text=True)


def billed(operation=None, model=None):
    return [b for b in EMU.bill() if (operation is None or b.get("operation") == operation)
            and (model is None or b.get("model") == model)]


def test_finetune_denied_after_one_attempt_and_never_sent():
    before = len(EMU.bill())
    out, _ = run_boto(["finetune"])
    assert len(out) == 1 and out[0].startswith("error PolicyDeniedException 0 "), out
    assert "denied by policy" in out[0].lower() and "CreateModelCustomizationJob" in out[0], out
    assert not [b for b in EMU.bill()[before:] if "Customization" in (b.get("operation") or "")]


def test_sonnet_waits_and_is_approved_from_the_cli():
    before = len(billed(model=SONNET))
    asked = []

    def approve(a, e):
        asked.append(a)
        assert a["action"] == "bedrock:InvokeModel:" + SONNET, a
        time.sleep(0.5)  # the client is really waiting
        r = cli(e, "approve", a["id"])
        assert r.returncode == 0, r.stderr

    t0 = time.monotonic()
    out, _ = run_boto([SONNET, HAIKU], approve)
    assert out == ["ok " + SONNET, "ok " + HAIKU], out
    assert len(asked) == 1 and time.monotonic() - t0 >= 0.5
    assert len(billed(model=SONNET)) == before + 1


def test_sonnet_denied_from_the_cli():
    before = len(billed(model=SONNET))
    out, _ = run_boto([SONNET], lambda a, e: cli(e, "deny", a["id"]))
    assert out[0].startswith("error ApprovalDeniedException 0 "), out
    assert "approval denied" in out[0].lower(), out
    assert len(billed(model=SONNET)) == before


def test_sonnet_times_out_without_a_decision():
    before = len(billed(model=SONNET))
    t0 = time.monotonic()
    out, _ = run_boto([SONNET])
    waited = time.monotonic() - t0
    assert out[0].startswith("error ApprovalDeniedException 0 ") and "no decision" in out[0], out
    assert waited >= 3, waited
    assert len(billed(model=SONNET)) == before


def test_azure_finetune_denied_and_chat_approved_or_denied():
    before = len(EMU.bill())
    decisions = iter(["approve", "deny"])
    out, _ = run_node(["finetune", "chat:gpt-4o", "chat:gpt-4o", "chat:gpt-4o-mini"],
                      lambda a, e: cli(e, next(decisions), a["id"]))
    assert out[0].startswith("error 403 PermissionDeniedError") and "denied by policy" in out[0], out
    assert out[1].startswith("ok chat gpt-4o "), out
    assert out[2].startswith("error 403 PermissionDeniedError") and "approval denied" in out[2], out
    assert out[3].startswith("ok chat gpt-4o-mini "), out
    ops = [b.get("operation") for b in EMU.bill()[before:]]
    assert not [o for o in ops if o and "FineTuning" in o], ops


def test_every_decision_is_an_audit_event():
    events = [json.loads(l) for l in open(os.path.join(TMP, "events.jsonl"))]
    policy = [e for e in events if e.get("tokenfence.event") == "policy"]
    assert policy, "no policy events"
    for e in policy:
        for k in ("time", "tokenfence.pid", "tokenfence.scope", "tokenfence.action", "message"):
            assert k in e, (k, e)
    text = json.dumps(events)
    assert "policy.rules[2]" in text and "require_approval" in text
    assert "AKIDEXAMPLE" not in text and "test-azure-key" not in text and "policy test" not in text


def test_invalid_policy_refused_at_start_with_file_and_line():
    bad = dict(POLICY)
    bad["policy"] = {"default": "allow", "rules": [{"effect": "maybe", "action": "bedrock:*"}]}
    e = env(policy=bad)
    p = subprocess.run(["/bin/true"], env=e, capture_output=True, text=True)
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert "policy.json:" in p.stderr and "effect" in p.stderr, p.stderr


if __name__ == "__main__":
    if not SHIM or not CLI:
        print("1..0 # SKIP TF_SHIM/TF_TOKENFENCE not set")
        sys.exit(0)
    try:
        run_tests(globals())
    finally:
        EMU.stop()
