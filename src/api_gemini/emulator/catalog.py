"""The emulator's model catalog (``GET /{v}/models``) and each Live model's setup rules.

The table a reader checks against the docs is in ``docs/emulator-fidelity.md``
("Models"); in short, today's (December 2026) Live models are ``gemini-3.8-live``,
``gemini-3.8-live-extended-thinking``, ``gemini-3.1-flash-live-preview`` and
``gemini-2.5-flash-native-audio-preview-12-2025``, all audio models
(https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live,
https://ai.google.dev/gemini-api/docs/deprecations). ``gemini-2.0-flash-live-001`` and
``gemini-live-2.5-flash-preview`` were shut down on 2025-12-09: they are absent, so a
request for them gets the unknown-model answer.

TEXT output on an audio model closes 1007 "Cannot extract voices from a non-audio
request." (jsalsman/gemini-live#2, livekit/agents#4103, googleapis/python-genai#1780),
1011 on 3.1 Flash Live (googleapis/python-genai#2238). The wording of the refusals
of ``thinkingConfig``, ``enableAffectiveDialog`` and ``proactiveAudio: false`` on 3.8
Live is not published ("returns an error"): the emulator closes 1007 with a reason
naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CATALOG",
    "DEFAULT_PAGE_SIZE",
    "LIVE_RULES",
    "MAX_PAGE_SIZE",
    "LiveRules",
    "find_model",
    "supports",
]

#: The service's page size when ``pageSize`` is unset, and its cap ("If unspecified, at
#: most 50 models will be returned per page. This method returns at most 1000 models per
#: page, even if you pass a larger page_size.":
#: https://ai.google.dev/api/python/google/generativeai/protos/ListModelsRequest).
#: Tests of page-following ask for a small ``pageSize``.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_TEXT_METHODS = [
    "generateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
]
_LIVE_METHODS = ["bidiGenerateContent", "countTokens"]

#: The close reason for TEXT on a native-audio model (livekit/agents#4103).
NO_VOICES = "Cannot extract voices from a non-audio request."


@dataclass(frozen=True, slots=True)
class LiveRules:
    """What one Live model's setup accepts."""

    #: Close code when ``responseModalities`` asks for TEXT (all of today's Live models
    #: are audio models).
    text_close_code: int = 1007
    #: Setup fields (dotted camelCase paths) this model refuses outright.
    refused: tuple[str, ...] = ()
    #: ``proactivity.proactiveAudio: false`` is an error (proactive audio always on).
    proactive_audio_required: bool = False
    #: ``thinkingConfig.thinkingLevel`` values accepted (empty: no ``thinkingLevel``).
    thinking_levels: tuple[str, ...] = ()
    #: ``thinkingConfig.thinkingBudget`` accepted (the 2.5 models think by budget).
    thinking_budget: bool = False
    #: Function declarations without ``behavior`` are NON_BLOCKING.
    non_blocking_default: bool = False
    #: NON_BLOCKING declarations are honoured (else every call blocks).
    async_functions: bool = True
    #: An answer chunk's audio and its transcription travel in one server event.
    combined_events: bool = False
    #: Default ``turnCoverage``.
    turn_coverage: str = "TURN_INCLUDES_ONLY_ACTIVITY"


LIVE_RULES: dict[str, LiveRules] = {
    "gemini-3.8-live": LiveRules(
        refused=("generationConfig.thinkingConfig", "generationConfig.enableAffectiveDialog"),
        proactive_audio_required=True,
        non_blocking_default=True,
        turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    ),
    "gemini-3.8-live-extended-thinking": LiveRules(
        refused=("generationConfig.enableAffectiveDialog",),
        proactive_audio_required=True,
        thinking_levels=("LOW", "MEDIUM", "HIGH"),
        non_blocking_default=True,
        turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
    ),
    "gemini-3.1-flash-live-preview": LiveRules(
        text_close_code=1011,
        refused=("generationConfig.enableAffectiveDialog", "proactivity"),
        thinking_levels=("MINIMAL", "LOW", "MEDIUM", "HIGH"),
        async_functions=False,
        combined_events=True,
    ),
    "gemini-2.5-flash-native-audio-preview-12-2025": LiveRules(thinking_budget=True),
}


