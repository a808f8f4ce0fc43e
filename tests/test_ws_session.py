"""LiveSession (bidirectional): every event kind against the emulator, sessions that
span turns, resumption, goAway, the one-receiver rule, sends, and cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from api_gemini.emulator import Emulator
from api_gemini.errors import (
    DisconnectedError,
    InvalidRequestError,
    SessionStateError,
    SetupRejectedError,
)
from api_gemini.settings import ClientSettings, WebSocketSettings
from api_gemini.types import Content, FunctionDeclaration, FunctionResponse, Tool
from api_gemini.websocket import (
    GenerationComplete,
    GoAway,
    InputTranscription,
    InteractionStatus,
    Interrupted,
    LiveEvent,
    LiveSession,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SessionState,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
    connect_live,
)
from api_gemini.websocket.live_types import LiveConnectConfig, SessionResumptionConfig
from helpers import our_tasks

MakeEmulator = Callable[..., Awaitable[Emulator]]
KEY = "session-key-SECRET-42424242"
LIVE_MODEL = "gemini-3.8-live"
WEATHER = Tool(
    function_declarations=[
        FunctionDeclaration(
            name="get_weather",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            behavior="BLOCKING",  # NON_BLOCKING is 3.8 Live's default: see the tests below
        )
    ]
)


def settings_for(base_url: str, **ws: Any) -> ClientSettings:
    return ClientSettings.resolve(
        KEY, base_url=base_url, websocket=WebSocketSettings(**ws) if ws else None
    )


async def connect(
    emu: Emulator, config: LiveConnectConfig | dict[str, Any] | None = None, **ws: Any
) -> LiveSession:
    return await connect_live(settings_for(emu.base_url, **ws), LIVE_MODEL, config)


async def turn(session: LiveSession) -> list[LiveEvent]:
    return [e async for e in session.receive_turn()]


def text_of(events: list[LiveEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ModelTurn | OutputTranscription))


def session_state(session: LiveSession) -> SessionState:
    """Read through a call, so that mypy does not narrow the state across awaits."""
    return session.session_state


@contextlib.asynccontextmanager
async def ws_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- turns


async def test_text_turn_events(emulator: Emulator) -> None:
    async with await connect(emulator) as session:
        assert session.session_state is SessionState.READY
        await session.send_text("echo: hello live world")
        events = await turn(session)
    kinds = [type(e) for e in events]
    assert kinds[0] is SetupComplete
    assert GenerationComplete in kinds
    assert kinds[-3:] == [InteractionStatus, UsageUpdate, TurnComplete]
    assert text_of(events) == "hello live world"  # the transcription of the audio
    usage = next(e for e in events if isinstance(e, UsageUpdate))
    assert usage.usage.response_token_count == 3
    assert usage.to_usage_metadata().candidates_token_count == 3
    assert session_state(session) is SessionState.CLOSED
    assert session.metrics.chunks == 3
    assert session.metrics.time_to_first_chunk is not None


async def test_iteration_spans_turns_and_keeps_handles(emulator: Emulator) -> None:
    config = LiveConnectConfig(session_resumption=SessionResumptionConfig())
    session = await connect(emulator, config)
    handles: list[str | None] = []
    texts: list[str] = []
    turns_done = 0
    await session.send_text("echo: one")
    async for event in session:  # one loop over several turns
        if isinstance(event, SessionResumptionUpdate) and event.new_handle:
            handles.append(event.new_handle)  # (not resumable, no handle, mid-turn)
        if isinstance(event, OutputTranscription):
            texts.append(event.text)
        if isinstance(event, TurnComplete):
            turns_done += 1
            if turns_done == 1:
                await session.send_text("echo: two")
            else:
                break
    # the handle that follows the last turn is not lost although nobody iterates now
    await _until(lambda: session.resumption_handle not in handles)
    assert texts == ["one", "two"]
    assert len(handles) == 2
    newest = session.resumption_handle
    await session.close()
    assert newest is not None
    # resume: the conversation carries on in a new connection
    config = LiveConnectConfig(session_resumption=SessionResumptionConfig(handle=newest))
    async with await connect(emulator, config) as resumed:
        await resumed.send_text("recall")
        events = await turn(resumed)
    assert text_of(events) == "echo: one | echo: two"
    assert emulator.stats.resumptions == 1


async def _until(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for something the server side does on its own (no task is created here, so
    task counts stay comparable)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_context_without_an_answer_then_a_turn(emulator: Emulator) -> None:
    async with await connect(emulator, {}) as session:
        await session.send_content("first fact", turn_complete=False)
        await session.send_content(
            [{"role": "user", "parts": [{"text": "second fact"}]}], turn_complete=False
        )
        await session.send_content(Content.user_text("recall"))
        events = await turn(session)
    assert text_of(events) == "first fact | second fact"


async def test_interruption(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=100)
    async with await connect(emu) as session:
        await session.send_text("talk for a long time")
        events: list[LiveEvent] = []
        async for event in session:
            events.append(event)
            if isinstance(event, ModelTurn):
                break
        await session.send_text("echo: stop")
        events += await turn(session)  # the cut turn: interrupted, then turnComplete
        answer = await turn(session)  # then the answer to the new input
    kinds = [type(e) for e in events]
    assert Interrupted in kinds
    assert kinds[-1] is TurnComplete
    assert text_of(answer) == "stop"
    assert emu.stats.live_interruptions == 1


async def test_tool_call_and_response(emulator: Emulator) -> None:
    async with await connect(emulator, LiveConnectConfig(tools=[WEATHER])) as session:
        await session.send_text("call get_weather for Paris")
        call_event: ToolCall | None = None
        async for event in session:
            if isinstance(event, ToolCall):
                call_event = event
                break
        assert call_event is not None
        (call,) = call_event.function_calls
        assert call.name == "get_weather"
        assert call.id is not None
        await session.send_tool_response(
            FunctionResponse(id=call.id, name=call.name, response={"sky": "clear"})
        )
        events = await turn(session)
    assert text_of(events) == 'get_weather returned {"sky":"clear"}. '


async def test_tool_call_cancellation(emulator: Emulator) -> None:
    async with await connect(emulator, LiveConnectConfig(tools=[WEATHER])) as session:
        await session.send_text("call get_weather for Paris")
        async for event in session:
            if isinstance(event, ToolCall):
                break
        await session.send_text("echo: never mind")
        events = await turn(session)  # the cut turn
        answer = await turn(session)
    assert isinstance(events[0], ToolCallCancellation)
    assert events[0].ids
    assert text_of(answer) == "never mind"


async def test_audio_in_and_out_with_transcriptions(emulator: Emulator) -> None:
    config = LiveConnectConfig(
        response_modalities=["AUDIO"],
        input_audio_transcription=True,
        output_audio_transcription=True,
    )
    async with await connect(emulator, config) as session:
        pcm = bytes(range(1, 251)) * 8  # 2000 bytes, not silence
        await session.send_audio(pcm[:1000])
        await session.send_realtime_input(audio=pcm[1000:])
        await session.send_audio_stream_end()
        events = await turn(session)
    inputs = [e for e in events if isinstance(e, InputTranscription)]
    assert [e.text for e in inputs] == ["audio of 60 ms"]  # what the emulator "hears"
    audio = b"".join(e.audio for e in events if isinstance(e, ModelTurn))
    assert len(audio) > 0
    assert len(audio) % 2 == 0
    outputs = [e for e in events if isinstance(e, OutputTranscription)]
    assert outputs
    assert "".join(e.text for e in outputs).strip()


async def test_activity_start_and_end(emulator: Emulator) -> None:
    config = {
        "inputAudioTranscription": True,
        # activityStart/End are the client's only when the server's detection is off
        "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
    }
    async with await connect(emulator, config) as session:
        await session.send_activity_start()
        await session.send_audio(b"\x01\x02" * 100)
        await session.send_activity_end()
        events = await turn(session)
        await session.send_realtime_input(text="echo: typed")
        typed = await turn(session)
    assert InputTranscription("audio of 6 ms", finished=True) in events
    assert text_of(typed) == "typed"


async def test_go_away_then_disconnect_keeps_the_handle(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(live_connection_lifetime=0.3, go_away_notice=0.2)
    config = LiveConnectConfig(session_resumption=SessionResumptionConfig())
    async with await connect(emu, config) as session:
        events: list[LiveEvent] = []
        with pytest.raises(DisconnectedError) as info:
            async for event in session:
                events.append(event)
                if isinstance(event, GoAway):
                    health = session.health()
                    assert health.go_away_in is not None
                    assert 0 <= health.go_away_in <= 0.2
    go_away = next(e for e in events if isinstance(e, GoAway))
    assert go_away.time_left == pytest.approx(0.2)
    assert session.go_away == go_away
    assert info.value.close_code == 1011
    assert info.value.retryable
    assert info.value.resumption_handle == session.resumption_handle is not None


async def test_a_session_parses_a_go_away_duration_once(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session takes the duration its connection's protocol parsed (issue 13)."""
    from api_gemini.websocket import decoding, protocol

    calls: list[object] = []
    real = decoding.parse_duration

    def counting(value: str | float | None) -> float | None:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(decoding, "parse_duration", counting)
    monkeypatch.setattr(protocol, "parse_duration", counting)
    emu = await make_emulator(live_connection_lifetime=0.3, go_away_notice=0.2)
    async with await connect(emu) as session:
        with pytest.raises(DisconnectedError):
            async for event in session:
                if isinstance(event, GoAway):
                    assert event.time_left == pytest.approx(0.2)
    assert len(calls) == 1


