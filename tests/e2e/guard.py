"""Harness for the accounting and enforcement tests: real clients under the
real shim against the emulator, whose bill is the ground truth.

    with Guard("--pace-ms", "0") as g:
        a = g.agent(g.preload_env())          # tests/e2e/agent.py under LD_PRELOAD
        r = a.ask({"op": "http", ...})
        st = g.status()                        # `tokenfence status --json`
        a.close()
        g.events(), g.bill()

One private directory per test holds the emulator's files, the PKI (the
emulator serves tfenv.Pki's leaf, so the raw TLS servers of the bad-input
tests are trusted by the same bundle), the ledger, the control sockets, the
events file and the shim's log. TOKENFENCE_HOSTS makes the emulator's port a
Bedrock host when reached as 127.0.0.1 and an Azure host as localhost.

Paths come from the environment meson sets (TF_SHIM, TF_TOKENFENCE,
TF_EMULATOR), else build/. Results are TAP (Tap below): every check is a
numbered line, so a failing test says which figure was wrong.
"""

import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import emu as emumod  # noqa: E402
import tfenv  # noqa: E402

TOP = tfenv.TOP
PY = "/usr/bin/python3"
NODE18 = os.path.join(TOP, "tools", "node18")
NODE_DIR = os.path.join(HERE, "node")
AGENT_PY = os.path.join(HERE, "agent.py")
AGENT_JS = os.path.join(NODE_DIR, "agent.js")
PICO = Decimal(10) ** 12
# Decisions of call records whose request never left the process.
STOPPED = ("block", "deny", "approval_denied")  # shim/exchange.c book_blocked


def build_path(env, *rel):
    return os.environ.get(env) or os.path.join(TOP, "build", *rel)


SHIM = build_path("TF_SHIM", "shim", "libtokenfence.so")
TOKENFENCE = build_path("TF_TOKENFENCE", "tools", "tokenfence")
os.environ.setdefault("TF_EMULATOR", build_path("TF_EMULATOR", "tools", "tokenfence-emulator"))


def asan_runtimes():
    """What must precede the shim in LD_PRELOAD (sanitized builds)."""
    return tfenv.preload_list(SHIM)[:-1]


def sanitized():
    return bool(asan_runtimes())


def pico(usd):
    """A JSON number in USD (parsed as Decimal or float) -> exact pico-USD."""
    return int(Decimal(str(usd)) * PICO)


# ---- TAP -----------------------------------------------------------------

class Tap:
    """Numbered checks; the plan goes last. done() exits 0 or 1."""

    def __init__(self):
        self.n = 0
        self.failed = []

    def check(self, cond, desc, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed.append(desc)
            print("not ok %d - %s" % (self.n, desc))
            if detail is not None:
                for line in str(detail).splitlines()[:60]:
                    print("#   " + line)
        sys.stdout.flush()
        return bool(cond)

    def eq(self, got, want, desc):
        return self.check(got == want, "%s (%r)" % (desc, want) if got == want else desc,
                          "got:  %r\nwant: %r" % (got, want))

    def note(self, msg):
        for line in str(msg).splitlines():
            print("# " + line)
        sys.stdout.flush()

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n)
        if self.failed:
            print("# %d of %d checks failed: %s" % (len(self.failed), self.n,
                                                    "; ".join(self.failed)[:2000]))
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)


def main(tap, cases, argv):
    """Runs cases[argv[1]](tap); an exception is a failed check, not a crash."""
    if len(argv) != 2 or argv[1] not in cases:
        print("usage: %s CASE (one of %s)" % (argv[0], ", ".join(cases)), file=sys.stderr)
        sys.exit(64)
    try:
        cases[argv[1]](tap)
    except SystemExit:
        raise
    except BaseException:
        tap.check(False, "%s ran to the end" % argv[1], traceback.format_exc())
    tap.done()


# ---- a long-lived client ------------------------------------------------------

class Agent:
    """A client process speaking newline JSON on stdin/stdout (agent.py,
    node/agent.js), possibly behind `tokenfence run`."""

    def __init__(self, argv, env, cwd=None, stderr_path=None):
        self.argv = argv
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self._err,
                                  start_new_session=True)
        self.rc = None

    @property
    def pid(self):
        return self.p.pid

    def ask(self, msg, timeout=60):
        self.p.stdin.write((json.dumps(msg) + "\n").encode())
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("client gave no answer to %s within %ds; stderr: %s"
                               % (msg.get("op"), timeout, self.stderr()))
        line = self.p.stdout.readline()
        if not line:
            self.p.wait(5)
            raise RuntimeError("client exited (%s) instead of answering %s; stderr: %s"
                               % (self.p.returncode, msg.get("op"), self.stderr()))
        return json.loads(line)

    def close(self, timeout=60):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b'{"op":"exit"}\n')
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        if self._err is not subprocess.DEVNULL:
            self._err.close()
            self._err = subprocess.DEVNULL
        self.rc = self.p.returncode
        return self.rc

    def stderr(self):
        if not self.stderr_path:
            return ""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""


