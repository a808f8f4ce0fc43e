"""What a :class:`~.stream.Stream` and a :class:`~.session.LiveSession` share: the
receiving side between the socket and the consumer, the bounded buffer in between, and
pause / resume / cancel::

    socket -> wire (data_received) -> sink: decode, convert, buffer -> consumer

There is no reader task: the wire (:mod:`.wire`) pushes each frame to the connection,
which decodes it and calls :meth:`Receiver._on_message` in the same call; that converts
it and appends the items to the buffer, waking the consumer. The consumer's
``__anext__`` takes from the buffer without awaiting when it is not empty. A task runs
only for what must wait: closing at the end, a reconnect, a move after ``goAway``.

When a frame's items do not fit the buffer (:class:`~.buffer.ChunkBuffer`, bounded by
``buffer_max_chunks`` and ``buffer_max_bytes`` of
:class:`~api_gemini.settings.WebSocketSettings`), the frame is held and the wire stops
reading the socket; TCP flow control then pushes back on the server. Reading resumes
when the consumer has taken enough for the held frame to fit. Memory stays bounded
however fast the server sends: the buffer, the held frame, and the few frames the wire
had read before it paused. An item's cost in the byte bound is an upper bound of what it holds:
its frame, the data decoded from it (at most 3/4 of the frame, base64), and
:data:`ITEM_OVERHEAD` for the objects.

Faults (a close, a malformed frame) reach the consumer after every item received
before them, each delivered exactly once and in order.

Note on keepalive: a receiver that stops reading cannot see pongs either, so a consumer
that leaves a full buffer untouched for longer than ``keepalive_interval +
keepalive_timeout`` loses the connection to a
:class:`~api_gemini.errors.KeepaliveTimeoutError` (after the buffered items). The default
``pause_timeout`` (60 s) is below that bound (65 s) so that a forgotten pause ends with
the clearer :class:`~api_gemini.errors.StreamPausedTooLongError`.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from .._closing import AsyncClosing
from ..errors import (
    DisconnectedError,
    MessageParseError,
    ProtocolViolationError,
    SecondReceiverError,
    SessionClosedError,
    StreamPausedTooLongError,
)
from ..settings import WebSocketSettings
from .buffer import ChunkBuffer
from .connection import ConnectionHealth, LiveConnection
from .events import UnknownMessage
from .live_types import ServerMessage

__all__ = ["ITEM_OVERHEAD", "Delivery", "Move", "ReaderPhase", "StreamMetrics", "StreamState"]

T = TypeVar("T")

#: Bytes counted per buffered item beyond its frame and decoded data: the Python
#: objects of a response (about 1 KiB measured for an audio chunk).
ITEM_OVERHEAD: Final = 1024


class StreamState(enum.Enum):
    """Where a :class:`Stream` (or the receiving side of a session) is."""

    STREAMING = "streaming"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ReaderPhase(enum.IntEnum):
    """Where the receiving side is; it only moves forward (a reconnect that revives an
    ended session starts receiving again at ``READING``)."""

    READING = 0
    #: The last item is in (a stream's final chunk): nothing more is taken after it.
    LAST_ITEM_IN = 1
    #: Receiving has stopped and the connection is being closed.
    CLOSING = 2
    #: Nothing more will be added to the buffer.
    DONE = 3


class Delivery(enum.Enum):
    """What the consumer side asked for: items delivered, held back, or dropped."""

    DELIVERING = "delivering"
    PAUSED = "paused"
    #: Ended by :meth:`Receiver.cancel`: the buffer is dropped, nothing more comes.
    CANCELLED = "cancelled"


class Move(enum.Enum):
    """Whether a session should move to a new connection once nothing would be lost
    (a stream stays at ``NOT_DUE``): asked after each message."""

    NOT_DUE = "not due"
    #: A goAway under a policy: ``_on_due`` runs after each message until the move
    #: is made (or no longer wanted).
    DUE = "due"
    #: Closed by its user: never move or reconnect again.
    STOPPED = "stopped"


@dataclass(slots=True)
class StreamMetrics:
    """Timings and counters of a stream, cheap to keep and readable at any time.

    Attributes:
        connect_time: seconds for TCP + TLS + WebSocket upgrade.
        setup_time: seconds from ``setup`` sent to ``setupComplete`` received.
        time_to_first_chunk: seconds from the request (content) sent to the first
            chunk received.
        chunks: chunks received (a :class:`Stream`'s responses, a session's
            :class:`~api_gemini.websocket.events.ModelTurn` events).
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


