"""Write-side stalls (issue 12, item 1) and what a finished stream leaves behind (item 5).

A peer that completes setup and then stops reading (a wedged server, a network that
drops our direction) is built on a real socket by :func:`helpers.raw_live_server`
with ``read_after=False``: its socket buffers fill and TCP pushes back on the client.
Every write must then end within a stated bound with a typed error: a send within
``write_timeout``, the keepalive within ``keepalive_interval + keepalive_timeout``
(while audio is being sent), ``close()`` within ``close_timeout``; a ping flood whose
pongs are never read must not grow the client.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import psutil
import pytest

from api_gemini import AsyncClient, PoolSettings
from api_gemini.emulator import Emulator
from api_gemini.errors import (
    DisconnectedError,
    GeminiError,
    KeepaliveTimeoutError,
    WriteTimeoutError,
)
from api_gemini.settings import WebSocketSettings
from api_gemini.websocket import LiveSession
from conftest import LeakCheck
from helpers import eventually, frame, raw_live_server

KEY = "write-stall-key-SECRET"
LIVE_MODEL = "gemini-3.8-live"
AUDIO = b"\x00\x01" * (128 * 1024)  # 256 KiB of PCM: a few of them fill every buffer
#: A bound on a hang, not a timing assertion: the bounds under test are well below it.
HANG = 20.0


def client(url: str, **ws: object) -> AsyncClient:
    settings = {"close_timeout": 0.2, "open_timeout": 5.0, "keepalive_interval": None, **ws}
    return AsyncClient(KEY, base_url=url, websocket=WebSocketSettings(**settings))  # type: ignore[arg-type]


def write_backlog(session: LiveSession) -> int:
    """Bytes waiting in the transport's write buffer (private path, read in one place)."""
    return int(session._conn._ws.connection.transport.get_write_buffer_size())  # type: ignore[attr-defined]


async def _nothing(writer: asyncio.StreamWriter) -> None:
    """The hostile server's script: nothing more after setup (it just stops reading)."""


async def test_a_send_to_a_peer_that_stopped_reading_fails_typed(leak_check: LeakCheck) -> None:
    async with (
        raw_live_server(
            _nothing, wait_for_request=False, read_after=False, receive_buffer=4096
        ) as url,
        client(url, write_timeout=0.3) as c,
    ):
        session = await c.models.by_name(LIVE_MODEL).connect()
        sends = 0
        with pytest.raises(WriteTimeoutError) as info:
            async with asyncio.timeout(HANG):
                while True:
                    await session.send_audio(AUDIO)
                    sends += 1
        assert sends >= 1  # the first sends were taken; then the buffers were full
        error = info.value
        assert isinstance(error, DisconnectedError) and isinstance(error, TimeoutError)
        assert error.close_code == 1006 and error.retryable
        assert KEY not in str(error)
        # The receiver is not left waiting: it hears of the same stall.
        with pytest.raises(WriteTimeoutError):
            async with asyncio.timeout(HANG):
                async for _ in session:  # setupComplete, then the error
                    pass
        async with asyncio.timeout(HANG):
            await session.close()
    await leak_check.assert_clean()


async def test_keepalive_detects_a_peer_that_stopped_reading_while_audio_is_sent(
    leak_check: LeakCheck,
) -> None:
    """The documented dead-peer bound holds while the caller streams audio: the ping's
    own write counts against ``keepalive_timeout`` (sends have no bound of their own here)."""
    async with (
        raw_live_server(
            _nothing, wait_for_request=False, read_after=False, receive_buffer=4096
        ) as url,
        client(url, write_timeout=None, keepalive_interval=0.2, keepalive_timeout=0.5) as c,
    ):
        session = await c.models.by_name(LIVE_MODEL).connect()

        async def talk() -> None:
            while True:
                await session.send_audio(AUDIO)

        talker = asyncio.create_task(talk())
        with pytest.raises(KeepaliveTimeoutError) as info:
            async with asyncio.timeout(HANG):
                async for _ in session:
                    pass
        assert isinstance(info.value, TimeoutError)
        async with asyncio.timeout(HANG):
            await asyncio.wait([talker])
        assert isinstance(talker.exception(), GeminiError), talker.exception()
        await session.close()
    await leak_check.assert_clean()


