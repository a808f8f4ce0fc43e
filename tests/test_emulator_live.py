"""The emulator's Live API (BidiGenerateContent), driven by a raw ``websockets`` client."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from api_gemini.emulator import Emulator

#: The ``make_emulator`` fixture (see conftest).
MakeEmulator = Callable[..., Awaitable[Emulator]]

LIVE_MODEL = "models/gemini-3.8-live"


async def connect(
    emu: Emulator, *, key: str | None = "test-key", version: str = "v1beta", **kwargs: Any
) -> ClientConnection:
    headers = {"x-goog-api-key": key} if key is not None else {}
    return await websockets.connect(emu.live_url(version), additional_headers=headers, **kwargs)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), 5)
    # Production sends binary frames: so does the emulator.
    assert isinstance(frame, bytes)
    message: dict[str, Any] = json.loads(frame)
    return message


async def setup(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    """Send a setup with output transcription (today's models answer in AUDIO only; the
    text of an answer is its transcription) plus ``fields``."""
    setup = {"model": LIVE_MODEL, "outputAudioTranscription": {}, **fields}
    await ws.send(json.dumps({"setup": setup}))
    return await recv(ws)


async def send_text(ws: ClientConnection, text: str, *, complete: bool = True) -> None:
    await ws.send(
        json.dumps(
            {
                "clientContent": {
                    "turns": [{"role": "user", "parts": [{"text": text}]}],
                    "turnComplete": complete,
                }
            }
        )
    )


async def collect_turn(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every message up to and including the one with turnComplete."""
    messages = []
    while True:
        message = await recv(ws)
        messages.append(message)
        if message.get("serverContent", {}).get("turnComplete"):
            return messages


def turn_text(messages: list[dict[str, Any]]) -> str:
    """The answer's text: its output transcription."""
    return "".join(
        m.get("serverContent", {}).get("outputTranscription", {}).get("text", "") for m in messages
    )


async def expect_close(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    rcvd = info.value.rcvd
    assert rcvd is not None, "the server must send a close frame"
    return rcvd.code, rcvd.reason


# -- setup -----------------------------------------------------------------------------


async def test_setup_complete(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        assert await setup(ws) == {"setupComplete": {}}
    assert emulator.stats.ws_setups == 1
    assert emulator.stats.ws_connections == 1


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
async def test_every_api_version(emulator: Emulator, version: str) -> None:
    async with await connect(emulator, version=version) as ws:
        assert await setup(ws) == {"setupComplete": {}}


async def test_text_answer_chunks_and_usage(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_chunk=3)
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 10})
        await send_text(ws, "hello there world")
        messages = await collect_turn(ws)
    chunks = [m for m in messages if "modelTurn" in m.get("serverContent", {})]
    assert len(chunks) == math.ceil(10 / 3)
    assert all(c["serverContent"]["modelTurn"]["role"] == "model" for c in chunks)
    assert len(turn_text(messages).split()) == 10
    assert messages[-2] == {"serverContent": {"generationComplete": True}}
    assert messages[-1]["usageMetadata"] == {
        "promptTokenCount": 3,
        "responseTokenCount": 10,
        "totalTokenCount": 13,
    }
    assert emu.stats.live_turns == 1


