"""Reconnection with session resumption against the emulator: explicit
``session.reconnect()`` after goAway or a drop, the opt-in ReconnectPolicy (drops
mid-turn, goAway between turns, the connection lifetime), fatal codes never retried,
giving up, sends made while reconnecting, and closing in the middle of it all.

The emulator keeps each conversation by handle and answers the prompt ``recall`` with
the earlier user turns, so a right answer after a reconnect proves that the server
resumed the same conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from api_gemini import AsyncClient, ReconnectPolicy
from api_gemini.emulator import Emulator
from api_gemini.emulator.faults import FaultPlan
from api_gemini.errors import (
    ConfigurationError,
    DisconnectedError,
    ReconnectFailedError,
    SessionStateError,
    WebSocketConnectionError,
)
from api_gemini.settings import WebSocketSettings
from api_gemini.websocket import (
    GoAway,
    LiveEvent,
    LiveSession,
    ModelTurn,
    OutputTranscription,
    Reconnected,
    SessionResumptionUpdate,
    TurnComplete,
)
from api_gemini.websocket.connection import LiveConnection
from helpers import eventually, our_tasks

MakeEmulator = Callable[..., Awaitable[Emulator]]
KEY = "reconnect-key-SECRET-777"
LIVE_MODEL = "gemini-3.8-live"
RESUMABLE: dict[str, Any] = {"sessionResumption": {}}
QUICK = ReconnectPolicy(initial_backoff=0.01, max_backoff=0.05)
WAIT = 5.0


def text_of(events: list[LiveEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ModelTurn | OutputTranscription))


async def events_until(session: LiveSession, stop: Callable[[LiveEvent], bool]) -> list[LiveEvent]:
    """Events up to and including the first one ``stop`` accepts."""
    events: list[LiveEvent] = []
    async with asyncio.timeout(WAIT):
        async for event in session:
            events.append(event)
            if stop(event):
                return events
    raise AssertionError(f"the session ended before the awaited event: {events}")


async def finished_turn(session: LiveSession, prompt: str) -> list[LiveEvent]:
    """Send ``prompt``, read its turn, then the handle the server sends after it."""
    await session.send_text(prompt)
    events = await events_until(session, lambda e: isinstance(e, TurnComplete))
    events += await events_until(session, lambda e: isinstance(e, SessionResumptionUpdate))
    return events


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(KEY, base_url=emulator.base_url) as c:
        yield c


def live(client: AsyncClient) -> Any:
    return client.models.by_name(LIVE_MODEL)


# --------------------------------------------------------------------------- explicit


async def test_go_away_then_reconnect_continues_the_conversation(
    emulator: Emulator, client: AsyncClient
) -> None:
    async with await live(client).connect(RESUMABLE) as session:
        assert text_of(await finished_turn(session, "echo: alpha beta")) == "alpha beta"
        assert await emulator.send_go_away(30.0) == 1
        (go_away,) = await events_until(session, lambda e: isinstance(e, GoAway))
        assert isinstance(go_away, GoAway)
        assert go_away.time_left == 30.0
        health = session.health()
        assert health.go_away_in is not None
        assert 0 < health.go_away_in <= 30.0

        await session.reconnect()
        event = await anext(session)
        assert event == Reconnected(cause="explicit", attempt=1, turn_lost=False)
        assert session.metrics.reconnects == 1
        assert session.health().go_away_in is None  # the new connection has no deadline
        assert session.go_away is None
        assert (emulator.stats.ws_connections, emulator.stats.resumptions) == (2, 1)
        await eventually(lambda: emulator.live_session_count == 1)  # the old one closed

        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: alpha beta"


async def test_drop_without_policy_raises_with_the_handle_then_reconnect(
    emulator: Emulator, client: AsyncClient
) -> None:
    async with await live(client).connect(RESUMABLE) as session:
        await finished_turn(session, "echo: remember me")
        handle = session.resumption_handle
        assert handle is not None
        await emulator.close_live_sessions(1011, "Internal error encountered.")
        with pytest.raises(DisconnectedError) as caught:
            await events_until(session, lambda e: False)
        error = caught.value
        assert not isinstance(error, ReconnectFailedError)
        assert (error.close_code, error.resumption_handle, error.retryable) == (1011, handle, True)
        assert emulator.stats.ws_connections == 1  # nothing reconnected by itself
        with pytest.raises(SessionStateError):
            await session.send_text("too early")

        await session.reconnect()  # the same session object goes on
        event = await anext(session)
        assert isinstance(event, Reconnected)
        assert (event.cause, event.turn_lost) == ("explicit", False)
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: remember me"
        assert emulator.stats.resumptions == 1


async def test_reconnect_needs_a_handle_and_an_open_session(client: AsyncClient) -> None:
    session = await live(client).connect()
    with pytest.raises(SessionStateError, match="no resumption handle"):
        await session.reconnect()
    await session.close()
    with pytest.raises(SessionStateError, match="closed"):
        await session.reconnect()


async def test_an_unknown_handle_fails_the_reconnect_and_keeps_the_session(
    emulator: Emulator, client: AsyncClient
) -> None:
    async with await live(client).connect(RESUMABLE) as session:
        await finished_turn(session, "echo: keep")
        emulator.resumption_handles.clear()  # as if the handle had expired
        with pytest.raises(Exception, match="1007") as caught:
            await session.reconnect()
        assert getattr(caught.value, "close_code", None) == 1007
        assert session.metrics.reconnect_failures == 1
        # The old connection was never given up: the conversation goes on.
        await session.send_text("echo: still here")
        events = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(events) == "still here"


# --------------------------------------------------------------------------- policy


def test_policy_validation_and_backoff() -> None:
    with pytest.raises(ConfigurationError, match="never retried"):
        ReconnectPolicy(retry_on=frozenset({1011, 1008}))
    with pytest.raises(ConfigurationError):
        ReconnectPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        ReconnectPolicy(jitter=1.5)
    policy = ReconnectPolicy(initial_backoff=1.0, max_backoff=5.0, multiplier=2.0, jitter=0.5)
    assert [policy.delay(n, 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(1, 0.999) == pytest.approx(0.5005)
    assert policy.retries(None)  # no close frame: 1006
    assert not policy.retries(1007)
    assert not policy.retries(1000)


async def test_a_policy_needs_session_resumption(client: AsyncClient) -> None:
    with pytest.raises(ConfigurationError, match="session resumption"):
        await live(client).connect(None, reconnect=QUICK)


async def test_drop_mid_turn_with_a_policy_reconnects_and_continues(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=400)  # 64 tokens: ~160 ms of answer
    async with AsyncClient(KEY, base_url=emu.base_url) as client:
        session = await live(client).connect(RESUMABLE, reconnect=QUICK)
        async with session:
            await finished_turn(session, "echo: first turn")
            await session.send_text("Tell me a long story")
            await events_until(session, lambda e: isinstance(e, ModelTurn))
            await emu.close_live_sessions(1011, "Internal error encountered.")
            events = await events_until(session, lambda e: isinstance(e, Reconnected))
            reconnected = events[-1]
            assert isinstance(reconnected, Reconnected)
            assert (reconnected.cause, reconnected.close_code) == ("disconnected", 1011)
            assert reconnected.turn_lost  # the story was cut: the caller decides
            assert reconnected.unconfirmed_sends == 1  # the story's request, after the handle
            assert not any(isinstance(e, TurnComplete) for e in events)
            assert session.metrics.reconnects == 1
            assert (emu.stats.ws_connections, emu.stats.resumptions) == (2, 1)

            await session.send_text("recall")
            answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
            # The resumed context has the finished turn (the cut one was never stored).
            assert text_of(answer) == "echo: first turn"


async def test_receive_turn_ends_at_a_reconnect_that_lost_the_turn(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=400)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await finished_turn(session, "echo: one")
        await session.send_text("Tell me a long story")
        seen: list[LiveEvent] = []
        async with asyncio.timeout(WAIT):
            async for event in session.receive_turn():
                seen.append(event)
                if isinstance(event, ModelTurn) and sum(type(e) is ModelTurn for e in seen) == 1:
                    await emu.close_live_sessions(1011)
        assert isinstance(seen[-1], Reconnected)
        assert seen[-1].turn_lost


async def test_go_away_with_a_policy_reconnects_between_turns(
    emulator: Emulator, client: AsyncClient
) -> None:
    async with await live(client).connect(RESUMABLE, reconnect=QUICK) as session:
        await finished_turn(session, "echo: before the notice")
        await emulator.send_go_away(30.0)
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        assert [type(e) for e in events] == [GoAway, Reconnected]
        assert events[-1] == Reconnected(cause="go_away")
        await eventually(lambda: emulator.live_session_count == 1)
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: before the notice"


async def test_go_away_mid_turn_waits_for_the_turn_and_its_handle(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=400)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await session.send_text("Tell me a story")
        await events_until(session, lambda e: isinstance(e, ModelTurn))
        await emu.send_go_away(30.0)
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        kinds = [type(e) for e in events]
        # The answer finished on the old connection, its handle came, then the move.
        assert kinds.index(GoAway) < kinds.index(TurnComplete)
        assert kinds[-2:] == [SessionResumptionUpdate, Reconnected]
        assert sum(1 for e in events if isinstance(e, ModelTurn)) == 63  # 64 in all
        assert events[-1] == Reconnected(cause="go_away")
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "Tell me a story"


async def test_a_session_outlives_the_connection_lifetime(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(live_connection_lifetime=0.3, go_away_notice=0.2)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await finished_turn(session, "echo: across the cap")
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        assert events[-1] == Reconnected(cause="go_away")
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: across the cap"
        assert emu.stats.ws_close_codes.get(1011, 0) == 0  # we left before the cut


@pytest.mark.parametrize("code", [1007, 1008])
async def test_fatal_codes_are_never_retried(
    emulator: Emulator, client: AsyncClient, code: int
) -> None:
    policy = ReconnectPolicy(initial_backoff=0.0, max_attempts=5)
    async with await live(client).connect(RESUMABLE, reconnect=policy) as session:
        await finished_turn(session, "echo: hello")
        await emulator.close_live_sessions(code, "Request contains an invalid argument.")
        with pytest.raises(DisconnectedError) as caught:
            await events_until(session, lambda e: False)
        assert not isinstance(caught.value, ReconnectFailedError)
        assert caught.value.close_code == code
        assert caught.value.resumption_handle == session.resumption_handle
        assert session.metrics.reconnects == 0
        assert session.metrics.reconnect_failures == 0
        assert emulator.stats.ws_connections == 1


async def test_a_policy_gives_up_with_reconnect_failed_error(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator()
    policy = ReconnectPolicy(initial_backoff=0.01, max_attempts=2)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE, reconnect=policy) as session,
    ):
        await finished_turn(session, "echo: last words")
        handle = session.resumption_handle
        await emu.stop()  # closes with 1001, then refuses connections
        with pytest.raises(ReconnectFailedError) as caught:
            await events_until(session, lambda e: False)
        error = caught.value
        assert (error.close_code, error.attempts) == (1001, 2)
        assert isinstance(error.last_error, WebSocketConnectionError)
        assert error.__cause__ is error.last_error
        assert error.resumption_handle == handle
        assert session.metrics.reconnect_failures == 2
        assert KEY not in str(error)
        with pytest.raises(SessionStateError):
            await session.send_text("after the end")


# --------------------------------------------------------------------------- sends


async def test_sends_during_a_reconnect_wait_and_go_out_after(
    emulator: Emulator, client: AsyncClient
) -> None:
    policy = ReconnectPolicy(initial_backoff=0.05, jitter=0.0)
    async with await live(client).connect(RESUMABLE, reconnect=policy) as session:
        await finished_turn(session, "echo: queued context")
        await emulator.close_live_sessions(1011)
        # Sent while the connection is gone: it waits, then goes out on the new one.
        send = asyncio.create_task(session.send_text("recall"))
        events = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert send.done()
        await send
        kinds = [type(e) for e in events]
        assert kinds.index(Reconnected) < kinds.index(ModelTurn)
        assert text_of(events) == "echo: queued context"
        assert emulator.stats.live_turns == 2  # the waiting send went out exactly once


async def test_too_many_waiting_sends_are_refused(emulator: Emulator, client: AsyncClient) -> None:
    policy = ReconnectPolicy(initial_backoff=0.05, jitter=0.0, max_pending_sends=1)
    async with await live(client).connect(RESUMABLE, reconnect=policy) as session:
        await finished_turn(session, "echo: context")
        await emulator.close_live_sessions(1011)
        first = asyncio.create_task(session.send_text("echo: waits"))
        await asyncio.sleep(0)  # let it reach the queue
        with pytest.raises(SessionStateError, match="max_pending_sends"):
            await session.send_text("echo: refused")
        await first
        events = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(events) == "waits"


async def test_waiting_sends_fail_with_a_failed_reconnect(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    policy = ReconnectPolicy(initial_backoff=0.05, jitter=0.0, max_attempts=1)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE, reconnect=policy) as session,
    ):
        await finished_turn(session, "echo: context")
        await emu.stop()
        with pytest.raises(ReconnectFailedError):
            await session.send_text("never sent")


async def test_close_during_a_reconnect_leaves_nothing_behind(
    emulator: Emulator, client: AsyncClient
) -> None:
    before = our_tasks()
    policy = ReconnectPolicy(initial_backoff=30.0, jitter=0.0)
    session = await live(client).connect(RESUMABLE, reconnect=policy)
    await finished_turn(session, "echo: context")
    await emulator.close_live_sessions(1011)
    waiting = asyncio.create_task(session.send_text("recall"))
    await asyncio.sleep(0)
    async with asyncio.timeout(2.0):  # not the 30 s backoff
        await session.close()
        with pytest.raises(SessionStateError):
            await waiting
    assert our_tasks() == before
    assert emulator.stats.ws_connections == 1


async def test_reconnect_from_another_task_while_one_iterates(
    emulator: Emulator, client: AsyncClient
) -> None:
    """The usual shape of an app: one task reads events, another acts on them."""
    async with await live(client).connect(RESUMABLE) as session:
        await finished_turn(session, "echo: shared session")
        seen: list[LiveEvent] = []
        go_away_seen = asyncio.Event()

        async def reader() -> None:
            async for event in session:
                seen.append(event)
                if isinstance(event, GoAway):
                    go_away_seen.set()
                if isinstance(event, TurnComplete):
                    return

        task = asyncio.create_task(reader())
        async with asyncio.timeout(WAIT):
            await emulator.send_go_away(10.0)
            await go_away_seen.wait()
            await session.reconnect()
            await session.send_text("recall")
            await task
        kinds = [type(e) for e in seen]
        assert kinds[:2] == [GoAway, Reconnected]
        assert text_of(seen) == "echo: shared session"


async def test_close_during_an_explicit_reconnect_does_not_revive_the_session(
    emulator: Emulator, client: AsyncClient
) -> None:
    before = our_tasks()
    session = await live(client).connect(RESUMABLE)
    await finished_turn(session, "echo: context")
    reconnecting = asyncio.create_task(session.reconnect())
    await asyncio.sleep(0)  # the reconnect is now connecting
    await session.close()
    with pytest.raises(SessionStateError, match="closed"):
        await reconnecting
    assert session.health().state.name == "CLOSED"
    assert our_tasks() == before
    await eventually(lambda: emulator.live_session_count == 0)


async def test_drop_mid_turn_without_a_policy_raises_with_the_handle(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=400)
    async with (
        AsyncClient(KEY, base_url=emu.base_url) as client,
        await live(client).connect(RESUMABLE) as session,
    ):
        await finished_turn(session, "echo: before the story")
        handle = session.resumption_handle
        await session.send_text("Tell me a long story")
        chunks = 0
        with pytest.raises(DisconnectedError) as caught:
            async with asyncio.timeout(WAIT):
                async for event in session:
                    if isinstance(event, ModelTurn):
                        chunks += 1
                        if chunks == 2:
                            await emu.close_live_sessions(1011, "Internal error encountered.")
        error = caught.value
        assert "middle of a turn" in str(error)
        assert (error.close_code, error.resumption_handle) == (1011, handle)
        # The chunks of the turn the drop cut, not every event of the session.
        assert error.chunks_received == chunks
        assert emu.stats.ws_connections == 1  # no hidden reconnect
        assert session.metrics.reconnects == 0


async def test_waiting_sends_go_out_once_and_in_order(
    emulator: Emulator, client: AsyncClient
) -> None:
    policy = ReconnectPolicy(initial_backoff=0.05, jitter=0.0)
    async with await live(client).connect(RESUMABLE, reconnect=policy) as session:
        await finished_turn(session, "echo: base")
        await emulator.close_live_sessions(1011)
        # Several tasks send while the session reconnects; each waits its turn.
        senders = [
            asyncio.create_task(session.send_text(f"c{n}", turn_complete=False)) for n in range(5)
        ]
        senders.append(asyncio.create_task(session.send_text("recall")))
        events = await events_until(session, lambda e: isinstance(e, TurnComplete))
        await asyncio.gather(*senders)
        reconnected = next(e for e in events if isinstance(e, Reconnected))
        assert reconnected.unconfirmed_sends == 0
        # The server's own record of the conversation: every send once, in order.
        assert text_of(events) == "echo: base | c0 | c1 | c2 | c3 | c4"
        assert emulator.stats.resumptions == 1


# --------------------------------------------------------------------------- network faults


async def test_a_tcp_reset_mid_turn_is_1006_and_the_policy_recovers(
    make_emulator: MakeEmulator,
) -> None:
    from api_gemini.emulator.proxy import FaultProxy

    emu = await make_emulator(tokens_per_second=400)
    async with (
        FaultProxy("127.0.0.1", emu.port) as proxy,
        AsyncClient(KEY, base_url=f"http://{proxy.address}") as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await finished_turn(session, "echo: through the proxy")
        await session.send_text("Tell me a long story")
        await events_until(session, lambda e: isinstance(e, ModelTurn))
        assert await proxy.reset_all() == 1  # no close frame: the network just died
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        reconnected = events[-1]
        assert isinstance(reconnected, Reconnected)
        assert (reconnected.close_code, reconnected.turn_lost) == (1006, True)
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: through the proxy"


async def test_a_dead_peer_is_detected_by_keepalive_and_the_policy_recovers(
    emulator: Emulator,
) -> None:
    from api_gemini.emulator.proxy import FaultProxy
    from api_gemini.settings import WebSocketSettings

    # Scaled keepalive: a dead peer is detected within interval + timeout = 0.35 s.
    fast = WebSocketSettings(keepalive_interval=0.05, keepalive_timeout=0.3, close_timeout=0.1)
    async with (
        FaultProxy("127.0.0.1", emulator.port) as proxy,
        AsyncClient(KEY, base_url=f"http://{proxy.address}", websocket=fast) as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await finished_turn(session, "echo: before the silence")
        assert proxy.black_hole_all() == 1  # sockets stay open, nothing passes
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        reconnected = events[-1]
        assert isinstance(reconnected, Reconnected)
        assert reconnected.close_code == 1011  # our keepalive gave up on the peer
        await session.send_text("recall")
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer) == "echo: before the silence"


# ------------------------------------------------------------------ review regressions


def _hold_sends(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the next ``clientContent`` send stop before its frame goes out, until
    ``gate`` is set (a send blocked in flight); ``entered`` says it got there."""
    entered, gate = asyncio.Event(), asyncio.Event()
    real = LiveConnection.send_client_content

    async def held(self: LiveConnection, turns: Any, turn_complete: bool) -> None:
        if not entered.is_set():
            entered.set()
            await gate.wait()
        await real(self, turns, turn_complete)

    monkeypatch.setattr(LiveConnection, "send_client_content", held)
    return entered, gate


