"""Stream (one request over the Live API): chunks, pause/resume/cancel, backpressure,
one receiver, and nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
import pytest
from websockets.asyncio.server import ServerConnection, serve

from api_gemini.emulator import Emulator
from api_gemini.errors import (
    DisconnectedError,
    InvalidRequestError,
    SessionStateError,
    StreamIdleTimeoutError,
    StreamPausedTooLongError,
)
from api_gemini.settings import ClientSettings, WebSocketSettings
from api_gemini.types import (
    Content,
    FunctionDeclaration,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Tool,
)
from api_gemini.websocket import (
    ModelTurn,
    OutputTranscription,
    SessionState,
    Stream,
    StreamState,
    open_stream,
)
from helpers import our_tasks

MakeEmulator = Callable[..., Awaitable[Emulator]]
KEY = "test-key-SECRET-987654321"
LIVE_MODEL = "gemini-3.8-live"


def settings_for(base_url: str, **ws: Any) -> ClientSettings:
    return ClientSettings.resolve(
        KEY, base_url=base_url, websocket=WebSocketSettings(**ws) if ws else None
    )


def ask(
    text: str = "hello", max_tokens: int | None = None, **fields: Any
) -> GenerateContentRequest:
    config = GenerationConfig(max_output_tokens=max_tokens) if max_tokens is not None else None
    return GenerateContentRequest(
        contents=[Content.user_text(text)], generation_config=config, **fields
    )


def text_chunk(text: str) -> bytes:
    return json.dumps({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}}).encode()


@contextlib.asynccontextmanager
async def ws_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


async def setup_ok(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.send(b'{"setupComplete":{}}')


def state_of(stream: Stream) -> StreamState:
    """Read through a call, so that mypy does not narrow the state across awaits."""
    return stream.state


async def settle(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait for the *server* side to notice something (its own tasks and sockets)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- chunks


@pytest.mark.parametrize(("tokens", "per_chunk"), [(10, 3), (7, 1), (1, 5)])
async def test_chunks_follow_the_emulator(
    make_emulator: MakeEmulator, tokens: int, per_chunk: int
) -> None:
    emu = await make_emulator(tokens_per_chunk=per_chunk)
    stream = await open_stream(settings_for(emu.base_url), LIVE_MODEL, ask(max_tokens=tokens))
    chunks = [c async for c in stream]
    content_chunks = math.ceil(tokens / per_chunk)
    # Today's default is AUDIO with output transcription; this emulator sends each
    # piece's audio and its transcription in two frames (as native-audio models do):
    # one chunk per frame, the audio in .audio, the transcription in .text.
    audio = [c for c in chunks[:-1] if c.audio]
    spoken = [c for c in chunks[:-1] if c.text]
    assert len(audio) == len(spoken) == content_chunks
    assert len(chunks) == 2 * content_chunks + 1  # + the final chunk
    assert all(isinstance(c, GenerateContentResponse) for c in chunks)
    for c in chunks[:-1]:
        candidate = c.candidates[0]
        assert candidate.index == 0
        assert candidate.content is not None
        assert candidate.content.role == "model"
        assert candidate.finish_reason is None
    assert len("".join(c.text for c in chunks).split()) == tokens
    final = chunks[-1]
    assert final.finish_reason == "STOP"
    assert final.text == ""
    assert final.usage_metadata is not None
    assert final.usage_metadata.candidates_token_count == tokens
    assert final.usage_metadata.prompt_token_count
    assert final.model_version == LIVE_MODEL
    assert stream.state is StreamState.COMPLETED
    assert stream.health().state is SessionState.CLOSED
    m = stream.metrics
    assert m.chunks == len(chunks)
    assert m.connect_time is not None
    assert m.setup_time is not None
    assert m.time_to_first_chunk is not None
    assert m.bytes_received > 0
    if len(chunks) > 1:
        assert m.gap_min is not None
        assert m.gap_max is not None
        assert m.gap_mean is not None
        assert m.gap_min <= m.gap_mean <= m.gap_max


async def test_same_text_as_sse(emulator: Emulator) -> None:
    """The WebSocket stream and the HTTP (SSE) stream give the same text."""
    from api_gemini import AsyncClient

    request = ask("echo: the same words both ways")
    # No model of today serves both: Live is audio (its text the transcription).
    stream = await open_stream(settings_for(emulator.base_url), LIVE_MODEL, request)
    ws_text = "".join([c.text async for c in stream])
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        model = client.models.by_name("gemini-2.5-flash")
        sse_text = "".join([c.text async for c in await model.stream_generate_content(request)])
    assert ws_text == sse_text == "the same words both ways"


async def test_system_instruction_tools_and_a_function_call(emulator: Emulator) -> None:
    tool = Tool(
        function_declarations=[
            FunctionDeclaration(
                name="get_weather",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            )
        ]
    )
    request = ask(
        "call get_weather for Paris",
        system_instruction=Content(parts=[Content.user_text("be brief").parts[0]]),
        tools=[tool],
    )
    async with await open_stream(settings_for(emulator.base_url), LIVE_MODEL, request) as s:
        chunks = [c async for c in s]
    assert len(chunks) == 1
    final = chunks[0]
    assert final.finish_reason == "STOP"
    assert final.candidates[0].content is not None
    call = final.candidates[0].content.parts[0].function_call
    assert call is not None
    assert call.name == "get_weather"
    assert call.id


async def test_requests_the_live_api_cannot_take() -> None:
    settings = settings_for("http://127.0.0.1:9")
    with pytest.raises(InvalidRequestError, match="cached_content"):
        await open_stream(settings, LIVE_MODEL, ask(cached_content="cachedContents/x"))
    with pytest.raises(InvalidRequestError, match="no contents"):
        await open_stream(settings, LIVE_MODEL, GenerateContentRequest())
    with pytest.raises(InvalidRequestError, match="empty"):
        await open_stream(settings, " ", ask())


async def test_request_like_values_are_accepted(emulator: Emulator) -> None:
    stream = await open_stream(settings_for(emulator.base_url), LIVE_MODEL, "echo: plain string")
    assert "".join([c.text async for c in stream]) == "plain string"


# --------------------------------------------------------------------------- control


async def test_pause_stops_delivery_and_resume_restarts_it(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_chunk=1)
    async with await open_stream(
        settings_for(emu.base_url), LIVE_MODEL, ask(max_tokens=20)
    ) as stream:
        first = await anext(stream)
        await stream.pause()
        assert stream.state is StreamState.PAUSED
        # everything else arrives into the buffer while paused ...
        await settle(lambda: stream.buffered[0] == 40)  # 20 audio + 20 transcription
        # ... but nothing is delivered
        waiting = asyncio.ensure_future(anext(stream))
        done, _ = await asyncio.wait([waiting], timeout=0.05)
        assert not done
        await stream.resume()
        second = await waiting
        rest = [c async for c in stream]
    assert first.audio and second.text  # the audio, then its transcription
    assert len(rest) == 39
    assert rest[-1].finish_reason == "STOP"
    assert state_of(stream) is StreamState.COMPLETED


async def test_pause_timeout_ends_the_stream(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=200)
    settings = settings_for(emu.base_url, pause_timeout=0.1)
    stream = await open_stream(settings, LIVE_MODEL, ask(max_tokens=100))
    await anext(stream)
    await stream.pause()
    with pytest.raises(StreamPausedTooLongError):
        await anext(stream)  # wakes up with the error although paused
    assert stream.state is StreamState.FAILED
    with pytest.raises(StreamPausedTooLongError):
        await anext(stream)
    await stream.cancel()  # cleanup is still safe
    assert stream.health().state is SessionState.CLOSED
    assert not our_tasks()
    await settle(lambda: emu.stats.ws_active == 0)


async def test_cancel_mid_stream_closes_at_once(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=100)
    stream = await open_stream(settings_for(emu.base_url), LIVE_MODEL, ask(max_tokens=1000))
    await anext(stream)
    waiter = asyncio.ensure_future(anext(stream))  # a consumer blocked on the next chunk
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stream.cancel()
    assert loop.time() - started < 0.5
    with pytest.raises(StopAsyncIteration):
        await waiter
    assert stream.state is StreamState.CANCELLED
    assert stream.health().state is SessionState.CLOSED
    assert [c async for c in stream] == []
    await stream.cancel()  # idempotent
    assert not our_tasks()
    await settle(lambda: emu.stats.ws_active == 0)


async def test_context_manager_exit_on_error_and_on_task_cancellation(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=100)
    settings = settings_for(emu.base_url)

    with pytest.raises(RuntimeError):
        async with await open_stream(settings, LIVE_MODEL, ask(max_tokens=1000)) as stream:
            await anext(stream)
            raise RuntimeError("consumer failed")
    assert stream.state is StreamState.CANCELLED
    assert stream.health().state is SessionState.CLOSED

    holder: list[Stream] = []

    async def consume() -> None:
        async with await open_stream(settings, LIVE_MODEL, ask(max_tokens=1000)) as s:
            holder.append(s)
            async for _ in s:
                pass

    task = asyncio.create_task(consume())
    await settle(lambda: bool(holder) and holder[0].metrics.chunks > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert holder[0].state is StreamState.CANCELLED
    assert holder[0].health().state is SessionState.CLOSED
    assert not our_tasks()
    await settle(lambda: emu.stats.ws_active == 0)


async def test_one_receiver_at_a_time(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=50)
    async with await open_stream(
        settings_for(emu.base_url), LIVE_MODEL, ask(max_tokens=5)
    ) as stream:
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # let the first receiver start waiting
        with pytest.raises(SessionStateError, match="one receiver"):
            await anext(stream)
        assert (await first).audio
        # sequential receivers are fine
        assert [c async for c in stream][-1].finish_reason == "STOP"


# --------------------------------------------------------------------------- backpressure


async def test_a_paused_consumer_pushes_back_on_a_fast_server() -> None:
    frames = 2000
    payload = "y" * 16_000  # ~32 MB in all: far more than every buffer on the way
    progress = {"sent": 0}

    async def flood(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        with contextlib.suppress(Exception):
            for i in range(frames):
                await ws.send(text_chunk(f"{i}:{payload}"))
                progress["sent"] = i + 1
            await ws.send(b'{"serverContent": {"turnComplete": true}}')
        await ws.wait_closed()

    limits = {"buffer_max_chunks": 8, "buffer_max_bytes": 64 * 1024}
    async with ws_server(flood) as url:
        stream = await open_stream(settings_for(url, **limits), LIVE_MODEL, ask())
        await stream.pause()
        # wait until the server is stuck: its sends no longer complete
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        last, stable = -1, 0
        while stable < 5:
            assert loop.time() < deadline, "the server never stalled"
            await asyncio.sleep(0.02)
            stable = stable + 1 if progress["sent"] == last else 0
            last = progress["sent"]
        stalled_at = progress["sent"]
        assert stalled_at < frames  # the server's writes block: TCP pushed back
        chunks, nbytes = stream.buffered
        assert chunks <= 8
        assert nbytes <= 64 * 1024
        # the wire holds a few frames at most (read before it paused)
        assert len(stream._conn._ws.connection._held or ()) <= 5  # type: ignore[attr-defined]
        # memory stays bounded: far less than what the server wanted to send
        assert stream.metrics.bytes_received < 0.5 * frames * len(payload)

        await stream.resume()
        seen = 0
        async for chunk in stream:
            if chunk.finish_reason == "STOP":
                break
            index = int(chunk.text.split(":", 1)[0])
            assert index == seen  # every chunk once, in order
            seen += 1
        assert seen == frames
        assert stream.metrics.buffer_peak_chunks <= 8
        assert stream.metrics.buffer_peak_bytes <= 64 * 1024


async def test_errors_arrive_after_the_buffered_chunks() -> None:
    """A close while the consumer is paused: all earlier chunks first, then the error."""
    closed = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.send(b'{"sessionResumptionUpdate": {"newHandle": "handle-1", "resumable": true}}')
        for i in range(6):
            await ws.send(text_chunk(f"c{i}"))
        await ws.close(1011, "Internal error encountered.")
        closed.set()

    async with ws_server(handler) as url:
        stream = await open_stream(settings_for(url), LIVE_MODEL, ask())
        await stream.pause()
        await closed.wait()
        await settle(lambda: stream.state is not StreamState.PAUSED or stream.buffered[0] == 6)
        await stream.resume()
        texts = []
        with pytest.raises(DisconnectedError) as info:
            async for chunk in stream:
                texts.append(chunk.text)
    assert texts == [f"c{i}" for i in range(6)]
    assert info.value.chunks_received == 6
    assert info.value.close_code == 1011
    assert info.value.resumption_handle == "handle-1"
    assert stream.state is StreamState.FAILED
    assert [c async for c in stream] == []  # raised once; then the stream is over


# --------------------------------------------------------------------------- leaks


async def test_no_task_socket_or_fd_left_behind(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=200)
    settings = settings_for(emu.base_url, pause_timeout=0.05)
    process = psutil.Process()
    fds_before = process.num_fds()
    tasks_before = len(asyncio.all_tasks())

    # completed
    async with await open_stream(settings, LIVE_MODEL, ask(max_tokens=3)) as s:
        [c async for c in s]
    # cancelled mid-stream
    s = await open_stream(settings, LIVE_MODEL, ask(max_tokens=500))
    await anext(s)
    await s.cancel()
    # broken by a pause timeout
    s = await open_stream(settings, LIVE_MODEL, ask(max_tokens=500))
    await s.pause()
    with pytest.raises(StreamPausedTooLongError):
        await anext(s)
    await s.cancel()
    # rejected at setup
    with contextlib.suppress(Exception):
        await open_stream(settings, "gemini-2.5-pro", ask())

    assert not our_tasks()
    await settle(lambda: emu.stats.ws_active == 0)
    await settle(lambda: len(asyncio.all_tasks()) <= tasks_before)
    await settle(lambda: process.num_fds() <= fds_before)


def test_reprs_do_not_show_the_key() -> None:
    settings = settings_for("https://generativelanguage.googleapis.com")
    assert KEY not in repr(settings)
    assert KEY not in str(settings)


async def test_through_the_client(emulator: Emulator) -> None:
    """The lead's entry points call exactly open_stream and connect_live."""
    from api_gemini import AsyncClient

    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        model = client.models.by_name(LIVE_MODEL)
        stream = await model.stream_generate_content_websocket("echo: via the client")
        assert "".join([c.text async for c in stream]) == "via the client"
        async with await model.connect() as session:
            await session.send_text("echo: live too")
            texts = [
                e.text
                async for e in session.receive_turn()
                if isinstance(e, ModelTurn | OutputTranscription)
            ]
        assert "".join(texts) == "live too"