async def test_default_answer_length(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(default_max_output_tokens=7)
    async with await connect(emu) as ws:
        await setup(ws)
        await send_text(ws, "hi")
        messages = await collect_turn(ws)
    assert len(turn_text(messages).split()) == 7


async def test_answers_are_deterministic(emulator: Emulator) -> None:
    texts = []
    for _ in range(2):
        async with await connect(emulator) as ws:
            await setup(ws)
            await send_text(ws, "tell me a story")
            texts.append(turn_text(await collect_turn(ws)))
    assert texts[0] == texts[1]
    async with await connect(emulator) as ws:
        await setup(ws)
        await send_text(ws, "tell me another story")
        assert turn_text(await collect_turn(ws)) != texts[0]


async def test_snake_case_everywhere(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await ws.send(
            json.dumps(
                {
                    "setup": {
                        "model": LIVE_MODEL,
                        "generation_config": {
                            "max_output_tokens": 4,
                            "response_modalities": ["AUDIO"],
                        },
                        "output_audio_transcription": {},
                    }
                }
            )
        )
        assert await recv(ws) == {"setupComplete": {}}
        await ws.send(
            json.dumps(
                {
                    "client_content": {
                        "turns": [{"role": "user", "parts": [{"text": "echo: snake works"}]}],
                        "turn_complete": True,
                    }
                }
            )
        )
        assert turn_text(await collect_turn(ws)) == "snake works"


async def test_context_without_turn_complete(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await send_text(ws, "first fact", complete=False)
        await send_text(ws, "second fact", complete=False)
        await send_text(ws, "recall")
        assert turn_text(await collect_turn(ws)) == "first fact | second fact"


async def test_realtime_text_is_a_turn(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await ws.send(json.dumps({"realtimeInput": {"text": "echo: typed live"}}))
        assert turn_text(await collect_turn(ws)) == "typed live"


async def test_text_frames_from_client_and_binary_ok(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        # Clients send text frames; a binary frame holding JSON is accepted as well.
        await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}).encode())
        assert await recv(ws) == {"setupComplete": {}}


# -- close codes -------------------------------------------------------------------------


async def test_first_message_not_setup_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await send_text(ws, "hello")
        assert await expect_close(ws) == (
            1007,
            "The first message must be setup, not clientContent.",
        )


@pytest.mark.parametrize(
    "model", ["models/no-such-model", "models/gemini-2.5-pro", "models/text-embedding-004"]
)
async def test_unknown_or_non_live_model_is_1008(emulator: Emulator, model: str) -> None:
    async with await connect(emulator) as ws:
        await ws.send(json.dumps({"setup": {"model": model}}))
        code, reason = await expect_close(ws)
    assert code == 1008
    assert reason == (
        f"{model} is not found for API version v1beta, or is not supported for bidiGenerateContent"
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            '{"setup": "models/gemini-3.8-live"}',
            "Invalid value at 'setup' (type.googleapis.com/google.ai.generativelanguage"
            '.v1beta.LiveClientSetup), "models/gemini-3.8-live"',
        ),
        ('{"setup": {"model": 42}}', "Invalid value at 'setup.model' (TYPE_STRING), 42"),
        ('{"setup": {}}', "setup.model is required."),
        (
            '{"setup": {"model": "models/gemini-3.8-live", "generationConfig": []}}',
            "Invalid value at 'setup.generation_config' (type.googleapis.com/google.ai."
            "generativelanguage.v1beta.GenerationConfig), []",
        ),
        (
            '{"setup": {"model": "models/gemini-3.8-live",'
            ' "generationConfig": {"responseModalities": ["SMELL"]}}}',
            # The parser names the enum (NEKOparapa/AiNiee#746 shows the form); a close
            # reason is cut to 123 bytes, which cuts this one.
            "Invalid value at 'setup.generation_config.response_modalities[0]' (type.googleapis"
            '.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality), "SMELL"',
        ),
        ("[1, 2]", "Invalid JSON payload received. Expected an object."),
        ("not json", "Invalid JSON payload received. Unexpected token."),
        (
            '{"setup": {"model": "models/gemini-3.8-live"}, "clientContent": {}}',
            "A client message must set exactly one of setup, clientContent, realtimeInput, "
            "toolResponse, contextUpdate.",
        ),
    ],
)
async def test_malformed_setup_is_1007_naming_the_problem(
    emulator: Emulator, message: str, reason: str
) -> None:
    # The real service names the problem in the close reason (googleapis/js-genai#696);
    # the emulator used to say "Request contains an invalid argument." for all of them.
    async with await connect(emulator) as ws:
        await ws.send(message)
        assert await expect_close(ws) == (1007, reason[:123])


async def test_unknown_message_key_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await ws.send(json.dumps({"fancyNewThing": {}}))
        assert (await expect_close(ws))[0] == 1007


async def test_second_setup_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
        assert (await expect_close(ws))[0] == 1007


async def test_bad_base64_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await ws.send(
            json.dumps({"realtimeInput": {"audio": {"data": "@@@", "mimeType": "audio/pcm"}}})
        )
        assert await expect_close(ws) == (
            1007,
            "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), "
            'Base64 decoding failed for "@@@"',
        )


