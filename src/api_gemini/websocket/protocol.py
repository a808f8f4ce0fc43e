"""The Live API protocol without I/O: bytes in, typed events out.

Nothing here opens a socket or touches an event loop, so every protocol rule is tested
with plain bytes (the split ``websockets`` itself uses between its ``protocol`` module
and its asyncio layer). The I/O layers (:mod:`.connection`, :mod:`.receiver`) feed
frames to a :class:`LiveProtocol` and send the bytes it returns.

What lives here:

* encoders for the client messages (``setup``, ``clientContent``, ``realtimeInput``,
  ``toolResponse``): compact JSON bytes, camelCase;
* receiving: each frame decoded once (:mod:`.decoding`) into the events of
  :mod:`.events`, and applied to the state;
* the session state machine (:class:`SessionState`, :class:`LiveProtocol`);
* close codes to exceptions (:func:`error_for_close`, over the one table,
  :data:`api_gemini._close_codes.CLOSE_CODES`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

import msgspec

from .._close_codes import CLOSE_CODES, CloseKind
from .._wire import encode
from ..errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageTooBigError,
    ProtocolViolationError,
    SessionClosedError,
    SessionStateError,
    SetupRejectedError,
    WebSocketError,
)
from ..types import (
    Blob,
    Content,
    FunctionResponse,
)
from .decoding import decode_server_message, events_from_message, parse_duration
from .events import LiveEvent, UnknownMessage
from .live_types import (
    ActivityEnd,
    ActivityStart,
    ClientContent,
    LiveSetup,
    RealtimeInput,
    ServerMessage,
    ToolResponse,
)

# Each name has one home: the events in .events, the decoder in .decoding, the close
# codes in api_gemini._close_codes; this module re-exports none of them.
__all__ = [
    "ACTIVITY_END",
    "ACTIVITY_START",
    "AUDIO_STREAM_END",
    "KEEPALIVE_CLOSE_REASON",
    "LiveProtocol",
    "SessionState",
    "encode_audio",
    "encode_client_content",
    "encode_realtime_input",
    "encode_setup",
    "encode_tool_response",
    "error_for_close",
]


# --------------------------------------------------------------------------- encoding


class _ClientMessage(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """The envelope of a client message: exactly one field is set."""

    setup: LiveSetup | None = None
    client_content: ClientContent | None = None
    realtime_input: RealtimeInput | None = None
    tool_response: ToolResponse | None = None


_encode = encode  # merges each ``extra`` into its object (see api_gemini._wire)
_encode_plain = msgspec.json.Encoder().encode  # for messages that cannot hold extras


def encode_setup(setup: LiveSetup) -> bytes:
    """``{"setup": {...}}`` as compact JSON bytes."""
    return _encode(_ClientMessage(setup=setup))


def encode_client_content(turns: Sequence[Content], turn_complete: bool = True) -> bytes:
    """``{"clientContent": {"turns": [...], "turnComplete": ...}}``.

    ``turnComplete`` is always written, because ``false`` (add context, do not answer)
    and ``true`` differ in meaning and the server's default is not documented.
    """
    content = ClientContent(turns=list(turns), turn_complete=turn_complete)
    return _encode(_ClientMessage(client_content=content))


def encode_realtime_input(realtime_input: RealtimeInput) -> bytes:
    """``{"realtimeInput": {...}}``; exactly one field of ``realtime_input`` must be set.

    Raises:
        ValueError: none or more than one field is set.
    """
    count = sum(
        value is not None
        for value in (
            realtime_input.audio,
            realtime_input.video,
            realtime_input.text,
            realtime_input.activity_start,
            realtime_input.activity_end,
            realtime_input.audio_stream_end,
        )
    )
    if count != 1:
        raise ValueError(f"realtimeInput takes exactly one field, got {count}")
    return _encode(_ClientMessage(realtime_input=realtime_input))


def encode_audio(pcm: bytes, rate: int = 16000) -> bytes:
    """``realtimeInput.audio`` with 16-bit little-endian PCM at ``rate`` Hz."""
    blob = Blob(mime_type=f"audio/pcm;rate={rate}", data=pcm)
    return _encode_plain(_ClientMessage(realtime_input=RealtimeInput(audio=blob)))


#: Pre-encoded ``realtimeInput`` signals: they never change, so encode them once.
ACTIVITY_START: Final = _encode(
    _ClientMessage(realtime_input=RealtimeInput(activity_start=ActivityStart()))
)
ACTIVITY_END: Final = _encode(
    _ClientMessage(realtime_input=RealtimeInput(activity_end=ActivityEnd()))
)
AUDIO_STREAM_END: Final = _encode(
    _ClientMessage(realtime_input=RealtimeInput(audio_stream_end=True))
)


def encode_tool_response(responses: Sequence[FunctionResponse]) -> bytes:
    """``{"toolResponse": {"functionResponses": [...]}}``."""
    return _encode(_ClientMessage(tool_response=ToolResponse(function_responses=list(responses))))


# --------------------------------------------------------------------------- state machine


class SessionState(enum.Enum):
    """Where a Live session is in its life."""

    CONNECTING = "connecting"
    AWAITING_SETUP_COMPLETE = "awaiting_setup_complete"
    READY = "ready"
    IN_TURN = "in_turn"
    CLOSING = "closing"
    CLOSED = "closed"


_CAN_SEND: Final = frozenset({SessionState.READY, SessionState.IN_TURN})
_ENDING: Final = frozenset({SessionState.CLOSING, SessionState.CLOSED})


class LiveProtocol:
    """The session state machine: checks each send and each received frame.

    Sends return the bytes to put on the wire (as a text frame); received frames come
    back as decoded messages or events. The newest resumption handle, the last
    ``goAway`` and the session id are kept here, so the I/O layers never lose them.
    """

    __slots__ = (
        "_ended",
        "_undo",
        "go_away_time_left",
        "resumption_handle",
        "session_id",
        "state",
    )

    def __init__(self) -> None:
        self.state = SessionState.CONNECTING
        self.session_id: str | None = None
        self.resumption_handle: str | None = None
        self.go_away_time_left: float | None = None
        # The state before the last frame encoded, if encoding it moved the state.
        self._undo: SessionState | None = None
        # How the connection ended: code, reason, sent by us, the state it ended in.
        self._ended: tuple[int | None, str, bool, SessionState] | None = None

    def __repr__(self) -> str:
        return f"LiveProtocol(state={self.state.name})"

    # ---- sending

    def _check_send(self, what: str) -> None:
        state = self.state
        if state not in _CAN_SEND:
            error = SessionClosedError if state in _ENDING else SessionStateError
            raise error(f"cannot send {what}: the session is {state.value}")

    def send_setup(self, setup: LiveSetup) -> bytes:
        """The ``setup`` message; allowed once, first.

        Raises:
            SessionStateError: setup was already sent.
        """
        if self.state is not SessionState.CONNECTING:
            raise SessionStateError(f"cannot send setup: the session is {self.state.value}")
        data = encode_setup(setup)
        self.state = SessionState.AWAITING_SETUP_COMPLETE
        return data

    def send_client_content(self, turns: Sequence[Content], turn_complete: bool = True) -> bytes:
        """A ``clientContent`` message; with ``turn_complete`` the model's turn begins.

        Raises:
            SessionStateError: the session is not set up, or is closing or closed.
        """
        self._check_send("clientContent")
        data = encode_client_content(turns, turn_complete)
        self._undo = self.state
        if turn_complete:
            self.state = SessionState.IN_TURN
        return data

    def send_failed(self) -> None:
        """The last frame this protocol encoded never went out (the connection had
        closed): forget the turn it asked for, so that a drop between turns is not
        taken for a drop in the middle of one."""
        before = self._undo
        self._undo = None
        if before is not None and self.state is not SessionState.CLOSED:
            self.state = before

    def send_realtime_input(self, realtime_input: RealtimeInput) -> bytes:
        """A ``realtimeInput`` message (the server decides when a turn starts).

        Raises:
            SessionStateError: the session is not set up, or is closing or closed.
            ValueError: not exactly one field is set.
        """
        self._check_send("realtimeInput")
        self._undo = None
        return encode_realtime_input(realtime_input)

    def send_raw_realtime(self, data: bytes) -> bytes:
        """Check the state for a pre-encoded ``realtimeInput`` message and return it."""
        self._check_send("realtimeInput")
        self._undo = None
        return data

    def send_tool_response(self, responses: Sequence[FunctionResponse]) -> bytes:
        """A ``toolResponse`` message.

        Raises:
            SessionStateError: the session is not set up, or is closing or closed.
        """
        self._check_send("toolResponse")
        self._undo = None
        return encode_tool_response(responses)

    # ---- receiving

    def receive_message(self, data: bytes | str) -> ServerMessage | UnknownMessage:
        """Decode a frame and apply it to the state.

        Raises:
            MessageParseError: the frame is malformed.
            ProtocolViolationError: content before ``setupComplete``, or a second one.
            SessionStateError: the session is already closed.
        """
        state = self.state
        if state is SessionState.CLOSED:
            raise SessionClosedError("frame received after the session closed")
        message = decode_server_message(data)
        if type(message) is not ServerMessage:
            return message
        content = message.server_content
        # The per-chunk hot path (docs/performance.md): answer content within a turn,
        # with nothing beside it that changes the state; the full checks below would
        # reach the same result in about twice the time.
        if (
            content is not None
            and state is SessionState.IN_TURN
            and not content.turn_complete
            and message.setup_complete is None
            and message.session_resumption_update is None
            and message.go_away is None
        ):
            return message
        if message.setup_complete is not None:
            if state is not SessionState.AWAITING_SETUP_COMPLETE and (
                state is not SessionState.CONNECTING
            ):
                raise ProtocolViolationError("setupComplete received twice")
            self.state = state = SessionState.READY
            self.session_id = message.setup_complete.session_id
        elif (
            state is SessionState.AWAITING_SETUP_COMPLETE or state is SessionState.CONNECTING
        ) and (
            content is not None
            or message.tool_call is not None
            or message.tool_call_cancellation is not None
        ):
            raise ProtocolViolationError("the server sent content before setupComplete")
        if content is not None:
            if content.turn_complete:
                if state is SessionState.IN_TURN:
                    self.state = SessionState.READY
            elif state is SessionState.READY and content.model_turn is not None:
                self.state = SessionState.IN_TURN  # server-started turn (voice activity)
        elif message.tool_call is not None and state is SessionState.READY:
            self.state = SessionState.IN_TURN
        update = message.session_resumption_update
        if update is not None and update.new_handle and update.resumable is not False:
            self.resumption_handle = update.new_handle
        if message.go_away is not None:
            self.go_away_time_left = parse_duration(message.go_away.time_left)
        return message

    def receive(self, data: bytes | str) -> list[LiveEvent]:
        """Decode a frame, apply it to the state and return its events, in one pass
        (the ``goAway`` duration is parsed once).

        Raises:
            MessageParseError, ProtocolViolationError, SessionStateError: as
                :meth:`receive_message`.
        """
        message = self.receive_message(data)
        # receive_message parsed this frame's goAway duration (if any): not again.
        return events_from_message(message, go_away_time_left=self.go_away_time_left)

    # ---- closing

    def start_closing(self) -> None:
        """The client decided to close: nothing more may be sent."""
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.CLOSING

    def connection_closed(
        self,
        code: int | None,
        reason: str = "",
        *,
        sent_by_us: bool = False,
        chunks_received: int = 0,
    ) -> WebSocketError | None:
        """Record the end of the connection; return the error it means, if any.

        A close during setup is a :class:`~api_gemini.errors.SetupRejectedError`; a
        normal close in the middle of a turn the caller waits for is a
        :class:`~api_gemini.errors.DisconnectedError`; see :func:`error_for_close`.
        """
        state = self.state
        self.state = SessionState.CLOSED
        if state is SessionState.CLOSED:
            return None
        self._ended = (code, reason, sent_by_us, state)
        return self.end_error(chunks_received)

    def end_error(self, chunks_received: int = 0) -> WebSocketError | None:
        """The error the recorded end of the connection means (a new instance each
        call; ``None`` for a clean end, or while the connection is open): for a second
        party that sees the same end, such as the receiver after a sender saw it."""
        ended = self._ended
        if ended is None:
            return None
        code, reason, sent_by_us, state = ended
        return error_for_close(
            code,
            reason,
            during_setup=state in (SessionState.CONNECTING, SessionState.AWAITING_SETUP_COMPLETE),
            expecting_more=state is SessionState.IN_TURN,
            sent_by_us=sent_by_us,
            chunks_received=chunks_received,
            resumption_handle=self.resumption_handle,
        )


# --------------------------------------------------------------------------- close codes


#: The reason ``websockets`` gives when it closes for a missing pong.
KEEPALIVE_CLOSE_REASON: Final = "keepalive ping timeout"


def error_for_close(
    code: int | None,
    reason: str = "",
    *,
    during_setup: bool = False,
    expecting_more: bool = False,
    sent_by_us: bool = False,
    chunks_received: int = 0,
    resumption_handle: str | None = None,
) -> WebSocketError | None:
    """Map a close to the exception the caller sees (``None``: a clean end).

    Args:
        code: the close code (``None`` or 1006 when no close frame arrived).
        reason: the close reason (for humans; already free of secrets).
        during_setup: the close came before ``setupComplete``.
        expecting_more: the caller was waiting for the rest of a turn, so even a
            normal close loses data.
        sent_by_us: this side closed (a keepalive timeout, an oversized frame).
        chunks_received: chunks handed to the caller so far.
        resumption_handle: the newest resumption handle, if any.
    """
    code = 1006 if code is None else code
    kind, meaning = CLOSE_CODES.get(code, (CloseKind.FATAL, "unexpected close code"))
    shown = f"{code} ({meaning})" + (f": {reason[:200]}" if reason else "")
    if kind is CloseKind.TOO_BIG:
        side = "a server frame" if sent_by_us else "a client message"
        return MessageTooBigError(f"{side} exceeded the size limit; connection closed {shown}")
    if sent_by_us and code == 1011 and reason == KEEPALIVE_CLOSE_REASON:
        return KeepaliveTimeoutError(
            "no pong within the keepalive timeout: the connection is presumed dead",
            close_code=code,
            reason=reason,
            chunks_received=chunks_received,
            resumption_handle=resumption_handle,
        )
    if during_setup:
        # Never retryable, whatever the code (see SetupRejectedError).
        return SetupRejectedError(
            f"the server closed the connection during setup: {shown}",
            close_code=code,
            reason=reason,
        )
    if kind is CloseKind.NORMAL and not expecting_more:
        return None
    if kind is CloseKind.PROTOCOL:
        return ProtocolViolationError(f"connection closed for a protocol error: {shown}")
    where = "in the middle of a turn" if expecting_more else "during the session"
    return DisconnectedError(
        f"the connection closed {where}: {shown}",
        close_code=code,
        reason=reason,
        chunks_received=chunks_received,
        resumption_handle=resumption_handle,
    )