async def test_a_server_that_goes_quiet_ends_the_stream_after_stream_idle_timeout(
    emulator: Emulator, leak_check: Any
) -> None:
    """Pings answered, no data: the stream ends with a typed timeout, not a hang, and
    the chunks that came before are delivered first."""
    settings = settings_for(emulator.base_url, stream_idle_timeout=0.2)
    loop = asyncio.get_running_loop()
    stream = await open_stream(settings, LIVE_MODEL, ask("fault:stall-after-3 echo: a b c d e f"))
    received: list[str] = []
    started = loop.time()
    with pytest.raises(StreamIdleTimeoutError) as info:
        async for chunk in stream:
            received.append(chunk.text)
    waited = loop.time() - started
    assert isinstance(info.value, TimeoutError)
    assert "SECRET" not in str(info.value)
    # three pieces, each its audio chunk and its transcription chunk
    assert len(received) == 6 and "".join(received).split() == ["a", "b", "c"]
    assert 0.15 <= waited < 2.0
    assert stream.state is StreamState.FAILED
    await stream.cancel()
    async with asyncio.timeout(5):
        while emulator.live_session_count:
            await asyncio.sleep(0.005)  # the server's side of the close
    assert our_tasks() == set()
    await leak_check.assert_clean()


async def test_a_paused_consumer_does_not_count_as_an_idle_server(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(tokens_per_second=0)
    settings = settings_for(
        emu.base_url, stream_idle_timeout=0.1, buffer_max_chunks=4, pause_timeout=None
    )
    stream = await open_stream(settings, LIVE_MODEL, ask(max_tokens=40))
    async with stream:
        await stream.pause()
        await asyncio.sleep(0.4)  # longer than the idle bound, with the buffer full
        assert stream.buffered[0] == 4
        await stream.resume()
        chunks = [chunk async for chunk in stream]
    assert sum(1 for c in chunks if c.text) == 40
