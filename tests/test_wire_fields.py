"""Issue 10: today's defaults, nothing dropped (requests and responses), today's
features typed, ephemeral tokens end to end. Against the emulator (today's service)
and a recording server (tests/helpers.py) where what went on the wire is the point."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from api_gemini import AsyncClient, Client
from api_gemini.emulator import Emulator
from api_gemini.errors import ApiError, SetupRejectedError
from api_gemini.settings import ClientSettings
from api_gemini.types import (
    FunctionResponse,
    GenerateContentResponse,
    GenerationConfig,
)
from api_gemini.websocket import (
    InteractionStatus,
    LiveSession,
    ModelTurn,
    OutputTranscription,
    SessionResumptionUpdate,
    ToolCall,
    TurnComplete,
    UnknownMessage,
    UsageUpdate,
    connect_live,
    open_stream,
)
from api_gemini.websocket.decoding import decode_events
from api_gemini.websocket.live_types import LiveConnectConfig
from helpers import WAIT, RecordingLiveServer

MakeEmulator = Callable[..., Awaitable[Emulator]]
KEY = "wire-key-SECRET-1010"
LIVE = "gemini-3.8-live"

#: A setup in snake_case as google-genai users write it, nested, with free-form schema
#: keys (which must not be renamed) and a misspelt key (which must reach the server).
SNAKE_CONFIG: dict[str, Any] = {
    "generation_config": {
        "max_output_tokens": 3,
        "maxOutputTokns": 4,
        "media_resolution": "MEDIA_RESOLUTION_LOW",
    },
    "system_instruction": {"parts": [{"text": "be brief"}]},
    "tools": [
        {
            "function_declarations": [
                {
                    "name": "look_up",
                    "behavior": "NON_BLOCKING",
                    "parameters_json_schema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "string"}},
                    },
                }
            ]
        },
        {"url_context": {}},
        {"google_maps": {}},
    ],
    "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    "realtime_input_config": {
        "automatic_activity_detection": {"silence_duration_ms": 300},
        "activity_handling": "NO_INTERRUPTION",
    },
    "input_audio_transcription": {"custom_vocabulary": ["Gemini"]},
    "output_audio_transcription": {},
    "proactivity": {"proactive_audio": True},
    "history_config": {"initial_history_in_client_content": True},
    "session_resumption": {},
}

CAMEL_SETUP: dict[str, Any] = {
    "model": f"models/{LIVE}",
    "generationConfig": {
        "maxOutputTokens": 3,
        "maxOutputTokns": 4,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "responseModalities": ["AUDIO"],
    },
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "look_up",
                    "behavior": "NON_BLOCKING",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "string"}},
                    },
                }
            ]
        },
        {"urlContext": {}},
        {"googleMaps": {}},
    ],
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    "realtimeInputConfig": {
        "automaticActivityDetection": {"silenceDurationMs": 300},
        "activityHandling": "NO_INTERRUPTION",
    },
    "inputAudioTranscription": {"customVocabulary": ["Gemini"]},
    "outputAudioTranscription": {},
    "proactivity": {"proactiveAudio": True},
    "historyConfig": {"initialHistoryInClientContent": True},
    "sessionResumption": {},
}


def settings_for(base_url: str, key: str = KEY) -> ClientSettings:
    return ClientSettings.resolve(key, base_url=base_url)


def camel_keys(value: Any) -> Any:
    """The camelCase form of a snake_case config (every key; for building expectations)."""
    if isinstance(value, dict):
        return {
            (k.split("_")[0] + "".join(w.capitalize() for w in k.split("_")[1:])): camel_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


# --------------------------------------------------------------------------- defaults


async def test_the_readme_command_streams_text_from_the_transcription(emulator: Emulator) -> None:
    """A prompt string, today's default model and modality: the text arrives."""
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        model = client.models.by_name(LIVE)
        async with await model.stream_generate_content_websocket("echo: words over AUDIO") as s:
            chunks = [c async for c in s]
    assert "".join(c.text for c in chunks) == "words over AUDIO"
    assert sum(len(c.audio) for c in chunks) > 0  # and the sound, 24 kHz PCM
    assert chunks[-1].finish_reason == "STOP"


