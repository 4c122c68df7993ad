#!/usr/bin/env python3
"""`tokenfence demo`: TokenFence guarding real, unmodified clients (boto3,
the npm openai SDK, curl) against the local Bedrock/Azure emulator, with the
emulator's own bill as the ground truth. No internet, no cloud account.

Scenes: accounting, a budget with a warning, a downgrade, a kill switch,
and a policy with a denial and a human approval.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
AZURE_KEY = "test-azure-key"
AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"

BOLD, DIM, GREEN, RED, YELLOW, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[33m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RED = YELLOW = RESET = ""


def say(text=""):
    print(text, flush=True)


def title(n, total, text):
    say()
    say(f"{BOLD}[{n}/{total}] {text}{RESET}")


def pico_usd(p):
    return "$%d.%06d" % (p // 10**12, (p % 10**12 + 500000) // 10**6)


class Emulator:
    def __init__(self, exe, workdir):
        self.dir = workdir
        self.bill_path = os.path.join(workdir, "bill.jsonl")
        port_file = os.path.join(workdir, "port")
        self.ca = os.path.join(workdir, "ca.pem")
        self.log = open(os.path.join(workdir, "emulator.log"), "wb")
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--port-file", port_file, "--ca-out", self.ca,
             "--bill", self.bill_path, "--pace-ms", "0", "--azure-key", AZURE_KEY],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("demo: the emulator did not start (see %s)" % self.log.name)
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.bundle = os.path.join(workdir, "bundle.pem")
        with open(self.bundle, "w") as f:
            f.write(open(SYSTEM_ROOTS).read().rstrip("\n") + "\n" + open(self.ca).read())

    def bill(self):
        if not os.path.exists(self.bill_path):
            return []
        return [json.loads(l) for l in open(self.bill_path) if l.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Demo:
    def __init__(self, args, tmp):
        self.a = args
        self.tmp = tmp
        self.emu = Emulator(args.emulator, tmp)
        self.env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "LD_PRELOAD"):
            self.env.pop(k, None)
        e = self.emu
        self.env.update({
            "SSL_CERT_FILE": e.bundle, "CURL_CA_BUNDLE": e.bundle, "REQUESTS_CA_BUNDLE": e.bundle,
            "AWS_CA_BUNDLE": e.bundle, "NODE_EXTRA_CA_CERTS": e.ca, "SSL_CERT_DIR": tmp,
            "AWS_DATA_PATH": args.aws_models, "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_EMULATOR_URL_IP": "https://127.0.0.1:%d" % e.port,
            "TF_EMULATOR_URL_NAME": "https://localhost:%d" % e.port,
            "TF_AZURE_KEY": AZURE_KEY,
            "NODE_PATH": os.path.join(args.node_modules),
            # The emulator serves both clouds on one port: reached by IP it is
            # Bedrock, by name it is Azure OpenAI (in production TokenFence
            # knows the real hosts; see README "Hosts").
            "TOKENFENCE_HOSTS": "127.0.0.1:%d=bedrock,localhost:%d=azure" % (e.port, e.port),
            "TOKENFENCE_LEDGER": os.path.join(tmp, "ledger"),
            "TOKENFENCE_SOCKET_DIR": os.path.join(tmp, "sockets"),
        })
        self.billed_before = 0
        self.last_err = ""

    def run(self, flags, argv, scene_env=None, on_start=None, timeout=120):
        """tokenfence run FLAGS -- ARGV; returns (stdout lines, summary text)."""
        cmd = [self.a.tokenfence, "run"] + flags + ["--"] + argv
        env = dict(self.env, **(scene_env or {}))
        shown = argv if argv[0] != "curl" else ["curl", "…/chat/completions"]
        say(f"{DIM}  $ tokenfence run {' '.join(flags)}{' ' if flags else ''}-- "
            f"{' '.join(os.path.basename(x) if x.startswith('/') else x for x in shown)}{RESET}")
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if on_start:
            threading.Thread(target=on_start, daemon=True).start()
        out, err = p.communicate(timeout=timeout)
        self.last_err = err
        for line in out.splitlines():
            colour = GREEN if line.startswith("ok") else RED if line.startswith("error") else ""
            say(f"    {colour}{line}{RESET}")
        for line in err.splitlines():
            if "tokenfence[" in line and ("warning: warn_at" in line or "needs approval" in line
                                          or "approved by" in line or "kill switch" in line):
                say(f"    {YELLOW}{line.split(': ', 1)[1]}{RESET}")
        summary = [l for l in err.splitlines() if not l.startswith("tokenfence[")]
        return out.splitlines(), summary

    def show_summary(self, summary):
        for line in summary:
            say(f"    {DIM}{line}{RESET}")

    def new_bill(self):
        b = self.emu.bill()
        fresh = b[self.billed_before:]
        self.billed_before = len(b)
        return fresh

    def node(self, script, scene):
        if not self.a.node:
            return None
        return self.a.node + [os.path.join(HERE, script), scene]

    def scenes(self):
        py = [self.a.python, os.path.join(HERE, "agent_boto3.py")]
        total = 5

        title(1, total, "Accounting: what the agents spend, to the micro-dollar")
        say("  boto3 calls Claude, Titan, Llama and Nova on Bedrock; curl and the openai SDK call")
        say("  Azure OpenAI. None of them knows TokenFence is there.")
        _, summary = self.run([], py + ["tour"])
        curl = ["curl", "-s", "-o", "/dev/null", "-w", "curl: HTTP %{http_code}\n",
                "-H", "api-key: " + AZURE_KEY, "-H", "content-type: application/json",
                "--data", '{"messages":[{"role":"user","content":"hi from curl"}],"max_tokens":25}',
                "https://localhost:%d/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
                % self.emu.port]
        self.run([], curl)
        if self.node("agent_openai.js", "tour"):
            self.run([], self.node("agent_openai.js", "tour"))
        else:
            say(f"    {DIM}(openai SDK skipped: Debian's node 18 is not set up; run tools/setup){RESET}")
        bill = self.new_bill()
        billed = sum(b["cost_pico_usd"] for b in bill)
        if not os.path.exists(self.events):
            sys.exit("demo: TokenFence booked nothing (no events file); the last run said:\n"
                     + self.last_err[-2000:])
        events = [json.loads(l) for l in open(self.events) if '"tokenfence.cost_pico"' in l]
        booked = sum(e["tokenfence.cost_pico"] for e in events)
        mark = f"{GREEN}exact{RESET}" if billed == booked else f"{RED}MISMATCH{RESET}"
        say(f"  The emulator billed {len(bill)} calls, {pico_usd(billed)}; "
            f"TokenFence booked {len(events)} calls, {pico_usd(booked)}: {mark}")
        self.show_summary(summary)

        title(2, total, "A budget: --max-cost 0.003, --warn-at 0.5")
        say("  The worst case of each call is reserved before it leaves; the budget is never passed.")
        _, summary = self.run(["--max-cost", "0.003", "--warn-at", "0.5"], py + ["budget"])
        bill = self.new_bill()
        say(f"  Reached the emulator: {len(bill)} calls, {pico_usd(sum(b['cost_pico_usd'] for b in bill))} "
            f"(cap $0.003000)")
        self.show_summary(summary)

        title(3, total, "A downgrade: --max-cost-per-request 0.005 --downgrade gpt-4o=gpt-4o-mini")
        say("  A call whose worst case is over the per-request cap goes to the cheaper model;")
        say("  one that fits goes as asked.")
        argv = self.node("agent_openai.js", "downgrade")
        if argv:
            self.run(["--max-cost-per-request", "0.005", "--downgrade", "gpt-4o=gpt-4o-mini"], argv)
            for b in self.new_bill():
                say(f"  The emulator ran {b['model']} ({b['input_tokens']} in, {b['output_tokens']} out)")
        else:
            say(f"    {DIM}(skipped: Debian's node 18 is not set up; run tools/setup){RESET}")

        title(4, total, "A kill switch: --max-requests 3 stops a runaway loop")
        _, summary = self.run(["--max-requests", "3"], py + ["loop"])
        say(f"  Reached the emulator: {len(self.new_bill())} calls; the rest failed at once, never retried.")

        title(5, total, "A policy: fine-tuning denied, Sonnet needs a human's approval")
        cfg = os.path.join(self.tmp, "policy.json")
        with open(cfg, "w") as f:
            json.dump({"policy": {"default": "allow", "rules": [
                {"effect": "deny", "action": "bedrock:CreateModelCustomization*"},
                {"effect": "require_approval",
                 "action": "bedrock:InvokeModel:anthropic.claude-3-5-sonnet*"}]},
                "approval_timeout_s": 60}, f, indent=2)
        say(f"{DIM}  policy.json: deny bedrock:CreateModelCustomization*, require_approval "
            f"bedrock:InvokeModel:anthropic.claude-3-5-sonnet*{RESET}")
        self.run(["--config", cfg], py + ["policy"], on_start=self.approve_when_asked)
        bill = self.new_bill()
        say(f"  Reached the emulator: {', '.join(b['operation'] + ' ' + (b.get('model') or '') for b in bill)}")
        say()
        say(f"{BOLD}Everything above ran real SDKs over real TLS; TokenFence was only preloaded.{RESET}")

    def approve_when_asked(self):
        tf = self.a.tokenfence
        for _ in range(200):
            out = subprocess.run([tf, "approvals"], env=self.env, capture_output=True, text=True).stdout
            ids = [l.split()[0] for l in out.splitlines() if l.startswith("ap-")]
            if ids:
                say(f"{DIM}  $ tokenfence approvals{RESET}")
                for l in out.splitlines():
                    say(f"    {DIM}{l}{RESET}")
                time.sleep(1)
                say(f"{DIM}  $ tokenfence approve {ids[0]}{RESET}")
                subprocess.run([tf, "approve", ids[0]], env=self.env, capture_output=True)
                return
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenfence", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--aws-models", required=True)
    ap.add_argument("--node", default="", help="command running Debian's node 18 (tools/node18)")
    ap.add_argument("--node-modules", default="")
    ap.add_argument("--python", default="/usr/bin/python3")
    a = ap.parse_args()
    a.node = [a.node] if a.node and os.access(a.node, os.X_OK) and os.path.isdir(
        os.path.join(a.node_modules, "openai")) else None
    if not shutil.which("curl"):
        raise SystemExit("demo: curl is missing; run tools/setup")
    tmp = tempfile.mkdtemp(prefix="tokenfence-demo-")
    demo = Demo(a, tmp)
    demo.events = os.path.join(tmp, "events.jsonl")
    demo.env["TOKENFENCE_EVENTS"] = demo.events
    say(f"{BOLD}TokenFence demo{RESET}: real clients, a local Bedrock + Azure OpenAI emulator "
        f"(port {demo.emu.port}), no internet.")
    try:
        demo.scenes()
    finally:
        demo.emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