async def test_wrong_key_is_1008(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key="right")
    for key in ("wrong", None):
        # Accepted at HTTP level, then closed like the real service.
        async with await connect(emu, key=key) as ws:
            await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
            code, reason = await expect_close(ws)
        assert code == 1008
        if key is not None:
            assert reason == "API key not valid. Please pass a valid API key."
        else:
            # No key: the reason google-gemini/cookbook#821 quotes (cut to 123 bytes).
            assert reason.startswith("Method doesn't allow unregistered callers")
    async with await connect(emu, key="right") as ws:
        assert await setup(ws) == {"setupComplete": {}}
    # The ?key= form works too (third-party clients use it).
    async with websockets.connect(emu.live_url() + "?key=right") as ws:
        assert await setup(ws) == {"setupComplete": {}}
    assert emu.stats.ws_close_codes == {1008: 2}


async def test_constrained_endpoint_refuses_a_token_it_did_not_mint(
    make_emulator: MakeEmulator,
) -> None:
    # The emulator used to trust any "auth_tokens/..." string; tokens are minted by
    # POST v1alpha/auth_tokens (tests/test_emulator_tokens.py).
    emu = await make_emulator(api_key="right")
    url = emu.live_url("v1alpha", constrained=True)
    assert url.endswith("BidiGenerateContentConstrained")
    for headers in ({"Authorization": "Token auth_tokens/abc"}, {"Authorization": "Token nope"}):
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
            assert await expect_close(ws) == (1008, "Ephemeral token not valid.")


async def test_stop_closes_live_sockets_with_a_close_frame(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator()
    ws = await connect(emu)
    await setup(ws)
    await emu.stop()
    assert await expect_close(ws) == (1001, "The service is shutting down.")
    assert emu.stats.ws_active == 0


async def test_audio_base64_alphabets(emulator: Emulator) -> None:
    # Bytes whose base64 differs between the alphabets: 0xfb 0xff -> "+/8" vs "-_8".
    pcm = bytes([0xFB, 0xFF, 0xFE] * 10)
    std = base64.b64encode(pcm).decode()
    url = base64.urlsafe_b64encode(pcm).decode().rstrip("=")
    assert std != url
    async with await connect(emulator) as ws:
        await setup(
            ws,
            inputAudioTranscription={},
            realtimeInputConfig={"automaticActivityDetection": {"disabled": True}},
        )
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        for data in (std, url):
            await ws.send(
                json.dumps(
                    {"realtimeInput": {"audio": {"data": data, "mimeType": "audio/pcm;rate=16000"}}}
                )
            )
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        first = await recv(ws)
        # 60 bytes of 16 kHz PCM: 1.875 ms, heard as "audio of 1 ms".
        assert first == {
            "serverContent": {"inputTranscription": {"text": "audio of 1 ms", "finished": True}}
        }
        await collect_turn(ws)


# -- interruption ------------------------------------------------------------------------


async def test_new_content_interrupts_the_answer(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=100)
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 100})
        await send_text(ws, "a long answer please")
        first = await recv(ws)
        assert "modelTurn" in first["serverContent"]
        await send_text(ws, "echo: never mind")
        cut = await collect_turn(ws)
        messages = await collect_turn(ws)
    flags = [m["serverContent"] for m in cut]
    # The real order of an interrupted answer: interrupted, then turnComplete, and no
    # generationComplete (google-genai's LiveServerContent.generation_complete doc).
    assert flags[-2:] == [
        {"interrupted": True},
        {"turnComplete": True, "interactionStatus": "IDLE"},
    ]
    assert all("generationComplete" not in f for f in flags)
    assert turn_text(messages) == "never mind"
    assert emu.stats.live_interruptions == 1
    assert emu.stats.live_turns == 1


async def test_activity_start_interrupts(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=100)
    async with await connect(emu) as ws:
        await setup(
            ws,
            generationConfig={"maxOutputTokens": 100},
            inputAudioTranscription={},
            realtimeInputConfig={"automaticActivityDetection": {"disabled": True}},
        )
        await send_text(ws, "talk")
        await recv(ws)
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        while (await recv(ws)).get("serverContent") != {"interrupted": True}:
            pass
        assert (await recv(ws))["serverContent"]["turnComplete"] is True
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        # The (empty) audio turn is answered.
        assert await recv(ws) == {
            "serverContent": {"inputTranscription": {"text": "audio of 0 ms", "finished": True}}
        }
        assert "modelTurn" in (await recv(ws))["serverContent"]


