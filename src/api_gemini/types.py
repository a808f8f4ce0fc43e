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

from ._wire import RawFrame, WireStruct, convert, encode
from .errors import InvalidRequestError

__all__ = [
    "BatchEmbedContentsResponse",
    "Blob",
    "Candidate",
    "CodeExecutionResult",
    "Content",
    "ContentEmbedding",
    "CountTokensRequest",
    "CountTokensResponse",
    "EmbedContentRequest",
    "EmbedContentResponse",
    "EmbedLike",
    "ExecutableCode",
    "FileData",
    "FunctionCall",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "GroundingMetadata",
    "ListModelsResponse",
    "ModalityTokenCount",
    "ModelInfo",
    "Part",
    "RequestLike",
    "SafetySetting",
    "SpeechConfig",
    "ThinkingConfig",
    "Tool",
    "ToolConfig",
    "Transcription",
    "UrlContextMetadata",
    "UrlMetadata",
    "UsageMetadata",
    "VoiceConfig",
    "coerce_embed_request",
    "coerce_request",
    "decode_json",
    "encode_json",
]


_Wire = WireStruct  # every type below takes ``extra=`` (fields sent as given)


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
    """The caller's answer to a :class:`FunctionCall`.

    For a ``NON_BLOCKING`` function (Live API), ``scheduling`` says what the model does
    with the answer: ``"INTERRUPT"`` (speak about it now; the docs' prose calls it
    INTERRUPTED, the wire enum of google-genai 3.6.1 is ``INTERRUPT``), ``"WHEN_IDLE"``
    (after the current answer) or ``"SILENT"`` (only add it to the context); ``will_continue=True``
    says more responses to the same call follow (an empty one with ``False`` ends it).
    """

    name: str
    # None, not {}, as the default: an empty response ({} with will_continue=False
    # ends a NON_BLOCKING call) must still be sent, and msgspec omits defaults.
    response: dict[str, Any] | None = None
    id: str | None = None
    will_continue: bool | None = None
    scheduling: str | None = None
    parts: list[dict[str, Any]] | None = None


class ExecutableCode(_Wire):
    """Code the model wrote for the code-execution tool (``executableCode`` part)."""

    code: str | None = None
    language: str | None = None
    id: str | None = None


class CodeExecutionResult(_Wire):
    """The result of running :class:`ExecutableCode` (``codeExecutionResult`` part)."""

    outcome: str | None = None
    output: str | None = None
    id: str | None = None


class Part(_Wire):
    """One piece of a :class:`Content`: text, inline data, a file, a call or a reply,
    code the model ran and its result."""

    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    executable_code: ExecutableCode | None = None
    code_execution_result: CodeExecutionResult | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    video_metadata: dict[str, Any] | None = None
    media_resolution: dict[str, Any] | None = None


class Content(_Wire):
    """A turn of the conversation: a role (``user`` or ``model``) and its parts."""

    parts: list[Part] = msgspec.field(default_factory=list)
    role: str | None = None

    @classmethod
    def user_text(cls, text: str) -> Content:
        """A user turn holding one text part."""
        return cls(role="user", parts=[Part(text=text)])


class ThinkingConfig(_Wire):
    """``thinkingConfig``: ``thinking_level`` (``"minimal"``/``"low"``/``"medium"``/
    ``"high"``) on Gemini 3 models, ``thinking_budget`` (tokens) on 2.5 models."""

    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None


class VoiceConfig(_Wire):
    """``voiceConfig``: ``prebuilt_voice_config={"voiceName": "Kore"}``."""

    prebuilt_voice_config: dict[str, Any] | None = None


class SpeechConfig(_Wire):
    """``speechConfig``: the voice and language of audio answers."""

    voice_config: VoiceConfig | None = None
    language_code: str | None = None
    multi_speaker_voice_config: dict[str, Any] | None = None


class GenerationConfig(_Wire):
    """Sampling and output settings (``generationConfig``).

    ``response_schema`` (OpenAPI subset) and ``response_json_schema`` (JSON Schema) are
    free-form: their keys are sent exactly as given.
    """

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | float | None = None
    candidate_count: int | None = None
    max_output_tokens: int | None = None
    stop_sequences: list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: Any = None
    response_modalities: list[str] | None = None
    media_resolution: str | None = None
    speech_config: SpeechConfig | None = None
    thinking_config: ThinkingConfig | None = None
    enable_affective_dialog: bool | None = None


class SafetySetting(_Wire):
    """A blocking threshold for one harm category."""

    category: str
    threshold: str


