"""The picows transport (``PicowsConnector``) on its own: what it opens and how it ends.

Against the real emulator (TLS from the ``tls_files`` CA) and hand-written servers for
the faults a service would not produce. Client-level behaviour over picows (streams,
sessions, faults, reconnects) runs in the modules parametrized by ``tests/transports.py``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.errors import (
    ConfigurationError,
    OpenTimeoutError,
    SetupRejectedError,
    WebSocketConnectionError,
)
from api_gemini.settings import ClientSettings, WebSocketSettings
from api_gemini.websocket.protocol import KEEPALIVE_CLOSE_REASON
from api_gemini.websocket.transport import STALLED_SEND, TLS_READ_BUFFER, live_endpoint
from api_gemini.websocket.transport_picows import PicowsConnector
from api_gemini.websocket.wire import (
    CloseInfo,
    UpgradeRefusedError,
    Wire,
    WireClosedError,
    WireStalledError,
)
from conftest import LeakCheck, MakeEmulator, TlsFiles
from helpers import SETUP_COMPLETE, WAIT, chunk, frame, raw_live_server

pytest.importorskip("picows")

KEY = "picows-key-SECRET-31"
LIVE_MODEL = "gemini-3.8-live"
SETUP = orjson.dumps(
    {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"], "maxOutputTokens": 5},
        }
    }
)
TURN = orjson.dumps(
    {
        "clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "hi"}]}],
            "turnComplete": True,
        }
    }
)


def settings_for(base_url: str, **ws: Any) -> ClientSettings:
    verify = ws.pop("verify", True)
    return ClientSettings.resolve(
        KEY, base_url=base_url, verify=verify, websocket=WebSocketSettings(**ws)
    )


class Sink:
    """Collects what a wire delivers; ``closed`` resolves with its CloseInfo."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: asyncio.Future[CloseInfo] = asyncio.get_running_loop().create_future()
        self.after_close: list[bytes] = []
        self.ends = 0

    def on_frame(self, data: bytes) -> None:
        (self.after_close if self.ends else self.frames).append(data)

    def on_close(self, info: CloseInfo) -> None:
        self.ends += 1
        assert self.ends == 1, "on_close called twice"
        if not self.closed.done():
            self.closed.set_result(info)


@asynccontextmanager
async def opened(settings: ClientSettings) -> AsyncIterator[tuple[Wire, Sink]]:
    wire = await PicowsConnector()(live_endpoint(settings), settings)
    sink = Sink()
    wire.set_sink(sink.on_frame, sink.on_close)
    async with wire:  # type: ignore[attr-defined]  # PicowsWire is a context manager
        yield wire, sink


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.005)


# --------------------------------------------------------------------------- opening


