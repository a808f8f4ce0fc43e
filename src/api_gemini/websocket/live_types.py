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

from .._wire import WireStruct, convert
from ..errors import InvalidRequestError
from ..types import (
    Blob,
    Content,
    FunctionCall,
    FunctionResponse,
    GenerationConfig,
    GroundingMetadata,
    ModalityTokenCount,
    Part,
    SafetySetting,
    SpeechConfig,
    ThinkingConfig,
    Tool,
    Transcription,
    UrlContextMetadata,
)

__all__ = [
    "ActivityEnd",
    "ActivityStart",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "ClientContent",
    "ContextWindowCompressionConfig",
    "GoAwayMessage",
    "HistoryConfig",
    "LiveConnectConfig",
    "LiveSetup",
    "LiveUsageMetadata",
    "ProactivityConfig",
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
    "VoiceActivityDetectionSignalMessage",
    "VoiceActivityMessage",
    "coerce_live_config",
]


_Wire = WireStruct  # every type below takes ``extra=`` (fields sent as given)


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
    """``inputAudioTranscription`` / ``outputAudioTranscription``: ``{}`` enables it.

    Attributes:
        language_codes: expected languages (BCP-47), when known.
        custom_vocabulary: words and names to favour (``gemini-3.8-live``).
    """

    language_codes: list[str] | None = None
    custom_vocabulary: list[str] | None = None


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
    interim_transcript_timestamp_enabled: bool | None = None


class ProactivityConfig(_Wire):
    """``proactivity``: ``proactive_audio=True`` lets the model stay silent when the input
    is not addressed to it (always on for ``gemini-3.8-live``, where ``False`` is an
    error)."""

    proactive_audio: bool | None = None
    proactive_video: bool | None = None


class HistoryConfig(_Wire):
    """``historyConfig``: ``initial_history_in_client_content=True`` says the first
    ``clientContent`` messages (``turn_complete=False``) are earlier history."""

    initial_history_in_client_content: bool | None = None


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
    proactivity: ProactivityConfig | None = None
    history_config: HistoryConfig | None = None


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


class ServerContent(_Wire):
    """``serverContent``: model output and turn signals. One message may carry several
    of them at once (audio and its transcription, on 3.1 Flash Live)."""

    model_turn: Content | None = None
    generation_complete: bool | None = None
    turn_complete: bool | None = None
    interrupted: bool | None = None
    grounding_metadata: GroundingMetadata | None = None
    url_context_metadata: UrlContextMetadata | None = None
    input_transcription: Transcription | None = None
    interim_input_transcription: Transcription | None = None
    output_transcription: Transcription | None = None
    turn_complete_reason: str | None = None
    waiting_for_input: bool | None = None
    interaction_status: str | None = None


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
    cache_tokens_details: list[ModalityTokenCount] | None = None
    response_tokens_details: list[ModalityTokenCount] | None = None
    tool_use_prompt_tokens_details: list[ModalityTokenCount] | None = None
    traffic_type: str | None = None


class GoAwayMessage(_Wire):
    """``goAway``: the server will close the connection after ``time_left``.

    ``time_left`` is a proto Duration: a string such as ``"50s"`` on the wire (a number
    of seconds is accepted too).
    """

    time_left: str | float | None = None


class SessionResumptionUpdateMessage(_Wire):
    """``sessionResumptionUpdate``: a new handle to resume the session with.

    ``last_consumed_client_message_index`` is an int64, which protobuf JSON writes as a
    string (``"7"``); the decoder takes a string or a number.
    """

    new_handle: str | None = None
    resumable: bool | None = None
    last_consumed_client_message_index: int | None = None


class VoiceActivityMessage(_Wire):
    """``voiceActivity``: the server heard the caller start or stop speaking."""

    voice_activity_type: str | None = None
    audio_offset: str | None = None


class VoiceActivityDetectionSignalMessage(_Wire):
    """``voiceActivityDetectionSignal`` (``vadSignalType``)."""

    vad_signal_type: str | None = None


