"""Live lifetimes, time-scaled: connection lifetime and goAway, session limits, handles.

Source: https://ai.google.dev/gemini-api/docs/live-session. Every duration of the service
is multiplied by ``EmulatorConfig.time_scale``, so a 10-minute connection lasts a second.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from api_gemini.emulator import Emulator
from api_gemini.emulator.live_setup import TRANSPARENT_REFUSED
from helpers import KEY_HEADERS

MakeEmulator = Callable[..., Awaitable[Emulator]]
MODEL = "models/gemini-3.8-live"
DEADLINE = "Deadline expired before operation could complete."


async def recv(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def setup(ws: ClientConnection, **fields: Any) -> None:
    body = {"model": MODEL, "outputAudioTranscription": {}, **fields}
    await ws.send(json.dumps({"setup": body}))
    assert await recv(ws) == {"setupComplete": {}}


async def say(ws: ClientConnection, text: str) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"realtimeInput": {"text": text}}))
    got = []
    while True:
        message = await recv(ws)
        got.append(message)
        if message.get("serverContent", {}).get("turnComplete"):
            return got


def heard(messages: list[dict[str, Any]]) -> str:
    return "".join(
        m.get("serverContent", {}).get("outputTranscription", {}).get("text", "") for m in messages
    )


async def expect_close(ws: ClientConnection, timeout: float = 5) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


async def test_defaults_are_the_services(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    assert emu.config.live_connection_lifetime == 600.0
    assert emu.config.go_away_notice == 60.0
    assert emu.config.time_scale == 1.0


async def test_go_away_then_deadline_expired(make_emulator: MakeEmulator) -> None:
    # 600 s and 60 s of notice, at 1/500 of the time: 1.2 s and 0.12 s.
    emu = await make_emulator(time_scale=0.002)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        assert await recv(ws) == {"goAway": {"timeLeft": "0.120s"}}
        assert await expect_close(ws) == (1011, DEADLINE)


async def test_resumption_across_a_connection_lifetime(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(time_scale=0.005)  # a 3 s connection, goAway 0.3 s before
    handle = None
    said = []
    go_away = False
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={})
        await ws.send(json.dumps({"realtimeInput": {"text": "echo: remember the lighthouse"}}))
        # Read everything until the server ends the connection, in whatever order.
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                message = await recv(ws)
                update = message.get("sessionResumptionUpdate", {})
                if update.get("resumable"):
                    handle = update["newHandle"]
                transcript = message.get("serverContent", {}).get("outputTranscription")
                if transcript:
                    said.append(transcript["text"])
                go_away = go_away or "goAway" in message
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, DEADLINE)
    assert go_away and "".join(said) == "remember the lighthouse" and handle
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={"handle": handle})
        await recv(ws)  # the new connection's first handle
        assert heard(await say(ws, "recall")) == "echo: remember the lighthouse"
    assert emu.stats.resumptions == 1


async def test_resumable_false_while_generating_and_with_a_pending_call(
    emulator: Emulator,
) -> None:
    tools = [{"functionDeclarations": [{"name": "lookup", "behavior": "BLOCKING"}]}]
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={}, tools=tools)
        assert (await recv(ws))["sessionResumptionUpdate"]["resumable"] is True
        messages = await say(ws, "hello")
        # While the model generates: resumable false, no handle; after: a new handle.
        assert messages[0] == {"sessionResumptionUpdate": {"resumable": False}}
        after = await recv(ws)
        assert after["sessionResumptionUpdate"]["resumable"] is True
        assert after["sessionResumptionUpdate"]["newHandle"]
        await ws.send(json.dumps({"realtimeInput": {"text": "call lookup"}}))
        assert await recv(ws) == {"sessionResumptionUpdate": {"resumable": False}}
        call = (await recv(ws))["toolCall"]["functionCalls"][0]
        response = {"id": call["id"], "name": "lookup", "response": {"ok": True}}
        await ws.send(json.dumps({"toolResponse": {"functionResponses": [response]}}))
        while not (await recv(ws)).get("serverContent", {}).get("turnComplete"):
            pass
        assert (await recv(ws))["sessionResumptionUpdate"]["resumable"] is True


async def test_transparent_resumption_is_refused(emulator: Emulator) -> None:
    # Transparent resumption (lastConsumedClientMessageIndex) is Vertex AI's: google-genai
    # refuses it for the Gemini API, google/adk-python#5771. The emulator used to accept
    # it and send the index; the service's own close is not published (emulator's
    # sentence, 1007 like every other setup refusal).
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await ws.send(
            json.dumps({"setup": {"model": MODEL, "sessionResumption": {"transparent": True}}})
        )
        assert await expect_close(ws) == (1007, TRANSPARENT_REFUSED)
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={"transparent": False})
        first = (await recv(ws))["sessionResumptionUpdate"]
        assert "lastConsumedClientMessageIndex" not in first
        await say(ws, "hi")
        assert "lastConsumedClientMessageIndex" not in (await recv(ws))["sessionResumptionUpdate"]


async def test_handle_expires_two_hours_after_the_session(make_emulator: MakeEmulator) -> None:
    # 2 h at 1/36000: 0.2 s.
    emu = await make_emulator(time_scale=1 / 36000, live_connection_lifetime=None)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={})
        handle = (await recv(ws))["sessionResumptionUpdate"]["newHandle"]
    # Valid right after the session ended...
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, sessionResumption={"handle": handle})
        handle = (await recv(ws))["sessionResumptionUpdate"]["newHandle"]
    await asyncio.sleep(0.3)  # the (scaled) two hours must pass: nothing to await
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await ws.send(
            json.dumps({"setup": {"model": MODEL, "sessionResumption": {"handle": handle}}})
        )
        code, reason = await expect_close(ws)
    assert code == 1007
    assert "resumption handle" in reason


async def test_session_limit_audio_only(make_emulator: MakeEmulator) -> None:
    # 15 minutes at 1/1000: 0.9 s.
    emu = await make_emulator(time_scale=0.001, live_connection_lifetime=None)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        assert await expect_close(ws) == (1011, DEADLINE)


async def test_session_limit_with_video_is_two_minutes(make_emulator: MakeEmulator) -> None:
    # At 1/100: 2 minutes is 1.2 s once a video frame was sent; 15 minutes would be 9 s,
    # so the close must come well before that (7.8 s of margin for a loaded machine).
    emu = await make_emulator(time_scale=0.01, live_connection_lifetime=None)
    frame = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg").decode()
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        loop = asyncio.get_running_loop()
        started = loop.time()
        video = {"video": {"mimeType": "image/jpeg", "data": frame}}
        await ws.send(json.dumps({"realtimeInput": video}))
        assert await expect_close(ws, timeout=10) == (1011, DEADLINE)
        assert loop.time() - started < 9.0


async def test_context_window_compression_lifts_the_session_limit(
    make_emulator: MakeEmulator,
) -> None:
    emu = await make_emulator(time_scale=0.0005, live_connection_lifetime=None)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, contextWindowCompression={"slidingWindow": {}})
        await asyncio.sleep(0.6)  # past the scaled 15 minutes (0.45 s)
        assert heard(await say(ws, "echo: still here")) == "still here"