async def test_close_is_bounded_by_close_timeout_whatever_the_write_buffer_holds(
    leak_check: LeakCheck,
) -> None:
    async with (
        raw_live_server(
            _nothing, wait_for_request=False, read_after=False, receive_buffer=4096
        ) as url,
        client(url, write_timeout=None, close_timeout=0.2) as c,
    ):
        session = await c.models.by_name(LIVE_MODEL).connect()
        # One message far larger than every buffer on the way: it never drains.
        sender = asyncio.create_task(session.send_audio(AUDIO * 32))
        await eventually(lambda: write_backlog(session) > 0)
        async with asyncio.timeout(HANG):  # before the fix: blocked for good in drain()
            await session.close()
        async with asyncio.timeout(HANG):
            await asyncio.wait([sender])
        assert isinstance(sender.exception(), GeminiError), sender.exception()
    await leak_check.assert_clean()


async def test_a_ping_flood_whose_pongs_are_never_read_is_dropped(leak_check: LeakCheck) -> None:
    """Each ping makes the client write a pong; a peer that never reads them used to
    grow the client by 120-180 MB in 4 s. Now the unread pongs are capped."""
    process = psutil.Process()
    rss = process.memory_info().rss

    async def flood(writer: asyncio.StreamWriter) -> None:
        ping = frame(b"p" * 125, opcode=0x9)
        while True:
            writer.write(ping * 64)
            await writer.drain()

    async with (
        raw_live_server(
            flood, wait_for_request=False, read_after=False, receive_buffer=4096
        ) as url,
        client(url, write_timeout=None) as c,
    ):
        session = await c.models.by_name(LIVE_MODEL).connect()
        with pytest.raises(WriteTimeoutError) as info:
            async with asyncio.timeout(HANG):
                async for _ in session:
                    pass
        assert "pong" in info.value.reason
        assert process.memory_info().rss - rss < 32 * 1024 * 1024
        await session.close()
    await leak_check.assert_clean()


async def test_a_warm_connection_whose_keepalive_times_out_is_discarded(
    leak_check: LeakCheck,
) -> None:
    """Keepalive and write timeouts are ``TimeoutError`` now: the pool's watcher must not
    take one for its own idle deadline (it would wait on a dead connection for good)."""
    async with (
        raw_live_server(_nothing, wait_for_request=False) as url,  # never answers pings
        AsyncClient(
            KEY,
            base_url=url,
            websocket=WebSocketSettings(
                keepalive_interval=0.05, keepalive_timeout=0.1, close_timeout=0.2
            ),
            pool=PoolSettings(refill=False),
        ) as c,
    ):
        assert await c.models.by_name(LIVE_MODEL).prewarm(count=1) == 1
        async with asyncio.timeout(HANG):
            metrics = await c.pool.wait_until(lambda m: m.idle == 0)
        assert metrics.discarded == {"server_closed": 1}
    await leak_check.assert_clean()


@pytest.mark.parametrize("ending", ["completed", "cancelled"])
async def test_a_finished_stream_is_not_kept_alive_by_its_idle_timer(
    ending: str, emulator: Emulator
) -> None:
    """Issue 12, item 5: the idle timer (``stream_idle_timeout``, 120 s) held every
    closed one-shot stream, its connection and its socket objects until it fired."""
    async with AsyncClient(KEY, base_url=emulator.base_url) as c:
        model = c.models.by_name(LIVE_MODEL)
        stream = await model.stream_generate_content_websocket("hello there")
        async with stream:
            if ending == "completed":
                async for _ in stream:
                    pass
        alive = weakref.ref(stream)
        connection = weakref.ref(stream._conn)
        del stream
        for _ in range(3):
            gc.collect()
            if alive() is None and connection() is None:
                break
            await asyncio.sleep(0)  # let the loop run the callbacks already due
        assert alive() is None
        assert connection() is None
