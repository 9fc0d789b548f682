#!/usr/bin/env python3
"""Exactly N keep-alive GETs over C connections; keeps a session cookie like a browser."""
import asyncio, sys, re
host, port, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
path = sys.argv[5] if len(sys.argv) > 5 else "/"
extra = sys.argv[6] if len(sys.argv) > 6 else ""
cookie = None
async def one(r, w, p=path):
    h = f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: load\r\nAccept: */*\r\n{extra}"
    if cookie: h += f"Cookie: {cookie}\r\n"
    w.write((h + "\r\n").encode()); await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: *(\d+)", head)
    if m: await r.readexactly(int(m.group(1)))
    sc = re.search(rb"(?i)set-cookie: *([^;\r]+)", head)
    return sc.group(1).decode() if sc else None
async def main():
    global cookie
    r, w = await asyncio.open_connection(host, port)
    for _ in range(3):
        sc = await one(r, w, "/")
        if sc: cookie = sc
    left = [n]
    async def worker():
        r, w = await asyncio.open_connection(host, port)
        while left[0] > 0:
            left[0] -= 1
            await one(r, w)
        w.close()
    await asyncio.gather(*[worker() for _ in range(c)])
asyncio.run(main())
