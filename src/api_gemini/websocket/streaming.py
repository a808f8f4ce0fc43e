"""Streams over the Live API: :class:`Stream` (one request) and :class:`LiveSession`.

Both run one reader task between the socket and the consumer, with a bounded buffer
in between (``buffer_max_chunks`` and ``buffer_max_bytes`` of
:class:`~api_gemini.settings.WebSocketSettings`)::

    socket -> websockets' queue (a few frames) -> reader task: decode -> buffer -> consumer

When the buffer is full the reader stops reading; websockets' own small queue then
fills, it stops reading the socket, and TCP flow control pushes back on the server.
Memory stays bounded however fast the server sends: the buffer, one message in the
reader's hand, and websockets' queue of at most
:data:`~api_gemini.websocket.connection.WEBSOCKETS_MAX_QUEUE` frames.

Faults found by the reader (a close, a malformed frame) reach the consumer after every
item received before them, each delivered exactly once and in order.

Note on keepalive: a reader that stops reading cannot see pongs either, so a consumer
that leaves a full buffer untouched for longer than ``keepalive_interval +
keepalive_timeout`` loses the connection to a
:class:`~api_gemini.errors.KeepaliveTimeoutError` (after the buffered items). The default
``pause_timeout`` (60 s) is below that bound (65 s) so that a forgotten pause ends with
the clearer :class:`~api_gemini.errors.StreamPausedTooLongError`.

Reconnection (sessions only) never happens by itself: :meth:`LiveSession.reconnect`, or
a :class:`~api_gemini.settings.ReconnectPolicy` given to :func:`connect_live`, moves the
session to a new connection resumed with its newest handle; the reader then reads the
new connection, and a :class:`Reconnected` event, after every event of the old one
that was delivered to the buffer, tells the consumer. Frames of the old connection
still unread when the session moves (a message the reader held while the buffer was
full, frames queued in websockets) are dropped, never delivered after
:class:`Reconnected`; they belong to the turn the reconnect cut
(``Reconnected.turn_lost``). A :class:`Stream` is one request: a drop ends it with the
error.

Sends during a reconnect wait and go out on the new connection. Outside one, a send on
a connection that has closed raises :class:`~api_gemini.errors.DisconnectedError` (with
the handle) when the reader cannot see the drop yet because the buffer is full and
nobody reads; it does not wait without bound. A send the socket accepted before the
drop was noticed may be lost: it is counted in ``Reconnected.unconfirmed_sends``.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypeVar

import msgspec

from .._wire import convert
from ..errors import (
    ConfigurationError,
    DisconnectedError,
    InvalidRequestError,
    MessageParseError,
    ProtocolViolationError,
    ReconnectFailedError,
    SessionStateError,
    SetupRejectedError,
    StreamIdleTimeoutError,
    StreamPausedTooLongError,
    WebSocketError,
)
from ..live_types import (
    AudioTranscriptionConfig,
    LiveConnectConfig,
    LiveSetup,
    LiveUsageMetadata,
    RealtimeInput,
    ServerMessage,
    SessionResumptionConfig,
    coerce_live_config,
)
from ..settings import ClientSettings, ReconnectPolicy, WebSocketSettings
from ..types import (
    Blob,
    Candidate,
    Content,
    FunctionResponse,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    Part,
    RequestLike,
    Transcription,
    coerce_request,
)
from .connection import ConnectionHealth, LiveConnection
from .protocol import (
    ACTIVITY_END,
    ACTIVITY_START,
    AUDIO_STREAM_END,
    GoAway,
    LiveEvent,
    ModelTurn,
    SessionState,
    SetupComplete,
    TurnComplete,
    UnknownMessage,
    encode_audio,
    events_from_message,
    frame_of,
    usage_to_http,
)

if TYPE_CHECKING:
    from .pool import LivePool

__all__ = [
    "LiveSession",
    "Reconnected",
    "Stream",
    "StreamMetrics",
    "StreamState",
    "connect_live",
    "model_resource_name",
    "open_stream",
]

T = TypeVar("T")


class StreamState(enum.Enum):
    """Where a :class:`Stream` (or the receiving side of a session) is."""

    STREAMING = "streaming"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(slots=True)
class StreamMetrics:
    """Timings and counters of a stream, cheap to keep and readable at any time.

    Attributes:
        connect_time: seconds for TCP + TLS + WebSocket upgrade.
        setup_time: seconds from ``setup`` sent to ``setupComplete`` received.
        time_to_first_chunk: seconds from the request (content) sent to the first
            chunk received.
        chunks: chunks received (a :class:`Stream`'s responses, a session's
            :class:`~api_gemini.websocket.protocol.ModelTurn` events).
        messages: server messages received after setup.
        bytes_received: their size on the wire.
        gap_min, gap_max: shortest and longest time between two chunks (arrival).
        gap_total: the sum of those gaps (see :attr:`gap_mean`).
        buffer_peak_chunks, buffer_peak_bytes: the fullest the buffer has been.
        from_pool: the connection came warm from the pool (``connect_time`` and
            ``setup_time`` were then spent before the request, not in it).
        reconnects: times a session moved to a new connection (each one is also a
            :class:`Reconnected` event).
        reconnect_failures: connection attempts of reconnects that failed.
    """

    connect_time: float | None = None
    setup_time: float | None = None
    time_to_first_chunk: float | None = None
    chunks: int = 0
    messages: int = 0
    bytes_received: int = 0
    gap_min: float | None = None
    gap_max: float | None = None
    gap_total: float = 0.0
    buffer_peak_chunks: int = 0
    buffer_peak_bytes: int = 0
    from_pool: bool = False
    reconnects: int = 0
    reconnect_failures: int = 0

    @property
    def gap_mean(self) -> float | None:
        """Mean time between two chunks, ``None`` with fewer than two chunks."""
        return self.gap_total / (self.chunks - 1) if self.chunks > 1 else None


class _Receiver(Generic[T]):
    """The reader task, the bounded buffer, pause/resume/cancel, one consumer at a time.

    Subclasses turn each server message into items with :meth:`_convert`.
    """

    _what = "stream"

    def __init__(self, conn: LiveConnection, settings: WebSocketSettings) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._items: deque[tuple[T, int]] = deque()
        self._nbytes = 0
        self._max_items = settings.buffer_max_chunks
        self._max_bytes = settings.buffer_max_bytes
        self._pause_timeout = settings.pause_timeout
        self._consumer: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._pending_count = 0  # the message the reader holds while it waits for room
        self._pending_size = 0
        self._done = False  # the reader will add nothing more
        self._error: BaseException | None = None  # to raise after the buffered items
        self._failed: BaseException | None = None  # raised (or fatal): the stream failed
        self._cancelled = False
        self._paused = False
        self._pause_handle: asyncio.TimerHandle | None = None
        self._receiving = False
        self._stop_reading = False  # set by _convert when the last item is in
        self._reader_closing = False
        self._closer: asyncio.Task[None] | None = None
        self._last_chunk_at: float | None = None
        self._request_sent_at: float | None = None
        self.metrics = StreamMetrics(connect_time=conn.connect_time, setup_time=conn.setup_time)
        self._reader: asyncio.Task[None] | None = None
        self._due = False  # the reader calls _on_due after the current message

    def _start(self) -> None:
        self._reader = self._loop.create_task(self._read(), name=f"api-gemini {self._what} reader")

    # ---- subclass hook

    def _convert(self, message: ServerMessage | UnknownMessage) -> list[T] | None:
        raise NotImplementedError

    def _is_chunk(self, item: T) -> bool:
        return True

    async def _on_end(self, conn: LiveConnection, error: DisconnectedError | None) -> bool:
        """The connection ended (``error``: how; ``None``: a clean close). Return True
        to keep reading from ``self._conn`` (a session that reconnected); may raise."""
        return False

    async def _on_due(self) -> None:
        """Called after a message when ``_due`` is set (a session's pending goAway)."""

    def _fail_pending(self, error: BaseException) -> None:
        """Fail sends waiting for a reconnect (sessions only)."""

    def _chunks_received(self) -> int:
        """For ``DisconnectedError.chunks_received``: asked only once the buffer is
        empty, so every chunk that arrived has been delivered (no per-item counter)."""
        return self.metrics.chunks

    # ---- reader side

    async def _read(self) -> None:
        metrics = self.metrics
        error: BaseException | None = None
        try:
            while not self._stop_reading:
                conn = self._conn
                try:
                    received = await conn.recv()
                except WebSocketError as exc:
                    if conn is not self._conn:
                        continue  # replaced by a reconnect: read the new connection
                    if isinstance(exc, DisconnectedError) and await self._on_end(conn, exc):
                        continue
                    raise
                if received is None:
                    if conn is not self._conn or await self._on_end(conn, None):
                        continue
                    break
                message, size = received
                if conn is not self._conn:
                    # An explicit reconnect() replaced the connection while this frame
                    # was queued: Reconnected is already buffered, and nothing of the
                    # old connection may follow it. Frames still queued there are dropped.
                    continue
                metrics.messages += 1
                metrics.bytes_received += size
                items = self._convert(message)
                if items:
                    if self._items and (
                        len(self._items) + len(items) > self._max_items
                        or self._nbytes + size > self._max_bytes
                    ):
                        await self._wait_for_room(len(items), size)
                        if conn is not self._conn:
                            continue  # replaced while we waited: see above
                    self._push(items, size)
                if self._due:
                    await self._on_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # delivered to the consumer, in order, after the items
            error = exc
        self._reader_closing = True
        conn = self._conn
        if not conn.closed:
            if isinstance(error, MessageParseError):
                code = 1007
            elif isinstance(error, ProtocolViolationError):
                code = 1002
            else:
                code = 1000
            await conn.close(code)
        self._finish(error)

    async def _wait_for_room(self, count: int, size: int) -> None:
        """Wait until ``count`` items of ``size`` bytes fit (or the buffer is empty:
        a single message larger than the byte limit is let through alone)."""
        self._pending_count = count
        self._pending_size = size
        items = self._items
        while items and (
            len(items) + count > self._max_items or self._nbytes + size > self._max_bytes
        ):
            room = self._loop.create_future()
            self._room = room
            try:
                await room
            finally:
                self._room = None

    def _push(self, items: list[T], size: int) -> None:
        buffer = self._items
        # A message's bytes are counted once, with its first item.
        buffer.append((items[0], size))
        chunks = 1 if self._is_chunk(items[0]) else 0
        if len(items) > 1:  # rare: the per-chunk path skips building the slice
            for item in items[1:]:
                buffer.append((item, 0))
                if self._is_chunk(item):
                    chunks += 1
        self._nbytes += size
        metrics = self.metrics
        if chunks:
            # The arrival time, already read by the connection: no second clock call.
            now = self._conn.last_message_at or time.monotonic()
            last = self._last_chunk_at
            if last is None:
                sent = self._request_sent_at
                if sent is not None:
                    metrics.time_to_first_chunk = now - sent
            else:
                # One chunk per message in practice (one modelTurn per serverContent),
                # so gaps are per chunk and gap_mean divides by chunks - 1.
                gap = now - last
                if metrics.gap_min is None or gap < metrics.gap_min:
                    metrics.gap_min = gap
                if metrics.gap_max is None or gap > metrics.gap_max:
                    metrics.gap_max = gap
                metrics.gap_total += gap
            self._last_chunk_at = now
            metrics.chunks += chunks
        if len(buffer) > metrics.buffer_peak_chunks:
            metrics.buffer_peak_chunks = len(buffer)
        if self._nbytes > metrics.buffer_peak_bytes:
            metrics.buffer_peak_bytes = self._nbytes
        consumer = self._consumer
        if consumer is not None and not consumer.done():
            consumer.set_result(None)

    def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        if error is not None and not self._cancelled and self._failed is None:
            self._error = error
        self._fail_pending(error or SessionStateError(f"the {self._what} has ended"))
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        consumer = self._consumer
        if consumer is not None and not consumer.done():
            consumer.set_result(None)

    def _wake_reader(self) -> None:
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)

    # ---- consumer side

    async def _next(self) -> T:
        if self._receiving:
            raise SessionStateError(
                f"another task is already receiving from this {self._what}: "
                "only one receiver at a time"
            )
        self._receiving = True
        try:
            while True:
                if self._failed is not None:
                    if isinstance(self._failed, StreamPausedTooLongError):
                        raise self._failed
                    raise StopAsyncIteration
                if self._cancelled:
                    raise StopAsyncIteration
                if not self._paused:
                    items = self._items
                    if items:
                        item, size = items.popleft()
                        self._nbytes -= size
                        if self._room is not None and (
                            not items
                            or (
                                len(items) + self._pending_count <= self._max_items
                                and self._nbytes + self._pending_size <= self._max_bytes
                            )
                        ):
                            self._wake_reader()
                        return item
                    if self._done:
                        error = self._error
                        if error is not None:
                            self._error = None
                            self._failed = error
                            if isinstance(error, DisconnectedError):
                                error.chunks_received = self._chunks_received()
                            raise error
                        raise StopAsyncIteration
                waiter = self._loop.create_future()
                self._consumer = waiter
                try:
                    await waiter
                finally:
                    self._consumer = None
        finally:
            self._receiving = False

    # ---- control

    @property
    def state(self) -> StreamState:
        """``STREAMING``, ``PAUSED``, ``COMPLETED``, ``CANCELLED`` or ``FAILED``."""
        if self._cancelled:
            return StreamState.CANCELLED
        if self._failed is not None:
            return StreamState.FAILED
        if self._done and not self._items:
            return StreamState.FAILED if self._error is not None else StreamState.COMPLETED
        return StreamState.PAUSED if self._paused else StreamState.STREAMING

    async def pause(self) -> None:
        """Stop delivering items; they keep arriving into the bounded buffer until it
        is full, then the server is pushed back. A pause longer than ``pause_timeout``
        ends the stream with :class:`~api_gemini.errors.StreamPausedTooLongError`."""
        if self._paused or self._cancelled or self._failed is not None:
            return
        self._paused = True
        if self._pause_timeout is not None:
            self._pause_handle = self._loop.call_later(self._pause_timeout, self._pause_expired)

    async def resume(self) -> None:
        """Deliver again (idempotent)."""
        if not self._paused:
            return
        self._paused = False
        if self._pause_handle is not None:
            self._pause_handle.cancel()
            self._pause_handle = None
        self._wake_consumer()

    def _pause_expired(self) -> None:
        self._pause_handle = None
        if not self._paused or self._cancelled or self._failed is not None:
            return
        self._failed = StreamPausedTooLongError(
            f"the {self._what} stayed paused longer than pause_timeout="
            f"{self._pause_timeout}s; it has been closed and its buffer dropped"
        )
        self._drop_buffer()
        self._wake_consumer()
        self._closer = self._loop.create_task(
            self._shutdown(1000, "paused too long"), name=f"api-gemini {self._what} closer"
        )

    def _drop_buffer(self) -> None:
        self._items.clear()
        self._nbytes = 0
        self._wake_reader()

    async def _shutdown(self, code: int = 1000, reason: str = "") -> None:
        """Stop the reader and close the connection with a handshake; idempotent."""
        reader = self._reader
        if reader is not None and not reader.done():
            if self._reader_closing:
                # The reader is already closing the connection: let it finish.
                await asyncio.wait([reader])
            else:
                reader.cancel()
                try:
                    # wait(), not `await reader`: the reader's CancelledError is its own,
                    # and suppressing it would also swallow the caller's (a timeout
                    # around close() that fires while a reconnect is stalled).
                    await asyncio.wait([reader])
                except asyncio.CancelledError:
                    # The caller gave up: finish the close without it, so nothing stays
                    # open, and let its cancellation through.
                    self._closer = self._loop.create_task(
                        self._shutdown(code, reason), name=f"api-gemini {self._what} closer"
                    )
                    raise
        if not self._conn.closed:
            await self._conn.close(code, reason)
        self._done = True
        self._fail_pending(SessionStateError(f"the {self._what} was closed"))
        self._wake_consumer()

    async def _wait_closer(self) -> None:
        closer = self._closer
        if closer is not None and not closer.done():
            await asyncio.wait([closer])

    async def cancel(self) -> None:
        """End at once: drop the buffer, close the connection with a handshake, stop
        the reader task. Idempotent; a no-op (apart from cleanup) once finished."""
        if self._pause_handle is not None:
            self._pause_handle.cancel()
            self._pause_handle = None
        finished = self._failed is not None or (self._done and not self._items)
        if not finished and not self._cancelled:
            self._cancelled = True
            self._drop_buffer()
            self._wake_consumer()
        await self._wait_closer()
        await self._shutdown(1000, "")

    def health(self) -> ConnectionHealth:
        """The current connection's health: state, ping RTT, time since the last
        message, age, ``goAway`` deadline, messages and bytes in and out. After a
        reconnect it describes the new connection (see ``metrics.reconnects``)."""
        return self._conn.health()

    async def ping(self) -> float:
        """Ping the server now; the round trip in seconds (see
        :meth:`LiveConnection.ping <api_gemini.websocket.connection.LiveConnection.ping>`)."""
        return await self._conn.ping()

    @property
    def buffered(self) -> tuple[int, int]:
        """Items and bytes waiting in the buffer right now."""
        return len(self._items), self._nbytes