async def test_silent_audio_does_not_interrupt(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=400)
    silence = base64.b64encode(bytes(320)).decode()
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 20})
        await send_text(ws, "talk")
        await recv(ws)
        await ws.send(
            json.dumps({"realtimeInput": {"audio": {"data": silence, "mimeType": "audio/pcm"}}})
        )
        messages = await collect_turn(ws)
    assert all(m.get("serverContent") != {"interrupted": True} for m in messages)
    assert {"serverContent": {"generationComplete": True}} in messages


# -- tools -------------------------------------------------------------------------------

WEATHER_TOOL = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                # gemini-3.8-live calls functions NON_BLOCKING unless told otherwise.
                "behavior": "BLOCKING",
            }
        ]
    }
]


async def test_tool_call_round_trip(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws, tools=WEATHER_TOOL)
        await send_text(ws, "call get_weather for Paris")
        message = await recv(ws)
        (call,) = message["toolCall"]["functionCalls"]
        assert call["name"] == "get_weather"
        assert set(call["args"]) == {"city"}
        await ws.send(
            json.dumps(
                {
                    "tool_response": {
                        "function_responses": [
                            {"id": call["id"], "name": "get_weather", "response": {"sky": "clear"}}
                        ]
                    }
                }
            )
        )
        messages = await collect_turn(ws)
    assert turn_text(messages) == 'get_weather returned {"sky":"clear"}. '
    assert emulator.stats.tool_calls == 1


async def test_tool_response_with_unknown_id_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws, tools=WEATHER_TOOL)
        await send_text(ws, "call get_weather")
        await recv(ws)
        await ws.send(
            json.dumps(
                {"toolResponse": {"functionResponses": [{"id": "nope", "name": "get_weather"}]}}
            )
        )
        assert (await expect_close(ws))[0] == 1007


async def test_new_content_cancels_a_pending_tool_call(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws, tools=WEATHER_TOOL)
        await send_text(ws, "call get_weather")
        call_id = (await recv(ws))["toolCall"]["functionCalls"][0]["id"]
        await send_text(ws, "echo: forget it")
        assert await recv(ws) == {"toolCallCancellation": {"ids": [call_id]}}
        assert await recv(ws) == {"serverContent": {"interrupted": True}}
        await collect_turn(ws)  # the turnComplete of the cut turn
        assert turn_text(await collect_turn(ws)) == "forget it"


# -- audio -------------------------------------------------------------------------------


async def test_audio_answer_with_transcription(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_chunk=2)
    config = {"maxOutputTokens": 6}
    async with await connect(emu) as ws:
        await setup(ws, generationConfig=config)
        await send_text(ws, "sing")
        expected = turn_text(await collect_turn(ws))
    async with await connect(emu) as ws:
        await setup(
            ws,
            generationConfig={**config, "responseModalities": ["AUDIO"]},
            outputAudioTranscription={},
        )
        await send_text(ws, "sing")
        messages = await collect_turn(ws)
    audio = [
        part["inlineData"]
        for m in messages
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    ]
    assert len(audio) == 3
    assert all(blob["mimeType"] == "audio/pcm;rate=24000" for blob in audio)
    pcm = [base64.b64decode(blob["data"], validate=True) for blob in audio]
    assert all(len(p) > 0 and len(p) % 2 == 0 for p in pcm)
    transcript = "".join(
        m["serverContent"]["outputTranscription"]["text"]
        for m in messages
        if "outputTranscription" in m.get("serverContent", {})
    )
    # Same model, same conversation: the spoken answer is the text answer.
    assert transcript == expected


async def test_audio_input_turn(emulator: Emulator) -> None:
    chunk = base64.b64encode(b"\x01\x00" * 160).decode()
    async with await connect(emulator) as ws:
        await setup(
            ws,
            inputAudioTranscription={},
            realtimeInputConfig={"automaticActivityDetection": {"disabled": True}},
        )
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        for _ in range(3):
            await ws.send(
                json.dumps(
                    {
                        "realtimeInput": {
                            "audio": {"data": chunk, "mimeType": "audio/pcm;rate=16000"}
                        }
                    }
                )
            )
        # The legacy form still works.
        await ws.send(
            json.dumps(
                {"realtimeInput": {"mediaChunks": [{"data": chunk, "mimeType": "audio/pcm"}]}}
            )
        )
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        transcription = await recv(ws)
        # Four chunks of 10 ms at 16 kHz.
        assert transcription == {
            "serverContent": {"inputTranscription": {"text": "audio of 40 ms", "finished": True}}
        }
        messages = await collect_turn(ws)
        assert turn_text(messages)
        await send_text(ws, "recall")
        assert turn_text(await collect_turn(ws)) == "audio of 40 ms"


