"""msgspec mirror of ``_wire_pydantic`` (same classes), for a like-for-like import time.

The speed figures use the project's real types (``api_gemini.types``); this module exists
so that ``import`` cost is compared without the rest of the ``api_gemini`` package.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    pass


class Blob(_Wire):
    mime_type: str = ""
    data: bytes = b""


class FileData(_Wire):
    file_uri: str
    mime_type: str | None = None


class FunctionCall(_Wire):
    name: str
    args: dict[str, Any] | None = None
    id: str | None = None


class FunctionResponse(_Wire):
    name: str
    response: dict[str, Any] = msgspec.field(default_factory=dict)
    id: str | None = None


class Part(_Wire):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None
    thought: bool | None = None
    thought_signature: str | None = None


class Content(_Wire):
    parts: list[Part] = msgspec.field(default_factory=list)
    role: str | None = None


class GenerationConfig(_Wire):
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
    category: str
    threshold: str


class FunctionDeclaration(_Wire):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Wire):
    function_declarations: list[FunctionDeclaration] | None = None
    google_search: dict[str, Any] | None = None
    code_execution: dict[str, Any] | None = None


class ToolConfig(_Wire):
    function_calling_config: dict[str, Any] | None = None


class GenerateContentRequest(_Wire):
    contents: list[Content] = msgspec.field(default_factory=list)
    system_instruction: Content | None = None
    generation_config: GenerationConfig | None = None
    safety_settings: list[SafetySetting] | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    cached_content: str | None = None


class ModalityTokenCount(_Wire):
    modality: str | None = None
    token_count: int = 0


class UsageMetadata(_Wire):
    prompt_token_count: int | None = None
    candidates_token_count: int | None = None
    total_token_count: int | None = None
    cached_content_token_count: int | None = None
    thoughts_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    candidates_tokens_details: list[ModalityTokenCount] | None = None


class Candidate(_Wire):
    content: Content | None = None
    finish_reason: str | None = None
    index: int | None = None
    safety_ratings: list[dict[str, Any]] | None = None
    token_count: int | None = None


class GenerateContentResponse(_Wire):
    candidates: list[Candidate] = msgspec.field(default_factory=list)
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    prompt_feedback: dict[str, Any] | None = None


class LiveServerContent(_Wire):
    model_turn: Content | None = None
    turn_complete: bool | None = None
    generation_complete: bool | None = None
    interrupted: bool | None = None


class LiveServerMessage(_Wire):
    server_content: LiveServerContent | None = None
    setup_complete: dict[str, Any] | None = None
    tool_call: dict[str, Any] | None = None
