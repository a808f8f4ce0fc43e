"""Security: where the key goes (headers only: never logs, messages, reprs or URLs),
TLS verification, plain ``ws://`` only to loopback, ephemeral tokens on the Constrained
endpoint.

Complements ``test_http_client.py`` and ``test_ws_connection.py`` (which check the
endpoint and header building, close-reason scrubbing and a few reprs): here everything
goes through the public client against the emulator, and every log record of every
logger, at DEBUG, is searched for the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psutil
import pytest

from api_gemini import AsyncClient, Client
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.emulator.faults import FAULT_HEADER
from api_gemini.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    GeminiError,
    ReadError,
    SetupRejectedError,
    UnexpectedResponseError,
    WebSocketConnectionError,
)
from api_gemini.settings import Timeouts, WebSocketSettings
from api_gemini.websocket import ModelTurn, OutputTranscription
from conftest import MakeEmulator, TlsFiles
from test_hostile_http import body_writer, head, raw_server, sse_writer

KEY = "AIzaSy-SECURITY-test-key-5f3c9a"
LIVE_MODEL = "gemini-3.8-live"
HTTP_MODEL = "gemini-2.5-flash"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[str]:
        for record in self.records:
            yield record.getMessage()
            yield repr(record.args)
            if record.exc_info and record.exc_info[1] is not None:
                yield repr(record.exc_info[1])
                yield str(record.exc_info[1])


@contextlib.contextmanager
def debug_logs() -> Iterator[_Capture]:
    """Every logger at DEBUG (root, and the libraries' own: websockets, httpx2, httpcore,
    asyncio, aiohttp), captured."""
    capture = _Capture()
    root = logging.getLogger()
    names = ["websockets", "websockets.client", "httpx2", "httpx", "httpcore", "httpcore2"]
    names += ["asyncio", "aiohttp", "api_gemini", "hpack"]
    saved = [(root, root.level)] + [
        (logging.getLogger(n), logging.getLogger(n).level) for n in names
    ]
    root.addHandler(capture)
    for logger, _ in saved:
        logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for logger, level in saved:
            logger.setLevel(level)


def _assert_no_key(*things: object) -> None:
    for thing in things:
        assert KEY not in str(thing), thing
        assert KEY not in repr(thing), thing


def _client(emu: Emulator, **kwargs: Any) -> AsyncClient:
    return AsyncClient(
        KEY,
        base_url=emu.base_url,
        timeouts=Timeouts(read=0.3),
        websocket=WebSocketSettings(keepalive_interval=0.05, keepalive_timeout=0.2),
        **kwargs,
    )


async def test_the_key_is_in_no_log_record_at_debug_across_every_surface(
    emulator: Emulator,
) -> None:
    errors: list[BaseException] = []
    with debug_logs() as logs:
        async with _client(emulator) as client:
            live = client.models.by_name(LIVE_MODEL)
            http = client.models.by_name(HTTP_MODEL)
            assert (await http.generate_content("echo: one")).text == "one"
            async with await http.stream_generate_content("echo: two") as sse:
                assert [c.text async for c in sse]
            stream = await live.stream_generate_content_websocket("echo: three")
            async with stream:
                assert [c.text async for c in stream]
            async with await live.connect() as session:
                await session.send_text("echo: four")
                texts = [
                    e.text
                    async for e in session.receive_turn()
                    if isinstance(e, ModelTurn | OutputTranscription)
                ]
                assert "".join(texts) == "four"
                _assert_no_key(session, session.health())
            _assert_no_key(client, client.settings, live, http, stream, sse)
            # Failures log too: a dropped stream, a refused upgrade, an HTTP error.
            for spec in ("close-1011-after-1", "http-503-retry-1", "malformed-after-1"):
                async with _client(emulator, headers={FAULT_HEADER: spec}) as bad:
                    with pytest.raises(GeminiError) as info:
                        s = await bad.models.by_name(LIVE_MODEL).stream_generate_content_websocket(
                            "hi"
                        )
                        async with s:
                            _ = [c async for c in s]
                    errors.append(info.value)
                    with pytest.raises(GeminiError) as info:
                        await bad.models.by_name(HTTP_MODEL).generate_content("hi")
                    errors.append(info.value)
    assert logs.records, "nothing was logged: the capture is not working"
    # websockets logs the handshake headers at DEBUG: the capture must have seen them.
    assert any("x-goog-api-key" in text.lower() for text in logs.texts())
    leaked = [text for text in logs.texts() if KEY in text]
    assert not leaked, leaked[:3]
    for error in errors:
        _assert_no_key(error, error.args, error.__cause__, error.__context__)
        _assert_no_key(*(getattr(error, name, "") for name in vars(error)))


async def test_the_key_travels_in_the_header_only_never_in_a_url(emulator: Emulator) -> None:
    async with _client(emulator) as client:
        http = client.models.by_name(HTTP_MODEL)
        await http.generate_content("hi")
        async with await http.stream_generate_content("hi") as sse:
            _ = [c async for c in sse]
        await http.count_tokens("hi")
        await client.models.list()
        stream = await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
        async with stream:
            _ = [c async for c in stream]
    requests = list(emulator.requests)
    assert len(requests) >= 5
    assert any("BidiGenerateContent" in r.path_qs for r in requests)
    for request in requests:
        assert KEY not in request.path_qs
        assert "key=" not in request.path_qs
        assert request.header("x-goog-api-key") == KEY
        assert request.header("authorization") is None


async def test_an_ephemeral_token_goes_to_the_constrained_endpoint_as_a_token(
    make_emulator: MakeEmulator,
) -> None:
    # With a key configured, the emulator accepts only tokens on the Constrained endpoint.
    emu = await make_emulator(api_key="the-real-key")
    async with AsyncClient("the-real-key", base_url=emu.base_url) as minter:
        minted = await minter.auth_tokens.create()
        token = minted.name
    # The token is a credential: its repr (which lands in logs) does not show it.
    assert token not in repr(minted) and token not in str(minted)
    assert repr(minted).startswith("AuthToken(name=auth_tokens/…")
    async with AsyncClient(token, base_url=emu.base_url) as client:
        model = client.models.by_name(LIVE_MODEL)
        async with await model.connect() as session:
            await session.send_text("echo: constrained")
            texts = [
                e.text
                async for e in session.receive_turn()
                if isinstance(e, ModelTurn | OutputTranscription)
            ]
        assert "".join(texts) == "constrained"
        _assert_no_key(client, client.settings)
        assert token not in repr(client) and token not in repr(session)
    (upgrade,) = [r for r in emu.requests if "/ws/" in r.path_qs]
    assert upgrade.path_qs.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert upgrade.header("authorization") == f"Token {token}"
    assert upgrade.header("x-goog-api-key") is None
    assert token not in upgrade.path_qs


async def test_a_key_on_the_constrained_endpoint_is_not_a_token(
    make_emulator: MakeEmulator,
) -> None:
    """A plain key goes to the normal endpoint; a wrong one is refused and never shown."""
    emu = await make_emulator(api_key="the-real-key")
    async with _client(emu) as client:
        with pytest.raises(SetupRejectedError) as info:
            await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
        with pytest.raises(AuthenticationError) as http_info:
            await client.models.by_name(HTTP_MODEL).generate_content("hi")
    _assert_no_key(info.value, http_info.value, info.value.reason)
    assert all("Constrained" not in r.path_qs for r in emu.requests)


async def test_an_untrusted_certificate_is_an_error_on_every_surface(
    make_emulator: MakeEmulator, tls_files: TlsFiles
) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    async with AsyncClient(KEY, base_url=emu.base_url) as client:
        http = client.models.by_name(HTTP_MODEL)
        live = client.models.by_name(LIVE_MODEL)
        with pytest.raises(ConnectError) as unary:
            await http.generate_content("hi")
        with pytest.raises(ConnectError):
            await http.stream_generate_content("hi")
        with pytest.raises(WebSocketConnectionError, match="TLS") as ws:
            await live.stream_generate_content_websocket("hi")
        with pytest.raises(WebSocketConnectionError, match="TLS"):
            await live.connect()
    assert "certif" in str(unary.value).lower()
    _assert_no_key(unary.value, ws.value)
    # Nothing but the TLS handshake reached the server: no request was served.
    assert not emu.requests
    # With the CA it works, over https and wss.
    async with AsyncClient(KEY, base_url=emu.base_url, verify=tls_files.ca) as client:
        assert (await client.models.by_name(HTTP_MODEL).generate_content("echo: ok")).text
        s = await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("echo: ok")
        async with s:
            assert "".join([c.text async for c in s]) == "ok"


def test_the_sync_client_verifies_tls_too(tls_files: TlsFiles) -> None:
    with _emulator_thread(EmulatorConfig(tls_cert=tls_files.cert, tls_key=tls_files.key)) as url:
        with Client(KEY, base_url=url) as client, pytest.raises(ConnectError):
            client.models.by_name(HTTP_MODEL).generate_content("hi")
        with Client(KEY, base_url=url, verify=tls_files.ca) as client:
            assert client.models.by_name(HTTP_MODEL).generate_content("echo: ok").text == "ok"


@contextlib.contextmanager
def _emulator_thread(config: EmulatorConfig) -> Iterator[str]:
    """An emulator on its own loop in a thread (for sync clients); yields its base URL."""
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        async with Emulator(config) as emu:
            ready.put(emu.base_url)
            while not stop.is_set():
                await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join(10)


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.8", "192.168.1.20", "generativelanguage.googleapis.com"]
)
async def test_plain_ws_to_a_remote_host_is_refused_before_any_network(host: str) -> None:
    """Refused at once (no DNS lookup, no connection), on both WebSocket surfaces."""
    async with AsyncClient(KEY, base_url=f"http://{host}:9") as client:
        model = client.models.by_name(LIVE_MODEL)
        async with asyncio.timeout(1):
            with pytest.raises(ConfigurationError, match="ws://") as info:
                await model.stream_generate_content_websocket("hi")
            with pytest.raises(ConfigurationError, match="ws://"):
                await model.connect()
    _assert_no_key(info.value)


def _own_non_loopback_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    return None


async def test_plain_ws_to_a_non_loopback_address_only_when_allowed(
    make_emulator: MakeEmulator,
) -> None:
    """This machine's own LAN address is not loopback: refused, unless allowed."""
    address = _own_non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    emu = await make_emulator(host="0.0.0.0")
    base_url = f"http://{address}:{emu.port}"
    async with AsyncClient(KEY, base_url=base_url) as client:
        with pytest.raises(ConfigurationError, match="ws://"):
            await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
    allowed = WebSocketSettings(allow_insecure_ws=True)
    async with AsyncClient(KEY, base_url=base_url, websocket=allowed) as client:
        s = await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("echo: y")
        async with s:
            assert "".join([c.text async for c in s]) == "y"
    assert any(r.header("x-goog-api-key") == KEY for r in emu.requests)