# ---- the environment ---------------------------------------------------------

class Guard:
    def __init__(self, *emu_args, hosts=None):
        self.emu = emumod.Emulator(start=False)
        self.dir = self.emu.dir
        self.pki = tfenv.Pki(self.dir)
        self.emu.args = ["--cert", self.pki.cert, "--key", self.pki.key, "--quiet"] + list(emu_args)
        self.emu.start()
        self.port = self.emu.port
        self.sock_dir = os.path.join(self.dir, "sock")
        self.events_path = os.path.join(self.dir, "events.jsonl")
        self.log_path = os.path.join(self.dir, "shim.log")
        self.ledger = os.path.join(self.dir, "ledger")
        self.hosts = ["127.0.0.1:%d=bedrock" % self.port, "localhost:%d=azure" % self.port]
        self.hosts += list(hosts or [])
        self.servers = []

    # URLs of the emulator as each provider
    @property
    def bedrock_url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def azure_url(self):
        return "https://localhost:%d" % self.port

    def base_env(self, **extra):
        e = self.emu.env()
        for k in tfenv.SCRUB_VARS:
            e.pop(k, None)
        for k in [k for k in e if k.startswith("TOKENFENCE_")]:
            del e[k]
        for k in tfenv.TRUST_VARS:
            e[k] = self.pki.bundle
        e["SSL_CERT_DIR"] = self.pki.certdir
        e["NODE_EXTRA_CA_CERTS"] = self.pki.ca
        e["NODE_PATH"] = os.path.join(NODE_DIR, "node_modules")
        e["HOME"] = self.dir
        e["NO_PROXY"] = e["no_proxy"] = "*"
        e["PYTHONDONTWRITEBYTECODE"] = "1"
        e.update({
            "TOKENFENCE_HOSTS": ",".join(self.hosts),
            "TOKENFENCE_LEDGER": self.ledger,
            "TOKENFENCE_SOCKET_DIR": self.sock_dir,
            "TOKENFENCE_EVENTS": self.events_path,
            "TOKENFENCE_LOG": self.log_path,
        })
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e

    def preload_env(self, **extra):
        """The shim preloaded directly (LD_PRELOAD)."""
        e = self.base_env(**extra)
        e["LD_PRELOAD"] = " ".join(tfenv.preload_list(SHIM))
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "detect_leaks=0")
        e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return e

    def run_env(self, **extra):
        """For `tokenfence run`: it appends the shim to LD_PRELOAD itself."""
        e = self.base_env(**extra)
        if asan_runtimes():
            e["LD_PRELOAD"] = " ".join(asan_runtimes())
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "detect_leaks=0")
        e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return e

    def plain_env(self, **extra):
        """No shim at all (baselines)."""
        return self.base_env(**extra)

    def asan_only_env(self, **extra):
        """Baseline for memory: the sanitizer runtime as under the shim, no shim."""
        e = self.base_env(**extra)
        if asan_runtimes():
            e["LD_PRELOAD"] = " ".join(asan_runtimes())
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "detect_leaks=0")
        return e

    # clients
    def agent(self, env, run_args=None, name="agent"):
        argv = [PY, AGENT_PY]
        if run_args is not None:
            argv = [TOKENFENCE, "run"] + run_args + ["--"] + argv
        return Agent(argv, env, stderr_path=os.path.join(self.dir, name + ".stderr"))

    def node_agent(self, env, run_args=None, name="node"):
        argv = [NODE18, AGENT_JS]
        if run_args is not None:
            argv = [TOKENFENCE, "run"] + run_args + ["--"] + argv
        return Agent(argv, env, cwd=NODE_DIR, stderr_path=os.path.join(self.dir, name + ".stderr"))

    # what TokenFence says
    def cli(self, args, timeout=30, env=None):
        e = env or self.base_env()
        e.pop("LD_PRELOAD", None)
        return subprocess.run([TOKENFENCE] + args, env=e, capture_output=True, text=True,
                              timeout=timeout)

    def status(self):
        """`tokenfence status --json`, parsed; (doc, CompletedProcess)."""
        p = self.cli(["status", "--json"])
        try:
            doc = json.loads(p.stdout, parse_float=Decimal)
        except ValueError:
            doc = None
        return doc, p

    def status_raw(self, pid, timeout=10):
        """The process's own answer on its control socket (bypasses the CLI)."""
        path = os.path.join(self.sock_dir, "%d.sock" % pid)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b'{"cmd":"status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        return data.decode()

    def events(self):
        if not os.path.exists(self.events_path):
            return []
        with open(self.events_path) as f:
            return [json.loads(l, parse_float=Decimal) for l in f if l.strip()]

    def records(self):
        """Every call record, blocked calls included (decision block/deny/...)."""
        return [e for e in self.events() if "tokenfence.event" not in e]

    def calls(self):
        """Call records of calls that were sent (not blocked or denied)."""
        return [e for e in self.records() if e.get("tokenfence.decision") not in STOPPED]

    def notes(self, kind=None):
        return [e for e in self.events() if "tokenfence.event" in e and
                (kind is None or e["tokenfence.event"] == kind)]

    def shim_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def bill(self, at_least=0):
        return self.emu.bill(at_least)

    def billed(self, at_least=0):
        """Bill lines of requests a model ran for (cost > 0)."""
        return [l for l in self.bill(at_least) if l["cost_pico_usd"] > 0]

    def cleanup(self):
        for s in self.servers:
            s.stop()
        self.emu.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