# --------------------------------------------------------------------------- Stream


def model_resource_name(model: str) -> str:
    """``"gemini-x"`` and ``"models/gemini-x"`` both become ``"models/gemini-x"``.

    Raises:
        InvalidRequestError: an empty name.
    """
    name = model.strip()
    if not name or name in ("models/", "tunedModels/"):
        raise InvalidRequestError("the model name is empty")
    if name.startswith(("models/", "tunedModels/")):
        return name
    return f"models/{name}"


def _setup_from_request(model: str, request: GenerateContentRequest) -> LiveSetup:
    unsupported = [
        name
        for name, value in (
            ("tool_config", request.tool_config),
            ("cached_content", request.cached_content),
        )
        if value is not None
    ]
    if unsupported:
        raise InvalidRequestError(
            f"the Live API (WebSocket) does not take {', '.join(unsupported)}; "
            "use stream_generate_content (SSE) for this request"
        )
    generation = request.generation_config
    if generation is None:
        generation = GenerationConfig(response_modalities=["AUDIO"])
    elif not generation.response_modalities:
        generation = msgspec.structs.replace(generation, response_modalities=["AUDIO"])
    audio = "AUDIO" in (generation.response_modalities or ())
    return LiveSetup(
        model=model_resource_name(model),
        generation_config=generation,
        system_instruction=request.system_instruction,
        tools=request.tools,
        safety_settings=request.safety_settings,
        # Today's Live models answer in AUDIO only; the transcription is the chunks'
        # text (a GenerateContentRequest has no field to ask for it otherwise).
        output_audio_transcription=AudioTranscriptionConfig() if audio else None,
        # Top-level fields the library does not type go to setup, as given.
        extra=request.extra,
    )


