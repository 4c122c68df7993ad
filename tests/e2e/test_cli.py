#!/usr/bin/env python3
"""End-to-end tests of the `tokenfence` command (meson suite 'cli').

    test_cli.py --tokenfence PATH --ctlserver PATH --data DIR [--asan-runtime SO] TEST

`run` tests start real commands under the real libtokenfence.so; the
control-socket tests talk to tests/cli/ctlserver, a stand-in host that
links the shim's control server with fake status/kill/approval handlers.
Each test prints "ok: ..." and exits 0, or prints "FAIL: ..." and exits 1.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

A = None


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def env_with(**kw):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("TOKENFENCE_"):
            del env[k]
    # Sanitized builds: the ASan runtime must come first in LD_PRELOAD, and
    # the commands we run (sh, python) are not ours to leak-check.
    env.pop("LD_PRELOAD", None)
    if A.asan_runtime:
        env["LD_PRELOAD"] = A.asan_runtime
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    for k, v in kw.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def tf(args, env=None, timeout=60, **kw):
    return subprocess.run([A.tokenfence] + args, env=env or env_with(), capture_output=True,
                          text=True, timeout=timeout, **kw)


# ---- run ----------------------------------------------------------------------

def t_run_exit_status():
    p = tf(["run", "--", "sh", "-c", "exit 7"])
    check(p.returncode == 7, f"exit {p.returncode}, want 7; stderr: {p.stderr}")
    check("tokenfence: no LLM calls were seen (workflow wf-" in p.stderr, p.stderr)
    check("tokenfence: the command exited with status 7" in p.stderr, p.stderr)
    p = tf(["run", "sh", "-c", "kill -TERM $$"])
    check(p.returncode == 128 + signal.SIGTERM, f"killed child: exit {p.returncode}")
    check("was killed by signal 15" in p.stderr, p.stderr)
    p = tf(["run", "-q", "--", "true"])
    check(p.returncode == 0 and p.stderr == "", f"--quiet: {p.returncode} {p.stderr!r}")
    p = tf(["run", "--", "/nonexistent/cmd"])
    check(p.returncode == 127, f"not found: exit {p.returncode}")
    check("cannot run /nonexistent/cmd: No such file or directory" in p.stderr, p.stderr)
    p = tf(["run", "--", A.data])
    check(p.returncode == 126, f"a directory: exit {p.returncode}")
    p = tf(["run"])
    check(p.returncode == 64 and "no command to run" in p.stderr, p.stderr)
    p = tf(["run", "--max-costt", "3", "--", "true"])
    check(p.returncode == 64 and "unknown option --max-costt" in p.stderr, p.stderr)
    p = tf(["run", "--max-cost"])
    check(p.returncode == 64 and "--max-cost needs a value" in p.stderr, p.stderr)
    p = tf(["run", "--", "true"], env=env_with(TOKENFENCE_LIBRARY="/nonexistent/lib.so"))
    check(p.returncode == 125 and "TOKENFENCE_LIBRARY" in p.stderr, p.stderr)
    return "exit status, 128+signal, 127/126/125/64 for tokenfence's own failures"


def t_run_bad_config():
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "tf.json")
        marker = os.path.join(tmp, "ran")
        with open(cfg, "w") as f:
            f.write('{\n  "max_cost": 3,\n  "warn_at": 0.75,\n  "max_cots": 1\n}\n')
        p = tf(["run", "--config", cfg, "--", "touch", marker])
        check(p.returncode == 3, f"exit {p.returncode}, want 3")
        check(f'tokenfence: {cfg}:4: unknown key "max_cots" (did you mean "max_cost"?)'
              in p.stderr, p.stderr)
        check(not os.path.exists(marker), "the command ran despite the bad config")
        # Relative path: the message names the file as given, made absolute.
        p = tf(["run", "--config", "tf.json", "--", "true"], cwd=tmp)
        check(p.returncode == 3 and f"{cfg}:4:" in p.stderr, p.stderr)
        # Config from the environment, flag values checked the same way.
        p = tf(["run", "--", "true"], env=env_with(TOKENFENCE_CONFIG=cfg))
        check(p.returncode == 3 and ":4:" in p.stderr, p.stderr)
        p = tf(["run", "--max-cost", "3$", "--", "touch", marker])
        check(p.returncode == 3 and 'TOKENFENCE_MAX_COST="3$"' in p.stderr
              and "(from --max-cost)" in p.stderr, p.stderr)
        p = tf(["run", "--config", os.path.join(tmp, "missing.json"), "--", "true"])
        check(p.returncode == 3 and "cannot read" in p.stderr, p.stderr)
        check(not os.path.exists(marker), "the command ran despite a bad flag")
    return "exit 3 naming file:line, command not started"


def t_run_environment():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "env.json")
        cfg = os.path.join(tmp, "tf.json")
        with open(cfg, "w") as f:
            f.write('{"max_cost": 5}\n')
        script = ("import json, os, sys; "
                  "e = {k: v for k, v in os.environ.items() if k.startswith(('TOKENFENCE_', 'LD_PRELOAD'))}; "
                  "e['run_dir_exists'] = os.path.isdir(os.environ['TOKENFENCE_RUN_DIR']); "
                  "json.dump(e, open(sys.argv[1], 'w'))")
        first = A.asan_runtime or "/lib/x86_64-linux-gnu/libm.so.6"
        env = env_with(LD_PRELOAD=first, TOKENFENCE_MAX_REQUESTS="5")
        p = tf(["run", "--max-cost", "3", "--warn-at", "0.75", "--downgrade", "a=b",
                "--downgrade", "c=d", "--scope", "team-a", "--config", "tf.json",
                "--events", "ev.jsonl", "--log", "off", "--max-requests", "7",
                "--", "python3", "-c", script, out], env=env, cwd=tmp)
        check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        with open(out) as f:
            e = json.load(f)
    pre = re.split("[: ]+", e["LD_PRELOAD"])
    check(pre[0] == first, f"existing LD_PRELOAD entry not first: {e['LD_PRELOAD']}")
    check(pre[-1].endswith("/libtokenfence.so") and os.path.isabs(pre[-1]),
          f"library not appended: {e['LD_PRELOAD']}")
    check(len(pre) == 2, f"extra entries: {pre}")
    want = {"TOKENFENCE_MAX_COST": "3", "TOKENFENCE_WARN_AT": "0.75",
            "TOKENFENCE_DOWNGRADE": "a=b,c=d", "TOKENFENCE_SCOPE": "team-a",
            "TOKENFENCE_CONFIG": cfg, "TOKENFENCE_EVENTS": os.path.join(tmp, "ev.jsonl"),
            "TOKENFENCE_LOG": "off", "TOKENFENCE_MAX_REQUESTS": "7"}
    for k, v in want.items():
        check(e.get(k) == v, f"{k}={e.get(k)!r}, want {v!r}")
    check(re.fullmatch(r"wf-[0-9a-f]{16}", e["TOKENFENCE_WORKFLOW"]), e["TOKENFENCE_WORKFLOW"])
    check(e["run_dir_exists"], "TOKENFENCE_RUN_DIR missing during the run")
    check(not os.path.exists(e["TOKENFENCE_RUN_DIR"]), "run dir left behind")
    check(os.stat(os.path.dirname(e["TOKENFENCE_RUN_DIR"])) is not None, "")
    return f"LD_PRELOAD={e['LD_PRELOAD']}, flags mapped, workflow and run dir set"


def t_run_summary():
    calls = os.path.join(A.data, "calls.jsonl")
    p = tf(["run", "--", "sh", "-c", f'cat "{calls}" > "$TOKENFENCE_RUN_DIR/calls.jsonl"; exit 0'])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    for want in ["tokenfence: 4 requests, $0.302690 (workflow wf-",
                 "  gpt-4o-mini ", "$0.300000", "  total ", "$0.302690",
                 "blocked 1, denied 2, downgraded 1, clamped 1",
                 "warning: scope wf-1: 75% of the budget used ($0.75 of $1.00)",
                 "(1 unreadable record skipped)",
                 "tokenfence: the command exited with status 0"]:
        check(want in p.stderr, f"summary lacks {want!r}:\n{p.stderr}")
    check(p.stderr.count("75% of the budget used") == 1, "warning not deduplicated")
    check(len(p.stderr.splitlines()) <= 24, "summary longer than a screen")
    return "summary from calls.jsonl: " + p.stderr.splitlines()[0]


def t_run_forwards_signals():
    with tempfile.TemporaryDirectory() as tmp:
        ready, got = os.path.join(tmp, "ready"), os.path.join(tmp, "got")
        script = ("import signal, sys, time\n"
                  "def h(s, f):\n"
                  f"    open({got!r}, 'w').write(str(s)); sys.exit(5)\n"
                  "signal.signal(signal.SIGTERM, h)\n"
                  f"open({ready!r}, 'w').close()\n"
                  "time.sleep(30)\n")
        proc = subprocess.Popen([A.tokenfence, "run", "--", "python3", "-c", script],
                                env=env_with(), stderr=subprocess.PIPE, text=True)
        for _ in range(300):
            if os.path.exists(ready):
                break
            time.sleep(0.02)
        check(os.path.exists(ready), "child did not start")
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        check(proc.returncode == 5, f"exit {proc.returncode}, want the child's 5: {err}")
        check(open(got).read() == str(int(signal.SIGTERM)), "child did not get SIGTERM")
    return "SIGTERM passed on, child's status returned"


# ---- policy check ----------------------------------------------------------------

def t_policy_check():
    cfg = os.path.join(A.data, "policy.json")
    cases = [("bedrock:InvokeModel:anthropic.claude-3-haiku-20240307-v1:0", 0, "allow"),
             ("bedrock:Retrieve:kb-1", 0, "allow"),
             ("bedrock:CreateModelCustomizationJob", 1, "deny"),
             ("bedrock:DeleteProvisionedModelThroughput:pt-1", 1, "deny"),
             ("bedrock:InvokeModel:us.anthropic.claude-3-5-sonnet-20240620-v1:0", 2,
              "require_approval"),
             ("azure:CreateFineTuningJob", 1, "deny")]
    for action, code, effect in cases:
        p = tf(["policy", "check", action, "--config", cfg])
        check(p.returncode == code, f"{action}: exit {p.returncode}, want {code}: {p.stderr}")
        check(p.stdout.startswith(f"{effect} {action}\n  rule: "), p.stdout)
    p = tf(["policy", "check", "--json", "bedrock:CreateModelCustomizationJob", "--config", cfg])
    j = json.loads(p.stdout)
    check(j == {"action": "bedrock:CreateModelCustomizationJob", "decision": "deny",
                "rule": 'policy.rules[2] deny "bedrock:CreateModelCustomization*"',
                "index": 2, "line": 7}, p.stdout)
    p = tf(["policy", "check", "bedrock:InvokeModel:x"],
           env=env_with(TOKENFENCE_CONFIG=os.path.join(A.data, "bad-key.json")))
    check(p.returncode == 3 and "bad-key.json:4:" in p.stderr, p.stderr)
    p = tf(["policy", "check", "bedrock:InvokeModel:x", "--config",
            os.path.join(A.data, "bad-pattern.json")])
    check(p.returncode == 3 and "bad-pattern.json:4: policy.rules[0].action" in p.stderr,
          p.stderr)
    p = tf(["policy", "check", "bedrock:CreateModelCustomizationJob"])
    check(p.returncode == 0 and "no policy" in p.stdout, p.stdout)
    p = tf(["policy", "check"])
    check(p.returncode == 64, f"no action: exit {p.returncode}")
    return "0 allow, 1 deny, 2 require_approval, 3 config error"


# ---- control socket -----------------------------------------------------------------

class Servers:
    def __init__(self, sockdir, *argsets):
        self.procs, self.pids = [], []
        for args in argsets:
            p = subprocess.Popen([A.ctlserver] + list(args), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True,
                                 env=env_with(TOKENFENCE_SOCKET_DIR=sockdir))
            pid, path = p.stdout.readline().split(" ", 1)
            check(path.strip(), "ctlserver did not start its server")
            self.procs.append(p)
            self.pids.append(int(pid))

    def close(self):
        for p in self.procs:
            p.stdin.close()
            p.wait(timeout=20)
            check(p.returncode == 0, f"ctlserver exited {p.returncode}")


def t_control_commands():
    with tempfile.TemporaryDirectory() as tmp:
        sockdir = os.path.join(tmp, "s")
        env = env_with(TOKENFENCE_SOCKET_DIR=sockdir)
        p = tf(["status"], env=env)
        check(p.returncode == 0 and p.stdout == "no TokenFence processes are running\n",
              f"{p.returncode} {p.stdout!r}")
        p = tf(["status", "--json"], env=env)
        j = json.loads(p.stdout)
        check(j["processes"] == [] and j["total"]["requests"] == 0, p.stdout)
        srv = Servers(sockdir, [], [], ["--slow-status", "3000"])
        try:
            fast, slow = srv.pids[:2], srv.pids[2]
            t0 = time.monotonic()
            p = tf(["status", "--json"], env=env)
            took = time.monotonic() - t0
            check(p.returncode == 0, p.stderr)
            check(took < 2.5, f"status took {took:.2f}s with a stuck process")
            j = json.loads(p.stdout)
            by_pid = {x["pid"]: x for x in j["processes"]}
            check(sorted(by_pid) == sorted(srv.pids), f"pids {sorted(by_pid)}")
            check(by_pid[slow]["responsive"] is False and "not answering" in by_pid[slow]["error"],
                  by_pid[slow])
            check(by_pid[fast[0]]["exe"] == "ctlserver", by_pid[fast[0]])
            t = j["total"]
            check(t["processes"] == 3 and t["unresponsive"] == 1, t)
            check(t["requests"] == 6 and t["cost_pico"] == 4200000000 and t["cost_usd"] == 0.0042, t)
            check(t["by_model"]["gpt-4o-mini"]["input_tokens"] == 2400, t)
            check(t["by_scope"]["team-a"]["spent_usd"] == 0.0021, "scope summed, not shown once")

            p = tf(["status"], env=env)
            check(f"pid {slow}  not answering (no reply within 1 s)" in p.stdout, p.stdout)
            check(p.stdout.count("ctlserver  workflow wf-test  scope team-a") == 2, p.stdout)
            check("total: 3 processes (1 not answering), 6 requests" in p.stdout, p.stdout)
            p = tf(["status", "--pid", str(fast[1])], env=env)
            check(p.stdout.startswith(f"pid {fast[1]}  ctlserver"), p.stdout)
            p = tf(["status", "--pid", "999999999"], env=env)
            check(p.returncode == 1 and "no TokenFence process with pid" in p.stderr, p.stderr)

            p = tf(["kill", "--scope", "team-a"], env=env)
            check(p.returncode == 0, p.stderr)
            for pid in fast:
                check(f"pid {pid}: ok scope=team-a killed=true" in p.stdout, p.stdout)
            p = tf(["resume", "--pid", str(fast[0])], env=env)
            check(p.returncode == 0 and p.stdout == f"pid {fast[0]}: ok scope=wf-test killed=false\n",
                  p.stdout)

            p = tf(["approvals"], env=env)
            check(p.returncode == 0, p.stderr)
            # The slow server may still be inside a status handler: one
            # control thread per process, so its answers wait.
            for pid in fast:
                check(re.search(rf"a1-{pid} +{pid} team-a +4s +\$0\.123456  bedrock:InvokeModel:anthropic", p.stdout),
                      p.stdout)
            p = tf(["approvals", "--json"], env=env)
            j = json.loads(p.stdout)
            ids = {x["id"] for x in j["pending"]}
            check({f"a1-{pid}" for pid in fast} <= ids, j)
            check(len(ids) + len(j["errors"]) == 3, j)
            p = tf(["approve", f"a1-{fast[1]}"], env=env)
            check(p.returncode == 0 and p.stdout == f"approved a1-{fast[1]} (pid {fast[1]})\n",
                  f"{p.returncode} {p.stdout} {p.stderr}")
            p = tf(["deny", f"a1-{fast[0]}"], env=env)
            check(p.returncode == 0 and p.stdout == f"denied a1-{fast[0]} (pid {fast[0]})\n", p.stdout)
            p = tf(["approve", "a9-nope"], env=env)
            check(p.returncode == 1 and "no pending approval has id a9-nope" in p.stderr, p.stderr)

            p = tf(["metrics"], env=env)
            check(p.returncode == 0, p.stderr)
            check('tokenfence_requests_total{model="gpt-4o-mini",provider="azure",scope="team-a"} 6\n'
                  in p.stdout, p.stdout)
            check("tokenfence_processes_unresponsive 1\n" in p.stdout, p.stdout)
            p = tf(["top", "--once"], env=env)
            check(p.returncode == 0 and p.stdout.startswith("tokenfence top  ")
                  and "\033" not in p.stdout, p.stdout)
        finally:
            srv.close()
        check(os.listdir(sockdir) == [], f"sockets left behind: {os.listdir(sockdir)}")
        p = tf(["kill"], env=env)
        check(p.returncode == 1 and "no TokenFence processes are running" in p.stderr, p.stderr)
        os.chmod(sockdir, 0o755)
        p = tf(["status"], env=env)
        check(p.returncode == 1 and "not trusting socket directory" in p.stderr, p.stderr)
    return f"status/kill/resume/approvals/approve/deny/metrics/top; stuck process cost {took:.2f}s"


# ---- the real library -----------------------------------------------------------------

DRIVER = r"""
import json, ssl, sys, urllib.request, urllib.error
port = int(sys.argv[1])
def call():
    body = json.dumps({"messages": [{"role": "user", "content": "hello from the cli test"}],
                       "max_tokens": 5}).encode()
    req = urllib.request.Request(
        "https://localhost:%d/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21" % port,
        data=body, headers={"api-key": "test-azure-key", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
st, body = call()
print("first", st, flush=True)
sys.stdin.readline()
st, body = call()
print("second", st, body.replace("\n", " "), flush=True)
"""


def t_real_shim():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from emu import Emulator
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emu:
        sockdir = os.path.join(tmp, "s")
        env = emu.env(base=env_with(TOKENFENCE_SOCKET_DIR=sockdir))
        if A.asan_runtime:
            env["LD_PRELOAD"] = A.asan_runtime
        drv = os.path.join(tmp, "driver.py")
        with open(drv, "w") as f:
            f.write(DRIVER)
        proc = subprocess.Popen([A.tokenfence, "run", "--hosts", f"localhost:{emu.port}=azure",
                                 "--log", "off", "--", py, drv, str(emu.port)],
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            check(line == "first 200\n", f"first call: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
            bill = emu.bill()
            check(len(bill) == 1, f"emulator bill: {bill}")
            p = tf(["status", "--json"], env=env)
            check(p.returncode == 0, p.stderr)
            j = json.loads(p.stdout)
            check(len(j["processes"]) == 1, j)
            st = j["processes"][0]
            check(st["responsive"] is True and st["exe"].startswith("python"), st)
            check(st["workflow"].startswith("wf-"), st)
            check(st["requests"] == 1, st)
            check(st["cost_pico"] == bill[0]["cost_pico_usd"] and st["cost_pico"] > 0,
                  f"status {st['cost_pico']} vs bill {bill[0]['cost_pico_usd']}")
            check(j["total"]["cost_pico"] == st["cost_pico"], j["total"])
            p = tf(["metrics"], env=env)
            check("tokenfence_requests_total{" in p.stdout and "} 1\n" in p.stdout, p.stdout)
            p = tf(["kill"], env=env)
            check(p.returncode == 0 and f"scope={st['workflow']}" in p.stdout, p.stdout + p.stderr)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            check(line.startswith("second 402 ") and "budget exceeded" in line.lower(),
                  f"second call after kill: {line!r}")
            check(len(emu.bill()) == 1, "the blocked call reached the emulator")
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        check(proc.returncode == 0, f"run exited {proc.returncode}: {err}")
        check("tokenfence: 1 request, $" in err and "blocked 1" in err, err)
        check(os.listdir(sockdir) == [], f"socket left: {os.listdir(sockdir)}")
    return f"status cost {st['cost_pico']} pico = the emulator's bill; kill blocked the next call (402)"


def t_help():
    p = tf(["--help"])
    check(p.returncode == 0 and "Exit status:" in p.stdout, p.stdout)
    for sub in ["run", "status", "top", "metrics", "kill", "resume", "approvals", "approve",
                "deny", "policy"]:
        p = tf([sub, "--help"])
        check(p.returncode == 0 and p.stdout.startswith("Usage: tokenfence "),
              f"{sub} --help: {p.returncode} {p.stdout[:80]!r}")
        check("Exit status" in p.stdout, f"{sub} --help documents no exit status")
        q = tf(["help", sub])
        check(q.stdout == p.stdout, f"help {sub} differs from {sub} --help")
    p = tf(["bogus"])
    check(p.returncode == 64 and "unknown command: bogus" in p.stderr, p.stderr)
    p = tf([])
    check(p.returncode == 64, "no arguments")
    p = tf(["demo", "--help"])
    check(p.returncode == 0 and "emulator" in p.stdout, p.stdout)
    p = tf(["--version"])
    check(p.returncode == 0 and p.stdout.startswith("tokenfence "), p.stdout)
    return "--help everywhere, 64 on usage errors"


TESTS = {name[2:]: fn for name, fn in globals().items() if name.startswith("t_")}


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenfence", required=True)
    ap.add_argument("--ctlserver", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--asan-runtime", default="")
    ap.add_argument("test", choices=sorted(TESTS))
    A = ap.parse_args()
    A.tokenfence = os.path.abspath(A.tokenfence)
    A.ctlserver = os.path.abspath(A.ctlserver)
    try:
        print("ok:", TESTS[A.test]())
        return 0
    except Fail as e:
        print("FAIL:", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
