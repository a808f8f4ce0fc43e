"""The transport seam: how a Live connection's WebSocket is opened, and the
``websockets`` implementation of :class:`~.wire.Wire` behind it, with every write
bounded and every received frame pushed to a sink.

:func:`open_websocket` is the default :data:`WebSocketConnector`: websockets' asyncio
client (TCP, TLS, upgrade), configured from the settings, returned as a
:class:`WebSocketsWire`. A different connector (to route connections through something
else, to inject faults, to use another WebSocket library) is given as
``WebSocketSettings(connector=...)``; it receives the :class:`Endpoint` (URL, headers
with the credentials, TLS context) and returns an open :class:`~.wire.Wire`.
:mod:`.connection` builds everything else on what the connector returns.

Receiving: websockets' connection hands each frame to its ``recv_messages`` assembler
(a queue that a reader task then awaits with ``recv()``). :class:`BoundedClientConnection`
replaces that path: :meth:`~BoundedClientConnection.process_event` calls the sink
directly, from ``data_received``, so a frame costs no queue, no future and no task
switch before it is decoded (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State as _WsState
from websockets.version import version as _websockets_version

from .._closing import AsyncClosing
from .._version import __version__
from ..errors import ConfigurationError
from ..settings import ClientSettings, is_loopback_host
from ._idle_memory import LeanTlsConnect, trim_open_connection
from .protocol import KEEPALIVE_CLOSE_REASON
from .wire import (
    CloseInfo,
    CloseSink,
    FrameSink,
    Wire,
    WireClosedError,
    WireStalledError,
)

__all__ = [
    "STALLED_REPLIES",
    "STALLED_SEND",
    "TLS_READ_BUFFER",
    "UNREAD_REPLIES_LIMIT",
    "WEBSOCKETS_MAX_QUEUE",
    "BoundedClientConnection",
    "Endpoint",
    "WebSocketConnector",
    "WebSocketsWire",
    "live_endpoint",
    "open_websocket",
]

#: websockets' own queue, as (high, low) water marks: unused since frames go to the
#: sink (:class:`BoundedClientConnection`), kept small in case a frame ever reaches it.
WEBSOCKETS_MAX_QUEUE: Final = (4, 1)

#: Fragments of one message at most (as websockets' assembler allows).
_MAX_FRAGMENTS: Final = 1024

_USER_AGENT: Final = f"api-gemini/{__version__} websockets/{_websockets_version}"
_SERVICE: Final = "GenerativeService"


# --------------------------------------------------------------------------- endpoint


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to open a Live connection. ``repr`` hides the header values."""

    url: str
    headers: tuple[tuple[str, str], ...]
    ssl: ssl.SSLContext | None
    host: str
    constrained: bool

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"Endpoint(url={self.url!r}, headers=[{names}])"


def live_endpoint(settings: ClientSettings) -> Endpoint:
    """The URL, headers and TLS context of the Live endpoint: the ONE place that decides.

    ``https://host`` becomes ``wss://host/ws/google.ai.generativelanguage.{v}.
    GenerativeService.BidiGenerateContent``; an ephemeral token (``auth_tokens/...``)
    selects ``BidiGenerateContentConstrained``. Credentials go in headers only
    (``x-goog-api-key``, or ``Authorization: Token ...``), never in the URL.

    Raises:
        ConfigurationError: ``ws://`` (no TLS) to a host that is not loopback, unless
            ``settings.websocket.allow_insecure_ws`` is set.
    """
    parts = urlsplit(settings.base_url)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    if not secure and not is_loopback_host(host) and not settings.websocket.allow_insecure_ws:
        raise ConfigurationError(
            f"refusing ws:// (unencrypted) to {host!r}: the API key would travel in clear "
            "text; use https://, a loopback host, or WebSocketSettings(allow_insecure_ws=True)"
        )
    constrained = settings.api_key is not None and settings.api_key.is_ephemeral_token
    method = "BidiGenerateContentConstrained" if constrained else "BidiGenerateContent"
    # The constrained endpoint exists on v1alpha only (ai.google.dev/gemini-api/docs/
    # ephemeral-tokens): a token always goes there, whatever api_version says.
    version = "v1alpha" if constrained else settings.api_version
    prefix = parts.path.rstrip("/")
    url = (
        f"{'wss' if secure else 'ws'}://{parts.netloc}{prefix}/ws/"
        f"google.ai.generativelanguage.{version}.{_SERVICE}.{method}"
    )
    headers = {name.lower(): value for name, value in settings.headers.items()}
    headers.update(settings.auth_headers())  # credentials win over caller headers
    return Endpoint(
        url=url,
        headers=tuple(headers.items()),
        ssl=settings.ssl_context() if secure else None,
        host=host,
        constrained=constrained,
    )


