"""google-genai 3.6.1, unmodified, against the emulator as today's service.

The SDK gets only a base URL and the test CA (``http_options.base_url`` and
``async_client_args["ssl"]``: the SDK always speaks ``wss://`` for Live). It runs:
audio turns by voice activity alone, barge-in, async function calls in each
``scheduling`` mode, goAway and resumption across a (time-scaled) connection lifetime,
an ephemeral token used once then refused, and unknown fields refused in the service's
words. How "speech" and "silence" are made: see ``docs/emulator-fidelity.md``.
"""

from __future__ import annotations

import math
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import pytest
from google import genai
from google.genai import errors, types

from api_gemini.emulator import Emulator

pytestmark = [
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning"),
    # The SDK warns that its ephemeral-token support is experimental.
    pytest.mark.filterwarnings("ignore::google.genai.errors.ExperimentalWarning"),
]

MakeEmulator = Callable[..., Awaitable[Emulator]]
MODEL = "gemini-3.8-live"


class TlsFilesLike(Protocol):
    ca: str
    cert: str
    key: str


def speech(ms: int) -> bytes:
    """A 440 Hz tone of amplitude 3000 at 16 kHz: speech for the emulator's detector."""
    n = 16 * ms
    return struct.pack(
        f"<{n}h", *(int(3000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(n))
    )


def quiet(ms: int) -> bytes:
    """Silence at 16 kHz."""
    return bytes(32 * ms)


def pcm(data: bytes) -> types.Blob:
    return types.Blob(data=data, mime_type="audio/pcm;rate=16000")


async def tls_emulator(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike, **config: Any
) -> Emulator:
    return await make_emulator(tls_cert=tls_files.cert, tls_key=tls_files.key, **config)


def client_for(
    emu: Emulator, tls_files: TlsFilesLike, key: str = "k", version: str | None = None
) -> genai.Client:
    ctx = ssl.create_default_context(cafile=tls_files.ca)
    options = types.HttpOptions(
        base_url=emu.base_url, async_client_args={"ssl": ctx}, api_version=version
    )
    return genai.Client(api_key=key, http_options=options)


async def one_turn(session: Any) -> list[types.LiveServerMessage]:
    """The messages of one turn (the SDK's receive() stops at turnComplete)."""
    return [message async for message in session.receive()]


def said(messages: list[types.LiveServerMessage]) -> str:
    return "".join(
        m.server_content.output_transcription.text or ""
        for m in messages
        if m.server_content and m.server_content.output_transcription
    )


BASE = types.LiveConnectConfig(
    response_modalities=[types.Modality.AUDIO],
    input_audio_transcription=types.AudioTranscriptionConfig(),
    output_audio_transcription=types.AudioTranscriptionConfig(),
    max_output_tokens=4,
)


async def test_audio_turn_by_voice_activity_alone(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    emu = await tls_emulator(make_emulator, tls_files)
    client = client_for(emu, tls_files)
    async with client.aio.live.connect(model=MODEL, config=BASE) as session:
        for chunk in (quiet(200), speech(400), quiet(600)):
            await session.send_realtime_input(audio=pcm(chunk))
        messages = await one_turn(session)
    contents = [m.server_content for m in messages if m.server_content]
    heard = [c.input_transcription for c in contents if c.input_transcription]
    assert heard[-1] is not None
    assert (heard[-1].text, heard[-1].finished) == ("audio of 400 ms", True)
    assert any(c.interim_input_transcription for c in contents)
    audio = b"".join(m.data or b"" for m in messages)
    assert len(audio) == 4 * 960  # 4 tokens of 20 ms at 24 kHz
    assert any(c.generation_complete for c in contents)
    last = contents[-1]
    assert last.turn_complete and last.interaction_status == types.InteractionStatus.IDLE
    assert len(said(messages).split()) == 4


async def test_barge_in(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await tls_emulator(make_emulator, tls_files, tokens_per_second=50)
    client = client_for(emu, tls_files)
    config = BASE.model_copy(update={"max_output_tokens": 200})
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="tell me everything")
        turn = session.receive()
        first = await anext(turn)
        assert first.data
        await session.send_realtime_input(audio=pcm(speech(100)))
        rest = [m async for m in turn]
    flags = [m.server_content for m in rest if m.server_content]
    assert flags[-2].interrupted is True
    assert flags[-1].turn_complete is True
    assert not any(f.generation_complete for f in flags)


def booking_tool() -> types.Tool:
    # No behavior: NON_BLOCKING is gemini-3.8-live's default.
    return types.Tool(function_declarations=[types.FunctionDeclaration(name="book_table")])


@pytest.mark.parametrize(
    "scheduling",
    [
        types.FunctionResponseScheduling.INTERRUPT,
        types.FunctionResponseScheduling.WHEN_IDLE,
        types.FunctionResponseScheduling.SILENT,
    ],
)
async def test_async_function_calls_by_scheduling(
    make_emulator: MakeEmulator,
    tls_files: TlsFilesLike,
    scheduling: types.FunctionResponseScheduling,
) -> None:
    emu = await tls_emulator(make_emulator, tls_files)
    client = client_for(emu, tls_files)
    config = BASE.model_copy(update={"tools": [booking_tool()]})
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_realtime_input(text="book_table for two")
        # A NON_BLOCKING call keeps the interaction IN_PROGRESS: the SDK's receive()
        # goes on until interactionStatus is IDLE, so the response is sent from inside.
        statuses = []
        messages = []
        async for message in session.receive():
            messages.append(message)
            if message.tool_call and message.tool_call.function_calls:
                call = message.tool_call.function_calls[0]
                await session.send_tool_response(
                    function_responses=[
                        types.FunctionResponse(
                            id=call.id,
                            name=call.name,
                            response={"booked": True},
                            scheduling=scheduling,
                        )
                    ]
                )
            content = message.server_content
            if content and content.turn_complete:
                statuses.append(content.interaction_status)
    assert said(messages).startswith("Calling book_table. ")
    assert statuses[0] == types.InteractionStatus.IN_PROGRESS
    assert statuses[-1] == types.InteractionStatus.IDLE
    answer = 'book_table returned {"booked":true}. '
    if scheduling == types.FunctionResponseScheduling.SILENT:
        # Only added to the context: no answer of its own.
        assert answer not in said(messages)
    else:
        assert said(messages).endswith(answer)


async def test_go_away_and_resumption_across_a_lifetime(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    # The 10-minute connection at 1/200 of the time: 3 s, goAway 0.3 s before.
    emu = await tls_emulator(make_emulator, tls_files, time_scale=0.005)
    client = client_for(emu, tls_files)
    config = BASE.model_copy(update={"session_resumption": types.SessionResumptionConfig()})
    handle = None
    go_away = None
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="echo: the blue door")])
        )
        with pytest.raises(errors.APIError) as closed:
            while True:  # turn after turn, until the server ends the connection
                async for message in session.receive():
                    update = message.session_resumption_update
                    if update and update.resumable and update.new_handle:
                        handle = update.new_handle
                    if message.go_away:
                        go_away = message.go_away
    assert go_away is not None and go_away.time_left is not None
    assert closed.value.code == 1011
    assert "Deadline expired before operation could complete." in str(closed.value)
    assert handle is not None
    resumed = config.model_copy(
        update={"session_resumption": types.SessionResumptionConfig(handle=handle)}
    )
    async with client.aio.live.connect(model=MODEL, config=resumed) as session:
        await session.send_realtime_input(text="recall")
        assert said(await one_turn(session)) == "echo: the blue door"


