"""Bad input over raw TLS sockets: garbage, truncated bodies, 10,000 headers,
huge bodies, slowloris heads and bodies, non-TLS bytes. Each gets the error
a cloud would give (or a close), lands in the bill, and the emulator keeps
serving: a normal request succeeds after every one of them."""

import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emu import AZURE_KEY, Emulator, run_tests  # noqa: E402

EMU = Emulator("--header-timeout-ms", "1500", "--body-timeout-ms", "1500",
               "--max-body", "1000000", "--idle-timeout-ms", "5000")
CTX = ssl.create_default_context(cafile=EMU.ca)

GOOD_BODY = b'{"messages":[{"role":"user","content":"ok?"}],"max_tokens":3}'
GOOD = (b"POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n"
        b"Host: localhost\r\napi-key: " + AZURE_KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(GOOD_BODY)).encode() +
        b"\r\n\r\n" + GOOD_BODY)


def connect():
    raw = socket.create_connection(("127.0.0.1", EMU.port), timeout=10)
    return CTX.wrap_socket(raw, server_hostname="localhost")


def read_response(s, timeout=10):
    """Reads until the peer closes or one Content-Length response is whole."""
    s.settimeout(timeout)
    buf = b""
    while True:
        try:
            d = s.recv(65536)
        except (ssl.SSLError, ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        buf += d
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:") and len(body) >= int(line.split(b":")[1]):
                    return buf
    return buf


def status_of(resp):
    assert resp.startswith(b"HTTP/1.1 "), resp[:200]
    return int(resp.split()[1])


def assert_still_serving():
    assert EMU.alive(), EMU.log()
    s = connect()
    s.sendall(GOOD)
    r = read_response(s)
    s.close()
    assert status_of(r) == 200, r[:300]
    assert json.loads(r.partition(b"\r\n\r\n")[2])["usage"]["completion_tokens"] == 3


def test_garbage_gets_400_and_close():
    s = connect()
    s.sendall(b"\x00\x01\x02garbage that is not HTTP\r\n\r\n")
    r = read_response(s)
    assert status_of(r) == 400, r
    assert b"Connection: close" in r
    line = EMU.bill()[-1]
    assert line["status"] == 400 and line["method"] is None and line["note"] == "malformed request"
    assert_still_serving()


def test_bad_request_line():
    s = connect()
    s.sendall(b"GET /x HTTP/9.9\r\nHost: a\r\n\r\n")
    assert status_of(read_response(s)) == 400
    assert_still_serving()


def test_truncated_body_then_close():
    before = len(EMU.bill())
    s = connect()
    s.sendall(GOOD.replace(b"Content-Length: " + str(len(GOOD_BODY)).encode(), b"Content-Length: 500"))
    time.sleep(0.2)
    s.close()
    lines = EMU.bill(before + 1)
    assert len(lines) == before + 1
    assert lines[-1]["status"] == 0 and lines[-1]["note"] == "client closed mid-request"
    assert lines[-1]["operation"] == "ChatCompletions" and lines[-1]["cost_pico_usd"] == 0
    assert_still_serving()


def test_ten_thousand_headers_get_431():
    s = connect()
    head = b"GET /foundation-models HTTP/1.1\r\nHost: localhost\r\n"
    head += b"".join(b"X-H-%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    try:
        s.sendall(head)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    r = read_response(s)
    assert status_of(r) == 431, r[:200]
    assert EMU.bill()[-1]["status"] == 431
    assert_still_serving()


def test_huge_header_value_gets_431():
    s = connect()
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    assert status_of(read_response(s)) == 431
    assert_still_serving()


def test_huge_body_gets_413_before_it_is_sent():
    s = connect()
    s.sendall(b"POST /model/amazon.nova-micro-v1%3A0/invoke HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
    r = read_response(s)
    assert status_of(r) == 413, r
    line = EMU.bill()[-1]
    assert line["status"] == 413 and line["operation"] == "InvokeModel"
    assert_still_serving()


def test_huge_chunked_body_gets_413():
    s = connect()
    s.sendall(b"POST /openai/deployments/gpt-4o/chat/completions?api-version=1 HTTP/1.1\r\n"
              b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(40):
            s.sendall(b"10000\r\n" + b"a" * 0x10000 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    assert status_of(read_response(s)) == 413
    assert_still_serving()


def test_slowloris_head_gets_408():
    s = connect()
    t0 = time.monotonic()
    try:
        for b in GOOD[:40]:
            s.sendall(bytes([b]))
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    r = read_response(s)
    assert status_of(r) == 408, r
    assert time.monotonic() - t0 < 6
    assert EMU.bill()[-1]["note"] == "header read timeout"
    assert_still_serving()


def test_slow_body_gets_408():
    s = connect()
    s.sendall(GOOD[:-10])
    r = read_response(s)
    assert status_of(r) == 408, r
    assert EMU.bill()[-1]["note"] == "body read timeout"
    assert_still_serving()


def test_plain_http_on_the_tls_port_is_closed():
    raw = socket.create_connection(("127.0.0.1", EMU.port), timeout=5)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    raw.settimeout(5)
    try:
        data = raw.recv(100)
    except ConnectionResetError:
        data = b""
    raw.close()
    assert not data.startswith(b"HTTP/1.1 200")
    assert_still_serving()


def test_idle_connection_does_not_block_others():
    idle = [socket.create_connection(("127.0.0.1", EMU.port)) for _ in range(5)]
    assert_still_serving()
    for s in idle:
        s.close()


def test_many_connections_at_once():
    errors = []

    def one():
        try:
            assert_still_serving()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=one) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_expect_100_continue():
    s = connect()
    s.sendall(GOOD.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n", 1)[:-len(GOOD_BODY)])
    s.settimeout(5)
    first = s.recv(100)
    assert first.startswith(b"HTTP/1.1 100 Continue"), first
    s.sendall(GOOD_BODY)
    r = read_response(s)
    s.close()
    assert b"HTTP/1.1 200" in r


def test_zz_every_request_billed_and_clean_exit():
    lines = EMU.bill()
    assert [l["n"] for l in sorted(lines, key=lambda l: l["n"])] == list(range(1, len(lines) + 1))
    assert EMU.stop() == 0, EMU.log()


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        EMU.cleanup()
