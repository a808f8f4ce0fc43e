"""A worker process: runs measurement jobs against a running emulator, for one client.

``python -m harness.worker`` (with ``benchmarks/`` on the path) reads ``{"ca": path,
"out": path, "jobs": [...]}`` as JSON on stdin, pins itself to the client CPU, runs each
job in order and writes the list of results as JSON to ``out``. Each job is
``{"job": kind, "client": name, "base_url": url, ...}``; the kinds are in :data:`JOBS`.

Memory is read from ``/proc/self/status``: ``VmRSS`` now, and ``VmHWM``, the peak since
the last reset (writing ``5`` to ``/proc/self/clear_refs`` resets it), so a peak between
two readings is never missed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import linecache
import os
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._env import CLIENT_CPU, pin
from .clients import FACTORIES, BenchClient

_STATUS = re.compile(rb"(VmRSS|VmHWM):\s+(\d+) kB")


def memory() -> dict[str, int]:
    """``{"rss": bytes, "peak": bytes}`` of this process (Linux ``/proc``)."""
    with open("/proc/self/status", "rb") as f:
        found = {k.decode(): int(v) * 1024 for k, v in _STATUS.findall(f.read())}
    return {"rss": found["VmRSS"], "peak": found["VmHWM"]}


def reset_peak() -> None:
    """Reset ``VmHWM`` to the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _client(job: dict[str, Any], ca: str) -> BenchClient:
    return FACTORIES[job["client"]](job["base_url"], ca, **job.get("settings", {}))


