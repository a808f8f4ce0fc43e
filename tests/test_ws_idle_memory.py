"""The lean TLS layer and handshake trim of Live connections (websocket/_idle_memory.py).

Every test runs over real TLS (a trustme CA) against a real server: the emulator, or a
purpose-built websockets server where a test needs a message the emulator never sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.settings import ClientSettings
from api_gemini.websocket import _idle_memory
from api_gemini.websocket._idle_memory import (
    TLS_RECORD,
    LeanSSLProtocol,
    lean_tls_supported,
)
from api_gemini.websocket.transport import WebSocketsWire, live_endpoint, open_websocket
from conftest import LeakCheck, TlsFiles

MakeEmulator = Callable[..., Awaitable[Emulator]]
Handler = Callable[[ServerConnection], Awaitable[None]]


def _server_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert, tls.key)
    return context


@contextlib.asynccontextmanager
async def tls_server(handler: Handler, context: ssl.SSLContext) -> AsyncIterator[int]:
    """A websockets server over TLS on a free loopback port; yields the port."""
    async with serve(handler, "127.0.0.1", 0, ssl=context, max_size=None) as server:
        yield next(iter(server.sockets)).getsockname()[1]


def _settings(port: int, ca: str, host: str = "127.0.0.1") -> ClientSettings:
    return ClientSettings.resolve("k", base_url=f"https://{host}:{port}", verify=ca)


class _Opened:
    """The websockets connection under the Wire that ``open_websocket`` returns, with
    ``recv()`` fed by the Wire's sink (the connection's own ``recv()`` is not used once
    frames are pushed) and ``close()`` through the Wire."""

    def __init__(self, wire: WebSocketsWire) -> None:
        self.wire = wire
        self.connection = wire.connection
        self._received: asyncio.Queue[bytes] = asyncio.Queue()
        wire.set_sink(self._received.put_nowait, lambda _info: None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    async def recv(self) -> bytes:
        return await self._received.get()

    async def close(self) -> None:
        await self.wire.close()


async def _open(port: int, ca: str, host: str = "127.0.0.1") -> Any:
    settings = _settings(port, ca, host)
    wire = await open_websocket(live_endpoint(settings), settings)
    assert isinstance(wire, WebSocketsWire)
    return _Opened(wire)


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            await ws.send(message)


# --------------------------------------------------------------------------- reads


async def test_live_session_over_lean_tls_streams_large_frames_intact(
    make_emulator: MakeEmulator, tls_files: TlsFiles
) -> None:
    # About 40 KB of base64 per audio frame: several TLS records per message.
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key, tokens_per_chunk=32)
    async with AsyncClient("k", base_url=emu.base_url, verify=tls_files.ca) as client:
        model = client.models.by_name("gemini-3.8-live")
        request: dict[str, Any] = {
            "contents": [{"role": "user", "parts": [{"text": "speak"}]}],
            "generationConfig": {"responseModalities": ["AUDIO"], "maxOutputTokens": 320},
        }
        streams = [await model.stream_generate_content_websocket(request) for _ in range(2)]
        protocols = [s._conn._ws.connection.transport._ssl_protocol for s in streams]  # type: ignore[attr-defined]
        assert all(type(p) is LeanSSLProtocol for p in protocols)
        # One read buffer for the loop, of one record, not one per connection.
        assert protocols[0]._ssl_buffer is protocols[1]._ssl_buffer
        assert len(protocols[0]._ssl_buffer) == TLS_RECORD
        for stream in streams:
            audio = b""
            async with stream:
                async for chunk in stream:
                    for part in chunk.candidates[0].content.parts:  # type: ignore[union-attr]
                        if part.inline_data is not None:
                            audio += part.inline_data.data
            assert len(audio) == 320 * 960


async def test_many_messages_both_ways_and_reads_over_a_record(
    tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    sizes = [1, 100, TLS_RECORD - 1, TLS_RECORD, TLS_RECORD + 1, 100_000, 1_000_000]
    async with tls_server(_echo, _server_context(tls_files)) as port:
        a, b = await _open(port, tls_files.ca), await _open(port, tls_files.ca)
        try:
            for round_ in range(20):
                for size in sizes:
                    payload = os.urandom(size)
                    # Two connections interleaved on one loop share the read buffer.
                    await asyncio.gather(a.send(payload), b.send(payload[::-1]))
                    got_a, got_b = await asyncio.gather(a.recv(), b.recv())
                    assert got_a == payload, (round_, size)
                    assert got_b == payload[::-1], (round_, size)
        finally:
            await a.close()
            await b.close()
    assert a.close_code == 1000 and b.close_code == 1000


# --------------------------------------------------------------------------- writes


async def test_a_large_send_goes_out_one_record_at_a_time(tls_files: TlsFiles) -> None:
    # asyncio encrypts a whole send into its outgoing MemoryBIO, whose native buffer
    # then keeps that size for the connection's life (a 1 MB send left ~1.1 MiB per
    # connection in RSS). Everything handed to the socket shows what the BIO held.
    received: list[bytes] = []

    async def keep(ws: ServerConnection) -> None:
        async for message in ws:
            assert isinstance(message, bytes)
            received.append(message)
            await ws.send(b"ok")

    async with tls_server(keep, _server_context(tls_files)) as port:
        ws = await _open(port, tls_files.ca)
        raw = ws.transport._ssl_protocol._transport
        writes: list[int] = []
        write = raw.write

        def recording_write(data: bytes) -> None:
            writes.append(len(data))
            write(data)

        raw.write = recording_write
        payload = os.urandom(1_000_000)
        for _ in range(3):
            await ws.send(payload)
            assert await ws.recv() == b"ok"
        await ws.close()
    assert received == [payload] * 3
    assert sum(writes) > 3_000_000
    # A record is its payload plus at most a few hundred bytes of TLS framing.
    assert max(writes) <= TLS_RECORD + 512


async def test_peer_that_reads_slowly_gets_everything_in_order(tls_files: TlsFiles) -> None:
    # The socket fills, writing pauses, plaintext waits in the backlog and goes out,
    # in order, once the peer reads again.
    gate = asyncio.Event()
    received: list[bytes] = []

    async def slow(ws: ServerConnection) -> None:
        await gate.wait()
        async for message in ws:
            assert isinstance(message, bytes)
            received.append(message)
            if len(received) == 8:
                await ws.send(b"done")

    async with tls_server(slow, _server_context(tls_files)) as port:
        ws = await _open(port, tls_files.ca)
        protocol = ws.transport._ssl_protocol
        pauses: list[int] = []
        pause = protocol.pause_writing

        def recording_pause() -> None:
            pauses.append(len(protocol._write_backlog))
            pause()

        protocol.pause_writing = recording_pause
        payloads = [bytes([i]) * 700_000 for i in range(8)]
        sending = asyncio.ensure_future(asyncio.gather(*(ws.send(p) for p in payloads)))
        await asyncio.sleep(0)
        gate.set()
        await sending
        assert await ws.recv() == b"done"
        await ws.close()
    assert pauses and max(pauses) > 0  # plaintext waited while the socket was full
    assert received == payloads


# --------------------------------------------------------------------------- TLS kept


async def test_certificate_is_verified_and_its_details_come_on_demand(
    tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    async with tls_server(_echo, _server_context(tls_files)) as port:
        ws = await _open(port, tls_files.ca)
        protocol = ws.transport._ssl_protocol
        assert type(protocol) is LeanSSLProtocol
        assert "peercert" not in protocol._extra
        peercert = ws.transport.get_extra_info("peercert")
        assert ("DNS", "localhost") in peercert["subjectAltName"]
        assert ws.transport.get_extra_info("cipher")[1].startswith("TLSv1.")
        assert ws.transport.get_extra_info("ssl_object").server_hostname == "127.0.0.1"
        await ws.close()

        untrusted = trustme.CA()
        with open(os.path.join(os.path.dirname(tls_files.ca), "other-ca.pem"), "wb") as f:
            f.write(untrusted.cert_pem.bytes())
        with pytest.raises(ssl.SSLCertVerificationError):
            await _open(port, f.name)


async def test_the_server_name_goes_out_as_sni(tls_files: TlsFiles) -> None:
    names: list[str | None] = []
    context = _server_context(tls_files)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    async with tls_server(_echo, context) as port:
        ws = await _open(port, tls_files.ca, host="localhost")
        assert type(ws.transport._ssl_protocol) is LeanSSLProtocol
        await ws.close()
    assert names == ["localhost"]


async def test_the_server_name_is_checked(tmp_path: Any, leak_check: LeakCheck) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("elsewhere.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca_path = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    async with tls_server(_echo, context) as port:
        with pytest.raises(ssl.SSLCertVerificationError, match="address mismatch"):
            await _open(port, ca_path)


async def test_handshake_timeout_applies(tls_files: TlsFiles, leak_check: LeakCheck) -> None:
    # A TCP peer that never answers the ClientHello.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    context = ssl.create_default_context(cafile=tls_files.ca)
    try:
        with pytest.raises(ConnectionAbortedError, match="handshake"):
            await _idle_memory.lean_tls_connect(
                asyncio.get_running_loop(),
                asyncio.Protocol,
                "127.0.0.1",
                port,
                context,
                "127.0.0.1",
                ssl_handshake_timeout=0.2,
            )
    finally:
        server.close()
        await server.wait_closed()


async def test_cancelled_during_the_handshake_leaves_nothing_open(
    tls_files: TlsFiles, leak_check: LeakCheck
) -> None:
    reached = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.set()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        opening = asyncio.ensure_future(_open(port, tls_files.ca))
        await reached.wait()  # TCP is up, the ClientHello unanswered
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
    finally:
        server.close()
        await server.wait_closed()


# --------------------------------------------------------------------------- handshake trim


async def test_handshake_headers_are_dropped_once_open(tls_files: TlsFiles) -> None:
    async with tls_server(_echo, _server_context(tls_files)) as port:
        ws = await _open(port, tls_files.ca)
        assert ws.request.path.endswith("BidiGenerateContent")
        assert not ws.request.headers  # the credential with them
        assert ws.response.status_code == 101
        assert not ws.response.headers
        assert ws.drain_waiters == []  # a list, not a 0.6 KiB deque
        await ws.send(b"still works")
        assert await ws.recv() == b"still works"
        await ws.close()


# --------------------------------------------------------------------------- fallback


class _OtherLoop(asyncio.SelectorEventLoop):
    """An event loop that is not asyncio's own (as uvloop is not)."""


