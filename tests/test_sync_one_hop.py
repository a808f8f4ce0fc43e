"""The sync stream's one-hop hand-over (issue 13, item 5): a hop to the loop thread
brings every chunk already buffered. Nothing may be lost, reordered or delivered while
paused because of it: chunks taken but not delivered go back on pause and cancel."""

from __future__ import annotations

import time

from api_gemini import Client
from api_gemini.websocket import StreamState
from api_gemini.websocket.sync_live import SyncStream

LIVE_MODEL = "gemini-3.8-live"
WORDS = [f"w{i}" for i in range(40)]
#: Chunks after the first: each word is an audio chunk and its transcription chunk
#: (today's default, AUDIO with output transcription), then the final chunk.
REST = 2 * len(WORDS) - 1 + 1


def test_taken_chunks_go_back_on_pause_and_come_in_order(emulator_process: str) -> None:
    with (
        Client(base_url=emulator_process) as client,
        client.models.by_name(LIVE_MODEL).stream_generate_content_websocket(
            "echo: " + " ".join(WORDS)
        ) as stream,
    ):
        texts = [next(stream).text]
        # Wait until the whole answer is in: the next hop then takes all of it.
        deadline = time.monotonic() + 10
        while stream.buffered[0] < REST and time.monotonic() < deadline:
            time.sleep(0.01)
        texts.append(next(stream).text)  # one hop; the rest is held by the sync side
        held = stream.buffered[0]
        assert held == REST - 1  # still counted as buffered
        assert state_of(stream) is StreamState.STREAMING  # not COMPLETED while held
        stream.pause()
        assert state_of(stream) is StreamState.PAUSED
        assert stream.buffered[0] == held  # given back, not dropped
        stream.resume()
        texts.extend(chunk.text for chunk in stream)
    assert "".join(texts).split() == WORDS
    assert stream.state is StreamState.COMPLETED


def state_of(stream: SyncStream) -> StreamState:
    """Read through a call: mypy would narrow the property between two asserts."""
    return stream.state


def test_cancel_with_taken_chunks_ends_cancelled(emulator_process: str) -> None:
    with (
        Client(base_url=emulator_process) as client,
        client.models.by_name(LIVE_MODEL).stream_generate_content_websocket(
            "echo: " + " ".join(WORDS)
        ) as stream,
    ):
        next(stream)
        deadline = time.monotonic() + 10
        while stream.buffered[0] < REST and time.monotonic() < deadline:
            time.sleep(0.01)
        next(stream)
        stream.cancel()
        assert stream.state is StreamState.CANCELLED
        assert list(stream) == []
