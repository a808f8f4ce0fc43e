"""Synchronous twins of the WebSocket :class:`~api_gemini.websocket.Stream` and
:class:`~api_gemini.websocket.LiveSession`.

Each wraps the async object, which lives on the sync client's private event loop
thread (:class:`~api_gemini._portal.LoopPortal`); every method hops to that loop and
waits. No official Python SDK offers a synchronous Live API: this is it::

    with Client() as client:
        model = client.models.by_name("gemini-3.8-live")
        with model.stream_generate_content_websocket("Hello") as stream:
            for chunk in stream:
                print(chunk.text, end="")
        with model.connect() as session:
            session.send_text("Hello")
            for event in session.receive_turn():
                print(event)

Reconnection is the async one's: ``session.reconnect()`` after a ``GoAway`` event or a
``DisconnectedError``, or ``model.connect(config, reconnect=ReconnectPolicy())`` for
reconnects made for you, each one a ``Reconnected`` event in the iteration.

Thread safety: any thread may use these objects, and ``client.close()`` from another
thread ends a stream or session in use with ``ClientClosedError`` (never as if it had
finished). A ``KeyboardInterrupt`` loses nothing: a chunk or event that had already
arrived when the interrupt was handled is the next one returned.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from .._closing import SyncClosing
from .._portal import LoopPortal
from ..errors import ClientClosedError, SessionStateError
from ..types import Blob, Content, FunctionResponse, GenerateContentResponse

if TYPE_CHECKING:
    from ..settings import ReconnectPolicy
    from . import (
        ConnectionHealth,
        LiveEvent,
        LiveSession,
        SessionState,
        Stream,
        StreamMetrics,
        StreamState,
    )
    from .events import GoAway
    from .pool import LivePool, PoolMetrics

__all__ = ["SyncLivePool", "SyncLiveSession", "SyncStream"]


class SyncStream(SyncClosing):
    """One request's answer over the Live API, for synchronous code.

    An iterator of :class:`~api_gemini.types.GenerateContentResponse` and a context
    manager; ``pause()``, ``resume()`` and ``cancel()`` as on the async stream.
    """

    def __init__(self, stream: Stream, portal: LoopPortal) -> None:
        self._stream = stream
        self._portal = portal
        # A chunk that arrived as a KeyboardInterrupt was handled: the next one returned.
        self._kept: deque[GenerateContentResponse] = deque()
        self._cancelled_here = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> GenerateContentResponse:
        kept = self._kept
        if kept:
            if self._portal.forked:
                # Chunks held from the parent's last hop belong to the parent too: the
                # same refusal as a hop (the portal's), not a silent hand-out.
                raise SessionStateError(
                    "this object was opened in the parent process before os.fork(): its "
                    "connection and event loop belong to the parent; open a new one in "
                    "this process (the client itself starts a fresh loop here)"
                )
            return kept.popleft()
        if self._cancelled_here:
            raise StopIteration
        try:
            # One hop to the loop thread brings every chunk already buffered (issue 13,
            # item 5: a hop per chunk cost 6 times the async per-chunk CPU).
            batch = self._portal.run(self._stream._next_batch(), salvage=kept.extend)
        except StopAsyncIteration:
            if (
                self._portal.closing
                and not self._cancelled_here
                and self._state() is not _completed()
            ):
                # Ended by client.close() in another thread, not by the server's last chunk.
                raise ClientClosedError(
                    "the client was closed while this stream was in use"
                ) from None
            raise StopIteration from None
        except ClientClosedError:
            if self._state() is _completed():  # every chunk was delivered already
                raise StopIteration from None
            raise
        if len(batch) > 1:
            kept.extend(batch[1:])
        return batch[0]

    def _state(self) -> StreamState:
        state = self._portal.read(lambda: self._stream.state)
        if self._kept and state in (_completed(), _failed()):
            # Chunks taken in one hop and not delivered yet: still streaming here.
            return _streaming()
        return state

    @property
    def state(self) -> StreamState:
        """``STREAMING``, ``PAUSED``, ``COMPLETED``, ``CANCELLED`` or ``FAILED``."""
        return self._state()

    @property
    def metrics(self) -> StreamMetrics:
        """Connect time, time to first chunk, chunk count, bytes, gaps between chunks
        (a snapshot, read on the loop thread that updates them)."""
        return self._portal.read(lambda: _copy_metrics(self._stream.metrics))

    def health(self) -> ConnectionHealth:
        """The connection's health: state, ping RTT, idle time, age, goAway deadline."""
        return self._portal.read(self._stream.health)

    def pause(self) -> None:
        """Stop delivery; the bounded buffer fills, then the server is pushed back."""
        kept = list(self._kept)  # taken in one hop, not delivered: they go back first
        self._kept.clear()
        self._portal.run(self._stream._pause_giving_back(kept))

    def resume(self) -> None:
        """Deliver again."""
        self._portal.run(self._stream.resume())

    def cancel(self) -> None:
        """End at once with a close handshake (a no-op once the client is closed, and in
        a forked child, where the connection is the parent's)."""
        self._cancelled_here = True
        kept = list(self._kept)  # taken in one hop, not delivered: dropped by the cancel
        self._kept.clear()
        if self._portal.closing or self._portal.forked:
            return
        self._portal.run(self._stream._cancel_giving_back(kept))

    close = cancel

    def ping(self) -> float:
        """Ping the server now; the round trip in seconds."""
        return self._portal.run(self._stream.ping())

    @property
    def buffered(self) -> tuple[int, int]:
        """Chunks and bytes waiting in the buffer right now."""
        chunks, size = self._portal.read(lambda: self._stream.buffered)
        return chunks + len(self._kept), size

    def __repr__(self) -> str:
        return f"Sync{self._stream!r}"


