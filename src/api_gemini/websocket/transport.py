"""The transport seam: how a Live connection's WebSocket is opened, and the
``websockets`` connection class behind it, with every write bounded.

:func:`open_websocket` is the default :data:`WebSocketConnector`: websockets' asyncio
client (TCP, TLS, upgrade), configured from the settings. A different connector (to
route connections through something else, to inject faults, to try another WebSocket
library) is given as ``WebSocketSettings(connector=...)``; it receives the
:class:`Endpoint` (URL, headers with the credentials, TLS context) and returns an open
``websockets`` ``ClientConnection`` (or an object that behaves as one).
:mod:`.connection` builds everything else on what the connector returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State as _WsState
from websockets.version import version as _websockets_version

from .._version import __version__
from ..errors import ConfigurationError
from ..settings import ClientSettings, is_loopback_host
from ._idle_memory import LeanTlsConnect, trim_open_connection
from .protocol import KEEPALIVE_CLOSE_REASON

__all__ = [
    "STALLED_REPLIES",
    "STALLED_SEND",
    "TLS_READ_BUFFER",
    "UNREAD_REPLIES_LIMIT",
    "WEBSOCKETS_MAX_QUEUE",
    "BoundedClientConnection",
    "Endpoint",
    "WebSocketConnector",
    "live_endpoint",
    "open_websocket",
]

#: Frames websockets may hold before it stops reading the socket, as (high, low) water
#: marks. Small on purpose: our own bounded buffer sits above it, and every frame here
#: may be up to ``max_message_size``, so this bounds the memory outside our buffer.
WEBSOCKETS_MAX_QUEUE: Final = (4, 1)

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

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        before = transport.get_write_buffer_size()
        super().data_received(data)
        if self.paused:  # websockets' drain() would wait: our writes are backed up
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


#: The transport seam: ``await connector(endpoint, settings)`` opens the WebSocket
#: (TCP, TLS, upgrade) and returns it open. ``WebSocketSettings.connector``.
WebSocketConnector = Callable[[Endpoint, ClientSettings], Awaitable[ClientConnection]]


async def open_websocket(endpoint: Endpoint, settings: ClientSettings) -> ClientConnection:
    """Open the WebSocket (TCP, TLS, upgrade) with the settings applied: the default
    :data:`WebSocketConnector`, and the one place that calls websockets' ``connect``.
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
        _trim_tls_read_buffer(connection)  # a no-op on LeanTlsConnect's TLS layer
    trim_open_connection(connection)
    return connection


#: Bytes asyncio's TLS layer reads at a time on our connections. CPython's SSLProtocol
#: gives every TLS connection a 256 KiB read buffer for its whole life: most of an
#: idle Live session's memory (docs/performance.md). A TLS record holds at most 16 KiB
#: and the Live API's messages are small, so 16 KiB per read costs nothing per chunk.
TLS_READ_BUFFER: Final = 16 * 1024


def _trim_tls_read_buffer(connection: ClientConnection) -> None:
    """Shrink asyncio's per-connection TLS read buffer to :data:`TLS_READ_BUFFER`.

    These are CPython internals (``asyncio.sslproto``), so the change is guarded: an
    event loop without them (uvloop) or a future layout is left as it is.
    """
    protocol: Any = getattr(connection.transport, "_ssl_protocol", None)
    buffer = getattr(protocol, "_ssl_buffer", None)
    if not isinstance(buffer, bytearray) or len(buffer) <= TLS_READ_BUFFER:
        return
    with contextlib.suppress(AttributeError, TypeError):
        smaller = bytearray(TLS_READ_BUFFER)
        protocol.max_size = TLS_READ_BUFFER  # caps get_buffer() and each SSL read
        protocol._ssl_buffer = smaller
        protocol._ssl_buffer_view = memoryview(smaller)
