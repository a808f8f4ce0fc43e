"""Less memory per open Live connection: a leaner TLS layer and a trimmed handshake.

An idle Live session over TLS cost about 75 KiB, most of it asyncio's TLS layer
(docs/performance.md, "Idle session"). Three things here bring it down, all private:

* :class:`LeanSSLProtocol`, asyncio's own ``SSLProtocol`` with its memory habits
  changed: reads go through ONE 16 KiB buffer per event loop instead of one per
  connection, the peer certificate and cipher are looked up when asked for instead of
  kept, and a send is encrypted and handed to the socket one TLS record at a time.
* :class:`LeanTlsConnect`, websockets' ``connect`` whose TCP + TLS step builds that
  protocol (``loop.create_connection`` with the TLS protocol as the socket's protocol,
  what asyncio's ``_make_ssl_transport`` does). Only on the stock asyncio selector loop
  of a CPython whose ``asyncio.sslproto`` we know; anything else (uvloop, a proxy, a
  Unix socket, a Python we have not read) takes websockets' own path unchanged.
* :func:`trim_open_connection`, which drops the handshake's headers (the request's
  include the credential) once the connection is open.

The TLS layer is CPython internals, so it is guarded (:func:`lean_tls_supported`) and
tested against a real TLS server (tests/test_ws_idle_memory.py). Certificate and
hostname verification, SNI and the handshake timeout are OpenSSL's and asyncio's,
untouched: only buffers change.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import sys
import weakref
from asyncio import selector_events, sslproto
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _ws_connect
from websockets.proxy import get_proxy

__all__ = [
    "TLS_RECORD",
    "LeanSSLProtocol",
    "LeanTlsConnect",
    "lean_tls_supported",
    "trim_open_connection",
]

#: The largest TLS record's payload: the most one ``SSLObject.read`` returns, and the
#: most one encrypted write puts in flight at a time.
TLS_RECORD: Final = 16 * 1024

#: CPython versions whose ``asyncio/sslproto.py`` this module was checked against
#: (3.12's SSLProtocol is 3.11's; 3.13 changed only ``_abort`` and timer callbacks).
_KNOWN_PYTHONS: Final = ((3, 11), (3, 12), (3, 13))

#: The internals the overrides below rely on; one missing means a layout we have not
#: read, and the stock path is used.
_INTERNALS: Final = (
    "get_buffer",
    "buffer_updated",
    "resume_writing",
    "_do_write",
    "_do_read__copied",
    "_do_flush",
    "_call_eof_received",
    "_start_shutdown",
    "_process_outgoing",
    "_on_handshake_complete",
    "_get_extra_info",
    "_get_app_transport",
    "max_size",
)

_SSL_AGAIN: Final = (ssl.SSLWantReadError, ssl.SSLSyscallError)

#: The read buffer shared by every lean TLS connection of one event loop.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[bytearray, memoryview]] = (
    weakref.WeakKeyDictionary()
)


def _shared_read_buffer(loop: asyncio.AbstractEventLoop) -> tuple[bytearray, memoryview]:
    shared = _SHARED.get(loop)
    if shared is None:
        buffer = bytearray(TLS_RECORD)
        shared = _SHARED[loop] = (buffer, memoryview(buffer))
    return shared


def lean_tls_supported(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether :class:`LeanSSLProtocol` may serve connections on ``loop``.

    Only asyncio's own selector loop: its socket transport fills the buffer from
    ``get_buffer`` and hands it to ``buffer_updated`` in the same call, which is what
    makes one buffer per loop safe. The proactor loop (Windows) keeps a read pending on
    the buffer across iterations, and uvloop has its own TLS layer: both are left alone.
    """
    return (
        sys.version_info[:2] in _KNOWN_PYTHONS
        and isinstance(loop, selector_events.BaseSelectorEventLoop)
        and type(loop).__module__.startswith("asyncio.")
        and all(hasattr(sslproto.SSLProtocol, name) for name in _INTERNALS)
    )


#: ``get_extra_info`` names asyncio computes at the handshake and keeps for the
#: connection's life (the certificate as a dict of strings is the big one), answered
#: from the SSL object when asked instead.
_ON_DEMAND: Final = {"peercert": "getpeercert", "cipher": "cipher", "compression": "compression"}


