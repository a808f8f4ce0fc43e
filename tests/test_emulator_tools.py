"""Async (NON_BLOCKING) function calls on the emulator's Live API, and contextUpdate.

Sources: https://ai.google.dev/gemini-api/docs/live-tools (async function calling,
``scheduling``), https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live
(NON_BLOCKING is the default on 3.8 Live), google-genai's ``FunctionResponse``
(``scheduling``, ``will_continue``) and ``LiveClientContextUpdate``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from api_gemini.emulator import Emulator
from helpers import KEY_HEADERS

MODEL = "models/gemini-3.8-live"
TOOLS = [{"functionDeclarations": [{"name": "book_table"}]}]


async def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def setup(ws: ClientConnection, model: str = MODEL, **fields: Any) -> None:
    body = {
        "model": model,
        "outputAudioTranscription": {},
        "tools": TOOLS,
        "generationConfig": {"maxOutputTokens": 3},
        **fields,
    }
    await ws.send(json.dumps({"setup": body}))
    assert await recv(ws) == {"setupComplete": {}}


async def turn(ws: ClientConnection) -> list[dict[str, Any]]:
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


async def start_call(ws: ClientConnection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask for book_table; return the call and the turn that went on meanwhile."""
    await ws.send(json.dumps({"realtimeInput": {"text": "please book_table for two"}}))
    messages = await turn(ws)
    (call,) = next(m for m in messages if "toolCall" in m)["toolCall"]["functionCalls"]
    return call, messages


async def respond(ws: ClientConnection, call: dict[str, Any], **extra: Any) -> None:
    response = {"id": call["id"], "name": call["name"], "response": {"booked": True}, **extra}
    await ws.send(json.dumps({"toolResponse": {"functionResponses": [response]}}))


async def test_non_blocking_is_the_default_on_3_8(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        _, messages = await start_call(ws)
    # The model keeps talking while the function runs, and says the session is busy.
    assert heard(messages) == "Calling book_table. "
    assert messages[-1]["serverContent"]["interactionStatus"] == "IN_PROGRESS"


async def test_when_idle_answers_after_the_current_answer(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        call, _ = await start_call(ws)
        await respond(ws, call, scheduling="WHEN_IDLE")
        messages = await turn(ws)
    assert heard(messages) == 'book_table returned {"booked":true}. '
    assert messages[-1]["serverContent"]["interactionStatus"] == "IDLE"


async def test_interrupt_cuts_the_running_answer(make_emulator: Any) -> None:
    emu = await make_emulator(tokens_per_second=50)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 200})
        call, _ = await start_call(ws)
        await ws.send(json.dumps({"realtimeInput": {"text": "tell me a long story"}}))
        assert "modelTurn" in (await recv(ws))["serverContent"]
        await respond(ws, call, scheduling="INTERRUPT")
        cut = await turn(ws)
        answer = await turn(ws)
    # The answer to the response follows at once: the cut turn is not the end of the
    # interaction (google-genai's receive() reads on until IDLE).
    assert [m.get("serverContent") for m in cut[-2:]] == [
        {"interrupted": True},
        {"turnComplete": True, "interactionStatus": "IN_PROGRESS"},
    ]
    assert answer[-1]["serverContent"]["interactionStatus"] == "IDLE"
    assert heard(answer) == 'book_table returned {"booked":true}. '


async def test_when_idle_waits_for_the_running_answer(make_emulator: Any) -> None:
    emu = await make_emulator(tokens_per_second=200)
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 20})
        call, _ = await start_call(ws)
        await ws.send(json.dumps({"realtimeInput": {"text": "tell me a story"}}))
        assert "modelTurn" in (await recv(ws))["serverContent"]
        await respond(ws, call, scheduling="WHEN_IDLE")
        story = await turn(ws)
        answer = await turn(ws)
    assert not any(m.get("serverContent", {}).get("interrupted") for m in story)
    assert any(m.get("serverContent", {}).get("generationComplete") for m in story)
    assert heard(answer) == 'book_table returned {"booked":true}. '


async def test_silent_only_adds_to_the_context(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        call, _ = await start_call(ws)
        await respond(ws, call, scheduling="SILENT")
        # No answer to the response, only word that the session is idle again.
        assert await recv(ws) == {
            "serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}
        }
        await ws.send(json.dumps({"realtimeInput": {"text": "echo: next"}}))
        assert heard(await turn(ws)) == "next"


async def test_will_continue_keeps_the_call_open(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        call, _ = await start_call(ws)
        await respond(ws, call, scheduling="WHEN_IDLE", willContinue=True)
        first = await turn(ws)
        assert first[-1]["serverContent"]["interactionStatus"] == "IN_PROGRESS"
        # An empty final response ends it, without a new answer.
        final = {"id": call["id"], "name": call["name"], "response": {}, "willContinue": False}
        await ws.send(json.dumps({"toolResponse": {"functionResponses": [final]}}))
        assert await recv(ws) == {
            "serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}
        }
        await ws.send(json.dumps({"realtimeInput": {"text": "echo: done"}}))
        last = await turn(ws)
        # The call is over: another response for it is refused.
        await respond(ws, call)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await recv(ws)
    assert heard(last) == "done"
    assert last[-1]["serverContent"]["interactionStatus"] == "IDLE"
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007


async def test_blocking_on_request_waits_for_the_response(emulator: Emulator) -> None:
    tools = [{"functionDeclarations": [{"name": "book_table", "behavior": "BLOCKING"}]}]
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, tools=tools)
        await ws.send(json.dumps({"realtimeInput": {"text": "book_table"}}))
        call = (await recv(ws))["toolCall"]["functionCalls"][0]
        await respond(ws, call)
        assert heard(await turn(ws)) == 'book_table returned {"booked":true}. '


async def test_3_1_flash_live_calls_block(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws, model="models/gemini-3.1-flash-live-preview")
        await ws.send(json.dumps({"realtimeInput": {"text": "book_table"}}))
        assert "toolCall" in await recv(ws)


async def test_context_update_replaces_the_tools(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await setup(ws)
        update = {"tools": {"tools": []}, "systemInstruction": {"parts": [{"text": "be kind"}]}}
        await ws.send(json.dumps({"contextUpdate": update}))
        await ws.send(json.dumps({"realtimeInput": {"text": "book_table"}}))
        messages = await turn(ws)
    assert not any("toolCall" in m for m in messages)


async def test_context_update_replaces_the_system_instruction(emulator: Emulator) -> None:
    async def answer(instruction: str, update: str | None) -> str:
        async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
            await setup(ws, systemInstruction={"parts": [{"text": instruction}]})
            if update is not None:
                new = {"systemInstruction": {"parts": [{"text": update}]}}
                await ws.send(json.dumps({"contextUpdate": new}))
            await ws.send(json.dumps({"realtimeInput": {"text": "hello"}}))
            return heard(await turn(ws))

    # The answers are a function of the conversation, system instruction included.
    assert await answer("be brief", "be kind") == await answer("be kind", None)
    assert await answer("be brief", "be kind") != await answer("be brief", None)
