"""Wire types of the Live API (``BidiGenerateContent`` over WebSocket).

Like :mod:`api_gemini.types`, every type is a :class:`msgspec.Struct`: camelCase on the
wire, snake_case in Python, unknown fields skipped on decode, defaults not sent. The
request-side pieces shared with the HTTP API (:class:`~api_gemini.types.Content`,
:class:`~api_gemini.types.GenerationConfig`, :class:`~api_gemini.types.Tool`, ...) are
reused from there.

This module imports no I/O library: the sans-I/O protocol
(:mod:`api_gemini.websocket.protocol`) and the connection code both build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import InvalidRequestError
from ..types import (
    Blob,
    Content,
    FunctionCall,
    FunctionResponse,
    GenerationConfig,
    ModalityTokenCount,
    Part,
    SafetySetting,
    Tool,
)

__all__ = [
    "ActivityEnd",
    "ActivityStart",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "ClientContent",
    "ContextWindowCompressionConfig",
    "GoAwayMessage",
    "LiveConnectConfig",
    "LiveSetup",
    "LiveUsageMetadata",
    "RealtimeInput",
    "RealtimeInputConfig",
    "ServerContent",
    "ServerMessage",
    "SessionResumptionConfig",
    "SessionResumptionUpdateMessage",
    "SetupCompleteMessage",
    "SlidingWindow",
    "ToolCallCancellationMessage",
    "ToolCallMessage",
    "ToolResponse",
    "Transcription",
    "coerce_live_config",
]


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of the Live wire types: camelCase names, defaults omitted, keyword-only."""

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form (camelCase keys, defaults omitted) as plain Python."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


# --------------------------------------------------------------------------- setup


class SessionResumptionConfig(_Wire):
    """``sessionResumption``: ``SessionResumptionConfig()`` enables handles, ``handle=``
    resumes an earlier session (a handle stays valid about two hours)."""

    handle: str | None = None
    transparent: bool | None = None


class SlidingWindow(_Wire):
    """Sliding-window compression: keep about ``target_tokens`` of recent context."""

    target_tokens: int | None = None


class ContextWindowCompressionConfig(_Wire):
    """``contextWindowCompression``: compress once the context reaches ``trigger_tokens``."""

    sliding_window: SlidingWindow | None = None
    trigger_tokens: int | None = None


class AudioTranscriptionConfig(_Wire):
    """``inputAudioTranscription`` / ``outputAudioTranscription``: ``{}`` enables it."""


class AutomaticActivityDetection(_Wire):
    """Server-side voice activity detection settings."""

    disabled: bool | None = None
    start_of_speech_sensitivity: str | None = None
    end_of_speech_sensitivity: str | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None


class RealtimeInputConfig(_Wire):
    """``realtimeInputConfig``: how realtime input (audio, video) is turned into turns."""

    automatic_activity_detection: AutomaticActivityDetection | None = None
    activity_handling: str | None = None
    turn_coverage: str | None = None


class LiveSetup(_Wire):
    """The body of the first client message, ``{"setup": {...}}``."""

    model: str
    generation_config: GenerationConfig | None = None
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    safety_settings: list[SafetySetting] | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompressionConfig | None = None
    input_audio_transcription: AudioTranscriptionConfig | None = None
    output_audio_transcription: AudioTranscriptionConfig | None = None


# --------------------------------------------------------------------------- client messages


class ClientContent(_Wire):
    """``clientContent``: turns of text or history; ``turn_complete`` asks for an answer."""

    turns: list[Content] = msgspec.field(default_factory=list)
    # None (not False) as default so that an explicit false is still sent: false
    # (add context, do not answer) and true differ, and the server default is unsaid.
    turn_complete: bool | None = None


class ActivityStart(_Wire):
    """``activityStart``: the user started speaking (with automatic detection off)."""


class ActivityEnd(_Wire):
    """``activityEnd``: the user stopped speaking (with automatic detection off)."""


class RealtimeInput(_Wire):
    """``realtimeInput``: exactly one of its fields is set per message."""

    audio: Blob | None = None
    video: Blob | None = None
    text: str | None = None
    activity_start: ActivityStart | None = None
    activity_end: ActivityEnd | None = None
    audio_stream_end: bool | None = None


class ToolResponse(_Wire):
    """``toolResponse``: the caller's answers to a ``toolCall``."""

    function_responses: list[FunctionResponse] = msgspec.field(default_factory=list)


# --------------------------------------------------------------------------- server messages


class SetupCompleteMessage(_Wire):
    """``setupComplete``: the session is ready; may carry a session id."""

    session_id: str | None = None


class Transcription(_Wire):
    """A piece of input or output audio transcription."""

    text: str | None = None
    finished: bool | None = None


class ServerContent(_Wire):
    """``serverContent``: model output and turn signals."""

    model_turn: Content | None = None
    generation_complete: bool | None = None
    turn_complete: bool | None = None
    interrupted: bool | None = None
    input_transcription: Transcription | None = None
    output_transcription: Transcription | None = None
    turn_complete_reason: str | None = None
    waiting_for_input: bool | None = None