# -- session resumption ------------------------------------------------------------------


async def test_resumption_restores_history(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        assert await setup(ws, sessionResumption={}) == {"setupComplete": {}}
        update = await recv(ws)
        assert update["sessionResumptionUpdate"]["resumable"] is True
        await send_text(ws, "my name is Ada")
        await collect_turn(ws)
        handle = (await recv(ws))["sessionResumptionUpdate"]["newHandle"]
        assert handle != update["sessionResumptionUpdate"]["newHandle"]
    async with await connect(emulator) as ws:
        assert await setup(ws, session_resumption={"handle": handle}) == {"setupComplete": {}}
        await recv(ws)
        await send_text(ws, "recall")
        assert turn_text(await collect_turn(ws)) == "my name is Ada"
    assert emulator.stats.resumptions == 1


async def test_unknown_resumption_handle_is_1007(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await ws.send(
            json.dumps({"setup": {"model": LIVE_MODEL, "sessionResumption": {"handle": "nope"}}})
        )
        assert (await expect_close(ws))[0] == 1007


# -- connection lifetime -----------------------------------------------------------------


async def test_go_away_then_1011(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(live_connection_lifetime=0.3, go_away_notice=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await connect(emu) as ws:
        await setup(ws)
        assert await recv(ws) == {"goAway": {"timeLeft": "0.200s"}}
        go_away_at = loop.time() - started
        code, reason = await expect_close(ws)
        closed_at = loop.time() - started
    assert (code, reason) == (1011, "Deadline expired before operation could complete.")
    assert 0.05 <= go_away_at < closed_at
    assert closed_at - go_away_at >= 0.15
    assert emu.stats.go_aways == 1
    assert emu.stats.ws_close_codes == {1011: 1}


async def test_go_away_during_an_answer(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(
        live_connection_lifetime=0.2, go_away_notice=0.1, tokens_per_second=50
    )
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 1000})
        await send_text(ws, "go on forever")
        seen_go_away = False
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                message = await recv(ws)
                seen_go_away = seen_go_away or "goAway" in message
    assert seen_go_away
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011


async def test_audio_is_the_default_modality(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await ws.send(json.dumps({"setup": {"model": LIVE_MODEL}}))
        assert await recv(ws) == {"setupComplete": {}}
        await send_text(ws, "speak")
        # Read the whole turn: a websockets client that leaves 16+ messages unread
        # stops reading the socket and cannot complete the close handshake.
        first = (await collect_turn(ws))[0]
    (part,) = first["serverContent"]["modelTurn"]["parts"]
    assert part["inlineData"]["mimeType"] == "audio/pcm;rate=24000"


async def test_pings_are_answered(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        latency = await asyncio.wait_for(await ws.ping(), 5)
        assert latency >= 0


async def test_control_hooks_go_away_and_close(emulator: Emulator) -> None:
    """Tests can make the server announce an end and drop connections on demand."""
    async with await connect(emulator) as ws:
        await setup(ws)
        assert emulator.live_session_count == 1
        assert await emulator.send_go_away(2.5) == 1
        assert await recv(ws) == {"goAway": {"timeLeft": "2.500s"}}
        assert await emulator.close_live_sessions(1012, "restarting") == 1
        assert await expect_close(ws) == (1012, "restarting")
    await asyncio.sleep(0.05)
    assert emulator.live_session_count == 0
    assert emulator.stats.ws_close_codes == {1012: 1}


async def test_3_1_flash_live_sends_audio_and_transcription_in_one_event(
    emulator: Emulator,
) -> None:
    # https://ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-live-preview: one
    # server event can carry several parts (audio and transcription together).
    async with await connect(emulator) as ws:
        await setup(
            ws,
            model="models/gemini-3.1-flash-live-preview",
            generationConfig={"maxOutputTokens": 2},
        )
        await send_text(ws, "echo: two words")
        messages = await collect_turn(ws)
    chunks = [m["serverContent"] for m in messages if "modelTurn" in m.get("serverContent", {})]
    assert [c["outputTranscription"]["text"] for c in chunks] == ["two ", "words"]
    assert all(c["modelTurn"]["parts"][0]["inlineData"]["data"] for c in chunks)
    assert chunks[-1]["outputTranscription"]["finished"] is True
