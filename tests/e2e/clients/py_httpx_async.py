"""httpx (asyncio, memory BIO): POST /echo then a streamed GET /download/N on
one AsyncClient; print sha256s. Usage: py_httpx_async.py BASE_URL PAYLOAD_FILE N"""
import asyncio
import hashlib
import sys

import httpx


async def main(base, payload, n):
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(base + "/echo", content=payload,
                         headers={"Content-Type": "application/json"})
        r.raise_for_status()
        print("post", hashlib.sha256(r.content).hexdigest())
        if n:
            h = hashlib.sha256()
            async with c.stream("GET", base + "/download/%d" % n) as r:
                r.raise_for_status()
                async for chunk in r.aiter_bytes():
                    h.update(chunk)
            print("get", h.hexdigest())


asyncio.run(main(sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])))
