"""One Live API WebSocket: opening handshake and setup, sends, receives, health, and
a proper close on every exit path.

The WebSocket itself comes from the transport seam (a :class:`~.wire.Wire`:
websockets' asyncio client unless ``WebSocketSettings.connector`` says otherwise).
Protocol rules live in :mod:`.protocol`; this module only moves bytes, bounds every
wait, and maps the wire's ends onto :mod:`api_gemini.errors`.

Receiving is pushed: the wire calls :meth:`LiveConnection._on_frame` once per frame,
from its ``data_received`` path; the frame is counted and decoded there, then either
handed to the consumer attached with :meth:`LiveConnection.attach` (a stream or a
session: it converts and buffers it in the same call) or, with none attached (during
setup, idle in the pool), queued for :meth:`LiveConnection.recv`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from .._closing import AsyncClosing
from ..errors import (
    OpenTimeoutError,
    SessionClosedError,
    SetupRejectedError,
    WebSocketConnectionError,
    WebSocketError,
    WriteTimeoutError,
)
from ..settings import ClientSettings
from ..types import Content, FunctionResponse
from .events import UnknownMessage
from .live_types import LiveSetup, RealtimeInput, ServerMessage
from .protocol import LiveProtocol, SessionState
from .transport import (
    STALLED_SEND,
    Endpoint,
    WebSocketConnector,
    live_endpoint,
    open_websocket,
)
from .wire import CloseInfo, UpgradeRefusedError, Wire, WireClosedError

#: What a consumer attached to a connection is given: each message and its size.
MessageHandler = Callable[[ServerMessage | UnknownMessage, int], None]
#: ... and the end, once: the error (a fault or a close), or ``None`` for a clean close.
EndHandler = Callable[[BaseException | None], None]

#: Messages queued with no consumer attached before reading pauses (setup, the pool).
_QUEUE_HIGH: Final = 4


def _discard(message: ServerMessage | UnknownMessage, size: int) -> None:
    """The handler of a connection whose consumer has left: frames are dropped."""


class _End:
    """The end of a connection in the receive queue (an error, or a clean close)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


__all__ = ["ConnectionHealth", "LiveConnection"]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- health


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """A snapshot of one connection's health.

    Attributes:
        state: the session state.
        latency: round trip of the last keepalive ping in seconds (``None`` before the
            first pong).
        since_last_message: seconds since the last server message (``None``: none yet).
        age: seconds since the connection opened.
        go_away_in: seconds until the close announced by ``goAway`` (``None``: none
            announced; 0 once the deadline has passed).
        messages_in, bytes_in, messages_out, bytes_out: traffic counters (data frames).
    """

    state: SessionState
    latency: float | None
    since_last_message: float | None
    age: float
    go_away_in: float | None
    messages_in: int
    bytes_in: int
    messages_out: int
    bytes_out: int


# --------------------------------------------------------------------------- connection