class LeanSSLProtocol(sslproto.SSLProtocol):
    """asyncio's client TLS protocol with less memory held per connection.

    * Reads from the socket go through the loop's shared 16 KiB buffer (asyncio gives
      each connection a 256 KiB one); reads out of OpenSSL take one record at a time
      (asyncio allocates 256 KiB for each). Sharing is safe because the selector
      transport copies each read into the TLS layer's ``MemoryBIO`` (``buffer_updated``)
      before the next read can reuse the buffer.
    * ``peercert``, ``cipher``, ``compression`` come from the SSL object on demand.
    * Writes: one record is encrypted and written to the socket at a time, and nothing
      more is encrypted while the socket's buffer is full (the plaintext waits in the
      backlog, a view of the caller's bytes). asyncio encrypts a whole send into its
      outgoing ``MemoryBIO`` at once, whose native buffer keeps that size for the
      connection's life: a 1 MB send left about 1.1 MiB behind.
    """

    #: Unused here (``get_buffer`` and the copied read are overridden); 0 so that
    #: asyncio's ``__init__`` allocates no read buffer of its own.
    max_size = 0

    # Eight of asyncio's attributes in slots: with the 32 it sets in __init__, the
    # instance outgrows CPython's shared-key attribute storage (30 keys) and gets a
    # dict of its own (1.5 KiB); with 24 it keeps the compact one.
    __slots__ = (
        "_incoming_high_water",
        "_incoming_low_water",
        "_outgoing_high_water",
        "_outgoing_low_water",
        "_ssl_buffer",
        "_ssl_buffer_view",
        "_write_backlog",
        "_write_buffer_size",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        sslcontext: ssl.SSLContext,
        waiter: asyncio.Future[None],
        server_hostname: str | None,
        ssl_handshake_timeout: float | None = None,
    ) -> None:
        super().__init__(
            loop,
            app_protocol,
            sslcontext,
            waiter,
            server_side=False,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,  # type: ignore[arg-type]
        )
        self._ssl_buffer, self._ssl_buffer_view = _shared_read_buffer(loop)
        # A list: the backlog holds one or two sends, and an empty deque is 0.6 KiB.
        self._write_backlog: Any = []

    def get_buffer(self, n: int) -> memoryview:
        return self._ssl_buffer_view

    def _do_read__copied(self) -> None:
        # asyncio's loop with one TLS record per read (``max_size`` is 0 here): each
        # read allocates a record-sized bytes object that OpenSSL fills and that is
        # shrunk in place, no copy (reading into the shared buffer and copying out was
        # slower for records of a few KiB).
        me: Any = self
        sslobj = me._sslobj
        chunk = b"1"
        chunks: list[bytes] = []
        try:
            while True:
                chunk = sslobj.read(TLS_RECORD)
                if not chunk:
                    break
                chunks.append(chunk)
        except _SSL_AGAIN:
            pass
        if chunks:
            me._app_protocol.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if not chunk:  # close_notify
            me._call_eof_received()
            me._start_shutdown()

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        super()._on_handshake_complete(handshake_exc)
        extra = self._extra
        for name in _ON_DEMAND:
            extra.pop(name, None)
        self._extra = dict(extra)  # the same keys in a dict sized for them

    def _get_extra_info(self, name: str, default: Any = None) -> Any:
        method = _ON_DEMAND.get(name)
        if method is not None:
            sslobj = self._extra.get("ssl_object")
            if sslobj is not None:
                return getattr(sslobj, method)()
        return super()._get_extra_info(name, default)

    def _do_write(self) -> None:
        me: Any = self  # typeshed's SSLProtocol predates 3.11's rewrite
        backlog: Any = me._write_backlog
        sslobj = me._sslobj
        # While open, hold plaintext back when the socket is full; while closing, all of
        # it must be encrypted before the close_notify that follows (asyncio's order).
        hold_back = me._state is sslproto.SSLProtocolState.WRAPPED
        try:
            while backlog and not (hold_back and me._ssl_writing_paused):
                data: Any = backlog[0]
                size = len(data)
                if size > TLS_RECORD and not isinstance(data, memoryview):
                    # A view, so the rest is not copied at every record; bytearray and
                    # other buffers are copied once (a view would lock their size).
                    data = memoryview(data if isinstance(data, bytes) else bytes(data))
                    backlog[0] = data
                count = sslobj.write(data[:TLS_RECORD] if size > TLS_RECORD else data)
                if count < size:
                    backlog[0] = data[count:]
                else:
                    del backlog[0]
                me._write_buffer_size -= count
                if backlog:  # out now, so the pause state is known before the next one
                    me._process_outgoing()
        except _SSL_AGAIN:
            pass
        me._process_outgoing()  # the last record (once per send, not twice)

    def _do_flush(self) -> None:
        # Closing: the plaintext held back must be encrypted before the close_notify.
        # asyncio encrypts it only in _do_read, which does nothing while the app has
        # paused reading: held plaintext was dropped (asyncio's own layer holds none).
        me: Any = self
        if me._write_backlog:
            self._do_write()  # not WRAPPED now: all of it, ahead of the close_notify
        super()._do_flush()  # type: ignore[misc]

    def resume_writing(self) -> None:
        super().resume_writing()
        me: Any = self
        if me._write_backlog and me._state is sslproto.SSLProtocolState.WRAPPED:
            self._do_write()


