"""The transport seam as a small protocol: what a Live connection needs of a WebSocket.

A :class:`Wire` is one open WebSocket. The connector
(``WebSocketSettings(connector=...)``, by default
:func:`~api_gemini.websocket.transport.open_websocket`) opens it (TCP, TLS, upgrade) and
returns it; :class:`~api_gemini.websocket.connection.LiveConnection` builds everything
else on it. Any WebSocket library can stand behind it (websockets by default,
:class:`~api_gemini.websocket.transport.WebSocketsWire`).

Delivery is PUSH: the wire calls the sink given to :meth:`Wire.set_sink` once per
received data message (fragments already joined), synchronously, from the transport's
``data_received`` path, then ``on_close`` once when the connection has ended. There is no
reader task and no await per frame: the sink decodes, converts and buffers in one call,
and pushes back with :meth:`Wire.pause_reading` when its buffer is full (TCP flow
control then pushes back on the server) and :meth:`Wire.resume_reading` once drained.

Contract for implementers:

* Data messages reach ``on_frame`` in arrival order, each exactly once, as ``bytes``
  (the UTF-8 of a text frame is not decoded or checked: the JSON decoder does that).
  Messages received before :meth:`Wire.set_sink` are held and delivered, in order, by
  it. A message larger than ``max_message_size`` closes the connection with 1009.
* ``on_close`` is called exactly once, after the last ``on_frame``, when the TCP
  connection is gone (or the WebSocket closed), with :attr:`Wire.close_info` set.
* While reading is paused no ``on_frame`` call is made, and the wire does not keep
  more than a few frames of its own: the memory bound of a paused stream is the sink's
  buffer plus those frames.
* :meth:`Wire.send` is bounded by ``write_timeout``: a peer that stops reading makes
  it raise :class:`WireStalledError` with the connection dropped (never a hang). A wire
  also drops the connection when the pongs it owes pile up unread while writes are
  paused (a ping flood from a peer that does not read), with
  :attr:`CloseInfo.stalled` set.
* Keepalive (ping every ``keepalive_interval``, no pong within ``keepalive_timeout``:
  close 1011 with :data:`~api_gemini.websocket.protocol.KEEPALIVE_CLOSE_REASON`) is
  the wire's; its ping's own write counts in the timeout.
* :meth:`Wire.close` does the closing handshake bounded by ``close_timeout`` and
  aborts TCP past it; it is idempotent, and safe while reading is paused.
* Errors: a send or ping on a closed connection raises :class:`WireClosedError`; the
  connector raises :class:`UpgradeRefusedError` for an HTTP answer to the upgrade,
  ``OSError`` / ``ssl.SSLError`` / ``TimeoutError`` for the rest. No message or repr
  holds a credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CloseInfo",
    "CloseSink",
    "FrameSink",
    "UpgradeRefusedError",
    "Wire",
    "WireClosedError",
    "WireStalledError",
]

#: Called once per received data message, synchronously, with its bytes.
FrameSink = Callable[[bytes], None]


@dataclass(frozen=True, slots=True)
class CloseInfo:
    """How a WebSocket ended.

    Attributes:
        code: the close code that counts (1006: no close frame, TCP just ended).
        reason: the close reason that goes with it.
        by_us: True when the code is the one we sent (we closed first, or the wire
            failed the connection: keepalive, a bad frame, a message too big); False
            when it is the peer's.
        stalled: set when the wire dropped the connection because our writes did not
            drain (why, in words); ``code`` is then 1006.
    """

    code: int
    reason: str
    by_us: bool = False
    stalled: str | None = None


#: Called once when the connection has ended, after the last frame.
CloseSink = Callable[[CloseInfo], None]


class WireClosedError(Exception):
    """A send or ping on a WebSocket that is closed (or closing).

    Attributes:
        info: how it closed (or is closing), when the wire knows: the close frames
            may have crossed before TCP ended (``None``: unknown).
    """

    def __init__(self, message: str, info: CloseInfo | None = None) -> None:
        super().__init__(message)
        self.info = info


class WireStalledError(WireClosedError):
    """A write did not drain within ``write_timeout``: the wire dropped the connection
    (its :attr:`Wire.close_info` says why)."""


class UpgradeRefusedError(Exception):
    """The server answered the WebSocket upgrade with an HTTP response.

    Attributes:
        status: the HTTP status code.
        body: the start of the response body (for the error message; the connection
            scrubs credentials from it).
    """

    def __init__(self, status: int, body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


@runtime_checkable
class Wire(Protocol):
    """One open WebSocket, as a Live connection uses it (see the module docstring for
    the contract)."""

    @property
    def is_open(self) -> bool:
        """True while frames can be sent (no close frame sent or received)."""
        ...

    @property
    def is_closed(self) -> bool:
        """True once the connection has ended (TCP gone; :attr:`close_info` set)."""
        ...

    @property
    def close_info(self) -> CloseInfo | None:
        """How the connection ended; ``None`` until it has."""
        ...

    @property
    def latency(self) -> float | None:
        """Round trip of the last ping answered, in seconds (``None`` before one)."""
        ...

    def set_sink(self, on_frame: FrameSink, on_close: CloseSink) -> None:
        """Deliver every data message to ``on_frame`` (those already received first,
        in order) and the end to ``on_close``. Called again, it replaces both."""
        ...

    def pause_reading(self) -> None:
        """Stop reading the socket (idempotent): no ``on_frame`` until resumed."""
        ...

    def resume_reading(self) -> None:
        """Read the socket again (idempotent)."""
        ...

    async def send(self, data: bytes) -> None:
        """Send ``data`` (UTF-8 JSON) as one text frame; returns once it is written
        and the write buffer is below its high-water mark.

        Raises:
            WireStalledError: it did not drain within ``write_timeout``.
            WireClosedError: the connection is closed or closing.
        """
        ...

    async def ping(self) -> float:
        """Ping now and return the round trip in seconds. The ping's write is bounded
        by ``write_timeout``; the wait for the pong is not.

        Raises:
            WireStalledError: the ping's write did not drain within ``write_timeout``.
            WireClosedError: the connection is closed, or closed while waiting.
        """
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake bounded by ``close_timeout``, then TCP ends (aborted past
        the timeout, or if the caller is cancelled). Idempotent."""
        ...

    def abort(self) -> None:
        """Drop TCP now, without a handshake (idempotent)."""
        ...