async def job_cpu(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Client CPU per chunk: CPU of a ``tokens``-chunk turn minus that of a 1-chunk turn.

    Both turns include the same fixed work (connect, setup, request, close), so the
    difference divided by ``tokens - 1`` is the cost of one chunk. Runs alternate the
    two sizes; the median of ``runs`` differences is reported. The collector runs
    normally (it is part of what a client costs) but starts each run from a clean slate.
    """
    client = _client(job, ca)
    tokens = job["tokens"]
    for _ in range(job.get("warmup", 1)):
        await client.turn(tokens)
        await client.turn(1)
    per_chunk = []
    walls = []
    for _ in range(job["runs"]):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        chunks = await client.turn(tokens)
        c1, w1 = time.process_time(), time.perf_counter()
        assert chunks == tokens, (chunks, tokens)
        gc.collect()
        c2 = time.process_time()
        small = await client.turn(1)
        c3 = time.process_time()
        assert small == 1, small
        per_chunk.append(((c1 - c0) - (c3 - c2)) / (tokens - 1) * 1e6)
        walls.append(w1 - w0)
    await client.aclose()
    return {
        "us_per_chunk": statistics.median(per_chunk),
        "samples": per_chunk,
        "turn_wall_s": statistics.median(walls),
    }


async def job_ttfc(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Time to first chunk, cold (fresh connection) and warm (open session / kept-alive)."""
    client = _client(job, ca)
    tokens = job.get("tokens", 4)
    await client.first_chunk(tokens)  # warm up code paths and the TLS context
    cold = [await client.first_chunk(tokens) for _ in range(job["runs"])]
    await client.open_warm()
    await client.first_chunk_warm(tokens)
    warm = [await client.first_chunk_warm(tokens) for _ in range(job["runs"])]
    await client.aclose()
    return {
        "cold_ms": statistics.median(cold) * 1e3,
        "warm_ms": statistics.median(warm) * 1e3,
        "cold_samples_ms": [x * 1e3 for x in cold],
        "warm_samples_ms": [x * 1e3 for x in warm],
    }


async def job_ttfc_pool(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Time to first chunk through api_gemini's warm pool (see :mod:`harness.pool`)."""
    from .pool import ttfc_pool

    return await ttfc_pool(job, ca)


async def job_idle(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Memory per idle open Live session: RSS growth with ``sessions`` open, divided."""
    client = _client(job, ca)
    batch = job.get("batch", 50)
    # Warm up: imports, TLS context, first-use caches; then measure from a settled heap.
    warm = [await client.open_idle() for _ in range(5)]
    for handle in warm:
        await client.close_idle(handle)
    gc.collect()
    await asyncio.sleep(job.get("idle", 1.0))  # let closing handshakes finish
    before = memory()["rss"]
    handles: list[Any] = []
    started = time.perf_counter()
    while len(handles) < job["sessions"]:
        n = min(batch, job["sessions"] - len(handles))
        handles += await asyncio.gather(*(client.open_idle() for _ in range(n)))
    opened_s = time.perf_counter() - started
    await asyncio.sleep(job.get("idle", 1.0))  # idle: keepalive timers armed, nothing read
    gc.collect()
    after = memory()["rss"]
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(0, len(handles), batch):
        await asyncio.gather(*(client.close_idle(h) for h in handles[i : i + batch]))
    await client.aclose()
    return {
        "sessions": len(handles),
        "rss_before": before,
        "rss_after": after,
        "bytes_per_session": (after - before) / len(handles),
        "open_seconds": opened_s,
        "fds_open": fds,
    }


async def job_idle_traced(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Python-level bytes per idle session, by package (tracemalloc; not RSS: native
    allocations such as OpenSSL's are not traced, and tracing inflates RSS)."""
    import tracemalloc

    client = _client(job, ca)
    for handle in [await client.open_idle() for _ in range(5)]:
        await client.close_idle(handle)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    handles: list[Any] = []
    for _ in range(0, job["sessions"], 50):
        handles += await asyncio.gather(*(client.open_idle() for _ in range(50)))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by_package: dict[str, float] = {}
    for stat in after.compare_to(before, "lineno"):
        frame = stat.traceback[0]
        path = frame.filename
        if "bytearray(TLS_READ_BUFFER)" in linecache.getline(path, frame.lineno):
            package = "asyncio TLS (sslproto, ssl)"  # the read buffer, made smaller by us
        elif "/api_gemini/" in path:
            package = "api_gemini"
        elif "/websockets/" in path:
            package = "websockets"
        elif path.endswith(("sslproto.py", "ssl.py")):
            package = "asyncio TLS (sslproto, ssl)"
        else:
            package = "other"
        by_package[package] = by_package.get(package, 0) + stat.size_diff / len(handles)
    for handle in handles:
        await client.close_idle(handle)
    await client.aclose()
    return {"sessions": len(handles), "bytes_per_session_by_package": by_package}


async def job_stream_memory(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Peak RSS growth while one long answer streams through, with a trace for plots."""
    client = _client(job, ca)
    audio = job.get("audio", False)
    await client.turn(job.get("warm_tokens", 64), audio=audio)
    gc.collect()
    reset_peak()
    before = memory()["rss"]
    received = 0
    next_mark = 0
    step = job.get("trace_step", 1 << 20)
    trace: list[tuple[int, int]] = [(0, 0)]

    def on_chunk(n: int) -> None:
        nonlocal received, next_mark
        received += n
        if received >= next_mark:
            next_mark += step
            trace.append((received, memory()["rss"] - before))

    started = time.perf_counter()
    chunks = await client.turn(job["tokens"], audio=audio, trace=on_chunk)
    wall = time.perf_counter() - started
    peak = memory()["peak"]
    await client.aclose()
    return {
        "payload_bytes": received,
        "chunks": chunks,
        "rss_before": before,
        "peak_growth": peak - before,
        "trace": trace,
        "seconds": wall,
    }


async def job_paused(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """Peak RSS growth while the consumer does not read and the server sends flat out."""
    client = _client(job, ca)
    await client.turn(16, audio=True)
    gc.collect()
    reset_peak()
    before = memory()["rss"]
    seen: dict[str, int] = {}

    def settle() -> None:
        seen.update(memory())

    chunks = await client.paused(job["tokens"], job["hold"], settle)
    await client.aclose()
    return {
        "rss_before": before,
        "paused_growth": seen["rss"] - before,
        "paused_peak_growth": seen["peak"] - before,
        "chunks": chunks,
        "settings": job.get("settings", {}),
    }


async def job_throughput(job: dict[str, Any], ca: str) -> dict[str, Any]:
    """``streams`` concurrent turns of ``tokens`` chunks, ``runs`` times: chunks per
    second and client CPU per chunk (medians), and the share of the wall time the client
    spent on CPU (near 1: the client, not the server, is the limit)."""
    client = _client(job, ca)
    await client.turn(8)
    rates, cpus, busy = [], [], []
    total = job["streams"] * job["tokens"]
    for _ in range(job.get("runs", 1)):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        turns = (client.turn(job["tokens"]) for _ in range(job["streams"]))
        counts = await asyncio.gather(*turns)
        c1, w1 = time.process_time(), time.perf_counter()
        assert sum(counts) == total, sum(counts)
        rates.append(total / (w1 - w0))
        cpus.append((c1 - c0) / total * 1e6)
        busy.append((c1 - c0) / (w1 - w0))
    await client.aclose()
    return {
        "chunks": total,
        "seconds": total / statistics.median(rates),
        "chunks_per_second": statistics.median(rates),
        "cpu_us_per_chunk": statistics.median(cpus),
        "client_cpu_share": statistics.median(busy),
    }


JOBS: dict[str, Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]] = {
    "cpu": job_cpu,
    "ttfc": job_ttfc,
    "ttfc_pool": job_ttfc_pool,
    "idle": job_idle,
    "idle_traced": job_idle_traced,
    "stream_memory": job_stream_memory,
    "paused": job_paused,
    "throughput": job_throughput,
}


async def _run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for job in spec["jobs"]:
        started = time.perf_counter()
        result = await JOBS[job["job"]](job, spec["ca"])
        result["job_seconds"] = time.perf_counter() - started
        results.append(result)
    return results


def main() -> int:
    """Read the job spec from stdin, run it, write the results file."""
    spec = json.load(sys.stdin)
    pin(0, CLIENT_CPU)
    results = asyncio.run(_run(spec))
    with open(spec["out"], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
