#!/usr/bin/env python3
"""Concurrent Azure chat calls from several processes and threads, for the
enforcement test's shared budget (tests/e2e/test_enforcement.py).

    conc.py launch PROCS THREADS PER_THREAD URL BODY_FILE
        forks PROCS worker processes, releases them all at once, prints one
        JSON line: every worker's statuses.

Each worker opens one keep-alive CPython http.client connection per thread,
waits for the go signal, then every thread sends PER_THREAD requests in a
row. Under `tokenfence run` the workers are processes of the run's tree
(the shim's fork handlers give each its own state), so they share one
budget. The API key comes from TF_AZURE_KEY.
"""

import http.client
import json
import os
import ssl
import sys
import threading
import urllib.parse


def worker(ctx, threads, per_thread, url, body, ready_fd, go_fd, out_fd):
    """One process: `threads` keep-alive connections, then on the go signal
    every thread sends its requests; the results go to out_fd as JSON."""
    u = urllib.parse.urlsplit(url)
    hdrs = {"api-key": os.environ["TF_AZURE_KEY"], "Content-Type": "application/json"}
    path = u.path + "?" + u.query
    conns = [http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
             for _ in range(threads)]
    for c in conns:
        c.connect()
    results = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(i):
        start.wait()
        for _ in range(per_thread):
            try:
                conns[i].request("POST", path, body=body, headers=hdrs)
                r = conns[i].getresponse()
                data = r.read()
                results[i].append([r.status, data[:300].decode("utf-8", "replace")
                                   if r.status != 200 else ""])
            except Exception as e:
                results[i].append([0, "%s: %s" % (type(e).__name__, e)])

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    os.write(ready_fd, b"r")
    os.read(go_fd, 1)
    start.wait()
    for t in ts:
        t.join()
    data = json.dumps(results).encode()
    while data:
        data = data[os.write(out_fd, data):]


def launch(procs, threads, per_thread, url, body_file):
    """Forks the workers (the imports and the shim are loaded once, which
    keeps a run lean), releases them together, prints their results."""
    with open(body_file, "rb") as f:
        body = f.read()
    # Only the test CA (NODE_EXTRA_CA_CERTS, set by the harness): loading the
    # system roots costs more than the calls themselves.
    ctx = ssl.create_default_context(cafile=os.environ.get("NODE_EXTRA_CA_CERTS"))
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    kids = []
    for _ in range(procs):
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            rc = 0
            try:
                os.close(out_r)
                worker(ctx, threads, per_thread, url, body, ready_w, go_r, out_w)
            except BaseException:
                rc = 1
            os._exit(rc)
        os.close(out_w)
        kids.append((pid, out_r))
    for _ in range(procs):
        if os.read(ready_r, 1) != b"r":
            raise SystemExit("a worker did not start")
    os.write(go_w, b"g" * procs)
    out = []
    for pid, fd in kids:
        chunks = []
        while True:
            d = os.read(fd, 65536)
            if not d:
                break
            chunks.append(d)
        _, st = os.waitpid(pid, 0)
        data = b"".join(chunks)
        out.append({"pid": pid, "rc": os.waitstatus_to_exitcode(st),
                    "results": json.loads(data) if data else None})
    print(json.dumps(out))


if __name__ == "__main__":
    a = sys.argv
    launch(int(a[2]), int(a[3]), int(a[4]), a[5], a[6])
