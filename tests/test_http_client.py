"""The HTTP side of the client against the emulator and small scripted servers, on real
sockets: models, unary generation, incremental SSE, token counting, and every error."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web

from api_gemini import AsyncClient, Client, Timeouts
from api_gemini.emulator import Emulator
from api_gemini.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ResponseParseError,
    ServerError,
    ServiceUnavailableError,
)
from api_gemini.types import (
    Content,
    GenerateContentRequest,
    GenerationConfig,
    Part,
)

MODEL = "gemini-2.5-flash"
SECRET = "sk-test-SECRET-do-not-leak-1234"

MakeEmulator = Callable[..., Awaitable[Emulator]]


class TlsFiles(Protocol):
    """The ``tls_files`` fixture's value (see conftest)."""

    ca: str
    cert: str
    key: str


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def scripted_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve one handler for every path on a loopback port; yields a starter."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


def request_of(max_tokens: int, prompt: str = "Tell me a story") -> GenerateContentRequest:
    return GenerateContentRequest(
        contents=[Content.user_text(prompt)],
        generation_config=GenerationConfig(max_output_tokens=max_tokens),
    )


# --------------------------------------------------------------------------- happy paths


async def test_list_follows_page_tokens_and_get(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        small_pages = await client.models.list(page_size=2)
        one_page = await client.models.list(page_size=1000)
        assert [m.name for m in small_pages] == [m.name for m in one_page]
        assert len(small_pages) > 2
        info = await client.models.get(MODEL)
        assert info.name == f"models/{MODEL}"
        assert "generateContent" in info.supported_generation_methods
        assert await client.models.get(f"models/{MODEL}") == info


async def test_generate_content_accepts_every_request_form(emulator: Emulator) -> None:
    wire = {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "generationConfig": {"maxOutputTokens": 12},
    }
    typed = GenerateContentRequest(
        contents=[Content(role="user", parts=[Part(text="Hello")])],
        generation_config=GenerationConfig(max_output_tokens=12),
    )
    async with AsyncClient(base_url=emulator.base_url) as client:
        model = client.models.by_name(MODEL)
        from_dict = await model.generate_content(wire)
        from_typed = await model.generate_content(typed)
        from_text = await model.generate_content("Hello")
    assert from_dict.text and from_dict.text == from_typed.text  # deterministic
    assert from_dict.finish_reason == "STOP"
    assert from_dict.usage_metadata is not None
    assert from_dict.usage_metadata.candidates_token_count == 12
    assert from_text.text


async def test_sse_stream_has_exact_chunks_in_order(make_emulator: MakeEmulator) -> None:
    emulator = await make_emulator(tokens_per_chunk=3)
    async with AsyncClient(base_url=emulator.base_url) as client:
        model = client.models.by_name(MODEL)
        unary = await model.generate_content(request_of(30))
        async with await model.stream_generate_content(request_of(30)) as stream:
            chunks = [chunk async for chunk in stream]
    assert len(chunks) == 10
    assert "".join(c.text for c in chunks) == unary.text
    assert [c.finish_reason for c in chunks] == [None] * 9 + ["STOP"]
    assert chunks[-1].usage_metadata is not None


async def test_first_sse_chunk_arrives_before_the_server_finishes(
    scripted_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """The server holds the rest of the stream until the client has the first chunk: a
    client that buffered the body would wait forever (and time out)."""
    first_seen = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"candidates":[{"content":{"parts":[{"text":"one"}]}}]}\n\n')
        await asyncio.wait_for(first_seen.wait(), timeout=5)
        await response.write(
            b'data: {"candidates":[{"content":{"parts":[{"text":"two"}]},"finishReason":"STOP"}]}'
            b"\n\n"
        )
        return response

    base_url = await scripted_server(handler)
    async with AsyncClient(base_url=base_url) as client:
        stream = await client.models.by_name(MODEL).stream_generate_content("hi")
        texts = []
        async for chunk in stream:
            texts.append(chunk.text)
            first_seen.set()
    assert texts == ["one", "two"]


async def test_count_tokens(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        model = client.models.by_name(MODEL)
        counted = await model.count_tokens("one two three four")
        with_system = await model.count_tokens(
            GenerateContentRequest(
                contents=[Content.user_text("one two")],
                system_instruction=Content(parts=[Part(text="be brief")]),
            )
        )
    assert counted.total_tokens == 4
    assert with_system.total_tokens >= 2


async def test_the_key_travels_only_in_the_header(
    scripted_server: Callable[[Handler], Awaitable[str]],
) -> None:
    seen: list[tuple[str, str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((str(request.rel_url), request.headers.get("x-goog-api-key")))
        last = {"candidates": [{"finishReason": "STOP"}]}
        if request.query.get("alt") != "sse":
            return web.json_response(last)
        body = b"data: " + json.dumps(last).encode() + b"\n\n"
        return web.Response(body=body, content_type="text/event-stream")

    base_url = await scripted_server(handler)
    async with AsyncClient(SECRET, base_url=base_url) as client:
        await client.models.by_name(MODEL).generate_content("hi")
        async with await client.models.by_name(MODEL).stream_generate_content("hi") as s:
            _ = [c async for c in s]
    assert [header for _, header in seen] == [SECRET, SECRET]
    assert all(SECRET not in url for url, _ in seen)
    assert seen[1][0].endswith(":streamGenerateContent?alt=sse")


# --------------------------------------------------------------------------- bad input


def test_no_key_for_the_public_service_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        AsyncClient()
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        Client()


def test_key_resolution_order_and_secrecy(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """google-genai 3.6.1's order (GOOGLE_API_KEY first) and its warning when both are
    set, so that one environment gives both libraries the same key."""
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert AsyncClient().settings.auth_headers() == {"x-goog-api-key": "gemini-key"}
    assert not caplog.records
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    client = AsyncClient()
    assert client.settings.auth_headers() == {"x-goog-api-key": SECRET}
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.name == "api_gemini.settings"
    assert record.getMessage() == (
        "Both GOOGLE_API_KEY and GEMINI_API_KEY are set. Using GOOGLE_API_KEY."
    )
    assert AsyncClient("explicit").settings.auth_headers() == {"x-goog-api-key": "explicit"}
    for text in (repr(client), str(client), repr(client.settings), repr(client.settings.api_key)):
        assert SECRET not in text


def test_the_key_order_is_google_genais(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same environment gives google-genai and us the same key, with and without an
    explicit one, and an empty variable counts as unset in both."""
    from google.genai import _api_client

    cases = [("g1", "m1"), ("", "m2"), ("g3", ""), ("g4", None), (None, "m5")]
    for google, gemini in cases:
        for name, value in (("GOOGLE_API_KEY", google), ("GEMINI_API_KEY", gemini)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        theirs = _api_client.get_env_api_key()
        ours = AsyncClient(base_url="http://127.0.0.1:9").settings.api_key
        assert (ours.reveal() if ours else None) == theirs, (google, gemini)


def test_insecure_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="verify=False"):
        AsyncClient("k", verify=False)
    with pytest.raises(ConfigurationError, match="base_url"):
        AsyncClient("k", base_url="ftp://example.com")
    with pytest.raises(ConfigurationError, match="query"):
        AsyncClient("k", base_url="https://example.com/?key=x")
    with pytest.raises(ConfigurationError, match="api_version"):
        AsyncClient("k", api_version="v2")


async def test_wrong_key_is_an_authentication_error_without_the_key(
    make_emulator: MakeEmulator,
) -> None:
    emulator = await make_emulator(api_key="the-right-key")
    async with AsyncClient(SECRET, base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.models.by_name(MODEL).generate_content("hi")
        with pytest.raises(AuthenticationError):
            await client.models.by_name(MODEL).stream_generate_content("hi")
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    assert "API key not valid" in caught.value.message


async def test_unknown_model_and_malformed_requests(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.models.by_name("no-such-model").generate_content("hi")
        assert caught.value.status == 404
        with pytest.raises(NotFoundError):
            await client.models.get("no-such-model")
        with pytest.raises(BadRequestError) as bad:
            await client.models.by_name(MODEL).generate_content({"contents": []})
        assert bad.value.status == 400 and bad.value.status_name == "INVALID_ARGUMENT"
        # Caught before anything is sent:
        with pytest.raises(InvalidRequestError):
            await client.models.by_name(MODEL).generate_content({"contents": "not a list"})
        with pytest.raises(InvalidRequestError):
            await client.models.by_name(MODEL).generate_content(42)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError):
            client.models.by_name("../v1/evil")


@pytest.mark.parametrize(
    ("status", "headers", "error_type", "retry_after"),
    [
        (429, {"retry-after": "7"}, RateLimitError, 7.0),
        (429, {}, RateLimitError, 3.0),  # from the RetryInfo detail
        (500, {}, ServerError, 3.0),
        (503, {"retry-after": "2"}, ServiceUnavailableError, 2.0),
    ],
)
async def test_server_errors_are_typed_with_retry_hints(
    scripted_server: Callable[[Handler], Awaitable[str]],
    status: int,
    headers: dict[str, str],
    error_type: type[ApiError],
    retry_after: float,
) -> None:
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
    ]
    body = {"error": {"code": status, "message": "busy", "status": "X", "details": details}}

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status, headers=headers)

    base_url = await scripted_server(handler)
    async with AsyncClient(base_url=base_url) as client:
        model = client.models.by_name(MODEL)
        with pytest.raises(error_type) as caught:
            await model.generate_content("hi")
        with pytest.raises(error_type):
            await model.stream_generate_content("hi")
    assert caught.value.status == status
    assert caught.value.retry_after == retry_after
    assert caught.value.retryable


async def test_non_json_error_body_still_gives_a_typed_error(
    scripted_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="<html>Bad gateway</html>")

    base_url = await scripted_server(handler)
    async with AsyncClient(base_url=base_url) as client:
        with pytest.raises(ServerError, match="Bad gateway"):
            await client.models.by_name(MODEL).generate_content("hi")


async def test_error_event_mid_stream_and_sse_garbage(
    scripted_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"candidates":[{"content":{"parts":[{"text":"ok"}]}}]}\n\n')
        if request.headers.get("x-case") == "error":
            await response.write(
                b'data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\n\n'
            )
        else:
            await response.write(b"data: {not json\n\n")
        return response

    base_url = await scripted_server(handler)
    for case, error_type in (("error", ServiceUnavailableError), ("garbage", ResponseParseError)):
        async with AsyncClient(base_url=base_url, headers={"x-case": case}) as client:
            stream = await client.models.by_name(MODEL).stream_generate_content("hi")
            received = []
            with pytest.raises(error_type):
                async for chunk in stream:
                    received.append(chunk.text)
            assert received == ["ok"]  # what came before the fault is delivered, once


async def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectError):
            await client.models.list()
        with pytest.raises(ConnectError):
            await client.models.by_name(MODEL).stream_generate_content("hi")


async def test_read_timeout_is_a_timeout_error(
    scripted_server: Callable[[Handler], Awaitable[str]],
) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        sse = request.query.get("alt") == "sse"
        content_type = "text/event-stream" if sse else "application/json"
        response = web.StreamResponse(headers={"content-type": content_type})
        await response.prepare(request)
        await response.write(b'data: {"candidates":[]}\n\n' if sse else b"{")
        await release.wait()  # stall: no more bytes until the test ends
        return response

    base_url = await scripted_server(handler)
    timeouts = Timeouts(read=0.3)
    async with AsyncClient(base_url=base_url, timeouts=timeouts) as client:
        stream = await client.models.by_name(MODEL).stream_generate_content("hi")
        with pytest.raises(RequestTimeoutError):
            async for _ in stream:
                pass
        with pytest.raises(TimeoutError):  # also a builtin TimeoutError
            await client.models.by_name(MODEL).generate_content("hi")
    release.set()


async def test_closed_client_refuses_calls(emulator: Emulator) -> None:
    client = AsyncClient(base_url=emulator.base_url)
    await client.aclose()
    await client.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        _ = client.models


# --------------------------------------------------------------------------- sync twin


def test_sync_client_against_an_emulator_process(emulator_process: str) -> None:
    """The sync client, blocking, against the emulator running as a real subprocess."""
    with Client(base_url=emulator_process) as client:
        model = client.models.by_name(MODEL)
        unary = model.generate_content(request_of(10))
        with model.stream_generate_content(request_of(10)) as stream:
            chunks = list(stream)
        assert len(chunks) == 10  # the default emulator sends one token a chunk
        assert "".join(c.text for c in chunks) == unary.text
        assert model.count_tokens("a b c").total_tokens == 3
        assert len(client.models.list(page_size=2)) > 2
        with pytest.raises(NotFoundError):
            client.models.by_name("no-such-model").generate_content("hi")
        with pytest.raises(NotFoundError):
            client.models.by_name("no-such-model").stream_generate_content("hi")


# --------------------------------------------------------------------------- issue 12 item 12


@pytest.mark.parametrize("scheme", ["HTTPS", "Https"])
async def test_an_upper_case_https_scheme_honours_verify(
    scheme: str, make_emulator: MakeEmulator, tls_files: TlsFiles
) -> None:
    """Was: ``HTTPS://`` made unary and SSE calls ignore ``verify=`` (the scheme was
    compared case-sensitively) and fail against the test CA."""
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    url = emu.base_url.replace("https", scheme, 1)
    async with AsyncClient(base_url=url, verify=tls_files.ca) as client:
        assert client.settings.is_tls
        model = client.models.by_name(MODEL)
        assert (await model.generate_content("echo: up")).text == "up"
        async with await model.stream_generate_content("echo: up") as stream:
            assert "".join([c.text async for c in stream]) == "up"


@pytest.mark.parametrize(
    ("verify", "match"),
    [
        (None, "verify must be"),
        (0, "verify must be"),
        (1, "verify must be"),
        ("/no/such/ca.pem", "no CA bundle file"),
        (b"/bytes/path", "verify must be"),
    ],
)
def test_bad_verify_values_are_configuration_errors(verify: Any, match: str) -> None:
    """Was: a raw ``TypeError`` or ``FileNotFoundError``, at the first call."""
    for make in (AsyncClient, Client):
        with pytest.raises(ConfigurationError, match=match):
            make("k", base_url="https://127.0.0.1:9", verify=verify)


def test_a_ca_file_that_does_not_load_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="cannot load the CA bundle"):
        AsyncClient("k", base_url="https://127.0.0.1:9", verify=str(bogus))
    with pytest.raises(ConfigurationError, match="no CA bundle file"):
        AsyncClient("k", base_url="https://127.0.0.1:9", verify=tmp_path)  # a directory
