"""The transport seam: ``WebSocketSettings(connector=...)`` opens every Live connection's
WebSocket, as httpx's transport is injected. Protocol-level tests go through it: here a
connector routes connections to a scripted server whatever ``base_url`` says, records
what it was given, and fails in the ways a transport fails."""

from __future__ import annotations

import asyncio

import pytest

from api_gemini import AsyncClient
from api_gemini.emulator import Emulator
from api_gemini.errors import (
    MessageParseError,
    OpenTimeoutError,
    WebSocketConnectionError,
)
from api_gemini.settings import ClientSettings, PoolSettings, WebSocketSettings
from api_gemini.websocket import Endpoint, open_websocket
from api_gemini.websocket.wire import Wire
from conftest import LeakCheck
from helpers import chunk, frame, raw_live_server

KEY = "seam-key-SECRET-77"
LIVE_MODEL = "gemini-3.8-live"
NOWHERE = "http://127.0.0.1:9"  # nothing listens: only the connector decides


async def test_the_connector_opens_every_connection_and_gets_the_endpoint(
    emulator: Emulator, leak_check: LeakCheck
) -> None:
    seen: list[Endpoint] = []

    async def recording(endpoint: Endpoint, settings: ClientSettings) -> Wire:
        seen.append(endpoint)
        return await open_websocket(endpoint, settings)

    ws = WebSocketSettings(connector=recording)
    async with AsyncClient(
        KEY, base_url=emulator.base_url, websocket=ws, pool=PoolSettings()
    ) as client:
        model = client.models.by_name(LIVE_MODEL)
        await model.prewarm(count=1)  # the pool's connections go through it too
        stream = await model.stream_generate_content_websocket("hello there")
        async with stream:
            texts = [c.text async for c in stream]
        assert "".join(texts)
        assert stream.metrics.from_pool
    assert len(seen) >= 1
    endpoint = seen[0]
    assert endpoint.url.endswith("BidiGenerateContent")
    assert KEY not in endpoint.url and KEY not in repr(endpoint)
    assert ("x-goog-api-key", KEY) in endpoint.headers
    await leak_check.assert_clean()


async def test_a_connector_routes_to_a_scripted_server(leak_check: LeakCheck) -> None:
    """Protocol-level: the bytes come from a script, the client's rules judge them."""

    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk("a"))
        writer.write(frame(b"[1, 2]"))  # JSON, but not an object

    async with raw_live_server(script) as url:
        port = int(url.rsplit(":", 1)[1])

        async def to_script(endpoint: Endpoint, settings: ClientSettings) -> Wire:
            host = endpoint.url.split("/ws/", 1)[1]
            rerouted = Endpoint(
                url=f"ws://127.0.0.1:{port}/ws/{host}",
                headers=endpoint.headers,
                ssl=None,
                host="127.0.0.1",
                constrained=endpoint.constrained,
            )
            return await open_websocket(rerouted, settings)

        ws = WebSocketSettings(connector=to_script, close_timeout=0.2)
        async with AsyncClient(KEY, base_url=NOWHERE, websocket=ws) as client:
            stream = await client.models.by_name(LIVE_MODEL).stream_generate_content_websocket("hi")
            texts: list[str] = []
            with pytest.raises(MessageParseError):
                async with stream:
                    async for piece in stream:
                        texts.append(piece.text)
            assert texts == ["a"]
    await leak_check.assert_clean()


@pytest.mark.parametrize("failure", ["refused", "hangs"])
async def test_a_failing_connector_is_a_typed_error(failure: str) -> None:
    async def broken(endpoint: Endpoint, settings: ClientSettings) -> Wire:
        if failure == "refused":
            raise ConnectionRefusedError("refused by the test transport")
        await asyncio.Event().wait()  # never connects
        raise AssertionError("unreachable")

    ws = WebSocketSettings(connector=broken, open_timeout=0.2)
    async with AsyncClient(KEY, base_url=NOWHERE, websocket=ws) as client:
        model = client.models.by_name(LIVE_MODEL)
        with pytest.raises(WebSocketConnectionError) as info:
            await model.stream_generate_content_websocket("hi")
    assert info.value.http_status is None
    assert KEY not in str(info.value)
    if failure == "hangs":
        assert isinstance(info.value, OpenTimeoutError)
        assert isinstance(info.value, TimeoutError)
