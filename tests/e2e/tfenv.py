"""Environment for real-client tests: a throwaway PKI, client trust settings,
and the LD_PRELOAD recipe that puts libtokenfence.so into a child process.

Only the standard library and the openssl CLI are used, so any python3 can
import this (the clients themselves run under /usr/bin/python3).
"""

import json
import os
import shutil
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"
LEAF_NAMES = (
    "localhost",
    "127.0.0.1",
    "bedrock-runtime.us-east-1.amazonaws.com",
    "tokenfence-test.openai.azure.com",
)

# This image presets every one of these to the system bundle; each client
# library reads a different one, so all must point at our bundle.
TRUST_VARS = ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")
# Settings a test must not inherit from whoever runs it.
SCRUB_VARS = (
    "LD_PRELOAD", "LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
    "PYTHONPATH", "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH",
)


def _openssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    """A test CA, a leaf for LEAF_NAMES signed by it, and trust files.

    Attributes: ca (CA cert), cert/key (leaf), bundle (system roots + CA),
    certdir (hashed directory holding the CA, for SSL_CERT_DIR).
    """

    def __init__(self, workdir):
        d = os.path.join(workdir, "pki")
        os.makedirs(d, exist_ok=True)
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        self.cert = os.path.join(d, "leaf.pem")
        self.key = os.path.join(d, "leaf.key")
        self.bundle = os.path.join(d, "bundle.pem")
        self.certdir = os.path.join(d, "certs")
        self._make()

    def _make(self):
        d = self.dir
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[req]\ndistinguished_name=dn\nprompt=no\n"
                    "[dn]\nCN=TokenFence test CA\n"
                    "[v3_ca]\nbasicConstraints=critical,CA:TRUE\n"
                    "keyUsage=critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier=hash\n")
        sans = ",".join(("IP:" if n[0].isdigit() else "DNS:") + n for n in LEAF_NAMES)
        with open(os.path.join(d, "leaf.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n"
                    "subjectAltName=" + sans + "\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(["req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca"] + ec +
                 ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"], d)
        _openssl(["req", "-new"] + ec + ["-keyout", "leaf.key", "-out", "leaf.csr",
                  "-subj", "/CN=localhost"], d)
        _openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem"], d)
        with open(self.bundle, "wb") as out:
            with open(SYSTEM_ROOTS, "rb") as f:
                out.write(f.read())
            with open(self.ca, "rb") as f:
                out.write(b"\n" + f.read())
        os.makedirs(self.certdir, exist_ok=True)
        shutil.copy(self.ca, os.path.join(self.certdir, "tokenfence-test-ca.pem"))
        _openssl(["rehash", self.certdir], d)


def client_env(pki, workdir, base=None):
    """Environment for a client process that trusts the test CA, talks to no
    proxy, and has dummy AWS credentials and the shipped Bedrock models."""
    env = dict(os.environ if base is None else base)
    for k in SCRUB_VARS:
        env.pop(k, None)
    for k in [k for k in env if k.startswith("TOKENFENCE_")]:
        del env[k]
    for k in TRUST_VARS:
        env[k] = pki.bundle
    env["SSL_CERT_DIR"] = pki.certdir
    env["NODE_EXTRA_CA_CERTS"] = pki.ca
    env["AWS_DATA_PATH"] = os.path.join(TOP, "data", "aws-models")
    env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
    env["AWS_SECRET_ACCESS_KEY"] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["HOME"] = workdir
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def _needed(path):
    """DT_NEEDED sonames of an ELF file (readelf from binutils)."""
    out = subprocess.run(["readelf", "-d", path], check=True, timeout=30,
                         capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0]
            for line in out.splitlines() if "(NEEDED)" in line]


def _runtime_path(soname):
    """Full path of a sanitizer runtime as the compiler sees it."""
    try:
        p = subprocess.run(["gcc", "-print-file-name=" + soname], check=True, timeout=30,
                           capture_output=True, text=True).stdout.strip()
        if os.path.isabs(p):
            return p
    except (OSError, subprocess.SubprocessError):
        pass
    return soname


def preload_list(shim):
    """LD_PRELOAD value for the shim: a sanitized build needs the ASan runtime
    first in the initial library list (else the process exits 1); UBSan's
    runtime is then loaded as the shim's own dependency."""
    first = [_runtime_path(n) for n in _needed(shim) if n.startswith("libasan.so")]
    return first + [shim]


def with_shim(env, shim, stats, extra=None):
    """Copy of env that preloads the shim and appends its stats to `stats`."""
    env = dict(env)
    env["LD_PRELOAD"] = " ".join(preload_list(shim))
    # Host programs leak at exit; that is not ours to report.
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env["TOKENFENCE_STATS"] = stats
    if extra:
        env.update(extra)
    return env


STAT_KEYS = ("ssl_write_calls", "ssl_write_bytes", "ssl_read_calls", "ssl_read_bytes",
             "conns_guarded", "conns_unguarded")


def read_stats(path):
    """The JSON lines the shim appended (one per process that exited)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sum_stats(lines):
    total = {k: 0 for k in STAT_KEYS}
    for line in lines:
        for k in STAT_KEYS:
            total[k] += int(line.get(k, 0))
    return total


def python():
    """The Debian interpreter that has boto3, requests, httpx and aiohttp."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
