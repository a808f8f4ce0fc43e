"""Generate ``src/api_gemini/emulator/wire_schema.json`` from google-genai's types.

The emulator refuses unknown fields the way the real service's proto-JSON parser does.
The field table it checks against is derived here from google-genai 3.6.1 (the project's
wire reference), not written by hand::

    .venv/bin/python scripts/gen_wire_schema.py [OUTPUT]

The table maps a message name to its fields: ``{"camelName": [kind, target]}`` where
kind is ``string``, ``bool``, ``int``, ``number``, ``bytes``, ``timestamp``,
``duration``, ``struct`` (free-form JSON), ``enum`` (target: ``{"type": proto enum
name, "values": allowed names}``),
``message`` (target: a message name) or ``map`` (target: the value's kind spec); a
repeated field is ``["repeated", spec]``.

Roots are the request messages of the endpoints the emulator serves (Live messages,
generateContent, countTokens, embedContent / batchEmbedContents, auth_tokens). Where google-genai
models a wire message differently from the v1beta proto, a root says so below (for
example ``BidiGenerateContentSetup`` has ``realtimeInputConfig``, which google-genai
keeps only in ``LiveConnectConfig`` and moves into ``setup`` in ``_live_converters``).
"""

from __future__ import annotations

import datetime
import enum
import json
import sys
import types as pytypes
import typing
from pathlib import Path
from typing import Any

import pydantic
from google.genai import types as gt
from google.genai import version as genai_version

OUT = Path(__file__).resolve().parent.parent / "src/api_gemini/emulator/wire_schema.json"

# Fields whose SDK type is a convenience union: the wire type is the message named here.
WIRE_TYPE_OF = {
    ("LiveClientSetup", "system_instruction"): gt.Content,
    ("LiveClientContextUpdate", "system_instruction"): gt.Content,
    ("GenerateContentRequest", "system_instruction"): gt.Content,
    # ToolListUnion also admits Python callables and MCP sessions: on the wire, Tools.
    ("LiveClientSetup", "tools"): list[gt.Tool],
    ("LiveClientContextUpdateTools", "tools"): list[gt.Tool],
}
# Fields google-genai's model class lacks but its converters put on the wire.
EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    # _live_converters._LiveConnectConfig_to_mldev: setv(['setup', 'realtimeInputConfig'])
    "LiveClientSetup": {"realtime_input_config": gt.RealtimeInputConfig},
    # models._GenerateContentConfig_to_mldev: setv(to_object, ['imageConfig'], ...) inside
    # generationConfig.
    "GenerationConfig": {"image_config": gt.ImageConfig},
}
# SDK-only fields that never go on the wire (dropped by the converters).
SDK_ONLY = {"http_options", "abort_signal", "should_return_http_response"}


class TaskType(enum.Enum):
    """The v1beta ``TaskType`` enum, which google-genai types as a plain ``str``.

    Values: https://ai.google.dev/api/embeddings#tasktype.
    """

    TASK_TYPE_UNSPECIFIED = "TASK_TYPE_UNSPECIFIED"
    RETRIEVAL_QUERY = "RETRIEVAL_QUERY"
    RETRIEVAL_DOCUMENT = "RETRIEVAL_DOCUMENT"
    SEMANTIC_SIMILARITY = "SEMANTIC_SIMILARITY"
    CLASSIFICATION = "CLASSIFICATION"
    CLUSTERING = "CLUSTERING"
    QUESTION_ANSWERING = "QUESTION_ANSWERING"
    FACT_VERIFICATION = "FACT_VERIFICATION"
    CODE_RETRIEVAL_QUERY = "CODE_RETRIEVAL_QUERY"


