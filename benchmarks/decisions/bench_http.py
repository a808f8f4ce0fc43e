"""HTTP library for SSE streaming and unary calls: httpx2 vs httpx vs aiohttp (client side).

A local aiohttp.web server runs in a separate process, pinned to the other CPU, and serves
  * ``/sse?n=N&pace=S`` : N ``data: {json}\\r\\n\\r\\n`` events, one write each, ``pace``
    seconds apart (0: as fast as possible, so events coalesce into large reads; > 0: each
    event arrives on its own, as in a real model stream);
  * ``/unary``           : a small generateContent-like JSON answer to a POST.
Each client is opened once and reused. The client process measures its own CPU time
(``time.process_time``) per SSE event, iterating raw byte chunks or lines, and the wall
latency of keep-alive unary requests.

Run: .venv/bin/python benchmarks/decisions/bench_http.py
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import import_times, pin

N_EVENTS = 5000
N_PACED = 2000
PACE_S = 0.0005
N_UNARY = 500
REPEATS = 7
LIBS = ("httpx2", "httpx", "aiohttp")

EVENT = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"Hello there, "}],"role":"model"},'
    b'"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,'
    b'"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"abc"}\r\n\r\n'
)
UNARY_BODY = (
    b'{"contents":[{"parts":[{"text":"Write a haiku about the sea."}],"role":"user"}],'
    b'"generationConfig":{"temperature":0.7,"maxOutputTokens":64}}'
)
UNARY_ANSWER = EVENT[len(b"data: ") : -4]


# --- server (separate process) ------------------------------------------------------------
def serve() -> None:
    from aiohttp import web

    async def sse(request: web.Request) -> web.StreamResponse:
        n = int(request.query.get("n", N_EVENTS))
        pace = float(request.query.get("pace", 0))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(n):
            await resp.write(EVENT)
            if pace:
                await asyncio.sleep(pace)
        await resp.write_eof()
        return resp

    async def unary(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=UNARY_ANSWER, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/sse", sse)
        app.router.add_post("/unary", unary)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    pin(proc.pid, 1)
    return proc, port


# --- clients --------------------------------------------------------------------------------
class Client:
    """One library's async client, opened once and reused (as an SDK would)."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self.session: Any = None

    async def open(self) -> None:
        if self.lib == "aiohttp":
            import aiohttp

            self.session = aiohttp.ClientSession()
        else:
            self.session = importlib.import_module(self.lib).AsyncClient()

    async def close(self) -> None:
        if self.lib == "aiohttp":
            await self.session.close()
        else:
            await self.session.aclose()

    async def sse(self, url: str, mode: str) -> int:
        """Stream ``url`` as raw byte chunks or as lines; return the number of events."""
        s = self.session
        if self.lib == "aiohttp":
            async with s.get(url) as r:
                if mode == "bytes":
                    total = 0
                    async for chunk in r.content.iter_any():
                        total += len(chunk)
                    return total // len(EVENT)
                events = 0
                async for line in r.content:
                    if line.startswith(b"data:"):
                        events += 1
                return events
        async with s.stream("GET", url) as r:
            if mode == "bytes":
                total = 0
                async for chunk in r.aiter_bytes():
                    total += len(chunk)
                return total // len(EVENT)
            events = 0
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events += 1
            return events

    async def post(self, url: str) -> bytes:
        headers = {"Content-Type": "application/json"}
        if self.lib == "aiohttp":
            async with self.session.post(url, data=UNARY_BODY, headers=headers) as r:
                return bytes(await r.read())
        r = await self.session.post(url, content=UNARY_BODY, headers=headers)
        return bytes(r.read())


async def sse_cpu_us(client: Client, url: str, mode: str, n: int, repeats: int) -> float:
    """Median over repeats of client CPU microseconds per SSE event."""
    await client.sse(url, mode)  # warm-up
    samples = []
    for _ in range(repeats):
        cpu0 = time.process_time()
        got = await client.sse(url, mode)
        cpu = time.process_time() - cpu0
        assert got == n, (got, n)
        samples.append(cpu / n * 1e6)
    return statistics.median(samples)


async def unary_async(client: Client, url: str) -> tuple[float, float]:
    """Median wall latency (ms) and mean client CPU (us) of keep-alive POSTs."""
    for _ in range(50):
        await client.post(url)
    lat: list[float] = []
    cpu0 = time.process_time()
    for _ in range(N_UNARY):
        t0 = time.perf_counter()
        await client.post(url)
        lat.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    return statistics.median(lat) * 1e3, cpu / N_UNARY * 1e6


