"""Sync WebSocket API: a private event loop thread (portal) vs a native sync client.

The emulator runs as a separate process pinned to the other CPU, unpaced, answering
with one token per chunk. In this process (pinned to one CPU):

* ``native sync``: ``websockets.sync.client`` with our sans-I/O decoding
  (``decode_server_message``) and the same chunk objects the Stream builds: the floor a
  native sync transport could reach before adding buffering, pause/resume and health;
* ``async raw``: the same loop on ``websockets.asyncio``: the asyncio floor;
* ``async Stream``: ``AsyncClient`` ``stream_generate_content_websocket``: ours;
* ``sync Stream (portal)``: ``Client`` ``stream_generate_content_websocket``: ours,
  every chunk fetched by a hop from the caller's thread to the loop thread and back.

Per chunk: client CPU time (all threads of this process, ``time.process_time``) and
wall time, over a stream of ``N_CHUNKS`` chunks, median of ``REPEATS`` runs. Then the
cost of one hop (``LoopPortal.run`` of a coroutine that returns at once) and of one send
(``send_text(turn_complete=False)``: a ``clientContent`` the server only stores) through
each path.

Run: .venv/bin/python benchmarks/decisions/bench_sync.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import websockets.version
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect as sync_connect

from api_gemini import AsyncClient, Client
from api_gemini._portal import LoopPortal
from api_gemini.settings import ClientSettings
from api_gemini.types import (
    Candidate,
    Content,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    encode_json,
)
from api_gemini.websocket import live_endpoint
from api_gemini.websocket.decoding import decode_server_message
from api_gemini.websocket.live_types import ServerMessage

#: Any key will do: the emulator wants one (as the service does) but checks none.
KEY = "bench-key"
MODEL = "gemini-3.8-live"
N_CHUNKS = 3000
N_HOPS = 20000
N_SENDS = 2000
REPEATS = 5


def pin(pid: int, cpu: int) -> None:
    """Pin a process to one CPU so that client and emulator do not share a core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """The emulator as a process on CPU 1; returns it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator", "--port", "0", "--playback-time-scale", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().split()[-1]
    pin(proc.pid, 1)
    return proc, base_url


def setup_message(max_tokens: int) -> bytes:
    config: dict[str, Any] = {"maxOutputTokens": max_tokens}
    return encode_json({"setup": {"model": f"models/{MODEL}", "generationConfig": config}})


def turn_message(text: str, turn_complete: bool = True) -> bytes:
    content = {"turns": [Content.user_text(text)], "turnComplete": turn_complete}
    return encode_json({"clientContent": content})


def chunk_of(data: bytes | str) -> GenerateContentResponse | bool | None:
    """What the Stream builds from a frame: a chunk, None (no chunk) or True (turn end)."""
    message = decode_server_message(data)
    if type(message) is not ServerMessage or message.server_content is None:
        return None
    content = message.server_content
    if content.turn_complete:
        return True
    if content.model_turn is None:
        return None
    content.model_turn.role = "model"
    return GenerateContentResponse(candidates=[Candidate(content=content.model_turn, index=0)])


# --------------------------------------------------------------------------- streams


Timing = tuple[float, float, int]  # (cpu seconds, wall seconds, chunks)


def native_sync_stream(settings: ClientSettings) -> Timing:
    endpoint = live_endpoint(settings)
    with sync_connect(
        endpoint.url, additional_headers=list(endpoint.headers), compression=None
    ) as ws:
        ws.send(setup_message(N_CHUNKS).decode())
        ws.recv()  # setupComplete
        cpu, wall = time.process_time(), time.perf_counter()
        ws.send(turn_message("Tell me a story").decode())
        chunks = 0
        while True:
            result = chunk_of(ws.recv())
            if result is True:
                break
            if result is not None:
                chunks += 1
        return time.process_time() - cpu, time.perf_counter() - wall, chunks


async def async_raw_stream(settings: ClientSettings) -> Timing:
    endpoint = live_endpoint(settings)
    async with async_connect(
        endpoint.url, additional_headers=list(endpoint.headers), compression=None
    ) as ws:
        await ws.send(setup_message(N_CHUNKS).decode())
        await ws.recv()
        cpu, wall = time.process_time(), time.perf_counter()
        await ws.send(turn_message("Tell me a story").decode())
        chunks = 0
        while True:
            result = chunk_of(await ws.recv())
            if result is True:
                break
            if result is not None:
                chunks += 1
        return time.process_time() - cpu, time.perf_counter() - wall, chunks


def request() -> GenerateContentRequest:
    return GenerateContentRequest(
        contents=[Content.user_text("Tell me a story")],
        generation_config=GenerationConfig(max_output_tokens=N_CHUNKS),
    )


async def async_stream(base_url: str) -> Timing:
    async with AsyncClient(KEY, base_url=base_url) as client:
        model = client.models.by_name(MODEL)
        # Open once untimed so that imports and first-use costs are not counted.
        async with await model.stream_generate_content_websocket("echo: warm") as stream:
            async for _ in stream:
                pass
        cpu, wall = time.process_time(), time.perf_counter()
        chunks = 0
        async with await model.stream_generate_content_websocket(request()) as stream:
            async for _ in stream:
                chunks += 1
        return time.process_time() - cpu, time.perf_counter() - wall, chunks


def sync_stream(base_url: str) -> Timing:
    with Client(KEY, base_url=base_url) as client:
        model = client.models.by_name(MODEL)
        with model.stream_generate_content_websocket("echo: warm") as stream:
            for _ in stream:
                pass
        cpu, wall = time.process_time(), time.perf_counter()
        chunks = 0
        with model.stream_generate_content_websocket(request()) as stream:
            for _ in stream:
                chunks += 1
        return time.process_time() - cpu, time.perf_counter() - wall, chunks


# --------------------------------------------------------------------------- sends


def native_sync_sends(settings: ClientSettings) -> float:
    endpoint = live_endpoint(settings)
    with sync_connect(
        endpoint.url, additional_headers=list(endpoint.headers), compression=None
    ) as ws:
        ws.send(setup_message(8).decode())
        ws.recv()
        started = time.perf_counter()
        for i in range(N_SENDS):
            # What a native send_text would do: build, encode, send.
            ws.send(turn_message(f"note {i}", turn_complete=False).decode())
        return time.perf_counter() - started


async def async_sends(base_url: str) -> float:
    async with AsyncClient(KEY, base_url=base_url) as client:
        config: dict[str, Any] = {}
        async with await client.models.by_name(MODEL).connect(config) as session:
            started = time.perf_counter()
            for i in range(N_SENDS):
                await session.send_text(f"note {i}", turn_complete=False)
            return time.perf_counter() - started


def sync_sends(base_url: str) -> float:
    with Client(KEY, base_url=base_url) as client:
        config: dict[str, Any] = {}
        with client.models.by_name(MODEL).connect(config) as session:
            started = time.perf_counter()
            for i in range(N_SENDS):
                session.send_text(f"note {i}", turn_complete=False)
            return time.perf_counter() - started


def hop_seconds() -> float:
    """One ``LoopPortal.run`` round trip: caller thread -> loop thread -> caller."""

    async def nothing() -> None:
        return None

    portal = LoopPortal(name="bench-portal")
    try:
        for _ in range(1000):
            portal.run(nothing())
        started = time.perf_counter()
        for _ in range(N_HOPS):
            portal.run(nothing())
        return (time.perf_counter() - started) / N_HOPS
    finally:
        portal.close()


# --------------------------------------------------------------------------- main


def main() -> None:
    pin(os.getpid(), 0)
    proc, base_url = start_emulator()
    try:
        settings = ClientSettings.resolve("bench-key", base_url=base_url)
        cases: dict[str, Callable[[], Timing]] = {
            "native sync (websockets.sync)": lambda: native_sync_stream(settings),
            "async raw (websockets.asyncio)": lambda: asyncio.run(async_raw_stream(settings)),
            "async Stream (AsyncClient)": lambda: asyncio.run(async_stream(base_url)),
            "sync Stream (Client, portal)": lambda: sync_stream(base_url),
        }
        rows: dict[str, tuple[float, float]] = {}
        samples: dict[str, list[Timing]] = {name: [] for name in cases}
        for _ in range(REPEATS):  # round-robin, so that drift hits every case alike
            for name, case in cases.items():
                samples[name].append(case())
        for name, runs in samples.items():
            chunks = runs[0][2]
            assert chunks >= N_CHUNKS // 2, (name, chunks)
            cpu = statistics.median(r[0] / r[2] for r in runs) * 1e6
            wall = statistics.median(r[1] / r[2] for r in runs) * 1e6
            rows[name] = (cpu, wall)

        sends: dict[str, list[float]] = {"native sync": [], "async": [], "sync (portal)": []}
        for _ in range(REPEATS):
            sends["native sync"].append(native_sync_sends(settings))
            sends["async"].append(asyncio.run(async_sends(base_url)))
            sends["sync (portal)"].append(sync_sends(base_url))
        hop = statistics.median(hop_seconds() for _ in range(REPEATS))
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    print(
        f"Python {platform.python_version()}, websockets {websockets.version.version}, "
        f"{os.cpu_count()} CPUs; {N_CHUNKS} chunks per stream, median of {REPEATS}"
    )
    print()
    print(f"| {'stream (per chunk)':32} | client CPU µs | wall µs |")
    print(f"| {'-' * 32} | -----------: | ------: |")
    for name, (cpu, wall) in rows.items():
        print(f"| {name:32} | {cpu:12.1f} | {wall:7.1f} |")
    print()
    print(f"| {'send_text, turn_complete=False':32} | µs per send |")
    print(f"| {'-' * 32} | ----------: |")
    for name, seconds in sends.items():
        print(f"| {name:32} | {statistics.median(seconds) / N_SENDS * 1e6:11.1f} |")
    print()
    print(f"portal hop (LoopPortal.run of a no-op coroutine): {hop * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
