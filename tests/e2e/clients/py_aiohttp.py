"""aiohttp (asyncio, memory BIO): POST /echo then GET /download/N in one
ClientSession; print sha256s. Usage: py_aiohttp.py BASE_URL PAYLOAD_FILE N"""
import asyncio
import hashlib
import sys

import aiohttp


async def main(base, payload, n):
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.post(base + "/echo", data=payload,
                          headers={"Content-Type": "application/json"}) as r:
            r.raise_for_status()
            print("post", hashlib.sha256(await r.read()).hexdigest())
        if n:
            h = hashlib.sha256()
            async with s.get(base + "/download/%d" % n) as r:
                r.raise_for_status()
                async for chunk in r.content.iter_chunked(1 << 16):
                    h.update(chunk)
            print("get", h.hexdigest())


asyncio.run(main(sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])))