class ServerMessage(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """One server frame: one optional field per known top-level key.

    Decoding into this type is the whole per-frame cost. An unknown top-level key makes
    that decode fail, and the cold path (``decoding.decode_server_message``) then
    decodes the known keys and reports each unknown one as an event, so neither is
    lost; unknown keys deeper down are skipped and stay reachable through the events'
    ``.raw``.

    Attributes:
        frame: the :class:`~api_gemini._wire.Frame` the message was decoded from (set
            by the decoder; never a wire key).
        unknown_keys: top-level keys of the frame this type does not know.
    """

    setup_complete: SetupCompleteMessage | None = None
    server_content: ServerContent | None = None
    tool_call: ToolCallMessage | None = None
    tool_call_cancellation: ToolCallCancellationMessage | None = None
    usage_metadata: LiveUsageMetadata | None = None
    go_away: GoAwayMessage | None = None
    session_resumption_update: SessionResumptionUpdateMessage | None = None
    voice_activity: VoiceActivityMessage | None = None
    voice_activity_detection_signal: VoiceActivityDetectionSignalMessage | None = None
    # Not wire keys: filled by the decoder (names no server message can plausibly use).
    frame: Any = msgspec.field(default=None, name="__api_gemini_frame__")
    unknown_keys: list[str] | None = msgspec.field(default=None, name="__api_gemini_unknown__")


# --------------------------------------------------------------------------- user config


class LiveConnectConfig(_Wire):
    """Configuration of a Live session (everything of ``setup`` but the model).

    Without a response modality the session answers in AUDIO (the only modality of
    today's Live models) with ``outputAudioTranscription`` on, so each
    :class:`~api_gemini.websocket.protocol.OutputTranscription` event carries the text
    of the audio. Ask for ``response_modalities=["TEXT"]`` only on a model that has it.

    Attributes:
        generation_config: sampling and output settings.
        response_modalities: shortcut for ``generation_config.response_modalities``;
            wins over the value inside ``generation_config``. ``["AUDIO"]`` (with
            output transcription) when neither is set.
        temperature, top_p, top_k, max_output_tokens, seed, media_resolution,
            speech_config, thinking_config, enable_affective_dialog: shortcuts into
            ``generation_config`` (google-genai's ``LiveConnectConfig`` has them too);
            each wins over the same field inside ``generation_config``.
        system_instruction: a :class:`~api_gemini.types.Content` or a plain string.
        tools: tools offered to the model.
        safety_settings: blocking thresholds.
        session_resumption: ``SessionResumptionConfig()`` to receive resumption handles,
            ``SessionResumptionConfig(handle=h)`` to resume.
        context_window_compression: compression beyond the context window.
        input_audio_transcription: transcribe the caller's audio (``True``, or an
            :class:`AudioTranscriptionConfig` with ``custom_vocabulary``...).
        output_audio_transcription: transcribe the model's audio; ``None`` (unset) turns
            it on when the modality is defaulted to AUDIO, ``False`` turns it off.
        realtime_input_config: voice activity detection and turn coverage.
        proactivity: :class:`ProactivityConfig`.
        history_config: :class:`HistoryConfig` (initial history in ``clientContent``).
        extra: setup fields the library does not type, sent as given.
    """

    generation_config: GenerationConfig | None = None
    response_modalities: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | float | None = None
    max_output_tokens: int | None = None
    seed: int | None = None
    media_resolution: str | None = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    enable_affective_dialog: bool | None = None
    system_instruction: Content | str | None = None
    tools: list[Tool] | None = None
    safety_settings: list[SafetySetting] | None = None
    session_resumption: SessionResumptionConfig | None = None
    context_window_compression: ContextWindowCompressionConfig | None = None
    input_audio_transcription: AudioTranscriptionConfig | bool | None = None
    output_audio_transcription: AudioTranscriptionConfig | bool | None = None
    realtime_input_config: RealtimeInputConfig | None = None
    proactivity: ProactivityConfig | None = None
    history_config: HistoryConfig | None = None

    def _generation(self, apply_defaults: bool = True) -> tuple[GenerationConfig, bool]:
        """The generation config with the shortcuts applied; True if the modality was
        defaulted to AUDIO."""
        generation = self.generation_config or GenerationConfig()
        changes: dict[str, Any] = {
            name: value
            for name in _GENERATION_SHORTCUTS
            if (value := getattr(self, name)) is not None
        }
        modalities = self.response_modalities or generation.response_modalities
        defaulted = not modalities and apply_defaults
        if modalities:
            changes["response_modalities"] = list(modalities)
        elif defaulted:
            changes["response_modalities"] = ["AUDIO"]
        return msgspec.structs.replace(generation, **changes), defaulted

    def to_setup(self, model: str, *, apply_defaults: bool = True) -> LiveSetup:
        """Build the ``setup`` message body for ``model`` (already ``models/...``).

        ``apply_defaults=False`` leaves out today's defaults (AUDIO, output
        transcription): the config exactly as given (an ephemeral token's constraints).
        """
        generation, defaulted = self._generation(apply_defaults)
        if generation == GenerationConfig() and not apply_defaults:
            generation_or_none: GenerationConfig | None = None
        else:
            generation_or_none = generation
        instruction = self.system_instruction
        if isinstance(instruction, str):
            instruction = Content(parts=[Part(text=instruction)])
        output = self.output_audio_transcription
        if output is None and defaulted:
            output = True
        return LiveSetup(
            model=model,
            generation_config=generation_or_none,
            system_instruction=instruction,
            tools=self.tools,
            safety_settings=self.safety_settings,
            realtime_input_config=self.realtime_input_config,
            session_resumption=self.session_resumption,
            context_window_compression=self.context_window_compression,
            input_audio_transcription=_transcription(self.input_audio_transcription),
            output_audio_transcription=_transcription(output),
            proactivity=self.proactivity,
            history_config=self.history_config,
            extra=self.extra,
        )


#: Fields of :class:`LiveConnectConfig` that go into ``generationConfig``.
_GENERATION_SHORTCUTS = (
    "temperature",
    "top_p",
    "top_k",
    "max_output_tokens",
    "seed",
    "media_resolution",
    "speech_config",
    "thinking_config",
    "enable_affective_dialog",
)


def _transcription(
    value: AudioTranscriptionConfig | bool | None,
) -> AudioTranscriptionConfig | None:
    if value is True:
        return AudioTranscriptionConfig()
    if value is None or value is False:
        return None
    return value


def coerce_live_config(config: LiveConnectConfig | Mapping[str, Any] | None) -> LiveConnectConfig:
    """Turn ``None``, a mapping or a :class:`LiveConnectConfig` into a config.

    A mapping may spell its keys in camelCase (as in the ``setup`` message) or
    snake_case (as google-genai users write), at any depth; free-form values (function
    parameter schemas) are kept as they are. Keys the library does not type are sent as
    given, so the server names a misspelt one in its error.

    Raises:
        InvalidRequestError: the mapping does not have the config's shape.
    """
    if config is None:
        return LiveConnectConfig()
    if isinstance(config, LiveConnectConfig | Mapping):
        return convert(config, LiveConnectConfig)
    raise InvalidRequestError(
        f"config must be a LiveConnectConfig, a mapping or None, not {type(config).__name__}"
    )
