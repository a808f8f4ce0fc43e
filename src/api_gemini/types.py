"""Wire types of the Gemini API.

Every type is a :class:`msgspec.Struct`: camelCase on the wire, snake_case in Python,
fields the server adds later are skipped on decode (never an error), and fields left at
their default are not sent. msgspec was chosen over pydantic by measurement: see
``docs/decisions.md``.

Build requests with keyword arguments::

    GenerateContentRequest(
        contents=[Content(role="user", parts=[Part(text="Hello")])],
        generation_config=GenerationConfig(max_output_tokens=64),
    )

or pass a wire-form dict or a plain prompt string wherever a request is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import msgspec

from .errors import InvalidRequestError

__all__ = [
    "Blob",
    "Candidate",
    "Content",
    "CountTokensRequest",
    "CountTokensResponse",
    "FileData",
    "FunctionCall",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "ListModelsResponse",
    "ModalityTokenCount",
    "ModelInfo",
    "Part",
    "RequestLike",
    "SafetySetting",
    "Tool",
    "ToolConfig",
    "UsageMetadata",
    "coerce_request",
    "decode_json",
    "encode_json",
]


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of all wire types: camelCase names, defaults omitted, keyword-only."""

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form (camelCase keys, defaults omitted) as plain Python."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class Blob(_Wire):
    """Inline bytes with their MIME type (``inlineData``); base64 on the wire."""

    mime_type: str = ""
    data: bytes = b""


class FileData(_Wire):
    """A reference to an uploaded file (``fileData``)."""

    file_uri: str
    mime_type: str | None = None


class FunctionCall(_Wire):
    """A call the model asks the caller to make."""

    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(_Wire):
    """The caller's answer to a :class:`FunctionCall`."""

    name: str
    response: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None


class Part(_Wire):
    """One piece of a :class:`Content`: text, inline data, a file, a call or a reply."""

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    thought: bool | None = None
    thought_signature: str | None = None


class Content(_Wire):
    """A turn of the conversation: a role (``user`` or ``model``) and its parts."""

    parts: list[Part] = msgspec.field(default_factory=list)
    role: str | None = None

    @classmethod
    def user_text(cls, text: str) -> Content:
        """A user turn holding one text part."""
        return cls(role="user", parts=[Part(text=text)])


class GenerationConfig(_Wire):
    """Sampling and output settings (``generationConfig``)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_modalities: list[str] | None = None
    speech_config: dict[str, Any] | None = None
    thinking_config: dict[str, Any] | None = None


class SafetySetting(_Wire):
    """A blocking threshold for one harm category."""

    category: str
    threshold: str


class FunctionDeclaration(_Wire):
    """A function the model may call; ``parameters`` is an OpenAPI-style schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parameters_json_schema: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


class Tool(_Wire):
    """Tools offered to the model."""

    function_declarations: list[FunctionDeclaration] | None = None
    google_search: dict[str, Any] | None = None
    code_execution: dict[str, Any] | None = None


class ToolConfig(_Wire):
    """How the model may use tools (``functionCallingConfig``)."""

    function_calling_config: dict[str, Any] | None = None


class GenerateContentRequest(_Wire):
    """The body of ``generateContent`` and ``streamGenerateContent``."""

    contents: list[Content] = msgspec.field(default_factory=list)
    system_instruction: Content | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: list[SafetySetting] | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    cached_content: str | None = None


class ModalityTokenCount(_Wire):
    """A token count for one modality (TEXT, AUDIO, ...)."""

    modality: str | None = None
    token_count: int = 0


class UsageMetadata(_Wire):
    """Token accounting for a request and its answer."""

    prompt_token_count: int | None = None
    candidates_token_count: int | None = None
    total_token_count: int | None = None
    cached_content_token_count: int | None = None
    thoughts_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    candidates_tokens_details: list[ModalityTokenCount] | None = None


class Candidate(_Wire):
    """One answer of the model."""

    content: Content | None = None
    finish_reason: str | None = None
    index: int | None = None
    safety_ratings: list[dict[str, Any]] | None = None
    token_count: int | None = None


class GenerateContentResponse(_Wire):
    """A whole answer (unary) or one chunk of it (SSE and WebSocket streaming)."""

    candidates: list[Candidate] = msgspec.field(default_factory=list)
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    prompt_feedback: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The text of the first candidate's non-thought parts, joined; ``""`` if none."""
        if not self.candidates:
            return ""
        content = self.candidates[0].content
        if content is None:
            return ""
        parts = content.parts
        # One-part chunks are the streaming norm: skip the join for them.
        if len(parts) == 1:
            part = parts[0]
            return part.text or "" if not part.thought else ""
        return "".join(p.text for p in parts if p.text and not p.thought)

    @property
    def finish_reason(self) -> str | None:
        """The first candidate's finish reason, if the answer has ended."""
        return self.candidates[0].finish_reason if self.candidates else None


class ModelInfo(_Wire):
    """A model of the catalog (``GET /models``)."""

    name: str
    base_model_id: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    input_token_limit: int | None = None
    output_token_limit: int | None = None
    supported_generation_methods: list[str] = msgspec.field(default_factory=list)
    temperature: float | None = None
    max_temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    thinking: bool | None = None


class ListModelsResponse(_Wire):
    """One page of the model catalog."""

    models: list[ModelInfo] = msgspec.field(default_factory=list)
    next_page_token: str | None = None


class CountTokensRequest(_Wire):
    """The body of ``countTokens``."""

    contents: list[Content] | None = None
    generate_content_request: dict[str, Any] | None = None


class CountTokensResponse(_Wire):
    """The answer of ``countTokens``."""

    total_tokens: int = 0
    cached_content_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None


#: What the request-taking methods accept.
RequestLike: TypeAlias = GenerateContentRequest | Mapping[str, Any] | str

_encoder = msgspec.json.Encoder()


def encode_json(value: Any) -> bytes:
    """Encode a wire type (or plain data) as compact JSON bytes."""
    return _encoder.encode(value)


def decode_json(data: bytes | str, type_: type[Any]) -> Any:
    """Decode JSON into ``type_``; raises :class:`msgspec.DecodeError` on bad input."""
    return msgspec.json.decode(data, type=type_)


def coerce_request(request: RequestLike) -> GenerateContentRequest:
    """Turn a prompt string, a wire-form dict or a request into a request.

    Raises:
        InvalidRequestError: the dict does not have the request's shape, or the value
            is of another type. Raised before anything is sent.
    """
    if isinstance(request, GenerateContentRequest):
        return request
    if isinstance(request, str):
        return GenerateContentRequest(contents=[Content.user_text(request)])
    if isinstance(request, Mapping):
        try:
            return msgspec.convert(dict(request), GenerateContentRequest)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"invalid GenerateContentRequest: {exc}") from None
    raise InvalidRequestError(
        "a request must be a GenerateContentRequest, a wire-form dict or a prompt string, "
        f"not {type(request).__name__}"
    )
