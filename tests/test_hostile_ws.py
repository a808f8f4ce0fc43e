"""Hostile Live servers below the JSON layer: frames that break the WebSocket protocol,
messages that never end, floods of pings, deeply nested JSON, and a paused consumer
under an endless flood from the emulator.

The JSON-level cases (non-UTF-8 text, JSON that is not an object, wrong types, unknown
keys, one oversized frame, content before ``setupComplete``) are in
``test_ws_connection.py`` and ``test_ws_protocol.py``; this file adds what needs a
server writing raw frames, and the emulator's ``endless`` plan.
"""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    DisconnectedError,
    MessageParseError,
    MessageTooBigError,
    ProtocolViolationError,
    StreamPausedTooLongError,
    WebSocketConnectionError,
    WebSocketError,
)
from api_gemini.settings import WebSocketSettings
from api_gemini.websocket import LiveSession, ModelTurn, Stream
from conftest import LeakCheck
from helpers import Script, chunk, frame, raw_live_server

KEY = "hostile-ws-key-SECRET"
LIVE_MODEL = "gemini-3.8-live"
LIMIT = 64 * 1024


def client(url: str, **ws: object) -> AsyncClient:
    settings = {"max_message_size": LIMIT, "close_timeout": 0.05, "open_timeout": 2.0, **ws}
    return AsyncClient(KEY, base_url=url, websocket=WebSocketSettings(**settings))  # type: ignore[arg-type]


async def outcome(url: str, **ws: object) -> tuple[list[str], BaseException | None]:
    texts: list[str] = []
    try:
        async with client(url, **ws) as c, asyncio.timeout(5):
            stream = await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
            async with stream:
                async for piece in stream:
                    texts.append(piece.text)
    except Exception as exc:
        return texts, exc
    return texts, None


async def _fragments_forever(writer: asyncio.StreamWriter) -> None:
    writer.write(chunk("a"))
    writer.write(frame(b'{"serverContent":{"modelTurn":', fin=False))
    while True:
        writer.write(frame(b"x" * 4096, opcode=0x0, fin=False))
        await writer.drain()


async def _announce_huge(writer: asyncio.StreamWriter) -> None:
    writer.write(chunk("a"))
    writer.write(bytes([0x82, 127]) + (2**62).to_bytes(8, "big") + b"{")


def _then(data: bytes) -> Script:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk("a"))
        writer.write(data)

    return script


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (_fragments_forever, MessageTooBigError),
        (_announce_huge, MessageTooBigError),
        (_then(frame(b'{"x":1}', mask=True)), ProtocolViolationError),  # servers must not mask
        (_then(frame(b"{}", opcode=0x3)), ProtocolViolationError),  # a reserved opcode
        (_then(frame(b"{}", opcode=0x0)), ProtocolViolationError),  # a continuation of nothing
        (_then(bytes([0xF2, 2]) + b"{}"), ProtocolViolationError),  # reserved bits set
        (_then(frame(b"p" * 200, opcode=0x9)), ProtocolViolationError),  # a ping over 125 bytes
        (_then(frame(b"p", opcode=0x9, fin=False)), ProtocolViolationError),  # fragmented ping
        (_then(frame((999).to_bytes(2, "big"), opcode=0x8)), ProtocolViolationError),  # bad code
        (
            _then(frame(b"\x03\xf3\xff\xfe", opcode=0x8)),
            DisconnectedError,
        ),  # 1007  # reason not UTF-8
        (_then(frame(b"\x03", opcode=0x8)), ProtocolViolationError),  # a 1-byte close payload
        (_then(frame(b"[" * 50_000)), MessageParseError),  # nested beyond any decoder
        (_then(frame(b'{"serverContent":' + b'{"a":' * 10_000)), MessageParseError),
    ],
    ids=[
        "endless fragments",
        "2^62-byte frame",
        "masked frame",
        "reserved opcode",
        "orphan continuation",
        "reserved bits",
        "oversized ping",
        "fragmented ping",
        "close code 999",
        "close reason not UTF-8",
        "1-byte close",
        "deep array",
        "deep object",
    ],
)
async def test_protocol_breaking_frames_are_typed_errors(
    script: Script, error: type[WebSocketError], leak_check: LeakCheck
) -> None:
    async with raw_live_server(script) as url:
        start = time.perf_counter()
        texts, exc = await outcome(url)
        elapsed = time.perf_counter() - start
    assert texts == ["a"]  # the chunk before the bad frame, once
    assert isinstance(exc, error), repr(exc)
    assert KEY not in str(exc) and KEY not in repr(exc)
    assert elapsed < 2.0
    await leak_check.assert_clean()


async def test_a_refused_upgrade_with_a_deeply_nested_body() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error":' * 5000
        writer.write(
            b"HTTP/1.1 500 X\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        with pytest.raises(WebSocketConnectionError) as info:
            async with client(url) as c:
                await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
    assert info.value.http_status == 500


async def test_a_ping_flood_does_not_stop_the_answer() -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        for i in range(2000):
            writer.write(frame(str(i).encode(), opcode=0x9))
            if i % 100 == 0:
                writer.write(chunk(f"{i // 100},"))
                await writer.drain()
        writer.write(frame(b'{"serverContent":{"turnComplete":true}}'))

    async with raw_live_server(script) as url:
        texts, exc = await outcome(url)
    assert exc is None
    assert [t for t in texts if t] == [f"{i}," for i in range(20)]


@pytest.mark.parametrize("surface", ["ws-stream", "live"])
async def test_a_paused_consumer_under_an_endless_flood(
    surface: str, emulator: Emulator, leak_check: LeakCheck
) -> None:
    """The emulator's ``endless`` plan: the buffer stays within its bounds, the emulator
    is pushed back, memory stays flat, and the pause ends with its typed error."""
    leak_check.rebase()
    process = psutil.Process()
    settings = WebSocketSettings(
        buffer_max_chunks=64, buffer_max_bytes=64 * 1024, pause_timeout=0.3
    )
    async with AsyncClient(
        KEY, base_url=emulator.base_url, headers={FAULT_HEADER: "endless"}, websocket=settings
    ) as c:
        model = c.models.by_name(LIVE_MODEL)
        receiver: Stream | LiveSession
        first: list[str] = []
        if surface == "ws-stream":
            receiver = stream = await model.stream_generate_content_websocket("hi")
            first = [(await anext(stream)).text for _ in range(5)]
        else:
            receiver = session = await model.connect()
            await session.send_text("hi")
            while len(first) < 5:
                event = await anext(session)
                if isinstance(event, ModelTurn):
                    first.append(event.text)
        assert first == [f"{i}," for i in range(5)]
        rss = process.memory_info().rss
        await receiver.pause()
        sent = -1
        deadline = time.monotonic() + 3
        while emulator.stats.ws_messages_sent != sent:
            assert time.monotonic() < deadline, "the server was never pushed back"
            sent = emulator.stats.ws_messages_sent
            await asyncio.sleep(0.05)
        chunks, size = receiver.buffered
        assert chunks <= 64 and size <= 64 * 1024 + LIMIT
        assert process.memory_info().rss - rss < 32 * 1024 * 1024
        with pytest.raises(StreamPausedTooLongError):
            await anext(receiver)
    await leak_check.assert_clean()
    assert emulator.live_session_count == 0
