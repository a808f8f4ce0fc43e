r"""Every event a Live session yields, all :class:`LiveEvent`\s, in one module.

The events decoded from server frames (:class:`ModelTurn`, :class:`TurnComplete`,
:class:`GoAway`, ...) each carry the frame they came from (``.raw``, decoded only when
read); :class:`Reconnected` is the one the client makes itself (its ``.raw`` is ``{}``).
This module is their one home: :mod:`api_gemini.websocket` exports them as this
module's ``__all__`` lists them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._wire import Frame
from ..types import Content, FunctionCall, GroundingMetadata, UrlContextMetadata, UsageMetadata
from .live_types import LiveUsageMetadata

__all__ = [
    "GenerationComplete",
    "GoAway",
    "Grounding",
    "InputTranscription",
    "InteractionStatus",
    "InterimInputTranscription",
    "Interrupted",
    "LiveEvent",
    "ModelTurn",
    "OutputTranscription",
    "Reconnected",
    "SessionResumptionUpdate",
    "SetupComplete",
    "ToolCall",
    "ToolCallCancellation",
    "TurnComplete",
    "UnknownMessage",
    "UsageUpdate",
    "VoiceActivity",
    "WaitingForInput",
]


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


class Reconnected(LiveEvent, frozen=True):
    """The session moved to a new connection, resumed with its newest handle.

    Yielded by ``async for event in session`` (and :meth:`LiveSession.receive_turn`)
    after every buffered event of the old connection; nothing of the old connection
    follows it (its unread frames are dropped). Counted in ``metrics.reconnects``.

    Attributes:
        cause: ``"go_away"`` (a policy acted on ``goAway``), ``"disconnected"`` (a
            policy acted on a drop) or ``"explicit"`` (:meth:`LiveSession.reconnect`).
        close_code: the close code of the drop (``None`` unless ``"disconnected"``).
        attempt: the attempt that succeeded (1: the first).
        turn_lost: the old connection ended in the middle of a turn: that answer is cut
            short, and the resumed context may lack its request; send it again if you
            still want the answer. :meth:`LiveSession.receive_turn` stops here.
        unconfirmed_sends: messages sent on the old connection after its newest
            resumption handle arrived, including sends still in progress there when
            it was replaced (those are sent again on the new connection if the old
            one refused them): the resumed context may lack them.
        session_id: the new connection's session id, if the server gave one.
    """

    cause: str
    close_code: int | None = None
    attempt: int = 1
    turn_lost: bool = False
    unconfirmed_sends: int = 0
    session_id: str | None = None