# ---- comparisons ---------------------------------------------------------------

def totals_of_bill(lines):
    t = {"requests": len(lines), "input_tokens": 0, "output_tokens": 0, "cached_tokens": 0,
         "reasoning_tokens": 0, "cost_pico": 0}
    for l in lines:
        t["input_tokens"] += l["input_tokens"]
        t["output_tokens"] += l["output_tokens"]
        t["cached_tokens"] += l["cached_tokens"]
        t["reasoning_tokens"] += l["reasoning_tokens"]
        t["cost_pico"] += l["cost_pico_usd"]
    return t


def norm_model(m):
    """A price key as the bill names it: an inference-profile ARN is keyed by
    its profile id there, while the shim may keep the ARN it was asked for
    (same price, found through the ARN)."""
    if m and m.startswith("arn:") and "/" in m:
        return m.rsplit("/", 1)[1]
    return m


def by_model_of_bill(lines):
    out = {}
    for l in lines:
        t = out.setdefault(l["priced_model"], [])
        t.append(l)
    return {m: totals_of_bill(ls) for m, ls in out.items()}


def tally_view(d):
    """The comparable part of a status tally (totals or a by_model row)."""
    return {"requests": d.get("requests"), "input_tokens": d.get("input_tokens"),
            "output_tokens": d.get("output_tokens"), "cached_tokens": d.get("cached_tokens"),
            "reasoning_tokens": d.get("reasoning_tokens"), "cost_pico": d.get("cost_pico")}


def call_view(e):
    return {"input_tokens": e.get("gen_ai.usage.input_tokens"),
            "output_tokens": e.get("gen_ai.usage.output_tokens"),
            "cached_tokens": e.get("tokenfence.cached_tokens"),
            "reasoning_tokens": e.get("tokenfence.reasoning_tokens"),
            "cost_pico": e.get("tokenfence.cost_pico")}


def bill_view(l):
    return {"input_tokens": l["input_tokens"], "output_tokens": l["output_tokens"],
            "cached_tokens": l["cached_tokens"], "reasoning_tokens": l["reasoning_tokens"],
            "cost_pico": l["cost_pico_usd"]}


SUMMARY_TOTAL = re.compile(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)\s+\$(\d+\.\d+)\s*$", re.M)
SUMMARY_HEAD = re.compile(r"^tokenfence: (\d+) requests?, \$(\d+\.\d+)", re.M)


def parse_summary(text):
    """`tokenfence run`'s summary: {requests, input_tokens, output_tokens,
    cost_micro} from its total row, or None."""
    m = SUMMARY_TOTAL.search(text)
    if not m:
        return None
    return {"requests": int(m.group(1)), "input_tokens": int(m.group(2)),
            "output_tokens": int(m.group(3)),
            "cost_micro": int(Decimal(m.group(4)) * 1000000)}


def micro_round(p):
    """pico -> micro-USD, half up (as tf_money_format rounds)."""
    return (p + 500000) // 1000000


def duplicate_keys(text):
    """Keys that occur twice in one object of a JSON text."""
    dups = []

    def hook(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=hook)
    except ValueError:
        pass
    return dups


