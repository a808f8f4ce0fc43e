"""The :class:`~.wire.Wire` over picows: its frame callbacks feed the sink directly.

Private: imported only by :class:`~.transport_picows.PicowsConnector` on first use, so
that ``import api_gemini`` (and ``api_gemini.websocket``) never imports picows. picows
parses frames in Cython and calls :meth:`PicowsWire.on_ws_frame` synchronously from
``buffer_updated``; there is no queue and no task between the socket and the sink.

picows leaves to its user what websockets does itself, so this module does it:

* the closing handshake (picows does not answer a close frame, nor time out waiting
  for the peer's), bounded by ``close_timeout`` with a timer, not a task;
* keepalive, with timers: ping every ``keepalive_interval``, close 1011 with
  :data:`~.protocol.KEEPALIVE_CLOSE_REASON` when no pong comes in ``keepalive_timeout``
  (the ping's write is synchronous here, so a peer that does not read is caught by the
  same timeout);
* pongs (picows's auto-pong is off): counted while our writes are backed up, so a ping
  flood that is never read drops the connection (:data:`~.transport.UNREAD_REPLIES_LIMIT`);
* fragmented messages joined, bounded by ``max_message_size`` (picows bounds a frame);
* frames that arrive after the sink paused reading (picows hands over every frame of
  one socket read at once): held, at most one read's worth, and delivered on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any, Final

import picows
from picows import WSCloseCode, WSFrame, WSMsgType, WSTransport

from .._closing import AsyncClosing
from .protocol import KEEPALIVE_CLOSE_REASON
from .transport import STALLED_REPLIES, STALLED_SEND, UNREAD_REPLIES_LIMIT
from .wire import CloseInfo, CloseSink, FrameSink, WireClosedError, WireStalledError

__all__ = ["PicowsWire", "WireLogger"]

_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CONTINUATION: Final = WSMsgType.CONTINUATION
_PING: Final = WSMsgType.PING
_PONG: Final = WSMsgType.PONG
_CLOSE: Final = WSMsgType.CLOSE
#: Bytes a pong adds to the write buffer besides its payload (a client frame's header
#: and mask).
_PONG_OVERHEAD: Final = 6


def _close_code(code: int) -> Any:
    """picows's ``send_close`` takes its enum; codes it does not name (4000-4999, the
    application's) are passed as the plain number, which the Cython enum accepts."""
    try:
        return WSCloseCode(code)
    except ValueError:
        return code


def _as_int(code: Any) -> int:
    """A close code from picows (its enum, an int subclass at run time, which its type
    stubs do not say) as an int."""
    return int(code)


