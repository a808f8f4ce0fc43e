"""The emulator is never kinder than the service: enum values, keys, Vertex-only values.

Each test here failed on the emulator before this change (it accepted what the service
refuses, or refused in words of its own), except where a test says it documents a
decision. Sources are in the tests and in ``docs/emulator-fidelity.md``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import websockets

from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.__main__ import build_parser, config_from_args
from helpers import KEY_HEADERS

MakeEmulator = Callable[..., Awaitable[Emulator]]

LIVE_MODEL = "models/gemini-3.8-live"
FLASH = "gemini-2.5-flash"
TYPE_URL = "type.googleapis.com/google.ai.generativelanguage"
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)


async def post(
    emu: Emulator, path: str, body: Any, headers: dict[str, str] | None = KEY_HEADERS
) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(f"{emu.base_url}{path}", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def live_close(
    emu: Emulator, *messages: dict[str, Any], headers: dict[str, str] | None = KEY_HEADERS
) -> tuple[int, str]:
    async with websockets.connect(emu.live_url(), additional_headers=headers) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def text_request(**fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **fields}


# -- invalid enum values ---------------------------------------------------------------


async def test_an_invalid_enum_value_is_a_400_in_the_service_words(emulator: Emulator) -> None:
    # The service's body, quoted whole in 567-labs/instructor#1862 (the Gemini API has
    # no HARM_CATEGORY_JAILBREAK: google-genai's enum has it for Vertex AI). The emulator
    # used to accept it.
    body = text_request(
        safetySettings=[{"category": "HARM_CATEGORY_JAILBREAK", "threshold": "BLOCK_NONE"}]
    )
    status, answer = await post(emulator, f"/v1beta/models/{FLASH}:generateContent", body)
    sentence = (
        f"Invalid value at 'safety_settings[0].category' ({TYPE_URL}.v1beta.HarmCategory),"
        ' "HARM_CATEGORY_JAILBREAK"'
    )
    assert status == 400
    assert answer["error"] == {
        "code": 400,
        "message": sentence,
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": "safety_settings[0].category", "description": sentence}
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    "category",
    [
        "HARM_CATEGORY_IMAGE_HATE",
        "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT",
        "HARM_CATEGORY_IMAGE_HARASSMENT",
        "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT",
    ],
)
async def test_vertex_only_image_harm_categories_are_refused(
    emulator: Emulator, category: str
) -> None:
    # NEKOparapa/AiNiee#746, googleapis/js-genai#871.
    body = text_request(safetySettings=[{"category": category, "threshold": "OFF"}])
    status, answer = await post(emulator, f"/v1beta/models/{FLASH}:generateContent", body)
    assert status == 400
    assert answer["error"]["message"] == (
        f"Invalid value at 'safety_settings[0].category' ({TYPE_URL}.v1beta.HarmCategory),"
        f' "{category}"'
    )


async def test_the_type_url_names_the_api_version(emulator: Emulator) -> None:
    # A v1alpha request names v1alpha's package (the form quoted in public reports:
    # "(type.googleapis.com/google.ai.generativelanguage.v1alpha.Content)").
    body = text_request(generationConfig={"thinkingConfig": {"thinkingLevel": "BOGUS"}})
    status, answer = await post(emulator, f"/v1alpha/models/{FLASH}:generateContent", body)
    assert status == 400
    assert answer["error"]["message"] == (
        "Invalid value at 'generation_config.thinking_config.thinking_level' "
        f'({TYPE_URL}.v1alpha.ThinkingConfig.ThinkingLevel), "BOGUS"'
    )


async def test_scheduling_interrupted_is_not_an_enum_name(emulator: Emulator) -> None:
    # google-genai 3.6.1's FunctionResponseScheduling is SILENT / WHEN_IDLE / INTERRUPT;
    # the 3.8 Live page's "INTERRUPTED" is prose. The emulator used to take it as
    # INTERRUPT. Over HTTP the whole sentence shows; Live cuts a close reason to 123 bytes.
    part = {"functionResponse": {"name": "f", "response": {}, "scheduling": "INTERRUPTED"}}
    body = {"contents": [{"role": "user", "parts": [part]}]}
    status, answer = await post(emulator, f"/v1beta/models/{FLASH}:generateContent", body)
    sentence = (
        "Invalid value at 'contents[0].parts[0].function_response.scheduling' "
        f'({TYPE_URL}.v1beta.FunctionResponse.Scheduling), "INTERRUPTED"'
    )
    assert (status, answer["error"]["message"]) == (400, sentence)

    response = {"id": "x", "name": "f", "response": {}, "scheduling": "INTERRUPTED"}
    code, reason = await live_close(
        emulator,
        {"setup": {"model": LIVE_MODEL}},
        {"toolResponse": {"functionResponses": [response]}},
    )
    live_sentence = (
        "Invalid value at 'tool_response.function_responses[0].scheduling' "
        f'({TYPE_URL}.v1beta.FunctionResponse.Scheduling), "INTERRUPTED"'
    )
    assert (code, reason) == (1007, live_sentence.encode()[:123].decode())


async def test_enum_names_are_matched_without_regard_to_case(emulator: Emulator) -> None:
    # Documents a decision (this passed before too): the service takes enum names in
    # any case. Google's own Live web console template sent "responseModalities":
    # "audio" (google-gemini/live-api-web-console, src/components/altair/Altair.tsx),
    # and the function-calling REST examples send "type": "object". Refusing them would
    # make the emulator stricter than the service.
    setup = {"model": LIVE_MODEL, "generationConfig": {"responseModalities": ["audio"]}}
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await ws.send(json.dumps({"setup": setup}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"setupComplete": {}}
    tool = {"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}
    status, _ = await post(
        emulator, f"/v1beta/models/{FLASH}:generateContent", text_request(tools=[tool])
    )
    assert status == 200


# -- enums google-genai types as strings -------------------------------------------------


async def test_task_type_is_checked_against_the_services_enum(emulator: Emulator) -> None:
    # google-genai types EmbedContentConfig.task_type as str; the wire field is the
    # TaskType enum (https://ai.google.dev/api/embeddings#tasktype), and the service
    # refuses other values: "Invalid value at 'task_type'
    # (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType)". The emulator
    # used to answer 200.
    base = "/v1beta/models/gemini-embedding-001"
    content = {"parts": [{"text": "hi"}]}
    status, answer = await post(
        emulator, f"{base}:embedContent", {"content": content, "taskType": "NOPE"}
    )
    assert (status, answer["error"]["message"]) == (
        400,
        f"Invalid value at 'task_type' ({TYPE_URL}.v1beta.TaskType), \"NOPE\"",
    )
    one = {"model": "models/gemini-embedding-001", "content": content}
    batch = {"requests": [one, {**one, "task_type": "X"}]}
    status, answer = await post(emulator, f"{base}:batchEmbedContents", batch)
    assert (status, answer["error"]["details"][0]["fieldViolations"][0]["field"]) == (
        400,
        "requests[1].task_type",
    )
    for task in ("RETRIEVAL_QUERY", "CODE_RETRIEVAL_QUERY", "question_answering"):
        status, _ = await post(
            emulator, f"{base}:embedContent", {"content": content, "taskType": task}
        )
        assert status == 200, task


# -- keys ------------------------------------------------------------------------------


async def test_a_request_without_a_key_is_refused_by_default(emulator: Emulator) -> None:
    # The service refuses a keyless request: HTTP 403 PERMISSION_DENIED and, for Live,
    # close 1008 with the same sentence (google-gemini/cookbook#821). The emulator's
    # default (api_key=None) used to accept it; any key is accepted.
    status, answer = await post(
        emulator, f"/v1beta/models/{FLASH}:generateContent", text_request(), headers=None
    )
    assert (status, answer["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert answer["error"]["message"] == UNREGISTERED
    code, reason = await live_close(emulator, {"setup": {"model": LIVE_MODEL}}, headers=None)
    assert (code, reason) == (1008, UNREGISTERED.encode()[:123].decode())
    status, _ = await post(
        emulator,
        f"/v1beta/models/{FLASH}:generateContent",
        text_request(),
        headers={"x-goog-api-key": "any-key-at-all"},
    )
    assert status == 200


async def test_authentication_off_is_an_explicit_opt_in(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(require_key=False)
    status, _ = await post(
        emu, f"/v1beta/models/{FLASH}:generateContent", text_request(), headers=None
    )
    assert status == 200
    async with websockets.connect(emu.live_url()) as ws:
        await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"setupComplete": {}}
    with pytest.raises(ValueError, match="require_key=False"):
        EmulatorConfig(api_key="k", require_key=False)


def test_the_command_line_needs_a_key_unless_told_otherwise() -> None:
    parser = build_parser()
    assert config_from_args(parser.parse_args([])).require_key is True
    assert config_from_args(parser.parse_args(["--no-auth"])).require_key is False
    keyed = config_from_args(parser.parse_args(["--api-key", "k"]))
    assert (keyed.api_key, keyed.require_key) == ("k", True)


async def test_a_single_value_for_a_repeated_field_is_a_list_of_one(emulator: Emulator) -> None:
    # The emulator used to refuse this with a sentence of its own ("(repeated)"): stricter
    # than the service, which took Google's own Live console template's
    # "responseModalities": "audio" (google-gemini/live-api-web-console,
    # src/components/altair/Altair.tsx). The value is still checked: TEXT is refused as
    # it is in a list.
    setup = {"model": LIVE_MODEL, "generationConfig": {"responseModalities": "audio"}}
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await ws.send(json.dumps({"setup": setup}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"setupComplete": {}}
    text = {"model": LIVE_MODEL, "generationConfig": {"responseModalities": "TEXT"}}
    code, reason = await live_close(emulator, {"setup": text})
    assert (code, reason) == (1007, "Cannot extract voices from a non-audio request.")


async def test_a_mime_type_is_not_a_text_response_format_name(emulator: Emulator) -> None:
    # google-genai types TextResponseFormat.mime_type as str; the service's field is an
    # enum, and it refuses a MIME string with exactly this sentence (a public probe of
    # the service, 2026-09). The enum's names are not published beyond APPLICATION_JSON
    # (google-genai's own docstring): other identifiers are accepted, a value that
    # cannot be an enum name is refused. The emulator used to accept anything; it also
    # refused the field's wire name "schema" (google-genai's alias of jsonSchema).
    url = f"/v1beta/models/{FLASH}:generateContent"
    text = {"mimeType": "application/json", "schema": {"type": "object"}}
    status, answer = await post(
        emulator, url, text_request(generationConfig={"responseFormat": {"text": text}})
    )
    assert (status, answer["error"]["message"]) == (
        400,
        "Invalid value at 'generation_config.response_format.text.mime_type' "
        f'({TYPE_URL}.v1beta.TextResponseFormat.MimeType), "application/json"',
    )
    text["mimeType"] = "APPLICATION_JSON"
    status, _ = await post(
        emulator, url, text_request(generationConfig={"responseFormat": [{"text": text}]})
    )
    assert status == 200
