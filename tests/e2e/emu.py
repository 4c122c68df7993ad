"""Run tokenfence-emulator for end-to-end tests, and know its truth in advance.

Usage:

    from emu import Emulator, run_tests
    with Emulator("--reply-tokens", "20") as emu:
        env = emu.env()            # trust + endpoints for child processes
        ...                        # call https://localhost:{emu.port}
        lines = emu.bill()         # the emulator's bill, one dict per request

The emulator runs on port 0 in a private temp dir (CA, bill, port file).
env() returns a copy of os.environ where every trust variable this image
presets (SSL_CERT_FILE, SSL_CERT_DIR, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE,
AWS_CA_BUNDLE, NODE_EXTRA_CA_CERTS) points at system roots + the test CA,
AWS_DATA_PATH gives Debian's old botocore the Bedrock models, and AWS
credentials are the emulator's test ones. apply_env() does the same to this
process (boto3 and requests read the environment when a client is made).

The usage formula mirrors tools/emulator/usage.h; prices come from the
table the emulator bills with, policy/prices.json.
"""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AZURE_KEY = "test-azure-key"
BEDROCK_API_KEY = "test-bedrock-api-key"
REPLY_TOKENS = 20


def emulator_path():
    """The built emulator: $TF_EMULATOR (meson sets it), else build/tools/."""
    p = os.environ.get("TF_EMULATOR")
    if p:
        return p
    return os.path.join(REPO, "build", "tools", "tokenfence-emulator")


def aws_data_path():
    """Botocore models for Bedrock: the repo's shipped copy, else ../shared."""
    shipped = os.path.join(REPO, "data", "aws-models")
    if os.path.isdir(shipped):
        return shipped
    return os.path.normpath(os.path.join(REPO, "..", "shared", "reference", "aws-models"))


# ---- the truth, computed in advance (tools/emulator/usage.h) ----

def text_bytes(v):
    """UTF-8 bytes of every JSON string value (keys excluded)."""
    if isinstance(v, str):
        return len(v.encode("utf-8"))
    if isinstance(v, dict):
        return sum(text_bytes(x) for x in v.values())
    if isinstance(v, list):
        return sum(text_bytes(x) for x in v)
    return 0


def input_tokens(body):
    """Input tokens the emulator reports for a request body (bytes or str)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not body:
        return 0
    t = text_bytes(json.loads(body))
    if t == 0:
        return 1
    return (t + 3) // 4


def output_tokens(max_asked=None, reply=REPLY_TOKENS):
    if max_asked is None:
        return reply
    return max(0, min(max_asked, reply))


def cached_tokens(inp):
    return 0 if inp < 1024 else inp // 2 // 128 * 128


def reasoning_tokens(out):
    return (out + 1) // 2


def _load_prices():
    """policy/prices.json: the shipped table the emulator bills with, read
    with exact decimals."""
    with open(os.path.join(REPO, "policy", "prices.json")) as f:
        return json.load(f, parse_float=Decimal, parse_int=Decimal)["models"]


PRICES = _load_prices()


def cost_pico(model, inp, out, cached=0, reasoning=0):
    """Exact cost in pico-USD of a call priced as model (a table key).
    Azure-style usage: cached inside inp, reasoning inside out."""
    e = PRICES[model]
    pin, pout = e["input"], e["output"]
    pcache = e.get("cache_read", pin)
    usd = ((inp - cached) * pin + cached * pcache + out * pout) / Decimal(1000000)
    return int(usd * Decimal(10) ** 12)


# ---- the emulator process ----

class Emulator:
    def __init__(self, *args, start=True):
        self.args = list(args)
        self.proc = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="tf-emu-")
        self.ca = os.path.join(self.dir, "ca.pem")
        self.bundle = os.path.join(self.dir, "bundle.pem")
        self.certdir = os.path.join(self.dir, "certs")
        self.bill_path = os.path.join(self.dir, "bill.jsonl")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "emulator.log")
        if start:
            self.start()

    @property
    def url(self):
        return "https://localhost:%d" % self.port

    def start(self, timeout=20):
        exe = emulator_path()
        if not os.access(exe, os.X_OK):
            raise RuntimeError("emulator not built: %s" % exe)
        cmd = [exe, "--port", "0", "--port-file", self.port_file, "--ca-out", self.ca,
               "--bill", self.bill_path] + self.args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited (%d): %s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator did not start: %s" % self.log())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        with open(self.ca) as f:
            ca = f.read()
        with open(SYSTEM_ROOTS) as f:
            roots = f.read()
        with open(self.bundle, "w") as f:
            f.write(roots.rstrip("\n") + "\n" + ca)
        os.makedirs(self.certdir, exist_ok=True)
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", self.ca],
                           capture_output=True, text=True, check=True).stdout.strip()
        shutil.copy(self.ca, os.path.join(self.certdir, h + ".0"))
        return self

    def env(self, base=None, aws_secret=SECRET):
        e = dict(os.environ if base is None else base)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                  "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL"):
            e.pop(k, None)
        e.update({
            "SSL_CERT_FILE": self.bundle,
            "SSL_CERT_DIR": self.certdir,
            "CURL_CA_BUNDLE": self.bundle,
            "REQUESTS_CA_BUNDLE": self.bundle,
            "AWS_CA_BUNDLE": self.bundle,
            "NODE_EXTRA_CA_CERTS": self.ca,
            "AWS_DATA_PATH": aws_data_path(),
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": aws_secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "TF_EMULATOR_URL": self.url,
            "TF_EMULATOR_PORT": str(self.port),
            "TF_AZURE_KEY": AZURE_KEY,
        })
        return e

    def apply_env(self):
        """Makes this process trust the emulator (boto3, requests, ssl)."""
        env = self.env()
        os.environ.clear()
        os.environ.update(env)

    def bill(self, at_least=0, timeout=5.0):
        """The bill as dicts; waits until it has at_least lines."""
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            if os.path.exists(self.bill_path):
                with open(self.bill_path) as f:
                    lines = [json.loads(l) for l in f if l.strip()]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


# ---- a tiny TAP runner (no pytest on this image) ----

def run_tests(namespace, prefix="test_"):
    """Runs every function named test_* in namespace (definition order) as
    a TAP subtest; exits 0 when all pass, 1 otherwise. A test may raise
    Skip to be reported as skipped."""
    tests = [(n, f) for n, f in namespace.items() if n.startswith(prefix) and callable(f)]
    print("1..%d" % len(tests))
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        try:
            fn()
            print("ok %d - %s" % (i, name))
        except Skip as s:
            print("ok %d - %s # SKIP %s" % (i, name, s))
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for line in traceback.format_exc().splitlines():
                print("# " + line)
        sys.stdout.flush()
    sys.exit(1 if failed else 0)


class Skip(Exception):
    pass
