"""picows behind the transport seam: ``WebSocketSettings(connector=PicowsConnector())``.

`picows <https://github.com/tarasko/picows>`_ parses WebSocket frames in Cython and
hands each one to a callback, which feeds the :class:`~.wire.Wire` sink directly: about
a third less CPU per received frame than websockets (docs/performance.md). It is an
option, not the default: it needs the ``picows`` extra (``pip install
'api-gemini[picows]'``) and does not do permessage-deflate.

Everything else is as over websockets: TLS through the client's SSL context (asyncio's
TLS, the host name checked, SNI sent), the same headers (the credentials in a header
only, the same user agent), the same proxy from the environment for remote hosts,
redirects refused, ``max_message_size``, ``write_timeout``, keepalive, ``close_timeout``,
and the same typed errors.

This module does not import picows; the connector does, when it is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
from typing import TYPE_CHECKING, Any, Final

from .._version import __version__
from ..errors import ConfigurationError
from ..settings import ClientSettings, is_loopback_host
from .transport import Endpoint, trim_tls_read_buffer
from .wire import UpgradeRefusedError, Wire

if TYPE_CHECKING:
    from ._picows_wire import PicowsWire, WireLogger

__all__ = ["PicowsConnector"]

_INSTALL_HINT: Final = (
    "the picows transport needs the picows package: pip install 'api-gemini[picows]'"
)
#: Bytes picows reads at a time to start with (it grows the buffer for larger frames):
#: a Live message is small, and the buffer is per connection for its whole life.
_READ_BUFFER: Final = 16 * 1024


class PicowsConnector:
    """A :data:`~.transport.WebSocketConnector` that opens Live connections with picows.

    ``WebSocketSettings(connector=PicowsConnector())``. Building it imports picows.

    Raises:
        ConfigurationError: picows is not installed (the ``picows`` extra); at connect
            time, a setting picows cannot honour (``compression=True``).
    """

    def __init__(self) -> None:
        try:
            self._picows: Any = importlib.import_module("picows")
            wire_module = importlib.import_module("api_gemini.websocket._picows_wire")
        except ImportError:
            raise ConfigurationError(_INSTALL_HINT) from None
        self._wire_class: type[PicowsWire] = wire_module.PicowsWire
        self._logger_class: type[WireLogger] = wire_module.WireLogger

    def __repr__(self) -> str:
        return "PicowsConnector()"

    async def __call__(self, endpoint: Endpoint, settings: ClientSettings) -> Wire:
        """Open the WebSocket (TCP, TLS, upgrade) and return it as a :class:`~.wire.Wire`.

        Raises:
            ConfigurationError: ``compression=True`` (picows has no permessage-deflate).
            UpgradeRefusedError: the server answered the upgrade with HTTP (a redirect
                too: it is not followed, the key would go along).
            OSError, ssl.SSLError, TimeoutError: TCP, TLS or the upgrade failed.
        """
        ws = settings.websocket
        if ws.compression:
            raise ConfigurationError(
                "the picows transport does not do permessage-deflate: use "
                "WebSocketSettings(compression=False) with PicowsConnector, or the default "
                "connector"
            )
        picows = self._picows
        loop = asyncio.get_running_loop()
        wire = self._wire_class(
            loop,
            max_message_size=ws.max_message_size,
            write_timeout=ws.write_timeout,
            close_timeout=ws.close_timeout,
            keepalive_interval=ws.keepalive_interval,
            keepalive_timeout=ws.keepalive_timeout,
        )
        headers = [(name, value) for name, value in endpoint.headers]
        headers.append(("User-Agent", f"api-gemini/{__version__} picows/{picows.__version__}"))
        secrets = tuple(v for k, v in endpoint.headers if k in ("x-goog-api-key", "authorization"))
        logger = self._logger_class(secrets)
        logger.wire = wire
        options: dict[str, Any] = {}
        if endpoint.ssl is not None:
            options["ssl_context"] = endpoint.ssl
        proxy = _proxy_for(endpoint)
        if proxy is not None:
            options["proxy"] = proxy
        # Our own TCP socket: picows leaves the connection open when the caller's
        # open_timeout cancels it during the upgrade (it is not yet ours then), so the
        # socket is kept here to end it in that case.
        sockets: list[socket.socket] = []

        async def connected_socket(target: Any) -> socket.socket:
            sock = await _connect(loop, target.host, target.port)
            sockets.append(sock)
            return sock

        try:
            transport, listener = await picows.ws_connect(
                lambda: wire,
                endpoint.url,
                # The caller bounds TCP + TLS + upgrade + setup as one (open_timeout).
                websocket_handshake_timeout=None,
                enable_auto_pong=False,  # the wire answers, counting unread pongs
                max_frame_size=ws.max_message_size,
                extra_headers=headers,
                max_redirects=0,
                read_buffer_init_size=_READ_BUFFER,
                logger_name=logger,
                use_aiofastnet=False,  # asyncio's TLS: the client's SSL context applies
                socket_factory=connected_socket,
                **options,
            )
        except picows.WSHandshakeError as exc:
            response = exc.response
            if response is not None and int(response.status) != 101:
                body = response.body or exc.raw_body or b""
                raise UpgradeRefusedError(int(response.status), bytes(body[:1000])) from None
            raise ConnectionError(f"invalid WebSocket upgrade: {_scrub(exc, secrets)}") from None
        except picows.WSError as exc:
            raise ConnectionError(f"WebSocket upgrade failed: {_scrub(exc, secrets)}") from None
        except (asyncio.CancelledError, Exception):
            wire.abort()
            for sock in sockets:
                if sock.fileno() != -1:  # its transport still runs: end it from below
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            raise
        if listener is not wire or transport.is_disconnected:
            # TCP ended before the upgrade's answer was read.
            with contextlib.suppress(Exception):
                transport.disconnect(graceful=False)
            raise ConnectionError("the connection closed during the WebSocket upgrade")
        if endpoint.ssl is not None:
            # asyncio's stock TLS layer here: 256 KiB read buffer per connection unless cut.
            trim_tls_read_buffer(transport.underlying_transport)
        wire.start_keepalive()
        opened: Wire = wire
        return opened


async def _connect(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A TCP connection to ``host``, each of its addresses in turn (as asyncio's
    ``create_connection`` does); a cancelled attempt closes its socket."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error or OSError(f"no address for {host!r}")


def _scrub(exc: BaseException, secrets: tuple[str, ...]) -> str:
    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:300]


def _proxy_for(endpoint: Endpoint) -> str | None:
    """The proxy websockets' client would use (``proxy=True``: from the environment),
    never for a loopback host, as over websockets."""
    if is_loopback_host(endpoint.host):
        return None
    from websockets.proxy import get_proxy
    from websockets.uri import parse_uri

    return get_proxy(parse_uri(endpoint.url))