# --------------------------------------------------------------------------- the seam


class _Connect(LeanTlsConnect):
    """websockets' ``connect`` (TLS through :mod:`._idle_memory`) without redirects.

    websockets follows 3xx redirects and strips only ``Authorization`` and cookies on
    a cross-origin hop; our ``x-goog-api-key`` would follow to the other origin.
    A Live endpoint never redirects, so a redirect is reported, not followed.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


#: Bytes of replies the peer makes us write (pongs to its pings, a close frame) that may
#: pile up unread while our writes are paused (the transport's buffer above websockets'
#: high-water mark): past this, the peer sends but does not read, and the connection is
#: dropped with :class:`~api_gemini.errors.WriteTimeoutError`. Together with one send in
#: flight (sends wait for the buffer to drain), this caps the transport's write buffer.
UNREAD_REPLIES_LIMIT: Final = 64 * 1024

#: Why a connection was dropped for a write stall (the ``reason`` of the error).
STALLED_SEND: Final = "a send did not drain within write_timeout"
STALLED_REPLIES: Final = "the peer's pings were answered but the pongs stayed unread"


class BoundedClientConnection(ClientConnection):
    """websockets' connection, with every write bounded in time and space.

    * A timer on the close it waits for. After the peer breaks the protocol (a bad
      frame, a message over ``max_size``) or closes, websockets sends its close frame
      and waits for the server to drop TCP, but enforces ``close_timeout`` only on a
      later send or ping: a server that then goes quiet held the receiver until the next
      keepalive ping (forever without keepalive). Found by ``tests/test_hostile_ws.py``.
    * Keepalive that counts the ping's own write: websockets' ``ping()`` waits in
      ``drain()`` without a timeout, so a peer that stopped reading was never declared
      dead (issue 12, item 1). Here the whole ping, write and pong, must fit in
      ``ping_timeout``.
    * Replies the peer makes us write (pongs) while our writes are paused count, and
      past :data:`UNREAD_REPLIES_LIMIT` the connection is dropped: a ping flood whose
      pongs are never read grew the process by 120-180 MB in 4 s.
    """

    _close_timer: asyncio.TimerHandle | None = None
    #: Why the connection was dropped for a write stall (``None``: it was not).
    stalled: str | None = None
    _unread_replies = 0
    # ---- push delivery (the Wire's sink)
    _sink: FrameSink | None = None
    _close_sink: CloseSink | None = None
    _fragments: list[bytes] | None = None
    #: Messages not yet given to the sink: received while reading was paused (the
    #: rest of one data_received batch) or before the sink was set. A few at most.
    _held: deque[bytes] | None = None
    _sink_paused = False
    #: Closing: read everything (a close frame may sit behind unread data).
    _forced = False
    _lost = False
    _close_delivered = False

    # ---- push delivery

    def set_sink(self, on_frame: FrameSink, on_close: CloseSink) -> None:
        """See :meth:`Wire.set_sink <api_gemini.websocket.wire.Wire.set_sink>`."""
        self._sink = on_frame
        self._close_sink = on_close
        self._flush_held()

    def process_event(self, event: Any) -> None:
        # Data frames go to the sink, not to websockets' assembler (recv() is unused).
        if type(event) is not Frame or self.response is None:
            super().process_event(event)  # the handshake response
            return
        opcode = event.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if event.fin:
                data = event.data
                if type(data) is not bytes:
                    data = bytes(data)
                sink = self._sink
                # The per-chunk path: straight to the sink (the checks of _deliver).
                if sink is not None and not self._held and not self._sink_paused:
                    sink(data)
                else:
                    self._deliver(data)
            else:
                self._fragments = [bytes(event.data)]
        elif opcode is Opcode.CONT:
            fragments = self._fragments
            if fragments is None:  # websockets' parser refuses a stray continuation
                return
            fragments.append(bytes(event.data))
            if event.fin:
                self._fragments = None
                self._deliver(b"".join(fragments))
            elif len(fragments) > _MAX_FRAGMENTS:
                self._fragments = None
                self.protocol.fail(1009, "too many fragments")
                with contextlib.suppress(Exception):
                    self.send_data()
        else:
            super().process_event(event)  # pongs acknowledge pings

    def _deliver(self, data: bytes) -> None:
        sink = self._sink
        if sink is not None and not self._held and (not self._sink_paused or self._forced):
            sink(data)
            return
        held = self._held
        if held is None:
            held = self._held = deque()
        held.append(data)

    def _flush_held(self) -> None:
        held = self._held
        while held and self._sink is not None and (not self._sink_paused or self._forced):
            self._sink(held.popleft())
        self._maybe_deliver_close()

    def _maybe_deliver_close(self) -> None:
        # After the last frame, and not while the sink holds reading paused: a consumer
        # that is not reading sees the end only after what it has not read yet.
        if (
            self._lost
            and not self._close_delivered
            and not self._held
            and self._close_sink is not None
            and (not self._sink_paused or self._forced)
        ):
            self._close_delivered = True
            self._close_sink(self.close_info())

    def pause_sink(self) -> None:
        """Stop delivering to the sink, and stop reading the socket."""
        self._sink_paused = True
        transport = self.transport
        if not self._forced and not transport.is_closing():
            transport.pause_reading()

    def resume_sink(self) -> None:
        """Deliver what is held, then read the socket again."""
        self._sink_paused = False
        self._flush_held()
        transport = self.transport
        if not self._sink_paused and not transport.is_closing():
            transport.resume_reading()

    def force_reading(self) -> None:
        """Closing: deliver and read everything, whatever the sink asked."""
        self._forced = True
        self._flush_held()
        transport = self.transport
        if not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.resume_reading()

    def close_info(self) -> CloseInfo:
        """How the connection ended (or is ending), as the close frames say."""
        if self.stalled is not None:
            return CloseInfo(1006, self.stalled, by_us=True, stalled=self.stalled)
        protocol = self.protocol
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        if sent is not None and (rcvd is None or not protocol.close_rcvd_then_sent):
            return CloseInfo(sent.code, sent.reason, by_us=True)
        if rcvd is not None:
            return CloseInfo(rcvd.code, rcvd.reason, by_us=False)
        return CloseInfo(1006, "", by_us=False)

    def data_received(self, data: bytes) -> None:
        if not self.paused:
            # Our writes flow (the per-chunk path): no reply can pile up unread, and
            # the write buffer is not measured (two calls per read over TLS).
            super().data_received(data)
        else:  # websockets' drain() would wait: our writes are backed up
            transport = self.transport
            before = transport.get_write_buffer_size()
            super().data_received(data)
            grown = transport.get_write_buffer_size() - before
            if grown > 0:
                self._unread_replies += grown
                if self._unread_replies > UNREAD_REPLIES_LIMIT:
                    self.drop_stalled(STALLED_REPLIES)
                    return
        deadline = self.close_deadline
        if self._close_timer is None and deadline is not None and self.protocol.close_expected():
            self._close_timer = self.loop.call_at(deadline, self._close_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._unread_replies = 0

    def drop_stalled(self, why: str) -> None:
        """Drop TCP because our writes do not drain; the close reads as ``why``."""
        if self.stalled is None:
            self.stalled = why
        self.transport.abort()

    def _close_expired(self) -> None:
        if self.state is not _WsState.CLOSED:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self.paused and exc is None:
            # websockets would wake a send waiting in drain() as if its data had gone
            # out; dropped with the data unsent (our abort), the send must fail.
            lost = ConnectionAbortedError("the connection was dropped with data unsent")
            for waiter in self.drain_waiters:
                if not waiter.done():
                    waiter.set_exception(lost)
        super().connection_lost(exc)
        self._lost = True
        self._maybe_deliver_close()

    async def keepalive(self) -> None:
        """Ping every ``ping_interval``; no pong within ``ping_timeout`` of starting
        the ping (its write included) drops the connection as websockets does (close
        code 1011, reason :data:`~.protocol.KEEPALIVE_CLOSE_REASON`)."""
        interval = self.ping_interval
        timeout = self.ping_timeout
        assert interval is not None  # websockets starts keepalive only then
        latency = 0.0
        while True:
            await asyncio.sleep(max(0.0, interval - latency))
            try:
                async with asyncio.timeout(timeout):
                    pong = await self.ping()
                    latency = await pong
            except TimeoutError:
                if self.protocol.state is _WsState.OPEN:
                    # As websockets does: close with 1011 (the reason names the cause).
                    self.protocol.fail(1011, KEEPALIVE_CLOSE_REASON)
                    with contextlib.suppress(Exception):
                        self.send_data()
                if not self.paused:
                    # Our writes flow: give the close frame close_timeout to be
                    # answered by the end of TCP, as websockets does.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.close_timeout):
                            await asyncio.shield(self.connection_lost_waiter)
                # A peer that does not read would never take the close frame.
                self.transport.abort()
                return
            except ConnectionClosed:
                return


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """websockets' client logger minus credentials: at DEBUG, websockets logs every
    handshake header, ``x-goog-api-key`` included."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__(logging.getLogger("websockets.client"), {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            args = tuple(self._scrub(arg) for arg in args)
            super().log(level, msg, *args, **kwargs)

    def _scrub(self, arg: object) -> object:
        if isinstance(arg, str):
            for secret in self._secrets:
                if secret in arg:
                    arg = arg.replace(secret, "***")
        return arg


