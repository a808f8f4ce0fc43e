"""Voice turns of the emulator's Live API: activity detection, barge-in, transcriptions.

How these tests speak: "speech" is a 440 Hz tone of amplitude 3000 (RMS about 2100,
speech under every sensitivity), "silence" is all-zero PCM (RMS 0). Both are 16-bit
little-endian mono PCM at 16 kHz. The detector counts audio time (bytes), not wall
time, so the turns do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from api_gemini.emulator import Emulator
from api_gemini.emulator.vad import VadSettings, VoiceActivityDetector, rms
from helpers import KEY_HEADERS

MakeEmulator = Callable[..., Awaitable[Emulator]]
MODEL = "models/gemini-3.8-live"
RATE = 16000


def tone(ms: int, amplitude: int = 3000, rate: int = RATE) -> bytes:
    """Speech: a sine tone (RMS = amplitude / sqrt(2))."""
    n = rate * ms // 1000
    return struct.pack(
        f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n))
    )


def silence(ms: int, rate: int = RATE) -> bytes:
    """Silence: zeros."""
    return bytes(2 * (rate * ms // 1000))


async def connect(emu: Emulator) -> ClientConnection:
    return await websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def setup(ws: ClientConnection, **fields: Any) -> None:
    body = {
        "model": MODEL,
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
        "generationConfig": {"maxOutputTokens": 4},
        **fields,
    }
    await ws.send(json.dumps({"setup": body}))
    assert await recv(ws) == {"setupComplete": {}}


async def send_audio(ws: ClientConnection, pcm: bytes, rate: int = RATE) -> None:
    blob = {"mimeType": f"audio/pcm;rate={rate}", "data": base64.b64encode(pcm).decode()}
    await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))


async def until(ws: ClientConnection, key: str) -> list[dict[str, Any]]:
    """Messages up to and including the first serverContent holding ``key``."""
    got = []
    while True:
        message = await recv(ws)
        got.append(message)
        if key in message.get("serverContent", {}):
            return got


def contents(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["serverContent"] for m in messages if "serverContent" in m]


async def expect_close(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


# -- the detector on its own ---------------------------------------------------------


def test_levels_of_the_test_signals() -> None:
    from array import array

    assert rms(array("h", tone(100))) > 2000
    assert rms(array("h", silence(100))) == 0


def test_detector_counts_audio_time_and_the_knobs() -> None:
    vad = VoiceActivityDetector(VadSettings(prefix_padding_ms=100, silence_duration_ms=300))
    # 90 ms of speech is shorter than the prefix padding: no start.
    assert vad.feed(tone(90) + silence(50)) == []
    events = vad.feed(tone(200))
    assert [e.kind for e in events] == ["start"]
    assert vad.feed(silence(290)) == []  # not yet the silence duration
    (end,) = vad.feed(silence(20))
    assert end.kind == "end"
    assert vad.speech_ms == 200


def test_start_sensitivity_low_ignores_quiet_speech() -> None:
    quiet = tone(200, amplitude=800)  # RMS about 565: HIGH hears it, LOW does not
    high = VoiceActivityDetector(VadSettings.from_setup({}))
    low = VoiceActivityDetector(
        VadSettings.from_setup({"startOfSpeechSensitivity": "START_SENSITIVITY_LOW"})
    )
    assert [e.kind for e in high.feed(quiet)] == ["start"]
    assert low.feed(quiet) == []


def test_end_sensitivity_low_ends_speech_less_often() -> None:
    murmur = tone(600, amplitude=300)  # RMS about 212: non-speech for HIGH, speech for LOW
    high = VoiceActivityDetector(VadSettings.from_setup({"silenceDurationMs": 500}))
    low = VoiceActivityDetector(
        VadSettings.from_setup(
            {"endOfSpeechSensitivity": "END_SENSITIVITY_LOW", "silenceDurationMs": 500}
        )
    )
    for vad in (high, low):
        vad.feed(tone(100))
    assert [e.kind for e in high.feed(murmur)] == ["end"]
    assert low.feed(murmur) == []


# -- turns by voice activity alone ---------------------------------------------------


async def test_a_spoken_turn_by_activity_detection_alone(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        for pcm in (silence(200), tone(300), tone(300), silence(600)):
            await send_audio(ws, pcm)
        messages = await until(ws, "turnComplete")
    flags = contents(messages)
    assert {"interimInputTranscription": {"text": "audio of 300 ms"}} in flags
    assert {"inputTranscription": {"text": "audio of 600 ms", "finished": True}} in flags
    audio = [part["inlineData"] for f in flags for part in f.get("modelTurn", {}).get("parts", [])]
    assert audio and all(a["mimeType"] == "audio/pcm;rate=24000" for a in audio)
    outs = [f["outputTranscription"] for f in flags if "outputTranscription" in f]
    assert len(outs) == 4 and outs[-1].get("finished") is True
    keys = [next(iter(f)) for f in flags]
    assert keys.index("generationComplete") < keys.index("turnComplete")
    assert flags[-1]["interactionStatus"] == "IDLE"


async def test_silence_alone_makes_no_turn(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await send_audio(ws, silence(2000))
        await ws.send(json.dumps({"realtimeInput": {"audioStreamEnd": True}}))
        # Nothing was said: the next thing the server says is the answer to this text.
        await ws.send(json.dumps({"realtimeInput": {"text": "echo: typed"}}))
        first = await recv(ws)
    assert "modelTurn" in first["serverContent"]


async def test_audio_stream_end_ends_the_speech(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await send_audio(ws, tone(250))
        await ws.send(json.dumps({"realtimeInput": {"audioStreamEnd": True}}))
        messages = await until(ws, "inputTranscription")
    assert contents(messages)[-1] == {
        "inputTranscription": {"text": "audio of 250 ms", "finished": True}
    }


async def test_other_sample_rates_count_in_time(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await send_audio(ws, tone(400, rate=48000) + silence(600, rate=48000), rate=48000)
        messages = await until(ws, "inputTranscription")
    assert contents(messages)[-1]["inputTranscription"]["text"] == "audio of 400 ms"


async def test_turn_coverage_all_input_counts_the_silence(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws, realtimeInputConfig={"turnCoverage": "TURN_INCLUDES_ALL_INPUT"})
        for pcm in (silence(200), tone(300), silence(500)):
            await send_audio(ws, pcm)
        messages = await until(ws, "inputTranscription")
    assert contents(messages)[-1]["inputTranscription"]["text"] == "audio of 1000 ms"


# -- activity signals ------------------------------------------------------------------


async def test_activity_signals_refused_while_detection_is_on(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws)
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        code, reason = await expect_close(ws)
    assert code == 1007
    assert "automatic activity detection" in reason


async def test_detection_disabled_turns_only_by_activity_signals(emulator: Emulator) -> None:
    async with await connect(emulator) as ws:
        await setup(ws, realtimeInputConfig={"automaticActivityDetection": {"disabled": True}})
        # Speech and silence without activity signals: no turn.
        await send_audio(ws, tone(500) + silence(1000))
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        await send_audio(ws, tone(120) + silence(80))
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        messages = await until(ws, "turnComplete")
    assert contents(messages)[0] == {
        "inputTranscription": {"text": "audio of 200 ms", "finished": True}
    }


# -- barge-in ------------------------------------------------------------------------------


async def test_barge_in_order_interrupted_then_turn_complete(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=50)
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 200})
        await ws.send(json.dumps({"realtimeInput": {"text": "talk for a while"}}))
        first = await recv(ws)
        assert "modelTurn" in first["serverContent"]
        await send_audio(ws, tone(100))
        messages = await until(ws, "turnComplete")
    flags = contents(messages)
    assert flags[-2:] == [
        {"interrupted": True},
        {"turnComplete": True, "interactionStatus": "IDLE"},
    ]
    assert not any("generationComplete" in f for f in flags)
    assert emu.stats.live_interruptions == 1


async def test_no_interruption_lets_the_answer_finish(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_second=100)
    async with await connect(emu) as ws:
        await setup(
            ws,
            generationConfig={"maxOutputTokens": 20},
            realtimeInputConfig={"activityHandling": "NO_INTERRUPTION"},
        )
        await ws.send(json.dumps({"realtimeInput": {"text": "talk"}}))
        await recv(ws)
        await send_audio(ws, tone(200) + silence(600))
        first = await until(ws, "turnComplete")
        second = await until(ws, "turnComplete")
    assert not any("interrupted" in f for f in contents(first))
    assert any("generationComplete" in f for f in contents(first))
    # The speech became the next turn, answered after the first.
    heard = [f for f in contents(first + second) if "inputTranscription" in f]
    assert heard == [{"inputTranscription": {"text": "audio of 200 ms", "finished": True}}]
    assert any("generationComplete" in f for f in contents(second))


async def test_barge_in_cancels_a_pending_blocking_call(emulator: Emulator) -> None:
    tools = [{"functionDeclarations": [{"name": "lookup", "behavior": "BLOCKING"}]}]
    async with await connect(emulator) as ws:
        await setup(ws, tools=tools)
        await ws.send(json.dumps({"realtimeInput": {"text": "call lookup now"}}))
        call = (await recv(ws))["toolCall"]["functionCalls"][0]
        await send_audio(ws, tone(100))
        assert await recv(ws) == {"toolCallCancellation": {"ids": [call["id"]]}}
        assert await recv(ws) == {"serverContent": {"interrupted": True}}
        assert (await recv(ws))["serverContent"]["turnComplete"] is True


# -- playback time ---------------------------------------------------------------------


async def test_turn_complete_waits_for_the_playback(make_emulator: MakeEmulator) -> None:
    # 10 tokens of answer: 10 x 20 ms = 200 ms of 24 kHz audio; scaled by 1 here.
    emu = await make_emulator(playback_time_scale=1.0)
    loop = asyncio.get_running_loop()
    async with await connect(emu) as ws:
        await setup(ws, generationConfig={"maxOutputTokens": 10})
        await ws.send(json.dumps({"realtimeInput": {"text": "say ten words"}}))
        first_chunk_at = None
        while True:
            message = await recv(ws)
            content = message.get("serverContent", {})
            if "modelTurn" in content and first_chunk_at is None:
                first_chunk_at = loop.time()
            if content.get("generationComplete"):
                generation_done = loop.time()
            if content.get("turnComplete"):
                turn_done = loop.time()
                break
    assert first_chunk_at is not None
    # A lower bound only: a loaded machine can make it later, never earlier.
    assert turn_done - first_chunk_at >= 0.2 - 0.01
    assert turn_done >= generation_done
