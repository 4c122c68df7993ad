"""Rewriting real signed requests (shim/rewrite.h) and letting the emulator,
which verifies SigV4 exactly as AWS does, judge the new signature.

Requests are captured as the clients put them on the wire: boto3 (Debian's
botocore) and, when node and the npm package are there, the real
@aws-sdk/client-bedrock-runtime over HTTP/1.1, both talking to a local
plain-HTTP listener that records the raw bytes. Where a client is not
installed (aws-sdk-js, AnthropicBedrock) the request is signed by
botocore.auth.SigV4Auth over the header set that client signs (WIRE.md §2.2).
Each request goes through tests/e2e/rewrite-driver (the module, linked in a
small program) and then to the emulator: the rewritten request must be
accepted and billed as the new model with the clamped output, a tampered or
stale one refused with 403 InvalidSignatureException.

The Host header of a captured request names the listener, not the emulator:
it is signed like every other header, and the emulator (like the signature
itself) only checks that it is what was signed."""

import gzip
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from emu import (AKID, SECRET, BEDROCK_API_KEY, AZURE_KEY, Emulator, Skip,  # noqa: E402
                 cost_pico, input_tokens, output_tokens, run_tests)

TOKEN = "SESSIONTOKEN"
FILE_AKID, FILE_SECRET = "AKIDFILEPROFILE", "file/secret+key"
SONNET = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"

EMU = Emulator("--aws-cred", "%s:%s:%s" % (AKID, SECRET, TOKEN),
               "--aws-cred", "%s:%s" % (FILE_AKID, FILE_SECRET),
               "--deployment", "my-gpt4o=gpt-4o", "--deployment", "my-mini=gpt-4o-mini")
EMU.apply_env()
os.environ["AWS_SESSION_TOKEN"] = TOKEN

import boto3  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.config  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402


def driver_path():
    p = os.environ.get("TF_REWRITE_DRIVER")
    if p:
        return p
    return os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "tests", "rewrite-driver")


DRIVER = driver_path()


# ---- capturing what a client sends ----

def read_message(sock, buf=b""):
    """One HTTP/1.1 message from sock: (head bytes, body bytes, raw bytes,
    rest). Content-Length or chunked framing; without either, no body
    (requests) or up to EOF (responses: pass eof_body=True via head)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed in a head")
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    head, rest = buf[:end], buf[end:]
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            fields[k.strip().lower().decode()] = v.strip().decode()
    if "content-length" in fields:
        n = int(fields["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed in a body")
            rest += chunk
        return head, fields, rest[:n], head + rest[:n], rest[n:]
    if fields.get("transfer-encoding", "").lower().endswith("chunked"):
        body, raw = b"", b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            line_end = rest.index(b"\r\n") + 2
            size = int(rest[:line_end].split(b";")[0], 16)
            while len(rest) < line_end + size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed in a chunk")
                rest += chunk
            body += rest[line_end:line_end + size]
            raw += rest[:line_end + size + 2]
            rest = rest[line_end + size + 2:]
            if size == 0:
                return head, fields, body, head + raw, rest
    return head, fields, b"", head, rest


class Capture:
    """A plain-HTTP listener that records each request's raw bytes and
    answers 200 (Connection: close)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    head, fields, body, raw, _ = read_message(conn)
                except (EOFError, OSError):
                    continue
                self.requests.append(raw)
                stream = b"-stream " in head.split(b"\r\n")[0]
                ctype = b"application/vnd.amazon.eventstream" if stream else b"application/json"
                payload = b"" if stream else b"{}"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype +
                             b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(payload) +
                             payload)

    def close(self):
        self.sock.close()


CFG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def boto_capture(call, session=None, **kw):
    """Runs call(client) against a capture listener; returns the raw request."""
    cap = Capture()
    try:
        s = session or boto3.session.Session()
        rt = s.client("bedrock-runtime", endpoint_url=cap.url, region_name="us-east-1", config=CFG)
        call(rt)
        assert len(cap.requests) == 1, cap.requests
        return cap.requests[0]
    finally:
        cap.close()


