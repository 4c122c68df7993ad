"""requests: POST /echo then a streamed GET /download/N in one Session;
print sha256s. Usage: py_requests.py BASE_URL PAYLOAD_FILE N"""
import hashlib
import sys

import requests

base, payload, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
with requests.Session() as s:
    r = s.post(base + "/echo", data=payload, headers={"Content-Type": "application/json"},
               timeout=60)
    r.raise_for_status()
    print("post", hashlib.sha256(r.content).hexdigest())
    if n:
        h = hashlib.sha256()
        with s.get(base + "/download/%d" % n, stream=True, timeout=60) as r:
            r.raise_for_status()
            for chunk in r.iter_content(1 << 16):
                h.update(chunk)
        print("get", h.hexdigest())
