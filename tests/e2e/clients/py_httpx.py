"""httpx (sync): POST /echo then a streamed GET /download/N on one Client;
print sha256s. Usage: py_httpx.py BASE_URL PAYLOAD_FILE N"""
import hashlib
import sys

import httpx

base, payload, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
with httpx.Client(timeout=60) as c:
    r = c.post(base + "/echo", content=payload, headers={"Content-Type": "application/json"})
    r.raise_for_status()
    print("post", hashlib.sha256(r.content).hexdigest())
    if n:
        h = hashlib.sha256()
        with c.stream("GET", base + "/download/%d" % n) as r:
            r.raise_for_status()
            for chunk in r.iter_bytes():
                h.update(chunk)
        print("get", h.hexdigest())
