#!/usr/bin/env python3
"""A long-lived Python LLM client for the accounting and enforcement tests.

Run under the shim (LD_PRELOAD or `tokenfence run`), it reads one JSON command
per line on stdin and answers each with one JSON line on stdout, so the test
can ask `tokenfence status` while the process is alive and then tell it to
exit. Commands ({"op": ...}):

  http   {client: urllib|requests|httpx|httpclient, method, url, headers, body}
         -> {status, headers, body, error}. body is text (latin-1 round trip
         of the bytes the client returned).
  raw    {host, port, sni, request (latin-1), read_timeout}
         -> {received, sha256, head (first 64 KiB, latin-1), eof, error}:
         the exact bytes a CPython ssl socket read until EOF or timeout.
  boto3  {call: invoke_model|converse, model, body|messages|inferenceConfig,
          endpoint, retries (botocore retry config or null = defaults),
          creds ([access key id, secret] given in code, else the environment's)}
         -> {status, body, headers, error {code, message, text, status},
             attempts (HTTP sends botocore made), retry_attempts}
  mem    -> {VmRSS, VmHWM} in kB
  exit   -> exits 0

Only the standard library is imported up front; each client library is
imported on first use. Errors are reported, never raised: the test decides.
"""

import hashlib
import json
import socket
import ssl
import sys
import time

_boto = {}


def _b(s):
    return s.encode("latin-1") if isinstance(s, str) else (s or b"")


def _t(b):
    return b.decode("latin-1")


def http_urllib(m):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(m["url"], data=_b(m.get("body")) or None, method=m["method"],
                                 headers=m.get("headers") or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return {"status": r.status, "headers": dict((k.lower(), v) for k, v in r.headers.items()),
                    "body": _t(r.read())}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "headers": dict((k.lower(), v) for k, v in e.headers.items()),
                "body": _t(e.read())}


def http_requests(m):
    import requests
    s = _boto.setdefault("requests", requests.Session())
    r = s.request(m["method"], m["url"], data=_b(m.get("body")) or None,
                  headers=m.get("headers") or {}, timeout=30)
    return {"status": r.status_code, "headers": dict((k.lower(), v) for k, v in r.headers.items()),
            "body": _t(r.content)}


def http_httpx(m):
    import httpx
    c = _boto.get("httpx")
    if c is None:
        c = _boto["httpx"] = httpx.Client(timeout=30)
    r = c.request(m["method"], m["url"], content=_b(m.get("body")) or None,
                  headers=m.get("headers") or {})
    return {"status": r.status_code, "headers": dict((k.lower(), v) for k, v in r.headers.items()),
            "body": _t(r.content)}


def http_httpclient(m):
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(m["url"])
    ctx = ssl.create_default_context()
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    c.request(m["method"], path, body=_b(m.get("body")) or None, headers=m.get("headers") or {})
    r = c.getresponse()
    body = r.read()
    out = {"status": r.status, "headers": dict((k.lower(), v) for k, v in r.getheaders()),
           "body": _t(body)}
    c.close()
    return out


HTTP = {"urllib": http_urllib, "requests": http_requests, "httpx": http_httpx,
        "httpclient": http_httpclient}


def op_http(m):
    try:
        return HTTP[m["client"]](m)
    except Exception as e:  # the test looks at what the client raised
        return {"error": "%s: %s" % (type(e).__name__, e)}


def op_raw(m):
    """Exactly what the app reads: a CPython ssl socket, read to EOF."""
    ctx = ssl.create_default_context()
    h = hashlib.sha256()
    head = bytearray()
    n, eof, err = 0, False, None
    try:
        s = socket.create_connection((m["host"], m["port"]), timeout=30)
        t = ctx.wrap_socket(s, server_hostname=m.get("sni") or m["host"])
        t.settimeout(m.get("read_timeout", 10))
        t.sendall(_b(m["request"]))
        while True:
            try:
                d = t.recv(65536)
            except ssl.SSLError as e:
                # A peer that drops without close_notify: what the app sees.
                err = "SSLError: %s" % e
                break
            except socket.timeout:
                err = "timeout"
                break
            if not d:
                eof = True
                break
            n += len(d)
            h.update(d)
            if len(head) < 65536:
                head += d[:65536 - len(head)]
        t.close()
    except Exception as e:
        err = "%s: %s" % (type(e).__name__, e)
    return {"received": n, "sha256": h.hexdigest(), "head": _t(bytes(head)), "eof": eof,
            "error": err}


def boto3_client(m):
    key = json.dumps([m.get("endpoint"), m.get("retries"), m.get("creds")], sort_keys=True)
    c = _boto.get(key)
    if c is None:
        import boto3
        import botocore.config
        kw = {}
        if m.get("retries") is not None:
            kw["retries"] = m["retries"]
        creds = {}
        if m.get("creds"):
            creds = {"aws_access_key_id": m["creds"][0], "aws_secret_access_key": m["creds"][1]}
        c = boto3.client("bedrock-runtime", endpoint_url=m.get("endpoint"), region_name="us-east-1",
                         config=botocore.config.Config(**kw), **creds)
        counter = {"sends": 0}

        def count(**_):
            counter["sends"] += 1

        c.meta.events.register("before-send.bedrock-runtime", count)
        c._tf_counter = counter
        _boto[key] = c
    return c


def op_boto3(m):
    from botocore.exceptions import ClientError
    c = boto3_client(m)
    c._tf_counter["sends"] = 0
    out = {}
    try:
        if m["call"] == "invoke_model":
            r = c.invoke_model(modelId=m["model"], body=_b(m["body"]),
                               contentType="application/json", accept="application/json")
            out["body"] = _t(r["body"].read())
        else:
            kw = {"modelId": m["model"], "messages": m["messages"]}
            if m.get("inferenceConfig"):
                kw["inferenceConfig"] = m["inferenceConfig"]
            r = c.converse(**kw)
            out["body"] = json.dumps({k: v for k, v in r.items() if k != "ResponseMetadata"})
        md = r["ResponseMetadata"]
        out.update(status=md["HTTPStatusCode"], headers=md.get("HTTPHeaders", {}),
                   retry_attempts=md.get("RetryAttempts"))
    except ClientError as e:
        md = e.response.get("ResponseMetadata", {})
        out["error"] = {"class": type(e).__name__, "code": e.response.get("Error", {}).get("Code"),
                        "message": e.response.get("Error", {}).get("Message"), "text": str(e),
                        "status": md.get("HTTPStatusCode")}
        out["retry_attempts"] = md.get("RetryAttempts")
        out["status"] = md.get("HTTPStatusCode")
    except Exception as e:
        out["error"] = {"class": type(e).__name__, "text": str(e)}
    out["attempts"] = c._tf_counter["sends"]
    return out


def op_mem(m):
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


OPS = {"http": op_http, "raw": op_raw, "boto3": op_boto3, "mem": op_mem}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        m = json.loads(line)
        if m["op"] == "exit":
            break
        t0 = time.monotonic()
        out = OPS[m["op"]](m)
        out["seconds"] = round(time.monotonic() - t0, 3)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
