"""Health of connections, sessions and warm pool connections, read at any time: state,
ping round trip, time since the last message, age, the goAway deadline, traffic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api_gemini import AsyncClient, PoolSettings, WebSocketSettings
from api_gemini.emulator import Emulator
from api_gemini.errors import SessionStateError
from api_gemini.settings import ClientSettings
from api_gemini.websocket import (
    GoAway,
    LiveConnection,
    Reconnected,
    SessionResumptionUpdate,
    SessionState,
    TurnComplete,
)
from api_gemini.websocket.live_types import LiveSetup

KEY = "health-key-SECRET-5151"
LIVE_MODEL = "gemini-3.8-live"
RESUMABLE: dict[str, Any] = {"sessionResumption": {}}


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(KEY, base_url=emulator.base_url, pool=PoolSettings(refill=False)) as c:
        yield c


async def test_session_health_through_a_conversation(
    emulator: Emulator, client: AsyncClient
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    async with await model.connect(RESUMABLE) as session:
        start = session.health()
        assert start.state is SessionState.READY
        assert start.latency is None  # no ping answered yet
        assert start.messages_out == 1  # setup
        # setupComplete, and the first handle if it came in the same read: frames are
        # pushed (and counted) as they arrive, with no reader task to wait for.
        assert start.messages_in in (1, 2)
        assert start.since_last_message is not None
        assert start.age >= start.since_last_message >= 0

        rtt = await session.ping()
        assert rtt > 0
        assert session.health().latency == rtt

        await session.send_text("echo: one two three")
        async with asyncio.timeout(5):
            async for event in session:
                if isinstance(event, TurnComplete):
                    break
        after = session.health()
        assert after.messages_out == 2
        assert after.bytes_out > start.bytes_out
        # setupComplete, a handle, three chunks, generationComplete, turnComplete (+usage)
        assert after.messages_in >= 7
        assert after.bytes_in > start.bytes_in
        assert after.age > start.age
        assert after.go_away_in is None

        await emulator.send_go_away(20.0)
        async with asyncio.timeout(5):
            async for event in session:
                if isinstance(event, GoAway):
                    break
        first = session.health().go_away_in
        assert first is not None
        assert 19.0 < first <= 20.0
        second = session.health().go_away_in
        assert second is not None
        assert second <= first  # a deadline, counting down

        asked = time.monotonic()
        await session.reconnect()
        moved = session.health()
        assert moved.go_away_in is None
        # The new connection's age: it opened after the call (comparing it with the old
        # connection's age failed under load, when the reconnect took longer).
        assert moved.age <= time.monotonic() - asked
        assert moved.latency is None
        assert moved.messages_out == 1  # only its setup so far
        assert await anext(session) == Reconnected(cause="explicit")
    closed = session.health()
    assert closed.state is SessionState.CLOSED


async def test_a_connection_closed_under_us_says_so_before_anyone_reads(
    emulator: Emulator,
) -> None:
    settings = ClientSettings.resolve(KEY, base_url=emulator.base_url)
    conn, _ = await LiveConnection.open(settings, LiveSetup(model=f"models/{LIVE_MODEL}"))
    try:
        assert conn.is_open
        await emulator.close_live_sessions(1011)
        # Nothing has called recv(): the protocol still thinks it is READY, the socket
        # knows better, and health reports the socket's view.
        assert conn.protocol.state is SessionState.READY
        assert conn.health().state in (SessionState.CLOSING, SessionState.CLOSED)
        assert not conn.is_open
        with pytest.raises(SessionStateError):
            await conn.ping()
    finally:
        await conn.close()


async def test_a_pooled_stream_reports_the_age_of_its_connection(
    emulator: Emulator, client: AsyncClient
) -> None:
    model = client.models.by_name(LIVE_MODEL)
    await model.prewarm(count=1)
    (idle,) = client.pool.health()
    assert idle.state is SessionState.READY
    assert (idle.messages_out, idle.messages_in) == (1, 1)
    warmed_at = time.monotonic()
    stream = await model.stream_generate_content_websocket("echo: aged")
    async with stream:
        chunks = [c async for c in stream]
    assert "".join(c.text for c in chunks) == "aged"
    health = stream.health()
    assert stream.metrics.from_pool
    assert health.age >= time.monotonic() - warmed_at
    assert health.messages_out == 2  # setup while warming, then the request
    assert client.pool.health() == []


async def test_keepalive_measures_latency_by_itself(emulator: Emulator) -> None:
    settings = WebSocketSettings(keepalive_interval=0.02, keepalive_timeout=1.0)
    async with (
        AsyncClient(KEY, base_url=emulator.base_url, websocket=settings) as client,
        await client.models.by_name(LIVE_MODEL).connect(RESUMABLE) as session,
    ):
        async with asyncio.timeout(5):
            async for event in session:
                if isinstance(event, SessionResumptionUpdate):
                    break
            while session.health().latency is None:
                await asyncio.sleep(0.01)  # the keepalive's ping is not ours to await
        latency = session.health().latency
        assert latency is not None
        assert 0 < latency < 1.0
