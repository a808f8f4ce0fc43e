"""The official google-genai SDK works against the emulator (HTTP, and Live over TLS).

The SDK always uses ``wss://`` for Live, so those tests run the TLS emulator and make
the SDK trust the test CA with ``http_options.async_client_args["ssl"]`` (an
``ssl.SSLContext`` the SDK hands to ``websockets.connect``). For HTTPS the SDK reads
``SSL_CERT_FILE`` when it builds its default SSL contexts.

The emulator runs in the test's event loop, so the SDK's synchronous calls run in a
worker thread (``asyncio.to_thread``) to leave the loop free to serve them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import pytest
from google import genai
from google.genai import types

from api_gemini.emulator import Emulator
from api_gemini.emulator.catalog import CATALOG

# The SDK subclasses aiohttp.ClientSession, which aiohttp deprecates: not our concern.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)

#: The ``make_emulator`` fixture (see conftest).
MakeEmulator = Callable[..., Awaitable[Emulator]]

FLASH = "gemini-2.5-flash"
LIVE = "gemini-3.8-live"
CONFIG = types.GenerateContentConfig(max_output_tokens=8)


class TlsFilesLike(Protocol):
    """The ``tls_files`` fixture's value (see conftest)."""

    ca: str
    cert: str
    key: str


def make_client(emu: Emulator, **http_options: Any) -> genai.Client:
    options = types.HttpOptions(base_url=emu.base_url, **http_options)
    return genai.Client(api_key="k", http_options=options)


def check_answer(response: types.GenerateContentResponse, tokens: int = 8) -> None:
    assert response.text is not None
    assert len(response.text.split()) == tokens
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_token_count == tokens
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


async def test_generate_content_sync(emulator: Emulator) -> None:
    client = make_client(emulator)
    response = await asyncio.to_thread(
        client.models.generate_content, model=FLASH, contents="hello sdk", config=CONFIG
    )
    check_answer(response)
    assert emulator.stats.http_requests == 1


async def test_generate_content_stream_sync(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(tokens_per_chunk=3)
    client = make_client(emu)

    def stream() -> list[types.GenerateContentResponse]:
        return list(
            client.models.generate_content_stream(model=FLASH, contents="stream it", config=CONFIG)
        )

    chunks = await asyncio.to_thread(stream)
    assert len(chunks) == 3
    assert len("".join(c.text or "" for c in chunks).split()) == 8
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert emu.stats.sse_streams == 1


@pytest.mark.parametrize("api_version", ["v1", "v1beta", "v1alpha"])
async def test_generate_content_async(emulator: Emulator, api_version: str) -> None:
    client = make_client(emulator, api_version=api_version)
    response = await client.aio.models.generate_content(
        model=FLASH, contents="hello async sdk", config=CONFIG
    )
    check_answer(response)
    again = await client.aio.models.generate_content(
        model=FLASH, contents="hello async sdk", config=CONFIG
    )
    assert again.text == response.text
    await client.aio.aclose()


async def test_generate_content_stream_async(emulator: Emulator) -> None:
    client = make_client(emulator)
    texts = []
    async for chunk in await client.aio.models.generate_content_stream(
        model=FLASH, contents="echo: streamed back to the sdk"
    ):
        texts.append(chunk.text or "")
    assert "".join(texts) == "streamed back to the sdk"
    assert len(texts) == 5
    await client.aio.aclose()


async def test_sdk_errors_map(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(api_key="right")
    client = genai.Client(api_key="wrong", http_options={"base_url": emu.base_url})
    with pytest.raises(genai.errors.ClientError) as info:
        await client.aio.models.generate_content(model=FLASH, contents="x")
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"
    ok = genai.Client(api_key="right", http_options={"base_url": emu.base_url})
    with pytest.raises(genai.errors.ClientError) as info:
        await ok.aio.models.generate_content(model="no-such-model", contents="x")
    assert info.value.code == 404
    await client.aio.aclose()
    await ok.aio.aclose()


async def test_count_tokens_and_models(emulator: Emulator) -> None:
    client = make_client(emulator)
    counted = await client.aio.models.count_tokens(model=FLASH, contents="one two three")
    assert counted.total_tokens == 3
    model = await client.aio.models.get(model=FLASH)
    assert model.name == f"models/{FLASH}"
    # The SDK follows nextPageToken across the emulator's small pages.
    names = [m.name async for m in await client.aio.models.list()]
    assert f"models/{LIVE}" in names
    assert names == [m["name"] for m in CATALOG]
    await client.aio.aclose()


async def test_generate_content_over_https(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    assert emu.base_url.startswith("https://")
    monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca)
    client = make_client(emu)
    check_answer(
        await client.aio.models.generate_content(model=FLASH, contents="secure", config=CONFIG)
    )
    response = await asyncio.to_thread(
        client.models.generate_content, model=FLASH, contents="secure", config=CONFIG
    )
    check_answer(response)
    await client.aio.aclose()


async def test_live_connect_over_tls(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    client = make_client(emu, async_client_args={"ssl": ctx})
    # Today's Live models answer in AUDIO only; the text is the output transcription.
    config: Any = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}
    async with client.aio.live.connect(model=LIVE, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="echo: hello from the sdk")]),
            turn_complete=True,
        )
        text = []
        turn_complete = False
        usage = None
        async for message in session.receive():
            content = message.server_content
            if content and content.output_transcription and content.output_transcription.text:
                text.append(content.output_transcription.text)
            if message.usage_metadata is not None:
                usage = message.usage_metadata
            if message.server_content and message.server_content.turn_complete:
                turn_complete = True
    assert "".join(text) == "hello from the sdk"
    assert turn_complete
    assert usage is not None and usage.total_token_count
    assert emu.stats.ws_setups == 1
    assert emu.stats.live_turns == 1