# --------------------------------------------------------------------------- issue 12: HTTP


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.8", "192.168.1.20", "generativelanguage.googleapis.com"]
)
async def test_plain_http_to_a_remote_host_is_refused_before_any_network(host: str) -> None:
    """As ``ws://``: the key never goes in clear text off loopback (issue 12 item 7).
    Was: sent. Every HTTP call refuses at once, before DNS or a connection."""
    async with AsyncClient(KEY, base_url=f"http://{host}:9") as client:
        model = client.models.by_name(HTTP_MODEL)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: model.generate_content("hi"),
            lambda: model.stream_generate_content("hi"),
            lambda: model.count_tokens("hi"),
            lambda: client.models.list(),
            lambda: client.models.get(HTTP_MODEL),
        ]
        async with asyncio.timeout(1):
            for call in calls:
                with pytest.raises(ConfigurationError, match="http://") as info:
                    await call()
    assert "allow_insecure_http=True" in str(info.value)
    _assert_no_key(info.value)
    with Client(KEY, base_url=f"http://{host}:9") as sync, pytest.raises(ConfigurationError):
        sync.models.by_name(HTTP_MODEL).generate_content("hi")


async def test_plain_http_to_a_non_loopback_address_only_when_allowed(
    make_emulator: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine's own LAN address: refused (nothing reaches the server), unless
    ``allow_insecure_http=True``; without a key there is nothing to protect."""
    address = _own_non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this machine")
    # A truly keyless client (no key from the environment either), and an emulator that
    # takes keyless requests (the service would not: require_key=False is the opt-in).
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    emu = await make_emulator(host="0.0.0.0", require_key=False)
    base_url = f"http://{address}:{emu.port}"
    async with AsyncClient(KEY, base_url=base_url) as client:
        with pytest.raises(ConfigurationError, match="http://"):
            await client.models.by_name(HTTP_MODEL).generate_content("hi")
    assert not emu.requests
    async with AsyncClient(base_url=base_url) as keyless:
        assert (await keyless.models.by_name(HTTP_MODEL).generate_content("echo: a")).text == "a"
    async with AsyncClient(KEY, base_url=base_url, allow_insecure_http=True) as client:
        assert (await client.models.by_name(HTTP_MODEL).generate_content("echo: b")).text == "b"
    assert [r.header("x-goog-api-key") for r in emu.requests] == [None, KEY]


ECHO = {"error": {"code": 400, "message": f"bad header x-goog-api-key: {KEY}", "details": [KEY]}}


@pytest.mark.parametrize("surface", ["unary", "sse open", "sse event"])
async def test_a_key_echoed_by_the_server_is_scrubbed_from_the_error(surface: str) -> None:
    """Was: the server's echo of the request header showed in ``str(exc)``."""
    good = b'data: {"candidates": [{"content": {"parts": [{"text": "ok "}]}}]}\n\n'
    echo = json.dumps(ECHO).encode()
    if surface == "sse event":
        writer = sse_writer(good, b"data: " + echo + b"\n\n")
    else:
        writer = body_writer(400, echo, extra=f"X-Echo: {KEY}\r\n")
    async with raw_server(writer) as url, AsyncClient(KEY, base_url=url) as client:
        model = client.models.by_name(HTTP_MODEL)
        with pytest.raises(ApiError) as info:
            if surface == "unary":
                await model.generate_content("hi")
            else:
                async with await model.stream_generate_content("hi") as stream:
                    _ = [chunk async for chunk in stream]
    assert "bad header x-goog-api-key: ***" in str(info.value)
    _assert_no_key(info.value, info.value.message, info.value.details)


async def test_a_key_echoed_in_a_redirect_is_scrubbed() -> None:
    writer = body_writer(302, b"", extra=f"Location: https://u:p@evil.example/?k={KEY}\r\n")
    async with raw_server(writer) as url, AsyncClient(KEY, base_url=url) as client:
        with pytest.raises(UnexpectedResponseError) as info:
            await client.models.by_name(HTTP_MODEL).generate_content("hi")
    assert "evil.example" in str(info.value) and "u:p@" not in str(info.value)
    _assert_no_key(info.value)


def test_a_password_in_base_url_is_not_shown() -> None:
    """Was: ``repr(client)`` showed ``https://user:hunter2@host``."""
    client = AsyncClient(KEY, base_url="https://user:hunter2@proxy.example:8443/gemini")
    for text in (repr(client), repr(client.settings), str(client.settings)):
        assert "hunter2" not in text and KEY not in text
        assert "proxy.example:8443/gemini" in text
    with pytest.raises(ConfigurationError) as info:
        AsyncClient(KEY, base_url="ftp://user:hunter2@proxy.example")
    assert "hunter2" not in str(info.value)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


@pytest.mark.parametrize("surface", ["unary", "sse"])
async def test_no_httpx2_exception_with_the_headers_hangs_off_ours(surface: str) -> None:
    """Was: ``__context__`` held httpx2's exception, whose ``request.headers`` carry the
    key. Refused connection (at send) and a body cut mid-stream (while reading)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    errors: list[GeminiError] = []
    async with AsyncClient(KEY, base_url=f"http://127.0.0.1:{closed_port}") as client:
        model = client.models.by_name(HTTP_MODEL)
        with pytest.raises(ConnectError) as info:
            if surface == "unary":
                await model.generate_content("hi")
            else:
                await model.stream_generate_content("hi")
        errors.append(info.value)

    async def cut(writer: asyncio.StreamWriter) -> None:
        writer.write(b"5\r\nda")
        await writer.drain()

    good = b'data: {"candidates": [{"content": {"parts": [{"text": "ok "}]}}]}\n\n'
    writer = sse_writer(good, then=cut) if surface == "sse" else body_writer(200, b"")
    if surface == "unary":

        async def cut_unary(w: asyncio.StreamWriter) -> None:
            w.write(head(200) + b"ff\r\n{")
            await w.drain()

        writer = cut_unary
    async with raw_server(writer) as url, AsyncClient(KEY, base_url=url) as client:
        model = client.models.by_name(HTTP_MODEL)
        with pytest.raises(ReadError) as read_info:
            if surface == "unary":
                await model.generate_content("hi")
            else:
                async with await model.stream_generate_content("hi") as stream:
                    _ = [chunk async for chunk in stream]
        errors.append(read_info.value)
    for error in errors:
        chain = _chain(error)
        assert chain == [error], [type(e).__module__ for e in chain]
        _assert_no_key(*chain)