_CREDENTIAL_HEADERS: Final = frozenset({"x-goog-api-key", "authorization"})


class WebSocketsWire(AsyncClosing):
    """A :class:`~.wire.Wire` on websockets' asyncio client
    (:class:`BoundedClientConnection`): what :func:`open_websocket` returns.

    Attributes:
        connection: the websockets connection (for tests and diagnostics).
    """

    __slots__ = ("_close_timeout", "_write_timeout", "connection")

    def __init__(
        self,
        connection: BoundedClientConnection,
        *,
        write_timeout: float | None,
        close_timeout: float | None,
    ) -> None:
        self.connection = connection
        self._write_timeout = write_timeout
        self._close_timeout = close_timeout

    @property
    def is_open(self) -> bool:
        """True while frames can be sent."""
        return self.connection.state is _WsState.OPEN

    @property
    def is_closed(self) -> bool:
        """True once the connection has ended."""
        return self.connection.state is _WsState.CLOSED

    @property
    def close_info(self) -> CloseInfo | None:
        """How the connection ended; ``None`` until it has."""
        c = self.connection
        if c.state is not _WsState.CLOSED and c.stalled is None:
            return None
        return c.close_info()

    @property
    def latency(self) -> float | None:
        """Round trip of the last ping answered (``None`` before one)."""
        latency = self.connection.latency
        return latency if latency > 0 else None

    def set_sink(self, on_frame: FrameSink, on_close: CloseSink) -> None:
        """Deliver every data message to ``on_frame`` and the end to ``on_close``."""
        self.connection.set_sink(on_frame, on_close)

    def pause_reading(self) -> None:
        """Stop reading the socket (no ``on_frame`` until resumed)."""
        self.connection.pause_sink()

    def resume_reading(self) -> None:
        """Deliver what is held, then read the socket again."""
        self.connection.resume_sink()

    async def send(self, data: bytes) -> None:
        """Send ``data`` as one text frame, bounded by ``write_timeout``."""
        c = self.connection
        try:
            # A text frame from bytes: no decode/encode round trip (the JSON is UTF-8).
            # Bounded: websockets waits in drain() for as long as the peer does not read.
            async with asyncio.timeout(self._write_timeout):
                await c.send(data, text=True)
        except TimeoutError:
            # The frame is queued whole in the transport (websockets writes it before
            # draining), but a peer that took nothing for write_timeout is not reading.
            c.drop_stalled(STALLED_SEND)
            raise WireStalledError(c.stalled or STALLED_SEND, c.close_info()) from None
        except ConnectionClosed:
            raise WireClosedError("the connection is closed", c.close_info()) from None

    async def ping(self) -> float:
        """Ping now; the round trip in seconds (the write bounded by ``write_timeout``)."""
        c = self.connection
        try:
            async with asyncio.timeout(self._write_timeout):  # the ping's write only
                waiter = await c.ping()
        except TimeoutError:
            c.drop_stalled(STALLED_SEND)
            raise WireStalledError(c.stalled or STALLED_SEND) from None
        except ConnectionClosed:
            raise WireClosedError("the connection is closed") from None
        try:
            return float(await waiter)
        except ConnectionClosed:
            raise WireClosedError("the connection closed before the pong") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake within ``close_timeout``; TCP aborted past it."""
        c = self.connection
        # Reading may be paused (a full buffer): the peer's close frame could then not
        # be read and close() would wait out close_timeout.
        c.force_reading()
        try:
            # Bounded as a whole: websockets' close() first waits in drain() for queued
            # data to go out, without a timeout, then close_timeout for the peer.
            async with asyncio.timeout(self._close_timeout):
                await c.close(code, reason)
        except TimeoutError:
            c.transport.abort()
        except BaseException:
            c.transport.abort()
            raise

    def abort(self) -> None:
        """Drop TCP now."""
        self.connection.transport.abort()

    async def aclose(self) -> None:
        """:meth:`close` with a normal closure (the name every async holder has)."""
        await self.close(1000)

    def __repr__(self) -> str:
        return f"WebSocketsWire(state={self.connection.state.name})"


#: The transport seam: ``await connector(endpoint, settings)`` opens the WebSocket
#: (TCP, TLS, upgrade) and returns it open, as a :class:`~.wire.Wire`.
#: ``WebSocketSettings.connector``.
WebSocketConnector = Callable[[Endpoint, ClientSettings], Awaitable[Wire]]


async def open_websocket(endpoint: Endpoint, settings: ClientSettings) -> WebSocketsWire:
    """Open the WebSocket (TCP, TLS, upgrade) with the settings applied: the default
    :data:`WebSocketConnector`, and the one place that calls websockets' ``connect``.

    Raises:
        InvalidStatus: (websockets') the server answered the upgrade with an HTTP
            response (:class:`~.connection.LiveConnection` maps it as it maps
            :class:`~.wire.UpgradeRefusedError`).
    """
    ws = settings.websocket
    options: dict[str, Any] = {}
    if endpoint.ssl is not None:
        options["ssl"] = endpoint.ssl
    connection: ClientConnection = await _Connect(
        endpoint.url,
        additional_headers=list(endpoint.headers),
        user_agent_header=_USER_AGENT,
        compression="deflate" if ws.compression else None,
        # Environment proxies are for remote hosts; never route loopback through one.
        proxy=None if is_loopback_host(endpoint.host) else True,
        open_timeout=None,  # the caller bounds TCP + TLS + upgrade + setup as one
        ping_interval=ws.keepalive_interval,
        ping_timeout=ws.keepalive_timeout,
        close_timeout=ws.close_timeout,
        max_size=ws.max_message_size,
        max_queue=WEBSOCKETS_MAX_QUEUE,
        logger=_RedactingLogger([v for k, v in endpoint.headers if k in _CREDENTIAL_HEADERS]),
        create_connection=BoundedClientConnection,
        **options,
    )
    if endpoint.ssl is not None:
        trim_tls_read_buffer(connection.transport)  # a no-op on LeanTlsConnect's layer
    trim_open_connection(connection)
    assert isinstance(connection, BoundedClientConnection)  # create_connection above
    return WebSocketsWire(
        connection, write_timeout=ws.write_timeout, close_timeout=ws.close_timeout
    )


#: Bytes asyncio's TLS layer reads at a time on our connections. CPython's SSLProtocol
#: gives every TLS connection a 256 KiB read buffer for its whole life: most of an
#: idle Live session's memory (docs/performance.md). A TLS record holds at most 16 KiB
#: and the Live API's messages are small, so 16 KiB per read costs nothing per chunk.
TLS_READ_BUFFER: Final = 16 * 1024


def trim_tls_read_buffer(transport: asyncio.BaseTransport) -> None:
    """Shrink asyncio's TLS read buffer of ``transport`` (a connection's, whichever
    WebSocket library opened it) to :data:`TLS_READ_BUFFER`.

    These are CPython internals (``asyncio.sslproto``), so the change is guarded: an
    event loop without them (uvloop) or a future layout is left as it is.
    """
    protocol: Any = getattr(transport, "_ssl_protocol", None)
    buffer = getattr(protocol, "_ssl_buffer", None)
    if not isinstance(buffer, bytearray) or len(buffer) <= TLS_READ_BUFFER:
        return
    with contextlib.suppress(AttributeError, TypeError):
        smaller = bytearray(TLS_READ_BUFFER)
        protocol.max_size = TLS_READ_BUFFER  # caps get_buffer() and each SSL read
        protocol._ssl_buffer = smaller
        protocol._ssl_buffer_view = memoryview(smaller)