def _model(
    name: str,
    display: str,
    description: str,
    methods: list[str],
    *,
    version: str = "001",
    input_limit: int = 1_048_576,
    output_limit: int = 65_536,
    thinking: bool | None = None,
    sampling: bool = True,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": version,
        "displayName": display,
        "description": description,
        "inputTokenLimit": input_limit,
        "outputTokenLimit": output_limit,
        "supportedGenerationMethods": methods,
    }
    if sampling:
        entry.update({"temperature": 1.0, "topP": 0.95, "topK": 64, "maxTemperature": 2.0})
    if thinking is not None:
        entry["thinking"] = thinking
    return entry


def _live(name: str, display: str, description: str) -> dict[str, Any]:
    return _model(
        name, display, description, _LIVE_METHODS, input_limit=131_072, output_limit=65_536
    )


#: The models, in listing order. ``gemini-embedding-001`` has no ``generateContent``;
#: the text models have no ``bidiGenerateContent``; the Live models only that.
CATALOG: tuple[dict[str, Any], ...] = (
    _model(
        "gemini-3.8-flash", "Gemini 3.8 Flash", "Gemini 3.8 Flash.", _TEXT_METHODS, thinking=True
    ),
    _model(
        "gemini-3.5-flash", "Gemini 3.5 Flash", "Gemini 3.5 Flash.", _TEXT_METHODS, thinking=True
    ),
    _model(
        "gemini-3.5-flash-lite",
        "Gemini 3.5 Flash-Lite",
        "Gemini 3.5 Flash-Lite.",
        _TEXT_METHODS,
        thinking=True,
    ),
    _model(
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        "Stable version of Gemini 2.5 Flash, a mid-size multimodal model.",
        _TEXT_METHODS,
        thinking=True,
    ),
    _model(
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        "Stable release of Gemini 2.5 Pro.",
        _TEXT_METHODS,
        thinking=True,
    ),
    _model(
        "gemini-2.5-flash-lite",
        "Gemini 2.5 Flash-Lite",
        "Stable version of Gemini 2.5 Flash-Lite.",
        _TEXT_METHODS,
        thinking=True,
    ),
    _live("gemini-3.8-live", "Gemini 3.8 Live", "Low-latency voice agent model, Live API only."),
    _live(
        "gemini-3.8-live-extended-thinking",
        "Gemini 3.8 Live Extended Thinking",
        "Gemini 3.8 Live with configurable thinking, Live API only.",
    ),
    _live(
        "gemini-3.1-flash-live-preview",
        "Gemini 3.1 Flash Live Preview",
        "Gemini 3.1 Flash Live Preview, Live API only.",
    ),
    _live(
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "Gemini 2.5 Flash Native Audio Preview 12-2025",
        "Gemini 2.5 Flash Native Audio Preview, Live API only.",
    ),
    _model(
        "gemini-embedding-001",
        "Gemini Embedding 001",
        "Obtain a distributed representation of a text.",
        ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
        input_limit=2_048,
        output_limit=1,
        sampling=False,
    ),
)

_BY_NAME = {entry["baseModelId"]: entry for entry in CATALOG}


def find_model(name: str) -> dict[str, Any] | None:
    """The catalog entry of ``name`` (``"gemini-2.5-flash"`` or ``"models/..."``), or None."""
    return _BY_NAME.get(name.removeprefix("models/"))


def supports(entry: dict[str, Any], method: str) -> bool:
    """True when the model lists ``method`` among its ``supportedGenerationMethods``."""
    return method in entry["supportedGenerationMethods"]
