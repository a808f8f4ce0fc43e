"""One Live WebSocket: endpoint, opening, error mapping, hostile servers, health.

Most servers here are purpose-built (``websockets.asyncio.server.serve`` or raw
asyncio TCP) because they must misbehave in ways the emulator never does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.errors import (
    ConfigurationError,
    DisconnectedError,
    KeepaliveTimeoutError,
    MessageParseError,
    MessageTooBigError,
    ProtocolViolationError,
    SessionClosedError,
    SetupRejectedError,
    WebSocketConnectionError,
)
from api_gemini.settings import ClientSettings, SecretKey, WebSocketSettings
from api_gemini.types import Content, GenerateContentRequest
from api_gemini.websocket import open_stream
from api_gemini.websocket.connection import LiveConnection
from api_gemini.websocket.live_types import LiveSetup
from api_gemini.websocket.transport import live_endpoint

KEY = "AIzaSy-test-SECRET-key-0123456789"
LIVE_MODEL = "gemini-3.8-live"
SETUP_COMPLETE = b'{"setupComplete":{}}'

Handler = Callable[[ServerConnection], Awaitable[None]]


def settings_for(base_url: str, key: str | None = KEY, **ws: Any) -> ClientSettings:
    return ClientSettings.resolve(
        key, base_url=base_url, websocket=WebSocketSettings(**ws) if ws else None
    )


def text_chunk(text: str) -> bytes:
    return json.dumps({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}}).encode()


@contextlib.asynccontextmanager
async def ws_server(handler: Handler, **kwargs: Any) -> AsyncIterator[str]:
    """A purpose-built websockets server on a free loopback port; yields its base URL."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def tcp_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A raw TCP server for what a WebSocket library will not do (never pong, ...)."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def raw_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the WebSocket upgrade by hand."""
    request = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
    assert match is not None
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    accept = base64.b64encode(hashlib.sha1(match.group(1) + guid).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """An unmasked server frame (payload < 64 KiB)."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    return head + bytes([126]) + len(payload).to_bytes(2, "big") + payload


async def setup_ok(ws: ServerConnection) -> dict[str, Any]:
    setup: dict[str, Any] = json.loads(await ws.recv())
    await ws.send(SETUP_COMPLETE)
    return setup


def _request() -> GenerateContentRequest:
    return GenerateContentRequest(contents=[Content.user_text("hello")])


def assert_no_key(*things: object) -> None:
    for thing in things:
        assert KEY not in str(thing)
        assert KEY not in repr(thing)


# --------------------------------------------------------------------------- endpoint


def test_endpoint_url_and_headers() -> None:
    settings = settings_for("https://generativelanguage.googleapis.com")
    endpoint = live_endpoint(settings)
    assert endpoint.url == (
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert ("x-goog-api-key", KEY) in endpoint.headers
    assert KEY not in endpoint.url
    assert_no_key(endpoint)
    assert endpoint.ssl is not None


def test_endpoint_versions_ports_prefixes_and_custom_headers() -> None:
    settings = ClientSettings.resolve(
        KEY,
        base_url="http://127.0.0.1:8123/proxy/",
        api_version="v1alpha",
        headers={"X-Trace": "t1", "x-goog-api-key": "not-this-one"},
    )
    endpoint = live_endpoint(settings)
    assert endpoint.url == (
        "ws://127.0.0.1:8123/proxy/ws/"
        "google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
    )
    headers = dict(endpoint.headers)
    assert headers == {"x-trace": "t1", "x-goog-api-key": KEY}
    assert endpoint.ssl is None


def test_ephemeral_token_uses_the_constrained_endpoint() -> None:
    token = "auth_tokens/abc123"
    settings = ClientSettings.resolve(
        token, base_url="https://generativelanguage.googleapis.com", api_version="v1alpha"
    )
    endpoint = live_endpoint(settings)
    assert endpoint.url.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert dict(endpoint.headers) == {"authorization": f"Token {token}"}
    assert token not in endpoint.url


def test_plain_ws_only_to_loopback_unless_allowed() -> None:
    with pytest.raises(ConfigurationError, match="ws://") as info:
        live_endpoint(settings_for("http://example.com"))
    assert_no_key(info.value)
    allowed = settings_for("http://example.com", allow_insecure_ws=True)
    assert live_endpoint(allowed).url.startswith("ws://example.com/")
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert live_endpoint(settings_for(f"http://{host}:1")).url.startswith("ws://")


# --------------------------------------------------------------------------- opening


async def test_handshake_sends_key_in_header_only_and_setup_first() -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen["path"] = ws.request.path
        seen["headers"] = ws.request.headers
        seen["setup"] = await setup_ok(ws)
        seen["content"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"serverContent": {"turnComplete": True}}))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        stream = await open_stream(settings_for(url), LIVE_MODEL, _request())
        chunks = [c async for c in stream]
    assert KEY not in seen["path"]
    assert seen["path"].endswith("GenerativeService.BidiGenerateContent")
    headers: Headers = seen["headers"]
    assert headers["x-goog-api-key"] == KEY
    assert headers["user-agent"].startswith("api-gemini/")
    assert seen["setup"] == {
        "setup": {
            "model": f"models/{LIVE_MODEL}",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "outputAudioTranscription": {},
        }
    }
    assert seen["content"] == {
        "clientContent": {
            "turns": [{"parts": [{"text": "hello"}], "role": "user"}],
            "turnComplete": True,
        }
    }
    assert len(chunks) == 1
    assert chunks[0].finish_reason == "STOP"