def test_other_event_loops_keep_the_stock_tls_layer(tls_files: TlsFiles) -> None:
    async def main() -> None:
        assert not lean_tls_supported(asyncio.get_running_loop())
        async with tls_server(_echo, _server_context(tls_files)) as port:
            ws = await _open(port, tls_files.ca)
            assert type(ws.transport._ssl_protocol) is not LeanSSLProtocol
            await ws.send(b"x" * 100_000)
            assert await ws.recv() == b"x" * 100_000
            await ws.close()

    with asyncio.Runner(loop_factory=_OtherLoop) as runner:
        runner.run(main())


async def test_an_unknown_python_keeps_the_stock_tls_layer(
    tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lean_tls_supported(asyncio.get_running_loop())
    monkeypatch.setattr(_idle_memory, "_KNOWN_PYTHONS", ())
    assert not lean_tls_supported(asyncio.get_running_loop())
    async with tls_server(_echo, _server_context(tls_files)) as port:
        ws = await _open(port, tls_files.ca)
        assert type(ws.transport._ssl_protocol) is not LeanSSLProtocol
        await ws.send(b"y")
        assert await ws.recv() == b"y"
        await ws.close()


async def test_missing_internals_keep_the_stock_tls_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_idle_memory, "_INTERNALS", (*_idle_memory._INTERNALS, "_gone"))
    assert not lean_tls_supported(asyncio.get_running_loop())