class FunctionDeclaration(_Wire):
    """A function the model may call; ``parameters`` is an OpenAPI-style schema,
    ``parameters_json_schema`` a JSON Schema (both sent exactly as given).

    ``behavior``: ``"NON_BLOCKING"`` (the model goes on talking while the function runs;
    the default on ``gemini-3.8-live``) or ``"BLOCKING"`` (Live API).
    """

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    parameters_json_schema: Any = None
    response: dict[str, Any] | None = None
    response_json_schema: Any = None
    behavior: str | None = None


class Tool(_Wire):
    """Tools offered to the model: functions, and the service's own tools
    (``{}`` enables one: ``Tool(google_search={})``, ``Tool(url_context={})``)."""

    function_declarations: list[FunctionDeclaration] | None = None
    google_search: dict[str, Any] | None = None
    google_search_retrieval: dict[str, Any] | None = None
    code_execution: dict[str, Any] | None = None
    url_context: dict[str, Any] | None = None
    google_maps: dict[str, Any] | None = None
    file_search: dict[str, Any] | None = None
    computer_use: dict[str, Any] | None = None


class ToolConfig(_Wire):
    """How the model may use tools (``functionCallingConfig``, ``retrievalConfig``)."""

    function_calling_config: dict[str, Any] | None = None
    retrieval_config: dict[str, Any] | None = None


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
    """Token accounting for a request and its answer, with details per modality for
    the prompt, the cache, tool use and the answer."""

    prompt_token_count: int | None = None
    candidates_token_count: int | None = None
    total_token_count: int | None = None
    cached_content_token_count: int | None = None
    thoughts_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    cache_tokens_details: list[ModalityTokenCount] | None = None
    candidates_tokens_details: list[ModalityTokenCount] | None = None
    tool_use_prompt_tokens_details: list[ModalityTokenCount] | None = None
    traffic_type: str | None = None


class GroundingMetadata(_Wire):
    """How an answer is grounded (Google Search, Maps): queries, sources and which
    part of the answer each source supports."""

    web_search_queries: list[str] | None = None
    search_entry_point: dict[str, Any] | None = None
    grounding_chunks: list[dict[str, Any]] | None = None
    grounding_supports: list[dict[str, Any]] | None = None
    retrieval_metadata: dict[str, Any] | None = None
    google_maps_widget_context_token: str | None = None
    image_search_queries: list[str] | None = None
    retrieval_queries: list[str] | None = None


class UrlMetadata(_Wire):
    """One URL the URL-context tool fetched, and whether that worked."""

    retrieved_url: str | None = None
    url_retrieval_status: str | None = None


class UrlContextMetadata(_Wire):
    """The URLs the URL-context tool fetched."""

    url_metadata: list[UrlMetadata] | None = None


class Transcription(_Wire):
    """A piece of audio transcription; ``finished`` marks the end of the utterance."""

    text: str | None = None
    finished: bool | None = None


class Candidate(_Wire):
    """One answer of the model."""

    content: Content | None = None
    finish_reason: str | None = None
    finish_message: str | None = None
    index: int | None = None
    safety_ratings: list[dict[str, Any]] | None = None
    citation_metadata: dict[str, Any] | None = None
    grounding_metadata: GroundingMetadata | None = None
    url_context_metadata: UrlContextMetadata | None = None
    avg_logprobs: float | None = None
    logprobs_result: dict[str, Any] | None = None
    token_count: int | None = None


class GenerateContentResponse(_Wire, RawFrame, dict=True):
    """A whole answer (unary) or one chunk of it (SSE and WebSocket streaming).

    ``.raw`` is the decoded frame the response came from, every field included.
    Over the Live API in AUDIO, a chunk's ``output_transcription`` is the text of the
    audio in ``.audio``, and ``.text`` includes it.
    """

    candidates: list[Candidate] = msgspec.field(default_factory=list)
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    prompt_feedback: dict[str, Any] | None = None
    model_status: dict[str, Any] | None = None
    #: Live API only (not an HTTP field): the transcription of this chunk's audio.
    output_transcription: Transcription | None = None

    @property
    def text(self) -> str:
        """The text of the first candidate's non-thought parts, joined, then the output
        audio transcription of the chunk (Live API, AUDIO); ``""`` if none."""
        transcription = self.output_transcription
        spoken = (transcription.text or "") if transcription is not None else ""
        if not self.candidates:
            return spoken
        content = self.candidates[0].content
        if content is None:
            return spoken
        parts = content.parts
        # One-part chunks are the streaming norm: skip the join for them.
        if len(parts) == 1:
            part = parts[0]
            return (part.text or "" if not part.thought else "") + spoken
        return "".join(p.text for p in parts if p.text and not p.thought) + spoken

    @property
    def audio(self) -> bytes:
        """The inline ``audio/*`` data of the first candidate's parts (Live API: 16-bit
        PCM, 24 kHz, mono), joined; ``b""`` if none."""
        if not self.candidates or self.candidates[0].content is None:
            return b""
        return b"".join(
            p.inline_data.data
            for p in self.candidates[0].content.parts
            if p.inline_data is not None and p.inline_data.mime_type.startswith("audio/")
        )

    @property
    def finish_reason(self) -> str | None:
        """The first candidate's finish reason, if the answer has ended."""
        return self.candidates[0].finish_reason if self.candidates else None