@pytest.mark.parametrize("status", [HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND])
async def test_refused_upgrade_has_http_status(status: HTTPStatus) -> None:
    def refuse(conn: ServerConnection, req: Request) -> Response:
        body = json.dumps({"error": {"code": status.value, "message": f"nope {KEY}"}})
        return conn.respond(status, body)

    async def handler(ws: ServerConnection) -> None:  # pragma: no cover - never upgraded
        await ws.wait_closed()

    async with ws_server(handler, process_request=refuse) as url:
        with pytest.raises(WebSocketConnectionError) as info:
            await open_stream(settings_for(url), LIVE_MODEL, _request())
    assert info.value.http_status == status.value
    assert "nope ***" in str(info.value)  # the server's message, with the key scrubbed
    assert_no_key(info.value)


async def test_redirect_is_reported_not_followed() -> None:
    def redirect(conn: ServerConnection, req: Request) -> Response:
        response = conn.respond(HTTPStatus.FOUND, "")
        response.headers["Location"] = "ws://127.0.0.2:9/elsewhere"
        return response

    async def handler(ws: ServerConnection) -> None:  # pragma: no cover
        await ws.wait_closed()

    async with ws_server(handler, process_request=redirect) as url:
        with pytest.raises(WebSocketConnectionError) as info:
            await open_stream(settings_for(url), LIVE_MODEL, _request())
    assert info.value.http_status == 302


async def test_connection_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(WebSocketConnectionError) as info:
        await open_stream(settings_for(f"http://127.0.0.1:{port}"), LIVE_MODEL, _request())
    assert info.value.http_status is None
    assert info.value.retryable
    assert_no_key(info.value)


async def test_dns_failure() -> None:
    settings = settings_for("https://no-such-host.invalid", open_timeout=3)
    with pytest.raises(WebSocketConnectionError) as info:
        await open_stream(settings, LIVE_MODEL, _request())
    assert info.value.http_status is None


async def test_open_timeout_when_the_server_never_answers_the_upgrade() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the TCP connection, answer nothing
        writer.close()

    async with tcp_server(silent) as url:
        with pytest.raises(WebSocketConnectionError, match="open_timeout") as info:
            await open_stream(settings_for(url, open_timeout=0.3), LIVE_MODEL, _request())
    assert info.value.http_status is None


async def test_open_timeout_covers_setup() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # setup, never answered
        await ws.wait_closed()

    async with ws_server(handler) as url:
        with pytest.raises(WebSocketConnectionError, match="setup"):
            await open_stream(settings_for(url, open_timeout=0.3), LIVE_MODEL, _request())


async def test_tls_to_an_untrusted_certificate_fails(make_emulator: Any, tls_files: Any) -> None:
    emu: Emulator = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    with pytest.raises(WebSocketConnectionError, match="TLS") as info:
        await open_stream(settings_for(emu.base_url), LIVE_MODEL, _request())
    assert info.value.http_status is None


async def test_tls_with_the_right_ca(make_emulator: Any, tls_files: Any) -> None:
    emu: Emulator = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    assert emu.base_url.startswith("https://")
    settings = ClientSettings.resolve(KEY, base_url=emu.base_url, verify=tls_files.ca)
    async with await open_stream(settings, LIVE_MODEL, _request()) as stream:
        chunks = [c async for c in stream]
    assert chunks[-1].finish_reason == "STOP"


# --------------------------------------------------------------------------- setup rejected


