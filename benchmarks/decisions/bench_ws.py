"""WebSocket permessage-deflate default: compression="deflate" vs None (websockets 17).

A websockets server runs in a separate process, pinned to the other CPU, always offering
permessage-deflate; the client accepts it or not. Messages are binary frames, as the Live
API sends them:
  * small: 5000 Gemini-shaped Live text chunks of ~200 bytes (server -> client);
  * audio: 200 messages carrying 48 KiB of 16-bit PCM as base64 (~64 KiB each), both
    server -> client (model speech) and client -> server (microphone input);
  * echo: 1000 round trips of one small message (latency).
The client measures its own CPU time per message (``time.process_time``) and counts the
bytes it reads from / writes to the socket (frames on the wire, TCP/IP headers excluded).

Run: .venv/bin/python benchmarks/decisions/bench_ws.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import time
import timeit
import zlib
from typing import Any

import websockets.version
from _common import import_times, pin
from websockets.asyncio.client import ClientConnection, connect

N_SMALL = 5000
N_AUDIO = 200
N_ECHO = 1000
REPEATS = 5
AUDIO_PCM_BYTES = 48 * 1024


def _prose() -> str:
    """English prose to stream: CPython's LICENSE.txt (falls back to a fixed sentence)."""
    path = os.path.join(sysconfig.get_paths()["stdlib"], "LICENSE.txt")
    try:
        with open(path, encoding="utf-8") as f:
            return " ".join(f.read().split())
    except OSError:
        return "The quick brown fox jumps over the lazy dog while the model streams. " * 50


def small_messages(n: int) -> list[bytes]:
    """Live ``serverContent`` chunks of ~200 bytes, each carrying the next 110 characters
    of prose (so that deflate sees real text, not one repeated string)."""
    prose = _prose()
    out = []
    for i in range(n):
        start = (i * 110) % (len(prose) - 110)
        msg = {
            "serverContent": {
                "modelTurn": {"parts": [{"text": prose[start : start + 110]}]},
                "outputTranscription": {"text": str(i)},
            },
            "usageMetadata": {"totalTokenCount": 100 + i},
        }
        out.append(json.dumps(msg, separators=(",", ":")).encode())
    return out


