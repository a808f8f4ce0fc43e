"""The Live API protocol without I/O: bytes in, typed events out.

Nothing here opens a socket or touches an event loop, so every protocol rule is tested
with plain bytes (the split ``websockets`` itself uses between its ``protocol`` module
and its asyncio layer). The I/O layers (:mod:`.connection`, :mod:`.streaming`) feed
frames to a :class:`LiveProtocol` and send the bytes it returns.

What lives here:

* encoders for the client messages (``setup``, ``clientContent``, ``realtimeInput``,
  ``toolResponse``): compact JSON bytes, camelCase;
* the decoder of server frames (text or binary) into :class:`LiveEvent` subclasses:
  one msgspec decode per frame, unknown top-level keys become :class:`UnknownMessage`,
  anything malformed raises :class:`~api_gemini.errors.MessageParseError`;
* the session state machine (:class:`SessionState`, :class:`LiveProtocol`);
* the one table from close codes to exceptions (:data:`CLOSE_CODES`,
  :func:`error_for_close`).
"""

from __future__ import annotations

import enum
import logging
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from .._wire import Frame, convert_dropping_bad_metadata, encode
from ..errors import (
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    MessageTooBigError,
    ProtocolViolationError,
    SessionStateError,
    SetupRejectedError,
    WebSocketError,
)
from ..live_types import (
    ActivityEnd,
    ActivityStart,
    ClientContent,
    LiveSetup,
    LiveUsageMetadata,
    RealtimeInput,
    ServerContent,
    ServerMessage,
    ToolResponse,
)
from ..types import (
    Blob,
    Content,
    FunctionCall,
    FunctionResponse,
    GroundingMetadata,
    UrlContextMetadata,
    UsageMetadata,
)

__all__ = [
    "ACTIVITY_END",
    "ACTIVITY_START",
    "AUDIO_STREAM_END",
    "CLOSE_CODES",
    "KEEPALIVE_CLOSE_REASON",
    "KNOWN_KEYS",
    "CloseKind",
    "GenerationComplete",
    "GoAway",
    "Grounding",
    "InputTranscription",
    "InteractionStatus",
    "InterimInputTranscription",
    "Interrupted",
    "LiveEvent",
    "LiveProtocol",
    "ModelTurn",
    "OutputTranscription",
    "SessionResumptionUpdate",
    "SessionState",
    "SetupComplete",
    "ToolCall",
    "ToolCallCancellation",
    "TurnComplete",
    "UnknownMessage",
    "UsageUpdate",
    "VoiceActivity",
    "WaitingForInput",
    "decode_events",
    "decode_server_message",
    "encode_audio",
    "encode_client_content",
    "encode_realtime_input",
    "encode_setup",
    "encode_tool_response",
    "error_for_close",
    "events_from_message",
    "frame_of",
    "parse_duration",
    "usage_to_http",
]


logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- events


class LiveEvent(msgspec.Struct, frozen=True, kw_only=True, repr_omit_defaults=True):
    """Base class of everything a Live session yields.

    ``.raw`` is the decoded frame the event came from, every field included (typed
    here or not): a field this library does not type yet is still reachable. Events
    of one frame share it; it is decoded only when read.
    """

    _frame: Frame | None = None

    @property
    def raw(self) -> dict[str, Any]:
        """The frame this event came from, as a dict (``{}`` for events the client
        makes itself, such as ``Reconnected``)."""
        frame = self._frame
        return frame.as_dict() if frame is not None else {}


class SetupComplete(LiveEvent, frozen=True):
    """The server accepted ``setup``; the session is ready."""

    session_id: str | None = None


class ModelTurn(LiveEvent, frozen=True):
    """A piece of the model's answer: text parts, inline audio parts (16-bit PCM at
    24 kHz), code it ran and the result."""

    content: Content

    @property
    def text(self) -> str:
        """The text parts (thoughts excluded), joined; ``""`` if none."""
        return "".join(p.text for p in self.content.parts if p.text and not p.thought)

    @property
    def audio(self) -> bytes:
        """The inline ``audio/*`` data of the parts, joined; ``b""`` if none."""
        return b"".join(
            p.inline_data.data
            for p in self.content.parts
            if p.inline_data is not None and p.inline_data.mime_type.startswith("audio/")
        )


class GenerationComplete(LiveEvent, frozen=True):
    """The model finished generating (playback of audio may still be pending)."""


class TurnComplete(LiveEvent, frozen=True):
    """The model's turn is over; ``reason`` is ``turnCompleteReason`` when sent,
    ``waiting_for_input`` that the model waits for the caller (``waitingForInput``)."""

    reason: str | None = None
    waiting_for_input: bool | None = None