class ToolCallMessage(_Wire):
    """``toolCall``: functions the model asks the caller to run."""

    function_calls: list[FunctionCall] = msgspec.field(default_factory=list)


class ToolCallCancellationMessage(_Wire):
    """``toolCallCancellation``: earlier tool calls the caller should abandon."""

    ids: list[str] = msgspec.field(default_factory=list)


class LiveUsageMetadata(_Wire):
    """``usageMetadata`` of the Live API (``responseTokenCount``, not ``candidates...``)."""

    prompt_token_count: int | None = None
    cached_content_token_count: int | None = None
    response_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    thoughts_token_count: int | None = None
    total_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    response_tokens_details: list[ModalityTokenCount] | None = None


class GoAwayMessage(_Wire):
    """``goAway``: the server will close the connection after ``time_left``.

    ``time_left`` is a proto Duration: a string such as ``"50s"`` on the wire (a number
    of seconds is accepted too).
    """

    time_left: str | float | None = None


class SessionResumptionUpdateMessage(_Wire):
    """``sessionResumptionUpdate``: a new handle to resume the session with."""

    new_handle: str | None = None
    resumable: bool | None = None
    last_consumed_client_message_index: int | None = None


class ServerMessage(msgspec.Struct, rename="camel", kw_only=True):
    """One server frame: one optional field per known top-level key.

    Decoding into this type is the whole per-frame cost: msgspec skips unknown keys,
    so one decode both validates the known keys and ignores the new ones.
    """

    setup_complete: SetupCompleteMessage | None = None
    server_content: ServerContent | None = None
    tool_call: ToolCallMessage | None = None
    tool_call_cancellation: ToolCallCancellationMessage | None = None
    usage_metadata: LiveUsageMetadata | None = None
    go_away: GoAwayMessage | None = None
    session_resumption_update: SessionResumptionUpdateMessage | None = None


# --------------------------------------------------------------------------- user config


class LiveConnectConfig(_Wire):
    """Configuration of a Live session (everything of ``setup`` but the model).

    Attributes:
        generation_config: sampling and output settings.
        response_modalities: shortcut for ``generation_config.response_modalities``
            (``["TEXT"]`` or ``["AUDIO"]``); wins over the value inside
            ``generation_config``. ``["TEXT"]`` when neither is set.
        system_instruction: a :class:`~api_gemini.types.Content` or a plain string.
        tools: tools offered to the model.
        session_resumption: ``SessionResumptionConfig()`` to receive resumption handles,
            ``SessionResumptionConfig(handle=h)`` to resume.
        context_window_compression: compression beyond the context window.
        input_audio_transcription: transcribe the caller's audio.
        output_audio_transcription: transcribe the model's audio.
        realtime_input_config: voice activity detection and turn coverage.
    """

    generation_config: GenerationConfig | None = None
    response_modalities: list[str] | None = None
    system_instruction: Content | str | None = None
    tools: list[Tool] | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompressionConfig | None = None
    input_audio_transcription: bool = False
    output_audio_transcription: bool = False
    realtime_input_config: RealtimeInputConfig | None = None

    def to_setup(self, model: str) -> LiveSetup:
        """Build the ``setup`` message body for ``model`` (already ``models/...``)."""
        generation = self.generation_config
        modalities = self.response_modalities
        if modalities is None:
            modalities = (generation.response_modalities if generation else None) or ["TEXT"]
        if generation is None:
            generation = GenerationConfig(response_modalities=modalities)
        elif generation.response_modalities != modalities:
            generation = msgspec.structs.replace(generation, response_modalities=modalities)
        instruction = self.system_instruction
        if isinstance(instruction, str):
            instruction = Content(parts=[Part(text=instruction)])
        return LiveSetup(
            model=model,
            generation_config=generation,
            system_instruction=instruction,
            tools=self.tools,
            realtime_input_config=self.realtime_input_config,
            session_resumption=self.session_resumption,
            context_window_compression=self.context_window_compression,
            input_audio_transcription=(
                AudioTranscriptionConfig() if self.input_audio_transcription else None
            ),
            output_audio_transcription=(
                AudioTranscriptionConfig() if self.output_audio_transcription else None
            ),
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def coerce_live_config(config: LiveConnectConfig | Mapping[str, Any] | None) -> LiveConnectConfig:
    """Turn ``None``, a mapping or a :class:`LiveConnectConfig` into a config.

    A mapping is in wire form (camelCase, as in the ``setup`` message); its top-level
    keys may also be snake_case. Nested values stay wire form, because renaming keys
    inside free-form values (function parameter schemas) would change their meaning.

    Raises:
        InvalidRequestError: the mapping does not have the config's shape.
    """
    if config is None:
        return LiveConnectConfig()
    if isinstance(config, LiveConnectConfig):
        return config
    if isinstance(config, Mapping):
        wire = {_camel(str(key)): value for key, value in config.items()}
        try:
            return msgspec.convert(wire, LiveConnectConfig)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"invalid LiveConnectConfig: {exc}") from None
    raise InvalidRequestError(
        f"config must be a LiveConnectConfig, a mapping or None, not {type(config).__name__}"
    )
