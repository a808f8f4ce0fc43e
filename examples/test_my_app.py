"""Test your own app against the emulator: no network, no key, deterministic answers.

Copy this file into your project's tests and run ``pytest``. It needs
``pip install 'api-gemini[websocket,emulator]' pytest pytest-asyncio`` (plus
``google-genai trustme`` for the google-genai tests).

The emulator's answers are deterministic: ``echo: TEXT`` answers TEXT, ``recall``
repeats the earlier user turns, a prompt naming a declared function calls it, and any
other prompt gets ``maxOutputTokens`` filler words. ``fault:SPEC`` in a prompt makes it
misbehave (``fault:close-1011-after-3``, ``fault:http-503``, ...).
"""

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from api_gemini import AsyncClient, Client
from api_gemini.emulator import Emulator, EmulatorConfig
from api_gemini.errors import DisconnectedError

LIVE = "gemini-3.8-live"

# --------------------------------------------------------------- the app under test
# (in your project these are imported from your package)


async def live_answer(client: AsyncClient, prompt: str) -> str:
    """Streams an answer over the Live API; says sorry if the connection drops."""
    model = client.models().by_name(LIVE)
    parts = []
    try:
        stream = await model.stream_generate_content_websocket(prompt)
        async with stream:
            async for chunk in stream:
                parts.append(chunk.text)
    except DisconnectedError:
        return "".join(parts) + "[sorry, the connection dropped]"
    return "".join(parts)


def sync_answer(base_url: str, prompt: str) -> str:
    """A synchronous app: a script or a notebook."""
    with Client(base_url=base_url) as client:
        return client.models().by_name("gemini-2.5-flash").generate_content(prompt).text


# --------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator on a free port for one test, in this process."""
    # time_to_first_token / tokens_per_second pace it like a real model when you need
    # that (timeouts, progress display); unpaced is fastest.
    async with Emulator(EmulatorConfig(port=0)) as emu:
        yield emu


# --------------------------------------------------------------- tests


@pytest.mark.asyncio
async def test_live_answer(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url, api_key="any-key") as client:
        assert await live_answer(client, "echo: the sky scatters blue light") == (
            "the sky scatters blue light"
        )
    # The emulator counts what it served: assert on the traffic, too.
    assert emulator.stats.ws_setups == 1
    assert emulator.stats.live_turns == 1


@pytest.mark.asyncio
async def test_live_answer_survives_a_dropped_connection(emulator: Emulator) -> None:
    async with AsyncClient(base_url=emulator.base_url) as client:
        answer = await live_answer(client, "fault:close-1011-after-2 echo: one two three four")
    assert answer == "one two [sorry, the connection dropped]"


@pytest.mark.asyncio
async def test_sync_app(emulator: Emulator) -> None:
    # The emulator runs on this test's event loop: run the blocking app in a thread.
    answer = await asyncio.to_thread(sync_answer, emulator.base_url, "echo: from sync code")
    assert answer == "from sync code"


@pytest.mark.asyncio
async def test_an_app_written_with_google_genai(emulator: Emulator) -> None:
    genai = pytest.importorskip("google.genai")
    client = genai.Client(api_key="any-key", http_options={"base_url": emulator.base_url})
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="echo: the official SDK works too"
    )
    assert response.text == "the official SDK works too"


@pytest.mark.asyncio
async def test_google_genai_live_over_tls(tmp_path: Path) -> None:
    # google-genai always opens Live sessions with wss://, so serve TLS with a
    # throwaway CA (trustme) and make the SDK trust it.
    genai = pytest.importorskip("google.genai")
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))

    config = EmulatorConfig(port=0, tls_cert=str(cert), tls_key=str(key))
    async with Emulator(config) as emu:
        trust = ssl.create_default_context(cafile=str(ca_file))
        client = genai.Client(
            api_key="any-key",
            http_options={"base_url": emu.base_url, "async_client_args": {"ssl": trust}},
        )
        async with client.aio.live.connect(model=LIVE, config={}) as session:
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "echo: hello over wss"}]}
            )
            text = []
            async for message in session.receive():  # ends with the turn
                text.append(message.text or "")
    assert "".join(text) == "hello over wss"
