"""No request field is dropped (issue 10): every request-side field google-genai 3.6.1
knows (tests/drift.py: typed by api_gemini or carried through), sent in a dict request
in snake_case and in camelCase, reaches the server. A recording WebSocket server
(tests/helpers.py) keeps what arrived for the Live messages; a recording HTTP server
(below) for generateContent, streamGenerateContent, countTokens and the embeddings."""

from __future__ import annotations

import json
import socket
import typing
from typing import Any

import msgspec
import pydantic
import pytest
from aiohttp import web
from google.genai import types as g

from api_gemini import AsyncClient
from api_gemini._wire import camel
from api_gemini.settings import ClientSettings
from api_gemini.websocket import connect_live
from drift import request_fields
from helpers import RecordingLiveServer

FIELDS = request_fields()


def sample(annotation: Any) -> Any:
    """A valid value for one of our field types (anything for an untyped field)."""
    if annotation is None:
        return "as-given"
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (args and origin is not list and origin is not dict):
        return sample(args[0]) if len(args) >= 1 and origin is not dict else {}
    if origin is list:
        return [sample(args[0])]
    if origin is dict or annotation is Any:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return {}
    return {str: "x", int: 1, float: 0.5, bool: True, bytes: "eA=="}[annotation]


def merge(target: dict[str, Any], path: list[tuple[str, bool]], key: str, value: Any) -> None:
    for step, is_list in path:
        slot = target.setdefault(step, [{}] if is_list else {})
        target = slot[0] if is_list else slot
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        return  # a container already filled by its own fields
    if isinstance(value, list) and isinstance(target.get(key), list):
        return
    target[key] = value


def spelled(name: str, spelling: str) -> str:
    return camel(name) if spelling == "camel" else name