def _user_turns(contents: Sequence[Content]) -> list[Content]:
    if not contents:
        raise InvalidRequestError("the request has no contents")
    # The Live API wants a role on every turn; the HTTP API defaults it to "user".
    return [c if c.role else msgspec.structs.replace(c, role="user") for c in contents]


class Stream(_Receiver[GenerateContentResponse]):
    """One request's answer over the Live API, as ``GenerateContentResponse`` chunks.

    ``async for chunk in stream`` yields the same type SSE streaming yields; the last
    chunk has ``finish_reason == "STOP"`` and the usage metadata (it carries the last
    text when the server sent both together, else no parts). The connection is closed
    with a handshake when the turn completes, on :meth:`cancel`, and when an
    ``async with stream:`` block exits.
    """

    _what = "stream"

    def __init__(self, conn: LiveConnection, settings: WebSocketSettings, model: str) -> None:
        super().__init__(conn, settings)
        self._model_version = model.removeprefix("models/")
        self._usage: LiveUsageMetadata | None = None
        self._idle_timeout = settings.stream_idle_timeout
        self._idle_since = 0.0  # when the stream started to wait (the request went out)

    def _start(self) -> None:
        super()._start()
        if self._idle_timeout is not None:
            # One timer re-armed from the last arrival, not a timeout per receive: the
            # per-chunk path pays nothing for the bound.
            self._idle_since = time.monotonic()
            self._loop.call_later(self._idle_timeout, self._check_idle)

    def _check_idle(self) -> None:
        timeout = self._idle_timeout
        if (
            timeout is None
            or self._done
            or self._cancelled
            or self._failed is not None
            or self._reader_closing
        ):
            return
        now = time.monotonic()
        if self._room is not None:
            # The reader waits for a slow or paused consumer, not for the server.
            self._idle_since = now
        last = max(self._conn.last_message_at or 0.0, self._idle_since)
        left = last + timeout - now
        if left > 0:
            self._loop.call_later(left, self._check_idle)
            return
        error = StreamIdleTimeoutError(
            f"no message from the server for {timeout:g}s (stream_idle_timeout) after "
            f"{self.metrics.chunks} chunks; the stream has been closed"
        )
        self._closer = self._loop.create_task(
            self._end_idle(error), name="api-gemini stream closer"
        )

    async def _end_idle(self, error: StreamIdleTimeoutError) -> None:
        """Stop the reader, end the stream with ``error`` after what is buffered, and
        close the connection with a handshake."""
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait([reader])
        self._finish(error)
        if not self._conn.closed:
            await self._conn.close(1000, "idle")

    def _convert(
        self, message: ServerMessage | UnknownMessage
    ) -> list[GenerateContentResponse] | None:
        # The per-chunk hot path: one attribute walk, one response object per chunk.
        if type(message) is not ServerMessage:
            return None
        if message.usage_metadata is not None:
            self._usage = message.usage_metadata
        content = message.server_content
        if content is not None:
            turn = content.model_turn
            if turn is not None:
                turn.role = "model"
            spoken = content.output_transcription
            if content.turn_complete:
                self._stop_reading = True
                final = self._final(turn.parts if turn is not None else [], spoken)
                final.__dict__["_frame"] = frame_of(message)
                return [final]
            grounding = content.grounding_metadata
            url_context = content.url_context_metadata
            if turn is None and spoken is None and grounding is None and url_context is None:
                return None
            # One chunk per frame: audio and its transcription in one frame (3.1 Flash
            # Live) make one chunk; in separate frames (native audio), two.
            chunk = GenerateContentResponse(
                candidates=[
                    Candidate(
                        content=turn if turn is not None else Content(parts=[], role="model"),
                        index=0,
                        grounding_metadata=grounding,
                        url_context_metadata=url_context,
                    )
                ],
                output_transcription=spoken,
            )
            chunk.__dict__["_frame"] = frame_of(message)
            return [chunk]
        if message.tool_call is not None:
            # As over HTTP: the answer is a function call, and the request is over.
            self._stop_reading = True
            parts = [Part(function_call=call) for call in message.tool_call.function_calls]
            final = self._final(parts, None)
            final.__dict__["_frame"] = frame_of(message)
            return [final]
        return None

    def _final(self, parts: list[Part], spoken: Transcription | None) -> GenerateContentResponse:
        usage = self._usage
        return GenerateContentResponse(
            candidates=[
                Candidate(content=Content(parts=parts, role="model"), finish_reason="STOP", index=0)
            ],
            usage_metadata=usage_to_http(usage) if usage is not None else None,
            model_version=self._model_version,
            output_transcription=spoken,
        )

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Coroutine[Any, Any, GenerateContentResponse]:
        """The next chunk; raises the reader's error after the chunks before it."""
        # Returns _next()'s coroutine itself: one coroutine per chunk, not two.
        return self._next()

    async def aclose(self) -> None:
        """Same as :meth:`cancel` (the async-iterator protocol's name)."""
        await self.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cancel()

    def __repr__(self) -> str:
        return f"Stream(model={self._model_version!r}, state={self.state.name})"


