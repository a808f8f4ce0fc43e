"""HTTP habits of Python users (issue 15 item 2): an opt-in retry policy, a per-call
``timeout=``, an injected httpx2 client. Against the emulator on real sockets: its
``first-K-SPEC`` fault fails the first K requests and then serves normally.
(The key order and its warning are in ``test_http_client.py``.)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
import time
from typing import Any

import httpx2
import pytest

from api_gemini import AsyncClient, Client, RetryPolicy, Timeouts
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    BadRequestError,
    ConfigurationError,
    InvalidRequestError,
    RateLimitError,
    ReadError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    UnexpectedResponseError,
)
from conftest import LeakCheck, MakeEmulator, TlsFiles
from test_hostile_http import body_writer, raw_server, sse_writer
from test_security import _emulator_thread

KEY = "habits-key-SECRET-0123456789"
MODEL = "gemini-2.5-flash"
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05)
RETRY_LOGGER = "api_gemini.http.retry"


def _client(emu: Emulator, fault: str | None = None, **kwargs: Any) -> AsyncClient:
    headers = {FAULT_HEADER: fault} if fault else None
    return AsyncClient(KEY, base_url=emu.base_url, headers=headers, **kwargs)


def _retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == RETRY_LOGGER]
    assert all(KEY not in line for line in lines)
    return lines


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("surface", ["unary", "sse"])
async def test_retries_until_the_service_answers(
    surface: str, emulator: Emulator, caplog: pytest.LogCaptureFixture, leak_check: LeakCheck
) -> None:
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    async with _client(emulator, "first-2-http-503", retry=FAST) as client:
        model = client.models.by_name(MODEL)
        if surface == "unary":
            assert (await model.generate_content("echo: fine")).text == "fine"
        else:
            async with await model.stream_generate_content("echo: fine") as stream:
                assert "".join([c.text async for c in stream]) == "fine"
    assert emulator.stats.http_requests == 3
    lines = _retry_lines(caplog)
    assert len(lines) == 2
    assert lines[0].startswith(f"retrying POST /v1beta/models/{MODEL}:")
    assert "(attempt 2 of 3) after ServiceUnavailableError: 503" in lines[0]
    await leak_check.assert_clean()


async def test_no_policy_no_retry(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    """Off by default: failures are transparent."""
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    async with _client(emulator, "first-1-http-503") as client:
        with pytest.raises(ServiceUnavailableError):
            await client.models.by_name(MODEL).generate_content("hi")
    assert emulator.stats.http_requests == 1
    assert not _retry_lines(caplog)


async def test_the_last_error_when_attempts_run_out(emulator: Emulator) -> None:
    async with _client(emulator, "first-5-http-500", retry=FAST) as client:
        with pytest.raises(ServerError) as info:
            await client.models.by_name(MODEL).count_tokens("hi")
    assert emulator.stats.http_requests == 3
    assert "(after 3 attempts)" in info.value.__notes__


async def test_errors_that_are_not_retryable_are_raised_at_once(emulator: Emulator) -> None:
    async with _client(emulator, retry=FAST) as client:
        with pytest.raises(BadRequestError):
            await client.models.by_name(MODEL).generate_content({"contents": []})
    assert emulator.stats.http_requests == 1


async def test_retry_after_is_honoured(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The hint (0.3 s) is longer than the backoff (10 ms): the wait is the hint."""
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    async with _client(emulator, "first-1-http-429-retry-0.3", retry=FAST) as client:
        started = time.monotonic()
        assert (await client.models.by_name(MODEL).generate_content("echo: ok")).text == "ok"
        assert time.monotonic() - started >= 0.3
    (line,) = _retry_lines(caplog)
    assert " in 0.30 s " in line