async def test_non_live_model_is_rejected_at_setup(emulator: Emulator) -> None:
    with pytest.raises(SetupRejectedError) as info:
        await open_stream(settings_for(emulator.base_url), "gemini-2.5-pro", _request())
    assert info.value.close_code == 1008
    assert "bidiGenerateContent" in info.value.reason
    assert not info.value.retryable


async def test_wrong_key_is_rejected_and_never_shown(make_emulator: Any) -> None:
    emu: Emulator = await make_emulator(api_key="the-right-key")
    with pytest.raises(SetupRejectedError) as info:
        await open_stream(settings_for(emu.base_url), LIVE_MODEL, _request())
    assert info.value.close_code == 1008
    assert "API key not valid" in str(info.value)
    assert_no_key(info.value, info.value.reason, info.value.args)


async def test_server_echoing_the_key_in_a_close_reason_is_scrubbed() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(1008, f"bad key {KEY[:20]}")  # reasons are short: the key's head

    async with ws_server(handler) as url:
        short_key = KEY[:20]
        settings = settings_for(url, key=short_key)
        with pytest.raises(SetupRejectedError) as info:
            await open_stream(settings, LIVE_MODEL, _request())
    assert short_key not in str(info.value)
    assert short_key not in info.value.reason
    assert "***" in info.value.reason


async def test_content_before_setup_complete_is_a_violation() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(text_chunk("too early"))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        with pytest.raises(ProtocolViolationError):
            await open_stream(settings_for(url), LIVE_MODEL, _request())


# --------------------------------------------------------------------------- hostile servers


async def stream_outcome(url: str, **ws: Any) -> tuple[list[str], BaseException | None]:
    texts: list[str] = []
    try:
        async with await open_stream(settings_for(url, **ws), LIVE_MODEL, _request()) as stream:
            async for chunk in stream:
                texts.append(chunk.text)
    except Exception as exc:
        return texts, exc
    return texts, None


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe not utf-8",
        "[1, 2, 3]",
        '"just a string"',
        '{"serverContent": {"turnComplete": "yes"}}',
        '{"serverContent": {"modelTurn": {"parts": [{"text": "unterminated',
    ],
)
async def test_malformed_frames_after_chunks(bad: bytes | str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        for i in range(3):
            await ws.send(text_chunk(f"c{i}"))
        if isinstance(bad, bytes):
            # a *text* frame that is not UTF-8: websockets will not send one, so frame it
            # by hand (the library sends frames as given with send(..., text=True)).
            await ws.send(bad, text=True)
        else:
            await ws.send(bad)
        await ws.wait_closed()

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url)
    assert texts == ["c0", "c1", "c2"]  # every chunk before the fault, once, in order
    assert isinstance(error, MessageParseError)


async def test_unknown_messages_are_skipped_by_a_stream() -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.send(text_chunk("a"))
        await ws.send(b'{"somethingBrandNew": {"x": 1}}')
        await ws.send(text_chunk("b"))
        await ws.send(b'{"serverContent": {"turnComplete": true}}')
        await ws.wait_closed()

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url)
    assert error is None
    assert texts == ["a", "b", ""]


async def test_oversized_frame_is_message_too_big() -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.send(text_chunk("small"))
        await ws.send(text_chunk("x" * 5000))
        await ws.wait_closed()

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url, max_message_size=2000)
    assert texts == ["small"]
    assert isinstance(error, MessageTooBigError)


@pytest.mark.parametrize("code", [1011, 1001, 1012, 1013])
async def test_server_close_mid_stream_is_a_retryable_disconnect(code: int) -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        for i in range(4):
            await ws.send(text_chunk(f"c{i}"))
        await ws.close(code, "Internal error encountered.")

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url)
    assert texts == ["c0", "c1", "c2", "c3"]
    assert isinstance(error, DisconnectedError)
    assert (error.close_code, error.chunks_received, error.retryable) == (code, 4, True)
    assert error.reason == "Internal error encountered."


async def test_normal_close_mid_turn_is_a_disconnect() -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.send(text_chunk("c0"))
        await ws.close(1000, "The operation was cancelled.")

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url)
    assert texts == ["c0"]
    assert isinstance(error, DisconnectedError)
    assert error.close_code == 1000
    assert not error.retryable


@pytest.mark.parametrize("code", [1007, 1008])
async def test_fatal_close_mid_stream(code: int) -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.close(code, "Request contains an invalid argument.")

    async with ws_server(handler) as url:
        _, error = await stream_outcome(url)
    assert isinstance(error, DisconnectedError)
    assert error.close_code == code
    assert not error.retryable