async def test_asyncios_tls_read_buffer_is_trimmed_over_picows_too(
    make_emulator: MakeEmulator, tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    # picows runs over asyncio's stock TLS layer, whose 256 KiB read buffer per
    # connection was kept for the connection's life (the websockets path trims it).
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    leak_check.rebase()
    async with opened(settings_for(emu.base_url, verify=tls_files.ca)) as (wire, sink):
        protocol = wire._tcp._ssl_protocol  # type: ignore[attr-defined]
        assert len(protocol._ssl_buffer) == TLS_READ_BUFFER
        await wire.send(SETUP)
        await wire.send(TURN)
        await until(lambda: any(b"turnComplete" in f for f in sink.frames))
    await sink.closed
    await leak_check.assert_clean()


async def test_a_turn_over_tls_verified_with_the_clients_ca(
    make_emulator: MakeEmulator, tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    leak_check.rebase()
    settings = settings_for(emu.base_url, verify=tls_files.ca)
    assert settings.base_url.startswith("https://")
    async with opened(settings) as (wire, sink):
        assert wire.is_open
        await wire.send(SETUP)
        await wire.send(TURN)
        await until(lambda: any(b"turnComplete" in f for f in sink.frames))
        assert sink.frames[0] == SETUP_COMPLETE
        assert await wire.ping() >= 0
        assert wire.latency is not None
    info = await sink.closed
    assert info == CloseInfo(1000, "", by_us=True)
    assert wire.is_closed and not wire.is_open
    await leak_check.assert_clean()


async def test_a_certificate_the_client_does_not_trust_is_refused(
    make_emulator: MakeEmulator, tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    leak_check.rebase()
    settings = settings_for(emu.base_url)  # the system's CAs: not the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        await PicowsConnector()(live_endpoint(settings), settings)
    await leak_check.assert_clean()


async def test_the_host_name_is_checked(make_emulator: MakeEmulator, tmp_path: Path) -> None:
    """A certificate from a trusted CA, but for another name than the one dialled."""
    ca = trustme.CA()
    other = ca.issue_cert("elsewhere.example")
    cert, key, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    other.cert_chain_pems[0].write_to_path(str(cert))
    other.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    emu = await make_emulator(tls_cert=str(cert), tls_key=str(key))
    settings = settings_for(emu.base_url, verify=str(ca_file))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)hostname|IP address mismatch"):
        await PicowsConnector()(live_endpoint(settings), settings)


async def test_compression_is_refused_with_a_clear_error() -> None:
    settings = settings_for("http://127.0.0.1:9", compression=True)
    with pytest.raises(ConfigurationError, match="permessage-deflate"):
        await PicowsConnector()(live_endpoint(settings), settings)


def test_a_missing_picows_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picows", None)  # import picows now fails
    with pytest.raises(ConfigurationError, match=r"api-gemini\[picows\]"):
        PicowsConnector()


def test_importing_api_gemini_does_not_import_picows() -> None:
    code = (
        "import sys, api_gemini, api_gemini.websocket, api_gemini.websocket.transport_picows;"
        "assert 'picows' not in sys.modules, 'picows imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_headers_and_no_key_in_url_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The upgrade request as sent (read by a bare listener that refuses it)."""
    seen: dict[str, bytes] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["request"] = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    caplog.set_level(logging.DEBUG)
    try:
        settings = settings_for(f"http://127.0.0.1:{port}")
        endpoint = live_endpoint(settings)
        with pytest.raises(UpgradeRefusedError) as info:
            await PicowsConnector()(endpoint, settings)
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.status == 403
    request = seen["request"].decode()
    assert f"x-goog-api-key: {KEY}" in request
    assert "User-Agent: api-gemini/" in request and "picows/" in request
    first_line = request.split("\r\n", 1)[0]
    assert KEY not in first_line  # the URL
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in caplog.text


async def test_a_redirect_is_refused_not_followed() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = settings_for(f"http://127.0.0.1:{port}")
        with pytest.raises(UpgradeRefusedError) as info:
            await PicowsConnector()(live_endpoint(settings), settings)
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.status == 302


# --------------------------------------------------------------------------- frames


async def test_pause_holds_frames_and_resume_delivers_them_in_order(
    leak_check: LeakCheck,
) -> None:
    count = 50

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(b"".join(chunk(f"c{i}") for i in range(count)))  # one socket read
        writer.write(frame(b"\x03\xe8bye", opcode=0x8))

    async with raw_live_server(script, wait_for_request=False) as url:
        async with opened(settings_for(url)) as (wire, sink):
            paused_after: list[int] = []

            def on_frame(data: bytes) -> None:
                sink.on_frame(data)
                if len(sink.frames) == 3:
                    wire.pause_reading()
                    paused_after.append(len(sink.frames))

            wire.set_sink(on_frame, sink.on_close)
            await wire.send(SETUP)
            await until(lambda: len(sink.frames) >= 3)
            await asyncio.sleep(0.05)
            assert len(sink.frames) == 3  # nothing while paused, though it was all read
            assert not sink.closed.done()  # the end waits behind the held frames
            wire.resume_reading()
            info = await asyncio.wait_for(sink.closed, WAIT)
        texts = [orjson.loads(f) for f in sink.frames[1:]]
        assert len(texts) == count
        assert [t["serverContent"]["modelTurn"]["parts"][0]["text"] for t in texts] == [
            f"c{i}" for i in range(count)
        ]
        assert info == CloseInfo(1000, "bye", by_us=False)
        assert sink.after_close == []
    await leak_check.assert_clean()


async def test_a_fragmented_message_is_joined() -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        whole = chunk("joined")[2:]  # the payload of an unmasked short frame
        writer.write(frame(whole[:10], opcode=0x1, fin=False))
        writer.write(frame(whole[10:20], opcode=0x0, fin=False))
        writer.write(frame(whole[20:], opcode=0x0, fin=True))

    async with (
        raw_live_server(script, wait_for_request=False) as url,
        opened(settings_for(url)) as (wire, sink),
    ):
        await wire.send(SETUP)
        await until(lambda: len(sink.frames) == 2)
        assert b"joined" in sink.frames[1]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(b"{}", opcode=0x1, mask=True), 1002),  # a server must not mask
        (bytes([0x80 | 0x40 | 0x1, 2]) + b"{}", 1002),  # RSV1 without an extension
        (frame(b"x", opcode=0x3), 1002),  # a reserved opcode
        (frame(b"x" * 2048, opcode=0x1), 1009),  # over max_message_size=1024
        (frame(b"x" * 700, opcode=0x1, fin=False) + frame(b"y" * 700, opcode=0x0), 1009),
        (frame(b"x", opcode=0x0), 1002),  # a continuation of nothing
    ],
    ids=["masked", "rsv1", "opcode", "too-big", "too-big-in-fragments", "stray-continuation"],
)
async def test_a_malformed_frame_closes_with_the_right_code(
    bad: bytes, code: int, leak_check: LeakCheck
) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk("before"))
        writer.write(bad)

    async with raw_live_server(script, wait_for_request=False) as url:
        settings = settings_for(url, max_message_size=1024, close_timeout=0.5)
        async with opened(settings) as (wire, sink):
            await wire.send(SETUP)
            info = await asyncio.wait_for(sink.closed, WAIT)
            assert info.code == code and info.by_us
            assert len(sink.frames) == 2 and b"before" in sink.frames[1]
            with pytest.raises(WireClosedError):
                await wire.send(TURN)
    await leak_check.assert_clean()