def pcm(n_bytes: int, seed: int) -> bytes:
    """Speech-like 16-bit PCM: a few drifting tones plus noise (deterministic)."""
    rng = random.Random(seed)
    samples = bytearray()
    f1, f2 = 180.0 + seed, 720.0 + seed
    for t in range(n_bytes // 2):
        v = 6000 * math.sin(2 * math.pi * f1 * t / 16000)
        v += 2500 * math.sin(2 * math.pi * f2 * t / 16000) + rng.gauss(0, 900)
        samples += int(max(-32768, min(32767, v))).to_bytes(2, "little", signed=True)
    return bytes(samples)


def audio_messages(n: int, downstream: bool) -> list[bytes]:
    chunks = [base64.b64encode(pcm(AUDIO_PCM_BYTES, s)).decode() for s in range(8)]
    out = []
    for i in range(n):
        data = chunks[i % len(chunks)]
        msg: dict[str, Any]
        if downstream:
            part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
            msg = {"serverContent": {"modelTurn": {"parts": [part]}}}
        else:
            msg = {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": data}}}
        out.append(json.dumps(msg, separators=(",", ":")).encode())
    return out


# --- server (separate process) ------------------------------------------------------------
def serve() -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    streams = {
        "small": small_messages(N_SMALL),
        "audio": audio_messages(N_AUDIO, downstream=True),
    }

    async def handler(ws: ServerConnection) -> None:
        async for command in ws:
            op, _, arg = str(command).partition(" ")
            if op == "down":
                for msg in streams[arg]:
                    await ws.send(msg)
                await ws.send("done")
            elif op == "up":
                n = 0
                async for frame in ws:
                    if frame == "end":
                        break
                    n += 1
                await ws.send(f"done {n}")
            elif op == "echo":
                async for frame in ws:
                    if frame == "end":
                        break
                    await ws.send(frame)

    async def main() -> None:
        async with ws_serve(
            handler, "127.0.0.1", 0, compression="deflate", max_size=None
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(port, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def start_server() -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, __file__, "--serve"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    pin(proc.pid, 1)
    return proc, port


# --- client ---------------------------------------------------------------------------------
class Wire:
    """Counts the bytes a connection reads from and writes to its socket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.read = 0
        self.written = 0
        transport: Any = ws.transport
        write, received = transport.write, ws.data_received

        def counting_write(data: bytes | bytearray | memoryview) -> None:
            self.written += len(data)
            write(data)

        def counting_received(data: bytes) -> None:
            self.read += len(data)
            received(data)

        transport.write = counting_write
        ws.data_received = counting_received  # type: ignore[method-assign]


async def down(ws: ClientConnection, wire: Wire, kind: str, n: int) -> tuple[float, float]:
    """Client CPU us and wire bytes per message, server -> client."""
    read0 = wire.read
    cpu0 = time.process_time()
    await ws.send(f"down {kind}")
    got = 0
    while True:
        msg = await ws.recv()
        if msg == "done":
            break
        got += 1
    cpu = time.process_time() - cpu0
    assert got == n, (got, n)
    return cpu / n * 1e6, (wire.read - read0) / n


async def up(ws: ClientConnection, wire: Wire, msgs: list[bytes]) -> tuple[float, float]:
    """Client CPU us and wire bytes per message, client -> server."""
    written0 = wire.written
    cpu0 = time.process_time()
    await ws.send("up")
    for msg in msgs:
        await ws.send(msg)
    await ws.send("end")
    reply = await ws.recv()
    cpu = time.process_time() - cpu0
    assert reply == f"done {len(msgs)}", reply
    return cpu / len(msgs) * 1e6, (wire.written - written0) / len(msgs)


async def echo(ws: ClientConnection, msg: bytes) -> float:
    """Median round-trip time in microseconds."""
    await ws.send("echo")
    rtts = []
    for _ in range(N_ECHO):
        t0 = time.perf_counter()
        await ws.send(msg)
        await ws.recv()
        rtts.append(time.perf_counter() - t0)
    await ws.send("end")
    return statistics.median(rtts) * 1e6


async def run(port: int, compression: str | None) -> dict[str, tuple[float, float]]:
    uri = f"ws://127.0.0.1:{port}"
    up_audio = audio_messages(N_AUDIO, downstream=False)
    small = small_messages(1)[0]
    results: dict[str, list[tuple[float, float]]] = {}
    async with connect(uri, compression=compression, max_size=None, proxy=None) as ws:
        negotiated = ws.response is not None and "permessage-deflate" in str(
            ws.response.headers.get("Sec-WebSocket-Extensions", "")
        )
        assert negotiated == (compression is not None)
        wire = Wire(ws)
        for i in range(REPEATS + 1):  # first round is a warm-up
            rows = {
                "small down": await down(ws, wire, "small", N_SMALL),
                "audio down": await down(ws, wire, "audio", N_AUDIO),
                "audio up": await up(ws, wire, up_audio),
                "echo rtt": (await echo(ws, small), 0.0),
            }
            if i:
                for k, v in rows.items():
                    results.setdefault(k, []).append(v)
    return {
        k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v))
        for k, v in results.items()
    }


def codec_us() -> None:
    """permessage-deflate's codec alone, as websockets configures it (server and client
    windows of 2**12, memLevel 5, context takeover): us per message and compressed size."""
    print("deflate codec alone, in process (us per message, median of 7)")
    print(f"{'message':<8}{'raw B':>8}{'deflated B':>12}{'compress us':>13}{'inflate us':>12}")
    for name, msgs in (
        ("small", small_messages(N_SMALL)),
        ("audio", audio_messages(N_AUDIO, downstream=True)),
    ):

        def compress_all(msgs: list[bytes] = msgs) -> list[bytes]:
            c = zlib.compressobj(wbits=-12, memLevel=5)
            return [(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in msgs]

        packed = compress_all()

        def inflate_all(packed: list[bytes] = packed) -> None:
            d = zlib.decompressobj(wbits=-12)
            for p in packed:
                d.decompress(p + b"\x00\x00\xff\xff")

        t_c = statistics.median(timeit.repeat(compress_all, number=1, repeat=7))
        t_d = statistics.median(timeit.repeat(inflate_all, number=1, repeat=7))
        raw = statistics.mean(map(len, msgs))
        size = statistics.mean(map(len, packed))
        n = len(msgs)
        print(f"{name:<8}{raw:>8.0f}{size:>12.0f}{t_c / n * 1e6:>13.1f}{t_d / n * 1e6:>12.1f}")


async def bench(port: int) -> None:
    small = small_messages(N_SMALL)
    audio = audio_messages(1, downstream=True)[0]
    print(
        f"small message {statistics.mean(map(len, small)):.0f} B (mean), "
        f"audio message {len(audio)} B ({AUDIO_PCM_BYTES} B PCM as base64)"
    )
    # Alternate the two settings so that drift in the machine's speed hits both alike.
    by_setting: dict[str, list[dict[str, tuple[float, float]]]] = {"None": [], "deflate": []}
    for _ in range(2):
        by_setting["None"].append(await run(port, None))
        by_setting["deflate"].append(await run(port, "deflate"))
    print(f"client CPU us per message and wire bytes per message (median of {2 * REPEATS})")
    print(
        f"{'case':<12}{'off: CPU us':>13}{'off: bytes':>12}{'deflate: CPU us':>17}"
        f"{'deflate: bytes':>16}"
    )
    for case in ("small down", "audio down", "audio up"):
        cells = []
        for setting in ("None", "deflate"):
            cells.append(statistics.median(r[case][0] for r in by_setting[setting]))
            cells.append(statistics.median(r[case][1] for r in by_setting[setting]))
        print(f"{case:<12}{cells[0]:>13.1f}{cells[1]:>12.0f}{cells[2]:>17.1f}{cells[3]:>16.0f}")
    off = statistics.median(r["echo rtt"][0] for r in by_setting["None"])
    on = statistics.median(r["echo rtt"][0] for r in by_setting["deflate"])
    print(f"{'echo rtt us':<12}{off:>13.1f}{'':>12}{on:>17.1f}")
    print(
        f"  small down: {N_SMALL} msgs; audio: {N_AUDIO} msgs each way; "
        f"echo: median of {N_ECHO} round trips of one small message"
    )


def main() -> None:
    if "--serve" in sys.argv:
        serve()
        return
    print(f"Python {sys.version.split()[0]}, websockets {websockets.version.version}")
    pin(os.getpid(), 0)
    codec_us()
    print()
    proc, port = start_server()
    try:
        asyncio.run(bench(port))
    finally:
        proc.terminate()
        proc.wait()
    print()
    print("import time, ms (cumulative, -X importtime, median of 9 fresh interpreters)")
    for mod, ms in import_times(["websockets.asyncio.client"]).items():
        print(f"  {mod:<26}{ms:>8.1f}")


if __name__ == "__main__":
    main()
