"""One Live API WebSocket: opening handshake and setup, sends, receives, health, and
a proper close on every exit path.

The WebSocket itself comes from the transport seam (:mod:`.transport`: websockets'
asyncio client unless ``WebSocketSettings.connector`` says otherwise). Protocol rules
live in :mod:`.protocol`; this module only moves bytes, bounds every wait, and maps the
library's exceptions onto :mod:`api_gemini.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.protocol import State as _WsState

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
from .live_types import LiveSetup, RealtimeInput, ServerMessage
from .protocol import LiveProtocol, SessionState, UnknownMessage
from .transport import (
    STALLED_SEND,
    BoundedClientConnection,
    Endpoint,
    WebSocketConnector,
    live_endpoint,
    open_websocket,
)

__all__ = ["ConnectionHealth", "LiveConnection"]

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


class LiveConnection:
    """An open, set-up Live connection: sends checked by the protocol, receives decoded.

    Build it with :meth:`open`. Sends are serialised by a lock, so several tasks may
    send at once; only one task should call :meth:`recv` at a time (the streaming layer
    runs one reader task).
    """

    def __init__(
        self,
        ws: ClientConnection,
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
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    detail = _scrub(_body_message(exc.response.body), secret)
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
            raise OpenTimeoutError(
                f"the Live connection to {_safe_url(endpoint)} was not ready (TCP, TLS, "
                f"upgrade and setup) within open_timeout={timeout}s",
            ) from None
        except BaseException:
            if conn is not None:
                await conn.close(1000)
            raise
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
            # A text frame from bytes: no decode/encode round trip (the JSON is UTF-8).
            # Bounded: websockets waits in drain() for as long as the peer does not read.
            async with asyncio.timeout(self._write_timeout):
                await self._ws.send(data, text=True)
        except TimeoutError:
            # The frame is queued whole in the transport (websockets writes it before
            # draining), but a peer that took nothing for write_timeout is not reading.
            self._drop_stalled(STALLED_SEND)
            raise self._stall_error() from None
        except ConnectionClosed as exc:
            # The frame never went out: the protocol forgets the turn it asked for, so
            # that a drop between turns is not taken for a drop in the middle of one.
            self.protocol.send_failed()
            closed = self._closed_error(exc)
            if closed is None:  # a clean close that the receiving side has not seen yet
                closed = SessionClosedError("cannot send: the connection is closed")
            raise closed from None
        self.messages_out += 1
        self.bytes_out += len(data)

    async def send_client_content(self, turns: Sequence[Content], turn_complete: bool) -> None:
        """Send ``clientContent`` (state-checked)."""
        async with self._send_lock:
            if self._ws.state is not _WsState.OPEN and not self._closed:
                # Closing under us: the frame cannot go out. Say so before the protocol
                # records a turn that was never requested.
                raise SessionClosedError("cannot send clientContent: the connection is closing")
            await self._send(self.protocol.send_client_content(turns, turn_complete))

    async def send_realtime_input(self, realtime_input: RealtimeInput) -> None:
        """Send ``realtimeInput`` (state-checked)."""
        async with self._send_lock:
            await self._send(self.protocol.send_realtime_input(realtime_input))

    async def send_encoded_realtime(self, data: bytes) -> None:
        """Send a pre-encoded ``realtimeInput`` message (state-checked)."""
        async with self._send_lock:
            await self._send(self.protocol.send_raw_realtime(data))

    async def send_tool_response(self, responses: Sequence[FunctionResponse]) -> None:
        """Send ``toolResponse`` (state-checked)."""
        async with self._send_lock:
            await self._send(self.protocol.send_tool_response(responses))

    # ---- receiving

    async def recv(self) -> tuple[ServerMessage | UnknownMessage, int] | None:
        """The next server message and its size in bytes; ``None`` after a clean close.

        Raises:
            MessageParseError, ProtocolViolationError: a malformed or illegal frame.
            DisconnectedError, KeepaliveTimeoutError, MessageTooBigError,
                SetupRejectedError: the connection ended; see
                :func:`~api_gemini.websocket.protocol.error_for_close`.
        """
        try:
            data = await self._ws.recv(decode=False)
        except ConnectionClosed as exc:
            closed = self._closed_error(exc, replay=True)
            if closed is None:
                return None
            raise closed from None
        now = time.monotonic()
        self.last_message_at = now
        self.messages_in += 1
        size = len(data)
        self.bytes_in += size
        message = self.protocol.receive_message(data)
        if type(message) is ServerMessage and message.go_away is not None:
            left = self.protocol.go_away_time_left
            self.go_away_at = None if left is None else now + left
        return message, size

    def _drop_stalled(self, why: str) -> None:
        ws = self._ws
        if isinstance(ws, BoundedClientConnection):
            ws.drop_stalled(why)
        else:  # another transport behind the seam: no stall record, just drop
            ws.transport.abort()

    def _stall_error(self) -> WriteTimeoutError:
        why = getattr(self._ws, "stalled", None) or STALLED_SEND
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

    def _closed_error(self, exc: ConnectionClosed, replay: bool = False) -> WebSocketError | None:
        """Map websockets' close exception through the protocol's close-code table
        (``replay``: also when another party already saw this end)."""
        if getattr(self._ws, "stalled", None) is not None:
            return self._stall_error()  # the sender and the receiver both hear of it
        rcvd, sent = exc.rcvd, exc.sent
        if sent is not None and (rcvd is None or not exc.rcvd_then_sent):
            code, reason, by_us = sent.code, sent.reason, True
        elif rcvd is not None:
            code, reason, by_us = rcvd.code, rcvd.reason, False
        else:
            code, reason, by_us = 1006, "", False
        self._closed = True
        if self.state_at_close is None:
            self.state_at_close = self.protocol.state
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
            and self._ws.state is _WsState.OPEN
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
        # Reading may be paused by flow control (a full buffer): the peer's close frame
        # could then not be read and close() would wait out close_timeout.
        transport = ws.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.resume_reading()
        try:
            # Bounded as a whole: websockets' close() first waits in drain() for queued
            # data to go out, without a timeout, then close_timeout for the peer.
            async with asyncio.timeout(self._close_timeout):
                await ws.close(code, reason)
        except TimeoutError:
            ws.transport.abort()
        except BaseException:
            ws.transport.abort()
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
        self._ws.transport.abort()

    # ---- health

    async def ping(self) -> float:
        """Ping the server now and return the round trip in seconds (it also becomes
        the health's ``latency``). The service may answer pings slowly (8 to 30 s):
        bound the wait with ``asyncio.timeout`` if you need to.

        Raises:
            SessionClosedError: the connection is closed, or closed while waiting.
        """
        try:
            async with asyncio.timeout(self._write_timeout):  # the ping's write only
                waiter = await self._ws.ping()
        except TimeoutError:
            self._drop_stalled(STALLED_SEND)
            raise self._stall_error() from None
        except ConnectionClosed:
            raise SessionClosedError("cannot ping: the connection is closed") from None
        try:
            return float(await waiter)
        except ConnectionClosed:
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
            ws_state = self._ws.state
            if ws_state is _WsState.CLOSED:
                state = SessionState.CLOSED
            elif ws_state is _WsState.CLOSING:
                state = SessionState.CLOSING
        return ConnectionHealth(
            state=state,
            latency=latency if latency > 0 else None,
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