@pytest.mark.parametrize(("code", "reason"), [(1011, "internal"), (4003, "quota"), (1000, "")])
async def test_the_servers_close_code_and_reason_reach_the_sink(code: int, reason: str) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(frame(code.to_bytes(2, "big") + reason.encode(), opcode=0x8))

    async with (
        raw_live_server(script, wait_for_request=False) as url,
        opened(settings_for(url, close_timeout=0.5)) as (wire, sink),
    ):
        await wire.send(SETUP)
        info = await asyncio.wait_for(sink.closed, WAIT)
    assert info == CloseInfo(code, reason, by_us=False)


# --------------------------------------------------------------------------- stalls


async def test_keepalive_without_pongs_closes_with_1011(leak_check: LeakCheck) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        pass  # the server reads and drops everything: pings are never answered

    async with raw_live_server(script, wait_for_request=False) as url:
        settings = settings_for(
            url, keepalive_interval=0.05, keepalive_timeout=0.1, close_timeout=0.2
        )
        async with opened(settings) as (wire, sink):
            await wire.send(SETUP)
            info = await asyncio.wait_for(sink.closed, WAIT)
    assert info == CloseInfo(1011, KEEPALIVE_CLOSE_REASON, by_us=True)
    await leak_check.assert_clean()


async def test_a_send_to_a_peer_that_does_not_read_is_bounded(leak_check: LeakCheck) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        pass

    async with raw_live_server(
        script, wait_for_request=False, read_after=False, receive_buffer=4096
    ) as url:
        settings = settings_for(url, write_timeout=0.3, keepalive_interval=None)
        async with opened(settings) as (wire, sink):
            await wire.send(SETUP)
            big = b'{"realtimeInput":{"text":"' + b"x" * 1_000_000 + b'"}}'
            with pytest.raises(WireStalledError):
                async with asyncio.timeout(WAIT):
                    for _ in range(50):
                        await wire.send(big)
            info = await asyncio.wait_for(sink.closed, WAIT)
            assert info.stalled == STALLED_SEND and info.code == 1006
    await leak_check.assert_clean()


async def test_close_is_bounded_when_the_peer_never_answers(leak_check: LeakCheck) -> None:
    async def script(writer: asyncio.StreamWriter) -> None:
        pass

    async with raw_live_server(script, wait_for_request=False) as url:
        settings = settings_for(url, close_timeout=0.2, keepalive_interval=None)
        wire = await PicowsConnector()(live_endpoint(settings), settings)
        sink = Sink()
        wire.set_sink(sink.on_frame, sink.on_close)
        async with asyncio.timeout(WAIT):
            await wire.close(4000, "done")
            await wire.close()  # idempotent
        assert wire.is_closed
        info = await sink.closed
        assert info.code == 4000 and info.by_us
    await leak_check.assert_clean()


async def test_frames_before_set_sink_are_delivered_first(emulator: Emulator) -> None:
    settings = settings_for(emulator.base_url)
    wire = await PicowsConnector()(live_endpoint(settings), settings)
    try:
        await wire.send(SETUP)
        await asyncio.sleep(0.1)  # setupComplete arrives with no sink yet
        sink = Sink()
        wire.set_sink(sink.on_frame, sink.on_close)
        await until(lambda: len(sink.frames) == 1)
        assert sink.frames == [SETUP_COMPLETE]
    finally:
        await wire.close()


# --------------------------------------------------------------------------- the client


