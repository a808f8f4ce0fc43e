"""The HTTP side of the emulator: models, generateContent, streamGenerateContent, countTokens.

Every route exists under ``/v1``, ``/v1beta`` and ``/v1alpha``. Errors use Google's JSON
shape with the HTTP status the real service uses:

- unknown model, or a model without the method: 404 NOT_FOUND ("models/X is not found
  for API version v1beta, or is not supported for generateContent. ...");
- malformed JSON, missing ``contents``, bad base64, wrong types: 400 INVALID_ARGUMENT;
- wrong key: 400 INVALID_ARGUMENT with an ``ErrorInfo`` detail ``API_KEY_INVALID``;
- no key (unless built with ``require_key=False``): 403 PERMISSION_DENIED, "Method
  doesn't allow unregistered callers..." (google-gemini/cookbook#821);
- unknown path or API version: 404 NOT_FOUND.

Fault plans (:mod:`.faults`) apply to ``generateContent`` and ``streamGenerateContent``
(and an ``http-STATUS`` plan to ``countTokens`` too).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from .catalog import CATALOG, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, find_model, supports
from .embeddings import embed_request
from .faults import GARBAGE, TRUNCATED_CHUNK, FaultPlan, find_marker, strip_marker
from .model import Answer, count_tokens, generate_answer
from .pacing import Pacer
from .schema import SchemaError, parse
from .wire import WireError, b64decode_any, decode_json, encode_json, error_body

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["API_VERSIONS", "HttpApi", "error_response"]

#: The API versions every route is served under.
API_VERSIONS = ("v1", "v1beta", "v1alpha")

_API_KEY_INVALID = "API key not valid. Please pass a valid API key."
_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)
_KEY_DETAILS: list[dict[str, Any]] = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    },
    {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": _API_KEY_INVALID,
    },
]
_JSON = "application/json; charset=UTF-8"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _not_found_model(name: str, version: str, method: str) -> WireError:
    return WireError(
        404,
        f"models/{name} is not found for API version {version}, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def error_response(err: WireError) -> web.Response:
    """The service's JSON error answer for ``err`` (also the Live upgrade's refusals)."""
    return web.Response(
        body=error_body(err),
        status=err.code,
        headers=err.headers,
        content_type="application/json",
        charset="utf-8",
    )


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=encode_json(payload), status=status, content_type="application/json", charset="utf-8"
    )


def _usage(answer: Answer) -> dict[str, Any]:
    prompt, output = answer.prompt_token_count, answer.token_count
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }


class _Chunks:
    """Builds the JSON of answer chunks; text chunks from pre-encoded halves."""

    __slots__ = ("_head", "_ids", "_tail")

    def __init__(self, model: str, answer: Answer) -> None:
        self._ids = {"modelVersion": model, "responseId": f"emu-{answer.seed:016x}"}
        self._head = b'{"candidates":[{"content":{"parts":[{"text":'
        self._tail = (
            b'}],"role":"model"},"index":0}],"modelVersion":'
            + encode_json(model)
            + b',"responseId":'
            + encode_json(self._ids["responseId"])
            + b"}"
        )

    def text(self, text: str) -> bytes:
        """A chunk holding ``text`` (not the last one)."""
        return self._head + encode_json(text) + self._tail

    def finished_text(self, text: str) -> bytes:
        """A last chunk holding ``text`` and ``finishReason: STOP`` (a flood's end): the
        service ends every complete stream with a finishReason, and clients take a
        stream without one as truncated."""
        return self.text(text).replace(b'"index":0}', b'"finishReason":"STOP","index":0}', 1)

    def last(self, answer: Answer, text: str | None) -> bytes:
        """The final chunk: ``text`` or the function call, finishReason and usage."""
        if answer.function_call is not None:
            parts: list[dict[str, Any]] = [{"functionCall": answer.function_call.to_wire()}]
        else:
            parts = [{"text": text or ""}]
        return encode_json(
            {
                "candidates": [
                    {
                        "content": {"parts": parts, "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": _usage(answer),
                **self._ids,
            }
        )


class HttpApi:
    """The HTTP routes of one emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator
        self._cfg = emulator.config
        self._stats = emulator.stats

    def add_routes(self, app: web.Application) -> None:
        """Register every HTTP route on ``app`` (the catch-all 404 last)."""
        app.router.add_get("/{version}/models", self._wrap(self._list_models))
        app.router.add_get("/{version}/models/{name}", self._wrap(self._get_model))
        app.router.add_post("/{version}/models/{name}", self._wrap(self._model_method))
        app.router.add_post("/{version}/auth_tokens", self._wrap(self._create_auth_token))
        app.router.add_route("*", "/{tail:.*}", self._wrap(self._unknown))

    def _wrap(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self._stats.http_requests += 1
            try:
                return await handler(request)
            except WireError as err:
                self._stats.http_errors += 1
                return error_response(err)

        return wrapped

    # -- checks ---------------------------------------------------------------------

    def _check(self, request: web.Request) -> str:
        """Validate the API version and the key; return the version."""
        version = request.match_info["version"]
        if version not in API_VERSIONS:
            raise WireError(404, f"API version {version} is not found.")
        if not self._cfg.require_key:
            return version  # authentication off (an explicit opt-in)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            raise WireError(403, _UNREGISTERED)
        expected = self._cfg.api_key
        if expected is not None and key != expected:
            raise WireError(400, _API_KEY_INVALID, details=_KEY_DETAILS)
        return version

    async def _body(self, request: web.Request, message: str) -> dict[str, Any]:
        """The request body checked against wire message ``message``, camelCase keys.

        An unknown field or a value of the wrong type is a 400 INVALID_ARGUMENT with the
        parser's sentences and a ``BadRequest`` detail (see :mod:`.schema`).
        """
        raw = await request.read()
        try:
            body = decode_json(raw) if raw.strip() else {}
        except msgspec.DecodeError:
            raise WireError(400, "Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(body, dict):
            raise WireError(400, "Invalid JSON payload received. Expected an object.")
        try:
            version = request.match_info.get("version", "v1beta")
            camel: dict[str, Any] = parse(message, body, api_version=version)
        except SchemaError as exc:
            raise WireError(400, exc.message, details=exc.details()) from None
        return camel

    # -- models ---------------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        try:
            size = int(request.query.get("pageSize") or request.query.get("page_size") or 0)
        except ValueError:
            raise WireError(400, "Invalid value for pageSize.") from None
        if size < 0:
            raise WireError(400, "pageSize must not be negative.")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        token = request.query.get("pageToken") or request.query.get("page_token") or ""
        offset = 0
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
            except (ValueError, binascii.Error):
                raise WireError(400, "Invalid page token.") from None
            if not 0 <= offset < len(CATALOG):
                raise WireError(400, "Invalid page token.")
        page: dict[str, Any] = {"models": list(CATALOG[offset : offset + size])}
        if offset + size < len(CATALOG):
            page["nextPageToken"] = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode()
        return _json_response(page)

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        version = self._check(request)
        name = request.match_info["name"]
        if ":" in name:
            raise WireError(404, "Not found.")
        entry = find_model(name)
        if entry is None:
            raise WireError(404, f"models/{name} is not found for API version {version}.")
        return _json_response(entry)

    # -- ephemeral tokens -------------------------------------------------------------

    async def _create_auth_token(self, request: web.Request) -> web.StreamResponse:
        """``POST v1alpha/auth_tokens``: mint an ephemeral token (v1alpha only)."""
        version = self._check(request)
        if version != "v1alpha":
            raise WireError(404, f"The requested URL {request.path} was not found on this server.")
        body = await self._body(request, "CreateAuthTokenRequest")
        try:
            token = self._emu.tokens.mint(body)
        except ValueError as exc:
            raise WireError(400, str(exc)) from None
        return _json_response(token.to_wire())

    # -- generation -----------------------------------------------------------------

    async def _model_method(self, request: web.Request) -> web.StreamResponse:
        version = self._check(request)
        name, _, method = request.match_info["name"].partition(":")
        if method in ("embedContent", "batchEmbedContents"):
            return await self._embed(request, version, name, method)
        if method not in ("generateContent", "streamGenerateContent", "countTokens"):
            raise WireError(404, f"Method {method or '(none)'} is not found.")
        entry = find_model(name)
        needed = "countTokens" if method == "countTokens" else "generateContent"
        if entry is None or not supports(entry, needed):
            raise _not_found_model(name, version, method)
        body = await self._body(
            request, "CountTokensRequest" if method == "countTokens" else "GenerateContentRequest"
        )
        plan = self._emu.header_fault(request) or _take_marker(body) or self._emu.default_fault
        plan = self._emu.playing(plan)
        if plan is not None and plan.kind == "http":
            raise plan.http_error()
        if method == "countTokens":
            return self._count_tokens(body)
        contents, system, tools, max_tokens = self._generate_request(body)
        answer = generate_answer(
            name, contents, max_output_tokens=max_tokens, system_instruction=system, tools=tools
        )
        if method == "generateContent":
            if plan is not None:
                return await self._faulty_unary(request, name, answer, plan)
            return await self._unary(name, answer)
        sse = request.query.get("alt") == "sse"
        return await self._stream(request, name, answer, sse=sse, plan=plan)

    async def _embed(
        self, request: web.Request, version: str, name: str, method: str
    ) -> web.StreamResponse:
        """``embedContent`` (one request) or ``batchEmbedContents`` (``requests[]``)."""
        entry = find_model(name)
        if entry is None or not supports(entry, "embedContent"):
            raise _not_found_model(name, version, method)
        if method == "embedContent":
            body = await self._body(request, "EmbedContentRequest")
            return _json_response({"embedding": embed_request(name, body)})
        body = await self._body(request, "BatchEmbedContentsRequest")
        requests = body.get("requests") or []
        if not requests:
            raise WireError(
                400, "* BatchEmbedContentsRequest.requests: requests is not specified\n"
            )
        embeddings = [
            embed_request(name, item, f"BatchEmbedContentsRequest.requests[{i}].")
            for i, item in enumerate(requests)
        ]
        return _json_response({"embeddings": embeddings})

    def _generate_request(self, body: dict[str, Any]) -> tuple[list[Any], Any, Any, int]:
        contents = body.get("contents")
        if not contents:
            raise WireError(400, "* GenerateContentRequest.contents: contents is not specified\n")
        _check_contents(contents, "contents", "GenerateContentRequest")
        system = body.get("systemInstruction")
        if system is not None:
            _check_contents([system], "system_instruction")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise WireError(400, "Invalid value at 'tools': expected a list.")
        gen = body.get("generationConfig") or {}
        if not isinstance(gen, dict):
            raise WireError(400, "Invalid value at 'generation_config': expected an object.")
        max_tokens = gen.get("maxOutputTokens")
        if isinstance(max_tokens, str) and max_tokens.lstrip("-").isdigit():
            # Proto JSON takes an integer as a JSON number or a decimal string
            # (https://protobuf.dev/programming-guides/json/): "5" is 5.
            max_tokens = int(max_tokens)
        if max_tokens is None:
            max_tokens = self._cfg.default_max_output_tokens
        elif not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
            raise WireError(
                400, "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)"
            )
        return contents, system, tools, max_tokens

    def _count_tokens(self, body: dict[str, Any]) -> web.StreamResponse:
        inner = body.get("generateContentRequest")
        system = None
        if isinstance(inner, dict):
            contents = inner.get("contents")
            system = inner.get("systemInstruction")
        else:
            contents = body.get("contents")
        if contents is None:
            raise WireError(400, "* CountTokensRequest.contents: contents is not specified\n")
        _check_contents(contents, "contents", "CountTokensRequest")
        total = count_tokens(contents, system)
        return _json_response(
            {
                "totalTokens": total,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
            }
        )

    async def _unary(self, model: str, answer: Answer) -> web.StreamResponse:
        pacer = Pacer(self._cfg.time_to_first_token, self._cfg.tokens_per_second)
        if pacer.paced:
            # A unary answer arrives when the whole answer would have been generated.
            with self._emu.track_task():
                await pacer.wait(answer.token_count)
        body = _Chunks(model, answer).last(answer, answer.text)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def _faulty_unary(
        self, request: web.Request, model: str, answer: Answer, plan: FaultPlan
    ) -> web.StreamResponse:
        kind = plan.kind
        if kind == "close":
            _drop(request)
            return web.Response()  # never written: the connection is gone
        if kind in ("stall", "nopong"):
            with self._emu.track_task():
                await _until_gone(request)
            return web.Response()  # never written: the client has gone
        if kind == "malformed":
            body = TRUNCATED_CHUNK
        elif kind == "garbage":
            body = GARBAGE
        elif kind == "oversized":
            body = _Chunks(model, answer).text("x" * plan.size)
        elif kind == "endless":
            return await self._endless_body(request)
        else:
            return await self._unary(model, answer)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    async def _endless_body(self, request: web.Request) -> web.StreamResponse:
        """A 200 JSON body that never ends: tests the client's size limit."""
        response = web.StreamResponse(headers={"Content-Type": _JSON})
        filler = b"x" * 65536
        with self._emu.track_task(), contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write(b'{"candidates":[{"content":{"parts":[{"text":"')
            while True:
                await response.write(filler)
        return response

    async def _stream(
        self,
        request: web.Request,
        model: str,
        answer: Answer,
        *,
        sse: bool,
        plan: FaultPlan | None = None,
    ) -> web.StreamResponse:
        self._stats.sse_streams += 1
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream" if sse else _JSON}
        )
        builder = _Chunks(model, answer)
        per_chunk = self._cfg.tokens_per_chunk
        texts = [""] if answer.function_call is not None else answer.chunks(per_chunk)
        pacer = Pacer(self._cfg.time_to_first_token, self._cfg.tokens_per_second)
        stats = self._stats
        with self._emu.track_task():
            try:
                await response.prepare(request)
                if plan is not None and not await self._stream_fault(
                    request, response, builder, texts, plan, sse=sse
                ):
                    return response
                last = len(texts) - 1
                tokens_before = 0
                for i, text in enumerate(texts):
                    await pacer.wait(tokens_before)
                    tokens_before += per_chunk
                    chunk = builder.last(answer, text) if i == last else builder.text(text)
                    if sse:
                        await response.write(b"data: " + chunk + b"\r\n\r\n")
                    else:
                        # The real API streams a JSON array, one element per chunk.
                        await response.write((b"[" if i == 0 else b",\r\n") + chunk)
                    stats.http_chunks += 1
                if not sse:
                    await response.write(b"]")
                await response.write_eof()
            except ConnectionError:
                # The client went away mid-stream: nobody is left to tell.
                pass
        return response

    async def _stream_fault(
        self,
        request: web.Request,
        response: web.StreamResponse,
        builder: _Chunks,
        texts: list[str],
        plan: FaultPlan,
        *,
        sse: bool,
    ) -> bool:
        """Play ``plan`` on a stream; True when the normal answer should follow."""
        kind = plan.kind
        count = 0

        async def send(chunk: bytes) -> None:
            nonlocal count
            if sse:
                await response.write(b"data: " + chunk + b"\r\n\r\n")
            else:
                await response.write((b"[" if count == 0 else b",\r\n") + chunk)
            count += 1
            self._stats.http_chunks += 1

        if kind in ("goaway", "slowpong"):
            return True  # Live-only faults
        if kind in ("flood", "endless"):
            i = 0
            while kind == "endless" or i < plan.size:
                final = kind == "flood" and i == plan.size - 1
                await send((builder.finished_text if final else builder.text)(f"{i},"))
                i += 1
            if sse:
                await response.write_eof()
            return False
        pacer = Pacer(self._cfg.time_to_first_token, self._cfg.tokens_per_second)
        per_chunk = self._cfg.tokens_per_chunk
        # The fault comes before the final chunk, whatever N says.
        after = 0 if plan.at_setup else plan.after
        for i, text in enumerate(texts[: min(after, len(texts) - 1)]):
            await pacer.wait(i * per_chunk)
            await send(builder.text(text))
        if kind == "close":
            _drop(request)
            return False
        if kind == "malformed":
            await send(TRUNCATED_CHUNK)
        elif kind == "garbage":
            await send(GARBAGE)
        elif kind == "oversized":
            await send(builder.text("x" * plan.size))
        # stall, nopong, and after a bad event: silence until the client goes.
        await _until_gone(request)
        return False

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        raise WireError(404, f"The requested URL {request.path} was not found on this server.")


def _check_contents(contents: Any, where: str, request: str = "GenerateContentRequest") -> None:
    """Reject contents that a proto-JSON parser would reject (types, base64), and the
    empty ones the service refuses in its words (``request`` names the message)."""
    if not isinstance(contents, list):
        raise WireError(400, f"Invalid value at '{where}': expected a list of Content.")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise WireError(400, f"Invalid value at '{where}[{i}]': expected a Content object.")
        if where == "contents" and content.get("role") not in (None, "", "user", "model"):
            # The service's words for a role other than user/model ("assistant",
            # "function", "system", ...), seen in public reports of its 400 body.
            raise WireError(400, "Please use a valid role: user, model.")
        parts = content.get("parts", [])
        if not isinstance(parts, list):
            raise WireError(400, f"Invalid value at '{where}[{i}].parts': expected a list.")
        if not parts and where == "contents":
            # The service's words, quoted in many public reports of its 400 body.
            raise WireError(
                400, f"* {request}.contents[{i}].parts: contents.parts must not be empty.\n"
            )
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise WireError(400, f"Invalid value at '{where}[{i}].parts[{j}]'.")
            if not part or part == {"text": ""}:
                # Proto3: an empty string is an unset field, so the part's ``data`` oneof
                # is empty; the service's 400 says so in these words.
                raise WireError(
                    400,
                    f"* {request}.{where}[{i}].parts[{j}].data: required oneof field "
                    "'data' must have one initialized field\n",
                )
            if "text" in part and not isinstance(part["text"], str):
                raise WireError(
                    400, f"Invalid value at '{where}[{i}].parts[{j}].text' (TYPE_STRING)"
                )
            blob = part.get("inlineData")
            if blob is not None:
                data = blob.get("data") if isinstance(blob, dict) else None
                try:
                    if not isinstance(data, str):
                        raise ValueError("not a string")
                    b64decode_any(data)
                except ValueError:
                    raise WireError(
                        400,
                        f"Invalid value at '{where}[{i}].parts[{j}].inline_data.data' "
                        "(TYPE_BYTES), Base64 decoding failed",
                    ) from None


async def _until_gone(request: web.Request) -> None:
    """Wait until the client has closed the connection (aiohttp does not cancel a
    handler when its peer goes, so a stalling handler must notice by itself)."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.02)


def _drop(request: web.Request) -> None:
    """Drop the TCP connection under a request, mid-response or before it."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _take_marker(body: dict[str, Any]) -> FaultPlan | None:
    """Find and remove a ``fault:SPEC`` marker in the last user turn's text parts."""
    contents = body.get("contents")
    if not isinstance(contents, list):
        return None
    for content in reversed(contents):
        if not isinstance(content, dict) or content.get("role", "user") != "user":
            continue
        parts = content.get("parts")
        if not isinstance(parts, list):
            return None
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and "fault:" in text:
                try:
                    plan = find_marker(text)
                except ValueError as exc:
                    raise WireError(400, str(exc)) from None
                if plan is not None:
                    part["text"] = strip_marker(text)
                    return plan
        return None
    return None