class WireLogger(logging.LoggerAdapter[logging.Logger]):
    """picows's client logger for one connection: credentials scrubbed (its debug log
    shows the handshake), and its parser's failures told to the wire at once."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.getLogger("picows.client"), {})
        self.secrets = tuple(s for s in secrets if s)
        self.wire: PicowsWire | None = None

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if level >= logging.ERROR and str(msg).startswith("WS parser"):
            # "WS parser error" / "WS parser failure": the only synchronous sign of it.
            wire = self.wire
            if wire is not None:
                wire.parser_failed()
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            for secret in self.secrets:
                text = text.replace(secret, "***")
            super().log(level, "%s", text, **kwargs)


class PicowsWire(picows.WSListener, AsyncClosing):
    """One open WebSocket over picows (see :mod:`.wire` for the contract).

    Built by the connector before the upgrade completes and handed to picows as its
    listener; :meth:`attach` then starts keepalive once the upgrade is done.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_message_size: int,
        write_timeout: float | None,
        close_timeout: float | None,
        keepalive_interval: float | None,
        keepalive_timeout: float | None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._max_message_size = max_message_size
        self._write_timeout = write_timeout
        self._close_timeout = close_timeout
        self._keepalive_interval = keepalive_interval
        self._keepalive_timeout = keepalive_timeout
        self._ws: WSTransport | None = None
        self._tcp: asyncio.Transport | None = None
        self._on_frame: FrameSink | None = None
        self._on_close: CloseSink | None = None
        # Messages received before set_sink, or after the sink paused reading.
        self._held: deque[bytes] = deque()
        self._paused = False
        self._deliver_handle: asyncio.Handle | None = None
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self._close_received = False
        #: close() was called: held and later messages are dropped (nobody reads them).
        self._closing = False
        #: The close frame sent, if any, is ours (close(), keepalive, an echo), not picows's.
        #: The connection has failed (picows's parser or ours): frames are dropped.
        self._failed = False
        self._close_info: CloseInfo | None = None
        self._close_reported = False
        self._stalled: str | None = None
        self._closed_waiter: asyncio.Future[None] = loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        # Writes: picows writes at once; past the transport's high-water mark we wait.
        self._writes_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._unread_replies = 0
        # Pings: payload -> (waiter or None for keepalive, sent at), in sending order.
        self._pings: dict[bytes, tuple[asyncio.Future[float] | None, float]] = {}
        self._ping_count = 0
        self._latency: float | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_deadline: asyncio.TimerHandle | None = None

    # ---- picows's callbacks

    def parser_failed(self) -> None:
        """picows's parser failed the connection (it logs that, then sends the close
        frame and disconnects after a delay). Its parser state is then unreliable: it
        goes on reading (an oversized frame's payload, say) and may deliver the rest as
        frames. So reading stops now, and from the next loop turn nothing is delivered;
        the one good frame picows still hands over in this call (the one before the bad
        frame) gets through.
        """
        if not self._failed:
            tcp = self._tcp
            if tcp is not None and not tcp.is_closing():
                with contextlib.suppress(Exception):
                    tcp.pause_reading()
            self._loop.call_soon(self._fail)

    def _fail(self) -> None:
        self._failed = True
        self._held.clear()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._ws = transport
        self._tcp = transport.underlying_transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self._failed or self._close_received:
            # picows failed the connection, or the peer's close frame came: nothing
            # read after it counts (RFC 6455 5.5.1; websockets discards it too).
            return
        msg_type = frame.msg_type
        if (
            (msg_type is _TEXT or msg_type is _BINARY)
            and frame.fin
            and not self._fragments
            and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        ):
            # The hot path: one whole message, straight to the sink.
            sink = self._on_frame
            if sink is not None and not self._paused:
                sink(frame.get_payload_as_bytes())
            elif not self._closing:  # once we close, nobody will read them
                self._held.append(frame.get_payload_as_bytes())
            return
        self._other_frame(transport, frame, msg_type)

    def _other_frame(self, transport: WSTransport, frame: WSFrame, msg_type: Any) -> None:
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            # picows leaves the reserved bits to its user; no extension was negotiated.
            self._failed = True  # picows goes on with the rest of this read
            raise picows.WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "reserved bits set")
        if msg_type is _PING:
            payload = frame.get_payload_as_bytes()
            transport.send_pong(payload)
            if self._writes_paused:  # our writes are backed up: the pong waits unread
                self._unread_replies += len(payload) + _PONG_OVERHEAD
                if self._unread_replies > UNREAD_REPLIES_LIMIT:
                    self.drop_stalled(STALLED_REPLIES)
        elif msg_type is _PONG:
            self._pong(frame.get_payload_as_bytes())
        elif msg_type is _CLOSE:
            self._close_received = True
            if not transport.is_close_frame_sent:
                # Echo the peer's code, as websockets does; the peer then ends TCP.
                hs = transport.close_handshake
                code = hs.recv.code if hs is not None and hs.recv is not None else 1000
                with contextlib.suppress(Exception):
                    transport.send_close(_close_code(_as_int(code) or 1000))
            self._start_close_timer()
        else:  # a fragment (or the first frame of a fragmented message)
            self._fragment(frame, msg_type)

    def _fragment(self, frame: WSFrame, msg_type: Any) -> None:
        fragments = self._fragments
        if (msg_type is _CONTINUATION) != bool(fragments):
            self._failed = True
            raise picows.WSProtocolError(
                WSCloseCode.PROTOCOL_ERROR,
                "unexpected continuation frame" if fragments else "incomplete fragmented message",
            )
        self._fragments_size += frame.payload_size
        if self._fragments_size > self._max_message_size:
            # Raised from a callback, picows sends this close code and disconnects.
            self._failed = True
            raise picows.WSProtocolError(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"message over {self._max_message_size} bytes",
            )
        fragments.append(frame.get_payload_as_bytes())
        if frame.fin:
            message = b"".join(fragments)
            fragments.clear()
            self._fragments_size = 0
            sink = self._on_frame
            if sink is not None and not self._paused:
                sink(message)
            elif not self._closing:
                self._held.append(message)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for handle in (self._close_timer, self._keepalive_handle, self._keepalive_deadline):
            if handle is not None:
                handle.cancel()
        self._close_info = self._end_info(transport)
        lost = WireClosedError("the connection is closed", self._close_info)
        for waiter in self._drain_waiters:
            if not waiter.done():  # dropped with data unsent: the send failed
                waiter.set_exception(lost)
        self._drain_waiters.clear()
        for pinged, _ in self._pings.values():
            if pinged is not None and not pinged.done():
                pinged.set_exception(lost)
        self._pings.clear()
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        self._report_close()

    def pause_writing(self) -> None:
        self._writes_paused = True

    def resume_writing(self) -> None:
        self._writes_paused = False
        self._unread_replies = 0
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # ---- the end

    def _end_info(self, transport: WSTransport) -> CloseInfo:
        if self._stalled is not None:
            return CloseInfo(1006, self._stalled, by_us=True, stalled=self._stalled)
        hs = transport.close_handshake
        sent = hs.sent if hs is not None else None
        rcvd = hs.recv if hs is not None else None
        if sent is not None and (rcvd is None or not hs.recv_then_sent):
            return CloseInfo(_as_int(sent.code) or 1005, sent.reason or "", by_us=True)
        if rcvd is not None:
            return CloseInfo(_as_int(rcvd.code) or 1005, rcvd.reason or "", by_us=False)
        return CloseInfo(1006, "")

    def _known_end(self) -> CloseInfo | None:
        """How it ended, or is ending (close frames out before TCP ended)."""
        if self._close_info is not None:
            return self._close_info
        ws = self._ws
        if ws is None:
            return None
        tcp = self._tcp
        lost = tcp is not None and tcp.is_closing()
        if self._stalled is None and ws.close_handshake is None and not lost:
            return None
        return self._end_info(ws)

    def _report_close(self) -> None:
        # After the last message: held ones (reading paused) go first, on resume; and
        # not while the sink holds reading paused (as over websockets), unless we are
        # closing: a receiver told of the end with a frame still over its limits ends
        # the session where a drop or a goAway would have reconnected.
        if self._close_reported or self._held or self._close_info is None:
            return
        if self._paused and not self._closing:
            return
        on_close = self._on_close
        info = self._close_info
        if on_close is None or info is None:
            return
        self._close_reported = True
        on_close(info)

    def _start_close_timer(self) -> None:
        # The peer should end TCP once both close frames are out; past close_timeout,
        # we do. (picows has no such timer.)
        if self._close_timer is None and self._close_info is None:
            self.resume_reading_socket()
            timeout = self._close_timeout
            self._close_timer = self._loop.call_later(
                timeout if timeout is not None else 5.0, self.abort
            )

    # ---- the Wire

    @property
    def is_open(self) -> bool:
        """True while frames can be sent (no close frame sent or received)."""
        ws = self._ws
        tcp = self._tcp
        return (
            ws is not None
            and self._close_info is None
            and not self._close_received
            and not ws.is_close_frame_sent
            # TCP failed under us (a write met a reset) before picows heard of it.
            and not (tcp is not None and tcp.is_closing())
        )

    @property
    def is_closed(self) -> bool:
        """True once the connection has ended (TCP gone; :attr:`close_info` set)."""
        return self._close_info is not None

    @property
    def close_info(self) -> CloseInfo | None:
        """How the connection ended; ``None`` until it has."""
        return self._close_info

    @property
    def latency(self) -> float | None:
        """Round trip of the last ping answered, in seconds (``None`` before one)."""
        return self._latency

    def set_sink(self, on_frame: FrameSink, on_close: CloseSink) -> None:
        """Deliver every data message to ``on_frame`` (held ones first) and the end to
        ``on_close``."""
        self._on_frame = on_frame
        self._on_close = on_close
        if self._held:
            self._schedule_delivery()
        else:
            self._report_close()

    def pause_reading(self) -> None:
        """Stop reading the socket: frames of the current read are held, not delivered."""
        if not self._paused:
            self._paused = True
            tcp = self._tcp
            if tcp is not None and not tcp.is_closing():
                with contextlib.suppress(Exception):
                    tcp.pause_reading()

    def resume_reading(self) -> None:
        """Deliver the held frames (soon, not from inside this call), then read again."""
        if self._paused:
            self._paused = False
            if self._held:
                self._schedule_delivery()
            else:
                self.resume_reading_socket()
                # TCP may have ended while paused (or while the last held frame paused
                # the sink again): the end is reported here, or never.
                self._report_close()

    def resume_reading_socket(self) -> None:
        """Read the socket again, whatever the sink asked (closing needs the peer's
        close frame)."""
        tcp = self._tcp
        if tcp is not None and not tcp.is_closing():
            with contextlib.suppress(Exception):
                tcp.resume_reading()

    def _schedule_delivery(self) -> None:
        if self._deliver_handle is None:
            self._deliver_handle = self._loop.call_soon(self._deliver_held)

    def _deliver_held(self) -> None:
        # Held messages go out in order until the sink pauses again or none are left;
        # only then is the socket read again (or the end reported).
        self._deliver_handle = None
        held = self._held
        sink = self._on_frame
        if sink is None:
            return
        while held and not self._paused:
            sink(held.popleft())
        if not held and not self._paused:
            self.resume_reading_socket()
            self._report_close()

    async def send(self, data: bytes) -> None:
        """Send ``data`` as one text frame; wait (``write_timeout``) while the write
        buffer is above its high-water mark."""
        ws = self._ws
        if ws is None or not self.is_open:
            raise WireClosedError("cannot send: the connection is closed", self._known_end())
        ws.send(_TEXT, data)
        if self._writes_paused:
            await self._drain()

    async def _drain(self) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        try:
            async with asyncio.timeout(self._write_timeout):
                await waiter
        except TimeoutError:
            self.drop_stalled(STALLED_SEND)
            raise WireStalledError(STALLED_SEND, self._known_end()) from None

    def drop_stalled(self, why: str) -> None:
        """Drop TCP because our writes do not drain; :attr:`close_info` says ``why``."""
        if self._stalled is None:
            self._stalled = why
        self.abort()

    async def ping(self) -> float:
        """Ping now; the round trip in seconds (the write bounded by ``write_timeout``)."""
        ws = self._ws
        if ws is None or not self.is_open:
            raise WireClosedError("cannot ping: the connection is closed", self._known_end())
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._send_ping(ws, waiter)
        if self._writes_paused:
            await self._drain()
        return await waiter

    def _send_ping(self, ws: WSTransport, waiter: asyncio.Future[float] | None) -> None:
        self._ping_count += 1
        payload = self._ping_count.to_bytes(4, "big")
        self._pings[payload] = (waiter, self._loop.time())
        ws.send_ping(payload)

    def _pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return  # unsolicited: allowed, ignored (RFC 6455, 5.5.3)
        now = self._loop.time()
        # A pong answers its ping and every earlier one (as websockets acknowledges).
        for key in list(pings):
            pinged, sent_at = pings.pop(key)
            if pinged is not None and not pinged.done():
                pinged.set_result(now - sent_at)
            if key == payload:
                latency = self._latency = now - sent_at
                break
        else:  # pragma: no cover - the payload is in pings (checked above)
            return
        if self._keepalive_deadline is not None and not any(w is None for w, _ in pings.values()):
            self._keepalive_deadline.cancel()
            self._keepalive_deadline = None
            self._schedule_keepalive(max(0.0, (self._keepalive_interval or 0.0) - latency))

    def start_keepalive(self) -> None:
        """Start pinging every ``keepalive_interval`` (once the upgrade is done)."""
        if self._keepalive_interval is not None:
            self._schedule_keepalive(self._keepalive_interval)

    def _schedule_keepalive(self, delay: float) -> None:
        if self._close_info is None:
            self._keepalive_handle = self._loop.call_later(delay, self._keepalive_ping)

    def _keepalive_ping(self) -> None:
        self._keepalive_handle = None
        ws = self._ws
        if ws is None or not self.is_open:
            return
        self._send_ping(ws, None)
        if self._keepalive_timeout is not None:
            self._keepalive_deadline = self._loop.call_later(
                self._keepalive_timeout, self._keepalive_expired
            )

    def _keepalive_expired(self) -> None:
        self._keepalive_deadline = None
        ws = self._ws
        if ws is None or self._close_info is not None:
            return
        if not ws.is_close_frame_sent:
            # As websockets does: close with 1011 (the reason names the cause).
            ws.send_close(WSCloseCode.INTERNAL_ERROR, KEEPALIVE_CLOSE_REASON)
        if self._writes_paused:
            self.abort()  # a peer that does not read would never take the close frame
        else:
            self._start_close_timer()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake bounded by ``close_timeout``; TCP aborted past it or on
        cancellation. Idempotent."""
        ws = self._ws
        self._closing = True
        self._held.clear()
        if ws is None or self._close_info is not None:
            await self._retrieve_failure()
            self._report_close()
            return
        if not ws.is_close_frame_sent:
            with contextlib.suppress(Exception):
                ws.send_close(_close_code(code), reason.encode())
        self.resume_reading_socket()  # the peer's close frame must be read
        try:
            async with asyncio.timeout(self._close_timeout):
                await asyncio.shield(self._closed_waiter)
        except TimeoutError:
            self.abort()
        except BaseException:
            self.abort()
            raise
        await self._retrieve_failure()

    async def _retrieve_failure(self) -> None:
        # picows keeps the error that made it disconnect (a bad frame) in a future that
        # only wait_disconnected() reads; read it, or asyncio logs it as never retrieved.
        # The error itself already reached the sink as the close code.
        ws = self._ws
        if ws is not None and self._close_info is not None:
            with contextlib.suppress(Exception):
                await ws.wait_disconnected()

    def abort(self) -> None:
        """Drop TCP now, without a handshake (idempotent)."""
        ws = self._ws
        if ws is not None and self._close_info is None:
            ws.disconnect(graceful=False)

    async def aclose(self) -> None:
        """:meth:`close` with a normal closure (the name every async holder has)."""
        await self.close(1000)

    async def wait_closed(self) -> None:
        """Wait until TCP is gone."""
        await asyncio.shield(self._closed_waiter)

    def __repr__(self) -> str:
        state = "closed" if self._close_info is not None else "open" if self.is_open else "closing"
        return f"PicowsWire({state})"