class Interrupted(LiveEvent, frozen=True):
    """Client input interrupted the model's answer: drop queued playback."""


class InputTranscription(LiveEvent, frozen=True):
    """A piece of the transcription of the caller's audio; ``finished`` ends it."""

    text: str
    finished: bool | None = None


class InterimInputTranscription(LiveEvent, frozen=True):
    """A low-latency guess at the caller's words while they speak (may be revised by
    the :class:`InputTranscription` that follows)."""

    text: str
    finished: bool | None = None


class OutputTranscription(LiveEvent, frozen=True):
    """A piece of the transcription of the model's audio: the text of an AUDIO answer."""

    text: str
    finished: bool | None = None


class WaitingForInput(LiveEvent, frozen=True):
    """The model waits for the caller (``waitingForInput`` without ``turnComplete``)."""


class InteractionStatus(LiveEvent, frozen=True):
    """``interactionStatus``: ``"IDLE"`` or ``"IN_PROGRESS"`` (the model is busy, with
    a non-blocking tool call for instance)."""

    status: str


class Grounding(LiveEvent, frozen=True):
    """How the answer is grounded: search metadata and URLs the URL-context tool read."""

    grounding_metadata: GroundingMetadata | None = None
    url_context_metadata: UrlContextMetadata | None = None


class ToolCall(LiveEvent, frozen=True):
    """The model asks the caller to run functions; answer with a tool response."""

    function_calls: list[FunctionCall]


class ToolCallCancellation(LiveEvent, frozen=True):
    """Tool calls (by id) the caller should abandon."""

    ids: list[str]


class UsageUpdate(LiveEvent, frozen=True):
    """Token accounting sent by the server (``usageMetadata``)."""

    usage: LiveUsageMetadata

    def to_usage_metadata(self) -> UsageMetadata:
        """The HTTP API's shape: ``responseTokenCount`` becomes ``candidates_token_count``."""
        return usage_to_http(self.usage)


class GoAway(LiveEvent, frozen=True):
    """The server will close the connection in ``time_left`` seconds (``None``: unsaid)."""

    time_left: float | None


class SessionResumptionUpdate(LiveEvent, frozen=True):
    """A new resumption handle (``None`` while the session is not resumable);
    ``last_consumed_client_message_index``: the last client message the handle covers."""

    new_handle: str | None
    resumable: bool | None
    last_consumed_client_message_index: int | None = None


class VoiceActivity(LiveEvent, frozen=True):
    """The server's voice activity detection: ``activity_type`` says the caller started
    or stopped speaking (``voiceActivity``, or ``voiceActivityDetectionSignal``)."""

    activity_type: str | None = None
    audio_offset: str | None = None


class UnknownMessage(LiveEvent, frozen=True):
    """A frame (or a part of one) this client does not type: never an error.

    ``key`` names the first untyped field (``"newMessage"``, or
    ``"serverContent.newSignal"`` when a known message carried only new fields);
    ``.raw`` has the whole frame.
    """

    key: str


def usage_to_http(usage: LiveUsageMetadata) -> UsageMetadata:
    """Map Live usage metadata onto :class:`~api_gemini.types.UsageMetadata`."""
    return UsageMetadata(
        prompt_token_count=usage.prompt_token_count,
        candidates_token_count=usage.response_token_count,
        total_token_count=usage.total_token_count,
        cached_content_token_count=usage.cached_content_token_count,
        thoughts_token_count=usage.thoughts_token_count,
        tool_use_prompt_token_count=usage.tool_use_prompt_token_count,
        prompt_tokens_details=usage.prompt_tokens_details,
        cache_tokens_details=usage.cache_tokens_details,
        candidates_tokens_details=usage.response_tokens_details,
        tool_use_prompt_tokens_details=usage.tool_use_prompt_tokens_details,
        traffic_type=usage.traffic_type,
    )


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


# --------------------------------------------------------------------------- decoding

# strict=False: protobuf JSON writes int64 fields as strings ("7"); numbers are taken
# too. msgspec applies it per value, at no measurable cost on the per-chunk path.
_decoder: Final = msgspec.json.Decoder(ServerMessage, strict=False)
_any_decoder: Final = msgspec.json.Decoder()

#: The top-level keys :class:`~api_gemini.live_types.ServerMessage` knows.
KNOWN_KEYS: Final = frozenset(info.encode_name for info in msgspec.structs.fields(ServerMessage))