async def test_a_retry_after_over_the_cap_is_not_waited_for(emulator: Emulator) -> None:
    policy = RetryPolicy(initial_backoff=0.01, max_retry_after=1.0)
    async with _client(emulator, "first-1-http-429-retry-5", retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await client.models.by_name(MODEL).generate_content("hi")
        assert time.monotonic() - started < 5
    assert info.value.retry_after == 5.0
    assert emulator.stats.http_requests == 1


async def test_a_stream_is_never_retried_after_a_chunk(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The TCP connection drops after 3 chunks: sending again would repeat them."""
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    texts: list[str] = []
    async with _client(emulator, "close-1011-after-3", retry=FAST) as client:
        with pytest.raises(ReadError):
            stream = await client.models.by_name(MODEL).stream_generate_content("a b c d e f")
            async with stream:
                async for chunk in stream:
                    texts.append(chunk.text)
    assert len(texts) == 3
    assert emulator.stats.http_requests == 1
    assert not _retry_lines(caplog)


async def test_a_stream_cut_before_its_first_chunk_is_retried(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """200 and headers sent, then the connection dropped before any chunk: nothing was
    handed over, so the stream is opened again."""
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    async with (
        _client(emulator, "first-1-close-1011-at-setup", retry=FAST) as client,
        await client.models.by_name(MODEL).stream_generate_content("echo: again") as stream,
    ):
        assert "".join([c.text async for c in stream]) == "again"
    assert emulator.stats.http_requests == 2
    (line,) = _retry_lines(caplog)
    assert "after ReadError" in line


def test_the_sync_client_retries_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    with (
        _emulator_thread(EmulatorConfig()) as url,
        Client(KEY, base_url=url, headers={FAULT_HEADER: "first-2-http-503"}, retry=FAST) as c,
    ):
        model = c.models.by_name(MODEL)
        assert model.generate_content("echo: sync").text == "sync"
        c_headers = {FAULT_HEADER: "first-1-http-500"}
        with (
            Client(KEY, base_url=url, headers=c_headers, retry=FAST) as streaming,
            streaming.models.by_name(MODEL).stream_generate_content("echo: s") as s,
        ):
            assert "".join(chunk.text for chunk in s) == "s"
    assert len(_retry_lines(caplog)) == 3


def test_retry_policy_values() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=5.0, multiplier=2.0, jitter=0.5)
    assert policy.delay(1, 0.0) == 1.0
    assert policy.delay(2, 0.0) == 2.0
    assert policy.delay(9, 0.0) == 5.0  # capped
    assert policy.delay(1, 0.999) == pytest.approx(0.5, abs=0.01)  # jitter: half, at most
    assert policy.delay(1, 0.0, retry_after=7.0) == 7.0  # the hint when longer
    for bad in (
        {"max_attempts": 0},
        {"initial_backoff": -1},
        {"multiplier": 0.5},
        {"jitter": 2},
        {"max_retry_after": -1},
    ):
        with pytest.raises(ConfigurationError):
            RetryPolicy(**bad)


# --------------------------------------------------------------------------- timeout=


@pytest.mark.parametrize("timeout", [0.2, Timeouts(connect=1, read=0.2, write=1, pool=1)])
async def test_a_per_call_timeout(
    timeout: float | Timeouts, emulator: Emulator, leak_check: LeakCheck
) -> None:
    """The client waits 120 s by default; the call says 0.2 s (the server stalls)."""
    async with _client(emulator, "stall-after-2") as client:
        model = client.models.by_name(MODEL)
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            await model.generate_content("hi", timeout=timeout)
        texts: list[str] = []
        with pytest.raises(RequestTimeoutError):
            async with await model.stream_generate_content("a b c d", timeout=timeout) as s:
                async for chunk in s:
                    texts.append(chunk.text)
        assert time.monotonic() - started < 5
        assert len(texts) == 2
        # The next call without timeout= has the client's again (an unstalled server).
        assert client.settings.timeouts.read == 120.0
    await leak_check.assert_clean()


def test_the_sync_per_call_timeout() -> None:
    with (
        _emulator_thread(EmulatorConfig()) as url,
        Client(KEY, base_url=url, headers={FAULT_HEADER: "stall"}) as c,
    ):
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            c.models.by_name(MODEL).generate_content("hi", timeout=0.2)
        stream = c.models.by_name(MODEL).stream_generate_content("hi", timeout=0.2)
        with pytest.raises(RequestTimeoutError), stream:
            _ = list(stream)
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
async def test_bad_per_call_timeouts_are_refused(bad: Any, emulator: Emulator) -> None:
    async with _client(emulator) as client:
        with pytest.raises(InvalidRequestError, match="timeout"):
            await client.models.by_name(MODEL).generate_content("hi", timeout=bad)
    assert emulator.stats.http_requests == 0


# --------------------------------------------------------------------------- http_client=


async def test_an_injected_httpx2_client_is_used_and_left_open(
    make_emulator: MakeEmulator, tls_files: TlsFiles
) -> None:
    """Custom TLS (the test CA) on the caller's client; every request goes through it
    (its event hook sees them), with the key in the header; ours does not close it."""
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key, api_key=KEY)
    seen: list[str] = []

    async def hook(request: httpx2.Request) -> None:
        seen.append(request.url.path)

    context = ssl.create_default_context(cafile=tls_files.ca)
    own = httpx2.AsyncClient(verify=context, event_hooks={"request": [hook]})
    async with AsyncClient(KEY, base_url=emu.base_url, http_client=own) as client:
        model = client.models.by_name(MODEL)
        assert (await model.generate_content("echo: mine")).text == "mine"
        async with await model.stream_generate_content("echo: mine") as stream:
            assert "".join([c.text async for c in stream]) == "mine"
        assert [m.name for m in await client.models.list()]
    assert not own.is_closed  # the caller's to close
    assert (
        await own.get(emu.base_url + "/v1beta/models", headers={"x-goog-api-key": KEY})
    ).is_success
    await own.aclose()
    assert seen[:2] == [
        f"/v1beta/models/{MODEL}:generateContent",
        f"/v1beta/models/{MODEL}:streamGenerateContent",
    ]
    assert all(r.header("x-goog-api-key") == KEY for r in emu.requests)


async def test_an_injected_client_never_follows_redirects() -> None:
    """Even one built with ``follow_redirects=True``: the key must not go along."""
    writer = body_writer(302, b"", extra="Location: http://127.0.0.1:9/elsewhere\r\n")
    async with (
        raw_server(writer) as url,
        httpx2.AsyncClient(follow_redirects=True) as own,
        AsyncClient(KEY, base_url=url, http_client=own) as client,
    ):
        with pytest.raises(UnexpectedResponseError) as info:
            await client.models.by_name(MODEL).generate_content("hi")
    assert info.value.status == 302


def test_a_wrong_http_client_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"httpx2\.AsyncClient"):
        _ = AsyncClient(KEY, base_url="http://127.0.0.1:9", http_client=httpx2.Client()).models
    with pytest.raises(ConfigurationError, match=r"httpx2\.Client"):
        _ = Client(KEY, base_url="http://127.0.0.1:9", http_client=httpx2.AsyncClient()).models
    with pytest.raises(ConfigurationError, match="verify"):
        AsyncClient(
            KEY, base_url="http://127.0.0.1:9", verify="/x", http_client=httpx2.AsyncClient()
        )


def test_an_injected_sync_httpx2_client() -> None:
    seen: list[str] = []
    with (
        _emulator_thread(EmulatorConfig()) as url,
        httpx2.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]}) as own,
    ):
        with Client(KEY, base_url=url, http_client=own) as client:
            model = client.models.by_name(MODEL)
            assert model.generate_content("echo: sync mine").text == "sync mine"
            with model.stream_generate_content("echo: s") as stream:
                assert "".join(chunk.text for chunk in stream) == "s"
        assert not own.is_closed
    assert len(seen) == 2


async def test_an_error_event_before_the_first_chunk_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 200 whose first event is a 503 error event: nothing was handed over, so the
    stream is opened again (and the same answer again ends it, attempts used up)."""
    caplog.set_level(logging.INFO, RETRY_LOGGER)
    served: list[int] = []
    event = b'data: {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}\n\n'
    inner = sse_writer(event)

    async def write(writer: asyncio.StreamWriter) -> None:
        served.append(1)
        await inner(writer)

    policy = RetryPolicy(max_attempts=2, initial_backoff=0.01)
    async with raw_server(write) as url, AsyncClient(KEY, base_url=url, retry=policy) as client:
        with pytest.raises(ServiceUnavailableError) as info:
            async with await client.models.by_name(MODEL).stream_generate_content("hi") as s:
                _ = [chunk async for chunk in s]
    assert len(served) == 2
    assert "(after 2 attempts)" in info.value.__notes__
    assert len(_retry_lines(caplog)) == 1


HTTP_CALLS = {
    "AsyncModels": ("list", "get"),
    "Models": ("list", "get"),
    "AsyncModel": (
        "generate_content",
        "stream_generate_content",
        "count_tokens",
        "embed_content",
        "batch_embed_contents",
    ),
    "Model": (
        "generate_content",
        "stream_generate_content",
        "count_tokens",
        "embed_content",
        "batch_embed_contents",
    ),
    "AsyncAuthTokens": ("create",),
    "AuthTokens": ("create",),
}


def test_every_http_call_takes_a_timeout() -> None:
    """Issue 15: ``timeout=`` on every HTTP call, async and sync (a keyword)."""
    from api_gemini import auth_tokens, models

    for owner, names in HTTP_CALLS.items():
        cls = getattr(models, owner, None) or getattr(auth_tokens, owner)
        for name in names:
            parameter = inspect.signature(getattr(cls, name)).parameters.get("timeout")
            assert parameter is not None, f"{owner}.{name}"
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, f"{owner}.{name}"
            assert parameter.default is None, f"{owner}.{name}"


async def test_embeddings_and_tokens_honour_the_per_call_timeout(leak_check: LeakCheck) -> None:
    """A server that never answers; the client waits 120 s by default, the call 0.2 s."""

    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async with raw_server(silent) as url, AsyncClient(KEY, base_url=url) as client:
        model = client.models.by_name("text-embedding-004")
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            await model.embed_content("hi", timeout=0.2)
        with pytest.raises(RequestTimeoutError):
            await model.batch_embed_contents(["a", "b"], timeout=0.2)
        with pytest.raises(RequestTimeoutError):
            await client.auth_tokens.create(uses=1, timeout=0.2)
        assert time.monotonic() - started < 5
    await leak_check.assert_clean()