async def test_live_generated_answer_and_tools(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    client = make_client(emu, async_client_args={"ssl": ctx})
    weather = types.FunctionDeclaration(
        name="get_weather",
        # Synchronous, as before 3.8 Live (whose default is NON_BLOCKING).
        behavior=types.Behavior.BLOCKING,
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
        ),
    )
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        output_audio_transcription=types.AudioTranscriptionConfig(),
        tools=[types.Tool(function_declarations=[weather])],
        max_output_tokens=5,
    )
    async with client.aio.live.connect(model=LIVE, config=config) as session:
        await session.send_realtime_input(text="what is the weather? call get_weather")
        call = None
        async for message in session.receive():
            if message.tool_call and message.tool_call.function_calls:
                call = message.tool_call.function_calls[0]
                break
        assert call is not None and call.name == "get_weather" and call.id
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(id=call.id, name=call.name, response={"sky": "clear"})
            ]
        )
        text = [
            m.server_content.output_transcription.text or ""
            async for m in session.receive()
            if m.server_content and m.server_content.output_transcription
        ]
    assert "".join(text) == 'get_weather returned {"sky":"clear"}. '


async def test_live_audio_by_default(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key)
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    client = make_client(emu, async_client_args={"ssl": ctx}, api_version="v1alpha")
    # Without response_modalities the SDK asks for AUDIO.
    config = types.LiveConnectConfig(
        output_audio_transcription=types.AudioTranscriptionConfig(), max_output_tokens=4
    )
    async with client.aio.live.connect(model=LIVE, config=config) as session:
        await session.send_client_content(turns=types.Content(parts=[types.Part(text="speak")]))
        audio = b""
        transcript = ""
        async for message in session.receive():
            audio += message.data or b""
            content = message.server_content
            if content and content.output_transcription:
                transcript += content.output_transcription.text or ""
    assert len(audio) == 4 * 960
    assert len(transcript.split()) == 4


async def test_embed_content(emulator: Emulator) -> None:
    client = make_client(emulator)
    result = await client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=[types.Content(parts=[types.Part(text=t)]) for t in ("one", "two")],
        config=types.EmbedContentConfig(output_dimensionality=16),
    )
    assert result.embeddings is not None
    assert [len(e.values or []) for e in result.embeddings] == [16, 16]
    await client.aio.aclose()
