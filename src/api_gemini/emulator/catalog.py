"""The emulator's model catalog: realistic entries of ``GET /{v}/models``."""

from __future__ import annotations

from typing import Any

__all__ = ["CATALOG", "DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "find_model", "supports"]

#: Small on purpose: the catalog spans two pages, so clients' page-following is exercised.
DEFAULT_PAGE_SIZE = 5
MAX_PAGE_SIZE = 1000

_TEXT_METHODS = [
    "generateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
]
_LIVE_METHODS = ["bidiGenerateContent"]


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


#: The models, in listing order. ``gemini-2.5-flash`` and the live models are the ones
#: tests reach for; ``text-embedding-004`` has no ``generateContent`` and
#: ``gemini-2.5-pro`` no ``bidiGenerateContent``.
CATALOG: tuple[dict[str, Any], ...] = (
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
    _model(
        "gemini-2.0-flash",
        "Gemini 2.0 Flash",
        "Gemini 2.0 Flash",
        [*_TEXT_METHODS, *_LIVE_METHODS],
        output_limit=8_192,
    ),
    _model(
        "gemini-live-2.5-flash-preview",
        "Gemini Live 2.5 Flash Preview",
        "Gemini Live 2.5 Flash Preview",
        [*_LIVE_METHODS, "countTokens"],
        input_limit=131_072,
        output_limit=8_192,
    ),
    _model(
        "gemini-2.0-flash-live-001",
        "Gemini 2.0 Flash 001",
        "Gemini 2.0 Flash 001",
        [*_LIVE_METHODS, "countTokens"],
        input_limit=131_072,
        output_limit=8_192,
    ),
    _model(
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "Gemini 2.5 Flash Native Audio Preview 09-2025",
        "Gemini 2.5 Flash Native Audio Preview, Live API only.",
        [*_LIVE_METHODS, "countTokens"],
        input_limit=131_072,
        output_limit=8_192,
    ),
    _model(
        "text-embedding-004",
        "Text Embedding 004",
        "Obtain a distributed representation of a text.",
        ["embedContent"],
        version="004",
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
