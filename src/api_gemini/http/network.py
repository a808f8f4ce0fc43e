"""The transports of the HTTP clients we build: httpx2's own, with one leak closed.

httpcore2 opens the TCP connection, then runs the TLS handshake on it. If the call is
cancelled during the handshake (an ``asyncio.timeout`` around the call, a cancelled
task, Ctrl-C in the sync API), the handshake code closes the socket only for an
``Exception``, not for a cancellation, and the connection pool never learnt of the
socket: it stayed open (CLOSE_WAIT once the server gave up) until garbage collection,
``client.aclose()`` notwithstanding. The network backend here wraps httpcore2's and
closes the plain socket whenever the handshake does not complete, for any reason.

Only clients built by ``api_gemini`` get it: an injected ``http_client`` keeps its own
transport (and this httpcore2 behaviour).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpcore2

if TYPE_CHECKING:
    import httpx2

__all__ = ["close_sockets_on_failed_handshakes"]

_SocketOptions = Iterable[Any] | None


class _ClosingAsyncStream(httpcore2.AsyncNetworkStream):
    """A plain TCP stream whose socket is closed when ``start_tls`` does not finish."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore2 interface)
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore2 interface)
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2 interface)
    ) -> httpcore2.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # A cancellation included: nobody else holds this socket. Closing it is
            # synchronous at heart (the transport is closed before the first await), so
            # a shield keeps a second cancellation from interrupting it.
            import anyio

            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _ClosingAsyncBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self, backend: httpcore2.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2 interface)
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClosingAsyncStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2 interface)
        socket_options: _SocketOptions = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _ClosingAsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _ClosingSyncStream(httpcore2.NetworkStream):
    """The synchronous twin of :class:`_ClosingAsyncStream` (Ctrl-C in a handshake)."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            return self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            self._stream.close()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _ClosingSyncBackend(httpcore2.NetworkBackend):
    def __init__(self, backend: httpcore2.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore2.NetworkStream:
        return _ClosingSyncStream(
            self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore2.NetworkStream:
        return _ClosingSyncStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def close_sockets_on_failed_handshakes(client: httpx2.AsyncClient | httpx2.Client) -> None:
    """Give the pools of a client we built the closing network backend.

    httpcore2 takes a network backend only at construction, and passing our own
    transport to httpx2 would turn off proxies from the environment; so the pools httpx2
    built (its default transport, and the proxy mounts) get their backend wrapped in
    place. The attribute is httpcore2's (pinned ``httpx2>=2.16``); a release that moves
    it makes ``tests/test_hostile_http.py`` fail rather than this code.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None or isinstance(backend, _ClosingAsyncBackend | _ClosingSyncBackend):
            continue
        if isinstance(backend, httpcore2.AsyncNetworkBackend):
            pool._network_backend = _ClosingAsyncBackend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore2.NetworkBackend):
            pool._network_backend = _ClosingSyncBackend(backend)  # type: ignore[union-attr]