async def lean_tls_connect(
    loop: asyncio.AbstractEventLoop,
    app_factory: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    sslcontext: ssl.SSLContext,
    server_hostname: str | None,
    ssl_handshake_timeout: float | None = None,
) -> asyncio.Protocol:
    """TCP connect, then the TLS handshake through :class:`LeanSSLProtocol`; returns
    the app protocol, connected (``connection_made``) once the handshake is done.

    Certificate and hostname checks happen in the handshake (OpenSSL, from
    ``sslcontext`` and ``server_hostname``, also sent as SNI); a failure raises here,
    as ``loop.create_connection(ssl=...)`` would.
    """
    app = app_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    made: list[LeanSSLProtocol] = []

    def make_protocol() -> LeanSSLProtocol:
        # Built only once TCP is up: an SSLProtocol never connected warns when collected.
        protocol = LeanSSLProtocol(
            loop, app, sslcontext, waiter, server_hostname, ssl_handshake_timeout
        )
        made.append(protocol)
        return protocol

    await loop.create_connection(make_protocol, host, port)
    protocol: Any = made[0]
    app_transport = protocol._get_app_transport()
    try:
        await waiter
    except BaseException:
        app_transport.close()  # aborts TCP if the handshake is still running
        raise
    return app


class LeanTlsConnect(_ws_connect):
    """websockets' ``connect`` whose TCP + TLS step uses :func:`lean_tls_connect`
    where :func:`lean_tls_supported` allows and nothing else is asked for (no proxy, no
    Unix socket or given socket, no other ``create_connection`` option)."""

    async def open_tcp_connection(self) -> ClientConnection:
        """Open TCP + TLS; websockets' own path when the lean one does not apply."""
        loop = asyncio.get_running_loop()
        kwargs = self.create_connection_kwargs
        sslcontext = kwargs.get("ssl")
        if (
            not self.ws_uri.secure
            or not isinstance(sslcontext, ssl.SSLContext)
            or set(kwargs) - {"ssl", "server_hostname", "ssl_handshake_timeout"}
            or not lean_tls_supported(loop)
            or (get_proxy(self.ws_uri) if self.proxy is True else self.proxy) is not None
        ):
            return await super().open_tcp_connection()
        connection = await lean_tls_connect(
            loop,
            lambda: self.factory(self.ws_uri),
            self.ws_uri.host,
            self.ws_uri.port,
            sslcontext,
            kwargs.get("server_hostname", self.ws_uri.host),
            kwargs.get("ssl_handshake_timeout"),
        )
        assert isinstance(connection, ClientConnection)
        return connection


def trim_open_connection(connection: ClientConnection) -> None:
    """Drop what websockets keeps of the handshake once the connection is open.

    ``connection.request`` keeps its path and ``connection.response`` its status and
    reason; their headers (the request's hold the credential) and the response body
    go. In place: websockets' frame parser (a generator) holds the same response.
    Nothing in api_gemini reads them after the upgrade (a refused upgrade raises
    before this, with its response whole).
    """
    request = connection.request
    if request is not None:
        request.headers.clear()
    response = connection.response
    if response is not None:
        response.headers.clear()
        response.body = b""
    # websockets appends, removes and iterates its drain waiters: a list does all three,
    # and an empty one is 56 bytes where an empty deque is 0.6 KiB.
    waiters: Any = getattr(connection, "drain_waiters", None)
    if type(waiters) is collections.deque and not waiters:
        connection.drain_waiters = []  # type: ignore[assignment]
