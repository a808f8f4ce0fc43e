"""A slice of the fault matrix through the synchronous ``Client``: the same four surfaces
(WebSocket stream, Live session, SSE stream, unary call), the same typed errors, the
chunks before the fault exactly once and in order, and no thread, file descriptor or
socket left behind once the client is closed.

The emulator runs on its own loop in a thread, as a sync program's server would.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from api_gemini import Client
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    ReadError,
    RequestTimeoutError,
    ResponseParseError,
    ServiceUnavailableError,
    WebSocketConnectionError,
)
from api_gemini.settings import Timeouts, WebSocketSettings
from api_gemini.types import Content, GenerateContentRequest
from api_gemini.websocket import ModelTurn, OutputTranscription

KEY = "sync-matrix-key-SECRET"
LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"
WORDS = [f"w{i}" for i in range(12)]
PROMPT = "echo: " + " ".join(WORDS)
ANSWER = [w + " " for w in WORDS[:-1]] + [WORDS[-1]]
SURFACES = ("ws-stream", "live", "sse", "unary")

#: fault -> (error on ws-stream and live, error on sse, error on unary, chunks on streams)
ROWS: dict[str, tuple[type[Exception], type[Exception], type[Exception], int]] = {
    "close-1011-after-3": (DisconnectedError, ReadError, ReadError, 3),
    "malformed-after-3": (MessageParseError, ResponseParseError, ResponseParseError, 3),
    "http-503-retry-1": (
        WebSocketConnectionError,
        ServiceUnavailableError,
        ServiceUnavailableError,
        0,
    ),
    "nopong-after-3": (KeepaliveTimeoutError, RequestTimeoutError, RequestTimeoutError, 3),
}


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """An emulator on its own loop in a thread, for the module."""
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        async with Emulator(EmulatorConfig(tokens_per_second=400)) as emu:
            ready.put(emu.base_url)
            while not stop.is_set():
                await asyncio.sleep(0.005)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="sync-matrix-emulator")
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join(10)


def _drive(surface: str, client: Client, texts: list[str]) -> None:
    request = GenerateContentRequest(contents=[Content.user_text(PROMPT)])
    if surface == "ws-stream":
        with client.models().by_name(LIVE_MODEL).stream_generate_content_websocket(request) as s:
            for chunk in s:
                if chunk.text:
                    texts.append(chunk.text)
    elif surface == "live":
        with client.models().by_name(LIVE_MODEL).connect() as live:
            live.send_text(PROMPT)
            for event in live.receive_turn():
                if isinstance(event, ModelTurn | OutputTranscription) and event.text:
                    texts.append(event.text)
    elif surface == "sse":
        with client.models().by_name(HTTP_MODEL).stream_generate_content(request) as sse:
            for chunk in sse:
                if chunk.text:
                    texts.append(chunk.text)
    else:
        texts.append(client.models().by_name(HTTP_MODEL).generate_content(request).text)


def _held() -> tuple[set[int], int, int]:
    process = psutil.Process()
    threads = {t.ident for t in threading.enumerate() if t.ident is not None}
    return threads, process.num_fds(), len(process.net_connections(kind="inet"))


def _settle(before: tuple[set[int], int, int], timeout: float = 2.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        threads, fds, conns = _held()
        problems = []
        if threads - before[0]:
            problems.append(f"{len(threads - before[0])} more threads")
        if fds > before[1]:
            problems.append(f"{fds - before[1]} more fds")
        if conns > before[2]:
            problems.append(f"{conns - before[2]} more sockets")
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.005)


CELLS = [(fault, surface) for fault in ROWS for surface in SURFACES]


@pytest.mark.parametrize(("fault", "surface"), CELLS, ids=[f"{f}|{s}" for f, s in CELLS])
def test_sync_fault_matrix(fault: str, surface: str, emulator_url: str) -> None:
    ws_error, sse_error, unary_error, chunks = ROWS[fault]
    expected_error: Any = {"sse": sse_error, "unary": unary_error}.get(surface, ws_error)
    before = _held()
    texts: list[str] = []
    start = time.perf_counter()
    with (
        Client(
            KEY,
            base_url=emulator_url,
            headers={FAULT_HEADER: fault},
            timeouts=Timeouts(connect=2, read=0.15, write=2, pool=2),
            websocket=WebSocketSettings(
                keepalive_interval=0.05, keepalive_timeout=0.2, close_timeout=0.1
            ),
        ) as client,
        pytest.raises(expected_error) as info,
    ):
        _drive(surface, client, texts)
    assert time.perf_counter() - start < 2.0
    assert texts == (ANSWER[:chunks] if surface != "unary" else [])
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert not _settle(before)