async def test_unknown_server_messages_are_events() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(b'{"setupComplete": {"sessionId": "s-1"}}')
        await ws.send(b'{"futureFeature": {"x": 1}}')
        await ws.send(b'{"serverContent": {"turnComplete": true}}')
        await ws.close(1000)

    async with ws_server(handler) as url:
        session = await connect_live(settings_for(url), LIVE_MODEL, None)
        events = [e async for e in session]  # ends cleanly at the normal close
    assert events == [
        SetupComplete("s-1"),
        UnknownMessage("futureFeature"),
        TurnComplete(),
    ]
    assert session.session_id == "s-1"


# --------------------------------------------------------------------------- rules


async def test_one_receiver_at_a_time(emulator: Emulator) -> None:
    async with await connect(emulator) as session:
        await anext(session)  # setupComplete
        first = asyncio.ensure_future(anext(session))
        await asyncio.sleep(0)
        with pytest.raises(SessionStateError, match="one receiver"):
            await anext(session)
        with pytest.raises(SessionStateError):
            await anext(session.receive_turn())
        await session.send_text("echo: x")
        assert isinstance(await first, ModelTurn)


async def test_concurrent_sends_are_safe(emulator: Emulator) -> None:
    async with await connect(emulator) as session:
        await asyncio.gather(
            *(session.send_content(f"fact {i}", turn_complete=False) for i in range(20))
        )
        await session.send_text("recall")
        events = await turn(session)
    assert text_of(events) == " | ".join(f"fact {i}" for i in range(20))


