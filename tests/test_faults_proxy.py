"""The fault-injecting TCP proxy: latency, bandwidth, cut, reset, black hole, CLI.

Byte-exact behaviours are checked against a real echo/blob server on a real socket; the
end-to-end cases go through the emulator with the library's client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.emulator.proxy import FaultProxy
from api_gemini.errors import ConnectError
from conftest import MakeEmulator, TlsFiles

BLOB = bytes(range(256)) * 64  # 16 KiB the blob server sends on connect


async def _blob_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send BLOB, then echo whatever comes, until EOF."""
    try:
        writer.write(BLOB)
        await writer.drain()
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def blob_server() -> AsyncIterator[int]:
    """A TCP server that sends 16 KiB on connect, then echoes; yields its port."""
    server = await asyncio.start_server(_blob_handler, "127.0.0.1", 0)
    async with server:
        yield int(server.sockets[0].getsockname()[1])


async def _read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), 5)


async def test_passes_bytes_both_ways_and_counts(blob_server: int) -> None:
    async with FaultProxy("127.0.0.1", blob_server) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        assert await _read_exactly(reader, len(BLOB)) == BLOB
        writer.write(b"ping")
        assert await _read_exactly(reader, 4) == b"ping"
        writer.close()
        await writer.wait_closed()
        assert proxy.stats.connections == 1
        assert proxy.stats.bytes_up == 4
        assert proxy.stats.bytes_down == len(BLOB) + 4
    assert proxy.connection_count == 0


async def test_latency_adds_round_trips(blob_server: int) -> None:
    latency = 0.030
    async with FaultProxy("127.0.0.1", blob_server, latency=latency) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        start = time.perf_counter()
        await _read_exactly(reader, len(BLOB))
        # Handshake round trip plus one way down.
        first = time.perf_counter() - start
        start = time.perf_counter()
        writer.write(b"x")
        await _read_exactly(reader, 1)
        echo = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
    assert 3 * latency * 0.9 <= first < 3 * latency + 0.2
    assert 2 * latency * 0.9 <= echo < 2 * latency + 0.2


async def test_latency_pipelines_instead_of_serialising(blob_server: int) -> None:
    """Ten writes in a row take one round trip, not ten."""
    latency = 0.020
    async with FaultProxy("127.0.0.1", blob_server, latency=latency) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        await _read_exactly(reader, len(BLOB))
        start = time.perf_counter()
        for i in range(10):
            writer.write(bytes([i]))
            await writer.drain()
            await asyncio.sleep(0.002)
        assert await _read_exactly(reader, 10) == bytes(range(10))
        elapsed = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
    assert elapsed < 2 * latency + 0.02 + 0.1


async def test_bandwidth_cap(blob_server: int) -> None:
    rate = 64 * 1024.0  # 16 KiB takes 0.25 s
    async with FaultProxy("127.0.0.1", blob_server, bandwidth=rate) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        start = time.perf_counter()
        await _read_exactly(reader, len(BLOB))
        elapsed = time.perf_counter() - start
        writer.close()
        await writer.wait_closed()
    assert len(BLOB) / rate * 0.8 <= elapsed < len(BLOB) / rate + 0.3


async def test_cut_after_delivers_exactly_n_bytes_then_eof(blob_server: int) -> None:
    async with FaultProxy("127.0.0.1", blob_server, cut_after=1000) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        data = await asyncio.wait_for(reader.read(), 5)  # read to EOF
        assert data == BLOB[:1000]
        writer.close()
        await writer.wait_closed()
        assert proxy.stats.cuts == 1


async def test_reset_after_gives_connection_reset(blob_server: int) -> None:
    async with FaultProxy("127.0.0.1", blob_server, reset_after=1000) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        got = b""
        with pytest.raises(ConnectionResetError):
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                if not chunk:
                    break
                got += chunk
        # An RST may drop bytes still in flight; never more than the limit arrive.
        assert BLOB.startswith(got) and len(got) <= 1000
        writer.close()
        assert proxy.stats.resets == 1


async def test_black_hole_after_keeps_socket_open_silently(blob_server: int) -> None:
    async with FaultProxy("127.0.0.1", blob_server, black_hole_after=100) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        assert await _read_exactly(reader, 100) == BLOB[:100]
        writer.write(b"anyone?")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.2)
        assert proxy.connection_count == 1
        assert proxy.stats.black_holes == 1
        writer.close()
        await writer.wait_closed()