class SyncLiveSession(SyncClosing):
    """A bidirectional Live session for synchronous code; iterating it spans turns."""

    def __init__(self, session: LiveSession, portal: LoopPortal) -> None:
        self._session = session
        self._portal = portal
        # An event that arrived as a KeyboardInterrupt was handled: the next one returned
        # by any iterator of this session.
        self._kept: deque[LiveEvent] = deque()
        self._closed_here = False

    # ---- sending

    def send_text(self, text: str, turn_complete: bool = True) -> None:
        """Send a user text turn (``turn_complete=False`` adds context only)."""
        self._portal.run(self._session.send_text(text, turn_complete))

    def send_content(
        self,
        turns: Content | Mapping[str, Any] | str | Sequence[Content | Mapping[str, Any] | str],
        turn_complete: bool = True,
    ) -> None:
        """Send one or more turns as ``clientContent``."""
        self._portal.run(self._session.send_content(turns, turn_complete=turn_complete))

    def send_audio(self, pcm: bytes, rate: int = 16000) -> None:
        """Send 16-bit little-endian PCM audio as realtime input."""
        self._portal.run(self._session.send_audio(pcm, rate))

    def send_realtime_input(
        self,
        *,
        audio: Blob | bytes | None = None,
        video: Blob | None = None,
        text: str | None = None,
        activity_start: bool = False,
        activity_end: bool = False,
        audio_stream_end: bool = False,
    ) -> None:
        """Send one ``realtimeInput`` message; exactly one argument must be given
        (``audio`` as bytes is taken as 16 kHz PCM)."""
        self._portal.run(
            self._session.send_realtime_input(
                audio=audio,
                video=video,
                text=text,
                activity_start=activity_start,
                activity_end=activity_end,
                audio_stream_end=audio_stream_end,
            )
        )

    def send_activity_start(self) -> None:
        """Mark the start of user activity (manual voice activity detection)."""
        self._portal.run(self._session.send_activity_start())

    def send_activity_end(self) -> None:
        """Mark the end of user activity."""
        self._portal.run(self._session.send_activity_end())

    def send_audio_stream_end(self) -> None:
        """Tell the server the audio stream has ended."""
        self._portal.run(self._session.send_audio_stream_end())

    def send_tool_response(
        self,
        responses: FunctionResponse
        | Mapping[str, Any]
        | Sequence[FunctionResponse | Mapping[str, Any]],
    ) -> None:
        """Answer the model's function calls."""
        self._portal.run(self._session.send_tool_response(responses))

    # ---- receiving

    def __iter__(self) -> Iterator[LiveEvent]:
        """Events across turns, until the session closes."""
        return _Events(self, one_turn=False)

    def receive_turn(self) -> Iterator[LiveEvent]:
        """Events up to and including the next ``TurnComplete`` (or a ``Reconnected``
        event whose ``turn_lost`` says that turn will not complete)."""
        return _Events(self, one_turn=True)

    def _next_event(self) -> LiveEvent:
        if self._kept:
            return self._kept.popleft()
        try:
            return self._portal.run(self._session.__anext__(), salvage=self._kept.append)
        except StopAsyncIteration:
            if self._portal.closing and not self._closed_here:
                raise ClientClosedError(
                    "the client was closed while this session was in use"
                ) from None
            raise StopIteration from None

    # ---- state

    @property
    def resumption_handle(self) -> str | None:
        """The newest session resumption handle, if resumption is enabled."""
        return self._session.resumption_handle

    @property
    def go_away(self) -> GoAway | None:
        """The last ``goAway`` notice, if one arrived."""
        return self._session.go_away

    @property
    def session_state(self) -> SessionState:
        """The protocol state (``READY``, ``IN_TURN``, ``CLOSED``, ...)."""
        return self._session.session_state

    @property
    def state(self) -> StreamState:
        """Delivery state: ``STREAMING``, ``PAUSED``, ``COMPLETED``, ``CANCELLED``, ``FAILED``."""
        return self._session.state

    @property
    def session_id(self) -> str | None:
        """The id the server gave in ``setupComplete``, if any."""
        return self._session.session_id

    @property
    def reconnect_policy(self) -> ReconnectPolicy | None:
        """The policy given to ``connect`` (``None``: nothing reconnects by itself)."""
        return self._session.reconnect_policy

    @property
    def buffered(self) -> tuple[int, int]:
        """Events and bytes waiting in the buffer right now."""
        return self._portal.read(lambda: self._session.buffered)

    def ping(self) -> float:
        """Ping the server now; the round trip in seconds."""
        return self._portal.run(self._session.ping())

    def health(self) -> ConnectionHealth:
        """The connection's health: state, ping RTT, idle time, age, goAway deadline."""
        return self._portal.read(self._session.health)

    @property
    def metrics(self) -> StreamMetrics:
        """Time to first chunk, chunks, bytes, ``from_pool``, ``reconnects``... (a
        snapshot, read on the loop thread that updates them)."""
        return self._portal.read(lambda: _copy_metrics(self._session.metrics))

    def reconnect(self) -> None:
        """Move the session to a new connection resumed with its newest handle; see
        :meth:`LiveSession.reconnect <api_gemini.websocket.LiveSession.reconnect>`."""
        self._portal.run(self._session.reconnect())

    def pause(self) -> None:
        """Stop delivering events; the bounded buffer then pushes back on the server."""
        self._portal.run(self._session.pause())

    def resume(self) -> None:
        """Deliver events again."""
        self._portal.run(self._session.resume())

    def close(self) -> None:
        """Close with a handshake (a no-op once the client is closed, and in a forked
        child, where the connection is the parent's)."""
        self._closed_here = True
        if self._portal.closing or self._portal.forked:
            return
        self._portal.run(self._session.close())

    def cancel(self) -> None:
        """End at once: drop what is buffered and close with a handshake."""
        self._closed_here = True
        self._kept.clear()
        if self._portal.closing or self._portal.forked:
            return
        self._portal.run(self._session.cancel())

    def __repr__(self) -> str:
        return f"Sync{self._session!r}"