async def test_abrupt_tcp_drop_is_1006() -> None:
    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.recv()
        await ws.send(text_chunk("c0"))
        await ws.send(text_chunk("c1"))
        ws.transport.abort()

    async with ws_server(handler) as url:
        texts, error = await stream_outcome(url)
    assert texts == ["c0", "c1"]
    assert isinstance(error, DisconnectedError)
    assert (error.close_code, error.chunks_received, error.retryable) == (1006, 2, True)


async def test_a_peer_that_never_pongs_is_detected() -> None:
    async def no_pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_upgrade(reader, writer)
        writer.write(frame(SETUP_COMPLETE))
        writer.write(frame(text_chunk("c0")))
        await writer.drain()
        while await reader.read(65536):  # swallow pings, never answer
            pass
        writer.close()

    async with tcp_server(no_pong) as url:
        loop = asyncio.get_running_loop()
        started = loop.time()
        texts, error = await stream_outcome(
            url, keepalive_interval=0.1, keepalive_timeout=0.2, close_timeout=0.2
        )
        elapsed = loop.time() - started
    assert texts == ["c0"]
    assert isinstance(error, KeepaliveTimeoutError)
    assert error.close_code == 1011
    assert error.retryable
    assert elapsed < 2.0


# --------------------------------------------------------------------------- connection


async def test_connection_health_and_close(emulator: Emulator) -> None:
    settings = settings_for(emulator.base_url, keepalive_interval=0.05)
    conn, early = await LiveConnection.open(settings, LiveSetup(model=f"models/{LIVE_MODEL}"))
    try:
        assert len(early) == 1
        health = conn.health()
        assert health.messages_out == 1
        assert health.messages_in == 1
        assert health.bytes_in == len(SETUP_COMPLETE)
        assert health.since_last_message is not None
        assert health.age >= health.since_last_message
        assert health.go_away_in is None
        # the keepalive ping measures the round trip
        await conn._ws.ping()
        assert conn.health().latency is not None
        assert_no_key(conn, health)
    finally:
        await conn.close()
    assert conn.closed
    assert conn.health().state.name == "CLOSED"
    await conn.close()  # idempotent


async def test_close_is_quick_even_when_reading_is_paused() -> None:
    """A full websockets queue pauses the transport; close must still see the peer's
    close frame instead of waiting out close_timeout."""
    flood_done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        with contextlib.suppress(Exception):
            for i in range(200):
                await ws.send(text_chunk(f"c{i}" + "x" * 1000))
        flood_done.set()
        await ws.wait_closed()

    async with ws_server(handler) as url:
        settings = settings_for(url, close_timeout=5)
        conn, _ = await LiveConnection.open(settings, LiveSetup(model="models/m"))
        # read nothing: the connection's queue fills and it pauses the transport
        while conn._ws.connection.transport.is_reading():  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await conn.close()
        assert loop.time() - started < 1.0


def test_secret_key_never_in_settings_repr() -> None:
    settings = settings_for("https://generativelanguage.googleapis.com")
    assert_no_key(settings, settings.api_key, live_endpoint(settings))
    assert isinstance(settings.api_key, SecretKey)


async def test_ssl_context_comes_from_settings(tls_files: Any) -> None:
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    settings = ClientSettings.resolve(KEY, base_url="https://127.0.0.1:1", verify=ctx)
    assert live_endpoint(settings).ssl is ctx


async def test_emulator_config_smoke() -> None:
    # the emulator the other tests use answers Live through this client
    config = EmulatorConfig(tokens_per_chunk=4, default_max_output_tokens=8)
    async with (
        Emulator(config) as emu,
        await open_stream(settings_for(emu.base_url), LIVE_MODEL, _request()) as s,
    ):
        texts = [c.text async for c in s]
    assert len(texts) == 5  # two pieces, each as audio and its transcription, + the end
    assert len("".join(texts).split()) == 8


async def test_a_send_after_the_server_closed_carries_its_close_code_and_reason() -> None:
    """A clean close by the server between turns: the next send says who closed and
    how (close_code, reason), not only that the connection is closed."""
    closed = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await setup_ok(ws)
        await ws.close(1000, "session over")
        closed.set()

    async with ws_server(handler) as url:
        conn, _ = await LiveConnection.open(settings_for(url), LiveSetup(model="models/m"))
        try:
            await closed.wait()
            with pytest.raises(SessionClosedError) as caught:
                for _ in range(50):  # until the close has crossed (no fixed sleep)
                    await conn.send_client_content([Content.user_text("hi")], True)
                    await asyncio.sleep(0.01)
            assert (caught.value.close_code, caught.value.reason) == (1000, "session over")
            assert "session over" in str(caught.value)
        finally:
            await conn.close()