class LiveConnection(AsyncClosing):
    """An open, set-up Live connection: sends checked by the protocol, receives decoded.

    Build it with :meth:`open`. Sends are serialised by a lock, so several tasks may
    send at once. Messages are either pushed to the consumer given to :meth:`attach`
    (the streaming layer) or, with none attached, read with :meth:`recv` (one task at
    a time).
    """

    def __init__(
        self,
        ws: Wire,
        protocol: LiveProtocol,
        secret: str | None,
        opened_at: float,
        *,
        write_timeout: float | None = None,
        close_timeout: float | None = None,
    ) -> None:
        self._ws = ws
        self.protocol = protocol
        self._secret = secret
        self._write_timeout = write_timeout
        self._close_timeout = close_timeout
        self._send_lock = asyncio.Lock()
        self._closed = False
        self.opened_at = opened_at
        #: seconds spent on TCP + TLS + upgrade, and on setup -> setupComplete.
        self.connect_time: float | None = None
        self.setup_time: float | None = None
        self.last_message_at: float | None = None
        self.go_away_at: float | None = None
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        #: The protocol state when the connection ended (``IN_TURN``: a turn was cut).
        self.state_at_close: SessionState | None = None
        self._handler: MessageHandler | None = None
        self._end_handler: EndHandler | None = None
        # Frames (and their arrival) while no consumer is attached, then maybe the end.
        self._queue: deque[tuple[bytes, float] | _End] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False  # the end (a fault or the close) has been reported
        self._closing = False  # close() was called
        self._queue_paused = False
        self._consumer_paused = False
        self._peer_closed: CloseInfo | None = None  # how the server closed it
        ws.set_sink(self._on_frame, self._on_close)

    # ---- opening

    @classmethod
    async def open(
        cls,
        settings: ClientSettings,
        setup: LiveSetup,
    ) -> tuple[LiveConnection, list[ServerMessage | UnknownMessage]]:
        """Connect, send ``setup`` and wait for ``setupComplete``, within ``open_timeout``.

        Returns the connection and the messages received up to and including
        ``setupComplete`` (the streaming layer turns them into events).

        Raises:
            WebSocketConnectionError: refused upgrade (``http_status``), or DNS,
                refused, TLS or timeout failures (``http_status=None``).
            SetupRejectedError: the server closed before ``setupComplete``.
            MessageParseError, ProtocolViolationError: the server misbehaved.
            ConfigurationError: ``ws://`` to a remote host without opting in.
        """
        endpoint = live_endpoint(settings)
        connect: WebSocketConnector = settings.websocket.connector or open_websocket
        secret = settings.api_key.reveal() if settings.api_key is not None else None
        timeout = settings.websocket.open_timeout
        started = time.monotonic()
        conn: LiveConnection | None = None
        try:
            async with asyncio.timeout(timeout):
                try:
                    ws = await connect(endpoint, settings)
                except (InvalidStatus, UpgradeRefusedError) as exc:
                    if isinstance(exc, InvalidStatus):
                        status, body = exc.response.status_code, exc.response.body
                    else:
                        status, body = exc.status, exc.body
                    detail = _scrub(_body_message(body), secret)
                    raise WebSocketConnectionError(
                        f"the server refused the WebSocket upgrade to {_safe_url(endpoint)}: "
                        f"HTTP {status}" + (f": {detail}" if detail else ""),
                        http_status=status,
                    ) from None
                except ssl.SSLError as exc:
                    raise WebSocketConnectionError(
                        f"TLS handshake with {endpoint.host!r} failed: {_scrub(str(exc), secret)}",
                    ) from None
                except (OSError, InvalidHandshake, InvalidURI) as exc:
                    raise WebSocketConnectionError(
                        f"cannot open the WebSocket to {_safe_url(endpoint)}: "
                        f"{type(exc).__name__}: {_scrub(str(exc), secret)}",
                    ) from None
                conn = cls(
                    ws,
                    LiveProtocol(),
                    secret,
                    started,
                    write_timeout=settings.websocket.write_timeout,
                    close_timeout=settings.websocket.close_timeout,
                )
                conn.connect_time = time.monotonic() - started
                early = await conn._setup(setup)
        except TimeoutError as exc:
            if conn is not None:
                await conn.close(1000)
            if isinstance(exc, WebSocketError):  # a write stall or keepalive during setup
                raise
            logger.debug(
                "Live connection to %s: not ready within %ss", _safe_url(endpoint), timeout
            )
            raise OpenTimeoutError(
                f"the Live connection to {_safe_url(endpoint)} was not ready (TCP, TLS, "
                f"upgrade and setup) within open_timeout={timeout}s",
            ) from None
        except BaseException as exc:
            if conn is not None:
                await conn.close(1000)
            if isinstance(exc, Exception):  # our messages hold no key (scrubbed above)
                logger.debug("Live connection to %s failed: %s", _safe_url(endpoint), exc)
            raise
        logger.debug(
            "Live connection open: %s (connect %.1f ms, setup %.1f ms)",
            _safe_url(endpoint),
            (conn.connect_time or 0.0) * 1e3,
            (conn.setup_time or 0.0) * 1e3,
        )
        return conn, early

    async def _setup(self, setup: LiveSetup) -> list[ServerMessage | UnknownMessage]:
        started = time.monotonic()
        await self._send(self.protocol.send_setup(setup))
        early: list[ServerMessage | UnknownMessage] = []
        while self.protocol.state is not SessionState.READY:
            received = await self.recv()
            if received is None:  # a clean close before setupComplete still rejects it
                raise SetupRejectedError(
                    "the server closed the connection during setup", close_code=1000
                )
            early.append(received[0])
        self.setup_time = time.monotonic() - started
        return early

    # ---- sending

    async def _send(self, data: bytes) -> None:
        try:
            await self._ws.send(data)  # bounded by write_timeout (the wire's contract)
        except WireClosedError as exc:
            info = exc.info
            if info is not None and info.stalled is not None:
                raise self._stall_error(info.stalled) from None
            # The frame never went out: the protocol forgets the turn it asked for, so
            # that a drop between turns is not taken for a drop in the middle of one.
            self.protocol.send_failed()
            closed = self._closed_error(info) if info is not None else None
            if closed is None:  # a clean close that the receiving side has not seen yet
                closed = _closed_by(info, "cannot send: the connection is closed", self._secret)
            raise closed from None
        self.messages_out += 1
        self.bytes_out += len(data)

    def _refused(self) -> SessionClosedError:
        return _closed_by(self._peer_closed, "cannot send: the connection is closed", self._secret)

    async def send_client_content(self, turns: Sequence[Content], turn_complete: bool) -> None:
        """Send ``clientContent`` (state-checked)."""
        async with self._send_lock:
            if self._peer_closed is not None:
                raise self._refused()
            if not self._ws.is_open and not self._closed:
                # Closing under us: the frame cannot go out. Say so before the protocol
                # records a turn that was never requested.
                raise _closed_by(
                    self._ws.close_info,
                    "cannot send clientContent: the connection is closing",
                    self._secret,
                )
            await self._send(self.protocol.send_client_content(turns, turn_complete))

    async def send_realtime_input(self, realtime_input: RealtimeInput) -> None:
        """Send ``realtimeInput`` (state-checked)."""
        async with self._send_lock:
            if self._peer_closed is not None:
                raise self._refused()
            await self._send(self.protocol.send_realtime_input(realtime_input))

    async def send_encoded_realtime(self, data: bytes) -> None:
        """Send a pre-encoded ``realtimeInput`` message (state-checked)."""
        async with self._send_lock:
            if self._peer_closed is not None:
                raise self._refused()
            await self._send(self.protocol.send_raw_realtime(data))

    async def send_tool_response(self, responses: Sequence[FunctionResponse]) -> None:
        """Send ``toolResponse`` (state-checked)."""
        async with self._send_lock:
            if self._peer_closed is not None:
                raise self._refused()
            await self._send(self.protocol.send_tool_response(responses))

    # ---- receiving

    def _on_frame(self, data: bytes) -> None:
        """The wire's sink: one call per received frame (the per-chunk hot path)."""
        if self._ended:
            return  # after a fault: nothing more from this connection
        now = time.monotonic()
        handler = self._handler
        if handler is None:
            # Decoded when taken, as the protocol's state then is (a frame that came
            # before our send is judged after it, as when it was read then).
            queue = self._queue
            queue.append((data, now))
            if len(queue) >= _QUEUE_HIGH and not self._queue_paused:
                self._queue_paused = True
                self._update_reading()
            self._wake()
            return
        # _decode, inlined: the per-chunk path.
        self.last_message_at = now
        self.messages_in += 1
        size = len(data)
        self.bytes_in += size
        try:
            message = self.protocol.receive_message(data)
        except WebSocketError as exc:
            self._end(exc)
            return
        if type(message) is ServerMessage and message.go_away is not None:
            left = self.protocol.go_away_time_left
            self.go_away_at = None if left is None else now + left
        handler(message, size)

    def _decode(self, data: bytes, arrived: float) -> ServerMessage | UnknownMessage:
        # Counted when taken (pushed, or read by recv()), as health reports received.
        self.last_message_at = arrived
        self.messages_in += 1
        self.bytes_in += len(data)
        message = self.protocol.receive_message(data)
        if type(message) is ServerMessage and message.go_away is not None:
            left = self.protocol.go_away_time_left
            self.go_away_at = None if left is None else arrived + left
        return message

    def _on_close(self, info: CloseInfo) -> None:
        """The wire's end: mapped through the close-code table, reported once."""
        if self._ended:
            return
        if self._closing:
            # Our own close: its caller knows; the protocol has it already.
            self._closed = True
            self._end(None)
            return
        self._end(self._closed_error(info, replay=True))

    def _end(self, error: BaseException | None) -> None:
        self._ended = True
        end_handler = self._end_handler
        if self._handler is not None:
            if end_handler is not None:
                self._end_handler = None
                end_handler(error)
            return
        self._queue.append(_End(error))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _update_reading(self) -> None:
        if self._queue_paused or self._consumer_paused:
            self._ws.pause_reading()
        else:
            self._ws.resume_reading()

    def attach(self, on_message: MessageHandler, on_end: EndHandler) -> None:
        """Push every message to ``on_message`` from now on (those queued first, in
        order), and the end, once, to ``on_end``. Idempotent for the same handlers."""
        if self._handler == on_message and self._end_handler == on_end:
            return
        self._handler = on_message
        self._end_handler = on_end
        queue = self._queue
        while queue and self._handler == on_message:
            item = queue.popleft()
            if isinstance(item, _End):
                self._end_handler = None
                on_end(item.error)
                return
            data, arrived = item
            try:
                message = self._decode(data, arrived)
            except WebSocketError as exc:
                queue.clear()
                self._end(exc)
                return
            on_message(message, len(data))
        if self._queue_paused:
            self._queue_paused = False
            self._update_reading()

    def detach(self) -> None:
        """The consumer has left: frames from now on are dropped, the end unreported."""
        self._handler = _discard
        self._end_handler = None
        self._queue.clear()

    def pause_reading(self) -> None:
        """The attached consumer's buffer is full: stop reading (TCP pushes back)."""
        if not self._consumer_paused:
            self._consumer_paused = True
            self._ws.pause_reading()

    def resume_reading(self) -> None:
        """The attached consumer has room again."""
        if self._consumer_paused:
            self._consumer_paused = False
            self._update_reading()

    async def recv(self) -> tuple[ServerMessage | UnknownMessage, int] | None:
        """The next server message and its size in bytes; ``None`` after a clean
        close. Only with no consumer attached (setup, a connection idle in the pool).

        Raises:
            MessageParseError, ProtocolViolationError: a malformed or illegal frame.
            DisconnectedError, KeepaliveTimeoutError, MessageTooBigError,
                SetupRejectedError: the connection ended; see
                :func:`~api_gemini.websocket.protocol.error_for_close`.
        """
        queue = self._queue
        while not queue:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        item = queue[0]
        if isinstance(item, _End):  # stays: a second recv() hears of the end again
            if item.error is not None:
                raise item.error
            return None
        queue.popleft()
        if self._queue_paused and len(queue) <= 1:
            self._queue_paused = False
            self._update_reading()
        data, arrived = item
        return self._decode(data, arrived), len(data)

    def _stall_error(self, why: str = STALLED_SEND) -> WriteTimeoutError:
        self._closed = True
        if self.state_at_close is None:
            self.state_at_close = self.protocol.state
        self.protocol.connection_closed(1006, why)
        return WriteTimeoutError(
            f"the connection was dropped: {why} (the peer, or the network toward it, "
            "stopped reading)",
            close_code=1006,
            reason=why,
            resumption_handle=self.protocol.resumption_handle,
        )

    def _closed_error(self, info: CloseInfo, replay: bool = False) -> WebSocketError | None:
        """Map how the wire ended through the protocol's close-code table
        (``replay``: also when another party already saw this end)."""
        if info.stalled is not None:
            return self._stall_error(info.stalled)  # the sender and the receiver both hear
        code, reason, by_us = info.code, info.reason, info.by_us
        self._closed = True
        if not by_us:
            self._peer_closed = info
        if self.state_at_close is None:
            self.state_at_close = self.protocol.state
        logger.debug(
            "Live connection closed by %s: %s %s",
            "us" if by_us else "the server",
            code,
            _scrub(reason, self._secret),
        )
        error = self.protocol.connection_closed(
            code, _scrub(reason, self._secret), sent_by_us=by_us
        )
        if error is None and replay:
            # A sender saw the drop first (the protocol reports an end once): the
            # receiver must not take it for a clean end.
            error = self.protocol.end_error()
        return error

    # ---- closing

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or closing has completed)."""
        return self._closed

    @property
    def is_open(self) -> bool:
        """True while the WebSocket is open and the session can send: not closed by
        either side, even if nobody has read the close frame through :meth:`recv` yet."""
        return (
            not self._closed
            and self._ws.is_open
            and self.protocol.state in (SessionState.READY, SessionState.IN_TURN)
        )

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a handshake (bounded by ``close_timeout``); idempotent.

        If the task is cancelled while closing, the TCP connection is aborted, so
        nothing is left open either way.
        """
        ws = self._ws
        if self.state_at_close is None:
            self.state_at_close = self.protocol.state
        self.protocol.start_closing()
        self._closed = True
        self._closing = True
        try:
            # Bounded by close_timeout (the wire's contract), also while reading is
            # paused; TCP is aborted past it.
            await ws.close(code, reason)
        except BaseException:
            ws.abort()
            raise
        finally:
            self.protocol.connection_closed(code, reason, sent_by_us=True)

    async def aclose(self) -> None:
        """:meth:`close` with a normal closure (the name every async object of this
        package has)."""
        await self.close(1000)

    def abort(self) -> None:
        """Drop the TCP connection without a handshake (last resort)."""
        self._closed = True
        self._ws.abort()

    # ---- health

    async def ping(self) -> float:
        """Ping the server now and return the round trip in seconds (it also becomes
        the health's ``latency``). The service may answer pings slowly (8 to 30 s):
        bound the wait with ``asyncio.timeout`` if you need to.

        Raises:
            SessionClosedError: the connection is closed, or closed while waiting.
        """
        try:
            return await self._ws.ping()  # its write bounded by write_timeout
        except WireClosedError as exc:
            if exc.info is not None and exc.info.stalled is not None:
                raise self._stall_error(exc.info.stalled) from None
            raise SessionClosedError("cannot ping: the connection is closed") from None

    def health(self) -> ConnectionHealth:
        """A snapshot of state, ping RTT, idle time, age, ``goAway`` deadline, traffic."""
        now = time.monotonic()
        latency = self._ws.latency
        last = self.last_message_at
        go_away = self.go_away_at
        state = self.protocol.state
        if state is not SessionState.CLOSED:
            # Closed under us and nobody has read it yet (a connection idle in the pool):
            # the socket knows before the protocol does.
            ws = self._ws
            if ws.is_closed:
                state = SessionState.CLOSED
            elif not ws.is_open:
                state = SessionState.CLOSING
        return ConnectionHealth(
            state=state,
            latency=latency,
            since_last_message=None if last is None else now - last,
            age=now - self.opened_at,
            go_away_in=None if go_away is None else max(0.0, go_away - now),
            messages_in=self.messages_in,
            bytes_in=self.bytes_in,
            messages_out=self.messages_out,
            bytes_out=self.bytes_out,
        )

    def __repr__(self) -> str:
        return f"LiveConnection(state={self.protocol.state.name})"