class SyncLivePool:
    """The sync client's warm pool of Live connections: read its metrics and health.

    Warm it with ``model.prewarm(...)`` / ``model.prewarm_live(...)``; closing the client
    closes it.
    """

    def __init__(self, pool: LivePool, portal: LoopPortal) -> None:
        self._pool = pool
        self._portal = portal

    def metrics(self) -> PoolMetrics:
        """Hits, misses, opens, discards by reason, idle and opening connections (read
        on the loop thread that changes them)."""
        return self._portal.read(self._pool.metrics)

    def health(self) -> list[ConnectionHealth]:
        """The health of every idle warm connection (read on the loop thread)."""
        return self._portal.read(self._pool.health)

    def wait_until(self, predicate: Callable[[PoolMetrics], bool]) -> PoolMetrics:
        """Block until ``predicate(metrics)`` holds (for example a refill finished);
        bound it with the client's own timeouts or a predicate that gives up."""
        return self._portal.run(self._pool.wait_until(predicate))

    @property
    def closed(self) -> bool:
        """Whether the pool is closed (the client was closed)."""
        return self._pool.closed

    def __repr__(self) -> str:
        return f"Sync{self._pool!r}"


class _Events:
    """An iterator of a session's events that survives a ``KeyboardInterrupt``: after
    one, ``next()`` goes on where it stopped (a generator would be finished)."""

    def __init__(self, session: SyncLiveSession, *, one_turn: bool) -> None:
        self._session = session
        self._one_turn = one_turn
        self._ended = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> LiveEvent:
        if self._ended:
            raise StopIteration
        event = self._session._next_event()
        if self._one_turn and _ends_turn(event):
            self._ended = True
        return event


@functools.cache
def _websocket() -> Any:
    # Imported when first needed, by its absolute name: this module may live inside the
    # websocket package, whose __init__ may import it.
    return importlib.import_module("api_gemini.websocket")


def _ends_turn(event: LiveEvent) -> bool:
    ws = _websocket()
    kind = type(event)
    # A Reconnected whose turn_lost says the turn will not complete ends it too.
    return kind is ws.TurnComplete or (
        kind is ws.Reconnected and bool(getattr(event, "turn_lost", False))
    )


def _completed() -> StreamState:
    completed: StreamState = _websocket().StreamState.COMPLETED
    return completed


def _failed() -> StreamState:
    failed: StreamState = _websocket().StreamState.FAILED
    return failed


def _streaming() -> StreamState:
    streaming: StreamState = _websocket().StreamState.STREAMING
    return streaming


def _copy_metrics(metrics: StreamMetrics) -> StreamMetrics:
    return dataclasses.replace(metrics)