async def test_ephemeral_token_used_once_then_refused(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    emu = await tls_emulator(make_emulator, tls_files, api_key="server-key")
    server = client_for(emu, tls_files, key="server-key", version="v1alpha")
    token = await server.aio.auth_tokens.create(config=types.CreateAuthTokenConfig(uses=1))
    assert token.name is not None and token.name.startswith("auth_tokens/")
    browser = client_for(emu, tls_files, key=token.name, version="v1alpha")
    async with browser.aio.live.connect(model=MODEL, config=BASE) as session:
        await session.send_realtime_input(text="echo: once")
        assert said(await one_turn(session)) == "once"
    with pytest.raises(errors.APIError) as refused:
        async with browser.aio.live.connect(model=MODEL, config=BASE) as session:
            await one_turn(session)
    assert refused.value.code == 1008
    assert "Ephemeral token has no uses left." in str(refused.value)


async def test_unknown_fields_refused_in_the_services_words(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike
) -> None:
    emu = await tls_emulator(make_emulator, tls_files)
    # HTTP: the SDK's extra_body puts an unknown field into the request.
    client = client_for(emu, tls_files)
    with pytest.raises(errors.ClientError) as http_error:
        await client.aio.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(
                http_options=types.HttpOptions(extra_body={"proactivity": {}})
            ),
        )
    assert http_error.value.code == 400
    assert http_error.value.status == "INVALID_ARGUMENT"
    assert http_error.value.message == (
        'Invalid JSON payload received. Unknown name "proactivity": Cannot find field.'
    )
    # Live: the SDK validates its own config, so the unknown field goes out on the SDK's
    # own socket, after its setup.
    async with client.aio.live.connect(model=MODEL, config=BASE) as session:
        await session._ws.send('{"realtimeInput": {"audio": {"data": "", "rate": 16000}}}')
        with pytest.raises(errors.APIError) as live_error:
            await one_turn(session)
    assert live_error.value.code == 1007
    assert (
        "Invalid JSON payload received. Unknown name \"rate\" at 'realtime_input.audio': "
        "Cannot find field."
    ) in str(live_error.value)


async def test_text_modality_refused(make_emulator: MakeEmulator, tls_files: TlsFilesLike) -> None:
    emu = await tls_emulator(make_emulator, tls_files)
    client = client_for(emu, tls_files)
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    with pytest.raises(errors.APIError) as refused:
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await one_turn(session)
    assert refused.value.code == 1007
    assert "Cannot extract voices from a non-audio request." in str(refused.value)


@pytest.mark.parametrize("lock_additional_fields", [None, []])
async def test_ephemeral_token_locked_constraints(
    make_emulator: MakeEmulator, tls_files: TlsFilesLike, lock_additional_fields: Any
) -> None:
    emu = await tls_emulator(make_emulator, tls_files, api_key="server-key")
    server = client_for(emu, tls_files, key="server-key", version="v1alpha")
    locked = types.LiveConnectConstraints(
        model=MODEL,
        config=types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            output_audio_transcription=types.AudioTranscriptionConfig(),
            max_output_tokens=2,
        ),
    )
    token = await server.aio.auth_tokens.create(
        config=types.CreateAuthTokenConfig(
            uses=1, live_connect_constraints=locked, lock_additional_fields=lock_additional_fields
        )
    )
    assert token.name is not None
    browser = client_for(emu, tls_files, key=token.name, version="v1alpha")
    # The browser asks for a long answer: the token's locked setup wins.
    asked = BASE.model_copy(update={"max_output_tokens": 50})
    async with browser.aio.live.connect(model=MODEL, config=asked) as session:
        await session.send_realtime_input(text="talk")
        assert len(said(await one_turn(session)).split()) == 2