# msgspec raises DecodeError/ValidationError for bad JSON or types, UnicodeDecodeError
# for bad UTF-8 inside decoded strings, RecursionError for absurd nesting.
_PARSE_FAILURES: Final = (msgspec.MsgspecError, ValueError, RecursionError)


def _parse_error(exc: BaseException, data: bytes | str) -> MessageParseError:
    # The error text names the path and expected type, never the frame's content.
    return MessageParseError(f"malformed server message ({len(data)} bytes): {exc}")


def decode_server_message(data: bytes | str) -> ServerMessage | UnknownMessage:
    """Decode one frame; text frames (``str``) and binary frames (``bytes``) alike.

    Returns the decoded :class:`~api_gemini.live_types.ServerMessage` when it has a
    known key, else an :class:`UnknownMessage` naming the first unknown key. Unknown
    keys beside known ones are kept too (:func:`events_from_message` reports them).
    The frame stays attached (see :func:`frame_of`), so every event of it has ``.raw``.

    A value a metadata field cannot hold (``1e999`` as a token count) is left out of
    the typed message, with a warning, instead of losing the answer beside it; it is
    still in ``.raw``.

    Raises:
        MessageParseError: invalid UTF-8, invalid JSON, not an object, or a known key
            whose value has the wrong type. Never any other exception.
    """
    try:
        # msgspec checks UTF-8 only inside strings it decodes, not in skipped values;
        # isascii() is a word-at-a-time scan, so the full check costs only for non-ASCII.
        if isinstance(data, bytes) and not data.isascii():
            data.decode("utf-8")
        message = _decoder.decode(data)
    except _PARSE_FAILURES as exc:
        if not isinstance(exc, msgspec.ValidationError):
            raise _parse_error(exc, data) from None
        return _decode_slow(data, exc)
    message.__dict__["_frame"] = Frame(data)
    return message


def frame_of(message: ServerMessage) -> Frame | None:
    """The frame ``message`` was decoded from (``None`` if it was built in Python)."""
    frame: Frame | None = message.__dict__.get("_frame")
    return frame


def _decode_slow(
    data: bytes | str, first: msgspec.ValidationError
) -> ServerMessage | UnknownMessage:
    """The cold path of a frame the typed decode refused.

    Unknown top-level keys: the known ones are decoded, the unknown ones listed for
    :func:`events_from_message`. Bad values all inside metadata (``usageMetadata``,
    ``groundingMetadata``...): left out of the typed message, the rest kept. Anything
    else is a :class:`MessageParseError`.
    """
    if not (data.lstrip()[:1] in (b"{", "{")):
        raise _parse_error(first, data)  # not an object: the typed error says so
    frame = Frame(data)
    try:
        whole = frame.as_dict()
    except (ValueError, RecursionError):
        raise _parse_error(first, data) from None
    unknown = [key for key in whole if key not in KNOWN_KEYS]
    known = {key: value for key, value in whole.items() if key in KNOWN_KEYS}
    if unknown and all(value is None for value in known.values()):
        return UnknownMessage(key=unknown[0], _frame=frame)
    try:
        message = msgspec.convert(known, ServerMessage, strict=False)
    except msgspec.ValidationError as exc:
        try:
            message = convert_dropping_bad_metadata(known, ServerMessage, exc)
        except msgspec.ValidationError as final:
            raise _parse_error(final, data) from None
    message.__dict__["_frame"] = frame
    if unknown:
        message.__dict__["_unknown"] = unknown
    return message


