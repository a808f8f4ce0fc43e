"""Decision benchmark: memory per idle Live session over TLS, old TLS layer vs lean.

``old`` is asyncio's SSLProtocol with its read buffer trimmed to 16 KiB (what main did
before websocket/_idle_memory.py) and the handshake kept; ``new`` is LeanSSLProtocol
plus the handshake trim. Each variant runs in a fresh process against the emulator (TLS,
its own process), opens ``--sessions`` Live sessions (setup done) and reports RSS growth
per session, then Python-level bytes per session (tracemalloc, a second batch). Variants
alternate, ``--rounds`` times; medians are printed.

    .venv/bin/python benchmarks/decisions/bench_idle_memory.py [--sessions N] [--rounds R]
        [--batch B]   (B sessions opened at once; 50 by default)
    .venv/bin/python benchmarks/decisions/bench_idle_memory.py --top new   # where it goes
    .venv/bin/python benchmarks/decisions/bench_idle_memory.py --read-cpu  # µs per record
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the harness package

KEY = "bench-key"


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def _child(
    variant: str, base_url: str, ca: str, sessions: int, top: bool, batch: int
) -> dict[str, Any]:
    import tracemalloc

    from api_gemini import AsyncClient
    from api_gemini.websocket import _idle_memory, transport

    if variant == "old":
        setattr(_idle_memory, "_KNOWN_PYTHONS", ())  # noqa: B010  # the stock TLS layer
        setattr(transport, "trim_open_connection", lambda connection: None)  # noqa: B010
    async with AsyncClient(KEY, base_url=base_url, verify=ca) as client:
        model = client.models.by_name("gemini-3.8-live")
        for session in [await model.connect() for _ in range(5)]:  # warm caches
            await session.close()
        gc.collect()
        await asyncio.sleep(0.5)
        before = _rss()
        handles: list[Any] = []
        while len(handles) < sessions:
            n = min(batch, sessions - len(handles))
            handles += await asyncio.gather(*(model.connect() for _ in range(n)))
        await asyncio.sleep(1.0)
        gc.collect()
        rss = (_rss() - before) / len(handles)
        tracemalloc.start(1)
        snap0 = tracemalloc.take_snapshot()
        traced_handles = []
        for _ in range(4):
            traced_handles += await asyncio.gather(*(model.connect() for _ in range(50)))
        gc.collect()
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = snap1.compare_to(snap0, "lineno")
        traced = sum(s.size_diff for s in stats) / len(traced_handles)
        lines = (
            [
                (
                    f"{s.traceback[0].filename.split('site-packages/')[-1]}:{s.traceback[0].lineno}",
                    s.size_diff / len(traced_handles),
                )
                for s in stats[:25]
            ]
            if top
            else []
        )
        for session in handles + traced_handles:
            await session.close()
    return {"rss": rss, "traced": traced, "top": lines}


# --------------------------------------------------------------------------- read CPU


class _App(asyncio.Protocol):
    received = 0

    def data_received(self, data: bytes) -> None:
        self.received += len(data)


class _Raw:
    """The socket transport, in memory: what the TLS protocol writes is kept."""

    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _feed(protocol: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(-1)
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        view = view[n:]
        protocol.buffer_updated(n)


async def _read_cpu(variant: str, records: int, size: int) -> float:
    """µs per TLS record received, old (asyncio's, 16 KiB reads) or new, in memory."""
    import ssl
    from asyncio import sslproto

    import trustme

    from api_gemini.websocket._idle_memory import LeanSSLProtocol

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    loop = asyncio.get_running_loop()
    app, waiter = _App(), loop.create_future()
    protocol: Any
    if variant == "new":
        protocol = LeanSSLProtocol(loop, app, client_context, waiter, "127.0.0.1")
    else:
        protocol = sslproto.SSLProtocol(loop, app, client_context, waiter, False, "127.0.0.1")
        protocol.max_size = 16 * 1024  # what main's _trim_tls_read_buffer set
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(incoming, outgoing, server_side=True)
    raw = _Raw()
    protocol.connection_made(raw)
    while not waiter.done():
        for data in raw.out:
            incoming.write(data)
        raw.out.clear()
        with contextlib.suppress(ssl.SSLWantReadError):
            server.do_handshake()
        if outgoing.pending:
            _feed(protocol, outgoing.read())
        await asyncio.sleep(0)
    for data in raw.out:  # the client's Finished
        incoming.write(data)
    server.do_handshake()
    _feed(protocol, outgoing.read())  # the session tickets
    payload = b"x" * size
    wire = []
    for _ in range(records):
        server.write(payload)
        wire.append(outgoing.read())
    started = time.perf_counter()
    for data in wire:
        _feed(protocol, data)
    elapsed = time.perf_counter() - started
    assert app.received == records * size
    protocol._app_transport._closed = True
    return elapsed / records * 1e6


def read_cpu(rounds: int) -> None:
    """Print the median µs per record received, old and new alternating."""
    for size in (400, 4000, 16000):
        samples: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(rounds):
            for variant in samples:
                samples[variant].append(asyncio.run(_read_cpu(variant, 5000, size)))
        print(
            f"{size} B records, µs per record received (median of {rounds}): "
            + ", ".join(f"{v} {statistics.median(x):.2f}" for v, x in samples.items())
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50, help="sessions opened at once")
    parser.add_argument("--top", choices=["old", "new"])
    parser.add_argument("--read-cpu", action="store_true", help="µs per TLS record read")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, base_url, ca, sessions, top, batch = args.child
        result = asyncio.run(_child(variant, base_url, ca, int(sessions), top == "1", int(batch)))
        print(json.dumps(result))
        return
    if args.read_cpu:
        read_cpu(max(args.rounds, 9))
        with open("/proc/loadavg") as f:
            print("load:", f.read().strip())
        return

    from harness._env import child_env, emulator, make_tls

    tls = make_tls(Path(tempfile.mkdtemp(prefix="bench-idle-")))
    samples: dict[str, dict[str, list[float]]] = {
        v: {"rss": [], "traced": []} for v in ("old", "new")
    }
    with emulator(tls) as base_url:
        variants = [args.top] if args.top else ["old", "new"]
        for _ in range(1 if args.top else args.rounds):
            for variant in variants:
                argv = [
                    sys.executable,
                    __file__,
                    "--child",
                    variant,
                    base_url,
                    tls.ca,
                    str(args.sessions),
                    "1" if args.top else "0",
                    str(args.batch),
                ]
                out = subprocess.run(
                    argv, capture_output=True, text=True, check=True, env=child_env()
                )
                result = json.loads(out.stdout.splitlines()[-1])
                for name in ("rss", "traced"):
                    samples[variant][name].append(result[name] / 1024)
                for where, size in result["top"]:
                    print(f"{size / 1024:8.2f} KiB  {where}")
    print(
        f"KiB per idle Live session over TLS, {args.sessions} sessions, "
        f"{args.batch} opened at once, medians"
    )
    print("variant   RSS     tracemalloc   (samples RSS)")
    for variant in variants:
        rss, traced = samples[variant]["rss"], samples[variant]["traced"]
        print(
            f"{variant:6} {statistics.median(rss):7.1f} {statistics.median(traced):10.1f}"
            f"      {', '.join(f'{x:.1f}' for x in rss)}"
        )
    with open("/proc/loadavg") as f:
        print("load:", f.read().strip())


if __name__ == "__main__":
    main()