def invoke_body(max_tokens=100):
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": "Say hello in five words."}]})


# ---- rewriting and sending ----

def rewrite(raw, *args, env=None, ok=True):
    p = subprocess.run([DRIVER] + list(args), input=raw, capture_output=True, timeout=60,
                       env=env if env is not None else os.environ)
    lines = [l for l in p.stderr.decode("utf-8", "replace").splitlines() if l.startswith("{")]
    info = json.loads(lines[0]) if lines else {}
    if ok:
        assert p.returncode == 0, (p.returncode, p.stderr.decode("utf-8", "replace"))
    return p.returncode, p.stdout, info


def send(raw):
    """Sends raw bytes to the emulator over TLS; (status, fields, body)."""
    ctx = ssl.create_default_context(cafile=EMU.ca)
    with socket.create_connection(("127.0.0.1", EMU.port), timeout=30) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(raw)
            head, fields, body, _, _ = read_message(t)
    status = int(head.split(b" ", 2)[1])
    if fields.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return status, fields, body


def split(raw):
    end = raw.index(b"\r\n\r\n") + 4
    return raw[:end], raw[end:]


def target(raw):
    return raw.split(b"\r\n", 1)[0].split(b" ")[1].decode()


def header(raw, name):
    head, _ = split(raw)
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(name.lower().encode() + b":"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def last_bill(n_before):
    lines = EMU.bill(n_before + 1)
    assert len(lines) == n_before + 1, lines[n_before:]
    return lines[-1]


def bill_len():
    return len(EMU.bill())


def accepted(raw, model, out_tokens=None, stream=False):
    """raw is accepted and billed as model; returns the bill line."""
    n = bill_len()
    status, fields, body = send(raw)
    assert status == 200, (status, fields, body[:300])
    line = last_bill(n)
    _, sent_body = split(raw)
    assert line["model"] == model, line
    assert line["status"] == 200 and line["stream"] is stream, line
    assert line["input_tokens"] == input_tokens(sent_body), line
    if out_tokens is not None:
        assert line["output_tokens"] == out_tokens, line
    assert line["cost_pico_usd"] == cost_pico(line["priced_model"], line["input_tokens"],
                                              line["output_tokens"]), line
    return line


def refused(raw, error="InvalidSignatureException"):
    status, fields, body = send(raw)
    assert status == 403, (status, body[:300])
    assert fields.get("x-amzn-errortype", "").startswith(error), fields


def with_auth_of(raw, other):
    """raw with the Authorization value of other (a stale signature)."""
    return raw.replace(header(raw, "authorization").encode(), header(other, "authorization").encode())


def check_signed_rewrite(orig, new):
    """The rewrite kept what SigV4 binds it to; a changed body byte and the
    old signature are refused. A body change is made with a matching
    X-Amz-Content-SHA256 when the request has one: the signature, not the
    header, must be what catches it."""
    assert header(new, "authorization") != header(orig, "authorization")
    assert header(new, "x-amz-date") == header(orig, "x-amz-date")
    assert header(new, "x-amz-security-token") == header(orig, "x-amz-security-token")
    assert header(new, "host") == header(orig, "host")
    head, body = split(new)
    assert b'"user"' in body, body
    bad = body.replace(b'"user"', b'"usEr"', 1)
    sha = header(new, "x-amz-content-sha256")
    if sha:
        head = head.replace(sha.encode(), hashlib.sha256(bad).hexdigest().encode())
    refused(head + bad)
    refused(with_auth_of(new, orig))


# ---- botocore ----

def test_botocore_invoke_model_downgrade_and_clamp():
    raw = boto_capture(lambda rt: rt.invoke_model(
        modelId=SONNET, body=invoke_body(100), contentType="application/json",
        accept="application/json"))
    assert target(raw) == "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke"
    assert "SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token" in \
        header(raw, "authorization")
    accepted(raw, SONNET, output_tokens(100))

    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "8",
                            "--field", "max_tokens")
    assert info["resigned"] and info["model_in_path"] and info["clamped"], info
    assert target(new) == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
    line = accepted(new, HAIKU, 8)
    assert "haiku" in line["priced_model"], line
    check_signed_rewrite(raw, new)