@pytest.mark.parametrize("combined", [True, False])
async def test_audio_and_transcription_in_one_frame_or_two_lose_nothing(combined: bool) -> None:
    """3.1 Flash Live sends both in one frame; native-audio models in two."""
    pcm = b"\x01\x00" * 240
    audio = {
        "modelTurn": {
            "parts": [
                {
                    "inlineData": {
                        "mimeType": "audio/pcm;rate=24000",
                        "data": base64.b64encode(pcm).decode(),
                    }
                }
            ]
        }
    }
    spoken = {"outputTranscription": {"text": "hi "}}
    frames = (
        [{"serverContent": {**audio, **spoken}}]
        if combined
        else [{"serverContent": audio}, {"serverContent": spoken}]
    )
    frames.append({"serverContent": {"turnComplete": True}})
    server = RecordingLiveServer([json.dumps(f).encode() for f in frames])
    async with server:
        stream = await open_stream(settings_for(server.base_url), LIVE, "hello")
        chunks = [c async for c in stream]
    assert "".join(c.text for c in chunks) == "hi "
    assert b"".join(c.audio for c in chunks) == pcm
    assert len(chunks) == (2 if combined else 3)
    # the setup asked for today's defaults
    setup = server.messages[0]["setup"]
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert setup["outputAudioTranscription"] == {}


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("spelling", ["snake", "camel"])
async def test_dict_configs_in_either_spelling_reach_the_wire_whole(spelling: str) -> None:
    config = SNAKE_CONFIG if spelling == "snake" else camel_keys(SNAKE_CONFIG)
    if spelling == "camel":  # the free-form schema keeps its own keys, the typo its own
        config["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] = CAMEL_SETUP[
            "tools"
        ][0]["functionDeclarations"][0]["parametersJsonSchema"]
        config["generationConfig"]["maxOutputTokns"] = 4
    async with RecordingLiveServer() as server:
        session = await connect_live(settings_for(server.base_url), LIVE, config)
        await session.send_tool_response(
            [
                {
                    "id": "c1",
                    "name": "look_up",
                    "response": {"ok": 1},
                    "will_continue": True,
                    "scheduling": "SILENT",
                    "future_field": 1,
                }
            ]
        )
        await session.close()
    assert server.messages[0] == {"setup": CAMEL_SETUP}
    assert server.messages[1] == {
        "toolResponse": {
            "functionResponses": [
                {
                    "name": "look_up",
                    "response": {"ok": 1},
                    "id": "c1",
                    "willContinue": True,
                    "scheduling": "SILENT",
                    "future_field": 1,
                }
            ]
        }
    }


async def test_a_misspelt_field_gets_the_servers_own_error(emulator: Emulator) -> None:
    with pytest.raises(SetupRejectedError) as info:
        await connect_live(
            settings_for(emulator.base_url), LIVE, {"generation_config": {"maxOutputTokns": 3}}
        )
    assert info.value.close_code == 1007
    assert "maxOutputTokns" in info.value.reason
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        model = client.models.by_name("gemini-2.5-flash")
        with pytest.raises(ApiError) as http_info:
            await model.generate_content(
                {
                    "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                    "generation_config": {"maxOutputTokns": 3},
                }
            )
        assert http_info.value.status == 400
        assert "maxOutputTokns" in str(http_info.value)
        # the same in snake_case, spelt right: accepted, and obeyed
        answer = await model.generate_content(
            {
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generation_config": {"max_output_tokens": 2},
            }
        )
        assert answer.usage_metadata is not None
        assert answer.usage_metadata.candidates_token_count == 2


async def test_typed_objects_take_raw_fields_through_extra() -> None:
    config = LiveConnectConfig(
        generation_config=GenerationConfig(temperature=0.5, extra={"newKnob": {"a_b": 1}}),
        extra={"futureSetupField": True},
    )
    async with RecordingLiveServer() as server:
        session = await connect_live(settings_for(server.base_url), LIVE, config)
        await session.send_tool_response(
            FunctionResponse(name="f", id="1", extra={"futureResponseField": "x"})
        )
        await session.close()
    setup = server.messages[0]["setup"]
    assert setup["generationConfig"]["newKnob"] == {"a_b": 1}
    assert setup["generationConfig"]["temperature"] == 0.5
    assert setup["futureSetupField"] is True
    sent = server.messages[1]["toolResponse"]["functionResponses"][0]
    assert sent["futureResponseField"] == "x"


# --------------------------------------------------------------------------- responses


def test_every_event_exposes_its_frame_and_an_unknown_sibling_is_kept() -> None:
    frame = {
        "serverContent": {"modelTurn": {"parts": [{"text": "a"}]}, "newInner": 1},
        "voiceActivityNext": {"x": 1},
    }
    events = decode_events(json.dumps(frame).encode())
    assert [type(e) for e in events] == [ModelTurn, UnknownMessage]
    assert events[1] == UnknownMessage("voiceActivityNext")
    assert all(e.raw == frame for e in events)