async def test_bad_inputs_and_sends_after_close(emulator: Emulator) -> None:
    session = await connect(emulator)
    with pytest.raises(InvalidRequestError):
        await session.send_realtime_input()
    with pytest.raises(InvalidRequestError):
        await session.send_realtime_input(text="a", activity_end=True)
    with pytest.raises(InvalidRequestError):
        await session.send_content({"parts": "not a list"})
    with pytest.raises(InvalidRequestError):
        await session.send_tool_response({"response": {}})  # no name
    await session.close()
    with pytest.raises(SessionStateError):
        await session.send_text("too late")
    with pytest.raises(SessionStateError):
        await session.send_audio(b"\x00\x00")
    events = [e async for e in session]  # what was buffered can still be read
    assert events == [SetupComplete()]
    await session.close()  # idempotent


async def test_setup_rejected_for_a_non_live_model(emulator: Emulator) -> None:
    with pytest.raises(SetupRejectedError) as info:
        await connect_live(settings_for(emulator.base_url), "gemini-2.5-pro", None)
    assert info.value.close_code == 1008
    with pytest.raises(SetupRejectedError) as info:
        await connect_live(
            settings_for(emulator.base_url),
            LIVE_MODEL,
            {"sessionResumption": {"handle": "no-such-handle"}},
        )
    assert info.value.close_code == 1007


async def test_invalid_config_is_refused_before_connecting() -> None:
    with pytest.raises(InvalidRequestError):
        await connect_live(settings_for("http://127.0.0.1:9"), LIVE_MODEL, {"tools": "nope"})


async def test_nothing_left_behind_and_no_key_in_reprs(emulator: Emulator) -> None:
    tasks_before = len(asyncio.all_tasks())
    async with await connect(emulator) as session:
        await session.send_text("echo: bye")
        await turn(session)
        assert KEY not in repr(session)
        assert KEY not in repr(session.health())
    assert not our_tasks()
    await _until(lambda: emulator.stats.ws_active == 0)
    await _until(lambda: len(asyncio.all_tasks()) <= tasks_before)
    assert json.dumps(session.metrics.gap_mean) is not None