def test_botocore_converse_clamp_creates_inference_config():
    raw = boto_capture(lambda rt: rt.converse(
        modelId=SONNET, messages=[{"role": "user", "content": [{"text": "Hi there."}]}]))
    assert b"inferenceConfig" not in raw
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "5",
                            "--field", "inferenceConfig.maxTokens")
    _, body = split(new)
    assert json.loads(body)["inferenceConfig"] == {"maxTokens": 5}
    accepted(new, HAIKU, 5)
    check_signed_rewrite(raw, new)


def test_botocore_streams():
    for op, call in (
            ("converse-stream", lambda rt: rt.converse_stream(
                modelId=SONNET, messages=[{"role": "user", "content": [{"text": "Stream."}]}],
                inferenceConfig={"maxTokens": 300})),
            ("invoke-with-response-stream", lambda rt: rt.invoke_model_with_response_stream(
                modelId=SONNET, body=invoke_body(300), contentType="application/json"))):
        raw = boto_capture(call)
        assert target(raw).endswith("/" + op), target(raw)
        field = "inferenceConfig.maxTokens" if op == "converse-stream" else "max_tokens"
        rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "7",
                                "--field", field)
        assert target(new) == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/" + op
        accepted(new, HAIKU, 7, stream=True)
        check_signed_rewrite(raw, new)


def test_botocore_arn_with_slash():
    raw = boto_capture(lambda rt: rt.invoke_model(
        modelId=PROFILE_ARN + SONNET, body=invoke_body(100), contentType="application/json"))
    assert "%3Ainference-profile%2Fus.anthropic" in target(raw), target(raw)
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", PROFILE_ARN + HAIKU,
                            "--max-out", "6", "--field", "max_tokens")
    assert target(new) == ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                           "inference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke")
    line = accepted(new, PROFILE_ARN + HAIKU, 6)
    assert "haiku" in line["priced_model"], line
    check_signed_rewrite(raw, new)


def test_credentials_from_the_shared_file_profile():
    d = tempfile.mkdtemp(prefix="tf-creds-")
    try:
        path = os.path.join(d, "credentials")
        with open(path, "w") as f:
            f.write("[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = x\n\n"
                    "[tf-test]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_AKID, FILE_SECRET))
        env = dict(os.environ)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(k, None)
        env.update({"AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "tf-test"})
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            raw = boto_capture(lambda rt: rt.invoke_model(
                modelId=SONNET, body=invoke_body(100), contentType="application/json"))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert "Credential=%s/" % FILE_AKID in header(raw, "authorization")
        assert header(raw, "x-amz-security-token") is None
        rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "4",
                                "--field", "max_tokens", env=env)
        accepted(new, HAIKU, 4)
        check_signed_rewrite(raw, new)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_refused_without_the_signing_key():
    raw = boto_capture(lambda rt: rt.invoke_model(
        modelId=SONNET, body=invoke_body(100), contentType="application/json"))
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": "AKIDSOMEONEELSE", "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, env=env, ok=False)
    assert rc == 3 and info["error"] == "no-credentials" and new == b"", (rc, info)
    # Another session token for the same key id is refused too.
    env.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_SESSION_TOKEN": "OTHERTOKEN"})
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, env=env, ok=False)
    assert rc == 3 and info["error"] == "no-credentials", (rc, info)
    # Nothing to change: no signature to redo, no credentials needed.
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--max-out", "1000",
                            "--field", "max_tokens", env=env)
    assert new == raw and not info["resigned"], info


# ---- aws-sdk-js ----

