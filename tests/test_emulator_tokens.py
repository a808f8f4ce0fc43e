"""Ephemeral tokens: minted by POST v1alpha/auth_tokens, spent by Live sessions.

Source: https://ai.google.dev/gemini-api/docs/ephemeral-tokens; the wire form of the
request is google-genai's ``tokens.py`` / ``_tokens_converters.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import websockets

from api_gemini.emulator import Emulator

MakeEmulator = Callable[..., Awaitable[Emulator]]
MODEL = "models/gemini-3.8-live"
KEY = "server-key"


def in_seconds(seconds: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def mint(emu: Emulator, body: dict[str, Any], version: str = "v1alpha") -> Any:
    async with (
        aiohttp.ClientSession(headers={"x-goog-api-key": KEY}) as http,
        http.post(f"{emu.base_url}/{version}/auth_tokens", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def open_with(
    emu: Emulator, token: str, setup: dict[str, Any] | None = None, version: str = "v1alpha"
) -> tuple[websockets.ClientConnection, dict[str, Any] | tuple[int, str]]:
    url = emu.live_url(version, constrained=True)
    ws = await websockets.connect(url, additional_headers={"Authorization": f"Token {token}"})
    await ws.send(json.dumps({"setup": setup or {"model": MODEL}}))
    try:
        first: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    except websockets.ConnectionClosed as exc:
        closed = exc.rcvd
    else:
        return ws, first
    assert closed is not None
    return ws, (closed.code, closed.reason)


async def test_a_token_is_used_once_then_refused(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    status, token = await mint(emu, {"uses": 1})
    assert status == 200
    assert token["name"].startswith("auth_tokens/")
    ws, first = await open_with(emu, token["name"])
    assert first == {"setupComplete": {}}
    await ws.close()
    ws, second = await open_with(emu, token["name"])
    assert second == (1008, "Ephemeral token has no uses left.")


async def test_defaults_and_the_answer(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    status, token = await mint(emu, {})
    assert status == 200
    now = dt.datetime.now(dt.UTC)
    expire = dt.datetime.fromisoformat(token["expireTime"].replace("Z", "+00:00"))
    new_session = dt.datetime.fromisoformat(token["newSessionExpireTime"].replace("Z", "+00:00"))
    assert token["uses"] == 1
    assert dt.timedelta(minutes=29) < expire - now <= dt.timedelta(minutes=30)
    assert dt.timedelta(seconds=50) < new_session - now <= dt.timedelta(seconds=60)


async def test_v1alpha_only(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    status, _ = await mint(emu, {}, version="v1beta")
    assert status == 404
    _, token = await mint(emu, {"uses": 2})
    _, refused = await open_with(emu, token["name"], version="v1beta")
    assert refused == (1008, "Ephemeral tokens are only supported in API version v1alpha.")


async def test_minting_needs_the_api_key(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.base_url}/v1alpha/auth_tokens", json={}) as resp,
    ):
        assert resp.status == 403


async def test_unknown_field_in_the_request(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    status, body = await mint(emu, {"uses": 1, "usesLeft": 3})
    assert status == 400
    assert body["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "usesLeft": Cannot find field.'
    )


async def test_expired_token_is_refused(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    _, token = await mint(emu, {"expireTime": in_seconds(-1)})
    _, refused = await open_with(emu, token["name"])
    assert refused == (1008, "Ephemeral token has expired.")


async def test_new_session_expire_time(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    _, token = await mint(emu, {"newSessionExpireTime": in_seconds(-1), "uses": 0})
    _, refused = await open_with(emu, token["name"])
    assert refused == (1008, "Ephemeral token can no longer start new sessions.")


async def test_expire_time_in_a_session_refuses_messages(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    _, token = await mint(emu, {"expireTime": in_seconds(0.5)})
    ws, first = await open_with(emu, token["name"])
    assert first == {"setupComplete": {}}
    await asyncio.sleep(0.6)  # the token's wall-clock expiry must pass
    await ws.send(json.dumps({"realtimeInput": {"text": "hello"}}))
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1008, "Ephemeral token has expired.")


async def test_locked_constraints_win(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    locked = {
        "model": MODEL,
        "generationConfig": {"maxOutputTokens": 2},
        "outputAudioTranscription": {},
    }
    _, token = await mint(emu, {"bidiGenerateContentSetup": locked, "uses": 1})
    # The client asks for another model and a longer answer: the token's setup rules.
    client_setup = {
        "model": "models/gemini-3.1-flash-live-preview",
        "generationConfig": {"maxOutputTokens": 50},
    }
    ws, first = await open_with(emu, token["name"], client_setup)
    assert first == {"setupComplete": {}}
    await ws.send(json.dumps({"realtimeInput": {"text": "talk"}}))
    said = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        content = message.get("serverContent", {})
        if "outputTranscription" in content:
            said.append(content["outputTranscription"]["text"])
        if content.get("turnComplete"):
            break
    await ws.close()
    assert len(said) == 2


async def test_resumption_does_not_spend_a_use(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    _, token = await mint(emu, {"uses": 1})
    ws, first = await open_with(emu, token["name"], {"model": MODEL, "sessionResumption": {}})
    assert first == {"setupComplete": {}}
    handle = json.loads(await ws.recv())["sessionResumptionUpdate"]["newHandle"]
    await ws.close()
    resumed = {"model": MODEL, "sessionResumption": {"handle": handle}}
    ws, again = await open_with(emu, token["name"], resumed)
    assert again == {"setupComplete": {}}
    await ws.close()
