"""Decoding server frames: bytes in, a typed message and its events out.

One msgspec decode per frame on the per-chunk path; the frame is kept (``.raw``).
Frames with unknown top-level keys, or numbers a metadata field cannot hold, take a
cold path that keeps everything it can (see :func:`decode_server_message`).
:class:`~.protocol.LiveProtocol` decodes through it and applies the frame to its state.
"""

from __future__ import annotations

import enum
import typing
from typing import Final, Literal

import msgspec

from .._wire import Frame, convert_dropping_bad_metadata
from ..errors import MessageParseError
from ..types import Transcription
from .events import (
    GenerationComplete,
    GoAway,
    Grounding,
    InputTranscription,
    InteractionStatus,
    InterimInputTranscription,
    Interrupted,
    LiveEvent,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    SetupComplete,
    ToolCall,
    ToolCallCancellation,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
    VoiceActivity,
    WaitingForInput,
)
from .live_types import ServerContent, ServerMessage

__all__ = [
    "KNOWN_KEYS",
    "decode_events",
    "decode_server_message",
    "events_from_message",
    "frame_of",
    "parse_duration",
]


# strict=False: protobuf JSON writes int64 fields as strings ("7"); numbers are taken
# too. msgspec applies it per value, at no measurable cost on the per-chunk path.
_decoder: Final = msgspec.json.Decoder(ServerMessage, strict=False)
_any_decoder: Final = msgspec.json.Decoder()

#: The top-level keys :class:`~api_gemini.websocket.live_types.ServerMessage` knows.
KNOWN_KEYS: Final = frozenset(
    info.encode_name
    for info in msgspec.structs.fields(ServerMessage)
    if not info.encode_name.startswith("__api_gemini")
)

# msgspec raises DecodeError/ValidationError for bad JSON or types, UnicodeDecodeError
# for bad UTF-8 inside decoded strings, RecursionError for absurd nesting.
_PARSE_FAILURES: Final = (msgspec.MsgspecError, ValueError, RecursionError)


def _parse_error(exc: BaseException, data: bytes | str) -> MessageParseError:
    # The error text names the path and expected type, never the frame's content.
    return MessageParseError(f"malformed server message ({len(data)} bytes): {exc}")


def decode_server_message(data: bytes | str) -> ServerMessage | UnknownMessage:
    """Decode one frame; text frames (``str``) and binary frames (``bytes``) alike.

    Returns the decoded :class:`~api_gemini.websocket.live_types.ServerMessage` when it has a
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
    message.frame = Frame(data)
    return message


def frame_of(message: ServerMessage) -> Frame | None:
    """The frame ``message`` was decoded from (``None`` if it was built in Python)."""
    frame: Frame | None = message.frame
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
    if data.lstrip()[:1] not in (b"{", "{"):
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
    message.frame = frame
    if unknown:
        message.unknown_keys = unknown
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


class _Unparsed(enum.Enum):
    """The type of :data:`UNPARSED` (a sentinel mypy can narrow)."""

    UNPARSED = "unparsed"


#: ``go_away_time_left`` not given: :func:`events_from_message` parses it itself.
UNPARSED: Final = _Unparsed.UNPARSED


def events_from_message(
    message: ServerMessage | UnknownMessage,
    *,
    go_away_time_left: float | Literal[_Unparsed.UNPARSED] | None = UNPARSED,
) -> list[LiveEvent]:
    """The events of one decoded message, in a fixed order; every event shares the
    message's frame (``event.raw``).

    ``go_away_time_left`` is the message's ``goAway.timeLeft`` already parsed (by
    :meth:`LiveProtocol.receive_message <.protocol.LiveProtocol.receive_message>`,
    which keeps it as ``go_away_time_left``), so that one frame's duration is parsed
    once; left out, it is parsed here.

    Content events come first (input transcription, the model's turn, its output
    transcription: a frame carrying audio and its transcription gives both), then
    usage (so a consumer sees the usage of a turn before its :class:`TurnComplete`),
    then the turn end, then everything else, and last an :class:`UnknownMessage` for
    each untyped key. A frame whose known keys carry nothing typed gives an
    :class:`UnknownMessage` too: no frame goes unseen.
    """
    if isinstance(message, UnknownMessage):
        return [message]
    frame: Frame | None = message.frame
    events: list[LiveEvent] = []
    content = message.server_content
    if content is not None and content.model_turn is not None and _plain_chunk(message, content):
        return [ModelTurn(content=content.model_turn, _frame=frame)]  # the per-chunk path
    if message.setup_complete is not None:
        events.append(SetupComplete(session_id=message.setup_complete.session_id, _frame=frame))
    if content is not None:
        if (tr := content.input_transcription) is not None:
            events.append(_transcription(InputTranscription, tr, frame))
        if (tr := content.interim_input_transcription) is not None:
            events.append(_transcription(InterimInputTranscription, tr, frame))
        if content.model_turn is not None:
            events.append(ModelTurn(content=content.model_turn, _frame=frame))
        if (tr := content.output_transcription) is not None:
            events.append(_transcription(OutputTranscription, tr, frame))
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
        if go_away_time_left is UNPARSED:
            go_away_time_left = parse_duration(message.go_away.time_left)
        events.append(GoAway(time_left=go_away_time_left, _frame=frame))
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
    for key in message.unknown_keys or ():
        events.append(UnknownMessage(key=key, _frame=frame))
    if not events and frame is not None:
        untyped = _untyped_event(frame)
        if untyped is not None:
            events.append(untyped)
    return events


_TranscriptionEvent = (
    type[InputTranscription] | type[InterimInputTranscription] | type[OutputTranscription]
)


def _transcription(kind: _TranscriptionEvent, tr: Transcription, frame: Frame | None) -> LiveEvent:
    """A transcription event; a piece without text (only ``finished``) has ``""``."""
    return kind(text=tr.text or "", finished=tr.finished, _frame=frame)


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
        and message.unknown_keys is None
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