def node_cmd():
    node = os.environ.get("TF_NODE", "node")
    if not shutil.which(node):
        raise Skip("no node")
    mods = os.path.join(HERE, "node", "node_modules")
    env = dict(os.environ)
    env["NODE_PATH"] = os.pathsep.join([mods] + ([env["NODE_PATH"]] if env.get("NODE_PATH") else []))
    probe = subprocess.run([node, "-e", "require('@aws-sdk/client-bedrock-runtime');"
                            "require('@smithy/node-http-handler')"],
                           cwd=os.path.join(HERE, "node"), env=env, capture_output=True)
    if probe.returncode != 0:
        raise Skip("node cannot load @aws-sdk/client-bedrock-runtime (run tools/setup)")
    return node, env


def test_aws_sdk_js_real_requests():
    node, env = node_cmd()
    cap = Capture()
    try:
        p = subprocess.run([node, os.path.join(HERE, "node", "bedrock-signed.js"), cap.url, SONNET],
                           cwd=os.path.join(HERE, "node"), env=env, capture_output=True, timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        reqs = list(cap.requests)
    finally:
        cap.close()
    assert len(reqs) == 2, reqs
    for raw, field in zip(reqs, ("max_tokens", "inferenceConfig.maxTokens")):
        auth = header(raw, "authorization")
        assert "content-length" in auth and "x-amz-content-sha256" in auth, auth
        assert "%3A0/" in target(raw), target(raw)
        rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "9",
                                "--field", field)
        _, body = split(new)
        assert header(new, "x-amz-content-sha256") == hashlib.sha256(body).hexdigest()
        assert header(new, "content-length") == str(len(body))
        accepted(new, HAIKU, 9)
        check_signed_rewrite(raw, new)


def sigv4_wire(path, headers, body, keep_order=True):
    """Signs with botocore's SigV4Auth over every header given (as the JS
    SDK and AnthropicBedrock do) and returns wire bytes, headers in the
    given order, Host first, Authorization last."""
    host = "localhost:%d" % EMU.port
    req = AWSRequest(method="POST", url="https://%s%s" % (host, path), data=body)
    for k, v in headers:
        req.headers[k] = v
    botocore.auth.SigV4Auth(Credentials(AKID, SECRET, TOKEN), "bedrock", "us-east-1").add_auth(req)
    lines = ["POST %s HTTP/1.1" % path, "host: %s" % host]
    lines += ["%s: %s" % (k, v) for k, v in req.headers.items() if k.lower() != "authorization"]
    lines.append("authorization: %s" % req.headers["Authorization"])
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_aws_sdk_js_shaped_signature():
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]},
                      separators=(",", ":")).encode()
    hs = [("content-type", "application/json"), ("accept", "application/json"),
          ("content-length", str(len(body))), ("x-amz-user-agent", "aws-sdk-js/3.1163.0"),
          ("amz-sdk-invocation-id", "fbcd9360-0000-4000-8000-000000000000"),
          ("amz-sdk-request", "attempt=1; max=3"),
          ("x-amz-content-sha256", hashlib.sha256(body).hexdigest())]
    raw = sigv4_wire("/model/" + PROFILE_ARN.replace(":", "%3A").replace("/", "%2F") +
                     SONNET.replace(":", "%3A") + "/invoke", hs, body)
    accepted(raw, PROFILE_ARN + SONNET)
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", PROFILE_ARN + HAIKU,
                            "--max-out", "3", "--field", "max_tokens")
    accepted(new, PROFILE_ARN + HAIKU, 3)
    check_signed_rewrite(raw, new)


def test_anthropic_sdk_shaped_raw_colon():
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    hs = [("accept", "application/json"), ("accept-encoding", "gzip, deflate"),
          ("content-length", str(len(body))), ("content-type", "application/json"),
          ("x-stainless-lang", "python"), ("x-stainless-retry-count", "0")]
    raw = sigv4_wire("/model/" + SONNET + "/invoke", hs, body)
    assert "accept-encoding" in header(raw, "authorization")
    accepted(raw, SONNET)
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "2",
                            "--field", "max_tokens")
    assert target(new) == "/model/" + HAIKU + "/invoke"
    accepted(new, HAIKU, 2)
    check_signed_rewrite(raw, new)


