"""CPython urllib: POST the payload to /echo, GET /download/N; print sha256s.
Usage: py_urllib.py BASE_URL PAYLOAD_FILE DOWNLOAD_BYTES"""
import hashlib
import sys
import urllib.request

base, payload, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
req = urllib.request.Request(base + "/echo", data=payload, method="POST",
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=60) as r:
    print("post", hashlib.sha256(r.read()).hexdigest())
if n:
    h = hashlib.sha256()
    with urllib.request.urlopen(base + "/download/%d" % n, timeout=60) as r:
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            h.update(chunk)
    print("get", h.hexdigest())
