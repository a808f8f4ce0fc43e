"""Test your own app against the emulator: no network, no real key, deterministic answers.

Copy this file into your project's tests and run ``pytest``. It needs api_gemini with
its ``emulator`` extra, installed from a clone of its repository
(``pip install -e '/path/to/api_gemini[websocket,emulator]'``), and ``pytest-asyncio``
(plus ``google-genai trustme`` for the google-genai tests). pytest then loads the
api_gemini plugin by itself: ``gemini_emulator``, ``gemini_client``,
``gemini_sync_client``, ``gemini_env``, ``gemini_fault`` are fixtures, nothing to copy.

The emulator's answers are deterministic: ``echo: TEXT`` answers TEXT, ``recall``
repeats the earlier user turns, a prompt naming a declared function calls it, and any
other prompt gets ``maxOutputTokens`` filler words. ``fault:SPEC`` in a prompt makes it
misbehave (``fault:close-1011-after-3``, ``fault:first-2-http-503``, ...).
"""

import asyncio

import pytest

from api_gemini import AsyncClient, Client
from api_gemini.errors import (
    AuthenticationError,
    DisconnectedError,
    GeminiError,
    ServiceUnavailableError,
)
from api_gemini.pytest_plugin import EmulatorHandle, FaultHelper

LIVE = "gemini-3.8-live"

# --------------------------------------------------------------- the app under test
# (in your project these are imported from your package)


async def live_answer(client: AsyncClient, prompt: str) -> str:
    """Streams an answer over the Live API; says sorry if the connection drops."""
    model = client.models.by_name(LIVE)
    parts = []
    try:
        stream = await model.stream_generate_content_websocket(prompt)
        async with stream:
            async for chunk in stream:
                parts.append(chunk.text)
    except DisconnectedError:
        return "".join(parts) + "[sorry, the connection dropped]"
    return "".join(parts)


async def answer_with_retries(client: AsyncClient, prompt: str, attempts: int = 3) -> str:
    """A unary answer, retrying the errors the library marks ``retryable``."""
    model = client.models.by_name("gemini-2.5-flash")
    for attempt in range(1, attempts + 1):
        try:
            return (await model.generate_content(prompt)).text
        except GeminiError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            await asyncio.sleep(0.01 * attempt)
    raise AssertionError("unreachable")


def sync_answer(base_url: str, key: str, prompt: str) -> str:
    """A synchronous app: a script or a notebook."""
    with Client(key, base_url=base_url) as client:
        return client.models.by_name("gemini-2.5-flash").generate_content(prompt).text


# --------------------------------------------------------------- tests


@pytest.mark.asyncio
async def test_live_answer(gemini_client: AsyncClient, gemini_emulator: EmulatorHandle) -> None:
    answer = await live_answer(gemini_client, "echo: the sky scatters blue light")
    assert answer == "the sky scatters blue light"
    # The emulator counts what it served: assert on the traffic, too.
    assert gemini_emulator.stats.ws_setups == 1
    assert gemini_emulator.stats.live_turns == 1


@pytest.mark.asyncio
async def test_live_answer_survives_a_dropped_connection(gemini_client: AsyncClient) -> None:
    answer = await live_answer(gemini_client, "fault:close-1011-after-2 echo: one two three four")
    assert answer == "one two [sorry, the connection dropped]"


@pytest.mark.asyncio
async def test_retries_until_the_service_recovers(
    gemini_client: AsyncClient, gemini_fault: FaultHelper, gemini_emulator: EmulatorHandle
) -> None:
    # The first two requests get a 503, the third an answer.
    prompt = gemini_fault.prompt("first-2-http-503", "echo: third time lucky")
    assert await answer_with_retries(gemini_client, prompt) == "third time lucky"
    assert gemini_emulator.fault_counts == {"first-2-http-503": 2}

    gemini_fault.reset_counts()
    with pytest.raises(ServiceUnavailableError):  # two attempts are not enough
        await answer_with_retries(gemini_client, prompt, attempts=2)


def test_sync_app(gemini_emulator: EmulatorHandle) -> None:
    # The emulator serves from its own thread: plain synchronous tests work as they are.
    # It takes any key, but (like the service) refuses a request without one.
    answer = sync_answer(gemini_emulator.base_url, "any-key", "echo: from sync code")
    assert answer == "from sync code"


@pytest.mark.gemini_emulator(api_key="the-only-key")  # any EmulatorConfig field
def test_a_wrong_key_is_refused(gemini_emulator: EmulatorHandle) -> None:
    with Client("another-key", base_url=gemini_emulator.base_url) as client:
        model = client.models.by_name("gemini-2.5-flash")
        with pytest.raises(AuthenticationError):
            model.generate_content("hi")


def test_an_unmodified_google_genai_app(gemini_env: EmulatorHandle) -> None:
    genai = pytest.importorskip("google.genai")
    # No base URL in the code: GOOGLE_GEMINI_BASE_URL (set by gemini_env) points here.
    client = genai.Client()
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents="echo: the official SDK works too"
    )
    assert response.text == "the official SDK works too"


@pytest.mark.asyncio
async def test_an_unmodified_google_genai_live_app(gemini_env_tls: EmulatorHandle) -> None:
    # google-genai opens Live sessions with wss:// only: gemini_env_tls serves TLS and
    # sets SSL_CERT_FILE to its throwaway CA, which the SDK then trusts.
    genai = pytest.importorskip("google.genai")
    client = genai.Client()
    # Today's Live models answer in AUDIO; the text is the output transcription.
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}
    async with client.aio.live.connect(model=LIVE, config=config) as session:
        await session.send_client_content(
            turns={"role": "user", "parts": [{"text": "echo: hello over wss"}]}
        )
        text = []
        async for message in session.receive():  # ends with the turn
            spoken = message.server_content and message.server_content.output_transcription
            text.append(spoken.text or "" if spoken else "")
    assert "".join(text) == "hello over wss"
