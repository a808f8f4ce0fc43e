"""The drift walk: google-genai 3.6.1's Live and generateContent types against ours.

Used by tests/test_drift.py; run ``python tests/drift.py`` to print what is untyped.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec
import pydantic
from google.genai import types as g

from api_gemini import types as T
from api_gemini._wire import EXTRA_KEY, camel
from api_gemini.websocket import live_types as L

#: google-genai type -> ours, for every type the walk descends into.
TYPE_MAP: dict[type[pydantic.BaseModel], type[msgspec.Struct]] = {
    g.LiveClientSetup: L.LiveSetup,
    g.LiveClientContent: L.ClientContent,
    g.LiveClientRealtimeInput: L.RealtimeInput,
    g.LiveClientToolResponse: L.ToolResponse,
    g.ActivityStart: L.ActivityStart,
    g.ActivityEnd: L.ActivityEnd,
    g.GenerationConfig: T.GenerationConfig,
    g.Content: T.Content,
    g.Part: T.Part,
    g.Blob: T.Blob,
    g.FileData: T.FileData,
    g.FunctionCall: T.FunctionCall,
    g.FunctionResponse: T.FunctionResponse,
    g.ExecutableCode: T.ExecutableCode,
    g.CodeExecutionResult: T.CodeExecutionResult,
    g.Tool: T.Tool,
    g.FunctionDeclaration: T.FunctionDeclaration,
    g.ToolConfig: T.ToolConfig,
    g.SafetySetting: T.SafetySetting,
    g.SpeechConfig: T.SpeechConfig,
    g.VoiceConfig: T.VoiceConfig,
    g.ThinkingConfig: T.ThinkingConfig,
    g.SessionResumptionConfig: L.SessionResumptionConfig,
    g.ContextWindowCompressionConfig: L.ContextWindowCompressionConfig,
    g.SlidingWindow: L.SlidingWindow,
    g.AudioTranscriptionConfig: L.AudioTranscriptionConfig,
    g.RealtimeInputConfig: L.RealtimeInputConfig,
    g.AutomaticActivityDetection: L.AutomaticActivityDetection,
    g.ProactivityConfig: L.ProactivityConfig,
    g.HistoryConfig: L.HistoryConfig,
    g.LiveServerMessage: L.ServerMessage,
    g.LiveServerSetupComplete: L.SetupCompleteMessage,
    g.LiveServerContent: L.ServerContent,
    g.Transcription: T.Transcription,
    g.GroundingMetadata: T.GroundingMetadata,
    g.UrlContextMetadata: T.UrlContextMetadata,
    g.UrlMetadata: T.UrlMetadata,
    g.LiveServerToolCall: L.ToolCallMessage,
    g.LiveServerToolCallCancellation: L.ToolCallCancellationMessage,
    g.UsageMetadata: L.LiveUsageMetadata,
    g.ModalityTokenCount: T.ModalityTokenCount,
    g.LiveServerGoAway: L.GoAwayMessage,
    g.LiveServerSessionResumptionUpdate: L.SessionResumptionUpdateMessage,
    g.VoiceActivity: L.VoiceActivityMessage,
    g.VoiceActivityDetectionSignal: L.VoiceActivityDetectionSignalMessage,
    g.GenerateContentResponse: T.GenerateContentResponse,
    g.Candidate: T.Candidate,
    g.GenerateContentResponseUsageMetadata: T.UsageMetadata,
}

#: Fields whose annotation hides the element type (a bare ``list`` with a validator).
HIDDEN_ELEMENT_TYPES: dict[str, list[type[pydantic.BaseModel]]] = {
    "LiveClientSetup.tools": [g.Tool],
}

#: Where the walk starts: the Live client and server messages, and generateContent's
#: request pieces (google-genai builds the request body from these) and response.
ROOTS: tuple[type[pydantic.BaseModel], ...] = (
    g.LiveClientSetup,
    g.LiveClientContent,
    g.LiveClientRealtimeInput,
    g.LiveClientToolResponse,
    g.LiveServerMessage,
    g.GenerationConfig,
    g.Content,
    g.Tool,
    g.ToolConfig,
    g.SafetySetting,
    g.GenerateContentResponse,
)


def _models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic model types inside an annotation (Optional, list, Union)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    found: list[type[pydantic.BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _our_fields(struct: type[msgspec.Struct]) -> dict[str, Any]:
    hints = typing.get_type_hints(struct)
    return {
        f.encode_name: hints[f.name]
        for f in msgspec.structs.fields(struct)
        if f.encode_name != EXTRA_KEY
    }


def _our_struct(annotation: Any) -> type[msgspec.Struct] | None:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in typing.get_args(annotation):
        found = _our_struct(arg)
        if found is not None:
            return found
    return None


def walk() -> tuple[set[str], set[str], list[str]]:
    """(typed, untyped, problems): ``Type.wireName`` of every field reached."""
    typed: set[str] = set()
    untyped: set[str] = set()
    problems: list[str] = []
    seen: set[type[pydantic.BaseModel]] = set()
    todo = list(ROOTS)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        ours = TYPE_MAP.get(model)
        if ours is None:
            problems.append(f"{model.__name__}: not in TYPE_MAP")
            continue
        fields = _our_fields(ours)
        for name, info in model.model_fields.items():
            wire = camel(name)
            where = f"{model.__name__}.{wire}"
            if wire not in fields:
                untyped.add(where)
                continue
            typed.add(where)
            inner = _our_struct(fields[wire])
            if inner is None:
                continue  # typed as a free-form value (dict, Any): carried whole
            # A union (ContentUnion: Content, Part, str, File...) is the SDK's input
            # convenience; on the wire it is the member that maps to our type.
            candidates = HIDDEN_ELEMENT_TYPES.get(where) or _models_in(info.annotation)
            matched = [m for m in candidates if TYPE_MAP.get(m) is inner]
            if not matched:
                problems.append(f"{where}: no google-genai type maps to {inner.__name__}")
            todo.extend(matched)
    return typed, untyped, problems


if __name__ == "__main__":
    typed, untyped, problems = walk()
    print(len(typed), "typed;", len(untyped), "untyped;", problems)
    for item in sorted(untyped):
        print(item)


#: The request messages a dict can fill, with where the dict goes in them.
REQUEST_ROOTS: dict[str, type[pydantic.BaseModel]] = {
    "setup": g.LiveClientSetup,
    "clientContent.turns[0]": g.Content,
    "toolResponse.functionResponses[0]": g.FunctionResponse,
}


def request_fields(
    roots: dict[str, type[pydantic.BaseModel]] | None = None,
) -> list[tuple[str, list[tuple[str, bool]], str, Any]]:
    """Every request-side field reachable from ``roots`` (:data:`REQUEST_ROOTS` by
    default), typed or not: (root, path to its object as (snake name, is_list) steps,
    snake name, our type or None when untyped). One path per google-genai type (the
    first found)."""
    out: list[tuple[str, list[tuple[str, bool]], str, Any]] = []
    for root, model in (REQUEST_ROOTS if roots is None else roots).items():
        seen: set[type[pydantic.BaseModel]] = set()
        todo: list[tuple[type[pydantic.BaseModel], list[tuple[str, bool]]]] = [(model, [])]
        while todo:
            current, path = todo.pop(0)
            if current in seen or current not in TYPE_MAP:
                continue
            seen.add(current)
            ours = _our_fields(TYPE_MAP[current])
            for name, info in current.model_fields.items():
                if root == "setup" and current is g.LiveClientSetup and name == "model":
                    continue  # the model is an argument, not a config field
                annotation = ours.get(camel(name))
                out.append((root, path, name, annotation))
                inner = _our_struct(annotation) if annotation is not None else None
                if inner is None:
                    continue
                where = f"{current.__name__}.{camel(name)}"
                candidates = HIDDEN_ELEMENT_TYPES.get(where) or _models_in(info.annotation)
                is_list = "list" in str(annotation)
                for nested in candidates:
                    if TYPE_MAP.get(nested) is inner:
                        todo.append((nested, [*path, (name, is_list)]))
    return out