def test_bedrock_bearer_needs_no_signature():
    body = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 50}}'
    raw = ("POST /model/%s/converse HTTP/1.1\r\nHost: localhost:%d\r\nAccept-Encoding: identity\r\n"
           "Content-Type: application/json\r\nAuthorization: Bearer %s\r\n"
           "amz-sdk-request: attempt=1\r\nContent-Length: %d\r\n\r\n"
           % (SONNET.replace(":", "%3A"), EMU.port, BEDROCK_API_KEY, len(body))).encode() + body
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    rc, new, info = rewrite(raw, "--provider", "bedrock", "--model", HAIKU, "--max-out", "3",
                            "--field", "inferenceConfig.maxTokens", env=env)
    assert not info["resigned"] and header(new, "authorization") == "Bearer " + BEDROCK_API_KEY
    accepted(new, HAIKU, 3)


# ---- Azure ----

def azure_request(path, body, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: localhost:%d\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
            "Connection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\n"
            "User-Agent: AzureOpenAI/Python 1.109.1\r\napi-key: %s\r\n%sContent-Length: %d\r\n\r\n"
            % (path, EMU.port, AZURE_KEY, extra, len(body))).encode() + body


def usage_chunks(sse):
    out = []
    for line in sse.decode().split("\n"):
        if line.startswith("data: {"):
            j = json.loads(line[6:])
            if j.get("usage"):
                out.append(j["usage"])
    return out


def test_azure_stream_gets_include_usage_and_narrowed_encoding():
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "model": "my-gpt4o",
                       "stream": True, "max_tokens": 50}).encode()
    path = "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    raw = azure_request(path, body)
    status, _, sse = send(raw)
    assert status == 200 and usage_chunks(sse) == [], sse[-300:]

    rc, new, info = rewrite(raw, "--provider", "azure", "--model", "my-mini", "--max-out", "4",
                            "--field", "max_tokens", "--include-usage", "--narrow-ae")
    assert info["usage_added"] and info["accept_narrowed"] and info["model_in_path"], info
    assert header(new, "accept-encoding") == "gzip, deflate"
    assert target(new) == "/openai/deployments/my-mini/chat/completions?api-version=2024-10-21"
    n = bill_len()
    status, fields, sse = send(new)
    assert status == 200 and "br" not in fields.get("content-encoding", ""), fields
    line = last_bill(n)
    assert line["model"] == "my-mini" and line["priced_model"] == "gpt-4o-mini", line
    u = usage_chunks(sse)
    assert len(u) == 1 and u[0]["completion_tokens"] == 4, u
    assert u[0]["prompt_tokens"] == line["input_tokens"], (u, line)


def test_azure_chunked_with_expect():
    body = b'{"messages":[{"role":"user","content":"hello"}],"max_tokens":40}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = ("POST /openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n"
           "Host: localhost:%d\r\nUser-Agent: curl/7.88.1\r\nTransfer-Encoding: chunked\r\n"
           "Expect: 100-continue\r\napi-key: %s\r\nContent-Type: application/json\r\n\r\n"
           % (EMU.port, AZURE_KEY)).encode() + chunked
    rc, new, info = rewrite(raw, "--provider", "azure", "--model", "my-mini", "--max-out", "3",
                            "--field", "max_completion_tokens", "--field", "max_tokens")
    assert info["dechunked"] and info["expect_removed"], info
    assert header(new, "transfer-encoding") is None and header(new, "expect") is None
    accepted(new, "my-mini", 3)


if __name__ == "__main__":
    if not os.access(DRIVER, os.X_OK):
        print("1..0 # SKIP rewrite-driver not built: %s" % DRIVER)
        sys.exit(77)
    try:
        run_tests(dict(globals()))
    finally:
        EMU.cleanup()
