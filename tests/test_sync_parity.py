"""The sync API is the async API without ``await``: the same names, and the same
behaviour, proved by test bodies written once and run through both.

Each scenario is an ``async`` function over a :class:`Side`: on the async side a call is
awaited; on the sync side the same method of the sync object runs in a worker thread
(the emulator serves on the test's loop). The names are the public API's own, so a
scenario that passes on both sides also proves the sync twin exists and agrees.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from api_gemini import AsyncClient, Client
from api_gemini.emulator import Emulator
from api_gemini.errors import (
    DisconnectedError,
    InvalidRequestError,
    SessionStateError,
    SetupRejectedError,
)
from api_gemini.models import AsyncModel, AsyncModels, Model, Models
from api_gemini.types import (
    Content,
    FunctionDeclaration,
    FunctionResponse,
    GenerateContentRequest,
    GenerationConfig,
    Tool,
)
from api_gemini.websocket import (
    InputTranscription,
    Interrupted,
    LiveConnectConfig,
    LiveSession,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SessionState,
    Stream,
    StreamState,
    ToolCall,
    TurnComplete,
)
from api_gemini.websocket.sync_live import SyncLiveSession, SyncStream

LIVE = "gemini-3.8-live"

# --------------------------------------------------------------------------- names

#: (async class, sync twin, names that differ only by convention)
TWINS: list[tuple[type, type]] = [
    (AsyncClient, Client),
    (AsyncModels, Models),
    (AsyncModel, Model),
    (Stream, SyncStream),
    (LiveSession, SyncLiveSession),
]
#: The async name -> its sync spelling (``aclose`` is ``close`` in sync Python).
RENAMED = {"aclose": "close"}
#: Set in ``__init__`` on the async objects, so not seen on the class.
INSTANCE_ATTRIBUTES = {"metrics", "go_away"}

#: Public async members without a sync twin today. The test fails when one is added
#: (a twin is missing) and when one is fixed (remove it from here).
KNOWN_GAPS: dict[str, set[str]] = {}


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_every_async_call_has_a_sync_twin() -> None:
    gaps: dict[str, set[str]] = {}
    for async_cls, sync_cls in TWINS:
        sync_names = _public(sync_cls) | INSTANCE_ATTRIBUTES
        missing = {n for n in _public(async_cls) if RENAMED.get(n, n) not in sync_names}
        if missing:
            gaps[async_cls.__name__] = missing
    assert gaps == KNOWN_GAPS


def _parameters(func: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(func).parameters if p != "self"]


def test_twins_take_the_same_parameters() -> None:
    differ = []
    for async_cls, sync_cls in TWINS:
        for name in _public(async_cls) & _public(sync_cls):
            a, s = getattr(async_cls, name), getattr(sync_cls, name)
            if isinstance(a, property) or not callable(a):
                continue
            if _parameters(a) != _parameters(s):
                differ.append(name)
    assert differ == []


# --------------------------------------------------------------------------- sides


class Proxy:
    """One async or sync object (a stream, a session) behind awaitable calls."""

    def __init__(self, obj: Any, sync: bool) -> None:
        self.obj = obj
        self.sync = sync

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.obj, name)
        if self.sync:
            return await asyncio.to_thread(method, *args, **kwargs)
        return await method(*args, **kwargs)

    def get(self, name: str) -> Any:
        """A property: never blocks on either side."""
        return getattr(self.obj, name)

    async def next(self) -> Any:
        """The next item, or None at the end."""
        if self.sync:
            # iter(): a SyncLiveSession is iterable (a fresh iterator over the one
            # session each time), a SyncStream is its own iterator.
            return await asyncio.to_thread(next, iter(self.obj), None)
        return await anext(self.obj, None)

    async def rest(self) -> list[Any]:
        if self.sync:
            return await asyncio.to_thread(list, self.obj)
        return [item async for item in self.obj]

    async def turn(self) -> list[Any]:
        """``receive_turn()`` drained."""
        if self.sync:
            return await asyncio.to_thread(lambda: list(self.obj.receive_turn()))
        return [event async for event in self.obj.receive_turn()]


class Side:
    """A client of one kind; ``model(name)`` and ``open(...)`` give proxies."""

    def __init__(self, client: AsyncClient | Client) -> None:
        self.client = client
        self.sync = isinstance(client, Client)

    async def model_call(self, model: str, name: str, *args: Any, **kwargs: Any) -> Any:
        return await Proxy(self.client.models.by_name(model), self.sync).call(name, *args, **kwargs)

    async def open(self, model: str, name: str, *args: Any, **kwargs: Any) -> Proxy:
        """A stream or session opened by ``model.NAME(...)``."""
        return Proxy(await self.model_call(model, name, *args, **kwargs), self.sync)


@pytest.fixture(params=["async", "sync"])
async def side(request: pytest.FixtureRequest, emulator: Emulator) -> AsyncIterator[Side]:
    if request.param == "async":
        async with AsyncClient(base_url=emulator.base_url) as aclient:
            yield Side(aclient)
        return
    client = Client(base_url=emulator.base_url)
    try:
        yield Side(client)
    finally:
        await asyncio.to_thread(client.close)


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, ModelTurn | OutputTranscription))


def long_request(tokens: int) -> GenerateContentRequest:
    return GenerateContentRequest(
        contents=[Content.user_text("Tell me a story")],
        generation_config=GenerationConfig(max_output_tokens=tokens),
    )


WEATHER = Tool(
    function_declarations=[
        FunctionDeclaration(
            name="get_weather",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            behavior="BLOCKING",  # the round trip waits for the answer
        )
    ]
)

# --------------------------------------------------------------------------- shared bodies


async def test_stream_chunks_metrics_and_final_chunk(side: Side) -> None:
    stream = await side.open(LIVE, "stream_generate_content_websocket", "echo: one two three")
    chunks = await stream.rest()
    assert "".join(c.text for c in chunks) == "one two three"
    assert chunks[-1].finish_reason == "STOP"
    assert chunks[-1].usage_metadata.candidates_token_count == 3
    assert stream.get("state") is StreamState.COMPLETED
    metrics = stream.get("metrics")
    assert metrics.chunks == len(chunks)
    assert metrics.time_to_first_chunk is not None
    assert stream.get("health")().state is SessionState.CLOSED


async def test_stream_pause_resume_cancel(side: Side) -> None:
    stream = await side.open(LIVE, "stream_generate_content_websocket", long_request(500))
    first = await stream.next()
    assert first.audio  # a piece's audio, then its transcription
    await stream.call("pause")
    assert stream.get("state") is StreamState.PAUSED
    await stream.call("resume")
    assert stream.get("state") is StreamState.STREAMING
    assert (await stream.next()).text
    await stream.call("cancel")
    assert stream.get("state") is StreamState.CANCELLED
    assert await stream.rest() == []
    await stream.call("cancel")  # idempotent


async def test_stream_error_after_the_chunks_before_it(side: Side) -> None:
    stream = await side.open(
        LIVE, "stream_generate_content_websocket", "fault:close-1011-after-2 echo: a b c d"
    )
    # each piece: its audio chunk, then its transcription chunk
    assert [(await stream.next()).text for _ in range(4)] == ["", "a ", "", "b "]
    with pytest.raises(DisconnectedError) as caught:
        await stream.next()
    assert (caught.value.close_code, caught.value.chunks_received) == (1011, 4)


async def test_setup_rejected_for_a_model_without_live(side: Side) -> None:
    with pytest.raises(SetupRejectedError) as caught:
        await side.open("gemini-2.5-pro", "connect")
    assert caught.value.close_code == 1008


async def test_session_turns_context_and_handles(side: Side) -> None:
    session = await side.open(LIVE, "connect", {"sessionResumption": {}})
    try:
        await session.call("send_text", "echo: first")
        events = await session.turn()
        assert text_of(events) == "first"
        assert isinstance(events[-1], TurnComplete)
        await session.call("send_text", "my name is Ada", turn_complete=False)
        await session.call("send_content", [Content.user_text("recall")])
        assert text_of(await session.turn()) == "echo: first | my name is Ada"
        # Iterating the session spans turns: the handle sent after a turn arrives.
        handle = None
        while handle is None:
            event = await session.next()
            if isinstance(event, SessionResumptionUpdate):
                handle = event.new_handle
        assert session.get("resumption_handle") == handle
        assert session.get("session_state") is SessionState.READY
        assert session.get("health")().state is SessionState.READY
    finally:
        await session.call("close")
    assert session.get("session_state") is SessionState.CLOSED
    with pytest.raises(SessionStateError):
        await session.call("send_text", "too late")


async def test_session_interruption(side: Side) -> None:
    session = await side.open(
        LIVE,
        "connect",
        {},
    )
    try:
        # The answer stalls after one chunk: only an interruption can end it.
        await session.call("send_text", "fault:stall-after-1 a long answer please")
        while not isinstance(await session.next(), ModelTurn):
            pass  # SetupComplete first
        await session.call("send_text", "echo: stop")
        events: list[Any] = []
        while not (events and isinstance(events[-1], TurnComplete) and "stop" in text_of(events)):
            events.append(await session.next())
        kinds = [type(e) for e in events]
        assert Interrupted in kinds
        assert text_of(events[kinds.index(Interrupted) :]) == "stop"
    finally:
        await session.call("close")


async def test_session_tool_call_round_trip(side: Side) -> None:
    session = await side.open(LIVE, "connect", LiveConnectConfig(tools=[WEATHER]))
    try:
        await session.call("send_text", "call get_weather for Paris")
        event = await session.next()
        while not isinstance(event, ToolCall):
            event = await session.next()
        (call,) = event.function_calls
        await session.call(
            "send_tool_response", FunctionResponse(id=call.id, name=call.name, response={"t": 1})
        )
        assert text_of(await session.turn()) == 'get_weather returned {"t":1}. '
    finally:
        await session.call("close")


async def test_session_audio_in_and_out(side: Side) -> None:
    config = LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=True,
        output_audio_transcription=True,
    )
    session = await side.open(LIVE, "connect", config)
    try:
        pcm = bytes(range(1, 201)) * 4
        await session.call("send_audio", pcm)
        await session.call("send_realtime_input", audio=pcm)
        await session.call("send_audio_stream_end")
        events = await session.turn()
    finally:
        await session.call("close")
    heard = [e.text for e in events if isinstance(e, InputTranscription)]
    assert heard == ["audio of 50 ms"]
    assert b"".join(e.audio for e in events if isinstance(e, ModelTurn))
    assert any(isinstance(e, OutputTranscription) for e in events)


async def test_bad_input_is_refused_before_sending(side: Side) -> None:
    session = await side.open(LIVE, "connect", {})
    try:
        with pytest.raises(InvalidRequestError):
            await session.call("send_tool_response", {"response": {}})  # no name
        with pytest.raises(InvalidRequestError):
            await session.call("send_realtime_input")
    finally:
        await session.call("close")
    with pytest.raises(InvalidRequestError):
        await side.model_call("bad/name", "generate_content", "hi")


async def test_http_calls(side: Side) -> None:
    names = [m.name for m in await Proxy(side.client.models, side.sync).call("list")]
    assert f"models/{LIVE}" in names
    info = await Proxy(side.client.models, side.sync).call("get", "gemini-2.5-flash")
    assert info.name == "models/gemini-2.5-flash"
    answer = await side.model_call("gemini-2.5-flash", "generate_content", "echo: unary")
    assert answer.text == "unary"
    tokens = await side.model_call("gemini-2.5-flash", "count_tokens", "four words right here")
    assert tokens.total_tokens == 4
    sse = await side.model_call("gemini-2.5-flash", "stream_generate_content", "echo: x y")
    if side.sync:
        chunks = await asyncio.to_thread(list, sse)
    else:
        async with sse:
            chunks = [c async for c in sse]
    assert "".join(c.text for c in chunks) == "x y"


async def test_pool_prewarm_and_hit(side: Side) -> None:
    assert await side.model_call(LIVE, "prewarm", count=1) == 1
    stream = await side.open(LIVE, "stream_generate_content_websocket", "echo: warm")
    assert "".join(c.text for c in await stream.rest()) == "warm"
    assert stream.get("metrics").from_pool is True
    metrics = side.client.pool_metrics()
    assert (metrics.hits, metrics.misses) == (1, 0)


async def _ping_and_buffered(side: Side) -> None:
    session = await side.open(LIVE, "connect", {})
    try:
        assert await session.call("ping") >= 0
        chunks, size = session.get("buffered")
        assert chunks >= 0 and size >= 0
    finally:
        await session.call("close")


async def test_ping_and_buffered_async(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        await _ping_and_buffered(Side(client))


async def test_ping_and_buffered_sync(emulator: Emulator) -> None:
    client = Client(base_url=emulator.base_url)
    try:
        await _ping_and_buffered(Side(client))
    finally:
        await asyncio.to_thread(client.close)