class ModelInfo(_Wire, RawFrame, dict=True):
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


class ListModelsResponse(_Wire, RawFrame, dict=True):
    """One page of the model catalog."""

    models: list[ModelInfo] = msgspec.field(default_factory=list)
    next_page_token: str | None = None


class EmbedContentRequest(_Wire):
    """The body of ``embedContent`` (and one entry of ``batchEmbedContents``, with its
    ``model``): https://ai.google.dev/api/embeddings. ``task_type`` such as
    ``"RETRIEVAL_DOCUMENT"``; ``title`` for that task; ``output_dimensionality`` cuts
    the vector."""

    content: Content
    model: str | None = None
    task_type: str | None = None
    title: str | None = None
    output_dimensionality: int | None = None


class ContentEmbedding(_Wire):
    """One embedding vector."""

    values: list[float] = msgspec.field(default_factory=list)


class EmbedContentResponse(_Wire, RawFrame, dict=True):
    """The answer of ``embedContent``."""

    embedding: ContentEmbedding | None = None


class BatchEmbedContentsResponse(_Wire, RawFrame, dict=True):
    """The answer of ``batchEmbedContents``: one embedding per request, in order."""

    embeddings: list[ContentEmbedding] = msgspec.field(default_factory=list)


#: What the embedding methods accept: a text, a Content, a request, or its dict.
EmbedLike: TypeAlias = "EmbedContentRequest | Content | Mapping[str, Any] | str"


def coerce_embed_request(value: EmbedLike, model: str | None = None) -> EmbedContentRequest:
    """A text, a :class:`Content`, a dict (either spelling) or a request as a request
    (``model``, ``models/...``, set when given: batch entries need it).

    Raises:
        InvalidRequestError: another type, or a dict of the wrong shape.
    """
    if isinstance(value, str):
        request = EmbedContentRequest(content=Content(parts=[Part(text=value)]))
    elif isinstance(value, Content):
        request = EmbedContentRequest(content=value)
    elif isinstance(value, EmbedContentRequest | Mapping):
        request = convert(value, EmbedContentRequest)
    else:
        raise InvalidRequestError(
            f"an embedding input must be a str, Content, EmbedContentRequest or dict, "
            f"not {type(value).__name__}"
        )
    if model is not None and request.model is None:
        request = msgspec.structs.replace(request, model=model)
    return request


class CountTokensRequest(_Wire):
    """The body of ``countTokens``."""

    contents: list[Content] | None = None
    generate_content_request: dict[str, Any] | None = None


class CountTokensResponse(_Wire, RawFrame, dict=True):
    """The answer of ``countTokens``."""

    total_tokens: int = 0
    cached_content_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None


#: What the request-taking methods accept.
RequestLike: TypeAlias = GenerateContentRequest | Mapping[str, Any] | str


def encode_json(value: Any) -> bytes:
    """Encode a wire type (or plain data) as compact JSON bytes, each ``extra`` merged
    into its object."""
    return encode(value)


def decode_json(data: bytes | str, type_: type[Any]) -> Any:
    """Decode JSON into ``type_``; raises :class:`msgspec.DecodeError` on bad input."""
    return msgspec.json.decode(data, type=type_)


def coerce_request(request: RequestLike) -> GenerateContentRequest:
    """Turn a prompt string, a wire-form dict or a request into a request.

    A dict may spell keys in camelCase or snake_case, at any depth; keys the library
    does not type are kept (in ``extra``) and sent as given.

    Raises:
        InvalidRequestError: the dict does not have the request's shape, or the value
            is of another type. Raised before anything is sent.
    """
    if isinstance(request, GenerateContentRequest):
        return request
    if isinstance(request, str):
        return GenerateContentRequest(contents=[Content.user_text(request)])
    if isinstance(request, Mapping):
        return convert(request, GenerateContentRequest)
    raise InvalidRequestError(
        "a request must be a GenerateContentRequest, a wire-form dict or a prompt string, "
        f"not {type(request).__name__}"
    )