# The service's parser names an enum by its proto name in a refusal: ``Invalid value at
# 'safety_settings[4].category' (type.googleapis.com/google.ai.generativelanguage.
# v1beta.HarmCategory), "X"``. google-genai flattens nested proto enums
# (``GenerationConfig.Modality`` is ``Modality``), so the proto names are listed here:
# those marked "seen" appear in public 400s, the others follow the v1beta protos'
# nesting. An enum not listed keeps google-genai's class name.
PROTO_ENUM_NAMES = {
    # seen: "Invalid value at 'generation_config.response_modalities[0]'
    # (...GenerationConfig.Modality)"
    "Modality": "GenerationConfig.Modality",
    # seen: 567-labs/instructor#1862, NEKOparapa/AiNiee#746
    "HarmCategory": "HarmCategory",
    # seen: "Invalid value at 'safety_settings[0].threshold' (...SafetySetting.HarmBlockThreshold)"
    "HarmBlockThreshold": "SafetySetting.HarmBlockThreshold",
    # seen: "Invalid value at 'generation_config.thinking_config.thinking_level'
    # (...ThinkingConfig.ThinkingLevel)"
    "ThinkingLevel": "ThinkingConfig.ThinkingLevel",
    # seen: "Invalid value at 'task_type' (...v1beta.TaskType)"
    "TaskType": "TaskType",
    "MediaResolution": "GenerationConfig.MediaResolution",
    "Type": "Type",
    "FunctionCallingConfigMode": "FunctionCallingConfig.Mode",
    "Behavior": "FunctionDeclaration.Behavior",
    "FunctionResponseScheduling": "FunctionResponse.Scheduling",
    "ActivityHandling": "RealtimeInputConfig.ActivityHandling",
    "TurnCoverage": "RealtimeInputConfig.TurnCoverage",
    "StartSensitivity": "RealtimeInputConfig.AutomaticActivityDetection.StartSensitivity",
    "EndSensitivity": "RealtimeInputConfig.AutomaticActivityDetection.EndSensitivity",
    "Language": "ExecutableCode.Language",
    "Outcome": "CodeExecutionResult.Outcome",
    "DynamicRetrievalConfigMode": "DynamicRetrievalConfig.Mode",
}
# Proto enums google-genai types as ``str`` whose names are only partly published: the
# known names, and any other identifier, are accepted ("open"); a value that cannot be an
# enum name at all is refused as the service does. TextResponseFormat.mime_type:
# "Invalid value at 'generation_config.response_format.text.mime_type'
# (type.googleapis.com/google.ai.generativelanguage.v1beta.TextResponseFormat.MimeType),
# "application/json"" (a public probe of the service, 2026-09); google-genai's own
# docstring of TextResponseFormat.schema names APPLICATION_JSON.
OPEN_ENUMS = {
    ("TextResponseFormat", "mime_type"): ("TextResponseFormat.MimeType", ["APPLICATION_JSON"]),
}
# Values google-genai's enums have for Vertex AI only: the Gemini API's parser refuses
# them as invalid enum values ("Invalid value at 'safety_settings[5].category'
# (type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory),
# "HARM_CATEGORY_JAILBREAK"": 567-labs/instructor#1862; the IMAGE_* ones:
# NEKOparapa/AiNiee#746, googleapis/js-genai#871).
VERTEX_ONLY_VALUES = {
    "HarmCategory": {
        "HARM_CATEGORY_JAILBREAK",
        "HARM_CATEGORY_IMAGE_HATE",
        "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
        "HARM_CATEGORY_IMAGE_HARASSMENT",
        "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT",
    },
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


class Builder:
    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}

    def spec(self, owner: str, field: str, annotation: Any) -> Any:
        open_enum = OPEN_ENUMS.get((owner, field))
        if open_enum is not None:
            return ["enum", {"type": open_enum[0], "values": open_enum[1], "open": True}]
        override = WIRE_TYPE_OF.get((owner, field))
        if override is not None:
            return self.spec(owner, "", override)
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.spec(owner, field, args[0])
        if origin in (typing.Union, pytypes.UnionType):
            members = [a for a in args if a is not type(None)]
            if len(members) == 1:
                return self.spec(owner, field, members[0])
            # A convenience union: prefer the list, then the message.
            for member in members:
                if typing.get_origin(member) is list:
                    return self.spec(owner, field, member)
            for member in members:
                if isinstance(member, type) and issubclass(member, pydantic.BaseModel):
                    return self.spec(owner, field, member)
            return ["struct", None]
        if origin is list:
            return ["repeated", self.spec(owner, field, args[0] if args else Any)]
        if origin is dict:
            value = args[1] if len(args) == 2 else Any
            inner = self.spec(owner, field, value)
            return ["struct", None] if inner == ["struct", None] else ["map", inner]
        if annotation is Any or annotation is object:
            return ["struct", None]
        if isinstance(annotation, type):
            if issubclass(annotation, enum.Enum):
                proto = PROTO_ENUM_NAMES.get(annotation.__name__, annotation.__name__)
                vertex_only = VERTEX_ONLY_VALUES.get(annotation.__name__, set())
                values = [m.value for m in annotation if m.value not in vertex_only]
                return ["enum", {"type": proto, "values": values}]
            if issubclass(annotation, bool):
                return ["bool", None]
            if issubclass(annotation, int):
                return ["int", None]
            if issubclass(annotation, float):
                return ["number", None]
            if issubclass(annotation, bytes):
                return ["bytes", None]
            if issubclass(annotation, str):
                return ["string", None]
            if issubclass(annotation, datetime.datetime):
                return ["timestamp", None]
            if issubclass(annotation, datetime.timedelta):
                return ["duration", None]
            if issubclass(annotation, pydantic.BaseModel):
                self.add(annotation)
                return ["message", annotation.__name__]
        return ["struct", None]

    def add(self, model: type[pydantic.BaseModel], name: str | None = None) -> None:
        name = name or model.__name__
        if name in self.messages:
            return
        fields: dict[str, Any] = {}
        self.messages[name] = fields
        hints = typing.get_type_hints(model, include_extras=True)
        extra = EXTRA_FIELDS.get(name, {})
        for field, annotation in {**{f: hints[f] for f in model.model_fields}, **extra}.items():
            if field in SDK_ONLY:
                continue
            # The wire name is the field's alias where google-genai gives one
            # (TextResponseFormat.jsonSchema goes out as "schema"), else its camelCase.
            info = model.model_fields.get(field)
            wire = info.alias if info is not None and info.alias else camel(field)
            fields[wire] = self.spec(name, field, annotation)