async def test_through_the_client_errors_are_the_same_typed_ones(
    emulator: Emulator, leak_check: LeakCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused upgrade, a refused key and compression, over picows, as the client
    reports them over websockets."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error": {"code": 403, "message": "key ' + KEY.encode() + b' refused"}}'
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    picows_ws = WebSocketSettings(connector=PicowsConnector(), close_timeout=0.5)
    try:
        async with AsyncClient(KEY, base_url=f"http://127.0.0.1:{port}", websocket=picows_ws) as c:
            with pytest.raises(WebSocketConnectionError) as refused:
                await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
    finally:
        server.close()
        await server.wait_closed()
    assert refused.value.http_status == 403
    assert "refused" in str(refused.value) and KEY not in str(refused.value)

    # Without a key the emulator, like the service, refuses the setup (close 1008).
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    async with AsyncClient(base_url=emulator.base_url, websocket=picows_ws) as c:
        with pytest.raises(SetupRejectedError) as rejected:
            await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
    assert rejected.value.close_code == 1008

    compressed = WebSocketSettings(connector=PicowsConnector(), compression=True)
    async with AsyncClient(KEY, base_url=emulator.base_url, websocket=compressed) as c:
        with pytest.raises(ConfigurationError, match="permessage-deflate"):
            await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
    await leak_check.assert_clean()


@pytest.mark.parametrize("stage", ["no-upgrade-answer", "half-an-answer"])
async def test_an_upgrade_that_never_completes_times_out_and_leaves_nothing(
    stage: str, leak_check: LeakCheck
) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if stage == "half-an-answer":
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
            await reader.read()  # until the client goes
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    leak_check.rebase()
    ws = WebSocketSettings(connector=PicowsConnector(), open_timeout=0.3)
    try:
        async with AsyncClient(KEY, base_url=f"http://127.0.0.1:{port}", websocket=ws) as c:
            with pytest.raises(OpenTimeoutError):
                await c.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
        await leak_check.assert_clean()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_sink_paused_at_the_last_frame_gets_the_end_on_resume(
    leak_check: LeakCheck,
) -> None:
    # A consumer whose buffer fills at every frame pauses in each on_frame. The wire
    # reported the end while the sink had reading paused when TCP ended after the
    # held frames were out (the receiver then ended a session a drop would have
    # reconnected); when TCP ended with frames still held, the resume after the last
    # one read the socket but never reported the end: a consumer waiting forever.
    count = 5

    async def script(writer: asyncio.StreamWriter) -> None:
        frames = b"".join(chunk(f"c{i}") for i in range(count))
        writer.write(frames + frame(b"\x03\xe8bye", opcode=0x8))  # one socket read

    async with raw_live_server(script, wait_for_request=False) as url:
        async with opened(settings_for(url, close_timeout=0.5)) as (wire, sink):

            def on_frame(data: bytes) -> None:
                sink.on_frame(data)
                wire.pause_reading()

            wire.set_sink(on_frame, sink.on_close)
            await wire.send(SETUP)
            await until(lambda: len(sink.frames) == 1)  # setupComplete
            while len(sink.frames) < count + 1:
                delivered = len(sink.frames)
                wire.resume_reading()
                await until(lambda n=delivered: len(sink.frames) > n)  # type: ignore[misc]
            await until(lambda: wire.is_closed)
            assert not sink.closed.done()  # paused: the end waits, as over websockets
            wire.resume_reading()
            info = await asyncio.wait_for(sink.closed, WAIT)
        assert info == CloseInfo(1000, "bye", by_us=False)
        assert len(sink.frames) == count + 1 and sink.after_close == []
    await leak_check.assert_clean()


async def test_data_frames_after_the_servers_close_frame_are_discarded(
    leak_check: LeakCheck,
) -> None:
    # After a close frame the peer may send no data (RFC 6455, 5.5.1); websockets
    # discards whatever follows it. The picows wire kept reading such frames, even
    # while paused, so a hostile server could grow the held frames until close_timeout.
    async def script(writer: asyncio.StreamWriter) -> None:
        after = b"".join(chunk(f"late{i}") for i in range(50))
        writer.write(chunk("c0") + frame(b"\x03\xe8bye", opcode=0x8) + after)

    async with raw_live_server(script, wait_for_request=False) as url:
        async with opened(settings_for(url, close_timeout=0.5)) as (wire, sink):
            assert KEY not in repr(wire)
            wire.set_sink(sink.on_frame, sink.on_close)
            await wire.send(SETUP)
            info = await asyncio.wait_for(sink.closed, WAIT)
        assert info == CloseInfo(1000, "bye", by_us=False)
        assert len(sink.frames) == 2  # setupComplete, c0: nothing after the close frame
        assert sink.after_close == []
    await leak_check.assert_clean()