def test_an_int64_as_a_string_does_not_close_the_session() -> None:
    frame = (
        b'{"sessionResumptionUpdate": {"newHandle": "h", "resumable": true, '
        b'"lastConsumedClientMessageIndex": "7"}}'
    )
    (event,) = decode_events(frame)
    assert isinstance(event, SessionResumptionUpdate)
    assert event.last_consumed_client_message_index == 7


def test_an_unrepresentable_usage_number_does_not_lose_the_answer() -> None:
    frame = (
        b'{"serverContent": {"modelTurn": {"parts": [{"text": "kept"}]}},'
        b' "usageMetadata": {"promptTokenCount": 1e999, "totalTokenCount": 5}}'
    )
    events = decode_events(frame)
    turn = next(e for e in events if isinstance(e, ModelTurn))
    usage = next(e for e in events if isinstance(e, UsageUpdate))
    assert turn.text == "kept"
    assert usage.usage.total_token_count == 5 and usage.usage.prompt_token_count is None
    assert math.isinf(turn.raw["usageMetadata"]["promptTokenCount"])
    with pytest.raises(Exception, match="malformed"):
        decode_events(b'{"usageMetadata": {"totalTokenCount": "many"}}')


async def test_chunks_and_http_responses_expose_raw(emulator: Emulator) -> None:
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        live = client.models.by_name(LIVE)
        async with await live.stream_generate_content_websocket("echo: raw") as stream:
            chunks = [c async for c in stream]
        http = client.models.by_name("gemini-2.5-flash")
        answer = await http.generate_content("echo: raw")
    assert any("outputTranscription" in c.raw.get("serverContent", {}) for c in chunks)
    assert chunks[-1].raw["serverContent"]["turnComplete"] is True
    assert answer.raw["candidates"][0]["content"]["parts"][0]["text"] == "raw"
    built = GenerateContentResponse()
    assert built.raw == {}


# --------------------------------------------------------------------------- features


async def _call_then(session: LiveSession, prompt: str) -> ToolCall:
    await session.send_text(prompt)
    call: ToolCall | None = None
    async for event in session.receive_turn():
        if isinstance(event, ToolCall):
            call = event
    assert call is not None
    return call


@pytest.mark.parametrize("scheduling", ["INTERRUPT", "WHEN_IDLE", "SILENT"])
async def test_a_non_blocking_call_with_each_scheduling(
    emulator: Emulator, scheduling: str
) -> None:
    """gemini-3.8-live's default: the model goes on talking while the function runs."""
    config = {"tools": [{"function_declarations": [{"name": "get_weather"}]}]}
    async with await connect_live(settings_for(emulator.base_url), LIVE, config) as session:
        call = await _call_then(session, "call get_weather for Paris")
        (fc,) = call.function_calls
        await session.send_tool_response(
            {"id": fc.id, "name": fc.name, "response": {"sky": "clear"}, "scheduling": scheduling}
        )
        if scheduling == "SILENT":
            # Only added to the context: no answer; the next turn knows it.
            await session.send_text("recall")
        events: list[Any] = []
        async with asyncio.timeout(WAIT):
            async for event in session.receive_turn():
                events.append(event)
    text = "".join(e.text for e in events if isinstance(e, OutputTranscription))
    if scheduling == "SILENT":
        assert "returned" not in text  # never spoken about
    else:
        assert 'get_weather returned {"sky":"clear"}' in text
    assert isinstance(events[-1], TurnComplete)
    assert any(isinstance(e, InteractionStatus) for e in events)


# --------------------------------------------------------------------------- tokens


