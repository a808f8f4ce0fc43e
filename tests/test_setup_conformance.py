"""api_gemini and google-genai 3.6.1 put the same ``setup`` on the wire (issue 10).

Each configuration (google-genai's snake_case dict form) goes through both clients to a
recording WebSocket server (tests/helpers.py); the two setups must be equal once key
spelling is normalised. The modality and output transcription are given explicitly:
api_gemini's defaults (AUDIO with transcription) differ from google-genai's (none)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from google import genai

from api_gemini.settings import ClientSettings
from api_gemini.websocket import connect_live
from helpers import RecordingLiveServer

KEY = "conformance-key"
LIVE = "gemini-3.8-live"
BASE: dict[str, Any] = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}

CONFIGS: dict[str, dict[str, Any]] = {
    "sampling": {"temperature": 0.4, "top_p": 0.9, "top_k": 20, "seed": 7},
    "max_output_tokens": {"max_output_tokens": 64},
    "media_resolution": {"media_resolution": "MEDIA_RESOLUTION_LOW"},
    "speech_config": {
        "speech_config": {
            "voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}},
            "language_code": "en-US",
        }
    },
    "thinking_config": {"thinking_config": {"thinking_level": "LOW", "include_thoughts": True}},
    "affective_dialog": {"enable_affective_dialog": True},
    "generation_config": {"generation_config": {"candidate_count": 1, "presence_penalty": 0.1}},
    "system_instruction": {"system_instruction": {"parts": [{"text": "Be brief."}]}},
    "function_tools": {
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather of a city.",
                        "behavior": "NON_BLOCKING",
                        "parameters_json_schema": {
                            "type": "object",
                            "properties": {"city_name": {"type": "string"}},
                        },
                    }
                ]
            }
        ]
    },
    "service_tools": {
        "tools": [{"google_search": {}}, {"url_context": {}}, {"code_execution": {}}]
    },
    "session_resumption": {"session_resumption": {"handle": "h-1"}},
    "context_window_compression": {
        "context_window_compression": {
            "trigger_tokens": 2000,
            "sliding_window": {"target_tokens": 1000},
        }
    },
    "transcriptions": {"input_audio_transcription": {"language_codes": ["en-US"]}},
    "realtime_input_config": {
        "realtime_input_config": {
            "automatic_activity_detection": {
                "disabled": False,
                "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
                "end_of_speech_sensitivity": "END_SENSITIVITY_HIGH",
                "prefix_padding_ms": 20,
                "silence_duration_ms": 300,
            },
            "activity_handling": "NO_INTERRUPTION",
            "turn_coverage": "TURN_INCLUDES_ALL_INPUT",
        }
    },
    "proactivity": {"proactivity": {"proactive_audio": True}},
    "history_config": {"history_config": {"initial_history_in_client_content": True}},
    "safety_settings": {
        "safety_settings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ]
    },
    "custom_vocabulary": {"input_audio_transcription": {"custom_vocabulary": ["Gemini"]}},
}


def spelling_normalised(value: Any) -> Any:
    """Every key in lowerCamelCase (both clients' setups, schemas included)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            head, *rest = key.split("_")
            out[head + "".join(w[:1].upper() + w[1:] for w in rest)] = spelling_normalised(item)
        return out
    if isinstance(value, list):
        return [spelling_normalised(item) for item in value]
    return value


async def setup_of_google_genai(config: dict[str, Any], tls: Any) -> dict[str, Any]:
    # google-genai speaks wss:// only: the recorder serves TLS with the test CA.
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls.cert, tls.key)
    trust = ssl.create_default_context(cafile=tls.ca)
    async with RecordingLiveServer(ssl=server_ctx) as server:
        options = {"base_url": server.base_url, "async_client_args": {"ssl": trust}}
        client = genai.Client(api_key=KEY, http_options=options)  # type: ignore[arg-type]
        async with client.aio.live.connect(model=LIVE, config=config):  # type: ignore[arg-type]
            pass
        await client.aio.aclose()
    setup: dict[str, Any] = server.messages[0]["setup"]
    return setup


async def setup_of_api_gemini(config: dict[str, Any]) -> dict[str, Any]:
    async with RecordingLiveServer() as server:
        settings = ClientSettings.resolve(KEY, base_url=server.base_url)
        session = await connect_live(settings, LIVE, config)
        await session.close()
    setup: dict[str, Any] = server.messages[0]["setup"]
    return setup


def test_there_are_at_least_fifteen_configurations() -> None:
    assert len(CONFIGS) >= 15


@pytest.mark.parametrize("name", sorted(CONFIGS))
async def test_the_same_setup_as_google_genai(name: str, tls_files: Any) -> None:
    config = {**BASE, **CONFIGS[name]}
    theirs = spelling_normalised(await setup_of_google_genai(config, tls_files))
    ours = spelling_normalised(await setup_of_api_gemini(config))
    assert ours == theirs