# --------------------------------------------------------------------------- helpers


def _closed_by(info: CloseInfo | None, message: str, secret: str | None) -> SessionClosedError:
    """The error of a send refused because the connection closed; the peer's close
    code and reason with it when the peer closed it."""
    if info is None or info.by_us:
        return SessionClosedError(message)
    reason = _scrub(info.reason, secret)
    return SessionClosedError(
        f"{message} (by the server: {info.code}" + (f" {reason[:200]}" if reason else "") + ")",
        close_code=info.code,
        reason=reason,
    )


def _safe_url(endpoint: Endpoint) -> str:
    # The URL never holds credentials (they are headers), but a caller's base_url could
    # carry userinfo; show scheme, host and path only.
    parts = urlsplit(endpoint.url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _scrub(text: str, secret: str | None) -> str:
    """Remove the key from text that came from elsewhere (a server reason, a library)."""
    if secret and secret in text:
        text = text.replace(secret, "***")
    return text


def _body_message(body: bytes | bytearray | None) -> str:
    """The message of a Google JSON error body, else the start of the body."""
    if not body:
        return ""
    import json  # cold path: a refused upgrade

    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: a hostile, deeply nested body
        return body[:200].decode("utf-8", "replace").strip()
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    return body[:200].decode("utf-8", "replace").strip()
