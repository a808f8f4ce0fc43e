"""The synchronous WebSocket API against the emulator running as a real subprocess."""

from __future__ import annotations

import asyncio
import threading

import psutil
import pytest

from api_gemini import Client
from api_gemini.errors import ConfigurationError, SetupRejectedError
from api_gemini.types import Content, GenerateContentRequest, GenerationConfig
from api_gemini.websocket import ModelTurn, StreamState, TurnComplete

LIVE_MODEL = "gemini-live-2.5-flash-preview"


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
        model = client.models().by_name(LIVE_MODEL)
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
        assert first.text
        stream.cancel()
        assert stream.state is StreamState.CANCELLED
        assert list(stream) == []
    assert loop_threads() == []  # closing the client stopped its loop thread
    assert psutil.Process().num_fds() <= before_fds


def test_sync_session_spans_turns_and_keeps_context(emulator_process: str) -> None:
    with Client(base_url=emulator_process) as client:
        model = client.models().by_name(LIVE_MODEL)
        config = {"responseModalities": ["TEXT"], "sessionResumption": {}}
        with model.connect(config) as session:
            session.send_text("echo: first words")
            first = [e for e in session.receive_turn() if isinstance(e, ModelTurn)]
            assert "".join(e.text for e in first) == "first words"
            session.send_text("recall")
            events = list(session.receive_turn())
            assert isinstance(events[-1], TurnComplete)
            text = "".join(e.text for e in events if isinstance(e, ModelTurn))
            assert text == "echo: first words"
            assert session.resumption_handle


def test_closing_the_client_closes_sessions_left_open(emulator_process: str) -> None:
    client = Client(base_url=emulator_process)
    session = client.models().by_name(LIVE_MODEL).connect({"responseModalities": ["TEXT"]})
    session.send_text("echo: hi")
    client.close()
    assert session.session_state.name == "CLOSED"
    assert loop_threads() == []
    with pytest.raises(ConfigurationError, match="closed"):
        client.models()


def test_sync_errors_are_the_async_ones(emulator_process: str) -> None:
    with Client(base_url=emulator_process) as client:
        with pytest.raises(SetupRejectedError) as caught:
            client.models().by_name("gemini-2.5-pro").connect()
        assert caught.value.close_code == 1008


async def test_sync_api_works_from_a_thread_with_a_running_loop(emulator_process: str) -> None:
    """As in a notebook cell: the calling thread's own loop is running."""
    assert asyncio.get_running_loop().is_running()
    with Client(base_url=emulator_process) as client:
        stream = client.models().by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
        assert len(list(stream)) > 0
