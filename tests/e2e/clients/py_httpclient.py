"""CPython http.client: POST /echo then GET /download/N on one keep-alive
connection; print sha256s. Usage: py_httpclient.py BASE_URL PAYLOAD_FILE N"""
import hashlib
import http.client
import ssl
import sys
import urllib.parse

base, payload, n = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
u = urllib.parse.urlsplit(base)
conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60,
                                   context=ssl.create_default_context())
conn.request("POST", "/echo", body=payload, headers={"Content-Type": "application/json"})
r = conn.getresponse()
print("post", hashlib.sha256(r.read()).hexdigest())
if n:
    conn.request("GET", "/download/%d" % n)
    r = conn.getresponse()
    h = hashlib.sha256()
    while True:
        chunk = r.read(1 << 16)
        if not chunk:
            break
        h.update(chunk)
    print("get", h.hexdigest())
conn.close()