def build(root: str, spelling: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Containers first (deepest paths last), so that their fields fill them.
    for _root, path, name, annotation in sorted(
        (f for f in FIELDS if f[0] == root), key=lambda f: len(f[1])
    ):
        steps = [(spelled(step, spelling), is_list) for step, is_list in path]
        merge(out, steps, spelled(name, spelling), sample(annotation))
    return out


def arrived(message: dict[str, Any], path: list[tuple[str, bool]]) -> dict[str, Any]:
    here: Any = message
    for step, is_list in path:
        here = here[camel(step)]
        if is_list:
            here = here[0]
    result: dict[str, Any] = here
    return result


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_every_request_field_reaches_the_server(spelling: str) -> None:
    assert len(FIELDS) > 150
    setup = build("setup", spelling)
    content = build("clientContent.turns[0]", spelling)
    response = build("toolResponse.functionResponses[0]", spelling)
    async with RecordingLiveServer() as server:
        settings = ClientSettings.resolve("k", base_url=server.base_url)
        session = await connect_live(settings, "gemini-3.8-live", setup)
        await session.send_content(content, turn_complete=False)
        await session.send_tool_response(response)
        await session.close()
    got = {
        "setup": server.messages[0]["setup"],
        "clientContent.turns[0]": server.messages[1]["clientContent"]["turns"][0],
        "toolResponse.functionResponses[0]": server.messages[2]["toolResponse"][
            "functionResponses"
        ][0],
    }
    missing = []
    for root, path, name, annotation in FIELDS:
        holder = arrived(got[root], path)
        # typed fields arrive in camelCase; untyped ones exactly as the caller spelt them
        key = camel(name) if annotation is not None else spelled(name, spelling)
        if key not in holder:
            missing.append(f"{root}: {'.'.join(p for p, _ in path)}.{name}")
    assert missing == []


# --------------------------------------------------------------------------- HTTP


#: Where each piece of a GenerateContentRequest goes (the HTTP-only request fields:
#: systemInstruction, generationConfig, safetySettings, tools, toolConfig; contents).
HTTP_ROOTS: dict[str, type[pydantic.BaseModel]] = {
    "systemInstruction": g.Content,
    "generationConfig": g.GenerationConfig,
    "safetySettings[0]": g.SafetySetting,
    "tools[0]": g.Tool,
    "toolConfig": g.ToolConfig,
    "contents[0]": g.Content,
}
HTTP_FIELDS = request_fields(HTTP_ROOTS)
#: Top-level scalars of GenerateContentRequest (https://ai.google.dev/api/generate-content).
HTTP_SCALARS = {"cached_content": "cachedContents/abc"}
#: EmbedContentRequest's own fields (https://ai.google.dev/api/embeddings).
EMBED_FIELDS = {"task_type": "RETRIEVAL_DOCUMENT", "title": "a title", "output_dimensionality": 8}


def http_request(spelling: str) -> dict[str, Any]:
    """A generateContent body with every field of :data:`HTTP_FIELDS` set, spelt one way."""
    body: dict[str, Any] = {}
    for root in HTTP_ROOTS:
        name, is_list = (root[:-3], True) if root.endswith("[0]") else (root, False)
        piece = build_from(HTTP_FIELDS, root, spelling)
        if name == "contents":
            piece = {**piece, "role": "user"}  # its parts need a role to be a turn
        body[spelled(snake(name), spelling)] = [piece] if is_list else piece
    for name, value in HTTP_SCALARS.items():
        body[spelled(name, spelling)] = value
    return body


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def build_from(fields: list[Any], root: str, spelling: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _root, path, name, annotation in sorted(
        (f for f in fields if f[0] == root), key=lambda f: len(f[1])
    ):
        steps = [(spelled(step, spelling), is_list) for step, is_list in path]
        merge(out, steps, spelled(name, spelling), sample(annotation))
    return out


def missing_http_fields(body: dict[str, Any], spelling: str) -> list[str]:
    missing = []
    for root, path, name, annotation in HTTP_FIELDS:
        top, is_list = (root[:-3], True) if root.endswith("[0]") else (root, False)
        holder = body.get(top)
        if holder is None:
            missing.append(f"{root} (all of it)")
            continue
        holder = arrived(holder[0] if is_list else holder, path)
        key = camel(name) if annotation is not None else spelled(name, spelling)
        if key not in holder:
            missing.append(f"{root}: {'.'.join(p for p, _ in path)}.{name}")
    missing += [name for name in HTTP_SCALARS if camel(name) not in body]
    return missing


class RecordingHttpServer:
    """A real HTTP server on a free loopback port that keeps each request's JSON body
    and answers with the smallest valid body of the method called."""

    def __init__(self) -> None:
        self.bodies: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.bodies[method] = await request.json()
        chunk = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
        if method == "streamGenerateContent":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
            return response
        answers: dict[str, Any] = {
            "generateContent": chunk,
            "countTokens": {"totalTokens": 1},
            "embedContent": {"embedding": {"values": [0.5]}},
            "batchEmbedContents": {"embeddings": [{"values": [0.5]}]},
        }
        return web.json_response(answers[method])

    async def __aenter__(self) -> RecordingHttpServer:
        app = web.Application()
        app.router.add_post("/v1beta/models/{model}:{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_every_http_request_field_reaches_the_server(spelling: str) -> None:
    # The HTTP-only request fields (systemInstruction, generationConfig, safetySettings,
    # tools, toolConfig, cachedContent) and every field under them that google-genai
    # 3.6.1 knows, through generateContent, streamGenerateContent and countTokens; then
    # embedContent's own fields. A field the client drops fails here.
    assert len(HTTP_FIELDS) > 100
    request = http_request(spelling)
    embed = {
        "content": {"parts": [{"text": "hi"}]},
        **{spelled(k, spelling): v for k, v in EMBED_FIELDS.items()},
    }
    async with (
        RecordingHttpServer() as server,
        AsyncClient("k", base_url=server.base_url) as client,
    ):
        model = client.models.by_name("gemini-2.5-flash")
        await model.generate_content(request)
        async with await model.stream_generate_content(request) as stream:
            assert [chunk.text async for chunk in stream] == ["ok"]
        await model.count_tokens(request)
        embedder = client.models.by_name("gemini-embedding-001")
        await embedder.embed_content(embed)
        await embedder.batch_embed_contents([embed])
    assert missing_http_fields(server.bodies["generateContent"], spelling) == []
    assert missing_http_fields(server.bodies["streamGenerateContent"], spelling) == []
    # countTokens carries the settings in a generateContentRequest naming the model.
    counted = server.bodies["countTokens"]["generateContentRequest"]
    assert counted["model"] == "models/gemini-2.5-flash"
    assert missing_http_fields(counted, spelling) == []
    for sent in (server.bodies["embedContent"], server.bodies["batchEmbedContents"]["requests"][0]):
        assert {camel(k): v for k, v in EMBED_FIELDS.items()}.items() <= sent.items()