class Receiver(AsyncClosing, Generic[T]):
    """The receiving side, the bounded buffer, pause/resume/cancel, one consumer at a time.

    Subclasses turn each server message into items with :meth:`_convert`.
    """

    _what = "stream"

    def __init__(
        self,
        conn: LiveConnection,
        settings: WebSocketSettings,
        *,
        from_pool: bool = False,
        after_first_chunk: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._buffer: ChunkBuffer[T] = ChunkBuffer(
            settings.buffer_max_chunks, settings.buffer_max_bytes, self._room
        )
        # Frames (their items and cost) that did not fit the buffer: one, in practice.
        self._overflow: deque[tuple[list[T], int]] = deque()
        # An end that came while frames were held: handled once they are in.
        self._pending_end: list[BaseException | None] | None = None
        self._pause_timeout = settings.pause_timeout
        self._consumer: asyncio.Future[None] | None = None
        self._phase = ReaderPhase.READING
        self._error: BaseException | None = None  # to raise after the buffered items
        self._failed: BaseException | None = None  # raised (or fatal): the stream failed
        self._delivery = Delivery.DELIVERING
        self._pause_handle: asyncio.TimerHandle | None = None
        # One receiver at a time (SecondReceiverError): a re-entrancy guard, not a state.
        self._receiving = False
        self._closer: asyncio.Task[None] | None = None
        self._last_chunk_at: float | None = None
        self._request_sent_at: float | None = None
        self.metrics = StreamMetrics(
            connect_time=conn.connect_time, setup_time=conn.setup_time, from_pool=from_pool
        )
        # The task that closes up at the end (or reconnects after a drop); none while
        # frames flow.
        self._end_task: asyncio.Task[None] | None = None
        self._due: asyncio.Task[None] | None = None  # a move after goAway
        self._move = Move.NOT_DUE
        # Run once, when the first chunk is in the consumer's reach (or the stream ends
        # without one): the warm pool's refill, kept out of the request's path.
        self._after_first_chunk = after_first_chunk

    @property
    def _cancelled(self) -> bool:
        return self._delivery is Delivery.CANCELLED

    def _start(self) -> None:
        """Receive from ``self._conn`` (idempotent)."""
        self._conn.attach(self._on_message, self._on_closed)

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
        """Called after a message while ``_move`` is ``DUE`` (a session's pending goAway)."""

    def _fail_pending(self, error: BaseException) -> None:
        """Fail sends waiting for a reconnect (sessions only)."""

    def _chunks_received(self) -> int:
        """For ``DisconnectedError.chunks_received``: asked only once the buffer is
        empty, so every chunk that arrived has been delivered (no per-item counter)."""
        return self.metrics.chunks

    # ---- receiving side (called by the connection, synchronously, per frame)

    def _on_message(self, message: ServerMessage | UnknownMessage, size: int) -> None:
        """One frame, decoded: convert it and buffer its items (the per-chunk path)."""
        if self._phase is not ReaderPhase.READING:
            return  # a stream's last item is in: what follows is not for it
        metrics = self.metrics
        metrics.messages += 1
        metrics.bytes_received += size
        try:
            items = self._convert(message)
        except Exception as exc:  # delivered to the consumer, in order, after the items
            self._end_with(exc)
            return
        if items:
            # The frame, what was decoded from it (base64: at most 3/4 of it), objects.
            cost = size + (size * 3 >> 2) + ITEM_OVERHEAD * len(items)
            buffer = self._buffer
            if self._overflow or buffer.is_full_for(len(items), cost):
                if not self._overflow:
                    buffer.hold(len(items), cost)
                self._overflow.append((items, cost))
                self._conn.pause_reading()
            else:
                self._push(items, cost)
        if self._phase >= ReaderPhase.LAST_ITEM_IN:
            self._end_with(None)
        elif self._move is Move.DUE:
            self._start_due()

    def _room(self) -> None:
        """The buffer has room for the held frame(s): put them in, read again."""
        overflow = self._overflow
        buffer = self._buffer
        while overflow:
            items, cost = overflow[0]
            if buffer.is_full_for(len(items), cost):
                buffer.hold(len(items), cost)
                return
            overflow.popleft()
            self._push(items, cost)
        pending = self._pending_end
        if pending is not None:
            self._pending_end = None
            self._end_with(pending[0])
            return
        if self._phase is ReaderPhase.READING:
            self._conn.resume_reading()

    def _drain_overflow(self) -> None:
        """Put the held frames in whatever the limits (a reconnect's event follows)."""
        overflow = self._overflow
        while overflow:
            self._push(*overflow.popleft())

    def _on_closed(self, error: BaseException | None) -> None:
        """The connection ended (``error``: a fault or a close; ``None``: a clean
        close), after its last frame."""
        if self._phase is not ReaderPhase.READING:
            return
        if self._overflow:
            self._pending_end = [error]  # after the held frames (a defensive path)
            return
        conn = self._conn
        if isinstance(error, DisconnectedError) or error is None:
            # Maybe a reconnect (sessions): that waits, so it runs in a task.
            self._end_task = self._loop.create_task(
                self._after_close(conn, error), name=f"api-gemini {self._what} end"
            )
        else:
            self._end_with(error)

    async def _after_close(self, conn: LiveConnection, error: DisconnectedError | None) -> None:
        try:
            if await self._on_end(conn, error):
                return  # moved: the new connection is attached (see _install)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc  # type: ignore[assignment]
        if self._phase is ReaderPhase.READING:
            self._phase = ReaderPhase.CLOSING
            await self._close_up(self._conn, error)

    def _end_with(self, error: BaseException | None) -> None:
        """Stop receiving (the last item is in, or a fault): close, then finish."""
        if self._phase >= ReaderPhase.CLOSING:
            return
        if self._overflow:
            self._pending_end = [error]
            return
        self._phase = ReaderPhase.CLOSING
        conn = self._conn
        conn.detach()
        self._end_task = self._loop.create_task(
            self._close_up(conn, error), name=f"api-gemini {self._what} end"
        )

    async def _close_up(self, conn: LiveConnection, error: BaseException | None) -> None:
        if not conn.closed:
            if isinstance(error, MessageParseError):
                code = 1007
            elif isinstance(error, ProtocolViolationError):
                code = 1002
            else:
                code = 1000
            await conn.close(code)
        self._finish(error)

    def _start_due(self) -> None:
        due = self._due
        if due is None or due.done():
            self._due = self._loop.create_task(
                self._run_due(), name=f"api-gemini {self._what} move"
            )

    async def _run_due(self) -> None:
        try:
            await self._on_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the error ends the receiving side
            if self._phase is ReaderPhase.READING:
                self._phase = ReaderPhase.CLOSING
                self._conn.detach()
                await self._close_up(self._conn, exc)

    def _push(self, items: list[T], size: int) -> None:
        buffer = self._buffer
        buffer.push(items, size)
        chunks = 1 if self._is_chunk(items[0]) else 0
        if len(items) > 1:
            chunks += sum(1 for item in items[1:] if self._is_chunk(item))
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
        metrics.buffer_peak_chunks = buffer.peak_items
        metrics.buffer_peak_bytes = buffer.peak_bytes
        consumer = self._consumer
        if consumer is not None and not consumer.done():
            consumer.set_result(None)
        if self._after_first_chunk is not None and chunks:
            self._run_after_first_chunk()  # after the consumer's wake-up: it runs first

    def _run_after_first_chunk(self) -> None:
        callback = self._after_first_chunk
        if callback is not None:
            self._after_first_chunk = None
            callback()

    def _finish(self, error: BaseException | None) -> None:
        self._run_after_first_chunk()
        if self._phase is ReaderPhase.DONE:
            return
        self._phase = ReaderPhase.DONE
        self._overflow.clear()
        self._pending_end = None
        if error is not None and not self._cancelled and self._failed is None:
            self._error = error
        self._fail_pending(error or SessionClosedError(f"the {self._what} has ended"))
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        consumer = self._consumer
        if consumer is not None and not consumer.done():
            consumer.set_result(None)

    # ---- consumer side

    async def _next(self) -> T:
        if self._receiving:
            raise SecondReceiverError(
                f"another task is already receiving from this {self._what}: "
                "only one receiver at a time"
            )
        self._receiving = True
        buffer = self._buffer
        try:
            while True:
                if self._failed is not None:
                    if isinstance(self._failed, StreamPausedTooLongError):
                        raise self._failed
                    raise StopAsyncIteration
                delivery = self._delivery
                if delivery is Delivery.CANCELLED:
                    raise StopAsyncIteration
                if delivery is Delivery.DELIVERING:
                    if buffer:
                        return buffer.pop()
                    if self._phase is ReaderPhase.DONE:
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

    async def _next_batch(self) -> list[T]:
        """The next item and every other one already buffered, in order: what a
        synchronous twin takes in one hop between threads. Raises as :meth:`_next`
        (an error comes after every item, in a later call)."""
        items = [await self._next()]
        buffer = self._buffer
        if buffer and self._delivery is Delivery.DELIVERING:
            pop = buffer.pop
            while buffer:
                items.append(pop())
        return items

    async def _pause_giving_back(self, items: list[T]) -> None:
        """:meth:`pause`, with ``items`` (taken by a twin, not delivered) put back first."""
        if items:
            self._buffer.push_front(items)
        await self.pause()

    async def _cancel_giving_back(self, items: list[T]) -> None:
        """:meth:`cancel`, with ``items`` (taken by a twin, not delivered) put back
        first: the stream was not finished for its consumer, so it ends CANCELLED."""
        if items:
            self._buffer.push_front(items)
        await self.cancel()

    # ---- control

    @property
    def state(self) -> StreamState:
        """``STREAMING``, ``PAUSED``, ``COMPLETED``, ``CANCELLED`` or ``FAILED``."""
        if self._delivery is Delivery.CANCELLED:
            return StreamState.CANCELLED
        if self._failed is not None:
            return StreamState.FAILED
        if self._phase is ReaderPhase.DONE and not self._buffer:
            return StreamState.FAILED if self._error is not None else StreamState.COMPLETED
        if self._delivery is Delivery.PAUSED:
            return StreamState.PAUSED
        return StreamState.STREAMING

    async def pause(self) -> None:
        """Stop delivering items; they keep arriving into the bounded buffer until it
        is full, then the server is pushed back. A pause longer than ``pause_timeout``
        ends the stream with :class:`~api_gemini.errors.StreamPausedTooLongError`."""
        if self._delivery is not Delivery.DELIVERING or self._failed is not None:
            return
        self._delivery = Delivery.PAUSED
        if self._pause_timeout is not None:
            self._pause_handle = self._loop.call_later(self._pause_timeout, self._pause_expired)

    async def resume(self) -> None:
        """Deliver again (idempotent)."""
        if self._delivery is not Delivery.PAUSED:
            return
        self._delivery = Delivery.DELIVERING
        self._stop_pause_timer()
        self._wake_consumer()

    def _stop_pause_timer(self) -> None:
        if self._pause_handle is not None:
            self._pause_handle.cancel()
            self._pause_handle = None

    def _pause_expired(self) -> None:
        self._pause_handle = None
        if self._delivery is not Delivery.PAUSED or self._failed is not None:
            return
        self._failed = StreamPausedTooLongError(
            f"the {self._what} stayed paused longer than pause_timeout="
            f"{self._pause_timeout}s; it has been closed and its buffer dropped"
        )
        self._buffer.clear()
        self._wake_consumer()
        self._close_in_background(1000, "paused too long")

    def _close_in_background(self, code: int, reason: str) -> None:
        self._closer = self._loop.create_task(
            self._shutdown(code, reason), name=f"api-gemini {self._what} closer"
        )

    async def _stop_task(self, task: asyncio.Task[None], code: int, reason: str) -> None:
        """Cancel ``task`` and wait until it has ended."""
        task.cancel()
        try:
            # wait(), not `await task`: the task's CancelledError is its own, and
            # suppressing it would also swallow the caller's (a timeout around close()
            # that fires while a reconnect is stalled).
            await asyncio.wait([task])
        except asyncio.CancelledError:
            # The caller gave up: finish the close without it, so nothing stays open,
            # and let its cancellation through.
            self._close_in_background(code, reason)
            raise

    async def _shutdown(self, code: int = 1000, reason: str = "") -> None:
        """Stop receiving and close the connection with a handshake; idempotent."""
        self._run_after_first_chunk()
        if self._phase < ReaderPhase.CLOSING:
            self._conn.detach()
            self._overflow.clear()
        due = self._due
        if due is not None and not due.done():
            await self._stop_task(due, code, reason)
        end_task = self._end_task
        if end_task is not None and not end_task.done():
            if self._phase is ReaderPhase.CLOSING:
                # It is already closing the connection: let it finish.
                await asyncio.wait([end_task])
            else:
                await self._stop_task(end_task, code, reason)
        if not self._conn.closed:
            await self._conn.close(code, reason)
        self._phase = ReaderPhase.DONE
        self._fail_pending(SessionClosedError(f"the {self._what} was closed"))
        self._wake_consumer()

    async def _wait_closer(self) -> None:
        closer = self._closer
        if closer is not None and not closer.done():
            await asyncio.wait([closer])

    async def cancel(self) -> None:
        """End at once: drop the buffer, close the connection with a handshake, stop
        receiving. Idempotent; a no-op (apart from cleanup) once finished."""
        self._stop_pause_timer()
        finished = self._failed is not None or (
            self._phase is ReaderPhase.DONE and not self._buffer
        )
        if not finished and not self._cancelled:
            self._delivery = Delivery.CANCELLED
            self._buffer.clear()
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

    async def aclose(self) -> None:
        """End it: a stream cancels, a session closes."""
        raise NotImplementedError

    @property
    def buffered(self) -> tuple[int, int]:
        """Items and bytes waiting in the buffer right now."""
        return len(self._buffer), self._buffer.nbytes