async def test_a_cancelled_reconnect_fails_the_send_it_was_flushing(
    emulator: Emulator, leak_check: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        session = await live(client).connect(RESUMABLE)
        await finished_turn(session, "echo: base")
        entered, _ = _hold_sends(monkeypatch)
        reconnecting = asyncio.create_task(session.reconnect())
        await asyncio.sleep(0)  # one step: the reconnect is now opening its connection
        assert session._reconnector.reconnecting
        sender = asyncio.create_task(session.send_text("echo: queued"))
        await entered.wait()  # the flush popped the send and is sending it
        reconnecting.cancel()  # say, the caller's timeout
        with pytest.raises(asyncio.CancelledError):
            await reconnecting
        async with asyncio.timeout(WAIT):
            with pytest.raises(SessionStateError, match="cancelled"):
                await sender
        # The old connection was closed all the same; only the new one is left.
        await eventually(lambda: emulator.live_session_count == 1)
        await session.close()
        await eventually(lambda: emulator.live_session_count == 0)
    await leak_check.assert_clean()


async def test_a_send_after_an_unseen_drop_raises_instead_of_waiting(
    make_emulator: MakeEmulator, leak_check: Any
) -> None:
    emu = await make_emulator(tokens_per_second=2000)
    leak_check.rebase()  # the emulator stays up past this test's own check
    small = WebSocketSettings(buffer_max_chunks=8, pause_timeout=None)
    async with (
        AsyncClient(KEY, base_url=emu.base_url, websocket=small) as client,
        await live(client).connect(RESUMABLE, reconnect=QUICK) as session,
    ):
        await finished_turn(session, "echo: base")
        await session.send_text("Tell me a long story")
        # Nobody reads: the buffer fills and the reader waits for room, blind to drops.
        await eventually(lambda: session._buffer.reader_waiting)
        await emu.close_live_sessions(1011)
        accepted = 0
        with pytest.raises(DisconnectedError) as caught:
            for i in range(50):
                # A send the socket still took (the drop not yet seen) returns; once
                # it is seen, the next one raises at once rather than waiting forever.
                async with asyncio.timeout(WAIT):
                    await session.send_text(f"more input {i}", turn_complete=False)
                accepted += 1
        assert caught.value.resumption_handle == session.resumption_handle
        assert accepted < 50
        # Reading lets the policy see the drop and reconnect; every send since the
        # handle, the accepted ones included, is reported as possibly lost.
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        reconnected = events[-1]
        assert isinstance(reconnected, Reconnected)
        assert reconnected.unconfirmed_sends >= 1 + accepted
    await leak_check.assert_clean()


async def test_no_chunk_of_the_old_connection_follows_reconnected(
    make_emulator: MakeEmulator, leak_check: Any
) -> None:
    emu = await make_emulator(tokens_per_second=500)
    leak_check.rebase()  # the emulator stays up past this test's own check
    small = WebSocketSettings(buffer_max_chunks=4)
    async with (
        AsyncClient(KEY, base_url=emu.base_url, websocket=small) as client,
        await live(client).connect(RESUMABLE) as session,
    ):
        await finished_turn(session, "echo: base")
        await session.send_text("Tell me a long story")
        # The buffer is full and the reader holds one more message of the old turn.
        await eventually(lambda: session._buffer.reader_waiting)
        await session.reconnect()
        before = await events_until(session, lambda e: isinstance(e, Reconnected))
        assert any(isinstance(e, ModelTurn) for e in before)  # the buffered ones
        reconnected = before[-1]
        assert isinstance(reconnected, Reconnected) and reconnected.turn_lost
        await session.send_text("echo: fresh words")
        after = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(after).split() == ["fresh", "words"]
    await leak_check.assert_clean()


async def test_a_send_in_flight_during_reconnect_is_counted_unconfirmed(
    emulator: Emulator, leak_check: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        AsyncClient(KEY, base_url=emulator.base_url) as client,
        await live(client).connect(RESUMABLE) as session,
    ):
        await finished_turn(session, "echo: base")
        entered, gate = _hold_sends(monkeypatch)
        sender = asyncio.create_task(session.send_text("echo: in flight"))
        await entered.wait()  # started on the old connection, not finished
        await session.reconnect()
        events = await events_until(session, lambda e: isinstance(e, Reconnected))
        reconnected = events[-1]
        assert isinstance(reconnected, Reconnected)
        assert reconnected.unconfirmed_sends == 1
        gate.set()
        await sender  # the old connection refused it: it went out on the new one
        answer = await events_until(session, lambda e: isinstance(e, TurnComplete))
        assert text_of(answer).split() == ["in", "flight"]
        assert session._rules.sent_since_handle <= 1  # counted once, on the new connection
    await leak_check.assert_clean()


async def test_cancelling_close_during_a_stalled_reconnect_is_not_swallowed(
    emulator: Emulator, leak_check: Any
) -> None:
    """A caller's cancellation (its timeout) while close() waits for the reader goes
    through; the close still completes in the background and leaves nothing open."""
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        session = await live(client).connect(RESUMABLE, reconnect=QUICK)
        await finished_turn(session, "echo: base")
        await eventually(lambda: session.resumption_handle is not None)
        emulator.default_fault = FaultPlan.parse("stall-at-setup")  # the new setup stalls
        await emulator.close_live_sessions(1011)
        await eventually(lambda: session._reconnector.reconnecting)
        closing = asyncio.create_task(session.close())
        await asyncio.sleep(0)  # close() has cancelled the reader and waits for it
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        emulator.default_fault = None
        async with asyncio.timeout(WAIT):
            await session.close()
        await eventually(lambda: emulator.live_session_count == 0)
    await leak_check.assert_clean()