# --------------------------------------------------------------------------- review (s3)


async def test_close_while_reading_paused_sends_the_held_plaintext_first(
    tls_files: TlsFiles,
) -> None:
    # The socket is full, so the end of a send waits as plaintext in the backlog; the
    # app has paused reading (a full consumer buffer) and closes. asyncio's flush on
    # close encrypts the backlog only from _do_read, which a paused reader skips: the
    # close_notify went out and the held plaintext was dropped (asyncio's own layer
    # had encrypted it all at write(), and delivers it before the close_notify).
    gate = asyncio.Event()
    received = 0
    done = asyncio.Event()

    async def late_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        await gate.wait()
        with contextlib.suppress(Exception):
            while chunk := await reader.read(1 << 20):
                received += len(chunk)
        writer.close()
        done.set()

    server = await asyncio.start_server(late_reader, "127.0.0.1", 0, ssl=_server_context(tls_files))
    port = server.sockets[0].getsockname()[1]
    lost = asyncio.get_running_loop().create_future()

    class App(asyncio.Protocol):
        transport: Any = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if not lost.done():
                lost.set_result(None)

    try:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context(cafile=tls_files.ca)
        app = await _idle_memory.lean_tls_connect(
            loop, App, "127.0.0.1", port, context, "127.0.0.1"
        )
        assert isinstance(app, App)
        transport = app.transport
        protocol = transport._ssl_protocol
        assert isinstance(protocol, _idle_memory.LeanSSLProtocol)
        transport.pause_reading()
        size = 64 * 1024 * 1024  # far more than loopback's socket buffers hold
        transport.write(bytes(size))
        assert protocol._write_backlog  # precondition: plaintext waits
        transport.close()
        gate.set()
        await done.wait()
        await lost
    finally:
        server.close()
        await server.wait_closed()
    assert received == size