STATUS_DUP_BUG = ("BUG (shim): the control socket's status answer has the key \"reserved_usd\" "
                  "twice (shim/totals.c tf_totals_status writes \"reserved_usd\":0, then "
                  "shim/enforce.c tf_enforce_put_status writes it again); the CLI's strict JSON "
                  "parser refuses duplicate keys, so `tokenfence status` calls every live "
                  "process \"unreadable answer\"")


def check_accounting(tap, g, label, billed, status_doc, calls, summary=None, raw=None):
    """Tokens exact and cost to the pico-dollar: the control socket (through
    the CLI, and raw), the events and the run summary against the bill."""
    want = totals_of_bill(billed)
    tap.note("%s: bill: %d billed call(s), %d in, %d out, cost %d pico-USD"
             % (label, want["requests"], want["input_tokens"], want["output_tokens"],
                want["cost_pico"]))
    # events: one call event per billed line, in order, same figures
    tap.eq(len(calls), len(billed), "%s: one call event per billed request" % label)
    tap.eq([call_view(e) for e in calls], [bill_view(l) for l in billed],
           "%s: events: tokens and cost_pico of each call equal the bill" % label)
    tap.eq([norm_model(e.get("tokenfence.price_model")) for e in calls],
           [l["priced_model"] for l in billed],
           "%s: events: each call priced as the bill's priced_model" % label)
    # control socket, through `tokenfence status --json`
    if status_doc is not None:
        doc, p = status_doc
        procs = (doc or {}).get("processes", [])
        bad = [x for x in procs if not x.get("responsive", True)]
        why = ""
        if raw is not None and duplicate_keys(raw):
            why = STATUS_DUP_BUG + "; duplicate keys: %s\n" % duplicate_keys(raw)
        tap.check(doc is not None and procs and not bad,
                  "%s: `tokenfence status --json` reads the live process" % label,
                  "%sexit %s; stdout: %s; stderr: %s" % (why, p.returncode, p.stdout[:1500],
                                                         p.stderr[:500]))
        if doc is not None and procs and not bad:
            tot = doc.get("total", {})
            tap.eq(tally_view(tot), want, "%s: status --json total equals the bill" % label)
            bym = {norm_model(k): tally_view(v) for k, v in tot.get("by_model", {}).items()}
            tap.eq(bym, by_model_of_bill(billed), "%s: status --json by_model equals the bill" % label)
    if raw is not None:
        try:
            doc = json.loads(raw)
            tap.eq(tally_view(doc), want, "%s: control socket status (raw) equals the bill" % label)
        except ValueError as e:
            tap.check(False, "%s: control socket status (raw) is valid JSON" % label,
                      "%s: %s" % (e, raw[:1500]))
    if summary is not None:
        s = parse_summary(summary)
        tap.check(s is not None, "%s: `tokenfence run` printed a summary with a total row" % label,
                  summary[-2000:])
        if s is not None:
            tap.eq(s, {"requests": want["requests"], "input_tokens": want["input_tokens"],
                       "output_tokens": want["output_tokens"],
                       "cost_micro": micro_round(want["cost_pico"])},
                   "%s: run summary total equals the bill (cost to the micro-dollar shown)" % label)
    return want


# ---- a scripted raw TLS server (bad input) ---------------------------------------

class RawServer:
    """Accepts TLS on 127.0.0.1, reads one request (head + Content-Length
    body), then calls respond(conn, request_bytes), which writes whatever it
    likes. The connection is then closed: with close_notify when `clean`,
    else the TCP socket is dropped under the TLS layer."""

    def __init__(self, pki, respond, clean=False):
        self.respond = respond
        self.clean = clean
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki.cert, pki.key)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.sent = []  # (bytes sent, sha256) per connection
        self.requests = []
        self._stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self._stop:
            try:
                raw, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        import hashlib
        try:
            raw.settimeout(30)
            c = self.ctx.wrap_socket(raw, server_side=True)
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, _, body = buf.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            need = int(m.group(1)) if m else 0
            while len(body) < need:
                d = c.recv(65536)
                if not d:
                    break
                body += d
            self.requests.append(head + b"\r\n\r\n" + body)
            h = hashlib.sha256()
            n = [0]

            def send(b):
                c.sendall(b)
                h.update(b)
                n[0] += len(b)

            self.respond(send, head + b"\r\n\r\n" + body)
            self.sent.append((n[0], h.hexdigest()))
            if self.clean:
                try:
                    c.unwrap()
                except (OSError, ssl.SSLError):
                    pass
            raw.close()
        except (OSError, ssl.SSLError):
            try:
                raw.close()
            except OSError:
                pass

    def stop(self):
        self._stop = True
        try:
            self.ls.close()
        except OSError:
            pass


def wait_until(pred, timeout=10, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)
