"""picows against websockets as the Live transport: the floor each allows (issue 13).

``picows`` is a Cython WebSocket library for asyncio with a callback API. The question
is whether putting it behind the transport seam (``WebSocketSettings.connector``) could
lower api_gemini's per-chunk CPU by 20 % or more. The emulator runs over TLS in its own
process, unpaced, one token per chunk; in this process, interleaved:

* ``websockets floor``: ``websockets`` + ``orjson``, ``await ws.recv()`` per frame (the
  harness's floor);
* ``picows callbacks``: ``picows`` + ``orjson`` in ``on_ws_frame``: the least work any
  client can do, but no ``await`` per frame, which api_gemini's reader needs;
* ``picows + async recv``: the same frames handed to an ``await recv()`` through a
  deque and a future, as an adapter behind the seam would have to;
* ``api_gemini PicowsWire, sink``: api_gemini's own picows transport
  (``PicowsConnector``), each frame pushed to a sink as the ``Wire`` seam does.

All over asyncio's TLS, as the websockets floor (picows would otherwise use aiofastnet's
TLS when installed, a dependency of picows 2.x; api_gemini's wire uses asyncio's, so that
the client's SSL context and event loop apply as over websockets).

Per chunk: client CPU (``time.process_time``) of a ``N``-chunk turn minus a 1-chunk
turn, over ``N - 1``; median of ``RUNS``. (The harness runs every client in its own
process; here all share one, which is fair between these three, not to the harness.)

Run: .venv/bin/python benchmarks/decisions/bench_picows.py
Needs the ``picows`` extra (in the ``dev`` and ``bench`` extras).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import ssl
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
#: The TLS emulator child process of benchmarks/pool_ttfc.py.
start_emulator: Any = importlib.import_module("pool_ttfc").start_emulator

#: Imported by name: picows is not a dependency of the package (nor typed for mypy here).
picows: Any = importlib.import_module("picows")
DATA_FRAMES = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY)

MODEL = "gemini-3.8-live"
#: The emulator, like the service, refuses a Live connection without a key.
KEY = "bench-key"
HEADERS = [("x-goog-api-key", KEY)]
N = 2000
RUNS = 9


def setup(tokens: int) -> bytes:
    # Today's Live models answer in AUDIO only (TEXT: close 1007).
    config = {"responseModalities": ["AUDIO"], "maxOutputTokens": tokens}
    return orjson.dumps({"setup": {"model": f"models/{MODEL}", "generationConfig": config}})


TURN = orjson.dumps(
    {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "Tell me a long story."}]}],
            "turnComplete": True,
        }
    }
)


def url_of(base_url: str) -> str:
    host = base_url.split("://", 1)[1].rstrip("/")
    return (
        f"wss://{host}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )


async def websockets_turn(url: str, context: ssl.SSLContext, tokens: int) -> int:
    """One turn: connect, setup, request, frames to turnComplete, close."""
    chunks = 0
    async with connect(
        url, ssl=context, compression=None, max_size=2**24, additional_headers=HEADERS
    ) as ws:
        await ws.send(setup(tokens), text=True)
        await ws.recv(decode=False)
        await ws.send(TURN, text=True)
        while True:
            content = orjson.loads(await ws.recv(decode=False)).get("serverContent")
            if content is None:
                continue
            if "modelTurn" in content:
                chunks += 1  # an audio chunk (today's answers are audio)
            if content.get("turnComplete"):
                return chunks


class _Callbacks(picows.WSListener):  # type: ignore[misc]
    """Counts chunks in the frame callback; ``done`` resolves at turnComplete."""

    def __init__(self) -> None:
        self.chunks = 0
        self.stage = 0
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type not in DATA_FRAMES:  # the emulator sends binary frames
            return
        message = orjson.loads(frame.get_payload_as_bytes())
        if self.stage == 0:
            self.stage = 1
            self.ready.set_result(None)
            return
        content = message.get("serverContent")
        if content is None:
            return
        if "modelTurn" in content:
            self.chunks += 1  # an audio chunk
        if content.get("turnComplete") and not self.done.done():
            self.done.set_result(self.chunks)


async def picows_callback_turn(url: str, context: ssl.SSLContext, tokens: int) -> int:
    transport, listener = await picows.ws_connect(
        _Callbacks, url, ssl_context=context, extra_headers=HEADERS, use_aiofastnet=False
    )
    try:
        transport.send(picows.WSMsgType.TEXT, setup(tokens))
        await listener.ready
        transport.send(picows.WSMsgType.TEXT, TURN)
        return int(await listener.done)
    finally:
        transport.send_close()
        transport.disconnect()
        await transport.wait_disconnected()


class _Queue(picows.WSListener):  # type: ignore[misc]
    """Frames handed to ``await recv()``: a deque and one waiter, as a seam adapter."""

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type not in DATA_FRAMES:  # the emulator sends binary frames
            return
        self.frames.append(frame.get_payload_as_bytes())
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self) -> bytes:
        frames = self.frames
        while not frames:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return frames.popleft()


async def picows_recv_turn(url: str, context: ssl.SSLContext, tokens: int) -> int:
    transport, listener = await picows.ws_connect(
        _Queue, url, ssl_context=context, extra_headers=HEADERS, use_aiofastnet=False
    )
    chunks = 0
    try:
        transport.send(picows.WSMsgType.TEXT, setup(tokens))
        await listener.recv()
        transport.send(picows.WSMsgType.TEXT, TURN)
        while True:
            content = orjson.loads(await listener.recv()).get("serverContent")
            if content is None:
                continue
            if "modelTurn" in content:
                chunks += 1  # an audio chunk (today's answers are audio)
            if content.get("turnComplete"):
                return chunks
    finally:
        transport.send_close()
        transport.disconnect()
        await transport.wait_disconnected()


async def api_wire_turn(url: str, context: ssl.SSLContext, tokens: int) -> int:
    """api_gemini's own picows Wire (``PicowsConnector``), frames pushed to a sink."""
    from api_gemini.settings import ClientSettings
    from api_gemini.websocket.transport import Endpoint
    from api_gemini.websocket.transport_picows import PicowsConnector

    settings = ClientSettings.resolve(KEY, base_url="https://127.0.0.1")
    endpoint = Endpoint(url=url, headers=tuple(HEADERS), ssl=context, host="127.0.0.1",
                        constrained=False)  # fmt: skip
    wire = await PicowsConnector()(endpoint, settings)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    done: asyncio.Future[int] = loop.create_future()
    chunks = 0

    def on_frame(data: bytes) -> None:
        nonlocal chunks
        content = orjson.loads(data).get("serverContent")
        if content is None:
            if not ready.done():
                ready.set_result(None)
            return
        if "modelTurn" in content:
            chunks += 1  # an audio chunk
        if content.get("turnComplete") and not done.done():
            done.set_result(chunks)

    wire.set_sink(on_frame, lambda info: None)
    try:
        await wire.send(setup(tokens))
        await ready
        await wire.send(TURN)
        return await done
    finally:
        await wire.close()