def stream_setup(model: str, request: GenerateContentRequest | RequestLike) -> LiveSetup:
    """The ``setup`` that :func:`open_stream` sends for ``request`` (its contents aside):
    what a warm pool connection for such requests is set up with."""
    return _setup_from_request(model, coerce_request(request))


async def open_stream(
    settings: ClientSettings,
    model: str,
    request: GenerateContentRequest | RequestLike,
    pool: LivePool | None = None,
) -> Stream:
    """Open a Live connection for one request and start streaming its answer.

    Sends ``setup`` built from the request (model, generation config with
    ``responseModalities: ["AUDIO"]`` unless set, and with AUDIO
    ``outputAudioTranscription``, system instruction, tools, safety settings, and any
    top-level field the library does not type), waits for ``setupComplete``, sends the
    contents as one ``clientContent`` turn with ``turnComplete: true``, and returns the
    :class:`Stream` of chunks: in AUDIO each chunk's ``.text`` is the transcription and
    ``.audio`` the 24 kHz PCM of the same frame.

    With a ``pool`` holding a warm connection set up the same way, that connection is
    used and connect and setup are skipped (``stream.metrics.from_pool``). A warm
    connection found closed at the first send (nothing went out) is discarded and the
    request connects cold: the request itself is never sent twice.

    Raises:
        InvalidRequestError: no contents, or fields the Live API does not take.
        WebSocketConnectionError, SetupRejectedError: as
            :meth:`LiveConnection.open <api_gemini.websocket.connection.LiveConnection.open>`.
    """
    request = coerce_request(request)
    setup = _setup_from_request(model, request)
    turns = _user_turns(request.contents)
    while True:
        taken = await pool.acquire(setup) if pool is not None else None
        conn = taken[0] if taken is not None else (await LiveConnection.open(settings, setup))[0]
        try:
            stream = Stream(conn, settings.websocket, setup.model)
            stream.metrics.from_pool = taken is not None
            stream._request_sent_at = time.monotonic()
            await conn.send_client_content(turns, True)
        except (SessionStateError, DisconnectedError):
            await conn.close(1000)
            if taken is None or pool is None:
                raise
            pool.send_failed()  # closed under us before the frame went out: go cold
            continue
        except BaseException:
            await conn.close(1000)
            raise
        stream._start()
        return stream