def parse_duration(value: str | float | None) -> float | None:
    """Seconds from a proto Duration (``"50s"``, ``"1.5s"``) or a plain number.

    Raises:
        MessageParseError: anything else.
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if not text.endswith("s"):
            raise MessageParseError(f"goAway.timeLeft is not a duration: {value[:40]!r}")
        try:
            seconds = float(text[:-1])
        except ValueError:
            raise MessageParseError(f"goAway.timeLeft is not a duration: {value[:40]!r}") from None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise MessageParseError(f"goAway.timeLeft out of range: {value!r}")
    return seconds


def events_from_message(message: ServerMessage | UnknownMessage) -> list[LiveEvent]:
    """The events of one decoded message, in a fixed order; every event shares the
    message's frame (``event.raw``).

    Content events come first (input transcription, the model's turn, its output
    transcription: a frame carrying audio and its transcription gives both), then
    usage (so a consumer sees the usage of a turn before its :class:`TurnComplete`),
    then the turn end, then everything else, and last an :class:`UnknownMessage` for
    each untyped key. A frame whose known keys carry nothing typed gives an
    :class:`UnknownMessage` too: no frame goes unseen.
    """
    if isinstance(message, UnknownMessage):
        return [message]
    frame: Frame | None = message.__dict__.get("_frame")
    events: list[LiveEvent] = []
    content = message.server_content
    if content is not None and content.model_turn is not None and _plain_chunk(message, content):
        return [ModelTurn(content=content.model_turn, _frame=frame)]  # the per-chunk path
    if message.setup_complete is not None:
        events.append(SetupComplete(session_id=message.setup_complete.session_id, _frame=frame))
    if content is not None:
        if content.input_transcription is not None:
            tr = content.input_transcription
            events.append(
                InputTranscription(text=tr.text or "", finished=tr.finished, _frame=frame)
            )
        if content.interim_input_transcription is not None:
            tr = content.interim_input_transcription
            events.append(
                InterimInputTranscription(text=tr.text or "", finished=tr.finished, _frame=frame)
            )
        if content.model_turn is not None:
            events.append(ModelTurn(content=content.model_turn, _frame=frame))
        if content.output_transcription is not None:
            tr = content.output_transcription
            events.append(
                OutputTranscription(text=tr.text or "", finished=tr.finished, _frame=frame)
            )
        if content.grounding_metadata is not None or content.url_context_metadata is not None:
            events.append(
                Grounding(
                    grounding_metadata=content.grounding_metadata,
                    url_context_metadata=content.url_context_metadata,
                    _frame=frame,
                )
            )
        if content.interrupted:
            events.append(Interrupted(_frame=frame))
        if content.generation_complete:
            events.append(GenerationComplete(_frame=frame))
        if content.interaction_status is not None:
            events.append(InteractionStatus(status=content.interaction_status, _frame=frame))
        if content.waiting_for_input and not content.turn_complete:
            events.append(WaitingForInput(_frame=frame))
    if message.usage_metadata is not None:
        events.append(UsageUpdate(usage=message.usage_metadata, _frame=frame))
    if content is not None and content.turn_complete:
        events.append(
            TurnComplete(
                reason=content.turn_complete_reason,
                waiting_for_input=content.waiting_for_input,
                _frame=frame,
            )
        )
    if message.tool_call is not None:
        events.append(ToolCall(function_calls=message.tool_call.function_calls, _frame=frame))
    if message.tool_call_cancellation is not None:
        events.append(ToolCallCancellation(ids=message.tool_call_cancellation.ids, _frame=frame))
    if message.go_away is not None:
        events.append(GoAway(time_left=parse_duration(message.go_away.time_left), _frame=frame))
    if message.session_resumption_update is not None:
        update = message.session_resumption_update
        events.append(
            SessionResumptionUpdate(
                new_handle=update.new_handle,
                resumable=update.resumable,
                last_consumed_client_message_index=update.last_consumed_client_message_index,
                _frame=frame,
            )
        )
    if message.voice_activity is not None:
        activity = message.voice_activity
        events.append(
            VoiceActivity(
                activity_type=activity.voice_activity_type,
                audio_offset=activity.audio_offset,
                _frame=frame,
            )
        )
    if message.voice_activity_detection_signal is not None:
        signal = message.voice_activity_detection_signal.vad_signal_type
        events.append(VoiceActivity(activity_type=signal, _frame=frame))
    for key in message.__dict__.get("_unknown", ()):
        events.append(UnknownMessage(key=key, _frame=frame))
    if not events and frame is not None:
        untyped = _untyped_event(frame)
        if untyped is not None:
            events.append(untyped)
    return events


def _plain_chunk(message: ServerMessage, content: ServerContent) -> bool:
    """True when ``message`` is a model turn and nothing else (the usual chunk)."""
    return (
        content.output_transcription is None
        and content.input_transcription is None
        and content.interim_input_transcription is None
        and not content.turn_complete
        and not content.generation_complete
        and not content.interrupted
        and content.grounding_metadata is None
        and content.url_context_metadata is None
        and content.interaction_status is None
        and not content.waiting_for_input
        and message.usage_metadata is None
        and message.setup_complete is None
        and message.tool_call is None
        and message.tool_call_cancellation is None
        and message.go_away is None
        and message.session_resumption_update is None
        and message.voice_activity is None
        and message.voice_activity_detection_signal is None
        and len(message.__dict__) == 1  # only the frame: no untyped top-level key
    )


#: The type of each top-level key of a server message, to name untyped fields in it.
_MESSAGE_TYPES: Final = {
    info.encode_name: info.type for info in msgspec.structs.fields(ServerMessage)
}


def _untyped_event(frame: Frame) -> UnknownMessage | None:
    """The event of a frame whose known keys carried nothing typed (``{"serverContent":
    {"newSignal": 1}}``): it names the first untyped field; ``None`` for an empty one."""
    for key, value in frame.as_dict().items():
        if not isinstance(value, dict):
            continue
        tp = _MESSAGE_TYPES.get(key)
        struct = next(
            (
                a
                for a in typing.get_args(tp)
                if isinstance(a, type) and issubclass(a, msgspec.Struct)
            ),
            None,
        )
        known = {f.encode_name for f in msgspec.structs.fields(struct)} if struct else set()
        for inner, item in value.items():
            if inner not in known and item is not None:
                return UnknownMessage(key=f"{key}.{inner}", _frame=frame)
    return None


def decode_events(data: bytes | str) -> list[LiveEvent]:
    """Decode one frame into events (no state checks; see :class:`LiveProtocol`).

    Raises:
        MessageParseError: the frame is malformed.
    """
    return events_from_message(decode_server_message(data))


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


class LiveProtocol:
    """The session state machine: checks each send and each received frame.

    Sends return the bytes to put on the wire (as a text frame); received frames come
    back as decoded messages or events. The newest resumption handle, the last
    ``goAway`` and the session id are kept here, so the I/O layers never lose them.
    """

    __slots__ = ("go_away_time_left", "resumption_handle", "session_id", "state")

    def __init__(self) -> None:
        self.state = SessionState.CONNECTING
        self.session_id: str | None = None
        self.resumption_handle: str | None = None
        self.go_away_time_left: float | None = None

    def __repr__(self) -> str:
        return f"LiveProtocol(state={self.state.name})"

    # ---- sending

    def _check_send(self, what: str) -> None:
        if self.state not in _CAN_SEND:
            raise SessionStateError(f"cannot send {what}: the session is {self.state.value}")

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
        if turn_complete:
            self.state = SessionState.IN_TURN
        return data

    def send_realtime_input(self, realtime_input: RealtimeInput) -> bytes:
        """A ``realtimeInput`` message (the server decides when a turn starts).

        Raises:
            SessionStateError: the session is not set up, or is closing or closed.
            ValueError: not exactly one field is set.
        """
        self._check_send("realtimeInput")
        return encode_realtime_input(realtime_input)

    def send_raw_realtime(self, data: bytes) -> bytes:
        """Check the state for a pre-encoded ``realtimeInput`` message and return it."""
        self._check_send("realtimeInput")
        return data

    def send_tool_response(self, responses: Sequence[FunctionResponse]) -> bytes:
        """A ``toolResponse`` message.

        Raises:
            SessionStateError: the session is not set up, or is closing or closed.
        """
        self._check_send("toolResponse")
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
            raise SessionStateError("frame received after the session closed")
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
        """Decode a frame, apply it to the state and return its events.

        Raises:
            MessageParseError, ProtocolViolationError, SessionStateError: as
                :meth:`receive_message`.
        """
        return events_from_message(self.receive_message(data))

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


class CloseKind(enum.Enum):
    """What a close code means to the caller."""

    NORMAL = "normal"
    FATAL = "fatal"  # the same call will fail again: bad argument, auth, policy
    RETRYABLE = "retryable"  # a new connection (resuming, if enabled) may work
    TOO_BIG = "too_big"
    PROTOCOL = "protocol"


#: The one table from close code to meaning; codes not listed are a non-retryable
#: :class:`~api_gemini.errors.DisconnectedError`.
CLOSE_CODES: Final[Mapping[int, tuple[CloseKind, str]]] = {
    1000: (CloseKind.NORMAL, "normal closure"),
    1001: (CloseKind.RETRYABLE, "going away"),
    1002: (CloseKind.PROTOCOL, "protocol error"),
    1003: (CloseKind.PROTOCOL, "unsupported data"),
    1005: (CloseKind.NORMAL, "no status code"),
    1006: (CloseKind.RETRYABLE, "connection dropped without a close frame"),
    1007: (CloseKind.FATAL, "invalid argument"),
    1008: (CloseKind.FATAL, "policy violation (API key, unknown or non-Live model)"),
    1009: (CloseKind.TOO_BIG, "message too big"),
    1011: (CloseKind.RETRYABLE, "server error"),
    1012: (CloseKind.RETRYABLE, "service restart"),
    1013: (CloseKind.RETRYABLE, "try again later"),
}

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
        error = SetupRejectedError(
            f"the server closed the connection during setup: {shown}",
            close_code=code,
            reason=reason,
        )
        # A per-instance hint: 1011 during setup is worth retrying, 1008 is not.
        error.retryable = kind is CloseKind.RETRYABLE
        return error
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