def unary_sync(lib: str, url: str) -> tuple[float, float]:
    """The same with the library's synchronous client."""
    mod = importlib.import_module(lib)
    lat: list[float] = []
    headers = {"Content-Type": "application/json"}
    with mod.Client() as c:
        for _ in range(50):
            c.post(url, content=UNARY_BODY, headers=headers).read()
        cpu0 = time.process_time()
        for _ in range(N_UNARY):
            t0 = time.perf_counter()
            c.post(url, content=UNARY_BODY, headers=headers).read()
            lat.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu0
    return statistics.median(lat) * 1e3, cpu / N_UNARY * 1e6


async def construct_ms(lib: str) -> float:
    """Median CPU ms to create and close a client (its default TLS context included)."""
    samples = []
    for _ in range(7):
        c = Client(lib)
        cpu0 = time.process_time()
        await c.open()
        await c.close()
        samples.append((time.process_time() - cpu0) * 1e3)
    return statistics.median(samples)


def med3(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


async def bench(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    burst = f"{base}/sse?n={N_EVENTS}"
    paced = f"{base}/sse?n={N_PACED}&pace={PACE_S}"
    unary = f"{base}/unary"
    print(f"SSE: client CPU us per event ({len(EVENT)}-byte events, median of repeats)")
    print(
        f"{'library':<10}{'burst bytes':>13}{'burst lines':>13}{'paced bytes':>13}"
        f"{'paced lines':>13}"
    )
    for lib in LIBS:
        c = Client(lib)
        await c.open()
        cells = [
            await sse_cpu_us(c, burst, "bytes", N_EVENTS, REPEATS),
            await sse_cpu_us(c, burst, "lines", N_EVENTS, REPEATS),
            await sse_cpu_us(c, paced, "bytes", N_PACED, 3),
            await sse_cpu_us(c, paced, "lines", N_PACED, 3),
        ]
        await c.close()
        print(f"{lib:<10}" + "".join(f"{x:>13.2f}" for x in cells))
    print(
        f"  burst: {N_EVENTS} events as fast as the server writes them; "
        f"paced: {N_PACED} events {PACE_S * 1e3:g} ms apart"
    )
    print()
    print(
        f"Unary POST on a kept-alive connection, {N_UNARY} requests after 50 warm-up, "
        "median of 3 runs"
    )
    print(f"{'client':<16}{'median ms':>11}{'CPU us/req':>12}")
    for lib in LIBS:
        c = Client(lib)
        await c.open()
        ms, cpu = med3([await unary_async(c, unary) for _ in range(3)])
        await c.close()
        print(f"{lib + ' async':<16}{ms:>11.3f}{cpu:>12.1f}")
    for lib in ("httpx2", "httpx"):
        ms, cpu = med3([unary_sync(lib, unary) for _ in range(3)])
        print(f"{lib + ' sync':<16}{ms:>11.3f}{cpu:>12.1f}")
    print("aiohttp sync    (none: asyncio only)")
    print()
    print("client construction + close, CPU ms (median of 7)")
    for lib in LIBS:
        print(f"  {lib:<10}{await construct_ms(lib):>8.2f}")


COLD = {
    "httpx2": "import httpx2\nc = httpx2.AsyncClient()\nasyncio.run(c.aclose())",
    "httpx": "import httpx\nc = httpx.AsyncClient()\nasyncio.run(c.aclose())",
    "aiohttp": (
        "import aiohttp\nasync def go():\n    await aiohttp.ClientSession().close()\n"
        "asyncio.run(go())"
    ),
}


def cold_start_ms(runs: int = 9) -> dict[str, float]:
    """Wall ms from before ``import`` to a created and closed client, fresh interpreters."""
    samples: dict[str, list[float]] = {lib: [] for lib in LIBS}
    for i in range(runs + 1):
        for lib in LIBS:
            code = (
                "import time, asyncio\nt0 = time.perf_counter()\n"
                + COLD[lib]
                + "\nprint((time.perf_counter() - t0) * 1e3)"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
            if i:
                samples[lib].append(float(out))
    return {lib: statistics.median(s) for lib, s in samples.items()}


def main() -> None:
    if "--serve" in sys.argv:
        serve()
        return
    import aiohttp
    import httpx
    import httpx2

    print(
        f"Python {sys.version.split()[0]}, httpx2 {httpx2.__version__}, "
        f"httpx {httpx.__version__}, aiohttp {aiohttp.__version__}"
    )
    pin(os.getpid(), 0)
    proc, port = start_server()
    try:
        asyncio.run(bench(port))
    finally:
        proc.terminate()
        proc.wait()
    print()
    print("import time, ms (cumulative, -X importtime, median of 9 fresh interpreters)")
    print("and cold start: import + first client created and closed, wall ms, median of 9")
    cold = cold_start_ms()
    for mod, ms in import_times(list(LIBS)).items():
        print(f"  {mod:<10}{ms:>8.1f}{cold[mod]:>8.1f}")


if __name__ == "__main__":
    main()