async def test_an_ephemeral_token_end_to_end(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    async with AsyncClient(KEY, base_url=emu.base_url) as server_side:
        token = await server_side.auth_tokens.create(
            uses=1,
            expire_time=dt.timedelta(minutes=30),
            new_session_expire_time=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
            live_connect_constraints={"model": LIVE, "config": {"system_instruction": "x"}},
            lock_additional_fields=[],
        )
    assert token.name.startswith("auth_tokens/")
    assert token.raw["name"] == token.name
    minted = [r for r in emu.requests if r.path_qs.startswith("/v1alpha/auth_tokens")]
    assert len(minted) == 1
    # The browser side: the token as the key (default api_version: v1beta).
    async with AsyncClient(token.name, base_url=emu.base_url) as browser:
        model = browser.models.by_name(LIVE)
        async with await model.connect() as session:
            await session.send_text("echo: constrained")
            texts = [
                e.text async for e in session.receive_turn() if isinstance(e, OutputTranscription)
            ]
        assert "".join(texts) == "constrained"
        with pytest.raises(SetupRejectedError) as info:  # uses=1: spent
            await model.connect()
        assert info.value.close_code == 1008
    (upgrade, *_) = [r for r in emu.requests if "/ws/" in r.path_qs]
    assert upgrade.path_qs.endswith("v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert upgrade.header("authorization") == f"Token {token.name}"


def test_the_sync_twin_mints_a_token(emulator_process: str) -> None:
    with Client(base_url=emulator_process) as client:
        token = client.auth_tokens.create(uses=2)
    assert token.name.startswith("auth_tokens/") and token.uses == 2


def test_the_token_request_has_google_genais_wire_shape() -> None:
    from api_gemini.auth_tokens import auth_token_body

    body = auth_token_body(
        uses=3,
        expire_time="2026-12-02T18:00:00Z",
        live_connect_constraints={
            "model": "gemini-3.8-live",
            "config": {"temperature": 0.7, "response_modalities": ["AUDIO"]},
        },
        lock_additional_fields=["system_instruction"],
    )
    assert body == {
        "uses": 3,
        "expireTime": "2026-12-02T18:00:00Z",
        "bidiGenerateContentSetup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"temperature": 0.7, "responseModalities": ["AUDIO"]},
        },
        "fieldMask": "model,generationConfig.temperature,"
        "generationConfig.responseModalities,system_instruction",
    }


# --------------------------------------------------------------------------- embeddings


async def test_embed_content_and_batch(emulator: Emulator) -> None:
    async with AsyncClient(KEY, base_url=emulator.base_url) as client:
        model = client.models.by_name("gemini-embedding-001")
        one = await model.embed_content("hello")
        short = await model.embed_content(
            {"content": {"parts": [{"text": "hello"}]}, "output_dimensionality": 8}
        )
        batch = await model.batch_embed_contents(["hello", {"content": {"parts": [{"text": "b"}]}}])
    assert one.embedding is not None and len(one.embedding.values) == 3072
    assert short.embedding is not None and len(short.embedding.values) == 8
    assert len(batch.embeddings) == 2
    assert batch.embeddings[0].values == one.embedding.values  # same text, same vector
    assert batch.raw["embeddings"][1]["values"] == batch.embeddings[1].values


def test_the_sync_twins_embed(emulator_process: str) -> None:
    with Client(KEY, base_url=emulator_process) as client:
        model = client.models.by_name("gemini-embedding-001")
        one = model.embed_content("hi")
        batch = model.batch_embed_contents(["hi"])
    assert one.embedding is not None
    assert batch.embeddings[0].values == one.embedding.values


async def test_initial_history_with_history_config(emulator: Emulator) -> None:
    """historyConfig.initialHistoryInClientContent, then the earlier turns as
    clientContent without turnComplete: the model answers with them in its context."""
    config = {"history_config": {"initial_history_in_client_content": True}}
    history = [
        {"role": "user", "parts": [{"text": "my name is Ada"}]},
        {"role": "model", "parts": [{"text": "Hello Ada."}]},
    ]
    async with await connect_live(settings_for(emulator.base_url), LIVE, config) as session:
        await session.send_content(history, turn_complete=False)
        await session.send_text("recall")
        texts = [e.text async for e in session.receive_turn() if isinstance(e, OutputTranscription)]
    assert "my name is Ada" in "".join(texts)


async def test_a_token_from_google_genais_config_form(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key=KEY)
    async with AsyncClient(KEY, base_url=emu.base_url) as client:
        token = await client.auth_tokens.create(
            config={"uses": 2, "new_session_expire_time": dt.timedelta(minutes=2)}
        )
        assert token.uses == 2
        with pytest.raises(ApiError) as info:  # a field the service does not know
            await client.auth_tokens.create(config={"usez": 2})
    assert info.value.status == 400 and "usez" in str(info.value)


async def test_a_one_shot_request_dict_in_snake_case_keeps_every_key() -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "hi", "future_part_field": 1}]}],
        "generation_config": {"max_output_tokens": 3, "response_json_schema": {"a_b": 1}},
        "tools": [{"url_context": {}}],
        "futureTopLevel": {"x": 1},
    }
    async with RecordingLiveServer([b'{"serverContent": {"turnComplete": true}}']) as server:
        stream = await open_stream(settings_for(server.base_url), LIVE, request)
        [c async for c in stream]
    setup = server.messages[0]["setup"]
    assert setup["generationConfig"] == {
        "maxOutputTokens": 3,
        "responseJsonSchema": {"a_b": 1},
        "responseModalities": ["AUDIO"],
    }
    assert setup["tools"] == [{"urlContext": {}}]
    assert setup["futureTopLevel"] == {"x": 1}  # sent as given: the server judges it
    turn = server.messages[1]["clientContent"]["turns"][0]
    assert turn["parts"] == [{"text": "hi", "future_part_field": 1}]