# --------------------------------------------------------------------------- LiveSession


def _as_content(turn: Content | Mapping[str, Any] | str) -> Content:
    if isinstance(turn, Content):
        return turn if turn.role else msgspec.structs.replace(turn, role="user")
    if isinstance(turn, str):
        return Content.user_text(turn)
    content = convert(turn, Content)  # both spellings; untyped keys kept in extra
    return content if content.role else msgspec.structs.replace(content, role="user")


def _as_response(item: FunctionResponse | Mapping[str, Any]) -> FunctionResponse:
    return convert(item, FunctionResponse)  # both spellings; untyped keys kept in extra


class Reconnected(LiveEvent, frozen=True):
    """The session moved to a new connection, resumed with its newest handle.

    Yielded by ``async for event in session`` (and :meth:`LiveSession.receive_turn`)
    after every buffered event of the old connection; nothing of the old connection
    follows it (its unread frames are dropped). Counted in ``metrics.reconnects``.

    Attributes:
        cause: ``"go_away"`` (a policy acted on ``goAway``), ``"disconnected"`` (a
            policy acted on a drop) or ``"explicit"`` (:meth:`LiveSession.reconnect`).
        close_code: the close code of the drop (``None`` unless ``"disconnected"``).
        attempt: the attempt that succeeded (1: the first).
        turn_lost: the old connection ended in the middle of a turn: that answer is cut
            short, and the resumed context may lack its request; send it again if you
            still want the answer. :meth:`LiveSession.receive_turn` stops here.
        unconfirmed_sends: messages sent on the old connection after its newest
            resumption handle arrived, including sends still in progress there when
            it was replaced (those are sent again on the new connection if the old
            one refused them): the resumed context may lack them.
        session_id: the new connection's session id, if the server gave one.
    """

    cause: str
    close_code: int | None = None
    attempt: int = 1
    turn_lost: bool = False
    unconfirmed_sends: int = 0
    session_id: str | None = None


#: Sends that may wait for an explicit :meth:`LiveSession.reconnect` (a policy sets its
#: own ``max_pending_sends``).
DEFAULT_MAX_PENDING_SENDS: Final = 32

_SendOp = Callable[[LiveConnection], Awaitable[None]]


