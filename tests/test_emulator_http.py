"""The emulator's HTTP API, driven by raw aiohttp and httpx2 clients on real sockets."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
import pytest

from api_gemini.emulator import Emulator
from api_gemini.emulator.catalog import CATALOG

#: The ``make_emulator`` fixture (see conftest).
MakeEmulator = Callable[..., Awaitable[Emulator]]

FLASH = "gemini-2.5-flash"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"x-goog-api-key": "test-key"}) as s:
        yield s


def request_body(text: str, **generation_config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if generation_config:
        body["generationConfig"] = generation_config
    return body


async def post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    async with session.post(url, data=data) as resp:
        return resp.status, await resp.json(content_type=None)


async def read_sse(resp: aiohttp.ClientResponse) -> list[dict[str, Any]]:
    events = []
    async for line in resp.content:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
    return events


def chunk_text(chunk: dict[str, Any]) -> str:
    parts = chunk["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts)


# -- models ------------------------------------------------------------------------------


async def test_list_models_paginates(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    # Page-following needs pages smaller than the catalog: ask for them (the service's
    # default page, 50 models, holds the whole catalog; see the test below).
    names: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, str] = {"pageSize": "5"}
        if token:
            params["pageToken"] = token
        async with session.get(f"{emulator.base_url}/v1beta/models", params=params) as resp:
            assert resp.status == 200
            page = await resp.json()
        pages += 1
        names += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages >= 2, "pages of 5 must be smaller than the catalog"
    assert names == [m["name"] for m in CATALOG]
    assert "models/gemini-3.8-live" in names


async def test_list_models_default_page_is_the_services(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    # "If unspecified, at most 50 models will be returned per page. This method returns
    # at most 1000 models per page, even if you pass a larger page_size."
    # (https://ai.google.dev/api/python/google/generativeai/protos/ListModelsRequest).
    # The emulator used to page by 5 by default.
    assert len(CATALOG) > 5
    url = f"{emulator.base_url}/v1beta/models"
    async with session.get(url) as resp:
        page = await resp.json()
    assert [m["name"] for m in page["models"]] == [m["name"] for m in CATALOG[:50]]
    assert ("nextPageToken" in page) == (len(CATALOG) > 50)
    async with session.get(url, params={"pageSize": "5000"}) as resp:
        assert len((await resp.json())["models"]) == min(len(CATALOG), 1000)


async def test_list_models_page_size(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1/models"
    async with session.get(url, params={"pageSize": "100"}) as resp:
        page = await resp.json()
    assert len(page["models"]) == len(CATALOG)
    assert "nextPageToken" not in page
    async with session.get(url, params={"pageToken": "garbage!"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"


async def test_catalog_shape(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{emulator.base_url}/v1beta/models/{FLASH}") as resp:
        model = await resp.json()
    assert model["name"] == f"models/{FLASH}"
    assert "generateContent" in model["supportedGenerationMethods"]
    assert "bidiGenerateContent" not in model["supportedGenerationMethods"]
    assert model["inputTokenLimit"] > 0 and model["outputTokenLimit"] > 0
    assert model["displayName"]
    live = [m for m in CATALOG if "bidiGenerateContent" in m["supportedGenerationMethods"]]
    names = {m["name"] for m in live}
    assert {"models/gemini-3.8-live", "models/gemini-3.1-flash-live-preview"} <= names
    # Shut down on 2025-12-09 (https://ai.google.dev/gemini-api/docs/deprecations).
    assert not {"models/gemini-live-2.5-flash-preview", "models/gemini-2.0-flash-live-001"} & names
    embed = next(m for m in CATALOG if "embedContent" in m["supportedGenerationMethods"])
    assert "generateContent" not in embed["supportedGenerationMethods"]
    async with session.get(f"{emulator.base_url}/v1beta/models/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["status"] == "NOT_FOUND"


# -- generation --------------------------------------------------------------------------


async def test_generate_content(
    make_emulator: MakeEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(default_max_output_tokens=12)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:generateContent"
    status, body = await post(session, url, request_body("write a haiku please"))
    assert status == 200
    candidate = body["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["role"] == "model"
    assert len(chunk_text(body).split()) == 12
    assert body["usageMetadata"]["promptTokenCount"] == 4
    assert body["usageMetadata"]["candidatesTokenCount"] == 12
    assert body["usageMetadata"]["totalTokenCount"] == 16
    assert body["modelVersion"] == FLASH
    assert body["responseId"]
    # Deterministic: same request, same answer; other text, other answer.
    assert (await post(session, url, request_body("write a haiku please")))[1] == body
    other = (await post(session, url, request_body("write a limerick")))[1]
    assert chunk_text(other) != chunk_text(body)


async def test_answer_depends_on_the_model(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    texts = set()
    for model in (FLASH, "gemini-2.5-pro"):
        url = f"{emulator.base_url}/v1beta/models/{model}:generateContent"
        texts.add(chunk_text((await post(session, url, request_body("same prompt")))[1]))
    assert len(texts) == 2


@pytest.mark.parametrize(("max_tokens", "per_chunk"), [(1, 1), (10, 1), (10, 3), (64, 8), (5, 10)])
async def test_sse_exact_chunk_count(
    make_emulator: MakeEmulator, session: aiohttp.ClientSession, max_tokens: int, per_chunk: int
) -> None:
    emu = await make_emulator(tokens_per_chunk=per_chunk)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    async with session.post(url, json=request_body("go", maxOutputTokens=max_tokens)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        chunks = await read_sse(resp)
    assert len(chunks) == math.ceil(max_tokens / per_chunk)
    assert all("modelVersion" in c and c["responseId"] == chunks[0]["responseId"] for c in chunks)
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == max_tokens
    text = "".join(chunk_text(c) for c in chunks)
    assert len(text.split()) == max_tokens
    # The stream and the unary call give the same answer.
    unary_url = f"{emu.base_url}/v1beta/models/{FLASH}:generateContent"
    unary = (await post(session, unary_url, request_body("go", maxOutputTokens=max_tokens)))[1]
    assert chunk_text(unary) == text


async def test_sse_wire_format(emulator: Emulator) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    async with httpx2.AsyncClient(headers={"x-goog-api-key": "test-key"}) as client:
        resp = await client.post(url, json=request_body("hi", maxOutputTokens=3))
    raw = resp.content
    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b""
    assert len(events) == 4
    assert all(e.startswith(b"data: {") for e in events[:-1])


async def test_stream_without_sse_is_a_json_array(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:streamGenerateContent"
    async with session.post(url, json=request_body("hi", maxOutputTokens=4)) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        chunks = json.loads(await resp.read())
    assert isinstance(chunks, list)
    assert len(chunks) == 4
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_sse_pacing_streams_chunks_as_they_are_made(
    make_emulator: MakeEmulator, session: aiohttp.ClientSession
) -> None:
    # 10 tokens at 50 tokens/s: the last chunk is due 0.18 s after the first.
    emu = await make_emulator(tokens_per_second=50, time_to_first_token=0.05)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    started = time.monotonic()
    arrivals = []
    async with session.post(url, json=request_body("slow", maxOutputTokens=10)) as resp:
        async for line in resp.content:
            if line.startswith(b"data: "):
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 10
    assert arrivals[0] >= 0.04
    # The first chunk arrived well before the last was generated.
    assert arrivals[-1] - arrivals[0] >= 0.15
    assert arrivals[0] < arrivals[-1] - 0.1


async def test_unary_waits_for_the_whole_answer(
    make_emulator: MakeEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(tokens_per_second=100)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:generateContent"
    started = time.monotonic()
    await post(session, url, request_body("x", maxOutputTokens=20))
    assert time.monotonic() - started >= 0.18


async def test_many_chunks_fast(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    async with session.post(url, json=request_body("bulk", maxOutputTokens=5000)) as resp:
        chunks = await read_sse(resp)
    assert len(chunks) == 5000
    assert emulator.stats.http_chunks == 5000


async def test_special_prompts_over_http(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent"
    body = (await post(session, url, request_body("echo: Hello,  world!")))[1]
    assert chunk_text(body) == "Hello,  world!"
    conversation = {
        "contents": [
            {"role": "user", "parts": [{"text": "my name is Ada"}]},
            {"role": "model", "parts": [{"text": "hi Ada"}]},
            {"role": "user", "parts": [{"text": "I like tea"}]},
            {"role": "model", "parts": [{"text": "noted"}]},
            {"role": "user", "parts": [{"text": "recall"}]},
        ]
    }
    assert chunk_text((await post(session, url, conversation))[1]) == "my name is Ada | I like tea"


async def test_function_call_and_response(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent"
    tools = [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "city_name": {"type": "STRING"},
                            "days": {"type": "INTEGER"},
                        },
                    },
                }
            ]
        }
    ]
    first_turn = {"role": "user", "parts": [{"text": "please call get_weather"}]}
    body = (await post(session, url, {"contents": [first_turn], "tools": tools}))[1]
    part = body["candidates"][0]["content"]["parts"][0]
    call = part["functionCall"]
    assert call["name"] == "get_weather"
    assert call["id"]
    # Schema property names are user data: never re-cased.
    assert set(call["args"]) == {"city_name", "days"}
    assert isinstance(call["args"]["days"], int)
    assert body["candidates"][0]["finishReason"] == "STOP"
    again = (await post(session, url, {"contents": [first_turn], "tools": tools}))[1]
    assert again == body
    reply = {
        "contents": [
            first_turn,
            {"role": "model", "parts": [part]},
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": call["id"],
                            "name": "get_weather",
                            "response": {"temp_c": 21},
                        }
                    }
                ],
            },
        ],
        "tools": tools,
    }
    answer = chunk_text((await post(session, url, reply))[1])
    assert answer == 'get_weather returned {"temp_c":21}. '


async def test_snake_case_request(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": "snake"}]}],
        "generation_config": {"max_output_tokens": 3},
        "system_instruction": {"parts": [{"text": "be brief"}]},
    }
    status, answer = await post(session, url, body)
    assert status == 200
    assert answer["usageMetadata"]["candidatesTokenCount"] == 3
    assert answer["usageMetadata"]["promptTokenCount"] == 3


async def test_count_tokens(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:countTokens"
    pcm = base64.urlsafe_b64encode(b"\xfb\xff" * 8).decode()
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "one two  three"},
                    {"inline_data": {"mime_type": "x", "data": pcm}},
                ]
            },
            {"parts": [{"text": "four"}]},
        ]
    }
    status, answer = await post(session, url, body)
    assert status == 200
    assert answer["totalTokens"] == 4 + 258
    nested = {"generateContentRequest": {"model": f"models/{FLASH}", "contents": body["contents"]}}
    assert (await post(session, url, nested))[1]["totalTokens"] == 4 + 258


# -- errors ------------------------------------------------------------------------------


def assert_error(status: int, body: dict[str, Any], code: int, grpc_status: str) -> dict[str, Any]:
    assert status == code
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert error["status"] == grpc_status
    assert isinstance(error["message"], str) and error["message"]
    return error


async def test_unknown_model_404(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1beta/models/gemini-9:generateContent"
    error = assert_error(*await post(session, url, request_body("x")), 404, "NOT_FOUND")
    assert error["message"].startswith("models/gemini-9 is not found for API version v1beta")


async def test_model_without_the_method_404(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    for model in ("gemini-embedding-001", "gemini-3.8-live"):
        url = f"{emulator.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        error = assert_error(*await post(session, url, request_body("x")), 404, "NOT_FOUND")
        assert "is not supported for streamGenerateContent" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        {},
        {"contents": []},
        {"contents": "hello"},
        {"contents": [{"parts": [{"text": 5}]}]},
        {"contents": [{"parts": [{"inlineData": {"mimeType": "a", "data": "@@"}}]}]},
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": "a"}},
    ],
)
async def test_invalid_argument_400(
    emulator: Emulator, session: aiohttp.ClientSession, body: Any
) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent"
    assert_error(*await post(session, url, body), 400, "INVALID_ARGUMENT")


async def test_missing_contents_message(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent"
    error = assert_error(*await post(session, url, {}), 400, "INVALID_ARGUMENT")
    assert "contents is not specified" in error["message"]


async def test_key_checks(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key="right")
    url = f"{emu.base_url}/v1beta/models/{FLASH}:generateContent"
    body = request_body("x")
    async with aiohttp.ClientSession() as anonymous:
        assert_error(*await post(anonymous, url, body), 403, "PERMISSION_DENIED")
    async with aiohttp.ClientSession(headers={"x-goog-api-key": "wrong"}) as wrong:
        error = assert_error(*await post(wrong, url, body), 400, "INVALID_ARGUMENT")
        assert error["message"] == "API key not valid. Please pass a valid API key."
        info = error["details"][0]
        assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        assert info["reason"] == "API_KEY_INVALID"
        assert info["domain"] == "googleapis.com"
        async with wrong.get(f"{emu.base_url}/v1beta/models") as resp:
            assert resp.status == 400
    async with aiohttp.ClientSession(headers={"x-goog-api-key": "right"}) as right:
        assert (await post(right, url, body))[0] == 200
    async with aiohttp.ClientSession() as query:
        assert (await post(query, url + "?key=right", body))[0] == 200


async def test_unknown_paths_404(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    base = emulator.base_url
    for method, path in [
        ("GET", "/nothing/here"),
        ("GET", "/v2/models"),
        ("POST", f"/v1beta/models/{FLASH}:embedLife"),
        ("POST", "/v1beta/files"),
        ("DELETE", f"/v1beta/models/{FLASH}"),
    ]:
        async with session.request(method, base + path, data=b"{}") as resp:
            assert resp.status == 404, path
            assert (await resp.json())["error"]["status"] == "NOT_FOUND"
    assert emulator.stats.http_errors == 5


async def test_every_api_version(emulator: Emulator, session: aiohttp.ClientSession) -> None:
    for version in ("v1", "v1beta", "v1alpha"):
        url = f"{emulator.base_url}/{version}/models/{FLASH}:generateContent"
        assert (await post(session, url, request_body("x")))[0] == 200


async def test_client_going_away_mid_stream(
    make_emulator: MakeEmulator, session: aiohttp.ClientSession
) -> None:
    emu = await make_emulator(tokens_per_second=200)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    async with session.post(url, json=request_body("x", maxOutputTokens=1000)) as resp:
        await resp.content.readline()
    # The emulator still answers and stops promptly with the stream abandoned.
    assert (
        await post(
            session,
            url.replace("streamGenerateContent?alt=sse", "generateContent"),
            request_body("y", maxOutputTokens=1),
        )
    )[0] == 200
    started = time.monotonic()
    await emu.stop()
    assert time.monotonic() - started < 1.0


async def test_stop_cancels_paced_streams(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(time_to_first_token=30)
    url = f"{emu.base_url}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
    async with (
        aiohttp.ClientSession(headers={"x-goog-api-key": "test-key"}) as s,
        s.post(url, json=request_body("x")) as resp,
    ):
        # Headers come at once; the first chunk would take 30 s.
        assert resp.status == 200
        started = time.monotonic()
        await emu.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(aiohttp.ClientError):
            await resp.read()


# -- embeddings --------------------------------------------------------------------------


async def test_embeddings_are_deterministic_unit_vectors(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    base = f"{emulator.base_url}/v1beta/models/gemini-embedding-001"
    one = {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8}
    status, body = await post(session, f"{base}:embedContent", one)
    assert status == 200
    values = body["embedding"]["values"]
    assert len(values) == 8
    assert abs(sum(v * v for v in values) - 1.0) < 1e-3
    # google-genai's embed_content sends batchEmbedContents with requests[].
    batch = {
        "requests": [
            {"model": "models/gemini-embedding-001", **one},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "bye"}]}},
        ]
    }
    status, body = await post(session, f"{base}:batchEmbedContents", batch)
    assert status == 200
    first, second = body["embeddings"]
    assert first["values"] == values
    assert len(second["values"]) == 3072
    url = f"{emulator.base_url}/v1beta/models/{FLASH}:embedContent"
    assert_error(*await post(session, url, one), 404, "NOT_FOUND")
    bad = {**one, "taskType": "RETRIEVAL_QUERY", "dimensions": 3}
    error = assert_error(*await post(session, f"{base}:embedContent", bad), 400, "INVALID_ARGUMENT")
    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "dimensions": Cannot find field.'
    )


@pytest.mark.parametrize("role", ["assistant", "function", "system"])
async def test_a_role_other_than_user_or_model_is_refused_in_the_service_words(
    emulator: Emulator, session: aiohttp.ClientSession, role: str
) -> None:
    # The service's 400 for a bad role, as public reports quote its body:
    # {"error":{"code":400,"message":"Please use a valid role: user, model.",
    #  "status":"INVALID_ARGUMENT"}}
    body = {"contents": [{"role": role, "parts": [{"text": "hi"}]}]}
    status, answer = await post(
        session, f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent", body
    )
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert answer["error"]["message"] == "Please use a valid role: user, model."


async def test_max_output_tokens_as_a_decimal_string_is_an_integer(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    # Proto JSON takes int32 as a number or a decimal string
    # (https://protobuf.dev/programming-guides/json/), so the service does too.
    body = request_body("hi", maxOutputTokens="3")
    status, answer = await post(
        session, f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent", body
    )
    assert status == 200, answer
    assert answer["usageMetadata"]["candidatesTokenCount"] == 3


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (
            [{"role": "user", "parts": []}],
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
        (
            [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": ""}]},
            ],
            "* GenerateContentRequest.contents[1].parts[0].data: required oneof field 'data' "
            "must have one initialized field\n",
        ),
    ],
)
async def test_empty_parts_and_empty_text_are_refused_in_the_service_words(
    emulator: Emulator,
    session: aiohttp.ClientSession,
    contents: list[dict[str, Any]],
    message: str,
) -> None:
    # Both wordings are quoted from the service's 400 bodies in many public reports.
    status, answer = await post(
        session,
        f"{emulator.base_url}/v1beta/models/{FLASH}:generateContent",
        {"contents": contents},
    )
    assert status == 400
    assert answer["error"] == {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
