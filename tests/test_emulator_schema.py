"""The emulator refuses what the service's proto-JSON parser refuses, in its words.

Sources: googleapis/js-genai#696 (Live: 1007 ``Invalid JSON payload received. Unknown
name "proactivity" at 'setup': Cannot find field.``), decolua/9router#1876 and
danny-avila/LibreChat#11761 (HTTP 400 INVALID_ARGUMENT, the same wording, a
``BadRequest`` detail with ``fieldViolations``). The field table is generated from
google-genai 3.6.1 by ``scripts/gen_wire_schema.py``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from api_gemini.emulator import Emulator
from helpers import KEY_HEADERS

ROOT = Path(__file__).resolve().parent.parent
MODEL = "models/gemini-3.8-live"


async def close_of(emu: Emulator, *messages: dict[str, Any]) -> tuple[int, str]:
    async with websockets.connect(emu.live_url(), additional_headers=KEY_HEADERS) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def test_the_table_is_generated_from_google_genai(tmp_path: Path) -> None:
    out = tmp_path / "wire_schema.json"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_wire_schema.py"), str(out)],
        check=True,
        capture_output=True,
    )
    checked_in = ROOT / "src/api_gemini/emulator/wire_schema.json"
    assert json.loads(out.read_text()) == json.loads(checked_in.read_text()), (
        "wire_schema.json is stale: run scripts/gen_wire_schema.py"
    )


async def test_unknown_setup_field_real_wording(emulator: Emulator) -> None:
    setup = {"setup": {"model": MODEL, "proactivityy": {}}}
    assert await close_of(emulator, setup) == (
        1007,
        "Invalid JSON payload received. Unknown name \"proactivityy\" at 'setup': "
        "Cannot find field.",
    )


async def test_unknown_nested_field_path_uses_proto_names(emulator: Emulator) -> None:
    setup = {"setup": {"model": MODEL, "realtime_input_config": {"vad": True}}}
    assert await close_of(emulator, setup) == (
        1007,
        "Invalid JSON payload received. Unknown name \"vad\" at 'setup.realtime_input_config':"
        " Cannot find field.",
    )


async def test_unknown_field_in_a_later_message(emulator: Emulator) -> None:
    code, reason = await close_of(
        emulator,
        {"setup": {"model": MODEL}},
        {"clientContent": {"turns": [{"role": "user", "parts": [{"txt": "hi"}]}]}},
    )
    assert code == 1007
    assert reason == (
        'Invalid JSON payload received. Unknown name "txt" at '
        "'client_content.turns[0].parts[0]': Cannot find field."
    )


async def test_both_spellings_are_accepted(emulator: Emulator) -> None:
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        setup = {
            "model": MODEL,
            "generation_config": {"maxOutputTokens": 2, "speech_config": {"languageCode": "en"}},
            "realtimeInputConfig": {"automatic_activity_detection": {"silenceDurationMs": 300}},
        }
        await ws.send(json.dumps({"setup": setup}))
        assert json.loads(await ws.recv()) == {"setupComplete": {}}


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
            "generationConfig.thinkingConfig is not supported by gemini-3.8-live.",
        ),
        (
            {"generationConfig": {"enableAffectiveDialog": True}},
            "generationConfig.enableAffectiveDialog is not supported by gemini-3.8-live.",
        ),
        (
            {"proactivity": {"proactiveAudio": False}},
            "proactivity.proactiveAudio cannot be false for gemini-3.8-live.",
        ),
        (
            {"generationConfig": {"responseModalities": ["TEXT"]}},
            "Cannot extract voices from a non-audio request.",
        ),
        # One modality per session (googleapis/go-genai#490).
        (
            {"generationConfig": {"responseModalities": ["AUDIO", "TEXT"]}},
            "Request contains an invalid argument.",
        ),
    ],
)
async def test_what_3_8_live_refuses(
    emulator: Emulator, extra: dict[str, Any], reason: str
) -> None:
    assert await close_of(emulator, {"setup": {"model": MODEL, **extra}}) == (1007, reason)


async def test_text_on_3_1_flash_live_is_1011(emulator: Emulator) -> None:
    setup = {
        "model": "models/gemini-3.1-flash-live-preview",
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
    # googleapis/python-genai#2238
    assert await close_of(emulator, {"setup": setup}) == (1011, "Internal error encountered.")


async def test_retired_models_are_unknown(emulator: Emulator) -> None:
    for model in ("gemini-2.0-flash-live-001", "gemini-live-2.5-flash-preview"):
        code, reason = await close_of(emulator, {"setup": {"model": f"models/{model}"}})
        assert code == 1008
        assert reason.startswith(f"models/{model} is not found for API version v1beta")


async def test_empty_text_is_refused(emulator: Emulator) -> None:
    code, reason = await close_of(
        emulator, {"setup": {"model": MODEL}}, {"realtimeInput": {"text": ""}}
    )
    assert (code, reason) == (1007, "realtime_input.text must not be empty.")
    code, reason = await close_of(
        emulator,
        {"setup": {"model": MODEL}},
        {"clientContent": {"turns": [{"role": "user", "parts": [{"text": ""}]}]}},
    )
    assert (code, reason) == (1007, "client_content.turns[0].parts[0].text must not be empty.")


async def test_http_unknown_field_400_with_details(emulator: Emulator) -> None:
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generation_config": {"thinking": {}},
        "safetySettingz": [],
    }
    url = f"{emulator.base_url}/v1beta/models/gemini-2.5-flash:generateContent"
    async with (
        aiohttp.ClientSession(headers=KEY_HEADERS) as http,
        http.post(url, json=body) as resp,
    ):
        assert resp.status == 400
        error = (await resp.json())["error"]
    nested = (
        "Invalid JSON payload received. Unknown name \"thinking\" at 'generation_config': "
        "Cannot find field."
    )
    top = 'Invalid JSON payload received. Unknown name "safetySettingz": Cannot find field.'
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == f"{nested}\n{top}"
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [
                {"field": "generation_config", "description": nested},
                {"description": top},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("model", "thinking", "accepted"),
    [
        ("gemini-3.8-live-extended-thinking", {"thinkingLevel": "HIGH"}, True),
        ("gemini-3.8-live-extended-thinking", {"thinkingBudget": 512}, False),
        ("gemini-3.1-flash-live-preview", {"thinkingLevel": "MINIMAL"}, True),
        ("gemini-2.5-flash-native-audio-preview-12-2025", {"thinkingBudget": 512}, True),
        ("gemini-2.5-flash-native-audio-preview-12-2025", {"thinkingLevel": "LOW"}, False),
    ],
)
async def test_thinking_by_model(
    emulator: Emulator, model: str, thinking: dict[str, Any], accepted: bool
) -> None:
    setup = {"model": f"models/{model}", "generationConfig": {"thinkingConfig": thinking}}
    async with websockets.connect(emulator.live_url(), additional_headers=KEY_HEADERS) as ws:
        await ws.send(json.dumps({"setup": setup}))
        if accepted:
            assert json.loads(await ws.recv()) == {"setupComplete": {}}
            return
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007