Turn = Callable[[str, ssl.SSLContext, int], Awaitable[int]]
CASES: dict[str, Turn] = {
    "websockets floor": websockets_turn,
    "picows callbacks": picows_callback_turn,
    "picows + async recv": picows_recv_turn,
    "api_gemini PicowsWire, sink": api_wire_turn,
}


async def measure(url: str, context: ssl.SSLContext) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for turn in CASES.values():  # warm-up
        await turn(url, context, N)
    for _ in range(RUNS):
        for name, turn in CASES.items():
            gc.collect()
            c0 = time.process_time()
            got = await turn(url, context, N)
            c1 = time.process_time()
            assert got == N, (name, got)
            gc.collect()
            c2 = time.process_time()
            await turn(url, context, 1)
            c3 = time.process_time()
            samples[name].append(((c1 - c0) - (c3 - c2)) / (N - 1) * 1e6)
    return samples


def main() -> None:
    """Start the TLS emulator, measure, print a table."""
    with tempfile.TemporaryDirectory() as folder:
        proc, base_url, ca = start_emulator(Path(folder))
        try:
            context = ssl.create_default_context(cafile=ca)
            samples = asyncio.run(measure(url_of(base_url), context))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    floor = statistics.median(samples["websockets floor"])
    print(f"{N} one-token chunks over TLS, median of {RUNS} interleaved runs")
    print("| client | µs per chunk | x websockets floor |")
    print("| --- | ---: | ---: |")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / floor:.2f}x |")


if __name__ == "__main__":
    main()
