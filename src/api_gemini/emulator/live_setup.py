"""A Live ``setup`` message, checked against the model's rules and resolved to settings.

The schema check (unknown fields, types) happens before, in :mod:`.schema`; here come
the rules that depend on the model (:data:`.catalog.LIVE_RULES`) and the defaults of
``realtimeInputConfig``. Every refusal names its problem; where the real wording is not
published the emulator's own sentence says so in ``docs/emulator-fidelity.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalog import LIVE_RULES, NO_VOICES, LiveRules, find_model, supports
from .vad import VadSettings

__all__ = [
    "LiveRefusal",
    "SessionSettings",
    "non_blocking_functions",
    "parse_setup",
    "unknown_model",
]

INVALID_ARGUMENT = "Request contains an invalid argument."
#: The emulator's sentence (the service's is not published) for ``transparent: true``.
TRANSPARENT_REFUSED = (
    "setup.session_resumption.transparent is not supported by the Gemini API"
    " (transparent session resumption is Vertex AI's)."
)
_ACTIVITY_HANDLING = ("START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION")


class LiveRefusal(Exception):
    """A client message the server refuses: close with ``code`` and ``reason``."""

    def __init__(self, reason: str = INVALID_ARGUMENT, code: int = 1007) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unknown_model(name: str, version: str) -> LiveRefusal:
    """The 1008 of a model that does not exist (or cannot do ``bidiGenerateContent``)."""
    return LiveRefusal(
        f"models/{name} is not found for API version {version}, "
        "or is not supported for bidiGenerateContent",
        1008,
    )


@dataclass(slots=True)
class SessionSettings:
    """Everything a Live session needs from its setup."""

    model: str
    rules: LiveRules
    max_output_tokens: int | None
    system_instruction: Any
    tools: list[Any]
    #: Function name -> True when calls to it are NON_BLOCKING.
    non_blocking: dict[str, bool]
    vad: VadSettings
    activity_interrupts: bool
    turn_coverage: str
    input_transcription: bool
    output_transcription: bool
    resumption: bool
    resume_handle: str | None
    compression: bool
    raw: dict[str, Any] = field(default_factory=dict)


def _get(body: dict[str, Any], dotted: str) -> Any:
    value: Any = body
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def non_blocking_functions(tools: list[Any], rules: LiveRules) -> dict[str, bool]:
    """Function name -> True when calls to it are NON_BLOCKING under ``rules``.

    Raises:
        LiveRefusal: a declaration without a name.
    """
    found: dict[str, bool] = {}
    for tool in tools:
        for decl in tool.get("functionDeclarations") or []:
            name = decl.get("name")
            if not isinstance(name, str) or not name:
                raise LiveRefusal("A function declaration must have a name.")
            behavior = decl.get("behavior") or "UNSPECIFIED"
            if behavior == "UNSPECIFIED":
                blocking = not rules.non_blocking_default
            else:
                blocking = behavior == "BLOCKING"
            found[name] = rules.async_functions and not blocking
    return found


def parse_setup(setup: dict[str, Any], version: str) -> SessionSettings:
    """Resolve a schema-checked camelCase ``setup`` body.

    Raises:
        LiveRefusal: 1008 for an unknown model, 1007/1011 for what the model refuses.
    """
    model = setup.get("model")
    if not isinstance(model, str) or not model:
        raise LiveRefusal("setup.model is required.")
    name = model.removeprefix("models/")
    entry = find_model(name)
    rules = LIVE_RULES.get(name)
    if entry is None or rules is None or not supports(entry, "bidiGenerateContent"):
        raise unknown_model(name, version)

    gen = setup.get("generationConfig") or {}
    modalities = gen.get("responseModalities") or ["AUDIO"]
    if modalities != ["AUDIO"]:
        if len(modalities) > 1:
            # One response modality per session: AUDIO + TEXT closes 1007 "Request
            # contains an invalid argument." (googleapis/go-genai#490; the cookbook's
            # note in google-gemini/cookbook#417).
            raise LiveRefusal(INVALID_ARGUMENT)
        if "TEXT" in modalities:
            if rules.text_close_code == 1011:
                # googleapis/python-genai#2238: "1011 Internal error encountered."
                raise LiveRefusal("Internal error encountered.", 1011)
            raise LiveRefusal(NO_VOICES, rules.text_close_code)
        raise LiveRefusal(
            f"Unsupported response modalities {modalities}: {name} answers in AUDIO only."
        )
    for dotted in rules.refused:
        if _get(setup, dotted) is not None:
            raise LiveRefusal(f"{dotted} is not supported by {name}.")
    if rules.proactive_audio_required and _get(setup, "proactivity.proactiveAudio") is False:
        raise LiveRefusal(f"proactivity.proactiveAudio cannot be false for {name}.")
    thinking = gen.get("thinkingConfig") or {}
    level = thinking.get("thinkingLevel")
    if level is not None and level not in rules.thinking_levels:
        raise LiveRefusal(f"thinkingLevel {level} is not supported by {name}.")
    if thinking.get("thinkingBudget") is not None and not rules.thinking_budget:
        raise LiveRefusal(f"thinkingBudget is not supported by {name}; use thinkingLevel.")
    max_tokens = gen.get("maxOutputTokens")
    if max_tokens is not None and int(max_tokens) < 0:
        raise LiveRefusal("generationConfig.maxOutputTokens must not be negative.")

    tools = setup.get("tools") or []
    realtime = setup.get("realtimeInputConfig") or {}
    handling = realtime.get("activityHandling") or "START_OF_ACTIVITY_INTERRUPTS"
    if handling not in _ACTIVITY_HANDLING:
        handling = "START_OF_ACTIVITY_INTERRUPTS"  # ACTIVITY_HANDLING_UNSPECIFIED
    coverage = realtime.get("turnCoverage") or rules.turn_coverage
    if coverage == "TURN_COVERAGE_UNSPECIFIED":
        coverage = rules.turn_coverage
    resumption = setup.get("sessionResumption")
    handle = resumption.get("handle") if resumption is not None else None
    if resumption is not None and resumption.get("transparent"):
        # Transparent resumption (lastConsumedClientMessageIndex) is Vertex AI's alone:
        # google-genai refuses it for the Gemini API ("Transparent session resumption
        # is only supported for Vertex AI backend."), as google/adk-python#5771 reports.
        # What the service itself answers is not published: this close is the
        # emulator's (refused rather than half-served: the index would never come).
        raise LiveRefusal(TRANSPARENT_REFUSED)
    return SessionSettings(
        model=name,
        rules=rules,
        max_output_tokens=None if max_tokens is None else int(max_tokens),
        system_instruction=setup.get("systemInstruction"),
        tools=tools,
        non_blocking=non_blocking_functions(tools, rules),
        vad=VadSettings.from_setup(realtime.get("automaticActivityDetection")),
        activity_interrupts=handling == "START_OF_ACTIVITY_INTERRUPTS",
        turn_coverage=coverage,
        input_transcription=setup.get("inputAudioTranscription") is not None,
        output_transcription=setup.get("outputAudioTranscription") is not None,
        resumption=resumption is not None,
        resume_handle=handle or None,
        compression=setup.get("contextWindowCompression") is not None,
        raw=setup,
    )