class LiveSession(_Receiver[LiveEvent]):
    """A bidirectional Live session: send turns, audio, video, tool responses; receive
    typed events across turns.

    ``async for event in session`` spans turns and ends only when the session closes;
    :meth:`receive_turn` stops after one :class:`~.protocol.TurnComplete`. The newest
    :attr:`resumption_handle` and the last :attr:`go_away` are kept as they arrive,
    whether or not anyone is iterating. Sends are safe from several tasks at once;
    only one task may receive at a time.

    Reconnection is explicit: :meth:`reconnect` moves the session to a new connection
    with its newest resumption handle, and a
    :class:`~api_gemini.settings.ReconnectPolicy` given to ``connect`` does it for the
    caller on ``goAway`` and on retryable drops. Either way a :class:`Reconnected`
    event marks the move in the event stream, and ``metrics.reconnects`` counts it.

    Sends made while a reconnect is in progress wait (at most ``max_pending_sends`` of
    them, in order) and go out on the new connection once it is set up; if the
    reconnect fails they raise its error. One more is refused at once with
    :class:`~api_gemini.errors.SessionStateError`. Nothing is ever sent twice: a send
    waits only when its frame did not go out.
    """

    _what = "session"

    def __init__(
        self,
        conn: LiveConnection,
        settings: WebSocketSettings,
        *,
        client_settings: ClientSettings | None = None,
        setup: LiveSetup | None = None,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        super().__init__(conn, settings)
        self.go_away: GoAway | None = None
        self._client_settings = client_settings
        self._setup = setup
        self._policy = reconnect
        self._handle: str | None = None
        # True while the newest handle covers everything sent and every finished turn,
        # i.e. resuming with it loses nothing: the moment to act on a goAway.
        self._handle_fresh = True
        self._sent_since_handle = 0
        # metrics.chunks when the last turn finished (or the session reconnected): a
        # drop's chunks_received counts the chunks of the turn it cut, not the session's.
        self._turn_chunks_base = 0
        # Sends started straight on the connection and not finished yet: a reconnect
        # meanwhile counts them unconfirmed (they went, or go, to the old connection).
        self._in_flight = 0
        self._go_away_due = False
        self._pending: deque[tuple[_SendOp, asyncio.Future[None]]] = deque()
        self._reconnect_lock = asyncio.Lock()
        self._reconnecting = False
        self._closing_by_user = False
        #: The last failed reconnect attempt's error (also counted in metrics).
        self.last_reconnect_error: BaseException | None = None

    def _convert(self, message: ServerMessage | UnknownMessage) -> list[LiveEvent] | None:
        events = events_from_message(message)
        if type(message) is ServerMessage:
            if message.go_away is not None:
                for event in events:
                    if isinstance(event, GoAway):
                        self.go_away = event
                policy = self._policy
                if policy is not None and policy.on_go_away and not self._closing_by_user:
                    self._go_away_due = self._due = True
            content = message.server_content
            if content is not None and content.turn_complete:
                self._handle_fresh = False  # the finished turn needs a newer handle
                # Runs before this message's _push: its own chunks belong to the turn.
                self._turn_chunks_base = self.metrics.chunks + sum(
                    1 for e in events if type(e) is ModelTurn
                )
            update = message.session_resumption_update
            # An update without a handle (resumable: false, sent while the model
            # generates) confirms nothing: what was sent is still unconfirmed.
            if update is not None and update.new_handle and update.resumable is not False:
                protocol = self._conn.protocol
                if protocol.resumption_handle:
                    if protocol.resumption_handle != self._handle:
                        self._handle = protocol.resumption_handle
                    self._handle_fresh = protocol.state is SessionState.READY
                    self._sent_since_handle = 0
        return events

    def _is_chunk(self, item: LiveEvent) -> bool:
        return type(item) is ModelTurn

    def _chunks_received(self) -> int:
        return self.metrics.chunks - self._turn_chunks_base

    # ---- reconnection

    @property
    def reconnect_policy(self) -> ReconnectPolicy | None:
        """The policy given to ``connect`` (``None``: nothing reconnects by itself)."""
        return self._policy

    async def reconnect(self) -> None:
        """Move the session to a new connection, resumed with the newest handle.

        For the caller who got a :class:`~.protocol.GoAway` or a
        :class:`~api_gemini.errors.DisconnectedError`: the same session object goes on,
        its event stream continuing with a :class:`Reconnected` event (and iteration
        may start again after the error). The old connection, if still open, is closed
        with a handshake. Sends made meanwhile wait and follow on the new connection.

        Raises:
            SessionStateError: the session was closed or cancelled, it has no
                resumption handle (enable ``session_resumption`` in the config), or it
                was not opened by ``connect``.
            WebSocketConnectionError, SetupRejectedError: the new connection failed
                (1007 when the server no longer knows the handle); the session stays
                as it was and the call may be repeated.
        """
        if self._closing_by_user or self._cancelled:
            raise SessionStateError("cannot reconnect: the session was closed")
        if self._client_settings is None or self._setup is None:
            raise SessionStateError("cannot reconnect: this session was not opened by connect")
        if self.resumption_handle is None:
            raise SessionStateError(
                "cannot reconnect: no resumption handle (enable session_resumption in the "
                "config, and wait for the server's first sessionResumptionUpdate)"
            )
        before = self._conn
        async with self._reconnect_lock:
            if self._conn is not before and self._conn.is_open:
                return  # a policy reconnect finished while we waited for the lock
            reader = self._reader
            if reader is not None and self._reader_closing and not reader.done():
                await asyncio.wait([reader])  # the reader is closing up: let it end first
            old = self._conn
            turn_lost = (
                old.protocol.state if not old.closed else old.state_at_close
            ) is SessionState.IN_TURN
            self._reconnecting = True
            try:
                new, early = await self._open_resumed()
            except BaseException as exc:
                self._reconnecting = False
                self.metrics.reconnect_failures += 1
                self.last_reconnect_error = exc
                self._fail_pending(exc)
                raise
            if self._closing_by_user or self._cancelled:
                # Closed by another task while we connected: do not revive it.
                self._reconnecting = False
                await new.close(1000)
                raise SessionStateError("the session was closed during the reconnect")
            reader = self._reader
            if reader is not None and self._reader_closing and not reader.done():
                # The old connection failed while we connected: let its reader finish
                # (it reports the failure), then start one for the new connection.
                await asyncio.wait([reader])
            restart = reader is None or reader.done()
            if restart:
                # The session had ended (a drop without a policy): receiving goes on.
                self._done = False
                self._failed = None
                self._error = None
                self._stop_reading = False
                self._reader_closing = False
            try:
                await self._swap(
                    old, new, early, Reconnected(cause="explicit", turn_lost=turn_lost)
                )
            finally:
                self._reconnecting = False
            if restart:
                self._start()

    async def _on_end(self, conn: LiveConnection, error: DisconnectedError | None) -> bool:
        if error is not None and error.resumption_handle is None:
            error.resumption_handle = self._handle
        policy = self._policy
        if policy is None or self._closing_by_user or self._handle is None:
            return False
        if error is None:
            # A clean close is the end of the session, unless it is the end a goAway
            # announced (some backends close with 1000 at the connection cap).
            if not self._go_away_due:
                return False
            code: int | None = 1000
            reason = ""
        else:
            if not policy.retries(error.close_code):
                return False
            code, reason = error.close_code, error.reason
        async with self._reconnect_lock:
            try:
                if self._conn is not conn:
                    return True  # an explicit reconnect already moved the session
                self._reconnecting = True
                turn_lost = conn.state_at_close is SessionState.IN_TURN
                last: BaseException | None = None
                attempts = 0
                for attempt in range(1, policy.max_attempts + 1):
                    attempts = attempt
                    # Jitter only spreads clients apart; it needs no cryptographic source.
                    await asyncio.sleep(policy.delay(attempt, random.random()))  # noqa: S311
                    try:
                        new, early = await self._open_resumed()
                    except (WebSocketError, ConfigurationError) as exc:
                        last = exc
                        self.metrics.reconnect_failures += 1
                        self.last_reconnect_error = exc
                        if isinstance(exc, SetupRejectedError) and not exc.retryable:
                            break  # 1007/1008: the handle or the setup is refused for good
                        continue
                    event = Reconnected(
                        cause="disconnected" if error is not None else "go_away",
                        close_code=code,
                        attempt=attempt,
                        turn_lost=turn_lost,
                    )
                    await self._swap(conn, new, early, event)
                    return True
                failed = ReconnectFailedError(
                    f"the connection closed ({code}"
                    + (f": {reason[:200]}" if reason else "")
                    + f") and {attempts} reconnect attempt(s) failed; last: {last}",
                    close_code=code,
                    reason=reason,
                    resumption_handle=self._handle,
                    attempts=attempts,
                    last_error=last,
                )
                self._fail_pending(failed)
                raise failed from last
            finally:
                self._reconnecting = False  # also when cancelled (closed) mid-way

    async def _on_due(self) -> None:
        """Act on a goAway under a policy, at the first moment nothing would be lost."""
        conn = self._conn
        if not self._go_away_due or self._closing_by_user:
            self._due = False
            return
        if conn.protocol.state is not SessionState.READY or not self._handle_fresh:
            return  # mid-turn, or the newest handle predates a turn: wait for more
        self._go_away_due = self._due = False
        async with self._reconnect_lock:
            if self._conn is not conn or not conn.is_open:
                return
            self._reconnecting = True
            try:
                new, early = await self._open_resumed()
            except (WebSocketError, ConfigurationError) as exc:
                # Not fatal: the old connection still works until the server cuts it,
                # and that drop is then handled by the policy like any other.
                self._reconnecting = False
                self.metrics.reconnect_failures += 1
                self.last_reconnect_error = exc
                self._go_away_due = True
                await self._flush_pending(conn)
                return
            try:
                await self._swap(conn, new, early, Reconnected(cause="go_away"))
            finally:
                self._reconnecting = False

    async def _open_resumed(self) -> tuple[LiveConnection, list[ServerMessage | UnknownMessage]]:
        settings, setup, handle = self._client_settings, self._setup, self.resumption_handle
        if settings is None or setup is None or handle is None:  # reconnect() checked
            raise SessionStateError("cannot reconnect: no settings, setup or handle")
        previous = setup.session_resumption or SessionResumptionConfig()
        resumed = msgspec.structs.replace(
            setup, session_resumption=msgspec.structs.replace(previous, handle=handle)
        )
        return await LiveConnection.open(settings, resumed)

    async def _swap(
        self,
        old: LiveConnection,
        new: LiveConnection,
        early: list[ServerMessage | UnknownMessage],
        event: Reconnected,
    ) -> None:
        """Make ``new`` the session's connection, announce it, flush waiting sends,
        and close ``old`` (whose reader, if any, then moves to ``new``)."""
        self._conn = new
        self.go_away = None
        self._go_away_due = False
        self._handle_fresh = True
        self.metrics.reconnects += 1
        events: list[LiveEvent] = [
            msgspec.structs.replace(
                event,
                session_id=new.protocol.session_id,
                unconfirmed_sends=self._sent_since_handle + self._in_flight,
            )
        ]
        self._sent_since_handle = 0
        for message in early:
            converted = self._convert(message)
            if converted:
                events.extend(e for e in converted if type(e) is not SetupComplete)
        self._push(events, 0)
        self._turn_chunks_base = self.metrics.chunks
        try:
            await self._flush_pending(new)
        finally:
            # Also when the flush is cancelled (a caller's timeout, close()): otherwise
            # the old socket stays open and a reader may stay blocked on it.
            if not old.closed:
                await old.close(1000, "reconnected")

    async def _flush_pending(self, conn: LiveConnection) -> None:
        """Send the waiting sends on ``conn`` in order, then let sends go straight."""
        pending = self._pending
        try:
            while pending:
                op, waiter = pending.popleft()
                if waiter.done():
                    continue  # its sender was cancelled
                try:
                    await op(conn)
                except BaseException as exc:
                    # Cancelled mid-send too: the popped waiter is out of reach of
                    # _fail_pending, so fail it here, then the rest of the queue.
                    failure: BaseException = exc
                    if isinstance(exc, asyncio.CancelledError):
                        failure = SessionStateError(
                            "the reconnect was cancelled while this send was flushed; "
                            "it may or may not have reached the server"
                        )
                    if not waiter.done():
                        waiter.set_exception(failure)
                    self._fail_pending(failure)
                    if isinstance(exc, Exception):
                        return
                    raise
                self._sent_since_handle += 1
                waiter.set_result(None)
        finally:
            self._reconnecting = False

    def _fail_pending(self, error: BaseException) -> None:
        pending = self._pending
        while pending:
            _, waiter = pending.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    async def _send(self, op: _SendOp) -> None:
        """Send through the current connection, or wait while the session reconnects."""
        self._handle_fresh = False  # what is sent is not in any handle yet
        if not self._reconnecting and not self._pending:
            conn = self._conn
            self._in_flight += 1
            try:
                await op(conn)
            except (DisconnectedError, SessionStateError) as exc:
                self._in_flight -= 1
                # The frame did not go out (a closed WebSocket refuses it). If the
                # session has moved (reconnect() or a policy), send it on the new
                # connection; if a policy is about to move it, wait; otherwise say so.
                if self._closing_by_user or self._done:
                    raise
                if conn is not self._conn and not self._reconnecting:
                    await self._send(op)  # already reconnected meanwhile
                    return
                if self._policy is None:
                    raise
                if conn is self._conn and conn.is_open:
                    raise  # a state error of the live connection, not a drop
                if not self._reconnecting and self._room is not None:
                    # The reader waits for buffer room, so it sees the drop (and starts
                    # the reconnect) only once events are read: a send queued now could
                    # wait without bound. Say so instead; the caller may reconnect().
                    error = exc if isinstance(exc, DisconnectedError) else None
                    raise DisconnectedError(
                        "cannot send: the connection has closed and the session does "
                        "not reconnect until its buffered events are read",
                        close_code=error.close_code if error is not None else None,
                        reason=error.reason if error is not None else "",
                        resumption_handle=self._handle,
                    ) from exc
            except BaseException:
                self._in_flight -= 1
                raise
            else:
                self._in_flight -= 1
                # Replaced meanwhile: the swap counted this send for the old connection
                # (Reconnected.unconfirmed_sends); the new one has not seen it.
                if conn is self._conn:
                    self._sent_since_handle += 1
                return
        if self._done and not self._reconnecting:
            raise SessionStateError("cannot send: the session has ended")
        limit = (
            self._policy.max_pending_sends
            if self._policy is not None
            else DEFAULT_MAX_PENDING_SENDS
        )
        if len(self._pending) >= limit:
            raise SessionStateError(
                f"the session is reconnecting and {limit} sends already wait: this one "
                "was refused (ReconnectPolicy.max_pending_sends)"
            )
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._pending.append((op, waiter))
        await waiter

    # ---- properties

    @property
    def session_id(self) -> str | None:
        """The id the server gave in ``setupComplete``, if any."""
        return self._conn.protocol.session_id

    @property
    def resumption_handle(self) -> str | None:
        """The newest resumption handle (with ``session_resumption`` enabled), kept
        across reconnects."""
        return self._conn.protocol.resumption_handle or self._handle

    @property
    def session_state(self) -> SessionState:
        """The protocol state: ``READY``, ``IN_TURN``, ``CLOSING``, ``CLOSED``..."""
        return self._conn.protocol.state

    # ---- sending

    def _mark_request(self) -> None:
        if self._request_sent_at is None:
            self._request_sent_at = time.monotonic()

    async def send_text(self, text: str, turn_complete: bool = True) -> None:
        """Send a user text turn (``clientContent``); interrupts an answer in progress."""
        self._mark_request()
        turns = [Content.user_text(text)]
        await self._send(lambda conn: conn.send_client_content(turns, turn_complete))

    async def send_content(
        self,
        turns: Content | Mapping[str, Any] | str | Sequence[Content | Mapping[str, Any] | str],
        turn_complete: bool = True,
    ) -> None:
        """Send turns (``clientContent``); ``turn_complete=False`` adds context only.

        Raises:
            InvalidRequestError: a turn is not a Content (or its wire-form dict).
            SessionStateError: the session is closing or closed.
        """
        if isinstance(turns, Content | Mapping | str):
            items = [_as_content(turns)]
        else:
            items = [_as_content(t) for t in turns]
        self._mark_request()
        await self._send(lambda conn: conn.send_client_content(items, turn_complete))

    async def send_audio(self, pcm: bytes, rate: int = 16000) -> None:
        """Send 16-bit little-endian mono PCM at ``rate`` Hz (``realtimeInput.audio``)."""
        self._mark_request()
        data = encode_audio(pcm, rate)
        await self._send(lambda conn: conn.send_encoded_realtime(data))

    async def send_realtime_input(
        self,
        *,
        audio: Blob | bytes | None = None,
        video: Blob | None = None,
        text: str | None = None,
        activity_start: bool = False,
        activity_end: bool = False,
        audio_stream_end: bool = False,
    ) -> None:
        """Send one ``realtimeInput`` message; exactly one argument must be given.

        ``audio`` as bytes is taken as 16 kHz PCM.

        Raises:
            InvalidRequestError: none or several inputs given.
        """
        given = (
            sum((audio is not None, video is not None, text is not None))
            + activity_start
            + activity_end
            + audio_stream_end
        )
        if given != 1:
            raise InvalidRequestError(f"send_realtime_input takes exactly one input, got {given}")
        self._mark_request()
        if activity_start:
            await self._send_encoded(ACTIVITY_START)
        elif activity_end:
            await self._send_encoded(ACTIVITY_END)
        elif audio_stream_end:
            await self._send_encoded(AUDIO_STREAM_END)
        else:
            if isinstance(audio, bytes):
                audio = Blob(mime_type="audio/pcm;rate=16000", data=audio)
            message = RealtimeInput(audio=audio, video=video, text=text)
            await self._send(lambda conn: conn.send_realtime_input(message))

    async def _send_encoded(self, data: bytes) -> None:
        await self._send(lambda conn: conn.send_encoded_realtime(data))

    async def send_activity_start(self) -> None:
        """Tell the server the user started speaking (automatic detection off)."""
        await self._send_encoded(ACTIVITY_START)

    async def send_activity_end(self) -> None:
        """Tell the server the user stopped speaking (automatic detection off)."""
        await self._send_encoded(ACTIVITY_END)

    async def send_audio_stream_end(self) -> None:
        """Tell the server the audio stream paused (flushes the server's audio input)."""
        await self._send_encoded(AUDIO_STREAM_END)

    async def send_tool_response(
        self,
        responses: FunctionResponse
        | Mapping[str, Any]
        | Sequence[FunctionResponse | Mapping[str, Any]],
    ) -> None:
        """Answer a :class:`~.protocol.ToolCall` (each response needs the call's ``id``).

        Raises:
            InvalidRequestError: a response is not a FunctionResponse (or its dict).
        """
        if isinstance(responses, FunctionResponse | Mapping):
            items = [_as_response(responses)]
        else:
            items = [_as_response(r) for r in responses]
        await self._send(lambda conn: conn.send_tool_response(items))

    # ---- receiving

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Coroutine[Any, Any, LiveEvent]:
        """The next event, across turns; ends when the session closes."""
        return self._next()  # no wrapping coroutine (see Stream.__anext__)

    async def receive_turn(self) -> AsyncIterator[LiveEvent]:
        """Events up to and including the next :class:`~.protocol.TurnComplete`, or a
        :class:`Reconnected` event whose ``turn_lost`` says that turn will not complete."""
        while True:
            try:
                event = await self._next()
            except StopAsyncIteration:
                return
            yield event
            if type(event) is TurnComplete or (type(event) is Reconnected and event.turn_lost):
                return

    # ---- closing

    async def close(self) -> None:
        """Close with a handshake; events already buffered can still be read. Stops
        any reconnect in progress; sends waiting for it raise ``SessionStateError``."""
        self._closing_by_user = True
        if self._pause_handle is not None:
            self._pause_handle.cancel()
            self._pause_handle = None
        await self._wait_closer()
        await self._shutdown(1000, "")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"LiveSession(state={self._conn.protocol.state.name})"


def live_setup(model: str, config: LiveConnectConfig | Mapping[str, Any] | None) -> LiveSetup:
    """The ``setup`` that :func:`connect_live` sends for ``config``."""
    return coerce_live_config(config).to_setup(model_resource_name(model))


async def connect_live(
    settings: ClientSettings,
    model: str,
    config: LiveConnectConfig | Mapping[str, Any] | None = None,
    pool: LivePool | None = None,
    reconnect: ReconnectPolicy | None = None,
) -> LiveSession:
    """Open a Live session: connect, send ``setup`` from ``config``, wait for
    ``setupComplete``. Use as ``async with await connect_live(...) as session:``.

    With a ``pool`` holding a warm connection with the same setup, the session starts
    on it (no connect, no setup; ``session.metrics.from_pool``). A config that resumes
    an earlier session (``session_resumption.handle``) always connects.

    ``reconnect`` opts in to reconnection (see
    :class:`~api_gemini.settings.ReconnectPolicy`); it needs ``session_resumption``.

    Raises:
        InvalidRequestError: a malformed config.
        ConfigurationError: a reconnect policy without session resumption.
        WebSocketConnectionError, SetupRejectedError: as
            :meth:`LiveConnection.open <api_gemini.websocket.connection.LiveConnection.open>`.
    """
    setup = live_setup(model, config)
    resumption = setup.session_resumption
    if reconnect is not None and resumption is None:
        raise ConfigurationError(
            "a ReconnectPolicy needs session resumption: add sessionResumption={} "
            "(SessionResumptionConfig()) to the config"
        )
    taken = None
    if pool is not None and (resumption is None or resumption.handle is None):
        taken = await pool.acquire(setup)
    conn, early = taken if taken is not None else await LiveConnection.open(settings, setup)
    session = LiveSession(
        conn, settings.websocket, client_settings=settings, setup=setup, reconnect=reconnect
    )
    session.metrics.from_pool = taken is not None
    # setupComplete and whatever came before it are the first events.
    for message in early:
        events = session._convert(message)
        if events:
            session._push(events, 0)
    session._start()
    return session
