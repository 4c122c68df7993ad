"""A local HTTPS server for pass-through tests of real clients.

It counts the exact plaintext bytes it reads and writes on every connection
and records every request (method, path, headers, body sha256 and length), so
a test can compare what a client sent and received with what the shim saw.

HTTP/1.1 with keep-alive, Content-Length or chunked request bodies,
`Expect: 100-continue`; ALPN offers only http/1.1. Routes:
  POST|PUT /echo...                          {"sha256": body sha256, "length": n}
  GET /download/<n>                          n bytes of download_bytes(), streamed
  POST /model/<id>/invoke                    Bedrock InvokeModel-like JSON
  POST /openai/deployments/<d>/chat/completions   Azure OpenAI-like chat completion
Responses are deterministic functions of the request, so two runs of the same
client can be compared byte for byte.

Run standalone: `tlsserver.py CERT KEY` prints the port, serves until SIGTERM.
"""

import hashlib
import json
import random
import signal
import socket
import ssl
import sys
import threading

BLOCK = 1 << 20
_base_block = random.Random(20240601).randbytes(BLOCK)
MAX_HEADER = 64 * 1024
IO_TIMEOUT = 30


def download_chunks(n):
    """Deterministic pseudo-random bytes, in blocks of at most 1 MiB. Each block
    is the base block rotated by a different offset, so reordered or repeated
    blocks change the digest."""
    i = 0
    while n > 0:
        k = (i * 7919) % BLOCK
        block = _base_block[k:] + _base_block[:k]
        take = min(n, BLOCK)
        yield block[:take]
        n -= take
        i += 1


def download_sha256(n):
    h = hashlib.sha256()
    for c in download_chunks(n):
        h.update(c)
    return h.hexdigest()


class _Conn:
    """One accepted TLS connection: counted reads and writes, request loop."""

    def __init__(self, server, sock, cid):
        self.server = server
        self.sock = sock
        self.rec = {"id": cid, "bytes_in": 0, "bytes_out": 0, "requests": [],
                    "closed": False, "error": None}
        self.buf = b""
        self.eof = False

    # -- counted I/O ---------------------------------------------------------
    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLZeroReturnError, ConnectionResetError):
            data = b""
        if not data:
            self.eof = True
            return False
        with self.server.lock:
            self.rec["bytes_in"] += len(data)
        self.buf += data
        return True

    def _read_until(self, sep, cap):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i + len(sep)], self.buf[i + len(sep):]
                return out
            if len(self.buf) > cap or not self._fill():
                return None

    def _read_exact(self, n, sink):
        while n > 0:
            if not self.buf and not self._fill():
                raise EOFError("body cut short")
            take = self.buf[:n]
            self.buf = self.buf[len(take):]
            sink(take)
            n -= len(take)

    def _send(self, data):
        self.sock.sendall(data)
        with self.server.lock:
            self.rec["bytes_out"] += len(data)

    # -- HTTP ----------------------------------------------------------------
    def run(self):
        try:
            while self._one_request():
                pass
        except (OSError, EOFError, ValueError, ssl.SSLError) as e:
            self.rec["error"] = repr(e)
        finally:
            # Drain what the client still sends (e.g. close_notify) so the
            # byte count is final, then close.
            try:
                while self._fill():
                    pass
            except (OSError, ssl.SSLError):
                pass
            try:
                self.sock.close()
            except OSError:
                pass
            with self.server.lock:
                self.rec["closed"] = True

    def _one_request(self):
        head = self._read_until(b"\r\n\r\n", MAX_HEADER)
        if head is None:
            if self.buf:
                raise ValueError("incomplete request head")
            return False
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        h = {k.lower(): v for k, v in headers}

        if h.get("expect", "").lower() == "100-continue":
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")

        digest = hashlib.sha256()
        length = [0]
        body_keep = []

        def sink(b):
            digest.update(b)
            length[0] += len(b)
            if length[0] <= 1 << 20:
                body_keep.append(b)

        if "chunked" in h.get("transfer-encoding", "").lower():
            while True:
                size_line = self._read_until(b"\r\n", 1024)
                if size_line is None:
                    raise EOFError("chunk size cut short")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", MAX_HEADER) not in (b"\r\n", None):
                        pass
                    break
                self._read_exact(size, sink)
                if self._read_until(b"\r\n", 2) != b"\r\n":
                    raise ValueError("bad chunk end")
        else:
            self._read_exact(int(h.get("content-length", "0")), sink)

        req = {"method": method, "path": path, "headers": headers,
               "body_sha256": digest.hexdigest(), "body_len": length[0]}
        with self.server.lock:
            self.rec["requests"].append(req)

        close = (version == "HTTP/1.0" or h.get("connection", "").lower() == "close")
        small_body = b"".join(body_keep) if length[0] <= 1 << 20 else None
        self._respond(method, path, req, small_body, close)
        if close:
            # Close our direction as a server does after "Connection: close"
            # (plain TCP FIN: SSLSocket.shutdown would drop the TLS state we
            # still need to count the client's last plaintext bytes).
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
        return not close

    def _respond(self, method, path, req, body, close):
        status, ctype, extra, payload, stream_n = _route(method, path, req, body)
        head = ["HTTP/1.1 %s" % status, "Content-Type: " + ctype,
                "Content-Length: %d" % (stream_n if payload is None else len(payload))]
        head += ["%s: %s" % kv for kv in extra]
        if close:
            head.append("Connection: close")
        self._send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if payload is None:
            for chunk in download_chunks(stream_n):
                self._send(chunk)
        elif method != "HEAD":
            self._send(payload)


