"""The synchronous WebSocket API against the emulator running as a real subprocess."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psutil
import pytest

from api_gemini import Client, PoolSettings, ReconnectPolicy
from api_gemini.emulator import Emulator
from api_gemini.errors import ConfigurationError, DisconnectedError, SetupRejectedError
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig
from api_gemini.websocket import (
    GoAway,
    LiveEvent,
    ModelTurn,
    OutputTranscription,
    Reconnected,
    SessionResumptionUpdate,
    StreamState,
    TurnComplete,
)

T = TypeVar("T")

LIVE_MODEL = "gemini-3.8-live"


def request_of(max_tokens: int, prompt: str = "Tell me a story") -> GenerateContentRequest:
    return GenerateContentRequest(
        contents=[Content.user_text(prompt)],
        generation_config=GenerationConfig(max_output_tokens=max_tokens),
    )


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "api-gemini-loop"]


def test_sync_stream_matches_http_and_supports_control(emulator_process: str) -> None:
    before_fds = psutil.Process().num_fds()
    with Client(base_url=emulator_process) as client:
        model = client.models.by_name(LIVE_MODEL)
        with model.stream_generate_content_websocket("echo: one two three four") as stream:
            stream.pause()
            assert stream.state is StreamState.PAUSED
            stream.resume()
            chunks = list(stream)
            assert stream.state.name == "COMPLETED"  # (mypy narrows the property above)
            assert stream.metrics.chunks == len(chunks)
        assert chunks[-1].finish_reason == "STOP"
        assert "".join(c.text for c in chunks) == "one two three four"

        stream = model.stream_generate_content_websocket(request_of(500))
        first = next(stream)
        assert first.audio  # each piece: its audio, then its transcription
        stream.cancel()
        assert stream.state is StreamState.CANCELLED
        assert list(stream) == []
    assert loop_threads() == []  # closing the client stopped its loop thread
    assert psutil.Process().num_fds() <= before_fds


def test_sync_session_spans_turns_and_keeps_context(emulator_process: str) -> None:
    with Client(base_url=emulator_process) as client:
        model = client.models.by_name(LIVE_MODEL)
        config: dict[str, Any] = {"sessionResumption": {}}
        with model.connect(config) as session:
            session.send_text("echo: first words")
            first = [e for e in session.receive_turn() if isinstance(e, OutputTranscription)]
            assert "".join(e.text for e in first) == "first words"
            session.send_text("recall")
            events = list(session.receive_turn())
            assert isinstance(events[-1], TurnComplete)
            text = "".join(e.text for e in events if isinstance(e, ModelTurn | OutputTranscription))
            assert text == "echo: first words"
            assert session.resumption_handle


def test_closing_the_client_closes_sessions_left_open(emulator_process: str) -> None:
    client = Client(base_url=emulator_process)
    session = client.models.by_name(LIVE_MODEL).connect()
    session.send_text("echo: hi")
    client.close()
    assert session.session_state.name == "CLOSED"
    assert loop_threads() == []
    with pytest.raises(ConfigurationError, match="closed"):
        _ = client.models


def test_sync_errors_are_the_async_ones(emulator_process: str) -> None:
    with Client(base_url=emulator_process) as client:
        with pytest.raises(SetupRejectedError) as caught:
            client.models.by_name("gemini-2.5-pro").connect()
        assert caught.value.close_code == 1008


async def test_sync_api_works_from_a_thread_with_a_running_loop(emulator_process: str) -> None:
    """As in a notebook cell: the calling thread's own loop is running."""
    assert asyncio.get_running_loop().is_running()
    with Client(base_url=emulator_process) as client:
        stream = client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
        assert len(list(stream)) > 0


# --------------------------------------------------------------------------- pool and
# reconnection, sync. The emulator runs in-process (its counters and hooks are what the
# tests check) on the test's loop, and the sync code runs in a worker thread.

RESUMABLE: dict[str, Any] = {"sessionResumption": {}}