async def test_black_hole_zero_never_connects_upstream() -> None:
    # Port 1 on loopback refuses; a black hole from the start never tries it.
    async with FaultProxy("127.0.0.1", 1, black_hole_after=0) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.2)
        writer.close()
        await writer.wait_closed()


async def test_refused_upstream_resets_the_client() -> None:
    async with FaultProxy("127.0.0.1", 1) as proxy:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()


async def test_reset_all_and_cut_all_now(blob_server: int) -> None:
    async with FaultProxy("127.0.0.1", blob_server) as proxy:
        r1, w1 = await asyncio.open_connection(proxy.host, proxy.port)
        r2, w2 = await asyncio.open_connection(proxy.host, proxy.port)
        await _read_exactly(r1, len(BLOB))
        await _read_exactly(r2, len(BLOB))
        assert await proxy.cut_all() == 2
        assert await asyncio.wait_for(r1.read(), 5) == b""
        assert await asyncio.wait_for(r2.read(), 5) == b""
        w1.close()
        w2.close()
        r3, w3 = await asyncio.open_connection(proxy.host, proxy.port)
        await _read_exactly(r3, len(BLOB))
        assert await proxy.reset_all() == 1
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(r3.read(), 5)
        w3.close()


async def test_stop_closes_open_connections(blob_server: int) -> None:
    proxy = await FaultProxy("127.0.0.1", blob_server, black_hole_after=10).start()
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    await _read_exactly(reader, 10)
    await asyncio.wait_for(proxy.stop(), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert proxy.connection_count == 0


async def test_emulator_through_proxy_with_latency(emulator: Emulator) -> None:
    latency = 0.020
    async with FaultProxy("127.0.0.1", emulator.port, latency=latency) as proxy:
        async with AsyncClient(base_url=f"http://{proxy.address}", api_key="k") as client:
            model = client.models.by_name("gemini-2.5-flash")
            start = time.perf_counter()
            response = await model.generate_content("hello")
            elapsed = time.perf_counter() - start
            assert response.text
            # Connection round trip plus request/response round trip.
            assert elapsed >= 4 * latency * 0.9
            async with await model.stream_generate_content("hello") as stream:
                chunks = [c.text async for c in stream]
            assert "".join(chunks)
        assert proxy.stats.connections >= 1


def test_command_line_prints_address_and_forwards(emulator_process: str) -> None:
    target = emulator_process.removeprefix("http://")
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_gemini.emulator.proxy", "--target", target, "--rtt-ms", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "latency 5 ms each way" in line, line
        address = line.split()[-1]

        async def fetch() -> str:
            async with AsyncClient(base_url=f"http://{address}", api_key="k") as client:
                r = await client.models.by_name("gemini-2.5-flash").generate_content("hi")
                return r.text

        assert asyncio.run(fetch())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_command_line_rejects_bad_target() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "api_gemini.emulator.proxy", "--target", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")},
    )
    assert proc.returncode == 2
    assert "HOST:PORT" in proc.stderr


async def test_tls_passes_through_and_still_verifies(
    make_emulator: MakeEmulator, tls_files: TlsFiles
) -> None:
    """A TCP proxy: TLS is end to end, the certificate for 127.0.0.1 verifies through it,
    and an untrusted one still fails."""
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    async with FaultProxy("127.0.0.1", emu.port, latency=0.005) as proxy:
        base_url = f"https://{proxy.address}"
        async with AsyncClient(base_url=base_url, api_key="k", verify=tls_files.ca) as client:
            text = (
                await client.models.by_name("gemini-2.5-flash").generate_content("echo: a")
            ).text
            assert text == "a"
            live = client.models.by_name("gemini-3.8-live")
            stream = await live.stream_generate_content_websocket("echo: over wss")
            async with stream:
                assert "".join([c.text async for c in stream]) == "over wss"
        async with AsyncClient(base_url=base_url, api_key="k") as client:
            with pytest.raises(ConnectError):
                await client.models.by_name("gemini-2.5-flash").generate_content("hi")