def _json(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _route(method, path, req, body):
    """-> (status, content type, extra headers, payload or None, stream length)"""
    sha = req["body_sha256"]
    route = path.split("?", 1)[0]
    parts = route.strip("/").split("/")
    if route.startswith("/echo") and method in ("POST", "PUT"):
        return "200 OK", "application/json", [], _json({"sha256": sha, "length": req["body_len"]}), 0
    if len(parts) == 2 and parts[0] == "download" and method == "GET" and parts[1].isdigit():
        return "200 OK", "application/octet-stream", [], None, int(parts[1])
    if len(parts) == 3 and parts[0] == "model" and parts[2] == "invoke" and method == "POST":
        out = {"id": "msg_" + sha[:24], "type": "message", "role": "assistant",
               "model": parts[1],
               "content": [{"type": "text", "text": "request body sha256 " + sha}],
               "stop_reason": "end_turn", "stop_sequence": None,
               "usage": {"input_tokens": max(1, req["body_len"] // 4), "output_tokens": 12}}
        extra = [("x-amzn-RequestId", "%s-%s-%s-%s-%s" % (sha[0:8], sha[8:12], sha[12:16],
                                                          sha[16:20], sha[20:32])),
                 ("X-Amzn-Bedrock-Invocation-Latency", "42"),
                 ("X-Amzn-Bedrock-Input-Token-Count", str(out["usage"]["input_tokens"])),
                 ("X-Amzn-Bedrock-Output-Token-Count", "12")]
        return "200 OK", "application/json", extra, _json(out), 0
    if (len(parts) == 5 and parts[:2] == ["openai", "deployments"] and
            parts[3:] == ["chat", "completions"] and method == "POST"):
        model = "gpt-4o-mini"
        try:
            model = json.loads(body).get("model") or model
        except (TypeError, ValueError, AttributeError):
            pass
        prompt = max(1, req["body_len"] // 4)
        out = {"id": "chatcmpl-" + sha[:24], "object": "chat.completion", "created": 1700000000,
               "model": model, "system_fingerprint": "fp_tokenfence",
               "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                            "message": {"role": "assistant", "content": "sha256 " + sha,
                                        "refusal": None}}],
               "usage": {"prompt_tokens": prompt, "completion_tokens": 9,
                         "total_tokens": prompt + 9}}
        extra = [("apim-request-id", sha[:32]), ("x-ms-region", "East US")]
        return "200 OK", "application/json", extra, _json(out), 0
    return "404 Not Found", "application/json", [], _json({"error": "no route " + route}), 0


class TLSServer:
    """Threaded HTTPS server on 127.0.0.1 (random port). Use as a context
    manager or call start()/stop(). `connections()` returns a snapshot."""

    def __init__(self, cert, key, host="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        self.ctx = ctx
        self.lock = threading.Lock()
        self.conns = []
        self.handshake_errors = []
        self.listener = socket.create_server((host, 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self._stopping = False
        self._thread = None
        self._workers = []

    def start(self):
        self._thread = threading.Thread(target=self._accept_loop, name="tls-accept", daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self):
        while not self._stopping:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                break
            if self._stopping:
                raw.close()
                break
            t = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            t.start()
            self._workers.append(t)

    def _serve(self, raw):
        raw.settimeout(IO_TIMEOUT)
        try:
            sock = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            with self.lock:
                self.handshake_errors.append(repr(e))
            raw.close()
            return
        with self.lock:
            c = _Conn(self, sock, len(self.conns))
            self.conns.append(c.rec)
        c.run()

    def connections(self, since=0):
        """Deep-enough copy of the connection records with id >= since."""
        with self.lock:
            return [dict(r, requests=list(r["requests"])) for r in self.conns[since:]]

    def count(self):
        with self.lock:
            return len(self.conns)

    def stop(self):
        self._stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        if self._thread:
            self._thread.join(5)
        for t in self._workers:
            t.join(1)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    if len(argv) != 3:
        print("usage: tlsserver.py CERT KEY", file=sys.stderr)
        return 2
    srv = TLSServer(argv[1], argv[2]).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(srv.port, flush=True)
    done.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