class OnLoop:
    """Runs the emulator's async hooks from the worker thread, on the emulator's loop."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.loop = asyncio.get_running_loop()

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)


def turn_text(events: list[LiveEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ModelTurn | OutputTranscription))


def read_until(session: Any, stop: Callable[[LiveEvent], bool]) -> list[LiveEvent]:
    events: list[LiveEvent] = []
    for event in session:
        events.append(event)
        if stop(event):
            return events
    raise AssertionError(f"the session ended early: {events}")


def finished_turn(session: Any, prompt: str) -> list[LiveEvent]:
    session.send_text(prompt)
    events = read_until(session, lambda e: isinstance(e, TurnComplete))
    return events + read_until(session, lambda e: isinstance(e, SessionResumptionUpdate))


async def test_sync_pool_hit_skips_connect_and_setup(emulator: Emulator) -> None:
    def scenario() -> None:
        with Client(base_url=emulator.base_url, pool=PoolSettings(refill=False)) as client:
            model = client.models.by_name(LIVE_MODEL)
            assert model.prewarm(count=1) == 1
            assert (emulator.stats.ws_connections, emulator.stats.ws_setups) == (1, 1)
            with model.stream_generate_content_websocket("echo: warm sync") as stream:
                text = "".join(c.text for c in stream)
            assert (text, stream.metrics.from_pool) == ("warm sync", True)
            assert (emulator.stats.ws_connections, emulator.stats.ws_setups) == (1, 1)
            metrics = client.pool_metrics()
            assert (metrics.hits, metrics.misses) == (1, 0)
            model.prewarm_live(RESUMABLE, count=1)
            assert client.pool_metrics().idle == 1
            # The sync pool view reads the same pool and can wait on it.
            assert client.pool.metrics() == client.pool_metrics()
            assert client.pool.wait_until(lambda m: m.idle == 1).idle == 1
            assert [h.state.name for h in client.pool.health()] == ["READY"]
        # Closing the client closed the warm connection and stopped the loop thread.
        assert client.pool_metrics().discarded == {"pool_closed": 1}
        assert loop_threads() == []

    await asyncio.to_thread(scenario)
    async with asyncio.timeout(5):
        while emulator.live_session_count:
            await asyncio.sleep(0.005)  # the server's side of the close


async def test_sync_reconnect_after_go_away_keeps_the_conversation(emulator: Emulator) -> None:
    on_loop = OnLoop(emulator)

    def scenario() -> None:
        with Client(base_url=emulator.base_url) as client:
            model = client.models.by_name(LIVE_MODEL)
            with model.connect(RESUMABLE) as session:
                finished_turn(session, "echo: sync memory")
                on_loop(emulator.send_go_away(30.0))
                read_until(session, lambda e: isinstance(e, GoAway))
                session.reconnect()
                assert next(iter(session)) == Reconnected(cause="explicit")
                assert session.metrics.reconnects == 1
                session.send_text("recall")
                answer = read_until(session, lambda e: isinstance(e, TurnComplete))
                assert turn_text(answer) == "echo: sync memory"
        assert emulator.stats.resumptions == 1

    await asyncio.to_thread(scenario)


async def test_sync_drop_without_and_with_a_policy(emulator: Emulator) -> None:
    on_loop = OnLoop(emulator)
    quick = ReconnectPolicy(initial_backoff=0.01)

    def scenario() -> None:
        with Client(base_url=emulator.base_url) as client:
            model = client.models.by_name(LIVE_MODEL)
            with model.connect(RESUMABLE) as session:
                finished_turn(session, "echo: one")
                on_loop(emulator.close_live_sessions(1011))
                with pytest.raises(DisconnectedError) as caught:
                    read_until(session, lambda e: False)
                assert caught.value.resumption_handle == session.resumption_handle
            with model.connect(RESUMABLE, reconnect=quick) as session:
                finished_turn(session, "echo: two")
                started = time.monotonic()
                on_loop(emulator.close_live_sessions(1011))
                events = read_until(session, lambda e: isinstance(e, Reconnected))
                assert events[-1] == Reconnected(cause="disconnected", close_code=1011)
                assert time.monotonic() - started < 5
                session.send_text("recall")
                answer = read_until(session, lambda e: isinstance(e, TurnComplete))
                assert turn_text(answer) == "echo: two"

    await asyncio.to_thread(scenario)