class GenerateContentRequest(pydantic.BaseModel):
    """The v1beta GenerateContentRequest body (google-genai flattens it into a config)."""

    model: str | None = None
    contents: list[gt.Content] | None = None
    system_instruction: gt.Content | None = None
    tools: list[gt.Tool] | None = None
    tool_config: gt.ToolConfig | None = None
    safety_settings: list[gt.SafetySetting] | None = None
    generation_config: gt.GenerationConfig | None = None
    cached_content: str | None = None
    labels: dict[str, str] | None = None
    # Set on the request itself by models._GenerateContentConfig_to_mldev.
    service_tier: gt.ServiceTier | None = None
    store: bool | None = None
    continuation_token: bytes | None = None


class CountTokensRequest(pydantic.BaseModel):
    """The v1beta CountTokensRequest body."""

    contents: list[gt.Content] | None = None
    generate_content_request: GenerateContentRequest | None = None


class EmbedContentRequest(pydantic.BaseModel):
    """The v1beta EmbedContentRequest (google-genai: ``_EmbedContentConfig_to_mldev``)."""

    model: str | None = None
    content: gt.Content | None = None
    # google-genai: str; the wire (and the REST reference): the TaskType enum.
    task_type: TaskType | None = None
    title: str | None = None
    output_dimensionality: int | None = None


class BatchEmbedContentsRequest(pydantic.BaseModel):
    """The v1beta BatchEmbedContentsRequest, what google-genai's embed_content sends."""

    requests: list[EmbedContentRequest] | None = None


class CreateAuthTokenRequest(pydantic.BaseModel):
    """The v1alpha AuthToken resource a client POSTs to ``auth_tokens``."""

    expire_time: datetime.datetime | None = None
    new_session_expire_time: datetime.datetime | None = None
    uses: int | None = None
    bidi_generate_content_setup: gt.LiveClientSetup | None = None
    field_mask: str | None = None


def main() -> None:
    builder = Builder()
    builder.add(gt.LiveClientMessage)
    builder.add(GenerateContentRequest)
    builder.add(CountTokensRequest)
    builder.add(EmbedContentRequest)
    builder.add(BatchEmbedContentsRequest)
    builder.add(CreateAuthTokenRequest)
    table = {
        "_generated_by": "scripts/gen_wire_schema.py",
        "_google_genai": genai_version.__version__,
        "messages": dict(sorted(builder.messages.items())),
    }
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    print(f"{out}: {len(builder.messages)} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
